//! `cargo bench --bench bench -- [OPTIONS]`, usually through `scripts/bench`.
//! See benches/suite/mod.rs and docs/PERFORMANCE.md.

mod suite;
mod witness_load;

use std::path::{Path, PathBuf};

use std::process::ExitCode;

const USAGE: &str = "\
usage: scripts/bench [OPTIONS]

Generates ledgers (cached in target/bench-ledgers/), measures the machine's
limits and the release `ledger` binary against them, prints a table and
writes it into docs/PERFORMANCE.md between the bench markers.

  --sizes LIST       ledger sizes, e.g. 10k,100k,1m (default: 10k,100k,1m)
  --no-write         print the table only; leave docs/PERFORMANCE.md alone
  --cache DIR        where generated ledgers are kept (default: target/bench-ledgers)
  --ledger-bin PATH  the binary to measure (default: target/release/ledger)
  --runs N           runs of each verify and import; the best is reported (3)
  --appends N        steady-state appends timed per size (50)
  --budget-secs S    stop repeating a verify, import or append after S seconds (60)
  --append-small N   the small ledger appends are compared with (1k)
  --import N         events in the import file (default: 10 x the smallest size, at most 100k)
  --git-max N        most commits for the git comparison; 0 skips it (10k)
  --python-max N     largest size tools/verify.py runs on (10k)
  --report-max N     largest size `ledger report` (HTML and PDF) runs on; 0 skips it (100k)
  --limit-secs S     seconds per machine-limit measurement (2)
  --fsyncs N         fsync'd appends measured (500)
  --witness-load N   instead: N add-checkpoint requests to `ledger witness serve`
                     from 8 clients on loopback; prints throughput and latency
";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), suite::Error> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cfg = suite::Config::full(root);
    // cargo bench passes --bench to harness = false targets.
    let given: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    cfg.command = std::iter::once("scripts/bench".to_owned())
        .chain(given.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let mut args = given.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("{name} needs a value\n\n{USAGE}"))
        };
        match arg.as_str() {
            "-h" | "--help" => {
                print!("{USAGE}");
                return Ok(());
            }
            "--no-write" => cfg.doc = None,
            "--sizes" => {
                cfg.sizes = value("--sizes")?
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(suite::parse_size)
                    .collect::<Result<_, _>>()?;
            }
            "--cache" => cfg.cache = PathBuf::from(value("--cache")?),
            "--ledger-bin" => cfg.ledger_bin = PathBuf::from(value("--ledger-bin")?),
            "--runs" => cfg.runs = value("--runs")?.parse()?,
            "--budget-secs" => cfg.budget_secs = value("--budget-secs")?.parse()?,
            "--appends" => cfg.appends = value("--appends")?.parse()?,
            "--append-small" => cfg.append_small = suite::parse_size(&value("--append-small")?)?,
            "--import" => cfg.import = suite::parse_size(&value("--import")?)?,
            "--git-max" => cfg.git_max = suite::parse_count(&value("--git-max")?)?,
            "--python-max" => cfg.python_max = suite::parse_count(&value("--python-max")?)?,
            "--report-max" => cfg.report_max = suite::parse_count(&value("--report-max")?)?,
            "--limit-secs" => cfg.limit_secs = value("--limit-secs")?.parse()?,
            "--fsyncs" => cfg.fsyncs = value("--fsyncs")?.parse()?,
            "--witness-load" => {
                let n: usize = value("--witness-load")?.parse()?;
                println!("{}", witness_load::run(&cfg.ledger_bin, n)?);
                return Ok(());
            }
            other => return Err(format!("unknown option {other:?}\n\n{USAGE}").into()),
        }
    }
    if cfg.sizes.is_empty() {
        return Err("--sizes: no sizes".into());
    }
    let report = suite::run(&cfg)?;
    println!("{}", report.markdown);
    for r in report.rows.iter().filter(|r| r.met == Some(false)) {
        eprintln!(
            "bench: target missed: {}: {} (target {})",
            r.figure, r.measured, r.target
        );
    }
    Ok(())
}
