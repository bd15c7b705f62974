//! `#[derive(ShmSafe)]` accepts repr(C) structs of ShmSafe fields and
//! rejects everything that cannot live in cross-process shared memory.
//!
//! The expected compiler messages are in `tests/ui/*.stderr`; regenerate
//! them after an intentional change with `TRYBUILD=overwrite cargo test
//! --test derive`.

#[test]
#[cfg_attr(miri, ignore = "runs the compiler (trybuild)")]
fn derive_rejects_what_cannot_live_in_shared_memory() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/missing_repr_c.rs");
    t.compile_fail("tests/ui/box_field.rs");
    t.compile_fail("tests/ui/reference_field.rs");
    t.compile_fail("tests/ui/static_reference_field.rs");
    t.compile_fail("tests/ui/string_field.rs");
    t.compile_fail("tests/ui/raw_pointer_field.rs");
    t.compile_fail("tests/ui/enum.rs");
    t.compile_fail("tests/ui/packed.rs");
    t.compile_fail("tests/ui/bool_field.rs");
    t.compile_fail("tests/ui/bool_primitive.rs");
    t.compile_fail("tests/ui/char_array_field.rs");
    t.compile_fail("tests/ui/two_bad_fields.rs");
    t.compile_fail("tests/ui/unknown_shmsync_attribute.rs");
    t.pass("tests/ui/pass_nested.rs");
    t.pass("tests/ui/pass_renamed_crate.rs");
}
