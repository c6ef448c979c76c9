//! Writes that are durable before they are reported (docs/RELIABILITY.md).
//!
//! This module owns the order of the system calls: a new file is written
//! to a temporary file in the same directory, fsynced, linked or renamed
//! into place, and the directory fsynced, so that a crash leaves either the
//! old state or the new one and never a half-written file. It knows nothing
//! of what the bytes mean and never decides whether a write is allowed.

use std::fs::{self, File};
use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// An I/O failure on a named file or directory.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct IoError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// Names the path of an I/O failure: `.map_err(at(path))`.
pub fn at(path: &Path) -> impl FnOnce(io::Error) -> IoError + '_ {
    move |source| IoError {
        path: path.to_owned(),
        source,
    }
}

/// Makes the entries of `dir` (a file created, renamed or removed in it)
/// durable.
pub fn sync_dir(dir: &Path) -> Result<(), IoError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(at(dir))
}

/// Replaces (or creates) `path` in `dir` atomically and durably: temporary
/// file, fsync, rename over, fsync `dir`. For files that are rewritten as a
/// whole, like a checkpoint gaining a signature.
pub fn replace(dir: &Path, path: &Path, content: &[u8]) -> Result<(), IoError> {
    fs::create_dir_all(dir).map_err(at(dir))?;
    durably(dir, path, content, true, 0o644)
}

/// Writes a new file atomically and durably: temporary file in `dir`,
/// fsync, link into place without replacing anything (an existing file is
/// an `AlreadyExists` error), fsync `dir`.
pub fn write_new(dir: &Path, path: &Path, content: &[u8]) -> Result<(), IoError> {
    durably(dir, path, content, false, 0o644)
}

/// [`write_new`] for a secret: the file is mode 0600 from its creation on.
pub fn write_new_private(dir: &Path, path: &Path, content: &[u8]) -> Result<(), IoError> {
    durably(dir, path, content, false, 0o600)
}

fn durably(
    dir: &Path,
    path: &Path,
    content: &[u8],
    replace: bool,
    mode: u32,
) -> Result<(), IoError> {
    // Temporary files start with ".tmp-": what a crash leaves behind is
    // recognisable, and never mistaken for data.
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .map_err(at(dir))?;
    // Through the file itself: `NamedTempFile`'s own writes add the
    // temporary file's path to the error, and the path to name is `path`.
    tmp.as_file_mut().write_all(content).map_err(at(path))?;
    tmp.as_file().sync_all().map_err(at(path))?;
    let placed = if replace {
        tmp.persist(path).map(drop)
    } else {
        tmp.persist_noclobber(path).map(drop)
    };
    placed.map_err(|e| at(path)(e.error))?;
    sync_dir(dir)
}
