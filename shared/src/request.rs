//! The request model every endpoint function receives, and parameter extraction with
//! the reference's rules (spec §1.4).

use serde_json::{Map, Value};

/// An HTTP request as the endpoint functions see it, independent of the platform.
#[derive(Debug, Clone, Default)]
pub struct ApiRequest {
    /// Upper-case method name (`GET`, `POST`, ...).
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// The raw query string, without `?` (empty when there is none).
    pub query: String,
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, String)>,
    /// The body bytes (empty for body-less requests).
    pub body: Vec<u8>,
}

impl ApiRequest {
    /// A request without headers or body (tests, internal calls).
    pub fn new(method: &str, path_and_query: &str) -> Self {
        let (path, query) = match path_and_query.split_once('?') {
            Some((path, query)) => (path, query),
            None => (path_and_query, ""),
        };
        Self {
            method: method.to_ascii_uppercase(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header (builder style).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// Sets the body (builder style).
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Decoded query parameters, in order (a repeated name keeps its first value in
    /// [`Params`], like Flask's `request.args`).
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        parse_query(&self.query)
    }

    /// The request parameters as the reference reads them: if the URL has any query
    /// parameter, the query is the whole input (all values are strings) and the body
    /// is ignored; otherwise a JSON object body. A malformed or non-object body gives
    /// no parameters.
    pub fn params(&self) -> Params {
        let pairs = self.query_pairs();
        if !pairs.is_empty() {
            let mut map = Map::new();
            for (name, value) in pairs {
                map.entry(name).or_insert(Value::String(value));
            }
            return Params(map);
        }
        match serde_json::from_slice::<Value>(&self.body) {
            Ok(Value::Object(map)) => Params(map),
            _ => Params(Map::new()),
        }
    }
}

/// Request parameters: a JSON object whose values keep their JSON types (query values
/// are strings).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params(pub Map<String, Value>);

impl Params {
    /// The raw value of a parameter. Dotted names (`dataset.documentId`) look into
    /// nested objects, as the reference's validator does.
    pub fn get(&self, name: &str) -> Option<&Value> {
        let mut parts = name.split('.');
        let first = parts.next()?;
        let mut value = self.0.get(first)?;
        for part in parts {
            value = value.as_object()?.get(part)?;
        }
        Some(value)
    }

    /// Whether the parameter is present and "filled" in the reference's sense: not
    /// null, not `""`, not `[]`, not `{}` (`0` and `false` count as present).
    pub fn is_filled(&self, name: &str) -> bool {
        match self.get(name) {
            None | Some(Value::Null) => false,
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::Object(o)) => !o.is_empty(),
            Some(_) => true,
        }
    }

    /// Checks that every field is filled; otherwise one validation error listing each
    /// missing field with the reference's "required" message.
    pub fn require(&self, fields: &[&str]) -> crate::Result<()> {
        let missing: Vec<(String, crate::error::FieldMessage)> = fields
            .iter()
            .filter(|field| !self.is_filled(field))
            .map(|field| {
                let message = format!("The {field} field is required.");
                (
                    (*field).to_owned(),
                    crate::error::FieldMessage::List(vec![message]),
                )
            })
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(crate::ProviderError::Validation(missing))
        }
    }

    /// The parameter rendered as Python's `str()` renders it, which is what signed
    /// messages are built from (spec §2.2); `None` when absent or null.
    pub fn text(&self, name: &str) -> Option<String> {
        match self.get(name) {
            None | Some(Value::Null) => None,
            Some(value) => Some(python_str(value)),
        }
    }

    /// The parameter as text when filled, otherwise `None`.
    pub fn filled_text(&self, name: &str) -> Option<String> {
        if self.is_filled(name) {
            self.text(name)
        } else {
            None
        }
    }
}

/// Renders a JSON value the way Python's `str()` renders the value `json.loads` gives:
/// strings verbatim, integers as digits, floats in Python's shortest `repr` (`2.5`,
/// `1700000000000.0`, `1e+16`), booleans as `True`/`False`, null as `None`.
pub fn python_str(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        Value::Number(number) => {
            // With `arbitrary_precision` the number keeps its original text.
            let text = number.to_string();
            let is_integer = !text.contains(['.', 'e', 'E']);
            if is_integer {
                normalize_integer_text(&text)
            } else {
                match text.parse::<f64>() {
                    Ok(float) => python_float_repr(float),
                    Err(_) => text,
                }
            }
        }
        other => other.to_string(),
    }
}

fn normalize_integer_text(text: &str) -> String {
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text),
    };
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        "0".into()
    } else {
        format!("{sign}{digits}")
    }
}

/// Python's `repr(float)`: the shortest round-trip digits, fixed notation when the
/// decimal exponent is in `-4..16` (always with a fractional part), scientific
/// otherwise with a signed, at least two-digit exponent.
pub fn python_float_repr(value: f64) -> String {
    if value.is_nan() {
        return "nan".into();
    }
    if value.is_infinite() {
        return if value > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    if value == 0.0 {
        return if value.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits, e.g. "1.7e12", "-2.5e-5".
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .unwrap_or((scientific.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exponent) {
        let point = exponent + 1; // digits before the decimal point
        if point <= 0 {
            let zeros = "0".repeat(usize::try_from(-point).unwrap_or(0));
            format!("{sign}0.{zeros}{digits}")
        } else {
            let point = usize::try_from(point).unwrap_or(0);
            if digits.len() <= point {
                let zeros = "0".repeat(point - digits.len());
                format!("{sign}{digits}{zeros}.0")
            } else {
                format!("{sign}{}.{}", &digits[..point], &digits[point..])
            }
        }
    } else {
        let mantissa = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits
        };
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        format!("{sign}{mantissa}e{exp_sign}{:02}", exponent.abs())
    }
}

/// The media type of a `Content-Type` value, without parameters, lowercase.
pub fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Percent-encodes a query component (everything but unreserved characters).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The first value of a header in a list of (name, value) pairs, by case-insensitive
/// name.
pub fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(existing, _)| existing.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.as_str())
}

/// Parses an `application/x-www-form-urlencoded` query string.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| match part.split_once('=') {
            Some((name, value)) => (percent_decode(name), percent_decode(value)),
            None => (percent_decode(part), String::new()),
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match (hex_value(bytes[i + 1]), hex_value(bytes[i + 2])) {
                    (Some(high), Some(low)) => {
                        out.push(high << 4 | low);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_str_of_json_numbers_matches_python() {
        let cases = [
            ("8996", "8996"),
            ("2.5", "2.5"),
            ("1.7e12", "1700000000000.0"),
            ("1700000000000.0", "1700000000000.0"),
            ("1e16", "1e+16"),
            ("1.5e16", "1.5e+16"),
            ("0.0001", "0.0001"),
            ("0.00001", "1e-05"),
            ("1700000000.123", "1700000000.123"),
            ("123.0", "123.0"),
            ("-0.5", "-0.5"),
            ("1234567890123456789", "1234567890123456789"),
        ];
        for (json_text, expected) in cases {
            let value: Value = serde_json::from_str(json_text).unwrap();
            assert_eq!(python_str(&value), expected, "for {json_text}");
        }
    }

    #[test]
    fn python_str_of_other_values() {
        assert_eq!(python_str(&json!("0xAbC")), "0xAbC");
        assert_eq!(python_str(&json!(true)), "True");
        assert_eq!(python_str(&Value::Null), "None");
    }

    #[test]
    fn query_parameters_override_the_json_body() {
        let req = ApiRequest::new("GET", "/x?a=1&b=%41+b&a=2").with_body(r#"{"a": 5, "c": 6}"#);
        let params = req.params();
        assert_eq!(params.get("a"), Some(&json!("1")));
        assert_eq!(params.get("b"), Some(&json!("A b")));
        assert_eq!(params.get("c"), None);
    }

    #[test]
    fn json_body_keeps_types_and_dotted_names_look_inside() {
        let req = ApiRequest::new("POST", "/x")
            .with_body(r#"{"chainId": 8996, "dataset": {"documentId": "did:op:1"}}"#);
        let params = req.params();
        assert_eq!(params.text("chainId").as_deref(), Some("8996"));
        assert_eq!(
            params.text("dataset.documentId").as_deref(),
            Some("did:op:1")
        );
        assert!(!params.is_filled("dataset.serviceId"));
    }

    #[test]
    fn malformed_bodies_give_no_parameters() {
        for body in ["{not json", "[1,2]", "\"str\"", ""] {
            let req = ApiRequest::new("POST", "/x").with_body(body);
            assert!(req.params().0.is_empty(), "{body}");
        }
    }

    #[test]
    fn filled_follows_the_reference_required_rule() {
        let req = ApiRequest::new("POST", "/x")
            .with_body(r#"{"a": "", "b": 0, "c": false, "d": [], "e": {}, "f": null}"#);
        let params = req.params();
        assert!(!params.is_filled("a"));
        assert!(params.is_filled("b"));
        assert!(params.is_filled("c"));
        assert!(!params.is_filled("d"));
        assert!(!params.is_filled("e"));
        assert!(!params.is_filled("f"));
    }

    #[test]
    fn percent_decoding_handles_truncated_escapes() {
        assert_eq!(parse_query("a=%4"), vec![("a".into(), "%4".into())]);
        assert_eq!(parse_query("a=%"), vec![("a".into(), "%".into())]);
        assert_eq!(parse_query("a=%zz"), vec![("a".into(), "%zz".into())]);
        assert_eq!(parse_query("k"), vec![("k".into(), String::new())]);
    }
}
