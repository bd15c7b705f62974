//! The peers, in shared memory: glibc's process-shared pthread objects (via
//! `libc`), `raw_sync`, a bare `fetch_add`, and a spinning ping-pong.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::pthread::{Locked, PthreadCondvar, PthreadMutex, PthreadRwLock};
use crate::shm_region::ShmRegion;
use crate::systems::{
    PingPong, RobustLock, SharedCounter, SharedLock, SharedRwLock, SharedSnapshot,
};

const PAGE: usize = 4096;
/// Offsets inside a peer's page: each object on its own cache line.
const MUTEX_AT: usize = 0;
const VALUE_AT: usize = 64;
const CONDVAR_AT: usize = 128;

/// A pthread mutex (robust or not) and a `u64` beside it, in one page.
pub struct GlibcLock<const ROBUST: bool> {
    mutex: PthreadMutex,
    region: ShmRegion,
}

impl<const ROBUST: bool> GlibcLock<ROBUST> {
    fn value_ptr(&self) -> *mut u64 {
        // SAFETY: VALUE_AT + 8 <= PAGE, the region's size.
        unsafe { self.region.as_ptr().add(VALUE_AT).cast() }
    }

    fn mutex_ptr(region: &ShmRegion) -> *mut libc::pthread_mutex_t {
        // SAFETY: MUTEX_AT + size_of::<pthread_mutex_t>() <= PAGE.
        unsafe { region.as_ptr().add(MUTEX_AT).cast() }
    }
}

impl<const ROBUST: bool> SharedLock for GlibcLock<ROBUST> {
    const NAME: &'static str = if ROBUST {
        "glibc robust pshared pthread_mutex"
    } else {
        "glibc pshared pthread_mutex (not robust)"
    };

    fn create(name: &str) -> Self {
        let region = ShmRegion::create(name, PAGE).expect("shm region");
        // SAFETY: the slot is in the fresh mapping, aligned, and used by no
        // one yet; the region outlives the handle (both in `Self`).
        let mutex = unsafe { PthreadMutex::init(Self::mutex_ptr(&region), ROBUST) }
            .expect("pthread_mutex_init");
        GlibcLock { mutex, region }
    }

    fn open(name: &str) -> Self {
        let region = ShmRegion::open(name, PAGE).expect("open shm region");
        // SAFETY: the creator initialized the mutex at this offset.
        let mutex = unsafe { PthreadMutex::from_raw(Self::mutex_ptr(&region)) };
        GlibcLock { mutex, region }
    }

    #[inline]
    fn lock_unlock(&self) {
        self.mutex.lock();
        self.mutex.unlock();
    }

    #[inline]
    fn lock_incr(&self) {
        self.mutex.lock();
        // SAFETY: the value is only touched while holding the mutex.
        unsafe { *self.value_ptr() += 1 };
        self.mutex.unlock();
    }

    fn value(&self) -> u64 {
        self.mutex.lock();
        // SAFETY: as in `lock_incr`.
        let v = unsafe { *self.value_ptr() };
        self.mutex.unlock();
        v
    }
}

/// glibc's robust mutex as a [`RobustLock`].
pub type GlibcRobust = GlibcLock<true>;

impl RobustLock for GlibcRobust {
    const NAME: &'static str = "glibc robust pshared pthread_mutex (EOWNERDEAD)";

    fn create(name: &str) -> Self {
        <Self as SharedLock>::create(name)
    }

    fn open(name: &str) -> Self {
        <Self as SharedLock>::open(name)
    }

    fn lock_and_keep(&self) {
        assert_eq!(self.mutex.lock(), Locked::Clean, "holder found a dead owner");
    }

    fn lock_recover_unlock(&self) -> bool {
        let died = self.mutex.lock() == Locked::OwnerDied;
        self.mutex.unlock();
        died
    }

    fn lock_during(&self, f: impl FnOnce()) {
        assert_eq!(self.mutex.lock(), Locked::Clean, "holder found a dead owner");
        f();
        self.mutex.unlock();
    }
}

/// `raw_sync::locks::Mutex` (a non-robust pshared pthread mutex behind a
/// `Box<dyn LockImpl>`), guarding a `u64`.
pub struct RawSyncLock {
    // Declared before `region`: dropped first, while its memory is mapped.
    lock: Box<dyn raw_sync::locks::LockImpl>,
    _region: ShmRegion,
}

impl RawSyncLock {
    fn build(region: ShmRegion, create: bool) -> Self {
        use raw_sync::locks::{LockInit, Mutex};
        let mem = region.as_ptr();
        // SAFETY: VALUE_AT is inside the page.
        let data = unsafe { mem.add(VALUE_AT) };
        // SAFETY: both pointers are inside the mapping, which outlives the
        // lock (field order); `new` runs once, in the creator.
        let made = unsafe {
            if create {
                Mutex::new(mem, data)
            } else {
                Mutex::from_existing(mem, data)
            }
        };
        let (lock, _) = made.expect("raw_sync mutex");
        RawSyncLock { lock, _region: region }
    }
}

impl SharedLock for RawSyncLock {
    const NAME: &'static str = "raw_sync::locks::Mutex";

    fn create(name: &str) -> Self {
        Self::build(ShmRegion::create(name, PAGE).expect("shm region"), true)
    }

    fn open(name: &str) -> Self {
        Self::build(ShmRegion::open(name, PAGE).expect("open shm region"), false)
    }

    #[inline]
    fn lock_unlock(&self) {
        drop(self.lock.lock().expect("raw_sync lock"));
    }

    #[inline]
    fn lock_incr(&self) {
        let guard = self.lock.lock().expect("raw_sync lock");
        // SAFETY: the guard hands out the data pointer given to `new`, a
        // `u64` slot in the mapping; we hold the lock.
        unsafe { *(*guard).cast::<u64>() += 1 };
    }

    fn value(&self) -> u64 {
        let guard = self.lock.lock().expect("raw_sync lock");
        // SAFETY: as in `lock_incr`.
        unsafe { *(*guard).cast::<u64>() }
    }
}

/// The counter floor: one `fetch_add` on one shared `AtomicU64`.
pub struct FetchAdd {
    region: ShmRegion,
}

impl FetchAdd {
    fn word(&self) -> &AtomicU64 {
        // SAFETY: an AtomicU64 at the page start, valid when zeroed.
        unsafe { self.region.get() }
    }
}

impl SharedCounter for FetchAdd {
    const NAME: &'static str = "bare fetch_add on one AtomicU64";

    fn create(name: &str) -> Self {
        FetchAdd { region: ShmRegion::create(name, PAGE).expect("shm region") }
    }

    fn open(name: &str) -> Self {
        FetchAdd { region: ShmRegion::open(name, PAGE).expect("open shm region") }
    }

    #[inline]
    fn incr(&self) {
        // relaxed: a statistic; the total is read after the processes exit.
        self.word().fetch_add(1, Ordering::Relaxed);
    }

    fn sum(&self) -> u64 {
        // relaxed: read after the writers exited.
        self.word().load(Ordering::Relaxed)
    }
}

/// A process-shared `pthread_cond_t` with a robust mutex and a turn counter.
pub struct GlibcCondvarPingPong {
    mutex: PthreadMutex,
    condvar: PthreadCondvar,
    region: ShmRegion,
}

impl GlibcCondvarPingPong {
    fn turn(&self) -> *mut u64 {
        // SAFETY: VALUE_AT + 8 <= PAGE.
        unsafe { self.region.as_ptr().add(VALUE_AT).cast() }
    }

    fn parts(region: &ShmRegion) -> (*mut libc::pthread_mutex_t, *mut libc::pthread_cond_t) {
        // SAFETY: both offsets plus their objects' sizes (40 and 48 bytes)
        // lie inside the page.
        unsafe { (region.as_ptr().add(MUTEX_AT).cast(), region.as_ptr().add(CONDVAR_AT).cast()) }
    }
}

impl PingPong for GlibcCondvarPingPong {
    const NAME: &'static str = "glibc pshared pthread_cond + robust mutex";

    fn create(name: &str) -> Self {
        let region = ShmRegion::create(name, PAGE).expect("shm region");
        let (m, c) = Self::parts(&region);
        // SAFETY: fresh, aligned, unused slots in a mapping kept in `Self`.
        let (mutex, condvar) = unsafe {
            (
                PthreadMutex::init(m, true).expect("mutex init"),
                PthreadCondvar::init(c).expect("condvar init"),
            )
        };
        GlibcCondvarPingPong { mutex, condvar, region }
    }

    fn open(name: &str) -> Self {
        let region = ShmRegion::open(name, PAGE).expect("open shm region");
        let (m, c) = Self::parts(&region);
        // SAFETY: the creator initialized both at these offsets.
        let (mutex, condvar) = unsafe { (PthreadMutex::from_raw(m), PthreadCondvar::from_raw(c)) };
        GlibcCondvarPingPong { mutex, condvar, region }
    }

    fn ping(&self) {
        self.mutex.lock();
        // SAFETY: the turn is only touched under the mutex.
        unsafe { *self.turn() += 1 };
        self.condvar.notify_one();
        // SAFETY: as above.
        while unsafe { *self.turn() } % 2 == 1 {
            self.condvar.wait(&self.mutex);
        }
        self.mutex.unlock();
    }

    fn serve(&self, n: u64) {
        self.mutex.lock();
        for _ in 0..n {
            // SAFETY: the turn is only touched under the mutex.
            while unsafe { *self.turn() } % 2 == 0 {
                self.condvar.wait(&self.mutex);
            }
            // SAFETY: as above.
            unsafe { *self.turn() += 1 };
            self.condvar.notify_one();
        }
        self.mutex.unlock();
    }
}

/// Both sides spin on one shared word: the latency floor of a hand-off
/// (it burns a core per side, which is why nobody ships it as a condvar).
pub struct SpinPingPong {
    region: ShmRegion,
}

impl SpinPingPong {
    fn turn(&self) -> &AtomicU64 {
        // SAFETY: an AtomicU64 at the page start, valid when zeroed.
        unsafe { self.region.get() }
    }
}

impl PingPong for SpinPingPong {
    const NAME: &'static str = "spin on a shared AtomicU64";

    fn create(name: &str) -> Self {
        SpinPingPong { region: ShmRegion::create(name, PAGE).expect("shm region") }
    }

    fn open(name: &str) -> Self {
        SpinPingPong { region: ShmRegion::open(name, PAGE).expect("open shm region") }
    }

    fn ping(&self) {
        // acquire/release on the turn: each side's hand-off publishes
        // nothing else, but the pairs keep the protocol a proper hand-off.
        let t = self.turn().load(Ordering::Acquire);
        self.turn().store(t + 1, Ordering::Release);
        while self.turn().load(Ordering::Acquire) == t + 1 {
            std::hint::spin_loop();
        }
    }

    fn serve(&self, n: u64) {
        for _ in 0..n {
            // acquire: pairs with the parent's release store in `ping`.
            let mut t = self.turn().load(Ordering::Acquire);
            while t % 2 == 0 {
                std::hint::spin_loop();
                t = self.turn().load(Ordering::Acquire);
            }
            // release: pairs with the parent's acquire load in `ping`.
            self.turn().store(t + 1, Ordering::Release);
        }
    }
}

/// `raw_sync::locks::RwLock` (a pshared `pthread_rwlock_t`) around 64 bytes:
/// what a reader of a shared snapshot uses without a seqlock.
pub struct RawSyncRwLock {
    lock: Box<dyn raw_sync::locks::LockImpl>,
    _region: ShmRegion,
}

impl RawSyncRwLock {
    fn build(region: ShmRegion, create: bool) -> Self {
        use raw_sync::locks::{LockInit, RwLock};
        let mem = region.as_ptr();
        // SAFETY: 128 + 64 <= PAGE.
        let data = unsafe { mem.add(CONDVAR_AT) };
        // SAFETY: as in `RawSyncLock::build`.
        let made = unsafe {
            if create {
                RwLock::new(mem, data)
            } else {
                RwLock::from_existing(mem, data)
            }
        };
        let (lock, _) = made.expect("raw_sync rwlock");
        RawSyncRwLock { lock, _region: region }
    }
}

impl SharedSnapshot for RawSyncRwLock {
    const NAME: &'static str = "raw_sync::locks::RwLock (pthread_rwlock)";

    fn create(name: &str) -> Self {
        Self::build(ShmRegion::create(name, PAGE).expect("shm region"), true)
    }

    fn open(name: &str) -> Self {
        Self::build(ShmRegion::open(name, PAGE).expect("open shm region"), false)
    }

    fn write(&self, v: &[u64; 8]) {
        let guard = self.lock.lock().expect("raw_sync write lock");
        // SAFETY: the data pointer is 64 bytes inside the mapping, 8-aligned;
        // we hold the write lock.
        unsafe { *(*guard).cast::<[u64; 8]>() = *v };
    }

    fn read(&self) -> [u64; 8] {
        let guard = self.lock.rlock().expect("raw_sync read lock");
        // SAFETY: as in `write`, under the read lock.
        unsafe { *(*guard).cast::<[u64; 8]>() }
    }
}

/// The CAS + swap floor as a [`SharedLock`] (only measured uncontended:
/// it spins instead of sleeping, so it is no contended competitor).
pub struct FloorShared {
    region: ShmRegion,
}

impl FloorShared {
    fn floor(&self) -> &crate::floor::FloorLock {
        // SAFETY: a FloorLock (one AtomicU32) at the page start, valid zeroed.
        unsafe { self.region.get() }
    }

    fn value_ptr(&self) -> *mut u64 {
        // SAFETY: VALUE_AT + 8 <= PAGE.
        unsafe { self.region.as_ptr().add(VALUE_AT).cast() }
    }
}

impl SharedLock for FloorShared {
    const NAME: &'static str = "floor: CAS + swap on one AtomicU32";

    fn create(name: &str) -> Self {
        FloorShared { region: ShmRegion::create(name, PAGE).expect("shm region") }
    }

    fn open(name: &str) -> Self {
        FloorShared { region: ShmRegion::open(name, PAGE).expect("open shm region") }
    }

    #[inline]
    fn lock_unlock(&self) {
        self.floor().lock();
        self.floor().unlock();
    }

    #[inline]
    fn lock_incr(&self) {
        self.floor().lock();
        // SAFETY: only touched while holding the floor lock.
        unsafe { *self.value_ptr() += 1 };
        self.floor().unlock();
    }

    fn value(&self) -> u64 {
        self.floor().lock();
        // SAFETY: as in `lock_incr`.
        let v = unsafe { *self.value_ptr() };
        self.floor().unlock();
        v
    }
}

impl SharedSnapshot for GlibcRobust {
    const NAME: &'static str = "glibc robust pshared pthread_mutex";

    fn create(name: &str) -> Self {
        <Self as SharedLock>::create(name)
    }

    fn open(name: &str) -> Self {
        <Self as SharedLock>::open(name)
    }

    fn write(&self, v: &[u64; 8]) {
        self.mutex.lock();
        // SAFETY: 64 bytes at CONDVAR_AT (unused by this type) inside the
        // page, 8-aligned; only touched under the mutex.
        unsafe { *self.region.as_ptr().add(CONDVAR_AT).cast::<[u64; 8]>() = *v };
        self.mutex.unlock();
    }

    fn read(&self) -> [u64; 8] {
        self.mutex.lock();
        // SAFETY: as in `write`.
        let v = unsafe { *self.region.as_ptr().add(CONDVAR_AT).cast::<[u64; 8]>() };
        self.mutex.unlock();
        v
    }
}

impl SharedRwLock for RawSyncRwLock {
    const NAME: &'static str = "raw_sync::locks::RwLock (pthread_rwlock)";

    fn create(name: &str) -> Self {
        <Self as SharedSnapshot>::create(name)
    }

    fn open(name: &str) -> Self {
        <Self as SharedSnapshot>::open(name)
    }

    #[inline]
    fn read(&self) -> u64 {
        let guard = self.lock.rlock().expect("raw_sync read lock");
        // SAFETY: the data pointer is 64 bytes inside the mapping, 8-aligned;
        // its first word is the value; we hold the read lock.
        unsafe { *(*guard).cast::<u64>() }
    }

    #[inline]
    fn write_incr(&self) {
        let guard = self.lock.lock().expect("raw_sync write lock");
        // SAFETY: as in `read`, under the write lock.
        unsafe { *(*guard).cast::<u64>() += 1 };
    }
}

/// glibc's process-shared `pthread_rwlock_t` (default kind: readers
/// preferred) and a `u64` beside it, in one page. glibc has no robust
/// rwlock: a holder that dies leaves it held.
pub struct GlibcRwLock {
    lock: PthreadRwLock,
    region: ShmRegion,
}

impl GlibcRwLock {
    fn value_ptr(&self) -> *mut u64 {
        // SAFETY: VALUE_AT + 8 <= PAGE, the region's size.
        unsafe { self.region.as_ptr().add(VALUE_AT).cast() }
    }

    fn lock_ptr(region: &ShmRegion) -> *mut libc::pthread_rwlock_t {
        // SAFETY: size_of::<pthread_rwlock_t>() (56) <= VALUE_AT: the lock
        // at the page start does not reach the value.
        unsafe { region.as_ptr().add(MUTEX_AT).cast() }
    }
}

impl SharedRwLock for GlibcRwLock {
    const NAME: &'static str = "glibc pshared pthread_rwlock (not robust)";

    fn create(name: &str) -> Self {
        let region = ShmRegion::create(name, PAGE).expect("shm region");
        // SAFETY: the slot is in the fresh mapping, aligned, and used by no
        // one yet; the region outlives the handle (both in `Self`).
        let lock =
            unsafe { PthreadRwLock::init(Self::lock_ptr(&region)) }.expect("pthread_rwlock_init");
        GlibcRwLock { lock, region }
    }

    fn open(name: &str) -> Self {
        let region = ShmRegion::open(name, PAGE).expect("open shm region");
        // SAFETY: the creator initialized the rwlock at this offset.
        let lock = unsafe { PthreadRwLock::from_raw(Self::lock_ptr(&region)) };
        GlibcRwLock { lock, region }
    }

    #[inline]
    fn read(&self) -> u64 {
        self.lock.read();
        // SAFETY: the value is written only under the write lock.
        let v = unsafe { *self.value_ptr() };
        self.lock.unlock();
        v
    }

    #[inline]
    fn write_incr(&self) {
        self.lock.write();
        // SAFETY: as in `read`, under the write lock.
        unsafe { *self.value_ptr() += 1 };
        self.lock.unlock();
    }
}
