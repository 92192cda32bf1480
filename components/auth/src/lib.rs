//! `createAuthToken` / `deleteAuthToken`: auth tokens that stand in for signatures.
//!
//! Thin by design: the rules live in `ocean_provider::endpoints::auth`.
// The `http_component` macro expands to the component's export glue, which is unsafe.
#![allow(unsafe_code)]

ocean_provider::spin_component!(auth);
