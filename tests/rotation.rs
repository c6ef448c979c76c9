//! Key rotation and revocation (FORMAT §5.4, §5.7, §6.5, §6.8): the rules
//! at the library level on events built in memory, the parallel verifier
//! on ledgers written to disk (keys introduced inside a wave), the writer,
//! and the real binary (`append key-add`, `key-rotate`, `key-revoke`,
//! `verify --trust`), including agreement with the independent Python
//! verifier.

mod common;

use common::{both, clock, next_body, pid, python_available, sign, stored};

use std::collections::BTreeMap;
use std::path::Path;

use ledger::base::crypto::{PublicKey, SigningKey};
use ledger::core::format::{
    key_proof_message, Body, Event, EventHash, Kid, Kind, LedgerId, PartyId,
};
use ledger::core::replay::{RuleError, State};
use ledger::core::writer::{WriteError, Writer};

// ---------------------------------------------------------------------------
// Library helpers
// ---------------------------------------------------------------------------

fn fp(key: &SigningKey) -> ledger::base::crypto::Fingerprint {
    key.public().fingerprint()
}

fn kid(key: &SigningKey) -> Kid {
    Kid(key.public().kid())
}

fn snapshot(state: &State) -> String {
    serde_json::to_string(state).unwrap()
}

fn note(text: &str) -> Kind {
    Kind::Note { text: text.into() }
}

/// A ledger of parties `most` and `med` under construction, keeping every
/// accepted event so that it can be replayed from scratch.
struct Fx {
    ledger: LedgerId,
    state: State,
    events: Vec<Event>,
    tick: u64,
    most: SigningKey,
    med: SigningKey,
}

impl Fx {
    fn new() -> Fx {
        let most = SigningKey::generate();
        let med = SigningKey::generate();
        let mut id = [0u8; 16];
        id.copy_from_slice(&SigningKey::generate().public().kid()[..16]);
        let ledger = LedgerId(id);
        let parties = BTreeMap::from([
            (pid("most"), most.public().to_bytes()),
            (pid("med"), med.public().to_bytes()),
        ]);
        let body = Body {
            version: 1,
            ledger,
            seq: 0,
            prev: None,
            time: clock(0),
            author: pid("most"),
            kind: Kind::LedgerCreated {
                title: "Rotation".into(),
                parties,
            },
        };
        let genesis = sign(&body, &most);
        let (state, _) = State::genesis(genesis.clone()).unwrap();
        Fx {
            ledger,
            state,
            events: vec![genesis],
            tick: 0,
            most,
            med,
        }
    }

    fn body(&mut self, author: &str, kind: Kind) -> Body {
        self.tick += 1;
        next_body(self.ledger, &self.state, self.tick, author, kind)
    }

    /// The proof `new` makes for being added to `author` at the next seq.
    fn proof(&self, author: &str, new: &SigningKey) -> [u8; 64] {
        new.sign(&key_proof_message(
            &self.ledger,
            self.state.count,
            &self.state.head,
            &pid(author),
            &new.public().to_bytes(),
        ))
    }

    fn add(&mut self, author: &str, signer: &SigningKey, new: &SigningKey) -> Event {
        let proof = self.proof(author, new);
        let body = self.body(
            author,
            Kind::KeyAdded {
                key: new.public().to_bytes(),
                proof,
            },
        );
        sign(&body, signer)
    }

    fn rotate(&mut self, author: &str, signer: &SigningKey, new: &SigningKey) -> Event {
        let proof = self.proof(author, new);
        let body = self.body(
            author,
            Kind::KeyRotated {
                key: new.public().to_bytes(),
                proof,
            },
        );
        sign(&body, signer)
    }

    fn revoke(&mut self, author: &str, signer: &SigningKey, revoked: Kid) -> Event {
        let body = self.body(
            author,
            Kind::KeyRevoked {
                kid: revoked,
                reason: "laptop stolen".into(),
            },
        );
        sign(&body, signer)
    }

    fn note(&mut self, author: &str, signer: &SigningKey) -> Event {
        let body = self.body(author, note("hello"));
        sign(&body, signer)
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

// ---------------------------------------------------------------------------
// FORMAT §6.8: key-added, key-rotated, key-revoked
// ---------------------------------------------------------------------------

#[test]
fn an_added_key_signs_alongside_the_old_one() {
    let mut fx = Fx::new();
    let most2 = SigningKey::generate();
    let (most, med) = (fx.most.clone_for_test(), fx.med.clone_for_test());
    let e = fx.add("most", &most, &most2);
    fx.accept(e);
    let party = &fx.state.parties[&pid("most")];
    assert_eq!(party.keys, [kid(&most), kid(&most2)]);
    assert_eq!(party.current, 2);
    let r = &fx.state.keys[&kid(&most2)];
    assert_eq!((r.added, r.rotated_out, r.is_current()), (1, None, true));
    assert_eq!(fx.state.party_of(&most2.public()), Some(&pid("most")));
    for signer in [&most, &most2] {
        let e = fx.note("most", signer);
        fx.accept(e);
    }
    let e = fx.note("med", &med);
    fx.accept(e);
    // Another party cannot sign with most's new key.
    let e = fx.note("med", &most2);
    assert_eq!(fx.reject(e), RuleError::KidMismatch { author: pid("med") });
    fx.replay_all();
}

#[test]
fn a_rotated_out_key_may_no_longer_sign() {
    let mut fx = Fx::new();
    let most = fx.most.clone_for_test();
    let most2 = SigningKey::generate();
    let e = fx.note("most", &most);
    fx.accept(e);
    let e = fx.rotate("most", &most, &most2);
    fx.accept(e);
    let r = &fx.state.keys[&kid(&most)];
    assert_eq!(r.rotated_out, Some(2));
    assert!(!r.is_current());
    assert_eq!(fx.state.parties[&pid("most")].current, 1);
    assert_eq!(fx.state.party_of(&most.public()), None);
    let e = fx.note("most", &most);
    let err = fx.reject(e);
    assert_eq!(
        err,
        RuleError::KeyNotCurrent {
            author: pid("most"),
            fingerprint: fp(&most),
            status: "rotated out at event 2".into()
        }
    );
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "signed by key {} of party \"most\", rotated out at event 2",
            fp(&most)
        )),
        "{msg}"
    );
    let e = fx.note("most", &most2);
    fx.accept(e);
    // The note signed before the rotation is still valid from scratch.
    let s = fx.replay_all();
    assert_eq!(s.count, 4);
}

#[test]
fn rotating_twice() {
    let mut fx = Fx::new();
    let k1 = fx.most.clone_for_test();
    let (k2, k3) = (SigningKey::generate(), SigningKey::generate());
    let e = fx.rotate("most", &k1, &k2);
    fx.accept(e);
    // The first key cannot rotate again: it is no longer current.
    let e = fx.rotate("most", &k1, &k3);
    assert!(matches!(fx.reject(e), RuleError::KeyNotCurrent { .. }));
    let e = fx.rotate("most", &k2, &k3);
    fx.accept(e);
    let hist: Vec<_> = fx
        .state
        .keys_of(&pid("most"))
        .map(|(k, r)| (*k, r.added, r.rotated_out))
        .collect();
    assert_eq!(
        hist,
        [
            (kid(&k1), 0, Some(1)),
            (kid(&k2), 1, Some(2)),
            (kid(&k3), 2, None)
        ]
    );
    for old in [&k1, &k2] {
        let e = fx.note("most", old);
        assert!(matches!(fx.reject(e), RuleError::KeyNotCurrent { .. }));
    }
    let e = fx.note("most", &k3);
    fx.accept(e);
    fx.replay_all();
}

#[test]
fn a_revoked_key_may_no_longer_sign_but_its_earlier_events_stand() {
    let mut fx = Fx::new();
    let most = fx.most.clone_for_test();
    let most2 = SigningKey::generate();
    let e = fx.add("most", &most, &most2);
    fx.accept(e);
    let e = fx.note("most", &most2);
    fx.accept(e);
    // most revokes its second key with its first.
    let e = fx.revoke("most", &most, kid(&most2));
    fx.accept(e);
    let r = &fx.state.keys[&kid(&most2)];
    assert_eq!(
        r.revoked.as_ref().map(|r| (r.seq, r.reason.as_str())),
        Some((3, "laptop stolen"))
    );
    assert_eq!(fx.state.parties[&pid("most")].current, 1);
    let e = fx.note("most", &most2);
    let err = fx.reject(e);
    assert!(
        err.to_string().contains(&format!(
            "signed by key {} of party \"most\", revoked at event 3",
            fp(&most2)
        )),
        "{err}"
    );
    // Event 2, signed by most2 before the revocation, still verifies.
    let s = fx.replay_all();
    assert_eq!(s.count, 4);
}

#[test]
fn a_key_may_revoke_itself_while_another_stays_current() {
    let mut fx = Fx::new();
    let most = fx.most.clone_for_test();
    let most2 = SigningKey::generate();
    let e = fx.add("most", &most, &most2);
    fx.accept(e);
    let e = fx.revoke("most", &most, kid(&most));
    fx.accept(e);
    let e = fx.note("most", &most);
    assert!(matches!(fx.reject(e), RuleError::KeyNotCurrent { .. }));
    let e = fx.note("most", &most2);
    fx.accept(e);
    // Now most2 is the last current key: it cannot revoke itself.
    let e = fx.revoke("most", &most2, kid(&most2));
    assert_eq!(
        fx.reject(e),
        RuleError::LastKey {
            author: pid("most"),
            fingerprint: fp(&most2)
        }
    );
}

#[test]
fn revoking_the_last_current_key_is_refused() {
    let mut fx = Fx::new();
    let med = fx.med.clone_for_test();
    let e = fx.revoke("med", &med, kid(&med));
    let err = fx.reject(e);
    assert_eq!(
        err,
        RuleError::LastKey {
            author: pid("med"),
            fingerprint: fp(&med)
        }
    );
    assert!(err.to_string().contains("no current key"), "{err}");
}

#[test]
fn a_rotated_out_key_may_still_be_revoked() {
    let mut fx = Fx::new();
    let most = fx.most.clone_for_test();
    let most2 = SigningKey::generate();
    let e = fx.rotate("most", &most, &most2);
    fx.accept(e);
    // Only one current key remains, but the revoked key is not current:
    // revoking it leaves the count unchanged.
    let e = fx.revoke("most", &most2, kid(&most));
    fx.accept(e);
    let r = &fx.state.keys[&kid(&most)];
    assert_eq!(r.rotated_out, Some(1));
    assert_eq!(r.revoked.as_ref().map(|r| r.seq), Some(2));
    assert_eq!(r.status(), "revoked at event 2 (reason: \"laptop stolen\")");
    assert_eq!(fx.state.parties[&pid("most")].current, 1);
}

#[test]
fn duplicate_revocation_is_refused() {
    let mut fx = Fx::new();
    let most = fx.most.clone_for_test();
    let most2 = SigningKey::generate();
    let e = fx.add("most", &most, &most2);
    fx.accept(e);
    let e = fx.revoke("most", &most, kid(&most2));
    fx.accept(e);
    let e = fx.revoke("most", &most, kid(&most2));
    assert_eq!(
        fx.reject(e),
        RuleError::AlreadyRevoked {
            author: pid("most"),
            fingerprint: fp(&most2),
            at: 2
        }
    );
}

#[test]
fn revoking_an_unknown_key_or_another_partys_is_refused() {
    let mut fx = Fx::new();
    let most = fx.most.clone_for_test();
    let med = fx.med.clone_for_test();
    let stranger = SigningKey::generate();
    for target in [kid(&stranger), kid(&med), Kid([0; 32])] {
        let e = fx.revoke("most", &most, target);
        assert_eq!(
            fx.reject(e),
            RuleError::UnknownKey {
                author: pid("most"),
                kid: target
            }
        );
        fx.tick -= 1;
    }
}

#[test]
fn a_rotation_signed_by_the_new_key_is_refused() {
    let mut fx = Fx::new();
    let most2 = SigningKey::generate();
    for rotate in [true, false] {
        let e = if rotate {
            fx.rotate("most", &most2.clone_for_test(), &most2)
        } else {
            fx.add("most", &most2.clone_for_test(), &most2)
        };
        let err = fx.reject(e);
        assert_eq!(
            err,
            RuleError::SignedByNewKey {
                author: pid("most"),
                fingerprint: fp(&most2)
            }
        );
        assert!(
            err.to_string().contains("not a key of \"most\" until"),
            "{err}"
        );
    }
}

#[test]
fn a_proof_by_the_wrong_key_is_refused() {
    let mut fx = Fx::new();
    let most = fx.most.clone_for_test();
    let most2 = SigningKey::generate();
    let other = SigningKey::generate();
    // Signed by the current key (which also proves nothing about most2).
    for prover in [&other, &most] {
        let proof = fx.proof("most", prover);
        let body = fx.body(
            "most",
            Kind::KeyRotated {
                key: most2.public().to_bytes(),
                proof,
            },
        );
        let e = sign(&body, &most);
        assert_eq!(
            fx.reject(e),
            RuleError::BadKeyProof {
                author: pid("most")
            }
        );
    }
    // A proof of zeros, and one with S >= L (verify_strict refuses it).
    let mut proof = fx.proof("most", &most2);
    proof[63] |= 0xf0;
    for proof in [[0u8; 64], proof] {
        let body = fx.body(
            "most",
            Kind::KeyAdded {
                key: most2.public().to_bytes(),
                proof,
            },
        );
        let e = sign(&body, &most);
        assert_eq!(
            fx.reject(e),
            RuleError::BadKeyProof {
                author: pid("most")
            }
        );
    }
}

#[test]
fn a_proof_for_another_position_or_ledger_is_refused() {
    let mut fx = Fx::new();
    let most = fx.most.clone_for_test();
    let most2 = SigningKey::generate();
    let key = most2.public().to_bytes();
    let seq = fx.state.count;
    let head = fx.state.head;
    let variants = [
        (
            "another seq",
            key_proof_message(&fx.ledger, seq + 1, &head, &pid("most"), &key),
        ),
        (
            "another prev",
            key_proof_message(&fx.ledger, seq, &EventHash([1; 32]), &pid("most"), &key),
        ),
        (
            "another ledger",
            key_proof_message(&LedgerId([9; 16]), seq, &head, &pid("most"), &key),
        ),
        (
            "another author",
            key_proof_message(&fx.ledger, seq, &head, &pid("med"), &key),
        ),
        (
            "without the context string",
            [&fx.ledger.0[..], &seq.to_be_bytes(), &head.0, b"most", &key].concat(),
        ),
    ];
    for (what, message) in variants {
        let body = fx.body(
            "most",
            Kind::KeyAdded {
                key,
                proof: most2.sign(&message),
            },
        );
        let e = sign(&body, &most);
        assert_eq!(
            fx.reject(e),
            RuleError::BadKeyProof {
                author: pid("most")
            },
            "{what}"
        );
        fx.tick -= 1;
    }
    // A valid key-added event of one ledger, replayed into another ledger
    // with the same parties' keys, fails on its proof however it is
    // re-signed.
    let e = fx.add("most", &most, &most2);
    let Kind::KeyAdded { proof, .. } = e.body.kind else {
        unreachable!()
    };
    fx.accept(e);
    let mut other = Fx::new();
    let om = other.most.clone_for_test();
    let body = other.body("most", Kind::KeyAdded { key, proof });
    let e = sign(&body, &om);
    assert_eq!(
        other.reject(e),
        RuleError::BadKeyProof {
            author: pid("most")
        }
    );
    // And the same proof later in the same ledger (another seq) too: the
    // key is then held, which is checked first.
    let e = fx.add("most", &most, &most2);
    assert!(matches!(fx.reject(e), RuleError::KeyReused { .. }));
}

#[test]
fn keys_are_never_held_twice() {
    let mut fx = Fx::new();
    let most = fx.most.clone_for_test();
    let med = fx.med.clone_for_test();
    let most2 = SigningKey::generate();
    // Another party's key (its holder can even make the proof).
    let e = fx.rotate("most", &most, &med);
    assert_eq!(
        fx.reject(e),
        RuleError::KeyReused {
            fingerprint: fp(&med),
            holder: pid("med"),
            added: 0
        }
    );
    fx.tick -= 1;
    // The signing key itself.
    let e = fx.add("most", &most, &most);
    assert!(matches!(fx.reject(e), RuleError::KeyReused { .. }));
    fx.tick -= 1;
    let e = fx.rotate("most", &most, &most2);
    fx.accept(e);
    // A rotated-out key, back again.
    let e = fx.rotate("most", &most2, &most);
    let err = fx.reject(e);
    assert_eq!(
        err,
        RuleError::KeyReused {
            fingerprint: fp(&most),
            holder: pid("most"),
            added: 0
        }
    );
    assert!(err.to_string().contains("never held twice"), "{err}");
    fx.tick -= 1;
    // A revoked key, by another party.
    let e = fx.revoke("most", &most2, kid(&most));
    fx.accept(e);
    let e = fx.add("med", &med, &most);
    assert!(matches!(fx.reject(e), RuleError::KeyReused { .. }));
}

#[test]
fn a_new_key_must_be_a_valid_ed25519_key() {
    let mut fx = Fx::new();
    let most = fx.most.clone_for_test();
    // The identity point (small order), and y = p (non-canonical).
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut y_is_p = [0xffu8; 32];
    y_is_p[0] = 0xed;
    y_is_p[31] = 0x7f;
    for key in [identity, y_is_p] {
        let body = fx.body(
            "most",
            Kind::KeyAdded {
                key,
                proof: [0; 64],
            },
        );
        let e = sign(&body, &most);
        assert!(
            matches!(fx.reject(e), RuleError::BadNewKey { .. }),
            "{}",
            hex::encode(key)
        );
        fx.tick -= 1;
    }
}

#[test]
fn the_state_with_key_history_survives_the_cache() {
    let mut fx = Fx::new();
    let most = fx.most.clone_for_test();
    let (most2, most3) = (SigningKey::generate(), SigningKey::generate());
    let e = fx.add("most", &most, &most2);
    fx.accept(e);
    let e = fx.rotate("most", &most2, &most3);
    fx.accept(e);
    let e = fx.revoke("most", &most3, kid(&most2));
    fx.accept(e);
    let json = snapshot(&fx.state);
    let back: State = serde_json::from_str(&json).unwrap();
    assert_eq!(snapshot(&back), json);
    assert_eq!(back.keys, fx.state.keys);
    assert_eq!(back.parties, fx.state.parties);
}

/// `SigningKey` is deliberately not `Clone`; tests regenerate it from its
/// PKCS#8 file.
trait CloneForTest {
    fn clone_for_test(&self) -> SigningKey;
}

impl CloneForTest for SigningKey {
    fn clone_for_test(&self) -> SigningKey {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = self.write_pair(&dir.path().join("k"), None).unwrap();
        SigningKey::from_file(&path).unwrap()
    }
}

// ---------------------------------------------------------------------------
// The parallel verifier: keys introduced inside a wave
// ---------------------------------------------------------------------------

fn write_ledger(dir: &Path, events: &[Event]) {
    std::fs::create_dir_all(dir.join("docs")).unwrap();
    let log: Vec<u8> = events.iter().flat_map(stored).collect();
    std::fs::write(dir.join("events.cbor"), log).unwrap();
}

#[test]
fn verify_checks_keys_introduced_within_a_wave() {
    // Hundreds of events, so that the parallel check runs, with keys added
    // and rotated in the middle and used right after.
    let mut fx = Fx::new();
    let mut most = fx.most.clone_for_test();
    for round in 0..6 {
        for _ in 0..40 {
            let e = fx.note("most", &most);
            fx.accept(e);
        }
        let next = SigningKey::generate();
        let e = if round % 2 == 0 {
            fx.rotate("most", &most, &next)
        } else {
            fx.add("most", &most, &next)
        };
        fx.accept(e);
        most = next;
    }
    for _ in 0..40 {
        let e = fx.note("most", &most);
        fx.accept(e);
    }
    let dir = tempfile::tempdir().unwrap();
    write_ledger(dir.path(), &fx.events);
    let report = ledger::core::verify::verify(dir.path(), &Default::default()).unwrap();
    assert_eq!(report.count, fx.state.count);
    let most_info = report.parties.iter().find(|p| p.id == pid("most")).unwrap();
    assert_eq!(most_info.keys.len(), 7);
    assert_eq!(most_info.keys.iter().filter(|k| k.current).count(), 4);
    assert_eq!(most_info.keys[0].rotated_out, Some(41));

    // A forged signature under a key introduced in the same wave is
    // caught by the ordered replay.
    let mut events = fx.events.clone();
    let i = events.len() - 1;
    let last = &events[i];
    let mut sig = last.signature;
    sig[5] ^= 1;
    events[i] = Event::assemble(last.kid, last.payload().to_vec(), sig)
        .unwrap()
        .0;
    let dir = tempfile::tempdir().unwrap();
    write_ledger(dir.path(), &events);
    let err = ledger::core::verify::verify(dir.path(), &Default::default()).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&format!("event {i} ")), "{msg}");
    assert!(msg.contains("signature does not verify"), "{msg}");
}

#[test]
fn verify_names_the_event_signed_by_a_revoked_key() {
    let mut fx = Fx::new();
    let most = fx.most.clone_for_test();
    let most2 = SigningKey::generate();
    let e = fx.add("most", &most, &most2);
    fx.accept(e);
    let e = fx.revoke("most", &most2, kid(&most));
    fx.accept(e);
    // Written past the replay rules, as an attacker with the old key would.
    let mut events = fx.events.clone();
    let body = fx.body("most", note("signed with the stolen key"));
    events.push(sign(&body, &most));
    let dir = tempfile::tempdir().unwrap();
    write_ledger(dir.path(), &events);
    let err = ledger::core::verify::verify(dir.path(), &Default::default()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "event 3 (byte offset {}",
            events[..3].iter().map(|e| e.stored_len()).sum::<usize>()
        )),
        "{msg}"
    );
    assert!(
        msg.contains(&format!(
            "signed by key {} of party \"most\", revoked at event 2",
            fp(&most)
        )),
        "{msg}"
    );
}

// ---------------------------------------------------------------------------
// The writer
// ---------------------------------------------------------------------------

/// A ledger on disk made by the writer: (tempdir, ledger dir, most, med).
fn written() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    SigningKey,
    SigningKey,
) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("led");
    let most = SigningKey::generate();
    let med = SigningKey::generate();
    let parties: BTreeMap<PartyId, PublicKey> =
        BTreeMap::from([(pid("most"), most.public()), (pid("med"), med.public())]);
    ledger::core::writer::init(&dir, &most, "Rotation", &parties, Some(clock(0))).unwrap();
    (tmp, dir, most, med)
}

#[test]
fn the_writer_rotates_and_refuses_the_old_key() {
    let (_tmp, dir, most, _med) = written();
    let most2 = SigningKey::generate();
    let mut w = Writer::open(&dir).unwrap();
    let a = w.append_key(&most, &most2, true, Some(clock(1))).unwrap();
    assert_eq!((a.seq, a.author.as_str()), (1, "most"));
    let log = std::fs::read(dir.join("events.cbor")).unwrap();
    let e = w.append(&most, Some(clock(2)), note("old key"), None);
    match e {
        Err(WriteError::KeyNotCurrent { party, status, .. }) => {
            assert_eq!(party, pid("most"));
            assert_eq!(status, "rotated out at event 1");
        }
        other => panic!("{:?}", other.map(|a| a.seq)),
    }
    assert_eq!(std::fs::read(dir.join("events.cbor")).unwrap(), log);
    w.append(&most2, Some(clock(2)), note("new key"), None)
        .unwrap();
    drop(w);
    // Reopened from the cache (whose genesis check must still pass), and
    // from a full replay once the cache is gone: the same state.
    let cached = Writer::open(&dir).unwrap();
    let from_cache = snapshot(cached.state());
    drop(cached);
    std::fs::remove_dir_all(dir.join("cache")).unwrap();
    let replayed = Writer::open(&dir).unwrap();
    assert_eq!(snapshot(replayed.state()), from_cache);
    assert_eq!(replayed.state().count, 3);
    // export names the key that signed each event.
    drop(replayed);
    let ex = ledger::core::verify::export_event(&dir, 0).unwrap();
    assert_eq!(ex.public_key, most.public());
    let ex = ledger::core::verify::export_event(&dir, 2).unwrap();
    assert_eq!(ex.public_key, most2.public());
    assert!(ex.public_key.verify_strict(&ex.to_be_signed, &ex.signature));
}

#[test]
fn the_writer_refuses_a_revocation_that_breaks_a_rule() {
    let (_tmp, dir, most, med) = written();
    let mut w = Writer::open(&dir).unwrap();
    let log = std::fs::read(dir.join("events.cbor")).unwrap();
    let kind = Kind::KeyRevoked {
        kid: kid(&med),
        reason: "not mine".into(),
    };
    match w.append(&most, Some(clock(1)), kind, None) {
        Err(WriteError::Rule(RuleError::UnknownKey { .. })) => {}
        other => panic!("{:?}", other.map(|a| a.seq)),
    }
    assert_eq!(std::fs::read(dir.join("events.cbor")).unwrap(), log);
}

#[test]
fn a_forged_cache_key_is_not_trusted() {
    // The cache claims most's key was never rotated out: the writer must
    // not take its word for it.
    let (_tmp, dir, most, _med) = written();
    let most2 = SigningKey::generate();
    let mut w = Writer::open(&dir).unwrap();
    w.append_key(&most, &most2, true, Some(clock(1))).unwrap();
    drop(w);
    let path = dir.join("cache/state.json");
    let mut cache: serde_json::Value = common::cache_head(path.parent().unwrap().parent().unwrap());
    let k = kid(&most).to_hex();
    cache["state"]["keys"][&k]["rotated_out"] = serde_json::Value::Null;
    cache["state"]["parties"]["most"]["current"] = serde_json::json!(2);
    common::write_cache_head(path.parent().unwrap().parent().unwrap(), &cache);
    let log = std::fs::read(dir.join("events.cbor")).unwrap();
    let mut w = Writer::open(&dir).unwrap();
    assert!(matches!(
        w.append(&most, Some(clock(2)), note("x"), None),
        Err(WriteError::KeyNotCurrent { .. })
    ));
    assert_eq!(std::fs::read(dir.join("events.cbor")).unwrap(), log);
}

// ---------------------------------------------------------------------------
// The binary: append key-add, key-rotate, key-revoke; verify --trust
// ---------------------------------------------------------------------------

use common::{snapshot as dir_snapshot, Fx as Cli};

/// A ledger `led` (parties ann and bob), with keys ann2 and ann3 made by
/// `ledger keygen`, in which ann adds ann2, ann2 signs a note, ann2 rotates
/// to ann3, and ann3 revokes ann2.
fn cli_with_history() -> Cli {
    let fx = Cli::with_ledger();
    for k in ["keys/ann2", "keys/ann3"] {
        fx.run(&["keygen", k]).ok();
    }
    fx.append("ann", &["key-add", "--new-key", "keys/ann2.key"])
        .ok();
    fx.append("ann2", &["note", "--text", "signed with ann's second key"])
        .ok();
    fx.append("ann2", &["key-rotate", "--new-key", "keys/ann3.key"])
        .ok();
    fx.append(
        "ann3",
        &[
            "key-revoke",
            "--revoke",
            "keys/ann2.pub",
            "--reason",
            "laptop stolen",
        ],
    )
    .ok();
    fx
}

#[test]
fn cli_adds_rotates_and_revokes_keys() {
    let fx = cli_with_history();
    let r = fx.run(&["verify", "led"]);
    r.ok();
    assert!(r.stdout.contains("OK: 5 events verified"), "{r}");
    assert!(r.stdout.contains("(genesis key, current)"), "{r}");
    assert!(
        r.stdout
            .contains("(added at #1, rotated out at #3, REVOKED at #4: laptop stolen)"),
        "{r}"
    );
    assert!(r.stdout.contains("(added at #3, current)"), "{r}");
    assert!(r.stdout.contains("added key "), "{r}");
    assert!(r.stdout.contains("rotated to key "), "{r}");
    assert!(r.stdout.contains("revoked key SHA256:"), "{r}");
    // People are shown fingerprints, never the kid or the raw key.
    let j = fx.report();
    for k in j["parties"][0]["keys"].as_array().unwrap() {
        let (kid, key) = (k["kid"].as_str().unwrap(), k["key"].as_str().unwrap());
        assert!(k["fingerprint"].as_str().unwrap().starts_with("SHA256:"));
        assert!(!r.stdout.contains(kid) && !r.stdout.contains(key), "{r}");
        assert!(r.stdout.contains(k["fingerprint"].as_str().unwrap()), "{r}");
    }
    let j = fx.report();
    let ann = &j["parties"][0];
    assert_eq!(ann["id"], "ann");
    let keys = ann["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3);
    assert_eq!(keys[0]["added"], 0);
    assert_eq!(keys[0]["current"], true);
    assert_eq!(keys[1]["added"], 1);
    assert_eq!(keys[1]["rotated_out"], 3);
    assert_eq!(keys[1]["revoked"], 4);
    assert_eq!(keys[1]["revoked_reason"], "laptop stolen");
    assert_eq!(keys[1]["current"], false);
    assert_eq!(keys[2]["added"], 3);
    assert_eq!(keys[2]["current"], true);
    // The genesis key is reported as the party's `key`, as before.
    assert_eq!(ann["key"], keys[0]["key"]);
    let kinds: Vec<&str> = j["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "ledger-created",
            "key-added",
            "note",
            "key-rotated",
            "key-revoked"
        ]
    );
    // Both current keys sign; export gives the key that signed event 2.
    fx.append("ann", &["note", "--text", "genesis key"]).ok();
    fx.append("ann3", &["note", "--text", "third key"]).ok();
    fx.run(&["export", "led", "--event", "2", "--out", "."])
        .ok();
    let exported = std::fs::read_to_string(fx.p("event-2.pub")).unwrap();
    assert_eq!(
        exported,
        std::fs::read_to_string(fx.p("keys/ann2.pub")).unwrap()
    );
}

#[test]
fn cli_refuses_a_revoked_or_rotated_out_key_and_changes_nothing() {
    let fx = cli_with_history();
    let r = fx.append_refused(
        "ann2",
        &["note", "--text", "with the stolen key"],
        2,
        "was a key of party \"ann\", but it was revoked at event 4",
    );
    assert!(
        r.stderr.contains("sign with a current key of \"ann\""),
        "{r}"
    );
    // A key that was only rotated out.
    fx.run(&["keygen", "keys/bob2"]).ok();
    fx.append("bob", &["key-rotate", "--new-key", "keys/bob2.key"])
        .ok();
    fx.append_refused(
        "bob",
        &["note", "--text", "old key"],
        2,
        "but it was rotated out at event 5",
    );
    fx.append("bob2", &["note", "--text", "new key"]).ok();
}

#[test]
fn cli_refuses_bad_key_events_and_changes_nothing() {
    let fx = cli_with_history();
    // Another party's key, a key already held, the signing key itself.
    fx.append_refused(
        "bob",
        &["key-rotate", "--new-key", "keys/ann3.key"],
        2,
        "a key is never held twice",
    );
    fx.append_refused(
        "ann",
        &["key-add", "--new-key", "keys/ann2.key"],
        2,
        "a key is never held twice",
    );
    fx.append_refused(
        "ann",
        &["key-add", "--new-key", "keys/ann.key"],
        2,
        "a key is never held twice",
    );
    // Revocations: of the last current key, of another party's key, of a
    // kid nobody holds, twice.
    fx.append_refused(
        "bob",
        &["key-revoke", "--revoke", "keys/bob.pub", "--reason", "x"],
        2,
        "would leave party \"bob\" with no current key",
    );
    fx.append_refused(
        "bob",
        &["key-revoke", "--revoke", "keys/ann.pub", "--reason", "x"],
        2,
        "party \"bob\" has never held a key with kid",
    );
    let zeros = "0".repeat(64);
    fx.append_refused(
        "ann",
        &["key-revoke", "--revoke", &zeros, "--reason", "x"],
        2,
        &format!("has never held a key with kid {zeros}"),
    );
    fx.append_refused(
        "ann",
        &[
            "key-revoke",
            "--revoke",
            "keys/ann2.pub",
            "--reason",
            "again",
        ],
        2,
        "was already revoked at event 4",
    );
    // Arguments: a missing file, a private key given as --revoke, a new
    // key readable by others, a multi-line reason.
    fx.append_refused(
        "ann",
        &["key-revoke", "--revoke", "keys/nope.pub", "--reason", "x"],
        2,
        "no such file, and not a kid",
    );
    fx.append_refused(
        "ann",
        &["key-revoke", "--revoke", "keys/ann2.key", "--reason", "x"],
        2,
        "private key",
    );
    fx.run(&["keygen", "keys/loose"]).ok();
    common::chmod(&fx.p("keys/loose.key"), 0o644);
    fx.append_refused(
        "ann",
        &["key-add", "--new-key", "keys/loose.key"],
        2,
        "loose.key",
    );
    fx.append_refused(
        "ann",
        &[
            "key-revoke",
            "--revoke",
            "keys/ann3.pub",
            "--reason",
            "two\nlines",
        ],
        2,
        "reason",
    );
    // Outsiders cannot add keys.
    fx.run(&["keygen", "keys/eve2"]).ok();
    let t = fx.at();
    fx.refused(
        &[
            "append",
            "led",
            "--key",
            "other/eve.key",
            "--at",
            &t,
            "key-add",
            "--new-key",
            "keys/eve2.key",
        ],
        2,
        "is not the key of any party of this ledger",
    );
    fx.run(&["verify", "led"]).ok();
}

#[test]
fn cli_verify_trust_accepts_any_key_a_party_held_and_says_which() {
    let fx = cli_with_history();
    std::fs::create_dir(fx.p("t1")).unwrap();
    for (from, to) in [
        ("keys/ann3.pub", "t1/ann3.pub"),
        ("keys/bob.pub", "t1/bob.pub"),
    ] {
        std::fs::copy(fx.p(from), fx.p(to)).unwrap();
    }
    let r = fx.run(&["verify", "--trust", "t1", "led"]);
    r.ok();
    assert!(r.stdout.contains("trusted keys (--trust):"), "{r}");
    let line = r
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("ann ") && l.contains("t1/ann3.pub"))
        .unwrap_or_else(|| panic!("no trust line for ann:\n{r}"));
    assert!(line.contains("added at #3, current"), "{line}");
    // The revoked key vouches too, and says so.
    let r = fx.run(&[
        "verify",
        "--json",
        "--trust",
        "keys/ann2.pub",
        "--trust",
        "keys/bob.pub",
        "led",
    ]);
    r.ok();
    let j = r.json();
    let ann = j["trusted"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["party"] == "ann")
        .unwrap()
        .clone();
    assert_eq!(ann["file"], "keys/ann2.pub");
    assert!(
        ann["status"].as_str().unwrap().contains("REVOKED at #4"),
        "{ann}"
    );
    // A party none of whose keys is trusted, and a stranger's key.
    fx.refused(
        &["verify", "--trust", "keys/bob.pub", "led"],
        1,
        "the keys of party \"ann\" (SHA256:",
    );
    fx.refused(
        &["verify", "--trust", "t1", "--trust", "other/eve.pub", "led"],
        1,
        "trusted key other/eve.pub is not the key of any party of this ledger",
    );
}

#[test]
fn cli_append_json_names_the_key_kinds() {
    let fx = Cli::with_ledger();
    fx.run(&["keygen", "keys/ann2"]).ok();
    let t = fx.at();
    let r = fx.run(&[
        "--json",
        "append",
        "led",
        "--key",
        "keys/ann.key",
        "--at",
        &t,
        "key-rotate",
        "--new-key",
        "keys/ann2.key",
    ]);
    r.ok();
    assert_eq!(r.json()["kind"], "key-rotated");
    assert_eq!(r.json()["author"], "ann");
    let before = dir_snapshot(&fx.p("led"));
    assert!(!before.is_empty());
}

// ---------------------------------------------------------------------------
// Agreement with the independent verifier (tools/verify.py)
// ---------------------------------------------------------------------------

#[test]
fn python_agrees_on_a_ledger_with_rotations_and_revocations() {
    if !python_available() {
        return;
    }
    let fx = cli_with_history();
    fx.append("ann", &["note", "--text", "genesis key still current"])
        .ok();
    std::fs::create_dir(fx.p("t1")).unwrap();
    std::fs::copy(fx.p("keys/ann3.pub"), fx.p("t1/ann3.pub")).unwrap();
    std::fs::copy(fx.p("keys/bob.pub"), fx.p("t1/bob.pub")).unwrap();
    for extra in [
        &[][..],
        &["--trust", "t1"],
        &["--trust", "keys/ann2.pub", "--trust", "keys/bob.pub"],
        &["--trust", "keys/bob.pub"],
        &["--trust", "t1", "--trust", "other/eve.pub"],
    ] {
        let (b, p, note) = both(fx.root(), Path::new("led"), extra);
        assert_eq!(b, p, "{extra:?}\n{note}");
    }
    // Every truncation at an event boundary and inside the key events.
    let log = fx.read("led/events.cbor");
    let report = fx.report();
    for e in report["events"].as_array().unwrap() {
        let off = e["offset"].as_u64().unwrap() as usize;
        for cut in [off, off + 1, off + 40] {
            if cut == 0 || cut >= log.len() {
                continue;
            }
            let copy = fx.p(&format!("cut{cut}"));
            common::copy_dir(&fx.p("led"), &copy);
            std::fs::write(copy.join("events.cbor"), &log[..cut]).unwrap();
            let (b, p, note) = both(fx.root(), &copy, &[]);
            assert_eq!(b, p, "cut at {cut}\n{note}");
        }
    }
}

#[test]
fn python_agrees_on_every_key_rule() {
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
    // Good: add, use, rotate, revoke a rotated-out key, revoke itself.
    {
        let mut fx = Fx::new();
        let m = fx.most.clone_for_test();
        let (m2, m3) = (SigningKey::generate(), SigningKey::generate());
        let e = fx.add("most", &m, &m2);
        fx.accept(e);
        let e = fx.note("most", &m2);
        fx.accept(e);
        let e = fx.rotate("most", &m2, &m3);
        fx.accept(e);
        let e = fx.revoke("most", &m3, kid(&m2));
        fx.accept(e);
        let e = fx.revoke("most", &m3, kid(&m3));
        fx.accept(e);
        cases.push(("good", fx.events.clone(), None));
        // Then the rotated-out-and-revoked key, and the self-revoked one.
        let e = fx.note("most", &m2);
        cases.push(("signed by a revoked key", bad(&fx, e), Some(6)));
        let e = fx.note("most", &m3);
        cases.push(("signed by a self-revoked key", bad(&fx, e), Some(6)));
        let e = fx.revoke("most", &m, kid(&m));
        cases.push(("the last current key", bad(&fx, e), Some(6)));
        let e = fx.revoke("most", &m, kid(&m2));
        cases.push(("revoked twice", bad(&fx, e), Some(6)));
        let med = fx.med.clone_for_test();
        let e = fx.revoke("most", &m, kid(&med));
        cases.push(("another party's key", bad(&fx, e), Some(6)));
        let e = fx.rotate("most", &m, &m3);
        cases.push(("a revoked key again", bad(&fx, e), Some(6)));
    }
    {
        let mut fx = Fx::new();
        let m = fx.most.clone_for_test();
        let m2 = SigningKey::generate();
        let e = fx.rotate("most", &m, &m2);
        fx.accept(e);
        let e = fx.note("most", &m);
        cases.push(("signed by a rotated-out key", bad(&fx, e), Some(2)));
        let e = fx.add("most", &m2.clone_for_test(), &m2);
        cases.push(("signed by the new key", bad(&fx, e), Some(2)));
        let m3 = SigningKey::generate();
        let e = fx.add("most", &m3.clone_for_test(), &m3);
        cases.push(("signed by the key it adds", bad(&fx, e), Some(2)));
        // A proof for the next seq.
        let key = m3.public().to_bytes();
        let proof = m3.sign(&key_proof_message(
            &fx.ledger,
            fx.state.count + 1,
            &fx.state.head,
            &pid("most"),
            &key,
        ));
        let body = fx.body("most", Kind::KeyAdded { key, proof });
        cases.push((
            "a proof for another seq",
            bad(&fx, sign(&body, &m2)),
            Some(2),
        ));
        // A proof by another key.
        let proof = m2.sign(&key_proof_message(
            &fx.ledger,
            fx.state.count,
            &fx.state.head,
            &pid("most"),
            &key,
        ));
        let body = fx.body("most", Kind::KeyAdded { key, proof });
        cases.push((
            "a proof by the wrong key",
            bad(&fx, sign(&body, &m2)),
            Some(2),
        ));
        let med = fx.med.clone_for_test();
        let e = fx.rotate("most", &m2, &med);
        cases.push(("another party's key", bad(&fx, e), Some(2)));
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let body = fx.body(
            "most",
            Kind::KeyAdded {
                key: identity,
                proof: [0; 64],
            },
        );
        cases.push(("a small-order key", bad(&fx, sign(&body, &m2)), Some(2)));
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

#[test]
fn import_takes_key_events_and_the_cache_keeps_up() {
    // Pre-signed events that rotate a key and use the new one at once, in
    // one import (one wave), after a few events already in the ledger.
    let (_tmp, dir, most, med) = written();
    let mut w = Writer::open(&dir).unwrap();
    w.append(&med, Some(clock(1)), note("before"), None)
        .unwrap();
    let state = w.state().clone();
    drop(w);
    let mut fx = Fx {
        ledger: state.ledger,
        tick: 1,
        state,
        events: Vec::new(),
        most: most.clone_for_test(),
        med: med.clone_for_test(),
    };
    let most2 = SigningKey::generate();
    let e = fx.rotate("most", &most, &most2);
    fx.accept(e);
    for _ in 0..3 {
        let e = fx.note("most", &most2);
        fx.accept(e);
    }
    let e = fx.revoke("most", &most2, kid(&most));
    fx.accept(e);
    let file: Vec<u8> = fx.events.iter().flat_map(stored).collect();
    let mut w = Writer::open(&dir).unwrap();
    let done = w.import(&file, &BTreeMap::new(), |_| {}).unwrap();
    assert_eq!((done.first_seq, done.count), (2, 5));
    drop(w);
    // The cache (with the key events' offsets) is taken on reopening, and
    // agrees with a full replay.
    let w = Writer::open(&dir).unwrap();
    let cached = snapshot(w.state());
    assert_eq!(
        w.state().keys[&kid(&most)].revoked.as_ref().map(|r| r.seq),
        Some(6)
    );
    drop(w);
    let cache: serde_json::Value = common::cache_head(&dir);
    let offsets = cache["key_events"].as_array().unwrap();
    assert_eq!(offsets.len(), 2, "{offsets:?}");
    let log = std::fs::read(dir.join("events.cbor")).unwrap();
    for o in offsets {
        let o = o.as_u64().unwrap() as usize;
        let ledger::core::format::Frame::Item(n) = ledger::core::format::frame(&log[o..]) else {
            panic!("no event at {o}")
        };
        let e = Event::decode(&log[o..o + n]).unwrap();
        assert!(
            e.body.kind.name().starts_with("key-"),
            "{}",
            e.body.kind.name()
        );
    }
    std::fs::remove_dir_all(dir.join("cache")).unwrap();
    let w = Writer::open(&dir).unwrap();
    assert_eq!(snapshot(w.state()), cached);
    drop(w);
    ledger::core::verify::verify(&dir, &Default::default()).unwrap();
}
