//! `ledger`: a tamper-evident, signed, replayable record of how an agreement
//! came to be.
//!
//! The modules mirror the architecture:
//!
//! - [`format`]: the bytes on disk, encoded and decoded in one place
//!   (docs/FORMAT.md is the spec; the code cites its sections);
//! - [`time`]: the timestamp profile of FORMAT §5.5;
//! - [`crypto`]: key files, signing, strict verification;
//! - [`store`]: the ledger directory, locking and durability;
//! - [`replay`]: the state machine of the agreement (FORMAT §6);
//! - [`verify`]: the auditor's report;
//! - [`writer`]: creating a ledger and appending events to it;
//! - [`merkle`]: the RFC 6962 Merkle tree over the log's events, its proofs;
//! - [`tiles`]: static publication of that tree as C2SP tlog-tiles.
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
pub mod tlog;
