//! The `ledger` command: parses arguments, calls the library, prints, and
//! maps outcomes to exit codes (0 ok, 1 verification failed, 2 usage or
//! I/O error). All logic lives in the library.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use ledger::crypto::{KeyError, PublicKey, SigningKey};
use ledger::format::{DocHash, DocId, Kind, PartyId, SessionId};
use ledger::time::Timestamp;
use ledger::verify::{self, Options, Report, VerifyError};
use ledger::writer::{self, Appended, WriteError, Writer};

#[derive(Parser)]
#[command(
    name = "ledger",
    version,
    about = "A tamper-evident, signed, replayable record of how an agreement came to be"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a key pair: NAME.key (private, PKCS#8 PEM, mode 0600) and NAME.pub (SPKI PEM)
    Keygen {
        /// Path and base name of the key files, e.g. keys/most
        name: PathBuf,
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
    },
    /// Verify a ledger by replaying it from its first event
    Verify {
        dir: PathBuf,
        /// Output one JSON document instead of text
        #[arg(long)]
        json: bool,
        /// Require the parties' keys to be exactly these public keys (a directory of .pub files, or files)
        #[arg(long, value_name = "PATH")]
        trust: Vec<PathBuf>,
        /// Require the ledger to contain the event with this hash (an earlier head)
        #[arg(long, value_name = "HASH")]
        head: Option<String>,
    },
    /// List the events of a ledger (after verifying it)
    Log {
        dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Print the event count and head hash of a ledger (after verifying it)
    Head {
        dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Remove a torn tail left by an interrupted append (appending does this too)
    Repair { dir: PathBuf },
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
    #[command(subcommand)]
    kind: AppendKind,
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

impl From<ledger::format::FormatError> for Failure {
    fn from(e: ledger::format::FormatError) -> Self {
        Failure::usage(e.to_string())
    }
}

impl From<ledger::time::TimeError> for Failure {
    fn from(e: ledger::time::TimeError) -> Self {
        Failure::usage(format!("--at: {e}"))
    }
}

impl From<WriteError> for Failure {
    fn from(e: WriteError) -> Self {
        let code = match e {
            WriteError::Invalid(_) => 1,
            _ => 2,
        };
        Failure {
            code,
            message: e.to_string(),
        }
    }
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
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("ledger: {}", verify::terminal_safe(&f.message));
            ExitCode::from(f.code)
        }
    }
}

fn parse_time(at: Option<&str>) -> Result<Option<Timestamp>, Failure> {
    Ok(at.map(Timestamp::parse).transpose()?)
}

fn read_file(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| Failure::usage(format!("cannot read {}: {e}", path.display())))
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Keygen { name } => {
            let (key, public) = SigningKey::generate().write_pair(&name)?;
            println!(
                "wrote private key {} (mode 0600; keep it secret)",
                key.display()
            );
            println!("wrote public key  {}", public.display());
            Ok(())
        }
        Command::Init {
            dir,
            key,
            title,
            parties,
            at,
        } => {
            let time = parse_time(at.as_deref())?;
            let key = SigningKey::from_file(&key)?;
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
            print_appended(&dir, "ledger-created", &done);
            Ok(())
        }
        Command::Append(args) => {
            let key = args.key.ok_or_else(|| {
                Failure::usage("append needs --key FILE (the acting party's private key)")
            })?;
            append(&args.dir, &key, args.at.as_deref(), args.kind)
        }
        Command::Sign {
            dir,
            key,
            at,
            target,
        } => append(&dir, &key, at.as_deref(), AppendKind::Sign { target }),
        Command::Verify {
            dir,
            json,
            trust,
            head,
        } => {
            let mut options = Options::default();
            if !trust.is_empty() {
                options.trust = Some(load_trusted(&trust)?);
            }
            if let Some(h) = head {
                options.head = Some(ledger::format::EventHash::from_hex(&h).map_err(|_| {
                    Failure::usage(format!(
                        "--head {h:?}: expected the 64 hex digits of an event hash"
                    ))
                })?);
            }
            report(&dir, &options, json, |r| r.to_string())
        }
        Command::Log { dir, json } => report(&dir, &Options::default(), json, |r| {
            let mut s = String::new();
            for e in &r.events {
                s.push_str(&format!(
                    "{:<4} {}  {}  {:<8} {:<17} {}\n",
                    e.seq,
                    e.hash,
                    verify::terminal_safe(&e.time),
                    e.author.as_str(),
                    e.kind,
                    verify::terminal_safe(&e.summary)
                ));
            }
            s
        }),
        Command::Head { dir, json } => {
            let r =
                verify::verify(&dir, &Options::default()).map_err(|e| verify_failure(e, json))?;
            if json {
                println!("{}", serde_json::json!({"count": r.count, "head": r.head}));
            } else {
                println!("{} {}", r.count, r.head);
            }
            Ok(())
        }
        Command::Repair { dir } => {
            let w = Writer::open(&dir)?;
            match w.repaired() {
                Some(n) => println!(
                    "removed a torn tail of {n} bytes; {} events intact",
                    w.state().count
                ),
                None => println!(
                    "nothing to repair: {} events, the log ends cleanly",
                    w.state().count
                ),
            }
            Ok(())
        }
    }
}

fn verify_failure(e: VerifyError, json: bool) -> Failure {
    if let (true, VerifyError::Failed(f)) = (json, &e) {
        println!("{}", serde_json::json!({"verified": false, "error": f}));
    }
    e.into()
}

fn report(
    dir: &Path,
    options: &Options,
    json: bool,
    text: impl Fn(&Report) -> String,
) -> Result<(), Failure> {
    let r = verify::verify(dir, options).map_err(|e| verify_failure(e, json))?;
    if json {
        let s = serde_json::to_string_pretty(&r).map_err(|e| Failure::usage(e.to_string()))?;
        println!("{s}");
    } else {
        print!("{}", text(&r));
    }
    Ok(())
}

fn load_trusted(paths: &[PathBuf]) -> Result<Vec<(String, PublicKey)>, Failure> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let entries = std::fs::read_dir(p)
                .map_err(|e| Failure::usage(format!("--trust {}: {e}", p.display())))?;
            let mut files: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "pub"))
                .collect();
            files.sort();
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

fn print_appended(dir: &Path, kind: &str, a: &Appended) {
    println!(
        "{}: appended event #{} ({kind}) by {}, hash {}",
        dir.display(),
        a.seq,
        a.author,
        a.hash
    );
}

fn target_version(w: &Writer, t: &DocTarget) -> Result<(DocId, DocHash), Failure> {
    let doc = DocId::new(&t.doc).map_err(|e| Failure::usage(format!("--doc: {e}")))?;
    let current = w.current_version(&doc).ok_or_else(|| {
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

fn append(dir: &Path, key: &Path, at: Option<&str>, kind: AppendKind) -> Result<(), Failure> {
    let time = parse_time(at)?;
    let key = SigningKey::from_file(key)?;
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
                w.state().parties.keys().cloned().collect()
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
            let (doc, sha256) = target_version(&w, &target)?;
            Kind::DocumentApproved { doc, sha256 }
        }
        AppendKind::Sign { target } => {
            let (doc, sha256) = target_version(&w, &target)?;
            Kind::DocumentSigned { doc, sha256 }
        }
        AppendKind::Note { text } => Kind::Note { text },
    };
    let name = kind.name();
    let done = w.append(&key, time, kind, content.as_deref())?;
    print_appended(dir, name, &done);
    Ok(())
}
