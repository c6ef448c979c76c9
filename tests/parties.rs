//! Changing the parties (FORMAT §5.4, §5.8, §6.10): the rules at the
//! library level on events built in memory, the writer and its cache, the
//! real binary (`append parties-propose`, `parties-approve`, `verify`),
//! and agreement with the independent Python verifier.

mod common;

use common::{both, clock, next_body, pid, python_available, sign, stored};

use std::collections::BTreeMap;
use std::path::Path;

use ledger::base::crypto::{PublicKey, SigningKey};
use ledger::core::format::{
    key_proof_message, party_proof_message, Body, DocHash, DocId, Event, EventHash, FormatError,
    Kid, Kind, LedgerId, NewParty, PartyId, ProposalId,
};
use ledger::core::replay::{RuleError, State};
use ledger::core::writer::{WriteError, Writer};

// ---------------------------------------------------------------------------
// Library helpers
// ---------------------------------------------------------------------------

fn prop_id(s: &str) -> ProposalId {
    ProposalId::new(s).unwrap()
}

fn snapshot(state: &State) -> String {
    serde_json::to_string(state).unwrap()
}

fn note() -> Kind {
    Kind::Note {
        text: "hello".into(),
    }
}

/// A ledger of parties `med`, `mfa` and `most` under construction, with
/// every key by name (parties' and others'), keeping every accepted event.
struct Fx {
    ledger: LedgerId,
    state: State,
    events: Vec<Event>,
    tick: u64,
    keys: BTreeMap<String, SigningKey>,
}

impl Fx {
    fn new() -> Fx {
        Fx::with_parties(&["med", "mfa", "most"])
    }

    fn with_parties(names: &[&str]) -> Fx {
        let mut keys = BTreeMap::new();
        for n in names {
            keys.insert(n.to_string(), SigningKey::generate());
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&SigningKey::generate().public().kid()[..16]);
        let ledger = LedgerId(id);
        let parties = names
            .iter()
            .map(|n| (pid(n), keys[*n].public().to_bytes()))
            .collect();
        let body = Body {
            version: 1,
            ledger,
            seq: 0,
            prev: None,
            time: clock(0),
            author: pid(names[0]),
            kind: Kind::LedgerCreated {
                title: "Parties".into(),
                parties,
            },
        };
        let genesis = sign(&body, &keys[names[0]]);
        let (state, _) = State::genesis(genesis.clone()).unwrap();
        Fx {
            ledger,
            state,
            events: vec![genesis],
            tick: 0,
            keys,
        }
    }

    /// A key by name, made on first use.
    fn key(&mut self, name: &str) -> &SigningKey {
        self.keys
            .entry(name.to_owned())
            .or_insert_with(SigningKey::generate)
    }

    /// The next event, by `author`, signed with the key named `signer`.
    fn ev(&mut self, author: &str, signer: &str, kind: Kind) -> Event {
        self.tick += 1;
        let body = next_body(self.ledger, &self.state, self.tick, author, kind);
        sign(&body, self.key(signer))
    }

    /// The proof the key named `key` makes for joining as `party` at the
    /// next seq of this ledger.
    fn party_proof(&mut self, party: &str, key: &str) -> NewParty {
        let (ledger, seq, head) = (self.ledger, self.state.count, self.state.head);
        let k = self.key(key);
        let public = k.public().to_bytes();
        NewParty {
            key: public,
            proof: k.sign(&party_proof_message(
                &ledger,
                seq,
                &head,
                &pid(party),
                &public,
            )),
        }
    }

    /// `author` proposes `id`: add each (party, key name), remove each.
    fn propose(&mut self, author: &str, id: &str, add: &[(&str, &str)], remove: &[&str]) -> Event {
        let add = add
            .iter()
            .map(|(p, k)| (pid(p), self.party_proof(p, k)))
            .collect();
        let kind = proposal(id, add, remove);
        self.ev(author, author, kind)
    }

    /// `author` approves the open proposal `id` (its real hash).
    fn approve(&mut self, author: &str, id: &str) -> Event {
        let sha256 = self.state.proposal.as_ref().unwrap().hash;
        self.ev(
            author,
            author,
            Kind::PartiesApproved {
                proposal: prop_id(id),
                sha256,
            },
        )
    }

    fn note(&mut self, author: &str, signer: &str) -> Event {
        self.ev(author, signer, note())
    }

    fn draft(&mut self, author: &str, doc: &str, signatories: &[&str]) -> Event {
        let kind = Kind::DocumentDrafted {
            doc: DocId::new(doc).unwrap(),
            sha256: DocHash::of(doc.as_bytes()),
            title: "A document".into(),
            // Sorted, as FORMAT §5.4 requires.
            signatories: signatories
                .iter()
                .map(|p| pid(p))
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect(),
        };
        self.ev(author, author, kind)
    }

    fn sign_doc(&mut self, author: &str, doc: &str) -> Event {
        let kind = Kind::DocumentSigned {
            doc: DocId::new(doc).unwrap(),
            sha256: DocHash::of(doc.as_bytes()),
        };
        self.ev(author, author, kind)
    }

    #[track_caller]
    fn accept(&mut self, event: Event) {
        common::accept(&mut self.state, &mut self.events, event)
    }

    #[track_caller]
    fn reject(&mut self, event: Event) -> RuleError {
        common::reject(&mut self.state, event)
    }

    /// Replays every accepted event from scratch: the verdict of a
    /// verifier that reads the log later.
    fn replay_all(&self) -> State {
        common::replay_all(&self.events)
    }
}

fn proposal(id: &str, add: BTreeMap<PartyId, NewParty>, remove: &[&str]) -> Kind {
    let mut remove: Vec<PartyId> = remove.iter().map(|p| pid(p)).collect();
    remove.sort();
    Kind::PartiesProposed {
        proposal: prop_id(id),
        add,
        remove,
    }
}

// ---------------------------------------------------------------------------
// FORMAT §5.4: encoding
// ---------------------------------------------------------------------------

#[test]
fn membership_kinds_round_trip_and_decode_strictly() {
    let mut fx = Fx::new();
    let e = fx.propose("most", "admit-obs", &[("obs", "obs")], &["med"]);
    let back = Event::decode(&stored(&e)).unwrap();
    assert_eq!(back.body, e.body);
    let e = fx.ev(
        "most",
        "most",
        Kind::PartiesApproved {
            proposal: prop_id("x"),
            sha256: EventHash([1; 32]),
        },
    );
    assert_eq!(Event::decode(&stored(&e)).unwrap().body, e.body);
    // An entry of `add` with a third field, without its proof, and an
    // unsorted `remove` are refused by the decoder.
    use ciborium::value::Value;
    type Entries = Vec<(Value, Value)>;
    let edit = |f: &dyn Fn(&mut Entries)| {
        let mut body = fx.events[0].body.clone();
        body.seq = 1;
        body.prev = Some(EventHash([0; 32]));
        body.kind = proposal("p", BTreeMap::new(), &["med"]);
        let v: Value = ciborium::de::from_reader(body.encode().as_slice()).unwrap();
        let Value::Map(mut m) = v else { panic!() };
        f(&mut m);
        Body::decode(&ledger::core::format::encode_value(Value::Map(m)))
    };
    let set = |m: &mut Vec<(Value, Value)>, k: &str, v: Value| {
        for (key, val) in m.iter_mut() {
            if *key == Value::Text(k.into()) {
                *val = v.clone();
            }
        }
    };
    let entry = |fields: Vec<(&str, Value)>| {
        Value::Map(vec![(
            Value::Text("obs".into()),
            Value::Map(
                fields
                    .into_iter()
                    .map(|(k, v)| (Value::Text(k.into()), v))
                    .collect(),
            ),
        )])
    };
    let key = Value::Bytes(vec![1; 32]);
    let proof = Value::Bytes(vec![2; 64]);
    assert!(edit(&|m| set(
        m,
        "add",
        entry(vec![("key", key.clone()), ("proof", proof.clone())])
    ))
    .is_ok());
    let extra = edit(&|m| {
        set(
            m,
            "add",
            entry(vec![
                ("key", key.clone()),
                ("proof", proof.clone()),
                ("x", key.clone()),
            ]),
        )
    });
    assert!(
        matches!(extra, Err(FormatError::Invalid { ref field, .. }) if field == "add"),
        "{extra:?}"
    );
    let no_proof = edit(&|m| set(m, "add", entry(vec![("key", key.clone())])));
    assert!(
        matches!(no_proof, Err(FormatError::Invalid { ref field, .. }) if field == "add"),
        "{no_proof:?}"
    );
    let short_key = edit(&|m| {
        set(
            m,
            "add",
            entry(vec![
                ("key", Value::Bytes(vec![1; 31])),
                ("proof", proof.clone()),
            ]),
        )
    });
    assert!(short_key.is_err());
    let unsorted = edit(&|m| {
        set(
            m,
            "remove",
            Value::Array(vec![Value::Text("most".into()), Value::Text("med".into())]),
        )
    });
    assert!(
        matches!(unsorted, Err(FormatError::Invalid { ref field, .. }) if field == "remove"),
        "{unsorted:?}"
    );
    let missing = edit(&|m| m.retain(|(k, _)| *k != Value::Text("remove".into())));
    assert!(matches!(
        missing,
        Err(FormatError::Missing {
            field: "remove",
            ..
        })
    ));
}

// ---------------------------------------------------------------------------
// FORMAT §6.10: the rules
// ---------------------------------------------------------------------------

#[test]
fn an_added_party_signs_once_every_party_has_approved() {
    let mut fx = Fx::new();
    let e = fx.propose("most", "admit-obs", &[("obs", "obs")], &[]);
    fx.accept(e);
    let open = fx.state.proposal.clone().unwrap();
    assert_eq!(open.required, vec![pid("med"), pid("mfa"), pid("most")]);
    assert_eq!(open.approvals.get(&pid("most")), Some(&1));
    // Not a party yet.
    let e = fx.note("obs", "obs");
    assert!(matches!(fx.reject(e), RuleError::UnknownAuthor { .. }));
    let e = fx.approve("med", "admit-obs");
    fx.accept(e);
    assert!(fx.state.proposal.is_some());
    let e = fx.note("obs", "obs");
    assert!(matches!(fx.reject(e), RuleError::UnknownAuthor { .. }));
    let e = fx.approve("mfa", "admit-obs");
    fx.accept(e);
    // Applied at event 3, the one that completed the approvals.
    assert!(fx.state.proposal.is_none());
    let obs = &fx.state.parties[&pid("obs")];
    assert_eq!((obs.joined, obs.removed, obs.current), (3, None, 1));
    let obs_key = fx.key("obs").public();
    assert_eq!(fx.state.key_record(&obs_key).unwrap().added, 3);
    let e = fx.note("obs", "obs");
    fx.accept(e);
    // The new party may draft, approve and sign like any other.
    let e = fx.draft("obs", "charter", &["obs", "most"]);
    fx.accept(e);
    let e = fx.sign_doc("obs", "charter");
    fx.accept(e);
    let e = fx.sign_doc("most", "charter");
    fx.accept(e);
    assert_eq!(
        fx.state.documents[&DocId::new("charter").unwrap()].executed,
        Some(7)
    );
    assert_eq!(snapshot(&fx.replay_all()), snapshot(&fx.state));
}

#[test]
fn a_removed_party_signs_nothing_more_but_its_earlier_events_stand() {
    let mut fx = Fx::new();
    let e = fx.note("med", "med");
    fx.accept(e);
    let e = fx.propose("most", "expel-med", &[], &["med"]);
    fx.accept(e);
    // med is still a party until the proposal is applied.
    let e = fx.note("med", "med");
    fx.accept(e);
    // Every current party must agree, med included: mfa's approval is not
    // enough (no party expels another alone).
    let e = fx.approve("mfa", "expel-med");
    fx.accept(e);
    assert!(fx.state.proposal.is_some(), "med has not agreed");
    let e = fx.approve("med", "expel-med");
    fx.accept(e);
    let med = &fx.state.parties[&pid("med")];
    assert_eq!((med.removed, med.current), (Some(5), 0));
    let med_key = fx.key("med").public();
    let r = fx.state.key_record(&med_key).unwrap();
    assert_eq!(r.removed, Some(5));
    assert!(!r.is_current());
    assert_eq!(fx.state.party_of(&med_key), None);
    let e = fx.note("med", "med");
    assert_eq!(
        fx.reject(e),
        RuleError::RemovedAuthor {
            author: pid("med"),
            removed: 5
        }
    );
    // The events med signed before stand: the whole log replays.
    assert_eq!(snapshot(&fx.replay_all()), snapshot(&fx.state));
    // A removed id is never a party again, nor a signatory.
    let e = fx.propose("most", "readmit", &[("med", "med2")], &[]);
    assert!(matches!(
        fx.reject(e),
        RuleError::PartyExists { ref status, .. } if status.contains("removal at event 5")
    ));
    let e = fx.draft("most", "late", &["med", "most"]);
    assert!(matches!(
        fx.reject(e),
        RuleError::SignatoryRemoved { removed: 5, .. }
    ));
    // Nor is its key held again by anyone.
    let e = fx.propose("most", "reuse", &[("newmed", "med")], &[]);
    assert!(matches!(fx.reject(e), RuleError::KeyReused { .. }));
}

#[test]
fn a_proposal_needs_every_current_party_even_those_it_removes() {
    let mut fx = Fx::new();
    let e = fx.propose("most", "shrink", &[], &["med", "mfa"]);
    fx.accept(e);
    assert!(fx.state.proposal.is_some(), "med and mfa must agree to go");
    let e = fx.approve("med", "shrink");
    fx.accept(e);
    assert!(fx.state.proposal.is_some(), "mfa has not agreed");
    let e = fx.approve("mfa", "shrink");
    fx.accept(e);
    assert!(fx.state.proposal.is_none(), "applied at the last approval");
    assert_eq!(fx.state.parties[&pid("med")].removed, Some(3));
    assert_eq!(fx.state.parties[&pid("mfa")].removed, Some(3));
    // With one party, its proposal is every approval there is.
    let mut fx = Fx::with_parties(&["ann"]);
    let e = fx.propose("ann", "admit-bob", &[("bob", "bob")], &[]);
    fx.accept(e);
    assert!(
        fx.state.proposal.is_none(),
        "applied at the proposal itself"
    );
    // A party may also propose its own removal.
    let mut fx = Fx::with_parties(&["ann", "bob"]);
    let e = fx.propose("bob", "bob-leaves", &[], &["bob"]);
    fx.accept(e);
    assert!(fx.state.proposal.is_some(), "ann must approve");
    let e = fx.approve("ann", "bob-leaves");
    fx.accept(e);
    assert_eq!(fx.state.parties[&pid("bob")].removed, Some(2));
}

#[test]
fn approvals_must_name_the_open_proposal_and_its_hash() {
    let mut fx = Fx::new();
    let bogus = |id: &str, sha: [u8; 32]| Kind::PartiesApproved {
        proposal: prop_id(id),
        sha256: EventHash(sha),
    };
    let e = fx.ev("med", "med", bogus("admit-obs", [0; 32]));
    assert!(
        matches!(fx.reject(e), RuleError::NoSuchProposal { ref open, .. } if open.contains("no proposal is open"))
    );
    let e = fx.propose("most", "admit-obs", &[("obs", "obs")], &[]);
    fx.accept(e);
    let real = fx.state.proposal.as_ref().unwrap().hash;
    // A stale or another hash.
    let stale = fx.events[0].hash();
    let e = fx.ev("med", "med", bogus("admit-obs", stale.0));
    assert_eq!(
        fx.reject(e),
        RuleError::ProposalHash {
            proposal: prop_id("admit-obs"),
            expected: real,
            found: stale,
        }
    );
    let e = fx.ev("med", "med", bogus("admit-obs", [7; 32]));
    assert!(matches!(fx.reject(e), RuleError::ProposalHash { .. }));
    // Another proposal id.
    let e = fx.ev("med", "med", bogus("admit-other", real.0));
    assert!(
        matches!(fx.reject(e), RuleError::NoSuchProposal { ref open, .. } if open.contains("\"admit-obs\""))
    );
    // Duplicates: the proposer's own, and a second by med.
    let e = fx.approve("most", "admit-obs");
    assert_eq!(
        fx.reject(e),
        RuleError::AlreadyApprovedProposal {
            proposal: prop_id("admit-obs"),
            party: pid("most"),
            at: 1
        }
    );
    let e = fx.approve("med", "admit-obs");
    fx.accept(e);
    let e = fx.approve("med", "admit-obs");
    assert!(matches!(
        fx.reject(e),
        RuleError::AlreadyApprovedProposal { at: 2, .. }
    ));
    // A party that is not a party cannot approve at all.
    let e = fx.approve("obs", "admit-obs");
    assert!(matches!(fx.reject(e), RuleError::UnknownAuthor { .. }));
    let e = fx.approve("mfa", "admit-obs");
    fx.accept(e);
    // After it is applied, approving it again finds nothing open.
    let e = fx.ev("mfa", "mfa", bogus("admit-obs", real.0));
    assert!(matches!(fx.reject(e), RuleError::NoSuchProposal { .. }));
}

#[test]
fn one_proposal_at_a_time_and_ids_are_never_reused() {
    let mut fx = Fx::new();
    let e = fx.propose("most", "p1", &[("obs", "obs")], &[]);
    fx.accept(e);
    let e = fx.propose("med", "p2", &[("obs2", "obs2")], &[]);
    assert_eq!(
        fx.reject(e),
        RuleError::ProposalOpen {
            open: prop_id("p1"),
            at: 1
        }
    );
    // Key events go on while it is open, but not with a key it adds.
    let proof_key = fx.key("obs").public().to_bytes();
    let (ledger, seq, head) = (fx.ledger, fx.state.count, fx.state.head);
    let proof = fx.key("obs").sign(&key_proof_message(
        &ledger,
        seq,
        &head,
        &pid("med"),
        &proof_key,
    ));
    let e = fx.ev(
        "med",
        "med",
        Kind::KeyAdded {
            key: proof_key,
            proof,
        },
    );
    assert!(matches!(fx.reject(e), RuleError::KeyProposed { .. }));
    let (ledger, seq, head) = (fx.ledger, fx.state.count, fx.state.head);
    let med2 = fx.key("med2").public().to_bytes();
    let proof = fx
        .key("med2")
        .sign(&key_proof_message(&ledger, seq, &head, &pid("med"), &med2));
    let e = fx.ev("med", "med", Kind::KeyRotated { key: med2, proof });
    fx.accept(e);
    // med approves with its new key.
    let e = fx.approve("med", "p1");
    let e2 = {
        let body = e.body.clone();
        sign(&body, fx.key("med2"))
    };
    assert!(matches!(fx.reject(e), RuleError::KeyNotCurrent { .. }));
    fx.accept(e2);
    let e = fx.approve("mfa", "p1");
    fx.accept(e);
    let e = fx.propose("most", "p1", &[("obs2", "obs2")], &[]);
    assert_eq!(
        fx.reject(e),
        RuleError::ProposalReused {
            proposal: prop_id("p1"),
            at: 1
        }
    );
    let e = fx.propose("most", "p2", &[("obs2", "obs2")], &[]);
    fx.accept(e);
    // An empty proposal.
    let mut fx = Fx::new();
    let e = fx.propose("most", "nothing", &[], &[]);
    assert!(matches!(fx.reject(e), RuleError::EmptyProposal { .. }));
}

#[test]
fn removing_a_pending_signatory_is_refused() {
    let mut fx = Fx::new();
    let e = fx.draft("most", "treaty", &["med", "most"]);
    fx.accept(e);
    let e = fx.propose("most", "expel-med", &[], &["med"]);
    assert_eq!(
        fx.reject(e),
        RuleError::RemovePendingSignatory {
            proposal: prop_id("expel-med"),
            party: pid("med"),
            doc: DocId::new("treaty").unwrap()
        }
    );
    // Once the document is executed, med may go.
    let e = fx.sign_doc("med", "treaty");
    fx.accept(e);
    let e = fx.sign_doc("most", "treaty");
    fx.accept(e);
    let e = fx.propose("most", "expel-med", &[], &["med"]);
    fx.accept(e);
    // While the removal is open, no new draft may name med.
    let e = fx.draft("most", "annex", &["med", "most"]);
    assert!(matches!(fx.reject(e), RuleError::SignatoryLeaving { .. }));
    let e = fx.draft("most", "annex", &["most"]);
    fx.accept(e);
    let e = fx.approve("mfa", "expel-med");
    fx.accept(e);
    let e = fx.approve("med", "expel-med");
    fx.accept(e);
    assert_eq!(fx.state.parties[&pid("med")].removed, Some(7));
}

#[test]
fn the_parties_never_drop_to_zero_nor_pass_64() {
    let mut fx = Fx::new();
    let e = fx.propose("most", "all-go", &[], &["med", "mfa", "most"]);
    assert_eq!(
        fx.reject(e),
        RuleError::PartyCount {
            proposal: prop_id("all-go"),
            found: 0
        }
    );
    let e = fx.propose("most", "strangers", &[], &["eve"]);
    assert!(matches!(fx.reject(e), RuleError::RemoveNotParty { .. }));
    // 3 + 62 = 65.
    let names: Vec<String> = (0..62).map(|i| format!("p{i:02}")).collect();
    let add: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), n.as_str())).collect();
    let e = fx.propose("most", "crowd", &add, &[]);
    assert!(matches!(
        fx.reject(e),
        RuleError::PartyCount { found: 65, .. }
    ));
    let e = fx.propose("most", "crowd", &add[..61], &[]);
    fx.accept(e);
}

#[test]
fn party_proofs_are_bound_to_ledger_position_party_and_key() {
    let mut fx = Fx::new();
    let good = fx.party_proof("obs", "obs");
    let wrong = |fx: &mut Fx, np: NewParty, party: &str| {
        let e = fx.ev(
            "most",
            "most",
            proposal("p", BTreeMap::from([(pid(party), np)]), &[]),
        );
        fx.reject(e)
    };
    // Made for the next seq (a proof replayed at another position).
    let (ledger, seq, head) = (fx.ledger, fx.state.count, fx.state.head);
    let obs = fx.key("obs").public().to_bytes();
    let later = NewParty {
        key: obs,
        proof: fx.key("obs").sign(&party_proof_message(
            &ledger,
            seq + 1,
            &head,
            &pid("obs"),
            &obs,
        )),
    };
    assert!(matches!(
        wrong(&mut fx, later, "obs"),
        RuleError::BadPartyProof { .. }
    ));
    // Made for another ledger.
    let other = NewParty {
        key: obs,
        proof: fx.key("obs").sign(&party_proof_message(
            &LedgerId([9; 16]),
            seq,
            &head,
            &pid("obs"),
            &obs,
        )),
    };
    assert!(matches!(
        wrong(&mut fx, other, "obs"),
        RuleError::BadPartyProof { .. }
    ));
    // For another party id.
    assert!(matches!(
        wrong(&mut fx, good, "obs2"),
        RuleError::BadPartyProof { .. }
    ));
    // A key proof (§5.7) over the same values is not a party proof.
    let kp = NewParty {
        key: obs,
        proof: fx
            .key("obs")
            .sign(&key_proof_message(&ledger, seq, &head, &pid("obs"), &obs)),
    };
    assert!(matches!(
        wrong(&mut fx, kp, "obs"),
        RuleError::BadPartyProof { .. }
    ));
    // Signed by another key.
    let by_other = NewParty {
        key: obs,
        proof: fx
            .key("eve")
            .sign(&party_proof_message(&ledger, seq, &head, &pid("obs"), &obs)),
    };
    assert!(matches!(
        wrong(&mut fx, by_other, "obs"),
        RuleError::BadPartyProof { .. }
    ));
    // A proof from an earlier position, after the log moved on.
    let e = fx.note("med", "med");
    fx.accept(e);
    assert!(matches!(
        wrong(&mut fx, good, "obs"),
        RuleError::BadPartyProof { .. }
    ));
    // Not a valid key, and two new parties with one key.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let np = NewParty {
        key: identity,
        proof: [0; 64],
    };
    assert!(matches!(
        wrong(&mut fx, np, "obs"),
        RuleError::BadJoiningKey { .. }
    ));
    let twice = BTreeMap::from([
        (pid("obs"), fx.party_proof("obs", "obs")),
        (pid("obt"), fx.party_proof("obt", "obs")),
    ]);
    let e = fx.ev("most", "most", proposal("p", twice, &[]));
    assert!(
        matches!(fx.reject(e), RuleError::BadJoiningKey { ref reason, .. } if reason.contains("same key"))
    );
    // A key some party holds or held, and an id that is a party.
    let np = fx.party_proof("obs", "mfa");
    assert!(matches!(
        wrong(&mut fx, np, "obs"),
        RuleError::KeyReused { .. }
    ));
    let np = fx.party_proof("mfa", "obs");
    assert!(matches!(
        wrong(&mut fx, np, "mfa"),
        RuleError::PartyExists { .. }
    ));
    // The good one, at the right place.
    let np = fx.party_proof("obs", "obs");
    let e = fx.ev(
        "most",
        "most",
        proposal("p", BTreeMap::from([(pid("obs"), np)]), &[]),
    );
    fx.accept(e);
}

#[test]
fn the_state_with_membership_survives_serialisation() {
    let mut fx = Fx::new();
    let e = fx.propose("most", "p1", &[("obs", "obs")], &["med"]);
    fx.accept(e);
    let json = snapshot(&fx.state);
    let back: State = serde_json::from_str(&json).unwrap();
    assert_eq!(snapshot(&back), json);
    assert_eq!(back.proposal, fx.state.proposal);
    let e = fx.approve("mfa", "p1");
    fx.accept(e);
    let json = snapshot(&fx.state);
    let back: State = serde_json::from_str(&json).unwrap();
    assert_eq!(back.parties, fx.state.parties);
    assert_eq!(back.keys, fx.state.keys);
}

// ---------------------------------------------------------------------------
// The writer and its cache
// ---------------------------------------------------------------------------

fn written() -> (tempfile::TempDir, std::path::PathBuf, Vec<SigningKey>) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("led");
    let keys: Vec<SigningKey> = (0..3).map(|_| SigningKey::generate()).collect();
    let parties: BTreeMap<PartyId, PublicKey> = ["med", "mfa", "most"]
        .iter()
        .zip(&keys)
        .map(|(n, k)| (pid(n), k.public()))
        .collect();
    ledger::core::writer::init(&dir, &keys[2], "Parties", &parties, Some(clock(0))).unwrap();
    (tmp, dir, keys)
}

#[test]
fn the_writer_proposes_approves_and_the_cache_keeps_up() {
    let (_tmp, dir, keys) = written();
    let [med, mfa, most] = &keys[..] else {
        panic!()
    };
    let obs = SigningKey::generate();
    let mut w = Writer::open(&dir).unwrap();
    w.propose_parties(
        most,
        prop_id("p1"),
        &[(pid("obs"), &obs)],
        &[pid("med")],
        Some(clock(1)),
    )
    .unwrap();
    drop(w);
    // From the cache: the open proposal is there.
    let mut w = Writer::open(&dir).unwrap();
    assert_eq!(w.state().proposal.as_ref().unwrap().id, prop_id("p1"));
    w.approve_parties(mfa, prop_id("p1"), Some(clock(2)))
        .unwrap();
    assert!(w.state().proposal.is_some(), "med has not agreed yet");
    w.approve_parties(med, prop_id("p1"), Some(clock(2)))
        .unwrap();
    let log = std::fs::read(dir.join("events.cbor")).unwrap();
    match w.append(med, Some(clock(3)), note(), None) {
        Err(WriteError::PartyRemoved { party, removed, .. }) => {
            assert_eq!((party, removed), (pid("med"), 3))
        }
        other => panic!("{:?}", other.map(|a| a.seq)),
    }
    assert_eq!(std::fs::read(dir.join("events.cbor")).unwrap(), log);
    w.append(&obs, Some(clock(3)), note(), None).unwrap();
    drop(w);
    let cached = Writer::open(&dir).unwrap();
    let from_cache = snapshot(cached.state());
    drop(cached);
    std::fs::remove_dir_all(dir.join("cache")).unwrap();
    let replayed = Writer::open(&dir).unwrap();
    assert_eq!(snapshot(replayed.state()), from_cache);
    drop(replayed);
    let report = ledger::core::verify::verify(&dir, &Default::default()).unwrap();
    let med_info = report.parties.iter().find(|p| p.id == pid("med")).unwrap();
    assert_eq!((med_info.joined, med_info.removed), (0, Some(3)));
    assert_eq!(med_info.keys[0].party_removed, Some(3));
    let obs_info = report.parties.iter().find(|p| p.id == pid("obs")).unwrap();
    assert_eq!((obs_info.joined, obs_info.current), (3, true));
    assert_eq!(obs_info.keys[0].added, 3);
}

#[test]
fn the_writer_finds_a_pending_signatory_that_the_cache_did_not_load() {
    // The writer loads only the documents an event names; a removal must
    // look at them all.
    let (_tmp, dir, keys) = written();
    let [_med, _mfa, most] = &keys[..] else {
        panic!()
    };
    let mut w = Writer::open(&dir).unwrap();
    let doc = b"the treaty\n";
    let kind = Kind::DocumentDrafted {
        doc: DocId::new("treaty").unwrap(),
        sha256: DocHash::of(doc),
        title: "Treaty".into(),
        signatories: vec![pid("med"), pid("most")],
    };
    w.append(most, Some(clock(1)), kind, Some(doc)).unwrap();
    drop(w);
    let mut w = Writer::open(&dir).unwrap();
    let log = std::fs::read(dir.join("events.cbor")).unwrap();
    match w.propose_parties(most, prop_id("p"), &[], &[pid("med")], Some(clock(2))) {
        Err(WriteError::Rule(RuleError::RemovePendingSignatory { .. })) => {}
        other => panic!("{:?}", other.map(|a| a.seq)),
    }
    assert_eq!(std::fs::read(dir.join("events.cbor")).unwrap(), log);
}

#[test]
fn a_forged_cache_party_is_not_trusted() {
    let (_tmp, dir, keys) = written();
    let [med, mfa, most] = &keys[..] else {
        panic!()
    };
    let obs = SigningKey::generate();
    let mut w = Writer::open(&dir).unwrap();
    w.propose_parties(most, prop_id("p1"), &[], &[pid("med")], Some(clock(1)))
        .unwrap();
    w.approve_parties(mfa, prop_id("p1"), Some(clock(2)))
        .unwrap();
    w.approve_parties(med, prop_id("p1"), Some(clock(2)))
        .unwrap();
    drop(w);
    let path = dir.join("cache/state.json");
    let original: serde_json::Value = common::cache_head(path.parent().unwrap().parent().unwrap());
    let log = std::fs::read(dir.join("events.cbor")).unwrap();
    // 1. The cache invents a party "eve" holding obs's key.
    let mut cache = original.clone();
    let k = Kid(obs.public().kid()).to_hex();
    let mut record = cache["state"]["keys"][Kid(most.public().kid()).to_hex()].clone();
    record["party"] = "eve".into();
    record["key"] = hex::encode(obs.public().to_bytes()).into();
    record["added"] = 2.into();
    cache["state"]["keys"][&k] = record;
    cache["state"]["parties"]["eve"] = serde_json::json!({"keys": [k], "current": 1, "joined": 2});
    common::write_cache_head(path.parent().unwrap().parent().unwrap(), &cache);
    let mut w = Writer::open(&dir).unwrap();
    assert!(!w.state().parties.contains_key(&pid("eve")));
    assert!(matches!(
        w.append(&obs, Some(clock(3)), note(), None),
        Err(WriteError::NotAParty { .. })
    ));
    drop(w);
    assert_eq!(std::fs::read(dir.join("events.cbor")).unwrap(), log);
    // 2. The cache says med was never removed.
    let mut cache = original.clone();
    cache["state"]["parties"]["med"]
        .as_object_mut()
        .unwrap()
        .remove("removed");
    cache["state"]["parties"]["med"]["current"] = 1.into();
    let med_kid = Kid(keys[0].public().kid()).to_hex();
    cache["state"]["keys"][&med_kid]
        .as_object_mut()
        .unwrap()
        .remove("removed");
    common::write_cache_head(path.parent().unwrap().parent().unwrap(), &cache);
    let mut w = Writer::open(&dir).unwrap();
    assert!(matches!(
        w.append(&keys[0], Some(clock(3)), note(), None),
        Err(WriteError::PartyRemoved { .. })
    ));
    drop(w);
    // 3. The cache invents an open proposal.
    let mut cache = original;
    cache["state"]["proposal"] = serde_json::json!({
        "id": "fake", "seq": 1, "hash": "00".repeat(32), "proposer": "most",
        "add": {}, "remove": ["mfa"], "required": ["most"], "approvals": []
    });
    common::write_cache_head(path.parent().unwrap().parent().unwrap(), &cache);
    let w = Writer::open(&dir).unwrap();
    assert!(w.state().proposal.is_none());
    drop(w);
    assert_eq!(std::fs::read(dir.join("events.cbor")).unwrap(), log);
    ledger::core::verify::verify(&dir, &Default::default()).unwrap();
}

#[test]
fn import_checks_removals_against_every_document_and_the_cache_keeps_up() {
    let (_tmp, dir, keys) = written();
    let mut w = Writer::open(&dir).unwrap();
    let doc = b"the treaty\n";
    let kind = Kind::DocumentDrafted {
        doc: DocId::new("treaty").unwrap(),
        sha256: DocHash::of(doc),
        title: "Treaty".into(),
        signatories: vec![pid("med"), pid("most")],
    };
    w.append(&keys[2], Some(clock(1)), kind, Some(doc)).unwrap();
    drop(w);
    // Pre-signed events, from the state as the cache holds it (without
    // the document): the removal of med must still be refused.
    let w = Writer::open(&dir).unwrap();
    let state = w.state().clone();
    drop(w);
    let names = ["med", "mfa", "most"];
    let mut fx = Fx {
        ledger: state.ledger,
        state,
        events: Vec::new(),
        tick: 1,
        keys: names.iter().map(|n| n.to_string()).zip(keys).collect(),
    };
    let e = fx.propose("most", "expel-med", &[], &["med"]);
    let log = std::fs::read(dir.join("events.cbor")).unwrap();
    let mut w = Writer::open(&dir).unwrap();
    match w.import(&stored(&e), &BTreeMap::new(), |_| {}) {
        Err(WriteError::Import {
            problem:
                ledger::core::writer::ImportProblem::Rule(RuleError::RemovePendingSignatory { .. }),
            ..
        }) => {}
        other => panic!("{:?}", other.map(|i| i.count)),
    }
    drop(w);
    assert_eq!(std::fs::read(dir.join("events.cbor")).unwrap(), log);
    // Adding a party, approved by all, who then signs: one import.
    let e = fx.propose("most", "admit-obs", &[("obs", "obs")], &[]);
    fx.accept(e);
    let e = fx.approve("med", "admit-obs");
    fx.accept(e);
    let e = fx.approve("mfa", "admit-obs");
    fx.accept(e);
    let e = fx.note("obs", "obs");
    fx.accept(e);
    let file: Vec<u8> = fx.events.iter().flat_map(stored).collect();
    let mut w = Writer::open(&dir).unwrap();
    let done = w.import(&file, &BTreeMap::new(), |_| {}).unwrap();
    assert_eq!((done.first_seq, done.count), (2, 4));
    drop(w);
    // (The keys, parties and proposals: a full replay also loads the
    // documents, which the cache reads only on demand.)
    let membership = |s: &State| {
        serde_json::to_string(&(&s.keys, &s.parties, &s.proposal, &s.proposals)).unwrap()
    };
    let w = Writer::open(&dir).unwrap();
    let cached = membership(w.state());
    assert_eq!(w.state().parties[&pid("obs")].joined, 4);
    drop(w);
    let cache: serde_json::Value = common::cache_head(&dir);
    assert_eq!(cache["key_events"].as_array().unwrap().len(), 3);
    std::fs::remove_dir_all(dir.join("cache")).unwrap();
    let w = Writer::open(&dir).unwrap();
    assert_eq!(membership(w.state()), cached);
    drop(w);
    ledger::core::verify::verify(&dir, &Default::default()).unwrap();
}

// ---------------------------------------------------------------------------
// The binary
// ---------------------------------------------------------------------------

use common::Fx as Cli;

/// `led` (ann, bob), keys/obs made by keygen; ann proposes adding obs, bob
/// approves: obs joins at event 2.
fn cli_with_obs() -> Cli {
    let fx = Cli::with_ledger();
    fx.run(&["keygen", "keys/obs"]).ok();
    let r = fx.append(
        "ann",
        &[
            "parties-propose",
            "--proposal",
            "admit-obs",
            "--add",
            "obs=keys/obs.pub",
            "--add-key",
            "keys/obs.key",
        ],
    );
    r.ok();
    assert!(r.stdout.contains("(parties-proposed) by ann"), "{r}");
    fx.append("bob", &["parties-approve", "--proposal", "admit-obs"])
        .ok();
    fx
}

#[test]
fn cli_adds_a_party_that_then_signs() {
    let fx = cli_with_obs();
    fx.append("obs", &["note", "--text", "hello from obs"]).ok();
    let r = fx.run(&["verify", "led"]);
    r.ok();
    assert!(r.stdout.contains("OK: 4 events verified"), "{r}");
    assert!(
        r.stdout
            .contains("membership: joined at #2, a current party"),
        "{r}"
    );
    assert!(
        r.stdout
            .contains("proposed admit-obs: add obs; awaiting approval from bob"),
        "{r}"
    );
    assert!(
        r.stdout.contains("the change takes effect: obs joined"),
        "{r}"
    );
    let j = fx.report();
    let obs = j["parties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "obs")
        .unwrap()
        .clone();
    assert_eq!(obs["joined"], 2);
    assert_eq!(obs["current"], true);
    assert_eq!(obs["keys"][0]["added"], 2);
    // --trust: the genesis parties' keys suffice; obs's own key vouches too.
    std::fs::create_dir(fx.p("t")).unwrap();
    for k in ["ann", "bob"] {
        std::fs::copy(fx.p(&format!("keys/{k}.pub")), fx.p(&format!("t/{k}.pub"))).unwrap();
    }
    fx.run(&["verify", "--trust", "t", "led"]).ok();
    let r = fx.run(&["verify", "--trust", "t", "--trust", "keys/obs.pub", "led"]);
    r.ok();
    assert!(r.stdout.contains("keys/obs.pub"), "{r}");
    fx.refused(
        &[
            "verify",
            "--trust",
            "keys/bob.pub",
            "--trust",
            "keys/obs.pub",
            "led",
        ],
        1,
        "the key of party \"ann\"",
    );
    // Drafting names only current parties by default: obs included.
    fx.write("doc.txt", "charter\n");
    fx.append(
        "obs",
        &[
            "draft", "--doc", "charter", "--file", "doc.txt", "--title", "Charter",
        ],
    )
    .ok();
    let j = fx.report();
    assert_eq!(
        j["documents"][0]["signatories"],
        serde_json::json!(["ann", "bob", "obs"])
    );
}

#[test]
fn cli_removes_a_party_whose_later_events_are_refused() {
    let fx = cli_with_obs();
    fx.append("bob", &["note", "--text", "before leaving"]).ok();
    // ann proposes that bob leave: obs and bob must both approve.
    fx.append(
        "ann",
        &[
            "parties-propose",
            "--proposal",
            "bob-leaves",
            "--remove",
            "bob",
        ],
    )
    .ok();
    fx.append("obs", &["parties-approve", "--proposal", "bob-leaves"])
        .ok();
    fx.append("bob", &["note", "--text", "still a party"]).ok();
    fx.append("bob", &["parties-approve", "--proposal", "bob-leaves"])
        .ok();
    fx.append_refused(
        "bob",
        &["note", "--text", "after"],
        2,
        "party \"bob\", which was removed from the parties at event 7",
    );
    let r = fx.run(&["verify", "led"]);
    r.ok();
    assert!(
        r.stdout
            .contains("membership: a party since the genesis, REMOVED at #7"),
        "{r}"
    );
    assert!(r.stdout.contains("party removed at #7"), "{r}");
    let j = fx.report();
    let bob = j["parties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "bob")
        .unwrap()
        .clone();
    assert_eq!(bob["removed"], 7);
    assert_eq!(bob["current"], false);
    assert_eq!(bob["keys"][0]["party_removed"], 7);
    // Drafts by default name only the current parties.
    fx.write("doc.txt", "charter\n");
    fx.append(
        "ann",
        &[
            "draft", "--doc", "charter", "--file", "doc.txt", "--title", "Charter",
        ],
    )
    .ok();
    fx.append_refused(
        "ann",
        &[
            "draft",
            "--doc",
            "c2",
            "--file",
            "doc.txt",
            "--title",
            "C",
            "--signatory",
            "bob",
        ],
        2,
        "signatory \"bob\" of document \"c2\" was removed from the parties at event 7",
    );
    // --trust still wants a key of bob, a genesis party.
    fx.refused(
        &["verify", "--trust", "keys/ann.pub", "led"],
        1,
        "the key of party \"bob\"",
    );
}

#[test]
fn cli_refuses_bad_membership_commands_and_changes_nothing() {
    let fx = Cli::with_ledger();
    for k in ["keys/obs", "keys/obs2"] {
        fx.run(&["keygen", k]).ok();
    }
    // No approval without a proposal.
    fx.append_refused(
        "bob",
        &["parties-approve", "--proposal", "nothing"],
        2,
        "proposal \"nothing\" cannot be approved: no proposal is open (FORMAT §6.10)",
    );
    // --add without the new party's private key, with another's, or a
    // private key without its --add.
    fx.append_refused(
        "ann",
        &[
            "parties-propose",
            "--proposal",
            "p",
            "--add",
            "obs=keys/obs.pub",
        ],
        2,
        "no --add-key is the private key of keys/obs.pub",
    );
    fx.append_refused(
        "ann",
        &[
            "parties-propose",
            "--proposal",
            "p",
            "--add",
            "obs=keys/obs.pub",
            "--add-key",
            "keys/obs2.key",
        ],
        2,
        "no --add-key is the private key",
    );
    fx.append_refused(
        "ann",
        &[
            "parties-propose",
            "--proposal",
            "p",
            "--remove",
            "bob",
            "--add-key",
            "keys/obs.key",
        ],
        2,
        "--add-key keys/obs.key: its public key is not given with --add",
    );
    fx.append_refused(
        "ann",
        &[
            "parties-propose",
            "--proposal",
            "p",
            "--add",
            "keys/obs.pub",
        ],
        2,
        "expected ID=PUBLIC_KEY_FILE",
    );
    fx.append_refused(
        "ann",
        &["parties-propose", "--proposal", "Bad Id", "--remove", "bob"],
        2,
        "--proposal",
    );
    // A new party's key readable by others.
    common::chmod(&fx.p("keys/obs2.key"), 0o644);
    fx.append_refused(
        "ann",
        &[
            "parties-propose",
            "--proposal",
            "p",
            "--add",
            "obs2=keys/obs2.pub",
            "--add-key",
            "keys/obs2.key",
        ],
        2,
        "obs2.key",
    );
    // Rules: empty, a party that exists, a key someone holds, removing all.
    fx.append_refused(
        "ann",
        &["parties-propose", "--proposal", "p"],
        2,
        "neither adds nor removes a party",
    );
    fx.append_refused(
        "ann",
        &[
            "parties-propose",
            "--proposal",
            "p",
            "--add",
            "bob=keys/obs.pub",
            "--add-key",
            "keys/obs.key",
        ],
        2,
        "which is a party",
    );
    fx.append_refused(
        "ann",
        &[
            "parties-propose",
            "--proposal",
            "p",
            "--add",
            "obs=keys/bob.pub",
            "--add-key",
            "keys/bob.key",
        ],
        2,
        "a key is never held twice",
    );
    fx.append_refused(
        "ann",
        &[
            "parties-propose",
            "--proposal",
            "p",
            "--remove",
            "ann",
            "--remove",
            "bob",
        ],
        2,
        "would leave 0 parties",
    );
    // An outsider cannot propose.
    let t = fx.at();
    fx.refused(
        &[
            "append",
            "led",
            "--key",
            "other/eve.key",
            "--at",
            &t,
            "parties-propose",
            "--proposal",
            "p",
            "--remove",
            "bob",
        ],
        2,
        "is not the key of any party of this ledger",
    );
    // One open at a time, duplicate approvals, reused ids.
    fx.append(
        "ann",
        &[
            "parties-propose",
            "--proposal",
            "p",
            "--add",
            "obs=keys/obs.pub",
            "--add-key",
            "keys/obs.key",
        ],
    )
    .ok();
    fx.append_refused(
        "bob",
        &["parties-propose", "--proposal", "q", "--remove", "ann"],
        2,
        "proposal \"p\" (event 1) is still open",
    );
    fx.append_refused(
        "ann",
        &["parties-approve", "--proposal", "p"],
        2,
        "\"ann\" already approved proposal \"p\" at event 1",
    );
    fx.append_refused(
        "bob",
        &["parties-approve", "--proposal", "q"],
        2,
        "the open proposal is \"p\" (event 1)",
    );
    fx.append("bob", &["parties-approve", "--proposal", "p"])
        .ok();
    fx.append_refused(
        "bob",
        &["parties-approve", "--proposal", "p"],
        2,
        "proposal \"p\" cannot be approved: no proposal is open",
    );
    fx.append_refused(
        "bob",
        &["parties-propose", "--proposal", "p", "--remove", "obs"],
        2,
        "proposal id \"p\" was already used at event 1",
    );
    // A pending signatory cannot be removed.
    fx.write("doc.txt", "treaty\n");
    fx.append(
        "ann",
        &[
            "draft",
            "--doc",
            "treaty",
            "--file",
            "doc.txt",
            "--title",
            "T",
            "--signatory",
            "obs",
        ],
    )
    .ok();
    fx.append_refused(
        "ann",
        &["parties-propose", "--proposal", "q", "--remove", "obs"],
        2,
        "a required signatory of document \"treaty\", which is not executed",
    );
    fx.run(&["verify", "led"]).ok();
}

#[test]
fn cli_verify_refutes_a_ledger_with_a_forged_membership_event() {
    // A removed party's event spliced in after its removal (re-signed
    // chain): verify exits 1 naming it.
    let mut fx = Fx::new();
    let e = fx.propose("most", "p", &[], &["med"]);
    fx.accept(e);
    let e = fx.approve("mfa", "p");
    fx.accept(e);
    let e = fx.approve("med", "p");
    fx.accept(e);
    let e = fx.note("med", "med");
    let mut events = fx.events.clone();
    events.push(e);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("led");
    write_ledger(&dir, &events);
    let r = common::run_bin(Path::new(common::BIN), tmp.path(), &["verify", "led"]);
    r.fails(1, "was removed from the parties at event 3");
    assert!(r.stderr.contains("event 4"), "{r}");
}

fn write_ledger(dir: &Path, events: &[Event]) {
    std::fs::create_dir_all(dir.join("docs")).unwrap();
    for e in events {
        if let Kind::DocumentDrafted { doc, .. } = &e.body.kind {
            std::fs::write(
                dir.join("docs")
                    .join(DocHash::of(doc.as_str().as_bytes()).to_hex()),
                doc.as_str(),
            )
            .unwrap();
        }
    }
    let log: Vec<u8> = events.iter().flat_map(stored).collect();
    std::fs::write(dir.join("events.cbor"), log).unwrap();
}

// ---------------------------------------------------------------------------
// Agreement with the independent verifier (tools/verify.py)
// ---------------------------------------------------------------------------

#[test]
fn python_agrees_on_a_cli_ledger_with_membership_changes() {
    if !python_available() {
        return;
    }
    let fx = cli_with_obs();
    fx.append(
        "ann",
        &[
            "parties-propose",
            "--proposal",
            "bob-leaves",
            "--remove",
            "bob",
        ],
    )
    .ok();
    fx.append("obs", &["parties-approve", "--proposal", "bob-leaves"])
        .ok();
    fx.append("bob", &["parties-approve", "--proposal", "bob-leaves"])
        .ok();
    fx.append("obs", &["note", "--text", "after"]).ok();
    for extra in [
        &[][..],
        &["--trust", "keys/ann.pub", "--trust", "keys/bob.pub"],
        &["--trust", "keys/ann.pub", "--trust", "keys/obs.pub"],
    ] {
        let (b, p, note) = both(fx.root(), Path::new("led"), extra);
        assert_eq!(b, p, "{extra:?}\n{note}");
    }
    let py = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tools/verify.py"))
        .arg("--json")
        .arg("led")
        .current_dir(fx.root())
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&py.stdout).unwrap();
    let bob = j["parties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "bob")
        .unwrap()
        .clone();
    assert_eq!(
        (bob["joined"].clone(), bob["removed"].clone()),
        (0.into(), 5.into())
    );
    let obs = j["parties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "obs")
        .unwrap()
        .clone();
    assert_eq!(obs["joined"], 2);
}

#[test]
fn python_agrees_on_every_membership_rule() {
    if !python_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut cases: Vec<(&str, Vec<Event>, Option<u64>)> = Vec::new();
    let bad = |fx: &Fx, extra: Event| {
        let mut events = fx.events.clone();
        events.push(extra);
        events
    };
    {
        let mut fx = Fx::new();
        let e = fx.note("med", "med");
        fx.accept(e);
        let e = fx.draft("most", "treaty", &["mfa", "most"]);
        fx.accept(e);
        let e = fx.propose("most", "p1", &[("obs", "obs")], &["med"]);
        fx.accept(e);
        // While p1 is open.
        let e = fx.propose("mfa", "p2", &[], &["most"]);
        cases.push(("a second proposal", bad(&fx, e), Some(4)));
        let e = fx.draft("most", "annex", &["med"]);
        cases.push(("drafting for a leaving party", bad(&fx, e), Some(4)));
        let e = fx.approve("most", "p1");
        cases.push(("the proposer approves again", bad(&fx, e), Some(4)));
        let e = fx.note("zed", "zed");
        cases.push(("an outsider signs", bad(&fx, e), Some(4)));
        let mut e = fx.approve("mfa", "p1");
        {
            let mut body = e.body.clone();
            body.kind = Kind::PartiesApproved {
                proposal: prop_id("p1"),
                sha256: EventHash([3; 32]),
            };
            e = sign(&body, fx.key("mfa"));
        }
        cases.push(("a wrong proposal hash", bad(&fx, e), Some(4)));
        let e = fx.note("obs", "obs");
        cases.push(("the new party before approval", bad(&fx, e), Some(4)));
        let obs = fx.key("obs").public().to_bytes();
        let (ledger, seq, head) = (fx.ledger, fx.state.count, fx.state.head);
        let proof = fx
            .key("obs")
            .sign(&key_proof_message(&ledger, seq, &head, &pid("mfa"), &obs));
        let e = fx.ev("mfa", "mfa", Kind::KeyAdded { key: obs, proof });
        cases.push(("adding a proposed key", bad(&fx, e), Some(4)));
        let e = fx.approve("mfa", "p1");
        fx.accept(e);
        // med, which p1 removes, must agree too (FORMAT §6.10).
        let e = fx.note("obs", "obs");
        cases.push(("the new party before med agrees", bad(&fx, e), Some(5)));
        let e = fx.approve("med", "p1");
        fx.accept(e);
        let e = fx.note("obs", "obs");
        fx.accept(e);
        cases.push(("good", fx.events.clone(), None));
        let e = fx.note("med", "med");
        cases.push(("a removed party signs", bad(&fx, e), Some(7)));
        let e = fx.propose("most", "p1", &[], &["obs"]);
        cases.push(("a reused proposal id", bad(&fx, e), Some(7)));
        let e = fx.propose("most", "p3", &[("med", "med9")], &[]);
        cases.push(("a removed id readded", bad(&fx, e), Some(7)));
        let e = fx.propose("most", "p3", &[("new", "med")], &[]);
        cases.push(("a held key", bad(&fx, e), Some(7)));
        let e = fx.propose("most", "p3", &[], &["mfa"]);
        cases.push(("a pending signatory", bad(&fx, e), Some(7)));
        let e = fx.propose("most", "p3", &[], &["med"]);
        cases.push(("removing a removed party", bad(&fx, e), Some(7)));
        let e = fx.propose("most", "p3", &[], &["mfa", "most", "obs"]);
        cases.push(("removing everyone", bad(&fx, e), Some(7)));
        let e = fx.propose("most", "p3", &[], &[]);
        cases.push(("an empty proposal", bad(&fx, e), Some(7)));
        let e = fx.draft("most", "annex", &["med"]);
        cases.push(("drafting for a removed party", bad(&fx, e), Some(7)));
        let mut np = fx.party_proof("zed", "zed");
        np.proof[0] ^= 1;
        let e = fx.ev(
            "most",
            "most",
            proposal("p3", BTreeMap::from([(pid("zed"), np)]), &[]),
        );
        cases.push(("a bad party proof", bad(&fx, e), Some(7)));
        let np = fx.party_proof("zed", "zed");
        let e = fx.ev(
            "most",
            "most",
            proposal("p3", BTreeMap::from([(pid("zee"), np)]), &[]),
        );
        cases.push(("a proof for another id", bad(&fx, e), Some(7)));
        let e = fx.propose("most", "p3", &[("zed", "zed")], &["mfa", "obs"]);
        cases.push(("treaty still pending for mfa", bad(&fx, e), Some(7)));
        let e = fx.propose("most", "p3", &[("zed", "zed")], &["obs"]);
        let mut good = bad(&fx, e.clone());
        fx.accept(e);
        let e = fx.approve("mfa", "p3");
        good.push(e.clone());
        fx.accept(e);
        let e = fx.approve("obs", "p3");
        good.push(e.clone());
        fx.accept(e);
        let e = fx.note("zed", "zed");
        good.push(e);
        cases.push(("good, with a removal of the new party", good, None));
    }
    for (i, (what, events, fails_at)) in cases.iter().enumerate() {
        let dir = tmp.path().join(format!("case{i}"));
        write_ledger(&dir, events);
        let (b, p, note) = both(tmp.path(), &dir, &[]);
        assert_eq!(b, p, "{what}\n{note}");
        match fails_at {
            None => assert_eq!(b.0, Some(0), "{what}\n{note}"),
            Some(at) => assert_eq!((b.0, b.2), (Some(1), Some(*at)), "{what}\n{note}"),
        }
    }
}
