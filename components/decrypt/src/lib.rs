//! `POST /api/services/decrypt`: returns an asset's DDO to an authorised caller.
//!
//! Thin by design: the rules live in `ocean_provider::endpoints::decrypt`.
// The `http_component` macro expands to the component's export glue, which is unsafe.
#![allow(unsafe_code)]

ocean_provider::spin_component!(decrypt);
