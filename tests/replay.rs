//! The replay rules of FORMAT §6, each in isolation, at the library level:
//! `State::genesis` and `State::apply` on events built in memory. Every
//! rejection asserts its `RuleError` variant and that the state is exactly
//! what it was before the rejected event.

mod common;

use common::{all_docs, clock, next_body, pid, sign};

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use ciborium::value::Value;
use ledger::base::crypto::{PublicKey, SigningKey};
use ledger::base::time::Timestamp;
use ledger::core::format::{
    protected_header, Body, DocHash, DocId, Event, EventHash, Kid, Kind, LedgerId, PartyId,
    SessionId,
};
use ledger::core::replay::{Checked, Documents, RuleError, State};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn did(s: &str) -> DocId {
    DocId::new(s).unwrap()
}

fn sid(s: &str) -> SessionId {
    SessionId::new(s).unwrap()
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap()
}

fn sha(content: &str) -> DocHash {
    DocHash::of(content.as_bytes())
}

/// Signs `body` with `signer`, naming `kid` in the protected header.
fn sign_as(body: &Body, signer: &SigningKey, kid: [u8; 32]) -> Event {
    common::sign_as(signer, kid, body).0
}

/// The event of `body` with `signature` in place of a real one.
fn with_signature(body: &Body, kid: [u8; 32], signature: [u8; 64]) -> Event {
    Event::assemble(kid, body.encode(), signature).unwrap().0
}

fn snapshot(state: &State) -> String {
    serde_json::to_string(state).unwrap()
}

const PARTIES: [&str; 3] = ["alice", "bob", "carol"];

/// A ledger under construction: the keys of its parties, its state, and a
/// clock that moves forward one second per event.
struct Fx {
    ledger: LedgerId,
    keys: Rc<BTreeMap<String, SigningKey>>,
    state: State,
    genesis: Event,
    tick: u64,
}

fn genesis_body(ledger: LedgerId, author: &str, parties: BTreeMap<PartyId, [u8; 32]>) -> Body {
    Body {
        version: 1,
        ledger,
        seq: 0,
        prev: None,
        time: clock(0),
        author: pid(author),
        kind: Kind::LedgerCreated {
            title: "Treaty talks".into(),
            parties,
        },
    }
}

impl Fx {
    fn new() -> Fx {
        Fx::with_ledger(LedgerId(rand_id()))
    }

    fn with_ledger(ledger: LedgerId) -> Fx {
        let keys: BTreeMap<String, SigningKey> = PARTIES
            .iter()
            .map(|p| (p.to_string(), SigningKey::generate()))
            .collect();
        let parties = keys
            .iter()
            .map(|(p, k)| (pid(p), k.public().to_bytes()))
            .collect();
        let body = genesis_body(ledger, "alice", parties);
        let genesis = sign(&body, &keys["alice"]);
        let (state, verified) = State::genesis(genesis.clone()).unwrap();
        assert_eq!(verified.hash(), genesis.hash());
        Fx {
            ledger,
            keys: Rc::new(keys),
            state,
            genesis,
            tick: 0,
        }
    }

    fn key(&self, party: &str) -> &SigningKey {
        &self.keys[party]
    }

    /// The body of the next event, in its right place: seq, prev, ledger
    /// and a later time.
    fn body(&mut self, author: &str, kind: Kind) -> Body {
        self.tick += 1;
        next_body(self.ledger, &self.state, self.tick, author, kind)
    }

    /// The next event, signed by its author.
    fn event(&mut self, author: &str, kind: Kind) -> Event {
        let body = self.body(author, kind);
        sign(&body, self.key(author))
    }

    /// Applies an event that must pass.
    #[track_caller]
    fn accept(&mut self, event: Event) {
        self.accept_with(event, &all_docs);
    }

    #[track_caller]
    fn accept_with(&mut self, event: Event, docs: &dyn Documents) {
        let hash = event.hash();
        let count = self.state.count;
        let kind = event.body.kind.name();
        match self.state.apply(event, docs) {
            Ok(verified) => assert_eq!(verified.hash(), hash),
            Err(e) => panic!("event {count} ({kind}) rejected: {e}"),
        }
        assert_eq!(self.state.count, count + 1);
        assert_eq!(self.state.head, hash);
    }

    #[track_caller]
    fn push(&mut self, author: &str, kind: Kind) {
        let event = self.event(author, kind);
        self.accept(event);
    }

    /// Applies an event that must fail, and checks that the state is
    /// exactly as it was.
    #[track_caller]
    fn reject(&mut self, event: Event) -> RuleError {
        self.reject_with(event, &all_docs)
    }

    #[track_caller]
    fn reject_with(&mut self, event: Event, docs: &dyn Documents) -> RuleError {
        let before = snapshot(&self.state);
        let kind = event.body.kind.name();
        let e = match self.state.apply(event, docs) {
            Ok(_) => panic!("{kind} event accepted"),
            Err(e) => e,
        };
        assert_eq!(
            snapshot(&self.state),
            before,
            "the rejected event ({e}) changed the state"
        );
        e
    }

    /// The next event by `author` must fail with the error returned.
    #[track_caller]
    fn refuse(&mut self, author: &str, kind: Kind) -> RuleError {
        let event = self.event(author, kind);
        self.reject(event)
    }

    fn doc(&self, doc: &str) -> &ledger::core::replay::Document {
        &self.state.documents[&did(doc)]
    }
}

fn rand_id() -> [u8; 16] {
    let mut id = [0u8; 16];
    id.copy_from_slice(&SigningKey::generate().public().kid()[..16]);
    id
}

fn note(text: &str) -> Kind {
    Kind::Note { text: text.into() }
}

fn open(session: &str) -> Kind {
    Kind::SessionOpened {
        session: sid(session),
        title: format!("Session {session}"),
        place: None,
        chair: None,
        notes: None,
    }
}

fn close(session: &str) -> Kind {
    Kind::SessionClosed {
        session: sid(session),
        notes: None,
    }
}

fn draft(doc: &str, content: &str, signatories: &[&str]) -> Kind {
    Kind::DocumentDrafted {
        doc: did(doc),
        sha256: sha(content),
        title: format!("Document {doc}"),
        signatories: signatories.iter().map(|p| pid(p)).collect(),
    }
}

fn amend(doc: &str, content: &str) -> Kind {
    Kind::DocumentAmended {
        doc: did(doc),
        sha256: sha(content),
        notes: None,
    }
}

fn approve(doc: &str, content: &str) -> Kind {
    Kind::DocumentApproved {
        doc: did(doc),
        sha256: sha(content),
    }
}

fn sign_doc(doc: &str, content: &str) -> Kind {
    Kind::DocumentSigned {
        doc: did(doc),
        sha256: sha(content),
    }
}

/// ed25519's group order L, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// `S + L`: the same scalar mod L, in a non-canonical encoding.
fn add_l(s: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for k in 0..32 {
        let sum = u16::from(s[k]) + u16::from(L[k]) + carry;
        out[k] = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0);
    out
}

// ---------------------------------------------------------------------------
// A whole agreement
// ---------------------------------------------------------------------------

#[test]
fn an_agreement_replays() {
    let mut fx = Fx::new();
    assert_eq!(fx.state.count, 1);
    assert_eq!(fx.state.head, fx.genesis.hash());
    assert_eq!(fx.state.ledger, fx.ledger);
    assert_eq!(fx.state.title, "Treaty talks");
    assert_eq!(
        fx.state.parties.keys().cloned().collect::<Vec<_>>(),
        PARTIES.map(pid)
    );
    for p in PARTIES {
        let kid = Kid(fx.key(p).public().kid());
        assert_eq!(fx.state.parties[&pid(p)].keys, [kid]);
        assert_eq!(fx.state.keys[&kid].key, fx.key(p).public());
        assert_eq!(fx.state.party_of(&fx.key(p).public()), Some(&pid(p)));
    }

    fx.push("alice", open("plenary"));
    fx.push("bob", draft("treaty", "v1", &["alice", "bob"]));
    fx.push("carol", approve("treaty", "v1"));
    fx.push("alice", sign_doc("treaty", "v1"));
    assert_eq!(fx.doc("treaty").executed, None);
    assert_eq!(fx.doc("treaty").awaiting(), vec![&pid("bob")]);
    fx.push("bob", sign_doc("treaty", "v1"));
    let d = fx.doc("treaty");
    assert_eq!(d.executed, Some(5));
    assert!(d.awaiting().is_empty());
    assert_eq!(d.current().sha256, sha("v1"));
    assert_eq!(d.current().seq, 2);
    assert_eq!(d.current().approvals, BTreeMap::from([(pid("carol"), 3)]));
    assert_eq!(
        d.current().signatures,
        BTreeMap::from([(pid("alice"), 4), (pid("bob"), 5)])
    );
    fx.push("carol", note("Signed in the hall."));
    fx.push("alice", close("plenary"));
    assert_eq!(fx.state.count, 8);
    assert!(fx.state.sessions.is_empty());
    assert_eq!(fx.state.last_time, clock(7));
}

// ---------------------------------------------------------------------------
// §6.3 Sequence
// ---------------------------------------------------------------------------

#[test]
fn seq_must_follow_without_gaps_or_repeats() {
    let mut fx = Fx::new();
    fx.push("alice", note("one"));
    // A gap.
    let mut body = fx.body("alice", note("three"));
    body.seq = 3;
    let e = fx.reject(sign(&body, fx.key("alice")));
    assert_eq!(
        e,
        RuleError::Seq {
            expected: 2,
            found: 3
        }
    );
    // A repeat of a number already used, with the right prev.
    let mut body = fx.body("alice", note("one again"));
    body.seq = 1;
    let e = fx.reject(sign(&body, fx.key("alice")));
    assert_eq!(
        e,
        RuleError::Seq {
            expected: 2,
            found: 1
        }
    );
    body.seq = 0;
    let e = fx.reject(sign(&body, fx.key("alice")));
    assert_eq!(
        e,
        RuleError::Seq {
            expected: 2,
            found: 0
        }
    );
    body.seq = u64::MAX;
    let e = fx.reject(sign(&body, fx.key("alice")));
    assert_eq!(
        e,
        RuleError::Seq {
            expected: 2,
            found: u64::MAX
        }
    );
}

#[test]
fn the_same_event_cannot_be_applied_twice() {
    let mut fx = Fx::new();
    let event = fx.event("bob", note("once"));
    fx.accept(event.clone());
    assert_eq!(
        fx.reject(event),
        RuleError::Seq {
            expected: 2,
            found: 1
        }
    );
    // Nor can the genesis be replayed into its own ledger.
    let genesis = fx.genesis.clone();
    assert_eq!(
        fx.reject(genesis),
        RuleError::Seq {
            expected: 2,
            found: 0
        }
    );
}

#[test]
fn genesis_seq_must_be_zero() {
    let fx = Fx::new();
    let mut body = fx.genesis.body.clone();
    body.seq = 1;
    let e = State::genesis(sign(&body, fx.key("alice"))).unwrap_err();
    assert_eq!(
        e,
        RuleError::Seq {
            expected: 0,
            found: 1
        }
    );
}

// ---------------------------------------------------------------------------
// §6.4 Ledger
// ---------------------------------------------------------------------------

#[test]
fn genesis_must_be_ledger_created() {
    let fx = Fx::new();
    let key = fx.key("alice");
    for kind in [
        note("hello"),
        open("s"),
        draft("d", "v1", &[]),
        approve("d", "v1"),
    ] {
        let name = kind.name();
        let body = Body {
            seq: 0,
            prev: None,
            kind,
            ..fx.genesis.body.clone()
        };
        let e = State::genesis(sign(&body, key)).unwrap_err();
        assert_eq!(e, RuleError::NotGenesis { found: name });
    }
}

#[test]
fn genesis_must_not_have_prev() {
    let fx = Fx::new();
    let mut body = fx.genesis.body.clone();
    body.prev = Some(EventHash([0; 32]));
    let e = State::genesis(sign(&body, fx.key("alice"))).unwrap_err();
    assert_eq!(e, RuleError::GenesisPrev);
}

#[test]
fn a_second_ledger_created_is_refused() {
    let mut fx = Fx::new();
    fx.push("alice", note("one"));
    let Kind::LedgerCreated { parties, .. } = fx.genesis.body.kind.clone() else {
        unreachable!()
    };
    let kind = Kind::LedgerCreated {
        title: "Take-over".into(),
        parties,
    };
    assert_eq!(fx.refuse("alice", kind), RuleError::SecondGenesis);
}

#[test]
fn an_event_of_another_ledger_is_refused() {
    let mut ours = Fx::new();
    let mut theirs = Fx::new();
    // Their event 1 in our ledger, at our position 1.
    let foreign = theirs.event("bob", note("theirs"));
    let e = ours.reject(foreign);
    assert_eq!(
        e,
        RuleError::WrongLedger {
            expected: ours.ledger,
            found: theirs.ledger
        }
    );
}

#[test]
fn the_ledger_id_must_match_even_with_a_good_chain() {
    let mut fx = Fx::new();
    let mut body = fx.body("bob", note("x"));
    body.ledger = LedgerId([0x42; 16]);
    let e = fx.reject(sign(&body, fx.key("bob")));
    assert_eq!(
        e,
        RuleError::WrongLedger {
            expected: fx.ledger,
            found: LedgerId([0x42; 16])
        }
    );
}

#[test]
fn prev_is_required_after_genesis() {
    let mut fx = Fx::new();
    let mut body = fx.body("bob", note("x"));
    body.prev = None;
    assert_eq!(
        fx.reject(sign(&body, fx.key("bob"))),
        RuleError::MissingPrev
    );
}

#[test]
fn prev_must_name_the_previous_event() {
    let mut fx = Fx::new();
    fx.push("bob", note("one"));
    let head = fx.state.head;
    for wrong in [
        EventHash([0; 32]),
        fx.genesis.hash(),
        EventHash::of(b"something else"),
    ] {
        let mut body = fx.body("bob", note("two"));
        body.prev = Some(wrong);
        let e = fx.reject(sign(&body, fx.key("bob")));
        assert_eq!(
            e,
            RuleError::BrokenLink {
                expected: head,
                found: wrong
            }
        );
    }
}

// ---------------------------------------------------------------------------
// §6.5 Author, §6.6 Signature
// ---------------------------------------------------------------------------

#[test]
fn the_author_must_be_a_party() {
    let mut fx = Fx::new();
    let mallory = SigningKey::generate();
    let body = fx.body("mallory", note("hi"));
    let e = fx.reject(sign(&body, &mallory));
    assert_eq!(
        e,
        RuleError::UnknownAuthor {
            author: pid("mallory")
        }
    );
    // At genesis: the author is not one of the parties it creates.
    let mut body = fx.genesis.body.clone();
    body.author = pid("mallory");
    let e = State::genesis(sign(&body, &mallory)).unwrap_err();
    assert_eq!(
        e,
        RuleError::UnknownAuthor {
            author: pid("mallory")
        }
    );
}

#[test]
fn the_kid_must_be_the_authors_key() {
    let mut fx = Fx::new();
    let alice = fx.key("alice").public().kid();
    let bob = fx.key("bob").public().kid();
    // Author alice, signed by alice, but the kid names bob's key.
    let body = fx.body("alice", note("x"));
    let e = fx.reject(sign_as(&body, fx.key("alice"), bob));
    assert_eq!(
        e,
        RuleError::KidMismatch {
            author: pid("alice")
        }
    );
    // Author bob, signed by alice with her own kid.
    let body = fx.body("bob", note("x"));
    let e = fx.reject(sign_as(&body, fx.key("alice"), alice));
    assert_eq!(e, RuleError::KidMismatch { author: pid("bob") });
    // Author bob, bob's kid, but alice's signature.
    let body = fx.body("bob", note("x"));
    let e = fx.reject(sign_as(&body, fx.key("alice"), bob));
    assert_eq!(e, RuleError::BadSignature { author: pid("bob") });
    // A kid that is no party's.
    let body = fx.body("bob", note("x"));
    let e = fx.reject(sign_as(&body, fx.key("bob"), [0; 32]));
    assert_eq!(e, RuleError::KidMismatch { author: pid("bob") });
    // The same at genesis.
    let g = fx.genesis.body.clone();
    let e = State::genesis(sign_as(&g, fx.key("alice"), bob)).unwrap_err();
    assert_eq!(
        e,
        RuleError::KidMismatch {
            author: pid("alice")
        }
    );
    let e = State::genesis(sign_as(&g, fx.key("bob"), alice)).unwrap_err();
    assert_eq!(
        e,
        RuleError::BadSignature {
            author: pid("alice")
        }
    );
}

#[test]
fn a_tampered_signature_is_refused() {
    let mut fx = Fx::new();
    let body = fx.body("carol", note("x"));
    let good = sign(&body, fx.key("carol"));
    let kid = good.kid;
    for (at, bit) in [(0, 1), (31, 0x80), (32, 1), (50, 0x10), (63, 0x40)] {
        let mut sig = good.signature;
        sig[at] ^= bit;
        let e = fx.reject(with_signature(&body, kid, sig));
        assert_eq!(
            e,
            RuleError::BadSignature {
                author: pid("carol")
            }
        );
    }
    for sig in [[0; 64], [0xff; 64]] {
        let e = fx.reject(with_signature(&body, kid, sig));
        assert_eq!(
            e,
            RuleError::BadSignature {
                author: pid("carol")
            }
        );
    }
    // A tampered payload under the original signature.
    let mut other = body.clone();
    other.kind = note("y");
    let e = fx.reject(with_signature(&other, kid, good.signature));
    assert_eq!(
        e,
        RuleError::BadSignature {
            author: pid("carol")
        }
    );
    // The untouched event still passes.
    fx.accept(good);
}

/// A signature of `body` by `key` over other bytes than FORMAT §5.2's
/// Sig_structure.
fn sign_raw(body: &Body, key: &SigningKey, message: impl FnOnce(&[u8], &[u8]) -> Vec<u8>) -> Event {
    let kid = key.public().kid();
    let payload = body.encode();
    let sig = key.sign(&message(&protected_header(&kid), &payload));
    Event::assemble(kid, payload, sig).unwrap().0
}

fn cbor(v: Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(&v, &mut out).unwrap();
    out
}

#[test]
fn signatures_are_domain_separated() {
    let mut fx = Fx::new();
    let body = fx.body("bob", note("x"));
    let keys = fx.keys.clone();
    let key = &keys["bob"];
    let structure = |context: &str, aad: &[u8]| {
        let context = context.to_owned();
        let aad = aad.to_vec();
        move |protected: &[u8], payload: &[u8]| {
            cbor(Value::Array(vec![
                Value::Text(context),
                Value::Bytes(protected.to_vec()),
                Value::Bytes(aad),
                Value::Bytes(payload.to_vec()),
            ]))
        }
    };
    let wrong: Vec<Event> = vec![
        // Plain COSE_Sign1 without external_aad.
        sign_raw(&body, key, structure("Signature1", b"")),
        // Another version's or application's domain.
        sign_raw(&body, key, structure("Signature1", b"ledger/v2/event")),
        sign_raw(&body, key, structure("Signature1", b"ledger/v1/even")),
        // COSE_Sign's context string.
        sign_raw(&body, key, structure("Signature", b"ledger/v1/event")),
        // The bare payload, or the payload with the aad prepended.
        sign_raw(&body, key, |_, payload| payload.to_vec()),
        sign_raw(&body, key, |_, payload| {
            [b"ledger/v1/event", payload].concat()
        }),
    ];
    for event in wrong {
        assert_eq!(
            fx.reject(event),
            RuleError::BadSignature { author: pid("bob") }
        );
    }
    // The right structure, built independently, passes.
    let right = sign_raw(&body, key, structure("Signature1", b"ledger/v1/event"));
    fx.accept(right);
}

#[test]
fn a_non_canonical_signature_is_refused() {
    // Malleability: S + L is the same scalar mod L, and a verifier that
    // reduces S would accept it; verify_strict must not (FORMAT §5.2).
    let mut fx = Fx::new();
    let body = fx.body("alice", note("x"));
    let good = sign(&body, fx.key("alice"));
    let mut sig = good.signature;
    let s_plus_l = add_l(&sig[32..]);
    sig[32..].copy_from_slice(&s_plus_l);
    assert_ne!(sig, good.signature);
    let malleated = with_signature(&body, good.kid, sig);
    assert_ne!(malleated.hash(), good.hash());
    assert_eq!(
        fx.reject(malleated),
        RuleError::BadSignature {
            author: pid("alice")
        }
    );
    // S with the top bits set, as a reduction-free verifier might take it.
    let mut sig = good.signature;
    sig[63] |= 0xe0;
    assert_eq!(
        fx.reject(with_signature(&body, good.kid, sig)),
        RuleError::BadSignature {
            author: pid("alice")
        }
    );
    fx.accept(good);

    // At genesis too.
    let g = fx.genesis.clone();
    let mut sig = g.signature;
    let s_plus_l = add_l(&sig[32..]);
    sig[32..].copy_from_slice(&s_plus_l);
    let e = State::genesis(with_signature(&g.body, g.kid, sig)).unwrap_err();
    assert_eq!(
        e,
        RuleError::BadSignature {
            author: pid("alice")
        }
    );
}

#[test]
fn a_small_order_r_is_refused() {
    // R = identity and S = 0 satisfy [S]B = R + [k]A only for a
    // small-order A, but a verifier must reject a small-order R anyway.
    let mut fx = Fx::new();
    let body = fx.body("alice", note("x"));
    let kid = fx.key("alice").public().kid();
    let mut sig = [0u8; 64];
    sig[0] = 1;
    assert_eq!(
        fx.reject(with_signature(&body, kid, sig)),
        RuleError::BadSignature {
            author: pid("alice")
        }
    );
}

#[test]
fn apply_checked_is_apply_with_the_signature_checked_first() {
    let mut fx = Fx::new();
    let event = fx.event("bob", note("checked elsewhere"));
    let checked = Checked::new(&fx.state.keys, event.clone());
    assert_eq!(checked.event().hash(), event.hash());
    let verified = fx.state.apply_checked(checked, &all_docs).unwrap();
    assert_eq!(verified.hash(), event.hash());
    assert_eq!(fx.state.head, event.hash());
    // A bad signature checked against the right parties is refused.
    let body = fx.body("bob", note("x"));
    let forged = sign_as(&body, fx.key("carol"), fx.key("bob").public().kid());
    let checked = Checked::new(&fx.state.keys, forged);
    let before = snapshot(&fx.state);
    assert_eq!(
        fx.state.apply_checked(checked, &all_docs).unwrap_err(),
        RuleError::BadSignature { author: pid("bob") }
    );
    assert_eq!(snapshot(&fx.state), before);
}

#[test]
fn apply_checked_answers_to_this_ledgers_parties() {
    // Mallory writes an event as bob, signed with her own key, and checks
    // it against a parties map in which "bob" has her key. apply() refuses
    // the event; apply_checked() must too, since it is public and returns
    // a Verified event.
    let mut fx = Fx::new();
    let mallory = SigningKey::generate();
    let body = fx.body("bob", note("forged"));
    let forged = sign(&body, &mallory);
    let mut copy = fx.state.clone();
    assert_eq!(
        copy.apply(forged.clone(), &all_docs).unwrap_err(),
        RuleError::KidMismatch { author: pid("bob") }
    );
    // A key ring in which mallory's key is bob's.
    let mut fake_keys = fx.state.keys.clone();
    let bob = Kid(fx.key("bob").public().kid());
    let mut record = fake_keys.remove(&bob).unwrap();
    record.key = mallory.public();
    fake_keys.insert(Kid(mallory.public().kid()), record);
    let checked = Checked::new(&fake_keys, forged);
    let before = snapshot(&fx.state);
    let result = fx.state.apply_checked(checked, &all_docs);
    assert!(
        matches!(
            result,
            Err(RuleError::KidMismatch { .. } | RuleError::BadSignature { .. })
        ),
        "a non-party's event was verified: {:?}",
        result.map(|v| v.hash())
    );
    assert_eq!(snapshot(&fx.state), before);
}

// ---------------------------------------------------------------------------
// FORMAT §5.6: party keys
// ---------------------------------------------------------------------------

/// A genesis by alice whose party `other` has key `bytes`.
fn genesis_with(other: [u8; 32]) -> Result<(State, ()), RuleError> {
    let alice = SigningKey::generate();
    let parties = BTreeMap::from([
        (pid("alice"), alice.public().to_bytes()),
        (pid("zed"), other),
    ]);
    let body = genesis_body(LedgerId([1; 16]), "alice", parties);
    State::genesis(sign(&body, &alice)).map(|(s, _)| (s, ()))
}

fn hex32(s: &str) -> [u8; 32] {
    let mut out = [0; 32];
    hex::decode_to_slice(s, &mut out).unwrap();
    out
}

#[test]
fn small_order_party_keys_are_refused() {
    let small_order = [
        // The identity (order 1).
        "0100000000000000000000000000000000000000000000000000000000000000",
        // (0, -1), order 2.
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        // (±sqrt(-1), 0), order 4.
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000080",
        // Order 8.
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        // The identity with the sign bit set ("negative zero" x).
        "0100000000000000000000000000000000000000000000000000000000000080",
    ];
    for hex_key in small_order {
        let e = genesis_with(hex32(hex_key)).unwrap_err();
        assert!(
            matches!(&e, RuleError::BadPartyKey { party, .. } if *party == pid("zed")),
            "{hex_key}: {e:?}"
        );
    }
}

#[test]
fn party_keys_must_be_curve_points() {
    // y = 2 is not the y-coordinate of a point on the curve.
    let mut not_a_point = [0u8; 32];
    not_a_point[0] = 2;
    assert!(PublicKey::from_bytes(&not_a_point, "k").is_err());
    let e = genesis_with(not_a_point).unwrap_err();
    assert!(
        matches!(&e, RuleError::BadPartyKey { party, .. } if *party == pid("zed")),
        "{e:?}"
    );
    // A good key is fine.
    genesis_with(SigningKey::generate().public().to_bytes()).unwrap();
}

#[test]
fn non_canonical_party_keys_are_refused() {
    // y = p + 3 encodes the same point as y = 3, a point of large order.
    // RFC 8032 §5.1.3: "If the resulting value is >= p, decoding fails",
    // so this is not a valid encoding and a strict independent verifier
    // rejects the genesis; ed25519-dalek decompresses it without a word.
    let mut key = [0xffu8; 32];
    key[0] = 0xed + 3;
    key[31] = 0x7f;
    let e = genesis_with(key).map(|_| ()).unwrap_err();
    assert!(
        matches!(&e, RuleError::BadPartyKey { party, .. } if *party == pid("zed")),
        "{e:?}"
    );
}

#[test]
fn parties_may_not_share_a_key() {
    let alice = SigningKey::generate();
    let shared = alice.public().to_bytes();
    let parties = BTreeMap::from([
        (pid("alice"), shared),
        (pid("bob"), SigningKey::generate().public().to_bytes()),
        (pid("zed"), shared),
    ]);
    let body = genesis_body(LedgerId([1; 16]), "alice", parties);
    let e = State::genesis(sign(&body, &alice)).unwrap_err();
    assert!(
        matches!(&e, RuleError::BadPartyKey { party, reason } if *party == pid("zed") && reason.contains("alice")),
        "{e:?}"
    );
}

// ---------------------------------------------------------------------------
// §6.7 Time
// ---------------------------------------------------------------------------

impl Fx {
    fn event_at(&mut self, author: &str, kind: Kind, time: &str) -> Event {
        let mut body = self.body(author, kind);
        body.time = ts(time);
        sign(&body, self.key(author))
    }
}

#[test]
fn time_may_not_go_back() {
    let mut fx = Fx::new();
    let first = fx.event_at("alice", note("1"), "2017-06-15T10:00:00Z");
    fx.accept(first);
    for earlier in [
        "2017-06-15T09:59:59Z",
        "2017-06-15T09:59:59.999999999Z",
        "2017-06-14T10:00:00Z",
        // A later wall-clock time that is an earlier instant.
        "2017-06-15T17:59:00+08:00",
        "2017-06-15T10:30:00+01:00",
    ] {
        let event = fx.event_at("bob", note("2"), earlier);
        assert_eq!(
            fx.reject(event),
            RuleError::TimeWentBack {
                time: earlier.into(),
                previous: "2017-06-15T10:00:00Z".into()
            }
        );
    }
}

#[test]
fn equal_times_and_later_instants_are_allowed() {
    let mut fx = Fx::new();
    let e = fx.event_at("alice", note("1"), "2017-06-15T10:00:00Z");
    fx.accept(e);
    // Exactly the same instant, written the same way and differently.
    for same in [
        "2017-06-15T10:00:00Z",
        "2017-06-15T18:00:00+08:00",
        "2017-06-15T06:00:00.000-04:00",
    ] {
        let e = fx.event_at("bob", note("same"), same);
        fx.accept(e);
        assert_eq!(fx.state.last_time.as_str(), same);
    }
    // An earlier local time that is a later instant.
    let e = fx.event_at("carol", note("later"), "2017-06-15T03:00:01-07:00");
    fx.accept(e);
    // And a later local time that is still a later instant.
    let e = fx.event_at("carol", note("later"), "2017-06-15T18:00:02+08:00");
    fx.accept(e);
    // Fractions count.
    let e = fx.event_at("carol", note("later"), "2017-06-15T10:00:02.5Z");
    fx.accept(e);
    let e = fx.event_at("carol", note("back"), "2017-06-15T10:00:02.25Z");
    assert!(matches!(fx.reject(e), RuleError::TimeWentBack { .. }));
}

#[test]
fn the_first_event_after_genesis_is_compared_with_the_genesis() {
    let mut fx = Fx::new();
    // The genesis is at clock(0) = 2017-06-14T00:00:00Z.
    let e = fx.event_at("bob", note("x"), "2017-06-13T23:59:59Z");
    assert!(matches!(fx.reject(e), RuleError::TimeWentBack { .. }));
    let e = fx.event_at("bob", note("x"), "2017-06-14T08:00:00+08:00");
    fx.accept(e);
}

// ---------------------------------------------------------------------------
// §6.8 Sessions
// ---------------------------------------------------------------------------

#[test]
fn sessions_open_and_close_once() {
    let mut fx = Fx::new();
    fx.push("alice", open("plenary"));
    assert_eq!(fx.state.sessions[&sid("plenary")].opened, 1);
    assert_eq!(
        fx.refuse("bob", open("plenary")),
        RuleError::SessionOpen {
            session: sid("plenary"),
            opened: 1
        }
    );
    // Another session may run at the same time.
    fx.push("bob", open("working-group"));
    assert_eq!(
        fx.refuse("bob", close("never-opened")),
        RuleError::SessionNotOpen {
            session: sid("never-opened")
        }
    );
    fx.push("carol", close("plenary"));
    assert_eq!(
        fx.refuse("carol", close("plenary")),
        RuleError::SessionNotOpen {
            session: sid("plenary")
        }
    );
    // Reopened after closing.
    fx.push("alice", open("plenary"));
    assert_eq!(fx.state.sessions[&sid("plenary")].opened, 4);
    assert_eq!(fx.state.sessions.len(), 2);
    fx.push("alice", close("plenary"));
    fx.push("alice", close("working-group"));
    assert!(fx.state.sessions.is_empty());
}

// ---------------------------------------------------------------------------
// §6.8 Documents
// ---------------------------------------------------------------------------

#[test]
fn a_document_is_drafted_once() {
    let mut fx = Fx::new();
    fx.push("alice", draft("treaty", "v1", &["alice"]));
    assert_eq!(
        fx.refuse("bob", draft("treaty", "other bytes", &["bob"])),
        RuleError::DocExists {
            doc: did("treaty"),
            drafted: 1
        }
    );
    fx.push("alice", amend("treaty", "v2"));
    assert_eq!(
        fx.refuse("bob", draft("treaty", "v2", &["alice"])),
        RuleError::DocExists {
            doc: did("treaty"),
            drafted: 1
        }
    );
    // Two documents may have the same bytes.
    fx.push("bob", draft("copy", "v1", &["alice"]));
}

#[test]
fn signatories_must_be_parties() {
    let mut fx = Fx::new();
    assert_eq!(
        fx.refuse("alice", draft("treaty", "v1", &["alice", "mallory"])),
        RuleError::SignatoryNotParty {
            doc: did("treaty"),
            party: pid("mallory")
        }
    );
    assert!(fx.state.documents.is_empty());
}

#[test]
fn amendments() {
    let mut fx = Fx::new();
    assert_eq!(
        fx.refuse("alice", amend("treaty", "v1")),
        RuleError::UnknownDoc { doc: did("treaty") }
    );
    fx.push("alice", draft("treaty", "v1", &["alice", "bob"]));
    assert_eq!(
        fx.refuse("bob", amend("treaty", "v1")),
        RuleError::SameVersion { doc: did("treaty") }
    );
    fx.push("bob", amend("treaty", "v2"));
    assert_eq!(
        fx.refuse("bob", amend("treaty", "v2")),
        RuleError::SameVersion { doc: did("treaty") }
    );
    // Back to an earlier text is a new version.
    fx.push("carol", amend("treaty", "v1"));
    // The state keeps the current version and the count (superseded
    // versions are in the log, not in the state).
    let d = fx.doc("treaty");
    assert_eq!((d.current().sha256, d.current().seq), (sha("v1"), 3));
    assert_eq!((d.versions, d.drafted), (3, 1));
}

#[test]
fn an_executed_document_cannot_be_amended() {
    let mut fx = Fx::new();
    fx.push("alice", draft("treaty", "v1", &["alice"]));
    fx.push("alice", sign_doc("treaty", "v1"));
    assert_eq!(fx.doc("treaty").executed, Some(2));
    for content in ["v2", "v1"] {
        assert_eq!(
            fx.refuse("bob", amend("treaty", content)),
            RuleError::AmendExecuted {
                doc: did("treaty"),
                executed: 2
            }
        );
    }
    // Approving it is still possible.
    fx.push("bob", approve("treaty", "v1"));
}

#[test]
fn approvals_and_signatures_are_for_the_current_version() {
    let mut fx = Fx::new();
    for kind in [approve("nothing", "v1"), sign_doc("nothing", "v1")] {
        assert_eq!(
            fx.refuse("alice", kind),
            RuleError::UnknownDoc {
                doc: did("nothing")
            }
        );
    }
    fx.push("alice", draft("treaty", "v1", &["alice", "bob"]));
    fx.push("alice", amend("treaty", "v2"));
    for kind in [approve("treaty", "v1"), sign_doc("treaty", "v1")] {
        assert_eq!(
            fx.refuse("bob", kind),
            RuleError::NotCurrent {
                doc: did("treaty"),
                found: sha("v1"),
                current: sha("v2")
            }
        );
    }
    for kind in [approve("treaty", "v3"), sign_doc("treaty", "v3")] {
        assert_eq!(
            fx.refuse("bob", kind),
            RuleError::NotCurrent {
                doc: did("treaty"),
                found: sha("v3"),
                current: sha("v2")
            }
        );
    }
    fx.push("bob", approve("treaty", "v2"));
    fx.push("bob", sign_doc("treaty", "v2"));
}

#[test]
fn one_approval_per_party_and_version() {
    let mut fx = Fx::new();
    fx.push("alice", draft("treaty", "v1", &[]));
    fx.push("bob", approve("treaty", "v1"));
    assert_eq!(
        fx.refuse("bob", approve("treaty", "v1")),
        RuleError::AlreadyApproved {
            doc: did("treaty"),
            party: pid("bob"),
            at: 2
        }
    );
    fx.push("carol", approve("treaty", "v1"));
    // A new version needs new approvals, and may get them.
    assert_eq!(
        fx.doc("treaty").current().approvals,
        BTreeMap::from([(pid("bob"), 2), (pid("carol"), 3)])
    );
    fx.push("alice", amend("treaty", "v2"));
    assert!(fx.doc("treaty").current().approvals.is_empty());
    fx.push("bob", approve("treaty", "v2"));
    assert_eq!(
        fx.doc("treaty").current().approvals,
        BTreeMap::from([(pid("bob"), 5)])
    );
}

#[test]
fn one_signature_per_signatory_and_version() {
    let mut fx = Fx::new();
    fx.push("alice", draft("treaty", "v1", &["alice", "bob"]));
    fx.push("alice", sign_doc("treaty", "v1"));
    assert_eq!(
        fx.refuse("alice", sign_doc("treaty", "v1")),
        RuleError::AlreadySigned {
            doc: did("treaty"),
            party: pid("alice"),
            at: 2
        }
    );
    assert_eq!(
        fx.refuse("carol", sign_doc("treaty", "v1")),
        RuleError::NotSignatory {
            doc: did("treaty"),
            party: pid("carol")
        }
    );
    // Once executed, signing again is still a repeat.
    fx.push("bob", sign_doc("treaty", "v1"));
    assert_eq!(fx.doc("treaty").executed, Some(3));
    assert_eq!(
        fx.refuse("bob", sign_doc("treaty", "v1")),
        RuleError::AlreadySigned {
            doc: did("treaty"),
            party: pid("bob"),
            at: 3
        }
    );
    assert_eq!(fx.doc("treaty").executed, Some(3));
}

#[test]
fn execution_needs_every_signature_on_the_same_version() {
    let mut fx = Fx::new();
    fx.push("carol", draft("treaty", "v1", &["alice", "bob"]));
    fx.push("alice", sign_doc("treaty", "v1"));
    fx.push("carol", amend("treaty", "v2"));
    fx.push("bob", sign_doc("treaty", "v2"));
    assert_eq!(fx.doc("treaty").executed, None);
    assert_eq!(fx.doc("treaty").awaiting(), vec![&pid("alice")]);
    // alice's signature of v1 does not count for v2; she signs again.
    fx.push("alice", sign_doc("treaty", "v2"));
    assert_eq!(fx.doc("treaty").executed, Some(5));
    assert!(fx.doc("treaty").awaiting().is_empty());
    assert_eq!(
        fx.refuse("carol", amend("treaty", "v3")),
        RuleError::AmendExecuted {
            doc: did("treaty"),
            executed: 5
        }
    );
}

#[test]
fn returning_to_an_old_text_does_not_revive_its_signatures() {
    let mut fx = Fx::new();
    fx.push("carol", draft("treaty", "v1", &["alice", "bob"]));
    fx.push("alice", sign_doc("treaty", "v1"));
    fx.push("carol", amend("treaty", "v2"));
    fx.push("carol", amend("treaty", "v1"));
    fx.push("bob", sign_doc("treaty", "v1"));
    assert_eq!(fx.doc("treaty").executed, None);
    assert_eq!(fx.doc("treaty").awaiting(), vec![&pid("alice")]);
    fx.push("alice", sign_doc("treaty", "v1"));
    assert_eq!(fx.doc("treaty").executed, Some(6));
}

#[test]
fn a_document_without_signatories_is_never_executed() {
    let mut fx = Fx::new();
    fx.push("alice", draft("plan", "v1", &[]));
    for p in PARTIES {
        fx.push(p, approve("plan", "v1"));
        assert_eq!(
            fx.refuse(p, sign_doc("plan", "v1")),
            RuleError::NotSignatory {
                doc: did("plan"),
                party: pid(p)
            }
        );
    }
    assert_eq!(fx.doc("plan").executed, None);
    assert!(fx.doc("plan").awaiting().is_empty());
    // Approved by everyone and still open to amendment.
    fx.push("bob", amend("plan", "v2"));
    assert_eq!(fx.doc("plan").executed, None);
}

// ---------------------------------------------------------------------------
// §6.9 Document bytes
// ---------------------------------------------------------------------------

#[test]
fn drafted_and_amended_bytes_must_be_stored() {
    let mut fx = Fx::new();
    let missing = |_: &DocHash| -> Result<(), String> { Err("missing".into()) };
    let event = fx.event("alice", draft("treaty", "v1", &["alice"]));
    assert_eq!(
        fx.reject_with(event, &missing),
        RuleError::Document {
            doc: did("treaty"),
            sha256: sha("v1"),
            reason: "missing".into()
        }
    );
    // Only v1 is stored, and stored right.
    let only_v1 = |h: &DocHash| -> Result<(), String> {
        if *h == sha("v1") {
            Ok(())
        } else {
            Err(format!("{h} is missing"))
        }
    };
    let event = fx.event("alice", draft("treaty", "v1", &["alice"]));
    fx.accept_with(event, &only_v1);
    let event = fx.event("alice", amend("treaty", "v2"));
    assert_eq!(
        fx.reject_with(event, &only_v1),
        RuleError::Document {
            doc: did("treaty"),
            sha256: sha("v2"),
            reason: format!("{} is missing", sha("v2"))
        }
    );
    // Bytes that do not hash to the name.
    let mismatch = |h: &DocHash| -> Result<(), String> {
        Err(format!("content hashes to {}, not {h}", sha("tampered")))
    };
    let event = fx.event("alice", amend("treaty", "v2"));
    assert!(matches!(
        fx.reject_with(event, &mismatch),
        RuleError::Document { reason, .. } if reason.contains("hashes to")
    ));
    let event = fx.event("alice", amend("treaty", "v2"));
    fx.accept_with(event, &all_docs);
}

#[test]
fn only_drafts_and_amendments_look_at_document_bytes() {
    let mut fx = Fx::new();
    let asked = RefCell::new(Vec::new());
    let recording = |h: &DocHash| -> Result<(), String> {
        asked.borrow_mut().push(*h);
        Ok(())
    };
    let refusing = |h: &DocHash| -> Result<(), String> {
        asked.borrow_mut().push(*h);
        Err("gone".into())
    };
    let e = fx.event("alice", draft("treaty", "v1", &["alice"]));
    fx.accept_with(e, &recording);
    let e = fx.event("alice", amend("treaty", "v2"));
    fx.accept_with(e, &recording);
    assert_eq!(*asked.borrow(), vec![sha("v1"), sha("v2")]);
    asked.borrow_mut().clear();
    // Approvals, signatures, sessions and notes do not need the bytes.
    for (who, kind) in [
        ("bob", approve("treaty", "v2")),
        ("alice", sign_doc("treaty", "v2")),
        ("carol", open("s")),
        ("carol", close("s")),
        ("carol", note("n")),
    ] {
        let e = fx.event(who, kind);
        fx.accept_with(e, &refusing);
    }
    assert!(asked.borrow().is_empty());
    // The kind rules come first (FORMAT §6 step 8 before 9).
    let e = fx.event("bob", draft("treaty", "v9", &["alice"]));
    assert!(matches!(
        fx.reject_with(e, &refusing),
        RuleError::DocExists { .. }
    ));
    let e = fx.event("bob", draft("other", "v9", &["mallory"]));
    assert!(matches!(
        fx.reject_with(e, &refusing),
        RuleError::SignatoryNotParty { .. }
    ));
    let e = fx.event("bob", amend("treaty", "v9"));
    assert!(matches!(
        fx.reject_with(e, &refusing),
        RuleError::AmendExecuted { .. }
    ));
    assert!(asked.borrow().is_empty());
}

// ---------------------------------------------------------------------------
// The order of the rules, and rejected events leave no trace
// ---------------------------------------------------------------------------

#[test]
fn rules_apply_in_the_order_of_format_6() {
    let mut fx = Fx::new();
    fx.push("alice", open("s"));
    let base = fx.body("bob", open("s"));
    let keys = fx.keys.clone();
    let bob = &keys["bob"];
    let carol_kid = fx.key("carol").public().kid();
    let mut b = base.clone();
    // Every rule from 3 on is broken; each fix exposes the next one.
    b.seq = 9;
    b.ledger = LedgerId([9; 16]);
    b.prev = Some(EventHash([9; 32]));
    b.time = ts("2000-01-01T00:00:00Z");
    let e = fx.reject(sign_as(&b, bob, carol_kid));
    assert!(matches!(e, RuleError::Seq { .. }), "{e:?}");
    b.seq = base.seq;
    let e = fx.reject(sign_as(&b, bob, carol_kid));
    assert!(matches!(e, RuleError::WrongLedger { .. }), "{e:?}");
    b.ledger = base.ledger;
    let e = fx.reject(sign_as(&b, bob, carol_kid));
    assert!(matches!(e, RuleError::BrokenLink { .. }), "{e:?}");
    b.prev = base.prev;
    let e = fx.reject(sign_as(&b, bob, carol_kid));
    assert!(matches!(e, RuleError::KidMismatch { .. }), "{e:?}");
    let e = fx.reject(sign_as(&b, fx.key("carol"), bob.public().kid()));
    assert!(matches!(e, RuleError::BadSignature { .. }), "{e:?}");
    let e = fx.reject(sign(&b, bob));
    assert!(matches!(e, RuleError::TimeWentBack { .. }), "{e:?}");
    b.time = base.time.clone();
    let e = fx.reject(sign(&b, bob));
    assert!(matches!(e, RuleError::SessionOpen { .. }), "{e:?}");
    // An unknown author comes before the signature and the time.
    let mut m = b.clone();
    m.author = pid("mallory");
    m.time = ts("2000-01-01T00:00:00Z");
    let e = fx.reject(sign(&m, &SigningKey::generate()));
    assert!(matches!(e, RuleError::UnknownAuthor { .. }), "{e:?}");
    // The second ledger-created is found before the ledger id.
    let mut g = fx.genesis.body.clone();
    g.seq = base.seq;
    g.ledger = LedgerId([9; 16]);
    let e = fx.reject(sign(&g, fx.key("alice")));
    assert_eq!(e, RuleError::SecondGenesis);
}

#[test]
fn a_rejected_event_leaves_the_state_unchanged() {
    let mut fx = Fx::new();
    fx.push("alice", open("s"));
    fx.push("alice", draft("treaty", "v1", &["alice", "bob"]));
    fx.push("bob", approve("treaty", "v1"));
    fx.push("alice", sign_doc("treaty", "v1"));
    let count = fx.state.count;
    let head = fx.state.head;
    let last_time = fx.state.last_time.clone();
    let documents = serde_json::to_value(&fx.state.documents).unwrap();
    let sessions = serde_json::to_value(&fx.state.sessions).unwrap();
    let missing = |_: &DocHash| -> Result<(), String> { Err("missing".into()) };

    let mut rejected = Vec::new();
    let e = fx.event("bob", amend("treaty", "v2"));
    rejected.push(fx.reject_with(e, &missing)); // fails at the last step
    let e = fx.event("bob", close("nope"));
    rejected.push(fx.reject(e));
    let e = fx.event("bob", sign_doc("treaty", "v2"));
    rejected.push(fx.reject(e));
    let e = fx.event("alice", sign_doc("treaty", "v1"));
    rejected.push(fx.reject(e));
    let e = fx.event("bob", approve("treaty", "v1"));
    rejected.push(fx.reject(e));
    let e = fx.event_at("bob", note("n"), "2000-01-01T00:00:00Z");
    rejected.push(fx.reject(e));
    let mut body = fx.body("bob", note("n"));
    body.prev = None;
    rejected.push(fx.reject(sign(&body, fx.key("bob"))));
    let body = fx.body("bob", note("n"));
    rejected.push(fx.reject(sign(&body, fx.key("carol"))));
    assert_eq!(rejected.len(), 8);

    assert_eq!(fx.state.count, count);
    assert_eq!(fx.state.head, head);
    assert_eq!(fx.state.last_time, last_time);
    assert_eq!(
        serde_json::to_value(&fx.state.documents).unwrap(),
        documents
    );
    assert_eq!(serde_json::to_value(&fx.state.sessions).unwrap(), sessions);
    // And the ledger goes on from where it was.
    fx.push("bob", sign_doc("treaty", "v1"));
    assert_eq!(fx.doc("treaty").executed, Some(count));
}

#[test]
fn ledgers_with_the_same_keys_stay_apart() {
    // Two ledgers with the same parties' keys do not share anything: an
    // event valid in one is refused by the other (WrongLedger), even when
    // their heads and counts line up.
    let shared: BTreeMap<String, SigningKey> = PARTIES
        .iter()
        .map(|p| (p.to_string(), SigningKey::generate()))
        .collect();
    let parties: BTreeMap<PartyId, [u8; 32]> = shared
        .iter()
        .map(|(p, k)| (pid(p), k.public().to_bytes()))
        .collect();
    let a = genesis_body(LedgerId([0xa; 16]), "alice", parties.clone());
    let b = genesis_body(LedgerId([0xb; 16]), "alice", parties);
    let (mut sa, _) = State::genesis(sign(&a, &shared["alice"])).unwrap();
    let (sb, _) = State::genesis(sign(&b, &shared["alice"])).unwrap();
    // An event for b, but with a's prev: only the ledger id is wrong.
    let body = Body {
        version: 1,
        ledger: sb.ledger,
        seq: 1,
        prev: Some(sa.head),
        time: clock(1),
        author: pid("bob"),
        kind: note("cross-posted"),
    };
    let e = sa
        .apply(sign(&body, &shared["bob"]), &all_docs)
        .unwrap_err();
    assert_eq!(
        e,
        RuleError::WrongLedger {
            expected: LedgerId([0xa; 16]),
            found: LedgerId([0xb; 16])
        }
    );
}
