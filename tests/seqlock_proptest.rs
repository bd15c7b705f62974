//! Property tests of `SeqLock`: operation sequences against a sequential
//! model, and exact round-trips of arbitrary byte patterns.

use proptest::prelude::*;
use shmsync::bytemuck::{self, Pod, Zeroable};
use shmsync::{SeqLock, ShmSafe};

/// A value with fields of every width, 24 bytes, no padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ShmSafe, Pod, Zeroable)]
#[bytemuck(crate = "shmsync::bytemuck")]
#[repr(C)]
struct Mixed {
    a: u64,
    b: [u32; 3],
    c: u16,
    d: u8,
    e: i8,
}

/// Floats: NaN payloads and negative zero must survive bit for bit.
#[derive(Clone, Copy, Debug, ShmSafe, Pod, Zeroable)]
#[bytemuck(crate = "shmsync::bytemuck")]
#[repr(C)]
struct Floats {
    x: f64,
    y: [f32; 4],
}

#[derive(Clone, Debug)]
enum Op {
    Write(Mixed),
    /// `update` adding to `a` and rotating `b`; returns the old `a`.
    Update(u64),
    Read,
    TryRead(u32),
    Version,
}

fn mixed() -> impl Strategy<Value = Mixed> {
    (any::<u64>(), any::<[u32; 3]>(), any::<u16>(), any::<u8>(), any::<i8>())
        .prop_map(|(a, b, c, d, e)| Mixed { a, b, c, d, e })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        mixed().prop_map(Op::Write),
        any::<u64>().prop_map(Op::Update),
        Just(Op::Read),
        (0u32..3).prop_map(Op::TryRead),
        Just(Op::Version),
    ]
}

/// Bytes of `T` from a vector of (at least) `size_of::<T>()` bytes.
fn from_bytes<T: Pod>(bytes: &[u8]) -> T {
    bytemuck::pod_read_unaligned(&bytes[..core::mem::size_of::<T>()])
}

fn round_trips<T: ShmSafe + Pod>(first: &[u8], second: &[u8]) -> Result<(), TestCaseError> {
    let lock = SeqLock::new(from_bytes::<T>(first));
    let read = lock.read();
    prop_assert_eq!(bytemuck::bytes_of(&read), &first[..core::mem::size_of::<T>()]);
    let value = from_bytes::<T>(second);
    lock.write(value).unwrap();
    let read = lock.read();
    prop_assert_eq!(bytemuck::bytes_of(&read), bytemuck::bytes_of(&value));
    let read = lock.try_read(1).unwrap();
    prop_assert_eq!(bytemuck::bytes_of(&read), bytemuck::bytes_of(&value));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        // Miri interprets every step: a few cases, each as long as ever.
        cases: if cfg!(miri) { 6 } else { ProptestConfig::default().cases },
        // Miri has no file system for the regressions file.
        #[cfg(miri)]
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn operation_sequences_match_a_sequential_model(
        initial in mixed(),
        ops in proptest::collection::vec(op(), 0..64),
    ) {
        let lock = SeqLock::new(initial);
        let mut model = initial;
        let mut version = 0u64;
        for op in ops {
            match op {
                Op::Write(v) => {
                    lock.write(v).unwrap();
                    model = v;
                    version += 1;
                }
                Op::Update(k) => {
                    let old = lock
                        .update(|v| {
                            let old = v.a;
                            v.a = v.a.wrapping_add(k);
                            v.b.rotate_left(1);
                            old
                        })
                        .unwrap();
                    prop_assert_eq!(old, model.a);
                    model.a = model.a.wrapping_add(k);
                    model.b.rotate_left(1);
                    version += 1;
                }
                Op::Read => prop_assert_eq!(lock.read_versioned(), (model, version)),
                Op::TryRead(n) => {
                    let expected = if n == 0 { None } else { Some(model) };
                    prop_assert_eq!(lock.try_read(n), expected);
                }
                Op::Version => prop_assert_eq!(lock.version(), version),
            }
        }
        prop_assert_eq!(lock.read(), model);
        prop_assert_eq!(lock.writer_recoveries(), 0);
    }

    #[test]
    fn arbitrary_byte_patterns_round_trip_exactly(
        first in proptest::collection::vec(any::<u8>(), 256),
        second in proptest::collection::vec(any::<u8>(), 256),
    ) {
        // Every tail shape (sizes mod 8 = 0..7), floats, and 256 bytes.
        round_trips::<u8>(&first, &second)?;
        round_trips::<[u8; 2]>(&first, &second)?;
        round_trips::<[u8; 3]>(&first, &second)?;
        round_trips::<u32>(&first, &second)?;
        round_trips::<[u8; 5]>(&first, &second)?;
        round_trips::<[u16; 3]>(&first, &second)?;
        round_trips::<[u8; 7]>(&first, &second)?;
        round_trips::<u64>(&first, &second)?;
        round_trips::<[u8; 15]>(&first, &second)?;
        round_trips::<Mixed>(&first, &second)?;
        round_trips::<Floats>(&first, &second)?;
        round_trips::<[u8; 255]>(&first, &second)?;
        round_trips::<[u64; 32]>(&first, &second)?;
    }
}
