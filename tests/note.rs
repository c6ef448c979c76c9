//! Signed notes, verifier keys, checkpoints and cosignatures (src/note.rs)
//! against the C2SP specs' examples and the test vectors of Go's
//! golang.org/x/mod/sumdb/note (note_test.go).

mod common;

use base64ct::{Base64, Encoding};
use ledger::base::crypto::SigningKey;
use ledger::tlog::note::{
    self, cosign, cosignature_message, key_id, sign, verify, Checkpoint, CosignedCheckpoint, Note,
    NoteError, NoteSignature, NoteVerifier, QuorumNotMet, VerifierKind, WitnessPolicy,
    MAX_NOTE_BYTES, MAX_SIGNATURES,
};
use sha2::{Digest, Sha256};

/// A signing key from a 32-byte Ed25519 seed, through the only door
/// `SigningKey` has: a PKCS#8 key file of mode 0600.
fn key_from_seed(seed: &[u8; 32]) -> SigningKey {
    let dir = tempfile::tempdir().unwrap();
    common::key_file_from_seed(dir.path(), "k.key", seed).1
}

/// Go's test key: skey "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALV...".
fn peter_key() -> SigningKey {
    let raw = Base64::decode_vec("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz").unwrap();
    assert_eq!(raw[0], 0x01);
    key_from_seed(&raw[1..].try_into().unwrap())
}

const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
const ENOCH_VKEY: &str = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
const GO_TEXT: &str = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG: &str = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
const ENOCH_SIG: &str = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

fn vk(s: &str) -> NoteVerifier {
    NoteVerifier::parse(s).unwrap()
}

fn names(v: &[note::Verified]) -> Vec<&str> {
    v.iter().map(|v| v.verifier().name()).collect()
}

fn seed(i: u8) -> [u8; 32] {
    let mut s = [i; 32];
    s[0] = 0x5a;
    s
}

// ---------------------------------------------------------------- vkeys

#[test]
fn go_vkey_parses_and_formats_identically() {
    let v = vk(PETER_VKEY);
    assert_eq!(v.name(), "PeterNeumann");
    assert_eq!(v.key_id(), 0xc74f20a3);
    assert_eq!(v.kind(), VerifierKind::Ed25519);
    assert_eq!(v.to_vkey(), PETER_VKEY);
    assert_eq!(v.to_string(), PETER_VKEY);
    assert_eq!(vk(ENOCH_VKEY).to_vkey(), ENOCH_VKEY);
    // The Go signer key's public half gives the same vkey.
    let ours =
        NoteVerifier::new("PeterNeumann", VerifierKind::Ed25519, peter_key().public()).unwrap();
    assert_eq!(ours, v);
}

#[test]
fn key_id_is_sha256_of_name_newline_type_key() {
    let v = vk(PETER_VKEY);
    let mut h = Sha256::new();
    h.update(b"PeterNeumann\n\x01");
    h.update(v.key().to_bytes());
    let d = h.finalize();
    assert_eq!(u32::from_be_bytes([d[0], d[1], d[2], d[3]]), 0xc74f20a3);
    assert_eq!(
        key_id("PeterNeumann", 0x01, &v.key().to_bytes()),
        0xc74f20a3
    );
}

/// Go's TestNewVerifier: every proper substring and every one-byte
/// increment of the vkey is refused.
#[test]
fn go_vkey_manglings_are_refused() {
    let b = PETER_VKEY.as_bytes();
    for i in 0..=b.len() {
        for j in i + 1..=b.len() {
            if i == 0 && j == b.len() {
                continue;
            }
            let s = String::from_utf8_lossy(&b[i..j]);
            assert!(NoteVerifier::parse(&s).is_err(), "accepted {s:?}");
        }
    }
    for i in 0..b.len() {
        let mut m = b.to_vec();
        m[i] = m[i].wrapping_add(1);
        let s = String::from_utf8_lossy(&m);
        assert!(NoteVerifier::parse(&s).is_err(), "accepted {s:?}");
    }
    // Wrong key length and unknown algorithm, each with a matching key ID.
    // (Go's first one also ends in non-canonical Base64, "Y==", which is
    // what refuses it here first.)
    assert!(NoteVerifier::parse(
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
    )
    .is_err());
    let long = {
        let mut raw = Base64::decode_vec("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW").unwrap();
        raw.push(0);
        let id = key_id("PeterNeumann", raw[0], &raw[1..]);
        format!("PeterNeumann+{id:08x}+{}", Base64::encode_string(&raw))
    };
    assert!(matches!(
        NoteVerifier::parse(&long),
        Err(NoteError::BadVkey { .. })
    ));
    assert!(matches!(
        NoteVerifier::parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
        Err(NoteError::UnsupportedType { found: 0x65 })
    ));
}

#[test]
fn vkey_strictness() {
    // A wrong ID is a mismatch, reported as such.
    assert!(matches!(
        NoteVerifier::parse("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"),
        Err(NoteError::VkeyIdMismatch {
            expected: 0xc74f20a3,
            found: 0xc74f20a4,
            ..
        })
    ));
    // Uppercase hex (Go accepts it; the spec says lowercase).
    assert!(NoteVerifier::parse(
        "PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    )
    .is_err());
    // A small-order key with a correct ID: the identity point.
    let mut weak = vec![0x01u8, 0x01];
    weak.extend_from_slice(&[0u8; 31]);
    let id = key_id("weak", 0x01, &weak[1..]);
    let s = format!("weak+{id:08x}+{}", Base64::encode_string(&weak));
    let e = NoteVerifier::parse(&s).unwrap_err();
    assert!(matches!(e, NoteError::BadKey { weak: true, .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "verifier key for \"weak\": weak is a small-order (weak) Ed25519 public key, which anyone can sign for"
    );
    // Names with '+' or spaces cannot be built.
    let k = peter_key().public();
    for bad in [
        "",
        "a+b",
        "a b",
        "a\u{a0}b",
        "a\u{2003}b",
        "a\tb",
        "a\u{1}b",
    ] {
        assert!(
            NoteVerifier::new(bad, VerifierKind::Ed25519, k).is_err(),
            "{bad:?}"
        );
    }
    // A cosignature/v1 vkey round-trips and has type byte 0x04.
    let w = NoteVerifier::new("witness.example/w1", VerifierKind::CosignatureV1, k).unwrap();
    let s = w.to_vkey();
    assert!(s.contains("+BBpc2Q"), "{s}");
    assert_eq!(vk(&s), w);
    assert_ne!(
        w.key_id(),
        NoteVerifier::new("witness.example/w1", VerifierKind::Ed25519, k)
            .unwrap()
            .key_id()
    );
}

// ---------------------------------------------------------- Go signing

#[test]
fn our_signature_reproduces_gos() {
    let sig = sign(GO_TEXT, "PeterNeumann", &peter_key()).unwrap();
    assert_eq!(sig.key_id(), 0xc74f20a3);
    assert_eq!(sig.to_line(), PETER_SIG);
    let n = Note::new(GO_TEXT, vec![sig]).unwrap();
    assert_eq!(
        String::from_utf8(n.to_bytes()).unwrap(),
        format!("{GO_TEXT}\n{PETER_SIG}")
    );
}

/// Go's TestOpen, case by case.
#[test]
fn go_open_vectors() {
    let peter = vk(PETER_VKEY);
    let enoch = vk(ENOCH_VKEY);
    let msg = format!("{GO_TEXT}\n{PETER_SIG}{ENOCH_SIG}");
    let n = Note::parse(msg.as_bytes()).unwrap();
    assert_eq!(n.text(), GO_TEXT);
    assert_eq!(n.signatures().len(), 2);
    assert_eq!(n.signatures()[1].key_id(), 0xaf0cfe78);
    assert_eq!(n.to_bytes(), msg.as_bytes());

    // One verified, one unknown (ignored).
    let v = verify(&n, std::slice::from_ref(&peter)).unwrap();
    assert_eq!(names(&v), ["PeterNeumann"]);
    assert_eq!(v[0].timestamp(), None);
    // Both.
    let v = verify(&n, &[peter.clone(), enoch.clone()]).unwrap();
    assert_eq!(names(&v), ["PeterNeumann", "EnochRoot"]);
    // None known.
    assert!(matches!(
        verify(&n, &[]),
        Err(NoteError::NoVerifiedSignature { .. })
    ));
    // A duplicated verifier in the list is not ambiguous.
    let v = verify(&n, &[enoch.clone(), peter.clone(), enoch.clone()]).unwrap();
    assert_eq!(v.len(), 2);

    // Too many signatures: 101 refused, as Go does; 100 accepted.
    let many = |k: usize| format!("{GO_TEXT}\n{}", PETER_SIG.repeat(k));
    assert!(matches!(
        Note::parse(many(101).as_bytes()),
        Err(NoteError::TooManySignatures { .. })
    ));
    let n100 = Note::parse(many(100).as_bytes()).unwrap();
    // Reported once, though it signed 100 times.
    assert_eq!(
        names(&verify(&n100, std::slice::from_ref(&peter)).unwrap()),
        ["PeterNeumann"]
    );

    // Invalid signature from a known key (4 Base64 characters inserted).
    let bad = format!("{GO_TEXT}\n{}ABCD{}", &PETER_SIG[..60], &PETER_SIG[60..]);
    let n = Note::parse(bad.as_bytes()).unwrap();
    assert!(matches!(
        verify(&n, std::slice::from_ref(&peter)),
        Err(NoteError::BadSignature { ref name, key_id: 0xc74f20a3, .. }) if name == "PeterNeumann"
    ));
    // ... but only if the key is known: unknown bad signatures are ignored.
    let mixed = format!(
        "{GO_TEXT}\n{PETER_SIG}{PETER_SIG}{ENOCH_SIG}{ENOCH_SIG}{}ABCD{}",
        &ENOCH_SIG[..60],
        &ENOCH_SIG[60..]
    );
    let n = Note::parse(mixed.as_bytes()).unwrap();
    assert_eq!(
        names(&verify(&n, std::slice::from_ref(&peter)).unwrap()),
        ["PeterNeumann"]
    );
    assert!(verify(&n, &[peter.clone(), enoch.clone()]).is_err());

    // Go's malformed messages.
    let bad_msgs = [
        GO_TEXT.to_string(),
        format!("{GO_TEXT}\n"),
        format!("{GO_TEXT}\n{}", &PETER_SIG[..PETER_SIG.len() - 1]),
        format!("\x01{GO_TEXT}\n{PETER_SIG}"),
        format!("{GO_TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="),
        format!("{GO_TEXT}\n{PETER_SIG}Unexpected line.\n"),
    ];
    for m in &bad_msgs {
        assert!(Note::parse(m.as_bytes()).is_err(), "accepted {m:?}");
    }
    let mut invalid_utf8 = b"\xff".to_vec();
    invalid_utf8.extend_from_slice(format!("{GO_TEXT}\n{PETER_SIG}").as_bytes());
    assert!(matches!(
        Note::parse(&invalid_utf8),
        Err(NoteError::NotUtf8 { offset: 0 })
    ));

    // A verifier under another name, or with another ID, is not asked.
    let renamed = format!(
        "{GO_TEXT}\n{}",
        PETER_SIG.replace("PeterNeumann", "CarmenSandiego")
    );
    let n = Note::parse(renamed.as_bytes()).unwrap();
    assert!(matches!(
        verify(&n, std::slice::from_ref(&peter)),
        Err(NoteError::NoVerifiedSignature { .. })
    ));
    let rehashed = format!("{GO_TEXT}\n{}", PETER_SIG.replace("x08g", "xxxx"));
    let n = Note::parse(rehashed.as_bytes()).unwrap();
    assert!(matches!(
        verify(&n, &[peter]),
        Err(NoteError::NoVerifiedSignature { .. })
    ));
}

/// The example of c2sp.org/signed-note, "Verifier keys".
#[test]
fn c2sp_signed_note_example_verifies() {
    let v = vk("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k");
    let msg = "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    let n = Note::parse(msg.as_bytes()).unwrap();
    assert_eq!(n.text(), "This is an example message.\n");
    assert_eq!(names(&verify(&n, &[v]).unwrap()), ["example.com/foo"]);
    assert_eq!(n.to_bytes(), msg.as_bytes());
}

/// The introductory example of c2sp.org/signed-note: the text has empty
/// lines and is split from the signatures at the *last* one.
#[test]
fn text_split_at_last_blank_line() {
    let msg = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n\n— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKONrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n";
    let n = Note::parse(msg.as_bytes()).unwrap();
    assert_eq!(
        n.text(),
        "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n"
    );
    assert_eq!(n.signatures()[0].name(), "quasimodo.example/salvatore");
    assert_eq!(n.to_bytes(), msg.as_bytes());
    // A text that itself ends in an empty line keeps it.
    let k = key_from_seed(&seed(1));
    let text = "a\n\n";
    let n = Note::new(text, vec![sign(text, "k", &k).unwrap()]).unwrap();
    let back = Note::parse(&n.to_bytes()).unwrap();
    assert_eq!(back.text(), "a\n\n");
    assert_eq!(back, n);
}

// ------------------------------------------------------------- parsing

#[test]
fn malformed_notes_are_refused() {
    let good = format!("{GO_TEXT}\n{PETER_SIG}");
    assert!(Note::parse(good.as_bytes()).is_ok());
    let cases: Vec<(String, &str)> = vec![
        (
            good.replace('\u{2014}', "-"),
            "ASCII hyphen, not an em dash",
        ),
        (good.replace("— ", "—  "), "two spaces after the dash"),
        (
            good.replace("PeterNeumann ", "Peter+Neumann "),
            "'+' in name",
        ),
        (
            good.replace("PeterNeumann ", "Peter\u{a0}Neumann "),
            "NBSP in name",
        ),
        (
            good.replace("PeterNeumann ", "Peter\u{2028}Neumann "),
            "line separator in name",
        ),
        (good.replace("— PeterNeumann ", "—  "), "empty name"),
        (
            good.replace("AM=\n", "AN=\n"),
            "non-canonical last Base64 character",
        ),
        (good.replace("AM=\n", "AM\n"), "missing padding"),
        (good.replace("AM=\n", "AM==\n"), "extra padding"),
        (good.replace("x08go/", "x08go_"), "URL-safe alphabet"),
        (good.replace("\n\n", "\r\n\r\n"), "CR"),
        (
            good.replace("cryptography", "crypto\tgraphy"),
            "tab in text",
        ),
        (
            good.replace("cryptography", "crypto\x7fgraphy")
                .replace('\u{2014}', "-"),
            "no dash",
        ),
        (format!("{GO_TEXT}\n— PeterNeumann \n"), "empty signature"),
        (
            format!("{GO_TEXT}\n— PeterNeumann AAAAAA==\n"),
            "4-byte signature: key ID only",
        ),
        (format!("{GO_TEXT}\n— PeterNeumann\n"), "no Base64"),
        (
            format!("{GO_TEXT}\n{PETER_SIG}\n"),
            "blank line after the signatures",
        ),
        (format!("\n{PETER_SIG}"), "no text"),
        (format!("{GO_TEXT}\n {PETER_SIG}"), "leading space"),
        (
            format!("{GO_TEXT}\n{}", PETER_SIG.replace(" x08", " x08 ")),
            "space in Base64",
        ),
    ];
    for (m, why) in cases {
        assert!(
            Note::parse(m.as_bytes()).is_err(),
            "accepted ({why}): {m:?}"
        );
    }
    assert!(matches!(
        Note::parse(
            format!("a\nb\n\n{PETER_SIG}")
                .replace('b', "\u{1b}[31m")
                .as_bytes()
        ),
        Err(NoteError::ControlChar {
            offset: 2,
            code: 0x1b
        })
    ));
    // Size cap.
    let big = format!("{}\n\n{PETER_SIG}", "a".repeat(MAX_NOTE_BYTES));
    assert!(matches!(
        Note::parse(big.as_bytes()),
        Err(NoteError::TooLarge { .. })
    ));
}

#[test]
fn note_new_refuses_what_parse_would() {
    let s = NoteSignature::new("n", 1, vec![1]).unwrap();
    assert!(Note::new("no newline", vec![s.clone()]).is_err());
    assert!(Note::new("", vec![s.clone()]).is_err());
    assert!(Note::new("a\rb\n", vec![s.clone()]).is_err());
    assert!(matches!(
        Note::new("a\n", vec![]),
        Err(NoteError::NoSignatures)
    ));
    assert!(Note::new("a\n", vec![s.clone(); MAX_SIGNATURES]).is_ok());
    assert!(matches!(
        Note::new("a\n", vec![s.clone(); MAX_SIGNATURES + 1]),
        Err(NoteError::TooManySignatures { .. })
    ));
    let mut n = Note::new("a\n", vec![s.clone(); MAX_SIGNATURES]).unwrap();
    assert!(n.push_signature(s.clone()).is_err());
    assert_eq!(n.signatures().len(), MAX_SIGNATURES);
    assert!(Note::new(&"a".repeat(MAX_NOTE_BYTES), vec![s]).is_err());
    assert!(NoteSignature::new("n", 1, vec![]).is_err());
    assert!(NoteSignature::new("a+b", 1, vec![1]).is_err());
}

#[test]
fn parse_and_encode_are_inverse() {
    let keys: Vec<SigningKey> = (0..5).map(|i| key_from_seed(&seed(i))).collect();
    let texts = ["x\n", "a\n\nb\n", "é ☃ 𝄞\n\n\n", GO_TEXT];
    for text in texts {
        for k in 1..=keys.len() {
            let sigs = keys[..k]
                .iter()
                .enumerate()
                .map(|(i, key)| sign(text, &format!("k{i}.example/log"), key).unwrap())
                .collect();
            let n = Note::new(text, sigs).unwrap();
            let bytes = n.to_bytes();
            let back = Note::parse(&bytes).unwrap();
            assert_eq!(back, n);
            assert_eq!(back.to_bytes(), bytes);
        }
    }
    // Arbitrary signature lengths (1..=200 bytes) round-trip too.
    for len in 1..=200 {
        let s = NoteSignature::new("n", 0xdeadbeef, (0..len).map(|i| i as u8).collect()).unwrap();
        let n = Note::new("t\n", vec![s]).unwrap();
        assert_eq!(Note::parse(&n.to_bytes()).unwrap(), n);
    }
}

#[test]
fn parse_signature_lines_reads_a_witness_response() {
    let lines = format!("{PETER_SIG}{ENOCH_SIG}");
    let sigs = note::parse_signature_lines(lines.as_bytes()).unwrap();
    assert_eq!(sigs.len(), 2);
    assert_eq!(sigs[0].to_line(), PETER_SIG);
    assert!(note::parse_signature_lines(b"").is_err());
    assert!(note::parse_signature_lines(PETER_SIG.trim_end().as_bytes()).is_err());
    assert!(note::parse_signature_lines(format!("{PETER_SIG}\n").as_bytes()).is_err());
}

// ----------------------------------------------------------- verification

fn signed(text: &str, keys: &[(&str, &SigningKey)]) -> Note {
    let sigs = keys
        .iter()
        .map(|(n, k)| sign(text, n, k).unwrap())
        .collect();
    Note::new(text, sigs).unwrap()
}

fn ed(name: &str, k: &SigningKey) -> NoteVerifier {
    NoteVerifier::new(name, VerifierKind::Ed25519, k.public()).unwrap()
}

fn cos(name: &str, k: &SigningKey) -> NoteVerifier {
    NoteVerifier::new(name, VerifierKind::CosignatureV1, k.public()).unwrap()
}

#[test]
fn unknown_keys_are_ignored() {
    let (a, b) = (key_from_seed(&seed(1)), key_from_seed(&seed(2)));
    let n = signed("t\n", &[("a", &a), ("b", &b)]);
    assert_eq!(names(&verify(&n, &[ed("a", &a)]).unwrap()), ["a"]);
    assert_eq!(names(&verify(&n, &[ed("b", &b)]).unwrap()), ["b"]);
    // Same name, different key (so different ID): not the signer; ignored.
    let other = key_from_seed(&seed(3));
    assert!(matches!(
        verify(&n, &[ed("a", &other)]),
        Err(NoteError::NoVerifiedSignature { known: 1, found: 2 })
    ));
    assert_eq!(
        names(&verify(&n, &[ed("a", &other), ed("b", &b)]).unwrap()),
        ["b"]
    );
    // Same ID, different name: ignored too.
    let sig_a = &n.signatures()[0];
    let renamed = NoteSignature::new("c", sig_a.key_id(), sig_a.signature().to_vec()).unwrap();
    let n2 = Note::new("t\n", vec![renamed]).unwrap();
    assert!(verify(&n2, &[ed("a", &a)]).is_err());
}

#[test]
fn a_known_key_with_a_bad_signature_rejects_the_note() {
    let (a, b) = (key_from_seed(&seed(1)), key_from_seed(&seed(2)));
    let good_a = sign("t\n", "a", &a).unwrap();
    let wrong_text_b = sign("u\n", "b", &b).unwrap();
    let n = Note::new("t\n", vec![good_a.clone(), wrong_text_b.clone()]).unwrap();
    // b unknown: fine. b known: the whole note is refused, even though a
    // verifies.
    assert!(verify(&n, &[ed("a", &a)]).is_ok());
    assert!(matches!(
        verify(&n, &[ed("a", &a), ed("b", &b)]),
        Err(NoteError::BadSignature { ref name, .. }) if name == "b"
    ));
    // Order does not matter: bad first.
    let n = Note::new("t\n", vec![wrong_text_b, good_a.clone()]).unwrap();
    assert!(verify(&n, &[ed("a", &a), ed("b", &b)]).is_err());
    // A second, bad signature from the same key is checked too.
    let mut bad = good_a.signature().to_vec();
    bad[0] ^= 1;
    let dup = NoteSignature::new("a", good_a.key_id(), bad).unwrap();
    let n = Note::new("t\n", vec![good_a, dup]).unwrap();
    assert!(matches!(
        verify(&n, &[ed("a", &a)]),
        Err(NoteError::BadSignature { .. })
    ));
}

#[test]
fn sixteen_and_more_signatures_are_accepted() {
    let keys: Vec<SigningKey> = (0..40).map(|i| key_from_seed(&seed(i))).collect();
    let names_: Vec<String> = (0..40).map(|i| format!("w{i}.example")).collect();
    let pairs: Vec<(&str, &SigningKey)> = names_.iter().map(String::as_str).zip(&keys).collect();
    let n = signed("t\n", &pairs);
    let n = Note::parse(&n.to_bytes()).unwrap();
    let vs: Vec<NoteVerifier> = pairs.iter().map(|(n, k)| ed(n, k)).collect();
    assert_eq!(verify(&n, &vs).unwrap().len(), 40);
    assert_eq!(verify(&n, &vs[..16]).unwrap().len(), 16);
}

#[test]
fn sign_refuses_bad_input() {
    let k = key_from_seed(&seed(1));
    assert!(matches!(
        sign("no newline", "k", &k),
        Err(NoteError::BadText)
    ));
    assert!(sign("a\x00\n", "k", &k).is_err());
    assert!(sign("a\n", "bad name", &k).is_err());
}

// --------------------------------------------------------- checkpoints

const SOFA: &str =
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

/// The example of c2sp.org/tlog-cosignature (the tlog-checkpoint one plus a
/// cosignature), whose timestamp the spec's message example gives.
#[test]
fn c2sp_checkpoint_example_parses() {
    let msg = format!("{SOFA}\n— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n");
    let n = Note::parse(msg.as_bytes()).unwrap();
    assert_eq!(n.to_bytes(), msg.as_bytes());
    let c = Checkpoint::parse_text(n.text()).unwrap();
    assert_eq!(c.origin(), "example.com/behind-the-sofa");
    assert_eq!(c.size(), 20852163);
    assert_eq!(
        hex::encode(c.root()),
        hex::encode(Base64::decode_vec("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=").unwrap())
    );
    assert!(c.extensions().is_empty());
    assert_eq!(c.to_text(), SOFA);
    let log = &n.signatures()[0];
    assert_eq!(log.signature().len(), 64);
    assert_eq!(log.cosignature_timestamp(), None);
    let w = &n.signatures()[1];
    assert_eq!(w.key_id(), 0x8d66cf3f);
    assert_eq!(w.cosignature_timestamp(), Some(1679315147));
}

#[test]
fn checkpoint_text_is_strict() {
    let root = "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=";
    let ok = |t: &str| Checkpoint::parse_text(t).is_ok();
    assert!(ok(&format!("o\n0\n{root}\n")));
    assert!(ok(&format!("o\n18446744073709551615\n{root}\n")));
    assert!(ok(&format!("o\n1\n{root}\next one\next two\n")));
    for (bad, why) in [
        (format!("o\n1\n{root}"), "no final newline"),
        ("o\n1\n".to_string(), "two lines"),
        (format!("\n1\n{root}\n"), "empty origin"),
        (format!("o o\n1\n{root}\n"), "space in origin"),
        (format!("o+o\n1\n{root}\n"), "plus in origin"),
        (format!("o\n01\n{root}\n"), "leading zero"),
        (format!("o\n00\n{root}\n"), "leading zero"),
        (format!("o\n+1\n{root}\n"), "sign"),
        (format!("o\n-1\n{root}\n"), "negative"),
        (format!("o\n 1\n{root}\n"), "space"),
        (format!("o\n1 \n{root}\n"), "space"),
        (format!("o\n\n{root}\n"), "empty size"),
        (format!("o\n18446744073709551616\n{root}\n"), "2^64"),
        (
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxqw==\n".to_string(),
            "31 bytes",
        ),
        (
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=AAAA\n".to_string(),
            "long",
        ),
        (
            "o\n1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=\n".to_string(),
            "non-canonical",
        ),
        (format!("o\n1\n{root}\n\n"), "empty extension line"),
        (format!("o\n1\n{root}\na\n\nb\n"), "empty extension line"),
        (format!("o\n1\n{root}\na\tb\n"), "control character"),
    ] {
        assert!(!ok(&bad), "accepted ({why}): {bad:?}");
    }
    // new() and to_text() agree with parse_text().
    let c = Checkpoint::new("example.com/log", 7, [9; 32], vec!["ext".into()]).unwrap();
    assert_eq!(Checkpoint::parse_text(&c.to_text()).unwrap(), c);
    assert!(Checkpoint::new("a b", 7, [9; 32], vec![]).is_err());
    assert!(Checkpoint::new("o", 7, [9; 32], vec!["".into()]).is_err());
    assert!(Checkpoint::new("o", 7, [9; 32], vec!["a\nb".into()]).is_err());
}

// -------------------------------------------------------- cosignatures

#[test]
fn cosignature_v1_message_and_bytes() {
    let w = key_from_seed(&seed(7));
    let name = "witness.example/w1";
    let ts = 1679315147u64;
    let sig = cosign(SOFA, name, &w, ts).unwrap();
    // Independently built expected message.
    let expected = b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
    assert_eq!(cosignature_message(SOFA, ts), expected.to_vec());
    let bytes = sig.signature();
    assert_eq!(bytes.len(), 72);
    assert_eq!(&bytes[..8], &ts.to_be_bytes());
    assert_eq!(&bytes[..8], &[0, 0, 0, 0, 0x64, 0x18, 0x50, 0xcb]);
    let ed_sig: [u8; 64] = bytes[8..].try_into().unwrap();
    assert!(w.public().verify_strict(expected, &ed_sig));
    assert_eq!(sig.cosignature_timestamp(), Some(ts));
    // Key ID with type byte 0x04, computed by hand.
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0x0a, 0x04]);
    h.update(w.public().to_bytes());
    let d = h.finalize();
    assert_eq!(sig.key_id(), u32::from_be_bytes([d[0], d[1], d[2], d[3]]));

    // verify() reports the timestamp for the cosignature/v1 verifier...
    let n = Note::new(SOFA, vec![sig.clone()]).unwrap();
    let v = verify(&n, &[cos(name, &w)]).unwrap();
    assert_eq!(v[0].timestamp(), Some(ts));
    assert_eq!(v[0].verifier().kind(), VerifierKind::CosignatureV1);
    // ... and an Ed25519 verifier of the same name and key does not accept
    // it: its key ID differs, so the cosignature is an unknown signature.
    assert!(matches!(
        verify(&n, &[ed(name, &w)]),
        Err(NoteError::NoVerifiedSignature { .. })
    ));
    // Nor does a plain Ed25519 signature count as a cosignature.
    let plain = sign(SOFA, name, &w).unwrap();
    let n = Note::new(SOFA, vec![plain]).unwrap();
    assert!(verify(&n, &[cos(name, &w)]).is_err());
}

#[test]
fn cosignature_timestamps() {
    let w = key_from_seed(&seed(7));
    assert!(matches!(
        cosign(SOFA, "w", &w, 1 << 63),
        Err(NoteError::TimestampTooLarge { found }) if found == 1 << 63
    ));
    let max = (1u64 << 63) - 1;
    let s = cosign(SOFA, "w", &w, max).unwrap();
    let n = Note::new(SOFA, vec![s]).unwrap();
    assert_eq!(
        verify(&n, &[cos("w", &w)]).unwrap()[0].timestamp(),
        Some(max)
    );
    let s0 = cosign(SOFA, "w", &w, 0).unwrap();
    let n = Note::new(SOFA, vec![s0]).unwrap();
    assert_eq!(verify(&n, &[cos("w", &w)]).unwrap()[0].timestamp(), Some(0));

    // A validly signed cosignature with a timestamp of 2^63 is refused by
    // verification, not just by cosign().
    let ts = 1u64 << 63;
    let raw = w.sign(&cosignature_message(SOFA, ts));
    let mut bytes = ts.to_be_bytes().to_vec();
    bytes.extend_from_slice(&raw);
    let v = cos("w", &w);
    let n = Note::new(
        SOFA,
        vec![NoteSignature::new("w", v.key_id(), bytes).unwrap()],
    )
    .unwrap();
    assert!(matches!(
        verify(&n, std::slice::from_ref(&v)),
        Err(NoteError::BadSignature { .. })
    ));

    // The timestamp is signed: changing it breaks the signature.
    let mut s = cosign(SOFA, "w", &w, 1000).unwrap().signature().to_vec();
    s[7] ^= 1;
    let n = Note::new(SOFA, vec![NoteSignature::new("w", v.key_id(), s).unwrap()]).unwrap();
    assert!(matches!(
        verify(&n, std::slice::from_ref(&v)),
        Err(NoteError::BadSignature { .. })
    ));
    // Wrong length for a cosignature.
    let n = Note::new(
        SOFA,
        vec![NoteSignature::new("w", v.key_id(), vec![0; 64]).unwrap()],
    )
    .unwrap();
    assert!(matches!(
        verify(&n, &[v]),
        Err(NoteError::BadSignature { .. })
    ));
    // Only checkpoints are cosigned.
    assert!(cosign("not a checkpoint\n", "w", &w, 1).is_err());
}

// ------------------------------------------------- cosigned checkpoints

struct Fixture {
    log: SigningKey,
    witnesses: Vec<SigningKey>,
}

const ORIGIN: &str = "ledger.example/log";

impl Fixture {
    fn new() -> Self {
        Fixture {
            log: key_from_seed(&seed(100)),
            witnesses: (0..3).map(|i| key_from_seed(&seed(110 + i))).collect(),
        }
    }
    fn log_v(&self) -> NoteVerifier {
        ed(ORIGIN, &self.log)
    }
    fn policy(&self, quorum: usize) -> WitnessPolicy {
        let ws = self
            .witnesses
            .iter()
            .enumerate()
            .map(|(i, k)| cos(&format!("w{i}.example"), k))
            .collect();
        WitnessPolicy::new(ws, quorum).unwrap()
    }
    /// A checkpoint signed by the log and cosigned by witnesses `which`.
    fn note(&self, which: &[usize]) -> Vec<u8> {
        let text = Checkpoint::new(ORIGIN, 5, [3; 32], vec![])
            .unwrap()
            .to_text();
        let mut sigs = vec![sign(&text, ORIGIN, &self.log).unwrap()];
        for &i in which {
            sigs.push(
                cosign(
                    &text,
                    &format!("w{i}.example"),
                    &self.witnesses[i],
                    1_700_000_000 + i as u64,
                )
                .unwrap(),
            );
        }
        Note::new(&text, sigs).unwrap().to_bytes()
    }
}

#[test]
fn cosigned_checkpoint_counts_a_quorum() {
    let f = Fixture::new();
    let verify =
        |b: &[u8], p: &WitnessPolicy| CosignedCheckpoint::verify(b, &[f.log_v()], Some(p)).unwrap();
    let p2 = f.policy(2);
    let c = verify(&f.note(&[0, 2]), &p2);
    assert_eq!(c.quorum(&p2), Ok(()));
    assert_eq!(names(c.cosigners()), ["w0.example", "w2.example"]);
    assert_eq!(c.cosigners()[1].timestamp(), Some(1_700_000_002));
    assert_eq!(c.checkpoint().size(), 5);
    assert_eq!(c.signers(), [f.log_v()]);
    let c = verify(&f.note(&[1]), &p2);
    let e = c.quorum(&p2).unwrap_err();
    assert_eq!(
        e,
        QuorumNotMet {
            size: 5,
            cosigned: vec!["w1.example".to_owned()],
            witnesses: 3,
            quorum: 2,
            rule: None,
        }
    );
    assert_eq!(
        e.to_string(),
        "the checkpoint of size 5 is cosigned by 1 of the 3 witnesses (w1.example), fewer than the 2 required"
    );
    assert_eq!(names(c.cosigners()), ["w1.example"]);
    let p1 = f.policy(1);
    let c = verify(&f.note(&[]), &p1);
    assert_eq!(
        c.quorum(&p1).unwrap_err().to_string(),
        "the checkpoint of size 5 is cosigned by 0 of the 3 witnesses (none), fewer than the 1 required"
    );
    // The same witness cosigning twice counts once.
    let c = verify(&f.note(&[1, 1]), &p2);
    assert!(c.quorum(&p2).is_err());
    // Only the witnesses of the policy asked about count.
    let c = verify(&f.note(&[0, 1]), &p2);
    let only_w2 = WitnessPolicy::new(vec![cos("w2.example", &f.witnesses[2])], 1).unwrap();
    assert_eq!(
        c.quorum(&only_w2).unwrap_err().cosigned,
        Vec::<String>::new()
    );
    // Without a policy, cosignatures are ignored, not counted.
    let c = CosignedCheckpoint::verify(&f.note(&[0, 1]), &[f.log_v()], None).unwrap();
    assert!(c.cosigners().is_empty());
    assert!(c.quorum(&p1).is_err());
    // Witness cosignatures without the log's signature are refused.
    let bytes = f.note(&[0, 1, 2]);
    let n = Note::parse(&bytes).unwrap();
    let only_witnesses = Note::new(n.text(), n.signatures()[1..].to_vec()).unwrap();
    assert!(matches!(
        CosignedCheckpoint::verify(&only_witnesses.to_bytes(), &[f.log_v()], Some(&p1)),
        Err(NoteError::NoVerifiedSignature { known: 1, found: 3 })
    ));
    // A log key named other than the origin is refused.
    let other = ed("other.example/log", &f.log);
    assert!(matches!(
        CosignedCheckpoint::verify(&bytes, &[other], Some(&p1)),
        Err(NoteError::OriginMismatch { .. })
    ));
    // A cosignature/v1 key as the log key is refused.
    assert!(matches!(
        CosignedCheckpoint::verify(&bytes, &[cos(ORIGIN, &f.log)], Some(&p1)),
        Err(NoteError::WrongKind { .. })
    ));
}

/// Several log keys: any one that signed suffices, each that signed is
/// reported once (the same key given twice is one signer), none is
/// `NoVerifiedSignature` counting the distinct keys, and a known key's bad
/// signature rejects the note whoever else signed.
#[test]
fn cosigned_checkpoint_takes_several_log_keys() {
    let f = Fixture::new();
    let second = key_from_seed(&seed(101));
    let stranger = key_from_seed(&seed(102));
    let (log, two, other) = (f.log_v(), ed(ORIGIN, &second), ed(ORIGIN, &stranger));
    let bytes = f.note(&[0]);
    let c = CosignedCheckpoint::verify(&bytes, &[other.clone(), log.clone()], None).unwrap();
    assert_eq!(c.signers(), std::slice::from_ref(&log));
    let c = CosignedCheckpoint::verify(&bytes, &[log.clone(), other.clone(), log.clone()], None)
        .unwrap();
    assert_eq!(c.signers(), std::slice::from_ref(&log));
    assert!(matches!(
        CosignedCheckpoint::verify(&bytes, &[other.clone(), other.clone()], Some(&f.policy(1))),
        Err(NoteError::NoVerifiedSignature { known: 1, found: 2 })
    ));
    assert!(matches!(
        CosignedCheckpoint::verify(&bytes, &[], None),
        Err(NoteError::NoVerifiedSignature { known: 0, found: 2 })
    ));
    // Both log keys sign: both reported, in the order given.
    let text = Note::parse(&bytes).unwrap().text().to_owned();
    let both = Note::new(
        &text,
        vec![
            sign(&text, ORIGIN, &f.log).unwrap(),
            sign(&text, ORIGIN, &second).unwrap(),
        ],
    )
    .unwrap()
    .to_bytes();
    let c = CosignedCheckpoint::verify(&both, &[two.clone(), log.clone()], None).unwrap();
    assert_eq!(c.signers(), [two.clone(), log.clone()]);
    // A bad signature by a known log key rejects the note, even though
    // another log key's verifies.
    let mut n = Note::parse(&both).unwrap();
    let forged = NoteSignature::new(ORIGIN, two.key_id(), vec![7; 64]).unwrap();
    n = Note::new(n.text(), vec![n.signatures()[0].clone(), forged]).unwrap();
    assert!(matches!(
        CosignedCheckpoint::verify(&n.to_bytes(), &[log.clone(), two], None),
        Err(NoteError::BadSignature { .. })
    ));
    // ... and is ignored when that key is not given.
    assert!(CosignedCheckpoint::verify(&n.to_bytes(), &[log], None).is_ok());
}

#[test]
fn witness_policy_is_checked() {
    let f = Fixture::new();
    let w = |i: usize| cos(&format!("w{i}.example"), &f.witnesses[i]);
    assert!(WitnessPolicy::new(vec![w(0), w(1)], 0).is_err());
    assert!(WitnessPolicy::new(vec![w(0), w(1)], 3).is_err());
    assert!(WitnessPolicy::new(vec![w(0), w(1)], 2).is_ok());
    // Ed25519 keys are not witnesses.
    assert!(WitnessPolicy::new(vec![ed("w0.example", &f.witnesses[0])], 1).is_err());
    // One key under two names would count twice: refused.
    let twin = cos("twin.example", &f.witnesses[0]);
    assert!(matches!(
        WitnessPolicy::new(vec![w(0), twin], 2),
        Err(NoteError::BadPolicy { .. })
    ));
}

/// Every one-byte change and every truncation of a cosigned checkpoint
/// fails to parse or to verify (log signature plus a 1-of-1 quorum), and
/// none panics.
#[test]
fn every_byte_tamper_of_a_signed_checkpoint_fails() {
    let f = Fixture::new();
    let bytes = f.note(&[0]);
    let log = f.log_v();
    let policy = WitnessPolicy::new(vec![cos("w0.example", &f.witnesses[0])], 1).unwrap();
    let accepts = |b: &[u8]| {
        CosignedCheckpoint::verify(b, std::slice::from_ref(&log), Some(&policy))
            .map(|c| c.quorum(&policy).is_ok())
            .unwrap_or(false)
    };
    assert!(accepts(&bytes));
    for i in 0..bytes.len() {
        for x in [0x01u8, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xff] {
            let mut t = bytes.clone();
            t[i] ^= x;
            assert!(!accepts(&t), "accepted a change of byte {i} (xor {x:#04x})");
        }
    }
    for len in 0..bytes.len() {
        assert!(!accepts(&bytes[..len]), "accepted a truncation to {len}");
    }
    // Appended bytes after the last newline make the last line unterminated
    // or a new, malformed line.
    for extra in [&b"x"[..], b"\n", b" ", b"\xe2\x80\x94 "] {
        let mut t = bytes.clone();
        t.extend_from_slice(extra);
        assert!(!accepts(&t));
    }
}

// ------------------------------------------------------------ properties

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Text from a small alphabet that hits the format's edges (the em
    /// dash, spaces, '+', Base64, newlines, control and invalid bytes), a
    /// blank line, signature lines valid and not, and an optional tail: many
    /// of these parse, many fail in one place.
    fn notey() -> impl Strategy<Value = Vec<u8>> {
        let pieces = prop::sample::select(vec![
            &b"\n"[..],
            b"\n\n",
            "\u{2014} ".as_bytes(),
            b"PeterNeumann ",
            b"AAAA",
            b"=",
            b"+",
            b" ",
            b"a",
            b"\x00",
            b"\r",
            b"\xe2\x80",
            b"\xff",
            "\u{a0}".as_bytes(),
        ]);
        let lines = prop::sample::select(vec![
            PETER_SIG.as_bytes(),
            ENOCH_SIG.as_bytes(),
            "\u{2014} a AAAAAA==\n".as_bytes(),
            "\u{2014} a AAAAAAA=\n".as_bytes(),
            "\u{2014} a AAAAAAB=\n".as_bytes(),
            "\u{2014} a+b AAAAAAA=\n".as_bytes(),
            "\u{2014} a  AAAAAAA=\n".as_bytes(),
            b"- a AAAAAAA=\n",
            b"\n",
        ]);
        (
            prop::collection::vec(pieces.clone(), 0..8),
            prop::collection::vec(lines, 0..4),
            prop::collection::vec(pieces, 0..2),
        )
            .prop_map(|(text, sigs, tail)| {
                let mut out = text.concat();
                out.extend_from_slice(b"\n\n");
                out.extend_from_slice(&sigs.concat());
                out.extend_from_slice(&tail.concat());
                out
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Whatever parses re-encodes to exactly the same bytes (one
        /// spelling per note), and nothing panics.
        #[test]
        fn parse_is_canonical(bytes in notey()) {
            if let Ok(n) = Note::parse(&bytes) {
                prop_assert_eq!(n.to_bytes(), bytes);
            }
        }

        #[test]
        fn mutated_notes_reencode_exactly(seed in any::<u64>()) {
            // A valid note with one byte changed is refused, or parses to
            // a note that encodes to exactly the changed bytes.
            let mut b = format!("{GO_TEXT}\n{PETER_SIG}").into_bytes();
            let i = (seed as usize) % b.len();
            b[i] ^= (seed >> 32) as u8 | 1;
            if let Ok(n) = Note::parse(&b) {
                prop_assert_eq!(n.to_bytes(), b);
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(n) = Note::parse(&bytes) {
                prop_assert_eq!(n.to_bytes(), bytes.clone());
            }
            let _ = note::parse_signature_lines(&bytes);
            if let Ok(s) = std::str::from_utf8(&bytes) {
                let _ = Checkpoint::parse_text(s);
                let _ = NoteVerifier::parse(s);
            }
        }

        #[test]
        fn checkpoints_round_trip(
            origin in "[a-z0-9./-]{1,30}",
            size in any::<u64>(),
            root in any::<[u8; 32]>(),
            ext in prop::collection::vec("[ -~]{1,20}", 0..3),
        ) {
            let c = Checkpoint::new(&origin, size, root, ext).unwrap();
            prop_assert_eq!(Checkpoint::parse_text(&c.to_text()).unwrap(), c);
        }
    }
}

/// The vectors of docs/drafts/notes.md §N.9: RFC 8032 test keys 1 (log)
/// and 2 (witness). The same strings came out of an independent script
/// (Python `cryptography`, message and key IDs built by hand).
#[test]
fn draft_vectors_are_reproduced() {
    let seed = |h: &str| -> [u8; 32] { hex::decode(h).unwrap().try_into().unwrap() };
    let log = key_from_seed(&seed(
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    ));
    let w = key_from_seed(&seed(
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    ));
    let origin = "example.com/behind-the-sofa";
    let lv = ed(origin, &log);
    let wv = cos("witness.example/w1", &w);
    assert_eq!(
        lv.to_vkey(),
        "example.com/behind-the-sofa+f8fa5254+AddamAGCsQq31Uv+08lkBzoO4XLz2qYjJa8CGmj3B1Ea"
    );
    assert_eq!(
        wv.to_vkey(),
        "witness.example/w1+04d2d833+BD1AF8PoQ4lakrcKp00bfrycmCzPLsSWjMDNVfEq9GYM"
    );
    // The log vkey's Base64 contains a '+': it is split at the first two.
    assert_eq!(vk(&lv.to_vkey()), lv);
    assert_eq!(vk(&wv.to_vkey()), wv);
    let expected = format!(
        "{SOFA}\n\
         — example.com/behind-the-sofa +PpSVFNUsAicB1wXCuc36HrmzCfBx1ATQpTulWd9U006OEpyCvIVj2pM8CIzKlzXWcwxIO/VAQzkCO8DZUY5tlFX6QQ=\n\
         — witness.example/w1 BNLYMwAAAABkGFDLU5VmHzFyg1moo3QxI1Ge6wHfwylQEoWhcwJH/SvRJW3LjvpU4PIuE1VI/0HWdoZ4oGL67Rl5yx89mAducLUyBQ==\n"
    );
    let n = Note::new(
        SOFA,
        vec![
            sign(SOFA, origin, &log).unwrap(),
            cosign(SOFA, "witness.example/w1", &w, 1679315147).unwrap(),
        ],
    )
    .unwrap();
    assert_eq!(String::from_utf8(n.to_bytes()).unwrap(), expected);
    let policy = WitnessPolicy::new(vec![wv], 1).unwrap();
    let c = CosignedCheckpoint::verify(expected.as_bytes(), &[lv], Some(&policy)).unwrap();
    assert_eq!(c.quorum(&policy), Ok(()));
    assert_eq!(c.cosigners()[0].timestamp(), Some(1679315147));
}

/// FORMAT §13.3 rule 5 lists the characters a key name may not hold; the
/// list written out in `forbidden_in_name` (and in tools/verify.py) is
/// exactly Cc, the `White_Space` property and '+', as Rust's Unicode
/// tables have them.
#[test]
fn the_key_name_rule_is_cc_white_space_and_plus() {
    for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
        let expected = c.is_control() || c.is_whitespace() || c == '+';
        assert_eq!(
            ledger::tlog::note::forbidden_in_name(c),
            expected,
            "U+{:04X}",
            c as u32
        );
    }
}
