//! Writes the committed seed corpora, fuzz/seeds/<target>/, from the
//! sample ledger (ledger/events.cbor), the FORMAT §10 vectors and a set of
//! hand-made hostile inputs. Run from fuzz/:
//! `cargo run --release --example make_seeds` (scripts/fuzz does not need
//! it; the seeds are committed).

use std::fs;
use std::path::Path;

use ledger::core::format::LogReader;
use ledger_fuzz::vectors;

fn put(dir: &Path, name: &str, data: &[u8]) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(name), data).unwrap();
}

/// A head of major type `major` with an 8-byte argument.
fn head8(major: u8, n: u64) -> Vec<u8> {
    let mut v = vec![(major << 5) | 27];
    v.extend(n.to_be_bytes());
    v
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let sample = fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../ledger/events.cbor"))
        .expect("ledger/events.cbor");
    let mut sample_events = Vec::new();
    let mut rd = LogReader::new(sample.as_slice());
    while let Some(_item) = rd.next_event().expect("the sample ledger reads") {
        sample_events.push(rd.last_bytes().to_vec());
    }
    let vector = vectors::vector_events();

    let d = root.join("decode_event");
    for (i, e) in sample_events.iter().enumerate() {
        put(&d, &format!("sample-event-{i:02}"), e);
    }
    put(&d, "sample-log", &sample);
    put(&d, "vector-genesis", &vector[0]);
    put(&d, "vector-event-1", &vector[1]);
    put(&d, "vector-log", &vectors::vector_log());
    put(
        &d,
        "vector-genesis-payload",
        &vectors::block("genesis payload"),
    );
    put(
        &d,
        "vector-event-1-payload",
        &vectors::block("event 1 payload"),
    );
    put(&d, "time", b"2017-06-14T10:15:00.123456789+08:00");
    let g = &vector[0];
    put(&d, "torn-genesis", &g[..g.len() / 2]);
    // Length fields claiming gigabytes, at the top and in each slot.
    for (name, major) in [("bstr", 2u8), ("tstr", 3), ("array", 4), ("map", 5)] {
        put(&d, &format!("huge-{name}"), &head8(major, 1 << 40));
        let mut v = vec![0xd2, 0x84];
        v.extend(head8(major, 0xffff_ffff));
        v.extend([0u8; 8]);
        put(&d, &format!("huge-{name}-in-envelope"), &v);
        let mut v = vec![(major << 5) | 26];
        v.extend(0xffff_ffffu32.to_be_bytes());
        put(&d, &format!("huge32-{name}"), &v);
    }
    // The payload of the genesis claiming 4 GiB.
    let mut v = g[..0x2b].to_vec();
    v.extend([0x5a, 0xff, 0xff, 0xff, 0xff]);
    v.extend(&g[0x2d..]);
    put(&d, "huge-payload", &v);
    put(&d, "deep-arrays", &[0x81; 300]);
    put(&d, "deep-maps", &[[0xa1, 0x00]; 150].concat());
    put(&d, "deep-map-keys-8", &[vec![0xa1; 8], vec![0; 9]].concat());
    put(&d, "tag-bomb", &[0xd2; 300]);
    put(
        &d,
        "tag-bomb-bignum",
        &[[0xc2; 200].as_slice(), &[0x41, 0x01]].concat(),
    );
    put(
        &d,
        "indefinite-array",
        &[0xd2, 0x9f, 0x40, 0xa0, 0x40, 0x40, 0xff],
    );
    put(&d, "indefinite-bstr", &[0x5f, 0x41, 0x00, 0x41, 0x01, 0xff]);
    put(&d, "indefinite-map", &[0xbf, 0x61, 0x76, 0x01, 0xff]);
    put(&d, "float", &[0xfb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]);
    put(&d, "simple", &[0xf8, 0x20]);
    put(&d, "reserved", &[0x1c]);

    let d = root.join("verify_dir");
    put(&d, "sample-log", &sample);
    put(&d, "vector-log", &vectors::vector_log());
    put(&d, "vector-genesis", &vector[0]);
    let doc = vectors::vector_doc();
    let mut v = vec![b'D', b'O', b'C', doc.len() as u8];
    v.extend(&doc);
    v.extend(vectors::vector_log());
    put(&d, "vector-log-with-doc", &v);
    let mut torn = sample.clone();
    torn.extend(&sample_events[1][..40]);
    put(&d, "sample-torn-tail", &torn);
    let mut two = vectors::vector_log();
    two.extend(&vector[1]);
    put(&d, "vector-log-replayed-event", &two);

    // verify_structured takes `arbitrary` bytes: a few fixed patterns.
    let d = root.join("verify_structured");
    put(&d, "zeros", &[0u8; 64]);
    put(&d, "ones", &[1u8; 128]);
    put(&d, "counting", &(0..=255u8).collect::<Vec<_>>());
    // Plan { from_vectors, parties: most+med, genesis_author: most,
    // pad: Some(5), ... }: over 64 events, so the verifier's threads run.
    for (name, from_vectors) in [("padded", 0u8), ("vectors-padded", 1)] {
        let mut v = vec![from_vectors, 0x03, 0x00, 0x01, 0x05];
        v.extend([0; 16]);
        put(&d, name, &v);
    }
    // check_token: the FORMAT §17.6 vector's response, and genTimes.
    let d = root.join("check_token");
    let tsr = fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/timestamp/checkpoint.tsr"),
    )
    .expect("tests/data/timestamp/checkpoint.tsr");
    put(&d, "vector-response", &tsr);
    put(&d, "gen-time", b"20261203094157Z");
    put(&d, "gen-time-fraction", b"20261203094157.123Z");
    eprintln!("seeds written to {}", root.display());
}
