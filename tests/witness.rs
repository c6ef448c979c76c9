//! The file-based witness (src/witness.rs) against c2sp.org/tlog-witness:
//! request bodies, trust on first use, growth with RFC 6962 consistency
//! proofs, and each refusal with its HTTP status. Trees and proofs are built
//! here by a small reference implementation of RFC 6962 §2.1, independent
//! of src/merkle.rs (the one in tests/prooflib).

mod common;
mod prooflib;

use prooflib::{mth, subproof, Hash};

use std::sync::{Arc, Mutex};

use base64ct::{Base64, Encoding};
use ledger::base::crypto::SigningKey;
use ledger::tlog::note::{
    self, sign, Checkpoint, CosignedCheckpoint, Note, NoteVerifier, VerifierKind, WitnessPolicy,
};
use ledger::tlog::witness::{origin_hash, response_body, AddCheckpoint, Witness, WitnessError};
use sha2::{Digest, Sha256};

// ------------------------------------------------ RFC 6962 reference

fn leaf(i: u64) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(format!("event {i}").as_bytes());
    h.finalize().into()
}

fn tree(n: u64) -> Vec<Hash> {
    (0..n).map(leaf).collect()
}

fn root(n: u64) -> Hash {
    mth(&tree(n))
}

/// PROOF(m, D[n]); empty for m = 0 (tlog-witness).
fn proof(m: u64, n: u64) -> Vec<Hash> {
    if m == 0 {
        return vec![];
    }
    subproof(m as usize, &tree(n), true)
}

#[test]
fn reference_proofs_match_rfc_6962_shape() {
    // RFC 6962 §2.1.3's example tree of 7 leaves: PROOF(3, D[7]) is
    // [c, d, g, l] in the RFC's naming: 4 hashes; PROOF(4, D[7]) is [l]; and
    // PROOF(6, D[7]) is [i, j, k].
    assert_eq!(proof(3, 7).len(), 4);
    assert_eq!(proof(4, 7), vec![mth(&tree(7)[4..])]);
    assert_eq!(proof(6, 7).len(), 3);
    // And the merkle module agrees with this reference for every pair.
    for n in 1..=20 {
        for m in 1..=n {
            assert!(
                ledger::tlog::merkle::verify_consistency(m, n, &root(m), &root(n), &proof(m, n))
                    .is_ok(),
                "{m} -> {n}"
            );
        }
    }
}

// ------------------------------------------------------------ fixture

const ORIGIN: &str = "ledger.example/log";
const WITNESS: &str = "witness.example/w1";
const T0: u64 = 1_764_000_000;

struct Fx {
    dir: tempfile::TempDir,
    log: SigningKey,
    wkey: SigningKey,
}

impl Fx {
    fn new() -> Fx {
        Fx {
            dir: tempfile::tempdir().unwrap(),
            log: SigningKey::generate(),
            wkey: SigningKey::generate(),
        }
    }
    fn log_v(&self) -> NoteVerifier {
        NoteVerifier::new(ORIGIN, VerifierKind::Ed25519, self.log.public()).unwrap()
    }
    fn witness(&self) -> Witness<'_> {
        Witness::open(self.dir.path(), WITNESS, &self.wkey, vec![self.log_v()]).unwrap()
    }
    /// A checkpoint note for `origin` at `size` with `root`, signed by `key`.
    fn note_by(&self, origin: &str, size: u64, root: Hash, key: &SigningKey) -> Vec<u8> {
        let text = Checkpoint::new(origin, size, root, vec![])
            .unwrap()
            .to_text();
        Note::new(&text, vec![sign(&text, origin, key).unwrap()])
            .unwrap()
            .to_bytes()
    }
    fn note(&self, size: u64) -> Vec<u8> {
        self.note_by(ORIGIN, size, root(size), &self.log)
    }
    fn req(&self, old: u64, new: u64) -> AddCheckpoint {
        request(&self.log, old, new)
    }
    fn state(&self) -> Option<Vec<u8>> {
        std::fs::read(self.dir.path().join(origin_hash(ORIGIN))).ok()
    }
}

/// A request from `old` to `new`, the checkpoint signed by `log`.
fn request(log: &SigningKey, old: u64, new: u64) -> AddCheckpoint {
    let text = Checkpoint::new(ORIGIN, new, root(new), vec![])
        .unwrap()
        .to_text();
    AddCheckpoint {
        old,
        proof: proof(old, new),
        checkpoint: Note::new(&text, vec![sign(&text, ORIGIN, log).unwrap()])
            .unwrap()
            .to_bytes(),
    }
}

/// Submits `target` until it is cosigned (returns the accepted old size) or
/// the witness holds a larger size (returns `None`), following 409s.
fn race_to(w: &Witness<'_>, log: &SigningKey, target: u64) -> Option<u64> {
    let mut old = 1;
    loop {
        match w.add_checkpoint(&request(log, old, target), T0 + target) {
            Ok(_) => return Some(old),
            Err(WitnessError::Conflict { latest, .. }) if latest < target => old = latest,
            Err(WitnessError::Conflict { .. }) => return None,
            Err(e) => panic!("{old} -> {target}: {e}"),
        }
    }
}

/// The accepted (old, new) pairs form one chain from size 1 to `max`.
#[track_caller]
fn assert_chain(mut acc: Vec<(u64, u64)>, max: u64) {
    acc.sort_by_key(|&(_, new)| new);
    let mut expect_old = 1;
    for &(old, new) in &acc {
        assert_eq!(old, expect_old, "chain broken: {acc:?}");
        expect_old = new;
    }
    assert_eq!(expect_old, max, "{acc:?}");
}

#[track_caller]
fn status(r: Result<Vec<note::NoteSignature>, WitnessError>) -> u16 {
    match r {
        Ok(_) => 200,
        Err(e) => e.status(),
    }
}

// ------------------------------------------------------ request bodies

/// The example request of c2sp.org/tlog-witness, byte for byte.
const SPEC_BODY: &str = common::TLOG_WITNESS_SPEC_REQUEST;

#[test]
fn spec_request_body_parses_and_formats_identically() {
    let r = AddCheckpoint::parse(SPEC_BODY.as_bytes()).unwrap();
    assert_eq!(r.old, 20852014);
    assert_eq!(r.proof.len(), 4);
    assert_eq!(
        r.proof[0].to_vec(),
        Base64::decode_vec("PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=").unwrap()
    );
    assert!(r
        .checkpoint
        .starts_with(b"example.com/behind-the-sofa\n20852163\n"));
    assert_eq!(r.to_bytes().unwrap(), SPEC_BODY.as_bytes());
}

#[test]
fn request_bodies_round_trip() {
    let fx = Fx::new();
    for (old, new) in [(0, 0), (0, 1), (1, 2), (3, 7), (5, 1000), (64, 64)] {
        let r = fx.req(old, new);
        let bytes = r.to_bytes().unwrap();
        let mut expected = format!("old {old}\n");
        for h in &r.proof {
            expected.push_str(&Base64::encode_string(h));
            expected.push('\n');
        }
        expected.push('\n');
        let mut expected = expected.into_bytes();
        expected.extend_from_slice(&r.checkpoint);
        assert_eq!(bytes, expected);
        assert_eq!(AddCheckpoint::parse(&bytes).unwrap(), r);
    }
    let mut r = fx.req(0, 1);
    r.proof = vec![[7; 32]; 63];
    assert_eq!(AddCheckpoint::parse(&r.to_bytes().unwrap()).unwrap(), r);
    r.proof.push([7; 32]);
    assert_eq!(r.to_bytes().unwrap_err().status(), 400);
}

#[test]
fn malformed_request_bodies_are_refused() {
    let h = "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n";
    let note = SPEC_BODY.split_once("\n\n").unwrap().1;
    let cases = [
        (format!("old 01\n\n{note}"), "leading zero"),
        (format!("old +1\n\n{note}"), "sign"),
        (format!("old -1\n\n{note}"), "negative"),
        (format!("old  1\n\n{note}"), "two spaces"),
        (format!("old 1 \n\n{note}"), "trailing space"),
        (format!("Old 1\n\n{note}"), "capital"),
        (format!("old\n\n{note}"), "no size"),
        (format!("old 18446744073709551616\n\n{note}"), "2^64"),
        (format!("old 1\r\n\n{note}"), "CR"),
        (format!("old 1\n{h}{note}"), "no blank line"),
        (format!("old 1\n{}\n{note}", h.repeat(64)), "64 proof lines"),
        (
            format!("old 1\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkQ==\n\n{note}"),
            "31 bytes",
        ),
        (
            format!("old 1\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkax=\n\n{note}"),
            "non-canonical",
        ),
        (format!("old 1\n {h}\n{note}"), "space before hash"),
        (format!("old 1\n{h}\n"), "no checkpoint"),
        (
            format!("old 1\n{h}\n{}", note.replace('—', "-")),
            "malformed note",
        ),
        (format!("old 1\n{h}\n\n{note}"), "two blank lines"),
        ("old 1".to_string(), "no newline"),
        (String::new(), "empty"),
    ];
    for (body, why) in cases {
        let e = AddCheckpoint::parse(body.as_bytes()).expect_err(why);
        assert_eq!(e.status(), 400, "{why}: {e}");
    }
    assert!(AddCheckpoint::parse(format!("old 1\n{}\n{note}", h.repeat(63)).as_bytes()).is_ok());
    // Bytes that are not UTF-8 in the header.
    let mut b = b"old \xff\n\n".to_vec();
    b.extend_from_slice(note.as_bytes());
    assert_eq!(AddCheckpoint::parse(&b).unwrap_err().status(), 400);
}

// ----------------------------------------------------------- the witness

#[test]
fn first_checkpoint_is_trusted_on_first_use() {
    let fx = Fx::new();
    let w = fx.witness();
    assert_eq!(w.latest(ORIGIN).unwrap(), None);
    let sigs = w.add_checkpoint(&fx.req(0, 5), T0).unwrap();
    assert_eq!(sigs.len(), 1);
    assert_eq!(sigs[0].name(), WITNESS);
    assert_eq!(sigs[0].cosignature_timestamp(), Some(T0));
    assert_eq!(sigs[0].key_id(), w.verifier().key_id());

    // The client adds the response to its checkpoint and checks it against
    // a policy naming this witness.
    let mut n = Note::parse(&fx.note(5)).unwrap();
    for s in note::parse_signature_lines(&response_body(&sigs)).unwrap() {
        n.push_signature(s).unwrap();
    }
    let policy = WitnessPolicy::new(vec![w.verifier().clone()], 1).unwrap();
    let c = CosignedCheckpoint::verify(&n.to_bytes(), &[fx.log_v()], Some(&policy)).unwrap();
    assert_eq!(c.quorum(&policy), Ok(()));
    assert_eq!(c.cosigners()[0].timestamp(), Some(T0));

    // The stored state is that cosigned checkpoint, in the file named by the
    // origin hash, and is what latest() serves.
    assert_eq!(fx.state().unwrap(), n.to_bytes());
    assert_eq!(w.latest(ORIGIN).unwrap().unwrap(), n.to_bytes());
    assert_eq!(
        origin_hash(ORIGIN),
        hex::encode(Sha256::digest(ORIGIN.as_bytes()))
    );
}

#[test]
fn first_use_needs_old_zero_and_no_proof() {
    let fx = Fx::new();
    let w = fx.witness();
    // Claiming an old size the witness never saw: 409, latest 0.
    let e = w.add_checkpoint(&fx.req(3, 5), T0).unwrap_err();
    assert_eq!((e.status(), e.latest_size()), (409, Some(0)));
    // old 0 with a proof: 422.
    let mut r = fx.req(0, 5);
    r.proof = proof(3, 5);
    assert_eq!(status(w.add_checkpoint(&r, T0)), 422);
    assert_eq!(fx.state(), None);
}

#[test]
fn the_log_grows_with_valid_proofs() {
    let fx = Fx::new();
    let w = fx.witness();
    let mut old = 0;
    for (i, new) in [1u64, 2, 3, 4, 8, 13, 13, 64, 100, 1000]
        .into_iter()
        .enumerate()
    {
        let sigs = w
            .add_checkpoint(&fx.req(old, new), T0 + i as u64)
            .unwrap_or_else(|e| panic!("{old} -> {new}: {e}"));
        let v = NoteVerifier::new(WITNESS, VerifierKind::CosignatureV1, fx.wkey.public()).unwrap();
        let text = Note::parse(&fx.note(new)).unwrap().text().to_owned();
        let n = Note::new(&text, sigs).unwrap();
        assert_eq!(
            note::verify(&n, &[v]).unwrap()[0].timestamp(),
            Some(T0 + i as u64)
        );
        let latest = w.latest(ORIGIN).unwrap().unwrap();
        let c = Checkpoint::parse_text(Note::parse(&latest).unwrap().text()).unwrap();
        assert_eq!((c.size(), *c.root()), (new, root(new)));
        old = new;
    }
}

#[test]
fn rollback_is_refused_with_the_latest_size() {
    let fx = Fx::new();
    let w = fx.witness();
    w.add_checkpoint(&fx.req(0, 5), T0).unwrap();
    w.add_checkpoint(&fx.req(5, 13), T0 + 1).unwrap();
    let before = fx.state().unwrap();
    // A client still at 5 sends 8: 409 with the witness's size, 13.
    let e = w.add_checkpoint(&fx.req(5, 8), T0 + 2).unwrap_err();
    assert!(
        matches!(
            e,
            WitnessError::Conflict {
                old: 5,
                latest: 13,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!((e.status(), e.latest_size()), (409, Some(13)));
    // A client that knows 13 but sends 8: old > new, 400.
    let r = AddCheckpoint {
        old: 13,
        proof: vec![],
        checkpoint: fx.note(8),
    };
    let e = w.add_checkpoint(&r, T0 + 3).unwrap_err();
    assert!(
        matches!(e, WitnessError::OldAfterNew { old: 13, size: 8 }),
        "{e}"
    );
    assert_eq!(e.status(), 400);
    // old 0 once there is state: 409 too.
    assert_eq!(
        w.add_checkpoint(&fx.req(0, 20), T0)
            .unwrap_err()
            .latest_size(),
        Some(13)
    );
    assert_eq!(fx.state().unwrap(), before);
}

#[test]
fn same_size_other_root_is_a_split_view() {
    let fx = Fx::new();
    let w = fx.witness();
    w.add_checkpoint(&fx.req(0, 13), T0).unwrap();
    let before = fx.state().unwrap();
    // The same checkpoint again is fine (a fresh cosignature).
    w.add_checkpoint(&fx.req(13, 13), T0 + 1).unwrap();
    let before2 = fx.state().unwrap();
    assert_ne!(before, before2);
    // The log signs another tree of size 13.
    let r = AddCheckpoint {
        old: 13,
        proof: vec![],
        checkpoint: fx.note_by(ORIGIN, 13, [0x42; 32], &fx.log),
    };
    let e = w.add_checkpoint(&r, T0 + 2).unwrap_err();
    assert!(matches!(e, WitnessError::SplitView { size: 13, .. }), "{e}");
    // 422 per the current tlog-witness (C2SP/C2SP#280; it was 409 before).
    assert_eq!(e.status(), 422);
    assert_eq!(fx.state().unwrap(), before2);
}

#[test]
fn bad_proofs_are_refused() {
    let fx = Fx::new();
    let w = fx.witness();
    w.add_checkpoint(&fx.req(0, 13), T0).unwrap();
    let before = fx.state().unwrap();
    let good = fx.req(13, 40);
    let mut cases = Vec::new();
    for i in 0..good.proof.len() {
        let mut r = good.clone();
        r.proof[i][0] ^= 1;
        cases.push((r, format!("hash {i} changed")));
    }
    let mut r = good.clone();
    r.proof.pop();
    cases.push((r, "last hash missing".into()));
    let mut r = good.clone();
    r.proof.push([0; 32]);
    cases.push((r, "extra hash".into()));
    let mut r = good.clone();
    r.proof = proof(12, 40);
    cases.push((r, "proof from 12".into()));
    let mut r = good.clone();
    r.proof = proof(13, 41);
    cases.push((r, "proof to 41".into()));
    let mut r = good.clone();
    r.proof.clear();
    cases.push((r, "no proof".into()));
    // A tree of 40 leaves that does not extend the cosigned one.
    let mut other = tree(40);
    other[3] = leaf(1000);
    let r = AddCheckpoint {
        old: 13,
        proof: subproof(13, &other, true),
        checkpoint: fx.note_by(ORIGIN, 40, mth(&other), &fx.log),
    };
    cases.push((r, "a forked tree".into()));
    // Same size, with a proof (must be empty).
    let mut r = fx.req(13, 13);
    r.proof = vec![root(13)];
    cases.push((r, "proof at equal size".into()));
    for (r, why) in cases {
        let e = w.add_checkpoint(&r, T0 + 1).expect_err(&why);
        assert_eq!(e.status(), 422, "{why}: {e}");
    }
    assert_eq!(fx.state().unwrap(), before);
    assert!(w.add_checkpoint(&good, T0 + 1).is_ok());
}

#[test]
fn empty_tree_checkpoints() {
    let fx = Fx::new();
    let w = fx.witness();
    let r = AddCheckpoint {
        old: 0,
        proof: vec![],
        checkpoint: fx.note_by(ORIGIN, 0, [0; 32], &fx.log),
    };
    let e = w.add_checkpoint(&r, T0).unwrap_err();
    assert!(matches!(e, WitnessError::EmptyTreeRoot { .. }), "{e}");
    assert_eq!(e.status(), 422);
    w.add_checkpoint(&fx.req(0, 0), T0).unwrap();
    w.add_checkpoint(&fx.req(0, 0), T0 + 1).unwrap();
    w.add_checkpoint(&fx.req(0, 7), T0 + 2).unwrap();
}

#[test]
fn unknown_origin_is_404() {
    let fx = Fx::new();
    let w = fx.witness();
    let other = SigningKey::generate();
    let r = AddCheckpoint {
        old: 0,
        proof: vec![],
        checkpoint: fx.note_by("other.example/log", 5, root(5), &other),
    };
    let e = w.add_checkpoint(&r, T0).unwrap_err();
    assert!(
        matches!(e, WitnessError::UnknownOrigin { ref origin } if origin == "other.example/log")
    );
    assert_eq!(e.status(), 404);
    // Even when the trusted log's key signs it: the origin decides.
    let r = AddCheckpoint {
        old: 0,
        proof: vec![],
        checkpoint: fx.note_by("other.example/log", 5, root(5), &fx.log),
    };
    assert_eq!(status(w.add_checkpoint(&r, T0)), 404);
    assert!(std::fs::read_dir(fx.dir.path()).unwrap().all(|e| {
        let name = e.unwrap().file_name();
        name == "lock"
    }));
}

#[test]
fn untrusted_signatures_are_403() {
    let fx = Fx::new();
    let w = fx.witness();
    // Signed under the origin's name by another key: an unknown key.
    let impostor = SigningKey::generate();
    let r = AddCheckpoint {
        old: 0,
        proof: vec![],
        checkpoint: fx.note_by(ORIGIN, 5, root(5), &impostor),
    };
    let e = w.add_checkpoint(&r, T0).unwrap_err();
    assert!(matches!(e, WitnessError::Untrusted { .. }), "{e}");
    assert_eq!(e.status(), 403);
    // The trusted key's signature, broken (with a valid one from an unknown
    // key beside it): the note is malformed, 403.
    let text = Note::parse(&fx.note(5)).unwrap().text().to_owned();
    let good = sign(&text, ORIGIN, &fx.log).unwrap();
    let mut bad = good.signature().to_vec();
    bad[10] ^= 0x20;
    let broken = note::NoteSignature::new(ORIGIN, good.key_id(), bad).unwrap();
    let extra = sign(&text, "someone.else", &impostor).unwrap();
    let r = AddCheckpoint {
        old: 0,
        proof: vec![],
        checkpoint: Note::new(&text, vec![extra.clone(), broken])
            .unwrap()
            .to_bytes(),
    };
    assert_eq!(status(w.add_checkpoint(&r, T0)), 403);
    // With the good signature and unknown ones, it is accepted, and the
    // stored state keeps only the verified log signature and the witness's.
    let r = AddCheckpoint {
        old: 0,
        proof: vec![],
        checkpoint: Note::new(&text, vec![extra, good.clone(), good.clone()])
            .unwrap()
            .to_bytes(),
    };
    w.add_checkpoint(&r, T0).unwrap();
    let stored = Note::parse(&fx.state().unwrap()).unwrap();
    let names: Vec<&str> = stored.signatures().iter().map(|s| s.name()).collect();
    assert_eq!(names, [ORIGIN, WITNESS]);
    assert_eq!(stored.signatures()[0], good);
    assert!(fx.state().is_some());
}

#[test]
fn malformed_checkpoints_and_bad_clocks() {
    let fx = Fx::new();
    let w = fx.witness();
    // A note whose text is not a checkpoint.
    let text = "hello\n";
    let r = AddCheckpoint {
        old: 0,
        proof: vec![],
        checkpoint: Note::new(text, vec![sign(text, ORIGIN, &fx.log).unwrap()])
            .unwrap()
            .to_bytes(),
    };
    assert_eq!(status(w.add_checkpoint(&r, T0)), 400);
    // Not a note at all.
    let r = AddCheckpoint {
        old: 0,
        proof: vec![],
        checkpoint: b"junk".to_vec(),
    };
    assert_eq!(status(w.add_checkpoint(&r, T0)), 400);
    // Too many proof lines given directly.
    let mut r = fx.req(0, 5);
    r.proof = vec![[0; 32]; 64];
    assert_eq!(status(w.add_checkpoint(&r, T0)), 400);
    // A zero or too-large clock never cosigns.
    assert_eq!(status(w.add_checkpoint(&fx.req(0, 5), 0)), 500);
    assert_eq!(status(w.add_checkpoint(&fx.req(0, 5), 1 << 63)), 500);
    assert_eq!(fx.state(), None);
}

#[test]
fn open_refuses_bad_configuration() {
    let fx = Fx::new();
    let cos_log = NoteVerifier::new(ORIGIN, VerifierKind::CosignatureV1, fx.log.public()).unwrap();
    assert!(Witness::open(fx.dir.path(), WITNESS, &fx.wkey, vec![cos_log]).is_err());
    assert!(Witness::open(fx.dir.path(), "bad name", &fx.wkey, vec![fx.log_v()]).is_err());
}

#[test]
fn corrupt_state_is_reported_not_trusted() {
    let fx = Fx::new();
    let w = fx.witness();
    w.add_checkpoint(&fx.req(0, 5), T0).unwrap();
    let path = fx.dir.path().join(origin_hash(ORIGIN));
    std::fs::write(&path, b"garbage").unwrap();
    let e = w.add_checkpoint(&fx.req(5, 6), T0).unwrap_err();
    assert!(matches!(e, WitnessError::CorruptState { .. }), "{e}");
    assert_eq!(e.status(), 500);
    // A state file holding another origin's checkpoint.
    std::fs::write(&path, fx.note_by("x.example", 5, root(5), &fx.log)).unwrap();
    assert!(matches!(
        w.add_checkpoint(&fx.req(5, 6), T0).unwrap_err(),
        WitnessError::CorruptState { .. }
    ));
}

/// Several witnesses (separate `Witness` values, so separate lock file
/// descriptions, as separate processes would have) race to cosign different
/// sizes of the same log. Each retries after a 409 with the size it was
/// given. The accepted (old, new) pairs must form one chain from the first
/// checkpoint to the largest size: no two requests accepted against the
/// same state, and nothing rolled back.
#[test]
fn concurrent_cosigning_never_rolls_back() {
    let fx = Arc::new(Fx::new());
    fx.witness().add_checkpoint(&fx.req(0, 1), T0).unwrap();
    let targets = [9u64, 17, 23, 30, 38, 45, 52, 64, 5, 12, 40, 60];
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let threads: Vec<_> = targets
        .iter()
        .map(|&target| {
            let fx = Arc::clone(&fx);
            let accepted = Arc::clone(&accepted);
            std::thread::spawn(move || {
                let w = fx.witness();
                if let Some(old) = race_to(&w, &fx.log, target) {
                    accepted.lock().unwrap().push((old, target));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_chain(accepted.lock().unwrap().clone(), 64);
    let latest = fx.witness().latest(ORIGIN).unwrap().unwrap();
    let c = Checkpoint::parse_text(Note::parse(&latest).unwrap().text()).unwrap();
    assert_eq!((c.size(), *c.root()), (64, root(64)));
    // No temporary files left behind.
    let leftovers: Vec<_> = std::fs::read_dir(fx.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

const CHILD_ENV: &str = "LEDGER_WITNESS_TEST_CHILD";

/// The same race between processes: each child re-runs this test binary
/// with only `witness_child_process` selected, loads the keys from files,
/// opens the shared state directory and races to its target.
#[test]
fn concurrent_processes_never_roll_back() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).unwrap();
    let log = SigningKey::generate();
    let wkey = SigningKey::generate();
    log.write_pair(&keys.join("log"), None).unwrap();
    wkey.write_pair(&keys.join("witness"), None).unwrap();
    let log_v = NoteVerifier::new(ORIGIN, VerifierKind::Ed25519, log.public()).unwrap();
    let state = dir.path().join("state");
    let w = Witness::open(&state, WITNESS, &wkey, vec![log_v]).unwrap();
    w.add_checkpoint(&request(&log, 0, 1), T0).unwrap();

    let targets = [9u64, 17, 30, 45, 52, 64];
    let children: Vec<_> = targets
        .iter()
        .map(|t| {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args(["witness_child_process", "--exact", "--nocapture"])
                .args(["--test-threads", "1"])
                .env(CHILD_ENV, format!("{}|{t}", dir.path().display()))
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut acc = Vec::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "a child failed: {out:?}");
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            // libtest may print "test witness_child_process ... " first.
            if let Some((_, rest)) = line.split_once("ACCEPTED ") {
                let (o, n) = rest.split_once(' ').unwrap();
                acc.push((o.parse().unwrap(), n.parse().unwrap()));
            }
        }
    }
    assert_chain(acc, 64);
    let latest = w.latest(ORIGIN).unwrap().unwrap();
    let c = Checkpoint::parse_text(Note::parse(&latest).unwrap().text()).unwrap();
    assert_eq!((c.size(), *c.root()), (64, root(64)));
}

/// Does nothing unless run as a child of
/// `concurrent_processes_never_roll_back`.
#[test]
fn witness_child_process() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (dir, target) = spec.rsplit_once('|').unwrap();
    let dir = std::path::Path::new(dir);
    let target: u64 = target.parse().unwrap();
    let log = SigningKey::from_file(&dir.join("keys/log.key")).unwrap();
    let wkey = SigningKey::from_file(&dir.join("keys/witness.key")).unwrap();
    let log_v = NoteVerifier::new(ORIGIN, VerifierKind::Ed25519, log.public()).unwrap();
    let w = Witness::open(&dir.join("state"), WITNESS, &wkey, vec![log_v]).unwrap();
    if let Some(old) = race_to(&w, &log, target) {
        println!("ACCEPTED {old} {target}");
    }
}
