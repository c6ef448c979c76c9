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
mod monitor;
mod offline;
mod out;
mod proofs;
mod report;
mod serve;
mod signer;
mod timestamp;
mod token;
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
        // (README, "Exit codes"), with clap's tip if it has one; with
        // --json anywhere before `--`, the JSON object too.
        Err(e) => {
            let f = Failure::usage(usage_line(&e.render().to_string()));
            let json = std::env::args_os()
                .skip(1)
                .take_while(|a| a != "--")
                .any(|a| a == "--json");
            return fail(&f, json, &|s| s.to_owned());
        }
    };
    let out = Out::new(&cli);
    match run(cli, &out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::BrokenPipe) => ExitCode::SUCCESS,
        Err(f) => fail(&f, out.json, &|s| out.paint(ERROR, s)),
    }
}

/// Reports a failure: one line on stderr and, with `--json`, one JSON
/// object on stdout, the only thing there (README, "Exit codes").
fn fail(f: &Failure, json: bool, paint: &dyn Fn(&str) -> String) -> ExitCode {
    // A closed stdout or stderr is no reason to panic, nor to change the
    // exit status: the verdict stands whoever reads it.
    if json {
        let mut so = std::io::stdout().lock();
        let _ = writeln!(so, "{}", f.json()).and_then(|()| so.flush());
    }
    let _ = writeln!(
        std::io::stderr(),
        "{}: {}",
        paint("ledger"),
        verify::terminal_safe(&f.message())
    );
    ExitCode::from(f.exit_code())
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
            pkcs11: Some(uri),
            pass,
        } => {
            let _ = passphrase;
            token::keygen(out, &uri, &name, &pass)
        }
        Command::Keygen {
            name,
            passphrase,
            pkcs11: None,
            pass,
        } => keys::keygen(out, name, passphrase, pass),
        Command::Init {
            dir,
            key,
            agent,
            title,
            parties,
            at,
            allow_future,
            pass,
        } => write::init(
            out,
            dir,
            (key, agent),
            title,
            parties,
            (at, allow_future),
            pass,
        ),
        Command::Append(args) => write::append_cmd(out, args),
        Command::Sign {
            dir,
            key,
            agent,
            at,
            allow_future,
            target,
            pass,
        } => {
            let at = (at.as_deref(), allow_future);
            let kind = AppendKind::Sign { target };
            write::append(out, &dir, (&key, agent), &pass, at, kind)
        }
        Command::Verify {
            dir,
            trust,
            head,
            proofs,
            allow_unwitnessed_tail,
        } => audit::verify(out, dir, trust, head, proofs, allow_unwitnessed_tail),
        Command::Report {
            dir,
            output,
            format,
            force,
            at,
            list_max,
            trust,
            head,
            proofs,
            allow_unwitnessed_tail,
        } => report::report(
            out,
            report::Request {
                dir,
                output,
                format,
                force,
                at,
                list_max,
            },
            audit::Checks {
                trust,
                head,
                proofs,
                allow_unwitnessed_tail,
            },
        ),
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
            policy,
            tls_ca,
            pass,
        } => proofs::checkpoint(out, dir, key, add, log_key, policy, tls_ca, pass),
        Command::Timestamp(args) => timestamp::timestamp(out, args),
        Command::Prove {
            dir,
            event,
            from,
            checkpoint: cp,
            out: to,
            format,
            key,
            pass,
        } => proofs::prove(out, dir, event, from, cp, to, format, key, pass),
        Command::CheckProof {
            bundle,
            event,
            fetch,
            entry,
            trust,
            witnesses,
        } => proofs::check_proof(out, bundle, event, fetch, entry, trust, witnesses),
        Command::Witness(WitnessCommand::Request {
            dir,
            old,
            checkpoint: cp,
            out: to,
        }) => witness::witness_request(out, dir, old, cp, to),
        Command::Witness(WitnessCommand::Cosign(args)) => witness::witness_cosign(out, args),
        Command::Witness(WitnessCommand::Serve(args)) => serve::witness_serve(out, args),
        Command::Vkey {
            key,
            ledger: dir,
            witness,
        } => keys::vkey(out, key, dir, witness),
        Command::Publish { dir, out: to } => proofs::publish(out, &dir, &to),
        Command::SignRequest(args) => offline::sign_request(out, args),
        Command::SignOffline {
            request,
            key,
            agent,
            output,
            force,
            yes,
            pass,
        } => offline::sign_offline(out, &request, (&key, agent), (&output, force), yes, &pass),
        Command::Attach { dir, signed } => offline::attach(out, &dir, &signed),
        Command::Monitor(args) => monitor::monitor(out, args),
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
    if out.json {
        let script = String::from_utf8_lossy(&script);
        return out.print(serde_json::json!({"shell": shell.to_string(), "script": script}));
    }
    out.write(&script)
}

/// `ledger man`: the man page (roff), one page for the whole command. Each
/// command is described in it (with `ledger COMMAND --help` for its
/// options) rather than in pages of its own, so it names no page that
/// does not exist; and it has the EXIT STATUS section of README, "Exit
/// codes".
fn man(out: &Out) -> Result<(), Failure> {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    cmd.build();
    let man = clap_mangen::Man::new(cmd.clone());
    let mut page = Vec::new();
    let cannot = |e: std::io::Error| Failure::usage(format!("cannot make the man page: {e}"));
    man.render_title(&mut page).map_err(cannot)?;
    man.render_name_section(&mut page).map_err(cannot)?;
    man.render_synopsis_section(&mut page).map_err(cannot)?;
    man.render_description_section(&mut page).map_err(cannot)?;
    man.render_options_section(&mut page).map_err(cannot)?;
    page.extend_from_slice(man_commands(&mut cmd).as_bytes());
    page.extend_from_slice(MAN_EXIT_STATUS.as_bytes());
    man.render_version_section(&mut page).map_err(cannot)?;
    if out.json {
        let page = String::from_utf8_lossy(&page);
        return out.print(serde_json::json!({ "man": page }));
    }
    out.write(&page)
}

const MAN_EXIT_STATUS: &str = ".SH \"EXIT STATUS\"
.TP
\\fB0\\fR
Success; for \\fBverify\\fR, the ledger verifies.
.TP
\\fB1\\fR
Verification failed: the ledger (or \\fB\\-\\-trust\\fR/\\fB\\-\\-head\\fR) is refuted, a proof or checkpoint does not check out, a document was never in the ledger, or a write was refused because the ledger does not verify.
.TP
\\fB2\\fR
Usage error, bad input (a key, a file, a refused event) or I/O error.
.PP
Errors are one line on standard error, starting with \\fBledger:\\fR. With \\fB\\-\\-json\\fR, a failure also prints one JSON object on standard output, and nothing else: \\fBok\\fR (false), \\fBexit\\fR, \\fBkind\\fR (usage, io or verification), \\fBmessage\\fR and \\fBerror\\fR.
";

/// The COMMANDS section: each command's usage line and what it does.
fn man_commands(cmd: &mut clap::Command) -> String {
    let mut roff = String::from(".SH COMMANDS\n");
    let mut entry = |sub: &mut clap::Command| {
        let usage = sub.render_usage().to_string();
        let usage = usage.strip_prefix("Usage: ").unwrap_or(&usage).to_owned();
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        roff.push_str(&format!(
            ".TP\n\\fB{}\\fR\n{}\n",
            roff_escape(&usage),
            roff_escape(&about)
        ));
    };
    for sub in cmd.get_subcommands_mut() {
        if sub.get_name() == "help" {
            continue;
        }
        if sub.has_subcommands() {
            for inner in sub.get_subcommands_mut() {
                if inner.get_name() != "help" {
                    entry(inner);
                }
            }
        } else {
            entry(sub);
        }
    }
    roff.push_str(".PP\nRun \\fBledger COMMAND \\-\\-help\\fR for the options of each command.\n");
    roff
}

/// Text made safe for roff: backslashes and hyphens escaped, and no line
/// starting with a control character.
fn roff_escape(text: &str) -> String {
    let t = text.replace('\\', "\\e").replace('-', "\\-");
    match t.starts_with(['.', '\'']) {
        true => format!("\\&{t}"),
        false => t,
    }
}
