//! shmsync's primitives behind the harness's traits, each in its own
//! shared mapping, opened by name in every child.

use shmsync::{AtomicCounter, ShardedCounter, ShmSafe};

use crate::shm_region::ShmRegion;
use crate::systems::SharedCounter;

/// A `T` alone in a shared mapping.
pub struct InShm<T: ShmSafe> {
    region: ShmRegion,
    _t: core::marker::PhantomData<T>,
}

impl<T: ShmSafe> InShm<T> {
    fn create(name: &str) -> Self {
        let region = ShmRegion::create(name, core::mem::size_of::<T>()).expect("shm region");
        InShm { region, _t: core::marker::PhantomData }
    }

    fn open(name: &str) -> Self {
        let region = ShmRegion::open(name, core::mem::size_of::<T>()).expect("open shm region");
        InShm { region, _t: core::marker::PhantomData }
    }

    fn get(&self) -> &T {
        // SAFETY: `ShmSafe` promises a `repr(C)` `Sync` type valid when zeroed
        // and for whatever another process stores through its own API; the
        // region is page aligned and sized for `T`.
        unsafe { self.region.get() }
    }
}

impl SharedCounter for InShm<AtomicCounter> {
    const NAME: &'static str = "shmsync AtomicCounter";

    fn create(name: &str) -> Self {
        InShm::create(name)
    }

    fn open(name: &str) -> Self {
        InShm::open(name)
    }

    #[inline]
    fn incr(&self) {
        self.get().incr();
    }

    fn sum(&self) -> u64 {
        self.get().get()
    }
}

impl SharedCounter for InShm<ShardedCounter> {
    const NAME: &'static str = "shmsync ShardedCounter";

    fn create(name: &str) -> Self {
        InShm::create(name)
    }

    fn open(name: &str) -> Self {
        InShm::open(name)
    }

    #[inline]
    fn incr(&self) {
        self.get().incr();
    }

    fn sum(&self) -> u64 {
        self.get().sum()
    }
}
