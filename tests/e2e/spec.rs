//! `GET /spec`: the OpenAPI document the components serve is valid OpenAPI 3.0, covers
//! the route table exactly, and the provider's real answers, success and error, match
//! the schemas it documents for them.

use provider_e2e::assets::publish_dataset;
use provider_e2e::chain::LocalChain;
use provider_e2e::*;
use serde_json::{Value, json};

fn served_document() -> Value {
    let reply = get(&shared_provider().url("/spec"));
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply
            .header("content-type")
            .map(|t| t.split(';').next().unwrap_or("").trim()),
        Some("application/json")
    );
    reply.json()
}

/// `~` and `/` escaped for a JSON pointer.
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Checks `reply` against the schema the document gives for `method path` and the
/// reply's status and media type.
fn conforms(doc: &Value, method: &str, path: &str, reply: &Reply) {
    let status = reply.status.to_string();
    let mut pointer = format!("/paths/{}/{method}/responses/{status}", escape(path));
    let mut response = doc
        .pointer(&pointer)
        .unwrap_or_else(|| panic!("{method} {path}: {status} is not documented"))
        .clone();
    if let Some(target) = response["$ref"].as_str() {
        pointer = target.trim_start_matches('#').to_owned();
        response = doc.pointer(&pointer).unwrap().clone();
    }
    let media = reply
        .header("content-type")
        .and_then(|t| t.split(';').next())
        .unwrap_or("")
        .trim()
        .to_owned();
    assert!(
        response["content"].get(&media).is_some(),
        "{method} {path} {status}: {media} is not documented"
    );
    if media == "application/json" {
        let mut schema = doc.clone();
        schema["$ref"] = json!(format!("#{pointer}/content/{}/schema", escape(&media)));
        let validator = jsonschema::draft7::new(&schema).expect("the schema compiles");
        let instance = reply.json();
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {path} {status}: {instance} does not match: {errors:?}"
        );
    }
}

#[test]
fn the_served_document_is_valid_openapi_and_covers_every_route_exactly() {
    let doc = served_document();
    let parsed: openapiv3::OpenAPI =
        serde_json::from_value(doc.clone()).expect("a valid OpenAPI 3.0 document");
    assert!(parsed.openapi.starts_with("3.0."));
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push((method.to_ascii_uppercase(), path.clone()));
        }
    }
    let mut routed: Vec<(String, String)> = ocean_provider::routes::OPERATIONS
        .iter()
        .map(|op| (op.method.to_owned(), op.path.to_owned()))
        .collect();
    documented.sort();
    routed.sort();
    assert_eq!(documented, routed);
    // /spec is served, not advertised among the service endpoints.
    let root = get(&shared_provider().url("/")).json();
    assert!(root["serviceEndpoints"].get("spec").is_none());
}

#[test]
fn real_answers_match_the_documented_schemas() {
    let doc = served_document();
    let provider = shared_provider();
    let server = shared_file_server();
    let chain = LocalChain::shared();
    let account = Account::named("spec-schemas");
    let check = |method: &str, path: &str, reply: &Reply| conforms(&doc, method, path, reply);

    check("get", "/", &get(&provider.url("/")));
    let nonce_path = "/api/services/nonce";
    check(
        "get",
        nonce_path,
        &get(&provider.url(&format!("{nonce_path}?userAddress={}", account.address))),
    );
    let missing = get(&provider.url(nonce_path));
    assert_eq!(missing.status, 400);
    check("get", nonce_path, &missing);

    server.add_file("spec.csv", b"a,b\n1,2\n".to_vec());
    let url = format!("{}/files/spec.csv", server.url);
    let fileinfo = post_json(
        &provider.url("/api/services/fileinfo"),
        &json!({"type": "url", "url": url, "method": "GET"}),
    );
    assert_eq!(fileinfo.status, 200, "{}", fileinfo.text());
    check("post", "/api/services/fileinfo", &fileinfo);
    let bad_type = post_json(
        &provider.url("/api/services/fileInfo"),
        &json!({"type": "ftp"}),
    );
    assert_eq!(bad_type.status, 400);
    check("post", "/api/services/fileInfo", &bad_type);

    let dataset = publish_dataset(
        chain,
        server,
        "spec-dataset",
        "access",
        &[json!({"type": "url", "url": url, "method": "GET"})],
        0,
    );
    let quote = get(&provider.url(&format!(
        "/api/services/initialize?documentId={}&serviceId=svc&consumerAddress={}",
        dataset.did, account.address
    )));
    assert_eq!(quote.status, 200, "{}", quote.text());
    check("get", "/api/services/initialize", &quote);

    let download = get(&provider.url("/api/services/download"));
    assert_eq!(download.status, 400);
    check("get", "/api/services/download", &download);

    let encrypt = |query: &str| {
        request(
            "POST",
            &provider.url(&format!("/api/services/encrypt?{query}")),
            &[("Content-Type", "application/octet-stream")],
            Some(b"doc"),
        )
    };
    // Ocean Node's envelope: a partly signed encrypt is a 401.
    let node = encrypt("chainId=8996&nonce=1");
    assert_eq!(node.status, 401, "{}", node.text());
    check("post", "/api/services/encrypt", &node);
    let encrypted = encrypt("chainId=8996");
    assert_eq!(encrypted.status, 201);
    check("post", "/api/services/encrypt", &encrypted);

    let nonce = "1";
    let token = get(&provider.url(&format!(
        "/api/services/createAuthToken?address={}&expiration=4000000000&nonce={nonce}&signature={}",
        account.address,
        account.sign(&format!("{}{nonce}", account.address))
    )));
    assert_eq!(token.status, 200, "{}", token.text());
    check("get", "/api/services/createAuthToken", &token);
    let refused = post_json(
        &provider.url("/api/services/auth/token"),
        &json!({"address": account.address, "nonce": "2", "signature": account.sign("wrong")}),
    );
    assert_eq!(refused.status, 401, "{}", refused.text());
    check("post", "/api/services/auth/token", &refused);

    let environments = get(&provider.url("/api/services/computeEnvironments"));
    assert_eq!(environments.status, 200);
    check("get", "/api/services/computeEnvironments", &environments);
}
