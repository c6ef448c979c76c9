//! verify_strict and the three alternatives of pornin-verify on one input;
//! any disagreement panics. Input layout:
//! `mode, key, r_torsion, 32 bytes, 32 bytes, message...`.
//! - mode bit 0 clear: raw — the signature is the 64 bytes as given; the key
//!   is from the pool, or (`key` ≥ 128) the message's first 32 bytes, any
//!   encoding, the rest being the message;
//! - mode bit 0 set: signed — the pool key signs the message with nonce
//!   scalar from the first 32 bytes and R's torsion `r_torsion % 8`; mode
//!   bit 1 then XORs the second 32 bytes into S, bit 2 into R, bit 3
//!   replaces R by a small-order or non-canonical encoding.
#![no_main]

use std::sync::OnceLock;

use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signature, VerifyingKey};
use libfuzzer_sys::fuzz_target;
use pornin_verify::cases::{self, RawKey};
use pornin_verify::{strict, PreparedKey, Verifier};
use rand::SeedableRng;

struct Pool {
    raw: Vec<RawKey>,
    prepared: Vec<PreparedKey>,
    odd: Vec<[u8; 32]>,
    v: Verifier,
}

fn pool() -> &'static Pool {
    static P: OnceLock<Pool> = OnceLock::new();
    P.get_or_init(|| {
        let mut rng = rand::rngs::StdRng::seed_from_u64(454);
        let mut raw: Vec<RawKey> = (0..4).map(|_| RawKey::random(&mut rng, 0)).collect();
        raw.extend((1..8).map(|t| RawKey::random(&mut rng, t)));
        raw.extend((0..8).map(|t| RawKey::new(Scalar::ZERO, t)));
        let prepared = raw
            .iter()
            .map(|k| PreparedKey::new(VerifyingKey::from_bytes(&k.bytes()).expect("decodes")))
            .collect();
        let odd = cases::small_order_encodings()
            .into_iter()
            .chain(cases::low_y_encodings())
            .collect();
        Pool {
            raw,
            prepared,
            odd,
            v: Verifier::new(),
        }
    })
}

fn compare(v: &Verifier, key: &PreparedKey, msg: &[u8], sig: &[u8; 64]) {
    let sig = Signature::from_bytes(sig);
    let s = strict(key, msg, &sig);
    assert_eq!(v.pornin(key, msg, &sig), s, "pornin");
    assert_eq!(v.pornin_straus3(key, msg, &sig), s, "pornin_straus3");
    assert_eq!(v.fixed_base(key, msg, &sig), s, "fixed_base");
    assert_eq!(v.fixed_base64(key, msg, &sig), s, "fixed_base64");
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 67 {
        return;
    }
    let p = pool();
    let (mode, key_sel, rt) = (data[0], data[1] as usize, data[2] as usize % 8);
    let x: [u8; 32] = data[3..35].try_into().expect("32");
    let y: [u8; 32] = data[35..67].try_into().expect("32");
    let msg = &data[67..];
    let idx = key_sel % p.raw.len();
    if mode & 1 == 0 {
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&x);
        sig[32..].copy_from_slice(&y);
        if key_sel >= 128 {
            // The key bytes are the message's first 32 bytes (any encoding).
            if msg.len() < 32 {
                return;
            }
            let a: [u8; 32] = msg[..32].try_into().expect("32");
            if let Ok(vk) = VerifyingKey::from_bytes(&a) {
                compare(&p.v, &PreparedKey::new(vk), &msg[32..], &sig);
            }
        } else {
            compare(&p.v, &p.prepared[idx], msg, &sig);
        }
        return;
    }
    let key = &p.raw[idx];
    let a = key.bytes();
    let mut sig = cases::sign_raw(key, &a, msg, &Scalar::from_bytes_mod_order(x), rt);
    if mode & 2 != 0 {
        for i in 0..32 {
            sig[32 + i] ^= y[i];
        }
    }
    if mode & 4 != 0 {
        for i in 0..32 {
            sig[i] ^= y[i];
        }
    }
    if mode & 8 != 0 {
        sig[..32].copy_from_slice(&p.odd[y[0] as usize % p.odd.len()]);
    }
    compare(&p.v, &p.prepared[idx], msg, &sig);
});
