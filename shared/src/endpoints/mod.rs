//! One module per endpoint group: each operation parses its request, calls the rules
//! of this crate and renders the answer. Which operation serves which path and method,
//! and everything every answer shares (CORS, preflight, 405/404, the error envelope),
//! is in [`crate::routes`].

pub mod auth;
pub mod compute;
pub mod decrypt;
pub mod download;
pub mod encrypt;
pub mod fileinfo;
pub mod info;
pub mod initialize;
pub mod nonce;
