//! The compute operator service (spec §4.4): the provider never runs jobs itself, it
//! validates, prices and signs, then forwards to the operator over outbound HTTP.
//!
//! Every call carries the provider's signature over `owner + jobId + nonce` (or
//! `owner + nonce` without a job id) with the universal key, `v` as `00`/`01`, and a
//! nanosecond nonce. Failures are 503s that never contain the operator's URL.

use serde_json::Value;

use crate::config::{Chains, ProviderKey};
use crate::outbound::{HttpError, OutboundRequest, OutboundResponse};
use crate::ports::Platform;
use crate::request::{parse_query, percent_encode};
use crate::signature::sign_message;
use crate::{ProviderError, Result};

/// Python's `urljoin(base, "api/v1/operator/<x>")`.
pub fn operator_endpoint(base: &str, path: &str) -> String {
    crate::asset::files::url_join(base, &format!("api/v1/operator/{path}"))
}

/// The provider's signature for an operator call.
pub fn provider_signature(
    key: &ProviderKey,
    owner: &str,
    job_id: Option<&str>,
    nonce: &str,
) -> Result<String> {
    let message = format!("{owner}{}{nonce}", job_id.unwrap_or(""));
    sign_message(key.signing_key(), &message)
        .map(|s| s.to_hex_v01())
        .map_err(|_| ProviderError::Upstream("The operator request could not be signed.".into()))
}

/// A nanosecond nonce (the reference used `time.time_ns()`).
pub fn nanosecond_nonce(platform: &Platform<'_>) -> String {
    platform.clock.now_unix_nanos().to_string()
}

/// Builds `url?k=v&...`.
pub fn with_query(url: &str, pairs: &[(&str, String)]) -> String {
    let query: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect();
    if query.is_empty() {
        url.to_owned()
    } else {
        format!("{url}?{}", query.join("&"))
    }
}

/// The operator client.
pub struct Operator<'a> {
    platform: &'a Platform<'a>,
    base: String,
    timeout: std::time::Duration,
    /// The universal key (signs operator calls; its address is `providerAddress`).
    pub key: ProviderKey,
}

impl std::fmt::Debug for Operator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Operator")
    }
}

impl<'a> Operator<'a> {
    /// The operator of this deployment; `NotFound` when compute is not configured (the
    /// reference answers 404 on every compute route then).
    pub fn configured(platform: &'a Platform<'a>, timeout: std::time::Duration) -> Result<Self> {
        let base = platform.settings.operator_url()?.ok_or_else(|| {
            ProviderError::NotFound(
                "404 Not Found: compute is not enabled on this provider.".into(),
            )
        })?;
        Ok(Self {
            platform,
            base,
            timeout,
            key: platform.settings.universal_key()?,
        })
    }

    fn unavailable(&self, what: &str) -> ProviderError {
        ProviderError::Upstream(format!(
            "The compute operator service is unavailable ({what})."
        ))
    }

    /// Sends a request to `path` with query pairs and an optional JSON body.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<OutboundResponse> {
        self.send_with_headers(method, path, query, body, &[])
    }

    /// [`Operator::send`] with extra request headers (e.g. a client's `Range`).
    pub fn send_with_headers(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<OutboundResponse> {
        let url = with_query(&operator_endpoint(&self.base, path), query);
        let mut request = OutboundRequest::new(method, &url, self.timeout)
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            request = request.body(body.to_string().into_bytes());
        }
        self.platform.http.send(request).map_err(|err| match err {
            // Something of the caller's (a header it wants forwarded) is not valid HTTP.
            HttpError::InvalidRequest => ProviderError::BadRequest(
                "The request cannot be forwarded to the compute operator service.".into(),
            ),
            other => self.unavailable(&other.to_string()),
        })
    }

    /// Sends and reads a JSON-ish answer completely: (status, body bytes).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<(u16, Vec<u8>)> {
        let response = self.send(method, path, query, body)?;
        let status = response.status;
        let bytes = response
            .read_body(16 * 1024 * 1024)
            .map_err(|err| self.unavailable(&err.to_string()))?;
        Ok((status, bytes))
    }

    /// The environments of a chain (`GET environments?chainId=`).
    pub fn environments(&self, chain_id: u64) -> Result<Vec<Value>> {
        let (status, body) = self.call(
            "GET",
            "environments",
            &[("chainId", chain_id.to_string())],
            None,
        )?;
        let failed = || {
            ProviderError::Upstream(format!(
                "Compute envs could not be retrieved for chainId {chain_id}, check configuration."
            ))
        };
        if !(200..400).contains(&status) {
            return Err(failed());
        }
        match serde_json::from_slice::<Value>(&body).map_err(|_| failed())? {
            Value::Array(items) => Ok(items),
            _ => Err(failed()),
        }
    }

    /// The environment with this id, and the chain it serves.
    pub fn find_environment(&self, chains: &Chains, env_id: &str) -> Result<(Value, u64)> {
        for chain in chains.iter() {
            if let Some(env) = self
                .environments(chain.id)?
                .into_iter()
                .find(|e| e["id"].as_str() == Some(env_id))
            {
                return Ok((env, chain.id));
            }
        }
        Err(ProviderError::BadRequest(
            "Compute environment does not exist".into(),
        ))
    }

    /// The query of status/stop/delete calls: [`Self::signed_query`] and the job
    /// selectors given.
    pub fn job_query(
        &self,
        owner: &str,
        job_id: Option<&str>,
        document_id: Option<&str>,
    ) -> Result<Vec<(&'static str, String)>> {
        let mut query = self.signed_query(owner, job_id)?;
        if let Some(job_id) = job_id {
            query.push(("jobId", job_id.to_owned()));
        }
        if let Some(did) = document_id {
            query.push(("documentId", did.to_owned()));
        }
        Ok(query)
    }

    /// The signed query of status/stop/delete/result calls.
    pub fn signed_query(
        &self,
        owner: &str,
        job_id: Option<&str>,
    ) -> Result<Vec<(&'static str, String)>> {
        let nonce = nanosecond_nonce(self.platform);
        Ok(vec![
            (
                "providerAddress",
                crate::address::checksum(&self.key.address()),
            ),
            ("owner", owner.to_owned()),
            (
                "providerSignature",
                provider_signature(&self.key, owner, job_id, &nonce)?,
            ),
            ("nonce", nonce),
        ])
    }
}

/// Reads a query-or-JSON parameter set the way compute clients send them: query
/// parameters when present, otherwise the JSON body.
pub fn query_value(query: &str, name: &str) -> Option<String> {
    parse_query(query)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compute_provider_signature_vector() {
        let all = crate::fakes::vectors();
        let key = ProviderKey::parse(all["provider_private_key"].as_str().unwrap()).unwrap();
        let v = &all["compute_provider_signature"];
        // message = owner + nonce (no job id)
        let signature = provider_signature(
            &key,
            "0xA78deb2Fa79463945C247991075E2a0e98Ba7A09",
            None,
            "1700000000000000000",
        )
        .unwrap();
        assert_eq!(
            v["message"],
            "0xA78deb2Fa79463945C247991075E2a0e98Ba7A091700000000000000000"
        );
        assert_eq!(signature, v["providerSignature"].as_str().unwrap());
    }

    #[test]
    fn input_the_platform_cannot_send_is_a_400_and_an_outage_a_503() {
        let fake = crate::fakes::FakePlatform::new(&[
            ("operator_service_url", "http://operator.example"),
            ("provider_private_key", crate::fakes::PROVIDER_KEY),
        ]);
        let platform = fake.ports();
        let operator = Operator::configured(&platform, std::time::Duration::from_secs(1)).unwrap();
        fake.http.answer(|_| Err(HttpError::InvalidRequest));
        let refused = operator.call("GET", "compute", &[], None).unwrap_err();
        assert_eq!(refused.status(), 400, "{refused}");
        fake.http.answer(|_| Err(HttpError::Connection));
        let outage = operator.call("GET", "compute", &[], None).unwrap_err();
        assert_eq!(outage.status(), 503, "{outage}");
        assert!(!outage.to_string().contains("operator.example"), "{outage}");
    }

    #[test]
    fn endpoints_join_like_urljoin() {
        assert_eq!(
            operator_endpoint("http://h", "compute"),
            "http://h/api/v1/operator/compute"
        );
        assert_eq!(
            operator_endpoint("http://h/", "compute"),
            "http://h/api/v1/operator/compute"
        );
        assert_eq!(
            operator_endpoint("http://h/base/", "x"),
            "http://h/base/api/v1/operator/x"
        );
        assert_eq!(
            with_query("http://h/x", &[("a", "b c".into())]),
            "http://h/x?a=b%20c"
        );
    }
}
