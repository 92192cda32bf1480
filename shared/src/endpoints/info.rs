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

/// The OpenAPI 3.0 document of every route of both dialects (`openapi.json`, checked
/// against the route table and validated by tests).
pub const OPENAPI: &str = include_str!("openapi.json");

/// `GET /spec`: [`OPENAPI`].
pub fn spec(_request: &ApiRequest, _platform: &Platform<'_>) -> Result<ApiResponse> {
    Ok(ApiResponse::bytes(
        200,
        "application/json",
        OPENAPI.as_bytes().to_vec(),
    ))
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

#[cfg(test)]
mod openapi_tests {
    use super::OPENAPI;
    use crate::routes::OPERATIONS;
    use serde_json::Value;
    use std::collections::BTreeSet;

    fn document() -> Value {
        serde_json::from_str(OPENAPI).expect("openapi.json is JSON")
    }

    fn operation_id(name: &str) -> &str {
        if name.is_empty() { "root" } else { name }
    }

    #[test]
    fn the_document_is_valid_openapi_3() {
        let parsed: openapiv3::OpenAPI =
            serde_json::from_str(OPENAPI).expect("a valid OpenAPI 3.0 document");
        assert!(parsed.openapi.starts_with("3.0."), "{}", parsed.openapi);
        assert_eq!(parsed.info.version, env!("CARGO_PKG_VERSION"));
        // Every operation has an id, a summary and its responses.
        for (path, item) in parsed.paths.iter() {
            let openapiv3::ReferenceOr::Item(item) = item else {
                panic!("{path}: a path item must be inline")
            };
            for (method, op) in item.iter() {
                assert!(op.operation_id.is_some(), "{method} {path}: operationId");
                assert!(op.summary.is_some(), "{method} {path}: summary");
                assert!(
                    !op.responses.responses.is_empty(),
                    "{method} {path}: responses"
                );
            }
        }
    }

    #[test]
    fn every_route_of_the_table_is_documented_and_nothing_else() {
        let doc = document();
        let documented: BTreeSet<(String, String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object().unwrap().iter().map(move |(method, op)| {
                    (
                        method.to_ascii_uppercase(),
                        path.clone(),
                        op["operationId"].as_str().unwrap_or_default().to_owned(),
                    )
                })
            })
            .collect();
        let routed: BTreeSet<(String, String, String)> = OPERATIONS
            .iter()
            .map(|op| {
                (
                    op.method.to_owned(),
                    op.path.to_owned(),
                    operation_id(op.name).to_owned(),
                )
            })
            .collect();
        assert_eq!(documented, routed);
    }

    /// Collects every `$ref` in the document.
    fn refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, item) in map {
                    match (key.as_str(), item) {
                        ("$ref", Value::String(target)) => out.push(target.clone()),
                        _ => refs(item, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|item| refs(item, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves_and_errors_and_signed_messages_are_documented() {
        let doc = document();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(!found.is_empty());
        for target in found {
            let pointer = target.strip_prefix('#').expect("local references only");
            assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
        }
        for op in OPERATIONS {
            let entry = &doc["paths"][op.path][op.method.to_ascii_lowercase()];
            let responses = entry["responses"].as_object().unwrap();
            if !op.name.is_empty() && op.name != "spec" {
                // Bad input is always a documented 4xx; upstream failures a 503.
                assert!(responses.contains_key("400"), "{} {}", op.method, op.path);
                assert!(responses.contains_key("503"), "{} {}", op.method, op.path);
            }
            if op.compute {
                assert!(
                    responses.contains_key("404"),
                    "compute routes 404 without an operator"
                );
            }
        }
        // Each signed operation says what is signed, in each dialect it speaks.
        for (path, method, dialects) in [
            ("/api/services/download", "get", &["v2", "node"][..]),
            ("/api/services/decrypt", "post", &["v2", "node"]),
            ("/api/services/encrypt", "post", &["node"]),
            ("/api/services/compute", "post", &["v2", "node"]),
            ("/api/services/compute", "put", &["v2", "node"]),
            ("/api/services/compute", "delete", &["v2"]),
            ("/api/services/computeResult", "get", &["v2", "node"]),
            ("/api/services/freeCompute", "post", &["node"]),
            ("/api/services/createAuthToken", "get", &["v2"]),
            ("/api/services/deleteAuthToken", "delete", &["v2"]),
            ("/api/services/auth/token", "post", &["node"]),
            ("/api/services/auth/token/invalidate", "post", &["node"]),
            ("/api/services/assetUrls", "get", &["v2"]),
        ] {
            let signed = &doc["paths"][path][method]["x-signed-message"];
            for dialect in dialects {
                assert!(signed[dialect].is_string(), "{method} {path}: {dialect}");
            }
        }
    }
}
