//! `ledger witness`: a witness that cosigns checkpoints, as files.

use std::path::PathBuf;

use ledger::proofs::bundle;

use crate::cli::*;
use crate::error::Failure;
use crate::input::*;
use crate::out::*;

pub(crate) fn witness_request(
    out: &Out,
    dir: PathBuf,
    old: u64,
    cp: Option<PathBuf>,
    to: PathBuf,
) -> Result<(), Failure> {
    let cp = cp.as_deref().map(read_file).transpose()?;
    let body = bundle::witness_request(&dir, old, cp)?;
    write_new_file(&to, &body)?;
    if out.json {
        return out.print(serde_json::json!({"path": to, "old": old, "bytes": body.len()}));
    }
    out.info(format_args!(
        "{}: add-checkpoint request from size {old}",
        to.display()
    ))
}

pub(crate) fn witness_cosign(out: &Out, args: CosignArgs) -> Result<(), Failure> {
    let CosignArgs {
        request,
        key,
        name,
        state,
        log,
        out: to,
        pass,
    } = args;
    let key = pass.load(&key)?;
    let logs = log
        .iter()
        .map(|l| load_vkey(l, "--log"))
        .collect::<Result<Vec<_>, _>>()?;
    let req = read_input(
        &request,
        ledger::tlog::witness::MAX_REQUEST_BYTES as u64,
        "an add-checkpoint request",
    )?;
    let req = ledger::tlog::witness::AddCheckpoint::parse_or_bare(&req)?;
    let w = ledger::tlog::witness::Witness::open(&state, &name, &key, logs)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let note = w.cosign_note(&req, now)?;
    write_new_file(&to, &note.to_bytes())?;
    if out.json {
        return out.print(serde_json::json!({
            "path": to,
            "witness": name,
            "vkey": w.verifier().to_string(),
        }));
    }
    out.info(format_args!(
        "{}: cosigned by {name} (vkey {})",
        to.display(),
        w.verifier()
    ))
}
