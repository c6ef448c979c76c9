//! What an auditor can hold instead of the whole log (FORMAT §12-§14, §16):
//! signed checkpoints of the ledger's Merkle tree, stored in
//! `DIR/checkpoints/`, and proof bundles that show an event is in a
//! checkpointed tree or that one checkpoint extends another.
//!
//! The Merkle arithmetic is [`crate::tlog::merkle`]'s, the note and checkpoint
//! text [`crate::tlog::note`]'s, and so are the one checkpoint verifier and
//! quorum check ([`CosignedCheckpoint`]); this module ties them to a ledger:
//! its origin, its keys (by label), where checkpoints live, and how a
//! stored checkpoint checks against the replayed tree. Its errors are
//! [`crate::proofs::error`]'s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::base::crypto::{PublicKey, SigningKey};
use crate::core::replay::{KeyRecord, KeyRing};
use crate::core::store::{LockWait, StoreError};
use crate::core::verify::CheckpointProblem;
use crate::core::writer::Writer;
use crate::proofs::error::{CheckpointError, LedgerProblem, Request};
use crate::tlog::merkle::Hash;
use crate::tlog::note::{
    self, Checkpoint, CosignedCheckpoint, Note, NoteError, NoteVerifier, VerifierKind,
    WitnessPolicy,
};

/// The directory of a ledger's signed checkpoints, one file per tree size
/// (FORMAT §2, §13.2).
pub const CHECKPOINTS_DIR: &str = "checkpoints";
/// The suffix of a stored timestamp token's file name (FORMAT §17.2).
pub const TOKEN_SUFFIX: &str = ".tsr";
/// The largest proof bundle read (FORMAT §14).
pub const MAX_BUNDLE_BYTES: usize = 4 << 20;
/// The largest checkpoint file read.
const MAX_CHECKPOINT_BYTES: u64 = note::MAX_NOTE_BYTES as u64;

/// `checkpoints/<size>`: where the checkpoint of a size is stored, relative
/// to the ledger directory.
pub(crate) fn stored_file(size: u64) -> String {
    format!("{CHECKPOINTS_DIR}/{size}")
}

pub use crate::proofs::index::origin;

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

/// A checkpoint note checked by [`check_note`]: the note-level result,
/// and which of the ledger's keys (by label) signed it.
#[derive(Debug, Clone)]
pub struct Checked {
    /// What [`CosignedCheckpoint::verify_note`] found.
    pub verified: CosignedCheckpoint,
    /// Labels of the log keys whose signatures verified (every label of a
    /// key given under several).
    pub signed_by: Vec<String>,
}

impl Checked {
    pub fn checkpoint(&self) -> &Checkpoint {
        self.verified.checkpoint()
    }

    /// The witnesses (of the policy) whose cosignatures verified, with
    /// the time each stated.
    pub fn cosigned_by(&self) -> Vec<Cosigner> {
        self.verified
            .cosigners()
            .iter()
            .map(|v| Cosigner {
                witness: v.verifier().name().to_owned(),
                time: v.timestamp().unwrap_or(0),
            })
            .collect()
    }
}

/// Parses and checks one checkpoint note with the one checkpoint verifier
/// ([`CosignedCheckpoint::verify_note`]): its origin must be `origin` (if
/// given) and at least one of `log_keys` (Ed25519 keys named by the
/// checkpoint's origin, FORMAT §13.1) must have signed it; every signature
/// by a log key or a witness of `policy` must verify.
pub fn check_note(
    bytes: &[u8],
    origin: Option<&str>,
    log_keys: &[(String, PublicKey)],
    policy: Option<&WitnessPolicy>,
) -> Result<Checked, CheckpointProblem> {
    let note = Note::parse(bytes).map_err(CheckpointProblem::Note)?;
    let checkpoint = Checkpoint::parse_text(note.text()).map_err(CheckpointProblem::Note)?;
    if let Some(o) = origin {
        if checkpoint.origin() != o {
            return Err(CheckpointProblem::Origin {
                found: checkpoint.origin().to_owned(),
                expected: o.to_owned(),
            });
        }
    }
    let logs = log_verifiers(
        checkpoint.origin(),
        log_keys.iter().map(|(l, k)| (l.as_str(), k)),
    );
    let verifiers: Vec<NoteVerifier> = logs.iter().map(|(_, v)| v.clone()).collect();
    let signatures = note.signatures().len();
    let verified =
        CosignedCheckpoint::verify_note(note, &verifiers, policy).map_err(|e| match e {
            NoteError::NoVerifiedSignature { .. } => CheckpointProblem::Untrusted {
                size: checkpoint.size(),
                signatures,
                trusted: log_keys.len(),
                origin: checkpoint.origin().to_owned(),
            },
            e => CheckpointProblem::Note(e),
        })?;
    let signed_by = logs
        .iter()
        .filter(|(_, v)| verified.signers().contains(v))
        .map(|(l, _)| l.clone())
        .collect();
    Ok(Checked {
        verified,
        signed_by,
    })
}

/// Whether a checked checkpoint meets a witness policy: the note-level
/// check ([`CosignedCheckpoint::quorum`]), as a checkpoint problem.
pub fn require_quorum(c: &Checked, policy: &WitnessPolicy) -> Result<(), CheckpointProblem> {
    c.verified.quorum(policy).map_err(CheckpointProblem::Quorum)
}

/// Whether `record`'s key may sign a checkpoint of size `size` (FORMAT
/// §13.1): it was current after the ledger's first `size` events, that is,
/// it was introduced by one of them and none of them rotated it out,
/// revoked it or removed its party. What became of it later does not
/// matter; the same test decides which keys could sign event `size`
/// (FORMAT §6.5).
pub fn may_sign(record: &KeyRecord, size: u64) -> bool {
    let after = |at: Option<u64>| at.is_none_or(|at| at >= size);
    record.added < size
        && after(record.rotated_out)
        && after(record.revoked.as_ref().map(|r| r.seq))
        && after(record.removed)
}

/// The party keys that may sign a checkpoint of size `size` (FORMAT
/// §13.1), labelled by their party.
pub fn party_keys_at(keys: &KeyRing, size: u64) -> Vec<(String, PublicKey)> {
    keys.values()
        .filter(|r| may_sign(r, size))
        .map(|r| (r.party.to_string(), r.key))
        .collect()
}

/// An entry of `DIR/checkpoints/` (or that directory itself) that cannot
/// be read as a checkpoint file: `file` is relative to the ledger
/// directory (FORMAT §13.2).
#[derive(Debug, Clone)]
pub struct Unreadable {
    pub file: String,
    pub problem: CheckpointProblem,
}

fn unreadable(reason: impl Into<String>) -> CheckpointProblem {
    CheckpointProblem::Unreadable {
        reason: reason.into(),
    }
}

/// The names of the checkpoint files in `DIR/checkpoints/` (none if it
/// does not exist), sorted by name; names beginning with `.` are temporary
/// files, not checkpoints (FORMAT §13.2), and timestamp tokens
/// (`<size>.tsr`, FORMAT §17.2) are listed by [`stored_tokens`]. Nothing is read: see
/// [`read_stored`]. A `checkpoints` that is not a directory is refused.
pub fn stored(dir: &Path) -> Result<Vec<String>, Unreadable> {
    let cdir = dir.join(CHECKPOINTS_DIR);
    let whole = |problem| Unreadable {
        file: CHECKPOINTS_DIR.to_owned(),
        problem,
    };
    match std::fs::symlink_metadata(&cdir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(whole(unreadable(format!("cannot be read: {e}")))),
        Ok(m) if m.file_type().is_symlink() => {
            return Err(whole(unreadable("is a symbolic link, not a directory")))
        }
        Ok(m) if !m.is_dir() => return Err(whole(unreadable("is not a directory"))),
        Ok(_) => {}
    }
    let entries =
        std::fs::read_dir(&cdir).map_err(|e| whole(unreadable(format!("cannot be read: {e}"))))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| whole(unreadable(format!("cannot be read: {e}"))))?;
        let file = entry.file_name().to_string_lossy().into_owned();
        // A timestamp token (FORMAT §17.2) is checked by
        // `proofs::timestamp`, not as a checkpoint.
        if !file.starts_with('.') && token_name(&file).is_none() {
            out.push(file);
        }
    }
    // By number where the name is one, so that size 9 comes before size 10.
    let size = |f: &str| f.parse::<u64>().ok();
    out.sort_by(|a, b| match (size(a), size(b)) {
        (Some(x), Some(y)) => x.cmp(&y).then_with(|| a.cmp(b)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(b),
    });
    Ok(out)
}

/// Which checkpoint a token file is for, and its place among that
/// checkpoint's tokens: `<size>.tsr` is the first (k = 1), `<size>.<k>.tsr`
/// the k-th (k ≥ 2, decimal without a leading zero). Anything else is not
/// a token name.
pub fn token_name(file: &str) -> Option<(u64, u64)> {
    let stem = file.strip_suffix(TOKEN_SUFFIX)?;
    let canonical = |s: &str| -> Option<u64> {
        let n: u64 = s.parse().ok()?;
        (n.to_string() == s).then_some(n)
    };
    match stem.split_once('.') {
        None => Some((canonical(stem)?, 1)),
        Some((size, k)) => {
            let k = canonical(k).filter(|k| *k >= 2)?;
            Some((canonical(size)?, k))
        }
    }
}

/// The names of the timestamp tokens in `DIR/checkpoints/` (FORMAT §17.2),
/// sorted by checkpoint size and then k; none if it does not exist or
/// cannot be listed ([`stored`] reports that).
pub fn stored_tokens(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir.join(CHECKPOINTS_DIR)) else {
        return Vec::new();
    };
    let mut out: Vec<(u64, u64, String)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let f = e.file_name().to_string_lossy().into_owned();
            token_name(&f).map(|(s, k)| (s, k, f))
        })
        .collect();
    out.sort();
    out.into_iter().map(|(_, _, f)| f).collect()
}

/// Reads `DIR/checkpoints/<file>`: a regular file, opened without
/// following a link or waiting on a FIFO, and read only up to one byte
/// more than a note may have (FORMAT §13.2, §13.3 rule 6), so that a
/// larger one is refused by the note's parser without being read whole.
pub fn read_stored(dir: &Path, file: &str) -> Result<Vec<u8>, CheckpointProblem> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(CHECKPOINTS_DIR).join(file);
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(&path)
        .map_err(|e| {
            if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                unreadable("is a symbolic link, not a checkpoint file")
            } else {
                unreadable(format!("cannot be read: {e}"))
            }
        })?;
    let meta = f
        .metadata()
        .map_err(|e| unreadable(format!("cannot be read: {e}")))?;
    if !meta.is_file() {
        let what = if meta.is_dir() {
            "a directory"
        } else {
            "not a regular file"
        };
        return Err(unreadable(format!("is {what}, not a checkpoint file")));
    }
    let mut bytes = Vec::new();
    f.take(MAX_CHECKPOINT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| unreadable(format!("cannot be read: {e}")))?;
    Ok(bytes)
}

/// The tree sizes the stored checkpoints' names say, so that a replay can
/// keep the root at each of them (a checkpoint whose name is not its size
/// is refused anyway, FORMAT §13.2).
pub fn sizes(stored: &[String]) -> std::collections::BTreeSet<u64> {
    stored
        .iter()
        .filter_map(|f| f.parse::<u64>().ok().filter(|n| n.to_string() == *f))
        .collect()
}

/// What `verify` found about one stored checkpoint.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckpointReport {
    pub file: String,
    pub size: Option<u64>,
    pub valid: bool,
    /// Why it is not valid (in `--json`, its message).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "problem_message"
    )]
    pub problem: Option<CheckpointProblem>,
    pub signed_by: Vec<String>,
    pub cosigned_by: Vec<Cosigner>,
    /// Under a witness policy, whether this valid checkpoint meets its
    /// quorum (absent without a policy, or if not valid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub witnessed: Option<bool>,
    /// The note-level verification, if the checkpoint is valid: what the
    /// witness quorum is checked on.
    #[serde(skip)]
    pub verified: Option<CosignedCheckpoint>,
}

fn problem_message<S: serde::Serializer>(
    p: &Option<CheckpointProblem>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match p {
        Some(p) => s.collect_str(p),
        None => s.serialize_none(),
    }
}

/// A witness's cosignature on a checkpoint.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Cosigner {
    pub witness: String,
    /// POSIX seconds, as the witness stated.
    pub time: u64,
}

/// Checks every stored checkpoint (named by [`stored`]) against the
/// replayed tree, reading one file at a time: `roots` holds the root at
/// each size [`sizes`] named, `count` is the ledger's size, `party_keys`
/// the party keys that may sign a checkpoint of a size (FORMAT §13.1,
/// [`party_keys_at`]) and `log_keys` the dedicated log keys. Only the
/// largest valid checkpoint keeps its note-level result (`verified`),
/// which is what a witness quorum is checked on.
#[allow(clippy::too_many_arguments)]
pub fn check_stored(
    dir: &Path,
    stored: &[String],
    origin: &str,
    roots: &BTreeMap<u64, Hash>,
    count: u64,
    party_keys: &dyn Fn(u64) -> Vec<(String, PublicKey)>,
    log_keys: &[(String, PublicKey)],
    policy: Option<&WitnessPolicy>,
) -> Vec<CheckpointReport> {
    let mut out: Vec<CheckpointReport> = Vec::with_capacity(stored.len());
    let mut largest: Option<(u64, usize)> = None;
    for file in stored {
        let mut report = CheckpointReport {
            file: file.clone(),
            size: None,
            valid: false,
            problem: None,
            signed_by: Vec::new(),
            cosigned_by: Vec::new(),
            witnessed: None,
            verified: None,
        };
        let bytes = read_stored(dir, file);
        // The size the checkpoint claims, if it parses: its signers are
        // judged by the ledger's keys at that size.
        let claimed = bytes
            .as_ref()
            .ok()
            .and_then(|b| Note::parse(b).ok())
            .and_then(|n| Checkpoint::parse_text(n.text()).ok())
            .map(|c| c.size());
        let checked = bytes.and_then(|bytes| {
            let mut keys = claimed.map(party_keys).unwrap_or_default();
            keys.extend(log_keys.iter().cloned());
            let c = check_note(&bytes, Some(origin), &keys, policy)?;
            let size = c.checkpoint().size();
            if *file != size.to_string() {
                return Err(CheckpointProblem::Misfiled { size });
            }
            if size > count {
                return Err(CheckpointProblem::RolledBack { size, count });
            }
            match roots.get(&size) {
                Some(root) if root == c.checkpoint().root() => Ok(c),
                Some(root) => Err(CheckpointProblem::SplitView {
                    size,
                    checkpoint: *c.checkpoint().root(),
                    ledger: *root,
                }),
                None => Err(CheckpointProblem::NoRoot { size }),
            }
        });
        report.size = claimed;
        match checked {
            Ok(c) => {
                let size = c.checkpoint().size();
                report.valid = true;
                report.witnessed = policy.map(|p| c.verified.quorum(p).is_ok());
                report.cosigned_by = c.cosigned_by();
                report.signed_by = c.signed_by;
                match largest {
                    Some((s, _)) if s >= size => {}
                    _ => {
                        if let Some((_, i)) = largest {
                            out[i].verified = None;
                        }
                        report.verified = Some(c.verified);
                        largest = Some((size, out.len()));
                    }
                }
            }
            Err(e) => report.problem = Some(e),
        }
        out.push(report);
    }
    out
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
    // Read as verify reads it (FORMAT §2): a regular file, not a link
    // followed or a FIFO waited on, at most a note's size.
    let existing = match std::fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(
            read_stored(dir, &size.to_string()).map_err(|p| StoreError::Io {
                path: path.clone(),
                source: std::io::Error::other(p.to_string()),
            })?,
        ),
    };
    let mut stored = match existing {
        Ok(bytes) => {
            let n = Note::parse(&bytes).map_err(|source| LedgerProblem::StoredInvalid {
                file: stored_file(size),
                size,
                source,
            })?;
            if n.text() != text {
                return Err(LedgerProblem::StoredDiffers {
                    file: stored_file(size),
                    size,
                }
                .into());
            }
            n
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let n = Note::new(text, signatures).map_err(Request::Note)?;
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
            stored.push_signature(sig).map_err(Request::Note)?;
            added = true;
        }
    }
    let bytes = stored.to_bytes();
    let tokens: Vec<String> = stored_tokens(dir)
        .into_iter()
        .filter(|t| token_name(t).is_some_and(|(s, _)| s == size))
        .collect();
    if added && !tokens.is_empty() {
        // FORMAT §17.2: a token stamps the file's exact bytes.
        return Err(Request::Timestamped {
            file: stored_file(size),
            tokens: tokens.join(", "),
        }
        .into());
    }
    if added {
        crate::core::store::replace_durably(&dir.join(CHECKPOINTS_DIR), &path, &bytes)?;
    }
    Ok((bytes, added))
}

/// `ledger checkpoint DIR --key FILE`: signs a checkpoint of the ledger's
/// tree as it is now and stores it in `DIR/checkpoints/<size>` (FORMAT
/// §13.2), adding the signature if that checkpoint is already stored.
///
/// The key must be a key of a party that was not revoked (FORMAT §13.1),
/// or, with `log_key`, a dedicated log key that verifiers are given
/// separately: anything else would make `verify` refuse the ledger.
/// It waits for another writer's lock as `wait` says, telling `waiting`
/// once, after a second, who holds it ([`Writer::open_waiting`]).
pub fn checkpoint(
    dir: &Path,
    key: &SigningKey,
    log_key: bool,
    wait: LockWait,
    waiting: &mut dyn FnMut(Option<u32>),
) -> Result<Written, CheckpointError> {
    let mut w = Writer::open_waiting(dir, wait, waiting)?;
    let me = key.public();
    match w.state().key_record(&me) {
        Some(r) => {
            if let Some(rev) = &r.revoked {
                return Err(Request::SignerRevoked {
                    what: "the signing key is",
                    party: r.party.to_string(),
                    revoked: rev.seq,
                }
                .into());
            }
            // FORMAT §13.1: the checkpoint is of the ledger as it is now,
            // and only a key current now may sign it.
            if !r.is_current() {
                return Err(Request::SignerNotCurrent {
                    what: "the signing key is",
                    party: r.party.to_string(),
                    size: w.state().count,
                    status: r.status(),
                }
                .into());
            }
        }
        None if !log_key => {
            return Err(Request::SignerNotAParty {
                fingerprint: me.fingerprint().to_string(),
            }
            .into())
        }
        None => {}
    }
    // A signed statement: the cached tree is checked against the log (and
    // rebuilt if damaged) before its root is signed.
    w.tree()?;
    let (size, root) = w.tree_head();
    let origin = origin(&w.state().ledger);
    let text = Checkpoint::new(&origin, size, root, Vec::new())
        .map_err(Request::Note)?
        .to_text();
    let sig = note::sign(&text, &origin, key).map_err(Request::Note)?;
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
/// It waits for the lock as [`checkpoint`] does.
pub fn add_signatures(
    dir: &Path,
    bytes: &[u8],
    wait: LockWait,
    waiting: &mut dyn FnMut(Option<u32>),
) -> Result<Written, CheckpointError> {
    let w = Writer::open_waiting(dir, wait, waiting)?;
    let add = |e: NoteError| Request::Add(CheckpointProblem::Note(e));
    let n = Note::parse(bytes).map_err(add)?;
    let cp = Checkpoint::parse_text(n.text()).map_err(add)?;
    let origin = origin(&w.state().ledger);
    if cp.origin() != origin {
        return Err(Request::Add(CheckpointProblem::Origin {
            found: cp.origin().to_owned(),
            expected: origin,
        })
        .into());
    }
    // The root at that size from the log itself, not from the cache's
    // tree, whose inner nodes the writer's check does not cover.
    let root = crate::proofs::index::TreeIndex::read(dir)?.root_at(cp.size())?;
    if root != *cp.root() {
        return Err(LedgerProblem::AddedRootDiffers { size: cp.size() }.into());
    }
    // FORMAT §13.1: of the signatures this adds (those not on the stored
    // note already), none may be by a revoked party key (a new signature
    // by a key that may be in someone else's hands), nor by a party key
    // that was not current at the checkpoint's size, which verify would
    // not count.
    let already: Vec<(String, u32)> = read_stored(dir, &cp.size().to_string())
        .ok()
        .and_then(|b| Note::parse(&b).ok())
        .map(|s| {
            s.signatures()
                .iter()
                .map(|g| (g.name().to_owned(), g.key_id()))
                .collect()
        })
        .unwrap_or_default();
    for record in w.state().keys.values() {
        let party = record.party.to_string();
        let Ok(v) = NoteVerifier::new(&origin, VerifierKind::Ed25519, record.key) else {
            continue;
        };
        let by_it = |sig: &&note::NoteSignature| {
            sig.name() == origin
                && sig.key_id() == v.key_id()
                && !already.contains(&(sig.name().to_owned(), sig.key_id()))
        };
        if !n.signatures().iter().any(|s| by_it(&s)) {
            continue;
        }
        if let Some(rev) = &record.revoked {
            return Err(Request::SignerRevoked {
                what: "a signature of the checkpoint given is by",
                party,
                revoked: rev.seq,
            }
            .into());
        }
        if !may_sign(record, cp.size()) {
            return Err(Request::SignerNotCurrent {
                what: "a signature of the checkpoint given is by",
                party,
                size: cp.size(),
                status: if record.added >= cp.size() {
                    format!("introduced at event {}", record.added)
                } else {
                    record.status()
                },
            }
            .into());
        }
    }
    let (note, added) = store_signatures(dir, cp.size(), n.text(), n.signatures().to_vec())?;
    Ok(Written {
        path: checkpoint_path(dir, cp.size()),
        size: cp.size(),
        root,
        note,
        added,
    })
}

/// The largest stored checkpoint that parses, with its note's bytes, or an
/// error saying how to make one. Files are read one at a time (see
/// [`read_stored`]); one that cannot be read is passed over like one that
/// does not parse.
pub(crate) fn latest_stored(dir: &Path) -> Result<(Checkpoint, Vec<u8>), CheckpointError> {
    let names = stored(dir).map_err(|u| StoreError::Io {
        path: dir.join(&u.file),
        source: std::io::Error::other(u.problem.to_string()),
    })?;
    let mut best: Option<(Checkpoint, Vec<u8>)> = None;
    for name in names {
        let Ok(bytes) = read_stored(dir, &name) else {
            continue;
        };
        let Ok(n) = Note::parse(&bytes) else { continue };
        let Ok(c) = Checkpoint::parse_text(n.text()) else {
            continue;
        };
        if best.as_ref().is_none_or(|(b, _)| c.size() > b.size()) {
            best = Some((c, bytes));
        }
    }
    best.ok_or_else(|| {
        Request::NoCheckpoint {
            dir: dir.to_owned(),
        }
        .into()
    })
}
