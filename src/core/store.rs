//! The ledger directory (FORMAT §2): the log file, the document files, the
//! writer's cache, locking and durability.
//!
//! Nothing here interprets events; that is [`crate::core::replay`]'s job. What
//! this module guarantees is that bytes reported as written are on disk
//! (`fsync`), that a committed byte is never rewritten, and that only one
//! writer at a time holds the log.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::base::durable;
use crate::core::format::{DocHash, LogReader};
use crate::core::replay::{Documents, State};

/// The log file's name inside a ledger directory.
pub const LOG_FILE: &str = "events.cbor";
/// The document directory's name.
pub const DOCS_DIR: &str = "docs";
/// The writer's cache directory, never read by verify.
pub const CACHE_DIR: &str = "cache";
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
const GITIGNORE: &str = "# written by ledger: the cache is derived and never trusted\ncache/\n";

/// A failure to read or write the ledger directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("{dir} is not a ledger: it has no {LOG_FILE} (create one with `ledger init`)")]
    NotALedger { dir: PathBuf },
    #[error("{dir} already exists and is not empty; refusing to create a ledger there")]
    NotEmpty { dir: PathBuf },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} changed while locked: expected {expected} bytes, found {found}")]
    Changed {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// How a ledger is opened: readers share, one writer excludes all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// An open, locked ledger directory.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    log_path: PathBuf,
    /// Holds the `flock` for as long as the store lives.
    log: File,
    access: Access,
}

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

/// Length, inode, modification and change times of the log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub len: u64,
    pub ino: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
}

impl Stamp {
    fn of(m: &fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        let ns = |secs: i64, nsec: i64| i128::from(secs) * 1_000_000_000 + i128::from(nsec);
        Stamp {
            len: m.len(),
            ino: m.ino(),
            mtime_ns: ns(m.mtime(), m.mtime_nsec()),
            ctime_ns: ns(m.ctime(), m.ctime_nsec()),
        }
    }
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    Ok(durable::sync_dir(dir)?)
}

impl From<durable::IoError> for StoreError {
    fn from(e: durable::IoError) -> Self {
        StoreError::Io {
            path: e.path,
            source: e.source,
        }
    }
}

impl Store {
    /// Creates a ledger directory whose log is `genesis`, durably. `dir` may
    /// exist if it is empty. Two concurrent creators cannot both succeed.
    pub fn create(dir: &Path, genesis: &[u8]) -> Result<Store, StoreError> {
        match fs::read_dir(dir) {
            Ok(entries) => {
                // Empty, or holding only what an init that crashed before
                // writing the genesis leaves: an empty docs/ and temporary
                // files. Anything else is someone's data.
                let mut leftovers = Vec::new();
                for entry in entries {
                    let entry = entry.map_err(io(dir))?;
                    let name = entry.file_name();
                    let name = name.to_string_lossy();
                    let path = entry.path();
                    let empty_docs = name == DOCS_DIR
                        && fs::read_dir(&path).is_ok_and(|mut d| d.next().is_none());
                    if name.starts_with(".tmp-") && path.is_file() {
                        leftovers.push(path);
                    } else if !empty_docs {
                        return Err(StoreError::NotEmpty {
                            dir: dir.to_owned(),
                        });
                    }
                }
                // Leftover temporary files are left alone: one may belong to
                // an init racing this one, which must not lose it.
                drop(leftovers);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // The ancestors this creates, deepest last: each new entry
                // is made durable by syncing the directory that holds it.
                let mut created: Vec<&Path> = dir
                    .ancestors()
                    .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
                    .collect();
                created.reverse();
                fs::create_dir_all(dir).map_err(io(dir))?;
                for d in created {
                    // A relative one-component path has the empty path as
                    // its parent: that is the current directory.
                    match d.parent() {
                        Some(p) if !p.as_os_str().is_empty() => sync_dir(p)?,
                        _ => sync_dir(Path::new("."))?,
                    }
                }
            }
            Err(e) => return Err(io(dir)(e)),
        }
        let docs = dir.join(DOCS_DIR);
        fs::create_dir_all(&docs).map_err(io(&docs))?;
        let log_path = dir.join(LOG_FILE);
        write_durably(dir, &log_path, genesis)?;
        // After the genesis: a crash before this leaves a directory that
        // init accepts again, a crash after it a complete ledger.
        let ignore = dir.join(".gitignore");
        write_durably(dir, &ignore, GITIGNORE.as_bytes())?;
        Store::open(dir, Access::Write)
    }

    /// Opens a ledger directory and takes its lock (shared to read,
    /// exclusive to write), waiting for a writer that holds it.
    pub fn open(dir: &Path, access: Access) -> Result<Store, StoreError> {
        let log_path = dir.join(LOG_FILE);
        let mut opts = OpenOptions::new();
        opts.read(true);
        if access == Access::Write {
            opts.append(true);
        }
        let log = opts.open(&log_path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory => {
                StoreError::NotALedger {
                    dir: dir.to_owned(),
                }
            }
            _ => io(&log_path)(e),
        })?;
        if !log.metadata().map_err(io(&log_path))?.is_file() {
            return Err(StoreError::NotALedger {
                dir: dir.to_owned(),
            });
        }
        match access {
            Access::Read => log.lock_shared(),
            Access::Write => log.lock(),
        }
        .map_err(io(&log_path))?;
        Ok(Store {
            dir: dir.to_owned(),
            log_path,
            log,
            access,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The log's current length in bytes.
    pub fn log_len(&self) -> Result<u64, StoreError> {
        Ok(self.log.metadata().map_err(io(&self.log_path))?.len())
    }

    /// The log file's current [`Stamp`].
    pub fn stamp(&self) -> Result<Stamp, StoreError> {
        let m = self.log.metadata().map_err(io(&self.log_path))?;
        Ok(Stamp::of(&m))
    }

    /// The [`Stamp`] of the `docs/` directory, if it exists.
    pub fn docs_stamp(&self) -> Result<Option<Stamp>, StoreError> {
        let docs = self.dir.join(DOCS_DIR);
        match fs::metadata(&docs) {
            Ok(m) => Ok(Some(Stamp::of(&m))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(&docs)(e)),
        }
    }

    /// A streaming reader over the whole log, from offset 0.
    pub fn reader(&self) -> Result<LogReader<BufReader<File>>, StoreError> {
        let f = File::open(&self.log_path).map_err(io(&self.log_path))?;
        Ok(LogReader::new(BufReader::with_capacity(1 << 16, f)))
    }

    /// Reads `len` bytes of the log at `offset`.
    pub fn read_at(&self, offset: u64, len: u64) -> Result<Vec<u8>, StoreError> {
        let mut buf = vec![
            0u8;
            usize::try_from(len)
                .unwrap_or(usize::MAX)
                .min(crate::core::format::MAX_EVENT_BYTES)
        ];
        self.log
            .read_exact_at(&mut buf, offset)
            .map_err(io(&self.log_path))?;
        Ok(buf)
    }

    /// Appends one event's bytes at `expected_len` (the end of the last
    /// complete event) and makes them durable before returning. If the
    /// write fails part-way, the partial bytes are cut off again.
    pub fn append(&mut self, expected_len: u64, bytes: &[u8]) -> Result<(), StoreError> {
        debug_assert_eq!(self.access, Access::Write);
        let found = self.log_len()?;
        if found != expected_len {
            return Err(StoreError::Changed {
                path: self.log_path.clone(),
                expected: expected_len,
                found,
            });
        }
        let result = (&self.log)
            .write_all(bytes)
            .and_then(|()| self.log.sync_data());
        if let Err(e) = result {
            // Best effort: leave no torn tail behind. If this fails too, the
            // next writer finds and removes the torn tail.
            let _ = self
                .log
                .set_len(expected_len)
                .and_then(|()| self.log.sync_data());
            return Err(io(&self.log_path)(e));
        }
        Ok(())
    }

    /// Cuts the log back to `len` bytes: only ever used to remove a torn
    /// tail, bytes that never formed a committed event (FORMAT §3, §8).
    pub fn truncate_torn_tail(&mut self, len: u64) -> Result<(), StoreError> {
        debug_assert_eq!(self.access, Access::Write);
        self.log
            .set_len(len)
            .and_then(|()| self.log.sync_all())
            .map_err(io(&self.log_path))
    }

    /// Where the bytes of a document version live (FORMAT §7).
    pub fn doc_path(&self, hash: &DocHash) -> PathBuf {
        self.dir.join(DOCS_DIR).join(hash.to_hex())
    }

    /// Stores a document version durably, content-addressed. Storing the
    /// same bytes twice is a no-op.
    pub fn put_doc(&self, content: &[u8]) -> Result<DocHash, StoreError> {
        let hash = DocHash::of(content);
        if self.check(&hash).is_ok() {
            // Already there, perhaps left by an append that crashed before
            // making it durable: make sure it is, then use it.
            let path = self.doc_path(&hash);
            File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(io(&path))?;
            sync_dir(&self.dir.join(DOCS_DIR))?;
            return Ok(hash);
        }
        let docs = self.dir.join(DOCS_DIR);
        fs::create_dir_all(&docs).map_err(io(&docs))?;
        let path = self.doc_path(&hash);
        // A file already there with the wrong bytes is evidence, not ours
        // to overwrite: write_durably refuses to replace it.
        write_durably(&docs, &path, content)?;
        Ok(hash)
    }

    /// Stores many document versions, then makes them all durable with one
    /// `syncfs` of the ledger's file system instead of two `fsync`s each
    /// (`ledger import`). Versions already stored are left as they are.
    pub fn put_docs(&self, contents: impl IntoIterator<Item = Vec<u8>>) -> Result<(), StoreError> {
        use std::os::unix::fs::PermissionsExt;
        let docs = self.dir.join(DOCS_DIR);
        fs::create_dir_all(&docs).map_err(io(&docs))?;
        for content in contents {
            let hash = DocHash::of(&content);
            let path = self.doc_path(&hash);
            if self.check(&hash).is_ok() {
                continue;
            }
            let mut tmp = tempfile::Builder::new()
                .prefix(".tmp-")
                .permissions(fs::Permissions::from_mode(0o644))
                .tempfile_in(&docs)
                .map_err(io(&docs))?;
            tmp.write_all(&content).map_err(io(&path))?;
            // A file already there with other bytes is evidence, not ours
            // to overwrite.
            tmp.persist_noclobber(&path)
                .map_err(|e| io(&path)(e.error))?;
        }
        let dir = File::open(&docs).map_err(io(&docs))?;
        rustix::fs::syncfs(&dir).map_err(|e| io(&docs)(e.into()))
    }

    /// Reads the writer's cache, if there is a readable one.
    pub fn load_cache(&self) -> Option<Cache> {
        let path = self.dir.join(CACHE_DIR).join(CACHE_FILE);
        let text = fs::read(path).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Replaces the writer's cache. Not fsynced: a lost or stale cache is
    /// detected and rebuilt from the log.
    pub fn save_cache(&self, cache: &Cache) -> Result<(), StoreError> {
        let dir = self.dir.join(CACHE_DIR);
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
        self.dir.join(CACHE_DIR).join(TREE_FILE)
    }

    fn offsets_path(&self) -> PathBuf {
        self.dir.join(CACHE_DIR).join(OFFSETS_FILE)
    }

    /// The cache's stored Merkle hashes and event offsets, to compute
    /// proofs from, if they hold exactly `hashes` hashes and `events`
    /// offsets.
    pub fn tree(&self, hashes: u64, events: u64) -> Option<TreeFile> {
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
    pub fn append_tree(
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
    /// [`TreeBuilder::finish`]ed.
    pub fn tree_builder(&self) -> Result<TreeBuilder, StoreError> {
        let dir = self.dir.join(CACHE_DIR);
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
    pub fn mark_pending(&self, start: u64, end: u64) -> Result<(), StoreError> {
        let dir = self.dir.join(CACHE_DIR);
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = dir.join(PENDING_FILE);
        fs::write(&path, format!("{start} {end}\n")).map_err(io(&path))
    }

    /// The range recorded by [`Store::mark_pending`], if any.
    pub fn pending(&self) -> Option<(u64, u64)> {
        let text = fs::read_to_string(self.dir.join(CACHE_DIR).join(PENDING_FILE)).ok()?;
        let (a, b) = text.trim().split_once(' ')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    }

    /// Clears the pending marker once its append is complete or removed.
    pub fn clear_pending(&self) {
        let _ = fs::remove_file(self.dir.join(CACHE_DIR).join(PENDING_FILE));
    }

    /// Removes the cache (after a torn tail or a failed rebuild).
    pub fn drop_cache(&self) {
        let _ = fs::remove_file(self.dir.join(CACHE_DIR).join(CACHE_FILE));
    }

    /// The bucket an entry lives in, and its file: entries are grouped by
    /// the first 12 bits of the SHA-256 of their id, so that there are at
    /// most 4,096 small files however many documents a ledger has, and an
    /// append rewrites one of them.
    fn bucket(&self, kind: EntryKind, id: &str) -> (u16, PathBuf) {
        let digest = Sha256::digest(id.as_bytes());
        let bucket = (u16::from(digest[0]) << 4) | u16::from(digest[1] >> 4);
        let path = self
            .dir
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
    pub fn entries_generation(&self) -> Option<String> {
        let path = self
            .dir
            .join(CACHE_DIR)
            .join(ENTRIES_DIR)
            .join(GENERATION_FILE);
        fs::read_to_string(path).ok()
    }

    /// Reads one cache entry: `Ok(Some(None))` if there is none,
    /// `Ok(None)` if its bucket is unreadable.
    #[allow(clippy::option_option)]
    pub fn read_entry(
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
    pub fn write_entries(
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
    pub fn reset_entries(
        &self,
        entries: impl IntoIterator<Item = (EntryKind, String, serde_json::Value)>,
    ) -> Result<(String, Buckets), StoreError> {
        self.drop_cache();
        let cache = self.dir.join(CACHE_DIR);
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

impl Documents for Store {
    fn check(&self, hash: &DocHash) -> Result<(), String> {
        let path = self.doc_path(hash);
        let mut f = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!("{DOCS_DIR}/{} is missing", hash.to_hex()))
            }
            Err(e) => return Err(format!("{DOCS_DIR}/{}: {e}", hash.to_hex())),
        };
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => hasher.update(&buf[..n]),
                Err(e) => return Err(format!("{DOCS_DIR}/{}: {e}", hash.to_hex())),
            }
        }
        let found = DocHash(hasher.finalize().into());
        if found != *hash {
            return Err(format!(
                "the bytes of {DOCS_DIR}/{} hash to {found}",
                hash.to_hex()
            ));
        }
        Ok(())
    }
}

/// Replaces (or creates) `path` in `dir` atomically and durably
/// ([`durable::replace`]).
pub fn replace_durably(dir: &Path, path: &Path, content: &[u8]) -> Result<(), StoreError> {
    Ok(durable::replace(dir, path, content)?)
}

fn write_durably(dir: &Path, path: &Path, content: &[u8]) -> Result<(), StoreError> {
    Ok(durable::write_new(dir, path, content)?)
}
