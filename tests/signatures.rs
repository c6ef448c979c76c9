//! Ed25519 edge cases (FORMAT §5.2 and §5.6), through the ledger's own
//! `PublicKey::from_bytes` and `PublicKey::verify_strict`:
//!
//! - every Wycheproof Ed25519 vector (tests/data/wycheproof, see its README);
//! - malleability by hand: S + kL, R and A encoded with y >= p or with the
//!   sign bit of x = 0, the 8 small-order points as keys and as R, the
//!   identity as both (the "universal forgery"), torsion components;
//! - the same at the ledger level: `ledger init` refuses a small-order party
//!   key file, and `verify` rejects a hand-crafted genesis that registers
//!   one, or an event whose signature is malleated.
//!
//! Scalars mod L are computed here with a few lines of schoolbook
//! arithmetic (checked against real signatures); curve points only ever
//! come from ed25519-dalek's own decoding and addition.

mod common;

use common::base64;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use ed25519_dalek::{Signer, Verifier};
use ledger::base::crypto::{KeyError, PublicKey, SigningKey};
use ledger::base::time::Timestamp;
use ledger::core::format::{Body, Event, Kind, LedgerId, PartyId};
use ledger::core::replay::RuleError;
use ledger::core::verify::{verify, Options, VerifyError};
use sha2::{Digest, Sha256, Sha512};

// ---------------------------------------------------------------------------
// Our verdict.

/// Does the ledger accept `sig` on `msg` under the key `pk`? A key that
/// `PublicKey::from_bytes` refuses (invalid, non-canonical or weak) and a
/// signature that is not 64 bytes are rejections.
fn ledger_accepts(pk: &[u8], msg: &[u8], sig: &[u8]) -> bool {
    let (Ok(pk), Ok(sig)) = (<[u8; 32]>::try_from(pk), <[u8; 64]>::try_from(sig)) else {
        return false;
    };
    match PublicKey::from_bytes(&pk, "test key") {
        Ok(key) => key.verify_strict(msg, &sig),
        Err(_) => false,
    }
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn hex32(s: &str) -> [u8; 32] {
    unhex(s).try_into().unwrap()
}

// ---------------------------------------------------------------------------
// Wycheproof.

/// Vectors where `verify_strict` is deliberately stricter than Wycheproof
/// (a result of "valid" or "acceptable" that we reject), each with its
/// reason. The test requires this list to be exactly the disagreements.
/// With the vectors of tests/data/wycheproof (C2SP commit dac1dd47) there
/// are none: Wycheproof marks no small-order key or R as valid or
/// acceptable, and has no "acceptable" results at all.
const STRICTER: &[(u64, &str)] = &[];

#[test]
fn wycheproof_ed25519() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/wycheproof/ed25519_test.json"
    ))
    .unwrap();
    let file: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(file["algorithm"], "EDDSA");
    assert_eq!(file["schema"], "eddsa_verify_schema_v1.json");
    let mut seen = 0;
    let mut counts: BTreeMap<(String, bool), usize> = BTreeMap::new();
    let mut stricter = Vec::new();
    let mut refused_keys = 0;
    for group in file["testGroups"].as_array().unwrap() {
        assert_eq!(group["type"], "EddsaVerify");
        assert_eq!(group["publicKey"]["curve"], "edwards25519");
        let pk = unhex(group["publicKey"]["pk"].as_str().unwrap());
        if PublicKey::from_bytes(&pk.clone().try_into().unwrap(), "k").is_err() {
            refused_keys += 1;
        }
        for t in group["tests"].as_array().unwrap() {
            let id = t["tcId"].as_u64().unwrap();
            let msg = unhex(t["msg"].as_str().unwrap());
            let sig = unhex(t["sig"].as_str().unwrap());
            let expected = t["result"].as_str().unwrap();
            let ours = ledger_accepts(&pk, &msg, &sig);
            let flags = t["flags"].to_string();
            seen += 1;
            *counts.entry((expected.to_owned(), ours)).or_default() += 1;
            match (expected, ours) {
                ("valid", true) | ("invalid", false) => {}
                ("valid" | "acceptable", false) => stricter.push(id),
                _ => panic!(
                    "Wycheproof tcId {id} ({flags}, {:?}): expected {expected}, ledger {}",
                    t["comment"],
                    if ours { "accepts" } else { "rejects" }
                ),
            }
        }
    }
    assert_eq!(seen, file["numberOfTests"].as_u64().unwrap());
    assert_eq!(seen, 151, "the committed file has 151 vectors");
    let listed: Vec<u64> = STRICTER.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        stricter, listed,
        "vectors that Wycheproof accepts and verify_strict rejects must be listed in STRICTER"
    );
    assert_eq!(
        refused_keys, 0,
        "every Wycheproof key is a valid, large-order point"
    );
    eprintln!("Wycheproof Ed25519: {seen} vectors, (result, ledger accepts) -> count: {counts:?}; exceptions: {STRICTER:?}");
}

// ---------------------------------------------------------------------------
// Scalars mod L, by hand: little-endian u64 limbs, 512 bits.

type Big = [u64; 8];

/// L = 2^252 + 27742317777372353535851937790883648493, little-endian.
const L_HEX: &str = "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";
/// p = 2^255 - 19, little-endian.
const P_HEX: &str = "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f";

fn big(bytes: &[u8]) -> Big {
    assert!(bytes.len() <= 64);
    let mut out = [0u64; 8];
    for (i, b) in bytes.iter().enumerate() {
        out[i / 8] |= u64::from(*b) << (8 * (i % 8));
    }
    out
}

fn bytes32(x: &Big) -> [u8; 32] {
    assert!(x[4..].iter().all(|&l| l == 0), "does not fit in 32 bytes");
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = (x[i / 8] >> (8 * (i % 8))) as u8;
    }
    out
}

fn ge(a: &Big, b: &Big) -> bool {
    for i in (0..8).rev() {
        if a[i] != b[i] {
            return a[i] > b[i];
        }
    }
    true
}

fn sub(a: &Big, b: &Big) -> Big {
    let mut out = [0u64; 8];
    let mut borrow = 0u64;
    for i in 0..8 {
        let (d, b1) = a[i].overflowing_sub(b[i]);
        let (d, b2) = d.overflowing_sub(borrow);
        out[i] = d;
        borrow = u64::from(b1 || b2);
    }
    assert_eq!(borrow, 0);
    out
}

fn add(a: &Big, b: &Big) -> Big {
    let mut out = [0u64; 8];
    let mut carry = 0u64;
    for i in 0..8 {
        let (s, c1) = a[i].overflowing_add(b[i]);
        let (s, c2) = s.overflowing_add(carry);
        out[i] = s;
        carry = u64::from(c1 || c2);
    }
    assert_eq!(carry, 0);
    out
}

/// a * b for a, b < 2^256.
fn mul(a: &Big, b: &Big) -> Big {
    assert!(a[4..].iter().chain(&b[4..]).all(|&l| l == 0));
    let mut out = [0u64; 8];
    for i in 0..4 {
        let mut carry = 0u128;
        for j in 0..4 {
            let t = u128::from(a[i]) * u128::from(b[j]) + u128::from(out[i + j]) + carry;
            out[i + j] = t as u64;
            carry = t >> 64;
        }
        out[i + 4] = carry as u64;
    }
    out
}

/// x mod L, by binary long division.
fn reduce(x: &Big) -> Big {
    let l = big(&unhex(L_HEX));
    let mut r = [0u64; 8];
    for bit in (0..512).rev() {
        // r = 2r + bit; r < 2L < 2^254 throughout.
        for i in (1..8).rev() {
            r[i] = (r[i] << 1) | (r[i - 1] >> 63);
        }
        r[0] = (r[0] << 1) | ((x[bit / 64] >> (bit % 64)) & 1);
        if ge(&r, &l) {
            r = sub(&r, &l);
        }
    }
    r
}

/// The secret scalar of an RFC 8032 seed: the clamped first half of
/// SHA-512(seed).
fn secret_scalar(seed: &[u8; 32]) -> Big {
    let h = Sha512::digest(seed);
    let mut a = [0u8; 32];
    a.copy_from_slice(&h[..32]);
    a[0] &= 248;
    a[31] &= 127;
    a[31] |= 64;
    big(&a)
}

/// k = SHA-512(R || A || M) mod L.
fn challenge(r: &[u8; 32], a: &[u8; 32], msg: &[u8]) -> Big {
    let h = Sha512::new()
        .chain_update(r)
        .chain_update(a)
        .chain_update(msg)
        .finalize();
    reduce(&big(&h))
}

/// (r + k * a) mod L.
fn s_value(r: &Big, k: &Big, a: &Big) -> [u8; 32] {
    bytes32(&reduce(&add(&reduce(r), &mul(&reduce(k), &reduce(a)))))
}

fn signature(r: &[u8; 32], s: &[u8; 32]) -> [u8; 64] {
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(r);
    sig[32..].copy_from_slice(s);
    sig
}

/// RFC 8032 §7.1 test 1 and test 2 seeds.
const SEED_1: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const SEED_2: &str = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";

fn dalek(seed: &[u8; 32]) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(seed)
}

#[test]
fn scalar_arithmetic_reproduces_real_signatures() {
    for seed in [SEED_1, SEED_2] {
        let seed = hex32(seed);
        let key = dalek(&seed);
        let a = secret_scalar(&seed);
        let prefix = &Sha512::digest(seed)[32..];
        for msg in [&b""[..], b"\x72", b"ledger", &[0xa5; 300]] {
            let sig = key.sign(msg).to_bytes();
            let r_enc: [u8; 32] = sig[..32].try_into().unwrap();
            let r = reduce(&big(&Sha512::new()
                .chain_update(prefix)
                .chain_update(msg)
                .finalize()));
            let k = challenge(&r_enc, key.verifying_key().as_bytes(), msg);
            assert_eq!(s_value(&r, &k, &a), sig[32..], "S = r + k a mod L");
        }
    }
}

// ---------------------------------------------------------------------------
// S must be below L.

#[test]
fn s_plus_multiples_of_l_is_rejected() {
    let l = big(&unhex(L_HEX));
    let mut cases = 0;
    for seed in [SEED_1, SEED_2] {
        let key = dalek(&hex32(seed));
        let pk = key.verifying_key().to_bytes();
        for msg in [&b""[..], b"a message", &[0u8; 1000]] {
            let sig = key.sign(msg).to_bytes();
            assert!(ledger_accepts(&pk, msg, &sig));
            let r: [u8; 32] = sig[..32].try_into().unwrap();
            let mut s = big(&sig[32..]);
            // Every S + kL that still fits in 32 bytes: the same scalar mod L.
            loop {
                s = add(&s, &l);
                if s[4] != 0 {
                    break;
                }
                let forged = signature(&r, &bytes32(&s));
                assert!(!ledger_accepts(&pk, msg, &forged), "S + kL accepted");
                cases += 1;
            }
        }
    }
    // 15 or 16 multiples per signature, depending on S.
    assert!(cases >= 6 * 15, "{cases}");
    eprintln!("S + kL: {cases} malleated signatures, all rejected");
}

// ---------------------------------------------------------------------------
// Small-order points.

/// The 8 points of small order (the torsion subgroup), canonically encoded,
/// with their orders. `small_order_points_are_these` derives them from the
/// order-8 point by addition and checks this table.
const SMALL_ORDER: [(&str, u32); 8] = [
    // (0, 1): the identity.
    (
        "0100000000000000000000000000000000000000000000000000000000000000",
        1,
    ),
    // (0, -1).
    (
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        2,
    ),
    // (±sqrt(-1), 0).
    (
        "0000000000000000000000000000000000000000000000000000000000000000",
        4,
    ),
    (
        "0000000000000000000000000000000000000000000000000000000000000080",
        4,
    ),
    // The four points of order 8.
    (
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        8,
    ),
    (
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        8,
    ),
    (
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        8,
    ),
    (
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        8,
    ),
];

/// Non-canonical encodings of small-order points: y >= p (y + p for
/// y = 0 and 1), or x = 0 with its sign bit set ("-0").
const SMALL_ORDER_NON_CANONICAL: [(&str, &str); 6] = [
    (
        "0100000000000000000000000000000000000000000000000000000000000080",
        "the identity, x = -0",
    ),
    (
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "(0, -1), x = -0",
    ),
    (
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "y = p: (sqrt(-1), 0)",
    ),
    (
        "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "y = p: (-sqrt(-1), 0)",
    ),
    (
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "y = p + 1: the identity",
    ),
    (
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        "y = p + 1, x = -0: the identity",
    ),
];

fn point_bytes(p: &impl Compress) -> [u8; 32] {
    p.bytes()
}

/// Compression of an Edwards point, whatever its type is called.
trait Compress {
    fn bytes(&self) -> [u8; 32];
}

impl Compress for ed25519_dalek::VerifyingKey {
    fn bytes(&self) -> [u8; 32] {
        self.to_edwards().compress().to_bytes()
    }
}

fn decompress(enc: &[u8; 32]) -> ed25519_dalek::VerifyingKey {
    ed25519_dalek::VerifyingKey::from_bytes(enc).expect("a curve point")
}

#[test]
fn small_order_points_are_these() {
    let t = decompress(&hex32(SMALL_ORDER[6].0)).to_edwards();
    let identity = hex32(SMALL_ORDER[0].0);
    let mut multiple = decompress(&identity).to_edwards();
    let mut derived = Vec::new();
    for j in 0..8u32 {
        let enc = multiple.compress().to_bytes();
        // The order of jT is 8 / gcd(j, 8).
        let order = 8 / gcd(j, 8);
        derived.push((enc, order));
        multiple += t;
    }
    assert_eq!(multiple.compress().to_bytes(), identity, "8T = identity");
    let mut table: Vec<([u8; 32], u32)> = SMALL_ORDER.iter().map(|(h, o)| (hex32(h), *o)).collect();
    derived.sort();
    table.sort();
    assert_eq!(derived, table, "the 8 small-order points and their orders");
    for (enc, _) in &table {
        let p = decompress(enc);
        assert!(p.is_weak() && p.to_edwards().is_small_order());
        assert_eq!(point_bytes(&p), *enc, "canonical");
    }
    for (h, what) in SMALL_ORDER_NON_CANONICAL {
        // ed25519-dalek decodes them (to a small-order point)...
        let p = decompress(&hex32(h));
        assert!(p.to_edwards().is_small_order(), "{what}");
        // ... whose canonical encoding is another string.
        assert_ne!(point_bytes(&p), hex32(h), "{what}");
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[test]
fn small_order_public_keys_are_refused() {
    for (h, order) in SMALL_ORDER {
        match PublicKey::from_bytes(&hex32(h), "k") {
            Err(KeyError::Weak { .. }) => {}
            other => panic!("small-order key {h} (order {order}): {other:?}"),
        }
    }
    for (h, what) in SMALL_ORDER_NON_CANONICAL {
        assert!(
            matches!(
                PublicKey::from_bytes(&hex32(h), "k"),
                Err(KeyError::Invalid { .. } | KeyError::Weak { .. })
            ),
            "{what}"
        );
    }
}

/// The reason strict verification matters: with A and R the identity and
/// S = 0, [S]B = R + [k]A holds for every message.
#[test]
fn identity_key_universal_forgery_is_rejected() {
    let identity = hex32(SMALL_ORDER[0].0);
    let sig = signature(&identity, &[0; 32]);
    let weak = decompress(&identity);
    for msg in [
        &b""[..],
        b"anything",
        b"Joint declaration, signed by everyone",
    ] {
        // ed25519-dalek's non-strict verify accepts: the forgery works.
        let s = ed25519_dalek::Signature::from_bytes(&sig);
        assert!(weak.verify(msg, &s).is_ok());
        // verify_strict refuses it, and the ledger refuses the key outright.
        assert!(weak.verify_strict(msg, &s).is_err());
        assert!(!ledger_accepts(&identity, msg, &sig));
    }
    // With an order-8 key, R = identity and S = 0 verify for the messages
    // whose k is a multiple of 8 (1 in 8): find one and check we reject it.
    let t = hex32(SMALL_ORDER[6].0);
    let msg = (0u32..)
        .map(|i| i.to_le_bytes().to_vec())
        .find(|m| bytes32(&challenge(&identity, &t, m))[0].is_multiple_of(8))
        .unwrap();
    let s = ed25519_dalek::Signature::from_bytes(&sig);
    assert!(decompress(&t).verify(&msg, &s).is_ok());
    assert!(!ledger_accepts(&t, &msg, &sig));
}

/// Signatures whose R is the identity or another small-order point, with
/// S = k a mod L: for R = identity the cofactorless equation holds (so
/// plain verification accepts); for the others, only a cofactored one.
#[test]
fn small_order_r_is_rejected() {
    let seed = hex32(SEED_1);
    let key = dalek(&seed);
    let pk = key.verifying_key().to_bytes();
    let a = secret_scalar(&seed);
    let zero = [0u64; 8];
    let mut cases = 0;
    for msg in [&b""[..], b"ledger/v1/event", &[7u8; 200]] {
        let identity = hex32(SMALL_ORDER[0].0);
        let k = challenge(&identity, &pk, msg);
        let sig = signature(&identity, &s_value(&zero, &k, &a));
        let s = ed25519_dalek::Signature::from_bytes(&sig);
        assert!(
            key.verifying_key().verify(msg, &s).is_ok(),
            "a valid equation"
        );
        assert!(!ledger_accepts(&pk, msg, &sig), "R = identity accepted");
        cases += 1;
        for (h, order) in SMALL_ORDER.iter().skip(1) {
            let r = hex32(h);
            let k = challenge(&r, &pk, msg);
            let sig = signature(&r, &s_value(&zero, &k, &a));
            assert!(
                !ledger_accepts(&pk, msg, &sig),
                "R of order {order} accepted"
            );
            cases += 1;
        }
    }
    eprintln!("small-order R: {cases} signatures, all rejected");
}

// ---------------------------------------------------------------------------
// Non-canonical encodings.

/// R encoded non-canonically: the identity as y = p + 1, or with x = -0;
/// S recomputed for that encoding, so a verifier that decodes R leniently
/// and compares points would accept.
#[test]
fn non_canonical_r_is_rejected() {
    let seed = hex32(SEED_2);
    let key = dalek(&seed);
    let pk = key.verifying_key().to_bytes();
    let a = secret_scalar(&seed);
    let mut cases = 0;
    for (h, what) in SMALL_ORDER_NON_CANONICAL {
        let r = hex32(h);
        for msg in [&b""[..], b"msg"] {
            let k = challenge(&r, &pk, msg);
            let sig = signature(&r, &s_value(&[0; 8], &k, &a));
            assert!(!ledger_accepts(&pk, msg, &sig), "R = {what}");
            cases += 1;
        }
    }
    // A real signature with R's y replaced by y + p cannot occur (y < 19 is
    // needed for y + p to fit), and with the sign bit flipped is Wycheproof
    // tcId 59; we check that one by hand too.
    let msg = b"sign bit";
    let mut sig = key.sign(msg).to_bytes();
    sig[31] ^= 0x80;
    assert!(!ledger_accepts(&pk, msg, &sig));
    cases += 1;
    eprintln!("non-canonical R: {cases} signatures, all rejected");
}

/// Public keys encoded with y >= p: y + p for every y < 19 that is the y
/// of a curve point (the only ones for which y + p fits in 255 bits), with
/// either sign. The canonical encoding of the same point is accepted when
/// the point is not of small order; the non-canonical one never.
#[test]
fn non_canonical_public_keys_are_refused() {
    let p = big(&unhex(P_HEX));
    let (mut points, mut large, mut refused) = (0, 0, 0);
    for y in 0u8..19 {
        for sign in [0u8, 0x80] {
            let mut canonical = [0u8; 32];
            canonical[0] = y;
            canonical[31] |= sign;
            let mut non_canonical = bytes32(&add(&p, &big(&[y])));
            non_canonical[31] |= sign;
            let Ok(point) = ed25519_dalek::VerifyingKey::from_bytes(&canonical) else {
                // Not a point: no encoding of it can be a key.
                assert!(PublicKey::from_bytes(&non_canonical, "k").is_err());
                continue;
            };
            points += 1;
            // ed25519-dalek decodes y + p as the same point as y.
            let same = decompress(&non_canonical);
            assert_eq!(point_bytes(&same), point_bytes(&point), "y = {y}");
            if point_bytes(&point) == canonical && !point.is_weak() {
                PublicKey::from_bytes(&canonical, "k").unwrap();
                large += 1;
            }
            match PublicKey::from_bytes(&non_canonical, "k") {
                Err(KeyError::Invalid { .. } | KeyError::Weak { .. }) => refused += 1,
                other => panic!("y = {y} + p, sign {sign:#x}: {other:?}"),
            }
        }
    }
    assert!(large > 0, "some y < 19 gives a large-order point");
    eprintln!("non-canonical keys (y + p, y < 19): {points} encode points ({large} of large order); all {refused} refused");
}

// ---------------------------------------------------------------------------
// Torsion components: where cofactored and cofactorless verification
// disagree. FORMAT §5.2 follows verify_strict: the cofactorless equation
// [S]B = R + [k]A, with A and R not of small order (but possibly with a
// small-order component).

/// rB for the scalar of `seed` (a public key is exactly that).
fn base_times(seed: &[u8; 32]) -> ed25519_dalek::VerifyingKey {
    dalek(seed).verifying_key()
}

#[test]
fn torsion_components_follow_the_cofactorless_equation() {
    let seed = hex32(SEED_1);
    let a = secret_scalar(&seed);
    let t = decompress(&hex32(SMALL_ORDER[6].0)).to_edwards();
    // A' = A + T: of mixed order, not small order, so a valid party key.
    let mixed = base_times(&seed).to_edwards() + t;
    let pk = mixed.compress().to_bytes();
    assert!(!mixed.is_small_order() && !mixed.is_torsion_free());
    PublicKey::from_bytes(&pk, "k").unwrap();
    // R = rB + jT: [S]B = R + [k]A' with S = r + k a holds iff j + k = 0
    // mod 8; [8][S]B = [8]R + [8][k]A' (cofactored) holds for every j.
    let msg = b"torsion";
    let (mut accepted, mut rejected) = (0, 0);
    for i in 0u8..16 {
        let r_seed = [i; 32];
        let r = secret_scalar(&r_seed);
        let mut point = base_times(&r_seed).to_edwards();
        for j in 0..8u8 {
            let r_enc = point.compress().to_bytes();
            let k = challenge(&r_enc, &pk, msg);
            let sig = signature(&r_enc, &s_value(&r, &k, &a));
            let k_mod_8 = bytes32(&k)[0] % 8;
            let cofactorless = (j + k_mod_8).is_multiple_of(8);
            assert_eq!(ledger_accepts(&pk, msg, &sig), cofactorless, "r {i}, j {j}");
            if cofactorless {
                accepted += 1;
            } else {
                rejected += 1;
            }
            point += t;
        }
    }
    assert!(accepted > 0 && rejected > 0);
    eprintln!(
        "torsion: {accepted} signatures under a mixed-order key accepted (cofactorless equation holds), \
         {rejected} that only the cofactored equation accepts rejected"
    );
}

// ---------------------------------------------------------------------------
// The ledger level.

/// An SPKI PEM public key file holding these 32 bytes, whatever they are.
fn spki_pem(key: &[u8; 32]) -> String {
    let der = [&unhex("302a300506032b6570032100")[..], key].concat();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        base64(&der)
    )
}

/// A PKCS#8 private key file (mode 0600) for `seed`, and the loaded key.
fn key_file(dir: &Path, name: &str, seed: &[u8; 32]) -> (std::path::PathBuf, SigningKey) {
    common::key_file_from_seed(dir, &format!("{name}.key"), seed)
}

fn weak_keys() -> Vec<([u8; 32], String)> {
    SMALL_ORDER
        .iter()
        .map(|(h, o)| (hex32(h), format!("order {o}")))
        .chain(
            SMALL_ORDER_NON_CANONICAL
                .iter()
                .map(|(h, w)| (hex32(h), (*w).to_owned())),
        )
        .collect()
}

#[test]
fn init_refuses_small_order_party_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let (key, signer) = key_file(tmp.path(), "north", &hex32(SEED_1));
    let north_pub = tmp.path().join("north.pub");
    std::fs::write(&north_pub, signer.public().to_pem()).unwrap();
    let mut cases = 0;
    for (n, (weak, what)) in weak_keys().iter().enumerate() {
        let weak_pub = tmp.path().join(format!("weak{n}.pub"));
        std::fs::write(&weak_pub, spki_pem(weak)).unwrap();
        let dir = tmp.path().join(format!("ledger{n}"));
        let out = Command::new(env!("CARGO_BIN_EXE_ledger"))
            .arg("init")
            .arg(&dir)
            .arg("--key")
            .arg(&key)
            .args(["--title", "Weak keys"])
            .arg(format!("--party=north={}", north_pub.display()))
            .arg(format!("--party=weak={}", weak_pub.display()))
            .args(["--at", "2024-01-01T00:00:00Z"])
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{what}: {stderr}");
        assert!(
            stderr.contains(&format!("weak{n}.pub")),
            "{what}: the error names the file: {stderr}"
        );
        assert!(!dir.exists(), "{what}: init created {}", dir.display());
        cases += 1;
    }
    eprintln!("ledger init with a small-order or non-canonical party key: {cases} refused (exit 2, nothing created)");
}

fn genesis_body(parties: BTreeMap<PartyId, [u8; 32]>, author: &str) -> Body {
    Body {
        version: 1,
        ledger: LedgerId([9; 16]),
        seq: 0,
        prev: None,
        time: Timestamp::parse("2024-01-01T00:00:00Z").unwrap(),
        author: PartyId::new(author).unwrap(),
        kind: Kind::LedgerCreated {
            title: "Crafted".into(),
            parties,
        },
    }
}

/// A ledger directory whose log is `log`.
fn ledger_dir(log: &[u8]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("docs")).unwrap();
    std::fs::write(tmp.path().join("events.cbor"), log).unwrap();
    tmp
}

fn failure(dir: &Path) -> ledger::core::verify::Failure {
    match verify(dir, &Options::default()) {
        Err(VerifyError::Failed(f)) => f,
        Err(e) => panic!("{e}"),
        Ok(r) => panic!("verified: {} events", r.count),
    }
}

#[test]
fn crafted_genesis_with_a_small_order_key_fails() {
    let north = SigningKey::generate();
    let mut cases = 0;
    for (weak, what) in weak_keys() {
        // Signed by a real party; the other party's key is weak.
        let parties = BTreeMap::from([
            (PartyId::new("north").unwrap(), north.public().to_bytes()),
            (PartyId::new("weak").unwrap(), weak),
        ]);
        let body = genesis_body(parties.clone(), "north");
        let (_, bytes) = Event::sign(&north, &body).unwrap();
        let dir = ledger_dir(&bytes);
        let f = failure(dir.path());
        assert_eq!((f.event, f.offset), (Some(0), Some(0)), "{what}: {f}");
        assert!(
            matches!(&f.cause, ledger::core::verify::Cause::Rule(RuleError::BadPartyKey { party, .. }) if party.as_str() == "weak"),
            "{what}: {f}"
        );
        // Signed by the weak party itself, with the universal forgery
        // (R = identity, S = 0), which plain verification accepts for the
        // identity key.
        let body = genesis_body(parties, "weak");
        let kid: [u8; 32] = Sha256::digest(weak).into();
        let forged = signature(&hex32(SMALL_ORDER[0].0), &[0; 32]);
        let (_, bytes) = Event::assemble(kid, body.encode(), forged).unwrap();
        let dir = ledger_dir(&bytes);
        let f = failure(dir.path());
        assert_eq!(f.event, Some(0), "{what}: {f}");
        assert!(
            matches!(&f.cause, ledger::core::verify::Cause::Rule(RuleError::BadPartyKey { party, .. }) if party.as_str() == "weak"),
            "{what}: {f}"
        );
        cases += 2;
    }
    eprintln!("crafted genesis events with a small-order or non-canonical party key: {cases}, all rejected at event 0");
}

/// A two-event ledger by RFC 8032 keys, then its signatures malleated:
/// S + L, and R replaced by the identity with a matching S.
#[test]
fn malleated_event_signatures_fail_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let (seed1, seed2) = (hex32(SEED_1), hex32(SEED_2));
    let (_, most) = key_file(tmp.path(), "most", &seed1);
    let (_, med) = key_file(tmp.path(), "med", &seed2);
    let parties = BTreeMap::from([
        (PartyId::new("most").unwrap(), most.public()),
        (PartyId::new("med").unwrap(), med.public()),
    ]);
    let dir = tmp.path().join("ledger");
    let t = |s: &str| Some(Timestamp::parse(s).unwrap());
    ledger::core::writer::init(
        &dir,
        &most,
        "Malleability",
        &parties,
        t("2024-01-01T00:00:00Z"),
    )
    .unwrap();
    let mut w = ledger::core::writer::Writer::open(&dir).unwrap();
    let note = Kind::Note {
        text: "A note.".into(),
    };
    w.append(&med, t("2024-01-01T00:01:00Z"), note, None)
        .unwrap();
    drop(w);
    let log = std::fs::read(dir.join("events.cbor")).unwrap();
    let mut reader = ledger::core::format::LogReader::new(&log[..]);
    let mut events = Vec::new();
    while let Some(item) = reader.next_event().unwrap() {
        events.push((item.offset as usize, item.event));
    }
    let l = big(&unhex(L_HEX));
    let mut cases = 0;
    for (i, (offset, event)) in events.iter().enumerate() {
        let (seed, author) = if i == 0 {
            (&seed1, "most")
        } else {
            (&seed2, "med")
        };
        let pk = dalek(seed).verifying_key().to_bytes();
        let end = offset + event.stored_len();
        let resigned = |sig: [u8; 64]| {
            let (_, bytes) = Event::assemble(event.kid, event.payload().to_vec(), sig).unwrap();
            [&log[..*offset], &bytes[..], &log[end..]].concat()
        };
        let r: [u8; 32] = event.signature[..32].try_into().unwrap();
        let s_plus_l = bytes32(&add(&big(&event.signature[32..]), &l));
        let msg = event.to_be_signed();
        let k = challenge(&hex32(SMALL_ORDER[0].0), &pk, &msg);
        let identity_r = signature(
            &hex32(SMALL_ORDER[0].0),
            &s_value(&[0; 8], &k, &secret_scalar(seed)),
        );
        // Plain verification accepts the identity-R signature: it is a
        // second valid signature of the same event, with another hash.
        let plain = dalek(seed).verifying_key();
        assert!(plain
            .verify(&msg, &ed25519_dalek::Signature::from_bytes(&identity_r))
            .is_ok());
        for (what, sig) in [
            ("S + L", signature(&r, &s_plus_l)),
            ("R = identity", identity_r),
        ] {
            let d = ledger_dir(&resigned(sig));
            let f = failure(d.path());
            assert_eq!(
                (f.event, f.offset),
                (Some(i as u64), Some(*offset as u64)),
                "{what}: {f}"
            );
            let expected = RuleError::BadSignature {
                author: PartyId::new(author).unwrap(),
            };
            assert_eq!(
                f.cause,
                ledger::core::verify::Cause::Rule(expected),
                "{what}"
            );
            cases += 1;
        }
    }
    // The untouched ledger verifies.
    assert_eq!(verify(&dir, &Options::default()).unwrap().count, 2);
    eprintln!("malleated signatures in a ledger: {cases}, all rejected at their event");
}
