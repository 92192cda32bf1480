//! One module per endpoint group. Each exposes `handle(&ApiRequest, &Platform) ->
//! ApiResponse`; the components are one-line wrappers around these.
//!
//! Cross-cutting HTTP behaviour lives in [`respond`]: CORS on every answer, `OPTIONS`
//! preflight, `405` JSON for methods a route does not have (HEAD included), and the one
//! error-to-response mapping.

pub mod auth;
pub mod compute;
pub mod decrypt;
pub mod download;
pub mod encrypt;
pub mod fileinfo;
pub mod info;
pub mod initialize;
pub mod nonce;

use crate::log::{Level, log};
use crate::ports::Platform;
use crate::{ApiRequest, ApiResponse, ProviderError, Result};

/// Largest JSON body any endpoint other than `/encrypt` accepts.
pub const MAX_JSON_BODY: usize = 1024 * 1024;

/// The body limit of JSON endpoints (the `body_limit` argument of the Spin adapter).
pub fn json_body_limit(_: &Platform<'_>) -> Result<u64> {
    Ok(MAX_JSON_BODY as u64)
}

/// Runs `handler` if the method is allowed, and applies the cross-cutting rules.
pub fn respond(
    request: &ApiRequest,
    platform: &Platform<'_>,
    component: &str,
    allowed: &[&str],
    handler: impl FnOnce() -> Result<ApiResponse>,
) -> ApiResponse {
    let response = if request.method == "OPTIONS" {
        preflight(request, allowed)
    } else if !allowed.contains(&request.method.as_str()) {
        ProviderError::MethodNotAllowed.to_response()
    } else {
        match handler() {
            Ok(response) => response,
            Err(err) => {
                let level = if err.status() >= 500 {
                    Level::Error
                } else {
                    Level::Info
                };
                // The message is safe to log: errors never carry secrets or URLs.
                log(
                    platform.vars,
                    level,
                    component,
                    &format!(
                        "{} {} -> {}: {err}",
                        request.method,
                        request.path,
                        err.status()
                    ),
                );
                err.to_response()
            }
        }
    };
    with_cors(response)
}

/// Adds the CORS header every answer carries (the reference used flask-cors defaults).
pub fn with_cors(response: ApiResponse) -> ApiResponse {
    response.with_header("access-control-allow-origin", "*")
}

fn preflight(request: &ApiRequest, allowed: &[&str]) -> ApiResponse {
    let mut methods: Vec<&str> = allowed.to_vec();
    methods.push("OPTIONS");
    let methods = methods.join(", ");
    let requested_headers = request
        .header("access-control-request-headers")
        .unwrap_or("*")
        .to_owned();
    ApiResponse::empty(200)
        .with_header("allow", methods.clone())
        .with_header("access-control-allow-methods", methods)
        .with_header("access-control-allow-headers", requested_headers)
        .with_header("access-control-expose-headers", "Content-Disposition")
        .with_header("access-control-max-age", "86400")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::FakePlatform;

    #[test]
    fn options_head_and_unknown_methods() {
        let fake = FakePlatform::new(&[]);
        let p = fake.ports();
        let options = respond(
            &ApiRequest::new("OPTIONS", "/x"),
            &p,
            "t",
            &["GET"],
            || unreachable!(),
        );
        assert_eq!(options.status, 200);
        assert_eq!(options.header("allow"), Some("GET, OPTIONS"));
        assert_eq!(options.header("access-control-allow-origin"), Some("*"));
        for method in ["HEAD", "PATCH", "POST"] {
            let r = respond(
                &ApiRequest::new(method, "/x"),
                &p,
                "t",
                &["GET"],
                || unreachable!(),
            );
            assert_eq!(r.status, 405, "{method}");
            assert_eq!(r.body_json().unwrap()["error"], "Method Not Allowed");
            assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        }
    }
}
