//! RFC 3161 time-stamping: requests, responses and the full check of a
//! token (FORMAT §17). A token is a CMS SignedData (RFC 5652) whose
//! content is a `TSTInfo`: a Time-Stamping Authority (TSA) signs that a
//! SHA-256 imprint existed at its `genTime`.
//!
//! This module owns the bytes of requests and responses and the rules a
//! token must meet: strict DER (a re-encoding must give back exactly the
//! bytes read, nothing may trail), the CMS signature over the signed
//! attributes, their `messageDigest` and signing-certificate binding
//! (ESSCertID or ESSCertIDv2), the imprint, nonce and policy, and the
//! chain from the TSA's certificate to a root the caller trusts, valid at
//! `genTime`, with the critical extended key usage timeStamping. The ASN.1
//! is RustCrypto's (`der`, `cms`, `x509-cert`, `x509-tsp`); nothing here
//! parses DER by hand. It knows nothing of logs or ledgers, does no I/O,
//! and never decides what a stamp proves about anything else.

use der::asn1::{Int, ObjectIdentifier, OctetString};
use der::{Decode, Encode, Sequence};
use sha2::Digest;
use x509_cert::spki;
use x509_cert::Certificate;

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use x509_tsp::{Accuracy, MessageImprint, TimeStampReq, TimeStampResp, TsaPolicyId, TspVersion};

/// The largest response (`.tsr`) read: a token with a few certificates is
/// a few KiB; anything this large is refused before it is parsed.
pub const MAX_RESPONSE_BYTES: usize = 256 << 10;
/// The longest certificate chain followed from the TSA's certificate.
const MAX_CHAIN: usize = 8;

const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_CERT: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.12");
const ID_SIGNING_CERT_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
const ID_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const ID_RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const ID_RSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const ID_RSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const ID_EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const ID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ID_ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ID_ECDSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const ID_P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const ID_P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const ID_KP_TIME_STAMPING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
const ID_CE_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const ID_CE_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const ID_CE_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");

/// Why a request, response or token is refused. The message is what the
/// user reads: what is wrong, and what to do where there is something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TspError {
    #[error("is {size} bytes, more than the {MAX_RESPONSE_BYTES} a time-stamp response may have")]
    TooLarge { size: usize },
    /// Not DER of the expected structure, or bytes after it.
    #[error("is not a DER-encoded {what}: {detail}")]
    Der { what: &'static str, detail: String },
    /// Decodes, but re-encodes to other bytes: BER, not DER.
    #[error("is not in canonical DER (it decodes, but is not the encoding DER requires): refused, as a signed value must have one encoding")]
    NotCanonical,
    /// The TSA did not grant the request.
    #[error("the TSA answered {status}{}: no token was issued", .text.as_ref().map(|t| format!(" ({t})")).unwrap_or_default())]
    NotGranted {
        status: String,
        text: Option<String>,
    },
    #[error("the response says granted but holds no token")]
    NoToken,
    /// A CMS or TSTInfo rule is broken (RFC 3161 §2.4.2, RFC 5652 §5).
    #[error("the token is malformed: {0}")]
    Malformed(String),
    #[error("the token's algorithm {oid} is not supported (SHA-256/384/512 with ECDSA P-256/P-384 or RSA PKCS#1 v1.5 are)")]
    Unsupported { oid: String },
    #[error("the token stamps {found}, not the SHA-256 {expected} of the bytes it should stamp: it is a token for something else")]
    Imprint { expected: String, found: String },
    #[error("the token's nonce {found} is not the request's {expected}: it answers another request (or a replayed one)")]
    Nonce { expected: String, found: String },
    #[error(
        "the token has no nonce, but the request had one ({expected}): it answers another request"
    )]
    NoNonce { expected: String },
    #[error("the token's policy {found} is not the requested {expected}")]
    Policy { expected: String, found: String },
    #[error("the signed attributes' messageDigest does not match the token's content: it was altered after signing")]
    MessageDigest,
    #[error("the CMS signature does not verify with the TSA's certificate ({subject}): the token was altered or forged")]
    BadSignature { subject: String },
    #[error("the TSA's certificate is not in the token or does not match its signing-certificate attribute (request tokens with certReq, which `ledger timestamp request` sets)")]
    NoSignerCertificate,
    /// The chain does not reach a root the caller trusts.
    #[error("the TSA ({subject}) is not trusted: its certificate does not chain to any --tsa-ca root given{}", .issuer.as_ref().map(|i| format!(" (issued by {i})")).unwrap_or_default())]
    Untrusted {
        subject: String,
        issuer: Option<String>,
    },
    #[error("the certificate of {subject} was not valid at the token's time {time} (valid {not_before} to {not_after})")]
    Expired {
        subject: String,
        time: String,
        not_before: String,
        not_after: String,
    },
    #[error("the TSA's certificate ({subject}) {problem} (RFC 3161 §2.3: it must have exactly the extended key usage timeStamping, marked critical)")]
    Usage { subject: String, problem: String },
    #[error(
        "the certificate of {subject} is not a CA, yet it issued the next certificate of the chain"
    )]
    NotCa { subject: String },
    #[error("the certificate of {subject} has a critical extension {oid} that is not understood: refused (RFC 5280 §4.2)")]
    UnknownCritical { subject: String, oid: String },
    #[error("the certificate of {subject} is not signed by its issuer's key")]
    BadChainSignature { subject: String },
    #[error("the chain from the TSA's certificate is longer than {MAX_CHAIN} certificates")]
    ChainTooLong,
    #[error("{0}")]
    Anchor(String),
}

type Result<T> = std::result::Result<T, TspError>;

fn der_err(what: &'static str) -> impl Fn(der::Error) -> TspError {
    move |e| TspError::Der {
        what,
        detail: e.to_string(),
    }
}

fn malformed(s: impl Into<String>) -> TspError {
    TspError::Malformed(s.into())
}

/// How deep constructed values may nest in anything read here (a token is
/// about 12 deep).
const MAX_DEPTH: usize = 64;

/// Whether every length in `bytes`, a sequence of DER TLVs, fits in what
/// holds it: each value within the bytes left at its level, recursively
/// through constructed values, definite lengths of at most 4 bytes, at
/// most [`MAX_DEPTH`] levels. `der` allocates some values (`Any`, owned
/// strings) at their *claimed* length before reading them, so a few bytes
/// claiming 4 GiB would allocate 4 GiB; this walk, which allocates
/// nothing, runs first (found by the `check_token` fuzz target).
fn lengths_fit(bytes: &[u8], depth: usize) -> bool {
    let mut rest = bytes;
    while !rest.is_empty() {
        if depth > MAX_DEPTH {
            return false;
        }
        let constructed = rest[0] & 0x20 != 0;
        let mut i = 1;
        if rest[0] & 0x1f == 0x1f {
            // A high tag number: base-128 digits, the last without 0x80.
            loop {
                let Some(b) = rest.get(i) else { return false };
                i += 1;
                if b & 0x80 == 0 {
                    break;
                }
                if i > 6 {
                    return false;
                }
            }
        }
        let Some(&first) = rest.get(i) else {
            return false;
        };
        i += 1;
        let len = match first {
            n if n < 0x80 => usize::from(n),
            0x80 => return false, // indefinite: not DER
            n => {
                let k = usize::from(n & 0x7f);
                let Some(digits) = rest.get(i..i + k).filter(|_| k <= 4) else {
                    return false;
                };
                i += k;
                digits
                    .iter()
                    .fold(0usize, |v, d| (v << 8) | usize::from(*d))
            }
        };
        let Some(value) = rest.get(i..).and_then(|r| r.get(..len)) else {
            return false;
        };
        if constructed && !lengths_fit(value, depth + 1) {
            return false;
        }
        rest = &rest[i + len..];
    }
    true
}

/// `T::from_der`, after [`lengths_fit`]: no claimed length is allocated
/// unless the bytes are there.
fn from_der_bounded<'a, T: Decode<'a>>(bytes: &'a [u8]) -> der::Result<T> {
    if !lengths_fit(bytes, 0) {
        return Err(der::ErrorKind::Length {
            tag: der::Tag::Sequence,
        }
        .into());
    }
    T::from_der(bytes)
}

/// Decodes `bytes` as exactly one `T` (nothing may trail) and requires it
/// to be canonical: a DER re-encoding must give back the same bytes, so
/// that what is signed and hashed has one encoding only.
fn strict<'a, T: Decode<'a> + Encode>(bytes: &'a [u8], what: &'static str) -> Result<T> {
    let v = from_der_bounded::<T>(bytes).map_err(der_err(what))?;
    match v.to_der() {
        Ok(again) if again == bytes => Ok(v),
        _ => Err(TspError::NotCanonical),
    }
}

/// RFC 3161 §2.4.2's `TSTInfo`, as `x509-tsp` has it but for `genTime`,
/// which may carry fractions of a second ([`GenTime`]); `der`'s
/// `GeneralizedTime` refuses them.
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct TstInfo {
    version: TspVersion,
    policy: TsaPolicyId,
    message_imprint: MessageImprint,
    serial_number: Int,
    gen_time: GenTime,
    #[asn1(optional = "true")]
    accuracy: Option<Accuracy>,
    #[asn1(default = "Default::default")]
    ordering: bool,
    #[asn1(optional = "true")]
    nonce: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<x509_cert::ext::pkix::name::GeneralName>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    extensions: Option<x509_cert::ext::Extensions>,
}

/// The most fraction digits a `genTime` may have: nanoseconds.
pub const MAX_FRACTION_DIGITS: usize = 9;

/// A `genTime` (RFC 3161 §2.4.2) in DER's one form (X.690 §11.7):
/// `YYYYMMDDHHMMSS[.f...]Z`, seconds always present, a fraction of one to
/// [`MAX_FRACTION_DIGITS`] digits with no trailing zero (a whole second
/// has none), `Z` and no offset. Anything else is refused when decoded;
/// the bytes are kept, so that encoding gives them back.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct GenTime {
    /// Seconds since 1970 and the nanoseconds within the second.
    secs: i64,
    nanos: u32,
    bytes: Vec<u8>,
}

impl GenTime {
    /// Parses the DER content octets of a GeneralizedTime.
    pub fn parse(b: &[u8]) -> Option<GenTime> {
        let digits = |r: std::ops::Range<usize>| -> Option<u32> {
            let d = b.get(r)?;
            d.iter().all(u8::is_ascii_digit).then_some(())?;
            d.iter().try_fold(0u32, |n, c| {
                n.checked_mul(10)?.checked_add(u32::from(c - b'0'))
            })
        };
        let (y, mo, d) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
        let (h, mi, sec) = (digits(8..10)?, digits(10..12)?, digits(12..14)?);
        let rest = b.get(14..)?;
        let nanos = match rest {
            [b'Z'] => 0,
            [b'.', frac @ .., b'Z'] => {
                if frac.is_empty()
                    || frac.len() > MAX_FRACTION_DIGITS
                    || !frac.iter().all(u8::is_ascii_digit)
                    || frac.last() == Some(&b'0')
                {
                    return None;
                }
                let n = digits(15..15 + frac.len())?;
                n * 10u32.pow((MAX_FRACTION_DIGITS - frac.len()) as u32)
            }
            _ => return None,
        };
        // `der` checks the calendar (years 1970-9999, month, day of
        // month, 24 h, 60 s).
        let dt = der::DateTime::new(
            u16::try_from(y).ok()?,
            u8::try_from(mo).ok()?,
            u8::try_from(d).ok()?,
            u8::try_from(h).ok()?,
            u8::try_from(mi).ok()?,
            u8::try_from(sec).ok()?,
        )
        .ok()?;
        Some(GenTime {
            secs: i64::try_from(dt.unix_duration().as_secs()).ok()?,
            nanos,
            bytes: b.to_vec(),
        })
    }

    /// Seconds since 1970 (the fraction left out) and the nanoseconds.
    pub fn instant(&self) -> (i64, u32) {
        (self.secs, self.nanos)
    }

    /// RFC 3339, UTC, with the fraction as the TSA gave it.
    pub fn text(&self) -> String {
        let whole = crate::base::time::Timestamp::from_unix(self.secs)
            .map(|t| t.to_string())
            .unwrap_or_else(|| format!("{}Z", self.secs));
        match self.bytes.iter().position(|c| *c == b'.') {
            Some(dot) => {
                let frac = String::from_utf8_lossy(&self.bytes[dot..self.bytes.len() - 1]);
                format!("{}{frac}Z", whole.trim_end_matches('Z'))
            }
            None => whole,
        }
    }
}

impl der::FixedTag for GenTime {
    const TAG: der::Tag = der::Tag::GeneralizedTime;
}

impl<'a> der::DecodeValue<'a> for GenTime {
    fn decode_value<R: der::Reader<'a>>(reader: &mut R, header: der::Header) -> der::Result<Self> {
        // Bounded before anything is read: 14 digits, '.', 9 digits, 'Z'.
        if usize::try_from(header.length)? > 15 + MAX_FRACTION_DIGITS + 1 {
            return Err(der::Tag::GeneralizedTime.length_error());
        }
        let bytes = reader.read_vec(header.length)?;
        GenTime::parse(&bytes).ok_or_else(|| der::Tag::GeneralizedTime.value_error())
    }
}

impl der::EncodeValue for GenTime {
    fn value_len(&self) -> der::Result<der::Length> {
        der::Length::try_from(self.bytes.len())
    }
    fn encode_value(&self, writer: &mut impl der::Writer) -> der::Result<()> {
        writer.write(&self.bytes)
    }
}

/// A `TimeStampReq` (RFC 3161 §2.4.1): the SHA-256 imprint of the bytes to
/// stamp, a nonce, no policy, `certReq` true (the TSA's certificate comes
/// with the token, so that it can be checked without asking the TSA).
pub fn request(imprint: &[u8; 32], nonce: &[u8; 16]) -> Vec<u8> {
    // A positive INTEGER in its minimal encoding: the first byte 0x40-0x7f.
    let mut n = *nonce;
    n[0] = 0x40 | (n[0] & 0x3f);
    let req = TimeStampReq {
        version: TspVersion::V1,
        message_imprint: sha256_imprint(imprint),
        req_policy: None,
        nonce: Some(Int::new(&n).expect("a minimal positive integer")),
        cert_req: true,
        extensions: None,
    };
    req.to_der().expect("a request always encodes")
}

fn sha256_imprint(imprint: &[u8; 32]) -> MessageImprint {
    MessageImprint {
        hash_algorithm: spki::AlgorithmIdentifier {
            oid: ID_SHA256,
            parameters: Some(der::Any::null()),
        },
        hashed_message: OctetString::new(imprint.to_vec()).expect("32 bytes"),
    }
}

/// What a request asked for, as a token is checked against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expect {
    /// The SHA-256 the token must stamp.
    pub imprint: [u8; 32],
    /// The request's nonce (the INTEGER's content bytes), if it had one.
    pub nonce: Option<Vec<u8>>,
    /// The request's policy, if it named one.
    pub policy: Option<ObjectIdentifier>,
}

impl Expect {
    /// A token stamping `imprint`, whatever its nonce and policy: what a
    /// verifier holding only the stored token checks.
    pub fn imprint(imprint: [u8; 32]) -> Self {
        Expect {
            imprint,
            nonce: None,
            policy: None,
        }
    }
}

/// Reads a `TimeStampReq` (strict DER): what a token answering it must
/// carry. Only SHA-256 imprints are accepted.
pub fn parse_request(bytes: &[u8]) -> Result<Expect> {
    if bytes.len() > MAX_RESPONSE_BYTES {
        return Err(TspError::TooLarge { size: bytes.len() });
    }
    let req: TimeStampReq = strict(bytes, "time-stamp request (TimeStampReq)")?;
    Ok(Expect {
        imprint: sha256_of_imprint(&req.message_imprint)?,
        nonce: req.nonce.map(|n| n.as_bytes().to_vec()),
        policy: req.req_policy,
    })
}

fn sha256_of_imprint(m: &MessageImprint) -> Result<[u8; 32]> {
    let params_ok = match &m.hash_algorithm.parameters {
        None => true,
        Some(p) => p.is_null(),
    };
    if m.hash_algorithm.oid != ID_SHA256 || !params_ok {
        return Err(TspError::Unsupported {
            oid: m.hash_algorithm.oid.to_string(),
        });
    }
    m.hashed_message
        .as_bytes()
        .try_into()
        .map_err(|_| malformed("a SHA-256 imprint that is not 32 bytes"))
}

/// What a checked token says: who stamped what, when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Stamp {
    /// `genTime`, POSIX seconds, its fraction left out.
    pub time: i64,
    /// The fraction of a second of `genTime`, in nanoseconds (0 if none).
    pub nanos: u32,
    /// `genTime` as RFC 3339 (UTC), with its fraction as the TSA gave it.
    pub time_text: String,
    /// The TSA's stated accuracy, in whole seconds rounded up (0 if none).
    pub accuracy_secs: u64,
    /// The token's serial number, hex.
    pub serial: String,
    /// The TSA's certificate subject (RFC 4514), as stated by the token.
    pub tsa: String,
    /// The TSA's policy.
    pub policy: String,
}

/// A trusted root (`--tsa-ca`): a certificate the caller vouches for.
#[derive(Debug, Clone)]
pub struct Anchor {
    cert: Certificate,
    der: Vec<u8>,
}

impl Anchor {
    /// The root's subject, RFC 4514.
    pub fn subject(&self) -> String {
        self.cert.tbs_certificate.subject.to_string()
    }
}

/// Reads the certificates of a PEM file (one or more `CERTIFICATE`
/// blocks) as trusted roots.
pub fn anchors_from_pem(pem: &[u8]) -> Result<Vec<Anchor>> {
    let certs = Certificate::load_pem_chain(pem)
        .map_err(|e| TspError::Anchor(format!("is not a PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(TspError::Anchor("holds no certificate".into()));
    }
    certs
        .into_iter()
        .map(|cert| {
            let der = cert.to_der().map_err(|e| {
                TspError::Anchor(format!("holds a certificate that does not encode: {e}"))
            })?;
            Ok(Anchor { cert, der })
        })
        .collect()
}

/// Takes the token out of a `TimeStampResp` (RFC 3161 §2.4.2): strict DER,
/// nothing trailing, status granted (or granted with modifications, which
/// the token's own check then judges). Returns the token's exact bytes.
pub fn token_of_response(bytes: &[u8]) -> Result<Vec<u8>> {
    if bytes.len() > MAX_RESPONSE_BYTES {
        return Err(TspError::TooLarge { size: bytes.len() });
    }
    // Nothing may trail; canonical DER is required of a granted response
    // (it is stored), after its status is read: a refusal is reported as
    // such even if its encoding is loose (openssl's failInfo is).
    let resp = from_der_bounded::<TimeStampResp>(bytes)
        .map_err(der_err("time-stamp response (TimeStampResp)"))?;
    use cmpv2::status::PkiStatus;
    let status = match resp.status.status {
        PkiStatus::Accepted | PkiStatus::GrantedWithMods => None,
        PkiStatus::Rejection => Some("rejection"),
        PkiStatus::Waiting => Some("waiting"),
        PkiStatus::RevocationWarning => Some("revocationWarning"),
        PkiStatus::RevocationNotification => Some("revocationNotification"),
        PkiStatus::KeyUpdateWarning => Some("keyUpdateWarning"),
    };
    if let Some(status) = status {
        let text = resp.status.status_string.as_ref().map(|t| {
            t.iter()
                .map(|s| printable(s.as_str()))
                .collect::<Vec<_>>()
                .join("; ")
        });
        return Err(TspError::NotGranted {
            status: status.into(),
            text,
        });
    }
    if resp.to_der().ok().as_deref() != Some(bytes) {
        return Err(TspError::NotCanonical);
    }
    let token = resp.time_stamp_token.ok_or(TspError::NoToken)?;
    token.to_der().map_err(der_err("token"))
}

/// Escapes what a TSA wrote that a terminal would act on: the text is
/// printed to an auditor.
fn printable(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}') {
                c.escape_unicode().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// Checks a response fully ([`token_of_response`], then [`check_token`]).
pub fn check_response(bytes: &[u8], expect: &Expect, anchors: &[Anchor]) -> Result<Stamp> {
    check_token(&token_of_response(bytes)?, expect, anchors)
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct EssCertId {
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<der::Any>,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct SigningCertificate {
    certs: Vec<EssCertId>,
    #[asn1(optional = "true")]
    policies: Option<der::Any>,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct EssCertIdV2 {
    #[asn1(optional = "true")]
    hash_algorithm: Option<spki::AlgorithmIdentifierOwned>,
    cert_hash: OctetString,
    #[asn1(optional = "true")]
    issuer_serial: Option<der::Any>,
}

#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct SigningCertificateV2 {
    certs: Vec<EssCertIdV2>,
    #[asn1(optional = "true")]
    policies: Option<der::Any>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn of_digest_oid(oid: &ObjectIdentifier) -> Result<Hash> {
        match *oid {
            ID_SHA256 => Ok(Hash::Sha256),
            ID_SHA384 => Ok(Hash::Sha384),
            ID_SHA512 => Ok(Hash::Sha512),
            _ => Err(TspError::Unsupported {
                oid: oid.to_string(),
            }),
        }
    }

    fn digest(self, bytes: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha1 => sha1::Sha1::digest(bytes).to_vec(),
            Hash::Sha256 => sha2::Sha256::digest(bytes).to_vec(),
            Hash::Sha384 => sha2::Sha384::digest(bytes).to_vec(),
            Hash::Sha512 => sha2::Sha512::digest(bytes).to_vec(),
        }
    }
}

fn subject(c: &Certificate) -> String {
    printable(&c.tbs_certificate.subject.to_string())
}

/// Opens a token: strict DER, SignedData of a TSTInfo. Nothing checked yet.
fn open(token: &[u8]) -> Result<(SignedData, Vec<u8>, TstInfo)> {
    if token.len() > MAX_RESPONSE_BYTES {
        return Err(TspError::TooLarge { size: token.len() });
    }
    let ci: ContentInfo = strict(token, "time-stamp token (CMS ContentInfo)")?;
    if ci.content_type != ID_SIGNED_DATA {
        return Err(malformed(format!(
            "its content type is {}, not SignedData",
            ci.content_type
        )));
    }
    let sd: SignedData = ci.content.decode_as().map_err(der_err("CMS SignedData"))?;
    if sd.encap_content_info.econtent_type != ID_CT_TST_INFO {
        return Err(malformed("its content is not a TSTInfo"));
    }
    let econtent = sd
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| malformed("it has no content"))?;
    let tst_bytes = econtent
        .decode_as::<OctetString>()
        .map_err(der_err("TSTInfo octet string"))?;
    let tst_bytes = tst_bytes.as_bytes().to_vec();
    let tst: TstInfo = strict(&tst_bytes, "TSTInfo")?;
    Ok((sd, tst_bytes, tst))
}

/// The SHA-256 imprint a token stamps (nothing else checked): which
/// bytes it claims to be about.
pub fn imprint_of(token: &[u8]) -> Result<[u8; 32]> {
    let (_, _, tst) = open(token)?;
    sha256_of_imprint(&tst.message_imprint)
}

/// Checks a token (a CMS `ContentInfo`, the exact bytes stored) against
/// what was asked and the trusted roots: everything RFC 3161 §2.4.2 and
/// RFC 5652 §5.4-5.6 require, and the chain (RFC 5280 §6, in the subset
/// FORMAT §17.3 lists). [`TspError::Untrusted`] means the token is sound
/// but its TSA is not one the caller trusts.
pub fn check_token(token: &[u8], expect: &Expect, anchors: &[Anchor]) -> Result<Stamp> {
    let (sd, tst_bytes, tst) = open(token)?;
    let tst_bytes = tst_bytes.as_slice();
    let signers: Vec<&SignerInfo> = sd.signer_infos.0.iter().collect();
    let [signer] = signers.as_slice() else {
        return Err(malformed(format!(
            "it has {} signers; RFC 3161 §2.4.2 requires exactly one",
            signers.len()
        )));
    };
    let certs: Vec<&Certificate> = sd
        .certificates
        .as_ref()
        .map(|s| {
            s.0.iter()
                .filter_map(|c| match c {
                    CertificateChoices::Certificate(c) => Some(c),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();

    // What was stamped, before any cryptography: a token for other bytes
    // is the commonest mistake, and the message says so.
    let imprint = sha256_of_imprint(&tst.message_imprint)?;
    if imprint != expect.imprint {
        return Err(TspError::Imprint {
            expected: hex::encode(expect.imprint),
            found: hex::encode(imprint),
        });
    }
    if let Some(n) = &expect.nonce {
        match &tst.nonce {
            None => {
                return Err(TspError::NoNonce {
                    expected: hex::encode(n),
                })
            }
            Some(f) if f.as_bytes() != n.as_slice() => {
                return Err(TspError::Nonce {
                    expected: hex::encode(n),
                    found: hex::encode(f.as_bytes()),
                })
            }
            Some(_) => {}
        }
    }
    if let Some(p) = &expect.policy {
        if *p != tst.policy {
            return Err(TspError::Policy {
                expected: p.to_string(),
                found: tst.policy.to_string(),
            });
        }
    }
    if let Some(ext) = &tst.extensions {
        if let Some(e) = ext.iter().find(|e| e.critical) {
            return Err(malformed(format!(
                "its TSTInfo has a critical extension {} that is not understood",
                e.extn_id
            )));
        }
    }

    // RFC 5652 §5.1, §5.3: the versions these choices require, and the
    // signer's digest algorithm among those the SignedData lists; every
    // field that is not covered by the signature is held to one value.
    use cms::content_info::CmsVersion;
    if sd.version != CmsVersion::V3 {
        return Err(malformed("its SignedData version is not 3"));
    }
    let signer_version = match signer.sid {
        SignerIdentifier::IssuerAndSerialNumber(_) => CmsVersion::V1,
        SignerIdentifier::SubjectKeyIdentifier(_) => CmsVersion::V3,
    };
    if signer.version != signer_version {
        return Err(malformed(
            "its SignerInfo version does not match its signer identifier",
        ));
    }
    if signer
        .digest_alg
        .parameters
        .as_ref()
        .is_some_and(|p| !p.is_null())
        || !sd.digest_algorithms.iter().any(|a| *a == signer.digest_alg)
    {
        return Err(malformed(
            "its signer's digest algorithm is not one the SignedData lists, or has parameters",
        ));
    }

    // RFC 5652 §5.4: with signed attributes (which a token must have, to
    // carry the signing certificate) the signature covers their DER as a
    // SET, and messageDigest is the hash of the content.
    let attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or_else(|| malformed("it has no signed attributes"))?;
    let digest_hash = Hash::of_digest_oid(&signer.digest_alg.oid)?;
    let one = |oid: ObjectIdentifier, name: &str| -> Result<der::Any> {
        let found: Vec<_> = attrs.iter().filter(|a| a.oid == oid).collect();
        match found.as_slice() {
            [a] if a.values.len() == 1 => Ok(a.values.iter().next().cloned().expect("one value")),
            [] => Err(malformed(format!("it has no {name} attribute"))),
            _ => Err(malformed(format!(
                "its {name} attribute is not exactly one value"
            ))),
        }
    };
    let ct: ObjectIdentifier = one(ID_CONTENT_TYPE, "content-type")?
        .decode_as()
        .map_err(der_err("content-type attribute"))?;
    if ct != ID_CT_TST_INFO {
        return Err(malformed("its content-type attribute is not TSTInfo"));
    }
    let md: OctetString = one(ID_MESSAGE_DIGEST, "message-digest")?
        .decode_as()
        .map_err(der_err("message-digest attribute"))?;
    if md.as_bytes() != digest_hash.digest(tst_bytes).as_slice() {
        return Err(TspError::MessageDigest);
    }
    let signer_cert = signing_certificate(attrs, &certs, &signer.sid)?;
    let signed = attrs.to_der().map_err(der_err("signed attributes"))?;
    verify_signature(
        &signer_cert.tbs_certificate.subject_public_key_info,
        &signer.signature_algorithm.oid,
        Some(digest_hash),
        &signed,
        signer.signature.as_bytes(),
    )
    .map_err(|e| match e {
        TspError::BadSignature { .. } => TspError::BadSignature {
            subject: subject(signer_cert),
        },
        e => e,
    })?;

    let (time, nanos) = tst.gen_time.instant();
    time_stamping_usage(signer_cert)?;
    chain(signer_cert, &certs, anchors, (time, nanos))?;

    let accuracy_secs = tst.accuracy.as_ref().map_or(0, |a| {
        let sub = a.millis.unwrap_or(0) > 0 || a.micros.unwrap_or(0) > 0;
        a.seconds.unwrap_or(0).saturating_add(u64::from(sub))
    });
    Ok(Stamp {
        time,
        nanos,
        time_text: tst.gen_time.text(),
        accuracy_secs,
        serial: hex::encode(tst.serial_number.as_bytes()),
        tsa: subject(signer_cert),
        policy: tst.policy.to_string(),
    })
}

/// The signer's certificate: the one the signing-certificate attribute
/// names by hash (RFC 5035 §5.4: the first ESSCertID is the signer's),
/// which must also be the one the SignerInfo's `sid` names.
fn signing_certificate<'a>(
    attrs: &x509_cert::attr::Attributes,
    certs: &[&'a Certificate],
    sid: &SignerIdentifier,
) -> Result<&'a Certificate> {
    let v1 = attrs.iter().find(|a| a.oid == ID_SIGNING_CERT);
    let v2 = attrs.iter().find(|a| a.oid == ID_SIGNING_CERT_V2);
    let (hash, want) = match (v1, v2) {
        (_, Some(a)) => {
            let v = a
                .values
                .iter()
                .next()
                .ok_or_else(|| malformed("an empty signing-certificate-v2 attribute"))?;
            let sc: SigningCertificateV2 = v.decode_as().map_err(der_err("signing-certificate-v2"))?;
            let first = sc
                .certs
                .first()
                .ok_or_else(|| malformed("an empty signing-certificate-v2 attribute"))?;
            let hash = match &first.hash_algorithm {
                // DER omits a DEFAULT value: SHA-256 written out is BER.
                None => Hash::Sha256,
                Some(a) if a.oid == ID_SHA256 => return Err(TspError::NotCanonical),
                Some(a) => Hash::of_digest_oid(&a.oid)?,
            };
            (hash, first.cert_hash.as_bytes().to_vec())
        }
        (Some(a), None) => {
            let v = a
                .values
                .iter()
                .next()
                .ok_or_else(|| malformed("an empty signing-certificate attribute"))?;
            let sc: SigningCertificate = v.decode_as().map_err(der_err("signing-certificate"))?;
            let first = sc
                .certs
                .first()
                .ok_or_else(|| malformed("an empty signing-certificate attribute"))?;
            (Hash::Sha1, first.cert_hash.as_bytes().to_vec())
        }
        (None, None) => {
            return Err(malformed(
                "it has no signing-certificate attribute (RFC 3161 §2.4.1 requires ESSCertID or ESSCertIDv2)",
            ))
        }
    };
    let cert = certs
        .iter()
        .find(|c| c.to_der().map(|d| hash.digest(&d) == want).unwrap_or(false))
        .ok_or(TspError::NoSignerCertificate)?;
    let matches_sid = match sid {
        SignerIdentifier::IssuerAndSerialNumber(is) => {
            is.issuer == cert.tbs_certificate.issuer
                && is.serial_number == cert.tbs_certificate.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => cert
            .tbs_certificate
            .extensions
            .as_ref()
            .and_then(|exts| {
                exts.iter()
                    .find(|e| e.extn_id == ObjectIdentifier::new_unwrap("2.5.29.14"))
            })
            .map(|e| {
                from_der_bounded::<x509_cert::ext::pkix::SubjectKeyIdentifier>(
                    e.extn_value.as_bytes(),
                )
                .map(|s| s == *ski)
                .unwrap_or(false)
            })
            .unwrap_or(false),
    };
    if !matches_sid {
        return Err(TspError::NoSignerCertificate);
    }
    Ok(cert)
}

/// RFC 3161 §2.3: the TSA's certificate has exactly one extended key
/// usage, timeStamping, and the extension is critical.
fn time_stamping_usage(c: &Certificate) -> Result<()> {
    let usage = |problem: &str| TspError::Usage {
        subject: subject(c),
        problem: problem.into(),
    };
    let exts: Vec<_> = c
        .tbs_certificate
        .extensions
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter(|e| e.extn_id == ID_CE_EXT_KEY_USAGE)
        .collect();
    let [e] = exts.as_slice() else {
        return Err(usage(if exts.is_empty() {
            "has no extended key usage"
        } else {
            "has more than one extended key usage extension"
        }));
    };
    if !e.critical {
        return Err(usage(
            "has an extended key usage that is not marked critical",
        ));
    }
    let eku = from_der_bounded::<x509_cert::ext::pkix::ExtendedKeyUsage>(e.extn_value.as_bytes())
        .map_err(|_| usage("has an extended key usage that does not decode"))?;
    if eku.0.as_slice() != [ID_KP_TIME_STAMPING] {
        return Err(usage(
            "has an extended key usage other than timeStamping alone",
        ));
    }
    Ok(())
}

/// notBefore ≤ genTime ≤ notAfter, a fraction of a second after notAfter
/// (whole seconds, in a certificate) being after it.
fn valid_at(c: &Certificate, (time, nanos): (i64, u32)) -> Result<()> {
    let v = &c.tbs_certificate.validity;
    let secs = |t: x509_cert::time::Time| t.to_unix_duration().as_secs() as i128;
    let (nb, na) = (secs(v.not_before), secs(v.not_after));
    let t = time as i128;
    if t < nb || t > na || (t == na && nanos > 0) {
        let text = |s: i128| {
            i64::try_from(s)
                .ok()
                .and_then(crate::base::time::Timestamp::from_unix)
                .map(|t| t.to_string())
                .unwrap_or_else(|| s.to_string())
        };
        return Err(TspError::Expired {
            subject: subject(c),
            time: text(time as i128),
            not_before: text(nb),
            not_after: text(na),
        });
    }
    Ok(())
}

/// The extensions this checker understands when they are critical; any
/// other critical extension refuses the certificate (RFC 5280 §4.2).
fn known_critical(c: &Certificate) -> Result<()> {
    for e in c.tbs_certificate.extensions.as_deref().unwrap_or_default() {
        let known = [
            ID_CE_BASIC_CONSTRAINTS,
            ID_CE_KEY_USAGE,
            ID_CE_EXT_KEY_USAGE,
        ];
        if e.critical && !known.contains(&e.extn_id) {
            return Err(TspError::UnknownCritical {
                subject: subject(c),
                oid: e.extn_id.to_string(),
            });
        }
    }
    Ok(())
}

/// Whether `c` may issue certificates: basicConstraints cA, and keyCertSign
/// if it states a key usage.
fn is_ca(c: &Certificate) -> Result<()> {
    let exts = c.tbs_certificate.extensions.as_deref().unwrap_or_default();
    let bc = exts
        .iter()
        .find(|e| e.extn_id == ID_CE_BASIC_CONSTRAINTS)
        .and_then(|e| {
            from_der_bounded::<x509_cert::ext::pkix::BasicConstraints>(e.extn_value.as_bytes()).ok()
        });
    let ku_ok = exts
        .iter()
        .find(|e| e.extn_id == ID_CE_KEY_USAGE)
        .map(|e| {
            from_der_bounded::<x509_cert::ext::pkix::KeyUsage>(e.extn_value.as_bytes())
                .map(|k| k.key_cert_sign())
                .unwrap_or(false)
        })
        .unwrap_or(true);
    match bc {
        Some(b) if b.ca && ku_ok => Ok(()),
        _ => Err(TspError::NotCa {
            subject: subject(c),
        }),
    }
}

fn signed_by(c: &Certificate, issuer: &Certificate) -> bool {
    let Ok(tbs) = c.tbs_certificate.to_der() else {
        return false;
    };
    let Some(sig) = c.signature.as_bytes() else {
        return false;
    };
    verify_signature(
        &issuer.tbs_certificate.subject_public_key_info,
        &c.signature_algorithm.oid,
        None,
        &tbs,
        sig,
    )
    .is_ok()
}

/// Follows the chain from the TSA's certificate, through the token's
/// certificates, to a trusted root: each certificate valid at `time`,
/// issued by a CA, with no unknown critical extension.
fn chain(
    leaf: &Certificate,
    certs: &[&Certificate],
    anchors: &[Anchor],
    time: (i64, u32),
) -> Result<()> {
    let mut cur = leaf;
    for _ in 0..MAX_CHAIN {
        known_critical(cur)?;
        let der = cur.to_der().map_err(der_err("certificate"))?;
        if anchors.iter().any(|a| a.der == der) {
            return valid_at(cur, time);
        }
        let issuer = &cur.tbs_certificate.issuer;
        if let Some(a) = anchors
            .iter()
            .find(|a| a.cert.tbs_certificate.subject == *issuer && signed_by(cur, &a.cert))
        {
            valid_at(cur, time)?;
            known_critical(&a.cert)?;
            is_ca(&a.cert)?;
            return valid_at(&a.cert, time);
        }
        let next = certs.iter().find(|c| {
            c.tbs_certificate.subject == *issuer
                && c.tbs_certificate.subject != cur.tbs_certificate.subject
                && signed_by(cur, c)
        });
        match next {
            Some(n) => {
                valid_at(cur, time)?;
                is_ca(n)?;
                cur = n;
            }
            None => {
                return Err(TspError::Untrusted {
                    subject: subject(leaf),
                    issuer: (cur.tbs_certificate.issuer != cur.tbs_certificate.subject)
                        .then(|| printable(&cur.tbs_certificate.issuer.to_string())),
                })
            }
        }
    }
    Err(TspError::ChainTooLong)
}

/// Verifies `sig` over `msg` with `spki`: ECDSA (P-256, P-384) or RSA
/// PKCS#1 v1.5, with the hash the algorithm names, or `hash` where it names
/// none (CMS `rsaEncryption` with the SignerInfo's digest algorithm).
fn verify_signature(
    spki: &spki::SubjectPublicKeyInfoOwned,
    alg: &ObjectIdentifier,
    hash: Option<Hash>,
    msg: &[u8],
    sig: &[u8],
) -> Result<()> {
    let unsupported = |oid: &ObjectIdentifier| TspError::Unsupported {
        oid: oid.to_string(),
    };
    let bad = || TspError::BadSignature {
        subject: String::new(),
    };
    let (family_rsa, h) = match *alg {
        ID_RSA_SHA256 => (true, Hash::Sha256),
        ID_RSA_SHA384 => (true, Hash::Sha384),
        ID_RSA_SHA512 => (true, Hash::Sha512),
        ID_ECDSA_SHA256 => (false, Hash::Sha256),
        ID_ECDSA_SHA384 => (false, Hash::Sha384),
        ID_ECDSA_SHA512 => (false, Hash::Sha512),
        ID_RSA => (true, hash.ok_or_else(|| unsupported(alg))?),
        _ => return Err(unsupported(alg)),
    };
    let digest = h.digest(msg);
    let key = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| malformed("a public key that is not whole bytes"))?;
    if family_rsa {
        if spki.algorithm.oid != ID_RSA {
            return Err(unsupported(&spki.algorithm.oid));
        }
        use rsa::pkcs1::DecodeRsaPublicKey;
        let k = rsa::RsaPublicKey::from_pkcs1_der(key)
            .map_err(|_| malformed("an RSA key that does not decode"))?;
        if rsa::traits::PublicKeyParts::size(&k) < 256 {
            return Err(malformed("an RSA key shorter than 2048 bits"));
        }
        let scheme = match h {
            Hash::Sha256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
            Hash::Sha384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
            Hash::Sha512 => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
            Hash::Sha1 => return Err(unsupported(alg)),
        };
        return k.verify(scheme, &digest, sig).map_err(|_| bad());
    }
    if spki.algorithm.oid != ID_EC_PUBLIC_KEY {
        return Err(unsupported(&spki.algorithm.oid));
    }
    let curve: ObjectIdentifier = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as().ok())
        .ok_or_else(|| malformed("an EC key without a named curve"))?;
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    match curve {
        ID_P256 => {
            let k = p256::ecdsa::VerifyingKey::from_sec1_bytes(key)
                .map_err(|_| malformed("a P-256 key that is not on the curve"))?;
            let s = p256::ecdsa::Signature::from_der(sig).map_err(|_| bad())?;
            k.verify_prehash(&digest, &s).map_err(|_| bad())
        }
        ID_P384 => {
            let k = p384::ecdsa::VerifyingKey::from_sec1_bytes(key)
                .map_err(|_| malformed("a P-384 key that is not on the curve"))?;
            let s = p384::ecdsa::Signature::from_der(sig).map_err(|_| bad())?;
            k.verify_prehash(&digest, &s).map_err(|_| bad())
        }
        other => Err(unsupported(&other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips_and_is_strict() {
        let req = request(&[7; 32], &[0xff; 16]);
        let e = parse_request(&req).unwrap();
        assert_eq!(e.imprint, [7; 32]);
        assert_eq!(e.nonce.as_deref().unwrap()[0], 0x7f);
        let mut trailing = req.clone();
        trailing.push(0);
        assert!(matches!(
            parse_request(&trailing),
            Err(TspError::Der { .. })
        ));
        assert!(parse_request(&req[..req.len() - 1]).is_err());
    }

    #[test]
    fn garbage_is_not_a_response() {
        assert!(token_of_response(b"not der").is_err());
        assert!(matches!(
            token_of_response(&vec![0u8; MAX_RESPONSE_BYTES + 1]),
            Err(TspError::TooLarge { .. })
        ));
    }
    #[test]
    fn gen_time_takes_der_and_only_der() {
        let t = |s: &str| GenTime::parse(s.as_bytes()).map(|g| (g.instant(), g.text()));
        assert_eq!(
            t("20261203094157Z"),
            Some(((1796290917, 0), "2026-12-03T09:41:57Z".into()))
        );
        assert_eq!(
            t("20261203094157.5Z"),
            Some(((1796290917, 500_000_000), "2026-12-03T09:41:57.5Z".into()))
        );
        assert_eq!(
            t("20261203094157.123456789Z").map(|x| x.0),
            Some((1796290917, 123_456_789))
        );
        assert_eq!(t("20240229235959.01Z").map(|x| x.0 .1), Some(10_000_000));
        for bad in [
            "20261203094157.50Z",         // trailing zero
            "20261203094157.0Z",          // a zero fraction is written as none
            "20261203094157.Z",           // a point without digits
            "20261203094157.1234567891Z", // more than nanoseconds
            "20261203094157,5Z",          // a comma
            "20261203094157",             // no Z: local time
            "20261203094157.5",           // no Z
            "20261203094157+0000",        // an offset
            "202612030941Z",              // no seconds
            "20261203094160Z",            // second 60
            "20261303094157Z",            // month 13
            "20250229094157Z",            // 29 February of a common year
            "19691231235959Z",            // before 1970
            "2026120309415 Z",            // a space
            "20261203094157.+5Z",         // a sign
            "20261203094157Zx",           // trailing
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
    }
}
