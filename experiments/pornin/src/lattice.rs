//! Lattice basis reduction in dimension 2 (Pornin, ePrint 2020/454, the binary
//! variant of Lagrange's algorithm specialised to signature verification).
//!
//! Given the challenge `k` (reduced modulo the group order `L`), find a short
//! vector `(c0, c1)` of the lattice `{(x, y) : x ≡ y·k (mod L)}`, spanned by
//! `u = (L, 0)` and `v = (k, 1)`. Both coordinates come out near `sqrt(L)`,
//! about 127 bits.
//!
//! Integers are 512-bit two's complement on `u64` limbs. Arithmetic wraps, so
//! only the final value of each update must fit: norms start below 2^506 and
//! only decrease, the inner product is bounded by them (Cauchy–Schwarz), and
//! the coordinates by their square roots.

/// 512-bit two's complement integer, little-endian limbs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct I512([u64; 8]);

impl I512 {
    const ZERO: I512 = I512([0; 8]);

    fn from_le_bytes32(b: &[u8; 32]) -> I512 {
        let mut l = [0u64; 8];
        for (i, limb) in l.iter_mut().take(4).enumerate() {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[8 * i..8 * i + 8]);
            *limb = u64::from_le_bytes(w);
        }
        I512(l)
    }

    fn small(x: u64) -> I512 {
        let mut l = [0u64; 8];
        l[0] = x;
        I512(l)
    }

    fn add(&self, o: &I512) -> I512 {
        let mut r = [0u64; 8];
        let mut carry = false;
        for (i, ri) in r.iter_mut().enumerate() {
            let (s1, c1) = self.0[i].overflowing_add(o.0[i]);
            let (s2, c2) = s1.overflowing_add(carry as u64);
            *ri = s2;
            carry = c1 | c2;
        }
        I512(r)
    }

    fn sub(&self, o: &I512) -> I512 {
        let mut r = [0u64; 8];
        let mut borrow = false;
        for (i, ri) in r.iter_mut().enumerate() {
            let (s1, b1) = self.0[i].overflowing_sub(o.0[i]);
            let (s2, b2) = s1.overflowing_sub(borrow as u64);
            *ri = s2;
            borrow = b1 | b2;
        }
        I512(r)
    }

    fn neg(&self) -> I512 {
        I512::ZERO.sub(self)
    }

    fn is_neg(&self) -> bool {
        self.0[7] >> 63 == 1
    }

    fn abs(&self) -> I512 {
        if self.is_neg() {
            self.neg()
        } else {
            *self
        }
    }

    /// Shift left by `s < 512` bits (wrapping, like the other operations).
    fn shl(&self, s: u32) -> I512 {
        let limbs = (s / 64) as usize;
        let bits = s % 64;
        let mut r = [0u64; 8];
        for i in (limbs..8).rev() {
            let src = i - limbs;
            let mut w = self.0[src] << bits;
            if bits != 0 && src > 0 {
                w |= self.0[src - 1] >> (64 - bits);
            }
            r[i] = w;
        }
        I512(r)
    }

    /// `self ± (o << s)` in place, the shift done limb by limb on the fly
    /// (the hot loop: no temporaries).
    fn shl_add_assign(&mut self, o: &I512, s: u32, subtract: bool) {
        let limbs = (s / 64) as usize;
        let bits = s % 64;
        let mut carry = false;
        for i in limbs..8 {
            let src = i - limbs;
            let mut w = o.0[src] << bits;
            if bits != 0 && src > 0 {
                w |= o.0[src - 1] >> (64 - bits);
            }
            if subtract {
                let (d1, b1) = self.0[i].overflowing_sub(w);
                let (d2, b2) = d1.overflowing_sub(carry as u64);
                self.0[i] = d2;
                carry = b1 | b2;
            } else {
                let (d1, c1) = self.0[i].overflowing_add(w);
                let (d2, c2) = d1.overflowing_add(carry as u64);
                self.0[i] = d2;
                carry = c1 | c2;
            }
        }
    }

    /// Bit length of the absolute value (0 for 0).
    fn bit_len(&self) -> u32 {
        let a = self.abs();
        for i in (0..8).rev() {
            if a.0[i] != 0 {
                return 64 * i as u32 + (64 - a.0[i].leading_zeros());
            }
        }
        0
    }

    fn lt(&self, o: &I512) -> bool {
        // Signed comparison through the sign of the difference is wrong on
        // overflow; the values compared here (norms) are non-negative and
        // below 2^510, so it cannot overflow.
        self.sub(o).is_neg()
    }

    fn is_odd(&self) -> bool {
        self.0[0] & 1 == 1
    }

    /// Product of two non-negative values below 2^256.
    fn mul_256(a: &I512, b: &I512) -> I512 {
        let mut r = [0u64; 8];
        for i in 0..4 {
            let mut carry: u128 = 0;
            for j in 0..4 {
                let t = r[i + j] as u128 + (a.0[i] as u128) * (b.0[j] as u128) + carry;
                r[i + j] = t as u64;
                carry = t >> 64;
            }
            r[i + 4] = carry as u64;
        }
        I512(r)
    }

    /// `(negative, magnitude as 32 little-endian bytes)` when `|self| < 2^256`.
    fn to_sign_mag(self) -> Option<(bool, [u8; 32])> {
        let neg = self.is_neg();
        let a = self.abs();
        if a.0[4..].iter().any(|&l| l != 0) {
            return None;
        }
        let mut b = [0u8; 32];
        for i in 0..4 {
            b[8 * i..8 * i + 8].copy_from_slice(&a.0[i].to_le_bytes());
        }
        Some((neg, b))
    }
}

/// A short signed integer (at most [`MAX_COORD_BITS`] bits in magnitude).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Small {
    pub negative: bool,
    /// Little-endian.
    pub magnitude: [u8; 32],
}

/// The group order L = 2^252 + 27742317777372353535851937790883648493, little-endian.
const L_BYTES: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
];

/// Stop once the squared norm of `v` has at most this many bits: then both
/// coordinates are below 2^127 (Pornin's early exit; the exact Lagrange
/// minimum is not needed, only half-length scalars).
const TARGET_NORM_BITS: u32 = 254;

/// Bound on loop iterations. Lagrange's algorithm terminates and Pornin shows
/// the binary step decreases the norm; the bound only guarantees that a bug
/// here costs a fallback to verify_strict, never a hang.
const MAX_ITERATIONS: u32 = 2_000;

/// Largest coordinate magnitude accepted for a multiplier (bits).
pub const MAX_COORD_BITS: u32 = 130;

/// Reduce `k` (canonical little-endian scalar bytes, `k < L`) to `(c0, c1)`
/// with `c0 ≡ c1·k (mod L)`, `c1` odd, both below 2^128 in magnitude.
///
/// The odd-multiplier rule: the equation is multiplied by `c1`, and on a group
/// of order 8·L the point `c1·P` is the identity for a non-identity `P` only
/// if `ord(P)` divides `c1`; with `c1` odd and `0 < |c1| < L` that forces `P`
/// to be the identity, so the check is exact. If the short vector `v` has an
/// even second coordinate, `u` has an odd one (the basis determinant is ±L,
/// odd), and so do `u ± v`; the shortest of those that fits is used. `None`
/// when none fits (or the iteration bound is hit): the caller falls back to
/// verify_strict.
pub fn reduce(k: &[u8; 32]) -> Option<(Small, Small)> {
    reduce_with_choice(k).map(|(_, r)| r)
}

/// Which vector the odd-multiplier rule picked.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Choice {
    /// The short vector `v` (second coordinate odd).
    V,
    /// `v` had an even second coordinate; `u`, `u + v` or `u - v` was used.
    Other,
}

/// [`reduce`], also saying which vector was used (for the experiment's counts).
pub fn reduce_with_choice(k: &[u8; 32]) -> Option<(Choice, (Small, Small))> {
    let l = I512::from_le_bytes32(&L_BYTES);
    let k = I512::from_le_bytes32(k);
    let (mut u0, mut u1) = (l, I512::ZERO);
    let (mut v0, mut v1) = (k, I512::small(1));
    let mut nu = I512::mul_256(&l, &l);
    let mut nv = I512::mul_256(&k, &k).add(&I512::small(1));
    let mut p = I512::mul_256(&l, &k);

    let mut done = false;
    for _ in 0..MAX_ITERATIONS {
        if nu.lt(&nv) {
            core::mem::swap(&mut u0, &mut v0);
            core::mem::swap(&mut u1, &mut v1);
            core::mem::swap(&mut nu, &mut nv);
        }
        let len_nv = nv.bit_len();
        let len_p = p.bit_len();
        // Short enough with an odd second coordinate (Pornin's early exit),
        // or Lagrange-reduced (2|p| <= Nv: v is the shortest and u the
        // shortest independent of it; certain when p is two bits shorter
        // than Nv, exact comparison otherwise). An even v1 needs u, and u is
        // only short once the basis is fully reduced, so no early exit then.
        if (len_nv <= TARGET_NORM_BITS && v1.is_odd())
            || len_p + 1 < len_nv
            || (len_p + 1 == len_nv && !nv.lt(&p.abs().shl(1)))
        {
            done = true;
            break;
        }
        let s = len_p.saturating_sub(len_nv);
        // p > 0: u -= v<<s, Nu += Nv<<2s - p<<(s+1), p -= Nv<<s; p < 0: the signs flip.
        let sub = !p.is_neg();
        u0.shl_add_assign(&v0, s, sub);
        u1.shl_add_assign(&v1, s, sub);
        nu.shl_add_assign(&nv, 2 * s, false);
        nu.shl_add_assign(&p, s + 1, sub);
        p.shl_add_assign(&nv, s, sub);
    }
    if !done {
        return None;
    }

    if v1.is_odd() {
        if let Some(r) = fit(v0, v1) {
            return Some((Choice::V, r));
        }
    }
    // v1 even (or v too long, which the stop rule excludes): try u, u+v, u-v.
    let mut best: Option<(u32, (Small, Small))> = None;
    for (a, b) in [
        (u0, u1),
        (u0.add(&v0), u1.add(&v1)),
        (u0.sub(&v0), u1.sub(&v1)),
    ] {
        if !b.is_odd() {
            continue;
        }
        if let Some(r) = fit(a, b) {
            let size = a.bit_len().max(b.bit_len());
            if best.as_ref().map_or(true, |(s, _)| size < *s) {
                best = Some((size, r));
            }
        }
    }
    best.map(|(_, r)| (Choice::Other, r))
}

fn fit(c0: I512, c1: I512) -> Option<(Small, Small)> {
    if c0.bit_len() > MAX_COORD_BITS || c1.bit_len() > MAX_COORD_BITS || c1.bit_len() == 0 {
        return None;
    }
    let (n0, m0) = c0.to_sign_mag()?;
    let (n1, m1) = c1.to_sign_mag()?;
    Some((
        Small {
            negative: n0,
            magnitude: m0,
        },
        Small {
            negative: n1,
            magnitude: m1,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::Scalar;
    use rand::{RngCore, SeedableRng};

    fn to_scalar(x: Small) -> Scalar {
        let s = Scalar::from_bytes_mod_order(x.magnitude);
        if x.negative {
            -s
        } else {
            s
        }
    }

    #[test]
    fn reduced_vectors_are_short_odd_and_in_the_lattice() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(17);
        let (mut other, mut none) = (0u32, 0u32);
        for i in 0..200_000u32 {
            let mut wide = [0u8; 64];
            rng.fill_bytes(&mut wide);
            let k = match i {
                0 => Scalar::ZERO,
                1 => Scalar::ONE,
                2 => -Scalar::ONE,
                3 => Scalar::from(2u64),
                _ => Scalar::from_bytes_mod_order_wide(&wide),
            };
            let Some((choice, (c0, c1))) = reduce_with_choice(k.as_bytes()) else {
                none += 1;
                continue;
            };
            other += (choice == Choice::Other) as u32;
            assert_eq!(to_scalar(c0), to_scalar(c1) * k, "c0 = c1 k mod L");
            assert_eq!(c1.magnitude[0] & 1, 1, "c1 odd");
        }
        println!("of 200000: v1 even, other vector used: {other}; no usable multiplier: {none}");
        // The fallback must stay rare for the path to be worth anything.
        assert!(none < 2_000, "{none} fallbacks");
    }

    #[test]
    fn shl_and_bit_len() {
        let one = I512::small(1);
        for s in 0..511 {
            assert_eq!(one.shl(s).bit_len(), s + 1);
        }
        assert_eq!(I512::small(5).neg().bit_len(), 3);
    }
}
#[cfg(test)]
mod fused {
    use super::*;
    #[test]
    fn fused_matches() {
        let mut x = 0x1234_5678_9abc_def1u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..10000 {
            let a = I512([
                next(),
                next(),
                next(),
                next(),
                next(),
                next(),
                next(),
                next(),
            ]);
            let b = I512([
                next(),
                next(),
                next(),
                next(),
                next(),
                next(),
                next(),
                next(),
            ]);
            let s = (next() % 300) as u32;
            let mut c = a;
            c.shl_add_assign(&b, s, false);
            assert_eq!(c, a.add(&b.shl(s)), "add s={s}");
            let mut c = a;
            c.shl_add_assign(&b, s, true);
            assert_eq!(c, a.sub(&b.shl(s)), "sub s={s}");
        }
    }
}
