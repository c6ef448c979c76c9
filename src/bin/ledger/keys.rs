//! `ledger keygen` and `ledger vkey`: key files and note verifier keys.

use std::path::{Path, PathBuf};

use ledger::base::crypto::{Protection, PublicKey, SigningKey};

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
    let new = SigningKey::generate();
    let fingerprint = new.public().fingerprint();
    let (key, public) = new.write_pair(&name, secret.as_ref().map(|p| p.as_str()))?;
    if json {
        out.print(format_args!(
            "{}",
            serde_json::json!({"private_key": key, "public_key": public, "fingerprint": fingerprint})
        ))?;
        return Ok(());
    }
    out.info(format_args!(
        "wrote private key {} (mode 0600; keep it secret, back it up offline)",
        key.display()
    ))?;
    out.info(format_args!(
        "wrote public key  {} (fingerprint {fingerprint}; give it to the other parties and auditors, who compare it with `ledger fingerprint`)",
        public.display()
    ))?;
    Ok(())
}

/// `ledger vkey`: the note verifier key of a log key (`--ledger DIR`, whose
/// origin names it) or a witness's (`--witness NAME`); with `--json`,
/// `{"vkey", "name", "kind"}`.
pub(crate) fn vkey(
    out: &Out,
    key: PathBuf,
    dir: Option<PathBuf>,
    witness: Option<String>,
) -> Result<(), Failure> {
    use ledger::tlog::note::{NoteVerifier, VerifierKind};
    let public = PublicKey::from_file(&key)
        .map_err(|e| Failure::usage(format!("--key {}: {e}", key.display())))?;
    let (name, kind, label) = match (dir, witness) {
        (Some(d), _) => (
            ledger::proofs::index::origin_of(&d)?,
            VerifierKind::Ed25519,
            "log",
        ),
        (None, Some(name)) => (name, VerifierKind::CosignatureV1, "witness"),
        (None, None) => return Err(Failure::usage("give --ledger or --witness")),
    };
    let v = NoteVerifier::new(&name, kind, public).map_err(|e| Failure::usage(e.to_string()))?;
    if out.json {
        return out.print(serde_json::json!({"vkey": v.to_string(), "name": name, "kind": label}));
    }
    out.print(format_args!("{v}"))
}

/// The private keys a command has read, and whether each was encrypted:
/// a passphrase given (with --passphrase-file or --passphrase-env) that no
/// key needed is a mistake to report, never to ignore.
#[derive(Clone, Default)]
pub(crate) struct KeysRead {
    plain: Vec<PathBuf>,
    encrypted: bool,
}

impl PassArgs {
    /// The option a passphrase was given with, if it was not to be asked.
    fn given(&self) -> Option<&'static str> {
        if self.passphrase_file.is_some() {
            Some("--passphrase-file")
        } else if self.passphrase_env.is_some() {
            Some("--passphrase-env")
        } else {
            None
        }
    }

    /// Reads one of the private keys of a command that may read several
    /// (append's --key with --new-key or --add-key), which share one
    /// passphrase; [`PassArgs::check_used`] must follow the last of them.
    pub(crate) fn load_one_of(&self, path: &Path) -> Result<SigningKey, Failure> {
        let (key, protection) = SigningKey::open(path, &mut || {
            self.get(&format!("passphrase for {}: ", path.display()))
        })?;
        let mut read = self.read.borrow_mut();
        match protection {
            Protection::Encrypted => read.encrypted = true,
            Protection::Plain => read.plain.push(path.to_owned()),
        }
        Ok(key)
    }

    /// Refuses a passphrase given for keys none of which is encrypted.
    pub(crate) fn check_used(&self) -> Result<(), Failure> {
        let read = self.read.borrow();
        let Some(option) = self.given() else {
            return Ok(());
        };
        if read.encrypted || read.plain.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = read.plain.iter().map(|p| p.display().to_string()).collect();
        let (names, verb) = match names.as_slice() {
            [one] => (one.clone(), "is"),
            [init @ .., last] => (format!("{} and {last}", init.join(", ")), "are"),
            [] => return Ok(()),
        };
        Err(Failure::usage(format!(
            "{names} {verb} not encrypted; drop {option}"
        )))
    }
}
