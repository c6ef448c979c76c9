//! The transparency-log layer: RFC 6962 Merkle trees and their proofs
//! ([`merkle`]), C2SP signed notes and checkpoints ([`note`]), tlog-tiles
//! ([`tiles`]), tlog-proof ([`proof`]) and a tlog-witness ([`witness`]). It knows nothing of
//! ledgers: a leaf is bytes, an origin is a string. It must never import
//! the ledger core or the proofs layer.

pub mod merkle;
pub mod note;
pub mod policy;
pub mod proof;
pub mod tiles;
pub mod witness;
