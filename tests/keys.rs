//! Key files as people meet them (issue 11, points 14 and 15): a key of
//! another algorithm is refused by name, a key or passphrase file that
//! others may read or write is refused with exactly who may do what and the
//! fix, a passphrase no key needs is an error, and one fingerprint
//! (`SHA256:…`, as `ssh-keygen -l` prints it) names a key everywhere.
//!
//! The keys are made by the real `openssl` and `ssh-keygen`. Where one is
//! missing, the tests that need it say so in one line and pass, unless
//! LEDGER_REQUIRE_TOOLS=1 (as in CI, `.ci/run`), where that is a failure.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// Runs `program ARGS` in `cwd`; it must succeed. Returns stdout.
#[track_caller]
fn tool(cwd: &Path, program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The `SHA256:…` that `ssh-keygen -lf FILE` prints.
fn ssh_keygen_fingerprint(cwd: &Path, file: &str) -> String {
    let out = tool(cwd, "ssh-keygen", &["-lf", file]);
    let fp = out.split_whitespace().nth(1).unwrap_or_default().to_owned();
    assert!(fp.starts_with("SHA256:"), "ssh-keygen -lf {file}: {out}");
    fp
}

/// `ledger fingerprint ARGS`, which must succeed: the fingerprints printed.
#[track_caller]
fn fingerprints(fx: &Fx, args: &[&str]) -> Vec<String> {
    let mut all = vec!["fingerprint"];
    all.extend_from_slice(args);
    let r = fx.run(&all);
    r.ok();
    r.stdout
        .lines()
        .map(|l| l.split("  ").next().unwrap().to_owned())
        .collect()
}

const ADVICE: &str = "; ledger needs an Ed25519 key: make one with `ledger keygen NAME`";

#[test]
fn keys_of_other_algorithms_are_refused_by_name() {
    if !tool_available("openssl", None, "tests/keys.rs") {
        return;
    }
    let fx = Fx::with_ledger();
    fs_mkdir(&fx, "k");
    let cases: [(&str, &[&str], &str); 5] = [
        (
            "rsa",
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024"],
            "an RSA key",
        ),
        (
            "p256",
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            "an elliptic-curve (ECDSA) key on P-256 (prime256v1)",
        ),
        (
            "x25519",
            &["-algorithm", "X25519"],
            "an X25519 key-agreement key",
        ),
        ("ed448", &["-algorithm", "ED448"], "an Ed448 key"),
        ("x448", &["-algorithm", "X448"], "an X448 key-agreement key"),
    ];
    for (name, args, found) in cases {
        let key = format!("k/{name}.key");
        let public = format!("k/{name}.pub");
        let mut gen = vec!["genpkey"];
        gen.extend_from_slice(args);
        gen.extend_from_slice(&["-out", &key]);
        openssl(fx.root(), &gen);
        chmod(&fx.p(&key), 0o600);
        openssl(
            fx.root(),
            &["pkey", "-in", &key, "-pubout", "-out", &public],
        );
        // As the signing key: refused before the ledger is opened.
        let r = fx.refused(
            &["append", "led", "--key", &key, "note", "--text", "x"],
            2,
            &format!("ledger: {key} is {found} (PKCS#8){ADVICE}"),
        );
        assert!(!r.stderr.contains("1.3.101.112"), "{r}");
        // Named whatever its mode: the algorithm is the first problem.
        chmod(&fx.p(&key), 0o644);
        fx.refused(
            &["append", "led", "--key", &key, "note", "--text", "x"],
            2,
            &format!("{key} is {found} (PKCS#8)"),
        );
        // As a party's or a trusted public key.
        let party = format!("x={public}");
        fx.refused_watching(
            &["new"],
            &[
                "init",
                "new",
                "--key",
                "keys/ann.key",
                "--title",
                "T",
                "--party",
                "ann=keys/ann.pub",
                "--party",
                &party,
            ],
            2,
            &format!("ledger: {public} is {found} (SPKI public key){ADVICE}"),
        );
        fx.refused(
            &["verify", "--trust", &public, "led"],
            2,
            &format!("{public} is {found} (SPKI public key)"),
        );
        fx.refused(
            &["fingerprint", &public],
            2,
            &format!("{public} is {found}"),
        );
    }
    // An encrypted PKCS#8 key of another algorithm is named once decrypted.
    fx.write("k/pw", "pw\n");
    chmod(&fx.p("k/pw"), 0o600);
    openssl(
        fx.root(),
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-aes-256-cbc",
            "-pass",
            "pass:pw",
            "-out",
            "k/p384.key",
        ],
    );
    chmod(&fx.p("k/p384.key"), 0o600);
    fx.refused(
        &[
            "append",
            "led",
            "--key",
            "k/p384.key",
            "--passphrase-file",
            "k/pw",
            "note",
            "--text",
            "x",
        ],
        2,
        "k/p384.key is an elliptic-curve (ECDSA) key on P-384 (secp384r1) (encrypted PKCS#8)",
    );
    // Legacy PEM formats, by their label.
    openssl(
        fx.root(),
        &[
            "pkey",
            "-in",
            "k/rsa.key",
            "-traditional",
            "-out",
            "k/rsa1.key",
        ],
    );
    chmod(&fx.p("k/rsa1.key"), 0o600);
    fx.refused(
        &[
            "append",
            "led",
            "--key",
            "k/rsa1.key",
            "note",
            "--text",
            "x",
        ],
        2,
        &format!("ledger: k/rsa1.key is an RSA key (PKCS#1){ADVICE}"),
    );
}

#[test]
fn ssh_keys_of_other_types_are_refused_by_their_ssh_type() {
    if !tool_available("ssh-keygen", None, "tests/keys.rs") {
        return;
    }
    let fx = Fx::with_ledger();
    fs_mkdir(&fx, "k");
    for (t, kind, pass) in [
        ("ecdsa", "ecdsa-sha2-nistp256", ""),
        ("rsa", "ssh-rsa", "secret"),
    ] {
        let f = format!("k/{t}");
        tool(
            fx.root(),
            "ssh-keygen",
            &["-q", "-t", t, "-N", pass, "-f", &f],
        );
        // The type is in the clear even in an encrypted key: named
        // without asking for the passphrase.
        fx.refused(
            &["append", "led", "--key", &f, "note", "--text", "x"],
            2,
            &format!("ledger: {f} is an {kind} key (OpenSSH private key){ADVICE}"),
        );
        let p = format!("{f}.pub");
        fx.refused(
            &["verify", "--trust", &p, "led"],
            2,
            &format!("ledger: {p} is an {kind} key (OpenSSH public key){ADVICE}"),
        );
        let r = fx.refused(&["fingerprint", &p], 2, kind);
        assert!(!r.stderr.contains("unknown algorithm"), "{r}");
    }
}

#[test]
fn key_file_modes_are_described_exactly() {
    let fx = Fx::with_ledger();
    for (mode, what) in [
        (0o602, "writable by others"),
        (0o640, "readable by group"),
        (0o604, "readable by others"),
        (0o644, "readable by group and others"),
        (0o660, "readable and writable by group"),
        (0o620, "writable by group"),
        (0o606, "readable and writable by others"),
        (0o642, "readable by group and writable by others"),
    ] {
        chmod(&fx.p("keys/ann.key"), mode);
        fx.append_refused(
            "ann",
            &["note", "--text", "x"],
            2,
            &format!(
                "ledger: private key file keys/ann.key is {what} (mode {mode:04o}); run: chmod 600 keys/ann.key\n"
            ),
        );
    }
    chmod(&fx.p("keys/ann.key"), 0o600);
    fx.append("ann", &["note", "--text", "x"]).ok();
    // 0400 is as good as 0600.
    chmod(&fx.p("keys/ann.key"), 0o400);
    fx.append("ann", &["note", "--text", "y"]).ok();
}

/// keys/enc.key and keys/enc.pub, the private key encrypted with the
/// passphrase in pw (mode 0600).
fn encrypted_key(fx: &Fx) {
    fx.write("pw", "correct horse\n");
    chmod(&fx.p("pw"), 0o600);
    fx.run(&["keygen", "keys/enc", "--passphrase-file", "pw"])
        .ok();
}

#[test]
fn passphrase_files_are_held_to_the_key_file_rule() {
    let fx = Fx::with_ledger();
    encrypted_key(&fx);
    for (mode, what) in [
        (0o644, "readable by group and others"),
        (0o640, "readable by group"),
        (0o602, "writable by others"),
    ] {
        chmod(&fx.p("pw"), mode);
        fx.refused(
            &add_encrypted_key("pw"),
            2,
            &format!("ledger: passphrase file pw is {what} (mode {mode:04o}); run: chmod 600 pw\n"),
        );
    }
    chmod(&fx.p("pw"), 0o600);
    // Not a regular file: a directory, a FIFO (refused without waiting
    // for a writer).
    std::fs::create_dir(fx.p("pwdir")).unwrap();
    let status = Command::new("mkfifo")
        .arg(fx.p("pwfifo"))
        .status()
        .expect("mkfifo");
    assert!(status.success());
    for p in ["pwdir", "pwfifo"] {
        fx.refused(
            &add_encrypted_key(p),
            2,
            &format!("passphrase file {p} is not a regular file"),
        );
    }
    // keygen too: no key is written with a passphrase others can read.
    chmod(&fx.p("pw"), 0o604);
    fx.refused_watching(
        &["keys"],
        &["keygen", "keys/new", "--passphrase-file", "pw"],
        2,
        "passphrase file pw is readable by others (mode 0604)",
    );
    chmod(&fx.p("pw"), 0o600);
    // The plain --key and the encrypted --new-key share the passphrase:
    // one of them needs it, so it is not refused.
    fx.run(&add_encrypted_key("pw")).ok();
}

/// ann (a plain key) adds keys/enc.key (encrypted), with `pw` as the
/// passphrase file.
fn add_encrypted_key(pw: &str) -> Vec<&str> {
    vec![
        "append",
        "led",
        "--key",
        "keys/ann.key",
        "--passphrase-file",
        pw,
        "key-add",
        "--new-key",
        "keys/enc.key",
    ]
}

#[test]
fn a_passphrase_for_a_key_that_is_not_encrypted_is_an_error() {
    let fx = Fx::with_ledger();
    encrypted_key(&fx);
    let t = fx.at();
    fx.refused(
        &[
            "append",
            "led",
            "--key",
            "keys/ann.key",
            "--at",
            &t,
            "--passphrase-file",
            "pw",
            "note",
            "--text",
            "x",
        ],
        2,
        "ledger: keys/ann.key is not encrypted; drop --passphrase-file\n",
    );
    let before = snapshot(&fx.p("led"));
    let out = Command::new(BIN)
        .args([
            "append",
            "led",
            "--key",
            "keys/ann.key",
            "--passphrase-env",
            "PW",
            "note",
            "--text",
            "x",
        ])
        .current_dir(fx.root())
        .env("PW", "correct horse")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ledger: keys/ann.key is not encrypted; drop --passphrase-env\n"
    );
    assert!(out.stdout.is_empty());
    assert_same(&before, &snapshot(&fx.p("led")), &"--passphrase-env");
    // Two plain keys (a key-add) with a passphrase neither needs.
    fx.run(&["keygen", "keys/ann2"]).ok();
    fx.refused(
        &[
            "append",
            "led",
            "--key",
            "keys/ann.key",
            "--passphrase-file",
            "pw",
            "key-add",
            "--new-key",
            "keys/ann2.key",
        ],
        2,
        "ledger: keys/ann.key and keys/ann2.key are not encrypted; drop --passphrase-file\n",
    );
    // init: nothing is created.
    fx.refused_watching(
        &["new"],
        &[
            "init",
            "new",
            "--key",
            "keys/ann.key",
            "--passphrase-file",
            "pw",
            "--title",
            "T",
            "--party",
            "ann=keys/ann.pub",
        ],
        2,
        "keys/ann.key is not encrypted; drop --passphrase-file",
    );
    // fingerprint: a private key that is not encrypted, with a passphrase.
    fx.refused(
        &["fingerprint", "keys/ann.key", "--passphrase-file", "pw"],
        2,
        "keys/ann.key is not encrypted; drop --passphrase-file",
    );
    // The encrypted key with its passphrase is fine.
    fx.run(&["fingerprint", "keys/enc.key", "--passphrase-file", "pw"])
        .ok();
}

#[test]
fn one_fingerprint_for_a_key_everywhere() {
    let fx = Fx::with_ledger();
    encrypted_key(&fx);
    // .pub and .key agree, encrypted or not.
    let ann = fingerprints(&fx, &["keys/ann.pub"]).remove(0);
    assert!(ann.starts_with("SHA256:") && ann.len() == 7 + 43, "{ann}");
    assert_eq!(fingerprints(&fx, &["keys/ann.key"]), vec![ann.clone()]);
    let enc = fingerprints(
        &fx,
        &["keys/enc.pub", "keys/enc.key", "--passphrase-file", "pw"],
    );
    assert_eq!(enc[0], enc[1]);
    // The output: "FINGERPRINT  FILE" per file, in order; --json has the
    // raw key and the kid besides.
    let r = fx.run(&["fingerprint", "keys/ann.pub", "keys/bob.pub"]);
    r.ok();
    let bob = fingerprints(&fx, &["keys/bob.pub"]).remove(0);
    assert_eq!(
        r.stdout,
        format!("{ann}  keys/ann.pub\n{bob}  keys/bob.pub\n")
    );
    let r = fx.run(&["--json", "fingerprint", "keys/ann.pub"]);
    r.ok();
    let j = r.json();
    assert_eq!(j[0]["fingerprint"], ann.as_str());
    assert_eq!(j[0]["file"], "keys/ann.pub");
    let report = fx.report();
    assert_eq!(report["parties"][0]["fingerprint"], ann.as_str());
    assert_eq!(report["parties"][0]["key"], j[0]["key"]);
    assert_eq!(report["parties"][0]["kid"], j[0]["kid"]);
    assert_eq!(report["parties"][0]["keys"][0]["fingerprint"], ann.as_str());
    // verify's text shows the fingerprint, never the raw key or the kid.
    let r = fx.run(&["verify", "led"]);
    r.ok();
    assert!(r.stdout.contains(&format!("key {ann}\n")), "{r}");
    for hex in [j[0]["key"].as_str().unwrap(), j[0]["kid"].as_str().unwrap()] {
        assert!(!r.stdout.contains(hex), "{r}");
    }
    // --trust: the report, and both refusals.
    let r = fx.run(&[
        "verify",
        "--trust",
        "keys/ann.pub",
        "--trust",
        "keys/bob.pub",
        "led",
    ]);
    r.ok();
    assert!(
        r.stdout
            .contains(&format!("keys/ann.pub ({ann}, genesis key, current)")),
        "{r}"
    );
    fx.refused(
        &["verify", "--trust", "keys/ann.pub", "led"],
        1,
        &format!("the key of party \"bob\" ({bob}) is not among the trusted keys (--trust)"),
    );
    let eve = fingerprints(&fx, &["other/eve.pub"]).remove(0);
    fx.refused(
        &["verify", "--trust", "keys/ann.pub", "--trust", "keys/bob.pub", "--trust", "other/eve.pub", "led"],
        1,
        &format!("trusted key other/eve.pub is not the key of any party of this ledger (--trust; its fingerprint is {eve})"),
    );
    // A key of no party.
    fx.refused(
        &[
            "append",
            "led",
            "--key",
            "other/eve.key",
            "note",
            "--text",
            "x",
        ],
        2,
        &format!("the signing key ({eve}) is not the key of any party of this ledger"),
    );
    // Key history: added, rotated, revoked by fingerprint.
    fx.append(
        "ann",
        &[
            "key-add",
            "--new-key",
            "keys/enc.key",
            "--passphrase-file",
            "pw",
        ],
    )
    .ok();
    let bad = "SHA256:AAAA";
    fx.append_refused(
        "ann",
        &["key-revoke", "--revoke", bad, "--reason", "r"],
        2,
        "--revoke \"SHA256:AAAA\": not a fingerprint",
    );
    fx.append_refused(
        "ann",
        &["key-revoke", "--revoke", &bob, "--reason", "r"],
        2,
        "has never held a key with kid",
    );
    fx.append(
        "ann",
        &["key-revoke", "--revoke", &enc[0], "--reason", "lost"],
    )
    .ok();
    let r = fx.run(&["verify", "led"]);
    r.ok();
    assert!(r.stdout.contains(&format!("added key {}", enc[0])), "{r}");
    assert!(r.stdout.contains(&format!("revoked key {}", enc[0])), "{r}");
    assert!(
        r.stdout.contains(&format!(
            "key {} (added at #1, REVOKED at #2: lost)",
            enc[0]
        )),
        "{r}"
    );
    // A revoked key that signs: the refusal names it by fingerprint.
    fx.refused(
        &[
            "append",
            "led",
            "--key",
            "keys/enc.key",
            "--passphrase-file",
            "pw",
            "note",
            "--text",
            "x",
        ],
        2,
        &format!("the signing key ({}) was a key of party \"ann\"", enc[0]),
    );
}

#[test]
fn fingerprints_agree_with_ssh_keygen() {
    if !tool_available("ssh-keygen", None, "tests/keys.rs")
        || !tool_available("openssl", None, "tests/keys.rs")
    {
        return;
    }
    let fx = Fx::with_keys();
    // An OpenSSH key: its private and public files, and ssh-keygen's view.
    tool(
        fx.root(),
        "ssh-keygen",
        &["-q", "-t", "ed25519", "-N", "", "-f", "id"],
    );
    tool(
        fx.root(),
        "ssh-keygen",
        &["-q", "-t", "ed25519", "-N", "pw pw", "-f", "idenc"],
    );
    fx.write("pw", "pw pw\n");
    chmod(&fx.p("pw"), 0o600);
    let ssh = ssh_keygen_fingerprint(fx.root(), "id.pub");
    assert_eq!(fingerprints(&fx, &["id", "id.pub"]), [ssh.clone(), ssh]);
    let ssh = ssh_keygen_fingerprint(fx.root(), "idenc.pub");
    assert_eq!(
        fingerprints(&fx, &["idenc", "idenc.pub", "--passphrase-file", "pw"]),
        [ssh.clone(), ssh]
    );
    // A ledger key (SPKI PEM), made an OpenSSH key by the README's own
    // commands, then fingerprinted by ssh-keygen.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let snippet = readme
        .split("\n# A .pub (SPKI PEM)")
        .nth(1)
        .and_then(|s| s.split_once('\n'))
        .and_then(|(_, s)| s.split("\nssh-keygen -lf most.ssh.pub").next())
        .expect("the README's conversion of a .pub for ssh-keygen");
    std::fs::copy(fx.p("keys/ann.pub"), fx.p("most.pub")).unwrap();
    let out = Command::new("bash")
        .args(["-c", snippet])
        .current_dir(fx.root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{snippet}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ssh = ssh_keygen_fingerprint(fx.root(), "most.ssh.pub");
    assert_eq!(
        fingerprints(&fx, &["keys/ann.pub", "keys/ann.key", "most.ssh.pub"]),
        [ssh.clone(), ssh.clone(), ssh]
    );
}

fn fs_mkdir(fx: &Fx, rel: &str) {
    std::fs::create_dir_all(fx.p(rel)).unwrap();
}
