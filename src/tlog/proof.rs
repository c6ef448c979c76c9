//! C2SP `tlog-proof` (c2sp.org/tlog-proof@v1): the text form of "this
//! entry is at this index of a checkpointed tree", with the checkpoint and
//! its cosignatures verbatim. This module owns those bytes: encoding and
//! the strict decoding that is the only way back (the exact header line,
//! canonical Base64, no leading zeros, no trailing data, bounded sizes).
//!
//! It checks nothing cryptographic: the checkpoint is returned as the bytes
//! of a note for [`crate::tlog::note`]'s verifier, and the hashes for
//! [`crate::tlog::merkle::verify_inclusion`]. Like the rest of this layer it
//! knows nothing of ledgers: the `extra` data is opaque bytes here.

use crate::tlog::merkle::Hash;
use crate::tlog::note::{self, NoteError, MAX_NOTE_BYTES};

/// The first line of every proof (tlog-proof §Format).
pub const HEADER: &str = "c2sp.org/tlog-proof@v1";
/// The most hashes an inclusion proof has: a tree of at most 2^63 leaves
/// is at most 63 deep.
pub const MAX_PROOF_HASHES: usize = 63;
/// The most bytes of `extra` data we read: an event is at most 64 KiB.
pub const MAX_EXTRA_BYTES: usize = 1 << 16;
/// The largest proof read: the checkpoint note, the hashes and the extra
/// data at their limits, with their framing.
pub const MAX_PROOF_BYTES: usize = MAX_NOTE_BYTES + (MAX_EXTRA_BYTES / 3 + 1) * 4 + 4096;

/// Why bytes are not a `tlog-proof`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlogProofError {
    #[error("{len} bytes, more than the {limit}-byte limit")]
    TooLarge { len: usize, limit: usize },
    #[error("the first line must be exactly {HEADER:?}")]
    Header,
    #[error("line {line}: {what}")]
    Line { line: usize, what: &'static str },
    #[error("line {line}: {source}")]
    Base64 { line: usize, source: NoteError },
    #[error("more than {MAX_PROOF_HASHES} inclusion hashes")]
    TooManyHashes,
    #[error("the extra data has more than {MAX_EXTRA_BYTES} bytes")]
    ExtraTooLarge,
    #[error("no empty line before the checkpoint")]
    NoCheckpoint,
}

/// A parsed `tlog-proof`: the entry `index` of the tree of `checkpoint` (a
/// signed note, verbatim), with its inclusion `proof` (RFC 6962 §2.1.1,
/// from the leaf's sibling up) and optional unauthenticated `extra` data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    pub extra: Option<Vec<u8>>,
    pub index: u64,
    pub proof: Vec<Hash>,
    pub checkpoint: Vec<u8>,
}

impl TlogProof {
    /// The proof's bytes (tlog-proof §Format): the header, `extra` if any,
    /// `index`, one Base64 hash a line, an empty line, the checkpoint.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = format!("{HEADER}\n");
        if let Some(extra) = &self.extra {
            out.push_str(&format!("extra {}\n", note::encode_base64(extra)));
        }
        out.push_str(&format!("index {}\n", self.index));
        for h in &self.proof {
            out.push_str(&note::encode_base64(h));
            out.push('\n');
        }
        out.push('\n');
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.checkpoint);
        bytes
    }

    /// Whether `bytes` claim to be a `tlog-proof` (its header line), so that
    /// a reader can tell the format by content before parsing it strictly.
    pub fn is_tlog_proof(bytes: &[u8]) -> bool {
        bytes.starts_with(format!("{HEADER}\n").as_bytes())
    }

    /// Parses a proof strictly: every line as the spec writes it, and the
    /// rest, after the empty line, as the checkpoint (whose note syntax
    /// [`note::Note::parse`] checks). Re-encoding gives the same bytes.
    pub fn parse(bytes: &[u8]) -> Result<TlogProof, TlogProofError> {
        if bytes.len() > MAX_PROOF_BYTES {
            return Err(TlogProofError::TooLarge {
                len: bytes.len(),
                limit: MAX_PROOF_BYTES,
            });
        }
        let mut rest = bytes;
        let mut line_no = 0;
        // One line, without its newline; a line must end with one.
        let mut next_line = |rest: &mut &[u8]| -> Result<(usize, String), TlogProofError> {
            line_no += 1;
            let at = rest
                .iter()
                .position(|&b| b == b'\n')
                .ok_or(if line_no == 1 {
                    TlogProofError::Header
                } else {
                    TlogProofError::NoCheckpoint
                })?;
            let line = std::str::from_utf8(&rest[..at]).map_err(|_| TlogProofError::Line {
                line: line_no,
                what: "not UTF-8",
            })?;
            *rest = &rest[at + 1..];
            Ok((line_no, line.to_owned()))
        };
        let (_, header) = next_line(&mut rest)?;
        if header != HEADER {
            return Err(TlogProofError::Header);
        }
        let (mut n, mut line) = next_line(&mut rest)?;
        let mut extra = None;
        if let Some(b64) = line.strip_prefix("extra ") {
            if b64.len() > (MAX_EXTRA_BYTES / 3 + 1) * 4 {
                return Err(TlogProofError::ExtraTooLarge);
            }
            let data = note::decode_base64("the extra data", b64)
                .map_err(|source| TlogProofError::Base64 { line: n, source })?;
            if data.len() > MAX_EXTRA_BYTES {
                return Err(TlogProofError::ExtraTooLarge);
            }
            extra = Some(data);
            (n, line) = next_line(&mut rest)?;
        }
        let index =
            line.strip_prefix("index ")
                .and_then(parse_decimal)
                .ok_or(TlogProofError::Line {
                    line: n,
                    what: "expected \"index N\" (decimal, no leading zero)",
                })?;
        let mut proof = Vec::new();
        loop {
            let (n, line) = next_line(&mut rest)?;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_HASHES {
                return Err(TlogProofError::TooManyHashes);
            }
            let h = note::decode_hash("an inclusion hash", &line)
                .map_err(|source| TlogProofError::Base64 { line: n, source })?;
            proof.push(h);
        }
        let p = TlogProof {
            extra,
            index,
            proof,
            checkpoint: rest.to_vec(),
        };
        // Every check above is meant to leave one spelling per proof; this
        // makes it a property of the parser rather than of each check.
        if p.encode() != bytes {
            return Err(TlogProofError::Line {
                line: 0,
                what: "not in canonical form",
            });
        }
        Ok(p)
    }
}

/// An ASCII decimal with no sign and no leading zero (unless it is "0").
fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TlogProof {
        TlogProof {
            extra: Some(b"entry".to_vec()),
            index: 5,
            proof: vec![[1; 32], [2; 32]],
            checkpoint: b"example.com/log\n7\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n\n\xe2\x80\x94 x AAAA\n".to_vec(),
        }
    }

    #[test]
    fn round_trips_byte_for_byte() {
        let p = sample();
        let b = p.encode();
        assert_eq!(TlogProof::parse(&b).unwrap(), p);
        let q = TlogProof {
            extra: None,
            proof: vec![],
            ..p
        };
        assert_eq!(TlogProof::parse(&q.encode()).unwrap(), q);
    }

    #[test]
    fn refuses_what_is_not_canonical() {
        let b = String::from_utf8(sample().encode()).unwrap();
        for (from, to) in [
            ("index 5", "index 05"),
            ("index 5", "index +5"),
            ("index 5", "index  5"),
            ("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2"),
            ("extra ZW50cnk=", "extra ZW50cnl="),
            ("extra ZW50cnk=", "extra ZW50cnk"),
            ("extra ZW50cnk=\n", ""),
        ] {
            let bad = b.replacen(from, to, 1);
            if from == "extra ZW50cnk=\n" {
                // Without the extra line the proof is still a proof.
                assert!(TlogProof::parse(bad.as_bytes()).is_ok());
                continue;
            }
            assert!(TlogProof::parse(bad.as_bytes()).is_err(), "{to:?} accepted");
        }
        let hash = note::encode_base64(&[1; 32]);
        let bad = b.replacen(&hash, &hash[..hash.len() - 1], 1);
        assert!(matches!(
            TlogProof::parse(bad.as_bytes()),
            Err(TlogProofError::Base64 { line: 4, .. })
        ));
        assert!(TlogProof::parse(b"c2sp.org/tlog-proof@v1").is_err());
        assert!(TlogProof::parse(b"c2sp.org/tlog-proof@v1\nindex 1\n").is_err());
    }

    #[test]
    fn bounds_the_hashes() {
        let mut p = sample();
        p.proof = vec![[0; 32]; MAX_PROOF_HASHES + 1];
        assert_eq!(
            TlogProof::parse(&p.encode()),
            Err(TlogProofError::TooManyHashes)
        );
    }
}
