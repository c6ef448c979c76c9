//! Air-gapped signing (FORMAT §20, issue 15.3) with the real binary and
//! real key files: `sign-request` on the networked side, `sign-offline`
//! with no ledger, `attach` back; and every way the files or the ledger
//! can have changed in between, each refused with one line, nothing
//! written. The byte-by-byte sweeps run through the library's decoders
//! (the same code the binary runs), and a stride of them through the
//! binary itself.

mod common;

use std::fs;
use std::process::{Command, Stdio};

use common::*;
use ledger::core::format::Kind;
use ledger::core::request::{Request, Signed, MAX_REQUEST_BYTES, MAX_SIGNED_BYTES};

/// `sign-request led --key keys/WHO.pub -o OUT --at NEXT ARGS...`
fn request(fx: &Fx, who: &str, out: &str, args: &[&str]) -> Run {
    let key = format!("keys/{who}.pub");
    let t = fx.at();
    let mut all = vec!["sign-request", "led", "--key", &key, "-o", out, "--at", &t];
    all.extend_from_slice(args);
    fx.run(&all)
}

/// `sign-offline REQ --key keys/WHO.key -o OUT --yes`
fn offline(fx: &Fx, req: &str, who: &str, out: &str) -> Run {
    let key = format!("keys/{who}.key");
    fx.run(&["sign-offline", req, "--key", &key, "-o", out, "--yes"])
}

/// A request, signed, attached: the three steps, each of which must pass.
fn round_trip(fx: &Fx, who: &str, args: &[&str]) -> Run {
    request(fx, who, "req.cbor", args).ok_stdout();
    offline(fx, "req.cbor", who, "signed.cbor").ok_stdout();
    let r = fx.run(&["attach", "led", "signed.cbor"]);
    r.ok_stdout();
    fs::remove_file(fx.p("req.cbor")).unwrap();
    fs::remove_file(fx.p("signed.cbor")).unwrap();
    r
}

trait OkStdout {
    fn ok_stdout(&self) -> &Self;
}

impl OkStdout for Run {
    /// Success; stdout may carry the command's report.
    #[track_caller]
    fn ok_stdout(&self) -> &Self {
        assert_eq!(self.code, Some(0), "expected success:\n{self}");
        assert_eq!(self.stderr, "", "expected a silent stderr:\n{self}");
        self
    }
}

/// A ledger `led` with a draft `memo` (by ann) that bob can sign, and bob's
/// request to sign it (`req.cbor`), which is not yet signed.
fn with_request() -> Fx {
    let fx = Fx::with_ledger();
    fx.write("memo.txt", "Memorandum\nArticle 1. The parties agree.\n");
    fx.append(
        "ann",
        &[
            "draft", "--doc", "memo", "--title", "Memo", "--file", "memo.txt",
        ],
    )
    .ok_stdout();
    request(&fx, "bob", "req.cbor", &["note", "--text", "bob agrees"]).ok_stdout();
    fx
}

#[test]
fn request_sign_offline_attach_verifies_with_both_verifiers() {
    let fx = Fx::with_ledger();
    fx.write("memo.txt", "Memorandum of understanding\nArticle 1.\n");
    // A draft: the request carries the new version's bytes, and attach
    // stores them.
    let r = round_trip(
        &fx,
        "bob",
        &[
            "draft", "--doc", "memo", "--title", "Memo", "--file", "memo.txt",
        ],
    );
    assert!(
        r.stdout
            .contains("appended event #1 (document-drafted) by bob"),
        "{r}"
    );
    // Approve and sign the version through the same road, by both parties.
    for who in ["ann", "bob"] {
        round_trip(&fx, who, &["approve", "--doc", "memo"]);
    }
    for who in ["bob", "ann"] {
        round_trip(&fx, who, &["sign", "--doc", "memo"]);
    }
    round_trip(&fx, "ann", &["note", "--text", "signed offline, both"]);
    let report = fx.report();
    assert_eq!(report["count"], 7, "{report}");
    assert_eq!(report["documents"][0]["status"], "executed", "{report}");
    if python_available() {
        let (bin, py, note) = both(fx.root(), &fx.p("led"), &[]);
        assert_eq!(bin.0, Some(0), "{note}");
        assert_eq!(bin, py, "{note}");
    }
    // The usual road still works after an attach.
    fx.append("ann", &["note", "--text", "and online again"])
        .ok_stdout();
    fx.report();
}

#[test]
fn a_request_holds_what_the_signer_needs_and_the_files_are_0644() {
    let fx = Fx::with_ledger();
    fx.write("memo.txt", "Memorandum\n");
    let (count, head) = fx.head();
    request(
        &fx,
        "bob",
        "req.cbor",
        &[
            "draft", "--doc", "memo", "--title", "Memo", "--file", "memo.txt",
        ],
    )
    .ok_stdout();
    let bytes = fx.read("req.cbor");
    let req = Request::decode(&bytes).unwrap();
    assert_eq!(req.body().seq, count);
    assert_eq!(req.body().prev.unwrap().to_hex(), head);
    assert_eq!(req.body().author.as_str(), "bob");
    assert_eq!(req.document(), Some(&b"Memorandum\n"[..]));
    assert!(matches!(req.body().kind, Kind::DocumentDrafted { .. }));
    let genesis = ledger::core::format::Event::decode(&fx.read("led/events.cbor")).unwrap();
    assert_eq!(req.body().ledger, genesis.body.ledger);
    assert_eq!(mode(&fx.p("req.cbor")) & 0o777, 0o644);
    offline(&fx, "req.cbor", "bob", "signed.cbor").ok_stdout();
    assert_eq!(mode(&fx.p("signed.cbor")) & 0o777, 0o644);
    let signed = Signed::decode(&fx.read("signed.cbor")).unwrap();
    assert_eq!(signed.event().payload(), req.payload());
    assert_eq!(signed.event().to_be_signed(), req.to_be_signed());
    // Nothing was added to the ledger by making or signing the request.
    assert_eq!(fx.head(), (count, head));
}

#[test]
fn sign_offline_shows_what_it_signs_escaped() {
    let fx = Fx::with_ledger();
    // A document whose text would drive a terminal: an escape sequence and
    // a right-to-left override.
    fx.write(
        "memo.txt",
        "Article 1\nThe parties agree\x1b[2J.\n\u{202e}txet desrever\n",
    );
    request(
        &fx,
        "bob",
        "req.cbor",
        &[
            "draft", "--doc", "memo", "--title", "Memo", "--file", "memo.txt",
        ],
    )
    .ok_stdout();
    let r = offline(&fx, "req.cbor", "bob", "signed.cbor");
    r.ok_stdout();
    let doc_hash = sha256_hex(&fx.read("memo.txt"));
    for needle in [
        "kind        document-drafted",
        "document    memo",
        "title       Memo",
        "signatories ann, bob",
        &format!("sha256 {doc_hash}"),
        "| Article 1",
        "| The parties agree\\u{1b}[2J.",
        "| \\u{202e}txet desrever",
        "party bob",
    ] {
        assert!(r.stdout.contains(needle), "summary lacks {needle:?}:\n{r}");
    }
    assert!(
        !r.stdout.contains('\x1b') && !r.stdout.contains('\u{202e}'),
        "{r}"
    );
    // The request's hash, as sign-request printed it, to compare.
    let sha = sha256_hex(&fx.read("req.cbor"));
    assert!(
        r.stdout.contains(&format!("sign request sha256 {sha}")),
        "{r}"
    );
}

#[test]
fn every_byte_of_a_request_flipped_is_refused() {
    let fx = with_request();
    fx.write("memo.txt", "Memorandum, amended\nArticle 1.\n");
    request(
        &fx,
        "bob",
        "amend.cbor",
        &["amend", "--doc", "memo", "--file", "memo.txt"],
    )
    .ok_stdout();
    // Every byte, every bit, through the decoder sign-offline runs.
    for name in ["req.cbor", "amend.cbor"] {
        let good = fx.read(name);
        Request::decode(&good).unwrap();
        eprintln!("{name}: {} bytes, {} bit flips", good.len(), good.len() * 8);
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut bad = good.clone();
                bad[i] ^= 1 << bit;
                assert!(
                    Request::decode(&bad).is_err(),
                    "{name}: byte {i} bit {bit} flipped was accepted"
                );
            }
        }
    }
    // And through the binary: every header byte (the domain, the key and
    // the payload's head), the digest's, and a stride through the rest.
    let good = fx.read("req.cbor");
    let n = good.len();
    let picks: Vec<usize> = (0..64)
        .chain((64..n - 34).step_by(13))
        .chain(n - 34..n)
        .collect();
    eprintln!("through sign-offline: {} flips", picks.len());
    for &i in &picks {
        let mut bad = good.clone();
        bad[i] ^= 0x20;
        fx.write("bad.cbor", &bad);
        let r = offline(&fx, "bad.cbor", "bob", "signed.cbor");
        r.fails(2, "bad.cbor");
        assert!(!fx.p("signed.cbor").exists(), "byte {i}: {r}");
    }
}

#[test]
fn every_byte_of_a_signed_event_flipped_is_refused_by_attach() {
    let fx = with_request();
    offline(&fx, "req.cbor", "bob", "signed.cbor").ok_stdout();
    let good = fx.read("signed.cbor");
    Signed::decode(&good).unwrap();
    for i in 0..good.len() {
        for bit in [0, 3, 7] {
            let mut bad = good.clone();
            bad[i] ^= 1 << bit;
            assert!(
                Signed::decode(&bad).is_err(),
                "byte {i} bit {bit} flipped was accepted"
            );
        }
    }
    let n = good.len();
    let picks: Vec<usize> = (0..48)
        .chain((48..n).step_by(29))
        .chain(n - 64..n)
        .collect();
    eprintln!(
        "signed.cbor: {n} bytes, {} flips; through attach: {}",
        n * 3,
        picks.len()
    );
    for &i in &picks {
        let mut bad = good.clone();
        bad[i] ^= 0x01;
        fx.write("bad.cbor", &bad);
        fx.refused(&["attach", "led", "bad.cbor"], 2, "bad.cbor");
    }
    // The good one still attaches after all that.
    fx.run(&["attach", "led", "signed.cbor"]).ok_stdout();
    fx.report();
}

#[test]
fn attach_refuses_when_the_head_moved_and_says_how_to_go_on() {
    let fx = with_request();
    offline(&fx, "req.cbor", "bob", "signed.cbor").ok_stdout();
    fx.append("ann", &["note", "--text", "meanwhile"])
        .ok_stdout();
    let r = fx.refused(&["attach", "led", "signed.cbor"], 2, "head has moved");
    assert!(r.stderr.contains("ledger sign-request"), "{r}");
    // A new request at the new head goes through.
    fs::remove_file(fx.p("req.cbor")).unwrap();
    fs::remove_file(fx.p("signed.cbor")).unwrap();
    round_trip(&fx, "bob", &["note", "--text", "bob agrees"]);
    fx.report();
}

#[test]
fn a_signed_event_is_attached_once_only() {
    let fx = with_request();
    offline(&fx, "req.cbor", "bob", "signed.cbor").ok_stdout();
    fx.run(&["attach", "led", "signed.cbor"]).ok_stdout();
    let r = fx.refused(
        &["attach", "led", "signed.cbor"],
        2,
        "already in the ledger",
    );
    assert!(r.stderr.contains("once only"), "{r}");
    assert_eq!(fx.report()["count"], 3);
}

#[test]
fn attach_refuses_another_ledgers_event() {
    let fx = with_request();
    offline(&fx, "req.cbor", "bob", "signed.cbor").ok_stdout();
    fx.run(&[
        "init",
        "led2",
        "--key",
        "keys/ann.key",
        "--title",
        "Another negotiation",
        "--party",
        "ann=keys/ann.pub",
        "--party",
        "bob=keys/bob.pub",
        "--at",
        &time(0),
    ])
    .ok_stdout();
    fx.refused_watching(
        &["led2"],
        &["attach", "led2", "signed.cbor"],
        2,
        "not this ledger",
    );
}

#[test]
fn the_wrong_key_is_refused_naming_party_and_fingerprint() {
    let fx = with_request();
    let fp = |who: &str| {
        let r = fx.run(&["fingerprint", &format!("keys/{who}.pub")]);
        r.ok_stdout();
        r.stdout
            .split_whitespace()
            .find(|w| w.starts_with("SHA256:"))
            .unwrap()
            .to_owned()
    };
    // sign-offline with another party's key: refused before anything is
    // signed, naming the party asked and both keys.
    let r = offline(&fx, "req.cbor", "ann", "signed.cbor");
    r.fails(2, "party \"bob\"");
    assert!(
        r.stderr.contains(&fp("ann")) && r.stderr.contains(&fp("bob")),
        "{r}"
    );
    assert!(!fx.p("signed.cbor").exists());
    // sign-request for a key no party has.
    fx.refused(
        &[
            "sign-request",
            "led",
            "--key",
            "other/eve.pub",
            "-o",
            "eve.cbor",
            "note",
            "--text",
            "x",
        ],
        2,
        "not the key of any party",
    );
    assert!(!fx.p("eve.cbor").exists());
    // A forger rewrites bob's request for eve's key, with a correct digest
    // (the digest is no signature, FORMAT §20.4), and eve signs it: attach
    // refuses it, naming the party the event claims and eve's key.
    let req = Request::decode(&fx.read("req.cbor")).unwrap();
    let eve = ledger::base::crypto::PublicKey::from_file(&fx.p("other/eve.pub")).unwrap();
    let forged = Request::new(eve, req.body().clone(), None).unwrap();
    fx.write("forged.cbor", forged.encode());
    fx.run(&[
        "sign-offline",
        "forged.cbor",
        "--key",
        "other/eve.key",
        "-o",
        "eve-signed.cbor",
        "--yes",
    ])
    .ok_stdout();
    let r = fx.refused(&["attach", "led", "eve-signed.cbor"], 2, "\"bob\"");
    let eve_fp = fx.run(&["fingerprint", "other/eve.pub"]).stdout;
    let eve_fp = eve_fp
        .split_whitespace()
        .find(|w| w.starts_with("SHA256:"))
        .unwrap();
    assert!(r.stderr.contains(eve_fp), "{r}");
    // ann's key, claiming to be bob: refused, naming both.
    let ann = ledger::base::crypto::PublicKey::from_file(&fx.p("keys/ann.pub")).unwrap();
    fx.write(
        "as-ann.cbor",
        Request::new(ann, req.body().clone(), None)
            .unwrap()
            .encode(),
    );
    offline(&fx, "as-ann.cbor", "ann", "ann-signed.cbor").ok_stdout();
    let r = fx.refused(&["attach", "led", "ann-signed.cbor"], 2, "party \"ann\"");
    assert!(
        r.stderr.contains("\"bob\"") && r.stderr.contains(&fp("ann")),
        "{r}"
    );
}

#[test]
fn no_terminal_and_no_yes_signs_nothing() {
    let fx = with_request();
    let out = Command::new(BIN)
        .args([
            "sign-offline",
            "req.cbor",
            "--key",
            "keys/bob.key",
            "-o",
            "signed.cbor",
        ])
        .current_dir(fx.root())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let r = Run {
        args: vec![],
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    r.fails(2, "not one");
    assert!(
        r.stderr.contains("--yes") && r.stderr.contains("nothing was signed"),
        "{r}"
    );
    assert!(!fx.p("signed.cbor").exists());
}

/// On a real terminal (util-linux `script` gives the command a pty), the
/// summary is followed by a question: "y" signs, anything else does not.
#[test]
fn on_a_terminal_it_asks_and_only_yes_signs() {
    if !tool_available("script", None, "the terminal confirmation test") {
        return;
    }
    let fx = with_request();
    let ask = |answer: &str, out: &str| {
        let cmd = format!("{BIN} sign-offline req.cbor --key keys/bob.key -o {out}");
        let mut child = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .current_dir(fx.root())
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // After the question is up, so the pty does not swallow it.
        std::thread::sleep(std::time::Duration::from_millis(500));
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        let _ = stdin.write_all(format!("{answer}\n").as_bytes());
        let out = child.wait_with_output().unwrap();
        drop(stdin);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, text) = ask("n", "no.cbor");
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("sign this event with SHA256:") && text.contains("not confirmed"),
        "{text}"
    );
    assert!(!fx.p("no.cbor").exists());
    let (code, text) = ask("y", "yes.cbor");
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains("kind        note") && text.contains("wrote signed event"),
        "{text}"
    );
    fx.run(&["attach", "led", "yes.cbor"]).ok_stdout();
}

#[test]
fn truncated_trailing_and_huge_inputs_are_refused() {
    let fx = with_request();
    let good = fx.read("req.cbor");
    for len in 0..good.len() {
        assert!(Request::decode(&good[..len]).is_err(), "truncated to {len}");
    }
    offline(&fx, "req.cbor", "bob", "signed.cbor").ok_stdout();
    let signed = fx.read("signed.cbor");
    for len in 0..signed.len() {
        assert!(
            Signed::decode(&signed[..len]).is_err(),
            "truncated to {len}"
        );
    }
    for (name, bytes) in [
        ("empty.cbor", Vec::new()),
        ("short.cbor", good[..good.len() / 2].to_vec()),
        ("trailing.cbor", [&good[..], &[0x00]].concat()),
        ("twice.cbor", [&good[..], &good[..]].concat()),
        // An array of 5 whose first item claims 2^62 bytes: refused
        // without allocating them.
        (
            "claims.cbor",
            [&[0x85, 0x5b][..], &(1u64 << 62).to_be_bytes(), b"xx"].concat(),
        ),
        // A signed event file where a request is expected.
        ("signed-as-request.cbor", signed.clone()),
    ] {
        fx.write(name, &bytes);
        offline(&fx, name, "bob", "out.cbor").fails(2, name);
        assert!(!fx.p("out.cbor").exists());
    }
    for (name, bytes) in [
        ("s-trailing.cbor", [&signed[..], &[0x00]].concat()),
        ("s-short.cbor", signed[..signed.len() - 1].to_vec()),
        ("request-as-signed.cbor", good.clone()),
    ] {
        fx.write(name, &bytes);
        fx.refused(&["attach", "led", name], 2, name);
    }
    // Larger than any request or signed file may be: refused from its size
    // alone (a sparse file: nothing is read).
    let huge = fs::File::create(fx.p("huge.cbor")).unwrap();
    huge.set_len(MAX_SIGNED_BYTES + 1).unwrap();
    offline(&fx, "huge.cbor", "bob", "out.cbor").fails(2, "larger than");
    huge.set_len(MAX_REQUEST_BYTES + 1).unwrap();
    offline(&fx, "huge.cbor", "bob", "out.cbor").fails(2, "larger than");
    huge.set_len(MAX_SIGNED_BYTES + 1).unwrap();
    fx.refused(&["attach", "led", "huge.cbor"], 2, "larger than");
    // Not a regular file: a directory, and a FIFO (which must not block).
    fs::create_dir(fx.p("dir.cbor")).unwrap();
    offline(&fx, "dir.cbor", "bob", "out.cbor").fails(2, "not a regular file");
    let fifo = fx.p("fifo.cbor");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    if made {
        fx.refused(&["attach", "led", "fifo.cbor"], 2, "not a regular file");
    }
}

#[test]
fn an_existing_output_is_kept_unless_force() {
    let fx = with_request();
    fx.write("taken.cbor", "precious");
    // sign-request
    let t = fx.at();
    fx.refused_watching(
        &["led", "taken.cbor"],
        &[
            "sign-request",
            "led",
            "--key",
            "keys/bob.pub",
            "-o",
            "taken.cbor",
            "--at",
            &t,
            "note",
            "--text",
            "x",
        ],
        2,
        "already exists",
    );
    // sign-offline
    let r = offline(&fx, "req.cbor", "bob", "taken.cbor");
    r.fails(2, "already exists");
    assert!(r.stderr.contains("--force"), "{r}");
    assert_eq!(fx.read("taken.cbor"), b"precious");
    // With --force, replaced, durably, by a signed event that attaches.
    fx.run(&[
        "sign-offline",
        "req.cbor",
        "--key",
        "keys/bob.key",
        "-o",
        "taken.cbor",
        "--yes",
        "--force",
    ])
    .ok_stdout();
    Signed::decode(&fx.read("taken.cbor")).unwrap();
    fx.run(&["attach", "led", "taken.cbor"]).ok_stdout();
    // No temporary file is left beside it.
    let left: Vec<_> = fs::read_dir(fx.root())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_request_append_would_refuse_is_not_written() {
    let fx = with_request();
    // Each is refused by the rules (FORMAT §6) before any file is written,
    // as append refuses it.
    for (args, needle) in [
        (vec!["session-close", "--session", "s1"], "s1"),
        (vec!["sign", "--doc", "nodoc"], "nodoc"),
        (vec!["parties-approve", "--proposal", "p1"], "p1"),
        (vec!["note", "--text", ""], "text"),
    ] {
        let t = fx.at();
        let mut all = vec![
            "sign-request",
            "led",
            "--key",
            "keys/bob.pub",
            "-o",
            "no.cbor",
            "--at",
            &t,
        ];
        all.extend_from_slice(&args);
        fx.refused(&all, 2, needle);
        assert!(!fx.p("no.cbor").exists(), "{args:?}");
    }
    // Time going back (FORMAT §6.7), as append refuses it.
    fx.refused(
        &[
            "sign-request",
            "led",
            "--key",
            "keys/bob.pub",
            "-o",
            "no.cbor",
            "--at",
            "2020-01-01T00:00:00Z",
            "note",
            "--text",
            "x",
        ],
        2,
        "FORMAT §6.7",
    );
    // A key or party change needs the new key too: not through a request.
    fx.refused(
        &[
            "sign-request",
            "led",
            "--key",
            "keys/bob.pub",
            "-o",
            "no.cbor",
            "key-add",
            "--new-key",
            "other/eve.key",
        ],
        2,
        "ledger append",
    );
    assert!(!fx.p("no.cbor").exists());
    // A stored document changed in place is refused for an approval.
    let hash = sha256_hex(&fx.read("memo.txt"));
    let doc = fx.p(&format!("led/docs/{hash}"));
    chmod(&doc, 0o644);
    fs::write(&doc, "tampered").unwrap();
    let t = fx.at();
    let r = fx.run(&[
        "sign-request",
        "led",
        "--key",
        "keys/bob.pub",
        "-o",
        "no.cbor",
        "--at",
        &t,
        "approve",
        "--doc",
        "memo",
    ]);
    r.fails(1, "memo");
    assert!(!fx.p("no.cbor").exists());
}

#[test]
fn attach_waits_for_the_lock_like_any_writer() {
    let fx = with_request();
    offline(&fx, "req.cbor", "bob", "signed.cbor").ok_stdout();
    // Another writer holds the lock (flock(1) on the log, as a writer takes it).
    if !tool_available("flock", None, "the attach lock test") {
        return;
    }
    let mut holder = Command::new("flock")
        .args(["-x", "led/events.cbor", "sleep", "3"])
        .current_dir(fx.root())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    fx.refused(&["attach", "led", "signed.cbor", "--no-wait"], 2, "locked");
    holder.wait().unwrap();
    fx.run(&["attach", "led", "signed.cbor", "--wait", "10"])
        .ok_stdout();
}

#[test]
fn an_encrypted_key_signs_offline_and_its_passphrase_is_never_shown() {
    let fx = with_request();
    fx.write("pw", "correct horse offline\n");
    chmod(&fx.p("pw"), 0o600);
    fx.run(&["keygen", "keys/bob-enc", "--passphrase-file", "pw"])
        .ok_stdout();
    // bob's encrypted key is not bob's ledger key: refused, naming both.
    let r = fx.run(&[
        "sign-offline",
        "req.cbor",
        "--key",
        "keys/bob-enc.key",
        "--passphrase-file",
        "pw",
        "-o",
        "signed.cbor",
        "--yes",
    ]);
    r.fails(2, "party \"bob\"");
    assert!(!r.stderr.contains("correct horse"), "{r}");
    // A request for a ledger whose party holds the encrypted key.
    let t = fx.at();
    fx.run(&[
        "init",
        "enc",
        "--key",
        "keys/ann.key",
        "--title",
        "T",
        "--party",
        "ann=keys/ann.pub",
        "--party",
        "bob=keys/bob-enc.pub",
        "--at",
        &t,
    ])
    .ok_stdout();
    let t = fx.at();
    fx.run(&[
        "sign-request",
        "enc",
        "--key",
        "keys/bob-enc.pub",
        "-o",
        "enc-req.cbor",
        "--at",
        &t,
        "note",
        "--text",
        "from an encrypted key",
    ])
    .ok_stdout();
    let r = fx.run(&[
        "sign-offline",
        "enc-req.cbor",
        "--key",
        "keys/bob-enc.key",
        "--passphrase-file",
        "pw",
        "-o",
        "enc-signed.cbor",
        "--yes",
    ]);
    r.ok_stdout();
    assert!(!r.stdout.contains("correct horse"), "{r}");
    fx.run(&["attach", "enc", "enc-signed.cbor"]).ok_stdout();
    fx.run(&["verify", "enc"]).ok_stdout();
}

/// sign-offline through a real ssh-agent: the offline machine's key may
/// live in an agent (or a hardware key behind one) as well as in a file.
#[test]
fn sign_offline_signs_through_an_ssh_agent() {
    for program in ["ssh-agent", "ssh-add", "ssh-keygen"] {
        if !tool_available(program, None, "the ssh-agent sign-offline test") {
            return;
        }
    }
    let fx = Fx::with_keys();
    let keygen = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "bob",
            "-f",
            "keys/bob-ssh",
        ])
        .current_dir(fx.root())
        .status()
        .unwrap();
    assert!(keygen.success());
    let t = fx.at();
    fx.run(&[
        "init",
        "led",
        "--key",
        "keys/ann.key",
        "--title",
        "T",
        "--party",
        "ann=keys/ann.pub",
        "--party",
        "bob=keys/bob-ssh.pub",
        "--at",
        &t,
    ])
    .ok_stdout();
    request(
        &fx,
        "bob-ssh",
        "req.cbor",
        &["note", "--text", "via the agent"],
    )
    .ok_stdout();
    let socket = fx.p("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .args(["-D", "-a"])
        .arg(&socket)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !socket.exists() && started.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let with_agent = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(fx.root())
            .env("NO_COLOR", "1")
            .env("SSH_AUTH_SOCK", &socket)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let added = Command::new("ssh-add")
        .arg("keys/bob-ssh")
        .current_dir(fx.root())
        .env("SSH_AUTH_SOCK", &socket)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let result = with_agent(&[
        "sign-offline",
        "req.cbor",
        "--key",
        "keys/bob-ssh.pub",
        "--agent",
        "-o",
        "signed.cbor",
        "--yes",
    ]);
    let _ = agent.kill();
    let _ = agent.wait();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    assert_eq!(result.0, Some(0), "{}", result.1);
    fx.run(&["attach", "led", "signed.cbor"]).ok_stdout();
    assert_eq!(fx.report()["count"], 2);
}

#[test]
fn json_outputs_carry_the_hashes_to_compare() {
    let fx = Fx::with_ledger();
    let t = fx.at();
    let r = fx.run(&[
        "--json",
        "sign-request",
        "led",
        "--key",
        "keys/bob.pub",
        "-o",
        "req.cbor",
        "--at",
        &t,
        "note",
        "--text",
        "json",
    ]);
    r.ok_stdout();
    let req = r.json();
    assert_eq!(req["sha256"], sha256_hex(&fx.read("req.cbor")), "{r}");
    assert_eq!(req["author"], "bob");
    let r = fx.run(&[
        "--json",
        "sign-offline",
        "req.cbor",
        "--key",
        "keys/bob.key",
        "-o",
        "signed.cbor",
        "--yes",
    ]);
    r.ok_stdout();
    let signed = r.json();
    assert_eq!(signed["request_sha256"], req["sha256"], "{r}");
    assert!(
        signed["summary"].as_array().is_some_and(|l| l.len() > 5),
        "{r}"
    );
    let r = fx.run(&["--json", "attach", "led", "signed.cbor"]);
    r.ok_stdout();
    assert_eq!(r.json()["hash"], signed["hash"], "{r}");
    // A refusal is one JSON object too, with the one line on stderr.
    let r = fx.run(&["--json", "attach", "led", "signed.cbor"]);
    r.fails_json(2, "already in the ledger");
    assert_eq!(r.json()["ok"], false);
}

/// An event over the size limit (FORMAT §5) is refused when the request is
/// made, and a request for one cannot be built: nobody is asked to sign
/// what no ledger may store.
#[test]
fn an_event_too_large_is_refused_before_anyone_signs() {
    let fx = Fx::with_ledger();
    let long = "x".repeat(1024);
    let notes = "n".repeat(65_000);
    let t = fx.at();
    fx.refused(
        &[
            "sign-request",
            "led",
            "--key",
            "keys/bob.pub",
            "-o",
            "big.cbor",
            "--at",
            &t,
            "session-open",
            "--session",
            "s",
            "--title",
            &long,
            "--place",
            &long,
            "--chair",
            &long,
            "--notes",
            &notes,
        ],
        2,
        "more than the 65535 bytes an event may have",
    );
    assert!(!fx.p("big.cbor").exists());
    let req = Request::decode(&{
        request(&fx, "bob", "small.cbor", &["note", "--text", "small"]).ok_stdout();
        fx.read("small.cbor")
    })
    .unwrap();
    let mut body = req.body().clone();
    body.kind = Kind::SessionOpened {
        session: "s".parse().unwrap(),
        title: long.clone(),
        place: Some(long.clone()),
        chair: Some(long),
        notes: Some(notes),
    };
    let e = Request::new(*req.key(), body, None).unwrap_err();
    assert!(e.to_string().contains("requested event"), "{e}");
}
