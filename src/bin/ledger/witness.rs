//! `ledger witness`: a witness that cosigns checkpoints, as files; and the
//! HTTP transport `checkpoint --policy` gathers cosignatures through.

use std::path::PathBuf;

use ledger::base::http;
use ledger::proofs::{bundle, witnessing};

use crate::cli::*;
use crate::error::Failure;
use crate::input::*;
use crate::out::*;

pub(crate) fn witness_request(
    out: &Out,
    dir: PathBuf,
    old: u64,
    cp: Option<PathBuf>,
    to: PathBuf,
) -> Result<(), Failure> {
    let cp = cp.as_deref().map(read_file).transpose()?;
    let body = bundle::witness_request(&dir, old, cp)?;
    write_new_file(&to, &body)?;
    if out.json {
        return out.print(serde_json::json!({"path": to, "old": old, "bytes": body.len()}));
    }
    out.info(format_args!(
        "{}: add-checkpoint request from size {old}",
        to.display()
    ))
}

pub(crate) fn witness_cosign(out: &Out, args: CosignArgs) -> Result<(), Failure> {
    let CosignArgs {
        request,
        key,
        name,
        state,
        log,
        out: to,
        pass,
    } = args;
    let key = pass.load(&key)?;
    let logs = log
        .iter()
        .map(|l| load_vkey(l, "--log"))
        .collect::<Result<Vec<_>, _>>()?;
    let req = read_input(
        &request,
        ledger::tlog::witness::MAX_REQUEST_BYTES as u64,
        "an add-checkpoint request",
    )?;
    let req = ledger::tlog::witness::AddCheckpoint::parse_or_bare(&req)?;
    let w = ledger::tlog::witness::Witness::open(&state, &name, &key, logs)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let note = w.cosign_note(&req, now)?;
    write_new_file(&to, &note.to_bytes())?;
    if out.json {
        return out.print(serde_json::json!({
            "path": to,
            "witness": name,
            "vkey": w.verifier().to_string(),
        }));
    }
    out.info(format_args!(
        "{}: cosigned by {name} (vkey {})",
        to.display(),
        w.verifier()
    ))
}

/// The HTTP transport of `checkpoint --policy`: the library's one client
/// ([`http::Client`]: http:// or https://, a timeout on the whole
/// exchange, no redirect followed), at most
/// [`witnessing::MAX_REPLY_BYTES`] of an answer read.
struct Http {
    client: http::Client,
}

/// Each witness's whole exchange (connect, send, answer).
const WITNESS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl witnessing::Transport for Http {
    fn add_checkpoint(&self, url: &str, body: &[u8]) -> Result<witnessing::Reply, String> {
        if !http::is_url(url) {
            return Err(format!(
                "{url}: not an http:// or https:// URL; nothing sent"
            ));
        }
        let endpoint = format!("{}/add-checkpoint", url.trim_end_matches('/'));
        let mut resp = self
            .client
            .post(&endpoint, &[("Content-Type", "text/plain")], body)
            .map_err(|e| format!("{endpoint}: {e}"))?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = self
            .client
            .body(&mut resp, witnessing::MAX_REPLY_BYTES)
            .map_err(|e| format!("{endpoint}: reading the answer: {e}"))?;
        Ok(witnessing::Reply {
            status,
            content_type,
            body,
        })
    }
}

fn outcome_text(o: &witnessing::Outcome) -> String {
    use witnessing::Outcome::*;
    match o {
        Cosigned {
            old,
            retried: false,
            ..
        } => format!("cosigned (request from size {old})"),
        Cosigned {
            old, retried: true, ..
        } => format!("cosigned after a 409 (retried from size {old}, the size it reported)"),
        AlreadyCosigned { .. } => "already cosigned this checkpoint (not asked again)".into(),
        Refused { status, message } => format!("refused, HTTP {status}: {message}"),
        BadAnswer { reason } => format!("bad answer, nothing stored: {reason}"),
        Unreachable { reason } => format!("no answer: {reason}"),
        NoUrl => "not asked: the policy gives no URL".into(),
        NotNeeded => "not waited for: the quorum was met first".into(),
    }
}

/// `checkpoint --policy`: asks the policy's witnesses, stores what they
/// cosigned, reports each; exit 1 if the quorum is not met.
pub(crate) fn gather(
    out: &Out,
    dir: &std::path::Path,
    written: ledger::proofs::checkpoint::Written,
    policy: &ledger::tlog::policy::Policy,
    roots: &http::Roots,
) -> Result<(), Failure> {
    let transport = std::sync::Arc::new(Http {
        client: http::Client::new(roots, WITNESS_TIMEOUT, "ledger"),
    });
    let g = witnessing::gather(
        dir,
        written,
        policy,
        transport,
        WITNESS_TIMEOUT + std::time::Duration::from_secs(2),
        out.lock_wait(),
        &mut out.waiting(),
    )?;
    let rule = policy.witness_policy().rule().to_owned();
    let mut report = crate::proofs::written_json(&g.written);
    if let Some(m) = report.as_object_mut() {
        m.insert(
            "witnesses".into(),
            serde_json::to_value(&g.witnesses).unwrap_or_default(),
        );
        m.insert("quorum".into(), rule.clone().into());
        m.insert("quorum_met".into(), g.quorum.is_ok().into());
    }
    // Shown before the verdict, which stands even when stdout is closed:
    // a quorum not met exits 1 whether or not these lines were read.
    let shown = (|| {
        if !out.json {
            out.info(crate::proofs::written_line(&g.written))?;
            for w in &g.witnesses {
                out.info(format_args!(
                    "  witness {}: {}",
                    ledger::core::verify::terminal_safe(&w.name),
                    ledger::core::verify::terminal_safe(&outcome_text(&w.outcome))
                ))?;
            }
        }
        Ok::<(), Failure>(())
    })();
    match g.quorum {
        Ok(()) => {
            shown?;
            if out.json {
                out.print(report)
            } else {
                out.info(format_args!("quorum {rule}: met"))
            }
        }
        Err(q) => Err(Failure::Unwitnessed {
            message: format!(
                "{}: stored, but not witnessed enough: {q}; run the command again when the witnesses are back",
                g.written.path.display()
            ),
            report,
        }),
    }
}
