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
    #[error("{path} is encrypted: give its passphrase on the terminal, or with --passphrase-file FILE or --passphrase-env VAR")]
    NeedPassphrase { path: PathBuf },
    #[error("wrong passphrase for {path}")]
    WrongPassphrase { path: PathBuf },
    #[error("cannot read a passphrase: {0}")]
    Passphrase(String),
    #[error("{path} is a {algorithm} key; ledger uses Ed25519 keys (ssh-keygen -t ed25519, or ledger keygen)")]
    NotEd25519 { path: PathBuf, algorithm: String },
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
        // RFC 8032 §5.1.3: y must be below p. The decompression accepts
        // y >= p; requiring the canonical re-encoding refuses it.
        if key.to_edwards().compress().to_bytes() != *bytes {
            return Err(KeyError::Invalid {
                what: what.to_owned(),
            });
        }
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
        let line = text.trim();
        if line.starts_with("ssh-") || line.starts_with("ecdsa-") {
            let key = ssh_key::PublicKey::from_openssh(line).map_err(|e| KeyError::Malformed {
                path: path.to_owned(),
                expected: "public key (OpenSSH)",
                reason: e.to_string(),
            })?;
            let Some(ed) = key.key_data().ed25519() else {
                return Err(KeyError::NotEd25519 {
                    path: path.to_owned(),
                    algorithm: key.algorithm().to_string(),
                });
            };
            return Self::from_bytes(&ed.0, &path.display().to_string());
        }
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

/// PBKDF2 rounds for keys that `keygen --passphrase` encrypts (OWASP's
/// 2023 figure for PBKDF2-HMAC-SHA256).
const PBKDF2_ITERATIONS: u32 = 600_000;

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

    /// Reads a private key file that needs no passphrase. See
    /// [`SigningKey::from_file_with`].
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        Self::from_file_with(path, &mut || {
            Err(KeyError::NeedPassphrase {
                path: path.to_owned(),
            })
        })
    }

    /// Reads a private key file: PKCS#8 PEM (as `openssl genpkey` writes,
    /// plain or encrypted) or OpenSSH (as `ssh-keygen -t ed25519` writes,
    /// with or without a passphrase). `passphrase` is asked only for an
    /// encrypted key. Refuses a file that others can read, a public key,
    /// a key of another algorithm, and anything malformed.
    pub fn from_file_with(
        path: &Path,
        passphrase: &mut dyn FnMut() -> Result<Zeroizing<String>, KeyError>,
    ) -> Result<Self, KeyError> {
        let read_err = |source| KeyError::Read {
            path: path.to_owned(),
            source,
        };
        let malformed = |expected: &'static str, reason: String| KeyError::Malformed {
            path: path.to_owned(),
            expected,
            reason,
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
                    malformed("private key", "not a text (PEM) file".into())
                } else {
                    read_err(e)
                }
            })?;
        let label = pem_label(&text);
        match label {
            Some("PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" | "OPENSSH PRIVATE KEY") => {}
            Some("PUBLIC KEY") => {
                return Err(KeyError::PublicWherePrivate {
                    path: path.to_owned(),
                })
            }
            _ if text.trim_start().starts_with("ssh-") => {
                return Err(KeyError::PublicWherePrivate {
                    path: path.to_owned(),
                })
            }
            Some(other) => {
                return Err(malformed(
                    "private key",
                    format!("found a {other:?} PEM block; expected PRIVATE KEY, ENCRYPTED PRIVATE KEY or OPENSSH PRIVATE KEY"),
                ))
            }
            None => {
                return Err(malformed(
                    "private key",
                    "expected -----BEGIN PRIVATE KEY----- (or an OpenSSH private key)".into(),
                ))
            }
        }
        // Check the mode after the type, so that passing a .pub file gets
        // the more useful message. Like ssh, refuse what others can read.
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::Mode {
                path: path.to_owned(),
                mode,
            });
        }
        let pem = text.trim();
        let key = match label {
            Some("PRIVATE KEY") => ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
                .map_err(|e| malformed("private key (PKCS#8)", e.to_string()))?,
            Some("ENCRYPTED PRIVATE KEY") => {
                let pass = passphrase()?;
                ed25519_dalek::SigningKey::from_pkcs8_encrypted_pem(pem, pass.as_bytes()).map_err(
                    |e| {
                        match e {
                            // A wrong passphrase shows up as bad padding or a
                            // malformed decryption result.
                            pkcs8::Error::EncryptedPrivateKey(_)
                            | pkcs8::Error::Asn1(_)
                            | pkcs8::Error::KeyMalformed => KeyError::WrongPassphrase {
                                path: path.to_owned(),
                            },
                            other => malformed("encrypted private key (PKCS#8)", other.to_string()),
                        }
                    },
                )?
            }
            _ => {
                let mut ssh = ssh_key::PrivateKey::from_openssh(pem)
                    .map_err(|e| malformed("OpenSSH private key", e.to_string()))?;
                if ssh.is_encrypted() {
                    let pass = passphrase()?;
                    ssh = ssh
                        .decrypt(pass.as_bytes())
                        .map_err(|_| KeyError::WrongPassphrase {
                            path: path.to_owned(),
                        })?;
                }
                let Some(pair) = ssh.key_data().ed25519() else {
                    return Err(KeyError::NotEd25519 {
                        path: path.to_owned(),
                        algorithm: ssh.algorithm().to_string(),
                    });
                };
                let secret = Zeroizing::new(pair.private.to_bytes());
                let key = ed25519_dalek::SigningKey::from_bytes(&secret);
                if key.verifying_key().to_bytes() != pair.public.0 {
                    return Err(malformed(
                        "OpenSSH private key",
                        "its public half does not match its private half".into(),
                    ));
                }
                key
            }
        };
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

    /// PKCS#8 v1 PEM, as `openssl genpkey -algorithm ed25519` writes; with
    /// a passphrase, encrypted PKCS#8 (PBES2: scrypt and AES-256-CBC).
    fn to_pem(&self, passphrase: Option<&str>) -> Result<Zeroizing<String>, KeyError> {
        let pair = KeypairBytes {
            secret_key: self.0.to_bytes(),
            public_key: None,
        };
        if let Some(pass) = passphrase {
            // PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC, the scheme
            // `openssl genpkey -aes-256-cbc` uses, so openssl reads it back
            // (pkcs8's default, scrypt, needs more memory than openssl allows).
            let fail = |e: &dyn std::fmt::Display| {
                KeyError::Passphrase(format!("cannot encrypt the key: {e}"))
            };
            let mut salt = [0u8; 16];
            let mut iv = [0u8; 16];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut salt);
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut iv);
            let params = pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(
                PBKDF2_ITERATIONS,
                &salt,
                &iv,
            )
            .map_err(|e| fail(&e))?;
            let der = pair.to_pkcs8_der().map_err(|e| fail(&e))?;
            let info = pkcs8::PrivateKeyInfo::try_from(der.as_bytes()).map_err(|e| fail(&e))?;
            let doc = info
                .encrypt_with_params(params, pass.as_bytes())
                .map_err(|e| fail(&e))?;
            let pem = doc
                .to_pem("ENCRYPTED PRIVATE KEY", Default::default())
                .map_err(|e| fail(&e))?;
            return Ok(pem);
        }
        // Encoding 32 bytes as PKCS#8 cannot fail.
        let pem = pair
            .to_pkcs8_pem(Default::default())
            .expect("PKCS#8 encoding of an Ed25519 key");
        Ok(Zeroizing::new(pem.to_string()))
    }

    /// Writes `NAME.key` (mode 0600) and `NAME.pub`, refusing to overwrite
    /// either; both are fsynced before this returns.
    pub fn write_pair(
        &self,
        name: &Path,
        passphrase: Option<&str>,
    ) -> Result<(PathBuf, PathBuf), KeyError> {
        let key_path = with_suffix(name, "key");
        let pub_path = with_suffix(name, "pub");
        for p in [&key_path, &pub_path] {
            if fs::symlink_metadata(p).is_ok() {
                return Err(KeyError::Exists { path: p.clone() });
            }
        }
        write_new(&key_path, self.to_pem(passphrase)?.as_bytes(), 0o600)?;
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
        let pem = key.to_pem(None).unwrap();
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
