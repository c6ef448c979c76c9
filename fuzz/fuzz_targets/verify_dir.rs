//! ledger::core::verify::verify on a directory whose events.cbor is the fuzz
//! input, with the FORMAT §10 and sample documents in docs/. An input that
//! starts with "DOC" and a length byte `n` also stores the next `n` bytes
//! as a document (under their own hash) and uses the rest as the log.
//! Besides "no panic", the verdict is cross-checked (`oracle::verify_log`).
#![no_main]

use std::sync::OnceLock;

use ledger_fuzz::oracle::{self, Scratch};
use ledger_fuzz::vectors;
use libfuzzer_sys::fuzz_target;

ledger_fuzz::counting_allocator!();

fn scratch() -> &'static Scratch {
    static S: OnceLock<Scratch> = OnceLock::new();
    S.get_or_init(|| {
        Scratch::new(&[
            &vectors::vector_doc(),
            include_bytes!("../../scripts/sample/joint-declaration.txt"),
            include_bytes!("../../scripts/sample/work-plan-2017-2020.txt"),
        ])
    })
}

fuzz_target!(|data: &[u8]| {
    let s = scratch();
    let (log, doc) = match data {
        [b'D', b'O', b'C', n, rest @ ..] if rest.len() >= usize::from(*n) => {
            let (doc, log) = rest.split_at(usize::from(*n));
            (log, Some(doc))
        }
        _ => (data, None),
    };
    let doc_path = doc.map(|d| {
        let p = s.doc_path(&oracle::sha(d));
        std::fs::write(&p, d).expect("write doc");
        p
    });
    let pick = data
        .iter()
        .fold(0usize, |a, b| a.wrapping_add(usize::from(*b)));
    let _ = oracle::verify_log(s, log, pick);
    if let Some(p) = doc_path {
        // Leave the fixed documents in place.
        if !s.is_fixed_doc(&p) {
            let _ = std::fs::remove_file(p);
        }
    }
});
