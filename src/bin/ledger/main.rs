//! The `ledger` command: parses arguments, calls the library, prints, and
//! maps outcomes to exit codes (0 ok, 1 verification failed, 2 usage or
//! I/O error). All logic lives in the library.

use std::io::Write as _;
use std::process::ExitCode;

mod audit;
mod cli;
mod error;
mod fingerprint;
mod input;
mod keys;
mod out;
mod proofs;
mod witness;
mod write;

use crate::cli::*;
use crate::error::Failure;
use crate::out::*;

use clap::Parser;

use ledger::core::verify;
use ledger::proofs::audit::Options;

fn main() -> ExitCode {
    // A file-size limit (`ulimit -f`) would otherwise kill the process
    // mid-write with SIGXFSZ, leaving no message; with a handler installed
    // the write fails with EFBIG instead, and is handled as any write
    // error: one line, exit 2, partial bytes cut, temporary files removed.
    let _ = signal_hook::flag::register(
        signal_hook::consts::SIGXFSZ,
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
    );
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version: clap's own text, on stdout.
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        // A mistake in the arguments: one line, like every other error
        // (README, "Exit codes"), with clap's tip if it has one.
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "ledger: {}",
                usage_line(&e.render().to_string())
            );
            return ExitCode::from(2);
        }
    };
    let out = Out::new(&cli);
    match run(cli, &out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::BrokenPipe) => ExitCode::SUCCESS,
        Err(f) => {
            // One line; a closed stderr is no reason to panic.
            let _ = writeln!(
                std::io::stderr(),
                "{}: {}",
                out.paint(ERROR, "ledger"),
                verify::terminal_safe(&f.message())
            );
            ExitCode::from(f.exit_code())
        }
    }
}

/// clap's error text ("error: ...", a tip, the usage) as one line.
fn usage_line(text: &str) -> String {
    // The first paragraph: the message, and what it lists.
    let first: Vec<&str> = text
        .lines()
        .map(str::trim)
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty())
        .collect();
    let first = first.join(" ");
    let first = first.strip_prefix("error: ").unwrap_or(&first);
    let mut line = if first.is_empty() {
        "invalid arguments".to_owned()
    } else {
        first.to_owned()
    };
    if let Some(tip) = text.lines().find_map(|l| l.trim().strip_prefix("tip: ")) {
        line.push_str(&format!(" ({tip})"));
    }
    if let Some(usage) = text.lines().find_map(|l| l.trim().strip_prefix("Usage: ")) {
        line.push_str(&format!("; usage: {usage}"));
    }
    verify::terminal_safe(&line)
}

fn run(cli: Cli, out: &Out) -> Result<(), Failure> {
    let json = out.json;
    match cli.command {
        Command::Keygen {
            name,
            passphrase,
            pass,
        } => keys::keygen(out, name, passphrase, pass),
        Command::Init {
            dir,
            key,
            title,
            parties,
            at,
            allow_future,
            pass,
        } => write::init(out, dir, key, title, parties, (at, allow_future), pass),
        Command::Append(args) => write::append_cmd(out, args),
        Command::Sign {
            dir,
            key,
            at,
            allow_future,
            target,
            pass,
        } => {
            let at = (at.as_deref(), allow_future);
            write::append(out, &dir, &key, &pass, at, AppendKind::Sign { target })
        }
        Command::Verify {
            dir,
            trust,
            head,
            proofs,
        } => audit::verify(out, dir, trust, head, proofs),
        Command::Log { dir } => {
            audit::report(out, &dir, &Options::default(), json, audit::Listing::Log)
        }
        Command::Head { dir } => audit::head(out, dir),
        Command::Repair { dir } => write::repair(out, dir),
        Command::Import { dir, file, docs } => write::import(out, dir, file, docs),
        Command::Export {
            dir,
            event,
            out: to,
        } => audit::export(out, &dir, event, &to),
        Command::Show { dir, document } => audit::show(out, &dir, &document, json),
        Command::Checkpoint {
            dir,
            key,
            add,
            log_key,
            pass,
        } => proofs::checkpoint(out, dir, key, add, log_key, pass),
        Command::Prove {
            dir,
            event,
            from,
            checkpoint: cp,
            out: to,
        } => proofs::prove(out, dir, event, from, cp, to),
        Command::CheckProof {
            bundle,
            event,
            trust,
            witnesses,
        } => proofs::check_proof(out, bundle, event, trust, witnesses),
        Command::Witness(WitnessCommand::Request {
            dir,
            old,
            checkpoint: cp,
            out: to,
        }) => witness::witness_request(out, dir, old, cp, to),
        Command::Witness(WitnessCommand::Cosign(args)) => witness::witness_cosign(out, args),
        Command::Vkey {
            key,
            ledger: dir,
            witness,
        } => keys::vkey(out, key, dir, witness),
        Command::Publish { dir, out: to } => proofs::publish(out, &dir, &to),
        Command::Fingerprint { files, pass } => fingerprint::fingerprint(out, files, pass),
        Command::Completions { shell } => completions(out, shell),
        Command::Man => man(out),
    }
}

/// `ledger completions SHELL`, made in memory and then printed, so that a
/// closed pipe is one error like any other.
fn completions(out: &Out, shell: clap_complete::Shell) -> Result<(), Failure> {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "ledger", &mut script);
    out.write(&script)
}

/// `ledger man`: the man page (roff).
fn man(out: &Out) -> Result<(), Failure> {
    let cmd = <Cli as clap::CommandFactory>::command();
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut page)
        .map_err(|e| Failure::usage(format!("cannot make the man page: {e}")))?;
    out.write(&page)
}
