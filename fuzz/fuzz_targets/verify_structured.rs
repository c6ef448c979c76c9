//! Structure-aware: builds a small ledger of correctly encoded events,
//! signed with known keys, from a fuzzer-chosen plan (kinds, authors,
//! signers, times, seq/prev/ledger/version/signature tampering,
//! annotations), then optionally damages it at the event or byte level,
//! and verifies it. Signed events let the fuzzer reach every replay rule,
//! which raw bytes almost never do. The verdict is cross-checked by
//! `oracle::verify_log`.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use ciborium::value::Value;
use ledger::base::time::Timestamp;
use ledger::core::format::{
    encode_value, protected_header, sig_structure, Body, DocHash, DocId, Event, EventHash, Kind,
    LedgerId, PartyId, SessionId,
};
use ledger_fuzz::oracle::{self, Scratch};
use ledger_fuzz::vectors::{self, Key};
use libfuzzer_sys::fuzz_target;

ledger_fuzz::counting_allocator!();

const IDS: [&str; 6] = ["most", "med", "third", "ghost", "dup", "weak"];
const SESSIONS: [&str; 3] = ["plenary", "dialogue", "s.1"];
const DOCS: [&str; 3] = ["joint-declaration", "work-plan", "d"];
const TEXTS: [&str; 4] = [
    "hello",
    "多语言 text\twith a tab\nand a line feed",
    "x",
    "a bell \u{7} is not allowed",
];
const OFFSETS: [(&str, i64); 4] = [
    ("Z", 0),
    ("+08:00", 480),
    ("-05:30", -330),
    ("+23:59", 1439),
];

struct Fixture {
    keys: Vec<Key>,
    scratch: Scratch,
    /// Document versions: four stored (the FORMAT doc, the two sample
    /// docs, one more), one missing, one stored with the wrong content.
    shas: Vec<[u8; 32]>,
    vector_events: Vec<Vec<u8>>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let docs: Vec<Vec<u8>> = vec![
            vectors::vector_doc(),
            include_bytes!("../../scripts/sample/joint-declaration.txt").to_vec(),
            include_bytes!("../../scripts/sample/work-plan-2017-2020.txt").to_vec(),
            b"amendment\n".to_vec(),
        ];
        let refs: Vec<&[u8]> = docs.iter().map(|d| d.as_slice()).collect();
        let scratch = Scratch::new(&refs);
        let mut shas: Vec<[u8; 32]> = docs.iter().map(|d| oracle::sha(d)).collect();
        shas.push(oracle::sha(b"never stored"));
        let wrong = oracle::sha(b"what was signed");
        std::fs::write(scratch.doc_path(&wrong), b"something else").unwrap();
        shas.push(wrong);
        Fixture {
            keys: vectors::keys(),
            scratch,
            shas,
            vector_events: vectors::vector_events(),
        }
    })
}

#[derive(Arbitrary, Debug)]
enum KindSpec {
    Created {
        title: u8,
    },
    Opened {
        session: u8,
        place: bool,
        chair: bool,
        notes: Option<u8>,
    },
    Closed {
        session: u8,
        notes: Option<u8>,
    },
    Drafted {
        doc: u8,
        sha: u8,
        title: u8,
        signatories: u8,
    },
    Amended {
        doc: u8,
        sha: u8,
        notes: Option<u8>,
    },
    Approved {
        doc: u8,
        sha: u8,
    },
    Signed {
        doc: u8,
        sha: u8,
    },
    Note {
        text: u8,
    },
}

#[derive(Arbitrary, Debug)]
enum PrevSpec {
    Right,
    Absent,
    Of(u8),
}

#[derive(Arbitrary, Debug)]
struct EventSpec {
    kind: KindSpec,
    author: u8,
    /// Sign with this key instead of the author's.
    signer: Option<u8>,
    /// Minutes after the previous event (negative: earlier).
    step: i8,
    offset: u8,
    fraction: Option<u32>,
    seq_skew: Option<i8>,
    prev: PrevSpec,
    other_ledger: bool,
    version: Option<u8>,
    flip_sig_bit: Option<u16>,
    annotation: Option<u8>,
}

#[derive(Arbitrary, Debug)]
enum Damage {
    Flip { at: u16, xor: u8 },
    Truncate { to: u16 },
    Insert { at: u16, byte: u8 },
    Swap { a: u8, b: u8 },
    Duplicate { a: u8 },
    Drop { a: u8 },
}

#[derive(Arbitrary, Debug)]
struct Plan {
    /// Start from the FORMAT §10 ledger instead of a fresh genesis.
    from_vectors: bool,
    /// Parties of a fresh genesis (bits over IDS; "dup" shares most's key,
    /// "weak" has a small-order key).
    parties: u8,
    genesis_author: u8,
    /// Append 64 to 79 notes before the planned events: the verifier
    /// checks runs of 64 or more events on several threads.
    pad: Option<u8>,
    events: Vec<EventSpec>,
    damage: Vec<Damage>,
    pick: u8,
}

fn party_key(f: &Fixture, id: usize) -> [u8; 32] {
    match id {
        0..=3 => f.keys[id].public(),
        4 => f.keys[0].public(),
        // The identity point: small order, FORMAT §5.6 forbids it.
        _ => {
            let mut k = [0u8; 32];
            k[0] = 1;
            k
        }
    }
}

fn signer_for(f: &Fixture, author: usize) -> &Key {
    match author {
        0..=3 => &f.keys[author],
        _ => &f.keys[0],
    }
}

fn time(minutes: i64, offset: u8, fraction: Option<u32>) -> Timestamp {
    let (suffix, off) = OFFSETS[usize::from(offset) % OFFSETS.len()];
    // Minutes since 2017-06-13T00:00Z, shown in the chosen offset.
    let local = minutes + off;
    let day = 13 + local.div_euclid(1440);
    let m = local.rem_euclid(1440);
    let day = day.clamp(1, 30);
    let frac = fraction.map_or(String::new(), |f| format!(".{:0>1}", f % 1_000_000_000));
    let s = format!(
        "2017-06-{day:02}T{:02}:{:02}:00{frac}{suffix}",
        m / 60,
        m % 60
    );
    Timestamp::parse(&s).unwrap_or_else(|e| panic!("fixture time {s}: {e}"))
}

fn sign(key: &Key, body: &Body, annotation: Option<u8>, flip: Option<u16>) -> Vec<u8> {
    if annotation.is_none() && flip.is_none() {
        // The writer's own road wherever the body makes an event at all;
        // the same bytes as below, since Ed25519 signing is deterministic.
        if let Ok((_, stored)) = Event::sign(&key.ledger, body) {
            return stored;
        }
    }
    // Built by hand: an annotated payload, a flipped signature bit, or a
    // body that does not decode, which `Event::sign` would never make.
    let mut payload = body.encode();
    if let Some(a) = annotation {
        let mut v: Value = ciborium::de::from_reader(payload.as_slice()).unwrap();
        if let Value::Map(m) = &mut v {
            m.push((Value::Text("_note".into()), Value::Integer(a.into())));
        }
        payload = encode_value(v);
    }
    let kid = key.kid();
    let mut sig = key.sign(&sig_structure(&protected_header(&kid), &payload));
    if let Some(bit) = flip {
        sig[usize::from(bit / 8) % 64] ^= 1 << (bit % 8);
    }
    encode_value(Value::Tag(
        18,
        Box::new(Value::Array(vec![
            Value::Bytes(protected_header(&kid)),
            Value::Map(vec![]),
            Value::Bytes(payload),
            Value::Bytes(sig.to_vec()),
        ])),
    ))
}

fn pick<'a>(pool: &[&'a str], i: u8) -> &'a str {
    pool[usize::from(i) % pool.len()]
}

fn build(f: &Fixture, plan: &Plan) -> Vec<Vec<u8>> {
    let mut events: Vec<Vec<u8>> = Vec::new();
    let mut ledger = LedgerId([7; 16]);
    let mut minutes: i64 = 9 * 60;
    let mut pad_author = 0;
    if plan.from_vectors {
        events.extend(f.vector_events.iter().cloned());
        ledger = LedgerId(*b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f");
        minutes = 26 * 60;
    } else {
        let mut parties = std::collections::BTreeMap::new();
        for (i, id) in IDS.iter().enumerate() {
            if plan.parties & (1 << i) != 0 {
                parties.insert(PartyId::new(id).unwrap(), party_key(f, i));
            }
        }
        let author = usize::from(plan.genesis_author) % IDS.len();
        pad_author = author;
        let body = Body {
            version: 1,
            ledger,
            seq: 0,
            prev: None,
            time: time(minutes, 0, None),
            author: PartyId::new(IDS[author]).unwrap(),
            kind: Kind::LedgerCreated {
                title: "Fuzz".into(),
                parties,
            },
        };
        events.push(sign(signer_for(f, author), &body, None, None));
    }
    if let Some(pad) = plan.pad {
        for _ in 0..64 + pad % 16 {
            let body = Body {
                version: 1,
                ledger,
                seq: events.len() as u64,
                prev: events.last().map(|e| EventHash::of(e)),
                time: time(minutes, 1, None),
                author: PartyId::new(IDS[pad_author]).unwrap(),
                kind: Kind::Note { text: "pad".into() },
            };
            events.push(sign(signer_for(f, pad_author), &body, None, None));
        }
    }
    for spec in plan.events.iter().take(12) {
        let seq = events.len() as u64;
        let seq = match spec.seq_skew {
            Some(d) => seq.wrapping_add_signed(i64::from(d)),
            None => seq,
        };
        let prev = match spec.prev {
            PrevSpec::Right => events.last().map(|e| EventHash::of(e)),
            PrevSpec::Absent => None,
            PrevSpec::Of(i) => Some(EventHash::of(&events[usize::from(i) % events.len()])),
        };
        minutes += i64::from(spec.step);
        let author = usize::from(spec.author) % IDS.len();
        let doc = |i: u8| DocId::new(pick(&DOCS, i)).unwrap();
        let sha = |i: u8| DocHash(f.shas[usize::from(i) % f.shas.len()]);
        let text = |i: u8| pick(&TEXTS, i).to_owned();
        let kind = match &spec.kind {
            KindSpec::Created { title } => Kind::LedgerCreated {
                title: text(*title),
                parties: [(PartyId::new("most").unwrap(), party_key(f, 0))].into(),
            },
            KindSpec::Opened {
                session,
                place,
                chair,
                notes,
            } => Kind::SessionOpened {
                session: SessionId::new(pick(&SESSIONS, *session)).unwrap(),
                title: "Session".into(),
                place: place.then(|| "Beijing".into()),
                chair: chair.then(|| "Ye Dongbai (MOST)".into()),
                notes: notes.map(text),
            },
            KindSpec::Closed { session, notes } => Kind::SessionClosed {
                session: SessionId::new(pick(&SESSIONS, *session)).unwrap(),
                notes: notes.map(text),
            },
            KindSpec::Drafted {
                doc: d,
                sha: s,
                title,
                signatories,
            } => Kind::DocumentDrafted {
                doc: doc(*d),
                sha256: sha(*s),
                title: text(*title),
                signatories: IDS
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| signatories & (1 << i) != 0)
                    .map(|(_, id)| PartyId::new(id).unwrap())
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect(),
            },
            KindSpec::Amended {
                doc: d,
                sha: s,
                notes,
            } => Kind::DocumentAmended {
                doc: doc(*d),
                sha256: sha(*s),
                notes: notes.map(text),
            },
            KindSpec::Approved { doc: d, sha: s } => Kind::DocumentApproved {
                doc: doc(*d),
                sha256: sha(*s),
            },
            KindSpec::Signed { doc: d, sha: s } => Kind::DocumentSigned {
                doc: doc(*d),
                sha256: sha(*s),
            },
            KindSpec::Note { text: t } => Kind::Note { text: text(*t) },
        };
        let body = Body {
            version: spec.version.map_or(1, u64::from),
            ledger: if spec.other_ledger {
                LedgerId([8; 16])
            } else {
                ledger
            },
            seq,
            prev,
            time: time(minutes, spec.offset, spec.fraction),
            author: PartyId::new(IDS[author]).unwrap(),
            kind,
        };
        let key = match spec.signer {
            Some(i) => &f.keys[usize::from(i) % f.keys.len()],
            None => signer_for(f, author),
        };
        events.push(sign(key, &body, spec.annotation, spec.flip_sig_bit));
    }
    events
}

fuzz_target!(|plan: Plan| {
    let f = fixture();
    let mut events = build(f, &plan);
    let mut byte_damage = Vec::new();
    for d in plan.damage.iter().take(4) {
        let n = events.len();
        match *d {
            Damage::Swap { a, b } => events.swap(usize::from(a) % n, usize::from(b) % n),
            Damage::Duplicate { a } => {
                let e = events[usize::from(a) % n].clone();
                events.insert(usize::from(a) % n, e);
            }
            Damage::Drop { a } if n > 1 => {
                events.remove(usize::from(a) % n);
            }
            Damage::Drop { .. } => {}
            ref other => byte_damage.push(other),
        }
    }
    let mut log: Vec<u8> = events.concat();
    for d in byte_damage {
        if log.is_empty() {
            break;
        }
        let n = log.len();
        match *d {
            Damage::Flip { at, xor } => log[usize::from(at) % n] ^= xor.max(1),
            Damage::Truncate { to } => log.truncate(usize::from(to) % n),
            Damage::Insert { at, byte } => log.insert(usize::from(at) % n, byte),
            _ => {}
        }
    }
    let r = oracle::verify_log(&f.scratch, &log, usize::from(plan.pick));
    if std::env::var_os("LEDGER_FUZZ_DEBUG").is_some() {
        // Triage: `LEDGER_FUZZ_DEBUG=1 fuzz/target/.../verify_structured INPUT`.
        eprintln!(
            "{plan:#?}\n{} bytes -> {:?}",
            log.len(),
            r.map(|rep| rep.count)
        );
    }
});
