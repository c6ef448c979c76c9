//! The FORMAT §10 test vectors, read from docs/FORMAT.md itself, and the
//! keys the structure-aware target signs with.

use ed25519_dalek::Signer;
use sha2::{Digest, Sha256};

const FORMAT_MD: &str = include_str!("../../docs/FORMAT.md");

/// The hex block labelled `label:` in FORMAT §10, joined and decoded.
pub fn block(label: &str) -> Vec<u8> {
    let start = FORMAT_MD
        .find(&format!("\n{label}:\n"))
        .unwrap_or_else(|| panic!("FORMAT.md has no vector {label:?}"));
    let rest = &FORMAT_MD[start..];
    let open = rest.find("```\n").expect("a code block") + 4;
    let close = rest[open..].find("```").expect("a closed code block") + open;
    let hex_text: String = rest[open..close].split_whitespace().collect();
    hex::decode(hex_text).expect("hex")
}

/// The two events of the FORMAT §10 ledger.
pub fn vector_events() -> Vec<Vec<u8>> {
    vec![
        block("genesis event (events.cbor bytes 0..)"),
        block("event 1 event"),
    ]
}

/// `events.cbor` of the FORMAT §10 ledger (genesis + event 1).
pub fn vector_log() -> Vec<u8> {
    vector_events().concat()
}

/// The one document of the FORMAT §10 ledger.
pub fn vector_doc() -> Vec<u8> {
    block("document bytes (hex)")
}

pub struct Key {
    pub name: &'static str,
    pub signing: ed25519_dalek::SigningKey,
    /// The same key as the library holds it, for `Event::sign`.
    pub ledger: ledger::base::crypto::SigningKey,
}

impl Key {
    /// The key of `seed`, read back by the library from a PKCS#8 key file
    /// of mode 0600: the only door `SigningKey` has.
    fn new(name: &'static str, seed: &[u8; 32]) -> Key {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let signing = ed25519_dalek::SigningKey::from_bytes(seed);
        let pem = signing
            .to_pkcs8_pem(Default::default())
            .expect("PKCS#8 encoding of an Ed25519 key");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join(format!("{name}.key"));
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| f.write_all(pem.as_bytes()))
            .expect("writing a key file");
        let ledger = ledger::base::crypto::SigningKey::from_file(&path).expect("reading it back");
        Key {
            name,
            signing,
            ledger,
        }
    }
    pub fn public(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }
    pub fn kid(&self) -> [u8; 32] {
        Sha256::digest(self.public()).into()
    }
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.signing.sign(msg).to_bytes()
    }
}

/// most and med (RFC 8032 §7.1 tests 1 and 2, as in FORMAT §10), a third
/// party, and an outsider who is never a party.
pub fn keys() -> Vec<Key> {
    let seed = |label: &str| -> [u8; 32] { block(label).try_into().expect("32-byte seed") };
    vec![
        Key::new("most", &seed("most seed")),
        Key::new("med", &seed("med seed")),
        Key::new("third", &[3; 32]),
        Key::new("ghost", &[9; 32]),
    ]
}
