//! Differential: the fixed-schema decoder (`format::schema`) against the
//! reference decoder (`format::reference`, ciborium `Value` trees
//! re-encoded and compared) on arbitrary bytes, as an event and as a
//! payload. The schema decoder must accept exactly what the reference
//! accepts, with the same decoded value, and `Event::decode` /
//! `Body::decode` must give exactly the reference's verdict (error kind,
//! message) on every input.
#![no_main]

use ledger::core::format::{reference, schema, Body, Event, FormatError};
use libfuzzer_sys::fuzz_target;

ledger_fuzz::counting_allocator!();

/// Everything an event carries that replay or a proof can see.
fn parts(e: &Event) -> impl PartialEq + std::fmt::Debug {
    (
        e.body.clone(),
        e.kid,
        e.signature,
        e.hash(),
        e.leaf_hash(),
        e.stored_len(),
        e.payload().to_vec(),
        e.to_be_signed(),
    )
}

fn event(data: &[u8]) {
    let fast = schema::event(data);
    let slow = reference::event(data);
    match (&fast, &slow) {
        (Some(f), Ok(r)) => assert_eq!(parts(f), parts(r), "the decoded events differ"),
        (Some(_), Err(e)) => panic!("schema accepts an event the reference refuses: {e:?}"),
        (None, Ok(_)) => panic!("the reference accepts an event schema does not"),
        (None, Err(_)) => {}
    }
    let public: Result<_, FormatError> = Event::decode(data).map(|e| parts(&e));
    assert_eq!(public, slow.map(|e| parts(&e)), "Event::decode's verdict");
}

fn body(data: &[u8]) {
    let fast = schema::body(data);
    let slow = reference::body(data);
    match (&fast, &slow) {
        (Some(f), Ok(r)) => assert_eq!(f, r, "the decoded bodies differ"),
        (Some(_), Err(e)) => panic!("schema accepts a payload the reference refuses: {e:?}"),
        (None, Ok(_)) => panic!("the reference accepts a payload schema does not"),
        (None, Err(_)) => {}
    }
    let public: Result<Body, FormatError> = Body::decode(data);
    assert_eq!(public, slow, "Body::decode's verdict");
}

fuzz_target!(|data: &[u8]| {
    event(data);
    body(data);
    // The payload of something shaped like an event, so that mutations
    // of a stored event also reach the payload decoder.
    if data.len() > 44 && data.starts_with(&[0xd2, 0x84, 0x58, 0x26]) {
        body(&data[43..]);
    }
});
