//! `GET /api/services/initialize`: quotes an access service with a signed provider fee.
//!
//! Thin by design: the rules live in `ocean_provider::endpoints::initialize`.
// The `http_component` macro expands to the component's export glue, which is unsafe.
#![allow(unsafe_code)]

#[cfg(target_arch = "wasm32")]
#[spin_sdk::http_component]
async fn handle(
    request: spin_sdk::http::IncomingRequest,
    outparam: spin_sdk::http::ResponseOutparam,
) {
    use ocean_provider::endpoints;
    ocean_provider::spin_adapter::serve(
        request,
        outparam,
        endpoints::initialize::handle,
        endpoints::json_body_limit,
    )
    .await;
}
