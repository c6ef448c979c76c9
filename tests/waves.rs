//! Verify checks signatures in parallel waves and replays in order
//! (docs/PERFORMANCE.md). Its verdict must be the one a sequential,
//! one-event-at-a-time strict verifier gives: for a bad signature at every
//! position of a ledger large enough to be split across threads, and at
//! the positions around a wave boundary, the first bad event is named,
//! with the signature as the reason, and nothing after it is trusted.

mod common;

use std::fs;
use std::path::Path;

use common::Fx;
use ledger::base::crypto::SigningKey;
use ledger::base::time::Timestamp;
use ledger::core::format::{frame, Event, Frame, Kind};
use ledger::core::verify::{self, Options, VerifyError};
use ledger::core::writer::Writer;

/// Grows `fx`'s ledger to `to` events of notes, alternating signers.
fn grow(fx: &Fx, to: u64) {
    let keys: Vec<SigningKey> = ["ann", "bob"]
        .iter()
        .map(|who| SigningKey::from_file(&fx.p(&format!("keys/{who}.key"))).unwrap())
        .collect();
    let mut w = Writer::open(&fx.p("led")).unwrap();
    while w.state().count < to {
        let n = w.state().count;
        // One second apart, from after the fixture's own events.
        let t = Timestamp::from_unix(1_800_000_000 + n as i64).unwrap();
        let kind = Kind::Note {
            text: format!("note {n}"),
        };
        w.append(&keys[(n % 2) as usize], Some(t), kind, None)
            .unwrap();
    }
}

/// The stored bytes of each event of the log.
fn events(log: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while let Frame::Item(n) = frame(&log[pos..]) {
        out.push(pos..pos + n);
        pos += n;
    }
    assert_eq!(pos, log.len());
    out
}

/// The verdict of a sequential verifier: the first event whose signature
/// does not verify strictly under its signer's key (all signers here are
/// genesis keys), checked one at a time.
fn first_bad_signature(log: &[u8], ranges: &[std::ops::Range<usize>], fx: &Fx) -> Option<u64> {
    let keys: Vec<_> = ["ann", "bob"]
        .iter()
        .map(|who| {
            SigningKey::from_file(&fx.p(&format!("keys/{who}.key")))
                .unwrap()
                .public()
        })
        .collect();
    ranges.iter().enumerate().find_map(|(i, r)| {
        let e = Event::decode(&log[r.clone()]).unwrap();
        let key = keys.iter().find(|k| k.kid() == e.kid).unwrap();
        (!key.verify_strict(&e.to_be_signed(), &e.signature)).then_some(i as u64)
    })
}

/// Flips one bit of the signature of event `i` (its last bytes: the
/// signature is the envelope's last item), runs verify, restores the log.
fn verdict_with_bad_signature(
    dir: &Path,
    log: &[u8],
    range: &std::ops::Range<usize>,
) -> VerifyError {
    let mut bad = log.to_vec();
    bad[range.end - 10] ^= 0x01;
    fs::write(dir.join("events.cbor"), &bad).unwrap();
    let r = verify::verify_with(dir, &Options::default(), &mut |_| {});
    fs::write(dir.join("events.cbor"), log).unwrap();
    match r {
        Err(e) => e,
        Ok(_) => panic!("a bad signature at byte {} verified", range.end - 10),
    }
}

fn check(fx: &Fx, log: &[u8], ranges: &[std::ops::Range<usize>], positions: &[usize]) {
    let dir = fx.p("led");
    for &i in positions {
        let mut bad = log.to_vec();
        bad[ranges[i].end - 10] ^= 0x01;
        assert_eq!(
            first_bad_signature(&bad, ranges, fx),
            Some(i as u64),
            "the sequential reference"
        );
        match verdict_with_bad_signature(&dir, log, &ranges[i]) {
            VerifyError::Failed(f) => {
                assert_eq!(f.event, Some(i as u64), "{f}");
                assert_eq!(f.offset, Some(ranges[i].start as u64), "{f}");
                assert!(
                    matches!(
                        f.cause,
                        verify::Cause::Rule(ledger::core::replay::RuleError::BadSignature { .. })
                    ),
                    "{f}"
                );
                assert!(!f.is_torn_tail(), "{f}");
            }
            other => panic!("event {i}: {other}"),
        }
    }
}

#[test]
fn a_bad_signature_in_every_position_of_a_parallel_wave_is_named() {
    // 200 events: waves are split across threads from 64 events on.
    let fx = Fx::with_ledger();
    grow(&fx, 200);
    let log = fx.read("led/events.cbor");
    let ranges = events(&log);
    assert_eq!(ranges.len(), 200);
    let all: Vec<usize> = (1..200).collect();
    check(&fx, &log, &ranges, &all);
    verify::verify_with(&fx.p("led"), &Options::default(), &mut |_| {}).unwrap();
}

#[test]
fn a_bad_signature_around_a_wave_boundary_is_named() {
    // Waves hold 2,048 events; the genesis is taken alone, so the first
    // boundaries fall after events 2,048 and 4,096.
    let fx = Fx::with_ledger();
    grow(&fx, 4_200);
    let log = fx.read("led/events.cbor");
    let ranges = events(&log);
    let around = [
        1, 2, 1_023, 1_024, 2_046, 2_047, 2_048, 2_049, 2_050, 4_095, 4_096, 4_097, 4_199,
    ];
    check(&fx, &log, &ranges, &around);
    // Two bad signatures: the first in log order is the verdict, whichever
    // thread found the other first.
    for (a, b) in [(2_049, 100), (4_097, 3_000), (30, 31)] {
        let mut bad = log.clone();
        bad[ranges[a].end - 10] ^= 0x01;
        bad[ranges[b].end - 10] ^= 0x01;
        fs::write(fx.p("led/events.cbor"), &bad).unwrap();
        let r = verify::verify_with(&fx.p("led"), &Options::default(), &mut |_| {});
        fs::write(fx.p("led/events.cbor"), &log).unwrap();
        match r {
            Err(VerifyError::Failed(f)) => assert_eq!(f.event, Some(a.min(b) as u64), "{f}"),
            other => panic!("{other:?}"),
        }
    }
}

/// The document files a wave names are read on the wave's threads, beside
/// the signatures; the verdict must still be the sequential one: a missing
/// or altered document is blamed on the first event that needs it, and a
/// bad signature before it comes first.
#[test]
fn a_bad_document_in_a_parallel_wave_is_named_at_its_event() {
    use ledger::core::format::{DocHash, DocId, PartyId};
    use ledger::core::replay::RuleError;
    use ledger::core::verify::Cause;
    let fx = Fx::with_ledger();
    let ann = SigningKey::from_file(&fx.p("keys/ann.key")).unwrap();
    let mut drafted = Vec::new();
    {
        let mut w = Writer::open(&fx.p("led")).unwrap();
        while w.state().count < 300 {
            let n = w.state().count;
            let t = Timestamp::from_unix(1_800_000_000 + n as i64).unwrap();
            if n % 10 == 5 {
                let bytes = format!("document {n}\n").into_bytes();
                let kind = Kind::DocumentDrafted {
                    doc: DocId::new(&format!("doc-{n}")).unwrap(),
                    sha256: DocHash::of(&bytes),
                    title: "T".into(),
                    signatories: vec![PartyId::new("ann").unwrap()],
                };
                w.append(&ann, Some(t), kind, Some(&bytes)).unwrap();
                drafted.push((n, DocHash::of(&bytes)));
            } else {
                let kind = Kind::Note {
                    text: format!("note {n}"),
                };
                w.append(&ann, Some(t), kind, None).unwrap();
            }
        }
    }
    verify::verify_with(&fx.p("led"), &Options::default(), &mut |_| {}).unwrap();
    let log = fx.read("led/events.cbor");
    let ranges = events(&log);
    for &(n, hash) in [drafted[0], drafted[13], drafted[drafted.len() - 1]].iter() {
        let path = fx.p(&format!("led/docs/{}", hash.to_hex()));
        let original = fs::read(&path).unwrap();
        for damage in ["missing", "altered"] {
            if damage == "missing" {
                fs::remove_file(&path).unwrap();
            } else {
                fs::write(&path, b"something else\n").unwrap();
            }
            let r = verify::verify_with(&fx.p("led"), &Options::default(), &mut |_| {});
            match r {
                Err(VerifyError::Failed(f)) => {
                    assert_eq!(f.event, Some(n), "{damage}: {f}");
                    assert!(
                        matches!(f.cause, Cause::Rule(RuleError::Document { .. })),
                        "{damage}: {f}"
                    );
                }
                other => panic!("{damage}: {other:?}"),
            }
            // A bad signature earlier in the same wave is the verdict.
            let mut bad = log.clone();
            bad[ranges[n as usize - 3].end - 10] ^= 0x01;
            fs::write(fx.p("led/events.cbor"), &bad).unwrap();
            let r = verify::verify_with(&fx.p("led"), &Options::default(), &mut |_| {});
            fs::write(fx.p("led/events.cbor"), &log).unwrap();
            match r {
                Err(VerifyError::Failed(f)) => assert_eq!(f.event, Some(n - 3), "{f}"),
                other => panic!("{other:?}"),
            }
            fs::write(&path, &original).unwrap();
        }
    }
    verify::verify_with(&fx.p("led"), &Options::default(), &mut |_| {}).unwrap();
}
