//! The fixed-schema decoder (`format::schema`) against the reference
//! decoder (`format::reference`: ciborium `Value` trees re-encoded and
//! compared, FORMAT §4) on mutated real events: every event of the sample
//! ledger and every committed decode_event fuzz seed, each with every
//! single-byte change of a few kinds, truncations and insertions, plus
//! generated annotations (canonical or not, of every CBOR type) inside a
//! real envelope. The two must agree on every input: the same verdict,
//! the same decoded event, and `Event::decode` / `Body::decode` giving
//! exactly the reference's error. The fuzz target `decode_diff` checks
//! the same on arbitrary bytes (docs/fuzzing-figures.md).

use std::path::Path;

use ciborium::value::Value;
use ledger::core::format::{
    encode_value, frame, reference, schema, sig_structure, Body, Event, Frame, EXTERNAL_AAD,
};
use proptest::prelude::*;

type Parts = (
    Body,
    [u8; 32],
    [u8; 64],
    String,
    [u8; 32],
    usize,
    Vec<u8>,
    Vec<u8>,
);

fn parts(e: &Event) -> Parts {
    (
        e.body.clone(),
        e.kid,
        e.signature,
        e.hash().to_hex(),
        e.leaf_hash(),
        e.stored_len(),
        e.payload().to_vec(),
        e.to_be_signed(),
    )
}

/// Asserts agreement on `data` as an event and as a payload; returns
/// whether the reference accepted it as an event.
fn agree(data: &[u8]) -> bool {
    let fast = schema::event(data);
    let slow = reference::event(data);
    match (&fast, &slow) {
        (Some(f), Ok(r)) => {
            assert_eq!(parts(f), parts(r), "events differ on {}", hex::encode(data))
        }
        (Some(_), Err(e)) => panic!(
            "schema accepts what the reference refuses ({e}): {}",
            hex::encode(data)
        ),
        (None, Ok(_)) => panic!(
            "the reference accepts what schema does not: {}",
            hex::encode(data)
        ),
        (None, Err(_)) => {}
    }
    assert_eq!(
        Event::decode(data).map(|e| parts(&e)),
        slow.as_ref().map(parts).map_err(Clone::clone),
        "Event::decode's verdict on {}",
        hex::encode(data)
    );
    for payload in [data, data.get(43..).unwrap_or_default()] {
        let fast = schema::body(payload);
        let slow = reference::body(payload);
        match (&fast, &slow) {
            (Some(f), Ok(r)) => assert_eq!(f, r, "bodies differ on {}", hex::encode(payload)),
            (Some(_), Err(e)) => panic!(
                "schema accepts a payload the reference refuses ({e}): {}",
                hex::encode(payload)
            ),
            (None, Ok(_)) => panic!(
                "the reference accepts a payload schema does not: {}",
                hex::encode(payload)
            ),
            (None, Err(_)) => {}
        }
        assert_eq!(Body::decode(payload), slow, "Body::decode's verdict");
    }
    slow.is_ok()
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The sample ledger's events, one by one.
fn sample_events() -> Vec<Vec<u8>> {
    let log = std::fs::read(root().join("ledger/events.cbor")).unwrap();
    let mut out = Vec::new();
    let mut rest = &log[..];
    while let Frame::Item(n) = frame(rest) {
        out.push(rest[..n].to_vec());
        rest = &rest[n..];
    }
    assert!(rest.is_empty() && out.len() > 5);
    out
}

fn seeds() -> Vec<Vec<u8>> {
    let dir = root().join("fuzz/seeds/decode_event");
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    out.sort();
    out
}

#[test]
fn every_sample_event_and_seed_decodes_alike() {
    let events = sample_events();
    for e in &events {
        assert!(agree(e), "a sample event is refused");
    }
    let accepted = seeds().iter().filter(|s| agree(s)).count();
    assert!(accepted >= 14, "only {accepted} seeds decode");
}

#[test]
fn single_byte_changes_truncations_and_insertions_decode_alike() {
    let (mut accepted, mut refused) = (0, 0);
    for e in sample_events().iter().take(8) {
        for i in 0..e.len() {
            for v in [
                e[i] ^ 0x01,
                e[i] ^ 0x20,
                e[i].wrapping_add(1),
                0x00,
                0xff,
                0x60,
                0xa0,
                0x18,
            ] {
                let mut m = e.clone();
                m[i] = v;
                if agree(&m) {
                    accepted += 1
                } else {
                    refused += 1
                }
            }
            agree(&e[..i]);
            let mut m = e.clone();
            m.insert(i, 0x00);
            agree(&m);
        }
    }
    // A change inside a text or the signature still decodes: both paths
    // are exercised.
    assert!(
        accepted > 100 && refused > 1000,
        "accepted {accepted}, refused {refused}"
    );
}

#[test]
fn sig_structure_is_the_deterministic_encoding() {
    let e = Event::decode(&sample_events()[1]).unwrap();
    let protected = ledger::core::format::protected_header(&e.kid);
    for payload in [
        &b""[..],
        &[7; 23],
        &[7; 24],
        &[7; 255],
        &[7; 256],
        e.payload(),
        &[1; 65_535],
        &[2; 65_536],
    ] {
        let reference = encode_value(Value::Array(vec![
            Value::Text("Signature1".into()),
            Value::Bytes(protected.clone()),
            Value::Bytes(EXTERNAL_AAD.to_vec()),
            Value::Bytes(payload.to_vec()),
        ]));
        assert_eq!(sig_structure(&protected, payload), reference);
    }
}

/// A CBOR item, written head by head so that it may be non-canonical:
/// (bytes, whether a deterministic encoder would write exactly these).
fn item(depth: u32) -> BoxedStrategy<Vec<u8>> {
    let head = |major: u8, n: u64, long: bool| -> Vec<u8> {
        let m = major << 5;
        match (n, long) {
            (0..=23, false) => vec![m | n as u8],
            (0..=0xff, _) => vec![m | 24, n as u8],
            _ => {
                let mut v = vec![m | 27];
                v.extend(n.to_be_bytes());
                v
            }
        }
    };
    let leaf = prop_oneof![
        (any::<u64>(), any::<bool>(), 0u8..2).prop_map(move |(n, long, major)| head(
            major,
            n % 300,
            long && n % 7 == 0
        )),
        proptest::collection::vec(any::<u8>(), 0..30).prop_map(move |b| [
            head(2, b.len() as u64, false),
            b
        ]
        .concat()),
        "[a-z_\u{e9}]{0,12}"
            .prop_map(move |s| [head(3, s.len() as u64, false), s.into_bytes()].concat()),
        // Invalid UTF-8, floats, simple values, tags, indefinite lengths.
        Just(vec![0x62, 0xc3, 0x28]),
        Just(vec![0xf9, 0x3c, 0x00]),
        Just(vec![0xf4]),
        Just(vec![0xf6]),
        Just(vec![0xc2, 0x41, 0x01]),
        Just(vec![0xd2, 0x00]),
        Just(vec![0x9f, 0x01, 0xff]),
        Just(vec![0x1c]),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    prop_oneof![
        4 => leaf,
        1 => proptest::collection::vec(item(depth - 1), 0..4).prop_map(move |items| {
            [head(4, items.len() as u64, false), items.concat()].concat()
        }),
        1 => proptest::collection::vec((item(0), item(depth - 1)), 0..4).prop_map(move |entries| {
            let mut entries = entries;
            if entries.len() % 2 == 0 {
                entries.sort();
            }
            let mut v = head(5, entries.len() as u64, false);
            for (k, val) in entries {
                v.extend(k);
                v.extend(val);
            }
            v
        }),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    /// A real event's payload with entries added (annotations, known and
    /// unknown fields, duplicates, any order), in a real envelope.
    #[test]
    fn added_entries_decode_alike(
        which in 0usize..14,
        added in proptest::collection::vec(("_?[a-z]{0,6}", item(3), any::<bool>()), 1..4),
        deep in 0u32..20,
    ) {
        let events = sample_events();
        let e = &events[which % events.len()];
        let event = Event::decode(e).unwrap();
        let Value::Map(mut entries) = ciborium::de::from_reader::<Value, _>(event.payload()).unwrap() else { unreachable!() };
        let mut raw: Vec<(Vec<u8>, Vec<u8>)> = entries
            .drain(..)
            .map(|(k, v)| (encode_value(k), encode_value(v)))
            .collect();
        for (key, value, front) in added {
            let k = encode_value(Value::Text(key));
            let mut value = value;
            // Nesting around the value, up to past the 16-level limit.
            for _ in 0..deep / 2 {
                value = [vec![0x81], value].concat();
            }
            if front { raw.insert(0, (k, value)) } else { raw.push((k, value)) }
        }
        if deep % 3 != 0 {
            raw.sort();
            raw.sort_by_key(|(k, _)| k.len());
        }
        let mut payload = vec![0xa0 | raw.len() as u8];
        for (k, v) in raw {
            payload.extend(k);
            payload.extend(v);
        }
        let mut stored = e[..42].to_vec();
        stored.push(0xa0);
        stored.extend(match payload.len() {
            n @ 0..=23 => vec![0x40 | n as u8],
            n @ 24..=255 => vec![0x58, n as u8],
            n => { let mut v = vec![0x59]; v.extend((n as u16).to_be_bytes()); v }
        });
        stored.extend(&payload);
        stored.extend([0x58, 0x40]);
        stored.extend(event.signature);
        agree(&stored);
        agree(&payload);
    }
}
