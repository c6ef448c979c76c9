//! The Merkle tree over the log (RFC 6962 §2.1, RFC 9162 §2.1;
//! docs/FORMAT.md §12): hashing,
//! proof verification, the O(log n) [`Frontier`] a writer or verifier keeps
//! while streaming the log, and the "stored hashes" layout of Go's
//! `golang.org/x/mod/sumdb/tlog`, from which proofs and tiles are built.
//!
//! Leaves are the exact stored bytes of each event, never a re-encoding, so
//! an auditor hashes what is on disk. This module knows nothing of events,
//! files or tiles: hashes come in through [`HashReader`].
//!
//! Every function here takes sizes and indexes that may come from untrusted
//! input (a checkpoint, a proof request), so arithmetic is checked and
//! failures are errors, never panics.

use sha2::{Digest, Sha256};

/// A SHA-256 hash: a leaf, an interior node or a tree root.
pub type Hash = [u8; 32];

/// The size of a [`Hash`](type@Hash) in bytes.
pub const HASH_SIZE: usize = 32;

/// Why a proof does not prove what it claims. Messages say what was
/// expected and what was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    #[error("leaf index {index} is not in a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("the old tree size {old} is larger than the new tree size {new}")]
    OldLargerThanNew { old: u64, new: u64 },
    #[error("the proof has {found} hashes, expected {expected}")]
    WrongLength { expected: usize, found: usize },
    #[error(
        "the proof leads to {which} root {}, expected {}",
        hex::encode(found),
        hex::encode(expected)
    )]
    RootMismatch {
        /// "tree" (inclusion), "old" or "new" (consistency).
        which: &'static str,
        expected: Hash,
        found: Hash,
    },
}

/// Why a tree hash, a proof or a stored hash could not be computed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MerkleError {
    #[error("record {index} is not in a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("the old tree size {old} is larger than the new tree size {new}")]
    OldLargerThanNew { old: u64, new: u64 },
    #[error("tree size or index {0} is too large for the stored hash layout")]
    TooLarge(u64),
    #[error("missing hash at stored index {index}")]
    MissingHash { index: u64 },
    #[error("the hash reader returned {found} hashes for {expected} indexes")]
    ShortRead { expected: usize, found: usize },
    #[error("a frontier encoding must be {expected} bytes, found {found}")]
    FrontierLength { expected: usize, found: usize },
    #[error("cannot append to a tree of size {0}")]
    Full(u64),
    /// A storage backend's own failure (I/O, an unauthenticated tile),
    /// passed through unchanged.
    #[error(transparent)]
    Backend(Box<dyn std::error::Error + Send + Sync + 'static>),
}

/// RFC 6962 §2.1: the hash of a leaf, `SHA-256(0x00 || entry)`.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(entry);
    h.finalize().into()
}

/// RFC 6962 §2.1: the hash of an interior node, `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// RFC 6962 §2.1: the root of the empty tree, `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Compares two hashes without an early exit, so that the time taken does
/// not tell an attacker how many leading bytes of a forged root were right
/// (RFC 9162 §2.1.3.2 asks for a constant-time comparison).
fn ct_eq(a: &Hash, b: &Hash) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

fn check_root(which: &'static str, found: Hash, expected: &Hash) -> Result<(), ProofError> {
    if ct_eq(&found, expected) {
        Ok(())
    } else {
        Err(ProofError::RootMismatch {
            which,
            expected: *expected,
            found,
        })
    }
}

/// The shape of an inclusion proof for `index` in a tree of `size > index`:
/// the number of hashes below the point where the paths to `index` and to
/// the last leaf part ("inner"), and the number above it ("border"), whose
/// sum is the proof length (the decomposition transparency-dev/merkle uses).
fn inclusion_shape(index: u64, size: u64) -> (u32, u32) {
    let inner = u64::BITS - (index ^ (size - 1)).leading_zeros();
    let border = index.checked_shr(inner).unwrap_or(0).count_ones();
    (inner, border)
}

fn proof_len(n: u32) -> usize {
    // At most 128 hashes; u32 -> usize cannot fail on any supported target.
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// RFC 9162 §2.1.3.2: checks that `proof` proves the leaf with hash `leaf`
/// is at `index` in the tree of `size` leaves with root `root`.
///
/// The length of the proof is checked first, so a proof with a spare hash
/// at the end (which the RFC's loop would otherwise need to detect) and a
/// truncated one are both reported as [`ProofError::WrongLength`].
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    check_root("tree", root_from_inclusion(index, size, leaf, proof)?, root)
}

/// RFC 9162 §2.1.3.2 without the last comparison: the root that `proof`
/// leads to from the leaf with hash `leaf` at `index` in a tree of `size`
/// leaves. For a signature over the root (a COSE Receipt signs the root it
/// proves, RFC 9942 §4.2), which the caller then checks; anything else
/// should call [`verify_inclusion`].
pub fn root_from_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
) -> Result<Hash, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (inner, border) = inclusion_shape(index, size);
    let expected = proof_len(inner + border);
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            found: proof.len(),
        });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(ProofError::WrongLength {
                expected,
                found: proof.len(),
            });
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength {
            expected,
            found: proof.len(),
        });
    }
    Ok(r)
}

/// RFC 9162 §2.1.4.2: checks that `proof` proves the tree of `old` leaves
/// with root `old_root` is a prefix of the tree of `new` leaves with root
/// `new_root`.
///
/// Edge cases, as transparency-dev/merkle and ct-merkle treat them:
/// `old == new` needs an empty proof and equal roots; `old == 0` needs an
/// empty proof and `old_root` to be [`empty_root`] (every tree extends the
/// empty one, but a size-0 tree has only that root: a checker that let the
/// caller check it accepted any old root, FORMAT §12.2.2);
/// `old > new` is an error; otherwise an empty proof fails.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old > new {
        return Err(ProofError::OldLargerThanNew { old, new });
    }
    if old == new || old == 0 {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength {
                expected: 0,
                found: proof.len(),
            });
        }
        if old == 0 {
            // Any new tree extends the empty one; old = new = 0 also
            // needs new_root to be that root.
            check_root("old", *old_root, &empty_root())?;
            if new > 0 {
                return Ok(());
            }
        }
        return check_root("new", *new_root, old_root);
    }
    // The proof is the inclusion proof of leaf old-1 in the new tree, minus
    // the hashes below the largest perfect subtree that ends at old (which
    // the old tree's root or proof[0] stands for).
    let (inner, border) = inclusion_shape(old - 1, new);
    let shift = old.trailing_zeros();
    let seeded = old.is_power_of_two();
    let expected = proof_len(inner.saturating_sub(shift) + border) + usize::from(!seeded);
    if proof.len() != expected {
        return Err(ProofError::WrongLength {
            expected,
            found: proof.len(),
        });
    }
    // Step 1: if old is a power of two, old_root is the first path element.
    let (seed, rest) = if seeded {
        (old_root, proof)
    } else {
        match proof.split_first() {
            Some((first, rest)) => (first, rest),
            None => return Err(ProofError::WrongLength { expected, found: 0 }),
        }
    };
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*seed, *seed);
    for c in rest {
        if s == 0 {
            return Err(ProofError::WrongLength {
                expected,
                found: proof.len(),
            });
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength {
            expected,
            found: proof.len(),
        });
    }
    check_root("old", fr, old_root)?;
    check_root("new", sr, new_root)
}

/// The roots of the maximal perfect subtrees of `[0, size)`, largest
/// (leftmost) first: one per set bit of `size`. This is all a writer needs
/// to compute the next root in O(log n), and all a verifier needs to
/// compute the root at every size while streaming the log once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frontier {
    size: u64,
    // Invariant: hashes.len() == size.count_ones().
    hashes: Vec<Hash>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// The number of leaves so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The perfect subtree roots, leftmost first.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Appends a leaf hash (see [`leaf_hash`]). Fails only on a tree that
    /// already has `u64::MAX` leaves.
    pub fn push(&mut self, leaf: Hash) -> Result<(), MerkleError> {
        let size = self
            .size
            .checked_add(1)
            .ok_or(MerkleError::Full(self.size))?;
        // Each trailing one bit of the old size is a perfect subtree that
        // the new leaf completes into one twice as large.
        let mut h = leaf;
        for _ in 0..self.size.trailing_ones() {
            match self.hashes.pop() {
                Some(left) => h = node_hash(&left, &h),
                None => break, // unreachable by the invariant
            }
        }
        self.hashes.push(h);
        self.size = size;
        Ok(())
    }

    /// RFC 6962 §2.1: the root of the tree so far; the subtree roots
    /// folded right to left, since MTH splits off the largest power of two
    /// on the left.
    pub fn root(&self) -> Hash {
        let mut it = self.hashes.iter().rev();
        match it.next() {
            None => empty_root(),
            Some(last) => it.fold(*last, |acc, left| node_hash(left, &acc)),
        }
    }

    /// The compact encoding: the size as a big-endian u64, then the subtree
    /// roots, leftmost first (8 + 32 * popcount(size) bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + HASH_SIZE * self.hashes.len());
        out.extend_from_slice(&self.size.to_be_bytes());
        for h in &self.hashes {
            out.extend_from_slice(h);
        }
        out
    }

    /// Decodes [`Frontier::to_bytes`], rejecting any other length.
    pub fn from_bytes(bytes: &[u8]) -> Result<Frontier, MerkleError> {
        let (head, rest) = match bytes.split_first_chunk::<8>() {
            Some(split) => split,
            None => {
                return Err(MerkleError::FrontierLength {
                    expected: 8,
                    found: bytes.len(),
                })
            }
        };
        let size = u64::from_be_bytes(*head);
        let count = proof_len(size.count_ones());
        if rest.len() != HASH_SIZE * count {
            return Err(MerkleError::FrontierLength {
                expected: 8 + HASH_SIZE * count,
                found: bytes.len(),
            });
        }
        let hashes = rest
            .chunks_exact(HASH_SIZE)
            .filter_map(|c| Hash::try_from(c).ok())
            .collect();
        Ok(Frontier { size, hashes })
    }

    /// Rebuilds the frontier of a tree of `size` leaves from its stored
    /// hashes (so a writer can resume without rereading the log).
    pub fn from_reader<R: HashReader + ?Sized>(
        size: u64,
        reader: &R,
    ) -> Result<Frontier, MerkleError> {
        let indexes = subtree_indexes(0, size)?;
        let hashes = read_exact(reader, &indexes)?;
        Ok(Frontier { size, hashes })
    }
}

/// Reads hashes by their stored hash index ([`stored_hash_index`]): the
/// storage a tree's proofs are computed from.
pub trait HashReader {
    /// Returns one hash per index, in the order asked, or an error.
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError>;
}

impl HashReader for [Hash] {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        indexes
            .iter()
            .map(|&index| {
                usize::try_from(index)
                    .ok()
                    .and_then(|i| self.get(i))
                    .copied()
                    .ok_or(MerkleError::MissingHash { index })
            })
            .collect()
    }
}

impl HashReader for Vec<Hash> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        self.as_slice().read_hashes(indexes)
    }
}

/// Reads `indexes` and checks that the reader kept its side of the
/// contract, so the index arithmetic below can never run out of hashes.
fn read_exact<R: HashReader + ?Sized>(
    reader: &R,
    indexes: &[u64],
) -> Result<Vec<Hash>, MerkleError> {
    if indexes.is_empty() {
        return Ok(Vec::new());
    }
    let hashes = reader.read_hashes(indexes)?;
    if hashes.len() != indexes.len() {
        return Err(MerkleError::ShortRead {
            expected: indexes.len(),
            found: hashes.len(),
        });
    }
    Ok(hashes)
}

/// Go tlog `StoredHashIndex`: the position of the hash of the subtree at
/// `level` (height, 0 = leaves) and offset `n` within that level, in the
/// append-only sequence of all subtree hashes (Crosby and Wallach, §3.3).
/// Level L's n'th hash is stored right after level L+1's (2n+1)'th, and
/// after writing leaf n the hashes of every subtree it completes follow it.
///
/// Fails with [`MerkleError::TooLarge`] where Go would overflow: when the
/// subtree does not end before leaf 2^63.
pub fn stored_hash_index(level: u32, n: u64) -> Result<u64, MerkleError> {
    if level >= u64::BITS {
        return Err(MerkleError::TooLarge(n));
    }
    // Work down to the last leaf of the subtree, whose hashes precede it.
    let mut m = n;
    for _ in 0..level {
        m = m
            .checked_mul(2)
            .and_then(|m| m.checked_add(1))
            .ok_or(MerkleError::TooLarge(n))?;
    }
    // Level 0's m'th hash is written at m + m/2 + m/4 + ...
    let mut i: u64 = 0;
    while m > 0 {
        i = i.checked_add(m).ok_or(MerkleError::TooLarge(n))?;
        m >>= 1;
    }
    i.checked_add(u64::from(level))
        .ok_or(MerkleError::TooLarge(n))
}

/// Go tlog `StoredHashCount`: how many hashes are stored for a tree of `n`
/// leaves (about 2n).
pub fn stored_hash_count(n: u64) -> Result<u64, MerkleError> {
    if n == 0 {
        return Ok(0);
    }
    // The hashes up to the last leaf, then those of the subtrees it completes.
    stored_hash_index(0, n - 1)?
        .checked_add(1 + u64::from((n - 1).trailing_ones()))
        .ok_or(MerkleError::TooLarge(n))
}

/// Go tlog `StoredHashesForRecordHash`: the hashes to append to storage
/// when writing leaf `n` (whose hash is `leaf`), starting at stored index
/// `stored_hash_index(0, n)`: the leaf hash, then the root of each subtree
/// it completes, reading the left siblings from `reader`.
pub fn stored_hashes<R: HashReader + ?Sized>(
    n: u64,
    leaf: Hash,
    reader: &R,
) -> Result<Vec<Hash>, MerkleError> {
    // Each trailing one bit of n completes a subtree, whose left half is
    // already stored; n >> i is odd for every such i, so n >> i >= 1.
    let m = n.trailing_ones();
    let mut indexes = Vec::with_capacity(proof_len(m));
    for i in (0..m).rev() {
        indexes.push(stored_hash_index(i, (n >> i) - 1)?);
    }
    let old = read_exact(reader, &indexes)?;
    let mut hashes = Vec::with_capacity(old.len() + 1);
    let mut h = leaf;
    hashes.push(h);
    for left in old.iter().rev() {
        h = node_hash(left, &h);
        hashes.push(h);
    }
    Ok(hashes)
}

/// The largest power of two not above `n` (n >= 1), and its log2.
fn pow2_at_most(n: u64) -> (u64, u32) {
    let level = (u64::BITS - 1).saturating_sub(n.leading_zeros());
    (1u64 << level, level)
}

/// RFC 6962 §2.1's split point: the largest power of two strictly less than
/// `n` (n >= 2).
fn split(n: u64) -> u64 {
    pow2_at_most(n.saturating_sub(1).max(1)).0
}

/// The stored indexes of the perfect subtrees that make up the tree of
/// `size` leaves, largest first: what [`tree_hash`] reads, and what a
/// [`Frontier`] holds.
pub fn subtree_root_indexes(size: u64) -> Result<Vec<u64>, MerkleError> {
    subtree_indexes(0, size)
}

/// Go tlog `subTreeIndex`: the stored indexes of the perfect subtrees that
/// make up `[lo, hi)`, largest (leftmost) first.
fn subtree_indexes(lo: u64, hi: u64) -> Result<Vec<u64>, MerkleError> {
    let mut need = Vec::new();
    push_subtree_indexes(lo, hi, &mut need)?;
    Ok(need)
}

fn push_subtree_indexes(mut lo: u64, hi: u64, need: &mut Vec<u64>) -> Result<(), MerkleError> {
    while lo < hi {
        let (k, level) = pow2_at_most(hi - lo);
        // lo is always a multiple of k here: every caller splits at
        // RFC 6962 split points, which are aligned.
        need.push(stored_hash_index(level, lo >> level)?);
        lo += k;
    }
    Ok(())
}

/// Hashes consumed in the order their indexes were produced.
struct Hashes<'a>(std::slice::Iter<'a, Hash>);

impl Hashes<'_> {
    fn next(&mut self, expected: usize) -> Result<Hash, MerkleError> {
        self.0.next().copied().ok_or(MerkleError::ShortRead {
            expected,
            found: expected.saturating_sub(1),
        })
    }
}

/// Go tlog `subTreeHash`: the hash of `[lo, hi)` from the hashes of its
/// perfect subtrees.
fn subtree_hash(lo: u64, hi: u64, hashes: &mut Hashes<'_>) -> Result<Hash, MerkleError> {
    let count = proof_len((hi - lo).count_ones());
    let mut parts = Vec::with_capacity(count);
    for _ in 0..count {
        parts.push(hashes.next(count)?);
    }
    let mut it = parts.iter().rev();
    match it.next() {
        None => Ok(empty_root()),
        Some(last) => Ok(it.fold(*last, |acc, left| node_hash(left, &acc))),
    }
}

/// Go tlog `TreeHash`: the root of the tree of `size` leaves.
pub fn tree_hash<R: HashReader + ?Sized>(size: u64, reader: &R) -> Result<Hash, MerkleError> {
    if size == 0 {
        return Ok(empty_root());
    }
    let indexes = subtree_indexes(0, size)?;
    let hashes = read_exact(reader, &indexes)?;
    subtree_hash(0, size, &mut Hashes(hashes.iter()))
}

/// Go tlog `ProveRecord`, i.e. RFC 6962 §2.1.1 `PATH(index, D[0:size])`:
/// the inclusion proof of leaf `index`, leaf to root.
pub fn prove_inclusion<R: HashReader + ?Sized>(
    size: u64,
    index: u64,
    reader: &R,
) -> Result<Vec<Hash>, MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let mut need = Vec::new();
    inclusion_indexes(0, size, index, &mut need)?;
    let hashes = read_exact(reader, &need)?;
    let mut proof = Vec::new();
    inclusion_proof(0, size, index, &mut Hashes(hashes.iter()), &mut proof)?;
    Ok(proof)
}

// The recursions below have depth at most 64 (each step halves [lo, hi)).
// Invariant: lo <= n < hi.
fn inclusion_indexes(lo: u64, hi: u64, n: u64, need: &mut Vec<u64>) -> Result<(), MerkleError> {
    if hi - lo == 1 {
        return Ok(());
    }
    let mid = lo + split(hi - lo);
    if n < mid {
        inclusion_indexes(lo, mid, n, need)?;
        push_subtree_indexes(mid, hi, need)
    } else {
        push_subtree_indexes(lo, mid, need)?;
        inclusion_indexes(mid, hi, n, need)
    }
}

fn inclusion_proof(
    lo: u64,
    hi: u64,
    n: u64,
    hashes: &mut Hashes<'_>,
    proof: &mut Vec<Hash>,
) -> Result<(), MerkleError> {
    if hi - lo == 1 {
        return Ok(());
    }
    let mid = lo + split(hi - lo);
    // The sibling goes after the deeper part of the path: leaf to root.
    let sibling = if n < mid {
        inclusion_proof(lo, mid, n, hashes, proof)?;
        subtree_hash(mid, hi, hashes)?
    } else {
        let left = subtree_hash(lo, mid, hashes)?;
        inclusion_proof(mid, hi, n, hashes, proof)?;
        left
    };
    proof.push(sibling);
    Ok(())
}

/// Go tlog `ProveTree`, i.e. RFC 6962 §2.1.2 `PROOF(old, D[0:new])`: the
/// consistency proof from the tree of `old` leaves to the tree of `new`
/// leaves. Empty when `old` is 0 or equal to `new` (see
/// [`verify_consistency`]).
pub fn prove_consistency<R: HashReader + ?Sized>(
    old: u64,
    new: u64,
    reader: &R,
) -> Result<Vec<Hash>, MerkleError> {
    if old > new {
        return Err(MerkleError::OldLargerThanNew { old, new });
    }
    if old == 0 || old == new {
        return Ok(Vec::new());
    }
    let mut need = Vec::new();
    consistency_indexes(0, new, old, &mut need)?;
    let hashes = read_exact(reader, &need)?;
    let mut proof = Vec::new();
    consistency_proof(0, new, old, &mut Hashes(hashes.iter()), &mut proof)?;
    Ok(proof)
}

// Invariant: lo < n <= hi.
fn consistency_indexes(lo: u64, hi: u64, n: u64, need: &mut Vec<u64>) -> Result<(), MerkleError> {
    if n == hi {
        // SUBPROOF's b: the old tree's own root is known to the verifier.
        if lo == 0 {
            return Ok(());
        }
        return push_subtree_indexes(lo, hi, need);
    }
    let mid = lo + split(hi - lo);
    if n <= mid {
        consistency_indexes(lo, mid, n, need)?;
        push_subtree_indexes(mid, hi, need)
    } else {
        push_subtree_indexes(lo, mid, need)?;
        consistency_indexes(mid, hi, n, need)
    }
}

fn consistency_proof(
    lo: u64,
    hi: u64,
    n: u64,
    hashes: &mut Hashes<'_>,
    proof: &mut Vec<Hash>,
) -> Result<(), MerkleError> {
    if n == hi {
        if lo != 0 {
            proof.push(subtree_hash(lo, hi, hashes)?);
        }
        return Ok(());
    }
    let mid = lo + split(hi - lo);
    let sibling = if n <= mid {
        consistency_proof(lo, mid, n, hashes, proof)?;
        subtree_hash(mid, hi, hashes)?
    } else {
        let left = subtree_hash(lo, mid, hashes)?;
        consistency_proof(mid, hi, n, hashes, proof)?;
        left
    };
    proof.push(sibling);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(n: u64) -> Vec<Hash> {
        let mut stored = Vec::new();
        for i in 0..n {
            let h = stored_hashes(i, leaf_hash(&i.to_be_bytes()), &stored).unwrap();
            stored.extend(h);
        }
        stored
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Frontier::new().root(), empty_root());
    }

    #[test]
    fn stored_hash_index_matches_go() {
        // The first stored hashes: leaf 0, leaf 1, (1,0), leaf 2, leaf 3,
        // (1,1), (2,0), leaf 4 ...
        let order = [
            (0, 0),
            (0, 1),
            (1, 0),
            (0, 2),
            (0, 3),
            (1, 1),
            (2, 0),
            (0, 4),
        ];
        for (i, &(level, n)) in order.iter().enumerate() {
            assert_eq!(stored_hash_index(level, n).unwrap(), i as u64);
        }
        assert_eq!(stored_hash_count(0).unwrap(), 0);
        assert_eq!(stored_hash_count(1).unwrap(), 1);
        assert_eq!(stored_hash_count(2).unwrap(), 3);
        assert_eq!(stored_hash_count(4).unwrap(), 7);
        assert_eq!(stored_hash_count(5).unwrap(), 8);
    }

    #[test]
    fn stored_hash_arithmetic_errors_instead_of_overflowing() {
        assert!(stored_hash_index(64, 0).is_err());
        assert!(stored_hash_index(1, u64::MAX / 2).is_err());
        assert!(stored_hash_index(0, u64::MAX).is_err());
        assert!(stored_hash_count(u64::MAX).is_err());
        // The last leaf below 2^63 still has an index.
        assert!(stored_hash_index(0, (1 << 63) - 1).is_ok());
        assert!(stored_hash_index(62, 1).is_ok());
        let empty: Vec<Hash> = Vec::new();
        assert!(matches!(
            tree_hash(u64::MAX, &empty),
            Err(MerkleError::TooLarge(_))
        ));
        assert!(prove_inclusion(u64::MAX, u64::MAX - 1, &empty).is_err());
        assert!(prove_consistency(1, u64::MAX, &empty).is_err());
    }

    #[test]
    fn frontier_matches_stored_tree_hash() {
        let stored = store(40);
        let mut f = Frontier::new();
        for i in 0..40u64 {
            assert_eq!(f.root(), tree_hash(i, &stored).unwrap(), "size {i}");
            assert_eq!(f, Frontier::from_reader(i, &stored).unwrap());
            f.push(leaf_hash(&i.to_be_bytes())).unwrap();
        }
    }

    #[test]
    fn frontier_at_the_largest_size_refuses_to_grow() {
        let mut bytes = u64::MAX.to_be_bytes().to_vec();
        bytes.resize(8 + 64 * HASH_SIZE, 7);
        let mut f = Frontier::from_bytes(&bytes).unwrap();
        assert!(matches!(f.push([0; 32]), Err(MerkleError::Full(_))));
        assert_eq!(f.size(), u64::MAX);
    }

    #[test]
    fn short_reader_is_an_error() {
        struct Short;
        impl HashReader for Short {
            fn read_hashes(&self, _: &[u64]) -> Result<Vec<Hash>, MerkleError> {
                Ok(vec![[0; 32]])
            }
        }
        assert!(matches!(
            tree_hash(3, &Short),
            Err(MerkleError::ShortRead {
                expected: 2,
                found: 1
            })
        ));
        assert!(prove_inclusion(7, 3, &Short).is_err());
        assert!(prove_consistency(3, 7, &Short).is_err());
    }
}
