//! `ledger keygen` and `ledger vkey`: key files and note verifier keys.

use std::path::PathBuf;

use ledger::base::crypto::{PublicKey, SigningKey};

use crate::cli::*;
use crate::error::Failure;
use crate::out::*;

pub(crate) fn keygen(
    out: &Out,
    name: PathBuf,
    passphrase: bool,
    pass: PassArgs,
) -> Result<(), Failure> {
    let json = out.json;
    let secret = if passphrase || pass.passphrase_file.is_some() || pass.passphrase_env.is_some() {
        let p = pass.get("passphrase for the new key: ")?;
        if pass.passphrase_file.is_none() && pass.passphrase_env.is_none() {
            let again = pass.get("the same passphrase again: ")?;
            if *again != *p {
                return Err(Failure::usage(
                    "the passphrases do not match; no key was written",
                ));
            }
        }
        Some(p)
    } else {
        None
    };
    let (key, public) =
        SigningKey::generate().write_pair(&name, secret.as_ref().map(|p| p.as_str()))?;
    if json {
        out.print(format_args!(
            "{}",
            serde_json::json!({"private_key": key, "public_key": public})
        ))?;
        return Ok(());
    }
    out.info(format_args!(
        "wrote private key {} (mode 0600; keep it secret, back it up offline)",
        key.display()
    ))?;
    out.info(format_args!(
        "wrote public key  {} (give this to the other parties and auditors)",
        public.display()
    ))?;
    Ok(())
}

pub(crate) fn vkey(
    out: &Out,
    key: PathBuf,
    dir: Option<PathBuf>,
    witness: Option<String>,
) -> Result<(), Failure> {
    let public = PublicKey::from_file(&key)
        .map_err(|e| Failure::usage(format!("--key {}: {e}", key.display())))?;
    use ledger::tlog::note::{NoteVerifier, VerifierKind};
    let v = match (dir, witness) {
        (Some(d), _) => {
            let origin = ledger::proofs::index::origin_of(&d)?;
            NoteVerifier::new(&origin, VerifierKind::Ed25519, public)
        }
        (None, Some(name)) => NoteVerifier::new(&name, VerifierKind::CosignatureV1, public),
        (None, None) => return Err(Failure::usage("give --ledger or --witness")),
    }
    .map_err(|e| Failure::usage(e.to_string()))?;
    out.print(format_args!("{v}"))?;
    Ok(())
}
