//! The performance bench's code path on a tiny ledger, so that it cannot
//! rot: generation (with replay of every event), the machine limits, the
//! real binary's verify/append/import, tools/verify.py and the git
//! comparison, and the table written into a copy of the doc's markers.
//! Nothing here is timed or compared with a target.

#[path = "../benches/suite/mod.rs"]
mod suite;

use std::fs;
use std::path::{Path, PathBuf};

fn tiny(dir: &Path) -> suite::Config {
    let mut cfg = suite::Config::full(Path::new(env!("CARGO_MANIFEST_DIR")));
    cfg.sizes = vec![500];
    cfg.cache = dir.join("cache");
    cfg.ledger_bin = PathBuf::from(env!("CARGO_BIN_EXE_ledger"));
    cfg.doc = Some(dir.join("PERFORMANCE.md"));
    cfg.runs = 1;
    cfg.budget_secs = 5.0;
    cfg.appends = 3;
    cfg.append_small = 200;
    cfg.import = 300;
    cfg.git_max = 20;
    cfg.python_max = 500;
    cfg.limit_secs = 0.05;
    cfg.fsyncs = 5;
    cfg.command = "bench_smoke".into();
    cfg
}

#[test]
fn the_bench_runs_on_a_tiny_ledger_and_writes_its_table() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny(dir.path());
    let doc = cfg.doc.clone().unwrap();
    fs::write(
        &doc,
        format!(
            "# Performance\n\nThe table goes between `{b}` and `{e}`.\n\n{b}\nold table\n{e}\n\nafter\n",
            b = suite::BEGIN,
            e = suite::END
        ),
    )
    .unwrap();

    let report = suite::run(&cfg).unwrap();
    let figures: Vec<&str> = report.rows.iter().map(|r| r.figure.as_str()).collect();
    for wanted in [
        "ed25519 verify_strict, 1 thread",
        "SHA-256, 1 thread",
        ", 500 events",
        "first (rebuilds the writer's cache)",
        "append at 500 / append at 200",
        "`ledger import`, 300 events onto 500",
        "`ledger report -o r.html`, 500 events",
        "`ledger report -o r.pdf`, 500 events",
    ] {
        assert!(
            figures.iter().any(|f| f.contains(wanted)),
            "no row {wanted:?} in {figures:#?}"
        );
    }
    // tools/verify.py's row: it ran and verified (with the venv .ci/run
    // makes, which the bench prefers), wherever Python is required.
    if std::env::var_os("LEDGER_REQUIRE_PYTHON").is_some() {
        let py = report
            .rows
            .iter()
            .find(|r| r.figure.contains("tools/verify.py"))
            .expect("a tools/verify.py row");
        assert!(
            !py.measured.starts_with("failed"),
            "tools/verify.py failed in the bench: {}",
            py.measured
        );
    }
    // git and ssh-keygen may be missing on a bare machine: then a note.
    assert!(
        figures.iter().any(|f| f.contains("20 SSH-signed commits"))
            || report.markdown.contains("git comparison: skipped"),
        "neither a git row nor a skip note"
    );
    assert!(report
        .markdown
        .contains("| Figure | Measured | Limit | Ratio to limit |"));
    assert!(report.markdown.contains("nproc"));

    let written = fs::read_to_string(&doc).unwrap();
    assert!(written.starts_with(
        "# Performance\n\nThe table goes between `<!-- bench:begin -->` and \
             `<!-- bench:end -->`.\n\n<!-- bench:begin -->\nMeasured by `bench_smoke`."
    ));
    assert!(written.ends_with("<!-- bench:end -->\n\nafter\n"));
    assert!(!written.contains("old table"));

    // A second run reuses the cached ledgers and git repository.
    let mut again = cfg.clone();
    again.doc = None;
    let report = suite::run(&again).unwrap();
    assert!(report.markdown.contains("reused from the cache"));
}

#[test]
fn sizes_and_labels() {
    assert_eq!(suite::parse_size("10k").unwrap(), 10_000);
    assert_eq!(suite::parse_size("1m").unwrap(), 1_000_000);
    assert_eq!(suite::parse_size("2500").unwrap(), 2_500);
    assert!(suite::parse_size("1").is_err());
    assert!(suite::parse_size("ten").is_err());
    assert_eq!(suite::parse_count("0").unwrap(), 0);
    assert_eq!(suite::label(1_000_000), "1M");
    assert_eq!(suite::label(100_000), "100k");
    assert_eq!(suite::label(2_500), "2500");
    assert_eq!(suite::thousands(1_234_567.4), "1,234,567");
    assert_eq!(suite::gen::rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(suite::gen::rfc3339(951_825_599), "2000-02-29T11:59:59Z");
}

#[test]
fn a_doc_without_markers_gets_a_section() {
    let dir = tempfile::tempdir().unwrap();
    let doc = dir.path().join("P.md");
    fs::write(&doc, "# Performance\n").unwrap();
    suite::write_doc(&doc, "table\n").unwrap();
    let text = fs::read_to_string(&doc).unwrap();
    assert!(text.contains("<!-- bench:begin -->\ntable\n<!-- bench:end -->"));
    suite::write_doc(&doc, "new\n").unwrap();
    let text = fs::read_to_string(&doc).unwrap();
    assert!(!text.contains("table\n"));
    assert_eq!(text.matches("bench:begin").count(), 1);
}
