//! The ledger directory (FORMAT §2): the log file, the document files,
//! locking and durability. The writer's cache, kept in the same directory,
//! is `core::cache`'s.
//!
//! Nothing here interprets events; that is [`crate::core::replay`]'s job. What
//! this module guarantees is that bytes reported as written are on disk
//! (`fsync`), that a committed byte is never rewritten, and that only one
//! writer at a time holds the log. Readers take no lock and never write
//! (they work on read-only copies and never wait on a writer): what they
//! see while an append is in flight is `core::scan`'s to decide.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::base::durable;
use crate::core::format::{DocHash, Kind, LogReader};

/// The log file's name inside a ledger directory.
pub const LOG_FILE: &str = "events.cbor";
/// The document directory's name.
pub const DOCS_DIR: &str = "docs";
/// The largest document version a writer stores (README, "Documents"):
/// far above a treaty with its annexes, and a bound on what one append
/// holds in memory. `verify` hashes documents streaming, whatever their
/// size.
pub const MAX_DOCUMENT_BYTES: u64 = 256 << 20;
/// The writer's cache directory, never read by verify.
pub const CACHE_DIR: &str = "cache";
const GITIGNORE: &str = "# written by ledger: the cache is derived and never trusted, and\n# temporary files are what a crash left (the next writer removes them)\ncache/\n.tmp*\n";

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
    /// Another writer held the lock for longer than the writer would wait.
    #[error("{path} is locked by another writer{} and was not released within {waited_secs} s; try again, or wait longer with --wait SECONDS", .pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Busy {
        path: PathBuf,
        pid: Option<u32>,
        waited_secs: u64,
    },
    /// The log, `docs/` or `checkpoints/` is a symbolic link: not a
    /// self-contained ledger.
    #[error("{path} is a symbolic link: a ledger must hold its log, documents and checkpoints itself (git would store only the link); replace it with the file or directory it points to")]
    Link { path: PathBuf },
    /// The same, and the link points to nothing: said as such, for "has no
    /// events.cbor" or "is missing" would send the reader looking for a
    /// file that the link was meant to stand for.
    #[error("{path} is a dangling symbolic link (to {}, which does not exist): a ledger must hold its log, documents and checkpoints itself; put the file or directory it was meant to be in its place", .target.display())]
    DanglingLink { path: PathBuf, target: PathBuf },
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

/// How long a writer waits for another writer's lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockWait {
    /// Until the lock is free (the library's default).
    Forever,
    /// At most this long, then [`StoreError::Busy`] (zero: not at all).
    For(std::time::Duration),
}

/// A file in a ledger directory that nothing needs (issue 11.7): what an
/// interrupted writer left, or a file in `docs/` no event references.
/// `verify` warns about these without changing its verdict; `ledger
/// repair` removes the first two kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    /// Relative to the ledger directory, e.g. `docs/.tmp-1a2b`.
    pub path: String,
    pub kind: OrphanKind,
}

/// What kind of file an [`Orphan`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum OrphanKind {
    /// A temporary file (`.tmp*`) in `docs/`, `cache/` or `checkpoints/`,
    /// left by a writer that was interrupted.
    Temporary,
    /// A file in `docs/` named by a SHA-256, as a writer stores a document,
    /// that no event references: stored by an append that was interrupted
    /// before its event was written.
    Unreferenced,
    /// Anything else in `docs/`: not a file a writer makes, so repair
    /// leaves it for a person to move.
    Foreign,
}

impl Orphan {
    /// Whether `ledger repair` removes it: only what a writer made.
    pub fn removable(&self) -> bool {
        matches!(self.kind, OrphanKind::Temporary | OrphanKind::Unreferenced)
    }
}

/// In `--json`: its path, kind and the line a person is shown.
impl Serialize for Orphan {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut m = s.serialize_struct("Orphan", 3)?;
        m.serialize_field("path", &self.path)?;
        m.serialize_field("kind", &self.kind)?;
        m.serialize_field("message", &self.to_string())?;
        m.end()
    }
}

impl std::fmt::Display for Orphan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = &self.path;
        match self.kind {
            OrphanKind::Temporary => write!(
                f,
                "{path} is a temporary file an interrupted writer left; `ledger repair` removes it"
            ),
            OrphanKind::Unreferenced => write!(
                f,
                "{path} is a document file no event references (an append interrupted after storing it); `ledger repair` removes it"
            ),
            OrphanKind::Foreign => write!(
                f,
                "{path} is not a file ledger writes and no event references it; move it out of {DOCS_DIR}/"
            ),
        }
    }
}

/// The files of a ledger directory that may be orphans: listed before a
/// replay, which strikes off each document an event stores
/// ([`Orphans::stored`]); what is left at the end is [`Orphans::finish`]'s.
/// Listing first keeps memory to the files present, not the events.
#[derive(Debug, Default)]
pub(crate) struct Orphans {
    documents: std::collections::HashMap<DocHash, String>,
    found: Vec<Orphan>,
}

impl Orphans {
    /// Lists `docs/` and the temporary files of `cache/` and
    /// `checkpoints/`. A directory that cannot be read lists nothing: this
    /// only ever warns, and verification reports what it must.
    pub(crate) fn list(store: &Store) -> Orphans {
        let mut o = Orphans::default();
        let is_tmp = |name: &[u8]| name.starts_with(b".tmp");
        for sub in [DOCS_DIR, CACHE_DIR, "checkpoints"] {
            let Ok(entries) = fs::read_dir(store.dir.join(sub)) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name();
                let shown = format!("{sub}/{}", name.to_string_lossy());
                let is_file = e.file_type().is_ok_and(|t| t.is_file());
                let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
                if is_file && is_tmp(name.as_encoded_bytes()) {
                    o.found.push(Orphan {
                        path: shown,
                        kind: OrphanKind::Temporary,
                    });
                } else if sub == DOCS_DIR {
                    // Only the lowercase hex a writer names files with.
                    let hash = name
                        .to_str()
                        .filter(|n| {
                            n.bytes()
                                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                        })
                        .and_then(|n| DocHash::from_hex(n).ok());
                    match hash {
                        Some(h) if !is_dir => {
                            o.documents.insert(h, shown);
                        }
                        _ => o.found.push(Orphan {
                            path: shown,
                            kind: OrphanKind::Foreign,
                        }),
                    }
                }
            }
        }
        o
    }

    /// An event stores (drafts or amends to) this document version.
    pub(crate) fn stored(&mut self, kind: &Kind) {
        if let Kind::DocumentDrafted { sha256, .. } | Kind::DocumentAmended { sha256, .. } = kind {
            self.documents.remove(sha256);
        }
    }

    /// What no event stored, sorted by path.
    pub(crate) fn finish(self) -> Vec<Orphan> {
        let mut out = self.found;
        out.extend(self.documents.into_values().map(|path| Orphan {
            path,
            kind: OrphanKind::Unreferenced,
        }));
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }
}

/// How a ledger is opened: a writer excludes other writers; readers take
/// no lock at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// An open ledger directory: locked if opened to write.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    log_path: PathBuf,
    /// A writer's holds the exclusive `flock` for as long as the store lives.
    log: File,
    /// Where the documents are read: `DIR/docs`, unless a reader was
    /// pointed elsewhere ([`Store::with_docs`]).
    docs: PathBuf,
    access: Access,
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

/// Takes the exclusive lock on `log`, waiting as `wait` says.
fn lock_waiting(
    log: &File,
    path: &Path,
    wait: LockWait,
    waiting: &mut dyn FnMut(Option<u32>),
) -> Result<(), StoreError> {
    use std::time::{Duration, Instant};
    let start = Instant::now();
    let mut told = false;
    loop {
        match log.try_lock() {
            Ok(()) => return Ok(()),
            Err(fs::TryLockError::WouldBlock) => {}
            Err(fs::TryLockError::Error(e)) => return Err(io(path)(e)),
        }
        let waited = start.elapsed();
        if let LockWait::For(limit) = wait {
            if waited >= limit {
                return Err(StoreError::Busy {
                    path: path.to_owned(),
                    pid: lock_holder(log),
                    waited_secs: limit.as_secs(),
                });
            }
        }
        if !told && waited >= Duration::from_secs(1) {
            told = true;
            waiting(lock_holder(log));
            if wait == LockWait::Forever {
                // Said once; now queue for the lock like any waiter.
                return log.lock().map_err(io(path));
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The pid holding a write `flock` on `file`, where Linux says it
/// (`/proc/locks`: "1: FLOCK ADVISORY WRITE <pid> <maj>:<min>:<inode> ...").
fn lock_holder(file: &File) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let ino = file.metadata().ok()?.ino().to_string();
    let locks = fs::read_to_string("/proc/locks").ok()?;
    locks.lines().find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (kind, mode, pid, id) = (f.get(1)?, f.get(3)?, f.get(4)?, f.get(5)?);
        (*kind == "FLOCK" && *mode == "WRITE" && id.rsplit(':').next() == Some(ino.as_str()))
            .then(|| pid.parse().ok())
            .flatten()
    })
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

    /// Opens a ledger directory. To write, takes its exclusive lock,
    /// waiting for a writer that holds it; to read, takes no lock and opens
    /// nothing for writing, so that it works on a read-only copy and never
    /// waits.
    pub fn open(dir: &Path, access: Access) -> Result<Store, StoreError> {
        Store::open_waiting(dir, access, LockWait::Forever, &mut |_| {})
    }

    /// [`Store::open`], waiting for another writer's lock as `wait` says;
    /// `waiting` is told once, after a second, with the pid of the holder
    /// where the system says it (Linux: `/proc/locks`).
    pub fn open_waiting(
        dir: &Path,
        access: Access,
        wait: LockWait,
        waiting: &mut dyn FnMut(Option<u32>),
    ) -> Result<Store, StoreError> {
        let log_path = dir.join(LOG_FILE);
        // A ledger holds its log and documents itself: git stores only a
        // link, and a link to another ledger's log would make a writer
        // write into that one.
        use crate::base::files::is_link;
        for name in [LOG_FILE, DOCS_DIR, "checkpoints"] {
            let path = dir.join(name);
            if is_link(&path) {
                if !path.exists() {
                    let target = fs::read_link(&path).unwrap_or_default();
                    return Err(StoreError::DanglingLink { path, target });
                }
                return Err(StoreError::Link { path });
            }
        }
        // The cache is derived: a link in its place (git commits one named
        // `cache`, the ignore rule being for directories) is removed, the
        // link only, never what it points to, and the cache rebuilt.
        let cache = dir.join(CACHE_DIR);
        if access == Access::Write && is_link(&cache) {
            fs::remove_file(&cache).map_err(io(&cache))?;
        }
        let mut opts = OpenOptions::new();
        opts.read(true);
        if access == Access::Write {
            opts.append(true);
        }
        // Not waiting on a FIFO in the log's place: the type is checked
        // below on what was opened (no effect on a regular file).
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32);
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
        if access == Access::Write {
            lock_waiting(&log, &log_path, wait, waiting)?;
        }
        Ok(Store {
            dir: dir.to_owned(),
            docs: dir.join(DOCS_DIR),
            log_path,
            log,
            access,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Removes the temporary files a crashed writer left in `cache/` and
    /// `checkpoints/` and, with `docs`, in `docs/` (every one of ours
    /// starts with `.tmp`). Only a writer calls this, under the exclusive
    /// lock, when no other writer can be half-way through one. `docs/` can
    /// hold a document per event, so it is only listed when the writer
    /// replays the whole log anyway: a temporary file made there changes
    /// the directory's stamp, which sends the next writer to a full replay.
    /// Returns how many were removed.
    pub(crate) fn remove_leftovers(&self, docs: bool) -> usize {
        debug_assert_eq!(self.access, Access::Write);
        let mut removed = 0;
        let dirs: &[&str] = if docs {
            &[DOCS_DIR, CACHE_DIR, "checkpoints"]
        } else {
            &[CACHE_DIR, "checkpoints"]
        };
        for sub in dirs {
            let Ok(entries) = fs::read_dir(self.dir.join(sub)) else {
                continue;
            };
            for e in entries.flatten() {
                let is_file = e.file_type().is_ok_and(|t| t.is_file());
                if is_file
                    && e.file_name().as_encoded_bytes().starts_with(b".tmp")
                    && fs::remove_file(e.path()).is_ok()
                {
                    removed += 1;
                }
            }
        }
        removed
    }

    /// Whether the documents are read from this ledger's own `docs/` (not
    /// a published directory's, [`Store::with_docs`]).
    pub(crate) fn own_docs(&self) -> bool {
        self.docs == self.dir.join(DOCS_DIR)
    }

    /// Removes the orphans a writer made (temporary files, documents no
    /// event references), never a file of another kind, and makes the
    /// removals durable. Only a writer calls this, under the exclusive lock,
    /// with `orphans` listed after a replay of the whole log under that
    /// lock: no event can reference a file it removes. Returns the paths
    /// removed.
    pub(crate) fn remove_orphans(&self, orphans: &[Orphan]) -> Result<Vec<String>, StoreError> {
        debug_assert_eq!(self.access, Access::Write);
        let mut removed = Vec::new();
        let mut dirs = std::collections::BTreeSet::new();
        for o in orphans.iter().filter(|o| o.removable()) {
            let path = self.dir.join(&o.path);
            match fs::remove_file(&path) {
                Ok(()) => {}
                // Gone already (another repair, or the next writer's sweep).
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(&path)(e)),
            }
            if let Some(parent) = path.parent() {
                dirs.insert(parent.to_owned());
            }
            removed.push(o.path.clone());
        }
        for d in dirs {
            sync_dir(&d)?;
        }
        Ok(removed)
    }

    /// A reader that takes the documents from `docs` instead of `DIR/docs`:
    /// for a ledger unpacked from a published directory, whose documents
    /// stay where they were published (a directory of our choosing, not a
    /// link inside a ledger). Writers never do this.
    pub fn with_docs(mut self, docs: PathBuf) -> Store {
        if self.access == Access::Read {
            self.docs = docs;
        }
        self
    }

    /// How this store was opened.
    pub fn access(&self) -> Access {
        self.access
    }

    /// Whether a writer holds the ledger's lock now: probed without
    /// waiting, by trying for a shared lock on a descriptor of our own and
    /// letting it go at once.
    pub fn writer_active(&self) -> Result<bool, StoreError> {
        let f = File::open(&self.log_path).map_err(io(&self.log_path))?;
        match f.try_lock_shared() {
            Ok(()) => Ok(false),
            Err(std::fs::TryLockError::WouldBlock) => Ok(true),
            Err(std::fs::TryLockError::Error(e)) => Err(io(&self.log_path)(e)),
        }
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
    /// Checks that the document file of `hash` is there and holds exactly
    /// the bytes that hash to it (FORMAT §2), reading it in small pieces.
    pub fn check_doc(&self, hash: &DocHash) -> Result<(), String> {
        let path = self.doc_path(hash);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(format!(
                    "{DOCS_DIR}/{} is a symbolic link, not the document: a ledger must hold its documents itself",
                    hash.to_hex()
                ))
            }
            Ok(m) if !m.is_file() => {
                return Err(format!(
                    "{DOCS_DIR}/{} is not a regular file",
                    hash.to_hex()
                ))
            }
            _ => {}
        }
        // Opened without following a link or waiting on a FIFO, and its
        // type and size checked on what was opened (FORMAT §7).
        let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
        let opened = {
            use std::os::unix::fs::OpenOptionsExt;
            OpenOptions::new()
                .read(true)
                .custom_flags(flags.bits() as i32)
                .open(&path)
        };
        let mut f = match opened {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!("{DOCS_DIR}/{} is missing", hash.to_hex()))
            }
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
                return Err(format!(
                    "{DOCS_DIR}/{} is a symbolic link, not the document: a ledger must hold its documents itself",
                    hash.to_hex()
                ))
            }
            Err(e) => return Err(format!("{DOCS_DIR}/{}: {e}", hash.to_hex())),
        };
        match f.metadata() {
            Ok(m) if !m.is_file() => {
                return Err(format!(
                    "{DOCS_DIR}/{} is not a regular file",
                    hash.to_hex()
                ))
            }
            Ok(m) if m.len() > MAX_DOCUMENT_BYTES => {
                return Err(format!(
                "{DOCS_DIR}/{} is {} bytes, more than the {} MiB a document may have (FORMAT §7)",
                hash.to_hex(),
                m.len(),
                MAX_DOCUMENT_BYTES >> 20
            ))
            }
            Ok(_) => {}
            Err(e) => return Err(format!("{DOCS_DIR}/{}: {e}", hash.to_hex())),
        }
        let mut f = (&mut f).take(MAX_DOCUMENT_BYTES + 1);
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

    pub fn doc_path(&self, hash: &DocHash) -> PathBuf {
        self.docs.join(hash.to_hex())
    }

    /// Stores a document version durably, content-addressed. Storing the
    /// same bytes twice is a no-op.
    pub fn put_doc(&self, content: &[u8]) -> Result<DocHash, StoreError> {
        let hash = DocHash::of(content);
        if self.check_doc(&hash).is_ok() {
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
            if self.check_doc(&hash).is_ok() {
                continue;
            }
            let mut tmp = tempfile::Builder::new()
                .prefix(".tmp-")
                .permissions(fs::Permissions::from_mode(0o644))
                .tempfile_in(&docs)
                .map_err(io(&docs))?;
            // Not `tmp.write_all`, whose error names the temporary file.
            tmp.as_file_mut().write_all(&content).map_err(io(&path))?;
            // A file already there with other bytes is evidence, not ours
            // to overwrite.
            tmp.persist_noclobber(&path)
                .map_err(|e| io(&path)(e.error))?;
        }
        let dir = File::open(&docs).map_err(io(&docs))?;
        rustix::fs::syncfs(&dir).map_err(|e| io(&docs)(e.into()))
    }
}

/// Replaces (or creates) `path` in `dir` atomically and durably
/// (`base::durable::replace`).
pub fn replace_durably(dir: &Path, path: &Path, content: &[u8]) -> Result<(), StoreError> {
    Ok(durable::replace(dir, path, content)?)
}

fn write_durably(dir: &Path, path: &Path, content: &[u8]) -> Result<(), StoreError> {
    Ok(durable::write_new(dir, path, content)?)
}
