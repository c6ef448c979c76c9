//! Writing: creating a ledger and appending events (FORMAT §8).
//!
//! Every event is built, signed, decoded again from its own bytes and
//! replayed against the current state before a byte reaches the log, so a
//! writer never stores an event that `verify` would reject. The current
//! state comes from the cache when the cache matches the log's tail, and
//! from a full replay otherwise, so appending does not replay the whole log
//! each time.

use std::collections::BTreeMap;
use std::path::Path;

use rand::RngCore;

use crate::crypto::{PublicKey, SigningKey};
use crate::format::{
    key_proof_message, protected_header, sig_structure, Body, DocHash, Event, EventHash,
    FormatError, Kid, Kind, LedgerId, PartyId, FORMAT_VERSION,
};
use crate::replay::{Documents, KeyRecord, RuleError, State};
use crate::store::{Access, Cache, Store, StoreError};
use crate::time::Timestamp;
use crate::verify::{self, Failure, VerifyError};

/// Why an event was not written. Nothing was changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the ledger fails verification, so nothing was written: {0}")]
    Invalid(Failure),
    #[error("the signing key (public key {key}) is not the key of any party of this ledger")]
    NotAParty { key: String },
    #[error("refused: the signing key (kid {kid}) was a key of party {party:?}, but it was {status}; sign with a current key of {party:?}")]
    KeyNotCurrent {
        kid: Kid,
        party: PartyId,
        status: String,
    },
    #[error("refused: {0}")]
    Rule(#[from] RuleError),
    #[error("refused: {0}")]
    Format(#[from] FormatError),
    #[error("{0}")]
    Usage(String),
}

impl From<VerifyError> for WriteError {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Failed(f) => WriteError::Invalid(f),
            VerifyError::Store(s) => WriteError::Store(s),
        }
    }
}

/// What was appended.
#[derive(Debug, Clone)]
pub struct Appended {
    pub seq: u64,
    pub hash: EventHash,
    pub offset: u64,
    pub author: PartyId,
}

fn sign_event(key: &SigningKey, body: &Body) -> Result<(Event, Vec<u8>), WriteError> {
    let kid = key.public().fingerprint();
    let payload = body.encode();
    let signature = key.sign(&sig_structure(&protected_header(&kid), &payload));
    Ok(Event::assemble(kid, payload, signature)?)
}

/// Creates a new ledger in `dir` (which must not exist or be empty) with
/// its genesis event, signed by `key`, which must be one of `parties`.
pub fn init(
    dir: &Path,
    key: &SigningKey,
    title: &str,
    parties: &BTreeMap<PartyId, PublicKey>,
    time: Option<Timestamp>,
) -> Result<Appended, WriteError> {
    let me = key.public();
    let author = parties
        .iter()
        .find(|(_, k)| **k == me)
        .map(|(p, _)| p.clone())
        .ok_or_else(|| {
            WriteError::Usage(format!(
                "the signing key (public key {}) is not among the parties given with --party",
                hex::encode(me.to_bytes())
            ))
        })?;
    crate::format::check_line("title", title)?;
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
    let _ = store.stamp().map(|stamp| {
        store.save_cache(&Cache {
            stamp,
            docs: Vec::new(),
            log_len: bytes.len() as u64,
            head_offset: 0,
            key_events: Vec::new(),
            state,
        })
    });
    Ok(Appended {
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
    let crate::format::Frame::Item(n) = crate::format::frame(&head) else {
        return false;
    };
    let Ok(genesis) = Event::decode(&head[..n]) else {
        return false;
    };
    match &genesis.body.kind {
        Kind::LedgerCreated { parties, .. } => {
            genesis.body.ledger == state.ledger
                && parties.len() == state.parties.len()
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

/// Whether the cached key history (FORMAT §6.5) is what the genesis and
/// the key events at `offsets` make of it, so that a tampered cache cannot
/// make the writer sign with a key that was rotated out or revoked, or that
/// was never introduced. (A cache that leaves out a key event together
/// with its effect still passes: like the rest of the cached state, the
/// list of key events is trusted to be complete once its stamps match.)
fn key_history_matches(store: &Store, state: &State, offsets: &[u64]) -> bool {
    let Some(genesis) = event_at(store, 0) else {
        return false;
    };
    let Kind::LedgerCreated { parties, .. } = &genesis.body.kind else {
        return false;
    };
    let mut keys = crate::replay::KeyRing::new();
    let mut party_map = BTreeMap::new();
    for (p, k) in parties {
        let Ok(key) = PublicKey::from_bytes(k, "the key") else {
            return false;
        };
        keys.insert(Kid::of(k), KeyRecord::new(p.clone(), key, 0));
        party_map.insert(
            p.clone(),
            crate::replay::Party {
                keys: vec![Kid::of(k)],
                current: 1,
            },
        );
    }
    let mut last = 0;
    for &offset in offsets {
        if offset <= last {
            return false;
        }
        last = offset;
        let Some(e) = event_at(store, offset) else {
            return false;
        };
        let (seq, author) = (e.body.seq, &e.body.author);
        let Some(party) = party_map.get_mut(author) else {
            return false;
        };
        match &e.body.kind {
            Kind::KeyAdded { key, .. } | Kind::KeyRotated { key, .. } => {
                let Ok(public) = PublicKey::from_bytes(key, "the key") else {
                    return false;
                };
                keys.insert(Kid::of(key), KeyRecord::new(author.clone(), public, seq));
                party.keys.push(Kid::of(key));
                if matches!(e.body.kind, Kind::KeyRotated { .. }) {
                    match keys.get_mut(&Kid(e.kid)) {
                        Some(r) => r.rotated_out = Some(seq),
                        None => return false,
                    }
                } else {
                    party.current += 1;
                }
            }
            Kind::KeyRevoked { kid, reason } => {
                let Some(r) = keys.get_mut(kid) else {
                    return false;
                };
                if r.is_current() {
                    party.current = party.current.saturating_sub(1);
                }
                r.revoked = Some(crate::replay::Revocation {
                    seq,
                    reason: reason.clone(),
                });
            }
            _ => return false,
        }
    }
    keys == state.keys && party_map == state.parties
}

/// The event that starts at `offset` of the log, if one does.
fn event_at(store: &Store, offset: u64) -> Option<Event> {
    let len = store.log_len().ok()?;
    let bytes = store.read_at(offset, len.checked_sub(offset)?).ok()?;
    let crate::format::Frame::Item(n) = crate::format::frame(&bytes) else {
        return None;
    };
    Event::decode(&bytes[..n]).ok()
}

/// A full replay, and the offsets of the key events it met.
fn replay_noting_key_events(store: &Store) -> Result<(verify::Replayed, Vec<u64>), VerifyError> {
    let mut key_events = Vec::new();
    let replayed = verify::replay(store, |ev, offset, _| {
        if is_key_event(&ev.body.kind) {
            key_events.push(offset);
        }
    })?;
    Ok((replayed, key_events))
}

/// Whether `kind` changes the key history (FORMAT §5.4).
fn is_key_event(kind: &Kind) -> bool {
    matches!(
        kind,
        Kind::KeyAdded { .. } | Kind::KeyRotated { .. } | Kind::KeyRevoked { .. }
    )
}

/// An open ledger, locked for writing, with its current state.
pub struct Writer {
    store: Store,
    state: State,
    log_len: u64,
    head_offset: u64,
    /// Offsets of the key events, for the cache.
    key_events: Vec<u64>,
    repaired: Option<u64>,
}

impl Writer {
    /// Opens `dir` for appending: takes the exclusive lock, removes a torn
    /// tail if there is one, and loads the state from the cache or, if the
    /// cache does not match the log, from a full verification.
    pub fn open(dir: &Path) -> Result<Writer, WriteError> {
        Self::open_with(dir, false)
    }

    /// Opens `dir` for appending like [`Writer::open`], but removes a torn
    /// tail even when this writer's cache cannot confirm that the bytes
    /// came after the last committed event (`ledger repair`).
    pub fn repair(dir: &Path) -> Result<Writer, WriteError> {
        Self::open_with(dir, true)
    }

    fn open_with(dir: &Path, force_repair: bool) -> Result<Writer, WriteError> {
        let mut store = Store::open(dir, Access::Write)?;
        let stamp = store.stamp()?;
        let len = stamp.len;
        let cache = store.load_cache();
        if let Some(cache) = cache {
            let docs_unchanged = store.docs_stamps().is_ok_and(|d| d == cache.docs);
            if cache.stamp == stamp
                && docs_unchanged
                && cache.log_len == len
                && cache.head_offset < len
            {
                let tail = store.read_at(cache.head_offset, len - cache.head_offset)?;
                if EventHash::of(&tail) == cache.state.head
                    && genesis_matches(&store, &cache.state)
                    && key_history_matches(&store, &cache.state, &cache.key_events)
                {
                    return Ok(Writer {
                        store,
                        state: cache.state,
                        log_len: len,
                        head_offset: cache.head_offset,
                        key_events: cache.key_events,
                        repaired: None,
                    });
                }
            }
        }
        // The old cache stays until a new one replaces it: its committed
        // length is what lets a torn tail be removed after a crash here.
        let mut repaired = None;
        let replayed = match replay_noting_key_events(&store) {
            Ok(r) => r,
            Err(VerifyError::Failed(f)) if f.torn_tail => {
                // FORMAT §3: the bytes after the last complete event were
                // never committed; everything before them verified. Cut
                // them only if they lie past what this writer knows to be
                // committed, or if asked to: a damaged length in the last
                // committed event looks the same.
                let at = f.offset.unwrap_or(len);
                // Only this writer's own interrupted append is cut without
                // asking: the tail must lie in the range it marked before
                // writing. Never at offset 0: init writes the genesis whole.
                let ours = store
                    .pending()
                    .is_some_and(|(start, end)| at >= start && at < end && len <= end);
                if at == 0 {
                    return Err(WriteError::Invalid(Failure {
                        reason: format!(
                            "{}. The genesis is damaged: a torn tail never starts at offset 0, so nothing was cut; \
                             compare with another copy",
                            f.reason
                        ),
                        ..f
                    }));
                }
                if !ours && !force_repair {
                    return Err(WriteError::Invalid(Failure {
                        reason: format!(
                            "{}. If no append was interrupted, compare with another copy; if one was, run `ledger repair`.",
                            f.reason
                        ),
                        ..f
                    }));
                }
                store.truncate_torn_tail(at)?;
                store.clear_pending();
                repaired = Some(len - at);
                replay_noting_key_events(&store)?
            }
            Err(e) => return Err(e.into()),
        };
        let (replayed, key_events) = replayed;
        let writer = Writer {
            store,
            state: replayed.state,
            log_len: replayed.log_len,
            head_offset: replayed.head_offset,
            key_events,
            repaired,
        };
        writer.save_cache();
        Ok(writer)
    }

    /// Bytes of a torn tail removed when the ledger was opened, if any.
    pub fn repaired(&self) -> Option<u64> {
        self.repaired
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    fn save_cache(&self) {
        // The cache is an optimisation: failing to write it costs a replay
        // next time, nothing more.
        let (Ok(stamp), Ok(docs)) = (self.store.stamp(), self.store.docs_stamps()) else {
            return;
        };
        let _ = self.store.save_cache(&Cache {
            stamp,
            docs,
            log_len: self.log_len,
            head_offset: self.head_offset,
            key_events: self.key_events.clone(),
            state: self.state.clone(),
        });
    }

    /// The party for which `key` is a current key, or why there is none.
    fn author_of(&self, key: &SigningKey) -> Result<PartyId, WriteError> {
        let me = key.public();
        match self.state.key_record(&me) {
            Some(r) if r.is_current() => Ok(r.party.clone()),
            Some(r) => Err(WriteError::KeyNotCurrent {
                kid: Kid(me.fingerprint()),
                party: r.party.clone(),
                status: r.status(),
            }),
            None => Err(WriteError::NotAParty {
                key: hex::encode(me.to_bytes()),
            }),
        }
    }

    /// Appends a `key-added` (or, with `rotate`, a `key-rotated`) event
    /// signed by `key` that makes `new` a key of the same party (FORMAT
    /// §5.4). `new` signs the key-proof message of the event's position
    /// (§5.7), and the proof is checked by replay before anything is
    /// written.
    pub fn append_key(
        &mut self,
        key: &SigningKey,
        new: &SigningKey,
        rotate: bool,
        time: Option<Timestamp>,
    ) -> Result<Appended, WriteError> {
        let author = self.author_of(key)?;
        let new_key = new.public().to_bytes();
        let message = key_proof_message(
            &self.state.ledger,
            self.state.count,
            &self.state.head,
            &author,
            &new_key,
        );
        let proof = new.sign(&message);
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

    /// The current version of a document, if it exists.
    pub fn current_version(&self, doc: &crate::format::DocId) -> Option<DocHash> {
        self.state.documents.get(doc).map(|d| d.current().sha256)
    }

    /// Signs and appends one event. `document` carries the bytes of a new
    /// version for drafted/amended events; they are stored, durably, only
    /// once the event has passed replay. Nothing changes on error.
    pub fn append(
        &mut self,
        key: &SigningKey,
        time: Option<Timestamp>,
        kind: Kind,
        document: Option<&[u8]>,
    ) -> Result<Appended, WriteError> {
        let author = self.author_of(key)?;
        let body = Body {
            version: FORMAT_VERSION,
            ledger: self.state.ledger,
            seq: self.state.count,
            prev: Some(self.state.head),
            time: time.unwrap_or_else(Timestamp::now),
            author: author.clone(),
            kind,
        };
        let (event, bytes) = sign_event(key, &body)?;
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
        self.store
            .mark_pending(offset, offset + bytes.len() as u64)?;
        self.store.append(offset, &bytes)?;
        self.store.clear_pending();
        self.state = next;
        self.log_len += bytes.len() as u64;
        self.head_offset = offset;
        if is_key_event(&verified.body.kind) {
            self.key_events.push(offset);
        }
        self.save_cache();
        Ok(Appended {
            seq: verified.body.seq,
            hash: verified.hash(),
            offset,
            author,
        })
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

/// The most event bytes committed with one `fdatasync` by an import.
const IMPORT_GROUP_BYTES: usize = 4 << 20;

impl Writer {
    /// Imports pre-signed events (a CBOR sequence, FORMAT §3) that continue
    /// this ledger's chain. Every event is checked exactly as `append`
    /// checks its own, and all of them are checked before anything is
    /// written: an import that fails changes nothing. Document versions
    /// they draft or amend must be in the ledger already or among
    /// `documents` (content, by hash). Events are then committed in groups
    /// of a few MiB, one write and one `fdatasync` per group.
    pub fn import(
        &mut self,
        events: &[u8],
        documents: &BTreeMap<DocHash, std::path::PathBuf>,
        mut progress: impl FnMut(u64),
    ) -> Result<Imported, WriteError> {
        let mut next = self.state.clone();
        let first_seq = next.count;
        // (range in `events`) of each accepted event, in order.
        let mut accepted: Vec<std::ops::Range<usize>> = Vec::new();
        let mut needed: Vec<DocHash> = Vec::new();
        let mut key_offsets: Vec<u64> = Vec::new();
        let base = self.log_len;
        let mut pos = 0usize;
        let docs = |h: &DocHash| {
            if documents.contains_key(h) {
                Ok(())
            } else {
                self.store.check(h)
            }
        };
        let fail = |index: usize, offset: usize, reason: String| {
            WriteError::Usage(format!("import: event {index} of the file (byte offset {offset}): {reason}; nothing was imported"))
        };
        // Frame everything first (cheap), then decode and check signatures
        // in parallel waves, and replay in order.
        let mut items: Vec<(u64, std::ops::Range<usize>)> = Vec::new();
        while pos < events.len() {
            let len = match crate::format::frame(&events[pos..]) {
                crate::format::Frame::Item(n) if n <= crate::format::MAX_EVENT_BYTES => n,
                crate::format::Frame::NeedMore => {
                    return Err(fail(
                        items.len(),
                        pos,
                        "the file ends inside an event".into(),
                    ))
                }
                _ => {
                    // Let the strict decoder say what is wrong.
                    let reason = match Event::decode(&events[pos..]) {
                        Err(e) => e.to_string(),
                        Ok(_) => "not an event".into(),
                    };
                    return Err(fail(items.len(), pos, reason));
                }
            };
            items.push((pos as u64, pos..pos + len));
            pos += len;
        }
        for wave in items.chunks(8192) {
            let checked = crate::verify::check_wave(events, wave, Some(&next.keys));
            for ((offset, range), c) in wave.iter().zip(checked) {
                let index = accepted.len();
                let offset = *offset as usize;
                let c = c.map_err(|e| fail(index, offset, e.to_string()))?;
                if let Kind::DocumentDrafted { sha256, .. } | Kind::DocumentAmended { sha256, .. } =
                    &c.event().body.kind
                {
                    if self.store.check(sha256).is_err() {
                        needed.push(*sha256);
                    }
                }
                let v = next
                    .apply_checked(c, &docs)
                    .map_err(|e| fail(index, offset, e.to_string()))?;
                if is_key_event(&v.body.kind) {
                    // The events are contiguous from the start of the file.
                    key_offsets.push(range.start as u64);
                }
                accepted.push(range.clone());
            }
            progress(wave.last().map_or(0, |(_, r)| r.end as u64));
        }
        if accepted.is_empty() {
            return Err(WriteError::Usage("import: the file holds no events".into()));
        }
        for h in &needed {
            if let Some(path) = documents.get(h) {
                let content = std::fs::read(path).map_err(|source| StoreError::Io {
                    path: path.clone(),
                    source,
                })?;
                if DocHash::of(&content) != *h {
                    return Err(WriteError::Usage(format!(
                        "import: {} changed while importing",
                        path.display()
                    )));
                }
                self.store.put_doc(&content)?;
            }
        }
        let mut groups = 0;
        let mut start = 0usize;
        while start < accepted.len() {
            let from = accepted[start].start;
            let mut end = start;
            while end < accepted.len()
                && (end == start || accepted[end].end - from <= IMPORT_GROUP_BYTES)
            {
                end += 1;
            }
            let bytes = &events[from..accepted[end - 1].end];
            self.store
                .mark_pending(self.log_len, self.log_len + bytes.len() as u64)?;
            if let Err(e) = self.store.append(self.log_len, bytes) {
                self.store.drop_cache();
                if start == 0 {
                    return Err(e.into());
                }
                return Err(WriteError::Usage(format!(
                    "import: {e}; the first {start} events were committed and verify, the other {} were not",
                    accepted.len() - start
                )));
            }
            self.head_offset = self.log_len + (accepted[end - 1].start - from) as u64;
            self.log_len += bytes.len() as u64;
            groups += 1;
            start = end;
        }
        self.store.clear_pending();
        self.state = next;
        self.key_events
            .extend(key_offsets.into_iter().map(|o| base + o));
        self.save_cache();
        Ok(Imported {
            count: accepted.len() as u64,
            first_seq,
            head: self.state.head,
            groups,
        })
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
        if path.is_file() {
            let content = std::fs::read(&path).map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;
            out.insert(DocHash::of(&content), path);
        }
    }
    Ok(out)
}
