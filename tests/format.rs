//! The wire format (FORMAT §3-§5) at the library level: every kind round
//! trips through `Body` and `Event`, and every decoding rule rejects its
//! malformed input with its own `FormatError` variant.
//!
//! Malformed inputs are built with `ciborium::value::Value` (which
//! `into_writer` encodes exactly as given: no sorting, no deduplication) or
//! by hand, and are signed over their own bytes, so that each test breaks
//! one format rule and nothing else. The decoder does not check signatures
//! (replay does), but a stray signature problem must never be what a test
//! relies on.

use std::collections::BTreeMap;
use std::io::BufReader;

use ciborium::value::Value;
use ledger::base::crypto::SigningKey;
use ledger::base::time::Timestamp;
use ledger::core::format::{
    protected_header, sig_structure, Body, DocHash, DocId, Event, EventHash, FormatError, Kid,
    Kind, LedgerId, LogReader, PartyId, ReadError, SessionId, EXTERNAL_AAD, MAX_EVENT_BYTES,
};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Encodes a value exactly as given (ciborium does not sort or dedup).
fn enc(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(v, &mut out).unwrap();
    out
}

/// Decodes one CBOR item leniently (no format rules), for editing.
fn dec(bytes: &[u8]) -> Value {
    ciborium::de::from_reader(bytes).unwrap()
}

fn t(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn i(n: i64) -> Value {
    Value::Integer(n.into())
}

fn b(bytes: &[u8]) -> Value {
    Value::Bytes(bytes.to_vec())
}

fn pid(s: &str) -> PartyId {
    PartyId::new(s).unwrap()
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn h(hex_str: &str) -> Vec<u8> {
    hex::decode(hex_str.replace([' ', '\n'], "")).unwrap()
}

/// Replaces the single occurrence of `from` in `haystack` with `to`.
#[track_caller]
fn splice(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let hits: Vec<usize> = haystack
        .windows(from.len())
        .enumerate()
        .filter(|(_, w)| *w == from)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "{} occurs {} times",
        hex::encode(from),
        hits.len()
    );
    let at = hits[0];
    let mut out = haystack[..at].to_vec();
    out.extend_from_slice(to);
    out.extend_from_slice(&haystack[at + from.len()..]);
    out
}

const LEDGER: LedgerId = LedgerId([7; 16]);

fn key() -> SigningKey {
    SigningKey::generate()
}

fn kid_of(key: &SigningKey) -> [u8; 32] {
    key.public().kid()
}

/// A body of `kind` in a plausible place in a log.
fn body(kind: Kind) -> Body {
    let genesis = matches!(kind, Kind::LedgerCreated { .. });
    Body {
        version: 1,
        ledger: LEDGER,
        seq: if genesis { 0 } else { 3 },
        prev: if genesis {
            None
        } else {
            Some(EventHash([0xab; 32]))
        },
        time: ts("2017-06-14T09:30:00+08:00"),
        author: pid("alice"),
        kind,
    }
}

fn note(text: &str) -> Kind {
    Kind::Note { text: text.into() }
}

fn note_body() -> Body {
    body(note("hello"))
}

fn parties(ids: &[&str]) -> BTreeMap<PartyId, [u8; 32]> {
    ids.iter()
        .map(|id| (pid(id), key().public().to_bytes()))
        .collect()
}

/// One body of every kind, with the optional fields both present and
/// absent.
fn every_kind() -> Vec<Body> {
    let sha = DocHash::of(b"the treaty, v1\n");
    let doc = DocId::new("joint-declaration").unwrap();
    let session = SessionId::new("plenary").unwrap();
    let kinds = vec![
        Kind::LedgerCreated {
            title: "1st Innovation Dialogue".into(),
            parties: parties(&["alice", "bob", "carol"]),
        },
        Kind::LedgerCreated {
            title: "x".into(),
            parties: parties(&["solo"]),
        },
        Kind::SessionOpened {
            session: session.clone(),
            title: "Plenary".into(),
            place: Some("Beijing".into()),
            chair: Some("Alice".into()),
            notes: Some("agenda:\n\t1. welcome\n\t2. signature".into()),
        },
        Kind::SessionOpened {
            session: session.clone(),
            title: "Plenary".into(),
            place: None,
            chair: None,
            notes: None,
        },
        Kind::SessionClosed {
            session: session.clone(),
            notes: Some("adjourned".into()),
        },
        Kind::SessionClosed {
            session,
            notes: None,
        },
        Kind::DocumentDrafted {
            doc: doc.clone(),
            sha256: sha,
            title: "Joint Declaration".into(),
            signatories: vec![pid("alice"), pid("bob")],
        },
        Kind::DocumentDrafted {
            doc: DocId::new("work-plan").unwrap(),
            sha256: sha,
            title: "Work plan".into(),
            signatories: vec![],
        },
        Kind::DocumentAmended {
            doc: doc.clone(),
            sha256: DocHash::of(b"the treaty, v2\n"),
            notes: Some("typo in §2".into()),
        },
        Kind::DocumentAmended {
            doc: doc.clone(),
            sha256: DocHash::of(b"the treaty, v2\n"),
            notes: None,
        },
        Kind::DocumentApproved {
            doc: doc.clone(),
            sha256: sha,
        },
        Kind::DocumentSigned { doc, sha256: sha },
        note("Coffee break.\nBack at 11:00 (مرحبا, 你好, \u{202e}bidi\u{202c})."),
        Kind::KeyAdded {
            key: [7; 32],
            proof: [8; 64],
        },
        Kind::KeyRotated {
            key: [9; 32],
            proof: [10; 64],
        },
        Kind::KeyRevoked {
            kid: Kid([11; 32]),
            reason: "laptop stolen on 2017-06-14".into(),
        },
        Kind::PartiesProposed {
            proposal: "admit-obs".parse().unwrap(),
            add: BTreeMap::from([(
                PartyId::new("obs").unwrap(),
                ledger::core::format::NewParty {
                    key: [12; 32],
                    proof: [13; 64],
                },
            )]),
            remove: vec![PartyId::new("med").unwrap()],
        },
        Kind::PartiesApproved {
            proposal: "admit-obs".parse().unwrap(),
            sha256: EventHash([14; 32]),
        },
    ];
    kinds.into_iter().map(body).collect()
}

/// The payload of `body` as an editable list of map entries.
fn entries(body: &Body) -> Vec<(Value, Value)> {
    match dec(&body.encode()) {
        Value::Map(m) => m,
        other => panic!("payload is not a map: {other:?}"),
    }
}

/// Sorts map entries into deterministic order (by encoded key), keeping
/// duplicates next to each other.
fn sort(mut m: Vec<(Value, Value)>) -> Vec<(Value, Value)> {
    m.sort_by_key(|(k, _)| enc(k));
    m
}

fn set(m: &mut Vec<(Value, Value)>, key: &str, value: Value) {
    match m.iter_mut().find(|(k, _)| *k == t(key)) {
        Some(entry) => entry.1 = value,
        None => m.push((t(key), value)),
    }
}

fn remove(m: &mut Vec<(Value, Value)>, key: &str) {
    let before = m.len();
    m.retain(|(k, _)| *k != t(key));
    assert_eq!(m.len() + 1, before, "no field {key:?} to remove");
}

/// The payload of `body` after `f`, deterministically ordered again, so
/// the edit is the only thing wrong with it.
fn edited(body: &Body, f: impl FnOnce(&mut Vec<(Value, Value)>)) -> Vec<u8> {
    let mut m = entries(body);
    f(&mut m);
    enc(&Value::Map(sort(m)))
}

fn bstr(bytes: &[u8]) -> Vec<u8> {
    enc(&b(bytes))
}

/// A tagged COSE_Sign1 from already encoded parts, concatenated as given.
fn cose_raw(protected: &[u8], unprotected: &[u8], payload: &[u8], signature: &[u8]) -> Vec<u8> {
    let mut out = vec![0xd2, 0x84];
    for part in [protected, unprotected, payload, signature] {
        out.extend_from_slice(part);
    }
    out
}

/// A correctly signed event around an arbitrary (maybe malformed) payload
/// and protected header: only what the caller broke is broken.
fn signed_with(key: &SigningKey, protected: &[u8], payload: &[u8]) -> Vec<u8> {
    let sig = key.sign(&sig_structure(protected, payload));
    cose_raw(&bstr(protected), &[0xa0], &bstr(payload), &bstr(&sig))
}

fn signed(key: &SigningKey, payload: &[u8]) -> Vec<u8> {
    signed_with(key, &protected_header(&kid_of(key)), payload)
}

/// A valid event: the stored bytes and the signing key.
fn assemble(body: &Body) -> (Event, Vec<u8>, SigningKey) {
    let key = key();
    let (event, bytes) = Event::sign(&key, body).unwrap();
    (event, bytes, key)
}

/// The error for a malformed payload, which must be the same whether the
/// payload is decoded on its own or inside a signed event.
#[track_caller]
fn reject_payload(payload: &[u8]) -> FormatError {
    let direct = match Body::decode(payload) {
        Ok(body) => panic!("payload accepted: {body:?}"),
        Err(e) => e,
    };
    let stored = signed(&key(), payload);
    let in_event = match Event::decode(&stored) {
        Ok(ev) => panic!("event accepted: {:?}", ev.body),
        Err(e) => e,
    };
    if stored.len() > MAX_EVENT_BYTES {
        // FORMAT §3 comes first: a payload that cannot fit in an event is
        // refused as too large before it is decoded.
        assert_eq!(in_event, FormatError::TooLarge);
        return direct;
    }
    assert_eq!(direct, in_event, "Body::decode and Event::decode disagree");
    direct
}

#[track_caller]
fn reject_event(bytes: &[u8]) -> FormatError {
    match Event::decode(bytes) {
        Ok(ev) => panic!("event accepted: {:?}", ev.body),
        Err(e) => e,
    }
}

/// `assert!(matches!(..))` that shows the value on failure.
macro_rules! assert_variant {
    ($value:expr, $($pattern:tt)+) => {{
        let value = $value;
        assert!(
            matches!(value, $($pattern)+),
            "expected {}, found {value:?}",
            stringify!($($pattern)+)
        );
    }};
}

fn invalid_field(e: &FormatError) -> Option<&str> {
    match e {
        FormatError::Invalid { field, .. } => Some(field),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------

#[test]
fn every_kind_round_trips_through_body() {
    for body in every_kind() {
        let payload = body.encode();
        let back = Body::decode(&payload).unwrap_or_else(|e| panic!("{body:?}: {e}"));
        assert_eq!(back, body);
        assert_eq!(back.encode(), payload, "re-encoding is byte-identical");
    }
}

#[test]
fn every_kind_round_trips_through_event() {
    for body in every_kind() {
        let (event, bytes, key) = assemble(&body);
        let kid = kid_of(&key);
        assert_eq!(bytes[0], 0xd2, "tag 18 is the first byte");
        assert_eq!(event.body, body);
        assert_eq!(event.kid, kid);
        assert_eq!(event.payload(), body.encode().as_slice());
        assert_eq!(event.hash(), EventHash::of(&bytes));
        assert_eq!(event.stored_len(), bytes.len());
        assert_eq!(
            event.to_be_signed(),
            sig_structure(&protected_header(&kid), &body.encode())
        );
        assert!(key
            .public()
            .verify_strict(&event.to_be_signed(), &event.signature));

        let again = Event::decode(&bytes).unwrap();
        assert_eq!(again.body, body);
        assert_eq!(again.kid, kid);
        assert_eq!(again.signature, event.signature);
        assert_eq!(again.hash(), event.hash());
        assert_eq!(again.payload(), event.payload());
    }
}

#[test]
fn envelope_is_the_documented_layout() {
    let (event, bytes, key) = assemble(&note_body());
    let kid = kid_of(&key);
    // {1: -8, 4: h'<kid>'}
    let mut want_protected = h("a2 01 27 04 58 20");
    want_protected.extend_from_slice(&kid);
    assert_eq!(protected_header(&kid), want_protected);
    let want = cose_raw(
        &bstr(&want_protected),
        &[0xa0],
        &bstr(event.payload()),
        &bstr(&event.signature),
    );
    assert_eq!(bytes, want);
    // ["Signature1", protected, "ledger/v1/event", payload]
    let sig_structure = dec(&event.to_be_signed());
    assert_eq!(
        sig_structure,
        Value::Array(vec![
            t("Signature1"),
            b(&want_protected),
            b(b"ledger/v1/event"),
            b(event.payload()),
        ])
    );
    assert_eq!(EXTERNAL_AAD, b"ledger/v1/event");
}

#[test]
fn payload_keys_are_in_length_first_order() {
    let body = body(Kind::LedgerCreated {
        title: "t".into(),
        parties: parties(&["b", "aa", "c"]),
    });
    let keys: Vec<Value> = entries(&body).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        keys,
        ["v", "seq", "kind", "time", "title", "author", "ledger", "parties"].map(t)
    );
    let Some((_, Value::Map(p))) = entries(&body).into_iter().find(|(k, _)| *k == t("parties"))
    else {
        panic!("no parties map")
    };
    let ids: Vec<Value> = p.into_iter().map(|(k, _)| k).collect();
    // Deterministic CBOR order (shorter first), not the bytewise order of
    // the ids.
    assert_eq!(ids, ["b", "c", "aa"].map(t));
    assert_eq!(Body::decode(&body.encode()).unwrap(), body);
}

#[test]
fn time_is_kept_as_written() {
    for s in [
        "2017-06-14T09:30:00+08:00",
        "2017-06-14T01:30:00Z",
        "2017-06-13T21:30:00.123456789-04:00",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.9+23:59",
        "2016-02-29T12:00:00-00:00",
    ] {
        let mut body = note_body();
        body.time = ts(s);
        let back = Body::decode(&body.encode()).unwrap();
        assert_eq!(back.time.as_str(), s);
        assert_eq!(back.time.instant(), ts(s).instant());
    }
}

#[test]
fn assemble_refuses_what_decode_refuses() {
    let key = key();
    let kid = kid_of(&key);
    for payload in [
        vec![],
        h("00"),
        h("a0"),
        edited(&note_body(), |m| remove(m, "text")),
    ] {
        let sig = key.sign(&sig_structure(&protected_header(&kid), &payload));
        assert!(Event::assemble(kid, payload, sig).is_err());
    }
}

// ---------------------------------------------------------------------------
// FORMAT §4: deterministic encoding
// ---------------------------------------------------------------------------

#[test]
fn non_shortest_integers_in_the_payload() {
    let mut base = note_body();
    base.seq = 5;
    let payload = base.encode();
    Body::decode(&payload).unwrap();
    // seq: 5 as 0x18 0x05, 0x19 0x00 0x05, 0x1a ..., 0x1b ...
    for long in ["1805", "190005", "1a00000005", "1b0000000000000005"] {
        let bad = splice(&payload, &h("63736571 05"), &h(&format!("63736571 {long}")));
        assert_variant!(
            reject_payload(&bad),
            FormatError::NotDeterministic {
                what: "the payload"
            }
        );
    }
    // v: 1 as 0x18 0x01
    let bad = splice(&payload, &h("6176 01"), &h("6176 1801"));
    assert_variant!(
        reject_payload(&bad),
        FormatError::NotDeterministic {
            what: "the payload"
        }
    );
    // A bignum (tag 2) that fits in a plain integer.
    let bad = splice(&payload, &h("63736571 05"), &h("63736571 c24105"));
    assert_variant!(
        reject_payload(&bad),
        FormatError::NotDeterministic {
            what: "the payload"
        }
    );
}

#[test]
fn non_shortest_lengths_in_the_payload() {
    let payload = note_body().encode();
    // The map header: 8 entries as 0xb8 0x08.
    assert_eq!(payload[0], 0xa8);
    let mut bad = vec![0xb8, 0x08];
    bad.extend_from_slice(&payload[1..]);
    assert_variant!(
        reject_payload(&bad),
        FormatError::NotDeterministic {
            what: "the payload"
        }
    );
    // A text key's length: "kind" as 0x78 0x04.
    let bad = splice(&payload, &h("64 6b696e64"), &h("7804 6b696e64"));
    assert_variant!(
        reject_payload(&bad),
        FormatError::NotDeterministic {
            what: "the payload"
        }
    );
    // A byte string's length: ledger as 0x58 0x10.
    let bad = splice(
        &payload,
        &h("66 6c6564676572 50"),
        &h("66 6c6564676572 5810"),
    );
    assert_variant!(
        reject_payload(&bad),
        FormatError::NotDeterministic {
            what: "the payload"
        }
    );
}

#[test]
fn non_shortest_encodings_in_the_envelope() {
    let key = key();
    let kid = kid_of(&key);
    let payload = note_body().encode();
    let protected = protected_header(&kid);
    let sig = key.sign(&sig_structure(&protected, &payload));
    let good = cose_raw(&bstr(&protected), &[0xa0], &bstr(&payload), &bstr(&sig));
    Event::decode(&good).unwrap();

    let event = |what: FormatError| {
        assert_variant!(what, FormatError::NotDeterministic { what: "the event" })
    };
    // Tag 18 as 0xd8 0x12.
    let mut bad = vec![0xd8, 0x12];
    bad.extend_from_slice(&good[1..]);
    event(reject_event(&bad));
    // The array header as 0x98 0x04.
    let mut bad = vec![0xd2, 0x98, 0x04];
    bad.extend_from_slice(&good[2..]);
    event(reject_event(&bad));
    // The signature's length as 0x59 0x00 0x40.
    let mut long_sig = h("590040");
    long_sig.extend_from_slice(&sig);
    event(reject_event(&cose_raw(
        &bstr(&protected),
        &[0xa0],
        &bstr(&payload),
        &long_sig,
    )));
    // The payload's length one byte longer than needed.
    let mut long_payload = vec![0x59];
    long_payload.extend_from_slice(&u16::try_from(payload.len()).unwrap().to_be_bytes());
    assert!(payload.len() < 256, "the test assumes a 0x58 header");
    long_payload.extend_from_slice(&payload);
    event(reject_event(&cose_raw(
        &bstr(&protected),
        &[0xa0],
        &long_payload,
        &bstr(&sig),
    )));

    // Inside the protected header: alg -8 as 0x38 0x07, kid length as
    // 0x59 0x00 0x20. Re-signed over the altered header.
    for (from, to) in [("0127", "013807"), ("045820", "04590020")] {
        let bad_protected = splice(&protected, &h(from), &h(to));
        assert_variant!(
            reject_event(&signed_with(&key, &bad_protected, &payload)),
            FormatError::NotDeterministic {
                what: "the protected header"
            }
        );
    }
}

#[test]
fn indefinite_lengths_are_rejected() {
    let key = key();
    let base = note_body();
    let payload = base.encode();
    // An indefinite text string: "hello" as (_ "hel", "lo").
    let bad = splice(
        &payload,
        &h("64 74657874 65 68656c6c6f"),
        &h("64 74657874 7f 63 68656c 62 6c6f ff"),
    );
    assert_variant!(
        reject_payload(&bad),
        FormatError::NotDeterministic {
            what: "the payload"
        }
    );
    // An indefinite byte string: the ledger id in two chunks.
    let mut ledger_chunks = h("66 6c6564676572 5f 48");
    ledger_chunks.extend_from_slice(&[7; 8]);
    ledger_chunks.push(0x48);
    ledger_chunks.extend_from_slice(&[7; 8]);
    ledger_chunks.push(0xff);
    let mut definite = h("66 6c6564676572 50");
    definite.extend_from_slice(&[7; 16]);
    let bad = splice(&payload, &definite, &ledger_chunks);
    assert_variant!(
        reject_payload(&bad),
        FormatError::NotDeterministic {
            what: "the payload"
        }
    );
    // An indefinite map: the whole body.
    let mut bad = vec![0xbf];
    bad.extend_from_slice(&payload[1..]);
    bad.push(0xff);
    assert_variant!(
        reject_payload(&bad),
        FormatError::NotDeterministic {
            what: "the payload"
        }
    );
    // An indefinite array: the signatories.
    let drafted = body(Kind::DocumentDrafted {
        doc: DocId::new("d").unwrap(),
        sha256: DocHash([1; 32]),
        title: "D".into(),
        signatories: vec![pid("a"), pid("b")],
    });
    let payload = drafted.encode();
    let bad = splice(&payload, &h("82 6161 6162"), &h("9f 6161 6162 ff"));
    assert_variant!(
        reject_payload(&bad),
        FormatError::NotDeterministic {
            what: "the payload"
        }
    );
    // An indefinite map: the parties.
    let genesis = body(Kind::LedgerCreated {
        title: "T".into(),
        parties: parties(&["a"]),
    });
    let payload = genesis.encode();
    // The parties map is the last entry of the body, so its break byte
    // goes at the very end.
    let mut bad = splice(&payload, &h("a1 6161 5820"), &h("bf 6161 5820"));
    bad.push(0xff);
    assert_variant!(
        reject_payload(&bad),
        FormatError::NotDeterministic {
            what: "the payload"
        }
    );

    // The envelope: an indefinite array, and an indefinite payload bstr.
    let payload = base.encode();
    let good = signed(&key, &payload);
    let mut bad = vec![0xd2, 0x9f];
    bad.extend_from_slice(&good[2..]);
    bad.push(0xff);
    assert_variant!(
        reject_event(&bad),
        FormatError::NotDeterministic { what: "the event" }
    );
    let protected = protected_header(&kid_of(&key));
    let sig = key.sign(&sig_structure(&protected, &payload));
    let (first, second) = payload.split_at(10);
    let mut chunked = vec![0x5f];
    chunked.extend_from_slice(&bstr(first));
    chunked.extend_from_slice(&bstr(second));
    chunked.push(0xff);
    assert_variant!(
        reject_event(&cose_raw(&bstr(&protected), &[0xa0], &chunked, &bstr(&sig))),
        FormatError::NotDeterministic { what: "the event" }
    );
    // An indefinite map as the unprotected header.
    assert_variant!(
        reject_event(&cose_raw(
            &bstr(&protected),
            &h("bfff"),
            &bstr(&payload),
            &bstr(&sig)
        )),
        FormatError::NotDeterministic { what: "the event" }
    );
}

#[test]
fn unsorted_map_keys_are_rejected() {
    let base = note_body();
    // Bytewise-alphabetical order is not deterministic CBOR order.
    let mut m = entries(&base);
    m.sort_by(|(a, _), (b, _)| match (a, b) {
        (Value::Text(a), Value::Text(b)) => a.cmp(b),
        _ => unreachable!(),
    });
    assert_variant!(
        reject_payload(&enc(&Value::Map(m))),
        FormatError::UnsortedKeys {
            what: "the payload",
            ..
        }
    );
    // Two neighbours swapped.
    let mut m = entries(&base);
    m.swap(0, 1);
    assert_variant!(
        reject_payload(&enc(&Value::Map(m))),
        FormatError::UnsortedKeys {
            what: "the payload",
            ..
        }
    );
    // The parties map, in bytewise order ("aa" before "b").
    let genesis = body(Kind::LedgerCreated {
        title: "T".into(),
        parties: parties(&["aa", "b"]),
    });
    let payload = edited(&genesis, |m| {
        let (_, p) = m.iter_mut().find(|(k, _)| *k == t("parties")).unwrap();
        let Value::Map(p) = p else { unreachable!() };
        p.reverse();
        assert_eq!(p[0].0, t("aa"));
    });
    let e = reject_payload(&payload);
    assert_variant!(&e, FormatError::UnsortedKeys { what: "the payload", key } if key == "\"b\"");
    // A nested map in an annotation.
    let payload = edited(&base, |m| {
        set(
            m,
            "_meta",
            Value::Map(vec![(t("zz"), i(1)), (t("a"), i(2))]),
        )
    });
    assert_variant!(
        reject_payload(&payload),
        FormatError::UnsortedKeys {
            what: "the payload",
            ..
        }
    );
    // The protected header: {4: kid, 1: -8}.
    let key = key();
    let kid = kid_of(&key);
    let protected = enc(&Value::Map(vec![(i(4), b(&kid)), (i(1), i(-8))]));
    let e = reject_event(&signed_with(&key, &protected, &base.encode()));
    assert_variant!(
        &e,
        FormatError::UnsortedKeys { what: "the protected header", key } if key == "1"
    );
}

#[test]
fn duplicate_map_keys_are_rejected() {
    let base = note_body();
    // In the body, with the same value and with a different one.
    for dup in [i(3), i(4)] {
        let mut m = entries(&base);
        m.push((t("seq"), dup));
        let e = reject_payload(&enc(&Value::Map(sort(m))));
        assert_variant!(
            &e,
            FormatError::DuplicateKey { what: "the payload", key } if key == "\"seq\""
        );
    }
    // An annotation twice.
    let mut m = entries(&base);
    m.push((t("_x"), i(1)));
    m.push((t("_x"), i(2)));
    assert_variant!(
        reject_payload(&enc(&Value::Map(sort(m)))),
        FormatError::DuplicateKey {
            what: "the payload",
            ..
        }
    );
    // In the parties map: one party twice (a decoder that kept the last
    // entry would give it another key).
    let genesis = body(Kind::LedgerCreated {
        title: "T".into(),
        parties: parties(&["alice", "bob"]),
    });
    let payload = edited(&genesis, |m| {
        let (_, p) = m.iter_mut().find(|(k, _)| *k == t("parties")).unwrap();
        let Value::Map(p) = p else { unreachable!() };
        p.push((t("bob"), b(&key().public().to_bytes())));
        let sorted = sort(std::mem::take(p));
        *p = sorted;
    });
    let e = reject_payload(&payload);
    assert_variant!(
        &e,
        FormatError::DuplicateKey { what: "the payload", key } if key == "\"bob\""
    );
    // In the protected header: alg twice, and kid twice.
    let key = key();
    let kid = kid_of(&key);
    for protected in [
        vec![(i(1), i(-8)), (i(1), i(-8)), (i(4), b(&kid))],
        vec![(i(1), i(-8)), (i(4), b(&kid)), (i(4), b(&[0; 32]))],
    ] {
        let protected = enc(&Value::Map(protected));
        assert_variant!(
            reject_event(&signed_with(&key, &protected, &base.encode())),
            FormatError::DuplicateKey {
                what: "the protected header",
                ..
            }
        );
    }
}

#[test]
fn trailing_bytes_after_an_event() {
    let (_, bytes, _) = assemble(&note_body());
    for tail in [h("00"), h("a0"), h("ff"), h("d2"), bytes.clone()] {
        let mut bad = bytes.clone();
        bad.extend_from_slice(&tail);
        assert_eq!(reject_event(&bad), FormatError::Trailing(tail.len()));
    }
}

#[test]
fn trailing_bytes_inside_the_payload_and_protected_header() {
    let key = key();
    for tail in [h("00"), h("a0"), h("0000")] {
        let mut payload = note_body().encode();
        payload.extend_from_slice(&tail);
        let e = reject_payload(&payload);
        assert_variant!(&e, FormatError::Envelope(m) if m.contains("follow the payload"));

        let mut protected = protected_header(&kid_of(&key));
        protected.extend_from_slice(&tail);
        let e = reject_event(&signed_with(&key, &protected, &note_body().encode()));
        assert_variant!(&e, FormatError::Envelope(m) if m.contains("follow the protected header"));
    }
}

#[test]
fn floats_booleans_null_and_undefined_are_rejected() {
    let base = note_body();
    let forbidden = [
        (Value::Float(1.5), "float"),
        (Value::Float(0.0), "float"),
        (Value::Float(f64::NAN), "float"),
        (Value::Bool(true), "boolean"),
        (Value::Bool(false), "boolean"),
        (Value::Null, "null or undefined"),
    ];
    for (value, name) in &forbidden {
        // As an annotation (which may otherwise hold anything), nested in
        // an annotation, and in place of a required field.
        for payload in [
            edited(&base, |m| set(m, "_x", value.clone())),
            edited(&base, |m| {
                set(
                    m,
                    "_x",
                    Value::Array(vec![i(1), Value::Map(vec![(t("k"), value.clone())])]),
                )
            }),
            edited(&base, |m| set(m, "seq", value.clone())),
        ] {
            let e = reject_payload(&payload);
            assert_variant!(
                &e,
                FormatError::ForbiddenType { what: "the payload", found } if found == name
            );
        }
        // In the envelope.
        let key = key();
        let payload = base.encode();
        let protected = protected_header(&kid_of(&key));
        let event = enc(&Value::Tag(
            18,
            Box::new(Value::Array(vec![
                b(&protected),
                Value::Map(vec![]),
                b(&payload),
                value.clone(),
            ])),
        ));
        let e = reject_event(&event);
        assert_variant!(&e, FormatError::ForbiddenType { what: "the event", found } if found == name);
    }
    // Half-precision float, undefined (0xf7) and false, by hand.
    let payload = base.encode();
    for (raw, name) in [
        ("f93e00", "float"),
        ("f7", "null or undefined"),
        ("f4", "boolean"),
    ] {
        // "_x" is a 2-byte key: it sorts between "v" and "seq".
        let mut bad = splice(
            &payload,
            &h("6176 01"),
            &h(&format!("6176 01 625f78 {raw}")),
        );
        bad[0] += 1; // one more map entry
        let e = reject_payload(&bad);
        assert_variant!(&e, FormatError::ForbiddenType { what: "the payload", found } if *found == name);
    }
    // Other simple values are not even well-formed for the decoder.
    let mut bad = splice(&payload, &h("6176 01"), &h("6176 01 625f78 f0"));
    bad[0] += 1;
    assert_variant!(reject_payload(&bad), FormatError::Cbor(_));
}

#[test]
fn tags_other_than_18_are_rejected() {
    let key = key();
    let kid = kid_of(&key);
    let base = note_body();
    let payload = base.encode();
    let protected = protected_header(&kid);
    let sig = key.sign(&sig_structure(&protected, &payload));
    let items = || vec![b(&protected), Value::Map(vec![]), b(&payload), b(&sig)];
    let tag_forbidden = |e: FormatError, where_: &str| assert_variant!(&e, FormatError::ForbiddenType { what, found: "tag" } if *what == where_);
    // COSE_Sign (98), COSE_Mac0 (17), COSE_Sign1 untagged-then-tagged
    // with another number, a self-described CBOR tag.
    for tag in [98, 17, 16, 19, 55799] {
        let event = enc(&Value::Tag(tag, Box::new(Value::Array(items()))));
        tag_forbidden(reject_event(&event), "the event");
    }
    // Tag 18 nested inside tag 18.
    let event = enc(&Value::Tag(
        18,
        Box::new(Value::Tag(18, Box::new(Value::Array(items())))),
    ));
    tag_forbidden(reject_event(&event), "the event");
    // Tag 18 (or another) on an item of the array.
    for (index, tag) in [(0, 18), (2, 18), (2, 24), (3, 18), (1, 18)] {
        let mut it = items();
        it[index] = Value::Tag(tag, Box::new(it[index].clone()));
        let event = enc(&Value::Tag(18, Box::new(Value::Array(it))));
        tag_forbidden(reject_event(&event), "the event");
    }
    // Inside the payload: tag 0 on the time, tag 18 and tag 1 in an
    // annotation, a bignum (tag 2) too large for a plain integer.
    for payload in [
        edited(&base, |m| {
            set(
                m,
                "time",
                Value::Tag(0, Box::new(t("2017-06-14T09:30:00+08:00"))),
            )
        }),
        edited(&base, |m| {
            set(m, "_x", Value::Tag(18, Box::new(Value::Array(vec![]))))
        }),
        edited(&base, |m| {
            set(m, "_x", Value::Tag(1, Box::new(i(1_497_402_000))))
        }),
        edited(&base, |m| {
            set(
                m,
                "_x",
                Value::Tag(2, Box::new(b(&h("010000000000000000")))),
            )
        }),
    ] {
        tag_forbidden(reject_payload(&payload), "the payload");
    }
    // Inside the protected header.
    let tagged = enc(&Value::Tag(
        18,
        Box::new(Value::Map(vec![(i(1), i(-8)), (i(4), b(&kid))])),
    ));
    tag_forbidden(
        reject_event(&signed_with(&key, &tagged, &payload)),
        "the protected header",
    );
}

// ---------------------------------------------------------------------------
// FORMAT §5.1: the envelope
// ---------------------------------------------------------------------------

/// A COSE_Sign1 from values, encoded as given.
fn envelope(items: Vec<Value>, tagged: bool) -> Vec<u8> {
    let array = Value::Array(items);
    enc(&if tagged {
        Value::Tag(18, Box::new(array))
    } else {
        array
    })
}

fn good_items(key: &SigningKey) -> Vec<Value> {
    let payload = note_body().encode();
    let protected = protected_header(&kid_of(key));
    let sig = key.sign(&sig_structure(&protected, &payload));
    vec![b(&protected), Value::Map(vec![]), b(&payload), b(&sig)]
}

#[test]
fn the_envelope_must_be_tag_18_and_four_items() {
    let key = key();
    Event::decode(&envelope(good_items(&key), true)).unwrap();

    assert_variant!(
        reject_event(&envelope(good_items(&key), false)),
        FormatError::Envelope(_)
    );
    for n in [0, 1, 3] {
        let mut items = good_items(&key);
        items.truncate(n);
        assert_variant!(
            reject_event(&envelope(items, true)),
            FormatError::Envelope(_)
        );
    }
    let mut items = good_items(&key);
    items.push(b(b""));
    assert_variant!(
        reject_event(&envelope(items, true)),
        FormatError::Envelope(_)
    );
    // Not an array at all.
    for inner in [Value::Map(vec![]), b(b""), i(0)] {
        assert_variant!(
            reject_event(&enc(&Value::Tag(18, Box::new(inner)))),
            FormatError::Envelope(_)
        );
    }
    // Any other first item.
    for item in [i(0), t("x"), Value::Map(vec![]), Value::Array(vec![])] {
        assert_variant!(reject_event(&enc(&item)), FormatError::Envelope(_));
    }
}

#[test]
fn the_unprotected_header_must_be_empty() {
    let key = key();
    let kid = kid_of(&key);
    for unprotected in [
        Value::Map(vec![(i(4), b(&kid))]),
        Value::Map(vec![(i(1), i(-8))]),
        Value::Map(vec![(t("x"), i(0))]),
        b(&h("a0")),
        Value::Array(vec![]),
    ] {
        let mut items = good_items(&key);
        items[1] = unprotected;
        assert_variant!(
            reject_event(&envelope(items, true)),
            FormatError::Envelope(_)
        );
    }
}

#[test]
fn the_protected_header_is_exactly_alg_and_kid() {
    let key = key();
    let kid = kid_of(&key);
    let payload = note_body().encode();
    let check = |protected: Vec<(Value, Value)>| {
        let protected = enc(&Value::Map(protected));
        reject_event(&signed_with(&key, &protected, &payload))
    };
    let alg = || (i(1), i(-8));
    let kid_entry = |k: &[u8]| (i(4), b(k));
    for bad in [
        // crit (2), content type (3), IV (5), a text label.
        vec![alg(), (i(2), Value::Array(vec![i(1)])), kid_entry(&kid)],
        vec![alg(), (i(3), i(0)), kid_entry(&kid)],
        vec![alg(), kid_entry(&kid), (i(5), b(&[0; 12]))],
        vec![alg(), kid_entry(&kid), (t("x"), i(0))],
        vec![alg(), kid_entry(&kid), (i(-1), i(0))],
        // Wrong alg: ES256 (-7), EdDSA spelled as text, Ed25519 (-19).
        vec![(i(1), i(-7)), kid_entry(&kid)],
        vec![(i(1), t("EdDSA")), kid_entry(&kid)],
        vec![(i(1), i(-19)), kid_entry(&kid)],
        vec![(i(1), i(8)), kid_entry(&kid)],
        // Missing alg, missing kid, empty.
        vec![kid_entry(&kid)],
        vec![alg()],
        vec![],
        // kid of the wrong length or type.
        vec![alg(), kid_entry(&kid[..31])],
        vec![alg(), kid_entry(&[kid.as_slice(), &[0]].concat())],
        vec![alg(), kid_entry(&[])],
        vec![alg(), (i(4), t(&hex::encode(kid)))],
    ] {
        let shown = format!("{bad:?}");
        let e = check(bad);
        assert!(matches!(e, FormatError::Envelope(_)), "{shown}: {e:?}");
    }
    // Not a map, or not a byte string.
    for protected in [
        enc(&Value::Array(vec![i(1), i(-8)])),
        enc(&i(0)),
        enc(&t("a2")),
    ] {
        assert_variant!(
            reject_event(&signed_with(&key, &protected, &payload)),
            FormatError::Envelope(_)
        );
    }
    let mut items = good_items(&key);
    items[0] = Value::Map(vec![(i(1), i(-8)), (i(4), b(&kid))]);
    assert_variant!(
        reject_event(&envelope(items, true)),
        FormatError::Envelope(_)
    );
}

#[test]
fn the_signature_is_64_bytes() {
    let key = key();
    for sig in [
        b(&[0; 63]),
        b(&[0; 65]),
        b(&[]),
        b(&[0; 128]),
        t(&"0".repeat(64)),
        i(0),
    ] {
        let mut items = good_items(&key);
        items[3] = sig;
        assert_variant!(
            reject_event(&envelope(items, true)),
            FormatError::Envelope(_)
        );
    }
    // 64 bytes of anything decode: the signature is replay's business.
    let mut items = good_items(&key);
    items[3] = b(&[0; 64]);
    Event::decode(&envelope(items, true)).unwrap();
}

#[test]
fn the_payload_is_an_attached_byte_string_holding_a_map() {
    let key = key();
    let body_value = dec(&note_body().encode());
    let mut items = good_items(&key);
    items[2] = body_value;
    assert_variant!(
        reject_event(&envelope(items, true)),
        FormatError::Envelope(_)
    );
    let mut items = good_items(&key);
    items[2] = t("payload");
    assert_variant!(
        reject_event(&envelope(items, true)),
        FormatError::Envelope(_)
    );
    // Detached: nil.
    let mut items = good_items(&key);
    items[2] = Value::Null;
    assert_variant!(
        reject_event(&envelope(items, true)),
        FormatError::ForbiddenType {
            found: "null or undefined",
            ..
        }
    );
    // A byte string that is not a map.
    for payload in [enc(&Value::Array(vec![])), enc(&i(1)), enc(&t("v"))] {
        assert_variant!(reject_payload(&payload), FormatError::Envelope(_));
    }
    // A map with a non-text key.
    let payload = edited(&note_body(), |m| m.push((i(1), i(1))));
    assert_variant!(reject_payload(&payload), FormatError::Envelope(_));
}

// ---------------------------------------------------------------------------
// FORMAT §5.3: the body
// ---------------------------------------------------------------------------

#[test]
fn unknown_fields_are_critical() {
    for (base, field) in [
        (note_body(), "foo"),
        (note_body(), "x_"),
        (note_body(), "V"),
        (note_body(), "title"),
        (note_body(), "sha256"),
        (
            body(Kind::SessionClosed {
                session: SessionId::new("s").unwrap(),
                notes: None,
            }),
            "title",
        ),
        (
            body(Kind::DocumentApproved {
                doc: DocId::new("d").unwrap(),
                sha256: DocHash([1; 32]),
            }),
            "notes",
        ),
        (
            body(Kind::DocumentSigned {
                doc: DocId::new("d").unwrap(),
                sha256: DocHash([1; 32]),
            }),
            "signatories",
        ),
        (
            body(Kind::LedgerCreated {
                title: "T".into(),
                parties: parties(&["a"]),
            }),
            "text",
        ),
    ] {
        let payload = edited(&base, |m| set(m, field, t("x")));
        let e = reject_payload(&payload);
        assert_eq!(
            e,
            FormatError::UnknownField {
                field: field.into(),
                kind: base.kind.name().into()
            }
        );
    }
}

#[test]
fn annotations_are_accepted_and_ignored() {
    for base in every_kind() {
        let payload = edited(&base, |m| {
            set(m, "_", i(-1));
            set(m, "_comment", t("signed in the hall\u{7}"));
            set(
                m,
                "_meta",
                Value::Map(vec![
                    (
                        i(1),
                        Value::Array(vec![b(&[0; 3]), i(u64::MAX as i64 & 0x7f)]),
                    ),
                    (t("k"), t("v")),
                ]),
            );
            set(m, "_title", i(0));
        });
        assert_ne!(payload, base.encode());
        assert_eq!(Body::decode(&payload).unwrap(), base);
        let key = key();
        let bytes = signed(&key, &payload);
        let event = Event::decode(&bytes).unwrap();
        assert_eq!(event.body, base);
        // The annotation stays in the signed payload.
        assert_eq!(event.payload(), payload.as_slice());
        assert!(key
            .public()
            .verify_strict(&event.to_be_signed(), &event.signature));
    }
}

#[test]
fn unknown_kinds_are_rejected() {
    for kind in ["frobnicate", "Note", "note ", "ledger-deleted", ""] {
        let payload = edited(&note_body(), |m| set(m, "kind", t(kind)));
        assert_eq!(
            reject_payload(&payload),
            FormatError::UnknownKind(kind.into())
        );
    }
    let payload = edited(&note_body(), |m| set(m, "kind", i(7)));
    assert_variant!(
        reject_payload(&payload),
        FormatError::FieldType { ref field, .. } if field == "kind"
    );
}

#[test]
fn only_version_1() {
    for v in [0u64, 2, 255, u64::MAX] {
        let payload = edited(&note_body(), |m| set(m, "v", Value::Integer(v.into())));
        assert_eq!(reject_payload(&payload), FormatError::Version(v));
    }
    // The version is checked before anything that a later version may
    // change, such as the kinds.
    let payload = edited(&note_body(), |m| {
        set(m, "v", i(2));
        set(m, "kind", t("teleported"));
        set(m, "flux", i(1));
    });
    assert_eq!(reject_payload(&payload), FormatError::Version(2));
    // Not an unsigned integer.
    let payload = edited(&note_body(), |m| set(m, "v", i(-1)));
    assert_variant!(reject_payload(&payload), FormatError::Invalid { ref field, .. } if field == "v");
    let payload = edited(&note_body(), |m| set(m, "v", t("1")));
    assert_variant!(reject_payload(&payload), FormatError::FieldType { ref field, .. } if field == "v");
}

/// The fields FORMAT §5.3-§5.4 requires of each kind.
fn required(kind: &Kind) -> Vec<&'static str> {
    let mut fields = vec!["v", "seq", "kind", "time", "author", "ledger"];
    fields.extend(match kind {
        Kind::LedgerCreated { .. } => vec!["title", "parties"],
        Kind::SessionOpened { .. } => vec!["session", "title"],
        Kind::SessionClosed { .. } => vec!["session"],
        Kind::DocumentDrafted { .. } => vec!["doc", "sha256", "title", "signatories"],
        Kind::DocumentAmended { .. }
        | Kind::DocumentApproved { .. }
        | Kind::DocumentSigned { .. } => vec!["doc", "sha256"],
        Kind::Note { .. } => vec!["text"],
        Kind::KeyAdded { .. } | Kind::KeyRotated { .. } => vec!["key", "proof"],
        Kind::KeyRevoked { .. } => vec!["key", "reason"],
        Kind::PartiesProposed { .. } => vec!["proposal", "add", "remove"],
        Kind::PartiesApproved { .. } => vec!["proposal", "sha256"],
    });
    fields
}

#[test]
fn missing_required_fields_are_rejected() {
    let mut checked = 0;
    for base in every_kind() {
        for field in required(&base.kind) {
            let payload = edited(&base, |m| remove(m, field));
            let kind = if matches!(field, "v" | "kind") {
                "unknown"
            } else {
                base.kind.name()
            };
            assert_eq!(
                reject_payload(&payload),
                FormatError::Missing {
                    field,
                    kind: kind.into()
                },
                "{} without {field}",
                base.kind.name()
            );
            checked += 1;
        }
        // Optional fields really are optional, and prev is a replay rule.
        let optional = ["prev", "place", "chair", "notes"];
        let payload = edited(&base, |m| {
            m.retain(|(k, _)| !optional.iter().any(|o| *k == t(o)))
        });
        let decoded = Body::decode(&payload).unwrap();
        assert_eq!(decoded.prev, None);
    }
    assert!(checked > 80);
}

#[test]
fn fields_of_the_wrong_type_are_rejected() {
    let genesis = body(Kind::LedgerCreated {
        title: "T".into(),
        parties: parties(&["a", "b"]),
    });
    let drafted = body(Kind::DocumentDrafted {
        doc: DocId::new("d").unwrap(),
        sha256: DocHash([1; 32]),
        title: "D".into(),
        signatories: vec![pid("a")],
    });
    let opened = body(Kind::SessionOpened {
        session: SessionId::new("s").unwrap(),
        title: "S".into(),
        place: None,
        chair: None,
        notes: None,
    });
    let amended = body(Kind::DocumentAmended {
        doc: DocId::new("d").unwrap(),
        sha256: DocHash([1; 32]),
        notes: None,
    });
    let note = note_body();
    let key_bytes = key().public().to_bytes();
    let type_errors: Vec<(&Body, &str, Value)> = vec![
        (&genesis, "seq", t("0")),
        (&genesis, "seq", b(&[0])),
        (&genesis, "ledger", t("07070707070707070707070707070707")),
        (&genesis, "ledger", Value::Array(vec![])),
        (&genesis, "time", i(1_497_402_000)),
        (&genesis, "author", i(1)),
        (&genesis, "author", b(b"alice")),
        (&genesis, "title", b(b"T")),
        (
            &genesis,
            "parties",
            Value::Array(vec![t("a"), b(&key_bytes)]),
        ),
        (&genesis, "parties", b(&key_bytes)),
        (&genesis, "parties", Value::Map(vec![(i(1), b(&key_bytes))])),
        (
            &genesis,
            "parties",
            Value::Map(vec![(t("a"), t(&hex::encode(key_bytes)))]),
        ),
        (&note, "prev", t(&"ab".repeat(32))),
        (&note, "text", b(b"hello")),
        (&note, "text", Value::Array(vec![t("hello")])),
        (&opened, "session", i(1)),
        (&opened, "place", i(1)),
        (&opened, "chair", b(b"c")),
        (&opened, "notes", Value::Map(vec![])),
        (&drafted, "doc", b(b"d")),
        (&drafted, "sha256", t(&"01".repeat(32))),
        (&drafted, "signatories", t("a")),
        (&drafted, "signatories", Value::Map(vec![(t("a"), i(1))])),
        (&drafted, "signatories", Value::Array(vec![b(b"a")])),
        (&drafted, "signatories", Value::Array(vec![t("a"), i(1)])),
        (&amended, "notes", i(0)),
    ];
    // A byte-string map key is refused by the CBOR rules, before any field
    // is looked at (FORMAT §4: map keys are integers or text).
    let e = reject_payload(&edited(&genesis, |m| {
        set(m, "parties", Value::Map(vec![(b(b"a"), b(&key_bytes))]))
    }));
    assert!(matches!(e, FormatError::ForbiddenType { .. }), "{e:?}");
    for (base, field, value) in type_errors {
        let shown = format!("{field}: {value:?}");
        let e = reject_payload(&edited(base, |m| set(m, field, value)));
        assert!(
            matches!(&e, FormatError::FieldType { field: f, .. } if f == field),
            "{shown}: {e:?}"
        );
    }
    // Byte strings of the wrong size, and negative integers.
    let invalid: Vec<(&Body, &str, Value)> = vec![
        (&genesis, "ledger", b(&[7; 15])),
        (&genesis, "ledger", b(&[7; 17])),
        (&genesis, "ledger", b(&[])),
        (&note, "prev", b(&[0xab; 31])),
        (&note, "prev", b(&[0xab; 33])),
        (
            &genesis,
            "parties",
            Value::Map(vec![(t("a"), b(&key_bytes[..31]))]),
        ),
        (&genesis, "parties", Value::Map(vec![(t("a"), b(&[0; 33]))])),
        (&drafted, "sha256", b(&[1; 31])),
        (&drafted, "sha256", b(&[1; 64])),
        (&amended, "sha256", b(&[])),
        (&genesis, "seq", i(-1)),
    ];
    for (base, field, value) in invalid {
        let shown = format!("{field}: {value:?}");
        let e = reject_payload(&edited(base, |m| set(m, field, value)));
        assert_eq!(invalid_field(&e), Some(field), "{shown}: {e:?}");
    }
}

fn long_id(n: usize) -> String {
    "a".repeat(n)
}

#[test]
fn ids_are_checked_everywhere() {
    let bad_ids = [
        String::new(),
        "Alice".into(),
        "-a".into(),
        "_a".into(),
        ".a".into(),
        "a b".into(),
        "a/b".into(),
        "a\u{0}".into(),
        "é".into(),
        "a\u{200b}".into(),
        long_id(65),
    ];
    let good_ids = ["a", "0", "9lives", "a.b_c-d", "x-", "a..", &long_id(64)];
    let places: [(&str, Body); 5] = [
        ("author", note_body()),
        (
            "session",
            body(Kind::SessionClosed {
                session: SessionId::new("s").unwrap(),
                notes: None,
            }),
        ),
        (
            "doc",
            body(Kind::DocumentApproved {
                doc: DocId::new("d").unwrap(),
                sha256: DocHash([1; 32]),
            }),
        ),
        (
            "parties",
            body(Kind::LedgerCreated {
                title: "T".into(),
                parties: parties(&["p"]),
            }),
        ),
        (
            "signatories",
            body(Kind::DocumentDrafted {
                doc: DocId::new("d").unwrap(),
                sha256: DocHash([1; 32]),
                title: "D".into(),
                signatories: vec![pid("p")],
            }),
        ),
    ];
    let key_bytes = key().public().to_bytes();
    let with_id = |field: &str, base: &Body, id: &str| {
        edited(base, |m| match field {
            "parties" => set(m, "parties", Value::Map(vec![(t(id), b(&key_bytes))])),
            "signatories" => set(m, "signatories", Value::Array(vec![t(id)])),
            other => set(m, other, t(id)),
        })
    };
    for (field, base) in &places {
        let field = *field;
        for id in &bad_ids {
            let e = reject_payload(&with_id(field, base, id));
            assert_eq!(invalid_field(&e), Some(field), "{field} = {id:?}: {e:?}");
        }
        for id in good_ids {
            let decoded = Body::decode(&with_id(field, base, id))
                .unwrap_or_else(|e| panic!("{field} = {id:?}: {e}"));
            let found = match (&decoded.kind, field) {
                (_, "author") => decoded.author.to_string(),
                (Kind::SessionClosed { session, .. }, _) => session.to_string(),
                (Kind::DocumentApproved { doc, .. }, _) => doc.to_string(),
                (Kind::LedgerCreated { parties, .. }, _) => {
                    parties.keys().next().unwrap().to_string()
                }
                (Kind::DocumentDrafted { signatories, .. }, _) => signatories[0].to_string(),
                _ => unreachable!(),
            };
            assert_eq!(found, id);
        }
    }
    // The id types themselves.
    for id in &bad_ids {
        assert!(
            PartyId::new(id).is_err() && DocId::new(id).is_err() && SessionId::new(id).is_err()
        );
    }
}

/// Bodies with each line field (FORMAT §5.4) set to `value`.
fn with_line(value: &str) -> Vec<(String, Vec<u8>)> {
    let opened = body(Kind::SessionOpened {
        session: SessionId::new("s").unwrap(),
        title: "S".into(),
        place: None,
        chair: None,
        notes: None,
    });
    let genesis = body(Kind::LedgerCreated {
        title: "T".into(),
        parties: parties(&["a"]),
    });
    let drafted = body(Kind::DocumentDrafted {
        doc: DocId::new("d").unwrap(),
        sha256: DocHash([1; 32]),
        title: "D".into(),
        signatories: vec![],
    });
    let mut out = Vec::new();
    for (base, field) in [
        (&genesis, "title"),
        (&opened, "title"),
        (&opened, "place"),
        (&opened, "chair"),
        (&drafted, "title"),
    ] {
        out.push((field.to_owned(), edited(base, |m| set(m, field, t(value)))));
    }
    out
}

/// Bodies with each text field (FORMAT §5.4) set to `value`.
fn with_text(value: &str) -> Vec<(String, Vec<u8>)> {
    let opened = body(Kind::SessionOpened {
        session: SessionId::new("s").unwrap(),
        title: "S".into(),
        place: None,
        chair: None,
        notes: None,
    });
    let closed = body(Kind::SessionClosed {
        session: SessionId::new("s").unwrap(),
        notes: None,
    });
    let amended = body(Kind::DocumentAmended {
        doc: DocId::new("d").unwrap(),
        sha256: DocHash([1; 32]),
        notes: None,
    });
    let mut out = Vec::new();
    for (base, field) in [
        (&note_body(), "text"),
        (&opened, "notes"),
        (&closed, "notes"),
        (&amended, "notes"),
    ] {
        out.push((field.to_owned(), edited(base, |m| set(m, field, t(value)))));
    }
    out
}

const CONTROL_CHARS: [char; 10] = [
    '\u{0}', '\u{1}', '\r', '\u{b}', '\u{c}', '\u{1b}', '\u{1f}', '\u{7f}', '\u{80}', '\u{9f}',
];

#[test]
fn lines_refuse_control_characters_and_bad_lengths() {
    let mut bad: Vec<String> = vec![String::new(), "a".repeat(1025), "é".repeat(513)];
    for c in CONTROL_CHARS.iter().chain(&['\n', '\t', '\u{85}']) {
        bad.push(format!("before{c}after"));
        bad.push(c.to_string());
    }
    for value in &bad {
        for (field, payload) in with_line(value) {
            let e = reject_payload(&payload);
            assert_eq!(
                invalid_field(&e),
                Some(field.as_str()),
                "{field} = {value:?}: {e:?}"
            );
        }
    }
    // Bidi and other format characters, non-breaking and other spaces,
    // line separators (Zl, not Cc), and the maximum length are fine.
    let good = [
        "a".to_string(),
        "a".repeat(1024),
        "é".repeat(512),
        "\u{202e}evil\u{202c} \u{2066}x\u{2069} \u{200f}\u{200e}".into(),
        "non\u{a0}breaking\u{2028}separator\u{feff}".into(),
        " leading and trailing spaces ".into(),
        "日本語 🖋️".into(),
    ];
    for value in &good {
        for (field, payload) in with_line(value) {
            Body::decode(&payload).unwrap_or_else(|e| panic!("{field} = {value:?}: {e}"));
        }
    }
}

#[test]
fn texts_allow_line_feed_and_tab_only() {
    let mut bad: Vec<String> = vec![String::new(), "a".repeat(65_001), "é".repeat(32_501)];
    for c in CONTROL_CHARS.iter().chain(&['\u{85}']) {
        bad.push(format!("line\n{c}line"));
    }
    bad.push("windows\r\nline ends".into());
    for value in &bad {
        for (field, payload) in with_text(value) {
            let e = reject_payload(&payload);
            assert_eq!(
                invalid_field(&e),
                Some(field.as_str()),
                "{field} = {:?}: {e:?}",
                value.chars().take(20).collect::<String>()
            );
        }
    }
    let good = [
        "a".to_string(),
        "\n".into(),
        "\t".into(),
        "first\n\tsecond\n".into(),
        "a".repeat(65_000),
        "é".repeat(32_500),
        "\u{202e}bidi\u{202c}".into(),
    ];
    for value in &good {
        for (field, payload) in with_text(value) {
            Body::decode(&payload).unwrap_or_else(|e| panic!("{field}: {e}"));
        }
    }
}

#[test]
fn bad_times_are_rejected() {
    for s in [
        "",
        "2017-06-14",
        "2017-06-14T09:30:00",
        "2017-06-14t09:30:00Z",
        "2017-06-14T09:30:00z",
        "2017-06-14 09:30:00Z",
        "2017-06-14T09:30Z",
        "2017-06-14T09:30:60Z",
        "2017-06-14T24:00:00Z",
        "2017-06-31T00:00:00Z",
        "2017-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2017-00-10T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "10000-01-01T00:00:00Z",
        "2017-06-14T09:30:00.Z",
        "2017-06-14T09:30:00.1234567890Z",
        "2017-06-14T09:30:00+0800",
        "2017-06-14T09:30:00+08",
        "2017-06-14T09:30:00+24:00",
        "2017-06-14T09:30:00+08:60",
        "2017-06-14T09:30:00Z ",
        " 2017-06-14T09:30:00Z",
        "2017-06-14T09:30:00+08:00Z",
        "2017-6-14T09:30:00Z",
        "2017-06-14T09:30:00,5Z",
        "2017-06-14T09:30:00UTC",
        "2017-06-14T09:30:00\u{0}Z",
        "1497402000",
    ] {
        let payload = edited(&note_body(), |m| set(m, "time", t(s)));
        assert_variant!(reject_payload(&payload), FormatError::Time(_));
    }
}

#[test]
fn signatories_are_sorted_unique_and_at_most_64() {
    let drafted = |sigs: Vec<Value>| {
        edited(
            &body(Kind::DocumentDrafted {
                doc: DocId::new("d").unwrap(),
                sha256: DocHash([1; 32]),
                title: "D".into(),
                signatories: vec![],
            }),
            |m| set(m, "signatories", Value::Array(sigs)),
        )
    };
    for bad in [
        vec!["most", "med"],
        vec!["a", "a"],
        vec!["a", "b", "b"],
        vec!["a", "c", "b"],
        // Bytewise order: "aa" < "b", unlike CBOR map-key order.
        vec!["b", "aa"],
    ] {
        let e = reject_payload(&drafted(bad.iter().map(|s| t(s)).collect()));
        assert_eq!(invalid_field(&e), Some("signatories"), "{bad:?}: {e:?}");
    }
    let ids: Vec<String> = (0..65).map(|n| format!("p{n:02}")).collect();
    let e = reject_payload(&drafted(ids.iter().map(|s| t(s)).collect()));
    assert_eq!(invalid_field(&e), Some("signatories"));
    for good in [vec![], vec!["aa", "b"], vec!["med", "most"]] {
        let body = Body::decode(&drafted(good.iter().map(|s| t(s)).collect())).unwrap();
        let Kind::DocumentDrafted { signatories, .. } = body.kind else {
            unreachable!()
        };
        assert_eq!(signatories, good.iter().map(|s| pid(s)).collect::<Vec<_>>());
    }
    Body::decode(&drafted(ids[..64].iter().map(|s| t(s)).collect())).unwrap();
}

#[test]
fn parties_are_1_to_64() {
    let genesis = |n: usize| {
        edited(
            &body(Kind::LedgerCreated {
                title: "T".into(),
                parties: parties(&["a"]),
            }),
            |m| {
                let p: Vec<(Value, Value)> = (0..n)
                    .map(|k| (t(&format!("p{k:02}")), b(&[k as u8; 32])))
                    .collect();
                set(m, "parties", Value::Map(sort(p)));
            },
        )
    };
    for n in [0, 65, 100] {
        let e = reject_payload(&genesis(n));
        assert_eq!(invalid_field(&e), Some("parties"), "{n} parties: {e:?}");
    }
    for n in [1, 2, 64] {
        let body = Body::decode(&genesis(n)).unwrap();
        let Kind::LedgerCreated { parties, .. } = body.kind else {
            unreachable!()
        };
        assert_eq!(parties.len(), n);
    }
}

// ---------------------------------------------------------------------------
// FORMAT §3: size, truncation and the log
// ---------------------------------------------------------------------------

/// A valid event of exactly `size` stored bytes, padded with an annotation.
fn event_of_size(key: &SigningKey, size: usize) -> Vec<u8> {
    let make = |pad: usize| {
        let payload = edited(&note_body(), |m| set(m, "_pad", b(&vec![0x55; pad])));
        signed(key, &payload)
    };
    let mut pad = size.saturating_sub(400);
    for _ in 0..4 {
        let got = make(pad).len();
        if got == size {
            break;
        }
        pad = (pad as i64 + size as i64 - got as i64) as usize;
    }
    let bytes = make(pad);
    assert_eq!(bytes.len(), size, "could not hit the size exactly");
    bytes
}

fn read_all(log: &[u8]) -> Result<Vec<(u64, Vec<u8>, Event)>, ReadError> {
    read_all_from(LogReader::new(log))
}

fn read_all_from<R: std::io::BufRead>(
    mut reader: LogReader<R>,
) -> Result<Vec<(u64, Vec<u8>, Event)>, ReadError> {
    let mut out = Vec::new();
    while let Some(item) = reader.next_event()? {
        out.push((item.offset, reader.last_bytes().to_vec(), item.event));
        assert_eq!(
            reader.offset(),
            item.offset + out.last().unwrap().1.len() as u64
        );
    }
    Ok(out)
}

#[track_caller]
fn read_error(log: &[u8]) -> (u64, FormatError) {
    match read_all(log) {
        Ok(items) => panic!("log accepted: {} events", items.len()),
        Err(ReadError::Format { offset, error }) => (offset, error),
        Err(ReadError::Io(e)) => panic!("I/O error: {e}"),
    }
}

#[test]
fn events_up_to_the_limit_are_accepted() {
    let key = key();
    let bytes = event_of_size(&key, MAX_EVENT_BYTES);
    let event = Event::decode(&bytes).unwrap();
    assert_eq!(event.stored_len(), MAX_EVENT_BYTES);
    let items = read_all(&bytes).unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].1, bytes);
}

#[test]
fn events_over_the_limit_are_too_large_for_decode() {
    let key = key();
    for size in [
        MAX_EVENT_BYTES + 1,
        MAX_EVENT_BYTES + 64,
        2 * MAX_EVENT_BYTES,
    ] {
        let bytes = event_of_size(&key, size);
        assert_eq!(reject_event(&bytes), FormatError::TooLarge, "{size} bytes");
    }
}

#[test]
fn events_well_over_the_limit_are_too_large_for_the_reader() {
    let key = key();
    let (_, first, _) = assemble(&note_body());
    for size in [
        MAX_EVENT_BYTES + 4096,
        MAX_EVENT_BYTES + 100_000,
        2 * MAX_EVENT_BYTES,
    ] {
        let big = event_of_size(&key, size);
        assert_eq!(read_error(&big), (0, FormatError::TooLarge), "{size} bytes");
        // After a good event, at its offset.
        let log = [first.as_slice(), &big].concat();
        assert_eq!(
            read_error(&log),
            (first.len() as u64, FormatError::TooLarge),
            "{size} bytes"
        );
        // A torn tail of a too-large event is too large, not torn.
        let torn = &big[..MAX_EVENT_BYTES + 2048];
        assert_eq!(read_error(torn), (0, FormatError::TooLarge));
    }
}

#[test]
fn events_just_over_the_limit_are_too_large_for_the_reader() {
    // LogReader::next_event only refuses to read more once it already
    // holds more than MAX_EVENT_BYTES; an event whose last read crosses
    // the limit is returned as a good event, while Event::decode (and
    // FORMAT §3) reject it.
    let key = key();
    for size in [MAX_EVENT_BYTES + 1, MAX_EVENT_BYTES + 64] {
        let big = event_of_size(&key, size);
        assert_eq!(Event::decode(&big).unwrap_err(), FormatError::TooLarge);
        let result = read_all(&big).map(|items| items.len());
        assert!(
            matches!(
                result,
                Err(ReadError::Format {
                    offset: 0,
                    error: FormatError::TooLarge
                })
            ),
            "{size}-byte event: {result:?}"
        );
    }
}

#[test]
fn every_strict_prefix_is_truncated() {
    let (_, bytes, _) = assemble(&body(Kind::DocumentDrafted {
        doc: DocId::new("d").unwrap(),
        sha256: DocHash([1; 32]),
        title: "D".into(),
        signatories: vec![pid("a"), pid("b")],
    }));
    for n in 0..bytes.len() {
        assert_eq!(
            Event::decode(&bytes[..n]).unwrap_err(),
            FormatError::Truncated,
            "prefix of {n} bytes"
        );
    }
    for n in 1..bytes.len() {
        assert_eq!(read_error(&bytes[..n]), (0, FormatError::Truncated));
    }
    assert!(read_all(&[]).unwrap().is_empty());
}

#[test]
fn truncation_inside_a_complete_event_is_not_a_torn_tail() {
    let key = key();
    let payload = note_body().encode();
    let protected = protected_header(&kid_of(&key));
    // Each of these events is complete; what is cut short is a CBOR item
    // inside one of its byte strings. FORMAT §3 defines a torn tail as
    // the file ending inside a data item, which is not the case here.
    let cases = [
        (
            "payload cut short",
            signed(&key, &payload[..payload.len() - 1]),
        ),
        ("payload of one map header", signed(&key, &h("a8"))),
        ("empty payload", signed(&key, &[])),
        (
            "protected header cut short",
            signed_with(&key, &protected[..10], &payload),
        ),
        ("empty protected header", signed_with(&key, &[], &payload)),
    ];
    for (what, bytes) in &cases {
        let e = reject_event(bytes);
        assert_ne!(e, FormatError::Truncated, "{what}");
    }
    // In a log, such an event in the middle is reported as a torn tail at
    // its offset, although a complete, committed event follows it.
    let (_, first, _) = assemble(&note_body());
    let (_, last, _) = assemble(&note_body());
    let log = [first.as_slice(), &cases[0].1, &last].concat();
    let (offset, error) = read_error(&log);
    assert_eq!(offset, first.len() as u64);
    assert_ne!(error, FormatError::Truncated);
}

#[test]
fn the_reader_reports_offsets_over_a_sequence() {
    let bodies = every_kind();
    let events: Vec<Vec<u8>> = bodies.iter().map(|b| assemble(b).1).collect();
    let log = events.concat();
    let mut want_offset = 0u64;
    let items = read_all(&log).unwrap();
    assert_eq!(items.len(), events.len());
    for ((offset, bytes, event), (stored, body)) in items.iter().zip(events.iter().zip(&bodies)) {
        assert_eq!(*offset, want_offset);
        assert_eq!(bytes, stored);
        assert_eq!(event.body, *body);
        assert_eq!(event.hash(), EventHash::of(stored));
        assert_eq!(event.stored_len(), stored.len());
        want_offset += stored.len() as u64;
    }
    assert_eq!(want_offset, log.len() as u64);

    // The same through a tiny buffer, so that every item spans reads.
    let tiny = read_all_from(LogReader::new(BufReader::with_capacity(3, log.as_slice()))).unwrap();
    assert_eq!(
        tiny.iter()
            .map(|(o, b, _)| (*o, b.clone()))
            .collect::<Vec<_>>(),
        items
            .iter()
            .map(|(o, b, _)| (*o, b.clone()))
            .collect::<Vec<_>>()
    );

    // The reader stops at the end, and offset() is the log's length.
    let mut reader = LogReader::new(log.as_slice());
    while reader.next_event().unwrap().is_some() {}
    assert_eq!(reader.offset(), log.len() as u64);
    assert!(reader.next_event().unwrap().is_none());
}

#[test]
fn the_reader_names_the_offset_of_a_bad_event() {
    let events: Vec<Vec<u8>> = every_kind()[..4].iter().map(|b| assemble(b).1).collect();
    let good = events.concat();
    let end = good.len() as u64;
    let at = |n: usize| events[..n].iter().map(Vec::len).sum::<usize>() as u64;

    // A torn tail: part of a fifth event.
    let (_, fifth, _) = assemble(&note_body());
    for cut in [1, 2, fifth.len() / 2, fifth.len() - 1] {
        let log = [good.as_slice(), &fifth[..cut]].concat();
        assert_eq!(read_error(&log), (end, FormatError::Truncated));
    }
    // A complete item that is not an event, after the events.
    for (tail, check) in [
        (
            h("00"),
            (|e: &FormatError| matches!(e, FormatError::Envelope(_))) as fn(&FormatError) -> bool,
        ),
        (h("a0"), |e| matches!(e, FormatError::Envelope(_))),
        (h("f5"), |e| matches!(e, FormatError::ForbiddenType { .. })),
        (h("ff"), |e| matches!(e, FormatError::Cbor(_))),
        (h("1801"), |e| {
            matches!(e, FormatError::NotDeterministic { .. })
        }),
    ] {
        let log = [good.as_slice(), &tail].concat();
        let (offset, error) = read_error(&log);
        assert_eq!(offset, end);
        assert!(check(&error), "{}: {error:?}", hex::encode(&tail));
    }
    // A bad event in the middle: the third event with a non-shortest
    // integer in its envelope.
    let mut third = vec![0xd8, 0x12];
    third.extend_from_slice(&events[2][1..]);
    let log = [&events[0][..], &events[1], &third, &events[3]].concat();
    assert_eq!(
        read_error(&log),
        (at(2), FormatError::NotDeterministic { what: "the event" })
    );
    // A bad body in the middle.
    let key = key();
    let bad = signed(&key, &edited(&note_body(), |m| set(m, "v", i(2))));
    let log = [&events[0][..], &bad, &events[1]].concat();
    assert_eq!(read_error(&log), (at(1), FormatError::Version(2)));
}

// ---------------------------------------------------------------------------
// Robustness
// ---------------------------------------------------------------------------

#[test]
fn huge_declared_lengths_do_not_allocate() {
    // Headers that claim 2^32 or 2^63 elements or bytes, with nothing
    // behind them, are just truncated input.
    for header in [
        "d2 9b 0000000100000000",
        "d2 84 5b 7fffffffffffffff",
        "d2 84 40 bb 7fffffffffffffff",
        "d2 84 40 a0 7b 0000000100000000",
    ] {
        let bytes = h(header);
        assert_eq!(Event::decode(&bytes).unwrap_err(), FormatError::Truncated);
        assert_eq!(read_error(&bytes), (0, FormatError::Truncated));
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let mut payload = vec![0x81; 10_000];
    payload.push(0x00);
    let e = Body::decode(&payload).unwrap_err();
    assert_variant!(e, FormatError::Cbor(_));
}

#[test]
fn text_strings_must_be_utf8() {
    let payload = note_body().encode();
    // The note's text "hello" with an invalid byte, a lone continuation
    // byte, an overlong encoding of '/', and a UTF-16 surrogate.
    for bad in ["68ff6c6c6f", "68806c6c6f", "68c0af6c6f", "eda0806c6f"] {
        let bad = splice(
            &payload,
            &h("64 74657874 65 68656c6c6f"),
            &h(&format!("64 74657874 65 {bad}")),
        );
        assert_variant!(reject_payload(&bad), FormatError::Cbor(_));
    }
    // In a map key: "text" spelled with an invalid byte.
    let bad = splice(&payload, &h("64 74657874"), &h("64 74ff7874"));
    assert_variant!(reject_payload(&bad), FormatError::Cbor(_));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn id() -> impl Strategy<Value = String> {
        "[a-z0-9][a-z0-9._-]{0,20}"
    }

    fn line() -> impl Strategy<Value = String> {
        "[^\\p{Cc}]{1,40}"
    }

    fn text() -> impl Strategy<Value = String> {
        "([^\\p{Cc}]|\n|\t){1,80}"
    }

    fn kind() -> impl Strategy<Value = Kind> {
        prop_oneof![
            (
                line(),
                prop::collection::btree_map(id(), any::<[u8; 32]>(), 1..5)
            )
                .prop_map(|(title, parties)| Kind::LedgerCreated {
                    title,
                    parties: parties
                        .into_iter()
                        .map(|(k, v)| (PartyId::new(&k).unwrap(), v))
                        .collect(),
                }),
            (
                id(),
                line(),
                proptest::option::of(line()),
                proptest::option::of(text())
            )
                .prop_map(|(s, title, place, notes)| Kind::SessionOpened {
                    session: SessionId::new(&s).unwrap(),
                    title,
                    place,
                    chair: None,
                    notes,
                }),
            (
                id(),
                any::<[u8; 32]>(),
                line(),
                prop::collection::btree_set(id(), 0..5)
            )
                .prop_map(|(d, sha, title, sigs)| Kind::DocumentDrafted {
                    doc: DocId::new(&d).unwrap(),
                    sha256: DocHash(sha),
                    title,
                    signatories: sigs.iter().map(|s| PartyId::new(s).unwrap()).collect(),
                }),
            (id(), any::<[u8; 32]>(), proptest::option::of(text())).prop_map(|(d, sha, notes)| {
                Kind::DocumentAmended {
                    doc: DocId::new(&d).unwrap(),
                    sha256: DocHash(sha),
                    notes,
                }
            }),
            text().prop_map(|text| Kind::Note { text }),
            (any::<[u8; 32]>(), any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(key, a, b)| {
                Kind::KeyAdded {
                    key,
                    proof: [a, b].concat().try_into().unwrap(),
                }
            }),
            (any::<[u8; 32]>(), any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(key, a, b)| {
                Kind::KeyRotated {
                    key,
                    proof: [a, b].concat().try_into().unwrap(),
                }
            }),
            (any::<[u8; 32]>(), line()).prop_map(|(kid, reason)| Kind::KeyRevoked {
                kid: Kid(kid),
                reason
            }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn time_strings_parse_or_fail_cleanly(
            s in "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,10})?(Z|z|[+-][0-9]{2}:?[0-9]{2})?",
            junk in "\\PC{0,40}",
        ) {
            if let Ok(t) = Timestamp::parse(&s) {
                prop_assert_eq!(t.as_str(), s.as_str());
                let b = s.as_bytes();
                let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap();
                prop_assert!((1..=12).contains(&num(5..7)));
                prop_assert!((1..=31).contains(&num(8..10)));
                prop_assert!(num(11..13) < 24 && num(14..16) < 60 && num(17..19) < 60);
                prop_assert!(num(0..4) >= 1);
                prop_assert!(b.ends_with(b"Z") || b[b.len() - 3] == b':');
                // An event with this time round trips.
                let mut body = note_body();
                body.time = t.clone();
                prop_assert_eq!(Body::decode(&body.encode()).unwrap().time, t);
            }
            let _ = Timestamp::parse(&junk);
        }

        #[test]
        fn bodies_round_trip(
            kind in kind(),
            seq in any::<u64>(),
            prev in proptest::option::of(any::<[u8; 32]>()),
            ledger in any::<[u8; 16]>(),
            author in id(),
        ) {
            let body = Body {
                version: 1,
                ledger: LedgerId(ledger),
                seq,
                prev: prev.map(EventHash),
                time: ts("2017-06-14T09:30:00.25-03:30"),
                author: PartyId::new(&author).unwrap(),
                kind,
            };
            let payload = body.encode();
            prop_assert_eq!(Body::decode(&payload).unwrap(), body.clone());
            let (event, bytes, _) = assemble(&body);
            prop_assert_eq!(Event::decode(&bytes).unwrap().body, body);
            prop_assert_eq!(event.hash(), EventHash::of(&bytes));
        }

        #[test]
        fn mutated_events_never_panic(
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let (_, bytes, _) = assemble(&body(Kind::DocumentDrafted {
                doc: DocId::new("d").unwrap(),
                sha256: DocHash([1; 32]),
                title: "D".into(),
                signatories: vec![pid("a"), pid("b")],
            }));
            let mut bad = bytes.clone();
            for (at, byte) in &flips {
                let at = at.index(bad.len());
                bad[at] = *byte;
            }
            // Event::decode and the log reader reach the same verdict.
            match (Event::decode(&bad), read_all(&bad)) {
                (Ok(event), Ok(items)) => {
                    prop_assert_eq!(items.len(), 1);
                    prop_assert_eq!(items[0].2.hash(), event.hash());
                }
                (Err(FormatError::Trailing(_)), _) => {}
                (Err(e), Err(ReadError::Format { offset: 0, error })) => prop_assert_eq!(e, error),
                (a, b) => prop_assert!(
                    false,
                    "decode: {:?}, reader: {:?}",
                    a.map(|e| e.hash()),
                    b.map(|items| items.len())
                ),
            }
            let cut = cut.index(bad.len());
            let _ = Event::decode(&bad[..cut]);
            let _ = read_all(&bad[..cut]);
            let _ = Body::decode(&bad);
        }
    }
}
