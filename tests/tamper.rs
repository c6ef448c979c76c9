//! The tamper matrix (issue "Reliability and security: nothing forged").
//!
//! A ledger of 30 events by three parties, with seven stored document
//! versions, and every way we could think of to change it after the fact:
//! each must be rejected by `verify`, naming the event that was tampered
//! with (FORMAT §6: "the first event that fails is the verdict").
//!
//! Nearly every case runs `ledger::core::verify::verify` on a scratch copy of the
//! ledger. The one exception is the exhaustive single-byte matrix (every
//! byte of `events.cbor`, xor 0x01 and xor 0xff: 17 862 cases): a full
//! verification per case would decode and check all 30 events, so instead
//! each tampered log is replayed from the verified state just before the
//! event that holds the changed byte, with the library's own strict reader
//! ([`LogReader`]) and replay ([`State::genesis`], [`State::apply`]), which
//! is what `verify` does for that part of the log. `flips_agree_with_verify`
//! then checks, for flips in every one of the 30 events, that `verify`
//! itself reaches the same verdict (event, offset, torn tail and reason).
//!
//! `binary_names_the_event` runs the real `ledger verify` on 20 of the
//! tampered ledgers: exit code 1 and a one-line error naming the event.
//!
//! Run with `--nocapture` to see the figures of each part of the matrix.

mod common;

use common::sign_as;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use ledger::base::crypto::{PublicKey, SigningKey};
use ledger::base::time::Timestamp;
use ledger::core::format::{
    Body, DocHash, Event, EventHash, FormatError, Kind, LedgerId, LogReader, PartyId, ReadError,
};
use ledger::core::replay::{RuleError, State};
use ledger::core::store::{Access, Store};
use ledger::core::verify::{verify, Cause, Failure, Options, Report, VerifyError};
use ledger::core::writer::{self, Writer};

// ---------------------------------------------------------------------------
// The ledger under attack.

/// A ledger, its bytes, where each event starts, and the verified state
/// after each event.
struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    log: Vec<u8>,
    /// `bounds[i]` is the offset of event `i`; the last entry is the length.
    bounds: Vec<usize>,
    hashes: Vec<EventHash>,
    events: Vec<Event>,
    /// `states[i]`: the state after events `0..=i`.
    states: Vec<State>,
    keys: Vec<(PartyId, SigningKey)>,
    /// Each stored document version: the event that drafted or amended it.
    versions: Vec<(usize, DocHash)>,
    /// Another ledger with the same parties (same keys), another ledger id.
    other: Vec<Vec<u8>>,
}

const EVENTS: usize = 30;

impl Fixture {
    fn len(&self) -> usize {
        self.events.len()
    }

    fn event(&self, i: usize) -> &[u8] {
        &self.log[self.bounds[i]..self.bounds[i + 1]]
    }

    fn key(&self, party: &str) -> &SigningKey {
        &self
            .keys
            .iter()
            .find(|(p, _)| p.as_str() == party)
            .unwrap()
            .1
    }

    fn ledger_id(&self) -> LedgerId {
        self.states[0].ledger
    }

    fn head(&self) -> EventHash {
        *self.hashes.last().unwrap()
    }

    /// The event containing byte `p` of the log.
    fn event_at(&self, p: usize) -> usize {
        self.bounds.partition_point(|&b| b <= p) - 1
    }

    /// The log with event `i` replaced by `bytes`.
    fn with_event(&self, i: usize, bytes: &[u8]) -> Vec<u8> {
        let mut log = self.log[..self.bounds[i]].to_vec();
        log.extend_from_slice(bytes);
        log.extend_from_slice(&self.log[self.bounds[i + 1]..]);
        log
    }
}

fn pid(s: &str) -> PartyId {
    PartyId::new(s).unwrap()
}

/// The time of event `i`: a minute apart, some written with an offset.
fn at(i: usize) -> Option<Timestamp> {
    let t = if i % 5 == 3 {
        format!("2024-03-01T{:02}:{:02}:00+01:00", 10 + i / 60, i % 60)
    } else {
        format!("2024-03-01T{:02}:{:02}:00Z", 9 + i / 60, i % 60)
    };
    Some(Timestamp::parse(&t).unwrap())
}

/// Splits a log into its events' stored bytes (it must be well-formed).
fn split(log: &[u8]) -> Vec<Vec<u8>> {
    let mut reader = LogReader::new(log);
    let mut out = Vec::new();
    while reader.next_event().unwrap().is_some() {
        out.push(reader.last_bytes().to_vec());
    }
    out
}

fn build() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    let keys: Vec<(PartyId, SigningKey)> = ["north", "south", "east"]
        .iter()
        .map(|p| (pid(p), SigningKey::generate()))
        .collect();
    let parties: BTreeMap<PartyId, PublicKey> =
        keys.iter().map(|(p, k)| (p.clone(), k.public())).collect();
    let key = |name: &str| &keys.iter().find(|(p, _)| p.as_str() == name).unwrap().1;

    let sid = |s: &str| s.parse().unwrap();
    let did = |s: &str| s.parse().unwrap();
    let opened = |s: &str, t: &str| Kind::SessionOpened {
        session: sid(s),
        title: t.into(),
        place: Some("Geneva".into()),
        chair: Some("The chair".into()),
        notes: None,
    };
    let closed = |s: &str| Kind::SessionClosed {
        session: sid(s),
        notes: None,
    };
    let note = |t: &str| Kind::Note { text: t.into() };
    let drafted = |d: &str, bytes: &[u8], signatories: Vec<PartyId>| Kind::DocumentDrafted {
        doc: did(d),
        sha256: DocHash::of(bytes),
        title: format!("Document {d}"),
        signatories,
    };
    let amended = |d: &str, bytes: &[u8]| Kind::DocumentAmended {
        doc: did(d),
        sha256: DocHash::of(bytes),
        notes: Some("Revised wording.".into()),
    };
    let approved = |d: &str, bytes: &[u8]| Kind::DocumentApproved {
        doc: did(d),
        sha256: DocHash::of(bytes),
    };
    let signed = |d: &str, bytes: &[u8]| Kind::DocumentSigned {
        doc: did(d),
        sha256: DocHash::of(bytes),
    };
    let all = vec![pid("east"), pid("north"), pid("south")];
    let decl1: &[u8] = b"Joint declaration, version 1.\nArticle 1. Cooperation.\n";
    let decl2: &[u8] =
        b"Joint declaration, version 2.\nArticle 1. Cooperation.\nArticle 2. Review.\n";
    let plan: &[u8] = b"Work plan 2024-2026.\n";
    let annex: [&[u8]; 3] = [
        b"Annex A, v1.\n",
        b"Annex A, v2.\n",
        b"Annex A, v3: final.\n",
    ];
    let memo: &[u8] = b"Memorandum on data exchange.\n";

    // (author, kind, document bytes)
    let script: Vec<(&str, Kind, Option<&[u8]>)> = vec![
        ("north", opened("s1", "Round one"), None),
        ("north", drafted("decl", decl1, all.clone()), Some(decl1)),
        ("south", note("Opening statements."), None),
        ("south", approved("decl", decl1), None),
        ("south", amended("decl", decl2), Some(decl2)),
        ("north", approved("decl", decl2), None),
        ("east", approved("decl", decl2), None),
        ("east", drafted("plan", plan, vec![]), Some(plan)),
        ("south", approved("plan", plan), None),
        ("north", signed("decl", decl2), None),
        ("south", signed("decl", decl2), None),
        ("east", signed("decl", decl2), None),
        ("north", closed("s1"), None),
        ("south", opened("s2", "Round two"), None),
        (
            "east",
            drafted("annex", annex[0], vec![pid("east"), pid("north")]),
            Some(annex[0]),
        ),
        ("north", amended("annex", annex[1]), Some(annex[1])),
        ("east", amended("annex", annex[2]), Some(annex[2])),
        (
            "north",
            note("Annex agreed.\nBoth delegations consulted."),
            None,
        ),
        ("east", signed("annex", annex[2]), None),
        ("north", signed("annex", annex[2]), None),
        (
            "south",
            drafted("memo", memo, vec![pid("south")]),
            Some(memo),
        ),
        ("north", approved("memo", memo), None),
        ("north", opened("s3", "Drafting group"), None),
        ("south", closed("s2"), None),
        ("south", signed("memo", memo), None),
        ("east", note("Next round in spring."), None),
        ("east", closed("s3"), None),
        ("north", opened("s1", "Round one, resumed"), None),
        ("south", closed("s1"), None),
    ];
    assert_eq!(script.len() + 1, EVENTS);

    writer::init(&dir, key("north"), "Tamper matrix", &parties, at(0)).unwrap();
    let mut w = Writer::open(&dir).unwrap();
    for (i, (who, kind, doc)) in script.iter().enumerate() {
        w.append(key(who), at(i + 1), kind.clone(), *doc).unwrap();
    }
    drop(w);

    // The other ledger: same parties and keys, its own random ledger id.
    let other_dir = tmp.path().join("other");
    writer::init(&other_dir, key("north"), "Tamper matrix", &parties, at(0)).unwrap();
    let mut w = Writer::open(&other_dir).unwrap();
    for (i, (who, kind, doc)) in script.iter().take(6).enumerate() {
        w.append(key(who), at(i + 1), kind.clone(), *doc).unwrap();
    }
    drop(w);
    let other = split(&std::fs::read(other_dir.join("events.cbor")).unwrap());

    let log = std::fs::read(dir.join("events.cbor")).unwrap();
    let store = Store::open(&dir, Access::Read).unwrap();
    let mut reader = LogReader::new(&log[..]);
    let (mut bounds, mut hashes, mut events) = (vec![], vec![], vec![]);
    let mut states: Vec<State> = vec![];
    while let Some(item) = reader.next_event().unwrap() {
        bounds.push(item.offset as usize);
        hashes.push(item.event.hash());
        events.push(item.event.clone());
        let next = match states.last() {
            None => State::genesis(item.event).unwrap().0,
            Some(s) => {
                let mut s = s.clone();
                s.apply(item.event, &store).unwrap();
                s
            }
        };
        states.push(next);
    }
    bounds.push(log.len());
    drop(store);
    assert_eq!(events.len(), EVENTS);
    let versions = events
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match &e.body.kind {
            Kind::DocumentDrafted { sha256, .. } | Kind::DocumentAmended { sha256, .. } => {
                Some((i, *sha256))
            }
            _ => None,
        })
        .collect();
    Fixture {
        _tmp: tmp,
        dir,
        log,
        bounds,
        hashes,
        events,
        states,
        keys,
        versions,
        other,
    }
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(build)
}

// ---------------------------------------------------------------------------
// Tampered copies, and what verify says about them.

/// A copy of the fixture's directory (`events.cbor` and `docs/`) with a
/// different log.
struct Scratch {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

fn scratch(log: &[u8]) -> Scratch {
    let fx = fixture();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ledger");
    std::fs::create_dir_all(dir.join("docs")).unwrap();
    for entry in std::fs::read_dir(fx.dir.join("docs")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.join("docs").join(entry.file_name())).unwrap();
    }
    std::fs::write(dir.join("events.cbor"), log).unwrap();
    Scratch { _tmp: tmp, dir }
}

impl Scratch {
    fn doc(&self, h: &DocHash) -> PathBuf {
        self.dir.join("docs").join(h.to_hex())
    }

    fn verify(&self, head: Option<EventHash>) -> Result<Report, VerifyError> {
        verify(
            &self.dir,
            &Options {
                head,
                ..Options::default()
            },
        )
    }
}

/// The failure of a verification that must fail.
fn failed(result: Result<Report, VerifyError>, what: &str) -> Failure {
    match result {
        Err(VerifyError::Failed(f)) => f,
        Err(e) => panic!("{what}: expected a verification failure, got the error {e}"),
        Ok(r) => panic!("{what}: verified ({} events, head {})", r.count, r.head),
    }
}

/// Requires `f` to name event `i` (at its offset in the log `bounds`
/// describe) with the given reason.
fn assert_event(f: &Failure, i: usize, offset: usize, reason: &str, what: &str) {
    assert_eq!(f.event, Some(i as u64), "{what}: wrong event in: {f}");
    assert_eq!(
        f.offset,
        Some(offset as u64),
        "{what}: wrong offset in: {f}"
    );
    assert_eq!(f.reason(), reason, "{what}: wrong reason");
    assert!(!f.is_torn_tail(), "{what}: not a torn tail: {f}");
}

fn sign(key: &SigningKey, body: &Body) -> Vec<u8> {
    Event::sign(key, body).unwrap().1
}

fn seq_error(expected: usize, found: usize) -> String {
    RuleError::Seq {
        expected: expected as u64,
        found: found as u64,
    }
    .to_string()
}

// ---------------------------------------------------------------------------
// The exhaustive single-byte matrix.

/// What `verify` does with `log` from event `k` on, resuming from the
/// verified state after event `k - 1`: `log` must begin with the first
/// `k` events of the fixture, unchanged. Same loop as verify's replay.
fn replay_from(docs: &Store, log: &[u8], k: usize) -> Result<(u64, EventHash), Failure> {
    let fx = fixture();
    let base = fx.bounds[k];
    assert_eq!(log[..base], fx.log[..base], "the prefix must be intact");
    let mut state = k.checked_sub(1).map(|i| fx.states[i].clone());
    let mut reader = LogReader::new(&log[base..]);
    loop {
        let index = state.as_ref().map_or(0, |s| s.count);
        let fail =
            |offset: u64, cause: Cause| Failure::at(Some(index), base as u64 + offset, cause);
        let item = match reader.next_event() {
            Ok(Some(item)) => item,
            Ok(None) => break,
            Err(ReadError::Io(e)) => panic!("reading from memory: {e}"),
            Err(ReadError::Format { offset, error }) => {
                // A torn tail only if no complete event follows (FORMAT §3):
                // otherwise a damaged length runs past the end of the file.
                let rest = &log[base + offset as usize..];
                let follows = (1..rest.len()).any(|i| {
                    rest[i] == 0xd2
                        && matches!(ledger::core::format::frame(&rest[i..]),
                            ledger::core::format::Frame::Item(n) if ledger::core::format::Event::decode(&rest[i..i + n]).is_ok())
                });
                let cause = if error == FormatError::Truncated && !follows {
                    Cause::TornTail {
                        bytes: rest.len() as u64,
                        intact: index,
                        zeros: false,
                    }
                } else {
                    Cause::Format(error)
                };
                return Err(fail(offset, cause));
            }
        };
        let offset = item.offset;
        match state.as_mut() {
            None => match State::genesis(item.event) {
                Ok((s, _)) => state = Some(s),
                Err(e) => return Err(fail(offset, Cause::Rule(e))),
            },
            Some(s) => {
                s.apply(item.event, docs)
                    .map_err(|e| fail(offset, Cause::Rule(e)))?;
            }
        }
    }
    let state = state.expect("an empty log is not tested here");
    Ok((state.count, state.head))
}

/// A coarse class of a failure's reason, for the figures.
fn class(f: &Failure) -> &'static str {
    let r = f.reason();
    let has = |s: &str| r.contains(s);
    if f.is_torn_tail() {
        "framing ran past the end of the log (reported as a torn tail)"
    } else if has("signature does not verify") {
        "signature does not verify (§6.6)"
    } else if has("kid does not identify") {
        "kid is not the author's (§6.5)"
    } else if has("is not a party") || has("(FORMAT §5.6)") {
        "author or party key (§5.6, §6.5)"
    } else if has("sequence number")
        || has("another ledger")
        || has("prev hash")
        || has("(FORMAT §6.4)")
    {
        "sequence, ledger id or chain (§6.3, §6.4)"
    } else if has("(FORMAT §6.7)") || has("(FORMAT §6.8)") || has("(FORMAT §6.9)") {
        "time or kind rules (§6.7-§6.9)"
    } else if has("COSE_Sign1") {
        "COSE envelope (§5.1)"
    } else if has("CBOR") || has("(FORMAT §4)") || has("bytes follow") || has("event is larger") {
        "CBOR well-formedness and determinism (§3, §4)"
    } else {
        "body fields, kinds, text and time syntax (§5.3-§5.5)"
    }
}

fn flip_matrix(mask: u8) {
    let fx = fixture();
    let docs = Store::open(&fx.dir, Access::Read).unwrap();
    let mut log = fx.log.clone();
    let mut classes: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut torn_before_last = 0;
    for p in 0..log.len() {
        let k = fx.event_at(p);
        log[p] ^= mask;
        let f = match replay_from(&docs, &log, k) {
            Err(f) => f,
            Ok((count, head)) => {
                panic!("byte {p} (event {k}) xor {mask:#04x} verified: {count} events, head {head}")
            }
        };
        log[p] ^= mask;
        assert_eq!(
            (f.event, f.offset),
            (Some(k as u64), Some(fx.bounds[k] as u64)),
            "byte {p} xor {mask:#04x} is in event {k} at offset {}, but the failure is: {f}",
            fx.bounds[k]
        );
        if f.is_torn_tail() && k + 1 < fx.len() {
            torn_before_last += 1;
        }
        *classes.entry(class(&f)).or_default() += 1;
    }
    eprintln!(
        "byte flips, xor {mask:#04x}: {} of {} bytes of {} events rejected, each at the event holding the byte:",
        classes.values().sum::<usize>(),
        log.len(),
        fx.len()
    );
    for (c, n) in &classes {
        eprintln!("  {n:6}  {c}");
    }
    eprintln!("  ({torn_before_last} of the torn-tail verdicts are for events before the last)");
}

#[test]
fn every_byte_xor_01_is_rejected_at_its_event() {
    flip_matrix(0x01);
}

#[test]
fn every_byte_xor_ff_is_rejected_at_its_event() {
    flip_matrix(0xff);
}

/// Byte positions inside an event that exercise each layer: the tag, the
/// protected header (kid), the payload's length, the body, the signature.
fn probe_positions(fx: &Fixture, k: usize) -> Vec<usize> {
    let (start, end) = (fx.bounds[k], fx.bounds[k + 1]);
    vec![
        start,
        start + 10,
        start + 43,
        (start + end) / 2,
        end - 40,
        end - 1,
    ]
}

/// For flips in every event, `verify` itself gives the verdict the matrix
/// computed: same event, offset, torn-tail flag and (but for the torn tail's
/// own wording) the same reason.
#[test]
fn flips_agree_with_verify() {
    let fx = fixture();
    let docs = Store::open(&fx.dir, Access::Read).unwrap();
    let mut cases = 0;
    for k in 0..fx.len() {
        let positions = probe_positions(fx, k);
        let p = positions[k % positions.len()];
        let mask = if k % 2 == 0 { 0x01 } else { 0xff };
        let mut log = fx.log.clone();
        log[p] ^= mask;
        let expected = replay_from(&docs, &log, k).unwrap_err();
        let f = failed(scratch(&log).verify(None), "a flipped byte");
        let what = format!("byte {p} (event {k}) xor {mask:#04x}");
        assert_eq!(f.event, expected.event, "{what}: {f}");
        assert_eq!(f.offset, expected.offset, "{what}: {f}");
        assert_eq!(f.is_torn_tail(), expected.is_torn_tail(), "{what}: {f}");
        // A truncation that the reference does not call a torn tail, verify
        // names more precisely (the damage, and where the next event is).
        if !f.is_torn_tail() && expected.cause != Cause::Format(FormatError::Truncated) {
            assert_eq!(f.cause, expected.cause, "{what}");
        }
        cases += 1;
    }
    // Flips that make an event claim more bytes than the log holds.
    for k in [3, EVENTS - 1] {
        let log = corrupt_length(k);
        let expected = replay_from(&docs, &log, k).unwrap_err();
        let f = failed(scratch(&log).verify(None), "a corrupted length");
        assert_eq!(
            (f.event, f.offset, f.is_torn_tail()),
            (expected.event, expected.offset, expected.is_torn_tail()),
            "{f}"
        );
        cases += 1;
    }
    eprintln!("flips checked against verify itself: {cases}, all agree");
}

// ---------------------------------------------------------------------------
// Truncation, rollback, forks.

#[test]
fn every_truncation_point() {
    let fx = fixture();
    let docs = Store::open(&fx.dir, Access::Read).unwrap();
    let head = Some(fx.head());
    // Inside an event: a torn tail at that event, whatever the options.
    let mut inside = 0;
    for t in 1..fx.log.len() {
        let j = fx.event_at(t);
        if fx.bounds[j] == t {
            continue;
        }
        let f = replay_from(&docs, &fx.log[..t], j).unwrap_err();
        assert!(f.is_torn_tail(), "cut at {t}: {f}");
        assert_eq!(f.event, Some(j as u64), "cut at {t}: {f}");
        assert_eq!(f.offset, Some(fx.bounds[j] as u64), "cut at {t}: {f}");
        inside += 1;
    }
    // The same through verify, at both ends of some events.
    for j in [0, 1, 14, EVENTS - 1] {
        for t in [fx.bounds[j] + 1, fx.bounds[j + 1] - 1] {
            for h in [None, head] {
                let f = failed(scratch(&fx.log[..t]).verify(h), "a torn tail");
                assert!(f.is_torn_tail(), "cut at {t}: {f}");
                assert_eq!(f.event, Some(j as u64), "cut at {t}: {f}");
                assert_eq!(f.offset, Some(fx.bounds[j] as u64), "cut at {t}: {f}");
            }
        }
    }
    // Nothing left: not a ledger.
    let f = failed(scratch(&[]).verify(None), "an empty log");
    assert_eq!(f.event, Some(0));
    assert_eq!(f.cause, Cause::Empty, "{f}");
    // At an event boundary: a shorter ledger that verifies, as documented
    // (FORMAT §6: truncation is caught by --head), and fails with --head.
    for j in 1..=fx.len() {
        let s = scratch(&fx.log[..fx.bounds[j]]);
        let r = s.verify(None).unwrap();
        assert_eq!((r.count, r.head), (j as u64, fx.hashes[j - 1]));
        let r = s.verify(Some(fx.hashes[j - 1])).unwrap();
        assert_eq!(r.count, j as u64);
        if j < fx.len() {
            let f = failed(s.verify(head), "a truncated ledger with --head");
            assert_eq!(f.event, None, "{f}");
            assert_eq!(f.cause, Cause::Head { head: fx.head() }, "{f}");
        } else {
            s.verify(head).unwrap();
        }
    }
    eprintln!(
        "truncations: {} points; {inside} inside an event (torn tail at that event; 8 of them also through verify, with and without --head), \
         1 empty, {} at event boundaries (verify without --head, rejected with the full head)",
        fx.log.len(),
        fx.len() - 1
    );
}

#[test]
fn rollback_and_fork_are_caught_by_head() {
    let fx = fixture();
    let head = Some(fx.head());
    for j in [1, 10, EVENTS - 1] {
        let s = scratch(&fx.log[..fx.bounds[j]]);
        let f = failed(s.verify(head), "a rollback");
        assert_eq!(f.event, None);
        assert!(matches!(f.cause, Cause::Head { .. }), "{f}");
    }
    // A fork: rolled back to 20 events, then extended by the parties with
    // other, correctly signed events.
    let s = scratch(&fx.log[..fx.bounds[20]]);
    let mut w = Writer::open(&s.dir).unwrap();
    for (i, text) in ["A different ending.", "Signed by everyone."]
        .iter()
        .enumerate()
    {
        let kind = Kind::Note {
            text: (*text).into(),
        };
        w.append(fx.key("south"), at(40 + i), kind, None).unwrap();
    }
    drop(w);
    let r = s.verify(None).unwrap();
    assert_eq!(r.count, 22);
    assert_ne!(r.head, fx.head());
    s.verify(Some(fx.hashes[19])).unwrap();
    let f = failed(s.verify(head), "a fork with --head");
    assert_eq!(f.event, None);
    assert!(matches!(f.cause, Cause::Head { .. }), "{f}");
}

// ---------------------------------------------------------------------------
// Moving whole events.

#[test]
fn swapped_deleted_and_duplicated_events() {
    let fx = fixture();
    let n = fx.len();
    let ev = |i: usize| fx.event(i).to_vec();
    let mut cases = 0;
    // Swaps: the first of the two positions fails (its seq is wrong).
    for (a, b) in [(0, 1), (1, 2), (7, 8), (3, 17), (n - 2, n - 1)] {
        let mut order: Vec<usize> = (0..n).collect();
        order.swap(a, b);
        let log: Vec<u8> = order.iter().flat_map(|&i| ev(i)).collect();
        let f = failed(scratch(&log).verify(None), "swapped events");
        assert_event(
            &f,
            a,
            fx.bounds[a],
            &seq_error(a, b),
            &format!("swap {a}, {b}"),
        );
        cases += 1;
    }
    // Deletions: the next event takes the deleted one's place and fails.
    for d in [0, 1, 12, n - 2] {
        let log: Vec<u8> = (0..n).filter(|&i| i != d).flat_map(ev).collect();
        let f = failed(scratch(&log).verify(None), "a deleted event");
        assert_event(
            &f,
            d,
            fx.bounds[d],
            &seq_error(d, d + 1),
            &format!("delete {d}"),
        );
        cases += 1;
    }
    // Deleting the last event is a truncation: only --head catches it.
    let s = scratch(&fx.log[..fx.bounds[n - 1]]);
    assert_eq!(s.verify(None).unwrap().count, (n - 1) as u64);
    assert_eq!(
        failed(s.verify(Some(fx.head())), "deleted last").event,
        None
    );
    cases += 1;
    // Duplicates: the copy fails where it stands.
    for d in [0, 5, n - 1] {
        let log: Vec<u8> = (0..n)
            .flat_map(|i| {
                if i == d {
                    [ev(i), ev(i)].concat()
                } else {
                    ev(i)
                }
            })
            .collect();
        let f = failed(scratch(&log).verify(None), "a duplicated event");
        assert_event(
            &f,
            d + 1,
            fx.bounds[d + 1],
            &seq_error(d + 1, d),
            &format!("duplicate {d}"),
        );
        cases += 1;
    }
    eprintln!(
        "swapped, deleted and duplicated events: {cases} cases, all rejected at the right event"
    );
}

#[test]
fn events_spliced_from_another_ledger() {
    let fx = fixture();
    let other_id = Event::decode(&fx.other[0]).unwrap().body.ledger;
    assert_ne!(other_id, fx.ledger_id());
    let wrong = |expected, found| RuleError::WrongLedger { expected, found }.to_string();
    let mut cases = 0;
    // Replaced in place, or inserted: same parties, same keys, same seq, a
    // correct signature, but another ledger id.
    for j in 1..fx.other.len() {
        let f = failed(
            scratch(&fx.with_event(j, &fx.other[j])).verify(None),
            "a spliced event",
        );
        let why = wrong(fx.ledger_id(), other_id);
        assert_event(&f, j, fx.bounds[j], &why, &format!("replace {j}"));
        let mut log = fx.log[..fx.bounds[j]].to_vec();
        log.extend_from_slice(&fx.other[j]);
        log.extend_from_slice(&fx.log[fx.bounds[j]..]);
        let f = failed(scratch(&log).verify(None), "an inserted event");
        assert_event(&f, j, fx.bounds[j], &why, &format!("insert at {j}"));
        cases += 2;
    }
    // The other ledger's genesis is itself valid: the first of ours after it
    // is the one that does not belong.
    let log = fx.with_event(0, &fx.other[0]);
    let f = failed(scratch(&log).verify(None), "a spliced genesis");
    let offset = fx.other[0].len();
    assert_event(
        &f,
        1,
        offset,
        &wrong(other_id, fx.ledger_id()),
        "replace genesis",
    );
    cases += 1;
    eprintln!(
        "events spliced from another ledger of the same parties: {cases} cases, all rejected"
    );
}

#[test]
fn events_signed_by_the_wrong_key() {
    let fx = fixture();
    let n = fx.len();
    let mallory = SigningKey::generate();
    let mut cases = 0;
    for j in [0, 1, 10, n - 1] {
        let body = fx.events[j].body.clone();
        let author = body.author.clone();
        let kid = fx.events[j].kid;
        // An outsider signs the event, with its own kid.
        let f = failed(
            scratch(&fx.with_event(j, &sign(&mallory, &body))).verify(None),
            "re-signed by an outsider",
        );
        let kid_error = RuleError::KidMismatch {
            author: author.clone(),
        }
        .to_string();
        assert_event(
            &f,
            j,
            fx.bounds[j],
            &kid_error,
            &format!("outsider, event {j}"),
        );
        // ... or claims the author's kid.
        let bytes = sign_as(&mallory, kid, &body).1;
        let f = failed(scratch(&fx.with_event(j, &bytes)).verify(None), "bad sig");
        let sig_error = RuleError::BadSignature {
            author: author.clone(),
        }
        .to_string();
        assert_event(
            &f,
            j,
            fx.bounds[j],
            &sig_error,
            &format!("forged, event {j}"),
        );
        // ... or names itself as the author.
        let mut forged = body.clone();
        forged.author = pid("mallory");
        let f = failed(
            scratch(&fx.with_event(j, &sign(&mallory, &forged))).verify(None),
            "an outsider as author",
        );
        let who = RuleError::UnknownAuthor {
            author: pid("mallory"),
        }
        .to_string();
        assert_event(&f, j, fx.bounds[j], &who, &format!("mallory, event {j}"));
        // Another party signs it, without changing the author.
        let other = if author.as_str() == "north" {
            "east"
        } else {
            "north"
        };
        let f = failed(
            scratch(&fx.with_event(j, &sign(fx.key(other), &body))).verify(None),
            "signed by another party",
        );
        assert_event(
            &f,
            j,
            fx.bounds[j],
            &kid_error,
            &format!("{other}, event {j}"),
        );
        cases += 4;
    }
    // A party re-signs an event of another party as its own: a valid event
    // in that place, but with another hash, so the next one's prev breaks.
    let j = 3;
    let mut body = fx.events[j].body.clone();
    assert_eq!(body.author.as_str(), "south");
    body.author = pid("east");
    let (event, bytes) = sign_as(fx.key("east"), fx.key("east").public().kid(), &body);
    let log = fx.with_event(j, &bytes);
    let f = failed(scratch(&log).verify(None), "a re-authored event");
    let broken = RuleError::BrokenLink {
        expected: event.hash(),
        found: fx.hashes[j],
    }
    .to_string();
    let offset = fx.bounds[j] + bytes.len();
    assert_event(&f, j + 1, offset, &broken, "re-authored event 3");
    // Re-authoring the last event leaves a valid ledger: only --head tells.
    let mut body = fx.events[n - 1].body.clone();
    body.author = pid("north");
    let s = scratch(&fx.with_event(n - 1, &sign(fx.key("north"), &body)));
    assert_eq!(s.verify(None).unwrap().count, n as u64);
    let f = failed(s.verify(Some(fx.head())), "re-authored last event");
    assert_eq!(f.event, None);
    cases += 2;
    eprintln!(
        "events signed with the wrong key: {cases} cases, all rejected (the last one by --head)"
    );
}

/// Replaces the single occurrence of `from` in `bytes` by `to`.
fn replace_once(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let hits: Vec<usize> = (0..=bytes.len() - from.len())
        .filter(|&i| &bytes[i..i + from.len()] == from)
        .collect();
    assert_eq!(hits.len(), 1, "expected one occurrence");
    let mut out = bytes.to_vec();
    out[hits[0]..hits[0] + from.len()].copy_from_slice(to);
    out
}

#[test]
fn party_keys_replaced_in_genesis() {
    let fx = fixture();
    let mallory = SigningKey::generate();
    let evil = mallory.public().to_bytes();
    let genesis = fx.event(0);
    let south = fx.key("south").public().to_bytes();
    let north = fx.key("north").public();
    let bad_sig = RuleError::BadSignature {
        author: pid("north"),
    }
    .to_string();
    let mut cases = 0;

    // South's key swapped in the stored bytes: genesis no longer verifies.
    let g = replace_once(genesis, &south, &evil);
    let f = failed(scratch(&fx.with_event(0, &g)).verify(None), "key swapped");
    assert_event(&f, 0, 0, &bad_sig, "south's key swapped");
    // The author's own key swapped: the kid no longer matches it...
    let g = replace_once(genesis, &north.to_bytes(), &evil);
    let f = failed(scratch(&fx.with_event(0, &g)).verify(None), "author key");
    let kid = RuleError::KidMismatch {
        author: pid("north"),
    }
    .to_string();
    assert_event(&f, 0, 0, &kid, "north's key swapped");
    // ... and with the kid swapped too, the signature does not verify.
    let g = replace_once(&g, &north.kid(), &mallory.public().kid());
    let f = failed(scratch(&fx.with_event(0, &g)).verify(None), "key and kid");
    assert_event(&f, 0, 0, &bad_sig, "north's key and kid swapped");
    cases += 3;

    // The creator re-signs a genesis with south's key replaced: genesis is
    // valid, but every later event names the original one as prev.
    let with_south_key = |key: [u8; 32]| {
        let mut body = fx.events[0].body.clone();
        let Kind::LedgerCreated { parties, .. } = &mut body.kind else {
            unreachable!()
        };
        parties.insert(pid("south"), key);
        body
    };
    let body = with_south_key(evil);
    let (event, g) = sign_as(fx.key("north"), north.kid(), &body);
    let f = failed(
        scratch(&fx.with_event(0, &g)).verify(None),
        "re-signed genesis",
    );
    let broken = RuleError::BrokenLink {
        expected: event.hash(),
        found: fx.hashes[0],
    }
    .to_string();
    assert_event(&f, 1, g.len(), &broken, "re-signed genesis");
    // ... or gives south the creator's own key: refused at genesis.
    let g = sign(fx.key("north"), &with_south_key(north.to_bytes()));
    let f = failed(scratch(&fx.with_event(0, &g)).verify(None), "shared key");
    assert_eq!(f.event, Some(0), "{f}");
    assert!(
        matches!(&f.cause, Cause::Rule(RuleError::BadPartyKey { reason, .. }) if reason.contains("same key")),
        "{f}"
    );
    cases += 2;

    // The creator and an outsider rewrite the whole history with south's
    // and east's keys replaced by the outsider's: it replays, as FORMAT §6
    // says it would; the auditor's --trust and --head catch it.
    let outsider: BTreeMap<&str, SigningKey> = [
        ("south", SigningKey::generate()),
        ("east", SigningKey::generate()),
    ]
    .into_iter()
    .collect();
    let key = |p: &PartyId| {
        outsider
            .get(p.as_str())
            .unwrap_or_else(|| fx.key(p.as_str()))
    };
    let mut log = Vec::new();
    let mut prev = None;
    for e in &fx.events {
        let mut body = e.body.clone();
        if let Kind::LedgerCreated { parties, .. } = &mut body.kind {
            for (p, k) in parties.iter_mut() {
                *k = key(p).public().to_bytes();
            }
        } else {
            body.prev = prev;
        }
        let (event, bytes) = sign_as(key(&body.author), key(&body.author).public().kid(), &body);
        prev = Some(event.hash());
        log.extend_from_slice(&bytes);
    }
    let s = scratch(&log);
    assert_eq!(s.verify(None).unwrap().count, fx.len() as u64);
    let trusted: Vec<ledger::core::trust::TrustedKey> = fx
        .keys
        .iter()
        .map(|(p, k)| ledger::core::trust::TrustedKey {
            label: p.to_string(),
            party: None,
            explicit: false,
            key: k.public(),
        })
        .collect();
    let options = Options {
        trust: Some(trusted),
        ..Options::default()
    };
    let f = failed(verify(&s.dir, &options), "a rewrite with --trust");
    assert_eq!(f.event, None);
    assert!(matches!(f.cause, Cause::Trust(_)), "{f}");
    let f = failed(s.verify(Some(fx.head())), "a rewrite with --head");
    assert!(matches!(f.cause, Cause::Head { .. }), "{f}");
    // The genuine ledger passes both.
    let options = Options {
        head: Some(fx.head()),
        ..options
    };
    verify(&fx.dir, &options).unwrap();
    cases += 2;
    eprintln!("party keys replaced in genesis: {cases} cases, all rejected (the full rewrite by --trust and --head)");
}

// ---------------------------------------------------------------------------
// Documents.

#[test]
fn tampered_documents_fail_at_their_event() {
    let fx = fixture();
    let mut cases = 0;
    let check = |s: &Scratch, i: usize, h: &DocHash, what: &str| {
        let f = failed(s.verify(None), what);
        assert_eq!(f.event, Some(i as u64), "{what}: {f}");
        assert_eq!(f.offset, Some(fx.bounds[i] as u64), "{what}: {f}");
        assert!(
            matches!(&f.cause, Cause::Rule(RuleError::Document { sha256, .. }) if sha256 == h),
            "{what}: {f}"
        );
    };
    for (n, (i, h)) in fx.versions.iter().enumerate() {
        let s = scratch(&fx.log);
        let path = s.doc(h);
        let original = std::fs::read(&path).unwrap();
        // One byte changed.
        let mut bytes = original.clone();
        bytes[n % original.len()] ^= 0x20;
        std::fs::write(&path, &bytes).unwrap();
        check(&s, *i, h, "a changed document");
        // Deleted.
        std::fs::remove_file(&path).unwrap();
        check(&s, *i, h, "a deleted document");
        // Truncated by one byte, or one byte longer.
        std::fs::write(&path, &original[..original.len() - 1]).unwrap();
        check(&s, *i, h, "a truncated document");
        std::fs::write(&path, [&original[..], b" "].concat()).unwrap();
        check(&s, *i, h, "an extended document");
        // Replaced by another version's bytes.
        let (_, other) = fx.versions[(n + 1) % fx.versions.len()];
        std::fs::copy(s.doc(&other), &path).unwrap();
        check(&s, *i, h, "a swapped document");
        cases += 5;
        // Put back, the ledger verifies again.
        std::fs::write(&path, &original).unwrap();
        assert_eq!(s.verify(None).unwrap().count, fx.len() as u64);
    }
    eprintln!(
        "tampered documents: {cases} cases over {} versions, all rejected at the drafting or amending event",
        fx.versions.len()
    );
}

// ---------------------------------------------------------------------------
// The command line.

/// Runs `ledger verify` and returns (exit code, stdout, stderr).
fn ledger_verify(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ledger"))
        .arg("verify")
        .arg(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn binary_names_the_event() {
    let fx = fixture();
    let n = fx.len();
    let head = fx.head().to_hex();
    let ev = |i: usize| fx.event(i).to_vec();
    let flip = |k: usize, which: usize, mask: u8| {
        let mut log = fx.log.clone();
        log[probe_positions(fx, k)[which]] ^= mask;
        log
    };
    // (what, log, extra arguments, expected event or None for --head/--trust)
    let mut cases: Vec<(String, Scratch, Vec<String>, Option<usize>)> = Vec::new();
    let mut add = |what: &str, s: Scratch, args: &[&str], event: Option<usize>| {
        let args = args.iter().map(|a| a.to_string()).collect();
        cases.push((what.to_owned(), s, args, event));
    };
    for (k, which, mask) in [
        (0, 0, 0x01),
        (1, 3, 0xff),
        (7, 5, 0x01),
        (15, 1, 0xff),
        (22, 2, 0x01),
        (n - 1, 4, 0xff),
    ] {
        add(
            &format!("flip in event {k}"),
            scratch(&flip(k, which, mask)),
            &[],
            Some(k),
        );
    }
    add(
        "cut inside event 12",
        scratch(&fx.log[..fx.bounds[12] + 50]),
        &[],
        Some(12),
    );
    let swapped: Vec<u8> = [
        &fx.log[..fx.bounds[5]],
        fx.event(6),
        fx.event(5),
        &fx.log[fx.bounds[7]..],
    ]
    .concat();
    add("events 5 and 6 swapped", scratch(&swapped), &[], Some(5));
    let deleted: Vec<u8> = (0..n).filter(|&i| i != 9).flat_map(ev).collect();
    add("event 9 deleted", scratch(&deleted), &[], Some(9));
    let dup: Vec<u8> = (0..n)
        .flat_map(|i| {
            if i == 14 {
                [ev(i), ev(i)].concat()
            } else {
                ev(i)
            }
        })
        .collect();
    add("event 14 duplicated", scratch(&dup), &[], Some(15));
    add(
        "event 2 from another ledger",
        scratch(&fx.with_event(2, &fx.other[2])),
        &[],
        Some(2),
    );
    let outsider = sign(&SigningKey::generate(), &fx.events[4].body);
    add(
        "event 4 signed by an outsider",
        scratch(&fx.with_event(4, &outsider)),
        &[],
        Some(4),
    );
    let g = replace_once(fx.event(0), &fx.key("south").public().to_bytes(), &[7; 32]);
    add(
        "south's key replaced in genesis",
        scratch(&fx.with_event(0, &g)),
        &[],
        Some(0),
    );
    let s = scratch(&fx.log);
    let (i, h) = fx.versions[2];
    std::fs::write(s.doc(&h), b"Not what was signed.\n").unwrap();
    add("a document changed", s, &[], Some(i));
    let s = scratch(&fx.log);
    let (i, h) = fx.versions[5];
    std::fs::remove_file(s.doc(&h)).unwrap();
    add("a document deleted", s, &[], Some(i));
    let mut body = fx.events[2].body.clone();
    body.author = pid("east");
    let bytes = sign(fx.key("east"), &body);
    add(
        "event 2 re-authored",
        scratch(&fx.with_event(2, &bytes)),
        &[],
        Some(3),
    );
    add(
        "rolled back to 10 events",
        scratch(&fx.log[..fx.bounds[10]]),
        &["--head", &head],
        None,
    );
    add(
        "rolled back to 29 events",
        scratch(&fx.log[..fx.bounds[29]]),
        &["--head", &head],
        None,
    );
    let s = scratch(&fx.log[..fx.bounds[20]]);
    let mut w = Writer::open(&s.dir).unwrap();
    let kind = Kind::Note {
        text: "Fork.".into(),
    };
    w.append(fx.key("east"), at(50), kind, None).unwrap();
    drop(w);
    add("a fork after event 19", s, &["--head", &head], None);
    let keys = tempfile::tempdir().unwrap();
    for (p, k) in &fx.keys {
        let mut pem = k.public().to_pem();
        if p.as_str() == "east" {
            pem = SigningKey::generate().public().to_pem();
        }
        std::fs::write(keys.path().join(format!("{p}.pub")), pem).unwrap();
    }
    let trust = keys.path().to_str().unwrap();
    add(
        "east's key is not the trusted one",
        scratch(&fx.log),
        &["--trust", trust],
        None,
    );
    assert_eq!(cases.len(), 20);

    for (what, s, args, event) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, stdout, stderr) = ledger_verify(&s.dir, &args);
        assert_eq!(code, 1, "{what}: exit code; stderr: {stderr}");
        assert_eq!(
            stderr.lines().count(),
            1,
            "{what}: one line on stderr: {stderr:?}"
        );
        assert!(stderr.starts_with("ledger: "), "{what}: {stderr}");
        assert!(!stdout.contains("OK"), "{what}: stdout says OK: {stdout}");
        match event {
            Some(k) => {
                let at = format!("event {k} (byte offset ");
                assert!(
                    stderr.contains(&at),
                    "{what}: stderr does not name event {k}: {stderr}"
                );
            }
            None => assert!(
                stderr.contains("--head") || stderr.contains("--trust"),
                "{what}: {stderr}"
            ),
        }
    }
    eprintln!(
        "ledger verify on {} tampered ledgers: exit 1 and a one-line error naming the event",
        cases.len()
    );
}

#[test]
fn the_untouched_fixture_verifies() {
    let fx = fixture();
    let s = scratch(&fx.log);
    let r = s.verify(Some(fx.hashes[0])).unwrap();
    assert_eq!((r.count, r.head), (fx.len() as u64, fx.head()));
    assert_eq!(r.documents.len(), 4);
    assert!(r
        .documents
        .iter()
        .all(|d| d.status != "awaiting-signatures"));
    let keys = tempfile::tempdir().unwrap();
    for (p, k) in &fx.keys {
        std::fs::write(keys.path().join(format!("{p}.pub")), k.public().to_pem()).unwrap();
    }
    let trust = keys.path().to_str().unwrap();
    let head = fx.head().to_hex();
    let (code, stdout, stderr) = ledger_verify(&s.dir, &["--head", &head, "--trust", trust]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(&head), "{stdout}");
}

// ---------------------------------------------------------------------------
// A finding: corruption mistaken for an interrupted append.

/// Flips the payload-length byte of event `k` from 0x58 (one length byte) to
/// 0x59 (two length bytes): the event now claims tens of kilobytes, more
/// than the rest of the log holds.
fn corrupt_length(k: usize) -> Vec<u8> {
    let fx = fixture();
    let p = fx.bounds[k] + 43;
    assert_eq!(fx.log[p], 0x58, "event {k}'s payload has a one-byte length");
    let mut log = fx.log.clone();
    log[p] ^= 0x01;
    log
}

/// FORMAT §3 calls a torn tail "the remains of an append that was
/// interrupted", which a writer may remove "since those bytes were never
/// part of a committed event". One flipped byte in event 3 of 30 makes
/// verify call events 3 to 29 (27 committed, signed events) a torn tail
/// left by an interrupted append, and say the next append removes it.
#[test]
fn corrupted_length_is_not_reported_as_a_torn_tail() {
    let s = scratch(&corrupt_length(3));
    let f = failed(s.verify(None), "a corrupted length");
    assert_eq!(f.event, Some(3), "{f}");
    assert!(
        !f.is_torn_tail(),
        "27 complete events follow; this is not a torn tail: {f}"
    );
}

/// The consequence: `Writer::open` (every `ledger append`, and `ledger
/// repair`) truncates the log at event 3 and carries on, deleting 27
/// committed events because of one flipped byte.
#[test]
fn writer_does_not_delete_committed_events() {
    let fx = fixture();
    let log = corrupt_length(3);
    let s = scratch(&log);
    let opened = Writer::open(&s.dir);
    let after = std::fs::read(s.dir.join("events.cbor")).unwrap();
    assert_eq!(
        after.len(),
        log.len(),
        "Writer::open cut the log from {} to {} bytes, deleting events 3 to {} (it said: {:?})",
        log.len(),
        after.len(),
        fx.len() - 1,
        opened
            .as_ref()
            .map(|w| w.repaired())
            .map_err(|e| e.to_string())
    );
    assert!(
        opened.is_err(),
        "a writer must refuse a ledger that fails verification"
    );
}
