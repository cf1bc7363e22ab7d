//! Serving a connection: the [`Engine`] that drives the protocol, timers
//! and bodies for one connection, and the [`Handler`] contract it calls
//! (CPython's `BaseHTTPRequestHandler` hooks and `do_<METHOD>` methods).

pub mod auth;
mod engine;
mod handler;

pub use engine::{refusal, Engine, Input, Now, Output};
pub use handler::{dispatch, Acceptance, Body, BodyPart, BodyUse, Handler, Reply, Request};
