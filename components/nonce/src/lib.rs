//! `GET /api/services/nonce`: the highest nonce an address has used.
//!
//! Thin by design: the rules live in `ocean_provider::endpoints::nonce`.
// The `http_component` macro expands to the component's export glue, which is unsafe.
#![allow(unsafe_code)]

ocean_provider::spin_component!(nonce);
