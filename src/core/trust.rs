//! Trusted public keys, as an auditor names them (`--trust`): files, or
//! directories of `.pub` files, each bound to the party it belongs to.
//! What the keys are trusted *for* is [`crate::core::verify`]'s and
//! [`crate::proofs::bundle`]'s business; this module only reads them and
//! names their parties, and refuses a directory that holds a private key
//! rather than skip it.
//!
//! The binding of a key to a party (docs/SECURITY.md, "Trusted keys"):
//! `--trust PARTY=PATH` binds the key file PATH, or every `.pub` file of
//! the directory PATH, to PARTY, explicitly. A plain `--trust PATH` binds
//! each key file to the party its file name names without `.pub`
//! (`keys/most.pub` is party `most`'s), if that name is a valid party id.
//! To name a file whose name has `=` in it, write it with a directory
//! (`./a=b.pub`): a party id never holds `/`.

use std::path::{Path, PathBuf};

use crate::base::crypto::{KeyError, PublicKey};
use crate::core::format::PartyId;

/// A trusted key, the party it is bound to, and how it was named.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    /// The key file, as named on the command line (or found in a
    /// directory named there).
    pub label: String,
    /// The party the auditor says holds this key: given explicitly
    /// (`PARTY=PATH`) or read from the file name; `None` if the file name
    /// is not a party id and none was given.
    pub party: Option<PartyId>,
    /// Whether the party was given explicitly (`PARTY=PATH`).
    pub explicit: bool,
    pub key: PublicKey,
}

/// Why trusted keys could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{}: {} is a private key; remove it from the directory of trusted public keys (and treat it as exposed)",
        dir.display(),
        file.display()
    )]
    PrivateKey { dir: PathBuf, file: PathBuf },
    #[error("{}: no .pub files in this directory", dir.display())]
    NoKeys { dir: PathBuf },
    #[error("{spec:?}: {party:?} is not a party id (lowercase letters, digits, '-', '_' and '.', FORMAT §5.4); write PARTY=PATH, or ./PATH for a file whose name holds '='")]
    BadParty { spec: String, party: String },
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Reads the trusted keys named by `specs`, each `PATH` or `PARTY=PATH`
/// where PATH is a public key file or a directory of them (its `.pub`
/// files, in name order), and binds each to its party (the module's doc
/// gives the rule). Each key is labelled by its file's path, which reports
/// show.
pub fn load_bound(specs: &[PathBuf]) -> Result<Vec<TrustedKey>, TrustError> {
    let mut out = Vec::new();
    for spec in specs {
        let (given, path) = split_spec(spec)?;
        let files = if path.is_dir() {
            key_files(&path)?
        } else {
            vec![path.clone()]
        };
        for f in files {
            let party = match &given {
                Some(p) => Some(p.clone()),
                None => party_of_file(&f),
            };
            out.push(TrustedKey {
                label: f.display().to_string(),
                party,
                explicit: given.is_some(),
                key: PublicKey::from_file(&f)?,
            });
        }
    }
    Ok(out)
}

/// [`load_bound`], as (label, key) pairs: for checks that take a key's
/// word for what it signs, whoever holds it (checkpoints).
pub fn load(specs: &[PathBuf]) -> Result<Vec<(String, PublicKey)>, TrustError> {
    Ok(load_bound(specs)?
        .into_iter()
        .map(TrustedKey::pair)
        .collect())
}

impl TrustedKey {
    /// The key and its label, for the checks that need no party.
    pub fn pair(self) -> (String, PublicKey) {
        (self.label, self.key)
    }
}

/// `PARTY=PATH` or `PATH`. A spec is `PARTY=PATH` when the text before
/// its first `=` holds no `/` (a party id never does).
fn split_spec(spec: &Path) -> Result<(Option<PartyId>, PathBuf), TrustError> {
    let text = spec.to_string_lossy();
    match text.split_once('=') {
        Some((name, rest)) if !name.contains('/') && !rest.is_empty() => {
            let party = PartyId::new(name).map_err(|_| TrustError::BadParty {
                spec: text.to_string(),
                party: name.to_owned(),
            })?;
            Ok((Some(party), PathBuf::from(rest)))
        }
        _ => Ok((None, spec.to_owned())),
    }
}

/// The party a key file's name names: `most.pub` is `most`'s; a name that
/// is not a party id names none.
fn party_of_file(f: &Path) -> Option<PartyId> {
    let name = f.file_name()?.to_str()?;
    let stem = name.strip_suffix(".pub").unwrap_or(name);
    PartyId::new(stem).ok()
}

/// The `.pub` files of `dir`, sorted; an error if there are none, or if a
/// private key is among its files.
fn key_files(dir: &Path) -> Result<Vec<PathBuf>, TrustError> {
    let entries = std::fs::read_dir(dir).map_err(|source| TrustError::Read {
        path: dir.to_owned(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    // A private key has no business among trusted public keys: say so
    // rather than skip it silently.
    for f in &files {
        // Zeroized: it may be just that, a private key. Read as a key file
        // is (a FIFO not waited on, a device or a huge file not read): one
        // not read here is refused by its own reading, if it is a `.pub`.
        let text = crate::base::files::read_named(f, 64 << 10)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .map(zeroize::Zeroizing::new);
        if let Some(text) = text {
            if text.contains("PRIVATE KEY-----") {
                return Err(TrustError::PrivateKey {
                    dir: dir.to_owned(),
                    file: f.clone(),
                });
            }
        }
    }
    files.retain(|f| f.extension().is_some_and(|x| x == "pub"));
    if files.is_empty() {
        return Err(TrustError::NoKeys {
            dir: dir.to_owned(),
        });
    }
    Ok(files)
}
