//! Helpers shared by the loom models in `tests/`. Built with
//! `RUSTFLAGS="--cfg loom"`; without it the crate is empty.

/// Runs `model` in every interleaving loom explores with at most
/// `preemptions` preemptions per execution, and returns how many executions
/// that was (also printed, so `--nocapture` shows each model's size).
///
/// `LOOM_MAX_PREEMPTIONS`, when set, overrides `preemptions` for every model
/// (loom reads it in `Builder::new`); CI sets it to 3. Without it each model
/// keeps the bound it was written with, so that no model runs unbounded by
/// accident.
///
/// # Panics
///
/// Whatever `model` panics with in some execution (loom reports the
/// failing interleaving), and on a deadlock loom finds.
#[cfg(loom)]
pub fn check(name: &str, preemptions: usize, model: impl Fn() + Sync + Send + 'static) -> usize {
    run(name, preemptions, None, model)
}

/// As [`check`], but with at most `cap` preemptions whatever
/// `LOOM_MAX_PREEMPTIONS` says: for a model whose next bound would not
/// finish in CI's time. The model's docs must say why.
///
/// # Panics
///
/// As [`check`].
#[cfg(loom)]
pub fn check_capped(name: &str, cap: usize, model: impl Fn() + Sync + Send + 'static) -> usize {
    run(name, cap, Some(cap), model)
}

#[cfg(loom)]
fn run(
    name: &str,
    preemptions: usize,
    cap: Option<usize>,
    model: impl Fn() + Sync + Send + 'static,
) -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(preemptions);
    }
    if let (Some(cap), Some(bound)) = (cap, builder.preemption_bound) {
        builder.preemption_bound = Some(bound.min(cap));
    }
    // Counted outside the model (std atomics): loom restarts `model` once
    // per execution.
    let executions = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&executions);
    builder.check(move || {
        // Relaxed: a count, read only after every execution has finished.
        counter.fetch_add(1, Ordering::Relaxed);
        model();
    });
    let n = executions.load(Ordering::Relaxed);
    eprintln!(
        "loom model {name}: {n} executions (preemption bound {})",
        builder.preemption_bound.map_or_else(|| "none".to_owned(), |b| b.to_string())
    );
    n
}

/// Leaks `value` for the rest of the test process.
///
/// Models share state through leaked references rather than loom `Arc`s:
/// when loom unwinds a deadlocked or failed execution, an `Arc` dropped on
/// a model thread's stack would panic again and abort the whole test
/// process instead of failing the one model.
#[cfg(loom)]
pub fn leak<T>(value: T) -> &'static T {
    Box::leak(Box::new(value))
}

/// Locks `m`, whose holders no model has killed: a model that meets a dead
/// owner where none died is exploring the wrong thing.
///
/// # Panics
///
/// If the lock reports `OwnerDied` or `NotRecoverable`.
#[cfg(loom)]
pub fn lock_clean<T>(m: &shmsync::ShmMutex<T>) -> shmsync::ShmMutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| panic!("expected a clean lock, got {e:?}"))
}
