//! A file-based checkpoint witness: the add-checkpoint semantics of
//! c2sp.org/tlog-witness without the HTTP (docs/FORMAT.md, "Witness").
//!
//! This module owns the add-checkpoint request body (strict parse and
//! format), the witness's per-origin state on disk, and the decision to
//! cosign. The state of an origin is one file in the state directory, named
//! by the lowercase hex SHA-256 of the origin (the spec's "origin hash"),
//! holding the latest cosigned checkpoint note: the log's verified
//! signatures and this witness's cosignature, which is exactly what the
//! spec's monitoring endpoint serves.
//!
//! What it must never do: cosign a checkpoint that is not consistent with
//! the one it cosigned before for that origin, or let two concurrent
//! requests roll the state back. The check and the write happen under the
//! origin's exclusive lock (`<origin hash>.lock` in the state directory:
//! one log's requests are serialised, different logs' are not), and the
//! state is replaced
//! atomically and durably (temporary file in the same directory, fsync,
//! rename, fsync of the directory) before a cosignature is returned.

use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::base::crypto::SigningKey;
use crate::tlog::merkle::{empty_root, verify_consistency, ProofError};
use crate::tlog::note::{
    self, decode_hash, encode_base64, parse_decimal, Checkpoint, Note, NoteError, NoteSignature,
    NoteVerifier, VerifierKind, MAX_NOTE_BYTES,
};

/// The most consistency-proof lines a request may carry (tlog-witness: "The
/// client MUST NOT send more than 63"; a proof in a tree of fewer than 2^64
/// leaves never needs more).
pub const MAX_PROOF_LINES: usize = 63;

/// The largest request body: the `old` line, 63 proof lines of 45 bytes, the
/// blank line and a note of at most [`MAX_NOTE_BYTES`].
pub const MAX_REQUEST_BYTES: usize = 25 + MAX_PROOF_LINES * 45 + 1 + MAX_NOTE_BYTES;

/// The lock file of an origin's state is its state file's name with this
/// suffix.
const LOCK_SUFFIX: &str = ".lock";

/// Why the witness did not cosign. [`WitnessError::status`] gives the HTTP
/// status tlog-witness assigns to each case.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessError {
    #[error("add-checkpoint request: {reason}")]
    BadRequest { reason: String },
    #[error("add-checkpoint request: the checkpoint is malformed: {source}")]
    BadCheckpoint { source: NoteError },
    #[error("no trusted log key for origin {origin:?}; this witness does not know that log")]
    UnknownOrigin { origin: String },
    #[error(
        "the checkpoint for {origin:?} carries no valid signature by a trusted log key: {source}"
    )]
    Untrusted { origin: String, source: NoteError },
    #[error("the old size {old} is larger than the checkpoint's size {size}")]
    OldAfterNew { old: u64, size: u64 },
    #[error("the old size is {old}, but the latest checkpoint this witness cosigned for {origin:?} has size {latest}")]
    Conflict {
        origin: String,
        old: u64,
        latest: u64,
    },
    #[error("the checkpoint for {origin:?} has size {size}, as the one this witness cosigned, but root {} where that one has {}", hex::encode(found), hex::encode(expected))]
    SplitView {
        origin: String,
        size: u64,
        expected: [u8; 32],
        found: [u8; 32],
    },
    #[error(
        "a checkpoint of size 0 must have the empty tree's root {}; found {}",
        hex::encode(empty_root()),
        hex::encode(found)
    )]
    EmptyTreeRoot { origin: String, found: [u8; 32] },
    #[error(
        "the consistency proof from size {old} to {size} for {origin:?} does not verify: {source}"
    )]
    BadProof {
        origin: String,
        old: u64,
        size: u64,
        // Boxed: a root mismatch carries two hashes, and clippy keeps
        // `Result<_, WitnessError>` small.
        source: Box<ProofError>,
    },
    #[error("witness configuration: {reason}")]
    Config { reason: String },
    #[error(
        "the witness clock gives timestamp {now}; a cosignature needs one between 1 and 2^63-1"
    )]
    Clock { now: u64 },
    #[error("witness state {path} is corrupt: {reason}")]
    CorruptState { path: PathBuf, reason: String },
    #[error("cannot cosign: {source}")]
    Cosign { source: NoteError },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl WitnessError {
    /// The HTTP status tlog-witness gives this outcome: 400 malformed or old
    /// larger than new, 403 no trusted signature (or a bad one), 404 unknown
    /// origin, 409 old size not the latest, 422 bad proof, wrong empty-tree
    /// root, or same size with another root (422 since C2SP/C2SP#280; it was
    /// 409 before), 500 the witness's own failure.
    pub fn status(&self) -> u16 {
        match self {
            WitnessError::BadRequest { .. }
            | WitnessError::BadCheckpoint { .. }
            | WitnessError::OldAfterNew { .. } => 400,
            WitnessError::Untrusted { .. } => 403,
            WitnessError::UnknownOrigin { .. } => 404,
            WitnessError::Conflict { .. } => 409,
            WitnessError::SplitView { .. }
            | WitnessError::EmptyTreeRoot { .. }
            | WitnessError::BadProof { .. } => 422,
            WitnessError::Config { .. }
            | WitnessError::Clock { .. }
            | WitnessError::CorruptState { .. }
            | WitnessError::Cosign { .. }
            | WitnessError::Io { .. } => 500,
        }
    }

    /// For a 409: the size of the latest checkpoint the witness cosigned,
    /// which the response body carries as `<size>\n` (`text/x.tlog.size`).
    pub fn latest_size(&self) -> Option<u64> {
        match self {
            WitnessError::Conflict { latest, .. } => Some(*latest),
            _ => None,
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WitnessError + '_ {
    move |source| WitnessError::Io {
        path: path.to_owned(),
        source,
    }
}

fn bad_request(reason: impl Into<String>) -> WitnessError {
    WitnessError::BadRequest {
        reason: reason.into(),
    }
}

/// An add-checkpoint request body (tlog-witness, "add-checkpoint"):
///
/// ```text
/// old <size>\n
/// <base64 hash>\n        (0 to 63 consistency-proof lines)
/// \n
/// <signed checkpoint note>
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the checkpoint the client believes the witness holds.
    pub old: u64,
    /// The RFC 6962 consistency proof from `old` to the new size.
    pub proof: Vec<[u8; 32]>,
    /// The signed checkpoint note, as sent.
    pub checkpoint: Vec<u8>,
}

/// Splits off the next line (without its '\n'); `None` if there is no '\n'.
fn take_line<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    let i = rest.iter().position(|&b| b == b'\n')?;
    let (line, tail) = rest.split_at(i);
    *rest = tail.get(1..).unwrap_or_default();
    Some(line)
}

impl AddCheckpoint {
    /// Parses a request body strictly: `old` and one space, a decimal with
    /// no leading zero; at most 63 proof lines of canonical Base64 for 32
    /// bytes; a blank line; then a note that parses and whose text is a
    /// checkpoint (its signatures are checked by [`Witness::add_checkpoint`],
    /// not here).
    pub fn parse(body: &[u8]) -> Result<AddCheckpoint, WitnessError> {
        if body.len() > MAX_REQUEST_BYTES {
            return Err(bad_request(format!(
                "expected at most {MAX_REQUEST_BYTES} bytes; found {}",
                body.len()
            )));
        }
        let mut rest = body;
        let first = take_line(&mut rest)
            .ok_or_else(|| bad_request("expected an \"old <size>\" line; found no newline"))?;
        let old =
            std::str::from_utf8(first)
                .ok()
                .and_then(|l| l.strip_prefix("old "))
                .and_then(parse_decimal)
                .ok_or_else(|| {
                    bad_request(format!(
                    "expected \"old <size>\" with a decimal size and no leading zero; found {:?}",
                    String::from_utf8_lossy(first).chars().take(80).collect::<String>()
                ))
                })?;
        let mut proof = Vec::new();
        loop {
            let line = take_line(&mut rest).ok_or_else(|| {
                bad_request("expected a blank line before the checkpoint; found none")
            })?;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(bad_request(format!(
                    "expected at most {MAX_PROOF_LINES} consistency-proof lines; found more"
                )));
            }
            let text = std::str::from_utf8(line)
                .map_err(|_| bad_request(format!("proof line {}: not UTF-8", proof.len() + 1)))?;
            let hash = decode_hash("consistency-proof line", text).map_err(|e| {
                bad_request(format!(
                    "proof line {}: expected a 32-byte hash in Base64: {e}",
                    proof.len() + 1
                ))
            })?;
            proof.push(hash);
        }
        let bad = |source| WitnessError::BadCheckpoint { source };
        let note = Note::parse(rest).map_err(bad)?;
        Checkpoint::parse_text(note.text()).map_err(bad)?;
        Ok(AddCheckpoint {
            old,
            proof,
            checkpoint: rest.to_vec(),
        })
    }

    /// The request body. Refuses more than 63 proof lines.
    pub fn to_bytes(&self) -> Result<Vec<u8>, WitnessError> {
        if self.proof.len() > MAX_PROOF_LINES {
            return Err(bad_request(format!(
                "expected at most {MAX_PROOF_LINES} consistency-proof lines; found {}",
                self.proof.len()
            )));
        }
        let mut out = format!("old {}\n", self.old).into_bytes();
        for h in &self.proof {
            out.extend_from_slice(encode_base64(h).as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(&self.checkpoint);
        Ok(out)
    }
}

/// The body of a 200 response: the cosignature lines.
pub fn response_body(cosignatures: &[NoteSignature]) -> Vec<u8> {
    cosignatures
        .iter()
        .flat_map(|s| s.to_line().into_bytes())
        .collect()
}

/// The lowercase hex SHA-256 of an origin: the state file's name, and the
/// path component of the spec's monitoring endpoint.
pub fn origin_hash(origin: &str) -> String {
    hex::encode(Sha256::digest(origin.as_bytes()))
}

/// A witness: a name and key, the log keys it trusts, and a state directory.
/// Any number of `Witness` values, in any number of processes, may share a
/// state directory.
#[derive(Debug)]
pub struct Witness<'k> {
    dir: PathBuf,
    key: &'k SigningKey,
    verifier: NoteVerifier,
    logs: Vec<NoteVerifier>,
}

impl<'k> Witness<'k> {
    /// Opens (creating it if needed) a state directory. `name` is the
    /// witness's key name; `logs` are the trusted log keys, Ed25519, each
    /// named as the origin of the log it signs for.
    pub fn open(
        state_dir: &Path,
        name: &str,
        key: &'k SigningKey,
        logs: Vec<NoteVerifier>,
    ) -> Result<Self, WitnessError> {
        let verifier =
            NoteVerifier::new(name, VerifierKind::CosignatureV1, key.public()).map_err(|e| {
                WitnessError::Config {
                    reason: e.to_string(),
                }
            })?;
        if let Some(v) = logs.iter().find(|v| v.kind() != VerifierKind::Ed25519) {
            return Err(WitnessError::Config {
                reason: format!(
                    "trusted log key {} is a {} key; expected an Ed25519 (0x01) key",
                    v.name(),
                    v.kind()
                ),
            });
        }
        fs::create_dir_all(state_dir).map_err(io(state_dir))?;
        Ok(Witness {
            dir: state_dir.to_owned(),
            key,
            verifier,
            logs,
        })
    }

    /// The witness's own verifier key (type 0x04), for clients' policies.
    pub fn verifier(&self) -> &NoteVerifier {
        &self.verifier
    }

    /// Where the state of `origin` lives.
    pub fn state_path(&self, origin: &str) -> PathBuf {
        self.dir.join(origin_hash(origin))
    }

    /// The latest checkpoint cosigned for `origin`, with the log's
    /// signatures and this witness's cosignature (what tlog-witness's
    /// monitoring endpoint serves), or `None` if it never cosigned one.
    pub fn latest(&self, origin: &str) -> Result<Option<Vec<u8>>, WitnessError> {
        Ok(self.load(origin)?.map(|(_, note)| note.to_bytes()))
    }

    /// [`Witness::latest`] by origin hash (the lowercase hex SHA-256 in
    /// tlog-witness's `GET <prefix>/<origin hash>/checkpoint`): `None` for
    /// anything but the hash of a trusted log's origin, so that no other
    /// file of the state directory can be named.
    pub fn latest_by_hash(&self, hash: &str) -> Result<Option<Vec<u8>>, WitnessError> {
        match self.logs.iter().find(|v| origin_hash(v.name()) == hash) {
            Some(v) => self.latest(v.name()),
            None => Ok(None),
        }
    }

    /// Handles one add-checkpoint request at time `now` (POSIX seconds, the
    /// cosignature's timestamp). On success the new state is on disk and the
    /// returned cosignature lines are the 200 response.
    pub fn add_checkpoint(
        &self,
        req: &AddCheckpoint,
        now: u64,
    ) -> Result<Vec<NoteSignature>, WitnessError> {
        // tlog-witness: "the timestamp MUST NOT be zero".
        if now == 0 || now > note::MAX_COSIGNATURE_TIME {
            return Err(WitnessError::Clock { now });
        }
        if req.proof.len() > MAX_PROOF_LINES {
            return Err(bad_request(format!(
                "expected at most {MAX_PROOF_LINES} consistency-proof lines; found {}",
                req.proof.len()
            )));
        }
        let bad = |source| WitnessError::BadCheckpoint { source };
        let note = Note::parse(&req.checkpoint).map_err(bad)?;
        let cp = Checkpoint::parse_text(note.text()).map_err(bad)?;
        let origin = cp.origin().to_owned();

        // Signatures first, so that nothing about the state of an origin is
        // revealed to a request the log did not sign.
        let logs: Vec<NoteVerifier> = self
            .logs
            .iter()
            .filter(|v| v.name() == origin)
            .cloned()
            .collect();
        if logs.is_empty() {
            return Err(WitnessError::UnknownOrigin { origin });
        }
        let verified = note::verify(&note, &logs).map_err(|source| WitnessError::Untrusted {
            origin: origin.clone(),
            source,
        })?;
        if req.old > cp.size() {
            return Err(WitnessError::OldAfterNew {
                old: req.old,
                size: cp.size(),
            });
        }
        if cp.size() == 0 && *cp.root() != empty_root() {
            return Err(WitnessError::EmptyTreeRoot {
                origin,
                found: *cp.root(),
            });
        }

        // From here to the rename, one request at a time for this state
        // directory: checking against the stored size and persisting the new
        // one must be atomic, or a slower, smaller request could roll back a
        // faster, larger one (tlog-witness, the race after "MUST persist").
        let _lock = self.lock(&origin)?;
        let stored = self.load(&origin)?;
        let (latest, stored_root) = match &stored {
            Some((c, _)) => (c.size(), *c.root()),
            None => (0, empty_root()),
        };
        if req.old != latest {
            return Err(WitnessError::Conflict {
                origin,
                old: req.old,
                latest,
            });
        }
        if req.old == cp.size() && req.old != 0 && stored_root != *cp.root() {
            return Err(WitnessError::SplitView {
                origin,
                size: cp.size(),
                expected: stored_root,
                found: *cp.root(),
            });
        }
        // old == 0 (first use, or an empty tree cosigned before): the proof
        // must be empty and any root is consistent; verify_consistency
        // implements exactly that.
        verify_consistency(req.old, cp.size(), &stored_root, cp.root(), &req.proof).map_err(
            |source| WitnessError::BadProof {
                origin: origin.clone(),
                old: req.old,
                size: cp.size(),
                source: Box::new(source),
            },
        )?;

        let cosig = note::cosign(note.text(), self.verifier.name(), self.key, now)
            .map_err(|source| WitnessError::Cosign { source })?;
        // Keep the log signatures that verified (once each) and ours; drop
        // unknown ones, which are unchecked and could be anything.
        let mut keep: Vec<NoteSignature> = Vec::new();
        for s in note.signatures() {
            let trusted = verified
                .iter()
                .any(|v| v.verifier().name() == s.name() && v.verifier().key_id() == s.key_id());
            if trusted
                && !keep
                    .iter()
                    .any(|k| k.name() == s.name() && k.key_id() == s.key_id())
            {
                keep.push(s.clone());
            }
        }
        keep.push(cosig.clone());
        let state =
            Note::new(note.text(), keep).map_err(|source| WitnessError::Cosign { source })?;
        self.store(&origin, &state.to_bytes())?;
        Ok(vec![cosig])
    }

    /// Takes the exclusive lock of `origin`'s state, waiting for it. One
    /// lock per origin: requests for one log are serialised (the
    /// compare-and-swap of its size), requests for different logs are not,
    /// so that their fsyncs can overlap.
    fn lock(&self, origin: &str) -> Result<File, WitnessError> {
        let path = self
            .dir
            .join(format!("{}{LOCK_SUFFIX}", origin_hash(origin)));
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io(&path))?;
        f.lock().map_err(io(&path))?;
        Ok(f)
    }

    /// Reads the state of `origin`. Structure is checked (a note whose text
    /// is a checkpoint for this origin); signatures are not, since the file
    /// is the witness's own and its keys may since have rotated.
    fn load(&self, origin: &str) -> Result<Option<(Checkpoint, Note)>, WitnessError> {
        let path = self.state_path(origin);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path)(e)),
        };
        let mut bytes = Vec::new();
        // One more byte than a note may have, to tell "too large" apart.
        file.take(MAX_NOTE_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(io(&path))?;
        let corrupt = |reason: String| WitnessError::CorruptState {
            path: path.clone(),
            reason,
        };
        let note = Note::parse(&bytes).map_err(|e| corrupt(e.to_string()))?;
        let cp = Checkpoint::parse_text(note.text()).map_err(|e| corrupt(e.to_string()))?;
        if cp.origin() != origin {
            return Err(corrupt(format!(
                "expected a checkpoint for {origin:?}; found one for {:?}",
                cp.origin()
            )));
        }
        Ok(Some((cp, note)))
    }

    /// Replaces the state of `origin` atomically and durably: a reader or a
    /// crash sees the old file or the new one, never a mix, and the new one
    /// is on disk before the cosignature leaves.
    fn store(&self, origin: &str, bytes: &[u8]) -> Result<(), WitnessError> {
        let path = self.state_path(origin);
        crate::base::durable::replace(&self.dir, &path, bytes).map_err(|e| WitnessError::Io {
            path: e.path,
            source: e.source,
        })
    }
}

impl AddCheckpoint {
    /// An add-checkpoint request body, or a bare checkpoint note, which is
    /// read as a request from size 0: a witness that has seen this origin
    /// answers it with its size (409), for a proper request to be made.
    /// A body that is neither gets the request's parse error.
    pub fn parse_or_bare(body: &[u8]) -> Result<AddCheckpoint, WitnessError> {
        match AddCheckpoint::parse(body) {
            Ok(r) => Ok(r),
            Err(e) => match Note::parse(body) {
                Ok(_) => Ok(AddCheckpoint {
                    old: 0,
                    proof: Vec::new(),
                    checkpoint: body.to_vec(),
                }),
                Err(_) => Err(e),
            },
        }
    }
}

impl Witness<'_> {
    /// [`Witness::add_checkpoint`], returning the request's checkpoint
    /// with this witness's cosignatures added: the note a log stores.
    pub fn cosign_note(&self, req: &AddCheckpoint, now: u64) -> Result<Note, WitnessError> {
        let sigs = self.add_checkpoint(req, now)?;
        let mut note =
            Note::parse(&req.checkpoint).map_err(|source| WitnessError::Cosign { source })?;
        for s in sigs {
            note.push_signature(s)
                .map_err(|source| WitnessError::Cosign { source })?;
        }
        Ok(note)
    }
}
