//! The one error type of the provider and its one mapping to an HTTP response.
//!
//! Envelope shapes are the Python Provider's, because clients read them:
//! `{"error": "..."}` for explicit rejections and
//! `{"errors": {field: [msg]}, "message": "Validation error", "success": false}` for
//! validation failures. Unlike the reference, bad input is always a 4xx (never a 503),
//! and a 503 only ever means an upstream really failed; its message names the service,
//! never a URL or a key.

use std::fmt;

use serde_json::{Map, Value, json};

use crate::response::ApiResponse;

/// The message attached to one field of a validation error.
///
/// The reference sends a list of messages per field, except for signature
/// verification failures, which it sends as a bare string; clients print either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldMessage {
    /// One or more messages, rendered as a JSON list.
    List(Vec<String>),
    /// A single message rendered as a JSON string (signature failures).
    Text(String),
}

/// Every way a provider request can fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderError {
    /// Request parameters broke a validation rule: 400 with the validation envelope.
    /// Fields keep the order in which their rules were evaluated.
    Validation(Vec<(String, FieldMessage)>),
    /// The request is well formed but was rejected: 400 `{"error": ...}`.
    BadRequest(String),
    /// A compute validator refusal: 400 `{"error": {<resource>: <code>}}`.
    Structured(Value),
    /// The caller could not be authenticated for this action: 401 `{"error": ...}`.
    Unauthorized(String),
    /// The caller is known but not allowed, or the asset forbids it: 403.
    Forbidden(String),
    /// No such route or resource: 404.
    NotFound(String),
    /// The route exists but not for this method: 405.
    MethodNotAllowed,
    /// The request body is larger than the configured limit: 413.
    PayloadTooLarge(String),
    /// The file origin refused the client's `Range`: 416 (without the origin's body).
    RangeNotSatisfiable(String),
    /// An upstream (chain RPC, metadata cache, operator service, file origin, key-value
    /// store) failed. 503. The text must already be free of URLs and secrets; it is
    /// scrubbed once more on the way out.
    Upstream(String),
    /// The provider itself is misconfigured: 500 naming the variable at fault.
    Config {
        /// The Spin variable that is missing or invalid.
        variable: String,
        /// What is wrong with it (never its value: it may be a secret).
        problem: String,
    },
}

impl ProviderError {
    /// A validation error on a single field with a single message.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![(
            field.to_owned(),
            FieldMessage::List(vec![message.into()]),
        )])
    }

    /// A signature failure: the reference reports these as a bare string under `signature`.
    pub fn signature(message: impl Into<String>) -> Self {
        Self::Validation(vec![(
            "signature".to_owned(),
            FieldMessage::Text(message.into()),
        )])
    }

    /// A configuration error naming the variable.
    pub fn config(variable: &str, problem: impl Into<String>) -> Self {
        Self::Config {
            variable: variable.to_owned(),
            problem: problem.into(),
        }
    }

    /// The same error with `prefix` before its message (`"Provider Ganache: the file
    /// origin: "`), for errors raised where the caller's context is not known.
    /// Validation, structured and configuration errors are returned unchanged.
    pub fn context(self, prefix: &str) -> Self {
        match self {
            Self::BadRequest(m) => Self::BadRequest(format!("{prefix}{m}")),
            Self::Unauthorized(m) => Self::Unauthorized(format!("{prefix}{m}")),
            Self::Forbidden(m) => Self::Forbidden(format!("{prefix}{m}")),
            Self::NotFound(m) => Self::NotFound(format!("{prefix}{m}")),
            Self::PayloadTooLarge(m) => Self::PayloadTooLarge(format!("{prefix}{m}")),
            Self::RangeNotSatisfiable(m) => Self::RangeNotSatisfiable(format!("{prefix}{m}")),
            Self::Upstream(m) => Self::Upstream(format!("{prefix}{m}")),
            other => other,
        }
    }

    /// The error as the Ocean Node dialect reports it: always `{"error": "<text>"}`.
    /// A validation error becomes a 400 whose text names each field; a signature or
    /// nonce refusal (v2 reports those under `errors.signature`) becomes a 401.
    pub fn in_node_dialect(self) -> Self {
        match self {
            Self::Validation(fields) => {
                let signature_only =
                    matches!(fields.as_slice(), [(f, FieldMessage::Text(_))] if f == "signature");
                let text = fields
                    .iter()
                    .map(|(field, message)| match message {
                        FieldMessage::Text(text) if field == "signature" => text.clone(),
                        FieldMessage::Text(text) => format!("{field}: {text}"),
                        FieldMessage::List(items) => format!("{field}: {}", items.join(" ")),
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                if signature_only {
                    Self::Unauthorized(text)
                } else {
                    Self::BadRequest(text)
                }
            }
            other => other,
        }
    }

    /// The HTTP status this error maps to.
    pub fn status(&self) -> u16 {
        match self {
            Self::Validation(_) | Self::BadRequest(_) | Self::Structured(_) => 400,
            Self::Unauthorized(_) => 401,
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::MethodNotAllowed => 405,
            Self::PayloadTooLarge(_) => 413,
            Self::RangeNotSatisfiable(_) => 416,
            Self::Config { .. } => 500,
            Self::Upstream(_) => 503,
        }
    }

    /// The JSON envelope of this error.
    pub fn body(&self) -> Value {
        match self {
            Self::Validation(fields) => {
                let mut errors = Map::new();
                for (field, message) in fields {
                    let value = match message {
                        FieldMessage::List(items) => json!(items),
                        FieldMessage::Text(text) => json!(text),
                    };
                    errors.insert(field.clone(), value);
                }
                json!({"errors": errors, "message": "Validation error", "success": false})
            }
            Self::MethodNotAllowed => json!({"error": "Method Not Allowed"}),
            Self::Structured(value) => json!({"error": value}),
            other => json!({"error": strip_urls(&other.to_string())}),
        }
    }

    /// The complete HTTP response for this error.
    pub fn to_response(&self) -> ApiResponse {
        ApiResponse::json(self.status(), &self.body())
    }
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Validation(fields) => {
                let names: Vec<&str> = fields.iter().map(|(name, _)| name.as_str()).collect();
                write!(f, "Validation error in {}", names.join(", "))
            }
            Self::BadRequest(m)
            | Self::Unauthorized(m)
            | Self::Forbidden(m)
            | Self::NotFound(m)
            | Self::PayloadTooLarge(m)
            | Self::RangeNotSatisfiable(m)
            | Self::Upstream(m) => f.write_str(m),
            Self::MethodNotAllowed => f.write_str("Method Not Allowed"),
            Self::Structured(value) => write!(f, "{value}"),
            Self::Config { variable, problem } => {
                write!(
                    f,
                    "Provider misconfigured: variable `{variable}`: {problem}"
                )
            }
        }
    }
}

impl std::error::Error for ProviderError {}

/// Replaces every whitespace-separated token that looks like a URL with a marker.
///
/// Defence in depth, as in the reference (provider#287: RPC URLs carrying API keys
/// leaked through error messages). Messages are built without URLs in the first place.
pub fn strip_urls(message: &str) -> String {
    if !message.contains("://") {
        return message.to_owned();
    }
    message
        .split_whitespace()
        .map(|token| {
            if looks_like_url(token) {
                "<URL stripped for security reasons>"
            } else {
                token
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn looks_like_url(token: &str) -> bool {
    let trimmed = token.trim_matches(|c: char| "\"'(),;[]{}<>".contains(c));
    match trimmed.split_once("://") {
        Some((scheme, rest)) => {
            !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                && !rest.is_empty()
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_envelope_matches_the_reference_shape() {
        let err = ProviderError::field("userAddress", "The userAddress field is required.");
        assert_eq!(err.status(), 400);
        assert_eq!(
            err.body(),
            json!({"errors": {"userAddress": ["The userAddress field is required."]},
                   "message": "Validation error", "success": false})
        );
    }

    #[test]
    fn signature_errors_are_bare_strings() {
        let err =
            ProviderError::signature("Invalid signature expected nonce (1) > current nonce (1).");
        assert_eq!(
            err.body()["errors"]["signature"],
            json!("Invalid signature expected nonce (1) > current nonce (1).")
        );
    }

    #[test]
    fn upstream_errors_are_503_and_never_carry_urls() {
        let err = ProviderError::Upstream(
            "chain 1 unreachable at https://mainnet.infura.io/v3/SECRETKEY now".into(),
        );
        assert_eq!(err.status(), 503);
        let text = err.body()["error"].as_str().unwrap_or_default().to_owned();
        assert!(!text.contains("SECRETKEY"), "{text}");
        assert!(text.contains("<URL stripped for security reasons>"));
        assert!(text.starts_with("chain 1 unreachable at"));
    }

    #[test]
    fn config_errors_name_the_variable_but_not_its_value() {
        let err = ProviderError::config("provider_private_key", "not a 32-byte hex key");
        assert_eq!(err.status(), 500);
        assert_eq!(
            err.body()["error"],
            json!("Provider misconfigured: variable `provider_private_key`: not a 32-byte hex key")
        );
    }

    #[test]
    fn method_not_allowed_uses_the_reference_text() {
        assert_eq!(
            ProviderError::MethodNotAllowed.body(),
            json!({"error": "Method Not Allowed"})
        );
        assert_eq!(ProviderError::MethodNotAllowed.status(), 405);
    }
}
