//! The auditor's view: replay a ledger from its first byte and report what
//! it proves (FORMAT §6), or the first event that fails and why.
//!
//! Verification reads only `events.cbor` and `docs/`; the writer's cache
//! and anything else in the directory are ignored.

use std::fmt::{self, Write as _};
use std::path::Path;

use serde::Serialize;

use crate::base::crypto::Fingerprint;
use crate::core::format::{DocHash, DocId, Event, EventHash, Kid, Kind, LedgerId, PartyId};
use crate::core::replay::{KeyRecord, State, Verified};
use crate::core::scan::replay;
pub use crate::core::scan::{
    Cause, CheckpointProblem, Failure, LateClaim, TrustFailure, VerifyError, WitnessFailure,
};
use crate::core::store::{Access, Orphan, Orphans, Store};
use crate::tlog::merkle::Hash;

/// What an auditor additionally requires (FORMAT §6, end).
#[derive(Debug, Default)]
pub struct Options {
    /// `--trust`: every party must have held one of these keys, and each
    /// must be a key some party holds or held; one bound to a party
    /// explicitly (`PARTY=FILE`) must be a key that party holds or held.
    pub trust: Option<Vec<crate::core::trust::TrustedKey>>,
    /// `--head`: the ledger must contain an event with this hash.
    pub head: Option<EventHash>,
}

/// One party: the key the genesis registered, and every key it held.
#[derive(Debug, Clone, Serialize)]
pub struct PartyInfo {
    pub id: PartyId,
    /// The event at which it joined: 0 for the genesis (FORMAT §6.10).
    pub joined: u64,
    /// The event at which it was removed, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed: Option<u64>,
    /// Whether it is a party now.
    pub current: bool,
    /// Its first key (hex): the one registered at genesis, or when it
    /// joined; it may since have been rotated out or revoked: see `keys`.
    pub key: String,
    /// That key's fingerprint, as people compare it (`SHA256:…`, what
    /// `ledger fingerprint` and `ssh-keygen -l` print).
    pub fingerprint: String,
    /// That key's kid (hex), the format's key id (FORMAT §5.1).
    pub kid: String,
    /// Every key the party holds or held, in the order introduced.
    pub keys: Vec<KeyInfo>,
}

/// One key of a party and when it was in force (FORMAT §6.5).
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    pub key: String,
    /// `SHA256:…`, as `ledger fingerprint` prints it.
    pub fingerprint: String,
    /// The kid (hex, FORMAT §5.1).
    pub kid: String,
    /// The event that introduced it (0: the genesis).
    pub added: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotated_out: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_reason: Option<String>,
    /// The event that removed its party while the key was current.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub party_removed: Option<u64>,
    /// Whether it may sign the next event.
    pub current: bool,
}

impl KeyInfo {
    fn of(r: &KeyRecord) -> Self {
        KeyInfo {
            key: hex::encode(r.key.to_bytes()),
            fingerprint: r.key.fingerprint().to_string(),
            kid: hex::encode(r.key.kid()),
            added: r.added,
            rotated_out: r.rotated_out,
            revoked: r.revoked.as_ref().map(|r| r.seq),
            revoked_reason: r.revoked.as_ref().map(|r| r.reason.clone()),
            party_removed: r.removed,
            current: r.is_current(),
        }
    }

    /// "genesis key, current", "added at #3, rotated out at #5", …
    pub fn history(&self) -> String {
        let mut s = if self.added == 0 {
            "genesis key".to_owned()
        } else {
            format!("added at #{}", self.added)
        };
        if let Some(at) = self.rotated_out {
            let _ = write!(s, ", rotated out at #{at}");
        }
        if let (Some(at), Some(reason)) = (self.revoked, &self.revoked_reason) {
            let _ = write!(s, ", REVOKED at #{at}: {}", terminal_safe(reason));
        }
        if let Some(at) = self.party_removed {
            let _ = write!(s, ", party removed at #{at}");
        }
        if self.current {
            s.push_str(", current");
        }
        s
    }
}

/// Which trusted key (`--trust`) vouched for a party.
#[derive(Debug, Clone, Serialize)]
pub struct TrustInfo {
    pub party: PartyId,
    /// The trusted key file, as named on the command line.
    pub file: String,
    pub fingerprint: String,
    /// The key's history in the ledger, e.g. "genesis key, rotated out at #3".
    pub status: String,
}

/// One replayed event, described.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub seq: u64,
    pub offset: u64,
    pub hash: EventHash,
    pub time: String,
    pub author: PartyId,
    pub kind: &'static str,
    /// One line saying what happened.
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<DocId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<DocHash>,
}

/// A signature or approval: who, at which event.
#[derive(Debug, Clone, Serialize)]
pub struct Act {
    pub party: PartyId,
    pub event: u64,
}

/// The final state of one document.
#[derive(Debug, Clone, Serialize)]
pub struct DocReport {
    pub id: DocId,
    pub title: String,
    /// SHA-256 of the current version.
    pub version: DocHash,
    /// 1 for the draft, +1 for each amendment.
    pub version_number: usize,
    pub signatories: Vec<PartyId>,
    /// "executed", "awaiting-signatures" or "no-signatures-required".
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executed_at: Option<u64>,
    pub signed_by: Vec<Act>,
    pub awaiting: Vec<PartyId>,
    pub approved_by: Vec<Act>,
}

/// Everything a successful verification proves.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub verified: bool,
    pub ledger: LedgerId,
    pub title: String,
    pub parties: Vec<PartyInfo>,
    pub events: Vec<Entry>,
    pub documents: Vec<DocReport>,
    pub count: u64,
    pub head: EventHash,
    /// With `--trust`: for each party, the trusted keys it held.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trusted: Vec<TrustInfo>,
    /// The bytes of an append a writer was making while this was read,
    /// after the last complete event: not read, not part of the verdict
    /// (RELIABILITY.md, "Readers").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<u64>,
    /// Files in the directory that no event needs (issue 11.7): warnings
    /// that never change the verdict. Not looked for while a writer is at
    /// work (its files are not orphans yet), nor in a published directory.
    pub warnings: Vec<Orphan>,
}

fn short(h: &impl fmt::Display) -> String {
    h.to_string()[..12].to_owned()
}

pub(crate) fn list(parties: impl IntoIterator<Item = impl fmt::Display>) -> String {
    let v: Vec<String> = parties.into_iter().map(|p| p.to_string()).collect();
    if v.is_empty() {
        "nobody".into()
    } else {
        v.join(", ")
    }
}

/// A key named in an event by its kid, as people are shown keys: by its
/// fingerprint, from the key ring (where every key an event could name
/// is), or, failing that, by the kid itself, labelled as such.
fn shown_key(state: &State, kid: &Kid) -> String {
    match state.keys.get(kid) {
        Some(r) => r.key.fingerprint().to_string(),
        None => format!("with kid {kid}"),
    }
}

fn describe(event: &Event, offset: u64, state: &State) -> Entry {
    let b = &event.body;
    let version_no = |doc: &DocId, h: &DocHash| {
        state
            .documents
            .get(doc)
            // Described right after it is applied, an event's version is
            // the document's current one.
            .filter(|d| d.current().sha256 == *h)
            .map_or(0, |d| d.versions as usize)
    };
    let mut notes = None;
    let mut document = None;
    let mut version = None;
    let summary = match &b.kind {
        Kind::LedgerCreated { title, parties } => {
            format!(
                "created the ledger \"{title}\" with parties {}",
                list(parties.keys())
            )
        }
        Kind::SessionOpened {
            session,
            title,
            place,
            chair,
            notes: n,
        } => {
            notes = n.clone();
            let mut s = format!("opened session {session}: \"{title}\"");
            if let Some(p) = place {
                let _ = write!(s, ", at {p}");
            }
            if let Some(c) = chair {
                let _ = write!(s, ", chaired by {c}");
            }
            s
        }
        Kind::SessionClosed { session, notes: n } => {
            notes = n.clone();
            format!("closed session {session}")
        }
        Kind::DocumentDrafted {
            doc,
            sha256,
            title,
            signatories,
        } => {
            document = Some(doc.clone());
            version = Some(*sha256);
            let who = if signatories.is_empty() {
                "no signatures required".to_owned()
            } else {
                format!("to be signed by {}", list(signatories))
            };
            format!(
                "drafted {doc} \"{title}\", version 1 ({}), {who}",
                short(sha256)
            )
        }
        Kind::DocumentAmended {
            doc,
            sha256,
            notes: n,
        } => {
            notes = n.clone();
            document = Some(doc.clone());
            version = Some(*sha256);
            format!(
                "amended {doc} to version {} ({})",
                version_no(doc, sha256),
                short(sha256)
            )
        }
        Kind::DocumentApproved { doc, sha256 } => {
            document = Some(doc.clone());
            version = Some(*sha256);
            format!(
                "approved {doc} version {} ({})",
                version_no(doc, sha256),
                short(sha256)
            )
        }
        Kind::DocumentSigned { doc, sha256 } => {
            document = Some(doc.clone());
            version = Some(*sha256);
            let mut s = format!(
                "signed {doc} version {} ({})",
                version_no(doc, sha256),
                short(sha256)
            );
            if state.documents.get(doc).and_then(|d| d.executed) == Some(b.seq) {
                s.push_str("; the document is now executed");
            }
            s
        }
        Kind::Note { text } => {
            notes = Some(text.clone());
            "note".to_owned()
        }
        Kind::KeyAdded { key, .. } => format!("added key {}", Fingerprint::of(key)),
        Kind::KeyRotated { key, .. } => format!(
            "rotated to key {}; the signing key {} is rotated out",
            Fingerprint::of(key),
            shown_key(state, &Kid(event.kid))
        ),
        Kind::KeyRevoked { kid, reason } => {
            notes = Some(reason.clone());
            format!("revoked key {}", shown_key(state, kid))
        }
        Kind::PartiesProposed {
            proposal,
            add,
            remove,
        } => {
            let mut s = format!("proposed {proposal}: ");
            let mut parts = Vec::new();
            if !add.is_empty() {
                parts.push(format!("add {}", list(add.keys())));
            }
            if !remove.is_empty() {
                parts.push(format!("remove {}", list(remove)));
            }
            s.push_str(&parts.join("; "));
            s.push_str(&membership_outcome(state, b.seq, proposal));
            s
        }
        Kind::PartiesApproved { proposal, sha256 } => {
            let mut s = format!("approved {proposal} ({})", short(sha256));
            s.push_str(&membership_outcome(state, b.seq, proposal));
            s
        }
    };
    Entry {
        seq: b.seq,
        offset,
        hash: event.hash(),
        time: b.time.to_string(),
        author: b.author.clone(),
        kind: b.kind.name(),
        summary,
        notes,
        document,
        version,
    }
}

/// How a membership event left its proposal (FORMAT §6.10), described
/// right after it is applied: "; awaiting approval from …", or, if it
/// completed the approvals, who joined and who left.
fn membership_outcome(
    state: &State,
    seq: u64,
    proposal: &crate::core::format::ProposalId,
) -> String {
    if let Some(open) = state.proposal.as_ref().filter(|p| p.id == *proposal) {
        return format!("; awaiting approval from {}", list(open.awaiting()));
    }
    let joined: Vec<&PartyId> = state
        .parties
        .iter()
        .filter(|(_, p)| p.joined == seq && seq > 0)
        .map(|(id, _)| id)
        .collect();
    let left: Vec<&PartyId> = state
        .parties
        .iter()
        .filter(|(_, p)| p.removed == Some(seq))
        .map(|(id, _)| id)
        .collect();
    let mut s = String::from("; the change takes effect");
    let sep = if joined.is_empty() { ": " } else { ", " };
    if !joined.is_empty() {
        let _ = write!(s, ": {} joined", list(joined));
    }
    if !left.is_empty() {
        let _ = write!(s, "{sep}{} removed", list(left));
    }
    s
}

/// The final state of each document, for the report. Consumes the replay
/// state's documents, freeing each as it is described, so that the peak
/// memory of a large ledger is one copy of them, not two.
fn documents(
    docs: std::collections::BTreeMap<DocId, crate::core::replay::Document>,
) -> Vec<DocReport> {
    let mut out = Vec::with_capacity(docs.len());
    for (id, d) in docs {
        let cur = d.current();
        let status = if d.signatories.is_empty() {
            "no-signatures-required"
        } else if d.executed.is_some() {
            "executed"
        } else {
            "awaiting-signatures"
        };
        let acts = |m: &crate::core::replay::Acts| {
            let mut v: Vec<Act> = m
                .iter()
                .map(|(p, e)| Act {
                    party: p.clone(),
                    event: *e,
                })
                .collect();
            v.sort_by_key(|a| a.event);
            v
        };
        let awaiting = d.awaiting().into_iter().cloned().collect();
        let (signed_by, approved_by) = (acts(&cur.signatures), acts(&cur.approvals));
        let version = cur.sha256;
        out.push(DocReport {
            id,
            version,
            version_number: d.versions as usize,
            status,
            executed_at: d.executed,
            signed_by,
            awaiting,
            approved_by,
            title: d.title.into(),
            signatories: d.signatories.into(),
        });
    }
    out
}

/// Verifies the ledger in `dir` from its first byte.
pub fn verify(dir: &Path, options: &Options) -> Result<Report, VerifyError> {
    let mut events = Vec::new();
    let mut report = verify_with(dir, options, &mut |v: Visit<'_>| events.push(v.entry()))?;
    report.events = events;
    Ok(report)
}

/// One verified event, as [`verify_with`] passes it on: described only on
/// demand, so that a caller that only counts pays nothing for it.
pub struct Visit<'a> {
    event: &'a Verified<Event>,
    offset: u64,
    state: &'a State,
}

impl Visit<'_> {
    /// Byte offset of the event in the log (for progress).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The event, described for the timeline.
    pub fn entry(&self) -> Entry {
        describe(self.event, self.offset, self.state)
    }

    /// The event's Merkle leaf hash (FORMAT §12).
    pub fn leaf_hash(&self) -> Hash {
        self.event.leaf_hash()
    }

    /// The session the event opens or closes, if it does: what a picture
    /// of the sessions needs beside the [`Entry`].
    pub fn session(&self) -> Option<&crate::core::format::SessionId> {
        match &self.event.body.kind {
            Kind::SessionOpened { session, .. } | Kind::SessionClosed { session, .. } => {
                Some(session)
            }
            _ => None,
        }
    }

    /// The event's position in the log (0 is the genesis).
    pub fn seq(&self) -> u64 {
        self.event.body.seq
    }

    /// The time the event's signer claims (FORMAT §5.5).
    pub fn claimed_time(&self) -> &crate::base::time::Timestamp {
        &self.event.body.time
    }
}

/// Verifies the ledger in `dir`, streaming: each verified event is passed
/// to `visit` in order and not kept, so memory stays flat however long the
/// log. The returned report's `events` is empty. What `visit` saw is only
/// proven once this returns `Ok`.
pub fn verify_with(
    dir: &Path,
    options: &Options,
    visit: &mut dyn FnMut(Visit<'_>),
) -> Result<Report, VerifyError> {
    let store = Store::open(dir, Access::Read)?;
    Ok(verify_state(&store, options, visit)?.0)
}

/// A verification that failed, with what was proven before it failed:
/// the report of the events before the failing one (or, when the failure
/// is the ledger's as a whole, e.g. `--trust`, of all of them), marked
/// `verified: false`. `None` when not even the genesis replayed, or the
/// log could not be read.
#[derive(Debug)]
pub struct Refuted {
    pub error: VerifyError,
    pub proven: Option<Box<Report>>,
}

/// [`verify_with`], also giving the replayed state, for the layers above
/// that check more against it (the proofs layer's audit).
pub(crate) fn verify_state(
    store: &Store,
    options: &Options,
    visit: &mut dyn FnMut(Visit<'_>),
) -> Result<(Report, State), VerifyError> {
    verify_state_keeping(store, options, visit).map_err(|r| r.error)
}

/// [`verify_state`], keeping on a failure the report of what was proven
/// before it ([`Refuted`]): the one verification, whose partial result
/// `ledger report` shows, never a second replay.
pub(crate) fn verify_state_keeping(
    store: &Store,
    options: &Options,
    visit: &mut dyn FnMut(Visit<'_>),
) -> Result<(Report, State), Box<Refuted>> {
    let mut seen_head = false;
    let mut orphans = store.own_docs().then(|| Orphans::list(store));
    let replayed = match crate::core::scan::replay_keeping(store, |ev, offset, state| {
        if options.head == Some(ev.hash()) {
            seen_head = true;
        }
        if let Some(o) = &mut orphans {
            o.stored(&ev.body.kind);
        }
        visit(Visit {
            event: ev,
            offset,
            state,
        });
    }) {
        Ok(r) => r,
        Err(failed) => {
            let (error, state) = *failed;
            return Err(Box::new(Refuted {
                error,
                proven: state.map(|mut s| Box::new(report_of(&mut s, false, Vec::new(), None))),
            }));
        }
    };
    let mut state = replayed.state;
    let checked = match &options.trust {
        Some(trusted) => check_trust(&state, trusted),
        None => Ok(Vec::new()),
    };
    let checked = checked.and_then(|t| match options.head {
        Some(head) if !seen_head => Err(Cause::Head { head }),
        _ => Ok(t),
    });
    let trust_report = match checked {
        Ok(t) => t,
        Err(cause) => {
            return Err(Box::new(Refuted {
                error: VerifyError::Failed(Failure::whole(cause)),
                proven: Some(Box::new(report_of(&mut state, false, Vec::new(), None))),
            }))
        }
    };
    let mut report = report_of(&mut state, true, trust_report, replayed.in_flight);
    // A writer at work may have stored a document (or begun a
    // temporary file) for an event not yet in the log: no warning
    // then, rather than a wrong one.
    report.warnings = match orphans {
        Some(o) if replayed.in_flight.is_none() && !store.writer_active().unwrap_or(true) => {
            o.finish()
        }
        _ => Vec::new(),
    };
    Ok((report, state))
}

/// `--trust` (FORMAT §6, end): which trusted key vouches for each party.
fn check_trust(
    state: &State,
    trusted: &[crate::core::trust::TrustedKey],
) -> Result<Vec<TrustInfo>, Cause> {
    let mut trust_report = Vec::new();
    // A party is vouched for by any key it holds or held: its later
    // keys were each introduced by an event that a key of its own
    // signed (FORMAT §6, end). A party that joined later was admitted
    // by the approval of every party then current: it needs no
    // trusted key of its own, but one vouches for it if given.
    for (party, member) in &state.parties {
        let mut found = false;
        for t in trusted {
            if let Some(r) = state.key_record(&t.key).filter(|r| r.party == *party) {
                found = true;
                trust_report.push(TrustInfo {
                    party: party.clone(),
                    file: t.label.clone(),
                    fingerprint: t.key.fingerprint().to_string(),
                    status: KeyInfo::of(r).history(),
                });
            }
        }
        if !found && member.joined == 0 {
            let held = state
                .keys_of(party)
                .map(|(_, r)| r.key.fingerprint())
                .collect();
            return Err(Cause::Trust(TrustFailure::Untrusted {
                party: party.clone(),
                held,
            }));
        }
    }
    for t in trusted {
        match state.key_record(&t.key) {
            None => {
                return Err(Cause::Trust(TrustFailure::UnknownKey {
                    name: t.label.clone(),
                    fingerprint: t.key.fingerprint(),
                }))
            }
            // Only an explicit binding is the auditor's word on whose
            // key it is; a file name is a label here, for the log
            // itself binds keys to parties (docs/SECURITY.md).
            Some(r) if t.explicit && t.party.as_ref() != Some(&r.party) => {
                return Err(Cause::Trust(TrustFailure::WrongParty {
                    name: t.label.clone(),
                    bound: t.party.clone(),
                    holder: r.party.clone(),
                }))
            }
            Some(_) => {}
        }
    }
    Ok(trust_report)
}

/// The report of a replayed state (its documents are moved out of it).
fn report_of(
    state: &mut State,
    verified: bool,
    trusted: Vec<TrustInfo>,
    in_flight: Option<u64>,
) -> Report {
    Report {
        verified,
        ledger: state.ledger,
        title: state.title.clone(),
        parties: state
            .parties
            .keys()
            .map(|id| {
                let keys: Vec<KeyInfo> = state.keys_of(id).map(|(_, r)| KeyInfo::of(r)).collect();
                let member = &state.parties[id];
                PartyInfo {
                    id: id.clone(),
                    joined: member.joined,
                    removed: member.removed,
                    current: member.is_current(),
                    key: keys.first().map(|k| k.key.clone()).unwrap_or_default(),
                    fingerprint: keys
                        .first()
                        .map(|k| k.fingerprint.clone())
                        .unwrap_or_default(),
                    kid: keys.first().map(|k| k.kid.clone()).unwrap_or_default(),
                    keys,
                }
            })
            .collect(),
        documents: documents(std::mem::take(&mut state.documents)),
        events: Vec::new(),
        count: state.count,
        head: state.head,
        trusted,
        in_flight,
        warnings: Vec::new(),
    }
}

/// Makes text from a ledger safe to print on a terminal: control and
/// bidirectional-override characters are shown escaped, never interpreted.
pub fn terminal_safe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let invisible = matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}');
        if c.is_control() || invisible {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

impl Report {
    /// The text report's first lines: the ledger and its parties.
    pub fn header(&self) -> String {
        let mut out = format!(
            "ledger {} \"{}\"\nparties:\n",
            self.ledger,
            terminal_safe(&self.title)
        );
        for p in &self.parties {
            match p.keys.as_slice() {
                // The common case, and the output before rotation existed.
                [only] if only.current && only.added == 0 && p.joined == 0 => {
                    let _ = writeln!(out, "  {:<8} key {}", p.id.as_str(), p.fingerprint);
                }
                keys => {
                    for (i, k) in keys.iter().enumerate() {
                        let id = if i == 0 { p.id.as_str() } else { "" };
                        let _ = writeln!(out, "  {id:<8} key {} ({})", k.fingerprint, k.history());
                    }
                }
            }
            // FORMAT §6.10: membership beside the key history.
            if p.joined > 0 || p.removed.is_some() {
                let mut m = if p.joined == 0 {
                    "a party since the genesis".to_owned()
                } else {
                    format!("joined at #{}", p.joined)
                };
                match p.removed {
                    Some(at) => {
                        let _ = write!(m, ", REMOVED at #{at}");
                    }
                    None => m.push_str(", a current party"),
                }
                let _ = writeln!(out, "  {:<8} membership: {m}", "");
            }
        }
        out.push_str("\ntimeline:\n");
        out
    }

    /// One event of the timeline (one line, and its notes indented below).
    pub fn timeline_entry(e: &Entry) -> String {
        let mut out = format!(
            "  #{:<3} {}  {:<6}  {}\n",
            e.seq,
            terminal_safe(&e.time),
            e.author.as_str(),
            terminal_safe(&e.summary)
        );
        if let Some(n) = &e.notes {
            for line in n.lines() {
                let _ = writeln!(out, "        {}", terminal_safe(line));
            }
        }
        out
    }

    /// The text report after the timeline: documents, trust and the
    /// verdict line.
    pub fn footer(&self) -> String {
        let mut f = self.documents_text();
        f.push('\n');
        f.push_str(&self.verdict());
        f
    }

    /// The documents and, with `--trust`, the trusted keys.
    pub fn documents_text(&self) -> String {
        let mut f = String::from("\ndocuments:\n");
        if self.documents.is_empty() {
            f.push_str("  (none)\n");
        }
        for d in &self.documents {
            let _ = writeln!(
                f,
                "  {} \"{}\", version {} ({})",
                d.id,
                terminal_safe(&d.title),
                d.version_number,
                d.version
            );
            let acts = |v: &[Act]| list(v.iter().map(|a| format!("{} (#{})", a.party, a.event)));
            let _ = match d.status {
                "executed" => writeln!(
                    f,
                    "    EXECUTED at #{}: signed by {}",
                    d.executed_at.unwrap_or_default(),
                    acts(&d.signed_by)
                ),
                "no-signatures-required" => writeln!(f, "    no signatures required"),
                _ => writeln!(
                    f,
                    "    NOT EXECUTED: awaiting signatures from {}; signed by {}",
                    list(&d.awaiting),
                    acts(&d.signed_by)
                ),
            };
            let _ = writeln!(f, "    approved by {}", acts(&d.approved_by));
        }
        if !self.trusted.is_empty() {
            f.push_str("\ntrusted keys (--trust):\n");
            for t in &self.trusted {
                let _ = writeln!(
                    f,
                    "  {:<8} {} ({}, {})",
                    t.party.as_str(),
                    terminal_safe(&t.file),
                    t.fingerprint,
                    t.status
                );
            }
        }
        f
    }

    /// The last line: what was verified.
    pub fn verdict(&self) -> String {
        let mut v = format!("OK: {} events verified, head {}\n", self.count, self.head);
        if let Some(bytes) = self.in_flight {
            let _ = writeln!(
                v,
                "note: an append was in flight: its {bytes} bytes after the head were not read"
            );
        }
        v
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.header())?;
        for e in &self.events {
            f.write_str(&Report::timeline_entry(e))?;
        }
        f.write_str(&self.footer())
    }
}

/// One event's signed bytes, signature and signer key, for checking with
/// standard tools (`ledger export`).
#[derive(Debug, Clone)]
pub struct Exported {
    pub index: u64,
    pub author: PartyId,
    pub public_key: crate::base::crypto::PublicKey,
    /// The event's complete stored bytes (what its hash covers).
    pub stored: Vec<u8>,
    /// The COSE Sig_structure (FORMAT §5.2): exactly what was signed.
    pub to_be_signed: Vec<u8>,
    pub signature: [u8; 64],
    pub hash: EventHash,
}

/// Verifies the ledger in `dir` and returns event `index` for export.
pub fn export_event(dir: &Path, index: u64) -> Result<Exported, VerifyError> {
    let store = Store::open(dir, Access::Read)?;
    let mut found: Option<(u64, Event)> = None;
    let replayed = replay(&store, |ev, offset, _| {
        if ev.body.seq == index {
            found = Some((offset, (**ev).clone()));
        }
    })?;
    let Some((offset, event)) = found else {
        return Err(VerifyError::Failed(Failure::whole(Cause::NoSuchEvent {
            index,
            count: replayed.state.count,
        })));
    };
    let stored = store.read_at(offset, event.stored_len() as u64)?;
    // The key that signed it (its kid), which was a current key of the
    // author then, whatever became of it later.
    let Some(public_key) = replayed
        .state
        .keys
        .get(&Kid(event.kid))
        .filter(|r| r.party == event.body.author)
        .map(|r| r.key)
    else {
        return Err(VerifyError::Failed(Failure::at(
            Some(index),
            offset,
            Cause::SignerNotAuthor,
        )));
    };
    Ok(Exported {
        index,
        author: event.body.author.clone(),
        public_key,
        to_be_signed: event.to_be_signed(),
        signature: event.signature,
        hash: event.hash(),
        stored,
    })
}
