//! The whole-ledger audit: the core's verification ([`crate::core::verify`])
//! and, on top of it, every stored checkpoint checked against the replayed
//! tree (FORMAT §13.2), the witness policy (`--witness`/`--quorum`), and
//! the RFC 3161 tokens of checkpoints with the time rule they put on the
//! events they cover (FORMAT §17, `--tsa-ca`).
//!
//! This is what `ledger verify` runs. It reads the log, `docs/` and
//! `checkpoints/` and never writes, locks or reads the writer's cache.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::path::Path;

use serde::Serialize;

use crate::base::crypto::PublicKey;
use crate::core::format::EventHash;
use crate::core::store::{Access, Store};
use crate::core::verify::{self, list, Cause, Failure, VerifyError, Visit, WitnessFailure};
use crate::proofs::checkpoint::{self, CheckpointReport, CHECKPOINTS_DIR};
use crate::proofs::times::{self, KeyTime, WitnessTime};
use crate::proofs::timestamp::{self, TokenReport};
use crate::tlog::merkle;
use crate::tlog::note::WitnessPolicy;

/// What an auditor requires of a ledger: the core's requirements (FORMAT
/// §6, end) and those on its checkpoints.
#[derive(Debug, Default)]
pub struct Options {
    /// `--trust`: every party must have held one of these keys, and each
    /// must be a key some party holds or held; one bound to a party
    /// explicitly (`PARTY=FILE`) must be a key that party holds or held.
    pub trust: Option<Vec<crate::core::trust::TrustedKey>>,
    /// `--head`: the ledger must contain an event with this hash.
    pub head: Option<EventHash>,
    /// `--log-key`: keys besides the parties' that may sign checkpoints.
    pub log_keys: Vec<(String, PublicKey)>,
    /// `--witness`/`--quorum`: the latest checkpoint must be cosigned so,
    /// and no event may come after the largest checkpoint that is.
    pub witnesses: Option<WitnessPolicy>,
    /// `--allow-unwitnessed-tail`: under a witness policy, accept events
    /// after the largest checkpoint the quorum cosigned (there must be
    /// one), reporting them ([`Report::witness`]) instead of failing.
    pub allow_unwitnessed_tail: bool,
    /// Where the documents are, if not in the ledger's `docs/`: a ledger
    /// unpacked from a published directory ([`crate::proofs::published`]).
    pub docs: Option<std::path::PathBuf>,
    /// `--tsa-ca`: the roots RFC 3161 tokens are checked against; without
    /// them tokens are reported present and unchecked (FORMAT §17.3).
    pub tsa_roots: Option<Vec<crate::base::tsp::Anchor>>,
}

/// Everything a successful audit proves: the core's report, the tree's
/// root and the stored checkpoints.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    #[serde(flatten)]
    pub ledger: verify::Report,
    /// The Merkle tree's root over all events (FORMAT §12), hex.
    pub tree_root: String,
    /// The stored checkpoints, each checked against the tree (FORMAT §13.2).
    pub checkpoints: Vec<CheckpointReport>,
    /// The stored RFC 3161 tokens (FORMAT §17).
    pub timestamps: Vec<TokenReport>,
    /// The verified witness cosignatures' times (FORMAT §13.8, §17.5): a
    /// second time source, weaker than a TSA's; only with `--witness`.
    pub witness_times: Vec<WitnessTime>,
    /// Each key change with the earliest time the valid tokens and the
    /// witness cosignatures say its event existed by (FORMAT §17.5); empty
    /// without either.
    pub key_times: Vec<KeyTime>,
    /// Under a witness policy, how far the witnesses vouch for the ledger.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub witness: Option<Witnessed>,
}

/// How much of the ledger a witness policy covers: the events up to the
/// largest checkpoint the quorum cosigned, and the tail after it, which
/// no witness has seen (accepted only with
/// [`Options::allow_unwitnessed_tail`]).
#[derive(Debug, Clone, Serialize)]
pub struct Witnessed {
    /// The largest checkpoint the quorum cosigned, relative to the ledger.
    pub checkpoint: String,
    /// Its size: events `0..size` are witnessed.
    pub size: u64,
    /// The events after it, if any: not witnessed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unwitnessed: Option<Tail>,
}

/// Events `first..=last` (`count` of them), after the last witnessed
/// checkpoint.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Tail {
    pub first: u64,
    pub last: u64,
    pub count: u64,
}

/// Audits the ledger in `dir` from its first byte, keeping every event's
/// description in the report.
pub fn verify(dir: &Path, options: &Options) -> Result<Report, VerifyError> {
    let mut events = Vec::new();
    let mut report = verify_with(dir, options, &mut |v: Visit<'_>| events.push(v.entry()))?;
    report.ledger.events = events;
    Ok(report)
}

fn refuted(cause: Cause) -> VerifyError {
    VerifyError::Failed(Failure::whole(cause))
}

/// Audits the ledger in `dir`, streaming each verified event to `visit`
/// (see [`verify::verify_with`]).
pub fn verify_with(
    dir: &Path,
    options: &Options,
    visit: &mut dyn FnMut(Visit<'_>),
) -> Result<Report, VerifyError> {
    verify_keeping(dir, options, visit).map_err(|r| r.error)
}

/// An audit that failed, with what was proven before it failed: the
/// core's report up to the failing event ([`verify::Refuted`]), or, when
/// a checkpoint or the witness policy failed, of the whole log with the
/// checkpoints as they were found; marked `verified: false`.
#[derive(Debug)]
pub struct Refuted {
    pub error: VerifyError,
    pub proven: Option<Box<Report>>,
}

/// [`verify_with`], keeping on a failure the report of what was proven
/// before it: the one audit `verify --json` reports, for `ledger report`
/// to show a refuted ledger as far as it holds.
pub fn verify_keeping(
    dir: &Path,
    options: &Options,
    visit: &mut dyn FnMut(Visit<'_>),
) -> Result<Report, Box<Refuted>> {
    let bare = |error: VerifyError| {
        Box::new(Refuted {
            error,
            proven: None,
        })
    };
    // FORMAT §12: the tree is computed while streaming, keeping the root at
    // each size a stored checkpoint names.
    let store = Store::open(dir, Access::Read).map_err(|e| bare(e.into()))?;
    let store = match &options.docs {
        Some(d) => store.with_docs(d.clone()),
        None => store,
    };
    // An unreadable `checkpoints` fails the ledger (FORMAT §13.2), but
    // after the log: the first failing event is the verdict.
    let listed = checkpoint::stored(dir);
    let stored = listed.as_deref().unwrap_or_default().to_vec();
    let wanted = checkpoint::sizes(&stored);
    let mut roots = BTreeMap::new();
    roots.insert(0, merkle::empty_root());
    let mut tree = merkle::Frontier::new();
    // FORMAT §17.3: tokens are checked before the replay (each against the
    // checkpoint file it stamps), so that each event's claimed time can be
    // held to the stamps as it streams past: O(tokens), plus one
    // comparison per event. A failing token is the verdict only if the
    // log itself replays.
    let tokens = timestamp::check_stored(
        dir,
        &checkpoint::stored_tokens(dir),
        options.tsa_roots.as_deref(),
    );
    let bounds = tokens
        .as_ref()
        .map(|t| timestamp::bounds(t))
        .unwrap_or_default();
    let mut late: Option<Failure> = None;
    let core = verify::Options {
        trust: options.trust.clone(),
        head: options.head,
    };
    let outcome = verify::verify_state_keeping(&store, &core, &mut |v: Visit<'_>| {
        // Cannot fail below 2^64 events.
        let _ = tree.push(v.leaf_hash());
        if wanted.contains(&tree.size()) {
            roots.insert(tree.size(), tree.root());
        }
        if late.is_none() {
            late = too_late(&v, &bounds);
        }
        visit(v);
    });
    let partial = |ledger: verify::Report, tree: &merkle::Frontier, checkpoints| Report {
        ledger,
        tree_root: hex::encode(tree.root()),
        checkpoints,
        timestamps: Vec::new(),
        witness_times: Vec::new(),
        key_times: Vec::new(),
        witness: None,
    };
    let (report, state) = match outcome {
        Ok(r) => r,
        Err(r) => {
            return Err(Box::new(Refuted {
                error: r.error,
                proven: r.proven.map(|l| Box::new(partial(*l, &tree, Vec::new()))),
            }))
        }
    };
    let refuted_whole = |cause: Cause, report: &verify::Report, checkpoints: Vec<_>| {
        let mut ledger = report.clone();
        ledger.verified = false;
        Box::new(Refuted {
            error: refuted(cause),
            proven: Some(Box::new(partial(ledger, &tree, checkpoints))),
        })
    };
    // FORMAT §17.4: an event that claims a time after a stamp that covers
    // it; the events before it are proven.
    if let Some(f) = late {
        let mut ledger = report.clone();
        ledger.verified = false;
        return Err(Box::new(Refuted {
            error: VerifyError::Failed(f),
            proven: Some(Box::new(partial(ledger, &tree, Vec::new()))),
        }));
    }
    if let Err(u) = listed {
        let cause = Cause::Checkpoint {
            file: u.file,
            problem: Box::new(u.problem),
        };
        return Err(refuted_whole(cause, &report, Vec::new()));
    }
    let origin = checkpoint::origin(&state.ledger);
    // FORMAT §13.1: a checkpoint of size N may be signed by a party key
    // that was current after the ledger's first N events (whatever became
    // of it later), or by a dedicated log key.
    let party_keys = |size: u64| checkpoint::party_keys_at(&state.keys, size);
    let checkpoints = checkpoint::check_stored(
        dir,
        &stored,
        &origin,
        &roots,
        state.count,
        &party_keys,
        &options.log_keys,
        options.witnesses.as_ref(),
    );
    if let Some((bad, problem)) = checkpoints
        .iter()
        .find_map(|c| c.problem.as_ref().map(|p| (c, p)))
    {
        let cause = Cause::Checkpoint {
            file: format!("{CHECKPOINTS_DIR}/{}", bad.file),
            problem: Box::new(problem.clone()),
        };
        return Err(refuted_whole(cause, &report, checkpoints.clone()));
    }
    let witness = match &options.witnesses {
        Some(policy) => {
            match witnessed(
                dir,
                &checkpoints,
                policy,
                state.count,
                options.allow_unwitnessed_tail,
            ) {
                Ok(w) => Some(w),
                Err(VerifyError::Failed(f)) => {
                    return Err(refuted_whole(f.cause, &report, checkpoints.clone()))
                }
                Err(e) => return Err(bare(e)),
            }
        }
        None => None,
    };
    let timestamps = match tokens {
        Ok(t) => t,
        Err(bad) => {
            let cause = Cause::Timestamp {
                file: bad.file,
                problem: bad.problem,
            };
            return Err(refuted_whole(cause, &report, checkpoints.clone()));
        }
    };
    // FORMAT §17.5: from the reports at hand, not a second replay.
    let witness_times = times::witness_times(&checkpoints);
    let key_times = times::key_times(
        &report.parties,
        &times::tsa_times(&timestamps),
        &witness_times,
    );
    Ok(Report {
        ledger: report,
        tree_root: hex::encode(tree.root()),
        checkpoints,
        timestamps,
        witness_times,
        key_times,
        witness,
    })
}

/// The witness policy over checkpoints that are all valid: the latest
/// must meet the quorum (the note layer's one check) and no event may
/// come after the largest that does, unless `allow_tail` (then there must
/// still be one, and the tail is reported).
fn witnessed(
    dir: &Path,
    checkpoints: &[CheckpointReport],
    policy: &WitnessPolicy,
    count: u64,
    allow_tail: bool,
) -> Result<Witnessed, VerifyError> {
    let latest = checkpoints
        .iter()
        .filter_map(|c| c.verified.as_ref().map(|v| (c, v)))
        .max_by_key(|(_, v)| v.checkpoint().size());
    let Some((c, v)) = latest else {
        return Err(refuted(Cause::Witness(WitnessFailure::NoCheckpoint {
            dir: dir.to_owned(),
        })));
    };
    // FORMAT §13.9: the largest checkpoint the quorum cosigned.
    let best = checkpoints
        .iter()
        .filter(|c| c.witnessed == Some(true))
        .filter_map(|c| c.size.map(|s| (c, s)))
        .max_by_key(|(_, s)| *s);
    let best = match (v.quorum(policy), best) {
        (Ok(()), _) => (c, v.checkpoint().size()),
        (Err(_), Some(b)) if allow_tail => b,
        (Err(q), _) => {
            return Err(refuted(Cause::Witness(WitnessFailure::Quorum {
                file: format!("{CHECKPOINTS_DIR}/{}", c.file),
                cosigned: q.cosigned.len(),
                witnesses: q.witnesses,
                quorum: q.quorum,
                rule: q.rule,
            })))
        }
    };
    let (c, size) = best;
    let file = format!("{CHECKPOINTS_DIR}/{}", c.file);
    let unwitnessed = (size < count).then(|| Tail {
        first: size,
        last: count - 1,
        count: count - size,
    });
    if let (Some(t), false) = (unwitnessed, allow_tail) {
        return Err(refuted(Cause::Witness(WitnessFailure::Unwitnessed {
            file,
            witnessed: size,
            first: t.first,
            last: t.last,
        })));
    }
    Ok(Witnessed {
        checkpoint: file,
        size,
        unwitnessed,
    })
}

/// FORMAT §17.4: the event may claim no time later than the least bound of
/// the stamped checkpoints that hold it (`bounds` is sorted by size, each
/// the least over itself and every larger one).
fn too_late(v: &Visit<'_>, bounds: &[timestamp::Bound]) -> Option<Failure> {
    let seq = v.seq();
    let b = bounds.iter().find(|b| b.size > seq)?;
    let (secs, nanos) = v.claimed_time().instant();
    if (secs, nanos) <= (b.limit, b.limit_nanos) {
        return None;
    }
    Some(Failure::at(
        Some(seq),
        v.offset(),
        Cause::ClaimedAfterStamp(Box::new(verify::LateClaim {
            claimed: v.claimed_time().to_string(),
            stamped: b.stamp.time_text.clone(),
            tolerance: (b.limit - b.stamp.time) as u64,
            file: b.file.clone(),
            tsa: b.stamp.tsa.clone(),
            serial: b.stamp.serial.clone(),
        })),
    ))
}

impl Report {
    /// The text report's first lines: the ledger and its parties.
    pub fn header(&self) -> String {
        self.ledger.header()
    }

    /// The text report after the timeline: documents, trust, checkpoints
    /// and the verdict line.
    pub fn footer(&self) -> String {
        let mut f = self.ledger.documents_text();
        if !self.checkpoints.is_empty() {
            f.push_str("\ncheckpoints (FORMAT §13):\n");
        }
        for c in &self.checkpoints {
            let cosigned = if c.cosigned_by.is_empty() {
                String::new()
            } else {
                format!(
                    "; cosigned by {}",
                    list(c.cosigned_by.iter().map(|w| w.witness.as_str()))
                )
            };
            let _ = writeln!(
                f,
                "  size {}: valid, signed by {}{cosigned}",
                c.size.unwrap_or_default(),
                list(&c.signed_by)
            );
        }
        f.push_str(&self.timestamps_text());
        f.push('\n');
        f.push_str(&self.verdict());
        f
    }

    /// What the stored RFC 3161 tokens prove (FORMAT §17.5), one line each.
    pub fn timestamps_text(&self) -> String {
        let mut f = String::new();
        if !self.timestamps.is_empty() {
            f.push_str("\ntimestamps (RFC 3161, FORMAT §17):\n");
        }
        for t in &self.timestamps {
            let what = match (&t.stamp, t.status) {
                (Some(s), _) => format!(
                    "events #0..#{} existed no later than {} ({}, serial {})",
                    t.size.saturating_sub(1),
                    s.time_text,
                    s.tsa,
                    s.serial
                ),
                (None, "untrusted") => format!(
                    "NOT COUNTED: {}",
                    t.note.as_deref().unwrap_or("its TSA is not trusted")
                ),
                _ => "present, unchecked (give --tsa-ca ROOT.pem to check it)".to_owned(),
            };
            let _ = writeln!(f, "  {}: {what}", t.file);
        }
        if !self.witness_times.is_empty() {
            f.push_str("\nwitness cosignature times (FORMAT §13.8; each witness's own clock, weaker than a TSA's):\n");
        }
        for w in &self.witness_times {
            let _ = writeln!(
                f,
                "  {}: events #0..#{} existed no later than {}, says witness {}",
                w.checkpoint,
                w.size.saturating_sub(1),
                w.time_text,
                w.witness
            );
        }
        if !self.key_times.is_empty() {
            f.push_str("\nkey history in time (FORMAT §17.5):\n");
        }
        for k in &self.key_times {
            let _ = writeln!(f, "  {}", verify::terminal_safe(&k.text()));
        }
        f
    }

    /// The verdict line, and under a witness policy with an accepted
    /// unwitnessed tail, a warning no reader can take for part of the OK.
    /// The last line stays the warning, so that `tail -1` shows it.
    pub fn verdict(&self) -> String {
        let Some(w) = &self.witness else {
            return self.ledger.verdict();
        };
        match w.unwitnessed {
            None => format!(
                "witnessed: all {} events, by the quorum's cosignatures on {}\n{}",
                w.size,
                w.checkpoint,
                self.ledger.verdict()
            ),
            Some(t) => {
                let warning = format!(
                    "WARNING: events #{}..#{} ({} of {}) are NOT witnessed: the witness quorum cosigned only the first {}, in {} (accepted by --allow-unwitnessed-tail)\n",
                    t.first,
                    t.last,
                    t.count,
                    self.ledger.count,
                    w.size,
                    w.checkpoint
                );
                format!("{warning}{}{warning}", self.ledger.verdict())
            }
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.header())?;
        for e in &self.ledger.events {
            f.write_str(&verify::Report::timeline_entry(e))?;
        }
        f.write_str(&self.footer())
    }
}
