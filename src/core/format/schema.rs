//! The fixed-schema decoder: reads an event (or a payload) straight from
//! its stored bytes, checking FORMAT §4's deterministic encoding head by
//! head as it goes, with no `Value` tree and no re-encoding.
//!
//! It is a recogniser, not an explainer: it answers `Some` only for bytes
//! that the reference decoder ([`super::reference`]) accepts, with the
//! same decoded value, and `None` for anything else, and then the caller
//! asks the reference decoder why. So a refusal always carries exactly the
//! reference's error kind, message and offset, and this module cannot
//! make an accepted event refused or a refused one accepted unless it
//! accepts bytes the reference refuses: the property the differential
//! fuzz target `decode_diff` and `tests/decode_diff.rs` check (both also
//! check the converse, that every event the reference accepts is
//! recognised here, so that the fast path is the only path valid ledgers
//! take).
//!
//! What it accepts, in full (FORMAT §4, §5.1, §5.3, §5.4):
//! - the envelope: tag 18, an array of 4, the one protected header
//!   `{1: -8, 4: kid}` (38 bytes), an empty unprotected map, the payload
//!   as a byte string, a 64-byte signature, nothing after;
//! - the payload: a map whose keys are text in canonical order, every
//!   value (annotations included) made of shortest-form integers, byte
//!   strings, UTF-8 text, arrays and maps with integer or text keys in
//!   canonical order, nested at most 16 deep; then the fields of §5.3 and
//!   §5.4 with the same checks as the reference (it calls the same
//!   functions: ids, lines, texts, times).

use std::collections::BTreeMap;

use super::{
    check_line, check_text, Body, DocHash, Event, EventHash, Kid, Kind, LedgerId, NewParty,
    PartyId, FORMAT_VERSION, MAX_DEPTH, MAX_EVENT_BYTES, MAX_PARTIES,
};
use crate::base::time::Timestamp;

/// The first bytes of every event (FORMAT §5.1): tag 18, an array of 4, the
/// protected header as a 38-byte string up to the kid, `{1: -8, 4: h'…'}`.
const ENVELOPE_START: [u8; 10] = [0xd2, 0x84, 0x58, 0x26, 0xa2, 0x01, 0x27, 0x04, 0x58, 0x20];

/// Decodes `stored` as exactly one event, or `None` if the reference
/// decoder must say why not (see the module documentation).
pub fn event(stored: &[u8]) -> Option<Event> {
    if stored.len() > MAX_EVENT_BYTES || !stored.starts_with(&ENVELOPE_START) {
        return None;
    }
    let mut c = Cursor::new(stored, ENVELOPE_START.len());
    let kid: [u8; 32] = c.take(32)?.try_into().ok()?;
    // The unprotected header: the empty map.
    if c.byte()? != 0xa0 {
        return None;
    }
    let (2, n) = c.head()? else { return None };
    let payload = c.take(usize::try_from(n).ok()?)?;
    // The signature: a 64-byte string, and the end of the bytes.
    if c.byte()? != 0x58 || c.byte()? != 0x40 {
        return None;
    }
    let signature: [u8; 64] = c.take(64)?.try_into().ok()?;
    if c.pos != stored.len() {
        return None;
    }
    let body = body(payload)?;
    Some(Event {
        body,
        kid,
        signature,
        protected: stored[4..4 + 38].to_vec(),
        payload: payload.to_vec(),
        hash: EventHash::of(stored),
        leaf: crate::tlog::merkle::leaf_hash(stored),
        len: stored.len(),
    })
}

/// Decodes a payload (FORMAT §5.3), or `None` if the reference decoder
/// must say why not.
pub fn body(payload: &[u8]) -> Option<Body> {
    // One deterministic map with text keys in canonical order (FORMAT
    // §4), each value checked as it is passed over, nothing after.
    let mut c = Cursor::new(payload, 0);
    let (5, n) = c.head()? else { return None };
    let mut fields = Fields {
        entries: Vec::with_capacity(usize::try_from(n).ok()?.min(32)),
    };
    let mut last: &[u8] = &[];
    for _ in 0..n {
        let key_start = c.pos;
        let key = c.text()?;
        let encoded = &payload[key_start..c.pos];
        if !last.is_empty() && last >= encoded {
            return None;
        }
        last = encoded;
        let start = c.pos;
        c.pos = skip(payload, start, 1)?;
        fields.entries.push((key, &payload[start..c.pos], false));
    }
    if c.pos != payload.len() {
        return None;
    }
    let version = uint(fields.take("v")?)?;
    if version != FORMAT_VERSION {
        return None;
    }
    let kind_name = text(fields.take("kind")?)?;
    let ledger = LedgerId(fixed::<16>(fields.take("ledger")?)?);
    let seq = uint(fields.take("seq")?)?;
    let prev = match fields.take("prev") {
        None => None,
        Some(v) => Some(EventHash(fixed::<32>(v)?)),
    };
    let time = Timestamp::parse(text(fields.take("time")?)?).ok()?;
    let author = PartyId::new(text(fields.take("author")?)?).ok()?;
    let kind = match kind_name {
        "ledger-created" => Kind::LedgerCreated {
            title: fields.line("title")?,
            parties: parties(fields.take("parties")?)?,
        },
        "session-opened" => Kind::SessionOpened {
            session: fields.id("session")?,
            title: fields.line("title")?,
            place: fields.opt(Fields::line, "place")?,
            chair: fields.opt(Fields::line, "chair")?,
            notes: fields.opt(Fields::text, "notes")?,
        },
        "session-closed" => Kind::SessionClosed {
            session: fields.id("session")?,
            notes: fields.opt(Fields::text, "notes")?,
        },
        "document-drafted" => Kind::DocumentDrafted {
            doc: fields.id("doc")?,
            sha256: DocHash(fixed::<32>(fields.take("sha256")?)?),
            title: fields.line("title")?,
            signatories: party_list(fields.take("signatories")?)?,
        },
        "document-amended" => Kind::DocumentAmended {
            doc: fields.id("doc")?,
            sha256: DocHash(fixed::<32>(fields.take("sha256")?)?),
            notes: fields.opt(Fields::text, "notes")?,
        },
        "document-approved" => Kind::DocumentApproved {
            doc: fields.id("doc")?,
            sha256: DocHash(fixed::<32>(fields.take("sha256")?)?),
        },
        "document-signed" => Kind::DocumentSigned {
            doc: fields.id("doc")?,
            sha256: DocHash(fixed::<32>(fields.take("sha256")?)?),
        },
        "note" => Kind::Note {
            text: fields.text("text")?,
        },
        "key-added" => Kind::KeyAdded {
            key: fixed::<32>(fields.take("key")?)?,
            proof: fixed::<64>(fields.take("proof")?)?,
        },
        "key-rotated" => Kind::KeyRotated {
            key: fixed::<32>(fields.take("key")?)?,
            proof: fixed::<64>(fields.take("proof")?)?,
        },
        "key-revoked" => Kind::KeyRevoked {
            kid: Kid(fixed::<32>(fields.take("key")?)?),
            reason: fields.line("reason")?,
        },
        "parties-proposed" => Kind::PartiesProposed {
            proposal: fields.id("proposal")?,
            add: new_parties(fields.take("add")?)?,
            remove: party_list(fields.take("remove")?)?,
        },
        "parties-approved" => Kind::PartiesApproved {
            proposal: fields.id("proposal")?,
            sha256: EventHash(fixed::<32>(fields.take("sha256")?)?),
        },
        _ => return None,
    };
    // FORMAT §5.3: whatever the kind did not take must be an annotation.
    if fields
        .entries
        .iter()
        .any(|(k, _, used)| !used && !k.starts_with('_'))
    {
        return None;
    }
    Some(Body {
        version,
        ledger,
        seq,
        prev,
        time,
        author,
        kind,
    })
}

/// The payload's entries: key, the value's bytes (already checked to be
/// deterministic), and whether a field took it.
struct Fields<'a> {
    entries: Vec<(&'a str, &'a [u8], bool)>,
}

impl<'a> Fields<'a> {
    fn take(&mut self, name: &str) -> Option<&'a [u8]> {
        let entry = self.entries.iter_mut().find(|(k, _, _)| *k == name)?;
        entry.2 = true;
        Some(entry.1)
    }

    fn line(&mut self, name: &str) -> Option<String> {
        let s = text(self.take(name)?)?;
        check_line(name, s).ok()?;
        Some(s.to_owned())
    }

    fn text(&mut self, name: &str) -> Option<String> {
        let s = text(self.take(name)?)?;
        check_text(name, s).ok()?;
        Some(s.to_owned())
    }

    fn id<T: std::str::FromStr>(&mut self, name: &str) -> Option<T> {
        text(self.take(name)?)?.parse().ok()
    }

    /// An optional field: absent is `Some(None)`, present but wrong `None`.
    fn opt(
        &mut self,
        read: fn(&mut Self, &str) -> Option<String>,
        name: &str,
    ) -> Option<Option<String>> {
        if self.entries.iter().any(|(k, _, _)| *k == name) {
            read(self, name).map(Some)
        } else {
            Some(None)
        }
    }
}

/// FORMAT §5.4 `parties`: 1 to 64 party ids to 32-byte keys.
fn parties(v: &[u8]) -> Option<BTreeMap<PartyId, [u8; 32]>> {
    let mut c = Cursor::new(v, 0);
    let (5, n) = c.head()? else { return None };
    if n == 0 || n > MAX_PARTIES as u64 {
        return None;
    }
    let mut out = BTreeMap::new();
    for _ in 0..n {
        let id = PartyId::new(c.text()?).ok()?;
        out.insert(id, c.fixed::<32>()?);
    }
    Some(out)
}

/// FORMAT §5.4 `signatories`, `remove`: at most 64 party ids, sorted,
/// without duplicates.
fn party_list(v: &[u8]) -> Option<Vec<PartyId>> {
    let mut c = Cursor::new(v, 0);
    let (4, n) = c.head()? else { return None };
    if n > MAX_PARTIES as u64 {
        return None;
    }
    let mut out: Vec<PartyId> = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let p = PartyId::new(c.text()?).ok()?;
        if out.last().is_some_and(|last| *last >= p) {
            return None;
        }
        out.push(p);
    }
    Some(out)
}

/// FORMAT §5.4 `add`: at most 64 party ids to `{"key": bstr .size 32,
/// "proof": bstr .size 64}` and nothing else.
fn new_parties(v: &[u8]) -> Option<BTreeMap<PartyId, NewParty>> {
    let mut c = Cursor::new(v, 0);
    let (5, n) = c.head()? else { return None };
    if n > MAX_PARTIES as u64 {
        return None;
    }
    let mut out = BTreeMap::new();
    for _ in 0..n {
        let id = PartyId::new(c.text()?).ok()?;
        // Deterministic order puts "key" (3 bytes) before "proof".
        if c.head()? != (5, 2) || c.text()? != "key" {
            return None;
        }
        let key = c.fixed::<32>()?;
        if c.text()? != "proof" {
            return None;
        }
        let proof = c.fixed::<64>()?;
        out.insert(id, NewParty { key, proof });
    }
    Some(out)
}

fn uint(v: &[u8]) -> Option<u64> {
    match Cursor::new(v, 0).head()? {
        (0, n) => Some(n),
        _ => None,
    }
}

fn text(v: &[u8]) -> Option<&str> {
    Cursor::new(v, 0).text()
}

fn fixed<const N: usize>(v: &[u8]) -> Option<[u8; N]> {
    Cursor::new(v, 0).fixed::<N>()
}

/// A position in some bytes, read one shortest-form head at a time.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8], pos: usize) -> Self {
        Cursor { buf, pos }
    }

    fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let out = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(out)
    }

    /// A head (major type, argument) in its shortest form (FORMAT §4):
    /// `None` for a longer form, an indefinite length or a reserved value.
    fn head(&mut self) -> Option<(u8, u64)> {
        let b = self.byte()?;
        let (major, info) = (b >> 5, b & 0x1f);
        let (width, min) = match info {
            0..=23 => return Some((major, u64::from(info))),
            24 => (1, 24),
            25 => (2, 0x100),
            26 => (4, 0x1_0000),
            27 => (8, 0x1_0000_0000),
            _ => return None,
        };
        let arg = self
            .take(width)?
            .iter()
            .fold(0u64, |a, b| (a << 8) | u64::from(*b));
        (arg >= min).then_some((major, arg))
    }

    fn text(&mut self) -> Option<&'a str> {
        let (3, n) = self.head()? else { return None };
        std::str::from_utf8(self.take(usize::try_from(n).ok()?)?).ok()
    }

    fn fixed<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (2, n) = self.head()? else { return None };
        self.take(usize::try_from(n).ok()?)?.try_into().ok()
    }
}

/// Where the deterministically encoded item at `pos` of `buf`, `depth`
/// arrays and maps deep, ends; `None` if it is not one (FORMAT §4: the
/// allowed types, shortest forms, definite lengths, UTF-8 text, integer
/// or text map keys in strictly increasing bytewise order, at most 16
/// deep).
fn skip(buf: &[u8], pos: usize, depth: usize) -> Option<usize> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut c = Cursor::new(buf, pos);
    match c.head()? {
        (0 | 1, _) => {}
        (2, n) => {
            c.take(usize::try_from(n).ok()?)?;
        }
        (3, n) => {
            std::str::from_utf8(c.take(usize::try_from(n).ok()?)?).ok()?;
        }
        // Each item takes at least a byte: a hostile count runs out of
        // input, never out of memory or time.
        (4, n) => {
            for _ in 0..n {
                c.pos = skip(buf, c.pos, depth + 1)?;
            }
        }
        (5, n) => {
            let mut last: Option<&[u8]> = None;
            for _ in 0..n {
                let start = c.pos;
                let (0 | 1 | 3, _) = Cursor::new(buf, start).head()? else {
                    return None;
                };
                let end = skip(buf, start, depth + 1)?;
                let key = &buf[start..end];
                if last.is_some_and(|l| l >= key) {
                    return None;
                }
                last = Some(key);
                c.pos = skip(buf, end, depth + 1)?;
            }
        }
        _ => return None,
    }
    Some(c.pos)
}
