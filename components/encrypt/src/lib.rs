//! `POST /api/services/encrypt`: encrypts a document to the chain's provider key.
//!
//! Thin by design: the rules live in `ocean_provider::endpoints::encrypt`.
// The `http_component` macro expands to the component's export glue, which is unsafe.
#![allow(unsafe_code)]

ocean_provider::spin_component!(encrypt);
