//! Property test of `ShmSemaphore`'s public API against a sequential
//! model: one thread taking permits with the `try_` and zero-timeout
//! forms, giving them back, forgetting them and releasing permits by hand.
//! Several processes and deaths are modelled in the unit tests of the
//! state machine (`src/semaphore/tests.rs`), which can fake process
//! identities.

use proptest::prelude::*;
use shmsync::{SemaphorePermit, ShmSemaphore};
use std::time::Duration;

#[derive(Clone, Copy, Debug)]
enum Op {
    TryAcquire,
    /// `acquire_timeout(0)`.
    AcquireNow,
    /// Drops the permit at this index (modulo the count).
    GiveBack(usize),
    Forget(usize),
    Release(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => Just(Op::TryAcquire),
        2 => Just(Op::AcquireNow),
        4 => (0..8usize).prop_map(Op::GiveBack),
        1 => (0..8usize).prop_map(Op::Forget),
        1 => (0..3u64).prop_map(Op::Release),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 4 } else { 256 },
        #[cfg(miri)]
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn semaphore_matches_sequential_model(
        permits in 0..4u64,
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let sem = ShmSemaphore::new(permits);
        let mut held: Vec<SemaphorePermit<'_>> = Vec::new();
        let mut total = permits;
        for op in ops {
            let free = total.saturating_sub(held.len() as u64) > 0;
            match op {
                Op::TryAcquire | Op::AcquireNow => {
                    let r = match op {
                        Op::TryAcquire => sem.try_acquire().map_err(|e| format!("{e:?}")),
                        _ => sem.acquire_timeout(Duration::ZERO).map_err(|e| format!("{e:?}")),
                    };
                    match r {
                        Ok(p) => {
                            prop_assert!(free, "{:?} got a permit of none", op);
                            held.push(p);
                        }
                        Err(e) => {
                            prop_assert!(!free, "{:?}: {} with a permit free", op, e);
                            let want = match op {
                                Op::TryAcquire => "WouldBlock",
                                _ => "TimedOut",
                            };
                            prop_assert_eq!(e, want);
                        }
                    }
                }
                Op::GiveBack(i) if !held.is_empty() => {
                    let i = i % held.len();
                    drop(held.remove(i));
                }
                Op::Forget(i) if !held.is_empty() => {
                    let i = i % held.len();
                    held.remove(i).forget();
                    total -= 1;
                }
                Op::Release(n) => {
                    sem.release(n);
                    total += n;
                }
                _ => {}
            }
            let in_use = held.len() as u64;
            prop_assert_eq!((sem.in_use(), sem.total()), (in_use, total), "after {:?}", op);
            prop_assert_eq!(sem.available(), total - in_use);
            let debug = format!(
                "ShmSemaphore {{ available: {}, in_use: {in_use}, total: {total}, \
                 holder_processes: {} }}",
                total - in_use,
                u64::from(in_use > 0)
            );
            prop_assert_eq!(format!("{:?}", sem), debug);
        }
    }
}
