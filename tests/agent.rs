//! Signing through an ssh-agent (`--key ssh-agent:SHA256:…`, or `--key
//! FILE.pub --agent`): a real `ssh-agent` (openssh-client) holds a key
//! that `ssh-add` gave it; the ledger signs through it, and verify accepts
//! the result, byte-identical to what the key file itself signs. Every way
//! it can fail (an agent without that key, a confirmation refused, a dead
//! socket, no SSH_AUTH_SOCK, an agent that answers with a bad signature)
//! is one line, exit 2, and the ledger unchanged.
//!
//! Where `ssh-agent` is missing, the tests say so in one line and pass,
//! unless LEDGER_REQUIRE_TOOLS=1 (as in CI, `.ci/run`), where that fails.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

/// Whether ssh-agent, ssh-add and ssh-keygen can be run; if not, a
/// one-line notice, or a failure under LEDGER_REQUIRE_TOOLS=1.
fn tools_available() -> bool {
    for program in ["ssh-agent", "ssh-add", "ssh-keygen"] {
        // ssh-agent has no harmless flag that exits 0; finding it is enough.
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {program}")])
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !found {
            assert_ne!(
                std::env::var("LEDGER_REQUIRE_TOOLS").as_deref(),
                Ok("1"),
                "LEDGER_REQUIRE_TOOLS=1, but {program} cannot be run"
            );
            eprintln!("NOTICE: skipping a tests/agent.rs test: no {program}");
            return false;
        }
    }
    true
}

/// Runs the ledger in `fx` with SSH_AUTH_SOCK set to `socket` (or unset).
fn run_with(fx: &Fx, socket: Option<&Path>, args: &[&str]) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(fx.root())
        .env("NO_COLOR", "1")
        .env_remove("RUST_BACKTRACE")
        .env_remove("SSH_AUTH_SOCK")
        .stdin(Stdio::null());
    if let Some(s) = socket {
        cmd.env("SSH_AUTH_SOCK", s);
    }
    let out = cmd.output().expect("run the ledger binary");
    Run {
        args: args.iter().map(|s| s.to_string()).collect(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `args`, which must fail with exit 2 and one line containing
/// `needle`, leaving `led` byte-identical.
#[track_caller]
fn refused(fx: &Fx, socket: Option<&Path>, args: &[&str], needle: &str) -> Run {
    let before = snapshot(&fx.p("led"));
    let r = run_with(fx, socket, args);
    r.fails(2, needle);
    assert_same(&before, &snapshot(&fx.p("led")), &r);
    r
}

/// keys/ann (an OpenSSH key from ssh-keygen, with ann.pub), keys/bob (from
/// ledger keygen), and `led` created by ann's key file, parties ann and bob.
fn setup() -> (Fx, String) {
    let fx = Fx::empty();
    std::fs::create_dir(fx.p("keys")).unwrap();
    let out = Command::new("ssh-keygen")
        .args([
            "-q", "-t", "ed25519", "-N", "", "-C", "ann", "-f", "keys/ann",
        ])
        .current_dir(fx.root())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    fx.run(&["keygen", "keys/bob"]).ok();
    fx.run(&["keygen", "keys/eve"]).ok();
    let t = fx.at();
    fx.run(&[
        "init",
        "led",
        "--key",
        "keys/ann",
        "--title",
        "T",
        "--party",
        "ann=keys/ann.pub",
        "--party",
        "bob=keys/bob.pub",
        "--at",
        &t,
    ])
    .ok();
    let r = fx.run(&["fingerprint", "keys/ann.pub"]);
    r.ok();
    let fp = r.stdout.split_whitespace().next().unwrap().to_owned();
    assert!(fp.starts_with("SHA256:"), "{r}");
    (fx, fp)
}

#[test]
fn agent_signs_exactly_what_the_key_file_signs() {
    if !tools_available() {
        return;
    }
    let (fx, fp) = setup();
    let agent = SshAgent::start(&fx.root().join("agent.sock"), Some("/nonexistent"));
    agent.add(fx.root(), &["keys/ann"]);
    copy_dir(&fx.p("led"), &fx.p("by-file"));
    let key = format!("ssh-agent:{fp}");
    let t1 = fx.at();
    let t2 = fx.at();
    let sock = Some(agent.socket.as_path());
    // Through the agent: by fingerprint, then by public key with --agent.
    let note = ["note", "--text", "signed by the agent"];
    let mut a = vec!["append", "led", "--key", &key, "--at", &t1];
    a.extend_from_slice(&note);
    run_with(&fx, sock, &a).ok();
    let mut b = vec!["append", "led", "--key", "keys/ann.pub", "--agent"];
    b.extend_from_slice(&["--at", &t2, "note", "--text", "again"]);
    run_with(&fx, sock, &b).ok();
    // The same events from the key file: Ed25519 is deterministic, so the
    // logs are byte-identical.
    let mut c = vec!["append", "by-file", "--key", "keys/ann", "--at", &t1];
    c.extend_from_slice(&note);
    run_with(&fx, None, &c).ok();
    let d = [
        "append", "by-file", "--key", "keys/ann", "--at", &t2, "note", "--text", "again",
    ];
    run_with(&fx, None, &d).ok();
    assert_eq!(fx.read("led/events.cbor"), fx.read("by-file/events.cbor"));
    let v = run_with(&fx, None, &["verify", "led"]);
    v.ok();
    // init and sign through the agent too.
    let t3 = fx.at();
    run_with(
        &fx,
        sock,
        &[
            "init",
            "led2",
            "--key",
            &key,
            "--title",
            "T2",
            "--party",
            "ann=keys/ann.pub",
            "--at",
            &t3,
        ],
    )
    .ok();
    run_with(&fx, None, &["verify", "led2"]).ok();
}

#[test]
fn an_agent_without_the_key_is_refused() {
    if !tools_available() {
        return;
    }
    let (fx, fp) = setup();
    let agent = SshAgent::start(&fx.root().join("empty.sock"), Some("/nonexistent"));
    let key = format!("ssh-agent:{fp}");
    let r = refused(
        &fx,
        Some(&agent.socket),
        &["append", "led", "--key", &key, "note", "--text", "x"],
        &format!("holds no key {fp}"),
    );
    assert!(r.stderr.contains("ssh-add"), "{r}");
    // With --agent and the .pub: the same.
    refused(
        &fx,
        Some(&agent.socket),
        &[
            "append",
            "led",
            "--key",
            "keys/ann.pub",
            "--agent",
            "note",
            "--text",
            "x",
        ],
        &format!("holds no key {fp}"),
    );
}

#[test]
fn a_refused_confirmation_writes_nothing() {
    if !tools_available() {
        return;
    }
    let (fx, fp) = setup();
    // ssh-add -c: every use needs a confirmation, and the agent's
    // confirmation program does not exist.
    let agent = SshAgent::start(
        &fx.root().join("confirm.sock"),
        Some("/nonexistent/ssh-askpass"),
    );
    agent.add(fx.root(), &["-c", "keys/ann"]);
    let key = format!("ssh-agent:{fp}");
    refused(
        &fx,
        Some(&agent.socket),
        &["append", "led", "--key", &key, "note", "--text", "x"],
        &format!("refused to sign with {fp}"),
    );
    // And a confirmation program that says no.
    let agent = SshAgent::start(&fx.root().join("no.sock"), Some("/bin/false"));
    agent.add(fx.root(), &["-c", "keys/ann"]);
    refused(
        &fx,
        Some(&agent.socket),
        &["append", "led", "--key", &key, "note", "--text", "x"],
        "refused to sign",
    );
}

#[test]
fn a_dead_socket_or_none_is_one_line() {
    if !tools_available() {
        return;
    }
    let (fx, fp) = setup();
    let key = format!("ssh-agent:{fp}");
    let args = [
        "append",
        "led",
        "--key",
        key.as_str(),
        "note",
        "--text",
        "x",
    ];
    // A socket file nobody listens on any more.
    let dead = fx.p("dead.sock");
    drop(UnixListener::bind(&dead).unwrap());
    let r = refused(&fx, Some(&dead), &args, "cannot reach the ssh-agent at");
    assert!(r.stderr.contains("SSH_AUTH_SOCK"), "{r}");
    // An agent that was stopped.
    let agent = SshAgent::start(&fx.root().join("gone.sock"), Some("/nonexistent"));
    let socket = agent.socket.clone();
    drop(agent);
    refused(&fx, Some(&socket), &args, "cannot reach the ssh-agent at");
    // No agent at all.
    refused(&fx, None, &args, "SSH_AUTH_SOCK is not set");
    // A malformed fingerprint.
    refused(
        &fx,
        None,
        &[
            "append",
            "led",
            "--key",
            "ssh-agent:SHA256:abc",
            "note",
            "--text",
            "x",
        ],
        "expected ssh-agent:SHA256:",
    );
}

#[test]
fn an_agent_key_that_is_no_partys_is_named() {
    if !tools_available() {
        return;
    }
    let (fx, _) = setup();
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f", "keys/mal"])
        .current_dir(fx.root())
        .output()
        .unwrap();
    assert!(out.status.success());
    let agent = SshAgent::start(&fx.root().join("mal.sock"), Some("/nonexistent"));
    agent.add(fx.root(), &["keys/mal"]);
    let fp = run_with(&fx, None, &["fingerprint", "keys/mal.pub"]);
    let fp = fp.stdout.split_whitespace().next().unwrap().to_owned();
    let key = format!("ssh-agent:{fp}");
    refused(
        &fx,
        Some(&agent.socket),
        &["append", "led", "--key", &key, "note", "--text", "x"],
        &format!("the signing key ({fp}) is not the key of any party"),
    );
    // A passphrase option with an agent's key is a mistake, said so.
    fx.write("pass", "x\n");
    chmod(&fx.p("pass"), 0o600);
    refused(
        &fx,
        Some(&agent.socket),
        &[
            "append",
            "led",
            "--key",
            &key,
            "--passphrase-file",
            "pass",
            "note",
            "--text",
            "x",
        ],
        "drop --passphrase-file",
    );
    // A .pub without --agent: the hint says how.
    refused(
        &fx,
        Some(&agent.socket),
        &[
            "append",
            "led",
            "--key",
            "keys/ann.pub",
            "note",
            "--text",
            "x",
        ],
        "add --agent",
    );
}

/// An SSH string: a 4-byte big-endian length, then the bytes.
fn string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// A fake agent that lists `key` (32 bytes) and answers every signing
/// request with `answer(request)`; it serves `connections` connections.
fn fake_agent(
    socket: &Path,
    key: [u8; 32],
    connections: usize,
    answer: fn(&[u8]) -> Vec<u8>,
) -> std::thread::JoinHandle<()> {
    let listener = UnixListener::bind(socket).unwrap();
    std::thread::spawn(move || {
        for _ in 0..connections {
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            let mut len = [0u8; 4];
            if s.read_exact(&mut len).is_err() {
                continue;
            }
            let mut msg = vec![0u8; u32::from_be_bytes(len) as usize];
            s.read_exact(&mut msg).unwrap();
            let reply = match msg[0] {
                // SSH_AGENTC_REQUEST_IDENTITIES: one ssh-ed25519 key.
                11 => {
                    let mut blob = Vec::new();
                    string(&mut blob, b"ssh-ed25519");
                    string(&mut blob, &key);
                    let mut r = vec![12];
                    r.extend_from_slice(&1u32.to_be_bytes());
                    string(&mut r, &blob);
                    string(&mut r, b"fake");
                    r
                }
                13 => answer(&msg[1..]),
                _ => vec![5],
            };
            let mut framed = (reply.len() as u32).to_be_bytes().to_vec();
            framed.extend_from_slice(&reply);
            let _ = s.write_all(&framed);
        }
    })
}

#[test]
fn a_hostile_agent_answer_is_refused() {
    let fx = Fx::with_ledger();
    // ann's public key, from the key file ledger keygen wrote.
    let r = fx.run(&["fingerprint", "keys/ann.pub"]);
    let fp = r.stdout.split_whitespace().next().unwrap().to_owned();
    let key: [u8; 32] = {
        let pem = String::from_utf8(fx.read("keys/ann.pub")).unwrap();
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = base64_decode(&b64);
        der[der.len() - 32..].try_into().unwrap()
    };
    let spec = format!("ssh-agent:{fp}");
    let args = [
        "append",
        "led",
        "--key",
        spec.as_str(),
        "note",
        "--text",
        "x",
    ];
    type Answer = fn(&[u8]) -> Vec<u8>;
    let cases: [(&str, Answer, &str); 4] = [
        (
            // A well-formed ssh-ed25519 signature that is not ann's.
            "forged",
            |_| {
                let mut sig = Vec::new();
                string(&mut sig, b"ssh-ed25519");
                string(&mut sig, &[7u8; 64]);
                let mut r = vec![14];
                string(&mut r, &sig);
                r
            },
            "does not verify",
        ),
        (
            "short",
            |_| {
                let mut sig = Vec::new();
                string(&mut sig, b"ssh-ed25519");
                string(&mut sig, &[7u8; 63]);
                let mut r = vec![14];
                string(&mut r, &sig);
                r
            },
            "ssh-agent at",
        ),
        ("failure", |_| vec![5], "refused to sign"),
        (
            "garbage",
            |_| vec![14, 0xff, 0xff, 0xff, 0xff],
            "ssh-agent at",
        ),
    ];
    for (name, answer, needle) in cases {
        let socket = fx.p(&format!("{name}.sock"));
        let server = fake_agent(&socket, key, 2, answer);
        refused(&fx, Some(&socket), &args, needle);
        server.join().unwrap();
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c).unwrap() as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
