//! Inputs for the equivalence runs: keys with and without a torsion component,
//! small-order keys, signatures signed with raw scalars (so R may carry a
//! torsion component), and the mutations that make them invalid or
//! non-canonical. Shared by tests/, src/bin/random.rs and fuzz/.

use curve25519_dalek::constants::{ED25519_BASEPOINT_TABLE, EIGHT_TORSION};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha512};

/// L, little-endian.
pub const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
];

/// A key made from a secret scalar plus an optional torsion point.
#[derive(Clone)]
pub struct RawKey {
    pub a: Scalar,
    pub torsion: usize,
    pub A: EdwardsPoint,
}

impl RawKey {
    pub fn new(a: Scalar, torsion: usize) -> RawKey {
        let A = ED25519_BASEPOINT_TABLE * &a + EIGHT_TORSION[torsion];
        RawKey { a, torsion, A }
    }

    pub fn random<R: RngCore>(rng: &mut R, torsion: usize) -> RawKey {
        let mut w = [0u8; 64];
        rng.fill_bytes(&mut w);
        RawKey::new(Scalar::from_bytes_mod_order_wide(&w), torsion)
    }

    pub fn bytes(&self) -> [u8; 32] {
        self.A.compress().to_bytes()
    }
}

pub fn challenge(r: &[u8; 32], a: &[u8; 32], msg: &[u8]) -> Scalar {
    Scalar::from_hash(
        Sha512::new()
            .chain_update(r)
            .chain_update(a)
            .chain_update(msg),
    )
}

/// Sign with nonce point R = rB + T[r_torsion]: S = r + k·a. verify_strict
/// accepts exactly when −k·T[key] = T[r_torsion] (both zero for honest keys).
pub fn sign_raw(
    key: &RawKey,
    a_bytes: &[u8; 32],
    msg: &[u8],
    r: &Scalar,
    r_torsion: usize,
) -> [u8; 64] {
    let R = ED25519_BASEPOINT_TABLE * r + EIGHT_TORSION[r_torsion];
    let rb = R.compress().to_bytes();
    let k = challenge(&rb, a_bytes, msg);
    let s = r + k * key.a;
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&rb);
    sig[32..].copy_from_slice(s.as_bytes());
    sig
}

/// Add L to the 256-bit little-endian S (if it fits): same value mod L,
/// non-canonical encoding.
pub fn s_plus_l(sig: &mut [u8; 64]) -> bool {
    let mut carry = 0u16;
    let mut out = [0u8; 32];
    for i in 0..32 {
        let t = sig[32 + i] as u16 + L[i] as u16 + carry;
        out[i] = t as u8;
        carry = t >> 8;
    }
    if carry != 0 {
        return false;
    }
    sig[32..].copy_from_slice(&out);
    true
}

/// Encodings of the eight small-order points, and their non-canonical
/// variants (y + p where it fits in 255 bits, sign bit set for x = 0).
pub fn small_order_encodings() -> Vec<[u8; 32]> {
    let mut v = Vec::new();
    for t in EIGHT_TORSION.iter() {
        let b = t.compress().to_bytes();
        v.push(b);
        v.push(flip_sign(b));
        if let Some(n) = non_canonical_y(&b) {
            v.push(n);
            v.push(flip_sign(n));
        }
    }
    v
}

pub fn flip_sign(mut b: [u8; 32]) -> [u8; 32] {
    b[31] ^= 0x80;
    b
}

/// y + p, if y < 19 (only then does y + p fit in 255 bits).
pub fn non_canonical_y(b: &[u8; 32]) -> Option<[u8; 32]> {
    let sign = b[31] & 0x80;
    let mut y = *b;
    y[31] &= 0x7f;
    if y[1..].iter().any(|&x| x != 0) || y[0] >= 19 {
        return None;
    }
    // p = 2^255 - 19: little-endian ed ff .. ff 7f
    let mut n = [0xffu8; 32];
    n[0] = 0xed + y[0];
    n[31] = 0x7f | sign;
    Some(n)
}

/// Every y below 19 with both signs, plus y in [p, 2^255): the inputs whose
/// decoding a careless canonicity check gets wrong. Those that decompress are
/// points; many are not.
pub fn low_y_encodings() -> Vec<[u8; 32]> {
    let mut v = Vec::new();
    for y in 0u8..19 {
        let mut b = [0u8; 32];
        b[0] = y;
        v.push(b);
        v.push(flip_sign(b));
        let n = non_canonical_y(&b).expect("y < 19");
        v.push(n);
        v.push(flip_sign(n));
    }
    v
}

/// One random case: (key bytes, message, signature). `keys` are the pool of
/// raw keys; the mix covers valid signatures, mixed-order R, bit flips, S + L,
/// swapped keys, small-order and non-canonical R.
pub fn random_case<R: Rng>(rng: &mut R, keys: &[RawKey]) -> ([u8; 32], Vec<u8>, [u8; 64]) {
    let key = &keys[rng.gen_range(0..keys.len())];
    let mut a_bytes = key.bytes();
    let mut msg = vec![0u8; rng.gen_range(0..64)];
    rng.fill_bytes(&mut msg);
    let mut w = [0u8; 64];
    rng.fill_bytes(&mut w);
    let r = Scalar::from_bytes_mod_order_wide(&w);
    let r_torsion = if rng.gen_bool(0.25) {
        rng.gen_range(1..8)
    } else {
        0
    };
    let mut sig = sign_raw(key, &a_bytes, &msg, &r, r_torsion);
    match rng.gen_range(0..16) {
        0..=6 => {} // as signed (valid unless a torsion component breaks it)
        7 => {
            let i = rng.gen_range(0..64 * 8);
            sig[i / 8] ^= 1 << (i % 8);
        }
        8 => {
            if !msg.is_empty() {
                let i = rng.gen_range(0..msg.len() * 8);
                msg[i / 8] ^= 1 << (i % 8);
            } else {
                msg.push(0);
            }
        }
        9 => {
            s_plus_l(&mut sig);
        }
        10 => a_bytes = keys[rng.gen_range(0..keys.len())].bytes(),
        11 => {
            let so = small_order_encodings();
            sig[..32].copy_from_slice(&so[rng.gen_range(0..so.len())]);
        }
        12 => {
            // R' = R + T with S unchanged: mixed-order R, wrong equation.
            let R = CompressedEdwardsY(sig[..32].try_into().expect("32"))
                .decompress()
                .expect("signed R decodes");
            let t = EIGHT_TORSION[rng.gen_range(1..8)];
            sig[..32].copy_from_slice(&(R + t).compress().to_bytes());
        }
        13 => {
            // Random S (often non-canonical), random R bytes.
            rng.fill_bytes(&mut sig[32..]);
            if rng.gen_bool(0.5) {
                rng.fill_bytes(&mut sig[..32]);
            }
        }
        14 => {
            // Flip the sign bit of R (−x): a different point, same y.
            sig[31] ^= 0x80;
        }
        _ => {
            // A mixed-order key whose torsion the challenge cancels:
            // search a message for which −k·T_A = T_R, so verify_strict accepts.
            if key.torsion != 0 {
                for n in 0u32..64 {
                    let mut m = msg.clone();
                    m.extend_from_slice(&n.to_le_bytes());
                    let rt = rng.gen_range(0..8);
                    let s = sign_raw(key, &a_bytes, &m, &r, rt);
                    let k = challenge(s[..32].try_into().expect("32"), &a_bytes, &m);
                    if (-(EIGHT_TORSION[key.torsion] * k)).compress()
                        == EIGHT_TORSION[rt].compress()
                    {
                        msg = m;
                        sig = s;
                        break;
                    }
                }
            }
        }
    }
    (a_bytes, msg, sig)
}
