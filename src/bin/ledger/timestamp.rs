//! `ledger timestamp`: RFC 3161 tokens for the latest checkpoint, online
//! (`--tsa URL`) or offline (`request`, then `add`). Checks what was typed
//! and reads the files named before the ledger is touched; the library
//! ([`ledger::proofs::timestamp`]) checks and stores.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ledger::base::tsp::{self, Anchor};
use ledger::core::store::LockWait;
use ledger::proofs::timestamp::{self, Added, TimestampError};

use crate::cli::{TimestampArgs, TimestampStep};
use crate::error::Failure;
use crate::input::*;
use crate::out::*;

impl From<TimestampError> for Failure {
    fn from(e: TimestampError) -> Self {
        use ledger::core::store::StoreError;
        match &e {
            e if e.is_refutation() => Failure::refuted(e.to_string()),
            TimestampError::Store(StoreError::Io { .. }) | TimestampError::Http { .. } => {
                Failure::io(e.to_string())
            }
            _ => Failure::usage(e.to_string()),
        }
    }
}

/// The TSA roots of `--tsa-ca` files.
pub(crate) fn load_roots(files: &[PathBuf]) -> Result<Vec<Anchor>, Failure> {
    let mut roots = Vec::new();
    for f in files {
        let pem = read_small(f, "--tsa-ca")?;
        roots.extend(
            tsp::anchors_from_pem(&pem)
                .map_err(|e| Failure::usage(format!("--tsa-ca {}: {e}", f.display())))?,
        );
    }
    Ok(roots)
}

/// Reads a small file the user names (a request, a response, a PEM): at
/// most what a response may have, refused beyond.
fn read_small(path: &Path, what: &str) -> Result<Vec<u8>, Failure> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let cant = |e: std::io::Error| Failure::io(format!("{what} {}: {e}", path.display()));
    // Not waiting on a FIFO: regular files only.
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(cant)?;
    if !f.metadata().map_err(cant)?.is_file() {
        return Err(Failure::usage(format!(
            "{what} {}: not a regular file",
            path.display()
        )));
    }
    let mut bytes = Vec::new();
    f.take(tsp::MAX_RESPONSE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(cant)?;
    if bytes.len() > tsp::MAX_RESPONSE_BYTES {
        return Err(Failure::usage(format!(
            "{what} {}: more than {} bytes; not a time-stamp file",
            path.display(),
            tsp::MAX_RESPONSE_BYTES
        )));
    }
    Ok(bytes)
}

pub(crate) fn timestamp(out: &Out, args: TimestampArgs) -> Result<(), Failure> {
    match args.step {
        Some(TimestampStep::Request { dir, out: to }) => request(out, &dir, &to),
        Some(TimestampStep::Add {
            dir,
            file,
            request,
            tsa_ca,
        }) => {
            let roots = load_roots(&tsa_ca)?;
            let tsr = read_small(&file, "response")?;
            let expect = match &request {
                Some(r) => Some(
                    tsp::parse_request(&read_small(r, "--request")?)
                        .map_err(|e| Failure::usage(format!("--request {}: {e}", r.display())))?,
                ),
                None => None,
            };
            let added =
                add(out, &dir, &tsr, expect.as_ref(), &roots).map_err(|f| name_file(f, &file))?;
            report(out, &added)
        }
        None => {
            let dir = args
                .dir
                .ok_or_else(|| Failure::usage("give the ledger directory"))?;
            for u in &args.tsa {
                if !ledger::base::http::is_url(u) {
                    return Err(Failure::usage(format!(
                        "--tsa {u:?}: give an http:// or https:// URL"
                    )));
                }
            }
            let roots = load_roots(&args.tsa_ca)?;
            let tls = crate::cli::load_tls_roots(args.tls_ca.as_deref())?;
            let client = ledger::base::http::Client::new(
                &tls,
                Duration::from_secs(args.timeout.max(1)),
                "ledger",
            );
            let mut stored = Vec::new();
            for url in &args.tsa {
                // One request per TSA: each its own nonce.
                let req = timestamp::request(&dir)?;
                let tsr = timestamp::post(&client, url, &req.der)?;
                let added =
                    add(out, &dir, &tsr, Some(&req.expect), &roots).map_err(|f| match f {
                        Failure::Refuted(m) => Failure::refuted(format!("TSA {url}: {m}")),
                        f => f,
                    })?;
                if !out.json {
                    // A reader that left does not stop the other TSAs.
                    match report(out, &added) {
                        Ok(()) | Err(Failure::BrokenPipe) => {}
                        Err(e) => return Err(e),
                    }
                }
                stored.push(json_added(&added, Some(url)));
            }
            // --json: one document, a list with one token per TSA, as
            // `fingerprint` lists one key per file.
            if out.json {
                out.print(format_args!("{}", serde_json::Value::Array(stored)))?;
            }
            Ok(())
        }
    }
}

fn name_file(f: Failure, file: &Path) -> Failure {
    match f {
        Failure::Refuted(m) => {
            Failure::refuted(m.replacen("the response", &file.display().to_string(), 1))
        }
        f => f,
    }
}

fn add(
    out: &Out,
    dir: &Path,
    tsr: &[u8],
    expect: Option<&tsp::Expect>,
    roots: &[Anchor],
) -> Result<Added, Failure> {
    let mut waiting = |pid: Option<u32>| {
        let by = pid.map(|p| format!(" held by pid {p}")).unwrap_or_default();
        out.warn(format_args!(
            "waiting for the lock{by} (another writer is at work; at most {} s, see --wait)",
            out.wait.as_secs()
        ));
    };
    Ok(timestamp::add(
        dir,
        tsr,
        expect,
        roots,
        LockWait::For(out.wait),
        &mut waiting,
    )?)
}

fn request(out: &Out, dir: &Path, to: &Path) -> Result<(), Failure> {
    let req = timestamp::request(dir)?;
    write_new_file(to, &req.der)?;
    if out.json {
        out.print(format_args!(
            "{}",
            serde_json::json!({
                "request": to,
                "checkpoint": format!("checkpoints/{}", req.size),
                "size": req.size,
                "imprint": hex::encode(req.expect.imprint),
                "nonce": req.expect.nonce.as_ref().map(hex::encode),
            })
        ))
    } else {
        out.info(format_args!(
            "{}: RFC 3161 request for checkpoints/{} (SHA-256 {}); send it to a TSA, then `ledger timestamp add {} RESPONSE.tsr --request {} --tsa-ca ROOT.pem`",
            to.display(),
            req.size,
            hex::encode(req.expect.imprint),
            dir.display(),
            to.display()
        ))
    }
}

/// A stored token in `--json`: where, for which checkpoint, whether it was
/// written now, what the TSA said, and (online) which TSA.
fn json_added(a: &Added, tsa_url: Option<&str>) -> serde_json::Value {
    let mut v = serde_json::json!({
        "file": a.file,
        "checkpoint": format!("checkpoints/{}", a.size),
        "size": a.size,
        "stored": a.new,
        "stamp": a.stamp,
    });
    if let (Some(u), Some(m)) = (tsa_url, v.as_object_mut()) {
        m.insert("url".to_owned(), serde_json::json!(u));
    }
    v
}

fn report(out: &Out, a: &Added) -> Result<(), Failure> {
    if out.json {
        out.print(format_args!("{}", json_added(a, None)))
    } else {
        out.info(format_args!(
            "{}: events #0..#{} existed no later than {} ({}, serial {}){}",
            a.file,
            a.size.saturating_sub(1),
            a.stamp.time_text,
            a.stamp.tsa,
            a.stamp.serial,
            if a.new {
                ""
            } else {
                " (already stored; unchanged)"
            }
        ))
    }
}
