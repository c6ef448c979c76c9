//! What the binary prints, issue 11 points 13, 17 and 18: exit statuses
//! and messages that say what is wrong in the user's words, help with a
//! description for every argument, a man page that names only pages that
//! exist and has an EXIT STATUS section, and listings in a sensible order.

mod common;

use std::fs;
use std::process::{Command, Stdio};

use common::*;

/// `export --event N` past the end is a mistake in the request (exit 2),
/// not a verification failure (exit 1), and does not say so.
#[test]
fn export_of_an_event_past_the_end_is_a_usage_error() {
    let fx = Fx::with_ledger();
    let r = fx.refused(
        &["export", "led", "--event", "999"],
        2,
        "--event 999: there is no event 999: the ledger has 1 events (0 to 0)",
    );
    assert!(!r.stderr.contains("verification failed"), "{r}");
    assert!(!fx.p("event-999.tbs").exists());
}

/// Every command path whose `--help` is checked.
const COMMANDS: &[&[&str]] = &[
    &["keygen"],
    &["init"],
    &["append"],
    &["append", "session-open"],
    &["append", "session-close"],
    &["append", "draft"],
    &["append", "amend"],
    &["append", "approve"],
    &["append", "sign"],
    &["append", "note"],
    &["append", "key-add"],
    &["append", "key-rotate"],
    &["append", "key-revoke"],
    &["append", "parties-propose"],
    &["append", "parties-approve"],
    &["sign"],
    &["verify"],
    &["log"],
    &["head"],
    &["repair"],
    &["import"],
    &["export"],
    &["show"],
    &["checkpoint"],
    &["prove"],
    &["check-proof"],
    &["witness", "request"],
    &["witness", "cosign"],
    &["vkey"],
    &["publish"],
    &["completions"],
];

/// `sign --help` showed `<DIR>`, `--key` and `--at` with no description,
/// as most commands did their `<DIR>` and `<OUT>`. Now every argument and
/// option of every command says what it is.
#[test]
fn every_argument_has_a_description_in_help() {
    let fx = Fx::empty();
    let mut blank = Vec::new();
    for path in COMMANDS {
        let mut args = vec!["help"];
        args.extend_from_slice(path);
        let r = fx.run(&args);
        r.ok();
        let mut in_list = false;
        for line in r.stdout.lines() {
            if line == "Arguments:" || line == "Options:" {
                in_list = true;
                continue;
            }
            if line.is_empty() || !line.starts_with(' ') {
                in_list = line.is_empty() && in_list;
                continue;
            }
            let item = line.trim_start();
            if in_list && (item.starts_with('<') || item.starts_with('-')) {
                // NAME, then two or more spaces, then the description.
                let described = item
                    .split_once("  ")
                    .is_some_and(|(_, d)| !d.trim().is_empty());
                if !described {
                    blank.push(format!("ledger {}: {item}", path.join(" ")));
                }
            }
        }
    }
    assert!(blank.is_empty(), "no description:\n{}", blank.join("\n"));
    let sign = fx.run(&["sign", "--help"]);
    for (what, text) in [
        ("<DIR>", "The ledger directory"),
        ("--key <KEY>", "Private key of the signing party"),
        ("--at <AT>", "Time the signer claims"),
    ] {
        let line = sign
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with(what));
        assert!(line.is_some_and(|l| l.contains(text)), "{what}:\n{sign}");
    }
}

/// The man page named `ledger-keygen(1)` and other pages that do not
/// exist, and had no EXIT STATUS section. Now it is one page that
/// describes every command and the exit statuses of README, "Exit codes".
#[test]
fn the_man_page_names_no_missing_page_and_has_an_exit_status_section() {
    let fx = Fx::empty();
    let r = fx.run(&["man"]);
    r.ok();
    let page = &r.stdout;
    assert!(page.contains(".TH ledger 1"), "{page}");
    assert!(
        !page.contains("ledger\\-keygen") && !page.contains("(1)"),
        "{page}"
    );
    assert!(page.contains(".SH COMMANDS"), "{page}");
    assert!(page.contains(".SH \"EXIT STATUS\""), "{page}");
    let exit = &page[page.find(".SH \"EXIT STATUS\"").unwrap()..];
    for code in ["\\fB0\\fR", "\\fB1\\fR", "\\fB2\\fR"] {
        assert!(exit.contains(code), "{code}: {exit}");
    }
    for cmd in [
        "keygen",
        "append <DIR> note",
        "witness cosign",
        "check\\-proof",
        "publish",
    ] {
        assert!(page.contains(&format!("\\fBledger {cmd}")), "{cmd}: {page}");
    }
    // It renders, where man is installed: no roff warnings.
    if let Ok(out) = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(page.as_bytes())?;
            c.wait_with_output()
        })
    {
        let warnings = String::from_utf8_lossy(&out.stderr);
        assert!(warnings.is_empty(), "groff: {warnings}");
    }
}

/// Checkpoints were listed in string order ("size 10" before "size 9").
#[test]
fn checkpoints_are_listed_by_size() {
    let fx = Fx::with_ledger();
    for i in 0..8 {
        fx.append("ann", &["note", "--text", &format!("n{i}")]).ok();
    }
    fx.run(&["checkpoint", "led", "--key", "keys/ann.key"]).ok();
    fx.append("bob", &["note", "--text", "n9"]).ok();
    fx.run(&["checkpoint", "led", "--key", "keys/bob.key"]).ok();
    assert!(fx.p("led/checkpoints/9").is_file() && fx.p("led/checkpoints/10").is_file());
    let r = fx.run(&["verify", "led"]);
    r.ok();
    let nine = r.stdout.find("size 9:").expect("size 9 listed");
    let ten = r.stdout.find("size 10:").expect("size 10 listed");
    assert!(nine < ten, "{r}");
    let files: Vec<String> = fx.report()["checkpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["file"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(files, ["9", "10"]);
}

/// `log` showed a note as "note", without its text.
#[test]
fn log_shows_a_note_with_its_text() {
    let fx = Fx::with_ledger();
    fx.append("ann", &["note", "--text", "Next round in Moscow."])
        .ok();
    fx.append("bob", &["note", "--text", "Two\nlines\nthree"])
        .ok();
    let r = fx.run(&["log", "led"]);
    r.ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{r}");
    assert!(lines[1].ends_with("note: Next round in Moscow."), "{r}");
    assert!(lines[2].ends_with("note: Two (+2 lines)"), "{r}");
}

/// "no proposal "p1" is open; no proposal is open" said the same twice.
#[test]
fn approving_with_no_proposal_open_says_so_once() {
    let fx = Fx::with_ledger();
    let r = fx.append_refused(
        "bob",
        &["parties-approve", "--proposal", "p1"],
        2,
        "refused: proposal \"p1\" cannot be approved: no proposal is open (FORMAT §6.10)",
    );
    assert_eq!(r.stderr.matches("is open").count(), 1, "{r}");
}

/// Messages named the library's types (`field "DocId"`).
#[test]
fn messages_name_no_internal_types() {
    let fx = Fx::with_ledger();
    fx.write("d.txt", "D\n");
    let cases: &[(&[&str], &str)] = &[
        (
            &["draft", "--doc", "Bad", "--file", "d.txt", "--title", "T"],
            "--doc: id \"Bad\" must start with a lowercase letter or digit",
        ),
        (
            &["session-open", "--session", "a b", "--title", "T"],
            "--session: id \"a b\" contains ' '",
        ),
        (
            &["parties-approve", "--proposal", "X"],
            "--proposal: id \"X\" must start",
        ),
        (
            &[
                "draft",
                "--doc",
                "d",
                "--file",
                "d.txt",
                "--title",
                "T",
                "--signatory",
                "A",
            ],
            "--signatory: id \"A\" must start",
        ),
    ];
    for (args, needle) in cases {
        let r = fx.append_refused("ann", args, 2, needle);
        for name in [
            "DocId",
            "PartyId",
            "SessionId",
            "ProposalId",
            "DocHash",
            "EventHash",
        ] {
            assert!(!r.stderr.contains(name), "{name}: {r}");
        }
    }
}

/// A 70,000-byte title was refused for the event's size (65,535 bytes)
/// rather than for the 1,024 bytes a title may have; a note too long for
/// any event is refused saying how long the event would be and how much
/// to cut.
#[test]
fn size_limits_are_reported_for_what_is_too_long() {
    let fx = Fx::with_ledger();
    let title = "t".repeat(70_000);
    fx.append_refused(
        "ann",
        &["session-open", "--session", "s", "--title", &title],
        2,
        "field \"title\": must be 1 to 1024 bytes, found 70000",
    );
    // Each field within its limit, the event over its own: a note's
    // longest text fits (FORMAT §5.4), a session's text and lines together
    // may not.
    let line = "l".repeat(1024);
    let text = "n".repeat(63_000);
    let r = fx.append_refused(
        "ann",
        &[
            "session-open",
            "--session",
            "s",
            "--title",
            &line,
            "--place",
            &line,
            "--chair",
            &line,
            "--notes",
            &text,
        ],
        2,
        "bytes an event may have",
    );
    let size: usize = r
        .stderr
        .split("the event would be ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no size: {r}"));
    assert!(size > 65_535, "{r}");
    assert!(
        r.stderr.contains(&format!(
            "shorten its text by at least {} bytes",
            size - 65_535
        )),
        "{r}"
    );
    // And a note that fits is accepted.
    fx.append("ann", &["note", "--text", &"n".repeat(60_000)])
        .ok();
}

/// A dangling `events.cbor` link read "has no events.cbor".
#[test]
fn a_dangling_log_link_is_named_a_link() {
    let fx = Fx::with_keys();
    fs::create_dir(fx.p("led")).unwrap();
    std::os::unix::fs::symlink("nowhere.cbor", fx.p("led/events.cbor")).unwrap();
    let t = time(1);
    let cmds: &[&[&str]] = &[
        &["verify", "led"],
        &["log", "led"],
        &["head", "led"],
        &["repair", "led"],
        &["export", "led", "--event", "0"],
        &[
            "append",
            "led",
            "--key",
            "keys/ann.key",
            "--at",
            &t,
            "note",
            "--text",
            "x",
        ],
        &["checkpoint", "led", "--key", "keys/ann.key"],
    ];
    for args in cmds {
        let before = snapshot(&fx.p("led"));
        let r = fx.run(args);
        assert!(matches!(r.code, Some(1 | 2)), "{r}");
        assert_eq!(message_problem(&r.stderr), None, "{r}");
        assert!(
            r.stderr
                .contains("led/events.cbor is a dangling symbolic link"),
            "{r}"
        );
        assert!(!r.stderr.contains("has no events.cbor"), "{r}");
        assert_same(&before, &snapshot(&fx.p("led")), &r);
    }
}

/// A write that fails for lack of space (here: over `ulimit -f`) named
/// the temporary file (`docs/.tmp-…`) instead of the document's own path.
#[test]
fn a_failed_document_write_names_the_document_not_its_temporary_file() {
    let fx = Fx::with_ledger();
    fx.write("doc.txt", vec![b'x'; 8192]);
    let hash = sha256_hex(&fx.read("doc.txt"));
    let before = snapshot(&fx.p("led"));
    let script = format!(
        "ulimit -f 4 && exec {BIN} append led --key keys/ann.key draft --doc d --file doc.txt --title T"
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .current_dir(fx.root())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(message_problem(&stderr), None, "{stderr}");
    assert!(
        stderr.contains(&format!("led/docs/{hash}: File too large")),
        "{stderr}"
    );
    assert!(!stderr.contains(".tmp"), "{stderr}");
    assert_same(
        &before,
        &snapshot(&fx.p("led")),
        &"a write over the file-size limit",
    );
}
