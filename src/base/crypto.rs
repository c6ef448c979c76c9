//! Keys and signatures: key files in and out, signing, strict verification,
//! and the one fingerprint by which a key is shown to people.
//!
//! A [`SigningKey`] only comes from [`SigningKey::generate`] or from a key
//! file that passed the mode and format checks; its secret is zeroized when
//! it is dropped (ed25519-dalek's `zeroize` feature) and never printed. Key
//! and passphrase files are held to one rule, as ssh holds its keys: a
//! regular file that neither its group nor others may read or write.
//!
//! **Fingerprints.** A key is shown to people as its [`Fingerprint`]:
//! `SHA256:` followed by the Base64 (standard alphabet, no padding) of the
//! SHA-256 of the key's SSH wire encoding (RFC 8709 §4: the string
//! `ssh-ed25519`, then the string of its 32 bytes, each with a 4-byte
//! big-endian length). That is exactly what `ssh-keygen -l` prints for the
//! same key, so a secretariat can compare it with OpenSSH's own tools
//! (`ssh-keygen -i -m PKCS8 -f most.pub > most.ssh.pub; ssh-keygen -lf
//! most.ssh.pub`). The kid (FORMAT §5.1: SHA-256 of the 32 bytes) is a
//! field of the format, not a name for people: messages and reports show
//! the fingerprint, and only the JSON output carries the kid besides it.
//!
//! **Signers.** The writer signs through the [`Signer`] trait, not a key
//! file: a [`SigningKey`] is one, and so is a key kept elsewhere (an
//! ssh-agent, `base::agent`). A signer only produces 64 bytes; it is never
//! trusted for them: the one signing function (`core::format::Event::sign`)
//! verifies them strictly under the signer's public key, and replay under
//! the party's current key, before a byte is written (FORMAT §5.2).

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::pkcs8::{
    DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey, KeypairBytes,
};
use ed25519_dalek::Signature;
use ed25519_dalek::Signer as _;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The most a key or passphrase file may hold: a key file is a few hundred
/// bytes; refuse to slurp something huge.
const MAX_KEY_FILE: u64 = 64 * 1024;

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
    /// A private key or passphrase file that its group or others may read
    /// or write; `what` is "private key file" or "passphrase file".
    #[error("{what} {path} is {} (mode {mode:04o}); run: chmod 600 {path}", exposure(*.mode))]
    Mode {
        what: &'static str,
        path: PathBuf,
        mode: u32,
    },
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
    /// A key of another algorithm; `found` names it, with its article
    /// ("an RSA key (PKCS#8)", "an ecdsa-sha2-nistp256 key (OpenSSH)").
    #[error("{path} is {found}; ledger needs an Ed25519 key: make one with `ledger keygen NAME` (or `ssh-keygen -t ed25519`)")]
    NotEd25519 { path: PathBuf, found: String },
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

    /// Reads a public key file: SPKI PEM, as `openssl pkey -pubout` and
    /// `ledger keygen` write, or an OpenSSH `ssh-ed25519 …` line. A private
    /// key file is refused ([`KeyError::PrivateWherePublic`]), its text
    /// zeroized.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let (text, _) = read_key_file(path, "public key")?;
        Self::from_pem(&text, path)
    }

    fn from_pem(text: &str, path: &Path) -> Result<Self, KeyError> {
        let line = text.trim();
        if let Some(kind) = ssh_public_type(line) {
            if kind != "ssh-ed25519" {
                return Err(KeyError::NotEd25519 {
                    path: path.to_owned(),
                    found: format!("{} (OpenSSH public key)", ssh_kind(kind)),
                });
            }
            let key = ssh_key::PublicKey::from_openssh(line).map_err(|e| KeyError::Malformed {
                path: path.to_owned(),
                expected: "public key (OpenSSH)",
                reason: e.to_string(),
            })?;
            let Some(ed) = key.key_data().ed25519() else {
                return Err(KeyError::NotEd25519 {
                    path: path.to_owned(),
                    found: format!(
                        "{} (OpenSSH public key)",
                        ssh_kind(key.algorithm().as_str())
                    ),
                });
            };
            return Self::from_bytes(&ed.0, &path.display().to_string());
        }
        match pem_label(text) {
            Some("PUBLIC KEY") => {}
            Some(label) if is_private_label(label) => {
                return Err(KeyError::PrivateWherePublic {
                    path: path.to_owned(),
                })
            }
            label => {
                if let Some(found) = label.and_then(legacy_label) {
                    return Err(KeyError::NotEd25519 {
                        path: path.to_owned(),
                        found: found.to_owned(),
                    });
                }
                return Err(KeyError::Malformed {
                    path: path.to_owned(),
                    expected: "public key (SPKI)",
                    reason: "expected -----BEGIN PUBLIC KEY-----".into(),
                });
            }
        }
        let malformed = |reason: String| KeyError::Malformed {
            path: path.to_owned(),
            expected: "public key (SPKI)",
            reason,
        };
        let (_, doc) = pkcs8::Document::from_pem(line).map_err(|e| malformed(e.to_string()))?;
        let spki = pkcs8::spki::SubjectPublicKeyInfoRef::try_from(doc.as_bytes())
            .map_err(|e| malformed(e.to_string()))?;
        if let Some(found) = other_algorithm(&spki.algorithm) {
            return Err(KeyError::NotEd25519 {
                path: path.to_owned(),
                found: format!("{found} (SPKI public key)"),
            });
        }
        let key = ed25519_dalek::VerifyingKey::from_public_key_der(doc.as_bytes())
            .map_err(|e| malformed(e.to_string()))?;
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

    /// The COSE kid of this key: SHA-256 of its 32 bytes (FORMAT §5.1). A
    /// field of the format; people are shown [`PublicKey::fingerprint`].
    pub fn kid(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }

    /// The key as people compare it: see [`Fingerprint`].
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(self.0.as_bytes())
    }

    /// RFC 8032 verification with the strict checks of FORMAT §5.2.
    pub fn verify_strict(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let sig = Signature::from_bytes(signature);
        self.0.verify_strict(message, &sig).is_ok()
    }
}

/// A key as people compare it (the module doc, "Fingerprints"): the
/// SHA-256 of its SSH wire encoding, shown as `SHA256:` and unpadded Base64,
/// as `ssh-keygen -l` shows the same key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a 32-byte Ed25519 public key, valid or not (a
    /// key named in a refused event is still shown by its fingerprint).
    pub fn of(key: &[u8; 32]) -> Self {
        // RFC 8709 §4 (RFC 4253 §6.6 strings): string "ssh-ed25519",
        // string key.
        const NAME: &[u8] = b"ssh-ed25519";
        let mut h = Sha256::new();
        h.update((NAME.len() as u32).to_be_bytes());
        h.update(NAME);
        h.update((key.len() as u32).to_be_bytes());
        h.update(key);
        Fingerprint(h.finalize().into())
    }

    /// Reads `SHA256:…` as [`Fingerprint`]'s `Display` writes it (and only
    /// that: canonical unpadded Base64 of 32 bytes).
    pub fn parse(text: &str) -> Option<Self> {
        use base64ct::Encoding;
        let b64 = text.strip_prefix("SHA256:")?;
        let mut out = [0u8; 32];
        match base64ct::Base64Unpadded::decode(b64, &mut out) {
            Ok(d) if d.len() == 32 => Some(Fingerprint(out)),
            _ => None,
        }
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use base64ct::Encoding;
        write!(
            f,
            "SHA256:{}",
            base64ct::Base64Unpadded::encode_string(&self.0)
        )
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl serde::Serialize for Fingerprint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Something that signs with one Ed25519 key: a key read from a file
/// ([`SigningKey`]), or a key held by another program that never gives it
/// out (an ssh-agent). What it returns is checked by the caller (the
/// module doc, "Signers"), so an implementation need not check it itself.
pub trait Signer {
    /// The public key whose private half signs; the ledger decides from
    /// it which party acts, and checks every signature under it.
    fn public_key(&self) -> PublicKey;
    /// An RFC 8032 Ed25519 signature of exactly `message`.
    fn try_sign(&self, message: &[u8]) -> Result<[u8; 64], SignerError>;
}

impl Signer for SigningKey {
    fn public_key(&self) -> PublicKey {
        self.public()
    }

    fn try_sign(&self, message: &[u8]) -> Result<[u8; 64], SignerError> {
        Ok(self.sign(message))
    }
}

/// Why a signer could not sign: the typed error of the signer itself (for
/// an agent, `base::agent::AgentError`), whose message is one line saying
/// what failed and what to do. [`SignerError::get`] gives it back.
/// Two are equal if they say the same.
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct SignerError(std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>);

impl PartialEq for SignerError {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_string() == other.0.to_string()
    }
}

impl Eq for SignerError {}

impl SignerError {
    pub fn new(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        SignerError(std::sync::Arc::new(e))
    }

    /// The signer's own error, if it is of type `E`.
    pub fn get<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.0.downcast_ref()
    }
}

/// Whether a private key file was encrypted ([`SigningKey::open`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protection {
    Plain,
    Encrypted,
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
        Self::open(path, passphrase).map(|(key, _)| key)
    }

    /// [`SigningKey::from_file_with`], saying whether the file was
    /// encrypted: a passphrase given for a key that needs none is a
    /// mistake the caller should report, not ignore.
    pub fn open(
        path: &Path,
        passphrase: &mut dyn FnMut() -> Result<Zeroizing<String>, KeyError>,
    ) -> Result<(Self, Protection), KeyError> {
        let malformed = |expected: &'static str, reason: String| KeyError::Malformed {
            path: path.to_owned(),
            expected,
            reason,
        };
        let (text, mode) = read_key_file(path, "private key")?;
        let label = pem_label(&text);
        match label {
            Some("PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" | "OPENSSH PRIVATE KEY") => {}
            Some("PUBLIC KEY") => {
                return Err(KeyError::PublicWherePrivate {
                    path: path.to_owned(),
                })
            }
            _ if ssh_public_type(text.trim()).is_some() => {
                return Err(KeyError::PublicWherePrivate {
                    path: path.to_owned(),
                })
            }
            Some(other) => {
                if let Some(found) = legacy_label(other) {
                    return Err(KeyError::NotEd25519 {
                        path: path.to_owned(),
                        found: found.to_owned(),
                    });
                }
                return Err(malformed(
                    "private key",
                    format!("found a {other:?} PEM block; expected PRIVATE KEY, ENCRYPTED PRIVATE KEY or OPENSSH PRIVATE KEY"),
                ));
            }
            None => {
                return Err(malformed(
                    "private key",
                    "expected -----BEGIN PRIVATE KEY----- (or an OpenSSH private key)".into(),
                ))
            }
        }
        let pem = text.trim();
        // What the file holds, where it can be told without a passphrase:
        // a key of another algorithm is named before anything else, since
        // neither its mode nor its passphrase would make it usable.
        let plain = match label {
            Some("PRIVATE KEY") => {
                let (_, doc) = pkcs8::SecretDocument::from_pem(pem)
                    .map_err(|e| malformed("private key (PKCS#8)", e.to_string()))?;
                let info = pkcs8::PrivateKeyInfo::try_from(doc.as_bytes())
                    .map_err(|e| malformed("private key (PKCS#8)", e.to_string()))?;
                if let Some(found) = other_algorithm(&info.algorithm) {
                    return Err(KeyError::NotEd25519 {
                        path: path.to_owned(),
                        found: format!("{found} (PKCS#8)"),
                    });
                }
                Some(doc)
            }
            Some("ENCRYPTED PRIVATE KEY") => None,
            _ => {
                match openssh_key_type(pem) {
                    Some(kind) if kind == "ssh-ed25519" => {}
                    Some(kind) => {
                        return Err(KeyError::NotEd25519 {
                            path: path.to_owned(),
                            found: format!("{} (OpenSSH private key)", ssh_kind(&kind)),
                        })
                    }
                    None => {
                        return Err(malformed(
                            "OpenSSH private key",
                            "not an openssh-key-v1 file".into(),
                        ))
                    }
                }
                None
            }
        };
        // Check the mode after the type, so that passing a .pub file or a
        // key of another algorithm gets the more useful message. Like ssh,
        // refuse what others can read.
        check_mode("private key file", path, mode)?;
        if let Some(doc) = plain {
            let key = ed25519_dalek::SigningKey::from_pkcs8_der(doc.as_bytes())
                .map_err(|e| malformed("private key (PKCS#8)", e.to_string()))?;
            return Ok((SigningKey(key), Protection::Plain));
        }
        if label == Some("ENCRYPTED PRIVATE KEY") {
            let wrong = || KeyError::WrongPassphrase {
                path: path.to_owned(),
            };
            let (_, doc) = pkcs8::Document::from_pem(pem)
                .map_err(|e| malformed("encrypted private key (PKCS#8)", e.to_string()))?;
            let info = pkcs8::EncryptedPrivateKeyInfo::try_from(doc.as_bytes())
                .map_err(|e| malformed("encrypted private key (PKCS#8)", e.to_string()))?;
            let pass = passphrase()?;
            // A wrong passphrase shows up as bad padding or, rarely, as a
            // decryption that is not DER.
            let der = info.decrypt(pass.as_bytes()).map_err(|_| wrong())?;
            let inner = pkcs8::PrivateKeyInfo::try_from(der.as_bytes()).map_err(|_| wrong())?;
            if let Some(found) = other_algorithm(&inner.algorithm) {
                return Err(KeyError::NotEd25519 {
                    path: path.to_owned(),
                    found: format!("{found} (encrypted PKCS#8)"),
                });
            }
            let key = ed25519_dalek::SigningKey::from_pkcs8_der(der.as_bytes())
                .map_err(|e| malformed("encrypted private key (PKCS#8)", e.to_string()))?;
            return Ok((SigningKey(key), Protection::Encrypted));
        }
        let mut ssh = ssh_key::PrivateKey::from_openssh(pem)
            .map_err(|e| malformed("OpenSSH private key", e.to_string()))?;
        let protection = if ssh.is_encrypted() {
            let pass = passphrase()?;
            ssh = ssh
                .decrypt(pass.as_bytes())
                .map_err(|_| KeyError::WrongPassphrase {
                    path: path.to_owned(),
                })?;
            Protection::Encrypted
        } else {
            Protection::Plain
        };
        let Some(pair) = ssh.key_data().ed25519() else {
            return Err(KeyError::NotEd25519 {
                path: path.to_owned(),
                found: format!(
                    "{} (OpenSSH private key)",
                    ssh_kind(ssh.algorithm().as_str())
                ),
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
        Ok((SigningKey(key), protection))
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

impl PublicKey {
    /// Writes `NAME.pub` (SPKI PEM, mode 0644) for a key whose private
    /// half is kept elsewhere (a token), refusing to overwrite; fsynced
    /// with its directory before this returns.
    pub fn write_new(&self, name: &Path) -> Result<PathBuf, KeyError> {
        let pub_path = with_suffix(name, "pub");
        if fs::symlink_metadata(&pub_path).is_ok() {
            return Err(KeyError::Exists { path: pub_path });
        }
        write_new(&pub_path, self.to_pem().as_bytes(), 0o644)?;
        if let Some(parent) = pub_path.parent() {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            if let Ok(d) = File::open(parent) {
                let _ = d.sync_all();
            }
        }
        Ok(pub_path)
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

/// Opens a key file the user names: a regular file (a FIFO or a device is
/// refused without blocking on it) of at most [`MAX_KEY_FILE`] bytes of
/// text, read into memory that is zeroized when dropped; `expected` ("private
/// key", "public key") names it in errors. Returns the text
/// and the file's permission bits, for [`check_mode`].
fn read_key_file(
    path: &Path,
    expected: &'static str,
) -> Result<(Zeroizing<String>, u32), KeyError> {
    use std::io::Read;
    let read_err = |source| KeyError::Read {
        path: path.to_owned(),
        source,
    };
    let (file, meta) = open_regular(path).map_err(read_err)?;
    if !meta.is_file() {
        return Err(KeyError::NotAFile {
            path: path.to_owned(),
        });
    }
    let malformed = |reason: &str| KeyError::Malformed {
        path: path.to_owned(),
        expected,
        reason: reason.to_owned(),
    };
    if meta.len() > MAX_KEY_FILE {
        return Err(malformed(
            "it is larger than 64 KiB; a key file is a few hundred bytes",
        ));
    }
    // Room for all of it up front, so that no copy of a secret is left
    // behind in memory freed by a reallocation.
    let mut text = Zeroizing::new(String::with_capacity(meta.len() as usize + 1));
    file.take(MAX_KEY_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidData {
                malformed("not a text (PEM) file")
            } else {
                read_err(e)
            }
        })?;
    if text.len() as u64 > MAX_KEY_FILE {
        return Err(malformed(
            "it is larger than 64 KiB; a key file is a few hundred bytes",
        ));
    }
    Ok((text, meta.permissions().mode() & 0o777))
}

/// Opens `path` for reading without waiting on a FIFO (O_NONBLOCK), and
/// describes what was opened, not what the name pointed to before.
fn open_regular(path: &Path) -> std::io::Result<(File, fs::Metadata)> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    let meta = file.metadata()?;
    Ok((file, meta))
}

/// The rule for files holding secrets (key files and passphrase files),
/// as ssh has it: neither the group nor others may read or write them.
fn check_mode(what: &'static str, path: &Path, mode: u32) -> Result<(), KeyError> {
    if mode & 0o077 != 0 {
        return Err(KeyError::Mode {
            what,
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// Who may do what to a file of mode `mode`, beside its owner: "readable by
/// group and others", "writable by others", "readable and writable by
/// group and readable by others".
fn exposure(mode: u32) -> String {
    let words = |bits: u32| {
        let mut w = Vec::new();
        for (bit, word) in [(4, "readable"), (2, "writable"), (1, "executable")] {
            if bits & bit != 0 {
                w.push(word);
            }
        }
        match w.as_slice() {
            [] => String::new(),
            [a] => (*a).to_owned(),
            [a, b] => format!("{a} and {b}"),
            [a, b, c, ..] => format!("{a}, {b} and {c}"),
        }
    };
    let (group, others) = (words(mode >> 3 & 7), words(mode & 7));
    match (group.is_empty(), others.is_empty()) {
        (false, false) if group == others => format!("{group} by group and others"),
        (false, false) => format!("{group} by group and {others} by others"),
        (false, true) => format!("{group} by group"),
        (true, false) => format!("{others} by others"),
        (true, true) => "private to its owner".to_owned(),
    }
}

/// Reads a passphrase: the first line of `path` (without its line end),
/// which is held to the rule of a key file: a regular file that neither
/// its group nor others may read or write.
pub fn read_passphrase_file(path: &Path) -> Result<Zeroizing<String>, KeyError> {
    read_secret_file(path, "passphrase file", "--passphrase-env VAR")
}

/// Reads a secret (a passphrase, a token's PIN) as
/// [`read_passphrase_file`] does; `what` names the file in errors
/// ("PIN file") and `instead` the other way to give it.
pub fn read_secret_file(
    path: &Path,
    what: &'static str,
    instead: &str,
) -> Result<Zeroizing<String>, KeyError> {
    use std::io::Read;
    const MAX: u64 = 4096;
    let bad = |m: String| KeyError::Passphrase(m);
    let (file, meta) = open_regular(path)
        .map_err(|e| bad(format!("cannot read {what} {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(bad(format!(
            "{what} {} is not a regular file (it must be a file that only its owner can read, or use {instead})",
            path.display()
        )));
    }
    check_mode(what, path, meta.permissions().mode() & 0o777)?;
    let mut bytes = Zeroizing::new(Vec::with_capacity(MAX as usize + 1));
    file.take(MAX + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| bad(format!("cannot read {what} {}: {e}", path.display())))?;
    if bytes.len() as u64 > MAX {
        return Err(bad(format!(
            "{what} {} is larger than {MAX} bytes; it should hold the secret on one line",
            path.display()
        )));
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| bad(format!("{what} {} is not UTF-8 text", path.display())))?;
    Ok(Zeroizing::new(text.lines().next().unwrap_or("").to_owned()))
}

/// The key type of an OpenSSH public key line (`ssh-ed25519 AAAA… comment`),
/// if it is one.
fn ssh_public_type(line: &str) -> Option<&str> {
    let kind = line.split_ascii_whitespace().next()?;
    let looks = ["ssh-", "ecdsa-", "sk-"]
        .iter()
        .any(|p| kind.starts_with(p));
    looks.then_some(kind)
}

/// An ssh key type for a message: "an ecdsa-sha2-nistp256 key".
fn ssh_kind(kind: &str) -> String {
    let shown: String = kind
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(64)
        .collect();
    if kind.starts_with("sk-") {
        format!("an {shown} key (held by a security key, which ledger cannot use)")
    } else {
        format!("an {shown} key")
    }
}

/// The key type in an OpenSSH private key's clear header (PROTOCOL.key:
/// "openssh-key-v1\0", cipher, KDF, KDF options, number of keys, then the
/// first public key, whose first field is its type); readable without the
/// passphrase. The decoded bytes are zeroized: unencrypted, they hold the
/// private key.
fn openssh_key_type(pem: &str) -> Option<String> {
    use base64ct::Encoding;
    fn string<'a>(r: &mut &'a [u8]) -> Option<&'a [u8]> {
        let (len, rest) = r.split_first_chunk::<4>()?;
        let n = usize::try_from(u32::from_be_bytes(*len)).ok()?;
        if rest.len() < n {
            return None;
        }
        let (s, rest) = rest.split_at(n);
        *r = rest;
        Some(s)
    }
    let body: Zeroizing<String> = Zeroizing::new(
        pem.lines()
            .map(str::trim)
            .filter(|l| !l.starts_with("-----"))
            .collect(),
    );
    let bytes = Zeroizing::new(base64ct::Base64::decode_vec(&body).ok()?);
    let mut r = bytes.strip_prefix(b"openssh-key-v1\0")?;
    for _ in 0..3 {
        string(&mut r)?;
    }
    let (_, rest) = r.split_first_chunk::<4>()?;
    r = rest;
    let mut public = string(&mut r)?;
    let kind = std::str::from_utf8(string(&mut public)?).ok()?;
    Some(kind.to_owned())
}

/// A PEM label of a key format that is never Ed25519 (or that ledger does
/// not read), described for a message.
fn legacy_label(label: &str) -> Option<&'static str> {
    Some(match label {
        "RSA PRIVATE KEY" | "RSA PUBLIC KEY" => "an RSA key (PKCS#1)",
        "EC PRIVATE KEY" => "an elliptic-curve (ECDSA) key (SEC1)",
        "DSA PRIVATE KEY" => "a DSA key",
        "PGP PUBLIC KEY BLOCK" | "PGP PRIVATE KEY BLOCK" => "an OpenPGP key",
        "CERTIFICATE" => "an X.509 certificate, not a key",
        _ => return None,
    })
}

fn is_private_label(label: &str) -> bool {
    matches!(
        label,
        "PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" | "OPENSSH PRIVATE KEY"
    )
}

/// What key a PKCS#8 or SPKI algorithm identifier names, unless it is
/// Ed25519 (1.3.101.112, RFC 8410): "an RSA key", "an ECDSA key on P-256".
fn other_algorithm(alg: &pkcs8::spki::AlgorithmIdentifierRef<'_>) -> Option<String> {
    let oid = alg.oid.to_string();
    Some(match oid.as_str() {
        "1.3.101.112" => return None,
        "1.2.840.113549.1.1.1" => "an RSA key".to_owned(),
        "1.2.840.113549.1.1.10" => "an RSA-PSS key".to_owned(),
        "1.2.840.10040.4.1" => "a DSA key".to_owned(),
        "1.2.840.10045.2.1" => {
            let curve = match alg.parameters_oid().map(|c| c.to_string()) {
                Ok(c) => match c.as_str() {
                    "1.2.840.10045.3.1.7" => "P-256 (prime256v1)".to_owned(),
                    "1.3.132.0.34" => "P-384 (secp384r1)".to_owned(),
                    "1.3.132.0.35" => "P-521 (secp521r1)".to_owned(),
                    "1.3.132.0.10" => "secp256k1".to_owned(),
                    _ => format!("the curve with OID {c}"),
                },
                Err(_) => "an unnamed curve".to_owned(),
            };
            format!("an elliptic-curve (ECDSA) key on {curve}")
        }
        "1.3.101.110" => "an X25519 key-agreement key".to_owned(),
        "1.3.101.111" => "an X448 key-agreement key".to_owned(),
        "1.3.101.113" => "an Ed448 key".to_owned(),
        "1.2.156.10197.1.301" => "an SM2 key".to_owned(),
        _ => format!("a key of an algorithm ledger does not know (OID {oid})"),
    })
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
