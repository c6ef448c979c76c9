//! Go's own `golang.org/x/mod/sumdb/note` and `sumdb/tlog` (Debian's
//! golang-go and golang-golang-x-mod-dev, built offline in GOPATH mode)
//! check what `ledger` produces: a checkpoint's log signature and a
//! witness's cosignature (through sumdb/note's parser and key matching,
//! with a `cosignature/v1` verifier of a dozen lines, since sumdb/note
//! knows only type 0x01), an inclusion proof (`tlog.CheckRecord`) and a
//! consistency proof (`tlog.CheckTree`). The Go program is
//! tests/go/interop/main.go.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use base64ct::{Base64, Encoding};
use common::*;
use ledger::proofs::bundle::Bundle;

/// Builds the Go program once into the test's temporary target dir.
fn interop_bin() -> Option<PathBuf> {
    if !tool_available("go", None, "tests/go_interop.rs") {
        return None;
    }
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join("go-interop");
    std::fs::create_dir_all(&tmp).unwrap();
    let bin = tmp.join("interop");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/go/interop/main.go");
    let out = Command::new("go")
        .args(["build", "-o"])
        .arg(&bin)
        .arg(&src)
        .env("GO111MODULE", "off")
        .env("GOPATH", "/usr/share/gocode")
        .env("GOCACHE", tmp.join("cache"))
        .env("GOFLAGS", "")
        .env("CGO_ENABLED", "0")
        .output()
        .expect("go build");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && stderr.contains("cannot find package") {
        // go is there, x/mod is not: the same rule as a missing tool.
        assert_ne!(
            std::env::var("LEDGER_REQUIRE_TOOLS").as_deref(),
            Ok("1"),
            "LEDGER_REQUIRE_TOOLS=1, but golang-golang-x-mod-dev is missing: {stderr}"
        );
        eprintln!("NOTICE: skipping tests/go_interop.rs: no golang.org/x/mod in /usr/share/gocode");
        return None;
    }
    assert!(out.status.success(), "go build: {stderr}");
    Some(bin)
}

fn lines(hashes: &[[u8; 32]]) -> String {
    hashes
        .iter()
        .map(|h| Base64::encode_string(h) + "\n")
        .collect()
}

fn draft(fx: &Fx, who: &str, doc: &str) {
    let file = format!("d/{doc}.txt");
    fx.write(&file, format!("{doc}\n"));
    fx.append(
        who,
        &["draft", "--doc", doc, "--file", &file, "--title", "T"],
    )
    .ok();
}

#[test]
fn go_sumdb_verifies_our_notes_cosignatures_and_proofs() {
    let Some(go) = interop_bin() else { return };
    let fx = Fx::with_ledger();
    draft(&fx, "ann", "one");
    fx.run(&["checkpoint", "led", "--key", "keys/ann.key"]).ok();
    for d in ["two", "three", "four", "five"] {
        draft(&fx, "bob", d);
    }
    fx.run(&["checkpoint", "led", "--key", "keys/ann.key"]).ok();
    // A witness cosigns the size-6 checkpoint (file-based: the same code
    // as the HTTP witness).
    fx.run(&["keygen", "w1"]).ok();
    let wv = fx.run(&["vkey", "--key", "w1.pub", "--witness", "w1.example"]);
    wv.ok();
    let lv = fx.run(&["vkey", "--key", "keys/ann.pub", "--ledger", "led"]);
    lv.ok();
    fx.run(&["witness", "request", "led", "--old", "0", "-o", "req"])
        .ok();
    let log = lv.stdout.trim();
    fx.run(&[
        "witness",
        "cosign",
        "req",
        "--key",
        "w1.key",
        "--name",
        "w1.example",
        "--state",
        "wst",
        "--log",
        log,
        "-o",
        "cosigned",
    ])
    .ok();
    fx.run(&["checkpoint", "led", "--add", "cosigned"]).ok();

    fx.run(&["prove", "led", "--event", "3", "-o", "incl"]).ok();
    fx.run(&["prove", "led", "--from", "led/checkpoints/2", "-o", "cons"])
        .ok();
    let Bundle::Inclusion {
        index,
        event,
        proof,
        checkpoint,
    } = Bundle::decode(&fx.read("incl")).unwrap()
    else {
        panic!("not an inclusion bundle")
    };
    let Bundle::Consistency {
        old,
        new,
        proof: cproof,
    } = Bundle::decode(&fx.read("cons")).unwrap()
    else {
        panic!("not a consistency bundle")
    };
    assert_eq!(new, checkpoint);
    assert_eq!(checkpoint, fx.read("led/checkpoints/6"));

    fx.write("go/log.vkey", format!("{log}\n"));
    fx.write("go/witness.vkeys", wv.stdout.clone());
    fx.write("go/checkpoint", &checkpoint);
    fx.write(
        "go/inclusion",
        format!(
            "{index}\n{}\n{}",
            Base64::encode_string(&event),
            lines(&proof)
        ),
    );
    fx.write("go/old", &old);
    fx.write("go/consistency", lines(&cproof));
    let run = || Command::new(&go).arg(fx.p("go")).output().unwrap();
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout,
        "ok note: checkpoint of size 6 signed by the log and 1 witness(es)\n\
         ok inclusion: record 3 in tree 6\n\
         ok consistency: tree 2 -> 6\n"
    );

    // The Go side really checks: one flipped bit in each is refused.
    let mut bad = proof.clone();
    bad[0][0] ^= 1;
    fx.write(
        "go/inclusion",
        format!(
            "{index}\n{}\n{}",
            Base64::encode_string(&event),
            lines(&bad)
        ),
    );
    let out = run();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAIL tlog.CheckRecord"));
    fx.write(
        "go/inclusion",
        format!(
            "{index}\n{}\n{}",
            Base64::encode_string(&event),
            lines(&proof)
        ),
    );
    let mut cos = checkpoint.clone();
    let at = cos.len() - 5;
    cos[at] = if cos[at] == b'A' { b'B' } else { b'A' };
    fx.write("go/checkpoint", &cos);
    let out = run();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("FAIL note.Open"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Go's `tlog.TileHashReader` reads the tiles `ledger publish` wrote (C2SP
/// tlog-tiles, Go's `tile/8/L/N` mapped to `tile/L/N`): the tree hash is
/// the checkpoint's root, records in a full tile, in the partial one and
/// the first are proven from the tiles alone, and so is consistency from
/// half the size. A flipped byte in a full or in the partial level-0 tile
/// is refused by Go.
#[test]
fn go_tlog_reads_our_published_tiles() {
    use sha2::{Digest, Sha256};
    let Some(go) = interop_bin() else { return };
    let fx = Fx::with_ledger();
    // 600 events in all: two full level-0 tiles, a partial one, and a
    // partial level-1 tile above them.
    let have = stored_events(&fx.read("led/events.cbor")).len();
    for i in have..600 {
        fx.append("ann", &["note", "--text", &format!("n{i}")]).ok();
    }
    fx.run(&["checkpoint", "led", "--key", "keys/ann.key"]).ok();
    fx.run(&["publish", "led", "pub/site"]).ok();
    let events = stored_events(&fx.read("led/events.cbor"));
    assert_eq!(events.len(), 600);
    let mut records = String::new();
    for i in [0usize, 300, 599] {
        let leaf = Sha256::new_with_prefix([0u8])
            .chain_update(&events[i])
            .finalize();
        records += &format!("{i} {}\n", Base64::encode_string(&leaf));
    }
    fx.write("pub/records", records);
    let run = || {
        Command::new(&go)
            .arg("tiles")
            .arg(fx.p("pub/site"))
            .output()
            .unwrap()
    };
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout,
        "ok tiles: tree hash of 600 records is the checkpoint's root\n\
         ok tiles: record 0 proven from the tiles\n\
         ok tiles: record 300 proven from the tiles\n\
         ok tiles: record 599 proven from the tiles\n\
         ok tiles: tree 300 -> 600 proven from the tiles\n"
    );
    for tile in ["pub/site/tile/0/001", "pub/site/tile/0/002.p/88"] {
        let good = fx.read(tile);
        let mut bad = good.clone();
        bad[40] ^= 1;
        fx.write(tile, &bad);
        let out = run();
        assert_eq!(
            out.status.code(),
            Some(1),
            "a flipped byte in {tile} was accepted: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        eprintln!("{tile} flipped: {}", said.lines().last().unwrap_or(""));
        assert!(said.contains("FAIL tlog."), "{said}");
        fx.write(tile, &good);
    }
}

/// Each event's stored bytes, in order.
fn stored_events(log: &[u8]) -> Vec<Vec<u8>> {
    let mut reader = ledger::core::format::LogReader::new(log);
    let mut out = Vec::new();
    while reader.next_event().unwrap().is_some() {
        out.push(reader.last_bytes().to_vec());
    }
    out
}
