//! Per-instance state (the `T` of `Store<T>`) and the host side of the Spin-specific
//! imports: `fermyon:spin/variables@2.0.0`, `fermyon:spin/key-value@2.0.0` and
//! `wasi:keyvalue/{store,atomics,batch}@0.2.0-draft2`.

use crate::kv::{KvDb, KvError};
use crate::outbound_http::{OutboundHooks, OutboundPolicy};
use crate::variables::{ComponentVariables, GetError};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker, Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

#[allow(missing_docs, missing_debug_implementations, clippy::all)]
mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "spin-host:host/host",
        imports: { default: async | trappable },
        with: {
            "wasi:keyvalue/store.bucket": super::Bucket,
            "wasi:keyvalue/atomics.cas": super::Cas,
            "fermyon:spin/key-value.store": super::SpinStore,
        },
    });
}

use bindings::fermyon::spin::key_value as spin_kv;
use bindings::fermyon::spin::variables as spin_vars;
use bindings::wasi::keyvalue::{atomics, batch, store};

/// Everything one component's instances share: its configuration and capabilities.
#[derive(Debug)]
pub struct ComponentRuntime {
    /// Component id.
    pub id: String,
    /// Variables visible through `fermyon:spin/variables`.
    pub variables: ComponentVariables,
    /// Labels listed in the component's `key_value_stores`.
    pub kv_allowed: BTreeSet<String>,
    /// All defined stores of the application, by label.
    pub kv_stores: Arc<BTreeMap<String, Arc<KvDb>>>,
    /// Outbound HTTP rules.
    pub outbound: Arc<OutboundPolicy>,
    /// `environment` from the manifest.
    pub environment: Vec<(String, String)>,
}

/// An open `wasi:keyvalue` bucket.
#[derive(Debug)]
pub struct Bucket {
    label: String,
    db: Arc<KvDb>,
}

/// A `wasi:keyvalue/atomics.cas` handle: the value `key` had when it was created.
#[derive(Debug)]
pub struct Cas {
    label: String,
    key: String,
    db: Arc<KvDb>,
    current: Option<Vec<u8>>,
}

/// An open `fermyon:spin/key-value` store.
#[derive(Debug)]
pub struct SpinStore {
    label: String,
    db: Arc<KvDb>,
}

/// The data of one `Store`: one instance, one request.
pub struct InstanceState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: OutboundHooks,
    component: Arc<ComponentRuntime>,
}

impl std::fmt::Debug for InstanceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InstanceState")
            .field("component", &self.component.id)
            .finish_non_exhaustive()
    }
}

impl InstanceState {
    /// Fresh state for one request: stdout/stderr inherited, no args, no preopened
    /// directories, only the manifest's `environment`, no socket access.
    pub fn new(component: Arc<ComponentRuntime>) -> Self {
        let mut builder = WasiCtx::builder();
        builder.inherit_stdout().inherit_stderr();
        for (k, v) in &component.environment {
            builder.env(k, v);
        }
        Self {
            wasi: builder.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: OutboundHooks::new(component.outbound.clone()),
            component,
        }
    }
}

impl InstanceState {
    /// Turns the incoming request into a guest resource, keeping its `Host` header
    /// (which wasi:http otherwise strips) as Spin does.
    pub fn new_incoming_request(
        &mut self,
        req: http::Request<hyper::body::Incoming>,
    ) -> wasmtime::Result<Resource<wasmtime_wasi_http::p2::types::HostIncomingRequest>> {
        self.hooks.set_pass_host(true);
        let res = self.http().new_incoming_request(
            wasmtime_wasi_http::p2::bindings::http::types::Scheme::Http,
            req,
        );
        self.hooks.set_pass_host(false);
        res
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Adds every import this host provides to `linker`.
pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    bindings::Host_::add_to_linker::<_, HasSelf<InstanceState>>(linker, |s| s)?;
    Ok(())
}

enum Open {
    Ok(Arc<KvDb>),
    AccessDenied,
    NoSuchStore,
}

impl InstanceState {
    fn open_store(&self, label: &str) -> Open {
        if !self.component.kv_allowed.contains(label) {
            return Open::AccessDenied;
        }
        match self.component.kv_stores.get(label) {
            Some(db) => Open::Ok(db.clone()),
            None => Open::NoSuchStore,
        }
    }
}

/// Runs a blocking SQLite call on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, KvError> + Send + 'static,
) -> wasmtime::Result<Result<T, String>> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => Ok(r.map_err(|e| e.to_string())),
        Err(e) => Err(wasmtime::Error::msg(format!("key-value task failed: {e}"))),
    }
}

// ---- fermyon:spin/variables ----

impl spin_vars::Host for InstanceState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, spin_vars::Error>> {
        Ok(self.component.variables.get(&name).map_err(|e| match e {
            GetError::InvalidName(n) => spin_vars::Error::InvalidName(n),
            GetError::Undefined(n) => spin_vars::Error::Undefined(n),
        }))
    }
}

// ---- wasi:keyvalue/store ----

fn wasi_err(e: String) -> store::Error {
    store::Error::Other(e)
}

impl store::Host for InstanceState {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<Bucket>, store::Error>> {
        Ok(match self.open_store(&identifier) {
            Open::Ok(db) => Ok(self.table.push(Bucket {
                label: identifier,
                db,
            })?),
            Open::AccessDenied => Err(store::Error::AccessDenied),
            Open::NoSuchStore => Err(store::Error::NoSuchStore),
        })
    }
}

impl InstanceState {
    fn bucket(&self, b: &Resource<Bucket>) -> wasmtime::Result<(String, Arc<KvDb>)> {
        let b = self.table.get(b)?;
        Ok((b.label.clone(), b.db.clone()))
    }
}

impl store::HostBucket for InstanceState {
    async fn get(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, store::Error>> {
        let (label, db) = self.bucket(&bucket)?;
        Ok(blocking(move || db.get(&label, &key))
            .await?
            .map_err(wasi_err))
    }

    async fn set(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), store::Error>> {
        let (label, db) = self.bucket(&bucket)?;
        Ok(blocking(move || db.set(&label, &key, &value))
            .await?
            .map_err(wasi_err))
    }

    async fn delete(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<(), store::Error>> {
        let (label, db) = self.bucket(&bucket)?;
        Ok(blocking(move || db.delete(&label, &key))
            .await?
            .map_err(wasi_err))
    }

    async fn exists(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<bool, store::Error>> {
        let (label, db) = self.bucket(&bucket)?;
        Ok(blocking(move || db.exists(&label, &key))
            .await?
            .map_err(wasi_err))
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        _cursor: Option<String>,
    ) -> wasmtime::Result<Result<store::KeyResponse, store::Error>> {
        // All keys in one page; `cursor` is therefore always `none`.
        let (label, db) = self.bucket(&bucket)?;
        Ok(blocking(move || db.keys(&label))
            .await?
            .map(|keys| store::KeyResponse { keys, cursor: None })
            .map_err(wasi_err))
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

// ---- wasi:keyvalue/atomics ----

impl atomics::Host for InstanceState {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, store::Error>> {
        let (label, db) = self.bucket(&bucket)?;
        Ok(blocking(move || db.increment(&label, &key, delta))
            .await?
            .map_err(wasi_err))
    }

    async fn swap(
        &mut self,
        cas: Resource<Cas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let cas_state = self.table.delete(cas)?;
        let Cas {
            label,
            key,
            db,
            current,
        } = cas_state;
        let result = {
            let (label, key, db) = (label.clone(), key.clone(), db.clone());
            blocking(move || {
                let swapped = db.compare_and_swap(&label, &key, current.as_deref(), &value)?;
                // On failure, hand back a fresh handle holding the value now stored, so
                // that a retry loop makes progress.
                let now = if swapped {
                    None
                } else {
                    Some(db.get(&label, &key)?)
                };
                Ok((swapped, now))
            })
            .await?
        };
        Ok(match result {
            Ok((true, _)) => Ok(()),
            Ok((false, now)) => {
                let fresh = self.table.push(Cas {
                    label,
                    key,
                    db,
                    current: now.flatten(),
                })?;
                Err(atomics::CasError::CasFailed(fresh))
            }
            Err(e) => Err(atomics::CasError::StoreError(wasi_err(e))),
        })
    }
}

impl atomics::HostCas for InstanceState {
    async fn new(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<Cas>, store::Error>> {
        let (label, db) = self.bucket(&bucket)?;
        let read = {
            let (label, key, db) = (label.clone(), key.clone(), db.clone());
            blocking(move || db.get(&label, &key)).await?
        };
        Ok(match read {
            Ok(current) => Ok(self.table.push(Cas {
                label,
                key,
                db,
                current,
            })?),
            Err(e) => Err(wasi_err(e)),
        })
    }

    async fn current(
        &mut self,
        cas: Resource<Cas>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, store::Error>> {
        Ok(Ok(self.table.get(&cas)?.current.clone()))
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

// ---- wasi:keyvalue/batch ----

impl batch::Host for InstanceState {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, store::Error>> {
        let (label, db) = self.bucket(&bucket)?;
        Ok(blocking(move || {
            let values = db.get_many(&label, &keys)?;
            Ok(keys.into_iter().zip(values).collect())
        })
        .await?
        .map_err(wasi_err))
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), store::Error>> {
        let (label, db) = self.bucket(&bucket)?;
        Ok(blocking(move || db.set_many(&label, &key_values))
            .await?
            .map_err(wasi_err))
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), store::Error>> {
        let (label, db) = self.bucket(&bucket)?;
        Ok(blocking(move || db.delete_many(&label, &keys))
            .await?
            .map_err(wasi_err))
    }
}

// ---- fermyon:spin/key-value ----

fn spin_err(e: String) -> spin_kv::Error {
    spin_kv::Error::Other(e)
}

impl spin_kv::Host for InstanceState {}

impl InstanceState {
    fn spin_store(&self, s: &Resource<SpinStore>) -> wasmtime::Result<(String, Arc<KvDb>)> {
        let s = self.table.get(s)?;
        Ok((s.label.clone(), s.db.clone()))
    }
}

impl spin_kv::HostStore for InstanceState {
    async fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<SpinStore>, spin_kv::Error>> {
        Ok(match self.open_store(&label) {
            Open::Ok(db) => Ok(self.table.push(SpinStore { label, db })?),
            Open::AccessDenied => Err(spin_kv::Error::AccessDenied),
            Open::NoSuchStore => Err(spin_kv::Error::NoSuchStore),
        })
    }

    async fn get(
        &mut self,
        s: Resource<SpinStore>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, spin_kv::Error>> {
        let (label, db) = self.spin_store(&s)?;
        Ok(blocking(move || db.get(&label, &key))
            .await?
            .map_err(spin_err))
    }

    async fn set(
        &mut self,
        s: Resource<SpinStore>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        let (label, db) = self.spin_store(&s)?;
        Ok(blocking(move || db.set(&label, &key, &value))
            .await?
            .map_err(spin_err))
    }

    async fn delete(
        &mut self,
        s: Resource<SpinStore>,
        key: String,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        let (label, db) = self.spin_store(&s)?;
        Ok(blocking(move || db.delete(&label, &key))
            .await?
            .map_err(spin_err))
    }

    async fn exists(
        &mut self,
        s: Resource<SpinStore>,
        key: String,
    ) -> wasmtime::Result<Result<bool, spin_kv::Error>> {
        let (label, db) = self.spin_store(&s)?;
        Ok(blocking(move || db.exists(&label, &key))
            .await?
            .map_err(spin_err))
    }

    async fn get_keys(
        &mut self,
        s: Resource<SpinStore>,
    ) -> wasmtime::Result<Result<Vec<String>, spin_kv::Error>> {
        let (label, db) = self.spin_store(&s)?;
        Ok(blocking(move || db.keys(&label)).await?.map_err(spin_err))
    }

    async fn drop(&mut self, s: Resource<SpinStore>) -> wasmtime::Result<()> {
        self.table.delete(s)?;
        Ok(())
    }
}
