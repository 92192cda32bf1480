//! In-memory implementations of the platform ports, for unit tests here and in the
//! components.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::outbound::{BufferedBody, HttpClient, HttpError, OutboundRequest, OutboundResponse};
use crate::ports::{Clock, KeyValue, Platform, StorageError, VariableError, Variables};

/// What a fake HTTP handler answers: status, headers and body, or a transport error.
pub type FakeReply = Result<(u16, Vec<(String, String)>, Vec<u8>), HttpError>;

type FakeHandler = Box<dyn Fn(&OutboundRequest) -> FakeReply + Send + Sync>;

/// Outbound HTTP answered by a closure; every request is recorded.
pub struct FakeHttp {
    handler: Mutex<FakeHandler>,
    /// Every request sent, in order.
    pub requests: Mutex<Vec<OutboundRequest>>,
}

impl std::fmt::Debug for FakeHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FakeHttp")
    }
}

impl Default for FakeHttp {
    fn default() -> Self {
        Self::new(|_| Err(HttpError::Connection))
    }
}

impl FakeHttp {
    /// Answers every request with `handler`.
    pub fn new(handler: impl Fn(&OutboundRequest) -> FakeReply + Send + Sync + 'static) -> Self {
        Self {
            handler: Mutex::new(Box::new(handler)),
            requests: Mutex::new(Vec::new()),
        }
    }

    /// Replaces the handler.
    pub fn answer(&self, handler: impl Fn(&OutboundRequest) -> FakeReply + Send + Sync + 'static) {
        if let Ok(mut slot) = self.handler.lock() {
            *slot = Box::new(handler);
        }
    }

    /// How many requests were sent.
    pub fn count(&self) -> usize {
        self.requests.lock().map(|r| r.len()).unwrap_or(0)
    }
}

impl HttpClient for FakeHttp {
    fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, HttpError> {
        let reply = match self.handler.lock() {
            Ok(handler) => handler(&request),
            Err(_) => Err(HttpError::Other("poisoned".into())),
        };
        if let Ok(mut requests) = self.requests.lock() {
            requests.push(request);
        }
        let (status, headers, body) = reply?;
        Ok(OutboundResponse {
            status,
            headers,
            body: Box::new(BufferedBody(Some(body))),
        })
    }
}

/// An in-memory key-value store. Every operation holds one lock, so `increment` is
/// atomic exactly like the real backends.
#[derive(Debug, Default)]
pub struct MemoryKeyValue {
    values: Mutex<BTreeMap<String, Vec<u8>>>,
    counters: Mutex<HashMap<String, i64>>,
    /// When set, every operation fails (to test upstream-failure handling).
    pub fail: std::sync::atomic::AtomicBool,
}

impl MemoryKeyValue {
    fn check(&self) -> Result<(), StorageError> {
        if self.fail.load(Ordering::SeqCst) {
            Err(StorageError("injected failure".into()))
        } else {
            Ok(())
        }
    }

    /// All plain (non-counter) keys, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.values
            .lock()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// A snapshot of everything stored (values and counters), for "state unchanged"
    /// assertions.
    pub fn snapshot(&self) -> (BTreeMap<String, Vec<u8>>, BTreeMap<String, i64>) {
        let values = self.values.lock().map(|m| m.clone()).unwrap_or_default();
        let counters = self
            .counters
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default();
        (values, counters)
    }
}

impl KeyValue for MemoryKeyValue {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.check()?;
        let values = self
            .values
            .lock()
            .map_err(|_| StorageError("poisoned".into()))?;
        Ok(values.get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.check()?;
        let mut values = self
            .values
            .lock()
            .map_err(|_| StorageError("poisoned".into()))?;
        values.insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.check()?;
        let mut values = self
            .values
            .lock()
            .map_err(|_| StorageError("poisoned".into()))?;
        values.remove(key);
        Ok(())
    }

    fn increment(&self, key: &str, delta: i64) -> Result<i64, StorageError> {
        self.check()?;
        let mut counters = self
            .counters
            .lock()
            .map_err(|_| StorageError("poisoned".into()))?;
        let value = counters.entry(key.to_owned()).or_insert(0);
        *value += delta;
        Ok(*value)
    }
}

/// Variables from a fixed map; anything else is undefined.
#[derive(Debug, Default, Clone)]
pub struct MapVariables(pub HashMap<String, String>);

impl MapVariables {
    /// Variables from `(name, value)` pairs.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        Self(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }
}

impl Variables for MapVariables {
    fn get(&self, name: &str) -> Result<String, VariableError> {
        self.0.get(name).cloned().ok_or(VariableError::Undefined)
    }
}

/// A clock that stays where it is set.
#[derive(Debug)]
pub struct FixedClock(pub AtomicU64);

impl FixedClock {
    /// A clock at `seconds` since the epoch.
    pub fn at(seconds: u64) -> Self {
        Self(AtomicU64::new(seconds))
    }
}

impl Clock for FixedClock {
    fn now_unix_seconds(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A complete in-memory platform.
#[derive(Debug)]
pub struct FakePlatform {
    /// The store.
    pub kv: MemoryKeyValue,
    /// The variables.
    pub vars: MapVariables,
    /// Outbound HTTP.
    pub http: FakeHttp,
    /// The clock.
    pub clock: FixedClock,
}

impl FakePlatform {
    /// A platform with the given variables, an empty store and the clock at
    /// 1 700 000 000 (14 Nov 2023).
    pub fn new(vars: &[(&str, &str)]) -> Self {
        Self {
            kv: MemoryKeyValue::default(),
            vars: MapVariables::from_pairs(vars),
            http: FakeHttp::default(),
            clock: FixedClock::at(1_700_000_000),
        }
    }

    /// The ports as endpoint functions take them.
    pub fn ports(&self) -> Platform<'_> {
        Platform {
            kv: &self.kv,
            http: &self.http,
            settings: crate::settings::Settings::new(&self.vars),
            clock: &self.clock,
        }
    }
}

/// The barge development provider key, which the test vectors use.
pub const PROVIDER_KEY: &str = "0xfd5c1ccea015b6d663618850824154a3b3fb2882c46cefb05b9a93fea8c3d215";
/// The vectors' consumer key (mnemonic account 2).
pub const CONSUMER_KEY: &str = "0x5d75837394b078ce97bc289fa8d75e21000573520bfa7784a9d28ccaae602bf8";
/// The consumer key's checksum address.
pub const CONSUMER: &str = "0xA78deb2Fa79463945C247991075E2a0e98Ba7A09";

/// The checked-in test vectors (`shared/tests/vectors/vectors.json`), parsed once.
#[cfg(test)]
#[allow(clippy::expect_used)]
pub fn vectors() -> &'static serde_json::Value {
    static VECTORS: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    VECTORS.get_or_init(|| {
        serde_json::from_str(include_str!("../tests/vectors/vectors.json"))
            .expect("vectors.json is JSON")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ProviderKey;

    #[test]
    fn the_vectors_keys_addresses_and_public_key_agree() {
        let v = vectors();
        assert_eq!(v["provider_private_key"], PROVIDER_KEY);
        assert_eq!(v["consumer_private_key"], CONSUMER_KEY);
        assert_eq!(v["consumer_address"], CONSUMER);
        let provider = ProviderKey::parse(PROVIDER_KEY).unwrap();
        assert_eq!(
            crate::address::checksum(&provider.address()),
            v["provider_address"].as_str().unwrap()
        );
        // The 64-byte public key: x and y without the 0x04 prefix.
        use k256::elliptic_curve::sec1::ToEncodedPoint;
        let encoded = provider.public_key().to_encoded_point(false);
        let point = encoded.as_bytes();
        assert_eq!(point.len(), 65);
        assert_eq!(
            format!("0x{}", hex::encode(&point[1..])),
            v["provider_pubkey_64"].as_str().unwrap().to_lowercase()
        );
        let consumer = ProviderKey::parse(CONSUMER_KEY).unwrap();
        assert_eq!(crate::address::checksum(&consumer.address()), CONSUMER);
    }
}
