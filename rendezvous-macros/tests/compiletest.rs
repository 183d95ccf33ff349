//! The `#[procedure]` attribute's diagnostics and the shapes it must accept,
//! pinned with trybuild. Regenerate the expected output with
//! `TRYBUILD=overwrite cargo test -p rendezvous-macros`, then read it.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/incorrect/*.rs");
    t.pass("tests/ui/correct/*.rs");
}
