//! Air-gapped signing (FORMAT §15): `sign-request` on the networked
//! machine, `sign-offline` on the one that holds the key and never sees
//! the ledger, `attach` back on the networked machine. The files' bytes
//! are `ledger::core::request`'s; the checks of an append are the
//! writer's, as for any append.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use ledger::base::crypto::PublicKey;
use ledger::core::format::{Body, EventHash, Kind};
use ledger::core::request::{request_hash, Request, Signed, MAX_FILE_BYTES};
use ledger::core::store::DOCS_DIR;
use ledger::core::verify::terminal_safe;

use crate::cli::*;
use crate::error::Failure;
use crate::input::*;
use crate::out::*;
use crate::write::{check_args, event_kind, print_appended};

/// How many lines of a text document the summary shows.
const PREVIEW_LINES: usize = 8;

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
            "sign-request: a key or party change carries a proof signed by the new key as well; append it where both keys are",
        ));
    }
    let public = PublicKey::from_file(&key)?;
    if output.exists() {
        return Err(Failure::usage(format!(
            "{} already exists; refusing to overwrite it",
            output.display()
        )));
    }
    let pass = PassArgs::default();
    let checked = check_args(&args.kind, &pass)?;
    let mut w = out.open_writer(&args.dir)?;
    let (kind, content) = match args.kind {
        AppendKind::PartiesApprove { proposal } => {
            let proposal = crate::write::proposal_id(&proposal)?;
            // As `Writer::approve_parties`: with no such proposal open,
            // attach's replay refuses the event and says which one is.
            let sha256 = w
                .state()
                .proposal
                .as_ref()
                .filter(|p| p.id == proposal)
                .map_or(EventHash([0; 32]), |p| p.hash);
            (Kind::PartiesApproved { proposal, sha256 }, None)
        }
        other => event_kind(&mut w, other, checked)?,
    };
    let body = w.prepare(&public, time, kind)?;
    drop(w);
    let document = match (&body.kind, content) {
        (_, Some(bytes)) => Some(bytes),
        (Kind::DocumentApproved { sha256, .. } | Kind::DocumentSigned { sha256, .. }, None) => {
            Some(read_document(
                &args.dir.join(DOCS_DIR).join(sha256.to_hex()),
            )?)
        }
        _ => None,
    };
    let request =
        Request::new(public, body, document).map_err(|e| Failure::usage(e.to_string()))?;
    let bytes = request.encode();
    write_new_file(&output, &bytes)?;
    let body = request.body();
    let hash = request_hash(&bytes);
    if out.json {
        return out.print(serde_json::json!({
            "request": output, "sha256": hash, "seq": body.seq, "kind": body.kind.name(),
            "author": body.author, "fingerprint": public.fingerprint(),
        }));
    }
    out.info(format_args!(
        "wrote sign request {}: event #{} ({}) by {}, to be signed by {}; request sha256 {hash} (compare it on the offline machine)",
        output.display(),
        body.seq,
        body.kind.name(),
        body.author,
        public.fingerprint()
    ))
}

/// Reads a request or signed file: a regular file of bounded size.
fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, Failure> {
    use std::io::Read;
    let cannot = |e: std::io::Error| Failure::io(format!("cannot read {}: {e}", path.display()));
    let meta = std::fs::metadata(path).map_err(cannot)?;
    if !meta.is_file() {
        return Err(Failure::usage(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(cannot)?
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > max {
        return Err(Failure::usage(format!(
            "{} is larger than {max} bytes, more than a request or signed event can be (FORMAT §15)",
            path.display()
        )));
    }
    Ok(bytes)
}

pub(crate) fn sign_offline(
    out: &Out,
    request_file: &Path,
    (key, agent): (&Path, bool),
    output: &Path,
    yes: bool,
    pass: &PassArgs,
) -> Result<(), Failure> {
    let bytes = read_bounded(request_file, MAX_FILE_BYTES)?;
    let request = Request::decode(&bytes)
        .map_err(|e| Failure::usage(format!("{}: {e}", request_file.display())))?;
    if output.exists() {
        return Err(Failure::usage(format!(
            "{} already exists; refusing to overwrite it",
            output.display()
        )));
    }
    let signer = crate::signer::open(key, agent, pass)?;
    pass.check_used()?;
    let wanted = request.key();
    let have = signer.public_key();
    if have != *wanted {
        return Err(Failure::usage(format!(
            "--key {} is not the key the request is for: it asks party {} to sign with {}",
            have.fingerprint(),
            request.body().author,
            wanted.fingerprint()
        )));
    }
    for line in summary(&request, &request_hash(&bytes)) {
        out.info(terminal_safe(&line))?;
    }
    if !yes {
        confirm(&wanted.fingerprint().to_string())?;
    }
    let (_, stored) = ledger::core::format::Event::sign(signer.as_ref(), request.body())
        .map_err(|e| Failure::usage(e.to_string()))?;
    let signed = Signed::new(bytes, stored).map_err(|e| Failure::usage(e.to_string()))?;
    write_new_file(output, &signed.encode())?;
    out.info(format_args!(
        "wrote signed event {}; attach it on the networked machine with `ledger attach DIR {}`",
        output.display(),
        output.display()
    ))
}

/// Asks on the terminal; anything but y or yes declines.
fn confirm(fingerprint: &str) -> Result<(), Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(
            "no terminal to confirm on: read the summary above, then run again with --yes; nothing was signed",
        ));
    }
    eprint!("sign this event with {fingerprint}? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .take_line(&mut answer)
        .map_err(|e| Failure::io(format!("cannot read the answer: {e}")))?;
    match answer.trim() {
        "y" | "yes" | "Y" | "YES" => Ok(()),
        _ => Err(Failure::usage("not confirmed; nothing was signed")),
    }
}

trait TakeLine {
    fn take_line(&mut self, into: &mut String) -> std::io::Result<()>;
}

impl<R: BufRead> TakeLine for R {
    /// One line of at most 64 bytes is all an answer needs.
    fn take_line(&mut self, into: &mut String) -> std::io::Result<()> {
        use std::io::Read;
        self.take(64).read_line(into).map(|_| ())
    }
}

/// What the offline signer is shown: the ledger, the position and what it
/// builds on, who signs with which key, and the event's fields, with the
/// document's hash, size and, for text, its first lines.
fn summary(request: &Request, hash: &str) -> Vec<String> {
    let b: &Body = request.body();
    let mut lines = vec![
        format!("sign request sha256 {hash}"),
        format!("  ledger     {}", hex::encode(b.ledger.0)),
        format!(
            "  position   event #{}, after {}",
            b.seq,
            b.prev
                .map_or_else(|| "nothing (genesis)".into(), |h| h.to_string())
        ),
        format!(
            "  signer     {}, key {}",
            b.author,
            request.key().fingerprint()
        ),
        format!("  time       {}", b.time),
        format!("  kind       {}", b.kind.name()),
    ];
    let mut field = |name: &str, value: &str| lines.push(format!("  {name:<10} {value}"));
    match &b.kind {
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
            field("signatories", &names.join(", "));
        }
        Kind::DocumentAmended { doc, notes, .. } => {
            field("document", doc.as_str());
            if let Some(n) = notes {
                field("notes", n);
            }
        }
        Kind::DocumentApproved { doc, .. } | Kind::DocumentSigned { doc, .. } => {
            field("document", doc.as_str());
        }
        Kind::Note { text } => field("text", text),
        Kind::KeyRevoked { kid, reason } => {
            field("revokes", &kid.to_hex());
            field("reason", reason);
        }
        Kind::PartiesApproved { proposal, sha256 } => {
            field("proposal", proposal.as_str());
            field("proposed in", &sha256.to_string());
        }
        _ => {}
    }
    if let Some(d) = request.document() {
        lines.push(format!(
            "  version    sha256 {}, {} bytes",
            ledger::core::format::DocHash::of(d),
            d.len()
        ));
        match std::str::from_utf8(d) {
            Ok(text) => {
                for l in text.lines().take(PREVIEW_LINES) {
                    lines.push(format!("  | {}", l.chars().take(100).collect::<String>()));
                }
                if text.lines().nth(PREVIEW_LINES).is_some() {
                    lines.push("  | ...".into());
                }
            }
            Err(_) => lines.push("  (not UTF-8 text: compare the sha256 with the file)".into()),
        }
    }
    lines
}

pub(crate) fn attach(out: &Out, dir: &Path, signed_file: &Path) -> Result<(), Failure> {
    let bytes = read_bounded(signed_file, 2 * MAX_FILE_BYTES)?;
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
    let done = w.attach(signed.stored(), document)?;
    print_appended(out, dir, &done)
}
