//! `ledger witness serve` (C2SP tlog-witness over HTTP) and `ledger
//! checkpoint --policy` (gathering cosignatures), end to end on 127.0.0.1:
//! each status of add-checkpoint, a concurrent mix of valid, stale, forged
//! and malformed requests that must never roll the state back, slow
//! clients cut off at the header and body timeouts, SIGTERM finishing the
//! request in flight, and quorums met and not met against
//! several real witness servers. Every server is started by the test on
//! port 0, and killed by a guard's Drop whatever happens.

mod common;
mod prooflib;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64ct::Encoding;
use common::{key_file_from_seed, Fx, BIN};
use ledger::base::crypto::SigningKey;
use ledger::tlog::note::{self, sign, Checkpoint, Note, NoteVerifier, VerifierKind};
use ledger::tlog::witness::{origin_hash, AddCheckpoint, MAX_REQUEST_BYTES};
use prooflib::{mth, subproof, Hash};
use sha2::{Digest, Sha256};

const ORIGIN: &str = "ledger.example/log";

// ------------------------------------------------------------ servers

/// A running `ledger witness serve`; killed (if still running) on drop.
struct Server {
    child: Option<Child>,
    url: String,
}

impl Server {
    /// Starts a witness in `dir` (`<name>.key` is its key, state in
    /// `<name>-state`) trusting the log vkeys `logs`; waits for the
    /// address it prints.
    fn start(dir: &Path, name: &str, key: &Path, logs: &[String]) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.current_dir(dir)
            .args(["witness", "serve", "--listen", "127.0.0.1:0", "--key"])
            .arg(key)
            .args(["--name", name, "--state"])
            .arg(format!("{name}-state"));
        for l in logs {
            cmd.args(["--log", l]);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ledger witness serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let mut server = Server {
            child: Some(child),
            url: String::new(),
        };
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the witness printed no address within 20 s");
        server.url = line.trim().to_owned();
        assert!(server.url.starts_with("http://127.0.0.1:"), "{line:?}");
        server
    }

    fn addr(&self) -> String {
        self.url.trim_start_matches("http://").to_owned()
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    /// Sends `sig` and waits (at most 20 s) for the exit status.
    fn signal(&mut self, sig: &str) -> std::process::ExitStatus {
        let ok = Command::new("kill")
            .args([sig, &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let mut child = self.child.take().unwrap();
        let start = Instant::now();
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s;
            }
            if start.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the witness did not stop within 20 s of {sig}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(20)))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

fn post(agent: &ureq::Agent, url: &str, path: &str, body: &[u8]) -> Answer {
    let mut r = agent
        .post(&format!("{url}{path}"))
        .send(body)
        .expect("an HTTP answer");
    Answer {
        status: r.status().as_u16(),
        content_type: r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
        body: r.body_mut().read_to_string().unwrap_or_default(),
    }
}

// ------------------------------------------------------------ a log

fn leaf(i: u64) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(format!("event {i}").as_bytes());
    h.finalize().into()
}

/// A log of `n` leaves, its checkpoints signed by `key`.
struct Log {
    key: SigningKey,
    leaves: Vec<Hash>,
}

impl Log {
    fn new(key: SigningKey, n: u64) -> Log {
        Log {
            key,
            leaves: (0..n).map(leaf).collect(),
        }
    }
    fn vkey(&self) -> String {
        NoteVerifier::new(ORIGIN, VerifierKind::Ed25519, self.key.public())
            .unwrap()
            .to_string()
    }
    fn root(&self, n: u64) -> Hash {
        mth(&self.leaves[..n as usize])
    }
    fn note_by(&self, origin: &str, n: u64, key: &SigningKey) -> Vec<u8> {
        let text = Checkpoint::new(origin, n, self.root(n), vec![])
            .unwrap()
            .to_text();
        Note::new(&text, vec![sign(&text, origin, key).unwrap()])
            .unwrap()
            .to_bytes()
    }
    fn proof(&self, old: u64, new: u64) -> Vec<Hash> {
        if old == 0 {
            return vec![];
        }
        subproof(old as usize, &self.leaves[..new as usize], true)
    }
    fn request(&self, old: u64, new: u64) -> Vec<u8> {
        AddCheckpoint {
            old,
            proof: self.proof(old, new),
            checkpoint: self.note_by(ORIGIN, new, &self.key),
        }
        .to_bytes()
        .unwrap()
    }
}

/// The cosignatures of a 200 verify with the witness's key on `n`'s text.
fn cosigned_by(body: &str, log: &Log, n: u64, w: &NoteVerifier) -> bool {
    let text = Checkpoint::new(ORIGIN, n, log.root(n), vec![])
        .unwrap()
        .to_text();
    let Ok(sigs) = note::parse_signature_lines(body.as_bytes()) else {
        return false;
    };
    let Ok(n) = Note::new(&text, sigs) else {
        return false;
    };
    note::verify(&n, std::slice::from_ref(w)).is_ok()
}

struct Witnessed {
    fx: Fx,
    log: Log,
    wv: NoteVerifier,
    server: Server,
}

fn witness(leaves: u64) -> Witnessed {
    let fx = Fx::empty();
    let (wpath, wkey) = key_file_from_seed(fx.root(), "w1.key", &[7; 32]);
    let wv = NoteVerifier::new("w1.example", VerifierKind::CosignatureV1, wkey.public()).unwrap();
    let log = Log::new(SigningKey::generate(), leaves);
    let server = Server::start(fx.root(), "w1.example", &wpath, &[log.vkey()]);
    Witnessed {
        fx,
        log,
        wv,
        server,
    }
}

fn stored_size(fx: &Fx) -> u64 {
    let bytes = std::fs::read(fx.p(&format!("w1.example-state/{}", origin_hash(ORIGIN)))).unwrap();
    let n = Note::parse(&bytes).unwrap();
    Checkpoint::parse_text(n.text()).unwrap().size()
}

// ------------------------------------------------------------ statuses

#[test]
fn add_checkpoint_answers_each_status_of_the_spec() {
    let w = witness(12);
    let a = agent();
    let url = &w.server.url;

    // 200: first use, old 0; the answer is the cosignature line.
    let r = post(&a, url, "/add-checkpoint", &w.log.request(0, 5));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.content_type.starts_with("text/plain"));
    assert!(r.body.starts_with("\u{2014} w1.example ") && r.body.ends_with('\n'));
    assert!(cosigned_by(&r.body, &w.log, 5, &w.wv));
    assert_eq!(stored_size(&w.fx), 5);

    // 409: the old size is not the witness's, with the size it holds.
    let r = post(&a, url, "/add-checkpoint", &w.log.request(0, 8));
    assert_eq!(
        (r.status, r.content_type.as_str(), r.body.as_str()),
        (409, "text/x.tlog.size", "5\n")
    );

    // 422: a consistency proof that does not verify.
    let mut bad = AddCheckpoint::parse(&w.log.request(5, 8)).unwrap();
    bad.proof[0][0] ^= 1;
    let r = post(&a, url, "/add-checkpoint", &bad.to_bytes().unwrap());
    assert_eq!(r.status, 422, "{}", r.body);

    // 403: signed by a key the witness does not trust for this origin.
    let forged = AddCheckpoint {
        old: 5,
        proof: w.log.proof(5, 8),
        checkpoint: w.log.note_by(ORIGIN, 8, &SigningKey::generate()),
    };
    let r = post(&a, url, "/add-checkpoint", &forged.to_bytes().unwrap());
    assert_eq!(r.status, 403, "{}", r.body);

    // 404: an origin the witness does not know (tlog-witness: "If the
    // checkpoint origin is unknown, the witness MUST respond with 404").
    let other = AddCheckpoint {
        old: 0,
        proof: vec![],
        checkpoint: w.log.note_by("other.example/log", 3, &w.log.key),
    };
    let r = post(&a, url, "/add-checkpoint", &other.to_bytes().unwrap());
    assert_eq!(r.status, 404, "{}", r.body);

    // 400: malformed bodies, and old larger than the checkpoint.
    for body in [
        b"hello".to_vec(),
        b"old 05\n\n".to_vec(),
        w.log.request(5, 8)[1..].to_vec(),
        AddCheckpoint::parse(&w.log.request(5, 8))
            .map(|mut r| {
                r.old = 9;
                r.to_bytes().unwrap()
            })
            .unwrap(),
    ] {
        let r = post(&a, url, "/add-checkpoint", &body);
        assert_eq!(
            r.status,
            400,
            "{:?}: {}",
            String::from_utf8_lossy(&body),
            r.body
        );
    }

    // 413: a declared body over the limit is refused before it is read.
    let mut s = TcpStream::connect(w.server.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        MAX_REQUEST_BYTES + 1
    )
    .unwrap();
    let mut head = [0u8; 12];
    s.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 413");
    // ...and a chunked one that grows over it.
    let big = vec![b'a'; MAX_REQUEST_BYTES + 10];
    let r = a
        .post(&format!("{url}/add-checkpoint"))
        .send(ureq::SendBody::from_reader(&mut &big[..]))
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);

    // 404 and 405: other paths and methods.
    let r = post(&a, url, "/checkpoint", &w.log.request(5, 8));
    assert_eq!(r.status, 404);
    let r = a.get(&format!("{url}/add-checkpoint")).call().unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.headers().get("allow").unwrap(), "POST");

    // The monitoring endpoint: the state, with the log's signature and
    // the cosignature; 404 for an origin never cosigned or not trusted.
    let r = a
        .get(&format!("{url}/{}/checkpoint", origin_hash(ORIGIN)))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let note = r.into_body().read_to_vec().unwrap();
    assert_eq!(
        note,
        std::fs::read(w.fx.p(&format!("w1.example-state/{}", origin_hash(ORIGIN)))).unwrap()
    );
    for h in [origin_hash("other.example/log"), "lock".into()] {
        let r = a.get(&format!("{url}/{h}/checkpoint")).call().unwrap();
        assert_eq!(r.status().as_u16(), 404, "{h}");
    }

    // None of the refusals moved the state; a proper request still does.
    assert_eq!(stored_size(&w.fx), 5);
    let r = post(&a, url, "/add-checkpoint", &w.log.request(5, 8));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(cosigned_by(&r.body, &w.log, 8, &w.wv));
    assert_eq!(stored_size(&w.fx), 8);
}

// ------------------------------------------------------------ concurrency

#[derive(Debug, Clone, Copy)]
struct Cosigned {
    old: u64,
    new: u64,
}

#[test]
fn concurrent_mixed_requests_never_roll_the_state_back() {
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 200;
    const LEAVES: u64 = 4000;
    let w = witness(LEAVES);
    let latest = Arc::new(AtomicU64::new(0));
    let cosigned = Arc::new(Mutex::new(Vec::<Cosigned>::new()));
    let log = Arc::new(w.log);
    let wv = w.wv.clone();
    let url = w.server.url.clone();
    let counts = Arc::new(Mutex::new([0u32; 6]));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (latest, cosigned, log, wv, url, counts) = (
                latest.clone(),
                cosigned.clone(),
                log.clone(),
                wv.clone(),
                url.clone(),
                counts.clone(),
            );
            std::thread::spawn(move || {
                let a = agent();
                for i in 0..PER_THREAD {
                    let known = latest.load(Ordering::SeqCst);
                    let step = 1 + (t * 7 + i) % 3;
                    let new = (known + step).min(LEAVES);
                    let kind = (t + i) % 5;
                    let body = match kind {
                        // Valid against what this client last saw.
                        0 | 1 if new > known => log.request(known, new),
                        // Stale: an old size the witness has left behind.
                        2 if known > 0 => log.request(known - 1, new),
                        // Forged proof.
                        3 if known > 0 => {
                            let mut r = AddCheckpoint::parse(&log.request(known, new)).unwrap();
                            r.proof[0][5] ^= 0x40;
                            r.to_bytes().unwrap()
                        }
                        // Malformed.
                        _ => b"old 1\nnot base64\n\n".to_vec(),
                    };
                    let r = post(&a, &url, "/add-checkpoint", &body);
                    let slot = match r.status {
                        200 => {
                            let req = AddCheckpoint::parse(&body).unwrap();
                            assert!(
                                cosigned_by(&r.body, &log, new, &wv),
                                "a 200 whose cosignature does not verify: {}",
                                r.body
                            );
                            cosigned
                                .lock()
                                .unwrap()
                                .push(Cosigned { old: req.old, new });
                            latest.fetch_max(new, Ordering::SeqCst);
                            0
                        }
                        409 => {
                            assert_eq!(r.content_type, "text/x.tlog.size");
                            let n: u64 = r.body.trim_end_matches('\n').parse().unwrap();
                            latest.fetch_max(n, Ordering::SeqCst);
                            1
                        }
                        422 => 2,
                        400 => 3,
                        403 => 4,
                        other => panic!("unexpected status {other}: {}", r.body),
                    };
                    // A stale request is never cosigned, a forged proof
                    // never accepted, a malformed body always refused.
                    match kind {
                        2 if known > 0 => assert_eq!(r.status, 409, "stale: {}", r.body),
                        3 if known > 0 => assert!(matches!(r.status, 409 | 422), "{}", r.body),
                        _ => {}
                    }
                    counts.lock().unwrap()[slot] += 1;
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a client thread failed");
    }
    // Every 200 was a compare-and-swap from the stored size: sorted by the
    // size they replaced, they form one chain 0 → ... → final, with no
    // size replaced twice (a lost update) and none going back (a rollback).
    let mut c = cosigned.lock().unwrap().clone();
    c.sort_by_key(|c| c.old);
    let mut at = 0;
    for step in &c {
        assert_eq!(step.old, at, "chain broken: {c:?}");
        assert!(step.new > step.old);
        at = step.new;
    }
    assert_eq!(stored_size(&w.fx), at);
    assert_eq!(latest.load(Ordering::SeqCst), at);
    let counts = *counts.lock().unwrap();
    assert!(
        counts[0] >= 20 && counts[1] >= 20 && counts[2] >= 20 && counts[3] >= 20,
        "{counts:?}"
    );
    assert_eq!(counts.iter().sum::<u32>() as u64, THREADS * PER_THREAD);
}

// ------------------------------------------------------------ shutdown

#[test]
fn sigterm_finishes_the_request_in_flight_then_exits_0() {
    let mut w = witness(8);
    // A request whose body is half sent when SIGTERM arrives.
    let body = w.log.request(0, 6);
    let mut s = TcpStream::connect(w.server.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(&body[..10]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let kill = Command::new("kill")
        .args(["-TERM", &w.server.pid().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(&body[10..]).unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let line = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    assert!(cosigned_by(line, &w.log, 6, &w.wv), "{answer}");
    let status = w.server.signal("-TERM");
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert_eq!(stored_size(&w.fx), 6);
    // Nothing listens any more.
    assert!(TcpStream::connect(w.server.addr()).is_err());
}

/// Reads what the server sends on `s` until it closes the connection (or
/// `within` passes): the answer, and how long the server took to end it.
fn until_closed(s: &mut TcpStream, within: Duration) -> (String, Duration) {
    let start = Instant::now();
    s.set_read_timeout(Some(within)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    (String::from_utf8_lossy(&got).into_owned(), start.elapsed())
}

#[test]
fn slow_clients_are_cut_off_and_never_hold_up_the_others() {
    let w = witness(8);
    // 32 slowloris clients: headers that never end, a byte a second; and
    // 8 whose body never comes after its Content-Length.
    let mut headers: Vec<TcpStream> = (0..32)
        .map(|_| {
            let mut s = TcpStream::connect(w.server.addr()).unwrap();
            s.write_all(b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    let mut bodies: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = TcpStream::connect(w.server.addr()).unwrap();
            s.write_all(
                b"POST /add-checkpoint HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\nold 0\n",
            )
            .unwrap();
            s
        })
        .collect();
    let started = Instant::now();
    // Meanwhile, a good request is answered at once.
    let agent = agent();
    let url = format!("http://{}", w.server.addr());
    let a = post(&agent, &url, "/add-checkpoint", &w.log.request(0, 5));
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // Keep trickling header bytes past the 10 s header timeout: it is on
    // the whole head, so a byte a second does not keep a head open.
    for _ in 0..11 {
        std::thread::sleep(Duration::from_secs(1));
        for s in &mut headers {
            let _ = s.write_all(b"X");
        }
    }
    for s in &mut headers {
        let (answer, _) = until_closed(s, Duration::from_secs(15));
        assert!(
            answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
            "a slow head got: {answer:?}"
        );
    }
    let heads_done = started.elapsed();
    // Closed while the bytes still came (by 11 s), so not an idle timeout.
    assert!(
        heads_done < Duration::from_secs(12),
        "slow heads held for {heads_done:?}"
    );
    for s in &mut bodies {
        let (answer, _) = until_closed(s, Duration::from_secs(15));
        assert!(
            answer.starts_with("HTTP/1.1 408"),
            "a slow body got: {answer:?}"
        );
    }
    let bodies_done = started.elapsed();
    assert!(
        bodies_done < Duration::from_secs(14),
        "slow bodies held for {bodies_done:?}"
    );
    // The state is the good request's, and the server still answers.
    assert_eq!(stored_size(&w.fx), 5);
    let a = post(&agent, &url, "/add-checkpoint", &w.log.request(5, 8));
    assert_eq!(a.status, 200, "{}", a.body);
    eprintln!("slow heads closed after {heads_done:?}, slow bodies after {bodies_done:?}");
}

// ------------------------------------------------------------ checkpoint --policy

/// A ledger `led` (ann, bob) with three witness servers trusting ann's key.
struct Net {
    fx: Fx,
    servers: Vec<Server>,
    vkeys: Vec<String>,
}

fn net() -> Net {
    let fx = Fx::with_ledger();
    let log = fx.run(&["vkey", "--key", "keys/ann.pub", "--ledger", "led"]);
    log.ok();
    let log = log.stdout.trim().to_owned();
    let mut servers = Vec::new();
    let mut vkeys = Vec::new();
    for i in 1..=3u8 {
        let name = format!("w{i}.example");
        let (path, k) = key_file_from_seed(fx.root(), &format!("w{i}.key"), &[i; 32]);
        let v = NoteVerifier::new(&name, VerifierKind::CosignatureV1, k.public()).unwrap();
        vkeys.push(v.to_string());
        servers.push(Server::start(
            fx.root(),
            &name,
            &path,
            std::slice::from_ref(&log),
        ));
    }
    Net { fx, servers, vkeys }
}

impl Net {
    fn policy(&self, file: &str, quorum: &str) {
        let mut p = String::from("# three witnesses on loopback\n");
        for (i, (s, v)) in self.servers.iter().zip(&self.vkeys).enumerate() {
            p += &format!("witness w{} {v} {}\n", i + 1, s.url);
        }
        p += &format!("group two 2 w1 w2 w3\ngroup every all w1 w2 w3\nquorum {quorum}\n");
        self.fx.write(file, p);
    }
}

/// One more event in `led`: `who` drafts a document.
fn event(fx: &Fx, who: &str, doc: &str) {
    fx.write(&format!("d/{doc}.txt"), format!("{doc}\n"));
    let file = format!("d/{doc}.txt");
    fx.append(
        who,
        &["draft", "--doc", doc, "--file", &file, "--title", "T"],
    )
    .ok();
}

fn outcomes(report: &serde_json::Value) -> Vec<String> {
    report["witnesses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["outcome"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn checkpoint_policy_gathers_a_quorum_and_verify_checks_it() {
    let n = net();
    let fx = &n.fx;
    n.policy("two.policy", "two");
    n.policy("all.policy", "every");
    // A policy whose one witness (a key no server holds) never cosigned.
    fx.write(
        "w3only.policy",
        format!(
            "witness x {}\nquorum x\n",
            NoteVerifier::new(
                "x.example",
                VerifierKind::CosignatureV1,
                SigningKey::generate().public()
            )
            .unwrap()
        ),
    );
    event(fx, "ann", "first");

    let r = fx.run(&[
        "--json",
        "checkpoint",
        "led",
        "--key",
        "keys/ann.key",
        "--policy",
        "two.policy",
    ]);
    r.ok();
    let j = r.json();
    assert_eq!(j["quorum_met"], true, "{r}");
    assert_eq!(j["size"], 2);
    let o = outcomes(&j);
    assert_eq!(
        o.iter().filter(|o| *o == "cosigned").count()
            + o.iter().filter(|o| *o == "not_needed").count(),
        3,
        "{o:?}"
    );
    assert!(o.iter().filter(|o| *o == "cosigned").count() >= 2, "{o:?}");

    fx.run(&["verify", "led", "--policy", "two.policy"]).ok();
    fx.run(&["prove", "led", "--event", "1", "-o", "p.bundle"])
        .ok();
    fx.run(&[
        "check-proof",
        "p.bundle",
        "--trust",
        "keys/ann.pub",
        "--policy",
        "two.policy",
    ])
    .ok();
    fx.refused(
        &[
            "check-proof",
            "p.bundle",
            "--trust",
            "keys/ann.pub",
            "--policy",
            "w3only.policy",
        ],
        1,
        "quorum",
    );

    // Running it again asks nobody who already cosigned.
    let r = fx.run(&[
        "--json",
        "checkpoint",
        "led",
        "--key",
        "keys/ann.key",
        "--policy",
        "all.policy",
    ]);
    r.ok();
    let o = outcomes(&r.json());
    assert!(
        o.iter().filter(|o| *o == "already_cosigned").count() >= 2,
        "{o:?}"
    );
    fx.run(&["verify", "led", "--policy", "all.policy"]).ok();

    // Today's flags still work beside the policy file.
    let v: Vec<&str> = n.vkeys.iter().map(String::as_str).collect();
    fx.run(&[
        "verify",
        "led",
        "--witness",
        v[0],
        "--witness",
        v[1],
        "--witness",
        v[2],
    ])
    .ok();
    // A policy and --witness together are refused.
    fx.usage_refused(
        &["verify", "led", "--policy", "all.policy", "--witness", v[0]],
        "--policy",
    );
}

#[test]
fn checkpoint_policy_reports_a_quorum_not_met_and_stores_what_it_got() {
    let mut n = net();
    n.policy("all.policy", "every");
    n.policy("two.policy", "two");
    // w3 goes down.
    let s = n.servers.remove(2);
    let url3 = s.url.clone();
    drop(s);
    n.servers.push(Server {
        child: None,
        url: url3,
    });
    n.policy("all.policy", "every");
    let fx = &n.fx;

    let r = fx.run(&[
        "--json",
        "checkpoint",
        "led",
        "--key",
        "keys/ann.key",
        "--policy",
        "all.policy",
    ]);
    assert_eq!(r.code, Some(1), "{r}");
    assert!(r.stderr.contains("stored, but not witnessed enough"), "{r}");
    assert!(r.stderr.contains("quorum every"), "{r}");
    let j = r.json();
    assert_eq!(j["quorum_met"], false);
    assert_eq!(outcomes(&j), ["cosigned", "cosigned", "unreachable"], "{j}");
    // What the two cosigned is stored: enough for "two", not for "every".
    fx.run(&["verify", "led", "--policy", "two.policy"]).ok();
    fx.refused(
        &["verify", "led", "--policy", "all.policy"],
        1,
        "quorum every",
    );

    // Text report names each witness.
    let r = fx.run(&[
        "checkpoint",
        "led",
        "--key",
        "keys/ann.key",
        "--policy",
        "all.policy",
    ]);
    assert_eq!(r.code, Some(1), "{r}");
    assert!(r.stdout.contains("witness w1: already cosigned"), "{r}");
    assert!(r.stdout.contains("witness w3: no answer"), "{r}");
}

/// The same three witnesses behind TLS fronts (Python's `ssl`, a CA made
/// by openssl), their policy URLs https://: without `--tls-ca` none is
/// trusted (the system's store knows no test CA), so nothing is gathered;
/// with it the quorum is met.
#[test]
fn checkpoint_policy_over_https_trusts_the_ca_given_with_tls_ca() {
    if !common::tool_available("openssl", None, "checkpoint --policy over HTTPS")
        || !common::tool_available("python3", None, "checkpoint --policy over HTTPS")
    {
        return;
    }
    let n = net();
    let fx = &n.fx;
    common::make_pki(&fx.p("pki"));
    let fronts: Vec<common::TlsFront> = n
        .servers
        .iter()
        .map(|s| {
            let port = s.url.rsplit(':').next().unwrap();
            common::TlsFront::start(
                &fx.p("pki"),
                "good",
                port.trim_end_matches('/').parse().unwrap(),
            )
        })
        .collect();
    let mut p = String::new();
    for (i, (f, v)) in fronts.iter().zip(&n.vkeys).enumerate() {
        p += &format!("witness w{} {v} https://127.0.0.1:{}\n", i + 1, f.port);
    }
    p += "group every all w1 w2 w3\nquorum every\n";
    fx.write("tls.policy", p);
    event(fx, "ann", "first");
    let checkpoint = |more: &[&str]| {
        let mut args = vec![
            "--json",
            "checkpoint",
            "led",
            "--key",
            "keys/ann.key",
            "--policy",
            "tls.policy",
        ];
        args.extend_from_slice(more);
        fx.run(&args)
    };
    let r = checkpoint(&[]);
    assert_eq!(r.code, Some(1), "{r}");
    let j = r.json();
    assert_eq!(
        outcomes(&j),
        ["unreachable", "unreachable", "unreachable"],
        "{j}"
    );
    assert!(
        j.to_string()
            .contains("TLS: invalid peer certificate: UnknownIssuer"),
        "{j}"
    );
    let r = checkpoint(&["--tls-ca", "pki/ca.pem"]);
    r.ok();
    let j = r.json();
    assert_eq!(j["quorum_met"], true, "{r}");
    assert_eq!(outcomes(&j), ["cosigned", "cosigned", "cosigned"], "{j}");
    fx.run(&["verify", "led", "--policy", "tls.policy"]).ok();
    // --tls-ca is for gathering: without --policy it is refused.
    fx.usage_refused(
        &[
            "checkpoint",
            "led",
            "--key",
            "keys/ann.key",
            "--tls-ca",
            "pki/ca.pem",
        ],
        "--policy",
    );
}

#[test]
fn checkpoint_policy_retries_a_409_with_the_size_the_witness_reports() {
    let n = net();
    n.policy("one.policy", "w1");
    let fx = &n.fx;
    event(fx, "ann", "first");
    fx.run(&[
        "checkpoint",
        "led",
        "--key",
        "keys/ann.key",
        "--policy",
        "one.policy",
    ])
    .ok();
    // The ledger forgets where w1 stood (its checkpoints are optional
    // files): the next request says old 0, w1 answers 409 with 2.
    std::fs::remove_dir_all(fx.p("led/checkpoints")).unwrap();
    event(fx, "bob", "second");
    let r = fx.run(&[
        "--json",
        "checkpoint",
        "led",
        "--key",
        "keys/ann.key",
        "--policy",
        "one.policy",
    ]);
    r.ok();
    let j = r.json();
    let w1 = &j["witnesses"][0];
    assert_eq!(
        (
            w1["outcome"].as_str(),
            w1["retried"].as_bool(),
            w1["old"].as_u64()
        ),
        (Some("cosigned"), Some(true), Some(2)),
        "{j}"
    );
    fx.run(&["verify", "led", "--policy", "one.policy"]).ok();
}

#[test]
fn policy_files_are_parsed_strictly() {
    let n = net();
    let fx = &n.fx;
    fx.write(
        "bad.policy",
        format!("witness w1 {}\nmonitor w1\nquorum w1\n", n.vkeys[0]),
    );
    let before = common::snapshot(&fx.p("led"));
    let r = fx.usage_refused(
        &[
            "checkpoint",
            "led",
            "--key",
            "keys/ann.key",
            "--policy",
            "bad.policy",
        ],
        "policy line 2: unknown line kind",
    );
    common::assert_same(&before, &common::snapshot(&fx.p("led")), &r);
    fx.write("bad.policy", format!("witness w1 {}\n", n.vkeys[0]));
    fx.usage_refused(&["verify", "led", "--policy", "bad.policy"], "quorum");
}

// ------------------------------------------------------------ the spec's example

const SPEC_ORIGIN: &str = "example.com/behind-the-sofa";

/// `SHA-256(name || "\n" || type || key)[:4]`, computed here rather than
/// by the library (c2sp.org/signed-note, c2sp.org/tlog-cosignature).
fn key_id(name: &str, kind: u8, key: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', kind]);
    h.update(key);
    h.finalize()[..4].try_into().unwrap()
}

/// The example's checkpoint text (its note without the signature lines).
const SPEC_TEXT: &str =
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

/// A request of the example's shape: `head` (the old size line and proof
/// lines), a blank line, `text`, and one signature line by `key` under
/// the example's origin, made here from c2sp.org/signed-note.
fn signed_request(key: &ed25519_dalek::SigningKey, head: &str, text: &str) -> String {
    use ed25519_dalek::Signer;
    let pubkey = key.verifying_key().to_bytes();
    let mut sig = key_id(SPEC_ORIGIN, 0x01, &pubkey).to_vec();
    sig.extend_from_slice(&key.sign(text.as_bytes()).to_bytes());
    format!(
        "{head}\n\n{text}\n\u{2014} {SPEC_ORIGIN} {}\n",
        base64ct::Base64::encode_string(&sig)
    )
}

/// The example's request with its two signature lines (by a key nobody
/// publishes) replaced by one by `key` over the same checkpoint text.
fn spec_request_signed_by(key: &ed25519_dalek::SigningKey, head: &str) -> String {
    signed_request(key, head, SPEC_TEXT)
}

/// The spec's old size line and proof lines, as they stand.
fn spec_head() -> &'static str {
    common::TLOG_WITNESS_SPEC_REQUEST
        .split_once("\n\n")
        .unwrap()
        .0
}

/// Checks a 200's body as a client written from c2sp.org/tlog-cosignature
/// alone would: one line `— <name> base64(key ID || u64 BE timestamp ||
/// Ed25519 signature)`, the key ID that of the witness's key with type
/// 0x04, a timestamp within the request's time, and the signature over
/// `cosignature/v1\ntime <t>\n` followed by the checkpoint text.
fn check_cosignature(
    body: &str,
    name: &str,
    wkey: &ed25519_dalek::VerifyingKey,
    text: &str,
    sent: u64,
) {
    let line = body.strip_suffix('\n').expect("ends in a newline");
    assert!(!line.contains('\n'), "one line: {body:?}");
    let b64 = line
        .strip_prefix(&format!("\u{2014} {name} "))
        .unwrap_or_else(|| panic!("{line:?}"));
    let raw = base64ct::Base64::decode_vec(b64).unwrap();
    assert_eq!(raw.len(), 4 + 8 + 64, "Ed25519 cosignature/v1");
    assert_eq!(raw[..4], key_id(name, 0x04, &wkey.to_bytes()));
    let t = u64::from_be_bytes(raw[4..12].try_into().unwrap());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        t != 0 && (sent..=now).contains(&t),
        "timestamp {t} not in {sent}..={now}"
    );
    let msg = format!("cosignature/v1\ntime {t}\n{text}");
    let sig = ed25519_dalek::Signature::from_bytes(&raw[12..].try_into().unwrap());
    wkey.verify_strict(msg.as_bytes(), &sig)
        .expect("the cosignature verifies");
}

/// c2sp.org/tlog-witness's example request, sent to `ledger witness
/// serve` over HTTP: verbatim, and re-signed by a log key the witness is
/// given for the example's origin (the only parts of the example no one
/// can reproduce are its log key, its old root and its proof, which is
/// illustrative: 4 hashes where RFC 6962 needs 18). Each rule of the
/// spec that the example can exercise answers its status.
#[test]
fn the_spec_example_request_answers_as_the_spec_says() {
    let fx = Fx::empty();
    let a = agent();
    let spec = common::TLOG_WITNESS_SPEC_REQUEST;
    let text = SPEC_TEXT;
    assert!(spec.contains(&format!("\n\n{text}\n\u{2014} ")));

    // A witness that knows another log only: the verbatim request names
    // an unknown origin, 404.
    let (w1path, _) = key_file_from_seed(fx.root(), "w1.key", &[1; 32]);
    let other = Log::new(SigningKey::generate(), 1);
    let s = Server::start(fx.root(), "w1.example", &w1path, &[other.vkey()]);
    let r = post(&a, &s.url, "/add-checkpoint", spec.as_bytes());
    assert_eq!(r.status, 404, "{}", r.body);
    drop(s);

    // A witness given the example's origin with our key: the example's
    // two signatures are by a key ID it does not know, so it finds no
    // trusted signature, 403; it stores nothing.
    let log = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    let lpub = log.verifying_key().to_bytes();
    let mut vk = vec![0x01];
    vk.extend_from_slice(&lpub);
    let vkey = format!(
        "{SPEC_ORIGIN}+{}+{}",
        hex::encode(key_id(SPEC_ORIGIN, 0x01, &lpub)),
        base64ct::Base64::encode_string(&vk)
    );
    // The vkey built here from c2sp.org/signed-note is the library's too.
    assert_eq!(
        vkey,
        NoteVerifier::new(
            SPEC_ORIGIN,
            VerifierKind::Ed25519,
            ledger::base::crypto::PublicKey::from_bytes(&lpub, "the test log key").unwrap()
        )
        .unwrap()
        .to_string()
    );
    let (w2path, _) = key_file_from_seed(fx.root(), "w2.key", &[2; 32]);
    let w2pub = ed25519_dalek::SigningKey::from_bytes(&[2; 32]).verifying_key();
    let s = Server::start(
        fx.root(),
        "w2.example",
        &w2path,
        std::slice::from_ref(&vkey),
    );
    let r = post(&a, &s.url, "/add-checkpoint", spec.as_bytes());
    assert_eq!(r.status, 403, "{}", r.body);
    let state = fx.p(&format!("w2.example-state/{}", origin_hash(SPEC_ORIGIN)));
    assert!(!state.exists());

    // Re-signed by our key, old size line and proof lines as they stand:
    // the witness has cosigned nothing for the origin, so 409 and "0".
    let r = post(
        &a,
        &s.url,
        "/add-checkpoint",
        spec_request_signed_by(&log, spec_head()).as_bytes(),
    );
    assert_eq!(
        (r.status, r.content_type.as_str(), r.body.as_str()),
        (409, "text/x.tlog.size", "0\n")
    );
    // Old size 0 with the example's proof lines: a proof where none may
    // be, 422.
    let proof_lines = spec_head().split_once('\n').unwrap().1;
    let r = post(
        &a,
        &s.url,
        "/add-checkpoint",
        spec_request_signed_by(&log, &format!("old 0\n{proof_lines}")).as_bytes(),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    // An old size past the checkpoint's, 400.
    let r = post(
        &a,
        &s.url,
        "/add-checkpoint",
        spec_request_signed_by(&log, "old 20852164").as_bytes(),
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(!state.exists());

    // Old size 0, no proof: 200, and the cosignature checks by the spec
    // alone.
    let sent = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let r = post(
        &a,
        &s.url,
        "/add-checkpoint",
        spec_request_signed_by(&log, "old 0").as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    check_cosignature(&r.body, "w2.example", &w2pub, text, sent);
    // The monitoring endpoint serves it: the checkpoint, our log
    // signature and the cosignature just returned.
    let got = a
        .get(&format!(
            "{}/{}/checkpoint",
            s.url,
            origin_hash(SPEC_ORIGIN)
        ))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    let signed = spec_request_signed_by(&log, "old 0");
    let log_line = signed.rsplit_once("\n\n").unwrap().1;
    assert_eq!(got, format!("{text}\n{log_line}{}", r.body));

    // The same size again: the same root is cosigned again (old = size),
    // another root is a split view, 422; and the verbatim old size is now
    // not the witness's, 409 with the size it holds.
    let r = post(
        &a,
        &s.url,
        "/add-checkpoint",
        spec_request_signed_by(&log, "old 20852163").as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    check_cosignature(&r.body, "w2.example", &w2pub, text, sent);
    let other_root = SPEC_TEXT.replace("CsUYapGG", "DsUYapGG");
    let forked = signed_request(&log, "old 20852163", &other_root);
    let r = post(&a, &s.url, "/add-checkpoint", forked.as_bytes());
    assert_eq!(r.status, 422, "a split view: {}", r.body);
    // That root with the signature over the example's: 403.
    let stale = spec_request_signed_by(&log, "old 20852163").replace("CsUYapGG", "DsUYapGG");
    let r = post(&a, &s.url, "/add-checkpoint", stale.as_bytes());
    assert_eq!(r.status, 403, "{}", r.body);
    let r = post(
        &a,
        &s.url,
        "/add-checkpoint",
        spec_request_signed_by(&log, spec_head()).as_bytes(),
    );
    assert_eq!(
        (r.status, r.content_type.as_str(), r.body.as_str()),
        (409, "text/x.tlog.size", "20852163\n")
    );
    drop(s);

    // A witness that holds size 20852014, the example's old size, at the
    // old root RFC 9162 §2.1.4.2's algorithm derives from the example's
    // first proof line: the proof still does not lead to the example's
    // root (nor could it, being 4 hashes long), 422, and nothing moves.
    let (w3path, _) = key_file_from_seed(fx.root(), "w3.key", &[4; 32]);
    let s = Server::start(
        fx.root(),
        "w3.example",
        &w3path,
        std::slice::from_ref(&vkey),
    );
    let old_text =
        "example.com/behind-the-sofa\n20852014\nKmZgS4XVMYsHDFRI0U52OjyTbIhtC7BnJvIDs4Sa0OM=\n";
    let old_req = signed_request(&log, "old 0", old_text);
    let r = post(&a, &s.url, "/add-checkpoint", old_req.as_bytes());
    assert_eq!(r.status, 200, "{}", r.body);
    let r = post(
        &a,
        &s.url,
        "/add-checkpoint",
        spec_request_signed_by(&log, spec_head()).as_bytes(),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    let state = fx.p(&format!("w3.example-state/{}", origin_hash(SPEC_ORIGIN)));
    let kept = std::fs::read_to_string(&state).unwrap();
    assert!(kept.starts_with(old_text), "{kept}");
}
