//! Generating benchmark ledgers in-process with the library's format API.
//!
//! A ledger of N events is built by a producer thread that encodes, signs
//! and assembles each event (signing is inherently sequential: every event
//! names the hash of the signed bytes before it), and a consumer that
//! replays each event with `State::apply` (strict signature check and every
//! rule of FORMAT §6) before its bytes reach the log. The log is written
//! with one buffered writer and one fsync; documents go to `docs/`.
//!
//! Each size lives in its own cache entry `CACHE/<label>/` with
//! `manifest.json`; an entry is reused when the manifest matches the files
//! (length, hash of the last event, document count, signer key).

use std::collections::{HashSet, VecDeque};
use std::fs::{self, File};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use ledger::base::crypto::SigningKey;
use ledger::base::time::Timestamp;
use ledger::core::format::{
    Body, DocHash, DocId, Event, EventHash, Kind, LedgerId, PartyId, SessionId, FORMAT_VERSION,
};
use ledger::core::replay::State;

use super::{label, Error};

/// Bumped whenever the generated content changes, to invalidate caches.
const GENERATOR: u32 = 1;
/// 2020-01-01T00:00:00Z; event `seq` claims this time plus `seq` seconds.
const EPOCH: i64 = 1_577_836_800;
const BATCH: usize = 512;

/// The two parties' signing keys, kept in `CACHE/keys/` so that cached
/// ledgers can be appended to by `ledger append --key`.
pub struct Keys {
    pub ids: [PartyId; 2],
    pub keys: [SigningKey; 2],
    pub files: [PathBuf; 2],
}

impl Keys {
    pub fn load_or_create(cache: &Path) -> Result<Keys, Error> {
        let dir = cache.join("keys");
        fs::create_dir_all(&dir)?;
        let names = ["alpha", "beta"];
        let mut keys = Vec::new();
        let mut files = Vec::new();
        for name in names {
            let base = dir.join(name);
            let file = base.with_extension("key");
            if !file.exists() {
                write_key(&file)?;
            }
            keys.push(SigningKey::from_file(&file)?);
            files.push(file);
        }
        let [a, b]: [SigningKey; 2] = keys.try_into().map_err(|_| "two keys")?;
        let [fa, fb]: [PathBuf; 2] = files.try_into().map_err(|_| "two key files")?;
        Ok(Keys {
            ids: [PartyId::new(names[0])?, PartyId::new(names[1])?],
            keys: [a, b],
            files: [fa, fb],
        })
    }

    fn public_hex(&self) -> String {
        hex::encode(self.keys[0].public().to_bytes())
    }
}

/// Writes a new Ed25519 private key as PKCS#8 PEM, mode 0600 (what
/// `ledger keygen` and `openssl genpkey` write).
fn write_key(path: &Path) -> Result<(), Error> {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    use std::os::unix::fs::OpenOptionsExt;
    let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let pem = key
        .to_pkcs8_pem(Default::default())
        .map_err(|e| format!("PKCS#8: {e}"))?;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(pem.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// What a cache entry holds; written last, so its presence means complete.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub generator: u32,
    pub events: u64,
    pub log_len: u64,
    pub head_offset: u64,
    pub head: String,
    pub docs: u64,
    pub doc_bytes: u64,
    pub alpha: String,
    pub import_events: u64,
    pub import_len: u64,
    pub import_head: String,
    pub import_docs: u64,
    pub gen_secs: f64,
}

/// A generated ledger, with an import file that continues its chain.
pub struct Fixture {
    pub events: u64,
    /// The ledger directory.
    pub dir: PathBuf,
    /// A CBOR sequence of `import_events` signed events continuing `dir`.
    pub import_file: PathBuf,
    /// The documents those events draft or amend.
    pub import_docs: PathBuf,
    pub manifest: Manifest,
    /// Whether this run generated it (false: reused from the cache).
    pub fresh: bool,
}

/// Returns the cached fixture of `events` events (and `import` more in its
/// import file), generating it if it is missing or does not match.
pub fn fixture(cache: &Path, keys: &Keys, events: u64, import: u64) -> Result<Fixture, Error> {
    let entry = cache.join(label(events));
    let fixture = |manifest: Manifest, fresh| Fixture {
        events,
        dir: entry.join("ledger"),
        import_file: entry.join("import.cbor"),
        import_docs: entry.join("import-docs"),
        manifest,
        fresh,
    };
    if let Some(m) = valid_manifest(&entry, keys, events, import) {
        return Ok(fixture(m, false));
    }
    eprintln!(
        "bench: generating a ledger of {} events (+{} to import) in {}",
        events,
        import,
        entry.display()
    );
    let tmp = cache.join(format!("{}.tmp", label(events)));
    if tmp.exists() {
        fs::remove_dir_all(&tmp)?;
    }
    let start = Instant::now();
    let mut manifest = generate(&tmp, keys, events, import)?;
    manifest.gen_secs = start.elapsed().as_secs_f64();
    fs::write(
        tmp.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest)?,
    )?;
    if entry.exists() {
        fs::remove_dir_all(&entry)?;
    }
    fs::rename(&tmp, &entry)?;
    eprintln!(
        "bench: generated {} events in {:.1} s",
        events, manifest.gen_secs
    );
    Ok(fixture(manifest, true))
}

fn valid_manifest(entry: &Path, keys: &Keys, events: u64, import: u64) -> Option<Manifest> {
    let m: Manifest = serde_json::from_slice(&fs::read(entry.join("manifest.json")).ok()?).ok()?;
    if m.generator != GENERATOR
        || m.events != events
        || m.import_events != import
        || m.alpha != keys.public_hex()
    {
        return None;
    }
    let tail_hash = |path: &Path, len: u64, from: u64| -> Option<String> {
        let mut f = File::open(path).ok()?;
        if f.metadata().ok()?.len() != len || from >= len {
            return None;
        }
        f.seek(SeekFrom::Start(from)).ok()?;
        let mut buf = Vec::new();
        f.take(len - from).read_to_end(&mut buf).ok()?;
        Some(EventHash::of(&buf).to_hex())
    };
    let log = entry.join("ledger").join("events.cbor");
    if tail_hash(&log, m.log_len, m.head_offset)? != m.head {
        return None;
    }
    let count = |dir: &Path| fs::read_dir(dir).map(|d| d.count() as u64).ok();
    if count(&entry.join("ledger").join("docs"))? != m.docs
        || count(&entry.join("import-docs"))? != m.import_docs
        || fs::metadata(entry.join("import.cbor")).ok()?.len() != m.import_len
    {
        return None;
    }
    Some(m)
}

/// One step of the scripted negotiation.
#[derive(Clone, Copy)]
enum Step {
    Open,
    Note,
    Draft,
    Amend(u32),
    Approve(usize),
    Sign(usize),
    Close,
}

/// Produces the events of a ledger, in order, signed.
struct Generator<'k> {
    keys: &'k Keys,
    ledger: LedgerId,
    seq: u64,
    prev: Option<EventHash>,
    cycle: u64,
    queue: VecDeque<Step>,
    current: DocHash,
    signatures: bool,
}

/// One produced event: parsed, its stored bytes, and a document it adds.
type Produced = (Event, Vec<u8>, Option<Vec<u8>>);

impl<'k> Generator<'k> {
    fn new(keys: &'k Keys) -> Self {
        let mut id = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut id);
        Generator {
            keys,
            ledger: LedgerId(id),
            seq: 0,
            prev: None,
            cycle: 0,
            queue: VecDeque::new(),
            current: DocHash([0; 32]),
            signatures: true,
        }
    }

    /// A cycle: a session in which one document is drafted, amended 0-2
    /// times, approved and signed by both parties, with notes between.
    /// About 15 events and 2 document versions (1-2 KB each) per cycle.
    fn plan(&mut self) {
        let c = self.cycle;
        self.signatures = c % 5 != 4;
        let mut q = vec![Step::Open, Step::Note, Step::Note, Step::Draft, Step::Note];
        for k in 0..(c % 3) as u32 {
            q.push(Step::Amend(k + 1));
        }
        q.extend([Step::Note, Step::Approve(0), Step::Approve(1), Step::Note]);
        if self.signatures {
            q.extend([Step::Sign(0), Step::Sign(1)]);
        } else {
            q.extend([Step::Note, Step::Note]);
        }
        q.extend([Step::Note, Step::Note, Step::Close]);
        self.queue.extend(q);
    }

    fn next(&mut self) -> Result<Produced, Error> {
        let seq = self.seq;
        let (author, kind, doc) = if seq == 0 {
            let parties = self
                .keys
                .ids
                .iter()
                .zip(&self.keys.keys)
                .map(|(id, k)| (id.clone(), k.public().to_bytes()))
                .collect();
            let kind = Kind::LedgerCreated {
                title: "Benchmark negotiation".into(),
                parties,
            };
            (0, kind, None)
        } else {
            if self.queue.is_empty() {
                self.cycle += 1;
                self.plan();
            }
            let step = self.queue.pop_front().ok_or("empty plan")?;
            self.step(step)?
        };
        let body = Body {
            version: FORMAT_VERSION,
            ledger: self.ledger,
            seq,
            prev: self.prev,
            time: Timestamp::parse(&rfc3339(EPOCH + seq as i64))?,
            author: self.keys.ids[author].clone(),
            kind,
        };
        let (event, bytes) = Event::sign(&self.keys.keys[author], &body)?;
        self.prev = Some(event.hash());
        self.seq += 1;
        Ok((event, bytes, doc))
    }

    fn step(&mut self, step: Step) -> Result<(usize, Kind, Option<Vec<u8>>), Error> {
        let c = self.cycle;
        let opener = (c % 2) as usize;
        let session = || SessionId::new(&format!("session-{c}"));
        let doc = || DocId::new(&format!("doc-{c}"));
        Ok(match step {
            Step::Open => (
                opener,
                Kind::SessionOpened {
                    session: session()?,
                    title: format!("Working session {c} on the draft agreement"),
                    place: c.is_multiple_of(3).then(|| format!("Meeting room {}", c % 7 + 1)),
                    chair: c.is_multiple_of(2).then(|| "Head of delegation".to_owned()),
                    notes: None,
                },
                None,
            ),
            Step::Note => (
                (self.seq % 2) as usize,
                Kind::Note {
                    text: format!(
                        "Delegation remarks on item {} of session {c}: the parties discussed the wording and agreed to continue after the break.",
                        self.seq % 17 + 1
                    ),
                },
                None,
            ),
            Step::Draft => {
                let bytes = document(c, 0);
                self.current = DocHash::of(&bytes);
                let signatories = if self.signatures {
                    self.keys.ids.to_vec()
                } else {
                    Vec::new()
                };
                (
                    opener,
                    Kind::DocumentDrafted {
                        doc: doc()?,
                        sha256: self.current,
                        title: format!("Protocol of session {c}"),
                        signatories,
                    },
                    Some(bytes),
                )
            }
            Step::Amend(k) => {
                let bytes = document(c, k);
                self.current = DocHash::of(&bytes);
                (
                    1 - opener,
                    Kind::DocumentAmended {
                        doc: doc()?,
                        sha256: self.current,
                        notes: Some(format!("Revision {k}: counter-proposal on article {k}")),
                    },
                    Some(bytes),
                )
            }
            Step::Approve(p) => (
                p,
                Kind::DocumentApproved {
                    doc: doc()?,
                    sha256: self.current,
                },
                None,
            ),
            Step::Sign(p) => (
                p,
                Kind::DocumentSigned {
                    doc: doc()?,
                    sha256: self.current,
                },
                None,
            ),
            Step::Close => (
                opener,
                Kind::SessionClosed {
                    session: session()?,
                    notes: c.is_multiple_of(4).then(|| "Adjourned.".to_owned()),
                },
                None,
            ),
        })
    }
}

/// Document version `version` of cycle `cycle`: 1-2 KB of text.
fn document(cycle: u64, version: u32) -> Vec<u8> {
    let len = 1024 + ((cycle * 389 + u64::from(version) * 131) % 1024) as usize;
    let mut s = format!("Protocol of working session {cycle}, version {version}\n\n");
    let mut article = 1;
    while s.len() < len {
        s.push_str(&format!(
            "Article {article}. The parties agree that clause {article} of section {cycle} applies as drafted in version {version}.\n"
        ));
        article += 1;
    }
    s.truncate(len);
    s.into_bytes()
}

/// Seconds since 1970 as an RFC 3339 UTC time (FORMAT §5.5).
pub fn rfc3339(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Where the consumer writes: the ledger, then the import file.
struct Sink {
    log: BufWriter<File>,
    docs: PathBuf,
    written: Written,
}

/// What a sink wrote.
#[derive(Default)]
struct Written {
    len: u64,
    head_offset: u64,
    head: String,
    docs: u64,
    doc_bytes: u64,
}

impl Sink {
    fn new(log_path: &Path, docs: PathBuf) -> Result<Sink, Error> {
        fs::create_dir_all(&docs)?;
        Ok(Sink {
            log: BufWriter::with_capacity(8 << 20, File::create(log_path)?),
            docs,
            written: Written::default(),
        })
    }

    /// One write of what is buffered, and one fsync.
    fn finish(self) -> Result<Written, Error> {
        let file = self.log.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(self.written)
    }
}

fn generate(entry: &Path, keys: &Keys, events: u64, import: u64) -> Result<Manifest, Error> {
    let dir = entry.join("ledger");
    fs::create_dir_all(&dir)?;
    fs::write(dir.join(".gitignore"), "cache/\n")?;
    let total = events + import;
    let (tx, rx) = mpsc::sync_channel::<Result<Vec<Produced>, Error>>(16);
    std::thread::scope(|scope| -> Result<Manifest, Error> {
        scope.spawn(move || {
            let mut gen = Generator::new(keys);
            let mut left = total;
            while left > 0 {
                let n = left.min(BATCH as u64);
                let batch: Result<Vec<_>, _> = (0..n).map(|_| gen.next()).collect();
                let stop = batch.is_err();
                if tx.send(batch).is_err() || stop {
                    return;
                }
                left -= n;
            }
        });
        let mut state: Option<State> = None;
        let mut known: HashSet<DocHash> = HashSet::new();
        let mut sink = Sink::new(&dir.join("events.cbor"), dir.join("docs"))?;
        let mut base: Option<Written> = None;
        let mut count = 0u64;
        for batch in rx {
            for (event, bytes, doc) in batch? {
                if count == events {
                    base = Some(sink.finish()?);
                    sink = Sink::new(&entry.join("import.cbor"), entry.join("import-docs"))?;
                }
                if let Some(content) = doc {
                    let hash = DocHash::of(&content);
                    if known.insert(hash) {
                        fs::write(sink.docs.join(hash.to_hex()), &content)?;
                        sink.written.docs += 1;
                        sink.written.doc_bytes += content.len() as u64;
                    }
                }
                let verified = match state.as_mut() {
                    None => {
                        let (s, v) = State::genesis(event)?;
                        state = Some(s);
                        v
                    }
                    Some(s) => {
                        let docs = |h: &DocHash| {
                            if known.contains(h) {
                                Ok(())
                            } else {
                                Err("not written".to_owned())
                            }
                        };
                        s.apply(event, &docs)?
                    }
                };
                sink.log.write_all(&bytes)?;
                let w = &mut sink.written;
                w.head_offset = w.len;
                w.len += bytes.len() as u64;
                w.head = verified.hash().to_hex();
                count += 1;
            }
        }
        if count != total {
            return Err(format!("generated {count} events, expected {total}").into());
        }
        let last = sink.finish()?;
        let (base, imported) = match base {
            Some(b) => (b, last),
            None => {
                Sink::new(&entry.join("import.cbor"), entry.join("import-docs"))?.finish()?;
                (last, Written::default())
            }
        };
        // Documents were written without a sync each: one syncfs for all.
        let _ = std::process::Command::new("sync")
            .arg("-f")
            .arg(&dir)
            .status();
        Ok(Manifest {
            generator: GENERATOR,
            events,
            log_len: base.len,
            head_offset: base.head_offset,
            head: base.head,
            docs: base.docs,
            doc_bytes: base.doc_bytes,
            alpha: keys.public_hex(),
            import_events: import,
            import_len: imported.len,
            import_head: imported.head,
            import_docs: imported.docs,
            gen_secs: 0.0,
        })
    })
}
