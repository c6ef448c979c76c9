//! `ledger`: a tamper-evident, signed, replayable record of how an agreement
//! came to be. docs/FORMAT.md is the contract: every event, rule and proof
//! the library checks is specified there, and the code cites its sections.
//!
//! The layers, lowest first; none imports a higher one (scripts/check-layers
//! checks it in CI):
//!
//! - [`base`]: keys and strict signature checks, the timestamp profile,
//!   durable file writes;
//! - [`tlog`]: a transparency log that knows nothing of ledgers: the
//!   RFC 6962 Merkle tree, signed notes, tiles and the witness;
//! - [`core`]: the ledger itself: the bytes of an event, the agreement's
//!   state machine, the ledger directory, the verifier and the writer;
//! - [`proofs`]: checkpoints, proof bundles, publication, and the
//!   whole-ledger audit that `ledger verify` runs;
//! - [`report`]: that audit's result drawn for people, as an HTML page or
//!   a PDF (`ledger report`).
//!
//! The entry points most programs need are re-exported here: [`verify`]
//! with its [`Options`] and [`Report`] to audit a ledger, [`init`] and
//! [`Writer`] to write one, and [`Event::sign`], the one way to sign an
//! event.
//!
//! # Verifying a ledger
//!
//! An auditor's program needs only the ledger directory (and, to pin the
//! parties, their public keys in [`Options::trust`]). This verifies the
//! sample shipped in the repository and prints its documents:
//!
//! ```
//! use ledger::core::verify::terminal_safe;
//!
//! let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/ledger"));
//! let report = ledger::verify(dir, &ledger::Options::default())?;
//! let ledger = &report.ledger;
//! println!("{}: {} events, head {}", terminal_safe(&ledger.title), ledger.count, ledger.head);
//! for doc in &ledger.documents {
//!     // Titles are signed, but chosen by a party: never print them raw.
//!     println!(
//!         "{} \"{}\", version {}: {}",
//!         doc.id,
//!         terminal_safe(&doc.title),
//!         doc.version_number,
//!         doc.status
//!     );
//! }
//! assert!(!ledger.documents.is_empty());
//! # Ok::<(), ledger::VerifyError>(())
//! ```
//!
//! A refuted ledger is `Err(VerifyError::Failed(failure))`, where the
//! [`Failure`] names the first event that fails, its byte offset and why.
#![forbid(unsafe_code)]

/// Serde support through a type's canonical string form, for the writer's
/// cache and `--json` output.
macro_rules! serde_via_str {
    ($name:ty, $show:expr, $parse:expr) => {
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                #[allow(clippy::redundant_closure_call)]
                s.serialize_str(&($show)(self))
            }
        }
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as serde::Deserialize>::deserialize(d)?;
                #[allow(clippy::redundant_closure_call)]
                ($parse)(s.as_str()).map_err(serde::de::Error::custom)
            }
        }
    };
}

pub mod base;
pub mod core;
pub mod proofs;
pub mod report;
pub mod tlog;

pub use crate::base::crypto::{PublicKey, SigningKey};
pub use crate::core::format::{Body, Event, SignError};
pub use crate::core::scan::{Failure, VerifyError};
pub use crate::core::writer::{init, WriteError, Writer};
pub use crate::proofs::audit::{verify, Options, Report};
