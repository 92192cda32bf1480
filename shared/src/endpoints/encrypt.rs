//! `POST /api/services/encrypt?chainId=` (spec §5.3): encrypts the raw body to the
//! chain's provider key and answers `201 text/plain` `0x…`.
//!
//! Differences from the reference, on purpose: `application/octet-stream` with
//! parameters (`; charset=…`) is accepted, an unknown chain is a clear 400 instead of
//! "Failed to encrypt.", an empty body is refused, and bodies above `max_document_size`
//! (default 25 MiB, Ocean Node's figure) get a 413.

use crate::cipher;
use crate::ports::Platform;
use crate::requests::EncryptRequest;
use crate::{ApiRequest, ApiResponse, ProviderError, Result};

/// The configured body limit (`max_document_size`).
pub fn max_document_size(platform: &Platform<'_>) -> Result<u64> {
    platform.settings.max_document_size()
}

/// The 413 answer for a body over the limit.
pub fn too_large(limit: u64) -> ProviderError {
    ProviderError::PayloadTooLarge(format!(
        "Document too large: at most {limit} bytes can be encrypted."
    ))
}

/// `POST /api/services/encrypt?chainId=`. `request.body` holds the whole body (the
/// platform adapter stops reading at the limit and answers 413 itself).
pub fn encrypt(request: &ApiRequest, platform: &Platform<'_>) -> Result<ApiResponse> {
    let input = crate::wire::v2::encrypt(request)?;
    let sealed = seal(platform, &input)?;
    Ok(ApiResponse::text(201, format!("0x{}", hex::encode(sealed))))
}

/// The operation: the document encrypted to the chain's provider key.
pub fn seal(platform: &Platform<'_>, input: &EncryptRequest<'_>) -> Result<Vec<u8>> {
    let limit = max_document_size(platform)?;
    if input.document.len() as u64 > limit {
        return Err(too_large(limit));
    }
    if input.document.is_empty() {
        return Err(ProviderError::BadRequest(
            "Nothing to encrypt: the request body is empty.".into(),
        ));
    }
    let chain = platform.settings.chains()?.resolve(&input.chain)?;
    cipher::encrypt(&chain.key.public_key(), input.document)
        .map_err(|_| ProviderError::Upstream("Failed to encrypt: no randomness available.".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request, served through the route table as the component would.
    fn handle(request: &ApiRequest, platform: &Platform<'_>) -> ApiResponse {
        crate::routes::serve_full("encrypt", request, platform)
    }
    use crate::config::ProviderKey;
    use crate::fakes::FakePlatform;
    use crate::signature::decode_hex;

    use crate::fakes::PROVIDER_KEY as KEY;

    fn platform(extra: &[(&str, &str)]) -> FakePlatform {
        let mut vars = vec![
            ("network_url", r#"{"8996": "http://127.0.0.1:8545"}"#),
            ("provider_private_key", KEY),
        ];
        vars.extend_from_slice(extra);
        FakePlatform::new(&vars)
    }

    fn post(uri: &str, content_type: &str, body: &[u8]) -> ApiRequest {
        ApiRequest::new("POST", uri)
            .with_header("Content-Type", content_type)
            .with_body(body.to_vec())
    }

    #[test]
    fn encrypts_to_the_chain_key() {
        let fake = platform(&[]);
        let r = handle(
            &post(
                "/api/services/encrypt?chainId=8996",
                "application/octet-stream",
                b"{\"a\":1}",
            ),
            &fake.ports(),
        );
        assert_eq!(r.status, 201);
        assert_eq!(r.header("content-type"), Some("text/plain"));
        let text = String::from_utf8(r.body).unwrap();
        assert!(text.starts_with("0x"));
        let key = ProviderKey::parse(KEY).unwrap();
        assert_eq!(
            cipher::decrypt(&key.secret_key(), &decode_hex(&text).unwrap()).unwrap(),
            b"{\"a\":1}"
        );
    }

    #[test]
    fn ocean_js_extra_query_parameters_and_charset_are_fine() {
        let fake = platform(&[]);
        let r = handle(
            &post(
                "/api/services/encrypt?chainId=8996&nonce=1&consumerAddress=0x1&signature=0x2",
                "Application/Octet-Stream; charset=binary",
                b"x",
            ),
            &fake.ports(),
        );
        assert_eq!(r.status, 201);
    }

    #[test]
    fn bad_input_is_4xx_with_a_clear_message() {
        let fake = platform(&[("max_document_size", "10")]);
        let cases: [(ApiRequest, u16, &str); 6] = [
            (
                post(
                    "/api/services/encrypt?chainId=8996",
                    "application/json",
                    b"x",
                ),
                400,
                "content type",
            ),
            (
                post("/api/services/encrypt", "application/octet-stream", b"x"),
                400,
                "Missing chainId",
            ),
            (
                post(
                    "/api/services/encrypt?chainId=",
                    "application/octet-stream",
                    b"x",
                ),
                400,
                "Missing chainId",
            ),
            (
                post(
                    "/api/services/encrypt?chainId=1",
                    "application/octet-stream",
                    b"x",
                ),
                400,
                "Unsupported chainId 1",
            ),
            (
                post(
                    "/api/services/encrypt?chainId=8996",
                    "application/octet-stream",
                    b"",
                ),
                400,
                "empty",
            ),
            (
                post(
                    "/api/services/encrypt?chainId=8996",
                    "application/octet-stream",
                    &[b'x'; 11],
                ),
                413,
                "at most 10 bytes",
            ),
        ];
        for (req, status, needle) in cases {
            let r = handle(&req, &fake.ports());
            assert_eq!(r.status, status, "{needle}");
            let error = r.body_json().unwrap()["error"].as_str().unwrap().to_owned();
            assert!(error.contains(needle), "{error}");
        }
        let get = handle(
            &ApiRequest::new("GET", "/api/services/encrypt?chainId=8996"),
            &fake.ports(),
        );
        assert_eq!(get.status, 405);
    }
}
