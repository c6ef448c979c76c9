//! Per-signature time of verify_strict and the alternatives, single thread,
//! interleaved: each round times every method on the same batch, in a
//! rotating order, and the ratios are taken within a round. Then the parts
//! (multiscalar kernels, lattice reduction, compression) the same way.
//!
//! Usage: speed [ROUNDS] [BATCH]   (release build; see README.md)
use std::hint::black_box;
use std::time::Instant;

use curve25519_dalek::constants::ED25519_BASEPOINT_POINT as B;
use curve25519_dalek::edwards::{EdwardsPoint, VartimeEdwardsPrecomputation};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{VartimeMultiscalarMul, VartimePrecomputedMultiscalarMul};
use ed25519_dalek::{Signature, Signer, SigningKey};
use pornin_verify::{lattice, strict, PreparedKey, Verifier};
use rand::{RngCore, SeedableRng};

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    v[v.len() / 2]
}

/// Run `methods` for `rounds` rounds over `batch` items each, rotating the
/// order; print the median ns per item and the median ratio to method 0.
fn compare(
    title: &str,
    rounds: usize,
    batch: usize,
    methods: &mut [(&str, &mut dyn FnMut(usize) -> bool)],
) {
    let n = methods.len();
    let mut times = vec![Vec::new(); n];
    let mut ratios = vec![Vec::new(); n];
    for round in 0..rounds {
        let mut t = vec![0f64; n];
        for j in 0..n {
            let m = (round + j) % n;
            let f = &mut methods[m].1;
            let start = Instant::now();
            let mut ok = 0usize;
            for i in 0..batch {
                ok += f(i) as usize;
            }
            t[m] = start.elapsed().as_nanos() as f64 / batch as f64;
            black_box(ok);
        }
        for m in 0..n {
            times[m].push(t[m]);
            ratios[m].push(t[m] / t[0]);
        }
    }
    println!("{title}");
    for m in 0..n {
        let mut tm = times[m].clone();
        let min = tm.iter().cloned().fold(f64::INFINITY, f64::min);
        println!(
            "  {:<44} median {:>9.0} ns  min {:>9.0} ns  ratio to first {:.3}",
            methods[m].0,
            median(&mut tm),
            min,
            median(&mut ratios[m])
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args.get(1).map_or(31, |s| s.parse().expect("ROUNDS"));
    let batch: usize = args.get(2).map_or(2000, |s| s.parse().expect("BATCH"));
    let mut rng = rand::rngs::StdRng::seed_from_u64(2020_454);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "rounds {rounds}, batch {batch}, loadavg at start: {}",
        load.trim()
    );

    // Valid signatures over 200-byte messages (about an event's size), 4 keys.
    let sks: Vec<SigningKey> = (0..4)
        .map(|_| {
            let mut seed = [0u8; 32];
            rng.fill_bytes(&mut seed);
            SigningKey::from_bytes(&seed)
        })
        .collect();
    let keys: Vec<PreparedKey> = sks
        .iter()
        .map(|s| PreparedKey::new(s.verifying_key()))
        .collect();
    let items: Vec<(usize, Vec<u8>, Signature)> = (0..batch)
        .map(|i| {
            let mut m = vec![0u8; 200];
            rng.fill_bytes(&mut m);
            let k = i % 4;
            let sig = sks[k].sign(&m);
            (k, m, sig)
        })
        .collect();
    let v = Verifier::new();
    for (k, m, s) in &items {
        let key = &keys[*k];
        assert!(
            strict(key, m, s)
                && v.pornin(key, m, s)
                && v.pornin_straus3(key, m, s)
                && v.fixed_base(key, m, s)
                && v.fixed_base64(key, m, s)
        );
    }

    compare(
        "whole verification, valid signatures (per signature):",
        rounds,
        batch,
        &mut [
            ("verify_strict (ed25519-dalek 2.2)", &mut |i| {
                let (k, m, s) = &items[i];
                strict(&keys[*k], m, s)
            }),
            ("pornin: precomputed Straus B,2^128B + A,R", &mut |i| {
                let (k, m, s) = &items[i];
                v.pornin(&keys[*k], m, s)
            }),
            ("pornin_straus3: Straus B,A,R", &mut |i| {
                let (k, m, s) = &items[i];
                v.pornin_straus3(&keys[*k], m, s)
            }),
            ("fixed_base: per-key table of -A (not Pornin)", &mut |i| {
                let (k, m, s) = &items[i];
                v.fixed_base(&keys[*k], m, s)
            }),
            ("fixed_base64: same, radix 64", &mut |i| {
                let (k, m, s) = &items[i];
                v.fixed_base64(&keys[*k], m, s)
            }),
        ],
    );

    // The kernels alone, on random inputs of the sizes each path sees.
    let full = |rng: &mut rand::rngs::StdRng| {
        let mut w = [0u8; 64];
        rng.fill_bytes(&mut w);
        Scalar::from_bytes_mod_order_wide(&w)
    };
    let half = |rng: &mut rand::rngs::StdRng| {
        Scalar::from((rng.next_u64() as u128) << 63 | rng.next_u64() as u128 >> 1)
    };
    let pts: Vec<EdwardsPoint> = (0..batch).map(|_| B * full(&mut rng)).collect();
    let pts2: Vec<EdwardsPoint> = (0..batch).map(|_| B * full(&mut rng)).collect();
    let fs: Vec<(Scalar, Scalar)> = (0..batch)
        .map(|_| (full(&mut rng), full(&mut rng)))
        .collect();
    let hs: Vec<[Scalar; 4]> = (0..batch)
        .map(|_| {
            [
                half(&mut rng),
                half(&mut rng),
                half(&mut rng),
                half(&mut rng),
            ]
        })
        .collect();
    let two128 = Scalar::from(1u128 << 64) * Scalar::from(1u128 << 64);
    let pre = VartimeEdwardsPrecomputation::new([B, B * two128]);
    compare(
        "kernels (per call):",
        rounds,
        batch,
        &mut [
            ("vartime_double_scalar_mul_basepoint, 253-bit", &mut |i| {
                black_box(EdwardsPoint::vartime_double_scalar_mul_basepoint(
                    &fs[i].0, &pts[i], &fs[i].1,
                ));
                true
            }),
            ("  same + compress (what verify_strict does)", &mut |i| {
                black_box(
                    EdwardsPoint::vartime_double_scalar_mul_basepoint(&fs[i].0, &pts[i], &fs[i].1)
                        .compress(),
                );
                true
            }),
            ("vartime_double_scalar_mul_basepoint, 127-bit", &mut |i| {
                black_box(EdwardsPoint::vartime_double_scalar_mul_basepoint(
                    &hs[i][0], &pts[i], &hs[i][1],
                ));
                true
            }),
            ("precomputed Straus, 4 x 127-bit (pornin)", &mut |i| {
                black_box(pre.vartime_mixed_multiscalar_mul(
                    &hs[i][..2],
                    &hs[i][2..],
                    [pts[i], pts2[i]],
                ));
                true
            }),
            ("Straus, 253 + 2 x 127-bit (pornin_straus3)", &mut |i| {
                black_box(EdwardsPoint::vartime_multiscalar_mul(
                    [fs[i].0, hs[i][0], hs[i][1]],
                    [B, pts[i], pts2[i]],
                ));
                true
            }),
            ("lattice::reduce", &mut |i| {
                black_box(lattice::reduce(fs[i].0.as_bytes())).is_some()
            }),
            ("compress", &mut |i| {
                black_box(pts[i].compress());
                true
            }),
            ("compress + decompress", &mut |i| {
                black_box(pts[i].compress().decompress());
                true
            }),
        ],
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("loadavg at end: {}", load.trim());
}
