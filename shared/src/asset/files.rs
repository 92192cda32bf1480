//! File objects (spec §6.1–§6.3): decrypting a service's files, validating each object
//! with the reference's messages, and turning it into the request that fetches it.

use serde_json::{Map, Value, json};

use super::ddo::{Ddo, Service};
use crate::address::parse_address;
use crate::chain::network_name;
use crate::cipher;
use crate::config::Chain;
use crate::ports::Platform;
use crate::request::percent_encode;
use crate::signature::decode_hex;
use crate::{ProviderError, Result};

/// The kinds of file object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A plain URL (GET or POST).
    Url,
    /// An IPFS CID through the configured gateway.
    Ipfs,
    /// An Arweave transaction through the configured gateway.
    Arweave,
    /// A GraphQL query (POST).
    GraphQl,
    /// The result of a view function.
    SmartContract,
}

impl FileKind {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Url => "url",
            Self::Ipfs => "ipfs",
            Self::Arweave => "arweave",
            Self::GraphQl => "graphql",
            Self::SmartContract => "smartcontract",
        }
    }
}

/// A validated file object.
#[derive(Debug, Clone, PartialEq)]
pub struct FileObject {
    /// Its kind.
    pub kind: FileKind,
    /// The object as given.
    pub fields: Map<String, Value>,
}

impl FileObject {
    fn text(&self, name: &str) -> Option<&str> {
        self.fields.get(name).and_then(Value::as_str)
    }

    /// Extra request headers the publisher attached.
    pub fn headers(&self) -> Vec<(String, String)> {
        self.fields
            .get("headers")
            .and_then(Value::as_object)
            .map(|h| {
                h.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Why a file object is refused: the reference's message, and the field it is about
/// (for the validation envelope when the object came from the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    /// The file object's key at fault (`type`, `url`, `hash`, ...).
    pub field: &'static str,
    /// The reference's message.
    pub message: String,
}

impl FileError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn invalid_abi() -> FileError {
    FileError::new("abi", "invalid abi")
}

/// Validates a file object, with the reference's messages (spec §6.2).
pub fn validate_file(value: &Value, userdata: Option<&Value>) -> Result<FileObject, FileError> {
    let Some(fields) = value.as_object().filter(|o| !o.is_empty()) else {
        return Err(FileError::new(
            "type",
            "cannot decrypt files for this service.",
        ));
    };
    let kind = match fields.get("type").and_then(Value::as_str) {
        Some("url") => FileKind::Url,
        Some("ipfs") => FileKind::Ipfs,
        Some("arweave") => FileKind::Arweave,
        Some("graphql") => FileKind::GraphQl,
        Some("smartcontract") => FileKind::SmartContract,
        other => {
            return Err(FileError::new(
                "type",
                format!(
                    "Unsupported type {}",
                    other.map_or_else(|| "None".to_owned(), str::to_owned)
                ),
            ));
        }
    };
    let mistyped = ["url", "hash", "transactionId", "address", "query"]
        .into_iter()
        .find(|k| fields.get(*k).is_some_and(|v| !v.is_string()))
        .or_else(|| {
            fields
                .get("headers")
                .is_some_and(|v| !v.is_object())
                .then_some("headers")
        })
        .or_else(|| {
            fields
                .get("chainId")
                .is_some_and(|v| v.as_u64().is_none())
                .then_some("chainId")
        });
    if let Some(field) = mistyped {
        return Err(FileError::new(field, "malformed file object."));
    }
    let present = |k: &str| {
        fields
            .get(k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    match kind {
        FileKind::Url => {
            if !present("url") {
                return Err(FileError::new(
                    "url",
                    "malformed service files, missing required keys.",
                ));
            }
            let method = fields
                .get("method")
                .and_then(Value::as_str)
                .unwrap_or("get")
                .to_ascii_lowercase();
            if method != "get" && method != "post" {
                return Err(FileError::new("method", format!("Unsafe method {method}.")));
            }
            let url = fields
                .get("url")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let lower = url.to_ascii_lowercase();
            let has_path_after_slash = url
                .split_once('/')
                .is_some_and(|(_, after)| !after.is_empty());
            if !lower.starts_with("http://")
                && !lower.starts_with("https://")
                && has_path_after_slash
            {
                return Err(FileError::new(
                    "url",
                    "Invalid file name format. It was not possible to get the file name.",
                ));
            }
        }
        FileKind::Ipfs => {
            if !present("hash") {
                return Err(FileError::new(
                    "hash",
                    "malformed service files, missing required keys.",
                ));
            }
        }
        FileKind::Arweave => {
            if !present("transactionId") {
                return Err(FileError::new(
                    "transactionId",
                    "malformed service files, missing transactionId.",
                ));
            }
        }
        FileKind::GraphQl => {
            if !present("url") {
                return Err(FileError::new("url", "missing graphql endpoint"));
            }
            if !present("query") {
                return Err(FileError::new("query", "missing graphql query"));
            }
        }
        FileKind::SmartContract => validate_smart_contract(fields, userdata)?,
    }
    Ok(FileObject {
        kind,
        fields: fields.clone(),
    })
}

fn validate_smart_contract(
    fields: &Map<String, Value>,
    userdata: Option<&Value>,
) -> Result<(), FileError> {
    if fields
        .get("address")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(FileError::new(
            "address",
            "malformed smartcontract type, missing contract address",
        ));
    }
    let abi = fields
        .get("abi")
        .and_then(Value::as_object)
        .ok_or_else(invalid_abi)?;
    let inputs = abi
        .get("inputs")
        .and_then(Value::as_array)
        .ok_or_else(invalid_abi)?;
    if abi.get("type").and_then(Value::as_str) != Some("function") {
        return Err(invalid_abi());
    }
    if !matches!(
        abi.get("stateMutability").and_then(Value::as_str),
        Some("view" | "pure")
    ) {
        return Err(FileError::new(
            "abi",
            "only view or pure functions are allowed",
        ));
    }
    if abi
        .get("name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(FileError::new("abi", "missing name"));
    }
    if inputs.is_empty() {
        return Ok(());
    }
    let Some(userdata) = userdata.and_then(Value::as_object) else {
        return Err(FileError::new("userdata", "Missing parameters"));
    };
    let missing: Vec<&str> = inputs
        .iter()
        .filter_map(|i| i.get("name").and_then(Value::as_str))
        .filter(|name| {
            userdata
                .get(*name)
                .is_none_or(|v| v.is_null() || v == &json!(""))
        })
        .collect();
    if !missing.is_empty() {
        return Err(FileError::new(
            "userdata",
            format!("Missing userparams: {}", missing.join(", ")),
        ));
    }
    Ok(())
}

/// `fileIndex`: an integer ≥ 0 (no negative wrap-around), or 400.
pub fn parse_file_index(text: &str) -> Result<usize> {
    text.trim().parse::<usize>().map_err(|_| {
        ProviderError::field("fileIndex", "The fileIndex must be an integer at least 0.")
    })
}

/// [`service_files`], or the reference's 400 when this provider cannot read them.
pub fn readable_service_files(ddo: &Ddo, service: &Service, chain: &Chain) -> Result<Vec<Value>> {
    service_files(ddo, service, chain).ok_or_else(|| {
        ProviderError::BadRequest(format!(
            "Provider {}: Unable to get dataset files",
            network_name(chain.id)
        ))
    })
}

/// Checks that file `file_index` of the service exists, is a valid object and is
/// reachable; returns the validated request.
pub fn reachable_file(
    platform: &Platform<'_>,
    ddo: &Ddo,
    service: &Service,
    chain: &Chain,
    file_index: usize,
    userdata: Option<&Value>,
) -> Result<FileRequest> {
    let net = network_name(chain.id);
    let files = readable_service_files(ddo, service, chain)?;
    let file = files.get(file_index).ok_or_else(|| {
        ProviderError::BadRequest(format!("Provider {net}: No such fileIndex {file_index}"))
    })?;
    let object = validate_file(file, userdata)
        .map_err(|m| ProviderError::BadRequest(format!("Provider {net}: {m}")))?;
    file_request(platform, &object, userdata)
}

/// Userdata as the reference takes it: a JSON object, or a string holding one
/// (unparsable text counts as `{}`).
pub fn parse_userdata(value: Option<&Value>) -> Option<Value> {
    match value {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) if text.is_empty() => None,
        Some(Value::String(text)) => Some(serde_json::from_str(text).unwrap_or_else(|_| json!({}))),
        Some(other) => Some(other.clone()),
    }
}

/// Decrypts a service's files with the chain key (spec §6.1). For v4.1+ DDOs the
/// plaintext names its NFT and datatoken, and both must be this asset's and this
/// service's: an encrypted files blob copied into another asset is refused (the
/// reference did not check this).
pub fn service_files(ddo: &Ddo, service: &Service, chain: &Chain) -> Option<Vec<Value>> {
    let bytes = decode_hex(&service.files)?;
    let plain = cipher::decrypt(&chain.key.secret_key(), &bytes).ok()?;
    let value: Value = serde_json::from_slice(&plain).ok()?;
    if ddo.uses_legacy_files() {
        return value.as_array().cloned();
    }
    let same = |claimed: Option<&Value>, expected: Option<&str>| -> bool {
        match (
            claimed.and_then(Value::as_str).and_then(parse_address),
            expected.and_then(parse_address),
        ) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    };
    if !same(
        value.get("datatokenAddress"),
        Some(&service.datatoken_address),
    ) || !same(value.get("nftAddress"), ddo.nft_address.as_deref())
    {
        return None;
    }
    value.get("files").and_then(Value::as_array).cloned()
}

/// Python's `urljoin(base, relative)` for the gateway cases: a base ending in `/` gets
/// the relative part appended; otherwise the base's last path segment is replaced.
pub fn url_join(base: &str, relative: &str) -> String {
    if base.ends_with('/') {
        return format!("{base}{relative}");
    }
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    match base[after_scheme..].rfind('/') {
        Some(slash) => format!("{}{relative}", &base[..after_scheme + slash + 1]),
        None => format!("{base}/{relative}"),
    }
}

/// What fetching a file means.
#[derive(Debug, Clone, PartialEq)]
pub enum FileRequest {
    /// An HTTP request.
    Http {
        /// Method.
        method: String,
        /// URL (userdata already applied to the query for GET).
        url: String,
        /// Headers.
        headers: Vec<(String, String)>,
        /// Body (POST).
        body: Vec<u8>,
        /// Whether the file name may be shown (not for ipfs/arweave/graphql, whose
        /// names would leak the CID or transaction id).
        name_from_url: bool,
    },
    /// An `eth_call` whose result is the content.
    Contract {
        /// Chain id.
        chain_id: u64,
        /// Contract address.
        address: String,
        /// The ABI fragment.
        abi: Value,
        /// Arguments by input name.
        userdata: Option<Value>,
    },
}

fn with_query(url: &str, userdata: &Value) -> String {
    let Some(map) = userdata.as_object().filter(|m| !m.is_empty()) else {
        return url.to_owned();
    };
    let pairs: Vec<String> = map
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                percent_encode(k),
                percent_encode(&crate::request::python_str(v))
            )
        })
        .collect();
    let (base, fragment) = match url.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (url, None),
    };
    let joiner = if base.contains('?') { '&' } else { '?' };
    let mut out = format!("{base}{joiner}{}", pairs.join("&"));
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// Turns a validated file object into its request (spec §6.3).
pub fn file_request(
    platform: &Platform<'_>,
    file: &FileObject,
    userdata: Option<&Value>,
) -> Result<FileRequest> {
    let headers = file.headers();
    Ok(match file.kind {
        FileKind::Url => {
            let method = file.text("method").unwrap_or("get").to_ascii_uppercase();
            let url = file.text("url").unwrap_or_default();
            if method == "POST" {
                let body = userdata
                    .map(|u| u.to_string().into_bytes())
                    .unwrap_or_default();
                let mut headers = headers;
                if !body.is_empty() {
                    headers.push(("content-type".into(), "application/json".into()));
                }
                FileRequest::Http {
                    method,
                    url: url.to_owned(),
                    headers,
                    body,
                    name_from_url: true,
                }
            } else {
                let url = userdata.map_or_else(|| url.to_owned(), |u| with_query(url, u));
                FileRequest::Http {
                    method,
                    url,
                    headers,
                    body: Vec::new(),
                    name_from_url: true,
                }
            }
        }
        FileKind::Ipfs => {
            let gateway = platform.settings.ipfs_gateway()?;
            let url = url_join(
                &gateway,
                &format!("ipfs/{}", file.text("hash").unwrap_or_default()),
            );
            FileRequest::Http {
                method: "GET".into(),
                url,
                headers,
                body: Vec::new(),
                name_from_url: false,
            }
        }
        FileKind::Arweave => {
            let gateway = platform.settings.arweave_gateway()?;
            let url = url_join(&gateway, file.text("transactionId").unwrap_or_default());
            FileRequest::Http {
                method: "GET".into(),
                url,
                headers,
                body: Vec::new(),
                name_from_url: false,
            }
        }
        FileKind::GraphQl => {
            let mut body = json!({"query": file.text("query").unwrap_or_default()});
            if let Some(userdata) = userdata {
                body["variables"] = userdata.clone();
            }
            let mut headers = headers;
            headers.push(("content-type".into(), "application/json".into()));
            FileRequest::Http {
                method: "POST".into(),
                url: file.text("url").unwrap_or_default().to_owned(),
                headers,
                body: body.to_string().into_bytes(),
                name_from_url: false,
            }
        }
        FileKind::SmartContract => FileRequest::Contract {
            chain_id: file
                .fields
                .get("chainId")
                .and_then(Value::as_u64)
                .unwrap_or(0),
            address: file.text("address").unwrap_or_default().to_owned(),
            abi: file.fields.get("abi").cloned().unwrap_or(Value::Null),
            userdata: userdata.cloned(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(value: Value) -> String {
        validate_file(&value, None).unwrap_err().message
    }

    #[test]
    fn validation_messages_are_the_references() {
        assert_eq!(err(json!({})), "cannot decrypt files for this service.");
        assert_eq!(err(json!({"type": "ftp"})), "Unsupported type ftp");
        assert_eq!(
            err(json!({"type": "url", "url": "http://x", "headers": "h"})),
            "malformed file object."
        );
        assert_eq!(
            err(json!({"type": "url", "url": 5})),
            "malformed file object."
        );
        assert_eq!(
            err(json!({"type": "smartcontract", "address": "0x1", "chainId": "1"})),
            "malformed file object."
        );
        assert_eq!(
            err(json!({"type": "url"})),
            "malformed service files, missing required keys."
        );
        assert_eq!(
            err(json!({"type": "url", "url": "http://x", "method": "DELETE"})),
            "Unsafe method delete."
        );
        assert_eq!(
            err(json!({"type": "url", "url": "./../dir"})),
            "Invalid file name format. It was not possible to get the file name."
        );
        assert!(validate_file(&json!({"type": "url", "url": "x"}), None).is_ok());
        assert_eq!(
            err(json!({"type": "ipfs"})),
            "malformed service files, missing required keys."
        );
        assert_eq!(
            err(json!({"type": "arweave"})),
            "malformed service files, missing transactionId."
        );
        assert_eq!(
            err(json!({"type": "graphql", "query": "{a}"})),
            "missing graphql endpoint"
        );
        assert_eq!(
            err(json!({"type": "graphql", "url": "http://g"})),
            "missing graphql query"
        );
        assert_eq!(
            err(json!({"type": "smartcontract", "chainId": 1})),
            "malformed smartcontract type, missing contract address"
        );
        let abi = |extra: Value| {
            let mut base = json!({"type": "function", "name": "f", "inputs": [], "outputs": [], "stateMutability": "view"});
            for (k, v) in extra.as_object().unwrap() {
                base[k] = v.clone();
            }
            json!({"type": "smartcontract", "address": "0x1", "chainId": 8996, "abi": base})
        };
        assert_eq!(err(abi(json!({"type": "event"}))), "invalid abi");
        assert_eq!(
            err(json!({"type": "smartcontract", "address": "0x1", "abi": {"type": "function"}})),
            "invalid abi"
        );
        assert_eq!(
            err(abi(json!({"stateMutability": "nonpayable"}))),
            "only view or pure functions are allowed"
        );
        assert_eq!(err(abi(json!({"name": ""}))), "missing name");
        let with_input = abi(json!({"inputs": [{"name": "who", "type": "address"}]}));
        assert_eq!(err(with_input.clone()), "Missing parameters");
        assert_eq!(
            validate_file(&with_input, Some(&json!({"other": 1})))
                .unwrap_err()
                .to_string(),
            "Missing userparams: who"
        );
        assert!(validate_file(&with_input, Some(&json!({"who": "0x1"}))).is_ok());
    }

    #[test]
    fn url_join_matches_python() {
        assert_eq!(
            url_join("https://ipfs.io", "ipfs/Qm"),
            "https://ipfs.io/ipfs/Qm"
        );
        assert_eq!(
            url_join("https://ipfs.io/", "ipfs/Qm"),
            "https://ipfs.io/ipfs/Qm"
        );
        assert_eq!(
            url_join("https://gw.example/base/", "ipfs/Qm"),
            "https://gw.example/base/ipfs/Qm"
        );
        assert_eq!(
            url_join("https://gw.example/base", "ipfs/Qm"),
            "https://gw.example/ipfs/Qm"
        );
        assert_eq!(
            url_join("https://arweave.net/", "tx1"),
            "https://arweave.net/tx1"
        );
    }

    #[test]
    fn userdata_goes_to_the_query_for_get_and_the_body_for_post() {
        let fake = crate::fakes::FakePlatform::new(&[("ipfs_gateway", "https://ipfs.io")]);
        let p = fake.ports();
        let get = validate_file(&json!({"type": "url", "url": "https://x.example/a.csv?x=1", "headers": {"Authorization": "k"}}), None).unwrap();
        match file_request(&p, &get, Some(&json!({"q": "a b"}))).unwrap() {
            FileRequest::Http { url, headers, .. } => {
                assert_eq!(url, "https://x.example/a.csv?x=1&q=a%20b");
                assert_eq!(headers, vec![("Authorization".to_owned(), "k".to_owned())]);
            }
            other => panic!("{other:?}"),
        }
        let post = validate_file(
            &json!({"type": "url", "url": "https://x.example/p", "method": "POST"}),
            None,
        )
        .unwrap();
        match file_request(&p, &post, Some(&json!({"q": 1}))).unwrap() {
            FileRequest::Http { method, body, .. } => {
                assert_eq!((method.as_str(), body), ("POST", br#"{"q":1}"#.to_vec()))
            }
            other => panic!("{other:?}"),
        }
        let ipfs = validate_file(&json!({"type": "ipfs", "hash": "QmX"}), None).unwrap();
        match file_request(&p, &ipfs, None).unwrap() {
            FileRequest::Http {
                url, name_from_url, ..
            } => assert_eq!(
                (url.as_str(), name_from_url),
                ("https://ipfs.io/ipfs/QmX", false)
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse_userdata(Some(&json!("{\"a\":1}"))),
            Some(json!({"a": 1}))
        );
        assert_eq!(parse_userdata(Some(&json!("not json"))), Some(json!({})));
    }
}
