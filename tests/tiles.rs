//! tlog-tiles publication (src/tiles.rs): paths, which tiles a size needs,
//! tile and bundle bytes, and proofs computed from a published directory.

use std::fs;
use std::path::Path;

use ledger::tlog::merkle::{
    leaf_hash, node_hash, prove_consistency, prove_inclusion, stored_hash_index, stored_hashes,
    tree_hash, verify_consistency, verify_inclusion, Hash, HashReader, MerkleError,
};
use ledger::tlog::tiles::{
    bundles_for_size, decode_bundle, encode_bundle, new_bundles, new_tiles, tile_data,
    tiles_for_size, EntryBundle, Tile, TileError, TileHashReader, TilePath, MAX_ENTRY_BYTES,
};

fn tile(level: u8, index: u64, width: u16) -> Tile {
    Tile::new(level, index, width).unwrap()
}

#[test]
fn paths_follow_the_spec() {
    let cases = [
        (tile(0, 0, 256), "tile/0/000"),
        (tile(0, 1234067, 256), "tile/0/x001/x234/067"),
        (tile(0, 1234067, 1), "tile/0/x001/x234/067.p/1"),
        (tile(2, 999, 255), "tile/2/999.p/255"),
        (tile(1, 1000, 17), "tile/1/x001/000.p/17"),
        (tile(63, 5, 256), "tile/63/005"),
        (
            tile(7, u64::MAX, 256),
            "tile/7/x018/x446/x744/x073/x709/x551/615",
        ),
    ];
    for (t, path) in cases {
        assert_eq!(t.path(), path);
        assert_eq!(t.to_string(), path);
        assert_eq!(Tile::parse(path).unwrap(), t, "{path}");
        assert_eq!(TilePath::parse(path).unwrap(), TilePath::Hashes(t));
        assert!(EntryBundle::parse(path).is_err());
    }
    let b = EntryBundle::new(1234067, 112).unwrap();
    assert_eq!(b.path(), "tile/entries/x001/x234/067.p/112");
    assert_eq!(EntryBundle::parse(&b.path()).unwrap(), b);
    assert!(Tile::parse(&b.path()).is_err());
    let b = EntryBundle::new(3, 256).unwrap();
    assert_eq!(b.path(), "tile/entries/003");
    assert_eq!(
        TilePath::parse("tile/entries/003").unwrap(),
        TilePath::Entries(b)
    );
}

#[test]
fn path_parsing_is_strict() {
    let rejects = [
        "",
        "tile",
        "tile/0",
        "tile/0/",
        "/tile/0/000",
        "tiles/0/000",
        "tile/0/000/",
        "tile/0/0",
        "tile/0/00",
        "tile/0/0000",
        "tile/0/1234067",
        "tile/0/x001/x234/67",
        "tile/0/x001/234/067",
        "tile/0/001/x234/067",
        "tile/0/x001/x234/x067",
        "tile/0/x000/001",
        "tile/0/x01a/000",
        "tile/0/+12",
        "tile/0/-12",
        "tile/00/000",
        "tile/01/000",
        "tile/+1/000",
        "tile/64/000",
        "tile/256/000",
        "tile/-1/000",
        "tile/data/000",
        "tile/8/0/000",
        "tile/0/000.p/0",
        "tile/0/000.p/256",
        "tile/0/000.p/05",
        "tile/0/000.p/+5",
        "tile/0/000.p/",
        "tile/0/000.p",
        "tile/0/000.p/5/",
        "tile/0/000.p/5.p/5",
        "tile/0/.p/5",
        "tile/0/000.P/5",
        "tile/entries/",
        "tile/entries/000.p/256",
        "tile/entries/000.p/00",
        "tile/entries/x000/000",
        "tile/0/x018/x446/x744/x073/x709/x551/616",
        "tile/0/x999/x999/x999/x999/x999/x999/x999/999",
        "tile\\0\\000",
        "tile/0/000\n",
        "tile/0/ 000",
        "tile/0/٣٣٣",
    ];
    for path in rejects {
        assert!(
            matches!(TilePath::parse(path), Err(TileError::BadPath(p)) if p == path),
            "{path:?} accepted"
        );
    }
    assert!(Tile::new(64, 0, 1).is_err());
    assert!(Tile::new(0, 0, 0).is_err());
    assert!(Tile::new(0, 0, 257).is_err());
    assert!(EntryBundle::new(0, 0).is_err());
}

#[test]
fn the_spec_example_size_70000() {
    let tiles = tiles_for_size(70_000);
    let count = |level: u8, full: bool| {
        tiles
            .iter()
            .filter(|t| t.level() == level && t.is_full() == full)
            .count()
    };
    assert_eq!(count(0, true), 273);
    assert_eq!(count(1, true), 1);
    assert_eq!(count(2, true), 0);
    let partials: Vec<(u8, u64, u16)> = tiles
        .iter()
        .filter(|t| !t.is_full())
        .map(|t| (t.level(), t.index(), t.width()))
        .collect();
    assert_eq!(partials, [(0, 273, 112), (1, 1, 17), (2, 0, 1)]);
    assert_eq!(tiles.len(), 273 + 1 + 3);
    assert!(tiles.iter().all(|t| t.level() <= 2));
    // Full tiles are 0..273 at level 0 and 0 at level 1, in order.
    let l0: Vec<u64> = tiles
        .iter()
        .filter(|t| t.level() == 0 && t.is_full())
        .map(|t| t.index())
        .collect();
    assert_eq!(l0, (0..273).collect::<Vec<_>>());

    let bundles = bundles_for_size(70_000);
    assert_eq!(bundles.len(), 274);
    assert_eq!(bundles.iter().filter(|b| b.is_full()).count(), 273);
    assert_eq!(bundles.last().unwrap().path(), "tile/entries/273.p/112");

    assert!(tiles_for_size(0).is_empty());
    assert_eq!(tiles_for_size(1), [tile(0, 0, 1)]);
    assert_eq!(tiles_for_size(256), [tile(0, 0, 256), tile(1, 0, 1)]);
    // The largest trees do not overflow: 8 levels of partial tiles.
    // Only level 0 changes from 2^64 - 2 to 2^64 - 1 leaves...
    assert_eq!(
        new_tiles(u64::MAX - 1, u64::MAX),
        [tile(0, (1 << 56) - 1, 255)]
    );
    // ... while reaching 2^56 completes a full tile at each of levels 0-6
    // and starts level 7.
    let carry = new_tiles((1 << 56) - 1, 1 << 56);
    let expected: Vec<Tile> = (0..7u8)
        .map(|l| tile(l, (1 << (48 - 8 * u32::from(l))) - 1, 256))
        .chain([tile(7, 0, 1)])
        .collect();
    assert_eq!(carry, expected);
}

#[test]
fn new_tiles_are_exactly_the_tiles_that_changed() {
    let sizes: Vec<u64> = (0..=600)
        .chain([65_535, 65_536, 65_537, 70_000, 131_072])
        .collect();
    let mut pairs = 0;
    for (i, &old) in sizes.iter().enumerate() {
        for &new in sizes.iter().skip(i).step_by(7) {
            let before: std::collections::HashSet<Tile> = tiles_for_size(old).into_iter().collect();
            let expected: Vec<Tile> = tiles_for_size(new)
                .into_iter()
                .filter(|t| !before.contains(t))
                .collect();
            let mut got = new_tiles(old, new);
            let mut expected = expected;
            got.sort();
            expected.sort();
            assert_eq!(got, expected, "{old} -> {new}");
            let bundles = new_bundles(old, new);
            assert_eq!(bundles.len(), got.iter().filter(|t| t.level() == 0).count());
            pairs += 1;
        }
    }
    assert!(pairs > 20_000);
    assert!(new_tiles(10, 5).is_empty());
    // Publishing leaf by leaf, a full tile is produced exactly once.
    let mut full = std::collections::HashSet::new();
    for size in 0..70_000u64 {
        for t in new_tiles(size, size + 1) {
            if t.is_full() {
                assert!(full.insert(t), "{t} published twice");
            }
        }
    }
    assert_eq!(full.len(), 274);
}

// ---- A published directory ----

/// A log of `n` entries, entry i being "entry <i>" padded to i % 50 bytes
/// more, its stored hashes, and its leaf hashes.
struct Log {
    entries: Vec<Vec<u8>>,
    stored: Vec<Hash>,
}

impl Log {
    fn new(n: u64) -> Log {
        let mut entries = Vec::new();
        let mut stored = Vec::new();
        for i in 0..n {
            let mut e = format!("entry {i}").into_bytes();
            e.resize(e.len() + (i % 50) as usize, b'.');
            stored.extend(stored_hashes(i, leaf_hash(&e), &stored).unwrap());
            entries.push(e);
        }
        Log { entries, stored }
    }

    fn root(&self, size: u64) -> Hash {
        tree_hash(size, &self.stored).unwrap()
    }

    /// What a publisher does when its tree grows from `old` to `new`.
    fn publish(&self, dir: &Path, old: u64, new: u64) {
        for t in new_tiles(old, new) {
            let path = dir.join(t.path());
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, tile_data(&t, &self.stored).unwrap()).unwrap();
        }
        for b in new_bundles(old, new) {
            let first = (b.index() * 256) as usize;
            let entries = &self.entries[first..first + usize::from(b.width())];
            let path = dir.join(b.path());
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, encode_bundle(entries).unwrap()).unwrap();
        }
    }
}

#[test]
fn tile_data_is_the_stored_hashes_and_hashes_up_to_the_root() {
    let log = Log::new(70_000);
    for t in tiles_for_size(70_000) {
        let data = tile_data(&t, &log.stored).unwrap();
        assert_eq!(data.len(), 32 * usize::from(t.width()));
        let hashes: Vec<Hash> = data.chunks(32).map(|c| c.try_into().unwrap()).collect();
        for (i, h) in hashes.iter().enumerate() {
            let n = t.index() * 256 + i as u64;
            if t.level() == 0 {
                assert_eq!(*h, leaf_hash(&log.entries[n as usize]));
            }
            // Hash i is the root of leaves [n * 256^L, (n+1) * 256^L).
            let span = 1u64 << (8 * t.level());
            let expected = subtree(&log.entries, n * span, (n + 1) * span);
            assert_eq!(*h, expected, "{t} hash {i}");
        }
    }
    // The root of a tree from its tiles alone: level-0 partial and the
    // full tiles' roots (= level-1 hashes), and so on up.
    let l1 = tile_data(&tile(1, 1, 17), &log.stored).unwrap();
    let l1_first = tile_data(&tile(1, 0, 256), &log.stored).unwrap();
    assert_eq!(
        &l1_first[32..64],
        &subtree_root(&tile_data(&tile(0, 1, 256), &log.stored).unwrap())
    );
    assert_eq!(l1.len(), 17 * 32);
}

/// RFC 6962 MTH over entries [lo, hi), independently of src/merkle.rs.
fn subtree(entries: &[Vec<u8>], lo: u64, hi: u64) -> Hash {
    if hi - lo == 1 {
        return leaf_hash(&entries[lo as usize]);
    }
    let mut k = 1;
    while k * 2 < hi - lo {
        k *= 2;
    }
    node_hash(&subtree(entries, lo, lo + k), &subtree(entries, lo + k, hi))
}

/// The root of the perfect tree whose leaves are the hashes in `data`.
fn subtree_root(data: &[u8]) -> Hash {
    if data.len() == 32 {
        return data.try_into().unwrap();
    }
    let (l, r) = data.split_at(data.len() / 2);
    node_hash(&subtree_root(l), &subtree_root(r))
}

#[test]
fn bundles_round_trip_and_hash_to_level_0_tiles() {
    let log = Log::new(600);
    for b in bundles_for_size(600) {
        let first = (b.index() * 256) as usize;
        let entries = &log.entries[first..first + usize::from(b.width())];
        let bytes = encode_bundle(entries).unwrap();
        let decoded = b.decode(&bytes).unwrap();
        assert_eq!(
            decoded,
            entries.iter().map(|e| e.as_slice()).collect::<Vec<_>>()
        );
        let t = tile(0, b.index(), b.width());
        let hashes: Vec<u8> = decoded.iter().flat_map(|e| leaf_hash(e)).collect();
        assert_eq!(hashes, tile_data(&t, &log.stored).unwrap());
    }
}

#[test]
fn bundle_encoding_is_strict() {
    let max = vec![0xaa; MAX_ENTRY_BYTES];
    let empty: &[u8] = &[];
    let bytes = encode_bundle(&[empty, &max[..], b"x"]).unwrap();
    assert_eq!(&bytes[..4], &[0, 0, 0xff, 0xff]);
    assert_eq!(bytes.len(), 2 + 2 + MAX_ENTRY_BYTES + 2 + 1);
    assert_eq!(decode_bundle(&bytes).unwrap(), [empty, &max[..], b"x"]);

    let too_big = vec![0; MAX_ENTRY_BYTES + 1];
    assert!(matches!(
        encode_bundle(&[&b"ok"[..], &too_big[..]]),
        Err(TileError::EntryTooLarge {
            index: 1,
            len: 65_536
        })
    ));
    assert!(matches!(
        encode_bundle::<&[u8]>(&[]),
        Err(TileError::BundleCount(0))
    ));
    let many = vec![b"e".to_vec(); 257];
    assert!(matches!(
        encode_bundle(&many),
        Err(TileError::BundleCount(257))
    ));
    let full = encode_bundle(&many[..256]).unwrap();
    assert_eq!(decode_bundle(&full).unwrap().len(), 256);

    // One record too many, even an empty one.
    let mut over = full.clone();
    over.extend_from_slice(&[0, 0]);
    assert!(matches!(
        decode_bundle(&over),
        Err(TileError::BundleCount(257))
    ));
    assert!(matches!(decode_bundle(&[]), Err(TileError::BundleCount(0))));
    // Every truncation and every single trailing byte is refused.
    let bytes = encode_bundle(&[&b"abc"[..], b"", b"defgh"]).unwrap();
    for len in 1..bytes.len() {
        let cut = &bytes[..len];
        // Cuts that fall on a record boundary decode to fewer entries.
        match decode_bundle(cut) {
            Ok(entries) => assert!(len == 5 || len == 7, "cut at {len}: {entries:?}"),
            Err(TileError::BundleTruncated { .. }) => {}
            Err(e) => panic!("cut at {len}: {e}"),
        }
    }
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(matches!(
        decode_bundle(&trailing),
        Err(TileError::BundleTruncated { offset: 14 })
    ));
    // The width check catches whole extra or missing records.
    let b = EntryBundle::new(0, 3).unwrap();
    assert_eq!(b.decode(&bytes).unwrap().len(), 3);
    assert!(matches!(
        b.decode(&bytes[..7]),
        Err(TileError::BundleWidth {
            expected: 3,
            found: 2,
            ..
        })
    ));
    // A length prefix that points past the end is not trusted.
    assert!(matches!(
        decode_bundle(&[0xff, 0xff, 1, 2, 3]),
        Err(TileError::BundleTruncated { offset: 0 })
    ));
}

fn published(log: &Log, sizes: &[u64]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut old = 0;
    for &s in sizes {
        log.publish(dir.path(), old, s);
        old = s;
    }
    dir
}

#[test]
fn proofs_from_a_published_directory_match_the_in_memory_ones() {
    let log = Log::new(1000);
    // Published as it grew, keeping the old partial tiles.
    let steps = [1, 2, 255, 256, 257, 300, 511, 513, 700, 1000];
    let dir = published(&log, &steps);
    let mut proofs = 0;
    for &size in &steps {
        let reader = TileHashReader::new(dir.path(), size, log.root(size));
        assert_eq!(tree_hash(size, &reader).unwrap(), log.root(size));
        let step = if size > 300 { 37 } else { 1 };
        for index in (0..size).step_by(step).chain([size - 1]) {
            let from_tiles = prove_inclusion(size, index, &reader).unwrap();
            assert_eq!(
                from_tiles,
                prove_inclusion(size, index, &log.stored).unwrap()
            );
            let leaf = leaf_hash(&log.entries[index as usize]);
            verify_inclusion(index, size, &leaf, &from_tiles, &log.root(size)).unwrap();
            proofs += 1;
        }
        for &old in steps.iter().filter(|&&o| o <= size) {
            let from_tiles = prove_consistency(old, size, &reader).unwrap();
            assert_eq!(
                from_tiles,
                prove_consistency(old, size, &log.stored).unwrap()
            );
            verify_consistency(old, size, &log.root(old), &log.root(size), &from_tiles).unwrap();
            proofs += 1;
        }
        // Every stored hash of the tree, read one at a time and all at once.
        let all: Vec<u64> = (0..stored_hash_index(0, size).unwrap()).collect();
        assert_eq!(reader.read_hashes(&all).unwrap(), log.stored[..all.len()]);
    }
    assert!(proofs > 600, "{proofs}");
}

#[test]
fn a_tree_with_three_tile_levels() {
    let log = Log::new(70_000);
    let dir = published(&log, &[65_535, 65_536, 70_000]);
    for size in [65_535, 65_536, 70_000] {
        let reader = TileHashReader::new(dir.path(), size, log.root(size));
        assert_eq!(tree_hash(size, &reader).unwrap(), log.root(size));
        for index in [0, 255, 256, 65_535 - 1, size - 1] {
            assert_eq!(
                prove_inclusion(size, index, &reader).unwrap(),
                prove_inclusion(size, index, &log.stored).unwrap(),
                "{index} of {size}"
            );
        }
        for old in [1, 256, 65_535] {
            assert_eq!(
                prove_consistency(old, size, &reader).unwrap(),
                prove_consistency(old, size, &log.stored).unwrap()
            );
        }
    }
}

#[test]
fn deleted_partials_are_read_from_the_full_tile() {
    let log = Log::new(600);
    let dir = published(&log, &[100, 600]);
    // tlog-tiles: partials MAY be deleted once the full tile exists.
    fs::remove_file(dir.path().join("tile/0/000.p/100")).unwrap();
    let reader = TileHashReader::new(dir.path(), 100, log.root(100));
    assert_eq!(
        prove_inclusion(100, 42, &reader).unwrap(),
        prove_inclusion(100, 42, &log.stored).unwrap()
    );
    // A partial that is due and has no full tile is reported by its path.
    fs::remove_file(dir.path().join("tile/0/002.p/88")).unwrap();
    let reader = TileHashReader::new(dir.path(), 600, log.root(600));
    let err = tree_hash(600, &reader).unwrap_err();
    assert!(err.to_string().contains("tile/0/002.p/88"), "{err}");
}

fn tile_error(e: MerkleError) -> TileError {
    match e {
        MerkleError::Backend(b) => *b.downcast::<TileError>().unwrap(),
        other => panic!("not a tile error: {other}"),
    }
}

fn flip(path: &Path, at: usize) {
    let mut data = fs::read(path).unwrap();
    data[at] ^= 1;
    fs::write(path, data).unwrap();
}

/// A store that is not a directory, answering as a server does: not
/// found, or more than the limit, or the file (`TileStore`, FORMAT §16.4).
struct Served(std::collections::HashMap<String, Vec<u8>>);

impl ledger::tlog::tiles::TileStore for Served {
    fn read(&self, rel: &str, limit: u64) -> Result<Vec<u8>, ledger::tlog::tiles::StoreError> {
        use ledger::tlog::tiles::StoreError;
        match self.0.get(rel) {
            None => Err(StoreError::NotFound),
            Some(d) if d.len() as u64 > limit => Err(StoreError::TooLarge { limit }),
            Some(d) => Ok(d.clone()),
        }
    }

    fn locate(&self, rel: &str) -> std::path::PathBuf {
        format!("http://log.example/{rel}").into()
    }
}

#[test]
fn a_store_that_is_not_a_directory_is_read_and_checked_the_same() {
    let log = Log::new(600);
    let dir = published(&log, &[100, 600]);
    let mut files = std::collections::HashMap::new();
    for t in [
        "tile/0/000",
        "tile/0/001",
        "tile/0/002.p/88",
        "tile/1/000.p/2",
    ] {
        files.insert(t.to_owned(), fs::read(dir.path().join(t)).unwrap());
    }
    // Only full tiles at level 0 for size 100: its partial is read from
    // the full one, after a not-found.
    let reader = TileHashReader::with_store(Served(files.clone()), 100, log.root(100));
    assert_eq!(
        prove_inclusion(100, 42, &reader).unwrap(),
        prove_inclusion(100, 42, &log.stored).unwrap()
    );
    let reader = TileHashReader::with_store(Served(files.clone()), 600, log.root(600));
    for index in [0, 255, 256, 599] {
        assert_eq!(
            prove_inclusion(600, index, &reader).unwrap(),
            prove_inclusion(600, index, &log.stored).unwrap()
        );
    }
    // A tile with a flipped bit, one served too long, one missing.
    let mut bad = files.clone();
    bad.get_mut("tile/0/002.p/88").unwrap()[7] ^= 1;
    let reader = TileHashReader::with_store(Served(bad), 600, log.root(600));
    assert!(matches!(
        tile_error(prove_inclusion(600, 599, &reader).unwrap_err()),
        TileError::Inconsistent { size: 600, .. }
    ));
    let mut long = files.clone();
    long.get_mut("tile/0/002.p/88").unwrap().push(0);
    let reader = TileHashReader::with_store(Served(long), 600, log.root(600));
    match tile_error(prove_inclusion(600, 599, &reader).unwrap_err()) {
        TileError::Oversized {
            url,
            width: 88,
            expected: 2816,
        } => {
            assert_eq!(url, "http://log.example/tile/0/002.p/88")
        }
        e => panic!("{e}"),
    }
    let mut gone = files;
    gone.remove("tile/0/002.p/88");
    let reader = TileHashReader::with_store(Served(gone), 600, log.root(600));
    match tile_error(prove_inclusion(600, 599, &reader).unwrap_err()) {
        TileError::Missing { url } => assert_eq!(url, "http://log.example/tile/0/002.p/88"),
        e => panic!("{e}"),
    }
}

#[test]
fn a_tampered_root_tile_is_refused() {
    let log = Log::new(1000);
    let dir = published(&log, &[1000]);
    // Size 1000: the root is made from tile/1/000.p/3 and tile/0/003.p/232.
    flip(&dir.path().join("tile/0/003.p/232"), 5);
    let reader = TileHashReader::new(dir.path(), 1000, log.root(1000));
    assert!(matches!(
        tile_error(tree_hash(1000, &reader).unwrap_err()),
        TileError::Inconsistent { size: 1000, .. }
    ));
    assert!(prove_inclusion(1000, 900, &reader).is_err());
}

/// Size 1000's six subtree roots live in only two tiles. Go's
/// tileHashReader starts checking child tiles at index len(stx) = 6 of its
/// tile list, past the child tile/0/000 planned at index 2, so that tile's
/// hashes would be returned unchecked; ours must refuse it.
#[test]
fn a_tampered_child_tile_is_refused_even_when_roots_share_tiles() {
    let log = Log::new(1000);
    let dir = published(&log, &[1000]);
    let reader = TileHashReader::new(dir.path(), 1000, log.root(1000));
    let leaf5 = stored_hash_index(0, 5).unwrap();
    assert_eq!(
        reader.read_hashes(&[leaf5]).unwrap(),
        [log.stored[leaf5 as usize]]
    );
    flip(&dir.path().join("tile/0/000"), 5 * 32);
    match tile_error(reader.read_hashes(&[leaf5]).unwrap_err()) {
        TileError::ParentMismatch { path } => assert!(path.ends_with("tile/0/000")),
        other => panic!("{other}"),
    }
    assert!(prove_inclusion(1000, 5, &reader).is_err());
    // Proofs that need no hash from the bad tile still work.
    assert_eq!(
        prove_inclusion(1000, 999, &reader).unwrap(),
        prove_inclusion(1000, 999, &log.stored).unwrap()
    );
}

#[test]
fn wrong_root_short_tiles_and_indexes_outside_the_tree_are_refused() {
    let log = Log::new(600);
    let dir = published(&log, &[600]);
    let mut bad_root = log.root(600);
    bad_root[0] ^= 1;
    let reader = TileHashReader::new(dir.path(), 600, bad_root);
    assert!(matches!(
        tile_error(tree_hash(600, &reader).unwrap_err()),
        TileError::Inconsistent { .. }
    ));
    // The root of another size does not do either.
    let reader = TileHashReader::new(dir.path(), 600, log.root(599));
    assert!(tree_hash(600, &reader).is_err());

    let reader = TileHashReader::new(dir.path(), 600, log.root(600));
    let end = stored_hash_index(0, 600).unwrap();
    assert!(matches!(
        tile_error(reader.read_hashes(&[end]).unwrap_err()),
        TileError::IndexNotInTree { size: 600, .. }
    ));
    assert!(reader.read_hashes(&[u64::MAX]).is_err());
    assert!(reader.read_hashes(&[]).unwrap().is_empty());

    let path = dir.path().join("tile/0/001");
    let data = fs::read(&path).unwrap();
    fs::write(&path, &data[..data.len() - 1]).unwrap();
    assert!(matches!(
        tile_error(prove_inclusion(600, 300, &reader).unwrap_err()),
        TileError::TileLength {
            expected: 8192,
            found: 8191,
            ..
        }
    ));
    let mut longer = data.clone();
    longer.push(0);
    fs::write(&path, &longer).unwrap();
    assert!(matches!(
        tile_error(prove_inclusion(600, 300, &reader).unwrap_err()),
        TileError::TileLength { found: 8193, .. }
    ));
    fs::remove_file(&path).unwrap();
    assert!(matches!(
        tile_error(prove_inclusion(600, 300, &reader).unwrap_err()),
        TileError::Io { .. }
    ));

    // An empty tree has no tiles and no hashes.
    let empty = TileHashReader::new(dir.path(), 0, ledger::tlog::merkle::empty_root());
    assert_eq!(
        tree_hash(0, &empty).unwrap(),
        ledger::tlog::merkle::empty_root()
    );
    assert!(empty.read_hashes(&[0]).is_err());
}

/// The entry bundle vector of docs/FORMAT.md §16.3.
#[test]
fn draft_spec_bundle_vector() {
    let entries: [&[u8]; 4] = [b"", &[0x00], &[0x10], &[0x20, 0x21]];
    let bytes = encode_bundle(&entries).unwrap();
    assert_eq!(hex::encode(&bytes), "000000010000011000022021");
    assert_eq!(
        EntryBundle::new(0, 4).unwrap().decode(&bytes).unwrap(),
        entries
    );
    assert_eq!(
        EntryBundle::new(0, 4).unwrap().path(),
        "tile/entries/000.p/4"
    );
}
