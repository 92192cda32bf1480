//! `GET /api/services/createAuthToken` and `DELETE /api/services/deleteAuthToken`
//! (spec §5.15, §5.16), and Ocean Node's `POST /api/services/auth/token` and
//! `POST /api/services/auth/token/invalidate` (dialect spec §2.5, §2.6). One JWT
//! format (`exp`, `address`) serves both dialects, and one revocation list: a token
//! from either endpoint works with either dialect's header and dies at once on every
//! instance sharing the key-value store when either endpoint revokes it.
//!
//! Fixed on purpose: both consume the nonce, so a captured request cannot be replayed
//! (G5); a revoked token stays revoked — creating the same `(address, expiration)`
//! again is refused instead of silently reviving a token that may have leaked.

use serde_json::json;

use crate::auth_token::{
    TokenError, create_token, create_token_for_nonce, decode_token, is_revoked, revoke,
};
use crate::ports::Platform;
use crate::requests::{CreateTokenRequest, DeleteTokenRequest};
use crate::signed_request::verify;
use crate::{ApiRequest, ApiResponse, ProviderError, Result};

/// `GET /api/services/createAuthToken`, in the v2 dialect.
pub fn create(request: &ApiRequest, platform: &Platform<'_>) -> Result<ApiResponse> {
    let token = issue_token(platform, &crate::wire::v2::create_token(request)?)?;
    Ok(ApiResponse::json(200, &json!({ "token": token })))
}

/// `POST /api/services/auth/token`, in the Ocean Node dialect.
pub fn node_create(request: &ApiRequest, platform: &Platform<'_>) -> Result<ApiResponse> {
    let token = crate::wire::node::create_token(request)
        .and_then(|input| issue_token(platform, &input))
        .map_err(ProviderError::in_node_dialect)?;
    Ok(ApiResponse::json(200, &json!({ "token": token })))
}

/// `POST /api/services/auth/token/invalidate`, in the Ocean Node dialect.
pub fn node_invalidate(request: &ApiRequest, platform: &Platform<'_>) -> Result<ApiResponse> {
    crate::wire::node::invalidate_token(request)
        .and_then(|input| revoke_token(platform, &input))
        .map_err(|err| match err {
            // A token that is not the caller's, or not a token: Ocean Node says 401.
            ProviderError::BadRequest(m) if m == TokenError::Invalid.message() => {
                ProviderError::Unauthorized("Invalid token".into())
            }
            other => other.in_node_dialect(),
        })?;
    Ok(ApiResponse::json(200, &json!({ "success": true })))
}

/// The operation: a new token for the signer, valid until the expiration (or for
/// `auth_token_lifetime` seconds when the request names none).
pub fn issue_token(platform: &Platform<'_>, input: &CreateTokenRequest) -> Result<String> {
    let now = platform.clock.now_unix_seconds();
    let expiration = match input.expiration {
        Some(expiration) => expiration,
        None => now.saturating_add(platform.settings.auth_token_lifetime()?),
    };
    if expiration <= now {
        return Err(ProviderError::field(
            "expiration",
            "Invalid timestamp provided.",
        ));
    }
    let authorized = verify(platform, &input.claim)?;
    let secret = platform.settings.auth_token_secret()?;
    let address = crate::address::checksum(&authorized.signer);
    let token = match (input.expiration, &input.claim.nonce_text) {
        (None, Some(nonce)) => create_token_for_nonce(&secret, &address, expiration, nonce),
        _ => create_token(&secret, &address, expiration),
    };
    if is_revoked(platform.kv, &token)? {
        return Err(ProviderError::BadRequest(format!(
            "{} Revocation is permanent: choose another expiration.",
            TokenError::Deleted.message()
        )));
    }
    authorized.consume_nonce(platform)?;
    Ok(token)
}

/// `DELETE /api/services/deleteAuthToken`, in the v2 dialect.
pub fn delete_token(request: &ApiRequest, platform: &Platform<'_>) -> Result<ApiResponse> {
    revoke_token(platform, &crate::wire::v2::delete_token(request)?)?;
    Ok(ApiResponse::json(
        200,
        &json!({"success": "Token has been deactivated."}),
    ))
}

/// The operation: revokes the signer's own token, everywhere and for good.
pub fn revoke_token(platform: &Platform<'_>, input: &DeleteTokenRequest) -> Result<()> {
    let authorized = verify(platform, &input.claim)?;
    let secret = platform.settings.auth_token_secret()?;
    let claims = decode_token(&secret, &input.token, platform.clock.now_unix_seconds())?;
    if claims.address != authorized.signer {
        return Err(TokenError::Invalid.into());
    }
    if is_revoked(platform.kv, &input.token)? {
        return Err(TokenError::Deleted.into());
    }
    authorized.consume_nonce(platform)?;
    revoke(platform.kv, &input.token, &claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request, served through the route table as the component would.
    fn handle(request: &ApiRequest, platform: &Platform<'_>) -> ApiResponse {
        crate::routes::serve_full("auth", request, platform)
    }
    use crate::fakes::FakePlatform;
    use crate::signature::sign_message;
    use k256::ecdsa::SigningKey;

    use crate::fakes::{CONSUMER, CONSUMER_KEY, PROVIDER_KEY};

    fn sig(message: &str) -> String {
        let key = SigningKey::from_slice(&hex::decode(&CONSUMER_KEY[2..]).unwrap()).unwrap();
        sign_message(&key, message).unwrap().to_hex_v27()
    }

    fn create_req(address: &str, exp: u64, nonce: &str) -> ApiRequest {
        ApiRequest::new(
            "GET",
            &format!(
                "/api/services/createAuthToken?address={address}&expiration={exp}&nonce={nonce}&signature={}",
                sig(&format!("{address}{nonce}"))
            ),
        )
    }

    fn delete_req(token: &str, nonce: &str) -> ApiRequest {
        ApiRequest::new(
            "DELETE",
            &format!(
                "/api/services/deleteAuthToken?address={CONSUMER}&token={token}&nonce={nonce}&signature={}",
                sig(&format!("{CONSUMER}{nonce}"))
            ),
        )
    }

    #[test]
    fn create_then_delete_then_the_token_is_dead() {
        let fake = FakePlatform::new(&[("provider_private_key", PROVIDER_KEY)]);
        let p = fake.ports();
        let r = handle(&create_req(CONSUMER, 1_800_000_000, "1"), &p);
        assert_eq!(r.status, 200, "{:?}", r.body_json());
        let token = r.body_json().unwrap()["token"].as_str().unwrap().to_owned();
        // Replaying the create request is refused (nonce consumed).
        assert_eq!(
            handle(&create_req(CONSUMER, 1_800_000_000, "1"), &p).status,
            400
        );
        let r = handle(&delete_req(&token, "2"), &p);
        assert_eq!(r.status, 200);
        assert_eq!(
            r.body_json().unwrap()["success"],
            "Token has been deactivated."
        );
        // Deleting again: the token is deleted (fresh nonce, so it is the token that fails).
        let r = handle(&delete_req(&token, "3"), &p);
        assert_eq!(r.body_json().unwrap()["error"], "Token is deleted.");
        // Re-creating the same token does not revive it.
        let r = handle(&create_req(CONSUMER, 1_800_000_000, "4"), &p);
        assert_eq!(r.status, 400);
        assert!(
            r.body_json().unwrap()["error"]
                .as_str()
                .unwrap()
                .starts_with("Token is deleted.")
        );
        // ...and that refusal did not use up nonce 4.
        assert_eq!(
            handle(&create_req(CONSUMER, 1_800_000_001, "4"), &p).status,
            200
        );
    }

    #[test]
    fn lowercase_address_signs_and_gets_the_same_token() {
        let fake = FakePlatform::new(&[("provider_private_key", PROVIDER_KEY)]);
        let p = fake.ports();
        let lower = CONSUMER.to_lowercase();
        let a = handle(&create_req(&lower, 1_800_000_000, "1"), &p)
            .body_json()
            .unwrap();
        let b = handle(&create_req(CONSUMER, 1_800_000_000, "2"), &p)
            .body_json()
            .unwrap();
        assert_eq!(a["token"], b["token"]);
    }

    #[test]
    fn bad_input_changes_no_state() {
        let fake = FakePlatform::new(&[("provider_private_key", PROVIDER_KEY)]);
        let p = fake.ports();
        let before = fake.kv.snapshot();
        let cases = [
            create_req(CONSUMER, 1_600_000_000, "1"), // expiration in the past
            ApiRequest::new(
                "GET",
                &format!("/api/services/createAuthToken?address={CONSUMER}&nonce=1&signature=0x00"),
            ),
            ApiRequest::new(
                "GET",
                &format!(
                    "/api/services/createAuthToken?address={CONSUMER}&expiration=abc&nonce=1&signature=0x00"
                ),
            ),
            ApiRequest::new(
                "GET",
                &format!(
                    "/api/services/createAuthToken?address={CONSUMER}&expiration=1800000000&nonce=1"
                ),
            ),
            ApiRequest::new(
                "GET",
                &format!(
                    "/api/services/createAuthToken?address={CONSUMER}&expiration=1800000000&nonce=1&signature={}",
                    sig("wrong1")
                ),
            ),
            delete_req("not.a.token", "1"),
            ApiRequest::new(
                "DELETE",
                &format!("/api/services/deleteAuthToken?address={CONSUMER}&nonce=1&signature=0x00"),
            ),
        ];
        for req in cases {
            let r = handle(&req, &p);
            assert_eq!(r.status, 400, "{} -> {:?}", req.query, r.body_json());
            assert!(r.body_json().is_some());
        }
        assert_eq!(fake.kv.snapshot(), before);
    }

    #[test]
    fn a_token_cannot_authorize_token_endpoints() {
        let fake = FakePlatform::new(&[("provider_private_key", PROVIDER_KEY)]);
        let p = fake.ports();
        let token = handle(&create_req(CONSUMER, 1_800_000_000, "1"), &p)
            .body_json()
            .unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let req = ApiRequest::new(
            "GET",
            &format!(
                "/api/services/createAuthToken?address={CONSUMER}&expiration=1800000005&nonce=2"
            ),
        )
        .with_header("AuthToken", &token);
        assert_eq!(handle(&req, &p).status, 400);
    }

    #[test]
    fn delete_refuses_someone_elses_token() {
        let fake = FakePlatform::new(&[("provider_private_key", PROVIDER_KEY)]);
        let p = fake.ports();
        let secret = crate::config::auth_token_secret(&fake.vars).unwrap();
        let foreign = create_token(
            &secret,
            "0xe08A1dAe983BC701D05E492DB80e0144f8f4b909",
            1_800_000_000,
        );
        let r = handle(&delete_req(&foreign, "1"), &p);
        assert_eq!(r.body_json().unwrap()["error"], "Token is invalid.");
        assert!(!is_revoked(&fake.kv, &foreign).unwrap());
    }

    fn node_post(path: &str, body: serde_json::Value) -> ApiRequest {
        ApiRequest::new("POST", path)
            .with_header("Content-Type", "application/json")
            .with_body(body.to_string())
    }

    fn node_create(nonce: &str) -> ApiRequest {
        node_post(
            "/api/services/auth/token",
            json!({"address": CONSUMER, "nonce": nonce, "signature": sig(&format!("{CONSUMER}{nonce}createAuthToken"))}),
        )
    }

    #[test]
    fn node_tokens_default_their_lifetime_and_invalidate_with_either_message() {
        let fake = FakePlatform::new(&[
            ("provider_private_key", PROVIDER_KEY),
            ("auth_token_lifetime", "600"),
        ]);
        let p = fake.ports();
        let r = handle(&node_create("1"), &p);
        assert_eq!(r.status, 200, "{:?}", r.body_json());
        let token = r.body_json().unwrap()["token"].as_str().unwrap().to_owned();
        let secret = crate::config::auth_token_secret(&fake.vars).unwrap();
        let claims = decode_token(&secret, &token, 0).unwrap();
        assert_eq!(claims.exp, p.clock.now_unix_seconds() + 600);
        // Replay: the nonce is spent (401 in Node's envelope).
        let replay = handle(&node_create("1"), &p);
        assert_eq!(replay.status, 401);
        assert!(replay.body_json().unwrap()["error"].is_string());
        // A second token in the same second differs (it records its nonce).
        let second = handle(&node_create("2"), &p).body_json().unwrap()["token"].clone();
        assert_ne!(second, json!(token));
        // ocean.js 8 signs invalidate as `address + nonce`, ocean.js 9 adds the command.
        for (nonce, message, t) in [
            ("3", format!("{CONSUMER}3"), token.clone()),
            (
                "4",
                format!("{CONSUMER}4invalidateAuthToken"),
                second.as_str().unwrap().to_owned(),
            ),
        ] {
            let r = handle(
                &node_post(
                    "/api/services/auth/token/invalidate",
                    json!({"address": CONSUMER, "nonce": nonce, "signature": sig(&message), "token": t}),
                ),
                &p,
            );
            assert_eq!(
                (r.status, r.body_json().unwrap()),
                (200, json!({"success": true}))
            );
            assert!(is_revoked(&fake.kv, &t).unwrap());
        }
    }

    #[test]
    fn node_token_refusals_are_json_and_change_nothing() {
        let fake = FakePlatform::new(&[("provider_private_key", PROVIDER_KEY)]);
        let p = fake.ports();
        let secret = crate::config::auth_token_secret(&fake.vars).unwrap();
        let foreign = create_token(
            &secret,
            "0xe08A1dAe983BC701D05E492DB80e0144f8f4b909",
            1_800_000_000,
        );
        let before = fake.kv.snapshot();
        let cases = [
            (
                node_post(
                    "/api/services/auth/token",
                    json!({"address": CONSUMER, "nonce": "1"}),
                ),
                400,
            ),
            (
                node_post(
                    "/api/services/auth/token",
                    json!({"address": CONSUMER, "nonce": "1", "signature": sig("wrong")}),
                ),
                401,
            ),
            (
                node_post(
                    "/api/services/auth/token",
                    json!({"address": "0x12", "nonce": "1", "signature": sig("x")}),
                ),
                400,
            ),
            (
                node_post(
                    "/api/services/auth/token/invalidate",
                    json!({"address": CONSUMER, "nonce": "1", "signature": sig(&format!("{CONSUMER}1"))}),
                ),
                400,
            ),
            // Someone else's token: refused, and it stays alive.
            (
                node_post(
                    "/api/services/auth/token/invalidate",
                    json!({"address": CONSUMER, "nonce": "1", "signature": sig(&format!("{CONSUMER}1")), "token": foreign}),
                ),
                401,
            ),
            (
                node_post(
                    "/api/services/auth/token/invalidate",
                    json!({"address": CONSUMER, "nonce": "1", "signature": sig(&format!("{CONSUMER}1")), "token": "not.a.jwt"}),
                ),
                401,
            ),
        ];
        for (req, status) in cases {
            let r = handle(&req, &p);
            assert_eq!(r.status, status, "{:?}", r.body_json());
            assert!(
                r.body_json().unwrap()["error"].is_string(),
                "{:?}",
                r.body_json()
            );
        }
        assert_eq!(fake.kv.snapshot(), before);
    }
}
