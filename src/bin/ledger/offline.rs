//! Air-gapped signing (FORMAT §20): `sign-request` on the networked
//! machine, `sign-offline` on the one that holds the key and never sees
//! the ledger, `attach` back on the networked machine. The files' bytes
//! are `ledger::core::request`'s; every check of an append is the
//! writer's (`Writer::prepare_request` before the request is written,
//! `Writer::attach` before the signed event is), never this module's.
//! What this module adds is what a person needs: a summary of what is
//! signed, escaped (a request is hostile input), and a confirmation.

use std::io::{IsTerminal, Read, Write};
use std::path::Path;

use ledger::base::crypto::PublicKey;
use ledger::core::format::{Body, DocHash, Kind};
use ledger::core::request::{request_hash, Request, Signed, MAX_REQUEST_BYTES, MAX_SIGNED_BYTES};
use ledger::core::verify::terminal_safe;

use crate::cli::*;
use crate::error::Failure;
use crate::input::*;
use crate::out::*;
use crate::write::{cache_key_warning, check_args, event_kind, print_appended, proposal_id};

/// How many lines of a text document the summary shows, and how many
/// characters of each.
const PREVIEW_LINES: usize = 8;
const PREVIEW_WIDTH: usize = 100;

pub(crate) fn sign_request(out: &Out, args: SignRequestArgs) -> Result<(), Failure> {
    let key = args.key.ok_or_else(|| {
        Failure::usage("sign-request needs --key FILE.pub (the public key of the party that will sign offline)")
    })?;
    let output = args
        .output
        .ok_or_else(|| Failure::usage("sign-request needs -o FILE (where to write the request)"))?;
    let time = parse_time(args.at.as_deref(), args.allow_future)?;
    if let AppendKind::KeyAdd { .. }
    | AppendKind::KeyRotate { .. }
    | AppendKind::PartiesPropose { .. } = args.kind
    {
        return Err(Failure::usage(
            "sign-request: a key or party change carries a proof signed by the new key as well; append it with `ledger append` where both keys are",
        ));
    }
    let public = PublicKey::from_file(&key)?;
    refuse_existing(&output, args.force)?;
    // Nothing here asks for a passphrase: no private key is read.
    let checked = check_args(&args.kind, &PassArgs::default())?;
    let mut w = out.open_writer(&args.dir)?;
    if let Some(n) = w.repaired() {
        out.warn(format_args!(
            "removed a torn tail of {n} bytes left by an interrupted append"
        ));
    }
    let (kind, content) = match args.kind {
        AppendKind::PartiesApprove { proposal } => {
            let proposal = proposal_id(&proposal)?;
            // As `Writer::approve_parties`: with no such proposal open, the
            // rules refuse the request and say which proposal is open.
            let sha256 = w
                .state()
                .proposal
                .as_ref()
                .filter(|p| p.id == proposal)
                .map_or(ledger::core::format::EventHash([0; 32]), |p| p.hash);
            (Kind::PartiesApproved { proposal, sha256 }, None)
        }
        other => event_kind(&mut w, other, checked)?,
    };
    let (body, document) = w.prepare_request(&public, time, kind, content.as_deref())?;
    drop(w);
    let request = Request::new(public, body, document)?;
    let bytes = request.encode();
    write_output(&output, &bytes, args.force)?;
    let body = request.body();
    let hash = request_hash(&bytes);
    if out.json {
        return out.print(serde_json::json!({
            "request": output, "sha256": hash, "ledger": args.dir, "seq": body.seq,
            "kind": body.kind.name(), "author": body.author, "fingerprint": public.fingerprint(),
        }));
    }
    out.info(format_args!(
        "wrote sign request {}: event #{} ({}) by {}, to be signed with {}; request sha256 {hash} (sign-offline prints it: compare)",
        output.display(),
        body.seq,
        body.kind.name(),
        body.author,
        public.fingerprint()
    ))
}

pub(crate) fn sign_offline(
    out: &Out,
    request_file: &Path,
    (key, agent): (&Path, bool),
    (output, force): (&Path, bool),
    yes: bool,
    pass: &PassArgs,
) -> Result<(), Failure> {
    let bytes = read_bounded(request_file, MAX_REQUEST_BYTES)?;
    let request = Request::decode(&bytes)
        .map_err(|e| Failure::usage(format!("{}: {e}", request_file.display())))?;
    refuse_existing(output, force)?;
    // Decided before a key is opened or anything shown as if to be signed.
    if !yes && !std::io::stdin().is_terminal() {
        return Err(Failure::usage(
            "sign-offline asks for confirmation on a terminal, and stdin is not one: run it on a terminal, or add --yes once the request is known to be the right one; nothing was signed",
        ));
    }
    let signer = crate::signer::open(key, agent, pass)?;
    pass.check_used()?;
    let wanted = request.key();
    let have = signer.public_key();
    if have != *wanted {
        return Err(Failure::usage(format!(
            "--key is {}, but the request asks party {:?} to sign with {}: use that key",
            have.fingerprint(),
            request.body().author.as_str(),
            wanted.fingerprint()
        )));
    }
    let summary: Vec<String> = summary(&request, &request_hash(&bytes))
        .iter()
        .map(|l| terminal_safe(l))
        .collect();
    if !out.json {
        // Shown even with --quiet: it is what is about to be signed. With
        // --yes the request was accepted beforehand, so a reader that left
        // does not stop the signature; without it, nobody saw what they
        // are asked to confirm, and nothing is signed.
        match out.print(summary.join("\n")) {
            Ok(()) => {}
            Err(Failure::BrokenPipe) if yes => {}
            Err(Failure::BrokenPipe) => {
                return Err(Failure::usage(
                    "stdout is closed, so what would be signed cannot be shown: run sign-offline with stdout open, or add --yes once the request is known to be the right one; nothing was signed",
                ));
            }
            Err(e) => return Err(e),
        }
    } else if !yes {
        // stdout is for the JSON result; the person asked reads stderr.
        let _ = writeln!(std::io::stderr(), "{}", summary.join("\n"));
    }
    if !yes {
        confirm(&wanted.fingerprint().to_string())?;
    }
    let (event, stored) = ledger::core::format::Event::sign(signer.as_ref(), request.body())
        .map_err(|e| Failure::usage(format!("nothing was signed: {e}")))?;
    // Decoded again as `attach` will decode it: the signature verified
    // strictly under the requested key, the payload the request's.
    let signed = Signed::new(bytes, stored)?;
    write_output(output, &signed.encode(), force)?;
    if out.json {
        return out.print(serde_json::json!({
            "signed": output, "request_sha256": signed.request_hash(), "seq": event.body.seq,
            "kind": event.body.kind.name(), "author": event.body.author, "hash": event.hash(),
            "fingerprint": wanted.fingerprint(), "summary": summary,
        }));
    }
    out.info(format_args!(
        "wrote signed event {} (event hash {}); attach it on the networked machine: ledger attach DIR {}",
        output.display(),
        event.hash(),
        output.display()
    ))
}

pub(crate) fn attach(out: &Out, dir: &Path, signed_file: &Path) -> Result<(), Failure> {
    let bytes = read_bounded(signed_file, MAX_SIGNED_BYTES)?;
    let signed = Signed::decode(&bytes)
        .map_err(|e| Failure::usage(format!("{}: {e}", signed_file.display())))?;
    // Only a drafted or amended event stores a new version; an approval
    // or signature names one the ledger must already hold.
    let document = match signed.event().body.kind {
        Kind::DocumentDrafted { .. } | Kind::DocumentAmended { .. } => signed.request().document(),
        _ => None,
    };
    let mut w = out.open_writer(dir)?;
    if let Some(n) = w.repaired() {
        out.warn(format_args!(
            "removed a torn tail of {n} bytes left by an interrupted append"
        ));
    }
    cache_key_warning(out, &w);
    let done = w.attach(signed.stored(), signed.request().key(), document)?;
    print_appended(out, dir, &done)
}

/// Refuses, before any work, to replace `path` unless `force`.
fn refuse_existing(path: &Path, force: bool) -> Result<(), Failure> {
    if !force && path.symlink_metadata().is_ok() {
        return Err(exists(path));
    }
    Ok(())
}

fn exists(path: &Path) -> Failure {
    Failure::usage(format!(
        "{} already exists; refusing to overwrite it (remove it, or add --force)",
        path.display()
    ))
}

/// Writes a request or signed event durably (temporary file, fsync,
/// rename or link, fsync of the directory), mode 0644: neither holds a
/// secret. Without `force`, an existing file is never replaced, even one
/// created since [`refuse_existing`] looked.
fn write_output(path: &Path, bytes: &[u8], force: bool) -> Result<(), Failure> {
    use ledger::core::store::{replace_durably, write_durably, StoreError};
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let written = if force {
        replace_durably(dir, path, bytes)
    } else {
        write_durably(dir, path, bytes)
    };
    written.map_err(|e| match e {
        StoreError::Io { source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists => {
            exists(path)
        }
        StoreError::Io { source, .. } => {
            Failure::io(format!("cannot write {}: {source}", path.display()))
        }
        other => Failure::io(format!("cannot write {}: {other}", path.display())),
    })
}

/// Reads a request or signed event file: a regular file (a FIFO or a
/// device is refused before it is read, so nothing blocks) of at most
/// `max` bytes, never more read than that.
fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, Failure> {
    use std::os::unix::fs::OpenOptionsExt;
    let cannot = |e: std::io::Error| Failure::io(format!("cannot read {}: {e}", path.display()));
    let not_regular = || Failure::usage(format!("{} is not a regular file", path.display()));
    let too_large = || {
        Failure::usage(format!(
            "{} is larger than the {max} bytes a sign request or signed event may have (FORMAT §20)",
            path.display()
        ))
    };
    let meta = std::fs::metadata(path).map_err(cannot)?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    if meta.len() > max {
        return Err(too_large());
    }
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(cannot)?;
    if !f.metadata().map_err(cannot)?.is_file() {
        return Err(not_regular());
    }
    let mut bytes = Vec::new();
    f.take(max + 1).read_to_end(&mut bytes).map_err(cannot)?;
    if bytes.len() as u64 > max {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Asks on the terminal (the question on stderr, the answer on stdin);
/// anything but y or yes declines.
fn confirm(fingerprint: &str) -> Result<(), Failure> {
    let mut err = std::io::stderr();
    let _ = write!(err, "sign this event with {fingerprint}? [y/N] ");
    let _ = err.flush();
    let mut answer = Vec::new();
    // One short line is all an answer needs.
    std::io::stdin()
        .lock()
        .take(64)
        .read_until(b'\n', &mut answer)
        .map_err(|e| Failure::io(format!("cannot read the answer: {e}")))?;
    match String::from_utf8_lossy(&answer).trim() {
        "y" | "yes" | "Y" | "YES" | "Yes" => Ok(()),
        _ => Err(Failure::usage("not confirmed; nothing was signed")),
    }
}

use std::io::BufRead as _;

/// What the offline signer is shown: the ledger, the position and what it
/// builds on, who signs with which key, the event's fields, and the
/// document's hash, size and, for text, its first lines. Every line is
/// escaped by the caller before it is printed.
fn summary(request: &Request, hash: &str) -> Vec<String> {
    let b: &Body = request.body();
    let mut lines = vec![
        format!("sign request sha256 {hash}"),
        format!("  ledger      {}", b.ledger),
        format!(
            "  position    event #{}, after {}",
            b.seq,
            b.prev
                .map_or_else(|| "nothing (genesis)".into(), |h| h.to_string())
        ),
        format!(
            "  signer      party {}, key {}",
            b.author.as_str(),
            request.key().fingerprint()
        ),
        format!("  time        {}", b.time),
        format!("  kind        {}", b.kind.name()),
    ];
    kind_fields(&b.kind, &mut lines);
    if let Some(d) = request.document() {
        preview(d, &mut lines);
    }
    lines
}

/// The summary's lines for the fields of the event's kind.
fn kind_fields(kind: &Kind, lines: &mut Vec<String>) {
    let mut field = |name: &str, value: &str| lines.push(format!("  {name:<11} {value}"));
    match kind {
        Kind::SessionOpened {
            session,
            title,
            place,
            chair,
            notes,
        } => {
            field("session", session.as_str());
            field("title", title);
            for (n, v) in [("place", place), ("chair", chair), ("notes", notes)] {
                if let Some(v) = v {
                    field(n, v);
                }
            }
        }
        Kind::SessionClosed { session, notes } => {
            field("session", session.as_str());
            if let Some(n) = notes {
                field("notes", n);
            }
        }
        Kind::DocumentDrafted {
            doc,
            title,
            signatories,
            ..
        } => {
            field("document", doc.as_str());
            field("title", title);
            let names: Vec<&str> = signatories.iter().map(|p| p.as_str()).collect();
            field(
                "signatories",
                &if names.is_empty() {
                    "none (no signatures)".into()
                } else {
                    names.join(", ")
                },
            );
        }
        Kind::DocumentAmended { doc, notes, .. } => {
            field("document", doc.as_str());
            if let Some(n) = notes {
                field("notes", n);
            }
        }
        Kind::DocumentApproved { doc, .. } | Kind::DocumentSigned { doc, .. } => {
            field("document", doc.as_str());
            field(
                "title",
                "(given when it was drafted; not part of this event)",
            );
        }
        Kind::Note { text } => field("text", text),
        Kind::KeyRevoked { kid, reason } => {
            field("revokes", &format!("key id {}", kid.to_hex()));
            field("reason", reason);
        }
        Kind::PartiesApproved { proposal, sha256 } => {
            field("proposal", proposal.as_str());
            field("proposed in", &sha256.to_string());
        }
        _ => {}
    }
}

/// The summary's lines for a document version: its hash, size and, for
/// text, its first lines (each cut at [`PREVIEW_WIDTH`] characters).
fn preview(d: &[u8], lines: &mut Vec<String>) {
    lines.push(format!(
        "  version     sha256 {}, {} bytes",
        DocHash::of(d),
        d.len()
    ));
    match std::str::from_utf8(d) {
        Ok(text) => {
            for l in text.lines().take(PREVIEW_LINES) {
                let shown: String = l.chars().take(PREVIEW_WIDTH).collect();
                let more = if shown.len() < l.len() { " ..." } else { "" };
                lines.push(format!("  | {shown}{more}"));
            }
            if text.lines().nth(PREVIEW_LINES).is_some() {
                lines.push("  | ...".into());
            }
        }
        Err(_) => {
            lines.push("  (not UTF-8 text: compare the sha256 above with the document's)".into())
        }
    }
}
