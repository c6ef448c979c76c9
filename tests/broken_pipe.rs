//! A closed stdout is not an error and never a panic: every printing
//! command, run with stdout a pipe whose read end is closed, exits 0 and
//! says nothing on stderr (as ripgrep does). Before, `head`, `--json head`,
//! `show` and `completions` panicked (exit 101) and `verify` exited 2.

mod common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::copy_dir;

const BIN: &str = env!("CARGO_BIN_EXE_ledger");

/// A scratch directory holding a copy of the sample (`led/`), its public
/// keys (`keys/`), a ledger of our own (`own/`, with private keys in
/// `k/`), and what the commands before need.
struct Fx {
    dir: tempfile::TempDir,
}

impl Fx {
    fn new() -> Fx {
        let fx = Fx {
            dir: tempfile::tempdir().unwrap(),
        };
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        copy_dir(&root.join("ledger"), &fx.p("led"));
        copy_dir(&root.join("keys"), &fx.p("keys"));
        let _ = fs::remove_dir_all(fx.p("led/cache"));
        fs::create_dir(fx.p("k")).unwrap();
        fx.ok(&["keygen", "k/ann"]);
        fx.ok(&["keygen", "k/wit"]);
        fx.ok(&[
            "init",
            "own",
            "--key",
            "k/ann.key",
            "--title",
            "Own",
            "--party",
            "ann=k/ann.pub",
        ]);
        fx
    }

    fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Runs with stdout captured, and requires success.
    fn ok(&self, args: &[&str]) -> String {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ledger {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs with stdout a pipe nobody reads: its read end is closed
    /// before the command starts.
    fn closed(&self, args: &[&str]) -> Output {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        Command::new(BIN)
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap()
    }

    /// The command exits 0 with nothing on stderr, stdout closed.
    fn quiet_exit(&self, args: &[&str]) {
        let out = self.closed(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("panicked"),
            "ledger {}: {stderr}",
            args.join(" ")
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "ledger {}: {stderr}",
            args.join(" ")
        );
        assert!(stderr.is_empty(), "ledger {}: {stderr}", args.join(" "));
    }
}

/// Some document version of the sample.
fn a_document(fx: &Fx) -> String {
    let mut names: Vec<String> = fs::read_dir(fx.p("led/docs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    format!("led/docs/{}", names[0])
}

#[test]
fn reports_of_a_ledger() {
    let fx = Fx::new();
    let doc = a_document(&fx);
    for json in [false, true] {
        let j: &[&str] = if json { &["--json"] } else { &[] };
        for args in [
            vec!["verify", "led"],
            vec!["verify", "led", "--trust", "keys"],
            vec!["log", "led"],
            vec!["head", "led"],
            vec!["show", "led", "--document", &doc],
        ] {
            fx.quiet_exit(&[j, &args].concat());
        }
    }
    fx.quiet_exit(&["--quiet", "verify", "led"]);
}

#[test]
fn help_version_completions_man() {
    let fx = Fx::new();
    for args in [
        vec!["--help"],
        vec!["--version"],
        vec!["verify", "--help"],
        vec!["completions", "bash"],
        vec!["completions", "zsh"],
        vec!["man"],
    ] {
        fx.quiet_exit(&args);
    }
}

#[test]
fn keys_and_vkeys() {
    let fx = Fx::new();
    fx.quiet_exit(&["keygen", "k/one"]);
    fx.quiet_exit(&["--json", "keygen", "k/two"]);
    fx.quiet_exit(&["vkey", "--key", "k/wit.pub", "--witness", "w.example"]);
    fx.quiet_exit(&["vkey", "--key", "keys/most.pub", "--ledger", "led"]);
}

#[test]
fn writes_that_report() {
    let fx = Fx::new();
    fs::write(fx.p("d.txt"), "Declaration\n").unwrap();
    let key = ["--key", "k/ann.key"];
    for json in [false, true] {
        let j: &[&str] = if json { &["--json"] } else { &[] };
        fx.quiet_exit(&[j, &["append", "own"], &key, &["note", "--text", "hi"]].concat());
    }
    fx.quiet_exit(
        &[
            &["append", "own"][..],
            &key,
            &["draft", "--doc", "d", "--file", "d.txt", "--title", "D"],
        ]
        .concat(),
    );
    fx.quiet_exit(&[&["sign", "own"][..], &key, &["--doc", "d"]].concat());
    fx.quiet_exit(&["repair", "own"]);
    fx.quiet_exit(&["checkpoint", "own", "--key", "k/ann.key"]);
    fx.quiet_exit(&["--json", "checkpoint", "own", "--key", "k/ann.key"]);
    fx.quiet_exit(&["publish", "own", "pub"]);
    fx.quiet_exit(&["verify", "pub"]);
    fx.quiet_exit(&["--json", "verify", "pub"]);
    fs::create_dir(fx.p("x")).unwrap();
    fx.quiet_exit(&["export", "led", "--event", "1", "--out", "x"]);
    let init = [
        "init",
        "new",
        "--key",
        "k/ann.key",
        "--title",
        "New",
        "--party",
        "ann=k/ann.pub",
    ];
    fx.quiet_exit(&init);
}

#[test]
fn proofs_and_witnesses() {
    let fx = Fx::new();
    fx.quiet_exit(&["prove", "led", "--event", "1", "--out", "p1"]);
    for json in [false, true] {
        let j: &[&str] = if json { &["--json"] } else { &[] };
        fx.quiet_exit(&[j, &["check-proof", "p1", "--trust", "keys"]].concat());
    }
    fx.quiet_exit(&["witness", "request", "led", "--old", "0", "--out", "req"]);
    let log = fx.ok(&["vkey", "--key", "keys/most.pub", "--ledger", "led"]);
    let cosign = [
        "witness",
        "cosign",
        "req",
        "--key",
        "k/wit.key",
        "--name",
        "w.example",
        "--state",
        "state",
        "--log",
        log.trim(),
        "--out",
        "cosigned",
    ];
    fx.quiet_exit(&cosign);
    assert!(fx.p("cosigned").is_file());
}

/// `ledger verify DIR | head -1`: the reader leaves after one line.
#[test]
fn a_reader_that_leaves_early() {
    let fx = Fx::new();
    let mut child = Command::new(BIN)
        .args(["verify", "led"])
        .current_dir(fx.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(!line.is_empty());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

/// A verdict that could not be printed still stands: a refuted ledger
/// exits 1, with its one line on stderr, whether or not stdout is open.
#[test]
fn a_refutation_stands_when_stdout_is_closed() {
    let fx = Fx::new();
    // One bit of the last event's signature.
    let log = fx.p("led/events.cbor");
    let mut bytes = fs::read(&log).unwrap();
    let n = bytes.len();
    bytes[n - 5] ^= 1;
    fs::write(&log, bytes).unwrap();
    for args in [&["verify", "led"][..], &["--json", "verify", "led"]] {
        let out = fx.closed(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "ledger {args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(stderr.starts_with("ledger: "), "{stderr}");
    }
}

/// The commands added since: fingerprints, trusted-time verification, the
/// report, and the three steps of offline signing, each with stdout closed.
#[test]
fn fingerprints_reports_and_offline_signing() {
    let fx = Fx::new();
    fx.quiet_exit(&["fingerprint", "keys/most.pub", "k/ann.pub"]);
    let tsa = ["--tsa-ca", "keys/sample-tsa-ca.pem"];
    fx.quiet_exit(&[&["verify", "led", "--trust", "keys"][..], &tsa].concat());
    fx.quiet_exit(&[&["--json", "verify", "led"][..], &tsa].concat());
    fx.quiet_exit(&["report", "led", "--trust", "keys", "-o", "r.html"]);
    fx.quiet_exit(&["report", "led", "-o", "r.pdf"]);
    assert!(fx.p("r.html").is_file() && fx.p("r.pdf").is_file());
    fs::write(fx.p("annex.txt"), "Annex\n").unwrap();
    fx.quiet_exit(&[
        "sign-request",
        "own",
        "--key",
        "k/ann.pub",
        "-o",
        "req.cbor",
        "draft",
        "--doc",
        "annex",
        "--file",
        "annex.txt",
        "--title",
        "Annex",
    ]);
    fx.quiet_exit(&[
        "sign-offline",
        "req.cbor",
        "--key",
        "k/ann.key",
        "-o",
        "signed.cbor",
        "--yes",
    ]);
    fx.quiet_exit(&["attach", "own", "signed.cbor"]);
    fx.ok(&["verify", "own"]);
}

/// `checkpoint --policy` whose witness cannot be reached: the quorum is
/// not met, and that verdict stands (exit 1) though the per-witness lines
/// printed before it found stdout closed.
#[test]
fn a_quorum_not_met_stands_when_stdout_is_closed() {
    let fx = Fx::new();
    let v = fx.ok(&["vkey", "--key", "k/wit.pub", "--witness", "w.example"]);
    // Port 9 (discard) on loopback: nothing listens there in a test run.
    let policy = format!("witness w {} http://127.0.0.1:9\nquorum w\n", v.trim());
    fs::write(fx.p("p.policy"), policy).unwrap();
    let out = fx.closed(&[
        "checkpoint",
        "own",
        "--key",
        "k/ann.key",
        "--policy",
        "p.policy",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not witnessed enough"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
