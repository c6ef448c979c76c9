//! Replay: the state machine of an agreement (FORMAT §6).
//!
//! [`State::genesis`] and [`State::apply`] are the only way to obtain a
//! [`Verified`] event. They check every rule before changing anything, so a
//! rejected event leaves the state as it was.

use std::collections::BTreeMap;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

use crate::crypto::PublicKey;
use crate::format::{DocHash, DocId, Event, EventHash, Kind, LedgerId, PartyId, SessionId};
use crate::time::Timestamp;

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
    #[error("kid does not identify the key of author {author:?} (FORMAT §6.5)")]
    KidMismatch { author: PartyId },
    #[error("signature does not verify under {author:?}'s key (FORMAT §6.6)")]
    BadSignature { author: PartyId },
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
    pub title: String,
    /// Sorted, unique (a `Vec`: a set costs a tree node per document).
    pub signatories: Vec<PartyId>,
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

/// The replayed state of a ledger after some prefix of its log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub ledger: LedgerId,
    pub title: String,
    pub parties: BTreeMap<PartyId, PublicKey>,
    /// Events applied so far; the next event's sequence number.
    pub count: u64,
    pub head: EventHash,
    pub last_time: Timestamp,
    pub sessions: BTreeMap<SessionId, Session>,
    pub documents: BTreeMap<DocId, Document>,
}

/// The outcome of checking an event's signature against the key of the
/// party it names as author (FORMAT §6 steps 5 and 6), computed apart from
/// the ordered replay so that it can run on many cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SignatureCheck {
    UnknownAuthor,
    KidMismatch,
    Bad,
    Good,
}

/// An event whose signature has been checked, ready for [`State::apply_checked`].
#[derive(Debug, Clone)]
pub struct Checked {
    event: Event,
    signature: SignatureCheck,
    /// The key the signature was checked against, so that replay can
    /// refuse a check made against some other ledger's parties.
    key: Option<[u8; 32]>,
}

impl Checked {
    /// Checks `event`'s kid and signature against the key that `parties`
    /// registers for its author. Safe to run in parallel, in any order.
    pub fn new(parties: &BTreeMap<PartyId, PublicKey>, event: Event) -> Checked {
        let key = parties.get(&event.body.author).map(PublicKey::to_bytes);
        let signature = match parties.get(&event.body.author) {
            None => SignatureCheck::UnknownAuthor,
            Some(key) if event.kid != key.fingerprint() => SignatureCheck::KidMismatch,
            Some(key) if !key.verify_strict(&event.to_be_signed(), &event.signature) => {
                SignatureCheck::Bad
            }
            Some(_) => SignatureCheck::Good,
        };
        Checked {
            event,
            signature,
            key,
        }
    }

    /// An event whose signature is yet to be checked: only the genesis,
    /// whose parties are not known until it is read.
    pub(crate) fn unchecked(event: Event) -> Checked {
        Checked {
            event,
            signature: SignatureCheck::UnknownAuthor,
            key: None,
        }
    }

    pub fn event(&self) -> &Event {
        &self.event
    }

    pub fn into_event(self) -> Event {
        self.event
    }

    fn result(&self) -> Result<(), RuleError> {
        let author = self.event.body.author.clone();
        match self.signature {
            SignatureCheck::UnknownAuthor => Err(RuleError::UnknownAuthor { author }),
            SignatureCheck::KidMismatch => Err(RuleError::KidMismatch { author }),
            SignatureCheck::Bad => Err(RuleError::BadSignature { author }),
            SignatureCheck::Good => Ok(()),
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
        let Kind::LedgerCreated { parties, .. } = &body.kind else {
            return Err(RuleError::NotGenesis {
                found: body.kind.name(),
            });
        };
        if body.prev.is_some() {
            return Err(RuleError::GenesisPrev);
        }
        let mut keys = BTreeMap::new();
        let mut seen: BTreeMap<[u8; 32], &PartyId> = BTreeMap::new();
        for (party, bytes) in parties {
            let key =
                PublicKey::from_bytes(bytes, "the key").map_err(|e| RuleError::BadPartyKey {
                    party: party.clone(),
                    reason: e.to_string(),
                })?;
            if let Some(other) = seen.insert(*bytes, party) {
                return Err(RuleError::BadPartyKey {
                    party: party.clone(),
                    reason: format!("has the same key as {other:?}"),
                });
            }
            keys.insert(party.clone(), key);
        }
        let checked = Checked::new(&keys, event);
        checked.result()?;
        let event = checked.event;
        let body = &event.body;
        let Kind::LedgerCreated { title, .. } = &body.kind else {
            return Err(RuleError::NotGenesis {
                found: body.kind.name(),
            });
        };
        let state = State {
            ledger: body.ledger,
            title: title.clone(),
            parties: keys,
            count: 1,
            head: event.hash(),
            last_time: body.time.clone(),
            sessions: BTreeMap::new(),
            documents: BTreeMap::new(),
        };
        Ok((state, Verified(event)))
    }

    /// Replays the next event. On error the state is unchanged.
    pub fn apply(
        &mut self,
        event: Event,
        docs: &dyn Documents,
    ) -> Result<Verified<Event>, RuleError> {
        let checked = Checked::new(&self.parties, event);
        self.apply_checked(checked, docs)
    }

    /// Replays the next event, whose signature [`Checked::new`] has checked
    /// against this ledger's parties. On error the state is unchanged.
    pub fn apply_checked(
        &mut self,
        checked: Checked,
        docs: &dyn Documents,
    ) -> Result<Verified<Event>, RuleError> {
        let registered = self
            .parties
            .get(&checked.event.body.author)
            .map(PublicKey::to_bytes);
        let checked = if checked.key == registered {
            checked
        } else {
            // Checked against other parties: check again, against ours.
            Checked::new(&self.parties, checked.event)
        };
        let body = &checked.event.body;
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
        let author = &body.author;
        checked.result()?;
        if body.time.instant() < self.last_time.instant() {
            return Err(RuleError::TimeWentBack {
                time: body.time.to_string(),
                previous: self.last_time.to_string(),
            });
        }
        self.apply_kind(&body.kind, author, seq, docs)?;
        self.count += 1;
        self.head = checked.event.hash();
        self.last_time = body.time.clone();
        Ok(Verified(checked.event))
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
    fn apply_kind(
        &mut self,
        kind: &Kind,
        author: &PartyId,
        seq: u64,
        docs: &dyn Documents,
    ) -> Result<(), RuleError> {
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
                if let Some(p) = signatories.iter().find(|p| !self.parties.contains_key(*p)) {
                    return Err(RuleError::SignatoryNotParty {
                        doc: doc.clone(),
                        party: p.clone(),
                    });
                }
                Self::stored(docs, doc, sha256)?;
                self.documents.insert(
                    doc.clone(),
                    Document {
                        title: title.clone(),
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
        }
        Ok(())
    }

    /// `party` as the genesis registered it, so that the copies the state
    /// keeps share one allocation.
    fn registered(&self, party: &PartyId) -> PartyId {
        self.parties
            .get_key_value(party)
            .map_or_else(|| party.clone(), |(p, _)| p.clone())
    }

    /// The party whose registered key is `key`, if any.
    pub fn party_of(&self, key: &PublicKey) -> Option<&PartyId> {
        self.parties.iter().find(|(_, k)| *k == key).map(|(p, _)| p)
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
