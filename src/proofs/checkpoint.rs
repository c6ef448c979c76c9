//! What an auditor can hold instead of the whole log (FORMAT §12-§14, §16):
//! signed checkpoints of the ledger's Merkle tree, stored in
//! `DIR/checkpoints/`, and proof bundles that show an event is in a
//! checkpointed tree or that one checkpoint extends another.
//!
//! The Merkle arithmetic is [`crate::tlog::merkle`]'s, the note and checkpoint
//! text [`crate::tlog::note`]'s; this module ties them to a ledger: its origin,
//! its keys, where checkpoints live and what a bundle holds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::base::crypto::{PublicKey, SigningKey};
use crate::core::format::LedgerId;
use crate::core::store::StoreError;
use crate::core::writer::{WriteError, Writer};
use crate::tlog::merkle::{self, Hash};
use crate::tlog::note::{
    self, Checkpoint, Note, NoteError, NoteVerifier, VerifierKind, WitnessPolicy,
};

/// The directory of a ledger's signed checkpoints, one file per tree size
/// (FORMAT §2, §13.2).
pub const CHECKPOINTS_DIR: &str = "checkpoints";
/// The largest proof bundle read (FORMAT §14).
pub const MAX_BUNDLE_BYTES: usize = 4 << 20;
/// The largest checkpoint file read.
const MAX_CHECKPOINT_BYTES: u64 = note::MAX_NOTE_BYTES as u64;

/// Why a checkpoint, proof or bundle was not made or not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The evidence does not hold: exit 1.
    #[error("{0}")]
    Refuted(String),
    /// The request cannot be met as asked: exit 2.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Write(#[from] WriteError),
}

pub(crate) fn refuted(s: impl Into<String>) -> CheckpointError {
    CheckpointError::Refuted(s.into())
}

pub(crate) fn usage(s: impl Into<String>) -> CheckpointError {
    CheckpointError::Usage(s.into())
}

/// FORMAT §13.1: a ledger's origin, the first line of its checkpoints and
/// the name of the keys that sign them: stable, and derived from the
/// ledger id alone.
pub fn origin(ledger: &LedgerId) -> String {
    format!("ledger/{ledger}")
}

/// The note verifiers of a ledger's checkpoints: each key, as an Ed25519
/// note key named by the origin.
pub fn log_verifiers<'a>(
    origin: &str,
    keys: impl IntoIterator<Item = (&'a str, &'a PublicKey)>,
) -> Vec<(String, NoteVerifier)> {
    keys.into_iter()
        .filter_map(|(label, k)| {
            NoteVerifier::new(origin, VerifierKind::Ed25519, *k)
                .ok()
                .map(|v| (label.to_owned(), v))
        })
        .collect()
}

/// A checkpoint note, parsed, with the signatures of the given log keys
/// and witnesses checked (tlog-checkpoint: unknown signatures ignored, a
/// known one that fails rejects the note).
#[derive(Debug, Clone)]
pub struct Checked {
    pub note: Note,
    pub checkpoint: Checkpoint,
    /// Labels of the log keys whose signatures verified.
    pub signed_by: Vec<String>,
    /// Witnesses (of the policy) whose cosignatures verified, with time.
    pub cosigned_by: Vec<(String, u64)>,
}

/// Parses and checks one checkpoint note: its origin must be `origin` (if
/// given) and at least one of `log_keys` must have signed it.
pub fn check_note(
    bytes: &[u8],
    origin: Option<&str>,
    log_keys: &[(String, PublicKey)],
    policy: Option<&WitnessPolicy>,
) -> Result<Checked, CheckpointError> {
    let bad = |e: NoteError| refuted(e.to_string());
    let note = Note::parse(bytes).map_err(bad)?;
    let checkpoint = Checkpoint::parse_text(note.text()).map_err(bad)?;
    if let Some(o) = origin {
        if checkpoint.origin() != o {
            return Err(refuted(format!(
                "the checkpoint is for origin {:?}, not this ledger's {o:?}",
                checkpoint.origin()
            )));
        }
    }
    let logs = log_verifiers(
        checkpoint.origin(),
        log_keys.iter().map(|(l, k)| (l.as_str(), k)),
    );
    // One verifier per key: the same key given twice (a party key also
    // given as a log key, two copies of a .pub) is one signer.
    let mut known: Vec<NoteVerifier> = Vec::new();
    for (_, v) in &logs {
        if !known.contains(v) {
            known.push(v.clone());
        }
    }
    if let Some(p) = policy {
        known.extend(p.witnesses().iter().cloned());
    }
    let verified = match note::verify(&note, &known) {
        Err(NoteError::NoVerifiedSignature { .. }) => Vec::new(),
        other => other.map_err(bad)?,
    };
    let signed_by: Vec<String> = logs
        .iter()
        .filter(|(_, v)| verified.iter().any(|x| x.verifier() == v))
        .map(|(l, _)| l.clone())
        .collect();
    if signed_by.is_empty() {
        return Err(refuted(format!(
            "the checkpoint of size {} carries no signature by a trusted key ({} signature(s), none by the {} key(s) trusted for origin {}; a checkpoint signed by a dedicated log key needs that key: --log-key for verify, --trust for check-proof)",
            checkpoint.size(),
            note.signatures().len(),
            log_keys.len(),
            checkpoint.origin()
        )));
    }
    let cosigned_by = verified
        .iter()
        .filter(|v| v.verifier().kind() == VerifierKind::CosignatureV1)
        .map(|v| (v.verifier().name().to_owned(), v.timestamp().unwrap_or(0)))
        .collect();
    Ok(Checked {
        note,
        checkpoint,
        signed_by,
        cosigned_by,
    })
}

/// Whether a checked checkpoint meets a witness policy, as a refusal
/// naming who cosigned.
pub fn require_quorum(c: &Checked, policy: &WitnessPolicy) -> Result<(), CheckpointError> {
    if c.cosigned_by.len() >= policy.quorum() {
        return Ok(());
    }
    Err(refuted(format!(
        "the checkpoint of size {} is cosigned by {} of the {} witnesses ({}), fewer than the {} required",
        c.checkpoint.size(),
        c.cosigned_by.len(),
        policy.witnesses().len(),
        if c.cosigned_by.is_empty() {
            "none".to_owned()
        } else {
            c.cosigned_by
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        },
        policy.quorum()
    )))
}

/// One file of `DIR/checkpoints/`.
#[derive(Debug, Clone)]
pub struct Stored {
    pub file: String,
    pub bytes: Vec<u8>,
}

/// The files of `DIR/checkpoints/` (none if it does not exist), sorted by
/// name; temporary files left by an interrupted write are not checkpoints.
pub fn stored(dir: &Path) -> Result<Vec<Stored>, StoreError> {
    let cdir = dir.join(CHECKPOINTS_DIR);
    let io = crate::core::store::io;
    let entries = match std::fs::read_dir(&cdir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(&cdir)(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io(&cdir))?;
        let file = entry.file_name().to_string_lossy().into_owned();
        if file.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let len = entry.metadata().map_err(io(&path))?.len();
        let bytes = if len > MAX_CHECKPOINT_BYTES {
            // Left for the check to refuse, without reading it all.
            Vec::new()
        } else {
            std::fs::read(&path).map_err(io(&path))?
        };
        out.push(Stored { file, bytes });
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(out)
}

/// The tree sizes the stored checkpoints name, so that a replay can keep
/// the root at each of them.
pub fn sizes(stored: &[Stored]) -> std::collections::BTreeSet<u64> {
    stored
        .iter()
        .filter_map(|s| Note::parse(&s.bytes).ok())
        .filter_map(|n| Checkpoint::parse_text(n.text()).ok())
        .map(|c| c.size())
        .collect()
}

/// What `verify` found about one stored checkpoint.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckpointReport {
    pub file: String,
    pub size: Option<u64>,
    pub valid: bool,
    /// Why it is not valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    pub signed_by: Vec<String>,
    pub cosigned_by: Vec<Cosigner>,
}

/// A witness's cosignature on a checkpoint.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Cosigner {
    pub witness: String,
    /// POSIX seconds, as the witness stated.
    pub time: u64,
}

/// Checks every stored checkpoint against the replayed tree: `roots` holds
/// the root at each size [`sizes`] named, `count` is the ledger's size.
pub fn check_stored(
    stored: &[Stored],
    origin: &str,
    roots: &BTreeMap<u64, Hash>,
    count: u64,
    log_keys: &[(String, PublicKey)],
    policy: Option<&WitnessPolicy>,
) -> Vec<CheckpointReport> {
    stored
        .iter()
        .map(|s| {
            let mut report = CheckpointReport {
                file: s.file.clone(),
                size: None,
                valid: false,
                problem: None,
                signed_by: Vec::new(),
                cosigned_by: Vec::new(),
            };
            let checked = check_note(&s.bytes, Some(origin), log_keys, policy).and_then(|c| {
                let size = c.checkpoint.size();
                if s.file != size.to_string() {
                    return Err(refuted(format!(
                        "the file holds a checkpoint of size {size}; checkpoints are stored under their size"
                    )));
                }
                if size > count {
                    return Err(refuted(format!(
                        "the checkpoint is of size {size}, but the ledger has only {count} events: it has been truncated or rolled back"
                    )));
                }
                match roots.get(&size) {
                    Some(root) if root == c.checkpoint.root() => Ok(c),
                    Some(root) => Err(refuted(format!(
                        "the checkpoint's root for size {size} is {}, but the ledger's first {size} events hash to {}: a split view or rewritten history",
                        hex::encode(c.checkpoint.root()),
                        hex::encode(root)
                    ))),
                    None => Err(refuted(format!("no root was computed for size {size}"))),
                }
            });
            match checked {
                Ok(c) => {
                    report.size = Some(c.checkpoint.size());
                    report.valid = true;
                    report.signed_by = c.signed_by;
                    report.cosigned_by = c
                        .cosigned_by
                        .into_iter()
                        .map(|(witness, time)| Cosigner { witness, time })
                        .collect();
                }
                Err(e) => {
                    report.size = Note::parse(&s.bytes)
                        .ok()
                        .and_then(|n| Checkpoint::parse_text(n.text()).ok())
                        .map(|c| c.size());
                    report.problem = Some(e.to_string());
                }
            }
            report
        })
        .collect()
}

/// A checkpoint written by [`checkpoint`].
#[derive(Debug, Clone)]
pub struct Written {
    pub path: PathBuf,
    pub size: u64,
    pub root: Hash,
    /// The whole note, as stored.
    pub note: Vec<u8>,
    /// Whether the signature was new (not already on the stored note).
    pub added: bool,
}

fn checkpoint_path(dir: &Path, size: u64) -> PathBuf {
    dir.join(CHECKPOINTS_DIR).join(size.to_string())
}

/// Adds `signatures` to the stored checkpoint whose text is `text`, or
/// stores it, durably. Refuses if a different checkpoint is stored for the
/// same size: a log never signs two trees of one size.
fn store_signatures(
    dir: &Path,
    size: u64,
    text: &str,
    signatures: Vec<note::NoteSignature>,
) -> Result<(Vec<u8>, bool), CheckpointError> {
    let path = checkpoint_path(dir, size);
    let mut stored = match std::fs::read(&path) {
        Ok(bytes) => {
            let n = Note::parse(&bytes).map_err(|e| {
                refuted(format!(
                    "{CHECKPOINTS_DIR}/{size} is not a valid checkpoint note ({e}); move it away to sign again"
                ))
            })?;
            if n.text() != text {
                return Err(refuted(format!(
                    "{CHECKPOINTS_DIR}/{size} holds a different checkpoint for size {size}: \
                     this ledger's tree has changed since it was signed (split view or rewritten history)"
                )));
            }
            n
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let n = Note::new(text, signatures).map_err(|e| usage(e.to_string()))?;
            let bytes = n.to_bytes();
            crate::core::store::replace_durably(&dir.join(CHECKPOINTS_DIR), &path, &bytes)?;
            return Ok((bytes, true));
        }
        Err(source) => return Err(StoreError::Io { path, source }.into()),
    };
    let mut added = false;
    for sig in signatures {
        let dup = stored
            .signatures()
            .iter()
            .any(|s| s.name() == sig.name() && s.key_id() == sig.key_id());
        if !dup {
            stored
                .push_signature(sig)
                .map_err(|e| usage(e.to_string()))?;
            added = true;
        }
    }
    let bytes = stored.to_bytes();
    if added {
        crate::core::store::replace_durably(&dir.join(CHECKPOINTS_DIR), &path, &bytes)?;
    }
    Ok((bytes, added))
}

/// `ledger checkpoint DIR --key FILE`: signs a checkpoint of the ledger's
/// tree as it is now and stores it in `DIR/checkpoints/<size>` (FORMAT
/// §13.2), adding the signature if that checkpoint is already stored.
pub fn checkpoint(dir: &Path, key: &SigningKey) -> Result<Written, CheckpointError> {
    let mut w = Writer::open(dir)?;
    // A signed statement: the cached tree is checked against the log (and
    // rebuilt if damaged) before its root is signed.
    w.tree()?;
    let (size, root) = w.tree_head();
    let origin = origin(&w.state().ledger);
    let text = Checkpoint::new(&origin, size, root, Vec::new())
        .map_err(|e| usage(e.to_string()))?
        .to_text();
    let sig = note::sign(&text, &origin, key).map_err(|e| usage(e.to_string()))?;
    let (note, added) = store_signatures(dir, size, &text, vec![sig])?;
    Ok(Written {
        path: checkpoint_path(dir, size),
        size,
        root,
        note,
        added,
    })
}

/// `ledger checkpoint DIR --add NOTE`: adds the signatures of a copy of a
/// stored checkpoint (a witness's cosignatures) to the stored one. The
/// checkpoint must be this ledger's and match its tree.
pub fn add_signatures(dir: &Path, bytes: &[u8]) -> Result<Written, CheckpointError> {
    let mut w = Writer::open(dir)?;
    let n = Note::parse(bytes).map_err(|e| usage(format!("--add: {e}")))?;
    let cp = Checkpoint::parse_text(n.text()).map_err(|e| usage(format!("--add: {e}")))?;
    let origin = origin(&w.state().ledger);
    if cp.origin() != origin {
        return Err(usage(format!(
            "--add: the checkpoint is for origin {:?}, not this ledger's {origin:?}",
            cp.origin()
        )));
    }
    let root = with_rebuilt(&mut w, |w| {
        let root = root_at(w, cp.size())?;
        if root != *cp.root() {
            return Err(refuted(format!(
                "--add: the checkpoint's root for size {} does not match this ledger's tree",
                cp.size()
            )));
        }
        Ok(root)
    })?;
    let (note, added) = store_signatures(dir, cp.size(), n.text(), n.signatures().to_vec())?;
    Ok(Written {
        path: checkpoint_path(dir, cp.size()),
        size: cp.size(),
        root,
        note,
        added,
    })
}

/// Runs `f`, and if it finds the evidence does not hold, runs it again
/// once the writer's tree is rebuilt from the log: a damaged cache must
/// not pass for a refuted ledger.
fn with_rebuilt<T>(
    w: &mut Writer,
    mut f: impl FnMut(&mut Writer) -> Result<T, CheckpointError>,
) -> Result<T, CheckpointError> {
    match f(w) {
        Err(CheckpointError::Refuted(_)) => {
            w.rebuild_tree()?;
            f(w)
        }
        other => other,
    }
}

/// The root of the ledger's first `size` events, from the writer's tree.
fn root_at(w: &mut Writer, size: u64) -> Result<Hash, CheckpointError> {
    let (n, _) = w.tree_head();
    if size > n {
        return Err(refuted(format!(
            "the checkpoint is of size {size}, but the ledger has only {n} events"
        )));
    }
    let tree = w.tree()?;
    merkle::tree_hash(size, &tree).map_err(|e| usage(e.to_string()))
}

/// The largest stored checkpoint that parses, with its note's bytes, or an
/// error saying how to make one.
pub(crate) fn latest_stored(dir: &Path) -> Result<(Checkpoint, Vec<u8>), CheckpointError> {
    stored(dir)?
        .into_iter()
        .filter_map(|s| {
            let n = Note::parse(&s.bytes).ok()?;
            let c = Checkpoint::parse_text(n.text()).ok()?;
            Some((c, s.bytes))
        })
        .max_by_key(|(c, _)| c.size())
        .ok_or_else(|| {
            usage(format!(
                "{} has no checkpoint: make one with `ledger checkpoint {} --key FILE`, or give one with --checkpoint",
                dir.display(),
                dir.display()
            ))
        })
}
