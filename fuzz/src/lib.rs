//! Shared pieces of the fuzz targets: the independent canonical-CBOR
//! oracle, the FORMAT §10 vectors and keys, a bounded-allocation tracker,
//! and the cross-checks the targets make (`oracle`).
//!
//! History: until commit 21f99f2 the targets had to skip inputs with more
//! than 10 map keys nested inside one another, because decoding them took
//! time exponential in the nesting (found by `decode_event` in about three
//! minutes; see docs/fuzzing-figures.md and tests/fuzz_regressions.rs).
//! FORMAT §4 now allows only integer and text keys, and nothing is skipped.

pub mod alloc;
pub mod canonical;
pub mod oracle;
pub mod vectors;
