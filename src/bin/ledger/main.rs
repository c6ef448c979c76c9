//! The `ledger` command: parses arguments, calls the library, prints, and
//! maps outcomes to exit codes (0 ok, 1 verification failed, 2 usage or
//! I/O error). All logic lives in the library.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use zeroize::Zeroizing;

use ledger::base::crypto::{KeyError, PublicKey, SigningKey};
use ledger::base::time::Timestamp;
use ledger::core::format::{DocHash, DocId, Kid, Kind, PartyId, ProposalId, SessionId};
use ledger::core::verify::{self, VerifyError};
use ledger::core::writer::{self, Appended, WriteError, Writer};
use ledger::proofs::audit::{self, Options};
use ledger::proofs::checkpoint;

#[derive(Parser)]
#[command(
    name = "ledger",
    version,
    about = "A tamper-evident, signed, replayable record of how an agreement came to be"
)]
struct Cli {
    /// Print only errors and, for verify, the verdict line
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Say more about what is done (files written, timings)
    #[arg(short, long, global = true)]
    verbose: bool,
    /// Output one JSON document instead of text (for tools)
    #[arg(long, global = true)]
    json: bool,
    /// Colour: auto (on a terminal, unless NO_COLOR is set), always, never
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    color: ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a key pair: NAME.key (private, PKCS#8 PEM, mode 0600) and NAME.pub (SPKI PEM)
    Keygen {
        /// Path and base name of the key files, e.g. keys/most
        name: PathBuf,
        /// Protect the private key with a passphrase (asked on the terminal, or see --passphrase-file/-env)
        #[arg(long)]
        passphrase: bool,
        #[command(flatten)]
        pass: PassArgs,
    },
    /// Create a ledger: its genesis event names the title and the parties
    Init {
        /// The ledger directory to create (must not exist, or be empty)
        dir: PathBuf,
        /// Private key of the party that creates the ledger
        #[arg(long)]
        key: PathBuf,
        /// Title of the ledger, e.g. the name of the negotiation
        #[arg(long)]
        title: String,
        /// A party, as ID=PUBLIC_KEY_FILE (repeat for each party)
        #[arg(long = "party", value_name = "ID=FILE", required = true)]
        parties: Vec<String>,
        /// Time the signer claims, RFC 3339 (default: now)
        #[arg(long)]
        at: Option<String>,
        #[command(flatten)]
        pass: PassArgs,
    },
    /// Append an event to a ledger, signed with the acting party's key
    Append(AppendArgs),
    /// Sign the current version of a document (shortcut for `append ... sign`)
    Sign {
        dir: PathBuf,
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        at: Option<String>,
        #[command(flatten)]
        target: DocTarget,
        #[command(flatten)]
        pass: PassArgs,
    },
    /// Verify a ledger by replaying it from its first event
    Verify {
        dir: PathBuf,
        /// Require every party to have held one of these public keys, and each to be a party's key (a directory of .pub files, or files)
        #[arg(long, value_name = "PATH")]
        trust: Vec<PathBuf>,
        /// Require the ledger to contain the event with this hash (an earlier head)
        #[arg(long, value_name = "HASH")]
        head: Option<String>,
        #[command(flatten)]
        proofs: ProofTrust,
    },
    /// List the events of a ledger (after verifying it)
    Log { dir: PathBuf },
    /// Print the event count and head hash of a ledger (after verifying it)
    Head { dir: PathBuf },
    /// Remove a torn tail left by an interrupted append (appending does this too)
    Repair { dir: PathBuf },
    /// Import pre-signed events (a CBOR sequence) that continue the ledger's chain
    Import {
        dir: PathBuf,
        /// The events, as a CBOR sequence of COSE_Sign1 messages (FORMAT §3)
        file: PathBuf,
        /// A directory holding the bytes of the document versions the events draft or amend
        #[arg(long, value_name = "DIR")]
        docs: Option<PathBuf>,
    },
    /// Write one event's signed bytes, signature and signer key, to check with openssl
    Export {
        dir: PathBuf,
        /// The event's sequence number
        #[arg(long)]
        event: u64,
        /// Where to write the files (default: the current directory)
        #[arg(long, value_name = "DIR", default_value = ".")]
        out: PathBuf,
    },
    /// The history of one document file in the ledger: drafted, amended, approved, signed, executed
    Show {
        dir: PathBuf,
        /// The document file to look for (its exact bytes)
        #[arg(long)]
        document: PathBuf,
    },
    /// Sign a checkpoint of the ledger's Merkle tree into DIR/checkpoints/, or add a witness's cosignatures to one
    Checkpoint {
        dir: PathBuf,
        /// The signing key: a party's, or a dedicated log key (verifiers then need --log-key)
        #[arg(long, required_unless_present = "add", conflicts_with = "add")]
        key: Option<PathBuf>,
        /// A copy of a stored checkpoint carrying more signatures (e.g. from `ledger witness cosign`)
        #[arg(long, value_name = "NOTE")]
        add: Option<PathBuf>,
        #[command(flatten)]
        pass: PassArgs,
    },
    /// Write a proof bundle: that event N is in a checkpoint (--event), or that the log grew from an old checkpoint (--from)
    Prove {
        dir: PathBuf,
        /// The event's sequence number
        #[arg(long, required_unless_present = "from", conflicts_with = "from")]
        event: Option<u64>,
        /// An older checkpoint (a file) to prove the current one consistent with
        #[arg(long, value_name = "CHECKPOINT")]
        from: Option<PathBuf>,
        /// The checkpoint to prove against (default: the largest in DIR/checkpoints/)
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
        /// Where to write the bundle
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Check a proof bundle (or an event of a published directory, with --event) with nothing but trusted public keys
    CheckProof {
        /// A bundle from `ledger prove`, or a directory from `ledger publish`
        bundle: PathBuf,
        /// With a published directory: the event to prove from its tiles
        #[arg(long)]
        event: Option<u64>,
        /// The trusted public keys (a directory of .pub files, or files): parties' and log keys
        #[arg(long, value_name = "PATH", required = true)]
        trust: Vec<PathBuf>,
        #[command(flatten)]
        witnesses: WitnessPolicyArgs,
    },
    /// A witness: cosign checkpoints that extend what it saw (C2SP tlog-witness, as files)
    #[command(subcommand)]
    Witness(WitnessCommand),
    /// Print the note verifier key (vkey) of a public key: a ledger's log key (--ledger DIR) or a witness's (--witness NAME)
    Vkey {
        /// The public key (.pub)
        #[arg(long)]
        key: PathBuf,
        /// The ledger whose checkpoints the key signs (the name is its origin)
        #[arg(long, conflicts_with = "witness", required_unless_present = "witness")]
        ledger: Option<PathBuf>,
        /// A witness's cosignature key, with this name
        #[arg(long, value_name = "NAME")]
        witness: Option<String>,
    },
    /// Publish the ledger as static files (C2SP tlog-tiles): checkpoint, tiles, entry bundles, documents
    Publish { dir: PathBuf, out: PathBuf },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions { shell: clap_complete::Shell },
    /// Print the man page (roff)
    Man,
}

/// Keys and witnesses that checkpoints are checked against.
#[derive(Args, Clone, Default)]
struct ProofTrust {
    /// A public key (.pub) besides the parties' that may sign checkpoints
    #[arg(long, value_name = "FILE")]
    log_key: Vec<PathBuf>,
    #[command(flatten)]
    witnesses: WitnessPolicyArgs,
}

/// A k-of-n witness policy.
#[derive(Args, Clone, Default)]
struct WitnessPolicyArgs {
    /// A witness's vkey (NAME+ID+KEY, or a file holding one); repeat for each
    #[arg(long, value_name = "VKEY")]
    witness: Vec<String>,
    /// How many of the witnesses must have cosigned (default: all)
    #[arg(long, value_name = "K", requires = "witness")]
    quorum: Option<usize>,
}

impl WitnessPolicyArgs {
    fn policy(&self) -> Result<Option<ledger::tlog::note::WitnessPolicy>, Failure> {
        if self.witness.is_empty() {
            return Ok(None);
        }
        let witnesses = self
            .witness
            .iter()
            .map(|w| load_vkey(w, "--witness"))
            .collect::<Result<Vec<_>, _>>()?;
        let quorum = self.quorum.unwrap_or(witnesses.len());
        ledger::tlog::note::WitnessPolicy::new(witnesses, quorum)
            .map(Some)
            .map_err(|e| Failure::usage(format!("--witness/--quorum: {e}")))
    }
}

/// A vkey given on the command line, or the path of a file holding one.
fn load_vkey(arg: &str, what: &str) -> Result<ledger::tlog::note::NoteVerifier, Failure> {
    let text = match Path::new(arg).is_file() {
        true => std::fs::read_to_string(arg)
            .map_err(|e| Failure::usage(format!("{what} {arg}: {e}")))?,
        false => arg.to_owned(),
    };
    ledger::tlog::note::NoteVerifier::parse(text.trim())
        .map_err(|e| Failure::usage(format!("{what} {arg:?}: {e}")))
}

#[derive(Subcommand)]
enum WitnessCommand {
    /// Make the add-checkpoint request for a witness that holds size OLD (consistency proof + checkpoint)
    Request {
        dir: PathBuf,
        /// The size of the checkpoint the witness last cosigned (0 if none)
        #[arg(long)]
        old: u64,
        /// The checkpoint to send (default: the largest in DIR/checkpoints/)
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
        /// Where to write the request
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Cosign a checkpoint: check its log signature and its consistency with the largest tree seen for its origin, then add a cosignature
    Cosign {
        /// An add-checkpoint request (from `ledger witness request`), or a bare checkpoint for a witness that has seen none of its origin
        request: PathBuf,
        /// The witness's private key
        #[arg(long)]
        key: PathBuf,
        /// The witness's name (its key name in cosignatures)
        #[arg(long)]
        name: String,
        /// The witness's state directory (the largest tree seen, per origin)
        #[arg(long, value_name = "DIR")]
        state: PathBuf,
        /// A trusted log's vkey (from `ledger vkey --ledger`), or a file holding one; repeat for each
        #[arg(long, value_name = "VKEY", required = true)]
        log: Vec<String>,
        /// Where to write the cosigned checkpoint (for `ledger checkpoint DIR --add`)
        #[arg(long, short)]
        out: PathBuf,
        #[command(flatten)]
        pass: PassArgs,
    },
}

#[derive(Args)]
struct AppendArgs {
    /// The ledger directory
    dir: PathBuf,
    /// Private key of the acting party
    #[arg(long, global = true)]
    key: Option<PathBuf>,
    /// Time the signer claims, RFC 3339 (default: now)
    #[arg(long, global = true)]
    at: Option<String>,
    #[command(flatten)]
    pass: PassArgs,
    #[command(subcommand)]
    kind: AppendKind,
}

/// Where the passphrase of an encrypted key comes from. Never from an
/// argument (it would show in `ps` and shell history): from the terminal,
/// without echo, by default.
#[derive(Args, Clone, Default)]
struct PassArgs {
    /// Read the key's passphrase from the first line of this file
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        conflicts_with = "passphrase_env"
    )]
    passphrase_file: Option<PathBuf>,
    /// Read the key's passphrase from this environment variable
    #[arg(long, global = true, value_name = "VAR")]
    passphrase_env: Option<String>,
}

impl PassArgs {
    fn get(&self, prompt: &str) -> Result<Zeroizing<String>, KeyError> {
        let bad = |m: String| KeyError::Passphrase(m);
        let pass = if let Some(f) = &self.passphrase_file {
            let text = Zeroizing::new(
                std::fs::read_to_string(f)
                    .map_err(|e| bad(format!("--passphrase-file {}: {e}", f.display())))?,
            );
            Zeroizing::new(text.lines().next().unwrap_or("").to_owned())
        } else if let Some(var) = &self.passphrase_env {
            Zeroizing::new(
                std::env::var(var)
                    .map_err(|_| bad(format!("--passphrase-env {var}: the variable is not set")))?,
            )
        } else {
            Zeroizing::new(rpassword::prompt_password(prompt).map_err(|e| {
                bad(format!(
                    "no terminal to ask on ({e}); use --passphrase-file FILE or --passphrase-env VAR"
                ))
            })?)
        };
        if pass.is_empty() {
            return Err(bad("the passphrase is empty".into()));
        }
        Ok(pass)
    }

    fn load(&self, path: &Path) -> Result<SigningKey, KeyError> {
        SigningKey::from_file_with(path, &mut || {
            self.get(&format!("passphrase for {}: ", path.display()))
        })
    }
}

#[derive(Subcommand)]
enum AppendKind {
    /// A session opened
    SessionOpen {
        #[arg(long)]
        session: String,
        #[arg(long)]
        title: String,
        #[arg(long)]
        place: Option<String>,
        #[arg(long)]
        chair: Option<String>,
        #[arg(long)]
        notes: Option<String>,
    },
    /// A session closed
    SessionClose {
        #[arg(long)]
        session: String,
        #[arg(long)]
        notes: Option<String>,
    },
    /// A document drafted: its bytes are stored in the ledger
    Draft {
        #[arg(long)]
        doc: String,
        /// The document's file; its exact bytes are what is signed
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        title: String,
        /// A required signatory (repeat; default: every party)
        #[arg(long = "signatory", value_name = "PARTY")]
        signatories: Vec<String>,
        /// The document needs approval only, no signatures
        #[arg(long, conflicts_with = "signatories")]
        no_signatures: bool,
    },
    /// A new version of a document, superseding the current one
    Amend {
        #[arg(long)]
        doc: String,
        #[arg(long)]
        file: PathBuf,
        #[arg(long)]
        notes: Option<String>,
    },
    /// Approve the current version of a document
    Approve {
        #[command(flatten)]
        target: DocTarget,
    },
    /// Sign the current version of a document
    Sign {
        #[command(flatten)]
        target: DocTarget,
    },
    /// A note: free text for anything else that happened
    Note {
        #[arg(long)]
        text: String,
    },
    /// Add a key to the acting party (signed with a current key, --key); both keys stay current
    KeyAdd {
        /// The new private key; it signs a proof that its holder agrees (FORMAT §5.7)
        #[arg(long, value_name = "FILE")]
        new_key: PathBuf,
    },
    /// Replace the signing key (--key) with a new one: the old key stops being current
    KeyRotate {
        /// The new private key; it signs a proof that its holder agrees (FORMAT §5.7)
        #[arg(long, value_name = "FILE")]
        new_key: PathBuf,
    },
    /// Revoke a key of the acting party (e.g. a lost or compromised one); signed with a current key
    KeyRevoke {
        /// The key to revoke: its public key file, or its kid (64 hex digits, as `verify` shows)
        #[arg(long, value_name = "FILE_OR_KID")]
        revoke: String,
        /// Why, for the record (one line)
        #[arg(long)]
        reason: String,
    },
    /// Propose that parties join (--add) or leave (--remove); every current party that stays must approve
    PartiesPropose {
        /// The proposal's id (never reused in a ledger), e.g. admit-observer
        #[arg(long)]
        proposal: String,
        /// A party to add, as ID=PUBLIC_KEY_FILE (repeat); its private key must be given with --add-key
        #[arg(long = "add", value_name = "ID=FILE")]
        add: Vec<String>,
        /// The private key of a party to add (repeat); it signs a proof that its holder agrees (FORMAT §5.8)
        #[arg(long = "add-key", value_name = "FILE")]
        add_key: Vec<PathBuf>,
        /// A party to remove (repeat)
        #[arg(long = "remove", value_name = "ID")]
        remove: Vec<String>,
    },
    /// Approve the open proposal to change the parties
    PartiesApprove {
        /// The proposal's id
        #[arg(long)]
        proposal: String,
    },
}

#[derive(Args)]
struct DocTarget {
    /// The document id
    #[arg(long)]
    doc: String,
    /// Check that this file is the current version
    #[arg(long, conflicts_with = "version")]
    file: Option<PathBuf>,
    /// Check that this SHA-256 (hex) is the current version
    #[arg(long)]
    version: Option<String>,
}

/// A failed command: its exit code and one line for stderr.
struct Failure {
    code: u8,
    message: String,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: 2,
            message: message.into(),
        }
    }
}

impl From<KeyError> for Failure {
    fn from(e: KeyError) -> Self {
        Failure::usage(e.to_string())
    }
}

impl From<ledger::core::format::FormatError> for Failure {
    fn from(e: ledger::core::format::FormatError) -> Self {
        Failure::usage(e.to_string())
    }
}

impl From<ledger::base::time::TimeError> for Failure {
    fn from(e: ledger::base::time::TimeError) -> Self {
        Failure::usage(format!("--at: {e}"))
    }
}

impl From<WriteError> for Failure {
    fn from(e: WriteError) -> Self {
        let code = match e.failure() {
            Some(_) => 1,
            None => 2,
        };
        Failure {
            code,
            message: e.to_string(),
        }
    }
}

impl From<checkpoint::CheckpointError> for Failure {
    fn from(e: checkpoint::CheckpointError) -> Self {
        match e {
            checkpoint::CheckpointError::Write(w) => w.into(),
            checkpoint::CheckpointError::Refuted(m) => Failure {
                code: 1,
                message: m,
            },
            other => Failure::usage(other.to_string()),
        }
    }
}

/// A witness's refusal, with the tlog-witness status it stands for.
fn witness_failure(e: &ledger::tlog::witness::WitnessError) -> Failure {
    let status = e.status();
    // 409/422 mean the log's view and the witness's disagree: evidence.
    let code = if matches!(status, 409 | 422) { 1 } else { 2 };
    Failure {
        code,
        message: format!("witness refused (tlog-witness status {status}): {e}"),
    }
}

/// A file name without its extension, to name a key by.
fn key_label(path: &Path) -> String {
    path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}

/// RFC 3339 for POSIX seconds, for witnesses' timestamps.
fn unix_time(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(Timestamp::from_unix)
        .map_or_else(|| format!("{secs} s"), |t| t.to_string())
}

/// Writes a file that must not exist yet, durably.
fn write_new_file(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Failure::usage(format!("cannot create {}: {e}", path.display())))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| Failure::usage(format!("cannot write {}: {e}", path.display())))
}

impl From<VerifyError> for Failure {
    fn from(e: VerifyError) -> Self {
        let code = match e {
            VerifyError::Failed(_) => 1,
            _ => 2,
        };
        Failure {
            code,
            message: e.to_string(),
        }
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let out = Out::new(&cli);
    match run(cli, &out) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!(
                "{}: {}",
                out.paint(ERROR, "ledger"),
                verify::terminal_safe(&f.message)
            );
            ExitCode::from(f.code)
        }
    }
}

const ERROR: anstyle::Style = anstyle::AnsiColor::Red.on_default().bold();
const GOOD: anstyle::Style = anstyle::AnsiColor::Green.on_default().bold();
const WARN: anstyle::Style = anstyle::AnsiColor::Yellow.on_default().bold();

/// How to print: quiet or verbose, with colour or without.
struct Out {
    json: bool,
    quiet: bool,
    verbose: bool,
    color_out: bool,
    color_err: bool,
}

impl Out {
    fn new(cli: &Cli) -> Self {
        use std::io::IsTerminal;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let pick = |tty: bool| match cli.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !no_color,
        };
        Out {
            json: cli.json,
            quiet: cli.quiet,
            verbose: cli.verbose && !cli.quiet,
            color_out: pick(std::io::stdout().is_terminal()),
            color_err: pick(std::io::stderr().is_terminal()),
        }
    }

    fn paint(&self, style: anstyle::Style, text: &str) -> String {
        if self.color_err {
            format!("{style}{text}{style:#}")
        } else {
            text.to_owned()
        }
    }

    fn paint_out(&self, style: anstyle::Style, text: &str) -> String {
        if self.color_out {
            format!("{style}{text}{style:#}")
        } else {
            text.to_owned()
        }
    }

    /// Colours the markers of a text report: the verdict and document states.
    fn report_text(&self, text: &str) -> String {
        if !self.color_out {
            return text.to_owned();
        }
        text.replace("\nOK: ", &format!("\n{} ", self.paint_out(GOOD, "OK:")))
            .replace(
                "    EXECUTED",
                &format!("    {}", self.paint_out(GOOD, "EXECUTED")),
            )
            .replace(
                "    NOT EXECUTED",
                &format!("    {}", self.paint_out(WARN, "NOT EXECUTED")),
            )
    }

    fn info(&self, text: impl std::fmt::Display) {
        if !self.quiet {
            println!("{text}");
        }
    }

    fn note(&self, text: impl std::fmt::Display) {
        if self.verbose {
            eprintln!("ledger: {text}");
        }
    }

    /// A progress bar on stderr, drawn only on a terminal and only once the
    /// work has taken more than a second.
    fn progress(&self, total: u64, what: &'static str) -> Progress {
        use std::io::IsTerminal;
        let enabled = !self.quiet && std::io::stderr().is_terminal();
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(total),
            indicatif::ProgressDrawTarget::hidden(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(&format!(
            "{what} {{wide_bar}} {{bytes}}/{{total_bytes}} ({{eta}})"
        )) {
            bar.set_style(style);
        }
        Progress {
            bar,
            enabled,
            shown: false,
            start: std::time::Instant::now(),
        }
    }
}

struct Progress {
    bar: indicatif::ProgressBar,
    enabled: bool,
    shown: bool,
    start: std::time::Instant,
}

impl Progress {
    fn set(&mut self, pos: u64) {
        if self.enabled && !self.shown && self.start.elapsed() > std::time::Duration::from_secs(1) {
            self.bar
                .set_draw_target(indicatif::ProgressDrawTarget::stderr());
            self.shown = true;
        }
        self.bar.set_position(pos);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

fn parse_time(at: Option<&str>) -> Result<Option<Timestamp>, Failure> {
    Ok(at.map(Timestamp::parse).transpose()?)
}

fn read_file(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))
}

fn log_size(dir: &Path) -> u64 {
    std::fs::metadata(dir.join(ledger::core::store::LOG_FILE)).map_or(0, |m| m.len())
}

fn run(cli: Cli, out: &Out) -> Result<(), Failure> {
    let json = out.json;
    match cli.command {
        Command::Keygen {
            name,
            passphrase,
            pass,
        } => {
            let secret =
                if passphrase || pass.passphrase_file.is_some() || pass.passphrase_env.is_some() {
                    let p = pass.get("passphrase for the new key: ")?;
                    if pass.passphrase_file.is_none() && pass.passphrase_env.is_none() {
                        let again = pass.get("the same passphrase again: ")?;
                        if *again != *p {
                            return Err(Failure::usage(
                                "the passphrases do not match; no key was written",
                            ));
                        }
                    }
                    Some(p)
                } else {
                    None
                };
            let (key, public) =
                SigningKey::generate().write_pair(&name, secret.as_ref().map(|p| p.as_str()))?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"private_key": key, "public_key": public})
                );
                return Ok(());
            }
            out.info(format_args!(
                "wrote private key {} (mode 0600; keep it secret, back it up offline)",
                key.display()
            ));
            out.info(format_args!(
                "wrote public key  {} (give this to the other parties and auditors)",
                public.display()
            ));
            Ok(())
        }
        Command::Init {
            dir,
            key,
            title,
            parties,
            at,
            pass,
        } => {
            let time = parse_time(at.as_deref())?;
            let key = pass.load(&key)?;
            let mut map = BTreeMap::new();
            for p in &parties {
                let (id, file) = p.split_once('=').ok_or_else(|| {
                    Failure::usage(format!("--party {p:?}: expected ID=PUBLIC_KEY_FILE"))
                })?;
                let id =
                    PartyId::new(id).map_err(|e| Failure::usage(format!("--party {p:?}: {e}")))?;
                let public = PublicKey::from_file(Path::new(file))?;
                if map.insert(id.clone(), public).is_some() {
                    return Err(Failure::usage(format!("--party {id} is given twice")));
                }
            }
            let done = writer::init(&dir, &key, &title, &map, time)?;
            print_appended(out, &dir, "ledger-created", &done);
            Ok(())
        }
        Command::Append(args) => {
            let key = args.key.ok_or_else(|| {
                Failure::usage("append needs --key FILE (the acting party's private key)")
            })?;
            append(
                out,
                &args.dir,
                &key,
                &args.pass,
                args.at.as_deref(),
                args.kind,
            )
        }
        Command::Sign {
            dir,
            key,
            at,
            target,
            pass,
        } => append(
            out,
            &dir,
            &key,
            &pass,
            at.as_deref(),
            AppendKind::Sign { target },
        ),
        Command::Verify {
            dir,
            trust,
            head,
            proofs,
        } => {
            let mut options = Options::default();
            for k in &proofs.log_key {
                let key = PublicKey::from_file(k)
                    .map_err(|e| Failure::usage(format!("--log-key {}: {e}", k.display())))?;
                options.log_keys.push((key_label(k), key));
            }
            options.witnesses = proofs.witnesses.policy()?;
            // A published directory (`ledger publish`) is checked as the
            // ledger its entry bundles and checkpoint make up.
            let unpacked;
            let dir = if ledger::proofs::publish::is_published(&dir) {
                unpacked = tempfile::tempdir().map_err(|e| {
                    Failure::usage(format!("cannot make a temporary directory: {e}"))
                })?;
                let size = ledger::proofs::publish::unpack(&dir, unpacked.path())?;
                // Not with --json: stdout holds one JSON document.
                if !json {
                    out.info(format_args!(
                        "{}: a published ledger; verifying its {size} events and their tiles",
                        dir.display()
                    ));
                }
                unpacked.path().to_owned()
            } else {
                dir
            };
            if !trust.is_empty() {
                options.trust = Some(load_trusted(&trust)?);
            }
            if let Some(h) = head {
                options.head =
                    Some(ledger::core::format::EventHash::from_hex(&h).map_err(|_| {
                        Failure::usage(format!(
                            "--head {h:?}: expected the 64 hex digits of an event hash"
                        ))
                    })?);
            }
            report(out, &dir, &options, json, Listing::Timeline)
        }
        Command::Log { dir } => report(out, &dir, &Options::default(), json, Listing::Log),
        Command::Head { dir } => {
            let r = audit::verify_with(&dir, &Options::default(), &mut |_| {})
                .map_err(|e| verify_failure(e, json))?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"count": r.ledger.count, "head": r.ledger.head})
                );
            } else {
                println!("{} {}", r.ledger.count, r.ledger.head);
            }
            Ok(())
        }
        Command::Repair { dir } => {
            let w = Writer::repair(&dir)?;
            match w.repaired() {
                Some(n) => out.info(format_args!(
                    "removed a torn tail of {n} bytes; {} events intact",
                    w.state().count
                )),
                None => out.info(format_args!(
                    "nothing to repair: {} events, the log ends cleanly",
                    w.state().count
                )),
            }
            Ok(())
        }
        Command::Import { dir, file, docs } => {
            let events = read_file(&file)?;
            let documents = match &docs {
                Some(d) => writer::index_documents(d)
                    .map_err(|e| Failure::usage(format!("--docs: {e}")))?,
                None => BTreeMap::new(),
            };
            let mut w = Writer::open(&dir)?;
            if let Some(n) = w.repaired() {
                eprintln!("ledger: removed a torn tail of {n} bytes left by an interrupted append");
            }
            let mut progress = out.progress(events.len() as u64, "importing");
            let started = std::time::Instant::now();
            let done = w.import(&events, &documents, |p| progress.set(p));
            progress.finish();
            let done = done?;
            out.note(format_args!(
                "{} groups, {:.2?}",
                done.groups,
                started.elapsed()
            ));
            if json {
                println!(
                    "{}",
                    serde_json::json!({"ledger": dir, "first_seq": done.first_seq, "count": done.count, "head": done.head, "groups": done.groups})
                );
                return Ok(());
            }
            out.info(format_args!(
                "{}: imported events #{} to #{} ({} events), head {}",
                dir.display(),
                done.first_seq,
                done.first_seq + done.count - 1,
                done.count,
                done.head
            ));
            Ok(())
        }
        Command::Export {
            dir,
            event,
            out: to,
        } => export(out, &dir, event, &to),
        Command::Show { dir, document } => show(out, &dir, &document, json),
        Command::Checkpoint {
            dir,
            key,
            add,
            pass,
        } => {
            let written = match (key, add) {
                (Some(k), _) => checkpoint::checkpoint(&dir, &pass.load(&k)?)?,
                (None, Some(a)) => checkpoint::add_signatures(&dir, &read_file(&a)?)?,
                (None, None) => return Err(Failure::usage("give --key or --add")),
            };
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "path": written.path,
                        "size": written.size,
                        "root": hex::encode(written.root),
                        "added": written.added,
                        "note": String::from_utf8_lossy(&written.note),
                    })
                );
            } else {
                out.info(format_args!(
                    "{}: checkpoint of {} events, root {}{}",
                    written.path.display(),
                    written.size,
                    hex::encode(written.root),
                    if written.added {
                        ""
                    } else {
                        " (already signed so; unchanged)"
                    }
                ));
            }
            Ok(())
        }
        Command::Prove {
            dir,
            event,
            from,
            checkpoint: cp,
            out: to,
        } => {
            let cp = cp.as_deref().map(read_file).transpose()?;
            let bundle = match (event, from) {
                (Some(n), _) => checkpoint::prove_event(&dir, n, cp)?,
                (None, Some(f)) => checkpoint::prove_growth(&dir, read_file(&f)?, cp)?,
                (None, None) => return Err(Failure::usage("give --event or --from")),
            };
            let bytes = bundle.encode();
            write_new_file(&to, &bytes)?;
            out.info(format_args!(
                "{}: {} proof bundle, {} bytes",
                to.display(),
                match bundle {
                    checkpoint::Bundle::Inclusion { .. } => "inclusion",
                    checkpoint::Bundle::Consistency { .. } => "consistency",
                },
                bytes.len()
            ));
            Ok(())
        }
        Command::CheckProof {
            bundle,
            event,
            trust,
            witnesses,
        } => {
            let trusted = load_trusted(&trust)?;
            let policy = witnesses.policy()?;
            let bytes = match (bundle.is_dir(), event) {
                (true, Some(n)) => {
                    ledger::proofs::publish::bundle_from_published(&bundle, n)?.encode()
                }
                (true, None) => {
                    return Err(Failure::usage(
                        "a published directory needs --event N: the event to prove",
                    ))
                }
                (false, Some(_)) => {
                    return Err(Failure::usage(
                        "--event is for published directories; a bundle names its event",
                    ))
                }
                (false, None) => read_file(&bundle)?,
            };
            let proven =
                checkpoint::check_bundle(&bytes, &trusted, policy.as_ref()).map_err(|e| {
                    if let (true, checkpoint::CheckpointError::Refuted(r)) = (json, &e) {
                        println!("{}", serde_json::json!({"verified": false, "error": r}));
                    }
                    Failure::from(e)
                })?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&serde_json::json!({"verified": true, "proof": proven}))
                        .unwrap_or_default()
                );
                return Ok(());
            }
            let witnessed = match proven.cosigned_by.is_empty() {
                true => String::new(),
                false => format!(
                    "; cosigned by {}",
                    proven
                        .cosigned_by
                        .iter()
                        .map(|c| format!("{} (at {})", c.witness, unix_time(c.time)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            let what = match (&proven.event, proven.old_size) {
                (Some(e), _) => format!(
                    "event #{} ({} by {}, {}, hash {}, signed with trusted key {}) is in",
                    e.index, e.kind, e.author, e.time, e.hash, e.key
                ),
                (None, Some(old)) => {
                    format!("the log at size {old} is a prefix of (only grew into)")
                }
                (None, None) => "proven:".to_owned(),
            };
            println!(
                "OK: {what} {} at size {}, root {}, checkpoint signed by {}{witnessed}",
                proven.origin,
                proven.size,
                proven.root,
                proven.signed_by.join(", ")
            );
            Ok(())
        }
        Command::Witness(WitnessCommand::Request {
            dir,
            old,
            checkpoint: cp,
            out: to,
        }) => {
            let cp = cp.as_deref().map(read_file).transpose()?;
            let body = checkpoint::witness_request(&dir, old, cp)?;
            write_new_file(&to, &body)?;
            out.info(format_args!(
                "{}: add-checkpoint request from size {old}",
                to.display()
            ));
            Ok(())
        }
        Command::Witness(WitnessCommand::Cosign {
            request,
            key,
            name,
            state,
            log,
            out: to,
            pass,
        }) => {
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
                    Err(_) => return Err(witness_failure(&e)),
                },
            };
            let w = ledger::tlog::witness::Witness::open(&state, &name, &key, logs)
                .map_err(|e| witness_failure(&e))?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let sigs = w
                .add_checkpoint(&req, now)
                .map_err(|e| witness_failure(&e))?;
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
            ));
            Ok(())
        }
        Command::Vkey {
            key,
            ledger: dir,
            witness,
        } => {
            let public = PublicKey::from_file(&key)
                .map_err(|e| Failure::usage(format!("--key {}: {e}", key.display())))?;
            use ledger::tlog::note::{NoteVerifier, VerifierKind};
            let v = match (dir, witness) {
                (Some(d), _) => {
                    let w = Writer::open(&d)?;
                    NoteVerifier::new(
                        &checkpoint::origin(&w.state().ledger),
                        VerifierKind::Ed25519,
                        public,
                    )
                }
                (None, Some(name)) => NoteVerifier::new(&name, VerifierKind::CosignatureV1, public),
                (None, None) => return Err(Failure::usage("give --ledger or --witness")),
            }
            .map_err(|e| Failure::usage(e.to_string()))?;
            println!("{v}");
            Ok(())
        }
        Command::Publish { dir, out: to } => publish(out, &dir, &to),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "ledger", &mut std::io::stdout());
            Ok(())
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(cmd)
                .render(&mut std::io::stdout())
                .map_err(|e| Failure::usage(format!("cannot write the man page: {e}")))
        }
    }
}

fn publish(out: &Out, dir: &Path, to: &Path) -> Result<(), Failure> {
    let p = ledger::proofs::publish::publish(dir, to)?;
    out.info(format_args!(
        "{}: published {} events (previously {}): {} new tiles, {} new entry bundles, {} new documents",
        to.display(),
        p.size,
        p.previous,
        p.tiles,
        p.bundles,
        p.documents
    ));
    Ok(())
}

fn verify_failure(e: VerifyError, json: bool) -> Failure {
    if let (true, VerifyError::Failed(f)) = (json, &e) {
        println!("{}", serde_json::json!({"verified": false, "error": f}));
    }
    e.into()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Listing {
    Timeline,
    Log,
}

fn spool_err(e: std::io::Error) -> Failure {
    Failure::usage(format!("cannot write a temporary file: {e}"))
}

/// Verifies and prints. The timeline is spooled to an unnamed temporary
/// file as the replay goes, and printed only once the whole ledger is
/// proven, so that memory stays flat and nothing unproven is ever shown.
fn report(
    out: &Out,
    dir: &Path,
    options: &Options,
    json: bool,
    listing: Listing,
) -> Result<(), Failure> {
    use std::io::{BufWriter, Seek, Write};
    let keep = !out.quiet || json;
    let spool = tempfile::tempfile().map_err(spool_err)?;
    let mut w = BufWriter::new(spool);
    let mut first = true;
    let mut err: Option<std::io::Error> = None;
    let mut progress = out.progress(log_size(dir), "verifying");
    let started = std::time::Instant::now();
    let result = audit::verify_with(dir, options, &mut |v: verify::Visit<'_>| {
        progress.set(v.offset());
        if !keep || err.is_some() {
            return;
        }
        let e = v.entry();
        let r = if json {
            let sep = if first { "" } else { "," };
            first = false;
            write!(w, "{sep}")
                .and_then(|()| serde_json::to_writer(&mut w, &e).map_err(std::io::Error::other))
        } else if listing == Listing::Log {
            writeln!(
                w,
                "{:<4} {}  {}  {:<8} {:<17} {}",
                e.seq,
                e.hash,
                verify::terminal_safe(&e.time),
                e.author.as_str(),
                e.kind,
                verify::terminal_safe(&e.summary)
            )
        } else {
            w.write_all(verify::Report::timeline_entry(&e).as_bytes())
        };
        if let Err(e) = r {
            err = Some(e);
        }
    });
    progress.finish();
    let r = result.map_err(|e| verify_failure(e, json))?;
    out.note(format_args!(
        "verified {} events in {:.2?}",
        r.ledger.count,
        started.elapsed()
    ));
    if let Some(e) = err {
        return Err(spool_err(e));
    }
    let mut spool = w.into_inner().map_err(|e| spool_err(e.into_error()))?;
    spool.rewind().map_err(spool_err)?;
    let stdout = std::io::stdout();
    let mut so = stdout.lock();
    let print_err = |e: std::io::Error| Failure::usage(format!("cannot write to stdout: {e}"));
    if json {
        let mut v = serde_json::to_value(&r).map_err(|e| Failure::usage(e.to_string()))?;
        if let Some(m) = v.as_object_mut() {
            m.remove("events");
        }
        let head = serde_json::to_string_pretty(&v).map_err(|e| Failure::usage(e.to_string()))?;
        // Splice the spooled events array in before the closing brace.
        let head = head.trim_end().trim_end_matches('}').trim_end();
        write!(so, "{head},\n  \"events\": [").map_err(print_err)?;
        std::io::copy(&mut spool, &mut so).map_err(print_err)?;
        writeln!(so, "]\n}}").map_err(print_err)?;
    } else if out.quiet {
        write!(
            so,
            "{}",
            out.report_text(&format!("\n{}", r.ledger.verdict()))
                .trim_start()
        )
        .map_err(print_err)?;
    } else if listing == Listing::Log {
        std::io::copy(&mut spool, &mut so).map_err(print_err)?;
    } else {
        so.write_all(out.report_text(&r.header()).as_bytes())
            .map_err(print_err)?;
        std::io::copy(&mut spool, &mut so).map_err(print_err)?;
        so.write_all(out.report_text(&r.footer()).as_bytes())
            .map_err(print_err)?;
    }
    Ok(())
}

fn load_trusted(paths: &[PathBuf]) -> Result<Vec<(String, PublicKey)>, Failure> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let entries = std::fs::read_dir(p)
                .map_err(|e| Failure::usage(format!("--trust {}: {e}", p.display())))?;
            let mut files: Vec<PathBuf> =
                entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            files.sort();
            // A private key has no business among trusted public keys:
            // say so rather than skip it silently.
            for f in &files {
                if let Ok(text) = std::fs::read_to_string(f) {
                    if text.contains("PRIVATE KEY-----") {
                        return Err(Failure::usage(format!(
                            "--trust {}: {} is a private key; remove it from the directory of trusted public keys (and treat it as exposed)",
                            p.display(),
                            f.display()
                        )));
                    }
                }
            }
            files.retain(|f| f.extension().is_some_and(|x| x == "pub"));
            if files.is_empty() {
                return Err(Failure::usage(format!(
                    "--trust {}: no .pub files in this directory",
                    p.display()
                )));
            }
            for f in files {
                out.push((f.display().to_string(), PublicKey::from_file(&f)?));
            }
        } else {
            out.push((p.display().to_string(), PublicKey::from_file(p)?));
        }
    }
    Ok(out)
}

fn export(out: &Out, dir: &Path, index: u64, to: &Path) -> Result<(), Failure> {
    let e = verify::export_event(dir, index)?;
    let base = to.join(format!("event-{index}"));
    let files = [
        ("tbs", e.to_be_signed.clone()),
        ("sig", e.signature.to_vec()),
        ("pub", e.public_key.to_pem().into_bytes()),
        ("cbor", e.stored.clone()),
    ];
    // Refuse to overwrite, like keygen: an export may be evidence.
    for (ext, _) in &files {
        let p = base.with_extension(ext);
        if p.exists() {
            return Err(Failure::usage(format!(
                "{} already exists; refusing to overwrite it",
                p.display()
            )));
        }
    }
    for (ext, bytes) in &files {
        let p = base.with_extension(ext);
        std::fs::write(&p, bytes)
            .map_err(|err| Failure::usage(format!("cannot write {}: {err}", p.display())))?;
    }
    let b = base.display();
    out.info(format_args!(
        "event {index} by {}, hash {}",
        e.author, e.hash
    ));
    out.info(format_args!(
        "  {b}.tbs   the signed bytes (COSE Sig_structure, FORMAT §5.2)"
    ));
    out.info(format_args!("  {b}.sig   the 64-byte Ed25519 signature"));
    out.info(format_args!(
        "  {b}.pub   {}'s public key (compare it with the one you trust)",
        e.author
    ));
    out.info(format_args!(
        "  {b}.cbor  the event's stored bytes (sha256sum gives its hash)"
    ));
    out.info(format_args!("check the signature with:\n  openssl pkeyutl -verify -pubin -inkey {b}.pub -rawin -in {b}.tbs -sigfile {b}.sig"));
    Ok(())
}

fn show(out: &Out, dir: &Path, document: &Path, json: bool) -> Result<(), Failure> {
    let hash = DocHash::of(&read_file(document)?);
    let mut entries = Vec::new();
    let r = audit::verify_with(dir, &Options::default(), &mut |v: verify::Visit<'_>| {
        let e = v.entry();
        if e.document.is_some() {
            entries.push(e);
        }
    })
    .map_err(|e| verify_failure(e, json))?;
    // Every document that ever had this exact version.
    let ids: Vec<DocId> = entries
        .iter()
        .filter(|e| e.version == Some(hash))
        .filter_map(|e| e.document.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let history: Vec<&verify::Entry> = entries
        .iter()
        .filter(|e| e.document.as_ref().is_some_and(|d| ids.contains(d)))
        .collect();
    let docs: Vec<&verify::DocReport> = r
        .ledger
        .documents
        .iter()
        .filter(|d| ids.contains(&d.id))
        .collect();
    if json {
        println!(
            "{}",
            serde_json::json!({"sha256": hash, "found": !ids.is_empty(), "documents": docs, "history": history, "head": r.ledger.head})
        );
    }
    if ids.is_empty() {
        return Err(Failure {
            code: 1,
            message: format!(
                "{} (sha256 {hash}) was never drafted, amended, approved or signed in this ledger ({} events verified)",
                document.display(),
                r.ledger.count
            ),
        });
    }
    if json {
        return Ok(());
    }
    for d in docs {
        let is_current = d.version == hash;
        out.info(format_args!(
            "{} \"{}\"",
            d.id,
            verify::terminal_safe(&d.title)
        ));
        out.info(format_args!(
            "  this file (sha256 {hash}) is {}",
            if is_current {
                format!("its current version (version {})", d.version_number)
            } else {
                format!(
                    "a superseded version; the current one is version {} ({})",
                    d.version_number, d.version
                )
            }
        ));
        for e in history
            .iter()
            .filter(|e| e.document.as_ref() == Some(&d.id))
        {
            let mark = if e.version == Some(hash) { "*" } else { " " };
            out.info(format_args!(
                "  {mark} #{:<4} {}  {:<6}  {}",
                e.seq,
                verify::terminal_safe(&e.time),
                e.author.as_str(),
                verify::terminal_safe(&e.summary)
            ));
        }
        let state = match (d.status, is_current) {
            ("executed", true) => out.paint_out(GOOD, "EXECUTED: this file is the executed version"),
            ("no-signatures-required", true) => "no signatures required".to_owned(),
            (_, true) => out.paint_out(WARN, &format!("NOT EXECUTED: awaiting signatures from {}", d.awaiting.iter().map(|p| p.to_string()).collect::<Vec<_>>().join(", "))),
            (_, false) => out.paint_out(WARN, "this file is NOT the current version: its signatures and approvals, marked *, no longer count"),
        };
        out.info(format_args!("  {state}"));
    }
    out.info(format_args!(
        "({} events verified, head {})",
        r.ledger.count, r.ledger.head
    ));
    Ok(())
}

fn print_appended(out: &Out, dir: &Path, kind: &str, a: &Appended) {
    if out.json {
        println!(
            "{}",
            serde_json::json!({"ledger": dir, "seq": a.seq, "kind": kind, "author": a.author, "hash": a.hash, "offset": a.offset})
        );
        return;
    }
    out.info(format_args!(
        "{}: appended event #{} ({kind}) by {}, hash {}",
        dir.display(),
        a.seq,
        a.author,
        a.hash
    ));
}

fn target_version(w: &mut Writer, t: &DocTarget) -> Result<(DocId, DocHash), Failure> {
    let doc = DocId::new(&t.doc).map_err(|e| Failure::usage(format!("--doc: {e}")))?;
    let current = w.current_version(&doc)?.ok_or_else(|| {
        Failure::usage(format!(
            "no document {:?} has been drafted in this ledger",
            t.doc
        ))
    })?;
    let wanted = match (&t.file, &t.version) {
        (Some(f), _) => {
            let h = DocHash::of(&read_file(f)?);
            if h != current {
                return Err(Failure::usage(format!(
                    "{} (sha256 {h}) is not the current version of {doc} (sha256 {current})",
                    f.display()
                )));
            }
            h
        }
        (None, Some(v)) => DocHash::from_hex(v)
            .map_err(|_| Failure::usage(format!("--version {v:?}: expected 64 hex digits")))?,
        (None, None) => current,
    };
    Ok((doc, wanted))
}

/// `key-revoke --revoke`: a kid in hex, or a public key file whose kid it
/// is.
fn revoked_kid(arg: &str) -> Result<Kid, Failure> {
    if arg.len() == 64 && arg.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Kid::from_hex(arg).map_err(|e| Failure::usage(format!("--revoke: {e}")));
    }
    let path = Path::new(arg);
    if !path.exists() {
        return Err(Failure::usage(format!(
            "--revoke {arg:?}: no such file, and not a kid (64 hex digits)"
        )));
    }
    let key = PublicKey::from_file(path)?;
    Ok(Kid(key.fingerprint()))
}

fn proposal_id(s: &str) -> Result<ProposalId, Failure> {
    ProposalId::new(s).map_err(|e| Failure::usage(format!("--proposal: {e}")))
}

/// `parties-propose --add ID=FILE.pub ... --add-key FILE.key ...`: each
/// party to add with its private key, matched by public key, so that the
/// key can sign its party proof (FORMAT §5.8). Every --add needs its
/// --add-key and every --add-key an --add.
fn joining_parties(
    add: &[String],
    add_key: &[PathBuf],
    pass: &PassArgs,
) -> Result<Vec<(PartyId, SigningKey)>, Failure> {
    let mut keys: Vec<(PathBuf, SigningKey)> = Vec::new();
    for path in add_key {
        keys.push((path.clone(), pass.load(path)?));
    }
    let mut out = Vec::new();
    for spec in add {
        let (id, file) = spec.split_once('=').ok_or_else(|| {
            Failure::usage(format!("--add {spec:?}: expected ID=PUBLIC_KEY_FILE"))
        })?;
        let id = PartyId::new(id).map_err(|e| Failure::usage(format!("--add: {e}")))?;
        let public = PublicKey::from_file(Path::new(file))?;
        let Some(i) = keys.iter().position(|(_, k)| k.public() == public) else {
            return Err(Failure::usage(format!(
                "--add {spec}: no --add-key is the private key of {file}; the new party's key must sign its proof (FORMAT §5.8)"
            )));
        };
        let (_, key) = keys.remove(i);
        out.push((id, key));
    }
    if let Some((path, _)) = keys.first() {
        return Err(Failure::usage(format!(
            "--add-key {}: its public key is not given with --add ID=FILE",
            path.display()
        )));
    }
    Ok(out)
}

fn append(
    out: &Out,
    dir: &Path,
    key: &Path,
    pass: &PassArgs,
    at: Option<&str>,
    kind: AppendKind,
) -> Result<(), Failure> {
    let time = parse_time(at)?;
    let key = pass.load(key)?;
    // Arguments that name files are read before the ledger is opened, so
    // that a mistake in them changes nothing.
    let new_key = match &kind {
        AppendKind::KeyAdd { new_key } | AppendKind::KeyRotate { new_key } => {
            Some(pass.load(new_key)?)
        }
        _ => None,
    };
    let revoked = match &kind {
        AppendKind::KeyRevoke { revoke, .. } => Some(revoked_kid(revoke)?),
        _ => None,
    };
    let joining = match &kind {
        AppendKind::PartiesPropose { add, add_key, .. } => joining_parties(add, add_key, pass)?,
        _ => Vec::new(),
    };
    let (proposal, leaving) = match &kind {
        AppendKind::PartiesPropose {
            proposal, remove, ..
        } => {
            let remove = remove
                .iter()
                .map(|s| PartyId::new(s).map_err(|e| Failure::usage(format!("--remove: {e}"))))
                .collect::<Result<Vec<_>, _>>()?;
            (Some(proposal_id(proposal)?), remove)
        }
        AppendKind::PartiesApprove { proposal } => (Some(proposal_id(proposal)?), Vec::new()),
        _ => (None, Vec::new()),
    };
    let mut w = Writer::open(dir)?;
    if let Some(n) = w.repaired() {
        eprintln!("ledger: removed a torn tail of {n} bytes left by an interrupted append");
    }
    let session =
        |s: &str| SessionId::new(s).map_err(|e| Failure::usage(format!("--session: {e}")));
    let doc_id = |s: &str| DocId::new(s).map_err(|e| Failure::usage(format!("--doc: {e}")));
    let mut content = None;
    let kind = match kind {
        AppendKind::SessionOpen {
            session: s,
            title,
            place,
            chair,
            notes,
        } => Kind::SessionOpened {
            session: session(&s)?,
            title,
            place,
            chair,
            notes,
        },
        AppendKind::SessionClose { session: s, notes } => Kind::SessionClosed {
            session: session(&s)?,
            notes,
        },
        AppendKind::Draft {
            doc,
            file,
            title,
            signatories,
            no_signatures,
        } => {
            let bytes = read_file(&file)?;
            let signatories: Vec<PartyId> = if no_signatures {
                Vec::new()
            } else if signatories.is_empty() {
                // Every current party (FORMAT §6.8: only they may be named).
                let state = w.state();
                state
                    .parties
                    .keys()
                    .filter(|p| state.is_party(p))
                    .cloned()
                    .collect()
            } else {
                let mut v = signatories
                    .iter()
                    .map(|s| {
                        PartyId::new(s).map_err(|e| Failure::usage(format!("--signatory: {e}")))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                v.sort();
                v.dedup();
                v
            };
            let k = Kind::DocumentDrafted {
                doc: doc_id(&doc)?,
                sha256: DocHash::of(&bytes),
                title,
                signatories,
            };
            content = Some(bytes);
            k
        }
        AppendKind::Amend { doc, file, notes } => {
            let bytes = read_file(&file)?;
            let k = Kind::DocumentAmended {
                doc: doc_id(&doc)?,
                sha256: DocHash::of(&bytes),
                notes,
            };
            content = Some(bytes);
            k
        }
        AppendKind::Approve { target } => {
            let (doc, sha256) = target_version(&mut w, &target)?;
            Kind::DocumentApproved { doc, sha256 }
        }
        AppendKind::Sign { target } => {
            let (doc, sha256) = target_version(&mut w, &target)?;
            Kind::DocumentSigned { doc, sha256 }
        }
        AppendKind::Note { text } => Kind::Note { text },
        AppendKind::KeyAdd { .. } | AppendKind::KeyRotate { .. } => {
            let rotate = matches!(kind, AppendKind::KeyRotate { .. });
            let Some(new) = new_key else {
                return Err(Failure::usage("--new-key is required"));
            };
            let done = w.append_key(&key, &new, rotate, time)?;
            let name = if rotate { "key-rotated" } else { "key-added" };
            print_appended(out, dir, name, &done);
            return Ok(());
        }
        AppendKind::PartiesPropose { .. } | AppendKind::PartiesApprove { .. } => {
            let Some(proposal) = proposal else {
                return Err(Failure::usage("--proposal is required"));
            };
            let done = if matches!(kind, AppendKind::PartiesPropose { .. }) {
                let add: Vec<(PartyId, &SigningKey)> =
                    joining.iter().map(|(p, k)| (p.clone(), k)).collect();
                w.propose_parties(&key, proposal, &add, &leaving, time)?
            } else {
                w.approve_parties(&key, proposal, time)?
            };
            let name = if matches!(kind, AppendKind::PartiesPropose { .. }) {
                "parties-proposed"
            } else {
                "parties-approved"
            };
            print_appended(out, dir, name, &done);
            return Ok(());
        }
        AppendKind::KeyRevoke { reason, .. } => Kind::KeyRevoked {
            kid: revoked.ok_or_else(|| Failure::usage("--revoke is required"))?,
            reason,
        },
    };
    let name = kind.name();
    let done = w.append(&key, time, kind, content.as_deref())?;
    print_appended(out, dir, name, &done);
    Ok(())
}
