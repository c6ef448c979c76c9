//! The writer's cache key: a secret of this user's, kept outside every
//! ledger, with which the writer authenticates what it caches inside one
//! (docs/RELIABILITY.md, "The writer's cache").
//!
//! Whatever `DIR/cache/` holds (random bytes, another ledger's entries, an
//! old copy of one file, a plausible edit of one field), a writer must not
//! act on it unless this writer wrote it: an HMAC-SHA256 tag, under a key
//! that is not in the ledger directory, tells. This module owns the key
//! file (created at random, mode 0600, refused if others may read it) and
//! the tags (domain-separated, each part length-prefixed); it never
//! decides what a tag covers, which is the cache's business.

use std::fs;
use std::io::Read as _;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::base::durable;

/// The environment variable naming the key file instead of the default
/// (`$XDG_CACHE_HOME/ledger/cache-key`, else `$HOME/.cache/ledger/cache-key`).
pub const KEY_ENV: &str = "LEDGER_CACHE_KEY";
const KEY_LEN: usize = 32;
/// Every tag's domain starts with this, so that no tag is ever valid as
/// anything else keyed the same.
const DOMAIN: &[u8] = b"ledger cache v1\0";

/// Why there is no cache key: the writer then works without its cache
/// (correct, but every append replays the whole log).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyUnavailable {
    #[error("no place for the cache key: set {KEY_ENV}, XDG_CACHE_HOME or HOME")]
    NoPlace,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a {KEY_LEN}-byte cache key (remove it: a new one is made)")]
    Malformed { path: PathBuf },
    #[error("{path} belongs to another user (run as the user who owns it, or remove it: a new one is made)")]
    NotOurs { path: PathBuf },
    #[error("{path} may be read or written by others (mode {mode:o}); chmod 600 it")]
    Exposed { path: PathBuf, mode: u32 },
}

/// A loaded cache key. Only [`CacheKey::load`] and [`CacheKey::at`] make
/// one; it is zeroized when dropped and never printed.
pub struct CacheKey(Zeroizing<[u8; KEY_LEN]>);

impl std::fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CacheKey(..)")
    }
}

/// A tag: HMAC-SHA256 over the domain and the parts.
pub type Tag = [u8; 32];

impl CacheKey {
    /// This user's key, from [`KEY_ENV`] or the user's cache directory,
    /// made if there is none yet.
    pub fn load() -> Result<CacheKey, KeyUnavailable> {
        CacheKey::at(&default_path()?)
    }

    /// The key in `path`, made (durably, mode 0600) if there is none.
    pub fn at(path: &Path) -> Result<CacheKey, KeyUnavailable> {
        let io = |source| KeyUnavailable::Io {
            path: path.to_owned(),
            source,
        };
        match read_key(path) {
            Err(KeyUnavailable::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound => {}
            other => return other,
        }
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
        let dir = dir.unwrap_or(Path::new("."));
        // Private from the start: the directory holds nothing but the key.
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io)?;
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        match durable::write_new_private(dir, path, key.as_ref()) {
            Ok(()) => Ok(CacheKey(key)),
            // Another writer made it first: use theirs.
            Err(e) if e.source.kind() == std::io::ErrorKind::AlreadyExists => read_key(path),
            Err(e) => Err(io(e.source)),
        }
    }

    /// The tag of `parts` in `domain`.
    pub fn tag(&self, domain: &str, parts: &[&[u8]]) -> Tag {
        self.mac(domain, parts).finalize().into_bytes().into()
    }

    /// Whether `tag` is the tag of `parts` in `domain`, compared in
    /// constant time.
    pub fn check(&self, domain: &str, parts: &[&[u8]], tag: &[u8]) -> bool {
        self.mac(domain, parts).verify_slice(tag).is_ok()
    }

    fn mac(&self, domain: &str, parts: &[&[u8]]) -> Hmac<Sha256> {
        // A key of any length is accepted: this cannot fail.
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_ref())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        m.update(DOMAIN);
        for part in std::iter::once(domain.as_bytes()).chain(parts.iter().copied()) {
            m.update(&(part.len() as u64).to_be_bytes());
            m.update(part);
        }
        m
    }
}

fn default_path() -> Result<PathBuf, KeyUnavailable> {
    let non_empty = |v: &str| std::env::var_os(v).filter(|s| !s.is_empty());
    if let Some(p) = non_empty(KEY_ENV) {
        return Ok(PathBuf::from(p));
    }
    let base = match (non_empty("XDG_CACHE_HOME"), non_empty("HOME")) {
        (Some(x), _) => PathBuf::from(x),
        (None, Some(h)) => PathBuf::from(h).join(".cache"),
        (None, None) => return Err(KeyUnavailable::NoPlace),
    };
    Ok(base.join("ledger").join("cache-key"))
}

/// Reads an existing key file: a regular file of exactly 32 bytes, owned
/// by us, that no one else may read or write.
fn read_key(path: &Path) -> Result<CacheKey, KeyUnavailable> {
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| KeyUnavailable::Io {
        path: path.to_owned(),
        source,
    };
    // Not through a link, not waiting on a FIFO: the checks are made on
    // what was opened.
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let mut f = match fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            return Err(KeyUnavailable::Malformed {
                path: path.to_owned(),
            })
        }
        Err(e) => return Err(io(e)),
    };
    let meta = f.metadata().map_err(io)?;
    let mode = meta.permissions().mode() & 0o777;
    if !meta.is_file() || meta.len() != KEY_LEN as u64 {
        return Err(KeyUnavailable::Malformed {
            path: path.to_owned(),
        });
    }
    if meta.uid() != rustix::process::geteuid().as_raw() {
        return Err(KeyUnavailable::NotOurs {
            path: path.to_owned(),
        });
    }
    if mode & 0o077 != 0 {
        return Err(KeyUnavailable::Exposed {
            path: path.to_owned(),
            mode,
        });
    }
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    f.read_exact(key.as_mut()).map_err(io)?;
    Ok(CacheKey(key))
}
