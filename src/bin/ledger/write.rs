//! The commands that write a ledger: `init`, `append`, `sign`, `repair`,
//! `import`. Each validates what was typed, then calls the library's writer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ledger::base::crypto::{Fingerprint, PublicKey, SigningKey};
use ledger::core::format::{DocHash, DocId, Kid, Kind, PartyId, ProposalId, SessionId};
use ledger::core::verify::terminal_safe;
use ledger::core::writer::{self, Appended, Writer};

use crate::cli::*;
use crate::error::Failure;
use crate::input::*;
use crate::out::*;

pub(crate) fn init(
    out: &Out,
    dir: PathBuf,
    (key, agent): (PathBuf, bool),
    title: String,
    parties: Vec<String>,
    (at, allow_future): (Option<String>, bool),
    pass: PassArgs,
) -> Result<(), Failure> {
    let time = parse_time(at.as_deref(), allow_future)?;
    let key = crate::signer::open(&key, agent, &pass)?;
    pass.check_used()?;
    let mut map = BTreeMap::new();
    for p in &parties {
        let (id, file) = p
            .split_once('=')
            .ok_or_else(|| Failure::usage(format!("--party {p:?}: expected ID=PUBLIC_KEY_FILE")))?;
        let id = PartyId::new(id).map_err(|e| arg_error(&format!("--party {p:?}"), e))?;
        let public = crate::signer::public_key(Path::new(file), &pass)?;
        if map.insert(id.clone(), public).is_some() {
            return Err(Failure::usage(format!("--party {id} is given twice")));
        }
    }
    let done = writer::init(&dir, key.as_ref(), &title, &map, time)?;
    print_appended(out, &dir, &done)?;
    Ok(())
}

pub(crate) fn append_cmd(out: &Out, args: AppendArgs) -> Result<(), Failure> {
    let key = args.key.ok_or_else(|| {
        Failure::usage("append needs --key FILE (the acting party's private key)")
    })?;
    append(
        out,
        &args.dir,
        (&key, args.agent),
        &args.pass,
        (args.at.as_deref(), args.allow_future),
        args.kind,
    )
}

/// Says why the writer works without its cache: a key file the user must
/// fix is a warning; no place for one at all (no HOME) only with -v.
pub(crate) fn cache_key_warning(out: &Out, w: &Writer) {
    use ledger::base::mac::KeyUnavailable;
    match w.cache_key_problem() {
        None => {}
        Some(p @ KeyUnavailable::NoPlace) => out.note(format_args!(
            "the writer's cache is off ({p}): every append replays the whole log"
        )),
        Some(p) => out.warn(format_args!(
            "the writer's cache is off ({p}): every append replays the whole log"
        )),
    }
}

pub(crate) fn repair(out: &Out, dir: PathBuf) -> Result<(), Failure> {
    let (w, cleaned) = Writer::repair_waiting(&dir, out.lock_wait(), &mut out.waiting())?;
    if out.json {
        return out.print(serde_json::json!({
            "ledger": dir,
            "removed_bytes": w.repaired().unwrap_or(0),
            "count": w.state().count,
            "removed_files": cleaned.removed,
            "left": cleaned.left,
        }));
    }
    // What it left is for a person to move: said on stderr, like verify's
    // warnings about the same files.
    for o in &cleaned.left {
        out.warn(format_args!(
            "warning: {}: {}",
            dir.display(),
            terminal_safe(&o.to_string())
        ));
    }
    let files = match cleaned.removed.len() {
        0 => String::new(),
        n => format!(
            "; removed {n} file{} no event needs ({})",
            if n == 1 { "" } else { "s" },
            shown_paths(&cleaned.removed)
        ),
    };
    match (w.repaired(), files.is_empty()) {
        (Some(n), _) => out.info(format_args!(
            "removed a torn tail of {n} bytes; {} events intact{files}",
            w.state().count
        )),
        (None, true) => out.info(format_args!(
            "nothing to repair: {} events, the log ends cleanly",
            w.state().count
        )),
        (None, false) => out.info(format_args!(
            "{} events, the log ends cleanly{files}",
            w.state().count
        )),
    }
}

/// At most ten paths, then how many more: a line stays a line.
pub(crate) fn shown_paths(paths: &[String]) -> String {
    let mut s = paths
        .iter()
        .take(10)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if paths.len() > 10 {
        s.push_str(&format!(" and {} more", paths.len() - 10));
    }
    terminal_safe(&s)
}

pub(crate) fn import(
    out: &Out,
    dir: PathBuf,
    file: PathBuf,
    docs: Option<PathBuf>,
) -> Result<(), Failure> {
    let json = out.json;
    // Streamed: the library holds a group of a few MiB at a time.
    let cannot = |e: std::io::Error| Failure::io(format!("cannot read {}: {e}", file.display()));
    let events = std::fs::File::open(&file).map_err(cannot)?;
    let total = events.metadata().map_err(cannot)?.len();
    let documents = match &docs {
        Some(d) => {
            writer::index_documents(d).map_err(|e| Failure::usage(format!("--docs: {e}")))?
        }
        None => BTreeMap::new(),
    };
    let mut w = out.open_writer(&dir)?;
    if let Some(n) = w.repaired() {
        out.warn(format_args!(
            "removed a torn tail of {n} bytes left by an interrupted append"
        ));
    }
    cache_key_warning(out, &w);
    let mut progress = out.progress(total, "importing");
    let started = std::time::Instant::now();
    let done = w.import_from(events, &documents, |p| progress.set(p));
    progress.finish();
    let done = done?;
    out.note(format_args!(
        "{} groups, {:.2?}",
        done.groups,
        started.elapsed()
    ));
    if json {
        out.print(format_args!(
            "{}",
            serde_json::json!({"ledger": dir, "first_seq": done.first_seq, "count": done.count, "head": done.head, "groups": done.groups})
        ))?;
        return Ok(());
    }
    out.info(format_args!(
        "{}: imported events #{} to #{} ({} events), head {}",
        dir.display(),
        done.first_seq,
        done.first_seq + done.count - 1,
        done.count,
        done.head
    ))?;
    Ok(())
}

pub(crate) fn print_appended(out: &Out, dir: &Path, a: &Appended) -> Result<(), Failure> {
    let kind = a.kind;
    if out.json {
        return out.print(
            serde_json::json!({"ledger": dir, "seq": a.seq, "kind": kind, "author": a.author, "hash": a.hash, "offset": a.offset}),
        );
    }
    out.info(format_args!(
        "{}: appended event #{} ({kind}) by {}, hash {}",
        dir.display(),
        a.seq,
        a.author,
        a.hash
    ))
}

/// The document and version `t` names, checked to be the current one;
/// `file_hash` is the hash of `t.file`, read before the lock.
pub(crate) fn target_version(
    w: &mut Writer,
    t: &DocTarget,
    file_hash: Option<DocHash>,
) -> Result<(DocId, DocHash), Failure> {
    let doc = DocId::new(&t.doc).map_err(|e| arg_error("--doc", e))?;
    let current = w.current_version(&doc)?.ok_or_else(|| {
        Failure::usage(format!(
            "no document {:?} has been drafted in this ledger",
            t.doc
        ))
    })?;
    let wanted = match (&t.file, &t.version) {
        (Some(f), _) => {
            let h = match file_hash {
                Some(h) => h,
                None => DocHash::of(&read_document(f)?),
            };
            if h != current {
                return Err(Failure::usage(format!(
                    "{} (sha256 {h}) is not the current version of {doc} (sha256 {current})",
                    f.display()
                )));
            }
            h
        }
        (None, Some(v)) => DocHash::from_hex(v)
            .map_err(|_| Failure::usage(format!("--version {v:?}: expected 64 hex digits")))?,
        (None, None) => current,
    };
    Ok((doc, wanted))
}

/// `key-revoke --revoke`: a kid in hex, or a public key file whose kid it
/// is. (A fingerprint, `SHA256:…`, is looked up in the ledger's key ring
/// once it is open: see [`revoked_by_fingerprint`].)
pub(crate) fn revoked_kid(arg: &str) -> Result<Kid, Failure> {
    if arg.len() == 64 && arg.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Kid::from_hex(arg).map_err(|e| arg_error("--revoke", e));
    }
    let path = Path::new(arg);
    if !path.exists() {
        return Err(Failure::usage(format!(
            "--revoke {arg:?}: no such file, and not a kid (64 hex digits)"
        )));
    }
    let key = PublicKey::from_file(path)?;
    Ok(Kid(key.kid()))
}

/// The kid of the key of this ledger whose fingerprint `--revoke` gives.
fn revoked_by_fingerprint(w: &Writer, f: Fingerprint) -> Result<Kid, Failure> {
    w.state()
        .keys
        .iter()
        .find(|(_, r)| r.key.fingerprint() == f)
        .map(|(kid, _)| *kid)
        .ok_or_else(|| {
            Failure::usage(format!(
                "--revoke {f}: no key of this ledger has this fingerprint (`ledger verify` lists every party's keys)"
            ))
        })
}

pub(crate) fn proposal_id(s: &str) -> Result<ProposalId, Failure> {
    ProposalId::new(s).map_err(|e| arg_error("--proposal", e))
}

/// `parties-propose --add ID=FILE.pub ... --add-key FILE.key ...`: each
/// party to add with its private key, matched by public key, so that the
/// key can sign its party proof (FORMAT §5.8). Every --add needs its
/// --add-key and every --add-key an --add.
pub(crate) fn joining_parties(
    add: &[String],
    add_key: &[PathBuf],
    pass: &PassArgs,
) -> Result<Vec<(PartyId, SigningKey)>, Failure> {
    let mut keys: Vec<(PathBuf, SigningKey)> = Vec::new();
    for path in add_key {
        keys.push((path.clone(), pass.load_one_of(path)?));
    }
    let mut out = Vec::new();
    for spec in add {
        let (id, file) = spec.split_once('=').ok_or_else(|| {
            Failure::usage(format!("--add {spec:?}: expected ID=PUBLIC_KEY_FILE"))
        })?;
        let id = PartyId::new(id).map_err(|e| arg_error("--add", e))?;
        let public = PublicKey::from_file(Path::new(file))?;
        let Some(i) = keys.iter().position(|(_, k)| k.public() == public) else {
            return Err(Failure::usage(format!(
                "--add {spec}: no --add-key is the private key of {file}; the new party's key must sign its proof (FORMAT §5.8)"
            )));
        };
        let (_, key) = keys.remove(i);
        out.push((id, key));
    }
    if let Some((path, _)) = keys.first() {
        return Err(Failure::usage(format!(
            "--add-key {}: its public key is not given with --add ID=FILE",
            path.display()
        )));
    }
    Ok(out)
}

/// What `append` needs besides the ledger, read and checked before the
/// ledger is opened, so that a mistake in the arguments changes nothing.
pub(crate) struct Checked {
    /// The bytes of the version `draft` or `amend` stores.
    document: Option<Vec<u8>>,
    /// The hash of the file `approve` or `sign --file` names.
    file_hash: Option<DocHash>,
    new_key: Option<SigningKey>,
    revoked: Option<Kid>,
    revoked_fingerprint: Option<Fingerprint>,
    joining: Vec<(PartyId, SigningKey)>,
    proposal: Option<ProposalId>,
    leaving: Vec<PartyId>,
}

pub(crate) fn check_args(kind: &AppendKind, pass: &PassArgs) -> Result<Checked, Failure> {
    let mut c = Checked {
        document: None,
        file_hash: None,
        new_key: None,
        revoked: None,
        revoked_fingerprint: None,
        joining: Vec::new(),
        proposal: None,
        leaving: Vec::new(),
    };
    match kind {
        AppendKind::KeyAdd { new_key } | AppendKind::KeyRotate { new_key } => {
            c.new_key = Some(pass.load_one_of(new_key)?);
        }
        AppendKind::KeyRevoke { revoke, .. } if revoke.starts_with("SHA256:") => {
            c.revoked_fingerprint = Some(Fingerprint::parse(revoke).ok_or_else(|| {
                Failure::usage(format!(
                    "--revoke {revoke:?}: not a fingerprint (SHA256: and 43 Base64 characters, as `ledger fingerprint` prints)"
                ))
            })?);
        }
        AppendKind::KeyRevoke { revoke, .. } => c.revoked = Some(revoked_kid(revoke)?),
        AppendKind::PartiesPropose {
            proposal,
            remove,
            add,
            add_key,
        } => {
            c.joining = joining_parties(add, add_key, pass)?;
            c.leaving = remove
                .iter()
                .map(|s| PartyId::new(s).map_err(|e| arg_error("--remove", e)))
                .collect::<Result<Vec<_>, _>>()?;
            c.proposal = Some(proposal_id(proposal)?);
        }
        AppendKind::PartiesApprove { proposal } => c.proposal = Some(proposal_id(proposal)?),
        // Documents are read (bounded, regular files only) before the
        // ledger's lock is taken: a slow or endless input never holds up
        // another writer.
        AppendKind::Draft { file, .. } | AppendKind::Amend { file, .. } => {
            c.document = Some(read_document(file)?);
        }
        AppendKind::Approve { target } | AppendKind::Sign { target } => {
            if let Some(f) = &target.file {
                c.file_hash = Some(DocHash::of(&read_document(f)?));
            }
        }
        _ => {}
    }
    Ok(c)
}

pub(crate) fn append(
    out: &Out,
    dir: &Path,
    (key, agent): (&Path, bool),
    pass: &PassArgs,
    (at, allow_future): (Option<&str>, bool),
    kind: AppendKind,
) -> Result<(), Failure> {
    let time = parse_time(at, allow_future)?;
    let key = crate::signer::open(key, agent, pass)?;
    let key = key.as_ref();
    let checked = check_args(&kind, pass)?;
    pass.check_used()?;
    let mut w = out.open_writer(dir)?;
    if let Some(n) = w.repaired() {
        out.warn(format_args!(
            "removed a torn tail of {n} bytes left by an interrupted append"
        ));
    }
    cache_key_warning(out, &w);
    let done = match kind {
        AppendKind::KeyAdd { .. } | AppendKind::KeyRotate { .. } => {
            let rotate = matches!(kind, AppendKind::KeyRotate { .. });
            let Some(new) = checked.new_key else {
                return Err(Failure::usage("--new-key is required"));
            };
            w.append_key(key, &new, rotate, time)?
        }
        AppendKind::PartiesPropose { .. } | AppendKind::PartiesApprove { .. } => {
            let Some(proposal) = checked.proposal else {
                return Err(Failure::usage("--proposal is required"));
            };
            if matches!(kind, AppendKind::PartiesPropose { .. }) {
                let add: Vec<(PartyId, &SigningKey)> = checked
                    .joining
                    .iter()
                    .map(|(p, k)| (p.clone(), k))
                    .collect();
                w.propose_parties(key, proposal, &add, &checked.leaving, time)?
            } else {
                w.approve_parties(key, proposal, time)?
            }
        }
        other => {
            let (kind, content) = event_kind(&mut w, other, checked)?;
            w.append(key, time, kind, content.as_deref())?
        }
    };
    print_appended(out, dir, &done)
}

/// The event an `append` subcommand describes, with the bytes of the
/// document version it drafts or amends.
pub(crate) fn event_kind(
    w: &mut Writer,
    kind: AppendKind,
    checked: Checked,
) -> Result<(Kind, Option<Vec<u8>>), Failure> {
    let revoked = match checked.revoked_fingerprint {
        Some(f) => Some(revoked_by_fingerprint(w, f)?),
        None => checked.revoked,
    };
    let session = |s: &str| SessionId::new(s).map_err(|e| arg_error("--session", e));
    Ok(match kind {
        AppendKind::SessionOpen {
            session: s,
            title,
            place,
            chair,
            notes,
        } => (
            Kind::SessionOpened {
                session: session(&s)?,
                title,
                place,
                chair,
                notes,
            },
            None,
        ),
        AppendKind::SessionClose { session: s, notes } => (
            Kind::SessionClosed {
                session: session(&s)?,
                notes,
            },
            None,
        ),
        k @ (AppendKind::Draft { .. }
        | AppendKind::Amend { .. }
        | AppendKind::Approve { .. }
        | AppendKind::Sign { .. }) => document_kind(w, k, checked)?,
        AppendKind::Note { text } => (Kind::Note { text }, None),
        AppendKind::KeyRevoke { reason, .. } => (
            Kind::KeyRevoked {
                kid: revoked.ok_or_else(|| Failure::usage("--revoke is required"))?,
                reason,
            },
            None,
        ),
        AppendKind::KeyAdd { .. }
        | AppendKind::KeyRotate { .. }
        | AppendKind::PartiesPropose { .. }
        | AppendKind::PartiesApprove { .. } => {
            return Err(Failure::usage(
                "key and party changes are appended by the writer's own calls",
            ))
        }
    })
}

/// The event of a document subcommand (draft, amend, approve, sign), with
/// the bytes of the version it stores (read before the lock, in
/// [`check_args`]).
fn document_kind(
    w: &mut Writer,
    kind: AppendKind,
    checked: Checked,
) -> Result<(Kind, Option<Vec<u8>>), Failure> {
    let doc_id = |s: &str| DocId::new(s).map_err(|e| arg_error("--doc", e));
    let document = checked
        .document
        .ok_or_else(|| Failure::usage("--file is required"));
    Ok(match kind {
        AppendKind::Draft {
            doc,
            title,
            signatories,
            no_signatures,
            ..
        } => {
            let bytes = document?;
            let signatories = draft_signatories(w, &signatories, no_signatures)?;
            let k = Kind::DocumentDrafted {
                doc: doc_id(&doc)?,
                sha256: DocHash::of(&bytes),
                title,
                signatories,
            };
            (k, Some(bytes))
        }
        AppendKind::Amend { doc, notes, .. } => {
            let bytes = document?;
            let k = Kind::DocumentAmended {
                doc: doc_id(&doc)?,
                sha256: DocHash::of(&bytes),
                notes,
            };
            (k, Some(bytes))
        }
        AppendKind::Approve { target } => {
            let (doc, sha256) = target_version(w, &target, checked.file_hash)?;
            (Kind::DocumentApproved { doc, sha256 }, None)
        }
        AppendKind::Sign { target } => {
            let (doc, sha256) = target_version(w, &target, checked.file_hash)?;
            (Kind::DocumentSigned { doc, sha256 }, None)
        }
        _ => return Err(Failure::usage("not a document subcommand")),
    })
}

/// `draft --signatory`: the parties named, sorted and without repeats;
/// none with `--no-signatures`; by default every current party (FORMAT
/// §6.8: only they may be named).
fn draft_signatories(
    w: &Writer,
    signatories: &[String],
    none: bool,
) -> Result<Vec<PartyId>, Failure> {
    if none {
        return Ok(Vec::new());
    }
    if signatories.is_empty() {
        let state = w.state();
        return Ok(state
            .parties
            .keys()
            .filter(|p| state.is_party(p))
            .cloned()
            .collect());
    }
    let mut v = signatories
        .iter()
        .map(|s| PartyId::new(s).map_err(|e| arg_error("--signatory", e)))
        .collect::<Result<Vec<_>, _>>()?;
    v.sort();
    v.dedup();
    Ok(v)
}
