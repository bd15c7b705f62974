//! `AtomicCounter` and `ShardedCounter` public API: layout promises, zeroed
//! validity inside a segment, and the operations.

use shmsync::{AtomicCounter, Segment, ShardedCounter, ShmSafe, DEFAULT_SHARDS};
use std::mem::{align_of, offset_of, size_of};

use shmsync_support as support;

#[derive(ShmSafe)]
#[repr(C)]
struct Neighbours {
    flag: u8,
    a: AtomicCounter,
    b: AtomicCounter,
    s: ShardedCounter<4>,
}

#[test]
fn counters_never_share_a_cache_line_with_neighbours() {
    assert_eq!(offset_of!(Neighbours, a) % 64, 0);
    assert_eq!(offset_of!(Neighbours, b) - offset_of!(Neighbours, a), 64);
    assert_eq!(offset_of!(Neighbours, s) % 64, 0);
    assert_eq!(size_of::<ShardedCounter<4>>(), 4 * 64);
    assert_eq!(align_of::<ShardedCounter>(), 64);
    assert_eq!(ShardedCounter::<DEFAULT_SHARDS>::SHARDS, DEFAULT_SHARDS);
}

#[test]
fn a_fresh_segment_holds_zeroed_counters() {
    let name = support::unique_name("counter-zeroed");
    let seg = Segment::<Neighbours>::create(&name).expect("create");
    assert_eq!(seg.a.get(), 0);
    assert_eq!(seg.s.sum(), 0);
    seg.a.add(5);
    seg.s.add(7);
    let other = Segment::<Neighbours>::open(&name).expect("open");
    assert_eq!(other.a.get(), 5, "the counter lives in the shared mapping");
    assert_eq!(other.s.sum(), 7);
}

#[test]
fn atomic_counter_operations_return_previous_values() {
    let c = AtomicCounter::new(10);
    assert_eq!(c.add(5), 10);
    assert_eq!(c.incr(), 15);
    assert_eq!(c.sub(6), 16);
    assert_eq!(c.get(), 10);
    assert_eq!(c.swap(3), 10);
    assert_eq!(c.compare_exchange(4, 9), Err(3));
    assert_eq!(c.compare_exchange(3, 9), Ok(3));
    assert_eq!(c.get(), 9);
    assert_eq!(format!("{c:?}"), "AtomicCounter(9)");
    assert_eq!(AtomicCounter::default().get(), 0);
}

#[test]
fn sharded_counter_add_sub_and_threads() {
    let c: ShardedCounter<8> = ShardedCounter::default();
    c.add(10);
    c.sub(3);
    c.incr();
    assert_eq!(c.sum(), 8);
    const THREADS: u64 = 4;
    // Miri interprets every step: fewer rounds, still interleaved.
    const EACH: u64 = if cfg!(miri) { 300 } else { 25_000 };
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for _ in 0..EACH {
                    c.incr();
                }
                c.sub(5);
            });
        }
    });
    assert_eq!(c.sum(), 8 + THREADS * EACH - THREADS * 5);
}

#[test]
fn fingerprints_tell_counter_types_apart() {
    assert_ne!(<AtomicCounter as ShmSafe>::FINGERPRINT, <u64 as ShmSafe>::FINGERPRINT);
    assert_ne!(
        <ShardedCounter<1> as ShmSafe>::FINGERPRINT,
        <AtomicCounter as ShmSafe>::FINGERPRINT
    );
}
