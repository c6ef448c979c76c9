//! Helpers for tests/checkpoints.rs and tests/checkpoints_cli.rs: ledgers
//! grown quickly in-process through the library's `Writer`, and a small
//! reference RFC 6962 implementation (independent of src/merkle.rs) to
//! compute the roots, paths and consistency proofs that the ledger's must
//! equal.

#![allow(dead_code)]

use std::fs;
use std::path::Path;

use base64ct::{Base64, Encoding};
use ledger::base::crypto::{PublicKey, SigningKey};
use ledger::base::time::Timestamp;
use ledger::core::format::{DocHash, DocId, Kind, PartyId};
use ledger::core::store::LockWait::Forever;
use ledger::core::writer::Writer;
use ledger::proofs::checkpoint;
use sha2::{Digest, Sha256};

use crate::common::Fx;

pub type Hash = [u8; 32];

// ------------------------------------------------ RFC 6962 reference

pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

pub fn node(l: &Hash, r: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(l);
    h.update(r);
    h.finalize().into()
}

/// Largest power of two strictly below n (n >= 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// MTH(D[n]) over leaf hashes.
pub fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest(b"").into(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// RFC 6962 §2.1.1 PATH(m, D[n]).
pub fn path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    let n = leaves.len();
    if n <= 1 {
        return vec![];
    }
    let k = split(n);
    if m < k {
        let mut p = path(m, &leaves[..k]);
        p.push(mth(&leaves[k..]));
        p
    } else {
        let mut p = path(m - k, &leaves[k..]);
        p.push(mth(&leaves[..k]));
        p
    }
}

/// RFC 6962 §2.1.2 SUBPROOF(m, D[n], b).
pub fn subproof(m: usize, leaves: &[Hash], b: bool) -> Vec<Hash> {
    let n = leaves.len();
    if m == n {
        return if b { vec![] } else { vec![mth(leaves)] };
    }
    let k = split(n);
    if m <= k {
        let mut p = subproof(m, &leaves[..k], b);
        p.push(mth(&leaves[k..]));
        p
    } else {
        let mut p = subproof(m - k, &leaves[k..], false);
        p.push(mth(&leaves[..k]));
        p
    }
}

/// PROOF(m, D[n]); empty for m = 0 and m = n.
pub fn consistency(m: usize, leaves: &[Hash]) -> Vec<Hash> {
    if m == 0 {
        return vec![];
    }
    subproof(m, leaves, true)
}

// ------------------------------------------------ reading a ledger

/// The stored bytes of every event of the ledger in `dir`, split at the
/// offsets a full in-process verification reports.
pub fn events(dir: &Path) -> Vec<Vec<u8>> {
    let report = ledger::core::verify::verify(dir, &Default::default()).expect("verify");
    let log = fs::read(dir.join("events.cbor")).unwrap();
    let mut offsets: Vec<usize> = report.events.iter().map(|e| e.offset as usize).collect();
    offsets.push(log.len());
    offsets
        .windows(2)
        .map(|w| log[w[0]..w[1]].to_vec())
        .collect()
}

/// The reference leaf hashes of the ledger in `dir`.
pub fn leaves(dir: &Path) -> Vec<Hash> {
    events(dir).iter().map(|e| leaf_hash(e)).collect()
}

/// A checkpoint note's text lines: origin, size, root.
pub fn note_body(note: &[u8]) -> (String, u64, Hash) {
    let text = std::str::from_utf8(note).unwrap();
    let mut lines = text.lines();
    let origin = lines.next().unwrap().to_owned();
    let size = lines.next().unwrap().parse().unwrap();
    let root = Base64::decode_vec(lines.next().unwrap()).unwrap();
    (origin, size, root.try_into().unwrap())
}

/// A checkpoint note for `origin`, `size`, `root`, signed by `key` alone
/// (as a party signs one: the key's name is the origin).
pub fn forge(origin: &str, size: u64, root: Hash, key: &SigningKey) -> Vec<u8> {
    let text = ledger::tlog::note::Checkpoint::new(origin, size, root, vec![])
        .unwrap()
        .to_text();
    let sig = ledger::tlog::note::sign(&text, origin, key).unwrap();
    ledger::tlog::note::Note::new(&text, vec![sig])
        .unwrap()
        .to_bytes()
}

// ------------------------------------------------ growing a ledger

pub fn key(fx: &Fx, who: &str) -> SigningKey {
    SigningKey::from_file(&fx.p(&format!("keys/{who}.key"))).unwrap()
}

pub fn public(fx: &Fx, who: &str) -> PublicKey {
    PublicKey::from_file(&fx.p(&format!("keys/{who}.pub"))).unwrap()
}

/// `trust/` with the parties' public keys only (a directory holding a
/// private key is refused by --trust), and the same keys in-process.
/// Each key is bound to its party by its file name, as `--trust trust/`
/// binds it.
pub fn trust(fx: &Fx) -> Vec<ledger::core::trust::TrustedKey> {
    fs::create_dir_all(fx.p("trust")).unwrap();
    for who in ["ann", "bob"] {
        fs::copy(
            fx.p(&format!("keys/{who}.pub")),
            fx.p(&format!("trust/{who}.pub")),
        )
        .unwrap();
    }
    let mut out = ledger::core::trust::load_bound(&[fx.p("trust")]).unwrap();
    assert_eq!(out.len(), 2);
    for t in &mut out {
        let party = t.party.as_ref().expect("bound by its file name");
        assert!(!t.explicit);
        // The label the CLI prints when run from the fixture's directory.
        t.label = format!("trust/{party}.pub");
    }
    out
}

/// The kind (and document bytes) of event `seq` of the test's story: a
/// cycle of draft (ann), sign (ann), sign (bob, executing it), note (bob),
/// note (ann), approve-free note with non-ASCII text (ann). `salt` makes
/// the texts of a fork differ.
fn story(seq: u64, salt: &str) -> (&'static str, Kind, Option<Vec<u8>>) {
    let ann = PartyId::new("ann").unwrap();
    let bob = PartyId::new("bob").unwrap();
    let doc = |s: u64| DocId::new(&format!("d{s}")).unwrap();
    let content = |s: u64| format!("document {s}{salt}\n").into_bytes();
    match seq % 6 {
        1 => (
            "ann",
            Kind::DocumentDrafted {
                doc: doc(seq),
                sha256: DocHash::of(&content(seq)),
                title: format!("Document {seq}"),
                signatories: vec![ann, bob],
            },
            Some(content(seq)),
        ),
        2 => (
            "ann",
            Kind::DocumentSigned {
                doc: doc(seq - 1),
                sha256: DocHash::of(&content(seq - 1)),
            },
            None,
        ),
        3 => (
            "bob",
            Kind::DocumentSigned {
                doc: doc(seq - 2),
                sha256: DocHash::of(&content(seq - 2)),
            },
            None,
        ),
        4 => (
            "bob",
            Kind::Note {
                text: format!("note {seq}{salt}"),
            },
            None,
        ),
        5 => (
            "ann",
            Kind::Note {
                text: format!("note {seq}{salt}: agreed"),
            },
            None,
        ),
        _ => (
            "ann",
            Kind::Note {
                text: format!("Übereinkunft {seq}{salt} ✓"),
            },
            None,
        ),
    }
}

/// The party that signs the checkpoint of `size` in [`grow`]: ann for
/// even sizes, bob for odd.
pub fn checkpoint_signer(size: u64) -> &'static str {
    if size.is_multiple_of(2) {
        "ann"
    } else {
        "bob"
    }
}

/// Appends events to `fx`'s ledger `rel` (in-process) until it has `to`
/// events, signing a checkpoint after every append if `every`, and always
/// one at `to`.
pub fn grow_dir(fx: &Fx, rel: &str, to: u64, every: bool, salt: &str) {
    let dir = fx.p(rel);
    let keys = [("ann", key(fx, "ann")), ("bob", key(fx, "bob"))];
    let k = |who: &str| &keys.iter().find(|(n, _)| *n == who).unwrap().1;
    let mut w = Writer::open(&dir).unwrap();
    let mut n = w.state().count;
    drop(w);
    if every {
        checkpoint::checkpoint(&dir, k(checkpoint_signer(n)), false, Forever, &mut |_| {}).unwrap();
    }
    while n < to {
        let (who, kind, doc) = story(n, salt);
        let t = Timestamp::parse(&fx.at()).unwrap();
        w = Writer::open(&dir).unwrap();
        w.append(k(who), Some(t), kind, doc.as_deref()).unwrap();
        drop(w);
        n += 1;
        if every || n == to {
            checkpoint::checkpoint(&dir, k(checkpoint_signer(n)), false, Forever, &mut |_| {})
                .unwrap();
        }
    }
}

/// [`grow_dir`] for `led`.
pub fn grow(fx: &Fx, to: u64, every: bool) {
    grow_dir(fx, "led", to, every, "");
}

/// Appends many notes in one writer session (fast), then signs one
/// checkpoint with ann.
pub fn notes_to(fx: &Fx, rel: &str, to: u64) {
    let dir = fx.p(rel);
    let ann = key(fx, "ann");
    let mut w = Writer::open(&dir).unwrap();
    while w.state().count < to {
        let n = w.state().count;
        let t = Timestamp::parse(&fx.at()).unwrap();
        w.append(
            &ann,
            Some(t),
            Kind::Note {
                text: format!("bulk note {n}"),
            },
            None,
        )
        .unwrap();
    }
    drop(w);
    checkpoint::checkpoint(&dir, &ann, false, Forever, &mut |_| {}).unwrap();
}

pub fn read_cp(fx: &Fx, rel: &str, size: u64) -> Vec<u8> {
    fx.read(&format!("{rel}/checkpoints/{size}"))
}

/// Flips bits of one byte of a file in place.
pub fn flip(path: &Path, at: usize, mask: u8) {
    let mut b = fs::read(path).unwrap();
    b[at] ^= mask;
    fs::write(path, b).unwrap();
}
