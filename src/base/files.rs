//! Reading files that come from outside: a ledger someone sent, a
//! published directory, a proof bundle an auditor was handed. Everything
//! in them is hostile, so this module owns the one way they are opened:
//! regular files only, no symbolic link followed (neither the file nor a
//! directory on the way to it inside the directory named), no FIFO waited
//! on, and never more bytes read than a cap fixed before anything is
//! allocated (a sparse 8 GiB file or `/dev/zero` costs one `fstat`).
//!
//! It never writes, and it knows nothing of what the bytes mean: each
//! caller names its cap and turns [`FileError`] into its own error, with
//! the file's name.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Component, Path};

/// Why a file from outside was not read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The file, or a directory on the way to it, is a symbolic link.
    #[error("is a symbolic link (or lies behind one), not a file of its own")]
    Link,
    /// A relative path that would leave the directory (`..`, `/`).
    #[error("is not a path inside the directory")]
    Outside,
    /// Not a regular file: what it is instead.
    #[error("is {0}, not a regular file")]
    NotRegular(&'static str),
    /// Larger than the caller's cap.
    #[error("is {len} bytes or more, more than the {limit} bytes allowed")]
    TooLarge { len: u64, limit: u64 },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl FileError {
    /// Whether the file does not exist (a caller may have a fallback).
    pub fn is_not_found(&self) -> bool {
        matches!(self, FileError::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

/// Whether `p` itself is a symbolic link (it is not followed).
pub fn is_link(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink())
}

fn kind(t: std::fs::FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

/// Opens `path` for reading if it is a regular file: the last component
/// is not followed if a link (`O_NOFOLLOW`), a FIFO is not waited on
/// (`O_NONBLOCK`), and the type is checked on what was opened. Returns
/// the file and its length.
pub fn open_regular(path: &Path) -> Result<(File, u64), FileError> {
    open_with(path, rustix::fs::OFlags::NOFOLLOW)
}

/// [`open_regular`], but following a link: for a file the user named on
/// the command line, where a link is the user's own choice. A FIFO or a
/// device is still refused unread.
pub fn open_named(path: &Path) -> Result<(File, u64), FileError> {
    open_with(path, rustix::fs::OFlags::empty())
}

fn open_with(path: &Path, extra: rustix::fs::OFlags) -> Result<(File, u64), FileError> {
    let flags = extra | rustix::fs::OFlags::NONBLOCK;
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                FileError::Link
            } else {
                FileError::Io(e)
            }
        })?;
    let meta = f.metadata()?;
    if !meta.is_file() {
        return Err(FileError::NotRegular(kind(meta.file_type())));
    }
    Ok((f, meta.len()))
}

/// [`open_regular`] of `dir/rel`, also refusing a link in place of any
/// directory of `rel` on the way (`rel` is relative and has no `..`), so
/// that what is read lies inside `dir`.
pub fn open_in(dir: &Path, rel: &str) -> Result<(File, u64), FileError> {
    let rel = Path::new(rel);
    let mut at = dir.to_path_buf();
    let mut parts = rel.components().peekable();
    while let Some(c) = parts.next() {
        let Component::Normal(name) = c else {
            return Err(FileError::Outside);
        };
        at.push(name);
        if parts.peek().is_some() {
            match std::fs::symlink_metadata(&at) {
                Ok(m) if m.file_type().is_symlink() => return Err(FileError::Link),
                Ok(m) if !m.is_dir() => return Err(FileError::NotRegular(kind(m.file_type()))),
                Ok(_) => {}
                Err(e) => return Err(FileError::Io(e)),
            }
        }
    }
    open_regular(&at)
}

/// Reads an opened file of length `len` (from its `fstat`), refusing it
/// if it has more than `limit` bytes: by its length first, so that a
/// sparse file is never read, then by what is read, for a file that grows.
pub fn read_opened(f: File, len: u64, limit: u64) -> Result<Vec<u8>, FileError> {
    if len > limit {
        return Err(FileError::TooLarge { len, limit });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    f.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(FileError::TooLarge {
            len: bytes.len() as u64,
            limit,
        });
    }
    Ok(bytes)
}

/// Reads the regular file `path`, of at most `limit` bytes.
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    let (f, len) = open_regular(path)?;
    read_opened(f, len, limit)
}

/// Reads the file the user named, `path` (links followed, see
/// [`open_named`]), of at most `limit` bytes.
pub fn read_named(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    let (f, len) = open_named(path)?;
    read_opened(f, len, limit)
}

/// Reads the regular file `dir/rel`, inside `dir`, of at most `limit`
/// bytes.
pub fn read_in(dir: &Path, rel: &str, limit: u64) -> Result<Vec<u8>, FileError> {
    let (f, len) = open_in(dir, rel)?;
    read_opened(f, len, limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_files_links_and_large_files_are_refused_unread() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        std::fs::write(p.join("small"), b"abc").unwrap();
        assert_eq!(read_capped(&p.join("small"), 3).unwrap(), b"abc");
        assert!(matches!(
            read_capped(&p.join("small"), 2),
            Err(FileError::TooLarge { len: 3, limit: 2 })
        ));
        let big = File::create(p.join("sparse")).unwrap();
        big.set_len(8 << 30).unwrap();
        assert!(matches!(
            read_capped(&p.join("sparse"), 1 << 20),
            Err(FileError::TooLarge { .. })
        ));
        std::os::unix::fs::symlink("/dev/zero", p.join("zero")).unwrap();
        assert!(matches!(
            read_capped(&p.join("zero"), 10),
            Err(FileError::Link)
        ));
        assert!(matches!(
            read_capped(Path::new("/dev/zero"), 10),
            Err(FileError::NotRegular("a device"))
        ));
        std::fs::create_dir(p.join("sub")).unwrap();
        std::fs::write(p.join("sub/f"), b"x").unwrap();
        std::os::unix::fs::symlink(p.join("sub"), p.join("via")).unwrap();
        assert_eq!(read_in(p, "sub/f", 1).unwrap(), b"x");
        assert!(matches!(read_in(p, "via/f", 1), Err(FileError::Link)));
        assert!(matches!(read_in(p, "../x", 1), Err(FileError::Outside)));
        assert!(read_in(p, "missing", 1).unwrap_err().is_not_found());
        assert_eq!(read_named(&p.join("via/f"), 1).unwrap(), b"x");
        assert!(matches!(
            read_named(&p.join("zero"), 10),
            Err(FileError::NotRegular("a device"))
        ));
    }
}
