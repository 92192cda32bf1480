//! Engine configuration and component compilation with an on-disk cache.
//!
//! Compiled artifacts are cached in `<state-dir>/cache/<key>.cwasm`, where `key` is a
//! SHA-256 over the wasm bytes and the engine's precompile compatibility hash (wasmtime
//! version, target, and every setting that affects code generation). A restart with the
//! same wasm and engine deserializes instead of compiling.

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

/// Cache entries not used by the current run are removed after this long.
const CACHE_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);

/// Creates the engine used for every component.
///
/// Instances come from wasmtime's pooling allocator (as in Spin): slots are reserved
/// once and reused, which makes per-request instantiation cheaper. If the pool cannot
/// be reserved (e.g. a tight `ulimit -v`), the on-demand allocator is used instead.
pub fn engine() -> Result<Engine> {
    let base = || {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.cranelift_opt_level(wasmtime::OptLevel::Speed);
        config
    };
    let mut pooled = base();
    let mut pool = wasmtime::PoolingAllocationConfig::default();
    pool.total_component_instances(1_000)
        .total_core_instances(10_000)
        .total_memories(1_000)
        .total_tables(2_000)
        .table_elements(100_000);
    pooled.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    match Engine::new(&pooled) {
        Ok(engine) => Ok(engine),
        Err(e) => {
            crate::elog!(
                "spin-host: warning: pooling allocator unavailable ({e}); using on-demand allocation"
            );
            Engine::new(&base()).map_err(|e| anyhow::anyhow!("cannot create the wasm engine: {e}"))
        }
    }
}

/// Feeds `Hash` output into SHA-256.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The cache key for `wasm` compiled by `engine`.
pub fn cache_key(engine: &Engine, wasm: &[u8]) -> String {
    let mut h = ShaHasher(Sha256::new());
    h.write(b"spin-host component cache v1\0");
    h.write(&Sha256::digest(wasm));
    engine.precompile_compatibility_hash().hash(&mut h);
    hex(&h.0.finalize())
}

/// Whether a component came from the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Deserialized from the cache.
    Hit,
    /// Compiled (and written to the cache if possible).
    Compiled,
}

/// Loads the component at `wasm_path`, from the cache in `cache_dir` when possible.
pub fn load_component(
    engine: &Engine,
    id: &str,
    wasm_path: &Path,
    cache_dir: &Path,
) -> Result<(Component, CacheOutcome, PathBuf)> {
    let wasm = std::fs::read(wasm_path).with_context(|| {
        format!(
            "component `{id}`: cannot read wasm file {}",
            wasm_path.display()
        )
    })?;
    let key = cache_key(engine, &wasm);
    let cached = cache_dir.join(format!("{key}.cwasm"));
    if cached.is_file() {
        // SAFETY: `deserialize_file` trusts the file to be an artifact produced by
        // `Component::serialize` of a compatible engine. This file lives in our own
        // state directory, was written by this function (atomically, via rename) from
        // `Component::serialize`, and its name includes the engine's compatibility hash
        // and the SHA-256 of the wasm it was compiled from; wasmtime additionally
        // checks the header and engine compatibility before use.
        #[allow(unsafe_code)]
        let loaded = unsafe { Component::deserialize_file(engine, &cached) };
        match loaded {
            Ok(component) => return Ok((component, CacheOutcome::Hit, cached)),
            Err(e) => crate::elog!(
                "spin-host: component `{id}`: ignoring unusable cache entry {}: {e}",
                cached.display()
            ),
        }
    }
    let component = Component::new(engine, &wasm).map_err(|e| {
        anyhow::anyhow!(
            "component `{id}`: cannot compile {}: {e:#}",
            wasm_path.display()
        )
    })?;
    if let Err(e) = write_cache(&component, cache_dir, &key, &cached) {
        crate::elog!("spin-host: warning: cannot write compilation cache: {e:#}");
    }
    Ok((component, CacheOutcome::Compiled, cached))
}

fn write_cache(component: &Component, dir: &Path, key: &str, dest: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let bytes = component
        .serialize()
        .map_err(|e| anyhow::anyhow!("serializing: {e}"))?;
    let tmp = dir.join(format!(".{key}.{}.tmp", std::process::id()));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, dest).with_context(|| format!("renaming to {}", dest.display()))?;
    Ok(())
}

/// Removes cache entries that were not used now and have not been modified for a week.
pub fn prune_cache(cache_dir: &Path, in_use: &[PathBuf]) {
    let Ok(entries) = std::fs::read_dir(cache_dir) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let path = entry.path();
        if in_use.contains(&path) {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > CACHE_MAX_AGE);
        let ours = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".cwasm") || n.ends_with(".tmp"));
        if old && ours {
            let _ = std::fs::remove_file(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn cache_key_depends_on_bytes() {
        let engine = engine().unwrap();
        let a = cache_key(&engine, b"a");
        assert_eq!(a, cache_key(&engine, b"a"));
        assert_ne!(a, cache_key(&engine, b"b"));
        assert_eq!(a.len(), 64);
    }

    #[test]
    fn compile_then_hit_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let wasm = dir.path().join("c.wasm");
        // The smallest valid component.
        std::fs::write(&wasm, b"\0asm\x0d\0\x01\0").unwrap();
        let engine = engine().unwrap();
        let cache = dir.path().join("cache");
        let (_, first, path) = load_component(&engine, "c", &wasm, &cache).unwrap();
        assert_eq!(first, CacheOutcome::Compiled);
        assert!(path.is_file());
        let (_, second, _) = load_component(&engine, "c", &wasm, &cache).unwrap();
        assert_eq!(second, CacheOutcome::Hit);

        // A corrupt entry is ignored and replaced.
        std::fs::write(&path, b"garbage").unwrap();
        let (_, third, _) = load_component(&engine, "c", &wasm, &cache).unwrap();
        assert_eq!(third, CacheOutcome::Compiled);

        let err = load_component(&engine, "c", &dir.path().join("missing.wasm"), &cache)
            .err()
            .unwrap();
        assert!(format!("{err:#}").contains("component `c`: cannot read wasm file"));
        std::fs::write(&wasm, b"not wasm").unwrap();
        let err = load_component(&engine, "c", &wasm, &cache).err().unwrap();
        assert!(format!("{err:#}").contains("cannot compile"));
    }
}
