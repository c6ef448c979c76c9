//! Running commands (the real `ledger` binary, python, git) and timing
//! them from the outside: wall time with our clock, peak RSS and CPU time
//! from `/usr/bin/time -v` where it exists.

use std::ffi::OsString;
use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use super::Error;

const TIME: &str = "/usr/bin/time";

/// One timed run of a command.
#[derive(Debug, Clone)]
pub struct Run {
    pub wall: f64,
    pub rss_kib: Option<u64>,
    /// User + system CPU seconds.
    pub cpu: Option<f64>,
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The last non-empty line of stdout, else of stderr: for messages.
    pub fn last_line(&self) -> String {
        self.stdout
            .lines()
            .chain(self.stderr.lines())
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_owned()
    }

    /// A short reason for a failed run.
    pub fn failure(&self) -> String {
        let line = self
            .stderr
            .lines()
            .find(|l| !l.trim().is_empty() && !l.starts_with('\t') && !l.contains("Command "))
            .or_else(|| self.stdout.lines().rfind(|l| !l.trim().is_empty()))
            .unwrap_or("(no output)");
        line.chars().take(200).collect()
    }
}

pub fn have_time() -> bool {
    Path::new(TIME).is_file()
}

/// Runs `program args` in `cwd` (if given), measuring it with
/// `/usr/bin/time -v` when `rusage` is set and the tool exists.
pub fn run(
    program: &Path,
    args: &[OsString],
    cwd: Option<&Path>,
    rusage: bool,
) -> Result<Run, Error> {
    let rusage = rusage && have_time();
    let mut cmd = if rusage {
        let mut c = Command::new(TIME);
        c.arg("-v").arg(program);
        c
    } else {
        Command::new(program)
    };
    cmd.args(args);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    cmd.stdin(Stdio::null());
    let start = Instant::now();
    let Output {
        status,
        stdout,
        stderr,
    } = cmd
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let wall = start.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    let mut stderr = String::from_utf8_lossy(&stderr).into_owned();
    let (mut rss_kib, mut cpu) = (None, None);
    if rusage {
        let field = |name: &str| {
            stderr
                .lines()
                .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_owned()))
        };
        rss_kib = field("Maximum resident set size (kbytes):").and_then(|v| v.parse().ok());
        let user: Option<f64> = field("User time (seconds):").and_then(|v| v.parse().ok());
        let sys: Option<f64> = field("System time (seconds):").and_then(|v| v.parse().ok());
        cpu = user.zip(sys).map(|(u, s)| u + s);
        // Keep only the command's own stderr.
        if let Some(i) = stderr.find("\tCommand being timed:") {
            stderr.truncate(i);
        }
    }
    Ok(Run {
        wall,
        rss_kib,
        cpu,
        ok: status.success(),
        stdout,
        stderr,
    })
}

/// Copies a ledger for a test that writes to it: the log is copied, the
/// documents (write-once files) are hard-linked. No writer cache is copied.
pub fn copy_ledger(from: &Path, to: &Path) -> Result<(), Error> {
    if to.exists() {
        fs::remove_dir_all(to)?;
    }
    fs::create_dir_all(to.join("docs"))?;
    fs::copy(from.join("events.cbor"), to.join("events.cbor"))?;
    let ignore = from.join(".gitignore");
    if ignore.exists() {
        fs::copy(ignore, to.join(".gitignore"))?;
    }
    for entry in fs::read_dir(from.join("docs"))? {
        let entry = entry?;
        let target = to.join("docs").join(entry.file_name());
        if fs::hard_link(entry.path(), &target).is_err() {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Total size of the files under `dir`, in bytes (0 if it is missing).
pub fn du(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|e| e.ok())
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => du(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// The output of a helper command, trimmed, if it ran and succeeded.
pub fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
