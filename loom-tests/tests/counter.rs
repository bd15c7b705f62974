//! Loom models of `AtomicCounter` and `ShardedCounter`: no increment is
//! lost, and a counter value that includes an increment makes the
//! incrementer's earlier writes visible (the documented orderings).
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use shmsync::{AtomicCounter, ShardedCounter};
use shmsync_loom_tests::check;

/// Two "processes" increment concurrently; after both finish the value is
/// exact, and each saw a distinct previous value.
#[test]
fn atomic_counter_loses_no_increment() {
    check("atomic_counter_loses_no_increment", 3, || {
        let c = Arc::new(AtomicCounter::new(0));
        let t = {
            let c = c.clone();
            thread::spawn(move || c.incr())
        };
        let mine = c.add(2);
        let theirs = t.join().unwrap();
        assert_eq!(c.get(), 3);
        // The two RMWs are ordered: one saw the other's result.
        assert!(matches!((mine, theirs), (0, 2) | (1, 0)), "{mine} {theirs}");
    });
}

/// A counter used as a "ready" count: a reader that sees the increment also
/// sees the data written before it. loom reports a data race on the cell if
/// the counter's release/acquire orderings are weakened.
#[test]
fn atomic_counter_value_publishes_earlier_writes() {
    check("atomic_counter_value_publishes_earlier_writes", 3, || {
        let data = Arc::new(UnsafeCell::new(0u64));
        let c = Arc::new(AtomicCounter::new(0));
        let writer = {
            let (data, c) = (data.clone(), c.clone());
            thread::spawn(move || {
                // SAFETY: only this thread writes, before publishing.
                data.with_mut(|p| unsafe { *p = 42 });
                c.incr();
            })
        };
        if c.get() == 1 {
            // SAFETY: the increment that made the value 1 was released
            // after the write above; the acquire load synchronized with it.
            let v = data.with(|p| unsafe { *p });
            assert_eq!(v, 42);
        }
        writer.join().unwrap();
    });
}

/// Same guarantee through `compare_exchange` and `swap`.
#[test]
fn atomic_counter_cas_and_swap_publish() {
    check("atomic_counter_cas_and_swap_publish", 3, || {
        let data = Arc::new(UnsafeCell::new(0u64));
        let c = Arc::new(AtomicCounter::new(0));
        let writer = {
            let (data, c) = (data.clone(), c.clone());
            thread::spawn(move || {
                // SAFETY: only this thread writes, before publishing.
                data.with_mut(|p| unsafe { *p = 7 });
                // Fails (harmlessly) if the swap below ran first.
                let _ = c.compare_exchange(0, 1);
            })
        };
        if c.swap(5) == 1 {
            // SAFETY: the CAS that stored 1 was released after the write.
            let v = data.with(|p| unsafe { *p });
            assert_eq!(v, 7);
        }
        writer.join().unwrap();
    });
}

/// Two writers on different shards (each model thread is its own CPU) and a
/// concurrent `sum`: the final sum is exact, and a concurrent sum lies
/// between the totals at its start and end (0..=3 here).
#[test]
fn sharded_counter_sum_is_exact_after_join() {
    check("sharded_counter_sum_is_exact_after_join", 3, || {
        let c = Arc::new(ShardedCounter::<2>::new());
        let writers: Vec<_> = (0..2)
            .map(|_| {
                let c = c.clone();
                thread::spawn(move || {
                    c.incr();
                })
            })
            .collect();
        c.add(1);
        let during = c.sum();
        assert!((1..=3).contains(&during), "{during}");
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!(c.sum(), 3);
    });
}

/// Two writers that land on the *same* shard (3 threads, 1 shard) lose
/// nothing either.
#[test]
fn sharded_counter_shared_shard_loses_nothing() {
    check("sharded_counter_shared_shard_loses_nothing", 3, || {
        let c = Arc::new(ShardedCounter::<1>::new());
        let t = {
            let c = c.clone();
            thread::spawn(move || c.add(2))
        };
        c.incr();
        t.join().unwrap();
        assert_eq!(c.sum(), 3);
    });
}

/// If `sum` counts an increment, the incrementer's earlier write is visible.
#[test]
fn sharded_counter_sum_publishes_earlier_writes() {
    check("sharded_counter_sum_publishes_earlier_writes", 3, || {
        let data = Arc::new(UnsafeCell::new(0u64));
        let c = Arc::new(ShardedCounter::<2>::new());
        let writer = {
            let (data, c) = (data.clone(), c.clone());
            thread::spawn(move || {
                // SAFETY: only this thread writes, before publishing.
                data.with_mut(|p| unsafe { *p = 9 });
                c.incr();
            })
        };
        if c.sum() == 1 {
            // SAFETY: the counted increment was released after the write.
            let v = data.with(|p| unsafe { *p });
            assert_eq!(v, 9);
        }
        writer.join().unwrap();
    });
}
