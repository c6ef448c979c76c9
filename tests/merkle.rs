//! The Merkle tree (src/merkle.rs) against its definition: exhaustive proofs
//! on small trees, tampered proofs, ct-merkle on random trees, and the
//! known-answer vectors of RFC 6962 implementations.

use ledger::tlog::merkle::{
    empty_root, leaf_hash, node_hash, prove_consistency, prove_inclusion, stored_hash_count,
    stored_hash_index, stored_hashes, tree_hash, verify_consistency, verify_inclusion, Frontier,
    Hash, MerkleError, ProofError,
};

/// RFC 6962 §2.1 MTH, written from the RFC and independent of src/merkle.rs.
fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            // k: the largest power of two smaller than n.
            let mut k = 1;
            while k * 2 < n {
                k *= 2;
            }
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

/// The leaves used throughout: leaf i is the 8 big-endian bytes of i.
fn leaves(n: u64) -> Vec<Hash> {
    (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
}

/// The stored hashes of a tree, built the way a writer does.
fn store(leaves: &[Hash]) -> Vec<Hash> {
    let mut stored = Vec::new();
    for (i, leaf) in leaves.iter().enumerate() {
        let new = stored_hashes(i as u64, *leaf, &stored).unwrap();
        assert_eq!(stored.len() as u64, stored_hash_index(0, i as u64).unwrap());
        stored.extend(new);
        assert_eq!(
            stored.len() as u64,
            stored_hash_count(i as u64 + 1).unwrap()
        );
    }
    stored
}

const N: u64 = 130;

#[test]
fn exhaustive_inclusion_small_trees() {
    let all = leaves(N);
    let stored = store(&all);
    let mut checked = 0;
    for size in 1..=N {
        let root = tree_hash(size, &stored).unwrap();
        assert_eq!(root, mth(&all[..size as usize]), "size {size}");
        for index in 0..size {
            let leaf = &all[index as usize];
            let proof = prove_inclusion(size, index, &stored).unwrap();
            verify_inclusion(index, size, leaf, &proof, &root).unwrap();
            checked += 1;
        }
    }
    assert_eq!(checked, N * (N + 1) / 2);
}

#[test]
fn exhaustive_consistency_small_trees() {
    let all = leaves(N);
    let stored = store(&all);
    let roots: Vec<Hash> = (0..=N).map(|s| tree_hash(s, &stored).unwrap()).collect();
    for new in 0..=N {
        for old in 0..=new {
            let proof = prove_consistency(old, new, &stored).unwrap();
            verify_consistency(old, new, &roots[old as usize], &roots[new as usize], &proof)
                .unwrap_or_else(|e| panic!("{old} -> {new}: {e}"));
        }
    }
}

/// Every way to spoil a valid inclusion proof must be refused.
fn assert_inclusion_tampering_fails(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) {
    let fails = |i: u64, s: u64, l: &Hash, p: &[Hash], r: &Hash| {
        assert!(
            verify_inclusion(i, s, l, p, r).is_err(),
            "tampered proof accepted: index {i} size {s} (real {index}/{size}), {} hashes",
            p.len()
        );
    };
    for k in 0..proof.len() {
        for bit in [0, 7 * 8 + 3, 31 * 8 + 7] {
            let mut p = proof.to_vec();
            p[k][bit / 8] ^= 1 << (bit % 8);
            fails(index, size, leaf, &p, root);
        }
    }
    if !proof.is_empty() {
        fails(index, size, leaf, &proof[..proof.len() - 1], root);
        fails(index, size, leaf, &proof[1..], root);
    }
    let mut longer = proof.to_vec();
    longer.push(*root);
    fails(index, size, leaf, &longer, root);
    let mut flipped = *leaf;
    flipped[0] ^= 1;
    fails(index, size, &flipped, proof, root);
    let mut bad_root = *root;
    bad_root[31] ^= 0x80;
    fails(index, size, leaf, proof, &bad_root);
    for other in [index.wrapping_sub(1), index + 1, index ^ 1, index ^ 2, size] {
        if other != index {
            fails(other, size, leaf, proof, root);
        }
    }
}

#[test]
fn tampered_inclusion_proofs_fail() {
    let all = leaves(N);
    let stored = store(&all);
    for size in 1..=N {
        let root = tree_hash(size, &stored).unwrap();
        for index in 0..size {
            let proof = prove_inclusion(size, index, &stored).unwrap();
            assert_inclusion_tampering_fails(index, size, &all[index as usize], &proof, &root);
        }
    }
}

#[test]
fn inclusion_proof_for_another_size_fails_against_that_sizes_root() {
    let all = leaves(N + 1);
    let stored = store(&all);
    let roots: Vec<Hash> = (0..=N + 1)
        .map(|s| tree_hash(s, &stored).unwrap())
        .collect();
    let mut checked = 0;
    for size in 2..=N {
        for index in 0..size {
            let proof = prove_inclusion(size, index, &stored).unwrap();
            for other in [size - 1, size + 1] {
                if other > index {
                    let leaf = &all[index as usize];
                    let root = &roots[other as usize];
                    assert!(
                        verify_inclusion(index, other, leaf, &proof, root).is_err(),
                        "index {index}: size {size}'s proof accepted as size {other}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 16_000);
}

/// RFC 9162 proofs do not bind the tree size on their own: the proof of
/// leaf 0 in the tree of 3 leaves, `[leaf 1, leaf 2]`, also checks out as
/// "leaf 0 of a tree of 4" against the same root, because the two trees'
/// paths have the same shape. The size is bound by the signed checkpoint
/// that carries (size, root) together; callers must take both from it
/// (ct-merkle documents the same property).
#[test]
fn size_is_bound_by_the_checkpoint_not_by_the_proof() {
    let all = leaves(4);
    let stored = store(&all);
    let root3 = tree_hash(3, &stored).unwrap();
    let proof = prove_inclusion(3, 0, &stored).unwrap();
    verify_inclusion(0, 4, &all[0], &proof, &root3).unwrap();
    let root4 = tree_hash(4, &stored).unwrap();
    assert!(verify_inclusion(0, 4, &all[0], &proof, &root4).is_err());
}

#[test]
fn tampered_consistency_proofs_fail() {
    let all = leaves(N);
    let stored = store(&all);
    let roots: Vec<Hash> = (0..=N).map(|s| tree_hash(s, &stored).unwrap()).collect();
    let mut tampered = 0u64;
    for new in 1..=N {
        for old in 1..new {
            let (r1, r2) = (&roots[old as usize], &roots[new as usize]);
            let proof = prove_consistency(old, new, &stored).unwrap();
            let fails = |o: u64, n: u64, a: &Hash, b: &Hash, p: &[Hash]| {
                assert!(
                    verify_consistency(o, n, a, b, p).is_err(),
                    "tampered consistency proof accepted: {o} -> {n} (real {old} -> {new})"
                );
            };
            for k in 0..proof.len() {
                let mut p = proof.clone();
                p[k][k % 32] ^= 0x10;
                fails(old, new, r1, r2, &p);
                tampered += 1;
            }
            fails(old, new, r1, r2, &proof[..proof.len() - 1]);
            fails(old, new, r1, r2, &proof[1..]);
            let mut longer = proof.clone();
            longer.push(*r2);
            fails(old, new, r1, r2, &longer);
            fails(old, new, r1, r2, &[]);
            fails(old, new, r2, r1, &proof); // swapped roots
            fails(new, old, r2, r1, &proof); // swapped sizes too
            fails(old, new, r1, r1, &proof);
            fails(old, new, r2, r2, &proof);
            // Other sizes, each with its own tree's root.
            for (o, n) in [
                (old - 1, new),
                (old + 1, new),
                (old, new - 1),
                (old, new + 1),
            ] {
                if o >= 1 && o < n && n <= N {
                    fails(o, n, &roots[o as usize], &roots[n as usize], &proof);
                }
            }
            tampered += 9;
        }
    }
    assert!(tampered > 100_000, "{tampered}");
}

#[test]
fn consistency_edge_cases() {
    let all = leaves(8);
    let stored = store(&all);
    let r = |s: u64| tree_hash(s, &stored).unwrap();
    // old == new: empty proof and equal roots.
    verify_consistency(5, 5, &r(5), &r(5), &[]).unwrap();
    assert!(matches!(
        verify_consistency(5, 5, &r(5), &r(6), &[]),
        Err(ProofError::RootMismatch { .. })
    ));
    assert_eq!(
        verify_consistency(5, 5, &r(5), &r(5), &[r(1)]),
        Err(ProofError::WrongLength {
            expected: 0,
            found: 1
        })
    );
    // old == 0: empty proof, whatever the new tree.
    verify_consistency(0, 0, &empty_root(), &empty_root(), &[]).unwrap();
    verify_consistency(0, 7, &empty_root(), &r(7), &[]).unwrap();
    assert!(verify_consistency(0, 7, &empty_root(), &r(7), &[r(1)]).is_err());
    // old > new.
    assert_eq!(
        verify_consistency(6, 5, &r(6), &r(5), &[]),
        Err(ProofError::OldLargerThanNew { old: 6, new: 5 })
    );
    // old < new with an empty proof.
    assert!(matches!(
        verify_consistency(4, 8, &r(4), &r(8), &[]),
        Err(ProofError::WrongLength { found: 0, .. })
    ));
    // prove_consistency agrees on the edges.
    assert!(prove_consistency(0, 8, &stored).unwrap().is_empty());
    assert!(prove_consistency(8, 8, &stored).unwrap().is_empty());
    assert!(matches!(
        prove_consistency(9, 8, &stored),
        Err(MerkleError::OldLargerThanNew { old: 9, new: 8 })
    ));
    // Inclusion edges.
    assert_eq!(
        verify_inclusion(0, 0, &all[0], &[], &empty_root()),
        Err(ProofError::IndexOutOfRange { index: 0, size: 0 })
    );
    verify_inclusion(0, 1, &all[0], &[], &all[0]).unwrap();
    assert!(matches!(
        prove_inclusion(8, 8, &stored),
        Err(MerkleError::IndexOutOfRange { index: 8, size: 8 })
    ));
    assert!(matches!(
        prove_inclusion(9, 0, &stored),
        Err(MerkleError::MissingHash { .. })
    ));
}

#[test]
fn errors_say_what_was_expected_and_found() {
    let all = leaves(8);
    let stored = store(&all);
    let root = tree_hash(8, &stored).unwrap();
    let proof = prove_inclusion(8, 3, &stored).unwrap();
    let e = verify_inclusion(3, 8, &all[3], &proof[..2], &root).unwrap_err();
    assert_eq!(e.to_string(), "the proof has 2 hashes, expected 3");
    let e = verify_inclusion(3, 8, &all[4], &proof, &root).unwrap_err();
    assert!(
        e.to_string()
            .ends_with(&format!("expected {}", hex_of(&root))),
        "{e}"
    );
    let e = verify_consistency(3, 8, &root, &root, &proof).unwrap_err();
    assert_eq!(e.to_string(), "the proof has 3 hashes, expected 4");
    let consistency = prove_consistency(3, 8, &stored).unwrap();
    let e = verify_consistency(3, 8, &root, &root, &consistency).unwrap_err();
    assert!(
        e.to_string().starts_with("the proof leads to old root "),
        "{e}"
    );
    assert_eq!(
        verify_consistency(9, 8, &root, &root, &[])
            .unwrap_err()
            .to_string(),
        "the old tree size 9 is larger than the new tree size 8"
    );
}

fn hex_of(h: &Hash) -> String {
    h.iter().map(|b| format!("{b:02x}")).collect()
}

/// Extreme sizes must give errors or correct answers, never a panic or an
/// overflow (these run in debug builds, where overflow panics).
#[test]
fn huge_sizes_do_not_overflow() {
    let h = [7u8; 32];
    let proof = vec![h; 64];
    for size in [
        u64::MAX,
        u64::MAX - 1,
        1 << 63,
        (1 << 63) + 1,
        (1 << 62) + 3,
    ] {
        for index in [0, 1, size / 2, size - 2, size - 1] {
            let _ = verify_inclusion(index, size, &h, &proof, &h);
            let _ = verify_inclusion(index, size, &h, &proof[..3], &h);
            let _ = verify_inclusion(index, size, &h, &[], &h);
            let _ = verify_consistency(index, size, &h, &h, &proof);
            let _ = verify_consistency(index, size, &h, &h, &proof[..1]);
            let _ = verify_consistency(size, index, &h, &h, &proof);
        }
    }
    // The largest tree has a 64-hash inclusion proof for its last leaf.
    assert_eq!(
        verify_inclusion(u64::MAX - 1, u64::MAX, &h, &[], &h),
        Err(ProofError::WrongLength {
            expected: 63,
            found: 0
        })
    );
    let empty: Vec<Hash> = Vec::new();
    for size in [u64::MAX, 1 << 63, (1 << 63) + 1] {
        assert!(tree_hash(size, &empty).is_err());
        assert!(prove_inclusion(size, size - 1, &empty).is_err());
        assert!(prove_consistency(size - 1, size, &empty).is_err());
        assert!(stored_hash_count(size).is_err() || size == 1 << 63);
    }
}

#[test]
fn frontier_roots_match_at_every_size_and_round_trip() {
    let all = leaves(300);
    let stored = store(&all);
    let mut f = Frontier::new();
    assert_eq!(f.to_bytes(), vec![0; 8]);
    for (i, leaf) in all.iter().enumerate() {
        let size = i as u64;
        assert_eq!(f.size(), size);
        assert_eq!(f.root(), tree_hash(size, &stored).unwrap(), "size {size}");
        let bytes = f.to_bytes();
        assert_eq!(bytes.len(), 8 + 32 * size.count_ones() as usize);
        assert_eq!(Frontier::from_bytes(&bytes).unwrap(), f);
        f.push(*leaf).unwrap();
    }
    assert_eq!(f.root(), mth(&all));
}

#[test]
fn frontier_from_bytes_rejects_wrong_lengths() {
    let mut f = Frontier::new();
    for leaf in leaves(11) {
        f.push(leaf).unwrap();
    }
    let bytes = f.to_bytes(); // 11 = 0b1011: three hashes
    assert_eq!(bytes.len(), 8 + 3 * 32);
    for len in (0..bytes.len()).chain([bytes.len() + 1, bytes.len() + 32]) {
        let mut b = bytes.clone();
        b.resize(len, 0);
        assert!(
            matches!(
                Frontier::from_bytes(&b),
                Err(MerkleError::FrontierLength { .. })
            ),
            "length {len} accepted"
        );
    }
    // A size whose popcount disagrees with the hashes that follow.
    let mut b = bytes.clone();
    b[7] = 12; // 0b1100: two hashes
    assert!(Frontier::from_bytes(&b).is_err());
}

// ---- Cross-check against ct-merkle 0.3 on random trees ----

use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
use rand::{Rng, SeedableRng};
use sha2_011::Sha256 as CtSha256;

fn ct_root(tree: &MemoryBackedTree<CtSha256, Vec<u8>>) -> Hash {
    tree.root().as_bytes().as_slice().try_into().unwrap()
}

fn flat(proof: &[Hash]) -> Vec<u8> {
    proof.concat()
}

#[test]
fn agrees_with_ct_merkle_on_random_trees() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(6962);
    let mut compared = 0;
    for _ in 0..12 {
        let size: u64 = rng.gen_range(1..=600);
        let entries: Vec<Vec<u8>> = (0..size)
            .map(|_| {
                let len = rng.gen_range(0..100);
                (0..len).map(|_| rng.gen()).collect()
            })
            .collect();
        let hashes: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
        let stored = store(&hashes);
        let mut ct = MemoryBackedTree::<CtSha256, Vec<u8>>::new();
        let mut f = Frontier::new();
        for (i, e) in entries.iter().enumerate() {
            ct.push(e.clone());
            f.push(hashes[i]).unwrap();
            let n = i as u64 + 1;
            assert_eq!(ct_root(&ct), tree_hash(n, &stored).unwrap(), "size {n}");
            assert_eq!(ct_root(&ct), f.root());
        }
        let root = ct_root(&ct);
        for _ in 0..50 {
            let index = rng.gen_range(0..size);
            let ours = prove_inclusion(size, index, &stored).unwrap();
            let theirs = ct.prove_inclusion(index as usize);
            assert_eq!(
                flat(&ours),
                theirs.as_bytes(),
                "inclusion {index} of {size}"
            );
            // Each verifier accepts the other's proof.
            verify_inclusion(index, size, &hashes[index as usize], &ours, &root).unwrap();
            let ct_root_hash = RootHash::<CtSha256>::new(*ct.root().as_bytes(), size);
            ct_root_hash
                .verify_inclusion(
                    &entries[index as usize],
                    index,
                    &InclusionProof::from_bytes(flat(&ours)),
                )
                .unwrap();
            if index > 0 {
                let old = index;
                let ours = prove_consistency(old, size, &stored).unwrap();
                let theirs = ct.prove_consistency((size - old) as usize);
                assert_eq!(
                    flat(&ours),
                    theirs.as_bytes(),
                    "consistency {old} -> {size}"
                );
                let old_root = tree_hash(old, &stored).unwrap();
                verify_consistency(old, size, &old_root, &root, &ours).unwrap();
                let ct_old = RootHash::<CtSha256>::new(old_root.into(), old);
                ct_root_hash
                    .verify_consistency(
                        &ct_old,
                        &ConsistencyProof::try_from_bytes(flat(&ours)).unwrap(),
                    )
                    .unwrap();
            }
            compared += 1;
        }
    }
    assert_eq!(compared, 12 * 50);
}

// ---- Known answers ----

fn h(s: &str) -> Hash {
    hex::decode(s).unwrap().try_into().unwrap()
}

/// The RFC 6962 reference leaves and roots (transparency-dev/merkle
/// testonly/constants.go, copied into ct-merkle's tests/known_answer.rs).
const CT_LEAVES: &[&str] = &[
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];
const CT_ROOTS: &[&str] = &[
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];
/// (size, index, proof)
const CT_INCLUSION: &[(u64, u64, &[&str])] = &[
    (1, 0, &[]),
    (
        2,
        0,
        &["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"],
    ),
    (
        2,
        1,
        &["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"],
    ),
    (
        3,
        2,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        5,
        1,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        8,
        0,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        8,
        5,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];
/// (old, new, proof)
const CT_CONSISTENCY: &[(u64, u64, &[&str])] = &[
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

#[test]
fn rfc6962_known_answers() {
    let entries: Vec<Vec<u8>> = CT_LEAVES.iter().map(|l| hex::decode(l).unwrap()).collect();
    let hashes: Vec<Hash> = entries.iter().map(|e| leaf_hash(e)).collect();
    let stored = store(&hashes);
    let mut f = Frontier::new();
    for size in 0..=8u64 {
        assert_eq!(
            tree_hash(size, &stored).unwrap(),
            h(CT_ROOTS[size as usize])
        );
        assert_eq!(f.root(), h(CT_ROOTS[size as usize]));
        if size < 8 {
            f.push(hashes[size as usize]).unwrap();
        }
    }
    for &(size, index, want) in CT_INCLUSION {
        let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
        assert_eq!(prove_inclusion(size, index, &stored).unwrap(), want);
        verify_inclusion(
            index,
            size,
            &hashes[index as usize],
            &want,
            &h(CT_ROOTS[size as usize]),
        )
        .unwrap();
    }
    for &(old, new, want) in CT_CONSISTENCY {
        let want: Vec<Hash> = want.iter().map(|s| h(s)).collect();
        assert_eq!(prove_consistency(old, new, &stored).unwrap(), want);
        verify_consistency(
            old,
            new,
            &h(CT_ROOTS[old as usize]),
            &h(CT_ROOTS[new as usize]),
            &want,
        )
        .unwrap();
    }
}

// Real proofs from Google's CT log argon2020 (get-sth, get-proof-by-hash and
// get-sth-consistency responses recorded in cloudflare/azul
// crates/tlog_tiles/tests/http_get/, the data of Go tlog's
// TestCertificateTransparency), base64 turned into hex. Large sizes,
// produced by another implementation (Trillian).
const ARGON2020_SIZE: u64 = 961_984_011;
const ARGON2020_ROOT: &str = "016c43de9f35d4dde6e164e29d64573ef0591df4fd211f60fd1e02ed228b3e25";
const ARGON2020_LEAF_10000: &str =
    "9c2b3799f232761f71e022b243ebb6c6d9a9c66160800e4c2f2987c0d41294b8";
const ARGON2020_ROOT_3654490: &str =
    "02e219e55eac0d48f5be7dd8d4af39a0e690ef2f852492adc914e5d5e7482814";
const ARGON2020_INCLUSION_10000: &[&str] = &[
    "4f8e80989b2e38cfe01621a5529f8824979ba7ed59e6aadab45356ed4d09c8e4",
    "f498f515ea1d9f8dae45811f7df915e0717f1083c5439668f48c24c5b436ba19",
    "0f9dffd6808d79b178279f471e08a8a2f299c6b9ab29c56e095872dc8ce0f029",
    "c121438064abb1744f03ed5cf161e80050ac59e52ff0d0f23ff43f4a0b325726",
    "e75ebf45cc2c81dc1dcc79f5f2fd5d247a819201546cd86608858e1a3b0c25a1",
    "9da4c56366a32c582b82ce57525fb32586679e5264b0b1ac035558c292dfa9b6",
    "98a051268eaa6a8fb429d87fae11a46546c7500c4c86bb6b725ad3a486cd8c88",
    "0a8e2e78e144ee5a627cb8a8f788abc71b2fd7014c31a2b7b4fbb665090796ba",
    "c91832f34d0ae89318082d39b167ea17692f0a0dab893fe954cfa711ae95e7ed",
    "9f63b7f172590bcfd6a5bc22f47860562ce55327941d566f632401d7ad3b3117",
    "828ded023b8d7cd4828fcef2d91835c4eae80e49c637579a7f7720bf339b7fb4",
    "f03d0c8f7fc9ef24929c56f469f207617bfaae53a11029ec79b63a5ca8b5211f",
    "eab71ecf8e9953c339bcf89654c0147c97c0395d293cffe6721fe56336618ff3",
    "dabb48797acfbd2754c8773999a220480541d81cda29aba95b14808956b20c4e",
    "9e7896fc830540f379c70f14b07167ec2452b586e6d602eeecd35aea4911a894",
    "9913cf8bbb104b6d8c76e204caf70dcc2345a88b7a90bc183e434aad5b4872ef",
    "26f4e2bf3112352f701c8f1aa61e5aeee89e566b52fe9f4f722319e43e86c8ea",
    "513c9077e626d30638cc6faa2bcd3a6c1391c22d42495bc543f2a49e7aa8663f",
    "857383aea37e7dff94eb33ea450f9940ab3a8a6d5f3dcc487ab0d27cdc1f9611",
    "208e8613e598fc3ae96737c7ced2f0911e3aa37ef356434b0b23d895febccc0d",
    "77ad3d91659c3419656c0f096ff69de170155469d270b466b4ff05632afe0dc9",
    "ae2901b0fd06d208a85d1a411440f60b341d48bac63ef45dd1b11c6c4670d6b2",
    "19720495f9a746e59f6c0e33eee6d5fd4c25a524546d479e73ba0be470c39e1d",
    "a51d121ff3583fab3dfbc6b35b069e51703865eff758222031f879616eb0bdc1",
    "7f71ae00a615ac5f11060decd798ef03f62f57da009625adccffe29b03e14150",
    "5879fccc3c65560915fa54a59b368e75f481ad31e846be674f777beaad0a2961",
    "7f6b95d99c558142f32cf2ae65ca30458dd963b7d1957e7d88306357547c90d4",
    "3734158c9b2f4306e2ed64ad32bf6816487d55b1df2bb2c1ea8ed6c00ab0353b",
    "0b42edb417981d91e02fed37d8921c242dc24c1232cdafe1b1b98952025f9832",
    "df41f365bc13e0376a1d08b87fbf96446e8ce18c1519a2a019789c0ef4854fa9",
];
const ARGON2020_CONSISTENCY_3654490: &[&str] = &[
    "f3449f6e3e9440475549909222087d34c3e3def081cdc735038f01d9cac94968",
    "15972b8001d493a9cd3ef88966af2410aea3086d5dd7ca49385138e590dcd534",
    "43aeeb7965e63c1a3551f9b005aa785e2f4f30f7c5754492c3758695165d1bb9",
    "789ec2ca14783f1cc1c4322c5a0ad5616d5e1546fd9dd81fe3ab459a2a95af10",
    "42b0f0a74eb61ab9b9598f0a76b845b01bae3631b3468c7625bf0f9952f9398c",
    "5cce1832330474b1ff5c96a6fd95b268fd78937726b0eb673ec396439e255b5b",
    "48688187e8ce4c671c5d4e3c673810f3c9517019ad078c33e284839ddbf64138",
    "5804bab71a8d2d82862f519d05da6a995e364d37e7e9c26cb83b2a2d7b9308d2",
    "4059914b4ae2ad403b64dde5c458c39dc57e135382ae7dcd501e110a9fb97f37",
    "1dd6e9ec8b765c135998d0c1a4237f28f77bbdf56ac60cf03a8b2a54868403d1",
    "9b1bc72f46626e505d0fb8fba486b58e57c1d204aa7c9ea85f4506a3b2f456c5",
    "ab9863cafa16e932ff3d3860722b690dc493ae7297da9d7e6aab1ca87d9eb910",
    "8d33960eab772078f635515e7b3c81cf6a1fa6bbbeced132c2a29401f15c94a2",
    "188467d30dc7a8976f53d8f55950fffde47a964d80693563cb38ec24d3fc53cf",
    "c79d8626fc46f357e7401ae03936e5975039b73f79fcb5cad00835361074af52",
    "ebfd0eaab71381cde8e5d0f93f29a6a02f7a941f722cf16e4c756f2f2f1f4869",
    "19ffa228b7dc5cee65e091059ac66f49d1b9ab5b847963df60baddb3aa668f3d",
    "0c6b9a728f8c73233701f45217aa97ed1c127adc1eda2798266c70e5ef6b571d",
    "dad409f55df6867629f9f7693fa4dc8e680998b78d54e30a334325d6493870d5",
    "dcf6a92be224c89afc23dc8012b026cee65ecf32cccec83e3df7910a0356f0d4",
    "b3ac6261e7a36fec2da8703e511259d88fd208fc885bc7283fa681d341496cc6",
    "cfd952a6675372be4ce59cca95ce043e1dd2ad2ca9285764e89505fd471c6995",
    "19720495f9a746e59f6c0e33eee6d5fd4c25a524546d479e73ba0be470c39e1d",
    "a51d121ff3583fab3dfbc6b35b069e51703865eff758222031f879616eb0bdc1",
    "7f71ae00a615ac5f11060decd798ef03f62f57da009625adccffe29b03e14150",
    "5879fccc3c65560915fa54a59b368e75f481ad31e846be674f777beaad0a2961",
    "7f6b95d99c558142f32cf2ae65ca30458dd963b7d1957e7d88306357547c90d4",
    "3734158c9b2f4306e2ed64ad32bf6816487d55b1df2bb2c1ea8ed6c00ab0353b",
    "0b42edb417981d91e02fed37d8921c242dc24c1232cdafe1b1b98952025f9832",
    "df41f365bc13e0376a1d08b87fbf96446e8ce18c1519a2a019789c0ef4854fa9",
];

#[test]
fn real_certificate_transparency_proofs_verify() {
    let root = h(ARGON2020_ROOT);
    let path: Vec<Hash> = ARGON2020_INCLUSION_10000.iter().map(|s| h(s)).collect();
    let leaf = h(ARGON2020_LEAF_10000);
    verify_inclusion(10_000, ARGON2020_SIZE, &leaf, &path, &root).unwrap();
    assert_inclusion_tampering_fails(10_000, ARGON2020_SIZE, &leaf, &path, &root);

    let old_root = h(ARGON2020_ROOT_3654490);
    let proof: Vec<Hash> = ARGON2020_CONSISTENCY_3654490.iter().map(|s| h(s)).collect();
    verify_consistency(3_654_490, ARGON2020_SIZE, &old_root, &root, &proof).unwrap();
    assert!(verify_consistency(3_654_490, ARGON2020_SIZE, &root, &old_root, &proof).is_err());
    assert!(verify_consistency(3_654_491, ARGON2020_SIZE, &old_root, &root, &proof).is_err());
    for k in 0..proof.len() {
        let mut p = proof.clone();
        p[k][0] ^= 1;
        assert!(
            verify_consistency(3_654_490, ARGON2020_SIZE, &old_root, &root, &p).is_err(),
            "hash {k}"
        );
    }
}

/// Go tlog's TestSplitStoredHashIndex, as a property: stored_hash_index
/// is a bijection onto 0..stored_hash_count, with each leaf's completed
/// subtrees right after it.
#[test]
fn stored_hash_layout_is_gos() {
    let n = 1000u64;
    let mut seen = vec![false; stored_hash_count(n).unwrap() as usize];
    for level in 0..10u32 {
        for k in 0..(n >> level) {
            let x = stored_hash_index(level, k).unwrap();
            assert!(!seen[x as usize], "index {x} used twice");
            seen[x as usize] = true;
            // Level L's n'th hash is written right after level L+1's
            // (2n+1)'th, i.e. after the last leaf of its subtree.
            if level > 0 {
                assert_eq!(x, stored_hash_index(level - 1, 2 * k + 1).unwrap() + 1);
            }
        }
    }
    assert!(seen.iter().all(|&s| s), "gaps in the layout");
    assert_eq!(stored_hash_count(1000).unwrap(), 1994); // 2n - popcount(n)
    for n in [1u64, 2, 3, 7, 8, 1 << 20, (1 << 40) + 5] {
        assert_eq!(
            stored_hash_count(n).unwrap(),
            2 * n - u64::from(n.count_ones())
        );
    }
}

/// The vectors of docs/FORMAT.md §12 (computed independently with
/// Python's hashlib), over the RFC 6962 reference leaves.
#[test]
fn draft_spec_vectors() {
    let hashes: Vec<Hash> = CT_LEAVES
        .iter()
        .map(|l| leaf_hash(&hex::decode(l).unwrap()))
        .collect();
    // Frontier of size 7 = 4 + 2 + 1.
    let mut f = Frontier::new();
    for leaf in &hashes[..7] {
        f.push(*leaf).unwrap();
    }
    assert_eq!(
        hex::encode(f.to_bytes()),
        "0000000000000007\
         d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7\
         0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a\
         b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"
    );
    assert_eq!(f.root(), h(CT_ROOTS[7]));
    // The 15 stored hashes of the 8-leaf tree, in Go tlog order.
    let stored = store(&hashes);
    let want = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    let got: Vec<String> = stored.iter().map(hex::encode).collect();
    assert_eq!(got, want);
}
