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
