//! What an auditor might use instead of `ledger verify`: the independent
//! Python verifier (tools/verify.py), and a git repository whose history is
//! the same number of SSH-signed commits.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::cli::{self, Run};
use super::{label, Error};

/// `python3 tools/verify.py DIR`, timed; `None` if there is no verifier.
/// The interpreter is the virtual environment `.ci/run` makes with
/// tools/requirements.txt (`target/pyenv`) when it exists, since a bare
/// `python3` often lacks cbor2; else `python3` from PATH.
pub fn python(root: &Path, dir: &Path) -> Result<Option<Run>, Error> {
    let script = root.join("tools").join("verify.py");
    if !script.is_file() {
        return Ok(None);
    }
    let venv = root
        .join("target")
        .join("pyenv")
        .join("bin")
        .join("python3");
    let python = if venv.is_file() {
        venv
    } else {
        PathBuf::from("python3")
    };
    let mut run = cli::run(&python, &args![&script, dir], None, true)?;
    run.ok = run.ok && run.last_line().starts_with("OK:");
    Ok(Some(run))
}

/// A repository of SSH-signed empty commits, and its verification.
pub struct Git {
    pub commits: u64,
    /// Seconds taken to create it, if this run created it.
    pub gen_secs: Option<f64>,
    pub verify: Run,
    /// Commits whose signature git reported as good.
    pub good: u64,
}

/// Why the git comparison could not run, if it cannot.
pub fn git_missing() -> Option<String> {
    for tool in ["git", "ssh-keygen"] {
        if cli::output("sh", &["-c", &format!("command -v {tool}")]).is_none() {
            return Some(format!("{tool} is not installed"));
        }
    }
    None
}

/// Runs git in `repo`; its trimmed stdout.
fn git_out(repo: &Path, args: &[&str]) -> Result<String, Error> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Builds (or reuses) `CACHE/git-<label>/` with `commits` empty commits,
/// each signed with an SSH key as `git commit -S --allow-empty` does, and times
/// `git log --show-signature` over all of them.
pub fn git(cache: &Path, commits: u64) -> Result<Git, Error> {
    let dir = cache.join(format!("git-{}", label(commits)));
    let repo = dir.join("repo");
    let key = dir.join("signing-key");
    let allowed = dir.join("allowed-signers");
    let marker = dir.join("complete");
    let mut gen_secs = None;
    if fs::read_to_string(&marker).ok().as_deref() != Some(&commits.to_string()) {
        eprintln!(
            "bench: creating a git repository of {commits} SSH-signed commits in {}",
            dir.display()
        );
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir)?;
        let start = Instant::now();
        let status = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f"])
            .arg(&key)
            .stdin(std::process::Stdio::null())
            .status()?;
        if !status.success() {
            return Err("ssh-keygen failed".into());
        }
        let public = fs::read_to_string(key.with_extension("pub"))?;
        fs::write(
            &allowed,
            format!("bench@ledger.invalid namespaces=\"git\" {}", public.trim()),
        )?;
        let status = std::process::Command::new("git")
            .args(["init", "-q"])
            .arg(&repo)
            .status()?;
        if !status.success() {
            return Err("git init failed".into());
        }
        // `git commit -S --allow-empty` makes the same signed commit
        // objects; commit-tree skips the index, HEAD and reflog updates,
        // which leaves mostly the one `ssh-keygen -Y sign` per commit.
        let key_arg = format!("user.signingkey={}", path_str(&key)?);
        let empty_tree = git_out(&repo, &["hash-object", "-w", "-t", "tree", "/dev/null"])?;
        let mut parent: Option<String> = None;
        for i in 0..commits {
            let message = format!("event {i}: {}", KINDS[(i % KINDS.len() as u64) as usize]);
            let mut args = vec![
                "-c",
                "gpg.format=ssh",
                "-c",
                &key_arg,
                "-c",
                "user.name=bench",
                "-c",
                "user.email=bench@ledger.invalid",
                "commit-tree",
                "-S",
                "-m",
                &message,
            ];
            if let Some(p) = &parent {
                args.extend(["-p", p.as_str()]);
            }
            args.push(&empty_tree);
            parent = Some(git_out(&repo, &args)?);
            if (i + 1) % 1000 == 0 {
                eprintln!("bench:   {} commits", i + 1);
            }
        }
        if let Some(head) = &parent {
            git_out(&repo, &["update-ref", "refs/heads/main", head])?;
            git_out(&repo, &["symbolic-ref", "HEAD", "refs/heads/main"])?;
        }
        gen_secs = Some(start.elapsed().as_secs_f64());
        fs::write(&marker, commits.to_string())?;
    }
    eprintln!("bench: git log --show-signature over {commits} commits");
    let allowed_arg = format!("gpg.ssh.allowedSignersFile={}", path_str(&allowed)?);
    let verify = cli::run(
        Path::new("git"),
        &args![
            "-C",
            &repo,
            "-c",
            &allowed_arg,
            "log",
            "--show-signature",
            "--format=%H"
        ],
        None,
        true,
    )?;
    let good = verify
        .stdout
        .lines()
        .filter(|l| l.starts_with("Good \"git\" signature"))
        .count() as u64;
    Ok(Git {
        commits,
        gen_secs,
        verify,
        good,
    })
}

fn path_str(p: &Path) -> Result<String, Error> {
    let abs: PathBuf = if p.is_absolute() {
        p.to_owned()
    } else {
        std::env::current_dir()?.join(p)
    };
    abs.to_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{} is not UTF-8", p.display()).into())
}

/// Commit messages, in the proportions of the generated ledgers.
const KINDS: [&str; 15] = [
    "session-opened",
    "note",
    "note",
    "document-drafted",
    "note",
    "document-amended",
    "note",
    "document-approved",
    "document-approved",
    "note",
    "document-signed",
    "document-signed",
    "note",
    "note",
    "session-closed",
];
