//! Signed checkpoints and proof bundles (src/checkpoint.rs, src/merkle.rs,
//! src/note.rs) on small ledgers, exhaustively: every event in every later
//! checkpoint, every checkpoint extending every earlier one, each proof
//! equal to an independent RFC 6962 reference and accepted by `check-proof`
//! and `verify`; then tampering (every byte of a bundle and of a stored
//! checkpoint), split views, rollbacks, and the writer's Merkle cache.
//!
//! The witness, witness policies, log keys and publication are in
//! tests/checkpoints_cli.rs.

mod common;
mod prooflib;

use std::fs;
use std::path::Path;

use common::*;
use ledger::proofs::bundle::{self, Bundle};
use ledger::proofs::error::{CheckpointError, Request};
use prooflib::*;

/// The size of the ledgers of the exhaustive tests.
const N: u64 = 40;

/// A ledger `led` of `n` events (notes, drafts, signatures by ann and bob)
/// with a checkpoint signed at every size from 1 to `n` (by ann at even
/// sizes, bob at odd), and `trust/` holding the parties' public keys.
fn ledger_with_checkpoints(n: u64) -> (Fx, Vec<ledger::core::trust::TrustedKey>) {
    let fx = Fx::with_ledger();
    let trusted = trust(&fx);
    grow(&fx, n, true);
    (fx, trusted)
}

fn usage_err<T: std::fmt::Debug>(r: Result<T, CheckpointError>) -> Request {
    match r {
        Err(CheckpointError::Usage(r)) => r,
        other => panic!("expected a usage error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// 1. Exhaustive: every event, every checkpoint, every pair
// ---------------------------------------------------------------------------

/// For each of the 40 checkpoints (sizes 1..=40) and every event before it,
/// `prove_event` gives exactly the RFC 6962 PATH of the reference, and
/// `check_bundle` accepts the encoded bundle with the right size, root and
/// event; for every pair of checkpoints old <= new, `prove_growth` gives
/// exactly PROOF(old, new) and `check_bundle` accepts it. Events at or past
/// a checkpoint's size, and old > new, are usage errors.
#[test]
fn library_proves_every_event_in_every_checkpoint_and_every_growth() {
    let (fx, trusted) = ledger_with_checkpoints(N);
    let dir = fx.p("led");
    let leaves = leaves(&dir);
    assert_eq!(leaves.len() as u64, N);
    let cps: Vec<Vec<u8>> = (0..=N)
        .map(|s| {
            if s == 0 {
                vec![]
            } else {
                read_cp(&fx, "led", s)
            }
        })
        .collect();
    let mut inclusions = 0;
    for s in 1..=N {
        let (_, size, root) = note_body(&cps[s as usize]);
        assert_eq!(size, s);
        assert_eq!(root, mth(&leaves[..s as usize]), "root of checkpoint {s}");
        for i in 0..s {
            let b = bundle::prove_event(&dir, i, Some(cps[s as usize].clone()))
                .unwrap_or_else(|e| panic!("prove event {i} in {s}: {e}"));
            let Bundle::Inclusion {
                index,
                ref event,
                ref proof,
                ref checkpoint,
            } = b
            else {
                panic!("not an inclusion bundle")
            };
            assert_eq!(index, i);
            assert_eq!(leaf_hash(event), leaves[i as usize], "event {i}");
            assert_eq!(
                *proof,
                path(i as usize, &leaves[..s as usize]),
                "{i} in {s}"
            );
            assert_eq!(*checkpoint, cps[s as usize]);
            let bytes = b.encode();
            assert_eq!(Bundle::decode(&bytes).unwrap(), b, "round trip {i} in {s}");
            let p = bundle::check_bundle(&bytes, &trusted, None)
                .unwrap_or_else(|e| panic!("check event {i} in {s}: {e}"));
            assert_eq!(p.kind, "inclusion");
            assert_eq!(p.size, s);
            assert_eq!(p.root, hex::encode(root));
            assert_eq!(p.event.as_ref().unwrap().index, i);
            assert_eq!(
                p.signed_by,
                vec![format!("trust/{}.pub", checkpoint_signer(s))]
            );
            inclusions += 1;
        }
        let r = usage_err(bundle::prove_event(&dir, s, Some(cps[s as usize].clone())));
        assert!(
            matches!(r, Request::NotInCheckpoint { index, size } if index == s && size == s),
            "{r:?}"
        );
        assert!(
            r.to_string()
                .starts_with(&format!("event {s} is not in the checkpoint")),
            "{r}"
        );
    }
    assert_eq!(inclusions, N * (N + 1) / 2);

    let mut growths = 0;
    for o in 1..=N {
        for n in o..=N {
            let b =
                bundle::prove_growth(&dir, cps[o as usize].clone(), Some(cps[n as usize].clone()))
                    .unwrap_or_else(|e| panic!("prove {o} -> {n}: {e}"));
            let Bundle::Consistency { ref proof, .. } = b else {
                panic!("not a consistency bundle")
            };
            assert_eq!(
                *proof,
                consistency(o as usize, &leaves[..n as usize]),
                "{o} -> {n}"
            );
            let p = bundle::check_bundle(&b.encode(), &trusted, None)
                .unwrap_or_else(|e| panic!("check {o} -> {n}: {e}"));
            assert_eq!((p.kind, p.old_size, p.size), ("consistency", Some(o), n));
            growths += 1;
        }
        if o > 1 {
            let r = usage_err(bundle::prove_growth(
                &dir,
                cps[o as usize].clone(),
                Some(cps[o as usize - 1].clone()),
            ));
            assert!(
                matches!(r, Request::OldLarger { old, new } if old == o && new == o - 1),
                "{r:?}"
            );
            assert!(r.to_string().contains("larger than the new one"), "{r}");
        }
    }
    assert_eq!(growths, N * (N + 1) / 2);
}

/// The CLI agrees with the library byte for byte: `ledger prove --event`
/// for every event of a sample of checkpoint sizes (powers of two and
/// their neighbours), and `ledger prove --from` for every pair of those
/// sizes, write the library's bundles, which `check-proof` accepts (exit 0,
/// one OK line naming the event or sizes). `verify --json` lists every one
/// of the 40 checkpoints as valid, signed by the right party, and its tree
/// root is the reference root.
#[test]
fn cli_prove_and_check_proof_agree_with_the_library_and_with_verify() {
    let (fx, _) = ledger_with_checkpoints(N);
    let dir = fx.p("led");
    let leaves = leaves(&dir);

    let report = fx.report();
    assert_eq!(report["tree_root"], hex::encode(mth(&leaves)));
    let cps = report["checkpoints"].as_array().unwrap();
    assert_eq!(cps.len() as u64, N, "{report:#}");
    let mut sizes: Vec<u64> = cps.iter().map(|c| c["size"].as_u64().unwrap()).collect();
    sizes.sort();
    assert_eq!(sizes, (1..=N).collect::<Vec<_>>());
    for c in cps {
        let s = c["size"].as_u64().unwrap();
        assert_eq!(c["valid"], true, "{c}");
        assert_eq!(c["file"], s.to_string(), "{c}");
        assert_eq!(
            c["signed_by"],
            serde_json::json!([checkpoint_signer(s)]),
            "{c}"
        );
        assert_eq!(c["cosigned_by"], serde_json::json!([]), "{c}");
        assert!(c.get("problem").is_none(), "{c}");
    }

    let sample = [1u64, 2, 3, 5, 8, 13, 16, 17, 32, 33, N];
    let mut runs = 0;
    for &s in &sample {
        let cp_path = format!("led/checkpoints/{s}");
        let cp = fx.read(&cp_path);
        for i in 0..s {
            let out = format!("inc-{i}-{s}");
            fx.run(&[
                "prove",
                "led",
                "--event",
                &i.to_string(),
                "--checkpoint",
                &cp_path,
                "-o",
                &out,
            ])
            .ok();
            let lib = bundle::prove_event(&dir, i, Some(cp.clone())).unwrap();
            assert_eq!(fx.read(&out), lib.encode(), "event {i} in {s}");
            let r = fx.run(&["check-proof", &out, "--trust", "trust"]);
            r.ok();
            assert!(r.stdout.starts_with(&format!("OK: event #{i} (")), "{r}");
            assert!(r.stdout.contains(&format!(" at size {s}, root ")), "{r}");
            assert_eq!(r.stdout.lines().count(), 2, "{r}");
            let last = r.stdout.lines().last().unwrap();
            assert!(
                last.starts_with("not checked (needs the whole log): "),
                "{r}"
            );
            runs += 2;
        }
    }
    for (a, &o) in sample.iter().enumerate() {
        for &n in &sample[a..] {
            let out = format!("con-{o}-{n}");
            let (old, new) = (
                format!("led/checkpoints/{o}"),
                format!("led/checkpoints/{n}"),
            );
            fx.run(&[
                "prove",
                "led",
                "--from",
                &old,
                "--checkpoint",
                &new,
                "-o",
                &out,
            ])
            .ok();
            let lib = bundle::prove_growth(&dir, fx.read(&old), Some(fx.read(&new))).unwrap();
            assert_eq!(fx.read(&out), lib.encode(), "{o} -> {n}");
            let r = fx.run(&["check-proof", &out, "--trust", "trust"]);
            r.ok();
            assert!(
                r.stdout.starts_with(&format!(
                    "OK: the log at size {o} is a prefix of (only grew into) "
                )),
                "{r}"
            );
            assert!(r.stdout.contains(&format!(" at size {n}, root ")), "{r}");
            runs += 2;
        }
    }
    // Without --checkpoint, the largest stored checkpoint is used.
    fx.run(&["prove", "led", "--event", "0", "-o", "default"])
        .ok();
    assert_eq!(fx.read("default"), fx.read(&format!("inc-0-{N}")));
    fx.run(&[
        "prove",
        "led",
        "--from",
        "led/checkpoints/8",
        "-o",
        "default-from",
    ])
    .ok();
    assert_eq!(fx.read("default-from"), fx.read(&format!("con-8-{N}")));
    // `prove` refuses to overwrite, and an event past the checkpoint.
    fx.refused(
        &["prove", "led", "--event", "0", "-o", "default"],
        2,
        "cannot create default",
    );
    fx.refused(
        &[
            "prove",
            "led",
            "--event",
            "8",
            "--checkpoint",
            "led/checkpoints/8",
            "-o",
            "x",
        ],
        2,
        "event 8 is not in the checkpoint, whose tree has 8 events (0 to 7)",
    );
    fx.refused(
        &[
            "prove",
            "led",
            "--from",
            "led/checkpoints/9",
            "--checkpoint",
            "led/checkpoints/8",
            "-o",
            "x",
        ],
        2,
        "the old checkpoint (size 9) is larger than the new one (size 8)",
    );
    assert!(runs > 400, "{runs}");
}

/// A bundle whose checkpoint is swapped for another genuine checkpoint of
/// the same ledger is accepted only if its proof is also the genuine proof
/// for that checkpoint (for every event in {0, 1, size-1} and every pair of
/// sizes): a signed checkpoint binds the size and root a proof is checked
/// against.
#[test]
fn a_proof_checks_out_only_against_the_checkpoint_it_was_made_for() {
    let (fx, trusted) = ledger_with_checkpoints(24);
    let dir = fx.p("led");
    let leaves = leaves(&dir);
    let mut accepted_elsewhere = 0;
    let mut cases = 0;
    for s in 1..=24u64 {
        let mut events = vec![0, 1, s - 1];
        events.retain(|&i| i < s);
        events.dedup();
        for i in events {
            let b = bundle::prove_event(&dir, i, Some(read_cp(&fx, "led", s))).unwrap();
            let Bundle::Inclusion {
                index,
                event,
                proof,
                ..
            } = b
            else {
                unreachable!()
            };
            for t in 1..=24u64 {
                let spliced = Bundle::Inclusion {
                    index,
                    event: event.clone(),
                    proof: proof.clone(),
                    checkpoint: read_cp(&fx, "led", t),
                };
                let genuine = i < t && path(i as usize, &leaves[..t as usize]) == proof;
                let got = bundle::check_bundle(&spliced.encode(), &trusted, None);
                assert_eq!(
                    got.is_ok(),
                    genuine,
                    "event {i}: proof for {s}, checkpoint {t}"
                );
                if let Err(e) = got {
                    assert!(matches!(e, CheckpointError::Refuted(_)), "{e:?}");
                }
                if genuine && s != t {
                    accepted_elsewhere += 1;
                }
                cases += 1;
            }
        }
        // And a consistency proof spliced onto another pair.
        if s >= 2 {
            let b = bundle::prove_growth(
                &dir,
                read_cp(&fx, "led", s - 1),
                Some(read_cp(&fx, "led", s)),
            )
            .unwrap();
            let Bundle::Consistency { proof, .. } = b else {
                unreachable!()
            };
            for t in s..=24u64 {
                let spliced = Bundle::Consistency {
                    old: read_cp(&fx, "led", s - 1),
                    new: read_cp(&fx, "led", t),
                    proof: proof.clone(),
                };
                let genuine = consistency(s as usize - 1, &leaves[..t as usize]) == proof;
                let got = bundle::check_bundle(&spliced.encode(), &trusted, None);
                assert_eq!(
                    got.is_ok(),
                    genuine,
                    "growth {} -> {s} spliced to {t}",
                    s - 1
                );
                cases += 1;
            }
        }
    }
    assert!(cases > 1000, "{cases}");
    eprintln!("{cases} spliced bundles, {accepted_elsewhere} genuine for another size");
}

// ---------------------------------------------------------------------------
// 2. Tampering
// ---------------------------------------------------------------------------

/// A problem with one run of the binary in a sweep: it must fail with exit
/// 1 or 2, one line on stderr, no panic, nothing on stdout.
fn refusal_problem(what: &str, r: &Run) -> Option<String> {
    if !matches!(r.code, Some(1) | Some(2)) {
        return Some(format!("{what}: exit {:?}\n{r}", r.code));
    }
    if let Some(p) = message_problem(&r.stderr) {
        return Some(format!("{what}: {p}\n{r}"));
    }
    if !r.stdout.is_empty() {
        return Some(format!("{what}: stdout\n{r}"));
    }
    None
}

/// Every single-bit flip of every byte of `bundle` is refused by the
/// library; every xor 0x01 of every byte is refused by `check-proof` (exit
/// 1 or 2, one line, no panic). So is every truncation, and a byte added.
fn sweep_bundle(fx: &Fx, bundle: &str, trusted: &[ledger::core::trust::TrustedKey]) {
    let good = fx.read(bundle);
    bundle::check_bundle(&good, trusted, None).unwrap();
    let mut lib = 0;
    for at in 0..good.len() {
        for bit in 0..8 {
            let mut b = good.clone();
            b[at] ^= 1 << bit;
            assert!(
                bundle::check_bundle(&b, trusted, None).is_err(),
                "{bundle}: byte {at} ^ {:#04x} accepted",
                1 << bit
            );
            lib += 1;
        }
    }
    for len in 0..good.len() {
        assert!(
            bundle::check_bundle(&good[..len], trusted, None).is_err(),
            "{bundle}: truncated to {len} accepted"
        );
    }
    let mut longer = good.clone();
    longer.push(0);
    assert!(bundle::check_bundle(&longer, trusted, None).is_err());
    assert_eq!(lib, good.len() * 8);
    eprintln!(
        "{bundle}: {} bytes, {lib} bit flips refused in-process",
        good.len()
    );

    let template = fx.p("sweep-template");
    fs::create_dir_all(&template).unwrap();
    copy_dir(&fx.p("trust"), &template.join("trust"));
    let (bin, _) = sweep_bin();
    let problems = sweep(&template, &fx.p("sweep"), good.len() + 1, |i, dir| {
        let mut b = good.clone();
        if i < good.len() {
            b[i] ^= 0x01;
        } else {
            b.truncate(b.len() / 2);
        }
        fs::write(dir.join("x"), &b).unwrap();
        let r = run_bin(&bin, dir, &["check-proof", "x", "--trust", "trust"]);
        refusal_problem(&format!("{bundle} byte {i}"), &r)
    });
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    fs::remove_dir_all(fx.p("sweep")).unwrap();
    fs::remove_dir_all(&template).unwrap();
}

/// An inclusion bundle (event 13, a draft with its document hash, in the
/// checkpoint of size 40 signed by ann alone): every flipped byte refused.
#[test]
fn every_flipped_byte_of_an_inclusion_bundle_is_refused() {
    let fx = Fx::with_ledger();
    let trusted = trust(&fx);
    grow(&fx, N, false);
    fx.run(&["prove", "led", "--event", "13", "-o", "inc"]).ok();
    fx.run(&["check-proof", "inc", "--trust", "trust"]).ok();
    sweep_bundle(&fx, "inc", &trusted);
}

/// A consistency bundle (17 -> 40): every flipped byte refused.
#[test]
fn every_flipped_byte_of_a_consistency_bundle_is_refused() {
    let fx = Fx::with_ledger();
    let trusted = trust(&fx);
    grow(&fx, 17, false);
    fs::copy(fx.p("led/checkpoints/17"), fx.p("old17")).unwrap();
    grow(&fx, N, false);
    fx.run(&["prove", "led", "--from", "old17", "-o", "con"])
        .ok();
    fx.run(&["check-proof", "con", "--trust", "trust"]).ok();
    sweep_bundle(&fx, "con", &trusted);
}

/// Every byte of the stored checkpoint of size 40, flipped (xor 0x01):
/// `verify` exits 1 with one line naming `checkpoints/40`; restored, it
/// passes again. The other stored checkpoint (size 17) stays valid.
#[test]
fn every_flipped_byte_of_a_stored_checkpoint_fails_verify_naming_it() {
    let fx = Fx::with_ledger();
    grow(&fx, 17, false);
    grow(&fx, N, false);
    let report = fx.report();
    assert_eq!(report["checkpoints"].as_array().unwrap().len(), 2);
    let good = fx.read("led/checkpoints/40");
    let (bin, _) = sweep_bin();
    let problems = sweep(&fx.p("led"), &fx.p("sweep"), good.len(), |i, dir| {
        let path = dir.join("checkpoints/40");
        let mut b = good.clone();
        b[i] ^= 0x01;
        fs::write(&path, &b).unwrap();
        let r = run_bin(&bin, dir, &["verify", "--quiet", "."]);
        fs::write(&path, &good).unwrap();
        let problem = if r.code != Some(1) {
            Some(format!("exit {:?}", r.code))
        } else if let Some(p) = message_problem(&r.stderr) {
            Some(p)
        } else if !r.stderr.contains("verification failed: checkpoints/40: ") {
            Some("stderr does not name checkpoints/40".into())
        } else {
            None
        };
        problem.map(|p| format!("byte {i} ({:?}): {p}\n{r}", good[i] as char))
    });
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    eprintln!(
        "checkpoints/40: {} bytes flipped, verify refused each",
        good.len()
    );
    fx.report();
}

/// A checkpoint whose root is not that of the ledger's first `size` events,
/// signed by a party (a split view: the party signed another history), is
/// refused everywhere: `verify` (exit 1, "split view or rewritten
/// history", naming the file), whether it replaces a stored checkpoint or
/// comes at a new size; `prove --event/--from --checkpoint` and `witness
/// request` with it (exit 1); `checkpoint --add` of it (exit 1); a bundle
/// built by hand around it with a genuine proof (exit 1); and signing the
/// real checkpoint of that size while the forged one is stored (exit 1,
/// "split view or rewritten history", nothing changed).
#[test]
fn a_checkpoint_of_another_root_is_a_split_view() {
    let fx = Fx::with_ledger();
    let trusted = trust(&fx);
    grow(&fx, 7, false);
    grow(&fx, 12, false);
    let leaves = leaves(&fx.p("led"));
    let (origin, _, _) = note_body(&fx.read("led/checkpoints/7"));
    let ann = key(&fx, "ann");
    let genuine7 = fx.read("led/checkpoints/7");

    // Size 7 with the root of size 8 (a real root, of another size), and
    // with a root of nothing at all.
    for (label, root) in [("root of 8", mth(&leaves[..8])), ("zero root", [0u8; 32])] {
        let forged = forge(&origin, 7, root, &ann);
        fx.write("led/checkpoints/7", &forged);
        fx.write("forged7", &forged);
        let r = fx.run(&["verify", "led"]);
        r.fails(
            1,
            "verification failed: checkpoints/7: the checkpoint's root for size 7 is ",
        );
        assert!(
            r.stderr.contains("a split view or rewritten history"),
            "{label}: {r}"
        );
        assert!(
            r.stderr.contains(&hex::encode(mth(&leaves[..7]))),
            "{label}: {r}"
        );
        // verify --json prints the verdict and the reason.
        let j = fx.run(&["--json", "verify", "led"]);
        j.fails_json(1, "checkpoints/7");
        assert_eq!(j.json()["verified"], false, "{j}");
        fx.write("led/checkpoints/7", &genuine7);
        fx.report();

        fx.refused(
            &[
                "prove",
                "led",
                "--event",
                "3",
                "--checkpoint",
                "forged7",
                "-o",
                "x",
            ],
            1,
            "the checkpoint of size 7 does not match this ledger's first 7 events",
        );
        fx.refused(
            &["prove", "led", "--from", "forged7", "-o", "x"],
            1,
            "the old checkpoint (size 7) is not of this ledger's history",
        );
        fx.refused(
            &[
                "prove",
                "led",
                "--from",
                "led/checkpoints/7",
                "--checkpoint",
                "forged7",
                "-o",
                "x",
            ],
            1,
            "the new checkpoint (size 7) is not of this ledger's history",
        );
        fx.refused(
            &[
                "witness",
                "request",
                "led",
                "--old",
                "0",
                "--checkpoint",
                "forged7",
                "-o",
                "x",
            ],
            1,
            "the checkpoint of size 7 does not match this ledger",
        );
        fx.refused(
            &["checkpoint", "led", "--add", "forged7"],
            1,
            "--add: the checkpoint's root for size 7 does not match this ledger's tree",
        );
        assert!(!fx.p("x").exists());

        // A bundle made by hand: the genuine event and proof, the forged
        // checkpoint.
        let Bundle::Inclusion {
            index,
            event,
            proof,
            ..
        } = bundle::prove_event(&fx.p("led"), 3, Some(genuine7.clone())).unwrap()
        else {
            unreachable!()
        };
        let b = Bundle::Inclusion {
            index,
            event,
            proof,
            checkpoint: forged.clone(),
        };
        fx.write("hand", b.encode());
        fx.run(&["check-proof", "hand", "--trust", "trust"])
            .fails(1, "event 3 is not proven to be in the checkpoint of size 7");
        assert!(bundle::check_bundle(&b.encode(), &trusted, None).is_err());
    }

    // A forged checkpoint at a size with no stored one.
    fx.write(
        "led/checkpoints/9",
        forge(&origin, 9, mth(&leaves[..10]), &ann),
    );
    fx.run(&["verify", "led"])
        .fails(1, "checkpoints/9: the checkpoint's root for size 9 is ");
    fs::remove_file(fx.p("led/checkpoints/9")).unwrap();

    // A genuine checkpoint stored under another size's name; a checkpoint
    // of another ledger (origin); a temporary file (ignored).
    fx.write("led/checkpoints/8", &genuine7);
    fx.run(&["verify", "led"]).fails(
        1,
        "checkpoints/8: the file holds a checkpoint of size 7; checkpoints are stored under their size",
    );
    fs::remove_file(fx.p("led/checkpoints/8")).unwrap();
    let other = "ledger/00000000000000000000000000000000";
    fx.write(
        "led/checkpoints/5",
        forge(other, 5, mth(&leaves[..5]), &ann),
    );
    fx.run(&["verify", "led"]).fails(
        1,
        &format!(
            "checkpoints/5: the checkpoint is for origin {other:?}, not this ledger's {origin:?}"
        ),
    );
    fs::remove_file(fx.p("led/checkpoints/5")).unwrap();
    // A temporary file is no checkpoint: warned about, not judged.
    fx.write("led/checkpoints/.tmp-5", b"half a checkpoint");
    let r = fx.run(&["verify", "--json", "led"]);
    assert_eq!(r.code, Some(0), "{r}");
    assert_eq!(r.json()["checkpoints"].as_array().unwrap().len(), 2);
    assert!(
        r.stderr.contains("checkpoints/.tmp-5 is a temporary file"),
        "{r}"
    );
    fs::remove_file(fx.p("led/checkpoints/.tmp-5")).unwrap();

    // The current size: the writer will not sign the real tree beside the
    // forged one, and says why.
    let forged12 = forge(&origin, 12, mth(&leaves[..11]), &ann);
    fx.write("led/checkpoints/12", &forged12);
    fx.refused(
        &["checkpoint", "led", "--key", "keys/bob.key"],
        1,
        "checkpoints/12 holds a different checkpoint for size 12",
    );
    assert_eq!(fx.read("led/checkpoints/12"), forged12);
    let r = fx.run(&["verify", "led"]);
    r.fails(1, "split view or rewritten history");
}

/// The main checkpoint failures, as the library types them (the CLI tests
/// check their messages): a stored checkpoint of another root is a split
/// view with both roots (`verify`), and so is that checkpoint given to
/// `prove`; a bundle whose checkpoint none of the trusted keys signed is
/// `Untrusted` (with the counts its message gives); one cosigned by too few
/// of a policy's witnesses is `Quorum`, naming those that did, and `verify`
/// with that policy says so of the latest stored checkpoint.
#[test]
fn checkpoint_failures_are_typed() {
    use ledger::core::verify::{Cause, CheckpointProblem, WitnessFailure};
    use ledger::proofs::error::{LedgerProblem, Refutation};
    use ledger::tlog::note::{self, Note, NoteVerifier, QuorumNotMet, VerifierKind};

    let fx = Fx::with_ledger();
    let trusted = trust(&fx);
    grow(&fx, 7, false);
    let dir = fx.p("led");
    let leaves = leaves(&dir);
    let genuine = read_cp(&fx, "led", 7);
    let (origin, _, _) = note_body(&genuine);
    let refutation = |r: Result<bundle::Proven, CheckpointError>| match r {
        Err(CheckpointError::Refuted(r)) => r,
        other => panic!("expected a refutation, got {other:?}"),
    };

    // Split view: the stored checkpoint of size 7 has another root.
    let forged = forge(&origin, 7, [9; 32], &key(&fx, "ann"));
    fx.write("led/checkpoints/7", &forged);
    let f = match ledger::verify(&dir, &ledger::Options::default()) {
        Err(ledger::VerifyError::Failed(f)) => f,
        other => panic!("expected a refutation, got {other:?}"),
    };
    assert_eq!(
        f.cause,
        Cause::Checkpoint {
            file: "checkpoints/7".into(),
            problem: Box::new(CheckpointProblem::SplitView {
                size: 7,
                checkpoint: [9; 32],
                ledger: mth(&leaves[..7]),
            }),
        }
    );
    match bundle::prove_event(&dir, 0, Some(forged)) {
        Err(CheckpointError::Refuted(Refutation::Ledger(LedgerProblem::RootDiffers {
            size: 7,
        }))) => {}
        other => panic!("expected RootDiffers, got {other:?}"),
    }
    fx.write("led/checkpoints/7", &genuine);

    // No trusted signature: bob signed checkpoint 7; trust only ann.
    let b = bundle::prove_event(&dir, 3, None).unwrap().encode();
    let ann_only: Vec<_> = trusted
        .iter()
        .filter(|t| t.label.contains("ann"))
        .cloned()
        .collect();
    match refutation(bundle::check_bundle(&b, &ann_only, None)) {
        Refutation::Checkpoint(CheckpointProblem::Untrusted {
            size: 7,
            signatures: 1,
            trusted: 1,
            origin: o,
        }) => assert_eq!(o, origin),
        other => panic!("expected Untrusted, got {other:?}"),
    }

    // Quorum: witnesses w0, w1 (quorum 2); only w1 cosigns checkpoint 7.
    let w: Vec<_> = (0..2u8)
        .map(|i| key_file_from_seed(fx.root(), &format!("w{i}.key"), &[0x40 + i; 32]).1)
        .collect();
    let vk = |i: usize| {
        NoteVerifier::new(
            &format!("w{i}.example"),
            VerifierKind::CosignatureV1,
            w[i].public(),
        )
        .unwrap()
    };
    let policy = note::WitnessPolicy::new(vec![vk(0), vk(1)], 2).unwrap();
    let mut n = Note::parse(&genuine).unwrap();
    let text = n.text().to_owned();
    n.push_signature(note::cosign(&text, "w1.example", &w[1], 1_700_000_000).unwrap())
        .unwrap();
    fx.write("led/checkpoints/7", n.to_bytes());
    let b = bundle::prove_event(&dir, 3, None).unwrap().encode();
    assert!(bundle::check_bundle(&b, &trusted, None).is_ok());
    let expected = QuorumNotMet {
        size: 7,
        cosigned: vec!["w1.example".into()],
        witnesses: 2,
        quorum: 2,
    };
    match refutation(bundle::check_bundle(&b, &trusted, Some(&policy))) {
        Refutation::Checkpoint(CheckpointProblem::Quorum(q)) => assert_eq!(q, expected),
        other => panic!("expected Quorum, got {other:?}"),
    }
    let options = ledger::Options {
        witnesses: Some(policy),
        ..ledger::Options::default()
    };
    match ledger::verify(&dir, &options) {
        Err(ledger::VerifyError::Failed(f)) => assert_eq!(
            f.cause,
            Cause::Witness(WitnessFailure::Quorum {
                file: "checkpoints/7".into(),
                cosigned: 1,
                witnesses: 2,
                quorum: 2,
            })
        ),
        other => panic!("expected a quorum refutation, got {other:?}"),
    }
}

/// A checkpoint larger than the ledger, after the log was truncated to an
/// event boundary (and the cache removed): `verify` exits 1 saying it was
/// truncated or rolled back; without those checkpoints it passes; and
/// rewriting the lost events differently, the writer refuses to sign the
/// new tree at a size whose checkpoint is stored.
#[test]
fn a_checkpoint_beyond_a_truncated_log_fails_verify_and_blocks_a_rewrite() {
    let fx = Fx::with_ledger();
    for s in [10, 20, 30, N] {
        grow(&fx, s, false);
    }
    let offsets: Vec<u64> = fx.report()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["offset"].as_u64().unwrap())
        .collect();
    let log = fx.read("led/events.cbor");
    fx.write("led/events.cbor", &log[..offsets[25] as usize]);
    fs::remove_dir_all(fx.p("led/cache")).unwrap();
    let r = fx.run(&["verify", "led"]);
    r.fails(
        1,
        "verification failed: checkpoints/30: the checkpoint is of size 30, but the ledger has only 25 events: it has been truncated or rolled back",
    );
    // Also when the truncated log keeps its cache (the writer's cache is
    // never read by verify): same verdict. And with only checkpoints/40.
    let c30 = fx.read("led/checkpoints/30");
    fs::remove_file(fx.p("led/checkpoints/30")).unwrap();
    fx.run(&["verify", "led"]).fails(
        1,
        "checkpoints/40: the checkpoint is of size 40, but the ledger has only 25 events",
    );
    let c40 = fx.read("led/checkpoints/40");
    fs::remove_file(fx.p("led/checkpoints/40")).unwrap();
    // The documents of the cut events are still in docs/: warned about
    // (`ledger repair` removes them), the verdict unchanged.
    let r = fx.run(&["verify", "--json", "led"]);
    assert_eq!(r.code, Some(0), "{r}");
    let report = r.json();
    assert_eq!(report["count"], 25);
    assert_eq!(report["checkpoints"].as_array().unwrap().len(), 2);
    let warnings = report["warnings"].as_array().unwrap();
    assert!(!warnings.is_empty(), "{r}");
    assert!(warnings.iter().all(|w| w["kind"] == "unreferenced"), "{r}");
    // Proofs against the stored checkpoint of size 40 are refused: the
    // ledger no longer has those events.
    fx.write("c40", &c40);
    fx.refused(
        &[
            "prove",
            "led",
            "--event",
            "3",
            "--checkpoint",
            "c40",
            "-o",
            "x",
        ],
        1,
        "the checkpoint is of size 40, but the ledger has only 25 events",
    );
    // Rewrite events 25..30 differently: the stored checkpoint of size 30
    // (put back) makes the writer refuse to sign the new tree of size 30.
    fx.write("led/checkpoints/30", &c30);
    grow_dir(&fx, "led", 29, false, " (rewritten)");
    let t = fx.at();
    fx.run(&[
        "append",
        "led",
        "--key",
        "keys/ann.key",
        "--at",
        &t,
        "note",
        "--text",
        "other",
    ])
    .ok();
    fx.refused(
        &["checkpoint", "led", "--key", "keys/ann.key"],
        1,
        "checkpoints/30 holds a different checkpoint for size 30: this ledger's tree has changed since it was signed (split view or rewritten history)",
    );
    fx.run(&["verify", "led"])
        .fails(1, "checkpoints/30: the checkpoint's root for size 30 is ");
}

// ---------------------------------------------------------------------------
// 6. The writer's Merkle cache
// ---------------------------------------------------------------------------

/// The bundles and requests `prove`/`witness request` make for `led` with
/// checkpoints 17 and 40: inclusion of events 0, 2, 3, 16, 39 in 40 and of
/// 5 in 17, growth 17 -> 40, and the add-checkpoint request from 17. Each
/// run must succeed; returns name -> bytes.
fn proofs(fx: &Fx, tag: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut go = |name: String, args: Vec<String>| {
        let file = format!("{tag}-{name}");
        let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
        all.extend(["-o", file.as_str()]);
        fx.run(&all).ok();
        out.push((name, fx.read(&file)));
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    for i in [0, 2, 3, 16, 39] {
        go(
            format!("event{i}"),
            s(&["prove", "led", "--event", &i.to_string()]),
        );
    }
    go(
        "event5in17".into(),
        s(&[
            "prove",
            "led",
            "--event",
            "5",
            "--checkpoint",
            "led/checkpoints/17",
        ]),
    );
    go(
        "growth".into(),
        s(&["prove", "led", "--from", "led/checkpoints/17"]),
    );
    go(
        "request".into(),
        s(&["witness", "request", "led", "--old", "17"]),
    );
    out
}

fn cache_ledger() -> Fx {
    let fx = Fx::with_ledger();
    grow(&fx, 17, false);
    grow(&fx, N, false);
    fx
}

/// Deleting or truncating the writer's cache/tree and cache/offsets (or the
/// whole cache) changes nothing a reader makes: `prove` and `witness
/// request` never read or write the cache (they index the log in memory)
/// and write the same bytes as before, leaving the damaged cache as it
/// was; the next writer (`checkpoint`) rebuilds the tree and offsets files
/// with the same bytes as those kept while appending.
#[test]
fn prove_ignores_a_damaged_cache_and_the_writer_rebuilds_it_with_identical_bytes() {
    let fx = cache_ledger();
    let tree = fx.read("led/cache/tree");
    let offsets = fx.read("led/cache/offsets");
    assert_eq!(offsets.len() as u64, N * 8);
    assert_eq!(
        tree.len() as u64,
        ledger::tlog::merkle::stored_hash_count(N).unwrap() * 32
    );
    let before = proofs(&fx, "before");
    let cases: [Damage; 7] = [
        ("tree deleted", &|d: &Path| {
            fs::remove_file(d.join("cache/tree")).unwrap()
        }),
        ("offsets deleted", &|d: &Path| {
            fs::remove_file(d.join("cache/offsets")).unwrap()
        }),
        ("offsets halved", &|d: &Path| {
            let p = d.join("cache/offsets");
            let b = fs::read(&p).unwrap();
            fs::write(&p, &b[..b.len() / 2]).unwrap()
        }),
        ("offsets one byte short", &|d: &Path| {
            let p = d.join("cache/offsets");
            let b = fs::read(&p).unwrap();
            fs::write(&p, &b[..b.len() - 1]).unwrap()
        }),
        ("tree emptied", &|d: &Path| {
            fs::write(d.join("cache/tree"), b"").unwrap()
        }),
        ("tree with a hash too many", &|d: &Path| {
            let p = d.join("cache/tree");
            let mut b = fs::read(&p).unwrap();
            b.extend_from_slice(&[7; 32]);
            fs::write(&p, &b).unwrap()
        }),
        ("cache deleted", &|d: &Path| {
            fs::remove_dir_all(d.join("cache")).unwrap()
        }),
    ];
    for (i, (label, damage)) in cases.iter().enumerate() {
        damage(&fx.p("led"));
        let damaged = cache_files(&fx);
        let after = proofs(&fx, &format!("case{i}"));
        for ((name, a), (_, b)) in before.iter().zip(&after) {
            assert!(a == b, "{label}: {name} differs");
        }
        assert_eq!(
            cache_files(&fx),
            damaged,
            "{label}: a reader wrote to the cache"
        );
        fx.run(&["checkpoint", "led", "--key", "keys/ann.key"]).ok();
        assert_eq!(fx.read("led/cache/tree"), tree, "{label}: rebuilt tree");
        assert_eq!(
            fx.read("led/cache/offsets"),
            offsets,
            "{label}: rebuilt offsets"
        );
    }
    fx.report();
}

/// The cache's files, by name: what a reader must leave as it is.
fn cache_files(fx: &Fx) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    if let Ok(entries) = fs::read_dir(fx.p("led/cache")) {
        for e in entries.flatten() {
            if e.path().is_file() {
                out.insert(
                    e.file_name().to_string_lossy().into_owned(),
                    fs::read(e.path()).unwrap(),
                );
            }
        }
    }
    out
}

/// One way of damaging a ledger's cache, named.
type Damage<'a> = (&'a str, &'a dyn Fn(&Path));

/// The stored index of the leaf hash of event `i`.
fn leaf_index(i: u64) -> usize {
    ledger::tlog::merkle::stored_hash_index(0, i).unwrap() as usize
}

/// A cache/tree file of the right length with one wrong hash (the leaf
/// hash of event 2, which is not on the path from the frontier to the
/// root, so the writer's only check, the root, still holds) must not make
/// `prove` refute the ledger's own checkpoints: it must give the same bytes
/// as before (after a rebuild) or fail with exit 2 naming the cache. Exit 1
/// would say the evidence is refuted: that the ledger's own checkpoint of
/// size 3 "is not of this ledger's history".
#[test]
fn prove_does_not_trust_a_damaged_cache_tree() {
    let fx = cache_ledger();
    // A genuine checkpoint of size 3, signed by ann, to prove growth from.
    let leaves = leaves(&fx.p("led"));
    let (origin, _, _) = note_body(&fx.read("led/checkpoints/17"));
    fx.write(
        "cp3",
        forge(&origin, 3, mth(&leaves[..3]), &key(&fx, "ann")),
    );
    let before = proofs(&fx, "before");
    fx.run(&["prove", "led", "--from", "cp3", "-o", "before-from3"])
        .ok();
    flip(&fx.p("led/cache/tree"), leaf_index(2) * 32 + 5, 0xff);
    let mut problems = Vec::new();
    let mut check = |name: &str, args: &[&str], expected: &[u8]| {
        let r = fx.run(args);
        match r.code {
            Some(0) if fx.read(args.last().unwrap()) == expected => {}
            Some(0) => problems.push(format!("{name}: different bytes\n{r}")),
            Some(2) if r.stderr.contains("cache") => {}
            _ => problems.push(format!("{name}:\n{r}")),
        }
    };
    for i in [0u64, 2, 3, 16, 39] {
        let out = format!("after-event{i}");
        let expected = &before
            .iter()
            .find(|(n, _)| *n == format!("event{i}"))
            .unwrap()
            .1;
        check(
            &out,
            &["prove", "led", "--event", &i.to_string(), "-o", &out],
            expected,
        );
    }
    let expected = fx.read("before-from3");
    check(
        "from3",
        &["prove", "led", "--from", "cp3", "-o", "after-from3"],
        &expected,
    );
    let expected = &before.iter().find(|(n, _)| n == "request").unwrap().1;
    check(
        "request",
        &[
            "witness",
            "request",
            "led",
            "--old",
            "17",
            "-o",
            "after-request",
        ],
        expected,
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A cache/offsets file of the right length but wrong offsets (event 3's
/// offset replaced by event 2's) must not make `prove --event` refute the
/// ledger: same bytes as before, or exit 2 naming the cache; never exit 1.
#[test]
fn prove_does_not_trust_damaged_cache_offsets() {
    let fx = cache_ledger();
    let before = proofs(&fx, "before");
    let p = fx.p("led/cache/offsets");
    let mut b = fs::read(&p).unwrap();
    let two: Vec<u8> = b[16..24].to_vec();
    b[24..32].copy_from_slice(&two);
    fs::write(&p, &b).unwrap();
    let mut problems = Vec::new();
    for i in [0u64, 2, 3, 16, 39] {
        let out = format!("after-event{i}");
        let r = fx.run(&["prove", "led", "--event", &i.to_string(), "-o", &out]);
        let expected = &before
            .iter()
            .find(|(n, _)| *n == format!("event{i}"))
            .unwrap()
            .1;
        match r.code {
            Some(0) if fx.read(&out) == *expected => {}
            Some(2) if r.stderr.contains("cache") => {}
            _ => problems.push(format!("event {i}:\n{r}")),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The frontier in cache/state.json is derived data too: a damaged one
/// (one hex digit changed, the log untouched) must not be signed. Found:
/// `ledger checkpoint` signs a root that is not the ledger's, and `verify`
/// then calls the ledger's own new checkpoint a split view.
#[test]
fn checkpoint_does_not_sign_a_damaged_cached_frontier() {
    let fx = cache_ledger();
    let real = mth(&leaves(&fx.p("led")));
    let mut state: serde_json::Value = common::cache_head(&fx.p("led"));
    let tree = state["tree"].as_str().unwrap().to_owned();
    // After the 8-byte size, the first frontier hash.
    let i = 20;
    let c = if &tree[i..=i] == "1" { "2" } else { "1" };
    state["tree"] = format!("{}{c}{}", &tree[..i], &tree[i + 1..]).into();
    common::write_cache_head(&fx.p("led"), &state);
    fs::remove_file(fx.p("led/checkpoints/40")).unwrap();
    let r = fx.run(&["checkpoint", "led", "--key", "keys/ann.key"]);
    if r.code == Some(0) {
        let (_, size, root) = note_body(&fx.read("led/checkpoints/40"));
        assert_eq!(size, N);
        assert_eq!(
            hex::encode(root),
            hex::encode(real),
            "signed a wrong root:\n{r}"
        );
        fx.report();
    } else {
        r.fails(2, "cache");
    }
}
