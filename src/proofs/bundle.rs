//! Proof bundles (FORMAT §14): what an auditor keeps instead of the whole
//! log, and re-checks with nothing else but trusted keys. This module owns
//! their encoding (the one CBOR writer outside the ledger format), making
//! them from a ledger directory without writing to it ([`TreeIndex`]), and
//! checking them (`ledger check-proof`). It must never hand out a proof it
//! has not checked against the checkpoint's root.

use std::collections::BTreeMap;
use std::path::Path;

use ciborium::value::Value;

use crate::base::crypto::PublicKey;
use crate::core::format::{encode_value, Event, Kind};
use crate::core::trust::TrustedKey;
use crate::core::verify::CheckpointProblem;
use crate::proofs::checkpoint::{
    check_note, latest_stored, origin, require_quorum, Cosigner, MAX_BUNDLE_BYTES,
};
use crate::proofs::error::{
    BundleFailure, BundleProblem, CheckpointError, LedgerProblem, ProofFailure, Request, Side,
};
use crate::proofs::index::TreeIndex;
use crate::tlog::merkle::{self, Hash};
use crate::tlog::note::{Checkpoint, Note, WitnessPolicy};

/// A proof bundle (FORMAT §14): what an auditor keeps and re-checks with
/// nothing else but trusted keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bundle {
    /// Event `index` (whose stored bytes are `event`) is in the tree of
    /// the checkpoint.
    Inclusion {
        index: u64,
        event: Vec<u8>,
        proof: Vec<Hash>,
        checkpoint: Vec<u8>,
    },
    /// The tree of checkpoint `new` extends that of checkpoint `old`.
    Consistency {
        old: Vec<u8>,
        new: Vec<u8>,
        proof: Vec<Hash>,
    },
}

const BUNDLE_VERSION: u64 = 1;
/// The most hashes in a bundle's proof.
const MAX_PROOF_HASHES: usize = 128;

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn hashes(proof: &[Hash]) -> Value {
    Value::Array(proof.iter().map(|h| Value::Bytes(h.to_vec())).collect())
}

impl Bundle {
    /// The deterministic CBOR encoding of FORMAT §14.
    pub fn encode(&self) -> Vec<u8> {
        let mut m = vec![(text("v"), Value::Integer(BUNDLE_VERSION.into()))];
        match self {
            Bundle::Inclusion {
                index,
                event,
                proof,
                checkpoint,
            } => {
                m.push((text("type"), text("inclusion")));
                m.push((text("index"), Value::Integer((*index).into())));
                m.push((text("event"), Value::Bytes(event.clone())));
                m.push((text("proof"), hashes(proof)));
                m.push((text("checkpoint"), Value::Bytes(checkpoint.clone())));
            }
            Bundle::Consistency { old, new, proof } => {
                m.push((text("type"), text("consistency")));
                m.push((text("old"), Value::Bytes(old.clone())));
                m.push((text("new"), Value::Bytes(new.clone())));
                m.push((text("proof"), hashes(proof)));
            }
        }
        encode_value(Value::Map(m))
    }

    /// Decodes a bundle strictly: deterministic CBOR, exactly the fields
    /// of its type, nothing after it.
    pub fn decode(bytes: &[u8]) -> Result<Bundle, CheckpointError> {
        Ok(Bundle::decode_fields(bytes)?)
    }

    fn decode_fields(bytes: &[u8]) -> Result<Bundle, BundleProblem> {
        if bytes.len() > MAX_BUNDLE_BYTES {
            return Err(BundleProblem::TooLarge {
                len: bytes.len(),
                limit: MAX_BUNDLE_BYTES,
            });
        }
        let value = crate::core::format::decode_strict(bytes, "the proof bundle")
            .map_err(BundleProblem::Cbor)?;
        let Value::Map(entries) = value else {
            return Err(BundleProblem::NotAMap);
        };
        let mut fields: BTreeMap<String, Value> = BTreeMap::new();
        for (k, v) in entries {
            let Value::Text(k) = k else {
                return Err(BundleProblem::KeyNotText);
            };
            fields.insert(k, v);
        }
        let mut take = |name: &'static str| fields.remove(name).ok_or(BundleProblem::Missing(name));
        let uint = |v: Value, name: &'static str| match v {
            Value::Integer(i) => u64::try_from(i).map_err(|_| BundleProblem::NotUnsigned(name)),
            _ => Err(BundleProblem::NotUnsigned(name)),
        };
        let bstr = |v: Value, name: &'static str| match v {
            Value::Bytes(b) => Ok(b),
            _ => Err(BundleProblem::NotBytes(name)),
        };
        let proof = |v: Value| -> Result<Vec<Hash>, BundleProblem> {
            let Value::Array(items) = v else {
                return Err(BundleProblem::ProofNotArray);
            };
            if items.len() > MAX_PROOF_HASHES {
                return Err(BundleProblem::ProofTooLong {
                    limit: MAX_PROOF_HASHES,
                });
            }
            items
                .into_iter()
                .map(|i| match i {
                    Value::Bytes(b) => {
                        Hash::try_from(b.as_slice()).map_err(|_| BundleProblem::HashLength)
                    }
                    _ => Err(BundleProblem::HashNotBytes),
                })
                .collect()
        };
        let v = uint(take("v")?, "v")?;
        if v != BUNDLE_VERSION {
            return Err(BundleProblem::Version {
                found: v,
                supported: BUNDLE_VERSION,
            });
        }
        let kind = match take("type")? {
            Value::Text(t) => t,
            _ => return Err(BundleProblem::TypeNotText),
        };
        let bundle = match kind.as_str() {
            "inclusion" => Bundle::Inclusion {
                index: uint(take("index")?, "index")?,
                event: bstr(take("event")?, "event")?,
                proof: proof(take("proof")?)?,
                checkpoint: bstr(take("checkpoint")?, "checkpoint")?,
            },
            "consistency" => Bundle::Consistency {
                old: bstr(take("old")?, "old")?,
                new: bstr(take("new")?, "new")?,
                proof: proof(take("proof")?)?,
            },
            _ => return Err(BundleProblem::UnknownType(kind)),
        };
        if let Some(extra) = fields.keys().next() {
            return Err(BundleProblem::UnknownField(extra.clone()));
        }
        Ok(bundle)
    }
}

/// `ledger prove DIR --event N`: the inclusion proof of event `index` in
/// the tree of `checkpoint` (default: the largest stored one), checked
/// before it is returned. Reads the ledger without writing or locking it.
pub fn prove_event(
    dir: &Path,
    index: u64,
    checkpoint: Option<Vec<u8>>,
) -> Result<Bundle, CheckpointError> {
    let p = prove_included(dir, index, checkpoint)?;
    Ok(Bundle::Inclusion {
        index: p.index,
        event: p.event,
        proof: p.proof,
        checkpoint: p.checkpoint,
    })
}

/// A checked inclusion proof: what every format of it carries (FORMAT §14,
/// §21).
pub(crate) struct Included {
    pub index: u64,
    pub event: Vec<u8>,
    pub proof: Vec<Hash>,
    pub checkpoint: Vec<u8>,
}

/// [`prove_event`]'s proof, checked, before it is put in a format.
pub(crate) fn prove_included(
    dir: &Path,
    index: u64,
    checkpoint: Option<Vec<u8>>,
) -> Result<Included, CheckpointError> {
    let note_bytes = given_or_latest(dir, checkpoint)?;
    let tree = TreeIndex::read(dir)?;
    let cp = parse_for(&note_bytes, tree.origin())?;
    let size = cp.size();
    if index >= size {
        return Err(Request::NotInCheckpoint { index, size }.into());
    }
    require_root(&tree, &cp, None)?;
    let proof = merkle::prove_inclusion(size, index, &tree).map_err(Request::Merkle)?;
    let event = tree.event_bytes(index)?;
    let decoded = Event::decode(&event)
        .map_err(|source| LedgerProblem::EventUndecodable { index, source })?;
    merkle::verify_inclusion(index, size, &decoded.leaf_hash(), &proof, cp.root())
        .map_err(ProofFailure::Unchecked)?;
    Ok(Included {
        index,
        event,
        proof,
        checkpoint: note_bytes,
    })
}

/// The checkpoint given, or else the largest one stored in `dir`.
fn given_or_latest(dir: &Path, given: Option<Vec<u8>>) -> Result<Vec<u8>, CheckpointError> {
    match given {
        Some(b) => Ok(b),
        None => Ok(latest_stored(dir)?.1),
    }
}

/// Refuted unless `cp`'s root is that of the ledger's first `cp.size()`
/// events: the split view a proof exists to expose. `side` says which of
/// a pair it is, if it is one of a pair.
fn require_root(
    tree: &TreeIndex,
    cp: &Checkpoint,
    side: Option<Side>,
) -> Result<Hash, CheckpointError> {
    let size = cp.size();
    let root = tree.root_at(size)?;
    if root != *cp.root() {
        return Err(match side {
            None => LedgerProblem::RootDiffers { size },
            Some(side) => LedgerProblem::NotOfHistory { side, size },
        }
        .into());
    }
    Ok(root)
}

/// A checkpoint given for the ledger whose origin is `origin`.
fn parse_for(bytes: &[u8], origin: &str) -> Result<Checkpoint, Request> {
    let n = Note::parse(bytes).map_err(Request::Malformed)?;
    let cp = Checkpoint::parse_text(n.text()).map_err(Request::Malformed)?;
    if cp.origin() != origin {
        return Err(Request::Checkpoint(CheckpointProblem::Origin {
            found: cp.origin().to_owned(),
            expected: origin.to_owned(),
        }));
    }
    Ok(cp)
}

/// `ledger prove DIR --from OLD`: the consistency proof from checkpoint
/// `old` to `new` (default: the largest stored one). Refuted if `old` is
/// not a checkpoint of this ledger's history: the split view a consistency
/// proof exists to expose. Reads the ledger without writing or locking it.
pub fn prove_growth(
    dir: &Path,
    old: Vec<u8>,
    new: Option<Vec<u8>>,
) -> Result<Bundle, CheckpointError> {
    let new = given_or_latest(dir, new)?;
    let tree = TreeIndex::read(dir)?;
    let (o, n) = (
        parse_for(&old, tree.origin())?,
        parse_for(&new, tree.origin())?,
    );
    if o.size() > n.size() {
        return Err(Request::OldLarger {
            old: o.size(),
            new: n.size(),
        }
        .into());
    }
    require_root(&tree, &o, Some(Side::Old))?;
    require_root(&tree, &n, Some(Side::New))?;
    let proof = merkle::prove_consistency(o.size(), n.size(), &tree).map_err(Request::Merkle)?;
    merkle::verify_consistency(o.size(), n.size(), o.root(), n.root(), &proof)
        .map_err(ProofFailure::Unchecked)?;
    Ok(Bundle::Consistency { old, new, proof })
}

/// The C2SP tlog-witness `add-checkpoint` request for `checkpoint`
/// (default: the largest stored one), from a witness that holds size `old`.
/// Reads the ledger without writing or locking it.
pub fn witness_request(
    dir: &Path,
    old: u64,
    checkpoint: Option<Vec<u8>>,
) -> Result<Vec<u8>, CheckpointError> {
    let bytes = given_or_latest(dir, checkpoint)?;
    let tree = TreeIndex::read(dir)?;
    witness_request_in(&tree, old, bytes)
}

/// [`witness_request`] with the ledger's tree already read: the request
/// for `checkpoint` (a note of this tree) from size `old`.
pub fn witness_request_in(
    tree: &TreeIndex,
    old: u64,
    bytes: Vec<u8>,
) -> Result<Vec<u8>, CheckpointError> {
    let cp = parse_for(&bytes, tree.origin())?;
    if old > cp.size() {
        return Err(Request::WitnessOld {
            old,
            size: cp.size(),
        }
        .into());
    }
    require_root(tree, &cp, None)?;
    let proof = merkle::prove_consistency(old, cp.size(), tree).map_err(Request::Merkle)?;
    // Checked like every proof this module hands out: from the root of
    // the ledger's first `old` events to the checkpoint's.
    let old_root = tree.root_at(old)?;
    merkle::verify_consistency(old, cp.size(), &old_root, cp.root(), &proof)
        .map_err(ProofFailure::Unchecked)?;
    Ok(crate::tlog::witness::AddCheckpoint {
        old,
        proof,
        checkpoint: bytes,
    }
    .to_bytes()
    .map_err(Request::Witness)?)
}

/// What a checked bundle proves.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Proven {
    /// "inclusion" or "consistency".
    pub kind: &'static str,
    pub origin: String,
    /// The checkpoint proven against (the new one, for consistency).
    pub size: u64,
    pub root: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_size: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<ProvenEvent>,
    pub signed_by: Vec<String>,
    pub cosigned_by: Vec<Cosigner>,
}

/// The event of an inclusion bundle.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ProvenEvent {
    pub index: u64,
    pub hash: String,
    pub kind: &'static str,
    pub author: String,
    pub time: String,
    /// The trusted key that signed it (its file).
    pub key: String,
    /// The party the auditor bound that key to, which is the author.
    pub party: String,
}

/// What `check-proof` cannot check from a bundle alone: the rules of the
/// replay (FORMAT §6), which need every event before this one. Shown with
/// every inclusion verdict, so that nobody reads more into it.
pub const NOT_CHECKED_WITHOUT_THE_LOG: &str = "that the author was a party holding this key at this point of the log, and the replay rules that need the events before it (FORMAT §6: sessions, documents, versions, approvals, signatures, rotations); `ledger verify` on the ledger checks those";

/// `ledger check-proof BUNDLE`: checks a bundle with nothing but trusted
/// keys (`trusted`: parties' keys, each bound to its party, and log keys)
/// and, optionally, a witness policy whose quorum must cosign.
///
/// An inclusion bundle's event must be signed by a trusted key that the
/// auditor bound to the event's author, and obey every rule that needs no
/// other event: its number is the bundle's index, a `ledger-created` event
/// is event 0 and event 0 is one, only event 0 lacks `prev`, and a genesis event lists its author
/// with the key that signed it. The rest of the replay is not checked
/// ([`NOT_CHECKED_WITHOUT_THE_LOG`]).
pub fn check_bundle(
    bytes: &[u8],
    trusted: &[TrustedKey],
    policy: Option<&WitnessPolicy>,
) -> Result<Proven, CheckpointError> {
    check_decoded(Bundle::decode(bytes)?, trusted, policy)
}

/// [`check_bundle`] of a bundle already decoded (or made from a C2SP
/// tlog-proof, which carries the same evidence, FORMAT §21.1).
pub(crate) fn check_decoded(
    bundle: Bundle,
    trusted: &[TrustedKey],
    policy: Option<&WitnessPolicy>,
) -> Result<Proven, CheckpointError> {
    let keys: Vec<(String, PublicKey)> = trusted.iter().cloned().map(TrustedKey::pair).collect();
    let trusted_pairs = keys.as_slice();
    match bundle {
        Bundle::Inclusion {
            index,
            event,
            proof,
            checkpoint,
        } => {
            let ev = Event::decode(&event).map_err(BundleFailure::Event)?;
            let origin = origin(&ev.body.ledger);
            let c = check_note(&checkpoint, Some(&origin), trusted_pairs, policy)?;
            if let Some(p) = policy {
                require_quorum(&c, p)?;
            }
            check_index(index, &ev)?;
            let size = c.checkpoint().size();
            merkle::verify_inclusion(index, size, &ev.leaf_hash(), &proof, c.checkpoint().root())
                .map_err(|source| ProofFailure::NotIncluded {
                index,
                size,
                source,
            })?;
            let event = check_event(index, &ev, trusted)?;
            Ok(Proven {
                kind: "inclusion",
                origin,
                size,
                root: hex::encode(c.checkpoint().root()),
                old_size: None,
                event: Some(event),
                cosigned_by: c.cosigned_by(),
                signed_by: c.signed_by,
            })
        }
        Bundle::Consistency { old, new, proof } => {
            let old = check_note(&old, None, trusted_pairs, None)?;
            let o = old.checkpoint();
            let n = check_note(&new, Some(o.origin()), trusted_pairs, policy)?;
            if let Some(p) = policy {
                require_quorum(&n, p)?;
            }
            let nc = n.checkpoint();
            merkle::verify_consistency(o.size(), nc.size(), o.root(), nc.root(), &proof).map_err(
                |source| ProofFailure::NotExtended {
                    old: o.size(),
                    new: nc.size(),
                    source,
                },
            )?;
            Ok(Proven {
                kind: "consistency",
                origin: o.origin().to_owned(),
                size: nc.size(),
                root: hex::encode(nc.root()),
                old_size: Some(o.size()),
                event: None,
                cosigned_by: n.cosigned_by(),
                signed_by: n.signed_by.clone(),
            })
        }
    }
}

/// The bundle's index must be the event's own number.
pub(crate) fn check_index(index: u64, ev: &Event) -> Result<(), CheckpointError> {
    if ev.body.seq != index {
        return Err(BundleFailure::IndexMismatch {
            index,
            seq: ev.body.seq,
        }
        .into());
    }
    Ok(())
}

/// The checks of an included event that need no other event (see
/// [`check_bundle`]): its place if it is the genesis, a trusted key bound
/// to its author, and its signature by that key.
pub(crate) fn check_event(
    index: u64,
    ev: &Event,
    trusted: &[TrustedKey],
) -> Result<ProvenEvent, CheckpointError> {
    let genesis = matches!(ev.body.kind, Kind::LedgerCreated { .. });
    if genesis != (index == 0) || ev.body.prev.is_some() != (index > 0) {
        return Err(BundleFailure::GenesisPlace {
            index,
            kind: ev.body.kind.name(),
        }
        .into());
    }
    let author = &ev.body.author;
    let holders: Vec<&TrustedKey> = trusted.iter().filter(|t| t.key.kid() == ev.kid).collect();
    if holders.is_empty() {
        return Err(BundleFailure::UntrustedSigner { index, kid: ev.kid }.into());
    }
    // The key must be one the auditor bound to the author: a
    // trusted key of another party proves nothing about this one.
    let Some(t) = holders.iter().find(|t| t.party.as_ref() == Some(author)) else {
        let t = holders[0];
        return Err(BundleFailure::NotTheAuthorsKey {
            index,
            author: author.to_string(),
            key: t.label.clone(),
            bound: t.party.as_ref().map(ToString::to_string),
        }
        .into());
    };
    if let Kind::LedgerCreated { parties, .. } = &ev.body.kind {
        if parties.get(author) != Some(&t.key.to_bytes()) {
            return Err(BundleFailure::GenesisAuthor {
                author: author.to_string(),
            }
            .into());
        }
    }
    if !t.key.verify_strict(&ev.to_be_signed(), &ev.signature) {
        return Err(BundleFailure::BadSignature {
            index,
            key: t.label.clone(),
        }
        .into());
    }
    Ok(ProvenEvent {
        index,
        hash: ev.hash().to_string(),
        kind: ev.body.kind.name(),
        author: ev.body.author.to_string(),
        time: ev.body.time.to_string(),
        key: t.label.clone(),
        party: author.to_string(),
    })
}
