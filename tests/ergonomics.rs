//! The conveniences a user reaches for first: `?` on a lock in a function
//! returning `Box<dyn Error>`, a bare process-shared lock (`ShmMutex<()>`),
//! fresh unique names, and errors that convert into `shmsync::Error`.

use shmsync_support as support;

use std::error::Error as StdError;
use std::time::Duration;

use shmsync::{
    Broadcast, Error, LockError, LockTimeoutError, Segment, SendTimeoutError, SeqLock,
    SeqLockError, SeqLockTimeoutError, ShmMutex, ShmSafe, TryLockError, TrySendError,
    TrySeqLockError,
};

#[derive(ShmSafe)]
#[repr(C)]
struct Books {
    /// Two accounts whose total is always 100.
    accounts: ShmMutex<[u64; 2]>,
    /// A bare lock, like Python's `multiprocessing.Lock`.
    gate: ShmMutex<()>,
}

const TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn child_entry() {
    support::run_child(|role, args| {
        let seg = Segment::<Books>::open(&args[0]).expect("open segment");
        match role {
            // Takes 10 out of the first account, then dies before putting it
            // into the second: the total is 90 until someone repairs it.
            "die_mid_transfer" => {
                let mut a = seg.accounts.lock_or_repair(|_| {}).expect("lock");
                a[0] -= 10;
                support::reached("half_done");
                support::park_forever();
            }
            "hold_gate" => {
                let _g = seg.gate.lock().expect("gate");
                support::reached("holding");
                support::park_forever();
            }
            other => panic!("unknown role {other}"),
        }
    });
}

fn create(tag: &str) -> Segment<Books> {
    Segment::<Books>::options()
        .create_unique_with(tag, |b| *b.accounts.get_mut() = [100, 0])
        .expect("create segment")
}

/// What a user writes: one line per lock, `?` into `Box<dyn Error>`.
fn transfer(books: &Books, amount: u64) -> Result<u64, Box<dyn StdError>> {
    let mut a = books.accounts.lock_or_repair(|a| a[1] = 100 - a[0])?;
    a[0] -= amount;
    a[1] += amount;
    Ok(a[0] + a[1])
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn lock_or_repair_with_question_mark_repairs_after_a_killed_owner() {
    let seg = create("ergo-repair");
    let mut child = support::spawn("child_entry", "die_mid_transfer", &[seg.name()]);
    child.wait_for("half_done", TIMEOUT);
    child.kill();
    // The repair closure restores the invariant; the transfer goes on.
    assert_eq!(transfer(&seg, 5).expect("repaired, then transferred"), 100);
    assert_eq!(
        *seg.accounts.lock_or_repair(|_| unreachable!("consistent")).expect("lock"),
        [85, 15]
    );
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn lock_or_repair_reports_not_recoverable_as_a_static_error() {
    let seg = create("ergo-notrec");
    let mut child = support::spawn("child_entry", "die_mid_transfer", &[seg.name()]);
    child.wait_for("half_done", TIMEOUT);
    child.kill();
    // Someone gets OwnerDied and gives up without make_consistent.
    match seg.accounts.lock_timeout(TIMEOUT) {
        Err(LockTimeoutError::OwnerDied(g)) => drop(g),
        other => panic!("expected OwnerDied, got {other:?}"),
    }
    let err: Box<dyn StdError> = transfer(&seg, 5).expect_err("not recoverable");
    let err = err.downcast::<Error>().expect("a shmsync::Error");
    assert!(matches!(*err, Error::NotRecoverable), "{err:?}");
    assert!(err.to_string().contains("not recoverable"), "{err}");
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn lock_timeout_or_repair_times_out_on_a_live_owner() {
    let seg = create("ergo-timeout");
    let mut child = support::spawn("child_entry", "die_mid_transfer", &[seg.name()]);
    child.wait_for("half_done", TIMEOUT);
    let timeout = Duration::from_millis(100);
    match seg.accounts.lock_timeout_or_repair(timeout, |_| panic!("the owner lives")) {
        Err(Error::TimedOut { timeout: t }) => assert_eq!(t, timeout),
        other => panic!("expected TimedOut, got {other:?}"),
    }
    child.kill();
    let total = seg
        .accounts
        .lock_timeout_or_repair(TIMEOUT, |a| a[1] = 100 - a[0])
        .map(|a| a[0] + a[1])
        .expect("repaired");
    assert_eq!(total, 100);
}

#[test]
#[cfg_attr(miri, ignore = "spawns processes")]
fn a_bare_process_shared_lock_is_a_shm_mutex_of_unit() {
    let seg = create("ergo-gate");
    let mut child = support::spawn("child_entry", "hold_gate", &[seg.name()]);
    child.wait_for("holding", TIMEOUT);
    assert!(matches!(seg.gate.try_lock(), Err(TryLockError::WouldBlock)));
    child.kill();
    match seg.gate.lock() {
        // Nothing to repair in `()`: just say so.
        Err(LockError::OwnerDied(mut g)) => shmsync::ShmMutexGuard::make_consistent(&mut g),
        other => panic!("expected OwnerDied, got {other:?}"),
    }
    drop(seg.gate.lock().expect("clean again"));
    assert_eq!(core::mem::size_of::<ShmMutex<()>>(), 8, "just the lock word");
}

#[test]
fn create_unique_picks_fresh_names_that_others_can_open() {
    let a = Segment::<Books>::create_unique("ergo-unique").expect("create");
    let b = Segment::<Books>::create_unique("ergo-unique").expect("create");
    assert_ne!(a.name(), b.name());
    for seg in [&a, &b] {
        let suffix = seg.name().strip_prefix("ergo-unique_").expect("prefix kept");
        assert_eq!(suffix.len(), 8);
        assert!(suffix.bytes().all(|c| c.is_ascii_hexdigit()), "{suffix}");
        assert!(seg.is_owner());
        drop(Segment::<Books>::open(seg.name()).expect("open by the returned name"));
    }
    let slice = Segment::<[u64]>::create_slice_unique("ergo-unique", 3).expect("slice");
    assert_eq!(slice.len(), 3);
    assert!(matches!(
        Segment::<Books>::create_unique("bad/prefix"),
        Err(Error::InvalidName { .. })
    ));
    assert!(matches!(
        Segment::<Books>::create_unique(&"x".repeat(195)),
        Err(Error::InvalidName { .. })
    ));
}

#[test]
fn seqlock_errors_convert_into_error() {
    fn write_all(errors: &[SeqLockError]) -> Result<(), Error> {
        for e in errors {
            Err(*e)?;
        }
        Ok(())
    }
    let e = write_all(&[SeqLockError::WriterLockCorrupt]).expect_err("converted");
    assert!(matches!(e, Error::SeqLock(SeqLockError::WriterLockCorrupt)), "{e:?}");
    assert_eq!(e.to_string(), SeqLockError::WriterLockCorrupt.to_string());
}

/// `?` takes each seqlock write form's error into `Error`, and the message
/// is the seqlock's own.
#[test]
fn seqlock_try_and_timeout_errors_convert_into_error() {
    fn write_all(lock: &SeqLock<u64>) -> Result<u64, Error> {
        lock.try_write(1)?;
        lock.try_update(|v| *v += 1)?;
        lock.write_timeout(10, TIMEOUT)?;
        lock.update_timeout(TIMEOUT, |v| *v += 1)?;
        Ok(lock.read())
    }
    let lock = SeqLock::new(0u64);
    assert_eq!(write_all(&lock).expect("no other writer"), 11);

    // A nested `try_write` meets the writer lock its own `update` holds.
    let e = lock.update(|_| write_all(&lock)).expect("outer update").expect_err("nested");
    assert!(matches!(e, Error::TrySeqLock(TrySeqLockError::WouldBlock)), "{e:?}");
    assert_eq!(e.to_string(), TrySeqLockError::WouldBlock.to_string());

    for inner in [TrySeqLockError::WouldBlock, TrySeqLockError::WriterLockCorrupt] {
        let e = Error::from(inner);
        assert!(matches!(e, Error::TrySeqLock(i) if i == inner), "{e:?}");
        assert_eq!(e.to_string(), inner.to_string());
    }
    for inner in [SeqLockTimeoutError::TimedOut, SeqLockTimeoutError::WriterLockCorrupt] {
        let e = Error::from(inner);
        assert!(matches!(e, Error::SeqLockTimeout(i) if i == inner), "{e:?}");
        assert_eq!(e.to_string(), inner.to_string());
    }
}

/// `?` takes `try_send`'s and `send_timeout`'s errors into `Error`, and the
/// message is the broadcast's own.
#[test]
fn broadcast_try_and_timeout_errors_convert_into_error() {
    fn send_both(ring: &Broadcast<u32, 4>) -> Result<u64, Error> {
        ring.try_send(1)?;
        Ok(ring.send_timeout(2, TIMEOUT)?)
    }
    let ring = Broadcast::<u32, 4>::new();
    assert_eq!(send_both(&ring).expect("no other sender"), 1);

    for inner in [TrySendError::WouldBlock, TrySendError::NotRecoverable, TrySendError::Corrupt] {
        let e = Error::from(inner);
        assert!(matches!(e, Error::TryBroadcast(i) if i == inner), "{e:?}");
        assert_eq!(e.to_string(), inner.to_string());
    }
    for inner in
        [SendTimeoutError::TimedOut, SendTimeoutError::NotRecoverable, SendTimeoutError::Corrupt]
    {
        let e = Error::from(inner);
        assert!(matches!(e, Error::BroadcastTimeout(i) if i == inner), "{e:?}");
        assert_eq!(e.to_string(), inner.to_string());
    }
}
