//! `POST /api/services/encrypt?chainId=` (spec §5.3): encrypts the raw body to the
//! chain's provider key and answers `201 text/plain` `0x…`.
//!
//! Both dialects share the path: a request carrying any of `nonce`, `consumerAddress`,
//! `signature` is Ocean Node's (ocean.js 8), signed `consumerAddress + nonce +
//! "encrypt"` with all three required, answered `200 application/octet-stream`, and it
//! spends the nonce. v2's unsigned encrypt stays open unless `require_signed_encrypt`
//! is set.
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
    if crate::wire::node::is_signed_encrypt(request) {
        let sealed = crate::wire::node::encrypt(request)
            .and_then(|input| seal(platform, &input))
            .map_err(ProviderError::in_node_dialect)?;
        return Ok(ApiResponse::bytes(
            200,
            "application/octet-stream",
            format!("0x{}", hex::encode(sealed)).into_bytes(),
        ));
    }
    if platform.settings.require_signed_encrypt()? {
        return Err(ProviderError::Unauthorized(
            "This provider encrypts only signed requests (consumerAddress, nonce and signature of consumerAddress + nonce + \"encrypt\").".into(),
        ));
    }
    let input = crate::wire::v2::encrypt(request)?;
    let sealed = seal(platform, &input)?;
    Ok(ApiResponse::text(201, format!("0x{}", hex::encode(sealed))))
}

/// The operation: the document encrypted to the chain's provider key. A signed
/// request spends its nonce once the document is sealed.
pub fn seal(platform: &Platform<'_>, input: &EncryptRequest<'_>) -> Result<Vec<u8>> {
    let authorized = input
        .claim
        .as_ref()
        .map(|claim| crate::signed_request::verify(platform, claim))
        .transpose()?;
    let limit = max_document_size(platform)?;
    if input.document.len() as u64 > limit {
        return Err(too_large(limit));
    }
    if input.document.is_empty() {
        return Err(ProviderError::BadRequest(
            "Nothing to encrypt: the request body is empty.".into(),
        ));
    }
    let chains = platform.settings.chains()?;
    // Ocean Node ignores `chainId`; a signed request without one uses the first chain.
    let chain = match (&authorized, input.chain.is_empty()) {
        (Some(_), true) => chains
            .iter()
            .next()
            .ok_or_else(|| ProviderError::config("network_url", "names no chain"))?,
        _ => chains.resolve(&input.chain)?,
    };
    let sealed = cipher::encrypt(&chain.key.public_key(), input.document).map_err(|_| {
        ProviderError::Upstream("Failed to encrypt: no randomness available.".into())
    })?;
    if let Some(authorized) = authorized {
        authorized.consume_nonce(platform)?;
    }
    Ok(sealed)
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
    fn charset_parameters_are_fine() {
        let fake = platform(&[]);
        let r = handle(
            &post(
                "/api/services/encrypt?chainId=8996",
                "Application/Octet-Stream; charset=binary",
                b"x",
            ),
            &fake.ports(),
        );
        assert_eq!(r.status, 201);
    }

    fn consumer_sig(message: &str) -> String {
        let key = k256::ecdsa::SigningKey::from_slice(
            &hex::decode(&crate::fakes::CONSUMER_KEY[2..]).unwrap(),
        )
        .unwrap();
        crate::signature::sign_message(&key, message)
            .unwrap()
            .to_hex_v27()
    }

    #[test]
    fn signed_encrypt_is_the_node_dialect_and_spends_its_nonce() {
        use crate::fakes::CONSUMER;
        let fake = platform(&[]);
        let uri = |nonce: &str, sig: &str| {
            format!(
                "/api/services/encrypt?chainId=8996&nonce={nonce}&consumerAddress={CONSUMER}&signature={sig}"
            )
        };
        let good = consumer_sig(&format!("{CONSUMER}5encrypt"));
        let r = handle(
            &post(&uri("5", &good), "application/octet-stream", b"{\"a\":1}"),
            &fake.ports(),
        );
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("application/octet-stream"));
        let key = ProviderKey::parse(KEY).unwrap();
        let text = String::from_utf8(r.body).unwrap();
        assert_eq!(
            cipher::decrypt(&key.secret_key(), &decode_hex(&text).unwrap()).unwrap(),
            b"{\"a\":1}"
        );
        // The same request again: the nonce is spent (401 JSON, Node's envelope).
        let again = handle(
            &post(&uri("5", &good), "application/octet-stream", b"{}"),
            &fake.ports(),
        );
        assert_eq!(again.status, 401);
        assert!(
            again.body_json().unwrap()["error"]
                .as_str()
                .unwrap()
                .contains("nonce")
        );
        // A v2 message (or a wrong one) does not pass as the Node message.
        let before = fake.kv.snapshot();
        for sig in [
            consumer_sig(&format!("{CONSUMER}6")),
            consumer_sig("6encrypt"),
            "0x00".to_owned(),
        ] {
            let r = handle(
                &post(&uri("6", &sig), "application/octet-stream", b"{}"),
                &fake.ports(),
            );
            assert_eq!(r.status, 401, "{sig}");
            assert!(r.body_json().unwrap()["error"].is_string());
        }
        // Only some of the three fields: 401, nothing stored.
        let partial = format!("/api/services/encrypt?chainId=8996&consumerAddress={CONSUMER}");
        assert_eq!(
            handle(
                &post(&partial, "application/octet-stream", b"{}"),
                &fake.ports()
            )
            .status,
            401
        );
        assert_eq!(fake.kv.snapshot(), before);
    }

    #[test]
    fn unsigned_encrypt_can_be_switched_off() {
        let fake = platform(&[("require_signed_encrypt", "true")]);
        let r = handle(
            &post(
                "/api/services/encrypt?chainId=8996",
                "application/octet-stream",
                b"x",
            ),
            &fake.ports(),
        );
        assert_eq!(r.status, 401);
        assert!(
            r.body_json().unwrap()["error"]
                .as_str()
                .unwrap()
                .contains("signed")
        );
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
