//! Nothing but a reference to the core, so that building this crate with
//! Rust 1.63 compiles all of `httpserver-core` (its `blocking` module too).
pub use httpserver_core::blocking::serve_stream;
pub use httpserver_core::Engine;
