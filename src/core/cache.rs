//! The writer's cache in `DIR/cache/` (FORMAT §2): the replayed state's
//! head, its per-document and per-session entries, the Merkle tree's stored
//! hashes and the events' offsets.
//!
//! The cache is derived from the log and never trusted by `verify`; the
//! writer checks what it reads here against the log before relying on it.
//! This module owns the cache's files and their bytes; it never decides
//! whether a cached state is right (that is [`crate::core::writer`]'s job).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::core::replay::State;
use crate::core::store::{io, Stamp, Store, StoreError, CACHE_DIR};

const CACHE_FILE: &str = "state.json";
/// The cache's per-document and per-session entries (see [`Cache`]).
const ENTRIES_DIR: &str = "entries";
/// The file in [`ENTRIES_DIR`] naming the generation its entries belong to.
const GENERATION_FILE: &str = "generation";
const PENDING_FILE: &str = "pending";
/// The cache's Merkle tree: every subtree hash, in the stored-hash order of
/// [`crate::tlog::merkle::stored_hash_index`], 32 bytes each.
const TREE_FILE: &str = "tree";
/// The cache's index of events: the byte offset of each, as a big-endian
/// u64, so that a proof can quote event N without reading the log up to it.
const OFFSETS_FILE: &str = "offsets";

/// The head of the writer's cache: the replayed state after the first
/// `log_len` bytes, the last event of which starts at `head_offset` (FORMAT
/// §2: never trusted by verify; a writer checks it against the log before
/// use).
///
/// The state's documents and open sessions are not in this file but one
/// per file in `cache/entries/`, so that appending one event reads and
/// writes only the entries it touches, however long the ledger: the
/// `state` here has them removed. Entries are written after the log and
/// before this file; a changed log makes this file stale, so a crash
/// between the two is found and the cache rebuilt.
#[derive(Debug, Serialize, Deserialize)]
pub struct Cache {
    /// The log file's identity when the cache was written: any change to
    /// the file by anyone else (even one that keeps its length) changes it.
    pub stamp: Stamp,
    /// The same for the `docs/` directory: a document added or removed by
    /// anyone else sends the writer back to a full verification. (A file
    /// changed in place is not seen here; the documents an event names are
    /// re-hashed when it is appended, and `verify` checks them all.)
    pub docs: Option<Stamp>,
    /// The generation of `cache/entries/` this head belongs to.
    pub entries: String,
    /// Which entry buckets exist: a missing bucket that should be there
    /// makes the cache unusable rather than its entries absent.
    pub buckets: Buckets,
    pub log_len: u64,
    pub head_offset: u64,
    /// The Merkle frontier after `log_len` bytes (hex, see
    /// [`crate::tlog::merkle::Frontier`]).
    #[serde(default)]
    pub tree: Option<String>,
    /// Offsets of every key event (FORMAT §5.4 `key-*`) and membership
    /// event (`parties-*`), in log order, so that a writer can check the
    /// cached keys and parties against the log with a few small reads.
    #[serde(default)]
    pub key_events: Vec<u64>,
    pub state: State,
}

/// One bucket of cache entries, by id.
type Bucket = std::collections::BTreeMap<String, serde_json::Value>;

/// Which of the 4,096 entry buckets of each kind have been written: two
/// bitmaps, as hex in the cache's head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buckets {
    #[serde(with = "hex")]
    documents: Vec<u8>,
    #[serde(with = "hex")]
    sessions: Vec<u8>,
}

impl Default for Buckets {
    fn default() -> Self {
        Buckets {
            documents: vec![0; 512],
            sessions: vec![0; 512],
        }
    }
}

impl Buckets {
    fn map(&mut self, kind: EntryKind) -> &mut Vec<u8> {
        match kind {
            EntryKind::Document => &mut self.documents,
            EntryKind::Session => &mut self.sessions,
        }
    }

    fn get(&self, kind: EntryKind, bucket: u16) -> bool {
        let map = match kind {
            EntryKind::Document => &self.documents,
            EntryKind::Session => &self.sessions,
        };
        map.get(usize::from(bucket / 8))
            .is_some_and(|b| b & (1 << (bucket % 8)) != 0)
    }

    fn set(&mut self, kind: EntryKind, bucket: u16) {
        if let Some(b) = self.map(kind).get_mut(usize::from(bucket / 8)) {
            *b |= 1 << (bucket % 8);
        }
    }

    /// Whether both bitmaps have their full size (a head from elsewhere
    /// may not).
    pub fn is_well_formed(&self) -> bool {
        self.documents.len() == 512 && self.sessions.len() == 512
    }
}

/// Which kind of state a cache entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EntryKind {
    Document,
    Session,
}

impl EntryKind {
    fn dir(self) -> &'static str {
        match self {
            EntryKind::Document => "d",
            EntryKind::Session => "s",
        }
    }
}

/// The cache's files, as methods of the ledger directory they live in.
impl Store {
    /// Reads the writer's cache, if there is a readable one.
    pub(crate) fn load_cache(&self) -> Option<Cache> {
        let path = self.dir().join(CACHE_DIR).join(CACHE_FILE);
        let text = fs::read(path).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Replaces the writer's cache. Not fsynced: a lost or stale cache is
    /// detected and rebuilt from the log.
    pub(crate) fn save_cache(&self, cache: &Cache) -> Result<(), StoreError> {
        let dir = self.dir().join(CACHE_DIR);
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = dir.join(CACHE_FILE);
        let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(io(&dir))?;
        // Buffered: serde_json writes token by token, one syscall each.
        let mut w = std::io::BufWriter::with_capacity(1 << 16, &mut tmp);
        serde_json::to_writer(&mut w, cache).map_err(|e| io(&path)(e.into()))?;
        w.flush().map_err(io(&path))?;
        drop(w);
        tmp.persist(&path).map_err(|e| io(&path)(e.error))?;
        Ok(())
    }

    fn tree_path(&self) -> PathBuf {
        self.dir().join(CACHE_DIR).join(TREE_FILE)
    }

    fn offsets_path(&self) -> PathBuf {
        self.dir().join(CACHE_DIR).join(OFFSETS_FILE)
    }

    /// The cache's stored Merkle hashes and event offsets, to compute
    /// proofs from, if they hold exactly `hashes` hashes and `events`
    /// offsets.
    pub(crate) fn tree(&self, hashes: u64, events: u64) -> Option<TreeFile> {
        let open = |path: PathBuf, len: Option<u64>| {
            let file = File::open(path).ok()?;
            (Some(file.metadata().ok()?.len()) == len).then_some(file)
        };
        Some(TreeFile {
            hashes: open(self.tree_path(), hashes.checked_mul(32))?,
            offsets: open(self.offsets_path(), events.checked_mul(8))?,
            events,
        })
    }

    /// Appends one event's stored hashes and offset to the cache's tree,
    /// which must hold exactly `hashes` hashes and `events` offsets:
    /// otherwise it is stale and is left for a rebuild. Not fsynced: it is
    /// derived from the log, and checked before use.
    pub(crate) fn append_tree(
        &self,
        hashes: u64,
        events: u64,
        stored: &[crate::tlog::merkle::Hash],
        offset: u64,
    ) -> Result<(), StoreError> {
        let open = |path: PathBuf, len: Option<u64>| {
            let file = OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(io(&path))?;
            if Some(file.metadata().map_err(io(&path))?.len()) != len {
                return Err(io(&path)(std::io::Error::other("the tree cache is stale")));
            }
            Ok((file, path))
        };
        let (mut tree, tree_path) = open(self.tree_path(), hashes.checked_mul(32))?;
        let (mut offsets, offsets_path) = open(self.offsets_path(), events.checked_mul(8))?;
        tree.write_all(&stored.concat()).map_err(io(&tree_path))?;
        offsets
            .write_all(&offset.to_be_bytes())
            .map_err(io(&offsets_path))
    }

    /// Starts writing a new tree cache, which replaces the old one when
    /// `TreeBuilder::finish`ed.
    pub(crate) fn tree_builder(&self) -> Result<TreeBuilder, StoreError> {
        let dir = self.dir().join(CACHE_DIR);
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let tmp = || {
            tempfile::NamedTempFile::new_in(&dir)
                .map(|t| std::io::BufWriter::with_capacity(1 << 16, t))
                .map_err(io(&dir))
        };
        Ok(TreeBuilder {
            tree: (self.tree_path(), tmp()?),
            offsets: (self.offsets_path(), tmp()?),
            failed: None,
        })
    }

    /// Records, before writing, the log range an append is about to fill
    /// (`cache/pending`). A torn tail inside that range is provably this
    /// writer's own interrupted append; any other is left for `ledger
    /// repair`, since a damaged committed event looks the same. Not
    /// fsynced: after a power loss the marker may be gone, and then the
    /// tail needs `ledger repair`, which is safe, if less convenient.
    pub(crate) fn mark_pending(&self, start: u64, end: u64) -> Result<(), StoreError> {
        let dir = self.dir().join(CACHE_DIR);
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = dir.join(PENDING_FILE);
        fs::write(&path, format!("{start} {end}\n")).map_err(io(&path))
    }

    /// The range recorded by [`Store::mark_pending`], if any.
    pub(crate) fn pending(&self) -> Option<(u64, u64)> {
        let text = fs::read_to_string(self.dir().join(CACHE_DIR).join(PENDING_FILE)).ok()?;
        let (a, b) = text.trim().split_once(' ')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    }

    /// Clears the pending marker once its append is complete or removed.
    pub(crate) fn clear_pending(&self) {
        let _ = fs::remove_file(self.dir().join(CACHE_DIR).join(PENDING_FILE));
    }

    /// Removes the cache (after a torn tail or a failed rebuild).
    pub(crate) fn drop_cache(&self) {
        let _ = fs::remove_file(self.dir().join(CACHE_DIR).join(CACHE_FILE));
    }

    /// The bucket an entry lives in, and its file: entries are grouped by
    /// the first 12 bits of the SHA-256 of their id, so that there are at
    /// most 4,096 small files however many documents a ledger has, and an
    /// append rewrites one of them.
    fn bucket(&self, kind: EntryKind, id: &str) -> (u16, PathBuf) {
        let digest = Sha256::digest(id.as_bytes());
        let bucket = (u16::from(digest[0]) << 4) | u16::from(digest[1] >> 4);
        let path = self
            .dir()
            .join(CACHE_DIR)
            .join(ENTRIES_DIR)
            .join(kind.dir())
            .join(format!("{bucket:03x}"));
        (bucket, path)
    }

    fn read_bucket(path: &Path, expected: bool) -> Result<Option<Bucket>, StoreError> {
        match fs::read(path) {
            Ok(b) => Ok(serde_json::from_slice(&b).ok()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((!expected).then(Bucket::new)),
            Err(e) => Err(io(path)(e)),
        }
    }

    /// The generation of the cache's entries, if they are complete.
    pub(crate) fn entries_generation(&self) -> Option<String> {
        let path = self
            .dir()
            .join(CACHE_DIR)
            .join(ENTRIES_DIR)
            .join(GENERATION_FILE);
        fs::read_to_string(path).ok()
    }

    /// Reads one cache entry: `Ok(Some(None))` if there is none,
    /// `Ok(None)` if its bucket is unreadable.
    #[allow(clippy::option_option)]
    pub(crate) fn read_entry(
        &self,
        kind: EntryKind,
        id: &str,
        buckets: &Buckets,
    ) -> Result<Option<Option<serde_json::Value>>, StoreError> {
        let (bucket, path) = self.bucket(kind, id);
        Ok(Self::read_bucket(&path, buckets.get(kind, bucket))?.map(|mut b| b.remove(id)))
    }

    /// Writes (with `None`, removes) cache entries. Not fsynced, and not
    /// atomic: only ever done after the log has changed, which leaves the
    /// head stale until [`Store::save_cache`] writes a new one.
    pub(crate) fn write_entries(
        &self,
        kind: EntryKind,
        entries: impl IntoIterator<Item = (String, Option<serde_json::Value>)>,
        present: &mut Buckets,
    ) -> Result<(), StoreError> {
        let mut buckets: std::collections::BTreeMap<(u16, PathBuf), Vec<_>> = Default::default();
        for (id, value) in entries {
            buckets
                .entry(self.bucket(kind, &id))
                .or_default()
                .push((id, value));
        }
        for ((index, path), changes) in buckets {
            let mut bucket =
                Self::read_bucket(&path, present.get(kind, index))?.ok_or_else(|| {
                    io(&path)(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "unreadable cache bucket",
                    ))
                })?;
            for (id, value) in changes {
                match value {
                    Some(v) => bucket.insert(id, v),
                    None => bucket.remove(&id),
                };
            }
            let bytes = serde_json::to_vec(&bucket).map_err(|e| io(&path)(e.into()))?;
            fs::write(&path, bytes).map_err(io(&path))?;
            present.set(kind, index);
        }
        Ok(())
    }

    /// Replaces every cache entry by `entries`, under a new generation,
    /// which it returns with the buckets written. The head is removed first, since until a new one
    /// is written the entries match no head.
    pub(crate) fn reset_entries(
        &self,
        entries: impl IntoIterator<Item = (EntryKind, String, serde_json::Value)>,
    ) -> Result<(String, Buckets), StoreError> {
        self.drop_cache();
        let cache = self.dir().join(CACHE_DIR);
        let dir = cache.join(ENTRIES_DIR);
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&dir)(e)),
            _ => {}
        }
        for kind in [EntryKind::Document, EntryKind::Session] {
            let d = dir.join(kind.dir());
            fs::create_dir_all(&d).map_err(io(&d))?;
        }
        let mut buckets: std::collections::BTreeMap<(EntryKind, u16, PathBuf), Bucket> =
            Default::default();
        for (kind, id, value) in entries {
            let (index, path) = self.bucket(kind, &id);
            buckets
                .entry((kind, index, path))
                .or_default()
                .insert(id, value);
        }
        let mut present = Buckets::default();
        for ((kind, index, path), bucket) in buckets {
            let bytes = serde_json::to_vec(&bucket).map_err(|e| io(&path)(e.into()))?;
            fs::write(&path, bytes).map_err(io(&path))?;
            present.set(kind, index);
        }
        let mut g = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut g);
        let generation = hex::encode(g);
        let path = dir.join(GENERATION_FILE);
        fs::write(&path, &generation).map_err(io(&path))?;
        Ok((generation, present))
    }
}

/// A new tree cache being written ([`Store::tree_builder`]).
#[derive(Debug)]
pub struct TreeBuilder {
    tree: (PathBuf, std::io::BufWriter<tempfile::NamedTempFile>),
    offsets: (PathBuf, std::io::BufWriter<tempfile::NamedTempFile>),
    failed: Option<std::io::Error>,
}

impl TreeBuilder {
    /// Adds one event: its stored hashes and its offset in the log.
    pub fn push(&mut self, stored: &[crate::tlog::merkle::Hash], offset: u64) {
        if self.failed.is_none() {
            let r = stored
                .iter()
                .try_for_each(|h| self.tree.1.write_all(h))
                .and_then(|()| self.offsets.1.write_all(&offset.to_be_bytes()));
            self.failed = r.err();
        }
    }

    /// Puts the tree in place.
    pub fn finish(self) -> Result<(), StoreError> {
        if let Some(e) = self.failed {
            return Err(io(&self.tree.0)(e));
        }
        for (path, out) in [self.tree, self.offsets] {
            let tmp = out.into_inner().map_err(|e| io(&path)(e.into_error()))?;
            tmp.persist(&path).map_err(|e| io(&path)(e.error))?;
        }
        Ok(())
    }
}

/// The cache's stored Merkle hashes and event offsets ([`Store::tree`]),
/// read in place.
#[derive(Debug)]
pub struct TreeFile {
    hashes: File,
    offsets: File,
    events: u64,
}

impl TreeFile {
    /// The byte offset of event `index` in the log.
    pub fn offset(&self, index: u64) -> Option<u64> {
        let mut b = [0u8; 8];
        let at = index.checked_mul(8)?;
        (index < self.events)
            .then(|| self.offsets.read_exact_at(&mut b, at).ok())
            .flatten()
            .map(|()| u64::from_be_bytes(b))
    }
}

impl crate::tlog::merkle::HashReader for TreeFile {
    fn read_hashes(
        &self,
        indexes: &[u64],
    ) -> Result<Vec<crate::tlog::merkle::Hash>, crate::tlog::merkle::MerkleError> {
        indexes
            .iter()
            .map(|&index| {
                let mut h = [0u8; 32];
                index
                    .checked_mul(32)
                    .and_then(|at| self.hashes.read_exact_at(&mut h, at).ok())
                    .map(|()| h)
                    .ok_or(crate::tlog::merkle::MerkleError::MissingHash { index })
            })
            .collect()
    }
}
