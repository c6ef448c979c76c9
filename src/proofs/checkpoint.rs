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
use crate::core::store::StoreError;
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
    /// Why it is not valid (in `--json`, its message).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "problem_message"
    )]
    pub problem: Option<CheckpointProblem>,
    pub signed_by: Vec<String>,
    pub cosigned_by: Vec<Cosigner>,
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
                verified: None,
            };
            let checked = check_note(&s.bytes, Some(origin), log_keys, policy).and_then(|c| {
                let size = c.checkpoint().size();
                if s.file != size.to_string() {
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
            match checked {
                Ok(c) => {
                    report.size = Some(c.checkpoint().size());
                    report.valid = true;
                    report.cosigned_by = c.cosigned_by();
                    report.signed_by = c.signed_by;
                    report.verified = Some(c.verified);
                }
                Err(e) => {
                    report.size = Note::parse(&s.bytes)
                        .ok()
                        .and_then(|n| Checkpoint::parse_text(n.text()).ok())
                        .map(|c| c.size());
                    report.problem = Some(e);
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
pub fn checkpoint(dir: &Path, key: &SigningKey, log_key: bool) -> Result<Written, CheckpointError> {
    let mut w = Writer::open(dir)?;
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
pub fn add_signatures(dir: &Path, bytes: &[u8]) -> Result<Written, CheckpointError> {
    let w = Writer::open(dir)?;
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
    // A signature by a revoked party key would make verify refuse the
    // checkpoint: refused here, before anything is written.
    for (party, record) in w.state().keys.values().map(|r| (r.party.to_string(), r)) {
        let Some(rev) = &record.revoked else { continue };
        let Ok(v) = NoteVerifier::new(&origin, VerifierKind::Ed25519, record.key) else {
            continue;
        };
        let by_it = |sig: &note::NoteSignature| sig.name() == origin && sig.key_id() == v.key_id();
        if n.signatures().iter().any(by_it) {
            return Err(Request::SignerRevoked {
                what: "a signature of the checkpoint given is by",
                party,
                revoked: rev.seq,
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
            Request::NoCheckpoint {
                dir: dir.to_owned(),
            }
            .into()
        })
}
