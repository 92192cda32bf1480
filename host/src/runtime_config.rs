//! The runtime config file (`--runtime-config-file`), in Spin's TOML format.
//!
//! Supported:
//! ```toml
//! [key_value_store.default]      # any label; `default` always exists
//! type = "spin"                  # SQLite
//! path = "data/kv.db"            # relative to this file's directory
//!
//! [key_value_store.shared]
//! type = "redis"                 # Redis, as Spin's `redis` store
//! url = "redis://127.0.0.1:6379"
//!
//! [outbound_networking]
//! block_networks = ["private", "203.0.113.0/24"]
//! ```
//! Other sections (`[[config_provider]]`, `[sqlite_database.*]`, `[llm_compute]`, …) are
//! ignored. A key-value store of another type is an error naming the label.

use crate::netblock::BlockList;
use anyhow::{Context, Result, bail};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where a key-value store keeps its data.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KvLocation {
    /// A SQLite file.
    File(PathBuf),
    /// An in-memory database (a `type = "spin"` store without `path`, as in Spin).
    Memory,
    /// A Redis server (`type = "redis"`, `url = "redis://…"`).
    Redis(String),
}

/// The parsed runtime config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Key-value store label → location. Always contains `default`.
    pub kv_stores: BTreeMap<String, KvLocation>,
    /// Destination networks outbound HTTP may not connect to.
    pub block_networks: BlockList,
}

#[derive(Debug, Default, Deserialize)]
struct Raw {
    #[serde(default)]
    key_value_store: BTreeMap<String, RawKv>,
    #[serde(default)]
    outbound_networking: Option<RawNet>,
}

#[derive(Debug, Deserialize)]
struct RawKv {
    #[serde(rename = "type")]
    ty: String,
    #[serde(default)]
    path: Option<PathBuf>,
    #[serde(default)]
    url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct RawNet {
    #[serde(default)]
    block_networks: Option<Vec<String>>,
}

impl RuntimeConfig {
    /// The configuration without a runtime config file.
    pub fn defaults(state_dir: &Path) -> Self {
        let mut kv_stores = BTreeMap::new();
        kv_stores.insert(
            "default".to_owned(),
            KvLocation::File(state_dir.join("sqlite_key_value.db")),
        );
        Self {
            kv_stores,
            block_networks: BlockList::secure_default(),
        }
    }

    /// Loads `file` (if any) on top of the defaults.
    pub fn load(file: Option<&Path>, state_dir: &Path) -> Result<Self> {
        let Some(file) = file else {
            return Ok(Self::defaults(state_dir));
        };
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read runtime config {}", file.display()))?;
        let base = file.parent().unwrap_or(Path::new("."));
        Self::parse(&text, base, state_dir)
            .with_context(|| format!("invalid runtime config {}", file.display()))
    }

    /// Parses runtime config text; relative paths are resolved against `base`.
    pub fn parse(text: &str, base: &Path, state_dir: &Path) -> Result<Self> {
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let msg = e.to_string();
            anyhow::anyhow!("{}", msg.lines().next().unwrap_or("TOML error").trim())
        })?;
        let mut cfg = Self::defaults(state_dir);
        for (label, kv) in raw.key_value_store {
            let loc = match kv.ty.as_str() {
                "spin" => match kv.path {
                    Some(p) if p.is_absolute() => KvLocation::File(p),
                    Some(p) => KvLocation::File(base.join(p)),
                    None => KvLocation::Memory,
                },
                "redis" => {
                    let Some(url) = kv.url else {
                        bail!(
                            "key_value_store.{label}: type \"redis\" needs `url = \"redis://…\"`"
                        );
                    };
                    crate::kv_redis::RedisUrl::parse(&url)
                        .map_err(|e| anyhow::anyhow!("key_value_store.{label}: {e}"))?;
                    KvLocation::Redis(url)
                }
                other => bail!(
                    "key_value_store.{label}: type {other:?} is not supported by spin-host (only \"spin\" and \"redis\")"
                ),
            };
            cfg.kv_stores.insert(label, loc);
        }
        if let Some(net) = raw.outbound_networking
            && let Some(list) = net.block_networks
        {
            cfg.block_networks = BlockList::parse(&list)?;
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn defaults() {
        let c = RuntimeConfig::parse("", Path::new("/rc"), Path::new("/state")).unwrap();
        assert_eq!(
            c.kv_stores["default"],
            KvLocation::File(PathBuf::from("/state/sqlite_key_value.db"))
        );
        assert_eq!(c.block_networks, BlockList::secure_default());
    }

    #[test]
    fn stores_and_networks() {
        let text = r#"
[key_value_store.default]
type = "spin"
path = "kv/data.db"
[key_value_store.abs]
type = "spin"
path = "/tmp/x.db"
[key_value_store.mem]
type = "spin"
[outbound_networking]
block_networks = []
[[config_provider]]
type = "vault"
"#;
        let c = RuntimeConfig::parse(text, Path::new("/rc"), Path::new("/state")).unwrap();
        assert_eq!(
            c.kv_stores["default"],
            KvLocation::File(PathBuf::from("/rc/kv/data.db"))
        );
        assert_eq!(
            c.kv_stores["abs"],
            KvLocation::File(PathBuf::from("/tmp/x.db"))
        );
        assert_eq!(c.kv_stores["mem"], KvLocation::Memory);
        assert!(c.block_networks.is_empty());

        let only_section = "[outbound_networking]\n";
        let c = RuntimeConfig::parse(only_section, Path::new("/"), Path::new("/s")).unwrap();
        assert_eq!(c.block_networks, BlockList::secure_default());
    }

    #[test]
    fn redis_stores_and_errors() {
        let redis = "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://x:6380/1\"";
        let c = RuntimeConfig::parse(redis, Path::new("/"), Path::new("/s")).unwrap();
        assert_eq!(
            c.kv_stores["default"],
            KvLocation::Redis("redis://x:6380/1".into())
        );
        for (text, needle) in [
            ("[key_value_store.default]\ntype = \"redis\"", "needs `url"),
            (
                "[key_value_store.default]\ntype = \"redis\"\nurl = \"http://x\"",
                "redis://",
            ),
            (
                "[key_value_store.default]\ntype = \"azure_cosmos\"",
                "not supported",
            ),
        ] {
            let err = RuntimeConfig::parse(text, Path::new("/"), Path::new("/s"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("key_value_store.default") && err.contains(needle),
                "{err}"
            );
        }
        let bad = "[outbound_networking]\nblock_networks = [\"bogus\"]";
        assert!(RuntimeConfig::parse(bad, Path::new("/"), Path::new("/s")).is_err());
    }
}
