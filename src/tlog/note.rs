//! C2SP signed notes, checkpoints and cosignatures: the text formats that a
//! transparency log and its witnesses exchange (docs/FORMAT.md, "Signed
//! notes"; c2sp.org/signed-note, c2sp.org/tlog-checkpoint,
//! c2sp.org/tlog-cosignature).
//!
//! This module owns the bytes of a note (strict parse, canonical encoding),
//! key IDs and verifier keys (`vkey`s, compatible with Go's
//! `golang.org/x/mod/sumdb/note`), Ed25519 note signatures (type 0x01),
//! Ed25519 `cosignature/v1` cosignatures (type 0x04), the checkpoint text,
//! the one checkpoint verifier ([`CosignedCheckpoint::verify`]: one of the
//! log's keys signed it, every known signature verifies, which witnesses
//! cosigned) and the one k-of-n witness quorum check
//! ([`CosignedCheckpoint::quorum`]). It never touches the disk (the
//! witness's state is [`crate::tlog::witness`]'s job) and never decides which keys
//! to trust: callers pass the verifiers.
//!
//! Parsing is stricter than the Go package where the spec leaves room (Base64
//! must be canonical, hex key IDs lowercase, every signature from a known key
//! is checked, not just the first), and never stricter where the spec
//! requires acceptance (at least 16 signatures, text with empty lines).

use std::fmt;
use std::str::FromStr;

use base64ct::{Base64, Encoding};
use sha2::{Digest, Sha256};

use crate::base::crypto::{KeyError, PublicKey, SigningKey};

/// The largest note accepted or produced, in bytes. signed-note asks for a
/// cap; 1 MiB holds a checkpoint with 100 post-quantum signatures.
pub const MAX_NOTE_BYTES: usize = 1 << 20;

/// The most signature lines in a note. signed-note requires accepting at
/// least 16; Go's `note.Open` refuses more than 100, and so do we.
pub const MAX_SIGNATURES: usize = 100;

/// Signature type byte of an Ed25519 note signature (signed-note).
pub const SIGTYPE_ED25519: u8 = 0x01;

/// Signature type byte of an Ed25519 `cosignature/v1` (tlog-cosignature).
pub const SIGTYPE_COSIGNATURE_V1: u8 = 0x04;

/// The largest cosignature timestamp: tlog-cosignature says it "MUST NOT
/// exceed 2^63 - 1".
pub const MAX_COSIGNATURE_TIME: u64 = i64::MAX as u64;

/// The separator between a signature line's dash and key name.
const SIG_PREFIX: &str = "\u{2014} ";

/// Why a note, signature, verifier key or checkpoint was refused. A plain
/// value (`Clone`, `Eq`), like the core's refutations, so that a ledger's
/// verdict can carry it as evidence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    #[error("a note may be at most {limit} bytes; found {found}")]
    TooLarge { limit: usize, found: usize },
    #[error("a note must be valid UTF-8; found an invalid byte at offset {offset}")]
    NotUtf8 { offset: usize },
    #[error("a note may contain no control character other than newline; found U+{code:04X} at offset {offset}")]
    ControlChar { offset: usize, code: u32 },
    #[error("expected a blank line between the note text and its signatures; found none")]
    NoSeparator,
    #[error("a note text must be non-empty and end in a newline")]
    BadText,
    #[error("expected at least one signature line after the blank line; found none")]
    NoSignatures,
    #[error("a note may carry at most {limit} signatures; found more")]
    TooManySignatures { limit: usize },
    #[error("signature line {line}: expected \"\u{2014} <name> <base64>\\n\"; {reason}")]
    BadSignatureLine { line: usize, reason: String },
    #[error("the signature by {name} is empty; expected at least one byte after the key ID")]
    EmptySignature { name: String },
    #[error(
        "key name {name:?}: expected a non-empty name with no spaces, '+' or control characters"
    )]
    BadName { name: String },
    #[error("{what}: expected canonical padded standard Base64; found {found:?}")]
    BadBase64 { what: &'static str, found: String },
    #[error("verifier key {vkey:?}: expected <name>+<8 lowercase hex digits>+<base64(type || key)>; {reason}")]
    BadVkey { vkey: String, reason: String },
    #[error("verifier key for {name:?}: the key ID is {found:08x}, but the name and key give {expected:08x}")]
    VkeyIdMismatch {
        name: String,
        expected: u32,
        found: u32,
    },
    #[error("signature type 0x{found:02x} is not supported; expected 0x01 (Ed25519) or 0x04 (cosignature/v1)")]
    UnsupportedType { found: u8 },
    /// The key bytes are not an Ed25519 public key of large order (`weak`:
    /// a small-order key, which anyone can sign for); the message is
    /// [`KeyError`]'s.
    #[error("verifier key for {name:?}: {}", key_error(name, *.weak))]
    BadKey { name: String, weak: bool },
    #[error("two different verifier keys share the name {name:?} and key ID {key_id:08x}")]
    AmbiguousVerifier { name: String, key_id: u32 },
    #[error("the signature by known key {name}+{key_id:08x} does not verify: {reason}")]
    BadSignature {
        name: String,
        key_id: u32,
        reason: &'static str,
    },
    #[error("expected a signature by one of {known} known key(s); found none among the note's {found} signature(s)")]
    NoVerifiedSignature { known: usize, found: usize },
    #[error("cosignature timestamp must be at most 2^63-1; found {found}")]
    TimestampTooLarge { found: u64 },
    #[error("a new signature by {name} did not verify with its own public key")]
    SelfCheck { name: String },
    #[error("checkpoint line {line}: {reason}")]
    BadCheckpoint { line: usize, reason: String },
    #[error("the checkpoint's origin is {origin:?}, but the log key is named {key_name:?}")]
    OriginMismatch { origin: String, key_name: String },
    #[error("verifier {name}+{key_id:08x} is a {found} key; expected a {expected} key")]
    WrongKind {
        name: String,
        key_id: u32,
        expected: VerifierKind,
        found: VerifierKind,
    },
    #[error("witness policy: {reason}")]
    BadPolicy { reason: String },
}

/// The key error [`NoteError::BadKey`] stands for, for its message.
fn key_error(name: &str, weak: bool) -> KeyError {
    let what = name.to_owned();
    if weak {
        KeyError::Weak { what }
    } else {
        KeyError::Invalid { what }
    }
}

/// `SHA-256(name || 0x0A || sigtype || pubkey)[:4]`, big-endian: the key ID
/// signed-note recommends and tlog-cosignature requires.
pub fn key_id(name: &str, sigtype: u8, pubkey: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', sigtype]);
    h.update(pubkey);
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// Whether `c` may not appear in a key name (FORMAT §13.3 rule 5): a
/// control character (Unicode category Cc: U+0000-U+001F, U+007F-U+009F),
/// a character with the Unicode `White_Space` property, or '+'. The
/// `White_Space` set is written out, as FORMAT lists it, rather than taken
/// from `char::is_whitespace`, so that this and tools/verify.py test the
/// very same characters.
pub fn forbidden_in_name(c: char) -> bool {
    matches!(
        c,
        '\u{0}'..='\u{1F}'
            | '\u{7F}'..='\u{9F}'
            | ' '
            | '\u{A0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200A}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202F}'
            | '\u{205F}'
            | '\u{3000}'
            | '+'
    )
}

/// Checks a key name: non-empty, and no character [`forbidden_in_name`].
fn check_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.chars().any(forbidden_in_name) {
        return Err(NoteError::BadName {
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// Refuses control characters other than newline (signed-note, "Format").
fn check_chars(s: &str) -> Result<(), NoteError> {
    match s.char_indices().find(|&(_, c)| c < ' ' && c != '\n') {
        Some((offset, c)) => Err(NoteError::ControlChar {
            offset,
            code: u32::from(c),
        }),
        None => Ok(()),
    }
}

/// A note text: non-empty, ends in '\n', no other control characters.
fn check_text(text: &str) -> Result<(), NoteError> {
    if !text.ends_with('\n') {
        return Err(NoteError::BadText);
    }
    check_chars(text)
}

/// Strict Base64: RFC 4648 §4 with padding, and only the canonical encoding
/// of the bytes (no stray bits in the last character), so that every value
/// has exactly one spelling and a parsed note re-encodes byte for byte.
pub(crate) fn decode_base64(what: &'static str, s: &str) -> Result<Vec<u8>, NoteError> {
    let bad = || NoteError::BadBase64 {
        what,
        found: s.chars().take(80).collect(),
    };
    let bytes = Base64::decode_vec(s).map_err(|_| bad())?;
    // base64ct checks the last block already; re-encoding makes the
    // canonical form a property of this function rather than of the crate.
    if Base64::encode_string(&bytes) != s {
        return Err(bad());
    }
    Ok(bytes)
}

pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    Base64::encode_string(bytes)
}

/// Decodes a 32-byte hash written in Base64 (checkpoint root lines and
/// witness consistency-proof lines).
pub(crate) fn decode_hash(what: &'static str, s: &str) -> Result<[u8; 32], NoteError> {
    let bytes = decode_base64(what, s)?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| NoteError::BadBase64 {
        what,
        found: s.chars().take(80).collect(),
    })
}

/// One signature line of a note: `— <name> base64(key ID || signature)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    name: String,
    key_id: u32,
    signature: Vec<u8>,
}

impl NoteSignature {
    /// A signature line's contents. The name must be a valid key name and
    /// the signature non-empty (Go's `note.Open` refuses fewer than 5 bytes
    /// in all, key ID included).
    pub fn new(name: &str, key_id: u32, signature: Vec<u8>) -> Result<Self, NoteError> {
        check_name(name)?;
        if signature.is_empty() {
            return Err(NoteError::EmptySignature {
                name: name.to_owned(),
            });
        }
        Ok(NoteSignature {
            name: name.to_owned(),
            key_id,
            signature,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// The signature bytes after the key ID.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// For a `cosignature/v1` signature (72 bytes), its timestamp. This does
    /// not verify anything; see [`verify`].
    pub fn cosignature_timestamp(&self) -> Option<u64> {
        let (ts, sig) = self.signature.split_first_chunk::<8>()?;
        (sig.len() == 64).then(|| u64::from_be_bytes(*ts))
    }

    /// The line, newline included.
    pub fn to_line(&self) -> String {
        let mut raw = Vec::with_capacity(4 + self.signature.len());
        raw.extend_from_slice(&self.key_id.to_be_bytes());
        raw.extend_from_slice(&self.signature);
        format!("{SIG_PREFIX}{} {}\n", self.name, encode_base64(&raw))
    }

    /// Parses one line without its newline; `line` numbers it in errors.
    fn parse_line(text: &str, line: usize) -> Result<Self, NoteError> {
        let bad = |reason: String| NoteError::BadSignatureLine { line, reason };
        let rest = text.strip_prefix(SIG_PREFIX).ok_or_else(|| {
            bad(format!(
                "found {:?} at its start",
                text.chars().take(2).collect::<String>()
            ))
        })?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or_else(|| bad("found no space after the key name".into()))?;
        check_name(name)?;
        let raw = decode_base64("signature", b64)?;
        let Some((id, sig)) = raw.split_first_chunk::<4>() else {
            return Err(bad(format!("found {} bytes of signature", raw.len())));
        };
        if sig.is_empty() {
            return Err(bad("found a key ID but no signature".into()));
        }
        Ok(NoteSignature {
            name: name.to_owned(),
            key_id: u32::from_be_bytes(*id),
            signature: sig.to_vec(),
        })
    }
}

/// Parses a block of signature lines, each ending in '\n', as a witness's
/// add-checkpoint response carries them (tlog-witness).
pub fn parse_signature_lines(bytes: &[u8]) -> Result<Vec<NoteSignature>, NoteError> {
    if bytes.len() > MAX_NOTE_BYTES {
        return Err(NoteError::TooLarge {
            limit: MAX_NOTE_BYTES,
            found: bytes.len(),
        });
    }
    let s = std::str::from_utf8(bytes).map_err(|e| NoteError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    check_chars(s)?;
    parse_sig_block(s)
}

fn parse_sig_block(s: &str) -> Result<Vec<NoteSignature>, NoteError> {
    if s.is_empty() {
        return Err(NoteError::NoSignatures);
    }
    let Some(body) = s.strip_suffix('\n') else {
        return Err(NoteError::BadSignatureLine {
            line: s.split('\n').count(),
            reason: "found no newline at its end".into(),
        });
    };
    let mut out = Vec::new();
    for (i, line) in body.split('\n').enumerate() {
        // Counted before parsing, so a huge note costs at most this many.
        if i >= MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                limit: MAX_SIGNATURES,
            });
        }
        out.push(NoteSignature::parse_line(line, i + 1)?);
    }
    Ok(out)
}

/// A signed note: a text and at least one signature. Only built by
/// [`Note::new`] and [`Note::parse`], so [`Note::to_bytes`] always gives a
/// note that parses back to the same value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

impl Note {
    /// A note from its text (ending in '\n', no control characters but
    /// newlines) and 1 to [`MAX_SIGNATURES`] signatures.
    pub fn new(text: &str, signatures: Vec<NoteSignature>) -> Result<Self, NoteError> {
        check_text(text)?;
        let note = Note {
            text: text.to_owned(),
            signatures,
        };
        note.check_limits()?;
        Ok(note)
    }

    fn check_limits(&self) -> Result<(), NoteError> {
        if self.signatures.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        if self.signatures.len() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures {
                limit: MAX_SIGNATURES,
            });
        }
        let len = self.encoded_len();
        if len > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge {
                limit: MAX_NOTE_BYTES,
                found: len,
            });
        }
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        // "— " + name + " " + base64(4 + n) + "\n"
        let sigs: usize = self
            .signatures
            .iter()
            .map(|s| SIG_PREFIX.len() + s.name.len() + 2 + (4 + s.signature.len()).div_ceil(3) * 4)
            .sum();
        self.text.len() + 1 + sigs
    }

    /// Parses a signed note (signed-note, "Format"): valid UTF-8, no control
    /// character but '\n', the text split from the signatures at the *last*
    /// blank line, then 1 to [`MAX_SIGNATURES`] signature lines. Signatures
    /// are not checked here; see [`verify`].
    pub fn parse(bytes: &[u8]) -> Result<Note, NoteError> {
        if bytes.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge {
                limit: MAX_NOTE_BYTES,
                found: bytes.len(),
            });
        }
        let s = std::str::from_utf8(bytes).map_err(|e| NoteError::NotUtf8 {
            offset: e.valid_up_to(),
        })?;
        check_chars(s)?;
        let split = s.rfind("\n\n").ok_or(NoteError::NoSeparator)?;
        // `split` is the text's final newline; one byte on is the blank
        // line. Both are ASCII, so these are char boundaries.
        let (text, rest) = s.split_at(split + 1);
        let sigs = rest.get(1..).unwrap_or_default();
        let signatures = parse_sig_block(sigs)?;
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The signed text, final newline included.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Adds a signature line at the end (as a log adds cosignatures a
    /// witness returned), within the same limits as [`Note::new`].
    pub fn push_signature(&mut self, signature: NoteSignature) -> Result<(), NoteError> {
        self.signatures.push(signature);
        if let Err(e) = self.check_limits() {
            self.signatures.pop();
            return Err(e);
        }
        Ok(())
    }

    /// The note's bytes: text, blank line, signature lines.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(self.encoded_len());
        out.push_str(&self.text);
        out.push('\n');
        for s in &self.signatures {
            out.push_str(&s.to_line());
        }
        out.into_bytes()
    }
}

/// What a verifier key checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VerifierKind {
    /// Ed25519 over the note text (type 0x01): a log's checkpoint signature.
    Ed25519,
    /// Timestamped Ed25519 `cosignature/v1` (type 0x04): a witness.
    CosignatureV1,
}

impl VerifierKind {
    pub fn sigtype(self) -> u8 {
        match self {
            VerifierKind::Ed25519 => SIGTYPE_ED25519,
            VerifierKind::CosignatureV1 => SIGTYPE_COSIGNATURE_V1,
        }
    }

    pub fn from_sigtype(t: u8) -> Result<Self, NoteError> {
        match t {
            SIGTYPE_ED25519 => Ok(VerifierKind::Ed25519),
            SIGTYPE_COSIGNATURE_V1 => Ok(VerifierKind::CosignatureV1),
            found => Err(NoteError::UnsupportedType { found }),
        }
    }
}

impl fmt::Display for VerifierKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VerifierKind::Ed25519 => "Ed25519 (0x01)",
            VerifierKind::CosignatureV1 => "cosignature/v1 (0x04)",
        })
    }
}

/// A known key: name, key ID, signature type and Ed25519 public key. The key
/// ID is always the one computed from the other three.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteVerifier {
    name: String,
    key_id: u32,
    kind: VerifierKind,
    key: PublicKey,
}

impl NoteVerifier {
    pub fn new(name: &str, kind: VerifierKind, key: PublicKey) -> Result<Self, NoteError> {
        check_name(name)?;
        Ok(NoteVerifier {
            name: name.to_owned(),
            key_id: key_id(name, kind.sigtype(), &key.to_bytes()),
            kind,
            key,
        })
    }

    /// Parses a vkey, `<name>+<hex key ID>+<base64(type || key)>`
    /// (signed-note, "Verifier keys"): the hex is 8 lowercase digits, the
    /// Base64 canonical, the type 0x01 or 0x04, the key 32 bytes of a valid
    /// Ed25519 point of large order, and the key ID must be the one the
    /// name, type and key give.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let bad = |reason: &str| NoteError::BadVkey {
            vkey: vkey.chars().take(200).collect(),
            reason: reason.to_owned(),
        };
        // Base64 may contain '+', the name and ID may not: split twice.
        let mut parts = vkey.splitn(3, '+');
        let (Some(name), Some(hex_id), Some(b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("found fewer than three '+'-separated parts"));
        };
        check_name(name)?;
        if hex_id.len() != 8
            || !hex_id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad(&format!("found key ID {hex_id:?}")));
        }
        let found = u32::from_str_radix(hex_id, 16).map_err(|_| bad("bad key ID"))?;
        let raw = decode_base64("verifier key material", b64)?;
        let Some((&t, key)) = raw.split_first() else {
            return Err(bad("found no key material"));
        };
        // The ID check comes first, as in Go's NewVerifier: it covers the
        // type byte and the key, whatever they are.
        let expected = key_id(name, t, key);
        if expected != found {
            return Err(NoteError::VkeyIdMismatch {
                name: name.to_owned(),
                expected,
                found,
            });
        }
        let kind = VerifierKind::from_sigtype(t)?;
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| bad(&format!("found a {}-byte key; expected 32", key.len())))?;
        let key = PublicKey::from_bytes(&key, name).map_err(|e| NoteError::BadKey {
            name: name.to_owned(),
            weak: matches!(e, KeyError::Weak { .. }),
        })?;
        let v = NoteVerifier::new(name, kind, key)?;
        // new() recomputes the ID; this holds by the check above.
        debug_assert_eq!(v.key_id, found);
        Ok(v)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    pub fn kind(&self) -> VerifierKind {
        self.kind
    }

    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    /// The vkey string form.
    pub fn to_vkey(&self) -> String {
        self.to_string()
    }

    /// Whether `sig` claims to be by this key: same name and key ID (it is
    /// not checked; [`verify`] does that).
    pub fn matches(&self, sig: &NoteSignature) -> bool {
        self.name == sig.name && self.key_id == sig.key_id
    }

    /// Checks one signature by this key over `text`; returns the
    /// cosignature's timestamp for a cosignature.
    fn check(&self, text: &str, sig: &NoteSignature) -> Result<Option<u64>, NoteError> {
        let fail = |reason| NoteError::BadSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            reason,
        };
        match self.kind {
            VerifierKind::Ed25519 => {
                let s: &[u8; 64] = sig
                    .signature
                    .as_slice()
                    .try_into()
                    .map_err(|_| fail("expected 64 signature bytes"))?;
                if !self.key.verify_strict(text.as_bytes(), s) {
                    return Err(fail("Ed25519 verification failed"));
                }
                Ok(None)
            }
            VerifierKind::CosignatureV1 => {
                let Some((ts, s)) = sig.signature.split_first_chunk::<8>() else {
                    return Err(fail("expected 8 timestamp and 64 signature bytes"));
                };
                let s: &[u8; 64] = s
                    .try_into()
                    .map_err(|_| fail("expected 8 timestamp and 64 signature bytes"))?;
                let ts = u64::from_be_bytes(*ts);
                if ts > MAX_COSIGNATURE_TIME {
                    return Err(fail("timestamp above 2^63-1"));
                }
                if !self.key.verify_strict(&cosignature_message(text, ts), s) {
                    return Err(fail("Ed25519 verification of the cosignature failed"));
                }
                Ok(Some(ts))
            }
        }
    }
}

impl fmt::Display for NoteVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut raw = Vec::with_capacity(33);
        raw.push(self.kind.sigtype());
        raw.extend_from_slice(&self.key.to_bytes());
        write!(
            f,
            "{}+{:08x}+{}",
            self.name,
            self.key_id,
            encode_base64(&raw)
        )
    }
}

impl FromStr for NoteVerifier {
    type Err = NoteError;
    fn from_str(s: &str) -> Result<Self, NoteError> {
        NoteVerifier::parse(s)
    }
}

/// A signature that [`verify`] checked: which verifier, and for a
/// cosignature its timestamp. Only [`verify`] builds one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    verifier: NoteVerifier,
    timestamp: Option<u64>,
}

impl Verified {
    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }

    /// The cosignature's timestamp (POSIX seconds); `None` for Ed25519.
    pub fn timestamp(&self) -> Option<u64> {
        self.timestamp
    }
}

/// Verifies a note against known keys (signed-note, "Signatures"): a key is
/// its (name, key ID) pair; signatures from unknown keys are ignored, even
/// when the name or the ID alone matches; every signature from a known key
/// is checked and one failure rejects the whole note; at least one must
/// verify. Returns each verifier that verified, once, in note order.
pub fn verify(note: &Note, verifiers: &[NoteVerifier]) -> Result<Vec<Verified>, NoteError> {
    let mut out: Vec<Verified> = Vec::new();
    for sig in &note.signatures {
        let mut matching = verifiers.iter().filter(|v| v.matches(sig));
        let Some(v) = matching.next() else {
            continue;
        };
        // Two different keys under one (name, ID): the configuration is
        // wrong, and which one "the" key is cannot be decided.
        if matching.any(|other| other != v) {
            return Err(NoteError::AmbiguousVerifier {
                name: sig.name.clone(),
                key_id: sig.key_id,
            });
        }
        let timestamp = v.check(&note.text, sig)?;
        if !out.iter().any(|seen| seen.verifier == *v) {
            out.push(Verified {
                verifier: v.clone(),
                timestamp,
            });
        }
    }
    if out.is_empty() {
        return Err(NoteError::NoVerifiedSignature {
            known: verifiers.len(),
            found: note.signatures.len(),
        });
    }
    Ok(out)
}

/// Signs a note text with Ed25519 (type 0x01), the whole text and its final
/// newline being the message. The signature is checked with the public key
/// before it is returned.
pub fn sign(text: &str, name: &str, key: &SigningKey) -> Result<NoteSignature, NoteError> {
    check_text(text)?;
    check_name(name)?;
    let public = key.public();
    let sig = key.sign(text.as_bytes());
    if !public.verify_strict(text.as_bytes(), &sig) {
        return Err(NoteError::SelfCheck {
            name: name.to_owned(),
        });
    }
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id: key_id(name, SIGTYPE_ED25519, &public.to_bytes()),
        signature: sig.to_vec(),
    })
}

/// The message a `cosignature/v1` signs (tlog-cosignature, "Ed25519 signed
/// message"): `cosignature/v1\n`, `time <decimal>\n`, then the checkpoint
/// text with its final newline.
pub fn cosignature_message(checkpoint_text: &str, timestamp: u64) -> Vec<u8> {
    let mut m = format!("cosignature/v1\ntime {timestamp}\n").into_bytes();
    m.extend_from_slice(checkpoint_text.as_bytes());
    m
}

/// Cosigns a checkpoint text as a witness (`cosignature/v1`, type 0x04):
/// signature bytes are the timestamp (u64 big-endian) then the Ed25519
/// signature. The text must be a valid checkpoint and the timestamp at most
/// 2^63-1. Checked with the public key before it is returned.
pub fn cosign(
    checkpoint_text: &str,
    name: &str,
    key: &SigningKey,
    timestamp: u64,
) -> Result<NoteSignature, NoteError> {
    if timestamp > MAX_COSIGNATURE_TIME {
        return Err(NoteError::TimestampTooLarge { found: timestamp });
    }
    check_name(name)?;
    Checkpoint::parse_text(checkpoint_text)?;
    let public = key.public();
    let message = cosignature_message(checkpoint_text, timestamp);
    let sig = key.sign(&message);
    if !public.verify_strict(&message, &sig) {
        return Err(NoteError::SelfCheck {
            name: name.to_owned(),
        });
    }
    let mut bytes = Vec::with_capacity(72);
    bytes.extend_from_slice(&timestamp.to_be_bytes());
    bytes.extend_from_slice(&sig);
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id: key_id(name, SIGTYPE_COSIGNATURE_V1, &public.to_bytes()),
        signature: bytes,
    })
}

/// A checkpoint's text (tlog-checkpoint, "Note text"): origin, tree size,
/// root hash, optional extension lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: [u8; 32],
    extensions: Vec<String>,
}

impl Checkpoint {
    /// The origin must be a valid key name (non-empty, no spaces, no '+',
    /// which the spec only recommends but we require, since the origin is
    /// also the log key's name); extension lines non-empty, without newline
    /// or control characters.
    pub fn new(
        origin: &str,
        size: u64,
        root: [u8; 32],
        extensions: Vec<String>,
    ) -> Result<Self, NoteError> {
        check_origin(origin, 1)?;
        for (i, e) in extensions.iter().enumerate() {
            check_extension(e, i + 4)?;
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn root(&self) -> &[u8; 32] {
        &self.root
    }

    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The note text, every line ending in '\n'.
    pub fn to_text(&self) -> String {
        let mut t = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            encode_base64(&self.root)
        );
        for e in &self.extensions {
            t.push_str(e);
            t.push('\n');
        }
        t
    }

    /// Parses a checkpoint text strictly: at least three lines, all
    /// non-empty and ending in '\n'; the size in decimal with no sign and no
    /// leading zero; the root canonical Base64 of exactly 32 bytes.
    pub fn parse_text(text: &str) -> Result<Checkpoint, NoteError> {
        let bad = |line: usize, reason: String| NoteError::BadCheckpoint { line, reason };
        let Some(body) = text.strip_suffix('\n') else {
            return Err(bad(
                text.split('\n').count(),
                "expected a newline at the end of the text".into(),
            ));
        };
        check_chars(body)?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(bad(
                body.split('\n').count(),
                "expected at least three lines (origin, size, root hash)".into(),
            ));
        };
        check_origin(origin, 1)?;
        let size = parse_decimal(size).ok_or_else(|| {
            bad(
                2,
                format!("expected a tree size in decimal with no leading zero; found {size:?}"),
            )
        })?;
        let root = decode_hash("checkpoint root hash", root).map_err(|_| {
            bad(
                3,
                format!("expected a 32-byte hash in Base64; found {root:?}"),
            )
        })?;
        let mut extensions = Vec::new();
        for (i, e) in lines.enumerate() {
            check_extension(e, i + 4)?;
            extensions.push(e.to_owned());
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }
}

fn check_origin(origin: &str, line: usize) -> Result<(), NoteError> {
    check_name(origin).map_err(|_| NoteError::BadCheckpoint {
        line,
        reason: format!("expected an origin with no spaces or '+'; found {origin:?}"),
    })
}

fn check_extension(e: &str, line: usize) -> Result<(), NoteError> {
    if e.is_empty() || e.chars().any(|c| c < ' ') {
        return Err(NoteError::BadCheckpoint {
            line,
            reason: "expected a non-empty extension line with no control characters".into(),
        });
    }
    Ok(())
}

/// ASCII decimal with no sign and no leading zero ("0" itself is fine), as
/// checkpoint sizes and witness `old` lines are written. `u64::from_str`
/// alone would accept "+7" and "007".
pub(crate) fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

/// The witness policy a client applies to a checkpoint: which
/// `cosignature/v1` keys count, and the quorum rule over them. Built by
/// [`WitnessPolicy::new`] (k of n, FORMAT §13.9) or by
/// [`crate::tlog::policy`] from a C2SP tlog-policy file (groups of
/// witnesses and groups, FORMAT §18).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessPolicy {
    witnesses: Vec<NoteVerifier>,
    /// Each group's threshold and members; a group names only witnesses
    /// and groups defined before it, so groups are evaluated in order.
    groups: Vec<PolicyGroup>,
    /// What must witness a checkpoint; `None` is tlog-policy's
    /// `quorum none`.
    quorum: Option<PolicyMember>,
    /// The policy's description in messages: "k of n" or a group's name.
    rule: String,
    /// Built by [`WitnessPolicy::new`]: k of n.
    simple: bool,
}

/// A member of a witness group, or the quorum: a witness or an earlier
/// group, by index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyMember {
    Witness(usize),
    Group(usize),
}

/// A group of a witness policy: it witnesses a checkpoint when at least
/// `threshold` of its members do (tlog-policy, "Defining a witness group").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyGroup {
    pub name: String,
    pub threshold: usize,
    pub members: Vec<PolicyMember>,
}

fn check_witnesses(witnesses: &[NoteVerifier]) -> Result<(), NoteError> {
    for (i, w) in witnesses.iter().enumerate() {
        if w.kind != VerifierKind::CosignatureV1 {
            return Err(NoteError::WrongKind {
                name: w.name.clone(),
                key_id: w.key_id,
                expected: VerifierKind::CosignatureV1,
                found: w.kind,
            });
        }
        if witnesses.iter().take(i).any(|o| o.key == w.key) {
            return Err(NoteError::BadPolicy {
                reason: format!(
                    "witness {} reuses the public key of another witness; each witness needs its own key",
                    w.name
                ),
            });
        }
    }
    Ok(())
}

impl WitnessPolicy {
    /// Every witness must be a `cosignature/v1` key, no public key may be
    /// listed twice (a v1 cosignature does not commit to the witness's name,
    /// so one key under two names would count twice), and the quorum must be
    /// between 1 and the number of witnesses.
    pub fn new(witnesses: Vec<NoteVerifier>, quorum: usize) -> Result<Self, NoteError> {
        check_witnesses(&witnesses)?;
        if quorum == 0 || quorum > witnesses.len() {
            return Err(NoteError::BadPolicy {
                reason: format!(
                    "expected a quorum between 1 and {} (the number of witnesses); found {quorum}",
                    witnesses.len()
                ),
            });
        }
        let n = witnesses.len();
        Ok(WitnessPolicy {
            groups: vec![PolicyGroup {
                name: format!("{quorum} of {n}"),
                threshold: quorum,
                members: (0..n).map(PolicyMember::Witness).collect(),
            }],
            witnesses,
            quorum: Some(PolicyMember::Group(0)),
            rule: format!("{quorum} of {n}"),
            simple: true,
        })
    }

    /// A policy with groups (tlog-policy). The same rules on witnesses as
    /// [`WitnessPolicy::new`]; each group has 1 ≤ threshold ≤ members, its
    /// members are distinct and name only witnesses and earlier groups;
    /// `quorum` names a witness or group (`None`: no cosignature needed).
    /// `rule` is the quorum's name, for messages.
    pub fn with_groups(
        witnesses: Vec<NoteVerifier>,
        groups: Vec<PolicyGroup>,
        quorum: Option<PolicyMember>,
        rule: String,
    ) -> Result<Self, NoteError> {
        check_witnesses(&witnesses)?;
        let bad = |reason: String| NoteError::BadPolicy { reason };
        let valid = |m: &PolicyMember, before: usize| match *m {
            PolicyMember::Witness(i) => i < witnesses.len(),
            PolicyMember::Group(g) => g < before,
        };
        for (gi, g) in groups.iter().enumerate() {
            if g.members.is_empty() || g.threshold == 0 || g.threshold > g.members.len() {
                return Err(bad(format!(
                    "group {}: expected a threshold between 1 and {} (its members); found {}",
                    g.name,
                    g.members.len(),
                    g.threshold
                )));
            }
            for (mi, m) in g.members.iter().enumerate() {
                if !valid(m, gi) || g.members[..mi].contains(m) {
                    return Err(bad(format!(
                        "group {}: a member is undefined, later, or listed twice",
                        g.name
                    )));
                }
            }
        }
        if let Some(q) = &quorum {
            if !valid(q, groups.len()) {
                return Err(bad("the quorum names no witness or group".into()));
            }
        }
        Ok(WitnessPolicy {
            witnesses,
            groups,
            quorum,
            rule,
            simple: false,
        })
    }

    pub fn witnesses(&self) -> &[NoteVerifier] {
        &self.witnesses
    }

    pub fn groups(&self) -> &[PolicyGroup] {
        &self.groups
    }

    /// What must witness a checkpoint (`None`: nothing, `quorum none`).
    pub fn quorum_member(&self) -> Option<PolicyMember> {
        self.quorum
    }

    /// The quorum rule, for messages: "k of n", or the quorum's name.
    pub fn rule(&self) -> &str {
        &self.rule
    }

    /// Whether the witnesses marked in `cosigned` (by index into
    /// [`WitnessPolicy::witnesses`]) meet the quorum.
    pub fn satisfied(&self, cosigned: &[bool]) -> bool {
        let Some(q) = self.quorum else {
            return true;
        };
        let mut met: Vec<bool> = Vec::with_capacity(self.groups.len());
        let holds = |m: &PolicyMember, met: &[bool]| match *m {
            PolicyMember::Witness(i) => cosigned.get(i).copied().unwrap_or(false),
            PolicyMember::Group(g) => met.get(g).copied().unwrap_or(false),
        };
        for g in &self.groups {
            let n = g.members.iter().filter(|m| holds(m, &met)).count();
            met.push(n >= g.threshold);
        }
        holds(&q, &met)
    }

    /// The fewest cosignatures that can meet the quorum: for a group, the
    /// sum of its `threshold` cheapest members.
    pub fn minimum(&self) -> usize {
        let Some(q) = self.quorum else { return 0 };
        let mut cost: Vec<usize> = Vec::with_capacity(self.groups.len());
        let of = |m: &PolicyMember, cost: &[usize]| match *m {
            PolicyMember::Witness(_) => 1,
            PolicyMember::Group(g) => cost.get(g).copied().unwrap_or(0),
        };
        for g in &self.groups {
            let mut c: Vec<usize> = g.members.iter().map(|m| of(m, &cost)).collect();
            c.sort_unstable();
            // Saturating: nested `all` groups can grow past usize.
            cost.push(
                c.iter()
                    .take(g.threshold)
                    .fold(0usize, |a, b| a.saturating_add(*b)),
            );
        }
        of(&q, &cost)
    }
}

/// A witness policy's quorum not met by a checkpoint: the evidence of
/// [`CosignedCheckpoint::quorum`], the one quorum check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumNotMet {
    /// The checkpoint's tree size.
    pub size: u64,
    /// The names of the policy's witnesses whose cosignatures verified.
    pub cosigned: Vec<String>,
    /// How many witnesses the policy names.
    pub witnesses: usize,
    /// How many must cosign, at the least ([`WitnessPolicy::minimum`]).
    pub quorum: usize,
    /// For a policy with groups, the quorum's name (`None` for k of n).
    pub rule: Option<String>,
}

impl std::fmt::Display for QuorumNotMet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the checkpoint of size {} is cosigned by {} of the {} witnesses ({}), ",
            self.size,
            self.cosigned.len(),
            self.witnesses,
            cosigner_list(&self.cosigned)
        )?;
        match &self.rule {
            None => write!(f, "fewer than the {} required", self.quorum),
            Some(r) => write!(f, "which does not meet the policy's quorum {r}"),
        }
    }
}

impl std::error::Error for QuorumNotMet {}

fn cosigner_list(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// A checkpoint signed by (at least) one of a log's keys, with the
/// witnesses of a policy that cosigned it. Only
/// [`CosignedCheckpoint::verify`] and [`CosignedCheckpoint::verify_note`]
/// build one: this is the one checkpoint verifier, and
/// [`CosignedCheckpoint::quorum`] the one quorum check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CosignedCheckpoint {
    note: Note,
    checkpoint: Checkpoint,
    signers: Vec<NoteVerifier>,
    cosigners: Vec<Verified>,
}

impl CosignedCheckpoint {
    /// Parses a signed checkpoint note and checks it (tlog-checkpoint):
    /// every log verifier must be an Ed25519 key named as the checkpoint's
    /// origin, and at least one of them must have signed it (any one
    /// suffices; the same key given twice is one signer); every signature
    /// from a log key or a witness of `policy` must verify (one bad one
    /// rejects the note); signatures from other keys are ignored. No log
    /// signature is [`NoteError::NoVerifiedSignature`], whose `known` counts
    /// the distinct log keys. Whether the quorum is met is reported, not
    /// enforced: see [`CosignedCheckpoint::quorum`].
    pub fn verify(
        bytes: &[u8],
        logs: &[NoteVerifier],
        policy: Option<&WitnessPolicy>,
    ) -> Result<Self, NoteError> {
        check_log_kinds(logs)?;
        Self::verify_note(Note::parse(bytes)?, logs, policy)
    }

    /// [`CosignedCheckpoint::verify`], for a note already parsed.
    pub fn verify_note(
        note: Note,
        logs: &[NoteVerifier],
        policy: Option<&WitnessPolicy>,
    ) -> Result<Self, NoteError> {
        check_log_kinds(logs)?;
        let checkpoint = Checkpoint::parse_text(&note.text)?;
        if let Some(log) = logs.iter().find(|l| l.name != checkpoint.origin) {
            return Err(NoteError::OriginMismatch {
                origin: checkpoint.origin.clone(),
                key_name: log.name.clone(),
            });
        }
        // One verifier per key: the same key given twice is one signer.
        let mut known: Vec<NoteVerifier> = Vec::with_capacity(logs.len());
        for l in logs {
            if !known.contains(l) {
                known.push(l.clone());
            }
        }
        let distinct = known.len();
        if let Some(p) = policy {
            known.extend(p.witnesses.iter().cloned());
        }
        let verified = match verify(&note, &known) {
            Err(NoteError::NoVerifiedSignature { .. }) => Vec::new(),
            other => other?,
        };
        let signers: Vec<NoteVerifier> = known[..distinct]
            .iter()
            .filter(|l| verified.iter().any(|v| v.verifier == **l))
            .cloned()
            .collect();
        if signers.is_empty() {
            return Err(NoteError::NoVerifiedSignature {
                known: distinct,
                found: note.signatures.len(),
            });
        }
        // Log keys are Ed25519 and witnesses cosignature/v1 keys
        // (WitnessPolicy::new), so these are the policy's witnesses.
        let cosigners: Vec<Verified> = verified
            .into_iter()
            .filter(|v| v.verifier.kind == VerifierKind::CosignatureV1)
            .collect();
        Ok(CosignedCheckpoint {
            note,
            checkpoint,
            signers,
            cosigners,
        })
    }

    pub fn note(&self) -> &Note {
        &self.note
    }

    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The log verifiers whose signatures verified, each once, in the order
    /// given.
    pub fn signers(&self) -> &[NoteVerifier] {
        &self.signers
    }

    /// The policy witnesses whose cosignatures verified, with timestamps,
    /// in note order.
    pub fn cosigners(&self) -> &[Verified] {
        &self.cosigners
    }

    /// Whether `policy`'s quorum is met by the policy witnesses whose
    /// cosignatures verified, each counted once ([`verify`] reports each
    /// verifier once, and a policy has distinct keys).
    pub fn quorum(&self, policy: &WitnessPolicy) -> Result<(), QuorumNotMet> {
        let flags: Vec<bool> = policy
            .witnesses
            .iter()
            .map(|w| self.cosigners.iter().any(|c| c.verifier == *w))
            .collect();
        if policy.satisfied(&flags) {
            return Ok(());
        }
        let cosigned: Vec<String> = self
            .cosigners
            .iter()
            .filter(|c| policy.witnesses.contains(&c.verifier))
            .map(|c| c.verifier.name.clone())
            .collect();
        Err(QuorumNotMet {
            size: self.checkpoint.size,
            cosigned,
            witnesses: policy.witnesses.len(),
            quorum: policy.minimum(),
            rule: (!policy.simple).then(|| policy.rule.clone()),
        })
    }
}

/// A checkpoint's log keys sign the note text: Ed25519 (type 0x01).
fn check_log_kinds(logs: &[NoteVerifier]) -> Result<(), NoteError> {
    match logs.iter().find(|l| l.kind != VerifierKind::Ed25519) {
        Some(l) => Err(NoteError::WrongKind {
            name: l.name.clone(),
            key_id: l.key_id,
            expected: VerifierKind::Ed25519,
            found: l.kind,
        }),
        None => Ok(()),
    }
}
