//! The proofs layer: what an auditor holds beyond the log itself. Signed
//! checkpoints of the ledger's tree ([`checkpoint`]), proof bundles made
//! from an in-memory tree that never writes to the ledger ([`bundle`],
//! [`index`]), the standard proofs of an event (C2SP tlog-proof and RFC 9942
//! COSE Receipts, [`standard`], whose receipt bytes are [`receipt`]'s),
//! static publication as tlog-tiles ([`publish`]), read from a directory
//! or a URL ([`source`]), and its audit ([`published`]), a document's
//! history ([`history`]), and the whole-ledger audit that adds checkpoints, witnesses and timestamps to the core's
//! verification ([`audit`]), with what its time sources say ([`times`]).
//! Their errors, typed with their evidence, are [`error`]'s.

pub mod audit;
pub mod bundle;
pub mod checkpoint;
pub mod error;
pub mod history;
pub mod index;
pub mod monitor;
pub mod publish;
pub mod published;
pub mod receipt;
pub mod source;
pub mod standard;
pub mod times;
pub mod timestamp;
pub mod witnessing;
