//! Issue 12 point 1: `check-proof` binds an event's key to its author.
//! An attacker holding one party's key signs a checkpoint over a tree of
//! events of their own making: an event "by" the other party signed with
//! their own key, an event by a party that does not exist, a second
//! genesis. `check-proof` used to print OK for each; now it refuses each
//! (exit 1, naming the rule), accepts the genuine event, and says what it
//! did not check. `--trust PARTY=FILE` binds explicitly, for check-proof
//! and for verify.

mod common;
mod prooflib;

use common::*;
use ledger::core::format::{Event, Kind, PartyId};
use ledger::proofs::bundle::Bundle;
use prooflib::*;

/// A ledger `led` of 6 events (ann and bob, FORMAT's story of prooflib),
/// `trust/` with ann.pub and bob.pub.
fn setup() -> (Fx, Vec<Vec<u8>>) {
    let fx = Fx::with_ledger();
    trust(&fx);
    grow(&fx, 6, false);
    let events = events(&fx.p("led"));
    assert_eq!(events.len(), 6);
    (fx, events)
}

/// A bundle proving `events[index]` in a tree of `events`, under a
/// checkpoint ann alone signs: what an attacker holding ann's key makes.
fn forged_bundle(fx: &Fx, events: &[Vec<u8>], index: usize) -> Vec<u8> {
    let (origin, _, _) = note_body(&read_cp(fx, "led", 6));
    let leaves: Vec<_> = events.iter().map(|e| leaf_hash(e)).collect();
    let cp = forge(&origin, events.len() as u64, mth(&leaves), &key(fx, "ann"));
    Bundle::Inclusion {
        index: index as u64,
        event: events[index].clone(),
        proof: path(index, &leaves),
        checkpoint: cp,
    }
    .encode()
}

/// `events[index]`'s body, changed by `edit`, signed with ann's key.
fn resigned_by_ann(
    fx: &Fx,
    stored: &[u8],
    edit: impl FnOnce(&mut ledger::core::format::Body),
) -> Vec<u8> {
    let mut body = Event::decode(stored).unwrap().body;
    edit(&mut body);
    let (_, bytes) = Event::sign(&key(fx, "ann"), &body).unwrap();
    bytes
}

fn check(fx: &Fx, bundle: &[u8], trust: &[&str]) -> Run {
    fx.write("b.proof", bundle);
    let mut args = vec!["check-proof", "b.proof"];
    for t in trust {
        args.extend(["--trust", t]);
    }
    fx.run(&args)
}

fn author_of(stored: &[u8]) -> String {
    Event::decode(stored).unwrap().body.author.to_string()
}

#[test]
fn check_proof_refuses_an_event_signed_with_another_partys_key() {
    let (fx, mut events) = setup();
    let i = (1..6)
        .find(|&i| author_of(&events[i]) == "bob")
        .expect("an event by bob");
    // The attacker's input: bob's event re-signed with ann's key, still
    // naming bob as its author, under a checkpoint ann signed.
    events[i] = resigned_by_ann(&fx, &events[i], |_| {});
    let b = forged_bundle(&fx, &events, i);
    let r = check(&fx, &b, &["trust/"]);
    r.fails(1, &format!("event {i} is by \"bob\", but it is signed with trust/ann.pub, which --trust binds to party \"ann\""));
    assert!(!r.stdout.contains("OK"));
    // ledger verify of the same events refuses it too.
    let log: Vec<u8> = events.concat();
    fx.write("led/events.cbor", &log);
    let _ = std::fs::remove_dir_all(fx.p("led/cache"));
    fx.run(&["verify", "led"]).fails(1, &format!("event {i}"));
}

#[test]
fn check_proof_refuses_an_author_who_is_no_party_and_a_second_genesis() {
    let (fx, mut events) = setup();
    let i = (1..6).find(|&i| author_of(&events[i]) == "ann").unwrap();
    events[i] = resigned_by_ann(&fx, &events[i], |b| {
        b.author = PartyId::new("ghost").unwrap()
    });
    check(&fx, &forged_bundle(&fx, &events, i), &["trust/"]).fails(
        1,
        &format!("event {i} is by \"ghost\", but it is signed with trust/ann.pub, which --trust binds to party \"ann\""),
    );

    // A second ledger-created at index 1, chained to event 0.
    let (_, mut events) = (0, prooflib::events(&fx.p("led")));
    let genesis = Event::decode(&events[0]).unwrap();
    events[1] = resigned_by_ann(&fx, &events[0], |b| {
        b.seq = 1;
        b.prev = Some(genesis.hash());
    });
    assert!(matches!(
        Event::decode(&events[1]).unwrap().body.kind,
        Kind::LedgerCreated { .. }
    ));
    check(&fx, &forged_bundle(&fx, &events, 1), &["trust/"]).fails(
        1,
        "event 1 (ledger-created) cannot be at index 1: event 0, and only event 0, is the ledger-created event",
    );
}

#[test]
fn check_proof_accepts_the_authors_own_key_and_says_what_it_did_not_check() {
    let (fx, events) = setup();
    let i = (1..6).find(|&i| author_of(&events[i]) == "bob").unwrap();
    fx.run(&[
        "prove",
        "led",
        "--event",
        &i.to_string(),
        "-o",
        "real.proof",
    ])
    .ok();
    let b = fx.read("real.proof");
    let r = check(&fx, &b, &["trust/"]);
    r.ok();
    let out = format!("{}{}", r.stdout, r.stderr);
    assert!(
        out.contains("signed with bob's trusted key trust/bob.pub"),
        "{out}"
    );
    assert!(out.contains("not checked (needs the whole log)"), "{out}");
    fx.write("b.proof", &b);
    let v = fx.run(&["--json", "check-proof", "b.proof", "--trust", "trust/"]);
    v.ok();
    let json = v.json();
    assert_eq!(json["proof"]["event"]["party"], "bob");
    assert!(json["not_checked"]
        .as_str()
        .unwrap()
        .contains("replay rules"));

    // A key file whose name is no party binds to none: say how to bind it.
    std::fs::copy(fx.p("trust/bob.pub"), fx.p("Bob Key.pub")).unwrap();
    check(&fx, &b, &["trust/ann.pub", "Bob Key.pub"]).fails(
        1,
        "which --trust binds to no party (its file name is not a party id)",
    );
    check(&fx, &b, &["trust/ann.pub", "bob=Bob Key.pub"]).ok();
    // Bound to the wrong party explicitly: refused.
    check(&fx, &b, &["trust/ann.pub", "ann=trust/bob.pub"])
        .fails(1, "which --trust binds to party \"ann\"");
    check(&fx, &b, &["nobody!=trust/bob.pub"]).fails(2, "is not a party id");
}

#[test]
fn verify_checks_an_explicit_binding() {
    let (fx, _) = setup();
    fx.run(&[
        "verify",
        "led",
        "--trust",
        "ann=trust/ann.pub",
        "--trust",
        "bob=trust/bob.pub",
    ])
    .ok();
    let before = snapshot(&fx.p("led"));
    fx.run(&["verify", "led", "--trust", "ann=trust/bob.pub", "--trust", "trust/ann.pub"]).fails(
        1,
        "trusted key trust/bob.pub is bound to party \"ann\" (--trust), but in this ledger it is the key of party \"bob\"",
    );
    assert_same(&before, &snapshot(&fx.p("led")), &"verify --trust");
    // A file name is only a label for verify: the log binds keys itself.
    std::fs::copy(fx.p("trust/ann.pub"), fx.p("first.pub")).unwrap();
    fx.run(&[
        "verify",
        "led",
        "--trust",
        "first.pub",
        "--trust",
        "trust/bob.pub",
    ])
    .ok();
}
