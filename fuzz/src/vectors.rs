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
}

impl Key {
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
        Key {
            name: "most",
            signing: ed25519_dalek::SigningKey::from_bytes(&seed("most seed")),
        },
        Key {
            name: "med",
            signing: ed25519_dalek::SigningKey::from_bytes(&seed("med seed")),
        },
        Key {
            name: "third",
            signing: ed25519_dalek::SigningKey::from_bytes(&[3; 32]),
        },
        Key {
            name: "ghost",
            signing: ed25519_dalek::SigningKey::from_bytes(&[9; 32]),
        },
    ]
}
