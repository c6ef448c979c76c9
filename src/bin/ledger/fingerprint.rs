//! `ledger fingerprint FILE...`: the one fingerprint by which people
//! compare keys (`SHA256:…`, as `ssh-keygen -l` prints it; see
//! `ledger::base::crypto::Fingerprint`), of public and private key files.

use std::path::PathBuf;

use ledger::base::crypto::{KeyError, PublicKey};
use ledger::core::verify::terminal_safe;

use crate::cli::*;
use crate::error::Failure;
use crate::out::*;

/// Prints `SHA256:…  FILE` for each file: a public key as it is, a
/// private key's public half (asking for its passphrase if it is
/// encrypted). Every file is read before anything is printed, so a bad
/// one prints nothing but its error.
pub(crate) fn fingerprint(out: &Out, files: Vec<PathBuf>, pass: PassArgs) -> Result<(), Failure> {
    let mut keys = Vec::with_capacity(files.len());
    for f in &files {
        if crate::token::uri(f)?.is_some() {
            keys.push((f, crate::signer::public_key(f, &pass)?));
            continue;
        }
        let key = match PublicKey::from_file(f) {
            Ok(k) => k,
            Err(KeyError::PrivateWherePublic { .. }) => pass.load_one_of(f)?.public(),
            Err(e) => return Err(e.into()),
        };
        keys.push((f, key));
    }
    pass.check_used()?;
    if out.json {
        let list: Vec<_> = keys
            .iter()
            .map(|(f, k)| {
                serde_json::json!({
                    "file": f.display().to_string(),
                    "fingerprint": k.fingerprint(),
                    "key": hex::encode(k.to_bytes()),
                    "kid": hex::encode(k.kid()),
                })
            })
            .collect();
        return out.print(format_args!("{}", serde_json::Value::Array(list)));
    }
    for (f, k) in &keys {
        out.print(format_args!(
            "{}  {}",
            k.fingerprint(),
            terminal_safe(&f.display().to_string())
        ))?;
    }
    Ok(())
}
