//! The binary's one error type and its exit codes.

use std::path::Path;

use ledger::base::crypto::KeyError;
use ledger::base::time::Timestamp;
use ledger::core::verify::VerifyError;
use ledger::core::writer::WriteError;
use ledger::proofs::checkpoint;

/// A failed command: its exit code and one line for stderr.
pub(crate) struct Failure {
    pub(crate) code: u8,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: 2,
            message: message.into(),
        }
    }
}

impl From<KeyError> for Failure {
    fn from(e: KeyError) -> Self {
        Failure::usage(e.to_string())
    }
}

impl From<ledger::core::format::FormatError> for Failure {
    fn from(e: ledger::core::format::FormatError) -> Self {
        Failure::usage(e.to_string())
    }
}

impl From<ledger::base::time::TimeError> for Failure {
    fn from(e: ledger::base::time::TimeError) -> Self {
        Failure::usage(format!("--at: {e}"))
    }
}

impl From<WriteError> for Failure {
    fn from(e: WriteError) -> Self {
        let code = match e.failure() {
            Some(_) => 1,
            None => 2,
        };
        Failure {
            code,
            message: e.to_string(),
        }
    }
}

impl From<checkpoint::CheckpointError> for Failure {
    fn from(e: checkpoint::CheckpointError) -> Self {
        match e {
            checkpoint::CheckpointError::Write(w) => w.into(),
            checkpoint::CheckpointError::Refuted(m) => Failure {
                code: 1,
                message: m,
            },
            other => Failure::usage(other.to_string()),
        }
    }
}

/// A witness's refusal, with the tlog-witness status it stands for.
pub(crate) fn witness_failure(e: &ledger::tlog::witness::WitnessError) -> Failure {
    let status = e.status();
    // 409/422 mean the log's view and the witness's disagree: evidence.
    let code = if matches!(status, 409 | 422) { 1 } else { 2 };
    Failure {
        code,
        message: format!("witness refused (tlog-witness status {status}): {e}"),
    }
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

impl From<VerifyError> for Failure {
    fn from(e: VerifyError) -> Self {
        let code = match e {
            VerifyError::Failed(_) => 1,
            _ => 2,
        };
        Failure {
            code,
            message: e.to_string(),
        }
    }
}
