//! Standard proofs of an event (FORMAT §21): `ledger prove --format
//! tlog-proof` and `--format cose-receipt`, checked by `ledger check-proof`
//! (format told by content), refuted when tampered with, naming why; and a
//! COSE receipt verified by an implementation we did not write: the PyPI
//! package `scitt-cose` (pinned in tools/requirements.txt), which recomputes
//! the RFC 9162 leaf from the event's stored bytes.

mod common;
mod prooflib;

use std::fs;
use std::process::Command;

use common::*;
use prooflib::*;

/// A ledger of 6 events with ann's checkpoint of size 6, trusted keys in
/// trust/, event 3 exported to out/event-3.cbor.
fn fixture() -> Fx {
    let fx = Fx::with_ledger();
    trust(&fx);
    grow(&fx, 6, false);
    fs::create_dir_all(fx.p("out")).unwrap();
    fx.run(&["export", "led", "--event", "3", "--out", "out"])
        .ok();
    fx
}

#[test]
fn a_tlog_proof_is_the_c2sp_format_and_checks() {
    let fx = fixture();
    fx.run(&[
        "prove",
        "led",
        "--event",
        "3",
        "--format",
        "tlog-proof",
        "-o",
        "p3",
    ])
    .ok();
    let p = String::from_utf8(fx.read("p3")).unwrap();
    let lines: Vec<&str> = p.lines().collect();
    assert_eq!(lines[0], "c2sp.org/tlog-proof@v1");
    let event = fx.read("out/event-3.cbor");
    assert_eq!(
        lines[1],
        format!("extra {}", base64ct_encode(&event)),
        "the extra data is the event's stored bytes"
    );
    assert_eq!(lines[2], "index 3");
    // A tree of 6: event 3's proof has 3 hashes, then an empty line and
    // the stored checkpoint verbatim.
    assert_eq!(lines[6], "");
    assert!(p.ends_with(&String::from_utf8(fx.read("led/checkpoints/6")).unwrap()));
    fx.run(&["check-proof", "p3", "--trust", "trust"]).ok();
    // Tampered: one inclusion hash changed, the index, the event.
    let h = lines[3].to_owned();
    let other = if h.starts_with('A') {
        h.replacen('A', "B", 1)
    } else {
        format!("A{}", &h[1..])
    };
    fx.write("bad-hash", p.replacen(&h, &other, 1));
    fx.refused(
        &["check-proof", "bad-hash", "--trust", "trust"],
        1,
        "event 3 is not proven to be in the checkpoint of size 6",
    );
    fx.write("bad-index", p.replacen("index 3", "index 2", 1));
    fx.refused(
        &["check-proof", "bad-index", "--trust", "trust"],
        1,
        "the bundle says index 2, but its event is number 3",
    );
    fx.write("trailing", format!("{p}x"));
    // Trailing data is part of the checkpoint note, whose parser refuses it.
    fx.refused(
        &["check-proof", "trailing", "--trust", "trust"],
        1,
        "found no newline at its end",
    );
    fx.write("noncanon", p.replacen("index 3", "index 03", 1));
    fx.refused(
        &["check-proof", "noncanon", "--trust", "trust"],
        2,
        "not a tlog-proof (FORMAT §21.1): line 3",
    );
    // Without its extra line the proof needs --entry, and then checks.
    let bare = p.replacen(&format!("{}\n", lines[1]), "", 1);
    fx.write("bare", &bare);
    fx.refused(
        &["check-proof", "bare", "--trust", "trust"],
        2,
        "--entry FILE",
    );
    fx.run(&[
        "check-proof",
        "bare",
        "--trust",
        "trust",
        "--entry",
        "out/event-3.cbor",
    ])
    .ok();
    // A witness policy it does not meet is refused, as for bundles.
    let w = "w1+00000000+AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let r = fx.run(&["check-proof", "p3", "--trust", "trust", "--witness", w]);
    assert_ne!(r.code, Some(0));
}

#[test]
fn a_cose_receipt_checks_with_its_event_and_refutes_tampering() {
    let fx = fixture();
    fx.refused(
        &[
            "prove",
            "led",
            "--event",
            "3",
            "--format",
            "cose-receipt",
            "-o",
            "r",
        ],
        2,
        "needs --key FILE",
    );
    // bob did not sign checkpoint 6: a receipt states the log's tree head.
    fx.refused(
        &[
            "prove",
            "led",
            "--event",
            "3",
            "--format",
            "cose-receipt",
            "--key",
            "keys/bob.key",
            "-o",
            "r",
        ],
        2,
        "not a key that signed the checkpoint of size 6",
    );
    fx.run(&[
        "prove",
        "led",
        "--event",
        "3",
        "--format",
        "cose-receipt",
        "--key",
        "keys/ann.key",
        "-o",
        "r3",
    ])
    .ok();
    let r = fx.read("r3");
    assert_eq!(&r[..2], &[0xd2, 0x84], "a tagged COSE_Sign1");
    fx.refused(
        &["check-proof", "r3", "--trust", "trust"],
        2,
        "--entry FILE",
    );
    fx.run(&[
        "check-proof",
        "r3",
        "--trust",
        "trust",
        "--entry",
        "out/event-3.cbor",
    ])
    .ok();
    // Another event's bytes: the proof rebuilds another root.
    fx.run(&["export", "led", "--event", "4", "--out", "out"])
        .ok();
    fx.refused(
        &[
            "check-proof",
            "r3",
            "--trust",
            "trust",
            "--entry",
            "out/event-4.cbor",
        ],
        1,
        "the bundle says index 3, but its event is number 4",
    );
    // The signature (last bytes) changed.
    let mut bad = r.clone();
    let n = bad.len();
    bad[n - 1] ^= 1;
    fx.write("bad-sig", &bad);
    fx.refused(
        &[
            "check-proof",
            "bad-sig",
            "--trust",
            "trust",
            "--entry",
            "out/event-3.cbor",
        ],
        1,
        "the receipt's signature by",
    );
    // Only ann's key trusted under another directory: bob's event 3 is
    // then untrusted, and a receipt by an unknown key too.
    fs::create_dir_all(fx.p("bobonly")).unwrap();
    fs::copy(fx.p("keys/bob.pub"), fx.p("bobonly/bob.pub")).unwrap();
    fx.refused(
        &[
            "check-proof",
            "r3",
            "--trust",
            "bobonly",
            "--entry",
            "out/event-3.cbor",
        ],
        1,
        "which is not among the trusted keys",
    );
    let mut trailing = r.clone();
    trailing.push(0);
    fx.write("trailing", &trailing);
    fx.refused(
        &[
            "check-proof",
            "trailing",
            "--trust",
            "trust",
            "--entry",
            "out/event-3.cbor",
        ],
        2,
        "not a COSE receipt",
    );
    let w = "w1+00000000+AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let r = fx.run(&[
        "check-proof",
        "r3",
        "--trust",
        "trust",
        "--entry",
        "out/event-3.cbor",
        "--witness",
        w,
    ]);
    assert_ne!(r.code, Some(0));
}

/// scitt-cose 0.5.0 (an independent Python implementation of RFC 9942 and
/// RFC 9162) verifies our receipt for the event's stored bytes, with the
/// log key's public key, and rejects it for another event's bytes.
#[test]
fn scitt_cose_verifies_our_receipt() {
    let ok = Command::new("python3")
        .args(["-c", "import scitt_cose.receipt"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert_ne!(
            std::env::var("LEDGER_REQUIRE_PYTHON").as_deref(),
            Ok("1"),
            "LEDGER_REQUIRE_PYTHON=1, but python3 cannot import scitt_cose: pip install -r tools/requirements.txt"
        );
        eprintln!("NOTICE: skipping the scitt-cose check: python3 cannot import scitt_cose (pip install -r tools/requirements.txt)");
        return;
    }
    let fx = fixture();
    fx.run(&["export", "led", "--event", "4", "--out", "out"])
        .ok();
    fx.run(&[
        "prove",
        "led",
        "--event",
        "3",
        "--format",
        "cose-receipt",
        "--key",
        "keys/ann.key",
        "-o",
        "r3",
    ])
    .ok();
    let script = r#"
import sys, json
from scitt_cose.receipt import verify_receipt
receipt, entry, other, pem = (open(p, 'rb').read() for p in sys.argv[1:5])
good = verify_receipt(receipt, leaf_entry_hex=entry.hex(), log_public_key_pem=pem)
bad = verify_receipt(receipt, leaf_entry_hex=other.hex(), log_public_key_pem=pem)
print(json.dumps({"ok": good.ok, "errors": good.errors, "size": good.tree_size, "index": good.leaf_index, "root": good.root, "other": bad.ok}))
"#;
    let out = Command::new("python3")
        .current_dir(fx.root())
        .args([
            "-c",
            script,
            "r3",
            "out/event-3.cbor",
            "out/event-4.cbor",
            "keys/ann.pub",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["size"], 6);
    assert_eq!(v["index"], 3);
    assert_eq!(v["other"], false);
    let ours = fx
        .run(&[
            "--json",
            "check-proof",
            "r3",
            "--trust",
            "trust",
            "--entry",
            "out/event-3.cbor",
        ])
        .json();
    assert_eq!(ours["proof"]["root"], v["root"]);
}

fn base64ct_encode(b: &[u8]) -> String {
    use base64ct::Encoding;
    base64ct::Base64::encode_string(b)
}
