//! Every Wycheproof Ed25519 vector (data/ed25519_test.json): the three
//! verifiers give verify_strict's verdict on each, and verify_strict's
//! verdicts are recorded against Wycheproof's expected results.
use ed25519_dalek::{Signature, VerifyingKey};
use pornin_verify::{strict, PreparedKey, Verifier};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn wycheproof_vectors_same_verdicts() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/data/ed25519_test.json"
    ))
    .expect("data/ed25519_test.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let v = Verifier::new();
    let (mut total, mut compared, mut agree_expected) = (0, 0, 0);
    let mut disagreements_with_wycheproof = Vec::new();
    for group in json["testGroups"].as_array().expect("groups") {
        let pk: [u8; 32] = unhex(group["publicKey"]["pk"].as_str().expect("pk"))
            .try_into()
            .expect("32-byte key");
        let key = VerifyingKey::from_bytes(&pk).ok().map(PreparedKey::new);
        for t in group["tests"].as_array().expect("tests") {
            total += 1;
            let msg = unhex(t["msg"].as_str().expect("msg"));
            let sig = unhex(t["sig"].as_str().expect("sig"));
            let expected = t["result"].as_str().expect("result") == "valid";
            // A key that does not decode or a signature not 64 bytes long is
            // refused before any verifier runs, by the same code for all.
            let verdict = match (&key, Signature::from_slice(&sig)) {
                (Some(key), Ok(sig)) => {
                    let s = strict(key, &msg, &sig);
                    assert_eq!(v.pornin(key, &msg, &sig), s, "pornin, tcId {}", t["tcId"]);
                    assert_eq!(
                        v.pornin_straus3(key, &msg, &sig),
                        s,
                        "straus3, tcId {}",
                        t["tcId"]
                    );
                    assert_eq!(
                        v.fixed_base(key, &msg, &sig),
                        s,
                        "fixed_base, tcId {}",
                        t["tcId"]
                    );
                    assert_eq!(v.fixed_base64(key, &msg, &sig), s, "fixed_base64");
                    compared += 1;
                    s
                }
                _ => false,
            };
            if verdict == expected {
                agree_expected += 1;
            } else {
                disagreements_with_wycheproof.push(t["tcId"].clone());
            }
        }
    }
    println!(
        "{total} vectors, {compared} reached the verifiers (identical verdicts); verify_strict matches Wycheproof on {agree_expected}, differs on {disagreements_with_wycheproof:?}"
    );
    assert_eq!(total, 151);
    assert!(disagreements_with_wycheproof.is_empty());
}
