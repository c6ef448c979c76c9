//! RFC 3161 timestamps of a ledger's checkpoints (FORMAT §17): the tokens
//! stored as `checkpoints/<size>.tsr` (and `<size>.<k>.tsr` for the k-th
//! TSA of one checkpoint), how they are requested, fetched and added, and
//! what each proves when `verify` checks it.
//!
//! The token itself (DER, CMS, the chain) is [`crate::base::tsp`]'s; this
//! module ties it to a ledger: the imprint is the SHA-256 of the exact
//! stored bytes of a checkpoint file, a token is stored only after it was
//! checked in full against that file and the roots given, durably and
//! under the writer's lock, and a refused token changes nothing. It never
//! rewrites or removes a stored token, and the read path (the `read_*` and
//! `check_*` functions) never takes a lock or writes.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::base::http;
use crate::base::tsp::{self, Anchor, Expect, Stamp, TspError};
use crate::core::store::{Access, LockWait, Store, StoreError};
use crate::proofs::checkpoint::{read_stored, stored, token_name, CHECKPOINTS_DIR, TOKEN_SUFFIX};
use crate::tlog::note::{Checkpoint, Note};

/// How many tokens one checkpoint may have (several TSAs, FORMAT §17.2).
pub const MAX_TOKENS_PER_CHECKPOINT: u64 = 32;
/// The allowance for clock skew beyond a TSA's stated accuracy (FORMAT
/// §17.4): an event may claim a time at most this much after the stamp of
/// a checkpoint that holds it.
pub const SKEW_ALLOWANCE_SECS: u64 = 300;

/// Why a timestamp was not requested, fetched or stored. The message is
/// what the user reads.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// The token does not check: evidence against it (exit 1).
    #[error("{file}: {problem}")]
    Token { file: String, problem: TspError },
    #[error("the token stamps {found}, which is the SHA-256 of no checkpoint stored in {dir}: it is a token for another checkpoint or another ledger (request one with `ledger timestamp request`)")]
    NoSuchCheckpoint { found: String, dir: String },
    #[error("the token answers a request for {request}, not the checkpoint it stamps ({token}): pass the request it answers with --request")]
    RequestMismatch { request: String, token: String },
    #[error("{dir} has no checkpoint to stamp: sign one first with `ledger checkpoint {dir} --key FILE`")]
    NoCheckpoint { dir: String },
    #[error("{file} is not a checkpoint ({reason}): fix or remove it before stamping")]
    BadCheckpoint { file: String, reason: String },
    #[error("checkpoints/{size} already has {MAX_TOKENS_PER_CHECKPOINT} tokens")]
    TooMany { size: u64 },
    #[error("{file} changed while the token was being checked: try again")]
    Changed { file: String },
    /// The TSA could not be reached or did not answer as RFC 3161 §3.4 says.
    #[error("event #{seq} claims {claimed}, later than this token's time {stamped} plus its tolerance of {tolerance} s (FORMAT §17.4): stored, it would make the ledger fail verification; nothing was stored (stamp again once the clock has passed {claimed})")]
    ClaimedAfterStamp {
        seq: u64,
        claimed: String,
        stamped: String,
        tolerance: u64,
    },
    #[error("the ledger does not verify, so no token is stored: {0}")]
    Ledger(Box<crate::core::verify::VerifyError>),
    #[error("TSA {url}: {reason}")]
    Http { url: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TimestampError {
    /// Whether this is evidence against a token (exit 1), not a problem
    /// of use or of I/O (exit 2).
    pub fn is_refutation(&self) -> bool {
        matches!(
            self,
            TimestampError::Token { .. }
                | TimestampError::Ledger(_)
                | TimestampError::NoSuchCheckpoint { .. }
                | TimestampError::RequestMismatch { .. }
        )
    }
}

fn token_file(size: u64, k: u64) -> String {
    if k == 1 {
        format!("{size}{TOKEN_SUFFIX}")
    } else {
        format!("{size}.{k}{TOKEN_SUFFIX}")
    }
}

/// The checkpoint files of `DIR/checkpoints/` by size (token files and
/// unparseable names left out: `verify` judges those).
fn checkpoint_sizes(dir: &Path) -> Result<Vec<u64>, TimestampError> {
    let listed = stored(dir).map_err(|u| TimestampError::BadCheckpoint {
        file: u.file,
        reason: u.problem.to_string(),
    })?;
    Ok(listed
        .iter()
        .filter(|f| token_name(f).is_none())
        .filter_map(|f| f.parse::<u64>().ok().filter(|n| n.to_string() == **f))
        .collect())
}

/// Reads `checkpoints/<size>` as verify reads it and requires it to be a
/// checkpoint note of that size: what a token will stamp.
fn read_checkpoint(dir: &Path, size: u64) -> Result<Vec<u8>, TimestampError> {
    let file = format!("{CHECKPOINTS_DIR}/{size}");
    let bad = |reason: String| TimestampError::BadCheckpoint {
        file: file.clone(),
        reason,
    };
    let bytes = read_stored(dir, &size.to_string()).map_err(|p| bad(p.to_string()))?;
    let note = Note::parse(&bytes).map_err(|e| bad(e.to_string()))?;
    let c = Checkpoint::parse_text(note.text()).map_err(|e| bad(e.to_string()))?;
    if c.size() != size {
        return Err(bad(format!("it is of size {}", c.size())));
    }
    Ok(bytes)
}

/// A request made by [`request`]: its DER and what a token must answer.
#[derive(Debug, Clone)]
pub struct Request {
    /// The checkpoint it stamps.
    pub size: u64,
    /// The `TimeStampReq`, DER (a `.tsq` file).
    pub der: Vec<u8>,
    pub expect: Expect,
}

/// `ledger timestamp request`: a `TimeStampReq` for the latest stored
/// checkpoint, SHA-256 of its exact stored bytes, a fresh random nonce,
/// certReq true (FORMAT §17.1). Reads only.
pub fn request(dir: &Path) -> Result<Request, TimestampError> {
    let size =
        *checkpoint_sizes(dir)?
            .iter()
            .max()
            .ok_or_else(|| TimestampError::NoCheckpoint {
                dir: dir.display().to_string(),
            })?;
    let bytes = read_checkpoint(dir, size)?;
    let imprint: [u8; 32] = Sha256::digest(&bytes).into();
    let mut nonce = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
    let der = tsp::request(&imprint, &nonce);
    let expect = tsp::parse_request(&der).map_err(|problem| TimestampError::Token {
        file: "request".into(),
        problem,
    })?;
    Ok(Request { size, der, expect })
}

/// A token stored by [`add`].
#[derive(Debug, Clone)]
pub struct Added {
    /// `checkpoints/<size>.tsr` (or `.<k>.tsr`), relative to the ledger.
    pub file: String,
    pub size: u64,
    pub stamp: Stamp,
    /// False if the same token was already stored (nothing was written).
    pub new: bool,
}

/// `ledger timestamp add`: checks the response `tsr` in full (FORMAT §17.3)
/// against the stored checkpoint whose bytes it stamps, the request it
/// answers if given (nonce, policy, imprint) and the trusted roots, then
/// stores it durably under the writer's lock. Refused, it changes nothing.
pub fn add(
    dir: &Path,
    tsr: &[u8],
    request: Option<&Expect>,
    anchors: &[Anchor],
    wait: LockWait,
    waiting: &mut dyn FnMut(Option<u32>),
) -> Result<Added, TimestampError> {
    let token_err = |problem| TimestampError::Token {
        file: "the response".into(),
        problem,
    };
    let token = tsp::token_of_response(tsr).map_err(token_err)?;
    // Which checkpoint: the one whose exact bytes the token stamps.
    let stamped = hex::encode(tsp::imprint_of(&token).map_err(token_err)?);
    let mut found = None;
    for size in checkpoint_sizes(dir)? {
        let Ok(bytes) = read_checkpoint(dir, size) else {
            continue;
        };
        if hex::encode(Sha256::digest(&bytes)) == stamped {
            found = Some((size, bytes));
        }
    }
    let (size, bytes) = found.ok_or_else(|| TimestampError::NoSuchCheckpoint {
        found: stamped.clone(),
        dir: dir.display().to_string(),
    })?;
    let imprint: [u8; 32] = Sha256::digest(&bytes).into();
    let expect = match request {
        Some(r) if r.imprint != imprint => {
            return Err(TimestampError::RequestMismatch {
                request: hex::encode(r.imprint),
                token: hex::encode(imprint),
            })
        }
        Some(r) => r.clone(),
        None => Expect::imprint(imprint),
    };
    let stamp = tsp::check_token(&token, &expect, anchors).map_err(token_err)?;

    // The writer's lock, then the checkpoint again: a token is stored only
    // beside the very bytes it stamps.
    let store = Store::open_waiting(dir, Access::Write, wait, waiting)?;
    if read_checkpoint(dir, size)? != bytes {
        return Err(TimestampError::Changed {
            file: format!("{CHECKPOINTS_DIR}/{size}"),
        });
    }
    // A writer never stores what verify would refuse: the writer lets an
    // event claim a time up to 15 minutes ahead (or more, with
    // --allow-future), so hold the stamped events to this token's bound
    // (FORMAT §17.4) before it is stored for good.
    let (limit, limit_nanos) = limit_of(&stamp);
    let mut late: Option<(u64, String)> = None;
    crate::core::verify::verify_state(&store, &Default::default(), &mut |v| {
        if late.is_none() && v.seq() < size && v.claimed_time().instant() > (limit, limit_nanos) {
            late = Some((v.seq(), v.claimed_time().to_string()));
        }
    })
    .map_err(|e| TimestampError::Ledger(Box::new(e)))?;
    if let Some((seq, claimed)) = late {
        return Err(TimestampError::ClaimedAfterStamp {
            seq,
            claimed,
            stamped: stamp.time_text.clone(),
            tolerance: (limit - stamp.time) as u64,
        });
    }
    let cdir = dir.join(CHECKPOINTS_DIR);
    for k in 1..=MAX_TOKENS_PER_CHECKPOINT {
        let file = token_file(size, k);
        let path = cdir.join(&file);
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                crate::base::durable::write_new(&cdir, &path, tsr).map_err(|e| StoreError::Io {
                    path: e.path,
                    source: e.source,
                })?;
                return Ok(Added {
                    file: format!("{CHECKPOINTS_DIR}/{file}"),
                    size,
                    stamp,
                    new: true,
                });
            }
            Err(e) => return Err(StoreError::Io { path, source: e }.into()),
            Ok(_) => {
                if read_token(dir, &file).is_ok_and(|b| b == tsr) {
                    return Ok(Added {
                        file: format!("{CHECKPOINTS_DIR}/{file}"),
                        size,
                        stamp,
                        new: false,
                    });
                }
            }
        }
    }
    Err(TimestampError::TooMany { size })
}

/// Reads a stored token file as verify reads checkpoints (FORMAT §2): a
/// regular file, not followed if a link, at most
/// [`tsp::MAX_RESPONSE_BYTES`] + 1 bytes read.
pub fn read_token(dir: &Path, file: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(CHECKPOINTS_DIR).join(file);
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(&path)
        .map_err(|e| {
            if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
                "is a symbolic link, not a token file".to_owned()
            } else {
                format!("cannot be read: {e}")
            }
        })?;
    let meta = f.metadata().map_err(|e| format!("cannot be read: {e}"))?;
    if !meta.is_file() {
        return Err("is not a regular file".into());
    }
    let mut bytes = Vec::new();
    f.take(tsp::MAX_RESPONSE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot be read: {e}"))?;
    Ok(bytes)
}

/// What `verify` found about one stored token.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenReport {
    /// `checkpoints/<name>`.
    pub file: String,
    /// The checkpoint it stamps (from its name).
    pub size: u64,
    /// "valid", "untrusted" (sound, but its TSA chains to no root given)
    /// or "unchecked" (no `--tsa-ca` given).
    pub status: &'static str,
    /// What it proves, if valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stamp: Option<Stamp>,
    /// Why it is not trusted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A stored token that fails: a refutation of the ledger, naming the file.
#[derive(Debug, Clone)]
pub struct BadToken {
    pub file: String,
    pub problem: String,
}

/// Checks every stored token among `listed` (the names in `checkpoints/`)
/// against the checkpoint file it names and the roots (FORMAT §17.3): one
/// file at a time, cost O(number of tokens). With no roots, tokens are
/// reported as present and unchecked. The first that fails is returned as
/// the error.
pub fn check_stored(
    dir: &Path,
    listed: &[String],
    anchors: Option<&[Anchor]>,
) -> Result<Vec<TokenReport>, BadToken> {
    let mut out = Vec::new();
    for name in listed {
        let Some((size, _)) = token_name(name) else {
            continue;
        };
        let file = format!("{CHECKPOINTS_DIR}/{name}");
        let fail = |problem: String| BadToken {
            file: file.clone(),
            problem,
        };
        let Some(anchors) = anchors else {
            out.push(TokenReport {
                file: file.clone(),
                size,
                status: "unchecked",
                stamp: None,
                note: None,
            });
            continue;
        };
        let tsr = read_token(dir, name).map_err(fail)?;
        let checkpoint = read_stored(dir, &size.to_string())
            .map_err(|p| fail(format!("stamps checkpoints/{size}, which {p}")))?;
        let imprint: [u8; 32] = Sha256::digest(&checkpoint).into();
        match tsp::check_response(&tsr, &Expect::imprint(imprint), anchors) {
            Ok(stamp) => out.push(TokenReport {
                file: file.clone(),
                size,
                status: "valid",
                stamp: Some(stamp),
                note: None,
            }),
            Err(e @ TspError::Untrusted { .. }) => out.push(TokenReport {
                file: file.clone(),
                size,
                status: "untrusted",
                stamp: None,
                note: Some(e.to_string()),
            }),
            Err(TspError::Imprint { found, .. }) => {
                return Err(fail(format!(
                    "the token stamps {found}, not the SHA-256 {} of checkpoints/{size}: it is a token for another checkpoint (or the checkpoint was replaced after it was stamped)",
                    hex::encode(imprint)
                )))
            }
            Err(e) => return Err(fail(e.to_string())),
        }
    }
    Ok(out)
}

/// The latest time each event may claim (FORMAT §17.4): for event `i`, the
/// least `genTime + accuracy + allowance` of the valid tokens of
/// checkpoints of a size above `i`, with the token that sets it. Sorted by
/// size; an event is bound by the first entry whose size exceeds its index.
pub fn bounds(tokens: &[TokenReport]) -> Vec<Bound> {
    let mut by_size: Vec<Bound> = tokens
        .iter()
        .filter_map(|t| {
            let s = t.stamp.as_ref()?;
            let (limit, limit_nanos) = limit_of(s);
            Some(Bound {
                size: t.size,
                limit,
                limit_nanos,
                stamp: s.clone(),
                file: t.file.clone(),
            })
        })
        .collect();
    by_size.sort_by_key(|b| (b.size, b.limit, b.limit_nanos));
    // A smaller checkpoint is also bound by any later, larger one stamped
    // earlier: keep the running minimum from the largest down.
    let mut out: Vec<Bound> = Vec::with_capacity(by_size.len());
    for b in by_size.into_iter().rev() {
        match out.last() {
            Some(l) if (l.limit, l.limit_nanos) <= (b.limit, b.limit_nanos) => {
                let mut tighter = l.clone();
                tighter.size = b.size;
                out.push(tighter);
            }
            _ => out.push(b),
        }
    }
    out.reverse();
    out
}

/// The latest instant an event under `stamp` may claim (FORMAT §17.4):
/// `genTime` plus the TSA's accuracy plus [`SKEW_ALLOWANCE_SECS`].
fn limit_of(stamp: &Stamp) -> (i64, u32) {
    let limit = stamp
        .time
        .saturating_add(i64::try_from(stamp.accuracy_secs).unwrap_or(i64::MAX))
        .saturating_add(SKEW_ALLOWANCE_SECS as i64);
    (limit, stamp.nanos)
}

/// The latest instant (POSIX seconds) the events below `size` may claim,
/// and the token that says so.
#[derive(Debug, Clone)]
pub struct Bound {
    pub size: u64,
    pub limit: i64,
    /// The nanoseconds of the limit: those of `genTime`.
    pub limit_nanos: u32,
    pub stamp: Stamp,
    pub file: String,
}

/// Sends `tsq` to a TSA by HTTP POST (RFC 3161 §3.4,
/// `application/timestamp-query`) through `client` (`base::http`: http://
/// or https://, within its timeout overall, following no redirect), and
/// returns its answer's body, at most [`tsp::MAX_RESPONSE_BYTES`]. TLS
/// adds nothing to what a token proves (it is signed, and checked in full
/// before it is stored); it hides which checkpoint hash is sent.
pub fn post(client: &http::Client, url: &str, tsq: &[u8]) -> Result<Vec<u8>, TimestampError> {
    let fail = |reason: String| TimestampError::Http {
        url: url.to_owned(),
        reason,
    };
    let secs = client.timeout().as_secs();
    let mut resp = client
        .post(
            url,
            &[
                ("Content-Type", "application/timestamp-query"),
                ("Accept", "application/timestamp-reply"),
            ],
            tsq,
        )
        .map_err(|e| match e {
            http::HttpError::Timeout { .. } => fail(format!(
                "no answer within {secs} s (timeout; try again later, or another TSA)"
            )),
            http::HttpError::Scheme => fail("give an http:// or https:// URL".into()),
            e => fail(format!("cannot be reached: {e}")),
        })?;
    let status = resp.status().as_u16();
    if (300..400).contains(&status) {
        let to = http::redirect_target(&resp);
        return Err(fail(format!(
            "answered HTTP {status}, a redirect{to}: ledger follows no redirect; give the TSA's own URL"
        )));
    }
    if status != 200 {
        return Err(fail(format!("answered HTTP {status}, not 200")));
    }
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|c| c.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if !ctype.starts_with("application/timestamp-reply") {
        return Err(fail(format!(
            "answered with content type {:?}, not application/timestamp-reply",
            ctype
        )));
    }
    client
        .body(&mut resp, tsp::MAX_RESPONSE_BYTES as u64)
        .map_err(|e| match e {
            http::HttpError::Timeout { .. } => fail(format!(
                "did not finish its answer within {secs} s (timeout)"
            )),
            http::HttpError::TooLarge { .. } => fail(format!(
                "answered more than {} bytes",
                tsp::MAX_RESPONSE_BYTES
            )),
            e => fail(format!("answer could not be read: {e}")),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_names() {
        assert_eq!(token_name("14.tsr"), Some((14, 1)));
        assert_eq!(token_name("14.2.tsr"), Some((14, 2)));
        for bad in [
            "14",
            "014.tsr",
            "14.1.tsr",
            "14.02.tsr",
            ".tsr",
            "a.tsr",
            "14.tsr.x",
        ] {
            assert_eq!(token_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn token_files() {
        assert_eq!(token_file(14, 1), "14.tsr");
        assert_eq!(token_file(14, 3), "14.3.tsr");
    }
}
