//! Checkpoints through the `ledger` binary with other parties: a witness
//! (`ledger witness request/cosign`) refusing rollbacks and split views,
//! witness policies and dedicated log keys for `verify` and `check-proof`,
//! and static publication (`ledger publish`, then `verify`/`check-proof`
//! of the published directory). Ledgers are grown in-process with the
//! library's `Writer` (tests/prooflib) to keep the runs short.

mod common;
mod prooflib;

use std::fs;

use common::*;
use prooflib::*;

/// Runs `ledger vkey ARGS` and returns the vkey it prints.
fn vkey(fx: &Fx, args: &[&str]) -> String {
    let mut all = vec!["vkey"];
    all.extend_from_slice(args);
    let r = fx.run(&all);
    r.ok();
    assert_eq!(r.stdout.lines().count(), 1, "{r}");
    r.stdout.trim_end().to_owned()
}

/// `keygen wit/NAME` and its witness vkey, named NAME.example.
fn witness_key(fx: &Fx, name: &str) -> String {
    fs::create_dir_all(fx.p("wit")).unwrap();
    fx.run(&["keygen", &format!("wit/{name}")]).ok();
    let v = vkey(
        fx,
        &[
            "--key",
            &format!("wit/{name}.pub"),
            "--witness",
            &format!("{name}.example"),
        ],
    );
    assert!(v.starts_with(&format!("{name}.example+")), "{v}");
    v
}

/// The log vkeys of ann and bob for `led` (the parties sign checkpoints
/// under the ledger's origin).
fn log_vkeys(fx: &Fx) -> (String, String) {
    let ann = vkey(fx, &["--key", "keys/ann.pub", "--ledger", "led"]);
    let bob = vkey(fx, &["--key", "keys/bob.pub", "--ledger", "led"]);
    (ann, bob)
}

/// `witness cosign REQ` by witness NAME (state wstate-NAME), trusting
/// `logs`, writing OUT.
fn cosign(fx: &Fx, req: &str, name: &str, logs: &[&str], out: &str) -> Run {
    let key = format!("wit/{name}.key");
    let wname = format!("{name}.example");
    let state = format!("wstate-{name}");
    let mut args = vec![
        "witness", "cosign", req, "--key", &key, "--name", &wname, "--state", &state,
    ];
    for l in logs {
        args.extend(["--log", l]);
    }
    args.extend(["-o", out]);
    fx.run(&args)
}

// ---------------------------------------------------------------------------
// 3. The witness: growth, rollback, split view
// ---------------------------------------------------------------------------

/// A witness cosigns led at size 5 (from 0), then at 10 with the
/// consistency proof from 5. Then it refuses, each time with exit 1 (or 2
/// for an untrusted signature) and one line giving the tlog-witness status,
/// leaving its state directory (and the ledgers) byte-for-byte unchanged:
/// a request claiming it holds 5 (409, naming its size 10); the old
/// checkpoint of size 5 again (409); a forked ledger (same genesis, other
/// later events) at the same size 10 (422, another root); the fork's
/// checkpoint of size 5 (409); the fork grown to 12 with a proof from its
/// own 10 (422, the proof does not verify); a checkpoint whose signer it
/// does not trust (403, exit 2). Afterwards led's real growth to 12 is
/// cosigned, and the cosignatures can be added to the stored checkpoints.
#[test]
fn the_witness_cosigns_growth_and_refuses_rollback_and_split_view() {
    let fx = Fx::with_ledger();
    copy_dir(&fx.p("led"), &fx.p("fork"));
    grow(&fx, 5, false);
    grow(&fx, 10, false);
    grow_dir(&fx, "fork", 5, false, " (fork)");
    grow_dir(&fx, "fork", 10, false, " (fork)");
    let (o1, _, r1) = note_body(&fx.read("led/checkpoints/10"));
    let (o2, _, r2) = note_body(&fx.read("fork/checkpoints/10"));
    assert_eq!(o1, o2, "a fork has the same origin");
    assert_ne!(r1, r2, "and another tree");
    let (vann, vbob) = log_vkeys(&fx);
    assert!(vann.starts_with(&format!("{o1}+")), "{vann}");
    witness_key(&fx, "w1");

    let r = fx.run(&[
        "witness",
        "request",
        "led",
        "--old",
        "0",
        "--checkpoint",
        "led/checkpoints/5",
        "-o",
        "r5",
    ]);
    r.ok();
    assert_eq!(r.stdout, "r5: add-checkpoint request from size 0\n");
    assert!(
        fx.read("r5").starts_with(b"old 0\n\n"),
        "no proof lines from 0"
    );
    let r = cosign(&fx, "r5", "w1", &[&vann, &vbob], "c5");
    r.ok();
    assert!(
        r.stdout
            .starts_with("c5: cosigned by w1.example (vkey w1.example+"),
        "{r}"
    );
    let c5 = String::from_utf8(fx.read("c5")).unwrap();
    assert!(c5.starts_with(&String::from_utf8(fx.read("led/checkpoints/5")).unwrap()));
    assert!(c5.contains("\n— w1.example "), "{c5}");
    let state_file = format!("wstate-w1/{}", ledger::tlog::witness::origin_hash(&o1));
    assert_eq!(note_body(&fx.read(&state_file)).1, 5);

    fx.run(&["witness", "request", "led", "--old", "5", "-o", "r10"])
        .ok();
    let req = String::from_utf8(fx.read("r10")).unwrap();
    assert!(req.starts_with("old 5\n"), "{req}");
    cosign(&fx, "r10", "w1", &[&vann, &vbob], "c10").ok();
    assert_eq!(note_body(&fx.read(&state_file)).1, 10);
    let watch = ["wstate-w1", "led", "fork"];

    // Rollback: the client thinks the witness holds 5.
    fx.run(&["witness", "request", "led", "--old", "5", "-o", "r10-again"])
        .ok();
    let key = [
        "--key",
        "wit/w1.key",
        "--name",
        "w1.example",
        "--state",
        "wstate-w1",
    ];
    let refuse = |req: &str, out: &str, code: i32, needle: &str| {
        let mut args = vec!["witness", "cosign", req];
        args.extend(key);
        args.extend(["--log", &vann, "--log", &vbob, "-o", out]);
        let r = fx.refused_watching(&watch, &args, code, needle);
        assert!(!fx.p(out).exists(), "{r}");
        r
    };
    let r = refuse(
        "r10-again",
        "x1",
        1,
        "witness refused (tlog-witness status 409): ",
    );
    assert!(
        r.stderr.contains(&format!(
            "the old size is 5, but the latest checkpoint this witness cosigned for {o1:?} has size 10"
        )),
        "{r}"
    );
    // The old checkpoint again, as first sent.
    refuse(
        "r5",
        "x2",
        1,
        "status 409): the old size is 0, but the latest checkpoint this witness cosigned for",
    );
    // The fork at the witness's size, another root.
    fx.run(&["witness", "request", "fork", "--old", "10", "-o", "f10"])
        .ok();
    let r = refuse(
        "f10",
        "x3",
        1,
        "witness refused (tlog-witness status 422): ",
    );
    assert!(
        r.stderr.contains(&format!(
            "has size 10, as the one this witness cosigned, but root {} where that one has {}",
            hex::encode(r2),
            hex::encode(r1)
        )),
        "{r}"
    );
    // The fork's smaller checkpoint.
    fx.run(&[
        "witness",
        "request",
        "fork",
        "--old",
        "5",
        "--checkpoint",
        "fork/checkpoints/5",
        "-o",
        "f5",
    ])
    .ok();
    refuse(
        "f5",
        "x4",
        1,
        "status 409): the old size is 5, but the latest checkpoint this witness cosigned for",
    );
    // The fork grown, with a genuine proof from its own tree of 10.
    grow_dir(&fx, "fork", 12, false, " (fork)");
    fx.run(&["witness", "request", "fork", "--old", "10", "-o", "f12"])
        .ok();
    refuse(
        "f12",
        "x5",
        1,
        "status 422): the consistency proof from size 10 to 12 for",
    );
    // A checkpoint signed by ann (size 10), the witness trusting only bob.
    let mut args = vec!["witness", "cosign", "r10"];
    args.extend(key);
    args.extend(["--log", &vbob, "-o", "x6"]);
    fx.refused_watching(
        &watch,
        &args,
        2,
        "witness refused (tlog-witness status 403): ",
    );
    assert_eq!(note_body(&fx.read(&state_file)).1, 10);
    assert_eq!(
        note_body(&fx.read(&state_file)).2,
        r1,
        "the witness still holds led's tree"
    );

    // led's real growth goes on.
    grow(&fx, 12, false);
    fx.run(&["witness", "request", "led", "--old", "10", "-o", "r12"])
        .ok();
    cosign(&fx, "r12", "w1", &[&vann, &vbob], "c12").ok();
    assert_eq!(note_body(&fx.read(&state_file)).1, 12);
    // The cosigned notes go back into the ledger's checkpoints.
    for (c, size) in [("c5", 5), ("c10", 10), ("c12", 12)] {
        let r = fx.run(&["checkpoint", "led", "--add", c]);
        r.ok();
        assert!(
            r.stdout.starts_with(&format!(
                "led/checkpoints/{size}: checkpoint of {size} events, root "
            )),
            "{r}"
        );
        assert!(!r.stdout.contains("unchanged"), "{r}");
        let r = fx.run(&["checkpoint", "led", "--add", c]);
        assert!(r.stdout.contains("(already signed so; unchanged)"), "{r}");
    }
    // A fork's cosigned checkpoint cannot be added to led.
    let r = fx.run(&["checkpoint", "fork", "--add", "c10"]);
    r.fails(
        1,
        "--add: the checkpoint's root for size 10 does not match this ledger's tree",
    );
    let w1 = vkey(&fx, &["--key", "wit/w1.pub", "--witness", "w1.example"]);
    let report = fx.run(&["--json", "verify", "led", "--witness", &w1]);
    report.ok();
    let cps = report.json()["checkpoints"].clone();
    for c in cps.as_array().unwrap() {
        assert_eq!(c["cosigned_by"][0]["witness"], "w1.example", "{c}");
    }
}

// ---------------------------------------------------------------------------
// 4. Witness policy and log keys
// ---------------------------------------------------------------------------

/// Two witnesses, w1 and w2, both cosign led's checkpoint of size 10; at
/// first only w1's cosignature is added. `verify` and `check-proof` (of an
/// inclusion and a consistency bundle) with `--witness w1 --witness w2
/// --quorum 2` (or no --quorum: all) fail with exit 1 naming how many
/// cosigned; with `--quorum 1` they pass and report w1. Once w2's is added,
/// quorum 2 passes. A bundle is self-contained: one made before w2's
/// cosignature still fails quorum 2. A cosignature by a policy witness that
/// does not verify rejects the checkpoint. An impossible quorum is a usage
/// error.
#[test]
fn a_witness_quorum_is_required_by_verify_and_check_proof() {
    let fx = Fx::with_ledger();
    trust(&fx);
    grow(&fx, 5, false);
    grow(&fx, 10, false);
    let (vann, vbob) = log_vkeys(&fx);
    let w1 = witness_key(&fx, "w1");
    let w2 = witness_key(&fx, "w2");
    fx.write("w2.vkey", format!("{w2}\n"));
    fx.run(&["witness", "request", "led", "--old", "0", "-o", "r10"])
        .ok();
    cosign(&fx, "r10", "w1", &[&vann, &vbob], "c10w1").ok();
    cosign(&fx, "r10", "w2", &[&vann, &vbob], "c10w2").ok();
    fx.run(&["checkpoint", "led", "--add", "c10w1"]).ok();
    fx.run(&["prove", "led", "--event", "3", "-o", "b3"]).ok();
    fx.run(&["prove", "led", "--from", "led/checkpoints/5", "-o", "g5"])
        .ok();

    let both = ["--witness", w1.as_str(), "--witness", "w2.vkey"];
    let with = |base: &[&str], extra: &[&str]| {
        let mut v: Vec<String> = base.iter().map(|s| s.to_string()).collect();
        v.extend(both.iter().map(|s| s.to_string()));
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |args: Vec<String>| {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        fx.run(&a)
    };
    for quorum in [&["--quorum", "2"][..], &[][..]] {
        run(with(&["verify", "led"], quorum)).fails(
            1,
            "checkpoints/10: the latest checkpoint is cosigned by 1 of the 2 witnesses, fewer than the 2 required (--quorum)",
        );
        for b in ["b3", "g5"] {
            run(with(&["check-proof", b, "--trust", "trust"], quorum)).fails(
                1,
                "the checkpoint of size 10 is cosigned by 1 of the 2 witnesses (w1.example), fewer than the 2 required",
            );
        }
    }
    let r = run(with(&["--json", "verify", "led"], &["--quorum", "1"]));
    r.ok();
    let j = r.json();
    let c10 = j["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["size"] == 10)
        .unwrap()
        .clone();
    assert_eq!(c10["cosigned_by"].as_array().unwrap().len(), 1, "{c10}");
    assert_eq!(c10["cosigned_by"][0]["witness"], "w1.example");
    assert!(c10["cosigned_by"][0]["time"].as_u64().unwrap() > 1_700_000_000);
    for b in ["b3", "g5"] {
        let r = run(with(
            &["check-proof", b, "--trust", "trust"],
            &["--quorum", "1"],
        ));
        r.ok();
        assert!(r.stdout.contains("; cosigned by w1.example (at "), "{r}");
    }
    // Only w2 required: none of one.
    fx.run(&["verify", "led", "--witness", "w2.vkey"]).fails(
        1,
        "the latest checkpoint is cosigned by 0 of the 1 witnesses, fewer than the 1 required",
    );
    fx.run(&["check-proof", "b3", "--trust", "trust", "--witness", &w2])
        .fails(
            1,
            "cosigned by 0 of the 1 witnesses (none), fewer than the 1 required",
        );
    // An impossible quorum.
    let r = run(with(&["verify", "led"], &["--quorum", "3"]));
    r.fails(2, "--witness/--quorum");

    // w2's cosignature added: quorum 2 met by verify and by new bundles.
    fx.run(&["checkpoint", "led", "--add", "c10w2"]).ok();
    run(with(&["verify", "led"], &["--quorum", "2"])).ok();
    fx.run(&["prove", "led", "--event", "3", "-o", "b3-both"])
        .ok();
    fx.run(&[
        "prove",
        "led",
        "--from",
        "led/checkpoints/5",
        "-o",
        "g5-both",
    ])
    .ok();
    for b in ["b3-both", "g5-both"] {
        let r = run(with(&["check-proof", b, "--trust", "trust"], &[]));
        r.ok();
        assert!(r.stdout.contains("w1.example (at "), "{r}");
        assert!(r.stdout.contains("w2.example (at "), "{r}");
    }
    // The bundle made before still carries one cosignature.
    run(with(&["check-proof", "b3", "--trust", "trust"], &[]))
        .fails(1, "cosigned by 1 of the 2 witnesses");

    // w1's cosignature altered (one Base64 digit of its signature): a
    // policy naming w1 rejects the checkpoint outright, even when w2's
    // cosignature meets the quorum; a policy without w1, or none, ignores
    // a signature it has no key for (signed-note semantics).
    let good = String::from_utf8(fx.read("led/checkpoints/10")).unwrap();
    let line = good
        .lines()
        .find(|l| l.starts_with("— w1.example "))
        .unwrap();
    let sig = line.rsplit(' ').next().unwrap();
    let at = 60;
    let c = if &sig[at..=at] == "A" { "B" } else { "A" };
    let bad_line = line.replace(sig, &format!("{}{c}{}", &sig[..at], &sig[at + 1..]));
    fx.write("led/checkpoints/10", good.replace(line, &bad_line));
    fx.run(&["verify", "led", "--witness", &w1, "--quorum", "1"])
        .fails(1, "checkpoints/10: ");
    fx.run(&[
        "verify",
        "led",
        "--witness",
        &w1,
        "--witness",
        "w2.vkey",
        "--quorum",
        "1",
    ])
    .fails(1, "checkpoints/10: ");
    // A policy of w2 alone, or none, has no key for w1's line: ignored.
    fx.run(&["verify", "led", "--witness", "w2.vkey"]).ok();
    fx.report();
}

/// A checkpoint signed by a dedicated log key (not a party's) fails
/// `verify` (exit 1, naming the file and saying --log-key is needed) unless
/// `--log-key` gives that key (another key does not do); `check-proof`
/// needs it among --trust (and still needs the event's signer there). A
/// witness trusting the log key's vkey cosigns it.
#[test]
fn a_checkpoint_signed_by_a_log_key_needs_that_key() {
    let fx = Fx::with_ledger();
    trust(&fx);
    grow(&fx, 6, false);
    fs::create_dir_all(fx.p("logk")).unwrap();
    fx.run(&["keygen", "logk/log"]).ok();
    fx.append("bob", &["note", "--text", "one more"]).ok();
    // Said to be a dedicated log key (without --log-key, a key of no
    // party is refused: tests/hardening.rs).
    let r = fx.run(&["checkpoint", "led", "--key", "logk/log.key", "--log-key"]);
    r.ok();
    assert!(
        r.stdout
            .starts_with("led/checkpoints/7: checkpoint of 7 events"),
        "{r}"
    );
    let (origin, _, _) = note_body(&fx.read("led/checkpoints/7"));

    fx.run(&["verify", "led"]).fails(
        1,
        &format!("verification failed: checkpoints/7: the checkpoint of size 7 carries no signature by a trusted key (1 signature(s), none by the 2 key(s) trusted for origin {origin}; a checkpoint signed by a dedicated log key needs that key: --log-key for verify, --trust for check-proof)"),
    );
    fx.run(&["verify", "led", "--log-key", "other/eve.pub"])
        .fails(1, "checkpoints/7: the checkpoint of size 7 carries no signature by a trusted key (1 signature(s), none by the 3 key(s)");
    let r = fx.run(&["--json", "verify", "led", "--log-key", "logk/log.pub"]);
    r.ok();
    let j = r.json();
    let cps = j["checkpoints"].as_array().unwrap();
    assert_eq!(cps.len(), 2);
    let c7 = cps.iter().find(|c| c["size"] == 7).unwrap();
    assert_eq!(c7["signed_by"], serde_json::json!(["log"]), "{c7}");
    assert_eq!(c7["valid"], true);

    fx.run(&["prove", "led", "--event", "2", "-o", "b2"]).ok();
    fx.run(&["check-proof", "b2", "--trust", "trust"]).fails(
        1,
        "the checkpoint of size 7 carries no signature by a trusted key",
    );
    let r = fx.run(&[
        "check-proof",
        "b2",
        "--trust",
        "trust",
        "--trust",
        "logk/log.pub",
    ]);
    r.ok();
    assert!(
        r.stdout.contains("checkpoint signed by logk/log.pub"),
        "{r}"
    );
    // The log key alone does not vouch for the event's signer.
    fx.run(&["check-proof", "b2", "--trust", "logk/log.pub"])
        .fails(1, "which is not among the trusted keys");
    // A growth bundle from ann's 6 to the log key's 7: both keys needed.
    fx.run(&["prove", "led", "--from", "led/checkpoints/6", "-o", "g6"])
        .ok();
    fx.run(&["check-proof", "g6", "--trust", "logk/log.pub"])
        .fails(
            1,
            "the checkpoint of size 6 carries no signature by a trusted key",
        );
    fx.run(&[
        "check-proof",
        "g6",
        "--trust",
        "trust",
        "--trust",
        "logk/log.pub",
    ])
    .ok();

    // A witness that trusts the log key.
    let vlog = vkey(&fx, &["--key", "logk/log.pub", "--ledger", "led"]);
    witness_key(&fx, "w1");
    fx.run(&["witness", "request", "led", "--old", "0", "-o", "r7"])
        .ok();
    cosign(&fx, "r7", "w1", &[&vlog], "c7").ok();
    fx.run(&["checkpoint", "led", "--add", "c7"]).ok();
    let w1 = vkey(&fx, &["--key", "wit/w1.pub", "--witness", "w1.example"]);
    fx.run(&[
        "verify",
        "led",
        "--log-key",
        "logk/log.pub",
        "--witness",
        &w1,
    ])
    .ok();
    fx.run(&["verify", "led", "--witness", &w1]).fails(
        1,
        "checkpoints/7: the checkpoint of size 7 carries no signature by a trusted key",
    );
}

// ---------------------------------------------------------------------------
// 5. Publication
// ---------------------------------------------------------------------------

/// Every file of `before` but `checkpoint` is in `after` with the same
/// bytes: what is published is immutable.
#[track_caller]
fn assert_immutable(before: &Snapshot, after: &Snapshot, what: &str) {
    let mut checked = 0;
    for (p, v) in before {
        if p.as_os_str() == "checkpoint" {
            continue;
        }
        assert!(
            after.get(p) == Some(v),
            "{what}: {} changed or vanished",
            p.display()
        );
        checked += 1;
    }
    assert!(checked > 3, "{what}");
}

fn tile_hashes(leaves: &[Hash]) -> Vec<u8> {
    leaves.concat()
}

/// Publishes led at size 10, then 300, then 520 (all the tiles of level 0
/// and 1, entry bundles full and partial, documents): every file written
/// before (full tiles and bundles, and the partial ones too) is
/// byte-identical afterwards; publishing again unchanged writes nothing;
/// a fresh publication of 520 into another directory writes the same
/// files. Tiles hold the reference hashes, entry bundles the events.
/// `verify PUBDIR` passes; `check-proof PUBDIR --event N` passes for
/// events in full and partial tiles; a tampered hash tile, a tampered or
/// missing entry bundle and a missing tile make them fail (exit 1 or 2,
/// one line). A fork cannot publish over led's publication.
#[test]
fn publish_is_incremental_immutable_and_checkable() {
    let fx = Fx::with_ledger();
    trust(&fx);
    copy_dir(&fx.p("led"), &fx.p("fork"));
    grow(&fx, 10, false);
    let r = fx.run(&["publish", "led", "pub"]);
    r.ok();
    assert_eq!(
        r.stdout,
        "pub: published 10 events (previously 0): 1 new tiles, 1 new entry bundles, 2 new documents\n"
    );
    let s1 = snapshot(&fx.p("pub"));
    assert!(s1.contains_key(std::path::Path::new("tile/0/000.p/10")));
    assert!(s1.contains_key(std::path::Path::new("tile/entries/000.p/10")));
    assert_eq!(
        s1[std::path::Path::new("checkpoint")],
        Some(fx.read("led/checkpoints/10"))
    );

    // A fork cannot publish over it.
    grow_dir(&fx, "fork", 12, false, " (fork)");
    fx.refused_watching(
        &["pub", "fork"],
        &["publish", "fork", "pub"],
        1,
        "pub publishes a tree of size 10 that is not this ledger's history",
    );

    notes_to(&fx, "led", 300);
    let r = fx.run(&["publish", "led", "pub"]);
    r.ok();
    assert!(
        r.stdout
            .starts_with("pub: published 300 events (previously 10): "),
        "{r}"
    );
    let s2 = snapshot(&fx.p("pub"));
    assert_immutable(&s1, &s2, "10 -> 300");
    let leaves300 = leaves(&fx.p("led"));
    let tile = |p: &str| fx.read(&format!("pub/{p}"));
    assert_eq!(tile("tile/0/000"), tile_hashes(&leaves300[..256]));
    assert_eq!(tile("tile/0/001.p/44"), tile_hashes(&leaves300[256..300]));
    assert_eq!(tile("tile/1/000.p/1"), mth(&leaves300[..256]).to_vec());
    let events = prooflib::events(&fx.p("led"));
    let bundle = tile("tile/entries/000");
    let decoded = ledger::tlog::tiles::decode_bundle(&bundle).unwrap();
    assert_eq!(decoded.len(), 256);
    for (i, e) in decoded.iter().enumerate() {
        assert_eq!(*e, events[i].as_slice(), "entry {i}");
    }

    // Unchanged: nothing new.
    let r = fx.run(&["publish", "led", "pub"]);
    r.ok();
    assert!(
        r.stdout
            .contains("(previously 300): 0 new tiles, 0 new entry bundles, 0 new documents"),
        "{r}"
    );
    assert_eq!(snapshot(&fx.p("pub")), s2);

    notes_to(&fx, "led", 520);
    fx.run(&["publish", "led", "pub"]).ok();
    let s3 = snapshot(&fx.p("pub"));
    assert_immutable(&s2, &s3, "300 -> 520");
    let leaves = leaves(&fx.p("led"));
    assert_eq!(tile("tile/0/001"), tile_hashes(&leaves[256..512]));
    assert_eq!(tile("tile/0/002.p/8"), tile_hashes(&leaves[512..520]));
    assert_eq!(
        tile("tile/1/000.p/2"),
        [mth(&leaves[..256]), mth(&leaves[256..512])].concat()
    );
    fx.run(&["publish", "led", "fresh"]).ok();
    let fresh = snapshot(&fx.p("fresh"));
    for (p, v) in &fresh {
        assert!(
            s3.get(p) == Some(v),
            "fresh publication differs at {}",
            p.display()
        );
    }

    let r = fx.run(&["verify", "pub"]);
    r.ok();
    assert!(
        r.stdout
            .starts_with("pub: a published ledger; verifying its 520 events and their tiles\n"),
        "{r}"
    );
    let trusted = ledger::core::trust::load_bound(&[fx.p("trust")]).unwrap();
    for n in [0u64, 1, 9, 10, 11, 255, 256, 299, 300, 511, 512, 519] {
        let r = fx.run(&[
            "check-proof",
            "pub",
            "--event",
            &n.to_string(),
            "--trust",
            "trust",
        ]);
        r.ok();
        assert!(r.stdout.starts_with(&format!("OK: event #{n} (")), "{r}");
        assert!(r.stdout.contains(" at size 520, root "), "{r}");
        // The same bundle as `prove` makes from the ledger.
        let from_ledger = ledger::proofs::bundle::prove_event(&fx.p("led"), n, None).unwrap();
        let from_pub =
            ledger::proofs::publish::bundle_from_published(&fx.p("pub"), n, &trusted).unwrap();
        assert_eq!(from_pub, from_ledger, "event {n}");
    }
    fx.run(&["check-proof", "pub", "--event", "520", "--trust", "trust"])
        .fails(2, "event 520 is not in the published tree of 520 events");
    fx.run(&["check-proof", "pub", "--trust", "trust"])
        .fails(2, "a published directory needs --event N");

    // Tampering, each in a copy.
    let damaged = |name: &str, f: &dyn Fn(&std::path::Path)| {
        let d = fx.p(name);
        copy_dir(&fx.p("pub"), &d);
        f(&d);
    };
    // A hash tile: leaf 5's hash in tile/0/000.
    damaged("t-tile", &|d| flip(&d.join("tile/0/000"), 5 * 32 + 7, 0x01));
    for n in ["4", "5", "0"] {
        let r = fx.run(&["check-proof", "t-tile", "--event", n, "--trust", "trust"]);
        r.fails(1, "the published tiles: t-tile/tile/0/000 does not hash to its entry in its authenticated parent tile");
    }
    // A missing tile.
    damaged("t-gone", &|d| {
        fs::remove_file(d.join("tile/0/000")).unwrap()
    });
    let r = fx.run(&["check-proof", "t-gone", "--event", "4", "--trust", "trust"]);
    assert!(matches!(r.code, Some(1) | Some(2)), "{r}");
    assert_eq!(message_problem(&r.stderr), None, "{r}");
    // An entry bundle: a byte in the middle of event 4's bytes.
    let mut at = 0;
    for e in &decoded[..4] {
        at += 2 + e.len();
    }
    at += 2 + decoded[4].len() / 2;
    damaged("t-entry", &|d| flip(&d.join("tile/entries/000"), at, 0x01));
    let r = fx.run(&["verify", "t-entry"]);
    assert_eq!(r.code, Some(1), "{r}");
    assert_eq!(message_problem(&r.stderr), None, "{r}");
    let r = fx.run(&["check-proof", "t-entry", "--event", "4", "--trust", "trust"]);
    assert!(matches!(r.code, Some(1) | Some(2)), "{r}");
    assert_eq!(message_problem(&r.stderr), None, "{r}");
    assert!(r.stdout.is_empty(), "{r}");
    // Events of other bundles are still proven.
    fx.run(&[
        "check-proof",
        "t-entry",
        "--event",
        "300",
        "--trust",
        "trust",
    ])
    .ok();
    // A missing entry bundle.
    damaged("t-nobundle", &|d| {
        fs::remove_file(d.join("tile/entries/001")).unwrap()
    });
    fx.run(&["verify", "t-nobundle"]).fails(
        1,
        "the published directory lacks an entry bundle its checkpoint needs",
    );
    // The published checkpoint, altered.
    damaged("t-cp", &|d| flip(&d.join("checkpoint"), 60, 0x01));
    let r = fx.run(&["verify", "t-cp"]);
    assert!(matches!(r.code, Some(1) | Some(2)), "{r}");
    let r = fx.run(&["check-proof", "t-cp", "--event", "4", "--trust", "trust"]);
    assert!(matches!(r.code, Some(1) | Some(2)), "{r}");
    assert_eq!(message_problem(&r.stderr), None, "{r}");
}

/// A small published directory: led of 12 events published at 12.
fn small_publication() -> Fx {
    let fx = Fx::with_ledger();
    trust(&fx);
    grow(&fx, 12, false);
    fx.run(&["publish", "led", "pub"]).ok();
    fx
}

/// `verify PUBDIR` must check the published hash tiles too (they are what
/// auditors fetch proofs from, and are all derived from the entries it
/// replays): a tampered tile must fail it, as it fails `check-proof
/// PUBDIR --event N`. Found: exit 0, "OK: 12 events verified".
#[test]
fn verify_of_a_published_dir_checks_its_tiles() {
    let fx = small_publication();
    flip(&fx.p("pub/tile/0/000.p/12"), 3 * 32, 0x01);
    fx.run(&["check-proof", "pub", "--event", "2", "--trust", "trust"])
        .fails(1, "the published tiles");
    let r = fx.run(&["verify", "pub"]);
    assert_eq!(r.code, Some(1), "a tampered tile passed verify:\n{r}");
}

/// `ledger --json verify PUBDIR` must print one JSON document. Found: the
/// line "pub: a published ledger; verifying its 12 events ..." comes first.
#[test]
fn verify_json_of_a_published_dir_is_json() {
    let fx = small_publication();
    let r = fx.run(&["--json", "verify", "pub"]);
    r.ok();
    let j = r.json();
    assert_eq!(j["count"], 12);
    assert_eq!(j["verified"], true);
}

/// `publish` must not publish hash tiles from a damaged writer's cache (a
/// same-length cache/tree with one wrong leaf hash off the frontier):
/// tiles are immutable once published, so a wrong one can never be fixed.
/// The publication must check out for every event, or publish must refuse
/// (exit 2 naming the cache). Found: publish succeeds and
/// `check-proof pub --event 3` then fails.
#[test]
fn publish_does_not_publish_tiles_from_a_damaged_cache() {
    let fx = Fx::with_ledger();
    trust(&fx);
    grow(&fx, 12, false);
    let i = ledger::tlog::merkle::stored_hash_index(0, 2).unwrap() as usize;
    flip(&fx.p("led/cache/tree"), i * 32 + 3, 0xff);
    let r = fx.run(&["publish", "led", "pub"]);
    if r.code == Some(0) {
        for n in 0..12 {
            fx.run(&[
                "check-proof",
                "pub",
                "--event",
                &n.to_string(),
                "--trust",
                "trust",
            ])
            .ok();
        }
    } else {
        r.fails(2, "cache");
    }
}

/// The command-line paths added with checkpoints that the tests above do
/// not take: a witness given a bare checkpoint (trust on first use, then
/// 409 with its size), `check-proof` of a directory without `--event` or of
/// a bundle with it, `checkpoint` and `vkey` given nothing to do, `prove` of
/// an event past the checkpoint. Each refusal is one line with its exit
/// status, and changes neither the ledger nor the witness's state.
#[test]
fn command_line_refusals_of_checkpoints_and_witnesses() {
    let fx = small_publication();
    let (vann, _) = log_vkeys(&fx);
    witness_key(&fx, "w1");
    let before = snapshot(&fx.p("led"));
    // A bare checkpoint is a request from size 0: accepted on first use.
    cosign(&fx, "led/checkpoints/12", "w1", &[&vann], "c1").ok();
    let state = snapshot(&fx.p("wstate-w1"));
    // Again: the witness has size 12, so it answers 409 with it.
    cosign(&fx, "led/checkpoints/12", "w1", &[&vann], "c2")
        .fails(1, "tlog-witness status 409")
        .fails(1, "has size 12");
    assert!(!fx.p("c2").exists());
    assert_same(&state, &snapshot(&fx.p("wstate-w1")), &"the witness state");
    // Neither a request nor a note.
    fx.write("junk", "not a note\n");
    cosign(&fx, "junk", "w1", &[&vann], "c3").usage_error("status 400");
    fx.run(&["check-proof", "pub", "--trust", "keys/ann.pub"])
        .usage_error("a published directory needs --event N");
    fx.run(&["prove", "led", "--event", "3", "-o", "p3"]).ok();
    fx.run(&[
        "check-proof",
        "p3",
        "--event",
        "3",
        "--trust",
        "keys/ann.pub",
    ])
    .usage_error("--event is for published directories");
    fx.run(&["prove", "led", "--event", "12", "-o", "p12"])
        .usage_error("event 12 is not in the checkpoint");
    fx.run(&["prove", "led", "--event", "3", "-o", "p3"])
        .usage_error("cannot create p3");
    fx.run(&["vkey", "--key", "keys/ann.key", "--ledger", "led"])
        .usage_error("--key keys/ann.key");
    fx.run(&["checkpoint", "led", "--add", "junk"])
        .usage_error("--add");
    assert_same(&before, &snapshot(&fx.p("led")), &"the ledger");
}
