//! The writer's cache in `DIR/cache/` (FORMAT §2): the replayed state's
//! head, its per-document and per-session entries, the Merkle tree's stored
//! hashes and the events' offsets.
//!
//! The cache is derived from the log and never trusted by `verify`. Every
//! file the writer acts on (the head, each entry bucket, the pending
//! marker) carries an HMAC-SHA256 tag under this user's cache key
//! ([`crate::base::mac`]), kept outside the ledger, over its exact bytes and
//! what it belongs to (the entries' generation, the bucket, the version the
//! head expects it at): a file this writer did not write, or an old copy of
//! one, is never read as the cache, and costs a rebuild from the log. The
//! writer also checks the head against the log before relying on it. This
//! module owns the cache's files, their bytes and their tags; it never
//! decides whether a cached state is right (that is
//! [`crate::core::writer`]'s job).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::base::mac::CacheKey;
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
    /// The version at which each entry bucket was last written (0: never):
    /// a bucket is only read at the version named here, so that neither a
    /// missing bucket nor an old copy of one is taken for the current one.
    pub buckets: Buckets,
    /// How many times entries were written in this generation: the next
    /// write's version.
    #[serde(default)]
    pub writes: u64,
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

/// The version at which each of the 4,096 entry buckets of each kind was
/// last written, 0 for never.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buckets {
    documents: Vec<u64>,
    sessions: Vec<u64>,
}

const BUCKETS: usize = 4096;

impl Default for Buckets {
    fn default() -> Self {
        Buckets {
            documents: vec![0; BUCKETS],
            sessions: vec![0; BUCKETS],
        }
    }
}

impl Buckets {
    fn map(&mut self, kind: EntryKind) -> &mut Vec<u64> {
        match kind {
            EntryKind::Document => &mut self.documents,
            EntryKind::Session => &mut self.sessions,
        }
    }

    /// The version bucket `bucket` must be read at (0: it must not exist).
    fn get(&self, kind: EntryKind, bucket: u16) -> u64 {
        let map = match kind {
            EntryKind::Document => &self.documents,
            EntryKind::Session => &self.sessions,
        };
        map.get(usize::from(bucket)).copied().unwrap_or(0)
    }

    fn set(&mut self, kind: EntryKind, bucket: u16, version: u64) {
        if let Some(v) = self.map(kind).get_mut(usize::from(bucket)) {
            *v = version;
        }
    }

    /// Whether both tables have their full size (a head from elsewhere
    /// may not).
    pub fn is_well_formed(&self) -> bool {
        self.documents.len() == BUCKETS && self.sessions.len() == BUCKETS
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
    /// Reads the writer's cache, if there is one that this user's writer
    /// wrote (its tag checks under `key`).
    pub(crate) fn load_cache(&self, key: &CacheKey) -> Option<Cache> {
        let path = self.dir().join(CACHE_DIR).join(CACHE_FILE);
        let bytes = read_capped(&path, MAX_HEAD_BYTES).ok()??;
        let json = untag(key, "head", &[], &bytes)?;
        serde_json::from_slice(json).ok()
    }

    /// Writes the writer's cache head ([`overwrite_file`]). Not fsynced: a
    /// lost, torn or stale head is detected and rebuilt from the log.
    pub(crate) fn save_cache(&self, key: &CacheKey, cache: &Cache) -> Result<(), StoreError> {
        let dir = self.dir().join(CACHE_DIR);
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = dir.join(CACHE_FILE);
        let json = serde_json::to_vec(cache).map_err(|e| io(&path)(e.into()))?;
        overwrite_file(&dir, &path, &tagged(key, "head", &[], &json))
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
            let file = open_plain(&path, false).ok()?;
            let meta = file.metadata().ok()?;
            (meta.is_file() && Some(meta.len()) == len).then_some(file)
        };
        Some(TreeFile {
            hashes: open(self.tree_path(), hashes.checked_mul(32))?,
            offsets: open(self.offsets_path(), events.checked_mul(8))?,
            events,
        })
    }

    /// Appends events' stored hashes (`stored`, every event's in order)
    /// and offsets to the cache's tree, which must hold exactly `hashes`
    /// hashes and `events` offsets: otherwise it is stale and is left for
    /// a rebuild. Not fsynced: it is derived from the log, and checked
    /// before use. One open and one write per file for all the events (an
    /// import's group), not one per event.
    pub(crate) fn append_tree_many(
        &self,
        hashes: u64,
        events: u64,
        stored: &[crate::tlog::merkle::Hash],
        offsets: &[u64],
    ) -> Result<(), StoreError> {
        let open = |path: PathBuf, len: Option<u64>| {
            let file = open_plain(&path, true).map_err(io(&path))?;
            let meta = file.metadata().map_err(io(&path))?;
            if !meta.is_file() || Some(meta.len()) != len {
                return Err(io(&path)(std::io::Error::other("the tree cache is stale")));
            }
            Ok((file, path))
        };
        let (mut tree, tree_path) = open(self.tree_path(), hashes.checked_mul(32))?;
        let (mut file, offsets_path) = open(self.offsets_path(), events.checked_mul(8))?;
        tree.write_all(&stored.concat()).map_err(io(&tree_path))?;
        let bytes: Vec<u8> = offsets.iter().flat_map(|o| o.to_be_bytes()).collect();
        file.write_all(&bytes).map_err(io(&offsets_path))
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
    pub(crate) fn mark_pending(
        &self,
        key: &CacheKey,
        start: u64,
        end: u64,
    ) -> Result<(), StoreError> {
        let dir = self.dir().join(CACHE_DIR);
        fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = dir.join(PENDING_FILE);
        let text = format!("{start} {end}");
        let log = self.log_identity()?;
        overwrite_file(
            &dir,
            &path,
            &tagged(key, "pending", &[log], text.as_bytes()),
        )
    }

    /// What binds a pending marker to this ledger's log: its device and
    /// inode, so that a marker copied from another ledger never checks.
    fn log_identity(&self) -> Result<Vec<u8>, StoreError> {
        use std::os::unix::fs::MetadataExt;
        let m = fs::metadata(self.log_path()).map_err(io(self.log_path()))?;
        Ok([m.dev().to_be_bytes(), m.ino().to_be_bytes()].concat())
    }

    /// The range recorded by [`Store::mark_pending`], if this user's
    /// writer recorded it.
    pub(crate) fn pending(&self, key: &CacheKey) -> Option<(u64, u64)> {
        let path = self.dir().join(CACHE_DIR).join(PENDING_FILE);
        let bytes = read_capped(&path, 256).ok()??;
        let log = self.log_identity().ok()?;
        let text = std::str::from_utf8(untag(key, "pending", &[log], &bytes)?).ok()?;
        let (a, b) = text.split_once(' ')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    }

    /// Clears the pending marker once its append is complete or removed:
    /// emptied in place (an empty file is no marker: it has no tag), or
    /// removed if it cannot be, so that it never outlives its append.
    pub(crate) fn clear_pending(&self) {
        let path = self.dir().join(CACHE_DIR).join(PENDING_FILE);
        match own_file(&path) {
            Ok(Some(f)) if f.set_len(0).is_ok() => {}
            _ => {
                let _ = fs::remove_file(&path);
            }
        }
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

    /// Reads the bucket at `path`, which must be at `version` of
    /// `generation` (0: must not exist, and reads as empty). `Ok(None)`: it
    /// is not what the head expects (missing, unreadable, or its tag does
    /// not check), and the cache cannot be used.
    fn read_bucket(
        key: &CacheKey,
        path: &Path,
        at: BucketAt<'_>,
    ) -> Result<Option<Bucket>, StoreError> {
        let bytes = match read_capped(path, MAX_BUCKET_BYTES) {
            Ok(Some(b)) => b,
            Ok(None) => return Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok((at.version == 0).then(Bucket::new))
            }
            Err(e) => return Err(io(path)(e)),
        };
        if at.version == 0 {
            return Ok(None);
        }
        Ok(untag(key, "entries", &at.parts(), &bytes).and_then(|j| serde_json::from_slice(j).ok()))
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

    /// Reads one cache entry of `generation`: `Ok(Some(None))` if there is
    /// none, `Ok(None)` if its bucket is not what the head expects.
    #[allow(clippy::option_option)]
    pub(crate) fn read_entry(
        &self,
        key: &CacheKey,
        generation: &str,
        kind: EntryKind,
        id: &str,
        buckets: &Buckets,
    ) -> Result<Option<Option<serde_json::Value>>, StoreError> {
        let (bucket, path) = self.bucket(kind, id);
        let at = BucketAt {
            generation,
            kind,
            bucket,
            version: buckets.get(kind, bucket),
        };
        Ok(Self::read_bucket(key, &path, at)?.map(|mut b| b.remove(id)))
    }

    /// Writes (with `None`, removes) cache entries of `generation`, each
    /// bucket written at `version`, which `present` then names. Not
    /// fsynced, and not atomic: only ever done after the log has changed,
    /// which leaves the head stale until [`Store::save_cache`] writes a new
    /// one.
    pub(crate) fn write_entries(
        &self,
        key: &CacheKey,
        generation: &str,
        version: u64,
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
            let old = BucketAt {
                generation,
                kind,
                bucket: index,
                version: present.get(kind, index),
            };
            let mut bucket = Self::read_bucket(key, &path, old)?.ok_or_else(|| {
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
            let new = BucketAt { version, ..old };
            write_bucket(key, &path, new, &bucket)?;
            present.set(kind, index, version);
        }
        Ok(())
    }

    /// Replaces every cache entry by `entries`, under a new generation,
    /// which it returns with the buckets written (at version 1). The head
    /// is removed first, since until a new one is written the entries match
    /// no head.
    pub(crate) fn reset_entries(
        &self,
        key: &CacheKey,
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
        let mut g = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut g);
        let generation = hex::encode(g);
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
            let at = BucketAt {
                generation: &generation,
                kind,
                bucket: index,
                version: 1,
            };
            write_bucket(key, &path, at, &bucket)?;
            present.set(kind, index, 1);
        }
        let path = dir.join(GENERATION_FILE);
        replace_file(&dir, &path, generation.as_bytes())?;
        Ok((generation, present))
    }
}

/// What a bucket's tag binds it to: which generation, kind and bucket it
/// is, and the version the head names, so that another ledger's bucket,
/// another bucket or an old copy of this one never checks.
#[derive(Clone, Copy)]
struct BucketAt<'a> {
    generation: &'a str,
    kind: EntryKind,
    bucket: u16,
    version: u64,
}

impl BucketAt<'_> {
    fn parts(&self) -> [Vec<u8>; 4] {
        [
            self.generation.as_bytes().to_vec(),
            self.kind.dir().as_bytes().to_vec(),
            self.bucket.to_be_bytes().to_vec(),
            self.version.to_be_bytes().to_vec(),
        ]
    }
}

fn write_bucket(
    key: &CacheKey,
    path: &Path,
    at: BucketAt<'_>,
    bucket: &Bucket,
) -> Result<(), StoreError> {
    let json = serde_json::to_vec(bucket).map_err(|e| io(path)(e.into()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    overwrite_file(dir, path, &tagged(key, "entries", &at.parts(), &json))
}

/// The largest cache head and bucket read: far above what a ledger of
/// millions of events writes, and a bound on what a damaged file costs.
const MAX_HEAD_BYTES: u64 = 64 << 20;
const MAX_BUCKET_BYTES: u64 = 64 << 20;

/// Opens a cache file without following a link or waiting on a FIFO (the
/// caller checks the type on what was opened), to read or to append.
fn open_plain(path: &Path, append: bool) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let mut o = OpenOptions::new();
    if append {
        o.append(true);
    } else {
        o.read(true);
    }
    o.custom_flags(flags.bits() as i32).open(path)
}

/// Writes `bytes` as the content of `path`, in place when `path` is this
/// writer's own file ([`own_file`]), else as a new file renamed over it
/// ([`replace_file`]).
///
/// Why in place: the head and the pending marker are written on every
/// append, and a new file per write costs creating one inode and freeing
/// another. On ext4 without a journal, finding a free inode skips the
/// recently freed ones one by one, which took about a sixth of an
/// append's time (docs/PERFORMANCE.md, "Appends: start-up"). What is
/// given up is atomicity, and it was not relied on: every file written
/// here carries a tag over its exact bytes and what it belongs to, so a
/// write cut short (a crash, a full disk) leaves a file whose tag does
/// not check, which reads as no cache and costs a rebuild from the log,
/// exactly as a stale head does. (These files are written only after the
/// log has changed, so a crash around them already meant a rebuild.)
/// Only the writer, under the ledger's lock, reads them.
fn overwrite_file(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    match own_file(path) {
        Ok(Some(f)) => {
            // Longer content first, then the length: a cut between the
            // two leaves trailing bytes, and the tag fails on them.
            f.write_all_at(bytes, 0).map_err(io(path))?;
            f.set_len(bytes.len() as u64).map_err(io(path))
        }
        // Not there, or not a file to write through: a new one.
        Ok(None) | Err(_) => replace_file(dir, path, bytes),
    }
}

/// Opens `path` to write in place if it is a regular file with one link,
/// owned by this user: never through a symbolic link (`O_NOFOLLOW`), a
/// FIFO or device, or a second name for a file elsewhere. `Ok(None)` for
/// anything else.
fn own_file(path: &Path) -> std::io::Result<Option<File>> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    // A device or a socket is not even opened (opening some has effects);
    // what was opened is checked again below.
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    }
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let f = match OpenOptions::new()
        .write(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let meta = f.metadata()?;
    let ours =
        meta.is_file() && meta.nlink() == 1 && meta.uid() == rustix::process::geteuid().as_raw();
    Ok(ours.then_some(f))
}

/// Writes `path` as a new file renamed over the old name: whatever was
/// there (a link included) is replaced, never written through. Not
/// fsynced: the cache is derived.
fn replace_file(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io(dir))?;
    // The file itself: `NamedTempFile`'s writes name the temporary path.
    tmp.as_file_mut().write_all(bytes).map_err(io(path))?;
    tmp.persist(path).map_err(|e| io(path)(e.error))?;
    Ok(())
}

/// `content` with its tag in front: 64 hex digits and a newline.
fn tagged(key: &CacheKey, domain: &str, parts: &[Vec<u8>], content: &[u8]) -> Vec<u8> {
    let mut all: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    all.push(content);
    let mut out = hex::encode(key.tag(domain, &all)).into_bytes();
    out.push(b'\n');
    out.extend_from_slice(content);
    out
}

/// The content of a [`tagged`] file, if its tag checks.
fn untag<'a>(key: &CacheKey, domain: &str, parts: &[Vec<u8>], bytes: &'a [u8]) -> Option<&'a [u8]> {
    let (tag, content) = (bytes.get(..64)?, bytes.get(65..)?);
    if bytes.get(64) != Some(&b'\n') {
        return None;
    }
    let tag = hex::decode(tag).ok()?;
    let mut all: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    all.push(content);
    key.check(domain, &all, &tag).then_some(content)
}

/// Reads a regular file of at most `max` bytes: `Ok(None)` if it is not a
/// regular file or is larger (not the cache's, whatever it is).
fn read_capped(path: &Path, max: u64) -> std::io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    // No following links, no waiting on a FIFO: the type is checked on
    // what was opened.
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let f = match OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            return Ok(None)
        }
        Err(e) => return Err(e),
    };
    let meta = f.metadata()?;
    if !meta.is_file() || meta.len() > max {
        return Ok(None);
    }
    let mut out = Vec::new();
    f.take(max + 1).read_to_end(&mut out)?;
    Ok((out.len() as u64 <= max).then_some(out))
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
