//! Printing: quiet, verbose, colour, progress. Nothing here panics on a
//! closed stdout or stderr.

use std::io::Write as _;

use crate::error::Failure;

use crate::cli::*;

pub(crate) const ERROR: anstyle::Style = anstyle::AnsiColor::Red.on_default().bold();
pub(crate) const GOOD: anstyle::Style = anstyle::AnsiColor::Green.on_default().bold();
pub(crate) const WARN: anstyle::Style = anstyle::AnsiColor::Yellow.on_default().bold();

/// How to print: quiet or verbose, with colour or without.
pub(crate) struct Out {
    pub(crate) json: bool,
    pub(crate) quiet: bool,
    pub(crate) verbose: bool,
    pub(crate) color_out: bool,
    pub(crate) color_err: bool,
    /// `--wait`/`--no-wait`: how long a writer waits for the lock.
    pub(crate) wait: std::time::Duration,
}

impl Out {
    pub(crate) fn new(cli: &Cli) -> Self {
        use std::io::IsTerminal;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let pick = |tty: bool| match cli.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !no_color,
        };
        Out {
            wait: std::time::Duration::from_secs(if cli.no_wait { 0 } else { cli.wait }),
            json: cli.json,
            quiet: cli.quiet,
            verbose: cli.verbose && !cli.quiet,
            color_out: pick(std::io::stdout().is_terminal()),
            color_err: pick(std::io::stderr().is_terminal()),
        }
    }

    pub(crate) fn paint(&self, style: anstyle::Style, text: &str) -> String {
        if self.color_err {
            format!("{style}{text}{style:#}")
        } else {
            text.to_owned()
        }
    }

    pub(crate) fn paint_out(&self, style: anstyle::Style, text: &str) -> String {
        if self.color_out {
            format!("{style}{text}{style:#}")
        } else {
            text.to_owned()
        }
    }

    /// Colours the markers of a text report: the verdict and document states.
    pub(crate) fn report_text(&self, text: &str) -> String {
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

    /// A line of information on stdout, unless quiet.
    pub(crate) fn info(&self, text: impl std::fmt::Display) -> Result<(), Failure> {
        if self.quiet {
            return Ok(());
        }
        self.print(text)
    }

    /// A line on stdout. Every line the binary prints goes through here
    /// or [`Out::write`], so that a closed pipe is handled in one place.
    pub(crate) fn print(&self, text: impl std::fmt::Display) -> Result<(), Failure> {
        let mut so = std::io::stdout().lock();
        writeln!(so, "{text}")
            .and_then(|()| so.flush())
            .map_err(Failure::stdout)
    }

    /// Bytes on stdout, as they are.
    pub(crate) fn write(&self, bytes: &[u8]) -> Result<(), Failure> {
        let mut so = std::io::stdout().lock();
        so.write_all(bytes)
            .and_then(|()| so.flush())
            .map_err(Failure::stdout)
    }

    pub(crate) fn note(&self, text: impl std::fmt::Display) {
        if self.verbose {
            // A closed stderr is no reason to stop (or to panic).
            let _ = writeln!(std::io::stderr(), "ledger: {text}");
        }
    }

    /// A warning on stderr (even when quiet): something was done that the
    /// user did not ask for, like removing a torn tail.
    pub(crate) fn warn(&self, text: impl std::fmt::Display) {
        let _ = writeln!(std::io::stderr(), "ledger: {text}");
    }

    /// Opens the ledger in `dir` for writing, waiting for another writer's
    /// lock as `--wait` says and saying so after a second.
    pub(crate) fn open_writer(
        &self,
        dir: &std::path::Path,
    ) -> Result<ledger::core::writer::Writer, Failure> {
        Ok(ledger::core::writer::Writer::open_waiting(
            dir,
            self.lock_wait(),
            &mut self.waiting(),
        )?)
    }

    /// How long a writer waits for another writer's lock (`--wait`,
    /// `--no-wait`): every writing command takes it from here.
    pub(crate) fn lock_wait(&self) -> ledger::core::store::LockWait {
        ledger::core::store::LockWait::For(self.wait)
    }

    /// What a writer says, once, after waiting a second for the lock.
    pub(crate) fn waiting(&self) -> impl FnMut(Option<u32>) + '_ {
        move |pid: Option<u32>| {
            let by = pid.map(|p| format!(" held by pid {p}")).unwrap_or_default();
            self.warn(format_args!(
                "waiting for the lock{by} (another writer is at work; at most {} s, see --wait)",
                self.wait.as_secs()
            ));
        }
    }

    /// A progress bar on stderr, drawn only on a terminal and only once the
    /// work has taken more than a second.
    pub(crate) fn progress(&self, total: u64, what: &'static str) -> Progress {
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

pub(crate) struct Progress {
    pub(crate) bar: indicatif::ProgressBar,
    pub(crate) enabled: bool,
    pub(crate) shown: bool,
    pub(crate) start: std::time::Instant,
}

impl Progress {
    pub(crate) fn set(&mut self, pos: u64) {
        if self.enabled && !self.shown && self.start.elapsed() > std::time::Duration::from_secs(1) {
            self.bar
                .set_draw_target(indicatif::ProgressDrawTarget::stderr());
            self.shown = true;
        }
        self.bar.set_position(pos);
    }

    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
