//! Signing with a key on a PKCS#11 token (`--key 'pkcs11:token=...;
//! object=...'`), against a real SoftHSM2 (Debian `softhsm2`) in a
//! SOFTHSM2_CONF directory of the test's own: token initialised with
//! `softhsm2-util`, keys made by `ledger keygen --pkcs11` and by OpenSC's
//! `pkcs11-tool`, events signed on the token and verified. Every way it can
//! fail (no module, no such token or key, a wrong PIN, a locked PIN, a
//! PIN on the command line, a token key that is no party's) is one line,
//! exit 2, the ledger unchanged.
//!
//! Without softhsm2 or opensc the tests say so in one line and pass,
//! unless LEDGER_REQUIRE_TOOLS=1 (as in CI, `.ci/run`), where that fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "123456";
const SO_PIN: &str = "87654321";
const KEY: &str = "pkcs11:token=MOST;object=ledger-2017";

fn tools() -> bool {
    tool_available("softhsm2-util", Some(Path::new(MODULE)), "tests/pkcs11.rs")
        && tool_available("pkcs11-tool", None, "tests/pkcs11.rs")
}

/// A SoftHSM2 of the test's own (SOFTHSM2_CONF in `fx`), with the token
/// MOST (user PIN [`PIN`]), a PIN file `pin` (0600) and a wrong one `bad`.
struct Hsm {
    fx: Fx,
    conf: PathBuf,
    tokens: PathBuf,
}

impl Hsm {
    fn new() -> Hsm {
        let fx = Fx::empty();
        let tokens = fx.p("hsm/tokens");
        std::fs::create_dir_all(&tokens).unwrap();
        let conf = fx.p("hsm/softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap();
        let hsm = Hsm { fx, conf, tokens };
        hsm.tool(
            "softhsm2-util",
            &[
                "--init-token",
                "--free",
                "--label",
                "MOST",
                "--so-pin",
                SO_PIN,
                "--pin",
                PIN,
            ],
        );
        hsm.fx.write("pin", format!("{PIN}\n"));
        chmod(&hsm.fx.p("pin"), 0o600);
        hsm.fx.write("bad", "000000\n");
        chmod(&hsm.fx.p("bad"), 0o600);
        std::fs::create_dir(hsm.fx.p("keys")).unwrap();
        hsm
    }

    /// Runs a SoftHSM or OpenSC tool against this token store; it must succeed.
    #[track_caller]
    fn tool(&self, program: &str, args: &[&str]) -> String {
        let out = Command::new(program)
            .args(args)
            .current_dir(self.fx.root())
            .env("SOFTHSM2_CONF", &self.conf)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The ledger, with this SoftHSM and (`module`) LEDGER_PKCS11_MODULE.
    fn run_env(&self, module: bool, args: &[&str]) -> Run {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .current_dir(self.fx.root())
            .env("NO_COLOR", "1")
            .env("SOFTHSM2_CONF", &self.conf)
            .env_remove("RUST_BACKTRACE")
            .env_remove("LEDGER_PKCS11_MODULE")
            .stdin(Stdio::null());
        if module {
            cmd.env("LEDGER_PKCS11_MODULE", MODULE);
        }
        let out = cmd.output().expect("run the ledger binary");
        Run {
            args: args.iter().map(|s| s.to_string()).collect(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_env(true, args)
    }

    /// `args` must fail, exit 2, one line containing `needle`, with `led`
    /// byte-identical.
    #[track_caller]
    fn refused(&self, module: bool, args: &[&str], needle: &str) -> Run {
        let before = snapshot(&self.fx.p("led"));
        let r = self.run_env(module, args);
        r.fails(2, needle);
        assert_same(&before, &snapshot(&self.fx.p("led")), &r);
        r
    }

    /// The first fingerprint `ledger fingerprint` prints.
    fn fingerprint(&self, what: &str) -> String {
        let r = self.run(&["fingerprint", what]);
        r.ok();
        r.stdout.split_whitespace().next().unwrap().to_owned()
    }

    /// keys/most.pub from a key made on the token by `ledger keygen
    /// --pkcs11`, keys/med from a key file, and `led` created by the token,
    /// its party most read from the token.
    fn with_ledger() -> Hsm {
        let hsm = Hsm::new();
        hsm.run(&["keygen", "--pkcs11", KEY, "--pin-file", "pin", "keys/most"])
            .ok();
        hsm.run(&["keygen", "keys/med"]).ok();
        let t = hsm.fx.at();
        let party = format!("most={KEY}");
        hsm.run(&[
            "init",
            "led",
            "--key",
            KEY,
            "--pin-file",
            "pin",
            "--title",
            "T",
            "--party",
            &party,
            "--party",
            "med=keys/med.pub",
            "--at",
            &t,
        ])
        .ok();
        hsm
    }

    /// Sets `flags` (CK_TOKEN_INFO flags) in the stored state of token
    /// MOST. SoftHSM2 counts no tries and never locks a PIN, but reports
    /// the flags it keeps in its token file (attribute CKA_OS_TOKENFLAGS,
    /// 0x8000534B, a CK_ULONG, big-endian): so the token the ledger talks to really
    /// reports a final try or a locked PIN.
    fn set_token_flags(&self, flags: u64) {
        let mut done = 0;
        for dir in std::fs::read_dir(&self.tokens).unwrap() {
            let path = dir.unwrap().path().join("token.object");
            let mut bytes = std::fs::read(&path).unwrap();
            if !bytes.windows(4).any(|w| w == b"MOST") {
                continue;
            }
            // type (8 bytes), kind 2 = CK_ULONG (8 bytes), then the value.
            let tag = [0, 0, 0, 0, 0x80, 0, 0x53, 0x4b, 0, 0, 0, 0, 0, 0, 0, 2];
            let at = bytes
                .windows(tag.len())
                .position(|w| w == tag)
                .expect("CKA_OS_TOKENFLAGS in token.object")
                + tag.len();
            let old = u64::from_be_bytes(bytes[at..at + 8].try_into().unwrap());
            bytes[at..at + 8].copy_from_slice(&(old | flags).to_be_bytes());
            std::fs::write(&path, bytes).unwrap();
            done += 1;
        }
        assert_eq!(done, 1, "token MOST's token.object");
    }
}

fn note(key: &str, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ["append", "led", "--key", key].map(String::from).to_vec();
    v.extend(extra.iter().map(|s| s.to_string()));
    v.extend(["note", "--text", "x"].map(String::from));
    v
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn a_token_key_signs_events_that_verify() {
    if !tools() {
        return;
    }
    let hsm = Hsm::with_ledger();
    // The .pub keygen wrote, the token's key, and the ledger's party agree.
    let fp = hsm.fingerprint("keys/most.pub");
    assert_eq!(hsm.fingerprint(KEY), fp);
    // The private key is sensitive and never extractable.
    let objects = hsm.tool(
        "pkcs11-tool",
        &[
            "--module",
            MODULE,
            "--token-label",
            "MOST",
            "--login",
            "--pin",
            PIN,
            "--list-objects",
            "--type",
            "privkey",
        ],
    );
    assert!(objects.contains("ledger-2017"), "{objects}");
    assert!(objects.contains("never extractable"), "{objects}");
    assert!(objects.contains("Usage:      sign\n"), "{objects}");
    let t = hsm.fx.at();
    hsm.run(&strs(&note(KEY, &["--pin-file", "pin", "--at", &t])))
        .ok();
    // The PIN from an environment variable, or from the URI's pin-source,
    // and the module from --pkcs11-module or the URI's module-path.
    let mut cmd = Command::new(BIN);
    let out = cmd
        .args(strs(&note(
            KEY,
            &["--pin-env", "MOST_PIN", "--pkcs11-module", MODULE],
        )))
        .current_dir(hsm.fx.root())
        .env("SOFTHSM2_CONF", &hsm.conf)
        .env_remove("LEDGER_PKCS11_MODULE")
        .env("MOST_PIN", PIN)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let uri = format!(
        "{KEY}?pin-source=file:{}&module-path={MODULE}",
        hsm.fx.p("pin").display()
    );
    hsm.run_env(false, &strs(&note(&uri, &[]))).ok();
    // A document drafted and signed with the token's key.
    hsm.fx.write("decl.txt", "Joint declaration\n");
    hsm.run(&[
        "append",
        "led",
        "--key",
        KEY,
        "--pin-file",
        "pin",
        "draft",
        "--doc",
        "decl",
        "--file",
        "decl.txt",
        "--title",
        "Declaration",
        "--signatory",
        "most",
    ])
    .ok();
    hsm.run(&[
        "append",
        "led",
        "--key",
        KEY,
        "--pin-file",
        "pin",
        "approve",
        "--doc",
        "decl",
    ])
    .ok();
    hsm.run(&[
        "sign",
        "led",
        "--key",
        KEY,
        "--pin-file",
        "pin",
        "--doc",
        "decl",
    ])
    .ok();
    let v = hsm.run(&[
        "verify",
        "led",
        "--trust",
        "most=keys/most.pub",
        "--trust",
        "med=keys/med.pub",
    ]);
    v.ok();
    assert!(v.stdout.contains("OK: 7 events verified"), "{v}");
}

#[test]
fn a_key_made_by_pkcs11_tool_works_too() {
    if !tools() {
        return;
    }
    let hsm = Hsm::new();
    // OpenSC writes CKA_EC_PARAMS as the printable "edwards25519" and
    // CKA_EC_POINT as a DER OCTET STRING.
    hsm.tool(
        "pkcs11-tool",
        &[
            "--module",
            MODULE,
            "--token-label",
            "MOST",
            "--login",
            "--pin",
            PIN,
            "--keypairgen",
            "--key-type",
            "EC:edwards25519",
            "--label",
            "opensc-key",
            "--id",
            "0a0b",
        ],
    );
    let uri = "pkcs11:token=MOST;object=opensc-key";
    let fp = hsm.fingerprint(uri);
    // The same key by its id, percent-encoded.
    assert_eq!(hsm.fingerprint("pkcs11:token=MOST;id=%0A%0b"), fp);
    hsm.run(&["keygen", "keys/med"]).ok();
    let party = format!("most={uri}");
    hsm.run(&[
        "init",
        "led",
        "--key",
        uri,
        "--pin-file",
        "pin",
        "--title",
        "T",
        "--party",
        &party,
        "--party",
        "med=keys/med.pub",
    ])
    .ok();
    hsm.run(&strs(&note(uri, &["--pin-file", "pin"]))).ok();
    hsm.run(&strs(&note("keys/med.key", &[]))).ok();
    let v = hsm.run(&["verify", "led"]);
    v.ok();
    assert!(v.stdout.contains("OK: 3 events verified"), "{v}");
    // The sample flow with a key file is unchanged beside it.
    let r = hsm.run(&["fingerprint", "keys/med.pub", uri]);
    r.ok();
    assert!(r.stdout.contains(&fp), "{r}");
}

#[test]
fn token_failures_are_one_line_and_change_nothing() {
    if !tools() {
        return;
    }
    let hsm = Hsm::with_ledger();
    let pin = ["--pin-file", "pin"];
    // The module: none given, or none there.
    hsm.refused(false, &strs(&note(KEY, &pin)), "no PKCS#11 module given");
    hsm.refused(
        false,
        &strs(&note(
            KEY,
            &[
                "--pin-file",
                "pin",
                "--pkcs11-module",
                "/nonexistent/libp11.so",
            ],
        )),
        "cannot load the PKCS#11 module /nonexistent/libp11.so",
    );
    // No such token, no such key.
    hsm.refused(
        true,
        &strs(&note("pkcs11:token=MED;object=ledger-2017", &pin)),
        "no token matches pkcs11:token=MED;object=ledger-2017 (tokens present: MOST)",
    );
    hsm.refused(
        true,
        &strs(&note("pkcs11:token=MOST;object=ledger-2099", &pin)),
        "token MOST has no Ed25519 private key labelled \"ledger-2099\"",
    );
    // A wrong PIN; then the token says one more locks it; then locked.
    let r = hsm.refused(
        true,
        &strs(&note(KEY, &["--pin-file", "bad"])),
        "wrong PIN for token MOST",
    );
    assert!(r.stderr.contains("CKF_USER_PIN_COUNT_LOW"), "{r}");
    assert!(!r.stderr.contains("000000"), "{r}");
    hsm.set_token_flags(0x0002_0000); // CKF_USER_PIN_FINAL_TRY
    hsm.refused(
        true,
        &strs(&note(KEY, &["--pin-file", "bad"])),
        "one more wrong PIN locks it",
    );
    hsm.set_token_flags(0x0004_0000); // CKF_USER_PIN_LOCKED
    let r = hsm.refused(
        true,
        &strs(&note(KEY, &pin)),
        "the user PIN of token MOST is locked",
    );
    assert!(r.stderr.contains("security officer"), "{r}");
    // The PIN is never taken from the command line.
    let r = hsm.refused(
        true,
        &strs(&note(&format!("{KEY}?pin-value={PIN}"), &[])),
        "pin-value: that puts the PIN on the command line",
    );
    assert!(!r.stderr.contains(PIN), "{r}");
    // No terminal to ask on, and no other source: said how to give it.
    hsm.refused(
        true,
        &strs(&note(KEY, &[])),
        "use --pin-file FILE, --pin-env VAR",
    );
    // A PIN file others may read is refused, as a passphrase file is.
    chmod(&hsm.fx.p("pin"), 0o644);
    hsm.refused(true, &strs(&note(KEY, &pin)), "pin");
}

#[test]
fn a_token_key_that_is_no_partys_is_named_and_uris_are_strict() {
    if !tools() {
        return;
    }
    let hsm = Hsm::with_ledger();
    hsm.tool(
        "pkcs11-tool",
        &[
            "--module",
            MODULE,
            "--token-label",
            "MOST",
            "--login",
            "--pin",
            PIN,
            "--keypairgen",
            "--key-type",
            "EC:edwards25519",
            "--label",
            "other",
        ],
    );
    let other = "pkcs11:token=MOST;object=other";
    let fp = hsm.fingerprint(other);
    let r = hsm.refused(
        true,
        &strs(&note(other, &["--pin-file", "pin"])),
        &format!("the signing key ({fp}) is not the key of any party"),
    );
    // It names each party's current key, so the right one can be found.
    let most = hsm.fingerprint("keys/most.pub");
    let med = hsm.fingerprint("keys/med.pub");
    assert!(
        r.stderr
            .contains(&format!("current keys: med {med}, most {most}")),
        "{r}"
    );
    for (uri, needle) in [
        (
            "pkcs11:token=MOST;object=ledger-2017;x-vendor=1",
            "unknown path attribute",
        ),
        ("pkcs11:token=MOST;object=ledger%2", "two hex digits"),
        (
            "pkcs11:token=MOST;object=ledger-2017;object=x",
            "given twice",
        ),
        ("pkcs11:token=MOST", "names no key"),
    ] {
        hsm.refused(true, &strs(&note(uri, &["--pin-file", "pin"])), needle);
    }
    // Token options with a key file, or a passphrase with a token: said.
    hsm.refused(
        true,
        &strs(&note("keys/med.key", &["--pin-file", "pin"])),
        "drop --pin-file",
    );
    hsm.refused(
        true,
        &strs(&note(KEY, &["--passphrase-file", "pin"])),
        "drop --passphrase-file",
    );
    // keygen refuses a label the token has, and an existing .pub, changing
    // nothing.
    hsm.refused(
        true,
        &["keygen", "--pkcs11", KEY, "--pin-file", "pin", "keys/again"],
        "token MOST already has a key labelled \"ledger-2017\"",
    );
    assert!(!hsm.fx.p("keys/again.pub").exists());
    hsm.refused(
        true,
        &[
            "keygen",
            "--pkcs11",
            "pkcs11:token=MOST;object=new",
            "--pin-file",
            "pin",
            "keys/most",
        ],
        "keys/most.pub exists",
    );
    let r = hsm.run(&["fingerprint", "pkcs11:token=MOST;object=new"]);
    r.fails(2, "has no Ed25519 public key labelled \"new\"");
}

#[test]
fn the_pin_is_asked_on_the_terminal_without_echo() {
    if !tools() || !tool_available("script", None, "tests/pkcs11.rs (a terminal)") {
        return;
    }
    let hsm = Hsm::with_ledger();
    // `script` (util-linux) gives the ledger a terminal; the PIN is typed
    // into it after the prompt.
    let command = format!("{BIN} append led --key '{KEY}' note --text typed");
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(hsm.fx.root())
        .env("SOFTHSM2_CONF", &hsm.conf)
        .env("LEDGER_PKCS11_MODULE", MODULE)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The PIN is typed only once the prompt is shown (echo is off by then).
    use std::io::{Read, Write};
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !String::from_utf8_lossy(&seen).contains("PIN for token MOST: ") {
        let n = stdout.read(&mut byte).unwrap();
        assert_eq!(n, 1, "no prompt: {}", String::from_utf8_lossy(&seen));
        seen.push(byte[0]);
    }
    // rpassword prints the prompt and then turns echo off: a PIN typed in
    // between would be echoed (as at any terminal when typing ahead), so
    // wait as a person would before typing.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{PIN}\n").as_bytes()).unwrap();
    stdout.read_to_end(&mut seen).unwrap();
    drop(stdin);
    let status = child.wait().unwrap();
    let out = std::process::Output {
        status,
        stdout: seen,
        stderr: Vec::new(),
    };
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("PIN for token MOST: "), "{shown}");
    assert!(
        shown.contains("appended event #1 (note) by most"),
        "{shown}"
    );
    assert!(!shown.contains(PIN), "the PIN was echoed: {shown:?}");
    hsm.run(&["verify", "led"]).ok();
}

#[test]
fn a_token_whose_public_key_is_not_its_private_keys_writes_nothing() {
    if !tools() {
        return;
    }
    let hsm = Hsm::new();
    let p11 = |args: &[&str]| {
        let mut a = vec![
            "--module",
            MODULE,
            "--token-label",
            "MOST",
            "--login",
            "--pin",
            PIN,
        ];
        a.extend_from_slice(args);
        hsm.tool("pkcs11-tool", &a);
    };
    // Two key pairs; then the public key of the second is given the first's
    // id, so that id 01 is one key's private half and another's public.
    for (label, id) in [("a", "01"), ("b", "02")] {
        p11(&[
            "--keypairgen",
            "--key-type",
            "EC:edwards25519",
            "--label",
            label,
            "--id",
            id,
        ]);
    }
    p11(&["--delete-object", "--type", "pubkey", "--id", "01"]);
    p11(&["--set-id", "01", "--id", "02", "--type", "pubkey"]);
    let uri = "pkcs11:token=MOST;id=%01";
    assert_eq!(
        hsm.fingerprint(uri),
        hsm.fingerprint("pkcs11:token=MOST;object=b")
    );
    hsm.run(&["keygen", "keys/med"]).ok();
    let party = format!("most={uri}");
    hsm.run(&[
        "init",
        "led",
        "--key",
        "keys/med.key",
        "--title",
        "T",
        "--party",
        &party,
        "--party",
        "med=keys/med.pub",
    ])
    .ok();
    // The token signs with the private key of id 01; the signature does
    // not verify under the public key it shows, and nothing is written.
    hsm.refused(
        true,
        &strs(&note(uri, &["--pin-file", "pin"])),
        "the signature just made does not verify under the signing key's public key",
    );
    hsm.run(&["verify", "led"]).ok();
}
