//! `ledger report DIR -o FILE.html|FILE.pdf`: checks what was typed and
//! where the report goes before the ledger is read, lets the library
//! audit and render (`ledger::report`), and writes the result durably.
//! A refuted ledger gets its report too, and exit 1.

use std::path::{Path, PathBuf};

use ledger::report::{self, html, pdf, Verdict};

use crate::audit::Checks;
use crate::cli::ReportFormat;
use crate::error::Failure;
use crate::out::*;

/// The evidence attached to a PDF, at most (beyond it, the log alone).
const ATTACH_LIMIT: u64 = 64 << 20;

pub(crate) struct Request {
    pub(crate) dir: PathBuf,
    pub(crate) output: PathBuf,
    pub(crate) format: Option<ReportFormat>,
    pub(crate) force: bool,
    pub(crate) at: Option<String>,
    pub(crate) list_max: Option<u64>,
}

fn format_of(r: &Request) -> Result<ReportFormat, Failure> {
    if let Some(f) = r.format {
        return Ok(f);
    }
    match r.output.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm") => {
            Ok(ReportFormat::Html)
        }
        Some(e) if e.eq_ignore_ascii_case("pdf") => Ok(ReportFormat::Pdf),
        _ => Err(Failure::usage(format!(
            "-o {}: name it FILE.html or FILE.pdf, or say --format html|pdf",
            r.output.display()
        ))),
    }
}

/// Where the report goes: not inside the ledger directory (the report
/// never writes there), not over an existing file unless `--force`, into
/// a directory that exists.
fn check_output(dir: &Path, output: &Path, force: bool) -> Result<PathBuf, Failure> {
    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let cannot = |e: std::io::Error| {
        Failure::io(format!(
            "cannot write the report to {}: {e}",
            output.display()
        ))
    };
    let real_parent = parent.canonicalize().map_err(cannot)?;
    let real_dir = dir
        .canonicalize()
        .map_err(|e| Failure::io(format!("{}: {e}", dir.display())))?;
    if real_parent.starts_with(&real_dir) {
        return Err(Failure::usage(format!(
            "-o {}: that is inside the ledger directory {}; a report is never written there: name a file outside it",
            output.display(),
            dir.display()
        )));
    }
    match std::fs::symlink_metadata(output) {
        Ok(m) if m.is_dir() => {
            return Err(Failure::usage(format!(
                "-o {}: that is a directory; name the report's file",
                output.display()
            )))
        }
        Ok(_) if !force => {
            return Err(Failure::usage(format!(
                "{} already exists; refusing to overwrite it (--force replaces it)",
                output.display()
            )))
        }
        _ => {}
    }
    Ok(parent)
}

pub(crate) fn report(out: &Out, r: Request, checks: Checks) -> Result<(), Failure> {
    // Everything typed is checked before the ledger is opened.
    let format = format_of(&r)?;
    if let Some(at) = &r.at {
        ledger::base::time::Timestamp::parse(at)
            .map_err(|e| Failure::usage(format!("--at {at:?}: {e}")))?;
    }
    let mut audit = checks.options()?;
    let parent = check_output(&r.dir, &r.output, r.force)?;
    let target = ledger::proofs::published::AuditDir::open(&r.dir)?;
    audit.docs = target.docs().map(Path::to_owned);
    let options = report::Options {
        audit,
        at: r.at.clone(),
        dir_label: r.dir.display().to_string(),
        verify_args: checks.args(),
        format: match format {
            ReportFormat::Html => report::Format::Html,
            ReportFormat::Pdf => report::Format::Pdf,
        },
        max_listed: r.list_max,
    };
    let subject = report::build(target.path(), &options)?;
    let bytes = match format {
        ReportFormat::Html => html::render(&subject)
            .map_err(|e| Failure::io(format!("cannot read the report's spool of rows: {e}")))?
            .into_bytes(),
        ReportFormat::Pdf => {
            let files = report::evidence(target.path(), &subject, ATTACH_LIMIT);
            pdf::render(&subject, files).map_err(|e| Failure::io(e.to_string()))?
        }
    };
    let written = report::save(&parent, &r.output, &bytes, r.force);
    written.map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => Failure::usage(format!(
            "{} already exists; refusing to overwrite it (--force replaces it)",
            r.output.display()
        )),
        _ => Failure::io(format!(
            "cannot write the report to {}: {}",
            r.output.display(),
            e
        )),
    })?;
    let n = subject.size_and_head().map_or(0, |(n, _)| n);
    let shown = r.output.display();
    match &subject.verdict {
        Verdict::Refuted { .. } => Err(Failure::refuted(format!(
            "REFUTED: the report of {} ({n} events proven before the failure) is in {shown}",
            r.dir.display()
        ))),
        v => {
            out.info(format_args!(
                "{}: report of {n} events written to {shown}",
                v.word()
            ))?;
            Ok(())
        }
    }
}
