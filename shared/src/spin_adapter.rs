//! The Spin side of the ports, and the glue from a Spin HTTP request to an endpoint
//! function. Compiled for `wasm32` only; everything it calls is tested natively.
//!
//! Key-value goes through `wasi:keyvalue/store` + `wasi:keyvalue/atomics`
//! (`0.2.0-draft2`), because the nonce rules need the atomic `increment` that Spin's
//! high-level key-value API does not have.

use std::cell::OnceCell;

use futures::StreamExt;
use spin_sdk::http::{Fields, IncomingRequest, OutgoingResponse, ResponseOutparam};
use spin_sdk::wit::wasi::keyvalue::{atomics, store};

use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
use spin_sdk::wit::wasi::http0_2_0::types as wasi_http;
use wasi::io::streams::StreamError;

use crate::outbound::{BodyStream, HttpClient, HttpError, OutboundRequest, OutboundResponse};
use crate::ports::{KeyValue, Platform, StorageError, SystemClock, VariableError, Variables};
use crate::{ApiRequest, ApiResponse, ProviderError};

/// The Spin key-value store labelled `default`, opened on first use.
#[derive(Default)]
pub struct SpinKeyValue {
    bucket: OnceCell<Result<store::Bucket, StorageError>>,
}

impl std::fmt::Debug for SpinKeyValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SpinKeyValue")
    }
}

fn storage_error(err: store::Error) -> StorageError {
    StorageError(match err {
        store::Error::NoSuchStore => "no such store".into(),
        store::Error::AccessDenied => "access denied".into(),
        store::Error::Other(text) => text,
    })
}

impl SpinKeyValue {
    fn bucket(&self) -> Result<&store::Bucket, StorageError> {
        self.bucket
            .get_or_init(|| store::open("default").map_err(storage_error))
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl KeyValue for SpinKeyValue {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.bucket()?.get(key).map_err(storage_error)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.bucket()?.set(key, value).map_err(storage_error)
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.bucket()?.delete(key).map_err(storage_error)
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StorageError> {
        atomics::increment(self.bucket()?, key, delta).map_err(storage_error)
    }
}

/// Spin application variables, limited to the names the component declares in
/// [`crate::routes::COMPONENTS`] (which a test checks against `spin.toml`). Spin answers
/// an undeclared name as "undefined", which reads as unset; here it is a configuration
/// error naming the variable, so a missing declaration cannot go unnoticed.
#[derive(Debug, Clone, Copy)]
pub struct DeclaredVariables {
    component: &'static str,
    names: &'static [&'static str],
}

impl Variables for DeclaredVariables {
    fn get(&self, name: &str) -> Result<String, VariableError> {
        if !self.names.contains(&name) {
            return Err(VariableError::Other(format!(
                "not declared for component `{}` (routes::COMPONENTS and spin.toml)",
                self.component
            )));
        }
        match spin_sdk::variables::get(name) {
            Ok(value) => Ok(value),
            Err(spin_sdk::variables::Error::Undefined(_))
            | Err(spin_sdk::variables::Error::InvalidName(_)) => Err(VariableError::Undefined),
            Err(other) => Err(VariableError::Other(format!("{other:?}"))),
        }
    }
}

/// Header names (lowercase) and values (lossy UTF-8) of a WASI header map.
fn header_pairs(fields: &wasi_http::Fields) -> Vec<(String, String)> {
    fields
        .entries()
        .into_iter()
        .map(|(name, value)| {
            (
                name.to_ascii_lowercase(),
                String::from_utf8_lossy(&value).into_owned(),
            )
        })
        .collect()
}

/// Serves one Spin HTTP request for `component` (an id of [`crate::routes::COMPONENTS`]):
/// reads the request (the body up to the component's limit, answering 413 beyond it
/// without reading the rest), runs it through [`crate::routes::serve`], and writes the
/// answer, buffered or streamed, with the head and the first body bytes together.
pub async fn serve(
    request: IncomingRequest,
    outparam: ResponseOutparam,
    component: &'static str,
    handlers: crate::routes::Handlers,
) {
    let Some(spec) = crate::routes::component(component) else {
        let err = ProviderError::config("spin.toml", format!("no component `{component}`"));
        write_response(outparam, err.to_response());
        return;
    };
    let kv = SpinKeyValue::default();
    let vars = DeclaredVariables {
        component,
        names: spec.variables,
    };
    let clock = SystemClock;
    let http = SpinHttp;
    let platform = Platform {
        kv: &kv,
        http: &http,
        settings: crate::settings::Settings::new(&vars),
        clock: &clock,
    };
    let reply = match read_request(request, &platform, spec.body_limit).await {
        Ok(api_request) => crate::routes::serve(component, handlers, &api_request, &platform),
        Err(err) => crate::Reply::Full(crate::routes::error_response(&err)),
    };
    match reply {
        crate::Reply::Full(response) => write_response(outparam, response),
        crate::Reply::Stream {
            status,
            headers,
            body,
            after,
        } => {
            if let Some(delivered) = stream_response(outparam, status, &headers, body)
                && let Some(after) = after
            {
                // The client has its whole answer: what follows cannot delay it.
                after.run(&platform, delivered);
            }
        }
    }
}

/// Streams a body out; the number of body bytes delivered when the answer completed,
/// `None` when it was cut (upstream failure) or abandoned (the client went away).
fn stream_response(
    outparam: ResponseOutparam,
    status: u16,
    headers: &[(String, String)],
    mut body: Box<dyn crate::outbound::BodyStream>,
) -> Option<u64> {
    // Hold the head back until the first chunk is here, so both leave together.
    let first = match body.next_chunk() {
        Ok(chunk) => chunk.unwrap_or_default(),
        Err(_) => {
            let err =
                ProviderError::Upstream("The upstream failed before sending any data.".into());
            write_response(outparam, crate::routes::error_response(&err));
            return None;
        }
    };
    let mut out = ResponseWriter::start(status, headers)?;
    out.write_before_head(&first);
    out.send_head(outparam);
    // The status is already sent; an upstream failure mid-way can only cut the
    // body short, which the client sees as a truncated (resumable) download.
    let mut ok = out.write_all();
    if ok
        && let Some(upstream) = body
            .platform_stream()
            .and_then(|any| any.downcast_ref::<SpinBody>())
    {
        // The rest moves inside the platform, without entering the component.
        return match out.splice_all(&upstream.stream) {
            Some(true) => out.finish(),
            Some(false) => None,
            None => {
                out.abort();
                None
            }
        };
    }
    while ok {
        match body.next_chunk() {
            Ok(Some(chunk)) => {
                out.pending = chunk;
                ok = out.write_all();
            }
            Ok(None) => return out.finish(),
            // The upstream failed mid-body: the answer must not look complete.
            Err(_) => {
                out.abort();
                return None;
            }
        }
    }
    // The client went away.
    None
}

async fn read_request(
    request: IncomingRequest,
    platform: &Platform<'_>,
    body_limit: crate::routes::BodyLimit,
) -> crate::Result<ApiRequest> {
    let path_with_query = request.path_with_query().unwrap_or_else(|| "/".into());
    let mut api_request = ApiRequest::new(&request.method().to_string(), &path_with_query);
    api_request.headers = header_pairs(&request.headers());
    if matches!(api_request.method.as_str(), "GET" | "HEAD" | "OPTIONS") {
        return Ok(api_request);
    }
    let limit = body_limit(platform)?;
    let too_large = || {
        ProviderError::PayloadTooLarge(format!("Request body too large: at most {limit} bytes."))
    };
    let declared = api_request
        .header("content-length")
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    let mut stream = request.into_body_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|_| ProviderError::BadRequest("The request body could not be read.".into()))?;
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    api_request.body = body;
    Ok(api_request)
}

/// Writes a complete response: the body (as much as the platform buffers without a
/// reader) is written *before* the response is handed over, so the head and the body
/// reach the connection together.
///
/// Why: Spin does not set `TCP_NODELAY` on accepted connections. A head sent on its
/// own, followed by a small body in a second write, makes Nagle's algorithm hold the
/// body until the client acknowledges the head, and clients delay that ACK by up to
/// 40 ms because the head alone is not a complete answer.
fn write_response(outparam: ResponseOutparam, response: ApiResponse) {
    let mut headers = response.headers;
    // The body is complete: say how long it is instead of chunking it.
    headers.push(("content-length".into(), response.body.len().to_string()));
    let Some(mut out) = ResponseWriter::start(response.status, &headers) else {
        return;
    };
    out.write_before_head(&response.body);
    out.send_head(outparam);
    out.write_all();
    out.finish();
}

/// An outgoing response being written: its body stream, and the bytes not yet taken.
struct ResponseWriter {
    response: Option<OutgoingResponse>,
    stream: Option<wasi::io::streams::OutputStream>,
    body: Option<wasi_http::OutgoingBody>,
    pending: Vec<u8>,
    /// Body bytes handed to the platform so far.
    delivered: u64,
}

impl ResponseWriter {
    fn start(status: u16, headers: &[(String, String)]) -> Option<Self> {
        let headers: Vec<(String, Vec<u8>)> = headers
            .iter()
            .map(|(name, value)| (name.clone(), value.clone().into_bytes()))
            .collect();
        let fields = Fields::from_list(&headers).unwrap_or_else(|_| Fields::new());
        let response = OutgoingResponse::new(fields);
        let _ = response.set_status_code(status);
        let body = response.body().ok()?;
        let stream = body.write().ok()?;
        Some(Self {
            response: Some(response),
            stream: Some(stream),
            body: Some(body),
            pending: Vec::new(),
            delivered: 0,
        })
    }

    /// Writes what the platform takes without a reader; keeps the rest pending.
    fn write_before_head(&mut self, bytes: &[u8]) {
        let taken = self.stream.as_ref().map_or(0, |s| write_ready(s, bytes));
        self.delivered += taken as u64;
        self.pending = bytes[taken..].to_vec();
    }

    fn send_head(&mut self, outparam: ResponseOutparam) {
        if let Some(response) = self.response.take() {
            outparam.set(response);
        }
    }

    /// Writes the pending bytes, waiting for the client as needed; `false` once the
    /// client has gone away.
    fn write_all(&mut self) -> bool {
        let Some(stream) = self.stream.as_ref() else {
            return false;
        };
        let ok = write_blocking(stream, &self.pending);
        if ok {
            self.delivered += self.pending.len() as u64;
        }
        self.pending.clear();
        ok
    }

    /// Moves the rest of `source` into the body inside the platform (`wasi:io`
    /// splice), up to 1 MiB per call, until the source ends, fails, or the client goes
    /// away. `Some(true)`: the source ended and everything was handed over;
    /// `Some(false)`: the client went away; `None`: the source failed (the body is
    /// incomplete).
    fn splice_all(&mut self, source: &wasi::io::streams::InputStream) -> Option<bool> {
        let Some(stream) = self.stream.as_ref() else {
            return Some(false);
        };
        loop {
            match stream.blocking_splice(source, 1 << 20) {
                Ok(0) => source.subscribe().block(),
                Ok(moved) => self.delivered += moved,
                // The source ended, or the client went away: a closed client stream
                // refuses the next write check.
                Err(StreamError::Closed) => {
                    return Some(stream.blocking_flush().is_ok() && stream.check_write().is_ok());
                }
                // A stream failed: the upstream (or the client's connection) broke.
                Err(StreamError::LastOperationFailed(_)) => return None,
            }
        }
    }

    /// Ends the response without finishing its body, so the platform aborts it: a
    /// chunked answer then lacks its terminating chunk and a sized one its tail, and
    /// the client sees a cut download instead of a complete-looking one.
    fn abort(mut self) {
        drop(self.stream.take());
        drop(self.body.take());
    }

    /// Finishes the body; the bytes delivered when the platform accepted the end.
    fn finish(mut self) -> Option<u64> {
        drop(self.stream.take());
        let body = self.body.take()?;
        // The client may have gone away; then the answer did not complete.
        wasi_http::OutgoingBody::finish(body, None)
            .ok()
            .map(|()| self.delivered)
    }
}

/// Writes as much of `bytes` as `stream` accepts without blocking; returns how much.
/// WASI HTTP hosts buffer a body's first chunks before anyone reads them.
fn write_ready(stream: &wasi::io::streams::OutputStream, bytes: &[u8]) -> usize {
    let mut written = 0;
    while written < bytes.len() {
        let budget = match stream.check_write() {
            Ok(0) | Err(_) => break,
            Ok(budget) => usize::try_from(budget).unwrap_or(usize::MAX),
        };
        let end = written + budget.min(bytes.len() - written);
        if stream.write(&bytes[written..end]).is_err() {
            break;
        }
        written = end;
    }
    if written > 0 {
        let _ = stream.flush();
    }
    written
}

/// Writes all of `bytes`, waiting for room; `false` when the stream is closed.
fn write_blocking(stream: &wasi::io::streams::OutputStream, bytes: &[u8]) -> bool {
    let mut written = 0;
    while written < bytes.len() {
        let budget = match stream.check_write() {
            Err(_) => return false,
            Ok(0) => {
                stream.subscribe().block();
                continue;
            }
            Ok(budget) => usize::try_from(budget).unwrap_or(usize::MAX),
        };
        let end = written + budget.min(bytes.len() - written);
        if stream.write(&bytes[written..end]).is_err() {
            return false;
        }
        written = end;
    }
    // Wait until the platform has taken everything.
    if stream.flush().is_err() {
        return false;
    }
    loop {
        match stream.check_write() {
            Err(_) => return false,
            Ok(0) => stream.subscribe().block(),
            Ok(_) => return true,
        }
    }
}

/// Outbound HTTP through `wasi:http/outgoing-handler`, blocking, with the request's
/// timeouts passed as `request-options` (spin-sdk's `send` passes none).
#[derive(Debug, Default, Clone, Copy)]
pub struct SpinHttp;

/// Splits an absolute http(s) URL into scheme, authority and path-with-query. URLs with
/// user info (`http://good@evil/`) are refused outright.
fn split_url(url: &str) -> Result<(wasi_http::Scheme, String, String), HttpError> {
    let (scheme, rest) = url.split_once("://").ok_or(HttpError::InvalidUrl)?;
    let scheme = match scheme.to_ascii_lowercase().as_str() {
        "http" => wasi_http::Scheme::Http,
        "https" => wasi_http::Scheme::Https,
        _ => return Err(HttpError::InvalidUrl),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.is_empty() || authority.contains('@') {
        return Err(HttpError::InvalidUrl);
    }
    let mut path = rest[end..].split('#').next().unwrap_or("").to_owned();
    if path.is_empty() || path.starts_with('?') {
        path.insert(0, '/');
    }
    Ok((scheme, authority.to_owned(), path))
}

fn error_code(code: &wasi_http::ErrorCode) -> HttpError {
    use wasi_http::ErrorCode as E;
    match code {
        E::DnsTimeout | E::DnsError(_) => HttpError::Dns,
        E::DestinationNotFound => HttpError::Dns,
        E::HttpRequestDenied | E::DestinationIpProhibited | E::DestinationIpUnroutable => {
            HttpError::Denied
        }
        E::ConnectionTimeout
        | E::ConnectionReadTimeout
        | E::ConnectionWriteTimeout
        | E::HttpResponseTimeout => HttpError::Timeout,
        E::ConnectionRefused | E::ConnectionTerminated | E::ConnectionLimitReached => {
            HttpError::Connection
        }
        E::HttpRequestUriInvalid => HttpError::InvalidUrl,
        other => HttpError::Other(format!("{other:?}")),
    }
}

impl HttpClient for SpinHttp {
    fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, HttpError> {
        let (scheme, authority, path) = split_url(&request.url)?;
        let mut headers: Vec<(String, Vec<u8>)> = request
            .headers
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase(), value.clone().into_bytes()))
            .collect();
        if !request.body.is_empty() {
            // A known length, not chunked encoding: some RPC nodes and origins refuse chunked.
            headers.push((
                "content-length".into(),
                request.body.len().to_string().into_bytes(),
            ));
        }
        let fields =
            wasi_http::Fields::from_list(&headers).map_err(|_| HttpError::InvalidRequest)?;
        let outgoing = wasi_http::OutgoingRequest::new(fields);
        let method = match request.method.as_str() {
            "GET" => wasi_http::Method::Get,
            "POST" => wasi_http::Method::Post,
            "HEAD" => wasi_http::Method::Head,
            "PUT" => wasi_http::Method::Put,
            "DELETE" => wasi_http::Method::Delete,
            other => wasi_http::Method::Other(other.to_owned()),
        };
        let invalid = |_| HttpError::InvalidUrl;
        outgoing
            .set_method(&method)
            .map_err(|_| HttpError::InvalidRequest)?;
        outgoing.set_scheme(Some(&scheme)).map_err(invalid)?;
        outgoing.set_authority(Some(&authority)).map_err(invalid)?;
        outgoing.set_path_with_query(Some(&path)).map_err(invalid)?;
        let options = wasi_http::RequestOptions::new();
        let nanos = u64::try_from(request.timeout.as_nanos()).unwrap_or(u64::MAX);
        // A host may not support every timeout; the others still apply.
        let _ = options.set_connect_timeout(Some(nanos));
        let _ = options.set_first_byte_timeout(Some(nanos));
        let _ = options.set_between_bytes_timeout(Some(nanos));
        let unavailable = |_| HttpError::Other("request body unavailable".into());
        // A request without a body gets none at all (no empty chunked body on a GET or
        // DELETE). A body is written before the request is handed over, as far as the
        // platform buffers it, so head and body leave in one write (see
        // `write_response` for why that matters on Spin).
        let mut rest = None;
        if !request.body.is_empty() {
            let body = outgoing.body().map_err(unavailable)?;
            let stream = body.write().map_err(unavailable)?;
            let taken = write_ready(&stream, &request.body);
            if taken == request.body.len() {
                drop(stream);
                wasi_http::OutgoingBody::finish(body, None).map_err(|code| error_code(&code))?;
            } else {
                rest = Some((body, stream, taken));
            }
        }
        let pending =
            outgoing_handler::handle(outgoing, Some(options)).map_err(|code| error_code(&code))?;
        if let Some((body, stream, taken)) = rest {
            if !write_blocking(&stream, &request.body[taken..]) {
                return Err(HttpError::Connection);
            }
            drop(stream);
            wasi_http::OutgoingBody::finish(body, None).map_err(|code| error_code(&code))?;
        }
        pending.subscribe().block();
        let response = match pending.get() {
            Some(Ok(Ok(response))) => response,
            Some(Ok(Err(code))) => return Err(error_code(&code)),
            _ => return Err(HttpError::Connection),
        };
        let status = response.status();
        let headers = header_pairs(&response.headers());
        let incoming = response
            .consume()
            .map_err(|_| HttpError::Other("response body unavailable".into()))?;
        let stream = incoming
            .stream()
            .map_err(|_| HttpError::Other("response body unavailable".into()))?;
        Ok(OutboundResponse {
            status,
            headers,
            body: Box::new(SpinBody {
                stream,
                _body: incoming,
                _response: response,
            }),
        })
    }
}

/// A response body being read. Field order is drop order: the stream, then the body,
/// then the response (child resources must go first).
struct SpinBody {
    stream: wasi::io::streams::InputStream,
    _body: wasi_http::IncomingBody,
    _response: wasi_http::IncomingResponse,
}

impl BodyStream for SpinBody {
    fn platform_stream(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }

    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, HttpError> {
        loop {
            match self.stream.blocking_read(64 * 1024) {
                Ok(bytes) if bytes.is_empty() => continue,
                Ok(bytes) => return Ok(Some(bytes)),
                Err(StreamError::Closed) => return Ok(None),
                Err(StreamError::LastOperationFailed(_)) => return Err(HttpError::Connection),
            }
        }
    }
}
