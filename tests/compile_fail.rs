//! Compile-fail tests: every mistake in a `network!` is a compile error that points at the
//! offending tokens and says what was expected. One file per mistake in `tests/ui/`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
