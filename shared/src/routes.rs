//! The one route table: which component serves which path and method, the name each
//! operation has in `GET /`'s `serviceEndpoints`, and what each component may read
//! (its variables, its body limit). `spin.toml`, the dispatch below and the root
//! document all agree with it; a unit test checks `spin.toml` against it.
//!
//! Cross-cutting HTTP behaviour lives in [`serve`], the one path every request takes,
//! buffered or streamed: CORS on every answer, `OPTIONS` preflight, `405` JSON for
//! methods a route does not have (HEAD included), the JSON 404, and the one
//! error-to-response mapping (with a log line that never carries a secret).

use crate::log::{Level, log};
use crate::ports::Platform;
use crate::{ApiRequest, ApiResponse, ProviderError, Reply, Result};

/// An operation's implementation.
#[derive(Clone, Copy)]
pub enum Handler {
    /// Answers with a complete response.
    Full(fn(&ApiRequest, &Platform<'_>) -> Result<ApiResponse>),
    /// May pass an upstream body straight through.
    Stream(fn(&ApiRequest, &Platform<'_>) -> Result<Reply>),
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Full(_) => "Handler::Full",
            Self::Stream(_) => "Handler::Stream",
        })
    }
}

/// The implementations of one component's operations. Each component links only its
/// own (a table of every handler would put every operation into every `.wasm`).
pub type Handlers = fn(&Operation) -> Option<Handler>;

/// One function per component: its operations' implementations, by operation name.
/// A test checks that each covers exactly its component's rows of [`OPERATIONS`].
pub mod handlers {
    use super::{Handler, Operation};
    use crate::endpoints::{auth, compute, decrypt, download, encrypt, fileinfo, info};
    use crate::endpoints::{initialize, nonce as nonce_endpoint};

    /// Declares a component's handler function: operation name → implementation.
    macro_rules! component_handlers {
        ($doc:literal, $id:ident { $($name:literal => $kind:ident($handler:path)),+ $(,)? }) => {
            #[doc = $doc]
            pub fn $id(op: &Operation) -> Option<Handler> {
                match op.name {
                    $($name => Some(Handler::$kind($handler)),)+
                    _ => None,
                }
            }
        };
    }

    component_handlers!("`info`: the root document (unknown paths never reach it).",
        info { "" => Full(info::root), "spec" => Full(info::spec) });
    component_handlers!("`nonce`.", nonce { "nonce" => Full(nonce_endpoint::nonce) });
    component_handlers!("`encrypt`.", encrypt { "encrypt" => Full(encrypt::encrypt) });
    component_handlers!("`decrypt`.", decrypt { "decrypt" => Full(decrypt::decrypt) });
    component_handlers!("`fileinfo`: fileinfo and assetUrls.", fileinfo {
        "fileinfo" => Full(fileinfo::fileinfo),
        "fileInfo" => Full(fileinfo::fileinfo),
        "assetUrls" => Full(fileinfo::asset_urls),
    });
    component_handlers!("`initialize`.",
        initialize { "initialize" => Full(initialize::initialize) });
    component_handlers!("`download`.", download { "download" => Stream(download::download) });
    component_handlers!("`auth`: create and delete tokens (both dialects).", auth {
        "create_auth_token" => Full(auth::create),
        "delete_auth_token" => Full(auth::delete_token),
        "generateAuthToken" => Full(auth::node_create),
        "invalidateAuthToken" => Full(auth::node_invalidate),
    });
    component_handlers!("`compute`: the compute group.", compute {
        "initializeCompute" => Full(compute::initialize_compute),
        "computeStart" => Full(compute::start),
        "freeCompute" => Full(compute::free_start),
        "computeStatus" => Full(compute::status),
        "computeStop" => Full(compute::stop_or_delete),
        "computeDelete" => Full(compute::stop_or_delete),
        "computeResult" => Stream(compute::compute_result),
        "computeEnvironments" => Full(compute::environments),
        "validateContainer" => Full(compute::validate_container),
    });

    /// The handlers of a component by id (tests; a component names its own).
    #[cfg(test)]
    pub fn of(component: &str) -> super::Handlers {
        match component {
            "info" => info,
            "nonce" => nonce,
            "encrypt" => encrypt,
            "decrypt" => decrypt,
            "fileinfo" => fileinfo,
            "initialize" => initialize,
            "download" => download,
            "auth" => auth,
            "compute" => compute,
            _ => |_| None,
        }
    }
}

/// One operation of the wire API: a method on a path.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    /// HTTP method.
    pub method: &'static str,
    /// The exact path (as routed in `spin.toml`).
    pub path: &'static str,
    /// The component (endpoint group) that serves it.
    pub component: &'static str,
    /// Its key in `serviceEndpoints` of `GET /` (the reference's names); empty for the
    /// root document itself.
    pub name: &'static str,
    /// Advertised only when a compute operator is configured.
    pub compute: bool,
    /// Listed in `serviceEndpoints` (an alias spelling of another route and the API
    /// document are not).
    pub listed: bool,
}

const fn op(
    method: &'static str,
    path: &'static str,
    component: &'static str,
    name: &'static str,
) -> Operation {
    Operation {
        method,
        path,
        component,
        name,
        compute: false,
        listed: true,
    }
}

/// Served, not advertised in `serviceEndpoints`: a second spelling of a listed route,
/// or the API document.
const fn unlisted_op(
    method: &'static str,
    path: &'static str,
    component: &'static str,
    name: &'static str,
) -> Operation {
    Operation {
        listed: false,
        ..op(method, path, component, name)
    }
}

const fn compute_op(method: &'static str, path: &'static str, name: &'static str) -> Operation {
    Operation {
        method,
        path,
        component: "compute",
        name,
        compute: true,
        listed: true,
    }
}

/// Every operation, in the order `GET /` lists them.
pub const OPERATIONS: &[Operation] = &[
    op("GET", "/", "info", ""),
    // The OpenAPI document (the reference served its Swagger JSON here).
    unlisted_op("GET", "/spec", "info", "spec"),
    op("GET", "/api/services/nonce", "nonce", "nonce"),
    op("POST", "/api/services/encrypt", "encrypt", "encrypt"),
    op("POST", "/api/services/decrypt", "decrypt", "decrypt"),
    op("POST", "/api/services/fileinfo", "fileinfo", "fileinfo"),
    // Ocean Node registers `fileInfo` (its router ignores case); v2 clients need the
    // key `fileinfo` exactly, and ocean.js finds that one too.
    unlisted_op("POST", "/api/services/fileInfo", "fileinfo", "fileInfo"),
    op("GET", "/api/services/assetUrls", "fileinfo", "assetUrls"),
    op(
        "GET",
        "/api/services/initialize",
        "initialize",
        "initialize",
    ),
    op("GET", "/api/services/download", "download", "download"),
    op(
        "GET",
        "/api/services/createAuthToken",
        "auth",
        "create_auth_token",
    ),
    op(
        "DELETE",
        "/api/services/deleteAuthToken",
        "auth",
        "delete_auth_token",
    ),
    op(
        "POST",
        "/api/services/auth/token",
        "auth",
        "generateAuthToken",
    ),
    op(
        "POST",
        "/api/services/auth/token/invalidate",
        "auth",
        "invalidateAuthToken",
    ),
    compute_op(
        "POST",
        "/api/services/initializeCompute",
        "initializeCompute",
    ),
    compute_op("POST", "/api/services/compute", "computeStart"),
    compute_op("POST", "/api/services/freeCompute", "freeCompute"),
    compute_op("GET", "/api/services/compute", "computeStatus"),
    compute_op("PUT", "/api/services/compute", "computeStop"),
    compute_op("DELETE", "/api/services/compute", "computeDelete"),
    compute_op("GET", "/api/services/computeResult", "computeResult"),
    compute_op(
        "GET",
        "/api/services/computeEnvironments",
        "computeEnvironments",
    ),
    compute_op(
        "POST",
        "/api/services/validateContainer",
        "validateContainer",
    ),
];

/// How large a request body a component accepts.
pub type BodyLimit = fn(&Platform<'_>) -> Result<u64>;

/// An endpoint group: one Spin component.
#[derive(Debug, Clone, Copy)]
pub struct Component {
    /// Its id in `spin.toml`.
    pub id: &'static str,
    /// The variables its code may read: exactly its `[component.<id>.variables]` in
    /// `spin.toml` (checked by a test). The Spin adapter refuses any other name with a
    /// configuration error, so a read the manifest does not declare fails loudly
    /// instead of silently reading as unset.
    pub variables: &'static [&'static str],
    /// Its request body limit.
    pub body_limit: BodyLimit,
}

/// Every component.
pub const COMPONENTS: &[Component] = &[
    Component {
        id: "info",
        variables: &[
            "provider_private_key",
            "network_url",
            "chain_id",
            "operator_service_url",
            "log_level",
        ],
        body_limit: json_body_limit,
    },
    Component {
        id: "nonce",
        variables: &["log_level"],
        body_limit: json_body_limit,
    },
    Component {
        id: "encrypt",
        variables: &[
            "provider_private_key",
            "network_url",
            "chain_id",
            "max_document_size",
            "require_signed_encrypt",
            "log_level",
        ],
        body_limit: crate::endpoints::encrypt::max_document_size,
    },
    Component {
        id: "auth",
        variables: &[
            "provider_private_key",
            "universal_private_key",
            "auth_token_secret",
            "auth_token_lifetime",
            "network_url",
            "chain_id",
            "log_level",
        ],
        body_limit: json_body_limit,
    },
    Component {
        id: "decrypt",
        variables: &[
            "provider_private_key",
            "universal_private_key",
            "auth_token_secret",
            "network_url",
            "chain_id",
            "address_file",
            "authorized_decrypters",
            "request_timeout",
            "log_level",
        ],
        body_limit: json_body_limit,
    },
    Component {
        id: "fileinfo",
        variables: &[
            "provider_private_key",
            "universal_private_key",
            "auth_token_secret",
            "network_url",
            "chain_id",
            "aquarius_url",
            "ipfs_gateway",
            "arweave_gateway",
            "allow_non_public_ip",
            "max_checksum_length",
            "request_timeout",
            "ddo_cache_seconds",
            "log_level",
        ],
        body_limit: json_body_limit,
    },
    Component {
        id: "initialize",
        variables: &[
            "provider_private_key",
            "universal_private_key",
            "auth_token_secret",
            "network_url",
            "chain_id",
            "address_file",
            "provider_fee_token",
            "aquarius_url",
            "ipfs_gateway",
            "arweave_gateway",
            "allow_non_public_ip",
            "request_timeout",
            "ddo_cache_seconds",
            "rbac_server_url",
            "private_provider",
            "log_level",
        ],
        body_limit: json_body_limit,
    },
    Component {
        id: "download",
        variables: &[
            "provider_private_key",
            "universal_private_key",
            "auth_token_secret",
            "network_url",
            "chain_id",
            "address_file",
            "provider_fee_token",
            "aquarius_url",
            "operator_service_url",
            "ipfs_gateway",
            "arweave_gateway",
            "allow_non_public_ip",
            "request_timeout",
            "ddo_cache_seconds",
            "rbac_server_url",
            "private_provider",
            "use_http_proof",
            "use_chain_proof",
            "log_level",
        ],
        body_limit: json_body_limit,
    },
    Component {
        id: "compute",
        variables: &[
            "provider_private_key",
            "universal_private_key",
            "auth_token_secret",
            "network_url",
            "chain_id",
            "address_file",
            "provider_fee_token",
            "aquarius_url",
            "operator_service_url",
            "ipfs_gateway",
            "arweave_gateway",
            "allow_non_public_ip",
            "max_checksum_length",
            "request_timeout",
            "ddo_cache_seconds",
            "compute_environments_format",
            "rbac_server_url",
            "private_provider",
            "log_level",
        ],
        body_limit: json_body_limit,
    },
];

/// Largest JSON body any endpoint other than `/encrypt` accepts.
pub const MAX_JSON_BODY: usize = 1024 * 1024;

/// The body limit of JSON endpoints.
pub fn json_body_limit(_: &Platform<'_>) -> Result<u64> {
    Ok(MAX_JSON_BODY as u64)
}

/// The component `id`, if there is one.
pub fn component(id: &str) -> Option<&'static Component> {
    COMPONENTS.iter().find(|c| c.id == id)
}

/// The operations of `component` on `path` (any method).
fn operations_on<'a>(
    component: &'a str,
    path: &'a str,
) -> impl Iterator<Item = &'static Operation> + 'a {
    OPERATIONS
        .iter()
        .filter(move |op| op.component == component && op.path == path)
}

/// Serves one request for `component`: the one response path of every request.
pub fn serve(
    component: &str,
    handlers: Handlers,
    request: &ApiRequest,
    platform: &Platform<'_>,
) -> Reply {
    let path = match request.path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    };
    let methods: Vec<&'static str> = operations_on(component, path).map(|op| op.method).collect();
    let not_found = || {
        ProviderError::NotFound(
            "404 Not Found: The requested URL was not found on the server.".into(),
        )
    };
    let reply = if methods.is_empty() {
        // Only the info component has a fallback route (`/...`): unknown paths.
        Reply::Full(not_found().to_response())
    } else if request.method == "OPTIONS" {
        Reply::Full(preflight(request, &methods))
    } else {
        match operations_on(component, path).find(|op| op.method == request.method) {
            None => Reply::Full(ProviderError::MethodNotAllowed.to_response()),
            Some(operation) => {
                let result = match handlers(operation) {
                    Some(Handler::Full(handler)) => handler(request, platform).map(Reply::Full),
                    Some(Handler::Stream(handler)) => handler(request, platform),
                    None => Err(not_found()),
                };
                result.unwrap_or_else(|err| {
                    log_refusal(platform, component, request, &err);
                    Reply::Full(err.to_response())
                })
            }
        }
    };
    with_cors(reply)
}

fn log_refusal(
    platform: &Platform<'_>,
    component: &str,
    request: &ApiRequest,
    err: &ProviderError,
) {
    let level = if err.status() >= 500 {
        Level::Error
    } else {
        Level::Info
    };
    // The message is safe to log: errors never carry secrets or URLs, and the path
    // is logged without its query (which carries signatures and tokens).
    log(
        &platform.settings,
        level,
        component,
        &format!(
            "{} {} -> {}: {err}",
            request.method,
            request.path,
            err.status()
        ),
    );
}

/// The answer to an error raised outside [`serve`] (reading the request, a stream that
/// fails before its first byte): the envelope with the headers every answer carries.
pub fn error_response(err: &ProviderError) -> ApiResponse {
    err.to_response().with_header(CORS.0, CORS.1)
}

/// The CORS header every answer carries (the reference used flask-cors defaults).
const CORS: (&str, &str) = ("access-control-allow-origin", "*");

/// Adds the CORS headers every answer carries (the reference used flask-cors defaults).
pub fn with_cors(reply: Reply) -> Reply {
    match reply {
        Reply::Full(response) => Reply::Full(response.with_header(CORS.0, CORS.1)),
        Reply::Stream {
            status,
            mut headers,
            body,
            after,
        } => {
            headers.push((CORS.0.into(), CORS.1.into()));
            Reply::Stream {
                status,
                headers,
                body,
                after,
            }
        }
    }
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

/// [`serve`] for tests of buffered operations: the complete response.
#[cfg(test)]
pub fn serve_full(component: &str, request: &ApiRequest, platform: &Platform<'_>) -> ApiResponse {
    match serve(component, handlers::of(component), request, platform) {
        Reply::Full(response) => response,
        Reply::Stream { status, .. } => {
            panic!("expected a complete response, got a stream ({status})")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::FakePlatform;
    use std::collections::{BTreeMap, BTreeSet};

    fn manifest() -> toml::Table {
        let text = include_str!("../../spin.toml");
        text.parse().expect("spin.toml parses")
    }

    #[test]
    fn spin_toml_routes_exactly_the_table() {
        let manifest = manifest();
        let triggers = manifest["trigger"]["http"].as_array().unwrap();
        let routed: BTreeMap<String, String> = triggers
            .iter()
            .map(|t| {
                (
                    t["route"].as_str().unwrap().to_owned(),
                    t["component"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let mut expected: BTreeMap<String, String> = OPERATIONS
            .iter()
            .map(|op| (op.path.to_owned(), op.component.to_owned()))
            .collect();
        // The info component also takes every path nobody else claims (JSON 404s).
        expected.insert("/...".into(), "info".into());
        assert_eq!(routed, expected);
        let components: BTreeSet<&str> = manifest["component"]
            .as_table()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let ours: BTreeSet<&str> = COMPONENTS.iter().map(|c| c.id).collect();
        assert_eq!(components, ours);
    }

    #[test]
    fn each_component_reads_exactly_the_variables_spin_toml_gives_it() {
        let manifest = manifest();
        let declared_app: BTreeSet<&str> = manifest["variables"]
            .as_table()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for component in COMPONENTS {
            let table = manifest["component"][component.id]
                .get("variables")
                .and_then(toml::Value::as_table)
                .cloned()
                .unwrap_or_default();
            let declared: BTreeSet<&str> = table.keys().map(String::as_str).collect();
            let read: BTreeSet<&str> = component.variables.iter().copied().collect();
            assert_eq!(declared, read, "component {}", component.id);
            for (name, value) in &table {
                assert!(declared_app.contains(name.as_str()), "{name}");
                assert_eq!(
                    value.as_str(),
                    Some(format!("{{{{ {name} }}}}").as_str()),
                    "component {} passes {name} through",
                    component.id
                );
            }
        }
    }

    #[test]
    fn each_component_implements_exactly_its_operations() {
        for op in OPERATIONS {
            for component in COMPONENTS {
                let implemented = handlers::of(component.id)(op).is_some();
                assert_eq!(
                    implemented,
                    op.component == component.id,
                    "{} {} in component {}",
                    op.method,
                    op.path,
                    component.id
                );
            }
        }
    }

    #[test]
    fn the_root_document_lists_the_named_operations() {
        for compute in [false, true] {
            let mut vars = vec![
                ("network_url", r#"{"8996": "http://127.0.0.1:8545"}"#),
                ("provider_private_key", crate::fakes::PROVIDER_KEY),
            ];
            if compute {
                vars.push(("operator_service_url", "http://operator.example"));
            }
            let fake = FakePlatform::new(&vars);
            let doc = serve_full("info", &ApiRequest::new("GET", "/"), &fake.ports())
                .body_json()
                .unwrap();
            let endpoints = doc["serviceEndpoints"].as_object().unwrap();
            let expected: Vec<&Operation> = OPERATIONS
                .iter()
                .filter(|op| !op.name.is_empty() && op.listed && (compute || !op.compute))
                .collect();
            assert_eq!(endpoints.len(), expected.len());
            // The alias spelling is routed but not listed: v2 clients need `fileinfo`.
            assert!(endpoints.contains_key("fileinfo") && !endpoints.contains_key("fileInfo"));
            // Ocean Node's keys (ocean.js 8 throws without the token ones).
            for key in ["generateAuthToken", "invalidateAuthToken"] {
                assert!(endpoints.contains_key(key), "{key}");
            }
            assert_eq!(endpoints.contains_key("freeCompute"), compute);
            for op in expected {
                assert_eq!(
                    endpoints[op.name],
                    serde_json::json!([op.method, op.path]),
                    "{}",
                    op.name
                );
            }
        }
    }

    #[test]
    fn options_head_unknown_methods_and_unknown_paths() {
        let fake = FakePlatform::new(&[]);
        let p = fake.ports();
        let options = serve_full(
            "nonce",
            &ApiRequest::new("OPTIONS", "/api/services/nonce"),
            &p,
        );
        assert_eq!(options.status, 200);
        assert_eq!(options.header("allow"), Some("GET, OPTIONS"));
        assert_eq!(options.header("access-control-allow-origin"), Some("*"));
        let compute = serve_full(
            "compute",
            &ApiRequest::new("OPTIONS", "/api/services/compute/"),
            &p,
        );
        assert_eq!(
            compute.header("allow"),
            Some("POST, GET, PUT, DELETE, OPTIONS")
        );
        for method in ["HEAD", "PATCH", "POST"] {
            let r = serve_full("nonce", &ApiRequest::new(method, "/api/services/nonce"), &p);
            assert_eq!(r.status, 405, "{method}");
            assert_eq!(r.body_json().unwrap()["error"], "Method Not Allowed");
            assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        }
        let missing = serve_full("info", &ApiRequest::new("GET", "/api/services/nope"), &p);
        assert_eq!(missing.status, 404);
        assert_eq!(missing.header("access-control-allow-origin"), Some("*"));
        assert!(
            missing.body_json().unwrap()["error"]
                .as_str()
                .unwrap()
                .starts_with("404 Not Found")
        );
    }
}
