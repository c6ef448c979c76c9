//! RFC 9942 COSE Receipts (FORMAT §21.2): a COSE_Sign1 by the log key over
//! the root of the ledger's Merkle tree, with the verifiable data structure
//! RFC9162_SHA256 (1) in its protected header and the inclusion proof of
//! one leaf in the `vdp` unprotected header. This module owns the bytes of
//! our receipts: making one (signed, then checked before it is returned)
//! and the strict decoding that is the only way back. Which leaf it proves
//! and whether its key is trusted are [`crate::proofs::standard`]'s.
//!
//! The payload is detached and is the root (RFC 9942 §4.2): a verifier
//! rebuilds the root from the leaf and the proof, and the signature is
//! checked over that root, so the proof is authenticated although it sits
//! in the unprotected header.

use ciborium::value::Value;

use crate::base::crypto::{PublicKey, SigningKey};
use crate::core::format::{encode_value, ALG_EDDSA, COSE_SIGN1_TAG};
use crate::proofs::error::ReceiptProblem;
use crate::tlog::merkle::{self, Hash, ProofError};

/// RFC 9052 §3.1: the `alg` header.
const HDR_ALG: i64 = 1;
/// RFC 9052 §3.1: the `kid` header.
const HDR_KID: i64 = 4;
/// RFC 9597: CWT claims in a COSE header.
const HDR_CWT_CLAIMS: i64 = 15;
/// RFC 8392 §3.1.1: the `iss` claim.
const CWT_ISS: i64 = 1;
/// RFC 9942 §2: the verifiable data structure, protected.
pub const HDR_VDS: i64 = 395;
/// RFC 9942 §2: the verifiable data proofs, unprotected.
pub const HDR_VDP: i64 = 396;
/// RFC 9942 §5: RFC9162_SHA256.
pub const VDS_RFC9162_SHA256: i64 = 1;
/// RFC 9942 §5.2: the key of inclusion proofs in the `vdp` map.
const VDP_INCLUSION: i64 = -1;
/// The largest receipt read: an origin (at most a note line), a kid, 63
/// hashes and a signature need far less.
pub const MAX_RECEIPT_BYTES: usize = 16 << 10;
/// The most hashes of an inclusion proof (a tree of at most 2^63 leaves).
const MAX_PROOF_HASHES: usize = 63;

/// A receipt decoded from its bytes, not yet checked: the log key's kid
/// (SHA-256 of its 32 bytes, as for events, FORMAT §5.1), the issuer (the
/// ledger's origin, FORMAT §13.1), and the inclusion proof of leaf `index`
/// in the tree of `size` leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub kid: [u8; 32],
    pub issuer: String,
    pub size: u64,
    pub index: u64,
    pub proof: Vec<Hash>,
    signature: [u8; 64],
    protected: Vec<u8>,
}

fn int(i: i64) -> Value {
    Value::Integer(i.into())
}

/// The protected header: `{1: -8, 4: kid, 15: {1: issuer}, 395: 1}`.
fn protected_header(kid: &[u8; 32], issuer: &str) -> Vec<u8> {
    encode_value(Value::Map(vec![
        (int(HDR_ALG), int(ALG_EDDSA)),
        (int(HDR_KID), Value::Bytes(kid.to_vec())),
        (
            int(HDR_CWT_CLAIMS),
            Value::Map(vec![(int(CWT_ISS), Value::Text(issuer.to_owned()))]),
        ),
        (int(HDR_VDS), int(VDS_RFC9162_SHA256)),
    ]))
}

/// RFC 9052 §4.4: the Sig_structure of a receipt, whose detached payload
/// is the root. The external_aad is empty, as RFC 9942 verifiers expect;
/// our events' signatures use `ledger/v1/event` (FORMAT §5.2), and a
/// receipt's protected header (with `vds`) is never an event's, so neither
/// can stand for the other.
fn to_be_signed(protected: &[u8], root: &Hash) -> Vec<u8> {
    encode_value(Value::Array(vec![
        Value::Text("Signature1".to_owned()),
        Value::Bytes(protected.to_vec()),
        Value::Bytes(Vec::new()),
        Value::Bytes(root.to_vec()),
    ]))
}

impl Receipt {
    /// Signs the receipt of leaf `index` (hash `leaf`) in the tree of
    /// `size` leaves whose root `proof` leads to, as `issuer`. The
    /// signature is checked over the root the proof rebuilds before the
    /// receipt is returned, so a wrong proof or a faulty key never leaves.
    pub fn sign(
        key: &SigningKey,
        issuer: &str,
        size: u64,
        index: u64,
        leaf: &Hash,
        proof: Vec<Hash>,
    ) -> Result<Receipt, ProofError> {
        let root = merkle::root_from_inclusion(index, size, leaf, &proof)?;
        let kid = key.public().kid();
        let protected = protected_header(&kid, issuer);
        let signature = key.sign(&to_be_signed(&protected, &root));
        let r = Receipt {
            kid,
            issuer: issuer.to_owned(),
            size,
            index,
            proof,
            signature,
            protected,
        };
        match r.verify(leaf, &key.public()) {
            Ok(true) => Ok(r),
            Ok(false) => Err(ProofError::RootMismatch {
                which: "receipt signature",
                expected: root,
                found: root,
            }),
            Err(e) => Err(e),
        }
    }

    /// Whether `key` signed this receipt over the root that its proof
    /// rebuilds from the leaf hash `leaf`; an error if the proof does not
    /// fit the tree it names.
    pub fn verify(&self, leaf: &Hash, key: &PublicKey) -> Result<bool, ProofError> {
        let root = self.root(leaf)?;
        Ok(key.verify_strict(&to_be_signed(&self.protected, &root), &self.signature))
    }

    /// The root the proof rebuilds from the leaf hash `leaf` (not yet
    /// authenticated: [`Receipt::verify`] checks the signature over it).
    pub fn root(&self, leaf: &Hash) -> Result<Hash, ProofError> {
        merkle::root_from_inclusion(self.index, self.size, leaf, &self.proof)
    }

    /// The deterministic encoding (FORMAT §21.2).
    pub fn encode(&self) -> Vec<u8> {
        let inclusion = encode_value(Value::Array(vec![
            Value::Integer(self.size.into()),
            Value::Integer(self.index.into()),
            Value::Array(
                self.proof
                    .iter()
                    .map(|h| Value::Bytes(h.to_vec()))
                    .collect(),
            ),
        ]));
        encode_value(Value::Tag(
            COSE_SIGN1_TAG,
            Box::new(Value::Array(vec![
                Value::Bytes(self.protected.clone()),
                Value::Map(vec![(
                    int(HDR_VDP),
                    Value::Map(vec![(
                        int(VDP_INCLUSION),
                        Value::Array(vec![Value::Bytes(inclusion)]),
                    )]),
                )]),
                Value::Null,
                Value::Bytes(self.signature.to_vec()),
            ])),
        ))
    }

    /// Whether `bytes` claim to be a COSE Receipt (a tagged COSE_Sign1
    /// whose payload is detached), so that a reader can tell the format by
    /// content before decoding it strictly. Our events are COSE_Sign1 too,
    /// but always carry their payload, and our bundles are maps.
    pub fn is_receipt(bytes: &[u8]) -> bool {
        // 0xd2: tag 18; 0x84: an array of four.
        bytes.starts_with(&[0xd2, 0x84])
    }

    /// Decodes a receipt strictly: deterministic CBOR, exactly the
    /// headers of FORMAT §21.2 with their types, one inclusion proof of
    /// 32-byte hashes, a detached payload, nothing after it.
    pub fn decode(bytes: &[u8]) -> Result<Receipt, ReceiptProblem> {
        let bad = ReceiptProblem::Shape;
        let value = decode_deterministic(bytes, "the receipt")?;
        let Value::Tag(COSE_SIGN1_TAG, inner) = value else {
            return Err(bad("a COSE_Sign1 message: tag 18"));
        };
        let Value::Array(items) = *inner else {
            return Err(bad("a COSE_Sign1 message: an array of 4"));
        };
        let [protected, unprotected, payload, signature]: [Value; 4] = items
            .try_into()
            .map_err(|_| bad("a COSE_Sign1 message: an array of 4"))?;
        let Value::Bytes(protected) = protected else {
            return Err(bad("a protected header in a byte string"));
        };
        let (kid, issuer) = parse_protected(&protected)?;
        if !matches!(payload, Value::Null) {
            return Err(bad(
                "a detached payload (nil): the root is rebuilt from the leaf",
            ));
        }
        let signature: [u8; 64] = match signature {
            Value::Bytes(b) => b
                .try_into()
                .map_err(|_| bad("a 64-byte Ed25519 signature"))?,
            _ => return Err(bad("a 64-byte Ed25519 signature")),
        };
        let inclusion = one_entry(
            unprotected,
            HDR_VDP,
            "an unprotected header of only vdp (396)",
        )
        .and_then(|vdp| {
            one_entry(
                vdp,
                VDP_INCLUSION,
                "a vdp map of only inclusion proofs (-1)",
            )
        })?;
        let Value::Array(proofs) = inclusion else {
            return Err(bad("an array of inclusion proofs"));
        };
        let [Value::Bytes(proof)]: [Value; 1] = proofs
            .try_into()
            .map_err(|_| bad("exactly one inclusion proof, in a byte string"))?
        else {
            return Err(bad("exactly one inclusion proof, in a byte string"));
        };
        let (size, index, proof) = parse_inclusion(&proof)?;
        Ok(Receipt {
            kid,
            issuer,
            size,
            index,
            proof,
            signature,
            protected,
        })
    }
}

/// Decodes one CBOR item that must be in deterministic encoding (RFC 8949
/// §4.2.1, as our format's, FORMAT §4), with nothing after it.
fn decode_deterministic(bytes: &[u8], what: &'static str) -> Result<Value, ReceiptProblem> {
    if bytes.len() > MAX_RECEIPT_BYTES {
        return Err(ReceiptProblem::TooLarge {
            len: bytes.len(),
            limit: MAX_RECEIPT_BYTES,
        });
    }
    let mut rd = bytes;
    let value: Value =
        ciborium::de::from_reader(&mut rd).map_err(|_| ReceiptProblem::NotCbor { what })?;
    if !rd.is_empty() {
        return Err(ReceiptProblem::Trailing {
            what,
            len: rd.len(),
        });
    }
    // Each map's keys are then checked one by one (exact shapes), so a
    // duplicate key cannot pass; this refuses every other second spelling.
    if encode_value(value.clone()) != bytes {
        return Err(ReceiptProblem::NotDeterministic { what });
    }
    Ok(value)
}

/// The only entry of `map`, which must be under `key`.
fn one_entry(map: Value, key: i64, what: &'static str) -> Result<Value, ReceiptProblem> {
    let Value::Map(entries) = map else {
        return Err(ReceiptProblem::Shape(what));
    };
    let [(k, v)]: [(Value, Value); 1] = entries
        .try_into()
        .map_err(|_| ReceiptProblem::Shape(what))?;
    if k != int(key) {
        return Err(ReceiptProblem::Shape(what));
    }
    Ok(v)
}

fn parse_protected(protected: &[u8]) -> Result<([u8; 32], String), ReceiptProblem> {
    let what = "a protected header {1: -8, 4: kid, 15: {1: issuer}, 395: 1}";
    let Value::Map(entries) = decode_deterministic(protected, "the protected header")? else {
        return Err(ReceiptProblem::Shape(what));
    };
    let [(k1, alg), (k4, kid), (k15, claims), (k395, vds)]: [(Value, Value); 4] = entries
        .try_into()
        .map_err(|_| ReceiptProblem::Shape(what))?;
    if [k1, k4, k15, k395]
        != [
            int(HDR_ALG),
            int(HDR_KID),
            int(HDR_CWT_CLAIMS),
            int(HDR_VDS),
        ]
    {
        return Err(ReceiptProblem::Shape(what));
    }
    if alg != int(ALG_EDDSA) {
        return Err(ReceiptProblem::Shape("alg EdDSA (-8)"));
    }
    if vds != int(VDS_RFC9162_SHA256) {
        return Err(ReceiptProblem::Shape("vds RFC9162_SHA256 (1)"));
    }
    let kid: [u8; 32] = match kid {
        Value::Bytes(b) => b
            .try_into()
            .map_err(|_| ReceiptProblem::Shape("a 32-byte kid"))?,
        _ => return Err(ReceiptProblem::Shape("a 32-byte kid")),
    };
    let Value::Text(issuer) = one_entry(claims, CWT_ISS, "CWT claims of only iss (1)")? else {
        return Err(ReceiptProblem::Shape("an iss claim in a text string"));
    };
    Ok((kid, issuer))
}

fn parse_inclusion(bytes: &[u8]) -> Result<(u64, u64, Vec<Hash>), ReceiptProblem> {
    let what = "an inclusion proof [size, index, [hashes]]";
    let Value::Array(items) = decode_deterministic(bytes, "the inclusion proof")? else {
        return Err(ReceiptProblem::Shape(what));
    };
    let [size, index, hashes]: [Value; 3] =
        items.try_into().map_err(|_| ReceiptProblem::Shape(what))?;
    let uint = |v: Value| match v {
        Value::Integer(i) => u64::try_from(i).map_err(|_| ReceiptProblem::Shape(what)),
        _ => Err(ReceiptProblem::Shape(what)),
    };
    let (size, index) = (uint(size)?, uint(index)?);
    let Value::Array(hashes) = hashes else {
        return Err(ReceiptProblem::Shape(what));
    };
    if hashes.len() > MAX_PROOF_HASHES {
        return Err(ReceiptProblem::Shape("at most 63 inclusion hashes"));
    }
    let proof = hashes
        .into_iter()
        .map(|h| match h {
            Value::Bytes(b) => {
                Hash::try_from(b.as_slice()).map_err(|_| ReceiptProblem::Shape("32-byte hashes"))
            }
            _ => Err(ReceiptProblem::Shape("32-byte hashes")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((size, index, proof))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_decodes_and_refuses_changes() {
        let key = SigningKey::generate();
        let leaves: Vec<Hash> = (0u8..5).map(|i| merkle::leaf_hash(&[i])).collect();
        let proof = vec![
            leaves[3],
            merkle::node_hash(&leaves[0], &leaves[1]),
            leaves[4],
        ];
        let r = Receipt::sign(&key, "example.org/log", 5, 2, &leaves[2], proof).unwrap();
        let bytes = r.encode();
        let back = Receipt::decode(&bytes).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.verify(&leaves[2], &key.public()), Ok(true));
        assert_eq!(back.verify(&leaves[1], &key.public()), Ok(false));
        let other = SigningKey::generate().public();
        assert_eq!(back.verify(&leaves[2], &other), Ok(false));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            Receipt::decode(&trailing),
            Err(ReceiptProblem::Trailing { .. })
        ));
        // Every single-byte change is refused or fails the signature.
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            if let Ok(r) = Receipt::decode(&b) {
                assert_ne!(r.verify(&leaves[2], &key.public()), Ok(true), "byte {i}");
            }
        }
    }
}
