//! A process dies holding a lock in the middle of an update; the next process
//! is told, repairs the data, and the system carries on.
//!
//! Two accounts hold a fixed total. A transfer takes the lock, writes its
//! intent, debits one account, credits the other and clears the intent. The
//! worker SIGKILLs itself between the debit and the credit — the moment a
//! non-robust lock (raw_sync, a plain pthread mutex) would hang every later
//! process forever, and the books would be short by the amount in flight.
//!
//! ```text
//! cargo run --release --example crash_recovery
//! ```

use shmsync_support::workers as support;

use clap::{Parser, Subcommand};
use shmsync::{LockTimeoutError, Segment, ShmMutex, ShmMutexGuard, ShmSafe};
use std::time::Duration;

/// A worker SIGKILLs itself while holding a ShmMutex over a two-account
/// transfer; the next locker gets OwnerDied, repairs the books from the
/// transfer's intent record, marks the mutex consistent, and later transfers
/// work normally.
#[derive(Parser)]
#[command(name = "crash_recovery", disable_help_subcommand = true)]
struct Cli {
    /// Amount moved by each transfer (1..=1000)
    #[arg(long, value_name = "N", default_value_t = 250,
          value_parser = clap::value_parser!(i64).range(1..=1000))]
    amount: i64,
    /// Normal transfers run after the recovery (0..=1000000)
    #[arg(long, value_name = "N", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    transfers: u64,
    // Set only in the worker process the example starts.
    #[command(subcommand)]
    worker: Option<Role>,
}

/// The worker side: this executable, re-run by the parent.
#[derive(Subcommand)]
enum Role {
    /// The worker that dies holding the lock (started by the example itself)
    #[command(hide = true)]
    Worker {
        /// The bank's segment.
        #[arg(long)]
        segment: String,
        /// The transfer it starts and never finishes.
        #[arg(long)]
        amount: i64,
    },
}

/// The sum of both accounts, an invariant every complete transfer keeps.
const TOTAL: i64 = 10_000;

/// The books: the invariant is `checking + savings == TOTAL` whenever the
/// lock is free and `in_flight == 0`.
#[derive(ShmSafe, Clone, Copy, Debug)]
#[repr(C)]
struct Books {
    checking: i64,
    savings: i64,
    /// Intent record: the amount of a transfer that has started and not
    /// finished (0 when none). Written before the first account changes.
    in_flight: i64,
    transfers: u64,
}

#[derive(ShmSafe)]
#[repr(C)]
struct Bank {
    books: ShmMutex<Books>,
}

fn main() {
    // Usage errors exit with status 2, `--help` with 0 (clap's convention).
    let cli = Cli::parse();
    if let Some(Role::Worker { segment, amount }) = cli.worker {
        let bank =
            Segment::<Bank>::open(&segment).unwrap_or_else(|e| fail(&format!("worker: {e}")));
        let mut books = bank.books.lock().unwrap_or_else(|e| fail(&format!("worker: {e}")));
        books.in_flight = amount;
        books.checking -= amount;
        // Killed here (SIGKILL to itself): no unwinding, no destructor, the
        // guard never unlocks.
        shmsync_support::die_now();
    }
    // Errors return through `run`, so the segment is dropped (and unlinked)
    // before the process exits.
    if let Err(message) = run(cli.amount, cli.transfers) {
        fail(&message);
    }
}

fn run(amount: i64, transfers: u64) -> Result<(), String> {
    let name = shmsync_support::names::run_name("crash");
    let bank = Segment::<Bank>::create_with(&name, |bank| {
        bank.books.get_mut().checking = TOTAL;
    })
    .map_err(|e| format!("cannot create the segment: {e}"))?;
    println!(
        "books before:                                            {:?}",
        *bank.books.lock_or_repair(repair).map_err(|e| e.to_string())?
    );

    let status = support::spawn_self(&[
        "worker".into(),
        "--segment".into(),
        name.clone(),
        "--amount".into(),
        amount.to_string(),
    ])
    .and_then(|mut child| child.wait())
    .map_err(|e| format!("cannot run the worker: {e}"))?;
    println!("worker took the lock, debited {amount}, and was killed: {status}");

    // The next locker learns of the death instead of hanging.
    let mut books = match bank.books.lock_timeout(Duration::from_secs(10)) {
        Ok(_) => return Err("the lock was free: the worker did not die holding it".into()),
        Err(LockTimeoutError::OwnerDied(guard)) => guard,
        Err(e) => return Err(format!("unexpected: {e}")),
    };
    println!("next locker: OwnerDied; the books as the worker left them: {:?}", *books);
    repair(&mut books);
    println!("repaired from the intent record:                         {:?}", *books);
    ShmMutexGuard::make_consistent(&mut books);
    drop(books);

    for i in 0..transfers {
        // Every lock site repairs with the real repair: a `lock()?` would
        // drop an OwnerDied guard unrepaired, making the books unusable.
        let mut b = bank.books.lock_or_repair(repair).map_err(|e| e.to_string())?;
        let step = if i % 2 == 0 { 1 } else { -1 };
        b.checking -= step;
        b.savings += step;
        b.transfers += 1;
    }
    let books = *bank.books.lock_or_repair(repair).map_err(|e| e.to_string())?;
    println!("after {transfers} more transfers:                         {books:?}");
    if books.checking + books.savings == TOTAL && books.in_flight == 0 {
        println!("invariant holds: checking + savings == {TOTAL}");
        Ok(())
    } else {
        Err("invariant broken".into())
    }
}

/// Finishes (rolls forward) the transfer the dead worker started: the intent
/// record says how much was in flight, and the sum says whether the credit
/// already happened.
fn repair(books: &mut Books) {
    if books.in_flight != 0 {
        if books.checking + books.savings == TOTAL - books.in_flight {
            books.savings += books.in_flight;
        }
        books.in_flight = 0;
        books.transfers += 1;
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}
