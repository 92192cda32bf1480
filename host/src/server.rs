//! The HTTP/1.1 server: routing, Spin's request headers, one fresh instance per request.

use crate::app::App;
use crate::instance::InstanceState;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::net::TcpListener;
use wasmtime::Store;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Server settings.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// Do not log one line per request.
    pub quiet: bool,
    /// Set `TCP_NODELAY` on accepted connections (Spin 4.0.2 never does).
    pub tcp_nodelay: bool,
}

/// State shared by all connections.
#[derive(Debug)]
struct Shared {
    app: App,
    opts: ServeOptions,
    local: SocketAddr,
}

fn empty(status: StatusCode) -> Response<HyperOutgoingBody> {
    let mut r = Response::new(
        Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *r.status_mut() = status;
    r
}

fn set(req: &mut Request<Incoming>, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        req.headers_mut().insert(HeaderName::from_static(name), v);
    }
}

impl Shared {
    async fn handle(
        self: Arc<Self>,
        mut req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<HyperOutgoingBody> {
        let start = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();

        let resp = match self.app.router.route(&path) {
            None => empty(StatusCode::NOT_FOUND),
            Some(m) => {
                let route = m.route;
                let host = match req.headers().get(http::header::HOST) {
                    Some(h) => h.to_str().unwrap_or_default().to_owned(),
                    None => {
                        let h = self.local.to_string();
                        set(&mut req, "host", &h);
                        h
                    }
                };
                let pq = req
                    .uri()
                    .path_and_query()
                    .map(|p| p.as_str().to_owned())
                    .unwrap_or_else(|| path.clone());
                let component_route = route.raw.strip_suffix("/...").unwrap_or(&route.raw);
                set(&mut req, "spin-full-url", &format!("http://{host}{pq}"));
                set(&mut req, "spin-path-info", &m.path_info);
                set(&mut req, "spin-matched-route", &route.pattern.to_string());
                set(&mut req, "spin-raw-component-route", &route.raw);
                set(&mut req, "spin-component-route", component_route);
                set(&mut req, "spin-base-path", "/");
                set(&mut req, "spin-client-addr", &peer.to_string());
                let component = route.component.clone();
                match self.invoke(&component, req).await {
                    Some(r) => r,
                    None => empty(StatusCode::INTERNAL_SERVER_ERROR),
                }
            }
        };

        if !self.opts.quiet {
            // Never the query string, headers or bodies: they carry signatures/tokens.
            crate::elog!(
                "{method} {path} {} {:.1}ms",
                resp.status().as_u16(),
                start.elapsed().as_secs_f64() * 1000.0
            );
        }
        resp
    }

    /// Runs `component` on `req` in a fresh instance. `None` (logged) on failure.
    async fn invoke(
        &self,
        component: &str,
        req: Request<Incoming>,
    ) -> Option<Response<HyperOutgoingBody>> {
        let Some(loaded) = self.app.components.get(component) else {
            crate::elog!("spin-host: no component `{component}`");
            return None;
        };
        let mut store = Store::new(&self.app.engine, InstanceState::new(loaded.runtime.clone()));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let prepared = (|| -> wasmtime::Result<_> {
            let req = store.data_mut().new_incoming_request(req)?;
            let out = store.data_mut().http().new_response_outparam(tx)?;
            Ok((req, out))
        })();
        let (wasi_req, out) = match prepared {
            Ok(x) => x,
            Err(e) => {
                crate::elog!("spin-host: component `{component}`: bad request: {e}");
                return None;
            }
        };
        let pre = loaded.pre.clone();
        let id = component.to_owned();
        // The instance runs in its own task so it can keep streaming the response body
        // after the head has been returned.
        let task = tokio::spawn(async move {
            let result = async {
                let proxy = pre.instantiate_async(&mut store).await?;
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, wasi_req, out)
                    .await
            }
            .await;
            if let Err(e) = &result {
                crate::elog!("spin-host: component `{id}` failed: {e:?}");
            }
            result.is_ok()
        });
        match rx.await {
            Ok(Ok(resp)) => Some(resp),
            Ok(Err(code)) => {
                crate::elog!("spin-host: component `{component}` returned error {code:?}");
                None
            }
            Err(_) => {
                // The guest finished (or failed, already logged) without a response.
                if matches!(task.await, Ok(true)) {
                    crate::elog!("spin-host: component `{component}` did not set a response");
                }
                None
            }
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves.
pub async fn serve(
    app: App,
    listener: TcpListener,
    opts: ServeOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let local = listener.local_addr()?;
    let shared = Arc::new(Shared { app, opts, local });
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    // e.g. EMFILE: back off briefly instead of spinning.
                    crate::elog!("spin-host: accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        if opts.tcp_nodelay {
            let _ = stream.set_nodelay(true);
        }
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(shared.handle(req, peer).await) }
            });
            // Errors here are client disconnects and protocol errors: nothing to do.
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
