//! `ledger witness`: a witness that cosigns checkpoints, as files.

use std::path::PathBuf;

use ledger::proofs::checkpoint;

use crate::cli::*;
use crate::error::*;
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
    let body = checkpoint::witness_request(&dir, old, cp)?;
    write_new_file(&to, &body)?;
    out.info(format_args!(
        "{}: add-checkpoint request from size {old}",
        to.display()
    ))?;
    Ok(())
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
    // An add-checkpoint request, or a bare checkpoint note: that is
    // a request from size 0, which a witness that has seen this
    // origin answers with its size (409) for a request to be made.
    let body = read_file(&request)?;
    let req = match ledger::tlog::witness::AddCheckpoint::parse(&body) {
        Ok(r) => r,
        Err(e) => match ledger::tlog::note::Note::parse(&body) {
            Ok(_) => ledger::tlog::witness::AddCheckpoint {
                old: 0,
                proof: Vec::new(),
                checkpoint: body,
            },
            Err(_) => return Err(e.into()),
        },
    };
    let w = ledger::tlog::witness::Witness::open(&state, &name, &key, logs)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let sigs = w.add_checkpoint(&req, now)?;
    let mut note = ledger::tlog::note::Note::parse(&req.checkpoint)
        .map_err(|e| Failure::usage(e.to_string()))?;
    for s in sigs {
        note.push_signature(s)
            .map_err(|e| Failure::usage(e.to_string()))?;
    }
    write_new_file(&to, &note.to_bytes())?;
    out.info(format_args!(
        "{}: cosigned by {name} (vkey {})",
        to.display(),
        w.verifier()
    ))?;
    Ok(())
}
