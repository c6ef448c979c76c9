//! The checks the targets make on whatever `ledger` does with an input.
//! Each one panics (a finding) if `ledger` accepts something the spec
//! forbids, or if two ways of reading the same bytes disagree.

use std::fs;
use std::path::{Path, PathBuf};

use ledger::core::format::{
    protected_header, sig_structure, Body, Event, EventHash, FormatError, LogReader, ReadError,
};
use ledger::core::verify::{verify, Options, Report, VerifyError};

use crate::alloc::{budget, peak_during};
use crate::canonical;

/// Everything we can check about an event `ledger` decoded from `stored`.
pub fn accepted_event(stored: &[u8], ev: &Event) {
    let layers = canonical::parse_event(stored).unwrap_or_else(|e| {
        panic!(
            "ledger accepted an event that is not canonical CBOR ({e}): {}",
            hex::encode(stored)
        )
    });
    assert_eq!(ev.stored_len(), stored.len());
    assert_eq!(ev.hash(), EventHash::of(stored));
    assert_eq!(layers.payload_bytes, ev.payload());
    assert_eq!(layers.signature, &ev.signature[..]);
    let (again, bytes) = Event::assemble(ev.kid, ev.payload().to_vec(), ev.signature)
        .expect("re-assembling an accepted event must work");
    assert_eq!(bytes, stored, "re-assembly changed the bytes");
    assert_eq!(again.body, ev.body);
    assert_eq!(Body::decode(ev.payload()).as_ref(), Ok(&ev.body));
    if !canonical::has_annotations(&layers.payload) {
        assert_eq!(
            ev.body.encode(),
            ev.payload(),
            "decode then encode of a body without annotations changed its bytes"
        );
    }
    assert_eq!(
        ev.to_be_signed(),
        sig_structure(&protected_header(&ev.kid), ev.payload())
    );
}

/// `Event::decode` on arbitrary bytes: no panic, bounded allocation, and
/// an accepted event passes [`accepted_event`].
pub fn event_decode(data: &[u8]) -> Option<Event> {
    let (r, peak) = peak_during(|| Event::decode(data));
    assert!(
        peak <= budget(data.len()),
        "decoding {} bytes had {peak} bytes live at once (budget {})",
        data.len(),
        budget(data.len())
    );
    let ev = r.ok()?;
    accepted_event(data, &ev);
    Some(ev)
}

/// `Body::decode` on arbitrary bytes (a payload on its own).
pub fn body_decode(data: &[u8]) {
    let (r, peak) = peak_during(|| Body::decode(data));
    assert!(peak <= budget(data.len()));
    if let Ok(body) = r {
        let item = canonical::parse(data, false).unwrap_or_else(|e| {
            panic!(
                "ledger accepted a body that is not canonical CBOR ({e}): {}",
                hex::encode(data)
            )
        });
        if !canonical::has_annotations(&item) {
            assert_eq!(body.encode(), data);
        }
    }
}

/// Reads `data` as a log with [`LogReader`] and cross-checks every event
/// against `Event::decode` of its bytes. Returns the number of events read
/// and the error that stopped the reader, if any.
pub fn log_reader(data: &[u8]) -> (usize, Option<(u64, FormatError)>) {
    let mut rd = LogReader::new(data);
    let mut offset = 0u64;
    let mut count = 0;
    loop {
        let (r, peak) = peak_during(|| rd.next_event());
        assert!(peak <= budget(data.len() - offset as usize));
        match r {
            Ok(None) => {
                assert_eq!(offset as usize, data.len(), "clean end before the end");
                return (count, None);
            }
            Ok(Some(item)) => {
                assert_eq!(item.offset, offset);
                let bytes = rd.last_bytes();
                let end = offset as usize + bytes.len();
                assert_eq!(bytes, &data[offset as usize..end]);
                accepted_event(bytes, &item.event);
                let alone = Event::decode(bytes).expect("LogReader and Event::decode disagree");
                assert_eq!(alone.body, item.event.body);
                assert_eq!(rd.offset(), end as u64);
                offset = end as u64;
                count += 1;
            }
            Err(ReadError::Format { offset: at, error }) => {
                assert_eq!(at, offset, "error reported at the wrong offset");
                if error != FormatError::TooLarge {
                    assert!(
                        Event::decode(&data[at as usize..]).is_err(),
                        "LogReader rejects what Event::decode accepts"
                    );
                }
                return (count, Some((at, error)));
            }
            Err(ReadError::Io(e)) => panic!("I/O error reading a slice: {e}"),
        }
    }
}

/// A scratch ledger directory, reused across runs of a target.
pub struct Scratch {
    _tmp: tempfile::TempDir,
    pub dir: PathBuf,
    fixed: Vec<PathBuf>,
}

impl Scratch {
    /// A directory with `docs/` holding these documents, by their hash.
    pub fn new(docs: &[&[u8]]) -> Scratch {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("ledger");
        fs::create_dir_all(dir.join("docs")).expect("docs dir");
        let mut fixed = Vec::new();
        for d in docs {
            let p = dir.join("docs").join(hex::encode(sha(d)));
            fs::write(&p, d).expect("doc");
            fixed.push(p);
        }
        Scratch {
            _tmp: tmp,
            dir,
            fixed,
        }
    }

    /// One of the documents the directory was created with.
    pub fn is_fixed_doc(&self, path: &Path) -> bool {
        self.fixed.iter().any(|p| p == path)
    }

    pub fn doc_path(&self, hash: &[u8; 32]) -> PathBuf {
        self.dir.join("docs").join(hex::encode(hash))
    }

    pub fn write_log(&self, log: &[u8]) {
        fs::write(self.dir.join("events.cbor"), log).expect("write events.cbor");
        let _ = fs::remove_dir_all(self.dir.join("cache"));
    }
}

pub fn sha(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

fn verify_default(dir: &Path) -> Result<Report, VerifyError> {
    verify(dir, &Options::default())
}

/// Writes `log` into `scratch` and verifies it, then checks the verdict
/// against the other ways of reading the same ledger:
///
/// - a ledger that verifies reads the same with [`LogReader`], verifies
///   with `--head` of any of its events and `--trust` of its own keys, and
///   every prefix of whole events verifies too (the rules of FORMAT §6 only
///   look back);
/// - a ledger that fails at event `i` (offset `o`) has a first `o` bytes
///   that verify with `i` events (the first failure is the verdict);
/// - a torn tail (the file ends inside an item, or in zeros) is what
///   `ledger repair` removes (`Writer::repair`
///   truncates it and the rest verifies), and what a writer with no cache
///   vouching for the committed length refuses to touch (`Writer::open`).
///
/// `pick` chooses which event or prefix to try.
pub fn verify_log(scratch: &Scratch, log: &[u8], pick: usize) -> Result<Report, VerifyError> {
    let dir = &scratch.dir;
    scratch.write_log(log);
    let r = verify_default(dir);
    match &r {
        Ok(rep) => {
            let n = rep.count as usize;
            assert!(n >= 1);
            assert_eq!(rep.events.len(), n);
            let (read, err) = log_reader(log);
            assert!(err.is_none(), "verified, but LogReader fails: {err:?}");
            assert_eq!(read, n);
            for (i, e) in rep.events.iter().enumerate() {
                assert_eq!(e.seq, i as u64);
            }
            let last = &rep.events[n - 1];
            assert_eq!(last.hash, rep.head);
            assert_eq!(
                EventHash::of(&log[last.offset as usize..]),
                rep.head,
                "the head is not the hash of the last event's bytes"
            );
            let k = pick % n;
            let with_head = Options {
                head: Some(rep.events[k].hash),
                ..Options::default()
            };
            verify(dir, &with_head).expect("--head of one of its own events must pass");
            let trust = rep
                .parties
                .iter()
                .map(|p| {
                    let key: [u8; 32] = hex::decode(&p.key).unwrap().try_into().unwrap();
                    ledger::core::trust::TrustedKey {
                        label: p.id.to_string(),
                        party: Some(p.id.clone()),
                        explicit: true,
                        key: ledger::base::crypto::PublicKey::from_bytes(&key, "party").unwrap(),
                    }
                })
                .collect();
            let with_trust = Options {
                trust: Some(trust),
                ..Options::default()
            };
            verify(dir, &with_trust).expect("--trust of its own keys must pass");
            if n > 1 {
                let k = 1 + pick % (n - 1);
                let cut = rep.events[k].offset as usize;
                scratch.write_log(&log[..cut]);
                let p = verify_default(dir)
                    .unwrap_or_else(|e| panic!("a prefix of a valid ledger fails: {e}"));
                assert_eq!(p.count as usize, k);
                assert_eq!(p.head, rep.events[k - 1].hash);
                scratch.write_log(log);
            }
        }
        Err(VerifyError::Failed(f)) => {
            if let (Some(i), Some(o)) = (f.event, f.offset) {
                let o = o as usize;
                assert!(o <= log.len());
                if i >= 1 {
                    scratch.write_log(&log[..o]);
                    let p = verify_default(dir).unwrap_or_else(|e| {
                        panic!("event {i} fails ({f}), but the events before it do not verify: {e}")
                    });
                    assert_eq!(p.count, i);
                    scratch.write_log(log);
                }
                if f.is_torn_tail() {
                    // The file ends inside an item, or in nothing but
                    // zeros (what a crash can leave after an append, and a
                    // torn tail too since commit 1161814).
                    let (read, err) = log_reader(log);
                    assert_eq!(read as u64, i);
                    let zeros = o < log.len() && log[o..].iter().all(|&b| b == 0);
                    if !zeros {
                        // FORMAT §3 rule 2 reads the item by its heads
                        // alone: a truncated item may hold a value the
                        // strict reader refuses first (a simple value, a
                        // bad UTF-8 string), and is still a torn tail.
                        assert!(
                            matches!(err, Some((at, _)) if at == o as u64),
                            "torn tail at {o}, but the reader says {err:?}"
                        );
                        assert_eq!(
                            ledger::core::format::frame(&log[o..]),
                            ledger::core::format::Frame::NeedMore,
                            "a torn tail whose first item does not run past the end"
                        );
                    }
                    if i >= 1 {
                        // No cache says these bytes came after a committed
                        // event, so a plain writer refuses to cut them and
                        // `ledger repair` does.
                        let refused = ledger::core::writer::Writer::open(dir);
                        assert!(refused.is_err(), "a writer without a cache cut a torn tail");
                        drop(refused);
                        let len = fs::metadata(dir.join("events.cbor")).unwrap().len();
                        assert_eq!(len as usize, log.len(), "a refused open changed the log");
                        let w = ledger::core::writer::Writer::repair(dir)
                            .unwrap_or_else(|e| panic!("repair cannot remove a torn tail: {e}"));
                        assert_eq!(w.repaired(), Some((log.len() - o) as u64));
                        drop(w);
                        let len = fs::metadata(dir.join("events.cbor")).unwrap().len();
                        assert_eq!(len as usize, o);
                        let p = verify_default(dir).expect("verifies after the repair");
                        assert_eq!(p.count, i);
                        scratch.write_log(log);
                    }
                }
            }
        }
        Err(_) => {}
    }
    r
}
