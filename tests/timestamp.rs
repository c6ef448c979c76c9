//! RFC 3161 timestamps of checkpoints (FORMAT §17), end to end against a
//! real TSA built on this machine with the `openssl` binary: a CA and a TSA
//! certificate (extendedKeyUsage critical timeStamping), `openssl ts
//! -reply` producing genuine tokens, and for `ledger timestamp --tsa` a
//! loopback HTTP server this test starts and stops (127.0.0.1 only).
//!
//! Every bad input of issue 13 is refused in one line, with a non-zero
//! exit, leaving the ledger byte-identical. Without openssl each test says
//! so in one line and passes, unless LEDGER_REQUIRE_TOOLS=1.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn openssl_available() -> bool {
    let ok = Command::new("openssl").arg("version").output().is_ok();
    if !ok {
        assert_ne!(
            std::env::var("LEDGER_REQUIRE_TOOLS").as_deref(),
            Ok("1"),
            "LEDGER_REQUIRE_TOOLS=1, but openssl cannot be run"
        );
        eprintln!("NOTICE: skipping a tests/timestamp.rs test: no openssl");
    }
    ok
}

/// How the TSA's certificate is made.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cert {
    Good,
    NoUsage,
    UsageNotCritical,
    Expired,
    NotYetValid,
}

/// A TSA in `dir`: `ca.pem` (its root), `tsa.pem`/`tsa.key`, `tsa.cnf`.
struct Tsa {
    dir: PathBuf,
}

const TSA_CNF: &str = "[ tsa ]
default_tsa = tsa_config1
[ tsa_config1 ]
dir = .
serial = ./serial
crypto_device = builtin
signer_cert = ./tsa.pem
certs = ./ca.pem
signer_key = ./tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.5
digests = sha256
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
";

const CA_CNF: &str = "[ ca ]
default_ca = ca1
[ ca1 ]
dir = .
database = ./index.txt
new_certs_dir = .
serial = ./ca.serial
default_md = sha256
policy = any
unique_subject = no
[ any ]
commonName = supplied
";

impl Tsa {
    fn new(dir: &Path, cert: Cert) -> Tsa {
        std::fs::create_dir_all(dir).unwrap();
        let ssl = |args: &[&str]| {
            openssl(dir, args);
        };
        ssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "3650",
            "-subj",
            "/CN=Test TSA Root",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        ssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "tsa.key",
            "-out",
            "tsa.csr",
            "-subj",
            "/CN=Test TSA",
        ]);
        let eku = match cert {
            Cert::NoUsage => "",
            Cert::UsageNotCritical => "extendedKeyUsage=timeStamping\n",
            _ => "extendedKeyUsage=critical,timeStamping\n",
        };
        std::fs::write(
            dir.join("tsa.ext"),
            format!("{eku}basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"),
        )
        .unwrap();
        std::fs::write(dir.join("ca.cnf"), CA_CNF).unwrap();
        std::fs::write(dir.join("index.txt"), "").unwrap();
        std::fs::write(dir.join("ca.serial"), "1000\n").unwrap();
        let (start, end) = match cert {
            Cert::Expired => ("20200101000000Z", "20210101000000Z"),
            Cert::NotYetValid => ("20400101000000Z", "20450101000000Z"),
            _ => ("20200101000000Z", "20450101000000Z"),
        };
        ssl(&[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-cert",
            "ca.pem",
            "-keyfile",
            "ca.key",
            "-in",
            "tsa.csr",
            "-out",
            "tsa.pem",
            "-extfile",
            "tsa.ext",
            "-startdate",
            start,
            "-enddate",
            end,
            "-notext",
        ]);
        std::fs::write(dir.join("tsa.cnf"), TSA_CNF).unwrap();
        std::fs::write(dir.join("serial"), "01\n").unwrap();
        Tsa {
            dir: dir.to_owned(),
        }
    }

    fn ca(&self) -> String {
        self.dir.join("ca.pem").display().to_string()
    }

    /// `openssl ts -reply` to the request `tsq`: the response's bytes.
    fn reply(&self, tsq: &[u8]) -> Vec<u8> {
        let q = self.dir.join("in.tsq");
        std::fs::write(&q, tsq).unwrap();
        let _ = std::fs::remove_file(self.dir.join("out.tsr"));
        openssl(
            &self.dir,
            &[
                "ts",
                "-reply",
                "-config",
                "tsa.cnf",
                "-queryfile",
                "in.tsq",
                "-out",
                "out.tsr",
            ],
        );
        std::fs::read(self.dir.join("out.tsr")).unwrap()
    }

    /// A request made by openssl itself for `data`.
    fn query(&self, data: &Path, extra: &[&str]) -> Vec<u8> {
        let d = data.display().to_string();
        let mut args = vec!["ts", "-query", "-data", &d, "-sha256", "-cert"];
        args.extend_from_slice(extra);
        openssl(&self.dir, &args)
    }
}

/// The DER `TSTInfo` a response's token carries (what its TSA signed),
/// taken out by openssl (`ts -token_out`, then `cms -verify` for the
/// content).
fn tst_info(dir: &Path, tsr: &[u8]) -> Vec<u8> {
    std::fs::write(dir.join("x.tsr"), tsr).unwrap();
    openssl(
        dir,
        &[
            "ts",
            "-reply",
            "-in",
            "x.tsr",
            "-token_out",
            "-out",
            "x.tok",
        ],
    );
    openssl(
        dir,
        &[
            "cms",
            "-verify",
            "-noverify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "x.tok",
            "-out",
            "x.tst",
        ],
    );
    std::fs::read(dir.join("x.tst")).unwrap()
}

/// A granted response whose token is `tst` signed by the TSA certificate
/// and key in `signer` with `openssl cms -sign -cades` (a CMS SignedData of
/// id-ct-TSTInfo with a signing-certificate-v2 attribute, as RFC 3161 and
/// RFC 5035 ask): how a token is made with a certificate `openssl ts`
/// itself refuses to sign with, or around a TSTInfo it would not write.
fn cms_signed_response(signer: &Path, tst: &[u8]) -> Vec<u8> {
    std::fs::write(signer.join("y.tst"), tst).unwrap();
    openssl(
        signer,
        &[
            "cms",
            "-sign",
            "-binary",
            "-nodetach",
            "-cades",
            "-nosmimecap",
            "-md",
            "sha256",
            "-econtent_type",
            "1.2.840.113549.1.9.16.1.4",
            "-in",
            "y.tst",
            "-signer",
            "tsa.pem",
            "-inkey",
            "tsa.key",
            "-outform",
            "DER",
            "-out",
            "y.tok",
        ],
    );
    let token = std::fs::read(signer.join("y.tok")).unwrap();
    // TimeStampResp ::= SEQUENCE { status PKIStatusInfo (granted), token }
    let mut body = vec![0x30, 0x03, 0x02, 0x01, 0x00];
    body.extend_from_slice(&token);
    let mut out = vec![0x30];
    match body.len() {
        n if n < 0x80 => out.push(n as u8),
        n if n < 0x100 => out.extend_from_slice(&[0x81, n as u8]),
        n => out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]),
    }
    out.extend_from_slice(&body);
    out
}

/// A TSA whose genTime has milliseconds (`clock_precision_digits = 3`).
fn millis_tsa(dir: &Path) -> Tsa {
    let tsa = Tsa::new(dir, Cert::Good);
    let cnf = tsa.dir.join("tsa.cnf");
    let mut c = std::fs::read_to_string(&cnf).unwrap();
    c.push_str("clock_precision_digits = 3\n");
    std::fs::write(&cnf, c).unwrap();
    tsa
}

/// A response of a [`millis_tsa`] to `tsq` whose genTime has exactly three
/// fraction digits (openssl drops trailing zeros, as DER requires).
fn reply_with_millis(tsa: &Tsa, tsq: &[u8]) -> Vec<u8> {
    (0..30)
        .map(|_| tsa.reply(tsq))
        .find(|r| gen_time_at(r).len() == 19)
        .expect("a genTime with three fraction digits in 30 tries")
}

/// A ledger `led` with two events and a checkpoint of size 2 signed by
/// ann; `led.tsq`, the request for it.
fn stamped_fixture() -> (Fx, Tsa) {
    let fx = Fx::with_ledger();
    fx.append("bob", &["note", "--text", "hello"]).ok();
    fx.run(&["checkpoint", "led", "--key", "keys/ann.key"]).ok();
    let tsa = Tsa::new(&fx.p("tsa"), Cert::Good);
    fx.run(&["timestamp", "request", "led", "-o", "led.tsq"])
        .ok();
    (fx, tsa)
}

fn add(fx: &Fx, tsa: &Tsa, tsr: &str) -> Run {
    let ca = tsa.ca();
    fx.run(&[
        "timestamp",
        "add",
        "led",
        tsr,
        "--request",
        "led.tsq",
        "--tsa-ca",
        &ca,
    ])
}

/// The offline flow: request, `openssl ts -reply`, add; verify reports what
/// it proves, with and without --tsa-ca; openssl verifies the stored token.
#[test]
fn offline_flow_and_openssl_interop() {
    if !openssl_available() {
        return;
    }
    let (fx, tsa) = stamped_fixture();
    fx.write("led.tsr", tsa.reply(&fx.read("led.tsq")));
    let r = add(&fx, &tsa, "led.tsr");
    r.ok();
    assert!(
        r.stdout
            .contains("checkpoints/2.tsr: events #0..#1 existed no later than"),
        "{r}"
    );
    assert_eq!(fx.read("led/checkpoints/2.tsr"), fx.read("led.tsr"));
    // The same token again: nothing written.
    let before = snapshot(&fx.p("led"));
    let again = add(&fx, &tsa, "led.tsr");
    again.ok();
    assert!(again.stdout.contains("already stored"), "{again}");
    assert_same(&before, &snapshot(&fx.p("led")), &again);

    let ca = tsa.ca();
    let v = fx.run(&["verify", "--tsa-ca", &ca, "led"]);
    v.ok();
    assert!(
        v.stdout
            .contains("checkpoints/2.tsr: events #0..#1 existed no later than")
            && v.stdout.contains("(CN=Test TSA, serial "),
        "{v}"
    );
    let plain = fx.run(&["verify", "led"]);
    plain.ok();
    assert!(
        plain
            .stdout
            .contains("checkpoints/2.tsr: present, unchecked"),
        "{plain}"
    );
    let j = fx.run(&["--json", "verify", "--tsa-ca", &ca, "led"]);
    j.ok();
    let t = &j.json()["timestamps"][0];
    assert_eq!(t["status"], "valid");
    assert_eq!(t["size"], 2);
    assert_eq!(t["stamp"]["tsa"], "CN=Test TSA");

    // A stamped checkpoint gains no signature: that would change the
    // bytes its token stamps.
    fx.refused(
        &["checkpoint", "led", "--key", "keys/bob.key"],
        2,
        "checkpoints/2 is timestamped (2.tsr)",
    );
    // Other commands that list checkpoints/ are not confused by tokens.
    fx.run(&["prove", "led", "--event", "1", "-o", "p.bundle"])
        .ok();
    fx.run(&[
        "check-proof",
        "p.bundle",
        "--trust",
        "keys/ann.pub",
        "--trust",
        "keys/bob.pub",
    ])
    .ok();

    // Interop: openssl verifies the token the tool stored.
    let out = Command::new("openssl")
        .args([
            "ts",
            "-verify",
            "-data",
            "led/checkpoints/2",
            "-in",
            "led/checkpoints/2.tsr",
        ])
        .args(["-CAfile", &ca])
        .current_dir(fx.root())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Verification: OK"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Several TSAs for one checkpoint: the second token is `2.2.tsr`; a TSA
/// whose root is not given is reported, not counted.
#[test]
fn several_tsas_and_an_untrusted_one() {
    if !openssl_available() {
        return;
    }
    let (fx, tsa) = stamped_fixture();
    let other = Tsa::new(&fx.p("tsa2"), Cert::Good);
    fx.write("a.tsr", tsa.reply(&fx.read("led.tsq")));
    add(&fx, &tsa, "a.tsr").ok();
    fx.run(&["timestamp", "request", "led", "-o", "b.tsq"]).ok();
    fx.write("b.tsr", other.reply(&fx.read("b.tsq")));
    let o = other.ca();
    fx.run(&[
        "timestamp",
        "add",
        "led",
        "b.tsr",
        "--request",
        "b.tsq",
        "--tsa-ca",
        &o,
    ])
    .ok();
    assert!(fx.p("led/checkpoints/2.2.tsr").is_file());
    let ca = tsa.ca();
    let v = fx.run(&["verify", "--tsa-ca", &ca, "led"]);
    v.ok();
    assert!(
        v.stdout
            .contains("checkpoints/2.tsr: events #0..#1 existed"),
        "{v}"
    );
    assert!(
        v.stdout
            .contains("checkpoints/2.2.tsr: NOT COUNTED: the TSA (CN=Test TSA) is not trusted"),
        "{v}"
    );
}

/// Each bad response of the list: one line, exit 1 (or 2 where
/// nothing was checked), the ledger byte-identical.
#[test]
fn bad_responses_are_refused_and_change_nothing() {
    if !openssl_available() {
        return;
    }
    let (fx, tsa) = stamped_fixture();
    let good = tsa.reply(&fx.read("led.tsq"));
    let ca = tsa.ca();
    let refuse = |bytes: &[u8], code: i32, needle: &str, ca: &str| {
        fx.write("bad.tsr", bytes);
        fx.refused(
            &[
                "timestamp",
                "add",
                "led",
                "bad.tsr",
                "--request",
                "led.tsq",
                "--tsa-ca",
                ca,
            ],
            code,
            needle,
        );
    };
    // Truncated, and trailing bytes.
    refuse(
        &good[..good.len() - 1],
        1,
        "bad.tsr: is not a DER-encoded time-stamp response",
        &ca,
    );
    let mut trailing = good.clone();
    trailing.push(0);
    refuse(
        &trailing,
        1,
        "bad.tsr: is not a DER-encoded time-stamp response",
        &ca,
    );
    // A token for another checkpoint: of bytes the ledger does not hold.
    fx.write("other.txt", "not a checkpoint\n");
    let q = tsa.query(&fx.p("other.txt"), &[]);
    refuse(
        &tsa.reply(&q),
        1,
        "is the SHA-256 of no checkpoint stored in led",
        &ca,
    );
    // Another ledger's checkpoint.
    let fx2 = Fx::with_ledger();
    fx2.run(&["checkpoint", "led", "--key", "keys/ann.key"])
        .ok();
    let q = tsa.query(&fx2.p("led/checkpoints/1"), &[]);
    refuse(
        &tsa.reply(&q),
        1,
        "another checkpoint or another ledger",
        &ca,
    );
    // This checkpoint, but another request's nonce; and no nonce at all.
    let q = tsa.query(&fx.p("led/checkpoints/2"), &[]);
    refuse(&tsa.reply(&q), 1, "is not the request's", &ca);
    let q = tsa.query(&fx.p("led/checkpoints/2"), &["-no_nonce"]);
    refuse(
        &tsa.reply(&q),
        1,
        "the token has no nonce, but the request had one",
        &ca,
    );
    // A TSA that says rejection (a policy it does not have), or waiting.
    let q = tsa.query(&fx.p("led/checkpoints/2"), &["-tspolicy", "1.9.9.9"]);
    refuse(&tsa.reply(&q), 1, "the TSA answered rejection", &ca);
    refuse(
        &[0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x03],
        1,
        "the TSA answered waiting",
        &ca,
    );
    // An untrusted TSA.
    let other = Tsa::new(&fx.p("tsa-other"), Cert::Good);
    refuse(&good, 1, "is not trusted", &other.ca());
    // The crafted path is sound: the good TSA's own TSTInfo, signed by
    // `openssl cms` with the good TSA's certificate, is accepted (and not
    // stored: the ledger is watched).
    let tst = tst_info(&tsa.dir, &good);
    let control = cms_signed_response(&tsa.dir, &tst);
    fx.write("control.tsr", &control);
    let before = snapshot(&fx.p("led"));
    let ok = fx.run(&[
        "timestamp",
        "add",
        "led",
        "control.tsr",
        "--request",
        "led.tsq",
        "--tsa-ca",
        &ca,
    ]);
    ok.ok();
    std::fs::remove_file(fx.p("led/checkpoints/2.tsr")).unwrap();
    assert_same(&before, &snapshot(&fx.p("led")), &ok);
    // A TSA certificate expired at the token's time, or not yet valid at
    // it, one without the timeStamping usage, one whose usage is not
    // critical: each made with openssl, each refused.
    for (cert, needle) in [
        (Cert::Expired, "was not valid at the token's time"),
        (Cert::NotYetValid, "was not valid at the token's time"),
        (Cert::NoUsage, "has no extended key usage"),
        (Cert::UsageNotCritical, "not marked critical"),
    ] {
        let dir = fx.p("tsa-bad");
        let _ = std::fs::remove_dir_all(&dir);
        let bad = Tsa::new(&dir, cert);
        let q = fx.read("led.tsq");
        std::fs::write(dir.join("in.tsq"), &q).unwrap();
        let out = Command::new("openssl")
            .args([
                "ts",
                "-reply",
                "-config",
                "tsa.cnf",
                "-queryfile",
                "in.tsq",
                "-out",
                "out.tsr",
            ])
            .current_dir(&dir)
            .output()
            .unwrap();
        let bytes = if matches!(cert, Cert::Expired | Cert::NotYetValid) {
            assert!(out.status.success(), "openssl ts -reply with {needle:?}");
            std::fs::read(dir.join("out.tsr")).unwrap()
        } else {
            // openssl ts refuses to sign with a certificate whose usage is
            // not exactly timeStamping, critical (RFC 3161 §2.3); openssl
            // cms signs the same TSTInfo with it.
            assert!(
                !out.status.success(),
                "openssl issued a token with {needle:?}"
            );
            cms_signed_response(&dir, &tst)
        };
        refuse(&bytes, 1, needle, &bad.ca());
    }
    // A byte of the signature flipped.
    let mut forged = good.clone();
    let n = forged.len();
    forged[n - 3] ^= 1;
    fx.write("bad.tsr", &forged);
    let r = fx.run(&[
        "timestamp",
        "add",
        "led",
        "bad.tsr",
        "--request",
        "led.tsq",
        "--tsa-ca",
        &ca,
    ]);
    assert_eq!(r.code, Some(1), "{r}");
    assert!(message_problem(&r.stderr).is_none(), "{r}");
    assert!(
        r.stderr.contains("the CMS signature does not verify"),
        "{r}"
    );
    assert!(!fx.p("led/checkpoints/2.tsr").exists());
}

/// A token file replaced after verification: the next verify refutes it,
/// naming the file; a missing checkpoint for a token too.
#[test]
fn replaced_token_is_refuted_by_the_next_verify() {
    if !openssl_available() {
        return;
    }
    let (fx, tsa) = stamped_fixture();
    fx.write("led.tsr", tsa.reply(&fx.read("led.tsq")));
    add(&fx, &tsa, "led.tsr").ok();
    let ca = tsa.ca();
    fx.run(&["verify", "--tsa-ca", &ca, "led"]).ok();
    // Replaced by a genuine token over other bytes.
    fx.write("other.txt", "x\n");
    let q = tsa.query(&fx.p("other.txt"), &[]);
    fx.write("led/checkpoints/2.tsr", tsa.reply(&q));
    fx.run(&["verify", "--tsa-ca", &ca, "led"])
        .fails(1, "checkpoints/2.tsr: the token stamps");
    // Truncated in place.
    let good = tsa.reply(&fx.read("led.tsq"));
    fx.write("led/checkpoints/2.tsr", &good[..good.len() - 10]);
    fx.run(&["verify", "--tsa-ca", &ca, "led"])
        .fails(1, "checkpoints/2.tsr: is not a DER-encoded");
    // Without --tsa-ca it is reported unchecked, not refuted.
    fx.run(&["verify", "led"]).ok();
    // A token for a checkpoint that is not stored.
    std::fs::rename(fx.p("led/checkpoints/2.tsr"), fx.p("led/checkpoints/7.tsr")).unwrap();
    fx.run(&["verify", "--tsa-ca", &ca, "led"])
        .fails(1, "checkpoints/7.tsr: stamps checkpoints/7, which");
}

/// The time rule: an event inside a stamped checkpoint that claims a time
/// later than the stamp (beyond accuracy + allowance) is refuted, with the
/// claimed and the stamped time in the message.
#[test]
fn event_claiming_a_time_after_its_stamp_is_refuted() {
    if !openssl_available() {
        return;
    }
    let fx = Fx::with_ledger();
    fx.run(&[
        "append",
        "led",
        "--key",
        "keys/bob.key",
        "--at",
        "2099-01-01T00:00:00Z",
        "--allow-future",
        "note",
        "--text",
        "from the future",
    ])
    .ok();
    fx.run(&["checkpoint", "led", "--key", "keys/ann.key"]).ok();
    let tsa = Tsa::new(&fx.p("tsa"), Cert::Good);
    fx.run(&["timestamp", "request", "led", "-o", "led.tsq"])
        .ok();
    fx.write("led.tsr", tsa.reply(&fx.read("led.tsq")));
    // The writer refuses to store a token that its own events would break
    // (an event may claim up to 15 minutes ahead, or any time with
    // --allow-future): one line, exit 2, nothing stored.
    let before = snapshot(&fx.p("led"));
    let r = add(&fx, &tsa, "led.tsr");
    r.fails(
        2,
        "event #1 claims 2099-01-01T00:00:00Z, later than this token's time",
    );
    assert!(r.stderr.contains("nothing was stored"), "{r}");
    assert_same(&before, &snapshot(&fx.p("led")), &"a refused timestamp add");
    // A token planted by hand (a hostile or older copy) is refuted by
    // verify, naming the event, both times and the token.
    fx.write("led/checkpoints/2.tsr", fx.read("led.tsr"));
    let ca = tsa.ca();
    let r = fx.run(&["verify", "--tsa-ca", &ca, "led"]);
    r.fails(1, "event 1");
    assert!(
        r.stderr.contains("claims the time 2099-01-01T00:00:00Z")
            && r.stderr.contains("checkpoints/2.tsr (TSA CN=Test TSA, serial 02) stamped a checkpoint holding it at 20"),
        "{r}"
    );
    // Unchecked tokens prove nothing, and bind nothing.
    fx.run(&["verify", "led"]).ok();
}

/// What the loopback TSA does with each connection.
#[derive(Clone, Copy)]
enum Serve {
    Reply,
    Status(u16),
    Redirect,
    Silent,
}

/// A one-connection-at-a-time HTTP server on 127.0.0.1 answering `n`
/// connections as `how`, then stopping. Each connection is bounded: it is
/// read with a timeout and dropped.
fn serve(tsa_dir: &Path, how: Serve, n: usize) -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/tsa", listener.local_addr().unwrap());
    let dir = tsa_dir.to_owned();
    let h = std::thread::spawn(move || {
        for _ in 0..n {
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
                .unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let body = loop {
                let Ok(k) = s.read(&mut chunk) else {
                    break None;
                };
                if k == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..k]);
                if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map(|v| v.trim().parse().unwrap())
                        .unwrap_or(0);
                    while buf.len() < end + 4 + len {
                        match s.read(&mut chunk) {
                            Ok(0) | Err(_) => break,
                            Ok(k) => buf.extend_from_slice(&chunk[..k]),
                        }
                    }
                    break Some(buf[end + 4..].to_vec());
                }
            };
            let Some(body) = body else { continue };
            match how {
                Serve::Reply => {
                    let tsa = Tsa { dir: dir.clone() };
                    let r = tsa.reply(&body);
                    let _ = write!(
                        s,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        r.len()
                    );
                    let _ = s.write_all(&r);
                }
                Serve::Status(code) => {
                    let _ = write!(
                        s,
                        "HTTP/1.1 {code} Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                }
                Serve::Redirect => {
                    let _ = write!(
                        s,
                        "HTTP/1.1 302 Found\r\nLocation: /tsa\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                }
                Serve::Silent => {
                    // Hold the connection until the client gives up.
                    let _ = s.read(&mut chunk);
                }
            }
        }
    });
    (url, h)
}

/// `ledger timestamp DIR --tsa URL` against the loopback TSA, and each
/// HTTP failure: an error status, a redirect (loop), a silent TSA (the
/// timeout stated).
#[test]
fn online_flow_over_loopback_http() {
    if !openssl_available() {
        return;
    }
    let (fx, tsa) = stamped_fixture();
    let ca = tsa.ca();
    for (how, code, needle) in [
        (Serve::Status(500), 2, "answered HTTP 500, not 200"),
        (
            Serve::Redirect,
            2,
            "a redirect to /tsa: ledger follows no redirect",
        ),
        (Serve::Silent, 2, "no answer within 1 s (timeout"),
    ] {
        let (url, h) = serve(&tsa.dir, how, 1);
        fx.refused(
            &[
                "timestamp",
                "led",
                "--tsa",
                &url,
                "--tsa-ca",
                &ca,
                "--timeout",
                "1",
            ],
            code,
            needle,
        );
        h.join().unwrap();
    }
    // Two TSAs (the same one twice): two tokens, each its own nonce.
    let (url, h) = serve(&tsa.dir, Serve::Reply, 2);
    let r = fx.run(&[
        "timestamp",
        "led",
        "--tsa",
        &url,
        "--tsa",
        &url,
        "--tsa-ca",
        &ca,
    ]);
    r.ok();
    h.join().unwrap();
    assert!(
        r.stdout
            .contains("checkpoints/2.tsr: events #0..#1 existed"),
        "{r}"
    );
    assert!(
        r.stdout
            .contains("checkpoints/2.2.tsr: events #0..#1 existed"),
        "{r}"
    );
    fx.run(&["verify", "--tsa-ca", &ca, "led"]).ok();
    // A URL that is neither http:// nor https://.
    fx.refused(
        &[
            "timestamp",
            "led",
            "--tsa",
            "ftp://tsa.invalid/",
            "--tsa-ca",
            &ca,
        ],
        2,
        "give an http:// or https:// URL",
    );
}

/// `ledger timestamp DIR --tsa https://...`: the loopback TSA behind a
/// TLS front (Python's `ssl`, a certificate from a CA made by openssl),
/// trusted with `--tls-ca`; refused without it (the system's store knows
/// no test CA) and for a certificate of another name, nothing stored.
#[test]
fn online_flow_over_https() {
    if !openssl_available() || !tool_available("python3", None, "timestamp over HTTPS") {
        return;
    }
    let (fx, tsa) = stamped_fixture();
    let ca = tsa.ca();
    make_pki(&fx.p("pki"));
    // The refusals come before any byte reaches a backend: none is needed.
    let nobody = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let good = TlsFront::start(&fx.p("pki"), "good", nobody);
    let other = TlsFront::start(&fx.p("pki"), "other", nobody);
    for (port, tls_ca, needle) in [
        (
            good.port,
            None,
            "TLS: invalid peer certificate: UnknownIssuer",
        ),
        (
            good.port,
            Some("pki/stranger.pem"),
            "does not chain to any certificate of the --tls-ca bundle",
        ),
        (other.port, Some("pki/ca.pem"), "not valid for name"),
    ] {
        let url = format!("https://127.0.0.1:{port}/tsa");
        let mut args = vec!["timestamp", "led", "--tsa", &url, "--tsa-ca", &ca];
        if let Some(f) = tls_ca {
            args.extend(["--tls-ca", f]);
        }
        fx.refused(&args, 2, needle);
    }
    drop(good);
    let (plain, h) = serve(&tsa.dir, Serve::Reply, 1);
    let backend: u16 = plain
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches("/tsa")
        .parse()
        .unwrap();
    let front = TlsFront::start(&fx.p("pki"), "good", backend);
    let url = format!("https://127.0.0.1:{}/tsa", front.port);
    let r = fx.run(&[
        "timestamp",
        "led",
        "--tsa",
        &url,
        "--tsa-ca",
        &ca,
        "--tls-ca",
        "pki/ca.pem",
    ]);
    r.ok();
    h.join().unwrap();
    assert!(
        r.stdout
            .contains("checkpoints/2.tsr: events #0..#1 existed"),
        "{r}"
    );
    fx.run(&["verify", "--tsa-ca", &ca, "led"]).ok();
}

/// FORMAT §17.6, the test vector: a fixed token (a response of the sample
/// TSA) over a fixed checkpoint (the sample ledger's of size 14), checked
/// by the library without openssl; and every single-byte change to it is
/// refused, never a panic.
#[test]
fn format_17_6_vector() {
    use ledger::base::tsp::{self, Expect};
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/timestamp");
    let checkpoint = std::fs::read(data.join("checkpoint")).unwrap();
    let tsr = std::fs::read(data.join("checkpoint.tsr")).unwrap();
    let roots = tsp::anchors_from_pem(&std::fs::read(data.join("ca.pem")).unwrap()).unwrap();
    let imprint: [u8; 32] = hex::decode(sha256_hex(&checkpoint))
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(
        hex::encode(imprint),
        "5c356b65c0481251f697227518e204e6ead29fc993edf742c8f88be2614a7d94"
    );
    let stamp = tsp::check_response(&tsr, &Expect::imprint(imprint), &roots).unwrap();
    assert_eq!(stamp.time_text, "2026-12-03T09:41:57Z");
    assert_eq!(stamp.time, 1_796_290_917);
    assert_eq!(stamp.serial, "02");
    assert_eq!(stamp.accuracy_secs, 1);
    assert_eq!(stamp.policy, "1.3.6.1.4.1.4146.999.1");
    assert_eq!(
        stamp.tsa,
        "CN=SAMPLE TSA - not a real authority,O=ledger sample"
    );
    // Another checkpoint's imprint, no roots, a truncation, a trailing byte.
    assert!(matches!(
        tsp::check_response(&tsr, &Expect::imprint([0; 32]), &roots),
        Err(tsp::TspError::Imprint { .. })
    ));
    assert!(matches!(
        tsp::check_response(&tsr, &Expect::imprint(imprint), &[]),
        Err(tsp::TspError::Untrusted { .. })
    ));
    assert!(tsp::check_response(&tsr[..tsr.len() - 1], &Expect::imprint(imprint), &roots).is_err());
    let mut long = tsr.clone();
    long.push(0);
    assert!(tsp::check_response(&long, &Expect::imprint(imprint), &roots).is_err());
    // Every byte flipped in turn: refused, except the status (byte 8:
    // granted becomes grantedWithMods) and the copy of the root in the
    // token's certificates (bytes 708-1214), which the chain does not use
    // (the root given is): none may panic or change the stamp.
    for i in 0..tsr.len() {
        let mut t = tsr.clone();
        t[i] ^= 0x01;
        if let Ok(s) = tsp::check_response(&t, &Expect::imprint(imprint), &roots) {
            assert_eq!(s, stamp, "byte {i} changed the stamp yet verified");
            assert!(
                i == 8 || (708..1215).contains(&i),
                "byte {i} flipped, yet it verifies"
            );
        }
    }
}

/// Whether python3 can run tools/verify.py with its token checks; if not,
/// one line, or a failure under LEDGER_REQUIRE_PYTHON=1.
fn python_with_asn1crypto() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import cbor2, cryptography, asn1crypto"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert_ne!(
            std::env::var("LEDGER_REQUIRE_PYTHON").as_deref(),
            Ok("1"),
            "LEDGER_REQUIRE_PYTHON=1, but python3 cannot import cbor2, cryptography and asn1crypto \
             (python3 -m pip install -r tools/requirements.txt)"
        );
        eprintln!("NOTICE: skipping the tools/verify.py timestamp cross-check: no python3 with asn1crypto");
    }
    ok
}

/// `(exit, failing event)` from `verify.py --batch` for each argument list.
fn python_verdicts(cases: &[Vec<String>]) -> Vec<(i64, Option<u64>, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new("python3")
        .arg(root.join("tools/verify.py"))
        .args(["--batch", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let input: String = cases
        .iter()
        .map(|c| serde_json::to_string(c).unwrap() + "\n")
        .collect();
    let mut stdin = child.stdin.take().unwrap();
    let w = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().unwrap();
    w.join().unwrap().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["exit"].as_i64().unwrap(),
                v["event"].as_u64(),
                v["reason"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// tools/verify.py agrees with `ledger verify` on good and bad tokens: the
/// exit status and the failing event, on a stamped ledger, its token
/// unchecked, untrusted, replaced, truncated, renamed, one byte of it
/// flipped (every third byte of the response), and the time rule.
#[test]
fn python_verifier_agrees_on_tokens() {
    if !openssl_available() || !python_with_asn1crypto() {
        return;
    }
    let (fx, tsa) = stamped_fixture();
    let good = tsa.reply(&fx.read("led.tsq"));
    fx.write("led.tsr", &good);
    add(&fx, &tsa, "led.tsr").ok();
    let ca = tsa.ca();
    let other = Tsa::new(&fx.p("tsa2"), Cert::Good);
    let oca = other.ca();
    let mut cases: Vec<(String, Vec<String>)> = Vec::new();
    let mut case = |label: &str, name: &str, change: &dyn Fn(&Path), args: &[&str]| {
        let d = fx.p(&format!("cases/{name}"));
        copy_dir(&fx.p("led"), &d);
        change(&d);
        let mut a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        a.push(d.display().to_string());
        cases.push((label.to_owned(), a));
    };
    let tsr = |d: &Path| d.join("checkpoints/2.tsr");
    case("good", "good", &|_| {}, &["--tsa-ca", &ca]);
    case("unchecked", "unchecked", &|_| {}, &[]);
    case("untrusted", "untrusted", &|_| {}, &["--tsa-ca", &oca]);
    fx.write("other.txt", "x\n");
    let foreign = tsa.reply(&tsa.query(&fx.p("other.txt"), &[]));
    case(
        "replaced",
        "replaced",
        &|d| std::fs::write(tsr(d), &foreign).unwrap(),
        &["--tsa-ca", &ca],
    );
    case(
        "truncated",
        "truncated",
        &|d| std::fs::write(tsr(d), &good[..good.len() - 1]).unwrap(),
        &["--tsa-ca", &ca],
    );
    case(
        "renamed",
        "renamed",
        &|d| std::fs::rename(tsr(d), d.join("checkpoints/7.tsr")).unwrap(),
        &["--tsa-ca", &ca],
    );
    // FORMAT §17.3 rule 7 and §17.3's genTime: a fraction of a second
    // (good), one with a trailing zero signed by the TSA (bad), TSA
    // certificates without the timeStamping usage, with it not critical,
    // not yet valid or expired at genTime (bad).
    let ms = millis_tsa(&fx.p("tsa-ms"));
    let msca = ms.ca();
    let frac = reply_with_millis(&ms, &fx.read("led.tsq"));
    case(
        "fraction",
        "fraction",
        &|d| std::fs::write(tsr(d), &frac).unwrap(),
        &["--tsa-ca", &msca],
    );
    let tst = tst_info(&ms.dir, &frac);
    let tat = gen_time_at(&tst);
    let mut zero = tst.clone();
    zero[tat.end - 2] = b'0';
    let zero = cms_signed_response(&ms.dir, &zero);
    case(
        "fraction with a trailing zero",
        "fraction0",
        &|d| std::fs::write(tsr(d), &zero).unwrap(),
        &["--tsa-ca", &msca],
    );
    let good_tst = tst_info(&tsa.dir, &good);
    let mut bad_cas = Vec::new();
    for (label, cert) in [
        ("no usage", Cert::NoUsage),
        ("usage not critical", Cert::UsageNotCritical),
        ("not yet valid", Cert::NotYetValid),
        ("expired", Cert::Expired),
    ] {
        let dir = fx.p(&format!("tsa-{}", label.replace(' ', "-")));
        let bad = Tsa::new(&dir, cert);
        let t = match cert {
            Cert::NoUsage | Cert::UsageNotCritical => cms_signed_response(&dir, &good_tst),
            _ => bad.reply(&fx.read("led.tsq")),
        };
        bad_cas.push(bad.ca());
        let bca = bad_cas.last().unwrap().clone();
        case(
            label,
            &format!("cert-{}", label.replace(' ', "-")),
            &|d| std::fs::write(tsr(d), &t).unwrap(),
            &["--tsa-ca", &bca],
        );
    }
    // The copy of the root among the token's certificates is not on the
    // chain (the root given is): a damaged copy is ignored by the binary
    // when it still decodes, while verify.py also has cryptography load
    // it (tools/README.md). Those bytes are left out.
    let root_der = openssl(&tsa.dir, &["x509", "-in", "ca.pem", "-outform", "DER"]);
    let at = good
        .windows(root_der.len())
        .position(|w| w == root_der.as_slice())
        .expect("the root's copy in the token");
    let copy = at..at + root_der.len();
    for i in (0..good.len()).step_by(3).filter(|i| !copy.contains(i)) {
        let mut t = good.clone();
        t[i] ^= 0x01;
        case(
            &format!("flip {i}"),
            &format!("flip{i}"),
            &|d| std::fs::write(tsr(d), &t).unwrap(),
            &["--tsa-ca", &ca],
        );
    }
    // The time rule to the nanosecond: genTime 2030-01-01T00:00:00.601Z
    // with 1 s accuracy lets an event claim up to 00:05:01.601, not .602.
    let mut boundary = Vec::new();
    for (label, claim) in [
        ("claim at the fractional bound", "2030-01-01T00:05:01.601Z"),
        (
            "claim past the fractional bound",
            "2030-01-01T00:05:01.602Z",
        ),
    ] {
        let l = Fx::with_ledger();
        l.run(&[
            "append",
            "led",
            "--key",
            "keys/bob.key",
            "--at",
            claim,
            "--allow-future",
            "note",
            "--text",
            "x",
        ])
        .ok();
        l.run(&["checkpoint", "led", "--key", "keys/ann.key"]).ok();
        l.run(&["timestamp", "request", "led", "-o", "l.tsq"]).ok();
        let r = reply_with_millis(&ms, &l.read("l.tsq"));
        let mut t = tst_info(&ms.dir, &r);
        let at = gen_time_at(&t);
        t[at].copy_from_slice(b"20300101000000.601Z");
        std::fs::write(
            l.p("led/checkpoints/2.tsr"),
            cms_signed_response(&ms.dir, &t),
        )
        .unwrap();
        cases.push((
            label.into(),
            vec![
                "--tsa-ca".into(),
                msca.clone(),
                l.p("led").display().to_string(),
            ],
        ));
        boundary.push(l);
    }
    // The time rule: a ledger whose second event claims 2099.
    let late = Fx::with_ledger();
    late.run(&[
        "append",
        "led",
        "--key",
        "keys/bob.key",
        "--at",
        "2099-01-01T00:00:00Z",
        "--allow-future",
        "note",
        "--text",
        "late",
    ])
    .ok();
    late.run(&["checkpoint", "led", "--key", "keys/ann.key"])
        .ok();
    late.run(&["timestamp", "request", "led", "-o", "l.tsq"])
        .ok();
    late.write("l.tsr", tsa.reply(&late.read("l.tsq")));
    // `timestamp add` refuses it (the writer never stores what verify
    // refutes); planted by hand, as a hostile copy could be.
    late.run(&["timestamp", "add", "led", "l.tsr", "--tsa-ca", &ca])
        .fails(2, "event #1 claims 2099-01-01T00:00:00Z");
    late.write("led/checkpoints/2.tsr", late.read("l.tsr"));
    cases.push((
        "claimed after stamp".into(),
        vec![
            "--tsa-ca".into(),
            ca.clone(),
            late.p("led").display().to_string(),
        ],
    ));

    let argvs: Vec<Vec<String>> = cases.iter().map(|(_, a)| a.clone()).collect();
    let py = python_verdicts(&argvs);
    assert_eq!(py.len(), cases.len());
    let mut failed = 0;
    for ((label, args), (pexit, pevent, preason)) in cases.iter().zip(&py) {
        let mut a = vec!["--json".to_owned(), "verify".to_owned()];
        a.extend(args.iter().cloned());
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let r = fx.run(&a);
        let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_default();
        let revent = j["error"]["event"].as_u64();
        if r.code != Some(*pexit as i32) || revent != *pevent {
            failed += 1;
            eprintln!(
                "DISAGREE {label}: ledger {:?} event {revent:?} ({}) / verify.py {pexit} event {pevent:?} ({preason})",
                r.code,
                r.stderr.trim_end()
            );
        }
    }
    assert_eq!(failed, 0, "{failed} of {} cases disagree", cases.len());
    // RELIABILITY.md quotes this tally.
    eprintln!(
        "tools/verify.py and ledger verify agree on {} token cases",
        cases.len()
    );
    // The expected verdicts themselves.
    let verdict = |label: &str| {
        let i = cases.iter().position(|(l, _)| l == label).unwrap();
        (py[i].0, py[i].1)
    };
    assert_eq!(verdict("fraction"), (0, None));
    assert_eq!(verdict("claim at the fractional bound"), (0, None));
    assert_eq!(verdict("claim past the fractional bound"), (1, Some(1)));
    for bad in [
        "fraction with a trailing zero",
        "no usage",
        "usage not critical",
        "not yet valid",
        "expired",
    ] {
        assert_eq!(verdict(bad).0, 1, "{bad}");
    }
    assert_eq!(py[0].0, 0);
    assert_eq!(py[1].0, 0);
    assert_eq!(py[2].0, 0);
    assert_eq!((py[3].0, py[4].0, py[5].0), (1, 1, 1));
    assert_eq!(py.last().unwrap().0, 1);
    assert_eq!(py.last().unwrap().1, Some(1));
}

/// `--json` on the timestamp commands and verify's token report (as
/// tests/cli_json.rs holds the others to): one JSON document on success;
/// on failure only the error object, the same one line on stderr, the
/// same exit status, and the ledger unchanged.
#[test]
fn timestamp_commands_speak_json() {
    if !openssl_available() {
        return;
    }
    let fx = Fx::with_ledger();
    fx.append("bob", &["note", "--text", "hello"]).ok();
    fx.run(&["checkpoint", "led", "--key", "keys/ann.key"]).ok();
    let tsa = Tsa::new(&fx.p("tsa"), Cert::Good);
    let ca = tsa.ca();
    let q = fx.run(&["--json", "timestamp", "request", "led", "-o", "led.tsq"]);
    q.ok();
    let q = q.json();
    assert_eq!(q["request"], "led.tsq");
    assert_eq!(q["checkpoint"], "checkpoints/2");
    assert_eq!(q["size"], 2);
    assert_eq!(q["imprint"].as_str().map(str::len), Some(64));
    assert!(q["nonce"].is_string(), "{q}");

    // A reply to another request (another nonce): refused, one error object.
    let other = tsa.query(&fx.p("led/checkpoints/2"), &[]);
    fx.write("other.tsr", tsa.reply(&other));
    let before = snapshot(&fx.p("led"));
    let bad = fx.run(&[
        "--json",
        "timestamp",
        "add",
        "led",
        "other.tsr",
        "--request",
        "led.tsq",
        "--tsa-ca",
        &ca,
    ]);
    bad.fails_json(1, "nonce");
    let e = bad.json();
    assert_eq!(
        (&e["ok"], &e["exit"], &e["kind"]),
        (
            &serde_json::json!(false),
            &serde_json::json!(1),
            &serde_json::json!("verification")
        ),
        "{bad}"
    );
    assert_eq!(
        e["message"],
        serde_json::json!(bad.stderr.trim_end().strip_prefix("ledger: ").unwrap())
    );
    assert_same(&before, &snapshot(&fx.p("led")), &bad);

    fx.write("led.tsr", tsa.reply(&fx.read("led.tsq")));
    let add = |json_args: &[&str]| {
        let mut a = vec!["--json", "timestamp", "add", "led", "led.tsr"];
        a.extend_from_slice(json_args);
        fx.run(&a)
    };
    let a = add(&["--request", "led.tsq", "--tsa-ca", &ca]);
    a.ok();
    let a = a.json();
    assert_eq!(a["file"], "checkpoints/2.tsr");
    assert_eq!(a["checkpoint"], "checkpoints/2");
    assert_eq!(a["stored"], true);
    assert_eq!(a["stamp"]["tsa"], "CN=Test TSA");
    assert!(a["stamp"]["time"].is_i64(), "{a}");
    let again = add(&["--request", "led.tsq", "--tsa-ca", &ca]);
    again.ok();
    assert_eq!(again.json()["stored"], false);

    // Online with two TSAs: one document, a list, one token per TSA.
    let (url, h) = serve(&tsa.dir, Serve::Reply, 2);
    let on = fx.run(&[
        "--json",
        "timestamp",
        "led",
        "--tsa",
        &url,
        "--tsa",
        &url,
        "--tsa-ca",
        &ca,
    ]);
    h.join().unwrap();
    on.ok();
    let on = on.json();
    let files: Vec<&str> = on
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["file"].as_str().unwrap())
        .collect();
    assert_eq!(
        files,
        ["checkpoints/2.2.tsr", "checkpoints/2.3.tsr"],
        "{on}"
    );
    assert_eq!(on[0]["url"], serde_json::json!(url));
    // An HTTP failure: the error object only, exit 2, kind io.
    let (url, h) = serve(&tsa.dir, Serve::Status(503), 1);
    let before = snapshot(&fx.p("led"));
    let r = fx.run(&["--json", "timestamp", "led", "--tsa", &url, "--tsa-ca", &ca]);
    h.join().unwrap();
    r.fails_json(2, "HTTP 503");
    assert_eq!(r.json()["kind"], "io", "{r}");
    assert_same(&before, &snapshot(&fx.p("led")), &r);

    // verify --json: each token with its status and, if valid, its stamp.
    let v = fx.run(&["--json", "verify", "--tsa-ca", &ca, "led"]);
    v.ok();
    let v = v.json();
    let t = v["timestamps"].as_array().unwrap();
    assert_eq!(t.len(), 3, "{v}");
    assert!(t
        .iter()
        .all(|t| t["status"] == "valid" && t["stamp"]["serial"].is_string()));
    let plain = fx.run(&["--json", "verify", "led"]);
    plain.ok();
    assert!(plain.json()["timestamps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|t| t["status"] == "unchecked" && t.get("stamp").is_none()));
    // A stored token replaced by garbage: the verification error object.
    std::fs::write(fx.p("led/checkpoints/2.3.tsr"), b"\x30\x00").unwrap();
    let bad = fx.run(&["--json", "verify", "--tsa-ca", &ca, "led"]);
    bad.fails_json(1, "checkpoints/2.3.tsr");
    let e = bad.json();
    assert_eq!(e["verified"], false, "{bad}");
    assert_eq!(e["kind"], "verification", "{bad}");
}

/// A token is a file verify knows (FORMAT §17.2): never warned about as an
/// orphan, and never removed by `repair`, which still removes a temporary
/// file left beside it.
#[test]
fn tokens_are_not_orphans_and_repair_keeps_them() {
    if !openssl_available() {
        return;
    }
    let (fx, tsa) = stamped_fixture();
    fx.write("led.tsr", tsa.reply(&fx.read("led.tsq")));
    add(&fx, &tsa, "led.tsr").ok();
    let ca = tsa.ca();
    let v = fx.run(&["--json", "verify", "--tsa-ca", &ca, "led"]);
    v.ok();
    assert_eq!(v.json()["warnings"], serde_json::json!([]), "{v}");
    let text = fx.run(&["verify", "led"]);
    text.ok();
    assert!(!text.stderr.contains("2.tsr"), "{text}");
    // A temporary file an interrupted `timestamp add` would leave.
    fx.write("led/checkpoints/.tmp-2.tsr", "half a token");
    let v = fx.run(&["--json", "verify", "led"]);
    assert_eq!(v.code, Some(0), "{v}");
    assert!(
        v.stderr
            .contains("checkpoints/.tmp-2.tsr is a temporary file"),
        "{v}"
    );
    assert!(!v.stderr.contains("checkpoints/2.tsr"), "{v}");
    let paths: Vec<String> = v.json()["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["path"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(paths, ["checkpoints/.tmp-2.tsr"], "{v}");
    let token = fx.read("led/checkpoints/2.tsr");
    let r = fx.run(&["--json", "repair", "led"]);
    r.ok();
    assert_eq!(
        r.json()["removed_files"],
        serde_json::json!(["checkpoints/.tmp-2.tsr"]),
        "{r}"
    );
    assert_eq!(fx.read("led/checkpoints/2.tsr"), token);
    let v = fx.run(&["--json", "verify", "--tsa-ca", &ca, "led"]);
    v.ok();
    let v = v.json();
    assert_eq!(v["warnings"], serde_json::json!([]), "{v}");
    assert_eq!(v["timestamps"][0]["status"], "valid", "{v}");
}

/// Where the `genTime` of a response is: its content octets' range (the
/// first GeneralizedTime in it; certificates of these TSAs use UTCTime).
fn gen_time_at(tsr: &[u8]) -> std::ops::Range<usize> {
    (0..tsr.len() - 16)
        .find(|&i| {
            tsr[i] == 0x18
                && (15..=25).contains(&tsr[i + 1])
                && tsr[i + 2..i + 16].iter().all(u8::is_ascii_digit)
        })
        .map(|i| i + 2..i + 2 + tsr[i + 1] as usize)
        .expect("a genTime")
}

/// FORMAT §17.3: a `genTime` with a fraction of a second (RFC 3161 allows
/// it; `openssl ts` writes one with `clock_precision_digits`) is accepted,
/// and reported with it; the forms DER forbids (a trailing zero, no `Z`,
/// a comma) are refused, even signed.
#[test]
fn fractional_gen_time_is_accepted_strictly() {
    if !openssl_available() {
        return;
    }
    let (fx, tsa) = stamped_fixture();
    let cnf = tsa.dir.join("tsa.cnf");
    let mut c = std::fs::read_to_string(&cnf).unwrap();
    c.push_str("clock_precision_digits = 3\n");
    std::fs::write(&cnf, c).unwrap();
    // openssl drops a fraction of .000 (DER has none): ask again then.
    let (good, at) = (0..10)
        .map(|_| {
            let r = tsa.reply(&fx.read("led.tsq"));
            let at = gen_time_at(&r);
            (r, at)
        })
        .find(|(r, at)| r[at.clone()].contains(&b'.'))
        .expect("a genTime with a fraction in 10 tries");
    let text = String::from_utf8_lossy(&good[at.clone()]).into_owned();
    assert!(!text.ends_with("0Z"), "{text}");
    let ca = tsa.ca();
    let frac = &text[text.find('.').unwrap()..text.len() - 1];
    let try_add = |bytes: &[u8]| {
        fx.write("f.tsr", bytes);
        fx.run(&[
            "timestamp",
            "add",
            "led",
            "f.tsr",
            "--request",
            "led.tsq",
            "--tsa-ca",
            &ca,
        ])
    };
    // Non-DER forms of the same instant, in place: each refused as a
    // TSTInfo that is not DER, before any signature is checked.
    let end = at.end;
    let dot = at.start + 14;
    let mut forms: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut trailing = good.clone();
    trailing[end - 2] = b'0';
    forms.push(("a trailing zero", trailing));
    let mut no_z = good.clone();
    no_z[end - 1] = b'0';
    forms.push(("no Z", no_z));
    let mut comma = good.clone();
    comma[dot] = b',';
    forms.push(("a comma", comma));
    for (what, bytes) in &forms {
        let before = snapshot(&fx.p("led"));
        let r = try_add(bytes);
        r.fails(1, "is not a DER-encoded TSTInfo");
        assert_same(&before, &snapshot(&fx.p("led")), &format!("{what}: {r}"));
    }
    // A trailing zero, signed by the TSA: still refused for its form.
    let tst = tst_info(&tsa.dir, &good);
    let t_at = gen_time_at(&tst);
    let mut zero = tst.clone();
    zero[t_at.end - 2] = b'0';
    let signed = cms_signed_response(&tsa.dir, &zero);
    let r = try_add(&signed);
    r.fails(1, "is not a DER-encoded TSTInfo");
    // The token as the TSA made it: accepted, its time reported exactly.
    let r = try_add(&good);
    r.ok();
    assert!(
        r.stdout.contains(&format!("{frac}Z (CN=Test TSA")),
        "{frac}: {r}"
    );
    let v = fx.run(&["--json", "verify", "--tsa-ca", &ca, "led"]);
    v.ok();
    let stamp = &v.json()["timestamps"][0]["stamp"];
    assert!(
        stamp["time_text"]
            .as_str()
            .unwrap()
            .ends_with(&format!("{frac}Z")),
        "{stamp}"
    );
    let nanos: u64 = format!("{:0<9}", &frac[1..]).parse().unwrap();
    assert_eq!(stamp["nanos"], nanos, "{stamp}");
    // openssl agrees the stored token is good.
    openssl(
        fx.root(),
        &[
            "ts",
            "-verify",
            "-data",
            "led/checkpoints/2",
            "-in",
            "led/checkpoints/2.tsr",
            "-CAfile",
            &ca,
        ],
    );
}

/// FORMAT §17.5: the key history gets real time bounds, from the valid
/// tokens (the least TSA time of any stamped checkpoint holding the event)
/// and, beside them and weaker, from verified witness cosignatures; a
/// change no stamped or cosigned checkpoint holds says so. Text and
/// `--json` agree.
#[test]
fn key_history_gets_time_bounds_from_tokens_and_witnesses() {
    if !openssl_available() {
        return;
    }
    let fx = Fx::with_ledger();
    fx.run(&["keygen", "keys/bob2"]).ok();
    fx.run(&["keygen", "keys/ann2"]).ok();
    fx.append("bob", &["key-add", "--new-key", "keys/bob2.key"])
        .ok(); // #1
    fx.run(&["checkpoint", "led", "--key", "keys/ann.key"]).ok(); // size 2
    let tsa = Tsa::new(&fx.p("tsa"), Cert::Good);
    let ca = tsa.ca();
    let stamp = |fx: &Fx| {
        fx.run(&["timestamp", "request", "led", "-o", "led.tsq"])
            .ok();
        fx.write("led.tsr", tsa.reply(&fx.read("led.tsq")));
        add(fx, &tsa, "led.tsr").ok();
        std::fs::remove_file(fx.p("led.tsq")).unwrap();
    };
    stamp(&fx);
    fx.append(
        "bob2",
        &["key-revoke", "--revoke", "keys/bob.pub", "--reason", "lost"],
    )
    .ok(); // #2
    fx.append("ann", &["note", "--text", "after the revocation"])
        .ok(); // #3
    fx.run(&["checkpoint", "led", "--key", "keys/ann.key"]).ok(); // size 4
                                                                  // A witness cosigns size 4 before it is stamped (a stamped checkpoint
                                                                  // gains no signatures).
    fx.run(&["keygen", "w"]).ok();
    let wv = fx.run(&["vkey", "--key", "w.pub", "--witness", "w.example"]);
    fx.write("w.vkey", &wv.stdout);
    let lv = fx.run(&["vkey", "--key", "keys/ann.pub", "--ledger", "led"]);
    fx.write("led.vkey", &lv.stdout);
    fx.run(&["witness", "request", "led", "--old", "0", "-o", "req"])
        .ok();
    fx.run(&[
        "witness",
        "cosign",
        "req",
        "--key",
        "w.key",
        "--name",
        "w.example",
        "--state",
        "ws",
        "--log",
        "led.vkey",
        "-o",
        "cos",
    ])
    .ok();
    fx.run(&["checkpoint", "led", "--add", "cos"]).ok();
    stamp(&fx);
    fx.append("ann", &["key-add", "--new-key", "keys/ann2.key"])
        .ok(); // #4, after every checkpoint

    let args = [
        "verify",
        "--tsa-ca",
        &ca,
        "--witness",
        "w.vkey",
        "--allow-unwitnessed-tail",
        "led",
    ];
    let j = fx.run(&[&["--json"][..], &args[..]].concat());
    assert_eq!(j.code, Some(0), "{j}");
    let j = j.json();
    let tsa_time = |file: &str| {
        j["timestamps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["file"] == file)
            .map(|t| t["stamp"]["time_text"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let (t2, t4) = (tsa_time("checkpoints/2.tsr"), tsa_time("checkpoints/4.tsr"));
    let w = &j["witness_times"];
    assert_eq!(w.as_array().unwrap().len(), 1, "{w}");
    assert_eq!(
        (&w[0]["checkpoint"], &w[0]["size"], &w[0]["witness"]),
        (
            &serde_json::json!("checkpoints/4"),
            &serde_json::json!(4),
            &serde_json::json!("w.example")
        )
    );
    let tw = w[0]["time_text"].as_str().unwrap().to_owned();
    let keys = j["key_times"].as_array().unwrap();
    let find = |party: &str, change: &str, event: u64| {
        keys.iter()
            .find(|k| k["party"] == party && k["change"] == change && k["event"] == event)
            .unwrap_or_else(|| panic!("no {party} {change} #{event} in {keys:?}"))
    };
    // Genesis keys and bob2 (#1): bound by the token of size 2.
    for (party, change, event) in [
        ("ann", "added", 0),
        ("bob", "added", 0),
        ("bob", "added", 1),
    ] {
        let k = find(party, change, event);
        assert_eq!(k["tsa"]["file"], "checkpoints/2.tsr", "{k}");
        assert_eq!(k["witness"]["checkpoint"], "checkpoints/4", "{k}");
    }
    // The revocation (#2): only size 4 holds it.
    let revoked = find("bob", "revoked", 2);
    assert_eq!(revoked["tsa"]["file"], "checkpoints/4.tsr", "{revoked}");
    assert_eq!(revoked["tsa"]["time_text"], serde_json::json!(t4));
    // ann2 (#4): nothing holds it yet.
    let late = find("ann", "added", 4);
    assert!(
        late.get("tsa").is_none() && late.get("witness").is_none(),
        "{late}"
    );

    let t = fx.run(&args);
    assert_eq!(t.code, Some(0), "{t}");
    let bob = fx.run(&["fingerprint", "keys/bob.pub"]);
    let bob = bob
        .stdout
        .split_whitespace()
        .find(|w| w.starts_with("SHA256:"))
        .unwrap();
    for line in [
        format!(
            "bob's key {bob} revoked at #2, which existed by {t4} (CN=Test TSA, serial 03); by {tw}, says witness w.example"
        ),
        format!("bob's key {bob} added at #0, which existed by {t2} (CN=Test TSA, serial 02)"),
        "added at #4: no stamped or cosigned checkpoint holds it yet".to_owned(),
        format!("checkpoints/4: events #0..#3 existed no later than {tw}, says witness w.example"),
    ] {
        assert!(t.stdout.contains(&line), "no {line:?} in:\n{t}");
    }
    // Without --witness no cosignature is verified: TSA times only.
    let plain = fx.run(&["--json", "verify", "--tsa-ca", &ca, "led"]);
    plain.ok();
    let plain = plain.json();
    assert_eq!(plain["witness_times"], serde_json::json!([]));
    assert!(plain["key_times"]
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k.get("witness").is_none()));
    // Without either source, no key times at all.
    let none = fx.run(&["--json", "verify", "led"]);
    none.ok();
    assert_eq!(none.json()["key_times"], serde_json::json!([]));
}
