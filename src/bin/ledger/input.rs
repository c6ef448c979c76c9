//! Reading what the user names: files, times, key labels.

use std::path::Path;

use ledger::base::time::Timestamp;

use crate::error::*;

pub(crate) fn parse_time(at: Option<&str>) -> Result<Option<Timestamp>, Failure> {
    Ok(at.map(Timestamp::parse).transpose()?)
}

pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))
}

pub(crate) fn log_size(dir: &Path) -> u64 {
    std::fs::metadata(dir.join(ledger::core::store::LOG_FILE)).map_or(0, |m| m.len())
}
