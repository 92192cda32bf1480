//! The platform ports: the only ways the business rules reach the outside world.
//!
//! The Spin adapter ([`crate::spin_adapter`]) implements them on Spin; [`crate::fakes`]
//! implements them in memory for unit tests.

use std::fmt;

/// A failure of the key-value store (an upstream failure: 503).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageError(pub String);

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key-value store error: {}", self.0)
    }
}

impl From<StorageError> for crate::ProviderError {
    fn from(err: StorageError) -> Self {
        crate::ProviderError::Upstream(format!(
            "The provider's key-value store is unavailable: {}",
            err.0
        ))
    }
}

/// The key-value store (Spin's `default` store).
pub trait KeyValue {
    /// The value under `key`, if any.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;
    /// Writes `value` under `key`.
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StorageError>;
    /// Removes `key` (no error when it is absent).
    fn delete(&self, key: &str) -> Result<(), StorageError>;
    /// Atomically adds `delta` to the counter under `key` (a missing key counts as 0)
    /// and returns the new value. This is `wasi:keyvalue/atomics.increment`, the one
    /// atomic primitive that works on every Spin backend that has atomics at all.
    /// A counter key must never be written with [`KeyValue::set`] or read with
    /// [`KeyValue::get`]: backends store counters in different encodings.
    fn increment(&self, key: &str, delta: i64) -> Result<i64, StorageError>;
}

/// Why a configuration variable could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariableError {
    /// The variable is not declared for this component.
    Undefined,
    /// The platform failed to resolve it.
    Other(String),
}

/// Application configuration (Spin variables).
pub trait Variables {
    /// The value of a variable by its lowercase name.
    fn get(&self, name: &str) -> Result<String, VariableError>;
}

/// Wall-clock time.
pub trait Clock {
    /// Seconds since the Unix epoch.
    fn now_unix_seconds(&self) -> u64;

    /// Nanoseconds since the Unix epoch (operator-call nonces); clocks without a finer
    /// resolution give whole seconds.
    fn now_unix_nanos(&self) -> u128 {
        u128::from(self.now_unix_seconds()) * 1_000_000_000
    }
}

/// The ports an endpoint function may use, bundled, with the request's settings.
pub struct Platform<'a> {
    /// The key-value store.
    pub kv: &'a dyn KeyValue,
    /// Outbound HTTP.
    pub http: &'a dyn crate::outbound::HttpClient,
    /// The configuration, read from the platform's variables as it is needed.
    pub settings: crate::settings::Settings<'a>,
    /// The clock.
    pub clock: &'a dyn Clock,
}

impl fmt::Debug for Platform<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Platform { .. }")
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix_seconds(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    fn now_unix_nanos(&self) -> u128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    }
}
