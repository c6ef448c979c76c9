//! Checkpoints and proofs: `checkpoint`, `prove`, `check-proof`, `publish`.

use std::path::{Path, PathBuf};

use ledger::proofs::{bundle, checkpoint};

use crate::cli::*;
use crate::error::Failure;
use crate::input::*;
use crate::out::*;

#[allow(clippy::too_many_arguments)]
pub(crate) fn checkpoint(
    out: &Out,
    dir: PathBuf,
    key: Option<PathBuf>,
    add: Option<PathBuf>,
    log_key: bool,
    policy: Option<PathBuf>,
    tls_ca: Option<PathBuf>,
    pass: PassArgs,
) -> Result<(), Failure> {
    let json = out.json;
    // The policy and the TLS roots are read and checked before anything
    // is signed.
    let policy = policy.as_deref().map(load_policy).transpose()?;
    let roots = load_tls_roots(tls_ca.as_deref())?;
    let written = match (key, add) {
        (Some(k), _) => {
            let key = pass.load(&k)?;
            checkpoint::checkpoint(&dir, &key, log_key, out.lock_wait(), &mut out.waiting())?
        }
        (None, Some(a)) => {
            let note = read_file(&a)?;
            checkpoint::add_signatures(&dir, &note, out.lock_wait(), &mut out.waiting())?
        }
        (None, None) => return Err(Failure::usage("give --key or --add")),
    };
    if let Some(policy) = policy {
        return crate::witness::gather(out, &dir, written, &policy, &roots);
    }
    if json {
        out.print(format_args!("{}", written_json(&written)))?;
    } else {
        out.info(written_line(&written))?;
    }
    Ok(())
}

pub(crate) fn written_json(written: &checkpoint::Written) -> serde_json::Value {
    serde_json::json!({
        "path": written.path,
        "size": written.size,
        "root": hex::encode(written.root),
        "added": written.added,
        "note": String::from_utf8_lossy(&written.note),
    })
}

pub(crate) fn written_line(written: &checkpoint::Written) -> String {
    format!(
        "{}: checkpoint of {} events, root {}{}",
        written.path.display(),
        written.size,
        hex::encode(written.root),
        if written.added {
            ""
        } else {
            " (already signed so; unchanged)"
        }
    )
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn prove(
    out: &Out,
    dir: PathBuf,
    event: Option<u64>,
    from: Option<PathBuf>,
    cp: Option<PathBuf>,
    to: PathBuf,
    format: ProofFormat,
    key: Option<PathBuf>,
    pass: PassArgs,
) -> Result<(), Failure> {
    // Arguments first (FORMAT §21): only an event has the standard
    // formats, and only a receipt is signed here.
    match (format, event, &key) {
        (ProofFormat::Bundle, _, Some(_)) | (ProofFormat::TlogProof, _, Some(_)) => {
            return Err(Failure::usage(
                "--key is for --format cose-receipt: a bundle or tlog-proof carries the log's checkpoint instead",
            ))
        }
        (ProofFormat::CoseReceipt, _, None) => {
            return Err(Failure::usage(
                "--format cose-receipt needs --key FILE: the log key that signs checkpoints",
            ))
        }
        (ProofFormat::TlogProof | ProofFormat::CoseReceipt, None, _) => {
            return Err(Failure::usage(
                "--format tlog-proof and cose-receipt prove an event: give --event N",
            ))
        }
        _ => {}
    }
    let signing = key.as_deref().map(|k| pass.load(k)).transpose()?;
    let cp = cp.as_deref().map(read_file).transpose()?;
    let (bytes, kind, what) = match (event, from, signing.as_ref()) {
        (Some(n), _, _) if format == ProofFormat::TlogProof => (
            ledger::proofs::standard::prove_tlog_proof(&dir, n, cp)?,
            "tlog-proof",
            "C2SP tlog-proof",
        ),
        (Some(n), _, Some(k)) => (
            ledger::proofs::standard::prove_receipt(&dir, n, cp, k)?,
            "cose-receipt",
            "RFC 9942 COSE receipt",
        ),
        (Some(n), _, None) => (
            bundle::prove_event(&dir, n, cp)?.encode(),
            "inclusion",
            "inclusion proof bundle",
        ),
        (None, Some(f), _) => (
            bundle::prove_growth(&dir, read_file(&f)?, cp)?.encode(),
            "consistency",
            "consistency proof bundle",
        ),
        (None, None, _) => return Err(Failure::usage("give --event or --from")),
    };
    write_new_file(&to, &bytes)?;
    if out.json {
        return out.print(serde_json::json!({"path": to, "kind": kind, "bytes": bytes.len()}));
    }
    out.info(format_args!(
        "{}: {what}, {} bytes",
        to.display(),
        bytes.len()
    ))
}

pub(crate) fn check_proof(
    out: &Out,
    bundle: PathBuf,
    event: Option<u64>,
    fetch: FetchArgs,
    entry: Option<PathBuf>,
    trust: Vec<PathBuf>,
    witnesses: WitnessPolicyArgs,
) -> Result<(), Failure> {
    let json = out.json;
    let trusted = crate::audit::load_trusted(&trust)?;
    let policy = witnesses.policy()?;
    // A URL names a published directory on a server; what it serves is
    // checked exactly as a local one is.
    let url = bundle
        .to_str()
        .filter(|b| ledger::base::http::is_url(b))
        .map(str::to_owned);
    if url.is_none() && fetch.tls_ca.is_some() {
        return Err(Failure::usage(
            "--tls-ca is for an https:// URL; a path is read as it is",
        ));
    }
    // Checked whatever the source, so that a mistake shows before it
    // matters.
    let source = fetch.source(url.as_deref().unwrap_or(""), "ledger-check-proof")?;
    let bytes = match (url, bundle.is_dir(), event) {
        (Some(_), _, Some(n)) => {
            ledger::proofs::publish::bundle_from_store(source, n, &trusted)?.encode()
        }
        (None, true, Some(n)) => {
            ledger::proofs::publish::bundle_from_published(&bundle, n, &trusted)?.encode()
        }
        (Some(_), _, None) | (None, true, None) => {
            return Err(Failure::usage(
                "a published directory needs --event N: the event to prove",
            ))
        }
        (None, false, Some(_)) => {
            return Err(Failure::usage(
                "--event is for published directories; a bundle names its event",
            ))
        }
        (None, false, None) => read_input(
            &bundle,
            ledger::proofs::standard::MAX_PROOF_BYTES
                .max(ledger::proofs::checkpoint::MAX_BUNDLE_BYTES) as u64,
            "a proof from `ledger prove`",
        )?,
    };
    let entry = entry
        .as_deref()
        .map(|e| {
            read_input(
                e,
                ledger::core::format::MAX_EVENT_BYTES as u64,
                "an event's stored bytes (`ledger export`'s event-N.cbor)",
            )
        })
        .transpose()?;
    let proven =
        ledger::proofs::standard::check_proof(&bytes, entry.as_deref(), &trusted, policy.as_ref())?;
    if json {
        out.print(format_args!(
            "{}",
            serde_json::to_string(&serde_json::json!({
                "verified": true,
                "proof": proven,
                "not_checked": proven.event.as_ref().map(|_| bundle::NOT_CHECKED_WITHOUT_THE_LOG),
            }))
            .unwrap_or_default()
        ))?;
        return Ok(());
    }
    let witnessed = match proven.cosigned_by.is_empty() {
        true => String::new(),
        false => format!(
            "; cosigned by {}",
            proven
                .cosigned_by
                .iter()
                .map(|c| format!("{} (at {})", c.witness, unix_time(c.time)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let what = match (&proven.event, proven.old_size) {
        (Some(e), _) => format!(
            "event #{} ({} by {}, {}, hash {}, signed with {}'s trusted key {}) is in",
            e.index, e.kind, e.author, e.time, e.hash, e.party, e.key
        ),
        (None, Some(old)) => {
            format!("the log at size {old} is a prefix of (only grew into)")
        }
        (None, None) => "proven:".to_owned(),
    };
    out.print(format_args!(
        "OK: {what} {} at size {}, root {}, checkpoint signed by {}{witnessed}",
        proven.origin,
        proven.size,
        proven.root,
        proven.signed_by.join(", ")
    ))?;
    if proven.event.is_some() {
        out.info(format_args!(
            "not checked (needs the whole log): {}",
            bundle::NOT_CHECKED_WITHOUT_THE_LOG
        ))?;
    }
    Ok(())
}

pub(crate) fn publish(out: &Out, dir: &Path, to: &Path) -> Result<(), Failure> {
    let p = ledger::proofs::publish::publish(dir, to, out.lock_wait(), &mut out.waiting())?;
    if out.json {
        return out.print(serde_json::json!({
            "path": to,
            "size": p.size,
            "previous": p.previous,
            "tiles": p.tiles,
            "bundles": p.bundles,
            "documents": p.documents,
        }));
    }
    out.info(format_args!(
        "{}: published {} events (previously {}): {} new tiles, {} new entry bundles, {} new documents",
        to.display(),
        p.size,
        p.previous,
        p.tiles,
        p.bundles,
        p.documents
    ))
}
