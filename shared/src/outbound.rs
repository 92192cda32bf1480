//! The outbound HTTP port: how the rules reach the chain RPC, the metadata cache, the
//! operator service and file origins.
//!
//! Requests are blocking calls with explicit timeouts (connect, first byte, between
//! bytes), because spin-sdk's own `send` sets none; response bodies are read as a
//! stream of chunks so a caller can stop early or pass them through.

use std::fmt;
use std::time::Duration;

/// An outbound request.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    /// `GET`, `POST`, `HEAD`, ...
    pub method: String,
    /// Absolute `http`/`https` URL.
    pub url: String,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// Body bytes (empty for none).
    pub body: Vec<u8>,
    /// Applied to connecting, to the first response byte and between body bytes.
    pub timeout: Duration,
}

impl OutboundRequest {
    /// A request without headers or body.
    pub fn new(method: &str, url: &str, timeout: Duration) -> Self {
        Self {
            method: method.to_owned(),
            url: url.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
            timeout,
        }
    }

    /// Adds a header (builder style).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body (builder style).
    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }
}

/// Why an outbound request failed. Never carries the URL (it may hold an API key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The platform refused the destination (not in `allowed_outbound_hosts`, or a
    /// non-public address blocked at connect time).
    Denied,
    /// The name did not resolve.
    Dns,
    /// Could not connect, or the connection broke.
    Connection,
    /// A timeout elapsed.
    Timeout,
    /// The URL is not a usable http(s) URL.
    InvalidUrl,
    /// The request cannot be expressed as valid HTTP (a header name or value the
    /// platform refuses). Input that cannot be forwarded, not an upstream failure.
    InvalidRequest,
    /// The body grew beyond what the caller accepts.
    TooLarge,
    /// Anything else, described without the URL.
    Other(String),
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Denied => f.write_str("destination not allowed"),
            Self::Dns => f.write_str("name did not resolve"),
            Self::Connection => f.write_str("connection failed"),
            Self::Timeout => f.write_str("timed out"),
            Self::InvalidUrl => f.write_str("invalid URL"),
            Self::InvalidRequest => f.write_str("invalid request"),
            Self::TooLarge => f.write_str("response too large"),
            Self::Other(text) => f.write_str(text),
        }
    }
}

/// A response body, read chunk by chunk.
pub trait BodyStream {
    /// The next chunk, or `None` at the end.
    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, HttpError>;

    /// The platform's own stream behind this body, when the platform can move the rest
    /// of it to the response itself (`wasi:io` splice: the bytes never enter the
    /// component). `None` (the default) keeps the copy loop.
    fn platform_stream(&self) -> Option<&dyn std::any::Any> {
        None
    }
}

/// An outbound response whose body has not been read yet.
pub struct OutboundResponse {
    /// Status code.
    pub status: u16,
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Box<dyn BodyStream>,
}

impl fmt::Debug for OutboundResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl OutboundResponse {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(existing, _)| existing.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Reads the whole body, refusing more than `limit` bytes.
    pub fn read_body(mut self, limit: usize) -> Result<Vec<u8>, HttpError> {
        let mut body = Vec::new();
        while let Some(chunk) = self.body.next_chunk()? {
            if body.len() + chunk.len() > limit {
                return Err(HttpError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// Sends outbound HTTP requests.
pub trait HttpClient {
    /// Sends `request` and returns once the response head has arrived.
    fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, HttpError>;
}

/// A body already in memory (fakes and tests).
#[derive(Debug)]
pub struct BufferedBody(pub Option<Vec<u8>>);

impl BodyStream for BufferedBody {
    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, HttpError> {
        Ok(self.0.take().filter(|chunk| !chunk.is_empty()))
    }
}
