//! base::tsp on arbitrary bytes, as a stored or received RFC 3161 response
//! (FORMAT §17.3), checked against the FORMAT §17.6 vector's root and
//! checkpoint: no panic, allocation bounded by the input's size, and a
//! response accepted is one the strict reader takes whole. The same bytes
//! as a request (`timestamp add --request`) and as a genTime's content
//! octets, whose accepted forms are DER's one form.
#![no_main]

use std::sync::OnceLock;

use ledger::base::tsp::{self, Anchor, Expect, GenTime};
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

ledger_fuzz::counting_allocator!();

fn vector() -> &'static (Vec<Anchor>, [u8; 32]) {
    static V: OnceLock<(Vec<Anchor>, [u8; 32])> = OnceLock::new();
    V.get_or_init(|| {
        let pem = include_bytes!("../../tests/data/timestamp/ca.pem");
        let checkpoint = include_bytes!("../../tests/data/timestamp/checkpoint");
        (
            tsp::anchors_from_pem(pem).expect("the vector's root"),
            Sha256::digest(checkpoint).into(),
        )
    })
}

fuzz_target!(|data: &[u8]| {
    let (roots, imprint) = vector();
    if let Ok(stamp) = tsp::check_response(data, &Expect::imprint(*imprint), roots) {
        assert!(
            tsp::token_of_response(data).is_ok(),
            "accepted, yet no token"
        );
        assert!(!stamp.time_text.is_empty() && stamp.nanos < 1_000_000_000);
    }
    // A request is only read for what a token must answer: no panic.
    let _ = tsp::parse_request(data);
    if let Some(t) = GenTime::parse(data) {
        let (secs, nanos) = t.instant();
        assert!(nanos < 1_000_000_000);
        assert!((15..=25).contains(&data.len()) && data.ends_with(b"Z"));
        assert!(secs >= 0, "before 1970");
        let text = t.text();
        assert!(text.ends_with('Z'));
        if text.contains('.') {
            assert!(!text.ends_with("0Z") && !text.contains(".Z"), "{text}");
        }
    }
});
