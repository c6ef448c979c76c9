//! Writing: creating a ledger and appending events (FORMAT §8).
//!
//! Every event is built, signed, decoded again from its own bytes and
//! replayed against the current state before a byte reaches the log, so a
//! writer never stores an event that `verify` would reject. The current
//! state comes from the cache when the cache matches the log's tail, and
//! from a full replay otherwise, so appending does not replay the whole log
//! each time.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rand::RngCore;

use crate::base::crypto::{Fingerprint, PublicKey, Signer, SigningKey};
use crate::base::mac::{CacheKey, KeyUnavailable};
use crate::base::time::Timestamp;
use crate::core::cache::{Buckets, Cache, EntryKind};
use crate::core::format::{
    key_proof_message, party_proof_message, Body, DocHash, Event, EventHash, FormatError, Kid,
    Kind, LedgerId, NewParty, PartyId, ProposalId, SignError, FORMAT_VERSION,
};
use crate::core::replay::{Documents, RuleError, State};
use crate::core::scan::{self, Failure, VerifyError};
use crate::core::store::{Access, LockWait, Orphan, Orphans, Store, StoreError};
use crate::tlog::merkle::{Frontier, Hash, MerkleError};

/// Why an event was not written. Nothing was changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the ledger fails verification, so nothing was written: {0}")]
    Invalid(Box<Failure>),
    #[error("the signing key ({fingerprint}) is not the key of any party of this ledger (current keys: {}); sign with your party's key, or check which key the token or agent holds", CurrentKeys(.current))]
    NotAParty {
        fingerprint: Fingerprint,
        /// Each current party's current keys, so that the message names
        /// the key the user meant to sign with.
        current: Vec<(PartyId, Fingerprint)>,
    },
    #[error("refused: the signing key ({fingerprint}) was a key of party {party:?}, but it was {status}; sign with a current key of {party:?}")]
    KeyNotCurrent {
        fingerprint: Fingerprint,
        party: PartyId,
        status: String,
    },
    #[error("refused: the signing key ({fingerprint}) is a key of party {party:?}, which was removed from the parties at event {removed}: a removed party may sign nothing more in this ledger (FORMAT §6.10)")]
    PartyRemoved {
        fingerprint: Fingerprint,
        party: PartyId,
        removed: u64,
    },
    #[error("refused: {0}")]
    Rule(#[from] RuleError),
    #[error("refused: {0}")]
    Format(#[from] FormatError),
    /// The log ends in a torn tail (FORMAT §3) that this writer will not
    /// cut by itself.
    #[error("the ledger fails verification, so nothing was written: {failure}. {refusal}")]
    TornTail {
        failure: Box<Failure>,
        refusal: TailRefusal,
    },
    /// The stored file of the document version the event depends on does
    /// not hold that version's bytes (changed in place, or removed).
    #[error("refused: document {doc:?} version {sha256}: {reason}, so the ledger would fail verification; restore docs/{sha256} from another copy of the ledger (`ledger verify` names every such file)")]
    DocumentChanged {
        doc: crate::core::format::DocId,
        sha256: DocHash,
        reason: String,
    },
    /// No `--at` was given, and the ledger's last event claims a time
    /// later than this machine's clock (FORMAT §6.7: time never goes back).
    #[error("refused: the ledger's last event claims {previous}, later than this machine's clock ({now}), and time never goes back in a ledger (FORMAT §6.7); give --at with a time at or after {previous}, or check this machine's clock")]
    ClockBehind { previous: Timestamp, now: Timestamp },
    /// `init`: the signing key is none of the parties' given.
    #[error("the signing key ({fingerprint}) is not among the parties given with --party")]
    InitNotAParty { fingerprint: Fingerprint },
    /// The cache's index of event offsets does not match the log.
    #[error("the cache's index of events is damaged ({damage}); remove {}/cache", .dir.display())]
    CacheIndex { dir: PathBuf, damage: IndexDamage },
    /// The log's head moved although the writer holds the lock.
    /// Signing failed its own check (FORMAT §5.2): nothing was written.
    #[error(transparent)]
    Sign(SignError),
    /// `attach`: the event was made for another position than the head
    /// (FORMAT §20.3).
    #[error("refused: the ledger's head has moved since the sign request was made (the event was made as event #{seq}, after {seq} events; the ledger now has {count}); an event names its predecessor, so it cannot be moved: make a new request with `ledger sign-request` and sign that one")]
    HeadMoved { seq: u64, count: u64 },
    /// `attach`: the event is already in the ledger, so it names a
    /// predecessor that is no longer the head.
    #[error("refused: this signed event is already in the ledger, as event #{seq}, so the event it continues is no longer the head; a signed event is attached once only")]
    AlreadyAttached { seq: u64 },
    /// `attach`: the event is another ledger's.
    #[error("refused: the signed event is for ledger {found}, not this ledger ({expected}); attach it to the ledger its request was made from")]
    OtherLedger { expected: LedgerId, found: LedgerId },
    /// `attach`: the signing key is another party's than the event's author.
    #[error("refused: the signing key ({fingerprint}) is a key of party {party:?}, but the event names {author:?} as its author")]
    NotAuthorsKey {
        fingerprint: Fingerprint,
        party: PartyId,
        author: PartyId,
    },
    /// `attach`: the signing key is no key of this ledger at all.
    #[error("refused: the event names {author:?} as its author, but its signing key ({fingerprint}) is not a key this ledger knows for {author:?} (or any party) at event #{seq}; sign the request with {author:?}'s current key")]
    UnknownKey {
        fingerprint: Fingerprint,
        author: PartyId,
        seq: u64,
    },
    #[error("the ledger changed under the writer's lock; run the command again")]
    ChangedUnderLock,
    /// The cache's Merkle tree could not be written again.
    #[error("could not rebuild the cache's Merkle tree")]
    TreeRebuild,
    #[error(transparent)]
    Merkle(#[from] MerkleError),
    /// A membership proposal names the same new party twice.
    #[error("party {party:?} is added twice")]
    AddedTwice { party: PartyId },
    /// An event of an import file is refused; nothing was imported.
    /// An event of an import file is refused; nothing of its group was
    /// written, and only the `committed` events of the groups before it
    /// (none if the file's framing is what fails).
    #[error("import: event {index} of the file (byte offset {offset}): {problem}; {}", ImportCommitted(*.committed))]
    Import {
        index: usize,
        offset: u64,
        problem: ImportProblem,
        committed: u64,
    },
    /// An import file with no events.
    #[error("import: the file holds no events")]
    ImportEmpty,
    /// An import failed after its first `committed` events were written.
    #[error("import: {source}; the first {committed} events were committed and verify, the other {rest} were not")]
    ImportPartial {
        source: StoreError,
        committed: usize,
        rest: usize,
    },
}

impl WriteError {
    /// The verification failure of the ledger that refused the write, if
    /// that is why: evidence, not a mistake of the caller's.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            WriteError::Invalid(f) | WriteError::TornTail { failure: f, .. } => Some(f.as_ref()),
            _ => None,
        }
    }

    /// Whether the write was refused on evidence that the ledger fails
    /// verification (exit 1), rather than for the request (exit 2).
    pub fn is_refutation(&self) -> bool {
        self.failure().is_some() || matches!(self, WriteError::DocumentChanged { .. })
    }
}

/// Why a writer leaves a torn tail alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TailRefusal {
    /// The "tail" starts at offset 0: the genesis itself is damaged.
    #[error("The genesis is damaged: a torn tail never starts at offset 0, so nothing was cut; compare with another copy")]
    Genesis,
    /// Not this writer's own interrupted append, and no repair was asked.
    #[error(
        "If no append was interrupted, compare with another copy; if one was, run `ledger repair`."
    )]
    NotOurs,
}

/// What is wrong with the cache's index of event offsets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IndexDamage {
    #[error("no offset for event {event}")]
    NoOffset { event: u64 },
    #[error("an event from byte {start} to {end}")]
    Range { start: u64, end: u64 },
}

/// Why an event of an import file is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportProblem {
    #[error("the file ends inside an event")]
    Truncated,
    #[error("not an event")]
    NotAnEvent,
    /// The file could not be read there.
    #[error("cannot read the file: {0}")]
    Read(String),
    #[error(transparent)]
    Format(FormatError),
    #[error(transparent)]
    Rule(RuleError),
}

impl From<VerifyError> for WriteError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Failed(f) => WriteError::Invalid(Box::new(f)),
            VerifyError::Store(s) => WriteError::Store(s),
        }
    }
}

/// What was appended.
#[derive(Debug, Clone)]
pub struct Appended {
    /// The event's kind, as FORMAT §5.4 names it ([`Kind::name`]).
    pub kind: &'static str,
    pub seq: u64,
    pub hash: EventHash,
    pub offset: u64,
    pub author: PartyId,
}

/// What an import that failed had committed, in its message.
struct ImportCommitted(u64);

impl std::fmt::Display for ImportCommitted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            0 => f.write_str("nothing was imported"),
            n => write!(f, "the first {n} events (the groups before this event's) were committed and verify; nothing of this event's group or after it was written"),
        }
    }
}

/// "most SHA256:…, med SHA256:…" in a message.
struct CurrentKeys<'a>(&'a [(PartyId, Fingerprint)]);

impl std::fmt::Display for CurrentKeys<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (party, fp)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{party} {fp}")?;
        }
        Ok(())
    }
}

fn sign_event(key: &dyn Signer, body: &Body) -> Result<(Event, Vec<u8>), WriteError> {
    Event::sign(key, body).map_err(|e| match e {
        SignError::Format(e) => WriteError::Format(e),
        fault => WriteError::Sign(fault),
    })
}

/// Creates a new ledger in `dir` (which must not exist or be empty) with
/// its genesis event, signed by `key`, which must be one of `parties`.
pub fn init(
    dir: &Path,
    key: &dyn Signer,
    title: &str,
    parties: &BTreeMap<PartyId, PublicKey>,
    time: Option<Timestamp>,
) -> Result<Appended, WriteError> {
    let me = key.public_key();
    let author = parties
        .iter()
        .find(|(_, k)| **k == me)
        .map(|(p, _)| p.clone())
        .ok_or_else(|| WriteError::InitNotAParty {
            fingerprint: me.fingerprint(),
        })?;
    crate::core::format::check_line("title", title)?;
    let mut id = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut id);
    let body = Body {
        version: FORMAT_VERSION,
        ledger: LedgerId(id),
        seq: 0,
        prev: None,
        time: time.unwrap_or_else(Timestamp::now),
        author: author.clone(),
        kind: Kind::LedgerCreated {
            title: title.to_owned(),
            parties: parties
                .iter()
                .map(|(p, k)| (p.clone(), k.to_bytes()))
                .collect(),
        },
    };
    let (event, bytes) = sign_event(key, &body)?;
    let (state, verified) = State::genesis(event)?;
    let store = Store::create(dir, &bytes)?;
    let (key, key_problem) = load_key();
    let mut frontier = Frontier::new();
    if let Ok(mut tree) = store.tree_builder() {
        tree.push(&stored_for(&frontier, verified.leaf_hash()), 0);
        let _ = tree.finish();
    }
    let _ = frontier.push(verified.leaf_hash());
    let mut writer = Writer {
        store,
        state,
        complete: true,
        generation: None,
        buckets: Buckets::default(),
        writes: 0,
        key,
        key_problem,
        touched: Touched::default(),
        frontier,
        unsaved: false,
        key_events: Vec::new(),
        log_len: bytes.len() as u64,
        head_offset: 0,
        repaired: None,
    };
    writer.save_cache();
    Ok(Appended {
        kind: verified.body.kind.name(),
        seq: 0,
        hash: verified.hash(),
        offset: 0,
        author,
    })
}

/// Whether the log's genesis names the ledger id and parties the cached
/// state holds: one small read, so that a tampered cache cannot make the
/// writer sign for a party the ledger does not have.
fn genesis_matches(store: &Store, state: &State) -> bool {
    let Ok(head) = store.read_at(0, store.log_len().unwrap_or(0)) else {
        return false;
    };
    let crate::core::format::Frame::Item(n) = crate::core::format::frame(&head) else {
        return false;
    };
    let Ok(genesis) = Event::decode(&head[..n]) else {
        return false;
    };
    match &genesis.body.kind {
        Kind::LedgerCreated { parties, .. } => {
            genesis.body.ledger == state.ledger
                // Parties may have joined since (FORMAT §6.10); the
                // whole party map is checked by key_history_matches.
                && parties.len() <= state.parties.len()
                && parties.iter().all(|(p, k)| {
                    state.parties.get(p).and_then(|party| party.keys.first()) == Some(&Kid::of(k))
                        && state.keys.get(&Kid::of(k)).is_some_and(|r| {
                            r.party == *p && r.added == 0 && r.key.to_bytes() == *k
                        })
                })
        }
        _ => false,
    }
}

/// Whether the cached keys and parties (FORMAT §6.5, §6.10) are what the
/// genesis and the key and membership events at `offsets` make of them,
/// so that a tampered cache cannot make the writer sign with a key that was
/// rotated out or revoked, or that was never introduced, nor invent a
/// party, an open proposal or an approval. The events' effects are
/// applied by the replay code itself ([`State::apply_effect`]). (A cache
/// that leaves out such an event together with its effect still passes:
/// like the rest of the cached state, the list of events is trusted to be
/// complete once its stamps match.)
fn key_history_matches(store: &Store, state: &State, offsets: &[u64]) -> bool {
    let Some(genesis) = event_at(store, 0) else {
        return false;
    };
    let Ok((mut rebuilt, _)) = State::genesis(genesis) else {
        return false;
    };
    let mut last = 0;
    for &offset in offsets {
        if offset <= last {
            return false;
        }
        last = offset;
        let Some(e) = event_at(store, offset) else {
            return false;
        };
        if !changes_keys_or_parties(&e.body.kind) || !rebuilt.parties.contains_key(&e.body.author) {
            return false;
        }
        rebuilt.apply_effect(&e);
    }
    rebuilt.keys == state.keys
        && rebuilt.parties == state.parties
        && rebuilt.proposal == state.proposal
        && rebuilt.proposals == state.proposals
}

/// The event that starts at `offset` of the log, if one does.
fn event_at(store: &Store, offset: u64) -> Option<Event> {
    let len = store.log_len().ok()?;
    let bytes = store.read_at(offset, len.checked_sub(offset)?).ok()?;
    let crate::core::format::Frame::Item(n) = crate::core::format::frame(&bytes) else {
        return None;
    };
    Event::decode(&bytes[..n]).ok()
}

/// Whether `kind` changes the key history or the parties (FORMAT §5.4):
/// the events whose offsets the cache lists.
fn changes_keys_or_parties(kind: &Kind) -> bool {
    matches!(
        kind,
        Kind::KeyAdded { .. }
            | Kind::KeyRotated { .. }
            | Kind::KeyRevoked { .. }
            | Kind::PartiesProposed { .. }
            | Kind::PartiesApproved { .. }
    )
}

/// Whether the rules for `kind` look at every document, not only the one
/// it names: a proposal to remove a party must find every document the
/// party still has to sign (FORMAT §6.10).
fn needs_every_document(kind: &Kind) -> bool {
    matches!(kind, Kind::PartiesProposed { remove, .. } if !remove.is_empty())
}

/// The documents and sessions an event reads or changes: the only parts of
/// the state beyond its head that a rule looks at (FORMAT §6).
fn touches(
    kind: &Kind,
) -> (
    Option<&crate::core::format::DocId>,
    Option<&crate::core::format::SessionId>,
) {
    match kind {
        Kind::DocumentDrafted { doc, .. }
        | Kind::DocumentAmended { doc, .. }
        | Kind::DocumentApproved { doc, .. }
        | Kind::DocumentSigned { doc, .. } => (Some(doc), None),
        Kind::SessionOpened { session, .. } | Kind::SessionClosed { session, .. } => {
            (None, Some(session))
        }
        _ => (None, None),
    }
}

/// Documents and sessions changed since the cache was last saved.
#[derive(Default)]
struct Touched {
    docs: BTreeSet<crate::core::format::DocId>,
    sessions: BTreeSet<crate::core::format::SessionId>,
}

/// What [`Writer::repair_waiting`] did with the files no event needs.
#[derive(Debug, Clone, Default)]
pub struct Cleaned {
    /// Paths (relative to the ledger) of the files removed: temporary
    /// files and documents no event references.
    pub removed: Vec<String>,
    /// Files it left for a person: in `docs/`, but not a file ledger writes.
    pub left: Vec<Orphan>,
}

/// An open ledger, locked for writing, with its current state.
pub struct Writer {
    store: Store,
    /// The state after the last event. Unless `complete`, its documents
    /// and sessions are only those loaded so far from the cache's entries
    /// (see [`Writer::load`]): an append reads only what its event touches.
    state: State,
    /// Whether `state` holds every document and open session (after a
    /// full replay).
    complete: bool,
    /// The generation of the cache entries `state` was loaded from; `None`
    /// when they must all be written anew.
    generation: Option<String>,
    /// The entry buckets written in that generation, and their versions.
    buckets: Buckets,
    /// How many times entries were written in that generation.
    writes: u64,
    /// This user's cache key: without one, the writer neither reads nor
    /// writes a cache (every open replays the whole log), and
    /// `key_problem` says why.
    key: Option<CacheKey>,
    key_problem: Option<KeyUnavailable>,
    touched: Touched,
    /// The Merkle tree after the last event (FORMAT §12).
    frontier: Frontier,
    /// A full replay's state not yet saved to the cache: saved when the
    /// writer is dropped, unless an append or import saved it first.
    unsaved: bool,
    /// Offsets of the key events, for the cache.
    key_events: Vec<u64>,
    log_len: u64,
    head_offset: u64,
    repaired: Option<u64>,
}

/// The hashes the cache's tree stores for the next leaf: the leaf, then the
/// root of each subtree it completes, whose left halves are the frontier's
/// smallest subtrees (as [`crate::tlog::merkle::stored_hashes`] reads them).
fn stored_for(frontier: &Frontier, leaf: Hash) -> Vec<Hash> {
    let lefts = frontier.hashes();
    let m = (frontier.size().trailing_ones() as usize).min(lefts.len());
    let mut out = vec![leaf];
    let mut h = leaf;
    for left in lefts[lefts.len() - m..].iter().rev() {
        h = crate::tlog::merkle::node_hash(left, &h);
        out.push(h);
    }
    out
}

/// Replays the whole log, as verify does, rebuilds the cache's Merkle tree
/// on the way, and notes the offsets of the key events.
fn full_replay(store: &Store) -> Result<(scan::Replayed, Frontier, Vec<u64>), VerifyError> {
    let mut frontier = Frontier::new();
    let mut tree = store.tree_builder().ok();
    let mut key_events = Vec::new();
    let replayed = scan::replay(store, |v, offset, _| {
        if changes_keys_or_parties(&v.body.kind) {
            key_events.push(offset);
        }
        let leaf = v.leaf_hash();
        if let Some(t) = tree.as_mut() {
            t.push(&stored_for(&frontier, leaf), offset);
        }
        // Cannot fail below 2^64 events.
        let _ = frontier.push(leaf);
    })?;
    if let Some(t) = tree {
        let _ = t.finish();
    }
    Ok((replayed, frontier, key_events))
}

/// This user's cache key, or why there is none.
fn load_key() -> (Option<CacheKey>, Option<KeyUnavailable>) {
    match CacheKey::load() {
        Ok(k) => (Some(k), None),
        Err(e) => (None, Some(e)),
    }
}

/// [`Writer::check_depended_on`] against `state`; `arriving` says which
/// versions are being stored with the events themselves (an import's).
fn check_depended_on(
    store: &Store,
    state: &State,
    kind: &Kind,
    arriving: impl Fn(&DocHash) -> bool,
) -> Result<(), WriteError> {
    let (doc, version) = match kind {
        Kind::DocumentSigned { doc, sha256 } | Kind::DocumentApproved { doc, sha256 } => {
            (doc, *sha256)
        }
        Kind::DocumentAmended { doc, .. } => match state.documents.get(doc) {
            Some(d) => (doc, d.current().sha256),
            None => return Ok(()),
        },
        _ => return Ok(()),
    };
    // A version the ledger does not have is the replay's to refuse.
    let known = state
        .documents
        .get(doc)
        .is_some_and(|d| d.current().sha256 == version);
    if !known || arriving(&version) {
        return Ok(());
    }
    store
        .check(&version)
        .map_err(|reason| WriteError::DocumentChanged {
            doc: doc.clone(),
            sha256: version,
            reason,
        })
}

/// What an entry is read with: the key, the generation and the versions
/// the cache's head names.
#[derive(Clone, Copy)]
struct CacheRef<'a> {
    key: &'a CacheKey,
    generation: &'a str,
    buckets: &'a Buckets,
}

impl<'a> CacheRef<'a> {
    /// What a writer's cache entries are read with, if it has a cache.
    fn of(
        key: &'a Option<CacheKey>,
        generation: &'a Option<String>,
        buckets: &'a Buckets,
    ) -> Option<Self> {
        Some(CacheRef {
            key: key.as_ref()?,
            generation: generation.as_deref()?,
            buckets,
        })
    }
}

/// Brings the document or session `kind` touches into `state` from the
/// cache's entries, if it is not there yet. `Ok(false)`: an entry is
/// unreadable, and the cache cannot be used.
fn load_into(
    store: &Store,
    cache: Option<CacheRef<'_>>,
    state: &mut State,
    kind: &Kind,
) -> Result<bool, StoreError> {
    /// Loads entry `id` into `map` unless it is there; `false` if its
    /// bucket or the entry is unreadable.
    fn load<K: Ord + Clone, V: serde::de::DeserializeOwned>(
        store: &Store,
        cache: CacheRef<'_>,
        kind: EntryKind,
        map: &mut BTreeMap<K, V>,
        key: &K,
        id: &str,
    ) -> Result<bool, StoreError> {
        if map.contains_key(key) {
            return Ok(true);
        }
        let entry = store.read_entry(cache.key, cache.generation, kind, id, cache.buckets)?;
        Ok(match entry {
            None => false,
            Some(None) => true,
            Some(Some(v)) => match serde_json::from_value(v) {
                Ok(value) => {
                    map.insert(key.clone(), value);
                    true
                }
                Err(_) => false,
            },
        })
    }
    let Some(cache) = cache else {
        return Ok(false);
    };
    let (doc, session) = touches(kind);
    if let Some(d) = doc {
        let docs = &mut state.documents;
        if !load(store, cache, EntryKind::Document, docs, d, d.as_str())? {
            return Ok(false);
        }
    }
    if let Some(s) = session {
        let sessions = &mut state.sessions;
        if !load(store, cache, EntryKind::Session, sessions, s, s.as_str())? {
            return Ok(false);
        }
    }
    Ok(true)
}

impl Writer {
    /// Opens `dir` for appending: takes the exclusive lock, removes a torn
    /// tail if there is one, and loads the state from the cache or, if the
    /// cache does not match the log, from a full verification.
    pub fn open(dir: &Path) -> Result<Writer, WriteError> {
        Self::open_with(dir, false, LockWait::Forever, &mut |_| {})
    }

    /// [`Writer::open`], waiting for another writer's lock as `wait` says,
    /// and telling `waiting` (once, after a second) who holds it.
    pub fn open_waiting(
        dir: &Path,
        wait: LockWait,
        waiting: &mut dyn FnMut(Option<u32>),
    ) -> Result<Writer, WriteError> {
        Self::open_with(dir, false, wait, waiting)
    }

    /// Opens `dir` for appending like [`Writer::open`], but removes a torn
    /// tail even when this writer's cache cannot confirm that the bytes
    /// came after the last committed event (`ledger repair`).
    pub fn repair(dir: &Path) -> Result<Writer, WriteError> {
        Ok(Self::repair_waiting(dir, LockWait::Forever, &mut |_| {})?.0)
    }

    /// [`Writer::repair`], waiting for another writer's lock as `wait`
    /// says; also removes the files no event needs (issue 11.7: what
    /// `verify` warns about), and says which it removed and which it left.
    pub fn repair_waiting(
        dir: &Path,
        wait: LockWait,
        waiting: &mut dyn FnMut(Option<u32>),
    ) -> Result<(Writer, Cleaned), WriteError> {
        let w = Self::open_with(dir, true, wait, waiting)?;
        // Listed and struck off against a replay of the whole log under
        // the lock: no event written before or during it can reference a
        // file removed here.
        let mut orphans = Orphans::list(&w.store);
        scan::replay(&w.store, |ev, _, _| orphans.stored(&ev.body.kind))?;
        let found = orphans.finish();
        let removed = w.store.remove_orphans(&found)?;
        let left = found.into_iter().filter(|o| !o.removable()).collect();
        Ok((w, Cleaned { removed, left }))
    }

    /// After a commit: removes the temporary files a crashed writer left
    /// (a refused command changes nothing, so only a writer that wrote
    /// does this). `docs/` is listed only after a full replay, which
    /// costs as much anyway: a temporary file made there changes the
    /// directory's stamp, so the writer after a crash always replays.
    fn sweep_leftovers(&self) {
        self.store.remove_leftovers(self.complete);
    }

    fn open_with(
        dir: &Path,
        force_repair: bool,
        wait: LockWait,
        waiting: &mut dyn FnMut(Option<u32>),
    ) -> Result<Writer, WriteError> {
        let mut store = Store::open_waiting(dir, Access::Write, wait, waiting)?;
        let stamp = store.stamp()?;
        let len = stamp.len;
        let (key, key_problem) = load_key();
        if let Some(cache) = key.as_ref().and_then(|k| store.load_cache(k)) {
            // O(1) checks only: the log and docs/ are as this writer left
            // them, the last event hashes to the cached head, the genesis
            // names the cached ledger and parties, and the entries are the
            // generation this head was written with.
            if cache.stamp == stamp
                && store.docs_stamp().is_ok_and(|d| d == cache.docs)
                && cache.log_len == len
                && cache.head_offset < len
                && cache.state.documents.is_empty()
                && cache.state.sessions.is_empty()
                && cache.buckets.is_well_formed()
                && store.entries_generation().as_deref() == Some(cache.entries.as_str())
            {
                let tail = store.read_at(cache.head_offset, len - cache.head_offset)?;
                let frontier = cache
                    .tree
                    .as_deref()
                    .and_then(|t| hex::decode(t).ok())
                    .and_then(|b| Frontier::from_bytes(&b).ok())
                    .filter(|f| f.size() == cache.state.count);
                if let (true, Some(frontier)) = (
                    EventHash::of(&tail) == cache.state.head
                        && genesis_matches(&store, &cache.state)
                        && key_history_matches(&store, &cache.state, &cache.key_events),
                    frontier,
                ) {
                    return Ok(Writer {
                        store,
                        state: cache.state,
                        complete: false,
                        generation: Some(cache.entries),
                        buckets: cache.buckets,
                        writes: cache.writes,
                        key,
                        key_problem,
                        touched: Touched::default(),
                        frontier,
                        unsaved: false,
                        key_events: cache.key_events,
                        log_len: len,
                        head_offset: cache.head_offset,
                        repaired: None,
                    });
                }
            }
        }
        // The old cache stays until a new one replaces it: its committed
        // length is what lets a torn tail be removed after a crash here.
        let mut repaired = None;
        let (replayed, frontier, key_events) = match full_replay(&store) {
            Ok(r) => r,
            Err(VerifyError::Failed(f)) if f.is_torn_tail() => {
                // FORMAT §3: the bytes after the last complete event were
                // never committed; everything before them verified. Cut
                // them only if they lie past what this writer knows to be
                // committed, or if asked to: a damaged length in the last
                // committed event looks the same.
                let at = f.offset.unwrap_or(len);
                // Only this writer's own interrupted append is cut without
                // asking: the tail must lie in the range it marked before
                // writing. Never at offset 0: init writes the genesis whole.
                let ours = key
                    .as_ref()
                    .and_then(|k| store.pending(k))
                    .is_some_and(|(start, end)| at >= start && at < end && len <= end);
                if at == 0 {
                    return Err(WriteError::TornTail {
                        failure: Box::new(f),
                        refusal: TailRefusal::Genesis,
                    });
                }
                if !ours && !force_repair {
                    return Err(WriteError::TornTail {
                        failure: Box::new(f),
                        refusal: TailRefusal::NotOurs,
                    });
                }
                store.truncate_torn_tail(at)?;
                store.clear_pending();
                repaired = Some(len - at);
                full_replay(&store)?
            }
            Err(e) => return Err(e.into()),
        };
        let writer = Writer {
            store,
            state: replayed.state,
            complete: true,
            generation: None,
            buckets: Buckets::default(),
            writes: 0,
            key,
            key_problem,
            touched: Touched::default(),
            frontier,
            // Saved once, when the writer is done: an import or append
            // would otherwise write every cache entry twice.
            unsaved: true,
            key_events,
            log_len: replayed.log_len,
            head_offset: replayed.head_offset,
            repaired,
        };
        Ok(writer)
    }

    /// Why this writer works without its cache, if it does: there is no
    /// usable cache key (see [`crate::base::mac`]).
    pub fn cache_key_problem(&self) -> Option<&KeyUnavailable> {
        self.key_problem.as_ref()
    }

    /// Bytes of a torn tail removed when the ledger was opened, if any.
    pub fn repaired(&self) -> Option<u64> {
        self.repaired
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// Brings what `kind` touches into the state (see [`load_into`]); an
    /// unreadable cache entry costs a full replay.
    fn load(&mut self, kind: &Kind) -> Result<(), WriteError> {
        if self.complete
            || (!needs_every_document(kind)
                && load_into(
                    &self.store,
                    CacheRef::of(&self.key, &self.generation, &self.buckets),
                    &mut self.state,
                    kind,
                )?)
        {
            return Ok(());
        }
        self.reload()
    }

    /// Drops the cache and takes the whole state from a full replay of the
    /// log, to be saved anew when this writer is done.
    fn reload(&mut self) -> Result<(), WriteError> {
        self.store.drop_cache();
        let (replayed, frontier, key_events) = full_replay(&self.store)?;
        self.state = replayed.state;
        self.frontier = frontier;
        self.key_events = key_events;
        self.complete = true;
        self.unsaved = true;
        self.generation = None;
        self.buckets = Buckets::default();
        self.writes = 0;
        Ok(())
    }

    /// Records the log range an append is about to fill (see
    /// [`Store::mark_pending`]); without a cache key, nothing is recorded,
    /// and a torn tail after a crash then needs `ledger repair`.
    fn mark_pending(&self, start: u64, end: u64) -> Result<(), StoreError> {
        match &self.key {
            Some(k) => self.store.mark_pending(k, start, end),
            None => Ok(()),
        }
    }

    /// Adds committed events' leaves to the Merkle tree: the frontier in
    /// the cache's head, and the stored hashes in the cache's tree file
    /// while it is complete (a stale one is rebuilt when a proof needs it).
    fn grow_tree(&mut self, leaves: &[(Hash, u64)]) {
        let hashes = crate::tlog::merkle::stored_hash_count(self.frontier.size()).ok();
        let events = self.frontier.size();
        let mut stored = Vec::with_capacity(leaves.len() * 2);
        for (leaf, _) in leaves {
            stored.extend(stored_for(&self.frontier, *leaf));
            // Cannot fail below 2^64 events.
            let _ = self.frontier.push(*leaf);
        }
        if let Some(n) = hashes {
            let offsets: Vec<u64> = leaves.iter().map(|(_, o)| *o).collect();
            // A failed write leaves the tree file stale, to be rebuilt
            // when a proof needs it.
            let _ = self.store.append_tree_many(n, events, &stored, &offsets);
        }
    }

    /// The length of the log, to the end of the last event.
    pub fn log_len(&self) -> u64 {
        self.log_len
    }

    /// The stored bytes of event `index`, found by the offsets of the
    /// cache's tree (checked by [`Writer::tree`]).
    pub fn event_bytes(
        &self,
        tree: &crate::core::cache::TreeFile,
        index: u64,
    ) -> Result<Vec<u8>, WriteError> {
        let damaged = |damage: IndexDamage| WriteError::CacheIndex {
            dir: self.store.dir().to_owned(),
            damage,
        };
        let start = tree
            .offset(index)
            .ok_or_else(|| damaged(IndexDamage::NoOffset { event: index }))?;
        let end = match index + 1 < self.frontier.size() {
            true => tree
                .offset(index + 1)
                .ok_or_else(|| damaged(IndexDamage::NoOffset { event: index + 1 }))?,
            false => self.log_len,
        };
        if end <= start || end - start > crate::core::format::MAX_EVENT_BYTES as u64 {
            return Err(damaged(IndexDamage::Range { start, end }));
        }
        Ok(self.store.read_at(start, end - start)?)
    }

    /// The Merkle tree's size and root after the last event (FORMAT §12).
    pub fn tree_head(&self) -> (u64, Hash) {
        (self.frontier.size(), self.frontier.root())
    }

    /// The cache's stored Merkle hashes and event offsets, to compute
    /// proofs from. Checked against the log before use, cheaply: the root
    /// they give must be the head's, and their last leaf hash and offset
    /// those of the log's last event. A damaged cache is rebuilt from a full
    /// replay ([`Writer::rebuild_tree`]), as is the head's frontier.
    pub fn tree(&mut self) -> Result<crate::core::cache::TreeFile, WriteError> {
        match self.cached_tree() {
            Some(t) => Ok(t),
            None => self.rebuild_tree(),
        }
    }

    fn cached_tree(&self) -> Option<crate::core::cache::TreeFile> {
        use crate::tlog::merkle::HashReader;
        let size = self.frontier.size();
        let count = crate::tlog::merkle::stored_hash_count(size).ok()?;
        let t = self.store.tree(count, size)?;
        if crate::tlog::merkle::tree_hash(size, &t).ok()? != self.frontier.root() {
            return None;
        }
        let last = size.checked_sub(1)?;
        let index = crate::tlog::merkle::stored_hash_index(0, last).ok()?;
        let tail = self
            .store
            .read_at(
                self.head_offset,
                self.log_len.checked_sub(self.head_offset)?,
            )
            .ok()?;
        let leaf = crate::tlog::merkle::leaf_hash(&tail);
        (t.offset(last)? == self.head_offset && t.read_hashes(&[index]).ok()? == [leaf])
            .then_some(t)
    }

    /// Rebuilds the cache's Merkle tree, event offsets and frontier from a
    /// full replay of the log.
    pub fn rebuild_tree(&mut self) -> Result<crate::core::cache::TreeFile, WriteError> {
        let (replayed, frontier, _) = full_replay(&self.store)?;
        if replayed.state.head != self.state.head {
            return Err(WriteError::ChangedUnderLock);
        }
        if frontier != self.frontier {
            self.frontier = frontier;
            // The head's frontier was damaged: the next save mends it.
            self.unsaved = true;
        }
        let size = self.frontier.size();
        let count = crate::tlog::merkle::stored_hash_count(size)?;
        self.store.tree(count, size).ok_or(WriteError::TreeRebuild)
    }

    /// Checks every stored hash and offset of the cache's tree against the
    /// log, hashing it once (no signature checks): for `publish`, whose
    /// output is immutable. Rebuilds the tree if anything differs.
    pub fn checked_tree(&mut self) -> Result<crate::core::cache::TreeFile, WriteError> {
        let t = self.tree()?;
        if self.tree_matches_log(&t)? {
            return Ok(t);
        }
        self.rebuild_tree()
    }

    fn tree_matches_log(&self, t: &crate::core::cache::TreeFile) -> Result<bool, WriteError> {
        use crate::tlog::merkle::HashReader;
        use std::io::Read;
        let path = self.store.log_path();
        let io = |source| {
            WriteError::Store(StoreError::Io {
                path: path.to_owned(),
                source,
            })
        };
        let mut file = std::fs::File::open(path).map_err(io)?;
        let mut frontier = Frontier::new();
        let mut buf: Vec<u8> = Vec::new();
        let (mut base, mut index) = (0u64, 0u64);
        let mut chunk = vec![0u8; 4 << 20];
        loop {
            let n = file.read(&mut chunk).map_err(io)?;
            buf.extend_from_slice(&chunk[..n]);
            let mut pos = 0usize;
            loop {
                let len = match crate::core::format::frame(&buf[pos..]) {
                    crate::core::format::Frame::Item(len) => len,
                    crate::core::format::Frame::NeedMore => break,
                    // Verified when the writer opened it: the log changed.
                    crate::core::format::Frame::Unframeable => return Ok(false),
                };
                if base + pos as u64 >= self.log_len {
                    break;
                }
                let leaf = crate::tlog::merkle::leaf_hash(&buf[pos..pos + len]);
                let stored = stored_for(&frontier, leaf);
                let at = crate::tlog::merkle::stored_hash_index(0, index)?;
                let want: Vec<u64> = (at..at + stored.len() as u64).collect();
                if t.read_hashes(&want).ok() != Some(stored)
                    || t.offset(index) != Some(base + pos as u64)
                {
                    return Ok(false);
                }
                let _ = frontier.push(leaf);
                index += 1;
                pos += len;
            }
            buf.drain(..pos);
            base += pos as u64;
            if n == 0 {
                break;
            }
        }
        Ok(index == self.frontier.size() && frontier == self.frontier)
    }

    fn mark_touched(&mut self, kind: &Kind) {
        let (doc, session) = touches(kind);
        if let Some(d) = doc {
            self.touched.docs.insert(d.clone());
        }
        if let Some(s) = session {
            self.touched.sessions.insert(s.clone());
        }
    }

    fn save_cache(&mut self) {
        self.unsaved = false;
        // The cache is an optimisation: failing to write it costs a replay
        // next time, nothing more.
        if self.write_cache().is_err() {
            self.store.drop_cache();
            self.generation = None;
            self.buckets = Buckets::default();
            self.writes = 0;
        }
        self.touched = Touched::default();
    }

    fn write_cache(&mut self) -> Result<(), StoreError> {
        // Serialising these types cannot fail (string keys only); a null
        // entry would only be unreadable, which costs a replay.
        fn json(v: &impl serde::Serialize) -> serde_json::Value {
            serde_json::to_value(v).unwrap_or_default()
        }
        let Some(key) = self.key.as_ref() else {
            // No key, no cache: one this writer could not authenticate.
            self.store.drop_cache();
            return Ok(());
        };
        let generation = match &self.generation {
            Some(g) => {
                let docs = &self.state.documents;
                let sessions = &self.state.sessions;
                let version = self.writes + 1;
                self.store.write_entries(
                    key,
                    g,
                    version,
                    EntryKind::Document,
                    self.touched
                        .docs
                        .iter()
                        .map(|id| (id.as_str().to_owned(), docs.get(id).map(json))),
                    &mut self.buckets,
                )?;
                self.store.write_entries(
                    key,
                    g,
                    version,
                    EntryKind::Session,
                    self.touched
                        .sessions
                        .iter()
                        .map(|id| (id.as_str().to_owned(), sessions.get(id).map(json))),
                    &mut self.buckets,
                )?;
                self.writes = version;
                g.clone()
            }
            None => {
                let docs = self
                    .state
                    .documents
                    .iter()
                    .map(|(id, d)| (EntryKind::Document, id.as_str().to_owned(), json(d)));
                let sessions = self
                    .state
                    .sessions
                    .iter()
                    .map(|(id, s)| (EntryKind::Session, id.as_str().to_owned(), json(s)));
                let (g, buckets) = self.store.reset_entries(key, docs.chain(sessions))?;
                self.generation = Some(g.clone());
                self.buckets = buckets;
                self.writes = 1;
                g
            }
        };
        // The head without the entries, which are not cloned to get there.
        let documents = std::mem::take(&mut self.state.documents);
        let sessions = std::mem::take(&mut self.state.sessions);
        let head = State {
            documents: BTreeMap::new(),
            sessions: BTreeMap::new(),
            ..self.state.clone()
        };
        self.state.documents = documents;
        self.state.sessions = sessions;
        self.store.save_cache(
            key,
            &Cache {
                stamp: self.store.stamp()?,
                docs: self.store.docs_stamp()?,
                entries: generation,
                buckets: self.buckets.clone(),
                writes: self.writes,
                log_len: self.log_len,
                head_offset: self.head_offset,
                tree: Some(hex::encode(self.frontier.to_bytes())),
                key_events: self.key_events.clone(),
                state: head,
            },
        )
    }

    /// The party for which `key` is a current key, or why there is none.
    fn author_of(&self, key: &dyn Signer) -> Result<PartyId, WriteError> {
        self.author_of_key(&key.public_key())
    }

    fn author_of_key(&self, me: &PublicKey) -> Result<PartyId, WriteError> {
        let me = *me;
        let removed = |r: &crate::core::replay::KeyRecord| {
            self.state.parties.get(&r.party).and_then(|p| p.removed)
        };
        match self.state.key_record(&me) {
            Some(r) if r.is_current() => Ok(r.party.clone()),
            Some(r) if removed(r).is_some() => Err(WriteError::PartyRemoved {
                fingerprint: me.fingerprint(),
                party: r.party.clone(),
                removed: removed(r).unwrap_or_default(),
            }),
            Some(r) => Err(WriteError::KeyNotCurrent {
                fingerprint: me.fingerprint(),
                party: r.party.clone(),
                status: r.status(),
            }),
            None => {
                let mut current: Vec<_> = self
                    .state
                    .keys
                    .values()
                    .filter(|r| r.is_current() && removed(r).is_none())
                    .map(|r| (r.party.clone(), r.key.fingerprint()))
                    .collect();
                // By party, then in the order of the key ring.
                current.sort_by(|a, b| a.0.cmp(&b.0));
                Err(WriteError::NotAParty {
                    fingerprint: me.fingerprint(),
                    current,
                })
            }
        }
    }

    /// Appends a `key-added` (or, with `rotate`, a `key-rotated`) event
    /// signed by `key` that makes `new` a key of the same party (FORMAT
    /// §5.4). `new` signs the key-proof message of the event's position
    /// (§5.7), and the proof is checked by replay before anything is
    /// written.
    pub fn append_key(
        &mut self,
        key: &dyn Signer,
        new: &dyn Signer,
        rotate: bool,
        time: Option<Timestamp>,
    ) -> Result<Appended, WriteError> {
        let author = self.author_of(key)?;
        let new_key = new.public_key().to_bytes();
        let message = key_proof_message(
            &self.state.ledger,
            self.state.count,
            &self.state.head,
            &author,
            &new_key,
        );
        let proof = new
            .try_sign(&message)
            .map_err(|e| WriteError::Sign(SignError::Signer(e)))?;
        let kind = if rotate {
            Kind::KeyRotated {
                key: new_key,
                proof,
            }
        } else {
            Kind::KeyAdded {
                key: new_key,
                proof,
            }
        };
        self.append(key, time, kind, None)
    }

    /// Appends a `parties-proposed` event signed by `key` (FORMAT §5.4):
    /// the parties in `add` join, each with the key given, which signs
    /// the party-proof message of the event's position (§5.8); those in
    /// `remove` leave. Replay checks every rule (§6.10) before anything
    /// is written.
    pub fn propose_parties(
        &mut self,
        key: &dyn Signer,
        proposal: ProposalId,
        add: &[(PartyId, &SigningKey)],
        remove: &[PartyId],
        time: Option<Timestamp>,
    ) -> Result<Appended, WriteError> {
        // Fails early, with the writer's message, for a key that may not sign.
        self.author_of(key)?;
        let mut joining = BTreeMap::new();
        for (party, new) in add {
            let public = new.public().to_bytes();
            let message = party_proof_message(
                &self.state.ledger,
                self.state.count,
                &self.state.head,
                party,
                &public,
            );
            let entry = NewParty {
                key: public,
                proof: new.sign(&message),
            };
            if joining.insert(party.clone(), entry).is_some() {
                return Err(WriteError::AddedTwice {
                    party: party.clone(),
                });
            }
        }
        let mut remove = remove.to_vec();
        remove.sort();
        remove.dedup();
        let kind = Kind::PartiesProposed {
            proposal,
            add: joining,
            remove,
        };
        self.append(key, time, kind, None)
    }

    /// Appends a `parties-approved` event signed by `key` for the open
    /// proposal `proposal` (FORMAT §5.4), naming its event hash.
    pub fn approve_parties(
        &mut self,
        key: &dyn Signer,
        proposal: ProposalId,
        time: Option<Timestamp>,
    ) -> Result<Appended, WriteError> {
        // With no such proposal open, replay refuses the event and says
        // which proposal is open, if any.
        let sha256 = self
            .state
            .proposal
            .as_ref()
            .filter(|p| p.id == proposal)
            .map_or(EventHash([0; 32]), |p| p.hash);
        self.append(key, time, Kind::PartiesApproved { proposal, sha256 }, None)
    }

    /// The current version of a document, if it exists.
    pub fn current_version(
        &mut self,
        doc: &crate::core::format::DocId,
    ) -> Result<Option<DocHash>, WriteError> {
        let probe = Kind::DocumentSigned {
            doc: doc.clone(),
            sha256: DocHash([0; 32]),
        };
        self.load(&probe)?;
        Ok(self.state.documents.get(doc).map(|d| d.current().sha256))
    }

    /// Re-hashes the stored file of the document version an event depends
    /// on (the version signed or approved, or the one an amendment
    /// replaces): a file changed in place since it was stored is refused
    /// here, not left for `verify` to find after the event is written.
    /// (The other versions' files are only checked by `verify`, which reads
    /// them all; README, "What append checks".)
    fn check_depended_on(&self, kind: &Kind) -> Result<(), WriteError> {
        check_depended_on(&self.store, &self.state, kind, |_| false)
    }

    /// Signs and appends one event. `document` carries the bytes of a new
    /// version for drafted/amended events; they are stored, durably, only
    /// once the event has passed replay. Nothing changes on error.
    pub fn append(
        &mut self,
        key: &dyn Signer,
        time: Option<Timestamp>,
        kind: Kind,
        document: Option<&[u8]>,
    ) -> Result<Appended, WriteError> {
        let body = self.prepare(&key.public_key(), time, kind)?;
        let (event, bytes) = sign_event(key, &body)?;
        self.commit(event, bytes, document)
    }

    /// The body `append` would sign for `key` at the head, once it has
    /// passed every check `append` makes, the agreement's rules (FORMAT §6)
    /// included, all but the signature, which is yet to be made: the
    /// payload of a sign request (FORMAT §20). `document` is the version a
    /// drafted or amended event stores, and the bytes of the version an
    /// approval or signature names are returned beside the body (read
    /// from the ledger's own file, checked against the hash the event
    /// names), so the offline signer can show what it signs.
    pub fn prepare_request(
        &mut self,
        key: &PublicKey,
        time: Option<Timestamp>,
        kind: Kind,
        document: Option<&[u8]>,
    ) -> Result<(Body, Option<Vec<u8>>), WriteError> {
        let body = self.prepare(key, time, kind)?;
        // The event as it will be stored but for its signature: a field
        // over its limit or an event too large is refused here, as
        // `append` would refuse it, and so is anything replay refuses.
        let probe = Event::unsigned(key.kid(), &body)?;
        let pending = document.map(DocHash::of);
        let docs = |h: &DocHash| {
            if Some(*h) == pending {
                Ok(())
            } else {
                self.store.check(h)
            }
        };
        self.state.check_unsigned(&probe, &docs)?;
        let named = match &body.kind {
            Kind::DocumentApproved { doc, sha256 } | Kind::DocumentSigned { doc, sha256 } => {
                let bytes =
                    self.store
                        .read_doc(sha256)
                        .map_err(|reason| WriteError::DocumentChanged {
                            doc: doc.clone(),
                            sha256: *sha256,
                            reason,
                        })?;
                Some(bytes)
            }
            _ => document.map(<[u8]>::to_vec),
        };
        Ok((body, named))
    }

    /// The body `append` would sign for `key` at the head, after what
    /// `append` checks before it signs: `key` is a current key of a party,
    /// the clock, and the stored document the event depends on. Replay
    /// checks the rest once the event is signed ([`Writer::append`]), or,
    /// for a sign request, before ([`Writer::prepare_request`]).
    fn prepare(
        &mut self,
        key: &PublicKey,
        time: Option<Timestamp>,
        kind: Kind,
    ) -> Result<Body, WriteError> {
        let author = self.author_of_key(key)?;
        let time = match time {
            Some(t) => t,
            None => {
                let now = Timestamp::now();
                if now.instant() < self.state.last_time.instant() {
                    return Err(WriteError::ClockBehind {
                        previous: self.state.last_time.clone(),
                        now,
                    });
                }
                now
            }
        };
        let body = Body {
            version: FORMAT_VERSION,
            ledger: self.state.ledger,
            seq: self.state.count,
            prev: Some(self.state.head),
            time,
            author: author.clone(),
            kind,
        };
        self.load(&body.kind)?;
        self.check_depended_on(&body.kind)?;
        Ok(body)
    }

    /// Appends an event signed elsewhere (`ledger attach`, FORMAT §20.3)
    /// after the checks of any append: it must be this ledger's and
    /// continue its head (an event names its predecessor, so one made for
    /// another head cannot be moved without being signed again), `key`
    /// (the key whose kid the event names, as its signed file says) must be
    /// a current key of the event's author, and replay, the signature
    /// checked strictly included, must accept it. `document` is the version
    /// a drafted or amended event stores.
    pub fn attach(
        &mut self,
        stored: &[u8],
        key: &PublicKey,
        document: Option<&[u8]>,
    ) -> Result<Appended, WriteError> {
        let event = Event::decode(stored)?;
        let body = &event.body;
        if body.ledger != self.state.ledger {
            return Err(WriteError::OtherLedger {
                expected: self.state.ledger,
                found: body.ledger,
            });
        }
        if body.seq < self.state.count {
            let tree = self.tree()?;
            if self.event_bytes(&tree, body.seq)? == stored {
                return Err(WriteError::AlreadyAttached { seq: body.seq });
            }
        }
        if body.seq != self.state.count || body.prev != Some(self.state.head) {
            return Err(WriteError::HeadMoved {
                seq: body.seq,
                count: self.state.count,
            });
        }
        if event.kid != key.kid() {
            return Err(WriteError::Format(FormatError::Envelope(
                "the event's kid is not the SHA-256 of the key its signed file names".into(),
            )));
        }
        match self.author_of_key(key) {
            Ok(party) if party == body.author => {}
            Ok(party) => {
                return Err(WriteError::NotAuthorsKey {
                    fingerprint: key.fingerprint(),
                    party,
                    author: body.author.clone(),
                })
            }
            Err(WriteError::NotAParty { fingerprint, .. }) => {
                return Err(WriteError::UnknownKey {
                    fingerprint,
                    author: body.author.clone(),
                    seq: body.seq,
                })
            }
            Err(e) => return Err(e),
        }
        self.load(&event.body.kind)?;
        self.check_depended_on(&event.body.kind)?;
        self.commit(event, stored.to_vec(), document)
    }

    /// Stores a signed event once replay, its signature check included,
    /// accepts it, with the document version it drafts or amends.
    fn commit(
        &mut self,
        event: Event,
        bytes: Vec<u8>,
        document: Option<&[u8]>,
    ) -> Result<Appended, WriteError> {
        let author = event.body.author.clone();
        let pending = document.map(DocHash::of);
        let docs = |h: &DocHash| {
            if Some(*h) == pending {
                Ok(())
            } else {
                self.store.check(h)
            }
        };
        let mut next = self.state.clone();
        let verified = next.apply(event, &docs)?;
        if let Some(content) = document {
            self.store.put_doc(content)?;
        }
        let offset = self.log_len;
        self.mark_pending(offset, offset + bytes.len() as u64)?;
        if let Err(e) = self.store.append(offset, &bytes) {
            // Cut back by the store: the marker vouches for nothing now.
            self.store.clear_pending();
            return Err(e.into());
        }
        self.store.clear_pending();
        if changes_keys_or_parties(&verified.body.kind) {
            self.key_events.push(offset);
        }
        self.grow_tree(&[(verified.leaf_hash(), offset)]);
        self.mark_touched(&verified.body.kind);
        self.state = next;
        self.log_len += bytes.len() as u64;
        self.head_offset = offset;
        self.sweep_leftovers();
        self.save_cache();
        Ok(Appended {
            kind: verified.body.kind.name(),
            seq: verified.body.seq,
            hash: verified.hash(),
            offset,
            author,
        })
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if self.unsaved {
            self.save_cache();
        }
    }
}

/// What an import committed.
#[derive(Debug, Clone)]
pub struct Imported {
    pub count: u64,
    pub first_seq: u64,
    pub head: EventHash,
    pub groups: usize,
}

/// The most event bytes committed with one `fdatasync` by an import, and
/// about the most of the input held in memory at once.
const IMPORT_GROUP_BYTES: usize = 4 << 20;

/// Reads an import file (a CBOR sequence, FORMAT §3) in bounded pieces
/// and frames it into groups of whole events of at most
/// [`IMPORT_GROUP_BYTES`] (one event may be a group alone): at most a
/// group and one event of the input are held at once, whatever its size.
struct GroupReader<R> {
    input: R,
    /// Unconsumed input: the next group starts at `buf[0]`.
    buf: Vec<u8>,
    /// Where `buf[0]` is in the input.
    offset: u64,
    /// Events framed before `buf[0]`.
    index: usize,
    eof: bool,
}

/// One group of framed events: the bytes are `GroupReader::buf[..len]`.
struct Group {
    /// (offset in the input, range in the group's bytes) of each event.
    items: Vec<(u64, std::ops::Range<usize>)>,
    len: usize,
}

impl<R: std::io::Read> GroupReader<R> {
    fn new(input: R) -> Self {
        GroupReader {
            input,
            buf: Vec::new(),
            offset: 0,
            index: 0,
            eof: false,
        }
    }

    /// Reads until a whole group and the event after it fit in `buf`.
    fn fill(&mut self) -> std::io::Result<()> {
        let want = IMPORT_GROUP_BYTES + crate::core::format::MAX_EVENT_BYTES + 1;
        while !self.eof && self.buf.len() < want {
            let have = self.buf.len();
            self.buf.resize(want, 0);
            match self.input.read(&mut self.buf[have..]) {
                Ok(0) => {
                    self.buf.truncate(have);
                    self.eof = true;
                }
                Ok(n) => self.buf.truncate(have + n),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => self.buf.truncate(have),
                Err(e) => {
                    self.buf.truncate(have);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Frames the next group; `None` at the end of the input. A framing
    /// failure names the event's index and offset in the input, with what
    /// the strict decoder says is wrong.
    fn next_group(&mut self) -> Result<Option<Group>, (usize, u64, ImportProblem)> {
        self.fill().map_err(|e| {
            let at = self.offset + self.buf.len() as u64;
            (self.index, at, ImportProblem::Read(e.to_string()))
        })?;
        let mut items = Vec::new();
        let mut pos = 0usize;
        while pos < self.buf.len() {
            let at = self.offset + pos as u64;
            let index = self.index + items.len();
            let len = match crate::core::format::frame(&self.buf[pos..]) {
                crate::core::format::Frame::Item(n)
                    if n <= crate::core::format::MAX_EVENT_BYTES =>
                {
                    n
                }
                crate::core::format::Frame::NeedMore
                    if self.eof || self.buf.len() - pos <= crate::core::format::MAX_EVENT_BYTES =>
                {
                    return Err((index, at, ImportProblem::Truncated))
                }
                _ => {
                    // Longer than an event may be, or not framed by the
                    // fast path: let the strict decoder say what is wrong.
                    let problem = match Event::decode(&self.buf[pos..]) {
                        Err(e) => ImportProblem::Format(e),
                        Ok(_) => ImportProblem::NotAnEvent,
                    };
                    return Err((index, at, problem));
                }
            };
            if !items.is_empty() && pos + len > IMPORT_GROUP_BYTES {
                break;
            }
            items.push((at, pos..pos + len));
            pos += len;
        }
        if items.is_empty() {
            return Ok(None);
        }
        Ok(Some(Group { items, len: pos }))
    }

    /// Drops a group's bytes once it is committed.
    fn consume(&mut self, group: &Group) {
        self.buf.drain(..group.len);
        self.offset += group.len as u64;
        self.index += group.items.len();
    }
}

/// What one group of an import adds, once checked, ready to commit.
#[derive(Default)]
struct GroupChecked {
    needed: Vec<DocHash>,
    touched_docs: Vec<crate::core::format::DocId>,
    touched_sessions: Vec<crate::core::format::SessionId>,
    /// (leaf hash, offset in the group's bytes) of each event.
    leaves: Vec<(Hash, u64)>,
    /// Offsets in the group's bytes of the key and membership events.
    key_offsets: Vec<u64>,
    /// Offset in the group's bytes of its last event.
    last: u64,
}

impl Writer {
    /// Imports pre-signed events (a CBOR sequence, FORMAT §3) that continue
    /// this ledger's chain, held in memory; see [`Writer::import_from`].
    pub fn import(
        &mut self,
        events: &[u8],
        documents: &BTreeMap<DocHash, std::path::PathBuf>,
        progress: impl FnMut(u64),
    ) -> Result<Imported, WriteError> {
        self.import_from(std::io::Cursor::new(events), documents, progress)
    }

    /// Imports pre-signed events (a CBOR sequence, FORMAT §3) that continue
    /// this ledger's chain, read from `input` in bounded pieces (a group
    /// of at most a few MiB and one event at a time, whatever its size).
    ///
    /// The whole input is framed first (cheap: CBOR lengths only, and a
    /// strict decoding of the last event), so a truncated input, or one
    /// with bytes after its last event that are not an event, is refused
    /// before anything is written. Then each
    /// group of events of a few MiB is checked exactly as `append` checks
    /// its own (parallel strict decoding and signature checks, ordered
    /// replay) and, if every event of it passes, committed: its documents
    /// (one `syncfs`), then its events (one write and one `fdatasync`).
    /// A group with a bad event writes nothing; the groups before it stay
    /// committed, and the error says how many events they hold. Document
    /// versions the events draft or amend must be in the ledger already or
    /// among `documents` (content, by hash).
    pub fn import_from<R: std::io::Read + std::io::Seek>(
        &mut self,
        mut input: R,
        documents: &BTreeMap<DocHash, std::path::PathBuf>,
        mut progress: impl FnMut(u64),
    ) -> Result<Imported, WriteError> {
        let fail = |committed: u64| {
            move |(index, offset, problem): (usize, u64, ImportProblem)| WriteError::Import {
                index,
                offset,
                problem,
                committed,
            }
        };
        // The framing pass: every verdict that needs no state comes
        // before any write.
        let seek_error = |e: std::io::Error| WriteError::Import {
            index: 0,
            offset: 0,
            problem: ImportProblem::Read(e.to_string()),
            committed: 0,
        };
        let start = input.stream_position().map_err(seek_error)?;
        {
            let mut framer = GroupReader::new(&mut input);
            // The last event of the file, decoded strictly: bytes after
            // the last event are an item that is not one.
            let mut last = None;
            while let Some(g) = framer.next_group().map_err(fail(0))? {
                if let Some((at, r)) = g.items.last() {
                    let index = framer.index + g.items.len() - 1;
                    last = Some((index, *at, framer.buf[r.clone()].to_vec()));
                }
                framer.consume(&g);
            }
            let Some((index, offset, bytes)) = last else {
                return Err(WriteError::ImportEmpty);
            };
            if let Err(e) = Event::decode(&bytes) {
                return Err(fail(0)((index, offset, ImportProblem::Format(e))));
            }
        }
        input
            .seek(std::io::SeekFrom::Start(start))
            .map_err(seek_error)?;
        let first_seq = self.state.count;
        let mut reader = GroupReader::new(input);
        let mut count = 0u64;
        let mut groups = 0;
        while let Some(group) = reader.next_group().map_err(fail(count))? {
            let bytes = &reader.buf[..group.len];
            let mut next = self.state.clone();
            let checked = match self.check_group(&mut next, bytes, &group, documents) {
                Ok(Some(c)) => c,
                // An unreadable cache entry, or an event whose rules look
                // at every document: this group again after a full
                // replay (nothing of it has been written yet).
                Ok(None) => {
                    self.reload()?;
                    continue;
                }
                Err(e) => {
                    return Err(match e {
                        WriteError::Import {
                            index,
                            offset,
                            problem,
                            ..
                        } => WriteError::Import {
                            index: index + reader.index,
                            offset,
                            problem,
                            committed: count,
                        },
                        e => e,
                    })
                }
            };
            let n = group.items.len();
            if let Err(e) = self.commit_group(next, bytes, checked, documents) {
                return Err(match e {
                    WriteError::Store(source) if count > 0 => WriteError::ImportPartial {
                        source,
                        committed: count as usize,
                        rest: n,
                    },
                    e => e,
                });
            }
            count += n as u64;
            groups += 1;
            reader.consume(&group);
            progress(reader.offset);
        }
        self.sweep_leftovers();
        self.save_cache();
        Ok(Imported {
            count,
            first_seq,
            head: self.state.head,
            groups,
        })
    }

    /// Checks one group's events against `next` (the state before the
    /// group), in parallel waves and ordered replay; `None` if the group
    /// must be checked again after a full replay. An event refused is a
    /// [`WriteError::Import`] with its index in the group.
    fn check_group(
        &self,
        next: &mut State,
        bytes: &[u8],
        group: &Group,
        documents: &BTreeMap<DocHash, std::path::PathBuf>,
    ) -> Result<Option<GroupChecked>, WriteError> {
        // The documents given were hashed as they were read: one whose
        // bytes changed since it was exported is not found under its name.
        let docs = |h: &DocHash| {
            if documents.contains_key(h) {
                Ok(())
            } else {
                self.store
                    .check(h)
                    .map_err(|e| format!("no document given to import has these bytes, and {e}"))
            }
        };
        let fail = |index: usize, offset: u64, problem: ImportProblem| WriteError::Import {
            index,
            offset,
            problem,
            committed: 0,
        };
        let mut out = GroupChecked::default();
        let mut index = 0usize;
        for wave in group.items.chunks(8192) {
            let checked = crate::core::scan::check_wave(bytes, wave, Some(&next.keys));
            for ((offset, range), c) in wave.iter().zip(checked) {
                let c = c.map_err(|e| fail(index, *offset, ImportProblem::Format(e)))?;
                if let Kind::DocumentDrafted { sha256, .. } | Kind::DocumentAmended { sha256, .. } =
                    &c.event().body.kind
                {
                    if self.store.check(sha256).is_err() {
                        out.needed.push(*sha256);
                    }
                }
                if !self.complete
                    && (needs_every_document(&c.event().body.kind)
                        || !load_into(
                            &self.store,
                            CacheRef::of(&self.key, &self.generation, &self.buckets),
                            next,
                            &c.event().body.kind,
                        )?)
                {
                    return Ok(None);
                }
                let (doc, session) = touches(&c.event().body.kind);
                out.leaves.push((c.event().leaf_hash(), range.start as u64));
                out.touched_docs.extend(doc.cloned());
                out.touched_sessions.extend(session.cloned());
                check_depended_on(&self.store, next, &c.event().body.kind, |h| {
                    documents.contains_key(h)
                })?;
                let v = next
                    .apply_checked(c, &docs)
                    .map_err(|e| fail(index, *offset, ImportProblem::Rule(e)))?;
                if changes_keys_or_parties(&v.body.kind) {
                    out.key_offsets.push(range.start as u64);
                }
                out.last = range.start as u64;
                index += 1;
            }
        }
        Ok(Some(out))
    }

    /// Commits one checked group: its documents first, made durable
    /// together (one `syncfs` rather than two fsyncs each), before any
    /// event that names one; then its events, one write and one
    /// `fdatasync`, inside a pending mark so that a crash leaves a tail
    /// the next writer cuts (FORMAT §3).
    fn commit_group(
        &mut self,
        next: State,
        bytes: &[u8],
        checked: GroupChecked,
        documents: &BTreeMap<DocHash, std::path::PathBuf>,
    ) -> Result<(), WriteError> {
        let mut changed = None;
        self.store.put_docs(checked.needed.iter().filter_map(|h| {
            let path = documents.get(h)?;
            let content = match std::fs::read(path) {
                Ok(c) => c,
                Err(source) => {
                    changed = Some(StoreError::Io {
                        path: path.clone(),
                        source,
                    });
                    return None;
                }
            };
            if DocHash::of(&content) != *h {
                changed = Some(StoreError::Io {
                    path: path.clone(),
                    source: std::io::Error::other("the file changed while importing"),
                });
                return None;
            }
            Some(content)
        }))?;
        if let Some(e) = changed {
            return Err(e.into());
        }
        let base = self.log_len;
        self.mark_pending(base, base + bytes.len() as u64)?;
        if let Err(e) = self.store.append(base, bytes) {
            self.store.clear_pending();
            self.store.drop_cache();
            self.unsaved = false;
            return Err(e.into());
        }
        self.store.clear_pending();
        let leaves: Vec<(Hash, u64)> = checked
            .leaves
            .iter()
            .map(|(h, at)| (*h, base + at))
            .collect();
        self.state = next;
        self.head_offset = base + checked.last;
        self.log_len += bytes.len() as u64;
        self.grow_tree(&leaves);
        self.key_events
            .extend(checked.key_offsets.iter().map(|o| base + o));
        self.touched.docs.extend(checked.touched_docs);
        self.touched.sessions.extend(checked.touched_sessions);
        self.unsaved = true;
        Ok(())
    }
}

/// Indexes the files of a directory by their SHA-256, for `import --docs`.
pub fn index_documents(dir: &Path) -> Result<BTreeMap<DocHash, std::path::PathBuf>, StoreError> {
    let mut out = BTreeMap::new();
    let io = |source| StoreError::Io {
        path: dir.to_owned(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        // Regular files only (a FIFO or device is skipped, never opened),
        // each at most the size a writer stores.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let at = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        if meta.len() > crate::core::store::MAX_DOCUMENT_BYTES {
            return Err(at(std::io::Error::other(format!(
                "{} bytes, more than the {} MiB a document may have",
                meta.len(),
                crate::core::store::MAX_DOCUMENT_BYTES >> 20
            ))));
        }
        let content = std::fs::read(&path).map_err(at)?;
        out.insert(DocHash::of(&content), path);
    }
    Ok(out)
}
