//! Experiment for issue 17, stretch point 2: Pornin's fast EdDSA verification
//! (IACR ePrint 2020/454) built only on curve25519-dalek 4.1's public API,
//! giving exactly ed25519-dalek 2.2's `verify_strict` verdicts.
//!
//! Not part of `ledger`: this crate owns the measurement and the equivalence
//! evidence (tests/, src/bin/, fuzz/), and must never be linked into the
//! library without that evidence (see docs/PERFORMANCE.md, "The stretch goal:
//! Pornin's verification").
//!
//! Three verifiers, each taking the same inputs as `verify_strict`:
//! - [`Verifier::pornin`]: the paper's equation `[c1·S]B − [c1]R − [c0]A = 0`
//!   with `(c0, c1)` from [`lattice::reduce`] and the B term split over `B`
//!   and `2^128·B`, evaluated with the public precomputed Straus
//!   (`VartimeEdwardsPrecomputation`).
//! - [`Verifier::pornin_straus3`]: the same equation without the split, with
//!   the public `vartime_multiscalar_mul` over `B, A, R`.
//! - [`Verifier::fixed_base`] (and `fixed_base64`, radix 64): not Pornin; verify_strict's own equation with a
//!   per-key fixed-base table for `−A` (public `EdwardsBasepointTable`), for
//!   comparison: it is the other way the public API lets a cached key cut
//!   doublings.
#![forbid(unsafe_code)]
#![allow(non_snake_case)]

pub mod cases;
pub mod lattice;

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, ED25519_BASEPOINT_TABLE};
use curve25519_dalek::edwards::{
    CompressedEdwardsY, EdwardsBasepointTable, EdwardsBasepointTableRadix64, EdwardsPoint,
    VartimeEdwardsPrecomputation,
};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{
    BasepointTable, IsIdentity, VartimeMultiscalarMul, VartimePrecomputedMultiscalarMul,
};
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha512};

/// A public key checked once: whether it is torsion-free (the Pornin path
/// needs `c1·k·A = c0·A`, true modulo L only, so only on the prime-order
/// subgroup) and whether it has small order (verify_strict rejects those).
pub struct PreparedKey {
    pub vk: VerifyingKey,
    bytes: [u8; 32],
    A: EdwardsPoint,
    minus_A: EdwardsPoint,
    torsion_free: bool,
    small_order: bool,
    /// Fixed-base table of −A, for [`Verifier::fixed_base`] only (30 KiB).
    minus_A_table: Box<EdwardsBasepointTable>,
    /// The same in radix 64, for [`Verifier::fixed_base64`] (120 KiB).
    minus_A_table64: Box<EdwardsBasepointTableRadix64>,
}

impl PreparedKey {
    pub fn new(vk: VerifyingKey) -> PreparedKey {
        let A = vk.to_edwards();
        PreparedKey {
            bytes: vk.to_bytes(),
            A,
            minus_A: -A,
            torsion_free: A.is_torsion_free(),
            small_order: A.is_small_order(),
            minus_A_table: Box::new(EdwardsBasepointTable::create(&-A)),
            minus_A_table64: Box::new(EdwardsBasepointTableRadix64::create(&-A)),
            vk,
        }
    }

    pub fn torsion_free(&self) -> bool {
        self.torsion_free
    }
}

/// Whether a compressed point's y (top bit cleared) is below p = 2^255 − 19.
fn canonical_y(b: &[u8; 32]) -> bool {
    !(b[31] & 0x7f == 0x7f && b[1..31].iter().all(|&x| x == 0xff) && b[0] >= 0xed)
}

fn signed(x: lattice::Small) -> Scalar {
    let s = Scalar::from_bytes_mod_order(x.magnitude);
    if x.negative {
        -s
    } else {
        s
    }
}

/// Shared state: the static points `B` and `2^128·B` for the precomputed Straus.
pub struct Verifier {
    b_and_b128: VartimeEdwardsPrecomputation,
    b64: Box<EdwardsBasepointTableRadix64>,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

/// Outcome of the pre-checks shared by every path (the same as verify_strict's).
enum Pre {
    Reject,
    Go {
        s: Scalar,
        R: EdwardsPoint,
        k: Scalar,
    },
}

impl Verifier {
    pub fn new() -> Verifier {
        let two128 = Scalar::from(1u128 << 64) * Scalar::from(1u128 << 64);
        let b128 = ED25519_BASEPOINT_POINT * two128;
        Verifier {
            b_and_b128: VartimeEdwardsPrecomputation::new([ED25519_BASEPOINT_POINT, b128]),
            b64: Box::new(EdwardsBasepointTableRadix64::create(
                &ED25519_BASEPOINT_POINT,
            )),
        }
    }

    /// verify_strict's checks in its order: canonical S, R decompresses, R and
    /// A not of small order; then the challenge k = H(R ‖ A ‖ M) mod L over
    /// the stored encodings.
    fn pre(key: &PreparedKey, msg: &[u8], sig: &Signature) -> Pre {
        let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(*sig.s_bytes())) else {
            return Pre::Reject;
        };
        let r_bytes = *sig.r_bytes();
        let Some(R) = CompressedEdwardsY(r_bytes).decompress() else {
            return Pre::Reject;
        };
        if R.is_small_order() || key.small_order {
            return Pre::Reject;
        }
        let k = Scalar::from_hash(
            Sha512::new()
                .chain_update(r_bytes)
                .chain_update(key.bytes)
                .chain_update(msg),
        );
        Pre::Go { s, R, k }
    }

    /// The reduced equation's scalars and points, or `None` for "use verify_strict".
    #[allow(clippy::type_complexity)]
    fn reduced(
        key: &PreparedKey,
        s: &Scalar,
        R: &EdwardsPoint,
        k: &Scalar,
    ) -> Option<(Scalar, Scalar, Scalar, EdwardsPoint, EdwardsPoint)> {
        let (c0, c1) = lattice::reduce(k.as_bytes())?;
        let b = signed(c1) * s;
        // [b]B − [c0]A − [c1]R with signs moved onto the points so that the
        // scalars stay short: −[c0]A = [|c0|](c0 < 0 ? A : −A), likewise R.
        let pa = if c0.negative { key.A } else { key.minus_A };
        let pr = if c1.negative { *R } else { -R };
        Some((
            b,
            Scalar::from_bytes_mod_order(c0.magnitude),
            Scalar::from_bytes_mod_order(c1.magnitude),
            pa,
            pr,
        ))
    }

    /// Pornin's verification, B term split over B and 2^128·B.
    pub fn pornin(&self, key: &PreparedKey, msg: &[u8], sig: &Signature) -> bool {
        if !key.torsion_free {
            return key.vk.verify_strict(msg, sig).is_ok();
        }
        let (s, R, k) = match Self::pre(key, msg, sig) {
            Pre::Reject => return false,
            Pre::Go { s, R, k } => (s, R, k),
        };
        // verify_strict compares the recomputed R's canonical encoding with
        // the stored bytes, so a non-canonical y never passes there; the point
        // equation cannot see encodings, so refuse it here. (The other
        // non-canonical form, x = 0 with the sign bit set, is only y = ±1,
        // both of small order, refused above.)
        if !canonical_y(sig.r_bytes()) {
            return false;
        }
        let Some((b, c0, c1, pa, pr)) = Self::reduced(key, &s, &R, &k) else {
            return key.vk.verify_strict(msg, sig).is_ok();
        };
        let bb = b.to_bytes();
        let mut lo = [0u8; 32];
        let mut hi = [0u8; 32];
        lo[..16].copy_from_slice(&bb[..16]);
        hi[..16].copy_from_slice(&bb[16..]);
        let (b0, b1) = (
            Scalar::from_bytes_mod_order(lo),
            Scalar::from_bytes_mod_order(hi),
        );
        self.b_and_b128
            .vartime_mixed_multiscalar_mul([b0, b1], [c0, c1], [pa, pr])
            .is_identity()
    }

    /// Pornin's equation with the full-length B scalar, public Straus over 3 points.
    pub fn pornin_straus3(&self, key: &PreparedKey, msg: &[u8], sig: &Signature) -> bool {
        if !key.torsion_free {
            return key.vk.verify_strict(msg, sig).is_ok();
        }
        let (s, R, k) = match Self::pre(key, msg, sig) {
            Pre::Reject => return false,
            Pre::Go { s, R, k } => (s, R, k),
        };
        // verify_strict compares the recomputed R's canonical encoding with
        // the stored bytes, so a non-canonical y never passes there; the point
        // equation cannot see encodings, so refuse it here. (The other
        // non-canonical form, x = 0 with the sign bit set, is only y = ±1,
        // both of small order, refused above.)
        if !canonical_y(sig.r_bytes()) {
            return false;
        }
        let Some((b, c0, c1, pa, pr)) = Self::reduced(key, &s, &R, &k) else {
            return key.vk.verify_strict(msg, sig).is_ok();
        };
        EdwardsPoint::vartime_multiscalar_mul([b, c0, c1], [ED25519_BASEPOINT_POINT, pa, pr])
            .is_identity()
    }

    /// verify_strict's equation R = [S]B − [k]A with fixed-base tables for B
    /// and for this key's −A (exact integer multiples: valid for any A).
    pub fn fixed_base(&self, key: &PreparedKey, msg: &[u8], sig: &Signature) -> bool {
        let (s, _R, k) = match Self::pre(key, msg, sig) {
            Pre::Reject => return false,
            Pre::Go { s, R, k } => (s, R, k),
        };
        let expected = &*key.minus_A_table * &k + ED25519_BASEPOINT_TABLE * &s;
        expected.compress().to_bytes() == *sig.r_bytes()
    }

    /// [`Verifier::fixed_base`] with radix-64 tables for B and −A (43
    /// additions each instead of 64, larger constant-time lookups).
    pub fn fixed_base64(&self, key: &PreparedKey, msg: &[u8], sig: &Signature) -> bool {
        let (s, _R, k) = match Self::pre(key, msg, sig) {
            Pre::Reject => return false,
            Pre::Go { s, R, k } => (s, R, k),
        };
        let expected = &*key.minus_A_table64 * &k + &*self.b64 * &s;
        expected.compress().to_bytes() == *sig.r_bytes()
    }
}

/// verify_strict's verdict, the reference.
pub fn strict(key: &PreparedKey, msg: &[u8], sig: &Signature) -> bool {
    key.vk.verify_strict(msg, sig).is_ok()
}
