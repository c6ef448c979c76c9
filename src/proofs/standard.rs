//! Standard proofs of an event (FORMAT §21): a C2SP `tlog-proof` (the
//! checkpoint with its cosignatures, the index and the inclusion hashes,
//! with the event's stored bytes as its `extra` data) and an RFC 9942 COSE
//! Receipt (the log key's COSE_Sign1 over the root, with the inclusion
//! proof in `vdp`). This module makes them from a ledger directory without
//! writing to it, through [`crate::proofs::bundle`]'s checked proofs, and
//! checks them with nothing but trusted keys, telling the formats apart by
//! their content. The bytes are [`crate::tlog::proof`]'s and
//! [`crate::proofs::receipt`]'s. It must never hand out a proof it has not
//! checked.
//!
//! The leaf both prove is the RFC 9162 leaf of the event's exact stored
//! bytes, `SHA-256(0x00 || stored)` (FORMAT §12.1): what a standard
//! verifier recomputes from those bytes, with no re-encoding.

use std::path::Path;

use crate::base::crypto::SigningKey;
use crate::core::format::Event;
use crate::core::trust::TrustedKey;
use crate::proofs::bundle::{self, Bundle, Proven};
use crate::proofs::checkpoint::origin;
use crate::proofs::error::{BundleFailure, CheckpointError, Request, StandardFailure};
use crate::proofs::receipt::Receipt;
use crate::tlog::note::{self, Checkpoint, Note, NoteVerifier, VerifierKind, WitnessPolicy};
use crate::tlog::proof::TlogProof;

/// The largest proof `check-proof` reads, of any format.
pub const MAX_PROOF_BYTES: usize = crate::tlog::proof::MAX_PROOF_BYTES;

/// `ledger prove DIR --event N --format tlog-proof`: the inclusion proof of
/// event `index` in `checkpoint` (default: the largest stored), as a C2SP
/// tlog-proof whose `extra` data is the event's stored bytes.
pub fn prove_tlog_proof(
    dir: &Path,
    index: u64,
    checkpoint: Option<Vec<u8>>,
) -> Result<Vec<u8>, CheckpointError> {
    let bundle::Included {
        index,
        event,
        proof,
        checkpoint,
    } = bundle::prove_included(dir, index, checkpoint)?;
    Ok(TlogProof {
        extra: Some(event),
        index,
        proof,
        checkpoint,
    }
    .encode())
}

/// `ledger prove DIR --event N --format cose-receipt --key K`: the COSE
/// Receipt of event `index` in the tree of `checkpoint` (default: the
/// largest stored), signed with `key`, which must have signed that
/// checkpoint: a receipt states the same tree head as the log's checkpoint.
pub fn prove_receipt(
    dir: &Path,
    index: u64,
    checkpoint: Option<Vec<u8>>,
    key: &SigningKey,
) -> Result<Vec<u8>, CheckpointError> {
    let bundle::Included {
        index,
        event,
        proof,
        checkpoint,
    } = bundle::prove_included(dir, index, checkpoint)?;
    let n = Note::parse(&checkpoint).map_err(Request::Malformed)?;
    let cp = Checkpoint::parse_text(n.text()).map_err(Request::Malformed)?;
    let signed = NoteVerifier::new(cp.origin(), VerifierKind::Ed25519, key.public())
        .ok()
        .and_then(|v| note::verify(&n, &[v]).ok())
        .is_some_and(|v| !v.is_empty());
    if !signed {
        return Err(Request::ReceiptKey { size: cp.size() }.into());
    }
    let ev = Event::decode(&event).map_err(BundleFailure::Event)?;
    let receipt = Receipt::sign(key, cp.origin(), cp.size(), index, &ev.leaf_hash(), proof)
        .map_err(crate::proofs::error::ProofFailure::Unchecked)?;
    Ok(receipt.encode())
}

/// `ledger check-proof PROOF [--entry EVENT]`: checks a proof bundle, a
/// tlog-proof or a COSE Receipt, told apart by content, with nothing but
/// trusted keys and, optionally, a witness policy. `entry` is the event's
/// stored bytes, which a receipt does not carry (a tlog-proof carries them
/// as its `extra` data; if both are given they must be the same bytes).
/// What an inclusion verdict does not check is
/// [`bundle::NOT_CHECKED_WITHOUT_THE_LOG`], whatever the format.
pub fn check_proof(
    bytes: &[u8],
    entry: Option<&[u8]>,
    trusted: &[TrustedKey],
    policy: Option<&WitnessPolicy>,
) -> Result<Proven, CheckpointError> {
    if TlogProof::is_tlog_proof(bytes) {
        let p = TlogProof::parse(bytes).map_err(Request::TlogProof)?;
        let event = match (p.extra, entry) {
            (Some(x), Some(e)) if x != e => return Err(StandardFailure::EntryDiffers.into()),
            (Some(x), _) => x,
            (None, Some(e)) => e.to_vec(),
            (None, None) => return Err(Request::NoEntry.into()),
        };
        let b = Bundle::Inclusion {
            index: p.index,
            event,
            proof: p.proof,
            checkpoint: p.checkpoint,
        };
        return bundle::check_decoded(b, trusted, policy);
    }
    if Receipt::is_receipt(bytes) {
        let r = Receipt::decode(bytes).map_err(Request::Receipt)?;
        let entry = entry.ok_or(Request::NoEntry)?;
        return check_receipt(&r, entry, trusted, policy);
    }
    if entry.is_some() {
        return Err(Request::EntryForBundle.into());
    }
    bundle::check_bundle(bytes, trusted, policy)
}

fn check_receipt(
    r: &Receipt,
    entry: &[u8],
    trusted: &[TrustedKey],
    policy: Option<&WitnessPolicy>,
) -> Result<Proven, CheckpointError> {
    let ev = Event::decode(entry).map_err(BundleFailure::Event)?;
    let origin = origin(&ev.body.ledger);
    if r.issuer != origin {
        return Err(StandardFailure::IssuerDiffers {
            issuer: r.issuer.clone(),
            origin,
        }
        .into());
    }
    let Some(log) = trusted.iter().find(|t| t.key.kid() == r.kid) else {
        return Err(StandardFailure::ReceiptUntrusted { kid: r.kid }.into());
    };
    bundle::check_index(r.index, &ev)?;
    let (index, size) = (r.index, r.size);
    let leaf = ev.leaf_hash();
    let root = r
        .root(&leaf)
        .map_err(|source| StandardFailure::ReceiptProof {
            index,
            size,
            source,
        })?;
    if !r.verify(&leaf, &log.key).unwrap_or(false) {
        return Err(StandardFailure::ReceiptSignature {
            index,
            size,
            key: log.label.clone(),
        }
        .into());
    }
    if policy.is_some() {
        return Err(StandardFailure::NoCosignatures.into());
    }
    let event = bundle::check_event(index, &ev, trusted)?;
    Ok(Proven {
        kind: "inclusion",
        origin,
        size,
        root: hex::encode(root),
        old_size: None,
        event: Some(event),
        signed_by: vec![log.label.clone()],
        cosigned_by: Vec::new(),
    })
}
