//! Regression tests for what an auditor's verdict may rest on (issue 12,
//! points 2 to 6), each built from the attack that broke it: a history
//! forked after the last witnessed checkpoint, published entries that are
//! not one event each, a size-0 consistency bundle with a false root, a
//! tiny checkpoint claiming 2^40 events, and files that are links, FIFOs,
//! devices or sparse giants. Every run that reads a hostile size or file
//! goes through [`capped`]: a virtual-memory cap and a timeout, so that a
//! regression fails the test instead of the machine.

mod common;
mod prooflib;

use std::fs;
use std::os::unix::fs::symlink;
use std::process::Command;

use common::*;
use ledger::base::time::Timestamp;
use ledger::core::format::Kind;
use ledger::core::writer::Writer;
use ledger::tlog::tiles::encode_bundle;
use prooflib::*;

/// The virtual memory every hostile run gets: far more than the binary
/// needs, far less than a read of `/dev/zero` or of an 8 GiB file, or a
/// list of 2^32 tiles.
const MEMORY_CAP_KIB: u64 = 1 << 20;
/// A run that takes longer hangs (a FIFO waited on, /dev/zero read).
const HANG_SECONDS: u32 = 120;

/// Runs `ledger ARGS` in the fixture under [`MEMORY_CAP_KIB`] of virtual
/// memory (`ulimit -v`) and [`HANG_SECONDS`] (`timeout`, which exits 124).
fn capped(fx: &Fx, args: &[&str]) -> Run {
    let out = Command::new("timeout")
        .arg(HANG_SECONDS.to_string())
        .arg("sh")
        .arg("-c")
        .arg(format!("ulimit -v {MEMORY_CAP_KIB} && exec \"$0\" \"$@\""))
        .arg(BIN)
        .args(args)
        .current_dir(fx.root())
        .env("NO_COLOR", "1")
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run timeout, sh and the ledger binary");
    let r = Run {
        args: args.iter().map(|s| s.to_string()).collect(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_ne!(
        r.code,
        Some(124),
        "hung (killed after {HANG_SECONDS} s):\n{r}"
    );
    assert!(
        !r.stderr.contains("memory allocation"),
        "ran out of memory under the cap:\n{r}"
    );
    r
}

fn vkey(fx: &Fx, args: &[&str]) -> String {
    let mut all = vec!["vkey"];
    all.extend_from_slice(args);
    let r = fx.run(&all);
    r.ok();
    r.stdout.trim_end().to_owned()
}

/// ann's and bob's log vkeys for `led`, and witness w1's vkey.
fn witness_setup(fx: &Fx) -> (String, String, String) {
    let vann = vkey(fx, &["--key", "keys/ann.pub", "--ledger", "led"]);
    let vbob = vkey(fx, &["--key", "keys/bob.pub", "--ledger", "led"]);
    fs::create_dir_all(fx.p("wit")).unwrap();
    fx.run(&["keygen", "wit/w1"]).ok();
    let w1 = vkey(fx, &["--key", "wit/w1.pub", "--witness", "w1.example"]);
    (vann, vbob, w1)
}

/// Has witness w1 cosign `led`'s latest checkpoint (the witness holding
/// size `old`), and stores the cosignature with it.
fn witness(fx: &Fx, old: u64, logs: &[&str], tag: &str) {
    let req = format!("r{tag}");
    let cos = format!("c{tag}");
    fx.run(&[
        "witness",
        "request",
        "led",
        "--old",
        &old.to_string(),
        "-o",
        &req,
    ])
    .ok();
    let mut args = vec![
        "witness",
        "cosign",
        &req,
        "--key",
        "wit/w1.key",
        "--name",
        "w1.example",
        "--state",
        "wstate",
    ];
    for l in logs {
        args.extend(["--log", l]);
    }
    args.extend(["-o", &cos]);
    fx.run(&args).ok();
    fx.run(&["checkpoint", "led", "--add", &cos]).ok();
}

/// The ledger: `led` with 4 events (a document drafted, signed by
/// ann, then by bob: executed), checkpoints at sizes 2 and 4, both
/// cosigned by witness w1; `pub`, `led` published at size 2. Returns w1's
/// vkey.
fn witnessed_ledger() -> (Fx, String) {
    let fx = Fx::with_ledger();
    trust(&fx);
    let (vann, vbob, w1) = witness_setup(&fx);
    grow(&fx, 2, false);
    witness(&fx, 0, &[&vann, &vbob], "2");
    fx.run(&["publish", "led", "pub"]).ok();
    grow(&fx, 4, false);
    witness(&fx, 2, &[&vann, &vbob], "4");
    let r = fx.run(&["verify", "led", "--witness", &w1]);
    r.ok();
    assert!(
        r.stdout
            .contains("witnessed: all 4 events, by the quorum's cosignatures on checkpoints/4"),
        "{r}"
    );
    (fx, w1)
}

/// One party rewrites history after event 1 (the treaty "amended" so
/// that the other's signature no longer counts), deletes checkpoints/4
/// and keeps the cosigned checkpoints/2. Found: `verify --witness` exit
/// 0, "OK: 3 events verified", although the witness cosigned another
/// size-4 root. Now: exit 1 naming the unwitnessed events and how to get
/// them witnessed, the ledger unchanged; `--allow-unwitnessed-tail`
/// accepts them, saying so on the last line and in --json.
#[test]
fn verify_witness_refuses_a_history_forked_after_the_last_witnessed_checkpoint() {
    let (fx, w1) = witnessed_ledger();
    copy_dir(&fx.p("led"), &fx.p("fork"));
    let _ = fs::remove_dir_all(fx.p("fork/cache"));
    let events = events(&fx.p("led"));
    fs::write(
        fx.p("fork/events.cbor"),
        [&events[0][..], &events[1][..]].concat(),
    )
    .unwrap();
    fs::remove_file(fx.p("fork/checkpoints/4")).unwrap();
    let mut w = Writer::open(&fx.p("fork")).unwrap();
    let t = Timestamp::parse(&fx.at()).unwrap();
    w.append(
        &key(&fx, "ann"),
        Some(t),
        Kind::Note {
            text: "the treaty is amended: bob's signature no longer counts".into(),
        },
        None,
    )
    .unwrap();
    drop(w);
    let _ = fs::remove_dir_all(fx.p("fork/cache"));
    // Without a policy the fork is a valid ledger of 3 events.
    fx.run(&["verify", "fork"]).ok();

    let before = snapshot(&fx.p("fork"));
    fx.run(&["verify", "fork", "--witness", &w1]).fails(
        1,
        "events #2..#2 are not witnessed: checkpoints/2 (size 2) is the largest checkpoint the witness quorum cosigned",
    );
    let r = fx.run(&["verify", "fork", "--witness", &w1]);
    assert!(r.stderr.contains("`ledger witness request`"), "{r}");
    assert!(r.stderr.contains("--allow-unwitnessed-tail"), "{r}");
    assert_same(&before, &snapshot(&fx.p("fork")), &"a refused verify");

    let r = fx.run(&[
        "verify",
        "fork",
        "--witness",
        &w1,
        "--allow-unwitnessed-tail",
    ]);
    r.ok();
    let warning = "WARNING: events #2..#2 (1 of 3) are NOT witnessed: the witness quorum cosigned only the first 2, in checkpoints/2 (accepted by --allow-unwitnessed-tail)";
    assert_eq!(r.stdout.lines().last(), Some(warning), "{r}");
    let r = fx.run(&[
        "-q",
        "verify",
        "fork",
        "--witness",
        &w1,
        "--allow-unwitnessed-tail",
    ]);
    r.ok();
    assert!(r.stdout.contains(warning), "{r}");
    let r = fx.run(&[
        "--json",
        "verify",
        "fork",
        "--witness",
        &w1,
        "--allow-unwitnessed-tail",
    ]);
    r.ok();
    let j = r.json();
    assert_eq!(j["witness"]["size"], 2, "{j}");
    assert_eq!(j["witness"]["checkpoint"], "checkpoints/2", "{j}");
    assert_eq!(
        j["witness"]["unwitnessed"],
        serde_json::json!({"first": 2, "last": 2, "count": 1}),
        "{j}"
    );
    // The genuine ledger has no unwitnessed tail.
    let r = fx.run(&["--json", "verify", "led", "--witness", &w1]);
    r.ok();
    assert_eq!(r.json()["witness"]["size"], 4);
    assert!(r.json()["witness"].get("unwitnessed").is_none());
    // The option needs a policy.
    fx.run(&["verify", "fork", "--allow-unwitnessed-tail"])
        .usage_error("--witness");
}

/// Rewrites `pub`'s bundle `tile/entries/000.p/2` to hold `entries`, and
/// recomputes `tile/0/000.p/2` from them, as the attacker did.
fn rewrite_published(fx: &Fx, entries: &[Vec<u8>]) {
    fs::write(
        fx.p("pub/tile/entries/000.p/2"),
        encode_bundle(entries).unwrap(),
    )
    .unwrap();
    let tile: Vec<u8> = entries.iter().flat_map(|e| leaf_hash(e)).collect();
    fs::write(fx.p("pub/tile/0/000.p/2"), tile).unwrap();
}

/// The published variant: a witnessed size-2 checkpoint with an entry
/// bundle carrying a third event (e1‖e2 as entry 1, tiles recomputed).
/// Found: `verify PUBDIR --witness` exit 0. Now: exit 1, the entry named.
#[test]
fn verify_witness_of_a_published_dir_refuses_an_event_beyond_its_checkpoint() {
    let (fx, w1) = witnessed_ledger();
    fx.run(&["verify", "pub", "--witness", &w1]).ok();
    let e = events(&fx.p("led"));
    rewrite_published(&fx, &[e[0].clone(), [&e[1][..], &e[2][..]].concat()]);
    for extra in [&[][..], &["--allow-unwitnessed-tail"][..]] {
        let mut args = vec!["verify", "pub", "--witness", &w1];
        args.extend_from_slice(extra);
        fx.run(&args).fails(
            1,
            "pub/tile/entries/000.p/2: the entry of event 1 is not exactly one event",
        );
    }
}

/// `verify PUBDIR` with `tile/entries/000.p/2` rewritten as [e0,
/// e1‖e2‖e3] and `tile/0/000.p/2` recomputed from those entries. Found:
/// exit 0, "OK: 4 events verified". Now each entry must be exactly one
/// event, and the entries must hash to the checkpoint's root whatever
/// the tiles say ([e0, e2] with its tile recomputed). check-proof on the
/// same directory refused it already, by the tiles.
#[test]
fn verify_of_a_published_dir_requires_one_event_per_entry_and_the_checkpoint_root() {
    let (fx, _) = witnessed_ledger();
    let e = events(&fx.p("led"));
    rewrite_published(
        &fx,
        &[e[0].clone(), [&e[1][..], &e[2][..], &e[3][..]].concat()],
    );
    fx.run(&["verify", "pub"]).fails(
        1,
        "pub/tile/entries/000.p/2: the entry of event 1 is not exactly one event (",
    );
    // check-proof refused it already: the tiles are read against the root.
    fx.run(&["check-proof", "pub", "--event", "1", "--trust", "trust"])
        .fails(
            1,
            "the published tiles: the tiles in pub do not hash to the trusted root",
        );
    rewrite_published(&fx, &[e[0].clone(), e[2].clone()]);
    fx.run(&["verify", "pub"])
        .fails(1, "the published entries hash to ");
    let r = fx.run(&["verify", "pub"]);
    assert!(r.stderr.contains("not to the root"), "{r}");
}

/// A consistency bundle from a size-0 checkpoint whose root is not
/// SHA-256("") (signed by a trusted key). Found: check-proof exit 0.
/// FORMAT §12.2.2: the verifier checks the old root itself.
#[test]
fn a_size_0_consistency_bundle_with_another_root_is_refused() {
    let fx = Fx::with_ledger();
    trust(&fx);
    grow(&fx, 4, false);
    let new = read_cp(&fx, "led", 4);
    let (origin, _, root) = note_body(&new);
    let ann = key(&fx, "ann");
    let bundle = |old_root| {
        ledger::proofs::bundle::Bundle::Consistency {
            old: forge(&origin, 0, old_root, &ann),
            new: new.clone(),
            proof: vec![],
        }
        .encode()
    };
    fs::write(
        fx.p("empty.bundle"),
        bundle(ledger::tlog::merkle::empty_root()),
    )
    .unwrap();
    fx.run(&["check-proof", "empty.bundle", "--trust", "trust"])
        .ok();
    fs::write(fx.p("false.bundle"), bundle(root)).unwrap();
    fx.run(&["check-proof", "false.bundle", "--trust", "trust"])
        .fails(1, "the proof leads to old root ");
}

/// A 300-byte `checkpoint` claiming 2^40 events. Found: `verify PUBDIR`
/// and `check-proof PUBDIR --event 0` abort ("memory allocation of
/// 2147483648 bytes failed"): the tile list of the claimed size was built
/// before anything was read. Now each fails at the first missing file,
/// under the memory cap.
#[test]
fn a_published_checkpoint_claiming_2_pow_40_events_allocates_nothing() {
    let (fx, _) = witnessed_ledger();
    let (origin, _, root) = note_body(&fx.read("pub/checkpoint"));
    let huge = forge(&origin, 1 << 40, root, &key(&fx, "ann"));
    assert!(huge.len() < 400);
    fs::write(fx.p("pub/checkpoint"), huge).unwrap();
    capped(&fx, &["verify", "pub"]).fails(
        1,
        "pub/tile/entries/000: No such file or directory (os error 2): the published directory lacks an entry bundle its checkpoint needs",
    );
    let r = capped(
        &fx,
        &["check-proof", "pub", "--event", "0", "--trust", "trust"],
    );
    r.fails(1, "the published tiles");
    let r = capped(
        &fx,
        &[
            "check-proof",
            "pub",
            "--event",
            "1099511627775",
            "--trust",
            "trust",
        ],
    );
    r.fails(1, "the published tiles");
}

/// A sparse file of `len` bytes (no disk used).
fn sparse(path: &std::path::Path, len: u64) {
    let _ = fs::remove_file(path);
    fs::File::create(path).unwrap().set_len(len).unwrap();
}

fn replace_with_link(fx: &Fx, rel: &str, target: &str) {
    let _ = fs::remove_file(fx.p(rel));
    symlink(target, fx.p(rel)).unwrap();
}

fn mkfifo(fx: &Fx, rel: &str) {
    let _ = fs::remove_file(fx.p(rel));
    let ok = Command::new("mkfifo")
        .arg(fx.p(rel))
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "mkfifo {rel}");
}

/// `checkpoints/3` as a link to /dev/zero (the size limit was checked on
/// the link: out of memory); 3000 sparse 1 MiB checkpoint files (all were
/// held in memory: out of memory at file 1461). Now the link is refused
/// unread and the files are read one at a time, each capped: exit 1
/// naming the first, under the memory cap.
#[test]
fn stored_checkpoints_are_regular_capped_and_read_one_at_a_time() {
    let fx = Fx::with_ledger();
    grow(&fx, 4, false);
    symlink("/dev/zero", fx.p("led/checkpoints/3")).unwrap();
    capped(&fx, &["verify", "led"]).fails(
        1,
        "checkpoints/3: is a symbolic link, not a checkpoint file",
    );
    fs::remove_file(fx.p("led/checkpoints/3")).unwrap();
    for i in 100..3100 {
        sparse(&fx.p(&format!("led/checkpoints/{i}")), 1 << 20);
    }
    capped(&fx, &["verify", "led"]).fails(1, "checkpoints/100: ");
}

/// `docs/<hash>` as a FIFO or a link to /dev/zero hung verify. Now both
/// are refused at once (exit 1, the file named).
#[test]
fn documents_that_are_fifos_or_links_to_devices_do_not_hang_verify() {
    let fx = Fx::with_ledger();
    grow(&fx, 2, false);
    let doc = format!("led/docs/{}", sha256_hex(b"document 1\n"));
    assert!(fx.p(&doc).is_file());
    mkfifo(&fx, &doc);
    capped(&fx, &["verify", "led"]).fails(1, "is not a regular file");
    replace_with_link(&fx, &doc, "/dev/zero");
    capped(&fx, &["verify", "led"]).fails(1, "is a symbolic link, not the document");
    sparse(&fx.p(&doc), 8 << 30);
    capped(&fx, &["verify", "led"]).fails(1, "more than the 256 MiB a document may have");
}

/// In a published directory, an entry bundle, a tile or the checkpoint
/// linked to /dev/zero, a FIFO, or sparse 8 GiB files exhausted memory.
/// Now each is refused unread: exit 1 (or 2 for a checkpoint that cannot
/// be a note), the file named, under the memory cap and the timeout.
#[test]
fn published_files_are_regular_and_capped() {
    let (fx, _) = witnessed_ledger();
    copy_dir(&fx.p("pub"), &fx.p("orig"));
    let reset = || {
        let _ = fs::remove_dir_all(fx.p("pub"));
        copy_dir(&fx.p("orig"), &fx.p("pub"));
    };
    for rel in ["tile/entries/000.p/2", "tile/0/000.p/2", "checkpoint"] {
        let path = format!("pub/{rel}");
        let needle = format!("{path} is a symbolic link");
        replace_with_link(&fx, &path, "/dev/zero");
        capped(&fx, &["verify", "pub"]).fails(1, &needle);
        if rel != "checkpoint" {
            capped(
                &fx,
                &["check-proof", "pub", "--event", "1", "--trust", "trust"],
            )
            .fails(1, &needle);
        }
        mkfifo(&fx, &path);
        capped(&fx, &["verify", "pub"]).fails(1, &format!("{path} is a FIFO"));
        sparse(&fx.p(&path), 8 << 30);
        let r = capped(&fx, &["verify", "pub"]);
        r.fails_json(r.code.unwrap_or(0).max(1), &path);
        assert!(matches!(r.code, Some(1 | 2)), "{r}");
        reset();
    }
    // A directory on the way that is a link (out of the published dir).
    fs::rename(fx.p("pub/tile/entries"), fx.p("entries-elsewhere")).unwrap();
    symlink(fx.p("entries-elsewhere"), fx.p("pub/tile/entries")).unwrap();
    capped(&fx, &["verify", "pub"]).fails(1, "is a symbolic link (or lies behind one)");
}

/// `check-proof` (and `witness cosign`, its request) read an 8 GiB bundle whole before checking its 4 MiB
/// limit. Now a bundle file is refused by its size (exit 2), and one that
/// is a FIFO or a device (a link is followed: the user named it) is
/// refused unread.
#[test]
fn check_proof_refuses_a_bundle_file_too_large_or_not_regular() {
    let fx = Fx::with_ledger();
    trust(&fx);
    sparse(&fx.p("big.bundle"), 8 << 30);
    capped(&fx, &["check-proof", "big.bundle", "--trust", "trust"]).fails(
        2,
        "big.bundle is 8589934592 bytes, more than the 4 MiB a file of a proof from `ledger prove` may have",
    );
    mkfifo(&fx, "fifo.bundle");
    capped(&fx, &["check-proof", "fifo.bundle", "--trust", "trust"])
        .fails(2, "fifo.bundle is a FIFO, not a regular file");
    symlink("/dev/zero", fx.p("zero.bundle")).unwrap();
    capped(&fx, &["check-proof", "zero.bundle", "--trust", "trust"])
        .fails(2, "zero.bundle is a device, not a regular file");
    fs::create_dir_all(fx.p("wit")).unwrap();
    fx.run(&["keygen", "wit/w1"]).ok();
    let log = vkey(&fx, &["--key", "keys/ann.pub", "--ledger", "led"]);
    let cosign = |req: &str| {
        capped(
            &fx,
            &[
                "witness",
                "cosign",
                req,
                "--key",
                "wit/w1.key",
                "--name",
                "w1.example",
                "--state",
                "wstate",
                "--log",
                &log,
                "-o",
                "cosigned",
            ],
        )
    };
    cosign("big.bundle").fails(2, "big.bundle is 8589934592 bytes, more than the ");
    cosign("fifo.bundle").fails(2, "fifo.bundle is a FIFO, not a regular file");
    cosign("zero.bundle").fails(2, "zero.bundle is a device, not a regular file");
}

/// A directory of trusted keys is read file by file to refuse a private
/// key among them: a FIFO there blocked that read, a link to /dev/zero
/// exhausted memory. Now a FIFO that is not a `.pub` is passed over, and
/// a `.pub` that is a device is refused (exit 2), at once.
#[test]
fn a_trust_directory_with_a_fifo_or_a_device_does_not_hang() {
    let fx = Fx::with_ledger();
    trust(&fx);
    mkfifo(&fx, "trust/pipe");
    capped(&fx, &["verify", "led", "--trust", "trust"]).ok();
    symlink("/dev/zero", fx.p("trust/zero.pub")).unwrap();
    let r = capped(&fx, &["verify", "led", "--trust", "trust"]);
    r.fails(2, "trust/zero.pub");
}
