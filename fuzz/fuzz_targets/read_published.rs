//! What `verify PUBDIR` and `check-proof` read from disk (issue 12, points
//! 3, 5 and 6): a published directory made from the sample ledger
//! (ledger/, published at its checkpoint of size 14), changed by the
//! input, and a proof bundle file. Each change replaces one file (or
//! directory) of the publication with other bytes, a bit flip, a
//! truncation, a sparse file of up to 8 GiB, a link to /dev/zero, a link
//! to a file outside the directory, a FIFO, a directory, or nothing.
//!
//! Besides "no panic, no hang, allocation bounded" (the counting
//! allocator refuses any single allocation over 64 MiB), the verdict is
//! checked: a publication that `verify` accepts has exactly as many
//! events as its checkpoint's size, and their tree's root is the
//! checkpoint's root; a bundle `check-proof` accepts is for an event that
//! the sample holds at that index.
#![no_main]

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use ledger::core::format::LogReader;
use ledger::core::trust::TrustedKey;
use ledger::proofs::{audit, bundle, checkpoint, publish, published::AuditDir};
use ledger::tlog::merkle::{self, Hash};
use ledger::tlog::note::{Checkpoint, Note};
use ledger::tlog::tiles;
use libfuzzer_sys::fuzz_target;

ledger_fuzz::counting_allocator!();

#[derive(Arbitrary, Debug)]
enum Content {
    Bytes(Vec<u8>),
    Flip { at: u16, mask: u8 },
    Truncate(u16),
    /// A sparse file of 2^(n mod 34) bytes: no disk, up to 8 GiB.
    Sparse(u8),
    LinkToZero,
    LinkOutside,
    Fifo,
    Directory,
    Remove,
}

#[derive(Arbitrary, Debug)]
struct Edit {
    target: u8,
    content: Content,
}

#[derive(Arbitrary, Debug)]
struct Plan {
    edits: Vec<Edit>,
    event: u16,
    bundle: Option<Content>,
}

/// The untouched publication, the sample's trusted keys, and a good
/// inclusion bundle of event 5.
struct Base {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    outside: PathBuf,
    files: Vec<String>,
    trusted: Vec<TrustedKey>,
    good_bundle: Vec<u8>,
    events: Vec<Vec<u8>>,
}

fn write(path: &Path, bytes: &[u8]) {
    fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    fs::write(path, bytes).expect("write");
}

fn base() -> &'static Base {
    static B: OnceLock<Base> = OnceLock::new();
    B.get_or_init(|| {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("pub");
        let cp = fs::read(repo.join("ledger/checkpoints/14")).expect("the sample's checkpoint");
        let log = fs::read(repo.join("ledger/events.cbor")).expect("the sample ledger");
        let mut events = Vec::new();
        let mut rd = LogReader::new(log.as_slice());
        while let Some(_item) = rd.next_event().expect("the sample reads") {
            events.push(rd.last_bytes().to_vec());
        }
        events.truncate(14);
        let mut stored: Vec<Hash> = Vec::new();
        for (i, e) in events.iter().enumerate() {
            let more = merkle::stored_hashes(i as u64, merkle::leaf_hash(e), &stored)
                .expect("stored hashes");
            stored.extend(more);
        }
        for t in tiles::tiles_for_size(14) {
            write(&dir.join(t.path()), &tiles::tile_data(&t, &stored).expect("tile"));
        }
        for b in tiles::bundles_for_size(14) {
            let first = (b.index() * 256) as usize;
            let entries = &events[first..first + usize::from(b.width())];
            write(&dir.join(b.path()), &tiles::encode_bundle(entries).expect("bundle"));
        }
        write(&dir.join(publish::CHECKPOINT_FILE), &cp);
        for d in fs::read_dir(repo.join("ledger/docs")).expect("docs") {
            let d = d.expect("doc");
            write(
                &dir.join("docs").join(d.file_name()),
                &fs::read(d.path()).expect("read doc"),
            );
        }
        let outside = tmp.path().join("outside");
        fs::write(&outside, &cp).expect("outside");
        let mut files = Vec::new();
        collect(&dir, "", &mut files);
        files.extend(["tile", "tile/0", "tile/entries", "docs"].map(String::from));
        files.sort();
        let trusted =
            ledger::core::trust::load_bound(&[repo.join("keys")]).expect("the sample's keys");
        let good_bundle = publish::bundle_from_published(&dir, 5, &trusted)
            .expect("a bundle of the untouched publication")
            .encode();
        Base {
            _tmp: tmp,
            dir,
            outside,
            files,
            trusted,
            good_bundle,
            events,
        }
    })
}

fn collect(root: &Path, rel: &str, out: &mut Vec<String>) {
    for e in fs::read_dir(root.join(rel)).expect("read_dir") {
        let e = e.expect("entry");
        let name = e.file_name().to_string_lossy().into_owned();
        let r = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        if e.file_type().expect("type").is_dir() {
            collect(root, &r, out);
        } else {
            out.push(r);
        }
    }
}

fn copy(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for e in fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let t = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy(&e.path(), &t);
        } else {
            fs::copy(e.path(), t).expect("copy");
        }
    }
}

/// Puts `content` at `path`, in place of what was there.
fn apply(path: &Path, content: &Content, outside: &Path) {
    // Only a regular file's old bytes: reading a FIFO an earlier edit
    // made would wait for a writer.
    let regular = fs::symlink_metadata(path).is_ok_and(|m| m.is_file());
    let old = if regular {
        fs::read(path).unwrap_or_default()
    } else {
        Vec::new()
    };
    if fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        let _ = fs::remove_dir_all(path);
    } else {
        let _ = fs::remove_file(path);
    }
    let _ = fs::create_dir_all(path.parent().expect("a parent"));
    let _ = match content {
        Content::Bytes(b) => fs::write(path, b),
        Content::Flip { at, mask } => {
            let mut b = old;
            if !b.is_empty() {
                let i = usize::from(*at) % b.len();
                b[i] ^= mask;
            }
            fs::write(path, b)
        }
        Content::Truncate(n) => fs::write(path, &old[..usize::from(*n).min(old.len())]),
        Content::Sparse(n) => {
            fs::File::create(path).and_then(|f| f.set_len(1u64 << (u32::from(*n) % 34)))
        }
        Content::LinkToZero => symlink("/dev/zero", path),
        Content::LinkOutside => symlink(outside, path),
        Content::Fifo => rustix::fs::mknodat(
            rustix::fs::CWD,
            path,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::RUSR | rustix::fs::Mode::WUSR,
            0,
        )
        .map_err(std::io::Error::from),
        Content::Directory => fs::create_dir(path),
        Content::Remove => Ok(()),
    };
}

/// The published checkpoint, if it is a regular file that parses.
fn published_checkpoint(dir: &Path) -> Option<Checkpoint> {
    let bytes = ledger::base::files::read_in(dir, publish::CHECKPOINT_FILE, 1 << 20).ok()?;
    let note = Note::parse(&bytes).ok()?;
    Checkpoint::parse_text(note.text()).ok()
}

fuzz_target!(|plan: Plan| {
    let b = base();
    let scratch = tempfile::tempdir().expect("scratch");
    let dir = scratch.path().join("pub");
    copy(&b.dir, &dir);
    for e in plan.edits.iter().take(4) {
        let rel = &b.files[usize::from(e.target) % b.files.len()];
        apply(&dir.join(rel), &e.content, &b.outside);
    }

    // verify PUBDIR: what it accepts is exactly what the checkpoint is over.
    if let Ok(target) = AuditDir::open(&dir) {
        let options = audit::Options {
            docs: target.docs().map(Path::to_owned),
            ..audit::Options::default()
        };
        if let Ok(report) = audit::verify_with(target.path(), &options, &mut |_| {}) {
            let cp = published_checkpoint(&dir).expect("an accepted publication's checkpoint");
            assert_eq!(report.ledger.count, cp.size(), "events beyond the checkpoint");
            assert_eq!(report.tree_root, hex::encode(cp.root()), "another tree");
        }
    }

    // check-proof PUBDIR --event N.
    let size = published_checkpoint(&dir).map_or(14, |c| c.size());
    let event = u64::from(plan.event) % size.saturating_add(1).max(1);
    if let Ok(made) = publish::bundle_from_published(&dir, event, &b.trusted) {
        if bundle::check_bundle(&made.encode(), &b.trusted, None).is_ok() {
            // Nothing here can sign: what is proven is the sample's event.
            let bundle::Bundle::Inclusion { event: bytes, .. } = &made else {
                panic!("bundle_from_published made a consistency bundle");
            };
            assert_eq!(Some(bytes), b.events.get(event as usize), "a forged event");
        }
    }

    // check-proof BUNDLE: a bundle file read from disk.
    if let Some(content) = &plan.bundle {
        let path = scratch.path().join("bundle");
        fs::write(&path, &b.good_bundle).expect("bundle");
        apply(&path, content, &b.outside);
        let limit = checkpoint::MAX_BUNDLE_BYTES as u64;
        if let Ok(bytes) = ledger::base::files::read_named(&path, limit) {
            let _ = bundle::check_bundle(&bytes, &b.trusted, None);
        }
    }
});
