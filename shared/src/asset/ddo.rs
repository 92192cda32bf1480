//! Asset documents (DDOs) as the metadata cache (Aquarius) serves them, and their
//! resolution (spec §4.1).

use serde::Deserialize;
use serde_json::Value;

use crate::outbound::OutboundRequest;
use crate::ports::Platform;
use crate::{ProviderError, Result};

/// Largest DDO accepted from the metadata cache.
const MAX_DDO_BYTES: usize = 16 * 1024 * 1024;

/// A DDO, v4.0 or v4.1+. Unknown fields are kept in `raw` for callers that need them.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ddo {
    /// The DID.
    pub id: String,
    /// `4.0.0` or absent: the old files format; anything else: v4.1+.
    #[serde(default)]
    pub version: Option<String>,
    /// The data NFT.
    #[serde(default)]
    pub nft_address: Option<String>,
    /// The chain.
    #[serde(default)]
    pub chain_id: Option<u64>,
    /// Metadata (`type`, `algorithm.container`, ...).
    #[serde(default)]
    pub metadata: Option<Value>,
    /// Services, in order: a service's index is its position.
    #[serde(default)]
    pub services: Vec<Service>,
    /// Access lists (`allow`/`deny`); may be a JSON string.
    #[serde(default)]
    pub credentials: Option<Value>,
    /// The indexer's view of the NFT (`address`, `state`, `owner`).
    #[serde(default)]
    pub nft: Option<NftInfo>,
    /// The whole document.
    #[serde(skip)]
    pub raw: Value,
}

/// One service of a DDO.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    /// Service id.
    pub id: String,
    /// `access` or `compute`.
    #[serde(rename = "type")]
    pub service_type: String,
    /// The service's datatoken.
    #[serde(default)]
    pub datatoken_address: String,
    /// The provider serving it.
    #[serde(default)]
    pub service_endpoint: Option<String>,
    /// ECIES ciphertext of the files, hex.
    #[serde(default)]
    pub files: String,
    /// Seconds an order stays valid; 0 = forever.
    #[serde(default)]
    pub timeout: u64,
    /// Compute options.
    #[serde(default)]
    pub compute: Option<Value>,
}

/// The `nft` section.
#[derive(Debug, Clone, Deserialize)]
pub struct NftInfo {
    /// NFT address.
    #[serde(default)]
    pub address: Option<String>,
    /// Metadata state as indexed.
    #[serde(default)]
    pub state: Option<i64>,
    /// Owner as indexed.
    #[serde(default)]
    pub owner: Option<String>,
}

impl Ddo {
    /// Parses a DDO from JSON.
    pub fn from_json(value: Value) -> Option<Self> {
        let mut ddo: Ddo = serde_json::from_value(value.clone()).ok()?;
        ddo.raw = value;
        Some(ddo)
    }

    /// The service with this id and its index.
    pub fn service(&self, id: &str) -> Option<(usize, &Service)> {
        self.services.iter().enumerate().find(|(_, s)| s.id == id)
    }

    /// Whether the files use the v4.0 (bare list) format.
    pub fn uses_legacy_files(&self) -> bool {
        matches!(self.version.as_deref(), None | Some("4.0.0"))
    }
}

fn cache_key(did: &str) -> String {
    format!("ddo-cache:{did}")
}

/// Fetches a DDO from the metadata cache: `GET {aquarius_url}/api/aquarius/assets/ddo/{did}`.
/// 200 with a JSON document means found; anything else is "Cannot resolve DID" (400);
/// an unreachable cache is a 503. Found documents are cached for `ddo_cache_seconds`
/// (default 30) so a burst of requests for one asset costs one lookup.
pub fn resolve_ddo(
    platform: &Platform<'_>,
    did: &str,
    timeout: std::time::Duration,
) -> Result<Ddo> {
    let not_found = || ProviderError::BadRequest("Cannot resolve DID".into());
    if !did.starts_with("did:op:") || did.len() > 200 || did.contains(['/', '?', '#', ' ']) {
        return Err(not_found());
    }
    let ttl = platform.settings.ddo_cache_seconds()?;
    let now = platform.clock.now_unix_seconds();
    if ttl > 0
        && let Ok(Some(bytes)) = platform.kv.get(&cache_key(did))
        && let Ok(entry) = serde_json::from_slice::<Value>(&bytes)
        && entry["fetched"]
            .as_u64()
            .is_some_and(|t| now < t.saturating_add(ttl))
        && let Some(ddo) = Ddo::from_json(entry["ddo"].clone())
    {
        return Ok(ddo);
    }
    let base = platform.settings.aquarius_url()?;
    let url = format!(
        "{}/api/aquarius/assets/ddo/{did}",
        base.trim_end_matches('/')
    );
    let response = platform
        .http
        .send(OutboundRequest::new("GET", &url, timeout).header("accept", "application/json"))
        .map_err(|err| {
            ProviderError::Upstream(format!(
                "The metadata cache (Aquarius) is unavailable: {err}."
            ))
        })?;
    if response.status != 200 {
        return Err(not_found());
    }
    let body = response.read_body(MAX_DDO_BYTES).map_err(|err| {
        ProviderError::Upstream(format!(
            "The metadata cache (Aquarius) answer could not be read: {err}."
        ))
    })?;
    let value: Value = serde_json::from_slice(&body).map_err(|_| not_found())?;
    let ddo = Ddo::from_json(value.clone()).ok_or_else(not_found)?;
    if ddo.id != did {
        return Err(not_found());
    }
    if ttl > 0 {
        let entry = serde_json::json!({"fetched": now, "ddo": value});
        let _ = platform
            .kv
            .set(&cache_key(did), entry.to_string().as_bytes());
    }
    Ok(ddo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fakes::FakePlatform;
    use serde_json::json;
    use std::time::Duration;

    const DID: &str = "did:op:88fbc1d4bacb645f72250dd5e9427e42093f8c819de0cc1c916b34c95576202a";

    fn ddo_json() -> Value {
        json!({"id": DID, "version": "4.1.0", "chainId": 8996, "nftAddress": "0xBD558814eE914800EbfeF4a1cbE196F5161823d9",
               "metadata": {"type": "dataset"},
               "services": [{"id": "a", "type": "access", "datatokenAddress": "0x1", "files": "0x00", "timeout": 0},
                            {"id": "c", "type": "compute", "datatokenAddress": "0x2", "files": "0x00", "timeout": 60}],
               "nft": {"address": "0xBD558814eE914800EbfeF4a1cbE196F5161823d9", "state": 0, "owner": "0x3"}})
    }

    #[test]
    fn resolves_caches_and_indexes_services() {
        let fake = FakePlatform::new(&[("aquarius_url", "http://aqua/")]);
        let body = ddo_json().to_string();
        fake.http.answer(move |req| {
            assert_eq!(
                req.url,
                format!("http://aqua/api/aquarius/assets/ddo/{DID}")
            );
            Ok((200, vec![], body.clone().into_bytes()))
        });
        let p = fake.ports();
        let ddo = resolve_ddo(&p, DID, Duration::from_secs(1)).unwrap();
        assert_eq!(ddo.service("c").map(|(i, s)| (i, s.timeout)), Some((1, 60)));
        assert!(!ddo.uses_legacy_files());
        resolve_ddo(&p, DID, Duration::from_secs(1)).unwrap();
        assert_eq!(fake.http.count(), 1);
        fake.clock
            .0
            .store(1_700_000_031, std::sync::atomic::Ordering::SeqCst);
        resolve_ddo(&p, DID, Duration::from_secs(1)).unwrap();
        assert_eq!(fake.http.count(), 2);
    }

    #[test]
    fn anything_but_200_json_is_cannot_resolve_and_outage_is_503() {
        let fake = FakePlatform::new(&[("aquarius_url", "http://aqua")]);
        let p = fake.ports();
        fake.http
            .answer(|_| Ok((404, vec![], b"{\"error\":\"nope\"}".to_vec())));
        assert_eq!(
            resolve_ddo(&p, DID, Duration::from_secs(1))
                .unwrap_err()
                .to_string(),
            "Cannot resolve DID"
        );
        fake.http.answer(|_| Ok((200, vec![], b"<html>".to_vec())));
        assert_eq!(
            resolve_ddo(&p, DID, Duration::from_secs(1))
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            resolve_ddo(&p, "did:op:../../x", Duration::from_secs(1))
                .unwrap_err()
                .status(),
            400
        );
        fake.http
            .answer(|_| Err(crate::outbound::HttpError::Connection));
        let err = resolve_ddo(&p, DID, Duration::from_secs(1)).unwrap_err();
        assert_eq!(err.status(), 503);
        assert!(!err.to_string().contains("aqua/"));
    }
}
