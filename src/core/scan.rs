//! The streaming engine that both the verifier and the writer run over a
//! log: it frames events in large chunks, decodes and signature-checks them
//! in parallel waves, and replays them strictly in order (FORMAT §3, §5,
//! §6). It owns the verdict on a log's bytes (where the first failure is,
//! and whether it is a torn tail a writer may cut) and never writes: what
//! to do with a torn tail is the writer's decision.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use crate::base::crypto::Fingerprint;
use crate::core::format::{
    DocHash, Event, EventHash, FormatError, Frame, Kind, LogReader, PartyId, ReadError,
};
use crate::core::replay::{Checked, KeyRing, RuleError, State, Verified};
use crate::core::store::{Access, Store, StoreError, LOG_FILE};
use crate::tlog::merkle::Hash;
use crate::tlog::note::{NoteError, QuorumNotMet};

/// Where and why a ledger fails verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Position of the failing event in the log (0 is the genesis), if the
    /// failure concerns one event.
    pub event: Option<u64>,
    /// Byte offset in `events.cbor` where that event (or the problem) starts.
    pub offset: Option<u64>,
    /// What is wrong, with its evidence.
    pub cause: Cause,
}

impl Failure {
    /// A failure at `offset`, in event `event`.
    pub fn at(event: Option<u64>, offset: u64, cause: Cause) -> Self {
        Failure {
            event,
            offset: Some(offset),
            cause,
        }
    }

    /// A failure of the ledger as a whole, not of one event.
    pub fn whole(cause: Cause) -> Self {
        Failure {
            event: None,
            offset: None,
            cause,
        }
    }

    /// The log ends in an interrupted append (FORMAT §3), which a writer
    /// removes; everything before `offset` is intact.
    pub fn is_torn_tail(&self) -> bool {
        self.cause.is_torn_tail()
    }

    /// Why, in one sentence: the cause's message.
    pub fn reason(&self) -> String {
        self.cause.to_string()
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.event, self.offset) {
            (Some(i), Some(o)) => write!(
                f,
                "event {i} (byte offset {o} of {LOG_FILE}): {}",
                self.cause
            ),
            (None, Some(o)) => write!(f, "byte offset {o} of {LOG_FILE}: {}", self.cause),
            _ => write!(f, "{}", self.cause),
        }
    }
}

/// `--json` keeps the fields it always had (`reason` the cause's message,
/// `torn_tail` derived from it) and adds `cause`, the kind as a word.
impl Serialize for Failure {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("Failure", 5)?;
        s.serialize_field("event", &self.event)?;
        s.serialize_field("offset", &self.offset)?;
        s.serialize_field("reason", &self.reason())?;
        s.serialize_field("torn_tail", &self.is_torn_tail())?;
        s.serialize_field("cause", self.cause.kind())?;
        s.end()
    }
}

/// Why a ledger fails verification: each kind of refutation, with what it
/// found. The message (`Display`) is what `ledger verify` prints.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Cause {
    /// The event's bytes break the format (FORMAT §3-§5).
    #[error(transparent)]
    Format(FormatError),
    /// The event breaks a replay rule (FORMAT §6), its signature included
    /// ([`RuleError::BadSignature`]).
    #[error(transparent)]
    Rule(RuleError),
    /// The log ends in `bytes` bytes that are not a complete event (all
    /// zeros if `zeros`), after `intact` events: an interrupted append
    /// (FORMAT §3) that a writer may remove.
    #[error("{}", torn_tail_message(*.bytes, *.intact, *.zeros))]
    TornTail {
        bytes: u64,
        intact: u64,
        zeros: bool,
    },
    /// The event claims more bytes than the file holds, yet a complete
    /// event follows at byte offset `next`: damage, not a torn tail.
    #[error("the event's encoding claims more bytes than the file holds, yet a complete event follows at \
             byte offset {next}: the log is damaged (this is not an interrupted append; compare with another copy)")]
    Damaged { next: u64 },
    /// The strict reader read an event that the fast framing could not.
    #[error("the event could not be framed (FORMAT §3)")]
    Unframeable,
    /// `events.cbor` holds no bytes at all.
    #[error("{LOG_FILE} is empty: there is no genesis event")]
    Empty,
    /// `--trust` is not met.
    #[error(transparent)]
    Trust(TrustFailure),
    /// `--head`: no event of the ledger has this hash.
    #[error("the ledger does not contain event {head} (--head): it has been truncated, rolled back or rewritten")]
    Head { head: EventHash },
    /// An event asked for by position that the ledger does not have.
    #[error("there is no event {index}: the ledger has {count} events (0 to {})", .count.saturating_sub(1))]
    NoSuchEvent { index: u64, count: u64 },
    /// The key that signed an event is not one of its author's.
    #[error("the signing key is not a key of the author")]
    SignerNotAuthor,
    /// A stored checkpoint (`file`, relative to the ledger directory) does
    /// not check against the replayed tree (FORMAT §13.2). Boxed: the
    /// evidence (two roots) is larger than any other cause's.
    #[error("{file}: {problem}")]
    Checkpoint {
        file: String,
        problem: Box<CheckpointProblem>,
    },
    /// The witness policy (`--witness`/`--quorum`) is not met.
    #[error(transparent)]
    Witness(WitnessFailure),
    /// A stored RFC 3161 token (`file`, relative to the ledger directory)
    /// does not check (FORMAT §17.3).
    #[error("{file}: {problem}")]
    Timestamp { file: String, problem: String },
    /// The event claims a time later than a valid RFC 3161 stamp of a
    /// checkpoint that holds it allows (FORMAT §17.4). Boxed: the
    /// evidence is large.
    #[error(transparent)]
    ClaimedAfterStamp(Box<LateClaim>),
}

/// The evidence of [`Cause::ClaimedAfterStamp`]: the event's claimed time,
/// the stamp's, the tolerance, and the token (file, TSA, serial).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the event claims the time {claimed}, but {file} (TSA {tsa}, serial {serial}) stamped a checkpoint holding it at {stamped}; \
         more than the {tolerance} s allowed for the TSA's accuracy and clock skew: the claimed time is false")]
pub struct LateClaim {
    pub claimed: String,
    pub stamped: String,
    pub tolerance: u64,
    pub file: String,
    pub tsa: String,
    pub serial: String,
}

fn torn_tail_message(bytes: u64, intact: u64, zeros: bool) -> String {
    if zeros {
        format!(
            "the log ends in {bytes} zero bytes, not an event: the remains of an append interrupted by a crash \
             (the {intact} events before them are intact; the next append by the same writer, or \
             `ledger repair`, removes them)"
        )
    } else {
        format!(
            "the log ends in {bytes} bytes that are not a complete event: the remains of an interrupted append \
             (the {intact} events before them are intact; the next append by the same writer, or `ledger repair`, \
             removes them), or a damaged last event (compare with another copy)"
        )
    }
}

impl Cause {
    /// An interrupted append (FORMAT §3), which a writer may remove.
    pub fn is_torn_tail(&self) -> bool {
        matches!(self, Cause::TornTail { .. })
    }

    /// The kind of failure as one word, for `--json` (`cause`).
    pub fn kind(&self) -> &'static str {
        match self {
            Cause::Format(_) => "format",
            Cause::Rule(RuleError::BadSignature { .. }) => "signature",
            Cause::Rule(_) => "rule",
            Cause::TornTail { .. } => "torn-tail",
            Cause::Damaged { .. } => "damaged",
            Cause::Unframeable => "unframeable",
            Cause::Empty => "empty",
            Cause::Trust(_) => "trust",
            Cause::Head { .. } => "head",
            Cause::NoSuchEvent { .. } => "no-such-event",
            Cause::SignerNotAuthor => "signer-not-author",
            Cause::Checkpoint { .. } => "checkpoint",
            Cause::Witness(_) => "witness",
            Cause::Timestamp { .. } => "timestamp",
            Cause::ClaimedAfterStamp(_) => "claimed-after-stamp",
        }
    }
}

impl From<FormatError> for Cause {
    fn from(e: FormatError) -> Self {
        Cause::Format(e)
    }
}

impl From<RuleError> for Cause {
    fn from(e: RuleError) -> Self {
        Cause::Rule(e)
    }
}

/// How `--trust` is not met (FORMAT §6, end).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TrustFailure {
    /// A genesis party held none of the trusted keys; `held` are the
    /// fingerprints of the keys it held.
    #[error("the {} of party {party:?} ({}) {} not among the trusted keys (--trust)",
        if .held.len() == 1 { "key" } else { "keys" },
        .held.iter().map(Fingerprint::to_string).collect::<Vec<_>>().join(", "),
        if .held.len() == 1 { "is" } else { "are" })]
    Untrusted {
        party: PartyId,
        held: Vec<Fingerprint>,
    },
    /// A trusted key (named as on the command line) no party ever held.
    #[error("trusted key {name} is not the key of any party of this ledger (--trust; its fingerprint is {fingerprint})")]
    UnknownKey {
        name: String,
        fingerprint: Fingerprint,
    },
    /// A trusted key the auditor bound to one party (`PARTY=FILE`) is
    /// another's.
    #[error("trusted key {name} is bound to party {} (--trust), but in this ledger it is the key of party {holder:?}", .bound.as_ref().map(|p| format!("{p:?}")).unwrap_or_default())]
    WrongParty {
        name: String,
        bound: Option<PartyId>,
        holder: PartyId,
    },
}

/// Why a checkpoint note is not accepted as a ledger's (FORMAT §13), or
/// why a stored checkpoint does not check against the replayed tree
/// (FORMAT §13.2). The proofs layer finds these (`proofs::checkpoint`);
/// they are named here so that a [`Cause::Checkpoint`] carries the
/// evidence, not a sentence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointProblem {
    /// The note or its checkpoint text is malformed, or a signature by a
    /// known key does not verify (which rejects the whole note).
    #[error(transparent)]
    Note(NoteError),
    /// The checkpoint is of another log.
    #[error("the checkpoint is for origin {found:?}, not this ledger's {expected:?}")]
    Origin { found: String, expected: String },
    /// None of the `trusted` keys (as many as were given, for `origin`)
    /// signed the checkpoint, which carries `signatures` signatures.
    #[error("the checkpoint of size {size} carries no signature by a trusted key ({signatures} signature(s), none by the {trusted} key(s) trusted for origin {origin}; a checkpoint signed by a dedicated log key needs that key: --log-key for verify, --trust for check-proof)")]
    Untrusted {
        size: u64,
        signatures: usize,
        trusted: usize,
        origin: String,
    },
    /// A witness policy's quorum is not met.
    #[error(transparent)]
    Quorum(QuorumNotMet),
    /// The file's name is not the size of the checkpoint it holds.
    #[error("the file holds a checkpoint of size {size}; checkpoints are stored under their size")]
    Misfiled { size: u64 },
    /// The checkpoint is of a larger tree than the ledger's `count` events.
    #[error("the checkpoint is of size {size}, but the ledger has only {count} events: it has been truncated or rolled back")]
    RolledBack { size: u64, count: u64 },
    /// The checkpoint's root is not that of the ledger's first `size`
    /// events.
    #[error(
        "the checkpoint's root for size {size} is {}, but the ledger's first {size} events hash to {}: a split view or rewritten history",
        hex::encode(.checkpoint),
        hex::encode(.ledger)
    )]
    SplitView {
        size: u64,
        checkpoint: Hash,
        ledger: Hash,
    },
    /// The replay kept no root at this size (a stored checkpoint the
    /// replay was not told of).
    #[error("no root was computed for size {size}")]
    NoRoot { size: u64 },
    /// The entry of `checkpoints/` (or `checkpoints` itself) is not a
    /// regular file (directory) that can be read: a directory, a link, a
    /// FIFO, or an I/O error (FORMAT §13.2).
    #[error("{reason} (FORMAT §13.2)")]
    Unreadable { reason: String },
}

/// How the witness policy (`--witness`/`--quorum`) is not met.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessFailure {
    /// A policy was given, but the ledger in `dir` has no checkpoint.
    #[error("a witness policy was given (--witness), but {} holds no checkpoint", .dir.display())]
    NoCheckpoint { dir: PathBuf },
    /// The latest checkpoint (`file`, relative to the ledger directory) has
    /// too few cosignatures.
    #[error("{file}: the latest checkpoint is cosigned by {cosigned} of the {witnesses} witnesses, {}", quorum_rule(*.quorum, .rule.as_deref()))]
    Quorum {
        file: String,
        cosigned: usize,
        witnesses: usize,
        quorum: usize,
        /// A policy file's quorum name (`None`: k of n, `--quorum`).
        rule: Option<String>,
    },
    /// Events `first..=last` come after `file` (of size `witnessed`), the
    /// largest checkpoint the witness quorum cosigned: no witness has seen
    /// them, so the policy says nothing of them (a history rewritten after
    /// the last witnessed checkpoint looks just like them).
    #[error("events #{first}..#{last} are not witnessed: {file} (size {witnessed}) is the largest checkpoint the witness quorum cosigned, and a history rewritten after it would look the same; make a checkpoint of the whole ledger (`ledger checkpoint DIR --key KEY`), have the witnesses cosign it (`ledger witness request`, `ledger witness cosign`, then `ledger checkpoint DIR --add`), or accept them knowingly with --allow-unwitnessed-tail")]
    Unwitnessed {
        file: String,
        witnessed: u64,
        first: u64,
        last: u64,
    },
}

/// Verification could not be completed, or refuted the ledger.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    #[error("verification failed: {0}")]
    Failed(Failure),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The result of a full replay.
pub(crate) struct Replayed {
    pub state: State,
    /// The end of the last complete event.
    pub log_len: u64,
    pub head_offset: u64,
    /// A reader's replay only: the bytes of an append in flight after the
    /// last complete event, which it did not read (see [`replay`]).
    pub in_flight: Option<u64>,
}

/// Events decoded and signature-checked together, in parallel, before the
/// ordered replay consumes them. Large enough to amortise thread start-up,
/// small enough to keep memory flat.
const WAVE: usize = 2048;
const READ_CHUNK: usize = 1 << 20;

fn failure(event: Option<u64>, offset: u64, cause: impl Into<Cause>) -> VerifyError {
    VerifyError::Failed(Failure::at(event, offset, cause.into()))
}

/// Why the event at `offset` (of a log read up to `len`) does not decode.
/// FORMAT §3 decides whether the bytes from `offset` to the end, `R`, are
/// a torn tail, whatever the decoder's error was: `R` is 1 to 65 535
/// bytes, and either all of them are zero (what some file systems leave
/// when power fails during an append, after the size but before the data
/// reached the disk), or `R` ends inside the item that starts it (the
/// framing, [`crate::core::format::frame`], needs more) and no complete
/// event starts later in `R`. If one does, a damaged length field in a
/// committed event runs past the end of the file: damage, not a torn tail.
fn format_failure(
    store: &Store,
    len: u64,
    index: u64,
    offset: u64,
    error: FormatError,
) -> VerifyError {
    let size = len.saturating_sub(offset);
    if size == 0 || size > crate::core::format::MAX_EVENT_BYTES as u64 {
        return failure(Some(index), offset, error);
    }
    let Ok(rest) = store.read_at(offset, size) else {
        return failure(Some(index), offset, error);
    };
    if rest.iter().all(|&x| x == 0) {
        let cause = Cause::TornTail {
            bytes: size,
            intact: index,
            zeros: true,
        };
        return failure(Some(index), offset, cause);
    }
    if crate::core::format::frame(&rest) != Frame::NeedMore {
        return failure(Some(index), offset, error);
    }
    if let Some(at) = complete_event_within(&rest) {
        let next = offset + at as u64;
        return failure(Some(index), offset, Cause::Damaged { next });
    }
    let cause = Cause::TornTail {
        bytes: rest.len() as u64,
        intact: index,
        zeros: false,
    };
    failure(Some(index), offset, cause)
}

/// Where, after its first byte, `bytes` holds the start of a complete,
/// well-formed event, if anywhere. The search is bounded (a hostile tail
/// could otherwise make it quadratic): past the bound it answers as if an
/// event had been found, the safe direction, since then the tail is called
/// damage and no writer cuts it.
fn complete_event_within(bytes: &[u8]) -> Option<usize> {
    const MAX_CANDIDATES: usize = 64;
    let mut candidates = 0;
    // Every event starts with the same ten bytes: tag 18, an array of 4,
    // and the protected header's head up to the kid (FORMAT §5.1).
    const START: [u8; 10] = [0xd2, 0x84, 0x58, 0x26, 0xa2, 0x01, 0x27, 0x04, 0x58, 0x20];
    for i in 1..bytes.len() {
        if !bytes[i..].starts_with(&START) {
            continue;
        }
        candidates += 1;
        if candidates > MAX_CANDIDATES {
            return Some(i);
        }
        if let Frame::Item(n) = crate::core::format::frame(&bytes[i..]) {
            if Event::decode(&bytes[i..i + n]).is_ok() {
                return Some(i);
            }
        }
    }
    None
}

/// Decodes and signature-checks a run of framed events, on all cores.
/// `keys` is every key introduced before the wave (FORMAT §6.5): an event
/// signed by a key introduced within the wave is only decoded here, and
/// its signature checked by the ordered replay.
pub(crate) fn check_wave(
    buf: &[u8],
    items: &[(u64, std::ops::Range<usize>)],
    keys: Option<&KeyRing>,
) -> Vec<Result<Checked, FormatError>> {
    check_wave_docs(buf, items, keys, None).0
}

/// What the document files named in a wave hold, checked by the wave's
/// threads alongside the signatures ([`Store::check_doc`]'s answer for
/// each hash a drafted or amended event names). Replay still asks for each
/// document when its rules reach it (FORMAT §6 step 9), and gets this
/// answer, or the store's for a hash the wave did not name.
struct Prechecked<'a> {
    store: &'a Store,
    docs: std::collections::HashMap<DocHash, Result<(), String>>,
}

impl crate::core::replay::Documents for Prechecked<'_> {
    fn check(&self, hash: &DocHash) -> Result<(), String> {
        match self.docs.get(hash) {
            Some(answer) => answer.clone(),
            None => self.store.check_doc(hash),
        }
    }
}

type DocAnswers = Vec<(DocHash, Result<(), String>)>;

/// [`check_wave`], also checking on the same threads the document files
/// that the wave's events draft or amend, if `store` is given.
fn check_wave_docs(
    buf: &[u8],
    items: &[(u64, std::ops::Range<usize>)],
    keys: Option<&KeyRing>,
    store: Option<&Store>,
) -> (Vec<Result<Checked, FormatError>>, DocAnswers) {
    let work = |chunk: &[(u64, std::ops::Range<usize>)]| {
        let mut docs = Vec::new();
        let checked = chunk
            .iter()
            .map(|(_, r)| {
                let event = Event::decode(&buf[r.clone()])?;
                if let (Some(store), Kind::DocumentDrafted { sha256, .. })
                | (Some(store), Kind::DocumentAmended { sha256, .. }) = (store, &event.body.kind)
                {
                    docs.push((*sha256, store.check_doc(sha256)));
                }
                Ok(match keys {
                    Some(k) => Checked::new(k, event),
                    None => Checked::unchecked(event),
                })
            })
            .collect();
        (checked, docs)
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads == 1 || items.len() < 64 {
        return work(items);
    }
    let per = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(per)
            .map(|c| scope.spawn(move || work(c)))
            .collect();
        let (mut checked, mut docs) = (Vec::with_capacity(items.len()), Vec::new());
        for h in handles {
            let (c, d) = h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
            checked.extend(c);
            docs.extend(d);
        }
        (checked, docs)
    })
}

/// Replays every event of `store`, calling `visit` after each one with the
/// state it leads to. Events are framed and read in large chunks, decoded
/// and signature-checked in parallel, and replayed strictly in order; the
/// first failure in log order is the verdict, whatever thread found it.
///
/// The log is read up to its length when the replay starts, a snapshot:
/// bytes appended later are not looked at. A reader holds no lock, so the
/// snapshot may end inside an append that a writer is making; a torn tail
/// is taken for such an append in flight, not a failure, only when it is
/// seen to complete (or to be cut back) within a few seconds
/// ([`append_in_flight`]), and the replay then ends at the last complete
/// event (RELIABILITY.md, "Readers"). Otherwise it is what a crash left,
/// and refuted as before.
pub(crate) fn replay(
    store: &Store,
    visit: impl FnMut(&Verified<Event>, u64, &State),
) -> Result<Replayed, VerifyError> {
    replay_keeping(store, visit).map_err(|b| b.0)
}

/// [`replay`], giving back with a failure the state after the last event
/// that replayed (`None` if not even the genesis did), for a report of
/// what was proven before it (`ledger report`). It is exactly the state of
/// the events before the failing one: a rule of `core::replay` checks
/// before it changes anything, and an event that fails changes nothing.
pub(crate) fn replay_keeping(
    store: &Store,
    visit: impl FnMut(&Verified<Event>, u64, &State),
) -> Result<Replayed, Box<(VerifyError, Option<State>)>> {
    let mut state = None;
    let mut last = (0u64, 0u64);
    let outcome = replay_snapshot(store, &mut state, &mut last, visit);
    let torn = match &outcome {
        Err(VerifyError::Failed(Failure {
            offset: Some(offset),
            cause: Cause::TornTail { bytes, .. },
            ..
        })) if store.access() == Access::Read && state.is_some() => Some((*offset, *bytes)),
        _ => None,
    };
    if let Some((offset, bytes)) = torn {
        match append_in_flight(store, offset, last.1) {
            Ok(true) => {
                if let Some(state) = state.take() {
                    return Ok(Replayed {
                        state,
                        log_len: offset,
                        head_offset: last.0,
                        in_flight: Some(bytes),
                    });
                }
            }
            Ok(false) => {}
            Err(e) => return Err(Box::new((e.into(), state))),
        }
    }
    outcome.map_err(|e| Box::new((e, state)))
}

/// Whether the bytes from `offset` to `snapshot` (where a reader's
/// snapshot ends, inside an incomplete event) are an append in flight,
/// on positive evidence only: within a few seconds they become the start
/// of a complete event, or the log is cut back to `offset` (a failed
/// append, removed). A writer's lock alone proves nothing (anyone who can
/// read the log can take it), nor does growth alone; with no writer at
/// work and neither seen, the bytes are what a crash left.
fn append_in_flight(store: &Store, offset: u64, snapshot: u64) -> Result<bool, StoreError> {
    use crate::core::format::MAX_EVENT_BYTES;
    use std::time::{Duration, Instant};
    let seen = store.read_at(offset, snapshot.saturating_sub(offset))?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let len = store.log_len()?;
        if len == offset {
            return Ok(true);
        }
        if len > snapshot {
            let now = store.read_at(offset, (len - offset).min(MAX_EVENT_BYTES as u64))?;
            if let Frame::Item(n) = crate::core::format::frame(&now) {
                return Ok(n >= seen.len() && now.starts_with(&seen));
            }
        }
        if !store.writer_active()? && store.log_len()? == len {
            return Ok(false);
        }
        if Instant::now() > deadline {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// [`replay`] of the log's first `last.1` bytes (its length when this
/// starts), leaving the state reached and the last event's offset in
/// `state` and `last.0` for the caller to use if it ends in a torn tail.
fn replay_snapshot(
    store: &Store,
    state: &mut Option<State>,
    last: &mut (u64, u64),
    mut visit: impl FnMut(&Verified<Event>, u64, &State),
) -> Result<Replayed, VerifyError> {
    let path = store.log_path();
    let io_err = |source| {
        VerifyError::Store(StoreError::Io {
            path: path.to_owned(),
            source,
        })
    };
    let file = std::fs::File::open(path).map_err(io_err)?;
    let file_len = file.metadata().map_err(io_err)?.len();
    last.1 = file_len;
    // The snapshot: nothing past the length read here.
    let mut file = std::io::Read::take(file, file_len);
    let mut buf: Vec<u8> = Vec::new();
    // Offset in the log of buf[0], and how much of buf is consumed.
    let mut base: u64 = 0;
    let mut pos = 0usize;
    let mut eof = false;
    loop {
        // Frame up to a wave of whole events from what is buffered.
        let mut items: Vec<(u64, std::ops::Range<usize>)> = Vec::new();
        let mut stuck = false;
        let mut p = pos;
        // Until the genesis is replayed, the parties are unknown: take it alone.
        let limit = if state.is_none() { 1 } else { WAVE };
        while items.len() < limit {
            match crate::core::format::frame(&buf[p..]) {
                Frame::Item(n) if n <= crate::core::format::MAX_EVENT_BYTES => {
                    items.push((base + p as u64, p..p + n));
                    p += n;
                }
                Frame::NeedMore
                    if !eof && buf.len() - p <= crate::core::format::MAX_EVENT_BYTES =>
                {
                    break
                }
                _ => {
                    stuck = p < buf.len() || !eof;
                    break;
                }
            }
        }
        let (checked, docs) =
            check_wave_docs(&buf, &items, state.as_ref().map(|s| &s.keys), Some(store));
        let docs = Prechecked {
            store,
            docs: docs.into_iter().collect(),
        };
        for ((offset, _), c) in items.iter().zip(checked) {
            let index = state.as_ref().map_or(0, |s| s.count);
            let c = c.map_err(|e| format_failure(store, file_len, index, *offset, e))?;
            let verified = match state.as_mut() {
                None => {
                    let (s, v) = State::genesis(c.into_event())
                        .map_err(|e| failure(Some(index), *offset, e))?;
                    *state = Some(s);
                    v
                }
                Some(s) => s
                    .apply_checked(c, &docs)
                    .map_err(|e| failure(Some(index), *offset, e))?,
            };
            last.0 = *offset;
            if let Some(s) = state.as_ref() {
                visit(&verified, *offset, s);
            }
        }
        pos = p;
        if stuck {
            // The fast framing cannot go on: let the strict reader say why.
            let index = state.as_ref().map_or(0, |s| s.count);
            let offset = base + pos as u64;
            let mut f = std::fs::File::open(path).map_err(io_err)?;
            std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(offset)).map_err(io_err)?;
            let f = std::io::Read::take(f, file_len.saturating_sub(offset));
            let mut reader = LogReader::at(std::io::BufReader::new(f), offset);
            return Err(match reader.next_event() {
                Err(ReadError::Format { offset, error }) => {
                    format_failure(store, file_len, index, offset, error)
                }
                Err(ReadError::Io(e)) => io_err(e),
                Ok(_) => failure(Some(index), offset, Cause::Unframeable),
            });
        }
        if items.is_empty() || buf.len() - pos < crate::core::format::MAX_EVENT_BYTES {
            if eof && pos == buf.len() {
                break;
            }
            // Keep the unconsumed tail and read more behind it.
            buf.drain(..pos);
            base += pos as u64;
            pos = 0;
            let before = buf.len();
            // Never more than the rest of the file (+1, to see its end):
            // zero-filling a whole chunk for a small log is most of the cost.
            let rest = file_len.saturating_sub(base + before as u64) as usize;
            buf.resize(before + READ_CHUNK.min(rest.saturating_add(1)), 0);
            let mut filled = before;
            while filled < buf.len() {
                match std::io::Read::read(&mut file, &mut buf[filled..]) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(io_err(e)),
                }
            }
            buf.truncate(filled);
        }
    }
    match state.take() {
        Some(state) => Ok(Replayed {
            state,
            log_len: base + pos as u64,
            head_offset: last.0,
            in_flight: None,
        }),
        None => Err(failure(Some(0), 0, Cause::Empty)),
    }
}

/// Replay checks each document an event names against the ledger's files.
impl crate::core::replay::Documents for Store {
    fn check(&self, hash: &crate::core::format::DocHash) -> Result<(), String> {
        self.check_doc(hash)
    }
}

/// Calls `visit` with the offset and stored bytes of each complete event of
/// the log as it is now (a snapshot, read without a lock), framed only:
/// nothing is decoded or checked. Stops at the first bytes that are not a
/// complete event (a torn tail, an append in flight or damage: telling
/// them apart is [`replay`]'s job) and returns the offset where the
/// complete events end. For the proofs layer's tree index, whose proofs
/// are checked against a signed root before anyone is shown them.
pub(crate) fn each_frame(
    store: &Store,
    mut visit: impl FnMut(u64, &[u8]),
) -> Result<u64, StoreError> {
    use crate::core::format::MAX_EVENT_BYTES;
    use std::io::Read;
    let path = store.log_path();
    let file = std::fs::File::open(path).map_err(crate::core::store::io(path))?;
    let len = file.metadata().map_err(crate::core::store::io(path))?.len();
    let mut file = file.take(len);
    let mut buf: Vec<u8> = Vec::new();
    let mut base = 0u64;
    loop {
        let before = buf.len();
        let want = READ_CHUNK.min(len.saturating_sub(base + before as u64) as usize);
        buf.resize(before + want, 0);
        let mut filled = before;
        while filled < buf.len() {
            match file.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(crate::core::store::io(path)(e)),
            }
        }
        buf.truncate(filled);
        let (mut p, mut stuck) = (0, false);
        loop {
            match crate::core::format::frame(&buf[p..]) {
                Frame::Item(n) if n <= MAX_EVENT_BYTES => {
                    visit(base + p as u64, &buf[p..p + n]);
                    p += n;
                }
                Frame::NeedMore => break,
                _ => {
                    stuck = true;
                    break;
                }
            }
        }
        buf.drain(..p);
        base += p as u64;
        // Nothing more to read, or what is left cannot become an event.
        if stuck || filled == before || buf.len() > MAX_EVENT_BYTES {
            return Ok(base);
        }
    }
}

/// How [`WitnessFailure::Quorum`] names the rule not met.
fn quorum_rule(quorum: usize, rule: Option<&str>) -> String {
    match rule {
        None => format!("fewer than the {quorum} required (--quorum)"),
        Some(r) => format!("which does not meet the policy's quorum {r} (--policy)"),
    }
}
