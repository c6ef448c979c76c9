//! Property tests of the wire format (FORMAT §4-§5): arbitrary valid bodies
//! of every kind survive encode → sign → assemble → decode unchanged and
//! byte-identical, and the decoder accepts only canonical bytes: a single
//! changed byte of an event either fails to decode or yields an event whose
//! re-encoding is exactly the changed bytes (and whose signature then no
//! longer verifies).
//!
//! Case counts keep the file under ~30 s in a debug build; raise them with
//! `PROPTEST_CASES=5000 cargo test --release --test proptest_roundtrip`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use ledger::base::crypto::SigningKey;
use ledger::base::time::Timestamp;
use ledger::core::format::{
    protected_header, sig_structure, Body, DocHash, DocId, Event, EventHash, FormatError, Kind,
    LedgerId, PartyId, SessionId,
};
use proptest::collection::{btree_map, btree_set, vec};
use proptest::prelude::*;
use proptest::test_runner::Config;

#[allow(dead_code)]
#[path = "../fuzz/src/canonical.rs"]
mod canonical;

// ---------------------------------------------------------------------------
// Strategies for the field classes of FORMAT §5.4-§5.5.

/// An id: 1 to 64 bytes of `a-z 0-9 - _ .`, starting with a letter or
/// digit; the longest length half as likely as the rest together.
fn id_string() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[a-z0-9][a-z0-9._-]{0,15}",
        1 => "[a-z0-9][a-z0-9._-]{63}",
        1 => "[a-z0-9]",
    ]
}

fn party_id() -> impl Strategy<Value = PartyId> {
    id_string().prop_map(|s| PartyId::new(&s).unwrap())
}

/// Any character that is not a control character (U+0000-U+001F,
/// U+007F-U+009F): ASCII, Latin, CJK, emoji, combining marks, RTL marks...
fn visible_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range(' ', '~'),
        2 => any::<char>(),
        1 => proptest::sample::select(vec!['é', '中', '文', '😀', '\u{202e}', '\u{200b}', '\u{feff}', '\u{0301}', '\u{a0}', '\u{10ffff}']),
    ]
    .prop_filter("no control characters", |c| !c.is_control())
}

/// Cuts `s` to at most `max` bytes at a character boundary.
fn cut(mut s: String, max: usize) -> String {
    while s.len() > max {
        s.pop();
    }
    s
}

/// A line: 1 to 1024 bytes, no control characters.
fn line() -> impl Strategy<Value = String> {
    prop_oneof![
        10 => vec(visible_char(), 1..40).prop_map(|v| v.into_iter().collect::<String>()),
        1 => vec(visible_char(), 250..400).prop_map(|v| cut(v.into_iter().collect(), 1024)),
        1 => Just("x".repeat(1024)),
        1 => Just("é".repeat(512)),
    ]
}

/// A text: 1 to 65 000 bytes; line feeds and tabs allowed. The longest
/// generated is 64 000 bytes, near the most an event can hold (FORMAT §3
/// caps events at 65 535 bytes).
fn text() -> impl Strategy<Value = String> {
    let c = prop_oneof![6 => visible_char(), 1 => Just('\n'), 1 => Just('\t')];
    prop_oneof![
        20 => vec(c, 1..80).prop_map(|v| v.into_iter().collect::<String>()),
        1 => Just("\n".into()),
        1 => Just("y\t".repeat(32000)),
    ]
}

fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A time in the strict profile of FORMAT §5.5: years 0001-9999, real
/// calendar dates (29 February of leap years included), optional 1-9
/// digit fractions, `Z` or an offset up to ±23:59.
fn timestamp() -> impl Strategy<Value = Timestamp> {
    let date = (1u32..=9999, 1u32..=12, 1u32..=31)
        .prop_map(|(y, m, d)| (y, m, d.min(days_in_month(y, m))));
    let fraction = prop::option::of((1usize..=9, any::<u32>()));
    let offset = prop_oneof![
        Just(None),
        (any::<bool>(), 0u32..24, 0u32..60).prop_map(Some),
    ];
    (date, 0u32..24, 0u32..60, 0u32..60, fraction, offset).prop_map(
        |((y, mo, d), h, mi, s, fraction, offset)| {
            let mut t = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}");
            if let Some((digits, v)) = fraction {
                let v = u64::from(v) % 10u64.pow(digits as u32);
                t.push_str(&format!(".{v:0digits$}"));
            }
            match offset {
                None => t.push('Z'),
                Some((plus, oh, om)) => {
                    t.push_str(&format!("{}{oh:02}:{om:02}", if plus { '+' } else { '-' }))
                }
            }
            Timestamp::parse(&t).unwrap_or_else(|e| panic!("generated {t:?}: {e}"))
        },
    )
}

fn doc_hash() -> impl Strategy<Value = DocHash> {
    any::<[u8; 32]>().prop_map(DocHash)
}

fn kind() -> impl Strategy<Value = Kind> {
    let doc = || id_string().prop_map(|s| DocId::new(&s).unwrap());
    let session = || id_string().prop_map(|s| SessionId::new(&s).unwrap());
    let parties = prop_oneof![
        8 => btree_map(party_id(), any::<[u8; 32]>(), 1..6),
        1 => btree_map(party_id(), any::<[u8; 32]>(), 64..=64),
    ];
    let signatories = prop_oneof![
        8 => btree_set(party_id(), 0..6),
        1 => btree_set(party_id(), 64..=64),
    ]
    .prop_map(|s: BTreeSet<PartyId>| s.into_iter().collect::<Vec<_>>());
    prop_oneof![
        (line(), parties).prop_map(|(title, parties)| Kind::LedgerCreated { title, parties }),
        (
            session(),
            line(),
            prop::option::of(line()),
            prop::option::of(line()),
            prop::option::of(text())
        )
            .prop_map(
                |(session, title, place, chair, notes)| Kind::SessionOpened {
                    session,
                    title,
                    place,
                    chair,
                    notes
                }
            ),
        (session(), prop::option::of(text()))
            .prop_map(|(session, notes)| Kind::SessionClosed { session, notes }),
        (doc(), doc_hash(), line(), signatories).prop_map(|(doc, sha256, title, signatories)| {
            Kind::DocumentDrafted {
                doc,
                sha256,
                title,
                signatories,
            }
        }),
        (doc(), doc_hash(), prop::option::of(text()))
            .prop_map(|(doc, sha256, notes)| Kind::DocumentAmended { doc, sha256, notes }),
        (doc(), doc_hash()).prop_map(|(doc, sha256)| Kind::DocumentApproved { doc, sha256 }),
        (doc(), doc_hash()).prop_map(|(doc, sha256)| Kind::DocumentSigned { doc, sha256 }),
        text().prop_map(|text| Kind::Note { text }),
    ]
}

fn body() -> impl Strategy<Value = Body> {
    let seq = prop_oneof![0u64..1000, any::<u64>()];
    (
        any::<[u8; 16]>(),
        seq,
        prop::option::of(any::<[u8; 32]>()),
        timestamp(),
        party_id(),
        kind(),
    )
        .prop_map(|(ledger, seq, prev, time, author, kind)| Body {
            version: 1,
            ledger: LedgerId(ledger),
            seq,
            prev: prev.map(EventHash),
            time,
            author,
            kind,
        })
        // A valid body must also fit in an event once signed (FORMAT §3:
        // 65 535 stored bytes; the envelope adds about 120): a session
        // with three long lines and a long text does not.
        .prop_filter("fits in an event", |b| {
            b.encode().len() + 256 <= ledger::core::format::MAX_EVENT_BYTES
        })
}

// ---------------------------------------------------------------------------

fn key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(SigningKey::generate)
}

/// Signs `body` as FORMAT §5.2 says and assembles the stored event.
fn sign(body: &Body) -> (Event, Vec<u8>) {
    Event::sign(key(), body).expect("a valid body signs")
}

fn config(cases: u32) -> Config {
    Config {
        cases,
        // Failures are reported with their minimal input; do not write
        // proptest-regressions/ files into the tree.
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// decode(encode(x)) == x and encode(decode(bytes)) == bytes, for the
    /// body and for the signed event.
    #[test]
    fn encode_decode_round_trip(body in body()) {
        let payload = body.encode();
        prop_assert_eq!(Body::decode(&payload), Ok(body.clone()));
        prop_assert_eq!(Body::decode(&payload).unwrap().encode(), payload.clone());
        prop_assert!(canonical::parse(&payload, false).is_ok());

        let (assembled, stored) = sign(&body);
        prop_assert_eq!(&assembled.body, &body);
        let ev = Event::decode(&stored).expect("a signed valid body decodes");
        prop_assert_eq!(&ev.body, &body);
        prop_assert_eq!(ev.kid, key().public().kid());
        prop_assert_eq!(ev.payload(), payload.as_slice());
        prop_assert_eq!(ev.stored_len(), stored.len());
        prop_assert_eq!(ev.hash(), EventHash::of(&stored));
        prop_assert!(canonical::parse_event(&stored).is_ok());
        let (_, again) = Event::assemble(ev.kid, ev.body.encode(), ev.signature).unwrap();
        prop_assert_eq!(&again, &stored);
        prop_assert!(key().public().verify_strict(&ev.to_be_signed(), &ev.signature));
        // Every strict prefix is a torn tail (FORMAT §3).
        for cut in [1, stored.len() / 2, stored.len() - 1] {
            prop_assert_eq!(Event::decode(&stored[..cut]).map(|_| ()), Err(FormatError::Truncated));
        }
    }

    /// The decoder accepts only canonical bytes: after any single-byte
    /// change an event either fails to decode, or decodes to an event whose
    /// re-encoding is exactly the changed bytes; and then its signature no
    /// longer verifies (no second encoding carries the same signature).
    #[test]
    fn single_byte_mutations_are_rejected_or_canonical(
        body in body(),
        mutations in vec((any::<prop::sample::Index>(), 1u8..=255), 48),
    ) {
        let (_, stored) = sign(&body);
        for (at, delta) in mutations {
            let mut m = stored.clone();
            let i = at.index(m.len());
            m[i] = m[i].wrapping_add(delta);
            let Ok(ev) = Event::decode(&m) else { continue };
            let layers = canonical::parse_event(&m)
                .map_err(|e| TestCaseError::fail(format!("accepted non-canonical bytes ({e}): {}", hex::encode(&m))))?;
            let (_, again) = Event::assemble(ev.kid, ev.payload().to_vec(), ev.signature).unwrap();
            prop_assert_eq!(&again, &m, "re-assembly differs at byte {}", i);
            if !canonical::has_annotations(&layers.payload) {
                prop_assert_eq!(ev.body.encode(), ev.payload().to_vec());
                prop_assert_eq!(Body::decode(ev.payload()), Ok(ev.body.clone()));
            }
            prop_assert!(
                !key().public().verify_strict(&ev.to_be_signed(), &ev.signature),
                "byte {} changed and the signature still verifies", i
            );
        }
    }
}

proptest! {
    #![proptest_config(config(128))]

    /// The same for bodies with annotations (FORMAT §5.3): keys that start
    /// with `_` are kept in the signed payload, ignored by the decoded
    /// `Body`, and the payload still has to be canonical.
    #[test]
    fn annotations_are_signed_and_ignored(
        body in body(),
        notes in btree_map("_[a-z_]{0,12}", any::<u32>(), 1..4),
    ) {
        use ciborium::value::Value;
        let mut v: Value = ciborium::de::from_reader(body.encode().as_slice()).unwrap();
        let Value::Map(entries) = &mut v else { unreachable!() };
        for (k, n) in &notes {
            entries.push((Value::Text(k.clone()), Value::Integer((*n).into())));
        }
        let payload = ledger::core::format::encode_value(v);
        prop_assert_eq!(Body::decode(&payload), Ok(body.clone()));
        // A body near the event cap has no room left for annotations.
        prop_assume!(payload.len() + 256 <= ledger::core::format::MAX_EVENT_BYTES);
        let key = key();
        let kid = key.public().kid();
        let sig = key.sign(&sig_structure(&protected_header(&kid), &payload));
        let (ev, stored) = Event::assemble(kid, payload.clone(), sig).unwrap();
        prop_assert_eq!(&ev.body, &body);
        prop_assert_eq!(ev.payload(), payload.as_slice());
        let layers = canonical::parse_event(&stored).unwrap();
        prop_assert!(canonical::has_annotations(&layers.payload));
        // Unsorted annotations are not canonical.
        let mut v: Value = ciborium::de::from_reader(payload.as_slice()).unwrap();
        let Value::Map(entries) = &mut v else { unreachable!() };
        entries.reverse();
        let mut unsorted = Vec::new();
        ciborium::ser::into_writer(&v, &mut unsorted).unwrap();
        prop_assert!(Body::decode(&unsorted).is_err());
    }
}

/// The generators cover what they claim: every kind, unicode, offsets,
/// fractions, and the longest fields.
#[test]
fn the_generators_cover_every_kind() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut kinds = BTreeSet::new();
    let (mut unicode, mut offset, mut fraction) = (false, false, false);
    let strategy = body();
    for _ in 0..400 {
        let b = strategy.new_tree(&mut runner).unwrap().current();
        kinds.insert(b.kind.name());
        let t = b.time.as_str();
        offset |= !t.ends_with('Z');
        fraction |= t.contains('.');
        unicode |= !format!("{:?}", b.kind).is_ascii();
    }
    assert_eq!(kinds.len(), 8, "{kinds:?}");
    assert!(unicode && offset && fraction);
    let parties: BTreeMap<PartyId, [u8; 32]> = (0..64)
        .map(|i| (PartyId::new(&format!("p{i}")).unwrap(), [i as u8; 32]))
        .collect();
    let b = Body {
        version: 1,
        ledger: LedgerId([1; 16]),
        seq: u64::MAX,
        prev: Some(EventHash([2; 32])),
        time: Timestamp::parse("9999-12-31T23:59:59.999999999-23:59").unwrap(),
        author: PartyId::new(&"z".repeat(64)).unwrap(),
        kind: Kind::LedgerCreated {
            title: "t".repeat(1024),
            parties,
        },
    };
    let (ev, stored) = sign(&b);
    assert_eq!(Event::decode(&stored).unwrap().body, ev.body);
}

/// Long texts whose multi-byte characters straddle the decoder's internal
/// 4 KiB read boundaries, at every alignment, up to the 65 000-byte limit.
#[test]
fn long_unicode_texts_round_trip_at_every_alignment() {
    for (prefix, unit) in [
        (0, "é"),
        (1, "é"),
        (0, "中"),
        (1, "中"),
        (2, "中"),
        (0, "😀"),
        (1, "😀"),
        (2, "😀"),
        (3, "😀"),
    ] {
        let mut text = "x".repeat(prefix);
        while text.len() + unit.len() <= 65_000 {
            text.push_str(unit);
        }
        let body = Body {
            version: 1,
            ledger: LedgerId([1; 16]),
            seq: 1,
            prev: Some(EventHash([2; 32])),
            time: Timestamp::parse("2017-06-14T10:00:00+08:00").unwrap(),
            author: PartyId::new("most").unwrap(),
            kind: Kind::Note { text },
        };
        let payload = body.encode();
        assert_eq!(Body::decode(&payload), Ok(body.clone()), "{prefix} {unit}");
        let (_, stored) = sign(&body);
        assert!(stored.len() <= ledger::core::format::MAX_EVENT_BYTES);
        // A text of the longest length fits in a note (FORMAT §3, §5.4);
        // the text cut by a thousand bytes fits too.
        let Kind::Note { text } = &body.kind else {
            unreachable!()
        };
        let mut cut = text.len() - 1000;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let body = Body {
            kind: Kind::Note {
                text: text[..cut].to_owned(),
            },
            ..body
        };
        let (_, stored) = sign(&body);
        assert!(stored.len() <= ledger::core::format::MAX_EVENT_BYTES);
        assert_eq!(Event::decode(&stored).unwrap().body, body);
    }
}
