//! Gathering witness cosignatures for a ledger's checkpoint (FORMAT §19.2):
//! what `ledger checkpoint DIR --key K --policy P` does after signing.
//!
//! This module owns the client side of tlog-witness: which old size to
//! send each witness (the size of the largest stored checkpoint it
//! cosigned, else 0), the one retry a 409 allows, checking every returned
//! cosignature against the policy's key for that witness before it is
//! kept, when to stop (the quorum met, or every witness answered or timed
//! out), and storing what was gathered through
//! [`checkpoint::add_signatures`], the same path as `checkpoint --add`.
//!
//! What it must never do: speak HTTP (the binary's [`Transport`] does, with
//! its timeouts and size caps), trust a response (a cosignature that does
//! not verify is reported, never stored), or store anything but signature
//! lines on the checkpoint it signed.

use std::path::Path;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::core::store::LockWait;
use crate::proofs::bundle;
use crate::proofs::checkpoint::{self, Written};
use crate::proofs::error::CheckpointError;
use crate::proofs::index::TreeIndex;
use crate::tlog::note::{self, Note, NoteSignature, NoteVerifier, QuorumNotMet};
use crate::tlog::policy::{Policy, PolicyWitness};

/// The most bytes of a witness's answer worth reading: a 200 is a few
/// signature lines, a 409 a number.
pub const MAX_REPLY_BYTES: u64 = 64 << 10;

/// An HTTP answer, as the transport read it (at most [`MAX_REPLY_BYTES`]).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// How an add-checkpoint request reaches a witness: POST `body` to
/// `<url>/add-checkpoint`. An `Err` is a failure to get an answer at all
/// (refused connection, timeout, a body over the cap), in one line.
pub trait Transport: Send + Sync {
    fn add_checkpoint(&self, url: &str, body: &[u8]) -> Result<Reply, String>;
}

/// What became of one witness of the policy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// It cosigned: `old` is the size of the request that succeeded,
    /// `retried` whether a 409 came first.
    Cosigned { time: u64, old: u64, retried: bool },
    /// The stored checkpoint already carries its valid cosignature: not
    /// asked again.
    AlreadyCosigned { time: u64 },
    /// It answered with an error status (after a retry, for a 409).
    Refused { status: u16, message: String },
    /// An answer that breaks the protocol: a 200 without a valid
    /// cosignature by its key, a malformed 409.
    BadAnswer { reason: String },
    /// No answer: connection refused, timeout, too large.
    Unreachable { reason: String },
    /// The policy gives it no URL.
    NoUrl,
    /// Not waited for: the quorum was met first.
    NotNeeded,
}

/// One witness's line in the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WitnessReport {
    /// Its name in the policy.
    pub name: String,
    pub vkey: String,
    pub url: Option<String>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// What [`gather`] did.
#[derive(Debug, Clone)]
pub struct Gathered {
    /// The stored checkpoint, with every cosignature gathered.
    pub written: Written,
    pub witnesses: Vec<WitnessReport>,
    /// Whether the stored checkpoint meets the policy's quorum.
    pub quorum: Result<(), QuorumNotMet>,
}

/// A verified cosignature by `w` on `text`, with its timestamp.
fn verified_cosig(text: &str, sig: &NoteSignature, w: &NoteVerifier) -> Option<u64> {
    let n = Note::new(text, vec![sig.clone()]).ok()?;
    note::verify(&n, std::slice::from_ref(w))
        .ok()?
        .first()
        .and_then(|v| v.timestamp())
}

/// The size of the largest stored checkpoint, no larger than `size`, that
/// carries a signature line under `w`'s name and key ID: where the witness
/// stood when this ledger last heard from it. A hint only (a 409 corrects
/// it), so the line is matched, not verified.
fn last_cosigned(dir: &Path, w: &NoteVerifier, size: u64) -> u64 {
    let Ok(names) = checkpoint::stored(dir) else {
        return 0;
    };
    let sizes = checkpoint::sizes(&names);
    for s in sizes.into_iter().rev().filter(|&s| s <= size) {
        let Ok(bytes) = checkpoint::read_stored(dir, &s.to_string()) else {
            continue;
        };
        let Ok(n) = Note::parse(&bytes) else { continue };
        if n.signatures()
            .iter()
            .any(|g| g.name() == w.name() && g.key_id() == w.key_id())
        {
            return s;
        }
    }
    0
}

/// What one request thread sends back.
struct Answer {
    witness: usize,
    old: u64,
    retried: bool,
    reply: Result<Reply, String>,
}

fn ask(
    tx: &mpsc::Sender<Answer>,
    transport: &Arc<dyn Transport>,
    witness: usize,
    url: String,
    old: u64,
    retried: bool,
    body: Vec<u8>,
) {
    let tx = tx.clone();
    let transport = Arc::clone(transport);
    std::thread::spawn(move || {
        let reply = transport.add_checkpoint(&url, &body);
        // The receiver may have stopped listening (quorum met).
        let _ = tx.send(Answer {
            witness,
            old,
            retried,
            reply,
        });
    });
}

/// A 409's body: `<size>\n`, `text/x.tlog.size` (tlog-witness).
fn conflict_size(r: &Reply) -> Result<u64, String> {
    let media = r
        .content_type
        .as_deref()
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase());
    if media.as_deref() != Some("text/x.tlog.size") {
        return Err(format!(
            "409 with Content-Type {:?}; expected text/x.tlog.size",
            r.content_type.as_deref().unwrap_or("")
        ));
    }
    std::str::from_utf8(&r.body)
        .ok()
        .and_then(|s| s.strip_suffix('\n'))
        .and_then(note::parse_decimal)
        .ok_or_else(|| "409 whose body is not a decimal size and a newline".to_owned())
}

/// One line of an error answer, for the report: printable ASCII, short.
fn message(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    let line = s.lines().next().unwrap_or("");
    line.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// Sends the stored checkpoint `written` to every witness of `policy` not
/// already cosigning it, in parallel, and keeps each cosignature that
/// verifies. Waits at most `deadline` in all (each request has the
/// transport's own timeout too). Stores what was gathered, under the
/// ledger's lock as `wait` says, and reports each witness.
pub fn gather(
    dir: &Path,
    written: Written,
    policy: &Policy,
    transport: Arc<dyn Transport>,
    deadline: Duration,
    wait: LockWait,
    waiting: &mut dyn FnMut(Option<u32>),
) -> Result<Gathered, CheckpointError> {
    let start = Instant::now();
    let note = Note::parse(&written.note).map_err(|e| {
        crate::proofs::error::Request::Add(crate::core::verify::CheckpointProblem::Note(e))
    })?;
    let text = note.text().to_owned();
    let size = written.size;
    let ws: &[PolicyWitness] = policy.witnesses();
    let wp = policy.witness_policy();
    let mut outcome: Vec<Option<Outcome>> = vec![None; ws.len()];
    let mut cosigned = vec![false; ws.len()];
    let mut gathered: Vec<NoteSignature> = Vec::new();

    for (i, w) in ws.iter().enumerate() {
        let time = note
            .signatures()
            .iter()
            .find_map(|s| verified_cosig(&text, s, &w.verifier));
        if let Some(time) = time {
            cosigned[i] = true;
            outcome[i] = Some(Outcome::AlreadyCosigned { time });
        } else if w.url.is_none() {
            outcome[i] = Some(Outcome::NoUrl);
        }
    }

    let (tx, rx) = mpsc::channel::<Answer>();
    let mut pending = 0usize;
    if !wp.satisfied(&cosigned) {
        let tree = TreeIndex::read(dir)?;
        let request = |old: u64| bundle::witness_request_in(&tree, old, written.note.clone());
        for (i, w) in ws.iter().enumerate() {
            let (None, Some(url)) = (&outcome[i], &w.url) else {
                continue;
            };
            let old = last_cosigned(dir, &w.verifier, size);
            let body = request(old)?;
            ask(&tx, &transport, i, url.clone(), old, false, body);
            pending += 1;
        }
        while pending > 0 && !wp.satisfied(&cosigned) {
            let left = deadline.saturating_sub(start.elapsed());
            let Ok(a) = rx.recv_timeout(left) else { break };
            pending -= 1;
            let w = &ws[a.witness];
            let r = match a.reply {
                Err(reason) => {
                    outcome[a.witness] = Some(Outcome::Unreachable { reason });
                    continue;
                }
                Ok(r) => r,
            };
            outcome[a.witness] = Some(match r.status {
                200 => {
                    // tlog-witness: ignore cosignatures from unknown keys;
                    // every line by this witness's key must verify.
                    match note::parse_signature_lines(&r.body) {
                        Err(e) => Outcome::BadAnswer {
                            reason: format!("200 whose body is not signature lines: {e}"),
                        },
                        Ok(sigs) => {
                            let mine: Vec<&NoteSignature> =
                                sigs.iter().filter(|s| w.verifier.matches(s)).collect();
                            let times: Vec<Option<u64>> = mine
                                .iter()
                                .map(|s| verified_cosig(&text, s, &w.verifier))
                                .collect();
                            if mine.is_empty() {
                                Outcome::BadAnswer {
                                    reason: format!(
                                        "200 without a cosignature by {}+{:08x}",
                                        w.verifier.name(),
                                        w.verifier.key_id()
                                    ),
                                }
                            } else if times.iter().any(Option::is_none) {
                                Outcome::BadAnswer {
                                    reason: "200 with a cosignature that does not verify".into(),
                                }
                            } else {
                                cosigned[a.witness] = true;
                                gathered.extend(mine.into_iter().cloned());
                                Outcome::Cosigned {
                                    time: times.iter().flatten().copied().max().unwrap_or(0),
                                    old: a.old,
                                    retried: a.retried,
                                }
                            }
                        }
                    }
                }
                409 if !a.retried => match conflict_size(&r) {
                    Err(reason) => Outcome::BadAnswer { reason },
                    Ok(known) if known > size => Outcome::Refused {
                        status: 409,
                        message: format!(
                            "the witness has cosigned size {known} of this log, larger than this checkpoint's {size}: the log it saw is not this one (a fork, or this ledger was rolled back)"
                        ),
                    },
                    Ok(known) if known == a.old => Outcome::BadAnswer {
                        reason: format!("409 naming the size {known} that was sent"),
                    },
                    Ok(known) => {
                        let body = request(known)?;
                        let url = w.url.clone().unwrap_or_default();
                        ask(&tx, &transport, a.witness, url, known, true, body);
                        pending += 1;
                        continue;
                    }
                },
                status => Outcome::Refused {
                    status,
                    message: if status == 409 {
                        format!(
                            "409 again, after retrying from size {}: {}",
                            a.old,
                            message(&r.body)
                        )
                    } else {
                        message(&r.body)
                    },
                },
            });
        }
    }
    let timed_out = !wp.satisfied(&cosigned);
    let witnesses = ws
        .iter()
        .zip(outcome)
        .map(|(w, o)| WitnessReport {
            name: w.name.clone(),
            vkey: w.verifier.to_string(),
            url: w.url.clone(),
            outcome: o.unwrap_or_else(|| {
                if timed_out {
                    Outcome::Unreachable {
                        reason: format!("no answer within {} s", deadline.as_secs()),
                    }
                } else {
                    Outcome::NotNeeded
                }
            }),
        })
        .collect();

    let written = if gathered.is_empty() {
        written
    } else {
        // Stored as `checkpoint --add` stores: under the ledger's lock,
        // checked against its tree, added to what is there.
        let add = Note::new(&text, gathered).map_err(crate::proofs::error::Request::Note)?;
        checkpoint::add_signatures(dir, &add.to_bytes(), wait, waiting)?
    };
    let quorum = {
        let stored = Note::parse(&written.note).map_err(crate::proofs::error::Request::Note)?;
        let flags: Vec<bool> = ws
            .iter()
            .map(|w| {
                stored
                    .signatures()
                    .iter()
                    .any(|s| verified_cosig(&text, s, &w.verifier).is_some())
            })
            .collect();
        if wp.satisfied(&flags) {
            Ok(())
        } else {
            Err(QuorumNotMet {
                size,
                cosigned: ws
                    .iter()
                    .zip(&flags)
                    .filter(|(_, f)| **f)
                    .map(|(w, _)| w.verifier.name().to_owned())
                    .collect(),
                witnesses: ws.len(),
                quorum: wp.minimum(),
                rule: Some(wp.rule().to_owned()),
            })
        }
    };
    Ok(Gathered {
        written,
        witnesses,
        quorum,
    })
}
