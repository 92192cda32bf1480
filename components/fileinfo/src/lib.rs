//! `POST /api/services/fileinfo` (file details, checksums) and `GET /api/services/assetUrls`
//! (a service's file objects, for the data NFT owner).
//!
//! Thin by design: the rules live in `ocean_provider::endpoints::fileinfo`.
// The `http_component` macro expands to the component's export glue, which is unsafe.
#![allow(unsafe_code)]

ocean_provider::spin_component!(fileinfo);
