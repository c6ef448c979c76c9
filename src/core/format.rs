//! The wire format: every byte that is hashed or signed is produced and
//! checked here, and nowhere else (FORMAT §3-§5).
//!
//! Decoding is strict. An item is accepted only if it is the deterministic
//! encoding of its own value (FORMAT §4), which we check by re-encoding the
//! decoded value and comparing bytes; map key order and uniqueness are
//! checked explicitly, because a re-encoding would faithfully reproduce an
//! unsorted map.

use std::collections::BTreeMap;
use std::fmt;
use std::io::BufRead;

use ciborium::value::{Integer, Value};
use sha2::{Digest, Sha256};

use crate::base::crypto::{Signer, SignerError};
use crate::base::time::{TimeError, Timestamp};

pub mod schema;

/// The reference decoder: the first strict decoder of the format, kept as
/// it was (ciborium `Value` trees, re-encoded and compared with the input,
/// FORMAT §4's "simplest correct check"). [`Event::decode`] and
/// [`Body::decode`] read valid bytes with [`schema`] and ask this one only
/// why bytes are refused, so every refusal keeps the reference's error
/// kind, message and offset; the fuzz target `decode_diff` and
/// `tests/decode_diff.rs` hold [`schema`] to it.
pub mod reference {
    use super::{Body, Event, FormatError};

    /// Decodes exactly one event; trailing bytes are an error.
    pub fn event(stored: &[u8]) -> Result<Event, FormatError> {
        let (value, used) = super::read_item(stored)?;
        if used != stored.len() {
            return Err(FormatError::Trailing(stored.len() - used));
        }
        Event::from_value(value, stored)
    }

    /// Decodes a payload: exactly one deterministic CBOR map, nothing after.
    pub fn body(payload: &[u8]) -> Result<Body, FormatError> {
        Body::decode_reference(payload)
    }
}

/// FORMAT §5.3: the only format version.
pub const FORMAT_VERSION: u64 = 1;
/// FORMAT §3: the largest event, in stored bytes: what a u16 length prefix
/// can frame, so that every event fits a C2SP tlog-tiles entry bundle.
pub const MAX_EVENT_BYTES: usize = 65_535;
/// FORMAT §5.2: the COSE external_aad that domain-separates our signatures.
pub const EXTERNAL_AAD: &[u8] = b"ledger/v1/event";
/// FORMAT §5.7: the first element of the key-proof message.
pub const KEY_PROOF_CONTEXT: &str = "ledger/v1/key-proof";
/// FORMAT §5.8: the first element of the party-proof message.
pub const PARTY_PROOF_CONTEXT: &str = "ledger/v1/party-proof";
/// RFC 9052: the CBOR tag of a COSE_Sign1 message.
pub const COSE_SIGN1_TAG: u64 = 18;
/// RFC 9053: the COSE algorithm id of EdDSA.
pub const ALG_EDDSA: i64 = -8;
/// FORMAT §5.4: the most parties a ledger has at any one time (and the
/// most entries of `parties`, `signatories`, `add` and `remove`).
pub const MAX_PARTIES: usize = 64;
const MAX_LINE: usize = 1024;
/// FORMAT §5.4: the longest text. Chosen so that a `note` holding one
/// always fits in an event (whose other fields and envelope take at most
/// 330 bytes of the 65 535), so that a note too long for an event is
/// refused by this limit, which says what to shorten.
pub const MAX_TEXT: usize = 65_000;
const MAX_ID: usize = 64;

/// What is wrong with some bytes that should be an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    #[error("not well-formed CBOR: {0}")]
    Cbor(String),
    #[error("the data ends inside an event (a torn tail, FORMAT §3)")]
    Truncated,
    #[error("event is larger than the {MAX_EVENT_BYTES}-byte limit (FORMAT §3)")]
    TooLarge,
    /// An event being signed would be `size` bytes: its fields are each
    /// within their limits, but together over the event's.
    #[error("the event would be {size} bytes, more than the {MAX_EVENT_BYTES} bytes an event may have (FORMAT §3): shorten its text by at least {} bytes", .size.saturating_sub(MAX_EVENT_BYTES))]
    EventTooLarge { size: usize },
    #[error("{0} bytes follow the event")]
    Trailing(usize),
    #[error("{what} is not deterministically encoded CBOR (FORMAT §4)")]
    NotDeterministic { what: &'static str },
    #[error("{what} has a duplicate map key {key}")]
    DuplicateKey { what: &'static str, key: String },
    #[error("{what} has map keys out of order: {key} (FORMAT §4)")]
    UnsortedKeys { what: &'static str, key: String },
    #[error("{what} contains a {found}, which the format does not allow (FORMAT §4)")]
    ForbiddenType {
        what: &'static str,
        found: &'static str,
    },
    #[error("COSE_Sign1 envelope: {0} (FORMAT §5.1)")]
    Envelope(String),
    #[error("field {field:?}: expected {expected}, found {found}")]
    FieldType {
        field: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("missing required field {field:?} in a {kind} event")]
    Missing { field: &'static str, kind: String },
    #[error("unknown field {field:?} in a {kind} event (FORMAT §5.3)")]
    UnknownField { field: String, kind: String },
    #[error("unknown event kind {0:?} (FORMAT §5.4)")]
    UnknownKind(String),
    #[error("unsupported format version {0} (expected {FORMAT_VERSION})")]
    Version(u64),
    #[error("field {field:?}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("field \"time\": {0}")]
    Time(#[from] TimeError),
}

/// Why [`Event::sign`] made no event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The body does not make an event that a reader would accept.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The signature just made does not verify, strictly, under the signing
    /// key's own public key: a fault in signing, caught before the event
    /// could be stored.
    #[error("the signature just made does not verify under the signing key's public key (a fault in signing; no event was made)")]
    SelfCheck,
    /// The signer (an agent, a token) could not sign; its own error says
    /// why and what to do.
    #[error(transparent)]
    Signer(#[from] SignerError),
}

fn invalid(field: &str, reason: impl Into<String>) -> FormatError {
    FormatError::Invalid {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

macro_rules! digest_type {
    ($(#[$m:meta])* $name:ident, $label:literal) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// Parses 64 hex digits (either case).
            pub fn from_hex(s: &str) -> Result<Self, FormatError> {
                let mut out = [0u8; 32];
                hex::decode_to_slice(s.trim(), &mut out).map_err(|_| {
                    invalid($label, format!("expected 64 hex digits, found {:?}", s.chars().take(80).collect::<String>()))
                })?;
                Ok($name(out))
            }
            /// Lowercase hex, as FORMAT uses everywhere.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }
    };
}

digest_type!(
    /// SHA-256 of an event's complete stored bytes (FORMAT §5.3).
    EventHash,
    "event hash"
);
digest_type!(
    /// A key id: SHA-256 of a 32-byte Ed25519 public key (FORMAT §5.1).
    Kid,
    "kid"
);
serde_via_str!(EventHash, EventHash::to_hex, EventHash::from_hex);
serde_via_str!(Kid, Kid::to_hex, Kid::from_hex);
serde_via_str!(DocHash, DocHash::to_hex, DocHash::from_hex);
serde_via_str!(LedgerId, |l: &LedgerId| l.to_string(), |s: &str| {
    let mut out = [0u8; 16];
    hex::decode_to_slice(s, &mut out).map(|_| LedgerId(out))
});
serde_via_str!(PartyId, PartyId::to_string, PartyId::new);
serde_via_str!(DocId, DocId::to_string, DocId::new);
serde_via_str!(SessionId, SessionId::to_string, SessionId::new);
serde_via_str!(ProposalId, ProposalId::to_string, ProposalId::new);
digest_type!(
    /// SHA-256 of one version of a document's exact bytes (FORMAT §7).
    DocHash,
    "document hash"
);

impl EventHash {
    pub fn of(stored: &[u8]) -> Self {
        EventHash(Sha256::digest(stored).into())
    }
}

impl DocHash {
    pub fn of(content: &[u8]) -> Self {
        DocHash(Sha256::digest(content).into())
    }
}

impl Kid {
    /// The kid of a 32-byte public key.
    pub fn of(public_key: &[u8; 32]) -> Self {
        Kid(Sha256::digest(public_key).into())
    }
}

/// The ledger id: 16 random bytes fixed at genesis (FORMAT §5.3).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct LedgerId(pub [u8; 16]);

impl fmt::Display for LedgerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident, $label:literal) => {
        $(#[$m])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        // Shared, not copied: the replay state names the same few parties
        // in every document, so clones must not allocate.
        pub struct $name(std::sync::Arc<str>);

        // Shown as a quoted string in messages: "med", not PartyId("med").
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:?}", self.0)
            }
        }

        impl $name {
            /// Checks the id syntax of FORMAT §5.4.
            pub fn new(s: &str) -> Result<Self, FormatError> {
                // Named as people know it ("document id"), not as the
                // type is.
                check_id($label, s)?;
                Ok($name(std::sync::Arc::from(s)))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl std::str::FromStr for $name {
            type Err = FormatError;
            fn from_str(s: &str) -> Result<Self, FormatError> {
                Self::new(s)
            }
        }
    };
}

id_type!(
    /// A party's short id, such as `most` or `med`.
    PartyId,
    "party id"
);
id_type!(
    /// A document's id, such as `joint-declaration`.
    DocId,
    "document id"
);
id_type!(
    /// A session's id, such as `plenary`.
    SessionId,
    "session id"
);
id_type!(
    /// The id of a proposal to change the parties (FORMAT §5.4), such as
    /// `admit-observer`.
    ProposalId,
    "proposal id"
);

fn check_id(field: &str, s: &str) -> Result<(), FormatError> {
    let ok_char = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit() || b"-_.".contains(&c);
    let b = s.as_bytes();
    if b.is_empty() || b.len() > MAX_ID {
        return Err(invalid(
            field,
            format!("an id must be 1 to {MAX_ID} bytes, found {}", b.len()),
        ));
    }
    if !b[0].is_ascii_lowercase() && !b[0].is_ascii_digit() {
        return Err(invalid(
            field,
            format!("id {s:?} must start with a lowercase letter or digit"),
        ));
    }
    if let Some(c) = s.chars().find(|&c| !c.is_ascii() || !ok_char(c as u8)) {
        return Err(invalid(
            field,
            format!("id {s:?} contains {c:?}; ids use a-z, 0-9, '-', '_' and '.'"),
        ));
    }
    Ok(())
}

/// FORMAT §5.4 "line": one line of text, no control characters.
pub fn check_line(field: &str, s: &str) -> Result<(), FormatError> {
    check_text_class(field, s, MAX_LINE, false)
}

/// FORMAT §5.4 "text": free text; line feeds and tabs allowed.
pub fn check_text(field: &str, s: &str) -> Result<(), FormatError> {
    check_text_class(field, s, MAX_TEXT, true)
}

fn check_text_class(field: &str, s: &str, max: usize, multiline: bool) -> Result<(), FormatError> {
    if s.is_empty() || s.len() > max {
        return Err(invalid(
            field,
            format!("must be 1 to {max} bytes, found {}", s.len()),
        ));
    }
    let bad = |c: char| c.is_control() && !(multiline && (c == '\n' || c == '\t'));
    if let Some(c) = s.chars().find(|&c| bad(c)) {
        return Err(invalid(
            field,
            format!("contains the control character {c:?}"),
        ));
    }
    Ok(())
}

/// The kind of an event and its fields (FORMAT §5.4).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Kind {
    LedgerCreated {
        title: String,
        parties: BTreeMap<PartyId, [u8; 32]>,
    },
    SessionOpened {
        session: SessionId,
        title: String,
        place: Option<String>,
        chair: Option<String>,
        notes: Option<String>,
    },
    SessionClosed {
        session: SessionId,
        notes: Option<String>,
    },
    DocumentDrafted {
        doc: DocId,
        sha256: DocHash,
        title: String,
        /// Sorted and unique (a `Vec` so that decoding can check the order).
        signatories: Vec<PartyId>,
    },
    DocumentAmended {
        doc: DocId,
        sha256: DocHash,
        notes: Option<String>,
    },
    DocumentApproved {
        doc: DocId,
        sha256: DocHash,
    },
    DocumentSigned {
        doc: DocId,
        sha256: DocHash,
    },
    Note {
        text: String,
    },
    /// FORMAT §5.4: `key` becomes a current key of the author.
    KeyAdded {
        key: [u8; 32],
        /// The new key's signature over [`key_proof_message`] (FORMAT §5.7).
        proof: [u8; 64],
    },
    /// FORMAT §5.4: `key` becomes a current key of the author, and the key
    /// that signed this event stops being one.
    KeyRotated {
        key: [u8; 32],
        proof: [u8; 64],
    },
    /// FORMAT §5.4: the author's key with this kid (the `key` field) is
    /// revoked.
    KeyRevoked {
        kid: Kid,
        reason: String,
    },
    /// FORMAT §5.4: the author proposes that the parties in `add` join and
    /// those in `remove` leave (FORMAT §6.10).
    PartiesProposed {
        proposal: ProposalId,
        add: BTreeMap<PartyId, NewParty>,
        /// Sorted and unique (a `Vec` so that decoding can check the order).
        remove: Vec<PartyId>,
    },
    /// FORMAT §5.4: the author approves the open proposal whose event hash
    /// is `sha256`.
    PartiesApproved {
        proposal: ProposalId,
        sha256: EventHash,
    },
}

/// A party that a `parties-proposed` event would add (FORMAT §5.4).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct NewParty {
    /// Its Ed25519 public key.
    pub key: [u8; 32],
    /// The key's signature over [`party_proof_message`] (FORMAT §5.8).
    pub proof: [u8; 64],
}

impl Kind {
    /// The `kind` string of FORMAT §5.4.
    pub fn name(&self) -> &'static str {
        match self {
            Kind::LedgerCreated { .. } => "ledger-created",
            Kind::SessionOpened { .. } => "session-opened",
            Kind::SessionClosed { .. } => "session-closed",
            Kind::DocumentDrafted { .. } => "document-drafted",
            Kind::DocumentAmended { .. } => "document-amended",
            Kind::DocumentApproved { .. } => "document-approved",
            Kind::DocumentSigned { .. } => "document-signed",
            Kind::Note { .. } => "note",
            Kind::KeyAdded { .. } => "key-added",
            Kind::KeyRotated { .. } => "key-rotated",
            Kind::KeyRevoked { .. } => "key-revoked",
            Kind::PartiesProposed { .. } => "parties-proposed",
            Kind::PartiesApproved { .. } => "parties-approved",
        }
    }
}

/// The signed payload of an event (FORMAT §5.3).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Body {
    pub version: u64,
    pub ledger: LedgerId,
    pub seq: u64,
    pub prev: Option<EventHash>,
    pub time: Timestamp,
    pub author: PartyId,
    pub kind: Kind,
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

impl Body {
    /// The deterministic encoding of the body: the COSE payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut m: Vec<(Value, Value)> = vec![
            (text("v"), Value::Integer(self.version.into())),
            (text("ledger"), bytes(&self.ledger.0)),
            (text("seq"), Value::Integer(self.seq.into())),
            (text("time"), text(self.time.as_str())),
            (text("author"), text(self.author.as_str())),
            (text("kind"), text(self.kind.name())),
        ];
        if let Some(prev) = &self.prev {
            m.push((text("prev"), bytes(&prev.0)));
        }
        let opt = |m: &mut Vec<(Value, Value)>, k: &str, v: &Option<String>| {
            if let Some(v) = v {
                m.push((text(k), text(v)));
            }
        };
        match &self.kind {
            Kind::LedgerCreated { title, parties } => {
                m.push((text("title"), text(title)));
                let p = parties
                    .iter()
                    .map(|(id, key)| (text(id.as_str()), bytes(key)))
                    .collect();
                m.push((text("parties"), Value::Map(p)));
            }
            Kind::SessionOpened {
                session,
                title,
                place,
                chair,
                notes,
            } => {
                m.push((text("session"), text(session.as_str())));
                m.push((text("title"), text(title)));
                opt(&mut m, "place", place);
                opt(&mut m, "chair", chair);
                opt(&mut m, "notes", notes);
            }
            Kind::SessionClosed { session, notes } => {
                m.push((text("session"), text(session.as_str())));
                opt(&mut m, "notes", notes);
            }
            Kind::DocumentDrafted {
                doc,
                sha256,
                title,
                signatories,
            } => {
                m.push((text("doc"), text(doc.as_str())));
                m.push((text("sha256"), bytes(&sha256.0)));
                m.push((text("title"), text(title)));
                let s = signatories.iter().map(|p| text(p.as_str())).collect();
                m.push((text("signatories"), Value::Array(s)));
            }
            Kind::DocumentAmended { doc, sha256, notes } => {
                m.push((text("doc"), text(doc.as_str())));
                m.push((text("sha256"), bytes(&sha256.0)));
                opt(&mut m, "notes", notes);
            }
            Kind::DocumentApproved { doc, sha256 } | Kind::DocumentSigned { doc, sha256 } => {
                m.push((text("doc"), text(doc.as_str())));
                m.push((text("sha256"), bytes(&sha256.0)));
            }
            Kind::Note { text: t } => m.push((text("text"), text(t))),
            Kind::KeyAdded { key, proof } | Kind::KeyRotated { key, proof } => {
                m.push((text("key"), bytes(key)));
                m.push((text("proof"), bytes(proof)));
            }
            Kind::KeyRevoked { kid, reason } => {
                m.push((text("key"), bytes(&kid.0)));
                m.push((text("reason"), text(reason)));
            }
            Kind::PartiesProposed {
                proposal,
                add,
                remove,
            } => {
                m.push((text("proposal"), text(proposal.as_str())));
                let a = add
                    .iter()
                    .map(|(id, p)| {
                        let entry = vec![
                            (text("key"), bytes(&p.key)),
                            (text("proof"), bytes(&p.proof)),
                        ];
                        (text(id.as_str()), Value::Map(entry))
                    })
                    .collect();
                m.push((text("add"), Value::Map(a)));
                let r = remove.iter().map(|p| text(p.as_str())).collect();
                m.push((text("remove"), Value::Array(r)));
            }
            Kind::PartiesApproved { proposal, sha256 } => {
                m.push((text("proposal"), text(proposal.as_str())));
                m.push((text("sha256"), bytes(&sha256.0)));
            }
        }
        encode_value(Value::Map(m))
    }

    /// Decodes a payload: exactly one deterministic CBOR map, nothing after
    /// (read by [`schema::body`]; a refusal explained by [`reference::body`]).
    pub fn decode(payload: &[u8]) -> Result<Body, FormatError> {
        match schema::body(payload) {
            Some(body) => Ok(body),
            None => reference::body(payload),
        }
    }

    fn decode_reference(payload: &[u8]) -> Result<Body, FormatError> {
        let value = decode_exact(payload, "the payload")?;
        let Value::Map(entries) = value else {
            return Err(FormatError::Envelope(format!(
                "the payload must be a map, found {}",
                type_name(&value)
            )));
        };
        let mut fields = Fields::new(entries)?;
        let version = fields.uint("v")?;
        if version != FORMAT_VERSION {
            return Err(FormatError::Version(version));
        }
        let kind_name = fields.text_any("kind")?;
        fields.kind = kind_name.clone();
        let ledger = LedgerId(fields.fixed_bytes::<16>("ledger")?);
        let seq = fields.uint("seq")?;
        let prev = match fields.take("prev") {
            None => None,
            Some(v) => Some(EventHash(as_fixed_bytes::<32>("prev", v)?)),
        };
        let time = Timestamp::parse(&fields.text_any("time")?)?;
        let author = PartyId::new(&fields.text_any("author")?).map_err(|e| rename(e, "author"))?;
        let kind = match kind_name.as_str() {
            "ledger-created" => {
                let title = fields.line("title")?;
                let Some(v) = fields.take("parties") else {
                    return Err(fields.missing("parties"));
                };
                let Value::Map(entries) = v else {
                    return Err(wrong_type("parties", "a map", &v));
                };
                if entries.is_empty() || entries.len() > MAX_PARTIES {
                    return Err(invalid(
                        "parties",
                        format!(
                            "must have 1 to {MAX_PARTIES} entries, found {}",
                            entries.len()
                        ),
                    ));
                }
                let mut parties = BTreeMap::new();
                for (k, v) in entries {
                    let Value::Text(id) = k else {
                        return Err(wrong_type("parties", "text keys", &k));
                    };
                    let id = PartyId::new(&id).map_err(|e| rename(e, "parties"))?;
                    let key = as_fixed_bytes::<32>("parties", v)?;
                    parties.insert(id, key);
                }
                Kind::LedgerCreated { title, parties }
            }
            "session-opened" => Kind::SessionOpened {
                session: fields.id("session")?,
                title: fields.line("title")?,
                place: fields.opt_line("place")?,
                chair: fields.opt_line("chair")?,
                notes: fields.opt_text("notes")?,
            },
            "session-closed" => Kind::SessionClosed {
                session: fields.id("session")?,
                notes: fields.opt_text("notes")?,
            },
            "document-drafted" => {
                let doc = fields.id("doc")?;
                let sha256 = DocHash(fields.fixed_bytes::<32>("sha256")?);
                let title = fields.line("title")?;
                let Some(v) = fields.take("signatories") else {
                    return Err(fields.missing("signatories"));
                };
                let signatories = party_list("signatories", v)?;
                Kind::DocumentDrafted {
                    doc,
                    sha256,
                    title,
                    signatories,
                }
            }
            "document-amended" => Kind::DocumentAmended {
                doc: fields.id("doc")?,
                sha256: DocHash(fields.fixed_bytes::<32>("sha256")?),
                notes: fields.opt_text("notes")?,
            },
            "document-approved" => Kind::DocumentApproved {
                doc: fields.id("doc")?,
                sha256: DocHash(fields.fixed_bytes::<32>("sha256")?),
            },
            "document-signed" => Kind::DocumentSigned {
                doc: fields.id("doc")?,
                sha256: DocHash(fields.fixed_bytes::<32>("sha256")?),
            },
            "note" => Kind::Note {
                text: fields.text("text")?,
            },
            "key-added" => Kind::KeyAdded {
                key: fields.fixed_bytes::<32>("key")?,
                proof: fields.fixed_bytes::<64>("proof")?,
            },
            "key-rotated" => Kind::KeyRotated {
                key: fields.fixed_bytes::<32>("key")?,
                proof: fields.fixed_bytes::<64>("proof")?,
            },
            "key-revoked" => Kind::KeyRevoked {
                kid: Kid(fields.fixed_bytes::<32>("key")?),
                reason: fields.line("reason")?,
            },
            "parties-proposed" => {
                let proposal = fields.id("proposal")?;
                let Some(v) = fields.take("add") else {
                    return Err(fields.missing("add"));
                };
                let add = new_parties(v)?;
                let Some(v) = fields.take("remove") else {
                    return Err(fields.missing("remove"));
                };
                let remove = party_list("remove", v)?;
                Kind::PartiesProposed {
                    proposal,
                    add,
                    remove,
                }
            }
            "parties-approved" => Kind::PartiesApproved {
                proposal: fields.id("proposal")?,
                sha256: EventHash(fields.fixed_bytes::<32>("sha256")?),
            },
            other => return Err(FormatError::UnknownKind(other.chars().take(64).collect())),
        };
        fields.finish()?;
        Ok(Body {
            version,
            ledger,
            seq,
            prev,
            time,
            author,
            kind,
        })
    }
}

/// FORMAT §5.4: an array of party ids, sorted bytewise, no duplicates, at
/// most 64 (`signatories`, `remove`).
fn party_list(field: &'static str, v: Value) -> Result<Vec<PartyId>, FormatError> {
    let Value::Array(items) = v else {
        return Err(wrong_type(field, "an array", &v));
    };
    if items.len() > MAX_PARTIES {
        return Err(invalid(field, "too many entries"));
    }
    let mut out: Vec<PartyId> = Vec::with_capacity(items.len());
    for item in items {
        let Value::Text(s) = item else {
            return Err(wrong_type(field, "an array of text", &item));
        };
        let p = PartyId::new(&s).map_err(|e| rename(e, field))?;
        if out.last().is_some_and(|last| *last >= p) {
            return Err(invalid(field, "must be sorted and without duplicates"));
        }
        out.push(p);
    }
    Ok(out)
}

/// FORMAT §5.4: `add`, a map of 0 to 64 party ids to `{"key": bstr .size
/// 32, "proof": bstr .size 64}`, nothing else in an entry.
fn new_parties(v: Value) -> Result<BTreeMap<PartyId, NewParty>, FormatError> {
    let Value::Map(entries) = v else {
        return Err(wrong_type("add", "a map", &v));
    };
    if entries.len() > MAX_PARTIES {
        return Err(invalid("add", "too many entries"));
    }
    let mut out = BTreeMap::new();
    for (k, v) in entries {
        let Value::Text(id) = k else {
            return Err(wrong_type("add", "text keys", &k));
        };
        let id = PartyId::new(&id).map_err(|e| rename(e, "add"))?;
        let Value::Map(fields) = v else {
            return Err(wrong_type("add", "a map for each party", &v));
        };
        let (mut key, mut proof) = (None, None);
        for (name, value) in fields {
            match &name {
                Value::Text(n) if n == "key" => key = Some(as_fixed_bytes::<32>("add", value)?),
                Value::Text(n) if n == "proof" => proof = Some(as_fixed_bytes::<64>("add", value)?),
                other => {
                    return Err(invalid(
                        "add",
                        format!(
                            "the entry of {id:?} may hold only \"key\" and \"proof\", found {}",
                            describe_key(other)
                        ),
                    ))
                }
            }
        }
        let (Some(key), Some(proof)) = (key, proof) else {
            return Err(invalid(
                "add",
                format!("the entry of {id:?} must hold \"key\" and \"proof\""),
            ));
        };
        out.insert(id, NewParty { key, proof });
    }
    Ok(out)
}

fn rename(e: FormatError, field: &str) -> FormatError {
    match e {
        FormatError::Invalid { reason, .. } => invalid(field, reason),
        other => other,
    }
}

/// The fields of a body map, consumed one by one; what is left at the end
/// must be annotations (FORMAT §5.3).
struct Fields {
    map: BTreeMap<String, Value>,
    kind: String,
}

impl Fields {
    fn new(entries: Vec<(Value, Value)>) -> Result<Self, FormatError> {
        let mut map = BTreeMap::new();
        for (k, v) in entries {
            let Value::Text(k) = k else {
                return Err(FormatError::Envelope(format!(
                    "body keys must be text, found {}",
                    type_name(&k)
                )));
            };
            // Duplicates were rejected by the deterministic-encoding check.
            map.insert(k, v);
        }
        Ok(Fields {
            map,
            kind: "unknown".into(),
        })
    }

    fn take(&mut self, name: &str) -> Option<Value> {
        self.map.remove(name)
    }

    fn missing(&self, field: &'static str) -> FormatError {
        FormatError::Missing {
            field,
            kind: self.kind.clone(),
        }
    }

    fn req(&mut self, name: &'static str) -> Result<Value, FormatError> {
        self.take(name).ok_or_else(|| self.missing(name))
    }

    fn uint(&mut self, name: &'static str) -> Result<u64, FormatError> {
        match self.req(name)? {
            Value::Integer(i) => u64::try_from(i)
                .map_err(|_| invalid(name, "expected an unsigned integer, found a negative one")),
            v => Err(wrong_type(name, "an unsigned integer", &v)),
        }
    }

    fn text_any(&mut self, name: &'static str) -> Result<String, FormatError> {
        match self.req(name)? {
            Value::Text(s) => Ok(s),
            v => Err(wrong_type(name, "a text string", &v)),
        }
    }

    fn line(&mut self, name: &'static str) -> Result<String, FormatError> {
        let s = self.text_any(name)?;
        check_line(name, &s)?;
        Ok(s)
    }

    fn text(&mut self, name: &'static str) -> Result<String, FormatError> {
        let s = self.text_any(name)?;
        check_text(name, &s)?;
        Ok(s)
    }

    fn opt_line(&mut self, name: &'static str) -> Result<Option<String>, FormatError> {
        if self.map.contains_key(name) {
            self.line(name).map(Some)
        } else {
            Ok(None)
        }
    }

    fn opt_text(&mut self, name: &'static str) -> Result<Option<String>, FormatError> {
        if self.map.contains_key(name) {
            self.text(name).map(Some)
        } else {
            Ok(None)
        }
    }

    fn id<T: std::str::FromStr<Err = FormatError>>(
        &mut self,
        name: &'static str,
    ) -> Result<T, FormatError> {
        let s = self.text_any(name)?;
        s.parse::<T>().map_err(|e| rename(e, name))
    }

    fn fixed_bytes<const N: usize>(&mut self, name: &'static str) -> Result<[u8; N], FormatError> {
        let v = self.req(name)?;
        as_fixed_bytes::<N>(name, v)
    }

    fn finish(self) -> Result<(), FormatError> {
        match self.map.into_keys().find(|k| !k.starts_with('_')) {
            Some(field) => Err(FormatError::UnknownField {
                field: field.chars().take(64).collect(),
                kind: self.kind,
            }),
            None => Ok(()),
        }
    }
}

fn as_fixed_bytes<const N: usize>(name: &str, v: Value) -> Result<[u8; N], FormatError> {
    match v {
        Value::Bytes(b) => <[u8; N]>::try_from(b.as_slice())
            .map_err(|_| invalid(name, format!("expected {N} bytes, found {}", b.len()))),
        v => Err(wrong_type(name, "a byte string", &v)),
    }
}

fn wrong_type(field: &str, expected: &'static str, found: &Value) -> FormatError {
    FormatError::FieldType {
        field: field.to_owned(),
        expected,
        found: type_name(found),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Integer(_) => "an integer",
        Value::Bytes(_) => "a byte string",
        Value::Float(_) => "a float",
        Value::Text(_) => "a text string",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
        Value::Tag(..) => "a tag",
        Value::Array(_) => "an array",
        Value::Map(_) => "a map",
        _ => "an unknown CBOR item",
    }
}

/// A decoded, not yet verified, event: its envelope, its body, and what
/// replay needs to know about its stored bytes.
#[derive(Clone, Debug)]
pub struct Event {
    pub body: Body,
    /// SHA-256 of the signer's public key (FORMAT §5.1).
    pub kid: [u8; 32],
    pub signature: [u8; 64],
    protected: Vec<u8>,
    payload: Vec<u8>,
    hash: EventHash,
    /// RFC 6962 leaf hash of the stored bytes (FORMAT §12).
    leaf: crate::tlog::merkle::Hash,
    len: usize,
}

impl Event {
    /// Decodes exactly one event; trailing bytes are an error. Read by
    /// [`schema::event`] from the stored bytes; a refusal is explained by
    /// [`reference::event`], whose verdict it is.
    pub fn decode(stored: &[u8]) -> Result<Event, FormatError> {
        match schema::event(stored) {
            Some(event) => Ok(event),
            None => reference::event(stored),
        }
    }

    /// Builds an event from a signed payload. The result is decoded again
    /// from its own bytes, so a writer never stores what a reader rejects.
    pub fn assemble(
        kid: [u8; 32],
        payload: Vec<u8>,
        signature: [u8; 64],
    ) -> Result<(Event, Vec<u8>), FormatError> {
        let protected = protected_header(&kid);
        let stored = encode_value(Value::Tag(
            COSE_SIGN1_TAG,
            Box::new(Value::Array(vec![
                Value::Bytes(protected),
                Value::Map(vec![]),
                Value::Bytes(payload),
                bytes(&signature),
            ])),
        ));
        let event = Event::decode(&stored)?;
        Ok((event, stored))
    }

    /// Signs `body` with `key` and returns the event with its stored bytes:
    /// the one way to sign an event (FORMAT §5.1-§5.2), used by the writer.
    /// `key` is any [`Signer`]: a key file's key, or a key an agent holds,
    /// whose answer is held to the same check as our own signature.
    ///
    /// The kid is SHA-256 of the signer's public key; the signature covers the
    /// Sig_structure of the protected header and payload exactly as they
    /// are stored; the stored bytes are decoded again (as
    /// [`Event::assemble`] does) and, as minisign's `sign()` does, the
    /// signature is verified strictly under the key's public key before
    /// the event is returned, so a fault never reaches a caller's disk.
    ///
    /// Signing does not check the agreement's rules (FORMAT §6): the
    /// writer replays the event before storing it.
    ///
    /// ```
    /// use ledger::core::format::{Body, Event, Kind, LedgerId, PartyId, FORMAT_VERSION};
    /// use ledger::base::{crypto::SigningKey, time::Timestamp};
    ///
    /// let key = SigningKey::generate();
    /// let body = Body {
    ///     version: FORMAT_VERSION,
    ///     ledger: LedgerId([7; 16]),
    ///     seq: 0,
    ///     prev: None,
    ///     time: Timestamp::parse("2017-06-13T09:00:00+08:00").unwrap(),
    ///     author: PartyId::new("most").unwrap(),
    ///     kind: Kind::LedgerCreated {
    ///         title: "Innovation Dialogue".into(),
    ///         parties: [(PartyId::new("most").unwrap(), key.public().to_bytes())].into(),
    ///     },
    /// };
    /// let (event, stored) = Event::sign(&key, &body).unwrap();
    /// assert_eq!(event.body, body);
    /// assert_eq!(Event::decode(&stored).unwrap().hash(), event.hash());
    /// ```
    pub fn sign(key: &dyn Signer, body: &Body) -> Result<(Event, Vec<u8>), SignError> {
        let public = key.public_key();
        let kid = public.kid();
        let payload = body.encode();
        // Each field's own limit first: a 70,000-byte title is over the
        // 1,024 bytes of a line (FORMAT §5.4), which says more than that
        // the event is too large.
        Body::decode(&payload)?;
        let signature = key.try_sign(&sig_structure(&protected_header(&kid), &payload))?;
        let (event, stored) = Event::assemble(kid, payload, signature).map_err(|e| match e {
            FormatError::TooLarge => FormatError::EventTooLarge {
                size: signed_len(&kid, body),
            },
            other => other,
        })?;
        if !public.verify_strict(&event.to_be_signed(), &event.signature) {
            return Err(SignError::SelfCheck);
        }
        Ok((event, stored))
    }

    /// The event `body` would make once signed by the key `kid` names,
    /// with 64 zero bytes in place of the signature that is yet to be made
    /// (they change neither its size nor any rule of FORMAT §6): its
    /// fields and size checked as [`Event::sign`] checks them. For checking
    /// a sign request's event before an offline signer signs it (FORMAT
    /// §20.1); never stored, and replay refuses its signature.
    pub fn unsigned(kid: [u8; 32], body: &Body) -> Result<Event, FormatError> {
        let payload = body.encode();
        Body::decode(&payload)?;
        match Event::assemble(kid, payload, [0; 64]) {
            Ok((event, _)) => Ok(event),
            Err(FormatError::TooLarge) => Err(FormatError::EventTooLarge {
                size: signed_len(&kid, body),
            }),
            Err(other) => Err(other),
        }
    }

    fn from_value(value: Value, stored: &[u8]) -> Result<Event, FormatError> {
        let env = |s: &str| FormatError::Envelope(s.to_owned());
        let Value::Tag(COSE_SIGN1_TAG, inner) = value else {
            return Err(env(
                "expected a COSE_Sign1 message: tag 18 and an array of 4",
            ));
        };
        let Value::Array(items) = *inner else {
            return Err(env("expected an array of 4 after tag 18"));
        };
        let Ok([protected, unprotected, payload, signature]) = <[Value; 4]>::try_from(items) else {
            return Err(env("expected an array of exactly 4 items"));
        };
        let Value::Bytes(protected) = protected else {
            return Err(env("the protected header must be a byte string"));
        };
        let kid = parse_protected(&protected)?;
        if unprotected != Value::Map(vec![]) {
            return Err(env("the unprotected header must be an empty map"));
        }
        let Value::Bytes(payload) = payload else {
            return Err(env("the payload must be an attached byte string"));
        };
        let Value::Bytes(signature) = signature else {
            return Err(env("the signature must be a byte string"));
        };
        let signature = <[u8; 64]>::try_from(signature.as_slice()).map_err(|_| {
            FormatError::Envelope(format!(
                "the signature must be 64 bytes, found {}",
                signature.len()
            ))
        })?;
        let body = Body::decode_reference(&payload)?;
        Ok(Event {
            body,
            kid,
            signature,
            protected,
            payload,
            hash: EventHash::of(stored),
            leaf: crate::tlog::merkle::leaf_hash(stored),
            len: stored.len(),
        })
    }

    /// The bytes the signature covers: the COSE Sig_structure (FORMAT §5.2).
    pub fn to_be_signed(&self) -> Vec<u8> {
        sig_structure(&self.protected, &self.payload)
    }

    /// SHA-256 of the stored bytes.
    pub fn hash(&self) -> EventHash {
        self.hash
    }

    /// The event's leaf hash in the ledger's Merkle tree: SHA-256 of 0x00
    /// and the stored bytes (FORMAT §12).
    pub fn leaf_hash(&self) -> crate::tlog::merkle::Hash {
        self.leaf
    }

    /// Length of the stored bytes.
    pub fn stored_len(&self) -> usize {
        self.len
    }

    /// The payload bytes exactly as stored.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
}

/// The stored length of the event signing `body` with key id `kid` would
/// make (the signature's bytes do not change it).
fn signed_len(kid: &[u8; 32], body: &Body) -> usize {
    encode_value(Value::Tag(
        COSE_SIGN1_TAG,
        Box::new(Value::Array(vec![
            Value::Bytes(protected_header(kid)),
            Value::Map(vec![]),
            Value::Bytes(body.encode()),
            bytes(&[0; 64]),
        ])),
    ))
    .len()
}

/// FORMAT §5.1: `{1: -8, 4: kid}`, deterministically encoded.
pub fn protected_header(kid: &[u8; 32]) -> Vec<u8> {
    encode_value(Value::Map(vec![
        (Value::Integer(1.into()), Value::Integer(ALG_EDDSA.into())),
        (Value::Integer(4.into()), bytes(kid)),
    ]))
}

fn parse_protected(protected: &[u8]) -> Result<[u8; 32], FormatError> {
    let value = decode_exact(protected, "the protected header")?;
    let env = |s: String| FormatError::Envelope(s);
    let Value::Map(entries) = value else {
        return Err(env("the protected header must be a map".into()));
    };
    let mut alg = None;
    let mut kid = None;
    for (k, v) in entries {
        match (k, v) {
            (Value::Integer(l), v) if l == Integer::from(1) => alg = Some(v),
            (Value::Integer(l), Value::Bytes(b)) if l == Integer::from(4) => kid = Some(b),
            (k, _) => {
                return Err(env(format!(
                    "the protected header may hold only alg (1) and kid (4), found label {}",
                    describe_key(&k)
                )))
            }
        }
    }
    match alg {
        Some(Value::Integer(a)) if a == Integer::from(ALG_EDDSA) => {}
        Some(_) => return Err(env("alg must be EdDSA (-8)".into())),
        None => return Err(env("the protected header has no alg".into())),
    }
    let kid = kid.ok_or_else(|| env("the protected header has no kid".into()))?;
    <[u8; 32]>::try_from(kid.as_slice())
        .map_err(|_| env(format!("kid must be 32 bytes, found {}", kid.len())))
}

/// FORMAT §5.7: the message a new key signs to prove that its holder
/// agrees to become a key of `author` in this ledger, at this position:
/// `["ledger/v1/key-proof", ledger, seq, prev, author, key]`, encoded
/// deterministically. The writer signs it and replay checks it; binding
/// the ledger id, seq and prev means a proof can be used only once.
pub fn key_proof_message(
    ledger: &LedgerId,
    seq: u64,
    prev: &EventHash,
    author: &PartyId,
    key: &[u8; 32],
) -> Vec<u8> {
    encode_value(Value::Array(vec![
        text(KEY_PROOF_CONTEXT),
        bytes(&ledger.0),
        Value::Integer(seq.into()),
        bytes(&prev.0),
        text(author.as_str()),
        bytes(key),
    ]))
}

/// FORMAT §5.8: the message the key of a party joining the ledger signs to
/// prove that its holder agrees to become that party, at this position:
/// `["ledger/v1/party-proof", ledger, seq, prev, party, key]`, encoded
/// deterministically. Its own context string keeps it apart from a key
/// proof (§5.7) over the same values.
pub fn party_proof_message(
    ledger: &LedgerId,
    seq: u64,
    prev: &EventHash,
    party: &PartyId,
    key: &[u8; 32],
) -> Vec<u8> {
    encode_value(Value::Array(vec![
        text(PARTY_PROOF_CONTEXT),
        bytes(&ledger.0),
        Value::Integer(seq.into()),
        bytes(&prev.0),
        text(party.as_str()),
        bytes(key),
    ]))
}

/// FORMAT §5.2: `["Signature1", protected, external_aad, payload]`, built
/// directly into one buffer of its exact size (the heads are those
/// [`encode_value`] writes: a test holds them equal).
pub fn sig_structure(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    const CONTEXT: &[u8] = b"Signature1";
    let mut out = Vec::with_capacity(
        1 + 1 + CONTEXT.len() + 3 * 9 + protected.len() + EXTERNAL_AAD.len() + payload.len(),
    );
    out.push(0x84);
    push_head(&mut out, 3, CONTEXT.len());
    out.extend_from_slice(CONTEXT);
    for b in [protected, EXTERNAL_AAD, payload] {
        push_head(&mut out, 2, b.len());
        out.extend_from_slice(b);
    }
    out
}

/// A CBOR head of major type `major` and argument `n`, shortest form.
fn push_head(out: &mut Vec<u8>, major: u8, n: usize) {
    let n = n as u64;
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xff => out.extend_from_slice(&[m | 24, n as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(m | 26);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
        _ => {
            out.push(m | 27);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

/// Encodes a value deterministically: maps sorted by encoded key.
pub fn encode_value(value: Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Serialising a Value into a Vec has no failure mode (no I/O, no
    // unsupported types), so an error here would be a bug in ciborium.
    ciborium::ser::into_writer(&sort_maps(value), &mut out).expect("CBOR encoding into a Vec");
    out
}

fn sort_maps(value: Value) -> Value {
    match value {
        Value::Map(entries) => {
            let mut keyed: Vec<(Vec<u8>, Value, Value)> = entries
                .into_iter()
                .map(|(k, v)| {
                    let k = sort_maps(k);
                    (encode_value(k.clone()), k, sort_maps(v))
                })
                .collect();
            keyed.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Map(keyed.into_iter().map(|(_, k, v)| (k, v)).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_maps).collect()),
        Value::Tag(t, inner) => Value::Tag(t, Box::new(sort_maps(*inner))),
        other => other,
    }
}

/// Decodes one item that must fill `input` exactly.
fn decode_exact(input: &[u8], what: &'static str) -> Result<Value, FormatError> {
    let mut rd = input;
    // The item is inside a byte string of a complete event: running out of
    // bytes here is a malformed event, never a torn tail of the log.
    let value: Value =
        ciborium::de::from_reader(&mut rd).map_err(|e| match cbor_error(e, what) {
            FormatError::Truncated if input.is_empty() => {
                FormatError::Envelope(format!("{what} is empty"))
            }
            FormatError::Truncated => {
                FormatError::Envelope(format!("{what} ends inside a CBOR item"))
            }
            other => other,
        })?;
    if !rd.is_empty() {
        return Err(FormatError::Envelope(format!(
            "{} bytes follow {what}",
            rd.len()
        )));
    }
    check_strict(&value, input, what, false)?;
    Ok(value)
}

fn cbor_error(e: ciborium::de::Error<std::io::Error>, what: &str) -> FormatError {
    match e {
        ciborium::de::Error::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            FormatError::Truncated
        }
        ciborium::de::Error::Io(e) => FormatError::Cbor(format!("{what}: {e}")),
        ciborium::de::Error::Syntax(off) => {
            FormatError::Cbor(format!("{what}: syntax error at byte {off}"))
        }
        ciborium::de::Error::Semantic(_, msg) => FormatError::Cbor(format!("{what}: {msg}")),
        ciborium::de::Error::RecursionLimitExceeded => {
            FormatError::Cbor(format!("{what}: nested too deeply"))
        }
    }
}

/// FORMAT §4: allowed types only, maps sorted with unique keys, and the
/// bytes are the deterministic encoding of the value.
fn check_strict(
    value: &Value,
    input: &[u8],
    what: &'static str,
    allow_tag: bool,
) -> Result<(), FormatError> {
    check_types(value, what, allow_tag)?;
    if encode_value(value.clone()) != input {
        return Err(FormatError::NotDeterministic { what });
    }
    Ok(())
}

/// FORMAT §4: the deepest an item may be nested.
pub const MAX_DEPTH: usize = 16;

fn check_types(value: &Value, what: &'static str, allow_tag: bool) -> Result<(), FormatError> {
    check_types_at(value, what, allow_tag, 0)
}

fn check_types_at(
    value: &Value,
    what: &'static str,
    allow_tag: bool,
    depth: usize,
) -> Result<(), FormatError> {
    let forbidden = |found| Err(FormatError::ForbiddenType { what, found });
    if depth > MAX_DEPTH {
        return forbidden("data item nested more than 16 deep");
    }
    let check_types = |v: &Value, what, allow_tag| check_types_at(v, what, allow_tag, depth + 1);
    match value {
        Value::Integer(_) | Value::Bytes(_) | Value::Text(_) => Ok(()),
        Value::Float(_) => forbidden("float"),
        Value::Bool(_) => forbidden("boolean"),
        Value::Null => forbidden("null or undefined"),
        Value::Tag(COSE_SIGN1_TAG, inner) if allow_tag => check_types(inner, what, false),
        Value::Tag(..) => forbidden("tag"),
        Value::Array(items) => items.iter().try_for_each(|v| check_types(v, what, false)),
        Value::Map(entries) => {
            let mut last: Option<Vec<u8>> = None;
            for (k, v) in entries {
                // Only integer and text keys: that is all the format uses,
                // and it keeps the key-order check linear (a map used as a
                // key would be re-encoded at every level of nesting).
                if !matches!(k, Value::Integer(_) | Value::Text(_)) {
                    return forbidden("map key that is not an integer or text string");
                }
                check_types(v, what, false)?;
                let enc = encode_value(k.clone());
                if let Some(prev) = &last {
                    match prev.cmp(&enc) {
                        std::cmp::Ordering::Less => {}
                        std::cmp::Ordering::Equal => {
                            return Err(FormatError::DuplicateKey {
                                what,
                                key: describe_key(k),
                            })
                        }
                        std::cmp::Ordering::Greater => {
                            return Err(FormatError::UnsortedKeys {
                                what,
                                key: describe_key(k),
                            })
                        }
                    }
                }
                last = Some(enc);
            }
            Ok(())
        }
        _ => forbidden("simple value"),
    }
}

fn describe_key(k: &Value) -> String {
    match k {
        Value::Text(s) => format!("{:?}", s.chars().take(64).collect::<String>()),
        Value::Integer(i) => format!("{}", i128::from(*i)),
        other => type_name(other).to_owned(),
    }
}

/// Decodes exactly one item that is not an event (a proof bundle, FORMAT
/// §14) under the same strict rules as events: deterministic encoding,
/// sorted unique keys, no trailing bytes.
pub(crate) fn decode_strict(input: &[u8], what: &'static str) -> Result<Value, FormatError> {
    let mut rd = input;
    let value: Value = ciborium::de::from_reader(&mut rd).map_err(|e| cbor_error(e, what))?;
    if !rd.is_empty() {
        return Err(FormatError::Trailing(rd.len()));
    }
    check_strict(&value, input, what, true)?;
    Ok(value)
}

/// Reads the next item of a CBOR sequence without decoding more than one
/// event's worth: returns the item and the bytes it occupies.
fn read_item(input: &[u8]) -> Result<(Value, usize), FormatError> {
    let window = &input[..input.len().min(MAX_EVENT_BYTES)];
    let mut rd = window;
    let value: Value = match ciborium::de::from_reader(&mut rd) {
        Ok(v) => v,
        Err(e) => {
            let e = cbor_error(e, "the event");
            if e == FormatError::Truncated && window.len() < input.len() {
                return Err(FormatError::TooLarge);
            }
            return Err(e);
        }
    };
    let used = window.len() - rd.len();
    check_strict(&value, &window[..used], "the event", true)?;
    Ok((value, used))
}

/// How far the first item of a buffer extends, found from the CBOR heads
/// alone (no decoding), so that whole events can be handed to other
/// threads. Only framing: every item is then decoded strictly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// The first item is complete and this many bytes long.
    Item(usize),
    /// The buffer ends inside the first item.
    NeedMore,
    /// Not something the fast path frames (indefinite length, reserved
    /// values, deep nesting): leave it to the strict reader to explain.
    Unframeable,
}

/// Frames the first item of `buf` (see [`Frame`]).
pub fn frame(buf: &[u8]) -> Frame {
    match skip_item(buf, 0, 0) {
        Ok(end) => Frame::Item(end),
        Err(f) => f,
    }
}

fn skip_item(buf: &[u8], pos: usize, depth: u32) -> Result<usize, Frame> {
    // Events nest four deep at most; anything deeper is invalid anyway.
    if depth > 16 {
        return Err(Frame::Unframeable);
    }
    let head = *buf.get(pos).ok_or(Frame::NeedMore)?;
    let (major, info) = (head >> 5, head & 0x1f);
    let width = match info {
        0..=23 => 0,
        24 => 1,
        25 => 2,
        26 => 4,
        27 => 8,
        _ => return Err(Frame::Unframeable),
    };
    let start = pos + 1;
    let arg_bytes = buf.get(start..start + width).ok_or(Frame::NeedMore)?;
    let arg = if width == 0 {
        u64::from(info)
    } else {
        arg_bytes.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b))
    };
    let mut p = start + width;
    let need = |n: u64| -> Result<usize, Frame> {
        let n = usize::try_from(n).map_err(|_| Frame::NeedMore)?;
        let end = p.checked_add(n).ok_or(Frame::NeedMore)?;
        if end > buf.len() {
            Err(Frame::NeedMore)
        } else {
            Ok(end)
        }
    };
    match major {
        0 | 1 | 7 => Ok(p),
        2 | 3 => need(arg),
        4 | 5 => {
            let items = if major == 5 {
                arg.saturating_mul(2)
            } else {
                arg
            };
            // Every item takes at least one byte, so this loop ends when
            // the buffer does, whatever the count claims.
            for _ in 0..items {
                p = skip_item(buf, p, depth + 1)?;
            }
            Ok(p)
        }
        _ => skip_item(buf, p, depth + 1),
    }
}

/// Reads events one at a time from a CBOR sequence (FORMAT §3), keeping at
/// most one event in memory.
pub struct LogReader<R> {
    inner: R,
    offset: u64,
    buf: Vec<u8>,
}

/// One event read from the log, with where it starts.
pub struct Item {
    pub offset: u64,
    pub event: Event,
}

/// A read failure, with the offset of the event it concerns.
#[derive(Debug)]
pub enum ReadError {
    Io(std::io::Error),
    Format { offset: u64, error: FormatError },
}

impl<R: BufRead> LogReader<R> {
    pub fn new(inner: R) -> Self {
        Self::at(inner, 0)
    }

    /// A reader whose input starts at byte `offset` of the log.
    pub fn at(inner: R, offset: u64) -> Self {
        LogReader {
            inner,
            offset,
            buf: Vec::new(),
        }
    }

    /// Offset of the next event (the end of the last one read).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next event, `None` at a clean end of the log.
    pub fn next_event(&mut self) -> Result<Option<Item>, ReadError> {
        if self.inner.fill_buf().map_err(ReadError::Io)?.is_empty() {
            return Ok(None);
        }
        let offset = self.offset;
        let fail = |error| ReadError::Format { offset, error };
        self.buf.clear();
        let mut tee = Tee {
            inner: &mut self.inner,
            copy: &mut self.buf,
        };
        let value: Result<Value, _> = ciborium::de::from_reader(&mut tee);
        let value = match value {
            Ok(v) => v,
            Err(e) => {
                let e = match cbor_error(e, "the event") {
                    FormatError::Cbor(m) if self.buf.len() > MAX_EVENT_BYTES => {
                        let _ = m;
                        FormatError::TooLarge
                    }
                    other => other,
                };
                return Err(fail(e));
            }
        };
        if self.buf.len() > MAX_EVENT_BYTES {
            return Err(fail(FormatError::TooLarge));
        }
        check_strict(&value, &self.buf, "the event", true).map_err(fail)?;
        let event = Event::from_value(value, &self.buf).map_err(fail)?;
        self.offset += self.buf.len() as u64;
        Ok(Some(Item { offset, event }))
    }

    /// The stored bytes of the event last returned by `next_event`.
    pub fn last_bytes(&self) -> &[u8] {
        &self.buf
    }
}

/// Copies what ciborium reads, so that the exact stored bytes are kept, and
/// stops one event's worth past the size limit.
struct Tee<'a, R> {
    inner: &'a mut R,
    copy: &'a mut Vec<u8>,
}

impl<R: BufRead> std::io::Read for Tee<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if self.copy.len() > MAX_EVENT_BYTES {
            return Err(std::io::Error::other("event larger than the size limit"));
        }
        let n = self.inner.read(out)?;
        self.copy.extend_from_slice(&out[..n]);
        Ok(n)
    }
}
