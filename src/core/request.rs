//! The two files of air-gapped signing (FORMAT §20): a *sign request*,
//! which the networked machine writes (`ledger sign-request`) and an
//! offline signer reads (`ledger sign-offline`), and a *signed event*,
//! which the signer writes and the networked machine attaches (`ledger
//! attach`). This module owns their bytes, encoding and strict decoding
//! side by side; it neither signs, nor reads or writes files, nor decides
//! whether an event may be appended (the writer and replay do, as for any
//! append).
//!
//! Both files come from outside and are decoded as hostile: one bounded
//! input, deterministic CBOR with nothing before, after or beside the
//! items the format names, a domain string first so that neither file can
//! be taken for the other or for an event, and a request's own SHA-256
//! digest last, so that a changed byte anywhere is refused. The digest
//! detects damage, not a forger who recomputes it: a person compares the
//! request's hash ([`request_hash`]) that both commands print, and reads
//! the summary of what is signed before signing.

use ciborium::Value;
use sha2::{Digest, Sha256};

use crate::base::crypto::PublicKey;
use crate::core::format::{
    decode_strict, encode_value, protected_header, sig_structure, Body, DocHash, Event,
    FormatError, Kind, MAX_EVENT_BYTES,
};
use crate::core::store::MAX_DOCUMENT_BYTES;

/// The first item of a sign request (FORMAT §20.1).
pub const REQUEST_DOMAIN: &str = "ledger sign-request v1";
/// The first item of a signed event file (FORMAT §20.2).
pub const SIGNED_DOMAIN: &str = "ledger signed-event v1";
/// The largest sign request (FORMAT §20.1): one document version at its
/// largest, and room for the event and the framing.
pub const MAX_REQUEST_BYTES: u64 = MAX_DOCUMENT_BYTES + (1 << 20);
/// The largest signed event file (FORMAT §20.2): its request, one event,
/// and their framing.
pub const MAX_SIGNED_BYTES: u64 = MAX_REQUEST_BYTES + MAX_EVENT_BYTES as u64 + 64;

/// The digest's own encoding at the end of a request: a 32-byte string.
const DIGEST_ITEM: usize = 2 + 32;

/// Why a request or signed file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    #[error("{what} is larger than the {max} bytes it may have (FORMAT §20)")]
    TooLarge { what: &'static str, max: u64 },
    #[error("{what}: {source}")]
    Format {
        what: &'static str,
        source: FormatError,
    },
    #[error("this is not {what} (FORMAT §20): {reason}")]
    Shape { what: &'static str, reason: String },
    #[error("the sign request was changed or damaged: its digest does not match its bytes (FORMAT §20.1); make a new request with `ledger sign-request`")]
    Digest,
    #[error("the sign request's document does not match its event: {reason} (FORMAT §20.1)")]
    Document { reason: String },
    #[error("the signed event does not match its request: {reason} (FORMAT §20.2)")]
    Mismatch { reason: String },
    #[error("the signed event's signature does not verify under the requested key {fingerprint} (FORMAT §5.2)")]
    BadSignature {
        fingerprint: crate::base::crypto::Fingerprint,
    },
}

/// What an offline signer is asked to sign: the exact payload (an event
/// body, FORMAT §5.3, which names the ledger, the position and the hash of
/// the event it builds on), the key that is to sign it, and the bytes of
/// the document version the event drafts, amends, approves or signs.
#[derive(Debug, Clone)]
pub struct Request {
    key: PublicKey,
    body: Body,
    payload: Vec<u8>,
    document: Option<Vec<u8>>,
}

/// The document hash an event names, if it names one.
fn named_document(kind: &Kind) -> Option<DocHash> {
    match kind {
        Kind::DocumentDrafted { sha256, .. }
        | Kind::DocumentAmended { sha256, .. }
        | Kind::DocumentApproved { sha256, .. }
        | Kind::DocumentSigned { sha256, .. } => Some(*sha256),
        _ => None,
    }
}

fn check_document(body: &Body, document: Option<&[u8]>) -> Result<(), RequestError> {
    let bad = |reason: String| Err(RequestError::Document { reason });
    match (named_document(&body.kind), document) {
        (None, None) => Ok(()),
        (None, Some(_)) => bad(format!(
            "a {} event names no document, but the request carries one",
            body.kind.name()
        )),
        (Some(h), None) => bad(format!("the event names version {h}, which is not carried")),
        (Some(_), Some(d)) if d.len() as u64 > MAX_DOCUMENT_BYTES => bad(format!(
            "the document is larger than {MAX_DOCUMENT_BYTES} bytes"
        )),
        (Some(h), Some(d)) if DocHash::of(d) != h => bad(format!(
            "the event names version {h}, the bytes carried hash to {}",
            DocHash::of(d)
        )),
        _ => Ok(()),
    }
}

/// The event the request asks for fits an event's limits (FORMAT §5,
/// §5.4), as [`Event::sign`] will require: refused before anyone signs.
fn within_limits(key: &PublicKey, body: &Body) -> Result<(), RequestError> {
    Event::unsigned(key.kid(), body).map_err(|source| RequestError::Format {
        what: "the requested event",
        source,
    })?;
    Ok(())
}

impl Request {
    /// A request for `key` to sign `body`, carrying `document`, which must
    /// be the version the event names (and none for an event naming none).
    pub fn new(
        key: PublicKey,
        body: Body,
        document: Option<Vec<u8>>,
    ) -> Result<Self, RequestError> {
        check_document(&body, document.as_deref())?;
        within_limits(&key, &body)?;
        let payload = body.encode();
        Ok(Request {
            key,
            body,
            payload,
            document,
        })
    }

    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    pub fn body(&self) -> &Body {
        &self.body
    }

    /// The payload the event will store, exactly: the deterministic
    /// encoding of [`Request::body`] (FORMAT §5.3).
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The exact bytes the signature covers (FORMAT §5.2, §20.1): the
    /// Sig_structure of the protected header naming the requested key and
    /// of the payload, built by the code that builds every event's.
    pub fn to_be_signed(&self) -> Vec<u8> {
        sig_structure(&protected_header(&self.key.kid()), &self.payload)
    }

    pub fn document(&self) -> Option<&[u8]> {
        self.document.as_deref()
    }

    /// FORMAT §20.1: `[domain, key, payload, [document?], digest]`, the
    /// digest being SHA-256 of every byte before its own encoding.
    pub fn encode(&self) -> Vec<u8> {
        let docs = self
            .document
            .iter()
            .map(|d| Value::Bytes(d.clone()))
            .collect();
        let mut out = encode_value(Value::Array(vec![
            Value::Text(REQUEST_DOMAIN.into()),
            Value::Bytes(self.key.to_bytes().to_vec()),
            Value::Bytes(self.payload.clone()),
            Value::Array(docs),
            Value::Bytes(vec![0; 32]),
        ]));
        let at = out.len() - 32;
        let digest: [u8; 32] = Sha256::digest(&out[..at - 2]).into();
        out[at..].copy_from_slice(&digest);
        out
    }

    /// Decodes a request strictly (the module doc): the digest first, then
    /// the structure, the key (a valid point, FORMAT §5.6), the payload (a
    /// body that decodes, in its deterministic encoding) and the document.
    pub fn decode(bytes: &[u8]) -> Result<Self, RequestError> {
        const WHAT: &str = "a sign request";
        if bytes.len() as u64 > MAX_REQUEST_BYTES {
            return Err(RequestError::TooLarge {
                what: WHAT,
                max: MAX_REQUEST_BYTES,
            });
        }
        let shape = |reason: &str| RequestError::Shape {
            what: WHAT,
            reason: reason.to_owned(),
        };
        let value = decode_strict(bytes, WHAT)
            .map_err(|source| RequestError::Format { what: WHAT, source })?;
        let items = array::<5>(value).ok_or_else(|| shape("expected an array of 5 items"))?;
        let [domain, key, payload, docs, digest] = items;
        if domain != Value::Text(REQUEST_DOMAIN.into()) {
            return Err(shape(&format!("it does not begin with {REQUEST_DOMAIN:?}")));
        }
        // The digest is the last item, a 32-byte string: its encoding is
        // the last 34 bytes (the decoding above was deterministic).
        let Value::Bytes(digest) = digest else {
            return Err(shape("the digest must be a byte string"));
        };
        if digest.len() != 32 || bytes.len() < DIGEST_ITEM {
            return Err(shape("the digest must be 32 bytes"));
        }
        let expected: [u8; 32] = Sha256::digest(&bytes[..bytes.len() - DIGEST_ITEM]).into();
        if digest != expected {
            return Err(RequestError::Digest);
        }
        let key = match key {
            Value::Bytes(b) => {
                <[u8; 32]>::try_from(b.as_slice()).map_err(|_| shape("the key must be 32 bytes"))?
            }
            _ => return Err(shape("the key must be a byte string")),
        };
        let key =
            PublicKey::from_bytes(&key, "the request's key").map_err(|e| RequestError::Shape {
                what: WHAT,
                reason: e.to_string(),
            })?;
        let Value::Bytes(payload) = payload else {
            return Err(shape("the payload must be a byte string"));
        };
        let body = Body::decode(&payload).map_err(|source| RequestError::Format {
            what: "the request's payload",
            source,
        })?;
        if body.encode() != payload {
            return Err(RequestError::Format {
                what: "the request's payload",
                source: FormatError::NotDeterministic {
                    what: "the payload",
                },
            });
        }
        let Value::Array(docs) = docs else {
            return Err(shape("the documents must be an array"));
        };
        let document = match <[Value; 1]>::try_from(docs) {
            Ok([Value::Bytes(d)]) => Some(d),
            Ok(_) => return Err(shape("a document must be a byte string")),
            Err(docs) if docs.is_empty() => None,
            Err(_) => return Err(shape("a request carries at most one document")),
        };
        check_document(&body, document.as_deref())?;
        within_limits(&key, &body)?;
        Ok(Request {
            key,
            body,
            payload,
            document,
        })
    }
}

/// SHA-256 of a request file's bytes, in hex: what a person compares
/// between the networked machine and the offline one.
pub fn request_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A signed event and the request it answers (FORMAT §20.2).
#[derive(Debug)]
pub struct Signed {
    request: Request,
    request_bytes: Vec<u8>,
    event: Event,
    stored: Vec<u8>,
}

impl Signed {
    /// The signed file for `request` (its bytes as read) and the event
    /// made from it, checked as [`Signed::decode`] checks them.
    pub fn new(request_bytes: Vec<u8>, stored: Vec<u8>) -> Result<Self, RequestError> {
        let request = Request::decode(&request_bytes)?;
        let event = Event::decode(&stored).map_err(|source| RequestError::Format {
            what: "the signed event",
            source,
        })?;
        if event.payload() != request.payload() {
            return Err(RequestError::Mismatch {
                reason: "its payload is not the one requested".into(),
            });
        }
        if event.kid != request.key.kid() {
            return Err(RequestError::Mismatch {
                reason: format!(
                    "it is not signed by the requested key {}",
                    request.key.fingerprint()
                ),
            });
        }
        if !request
            .key
            .verify_strict(&event.to_be_signed(), &event.signature)
        {
            return Err(RequestError::BadSignature {
                fingerprint: request.key.fingerprint(),
            });
        }
        Ok(Signed {
            request,
            request_bytes,
            event,
            stored,
        })
    }

    /// FORMAT §20.2: `[domain, request, event]`.
    pub fn encode(&self) -> Vec<u8> {
        encode_value(Value::Array(vec![
            Value::Text(SIGNED_DOMAIN.into()),
            Value::Bytes(self.request_bytes.clone()),
            Value::Bytes(self.stored.clone()),
        ]))
    }

    /// Decodes a signed file strictly: its request as [`Request::decode`]
    /// does, and an event whose payload is the request's, signed by the
    /// requested key, whose signature verifies strictly.
    pub fn decode(bytes: &[u8]) -> Result<Self, RequestError> {
        const WHAT: &str = "a signed event file";
        if bytes.len() as u64 > MAX_SIGNED_BYTES {
            return Err(RequestError::TooLarge {
                what: WHAT,
                max: MAX_SIGNED_BYTES,
            });
        }
        let shape = |reason: &str| RequestError::Shape {
            what: WHAT,
            reason: reason.to_owned(),
        };
        let value = decode_strict(bytes, WHAT)
            .map_err(|source| RequestError::Format { what: WHAT, source })?;
        let items = array::<3>(value).ok_or_else(|| shape("expected an array of 3 items"))?;
        let [domain, request, stored] = items;
        if domain != Value::Text(SIGNED_DOMAIN.into()) {
            return Err(shape(&format!("it does not begin with {SIGNED_DOMAIN:?}")));
        }
        let (Value::Bytes(request), Value::Bytes(stored)) = (request, stored) else {
            return Err(shape("the request and the event must be byte strings"));
        };
        Signed::new(request, stored)
    }

    pub fn request(&self) -> &Request {
        &self.request
    }

    /// SHA-256 of the request's bytes ([`request_hash`]).
    pub fn request_hash(&self) -> String {
        request_hash(&self.request_bytes)
    }

    pub fn event(&self) -> &Event {
        &self.event
    }

    /// The event's bytes as they will be stored in the log.
    pub fn stored(&self) -> &[u8] {
        &self.stored
    }
}

fn array<const N: usize>(value: Value) -> Option<[Value; N]> {
    match value {
        Value::Array(items) => <[Value; N]>::try_from(items).ok(),
        _ => None,
    }
}
