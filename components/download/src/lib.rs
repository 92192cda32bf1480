//! `GET /api/services/download`: validates the order and streams the file.
//!
//! Thin by design: the rules live in `ocean_provider::endpoints::download`.
// The `http_component` macro expands to the component's export glue, which is unsafe.
#![allow(unsafe_code)]

ocean_provider::spin_component!(download);
