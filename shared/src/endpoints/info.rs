//! `GET /`: the discovery document clients read first (spec §5.1), and the JSON 404
//! for every path no component claims.

use serde_json::{Map, Value, json};

use crate::address::checksum;
use crate::config::Chains;
use crate::ports::Platform;
use crate::{ApiRequest, ApiResponse, Result};

/// The wire API this provider speaks: the Python Provider's v2 dialect.
pub const API_VERSION: &str = "2.1.6";

/// `GET /`: the root document.
pub fn root(_request: &ApiRequest, platform: &Platform<'_>) -> Result<ApiResponse> {
    let chains = platform.settings.chains()?;
    let compute = platform.settings.operator_url()?.is_some();
    Ok(ApiResponse::json(200, &info_document(chains, compute)))
}

/// The root document. Built from configuration alone: no RPC call (the reference
/// called `eth_chainId` on every request in single-chain mode).
pub fn info_document(chains: &Chains, compute: bool) -> Value {
    let chain_ids: Vec<u64> = chains.iter().map(|c| c.id).collect();
    let mut addresses = Map::new();
    for chain in chains.iter() {
        addresses.insert(chain.id.to_string(), json!(checksum(&chain.key.address())));
    }
    // `serviceEndpoints`: the reference's key names (Python function names, hence the
    // snake_case auth keys); the compute ones only when an operator is configured.
    let mut endpoints = Map::new();
    for op in crate::routes::OPERATIONS {
        if !op.name.is_empty() && op.listed && (compute || !op.compute) {
            endpoints.insert(op.name.to_owned(), json!([op.method, op.path]));
        }
    }
    let mut doc = json!({
        "chainIds": chain_ids,
        "providerAddresses": addresses,
        "serviceEndpoints": endpoints,
        "software": "Provider",
        "version": API_VERSION,
        "implementation": format!("ocean-provider-spin {}", env!("CARGO_PKG_VERSION")),
    });
    // Ocean Node's `providerAddress` (singular; ocean.js 8 needs it, and
    // `isValidProvider` checks it) is the first chain's, and `nodePublicKey` (which
    // ocean.js encrypts compute `output` to) is that key's compressed public key.
    if let Some(first) = chains.iter().next() {
        doc["providerAddress"] = json!(checksum(&first.key.address()));
        doc["nodePublicKey"] = json!(format!(
            "0x{}",
            hex::encode(first.key.public_key_compressed())
        ));
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request, served through the route table as the component would.
    fn handle(request: &ApiRequest, platform: &Platform<'_>) -> ApiResponse {
        crate::routes::serve_full("info", request, platform)
    }
    use crate::fakes::FakePlatform;

    use crate::fakes::PROVIDER_KEY as KEY;

    #[test]
    fn root_document_shape() {
        let fake = FakePlatform::new(&[
            ("network_url", r#"{"8996": "http://127.0.0.1:8545"}"#),
            ("provider_private_key", KEY),
        ]);
        let r = handle(&ApiRequest::new("GET", "/"), &fake.ports());
        assert_eq!(r.status, 200);
        let doc = r.body_json().unwrap();
        assert_eq!(doc["chainIds"], json!([8996]));
        assert_eq!(
            doc["providerAddresses"],
            json!({"8996": "0xe08A1dAe983BC701D05E492DB80e0144f8f4b909"})
        );
        assert_eq!(
            doc["providerAddress"],
            "0xe08A1dAe983BC701D05E492DB80e0144f8f4b909"
        );
        assert_eq!(
            doc["serviceEndpoints"]["nonce"],
            json!(["GET", "/api/services/nonce"])
        );
        assert_eq!(
            doc["serviceEndpoints"]["create_auth_token"],
            json!(["GET", "/api/services/createAuthToken"])
        );
        assert_eq!(
            doc["serviceEndpoints"]["delete_auth_token"],
            json!(["DELETE", "/api/services/deleteAuthToken"])
        );
        assert_eq!(doc["software"], "Provider");
        // Keys are sorted like Flask's jsonify.
        let text = String::from_utf8(r.body.clone()).unwrap();
        assert!(text.starts_with(r#"{"chainIds""#), "{text}");
    }

    #[test]
    fn unknown_paths_are_json_404s_and_config_errors_name_the_variable() {
        let fake = FakePlatform::new(&[
            ("provider_private_key", "nope"),
            ("network_url", r#"{"1":"http://x"}"#),
        ]);
        let r = handle(
            &ApiRequest::new("GET", "/api/services/nothing"),
            &fake.ports(),
        );
        assert_eq!(r.status, 404);
        assert!(
            r.body_json().unwrap()["error"]
                .as_str()
                .unwrap()
                .contains("404")
        );
        let r = handle(&ApiRequest::new("GET", "/"), &fake.ports());
        assert_eq!(r.status, 500);
        assert!(
            r.body_json().unwrap()["error"]
                .as_str()
                .unwrap()
                .contains("provider_private_key")
        );
        let r = handle(&ApiRequest::new("POST", "/"), &fake.ports());
        assert_eq!(r.status, 405);
    }
}
