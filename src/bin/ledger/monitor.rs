//! `ledger monitor`: parses, runs [`ledger::proofs::monitor::run`] once or
//! every `--interval` seconds until SIGTERM/SIGINT, prints what it found
//! (text or JSON lines), and maps it to the exit codes: 0 nothing wrong,
//! 1 a split view, rollback, bad data or broken rule (evidence saved), 2
//! usage or I/O (the source unreachable, a timeout, a redirect, an answer
//! too big, a TLS failure), 3 the checkpoint is older than `--max-age`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ledger::proofs::monitor::{self, Finding, MonitorError, Outcome, Source};

use crate::cli::MonitorArgs;
use crate::error::Failure;
use crate::out::Out;

fn parse_age(s: &str) -> Result<i64, Failure> {
    let bad = || {
        Failure::usage(format!(
            "--max-age {s:?}: give a number and a unit: 90s, 30m, 12h, 7d"
        ))
    };
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = n.parse().map_err(|_| bad())?;
    let mul = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(bad()),
    };
    n.checked_mul(mul).filter(|v| *v >= 0).ok_or_else(bad)
}

fn failure(e: MonitorError) -> Failure {
    match e {
        MonitorError::Checkpoint(m) => {
            Failure::refuted(format!("the served checkpoint does not check out: {m}"))
        }
        e => Failure::io(format!("{e}; nothing accepted, the state is unchanged")),
    }
}

fn text(f: &Finding) -> String {
    let ev = |p: &std::path::Path| p.display().to_string();
    match f {
        Finding::Rollback {
            accepted,
            served,
            evidence,
        } => format!("ROLLBACK: the log served size {served}, smaller than the accepted {accepted}; both checkpoints saved in {}", ev(evidence)),
        Finding::SplitView {
            accepted,
            served,
            evidence,
        } => format!("SPLIT VIEW: the checkpoint of size {served} does not extend the accepted one of size {accepted}; both checkpoints saved in {}", ev(evidence)),
        Finding::BadData {
            served,
            file,
            reason,
            evidence,
        } => format!("BAD DATA: {file} contradicts the signed checkpoint of size {served}: {reason}; saved in {}", ev(evidence)),
        Finding::Violation {
            served,
            reason,
            evidence,
        } => format!("VIOLATION: the events up to size {served} break the ledger's rules: {reason}; checkpoints saved in {}", ev(evidence)),
        _ => "an unknown finding".into(),
    }
}

fn report(out: &Out, o: &Outcome) -> Result<(), Failure> {
    if out.json {
        for n in &o.notices {
            out.print(serde_json::json!({"type": "event", "event": n}))?;
        }
        for f in &o.findings {
            out.print(serde_json::json!({"type": "finding", "finding": f}))?;
        }
        return out.print(serde_json::json!({"type": "run", "run": o}));
    }
    if let Some(r) = &o.rebuilt {
        out.info(format_args!(
            "state not trusted ({}): rebuilt from the source, from event 0",
            ledger::core::verify::terminal_safe(r)
        ))?;
    }
    for n in &o.notices {
        out.print(format_args!(
            "#{} {} by {} at {} ({}): {}",
            n.seq, n.kind, n.author, n.time, n.why, n.summary
        ))?;
    }
    for f in &o.findings {
        out.print(text(f))?;
    }
    if o.findings.is_empty() {
        out.info(format_args!(
            "{}: size {} (was {}), root {}; fetched {} entry bundle(s), {} document(s)",
            o.source, o.size, o.previous, o.root, o.bundles_fetched, o.documents_fetched
        ))?;
    }
    Ok(())
}

/// One run: the outcome printed, and what it means for the exit code.
fn once(
    out: &Out,
    source: &Source,
    args: &MonitorArgs,
    opts: &monitor::Options,
    max_age: Option<i64>,
) -> Result<(), Failure> {
    let o = monitor::run(source, &args.state, opts).map_err(failure)?;
    report(out, &o)?;
    if !o.findings.is_empty() {
        return Err(Failure::refuted(format!(
            "{} finding(s) against {}; evidence in {}",
            o.findings.len(),
            o.source,
            args.state.join(monitor::EVIDENCE_DIR).display()
        )));
    }
    if let Some(max) = max_age {
        match o.age {
            Some(a) if a <= max => {}
            Some(a) => {
                return Err(Failure::Stale(format!(
                    "the checkpoint of size {} is {a} s old, more than --max-age {max} s: the log or its witnesses have stopped",
                    o.size
                )))
            }
            None => {
                return Err(Failure::Stale(format!(
                    "the checkpoint of size {} has no time to tell its age (no cosignature, no event): --max-age cannot be met",
                    o.size
                )))
            }
        }
    }
    Ok(())
}

pub(crate) fn monitor(out: &Out, args: MonitorArgs) -> Result<(), Failure> {
    let max_age = args.max_age.as_deref().map(parse_age).transpose()?;
    let log_keys = crate::audit::load_trusted(&args.log_key)?
        .into_iter()
        .map(ledger::core::trust::TrustedKey::pair)
        .collect();
    let watch_keys = crate::audit::load_trusted(&args.watch_key)?
        .into_iter()
        .map(|k| k.key)
        .collect();
    let opts = monitor::Options {
        log_keys,
        policy: args.witnesses.policy()?,
        watch_parties: args.watch_party.clone(),
        watch_keys,
    };
    let source = args.fetch.source(&args.source, "ledger-monitor")?;
    let Some(every) = args.interval else {
        return once(out, &source, &args, &opts, max_age);
    };
    if every == 0 {
        return Err(Failure::usage("--interval 0: give at least 1 second"));
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| Failure::io(format!("cannot handle signals: {e}")))?;
    }
    let mut worst: Option<Failure> = None;
    while !stop.load(Ordering::Relaxed) {
        match once(out, &source, &args, &opts, max_age) {
            Ok(()) => {}
            Err(Failure::BrokenPipe) => return Err(Failure::BrokenPipe),
            // Keep watching; report it now, exit with the worst at the end.
            Err(f) => {
                out.info(format_args!("ledger: {}", f.message()))?;
                if worst
                    .as_ref()
                    .is_none_or(|w| f.exit_code() == 1 && w.exit_code() != 1)
                {
                    worst = Some(f);
                }
            }
        }
        let mut slept = 0;
        while slept < every * 10 && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
            slept += 1;
        }
    }
    worst.map_or(Ok(()), Err)
}
