//! `ledger monitor` (FORMAT §16.4): watching a published directory
//! (FORMAT §16, C2SP tlog-tiles), read from a directory or over HTTP(S)
//! ([`crate::proofs::source`]).
//! This module owns the monitor's state directory and its checks: the
//! served checkpoint is verified with trusted keys (and a witness policy),
//! compared with the one last accepted (a rollback or a split view is
//! evidence, saved with both checkpoints), only the entry bundles beyond
//! the accepted size are fetched, the new entries must extend the accepted
//! tree to the served root, and the mirrored events are replayed.
//!
//! It never trusts its own state: the state file binds the accepted
//! checkpoint and the mirrored events by their SHA-256, the checkpoint is
//! re-verified and the mirrored events re-hashed to its root on every run,
//! and anything that does not match is thrown away and rebuilt from the
//! source. It never writes to the source, never follows a redirect, and
//! reads every answer under a size limit and a timeout.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::base::files;
use crate::core::format::{Event, Kind};
use crate::core::store::{DOCS_DIR, LOG_FILE, MAX_DOCUMENT_BYTES};
use crate::core::verify::{self, Report};
use crate::proofs::checkpoint::{self, CHECKPOINTS_DIR};
use crate::tlog::merkle::{self, Frontier};
use crate::tlog::note::{self, WitnessPolicy};
use crate::tlog::tiles::{self, CHECKPOINT_FILE};

/// The state file's name in the state directory, and its first line.
pub const STATE_FILE: &str = "state";
const STATE_MAGIC: &str = "ledger-monitor-state v1";
/// The accepted checkpoint, as it was served and verified.
pub const ACCEPTED_FILE: &str = "checkpoint";
/// The mirrored ledger (events, documents, the accepted checkpoint).
pub const MIRROR_DIR: &str = "ledger";
/// Where evidence goes, one directory per finding.
pub const EVIDENCE_DIR: &str = "evidence";

pub use crate::proofs::source::{FetchError, Source};

/// What a run refused to go on with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the served checkpoint: {0}")]
    Checkpoint(String),
}

impl MonitorError {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MonitorError + '_ {
        move |source| MonitorError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// What the log did that a monitor reports as misbehaviour.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "finding", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Finding {
    /// The served checkpoint is smaller than the one accepted.
    Rollback {
        accepted: u64,
        served: u64,
        evidence: PathBuf,
    },
    /// Same size, another root; or a bigger tree the accepted one is not a
    /// prefix of.
    SplitView {
        accepted: u64,
        served: u64,
        evidence: PathBuf,
    },
    /// A served file contradicts the signed checkpoint (entry bundle,
    /// hash tile or document).
    BadData {
        served: u64,
        file: String,
        reason: String,
        evidence: PathBuf,
    },
    /// The new events break a rule of the ledger (replay refuted them).
    Violation {
        served: u64,
        reason: String,
        evidence: PathBuf,
    },
}

/// One new event a watcher asked for, or every key revocation and party
/// change.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Notice {
    /// "watched", "key-revoked", "key-change" or "party-change".
    pub why: &'static str,
    pub seq: u64,
    pub author: String,
    pub kind: &'static str,
    pub time: String,
    pub summary: String,
}

/// What one run found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub source: String,
    /// The accepted size before and after the run.
    pub previous: u64,
    pub size: u64,
    pub root: String,
    /// Entry bundles and documents fetched this run.
    pub bundles_fetched: usize,
    pub documents_fetched: usize,
    /// The state was missing, damaged or tampered with, and rebuilt.
    pub rebuilt: Option<String>,
    pub notices: Vec<Notice>,
    pub findings: Vec<Finding>,
    /// The age, in seconds, of the newest time the checkpoint is vouched
    /// for (a witness cosignature, else the last event's claimed time).
    pub age: Option<i64>,
}

/// What the monitor checks against.
pub struct Options {
    /// Keys that may sign the log's checkpoints (the parties' keys).
    pub log_keys: Vec<(String, crate::base::crypto::PublicKey)>,
    pub policy: Option<WitnessPolicy>,
    /// Parties whose every new event is reported.
    pub watch_parties: Vec<String>,
    /// Keys whose party's every new event is reported.
    pub watch_keys: Vec<crate::base::crypto::PublicKey>,
}

/// The state file's bytes: what binds the mirrored events to the accepted
/// checkpoint. Private to the monitor: no one else reads it, so FORMAT.md
/// does not specify it.
fn state_text(size: u64, root: &[u8; 32], checkpoint: &[u8], events: &[u8]) -> String {
    format!(
        "{STATE_MAGIC}\nsize {size}\nroot {}\ncheckpoint {}\nevents {}\n",
        hex::encode(root),
        hex::encode(Sha256::digest(checkpoint)),
        hex::encode(Sha256::digest(events)),
    )
}

/// The accepted state, authenticated: the checkpoint verifies with the
/// trusted keys, the mirrored events hash to its root, the state file
/// binds both.
struct Accepted {
    checkpoint: Vec<u8>,
    size: u64,
    root: [u8; 32],
    events: Vec<u8>,
    frontier: Frontier,
}

/// Loads and authenticates the state; `Err(reason)` if it must be rebuilt.
fn load(state: &Path, opts: &Options) -> Result<Option<Accepted>, String> {
    let limit = note::MAX_NOTE_BYTES as u64;
    let text = match files::read_in(state, STATE_FILE, 4096) {
        Ok(t) => t,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(format!("{STATE_FILE}: {e}")),
    };
    let cp =
        files::read_in(state, ACCEPTED_FILE, limit).map_err(|e| format!("{ACCEPTED_FILE}: {e}"))?;
    let checked = checkpoint::check_note(&cp, None, &opts.log_keys, opts.policy.as_ref())
        .map_err(|e| format!("{ACCEPTED_FILE}: {e}"))?;
    let size = checked.checkpoint().size();
    let root = *checked.checkpoint().root();
    let rel = format!("{MIRROR_DIR}/{LOG_FILE}");
    let events = match files::read_in(state, &rel, u64::MAX) {
        Ok(e) => e,
        Err(e) if e.is_not_found() && size == 0 => Vec::new(),
        Err(e) => return Err(format!("{rel}: {e}")),
    };
    if text != state_text(size, &root, &cp, &events).as_bytes() {
        return Err(format!(
            "{STATE_FILE} does not bind the accepted checkpoint and the mirrored events"
        ));
    }
    let mut frontier = Frontier::new();
    let mut rest = &events[..];
    while !rest.is_empty() {
        let n = match crate::core::format::frame(rest) {
            crate::core::format::Frame::Item(n) => n,
            _ => return Err(format!("{rel}: not a sequence of events")),
        };
        let _ = frontier.push(merkle::leaf_hash(&rest[..n]));
        rest = &rest[n..];
    }
    if frontier.size() != size || frontier.root() != root {
        return Err(format!(
            "{rel}: its events do not hash to the accepted checkpoint's root"
        ));
    }
    Ok(Some(Accepted {
        checkpoint: cp,
        size,
        root,
        events,
        frontier,
    }))
}

/// Saves evidence: both checkpoints (and the offending file, if any).
fn evidence(
    state: &Path,
    kind: &str,
    accepted: Option<&[u8]>,
    served: &[u8],
    extra: Option<(&str, &[u8])>,
) -> Result<PathBuf, MonitorError> {
    let now = crate::base::time::Timestamp::now().instant().0;
    let base = state.join(EVIDENCE_DIR);
    let mut n = 0;
    let dir = loop {
        let d = base.join(format!(
            "{now}-{kind}{}",
            if n == 0 {
                String::new()
            } else {
                format!(".{n}")
            }
        ));
        if fs::symlink_metadata(&d).is_err() {
            break d;
        }
        n += 1;
    };
    fs::create_dir_all(&dir).map_err(MonitorError::io(&dir))?;
    let write = |name: &str, bytes: &[u8]| -> Result<(), MonitorError> {
        let p = dir.join(name);
        crate::core::store::replace_durably(&dir, &p, bytes).map_err(|e| MonitorError::Io {
            path: p.clone(),
            source: std::io::Error::other(e.to_string()),
        })
    };
    if let Some(a) = accepted {
        write("accepted-checkpoint", a)?;
    }
    write("served-checkpoint", served)?;
    if let Some((name, bytes)) = extra {
        write(name, bytes)?;
    }
    Ok(dir)
}

/// Clears the state (for a rebuild): only the monitor's own files.
fn clear(state: &Path) -> Result<(), MonitorError> {
    for name in [STATE_FILE, ACCEPTED_FILE] {
        match fs::remove_file(state.join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(MonitorError::io(&state.join(name))(e))
            }
            _ => {}
        }
    }
    let m = state.join(MIRROR_DIR);
    match fs::remove_dir_all(&m) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(MonitorError::io(&m)(e)),
        _ => Ok(()),
    }
}

/// One run of the monitor against `source`, with its state in `state`.
pub fn run(source: &Source, state: &Path, opts: &Options) -> Result<Outcome, MonitorError> {
    fs::create_dir_all(state).map_err(MonitorError::io(state))?;
    let served = source.fetch(CHECKPOINT_FILE, note::MAX_NOTE_BYTES as u64)?;
    let checked = checkpoint::check_note(&served, None, &opts.log_keys, opts.policy.as_ref())
        .map_err(|e| MonitorError::Checkpoint(e.to_string()))?;
    if let Some(p) = &opts.policy {
        checkpoint::require_quorum(&checked, p)
            .map_err(|e| MonitorError::Checkpoint(e.to_string()))?;
    }
    let cp = checked.checkpoint().clone();
    let (mut accepted, rebuilt) = match load(state, opts) {
        Ok(a) => (a, None),
        Err(reason) => {
            clear(state)?;
            (None, Some(reason))
        }
    };
    if let Some(a) = &accepted {
        if let Some(o) = a_origin(&a.checkpoint) {
            if o != cp.origin() {
                return Err(MonitorError::Checkpoint(format!(
                    "its origin {:?} is not the accepted one's, {o:?}: another log (use another --state)",
                    cp.origin()
                )));
            }
        }
    }
    let mut out = Outcome {
        source: source.name(),
        previous: accepted.as_ref().map_or(0, |a| a.size),
        size: accepted.as_ref().map_or(0, |a| a.size),
        root: hex::encode(accepted.as_ref().map_or([0; 32], |a| a.root)),
        bundles_fetched: 0,
        documents_fetched: 0,
        rebuilt,
        notices: Vec::new(),
        findings: Vec::new(),
        age: None,
    };
    if let Some(a) = &accepted {
        let kind = if cp.size() < a.size {
            Some("rollback")
        } else if cp.size() == a.size && cp.root() != &a.root {
            Some("split-view")
        } else {
            None
        };
        if let Some(kind) = kind {
            let evidence = evidence(state, kind, Some(&a.checkpoint), &served, None)?;
            out.findings.push(match kind {
                "rollback" => Finding::Rollback {
                    accepted: a.size,
                    served: cp.size(),
                    evidence,
                },
                _ => Finding::SplitView {
                    accepted: a.size,
                    served: cp.size(),
                    evidence,
                },
            });
            return Ok(out);
        }
        if cp.size() == a.size {
            out.age = age(&checked, last_event(&a.events).as_deref());
            return Ok(out);
        }
    }
    let old = accepted.take().unwrap_or(Accepted {
        checkpoint: Vec::new(),
        size: 0,
        root: merkle::empty_root(),
        events: Vec::new(),
        frontier: Frontier::new(),
    });
    // Only the bundles beyond the accepted size: the one that held the
    // accepted size's last entries (it is partial, or the next one), then on.
    let mut events = old.events.clone();
    let mut frontier = old.frontier.clone();
    let mut new_entries: Vec<Vec<u8>> = Vec::new();
    let first = old.size / 256;
    let bad = |state: &Path, file: String, reason: String, bytes: Option<&[u8]>| {
        let evidence = evidence(
            state,
            "bad-data",
            (!old.checkpoint.is_empty()).then_some(old.checkpoint.as_slice()),
            &served,
            bytes.map(|b| ("served-file", b)),
        )?;
        Ok::<Finding, MonitorError>(Finding::BadData {
            served: cp.size(),
            file,
            reason,
            evidence,
        })
    };
    for bundle in tiles::bundles_of_size(cp.size()).skip(first as usize) {
        let rel = bundle.path();
        let data = source.fetch(&rel, tiles::max_bundle_bytes(bundle.width()))?;
        out.bundles_fetched += 1;
        let entries = match bundle.decode(&data) {
            Ok(e) => e,
            Err(e) => {
                out.findings
                    .push(bad(state, rel, e.to_string(), Some(&data))?);
                return Ok(out);
            }
        };
        for (i, e) in (bundle.index() * 256..).zip(entries) {
            if i < old.size {
                // Already mirrored: the served bundle must agree with it.
                continue;
            }
            match crate::core::format::frame(e) {
                crate::core::format::Frame::Item(n) if n == e.len() => {}
                _ => {
                    out.findings.push(bad(
                        state,
                        rel,
                        format!("entry {i} is not one event"),
                        Some(&data),
                    )?);
                    return Ok(out);
                }
            }
            let _ = frontier.push(merkle::leaf_hash(e));
            new_entries.push(e.to_vec());
        }
    }
    if frontier.size() != cp.size() || frontier.root() != *cp.root() {
        // The entries after ours do not make the served root: either the
        // bundles lie or the served tree does not extend ours.
        let kind = if old.size == 0 {
            "bad-data"
        } else {
            "split-view"
        };
        let evidence = evidence(
            state,
            kind,
            (!old.checkpoint.is_empty()).then_some(old.checkpoint.as_slice()),
            &served,
            None,
        )?;
        out.findings.push(if old.size == 0 {
            Finding::BadData {
                served: cp.size(),
                file: "tile/entries/".into(),
                reason: "the entries do not hash to the checkpoint's root".into(),
                evidence,
            }
        } else {
            Finding::SplitView {
                accepted: old.size,
                served: cp.size(),
                evidence,
            }
        });
        return Ok(out);
    }
    // Hash tiles: the new ones must be those of the entries (a server
    // that serves wrong tiles misleads every client proving with them).
    if let Some(f) = check_tiles(
        source,
        state,
        &events,
        &new_entries,
        old.size,
        cp.size(),
        &bad,
    )? {
        out.findings.push(f);
        return Ok(out);
    }
    // The mirror: events, the documents the new events name, the
    // checkpoint; then replay it.
    let mirror = state.join(MIRROR_DIR);
    let docs = mirror.join(DOCS_DIR);
    fs::create_dir_all(&docs).map_err(MonitorError::io(&docs))?;
    for e in &new_entries {
        events.extend_from_slice(e);
        let Ok(ev) = Event::decode(e) else { continue };
        let hash = match &ev.body.kind {
            Kind::DocumentDrafted { sha256, .. } | Kind::DocumentAmended { sha256, .. } => sha256,
            _ => continue,
        };
        let name = hash.to_hex();
        if fs::symlink_metadata(docs.join(&name)).is_ok() {
            continue;
        }
        let rel = format!("{DOCS_DIR}/{name}");
        let bytes = match source.fetch(&rel, MAX_DOCUMENT_BYTES) {
            Ok(b) => b,
            // Replay names a missing document as the violation it is.
            Err(FetchError::NotFound { .. }) => continue,
            Err(e) => return Err(e.into()),
        };
        if hex::encode(Sha256::digest(&bytes)) != name {
            out.findings.push(bad(
                state,
                rel,
                "not the document its hash names".into(),
                None,
            )?);
            return Ok(out);
        }
        out.documents_fetched += 1;
        let p = docs.join(&name);
        fs::write(&p, &bytes).map_err(MonitorError::io(&p))?;
    }
    let log = mirror.join(LOG_FILE);
    {
        let mut f = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(MonitorError::io(&log))?;
        f.set_len(old.events.len() as u64)
            .map_err(MonitorError::io(&log))?;
        f.write_all(&events[old.events.len()..])
            .map_err(MonitorError::io(&log))?;
        f.sync_all().map_err(MonitorError::io(&log))?;
    }
    let report = match verify::verify(&mirror, &verify::Options::default()) {
        Ok(r) => r,
        Err(e) => {
            // Not accepted: the mirror goes back to the accepted events.
            let f = fs::OpenOptions::new()
                .write(true)
                .open(&log)
                .map_err(MonitorError::io(&log))?;
            f.set_len(old.events.len() as u64)
                .map_err(MonitorError::io(&log))?;
            let evidence = evidence(
                state,
                "violation",
                (!old.checkpoint.is_empty()).then_some(old.checkpoint.as_slice()),
                &served,
                None,
            )?;
            out.findings.push(Finding::Violation {
                served: cp.size(),
                reason: e.to_string(),
                evidence,
            });
            return Ok(out);
        }
    };
    out.notices = notices(&report, old.size, opts);
    out.age = age(&checked, last_event(&events).as_deref());
    let cdir = mirror.join(CHECKPOINTS_DIR);
    fs::create_dir_all(&cdir).map_err(MonitorError::io(&cdir))?;
    let cpath = cdir.join(cp.size().to_string());
    fs::write(&cpath, &served).map_err(MonitorError::io(&cpath))?;
    let durable = |p: &Path, bytes: &[u8]| {
        crate::core::store::replace_durably(state, p, bytes).map_err(|e| MonitorError::Io {
            path: p.to_owned(),
            source: std::io::Error::other(e.to_string()),
        })
    };
    durable(&state.join(ACCEPTED_FILE), &served)?;
    // Last: the state file binds what is now durable.
    durable(
        &state.join(STATE_FILE),
        state_text(cp.size(), cp.root(), &served, &events).as_bytes(),
    )?;
    out.size = cp.size();
    out.root = hex::encode(cp.root());
    Ok(out)
}

fn a_origin(bytes: &[u8]) -> Option<String> {
    let n = note::Note::parse(bytes).ok()?;
    Some(
        note::Checkpoint::parse_text(n.text())
            .ok()?
            .origin()
            .to_owned(),
    )
}

/// Makes the finding (and saves the evidence) for a served file that
/// contradicts the signed checkpoint: state dir, file, reason, its bytes.
type BadData<'a> =
    dyn Fn(&Path, String, String, Option<&[u8]>) -> Result<Finding, MonitorError> + 'a;

/// Compares the served hash tiles of level 0 that the new entries touch
/// with the entries' leaf hashes (the higher levels are made from these
/// by the same rule, FORMAT §16.2, and checked by `verify` of a copy).
fn check_tiles(
    source: &Source,
    state: &Path,
    old_events: &[u8],
    new_entries: &[Vec<u8>],
    old_size: u64,
    size: u64,
    bad: &BadData<'_>,
) -> Result<Option<Finding>, MonitorError> {
    // Leaves of the first touched tile that were already mirrored.
    let first = old_size / 256 * 256;
    let mut leaves: Vec<merkle::Hash> = Vec::new();
    let mut rest = old_events;
    let mut i = 0u64;
    while !rest.is_empty() {
        let crate::core::format::Frame::Item(n) = crate::core::format::frame(rest) else {
            break;
        };
        if i >= first {
            leaves.push(merkle::leaf_hash(&rest[..n]));
        }
        rest = &rest[n..];
        i += 1;
    }
    leaves.extend(new_entries.iter().map(|e| merkle::leaf_hash(e)));
    for tile in tiles::new_tiles(old_size, size)
        .into_iter()
        .filter(|t| t.level() == 0)
    {
        let start = usize::try_from(tile.index() * 256 - first).unwrap_or(usize::MAX);
        let end = start.saturating_add(usize::from(tile.width()));
        let Some(want) = leaves.get(start..end) else {
            continue;
        };
        let rel = tile.path();
        let got = source.fetch(&rel, 256 * 32)?;
        if got != want.concat() {
            return Ok(Some(bad(
                state,
                rel,
                "the hash tile is not that of the entries".into(),
                Some(&got),
            )?));
        }
    }
    Ok(None)
}

/// The new events worth reporting.
fn notices(report: &Report, from: u64, opts: &Options) -> Vec<Notice> {
    let watched_by_key: Vec<String> = report
        .parties
        .iter()
        .filter(|p| {
            p.keys.iter().any(|k| {
                opts.watch_keys
                    .iter()
                    .any(|w| hex::encode(w.to_bytes()) == k.key)
            })
        })
        .map(|p| p.id.to_string())
        .collect();
    report
        .events
        .iter()
        .filter(|e| e.seq >= from)
        .filter_map(|e| {
            let author = e.author.to_string();
            let why = match e.kind {
                "key-revoked" => "key-revoked",
                "key-added" | "key-rotated" => "key-change",
                "parties-proposed" | "parties-approved" => "party-change",
                _ if opts.watch_parties.contains(&author) || watched_by_key.contains(&author) => {
                    "watched"
                }
                _ => return None,
            };
            Some(Notice {
                why,
                seq: e.seq,
                author,
                kind: e.kind,
                time: e.time.clone(),
                summary: verify::terminal_safe(&e.summary),
            })
        })
        .collect()
}

/// Seconds since the newest time vouched for: a verified witness
/// cosignature, else the last new event's claimed time.
fn age(checked: &checkpoint::Checked, last_event: Option<&str>) -> Option<i64> {
    let now = crate::base::time::Timestamp::now().instant().0;
    let cosigned = checked.cosigned_by().iter().map(|c| c.time).max();
    if let Some(t) = cosigned.filter(|t| *t > 0) {
        return Some(now - i64::try_from(t).unwrap_or(i64::MAX));
    }
    let t = crate::base::time::Timestamp::parse(last_event?).ok()?;
    Some(now - t.instant().0)
}

/// The claimed time of the last event of a mirrored log.
fn last_event(events: &[u8]) -> Option<String> {
    let mut rest = events;
    let mut last = None;
    while let crate::core::format::Frame::Item(n) = crate::core::format::frame(rest) {
        if n == 0 || n > rest.len() {
            break;
        }
        last = Some(&rest[..n]);
        rest = &rest[n..];
    }
    Some(Event::decode(last?).ok()?.body.time.as_str().to_owned())
}
