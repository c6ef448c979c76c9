//! A document's history (`ledger show`): every document that ever had a
//! given version, and every event about those documents, from one audit of
//! the whole ledger. Nothing here replays on its own: the events are the
//! audit's, described by [`crate::core::verify`].

use std::collections::BTreeSet;
use std::path::Path;

use serde::Serialize;

use crate::core::format::{DocHash, DocId, EventHash};
use crate::core::verify::{DocReport, Entry, VerifyError, Visit};
use crate::proofs::audit::{self, Options};

/// What the ledger records about one version of a document.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    /// The version asked about.
    pub sha256: DocHash,
    /// Whether any document ever had this version.
    pub found: bool,
    /// Each document that had it, as it stands now.
    pub documents: Vec<DocReport>,
    /// Every event about those documents, in log order.
    pub history: Vec<Entry>,
    /// The ledger's head when it was verified.
    pub head: EventHash,
    /// The number of events verified.
    #[serde(skip)]
    pub count: u64,
}

impl History {
    /// The events about document `id`.
    pub fn events_of<'a>(&'a self, id: &'a DocId) -> impl Iterator<Item = &'a Entry> + 'a {
        self.history
            .iter()
            .filter(move |e| e.document.as_ref() == Some(id))
    }
}

/// Audits the ledger in `dir` (as [`audit::verify`] does) and returns the
/// history of the document version `sha256`.
pub fn of_version(dir: &Path, options: &Options, sha256: DocHash) -> Result<History, VerifyError> {
    let mut entries = Vec::new();
    let r = audit::verify_with(dir, options, &mut |v: Visit<'_>| {
        let e = v.entry();
        if e.document.is_some() {
            entries.push(e);
        }
    })?;
    // Every document that ever had this exact version.
    let ids: BTreeSet<DocId> = entries
        .iter()
        .filter(|e| e.version == Some(sha256))
        .filter_map(|e| e.document.clone())
        .collect();
    let history = entries
        .into_iter()
        .filter(|e| e.document.as_ref().is_some_and(|d| ids.contains(d)))
        .collect();
    let documents = r
        .ledger
        .documents
        .into_iter()
        .filter(|d| ids.contains(&d.id))
        .collect();
    Ok(History {
        sha256,
        found: !ids.is_empty(),
        documents,
        history,
        head: r.ledger.head,
        count: r.ledger.count,
    })
}
