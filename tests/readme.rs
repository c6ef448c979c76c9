//! The README's walkthroughs run as written: the `sh` blocks under "A
//! signing flow, step by step" and "Checkpoints, proofs and witnesses", then
//! the secretariats' key rotation, party change and air-gapped signing, are extracted and run
//! with bash, one after the other, with the built binary first on PATH, in
//! an empty directory.

use std::process::Command;

/// The README's air-gapped signing block (for secretariats, "Signing on a
/// machine that never touches a network").
fn offline_block(readme: &str) -> &str {
    readme
        .split("**Signing on a machine that never touches a network.**")
        .nth(1)
        .and_then(|s| s.split("```sh\n").nth(1))
        .and_then(|b| b.split("```").next())
        .expect("the air-gapped signing block")
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
    let block = format!("{block}\n{more}\n{rotation}\n{parties}\nledger verify talks\n");
    // The block's first line puts target/release on PATH; the test's own
    // binary (debug or release) takes its place.
    let script: String = block
        .lines()
        .filter(|l| !l.starts_with("export PATH="))
        .collect::<Vec<_>>()
        .join("\n");
    // Then air-gapped signing, on the same ledger.
    let script = format!(
        "{script}\n{}\nledger verify talks\n",
        offline_block(&readme)
    );
    let bin_dir = std::path::Path::new(env!("CARGO_BIN_EXE_ledger"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(dir.path())
        .env("PATH", path)
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
    // The air-gapped block (its event's number depends on the blocks
    // before it): signed offline, attached, and the ledger verified after.
    assert!(
        stdout.contains("wrote signed event med-signed.cbor"),
        "{stdout}"
    );
    assert!(
        stdout.contains("(document-drafted) by med, hash"),
        "{stdout}"
    );
    assert!(stdout.contains("(key-revoked) by most"), "{stdout}");
    assert!(stdout.contains("(note) by obs"), "{stdout}");
    assert!(
        stdout.contains("membership: joined at #14, a current party"),
        "{stdout}"
    );
    assert!(stdout.contains("OK: 16 events verified, head "), "{stdout}");
}
