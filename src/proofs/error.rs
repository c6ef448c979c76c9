//! The proofs layer's errors: why a checkpoint, a proof, a bundle or a
//! publication was not made or not accepted.
//!
//! This module owns what each failure is and how it reads. Each variant is
//! one kind of failure with its evidence (sizes, roots, origins, paths, the
//! underlying note, Merkle, format or tile error); `Display` is the one
//! line `ledger` prints. [`CheckpointError`] sorts them as the exit codes
//! do: [`Refutation`] (the evidence does not hold: exit 1) and [`Request`]
//! (the request cannot be met as asked: exit 2). A checkpoint note that is
//! not accepted is a [`CheckpointProblem`], the core's type, so that
//! `ledger verify` reports a stored checkpoint's failure with the same
//! evidence.
//!
//! It names no other module of this layer (they all name it), so the
//! directory and file names its messages mention are in their fields.

use std::path::PathBuf;

use crate::base::files::FileError;
use crate::core::format::FormatError;
use crate::core::store::StoreError;
use crate::core::writer::WriteError;
use crate::tlog::merkle::{MerkleError, ProofError};
use crate::tlog::note::NoteError;
use crate::tlog::proof::TlogProofError;
use crate::tlog::tiles::{TileError, CHECKPOINT_FILE};
use crate::tlog::witness::WitnessError;

use crate::core::verify::CheckpointProblem;

/// Why a checkpoint, proof or bundle was not made or not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The evidence does not hold: exit 1.
    #[error(transparent)]
    Refuted(#[from] Refutation),
    /// The request cannot be met as asked: exit 2.
    #[error(transparent)]
    Usage(#[from] Request),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Write(#[from] WriteError),
    /// A published directory served over HTTP(S) did not give a file (a
    /// timeout, a status other than 200 and 404, TLS, a redirect, a
    /// connection cut): the error names the URL. Transport: it says
    /// nothing about the log (exit 2). A 404, or a 200 larger than such a
    /// file can be, is not this: that is what the publisher serves, and
    /// refutes it as a missing or oversized file refutes a directory.
    #[error(transparent)]
    Remote(Box<dyn std::error::Error + Send + Sync>),
}

/// The evidence does not hold: a checkpoint, a proof, a bundle or a
/// published directory that does not check out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Refutation {
    /// A checkpoint note is not accepted: malformed, of another origin,
    /// signed by no trusted key, short of a witness quorum.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointProblem),
    /// The ledger's log or tree disagrees with a checkpoint, or holds
    /// nothing to prove.
    #[error(transparent)]
    Ledger(#[from] LedgerProblem),
    /// A Merkle proof does not prove what it claims.
    #[error(transparent)]
    Proof(#[from] ProofFailure),
    /// A proof bundle's event is not what the bundle says, or not signed
    /// by a trusted key.
    #[error(transparent)]
    Bundle(#[from] BundleFailure),
    /// A published directory is not of this ledger's history, or its tiles
    /// and entries do not agree.
    #[error(transparent)]
    Published(#[from] PublishedFailure),
    /// A tlog-proof or COSE Receipt does not prove what it claims
    /// (FORMAT §21).
    #[error(transparent)]
    Standard(#[from] StandardFailure),
}

/// A standard proof (FORMAT §21: a C2SP tlog-proof, an RFC 9942 COSE
/// Receipt) does not prove what it claims.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StandardFailure {
    /// The receipt's key (by kid) is none of the trusted keys.
    #[error("the receipt is signed by the key with kid {} (the SHA-256 of its 32 bytes), which is not among the trusted keys", hex::encode(.kid))]
    ReceiptUntrusted { kid: [u8; 32] },
    /// The receipt's signature does not verify over the root that its
    /// proof rebuilds from the event's leaf hash.
    #[error("the receipt's signature by {key} does not verify over the root its proof rebuilds from event {index} in a tree of {size}: the receipt, its proof or the event is not the one the log signed")]
    ReceiptSignature { index: u64, size: u64, key: String },
    /// The receipt's proof cannot be a proof of its index in its tree.
    #[error("the receipt's inclusion proof of event {index} in a tree of {size}: {source}")]
    ReceiptProof {
        index: u64,
        size: u64,
        source: ProofError,
    },
    /// The receipt's issuer is not the event's ledger.
    #[error("the receipt is issued by {issuer:?}, but the event is of ledger {origin:?}")]
    IssuerDiffers { issuer: String, origin: String },
    /// A tlog-proof's extra data and the entry given are not the same.
    #[error("the tlog-proof's extra data is not the event given with --entry")]
    EntryDiffers,
    /// A receipt carries no cosignatures: no witness policy is met.
    #[error("a COSE receipt carries no witness cosignatures, so it cannot meet the witness policy; use a tlog-proof or a bundle of a cosigned checkpoint")]
    NoCosignatures,
}

/// A ledger's log or tree and a checkpoint disagree, or the log holds
/// nothing to prove (FORMAT §12, §13).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerProblem {
    /// A checkpoint of a larger tree than the ledger's `count` events.
    #[error("the checkpoint is of size {size}, but the ledger has only {count} events")]
    BeyondLedger { size: u64, count: u64 },
    /// The checkpoint's root is not that of the ledger's first `size`
    /// events.
    #[error("the checkpoint of size {size} does not match this ledger's first {size} events")]
    RootDiffers { size: u64 },
    /// One checkpoint of a pair is not of this ledger's history.
    #[error("{side} (size {size}) is not of this ledger's history: its root differs from that of the ledger's first {size} events")]
    NotOfHistory { side: Side, size: u64 },
    /// `checkpoint --add`: the checkpoint's root is not the ledger's.
    #[error("--add: the checkpoint's root for size {size} does not match this ledger's tree")]
    AddedRootDiffers { size: u64 },
    /// The stored checkpoint (`file`, relative to the ledger directory)
    /// that a signature was to be added to does not parse.
    #[error("{file} is not a valid checkpoint note ({source}); move it away to sign again")]
    StoredInvalid {
        file: String,
        size: u64,
        source: NoteError,
    },
    /// Another checkpoint of the same size is stored: a log never signs
    /// two trees of one size.
    #[error("{file} holds a different checkpoint for size {size}: this ledger's tree has changed since it was signed (split view or rewritten history)")]
    StoredDiffers { file: String, size: u64 },
    /// The log holds no event at all.
    #[error("{} holds no event: check it with `ledger verify {}`", .log.display(), .dir.display())]
    NoEvent { log: PathBuf, dir: PathBuf },
    /// The log holds no complete event.
    #[error("{} holds no complete event: check it with `ledger verify {}`", .log.display(), .dir.display())]
    NoCompleteEvent { log: PathBuf, dir: PathBuf },
    /// The genesis of the ledger in `dir` does not decode.
    #[error("event 0 does not decode ({source}): check the ledger with `ledger verify {}`", .dir.display())]
    GenesisUndecodable { dir: PathBuf, source: FormatError },
    /// An event to prove does not decode.
    #[error("event {index} does not decode ({source}): check the ledger with `ledger verify`")]
    EventUndecodable { index: u64, source: FormatError },
}

/// Which checkpoint of a consistency proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Old,
    New,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Old => "the old checkpoint",
            Side::New => "the new checkpoint",
        })
    }
}

/// A Merkle proof does not prove what it claims (FORMAT §12).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProofFailure {
    /// A proof just made does not check against the checkpoint's root.
    #[error("the proof does not check out: {0}")]
    Unchecked(#[source] ProofError),
    /// An inclusion bundle's proof does not lead to the checkpoint's root.
    #[error("event {index} is not proven to be in the checkpoint of size {size}: {source}")]
    NotIncluded {
        index: u64,
        size: u64,
        source: ProofError,
    },
    /// A consistency bundle's proof does not lead from the old root to the
    /// new one.
    #[error("the checkpoint of size {new} is not proven to extend that of size {old}: {source}")]
    NotExtended {
        old: u64,
        new: u64,
        source: ProofError,
    },
}

/// An inclusion bundle's event is not what the bundle says, or not signed
/// by a trusted key (FORMAT §14).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleFailure {
    /// The event's bytes are not an event.
    #[error("the bundle's event: {0}")]
    Event(#[source] FormatError),
    /// The bundle's index is not the event's sequence number.
    #[error("the bundle says index {index}, but its event is number {seq} of its ledger")]
    IndexMismatch { index: u64, seq: u64 },
    /// The event's key (by kid, FORMAT §5.1) is none of the trusted keys.
    /// A bundle carries the event, which names its key only by kid, so the
    /// kid is what can be shown.
    #[error("event {index} is signed by the key with kid {} (the SHA-256 of its 32 bytes, FORMAT §5.1), which is not among the trusted keys", hex::encode(.kid))]
    UntrustedSigner { index: u64, kid: [u8; 32] },
    /// The event's key is trusted, but the auditor bound it to another
    /// party (`bound`), or to none, than the event's author.
    #[error("event {index} is by {author:?}, but it is signed with {key}, which {}; an event proves only what its author's own key signed (bind each key to its party: --trust {author}=FILE)",
        match .bound { Some(p) => format!("--trust binds to party {p:?}"), None => "--trust binds to no party (its file name is not a party id)".to_owned() })]
    NotTheAuthorsKey {
        index: u64,
        author: String,
        key: String,
        bound: Option<String>,
    },
    /// A `ledger-created` event anywhere but at index 0, or another kind
    /// at index 0, or `prev` present at 0 or absent elsewhere (FORMAT §6
    /// step 4).
    #[error("event {index} ({kind}) cannot be at index {index}: event 0, and only event 0, is the ledger-created event and has no prev (FORMAT §6 step 4)")]
    GenesisPlace { index: u64, kind: &'static str },
    /// A genesis event whose author is not among its parties with the key
    /// that signed it (FORMAT §6).
    #[error("event 0 is by {author:?}, who is not among its parties with the key that signed it (FORMAT §6 step 5)")]
    GenesisAuthor { author: String },
    /// The event's signature does not verify with the trusted key `key`
    /// (its label) of its fingerprint.
    #[error("event {index}: the signature does not verify with key {key}")]
    BadSignature { index: u64, key: String },
}

/// A published directory (FORMAT §16) is not of this ledger's history, or
/// its checkpoint, tiles and entry bundles do not agree.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishedFailure {
    /// An immutable file already published holds other bytes.
    #[error("{} already exists with other bytes: the published directory is of another history", .path.display())]
    Exists { path: PathBuf },
    /// The stored checkpoint to publish (`file`) is of another origin.
    #[error("{file} is for origin {found:?}, not this ledger's {expected:?}")]
    StoredOrigin {
        file: String,
        found: String,
        expected: String,
    },
    /// The largest stored checkpoint is of a larger tree than the ledger.
    #[error("the largest checkpoint is of size {size}, but the ledger has {count} events")]
    StoredBeyond { size: u64, count: u64 },
    /// The stored checkpoint to publish (`file`) is not of the ledger's
    /// tree.
    #[error("{file} does not match this ledger's first {size} events")]
    StoredRootDiffers { file: String, size: u64 },
    /// The directory already publishes a tree of another history.
    #[error("{} publishes a tree of size {size} that is not this ledger's history", .out.display())]
    OtherHistory { out: PathBuf, size: u64 },
    /// An entry bundle the checkpoint needs cannot be read.
    #[error("{}: {source}: the published directory lacks an entry bundle its checkpoint needs", .path.display())]
    MissingBundle {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file of the published directory is not read: a link, not a
    /// regular file, or larger than its kind may be.
    #[error("{} {source}: a published directory holds its checkpoint, tiles and entry bundles itself, as regular files within their size limits", .path.display())]
    Unreadable { path: PathBuf, source: FileError },
    /// An entry of a bundle is not exactly one event: a published entry
    /// is one event's stored bytes (FORMAT §16.1), so that the events an
    /// audit replays are the leaves the checkpoint's root is over.
    #[error("{}: the entry of event {index} is not exactly one event ({len} bytes, {found}): the published directory was altered", .path.display())]
    NotOneEvent {
        path: PathBuf,
        index: u64,
        len: usize,
        found: &'static str,
    },
    /// The published entries do not hash to the checkpoint's root.
    #[error("the published entries hash to {found}, not to the root {root} of the published checkpoint of size {size}: the published directory was altered", found = hex::encode(.found), root = hex::encode(.root))]
    RootDiffers {
        size: u64,
        root: crate::tlog::merkle::Hash,
        found: crate::tlog::merkle::Hash,
    },
    /// An entry bundle does not decode.
    #[error("{}: {source}", .path.display())]
    BadBundle { path: PathBuf, source: TileError },
    /// A tile the checkpoint needs has no valid coordinates.
    #[error(transparent)]
    BadTile(TileError),
    /// A tile the checkpoint needs cannot be read.
    #[error("{}: {source}: the published directory lacks a tile its checkpoint needs", .path.display())]
    MissingTile {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A tile's hashes are not those of the published entries.
    #[error("{}: the tile's hashes are not those of the published entries", .path.display())]
    TileMismatch { path: PathBuf },
    /// No proof could be read from the published tiles (each hash is
    /// checked against the checkpoint's root as it is read).
    #[error("the published tiles: {0}")]
    Tiles(#[source] MerkleError),
    /// No entry bundle of the published tree holds the event.
    #[error("no entry bundle holds event {index}")]
    NoBundleFor { index: u64 },
    /// A server answered with more than a file of its kind can be (a
    /// checkpoint, an entry bundle of its width).
    #[error("{}: answered more than the {limit} bytes such a file can be: the published directory was altered", .path.display())]
    Oversized { path: PathBuf, limit: u64 },
    /// The entry bundle has no entry for the event.
    #[error("{}: no entry for event {index}", .path.display())]
    NoEntry { path: PathBuf, index: u64 },
}

/// The request cannot be met as asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Request {
    /// A note, a checkpoint text or a signature could not be made as
    /// asked (too many signatures, a note too large).
    #[error(transparent)]
    Note(NoteError),
    /// `checkpoint --add`: the note given is malformed or of another
    /// ledger.
    #[error("--add: {0}")]
    Add(CheckpointProblem),
    /// A checkpoint given (`--checkpoint`, `--from`) does not parse.
    #[error("checkpoint: {0}")]
    Malformed(#[source] NoteError),
    /// A checkpoint given is of another ledger.
    #[error(transparent)]
    Checkpoint(CheckpointProblem),
    /// A tree hash or proof could not be computed from the ledger's tree.
    #[error(transparent)]
    Merkle(MerkleError),
    /// The ledger in `dir` has no stored checkpoint, and none was given.
    #[error("{} has no checkpoint: make one with `ledger checkpoint {} --key FILE`, or give one with --checkpoint", .dir.display(), .dir.display())]
    NoCheckpoint { dir: PathBuf },
    /// The bytes given are not a proof bundle (FORMAT §14).
    #[error("not a proof bundle (FORMAT §14): {0}")]
    Bundle(BundleProblem),
    /// The bytes given start as a tlog-proof but are not one (FORMAT §21.1).
    #[error("not a tlog-proof (FORMAT §21.1): {0}")]
    TlogProof(TlogProofError),
    /// The bytes given start as a COSE Receipt but are not one of ours
    /// (FORMAT §21.2).
    #[error("not a COSE receipt (FORMAT §21.2): {0}")]
    Receipt(ReceiptProblem),
    /// A proof that does not carry its event, and none given.
    #[error("this proof does not carry the event it proves: give the event's stored bytes with --entry FILE (`ledger export DIR --event N` writes them to event-N.cbor)")]
    NoEntry,
    /// `check-proof --entry` with a bundle, which carries its event.
    #[error("--entry is for a COSE receipt or a tlog-proof; a proof bundle carries its event")]
    EntryForBundle,
    /// `prove --format cose-receipt --key K`: K did not sign the checkpoint.
    #[error("--key is not a key that signed the checkpoint of size {size}: a receipt is signed by the log key that signs checkpoints (`ledger checkpoint`)")]
    ReceiptKey { size: u64 },
    /// `prove --event`: the event is not in the checkpoint's tree.
    #[error("event {index} is not in the checkpoint, whose tree has {size} events (0 to {})", .size.saturating_sub(1))]
    NotInCheckpoint { index: u64, size: u64 },
    /// `prove --from`: the old checkpoint is the larger.
    #[error("the old checkpoint (size {old}) is larger than the new one (size {new})")]
    OldLarger { old: u64, new: u64 },
    /// `witness request --old`: larger than the checkpoint.
    #[error("--old {old} is larger than the checkpoint's size {size}")]
    WitnessOld { old: u64, size: u64 },
    /// The witness request could not be encoded.
    #[error(transparent)]
    Witness(WitnessError),
    /// A signature would be added to a checkpoint that has RFC 3161
    /// tokens, which stamp its exact bytes (FORMAT §17.2).
    #[error("{file} is timestamped ({tokens}): a new signature would change the bytes the tokens stamp; sign the next checkpoint instead (after the next event), or timestamp again afterwards")]
    Timestamped { file: String, tokens: String },
    /// The log has no event at this index.
    #[error("there is no event {index}")]
    NoSuchEvent { index: u64 },
    /// A publication cannot be made or read as asked.
    #[error(transparent)]
    Publish(#[from] PublishRequest),
    /// `checkpoint --key`: the key is not a key of any party, and was not
    /// given as a dedicated log key.
    #[error("the signing key ({fingerprint}) is not a key of any party of this ledger, so `ledger verify` would refuse the checkpoint; sign with a party's key, or, if it is a dedicated log key that every verifier will be given with --log-key, add --log-key")]
    SignerNotAParty { fingerprint: String },
    /// A checkpoint signature by a revoked party key (FORMAT §13.1: a
    /// revoked key may be in someone else's hands).
    #[error("{what} a key of {party:?} that was revoked at event {revoked}, which may sign no checkpoint (FORMAT §13.1); nothing was written")]
    SignerRevoked {
        what: &'static str,
        party: String,
        revoked: u64,
    },
    /// A checkpoint signature by a party key that was not current after
    /// the checkpoint's first `size` events (rotated out, or its party
    /// removed, or introduced later): FORMAT §13.1 judges a checkpoint's
    /// signers at its size.
    #[error("{what} a key of {party:?} that was not current at size {size} ({status}), so `ledger verify` would not count it (FORMAT §13.1); nothing was written")]
    SignerNotCurrent {
        what: &'static str,
        party: String,
        size: u64,
        status: String,
    },
}

/// How bytes given as a COSE Receipt are not one of ours (FORMAT §21.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptProblem {
    #[error("{len} bytes, more than the {limit}-byte limit")]
    TooLarge { len: usize, limit: usize },
    #[error("{what} is not one CBOR item")]
    NotCbor { what: &'static str },
    #[error("{len} bytes after {what}")]
    Trailing { what: &'static str, len: usize },
    #[error("{what} is not in deterministic encoding (FORMAT §4)")]
    NotDeterministic { what: &'static str },
    #[error("expected {0}")]
    Shape(&'static str),
}

/// How bytes given as a proof bundle are not one (FORMAT §14).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleProblem {
    #[error("{len} bytes, more than the {limit}-byte limit")]
    TooLarge { len: usize, limit: usize },
    /// Not strict deterministic CBOR.
    #[error(transparent)]
    Cbor(FormatError),
    #[error("expected a map")]
    NotAMap,
    #[error("map keys must be text")]
    KeyNotText,
    #[error("missing field {0:?}")]
    Missing(&'static str),
    #[error("{0:?} must be an unsigned integer")]
    NotUnsigned(&'static str),
    #[error("{0:?} must be a byte string")]
    NotBytes(&'static str),
    #[error("\"proof\" must be an array")]
    ProofNotArray,
    #[error("\"proof\" has more than {limit} hashes")]
    ProofTooLong { limit: usize },
    #[error("proof hashes must be 32 bytes")]
    HashLength,
    #[error("proof hashes must be byte strings")]
    HashNotBytes,
    #[error("version {found}; this ledger reads version {supported}")]
    Version { found: u64, supported: u64 },
    #[error("\"type\" must be text")]
    TypeNotText,
    #[error("unknown type {0:?}")]
    UnknownType(String),
    #[error("unknown field {0:?}")]
    UnknownField(String),
}

/// A publication (FORMAT §16) cannot be made or read as asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishRequest {
    /// The published checkpoint at `path` does not parse.
    #[error("{}: {source}", .path.display())]
    Checkpoint { path: PathBuf, source: NoteError },
    /// The output directory publishes another ledger.
    #[error("{} publishes origin {found:?}, not this ledger's {expected:?}", .out.display())]
    OtherOrigin {
        out: PathBuf,
        found: String,
        expected: String,
    },
    /// The output directory already publishes a larger tree.
    #[error("{} already publishes size {published}, more than the checkpoint of size {size}", .out.display())]
    Larger {
        out: PathBuf,
        published: u64,
        size: u64,
    },
    /// A tile or entry bundle could not be made.
    #[error(transparent)]
    Tile(TileError),
    /// `verify DIR`: neither a ledger nor a published directory.
    #[error("{} is neither a ledger nor a published ledger (no {CHECKPOINT_FILE})", .dir.display())]
    NotALedger { dir: PathBuf },
    /// `check-proof DIR --event N`: not a published directory.
    #[error("{} is not a published ledger (no {CHECKPOINT_FILE})", .dir.display())]
    NotPublished { dir: PathBuf },
    /// `check-proof DIR --event N`: the event is not in the published tree.
    #[error("event {index} is not in the published tree of {size} events")]
    NotInPublished { index: u64, size: u64 },
    /// `publish DIR OUT` with OUT inside the ledger, or the ledger inside
    /// OUT: the publication would write into the ledger.
    #[error("{} is inside the ledger {} (or holds it): publish to a directory outside it", .out.display(), .dir.display())]
    IntoLedger { dir: PathBuf, out: PathBuf },
}

impl From<CheckpointProblem> for CheckpointError {
    fn from(p: CheckpointProblem) -> Self {
        CheckpointError::Refuted(Refutation::Checkpoint(p))
    }
}

impl From<LedgerProblem> for CheckpointError {
    fn from(p: LedgerProblem) -> Self {
        CheckpointError::Refuted(Refutation::Ledger(p))
    }
}

impl From<ProofFailure> for CheckpointError {
    fn from(p: ProofFailure) -> Self {
        CheckpointError::Refuted(Refutation::Proof(p))
    }
}

impl From<BundleFailure> for CheckpointError {
    fn from(p: BundleFailure) -> Self {
        CheckpointError::Refuted(Refutation::Bundle(p))
    }
}

impl From<PublishedFailure> for CheckpointError {
    fn from(p: PublishedFailure) -> Self {
        CheckpointError::Refuted(Refutation::Published(p))
    }
}

impl From<PublishRequest> for CheckpointError {
    fn from(p: PublishRequest) -> Self {
        CheckpointError::Usage(Request::Publish(p))
    }
}

impl From<BundleProblem> for CheckpointError {
    fn from(p: BundleProblem) -> Self {
        CheckpointError::Usage(Request::Bundle(p))
    }
}

impl From<StandardFailure> for CheckpointError {
    fn from(f: StandardFailure) -> Self {
        CheckpointError::Refuted(Refutation::Standard(f))
    }
}
