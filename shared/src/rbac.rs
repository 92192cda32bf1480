//! Role-based access (`rbac_server_url`, the reference's `RBAC_SERVER_URL`, spec §8.5):
//! before it quotes, streams or runs anything, the provider asks an external server
//! whether the caller may, with the reference's request:
//!
//! ```text
//! POST <rbac_server_url>
//! {"eventType": "initialize" | "access" | "compute", "component": "provider",
//!  "providerAddress": <universal key's address>,
//!  "providerAccess": "private" (private_provider set) | "public",
//!  "credentials": {"type": "address", "value": <the caller>},
//!  "signature": <universal key, sign_message(eventType + json.dumps(credentials) [+ compute parts])>,
//!  "dids": [{"did", "serviceId"}], "algos"?: [...], "additionalDids"?: [...]}
//! ```
//!
//! A falsy JSON answer denies. Differences, on purpose: a denial is a 403 JSON error
//! (the reference answered 503), an unreachable or broken RBAC server a 503 that does
//! not name it, and the check runs after the caller's signature is verified, so an
//! unauthenticated request cannot make the provider call the RBAC server. Off when
//! `rbac_server_url` is unset.

use serde_json::{Value, json};

use crate::address::{Address, checksum};
use crate::outbound::OutboundRequest;
use crate::ports::Platform;
use crate::signature::sign_message;
use crate::{ProviderError, Result};

/// What the caller wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A quote (`initialize`).
    Initialize,
    /// A download.
    Access,
    /// Starting, stopping or deleting a compute job.
    Compute,
}

impl Event {
    fn name(self) -> &'static str {
        match self {
            Self::Initialize => "initialize",
            Self::Access => "access",
            Self::Compute => "compute",
        }
    }
}

/// The assets a request touches: `dids` (the main ones), and for compute the
/// algorithms and additional datasets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Subject {
    /// `[{"did", "serviceId"}]`.
    pub dids: Vec<Value>,
    /// Compute only: the algorithm(s).
    pub algos: Option<Vec<Value>>,
    /// Compute only: the datasets after the first.
    pub additional_dids: Option<Vec<Value>>,
}

/// `{"did", "serviceId"}` as the reference builds it.
pub fn did_entry(did: &str, service_id: &str) -> Value {
    json!({"did": did, "serviceId": service_id})
}

/// Python's `json.dumps` with its defaults (`", "` and `": "`, ASCII only), which the
/// reference signs.
pub fn python_dumps(value: &Value) -> String {
    let mut out = String::new();
    write_python(value, &mut out);
    out
}

fn write_python(value: &Value, out: &mut String) {
    match value {
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_python(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_string(key, out);
                out.push_str(": ");
                write_python(item, out);
            }
            out.push('}');
        }
        Value::String(text) => write_string(text, out),
        other => out.push_str(&other.to_string()),
    }
}

fn write_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The request body the RBAC server gets (exposed for tests).
pub fn request_body(
    platform: &Platform<'_>,
    event: Event,
    caller: &Address,
    subject: &Subject,
) -> Result<Value> {
    let key = platform.settings.universal_key()?;
    let credentials = json!({"type": "address", "value": checksum(caller)});
    let mut message = format!("{}{}", event.name(), python_dumps(&credentials));
    if event == Event::Compute {
        message.push_str(&python_dumps(&Value::Array(subject.dids.clone())));
        message.push_str(&python_dumps(&Value::Array(
            subject.algos.clone().unwrap_or_default(),
        )));
        message.push_str(&python_dumps(&Value::Array(
            subject.additional_dids.clone().unwrap_or_default(),
        )));
    }
    let signature = sign_message(key.signing_key(), &message)
        .map(|s| s.to_hex_v01())
        .map_err(|_| ProviderError::Upstream("The RBAC request could not be signed.".into()))?;
    let access = if platform.settings.private_provider()? {
        "private"
    } else {
        "public"
    };
    let mut body = json!({
        "eventType": event.name(),
        "component": "provider",
        "providerAddress": checksum(&key.address()),
        "providerAccess": access,
        "credentials": credentials,
        "signature": signature,
        "dids": subject.dids,
    });
    if let Some(algos) = &subject.algos {
        body["algos"] = json!(algos);
    }
    if let Some(more) = &subject.additional_dids {
        body["additionalDids"] = json!(more);
    }
    Ok(body)
}

/// Asks the RBAC server (when one is configured) whether `caller` may do `event` on
/// `subject`: `Ok` when allowed or when RBAC is off, 403 when denied, 503 when the
/// server cannot be asked.
pub fn check(
    platform: &Platform<'_>,
    event: Event,
    caller: &Address,
    subject: &Subject,
) -> Result<()> {
    let Some(url) = platform.settings.rbac_server_url()? else {
        return Ok(());
    };
    let body = request_body(platform, event, caller, subject)?;
    let unavailable = || ProviderError::Upstream("The RBAC server is unavailable.".into());
    let request = OutboundRequest::new("POST", &url, platform.settings.request_timeout()?)
        .header("content-type", "application/json")
        .body(body.to_string().into_bytes());
    let response = platform.http.send(request).map_err(|_| unavailable())?;
    let status = response.status;
    let answer = response.read_body(64 * 1024).map_err(|_| unavailable())?;
    if !(200..300).contains(&status) {
        return Err(unavailable());
    }
    let verdict: Value = serde_json::from_slice(&answer).map_err(|_| unavailable())?;
    let allowed = match &verdict {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    };
    if allowed {
        Ok(())
    } else {
        Err(ProviderError::Forbidden(format!(
            "Access denied by the role-based access server for {}.",
            event.name()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::{CONSUMER, FakePlatform, PROVIDER_KEY};
    use crate::signature::recover_message_signer;

    fn platform(extra: &[(&str, &str)]) -> FakePlatform {
        let mut vars = vec![
            ("provider_private_key", PROVIDER_KEY),
            ("rbac_server_url", "https://rbac.example/permissions"),
        ];
        vars.extend_from_slice(extra);
        FakePlatform::new(&vars)
    }

    fn consumer() -> Address {
        crate::address::parse_address(CONSUMER).unwrap()
    }

    #[test]
    fn python_dumps_matches_json_dumps_defaults() {
        let value =
            json!({"type": "address", "value": "0xAb", "n": [1, 2.5, true, null], "u": "é\"\n"});
        assert_eq!(
            python_dumps(&value),
            r#"{"n": [1, 2.5, true, null], "type": "address", "u": "\u00e9\"\n", "value": "0xAb"}"#
        );
    }

    #[test]
    fn the_request_is_the_references_and_its_signature_recovers_to_the_provider() {
        let fake = platform(&[("private_provider", "true")]);
        let p = fake.ports();
        let subject = Subject {
            dids: vec![did_entry("did:op:1", "svc")],
            algos: Some(vec![did_entry("did:op:2", "algo")]),
            additional_dids: Some(vec![]),
        };
        let body = request_body(&p, Event::Compute, &consumer(), &subject).unwrap();
        assert_eq!(body["eventType"], "compute");
        assert_eq!(body["providerAccess"], "private");
        assert_eq!(
            body["credentials"],
            json!({"type": "address", "value": CONSUMER})
        );
        let message = format!(
            "compute{{\"type\": \"address\", \"value\": \"{CONSUMER}\"}}[{{\"did\": \"did:op:1\", \"serviceId\": \"svc\"}}][{{\"did\": \"did:op:2\", \"serviceId\": \"algo\"}}][]"
        );
        let signer = recover_message_signer(&message, body["signature"].as_str().unwrap()).unwrap();
        assert_eq!(checksum(&signer), body["providerAddress"].as_str().unwrap());
    }

    #[test]
    fn allow_deny_and_outage() {
        let fake = platform(&[]);
        let p = fake.ports();
        let subject = Subject {
            dids: vec![did_entry("did:op:1", "svc")],
            ..Subject::default()
        };
        for (answer, allowed) in [
            ("true", true),
            ("{\"ok\": 1}", true),
            ("false", false),
            ("null", false),
            ("0", false),
            ("\"\"", false),
        ] {
            fake.http
                .answer(move |_| Ok((200, vec![], answer.as_bytes().to_vec())));
            let result = check(&p, Event::Access, &consumer(), &subject);
            assert_eq!(result.is_ok(), allowed, "{answer}");
            if let Err(err) = result {
                assert_eq!(err.status(), 403);
            }
        }
        fake.http
            .answer(|_| Ok((500, vec![], b"boom at https://rbac.example".to_vec())));
        let err = check(&p, Event::Access, &consumer(), &subject).unwrap_err();
        assert_eq!(err.status(), 503);
        assert!(!err.body().to_string().contains("rbac.example"));
        // Off when unset: no request at all.
        let off = FakePlatform::new(&[("provider_private_key", PROVIDER_KEY)]);
        assert!(check(&off.ports(), Event::Access, &consumer(), &subject).is_ok());
        assert_eq!(off.http.count(), 0);
    }
}
