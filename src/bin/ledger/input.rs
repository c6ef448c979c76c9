//! Reading what the user names: files, times, key labels.

use std::path::Path;

use ledger::base::time::Timestamp;

use crate::error::Failure;

/// `--at`, parsed, and refused if it is further ahead of this machine's
/// clock than [`ledger::base::time::FUTURE_ALLOWANCE_SECS`] unless
/// `--allow-future`: time never goes back in a ledger, so a typo in the
/// year would refuse every later append until then.
pub(crate) fn parse_time(
    at: Option<&str>,
    allow_future: bool,
) -> Result<Option<Timestamp>, Failure> {
    let Some(t) = at.map(Timestamp::parse).transpose()? else {
        return Ok(None);
    };
    let ahead = t.instant().0 - Timestamp::now().instant().0;
    if !allow_future && ahead > ledger::base::time::FUTURE_ALLOWANCE_SECS {
        return Err(Failure::usage(format!(
            "--at {t} is {} ahead of this machine's clock, more than the {} minutes allowed: time never goes back in a ledger, so every later append would have to claim a time after it; check the date, or add --allow-future if it is meant",
            human_duration(ahead),
            ledger::base::time::FUTURE_ALLOWANCE_SECS / 60
        )));
    }
    Ok(Some(t))
}

fn human_duration(secs: i64) -> String {
    match secs {
        s if s >= 2 * 86_400 => format!("{} days", s / 86_400),
        s if s >= 2 * 3600 => format!("{} hours", s / 3600),
        s => format!("{} minutes", s / 60),
    }
}

/// An argument the format refuses (an id, a hash): the flag and what is
/// wrong with the value, without the format's field name.
pub(crate) fn arg_error(flag: &str, e: ledger::core::format::FormatError) -> Failure {
    match e {
        ledger::core::format::FormatError::Invalid { reason, .. } => {
            Failure::usage(format!("{flag}: {reason}"))
        }
        other => Failure::usage(format!("{flag}: {other}")),
    }
}

/// Reads a file the user named as evidence to check (a proof bundle, a
/// witness request): a regular file (a link is followed, a FIFO or a
/// device refused unread), refused by its size before it is read if
/// larger than `limit`, the most `what` can be, so that an 8 GiB file
/// costs nothing.
pub(crate) fn read_input(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, Failure> {
    use ledger::base::files::{self, FileError};
    files::read_named(path, limit).map_err(|e| match e {
        FileError::Io(e) => Failure::io(format!("cannot read {}: {e}", path.display())),
        FileError::TooLarge { len, .. } => Failure::usage(format!(
            "{} is {len} bytes, more than the {} a file of {what} may have: it is not one",
            path.display(),
            human_bytes(limit)
        )),
        other => Failure::usage(format!(
            "{} {other}: give the file of {what} itself",
            path.display()
        )),
    })
}

fn human_bytes(n: u64) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}

pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::io(format!("cannot read {}: {e}", path.display())))
}

/// Reads a document version the user names: a regular file (a FIFO, a
/// device or a directory is refused before it is opened for reading, so
/// nothing blocks or runs forever) of at most
/// [`ledger::core::store::MAX_DOCUMENT_BYTES`].
pub(crate) fn read_document(path: &Path) -> Result<Vec<u8>, Failure> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    const MAX: u64 = ledger::core::store::MAX_DOCUMENT_BYTES;
    let cannot = |e: std::io::Error| Failure::io(format!("cannot read {}: {e}", path.display()));
    let not_regular = |t: std::fs::FileType| {
        let what = if t.is_dir() {
            "a directory"
        } else if t.is_fifo() {
            "a FIFO"
        } else if t.is_char_device() || t.is_block_device() {
            "a device"
        } else if t.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        Failure::usage(format!(
            "{} is {what}: a document must be a regular file",
            path.display()
        ))
    };
    let too_large = |len: u64| {
        Failure::usage(format!(
            "{} is {len} bytes, more than the {} MiB a document may have",
            path.display(),
            MAX >> 20
        ))
    };
    let meta = std::fs::metadata(path).map_err(cannot)?;
    if !meta.is_file() {
        return Err(not_regular(meta.file_type()));
    }
    if meta.len() > MAX {
        return Err(too_large(meta.len()));
    }
    // O_NONBLOCK: had the file been swapped for a FIFO since, opening it
    // does not wait for a writer; the check below then refuses it.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(cannot)?;
    let t = f.metadata().map_err(cannot)?.file_type();
    if !t.is_file() {
        return Err(not_regular(t));
    }
    let mut bytes = Vec::new();
    f.take(MAX + 1).read_to_end(&mut bytes).map_err(cannot)?;
    if bytes.len() as u64 > MAX {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

pub(crate) fn log_size(dir: &Path) -> u64 {
    std::fs::metadata(dir.join(ledger::core::store::LOG_FILE)).map_or(0, |m| m.len())
}

/// A file name without its extension, to name a key by.
pub(crate) fn key_label(path: &Path) -> String {
    path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}

/// RFC 3339 for POSIX seconds, for witnesses' timestamps.
pub(crate) fn unix_time(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(Timestamp::from_unix)
        .map_or_else(|| format!("{secs} s"), |t| t.to_string())
}

/// Writes a file that must not exist yet, durably.
pub(crate) fn write_new_file(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| {
            let m = format!("cannot create {}: {e}", path.display());
            match e.kind() {
                // Refusing to overwrite is about the request, not the disk.
                std::io::ErrorKind::AlreadyExists => Failure::usage(m),
                _ => Failure::io(m),
            }
        })?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| Failure::io(format!("cannot write {}: {e}", path.display())))
}
