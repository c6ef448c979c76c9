//! Reading what the user names: files, times, key labels.

use std::path::Path;

use ledger::base::time::Timestamp;

use crate::error::Failure;

pub(crate) fn parse_time(at: Option<&str>) -> Result<Option<Timestamp>, Failure> {
    Ok(at.map(Timestamp::parse).transpose()?)
}

pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))
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
        .map_err(|e| Failure::usage(format!("cannot create {}: {e}", path.display())))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display())))
}
