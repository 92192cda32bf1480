//! The response every endpoint function returns, independent of the platform.

use serde_json::Value;

use crate::outbound::BodyStream;

/// What an endpoint that may stream answers with.
pub enum Reply {
    /// A complete response.
    Full(ApiResponse),
    /// Status and headers now, the body passed through as it arrives.
    Stream {
        /// Status code.
        status: u16,
        /// Header names (lowercase) and values.
        headers: Vec<(String, String)>,
        /// The body, read chunk by chunk and written straight out.
        body: Box<dyn BodyStream>,
        /// Work for after the whole body has been handed to the client (never run for
        /// a cut or abandoned answer).
        after: Option<AfterDelivery>,
    },
}

/// Work done once a streamed answer has been delivered in full: it runs after the
/// body is finished, so the client already has its complete answer and nothing here
/// can fail or delay it. It is given the number of body bytes delivered.
pub struct AfterDelivery(Box<AfterWork>);

/// The work of an [`AfterDelivery`]: given the platform and the bytes delivered.
type AfterWork = dyn FnOnce(&crate::ports::Platform<'_>, u64);

impl AfterDelivery {
    /// Wraps the work.
    pub fn new(work: impl FnOnce(&crate::ports::Platform<'_>, u64) + 'static) -> Self {
        Self(Box::new(work))
    }

    /// Runs it.
    pub fn run(self, platform: &crate::ports::Platform<'_>, delivered: u64) {
        (self.0)(platform, delivered);
    }
}

impl std::fmt::Debug for AfterDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AfterDelivery(..)")
    }
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Full(response) => f.debug_tuple("Full").field(response).finish(),
            Self::Stream {
                status,
                headers,
                after,
                ..
            } => f
                .debug_struct("Stream")
                .field("status", status)
                .field("headers", headers)
                .field("after", after)
                .finish_non_exhaustive(),
        }
    }
}

/// An HTTP response with a fully buffered body (small JSON and text answers; file
/// streaming uses the platform's streaming path instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    /// HTTP status code.
    pub status: u16,
    /// Header names (lowercase) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl ApiResponse {
    /// A JSON response. Keys come out sorted (serde_json's default map), like Flask's
    /// `jsonify`, so responses are byte-stable.
    pub fn json(status: u16, value: &Value) -> Self {
        let mut body = value.to_string().into_bytes();
        body.push(b'\n');
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body,
        }
    }

    /// A JSON response whose body text is already rendered (used where a number must
    /// keep its exact decimal text).
    pub fn raw_json(status: u16, text: String) -> Self {
        let mut body = text.into_bytes();
        body.push(b'\n');
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body,
        }
    }

    /// A `text/plain` response.
    pub fn text(status: u16, text: impl Into<String>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: text.into().into_bytes(),
        }
    }

    /// A response with raw bytes and a content type.
    pub fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body,
        }
    }

    /// An empty response.
    pub fn empty(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds or replaces a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        let name = name.to_ascii_lowercase();
        self.headers.retain(|(existing, _)| *existing != name);
        self.headers.push((name, value.into()));
        self
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::request::find_header(&self.headers, name)
    }

    /// The body parsed as JSON (tests and diagnostics).
    pub fn body_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}
