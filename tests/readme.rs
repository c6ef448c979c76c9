//! The README's walkthrough runs as written: its `sh` block under "A signing
//! flow, step by step" is extracted and run with bash, with the built
//! binary first on PATH, in an empty directory.

use std::process::Command;

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
}
