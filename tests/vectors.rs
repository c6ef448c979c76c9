//! The test vectors at the end of docs/FORMAT.md (§11), recomputed from
//! fixed seeds and required to appear in FORMAT.md verbatim, so the spec
//! and the code cannot drift apart. Regenerate the section with
//! `cargo test --test vectors -- --ignored print_vectors --nocapture`.

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use ledger::base::crypto::SigningKey;
use ledger::base::time::Timestamp;
use ledger::core::format::{
    key_proof_message, party_proof_message, Body, DocHash, Event, EventHash, Kind, LedgerId,
    NewParty, PartyId,
};
use ledger::core::replay::State;

// RFC 8032 §7.1, tests 1 and 2.
const MOST_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const MED_SEED: &str = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
// RFC 8032 §7.1, test 3: the key most rotates to.
const MOST2_SEED: &str = "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7";
// RFC 8032 §7.1, test SHA(abc): the key of the party `obs` that joins.
const OBS_SEED: &str = "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42";

/// A key file holding `seed`, as `openssl genpkey` would write it.
fn key_from_seed(dir: &std::path::Path, name: &str, seed_hex: &str) -> SigningKey {
    let seed: [u8; 32] = hex::decode(seed_hex).unwrap().try_into().unwrap();
    common::key_file_from_seed(dir, name, &seed).1
}

struct Vector {
    label: &'static str,
    value: String,
}

fn sign(key: &SigningKey, body: &Body) -> (Event, Vec<u8>, [u8; 64]) {
    let (event, bytes) = Event::sign(key, body).unwrap();
    let sig = event.signature;
    (event, bytes, sig)
}

fn vectors() -> Vec<Vector> {
    let dir = tempfile::tempdir().unwrap();
    let most = key_from_seed(dir.path(), "most.key", MOST_SEED);
    let med = key_from_seed(dir.path(), "med.key", MED_SEED);
    let most2 = key_from_seed(dir.path(), "most2.key", MOST2_SEED);
    let ledger = LedgerId(*b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f");
    let mut parties = BTreeMap::new();
    parties.insert(PartyId::new("most").unwrap(), most.public().to_bytes());
    parties.insert(PartyId::new("med").unwrap(), med.public().to_bytes());
    let genesis = Body {
        version: 1,
        ledger,
        seq: 0,
        prev: None,
        time: Timestamp::parse("2017-06-13T09:00:00+08:00").unwrap(),
        author: PartyId::new("most").unwrap(),
        kind: Kind::LedgerCreated {
            title: "1st China-Russia Innovation Dialogue".into(),
            parties,
        },
    };
    let (g_event, g_bytes, g_sig) = sign(&most, &genesis);
    let doc = b"Joint Declaration (test vector)\n";
    let second = Body {
        version: 1,
        ledger,
        seq: 1,
        prev: Some(EventHash::of(&g_bytes)),
        time: Timestamp::parse("2017-06-14T10:00:00+08:00").unwrap(),
        author: PartyId::new("med").unwrap(),
        kind: Kind::DocumentDrafted {
            doc: "joint-declaration".parse().unwrap(),
            sha256: DocHash::of(doc),
            title: "Joint Declaration".into(),
            signatories: vec![PartyId::new("med").unwrap(), PartyId::new("most").unwrap()],
        },
    };
    let (s_event, s_bytes, s_sig) = sign(&med, &second);
    // Both events replay: the vectors are a valid two-event ledger.
    let (mut state, _) = State::genesis(g_event.clone()).unwrap();
    let want = DocHash::of(doc);
    let docs = move |h: &DocHash| {
        if *h == want {
            Ok(())
        } else {
            Err("missing".to_string())
        }
    };
    state.apply(s_event.clone(), &docs).unwrap();
    // Event 2: most rotates to its second key (FORMAT §5.4, §5.7).
    let most_id = PartyId::new("most").unwrap();
    let new_key = most2.public().to_bytes();
    let s_hash = EventHash::of(&s_bytes);
    let proof_message = key_proof_message(&ledger, 2, &s_hash, &most_id, &new_key);
    let proof = most2.sign(&proof_message);
    let third = Body {
        version: 1,
        ledger,
        seq: 2,
        prev: Some(s_hash),
        time: Timestamp::parse("2017-06-14T11:00:00+08:00").unwrap(),
        author: most_id,
        kind: Kind::KeyRotated {
            key: new_key,
            proof,
        },
    };
    let (t_event, t_bytes, t_sig) = sign(&most, &third);
    state.apply(t_event.clone(), &docs).unwrap();
    assert_eq!(
        state.party_of(&most2.public()).map(|p| p.as_str()),
        Some("most")
    );
    assert_eq!(state.party_of(&most.public()), None);

    let v = |label, value: String| Vector { label, value };
    vec![
        v("most seed", MOST_SEED.into()),
        v("most public key", hex::encode(most.public().to_bytes())),
        v("most kid", hex::encode(most.public().kid())),
        v("med seed", MED_SEED.into()),
        v("med public key", hex::encode(med.public().to_bytes())),
        v("med kid", hex::encode(med.public().kid())),
        v("ledger id", hex::encode(ledger.0)),
        v("genesis payload", hex::encode(g_event.payload())),
        v("genesis Sig_structure", hex::encode(g_event.to_be_signed())),
        v("genesis signature", hex::encode(g_sig)),
        v(
            "genesis event (events.cbor bytes 0..)",
            hex::encode(&g_bytes),
        ),
        v("genesis event hash", EventHash::of(&g_bytes).to_hex()),
        v("document bytes (hex)", hex::encode(doc)),
        v("document sha256", DocHash::of(doc).to_hex()),
        v("event 1 payload", hex::encode(s_event.payload())),
        v("event 1 signature", hex::encode(s_sig)),
        v("event 1 event", hex::encode(&s_bytes)),
        v("event 1 hash", EventHash::of(&s_bytes).to_hex()),
        v("most's new key seed", MOST2_SEED.into()),
        v("most's new public key", hex::encode(new_key)),
        v("most's new kid", hex::encode(most2.public().kid())),
        v("event 2 key-proof message", hex::encode(&proof_message)),
        v("event 2 proof", hex::encode(proof)),
        v("event 2 payload", hex::encode(t_event.payload())),
        v("event 2 signature", hex::encode(t_sig)),
        v("event 2 event", hex::encode(&t_bytes)),
        v("event 2 hash (the head)", EventHash::of(&t_bytes).to_hex()),
    ]
}

fn render(vectors: &[Vector]) -> String {
    let mut s = String::new();
    for v in vectors {
        let _ = writeln!(s, "{}:\n", v.label);
        let _ = writeln!(s, "```");
        for line in v.value.as_bytes().chunks(64) {
            let _ = writeln!(s, "{}", std::str::from_utf8(line).unwrap());
        }
        let _ = writeln!(s, "```\n");
    }
    s
}

/// FORMAT §5.8: the party proof `obs` makes for joining the §11 ledger at
/// seq 3, checked by replaying the proposal on that ledger.
fn party_proof_vectors() -> Vec<Vector> {
    let dir = tempfile::tempdir().unwrap();
    let most2 = key_from_seed(dir.path(), "most2.key", MOST2_SEED);
    let obs = key_from_seed(dir.path(), "obs.key", OBS_SEED);
    let vs = vectors();
    let get = |l: &str| hex::decode(&vs.iter().find(|v| v.label == l).unwrap().value).unwrap();
    let events: Vec<Event> = [
        "genesis event (events.cbor bytes 0..)",
        "event 1 event",
        "event 2 event",
    ]
    .iter()
    .map(|l| Event::decode(&get(l)).unwrap())
    .collect();
    let (mut state, _) = State::genesis(events[0].clone()).unwrap();
    let docs = |_: &DocHash| -> Result<(), String> { Ok(()) };
    for e in &events[1..] {
        state.apply(e.clone(), &docs).unwrap();
    }
    let obs_id = PartyId::new("obs").unwrap();
    let key = obs.public().to_bytes();
    let message = party_proof_message(&state.ledger, 3, &state.head, &obs_id, &key);
    let proof = obs.sign(&message);
    // The proposal it belongs to replays (signed by most's current key).
    let body = Body {
        version: 1,
        ledger: state.ledger,
        seq: 3,
        prev: Some(state.head),
        time: Timestamp::parse("2017-06-14T12:00:00+08:00").unwrap(),
        author: PartyId::new("most").unwrap(),
        kind: Kind::PartiesProposed {
            proposal: "admit-obs".parse().unwrap(),
            add: BTreeMap::from([(obs_id, NewParty { key, proof })]),
            remove: Vec::new(),
        },
    };
    state.apply(sign(&most2, &body).0, &docs).unwrap();
    assert!(state.proposal.is_some(), "med has yet to approve");
    let v = |label, value: String| Vector { label, value };
    vec![
        v("obs seed", OBS_SEED.into()),
        v("obs public key", hex::encode(key)),
        v("party-proof message", hex::encode(&message)),
        v("party proof", hex::encode(proof)),
    ]
}

#[test]
fn format_md_holds_the_party_proof_vector() {
    let spec =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/FORMAT.md")).unwrap();
    let rendered = render(&party_proof_vectors());
    assert!(
        spec.contains(rendered.trim_end()),
        "docs/FORMAT.md §5.8 does not match the code; regenerate it with \
         `cargo test --test vectors -- --ignored print_vectors --nocapture`"
    );
}

#[test]
fn format_md_holds_the_vectors() {
    let spec =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/FORMAT.md")).unwrap();
    let rendered = render(&vectors());
    assert!(
        spec.contains(rendered.trim_end()),
        "docs/FORMAT.md §11 does not match the code; regenerate it with \
         `cargo test --test vectors -- --ignored print_vectors --nocapture`"
    );
}

#[test]
fn vectors_decode_and_hash() {
    let vs = vectors();
    let get = |l: &str| &vs.iter().find(|v| v.label == l).unwrap().value;
    let g = hex::decode(get("genesis event (events.cbor bytes 0..)")).unwrap();
    let e = Event::decode(&g).unwrap();
    assert_eq!(e.hash().to_hex(), *get("genesis event hash"));
    assert_eq!(&g[..1], &[0xd2], "tag 18");
}

/// FORMAT §14.1: the Merkle tree of the three events above, a checkpoint of
/// it signed by med (whose key is current), and the two proof bundles.
fn proof_vectors() -> Vec<Vector> {
    use ledger::proofs::bundle::{self, Bundle};
    use ledger::proofs::checkpoint;
    use ledger::tlog::merkle;
    use ledger::tlog::note::{self, Checkpoint, Note};
    let vs = vectors();
    let get = |l: &str| hex::decode(&vs.iter().find(|v| v.label == l).unwrap().value).unwrap();
    let events = [
        get("genesis event (events.cbor bytes 0..)"),
        get("event 1 event"),
        get("event 2 event"),
    ];
    let leaves: Vec<merkle::Hash> = events.iter().map(|e| merkle::leaf_hash(e)).collect();
    let mut stored = Vec::new();
    for (i, leaf) in leaves.iter().enumerate() {
        let more = merkle::stored_hashes(i as u64, *leaf, &stored).unwrap();
        stored.extend(more);
    }
    let root = |n: u64| merkle::tree_hash(n, &stored).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let med = key_from_seed(dir.path(), "med.key", MED_SEED);
    let ledger = LedgerId(*b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f");
    let origin = checkpoint::origin(&ledger);
    let note_of = |n: u64| {
        let text = Checkpoint::new(&origin, n, root(n), Vec::new())
            .unwrap()
            .to_text();
        let sig = note::sign(&text, &origin, &med).unwrap();
        Note::new(&text, vec![sig]).unwrap().to_bytes()
    };
    let (cp1, cp3) = (note_of(1), note_of(3));
    let inclusion = Bundle::Inclusion {
        index: 1,
        event: events[1].clone(),
        proof: merkle::prove_inclusion(3, 1, &stored).unwrap(),
        checkpoint: cp3.clone(),
    }
    .encode();
    let consistency = Bundle::Consistency {
        old: cp1,
        new: cp3.clone(),
        proof: merkle::prove_consistency(1, 3, &stored).unwrap(),
    }
    .encode();
    // Both check out with the parties' public keys alone.
    let most = key_from_seed(dir.path(), "most.key", MOST_SEED);
    let bound =
        |party: &str, key: ledger::base::crypto::PublicKey| ledger::core::trust::TrustedKey {
            label: party.to_string(),
            party: Some(ledger::core::format::PartyId::new(party).unwrap()),
            explicit: true,
            key,
        };
    let trust = vec![bound("med", med.public()), bound("most", most.public())];
    bundle::check_bundle(&inclusion, &trust, None).unwrap();
    bundle::check_bundle(&consistency, &trust, None).unwrap();
    let v = |label, value: String| Vector { label, value };
    vec![
        v("leaf hash of event 0", hex::encode(leaves[0])),
        v("leaf hash of event 1", hex::encode(leaves[1])),
        v("leaf hash of event 2", hex::encode(leaves[2])),
        v("tree root at size 3", hex::encode(root(3))),
        v("origin", origin.clone()),
        v(
            "checkpoint of size 3 signed by med (note, hex of its UTF-8)",
            hex::encode(&cp3),
        ),
        v(
            "inclusion bundle of event 1 at size 3",
            hex::encode(&inclusion),
        ),
        v(
            "consistency bundle from size 1 to size 3",
            hex::encode(&consistency),
        ),
    ]
}

#[test]
fn format_md_holds_the_proof_vectors() {
    let spec =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/FORMAT.md")).unwrap();
    let rendered = render(&proof_vectors());
    assert!(
        spec.contains(rendered.trim_end()),
        "docs/FORMAT.md §14.1 does not match the code; regenerate it with \
         `cargo test --test vectors -- --ignored print_vectors --nocapture`"
    );
}

/// FORMAT §13.12: signers by size (§13.1). The §11 ledger, plus event 3,
/// in which most (with its new key) revokes its first key; checkpoints
/// signed by that first key alone, of size 2 (when it was current: valid,
/// though it was rotated out at event 2 and revoked at event 3) and of
/// size 4 (refused). Each is also run through the whole-ledger audit.
fn signer_vectors() -> (Vec<Vector>, Vec<u8>, Vec<Vec<u8>>) {
    use ledger::core::format::Kid;
    use ledger::proofs::checkpoint;
    use ledger::tlog::merkle;
    use ledger::tlog::note::{self, Checkpoint, Note};
    let vs = vectors();
    let get = |l: &str| hex::decode(&vs.iter().find(|v| v.label == l).unwrap().value).unwrap();
    let mut events = vec![
        get("genesis event (events.cbor bytes 0..)"),
        get("event 1 event"),
        get("event 2 event"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let most = key_from_seed(dir.path(), "most.key", MOST_SEED);
    let most2 = key_from_seed(dir.path(), "most2.key", MOST2_SEED);
    let ledger = LedgerId(*b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f");
    let revoke = Body {
        version: 1,
        ledger,
        seq: 3,
        prev: Some(EventHash::of(&events[2])),
        time: Timestamp::parse("2017-06-14T13:00:00+08:00").unwrap(),
        author: PartyId::new("most").unwrap(),
        kind: Kind::KeyRevoked {
            kid: Kid::of(&most.public().to_bytes()),
            reason: "lost".into(),
        },
    };
    let (_, r_bytes, _) = sign(&most2, &revoke);
    events.push(r_bytes.clone());
    let leaves: Vec<merkle::Hash> = events.iter().map(|e| merkle::leaf_hash(e)).collect();
    let mut stored = Vec::new();
    for (i, leaf) in leaves.iter().enumerate() {
        let more = merkle::stored_hashes(i as u64, *leaf, &stored).unwrap();
        stored.extend(more);
    }
    let origin = checkpoint::origin(&ledger);
    let note_of = |n: u64| {
        let root = merkle::tree_hash(n, &stored).unwrap();
        let text = Checkpoint::new(&origin, n, root, Vec::new())
            .unwrap()
            .to_text();
        let sig = note::sign(&text, &origin, &most).unwrap();
        Note::new(&text, vec![sig]).unwrap().to_bytes()
    };
    let (cp2, cp4) = (note_of(2), note_of(4));
    let v = |label, value: String| Vector { label, value };
    let vectors = vec![
        v("event 3 payload", {
            let e = Event::decode(&r_bytes).unwrap();
            hex::encode(e.payload())
        }),
        v("event 3 event", hex::encode(&r_bytes)),
        v("event 3 hash (the head)", EventHash::of(&r_bytes).to_hex()),
        v(
            "checkpoint of size 2 signed by most's first key (valid)",
            hex::encode(&cp2),
        ),
        v(
            "checkpoint of size 4 signed by most's first key (refused)",
            hex::encode(&cp4),
        ),
    ];
    (vectors, events.concat(), vec![cp2, cp4])
}

#[test]
fn format_md_holds_the_signer_vectors() {
    let spec =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/FORMAT.md")).unwrap();
    let rendered = render(&signer_vectors().0);
    assert!(
        spec.contains(rendered.trim_end()),
        "docs/FORMAT.md §13.12 does not match the code; regenerate it with \
         `cargo test --test vectors -- --ignored print_vectors --nocapture`"
    );
}

/// FORMAT §13.12's verdicts, by the whole-ledger audit: the checkpoint of
/// size 2 verifies, the one of size 4 does not.
#[test]
fn signer_vectors_get_their_verdicts() {
    use ledger::proofs::audit;
    let (_, log, cps) = signer_vectors();
    for (size, note, ok) in [(2u64, &cps[0], true), (4, &cps[1], false)] {
        let dir = tempfile::tempdir().unwrap();
        let l = dir.path();
        std::fs::write(l.join("events.cbor"), &log).unwrap();
        std::fs::create_dir(l.join("docs")).unwrap();
        let doc = b"Joint Declaration (test vector)\n";
        std::fs::write(l.join("docs").join(DocHash::of(doc).to_hex()), doc).unwrap();
        std::fs::create_dir(l.join("checkpoints")).unwrap();
        std::fs::write(l.join("checkpoints").join(size.to_string()), note).unwrap();
        let verdict = audit::verify(l, &audit::Options::default());
        assert_eq!(verdict.is_ok(), ok, "size {size}: {verdict:?}");
        if let Err(e) = verdict {
            let e = e.to_string();
            assert!(e.contains("carries no signature by a trusted key"), "{e}");
        }
    }
}

/// FORMAT §20.5: a sign request for `med` to sign the §11 ledger's draft
/// at seq 3, carrying the draft's bytes, and the signed event file its
/// answer makes. Returns the vectors, the request file and the signed file.
fn offline_vectors() -> (Vec<Vector>, Vec<u8>, Vec<u8>) {
    use ledger::core::request::{Request, Signed};
    let dir = tempfile::tempdir().unwrap();
    let med = key_from_seed(dir.path(), "med.key", MED_SEED);
    let vs = vectors();
    let get = |l: &str| &vs.iter().find(|v| v.label == l).unwrap().value;
    let doc = b"Joint Declaration (test vector)\n".to_vec();
    let body = Body {
        version: 1,
        ledger: LedgerId(*b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"),
        seq: 3,
        prev: Some(EventHash::from_hex(get("event 2 hash (the head)")).unwrap()),
        time: Timestamp::parse("2017-06-15T10:00:00+08:00").unwrap(),
        author: PartyId::new("med").unwrap(),
        kind: Kind::DocumentSigned {
            doc: "joint-declaration".parse().unwrap(),
            sha256: DocHash::of(&doc),
        },
    };
    let request = Request::new(med.public(), body.clone(), Some(doc)).unwrap();
    let request_bytes = request.encode();
    let (event, stored) = Event::sign(&med, &body).unwrap();
    assert_eq!(event.to_be_signed(), request.to_be_signed());
    let signed = Signed::new(request_bytes.clone(), stored.clone()).unwrap();
    let signed_bytes = signed.encode();
    let v = |label, value: String| Vector { label, value };
    let vectors = vec![
        v(
            "sign request (tests/data/sign-request-v1.cbor)",
            hex::encode(&request_bytes),
        ),
        v("sign request sha256", common::sha256_hex(&request_bytes)),
        v(
            "to-be-signed bytes (the Sig_structure)",
            hex::encode(request.to_be_signed()),
        ),
        v("signature", hex::encode(event.signature)),
        v("event 3 event", hex::encode(&stored)),
        v(
            "event 3 hash (the head after attach)",
            event.hash().to_hex(),
        ),
        v(
            "signed event file (tests/data/signed-event-v1.cbor) sha256",
            common::sha256_hex(&signed_bytes),
        ),
    ];
    (vectors, request_bytes, signed_bytes)
}

#[test]
fn format_md_holds_the_offline_vectors() {
    let spec =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/FORMAT.md")).unwrap();
    let rendered = render(&offline_vectors().0);
    assert!(
        spec.contains(rendered.trim_end()),
        "docs/FORMAT.md §20.5 does not match the code; regenerate it with \
         `cargo test --test vectors -- --ignored print_vectors --nocapture`"
    );
}

/// The files of FORMAT §20.5 under tests/data are the ones the code makes,
/// decode strictly, give the to-be-signed bytes the spec lists, and the
/// signed event attaches to the §11 ledger, which then verifies.
#[test]
fn offline_vector_files_decode_and_attach() {
    use ledger::core::request::{Request, Signed};
    let (vs, request_bytes, signed_bytes) = offline_vectors();
    let get = |l: &str| &vs.iter().find(|v| v.label == l).unwrap().value;
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/");
    let on_disk = std::fs::read(format!("{data}sign-request-v1.cbor")).unwrap();
    assert_eq!(
        on_disk, request_bytes,
        "tests/data/sign-request-v1.cbor is stale"
    );
    let signed_on_disk = std::fs::read(format!("{data}signed-event-v1.cbor")).unwrap();
    assert_eq!(
        signed_on_disk, signed_bytes,
        "tests/data/signed-event-v1.cbor is stale"
    );

    let request = Request::decode(&on_disk).unwrap();
    assert_eq!(
        hex::encode(request.to_be_signed()),
        *get("to-be-signed bytes (the Sig_structure)")
    );
    assert_eq!(
        request.encode(),
        on_disk,
        "decode then encode is the identity"
    );
    let signed = Signed::decode(&signed_on_disk).unwrap();
    assert_eq!(hex::encode(signed.stored()), *get("event 3 event"));

    // The §11 ledger, as a directory, and the event attached to it.
    let v11 = vectors();
    let get11 = |l: &str| hex::decode(&v11.iter().find(|v| v.label == l).unwrap().value).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let l = dir.path().join("led");
    std::fs::create_dir_all(l.join("docs")).unwrap();
    let log = [
        get11("genesis event (events.cbor bytes 0..)"),
        get11("event 1 event"),
        get11("event 2 event"),
    ]
    .concat();
    std::fs::write(l.join("events.cbor"), log).unwrap();
    let doc = get11("document bytes (hex)");
    std::fs::write(l.join("docs").join(DocHash::of(&doc).to_hex()), &doc).unwrap();
    let mut w = ledger::core::writer::Writer::open(&l).unwrap();
    let done = w
        .attach(signed.stored(), signed.request().key(), None)
        .unwrap();
    assert_eq!(done.seq, 3);
    assert_eq!(
        done.hash.to_hex(),
        *get("event 3 hash (the head after attach)")
    );
    drop(w);
    let verdict = ledger::proofs::audit::verify(&l, &ledger::proofs::audit::Options::default());
    assert!(verdict.is_ok(), "{verdict:?}");
}

#[test]
#[ignore]
fn write_offline_vector_files() {
    let (_, request, signed) = offline_vectors();
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/");
    std::fs::write(format!("{data}sign-request-v1.cbor"), request).unwrap();
    std::fs::write(format!("{data}signed-event-v1.cbor"), signed).unwrap();
}

#[test]
#[ignore]
fn print_vectors() {
    println!("{}", render(&vectors()));
    println!("----- §14.1 -----\n{}", render(&proof_vectors()));
    println!("----- §5.8 -----\n{}", render(&party_proof_vectors()));
    println!("----- §13.12 -----\n{}", render(&signer_vectors().0));
    println!("----- §20.5 -----\n{}", render(&offline_vectors().0));
}

/// FORMAT §21.1: the tlog-proof test vector.
#[test]
fn tlog_proof_vector() {
    let p = ledger::tlog::proof::TlogProof {
        extra: Some(b"entry".to_vec()),
        index: 5,
        proof: vec![[1; 32], [2; 32]],
        checkpoint:
            "example.com/log\n7\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n\n— x AAAA\n"
                .as_bytes()
                .to_vec(),
    };
    let text = "c2sp.org/tlog-proof@v1\nextra ZW50cnk=\nindex 5\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\nAgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=\n\nexample.com/log\n7\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n\n— x AAAA\n";
    assert_eq!(p.encode(), text.as_bytes());
    assert_eq!(
        ledger::tlog::proof::TlogProof::parse(text.as_bytes()).unwrap(),
        p
    );
}
