//! `--json` on every command (issue 11, point 12): on success, stdout is
//! one JSON document with the facts the text output gives; on failure,
//! stdout is one JSON object (`ok`, `exit`, `kind`, `message`, `error`)
//! and nothing else, stderr the same one line as without `--json`, and
//! the exit status the same. Each test pipes stdout into a JSON parser,
//! and after a refusal checks that the ledger is byte-for-byte unchanged.

mod common;

use std::fs;

use common::*;
use serde_json::{json, Value};

/// Stdout parsed as exactly one JSON document (nothing before or after).
#[track_caller]
fn one_json(r: &Run) -> Value {
    let mut docs = serde_json::Deserializer::from_str(&r.stdout).into_iter::<Value>();
    let first = match docs.next() {
        Some(Ok(v)) => v,
        other => panic!("stdout is not JSON ({other:?}):\n{r}"),
    };
    assert!(docs.next().is_none(), "more than one JSON document:\n{r}");
    first
}

/// A success: exit 0, nothing on stderr, one JSON document on stdout.
#[track_caller]
fn json_ok(r: &Run) -> Value {
    r.ok();
    one_json(r)
}

/// A failure with `--json`: exit `code`, one line on stderr containing
/// `needle`, and on stdout only the error object, whose message is that
/// line and whose kind is `kind`.
#[track_caller]
fn json_fails(r: &Run, code: i32, kind: &str, needle: &str) -> Value {
    r.fails_json(code, needle);
    let j = one_json(r);
    assert_eq!(j["ok"], json!(false), "{r}");
    assert_eq!(j["exit"], json!(code), "{r}");
    assert_eq!(j["kind"], json!(kind), "{r}");
    let line = r.stderr.trim_end().strip_prefix("ledger: ").unwrap();
    assert_eq!(j["message"], json!(line), "{r}");
    assert!(j["error"]["reason"].is_string(), "{r}");
    assert_eq!(
        j["verified"],
        if code == 1 { json!(false) } else { Value::Null }
    );
    j
}

/// Runs `args`, which must fail as [`json_fails`] says and leave every
/// path in `watch` unchanged.
#[track_caller]
fn json_refused(
    fx: &Fx,
    watch: &[&str],
    args: &[&str],
    code: i32,
    kind: &str,
    needle: &str,
) -> Value {
    let before: Vec<Snapshot> = watch.iter().map(|w| snapshot(&fx.p(w))).collect();
    let r = fx.run(args);
    let j = json_fails(&r, code, kind, needle);
    for (w, b) in watch.iter().zip(&before) {
        assert_same(b, &snapshot(&fx.p(w)), &r);
    }
    j
}

/// A ledger `led` with a document `d` and a checkpoint of its 2 events.
fn with_checkpoint() -> Fx {
    let fx = Fx::with_ledger();
    fx.write("d.txt", "A document.\n");
    fx.append(
        "ann",
        &["draft", "--doc", "d", "--file", "d.txt", "--title", "D"],
    )
    .ok();
    fx.run(&["checkpoint", "led", "--key", "keys/ann.key"]).ok();
    fx
}

#[test]
fn json_keygen() {
    let fx = Fx::empty();
    let j = json_ok(&fx.run(&["--json", "keygen", "k"]));
    // The fingerprint is the one `ledger fingerprint` prints for the key.
    let fp = json_ok(&fx.run(&["--json", "fingerprint", "k.pub"]));
    let want = fp[0]["fingerprint"]
        .as_str()
        .expect("a fingerprint")
        .to_string();
    assert!(want.starts_with("SHA256:"), "{want}");
    assert_eq!(
        j,
        json!({"private_key": "k.key", "public_key": "k.pub", "fingerprint": want})
    );
    json_refused(
        &fx,
        &["k.key"],
        &["--json", "keygen", "k"],
        2,
        "usage",
        "k.key",
    );
}

#[test]
fn json_init() {
    let fx = Fx::with_keys();
    let init = |dir: &str| {
        fx.run(&[
            "--json",
            "init",
            dir,
            "--key",
            "keys/ann.key",
            "--title",
            "T",
            "--party",
            "ann=keys/ann.pub",
        ])
    };
    let j = json_ok(&init("led"));
    assert_eq!(
        (j["seq"].clone(), j["kind"].clone()),
        (json!(0), json!("ledger-created"))
    );
    assert_eq!(j["author"], json!("ann"));
    json_refused(
        &fx,
        &["led"],
        &[
            "--json",
            "init",
            "led",
            "--key",
            "keys/ann.key",
            "--title",
            "T",
            "--party",
            "ann=keys/ann.pub",
        ],
        2,
        "usage",
        "already exists",
    );
}

#[test]
fn json_append_and_sign() {
    let fx = Fx::with_ledger();
    let t = fx.at();
    let r = fx.run(&[
        "--json",
        "append",
        "led",
        "--key",
        "keys/ann.key",
        "--at",
        &t,
        "note",
        "--text",
        "hi",
    ]);
    let j = json_ok(&r);
    assert_eq!(j["seq"], json!(1));
    assert_eq!(j["kind"], json!("note"));
    assert_eq!(j["hash"], json!(fx.head().1));
    fx.write("d.txt", "D\n");
    fx.append(
        "ann",
        &["draft", "--doc", "d", "--file", "d.txt", "--title", "D"],
    )
    .ok();
    let t = fx.at();
    let j = json_ok(&fx.run(&[
        "--json",
        "sign",
        "led",
        "--key",
        "keys/bob.key",
        "--at",
        &t,
        "--doc",
        "d",
    ]));
    assert_eq!(
        (j["kind"].clone(), j["author"].clone()),
        (json!("document-signed"), json!("bob"))
    );
    // A refused event: exit 2, the rule's message.
    let t = fx.at();
    json_refused(
        &fx,
        &["led"],
        &[
            "--json",
            "append",
            "led",
            "--key",
            "keys/bob.key",
            "--at",
            &t,
            "parties-approve",
            "--proposal",
            "p",
        ],
        2,
        "usage",
        "proposal \"p\" cannot be approved: no proposal is open",
    );
    // A refused sign.
    let t = fx.at();
    json_refused(
        &fx,
        &["led"],
        &[
            "--json",
            "sign",
            "led",
            "--key",
            "other/eve.key",
            "--at",
            &t,
            "--doc",
            "d",
        ],
        2,
        "usage",
        "not the key of any party",
    );
}

#[test]
fn json_verify() {
    let fx = Fx::with_ledger();
    let j = json_ok(&fx.run(&["--json", "verify", "led"]));
    assert_eq!(j["verified"], json!(true));
    assert_eq!(j["count"], json!(1));
    // A refutation: the failing event's evidence under "error".
    let random = "ab".repeat(32);
    let j = json_refused(
        &fx,
        &["led"],
        &["--json", "verify", "led", "--head", &random],
        1,
        "verification",
        "--head",
    );
    assert_eq!(j["error"]["cause"], json!("head"), "{j}");
    // A usage error.
    json_refused(
        &fx,
        &["led"],
        &["--json", "verify", "led", "--head", "xyz"],
        2,
        "usage",
        "--head \"xyz\"",
    );
}

#[test]
fn json_log_lists_the_events_not_the_report() {
    let fx = Fx::with_ledger();
    fx.append(
        "ann",
        &["note", "--text", "Next round in Moscow.\nBring maps."],
    )
    .ok();
    let log = json_ok(&fx.run(&["--json", "log", "led"]));
    let verify = json_ok(&fx.run(&["--json", "verify", "led"]));
    assert_ne!(log, verify);
    assert_eq!(log["verified"], json!(true));
    assert_eq!(log["count"], json!(2));
    assert_eq!(log["head"], verify["head"]);
    assert_eq!(log["events"], verify["events"]);
    assert!(
        log.get("documents").is_none() && log.get("parties").is_none(),
        "{log}"
    );
    let e = &log["events"][1];
    for field in ["seq", "offset", "hash", "time", "author", "kind", "summary"] {
        assert!(!e[field].is_null(), "{field}: {e}");
    }
    assert_eq!(e["notes"], json!("Next round in Moscow.\nBring maps."));
    json_refused(
        &fx,
        &["led"],
        &["--json", "log", "nothere"],
        2,
        "usage",
        "nothere is not a ledger",
    );
}

#[test]
fn json_head() {
    let fx = Fx::with_ledger();
    let (count, head) = fx.head();
    assert_eq!(
        json_ok(&fx.run(&["--json", "head", "led"])),
        json!({"count": count, "head": head})
    );
    json_refused(
        &fx,
        &[],
        &["--json", "head", "nothere"],
        2,
        "usage",
        "nothere is not a ledger",
    );
}

#[test]
fn json_repair() {
    let fx = Fx::with_ledger();
    let j = json_ok(&fx.run(&["--json", "repair", "led"]));
    assert_eq!(
        j,
        json!({"ledger": "led", "removed_bytes": 0, "count": 1, "removed_files": [], "left": []})
    );
    let mut log = fx.read("led/events.cbor");
    log.extend_from_slice(&[0xd2, 0x84]);
    fs::write(fx.p("led/events.cbor"), log).unwrap();
    let j = json_ok(&fx.run(&["--json", "repair", "led"]));
    assert_eq!(
        j,
        json!({"ledger": "led", "removed_bytes": 2, "count": 1, "removed_files": [], "left": []})
    );
    json_refused(
        &fx,
        &[],
        &["--json", "repair", "nothere"],
        2,
        "usage",
        "nothere is not a ledger",
    );
}

#[test]
fn json_import() {
    let fx = Fx::with_ledger();
    common::copy_dir(&fx.p("led"), &fx.p("copy"));
    let len = fx.read("led/events.cbor").len();
    fx.append("ann", &["note", "--text", "one"]).ok();
    fx.append("bob", &["note", "--text", "two"]).ok();
    fx.write("more.cbor", &fx.read("led/events.cbor")[len..]);
    let j = json_ok(&fx.run(&["--json", "import", "copy", "more.cbor"]));
    assert_eq!(
        (j["first_seq"].clone(), j["count"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(j["head"], json!(fx.head().1));
    // Again: the events no longer continue the chain.
    json_refused(
        &fx,
        &["copy"],
        &["--json", "import", "copy", "more.cbor"],
        2,
        "usage",
        "sequence number is 1, expected 3",
    );
    // A missing file: an I/O error.
    json_refused(
        &fx,
        &["copy"],
        &["--json", "import", "copy", "none.cbor"],
        2,
        "io",
        "cannot read none.cbor",
    );
}

#[test]
fn json_export() {
    let fx = Fx::with_ledger();
    fs::create_dir(fx.p("x")).unwrap();
    let j = json_ok(&fx.run(&["--json", "export", "led", "--event", "0", "--out", "x"]));
    assert_eq!(j["event"], json!(0));
    assert_eq!(j["author"], json!("ann"));
    assert_eq!(j["files"]["sig"], json!("x/event-0.sig"));
    for ext in ["tbs", "sig", "pub", "cbor"] {
        assert!(fx.p(&format!("x/event-0.{ext}")).is_file(), "{ext}");
    }
    json_refused(
        &fx,
        &["led", "x"],
        &["--json", "export", "led", "--event", "0", "--out", "x"],
        2,
        "usage",
        "already exists",
    );
    // Point 13: an event past the end is a usage error.
    json_refused(
        &fx,
        &["led", "x"],
        &["--json", "export", "led", "--event", "999", "--out", "x"],
        2,
        "usage",
        "--event 999: there is no event 999",
    );
}

#[test]
fn json_show() {
    let fx = with_checkpoint();
    let j = json_ok(&fx.run(&["--json", "show", "led", "--document", "d.txt"]));
    assert_eq!(j["found"], json!(true));
    fx.write("other.txt", "never drafted\n");
    json_refused(
        &fx,
        &["led"],
        &["--json", "show", "led", "--document", "other.txt"],
        1,
        "verification",
        "was never drafted",
    );
}

#[test]
fn json_checkpoint() {
    let fx = with_checkpoint();
    let j = json_ok(&fx.run(&["--json", "checkpoint", "led", "--key", "keys/bob.key"]));
    assert_eq!(j["size"], json!(2));
    json_refused(
        &fx,
        &["led"],
        &["--json", "checkpoint", "led", "--key", "other/eve.key"],
        2,
        "usage",
        "not a key of any party",
    );
}

#[test]
fn json_prove_and_check_proof() {
    let fx = with_checkpoint();
    let j = json_ok(&fx.run(&["--json", "prove", "led", "--event", "1", "-o", "p1"]));
    assert_eq!(j["kind"], json!("inclusion"));
    assert_eq!(j["path"], json!("p1"));
    assert_eq!(j["bytes"], json!(fs::metadata(fx.p("p1")).unwrap().len()));
    json_refused(
        &fx,
        &["led"],
        &["--json", "prove", "led", "--event", "5", "-o", "p5"],
        2,
        "usage",
        "event 5 is not in the checkpoint",
    );
    json_refused(
        &fx,
        &["led", "p1"],
        &["--json", "prove", "led", "--event", "1", "-o", "p1"],
        2,
        "usage",
        "cannot create p1",
    );
    let j = json_ok(&fx.run(&[
        "--json",
        "check-proof",
        "p1",
        "--trust",
        "keys/ann.pub",
        "--trust",
        "keys/bob.pub",
    ]));
    assert_eq!(j["verified"], json!(true));
    // Refuted: a bundle checked against keys that did not sign it.
    json_refused(
        &fx,
        &["p1"],
        &["--json", "check-proof", "p1", "--trust", "other/eve.pub"],
        1,
        "verification",
        "",
    );
}

#[test]
fn json_witness_request_and_cosign() {
    let fx = with_checkpoint();
    fx.run(&["keygen", "w"]).ok();
    let vkey = json_ok(&fx.run(&["--json", "vkey", "--key", "keys/ann.pub", "--ledger", "led"]));
    assert_eq!(vkey["kind"], json!("log"));
    let text = fx.run(&["vkey", "--key", "keys/ann.pub", "--ledger", "led"]);
    assert_eq!(vkey["vkey"], json!(text.stdout.trim_end()));
    fx.write("led.vkey", text.stdout.as_bytes());
    let j = json_ok(&fx.run(&[
        "--json", "witness", "request", "led", "--old", "0", "-o", "req",
    ]));
    assert_eq!(
        (j["path"].clone(), j["old"].clone()),
        (json!("req"), json!(0))
    );
    json_refused(
        &fx,
        &["led"],
        &[
            "--json", "witness", "request", "led", "--old", "9", "-o", "req9",
        ],
        2,
        "usage",
        "--old 9",
    );
    let cosign = |out: &str| {
        fx.run(&[
            "--json",
            "witness",
            "cosign",
            "req",
            "--key",
            "w.key",
            "--name",
            "w.example/w",
            "--state",
            "ws",
            "--log",
            "led.vkey",
            "-o",
            out,
        ])
    };
    let j = json_ok(&cosign("cos"));
    assert_eq!(j["witness"], json!("w.example/w"));
    assert!(
        j["vkey"].as_str().unwrap().starts_with("w.example/w+"),
        "{j}"
    );
    json_refused(
        &fx,
        &["ws", "cos"],
        &[
            "--json",
            "witness",
            "cosign",
            "req",
            "--key",
            "w.key",
            "--name",
            "w.example/w",
            "--state",
            "ws",
            "--log",
            "led.vkey",
            "-o",
            "cos",
        ],
        // The witness has cosigned size 2: a request from 0 conflicts (409).
        1,
        "verification",
        "the old size is 0",
    );
}

#[test]
fn json_vkey() {
    let fx = Fx::with_keys();
    let j = json_ok(&fx.run(&[
        "--json",
        "vkey",
        "--key",
        "keys/ann.pub",
        "--witness",
        "w.example/w",
    ]));
    assert_eq!(j["kind"], json!("witness"));
    assert_eq!(j["name"], json!("w.example/w"));
    assert!(
        j["vkey"].as_str().unwrap().starts_with("w.example/w+"),
        "{j}"
    );
    json_refused(
        &fx,
        &[],
        &["--json", "vkey", "--key", "keys/none.pub", "--witness", "w"],
        2,
        "usage",
        "--key keys/none.pub",
    );
}

#[test]
fn json_publish() {
    let fx = with_checkpoint();
    let j = json_ok(&fx.run(&["--json", "publish", "led", "site"]));
    assert_eq!(j["path"], json!("site"));
    assert_eq!(
        (j["size"].clone(), j["previous"].clone()),
        (json!(2), json!(0))
    );
    assert_eq!(j["documents"], json!(1));
    json_refused(
        &fx,
        &["site"],
        &["--json", "publish", "nothere", "site"],
        2,
        "usage",
        "nothere",
    );
}

#[test]
fn json_completions_and_man() {
    let fx = Fx::empty();
    let j = json_ok(&fx.run(&["--json", "completions", "bash"]));
    assert_eq!(j["shell"], json!("bash"));
    assert!(j["script"].as_str().unwrap().contains("keygen"));
    let j = json_ok(&fx.run(&["--json", "man"]));
    assert!(j["man"].as_str().unwrap().contains(".TH ledger 1"));
}

/// Argument errors (clap's) are JSON too when `--json` is anywhere on the
/// command line.
#[test]
fn json_argument_errors() {
    let fx = Fx::with_ledger();
    for args in [
        &["--json", "bogus"][..],
        &["verify", "--json"],
        &["export", "led", "--json", "--event", "x"],
        &["sign", "led", "--doc", "d", "--json"],
    ] {
        json_refused(&fx, &["led"], args, 2, "usage", "");
    }
    // Without --json (or after `--`, where it is not a flag), stdout is empty.
    let r = fx.run(&["bogus", "--", "--json"]);
    r.usage_error("usage: ledger");
}
