//! `ledger report`, looked at as a person would: the HTML page rendered
//! by headless Chromium (its DOM dumped and checked for the verdict, every
//! event anchor, party and document; a screenshot decoded and checked to
//! be the expected size and not blank), the PDF read by poppler
//! (`pdftotext`, `pdfinfo`, `pdffonts`), both deterministic, a refuted
//! ledger's report, a hostile ledger rendered inert, and the refusals
//! (existing output, inside the ledger, unwritable). A missing chromium or
//! poppler is a one-line skip, or a failure under LEDGER_REQUIRE_TOOLS=1.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/ledger");
const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/keys");

/// Whether `program` runs; if not, one line, or a failure under
/// LEDGER_REQUIRE_TOOLS=1 (as in CI).
fn tool(program: &str, test: &str) -> bool {
    let ok = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !ok {
        assert_ne!(
            std::env::var("LEDGER_REQUIRE_TOOLS").as_deref(),
            Ok("1"),
            "LEDGER_REQUIRE_TOOLS=1, but {program} cannot be run"
        );
        eprintln!("NOTICE: skipping {test}: no {program}");
    }
    ok
}

/// Runs a command with a deadline, killing it past `limit`; its stdout.
fn bounded(cmd: &mut Command, limit: Duration) -> Vec<u8> {
    let out = tempfile::NamedTempFile::new().unwrap();
    let mut child = cmd
        .stdout(out.reopen().unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{cmd:?} failed: {status}");
            return std::fs::read(out.path()).unwrap();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} took more than {limit:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Headless Chromium on `file`, with no network (an unroutable proxy),
/// a profile of its own, no sandbox (CI runs as root), and a deadline.
fn chromium(file: &Path, extra: &[&str]) -> Vec<u8> {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--hide-scrollbars",
        "--proxy-server=127.0.0.1:9",
        "--proxy-bypass-list=<-loopback>",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(extra)
    .arg(format!("file://{}", file.display()))
    .current_dir(profile.path());
    bounded(&mut cmd, Duration::from_secs(60))
}

fn dump_dom(file: &Path) -> String {
    String::from_utf8(chromium(file, &["--dump-dom"])).expect("utf-8 DOM")
}

fn report(fx: &Fx, args: &[&str]) -> Run {
    fx.run(&[&["report"], args].concat())
}

/// The sample's events, as verify --json gives them: (seq, hash).
fn sample_events() -> Vec<(u64, String)> {
    let fx = Fx::empty();
    let v = fx.run(&["verify", "--json", SAMPLE]).json();
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["seq"].as_u64().unwrap(),
                e["hash"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn sample_html_in_chromium_has_verdict_every_event_party_and_document() {
    let fx = Fx::empty();
    report(
        &fx,
        &[
            SAMPLE,
            "-o",
            "r.html",
            "--trust",
            KEYS,
            "--witness",
            &format!("{KEYS}/witness.vkey"),
        ],
    )
    .ok();
    let html = String::from_utf8(fx.read("r.html")).unwrap();
    assert!(html.contains(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
    ));
    assert!(!html.contains("<script"), "no script at all");
    assert!(
        !html.contains("http://") || !html.contains("src=\"http"),
        "nothing fetched"
    );
    let events = sample_events();
    if !tool("chromium", "the Chromium checks of tests/report.rs") {
        return;
    }
    let dom = dump_dom(&fx.p("r.html"));
    assert!(dom.contains("<h1>VERIFIED</h1>"), "verdict");
    for (seq, hash) in &events {
        assert!(
            dom.contains(&format!("<tr id=\"e{seq}\">")),
            "anchor #e{seq}"
        );
        assert!(dom.contains(hash), "hash of #{seq}");
    }
    for p in ["party-med", "party-most"] {
        assert!(dom.contains(&format!("id=\"{p}\"")), "{p}");
    }
    for d in ["doc-joint-declaration", "doc-work-plan-2017-2020"] {
        assert!(dom.contains(&format!("id=\"{d}\"")), "{d}");
    }
    // The fingerprint is the tool's one format, as `ledger fingerprint` prints it.
    let fp = fx.run(&["fingerprint", &format!("{KEYS}/most.pub")]);
    let fp = fp.stdout.clone();
    let fp = fp.split_whitespace().next().unwrap();
    assert!(dom.contains(fp), "most's fingerprint {fp}");
    assert!(dom.contains("<svg"), "the timeline");
}

#[test]
fn screenshot_is_the_window_size_and_not_blank() {
    if !tool("chromium", "the screenshot test of tests/report.rs") {
        return;
    }
    let fx = Fx::empty();
    report(&fx, &[SAMPLE, "-o", "r.html", "--trust", KEYS]).ok();
    let shot = fx.p("shot.png");
    chromium(
        &fx.p("r.html"),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1000,1400",
        ],
    );
    let decoder = png::Decoder::new(std::fs::File::open(&shot).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1000, 1400));
    let px = &buf[..info.buffer_size()];
    let channels = info.color_type.samples();
    // Not blank: many distinct colours, and a fair share of non-white.
    let mut colours = std::collections::BTreeSet::new();
    let mut ink = 0usize;
    for p in px.chunks(channels) {
        colours.insert(p[..3.min(channels)].to_vec());
        if p.iter().take(3).any(|&c| c < 200) {
            ink += 1;
        }
    }
    let pixels = px.len() / channels;
    assert!(colours.len() > 50, "{} colours", colours.len());
    assert!(ink * 100 > pixels, "{ink} of {pixels} pixels inked");
}

fn poppler(program: &str, pdf: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new(program);
    cmd.args(args).arg(pdf);
    if program == "pdftotext" {
        cmd.arg("-");
    }
    String::from_utf8(bounded(&mut cmd, Duration::from_secs(60))).unwrap()
}

#[test]
fn sample_pdf_text_fonts_pages_and_determinism() {
    let fx = Fx::empty();
    report(&fx, &[SAMPLE, "-o", "r.pdf", "--trust", KEYS]).ok();
    report(&fx, &[SAMPLE, "-o", "again.pdf", "--trust", KEYS]).ok();
    assert_eq!(
        fx.read("r.pdf"),
        fx.read("again.pdf"),
        "same ledger and options, same bytes"
    );
    report(&fx, &[SAMPLE, "-o", "r.html", "--trust", KEYS]).ok();
    report(&fx, &[SAMPLE, "-o", "again.html", "--trust", KEYS]).ok();
    assert_eq!(fx.read("r.html"), fx.read("again.html"));
    assert!(!String::from_utf8_lossy(&fx.read("r.html")).contains("Made at"));
    // --at is said, and only then.
    report(
        &fx,
        &[SAMPLE, "-o", "at.html", "--at", "2026-12-03T12:00:00Z"],
    )
    .ok();
    assert!(String::from_utf8_lossy(&fx.read("at.html")).contains("2026-12-03T12:00:00Z"));
    if !tool("pdftotext", "the poppler checks of tests/report.rs") {
        return;
    }
    let pdf = fx.p("r.pdf");
    let text = poppler("pdftotext", &pdf, &["-layout"]);
    assert!(text.contains("VERIFIED"));
    for p in ["med", "most"] {
        assert!(text.contains(p), "party {p}");
    }
    let head = fx.run(&["head", SAMPLE]).stdout;
    let head = head.split_whitespace().nth(1).unwrap().to_owned();
    assert!(text.contains(&head), "head hash");
    for (seq, hash) in sample_events() {
        assert!(text.contains(&format!("#{seq} ")), "event #{seq}");
        assert!(text.contains(&hash), "hash of #{seq}");
    }
    let info = poppler("pdfinfo", &pdf, &[]);
    let pages: u32 = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(pages >= 2, "{info}");
    assert!(info.contains("A4"), "{info}");
    assert!(text.contains(&format!("page 1 of {pages}")));
    let fonts = poppler("pdffonts", &pdf, &[]);
    let embedded = fonts
        .lines()
        .filter(|l| l.contains("DejaVuSansMono") && l.contains(" yes yes yes "))
        .count();
    assert_eq!(embedded, 2, "{fonts}");
    // The evidence rides along: events.cbor is attached.
    let files = poppler("pdfdetach", &pdf, &["-list"]);
    assert!(files.contains("events.cbor"), "{files}");
}

/// The sample with one byte of event 8's signature flipped.
fn refuted_ledger(fx: &Fx) -> PathBuf {
    copy_dir(Path::new(SAMPLE), &fx.p("bad"));
    let v = fx.run(&["verify", "--json", SAMPLE]).json();
    let ninth = v["events"][9]["offset"].as_u64().unwrap() as usize;
    let log = fx.p("bad/events.cbor");
    let mut bytes = std::fs::read(&log).unwrap();
    bytes[ninth - 1] ^= 1;
    std::fs::write(&log, bytes).unwrap();
    fx.p("bad")
}

#[test]
fn refuted_ledger_gets_a_report_up_to_the_failing_event() {
    let fx = Fx::empty();
    let bad = refuted_ledger(&fx);
    let bad = bad.to_str().unwrap();
    report(&fx, &[bad, "-o", "r.html"]).fails(1, "REFUTED");
    report(&fx, &[bad, "-o", "r.pdf"]).fails(1, "REFUTED");
    let html = String::from_utf8(fx.read("r.html")).unwrap();
    assert!(html.contains("<h1>REFUTED</h1>"));
    assert!(
        html.contains("at event <strong>#8</strong>"),
        "names the event"
    );
    for seq in 0..8 {
        assert!(
            html.contains(&format!("<tr id=\"e{seq}\">")),
            "proven #{seq}"
        );
    }
    assert!(
        !html.contains("<tr id=\"e9\">"),
        "nothing after the failure"
    );
    if tool(
        "chromium",
        "the refuted-ledger Chromium check of tests/report.rs",
    ) {
        let dom = dump_dom(&fx.p("r.html"));
        assert!(dom.contains("<h1>REFUTED</h1>"));
        assert!(dom.contains("id=\"e7\""));
        assert!(dom.contains("id=\"party-most\""));
        assert!(dom.contains("id=\"doc-joint-declaration\""));
    }
    if tool(
        "pdftotext",
        "the refuted-ledger PDF check of tests/report.rs",
    ) {
        let text = poppler("pdftotext", &fx.p("r.pdf"), &[]);
        assert!(text.contains("REFUTED"));
        assert!(text.contains("event #8"));
    }
}

#[test]
fn hostile_ledger_renders_as_inert_text() {
    let fx = Fx::with_keys();
    let evil = "</script><img src=x onerror=alert(1)>";
    let long = "W".repeat(10_000);
    let title = format!("{evil} \u{202E}gnp.exe");
    let t = fx.at();
    fx.run(&[
        "init",
        "led",
        "--key",
        "keys/ann.key",
        "--title",
        &title,
        "--party",
        "ann=keys/ann.pub",
        "--party",
        "bob=keys/bob.pub",
        "--at",
        &t,
    ])
    .ok();
    fx.append(
        "ann",
        &[
            "session-open",
            "--session",
            "s1",
            "--title",
            "</style><style>body{display:none}</style>",
        ],
    )
    .ok();
    fx.write(
        "d/x.txt",
        "<a href=\"javascript:alert(1)\">click</a>\n</pre><script>alert(2)</script>\u{2066}isolate\u{200F}\u{7}\u{0}\n",
    );
    fx.append(
        "ann",
        &[
            "draft",
            "--doc",
            "x",
            "--file",
            "d/x.txt",
            "--title",
            "javascript:alert(3)",
        ],
    )
    .ok();
    let note = format!("{long}\n<iframe src=\"https://example.com\"></iframe>\u{202E}");
    fx.append("bob", &["note", "--text", &note]).ok();
    report(&fx, &["led", "-o", "h.html"]).ok();
    report(&fx, &["led", "-o", "h.pdf"]).ok();
    let html = String::from_utf8(fx.read("h.html")).unwrap();
    for raw in [
        "<img",
        "<iframe",
        "<script",
        "href=\"javascript",
        "\u{202E}",
        "\u{2066}",
        "\u{7}",
    ] {
        assert!(!html.contains(raw), "{raw:?} reached the page as itself");
    }
    assert_eq!(
        html.matches("<style").count(),
        1,
        "only the report's own style"
    );
    assert!(html.contains("&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"));
    assert!(html.contains("\\u{202e}"), "the override shown, escaped");
    if !tool(
        "chromium",
        "the hostile-ledger Chromium check of tests/report.rs",
    ) {
        return;
    }
    let dom = dump_dom(&fx.p("h.html"));
    // The DOM Chromium built: the attacker's markup is text in it, and no
    // element of theirs exists.
    for el in ["<img", "<iframe", "<script", "<a href=\"javascript"] {
        assert!(!dom.contains(el), "{el} in the DOM");
    }
    assert_eq!(dom.matches("<style").count(), 1);
    assert!(dom.contains("&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"));
    assert!(dom.contains("&lt;/style&gt;&lt;style&gt;body{display:none}&lt;/style&gt;"));
    assert!(dom.contains(&long), "the long word is there, as text");
    // The long word wraps: the page is no wider than the window.
    let shot = fx.p("h.png");
    chromium(
        &fx.p("h.html"),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=800,1000",
        ],
    );
    let info = png::Decoder::new(std::fs::File::open(&shot).unwrap())
        .read_info()
        .unwrap()
        .info()
        .width;
    assert_eq!(info, 800);
    if tool(
        "pdftotext",
        "the hostile-ledger PDF check of tests/report.rs",
    ) {
        let text = poppler("pdftotext", &fx.p("h.pdf"), &[]);
        assert!(text.contains("onerror=alert(1)"));
        assert!(text.contains("\\u{202e}"));
    }
}

#[test]
fn refusals_existing_output_inside_the_ledger_unwritable() {
    let fx = Fx::empty();
    copy_dir(Path::new(SAMPLE), &fx.p("led"));
    fx.write("r.html", "mine");
    report(&fx, &["led", "-o", "r.html"]).fails(2, "already exists");
    assert_eq!(fx.read("r.html"), b"mine");
    report(&fx, &["led", "-o", "r.html", "--force"]).ok();
    assert!(fx.read("r.html").starts_with(b"<!DOCTYPE html>"));
    let before = snapshot(&fx.p("led"));
    report(&fx, &["led", "-o", "led/r.html"]).fails(2, "inside the ledger directory");
    report(&fx, &["led", "-o", "led/docs/r.html"]).fails(2, "inside the ledger directory");
    assert_same(&before, &snapshot(&fx.p("led")), &"refused reports");
    report(&fx, &["led", "-o", "no/such/dir/r.html"]).fails(2, "cannot write the report");
    report(&fx, &["led", "-o", "r.txt"]).fails(2, "--format");
    report(&fx, &["led", "-o", "r.txt", "--format", "html"]).ok();
    report(&fx, &["led", "-o", "x.html", "--at", "yesterday"]).fails(2, "--at");
    std::fs::create_dir(fx.p("ro")).unwrap();
    chmod(&fx.p("ro"), 0o555);
    // Root writes anyway; the refusal is only checked where it holds.
    if std::fs::write(fx.p("ro/probe"), b"").is_err() {
        report(&fx, &["led", "-o", "ro/r.html"]).fails(2, "cannot write the report");
    }
    chmod(&fx.p("ro"), 0o755);
}

/// Every event is listed up to `--list-max` (20 000 by default, so the
/// 10k bench ledger is listed whole: the sample's test above checks every
/// anchor); beyond, the ends, every change and act, and the rest counted
/// per session, said on the page.
#[test]
fn listing_aggregates_past_list_max_and_keeps_every_listed_anchor() {
    let fx = Fx::empty();
    report(&fx, &[SAMPLE, "-o", "all.html", "--trust", KEYS]).ok();
    let all = String::from_utf8(fx.read("all.html")).unwrap();
    assert!(all.contains("Every one of the 14 events is listed."));
    assert!(!all.contains("class=\"aggregated\""));
    report(
        &fx,
        &[SAMPLE, "-o", "agg.html", "--trust", KEYS, "--list-max", "4"],
    )
    .ok();
    let html = String::from_utf8(fx.read("agg.html")).unwrap();
    assert!(html
        .contains("<p class=\"aggregated\"><strong>Not every event is listed:</strong> 14 events"));
    let v = fx.run(&["verify", "--json", SAMPLE]).json();
    let mut hidden = 0;
    for e in v["events"].as_array().unwrap() {
        let seq = e["seq"].as_u64().unwrap();
        let kind = e["kind"].as_str().unwrap();
        let listed = html.contains(&format!("<tr id=\"e{seq}\">"));
        let of_interest = seq == 0
            || seq == 13
            || ["document-", "key-", "parties-"]
                .iter()
                .any(|k| kind.starts_with(k));
        assert_eq!(listed, of_interest, "#{seq} {kind}");
        hidden += u64::from(!listed);
    }
    assert!(hidden > 0);
    assert!(html.contains("events not listed (counted per session below)"));
    assert!(html.contains("<h3 id=\"sessions\">Events per session</h3>"));
}

/// With the TSA's root given, the timeline draws each event's proven
/// interval (claimed time to the TSA time it existed by), in the DOM and
/// in the PDF; without it, none.
#[test]
fn trusted_time_draws_each_events_proven_interval() {
    let fx = Fx::empty();
    let ca = format!("{KEYS}/sample-tsa-ca.pem");
    report(&fx, &[SAMPLE, "-o", "t.html", "--tsa-ca", &ca]).ok();
    report(&fx, &[SAMPLE, "-o", "n.html"]).ok();
    let plain = String::from_utf8(fx.read("n.html")).unwrap();
    assert!(!plain.contains("class=\"proven\""));
    if !tool("chromium", "the Chromium checks of tests/report.rs") {
        return;
    }
    let dom = dump_dom(&fx.p("t.html"));
    for seq in 0..14 {
        assert!(
            dom.contains(&format!("class=\"proven\" data-event=\"{seq}\"")),
            "interval of #{seq}"
        );
    }
    assert!(dom.contains("class=\"tsa-time\""));
    assert!(dom.contains("existed by 2026-12-03 09:41"));
    assert!(dom.contains("a TSA's time (RFC 3161, 1 token)"));
}

/// The PDF draws the timeline: its labels are text poppler reads, and the
/// page it is on, rendered by pdftoppm, holds the sessions' blue.
#[test]
fn pdf_draws_the_timeline() {
    let fx = Fx::empty();
    let ca = format!("{KEYS}/sample-tsa-ca.pem");
    report(
        &fx,
        &[SAMPLE, "-o", "r.pdf", "--trust", KEYS, "--tsa-ca", &ca],
    )
    .ok();
    if !tool("pdftoppm", "the poppler checks of tests/report.rs") {
        return;
    }
    let text = poppler("pdftotext", &fx.p("r.pdf"), &["-f", "1", "-l", "1"]);
    assert!(text.contains("Timeline"), "{text}");
    assert!(text.contains("TSA's time (RFC 3161)"), "{text}");
    let mut cmd = Command::new("pdftoppm");
    cmd.args(["-r", "60", "-f", "1", "-l", "1"])
        .arg(fx.p("r.pdf"));
    let ppm = bounded(&mut cmd, Duration::from_secs(60));
    // P6 header: magic, width, height, maxval, each after whitespace.
    let mut fields = Vec::new();
    let mut at = 0;
    while fields.len() < 4 {
        while ppm[at].is_ascii_whitespace() {
            at += 1;
        }
        let start = at;
        while !ppm[at].is_ascii_whitespace() {
            at += 1;
        }
        fields.push(String::from_utf8(ppm[start..at].to_vec()).unwrap());
    }
    assert_eq!(fields[0], "P6");
    let px = &ppm[at + 1..];
    let (mut blue, mut green) = (0usize, 0usize);
    for p in px.chunks(3) {
        let (r, g, b) = (i32::from(p[0]), i32::from(p[1]), i32::from(p[2]));
        blue += usize::from(b - r > 20 && b > 200);
        green += usize::from(g - r > 40 && g - b > 20);
    }
    let pixels = px.len() / 3;
    assert!(
        blue * 200 > pixels,
        "{blue} of {pixels} pixels session-blue"
    );
    assert!(green > 50, "{green} pixels of the proven intervals' green");
}
