//! The machine's limits, measured in the same run: what the ledger's
//! figures are compared with.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use ledger::base::crypto::SigningKey;

use super::Error;

/// Batch size for `ed25519_dalek::verify_batch`: a verify wave would hand
/// it thousands, but the gain flattens out well before that.
pub const BATCH: usize = 64;

#[derive(Debug, Clone)]
pub struct Limits {
    pub threads: usize,
    /// ed25519 `verify_strict` per second, 1 thread and all threads.
    pub verify_1: f64,
    pub verify_all: f64,
    /// verify_strict per second of CPU time (load-independent).
    pub verify_cpu: f64,
    /// `ed25519_dalek::verify_batch` signatures per second.
    pub batch_1: f64,
    pub batch_all: f64,
    /// SHA-256 of 1 MiB buffers, MB/s (10^6 bytes), 1 thread.
    pub sha256_mbs: f64,
    /// O_APPEND write of 300 bytes + fdatasync, per second; and the median
    /// latency of one, in seconds.
    pub fsync_per_s: f64,
    pub fsync_median: f64,
    pub fsync_n: usize,
}

/// CPU seconds (user + system) this thread has used, from
/// /proc/thread-self/stat (clock ticks of 1/100 s); `None` elsewhere.
fn thread_cpu() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are
    // fields 14 and 15 of the whole line.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut f = rest.split_whitespace().skip(11);
    let user: f64 = f.next()?.parse().ok()?;
    let system: f64 = f.next()?.parse().ok()?;
    Some((user + system) / 100.0)
}

/// Runs `op` on `threads` threads for about `secs`: operations per second
/// of wall time, and per second of CPU time the threads actually got
/// (which other jobs on the machine do not take away).
fn rate(threads: usize, secs: f64, per_call: u64, op: &(dyn Fn(usize) + Sync)) -> (f64, f64) {
    let budget = Duration::from_secs_f64(secs);
    let start = Instant::now();
    let counts: Vec<(u64, Duration, f64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    let cpu = thread_cpu();
                    let begin = Instant::now();
                    let mut n = 0u64;
                    let mut i = t;
                    while n == 0 || begin.elapsed() < budget {
                        op(i);
                        i += threads;
                        n += per_call;
                    }
                    let wall = begin.elapsed();
                    let used = cpu
                        .zip(thread_cpu())
                        .map_or(wall.as_secs_f64(), |(a, b)| b - a);
                    (n, wall, used)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker"))
            .collect()
    });
    let total: u64 = counts.iter().map(|c| c.0).sum();
    let elapsed = counts
        .iter()
        .map(|c| c.1)
        .max()
        .unwrap_or_else(|| start.elapsed());
    let cpu: f64 = counts.iter().map(|c| c.2).sum();
    (
        total as f64 / elapsed.as_secs_f64(),
        total as f64 / cpu.max(1e-3),
    )
}

/// Measures everything; `secs` per measurement, `fsyncs` fsync'd writes
/// in `dir` (which must be on the ledgers' filesystem).
pub fn measure(dir: &Path, secs: f64, fsyncs: usize) -> Result<Limits, Error> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Messages the size of a typical Sig_structure (a note event).
    let key = SigningKey::generate();
    let public = key.public();
    let messages: Vec<Vec<u8>> = (0..BATCH)
        .map(|i| {
            (0..300)
                .map(|j| (i * 31 + j * 7) as u8)
                .collect::<Vec<u8>>()
        })
        .collect();
    let signatures: Vec<[u8; 64]> = messages.iter().map(|m| key.sign(m)).collect();
    let verify = |i: usize| {
        let k = i % BATCH;
        assert!(public.verify_strict(&messages[k], &signatures[k]));
    };
    eprintln!("bench: measuring ed25519 verify_strict");
    let (verify_1, verify_cpu) = rate(1, secs, 1, &verify);
    let (verify_all, _) = rate(threads, secs, 1, &verify);

    eprintln!("bench: measuring ed25519_dalek::verify_batch ({BATCH} per batch)");
    let dalek = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let vk = dalek.verifying_key();
    let msgs: Vec<&[u8]> = messages.iter().map(|m| m.as_slice()).collect();
    let sigs: Vec<ed25519_dalek::Signature> = messages
        .iter()
        .map(|m| ed25519_dalek::Signer::sign(&dalek, m))
        .collect();
    let vks = vec![vk; BATCH];
    let batch = |_: usize| {
        assert!(ed25519_dalek::verify_batch(&msgs, &sigs, &vks).is_ok());
    };
    let (batch_1, _) = rate(1, secs, BATCH as u64, &batch);
    let (batch_all, _) = rate(threads, secs, BATCH as u64, &batch);

    eprintln!("bench: measuring SHA-256");
    let block = vec![0x5au8; 1 << 20];
    let sha = |_: usize| {
        std::hint::black_box(Sha256::digest(&block));
    };
    let sha256_mbs = rate(1, secs, 1, &sha).0 * (1 << 20) as f64 / 1e6;

    eprintln!("bench: measuring {fsyncs} fsync'd 300-byte appends");
    let path = dir.join("fsync-probe");
    let _ = fs::remove_file(&path);
    let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
    let record = [0x42u8; 300];
    let mut lat = Vec::with_capacity(fsyncs);
    let start = Instant::now();
    for _ in 0..fsyncs.max(1) {
        let t = Instant::now();
        file.write_all(&record)?;
        file.sync_data()?;
        lat.push(t.elapsed().as_secs_f64());
    }
    let fsync_per_s = lat.len() as f64 / start.elapsed().as_secs_f64();
    drop(file);
    fs::remove_file(&path)?;
    Ok(Limits {
        threads,
        verify_1,
        verify_all,
        verify_cpu,
        batch_1,
        batch_all,
        sha256_mbs,
        fsync_per_s,
        fsync_median: super::median(&mut lat),
        fsync_n: fsyncs.max(1),
    })
}
