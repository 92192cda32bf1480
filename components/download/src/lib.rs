//! `GET /api/services/download`: validates the order and streams the file.
//!
//! Thin by design: the rules live in `ocean_provider::endpoints::download`.
// The `http_component` macro expands to the component's export glue, which is unsafe.
#![allow(unsafe_code)]

#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
async fn handle(
    request: spin_sdk::http::IncomingRequest,
    outparam: spin_sdk::http::ResponseOutparam,
) {
    ocean_provider::spin_adapter::serve_streaming(
        request,
        outparam,
        ocean_provider::endpoints::download::handle,
    )
    .await;
}
