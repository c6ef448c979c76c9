//! The binary's one error type, and the one table from errors to exit
//! codes (README, "Exit codes"): 0 ok, 1 refuted, 2 usage or I/O, 3 (only
//! `monitor --max-age`) a checkpoint too old. With
//! `--json`, a failure is also one JSON object on stdout ([`Failure::json`]).

use ledger::base::crypto::KeyError;
use ledger::core::format::FormatError;
use ledger::core::verify::VerifyError;
use ledger::core::writer::WriteError;
use ledger::proofs::error::CheckpointError;
use ledger::tlog::witness::WitnessError;

/// Why a command did not succeed.
pub(crate) enum Failure {
    /// Bad input or a refused request: the message says which.
    Usage(String),
    /// A file or stream that could not be read or written.
    Io(String),
    /// Evidence does not hold: a document never in the ledger, a proof or
    /// a checkpoint that does not check out.
    Refuted(String),
    Verify(VerifyError),
    Write(WriteError),
    Checkpoint(CheckpointError),
    /// A witness's refusal.
    Witness(WitnessError),
    /// `checkpoint --policy`: the checkpoint is stored, but its witnesses'
    /// cosignatures do not meet the policy's quorum. `report` is the
    /// command's JSON report, which `--json` prints with the failure.
    Unwitnessed {
        message: String,
        report: serde_json::Value,
    },
    /// `monitor --max-age`: nothing wrong found, but the checkpoint is
    /// older than allowed (exit 3).
    Stale(String),
    /// stdout was closed by its reader (`ledger log | head`): not an error.
    BrokenPipe,
}

impl Failure {
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Failure::Usage(message.into())
    }

    pub(crate) fn io(message: impl Into<String>) -> Self {
        Failure::Io(message.into())
    }

    pub(crate) fn refuted(message: impl Into<String>) -> Self {
        Failure::Refuted(message.into())
    }

    /// A failure to write stdout; a closed pipe is not one.
    pub(crate) fn stdout(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Failure::BrokenPipe
        } else {
            Failure::io(format!("cannot write to stdout: {e}"))
        }
    }

    /// The exit code: the README's table, decided here and nowhere else.
    pub(crate) fn exit_code(&self) -> u8 {
        const OK: u8 = 0;
        const REFUTED: u8 = 1;
        const USAGE: u8 = 2;
        const STALE: u8 = 3;
        match self {
            Failure::Stale(_) => STALE,
            Failure::BrokenPipe => OK,
            Failure::Refuted(_) | Failure::Unwitnessed { .. } => REFUTED,
            // `export --event N` past the end: a mistake in the request, not
            // evidence against the ledger.
            Failure::Verify(VerifyError::Failed(f))
                if matches!(f.cause, ledger::core::verify::Cause::NoSuchEvent { .. }) =>
            {
                USAGE
            }
            Failure::Verify(VerifyError::Failed(_)) => REFUTED,
            // Not self-contained: what verify proves would rest on files
            // outside the ledger.
            Failure::Verify(VerifyError::Store(
                ledger::core::store::StoreError::Link { .. }
                | ledger::core::store::StoreError::DanglingLink { .. },
            )) => REFUTED,
            Failure::Write(w) if w.is_refutation() => REFUTED,
            Failure::Checkpoint(CheckpointError::Write(w)) if w.is_refutation() => REFUTED,
            Failure::Checkpoint(CheckpointError::Refuted(_)) => REFUTED,
            Failure::Checkpoint(CheckpointError::Usage(_)) => USAGE,
            // 409/422: the log's view and the witness's disagree: evidence.
            Failure::Witness(w) if matches!(w.status(), 409 | 422) => REFUTED,
            _ => USAGE,
        }
    }

    /// What kind of failure, for `--json`: "verification" (exit 1), "io"
    /// (exit 2: a file or stream could not be read or written) or "usage"
    /// (exit 2: anything else the caller can fix in the request).
    pub(crate) fn kind(&self) -> &'static str {
        use ledger::core::store::StoreError;
        let store_io = |s: &StoreError| matches!(s, StoreError::Io { .. });
        if self.exit_code() == 1 {
            return "verification";
        }
        let io = match self {
            Failure::Io(_) => true,
            // A server that did not answer, or not in time: transport.
            Failure::Checkpoint(CheckpointError::Remote(_)) => true,
            Failure::Verify(VerifyError::Store(s))
            | Failure::Write(WriteError::Store(s))
            | Failure::Checkpoint(CheckpointError::Store(s))
            | Failure::Checkpoint(CheckpointError::Write(WriteError::Store(s))) => store_io(s),
            _ => false,
        };
        if io {
            "io"
        } else {
            "usage"
        }
    }

    /// The failure as the one JSON object `--json` prints on stdout:
    /// `ok`, `exit`, `kind` and `message` (the line stderr shows) always;
    /// `error`, an object whose `reason` is the cause, always, with the
    /// failing event's `event`, `offset`, `torn_tail` and `cause` when a
    /// ledger failed verification; `verified: false` on exit 1.
    pub(crate) fn json(&self) -> serde_json::Value {
        let message = self.message();
        let failure = match self {
            Failure::Verify(VerifyError::Failed(f)) => Some(f),
            Failure::Write(w) => w.failure(),
            Failure::Checkpoint(CheckpointError::Write(w)) => w.failure(),
            _ => None,
        };
        let error = match failure {
            Some(f) => serde_json::to_value(f).unwrap_or_default(),
            None => serde_json::json!({ "reason": message }),
        };
        let exit = self.exit_code();
        let mut v = serde_json::json!({
            "ok": false,
            "exit": exit,
            "kind": self.kind(),
            "message": message,
            "error": error,
        });
        if let (1, Some(m)) = (exit, v.as_object_mut()) {
            m.insert("verified".into(), false.into());
        }
        if let (Failure::Unwitnessed { report, .. }, Some(m)) = (self, v.as_object_mut()) {
            if let Some(r) = report.as_object() {
                for (k, val) in r {
                    m.entry(k.clone()).or_insert_with(|| val.clone());
                }
            }
        }
        v
    }

    /// The one line for stderr (without the program name).
    pub(crate) fn message(&self) -> String {
        match self {
            Failure::Usage(m) | Failure::Io(m) | Failure::Refuted(m) | Failure::Stale(m) => {
                m.clone()
            }
            Failure::Unwitnessed { message, .. } => message.clone(),
            Failure::Verify(e) => e.to_string(),
            Failure::Write(e) => e.to_string(),
            Failure::Checkpoint(e) => e.to_string(),
            Failure::Witness(e) => {
                format!("witness refused (tlog-witness status {}): {e}", e.status())
            }
            Failure::BrokenPipe => String::new(),
        }
    }
}

impl From<KeyError> for Failure {
    fn from(e: KeyError) -> Self {
        Failure::usage(e.to_string())
    }
}

impl From<FormatError> for Failure {
    fn from(e: FormatError) -> Self {
        Failure::usage(e.to_string())
    }
}

impl From<ledger::base::time::TimeError> for Failure {
    fn from(e: ledger::base::time::TimeError) -> Self {
        Failure::usage(format!("--at: {e}"))
    }
}

impl From<ledger::core::request::RequestError> for Failure {
    fn from(e: ledger::core::request::RequestError) -> Self {
        Failure::usage(e.to_string())
    }
}

impl From<WriteError> for Failure {
    fn from(e: WriteError) -> Self {
        Failure::Write(e)
    }
}

impl From<CheckpointError> for Failure {
    fn from(e: CheckpointError) -> Self {
        Failure::Checkpoint(e)
    }
}

impl From<VerifyError> for Failure {
    fn from(e: VerifyError) -> Self {
        Failure::Verify(e)
    }
}

impl From<WitnessError> for Failure {
    fn from(e: WitnessError) -> Self {
        Failure::Witness(e)
    }
}
