//! Where a published directory (FORMAT §16, C2SP tlog-tiles) is read
//! from: a local directory or its `http(s)://` URL (`base::http`'s
//! client), for `ledger monitor` and `ledger check-proof`.
//!
//! This module owns fetching one file by its tlog-tiles path, under a size
//! limit and a timeout, never following a redirect nor a link out of a
//! directory. It authenticates nothing: what it returns is hostile until
//! the caller has checked it against a trusted checkpoint.

use std::path::PathBuf;
use std::time::Duration;

use crate::base::files::{self, FileError};
use crate::base::http;
use crate::tlog::tiles::{StoreError, TileStore};

/// Why a fetch failed. Transport failures say nothing about the log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    #[error("{what}: not found")]
    NotFound { what: String },
    #[error("{what}: answered more than {limit} bytes (refused)")]
    TooLarge { what: String, limit: u64 },
    #[error("{what}: a redirect{to}: no redirect is followed (only the source named is read; give the final URL)")]
    Redirect { what: String, to: String },
    #[error("{what}: no complete answer within {secs} s (timeout)")]
    Timeout { what: String, secs: u64 },
    #[error("{what}: HTTP {status}")]
    Status { what: String, status: u16 },
    #[error("{what}: TLS: {reason}")]
    Tls { what: String, reason: String },
    #[error("{what}: {reason}")]
    Unreadable { what: String, reason: String },
}

/// Where a published directory is read from.
pub enum Source {
    /// A local directory: files read inside it only, no link followed.
    Dir(PathBuf),
    /// `http://HOST/PATH/` or `https://HOST/PATH/`: the directory's URL.
    Http { base: String, client: http::Client },
}

impl Source {
    /// `source` as a directory, or an `http://` or `https://` URL read
    /// with `timeout` for each whole exchange, a TLS server's certificate
    /// checked against `roots`, sending the User-Agent `product`.
    pub fn new(source: &str, timeout: Duration, roots: &http::Roots, product: &str) -> Source {
        if !http::is_url(source) {
            return Source::Dir(PathBuf::from(source));
        }
        Source::Http {
            base: format!("{}/", source.trim_end_matches('/')),
            client: http::Client::new(roots, timeout, product),
        }
    }

    /// What the source is, for messages.
    pub fn name(&self) -> String {
        match self {
            Source::Dir(d) => d.display().to_string(),
            Source::Http { base, .. } => base.clone(),
        }
    }

    /// The file `rel` (a path of the tlog-tiles layout), at most `limit`
    /// bytes.
    pub fn fetch(&self, rel: &str, limit: u64) -> Result<Vec<u8>, FetchError> {
        match self {
            Source::Dir(dir) => {
                let what = dir.join(rel).display().to_string();
                files::read_in(dir, rel, limit).map_err(|e| match e {
                    e if e.is_not_found() => FetchError::NotFound { what },
                    FileError::TooLarge { .. } => FetchError::TooLarge { what, limit },
                    e => FetchError::Unreadable {
                        what,
                        reason: e.to_string(),
                    },
                })
            }
            Source::Http { base, client } => {
                let what = format!("{base}{rel}");
                let failed = |e| fetch_error(&what, e, limit);
                let mut resp = client.get(&what).map_err(failed)?;
                let status = resp.status().as_u16();
                if (300..400).contains(&status) {
                    let to = http::redirect_target(&resp);
                    return Err(FetchError::Redirect { what, to });
                }
                if status == 404 {
                    return Err(FetchError::NotFound { what });
                }
                if status != 200 {
                    return Err(FetchError::Status { what, status });
                }
                client.body(&mut resp, limit).map_err(failed)
            }
        }
    }
}

fn fetch_error(what: &str, e: http::HttpError, limit: u64) -> FetchError {
    let what = what.to_owned();
    match e {
        http::HttpError::Timeout { secs } => FetchError::Timeout { what, secs },
        http::HttpError::TooLarge { .. } => FetchError::TooLarge { what, limit },
        http::HttpError::Tls { reason } => FetchError::Tls { what, reason },
        e => FetchError::Unreadable {
            what,
            reason: e.to_string(),
        },
    }
}

/// A source is a [`TileStore`]: [`crate::tlog::tiles::TileHashReader`]
/// reads its tiles through it.
impl TileStore for Source {
    fn read(&self, rel: &str, limit: u64) -> Result<Vec<u8>, StoreError> {
        match self {
            // The file's own error, so that its length and kind are kept.
            Source::Dir(dir) => files::read_in(dir, rel, limit).map_err(StoreError::File),
            Source::Http { .. } => self.fetch(rel, limit).map_err(|e| match e {
                FetchError::NotFound { .. } => StoreError::NotFound,
                // A 200 with more than any such file can be: the
                // publisher's answer, as an oversized file is a directory's.
                FetchError::TooLarge { limit, .. } => StoreError::TooLarge { limit },
                e => StoreError::Remote(Box::new(e)),
            }),
        }
    }

    fn locate(&self, rel: &str) -> PathBuf {
        match self {
            Source::Dir(dir) if rel.is_empty() => dir.clone(),
            Source::Dir(dir) => dir.join(rel),
            Source::Http { base, .. } => PathBuf::from(format!("{base}{rel}")),
        }
    }
}
