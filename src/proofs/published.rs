//! Auditing a published directory (`ledger publish`, C2SP tlog-tiles) like
//! a ledger: its checkpoint and entry bundles are unpacked into a temporary
//! ledger directory, every tile checked against them, and the result
//! audited as any other ledger. The published directory is only read.

use std::path::{Path, PathBuf};

use crate::core::store::StoreError;
use crate::proofs::error::CheckpointError;
use crate::proofs::publish;

/// A directory to audit: a ledger as it is, or a published directory
/// unpacked into a temporary ledger that lives as long as this value.
pub struct AuditDir {
    path: PathBuf,
    /// Where its documents are, if not in `path`'s `docs/`.
    docs: Option<PathBuf>,
    /// The events unpacked, for a published directory.
    published: Option<u64>,
    _unpacked: Option<tempfile::TempDir>,
}

impl AuditDir {
    /// `dir` itself if it is a ledger; if it is a published directory, the
    /// ledger its entry bundles and checkpoint make up, once its tiles are
    /// checked against them.
    pub fn open(dir: &Path) -> Result<AuditDir, CheckpointError> {
        if !publish::is_published(dir) {
            return Ok(AuditDir {
                path: dir.to_owned(),
                docs: None,
                published: None,
                _unpacked: None,
            });
        }
        let unpacked = tempfile::tempdir().map_err(|source| {
            CheckpointError::Store(StoreError::Io {
                path: std::env::temp_dir(),
                source,
            })
        })?;
        let docs = dir.join(crate::core::store::DOCS_DIR);
        if crate::base::files::is_link(&docs) {
            return Err(CheckpointError::Store(StoreError::Link { path: docs }));
        }
        let size = publish::unpack(dir, unpacked.path())?;
        Ok(AuditDir {
            path: unpacked.path().to_owned(),
            docs: Some(docs),
            published: Some(size),
            _unpacked: Some(unpacked),
        })
    }

    /// The ledger directory to audit.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the documents are, if not in [`AuditDir::path`]'s `docs/`:
    /// give it to the audit as [`crate::proofs::audit::Options::docs`].
    pub fn docs(&self) -> Option<&Path> {
        self.docs.as_deref()
    }

    /// For a published directory, the number of events it publishes.
    pub fn published(&self) -> Option<u64> {
        self.published
    }
}
