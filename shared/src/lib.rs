//! The one common library of the Ocean Provider components.
//!
//! A request flows: route (`spin.toml`) → component handler → an endpoint function in
//! [`endpoints`] → the rules in this crate → a platform port ([`ports`]) → response.
//! Everything here is plain Rust and is unit-tested on the host target; the only
//! wasm-specific glue is [`spin_adapter`], compiled for `wasm32` alone.

pub mod address;
pub mod asset;
pub mod auth_token;
pub mod chain;
pub mod cipher;
pub mod compute;
pub mod config;
pub mod decimal;
pub mod did;
pub mod endpoints;
pub mod error;
pub mod fakes;
pub mod log;
pub mod nonce;
pub mod order;
pub mod outbound;
pub mod ports;
pub mod proof;
pub mod provider_fee;
pub mod rbac;
pub mod request;
pub mod requests;
pub mod response;
pub mod routes;
pub mod settings;
pub mod signature;
pub mod signed_request;
pub mod url_safety;
pub mod wire;

#[cfg(target_arch = "wasm32")]
pub mod spin_adapter;

pub use error::ProviderError;
pub use request::ApiRequest;
pub use response::{ApiResponse, Reply};

/// Result type of every fallible provider operation.
pub type Result<T, E = ProviderError> = std::result::Result<T, E>;

/// Declares the Spin HTTP component of an endpoint group: the whole body of a
/// component crate. The id names its entry in [`routes::COMPONENTS`] (its operations,
/// variables and body limit) and its function in [`routes::handlers`], so the
/// component links its own operations only.
#[macro_export]
macro_rules! spin_component {
    ($id:ident) => {
        #[cfg(target_arch = "wasm32")]
        #[spin_sdk::http_component]
        async fn handle(
            request: spin_sdk::http::IncomingRequest,
            outparam: spin_sdk::http::ResponseOutparam,
        ) {
            $crate::spin_adapter::serve(
                request,
                outparam,
                stringify!($id),
                $crate::routes::handlers::$id,
            )
            .await;
        }
    };
}
