//! The README runs as written, as one story (issue 11.16): every `sh` block,
//! top to bottom, in one bash, in a scratch directory that stands for the
//! repository's root (holding copies of what the README names there: the
//! sample `ledger/`, `keys/`, `scripts/sample/` and `scripts/practice-tsa.sh`), with the built binary
//! first on PATH. Only the quick start is left out: it builds the project
//! and runs these tests.
//!
//! The story must also leave the repository as it found it: the sample
//! byte for byte, and nothing at the root but the walkthrough's own
//! directory, which the repository's `.gitignore` ignores.
//!
//! The secretariats' keys on a token and in an agent get a SoftHSM2 of
//! their own (SOFTHSM2_CONF in a temporary directory outside the story's
//! root) and a real ssh-agent (SSH_AUTH_SOCK), stopped at the end; without
//! softhsm2 or ssh-agent that one block is left out and the test says so,
//! unless LEDGER_REQUIRE_TOOLS=1.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::*;

/// The README's `sh` blocks, in order.
fn sh_blocks(readme: &str) -> Vec<&str> {
    readme
        .split("```sh\n")
        .skip(1)
        .filter_map(|b| b.split("\n```").next())
        .collect()
}

#[test]
fn readme_runs_top_to_bottom_as_one_story() {
    // The fingerprint section compares with OpenSSH's and OpenSSL's tools.
    if !["ssh-keygen", "openssl", "xxd"]
        .iter()
        .all(|t| tool_available(t, None, "tests/readme.rs"))
    {
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap();
    let blocks = sh_blocks(&readme);
    assert!(
        blocks[0].contains("cargo run --release -- verify ledger/"),
        "the first sh block is no longer the quick start: {}",
        blocks[0]
    );
    // The walkthrough's first line puts target/release on PATH; the test's
    // own binary (debug or release) takes its place.
    // The block with keys on a token and in an agent needs SoftHSM2 and
    // ssh-agent; without them the rest of the story still runs.
    let module = Path::new("/usr/lib/softhsm/libsofthsm2.so");
    let with_held = tool_available("softhsm2-util", Some(module), "the README's token block")
        && tool_available("ssh-agent", None, "the README's agent block")
        && tool_available("ssh-add", None, "the README's agent block");
    // The block that serves a published directory needs python3.
    let with_python = tool_available("python3", None, "the README's http.server block");
    let script: String = blocks[1..]
        .iter()
        .filter(|b| with_held || !b.contains("softhsm2-util"))
        .filter(|b| with_python || !b.contains("http.server"))
        .flat_map(|b| b.lines())
        .filter(|l| !l.starts_with("export PATH="))
        .collect::<Vec<_>>()
        .join("\n");
    // The block's fixed port, replaced by a free one: another server on
    // it would answer instead.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = script.replace("127.0.0.1:8123", &format!("127.0.0.1:{port}"));
    let script = script.replace("http.server 8123 ", &format!("http.server {port} "));
    let script = script.replace(
        "/dev/tcp/127.0.0.1/8123",
        &format!("/dev/tcp/127.0.0.1/{port}"),
    );
    let root = tempfile::tempdir().unwrap();
    for (from, to) in [
        ("ledger/events.cbor", "ledger/events.cbor"),
        ("ledger/.gitignore", "ledger/.gitignore"),
    ] {
        std::fs::create_dir_all(root.path().join("ledger")).unwrap();
        std::fs::copy(repo.join(from), root.path().join(to)).unwrap();
    }
    for d in [
        "ledger/docs",
        "ledger/checkpoints",
        "keys",
        "scripts/sample",
    ] {
        copy_dir(&repo.join(d), &root.path().join(d));
    }
    std::fs::copy(
        repo.join("scripts/practice-tsa.sh"),
        root.path().join("scripts/practice-tsa.sh"),
    )
    .unwrap();
    let sample = snapshot(&root.path().join("ledger"));
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // The token store and the agent's socket, outside the story's root.
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
    let _agent = with_held.then(|| SshAgent::start(&socket, None));
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(root.path())
        .env("PATH", path)
        .env("SOFTHSM2_CONF", &conf)
        .env("SSH_AUTH_SOCK", &socket)
        .env_remove("LEDGER_PKCS11_MODULE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for expected in [
        // The signing flow.
        "EXECUTED at #6: signed by most (#5), med (#6)",
        "OK: 9 events verified, head ",
        // Air-gapped signing: signed offline, attached.
        "wrote signed event med-signed.cbor",
        "(document-drafted) by med, hash",
        // Key rotation and a party joining.
        "(key-revoked) by most",
        "(note) by obs",
        "membership: joined at #13, a current party",
        "OK: 15 events verified, head ",
        // The auditor, on the sample.
        "OK: 14 events verified, head ",
        // The checkpoints, proofs and witnesses.
        "OK: event #5 (document-signed by most,",
        "cosigned by witness.example/w1",
        "OK: the log at size 16 is a prefix of",
        "size 17: valid, signed by most; cosigned by witness.example/w1",
        "OK: 17 events verified, head ",
        // The witnesses over HTTP.
        "witness w1: cosigned (request from size 17)",
        "witness w2: cosigned (request from size 0)",
        "quorum both: met",
        "OK: 18 events verified, head ",
        // The timestamps: the sample's, and the practice TSA's on talks,
        // each also verified by openssl.
        "checkpoints/14.tsr: events #0..#13 existed no later than",
        "checkpoints/18.tsr: events #0..#17 existed no later than",
        "Verification: OK",
    ] {
        assert!(stdout.contains(expected), "no {expected:?} in:\n{stdout}");
    }
    if with_python {
        // check-proof from the URL says what it says from site/ (twice
        // now), and the monitor accepted the served tree.
        assert_eq!(
            stdout
                .lines()
                .filter(|l| l.starts_with("OK: event #5 (document-signed by most,")
                    && l.contains(" at size 17, root "))
                .count(),
            2,
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!("http://127.0.0.1:{port}/: size 17 (was 0), root ")),
            "{stdout}"
        );
        assert!(stdout.contains(" by med at "), "{stdout}");
    }
    if with_held {
        for expected in [
            "held-keys: appended event #3 (note) by most",
            "held-keys: appended event #1 (note) by med",
            "OK: 4 events verified, head ",
        ] {
            assert!(stdout.contains(expected), "no {expected:?} in:\n{stdout}");
        }
    }
    // The key history in time (FORMAT §17.5): the revocation of
    // most-laptop, bound by the practice TSA's token and the witness.
    assert!(
        stdout.lines().any(|l| l.contains("'s key SHA256:")
            && l.contains(" revoked at #")
            && l.contains(", which existed by ")
            && l.contains("says witness witness.example/w1")),
        "no key revocation with its time bounds in:\n{stdout}"
    );
    assert_eq!(
        stdout.matches("Verification: OK").count(),
        2,
        "openssl ts -verify did not accept both tokens:\n{stdout}"
    );
    // The fingerprint section: ssh-keygen and ledger print the same one.
    let fingerprints: Vec<&str> = stdout
        .split_whitespace()
        .filter(|w| w.starts_with("SHA256:"))
        .collect();
    let most = Command::new(BIN)
        .args(["fingerprint", "walkthrough/most.pub"])
        .current_dir(root.path())
        .output()
        .unwrap();
    let most = String::from_utf8_lossy(&most.stdout);
    let most = most.split_whitespace().find(|w| w.starts_with("SHA256:"));
    let most = most.expect("a fingerprint of most.pub");
    assert!(
        fingerprints.iter().filter(|f| **f == most).count() >= 2,
        "ssh-keygen and ledger disagree on {most}:\n{stdout}"
    );
    // Nothing left behind in the repository.
    assert_same(
        &sample,
        &snapshot(&root.path().join("ledger")),
        &"the README",
    );
    let mut left: Vec<String> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["keys", "ledger", "scripts", "walkthrough"]);
    let ignored = std::fs::read_to_string(repo.join(".gitignore")).unwrap();
    assert!(
        ignored.lines().any(|l| l == "/walkthrough"),
        "the repository's .gitignore does not ignore the walkthrough: {ignored}"
    );
}
