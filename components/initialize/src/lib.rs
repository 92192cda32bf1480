//! `GET /api/services/initialize`: quotes an access service with a signed provider fee.
//!
//! Thin by design: the rules live in `ocean_provider::endpoints::initialize`.
// The `http_component` macro expands to the component's export glue, which is unsafe.
#![allow(unsafe_code)]

ocean_provider::spin_component!(initialize);
