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

/// The events a report lists one by one: all of them up to this many,
/// else the first and last half of it, with the gap said. (The timeline
/// aggregates them all; `ledger log` lists every one.)
pub const MAX_LISTED: usize = 6_000;

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
    /// The events listed one by one (see [`MAX_LISTED`]).
    pub listed: Vec<Entry>,
    /// Events between the listed ones that are not listed: `first..=last`.
    pub gap: Option<(u64, u64)>,
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
    first: Vec<Entry>,
    last: std::collections::VecDeque<Entry>,
    seen: u64,
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
        if let Some(s) = v.session() {
            let s = s.to_string();
            match e.kind {
                "session-opened" => {
                    self.open.insert(s.clone(), self.bands.len());
                    self.bands.push(Band {
                        session: s,
                        opened: (e.seq, time),
                        closed: None,
                    });
                }
                _ => {
                    if let Some(i) = self.open.remove(&s) {
                        self.bands[i].closed = Some((e.seq, time));
                    }
                }
            }
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
        self.seen += 1;
        if self.first.len() < MAX_LISTED / 2 {
            self.first.push(e);
        } else {
            if self.last.len() == MAX_LISTED / 2 {
                self.last.pop_front();
            }
            self.last.push_back(e);
        }
    }
}

/// Audits the ledger in `dir` (once, as `verify` does) and gathers what a
/// report shows. A refuted ledger is a [`Subject`] too, with what was
/// proven before the failure; only a ledger that cannot be read at all is
/// an error.
pub fn build(dir: &Path, options: &Options) -> Result<Subject, VerifyError> {
    let mut c = Collector {
        first: Vec::new(),
        last: Default::default(),
        seen: 0,
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
    let mut listed = c.first;
    let gap = (c.seen as usize > listed.len() + c.last.len()).then(|| {
        let first = listed.len() as u64;
        (first, c.seen - c.last.len() as u64 - 1)
    });
    listed.extend(c.last);
    listed.retain(|e| e.seq < proven_count);
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
        listed,
        gap,
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
