//! A `SeqLock` of a type with padding bytes (or of a type not known to accept
//! every bit pattern) does not compile; a padding-free plain-data type does.

#[test]
#[cfg_attr(miri, ignore = "runs the compiler (trybuild)")]
fn seqlock_value_types() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui-seqlock/pass_plain_data.rs");
    t.compile_fail("tests/ui-seqlock/padded_pod_derive.rs");
    t.compile_fail("tests/ui-seqlock/padded_without_pod.rs");
    t.compile_fail("tests/ui-seqlock/bool_field.rs");
}
