//! shmsync's primitives behind the harness's traits, each in its own
//! `Segment`, created by the parent and opened by name in every child.

use shmsync::{
    AtomicCounter, LockError, Segment, SeqLock, ShardedCounter, ShmCondvar, ShmEvent, ShmMutex,
    ShmMutexGuard, ShmRwLock, ShmSafe,
};

use shmsync_support::lock_clean;

use crate::systems::{
    PingPong, RobustLock, SharedCounter, SharedLock, SharedRwLock, SharedSnapshot,
};

fn create<T: ShmSafe>(name: &str) -> Segment<T> {
    Segment::create(name).expect("create shmsync segment")
}

fn open<T: ShmSafe>(name: &str) -> Segment<T> {
    Segment::open(name).expect("open shmsync segment")
}

impl SharedCounter for Segment<AtomicCounter> {
    const NAME: &'static str = "shmsync AtomicCounter";

    fn create(name: &str) -> Self {
        create(name)
    }

    fn open(name: &str) -> Self {
        open(name)
    }

    #[inline]
    fn incr(&self) {
        AtomicCounter::incr(self);
    }

    fn sum(&self) -> u64 {
        AtomicCounter::get(self)
    }
}

impl SharedCounter for Segment<ShardedCounter> {
    const NAME: &'static str = "shmsync ShardedCounter";

    fn create(name: &str) -> Self {
        create(name)
    }

    fn open(name: &str) -> Self {
        open(name)
    }

    #[inline]
    fn incr(&self) {
        ShardedCounter::incr(self);
    }

    fn sum(&self) -> u64 {
        ShardedCounter::sum(self)
    }
}

impl SharedLock for Segment<ShmMutex<u64>> {
    const NAME: &'static str = "shmsync ShmMutex";

    fn create(name: &str) -> Self {
        create(name)
    }

    fn open(name: &str) -> Self {
        open(name)
    }

    #[inline]
    fn lock_unlock(&self) {
        drop(lock_clean(self));
    }

    #[inline]
    fn lock_incr(&self) {
        *lock_clean(self) += 1;
    }

    fn value(&self) -> u64 {
        *lock_clean(self)
    }
}

impl RobustLock for Segment<ShmMutex<u64>> {
    const NAME: &'static str = "shmsync ShmMutex (OwnerDied)";

    fn create(name: &str) -> Self {
        create(name)
    }

    fn open(name: &str) -> Self {
        open(name)
    }

    fn lock_and_keep(&self) {
        // Never unlocked: the process is killed holding it.
        core::mem::forget(lock_clean(self));
    }

    fn lock_recover_unlock(&self) -> bool {
        match self.lock() {
            Ok(_) => false,
            Err(LockError::OwnerDied(mut g)) => {
                ShmMutexGuard::make_consistent(&mut g);
                true
            }
            Err(LockError::NotRecoverable) => panic!("unexpected NotRecoverable"),
        }
    }

    fn lock_during(&self, f: impl FnOnce()) {
        let guard = lock_clean(self);
        f();
        drop(guard);
    }
}

/// A turn counter under a `ShmMutex`, handed over with a `ShmCondvar`.
#[derive(ShmSafe)]
#[repr(C)]
pub struct CondvarTurn {
    turn: ShmMutex<u64>,
    changed: ShmCondvar,
}

impl PingPong for Segment<CondvarTurn> {
    const NAME: &'static str = "shmsync ShmCondvar + ShmMutex";

    fn create(name: &str) -> Self {
        create(name)
    }

    fn open(name: &str) -> Self {
        open(name)
    }

    fn ping(&self) {
        let mut g = lock_clean(&self.turn);
        *g += 1;
        self.changed.notify_one();
        let g = self.changed.wait_while(g, |t| *t % 2 == 1);
        drop(g.unwrap_or_else(|_| panic!("owner died during ping-pong")));
    }

    fn serve(&self, n: u64) {
        let mut g = lock_clean(&self.turn);
        for _ in 0..n {
            g = self
                .changed
                .wait_while(g, |t| *t % 2 == 0)
                .unwrap_or_else(|_| panic!("owner died during ping-pong"));
            *g += 1;
            self.changed.notify_one();
        }
    }
}

/// Two auto-reset events: the parent sets `ping` and waits on `pong`, the
/// child the other way round.
#[derive(ShmSafe)]
#[repr(C)]
pub struct EventTurn {
    ping: ShmEvent,
    pong: ShmEvent,
}

impl PingPong for Segment<EventTurn> {
    const NAME: &'static str = "shmsync ShmEvent (auto reset)";

    fn create(name: &str) -> Self {
        Segment::<EventTurn>::create_with(name, |t| {
            t.ping = ShmEvent::new_auto_reset();
            t.pong = ShmEvent::new_auto_reset();
        })
        .expect("create segment")
    }

    fn open(name: &str) -> Self {
        open(name)
    }

    fn ping(&self) {
        self.ping.set();
        self.pong.wait();
    }

    fn serve(&self, n: u64) {
        for _ in 0..n {
            self.ping.wait();
            self.pong.set();
        }
    }
}

impl SharedSnapshot for Segment<SeqLock<[u64; 8]>> {
    const NAME: &'static str = "shmsync SeqLock";

    fn create(name: &str) -> Self {
        create(name)
    }

    fn open(name: &str) -> Self {
        open(name)
    }

    fn write(&self, v: &[u64; 8]) {
        SeqLock::write(self, *v).expect("no writer died");
    }

    fn read(&self) -> [u64; 8] {
        SeqLock::read(self)
    }
}

impl SharedRwLock for Segment<ShmRwLock<u64>> {
    const NAME: &'static str = "shmsync ShmRwLock";

    fn create(name: &str) -> Self {
        create(name)
    }

    fn open(name: &str) -> Self {
        open(name)
    }

    #[inline]
    fn read(&self) -> u64 {
        match ShmRwLock::read(self) {
            Ok(g) => *g,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }

    #[inline]
    fn write_incr(&self) {
        match ShmRwLock::write(self) {
            Ok(mut g) => *g += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
}
