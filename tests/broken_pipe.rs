//! A closed stdout is not an error and never a panic (ripgrep's rule):
//! every printing command, run with its stdout a pipe nobody reads, exits
//! 0 and says nothing, and a verdict that was not printed still stands.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_ledger")
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Runs the binary in `cwd` with stdout a pipe whose read end is closed.
fn closed_stdout(cwd: &Path, args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run ledger")
}

/// A copy of the shipped sample and its public keys: what a command
/// writes (a cache, a bundle) lands there, never in the repository.
fn sample() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    copy_dir(&repo("ledger"), &t.path().join("ledger"));
    copy_dir(&repo("keys"), &t.path().join("keys"));
    t
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn assert_quiet_exit(out: &Output, code: i32, args: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "ledger {args:?}: {stderr}");
    assert!(
        !stderr.contains("panicked"),
        "ledger {args:?} panicked: {stderr}"
    );
    if code == 0 {
        assert!(
            stderr.is_empty(),
            "ledger {args:?} wrote to stderr: {stderr}"
        );
    }
}

#[test]
fn every_printing_command_exits_0_on_a_closed_stdout() {
    let t = sample();
    let doc = std::fs::read_dir(t.path().join("ledger/docs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let doc = doc.to_str().unwrap().to_owned();
    // A bundle to check, made with stdout open.
    let made = Command::new(bin())
        .args(["prove", "ledger/", "--event", "1", "-o", "event1.bundle"])
        .current_dir(t.path())
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let cases: &[&[&str]] = &[
        &["head", "ledger/"],
        &["--json", "head", "ledger/"],
        &["log", "ledger/"],
        &["--json", "log", "ledger/"],
        &["verify", "ledger/"],
        &["--json", "verify", "ledger/"],
        &[
            "verify",
            "--trust",
            "keys/",
            "--witness",
            "keys/witness.vkey",
            "ledger/",
        ],
        &["show", "ledger/", "--document", &doc],
        &["--json", "show", "ledger/", "--document", &doc],
        &["vkey", "--key", "keys/most.pub", "--ledger", "ledger/"],
        &["check-proof", "event1.bundle", "--trust", "keys/"],
        &["--json", "check-proof", "event1.bundle", "--trust", "keys/"],
        &["completions", "bash"],
        &["man"],
        &["--json", "keygen", "fresh"],
        &["--help"],
        &["--version"],
    ];
    for args in cases {
        assert_quiet_exit(&closed_stdout(t.path(), args), 0, args);
    }
}

#[test]
fn a_refutation_stands_when_stdout_is_closed() {
    let t = sample();
    // Flip one byte of the last event's signature: verify must still exit 1
    // and say why on stderr, whether or not its report could be printed.
    let log = t.path().join("ledger/events.cbor");
    let mut bytes = std::fs::read(&log).unwrap();
    let n = bytes.len();
    bytes[n - 5] ^= 1;
    std::fs::write(&log, bytes).unwrap();
    for args in [&["verify", "ledger/"][..], &["--json", "verify", "ledger/"]] {
        let out = closed_stdout(t.path(), args);
        assert_quiet_exit(&out, 1, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("ledger: "), "{stderr}");
    }
}
