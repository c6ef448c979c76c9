//! Interoperability with the tools people already have, each exercised
//! with the real external program: OpenSSH and OpenSSL keys (plain and
//! encrypted), passphrases from files and the environment, `ledger export`
//! checked by `openssl pkeyutl`, `ledger show`, completions and the man
//! page, colour and quiet output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const LEDGER: &str = env!("CARGO_BIN_EXE_ledger");

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(LEDGER)
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .output()
        .expect("run ledger")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "ledger {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn fails(dir: &Path, args: &[&str], code: i32, needle: &str) {
    let out = run(dir, args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "ledger {args:?}: {err}");
    assert!(
        err.contains(needle),
        "ledger {args:?}: expected {needle:?} in {err:?}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
}

fn tool(dir: &Path, program: &str, args: &[&str]) -> Output {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} is needed for this test: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn chmod600(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A directory with four parties whose keys come from four different
/// places: ssh-keygen (plain and with a passphrase), openssl (encrypted
/// PKCS#8) and ledger keygen --passphrase.
fn parties() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().to_owned();
    std::fs::write(d.join("pw"), "correct horse\n").unwrap();
    chmod600(&d.join("pw"));
    tool(
        &d,
        "ssh-keygen",
        &["-q", "-t", "ed25519", "-N", "", "-f", "sshplain"],
    );
    tool(
        &d,
        "ssh-keygen",
        &["-q", "-t", "ed25519", "-N", "correct horse", "-f", "sshenc"],
    );
    tool(
        &d,
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "ed25519",
            "-aes-256-cbc",
            "-pass",
            "pass:correct horse",
            "-out",
            "ossl.key",
        ],
    );
    chmod600(&d.join("ossl.key"));
    tool(
        &d,
        "openssl",
        &[
            "pkey",
            "-in",
            "ossl.key",
            "-passin",
            "pass:correct horse",
            "-pubout",
            "-out",
            "ossl.pub",
        ],
    );
    ok(&d, &["keygen", "mine", "--passphrase-file", "pw"]);
    (t, d)
}

#[test]
fn keys_from_ssh_keygen_and_openssl_sign_a_whole_ledger() {
    let (_t, d) = parties();
    ok(
        &d,
        &[
            "init",
            "l",
            "--key",
            "sshplain",
            "--title",
            "Interop",
            "--party",
            "a=sshplain.pub",
            "--party",
            "b=sshenc.pub",
            "--party",
            "c=ossl.pub",
            "--party",
            "d=mine.pub",
            "--at",
            "2020-01-01T00:00:00Z",
        ],
    );
    ok(
        &d,
        &[
            "append",
            "l",
            "--key",
            "sshenc",
            "--passphrase-file",
            "pw",
            "note",
            "--text",
            "from ssh",
        ],
    );
    let out = Command::new(LEDGER)
        .args([
            "append",
            "l",
            "--key",
            "ossl.key",
            "--passphrase-env",
            "LEDGER_TEST_PW",
            "note",
            "--text",
            "from openssl",
        ])
        .current_dir(&d)
        .env("LEDGER_TEST_PW", "correct horse")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ok(
        &d,
        &[
            "append",
            "l",
            "--key",
            "mine.key",
            "--passphrase-file",
            "pw",
            "note",
            "--text",
            "from keygen",
        ],
    );
    let v = ok(
        &d,
        &[
            "verify",
            "--trust",
            "sshplain.pub",
            "--trust",
            "sshenc.pub",
            "--trust",
            "ossl.pub",
            "--trust",
            "mine.pub",
            "l",
        ],
    );
    assert!(v.contains("OK: 4 events verified"), "{v}");
}

#[test]
fn passphrase_errors_are_one_line_and_change_nothing() {
    let (_t, d) = parties();
    ok(
        &d,
        &[
            "init",
            "l",
            "--key",
            "sshplain",
            "--title",
            "T",
            "--party",
            "a=sshplain.pub",
            "--party",
            "b=sshenc.pub",
            "--party",
            "c=ossl.pub",
            "--party",
            "d=mine.pub",
        ],
    );
    let before = std::fs::read(d.join("l/events.cbor")).unwrap();
    std::fs::write(d.join("wrong"), "not it\n").unwrap();
    chmod600(&d.join("wrong"));
    fails(
        &d,
        &[
            "append",
            "l",
            "--key",
            "sshenc",
            "--passphrase-file",
            "wrong",
            "note",
            "--text",
            "x",
        ],
        2,
        "wrong passphrase for sshenc",
    );
    fails(
        &d,
        &[
            "append",
            "l",
            "--key",
            "ossl.key",
            "--passphrase-file",
            "wrong",
            "note",
            "--text",
            "x",
        ],
        2,
        "wrong passphrase for ossl.key",
    );
    fails(
        &d,
        &[
            "append",
            "l",
            "--key",
            "mine.key",
            "--passphrase-file",
            "wrong",
            "note",
            "--text",
            "x",
        ],
        2,
        "wrong passphrase for mine.key",
    );
    fails(
        &d,
        &[
            "append",
            "l",
            "--key",
            "sshenc",
            "--passphrase-env",
            "LEDGER_UNSET_VAR",
            "note",
            "--text",
            "x",
        ],
        2,
        "is not set",
    );
    // No terminal and no passphrase source: say how to give one.
    fails(
        &d,
        &["append", "l", "--key", "sshenc", "note", "--text", "x"],
        2,
        "--passphrase-file",
    );
    fails(
        &d,
        &["append", "l", "--key", "sshenc.pub", "note", "--text", "x"],
        2,
        "is a public key",
    );
    tool(
        &d,
        "ssh-keygen",
        &["-q", "-t", "ecdsa", "-N", "", "-f", "ecdsa"],
    );
    fails(
        &d,
        &["append", "l", "--key", "ecdsa", "note", "--text", "x"],
        2,
        "ecdsa",
    );
    // Like ssh, a private key that others can read is refused.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(d.join("sshplain"), std::fs::Permissions::from_mode(0o644)).unwrap();
    fails(
        &d,
        &["append", "l", "--key", "sshplain", "note", "--text", "x"],
        2,
        "chmod 600",
    );
    assert_eq!(std::fs::read(d.join("l/events.cbor")).unwrap(), before);
}

#[test]
fn keygen_passphrase_key_is_read_by_openssl() {
    let (_t, d) = parties();
    let key = std::fs::read_to_string(d.join("mine.key")).unwrap();
    assert!(key.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
    let out = tool(
        &d,
        "openssl",
        &[
            "pkey",
            "-in",
            "mine.key",
            "-passin",
            "pass:correct horse",
            "-pubout",
        ],
    );
    assert_eq!(out.stdout, std::fs::read(d.join("mine.pub")).unwrap());
    // Mismatched confirmation is impossible without a terminal; an empty
    // passphrase is refused.
    std::fs::write(d.join("empty"), "\n").unwrap();
    chmod600(&d.join("empty"));
    fails(
        &d,
        &["keygen", "k2", "--passphrase-file", "empty"],
        2,
        "empty",
    );
    assert!(!d.join("k2.key").exists() && !d.join("k2.pub").exists());
}

fn sample_copy() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("ledger");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("ledger");
    std::fs::create_dir_all(d.join("docs")).unwrap();
    std::fs::copy(src.join("events.cbor"), d.join("events.cbor")).unwrap();
    for f in std::fs::read_dir(src.join("docs")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, d.join("docs").join(f.file_name().unwrap())).unwrap();
    }
    (t, d)
}

#[test]
fn export_is_checked_by_openssl_pkeyutl() {
    let (t, _) = sample_copy();
    let d = t.path();
    let out = ok(d, &["export", "ledger", "--event", "6"]);
    assert!(out.contains("openssl pkeyutl -verify"), "{out}");
    let v = tool(
        d,
        "openssl",
        &[
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "event-6.pub",
            "-rawin",
            "-in",
            "event-6.tbs",
            "-sigfile",
            "event-6.sig",
        ],
    );
    assert!(String::from_utf8_lossy(&v.stdout).contains("Signature Verified Successfully"));
    // The exported key is med's, as committed in keys/.
    let med = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("keys/med.pub")).unwrap();
    assert_eq!(std::fs::read(d.join("event-6.pub")).unwrap(), med);
    // The stored bytes hash to the event hash that `log` shows.
    let sum = tool(d, "sha256sum", &["event-6.cbor"]);
    let hash = String::from_utf8_lossy(&sum.stdout)[..64].to_owned();
    assert!(ok(d, &["log", "ledger"])
        .lines()
        .any(|l| l.starts_with("6 ") && l.contains(&hash)));
    // A tampered tbs fails openssl's check.
    let mut tbs = std::fs::read(d.join("event-6.tbs")).unwrap();
    let last = tbs.len() - 1;
    tbs[last] ^= 1;
    std::fs::write(d.join("bad.tbs"), tbs).unwrap();
    let bad = Command::new("openssl")
        .args([
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "event-6.pub",
            "-rawin",
            "-in",
            "bad.tbs",
            "-sigfile",
            "event-6.sig",
        ])
        .current_dir(d)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    // Refuses to overwrite, and to export an event that does not exist.
    fails(
        d,
        &["export", "ledger", "--event", "6"],
        2,
        "already exists",
    );
    fails(
        d,
        &["export", "ledger", "--event", "99"],
        // A usage error (issue 11, point 13): the ledger is not at fault.
        2,
        "there is no event 99",
    );
}

#[test]
fn show_tells_the_history_of_a_file() {
    let (t, _) = sample_copy();
    let d = t.path();
    let decl = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/sample/joint-declaration.txt");
    let out = ok(d, &["show", "ledger", "--document", decl.to_str().unwrap()]);
    assert!(out.contains("joint-declaration"), "{out}");
    assert!(out.contains("EXECUTED"), "{out}");
    assert!(out.contains("#5") && out.contains("#6"), "{out}");
    let json = ok(
        d,
        &[
            "show",
            "ledger",
            "--json",
            "--document",
            decl.to_str().unwrap(),
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["found"], true);
    assert_eq!(v["documents"][0]["status"], "executed");
    // One changed byte: never signed.
    let mut text = std::fs::read(&decl).unwrap();
    text[0] ^= 0x20;
    std::fs::write(d.join("forged.txt"), text).unwrap();
    fails(
        d,
        &["show", "ledger", "--document", "forged.txt"],
        1,
        "was never drafted, amended, approved or signed",
    );
}

#[test]
fn completions_man_colour_and_quiet() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    for shell in ["bash", "zsh", "fish"] {
        let out = ok(d, &["completions", shell]);
        assert!(out.contains("verify") && out.contains("keygen"), "{shell}");
    }
    let man = ok(d, &["man"]);
    assert!(man.contains(".TH ledger 1"), "{man}");
    let ledger = Path::new(env!("CARGO_MANIFEST_DIR")).join("ledger");
    let l = ledger.to_str().unwrap();
    // Piped: no colour unless asked for; NO_COLOR wins over auto only.
    assert!(!ok(d, &["verify", l]).contains('\u{1b}'));
    assert!(ok(d, &["--color", "always", "verify", l]).contains("\u{1b}["));
    let nc = Command::new(LEDGER)
        .args(["verify", l])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&nc.stdout).contains('\u{1b}'));
    let quiet = ok(d, &["verify", "-q", l]);
    assert_eq!(quiet.lines().count(), 1, "{quiet}");
    assert!(quiet.starts_with("OK: 14 events verified, head "));
}

#[test]
fn json_on_every_command_that_reports() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let k: serde_json::Value = serde_json::from_str(&ok(d, &["--json", "keygen", "a"])).unwrap();
    assert_eq!(k["private_key"], "a.key");
    let init: serde_json::Value = serde_json::from_str(&ok(
        d,
        &[
            "init", "l", "--json", "--key", "a.key", "--title", "T", "--party", "a=a.pub",
        ],
    ))
    .unwrap();
    assert_eq!(init["seq"], 0);
    assert_eq!(init["kind"], "ledger-created");
    let note: serde_json::Value = serde_json::from_str(&ok(
        d,
        &[
            "append", "l", "--json", "--key", "a.key", "note", "--text", "x",
        ],
    ))
    .unwrap();
    assert_eq!(note["seq"], 1);
    let head: serde_json::Value = serde_json::from_str(&ok(d, &["head", "l", "--json"])).unwrap();
    assert_eq!(head["head"], note["hash"]);
    assert_eq!(head["count"], 2);
    let log: serde_json::Value = serde_json::from_str(&ok(d, &["log", "l", "--json"])).unwrap();
    assert_eq!(log["events"].as_array().unwrap().len(), 2);
}
