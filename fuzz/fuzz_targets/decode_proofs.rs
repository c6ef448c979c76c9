//! The decoders of checkpoints and proofs (FORMAT §12-§16) on arbitrary
//! bytes: signed notes, checkpoint texts, vkeys, proof bundles, witness
//! requests, tile paths and entry bundles. No panic, allocation bounded by
//! the input's size, and whatever is accepted re-encodes to the same bytes.
#![no_main]

use ledger::proofs::bundle::Bundle;
use ledger::tlog::note::{Checkpoint, Note, NoteVerifier};
use ledger::tlog::tiles::{self, TilePath};
use ledger::tlog::witness::AddCheckpoint;
use libfuzzer_sys::fuzz_target;

ledger_fuzz::counting_allocator!();

fuzz_target!(|data: &[u8]| {
    if let Ok(n) = Note::parse(data) {
        assert_eq!(n.to_bytes(), data, "a note re-encodes to its bytes");
        if let Ok(c) = Checkpoint::parse_text(n.text()) {
            assert_eq!(c.to_text(), n.text(), "a checkpoint re-encodes");
        }
    }
    if let Ok(b) = Bundle::decode(data) {
        assert_eq!(b.encode(), data, "a bundle re-encodes to its bytes");
    }
    if let Ok(r) = AddCheckpoint::parse(data) {
        assert_eq!(
            r.to_bytes().ok().as_deref(),
            Some(data),
            "a request re-encodes"
        );
    }
    if let Ok(entries) = tiles::decode_bundle(data) {
        if !entries.is_empty() && entries.len() <= 256 {
            assert_eq!(tiles::encode_bundle(&entries).ok().as_deref(), Some(data));
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(c) = Checkpoint::parse_text(s) {
            assert_eq!(c.to_text(), s);
        }
        if let Ok(v) = NoteVerifier::parse(s) {
            assert_eq!(v.to_vkey(), s, "a vkey re-encodes");
        }
        if let Ok(p) = TilePath::parse(s) {
            assert_eq!(p.path(), s, "a tile path re-encodes");
        }
    }
});
