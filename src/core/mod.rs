//! The ledger core: the bytes of an event ([`format`](mod@format)), the agreement's
//! state machine ([`replay`]), the ledger directory ([`store`]), the
//! streaming engine that frames, decodes, checks and replays a log
//! (`scan`), the auditor's verification ([`verify`]), the writer
//! ([`writer`]) and the files of air-gapped signing ([`request`]). It stands on the base and transparency-log layers and must
//! never import the proofs layer: checkpoints and witnesses are added on
//! top, in [`crate::proofs`]. What the core knows of them is the vocabulary
//! of a refuted ledger: [`verify::CheckpointProblem`] and
//! [`verify::WitnessFailure`], which the proofs layer finds and a
//! [`verify::Cause`] carries.

pub(crate) mod cache;
pub mod format;
pub mod replay;
pub mod request;
pub(crate) mod scan;
pub mod store;
pub mod trust;
pub mod verify;
pub mod writer;
