//! The README's walkthroughs run as written: the `sh` blocks under "A
//! signing flow, step by step" and "Checkpoints, proofs and witnesses", then
//! the secretariats' key rotation and party change, are extracted and run
//! with bash, one after the other, with the built binary first on PATH, in
//! an empty directory. Last, the secretariats' keys on a token and in an
//! agent: the test gives that block a SoftHSM2 of its own (SOFTHSM2_CONF
//! in a temporary directory) and a real ssh-agent (SSH_AUTH_SOCK), stopped
//! at the end; without softhsm2, opensc or ssh-agent it runs the rest and
//! says so, unless LEDGER_REQUIRE_TOOLS=1.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A real ssh-agent on a socket in `dir`, stopped when dropped.
struct Agent(Child);

impl Agent {
    fn start(socket: &Path) -> Agent {
        let child = Command::new("ssh-agent")
            .args(["-D", "-a"])
            .arg(socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ssh-agent");
        let started = Instant::now();
        while !socket.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "ssh-agent made no socket"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Agent(child)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn readme_walkthrough_runs_as_written() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("## A signing flow, step by step")
        .nth(1)
        .expect("the walkthrough section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("an sh block");
    // The checkpoints walkthrough continues in the same directory.
    let more = readme
        .split("## Checkpoints, proofs and witnesses")
        .nth(1)
        .and_then(|s| s.split("```sh\n").nth(1))
        .and_then(|b| b.split("```").next())
        .expect("the checkpoints walkthrough");
    // Then the secretariats' key rotation and party change, which continue
    // the same ledger.
    let secretariats = readme
        .split("**Rotating and revoking keys.**")
        .nth(1)
        .expect("the key rotation section");
    let rotation = secretariats
        .split("```\n")
        .nth(1)
        .expect("the key rotation block");
    let parties = secretariats
        .split("**A party joins or leaves.**")
        .nth(1)
        .and_then(|s| s.split("```\n").nth(1))
        .expect("the party change block");
    let held = readme
        .split("**Keys on a token or in an agent.**")
        .nth(1)
        .and_then(|s| s.split("```sh\n").nth(1))
        .and_then(|b| b.split("```").next())
        .expect("the token and agent block");
    let module = Path::new("/usr/lib/softhsm/libsofthsm2.so");
    let with_held =
        common::tool_available("softhsm2-util", Some(module), "the README's token block")
            && common::tool_available("ssh-agent", None, "the README's agent block")
            && common::tool_available("ssh-add", None, "the README's agent block");
    let held = if with_held { held } else { "" };
    let block = format!("{block}\n{more}\n{rotation}\n{parties}\nledger verify talks\n{held}\n");
    // The block's first line puts target/release on PATH; the test's own
    // binary (debug or release) takes its place.
    let script: String = block
        .lines()
        .filter(|l| !l.starts_with("export PATH="))
        .collect::<Vec<_>>()
        .join("\n");
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_ledger"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let dir = tempfile::tempdir().unwrap();
    // The token store and the agent's socket, outside the walkthrough's
    // directory.
    let aside = tempfile::tempdir().unwrap();
    let conf = aside.path().join("softhsm2.conf");
    std::fs::create_dir(aside.path().join("tokens")).unwrap();
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n",
            aside.path().display()
        ),
    )
    .unwrap();
    let socket = aside.path().join("agent.sock");
    let _agent = with_held.then(|| Agent::start(&socket));
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(dir.path())
        .env("PATH", path)
        .env("SOFTHSM2_CONF", &conf)
        .env("SSH_AUTH_SOCK", &socket)
        .env_remove("LEDGER_PKCS11_MODULE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("EXECUTED at #6: signed by most (#5), med (#6)"),
        "{stdout}"
    );
    assert!(stdout.contains("OK: 9 events verified, head "), "{stdout}");
    assert!(
        stdout.contains("OK: event #5 (document-signed by most,"),
        "{stdout}"
    );
    assert!(
        stdout.contains("cosigned by witness.example/w1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("OK: the log at size 9 is a prefix of"),
        "{stdout}"
    );
    assert!(
        stdout.contains("size 10: valid, signed by most; cosigned by witness.example/w1"),
        "{stdout}"
    );
    assert!(stdout.contains("OK: 10 events verified, head "), "{stdout}");
    assert!(stdout.contains("(key-revoked) by most"), "{stdout}");
    assert!(stdout.contains("(note) by obs"), "{stdout}");
    assert!(
        stdout.contains("membership: joined at #14, a current party"),
        "{stdout}"
    );
    assert!(stdout.contains("OK: 16 events verified, head "), "{stdout}");
    if with_held {
        assert!(
            stdout.contains("held-keys: appended event #3 (note) by most"),
            "{stdout}"
        );
        assert!(
            stdout.contains("held-keys: appended event #1 (note) by med"),
            "{stdout}"
        );
        assert!(stdout.contains("OK: 4 events verified, head "), "{stdout}");
    }
}
