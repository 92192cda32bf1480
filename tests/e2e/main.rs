//! End-to-end tests: the real wasm components under the host (or `SPIN_BIN`), over
//! HTTP, against a real local chain and loopback servers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod compute;
mod consume;
mod decrypt;
mod deploy;
mod devstack;
mod fileinfo;
mod foundation;
mod oceanjs;
mod scale;
mod spec;
