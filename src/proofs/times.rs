//! What the ledger's time sources say about when events existed (FORMAT
//! §17.5): the valid RFC 3161 tokens of its checkpoints (a TSA's signed
//! time) and, as a second and weaker source, the verified cosignatures of
//! its checkpoints' witnesses (FORMAT §13.8: each witness's own clock,
//! signed by a key the auditor chose to trust, but no authority's
//! statement). From them, each key change of the history gets a real time
//! bound: "revoked at #12, which existed by T".
//!
//! It reads nothing and decides no verdict: it is computed from reports
//! the audit already holds, in O((tokens + cosignatures) log + keys), never
//! by a second replay. The time rule that refutes events is the audit's
//! ([`crate::proofs::audit`], FORMAT §17.4), and uses TSA times only.

use serde::Serialize;

use crate::core::verify::PartyInfo;
use crate::proofs::checkpoint::{CheckpointReport, CHECKPOINTS_DIR};
use crate::proofs::timestamp::TokenReport;

/// "Events #0..#size-1 existed no later than `time_text`", says the TSA
/// `tsa` in the token `file` (serial `serial`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TsaTime {
    pub file: String,
    pub size: u64,
    /// `genTime`, POSIX seconds (its fraction in `nanos`).
    pub time: i64,
    pub nanos: u32,
    pub time_text: String,
    pub tsa: String,
    pub serial: String,
}

/// "Events #0..#size-1 existed no later than `time_text`", says the
/// witness `witness` by its cosignature on `checkpoint`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WitnessTime {
    pub checkpoint: String,
    pub size: u64,
    pub witness: String,
    /// The cosignature's timestamp, POSIX seconds.
    pub time: u64,
    pub time_text: String,
}

/// One change in a party's key history and the earliest time each source
/// says the event that made it existed by (none if no stamped or
/// cosigned checkpoint holds it yet).
#[derive(Debug, Clone, Serialize)]
pub struct KeyTime {
    pub party: String,
    pub fingerprint: String,
    /// `added`, `rotated-out`, `revoked` or `party-removed`.
    pub change: &'static str,
    pub event: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tsa: Option<TsaTime>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub witness: Option<WitnessTime>,
}

/// The TSA times of the valid tokens, by checkpoint size.
pub fn tsa_times(tokens: &[TokenReport]) -> Vec<TsaTime> {
    let mut out: Vec<TsaTime> = tokens
        .iter()
        .filter_map(|t| {
            let s = t.stamp.as_ref()?;
            Some(TsaTime {
                file: t.file.clone(),
                size: t.size,
                time: s.time,
                nanos: s.nanos,
                time_text: s.time_text.clone(),
                tsa: s.tsa.clone(),
                serial: s.serial.clone(),
            })
        })
        .collect();
    out.sort_by_key(|t| (t.size, t.time, t.nanos));
    out
}

/// The times of the verified witness cosignatures, by checkpoint size.
pub fn witness_times(checkpoints: &[CheckpointReport]) -> Vec<WitnessTime> {
    let mut out: Vec<WitnessTime> = checkpoints
        .iter()
        .filter(|c| c.valid)
        .flat_map(|c| {
            let size = c.size.unwrap_or_default();
            c.cosigned_by.iter().map(move |w| WitnessTime {
                checkpoint: format!("{CHECKPOINTS_DIR}/{}", c.file),
                size,
                witness: w.witness.clone(),
                time: w.time,
                time_text: i64::try_from(w.time)
                    .ok()
                    .and_then(crate::base::time::Timestamp::from_unix)
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| format!("{} s after 1970", w.time)),
            })
        })
        .collect();
    out.sort_by_key(|w| (w.size, w.time));
    out
}

/// For a list sorted by size: for each position, the entry of least time
/// among it and every later (larger) one. An event `i` is held by every
/// checkpoint of a size above `i`, so its bound is the suffix minimum at
/// the first such size.
fn suffix_min<T: Clone>(sorted: &[T], key: impl Fn(&T) -> (i64, u32)) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(sorted.len());
    for t in sorted.iter().rev() {
        match out.last() {
            // On a tie, the smaller checkpoint: the first that holds the
            // event, and so the one a reader looks at.
            Some(best) if key(best) < key(t) => out.push(best.clone()),
            _ => out.push(t.clone()),
        }
    }
    out.reverse();
    out
}

/// The earliest time bound of event `seq`: binary search by size.
fn bound_of<T: Clone>(by_size: &[T], mins: &[T], size: impl Fn(&T) -> u64, seq: u64) -> Option<T> {
    let i = by_size.partition_point(|t| size(t) <= seq);
    mins.get(i).cloned()
}

/// Every key change of every party, each with its earliest TSA and
/// witness bound. `tsa` and `witness` as [`tsa_times`] and
/// [`witness_times`] give them. Empty if neither has an entry: a ledger
/// without time sources gains no section.
pub fn key_times(parties: &[PartyInfo], tsa: &[TsaTime], witness: &[WitnessTime]) -> Vec<KeyTime> {
    if tsa.is_empty() && witness.is_empty() {
        return Vec::new();
    }
    let tsa_min = suffix_min(tsa, |t| (t.time, t.nanos));
    let wit_min = suffix_min(witness, |w| (i64::try_from(w.time).unwrap_or(i64::MAX), 0));
    let mut out = Vec::new();
    for p in parties {
        for k in &p.keys {
            let changes = [
                Some(("added", k.added)),
                k.rotated_out.map(|e| ("rotated-out", e)),
                k.revoked.map(|e| ("revoked", e)),
                k.party_removed.map(|e| ("party-removed", e)),
            ];
            for (change, event) in changes.into_iter().flatten() {
                out.push(KeyTime {
                    party: p.id.as_str().to_owned(),
                    fingerprint: k.fingerprint.clone(),
                    change,
                    event,
                    tsa: bound_of(tsa, &tsa_min, |t| t.size, event),
                    witness: bound_of(witness, &wit_min, |w| w.size, event),
                });
            }
        }
    }
    out
}

impl KeyTime {
    /// "most's key SHA256:… revoked at #12, which existed by T (TSA, serial
    /// S); by T2, says witness W".
    pub fn text(&self) -> String {
        let change = match self.change {
            "rotated-out" => "rotated out",
            "party-removed" => "removed with its party",
            c => c,
        };
        let head = format!(
            "{}'s key {} {change} at #{}",
            self.party, self.fingerprint, self.event
        );
        let tsa = self
            .tsa
            .as_ref()
            .map(|t| format!("by {} ({}, serial {})", t.time_text, t.tsa, t.serial));
        let wit = self
            .witness
            .as_ref()
            .map(|w| format!("by {}, says witness {}", w.time_text, w.witness));
        match (tsa, wit) {
            (Some(t), Some(w)) => format!("{head}, which existed {t}; {w}"),
            (Some(t), None) => format!("{head}, which existed {t}"),
            (None, Some(w)) => format!("{head}, which existed {w} (no TSA token holds it)"),
            (None, None) => format!("{head}: no stamped or cosigned checkpoint holds it yet"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tsa(size: u64, time: i64) -> TsaTime {
        TsaTime {
            file: format!("checkpoints/{size}.tsr"),
            size,
            time,
            nanos: 0,
            time_text: time.to_string(),
            tsa: "CN=T".into(),
            serial: "01".into(),
        }
    }

    #[test]
    fn an_event_is_bound_by_the_earliest_stamp_of_any_checkpoint_holding_it() {
        // Size 10 stamped at 500, size 20 at 300 (stamped earlier: it
        // binds events below 10 too), size 30 at 900.
        let by_size = vec![tsa(10, 500), tsa(20, 300), tsa(30, 900)];
        let mins = suffix_min(&by_size, |t| (t.time, t.nanos));
        let at = |seq| bound_of(&by_size, &mins, |t| t.size, seq).map(|t| (t.size, t.time));
        assert_eq!(at(0), Some((20, 300)));
        assert_eq!(at(9), Some((20, 300)));
        assert_eq!(at(10), Some((20, 300)));
        assert_eq!(at(19), Some((20, 300)));
        assert_eq!(at(20), Some((30, 900)));
        assert_eq!(at(29), Some((30, 900)));
        assert_eq!(at(30), None);
    }
}
