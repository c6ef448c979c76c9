//! The base layer: what every other layer stands on and that knows nothing
//! of logs or ledgers. Key files, signing and strict verification
//! ([`crypto`]), through an ssh-agent ([`agent`]) or a PKCS#11 token
//! ([`pkcs11`]), the timestamp profile ([`time`]), writes that are durable
//! before they are reported (`durable`), the one way a file from outside
//! is read ([`files`]: regular, no link followed, capped), the key the
//! writer authenticates its cache with ([`mac`]), and the one HTTP client,
//! with its TLS ([`http`]).

pub mod agent;
pub mod crypto;
pub(crate) mod durable;
pub mod files;
pub mod http;
pub mod mac;
pub mod pkcs11;
pub mod time;
pub mod tsp;
