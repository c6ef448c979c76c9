//! Replay: the state machine of an agreement (FORMAT §6).
//!
//! [`State::genesis`] and [`State::apply`] are the only way to obtain a
//! [`Verified`] event. They check every rule before changing anything, so a
//! rejected event leaves the state as it was.
//!
//! Keys are judged by log position (FORMAT §6.5): the event at seq `i` is
//! valid only if its kid names a key that is current for its author in the
//! state replayed from the events before `i`. Each party's key history
//! (added, rotated out, revoked) is kept, so that events signed before a
//! rotation or revocation stay valid and the report can show when each key
//! was in force.
//!
//! The parties themselves may change (FORMAT §6.10): a `parties-proposed`
//! event opens a proposal, and the `parties-approved` event that completes
//! the approvals it needs applies it. A removed party stays in the state,
//! with when it left, so that its earlier events and its keys' history can
//! still be shown; it may sign nothing after its removal.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Deref;

use serde::{Deserialize, Serialize};

use crate::base::crypto::{Fingerprint, PublicKey};
use crate::base::time::Timestamp;
use crate::core::format::{
    key_proof_message, party_proof_message, Body, DocHash, DocId, Event, EventHash, Kid, Kind,
    LedgerId, NewParty, PartyId, ProposalId, SessionId, MAX_PARTIES,
};

/// An event that passed every replay rule in its place in the log.
#[derive(Debug, Clone)]
pub struct Verified<T>(T);

impl<T> Verified<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Verified<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Where replay finds the bytes of document versions (FORMAT §6 step 9).
pub trait Documents {
    /// `Ok` if the stored bytes of `hash` exist and hash to it; otherwise
    /// what is wrong, in a few words.
    fn check(&self, hash: &DocHash) -> Result<(), String>;
}

impl<F: Fn(&DocHash) -> Result<(), String>> Documents for F {
    fn check(&self, hash: &DocHash) -> Result<(), String> {
        self(hash)
    }
}

/// Which replay rule an event breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    #[error("sequence number is {found}, expected {expected} (FORMAT §6.3)")]
    Seq { expected: u64, found: u64 },
    #[error("the first event must be ledger-created, found {found} (FORMAT §6.4)")]
    NotGenesis { found: &'static str },
    #[error("ledger-created may only be the first event (FORMAT §6.4)")]
    SecondGenesis,
    #[error("the genesis event must not have a prev hash (FORMAT §6.4)")]
    GenesisPrev,
    #[error("ledger id is {found}, but this ledger's id is {expected}: the event belongs to another ledger (FORMAT §6.4)")]
    WrongLedger { expected: LedgerId, found: LedgerId },
    #[error("prev hash is missing (FORMAT §6.4)")]
    MissingPrev,
    #[error("prev hash is {found}, but the previous event's hash is {expected}: the chain is broken (FORMAT §6.4)")]
    BrokenLink {
        expected: EventHash,
        found: EventHash,
    },
    #[error("author {author:?} is not a party of this ledger (FORMAT §6.5)")]
    UnknownAuthor { author: PartyId },
    #[error("author {author:?} was removed from the parties at event {removed}: a removed party may sign nothing more (FORMAT §6.5, §6.10)")]
    RemovedAuthor { author: PartyId, removed: u64 },
    #[error("kid does not identify a key of author {author:?} (FORMAT §6.5)")]
    KidMismatch { author: PartyId },
    #[error("signed by key {fingerprint} of party {author:?}, {status}: only a current key may sign (FORMAT §6.5)")]
    KeyNotCurrent {
        author: PartyId,
        fingerprint: Fingerprint,
        status: String,
    },
    #[error("signed by the key it introduces ({fingerprint}), which is not a key of {author:?} until this event is applied: sign it with a current key (FORMAT §6.5)")]
    SignedByNewKey {
        author: PartyId,
        fingerprint: Fingerprint,
    },
    #[error("signature does not verify under {author:?}'s key (FORMAT §6.6)")]
    BadSignature { author: PartyId },
    #[error("the new key of {author:?}: {reason} (FORMAT §6.8)")]
    BadNewKey { author: PartyId, reason: String },
    #[error("the new key ({fingerprint}) was introduced at event {added} as a key of party {holder:?}: a key is never held twice (FORMAT §6.8)")]
    KeyReused {
        fingerprint: Fingerprint,
        holder: PartyId,
        added: u64,
    },
    #[error("the new key ({fingerprint}) is the key of party {party:?} in the open proposal {proposal:?}: a key is never held twice (FORMAT §6.8, §6.10)")]
    KeyProposed {
        fingerprint: Fingerprint,
        party: PartyId,
        proposal: ProposalId,
    },
    #[error("the proof does not verify: it must be the new key's signature over the key-proof message of this ledger, seq, prev and author (FORMAT §5.7, §6.8)")]
    BadKeyProof { author: PartyId },
    /// The event names the key by kid alone, and no such key is
    /// known: the kid is all there is to show.
    #[error("party {author:?} has never held a key with kid {kid} (FORMAT §6.8)")]
    UnknownKey { author: PartyId, kid: Kid },
    #[error(
        "key {fingerprint} of party {author:?} was already revoked at event {at} (FORMAT §6.8)"
    )]
    AlreadyRevoked {
        author: PartyId,
        fingerprint: Fingerprint,
        at: u64,
    },
    #[error("revoking key {fingerprint} would leave party {author:?} with no current key; add or rotate to a new key first (FORMAT §6.8)")]
    LastKey {
        author: PartyId,
        fingerprint: Fingerprint,
    },
    #[error("time {time} is earlier than the previous event's time {previous} (FORMAT §6.7)")]
    TimeWentBack { time: String, previous: String },
    #[error("party {party:?}: {reason} (FORMAT §5.6)")]
    BadPartyKey { party: PartyId, reason: String },
    #[error("session {session:?} is already open (opened at event {opened}) (FORMAT §6.8)")]
    SessionOpen { session: SessionId, opened: u64 },
    #[error("session {session:?} is not open (FORMAT §6.8)")]
    SessionNotOpen { session: SessionId },
    #[error("document {doc:?} already exists (drafted at event {drafted}); amend it instead (FORMAT §6.8)")]
    DocExists { doc: DocId, drafted: u64 },
    #[error("no document {doc:?} has been drafted (FORMAT §6.8)")]
    UnknownDoc { doc: DocId },
    #[error("signatory {party:?} of document {doc:?} is not a party (FORMAT §6.8)")]
    SignatoryNotParty { doc: DocId, party: PartyId },
    #[error("signatory {party:?} of document {doc:?} was removed from the parties at event {removed}: only current parties may be named (FORMAT §6.8, §6.10)")]
    SignatoryRemoved {
        doc: DocId,
        party: PartyId,
        removed: u64,
    },
    #[error("signatory {party:?} of document {doc:?} is to be removed by the open proposal {proposal:?} (FORMAT §6.8, §6.10)")]
    SignatoryLeaving {
        doc: DocId,
        party: PartyId,
        proposal: ProposalId,
    },
    #[error("proposal {open:?} (event {at}) is still open: only one proposal to change the parties may be open at a time (FORMAT §6.10)")]
    ProposalOpen { open: ProposalId, at: u64 },
    #[error("proposal id {proposal:?} was already used at event {at}: proposal ids are never reused (FORMAT §6.10)")]
    ProposalReused { proposal: ProposalId, at: u64 },
    #[error("proposal {proposal:?} neither adds nor removes a party (FORMAT §6.10)")]
    EmptyProposal { proposal: ProposalId },
    #[error("proposal {proposal:?} would add {party:?}, which {status}: a party id is never reused (FORMAT §6.10)")]
    PartyExists {
        proposal: ProposalId,
        party: PartyId,
        status: String,
    },
    #[error(
        "proposal {proposal:?}: the key of new party {party:?}: {reason} (FORMAT §5.6, §6.10)"
    )]
    BadJoiningKey {
        proposal: ProposalId,
        party: PartyId,
        reason: String,
    },
    #[error("proposal {proposal:?}: the proof of new party {party:?} does not verify: it must be its key's signature over the party-proof message of this ledger, seq, prev and party (FORMAT §5.8, §6.10)")]
    BadPartyProof {
        proposal: ProposalId,
        party: PartyId,
    },
    #[error(
        "proposal {proposal:?} would remove {party:?}, which is not a current party (FORMAT §6.10)"
    )]
    RemoveNotParty {
        proposal: ProposalId,
        party: PartyId,
    },
    #[error("proposal {proposal:?} would remove {party:?}, a required signatory of document {doc:?}, which is not executed (FORMAT §6.10)")]
    RemovePendingSignatory {
        proposal: ProposalId,
        party: PartyId,
        doc: DocId,
    },
    #[error("proposal {proposal:?} would leave {found} parties; a ledger has 1 to {MAX_PARTIES} (FORMAT §6.10)")]
    PartyCount { proposal: ProposalId, found: usize },
    /// `open` says what is open instead: no proposal, or another one.
    #[error("proposal {proposal:?} cannot be approved: {open} (FORMAT §6.10)")]
    NoSuchProposal { proposal: ProposalId, open: String },
    #[error("sha256 is {found}, but the event that opened proposal {proposal:?} hashes to {expected} (FORMAT §6.10)")]
    ProposalHash {
        proposal: ProposalId,
        expected: EventHash,
        found: EventHash,
    },
    #[error("{party:?} is not required to approve proposal {proposal:?}: only the parties current when it was proposed are (FORMAT §6.10)")]
    NotApprover {
        proposal: ProposalId,
        party: PartyId,
    },
    #[error("{party:?} already approved proposal {proposal:?} at event {at} (FORMAT §6.10)")]
    AlreadyApprovedProposal {
        proposal: ProposalId,
        party: PartyId,
        at: u64,
    },
    #[error("document {doc:?} was executed at event {executed}; it can no longer be amended (FORMAT §6.8)")]
    AmendExecuted { doc: DocId, executed: u64 },
    #[error("the amendment of {doc:?} has the same bytes as its current version (FORMAT §6.8)")]
    SameVersion { doc: DocId },
    #[error("version {found} of {doc:?} is not its current version {current} (FORMAT §6.8)")]
    NotCurrent {
        doc: DocId,
        found: DocHash,
        current: DocHash,
    },
    #[error("{party:?} already approved this version of {doc:?} at event {at} (FORMAT §6.8)")]
    AlreadyApproved { doc: DocId, party: PartyId, at: u64 },
    #[error("{party:?} already signed this version of {doc:?} at event {at} (FORMAT §6.8)")]
    AlreadySigned { doc: DocId, party: PartyId, at: u64 },
    #[error("{party:?} is not a required signatory of {doc:?} (FORMAT §6.8)")]
    NotSignatory { doc: DocId, party: PartyId },
    #[error("document {doc:?} version {sha256}: {reason} (FORMAT §6.9)")]
    Document {
        doc: DocId,
        sha256: DocHash,
        reason: String,
    },
}

/// One open session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub title: String,
    pub opened: u64,
}

/// Who did something (approved or signed a version) at which event: a
/// small sorted list, not a map, because the replay state holds one per
/// document version and must stay small however many documents a ledger
/// has (a tree map costs a node of some 400 bytes even for one entry).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acts(Vec<(PartyId, u64)>);

impl Acts {
    /// The event at which `party` acted, if it did.
    pub fn get(&self, party: &PartyId) -> Option<&u64> {
        self.0
            .binary_search_by(|(p, _)| p.cmp(party))
            .ok()
            .map(|i| &self.0[i].1)
    }

    pub fn contains_key(&self, party: &PartyId) -> bool {
        self.get(party).is_some()
    }

    /// Records that `party` acted at event `seq` (replacing an earlier
    /// record, which replay never makes).
    pub fn insert(&mut self, party: PartyId, seq: u64) {
        match self.0.binary_search_by(|(p, _)| p.cmp(&party)) {
            Ok(i) => self.0[i].1 = seq,
            Err(i) => {
                self.0.insert(i, (party, seq));
                // Exactly as long as needed: there is one per version.
                self.0.shrink_to_fit();
            }
        }
    }

    /// (party, event) pairs, by party id.
    pub fn iter(&self) -> impl Iterator<Item = (&PartyId, &u64)> {
        self.0.iter().map(|(p, s)| (p, s))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl PartialEq<BTreeMap<PartyId, u64>> for Acts {
    fn eq(&self, other: &BTreeMap<PartyId, u64>) -> bool {
        self.len() == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}

/// One version of a document, with who approved and signed it, and when.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Version {
    pub sha256: DocHash,
    /// The event that drafted or amended it.
    pub seq: u64,
    pub approvals: Acts,
    pub signatures: Acts,
}

/// A document: its current version, how many versions it has had, and
/// whether it is executed. Superseded versions are not kept: no rule of
/// FORMAT §6 looks at them (approvals and signatures are of the current
/// version), and the replay state must stay small however many documents
/// a ledger has.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Document {
    /// Boxed, as the signatories: exactly as long as needed, and 8 bytes
    /// smaller than a `String` in each node of the documents' tree.
    pub title: Box<str>,
    /// Sorted, unique (a slice: a set costs a tree node per document).
    pub signatories: Box<[PartyId]>,
    /// The event that drafted it.
    pub drafted: u64,
    /// 1 for the draft, +1 for each amendment.
    pub versions: u64,
    current: Version,
    /// The event at which every signatory had signed the current version.
    pub executed: Option<u64>,
}

impl Document {
    pub fn current(&self) -> &Version {
        &self.current
    }

    /// Required signatories who have not signed the current version.
    pub fn awaiting(&self) -> Vec<&PartyId> {
        let cur = self.current();
        self.signatories
            .iter()
            .filter(|p| !cur.signatures.contains_key(p))
            .collect()
    }
}

/// A revocation: when, and the reason the party gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub seq: u64,
    pub reason: String,
}

/// One key a party holds or held, and when it was in force (FORMAT §6.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub party: PartyId,
    pub key: PublicKey,
    /// The event that introduced it: 0 for the genesis.
    pub added: u64,
    /// The `key-rotated` event it signed, after which it is not current.
    pub rotated_out: Option<u64>,
    pub revoked: Option<Revocation>,
    /// The event that removed its party while it was current (FORMAT
    /// §6.10), after which it is not current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<u64>,
}

impl KeyRecord {
    /// A key of `party`, introduced at event `added`, current.
    pub fn new(party: PartyId, key: PublicKey, added: u64) -> Self {
        KeyRecord {
            party,
            key,
            added,
            rotated_out: None,
            revoked: None,
            removed: None,
        }
    }

    /// Whether the key may sign the next event.
    pub fn is_current(&self) -> bool {
        self.rotated_out.is_none() && self.revoked.is_none() && self.removed.is_none()
    }

    /// Why the key is not current, for messages: "revoked at event 12
    /// (…)", "rotated out at event 7"; "current" if it is.
    pub fn status(&self) -> String {
        match (&self.revoked, self.rotated_out, self.removed) {
            (Some(r), _, _) => format!("revoked at event {} (reason: {:?})", r.seq, r.reason),
            (None, Some(at), _) => format!("rotated out at event {at}"),
            (None, None, Some(at)) => {
                format!("no longer current: its party was removed at event {at}")
            }
            (None, None, None) => "current".to_owned(),
        }
    }
}

/// Every key ever introduced in a ledger, by kid (FORMAT §5.1). A kid
/// appears at most once: no key is held twice (FORMAT §6.8).
pub type KeyRing = BTreeMap<Kid, KeyRecord>;

/// A party: its keys, in the order they were introduced, and when it was
/// a party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    /// Every key it holds or held (records in [`State::keys`]).
    pub keys: Vec<Kid>,
    /// How many of them are current (never 0 while it is a party).
    pub current: usize,
    /// The event at which it joined: 0 for the genesis (FORMAT §6.10).
    #[serde(default)]
    pub joined: u64,
    /// The event at which it was removed, if it was (FORMAT §6.10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<u64>,
}

impl Party {
    /// A party that joined at `joined` with the key `kid`.
    pub fn new(kid: Kid, joined: u64) -> Self {
        Party {
            keys: vec![kid],
            current: 1,
            joined,
            removed: None,
        }
    }

    /// Whether it is a party now (it may sign the next event).
    pub fn is_current(&self) -> bool {
        self.removed.is_none()
    }
}

/// The open proposal to change the parties (FORMAT §6.10).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    pub id: ProposalId,
    /// The `parties-proposed` event that opened it, and its event hash.
    pub seq: u64,
    pub hash: EventHash,
    pub proposer: PartyId,
    /// Parties to add, with their keys.
    pub add: BTreeMap<PartyId, crate::base::crypto::PublicKey>,
    pub remove: Vec<PartyId>,
    /// Who must approve: every party current when it was proposed.
    pub required: Vec<PartyId>,
    /// Who approved, and at which event (the proposer at the proposal).
    pub approvals: Acts,
}

impl Proposal {
    /// Required approvers who have not approved.
    pub fn awaiting(&self) -> Vec<&PartyId> {
        self.required
            .iter()
            .filter(|p| !self.approvals.contains_key(p))
            .collect()
    }
}

/// The replayed state of a ledger after some prefix of its log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub ledger: LedgerId,
    pub title: String,
    pub parties: BTreeMap<PartyId, Party>,
    /// Every key any party holds or held, with its history.
    pub keys: KeyRing,
    /// Events applied so far; the next event's sequence number.
    pub count: u64,
    pub head: EventHash,
    pub last_time: Timestamp,
    pub sessions: BTreeMap<SessionId, Session>,
    pub documents: BTreeMap<DocId, Document>,
    /// The open proposal to change the parties, if any (FORMAT §6.10).
    #[serde(default)]
    pub proposal: Option<Proposal>,
    /// Every proposal id used so far, with the event that used it.
    #[serde(default)]
    pub proposals: BTreeMap<ProposalId, u64>,
}

/// The outcome of checking an event's signature against the key its kid
/// names (FORMAT §6 step 6), computed apart from the ordered replay so that
/// it can run on many cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SignatureCheck {
    /// The kid was not in the key ring the check was made with (a key
    /// introduced later, or no key at all): replay checks it.
    NotChecked,
    Bad,
    Good,
}

/// An event whose signature has been checked, ready for [`State::apply_checked`].
#[derive(Debug, Clone)]
pub struct Checked {
    event: Event,
    signature: SignatureCheck,
    /// The key the signature was checked against, so that replay can
    /// refuse a check made against some other ledger's keys.
    key: Option<[u8; 32]>,
}

impl Checked {
    /// Checks `event`'s signature against the key that `keys` holds for
    /// its kid, if any. Whether that key may sign the event (its author's,
    /// current at its position) is for replay to say. Safe to run in
    /// parallel, in any order.
    pub fn new(keys: &KeyRing, event: Event) -> Checked {
        match keys.get(&Kid(event.kid)) {
            None => Checked::unchecked(event),
            Some(record) => {
                let good = record
                    .key
                    .verify_strict(&event.to_be_signed(), &event.signature);
                Checked {
                    event,
                    signature: if good {
                        SignatureCheck::Good
                    } else {
                        SignatureCheck::Bad
                    },
                    key: Some(record.key.to_bytes()),
                }
            }
        }
    }

    /// An event whose signature is yet to be checked: the genesis, whose
    /// parties are not known until it is read, and events signed by a key
    /// introduced after the key ring was taken.
    pub(crate) fn unchecked(event: Event) -> Checked {
        Checked {
            event,
            signature: SignatureCheck::NotChecked,
            key: None,
        }
    }

    pub fn event(&self) -> &Event {
        &self.event
    }

    pub fn into_event(self) -> Event {
        self.event
    }

    /// FORMAT §6 step 6, against `key`: the check made in parallel if it
    /// was made against this very key, otherwise made now.
    fn signature_under(&self, key: &PublicKey) -> Result<(), RuleError> {
        let good = match self.signature {
            SignatureCheck::Good if self.key == Some(key.to_bytes()) => true,
            SignatureCheck::Bad if self.key == Some(key.to_bytes()) => false,
            _ => key.verify_strict(&self.event.to_be_signed(), &self.event.signature),
        };
        if good {
            Ok(())
        } else {
            Err(RuleError::BadSignature {
                author: self.event.body.author.clone(),
            })
        }
    }
}

impl State {
    /// Replays the genesis event (FORMAT §6 with i = 0).
    pub fn genesis(event: Event) -> Result<(State, Verified<Event>), RuleError> {
        let body = &event.body;
        if body.seq != 0 {
            return Err(RuleError::Seq {
                expected: 0,
                found: body.seq,
            });
        }
        let Kind::LedgerCreated { parties, title } = &body.kind else {
            return Err(RuleError::NotGenesis {
                found: body.kind.name(),
            });
        };
        if body.prev.is_some() {
            return Err(RuleError::GenesisPrev);
        }
        let mut keys = KeyRing::new();
        let mut party_map = BTreeMap::new();
        for (party, bytes) in parties {
            let key =
                PublicKey::from_bytes(bytes, "the key").map_err(|e| RuleError::BadPartyKey {
                    party: party.clone(),
                    reason: e.to_string(),
                })?;
            let kid = Kid::of(bytes);
            if let Some(other) = keys.get(&kid) {
                return Err(RuleError::BadPartyKey {
                    party: party.clone(),
                    reason: format!("has the same key as {:?}", other.party),
                });
            }
            keys.insert(kid, KeyRecord::new(party.clone(), key, 0));
            party_map.insert(party.clone(), Party::new(kid, 0));
        }
        let state = State {
            ledger: body.ledger,
            title: title.clone(),
            parties: party_map,
            keys,
            count: 1,
            head: event.hash(),
            last_time: body.time.clone(),
            sessions: BTreeMap::new(),
            documents: BTreeMap::new(),
            proposal: None,
            proposals: BTreeMap::new(),
        };
        let key = state.signing_key(&event)?;
        Checked::unchecked(event.clone()).signature_under(&key)?;
        Ok((state, Verified(event)))
    }

    /// FORMAT §6 step 5: the key that may sign `event` here, which is the
    /// current key of its author that its kid names.
    fn signing_key(&self, event: &Event) -> Result<PublicKey, RuleError> {
        let author = &event.body.author;
        match self.parties.get(author) {
            None => {
                return Err(RuleError::UnknownAuthor {
                    author: author.clone(),
                })
            }
            Some(Party {
                removed: Some(removed),
                ..
            }) => {
                return Err(RuleError::RemovedAuthor {
                    author: author.clone(),
                    removed: *removed,
                })
            }
            Some(_) => {}
        }
        let kid = Kid(event.kid);
        match self.keys.get(&kid) {
            Some(record) if record.party == *author => {
                if record.is_current() {
                    Ok(record.key)
                } else {
                    Err(RuleError::KeyNotCurrent {
                        author: author.clone(),
                        fingerprint: record.key.fingerprint(),
                        status: record.status(),
                    })
                }
            }
            _ => match &event.body.kind {
                Kind::KeyAdded { key, .. } | Kind::KeyRotated { key, .. }
                    if Kid::of(key) == kid =>
                {
                    Err(RuleError::SignedByNewKey {
                        author: author.clone(),
                        fingerprint: Fingerprint::of(key),
                    })
                }
                _ => Err(RuleError::KidMismatch {
                    author: author.clone(),
                }),
            },
        }
    }

    /// Replays the next event. On error the state is unchanged.
    pub fn apply(
        &mut self,
        event: Event,
        docs: &dyn Documents,
    ) -> Result<Verified<Event>, RuleError> {
        let checked = Checked::new(&self.keys, event);
        self.apply_checked(checked, docs)
    }

    /// Replays the next event, whose signature [`Checked::new`] may have
    /// checked already. A check made against any key other than the one
    /// this state holds for the event's kid is made again. On error the
    /// state is unchanged.
    pub fn apply_checked(
        &mut self,
        checked: Checked,
        docs: &dyn Documents,
    ) -> Result<Verified<Event>, RuleError> {
        self.step(&checked.event, Some(&checked), docs)?;
        Ok(Verified(checked.event))
    }

    /// Every rule [`State::apply`] checks but the signature, for an event
    /// that is yet to be signed (a sign request, FORMAT §20): run on a copy
    /// of the state, which is left unchanged, and gives no [`Verified`], so
    /// the one way into a state is still a checked signature.
    pub fn check_unsigned(&self, event: &Event, docs: &dyn Documents) -> Result<(), RuleError> {
        self.clone().step(event, None, docs)
    }

    /// FORMAT §6 for one event; the signature (step 6) against `checked`,
    /// skipped only for [`State::check_unsigned`]'s copy.
    fn step(
        &mut self,
        event: &Event,
        checked: Option<&Checked>,
        docs: &dyn Documents,
    ) -> Result<(), RuleError> {
        let body = &event.body;
        let seq = body.seq;
        if seq != self.count {
            return Err(RuleError::Seq {
                expected: self.count,
                found: seq,
            });
        }
        if let Kind::LedgerCreated { .. } = body.kind {
            return Err(RuleError::SecondGenesis);
        }
        if body.ledger != self.ledger {
            return Err(RuleError::WrongLedger {
                expected: self.ledger,
                found: body.ledger,
            });
        }
        match body.prev {
            None => return Err(RuleError::MissingPrev),
            Some(prev) if prev != self.head => {
                return Err(RuleError::BrokenLink {
                    expected: self.head,
                    found: prev,
                })
            }
            Some(_) => {}
        }
        let key = self.signing_key(event)?;
        if let Some(checked) = checked {
            checked.signature_under(&key)?;
        }
        if body.time.instant() < self.last_time.instant() {
            return Err(RuleError::TimeWentBack {
                time: body.time.to_string(),
                previous: self.last_time.to_string(),
            });
        }
        self.apply_kind(event, docs)?;
        self.count += 1;
        self.head = event.hash();
        self.last_time = body.time.clone();
        Ok(())
    }

    fn document(&self, doc: &DocId) -> Result<&Document, RuleError> {
        self.documents
            .get(doc)
            .ok_or_else(|| RuleError::UnknownDoc { doc: doc.clone() })
    }

    fn current(&self, doc: &DocId, sha256: &DocHash) -> Result<&Document, RuleError> {
        let d = self.document(doc)?;
        let current = d.current().sha256;
        if *sha256 != current {
            return Err(RuleError::NotCurrent {
                doc: doc.clone(),
                found: *sha256,
                current,
            });
        }
        Ok(d)
    }

    fn stored(docs: &dyn Documents, doc: &DocId, sha256: &DocHash) -> Result<(), RuleError> {
        docs.check(sha256).map_err(|reason| RuleError::Document {
            doc: doc.clone(),
            sha256: *sha256,
            reason,
        })
    }

    // Each arm checks everything first and mutates last.
    fn apply_kind(&mut self, event: &Event, docs: &dyn Documents) -> Result<(), RuleError> {
        let body = &event.body;
        let (kind, author, seq) = (&body.kind, &body.author, body.seq);
        match kind {
            Kind::LedgerCreated { .. } => return Err(RuleError::SecondGenesis),
            Kind::SessionOpened { session, title, .. } => {
                if let Some(open) = self.sessions.get(session) {
                    return Err(RuleError::SessionOpen {
                        session: session.clone(),
                        opened: open.opened,
                    });
                }
                self.sessions.insert(
                    session.clone(),
                    Session {
                        title: title.clone(),
                        opened: seq,
                    },
                );
            }
            Kind::SessionClosed { session, .. } => {
                if self.sessions.remove(session).is_none() {
                    return Err(RuleError::SessionNotOpen {
                        session: session.clone(),
                    });
                }
            }
            Kind::DocumentDrafted {
                doc,
                sha256,
                title,
                signatories,
            } => {
                if let Some(d) = self.documents.get(doc) {
                    return Err(RuleError::DocExists {
                        doc: doc.clone(),
                        drafted: d.drafted,
                    });
                }
                for p in signatories {
                    match self.parties.get(p) {
                        None => {
                            return Err(RuleError::SignatoryNotParty {
                                doc: doc.clone(),
                                party: p.clone(),
                            })
                        }
                        Some(Party {
                            removed: Some(removed),
                            ..
                        }) => {
                            return Err(RuleError::SignatoryRemoved {
                                doc: doc.clone(),
                                party: p.clone(),
                                removed: *removed,
                            })
                        }
                        Some(_) => {}
                    }
                }
                // FORMAT §6.10: a party on its way out may not become a
                // signatory, so that removing it never strands a document.
                if let Some(open) = &self.proposal {
                    if let Some(p) = signatories.iter().find(|p| open.remove.contains(p)) {
                        return Err(RuleError::SignatoryLeaving {
                            doc: doc.clone(),
                            party: p.clone(),
                            proposal: open.id.clone(),
                        });
                    }
                }
                Self::stored(docs, doc, sha256)?;
                self.documents.insert(
                    doc.clone(),
                    Document {
                        title: title.as_str().into(),
                        // Sorted and unique: FORMAT §5.4, checked by the decoder.
                        signatories: signatories.iter().map(|p| self.registered(p)).collect(),
                        drafted: seq,
                        versions: 1,
                        current: Version::new(*sha256, seq),
                        executed: None,
                    },
                );
            }
            Kind::DocumentAmended { doc, sha256, .. } => {
                let d = self.document(doc)?;
                if let Some(executed) = d.executed {
                    return Err(RuleError::AmendExecuted {
                        doc: doc.clone(),
                        executed,
                    });
                }
                if d.current().sha256 == *sha256 {
                    return Err(RuleError::SameVersion { doc: doc.clone() });
                }
                Self::stored(docs, doc, sha256)?;
                if let Some(d) = self.documents.get_mut(doc) {
                    d.current = Version::new(*sha256, seq);
                    d.versions += 1;
                }
            }
            Kind::DocumentApproved { doc, sha256 } => {
                let d = self.current(doc, sha256)?;
                if let Some(&at) = d.current().approvals.get(author) {
                    return Err(RuleError::AlreadyApproved {
                        doc: doc.clone(),
                        party: author.clone(),
                        at,
                    });
                }
                let author = self.registered(author);
                if let Some(d) = self.documents.get_mut(doc) {
                    d.current.approvals.insert(author, seq);
                }
            }
            Kind::DocumentSigned { doc, sha256 } => {
                let d = self.current(doc, sha256)?;
                if let Some(&at) = d.current().signatures.get(author) {
                    return Err(RuleError::AlreadySigned {
                        doc: doc.clone(),
                        party: author.clone(),
                        at,
                    });
                }
                if !d.signatories.contains(author) {
                    return Err(RuleError::NotSignatory {
                        doc: doc.clone(),
                        party: author.clone(),
                    });
                }
                let author = self.registered(author);
                if let Some(d) = self.documents.get_mut(doc) {
                    d.current.signatures.insert(author, seq);
                    if d.awaiting().is_empty() {
                        d.executed = Some(seq);
                    }
                }
            }
            Kind::Note { .. } => {}
            Kind::KeyAdded { key, proof } | Kind::KeyRotated { key, proof } => {
                self.check_new_key(body, key, proof)?;
                self.apply_effect(event);
            }
            Kind::KeyRevoked { kid, .. } => {
                let record = match self.keys.get(kid) {
                    Some(r) if r.party == *author => r,
                    _ => {
                        return Err(RuleError::UnknownKey {
                            author: author.clone(),
                            kid: *kid,
                        })
                    }
                };
                if let Some(r) = &record.revoked {
                    return Err(RuleError::AlreadyRevoked {
                        author: author.clone(),
                        fingerprint: record.key.fingerprint(),
                        at: r.seq,
                    });
                }
                let was_current = record.is_current();
                let current = self.parties.get(author).map_or(0, |p| p.current);
                if was_current && current <= 1 {
                    return Err(RuleError::LastKey {
                        author: author.clone(),
                        fingerprint: record.key.fingerprint(),
                    });
                }
                self.apply_effect(event);
            }
            Kind::PartiesProposed {
                proposal,
                add,
                remove,
            } => {
                self.check_proposal(body, proposal, add, remove)?;
                self.apply_effect(event);
            }
            Kind::PartiesApproved { proposal, sha256 } => {
                let open = match &self.proposal {
                    Some(p) if p.id == *proposal => p,
                    other => {
                        return Err(RuleError::NoSuchProposal {
                            proposal: proposal.clone(),
                            open: other.as_ref().map_or_else(
                                || "no proposal is open".to_owned(),
                                |p| {
                                    format!(
                                        "it is not open; the open proposal is {:?} (event {})",
                                        p.id, p.seq
                                    )
                                },
                            ),
                        })
                    }
                };
                if *sha256 != open.hash {
                    return Err(RuleError::ProposalHash {
                        proposal: proposal.clone(),
                        expected: open.hash,
                        found: *sha256,
                    });
                }
                if !open.required.contains(author) {
                    return Err(RuleError::NotApprover {
                        proposal: proposal.clone(),
                        party: author.clone(),
                    });
                }
                if let Some(&at) = open.approvals.get(author) {
                    return Err(RuleError::AlreadyApprovedProposal {
                        proposal: proposal.clone(),
                        party: author.clone(),
                        at,
                    });
                }
                self.apply_effect(event);
            }
        }
        Ok(())
    }

    /// FORMAT §6.10, `parties-proposed`, checked in the order given there.
    fn check_proposal(
        &self,
        body: &Body,
        proposal: &ProposalId,
        add: &BTreeMap<PartyId, NewParty>,
        remove: &[PartyId],
    ) -> Result<(), RuleError> {
        if let Some(open) = &self.proposal {
            return Err(RuleError::ProposalOpen {
                open: open.id.clone(),
                at: open.seq,
            });
        }
        if let Some(&at) = self.proposals.get(proposal) {
            return Err(RuleError::ProposalReused {
                proposal: proposal.clone(),
                at,
            });
        }
        if add.is_empty() && remove.is_empty() {
            return Err(RuleError::EmptyProposal {
                proposal: proposal.clone(),
            });
        }
        // apply_checked has required prev before the kind rules run.
        let prev = body.prev.unwrap_or(EventHash([0; 32]));
        let mut kids = BTreeSet::new();
        for (party, new) in add {
            if let Some(p) = self.parties.get(party) {
                let status = match p.removed {
                    Some(at) => format!("was a party until its removal at event {at}"),
                    None => "is a party".to_owned(),
                };
                return Err(RuleError::PartyExists {
                    proposal: proposal.clone(),
                    party: party.clone(),
                    status,
                });
            }
            let bad = |reason: String| RuleError::BadJoiningKey {
                proposal: proposal.clone(),
                party: party.clone(),
                reason,
            };
            let public = crate::base::crypto::PublicKey::from_bytes(&new.key, "the key")
                .map_err(|e| bad(e.to_string()))?;
            let kid = Kid::of(&new.key);
            if let Some(r) = self.keys.get(&kid) {
                return Err(RuleError::KeyReused {
                    fingerprint: Fingerprint::of(&new.key),
                    holder: r.party.clone(),
                    added: r.added,
                });
            }
            if !kids.insert(kid) {
                return Err(bad("another party of this proposal has the same key".into()));
            }
            let message = party_proof_message(&body.ledger, body.seq, &prev, party, &new.key);
            if !public.verify_strict(&message, &new.proof) {
                return Err(RuleError::BadPartyProof {
                    proposal: proposal.clone(),
                    party: party.clone(),
                });
            }
        }
        for party in remove {
            if !self.is_party(party) {
                return Err(RuleError::RemoveNotParty {
                    proposal: proposal.clone(),
                    party: party.clone(),
                });
            }
            let pending = self
                .documents
                .iter()
                .find(|(_, d)| d.executed.is_none() && d.signatories.contains(party));
            if let Some((doc, _)) = pending {
                return Err(RuleError::RemovePendingSignatory {
                    proposal: proposal.clone(),
                    party: party.clone(),
                    doc: doc.clone(),
                });
            }
        }
        let current = self.parties.values().filter(|p| p.is_current()).count();
        let after = current - remove.len() + add.len();
        if !(1..=MAX_PARTIES).contains(&after) {
            return Err(RuleError::PartyCount {
                proposal: proposal.clone(),
                found: after,
            });
        }
        Ok(())
    }

    /// What a key or membership event does to the keys, the parties and
    /// the open proposal (FORMAT §6.8, §6.10), once its rules have passed;
    /// other kinds are left to [`State::apply_kind`]. Also the writer's way
    /// to rebuild the key and party history from the events its cache
    /// lists, so that a tampered cache cannot invent a key or a party.
    pub(crate) fn apply_effect(&mut self, event: &Event) {
        let body = &event.body;
        let seq = body.seq;
        let author = self.registered(&body.author);
        match &body.kind {
            Kind::KeyAdded { key, .. } | Kind::KeyRotated { key, .. } => {
                let Ok(public) = crate::base::crypto::PublicKey::from_bytes(key, "the key") else {
                    return;
                };
                let kid = Kid::of(key);
                self.keys
                    .insert(kid, KeyRecord::new(author.clone(), public, seq));
                let rotated = matches!(body.kind, Kind::KeyRotated { .. });
                if rotated {
                    // The signer is a current key of the author (step 5).
                    if let Some(r) = self.keys.get_mut(&Kid(event.kid)) {
                        r.rotated_out = Some(seq);
                    }
                }
                if let Some(p) = self.parties.get_mut(&author) {
                    p.keys.push(kid);
                    if !rotated {
                        p.current += 1;
                    }
                }
            }
            Kind::KeyRevoked { kid, reason } => {
                let Some(r) = self.keys.get_mut(kid) else {
                    return;
                };
                let was_current = r.is_current();
                r.revoked = Some(Revocation {
                    seq,
                    reason: reason.clone(),
                });
                if was_current {
                    if let Some(p) = self.parties.get_mut(&r.party) {
                        p.current = p.current.saturating_sub(1);
                    }
                }
            }
            Kind::PartiesProposed {
                proposal,
                add,
                remove,
            } => {
                // Every current party agrees, those it removes included: no
                // party can expel another alone (FORMAT §6.10).
                let required: Vec<PartyId> = self
                    .parties
                    .iter()
                    .filter(|(_, p)| p.is_current())
                    .map(|(id, _)| id.clone())
                    .collect();
                let mut approvals = Acts::default();
                // The proposal is the proposer's approval (FORMAT §6.10).
                if required.contains(&author) {
                    approvals.insert(author.clone(), seq);
                }
                let add = add
                    .iter()
                    .filter_map(|(id, n)| {
                        crate::base::crypto::PublicKey::from_bytes(&n.key, "the key")
                            .ok()
                            .map(|k| (id.clone(), k))
                    })
                    .collect();
                self.proposals.insert(proposal.clone(), seq);
                self.proposal = Some(Proposal {
                    id: proposal.clone(),
                    seq,
                    hash: event.hash(),
                    proposer: author,
                    add,
                    remove: remove.clone(),
                    required,
                    approvals,
                });
                self.complete_proposal(seq);
            }
            Kind::PartiesApproved { .. } => {
                if let Some(p) = self.proposal.as_mut() {
                    p.approvals.insert(author, seq);
                }
                self.complete_proposal(seq);
            }
            _ => {}
        }
    }

    /// Applies the open proposal at event `seq` if every required party
    /// has approved it (FORMAT §6.10).
    fn complete_proposal(&mut self, seq: u64) {
        if !self
            .proposal
            .as_ref()
            .is_some_and(|p| p.awaiting().is_empty())
        {
            return;
        }
        let Some(p) = self.proposal.take() else {
            return;
        };
        for party in &p.remove {
            if let Some(member) = self.parties.get_mut(party) {
                member.removed = Some(seq);
                member.current = 0;
                for kid in &member.keys {
                    if let Some(r) = self.keys.get_mut(kid) {
                        if r.is_current() {
                            r.removed = Some(seq);
                        }
                    }
                }
            }
        }
        for (party, key) in p.add {
            let kid = Kid(key.kid());
            self.keys
                .insert(kid, KeyRecord::new(party.clone(), key, seq));
            self.parties.insert(party, Party::new(kid, seq));
        }
    }

    /// Whether `party` is a party now (not one removed, FORMAT §6.10).
    pub fn is_party(&self, party: &PartyId) -> bool {
        self.parties.get(party).is_some_and(Party::is_current)
    }

    /// FORMAT §6.8, `key-added` and `key-rotated`: the new key is a valid
    /// Ed25519 key that no party of this ledger holds or held, and `proof`
    /// is its signature over the key-proof message of this event (§5.7).
    fn check_new_key(
        &self,
        body: &Body,
        key: &[u8; 32],
        proof: &[u8; 64],
    ) -> Result<(Kid, PublicKey), RuleError> {
        let author = &body.author;
        let public = PublicKey::from_bytes(key, "the key").map_err(|e| RuleError::BadNewKey {
            author: author.clone(),
            reason: e.to_string(),
        })?;
        let kid = Kid::of(key);
        if let Some(r) = self.keys.get(&kid) {
            return Err(RuleError::KeyReused {
                fingerprint: Fingerprint::of(key),
                holder: r.party.clone(),
                added: r.added,
            });
        }
        // A key that an open proposal gives a new party counts as held
        // (FORMAT §6.10), so that the proposal can always be applied.
        if let Some(open) = &self.proposal {
            if let Some((party, _)) = open.add.iter().find(|(_, k)| k.to_bytes() == *key) {
                return Err(RuleError::KeyProposed {
                    fingerprint: Fingerprint::of(key),
                    party: party.clone(),
                    proposal: open.id.clone(),
                });
            }
        }
        // apply_checked has required prev before the kind rules run.
        let prev = body.prev.unwrap_or(EventHash([0; 32]));
        let message = key_proof_message(&body.ledger, body.seq, &prev, author, key);
        if !public.verify_strict(&message, proof) {
            return Err(RuleError::BadKeyProof {
                author: author.clone(),
            });
        }
        Ok((kid, public))
    }

    /// `party` as the genesis registered it, so that the copies the state
    /// keeps share one allocation.
    fn registered(&self, party: &PartyId) -> PartyId {
        self.parties
            .get_key_value(party)
            .map_or_else(|| party.clone(), |(p, _)| p.clone())
    }

    /// The party for which `key` is a current key, if any.
    pub fn party_of(&self, key: &PublicKey) -> Option<&PartyId> {
        self.key_record(key)
            .filter(|r| r.is_current())
            .map(|r| &r.party)
    }

    /// The record of `key`, if any party holds or held it.
    pub fn key_record(&self, key: &PublicKey) -> Option<&KeyRecord> {
        self.keys.get(&Kid(key.kid())).filter(|r| r.key == *key)
    }

    /// The keys of `party` in the order they were introduced, with their
    /// history.
    pub fn keys_of<'a>(
        &'a self,
        party: &PartyId,
    ) -> impl Iterator<Item = (&'a Kid, &'a KeyRecord)> + 'a {
        let kids = self.parties.get(party).map_or(&[][..], |p| &p.keys[..]);
        kids.iter()
            .filter_map(move |kid| self.keys.get(kid).map(|r| (kid, r)))
    }
}

impl Version {
    fn new(sha256: DocHash, seq: u64) -> Self {
        Version {
            sha256,
            seq,
            approvals: Acts::default(),
            signatures: Acts::default(),
        }
    }
}
