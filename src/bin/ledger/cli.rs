//! The command line: what each command takes, declared with clap, and the
//! checks of what was typed that need nothing opened.

use clap::{Args, Parser, Subcommand};

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use ledger::base::crypto::{KeyError, SigningKey};

use crate::error::Failure;

#[derive(Parser)]
#[command(
    name = "ledger",
    version,
    about = "A tamper-evident, signed, replayable record of how an agreement came to be"
)]
pub(crate) struct Cli {
    /// Print only errors and, for verify, the verdict line
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,
    /// Say more about what is done (files written, timings)
    #[arg(short, long, global = true)]
    pub(crate) verbose: bool,
    /// Output one JSON document instead of text (for tools)
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Colour: auto (on a terminal, unless NO_COLOR is set), always, never
    #[arg(long, global = true, value_name = "WHEN", default_value = "auto")]
    pub(crate) color: ColorChoice,
    /// A writer waits at most this long for another writer's lock
    #[arg(long, global = true, value_name = "SECONDS", default_value_t = 60)]
    pub(crate) wait: u64,
    /// A writer does not wait for another writer's lock (--wait 0)
    #[arg(long, global = true, conflicts_with = "wait")]
    pub(crate) no_wait: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Generate a key pair: NAME.key (private, PKCS#8 PEM, mode 0600) and NAME.pub (SPKI PEM)
    Keygen {
        /// Path and base name of the key files, e.g. keys/most
        name: PathBuf,
        /// Protect the private key with a passphrase (asked on the terminal, or see --passphrase-file/-env)
        #[arg(long)]
        passphrase: bool,
        /// Make the key pair on a PKCS#11 token instead, e.g. 'pkcs11:token=MOST;object=ledger-2017', and write only NAME.pub
        #[arg(long, value_name = "URI", conflicts_with = "passphrase")]
        pkcs11: Option<String>,
        #[command(flatten)]
        pass: PassArgs,
    },
    /// Create a ledger: its genesis event names the title and the parties
    Init {
        /// The ledger directory to create (must not exist, or be empty)
        dir: PathBuf,
        /// Private key of the party that creates the ledger (or ssh-agent:SHA256:..., a .pub with --agent, or a pkcs11: URI)
        #[arg(long)]
        key: PathBuf,
        /// --key is a public key (.pub) whose private key the ssh-agent at SSH_AUTH_SOCK holds
        #[arg(long)]
        agent: bool,
        /// Title of the ledger, e.g. the name of the negotiation
        #[arg(long)]
        title: String,
        /// A party, as ID=PUBLIC_KEY_FILE (repeat for each party)
        #[arg(long = "party", value_name = "ID=FILE", required = true)]
        parties: Vec<String>,
        /// Time the signer claims, RFC 3339 (default: now)
        #[arg(long)]
        at: Option<String>,
        /// Accept an --at more than 15 minutes ahead of this machine's clock
        #[arg(long)]
        allow_future: bool,
        #[command(flatten)]
        pass: PassArgs,
    },
    /// Append an event to a ledger, signed with the acting party's key
    Append(AppendArgs),
    /// Sign the current version of a document (shortcut for `append ... sign`)
    Sign {
        /// The ledger directory
        dir: PathBuf,
        /// Private key of the signing party (or ssh-agent:SHA256:..., a .pub with --agent, or a pkcs11: URI)
        #[arg(long)]
        key: PathBuf,
        /// --key is a public key (.pub) whose private key the ssh-agent at SSH_AUTH_SOCK holds
        #[arg(long)]
        agent: bool,
        /// Time the signer claims, RFC 3339 (default: now)
        #[arg(long)]
        at: Option<String>,
        /// Accept an --at more than 15 minutes ahead of this machine's clock
        #[arg(long)]
        allow_future: bool,
        #[command(flatten)]
        target: DocTarget,
        #[command(flatten)]
        pass: PassArgs,
    },
    /// Verify a ledger by replaying it from its first event
    Verify {
        /// The ledger directory, or a directory from `ledger publish`
        dir: PathBuf,
        /// Require every party to have held one of these public keys, and each to be a party's key (a directory of .pub files, or files)
        #[arg(long, value_name = "PATH")]
        trust: Vec<PathBuf>,
        /// Require the ledger to contain the event with this hash (an earlier head)
        #[arg(long, value_name = "HASH")]
        head: Option<String>,
        #[command(flatten)]
        proofs: ProofTrust,
        /// With --witness or --policy: accept events after the largest checkpoint the witnesses cosigned, reporting them as not witnessed (by default they fail verification)
        #[arg(long)]
        allow_unwitnessed_tail: bool,
    },
    /// Write the verification of a ledger as a report to read, print and file: one self-contained HTML page or a PDF
    Report {
        /// The ledger directory, or a directory from `ledger publish`
        dir: PathBuf,
        /// Where to write the report (FILE.html or FILE.pdf), outside the ledger directory
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// html or pdf (default: from the name of --output)
        #[arg(long, value_enum, value_name = "FORMAT")]
        format: Option<ReportFormat>,
        /// Replace --output if it exists
        #[arg(long)]
        force: bool,
        /// Say in the report when it was made (e.g. 2026-12-03T12:00:00Z); without it the report holds no date, so the same ledger and options give the same bytes
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// List every event up to N events (default 20000); beyond, the first and last 1000, every event of interest, and counts per session
        #[arg(long, value_name = "N")]
        list_max: Option<u64>,
        /// As for verify: the parties' public keys (a directory of .pub files, or files)
        #[arg(long, value_name = "PATH")]
        trust: Vec<PathBuf>,
        /// As for verify: the ledger must contain the event with this hash
        #[arg(long, value_name = "HASH")]
        head: Option<String>,
        #[command(flatten)]
        proofs: ProofTrust,
        /// As for verify: with --witness, accept events after the largest checkpoint the witnesses cosigned
        #[arg(long, requires = "witness")]
        allow_unwitnessed_tail: bool,
    },
    /// List the events of a ledger (after verifying it)
    Log {
        /// The ledger directory
        dir: PathBuf,
    },
    /// Print the event count and head hash of a ledger (after verifying it)
    Head {
        /// The ledger directory
        dir: PathBuf,
    },
    /// Remove a torn tail left by an interrupted append (appending does this too)
    Repair {
        /// The ledger directory
        dir: PathBuf,
    },
    /// Import pre-signed events (a CBOR sequence) that continue the ledger's chain
    Import {
        /// The ledger directory
        dir: PathBuf,
        /// The events, as a CBOR sequence of COSE_Sign1 messages (FORMAT §3)
        file: PathBuf,
        /// A directory holding the bytes of the document versions the events draft or amend
        #[arg(long, value_name = "DIR")]
        docs: Option<PathBuf>,
    },
    /// Write one event's signed bytes, signature and signer key, to check with openssl
    Export {
        /// The ledger directory
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
        /// The ledger directory
        dir: PathBuf,
        /// The document file to look for (its exact bytes)
        #[arg(long)]
        document: PathBuf,
    },
    /// Sign a checkpoint of the ledger's Merkle tree into DIR/checkpoints/, or add a witness's cosignatures to one
    Checkpoint {
        /// The ledger directory
        dir: PathBuf,
        /// The signing key: a party's, or a dedicated log key (verifiers then need --log-key)
        #[arg(long, required_unless_present = "add", conflicts_with = "add")]
        key: Option<PathBuf>,
        /// A copy of a stored checkpoint carrying more signatures (e.g. from `ledger witness cosign`)
        #[arg(long, value_name = "NOTE")]
        add: Option<PathBuf>,
        /// --key is a dedicated log key, not a party's (every verifier then needs --log-key)
        #[arg(long, requires = "key")]
        log_key: bool,
        /// Then gather cosignatures from the witnesses of this C2SP tlog-policy file, over HTTP, until its quorum is met
        #[arg(long, value_name = "FILE", requires = "key")]
        policy: Option<PathBuf>,
        /// The CA certificates (one PEM file) trusted for https://, instead of the system's store: for a private CA
        #[arg(long = "tls-ca", value_name = "FILE.pem", requires = "policy")]
        tls_ca: Option<PathBuf>,
        #[command(flatten)]
        pass: PassArgs,
    },
    /// Timestamp the latest checkpoint with RFC 3161 TSAs (--tsa URL), or offline: `request` a .tsq, `add` the .tsr
    Timestamp(TimestampArgs),
    /// Write a proof bundle: that event N is in a checkpoint (--event), or that the log grew from an old checkpoint (--from)
    Prove {
        /// The ledger directory
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
        /// Where to write the proof
        #[arg(long, short)]
        out: PathBuf,
        /// The proof's format: a bundle (FORMAT §14), a C2SP tlog-proof or an RFC 9942 COSE receipt (FORMAT §21; --event only)
        #[arg(long, value_enum, default_value = "bundle")]
        format: ProofFormat,
        /// With --format cose-receipt: the log key that signs the receipt (it must have signed the checkpoint)
        #[arg(long)]
        key: Option<PathBuf>,
        #[command(flatten)]
        pass: PassArgs,
    },
    /// Check a proof bundle, a tlog-proof or a COSE receipt (or an event of a published directory, with --event) with nothing but trusted public keys
    CheckProof {
        /// A proof from `ledger prove` (any --format), or a directory from `ledger publish`, or its http:// or https:// URL
        bundle: PathBuf,
        /// With a published directory or its URL: the event to prove from its tiles
        #[arg(long)]
        event: Option<u64>,
        #[command(flatten)]
        fetch: FetchArgs,
        /// The event's stored bytes (`ledger export`'s event-N.cbor), for a COSE receipt, which does not carry them
        #[arg(long, value_name = "FILE")]
        entry: Option<PathBuf>,
        /// The trusted public keys: FILE, DIR (its .pub files) or PARTY=FILE|DIR. An event must be signed by a key bound to its author: PARTY=, or else the file name (most.pub is party most's). Parties' and log keys
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
    /// Write a sign request for an offline signer: the exact event append would sign at the head, checked as append checks it, with the document it names (FORMAT §20)
    SignRequest(SignRequestArgs),
    /// Sign a request from `sign-request` on a machine without the ledger: shows what is signed, asks unless --yes, writes the signed event
    SignOffline {
        /// The request file (from `ledger sign-request`)
        request: PathBuf,
        /// Private key of the signing party (or ssh-agent:SHA256:..., or a .pub with --agent)
        #[arg(long)]
        key: PathBuf,
        /// --key is a public key (.pub) whose private key the ssh-agent at SSH_AUTH_SOCK holds
        #[arg(long)]
        agent: bool,
        /// Where to write the signed event (must not exist, unless --force)
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Replace an existing -o file
        #[arg(long)]
        force: bool,
        /// Sign without asking on the terminal (the summary is printed all the same)
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        pass: PassArgs,
    },
    /// Append an event signed offline (from `sign-offline`), after the checks of any append
    Attach {
        /// The ledger directory
        dir: PathBuf,
        /// The signed event file
        signed: PathBuf,
    },
    /// Publish the ledger as static files (C2SP tlog-tiles): checkpoint, tiles, entry bundles, documents
    Publish {
        /// The ledger directory
        dir: PathBuf,
        /// The directory to publish into (created if absent; files already published are kept)
        out: PathBuf,
    },
    /// Watch a published directory (a path or an http:// or https:// URL): verify its checkpoint, prove it extends the last one accepted, fetch and replay only the new events (exit 1: split view, rollback, bad data or a rule broken; 3: --max-age exceeded)
    Monitor(MonitorArgs),
    /// Print the fingerprint of key files or token keys (SHA256:..., as `ssh-keygen -l` prints for the same key)
    Fingerprint {
        /// Public (.pub: SPKI PEM or an ssh-ed25519 line) or private (.key: PKCS#8, or OpenSSH) key files, or pkcs11: URIs
        #[arg(value_name = "FILE", required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        pass: PassArgs,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions {
        /// The shell to complete for
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff)
    Man,
}

/// The formats of `ledger report`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ReportFormat {
    Html,
    Pdf,
}

/// `ledger timestamp`: online with --tsa, or one of the offline steps.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct TimestampArgs {
    #[command(subcommand)]
    pub(crate) step: Option<TimestampStep>,
    /// The ledger directory
    #[arg(required = true)]
    pub(crate) dir: Option<PathBuf>,
    /// A TSA's URL (http:// or https://), to POST the request to (RFC 3161 §3.4); repeat for several TSAs
    #[arg(long, value_name = "URL", required = true)]
    pub(crate) tsa: Vec<String>,
    /// The TSA root certificates (PEM) each answer is checked against before it is stored
    #[arg(long = "tsa-ca", value_name = "FILE", required = true)]
    pub(crate) tsa_ca: Vec<PathBuf>,
    /// Give up on a TSA that has not answered within this many seconds
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub(crate) timeout: u64,
    /// The CA certificates (one PEM file) trusted for https://, instead of the system's store: for a private CA
    #[arg(long = "tls-ca", value_name = "FILE.pem")]
    pub(crate) tls_ca: Option<PathBuf>,
}

#[derive(Subcommand)]
pub(crate) enum TimestampStep {
    /// Write an RFC 3161 request (.tsq) for the latest checkpoint, for any TSA client (curl, openssl ts)
    Request {
        /// The ledger directory
        dir: PathBuf,
        /// Where to write the request (must not exist)
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Check a TSA's response (.tsr) in full and store it beside the checkpoint it stamps
    Add {
        /// The ledger directory
        dir: PathBuf,
        /// The response (TimeStampResp, DER)
        file: PathBuf,
        /// The request it answers (.tsq from `timestamp request`): its nonce and imprint are then checked too
        #[arg(long, value_name = "TSQ")]
        request: Option<PathBuf>,
        /// The TSA root certificates (PEM) the token is checked against
        #[arg(long = "tsa-ca", value_name = "FILE", required = true)]
        tsa_ca: Vec<PathBuf>,
    },
}

/// Keys and witnesses that checkpoints are checked against.
#[derive(Args, Clone, Default)]
pub(crate) struct ProofTrust {
    /// A public key (.pub) besides the parties' that may sign checkpoints
    #[arg(long, value_name = "FILE")]
    pub(crate) log_key: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) witnesses: WitnessPolicyArgs,
    /// A TSA root certificate (PEM) that RFC 3161 tokens in checkpoints/ are checked against; repeat for each (without it, tokens are reported unchecked)
    #[arg(long = "tsa-ca", value_name = "FILE")]
    pub(crate) tsa_ca: Vec<PathBuf>,
}

/// A witness policy: k of n, or a C2SP tlog-policy file.
#[derive(Args, Clone, Default)]
pub(crate) struct WitnessPolicyArgs {
    /// A witness's vkey (NAME+ID+KEY, or a file holding one); repeat for each
    #[arg(long, value_name = "VKEY", conflicts_with = "policy")]
    pub(crate) witness: Vec<String>,
    /// A C2SP tlog-policy file: its witnesses, groups and quorum decide whether a checkpoint is witnessed
    #[arg(long, value_name = "FILE")]
    pub(crate) policy: Option<PathBuf>,
    /// How many of the witnesses must have cosigned (default: all)
    #[arg(long, value_name = "K", requires = "witness")]
    pub(crate) quorum: Option<usize>,
}

impl WitnessPolicyArgs {
    pub(crate) fn policy(&self) -> Result<Option<ledger::tlog::note::WitnessPolicy>, Failure> {
        if let Some(p) = &self.policy {
            return Ok(Some(load_policy(p)?.witness_policy().clone()));
        }
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

/// The roots `--tls-ca` names (read once, at most
/// [`ledger::base::http::MAX_CA_BUNDLE_BYTES`]), else the system's store.
pub(crate) fn load_tls_roots(path: Option<&Path>) -> Result<ledger::base::http::Roots, Failure> {
    use ledger::base::http::{Roots, MAX_CA_BUNDLE_BYTES};
    let Some(path) = path else {
        return Ok(Roots::system());
    };
    let pem = crate::input::read_input(path, MAX_CA_BUNDLE_BYTES, "CA certificates (PEM)")?;
    Roots::from_pem(&pem).map_err(|e| Failure::usage(format!("--tls-ca {}: {e}", path.display())))
}

/// Reads and parses a C2SP tlog-policy file (FORMAT §18).
pub(crate) fn load_policy(path: &Path) -> Result<ledger::tlog::policy::Policy, Failure> {
    let bytes = crate::input::read_input(
        path,
        ledger::tlog::policy::MAX_POLICY_BYTES as u64,
        "a witness policy file",
    )?;
    ledger::tlog::policy::Policy::parse(&bytes)
        .map_err(|e| Failure::usage(format!("--policy {}: {e}", path.display())))
}

/// A vkey given on the command line, or the path of a file holding one.
pub(crate) fn load_vkey(
    arg: &str,
    what: &str,
) -> Result<ledger::tlog::note::NoteVerifier, Failure> {
    let text = match Path::new(arg).is_file() {
        true => std::fs::read_to_string(arg)
            .map_err(|e| Failure::usage(format!("{what} {arg}: {e}")))?,
        false => arg.to_owned(),
    };
    ledger::tlog::note::NoteVerifier::parse(text.trim())
        .map_err(|e| Failure::usage(format!("{what} {arg:?}: {e}")))
}

#[derive(Subcommand)]
pub(crate) enum WitnessCommand {
    /// Make the add-checkpoint request for a witness that holds size OLD (consistency proof + checkpoint)
    Request {
        /// The ledger directory
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
    Cosign(CosignArgs),
    /// Serve C2SP tlog-witness over HTTP (POST /add-checkpoint) until SIGTERM or SIGINT; prints the bound address first
    Serve(ServeArgs),
}

/// `ledger witness serve`.
#[derive(Args)]
pub(crate) struct ServeArgs {
    /// The address to listen on, e.g. 127.0.0.1:8080 (port 0: any free port; the address is printed)
    #[arg(long, value_name = "ADDR")]
    pub(crate) listen: std::net::SocketAddr,
    /// The witness's private key
    #[arg(long)]
    pub(crate) key: PathBuf,
    /// The witness's name (its key name in cosignatures)
    #[arg(long)]
    pub(crate) name: String,
    /// The witness's state directory (the largest tree seen, per origin), shared with `witness cosign`
    #[arg(long, value_name = "DIR")]
    pub(crate) state: PathBuf,
    /// A trusted log's vkey (from `ledger vkey --ledger`), or a file holding one; repeat for each
    #[arg(long, value_name = "VKEY", required = true)]
    pub(crate) log: Vec<String>,
    #[command(flatten)]
    pub(crate) pass: PassArgs,
}

/// `ledger witness cosign`.
#[derive(Args)]
pub(crate) struct CosignArgs {
    /// An add-checkpoint request (from `ledger witness request`), or a bare checkpoint for a witness that has seen none of its origin
    pub(crate) request: PathBuf,
    /// The witness's private key
    #[arg(long)]
    pub(crate) key: PathBuf,
    /// The witness's name (its key name in cosignatures)
    #[arg(long)]
    pub(crate) name: String,
    /// The witness's state directory (the largest tree seen, per origin)
    #[arg(long, value_name = "DIR")]
    pub(crate) state: PathBuf,
    /// A trusted log's vkey (from `ledger vkey --ledger`), or a file holding one; repeat for each
    #[arg(long, value_name = "VKEY", required = true)]
    pub(crate) log: Vec<String>,
    /// Where to write the cosigned checkpoint (for `ledger checkpoint DIR --add`)
    #[arg(long, short)]
    pub(crate) out: PathBuf,
    #[command(flatten)]
    pub(crate) pass: PassArgs,
}

#[derive(Args)]
pub(crate) struct AppendArgs {
    /// The ledger directory
    pub(crate) dir: PathBuf,
    /// Private key of the acting party (or ssh-agent:SHA256:..., a .pub with --agent, or a pkcs11: URI)
    #[arg(long, global = true)]
    pub(crate) key: Option<PathBuf>,
    /// --key is a public key (.pub) whose private key the ssh-agent at SSH_AUTH_SOCK holds
    #[arg(long, global = true)]
    pub(crate) agent: bool,
    /// Time the signer claims, RFC 3339 (default: now)
    #[arg(long, global = true)]
    pub(crate) at: Option<String>,
    /// Accept an --at more than 15 minutes ahead of this machine's clock
    #[arg(long, global = true)]
    pub(crate) allow_future: bool,
    #[command(flatten)]
    pub(crate) pass: PassArgs,
    #[command(subcommand)]
    pub(crate) kind: AppendKind,
}

#[derive(Args)]
pub(crate) struct SignRequestArgs {
    /// The ledger directory
    pub(crate) dir: PathBuf,
    /// Public key (.pub) of the party that will sign offline
    #[arg(long, global = true)]
    pub(crate) key: Option<PathBuf>,
    /// Where to write the request (must not exist, unless --force)
    #[arg(short, long, global = true, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,
    /// Replace an existing -o file
    #[arg(long, global = true)]
    pub(crate) force: bool,
    /// Time the signer claims, RFC 3339 (default: now)
    #[arg(long, global = true)]
    pub(crate) at: Option<String>,
    /// Accept an --at more than 15 minutes ahead of this machine's clock
    #[arg(long, global = true)]
    pub(crate) allow_future: bool,
    #[command(subcommand)]
    pub(crate) kind: AppendKind,
}

/// Where the passphrase of an encrypted key comes from. Never from an
/// argument (it would show in `ps` and shell history): from the terminal,
/// without echo, by default.
#[derive(Args, Clone, Default)]
pub(crate) struct PassArgs {
    /// Read the key's passphrase from the first line of this file
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        conflicts_with = "passphrase_env"
    )]
    pub(crate) passphrase_file: Option<PathBuf>,
    /// Read the key's passphrase from this environment variable
    #[arg(long, global = true, value_name = "VAR")]
    pub(crate) passphrase_env: Option<String>,
    /// A token's module and PIN, for a pkcs11: key
    #[command(flatten)]
    pub(crate) token: Box<crate::token::TokenArgs>,
    /// The private keys read so far, for [`PassArgs::check_used`].
    #[arg(skip)]
    pub(crate) read: std::cell::RefCell<crate::keys::KeysRead>,
}

impl PassArgs {
    pub(crate) fn get(&self, prompt: &str) -> Result<Zeroizing<String>, KeyError> {
        let bad = |m: String| KeyError::Passphrase(m);
        let pass = if let Some(f) = &self.passphrase_file {
            ledger::base::crypto::read_passphrase_file(f)?
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

    /// Reads the one private key of a command; a passphrase given for a
    /// key that is not encrypted is refused ([`PassArgs::check_used`]).
    pub(crate) fn load(&self, path: &Path) -> Result<SigningKey, Failure> {
        let key = self.load_one_of(path)?;
        self.check_used()?;
        Ok(key)
    }
}

/// The formats of `ledger prove`. Plain comments, not doc comments, on
/// the variants: documented values would turn `prove --help` into clap's
/// two-line layout, and `--help` keeps one line per argument.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ProofFormat {
    // A proof bundle (FORMAT §14)
    Bundle,
    // A C2SP tlog-proof, the event in its extra data (FORMAT §21.1)
    TlogProof,
    // An RFC 9942 COSE receipt, signed with --key (FORMAT §21.2)
    CoseReceipt,
}

#[derive(Subcommand)]
pub(crate) enum AppendKind {
    /// A session opened
    SessionOpen {
        /// The session's id (a-z, 0-9, '-', '_', '.'), e.g. plenary
        #[arg(long)]
        session: String,
        /// The session's title (one line)
        #[arg(long)]
        title: String,
        /// Where it takes place (one line)
        #[arg(long)]
        place: Option<String>,
        /// Who chairs it (one line)
        #[arg(long)]
        chair: Option<String>,
        /// Notes, for the record (free text)
        #[arg(long)]
        notes: Option<String>,
    },
    /// A session closed
    SessionClose {
        /// The id of the open session to close
        #[arg(long)]
        session: String,
        /// Notes, for the record (free text)
        #[arg(long)]
        notes: Option<String>,
    },
    /// A document drafted: its bytes are stored in the ledger
    Draft {
        /// The new document's id (a-z, 0-9, '-', '_', '.'), e.g. joint-declaration
        #[arg(long)]
        doc: String,
        /// The document's file; its exact bytes are what is signed
        #[arg(long)]
        file: PathBuf,
        /// The document's title (one line)
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
        /// The id of the document to amend
        #[arg(long)]
        doc: String,
        /// The new version's file; its exact bytes are what is signed
        #[arg(long)]
        file: PathBuf,
        /// What changed, for the record (free text)
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
        /// The note's text (free text; line feeds and tabs allowed)
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
        /// The key to revoke: its public key file, its fingerprint (SHA256:..., as `verify` shows), or its kid (64 hex digits, as `verify --json` shows)
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
pub(crate) struct DocTarget {
    /// The document id
    #[arg(long)]
    pub(crate) doc: String,
    /// Check that this file is the current version
    #[arg(long, conflicts_with = "version")]
    pub(crate) file: Option<PathBuf>,
    /// Check that this SHA-256 (hex) is the current version
    #[arg(long)]
    pub(crate) version: Option<String>,
}

#[derive(clap::Args)]
pub(crate) struct MonitorArgs {
    /// The published directory (`ledger publish`), or its http:// or https:// URL
    pub(crate) source: String,
    /// The monitor's state directory (created if absent; one per log)
    #[arg(long, value_name = "DIR")]
    pub(crate) state: PathBuf,
    /// The keys that may sign the log's checkpoints (the parties' .pub files, or a directory of them)
    #[arg(long = "log-key", value_name = "PATH", required = true)]
    pub(crate) log_key: Vec<PathBuf>,
    #[command(flatten)]
    pub(crate) witnesses: WitnessPolicyArgs,
    /// Report every new event of this party (repeatable)
    #[arg(long = "watch-party", value_name = "NAME")]
    pub(crate) watch_party: Vec<String>,
    /// Report every new event of the party holding this key (repeatable)
    #[arg(long = "watch-key", value_name = "FILE.pub")]
    pub(crate) watch_key: Vec<PathBuf>,
    /// Run again every S seconds until SIGTERM or SIGINT
    #[arg(long, value_name = "S")]
    pub(crate) interval: Option<u64>,
    /// Exit 3 if the newest time the checkpoint is vouched for (a witness cosignature, else the last event's time) is older: 90s, 30m, 12h, 7d
    #[arg(long = "max-age", value_name = "DURATION")]
    pub(crate) max_age: Option<String>,
    #[command(flatten)]
    pub(crate) fetch: FetchArgs,
}

/// How a published directory given by its URL is read (`monitor`,
/// `check-proof`).
#[derive(clap::Args)]
pub(crate) struct FetchArgs {
    /// Each HTTP exchange's timeout, in seconds
    #[arg(long, value_name = "S", default_value_t = 10)]
    pub(crate) timeout: u64,
    /// The CA certificates (one PEM file) trusted for https://, instead of the system's store: for a private CA
    #[arg(long = "tls-ca", value_name = "FILE.pem")]
    pub(crate) tls_ca: Option<PathBuf>,
}

impl FetchArgs {
    /// `source` (a directory, or an http:// or https:// URL) as a source
    /// read under these options, sending the User-Agent `product`.
    pub(crate) fn source(
        &self,
        source: &str,
        product: &str,
    ) -> Result<ledger::proofs::source::Source, Failure> {
        if self.timeout == 0 {
            return Err(Failure::usage("--timeout 0: give at least 1 second"));
        }
        let roots = load_tls_roots(self.tls_ca.as_deref())?;
        Ok(ledger::proofs::source::Source::new(
            source,
            std::time::Duration::from_secs(self.timeout),
            &roots,
            product,
        ))
    }
}
