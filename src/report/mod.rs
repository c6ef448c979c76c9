//! `ledger report`: the audit's result drawn for people, as one
//! self-contained HTML page ([`html`]) or a PDF ([`pdf`]).
//!
//! This layer owns the rendering and nothing else. Every verdict, party,
//! key history and document state it shows comes from the one audit
//! `ledger verify --json` reports ([`crate::proofs::audit::verify_keeping`]),
//! made once; it never replays and never applies a rule of its own. It
//! writes one file, the report, where the binary says ([`save`], through
//! the base layer's durable write), never into the ledger directory. Everything it shows
//! from the ledger is hostile text, escaped where it is put on the page
//! ([`escape`]).

pub mod escape;
pub mod html;
pub mod pdf;
mod timeline;

use std::collections::BTreeMap;
use std::path::Path;

use crate::base::files;
use crate::core::format::{DocHash, DocId, EventHash, PartyId};
use crate::core::verify::{Entry, Failure, VerifyError, Visit};
use crate::proofs::audit;

/// The events a report lists one by one: every one up to this many (the
/// default of [`Options::max_listed`]); beyond, the first and last
/// [`EDGE`], every event of interest (see [`Interest`]) and per-session
/// counts, the aggregation said on the page. (The timeline draws them all;
/// `ledger log` lists every one.)
pub const MAX_LISTED: u64 = 20_000;

/// Events listed at each end of an aggregated listing.
pub const EDGE: u64 = 1_000;

/// In an aggregated listing, drafts, amendments, approvals and signatures
/// are listed one by one while there are at most this many of them; else
/// they are counted per session (executions are listed still).
pub const MAX_ACTS_LISTED: u64 = 5_000;

/// Sessions counted one row each in an aggregated listing.
pub const MAX_SESSIONS_LISTED: usize = 10_000;

/// Documents shown in full (versions, acts, text); the rest, up to
/// [`MAX_LISTED_DOCS`], one line each, and beyond that counted (`ledger
/// show` tells any one document's story).
pub const MAX_DETAILED_DOCS: usize = 100;
/// See [`MAX_DETAILED_DOCS`].
pub const MAX_LISTED_DOCS: usize = 2_000;

/// A document's bytes are shown inline up to this size, if they are text.
pub const MAX_INLINE_TEXT: u64 = 4096;

/// What a report is made from, beyond the ledger.
#[derive(Debug, Default)]
pub struct Options {
    /// The trust to check the ledger against, exactly as `verify` takes it.
    pub audit: audit::Options,
    /// When the report was made, shown only if given, so that the same
    /// ledger and options give the same bytes.
    pub at: Option<String>,
    /// The ledger directory as the commands to re-check it should name it.
    pub dir_label: String,
    /// The trust options as typed (`--trust keys/`, `--witness …`), for
    /// the commands that re-check the ledger the same way.
    pub verify_args: Vec<String>,
    /// What the rows are written for: the page or the PDF.
    pub format: Format,
    /// Every event listed up to this many (`None`: [`MAX_LISTED`]).
    pub max_listed: Option<u64>,
}

/// The report's two forms.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    #[default]
    Html,
    Pdf,
}

/// What the audit concluded.
#[derive(Debug, Clone)]
pub enum Verdict {
    /// Every event, checkpoint and requirement holds, and every document
    /// that needs signatures is executed.
    Verified,
    /// Verified, but these documents await signatures.
    Interim { awaiting: Vec<DocId> },
    /// The first failure: the event and byte offset if it is one event's,
    /// and the rule broken, in words.
    Refuted {
        event: Option<u64>,
        offset: Option<u64>,
        rule: String,
    },
}

impl Verdict {
    /// The one word on the banner.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Verified => "VERIFIED",
            Verdict::Interim { .. } => "INTERIM",
            Verdict::Refuted { .. } => "REFUTED",
        }
    }
}

/// One event, as the timeline needs it: compact, kept for every event.
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    pub seq: u64,
    /// Claimed time, POSIX seconds.
    pub time: i64,
    /// Index of the author in [`Subject::lanes`].
    pub lane: usize,
    pub kind: &'static str,
}

/// A session, from the event that opened it to the one that closed it.
#[derive(Debug, Clone)]
pub struct Band {
    pub session: String,
    pub opened: (u64, i64),
    pub closed: Option<(u64, i64)>,
    /// Events from its opening to its closing, both included.
    pub events: u64,
    /// Of those, drafts, amendments, approvals and signatures.
    pub acts: u64,
}

/// Why an event is listed even in an aggregated listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Interest {
    /// Notes, sessions: counted per session.
    Routine = 0,
    /// A draft, amendment, approval or signature: listed while there are
    /// at most [`MAX_ACTS_LISTED`] of them (and a signature that executes
    /// a document always).
    Act = 1,
    /// The genesis, a change of parties or of keys: always listed.
    Change = 2,
}

impl Interest {
    fn of(kind: &str) -> Interest {
        match kind {
            "document-drafted" | "document-amended" | "document-approved" | "document-signed" => {
                Interest::Act
            }
            "ledger-created" | "key-added" | "key-rotated" | "key-revoked" | "parties-proposed"
            | "parties-approved" => Interest::Change,
            _ => Interest::Routine,
        }
    }
}

/// The events' rows, spooled to an unnamed temporary file as the audit
/// yields them (each written once, for the form asked), so that a report
/// of any size holds none of them in memory; read back in order, chosen
/// by [`Listing::each`].
#[derive(Debug)]
pub struct Listing {
    spool: Option<std::fs::File>,
    /// Events proven (the rows of later ones, if any, are never shown).
    pub proven: u64,
    /// Listing every event up to this many.
    pub max: u64,
    /// Drafts, amendments, approvals and signatures among the proven.
    pub acts: u64,
    /// The events that executed a document: listed always.
    executed: std::collections::BTreeSet<u64>,
}

/// One item of the listing, in order.
pub enum Item<'a> {
    /// An event's row, as written for the form asked.
    Row(u64, &'a str),
    /// Events `first..=last` not listed, of which `acts` are drafts,
    /// amendments, approvals or signatures.
    Gap { first: u64, last: u64 },
}

impl Listing {
    /// Whether some events are not listed one by one.
    pub fn aggregated(&self) -> bool {
        self.proven > self.max
    }

    /// Whether drafts, amendments, approvals and signatures are listed.
    pub fn acts_listed(&self) -> bool {
        !self.aggregated() || self.acts <= MAX_ACTS_LISTED
    }

    /// Events listed at each end of an aggregated listing: [`EDGE`], or
    /// fewer under a small [`Options::max_listed`].
    pub fn edge(&self) -> u64 {
        EDGE.min(self.max / 4).max(1)
    }

    fn shown(&self, seq: u64, interest: u8) -> bool {
        !self.aggregated()
            || seq < self.edge()
            || seq + self.edge() >= self.proven
            || interest >= Interest::Change as u8
            || (interest == Interest::Act as u8 && self.acts_listed())
            || self.executed.contains(&seq)
    }

    /// Calls `f` with each listed row and each gap between them, in order.
    pub fn each(&self, mut f: impl FnMut(Item<'_>)) -> std::io::Result<()> {
        use std::io::{Read, Seek};
        let Some(file) = &self.spool else {
            return Ok(());
        };
        let mut file = file;
        file.rewind()?;
        let mut r = std::io::BufReader::new(file);
        let mut head = [0u8; 13];
        let mut row = Vec::new();
        let mut next = 0u64;
        loop {
            match r.read_exact(&mut head) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e),
            }
            let mut seq = [0u8; 8];
            seq.copy_from_slice(&head[1..9]);
            let seq = u64::from_le_bytes(seq);
            let mut len = [0u8; 4];
            len.copy_from_slice(&head[9..13]);
            row.resize(u32::from_le_bytes(len) as usize, 0);
            r.read_exact(&mut row)?;
            if seq >= self.proven || !self.shown(seq, head[0]) {
                continue;
            }
            if seq > next {
                f(Item::Gap {
                    first: next,
                    last: seq - 1,
                });
            }
            next = seq + 1;
            // Written by this process from `String`s.
            f(Item::Row(
                seq,
                std::str::from_utf8(&row).unwrap_or_default(),
            ));
        }
        if next < self.proven {
            f(Item::Gap {
                first: next,
                last: self.proven - 1,
            });
        }
        Ok(())
    }
}

/// One act on a document: drafted, amended, approved, signed.
#[derive(Debug, Clone)]
pub struct DocAct {
    pub seq: u64,
    pub time: i64,
    pub kind: &'static str,
    pub author: PartyId,
    pub version: Option<DocHash>,
}

/// The bytes of a document version, as the report shows them.
#[derive(Debug, Clone)]
pub enum Content {
    /// Short UTF-8 text, shown escaped.
    Text(String),
    /// Anything else: its size and what it looks like.
    Other { bytes: u64, kind: &'static str },
    /// Not readable now (it was when verified): said, not guessed.
    Unavailable,
}

/// The trust a ledger was checked against, as the report states it.
#[derive(Debug, Clone, Default)]
pub struct Checked {
    /// `--trust`: (label, fingerprint, party bound).
    pub keys: Vec<(String, String, Option<String>)>,
    /// `--witness` or `--policy`: names, and the quorum rule ("2 of 3",
    /// or the policy's quorum group).
    pub witnesses: Vec<(String, String)>,
    pub quorum: Option<String>,
    pub head: Option<EventHash>,
    /// `--log-key`: (label, fingerprint).
    pub log_keys: Vec<(String, String)>,
    pub allow_unwitnessed_tail: bool,
}

/// Everything a report shows: the audit's result (the proven part of it,
/// for a refuted ledger) and the events as they streamed by.
#[derive(Debug)]
pub struct Subject {
    pub verdict: Verdict,
    /// What was proven; `None` when not even the genesis was.
    pub audit: Option<audit::Report>,
    /// The events' rows (see [`MAX_LISTED`]).
    pub listing: Listing,
    /// The last proven signature (else the last event): the one the
    /// report shows how to check by hand.
    pub example: Option<(u64, EventHash)>,
    pub marks: Vec<Mark>,
    /// The authors, one timeline lane each, in order of the parties.
    pub lanes: Vec<PartyId>,
    pub bands: Vec<Band>,
    pub acts: BTreeMap<DocId, Vec<DocAct>>,
    /// The bytes of each document version the ledger names.
    pub contents: BTreeMap<DocHash, Content>,
    pub checked: Checked,
    pub at: Option<String>,
    pub dir_label: String,
    pub verify_args: Vec<String>,
    pub tool: &'static str,
}

/// The events as they stream by, kept as the report needs them.
struct Collector {
    spool: Option<std::io::BufWriter<std::fs::File>>,
    spool_error: Option<std::io::Error>,
    format: Format,
    acts_seen: Vec<u64>,
    last_signed: Option<(u64, EventHash)>,
    last: Option<(u64, EventHash)>,
    /// The band of the session open now, if one is.
    current: Option<usize>,
    marks: Vec<Mark>,
    lanes: Vec<PartyId>,
    bands: Vec<Band>,
    open: BTreeMap<String, usize>,
    acts: BTreeMap<DocId, Vec<DocAct>>,
}

fn seconds(time: &str) -> i64 {
    crate::base::time::Timestamp::parse(time).map_or(0, |t| t.instant().0)
}

impl Collector {
    fn visit(&mut self, v: &Visit<'_>) {
        let e = v.entry();
        let time = seconds(&e.time);
        let lane = match self.lanes.iter().position(|p| *p == e.author) {
            Some(i) => i,
            None => {
                self.lanes.push(e.author.clone());
                self.lanes.len() - 1
            }
        };
        self.marks.push(Mark {
            seq: e.seq,
            time,
            lane,
            kind: e.kind,
        });
        let interest = Interest::of(e.kind);
        if let Some(s) = v.session() {
            let s = s.to_string();
            match e.kind {
                "session-opened" => {
                    self.open.insert(s.clone(), self.bands.len());
                    self.current = Some(self.bands.len());
                    self.bands.push(Band {
                        session: s,
                        opened: (e.seq, time),
                        closed: None,
                        events: 0,
                        acts: 0,
                    });
                }
                _ => {
                    if let Some(i) = self.open.remove(&s) {
                        self.bands[i].closed = Some((e.seq, time));
                        self.bands[i].events += 1;
                        if self.current == Some(i) {
                            self.current = None;
                        }
                    }
                }
            }
        }
        if let Some(b) = self.current.and_then(|i| self.bands.get_mut(i)) {
            b.events += 1;
            b.acts += u64::from(interest == Interest::Act);
        }
        if interest == Interest::Act {
            // Counted by the proven prefix later: the audit may prove less
            // than it visited.
            self.acts_seen.push(e.seq);
        }
        if let Some(doc) = &e.document {
            self.acts.entry(doc.clone()).or_default().push(DocAct {
                seq: e.seq,
                time,
                kind: e.kind,
                author: e.author.clone(),
                version: e.version,
            });
        }
        if e.kind == "document-signed" {
            self.last_signed = Some((e.seq, e.hash));
        }
        self.last = Some((e.seq, e.hash));
        self.spool_row(interest, &e);
    }

    /// One event's row, written once: [interest u8][seq u64][len u32][row].
    fn spool_row(&mut self, interest: Interest, e: &Entry) {
        let Some(w) = self.spool.as_mut() else {
            return;
        };
        let row = match self.format {
            Format::Html => html::event_row(e),
            Format::Pdf => pdf::event_row(e),
        };
        let mut head = [0u8; 13];
        head[0] = interest as u8;
        head[1..9].copy_from_slice(&e.seq.to_le_bytes());
        head[9..13].copy_from_slice(&(row.len().min(u32::MAX as usize) as u32).to_le_bytes());
        let written = std::io::Write::write_all(w, &head)
            .and_then(|()| std::io::Write::write_all(w, row.as_bytes()));
        if let Err(err) = written {
            self.spool_error = Some(err);
            self.spool = None;
        }
    }
}

/// Audits the ledger in `dir` (once, as `verify` does) and gathers what a
/// report shows. A refuted ledger is a [`Subject`] too, with what was
/// proven before the failure; only a ledger that cannot be read at all is
/// an error.
pub fn build(dir: &Path, options: &Options) -> Result<Subject, VerifyError> {
    let spool = tempfile::tempfile().map_err(|e| spool_failure(&e))?;
    let mut c = Collector {
        spool: Some(std::io::BufWriter::new(spool)),
        spool_error: None,
        format: options.format,
        acts_seen: Vec::new(),
        last_signed: None,
        last: None,
        current: None,
        marks: Vec::new(),
        lanes: Vec::new(),
        bands: Vec::new(),
        open: BTreeMap::new(),
        acts: BTreeMap::new(),
    };
    let outcome = audit::verify_keeping(dir, &options.audit, &mut |v| c.visit(&v));
    let (verdict, audit) = match outcome.map_err(|b| *b) {
        Ok(r) => {
            let awaiting: Vec<DocId> = r
                .ledger
                .documents
                .iter()
                .filter(|d| d.status == "awaiting-signatures")
                .map(|d| d.id.clone())
                .collect();
            let v = if awaiting.is_empty() {
                Verdict::Verified
            } else {
                Verdict::Interim { awaiting }
            };
            (v, Some(r))
        }
        Err(audit::Refuted {
            error: VerifyError::Failed(f),
            proven,
        }) => (refuted(&f), proven.map(|b| *b)),
        Err(audit::Refuted { error, .. }) => return Err(error),
    };
    // What the visitor saw past the proven part (none: the failing event
    // is never visited) is all proven once `audit` says so.
    let proven_count = audit.as_ref().map_or(0, |a| a.ledger.count);
    if let Some(e) = c.spool_error.take() {
        return Err(spool_failure(&e));
    }
    let spool = match c.spool.take().map(std::io::BufWriter::into_inner) {
        Some(Ok(f)) => Some(f),
        Some(Err(e)) => return Err(spool_failure(e.error())),
        None => None,
    };
    let listing = Listing {
        spool,
        proven: proven_count,
        max: options.max_listed.unwrap_or(MAX_LISTED),
        acts: c.acts_seen.iter().filter(|s| **s < proven_count).count() as u64,
        executed: audit
            .iter()
            .flat_map(|a| &a.ledger.documents)
            .filter_map(|d| d.executed_at)
            .collect(),
    };
    let example = c
        .last_signed
        .filter(|(seq, _)| *seq < proven_count)
        .or(c.last.filter(|(seq, _)| *seq < proven_count))
        .or_else(|| audit.as_ref().map(|a| (a.ledger.count - 1, a.ledger.head)));
    let docs_dir = options
        .audit
        .docs
        .clone()
        .unwrap_or_else(|| dir.join(crate::core::store::DOCS_DIR));
    let mut contents = BTreeMap::new();
    let detailed = audit
        .iter()
        .flat_map(|a| &a.ledger.documents)
        .take(MAX_DETAILED_DOCS);
    for acts in detailed.filter_map(|d| c.acts.get(&d.id)) {
        for a in acts {
            if let (Some(h), "document-drafted" | "document-amended") = (a.version, a.kind) {
                contents
                    .entry(h)
                    .or_insert_with(|| content_of(&docs_dir, &h));
            }
        }
    }
    Ok(Subject {
        verdict,
        audit,
        listing,
        example,
        marks: c.marks,
        lanes: c.lanes,
        bands: c.bands,
        acts: c.acts,
        contents,
        checked: checked(&options.audit),
        at: options.at.clone(),
        dir_label: options.dir_label.clone(),
        verify_args: options.verify_args.clone(),
        tool: env!("CARGO_PKG_VERSION"),
    })
}

/// The spool is the report's own temporary file: failing to write it is
/// an I/O error of this machine, not a verdict on the ledger.
fn spool_failure(e: &std::io::Error) -> VerifyError {
    VerifyError::Store(crate::core::store::StoreError::Io {
        path: std::env::temp_dir(),
        source: std::io::Error::new(e.kind(), format!("the report's spool of rows: {e}")),
    })
}

fn refuted(f: &Failure) -> Verdict {
    Verdict::Refuted {
        event: f.event,
        offset: f.offset,
        rule: f.cause.to_string(),
    }
}

fn checked(o: &audit::Options) -> Checked {
    Checked {
        keys: o
            .trust
            .iter()
            .flatten()
            .map(|t| {
                (
                    t.label.clone(),
                    t.key.fingerprint().to_string(),
                    t.party.as_ref().map(|p| p.to_string()),
                )
            })
            .collect(),
        witnesses: o
            .witnesses
            .iter()
            .flat_map(|w| w.witnesses())
            .map(|w| (w.name().to_owned(), w.key().fingerprint().to_string()))
            .collect(),
        quorum: o.witnesses.as_ref().map(|w| w.rule().to_owned()),
        head: o.head,
        log_keys: o
            .log_keys
            .iter()
            .map(|(l, k)| (l.clone(), k.fingerprint().to_string()))
            .collect(),
        allow_unwitnessed_tail: o.allow_unwitnessed_tail,
    }
}

/// A document version's bytes, read as any file from outside is (no link
/// followed, capped) and shown only if they still hash to `hash`.
fn content_of(docs: &Path, hash: &DocHash) -> Content {
    let Ok((f, len)) = files::open_in(docs, &hash.to_hex()) else {
        return Content::Unavailable;
    };
    // Only the head: enough to show a short text, or to say what it is.
    let mut bytes = Vec::new();
    if std::io::Read::read_to_end(&mut std::io::Read::take(f, MAX_INLINE_TEXT + 1), &mut bytes)
        .is_err()
    {
        return Content::Unavailable;
    }
    if len <= MAX_INLINE_TEXT && DocHash::of(&bytes) == *hash {
        if let Ok(text) = String::from_utf8(bytes.clone()) {
            return Content::Text(text);
        }
    }
    Content::Other {
        bytes: len,
        kind: sniff(&bytes),
    }
}

fn sniff(b: &[u8]) -> &'static str {
    if b.starts_with(b"%PDF-") {
        "PDF"
    } else if b.starts_with(b"PK\x03\x04") {
        "ZIP (e.g. DOCX, ODT)"
    } else if b.starts_with(b"\x89PNG") {
        "PNG image"
    } else if std::str::from_utf8(b).is_ok() {
        "text"
    } else {
        "binary"
    }
}

/// The ledger's evidence, to attach to a PDF so that it alone is enough
/// to re-verify: `events.cbor`, each stored checkpoint and each document
/// version, read as any file from outside is, in a fixed order, while all
/// of them together stay under `limit` bytes (else the log alone, if it
/// fits, else nothing).
pub fn evidence(dir: &Path, s: &Subject, limit: u64) -> Vec<pdf::Attachment> {
    let mut out = Vec::new();
    let mut total = 0u64;
    let mut add = |out: &mut Vec<pdf::Attachment>, base: &Path, rel: &str, name: String| {
        let Ok(bytes) = files::read_in(base, rel, limit.saturating_sub(total)) else {
            return false;
        };
        total += bytes.len() as u64;
        out.push((name, bytes));
        true
    };
    if !add(
        &mut out,
        dir,
        crate::core::store::LOG_FILE,
        "events.cbor".to_owned(),
    ) {
        return out;
    }
    if let Some(a) = &s.audit {
        for c in &a.checkpoints {
            let rel = format!("{}/{}", crate::proofs::checkpoint::CHECKPOINTS_DIR, c.file);
            add(&mut out, dir, &rel, rel.clone());
        }
    }
    let docs = dir.join(crate::core::store::DOCS_DIR);
    for h in s.contents.keys() {
        let hex = h.to_hex();
        add(&mut out, &docs, &hex, format!("docs/{hex}"));
    }
    out
}

/// Writes a report to `path` (in directory `dir`) durably: a temporary
/// file, fsynced, then linked into place (an existing file is an
/// `AlreadyExists` error) or, with `replace`, renamed over it.
pub fn save(dir: &Path, path: &Path, bytes: &[u8], replace: bool) -> std::io::Result<()> {
    let written = if replace {
        crate::base::durable::replace(dir, path, bytes)
    } else {
        crate::base::durable::write_new(dir, path, bytes)
    };
    written.map_err(|e| e.source)
}

impl Subject {
    /// The proven events' count and head: what to write down.
    pub fn size_and_head(&self) -> Option<(u64, EventHash)> {
        self.audit.as_ref().map(|a| (a.ledger.count, a.ledger.head))
    }

    /// A stable identity of what the report says, for the PDF's document
    /// id: the verdict, head, size and options shown, never the time.
    pub fn digest(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(self.verdict.word());
        if let Verdict::Refuted {
            event,
            offset,
            rule,
        } = &self.verdict
        {
            h.update(format!("{event:?}{offset:?}{rule}"));
        }
        if let Some((n, head)) = self.size_and_head() {
            h.update(n.to_be_bytes());
            h.update(head.to_string());
        }
        h.update(format!(
            "{:?}{:?}{:?}",
            self.checked, self.at, self.verify_args
        ));
        h.update(self.tool);
        h.finalize().into()
    }
}
