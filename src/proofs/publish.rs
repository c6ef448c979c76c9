//! Static publication (FORMAT §16): the ledger as C2SP tlog-tiles, so that
//! any static web server, object store or git repository can serve it, and
//! an auditor fetches only the tiles a proof needs; and reading such a
//! directory back, for `verify` and `check-proof`.
//!
//! A published directory holds `checkpoint` (the largest stored checkpoint
//! of the ledger, as signed), `tile/<L>/<N>[.p/<W>]` hash tiles,
//! `tile/entries/<N>[.p/<W>]` entry bundles (each event's stored bytes),
//! and `docs/` (the document versions, by SHA-256).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::base::files::FileError;
use crate::core::format::{frame, Frame};
use crate::core::store::{io, LockWait, DOCS_DIR, LOG_FILE};
use crate::core::trust::TrustedKey;
use crate::core::writer::Writer;
use crate::proofs::bundle::Bundle;
use crate::proofs::checkpoint::{self, stored_file};
use crate::proofs::error::{
    CheckpointError, PublishRequest, PublishedFailure, Refutation, Request,
};
use crate::tlog::merkle;
use crate::tlog::note::{self, Checkpoint, Note};
use crate::tlog::tiles::{self, EntryBundle, StoreError, TileDir, TileHashReader, TileStore};

/// The published checkpoint's file name (tlog-tiles).
pub use crate::tlog::tiles::CHECKPOINT_FILE;

/// What [`publish`] wrote.
#[derive(Debug, Clone, Default)]
pub struct Published {
    pub size: u64,
    pub previous: u64,
    pub tiles: usize,
    pub bundles: usize,
    pub documents: usize,
}

/// Whether `dir` is a published directory rather than a ledger: it has a
/// `checkpoint` and no log. Neither is followed if a link, so that a
/// `checkpoint` that is a link or not a regular file is refused when read
/// rather than making the directory pass for something else.
pub fn is_published(dir: &Path) -> bool {
    let exists = |name: &str| fs::symlink_metadata(dir.join(name)).is_ok();
    exists(CHECKPOINT_FILE) && !exists(LOG_FILE)
}

/// Why a file of a published directory was not read: missing (`missing`
/// says what that means), or refused ([`crate::base::files`]).
fn unreadable(path: &Path, e: FileError) -> PublishedFailure {
    PublishedFailure::Unreadable {
        path: path.to_owned(),
        source: e,
    }
}

/// The published checkpoint of `out`, if any: its size and root. A
/// regular file of at most a note's size (FORMAT §13.3 rule 6), so that a
/// sparse 8 GiB one or a link to `/dev/zero` is refused unread.
fn published_checkpoint(out: &Path) -> Result<Option<(Vec<u8>, Checkpoint)>, CheckpointError> {
    checkpoint_in(&TileDir::new(out))
}

/// The checkpoint that `store` publishes, if any, parsed but not yet
/// verified (the caller checks its signatures), read under a note's limit.
fn checkpoint_in<S: TileStore>(
    store: &S,
) -> Result<Option<(Vec<u8>, Checkpoint)>, CheckpointError> {
    let path = store.locate(CHECKPOINT_FILE);
    let bytes = match store.read(CHECKPOINT_FILE, note::MAX_NOTE_BYTES as u64) {
        Ok(b) => b,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(store_failure(&path, e)),
    };
    let bad = |source| PublishRequest::Checkpoint {
        path: path.clone(),
        source,
    };
    let note = Note::parse(&bytes).map_err(bad)?;
    let cp = Checkpoint::parse_text(note.text()).map_err(bad)?;
    Ok(Some((bytes, cp)))
}

/// Why a file of a published directory was not given by its store: an
/// I/O error, a file refused ([`crate::base::files`]), or a remote store's failure.
fn store_failure(path: &Path, e: StoreError) -> CheckpointError {
    match e {
        StoreError::File(FileError::Io(e)) => io(path)(e).into(),
        StoreError::File(e) => unreadable(path, e).into(),
        StoreError::TooLarge { limit } => PublishedFailure::Oversized {
            path: path.to_owned(),
            limit,
        }
        .into(),
        // Handled before: a missing checkpoint is "not published".
        StoreError::NotFound => io(path)(std::io::ErrorKind::NotFound.into()).into(),
        StoreError::Remote(e) => CheckpointError::Remote(e),
    }
}

/// Writes a file that is immutable once written: created if missing, and
/// otherwise required to hold exactly these bytes.
fn write_immutable(path: &Path, bytes: &[u8]) -> Result<bool, CheckpointError> {
    match fs::read(path) {
        Ok(old) if old == bytes => return Ok(false),
        Ok(_) => {
            return Err(PublishedFailure::Exists {
                path: path.to_owned(),
            }
            .into())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(path)(e).into()),
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    Ok(true)
}

/// Refuses an output directory inside the ledger (or one holding it): a
/// publication writes tiles and documents, which must never land in the
/// ledger. Compared as real paths; `out` need not exist yet (its nearest
/// existing ancestor is resolved).
fn refuse_overlap(dir: &Path, out: &Path) -> Result<(), CheckpointError> {
    let real = |p: &Path| -> Option<PathBuf> {
        let mut rest = Vec::new();
        let mut at = p.to_path_buf();
        loop {
            if let Ok(r) = fs::canonicalize(&at) {
                return Some(rest.iter().rev().fold(r, |acc: PathBuf, c| acc.join(c)));
            }
            rest.push(at.file_name()?.to_owned());
            at = match at.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
                _ => PathBuf::from("."),
            };
        }
    };
    if let (Some(d), Some(o)) = (real(dir), real(out)) {
        if o.starts_with(&d) || d.starts_with(&o) {
            return Err(PublishRequest::IntoLedger {
                dir: dir.to_owned(),
                out: out.to_owned(),
            }
            .into());
        }
    }
    Ok(())
}

/// `ledger publish DIR OUT`: publishes the ledger up to its largest stored
/// checkpoint. Incremental: full tiles and bundles already in `OUT` are
/// immutable and not rewritten (they are checked to be identical); only
/// new ones, the new partial ones and new documents are written, made
/// durable, and then `OUT/checkpoint` is replaced.
/// It waits for another writer's lock as `wait` says, telling `waiting`
/// once, after a second, who holds it ([`Writer::open_waiting`]).
pub fn publish(
    dir: &Path,
    out: &Path,
    wait: LockWait,
    waiting: &mut dyn FnMut(Option<u32>),
) -> Result<Published, CheckpointError> {
    refuse_overlap(dir, out)?;
    let mut w = Writer::open_waiting(dir, wait, waiting)?;
    let origin = checkpoint::origin(&w.state().ledger);
    let (cp, cp_bytes) = checkpoint::latest_stored(dir)?;
    if cp.origin() != origin {
        return Err(PublishedFailure::StoredOrigin {
            file: stored_file(cp.size()),
            found: cp.origin().to_owned(),
            expected: origin,
        }
        .into());
    }
    let size = cp.size();
    let (count, _) = w.tree_head();
    if size > count {
        return Err(PublishedFailure::StoredBeyond { size, count }.into());
    }
    // The published tiles are immutable: every cached hash and offset is
    // checked against the log (hashing it once) before any is written.
    let tree = w.checked_tree()?;
    let root_at = |s: u64| merkle::tree_hash(s, &tree).map_err(Request::Merkle);
    if root_at(size)? != *cp.root() {
        return Err(PublishedFailure::StoredRootDiffers {
            file: stored_file(size),
            size,
        }
        .into());
    }
    let previous = match published_checkpoint(out)? {
        None => 0,
        Some((_, old)) => {
            if old.origin() != origin {
                return Err(PublishRequest::OtherOrigin {
                    out: out.to_owned(),
                    found: old.origin().to_owned(),
                    expected: origin,
                }
                .into());
            }
            if old.size() > size {
                return Err(PublishRequest::Larger {
                    out: out.to_owned(),
                    published: old.size(),
                    size,
                }
                .into());
            }
            if root_at(old.size())? != *old.root() {
                return Err(PublishedFailure::OtherHistory {
                    out: out.to_owned(),
                    size: old.size(),
                }
                .into());
            }
            old.size()
        }
    };
    fs::create_dir_all(out).map_err(io(out))?;
    let mut report = Published {
        size,
        previous,
        ..Published::default()
    };
    let tile_err = PublishRequest::Tile;
    for tile in tiles::new_tiles(previous, size) {
        let data = tiles::tile_data(&tile, &tree).map_err(tile_err)?;
        if write_immutable(&out.join(tile.path()), &data)? {
            report.tiles += 1;
        }
    }
    for bundle in tiles::new_bundles(previous, size) {
        let data = bundle_data(&w, &tree, &bundle)?;
        if write_immutable(&out.join(bundle.path()), &data)? {
            report.bundles += 1;
        }
    }
    report.documents = copy_documents(dir, out)?;
    // Everything the checkpoint will point at is durable before it does.
    let handle = fs::File::open(out).map_err(io(out))?;
    rustix::fs::syncfs(&handle).map_err(|e| io(out)(e.into()))?;
    crate::core::store::replace_durably(out, &out.join(CHECKPOINT_FILE), &cp_bytes)?;
    drop(w);
    Ok(report)
}

fn bundle_data(
    w: &Writer,
    tree: &crate::core::cache::TreeFile,
    bundle: &EntryBundle,
) -> Result<Vec<u8>, CheckpointError> {
    let first = bundle.index() * 256;
    let entries = (first..first + u64::from(bundle.width()))
        .map(|i| w.event_bytes(tree, i))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(tiles::encode_bundle(&entries).map_err(PublishRequest::Tile)?)
}

/// Copies the document versions not yet in `OUT/docs`.
fn copy_documents(dir: &Path, out: &Path) -> Result<usize, CheckpointError> {
    let from = dir.join(DOCS_DIR);
    let to = out.join(DOCS_DIR);
    let entries = match fs::read_dir(&from) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io(&from)(e).into()),
    };
    fs::create_dir_all(&to).map_err(io(&to))?;
    let mut copied = 0;
    for entry in entries {
        let entry = entry.map_err(io(&from))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // Only document versions: 64 hex digits, their SHA-256.
        if name.len() != 64 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let bytes = fs::read(entry.path()).map_err(io(&entry.path()))?;
        if write_immutable(&to.join(&name), &bytes)? {
            copied += 1;
        }
    }
    Ok(copied)
}

/// Reads a published directory's checkpoint and entries back into a
/// ledger directory at `into` (events.cbor, the checkpoint under
/// checkpoints/, an empty docs/), for `verify` to replay like any other
/// with the published `docs/` as its documents (`audit::Options::docs`).
///
/// What is unpacked is exactly what the checkpoint is over (FORMAT
/// §16.4): each entry is exactly one event, there are as many as the
/// checkpoint's size, every hash tile is that of the entries, and the
/// entries hash to the checkpoint's root. The bundles are walked as they
/// are read, one at a time and each capped, so a size claimed by an
/// unauthenticated checkpoint allocates nothing by itself.
pub fn unpack(published: &Path, into: &Path) -> Result<u64, CheckpointError> {
    let Some((bytes, cp)) = published_checkpoint(published)? else {
        return Err(PublishRequest::NotALedger {
            dir: published.to_owned(),
        }
        .into());
    };
    let size = cp.size();
    let log = into.join(LOG_FILE);
    let mut f = std::io::BufWriter::new(fs::File::create(&log).map_err(io(&log))?);
    let mut tiles = TileCheck::new(published);
    let mut tree = merkle::Frontier::new();
    for bundle in tiles::bundles_of_size(size) {
        let (path, data) = read_bundle_in(&TileDir::new(published), &bundle)?;
        let entries = bundle
            .decode(&data)
            .map_err(|source| PublishedFailure::BadBundle {
                path: path.clone(),
                source,
            })?;
        for (i, e) in (bundle.index() * 256..).zip(entries) {
            one_event(&path, i, e)?;
            f.write_all(e).map_err(io(&log))?;
            let leaf = merkle::leaf_hash(e);
            // Cannot fail below 2^64 events.
            let _ = tree.push(leaf);
            tiles.push(leaf)?;
        }
    }
    tiles.finish()?;
    // The tiles were compared with the entries; the entries must also be
    // what the checkpoint signs, whatever the tiles say.
    if tree.size() != size || tree.root() != *cp.root() {
        return Err(PublishedFailure::RootDiffers {
            size,
            root: *cp.root(),
            found: tree.root(),
        }
        .into());
    }
    f.flush().map_err(io(&log))?;
    let cdir = into.join(checkpoint::CHECKPOINTS_DIR);
    fs::create_dir_all(&cdir).map_err(io(&cdir))?;
    let cpath = cdir.join(size.to_string());
    fs::write(&cpath, &bytes).map_err(io(&cpath))?;
    // The documents stay where they were published: the audit reads them
    // there (`audit::Options::docs`), and the unpacked ledger holds none.
    fs::create_dir_all(into.join(DOCS_DIR)).map_err(io(into))?;
    Ok(size)
}

/// Reads an entry bundle from `store` (for a directory, a regular file
/// inside it), of at most the bytes its width allows.
fn read_bundle_in<S: TileStore>(
    store: &S,
    bundle: &EntryBundle,
) -> Result<(PathBuf, Vec<u8>), CheckpointError> {
    let rel = bundle.path();
    let path = store.locate(&rel);
    match store.read(&rel, tiles::max_bundle_bytes(bundle.width())) {
        Ok(data) => Ok((path, data)),
        Err(StoreError::File(FileError::Io(source))) => {
            Err(PublishedFailure::MissingBundle { path, source }.into())
        }
        Err(StoreError::NotFound) => Err(PublishedFailure::MissingBundle {
            path,
            source: std::io::ErrorKind::NotFound.into(),
        }
        .into()),
        Err(StoreError::File(e)) => Err(unreadable(&path, e).into()),
        Err(StoreError::TooLarge { limit }) => {
            Err(PublishedFailure::Oversized { path, limit }.into())
        }
        Err(StoreError::Remote(e)) => Err(CheckpointError::Remote(e)),
    }
}

/// Why no proof was read from the published tiles: a remote store's
/// failure is transport (it says nothing about the log); anything else is
/// the published directory's.
fn tiles_failure(e: merkle::MerkleError) -> CheckpointError {
    match e {
        merkle::MerkleError::Backend(b) => match b.downcast::<tiles::TileError>() {
            Ok(t) => match *t {
                tiles::TileError::Remote(r) => CheckpointError::Remote(r),
                t => PublishedFailure::Tiles(merkle::MerkleError::Backend(Box::new(t))).into(),
            },
            Err(b) => PublishedFailure::Tiles(merkle::MerkleError::Backend(b)).into(),
        },
        e => PublishedFailure::Tiles(e).into(),
    }
}

/// An entry is one event's stored bytes (FORMAT §16.3): exactly one CBOR
/// item, framed from its heads. Two events in one entry would make the
/// replayed log longer than the checkpoint's tree while every hash still
/// matched.
fn one_event(path: &Path, index: u64, entry: &[u8]) -> Result<(), PublishedFailure> {
    let found = match frame(entry) {
        Frame::Item(n) if n == entry.len() => return Ok(()),
        Frame::Item(_) => "bytes left after the first event",
        Frame::NeedMore => "an incomplete event",
        Frame::Unframeable => "not a framed event",
    };
    Err(PublishedFailure::NotOneEvent {
        path: path.to_owned(),
        index,
        len: entry.len(),
        found,
    })
}

/// Checks a published directory's hash tiles against the leaves read from
/// its entry bundles, streaming: at each level, the hashes of the tile
/// being filled; a full tile is compared with its file and its root
/// becomes the next hash of the level above (FORMAT §16.2). What is left
/// at the end is compared with the partial tiles of the checkpoint's size.
struct TileCheck<'a> {
    dir: &'a Path,
    levels: Vec<(u64, Vec<merkle::Hash>)>,
}

impl<'a> TileCheck<'a> {
    fn new(dir: &'a Path) -> Self {
        TileCheck {
            dir,
            levels: Vec::new(),
        }
    }

    fn compare(
        &self,
        level: usize,
        index: u64,
        hashes: &[merkle::Hash],
    ) -> Result<(), CheckpointError> {
        let width = u16::try_from(hashes.len()).unwrap_or(u16::MAX);
        let tile = tiles::Tile::new(u8::try_from(level).unwrap_or(u8::MAX), index, width)
            .map_err(PublishedFailure::BadTile)?;
        let path = self.dir.join(tile.path());
        let data = tiles::read_tile(self.dir, &tile).map_err(|e| match e {
            tiles::TileError::Io { path, source } => PublishedFailure::MissingTile { path, source },
            other => PublishedFailure::BadTile(other),
        })?;
        if data != hashes.concat() {
            return Err(PublishedFailure::TileMismatch { path }.into());
        }
        Ok(())
    }

    fn push(&mut self, leaf: merkle::Hash) -> Result<(), CheckpointError> {
        let mut h = leaf;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push((0, Vec::with_capacity(256)));
            }
            self.levels[level].1.push(h);
            if self.levels[level].1.len() < 256 {
                return Ok(());
            }
            let (index, full) = std::mem::take(&mut self.levels[level]);
            self.compare(level, index, &full)?;
            self.levels[level].0 = index + 1;
            h = perfect_root(&full);
            level += 1;
        }
    }

    fn finish(self) -> Result<(), CheckpointError> {
        // A partial tile per level whose count of hashes is not a multiple
        // of 256 (FORMAT §16.2); the leaves pushed make exactly these.
        for (level, (index, rest)) in self.levels.iter().enumerate() {
            if !rest.is_empty() {
                self.compare(level, *index, rest)?;
            }
        }
        Ok(())
    }
}

/// The root of a perfect subtree from its leaves' hashes (a power of two).
fn perfect_root(hashes: &[merkle::Hash]) -> merkle::Hash {
    let mut layer = hashes.to_vec();
    while layer.len() > 1 {
        layer = layer
            .chunks(2)
            .map(|p| match p {
                [l, r] => merkle::node_hash(l, r),
                [one] => *one,
                _ => merkle::empty_root(),
            })
            .collect();
    }
    layer.first().copied().unwrap_or_else(merkle::empty_root)
}

/// The inclusion bundle of event `index`, read from a published directory:
/// its checkpoint signed by one of `trusted`, proof hashes from its tiles
/// (each checked against the checkpoint's root as it is read), the event
/// from its entry bundle.
pub fn bundle_from_published(
    published: &Path,
    index: u64,
    trusted: &[TrustedKey],
) -> Result<Bundle, CheckpointError> {
    bundle_from_store(TileDir::new(published), index, trusted)
}

/// The inclusion bundle of event `index`, read from the published
/// directory that `store` gives (a directory, or a URL through
/// [`crate::proofs::source::Source`]), as [`bundle_from_published`] reads
/// it. The served checkpoint must carry a signature by one of `trusted`
/// before anything else is read, so that a forged one costs no more
/// fetches and its size and root decide nothing; the tiles are then hashed
/// up to its root, and the bundle still has to pass
/// [`crate::proofs::standard::check_proof`] (the event's signer, the
/// witness policy).
pub fn bundle_from_store<S: TileStore>(
    store: S,
    index: u64,
    trusted: &[TrustedKey],
) -> Result<Bundle, CheckpointError> {
    let Some((bytes, cp)) = checkpoint_in(&store)? else {
        return Err(PublishRequest::NotPublished {
            dir: store.locate(""),
        }
        .into());
    };
    let keys: Vec<_> = trusted.iter().cloned().map(TrustedKey::pair).collect();
    checkpoint::check_note(&bytes, None, &keys, None).map_err(Refutation::Checkpoint)?;
    if index >= cp.size() {
        return Err(PublishRequest::NotInPublished {
            index,
            size: cp.size(),
        }
        .into());
    }
    let reader = TileHashReader::with_store(store, cp.size(), *cp.root());
    let proof = merkle::prove_inclusion(cp.size(), index, &reader).map_err(tiles_failure)?;
    let bundle =
        tiles::bundle_for(index, cp.size()).ok_or(PublishedFailure::NoBundleFor { index })?;
    let (path, data) = read_bundle_in(reader.store(), &bundle)?;
    let entries = bundle
        .decode(&data)
        .map_err(|source| PublishedFailure::BadBundle {
            path: path.clone(),
            source,
        })?;
    let event = usize::try_from(index % 256)
        .ok()
        .and_then(|i| entries.get(i))
        .ok_or_else(|| PublishedFailure::NoEntry {
            path: path.clone(),
            index,
        })?;
    one_event(&path, index, event)?;
    let event = event.to_vec();
    Ok(Bundle::Inclusion {
        index,
        event,
        proof,
        checkpoint: bytes,
    })
}
