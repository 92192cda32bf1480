//! The compute group: initializeCompute, compute start/status/stop/delete, computeResult,
//! computeEnvironments and validateContainer, in front of the operator service.
//!
//! Thin by design: the rules live in `ocean_provider::endpoints::compute`.
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
        ocean_provider::endpoints::compute::handle,
    )
    .await;
}
