//! `shmsync`: lists, inspects and cleans up the shmsync segments of this
//! host, without knowing their Rust types.
//!
//! Each subcommand is a module (`list`, `inspect`, `rm`, `gc`) that returns
//! its whole output as text; `main` prints it, or the error as one line on
//! standard error, and picks the exit status: 0 on success, 1 when a
//! command is refused or fails, 2 on a usage error.

mod gc;
mod human;
mod inspect;
mod json;
mod list;
mod rm;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use shmsync::Error;

/// List, inspect and clean up shmsync shared-memory segments.
///
/// A segment is a shmsync object in /dev/shm. Nothing here maps or attaches
/// to one: headers and lock words are read through a read-only descriptor,
/// and whether a process has a segment open, or a lock's owner is alive, is
/// the kernel's answer.
///
/// Exit status: 0 on success; 1 when a command is refused (the segment is
/// in use) or fails (no such segment, not a shmsync segment, permission
/// denied, ...), with a one-line message on standard error; 2 on a usage
/// error (unknown subcommand or flag, missing argument, invalid segment
/// name).
#[derive(Parser)]
#[command(name = "shmsync", version, disable_help_subcommand = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Subcommand)]
enum Command {
    /// List every shmsync segment of this host
    ///
    /// One line per segment: its name, payload type, size, mode, owner's
    /// uid, creator's pid, state (ready, initializing, creator_died,
    /// other_version), whether a process has it open, and its age. Other
    /// programs' objects in /dev/shm, and segments this user may not read,
    /// are not listed.
    #[command(after_long_help = json::LIST_HELP)]
    List {
        /// Print a JSON array instead of a table (shape below)
        #[arg(long)]
        json: bool,
    },
    /// Show a segment's header and the state of every field in it
    ///
    /// Fields are listed by path (accounts, slots[3].count): a mutex's state
    /// (unlocked, locked, owner_died, not_recoverable), whether its owner is
    /// alive and whether anyone waits for it; counters' values; a seqlock's
    /// version and writer lock; a slice's element type and length. Values
    /// are a snapshot: a live segment may change while it is read.
    #[command(after_long_help = json::INSPECT_HELP)]
    Inspect {
        /// The segment's name, as `shmsync list` shows it
        name: String,
        /// Print a JSON object instead of text (shape below)
        #[arg(long)]
        json: bool,
    },
    /// Remove a segment's name; refused while a process has it open
    #[command(long_about = RM_LONG_ABOUT)]
    Rm {
        /// The segment's name, as `shmsync list` shows it
        name: String,
        /// Remove it even while processes have it open
        #[arg(long)]
        force: bool,
    },
    /// Remove the segments no process has open, and those whose creator
    /// died while creating them
    #[command(long_about = GC_LONG_ABOUT, after_long_help = json::GC_HELP)]
    Gc {
        /// Only print what would be removed
        #[arg(long)]
        dry_run: bool,
        /// Only segments whose names start with PREFIX
        #[arg(long, value_name = "PREFIX")]
        prefix: Option<String>,
        /// Print the names as a JSON array
        #[arg(long)]
        json: bool,
    },
}

const RM_LONG_ABOUT: &str = "\
Remove a segment's name; refused while a process has it open.

Only shmsync segments are removed: another program's object in /dev/shm is
refused. With --force, processes that have the segment open keep using it
(the memory is freed when the last one lets go), but nobody can open it by
name any more, and a new segment may take the name.";

const GC_LONG_ABOUT: &str = "\
Remove every segment no process has open, and every segment whose creator
died while creating it; never anything else.

Such segments are left behind when their processes exit or are killed
without removing them. Segments a process has open (even one it keeps open
for later), segments being created, other programs' objects and objects this
user may not remove are left alone. A segment made to outlive its processes
on purpose is removed by this rule while nobody has it open: run it when
every user of such segments is running, or try --dry-run first.";

fn main() -> ExitCode {
    // Usage errors exit with status 2, `--help` and `--version` with 0.
    let cli = Cli::parse();
    let output = match cli.command {
        Command::List { json } => list::run(json),
        Command::Inspect { name, json } => inspect::run(&name, json),
        Command::Rm { name, force } => rm::run(&name, force),
        Command::Gc { dry_run, prefix, json } => gc::run(prefix.as_deref(), dry_run, json),
    };
    match output {
        Ok(text) => print(&text),
        Err(e) => {
            eprintln!("shmsync: {}", describe(&e));
            ExitCode::from(if matches!(e, Error::InvalidName { .. }) { 2 } else { 1 })
        }
    }
}

/// Writes `text` to standard output. A reader that went away (`shmsync
/// list | head -1`) is not an error.
fn print(text: &str) -> ExitCode {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("shmsync: cannot write the output: {e}");
            ExitCode::from(1)
        }
    }
}

/// The one-line message for `e`, in the command's terms where the
/// library's message gives advice for its API.
fn describe(e: &Error) -> String {
    match e {
        Error::NotFound { name } => {
            format!("no segment named {name:?} (`shmsync list` shows the segments)")
        }
        Error::InUse { name } => format!(
            "segment {name:?} is in use: a process has it open; stop that process first, or \
             remove the name anyway with --force (its users keep their mapping)"
        ),
        Error::NotASegment { name, reason } => format!(
            "{name:?} is not a shmsync segment ({reason}): another program's object, left alone"
        ),
        Error::PermissionDenied { name } => format!(
            "permission denied on segment {name:?}: it belongs to another user, or its mode \
             excludes this one"
        ),
        other => other.to_string(),
    }
}
