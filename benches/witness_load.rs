//! `scripts/bench --witness-load N`: `ledger witness serve` on loopback
//! under N add-checkpoint requests from 8 concurrent clients, a mix of
//! valid (70%), stale (10%, answered 409), forged (10%, a bad consistency
//! proof: 422) and malformed (10%: 400) requests. Each client is the log
//! of its own origin, so its valid requests form a chain (old = the size
//! it last had cosigned) and never race the other clients' — the server's
//! one state lock and fsyncs are what they contend for. Reports valid
//! cosignatures per second and latency percentiles; checks that every 200
//! verifies and that no state went backward. See docs/PERFORMANCE.md.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ledger::base::crypto::SigningKey;
use ledger::tlog::merkle::{self, Hash};
use ledger::tlog::note::{self, Checkpoint, Note, NoteVerifier, VerifierKind};
use ledger::tlog::witness::AddCheckpoint;

const CLIENTS: usize = 8;

struct Tree {
    stored: Vec<Hash>,
}

impl Tree {
    fn new(n: u64) -> Tree {
        let mut stored = Vec::new();
        for i in 0..n {
            let leaf = merkle::leaf_hash(format!("entry {i}").as_bytes());
            let add = merkle::stored_hashes(i, leaf, &stored[..]).expect("stored hashes");
            stored.extend(add);
        }
        Tree { stored }
    }
    fn root(&self, n: u64) -> Hash {
        merkle::tree_hash(n, &self.stored[..]).expect("root")
    }
    fn proof(&self, old: u64, new: u64) -> Vec<Hash> {
        if old == 0 {
            return Vec::new();
        }
        merkle::prove_consistency(old, new, &self.stored[..]).expect("proof")
    }
}

struct Log {
    origin: String,
    key: SigningKey,
}

impl Log {
    fn text(&self, tree: &Tree, n: u64) -> String {
        Checkpoint::new(&self.origin, n, tree.root(n), vec![])
            .unwrap()
            .to_text()
    }
    fn request(&self, tree: &Tree, old: u64, new: u64) -> Vec<u8> {
        let text = self.text(tree, new);
        AddCheckpoint {
            old,
            proof: tree.proof(old, new),
            checkpoint: Note::new(
                &text,
                vec![note::sign(&text, &self.origin, &self.key).unwrap()],
            )
            .unwrap()
            .to_bytes(),
        }
        .to_bytes()
        .unwrap()
    }
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

pub fn run(bin: &Path, total: usize) -> Result<String, String> {
    let bin = &std::fs::canonicalize(bin).map_err(|e| format!("{}: {e}", bin.display()))?;
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let st = Command::new(bin)
        .current_dir(tmp.path())
        .args(["keygen", "w"])
        .output()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    if !st.status.success() {
        return Err(format!("keygen: {}", String::from_utf8_lossy(&st.stderr)));
    }
    let wkey = SigningKey::from_file(&tmp.path().join("w.key")).map_err(|e| e.to_string())?;
    let wv = NoteVerifier::new(
        "bench.example/w",
        VerifierKind::CosignatureV1,
        wkey.public(),
    )
    .map_err(|e| e.to_string())?;
    let per = total.div_ceil(CLIENTS);
    let logs: Vec<Log> = (0..CLIENTS)
        .map(|i| Log {
            origin: format!("bench.example/log{i}"),
            key: SigningKey::generate(),
        })
        .collect();
    let tree = Arc::new(Tree::new(per as u64 + 2));
    let mut cmd = Command::new(bin);
    cmd.current_dir(tmp.path()).args([
        "witness",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--key",
        "w.key",
        "--name",
        "bench.example/w",
        "--state",
        "state",
    ]);
    for l in &logs {
        let v = NoteVerifier::new(&l.origin, VerifierKind::Ed25519, l.key.public()).unwrap();
        cmd.args(["--log", &v.to_string()]);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let url = line.trim().to_owned();

    let lat_valid = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let lat_all = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let statuses = Arc::new(Mutex::new([0usize; 5]));
    let wall = Instant::now();
    let threads: Vec<_> = logs
        .into_iter()
        .map(|log| {
            let (tree, url, wv) = (tree.clone(), url.clone(), wv.clone());
            let (lat_valid, lat_all, statuses) =
                (lat_valid.clone(), lat_all.clone(), statuses.clone());
            std::thread::spawn(move || -> Result<u64, String> {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .timeout_global(Some(Duration::from_secs(30)))
                    .http_status_as_error(false)
                    .build()
                    .into();
                let mut at = 0u64;
                let (mut lv, mut la) = (Vec::new(), Vec::new());
                let mut counts = [0usize; 5];
                for i in 0..per {
                    let kind = i % 10;
                    let body = match kind {
                        7 if at > 0 => log.request(&tree, at - 1, at + 1),
                        8 if at > 0 => {
                            let mut r =
                                AddCheckpoint::parse(&log.request(&tree, at, at + 1)).unwrap();
                            r.proof[0][0] ^= 1;
                            r.to_bytes().unwrap()
                        }
                        9 => b"old x\n\n".to_vec(),
                        _ => log.request(&tree, at, at + 1),
                    };
                    let t = Instant::now();
                    let mut r = agent
                        .post(&format!("{url}/add-checkpoint"))
                        .send(&body[..])
                        .map_err(|e| e.to_string())?;
                    let status = r.status().as_u16();
                    let text = r.body_mut().read_to_string().map_err(|e| e.to_string())?;
                    let took = t.elapsed();
                    la.push(took);
                    let slot = match status {
                        200 => {
                            let cp = log.text(&tree, at + 1);
                            let sigs = note::parse_signature_lines(text.as_bytes())
                                .map_err(|e| e.to_string())?;
                            let n = Note::new(&cp, sigs).map_err(|e| e.to_string())?;
                            note::verify(&n, std::slice::from_ref(&wv))
                                .map_err(|e| format!("a 200 that does not verify: {e}"))?;
                            at += 1;
                            lv.push(took);
                            0
                        }
                        409 => 1,
                        422 => 2,
                        400 => 3,
                        _ => 4,
                    };
                    counts[slot] += 1;
                }
                lat_valid.lock().unwrap().extend(lv);
                lat_all.lock().unwrap().extend(la);
                let mut s = statuses.lock().unwrap();
                for (a, b) in s.iter_mut().zip(counts) {
                    *a += b;
                }
                Ok(at)
            })
        })
        .collect();
    let mut sizes = Vec::new();
    for t in threads {
        sizes.push(t.join().map_err(|_| "a client panicked".to_owned())??);
    }
    // The state of each log holds the last size cosigned for it.
    for (i, want) in sizes.iter().enumerate() {
        let origin = format!("bench.example/log{i}");
        let path = tmp
            .path()
            .join("state")
            .join(ledger::tlog::witness::origin_hash(&origin));
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let n = Note::parse(&bytes).map_err(|e| e.to_string())?;
        let got = Checkpoint::parse_text(n.text())
            .map_err(|e| e.to_string())?
            .size();
        if got != *want {
            return Err(format!("{origin}: state size {got}, but {want} cosigned"));
        }
    }
    let secs = wall.elapsed().as_secs_f64();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let exit = child.wait().map_err(|e| e.to_string())?;
    let mut lv = lat_valid.lock().unwrap().clone();
    let mut la = lat_all.lock().unwrap().clone();
    lv.sort();
    la.sort();
    let s = *statuses.lock().unwrap();
    if s[4] > 0 {
        return Err(format!("{} unexpected statuses", s[4]));
    }
    Ok(format!(
        "witness load: {} requests from {CLIENTS} clients in {secs:.2} s: {} cosigned (200), {} stale (409), {} forged (422), {} malformed (400)\n\
         valid throughput: {:.0} cosignatures/s; all requests: {:.0}/s\n\
         latency of a 200: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; of any request: p50 {:.2} ms, p99 {:.2} ms\n\
         final sizes per log: {sizes:?} (each equals its 200s: no rollback); server exit on SIGTERM: {exit}",
        la.len(),
        s[0],
        s[1],
        s[2],
        s[3],
        s[0] as f64 / secs,
        la.len() as f64 / secs,
        pct(&lv, 0.5),
        pct(&lv, 0.99),
        pct(&lv, 1.0),
        pct(&la, 0.5),
        pct(&la, 0.99),
    ))
}
