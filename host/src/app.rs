//! Startup: manifest + runtime config + variables → compiled, pre-linked components.

use crate::allowed_hosts::AllowedHosts;
use crate::compile::{self, CacheOutcome};
use crate::instance::{self, ComponentRuntime, InstanceState};
use crate::kv::KvDb;
use crate::manifest::Manifest;
use crate::outbound_http::{self, OutboundPolicy};
use crate::routes::Router;
use crate::runtime_config::{KvLocation, RuntimeConfig};
use crate::variables::{AppVariables, ComponentVariables};
use anyhow::{Context, Result};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use wasmtime::Engine;
use wasmtime::component::Linker;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

/// A ready-to-instantiate component.
pub struct LoadedComponent {
    /// Pre-linked component.
    pub pre: ProxyPre<InstanceState>,
    /// Its configuration and capabilities.
    pub runtime: Arc<ComponentRuntime>,
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedComponent")
            .field("id", &self.runtime.id)
            .finish_non_exhaustive()
    }
}

/// The loaded application.
#[derive(Debug)]
pub struct App {
    /// The engine all components were compiled with.
    pub engine: Engine,
    /// Routes.
    pub router: Router,
    /// Components by id.
    pub components: HashMap<String, LoadedComponent>,
    /// Cache statistics: (hits, compiled).
    pub cache_stats: (usize, usize),
}

/// Options for [`App::load`].
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Path of `spin.toml`.
    pub manifest: PathBuf,
    /// `--runtime-config-file`.
    pub runtime_config: Option<PathBuf>,
    /// `--state-dir` (default: `.spin` next to the manifest).
    pub state_dir: Option<PathBuf>,
    /// `-c/--component-id`: serve only these components (empty: all), as `spin up -c`.
    pub components: Vec<String>,
}

fn open_stores(cfg: &RuntimeConfig) -> Result<BTreeMap<String, Arc<KvDb>>> {
    // Labels that share one file share one connection pool.
    let mut by_location: BTreeMap<KvLocation, Arc<KvDb>> = BTreeMap::new();
    let mut stores = BTreeMap::new();
    for (label, loc) in &cfg.kv_stores {
        let db = match by_location.get(loc) {
            Some(db) if *loc != KvLocation::Memory => db.clone(),
            _ => {
                let db = Arc::new(
                    KvDb::open(loc).with_context(|| format!("key-value store `{label}`"))?,
                );
                by_location.insert(loc.clone(), db.clone());
                db
            }
        };
        stores.insert(label.clone(), db);
    }
    Ok(stores)
}

impl App {
    /// Loads, validates, compiles and links everything. Errors name what is wrong.
    pub fn load(opts: &LoadOptions, warn: &mut dyn FnMut(String)) -> Result<Self> {
        let mut manifest = Manifest::load(&opts.manifest)?;
        if !opts.components.is_empty() {
            for id in &opts.components {
                if !manifest.components.contains_key(id) {
                    anyhow::bail!(
                        "specified component {id:?} not found in application (components: {})",
                        manifest
                            .components
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
            }
            // Only the selected components are loaded, and only their routes served:
            // every other path is a 404 from this process, as with `spin up -c`.
            manifest
                .components
                .retain(|id, _| opts.components.contains(id));
            manifest
                .http_routes
                .retain(|(_, component)| opts.components.contains(component));
        }
        for w in &manifest.warnings {
            warn(w.clone());
        }
        let state_dir = opts
            .state_dir
            .clone()
            .unwrap_or_else(|| manifest.dir.join(".spin"));
        let runtime_config = RuntimeConfig::load(opts.runtime_config.as_deref(), &state_dir)?;
        let vars = AppVariables::resolve(&manifest.variables, |k| std::env::var(k).ok())?;

        let router = Router::new(manifest.http_routes.iter().cloned());
        for (route, component) in router.duplicates() {
            warn(format!(
                "route {route:?} for component `{component}` duplicates an earlier route and is ignored"
            ));
        }

        // Per-component configuration, validated before any expensive work.
        let tls = outbound_http::tls_config()?;
        let block = Arc::new(runtime_config.block_networks.clone());
        let mut configs = Vec::new();
        for c in manifest.components.values() {
            let variables = ComponentVariables::resolve(&c.id, &c.variables, &vars)?;
            let allowed = AllowedHosts::parse(&c.allowed_outbound_hosts, &vars)
                .with_context(|| format!("component `{}`", c.id))?;
            for label in &c.key_value_stores {
                if !runtime_config.kv_stores.contains_key(label) {
                    warn(format!(
                        "component `{}` lists key-value store `{label}`, which is not defined in the runtime config (opening it fails with no-such-store)",
                        c.id
                    ));
                }
            }
            if !c.source.is_file() {
                anyhow::bail!(
                    "component `{}`: wasm file not found: {}",
                    c.id,
                    c.source.display()
                );
            }
            configs.push((c, variables, allowed));
        }

        let kv_stores = Arc::new(open_stores(&runtime_config)?);
        let engine = compile::engine()?;
        let mut linker: Linker<InstanceState> = Linker::new(&engine);
        instance::add_to_linker(&mut linker)?;

        // Compile (or load from cache) every distinct wasm file once, in parallel.
        let cache_dir = state_dir.join("cache");
        let mut sources: Vec<(&str, &Path)> = Vec::new();
        for (c, _, _) in &configs {
            if !sources.iter().any(|(_, p)| *p == c.source.as_path()) {
                sources.push((&c.id, &c.source));
            }
        }
        let compiled: Vec<Result<_>> = std::thread::scope(|s| {
            let handles: Vec<_> = sources
                .iter()
                .map(|(id, path)| {
                    let (engine, cache_dir) = (&engine, &cache_dir);
                    s.spawn(move || compile::load_component(engine, id, path, cache_dir))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("compiler thread panicked")))
                })
                .collect()
        });
        let mut by_source = HashMap::new();
        let mut in_use = Vec::new();
        let mut cache_stats = (0, 0);
        for ((_, path), compiled) in sources.iter().zip(compiled) {
            let (component, outcome, cache_file) = compiled?;
            in_use.push(cache_file);
            match outcome {
                CacheOutcome::Hit => cache_stats.0 += 1,
                CacheOutcome::Compiled => cache_stats.1 += 1,
            }
            by_source.insert(path.to_path_buf(), component);
        }

        let mut components = HashMap::new();
        for (c, variables, allowed) in configs {
            let Some(component) = by_source.get(&c.source) else {
                anyhow::bail!("component `{}`: not compiled", c.id);
            };
            let pre = linker
                .instantiate_pre(component)
                .map_err(|e| anyhow::anyhow!("component `{}`: {e:#}", c.id))?;
            let pre = ProxyPre::new(pre).map_err(|e| {
                anyhow::anyhow!(
                    "component `{}` does not export wasi:http/incoming-handler@0.2: {e:#}",
                    c.id
                )
            })?;
            let runtime = Arc::new(ComponentRuntime {
                id: c.id.clone(),
                variables,
                kv_allowed: c.key_value_stores.iter().cloned().collect(),
                kv_stores: kv_stores.clone(),
                outbound: Arc::new(OutboundPolicy {
                    component: c.id.clone(),
                    allowed,
                    block: block.clone(),
                    tls: tls.clone(),
                }),
                environment: c
                    .environment
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            });
            components.insert(c.id.clone(), LoadedComponent { pre, runtime });
        }
        compile::prune_cache(&cache_dir, &in_use);

        Ok(Self {
            engine,
            router,
            components,
            cache_stats,
        })
    }
}

/// Resolves the manifest path given to `-f`.
pub fn manifest_path(from: Option<&Path>) -> Result<PathBuf> {
    crate::manifest::locate(from)
}

/// Measures a closure (used for the startup timing line).
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, std::time::Duration) {
    let t = Instant::now();
    let out = f();
    (out, t.elapsed())
}
