//! Audits never write (issue 10, point 6; RELIABILITY.md, "Readers"):
//! `verify`, `log`, `head`, `show`, `export`, `prove`, `check-proof`,
//! `witness request` and `vkey --ledger` work on a read-only mount and on a
//! directory they may not write, leave it byte for byte unchanged (no
//! `cache/`), never wait on a writer's lock, and see the last complete
//! event while an append is in flight.
//!
//! The read-only mount is made with `unshare -rm` (util-linux, a user and
//! mount namespace of the test's own); the unwritable directory by running
//! as `nobody` with `setpriv` when the tests run as root, or by removing
//! write permission otherwise. Where the kernel refuses a namespace, the
//! test says so in one line and skips, unless LEDGER_REQUIRE_UNSHARE is set
//! (as .ci/run sets it), where that is a failure.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// A copy of the shipped sample (with its checkpoint) in `root/ledger`,
/// a document file of it at `root/declaration.txt` for `show`, and proof
/// bundles made from it beforehand for `check-proof`.
fn sample(root: &Path) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("ledger");
    copy_dir(&repo.join("ledger"), &dir);
    copy_dir(&repo.join("keys"), &root.join("keys"));
    let docs: Vec<_> = fs::read_dir(dir.join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    fs::copy(&docs[0], root.join("declaration.txt")).unwrap();
    let cp = dir.join("checkpoints/14");
    fs::copy(&cp, root.join("held.checkpoint")).unwrap();
    for (out, args) in [
        ("event-5.proof", vec!["prove", "ledger", "--event", "5"]),
        (
            "grew.proof",
            vec!["prove", "ledger", "--from", "held.checkpoint"],
        ),
    ] {
        let mut all = args;
        all.extend(["-o", out]);
        run_bin(Path::new(BIN), root, &all).ok();
    }
    // Made by a reader: a writer would have left a cache behind.
    fs::remove_dir_all(dir.join("cache")).ok();
    dir
}

/// Every audit, as arguments run in the sample's parent directory, with
/// outputs written to `out/` (relative).
fn audits() -> Vec<Vec<&'static str>> {
    vec![
        vec!["verify", "ledger"],
        vec![
            "verify",
            "--trust",
            "keys",
            "--witness",
            "keys/witness.vkey",
            "ledger",
        ],
        vec!["--json", "verify", "ledger"],
        vec!["log", "ledger"],
        vec!["head", "ledger"],
        vec!["--json", "head", "ledger"],
        vec!["show", "ledger", "--document", "declaration.txt"],
        vec!["export", "ledger", "--event", "6", "--out", "out"],
        vec!["prove", "ledger", "--event", "1", "-o", "out/e1.proof"],
        vec!["prove", "ledger", "--event", "13", "-o", "out/e13.proof"],
        vec![
            "prove",
            "ledger",
            "--from",
            "held.checkpoint",
            "-o",
            "out/grew.proof",
        ],
        vec!["check-proof", "event-5.proof", "--trust", "keys"],
        vec!["check-proof", "grew.proof", "--trust", "keys"],
        vec![
            "witness",
            "request",
            "ledger",
            "--old",
            "0",
            "-o",
            "out/request",
        ],
        vec!["vkey", "--key", "keys/most.pub", "--ledger", "ledger"],
        vec!["fingerprint", "keys/most.pub"],
        vec![
            "verify",
            "--trust",
            "keys",
            "--tsa-ca",
            "keys/sample-tsa-ca.pem",
            "ledger",
        ],
        vec!["report", "ledger", "--trust", "keys", "-o", "out/r.html"],
        vec![
            "report",
            "ledger",
            "--trust",
            "keys",
            "--tsa-ca",
            "keys/sample-tsa-ca.pem",
            "-o",
            "out/r.pdf",
        ],
    ]
}

/// Runs `cmd` to completion within a bound, killing it past the bound.
/// Returns its exit code and output, or None if it had to be killed.
fn bounded(mut cmd: Command, limit: Duration) -> Option<(Option<i32>, String, String)> {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait").is_some() {
            let out = child.wait_with_output().expect("output");
            return Some((
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ));
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ledger_cmd(root: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args).current_dir(root).env("NO_COLOR", "1");
    c
}

/// Whether this process may use `unshare -rm` to mount read-only; says why
/// not in one line (and fails under LEDGER_REQUIRE_UNSHARE) otherwise.
fn unshare_available() -> bool {
    let ok = Command::new("unshare")
        .args(["-rm", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        let why = "unshare -rm (user and mount namespaces) is not available here";
        assert!(
            std::env::var_os("LEDGER_REQUIRE_UNSHARE").is_none(),
            "LEDGER_REQUIRE_UNSHARE is set but {why}"
        );
        eprintln!("skipped: {why}");
    }
    ok
}

#[test]
fn audits_work_on_a_read_only_mount_and_leave_it_unchanged() {
    if !unshare_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let dir = sample(root);
    fs::create_dir(root.join("out")).unwrap();
    let before = snapshot(&dir);
    for args in audits() {
        // The ledger directory is bind-mounted read-only onto itself in a
        // namespace of the command's own; the rest stays writable.
        let script = r#"mount --bind -o ro "$1" "$1" && shift && exec "$@""#;
        let mut c = Command::new("unshare");
        c.args(["-rm", "sh", "-c", script, "sh"])
            .arg(&dir)
            .arg(BIN)
            .args(&args)
            .current_dir(root)
            .env("NO_COLOR", "1");
        let (code, stdout, stderr) =
            bounded(c, Duration::from_secs(60)).expect("an audit did not finish");
        assert_eq!(
            code,
            Some(0),
            "ledger {} on a read-only mount:\n{stdout}\n{stderr}",
            args.join(" ")
        );
        assert!(stderr.is_empty(), "ledger {}: {stderr}", args.join(" "));
        assert_same(
            &before,
            &snapshot(&dir),
            &format!("ledger {}", args.join(" ")),
        );
        assert!(!dir.join("cache").exists(), "ledger {}", args.join(" "));
    }
    // And a writer on that mount refuses, naming the file, changing nothing.
    let script = r#"mount --bind -o ro "$1" "$1" && shift && exec "$@""#;
    let mut c = Command::new("unshare");
    c.args(["-rm", "sh", "-c", script, "sh"])
        .arg(&dir)
        .arg(BIN)
        .args(["repair", "ledger"])
        .current_dir(root);
    let (code, _, stderr) = bounded(c, Duration::from_secs(60)).unwrap();
    assert_ne!(code, Some(0), "{stderr}");
    assert_same(&before, &snapshot(&dir), &"a refused writer");
}

/// Runs as `nobody` (when the tests run as root) or as ourselves with the
/// write bits removed: either way the directory cannot be written.
#[test]
fn audits_work_on_a_directory_they_may_not_write() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let dir = sample(root);
    let out = root.join("out");
    fs::create_dir(&out).unwrap();
    fs::set_permissions(&out, fs::Permissions::from_mode(0o777)).unwrap();
    let as_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    fn walk(p: &Path, f: &dyn Fn(&Path, bool)) {
        let dir = p.is_dir();
        f(p, dir);
        if dir {
            for e in fs::read_dir(p).unwrap() {
                walk(&e.unwrap().path(), f);
            }
        }
    }
    // Readable by all, writable by none.
    walk(&dir, &|p, is_dir| {
        chmod(p, if is_dir { 0o555 } else { 0o444 })
    });
    chmod(root, 0o755);
    let before = snapshot(&dir);
    for args in audits() {
        let c = if as_root {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN])
                .args(&args)
                .current_dir(root)
                .env("NO_COLOR", "1");
            c
        } else {
            ledger_cmd(root, &args)
        };
        let (code, stdout, stderr) = bounded(c, Duration::from_secs(60)).unwrap();
        assert_eq!(
            code,
            Some(0),
            "ledger {} without write permission:\n{stdout}\n{stderr}",
            args.join(" ")
        );
        assert_same(
            &before,
            &snapshot(&dir),
            &format!("ledger {}", args.join(" ")),
        );
    }
    walk(&dir, &|p, is_dir| {
        chmod(p, if is_dir { 0o755 } else { 0o644 })
    });
}

/// Holds the writer's lock (an exclusive `flock` on events.cbor, as a
/// writer in another process holds it) for as long as it lives.
struct WriterLock(#[allow(dead_code)] fs::File);

impl WriterLock {
    fn take(dir: &Path) -> WriterLock {
        let f = fs::OpenOptions::new()
            .append(true)
            .open(dir.join("events.cbor"))
            .unwrap();
        f.lock().unwrap();
        WriterLock(f)
    }
}

#[test]
fn audits_do_not_wait_for_a_writer_that_holds_the_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let dir = sample(root);
    fs::create_dir(root.join("out")).unwrap();
    let before = snapshot(&dir);
    let lock = WriterLock::take(&dir);
    for args in audits() {
        let got = bounded(ledger_cmd(root, &args), Duration::from_secs(60));
        let (code, stdout, stderr) =
            got.unwrap_or_else(|| panic!("ledger {} waited for the writer", args.join(" ")));
        assert_eq!(
            code,
            Some(0),
            "ledger {}:\n{stdout}\n{stderr}",
            args.join(" ")
        );
    }
    drop(lock);
    assert_same(
        &before,
        &snapshot(&dir),
        &"audits while a writer held the lock",
    );
}

/// Bytes after the last complete event, while a writer is at work, are an
/// append in flight, but only on positive evidence: the reader sees them
/// become a complete event, or cut back, within a few seconds; it then
/// verifies up to the last complete event and says it did not read the
/// rest. A lock held with nothing happening (anyone who can read the log
/// can take it) proves nothing: after the wait, a torn tail, exit 1, as
/// with no writer at all.
#[test]
fn a_reader_sees_the_last_complete_event_while_an_append_is_in_flight() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let dir = sample(root);
    let log = dir.join("events.cbor");
    let committed = fs::read(&log).unwrap();
    // An event's first 120 bytes, then the rest: what a reader can see of
    // an append being written. (The genesis's bytes: only their framing
    // matters here, the reader stops before them.)
    let first = committed[..committed.len().min(2000)].to_vec();
    let genesis_len = match ledger::core::format::frame(&first) {
        ledger::core::format::Frame::Item(n) => n,
        _ => panic!("the genesis frames"),
    };
    let (partial, rest) = (first[..120].to_vec(), first[120..genesis_len].to_vec());
    let (count, head) = {
        let r = run_bin(Path::new(BIN), root, &["--json", "head", "ledger"]);
        r.ok();
        let j = r.json();
        (
            j["count"].as_u64().unwrap(),
            j["head"].as_str().unwrap().to_owned(),
        )
    };
    let put = |bytes: &[u8]| {
        fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .unwrap()
            .write_all(bytes)
            .unwrap()
    };
    let reset = || fs::write(&log, &committed).unwrap();
    // Later, in another thread: the rest of the event, or a cut back.
    let later = |f: Box<dyn FnOnce() + Send>| {
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(700));
            f()
        })
    };

    let lock = WriterLock::take(&dir);
    for json in [false, true] {
        reset();
        put(&partial);
        let (l, rest) = (log.clone(), rest.clone());
        let t = later(Box::new(move || {
            fs::OpenOptions::new()
                .append(true)
                .open(&l)
                .unwrap()
                .write_all(&rest)
                .unwrap()
        }));
        let args: &[&str] = if json {
            &["--json", "verify", "ledger"]
        } else {
            &["verify", "ledger"]
        };
        let r = run_bin(Path::new(BIN), root, args);
        t.join().unwrap();
        r.ok();
        if json {
            let j = r.json();
            assert_eq!(j["count"].as_u64(), Some(count));
            assert_eq!(j["in_flight"].as_u64(), Some(120));
        } else {
            let ok = format!("OK: {count} events verified, head {head}");
            assert!(r.stdout.contains(&ok), "{r}");
            assert!(
                r.stdout.contains("an append was in flight: its 120 bytes"),
                "{r}"
            );
        }
    }
    // A failed append, cut back by its writer.
    reset();
    put(&partial);
    let (l, c) = (log.clone(), committed.clone());
    let t = later(Box::new(move || fs::write(&l, &c).unwrap()));
    let r = run_bin(Path::new(BIN), root, &["verify", "ledger"]);
    t.join().unwrap();
    r.ok();
    // The lock held, nothing happening: not evidence.
    reset();
    put(&partial);
    let started = std::time::Instant::now();
    let r = run_bin(Path::new(BIN), root, &["verify", "ledger"]);
    r.fails(1, "the log ends in 120 bytes that are not a complete event");
    assert!(started.elapsed() < Duration::from_secs(30));
    drop(lock);
    // No writer at work: the same bytes are a torn tail, at once.
    let r = run_bin(Path::new(BIN), root, &["verify", "ledger"]);
    r.fails(1, "the log ends in 120 bytes that are not a complete event");
    assert_eq!(fs::read(&log).unwrap().len(), committed.len() + 120);
}

/// The complaint that opened this: `prove --event 1` on a fresh copy of
/// the sample created cache/state.json, tree, offsets and entries.
#[test]
fn prove_on_a_fresh_copy_creates_no_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let dir = sample(root);
    fs::create_dir(root.join("out")).unwrap();
    let before = snapshot(&dir);
    for args in audits() {
        run_bin(Path::new(BIN), root, &args).ok();
        assert!(
            !dir.join("cache").exists(),
            "ledger {} made cache/",
            args.join(" ")
        );
    }
    assert_same(&before, &snapshot(&dir), &"audits on a writable copy");
}
