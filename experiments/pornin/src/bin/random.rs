//! Compare verify_strict and the Pornin path on many random valid and
//! invalid signatures (see `cases::random_case`). Exits 1 on the first
//! disagreement, printing the input.
//!
//! Usage: random [COUNT] [SEED]   (release build; see README.md)
use std::collections::HashMap;
use std::time::Instant;

use ed25519_dalek::{Signature, VerifyingKey};
use pornin_verify::cases::{random_case, RawKey};
use pornin_verify::{strict, PreparedKey, Verifier};
use rand::SeedableRng;

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count: u64 = args.get(1).map_or(1_000_000, |s| s.parse().expect("COUNT"));
    let seed: u64 = args.get(2).map_or(1, |s| s.parse().expect("SEED"));
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    // 40 torsion-free keys, one for each non-zero torsion component, and the
    // 8 small-order keys (secret 0).
    let mut keys: Vec<RawKey> = (0..40).map(|_| RawKey::random(&mut rng, 0)).collect();
    for t in 1..8 {
        keys.push(RawKey::random(&mut rng, t));
    }
    for t in 0..8 {
        keys.push(RawKey::new(curve25519_dalek::Scalar::ZERO, t));
    }
    let prepared: HashMap<[u8; 32], PreparedKey> = keys
        .iter()
        .map(|k| {
            let vk = VerifyingKey::from_bytes(&k.bytes()).expect("a point decodes");
            (k.bytes(), PreparedKey::new(vk))
        })
        .collect();

    let v = Verifier::new();
    let start = Instant::now();
    let (mut accepted, mut torsion_key, mut checked) = (0u64, 0u64, 0u64);
    for i in 0..count {
        let (a, msg, sig) = random_case(&mut rng, &keys);
        let key = &prepared[&a];
        let sig_t = Signature::from_bytes(&sig);
        let s = strict(key, &msg, &sig_t);
        let p = v.pornin(key, &msg, &sig_t);
        if s != p {
            println!(
                "MISMATCH at {i}: strict={s} pornin={p} key={} msg={} sig={}",
                hex(&a),
                hex(&msg),
                hex(&sig)
            );
            std::process::exit(1);
        }
        checked += 1;
        accepted += s as u64;
        torsion_key += !key.torsion_free() as u64;
        if (i + 1) % 250_000 == 0 {
            println!("{} compared, {:.0} s", i + 1, start.elapsed().as_secs_f64());
        }
    }
    println!(
        "seed {seed}: {checked} compared, identical verdicts; {accepted} accepted, {} rejected; {torsion_key} on keys with torsion (plain path); {:.1} s",
        checked - accepted,
        start.elapsed().as_secs_f64()
    );
}
