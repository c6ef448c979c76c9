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

use ciborium::value::Value;

use crate::base::crypto::{PublicKey, SigningKey};
use crate::core::format::{encode_value, Event, FormatError, LedgerId};
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

/// A proof bundle (FORMAT §14): what an auditor keeps and re-checks with
/// nothing else but trusted keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bundle {
    /// Event `index` (whose stored bytes are `event`) is in the tree of
    /// the checkpoint.
    Inclusion {
        index: u64,
        event: Vec<u8>,
        proof: Vec<Hash>,
        checkpoint: Vec<u8>,
    },
    /// The tree of checkpoint `new` extends that of checkpoint `old`.
    Consistency {
        old: Vec<u8>,
        new: Vec<u8>,
        proof: Vec<Hash>,
    },
}

const BUNDLE_VERSION: u64 = 1;

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn hashes(proof: &[Hash]) -> Value {
    Value::Array(proof.iter().map(|h| Value::Bytes(h.to_vec())).collect())
}

impl Bundle {
    /// The deterministic CBOR encoding of FORMAT §14.
    pub fn encode(&self) -> Vec<u8> {
        let mut m = vec![(text("v"), Value::Integer(BUNDLE_VERSION.into()))];
        match self {
            Bundle::Inclusion {
                index,
                event,
                proof,
                checkpoint,
            } => {
                m.push((text("type"), text("inclusion")));
                m.push((text("index"), Value::Integer((*index).into())));
                m.push((text("event"), Value::Bytes(event.clone())));
                m.push((text("proof"), hashes(proof)));
                m.push((text("checkpoint"), Value::Bytes(checkpoint.clone())));
            }
            Bundle::Consistency { old, new, proof } => {
                m.push((text("type"), text("consistency")));
                m.push((text("old"), Value::Bytes(old.clone())));
                m.push((text("new"), Value::Bytes(new.clone())));
                m.push((text("proof"), hashes(proof)));
            }
        }
        encode_value(Value::Map(m))
    }

    /// Decodes a bundle strictly: deterministic CBOR, exactly the fields
    /// of its type, nothing after it.
    pub fn decode(bytes: &[u8]) -> Result<Bundle, CheckpointError> {
        let bad = |s: String| usage(format!("not a proof bundle (FORMAT §14): {s}"));
        if bytes.len() > MAX_BUNDLE_BYTES {
            return Err(bad(format!(
                "{} bytes, more than the {MAX_BUNDLE_BYTES}-byte limit",
                bytes.len()
            )));
        }
        let value = crate::core::format::decode_strict(bytes, "the proof bundle")
            .map_err(|e: FormatError| bad(e.to_string()))?;
        let Value::Map(entries) = value else {
            return Err(bad("expected a map".into()));
        };
        let mut fields: BTreeMap<String, Value> = BTreeMap::new();
        for (k, v) in entries {
            let Value::Text(k) = k else {
                return Err(bad("map keys must be text".into()));
            };
            fields.insert(k, v);
        }
        let mut take = |name: &str| {
            fields
                .remove(name)
                .ok_or_else(|| bad(format!("missing field {name:?}")))
        };
        let uint = |v: Value, name: &str| match v {
            Value::Integer(i) => {
                u64::try_from(i).map_err(|_| bad(format!("{name:?} must be an unsigned integer")))
            }
            _ => Err(bad(format!("{name:?} must be an unsigned integer"))),
        };
        let bstr = |v: Value, name: &str| match v {
            Value::Bytes(b) => Ok(b),
            _ => Err(bad(format!("{name:?} must be a byte string"))),
        };
        let proof = |v: Value| -> Result<Vec<Hash>, CheckpointError> {
            let Value::Array(items) = v else {
                return Err(bad("\"proof\" must be an array".into()));
            };
            if items.len() > 128 {
                return Err(bad("\"proof\" has more than 128 hashes".into()));
            }
            items
                .into_iter()
                .map(|i| match i {
                    Value::Bytes(b) => Hash::try_from(b.as_slice())
                        .map_err(|_| bad("proof hashes must be 32 bytes".into())),
                    _ => Err(bad("proof hashes must be byte strings".into())),
                })
                .collect()
        };
        let v = uint(take("v")?, "v")?;
        if v != BUNDLE_VERSION {
            return Err(bad(format!(
                "version {v}; this ledger reads version {BUNDLE_VERSION}"
            )));
        }
        let kind = match take("type")? {
            Value::Text(t) => t,
            _ => return Err(bad("\"type\" must be text".into())),
        };
        let bundle = match kind.as_str() {
            "inclusion" => Bundle::Inclusion {
                index: uint(take("index")?, "index")?,
                event: bstr(take("event")?, "event")?,
                proof: proof(take("proof")?)?,
                checkpoint: bstr(take("checkpoint")?, "checkpoint")?,
            },
            "consistency" => Bundle::Consistency {
                old: bstr(take("old")?, "old")?,
                new: bstr(take("new")?, "new")?,
                proof: proof(take("proof")?)?,
            },
            other => return Err(bad(format!("unknown type {other:?}"))),
        };
        if let Some(extra) = fields.keys().next() {
            return Err(bad(format!("unknown field {extra:?}")));
        }
        Ok(bundle)
    }
}

/// `ledger prove DIR --event N`: the inclusion proof of event `index` in
/// the tree of `checkpoint` (default: the largest stored one), checked
/// before it is returned.
pub fn prove_event(
    dir: &Path,
    index: u64,
    checkpoint: Option<Vec<u8>>,
) -> Result<Bundle, CheckpointError> {
    let mut w = Writer::open(dir)?;
    let note_bytes = match checkpoint {
        Some(b) => b,
        None => latest_stored(dir)?.1,
    };
    let origin = origin(&w.state().ledger);
    let cp = parse_for(&note_bytes, &origin)?;
    let size = cp.size();
    if index >= size {
        return Err(usage(format!(
            "event {index} is not in the checkpoint, whose tree has {size} events (0 to {})",
            size.saturating_sub(1)
        )));
    }
    let (event, proof) = with_rebuilt(&mut w, |w| {
        if root_at(w, size)? != *cp.root() {
            return Err(refuted(format!(
                "the checkpoint of size {size} does not match this ledger's first {size} events"
            )));
        }
        let tree = w.tree()?;
        let proof =
            merkle::prove_inclusion(size, index, &tree).map_err(|e| refuted(e.to_string()))?;
        // Refuted, so that a damaged cache index is rebuilt and retried.
        let event = w
            .event_bytes(&tree, index)
            .map_err(|e| refuted(e.to_string()))?;
        let decoded = Event::decode(&event).map_err(|e| refuted(e.to_string()))?;
        merkle::verify_inclusion(index, size, &decoded.leaf_hash(), &proof, cp.root())
            .map_err(|e| refuted(format!("the proof does not check out: {e}")))?;
        Ok((event, proof))
    })?;
    Ok(Bundle::Inclusion {
        index,
        event,
        proof,
        checkpoint: note_bytes,
    })
}

fn parse_for(bytes: &[u8], origin: &str) -> Result<Checkpoint, CheckpointError> {
    let n = Note::parse(bytes).map_err(|e| usage(format!("checkpoint: {e}")))?;
    let cp = Checkpoint::parse_text(n.text()).map_err(|e| usage(format!("checkpoint: {e}")))?;
    if cp.origin() != origin {
        return Err(usage(format!(
            "the checkpoint is for origin {:?}, not this ledger's {origin:?}",
            cp.origin()
        )));
    }
    Ok(cp)
}

/// `ledger prove DIR --from OLD`: the consistency proof from checkpoint
/// `old` to `new` (default: the largest stored one). Refuted if `old` is
/// not a checkpoint of this ledger's history: the split view a consistency
/// proof exists to expose.
pub fn prove_growth(
    dir: &Path,
    old: Vec<u8>,
    new: Option<Vec<u8>>,
) -> Result<Bundle, CheckpointError> {
    let mut w = Writer::open(dir)?;
    let new = match new {
        Some(b) => b,
        None => latest_stored(dir)?.1,
    };
    let origin = origin(&w.state().ledger);
    let (o, n) = (parse_for(&old, &origin)?, parse_for(&new, &origin)?);
    if o.size() > n.size() {
        return Err(usage(format!(
            "the old checkpoint (size {}) is larger than the new one (size {})",
            o.size(),
            n.size()
        )));
    }
    let proof = with_rebuilt(&mut w, |w| {
        for (which, cp) in [("old", &o), ("new", &n)] {
            if root_at(w, cp.size())? != *cp.root() {
                return Err(refuted(format!(
                    "the {which} checkpoint (size {}) is not of this ledger's history: its root differs from that of the ledger's first {} events",
                    cp.size(),
                    cp.size()
                )));
            }
        }
        let tree = w.tree()?;
        let proof = merkle::prove_consistency(o.size(), n.size(), &tree)
            .map_err(|e| refuted(e.to_string()))?;
        merkle::verify_consistency(o.size(), n.size(), o.root(), n.root(), &proof)
            .map_err(|e| refuted(format!("the proof does not check out: {e}")))?;
        Ok(proof)
    })?;
    Ok(Bundle::Consistency { old, new, proof })
}

/// The C2SP tlog-witness `add-checkpoint` request for `checkpoint`
/// (default: the largest stored one), from a witness that holds size `old`.
pub fn witness_request(
    dir: &Path,
    old: u64,
    checkpoint: Option<Vec<u8>>,
) -> Result<Vec<u8>, CheckpointError> {
    let mut w = Writer::open(dir)?;
    let bytes = match checkpoint {
        Some(b) => b,
        None => latest_stored(dir)?.1,
    };
    let origin = origin(&w.state().ledger);
    let cp = parse_for(&bytes, &origin)?;
    if old > cp.size() {
        return Err(usage(format!(
            "--old {old} is larger than the checkpoint's size {}",
            cp.size()
        )));
    }
    let proof = with_rebuilt(&mut w, |w| {
        if root_at(w, cp.size())? != *cp.root() {
            return Err(refuted(format!(
                "the checkpoint of size {} does not match this ledger",
                cp.size()
            )));
        }
        let tree = w.tree()?;
        merkle::prove_consistency(old, cp.size(), &tree).map_err(|e| refuted(e.to_string()))
    })?;
    crate::tlog::witness::AddCheckpoint {
        old,
        proof,
        checkpoint: bytes,
    }
    .to_bytes()
    .map_err(|e| usage(e.to_string()))
}

/// What a checked bundle proves.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Proven {
    /// "inclusion" or "consistency".
    pub kind: &'static str,
    pub origin: String,
    /// The checkpoint proven against (the new one, for consistency).
    pub size: u64,
    pub root: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<ProvenEvent>,
    pub signed_by: Vec<String>,
    pub cosigned_by: Vec<Cosigner>,
}

/// The event of an inclusion bundle.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProvenEvent {
    pub index: u64,
    pub hash: String,
    pub kind: &'static str,
    pub author: String,
    pub time: String,
    /// The trusted key that signed it.
    pub key: String,
}

/// `ledger check-proof BUNDLE`: checks a bundle with nothing but trusted
/// keys (`trusted`: parties' and log keys, by label) and, optionally, a
/// witness policy whose quorum must cosign.
pub fn check_bundle(
    bytes: &[u8],
    trusted: &[(String, PublicKey)],
    policy: Option<&WitnessPolicy>,
) -> Result<Proven, CheckpointError> {
    let cosigners = |c: &Checked| {
        c.cosigned_by
            .iter()
            .map(|(witness, time)| Cosigner {
                witness: witness.clone(),
                time: *time,
            })
            .collect()
    };
    match Bundle::decode(bytes)? {
        Bundle::Inclusion {
            index,
            event,
            proof,
            checkpoint,
        } => {
            let ev =
                Event::decode(&event).map_err(|e| refuted(format!("the bundle's event: {e}")))?;
            let origin = origin(&ev.body.ledger);
            let c = check_note(&checkpoint, Some(&origin), trusted, policy)?;
            if let Some(p) = policy {
                require_quorum(&c, p)?;
            }
            if ev.body.seq != index {
                return Err(refuted(format!(
                    "the bundle says index {index}, but its event is number {} of its ledger",
                    ev.body.seq
                )));
            }
            merkle::verify_inclusion(
                index,
                c.checkpoint.size(),
                &ev.leaf_hash(),
                &proof,
                c.checkpoint.root(),
            )
            .map_err(|e| {
                refuted(format!(
                    "event {index} is not proven to be in the checkpoint of size {}: {e}",
                    c.checkpoint.size()
                ))
            })?;
            let (label, _) = trusted
                .iter()
                .find(|(_, k)| k.fingerprint() == ev.kid)
                .ok_or_else(|| {
                    refuted(format!(
                        "event {index} is signed by key {} (fingerprint), which is not among the trusted keys",
                        hex::encode(ev.kid)
                    ))
                })
                .and_then(|(l, k)| {
                    if k.verify_strict(&ev.to_be_signed(), &ev.signature) {
                        Ok((l, k))
                    } else {
                        Err(refuted(format!(
                            "event {index}: the signature does not verify with key {l}"
                        )))
                    }
                })?;
            Ok(Proven {
                kind: "inclusion",
                origin,
                size: c.checkpoint.size(),
                root: hex::encode(c.checkpoint.root()),
                old_size: None,
                event: Some(ProvenEvent {
                    index,
                    hash: ev.hash().to_string(),
                    kind: ev.body.kind.name(),
                    author: ev.body.author.to_string(),
                    time: ev.body.time.to_string(),
                    key: label.clone(),
                }),
                signed_by: c.signed_by.clone(),
                cosigned_by: cosigners(&c),
            })
        }
        Bundle::Consistency { old, new, proof } => {
            let o = check_note(&old, None, trusted, None)?;
            let n = check_note(&new, Some(o.checkpoint.origin()), trusted, policy)?;
            if let Some(p) = policy {
                require_quorum(&n, p)?;
            }
            merkle::verify_consistency(
                o.checkpoint.size(),
                n.checkpoint.size(),
                o.checkpoint.root(),
                n.checkpoint.root(),
                &proof,
            )
            .map_err(|e| {
                refuted(format!(
                    "the checkpoint of size {} is not proven to extend that of size {}: {e}",
                    n.checkpoint.size(),
                    o.checkpoint.size()
                ))
            })?;
            Ok(Proven {
                kind: "consistency",
                origin: o.checkpoint.origin().to_owned(),
                size: n.checkpoint.size(),
                root: hex::encode(n.checkpoint.root()),
                old_size: Some(o.checkpoint.size()),
                event: None,
                signed_by: n.signed_by.clone(),
                cosigned_by: cosigners(&n),
            })
        }
    }
}
