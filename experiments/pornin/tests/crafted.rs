//! Crafted cases and property tests: small-order, mixed-order (A and R with a
//! torsion component), non-canonical R, A and S. Every input goes to
//! verify_strict and to the three alternatives; the verdicts must agree.
use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signature, VerifyingKey};
use pornin_verify::cases::{self, RawKey};
use pornin_verify::{strict, PreparedKey, Verifier};
use proptest::prelude::*;
use rand::{RngCore, SeedableRng};

/// Compare all verifiers on one input; returns verify_strict's verdict, or
/// None when the key bytes do not decode (refused before any verifier).
fn check(v: &Verifier, a: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> Option<bool> {
    let key = PreparedKey::new(VerifyingKey::from_bytes(a).ok()?);
    Some(check_key(v, &key, msg, sig))
}

fn check_key(v: &Verifier, key: &PreparedKey, msg: &[u8], sig: &[u8; 64]) -> bool {
    let sig = Signature::from_bytes(sig);
    let s = strict(key, msg, &sig);
    assert_eq!(
        v.pornin(key, msg, &sig),
        s,
        "pornin: key {:?} msg {msg:?} sig {sig:?}",
        key.vk
    );
    assert_eq!(
        v.pornin_straus3(key, msg, &sig),
        s,
        "straus3: key {:?} sig {sig:?}",
        key.vk
    );
    assert_eq!(
        v.fixed_base(key, msg, &sig),
        s,
        "fixed_base: key {:?} sig {sig:?}",
        key.vk
    );
    assert_eq!(v.fixed_base64(key, msg, &sig), s, "fixed_base64: {sig:?}");
    s
}

#[derive(Default, Debug)]
struct Tally {
    compared: u64,
    accepted: u64,
    undecodable_key: u64,
}

impl Tally {
    fn add(&mut self, r: Option<bool>) {
        match r {
            None => self.undecodable_key += 1,
            Some(a) => {
                self.compared += 1;
                self.accepted += a as u64;
            }
        }
    }
}

#[test]
fn mixed_order_keys_and_nonces() {
    // Every torsion component on A (8) x every torsion component on R (8) x
    // 40 messages: verify_strict accepts exactly when -k·T_A = T_R.
    let v = Verifier::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(8);
    let mut t = Tally::default();
    let mut accepted_mixed = 0;
    for ta in 0..8 {
        let key = RawKey::random(&mut rng, ta);
        let a = key.bytes();
        let prepared = PreparedKey::new(VerifyingKey::from_bytes(&a).expect("decodes"));
        assert_eq!(prepared.torsion_free(), ta == 0);
        for tr in 0..8 {
            for n in 0..40u32 {
                let msg = n.to_le_bytes();
                let mut w = [0u8; 64];
                rng.fill_bytes(&mut w);
                let sig =
                    cases::sign_raw(&key, &a, &msg, &Scalar::from_bytes_mod_order_wide(&w), tr);
                let ok = check_key(&v, &prepared, &msg, &sig);
                let k = cases::challenge(sig[..32].try_into().expect("32"), &a, &msg);
                let predicted =
                    (-(EIGHT_TORSION[ta] * k)).compress() == EIGHT_TORSION[tr].compress();
                assert_eq!(ok, predicted, "ta {ta} tr {tr} n {n}");
                accepted_mixed += (ok && (ta != 0 || tr != 0)) as u32;
                t.add(Some(ok));
            }
        }
    }
    println!("mixed order: {t:?}, {accepted_mixed} accepted with a torsion component on A or R");
    assert!(
        accepted_mixed > 0,
        "the accepted mixed-order cases are exercised"
    );
}

#[test]
fn small_order_and_non_canonical_points() {
    let v = Verifier::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let mut t = Tally::default();
    let odd_points: Vec<[u8; 32]> = cases::small_order_encodings()
        .into_iter()
        .chain(cases::low_y_encodings())
        .collect();
    let honest = RawKey::random(&mut rng, 0);
    let ha = honest.bytes();
    for msg in [&b""[..], b"m", b"a longer message for the record"] {
        let mut w = [0u8; 64];
        rng.fill_bytes(&mut w);
        let r = Scalar::from_bytes_mod_order_wide(&w);
        let good = cases::sign_raw(&honest, &ha, msg, &r, 0);
        assert_eq!(check(&v, &ha, msg, &good), Some(true));
        for p in &odd_points {
            // As the key, with the honest signature, S = 0 and random S.
            for s in [good, zero_s(good), random_s(&mut rng, good)] {
                t.add(check(&v, p, msg, &s));
            }
            // As R, with the honest key and S; with S = k·a so that the
            // equation [S]B - [k]A = R holds when R is the identity.
            let mut sig = good;
            sig[..32].copy_from_slice(p);
            t.add(check(&v, &ha, msg, &sig));
            let k = cases::challenge(p, &ha, msg);
            sig[32..].copy_from_slice((k * honest.a).as_bytes());
            t.add(check(&v, &ha, msg, &sig));
            // Both.
            t.add(check(&v, p, msg, &sig));
        }
        // Non-canonical S: S + L (and S + 2L... while it fits), S = L, 2^256 - 1.
        let mut s = good;
        while cases::s_plus_l(&mut s) {
            t.add(check(&v, &ha, msg, &s));
        }
        let mut s = good;
        s[32..].copy_from_slice(&cases::L);
        t.add(check(&v, &ha, msg, &s));
        s[32..].copy_from_slice(&[0xff; 32]);
        t.add(check(&v, &ha, msg, &s));
        // Non-canonical A for a real point: y + p for the low-y points of
        // large order (the hash sees the stored bytes, so both must refuse
        // or accept alike).
        for p in cases::low_y_encodings() {
            t.add(check(&v, &p, msg, &good));
        }
    }
    println!("small order / non-canonical: {t:?}");
    assert!(t.compared > 500);
}

fn zero_s(mut s: [u8; 64]) -> [u8; 64] {
    s[32..].fill(0);
    s
}

fn random_s<R: RngCore>(rng: &mut R, mut s: [u8; 64]) -> [u8; 64] {
    rng.fill_bytes(&mut s[32..]);
    s[63] &= 0x0f;
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, .. ProptestConfig::default() })]

    /// The random generator of src/bin/random.rs, driven by proptest's seed.
    #[test]
    fn random_cases_agree(seed in any::<u64>()) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let keys: Vec<RawKey> = (0..8).map(|t| RawKey::random(&mut rng, if t < 5 { 0 } else { t })).collect();
        let v = Verifier::new();
        for _ in 0..8 {
            let (a, msg, sig) = cases::random_case(&mut rng, &keys);
            check(&v, &a, &msg, &sig);
        }
    }

    /// Arbitrary bytes: key, message and signature, with the key and R drawn
    /// half the time from the odd encodings.
    #[test]
    fn arbitrary_bytes_agree(
        a in any::<[u8; 32]>(), r in any::<[u8; 32]>(), s in any::<[u8; 32]>(),
        msg in proptest::collection::vec(any::<u8>(), 0..40),
        pick_a in any::<Option<prop::sample::Index>>(), pick_r in any::<Option<prop::sample::Index>>(),
    ) {
        let odd: Vec<[u8; 32]> = cases::small_order_encodings().into_iter().chain(cases::low_y_encodings()).collect();
        let a = pick_a.map_or(a, |i| odd[i.index(odd.len())]);
        let r = pick_r.map_or(r, |i| odd[i.index(odd.len())]);
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&r);
        sig[32..].copy_from_slice(&s);
        let v = Verifier::new();
        check(&v, &a, &msg, &sig);
        sig[63] &= 0x0f; // canonical S more often
        check(&v, &a, &msg, &sig);
    }
}
