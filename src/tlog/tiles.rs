//! Static publication of the Merkle tree as C2SP tlog-tiles
//! (docs/FORMAT.md §16; <https://c2sp.org/tlog-tiles>): tile and
//! entry-bundle paths, which tiles a tree of a given size needs, the bytes
//! of a tile and of an entry bundle, and [`TileHashReader`], which lets a
//! verifier compute proofs from a published directory.
//!
//! This module owns the tile coordinates and the bundle bytes. The hashes
//! and the stored-hash layout are [`crate::tlog::merkle`]'s; a tile is only a
//! window onto them (tile height 8: level-L tile N, hash i is the stored
//! hash at level 8L, index N*256 + i).
//!
//! Nothing read from a published directory is trusted until it has been
//! hashed up to the root of a checkpoint the caller already trusts; that is
//! the port of Go's `golang.org/x/mod/sumdb/tlog` `TileHashReader`.
//!
//! Where the files come from is a [`TileStore`]: a local directory
//! ([`TileDir`]) here; a layer above may read them from a server. This
//! module never does I/O of its own beyond a store's.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::tlog::merkle::{self, Hash, HashReader, MerkleError, HASH_SIZE};

/// tlog-tiles: the path of the log's latest checkpoint in a tile
/// directory, beside `tile/`.
pub const CHECKPOINT_FILE: &str = "checkpoint";
/// tlog-tiles: every tile has height 8, so a full tile is 256 hashes.
pub const TILE_HEIGHT: u32 = 8;
/// The number of hashes in a full tile, and of entries in a full bundle.
pub const FULL_WIDTH: u16 = 256;
/// tlog-tiles: levels are 0..=63.
pub const MAX_LEVEL: u8 = 63;
/// tlog-tiles: an entry in a bundle is prefixed with a big-endian u16
/// length, so no entry can be longer than this.
pub const MAX_ENTRY_BYTES: usize = 65_535;

const FULL: u64 = FULL_WIDTH as u64;

/// What is wrong with a tile, a bundle or a published directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TileError {
    #[error(
        "malformed tile path {0:?} (expected tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>])"
    )]
    BadPath(String),
    #[error("no tile has level {level}, index {index} and width {width} (levels are 0..=63, widths 1..=256)")]
    Invalid { level: u8, index: u64, width: u16 },
    #[error("entry {index} is {len} bytes; an entry bundle holds at most {MAX_ENTRY_BYTES}")]
    EntryTooLarge { index: usize, len: usize },
    #[error("an entry bundle holds 1 to 256 entries, found {0}")]
    BundleCount(usize),
    #[error("the entry bundle ends inside the entry that starts at byte {offset}")]
    BundleTruncated { offset: usize },
    #[error("entry bundle {path} holds {found} entries, expected {expected}")]
    BundleWidth {
        path: String,
        expected: u16,
        found: usize,
    },
    #[error("{path}: a tile of width {width} is {expected} bytes, found {found}")]
    TileLength {
        path: PathBuf,
        width: u16,
        expected: u64,
        found: u64,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A tile file is not read: a link, not a regular file (a FIFO, a
    /// device), or behind a link.
    #[error("{path} {source}: a published directory holds its tiles itself, as regular files")]
    File {
        path: PathBuf,
        source: crate::base::files::FileError,
    },
    #[error("the tiles in {dir} do not hash to the trusted root of the tree of size {size}: at least one of them is wrong")]
    Inconsistent { dir: PathBuf, size: u64 },
    #[error("{path} does not hash to its entry in its authenticated parent tile")]
    ParentMismatch { path: PathBuf },
    /// A remote store served more than a tile of its width can be.
    #[error("{url}: a tile of width {width} is {expected} bytes; the server answered more")]
    Oversized {
        url: String,
        width: u16,
        expected: u64,
    },
    /// A remote store has no file that the tree needs.
    #[error("{url}: not found: the published directory lacks a tile its checkpoint needs")]
    Missing { url: String },
    /// A remote store did not give a file (a timeout, a status, TLS, an
    /// answer over the size limit): its error names the URL.
    #[error(transparent)]
    Remote(Box<dyn std::error::Error + Send + Sync>),
    #[error("stored hash index {index} is not in the tree of size {size}")]
    IndexNotInTree { index: u64, size: u64 },
    #[error("tile arithmetic overflows for {0}")]
    TooLarge(u64),
    #[error(transparent)]
    Merkle(#[from] MerkleError),
}

impl From<TileError> for MerkleError {
    fn from(e: TileError) -> MerkleError {
        match e {
            TileError::Merkle(m) => m,
            other => MerkleError::Backend(Box::new(other)),
        }
    }
}

/// A hash tile: `width` consecutive hashes at tree level `8 * level`,
/// starting at hash `256 * index` of that level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tile {
    level: u8,
    index: u64,
    width: u16,
}

/// An entry bundle: the entries `256 * index .. 256 * index + width`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryBundle {
    index: u64,
    width: u16,
}

/// Either kind of file under `tile/`, as parsed from a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TilePath {
    Hashes(Tile),
    Entries(EntryBundle),
}

impl Tile {
    /// A tile, if `level <= 63` and `1 <= width <= 256`.
    pub fn new(level: u8, index: u64, width: u16) -> Result<Tile, TileError> {
        if level > MAX_LEVEL || width == 0 || width > FULL_WIDTH {
            return Err(TileError::Invalid {
                level,
                index,
                width,
            });
        }
        Ok(Tile {
            level,
            index,
            width,
        })
    }

    pub fn level(&self) -> u8 {
        self.level
    }

    pub fn index(&self) -> u64 {
        self.index
    }

    pub fn width(&self) -> u16 {
        self.width
    }

    pub fn is_full(&self) -> bool {
        self.width == FULL_WIDTH
    }

    /// `tile/<L>/<N>[.p/<W>]`, relative to the log's prefix.
    pub fn path(&self) -> String {
        format!("tile/{}/{}", self.level, index_path(self.index, self.width))
    }

    /// Parses exactly what [`Tile::path`] produces, and nothing else.
    pub fn parse(path: &str) -> Result<Tile, TileError> {
        match TilePath::parse(path)? {
            TilePath::Hashes(t) => Ok(t),
            TilePath::Entries(_) => Err(TileError::BadPath(path.to_owned())),
        }
    }
}

impl EntryBundle {
    /// A bundle, if `1 <= width <= 256`.
    pub fn new(index: u64, width: u16) -> Result<EntryBundle, TileError> {
        if width == 0 || width > FULL_WIDTH {
            return Err(TileError::Invalid {
                level: 0,
                index,
                width,
            });
        }
        Ok(EntryBundle { index, width })
    }

    pub fn index(&self) -> u64 {
        self.index
    }

    pub fn width(&self) -> u16 {
        self.width
    }

    pub fn is_full(&self) -> bool {
        self.width == FULL_WIDTH
    }

    /// `tile/entries/<N>[.p/<W>]`, relative to the log's prefix.
    pub fn path(&self) -> String {
        format!("tile/entries/{}", index_path(self.index, self.width))
    }

    /// Parses exactly what [`EntryBundle::path`] produces, and nothing else.
    pub fn parse(path: &str) -> Result<EntryBundle, TileError> {
        match TilePath::parse(path)? {
            TilePath::Entries(b) => Ok(b),
            TilePath::Hashes(_) => Err(TileError::BadPath(path.to_owned())),
        }
    }

    /// [`decode_bundle`], and checks that the bundle holds exactly
    /// `width` entries.
    pub fn decode<'a>(&self, bytes: &'a [u8]) -> Result<Vec<&'a [u8]>, TileError> {
        let entries = decode_bundle(bytes)?;
        if entries.len() != usize::from(self.width) {
            return Err(TileError::BundleWidth {
                path: self.path(),
                expected: self.width,
                found: entries.len(),
            });
        }
        Ok(entries)
    }
}

impl TilePath {
    pub fn path(&self) -> String {
        match self {
            TilePath::Hashes(t) => t.path(),
            TilePath::Entries(b) => b.path(),
        }
    }

    /// Parses a tile or bundle path strictly: the result must encode back
    /// to the very same string, which rules out leading zeros, missing or
    /// extra `x` prefixes, `.p/256` and the like (Go's `ParseTilePath`
    /// makes the same round-trip check).
    pub fn parse(path: &str) -> Result<TilePath, TileError> {
        let bad = || TileError::BadPath(path.to_owned());
        let mut f: Vec<&str> = path.split('/').collect();
        if f.len() < 3 || f.first() != Some(&"tile") {
            return Err(bad());
        }
        let level = match f.get(1) {
            Some(&"entries") => None,
            Some(l) => Some(
                digits(l)
                    .and_then(|l| u8::try_from(l).ok())
                    .ok_or_else(bad)?,
            ),
            None => return Err(bad()),
        };
        let mut width = FULL_WIDTH;
        if f.len() >= 4 {
            let last = f.len() - 1;
            if let Some(group) = f.get(last - 1).and_then(|g| g.strip_suffix(".p")) {
                width = f
                    .get(last)
                    .and_then(|w| digits(w))
                    .and_then(|w| u16::try_from(w).ok())
                    .filter(|w| (1..FULL_WIDTH).contains(w))
                    .ok_or_else(bad)?;
                f[last - 1] = group;
                f.truncate(last);
            }
        }
        let mut index: u64 = 0;
        for group in f.get(2..).unwrap_or_default() {
            let group = group.strip_prefix('x').unwrap_or(group);
            if group.len() != 3 {
                return Err(bad());
            }
            let g = digits(group).ok_or_else(bad)?;
            index = index
                .checked_mul(1000)
                .and_then(|i| i.checked_add(g))
                .ok_or_else(bad)?;
        }
        let parsed = match level {
            Some(level) => TilePath::Hashes(Tile::new(level, index, width).map_err(|_| bad())?),
            None => TilePath::Entries(EntryBundle::new(index, width).map_err(|_| bad())?),
        };
        if parsed.path() != path {
            return Err(bad());
        }
        Ok(parsed)
    }
}

impl fmt::Display for Tile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

impl fmt::Display for EntryBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// A non-empty string of ASCII digits of at most 20 characters, as a u64.
/// (`str::parse` alone would also accept a leading `+`.)
fn digits(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// tlog-tiles: N in 3-digit groups, all but the last prefixed with `x`
/// (1234067 is `x001/x234/067`), then `.p/<W>` for a partial tile.
fn index_path(index: u64, width: u16) -> String {
    let mut n = index;
    let mut s = format!("{:03}", n % 1000);
    while n >= 1000 {
        n /= 1000;
        s = format!("x{:03}/{s}", n % 1000);
    }
    if width != FULL_WIDTH {
        s.push_str(&format!(".p/{width}"));
    }
    s
}

/// Go tlog `NewTiles` with height 8: the hash tiles to publish when the
/// tree grows from `old_size` to `new_size` leaves. Full tiles never change,
/// so only the full tiles completed since `old_size` and the partial tile
/// of each level at `new_size` are listed. Empty when `new_size <= old_size`.
pub fn new_tiles(old_size: u64, new_size: u64) -> Vec<Tile> {
    let mut tiles = Vec::new();
    if new_size <= old_size {
        return tiles;
    }
    for level in 0..=MAX_LEVEL {
        let shift = TILE_HEIGHT * u32::from(level);
        let new_n = new_size.checked_shr(shift).unwrap_or(0);
        if new_n == 0 {
            break;
        }
        let old_n = old_size.checked_shr(shift).unwrap_or(0);
        if old_n == new_n {
            continue;
        }
        for index in old_n / FULL..new_n / FULL {
            tiles.push(Tile {
                level,
                index,
                width: FULL_WIDTH,
            });
        }
        if let Some(t) = partial(level, new_n) {
            tiles.push(t);
        }
    }
    tiles
}

/// The partial tile at a level holding `n` hashes, if `n` is not a
/// multiple of 256. Its width is `n mod 256`, which is 1..=255.
fn partial(level: u8, n: u64) -> Option<Tile> {
    let width = u16::try_from(n % FULL).ok().filter(|&w| w > 0)?;
    Some(Tile {
        level,
        index: n / FULL,
        width,
    })
}

/// Every hash tile a server must hold for a tree of `size` leaves: all
/// full tiles and the partial tile of each level (tlog-tiles: "Partial
/// tiles MUST be served for every size that has a checkpoint").
///
/// The list has about size/255 tiles: call it with a size the caller
/// trusts (its own log), not one read from the network.
pub fn tiles_for_size(size: u64) -> Vec<Tile> {
    new_tiles(0, size)
}

/// The entry bundles to publish when the tree grows from `old_size` to
/// `new_size` leaves: they follow level 0's tiles one for one.
pub fn new_bundles(old_size: u64, new_size: u64) -> Vec<EntryBundle> {
    new_tiles(old_size, new_size)
        .into_iter()
        .filter(|t| t.level == 0)
        .map(|t| EntryBundle {
            index: t.index,
            width: t.width,
        })
        .collect()
}

/// Every entry bundle a server must hold for a tree of `size` leaves.
///
/// A list of about size/256 bundles: for a size read from outside (a
/// published checkpoint not yet authenticated) walk [`bundles_of_size`].
pub fn bundles_for_size(size: u64) -> Vec<EntryBundle> {
    new_bundles(0, size)
}

/// The entry bundles of a tree of `size` leaves, in order, each made as
/// it is reached: a size claimed by a file costs nothing until its
/// bundles are read, so a tiny checkpoint claiming 2^40 leaves fails at
/// the first bundle that is not there instead of allocating a list.
pub fn bundles_of_size(size: u64) -> impl Iterator<Item = EntryBundle> {
    let full = size / FULL;
    // size % 256 < 256, so this is exact.
    let rest = (size % FULL) as u16;
    (0..full)
        .map(|index| EntryBundle {
            index,
            width: FULL_WIDTH,
        })
        .chain((rest > 0).then_some(EntryBundle {
            index: full,
            width: rest,
        }))
}

/// The entry bundle that holds leaf `index` of a tree of `size` leaves,
/// with its width at that size; `None` if `index >= size`.
pub fn bundle_for(index: u64, size: u64) -> Option<EntryBundle> {
    if index >= size {
        return None;
    }
    let n = index / FULL;
    let width = u16::try_from((size - n * FULL).min(FULL)).ok()?;
    Some(EntryBundle { index: n, width })
}

/// The most bytes an entry bundle of `width` entries can have: each entry
/// is a 2-byte length and at most [`MAX_ENTRY_BYTES`] bytes. What a
/// reader may read of a bundle file before refusing it.
pub fn max_bundle_bytes(width: u16) -> u64 {
    u64::from(width) * (2 + MAX_ENTRY_BYTES as u64)
}

/// The stored hash index of hash `i` of `tile`.
fn tile_hash_index(tile: &Tile, i: u64) -> Result<u64, TileError> {
    let n = tile
        .index
        .checked_mul(FULL)
        .and_then(|n| n.checked_add(i))
        .ok_or(TileError::TooLarge(tile.index))?;
    Ok(merkle::stored_hash_index(
        TILE_HEIGHT * u32::from(tile.level),
        n,
    )?)
}

/// Go tlog `ReadTileData`: the tile's hashes, concatenated (32 * width
/// bytes).
pub fn tile_data<R: HashReader + ?Sized>(tile: &Tile, reader: &R) -> Result<Vec<u8>, TileError> {
    let indexes = (0..u64::from(tile.width))
        .map(|i| tile_hash_index(tile, i))
        .collect::<Result<Vec<u64>, TileError>>()?;
    let hashes = reader.read_hashes(&indexes)?;
    if hashes.len() != indexes.len() {
        return Err(MerkleError::ShortRead {
            expected: indexes.len(),
            found: hashes.len(),
        }
        .into());
    }
    Ok(hashes.concat())
}

/// tlog-tiles entry bundle: each entry as a big-endian u16 length and the
/// entry's bytes, 1 to 256 entries.
pub fn encode_bundle<E: AsRef<[u8]>>(entries: &[E]) -> Result<Vec<u8>, TileError> {
    if entries.is_empty() || entries.len() > usize::from(FULL_WIDTH) {
        return Err(TileError::BundleCount(entries.len()));
    }
    let mut out = Vec::new();
    for (index, e) in entries.iter().enumerate() {
        let e = e.as_ref();
        let len = u16::try_from(e.len()).map_err(|_| TileError::EntryTooLarge {
            index,
            len: e.len(),
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(e);
    }
    Ok(out)
}

/// Strict decoding of [`encode_bundle`]: no trailing or missing bytes, at
/// least one and at most 256 entries. The entries borrow from `bytes`, so
/// no length read from the input is ever used to allocate.
pub fn decode_bundle(bytes: &[u8]) -> Result<Vec<&[u8]>, TileError> {
    let mut entries = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let offset = bytes.len() - rest.len();
        let (len, tail) = rest
            .split_first_chunk::<2>()
            .ok_or(TileError::BundleTruncated { offset })?;
        let len = usize::from(u16::from_be_bytes(*len));
        if tail.len() < len {
            return Err(TileError::BundleTruncated { offset });
        }
        let (entry, tail) = tail.split_at(len);
        if entries.len() == usize::from(FULL_WIDTH) {
            return Err(TileError::BundleCount(entries.len() + 1));
        }
        entries.push(entry);
        rest = tail;
    }
    if entries.is_empty() {
        return Err(TileError::BundleCount(0));
    }
    Ok(entries)
}

// ---- Reading a published directory (Go tlog tile.go) ----

/// Go tlog `SplitStoredHashIndex`: the (level, n) of a stored hash index.
fn split_stored_hash_index(index: u64) -> Result<(u32, u64), TileError> {
    // stored_hash_index(0, n) < 2n, so the leaf n whose hashes include
    // `index` is in [index/2, index/2 + log2(index)].
    let mut n = index / 2;
    let mut index_n = merkle::stored_hash_index(0, n)?;
    if index_n > index {
        return Err(TileError::TooLarge(index));
    }
    loop {
        // Leaf n adds 1 + (trailing ones of n) hashes.
        let x = index_n
            .checked_add(1 + u64::from(n.trailing_ones()))
            .ok_or(TileError::TooLarge(index))?;
        if x > index {
            break;
        }
        n = n.checked_add(1).ok_or(TileError::TooLarge(index))?;
        index_n = x;
    }
    // The hash was stored with leaf n: it is (0, n), (1, n/2), (2, n/4) ...
    let level = u32::try_from(index - index_n).map_err(|_| TileError::TooLarge(index))?;
    Ok((level, n.checked_shr(level).unwrap_or(0)))
}

/// Go tlog `tileForIndex` with height 8: the narrowest tile holding the
/// stored hash `index`, and the byte range of the tile data from which it
/// is computed (a hash at a level between two tile levels is the hash of a
/// run of the lower tile's hashes).
fn tile_for_index(index: u64) -> Result<(Tile, usize, usize), TileError> {
    let too_large = || TileError::TooLarge(index);
    let (level, n) = split_stored_hash_index(index)?;
    let tile_level = level / TILE_HEIGHT;
    let within = level % TILE_HEIGHT; // level inside the tile
    let first = n
        .checked_shl(within)
        .filter(|f| f >> within == n)
        .ok_or_else(too_large)?;
    let tile_index = first / FULL;
    let n_in_tile = (first % FULL) >> within;
    let start = n_in_tile << within;
    let end = (n_in_tile + 1) << within; // <= 256
    let tile = Tile::new(
        u8::try_from(tile_level).map_err(|_| too_large())?,
        tile_index,
        u16::try_from(end).map_err(|_| too_large())?,
    )?;
    let to_bytes = |h: u64| {
        usize::try_from(h)
            .ok()
            .and_then(|h| h.checked_mul(HASH_SIZE))
            .ok_or_else(too_large)
    };
    Ok((tile, to_bytes(start)?, to_bytes(end)?))
}

/// Go tlog `tileHash`: the root of the subtree whose leaves are the
/// 2^k hashes in `data`.
fn tile_hash(data: &[u8]) -> Option<Hash> {
    if data.len() == HASH_SIZE {
        return Hash::try_from(data).ok();
    }
    if data.len() < 2 * HASH_SIZE || !data.len().is_multiple_of(2 * HASH_SIZE) {
        return None;
    }
    let (l, r) = data.split_at(data.len() / 2);
    Some(merkle::node_hash(&tile_hash(l)?, &tile_hash(r)?))
}

/// Go tlog `HashFromTile`: the hash at stored `index`, from the data of
/// `tile`, which must be the tile holding it or a wider one.
fn hash_from_tile(tile: &Tile, data: &[u8], index: u64) -> Option<Hash> {
    let (t, start, end) = tile_for_index(index).ok()?;
    if t.level != tile.level || t.index != tile.index || t.width > tile.width {
        return None;
    }
    tile_hash(data.get(start..end)?)
}

/// Go tlog `tileParent`: the tile `k` levels above `tile` in the tiles of a
/// tree of `size` leaves, with the width it has at that size; `None` if
/// the tree has no such tile.
fn tile_parent(tile: &Tile, k: u8, size: u64) -> Option<Tile> {
    let level = tile.level.checked_add(k).filter(|&l| l <= MAX_LEVEL)?;
    let index = tile
        .index
        .checked_shr(TILE_HEIGHT * u32::from(k))
        .unwrap_or(0);
    // The number of hashes at the new tile level in this tree.
    let max = size
        .checked_shr(TILE_HEIGHT * u32::from(level))
        .unwrap_or(0);
    let start = index.checked_mul(FULL)?;
    if start >= max {
        return None;
    }
    let width = u16::try_from((max - start).min(FULL)).ok()?;
    Some(Tile {
        level,
        index,
        width,
    })
}

/// A [`HashReader`] over a directory published in the tlog-tiles layout
/// (`<dir>/tile/<L>/<N>[.p/<W>]`), read through a [`TileStore`] (a local
/// [`TileDir`], or a server), for the tree of the size and root hash of a
/// checkpoint the caller has already verified.
///
/// Every call reads the tiles that make up the tree's root, checks that
/// they hash to the trusted root, then checks each further tile against
/// its authenticated parent; only then are hashes returned, so every hash
/// it returns is proven to be in the tree (Go tlog `TileHashReader`). It
/// keeps no cache.
///
/// A partial tile that the server has deleted because the full tile now
/// exists (which tlog-tiles allows) is read as the prefix of the full tile.
#[derive(Debug, Clone)]
pub struct TileHashReader<S = TileDir> {
    store: S,
    size: u64,
    root: Hash,
}

impl TileHashReader<TileDir> {
    /// A reader of the tiles in the directory `dir`.
    pub fn new(dir: impl Into<PathBuf>, size: u64, root: Hash) -> TileHashReader<TileDir> {
        TileHashReader::with_store(TileDir::new(dir), size, root)
    }
}

impl<S: TileStore> TileHashReader<S> {
    /// A reader of the tiles that `store` gives.
    pub fn with_store(store: S, size: u64, root: Hash) -> TileHashReader<S> {
        TileHashReader { store, size, root }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// Where the tiles are read from.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Reads one tile's data, of exactly 32 * width bytes, never read
    /// beyond that length (the store's limit).
    fn read_tile(&self, tile: &Tile) -> Result<Vec<u8>, TileError> {
        let expected = u64::from(tile.width) * HASH_SIZE as u64;
        match read_tile_file(&self.store, tile, expected) {
            Err(e) if e.is_not_found() && !tile.is_full() => {}
            other => return other.map_err(|e| e.into_tile_error(&self.store, tile)),
        }
        // The partial tile may be gone once the full one exists: its
        // first `width` hashes are the same.
        let full = Tile {
            width: FULL_WIDTH,
            ..*tile
        };
        let full_len = u64::from(FULL_WIDTH) * HASH_SIZE as u64;
        match read_tile_file(&self.store, &full, full_len) {
            Ok(mut data) => {
                data.truncate(usize::from(tile.width) * HASH_SIZE);
                Ok(data)
            }
            // Report the partial tile's path: that is the one that is due.
            Err(e) if e.is_not_found() => Err(e.into_tile_error(&self.store, tile)),
            Err(e) => Err(e.into_tile_error(&self.store, &full)),
        }
    }

    fn read(&self, indexes: &[u64]) -> Result<Vec<Hash>, TileError> {
        if indexes.is_empty() {
            return Ok(Vec::new());
        }
        let size = self.size;
        let end = merkle::stored_hash_index(0, size)?;
        let mut order: HashMap<Tile, usize> = HashMap::new();
        let mut tiles: Vec<Tile> = Vec::new();

        // Plan the tiles that hold the tree's perfect subtree roots: if
        // they hash to the trusted root, they are authentic.
        let stx = merkle::subtree_root_indexes(size)?;
        let mut stx_tile = Vec::with_capacity(stx.len());
        for &x in &stx {
            let (t, _, _) = tile_for_index(x)?;
            let t = tile_parent(&t, 0, size).ok_or(TileError::IndexNotInTree { index: x, size })?;
            let j = *order.entry(t).or_insert_with(|| {
                tiles.push(t);
                tiles.len() - 1
            });
            stx_tile.push(j);
        }
        // Go's tileHashReader starts authenticating children at
        // len(stx), the number of subtree roots, which is more than the
        // number of distinct root tiles whenever two roots share a tile;
        // the tiles in between would go unchecked. Count the tiles.
        let root_tiles = tiles.len();

        // Plan the tiles holding the indexes, with the chain of parents
        // up to one already planned, which authenticates them.
        let mut index_tile = Vec::with_capacity(indexes.len());
        for &x in indexes {
            if x >= end {
                return Err(TileError::IndexNotInTree { index: x, size });
            }
            let (t, _, _) = tile_for_index(x)?;
            let mut k = 0u8;
            let found = loop {
                let p =
                    tile_parent(&t, k, size).ok_or(TileError::IndexNotInTree { index: x, size })?;
                if let Some(&j) = order.get(&p) {
                    break j;
                }
                k = k.checked_add(1).ok_or(TileError::TooLarge(x))?;
            };
            if k == 0 {
                index_tile.push(found);
                continue;
            }
            // Walk back down, planning children after their parents.
            let mut last = found;
            for k in (0..k).rev() {
                let p =
                    tile_parent(&t, k, size).ok_or(TileError::IndexNotInTree { index: x, size })?;
                if !p.is_full() {
                    // Only full tiles are hashed into the level above.
                    return Err(TileError::IndexNotInTree { index: x, size });
                }
                tiles.push(p);
                last = tiles.len() - 1;
                order.insert(p, last);
            }
            index_tile.push(last);
        }

        let data = tiles
            .iter()
            .map(|t| self.read_tile(t))
            .collect::<Result<Vec<Vec<u8>>, TileError>>()?;
        let tile_data =
            |j: usize| -> Option<(&Tile, &Vec<u8>)> { Some((tiles.get(j)?, data.get(j)?)) };

        // Authenticate the root's tiles against the trusted root.
        let inconsistent = || TileError::Inconsistent {
            dir: self.store.locate(""),
            size,
        };
        let mut parts = Vec::with_capacity(stx.len());
        for (&x, &j) in stx.iter().zip(&stx_tile) {
            let (t, d) = tile_data(j).ok_or_else(inconsistent)?;
            parts.push(hash_from_tile(t, d, x).ok_or_else(inconsistent)?);
        }
        let mut it = parts.iter().rev();
        let computed = match it.next() {
            Some(last) => it.fold(*last, |acc, left| merkle::node_hash(left, &acc)),
            None => merkle::empty_root(),
        };
        if computed != self.root {
            return Err(inconsistent());
        }

        // Then every other tile against its (earlier, authenticated) parent.
        for (i, t) in tiles.iter().enumerate().skip(root_tiles) {
            let mismatch = || TileError::ParentMismatch {
                path: self.store.locate(&t.path()),
            };
            let p = tile_parent(t, 1, size).ok_or_else(mismatch)?;
            let j = *order.get(&p).ok_or_else(mismatch)?;
            let (pt, pd) = tile_data(j).ok_or_else(mismatch)?;
            let x = merkle::stored_hash_index(TILE_HEIGHT * u32::from(pt.level), t.index)?;
            let want = hash_from_tile(pt, pd, x).ok_or_else(mismatch)?;
            let d = data.get(i).ok_or_else(mismatch)?;
            if tile_hash(d) != Some(want) {
                return Err(mismatch());
            }
        }

        indexes
            .iter()
            .zip(&index_tile)
            .map(|(&x, &j)| {
                let (t, d) = tile_data(j).ok_or(TileError::IndexNotInTree { index: x, size })?;
                hash_from_tile(t, d, x).ok_or(TileError::IndexNotInTree { index: x, size })
            })
            .collect()
    }
}

impl<S: TileStore> HashReader for TileHashReader<S> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, MerkleError> {
        Ok(self.read(indexes)?)
    }
}

/// Where the files of a tile directory (tlog-tiles paths: `checkpoint`,
/// `tile/...`) are read from. A store reads one file of at most `limit`
/// bytes and never more; it authenticates nothing (that is the reader's
/// work).
pub trait TileStore {
    /// The file `rel`, of at most `limit` bytes.
    fn read(&self, rel: &str, limit: u64) -> Result<Vec<u8>, StoreError>;
    /// Where `rel` is, for messages: a path, or a URL held as one.
    fn locate(&self, rel: &str) -> PathBuf;
}

/// Why a [`TileStore`] did not give a file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A remote store has no such file (HTTP 404).
    #[error("not found")]
    NotFound,
    /// A local file is missing, refused or unreadable ([`crate::base::files`]).
    #[error(transparent)]
    File(crate::base::files::FileError),
    /// A remote store answered with more than `limit` bytes for the file:
    /// what it serves, not how (the reader read no further).
    #[error("answered more than {limit} bytes")]
    TooLarge { limit: u64 },
    /// A remote store failed: its error names the URL and what happened.
    #[error(transparent)]
    Remote(Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// Whether the store has no such file (a caller may have a fallback).
    pub fn is_not_found(&self) -> bool {
        match self {
            StoreError::NotFound => true,
            StoreError::File(e) => e.is_not_found(),
            StoreError::TooLarge { .. } | StoreError::Remote(_) => false,
        }
    }
}

/// A local directory as a [`TileStore`]: only regular files inside it
/// are read, no link followed, none beyond its limit
/// ([`crate::base::files::read_in`]).
#[derive(Debug, Clone)]
pub struct TileDir(PathBuf);

impl TileDir {
    pub fn new(dir: impl Into<PathBuf>) -> TileDir {
        TileDir(dir.into())
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl TileStore for TileDir {
    fn read(&self, rel: &str, limit: u64) -> Result<Vec<u8>, StoreError> {
        crate::base::files::read_in(&self.0, rel, limit).map_err(StoreError::File)
    }

    fn locate(&self, rel: &str) -> PathBuf {
        match rel {
            "" => self.0.clone(),
            rel => self.0.join(rel),
        }
    }
}

/// Why a tile file was not read, before its path is attached.
enum TileRead {
    Store(StoreError),
    Length { expected: u64, found: u64 },
}

impl TileRead {
    fn is_not_found(&self) -> bool {
        matches!(self, TileRead::Store(e) if e.is_not_found())
    }

    fn into_tile_error<S: TileStore + ?Sized>(self, store: &S, tile: &Tile) -> TileError {
        use crate::base::files::FileError;
        let path = store.locate(&tile.path());
        match self {
            TileRead::Store(StoreError::File(FileError::Io(source))) => {
                TileError::Io { path, source }
            }
            TileRead::Store(StoreError::File(source)) => TileError::File { path, source },
            TileRead::Store(StoreError::NotFound) => TileError::Missing {
                url: path.display().to_string(),
            },
            TileRead::Store(StoreError::Remote(e)) => TileError::Remote(e),
            TileRead::Store(StoreError::TooLarge { limit }) => TileError::Oversized {
                url: path.display().to_string(),
                width: tile.width,
                expected: limit,
            },
            TileRead::Length { expected, found } => TileError::TileLength {
                path,
                width: tile.width,
                expected,
                found,
            },
        }
    }
}

/// Reads the store's file of `tile`, which must be exactly `expected`
/// bytes: refused by its length before a larger one (a sparse file, a
/// planted huge one, an endless answer) is read.
fn read_tile_file<S: TileStore + ?Sized>(
    store: &S,
    tile: &Tile,
    expected: u64,
) -> Result<Vec<u8>, TileRead> {
    use crate::base::files::FileError;
    let data = store.read(&tile.path(), expected).map_err(|e| match e {
        StoreError::File(FileError::TooLarge { len, .. }) => TileRead::Length {
            expected,
            found: len,
        },
        other => TileRead::Store(other),
    })?;
    if data.len() as u64 != expected {
        return Err(TileRead::Length {
            expected,
            found: data.len() as u64,
        });
    }
    Ok(data)
}

/// Reads the tile `tile` of the published directory `dir` (exactly 32 ×
/// width bytes, a regular file inside `dir`), for a caller that checks it
/// against hashes of its own.
pub fn read_tile(dir: &Path, tile: &Tile) -> Result<Vec<u8>, TileError> {
    let expected = u64::from(tile.width) * HASH_SIZE as u64;
    let store = TileDir::new(dir);
    read_tile_file(&store, tile, expected).map_err(|e| e.into_tile_error(&store, tile))
}
