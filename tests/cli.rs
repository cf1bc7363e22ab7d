//! The command line: CPython's options, messages and exit codes.

mod support;

#[test]
fn placeholder_until_written() {}
