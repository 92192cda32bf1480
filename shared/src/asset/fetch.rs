//! Fetching files safely and cheaply.
//!
//! - Every hop is checked ([`crate::url_safety`]) and redirects are followed here, at
//!   most [`MAX_REDIRECTS`], never by the platform.
//! - Learning a file's length never reads its body: `HEAD`, and if that is refused or
//!   says nothing, `GET` with `Range: bytes=0-0` and the total from `Content-Range`.
//! - A checksum is a streamed SHA-256, only for files of known length up to the limit,
//!   abandoned the moment more bytes arrive than allowed.

use std::time::Duration;

use alloy_dyn_abi::{DynSolType, DynSolValue, FunctionExt, JsonAbiExt};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::files::FileRequest;
use crate::Result;
use crate::address::checksum;
use crate::chain::Rpc;
use crate::outbound::{HttpClient, HttpError, OutboundRequest, OutboundResponse};
use crate::ports::Platform;
use crate::url_safety::{UnsafeUrl, check_url, parse_url};

/// Redirect hops followed at most.
pub const MAX_REDIRECTS: usize = 5;

/// How outbound file requests are made.
#[derive(Debug, Clone, Copy)]
pub struct FetchPolicy {
    /// `allow_non_public_ip`.
    pub allow_non_public: bool,
    /// `request_timeout`.
    pub timeout: Duration,
}

impl FetchPolicy {
    /// The policy configured by `allow_non_public_ip` and `request_timeout`.
    pub fn from_config(vars: &dyn crate::ports::Variables) -> Result<Self> {
        Ok(Self {
            allow_non_public: crate::config::boolean(vars, "allow_non_public_ip", false)?,
            timeout: crate::config::request_timeout(vars)?,
        })
    }
}

/// Why a file could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// A hop's URL is refused.
    Unsafe(UnsafeUrl),
    /// More than [`MAX_REDIRECTS`] redirects, or a redirect without a usable target.
    Redirects,
    /// The transport failed.
    Http(HttpError),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unsafe(reason) => write!(f, "unsafe URL: {reason}"),
            Self::Redirects => f.write_str("too many or invalid redirects"),
            Self::Http(err) => write!(f, "{err}"),
        }
    }
}

/// The one mapping of a failed fetch to an answer: a refused destination is the
/// caller's (or the asset's) problem, 400; anything else is an upstream failure, 503.
/// No message names the URL. Callers add what was being fetched with
/// [`ProviderError::context`].
impl From<FetchError> for crate::ProviderError {
    fn from(err: FetchError) -> Self {
        match err {
            FetchError::Unsafe(reason) => Self::BadRequest(format!("Unsafe URL: {reason}.")),
            // The platform refused the destination at connect time (a non-public
            // address after DNS, e.g. behind a redirect).
            FetchError::Http(HttpError::Denied) => {
                Self::BadRequest("Unsafe URL: the destination is not allowed.".into())
            }
            FetchError::Redirects => Self::Upstream("It redirects too often.".into()),
            FetchError::Http(err) => Self::Upstream(format!("It is unavailable ({err}).")),
        }
    }
}

/// Resolves a redirect target against the URL it came from.
pub fn resolve_location(base: &str, location: &str) -> Option<String> {
    let location = location.trim();
    if location.contains("://") {
        return Some(location.to_owned());
    }
    let parts = parse_url(base).ok()?;
    let authority = match parts.port {
        Some(port) if parts.host.contains(':') => format!("[{}]:{port}", parts.host),
        Some(port) => format!("{}:{port}", parts.host),
        None if parts.host.contains(':') => format!("[{}]", parts.host),
        None => parts.host.clone(),
    };
    if let Some(rest) = location.strip_prefix("//") {
        return Some(format!("{}://{rest}", parts.scheme));
    }
    if location.starts_with('/') {
        return Some(format!("{}://{authority}{location}", parts.scheme));
    }
    let path = parts.path_and_query.split('?').next().unwrap_or("/");
    let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
    Some(format!("{}://{authority}{dir}{location}", parts.scheme))
}

/// Sends a request, following redirects itself and checking every hop.
/// Returns the final response and its URL.
pub fn send_checked(
    http: &dyn HttpClient,
    policy: FetchPolicy,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<(OutboundResponse, String), FetchError> {
    let mut method = method.to_owned();
    let mut body = body.to_vec();
    let mut url = url.to_owned();
    for _ in 0..=MAX_REDIRECTS {
        check_url(&url, policy.allow_non_public).map_err(FetchError::Unsafe)?;
        let mut request = OutboundRequest::new(&method, &url, policy.timeout);
        request.headers = headers.to_vec();
        request.body = body.clone();
        let response = http.send(request).map_err(FetchError::Http)?;
        if !matches!(response.status, 301 | 302 | 303 | 307 | 308) {
            return Ok((response, url));
        }
        let location = response
            .header("location")
            .ok_or(FetchError::Redirects)?
            .to_owned();
        url = resolve_location(&url, &location).ok_or(FetchError::Redirects)?;
        // As browsers do: 303 always, and 301/302 after a POST, continue with a GET.
        if response.status == 303 || (matches!(response.status, 301 | 302) && method == "POST") {
            method = "GET".into();
            body.clear();
        }
    }
    Err(FetchError::Redirects)
}

/// What fileinfo reports about a reachable file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileDetails {
    /// Total length in bytes, when the origin says.
    pub content_length: Option<u64>,
    /// Media type without parameters.
    pub content_type: String,
    /// Last path segment of the final URL ("" when names must not be shown).
    pub filename: String,
    /// SHA-256 hex, when requested and allowed.
    pub checksum: Option<String>,
}

fn media_type(response: &OutboundResponse) -> String {
    crate::request::media_type(response.header("content-type").unwrap_or(""))
}

fn declared_length(response: &OutboundResponse) -> Option<u64> {
    response
        .header("content-length")
        .and_then(|v| v.trim().parse().ok())
}

/// The total from `Content-Range: bytes 0-0/1234` (`*` means unknown).
pub fn total_from_content_range(value: &str) -> Option<u64> {
    value
        .rsplit_once('/')
        .and_then(|(_, total)| total.trim().parse().ok())
}

fn filename_of(url: &str) -> String {
    let path = parse_url(url).map(|p| p.path_and_query).unwrap_or_default();
    let path = path.split('?').next().unwrap_or("");
    path.rsplit('/').next().unwrap_or("").to_owned()
}

/// Streams a body into SHA-256, giving up (None) once more than `limit` bytes arrive.
fn streamed_sha256(mut response: OutboundResponse, limit: u64) -> Option<String> {
    let mut hasher = Sha256::new();
    let mut seen: u64 = 0;
    loop {
        match response.body.next_chunk() {
            Ok(Some(chunk)) => {
                seen += chunk.len() as u64;
                if seen > limit {
                    return None;
                }
                hasher.update(&chunk);
            }
            Ok(None) => return Some(hex::encode(hasher.finalize())),
            Err(_) => return None,
        }
    }
}

/// Checks a file over HTTP (spec §6.3, with the fixes above). `Ok(None)` means the file
/// is not valid (unreachable, refused, or not a 2xx).
pub fn http_details(
    http: &dyn HttpClient,
    policy: FetchPolicy,
    request: &FileRequest,
    checksum_limit: Option<u64>,
) -> Result<Option<FileDetails>, FetchError> {
    let FileRequest::Http {
        method,
        url,
        headers,
        body,
        name_from_url,
    } = request
    else {
        return Ok(None);
    };
    let ok = |status: u16| (200..300).contains(&status);
    let name = |final_url: &str| {
        if *name_from_url {
            filename_of(final_url)
        } else {
            String::new()
        }
    };
    if method == "POST" {
        // A POST cannot be probed: one request, its body hashed only if asked and small.
        let (response, final_url) = send_checked(http, policy, method, url, headers, body)?;
        if !ok(response.status) {
            return Ok(None);
        }
        let mut details = FileDetails {
            content_length: declared_length(&response),
            content_type: media_type(&response),
            filename: name(&final_url),
            checksum: None,
        };
        if let (Some(limit), Some(length)) = (checksum_limit, details.content_length)
            && length <= limit
        {
            details.checksum = streamed_sha256(response, limit.min(length));
        }
        return Ok(Some(details));
    }

    let mut details = FileDetails::default();
    let mut valid = false;
    if let Ok((head, final_url)) = send_checked(http, policy, "HEAD", url, headers, &[])
        && ok(head.status)
    {
        valid = true;
        details.content_length = declared_length(&head);
        details.content_type = media_type(&head);
        details.filename = name(&final_url);
    }
    if !valid || details.content_length.is_none() {
        let mut probe_headers = headers.clone();
        probe_headers.push(("range".into(), "bytes=0-0".into()));
        let (probe, final_url) = send_checked(http, policy, "GET", url, &probe_headers, &[])?;
        if !ok(probe.status) {
            return Ok(None);
        }
        valid = true;
        details.content_length = if probe.status == 206 {
            probe
                .header("content-range")
                .and_then(total_from_content_range)
        } else {
            declared_length(&probe)
        };
        if details.content_type.is_empty() {
            details.content_type = media_type(&probe);
        }
        details.filename = name(&final_url);
        // The probe's body is dropped unread.
    }
    if !valid {
        return Ok(None);
    }
    if let (Some(limit), Some(length)) = (checksum_limit, details.content_length)
        && length <= limit
    {
        let (response, _) = send_checked(http, policy, "GET", url, headers, &[])?;
        if ok(response.status) {
            details.checksum = streamed_sha256(response, length);
        }
    }
    Ok(Some(details))
}

fn dyn_to_json(value: &DynSolValue) -> Value {
    match value {
        DynSolValue::Bool(b) => json!(b),
        DynSolValue::Int(i, _) => serde_json::from_str(&i.to_string()).unwrap_or(Value::Null),
        DynSolValue::Uint(u, _) => serde_json::from_str(&u.to_string()).unwrap_or(Value::Null),
        DynSolValue::Address(a) => json!(checksum(a)),
        DynSolValue::String(s) => json!(s),
        DynSolValue::Bytes(b) => json!(format!("0x{}", hex::encode(b))),
        DynSolValue::FixedBytes(w, size) => json!(format!("0x{}", hex::encode(&w[..*size]))),
        DynSolValue::Array(items) | DynSolValue::FixedArray(items) | DynSolValue::Tuple(items) => {
            Value::Array(items.iter().map(dyn_to_json).collect())
        }
        other => json!(format!("{other:?}")),
    }
}

/// `json.dumps` spacing (`", "` and `": "`), which the reference used for contract results.
pub fn python_json_dumps(value: &Value) -> String {
    match value {
        Value::Array(items) => format!(
            "[{}]",
            items
                .iter()
                .map(python_json_dumps)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("{}: {}", Value::String(k.clone()), python_json_dumps(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => other.to_string(),
    }
}

/// Why a smart-contract file's view function could not be called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContractCallError {
    /// The file names a chain this provider does not serve.
    UnknownChain(u64),
    /// The `abi` is not a function ABI, or its argument types are unknown.
    InvalidAbi,
    /// The contract address is not an address.
    InvalidAddress,
    /// `userdata` lacks a value for this input.
    MissingArgument(String),
    /// `userdata`'s value for this input does not fit its type.
    InvalidArgument(String),
    /// The node answered the call with an error (a revert, an unknown contract).
    Reverted,
    /// The call's result does not decode as the ABI's outputs.
    InvalidResult,
}

impl std::fmt::Display for ContractCallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownChain(id) => write!(f, "chain {id} is not served by this provider"),
            Self::InvalidAbi => f.write_str("the abi is not a callable function"),
            Self::InvalidAddress => f.write_str("the contract address is invalid"),
            Self::MissingArgument(name) => write!(f, "userdata has no value for {name}"),
            Self::InvalidArgument(name) => write!(f, "userdata's {name} does not fit its type"),
            Self::Reverted => f.write_str("the call was reverted"),
            Self::InvalidResult => f.write_str("the result does not match the abi"),
        }
    }
}

/// Calls a smart-contract file's view function; the content is the JSON of its result.
/// `Err` is an upstream or configuration failure; `Ok(Err(..))` says why this file's
/// call cannot be made.
pub fn contract_content(
    platform: &Platform<'_>,
    request: &FileRequest,
    timeout: Duration,
) -> Result<std::result::Result<Vec<u8>, ContractCallError>> {
    use ContractCallError as E;
    let FileRequest::Contract {
        chain_id,
        address,
        abi,
        userdata,
    } = request
    else {
        return Ok(Err(E::InvalidAbi));
    };
    let Some(chain) = platform.settings.chains()?.get(*chain_id) else {
        return Ok(Err(E::UnknownChain(*chain_id)));
    };
    let Ok(function) = serde_json::from_value::<alloy_json_abi::Function>(abi.clone()) else {
        return Ok(Err(E::InvalidAbi));
    };
    let Some(to) = crate::address::parse_address(address) else {
        return Ok(Err(E::InvalidAddress));
    };
    let mut args = Vec::with_capacity(function.inputs.len());
    for input in &function.inputs {
        let Some(raw) = userdata.as_ref().and_then(|u| u.get(&input.name)) else {
            return Ok(Err(E::MissingArgument(input.name.clone())));
        };
        let Ok(ty) = DynSolType::parse(&input.ty) else {
            return Ok(Err(E::InvalidAbi));
        };
        let text = match raw {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let Ok(value) = ty.coerce_str(&text) else {
            return Ok(Err(E::InvalidArgument(input.name.clone())));
        };
        args.push(value);
    }
    let Ok(data) = function.abi_encode_input(&args) else {
        return Ok(Err(E::InvalidAbi));
    };
    let rpc = Rpc::new(chain, platform.http, platform.kv, timeout);
    let params = json!([{"to": to, "data": alloy_primitives::Bytes::from(data)}, "latest"]);
    let Ok(Value::String(hex_result)) = rpc.call("eth_call", params)? else {
        return Ok(Err(E::Reverted));
    };
    let Some(bytes) = crate::signature::decode_hex(&hex_result) else {
        return Ok(Err(E::InvalidResult));
    };
    let Ok(outputs) = function.abi_decode_output(&bytes) else {
        return Ok(Err(E::InvalidResult));
    };
    let result = if outputs.len() == 1 {
        dyn_to_json(&outputs[0])
    } else {
        Value::Array(outputs.iter().map(dyn_to_json).collect())
    };
    Ok(Ok(python_json_dumps(&result).into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::FakeHttp;

    const POLICY: FetchPolicy = FetchPolicy {
        allow_non_public: false,
        timeout: Duration::from_secs(1),
    };

    fn get(url: &str) -> FileRequest {
        FileRequest::Http {
            method: "GET".into(),
            url: url.into(),
            headers: vec![],
            body: vec![],
            name_from_url: true,
        }
    }

    fn header(name: &str, value: &str) -> (String, String) {
        (name.to_owned(), value.to_owned())
    }

    #[test]
    fn redirects_are_followed_and_every_hop_checked() {
        let http = FakeHttp::new(|req| match req.url.as_str() {
            "https://a.example/f" => Ok((302, vec![header("location", "/g/data.csv")], vec![])),
            "https://a.example/g/data.csv" => Ok((
                200,
                vec![
                    header("content-length", "10"),
                    header("content-type", "text/csv; charset=utf-8"),
                ],
                vec![],
            )),
            "https://evil.example/x" => Ok((
                301,
                vec![header("location", "http://169.254.169.254/latest")],
                vec![],
            )),
            _ => Ok((404, vec![], vec![])),
        });
        let details = http_details(&http, POLICY, &get("https://a.example/f"), None)
            .unwrap()
            .unwrap();
        assert_eq!(details.content_length, Some(10));
        assert_eq!(details.content_type, "text/csv");
        assert_eq!(details.filename, "data.csv");
        assert_eq!(http.count(), 2, "one HEAD through one redirect, no GET");
        let refused = http_details(&http, POLICY, &get("https://evil.example/x"), None);
        assert_eq!(refused, Err(FetchError::Unsafe(UnsafeUrl::NonPublicHost)));
        assert!(
            http.requests
                .lock()
                .unwrap()
                .iter()
                .all(|r| !r.url.contains("169.254"))
        );
    }

    #[test]
    fn redirect_loops_stop() {
        let http = FakeHttp::new(|_| {
            Ok((
                302,
                vec![header("location", "https://loop.example/again")],
                vec![],
            ))
        });
        assert_eq!(
            send_checked(&http, POLICY, "GET", "https://loop.example/", &[], &[]).err(),
            Some(FetchError::Redirects)
        );
        assert_eq!(http.count(), MAX_REDIRECTS + 1);
    }

    #[test]
    fn length_without_head_uses_a_one_byte_range_probe() {
        let http = FakeHttp::new(|req| {
            if req.method == "HEAD" {
                return Ok((405, vec![], vec![]));
            }
            assert!(
                req.headers
                    .iter()
                    .any(|(k, v)| k == "range" && v == "bytes=0-0")
            );
            Ok((
                206,
                vec![header("content-range", "bytes 0-0/123456789")],
                b"x".to_vec(),
            ))
        });
        let details = http_details(&http, POLICY, &get("https://a.example/big.bin"), None)
            .unwrap()
            .unwrap();
        assert_eq!(details.content_length, Some(123_456_789));
    }

    #[test]
    fn checksums_only_within_the_limit_and_abandoned_on_excess() {
        let body = b"hello world".to_vec();
        let sha = hex::encode(Sha256::digest(&body));
        let b = body.clone();
        let http = FakeHttp::new(move |req| {
            let head = vec![header("content-length", &b.len().to_string())];
            if req.method == "HEAD" {
                Ok((200, head, vec![]))
            } else {
                Ok((200, head, b.clone()))
            }
        });
        let d = http_details(&http, POLICY, &get("https://a.example/f"), Some(100))
            .unwrap()
            .unwrap();
        assert_eq!(d.checksum.as_deref(), Some(sha.as_str()));
        let d = http_details(&http, POLICY, &get("https://a.example/f"), Some(5))
            .unwrap()
            .unwrap();
        assert_eq!(d.checksum, None);
        // An origin that lies about the length: more bytes than declared stop the hash.
        let liar = FakeHttp::new(|req| {
            let head = vec![header("content-length", "3")];
            if req.method == "HEAD" {
                Ok((200, head, vec![]))
            } else {
                Ok((200, head, vec![b'x'; 1000]))
            }
        });
        let d = http_details(&liar, POLICY, &get("https://a.example/f"), Some(100))
            .unwrap()
            .unwrap();
        assert_eq!((d.content_length, d.checksum), (Some(3), None));
    }

    #[test]
    fn missing_files_are_invalid() {
        let http = FakeHttp::new(|_| Ok((404, vec![], vec![])));
        assert_eq!(
            http_details(&http, POLICY, &get("https://a.example/nope"), None).unwrap(),
            None
        );
    }

    #[test]
    fn locations_resolve_like_browsers() {
        assert_eq!(
            resolve_location("https://a.example/x/y?q", "z").as_deref(),
            Some("https://a.example/x/z")
        );
        assert_eq!(
            resolve_location("https://a.example:8443/x/y", "/z").as_deref(),
            Some("https://a.example:8443/z")
        );
        assert_eq!(
            resolve_location("https://a.example/x", "//b.example/z").as_deref(),
            Some("https://b.example/z")
        );
        assert_eq!(
            resolve_location("https://a.example/x", "http://c.example/").as_deref(),
            Some("http://c.example/")
        );
        assert_eq!(total_from_content_range("bytes 0-0/*"), None);
        assert_eq!(
            python_json_dumps(&json!([1, "a", [true]])),
            r#"[1, "a", [true]]"#
        );
    }

    #[test]
    fn a_contract_call_that_cannot_be_made_says_why() {
        let fake = crate::fakes::FakePlatform::new(&[
            ("network_url", r#"{"8996": "http://rpc.example"}"#),
            ("provider_private_key", crate::fakes::PROVIDER_KEY),
        ]);
        let platform = fake.ports();
        let abi = json!({"type": "function", "name": "balanceOf", "stateMutability": "view",
            "inputs": [{"name": "who", "type": "address"}], "outputs": [{"name": "", "type": "uint256"}]});
        let call = |chain_id: u64, userdata: Option<Value>| FileRequest::Contract {
            chain_id,
            address: "0x1111111111111111111111111111111111111111".into(),
            abi: abi.clone(),
            userdata,
        };
        let timeout = Duration::from_secs(1);
        assert_eq!(
            contract_content(&platform, &call(1, None), timeout).unwrap(),
            Err(ContractCallError::UnknownChain(1))
        );
        assert_eq!(
            contract_content(&platform, &call(8996, None), timeout).unwrap(),
            Err(ContractCallError::MissingArgument("who".into()))
        );
        assert_eq!(
            contract_content(
                &platform,
                &call(8996, Some(json!({"who": "nope"}))),
                timeout
            )
            .unwrap(),
            Err(ContractCallError::InvalidArgument("who".into()))
        );
        assert_eq!(
            fake.http.count(),
            0,
            "nothing was sent for calls that cannot be made"
        );
        fake.http.answer(|req| {
            let call: Value = serde_json::from_slice(&req.body).unwrap();
            let answer = json!({"jsonrpc": "2.0", "id": call["id"], "error": {"code": 3, "message": "execution reverted"}});
            Ok((200, vec![], answer.to_string().into_bytes()))
        });
        let who = Some(json!({"who": "0x2222222222222222222222222222222222222222"}));
        assert_eq!(
            contract_content(&platform, &call(8996, who.clone()), timeout).unwrap(),
            Err(ContractCallError::Reverted)
        );
        fake.http.answer(|req| {
            let call: Value = serde_json::from_slice(&req.body).unwrap();
            let eighteen = format!(
                "0x{}",
                hex::encode(alloy_primitives::U256::from(18).to_be_bytes::<32>())
            );
            let answer = json!({"jsonrpc": "2.0", "id": call["id"], "result": eighteen});
            Ok((200, vec![], answer.to_string().into_bytes()))
        });
        assert_eq!(
            contract_content(&platform, &call(8996, who), timeout).unwrap(),
            Ok(b"18".to_vec())
        );
    }
}
