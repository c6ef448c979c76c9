//! Trusted public keys, as an auditor names them (`--trust`): files, or
//! directories of `.pub` files. What the keys are trusted *for* is
//! [`crate::core::verify`]'s business; this module only reads them, and
//! refuses a directory that holds a private key rather than skip it.

use std::path::{Path, PathBuf};

use crate::base::crypto::{KeyError, PublicKey};

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
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Reads the trusted keys named by `paths`, each a public key file or a
/// directory of them (its `.pub` files, in name order). Each key is named
/// by its file's path, which reports show.
pub fn load(paths: &[PathBuf]) -> Result<Vec<(String, PublicKey)>, TrustError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            for f in key_files(p)? {
                out.push((f.display().to_string(), PublicKey::from_file(&f)?));
            }
        } else {
            out.push((p.display().to_string(), PublicKey::from_file(p)?));
        }
    }
    Ok(out)
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
        // Zeroized: it may be just that, a private key.
        if let Ok(text) = std::fs::read_to_string(f).map(zeroize::Zeroizing::new) {
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
