//! The Ocean Node dialect (ocean.js 8.x, the Ocean Node indexer): its parameter names
//! and its signed messages `<address> + nonce + <command>` (spec
//! `ocean-node-dialect.md` §1.3). Errors of this dialect are always `{"error": ...}`
//! ([`ProviderError::in_node_dialect`]).
//!
//! On the paths both dialects share, the v2 parsers already accept the Node messages
//! (see [`SignedClaim::parse_shared`]); this module holds what only Node clients send:
//! the signed encrypt, the token endpoints, and the compute bodies.

use serde_json::Value;

use crate::request::Params;
use crate::requests::{
    CreateTokenRequest, DeleteTokenRequest, EncryptRequest, InitializeComputeRequest,
    StartComputeRequest,
};
use crate::signed_request::{Dialect, Proof, SignedClaim, authorization_token, signer_address};
use crate::{ApiRequest, ProviderError, Result};

/// The commands ocean.js signs (`SignatureUtils` / `PROTOCOL_COMMANDS`).
pub mod command {
    /// `POST /api/services/encrypt`.
    pub const ENCRYPT: &str = "encrypt";
    /// `POST /api/services/decrypt` (the Ocean Node indexer).
    pub const DECRYPT: &str = "decryptDDO";
    /// `GET /api/services/download`.
    pub const DOWNLOAD: &str = "download";
    /// `POST /api/services/auth/token`.
    pub const CREATE_AUTH_TOKEN: &str = "createAuthToken";
    /// `POST /api/services/auth/token/invalidate` as ocean.js 9 signs it (8.x signs
    /// `address + nonce` alone).
    pub const INVALIDATE_AUTH_TOKEN: &str = "invalidateAuthToken";
    /// `POST /api/services/compute`.
    pub const START_COMPUTE: &str = "startCompute";
    /// `POST /api/services/freeCompute`.
    pub const FREE_START_COMPUTE: &str = "freeStartCompute";
    /// `PUT /api/services/compute`.
    pub const STOP_COMPUTE: &str = "stopCompute";
    /// `GET /api/services/computeResult`.
    pub const GET_COMPUTE_RESULT: &str = "getComputeResult";
}

/// Whether an encrypt request is in the Node dialect: it carries any of `nonce`,
/// `consumerAddress`, `signature` (v2 sends `chainId` alone).
pub fn is_signed_encrypt(request: &ApiRequest) -> bool {
    request
        .query_pairs()
        .iter()
        .any(|(name, _)| matches!(name.as_str(), "nonce" | "consumerAddress" | "signature"))
}

/// `POST /api/services/encrypt?chainId&nonce&consumerAddress&signature`, signed
/// `consumerAddress + nonce + "encrypt"`; the body is encrypted byte for byte.
pub fn encrypt(request: &ApiRequest) -> Result<EncryptRequest<'_>> {
    let params = request.params();
    if !params.is_filled("signature") || !params.is_filled("nonce") {
        // A token holder's ocean.js sends only `consumerAddress`: a token cannot
        // authorise encrypt (Ocean Node does not accept one there either).
        return Err(ProviderError::Unauthorized(
            "Invalid authentication, you need to provide either a token or an address, signature, message and nonce".into(),
        ));
    }
    let claim = SignedClaim::parse_node(&params, "consumerAddress", &[command::ENCRYPT])?;
    if request.body.is_empty() {
        return Err(ProviderError::BadRequest("Missing required body".into()));
    }
    Ok(EncryptRequest {
        chain: params.text("chainId").unwrap_or_default(),
        document: &request.body,
        claim: Some(claim),
    })
}

/// `POST /api/services/auth/token` with `{"address", "signature", "nonce"}`, signed
/// `address + nonce + "createAuthToken"`. ocean.js sends no expiry: the token gets
/// the configured default lifetime.
pub fn create_token(request: &ApiRequest) -> Result<CreateTokenRequest> {
    let params = request.params();
    let claim = SignedClaim::parse_node(&params, "address", &[command::CREATE_AUTH_TOKEN])?;
    Ok(CreateTokenRequest {
        claim,
        expiration: None,
    })
}

/// `POST /api/services/auth/token/invalidate` with `{"address", "signature", "token",
/// "nonce"}`. ocean.js 8 signs `address + nonce` with no command; ocean.js 9 adds
/// `"invalidateAuthToken"`. Both are accepted.
pub fn invalidate_token(request: &ApiRequest) -> Result<DeleteTokenRequest> {
    let params = request.params();
    let Some(token) = params.filled_text("token") else {
        return Err(ProviderError::BadRequest(
            "Missing required parameters".into(),
        ));
    };
    let claim = SignedClaim::parse_node(&params, "address", &["", command::INVALIDATE_AUTH_TOKEN])?;
    Ok(DeleteTokenRequest { claim, token })
}

/// The claim of a Node-only compute request signed by body `consumerAddress`, or
/// vouched for by an `Authorization` token.
fn compute_claim(request: &ApiRequest, params: &Params, command: &str) -> Result<SignedClaim> {
    if !params.is_filled("signature")
        && let Some(token) = authorization_token(request)
    {
        return Ok(SignedClaim {
            signer: signer_address(params, "consumerAddress").map_err(|e| e.in_node_dialect())?,
            nonce_text: None,
            nonce: None,
            proof: Proof::AuthToken {
                token,
                header: Dialect::Node,
            },
            messages: Vec::new(),
        });
    }
    SignedClaim::parse_node(params, "consumerAddress", &[command])
}

/// The claim of `POST /api/services/freeCompute` (signed `freeStartCompute`).
pub fn free_compute_claim(request: &ApiRequest) -> Result<SignedClaim> {
    compute_claim(request, &request.params(), command::FREE_START_COMPUTE)
}

/// The datasets of a Node compute body: `datasets`, else the single `dataset`.
fn datasets(params: &Params) -> Result<Vec<Value>> {
    match (params.get("datasets"), params.get("dataset")) {
        (Some(Value::Array(list)), _) if !list.is_empty() => Ok(list.clone()),
        (None | Some(Value::Null) | Some(Value::Array(_)), Some(one @ Value::Object(_))) => {
            Ok(vec![one.clone()])
        }
        _ => Err(ProviderError::BadRequest(
            "Missing required parameter: datasets (an array of {documentId, serviceId, transferTxId}).".into(),
        )),
    }
}

fn environment(params: &Params) -> Result<String> {
    params
        .filled_text("environment")
        .ok_or_else(|| ProviderError::BadRequest("Missing required parameter: environment.".into()))
}

/// `POST /api/services/compute` or `/freeCompute` in the Node dialect, once its claim
/// is known: `datasets`, `algorithm`, `environment`, optional `output` (ECIES hex to
/// `nodePublicKey`; the endpoint opens it).
pub fn start_compute(request: &ApiRequest, claim: SignedClaim) -> Result<StartComputeRequest> {
    let params = request.params();
    let datasets = datasets(&params)?;
    let algorithm = match params.get("algorithm") {
        Some(algorithm @ Value::Object(_)) => algorithm.clone(),
        _ => {
            return Err(ProviderError::BadRequest(
                "Missing required parameter: algorithm.".into(),
            ));
        }
    };
    Ok(StartComputeRequest {
        claim,
        datasets,
        algorithm,
        environment: environment(&params)?,
        output: params.get("output").filter(|v| !v.is_null()).cloned(),
    })
}

/// `POST /api/services/initializeCompute` in the Node dialect: `datasets`,
/// `algorithm`, `environment`, `maxJobDuration` (seconds from `now`),
/// `consumerAddress`, and a `payment` that is read only for its chain.
pub fn initialize_compute(request: &ApiRequest, now: u64) -> Result<InitializeComputeRequest> {
    let params = request.params();
    let consumer = signer_address(&params, "consumerAddress").map_err(|e| e.in_node_dialect())?;
    let datasets = datasets(&params)?;
    let duration = match params.get("maxJobDuration") {
        Some(Value::Number(n)) => n.as_f64().filter(|f| *f > 0.0).map(|f| f.ceil() as u64),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok().filter(|n| *n > 0),
        _ => None,
    }
    .ok_or_else(|| {
        ProviderError::BadRequest(
            "Missing or invalid maxJobDuration: a positive number of seconds is required.".into(),
        )
    })?;
    Ok(InitializeComputeRequest {
        consumer,
        datasets,
        algorithm: params.get("algorithm").cloned().unwrap_or(Value::Null),
        environment: environment(&params)?,
        valid_until: now.saturating_add(duration),
    })
}

/// Whether an `initializeCompute` body is in the Node dialect: it names its
/// environment at the top level (v2 nests it under `compute.env`).
pub fn is_node_initialize_compute(request: &ApiRequest) -> bool {
    let params = request.params();
    !params.is_filled("compute") && (params.is_filled("environment") || params.is_filled("payment"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{CONSUMER, CONSUMER_KEY};
    use crate::signature::sign_message;
    use k256::ecdsa::SigningKey;

    fn sig(message: &str) -> String {
        let key = SigningKey::from_slice(&hex::decode(&CONSUMER_KEY[2..]).unwrap()).unwrap();
        sign_message(&key, message).unwrap().to_hex_v27()
    }

    #[test]
    fn encrypt_is_node_when_any_signed_field_is_there() {
        let v2 = ApiRequest::new("POST", "/api/services/encrypt?chainId=8996");
        assert!(!is_signed_encrypt(&v2));
        let node = ApiRequest::new(
            "POST",
            &format!("/api/services/encrypt?chainId=8996&consumerAddress={CONSUMER}"),
        );
        assert!(is_signed_encrypt(&node));
        // The token holder's request (consumerAddress only) is a 401.
        assert_eq!(encrypt(&node).unwrap_err().status(), 401);
    }

    #[test]
    fn token_requests_need_every_field_and_an_integer_nonce() {
        let body =
            |v: Value| ApiRequest::new("POST", "/api/services/auth/token").with_body(v.to_string());
        let missing = create_token(&body(
            serde_json::json!({"address": CONSUMER, "nonce": "1"}),
        ));
        assert_eq!(
            missing.unwrap_err().body()["error"],
            "Missing required parameters"
        );
        let fractional = create_token(&body(
            serde_json::json!({"address": CONSUMER, "nonce": "1.5", "signature": sig("x")}),
        ));
        assert_eq!(fractional.unwrap_err().status(), 401);
        let ok = create_token(&body(serde_json::json!({"address": CONSUMER, "nonce": "3", "signature": sig(&format!("{CONSUMER}3createAuthToken"))}))).unwrap();
        assert_eq!(
            ok.claim.messages,
            vec![(Dialect::Node, format!("{CONSUMER}3createAuthToken"))]
        );
        let invalidate = invalidate_token(&body(serde_json::json!({"address": CONSUMER, "nonce": "4", "signature": "0x00", "token": "t"}))).unwrap();
        let messages: Vec<_> = invalidate
            .claim
            .messages
            .into_iter()
            .map(|(_, m)| m)
            .collect();
        assert_eq!(
            messages,
            vec![
                format!("{CONSUMER}4"),
                format!("{CONSUMER}4invalidateAuthToken")
            ]
        );
    }

    #[test]
    fn initialize_compute_shapes_are_told_apart_by_their_keys() {
        let node = ApiRequest::new("POST", "/api/services/initializeCompute").with_body(
            serde_json::json!({"datasets": [{"documentId": "did:op:1", "serviceId": "s"}], "algorithm": {"meta": {}}, "environment": "env1", "payment": {"chainId": 8996}, "maxJobDuration": 60, "consumerAddress": CONSUMER}).to_string(),
        );
        assert!(is_node_initialize_compute(&node));
        assert_eq!(initialize_compute(&node, 1000).unwrap().valid_until, 1060);
        let v2 = ApiRequest::new("POST", "/api/services/initializeCompute").with_body(
            serde_json::json!({"datasets": [], "compute": {"env": "env1", "validUntil": 5}})
                .to_string(),
        );
        assert!(!is_node_initialize_compute(&v2));
    }
}
