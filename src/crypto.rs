//! Keys and signatures: key files in and out, signing, strict verification.
//!
//! A [`SigningKey`] only comes from [`SigningKey::generate`] or from a key
//! file that passed the mode and format checks; its secret is zeroized when
//! it is dropped (ed25519-dalek's `zeroize` feature) and never printed.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, KeypairBytes,
};
use ed25519_dalek::{Signature, Signer};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Why a key could not be read, written or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write key file {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} already exists; refusing to overwrite a key")]
    Exists { path: PathBuf },
    #[error(
        "private key file {path} is readable by others (mode {mode:04o}); run: chmod 600 {path}"
    )]
    Mode { path: PathBuf, mode: u32 },
    #[error("{path} is not a regular file")]
    NotAFile { path: PathBuf },
    #[error(
        "{path} is a public key; this needs the private key file (the .key written by keygen)"
    )]
    PublicWherePrivate { path: PathBuf },
    #[error("{path} is a private key; this needs a public key (the .pub written by keygen)")]
    PrivateWherePublic { path: PathBuf },
    #[error("{path} is an encrypted private key, which is not supported")]
    Encrypted { path: PathBuf },
    #[error("{path} is not an Ed25519 {expected} PEM file: {reason}")]
    Malformed {
        path: PathBuf,
        expected: &'static str,
        reason: String,
    },
    #[error("{what} is a small-order (weak) Ed25519 public key, which anyone can sign for")]
    Weak { what: String },
    #[error("{what} is not a valid Ed25519 public key")]
    Invalid { what: String },
}

/// An Ed25519 public key that is a valid point of large order.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", hex::encode(self.0.as_bytes()))
    }
}

serde_via_str!(
    PublicKey,
    |k: &PublicKey| hex::encode(k.to_bytes()),
    |s: &str| {
        let mut b = [0u8; 32];
        hex::decode_to_slice(s, &mut b).map_err(|e| e.to_string())?;
        PublicKey::from_bytes(&b, "cached key").map_err(|e| e.to_string())
    }
);

impl PublicKey {
    /// Accepts the 32-byte encoding of a point that is not of small order
    /// (FORMAT §5.6). `what` names the key in the error.
    pub fn from_bytes(bytes: &[u8; 32], what: &str) -> Result<Self, KeyError> {
        let key =
            ed25519_dalek::VerifyingKey::from_bytes(bytes).map_err(|_| KeyError::Invalid {
                what: what.to_owned(),
            })?;
        if key.is_weak() {
            return Err(KeyError::Weak {
                what: what.to_owned(),
            });
        }
        Ok(PublicKey(key))
    }

    /// Reads an SPKI PEM public key file, as `openssl pkey -pubout` writes.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let text = fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_pem(&text, path)
    }

    fn from_pem(text: &str, path: &Path) -> Result<Self, KeyError> {
        match pem_label(text) {
            Some("PUBLIC KEY") => {}
            Some("PRIVATE KEY") | Some("ENCRYPTED PRIVATE KEY") | Some("OPENSSH PRIVATE KEY") => {
                return Err(KeyError::PrivateWherePublic {
                    path: path.to_owned(),
                })
            }
            _ => {
                return Err(KeyError::Malformed {
                    path: path.to_owned(),
                    expected: "public key (SPKI)",
                    reason: "expected -----BEGIN PUBLIC KEY-----".into(),
                })
            }
        }
        let key = ed25519_dalek::VerifyingKey::from_public_key_pem(text.trim()).map_err(|e| {
            KeyError::Malformed {
                path: path.to_owned(),
                expected: "public key (SPKI)",
                reason: e.to_string(),
            }
        })?;
        Self::from_bytes(key.as_bytes(), &path.display().to_string())
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// SPKI PEM, byte-identical to what `openssl pkey -pubout` writes.
    pub fn to_pem(&self) -> String {
        // Encoding 32 bytes as SPKI cannot fail.
        self.0
            .to_public_key_pem(Default::default())
            .expect("SPKI encoding of an Ed25519 key")
    }

    /// The COSE kid of this key: SHA-256 of its 32 bytes (FORMAT §5.1).
    pub fn fingerprint(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }

    /// RFC 8032 verification with the strict checks of FORMAT §5.2.
    pub fn verify_strict(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let sig = Signature::from_bytes(signature);
        self.0.verify_strict(message, &sig).is_ok()
    }
}

/// An Ed25519 private key, loaded only from a checked key file or freshly
/// generated.
pub struct SigningKey(ed25519_dalek::SigningKey);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SigningKey(public {})",
            hex::encode(self.0.verifying_key().as_bytes())
        )
    }
}

impl SigningKey {
    /// A new key from the operating system's random generator.
    pub fn generate() -> Self {
        SigningKey(ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng))
    }

    /// Reads a PKCS#8 PEM private key file, refusing one that others can
    /// read, a public key, an encrypted key, or anything malformed.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let read_err = |source| KeyError::Read {
            path: path.to_owned(),
            source,
        };
        let meta = fs::metadata(path).map_err(read_err)?;
        if !meta.is_file() {
            return Err(KeyError::NotAFile {
                path: path.to_owned(),
            });
        }
        let mut file = File::open(path).map_err(read_err)?;
        let mut text = Zeroizing::new(String::new());
        // A key file is a few hundred bytes; refuse to slurp something huge.
        std::io::Read::read_to_string(&mut std::io::Read::take(&mut file, 64 * 1024), &mut text)
            .map_err(|e| {
                if e.kind() == std::io::ErrorKind::InvalidData {
                    KeyError::Malformed {
                        path: path.to_owned(),
                        expected: "private key (PKCS#8)",
                        reason: "not text".into(),
                    }
                } else {
                    read_err(e)
                }
            })?;
        match pem_label(&text) {
            Some("PRIVATE KEY") => {}
            Some("PUBLIC KEY") => {
                return Err(KeyError::PublicWherePrivate {
                    path: path.to_owned(),
                })
            }
            Some("ENCRYPTED PRIVATE KEY") => {
                return Err(KeyError::Encrypted {
                    path: path.to_owned(),
                })
            }
            Some(other) => {
                return Err(KeyError::Malformed {
                    path: path.to_owned(),
                    expected: "private key (PKCS#8)",
                    reason: format!(
                        "found a {other:?} PEM block; expected -----BEGIN PRIVATE KEY-----"
                    ),
                })
            }
            None => {
                return Err(KeyError::Malformed {
                    path: path.to_owned(),
                    expected: "private key (PKCS#8)",
                    reason: "expected -----BEGIN PRIVATE KEY-----".into(),
                })
            }
        }
        // Check the mode after the type, so that passing a .pub file gets
        // the more useful message.
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::Mode {
                path: path.to_owned(),
                mode,
            });
        }
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(text.trim()).map_err(|e| {
            KeyError::Malformed {
                path: path.to_owned(),
                expected: "private key (PKCS#8)",
                reason: e.to_string(),
            }
        })?;
        Ok(SigningKey(key))
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs a message. Writers replay the signed event, strict signature
    /// check included, before storing it, so a faulty signature never lands.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }

    /// PKCS#8 v1 PEM, as `openssl genpkey -algorithm ed25519` writes.
    fn to_pem(&self) -> Zeroizing<String> {
        let pair = KeypairBytes {
            secret_key: self.0.to_bytes(),
            public_key: None,
        };
        // Encoding 32 bytes as PKCS#8 cannot fail.
        let pem = pair
            .to_pkcs8_pem(Default::default())
            .expect("PKCS#8 encoding of an Ed25519 key");
        Zeroizing::new(pem.to_string())
    }

    /// Writes `NAME.key` (mode 0600) and `NAME.pub`, refusing to overwrite
    /// either; both are fsynced before this returns.
    pub fn write_pair(&self, name: &Path) -> Result<(PathBuf, PathBuf), KeyError> {
        let key_path = with_suffix(name, "key");
        let pub_path = with_suffix(name, "pub");
        for p in [&key_path, &pub_path] {
            if fs::symlink_metadata(p).is_ok() {
                return Err(KeyError::Exists { path: p.clone() });
            }
        }
        write_new(&key_path, self.to_pem().as_bytes(), 0o600)?;
        if let Err(e) = write_new(&pub_path, self.public().to_pem().as_bytes(), 0o644) {
            let _ = fs::remove_file(&key_path);
            return Err(e);
        }
        if let Some(parent) = key_path.parent() {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            if let Ok(d) = File::open(parent) {
                let _ = d.sync_all();
            }
        }
        Ok((key_path, pub_path))
    }
}

fn with_suffix(name: &Path, ext: &str) -> PathBuf {
    let mut s = name.as_os_str().to_owned();
    s.push(".");
    s.push(ext);
    PathBuf::from(s)
}

fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), KeyError> {
    let write_err = |source: std::io::Error| {
        if source.kind() == std::io::ErrorKind::AlreadyExists {
            KeyError::Exists {
                path: path.to_owned(),
            }
        } else {
            KeyError::Write {
                path: path.to_owned(),
                source,
            }
        }
    };
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(write_err)?;
    f.write_all(contents).map_err(write_err)?;
    f.sync_all().map_err(write_err)
}

/// The label of the first PEM block in `text`, if it has one.
fn pem_label(text: &str) -> Option<&str> {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    line.strip_prefix("-----BEGIN ")?.strip_suffix("-----")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_is_what_openssl_writes() {
        // RFC 8032 test 1 secret key, and openssl's PEM for it.
        let seed = hex::decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .unwrap();
        let key = SigningKey(ed25519_dalek::SigningKey::from_bytes(
            &seed.try_into().unwrap(),
        ));
        let pem = key.to_pem();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"));
        assert_eq!(
            key.public().to_pem(),
            "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n"
        );
    }

    #[test]
    fn weak_keys_are_refused() {
        // The identity point: small order.
        let mut id = [0u8; 32];
        id[0] = 1;
        assert!(matches!(
            PublicKey::from_bytes(&id, "k"),
            Err(KeyError::Weak { .. })
        ));
    }

    #[test]
    fn sign_and_verify_strict() {
        let k = SigningKey::generate();
        let sig = k.sign(b"m");
        assert!(k.public().verify_strict(b"m", &sig));
        assert!(!k.public().verify_strict(b"n", &sig));
    }
}
