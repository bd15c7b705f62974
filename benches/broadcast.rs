//! One thread: the cost of `Broadcast::send` with nobody listening (8 and
//! 64 bytes), in a real `Segment`, beside a `SeqLock` write of the same
//! size (the nearest operation: one robust lock, a versioned copy); and a
//! send followed by a receive of it.
//!
//! Run: `cargo bench --bench broadcast`.

// `criterion_group!` generates an undocumented `pub fn`.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use shmsync_support::criterion::config;

use shmsync::{Broadcast, Segment, SeqLock};
use shmsync_support::bench::unique_name;

fn send_nobody_listening(c: &mut Criterion) {
    let mut g = c.benchmark_group("broadcast send, nobody listening (1 thread)");
    let ring8 = Segment::<Broadcast<u64, 1024>>::create(&unique_name("bcast8")).expect("segment");
    let mut n = 0u64;
    g.bench_function("shmsync Broadcast send, 8 B", |b| {
        b.iter(|| {
            n += 1;
            black_box(&ring8).send(black_box(n)).expect("send")
        })
    });
    let ring64 =
        Segment::<Broadcast<[u64; 8], 1024>>::create(&unique_name("bcast64")).expect("segment");
    g.bench_function("shmsync Broadcast send, 64 B", |b| {
        b.iter(|| black_box(&ring64).send(black_box([7u64; 8])).expect("send"))
    });
    let seqlock = Segment::<SeqLock<u64>>::create(&unique_name("seq8")).expect("segment");
    g.bench_function("shmsync SeqLock write, 8 B", |b| {
        b.iter(|| black_box(&seqlock).write(black_box(7)).expect("write"))
    });
    g.finish();

    let mut g = c.benchmark_group("broadcast send then try_recv (1 thread)");
    let mut rx = ring8.subscribe();
    g.bench_function("shmsync Broadcast, 8 B", |b| {
        b.iter(|| {
            black_box(&ring8).send(black_box(1)).expect("send");
            rx.try_recv().expect("the value just sent")
        })
    });
    g.finish();
}

criterion_group! { name = benches; config = config(); targets = send_nobody_listening }
criterion_main!(benches);
