//! The writer never acts on a cache it did not write (issue 11, point 1;
//! RELIABILITY.md, "The writer's cache"): whatever `DIR/cache/` holds, an
//! append refuses with a message, rebuilds the cache from the log, or
//! writes an event that verify accepts, and never anything else.
//!
//! The cache's files carry an HMAC-SHA256 tag under this user's cache key,
//! kept outside the ledger (`base::mac`): an edited, foreign, swapped or
//! old file does not check and costs a rebuild. The scenarios an outside
//! tester found come first, then a property test that corrupts the cache
//! at random and in the plausible ways.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use ledger::base::crypto::SigningKey;
use ledger::core::format::{DocHash, DocId, Kind, PartyId};
use ledger::core::writer::{self, Writer};
use proptest::prelude::*;
use serde_json::json;

/// ann and bob; treaty drafted by ann at v1 and amended to v2 (both must
/// sign), plan (ann alone signs), each step by the binary, as a user does.
fn amended() -> Fx {
    let fx = Fx::with_ledger();
    fx.write("d/treaty-v1.txt", "Treaty, version 1.\n");
    fx.write("d/treaty-v2.txt", "Treaty, version 2.\n");
    fx.write("d/plan.txt", "A plan that only ann signs.\n");
    let draft = |doc: &str, file: &str, extra: &[&str]| {
        let mut a = vec!["draft", "--doc", doc, "--file", file, "--title", "T"];
        a.extend(extra);
        fx.append("ann", &a).ok();
    };
    draft("treaty", "d/treaty-v1.txt", &[]);
    draft("plan", "d/plan.txt", &["--signatory", "ann"]);
    fx.append(
        "bob",
        &["amend", "--doc", "treaty", "--file", "d/treaty-v2.txt"],
    )
    .ok();
    fx
}

fn hash_of(fx: &Fx, file: &str) -> String {
    sha256_hex(&fx.read(file))
}

/// The cache's bucket file holding document `id`'s entry.
fn bucket(dir: &Path, id: &str) -> PathBuf {
    let h = sha256_hex(id.as_bytes());
    dir.join(format!("cache/entries/d/{}", &h[..3]))
}

/// Edits a cache file's bytes after its tag line, as someone without the
/// user's key would: the tag is left as it was.
fn edit_untagged(path: &Path, from: &str, to: &str) {
    let b = fs::read(path).unwrap();
    let text = String::from_utf8(b).unwrap();
    assert!(text.contains(from), "{from} in {}", path.display());
    fs::write(path, text.replace(from, to)).unwrap();
}

/// The outside tester's case: after `amend treaty` to v2, the cached
/// current version edited back to v1's made `ledger sign --doc treaty` sign
/// the superseded v1 (exit 0), and the ledger then failed verification.
#[test]
fn an_edited_cache_entry_cannot_make_sign_sign_a_superseded_version() {
    let fx = amended();
    let (v1, v2) = (
        hash_of(&fx, "d/treaty-v1.txt"),
        hash_of(&fx, "d/treaty-v2.txt"),
    );
    edit_untagged(&bucket(&fx.p("led"), "treaty"), &v2, &v1);
    let r = fx.append("ann", &["sign", "--doc", "treaty"]);
    r.ok();
    let j = fx.report();
    let treaty = &j["documents"][1];
    assert_eq!(treaty["id"], json!("treaty"), "{j}");
    assert_eq!(treaty["version"], json!(v2), "signed the current version");
    assert_eq!(treaty["signed_by"][0]["party"], json!("ann"));
}

/// The other direction: a cache saying "ann already signed" made ann's
/// legitimate signature fail.
#[test]
fn a_cache_saying_already_signed_does_not_block_a_legitimate_sign() {
    let fx = amended();
    let path = bucket(&fx.p("led"), "treaty");
    let text = String::from_utf8(fs::read(&path).unwrap()).unwrap();
    let (tag, json) = text.split_at(65);
    let mut entries: serde_json::Value = serde_json::from_str(json).unwrap();
    let signatures = entries["treaty"]["current"]["signatures"]
        .as_array_mut()
        .expect("the current version's signatures, as [party, event] pairs");
    assert!(signatures.is_empty(), "{signatures:?}");
    signatures.push(json!(["ann", 5]));
    fs::write(
        &path,
        format!("{tag}{}", serde_json::to_string(&entries).unwrap()),
    )
    .unwrap();
    fx.append("ann", &["sign", "--doc", "treaty"]).ok();
    fx.append("bob", &["sign", "--doc", "treaty"]).ok();
    let j = fx.report();
    assert_eq!(j["documents"][1]["status"], json!("executed"), "{j}");
}

/// An old copy of a bucket, validly tagged when it was written, is not
/// taken for the current one: the head names the version each bucket must
/// be read at.
#[test]
fn an_old_copy_of_a_bucket_is_not_taken_for_the_current_one() {
    let fx = amended();
    let path = bucket(&fx.p("led"), "treaty");
    let old = fs::read(&path).unwrap();
    fx.append("ann", &["sign", "--doc", "treaty"]).ok();
    fs::write(&path, &old).unwrap();
    let log = fx.read("led/events.cbor");
    // Were the old bucket believed, ann could sign twice.
    let r = fx.append("ann", &["sign", "--doc", "treaty"]);
    assert_ne!(r.code, Some(0), "{r}");
    assert!(r.stderr.contains("already signed"), "{r}");
    assert_eq!(message_problem(&r.stderr), None, "{r}");
    assert_eq!(fx.read("led/events.cbor"), log, "nothing written");
    fx.append("bob", &["sign", "--doc", "treaty"]).ok();
    assert_eq!(fx.report()["documents"][1]["status"], json!("executed"));
}

/// Another ledger's cache (written by the same user, so validly tagged
/// for that ledger) and two buckets swapped are rebuilt, not believed.
#[test]
fn a_foreign_cache_or_swapped_buckets_are_rebuilt() {
    let fx = amended();
    let other = amended();
    other.append("ann", &["sign", "--doc", "treaty"]).ok();
    // The other ledger's treaty bucket says ann signed; this one's not.
    fs::copy(
        bucket(&other.p("led"), "treaty"),
        bucket(&fx.p("led"), "treaty"),
    )
    .unwrap();
    fx.append("ann", &["sign", "--doc", "treaty"]).ok();
    fx.report();
    let (a, b) = (bucket(&fx.p("led"), "treaty"), bucket(&fx.p("led"), "plan"));
    let (ba, bb) = (fs::read(&a).unwrap(), fs::read(&b).unwrap());
    fs::write(&a, bb).unwrap();
    fs::write(&b, ba).unwrap();
    fx.append("bob", &["sign", "--doc", "treaty"]).ok();
    fx.append("ann", &["sign", "--doc", "plan"]).ok();
    let j = fx.report();
    assert_eq!(j["documents"][0]["status"], json!("executed"), "{j}");
    assert_eq!(j["documents"][1]["status"], json!("executed"), "{j}");
}

// ---------------------------------------------------------------------------
// The property: any corruption, then any append, then verify
// ---------------------------------------------------------------------------

/// A template ledger made with the library: ann and bob, treaty at v2,
/// plan for ann; and another ledger's cache, written by the same user.
struct Template {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    foreign_cache: PathBuf,
    ann: SigningKey,
    bob: SigningKey,
    v1: DocHash,
    v2: DocHash,
}

fn doc(s: &str) -> DocId {
    DocId::new(s).unwrap()
}

fn build(dir: &Path, ann: &SigningKey, bob: &SigningKey) -> (DocHash, DocHash) {
    let parties = [(pid("ann"), ann.public()), (pid("bob"), bob.public())]
        .into_iter()
        .collect();
    writer::init(dir, ann, "Cache test", &parties, Some(clock(1))).unwrap();
    let mut w = Writer::open(dir).unwrap();
    let (b1, b2, b3) = (
        b"Treaty v1\n".as_slice(),
        b"Treaty v2\n".as_slice(),
        b"Plan\n".as_slice(),
    );
    let both = vec![pid("ann"), pid("bob")];
    let draft = |d: &str, b: &[u8], s: Vec<PartyId>| Kind::DocumentDrafted {
        doc: doc(d),
        sha256: DocHash::of(b),
        title: "T".into(),
        signatories: s,
    };
    w.append(ann, Some(clock(2)), draft("treaty", b1, both), Some(b1))
        .unwrap();
    w.append(
        ann,
        Some(clock(3)),
        draft("plan", b3, vec![pid("ann")]),
        Some(b3),
    )
    .unwrap();
    w.append(
        bob,
        Some(clock(4)),
        Kind::DocumentAmended {
            doc: doc("treaty"),
            sha256: DocHash::of(b2),
            notes: None,
        },
        Some(b2),
    )
    .unwrap();
    drop(w);
    (DocHash::of(b1), DocHash::of(b2))
}

fn template() -> Template {
    let tmp = tempfile::tempdir().unwrap();
    let (ann, bob) = (SigningKey::generate(), SigningKey::generate());
    let dir = tmp.path().join("led");
    let (v1, v2) = build(&dir, &ann, &bob);
    let other = tmp.path().join("other");
    build(&other, &ann, &bob);
    Template {
        foreign_cache: other.join("cache"),
        _tmp: tmp,
        dir,
        ann,
        bob,
        v1,
        v2,
    }
}

/// The files of a cache directory, relative to it, sorted.
fn cache_files(cache: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, d: &Path, out: &mut Vec<PathBuf>) {
        let Ok(rd) = fs::read_dir(d) else { return };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(cache, cache, &mut out);
    out.sort();
    out
}

/// One way of corrupting the cache. Indexes pick among the cache's files
/// (modulo their number) and positions within them.
#[derive(Debug, Clone)]
enum Damage {
    FlipByte {
        file: usize,
        at: usize,
        bit: u8,
    },
    Truncate {
        file: usize,
        at: usize,
    },
    RandomBytes {
        file: usize,
        len: usize,
        seed: u64,
    },
    Delete {
        file: usize,
    },
    SwapBuckets {
        a: usize,
        b: usize,
    },
    /// The same file as it was before the last append.
    Rollback {
        file: usize,
    },
    /// The same file from another ledger's cache.
    Foreign {
        file: usize,
    },
    /// A plausible edit of one field: a hash replaced by another one the
    /// ledger knows, or a number changed, after the tag line.
    EditField {
        file: usize,
        which: usize,
    },
}

impl Damage {
    /// The kind's name, for the tallies RELIABILITY.md records.
    fn kind(&self) -> usize {
        match self {
            Damage::FlipByte { .. } => 0,
            Damage::Truncate { .. } => 1,
            Damage::RandomBytes { .. } => 2,
            Damage::Delete { .. } => 3,
            Damage::SwapBuckets { .. } => 4,
            Damage::Rollback { .. } => 5,
            Damage::Foreign { .. } => 6,
            Damage::EditField { .. } => 7,
        }
    }
}

const DAMAGE_KINDS: [&str; 8] = [
    "flip-byte",
    "truncate",
    "random-bytes",
    "delete",
    "swap-buckets",
    "rollback",
    "foreign",
    "edit-field",
];

/// Running tallies of the property test (cases run in one process, one
/// after the other): damages of each kind, appends refused and made.
static TALLY: [std::sync::atomic::AtomicUsize; 10] =
    [const { std::sync::atomic::AtomicUsize::new(0) }; 10];

fn damage() -> impl Strategy<Value = Damage> {
    let f = 0usize..64;
    prop_oneof![
        (f.clone(), any::<usize>(), 0u8..8).prop_map(|(file, at, bit)| Damage::FlipByte {
            file,
            at,
            bit
        }),
        (f.clone(), any::<usize>()).prop_map(|(file, at)| Damage::Truncate { file, at }),
        (f.clone(), 0usize..300, any::<u64>()).prop_map(|(file, len, seed)| Damage::RandomBytes {
            file,
            len,
            seed
        }),
        f.clone().prop_map(|file| Damage::Delete { file }),
        (f.clone(), f.clone()).prop_map(|(a, b)| Damage::SwapBuckets { a, b }),
        f.clone().prop_map(|file| Damage::Rollback { file }),
        f.clone().prop_map(|file| Damage::Foreign { file }),
        (f, 0usize..4).prop_map(|(file, which)| Damage::EditField { file, which }),
    ]
}

fn apply(t: &Template, older_cache: &Path, dir: &Path, d: &Damage) {
    let cache = dir.join("cache");
    let files = cache_files(&cache);
    if files.is_empty() {
        return;
    }
    let pick = |i: usize| cache.join(&files[i % files.len()]);
    match d {
        Damage::FlipByte { file, at, bit } => {
            let p = pick(*file);
            let mut b = fs::read(&p).unwrap();
            if !b.is_empty() {
                let i = at % b.len();
                b[i] ^= 1 << bit;
                fs::write(&p, b).unwrap();
            }
        }
        Damage::Truncate { file, at } => {
            let p = pick(*file);
            let b = fs::read(&p).unwrap();
            fs::write(&p, &b[..at % (b.len() + 1)]).unwrap();
        }
        Damage::RandomBytes { file, len, seed } => {
            let mut x = seed | 1;
            let bytes: Vec<u8> = (0..*len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            fs::write(pick(*file), bytes).unwrap();
        }
        Damage::Delete { file } => fs::remove_file(pick(*file)).unwrap(),
        Damage::SwapBuckets { a, b } => {
            let buckets: Vec<_> = files
                .iter()
                .filter(|f| f.starts_with("entries/d") || f.starts_with("entries/s"))
                .filter(|f| f.file_name().is_some_and(|n| n != "generation"))
                .collect();
            if buckets.len() >= 2 {
                let (pa, pb) = (
                    cache.join(buckets[a % buckets.len()]),
                    cache.join(buckets[b % buckets.len()]),
                );
                let (ba, bb) = (fs::read(&pa).unwrap(), fs::read(&pb).unwrap());
                fs::write(&pa, bb).unwrap();
                fs::write(&pb, ba).unwrap();
            }
        }
        Damage::Rollback { file } | Damage::Foreign { file } => {
            let from = if matches!(d, Damage::Rollback { .. }) {
                older_cache
            } else {
                &t.foreign_cache
            };
            let rel = &files[file % files.len()];
            if let Ok(b) = fs::read(from.join(rel)) {
                fs::write(cache.join(rel), b).unwrap();
            }
        }
        Damage::EditField { file, which } => {
            let p = pick(*file);
            let Ok(text) = String::from_utf8(fs::read(&p).unwrap()) else {
                return;
            };
            let (v1, v2) = (t.v1.to_hex(), t.v2.to_hex());
            let edited = match which {
                0 => text.replace(&v2, &v1),
                1 => text.replacen("\"bob\"", "\"ann\"", 1),
                2 => text.replacen(":5", ":4", 1),
                _ => text.replacen(":1", ":2", 1),
            };
            fs::write(&p, edited).unwrap();
        }
    }
}

/// One append a secretariat might make next (valid or not on the true
/// state; the writer decides).
fn step(t: &Template, w: &mut Writer, which: u8) -> Result<(), writer::WriteError> {
    let (ann, bob) = (&t.ann, &t.bob);
    let at = Some(clock(100));
    let signed = |d: &str, h: DocHash| Kind::DocumentSigned {
        doc: doc(d),
        sha256: h,
    };
    let r = match which % 8 {
        0 => w.append(ann, at, signed("treaty", t.v2), None),
        1 => w.append(bob, at, signed("treaty", t.v2), None),
        2 => w.append(ann, at, signed("treaty", t.v1), None),
        3 => w.append(ann, at, signed("plan", DocHash::of(b"Plan\n")), None),
        4 => w.append(
            bob,
            at,
            Kind::DocumentApproved {
                doc: doc("treaty"),
                sha256: t.v2,
            },
            None,
        ),
        5 => {
            let b = b"Treaty v3\n";
            let k = Kind::DocumentAmended {
                doc: doc("treaty"),
                sha256: DocHash::of(b),
                notes: None,
            };
            w.append(ann, at, k, Some(b))
        }
        6 => {
            let b = b"Treaty v1\n";
            let k = Kind::DocumentDrafted {
                doc: doc("treaty"),
                sha256: DocHash::of(b),
                title: "again".into(),
                signatories: vec![pid("ann")],
            };
            w.append(ann, at, k, Some(b))
        }
        _ => w.append(bob, at, Kind::Note { text: "n".into() }, None),
    };
    r.map(drop)
}

/// Runs `damages` on a fresh copy of the template, then appends `steps`:
/// each either refuses, changing nothing, or leaves a ledger verify accepts.
/// Returns how many were refused and how many appended.
fn check_case(t: &Template, damages: &[Damage], steps: &[u8]) -> Result<(usize, usize), String> {
    let mut done = (0, 0);
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("led");
    copy_dir(&t.dir, &dir);
    // A copy's log has another inode and times: the first writer rebuilds
    // the cache, which is then warm, as on a secretariat's machine. A copy
    // of it is what a rollback restores after bob's approval rewrites the
    // treaty's entry.
    drop(Writer::open(&dir).unwrap());
    let older = work.path().join("older-cache");
    copy_dir(&dir.join("cache"), &older);
    let approve = Kind::DocumentApproved {
        doc: doc("treaty"),
        sha256: t.v2,
    };
    Writer::open(&dir)
        .unwrap()
        .append(&t.bob, Some(clock(5)), approve, None)
        .unwrap();
    for d in damages {
        apply(t, &older, &dir, d);
    }
    for &which in steps {
        let log = fs::read(dir.join("events.cbor")).unwrap();
        let result = Writer::open(&dir).and_then(|mut w| step(t, &mut w, which));
        if result.is_ok() {
            done.1 += 1;
        } else {
            done.0 += 1;
        }
        if let Err(e) = &result {
            if fs::read(dir.join("events.cbor")).unwrap() != log {
                return Err(format!(
                    "{damages:?}, step {which}: refused ({e}) yet the log changed"
                ));
            }
        }
        if let Err(v) = ledger::core::verify::verify(&dir, &Default::default()) {
            return Err(format!(
                "{damages:?}, step {}: {:?}, then verify says {v}",
                which % 8,
                result.err().map(|e| e.to_string())
            ));
        }
    }
    Ok(done)
}

/// The plausible ways, exhaustively: every field edit, rollback and
/// foreign copy of every cache file, then every kind of next append.
#[test]
fn every_plausible_damage_then_every_append_leaves_the_ledger_verifiable() {
    let t = template();
    let files = cache_files(&t.dir.join("cache")).len();
    let mut problems = Vec::new();
    let mut cases = 0;
    let mut done = (0, 0);
    for file in 0..files {
        let mut damages: Vec<Damage> = (0..4)
            .map(|which| Damage::EditField { file, which })
            .collect();
        damages.push(Damage::Rollback { file });
        damages.push(Damage::Foreign { file });
        for d in damages {
            for which in 0..8 {
                cases += 1;
                match check_case(&t, std::slice::from_ref(&d), &[which]) {
                    Ok((r, a)) => done = (done.0 + r, done.1 + a),
                    Err(p) => problems.push(p),
                }
            }
        }
    }
    assert!(cases >= 200, "{cases} cases");
    // The figures RELIABILITY.md records (shown with --nocapture).
    eprintln!(
        "plausible damages: {files} cache files x 6 (4 field edits, rollback, foreign) x 8 next appends = {cases} cases: {} refused, {} appended, every ledger verified",
        done.0, done.1
    );
    assert!(
        problems.is_empty(),
        "{} of {cases} cases:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Whatever the cache holds, an append (then a second one) either
    /// refuses, changing nothing, or writes an event verify accepts.
    #[test]
    fn any_corruption_of_the_cache_leaves_appends_verifiable(
        damages in prop::collection::vec(damage(), 1..4),
        first in any::<u8>(),
        second in any::<u8>(),
    ) {
        use std::sync::atomic::Ordering::Relaxed;
        let t = template();
        let r = check_case(&t, &damages, &[first, second]);
        prop_assert!(r.is_ok(), "{}", r.clone().unwrap_err());
        for d in &damages {
            TALLY[d.kind()].fetch_add(1, Relaxed);
        }
        if let Ok((refused, appended)) = r {
            TALLY[8].fetch_add(refused, Relaxed);
            TALLY[9].fetch_add(appended, Relaxed);
        }
        // A running tally, the last line being the run's (--nocapture).
        let kinds: Vec<String> = DAMAGE_KINDS
            .iter()
            .zip(&TALLY)
            .map(|(k, n)| format!("{k} {}", n.load(Relaxed)))
            .collect();
        eprintln!(
            "random damages so far: {}; appends {} refused, {} made",
            kinds.join(", "),
            TALLY[8].load(Relaxed),
            TALLY[9].load(Relaxed)
        );
    }
}

// ---------------------------------------------------------------------------
// Documents changed in place (issue 11, point 2)
// ---------------------------------------------------------------------------

/// Overwriting a stored version's file (same name) used to be caught by
/// verify only: sign and approve exited 0. An event that depends on a
/// version (sign, approve, amend) re-hashes its file first and refuses,
/// exit 1, naming the file; the ledger is left byte for byte as it was.
#[test]
fn a_document_changed_in_place_is_refused_by_sign_approve_and_amend() {
    let fx = amended();
    let v2 = hash_of(&fx, "d/treaty-v2.txt");
    let stored = fx.p(&format!("led/docs/{v2}"));
    chmod(&stored, 0o644);
    fs::write(&stored, "Treaty, version 2, quietly changed.\n").unwrap();
    fx.write("d/treaty-v3.txt", "Treaty, version 3.\n");
    let needle = format!("restore docs/{v2} from another copy");
    for (who, args) in [
        ("ann", vec!["sign", "--doc", "treaty"]),
        ("bob", vec!["approve", "--doc", "treaty"]),
        (
            "ann",
            vec!["amend", "--doc", "treaty", "--file", "d/treaty-v3.txt"],
        ),
    ] {
        fx.append_refused(who, &args, 1, &needle);
    }
    // Put back, the same appends go through.
    fs::write(&stored, "Treaty, version 2.\n").unwrap();
    fx.append("ann", &["sign", "--doc", "treaty"]).ok();
    fx.report();
}

// ---------------------------------------------------------------------------
// Without a cache key
// ---------------------------------------------------------------------------

/// Runs the binary with no HOME, XDG_CACHE_HOME or LEDGER_CACHE_KEY
/// (or with `key` as LEDGER_CACHE_KEY).
fn run_keyless(fx: &Fx, key: Option<&Path>, args: &[&str]) -> Run {
    let mut c = std::process::Command::new(BIN);
    c.args(args)
        .current_dir(fx.root())
        .env_remove("HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("LEDGER_CACHE_KEY");
    if let Some(k) = key {
        c.env("LEDGER_CACHE_KEY", k);
    }
    let out = c.output().unwrap();
    Run {
        args: args.iter().map(|s| s.to_string()).collect(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// With nowhere to keep a cache key, the writer works without a cache
/// (quietly: -v says why), and the ledger verifies; a key file others may
/// read is not used, with a warning naming it; a new key is made 0600.
#[test]
fn without_a_usable_cache_key_the_writer_works_without_its_cache() {
    let fx = amended();
    fs::remove_dir_all(fx.p("led/cache")).unwrap();
    let note = [
        "append",
        "led",
        "--key",
        "keys/bob.key",
        "note",
        "--text",
        "keyless",
    ];
    let r = run_keyless(&fx, None, &note);
    r.ok();
    assert!(
        !fx.p("led/cache/state.json").exists(),
        "no cache without a key"
    );
    let mut verbose = vec!["-v"];
    verbose.extend(note);
    let r = run_keyless(&fx, None, &verbose);
    assert!(
        r.stderr
            .contains("the writer's cache is off (no place for the cache key"),
        "{r}"
    );
    // A key file with mode 0644 is exposed: not used, and said so.
    let key = fx.p("exposed-key");
    fs::write(&key, [7u8; 32]).unwrap();
    chmod(&key, 0o644);
    let r = run_keyless(&fx, Some(&key), &note);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(
        r.stderr
            .contains("may be read or written by others (mode 644)"),
        "{r}"
    );
    assert!(!fx.p("led/cache/state.json").exists());
    // A fresh key file is made private, and then the cache is written.
    let fresh = fx.p("keys-dir/cache-key");
    run_keyless(&fx, Some(&fresh), &note).ok();
    assert_eq!(mode(&fresh) & 0o777, 0o600);
    assert_eq!(mode(fresh.parent().unwrap()) & 0o777, 0o700);
    assert_eq!(fs::metadata(&fresh).unwrap().len(), 32);
    assert!(fx.p("led/cache/state.json").exists());
    fx.report();
}

/// A cache key file that is not a key (the wrong length, a directory, a
/// link) or that belongs to another user is not used: the writer says which
/// file and what to do, works without its cache, and writes no cache.
#[test]
fn a_cache_key_that_is_malformed_or_not_ours_is_not_used() {
    let fx = amended();
    let note = [
        "append",
        "led",
        "--key",
        "keys/bob.key",
        "note",
        "--text",
        "k",
    ];
    let short = fx.p("short-key");
    fs::write(&short, [7u8; 31]).unwrap();
    chmod(&short, 0o600);
    let dir = fx.p("dir-key");
    fs::create_dir(&dir).unwrap();
    let link = fx.p("link-key");
    let target = fx.p("real-key");
    fs::write(&target, [7u8; 32]).unwrap();
    chmod(&target, 0o600);
    std::os::unix::fs::symlink(&target, &link).unwrap();
    for key in [&short, &dir, &link] {
        fs::remove_dir_all(fx.p("led/cache")).ok();
        let r = run_keyless(&fx, Some(key), &note);
        assert_eq!(r.code, Some(0), "{r}");
        assert_eq!(
            r.stderr,
            format!(
                "ledger: the writer's cache is off ({} is not a 32-byte cache key (remove it: a new one is made)): every append replays the whole log\n",
                key.display()
            ),
            "{r}"
        );
        assert!(!fx.p("led/cache/state.json").exists(), "{r}");
    }
    // Another user's key: only root can make one here.
    let theirs = fx.p("their-key");
    fs::write(&theirs, [7u8; 32]).unwrap();
    chmod(&theirs, 0o600);
    if std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).is_err() {
        eprintln!("NOTICE: not checking another user's cache key: chown needs root");
    } else {
        fs::remove_dir_all(fx.p("led/cache")).ok();
        let r = run_keyless(&fx, Some(&theirs), &note);
        assert_eq!(r.code, Some(0), "{r}");
        assert_eq!(
            r.stderr,
            format!(
                "ledger: the writer's cache is off ({} belongs to another user (run as the user who owns it, or remove it: a new one is made)): every append replays the whole log\n",
                theirs.display()
            ),
            "{r}"
        );
        assert!(!fx.p("led/cache/state.json").exists(), "{r}");
    }
    fx.report();
}

/// A `cache` that is a symbolic link (git commits one named `cache`, the
/// ignore rule being for directories) is removed by the next writer, the
/// link only: what it points to is left as it was, and the cache is made
/// anew inside the ledger.
#[test]
fn a_linked_cache_is_removed_and_what_it_points_to_is_kept() {
    let fx = amended();
    fs::remove_dir_all(fx.p("led/cache")).unwrap();
    fx.write("elsewhere/precious", "not the ledger's");
    std::os::unix::fs::symlink(fx.p("elsewhere"), fx.p("led/cache")).unwrap();
    let before = snapshot(&fx.p("elsewhere"));
    fx.run(&[
        "append",
        "led",
        "--key",
        "keys/bob.key",
        "note",
        "--text",
        "after",
    ])
    .ok();
    let cache = fs::symlink_metadata(fx.p("led/cache")).unwrap();
    assert!(cache.is_dir(), "the cache is still a link");
    assert!(fx.p("led/cache/state.json").exists());
    assert_same(&before, &snapshot(&fx.p("elsewhere")), &"the link's target");
    fx.report();
}

/// The head, the pending marker and the buckets are written in place
/// (docs/PERFORMANCE.md, "Appends: start-up"), but only when they are the
/// writer's own files: a symbolic link or a second hard link planted as
/// one of them is replaced by a new file, never written through, and what
/// it named is left as it was.
#[test]
fn cache_files_written_in_place_are_never_written_through_a_link() {
    let fx = amended();
    fx.write("elsewhere/head", "precious head");
    fx.write("elsewhere/marker", "precious marker");
    fx.write("elsewhere/bucket", "precious bucket");
    let head = fx.p("led/cache/state.json");
    let marker = fx.p("led/cache/pending");
    let plan = bucket(&fx.p("led"), "plan");
    assert!(plan.exists(), "{}", plan.display());
    fs::remove_file(&head).unwrap();
    std::os::unix::fs::symlink(fx.p("elsewhere/head"), &head).unwrap();
    let _ = fs::remove_file(&marker);
    fs::hard_link(fx.p("elsewhere/marker"), &marker).unwrap();
    fs::remove_file(&plan).unwrap();
    fs::hard_link(fx.p("elsewhere/bucket"), &plan).unwrap();
    let before = snapshot(&fx.p("elsewhere"));
    // A note (head and marker), then a signature on plan (its bucket).
    fx.append("bob", &["note", "--text", "after the links"])
        .ok();
    fx.append("ann", &["sign", "--doc", "plan"]).ok();
    assert_same(
        &before,
        &snapshot(&fx.p("elsewhere")),
        &"the links' targets",
    );
    for path in [&head, &plan] {
        let m = fs::symlink_metadata(path).unwrap();
        assert!(m.is_file(), "{} is a file again", path.display());
        use std::os::unix::fs::MetadataExt;
        assert_eq!(m.nlink(), 1, "{} has one name", path.display());
    }
    // A FIFO planted as the head is neither opened nor waited on.
    fs::remove_file(&head).unwrap();
    let made = std::process::Command::new("mkfifo").arg(&head).status();
    if made.is_ok_and(|s| s.success()) {
        fx.append("bob", &["note", "--text", "after the fifo"]).ok();
        assert!(fs::symlink_metadata(&head).unwrap().is_file());
    }
    fx.report();
}

/// A head cut short or left with trailing bytes by a write in place that
/// did not finish (a crash, a full disk) does not check, and the next
/// append rebuilds the cache from the log and appends.
#[test]
fn a_head_torn_in_place_is_rebuilt_and_the_append_lands() {
    for damage in ["cut", "trailing"] {
        let fx = amended();
        let head = fx.p("led/cache/state.json");
        let bytes = fs::read(&head).unwrap();
        let torn = match damage {
            "cut" => bytes[..bytes.len() / 2].to_vec(),
            _ => [&bytes[..], b",0,0,0]}"].concat(),
        };
        fs::write(&head, &torn).unwrap();
        fx.append("bob", &["note", "--text", damage]).ok();
        let now = fs::read(&head).unwrap();
        assert_ne!(now, torn, "{damage}: the head was rewritten");
        fx.report();
        // And the rebuilt head is used as it is by the append after.
        fx.append("ann", &["note", "--text", "again"]).ok();
        fx.report();
    }
}
