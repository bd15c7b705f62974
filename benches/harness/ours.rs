//! shmsync's primitives behind the harness's traits, each in its own
//! `Segment`, created by the parent and opened by name in every child.

use shmsync::{AtomicCounter, Segment, ShardedCounter, ShmSafe};

use crate::systems::SharedCounter;

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
