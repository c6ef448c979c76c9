//! The ledger's Merkle tree (FORMAT §12), built in memory from the log for
//! the read-only proofs: `prove`, `witness request`, `vkey --ledger`.
//!
//! It owns reading a ledger directory the way an auditor's copy must be
//! read: without a lock, without writing a byte (no `cache/`), so that it
//! works on a read-only mount and never waits for a writer. It must never
//! vouch for the events it indexes: it frames them and hashes their stored
//! bytes, nothing more. What makes its proofs sound is that each is checked
//! against a checkpoint's root before it is returned (a wrong index gives a
//! root that does not match, never a wrong proof), and a bundle is checked
//! again by whoever receives it.
//!
//! Memory: 32 bytes per stored hash (about two per event) and 8 per event
//! offset: about 72 MB at a million events (docs/PERFORMANCE.md).

use std::path::Path;

use crate::core::format::{Event, ReadError};
use crate::core::store::{Access, Store};
use crate::proofs::error::{CheckpointError, LedgerProblem, Request};
use crate::tlog::merkle::{self, Hash, HashReader, MerkleError};

/// FORMAT §13.1: a ledger's origin, the first line of its checkpoints and
/// the name of the keys that sign them (and so of its tree): stable, and
/// derived from the ledger id alone.
pub fn origin(ledger: &crate::core::format::LedgerId) -> String {
    format!("ledger/{ledger}")
}

/// The checkpoint origin (FORMAT §13.1) of the ledger in `dir`, from its
/// genesis alone, read like [`TreeIndex::read`] reads: no lock, no write.
pub fn origin_of(dir: &Path) -> Result<String, CheckpointError> {
    let store = Store::open(dir, Access::Read)?;
    match store.reader()?.next_event() {
        Ok(Some(item)) => Ok(origin(&item.event.body.ledger)),
        Ok(None) => Err(LedgerProblem::NoEvent {
            log: store.log_path().to_owned(),
            dir: dir.to_owned(),
        }
        .into()),
        Err(ReadError::Io(e)) => Err(crate::core::store::io(store.log_path())(e).into()),
        Err(ReadError::Format { error, .. }) => Err(LedgerProblem::GenesisUndecodable {
            dir: dir.to_owned(),
            source: error,
        }
        .into()),
    }
}

/// A ledger's tree, as of the log's last complete event when it was read.
pub struct TreeIndex {
    store: Store,
    origin: String,
    /// Every stored hash, by [`merkle::stored_hash_index`].
    hashes: Vec<Hash>,
    /// Each event's byte offset in the log, and the end of the last one.
    offsets: Vec<u64>,
    end: u64,
}

impl HashReader for TreeIndex {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        self.hashes.read_hashes(indexes)
    }
}

impl TreeIndex {
    /// Reads the log of the ledger in `dir` and indexes its tree.
    pub fn read(dir: &Path) -> Result<TreeIndex, CheckpointError> {
        let store = Store::open(dir, Access::Read)?;
        let mut hashes = Vec::new();
        let mut offsets = Vec::new();
        let mut failed: Option<MerkleError> = None;
        let end = crate::core::scan::each_frame(&store, |offset, bytes| {
            if failed.is_some() {
                return;
            }
            let n = offsets.len() as u64;
            offsets.push(offset);
            let leaf = merkle::leaf_hash(bytes);
            match merkle::stored_hashes(n, leaf, &hashes) {
                Ok(new) => hashes.extend(new),
                Err(e) => failed = Some(e),
            }
        })?;
        if let Some(e) = failed {
            return Err(Request::Merkle(e).into());
        }
        let Some(&first) = offsets.first() else {
            return Err(LedgerProblem::NoCompleteEvent {
                log: store.log_path().to_owned(),
                dir: dir.to_owned(),
            }
            .into());
        };
        let genesis_end = offsets.get(1).copied().unwrap_or(end);
        let genesis = store.read_at(first, genesis_end - first)?;
        let genesis =
            Event::decode(&genesis).map_err(|source| LedgerProblem::GenesisUndecodable {
                dir: dir.to_owned(),
                source,
            })?;
        Ok(TreeIndex {
            origin: origin(&genesis.body.ledger),
            store,
            hashes,
            offsets,
            end,
        })
    }

    /// The ledger's checkpoint origin (FORMAT §13.1).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// How many complete events the log held.
    pub fn size(&self) -> u64 {
        self.offsets.len() as u64
    }

    /// The root of the tree of the first `size` events.
    pub fn root_at(&self, size: u64) -> Result<Hash, CheckpointError> {
        if size > self.size() {
            return Err(LedgerProblem::BeyondLedger {
                size,
                count: self.size(),
            }
            .into());
        }
        Ok(merkle::tree_hash(size, self).map_err(Request::Merkle)?)
    }

    /// The stored bytes of event `index`.
    pub fn event_bytes(&self, index: u64) -> Result<Vec<u8>, CheckpointError> {
        let i = usize::try_from(index)
            .ok()
            .filter(|&i| i < self.offsets.len())
            .ok_or(Request::NoSuchEvent { index })?;
        let start = self.offsets[i];
        let end = self.offsets.get(i + 1).copied().unwrap_or(self.end);
        Ok(self.store.read_at(start, end - start)?)
    }
}
