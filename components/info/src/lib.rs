//! The root discovery document (`GET /`) and the JSON 404 for unclaimed paths.
//!
//! Thin by design: the rules live in `ocean_provider::endpoints::info`.
// The `http_component` macro expands to the component's export glue, which is unsafe.
#![allow(unsafe_code)]

ocean_provider::spin_component!(info);
