//! `ledger monitor` (issue 16.4): a published directory served over HTTP
//! by Python's `http.server` on 127.0.0.1, watched run after run; and a
//! hostile publisher (split view, rollback, tampered bundle, redirect,
//! huge or slow answers), each detected with its exit status. And
//! `ledger check-proof URL --event N` (issue 16.5) against the same
//! servers: the verdict a local directory gets, from the few files a proof
//! needs, and a hostile server's answers refused the same way. Over HTTPS
//! (the same server wrapped in Python's `ssl`, with a CA and certificates
//! made by `openssl`): trusted through `--tls-ca`, refused for an unknown
//! issuer, another name, or a server that does not speak TLS.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{tool_available, Fx};

/// A Python HTTP server on 127.0.0.1 serving `dir`, killed when dropped;
/// its access log in `log`.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const HOSTILE: &str = r#"
import http.server, sys, time, os
mode, root = sys.argv[2], sys.argv[3]
class H(http.server.SimpleHTTPRequestHandler):
    def __init__(s, *a, **k): super().__init__(*a, directory=root, **k)
    def do_GET(s):
        if mode == "redirect":
            s.send_response(302); s.send_header("Location", "http://127.0.0.1:1/elsewhere"); s.end_headers(); return
        if mode == "huge" and "entries" in s.path:
            s.send_response(200); s.send_header("Content-Length", str(1 << 30)); s.end_headers()
            try:
                for _ in range(1 << 14): s.wfile.write(b"\0" * 65536)
            except Exception: pass
            return
        if mode == "hugetile" and "tile/0/" in s.path:
            s.send_response(200); s.send_header("Content-Length", str(1 << 30)); s.end_headers()
            try:
                for _ in range(1 << 14): s.wfile.write(b"\0" * 65536)
            except Exception: pass
            return
        if mode == "status" and "tile/0/" in s.path:
            s.send_error(500); return
        if mode == "slow" and "entries" in s.path:
            time.sleep(30); return
        if mode == "truncated" and "entries" in s.path:
            data = open(os.path.join(root, s.path.lstrip("/")), "rb").read()
            s.send_response(200); s.send_header("Content-Length", str(len(data))); s.end_headers()
            s.wfile.write(data[: len(data) // 2]); s.wfile.flush(); return
        super().do_GET()
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"#;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn serve(fx: &Fx, dir: &str, mode: &str) -> Server {
    let port = free_port();
    fx.write("hostile.py", HOSTILE);
    let child = Command::new("python3")
        .arg(fx.p("hostile.py"))
        .args([&port.to_string(), mode, fx.p(dir).to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(fx.p(&format!("access-{port}.log"))).unwrap())
        .spawn()
        .expect("python3");
    let until = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "the server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child, port }
}

fn access_log(fx: &Fx, s: &Server) -> Vec<String> {
    let f = std::fs::File::open(fx.p(&format!("access-{}.log", s.port))).unwrap();
    BufReader::new(f)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| l.split('"').nth(1).map(str::to_owned))
        .collect()
}

fn python(test: &str) -> bool {
    let ok = tool_available("python3", None, test);
    if !ok {
        assert_ne!(std::env::var("LEDGER_REQUIRE_PYTHON").as_deref(), Ok("1"));
    }
    ok
}

/// A ledger with a note by each party, a checkpoint, published to `pub`.
fn published() -> Fx {
    let fx = Fx::with_ledger();
    fx.append("ann", &["note", "--text", "from ann"]).ok();
    fx.append("bob", &["note", "--text", "from bob"]).ok();
    fx.run(&["checkpoint", "led", "--key", "keys/ann.key"]).ok();
    fx.run(&["publish", "led", "pub"]).ok();
    fx
}

fn monitor(fx: &Fx, source: &str, state: &str, more: &[&str]) -> common::Run {
    let mut args = vec![
        "monitor",
        source,
        "--state",
        state,
        "--log-key",
        "keys/ann.pub",
        "--timeout",
        "2",
    ];
    args.extend_from_slice(more);
    fx.run(&args)
}

#[test]
fn over_http_fetches_only_what_is_new_and_reports_watched_parties() {
    if !python("monitor over HTTP") {
        return;
    }
    let fx = published();
    let s = serve(&fx, "pub", "plain");
    let url = format!("http://127.0.0.1:{}", s.port);
    let r = monitor(&fx, &url, "st", &["--watch-party", "bob"]);
    r.ok();
    assert!(r.stdout.contains("note by bob"), "{r}");
    assert!(!r.stdout.contains("note by ann"), "{r}");
    let first = access_log(&fx, &s).len();
    fx.append("ann", &["note", "--text", "later"]).ok();
    fx.append("bob", &["note", "--text", "bob again"]).ok();
    fx.run(&["checkpoint", "led", "--key", "keys/ann.key"]).ok();
    fx.run(&["publish", "led", "pub"]).ok();
    let r = monitor(&fx, &url, "st", &["--watch-party", "bob", "--json"]);
    r.ok();
    let lines: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let events: Vec<_> = lines.iter().filter(|l| l["type"] == "event").collect();
    assert_eq!(events.len(), 1, "{r}");
    assert_eq!(events[0]["event"]["seq"], 4);
    assert_eq!(events[0]["event"]["author"], "bob");
    let run = &lines.last().unwrap()["run"];
    assert_eq!(
        (run["previous"].as_u64(), run["size"].as_u64()),
        (Some(3), Some(5))
    );
    // Only the checkpoint, the one entry bundle past size 3 and its hash
    // tile were fetched the second time.
    let second: Vec<String> = access_log(&fx, &s)[first..].to_vec();
    assert_eq!(
        second,
        [
            "GET /checkpoint HTTP/1.1",
            "GET /tile/entries/000.p/5 HTTP/1.1",
            "GET /tile/0/000.p/5 HTTP/1.1"
        ],
        "{second:?}"
    );
    // Nothing new: nothing but the checkpoint.
    monitor(&fx, &url, "st", &[]).ok();
    assert_eq!(
        access_log(&fx, &s)[first + 3..],
        ["GET /checkpoint HTTP/1.1"]
    );
}

#[test]
fn split_view_rollback_and_tampering_are_findings_with_evidence() {
    let fx = published();
    // A fork of the same size, signed by the same key: equivocation.
    std::fs::create_dir(fx.p("fork")).unwrap();
    copy_dir(&fx.p("led"), &fx.p("fork"));
    copy_dir(&fx.p("pub"), &fx.p("old"));
    fx.append("ann", &["note", "--text", "one"]).ok();
    fx.run(&["checkpoint", "led", "--key", "keys/ann.key"]).ok();
    fx.run(&["publish", "led", "pub"]).ok();
    let t = fx.at();
    fx.run(&[
        "append",
        "fork",
        "--key",
        "keys/ann.key",
        "--at",
        &t,
        "note",
        "--text",
        "other",
    ])
    .ok();
    fx.run(&["checkpoint", "fork", "--key", "keys/ann.key"])
        .ok();
    fx.run(&["publish", "fork", "forkpub"]).ok();
    monitor(&fx, "pub", "st", &[]).ok();
    let r = monitor(&fx, "forkpub", "st", &[]);
    assert_eq!(r.code, Some(1), "{r}");
    assert!(r.stderr.contains("finding(s) against"), "{r}");
    assert!(r.stdout.contains("SPLIT VIEW"), "{r}");
    let r = monitor(&fx, "old", "st", &["--json"]);
    assert_eq!(r.code, Some(1), "{r}");
    assert!(r.stderr.contains("finding(s) against"), "{r}");
    assert!(r.stdout.contains("\"finding\":\"rollback\""), "{r}");
    let ev: Vec<_> = std::fs::read_dir(fx.p("st/evidence")).unwrap().collect();
    assert_eq!(ev.len(), 2);
    for e in ev {
        let d = e.unwrap().path();
        assert!(d.join("accepted-checkpoint").exists() && d.join("served-checkpoint").exists());
    }
    // The good log is still accepted after the findings.
    monitor(&fx, "pub", "st", &[]).ok();
    // A tampered entry bundle, seen by a fresh monitor.
    let b = fx.p("pub/tile/entries/000.p/4");
    let mut data = std::fs::read(&b).unwrap();
    let n = data.len();
    data[n - 3] ^= 1;
    std::fs::write(&b, &data).unwrap();
    let r = monitor(&fx, "pub", "fresh", &[]);
    assert_eq!(r.code, Some(1), "{r}");
    assert!(r.stderr.contains("finding(s) against"), "{r}");
    assert!(r.stdout.contains("BAD DATA"), "{r}");
}

#[test]
fn a_damaged_state_is_rebuilt_from_the_source() {
    let fx = published();
    monitor(&fx, "pub", "st", &[]).ok();
    let log = fx.p("st/ledger/events.cbor");
    let mut data = std::fs::read(&log).unwrap();
    data.truncate(data.len() - 1);
    std::fs::write(&log, &data).unwrap();
    let r = monitor(&fx, "pub", "st", &["--watch-party", "ann"]);
    r.ok();
    assert!(r.stdout.contains("rebuilt from the source"), "{r}");
    assert!(r.stdout.contains("note by ann"), "{r}");
    monitor(&fx, "pub", "st", &[]).ok();
}

#[test]
fn hostile_http_answers_are_refused_in_bounded_time() {
    if !python("monitor against a hostile HTTP server") {
        return;
    }
    let fx = published();
    for (mode, code, needle) in [
        ("redirect", 2, "a redirect to http://127.0.0.1:1/elsewhere"),
        ("huge", 2, "answered more than"),
        ("slow", 2, "timeout"),
        ("truncated", 2, "tile/entries/000.p/3"),
    ] {
        let s = serve(&fx, "pub", mode);
        let url = format!("http://127.0.0.1:{}", s.port);
        let start = Instant::now();
        let r = monitor(&fx, &url, &format!("st-{mode}"), &[]);
        r.fails(code, needle);
        assert!(start.elapsed() < Duration::from_secs(20), "{mode}: {r}");
        assert!(!fx.p(&format!("st-{mode}/state")).exists(), "{mode}");
    }
}

#[test]
fn max_age_exits_3() {
    let fx = published();
    // The story's events are from the past: their checkpoint is stale.
    let r = monitor(&fx, "pub", "st", &["--max-age", "1d"]);
    assert_eq!(r.code, Some(3), "{r}");
    assert!(r.stderr.contains("more than --max-age 86400 s"), "{r}");
    monitor(&fx, "pub", "st", &["--max-age", "soon"]).usage_error("--max-age");
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

/// The same directory served over TLS (Python's `ssl`, TLS 1.2 at least)
/// with `cert` and `key`, on a port the server chose and printed.
const TLS_SERVER: &str = r#"
import http.server, ssl, sys
root, cert, key = sys.argv[1:4]
class H(http.server.SimpleHTTPRequestHandler):
    def __init__(s, *a, **k): super().__init__(*a, directory=root, **k)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.minimum_version = ssl.TLSVersion.TLSv1_2
ctx.load_cert_chain(cert, key)
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;

fn serve_tls(fx: &Fx, dir: &str, name: &str) -> Server {
    fx.write("tls_server.py", TLS_SERVER);
    let mut child = Command::new("python3")
        .arg(fx.p("tls_server.py"))
        .arg(fx.p(dir))
        .arg(fx.p(&format!("pki/{name}.pem")))
        .arg(fx.p(&format!("pki/{name}.key")))
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(fx.p(&format!("tls-{name}.log"))).unwrap())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().unwrap_or_else(|_| {
        let _ = child.kill();
        panic!("the TLS server printed no port: {line:?}")
    });
    Server { child, port }
}

fn tls_tools(test: &str) -> bool {
    python(test) && tool_available("openssl", None, test)
}

#[test]
fn over_https_a_private_ca_given_with_tls_ca_is_trusted() {
    if !tls_tools("monitor over HTTPS") {
        return;
    }
    let fx = published();
    common::make_pki(&fx.p("pki"));
    let s = serve_tls(&fx, "pub", "good");
    let url = format!("https://127.0.0.1:{}/", s.port);
    let r = monitor(
        &fx,
        &url,
        "st",
        &["--tls-ca", "pki/ca.pem", "--watch-party", "bob"],
    );
    r.ok();
    assert!(r.stdout.contains("note by bob"), "{r}");
    // It goes on from the accepted state, as over http://.
    fx.append("ann", &["note", "--text", "later"]).ok();
    fx.run(&["checkpoint", "led", "--key", "keys/ann.key"]).ok();
    fx.run(&["publish", "led", "pub"]).ok();
    let r = monitor(&fx, &url, "st", &["--tls-ca", "pki/ca.pem", "--json"]);
    r.ok();
    // check-proof reads the same server through the same client.
    let c = check_proof(&fx, &url, "3", &["--tls-ca", "pki/ca.pem"]);
    c.ok();
    assert!(c.stdout.starts_with("OK: event #3 "), "{c}");
    check_proof(&fx, &url, "3", &[]).fails(2, "UnknownIssuer");
    let last: serde_json::Value = serde_json::from_str(r.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(
        (
            last["run"]["previous"].as_u64(),
            last["run"]["size"].as_u64()
        ),
        (Some(3), Some(4)),
        "{r}"
    );
}

#[test]
fn over_https_an_untrusted_issuer_another_name_or_no_tls_is_refused() {
    if !tls_tools("monitor over HTTPS, refusals") {
        return;
    }
    let fx = published();
    common::make_pki(&fx.p("pki"));
    let good = serve_tls(&fx, "pub", "good");
    let url = format!("https://127.0.0.1:{}", good.port);
    // Without --tls-ca the system's store decides: it knows no test CA.
    monitor(&fx, &url, "st", &[])
        .fails(2, "TLS: invalid peer certificate: UnknownIssuer")
        .fails(2, "--tls-ca");
    // A bundle of another CA.
    monitor(&fx, &url, "st", &["--tls-ca", "pki/stranger.pem"]).fails(
        2,
        "does not chain to any certificate of the --tls-ca bundle",
    );
    // The right CA, but a certificate for another host.
    let other = serve_tls(&fx, "pub", "other");
    monitor(
        &fx,
        &format!("https://127.0.0.1:{}", other.port),
        "st",
        &["--tls-ca", "pki/ca.pem"],
    )
    .fails(2, "TLS: invalid peer certificate")
    .fails(2, "127.0.0.1");
    // https:// to a server that speaks plain HTTP: a TLS failure, never a
    // fallback to http.
    let plain = serve(&fx, "pub", "plain");
    monitor(
        &fx,
        &format!("https://127.0.0.1:{}", plain.port),
        "st",
        &["--tls-ca", "pki/ca.pem"],
    )
    .fails(2, "TLS: ");
    // Nothing was accepted by any of them; plain http still works.
    assert!(!fx.p("st/state").exists());
    monitor(&fx, &format!("http://127.0.0.1:{}", plain.port), "st", &[]).ok();
    // A bundle that is not one is refused before anything is fetched.
    fx.write("empty.pem", "no certificate here\n");
    monitor(&fx, &url, "st2", &["--tls-ca", "empty.pem"]).fails(2, "holds no certificate");
    monitor(&fx, &url, "st2", &["--tls-ca", "pki/good.key"]).fails(2, "holds a private key");
    assert!(!fx.p("st2").exists());
}

fn check_proof(fx: &Fx, source: &str, event: &str, more: &[&str]) -> common::Run {
    let mut args = vec![
        "check-proof",
        source,
        "--event",
        event,
        "--trust",
        "keys/ann.pub",
        "--trust",
        "keys/bob.pub",
        "--timeout",
        "2",
    ];
    args.extend_from_slice(more);
    fx.run(&args)
}

#[test]
fn check_proof_over_http_gives_the_directorys_verdict_from_three_files() {
    if !python("check-proof over HTTP") {
        return;
    }
    let fx = published();
    let s = serve(&fx, "pub", "plain");
    let url = format!("http://127.0.0.1:{}/", s.port);
    for event in ["0", "1", "2"] {
        let local = check_proof(&fx, "pub", event, &[]);
        local.ok();
        let remote = check_proof(&fx, &url, event, &[]);
        remote.ok();
        assert_eq!(remote.stdout, local.stdout, "event {event}");
        assert!(
            remote.stdout.starts_with(&format!("OK: event #{event} ")),
            "{remote}"
        );
        let (l, r) = (
            check_proof(&fx, "pub", event, &["--json"]),
            check_proof(&fx, &url, event, &["--json"]),
        );
        assert_eq!(l.json(), r.json(), "event {event}");
        assert_eq!(r.json()["verified"], true);
    }
    // Only what a proof needs: the checkpoint, the one tile, the one entry
    // bundle; no document, nothing else.
    let log = access_log(&fx, &s);
    let mut asked: Vec<&str> = log.iter().map(String::as_str).collect();
    asked.sort_unstable();
    asked.dedup();
    assert_eq!(
        asked,
        [
            "GET /checkpoint HTTP/1.1",
            "GET /tile/0/000.p/3 HTTP/1.1",
            "GET /tile/entries/000.p/3 HTTP/1.1"
        ],
        "{log:?}"
    );
    // Usage: no --event, an event past the end, no published directory.
    check_proof(&fx, &url, "3", &[]).fails(2, "event 3 is not in the published tree of 3 events");
    fx.run(&["check-proof", &url, "--trust", "keys/ann.pub"])
        .fails(2, "needs --event N");
    check_proof(&fx, &format!("{url}nothing-here"), "1", &[])
        .fails(2, "nothing-here/ is not a published ledger (no checkpoint)");
    fx.run(&[
        "check-proof",
        &url,
        "--event",
        "1",
        "--trust",
        "keys/ann.pub",
        "--timeout",
        "0",
    ])
    .fails(2, "--timeout 0");
    fx.run(&[
        "check-proof",
        "pub",
        "--event",
        "1",
        "--trust",
        "keys/ann.pub",
        "--timeout",
        "0",
    ])
    .fails(2, "--timeout 0");
    // A key that signs nothing here: the served checkpoint is not trusted.
    // Refused before any tile is read.
    let before = access_log(&fx, &s).len();
    fx.run(&[
        "check-proof",
        &url,
        "--event",
        "1",
        "--trust",
        "keys/bob.pub",
    ])
    .fails(1, "carries no signature by a trusted key");
    assert_eq!(
        access_log(&fx, &s)[before..],
        ["GET /checkpoint HTTP/1.1"],
        "only the checkpoint"
    );
}

#[test]
fn check_proof_over_http_refuses_a_tampered_tile_and_hostile_answers() {
    if !python("check-proof against a hostile HTTP server") {
        return;
    }
    let fx = published();
    // A tile that does not hash to the checkpoint's root: evidence (exit 1),
    // as from a directory.
    copy_dir(&fx.p("pub"), &fx.p("bad"));
    let t = fx.p("bad/tile/0/000.p/3");
    let mut data = std::fs::read(&t).unwrap();
    data[40] ^= 1;
    std::fs::write(&t, &data).unwrap();
    check_proof(&fx, "bad", "1", &[]).fails(1, "do not hash to the trusted root");
    let bad = serve(&fx, "bad", "plain");
    check_proof(&fx, &format!("http://127.0.0.1:{}", bad.port), "1", &[])
        .fails(1, "do not hash to the trusted root");
    // A tile missing from the server (404): the publisher lacks what its
    // checkpoint needs, as from a directory.
    std::fs::remove_file(&t).unwrap();
    check_proof(&fx, &format!("http://127.0.0.1:{}", bad.port), "1", &[])
        .fails(1, "tile/0/000.p/3: not found");
    // Transport failures say nothing about the log: exit 2, in bounded
    // time. A 200 larger than the file can be is what the publisher
    // serves: exit 1, as an oversized file in a directory is.
    for (mode, code, kind, needle) in [
        (
            "redirect",
            2,
            "io",
            "a redirect to http://127.0.0.1:1/elsewhere",
        ),
        ("status", 2, "io", "tile/0/000.p/3: HTTP 500"),
        ("slow", 2, "io", "timeout"),
        ("truncated", 2, "io", "tile/entries/000.p/3"),
        (
            "huge",
            1,
            "verification",
            "tile/entries/000.p/3: answered more than the 196611 bytes",
        ),
        (
            "hugetile",
            1,
            "verification",
            "tile/0/000.p/3: a tile of width 3 is 96 bytes; the server answered more",
        ),
    ] {
        let s = serve(&fx, "pub", mode);
        let url = format!("http://127.0.0.1:{}", s.port);
        let start = Instant::now();
        let r = check_proof(&fx, &url, "1", &["--json"]);
        r.fails_json(code, needle);
        assert_eq!(r.json()["kind"], kind, "{mode}: {r}");
        assert!(start.elapsed() < Duration::from_secs(20), "{mode}: {r}");
    }
    // --tls-ca is for a URL; --timeout 0 is refused whatever the source.
    check_proof(&fx, "pub", "1", &["--tls-ca", "keys/ann.pub"])
        .fails(2, "--tls-ca is for an https:// URL");
    // Nothing is written by any of it.
    assert!(!fx.p("pub/proof").exists());
}
