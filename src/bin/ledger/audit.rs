//! The auditor's commands: `verify`, `log`, `head`, `export`, `show`. They
//! only read the ledger.

use std::path::{Path, PathBuf};

use ledger::base::crypto::PublicKey;
use ledger::core::format::DocHash;
use ledger::core::verify::{self, Cause, VerifyError};
use ledger::proofs::audit::{self, Options};

use crate::cli::*;
use crate::error::Failure;
use crate::input::*;
use crate::out::*;

/// What an auditor requires, as typed: the options `verify` and `report`
/// share (one more, e.g. a TSA root, is one more field here).
pub(crate) struct Checks {
    pub(crate) trust: Vec<PathBuf>,
    pub(crate) head: Option<String>,
    pub(crate) proofs: ProofTrust,
    pub(crate) allow_unwitnessed_tail: bool,
}

impl Checks {
    /// The audit's options, every file and value checked before any
    /// ledger is opened.
    pub(crate) fn options(&self) -> Result<Options, Failure> {
        let mut options = Options {
            allow_unwitnessed_tail: self.allow_unwitnessed_tail,
            ..Options::default()
        };
        for k in &self.proofs.log_key {
            let key = PublicKey::from_file(k)
                .map_err(|e| Failure::usage(format!("--log-key {}: {e}", k.display())))?;
            options.log_keys.push((key_label(k), key));
        }
        options.witnesses = self.proofs.witnesses.policy()?;
        if self.allow_unwitnessed_tail && options.witnesses.is_none() {
            return Err(Failure::usage(
                "--allow-unwitnessed-tail needs a witness policy: give --witness or --policy",
            ));
        }
        if !self.proofs.tsa_ca.is_empty() {
            options.tsa_roots = Some(crate::timestamp::load_roots(&self.proofs.tsa_ca)?);
        }
        if let Some(h) = &self.head {
            options.head = Some(ledger::core::format::EventHash::from_hex(h).map_err(|_| {
                Failure::usage(format!(
                    "--head {h:?}: expected the 64 hex digits of an event hash"
                ))
            })?);
        }
        if !self.trust.is_empty() {
            options.trust = Some(load_trusted(&self.trust)?);
        }
        Ok(options)
    }

    /// The same checks as `ledger verify` arguments, to print as the
    /// command that repeats them.
    pub(crate) fn args(&self) -> Vec<String> {
        let mut a = Vec::new();
        for t in &self.trust {
            a.extend(["--trust".to_owned(), t.display().to_string()]);
        }
        if let Some(h) = &self.head {
            a.extend(["--head".to_owned(), h.clone()]);
        }
        for k in &self.proofs.log_key {
            a.extend(["--log-key".to_owned(), k.display().to_string()]);
        }
        for w in &self.proofs.witnesses.witness {
            a.extend(["--witness".to_owned(), w.clone()]);
        }
        if let Some(p) = &self.proofs.witnesses.policy {
            a.extend(["--policy".to_owned(), p.display().to_string()]);
        }
        if let Some(q) = self.proofs.witnesses.quorum {
            a.extend(["--quorum".to_owned(), q.to_string()]);
        }
        for t in &self.proofs.tsa_ca {
            a.extend(["--tsa-ca".to_owned(), t.display().to_string()]);
        }
        if self.allow_unwitnessed_tail {
            a.push("--allow-unwitnessed-tail".to_owned());
        }
        a
    }
}

pub(crate) fn verify(
    out: &Out,
    dir: PathBuf,
    trust: Vec<PathBuf>,
    head: Option<String>,
    proofs: ProofTrust,
    allow_unwitnessed_tail: bool,
) -> Result<(), Failure> {
    let json = out.json;
    // Everything typed is checked before the directory is opened.
    let mut options = Checks {
        trust,
        head,
        proofs,
        allow_unwitnessed_tail,
    }
    .options()?;
    let target = ledger::proofs::published::AuditDir::open(&dir)?;
    options.docs = target.docs().map(Path::to_owned);
    // Not with --json: stdout holds one JSON document.
    if let (Some(size), false) = (target.published(), json) {
        out.info(format_args!(
            "{}: a published ledger; verifying its {size} events and their tiles",
            dir.display()
        ))?;
    }
    report(out, target.path(), &options, json, Listing::Timeline)
}

pub(crate) fn head(out: &Out, dir: PathBuf) -> Result<(), Failure> {
    let json = out.json;
    let r = audit::verify_with(&dir, &Options::default(), &mut |_| {})?;
    if json {
        out.print(format_args!(
            "{}",
            serde_json::json!({"count": r.ledger.count, "head": r.ledger.head})
        ))?;
    } else {
        out.print(format_args!("{} {}", r.ledger.count, r.ledger.head))?;
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listing {
    Timeline,
    Log,
}

pub(crate) fn spool_err(e: std::io::Error) -> Failure {
    Failure::io(format!("cannot write a temporary file: {e}"))
}

/// Verifies and prints. The timeline is spooled to an unnamed temporary
/// file as the replay goes, and printed only once the whole ledger is
/// proven, so that memory stays flat and nothing unproven is ever shown.
pub(crate) fn report(
    out: &Out,
    dir: &Path,
    options: &Options,
    json: bool,
    listing: Listing,
) -> Result<(), Failure> {
    use std::io::{BufWriter, Seek};
    let keep = !out.quiet || json;
    let spool = tempfile::tempfile().map_err(spool_err)?;
    let mut w = BufWriter::new(spool);
    let mut first = true;
    let mut err: Option<std::io::Error> = None;
    let mut progress = out.progress(log_size(dir), "verifying");
    let started = std::time::Instant::now();
    let result = audit::verify_with(dir, options, &mut |v: verify::Visit<'_>| {
        progress.set(v.offset());
        if !keep || err.is_some() {
            return;
        }
        let r = spool_entry(&mut w, &v.entry(), json, &mut first, listing);
        if let Err(e) = r {
            err = Some(e);
        }
    });
    progress.finish();
    let r = result?;
    out.note(format_args!(
        "verified {} events in {:.2?}",
        r.ledger.count,
        started.elapsed()
    ));
    if let Some(e) = err {
        return Err(spool_err(e));
    }
    let mut spool = w.into_inner().map_err(|e| spool_err(e.into_error()))?;
    spool.rewind().map_err(spool_err)?;
    print_spooled(out, &r, &mut spool, listing)?;
    // Files no event needs: said, never a change of the verdict (in
    // --json they are the report's "warnings").
    for o in &r.ledger.warnings {
        out.warn(format_args!(
            "warning: {}: {}",
            dir.display(),
            verify::terminal_safe(&o.to_string())
        ));
    }
    Ok(())
}

/// One verified event, written to the spool as the listing shows it.
fn spool_entry(
    w: &mut impl std::io::Write,
    e: &verify::Entry,
    json: bool,
    first: &mut bool,
    listing: Listing,
) -> std::io::Result<()> {
    if json {
        let sep = if *first { "" } else { "," };
        *first = false;
        write!(w, "{sep}")?;
        return serde_json::to_writer(w, e).map_err(std::io::Error::other);
    }
    match listing {
        Listing::Log => writeln!(
            w,
            "{:<4} {}  {}  {:<8} {:<17} {}{}",
            e.seq,
            e.hash,
            verify::terminal_safe(&e.time),
            e.author.as_str(),
            e.kind,
            verify::terminal_safe(&e.summary),
            log_notes(e)
        ),
        Listing::Timeline => w.write_all(verify::Report::timeline_entry(e).as_bytes()),
    }
}

/// What `log` adds to an event's summary on its one line: the first line
/// of its text (a note's, or an event's notes), and how many more it has.
fn log_notes(e: &verify::Entry) -> String {
    let Some(text) = &e.notes else {
        return String::new();
    };
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let more = match lines.count() {
        0 => String::new(),
        1 => " (+1 line)".to_owned(),
        n => format!(" (+{n} lines)"),
    };
    format!(": {}{more}", verify::terminal_safe(first))
}

/// The proven report, with the spooled events where they belong.
fn print_spooled(
    out: &Out,
    r: &audit::Report,
    spool: &mut std::fs::File,
    listing: Listing,
) -> Result<(), Failure> {
    use std::io::Write;
    let json = out.json;
    let stdout = std::io::stdout();
    let mut so = stdout.lock();
    let print_err = Failure::stdout;
    if json && listing == Listing::Log {
        // `log --json`: the events, with what proves them, not the report.
        let v = serde_json::json!({
            "verified": true,
            "ledger": r.ledger.ledger,
            "title": r.ledger.title,
            "count": r.ledger.count,
            "head": r.ledger.head,
            "warnings": r.ledger.warnings,
        });
        let head = v.to_string();
        let head = head.trim_end_matches('}');
        write!(so, "{head},\"events\":[").map_err(print_err)?;
        std::io::copy(spool, &mut so).map_err(print_err)?;
        writeln!(so, "]}}").map_err(print_err)?;
    } else if json {
        let mut v = serde_json::to_value(r).map_err(|e| Failure::usage(e.to_string()))?;
        if let Some(m) = v.as_object_mut() {
            m.remove("events");
        }
        let head = serde_json::to_string_pretty(&v).map_err(|e| Failure::usage(e.to_string()))?;
        // Splice the spooled events array in before the closing brace.
        let head = head.trim_end().trim_end_matches('}').trim_end();
        write!(so, "{head},\n  \"events\": [").map_err(print_err)?;
        std::io::copy(spool, &mut so).map_err(print_err)?;
        writeln!(so, "]\n}}").map_err(print_err)?;
    } else if out.quiet {
        write!(
            so,
            "{}",
            out.report_text(&format!("\n{}", r.verdict())).trim_start()
        )
        .map_err(print_err)?;
    } else if listing == Listing::Log {
        std::io::copy(spool, &mut so).map_err(print_err)?;
    } else {
        so.write_all(out.report_text(&r.header()).as_bytes())
            .map_err(print_err)?;
        std::io::copy(spool, &mut so).map_err(print_err)?;
        so.write_all(out.report_text(&r.footer()).as_bytes())
            .map_err(print_err)?;
    }
    so.flush().map_err(print_err)
}

/// `--trust PATH...`, read by the library.
pub(crate) fn load_trusted(
    specs: &[PathBuf],
) -> Result<Vec<ledger::core::trust::TrustedKey>, Failure> {
    ledger::core::trust::load_bound(specs).map_err(|e| match e {
        ledger::core::trust::TrustError::Key(k) => k.into(),
        other => Failure::usage(format!("--trust {other}")),
    })
}

pub(crate) fn export(out: &Out, dir: &Path, index: u64, to: &Path) -> Result<(), Failure> {
    // An event past the end is a mistake in the request (exit 2), not a
    // verification failure.
    let e = verify::export_event(dir, index).map_err(|e| match e {
        VerifyError::Failed(f) if matches!(f.cause, Cause::NoSuchEvent { .. }) => {
            Failure::usage(format!("--event {index}: {}", f.cause))
        }
        other => other.into(),
    })?;
    let base = to.join(format!("event-{index}"));
    let files = [
        ("tbs", e.to_be_signed.clone()),
        ("sig", e.signature.to_vec()),
        ("pub", e.public_key.to_pem().into_bytes()),
        ("cbor", e.stored.clone()),
    ];
    // Refuse to overwrite, like keygen: an export may be evidence.
    for (ext, _) in &files {
        let p = base.with_extension(ext);
        if p.exists() {
            return Err(Failure::usage(format!(
                "{} already exists; refusing to overwrite it",
                p.display()
            )));
        }
    }
    for (ext, bytes) in &files {
        let p = base.with_extension(ext);
        std::fs::write(&p, bytes)
            .map_err(|err| Failure::io(format!("cannot write {}: {err}", p.display())))?;
    }
    let b = base.display();
    if out.json {
        let file = |ext: &str| base.with_extension(ext);
        return out.print(serde_json::json!({
            "event": index,
            "author": e.author,
            "hash": e.hash,
            "files": {
                "tbs": file("tbs"),
                "sig": file("sig"),
                "pub": file("pub"),
                "cbor": file("cbor"),
            },
        }));
    }
    out.info(format_args!(
        "event {index} by {}, hash {}",
        e.author, e.hash
    ))?;
    out.info(format_args!(
        "  {b}.tbs   the signed bytes (COSE Sig_structure, FORMAT §5.2)"
    ))?;
    out.info(format_args!("  {b}.sig   the 64-byte Ed25519 signature"))?;
    out.info(format_args!(
        "  {b}.pub   {}'s public key, {} (compare it with the one you trust)",
        e.author,
        e.public_key.fingerprint()
    ))?;
    out.info(format_args!(
        "  {b}.cbor  the event's stored bytes (sha256sum gives its hash)"
    ))?;
    out.info(format_args!("check the signature with:\n  openssl pkeyutl -verify -pubin -inkey {b}.pub -rawin -in {b}.tbs -sigfile {b}.sig"))?;
    Ok(())
}

pub(crate) fn show(out: &Out, dir: &Path, document: &Path, json: bool) -> Result<(), Failure> {
    let hash = DocHash::of(&read_file(document)?);
    let h = ledger::proofs::history::of_version(dir, &Options::default(), hash)?;
    // Not found: with --json, the error object is all stdout holds.
    if json && h.found {
        out.print(serde_json::to_string(&h).map_err(|e| Failure::usage(e.to_string()))?)?;
    }
    if !h.found {
        return Err(Failure::refuted(format!(
            "{} (sha256 {hash}) was never drafted, amended, approved or signed in this ledger ({} events verified)",
            document.display(),
            h.count
        )));
    }
    if json {
        return Ok(());
    }
    for d in &h.documents {
        let is_current = d.version == hash;
        out.info(format_args!(
            "{} \"{}\"",
            d.id,
            verify::terminal_safe(&d.title)
        ))?;
        out.info(format_args!(
            "  this file (sha256 {hash}) is {}",
            if is_current {
                format!("its current version (version {})", d.version_number)
            } else {
                format!(
                    "a superseded version; the current one is version {} ({})",
                    d.version_number, d.version
                )
            }
        ))?;
        for e in h.events_of(&d.id) {
            let mark = if e.version == Some(hash) { "*" } else { " " };
            out.info(format_args!(
                "  {mark} #{:<4} {}  {:<6}  {}",
                e.seq,
                verify::terminal_safe(&e.time),
                e.author.as_str(),
                verify::terminal_safe(&e.summary)
            ))?;
        }
        let state = match (d.status, is_current) {
            ("executed", true) => out.paint_out(GOOD, "EXECUTED: this file is the executed version"),
            ("no-signatures-required", true) => "no signatures required".to_owned(),
            (_, true) => out.paint_out(WARN, &format!("NOT EXECUTED: awaiting signatures from {}", d.awaiting.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", "))),
            (_, false) => out.paint_out(WARN, "this file is NOT the current version: its signatures and approvals, marked *, no longer count"),
        };
        out.info(format_args!("  {state}"))?;
    }
    out.info(format_args!(
        "({} events verified, head {})",
        h.count, h.head
    ))?;
    Ok(())
}
