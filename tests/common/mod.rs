//! Helpers for the integration tests of the `ledger` binary: run it, check
//! its exit status and its one-line error message, and snapshot a ledger
//! directory to prove that a refused command changed nothing.

#![allow(dead_code)]

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The binary under test (the debug build under `cargo test`).
pub const BIN: &str = env!("CARGO_BIN_EXE_ledger");

/// The example `add-checkpoint` request body of c2sp.org/tlog-witness
/// (C2SP/C2SP 5ba5ee8, 2026-07-22), byte for byte: its checkpoint and
/// signature lines are those of c2sp.org/tlog-cosignature's example. The
/// spec publishes neither the log's public key nor the old root, and its
/// four proof lines are illustrative (RFC 6962 needs 18 hashes from
/// 20852014 to 20852163), so no witness can cosign it as it stands.
pub const TLOG_WITNESS_SPEC_REQUEST: &str = "old 20852014
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=

example.com/behind-the-sofa
20852163
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
— example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=
";

/// One run of the binary.
pub struct Run {
    pub args: Vec<String>,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl fmt::Display for Run {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ledger {}\n  exit: {:?}\n  stdout: {:?}\n  stderr: {:?}",
            self.args.join(" "),
            self.code,
            self.stdout,
            self.stderr
        )
    }
}

/// The problems with an error message, if any: it must be exactly one line
/// on stderr, prefixed `ledger: `, and not a panic.
pub fn message_problem(stderr: &str) -> Option<String> {
    if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
        return Some("the binary panicked".into());
    }
    if !stderr.starts_with("ledger: ") {
        return Some("stderr does not start with \"ledger: \"".into());
    }
    if !stderr.ends_with('\n') || stderr.matches('\n').count() != 1 {
        return Some("stderr is not exactly one line".into());
    }
    if stderr.contains('\x1b') {
        return Some("stderr contains an escape character".into());
    }
    None
}

impl Run {
    /// Exit status 0, nothing on stderr.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert_eq!(self.code, Some(0), "expected success:\n{self}");
        assert_eq!(self.stderr, "", "expected a silent stderr:\n{self}");
        self
    }

    /// Exit status `code`, and one line on stderr that contains `needle`.
    /// Nothing on stdout: a refused command reports nothing as done.
    #[track_caller]
    pub fn fails(&self, code: i32, needle: &str) -> &Self {
        self.fails_json(code, needle);
        assert_eq!(self.stdout, "", "a failure printed to stdout:\n{self}");
        self
    }

    /// Like [`Run::fails`], but stdout may carry a JSON verdict.
    #[track_caller]
    pub fn fails_json(&self, code: i32, needle: &str) -> &Self {
        assert_eq!(self.code, Some(code), "wrong exit status:\n{self}");
        if let Some(p) = message_problem(&self.stderr) {
            panic!("{p}:\n{self}");
        }
        assert!(
            self.stderr.contains(needle),
            "stderr does not mention {needle:?}:\n{self}"
        );
        self
    }

    /// A usage error reported by the argument parser (exit 2; clap's own
    /// multi-line format).
    #[track_caller]
    pub fn usage_error(&self, needle: &str) -> &Self {
        assert_eq!(self.code, Some(2), "wrong exit status:\n{self}");
        assert!(!self.stderr.contains("panicked"), "{self}");
        assert!(self.stderr.contains(needle), "{self}");
        assert_eq!(self.stdout, "", "{self}");
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }
}

/// Runs `bin` in `cwd` with `args`.
pub fn run_bin(bin: &Path, cwd: &Path, args: &[&str]) -> Run {
    let out = Command::new(bin)
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run the ledger binary");
    Run {
        args: args.iter().map(|s| s.to_string()).collect(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every file and directory under `dir` except the writer's `cache/`:
/// path (relative, "" for `dir` itself) -> bytes (None for a directory,
/// the target for a symbolic link).
/// An absent `dir` gives an empty map.
pub type Snapshot = BTreeMap<PathBuf, Option<Vec<u8>>>;

pub fn snapshot(dir: &Path) -> Snapshot {
    fn walk(root: &Path, rel: &Path, out: &mut Snapshot) {
        let path = if rel.as_os_str().is_empty() {
            root.to_owned()
        } else {
            root.join(rel)
        };
        let meta = fs::symlink_metadata(&path).expect("stat");
        if meta.file_type().is_symlink() {
            let target = fs::read_link(&path).expect("readlink");
            let mut v = b"symlink -> ".to_vec();
            v.extend_from_slice(target.as_os_str().as_encoded_bytes());
            out.insert(rel.to_owned(), Some(v));
        } else if meta.is_dir() {
            out.insert(rel.to_owned(), None);
            let mut names: Vec<_> = fs::read_dir(&path)
                .expect("read_dir")
                .map(|e| e.expect("dir entry").file_name())
                .collect();
            names.sort();
            for name in names {
                if rel.as_os_str().is_empty() && name == "cache" {
                    continue;
                }
                walk(root, &rel.join(name), out);
            }
        } else {
            out.insert(rel.to_owned(), Some(fs::read(&path).expect("read")));
        }
    }
    let mut out = Snapshot::new();
    if fs::symlink_metadata(dir).is_ok() {
        walk(dir, Path::new(""), &mut out);
    }
    out
}

#[track_caller]
pub fn assert_same(before: &Snapshot, after: &Snapshot, context: &dyn fmt::Display) {
    if before == after {
        return;
    }
    let mut diffs = Vec::new();
    for (p, v) in before {
        match after.get(p) {
            None => diffs.push(format!("removed: {}", p.display())),
            Some(w) if w != v => diffs.push(format!(
                "changed: {} ({} -> {} bytes)",
                p.display(),
                v.as_ref().map_or(0, Vec::len),
                w.as_ref().map_or(0, Vec::len)
            )),
            _ => {}
        }
    }
    for p in after.keys() {
        if !before.contains_key(p) {
            diffs.push(format!("added: {}", p.display()));
        }
    }
    panic!(
        "the ledger directory changed:\n  {}\n{context}",
        diffs.join("\n  ")
    );
}

/// The RFC 3339 time of step `n` of a test's story (all in 2024, so that
/// "now" is later than any of them).
pub fn time(n: u32) -> String {
    format!("2024-05-06T{:02}:{:02}:00Z", 8 + n / 60, n % 60)
}

/// A temporary working directory with keys and, usually, a ledger `led`.
/// Commands run with it as their current directory, so paths and messages
/// are short and relative.
pub struct Fx {
    pub tmp: tempfile::TempDir,
    clock: Cell<u32>,
}

impl Fx {
    /// An empty directory.
    pub fn empty() -> Fx {
        Fx {
            tmp: tempfile::tempdir().expect("tempdir"),
            clock: Cell::new(0),
        }
    }

    /// Keys made by `ledger keygen`: keys/ann and keys/bob (the parties),
    /// other/eve (an outsider).
    pub fn with_keys() -> Fx {
        let fx = Fx::empty();
        fs::create_dir(fx.p("keys")).unwrap();
        fs::create_dir(fx.p("other")).unwrap();
        for name in ["keys/ann", "keys/bob", "other/eve"] {
            fx.run(&["keygen", name]).ok();
        }
        fx
    }

    /// Keys, and a ledger `led` created by ann with parties ann and bob.
    pub fn with_ledger() -> Fx {
        let fx = Fx::with_keys();
        let t = fx.at();
        fx.run(&[
            "init",
            "led",
            "--key",
            "keys/ann.key",
            "--title",
            "Test negotiation",
            "--party",
            "ann=keys/ann.pub",
            "--party",
            "bob=keys/bob.pub",
            "--at",
            &t,
        ])
        .ok();
        fx
    }

    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    pub fn p(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    pub fn run(&self, args: &[&str]) -> Run {
        run_bin(Path::new(BIN), self.root(), args)
    }

    /// The next time of the story: every call is a minute later.
    pub fn at(&self) -> String {
        let n = self.clock.get();
        self.clock.set(n + 1);
        time(n)
    }

    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) {
        let p = self.p(rel);
        if let Some(d) = p.parent() {
            fs::create_dir_all(d).unwrap();
        }
        fs::write(p, contents).unwrap();
    }

    pub fn read(&self, rel: &str) -> Vec<u8> {
        fs::read(self.p(rel)).unwrap()
    }

    /// `ledger append led --key keys/WHO.key --at NEXT ARGS...`
    pub fn append(&self, who: &str, args: &[&str]) -> Run {
        let key = format!("keys/{who}.key");
        let t = self.at();
        let mut all = vec!["append", "led", "--key", &key, "--at", &t];
        all.extend_from_slice(args);
        self.run(&all)
    }

    /// Runs `args`, which must fail with `code` and a one-line message
    /// containing `needle`, and leave every path in `watch` (relative)
    /// byte-for-byte unchanged.
    #[track_caller]
    pub fn refused_watching(&self, watch: &[&str], args: &[&str], code: i32, needle: &str) -> Run {
        let before: Vec<Snapshot> = watch.iter().map(|w| snapshot(&self.p(w))).collect();
        let r = self.run(args);
        r.fails(code, needle);
        for (w, b) in watch.iter().zip(&before) {
            assert_same(b, &snapshot(&self.p(w)), &r);
        }
        r
    }

    /// [`Fx::refused_watching`] the ledger `led`.
    #[track_caller]
    pub fn refused(&self, args: &[&str], code: i32, needle: &str) -> Run {
        self.refused_watching(&["led"], args, code, needle)
    }

    /// Runs `args`, which the argument parser must reject (exit 2, clap's
    /// message mentioning `needle`), leaving `led` unchanged.
    #[track_caller]
    pub fn usage_refused(&self, args: &[&str], needle: &str) -> Run {
        let before = snapshot(&self.p("led"));
        let r = self.run(args);
        r.usage_error(needle);
        assert_same(&before, &snapshot(&self.p("led")), &r);
        r
    }

    /// Appends as `who` (see [`Fx::append`]), which must be refused with
    /// `code` and `needle`, leaving `led` unchanged.
    #[track_caller]
    pub fn append_refused(&self, who: &str, args: &[&str], code: i32, needle: &str) -> Run {
        let key = format!("keys/{who}.key");
        let t = self.at();
        let mut all = vec!["append", "led", "--key", &key, "--at", &t];
        all.extend_from_slice(args);
        self.refused(&all, code, needle)
    }

    /// `verify --json` of `led`, which must pass.
    pub fn report(&self) -> serde_json::Value {
        let r = self.run(&["verify", "--json", "led"]);
        r.ok();
        r.json()
    }

    /// The count and head of `led`, from `ledger head`.
    pub fn head(&self) -> (u64, String) {
        let r = self.run(&["head", "led"]);
        r.ok();
        let (n, h) = r.stdout.trim_end().split_once(' ').expect("COUNT HEAD");
        (n.parse().unwrap(), h.to_owned())
    }
}

/// The 64 lowercase hex digits of the SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The hash printed by an append: the last word of its stdout line.
pub fn appended_hash(r: &Run) -> String {
    let h = r.stdout.trim_end().rsplit(' ').next().unwrap().to_owned();
    assert_eq!(h.len(), 64, "{r}");
    assert!(h.bytes().all(|b| b.is_ascii_hexdigit()), "{r}");
    h
}

/// Runs `openssl ARGS` in `cwd`; it must succeed. Returns stdout.
#[track_caller]
pub fn openssl(cwd: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("the tests need the openssl command");
    assert!(
        out.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Sets the permission bits of a file.
pub fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// The permission bits of a file.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Runs `work(i, dir)` for every case `i` in `0..cases` on a few threads,
/// each with its own scratch directory (a copy of `template`), and returns
/// the problems reported.
pub fn sweep(
    template: &Path,
    scratch: &Path,
    cases: usize,
    work: impl Fn(usize, &Path) -> Option<String> + Sync,
) -> Vec<String> {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 8);
    let problems = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..threads {
            let dir = scratch.join(format!("worker{t}"));
            copy_dir(template, &dir);
            let (work, problems) = (&work, &problems);
            s.spawn(move || {
                for i in (t..cases).step_by(threads) {
                    if let Some(p) = work(i, &dir) {
                        problems.lock().unwrap().push(p);
                    }
                }
            });
        }
    });
    let mut v = problems.into_inner().unwrap();
    v.sort();
    v
}

/// Copies a directory tree (files and directories only).
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            fs::copy(e.path(), target).unwrap();
        }
    }
}

/// The binary for the sweeps, which run it thousands of times: the release
/// build beside the debug one when it is newer than every source file (as
/// after `cargo build --release`, which CI runs first), since a debug
/// `verify` costs tens of milliseconds; else the debug build under test.
/// Returns the binary and whether it is the release build. Set
/// `LEDGER_SWEEP_DEBUG=1` to use the debug build anyway.
pub fn sweep_bin() -> (PathBuf, bool) {
    let debug = PathBuf::from(BIN);
    if std::env::var_os("LEDGER_SWEEP_DEBUG").is_some_and(|v| v == "1") {
        return (debug, false);
    }
    let release = debug
        .parent()
        .and_then(Path::parent)
        .map(|target| target.join("release").join("ledger"));
    let modified = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
    fn newest(p: &Path, acc: &mut Option<std::time::SystemTime>) {
        let Ok(meta) = fs::metadata(p) else { return };
        if meta.is_dir() {
            for e in fs::read_dir(p).into_iter().flatten().flatten() {
                newest(&e.path(), acc);
            }
        } else if let Ok(m) = meta.modified() {
            *acc = Some(acc.map_or(m, |a| a.max(m)));
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = None;
    for p in ["src", "Cargo.toml", "Cargo.lock"] {
        newest(&root.join(p), &mut sources);
    }
    if let (Some(release), Some(sources)) = (release, sources) {
        if modified(&release).is_some_and(|r| r >= sources) {
            return (release, true);
        }
    }
    (debug, false)
}

// ---------------------------------------------------------------------------
// Agreement with the independent verifier (tools/verify.py), for the tests
// of the event kinds it must judge as the binary does.
// ---------------------------------------------------------------------------

pub fn python_available() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import cbor2, cryptography"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert_ne!(
            std::env::var("LEDGER_REQUIRE_PYTHON").as_deref(),
            Ok("1"),
            "LEDGER_REQUIRE_PYTHON=1, but python3 cannot import cbor2 and cryptography"
        );
        eprintln!("NOTICE: skipping the tools/verify.py cross-check (no cbor2/cryptography)");
    }
    ok
}

/// (exit, head, event, offset) from a `--json` verdict.
pub type Verdict = (Option<i32>, Option<String>, Option<u64>, Option<u64>);

pub fn verdict(code: Option<i32>, stdout: &[u8]) -> Verdict {
    let j: serde_json::Value = serde_json::from_slice(stdout).unwrap_or_default();
    (
        code,
        j["head"].as_str().map(str::to_owned),
        j["error"]["event"].as_u64(),
        j["error"]["offset"].as_u64(),
    )
}

/// Both verifiers' verdicts on `dir` with `extra` arguments.
pub fn both(
    cwd: &std::path::Path,
    dir: &std::path::Path,
    extra: &[&str],
) -> (Verdict, Verdict, String) {
    let bin = std::process::Command::new(BIN)
        .arg("verify")
        .arg("--json")
        .args(extra)
        .arg(dir)
        .current_dir(cwd)
        .output()
        .unwrap();
    let py = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tools/verify.py"))
        .arg("--json")
        .args(extra)
        .arg(dir)
        .current_dir(cwd)
        .output()
        .unwrap();
    let note = format!(
        "binary: {}{}\npython: {}{}",
        String::from_utf8_lossy(&bin.stdout),
        String::from_utf8_lossy(&bin.stderr),
        String::from_utf8_lossy(&py.stdout),
        String::from_utf8_lossy(&py.stderr)
    );
    (
        verdict(bin.status.code(), &bin.stdout),
        verdict(py.status.code(), &py.stdout),
        note,
    )
}

// ---------------------------------------------------------------------------
// Events and keys built in memory, for the library-level tests. A correctly
// signed event is `Event::sign`'s job alone; what is here either wraps it
// or builds, on purpose, what it would never make.

use ledger::base::crypto::SigningKey;
use ledger::base::time::Timestamp;
use ledger::core::format::{protected_header, sig_structure, Body, Event, Kind, LedgerId, PartyId};
use ledger::core::replay::State;

pub fn pid(s: &str) -> PartyId {
    PartyId::new(s).unwrap()
}

/// `tick` seconds after midnight UTC on 14 June 2017.
pub fn clock(tick: u64) -> Timestamp {
    Timestamp::parse(&format!(
        "2017-06-14T{:02}:{:02}:{:02}Z",
        tick / 3600,
        tick / 60 % 60,
        tick % 60
    ))
    .unwrap()
}

/// `body` signed with `key` (the one public way, `Event::sign`).
pub fn sign(body: &Body, key: &SigningKey) -> Event {
    Event::sign(key, body).unwrap().0
}

/// `body` signed with `key` but naming `kid` in the protected header: a
/// deliberately mislabelled event, which `Event::sign` never makes.
pub fn sign_as(key: &SigningKey, kid: [u8; 32], body: &Body) -> (Event, Vec<u8>) {
    let payload = body.encode();
    let signature = key.sign(&sig_structure(&protected_header(&kid), &payload));
    Event::assemble(kid, payload, signature).unwrap()
}

/// The stored bytes of `event` (assemble is deterministic).
pub fn stored(event: &Event) -> Vec<u8> {
    Event::assemble(event.kid, event.payload().to_vec(), event.signature)
        .unwrap()
        .1
}

/// The body of the event after `state` in `ledger`, by `author`, at
/// `clock(tick)`: seq and prev in their right place.
pub fn next_body(ledger: LedgerId, state: &State, tick: u64, author: &str, kind: Kind) -> Body {
    Body {
        version: 1,
        ledger,
        seq: state.count,
        prev: Some(state.head),
        time: clock(tick),
        author: pid(author),
        kind,
    }
}

/// Standard Base64 with padding, written out here so that the tests do not
/// check the library's encoder against itself.
pub fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `dir/name`, a PKCS#8 private key file (mode 0600) holding the Ed25519
/// `seed`, as `openssl genpkey` writes it, and the key read back from it:
/// the only door `SigningKey` has.
pub fn key_file_from_seed(dir: &Path, name: &str, seed: &[u8; 32]) -> (PathBuf, SigningKey) {
    let mut der = hex::decode("302e020100300506032b657004220420").unwrap();
    der.extend_from_slice(seed);
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        base64(&der)
    );
    let path = dir.join(name);
    fs::write(&path, pem).unwrap();
    chmod(&path, 0o600);
    let key = SigningKey::from_file(&path).unwrap();
    (path, key)
}

/// Every document is present and intact.
pub fn all_docs(_: &ledger::core::format::DocHash) -> Result<(), String> {
    Ok(())
}

/// The replay state as JSON, to show it unchanged.
pub fn state_json(state: &State) -> String {
    serde_json::to_string(state).unwrap()
}

/// Applies `event`, which `state` must accept, and keeps it in `events`.
#[track_caller]
pub fn accept(state: &mut State, events: &mut Vec<Event>, event: Event) {
    let count = state.count;
    if let Err(e) = state.apply(event.clone(), &all_docs) {
        panic!("event {count} ({}) rejected: {e}", event.body.kind.name());
    }
    events.push(event);
}

/// The rule `state` rejects `event` by, which must leave it unchanged.
#[track_caller]
pub fn reject(state: &mut State, event: Event) -> ledger::core::replay::RuleError {
    let before = state_json(state);
    let e = match state.apply(event.clone(), &all_docs) {
        Ok(_) => panic!("{} event accepted", event.body.kind.name()),
        Err(e) => e,
    };
    assert_eq!(
        state_json(state),
        before,
        "a rejected event ({e}) changed the state"
    );
    e
}

/// Replays `events` from scratch: the verdict of a verifier that reads the
/// log later.
pub fn replay_all(events: &[Event]) -> State {
    let (mut s, _) = State::genesis(events[0].clone()).unwrap();
    for e in &events[1..] {
        s.apply(e.clone(), &all_docs).unwrap();
    }
    s
}

/// The head of the writer's cache in ledger `dir` (`cache/state.json`),
/// without the tag line that authenticates it (core::cache).
pub fn cache_head(dir: &Path) -> serde_json::Value {
    let bytes = fs::read(dir.join("cache/state.json")).expect("read the cache head");
    assert_eq!(
        bytes.get(64),
        Some(&b'\n'),
        "the cache head starts with its tag"
    );
    serde_json::from_slice(&bytes[65..]).expect("the cache head is JSON")
}

/// Writes a cache file tagged as this user's writer tags it, with the
/// user's own cache key: what only the user (or a program running as the
/// user) can do. Tests use it to reach the checks behind the tag.
pub fn write_tagged(path: &Path, domain: &str, parts: &[&[u8]], content: &[u8]) {
    let key = ledger::base::mac::CacheKey::load().expect("this user's cache key");
    let mut all = parts.to_vec();
    all.push(content);
    let mut out = hex::encode(key.tag(domain, &all)).into_bytes();
    out.push(b'\n');
    out.extend_from_slice(content);
    fs::write(path, out).unwrap();
}

/// Replaces the head of the writer's cache in `dir` by `head`, tagged
/// with the user's key (see [`write_tagged`]).
pub fn write_cache_head(dir: &Path, head: &serde_json::Value) {
    let json = serde_json::to_vec(head).unwrap();
    write_tagged(&dir.join("cache/state.json"), "head", &[], &json);
}

/// Writes the pending-append marker (`cache/pending`) as this user's
/// writer does before an append it might not finish.
pub fn write_pending(dir: &Path, start: u64, end: u64) {
    use std::os::unix::fs::MetadataExt;
    let text = format!("{start} {end}");
    // Bound to the log it is about: its device and inode.
    let m = fs::metadata(dir.join("events.cbor")).unwrap();
    let log = [m.dev().to_be_bytes(), m.ino().to_be_bytes()].concat();
    write_tagged(
        &dir.join("cache/pending"),
        "pending",
        &[&log],
        text.as_bytes(),
    );
}

// ---------------------------------------------------------------------------
// Real tools (softhsm2, opensc, ssh-agent): a test whose tool is missing
// skips with one line, unless LEDGER_REQUIRE_TOOLS=1 (as in CI), where that
// is a failure.
// ---------------------------------------------------------------------------

/// Whether `program` can be run (`path` may name a file it needs, such
/// as a PKCS#11 module); if not, a one-line notice naming `test`, or a
/// failure under LEDGER_REQUIRE_TOOLS=1.
pub fn tool_available(program: &str, needs: Option<&Path>, test: &str) -> bool {
    let runs = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let ok = runs && needs.is_none_or(|p| p.exists());
    if !ok {
        let what = match needs {
            Some(p) if runs => p.display().to_string(),
            _ => program.to_owned(),
        };
        assert_ne!(
            std::env::var("LEDGER_REQUIRE_TOOLS").as_deref(),
            Ok("1"),
            "LEDGER_REQUIRE_TOOLS=1, but there is no {what}"
        );
        eprintln!("NOTICE: skipping {test}: no {what}");
    }
    ok
}

/// A real ssh-agent in the foreground (`-D`) on its own socket, ended when
/// dropped. `askpass` is the confirmation program the agent runs for a key
/// added with `ssh-add -c` (none: the agent's default).
pub struct SshAgent {
    child: std::process::Child,
    pub socket: PathBuf,
}

impl SshAgent {
    pub fn start(socket: &Path, askpass: Option<&str>) -> SshAgent {
        use std::process::Stdio;
        use std::time::{Duration, Instant};
        let mut cmd = Command::new("ssh-agent");
        cmd.args(["-D", "-a"])
            .arg(socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(askpass) = askpass {
            cmd.env("SSH_ASKPASS", askpass)
                .env("SSH_ASKPASS_REQUIRE", "force")
                .env_remove("DISPLAY")
                .env_remove("WAYLAND_DISPLAY");
        }
        let child = cmd.spawn().expect("start ssh-agent");
        let started = Instant::now();
        while !socket.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "ssh-agent made no socket"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        SshAgent {
            child,
            socket: socket.to_owned(),
        }
    }

    /// `ssh-add ARGS` against this agent; it must succeed.
    pub fn add(&self, cwd: &Path, args: &[&str]) {
        let out = Command::new("ssh-add")
            .args(args)
            .current_dir(cwd)
            .env("SSH_AUTH_SOCK", &self.socket)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run ssh-add");
        assert!(
            out.status.success(),
            "ssh-add {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for SshAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// In `dir` (created): a CA (`ca.pem`, `ca.key`), leaf certificates it
/// issued (`NAME.pem`, `NAME.key`: `good` for 127.0.0.1 and localhost,
/// `other` for another host only), and a second CA that issued nothing
/// here (`stranger.pem`), all P-256, valid two days, made by `openssl`.
pub fn make_pki(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    fs::write(
        dir.join("ca.cnf"),
        "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = ledger test CA\n\
         [ca]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\n\
         subjectKeyIdentifier = hash\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    for (ca, cn) in [
        ("ca", "/CN=ledger test CA"),
        ("stranger", "/CN=a stranger CA"),
    ] {
        let (key, pem) = (format!("{ca}.key"), format!("{ca}.pem"));
        let mut args = vec!["req", "-x509", "-new"];
        args.extend(ec);
        args.extend([
            "-keyout",
            &key,
            "-out",
            &pem,
            "-subj",
            cn,
            "-days",
            "2",
            "-config",
            "ca.cnf",
            "-extensions",
            "ca",
        ]);
        openssl(dir, &args);
    }
    for (name, san) in [
        ("good", "IP:127.0.0.1, DNS:localhost"),
        ("other", "DNS:other.example"),
    ] {
        let (key, csr, pem, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
            format!("{name}.ext"),
        );
        fs::write(
            dir.join(&ext),
            format!(
                "basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\n\
                 extendedKeyUsage = serverAuth\nsubjectAltName = {san}\n\
                 subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid\n"
            ),
        )
        .unwrap();
        let mut args = vec!["req", "-new"];
        args.extend(ec);
        args.extend([
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            "/CN=ledger test server",
        ]);
        openssl(dir, &args);
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &ext,
                "-out",
                &pem,
            ],
        );
    }
}

/// A TLS front (Python's `ssl`, TLS 1.2 at least) on 127.0.0.1, on a port
/// it chose and printed, that hands each connection's bytes, once its
/// handshake is done, to a plain server on 127.0.0.1:`backend`; killed
/// when dropped.
pub struct TlsFront {
    child: std::process::Child,
    pub port: u16,
}

const TLS_FRONT: &str = r#"
import select, socket, ssl, sys, threading
cert, key, backend = sys.argv[1], sys.argv[2], int(sys.argv[3])
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.minimum_version = ssl.TLSVersion.TLSv1_2
ctx.load_cert_chain(cert, key)
ls = socket.create_server(("127.0.0.1", 0))
print(ls.getsockname()[1], flush=True)
def handle(c):
    c.settimeout(30)
    try:
        t = ctx.wrap_socket(c, server_side=True)
    except OSError as e:
        print("handshake:", e, file=sys.stderr, flush=True); c.close(); return
    u = socket.create_connection(("127.0.0.1", backend), timeout=30)
    try:
        while True:
            r, _, _ = select.select([t, u], [], [], 30)
            if not r: return
            for s in r:
                d = s.recv(65536)
                while s is t and t.pending(): d += t.recv(65536)
                if not d: return
                (u if s is t else t).sendall(d)
    except OSError: pass
    finally:
        t.close(); u.close()
while True:
    c, _ = ls.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
"#;

impl TlsFront {
    /// Serves `pki/NAME.pem` (with its key) in front of `backend`.
    pub fn start(pki: &Path, name: &str, backend: u16) -> TlsFront {
        use std::io::BufRead;
        let script = pki.join("tls_front.py");
        fs::write(&script, TLS_FRONT).unwrap();
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(pki.join(format!("{name}.pem")))
            .arg(pki.join(format!("{name}.key")))
            .arg(backend.to_string())
            .stdout(std::process::Stdio::piped())
            .stderr(fs::File::create(pki.join(format!("front-{name}.log"))).unwrap())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Ok(port) = line.trim().parse() else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the TLS front printed no port: {line:?}");
        };
        TlsFront { child, port }
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
