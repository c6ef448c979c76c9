//! Event::decode, Body::decode, LogReader, Timestamp::parse and the sign
//! request and signed event decoders (FORMAT §20) on arbitrary bytes: no
//! panic, allocation bounded by the input's size, and whatever is accepted
//! is canonical and re-encodes to the same bytes.
#![no_main]

use ledger_fuzz::oracle;
use libfuzzer_sys::fuzz_target;

ledger_fuzz::counting_allocator!();

fuzz_target!(|data: &[u8]| {
    let single = oracle::event_decode(data);
    let (count, err) = oracle::log_reader(data);
    // The two decoders agree on a buffer holding exactly one event.
    if single.is_some() {
        assert_eq!(
            (count, &err),
            (1, &None),
            "Event::decode accepts, LogReader does not"
        );
    }
    if count == 1 && err.is_none() {
        assert!(
            single.is_some(),
            "LogReader reads one event, Event::decode rejects it"
        );
    }
    oracle::body_decode(data);
    if let Ok(r) = ledger::core::request::Request::decode(data) {
        assert_eq!(r.encode(), data, "a sign request re-encodes to its bytes");
    }
    if let Ok(s) = ledger::core::request::Signed::decode(data) {
        assert_eq!(
            s.encode(),
            data,
            "a signed event file re-encodes to its bytes"
        );
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(t) = ledger::base::time::Timestamp::parse(s) {
            assert_eq!(t.as_str(), s);
            assert!(s.len() <= 35);
        }
    }
});
