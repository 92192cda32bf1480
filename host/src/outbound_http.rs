//! Outbound HTTP for components (`wasi:http/outgoing-handler`), replacing
//! wasmtime-wasi-http's default sender.
//!
//! For every request:
//! 1. the URL's scheme/host/port must match the component's `allowed_outbound_hosts`,
//!    else `HTTP-request-denied`;
//! 2. the host is resolved once (an IP literal is used as is); blocked addresses
//!    (see [`crate::netblock`]) are dropped; if none is left the answer is
//!    `destination-IP-prohibited`, and a DNS failure is `DNS-error`;
//! 3. the connection goes to one of the remaining *resolved* addresses, so the address
//!    that was checked is the address that is used (no DNS rebinding window);
//! 4. `https` uses rustls with the webpki roots; the request's `connect-timeout`,
//!    `first-byte-timeout` and `between-bytes-timeout` are honoured;
//! 5. the response body streams back to the guest; redirects are never followed.

use crate::allowed_hosts::AllowedHosts;
use crate::netblock::BlockList;
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody, WasiHttpHooks};

/// Default connect timeout (DNS + TCP + TLS) when the guest sets none.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default time to the response head when the guest sets none (as Spin).
pub const DEFAULT_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(600);
/// Default gap allowed between response body chunks when the guest sets none.
pub const DEFAULT_BETWEEN_BYTES_TIMEOUT: Duration = Duration::from_secs(600);

/// One component's outbound rules.
#[derive(Debug)]
pub struct OutboundPolicy {
    /// Component id (for log lines).
    pub component: String,
    /// Parsed `allowed_outbound_hosts`.
    pub allowed: AllowedHosts,
    /// Destination networks that may not be connected to.
    pub block: Arc<BlockList>,
    /// TLS client configuration (shared by all components).
    pub tls: Arc<rustls::ClientConfig>,
}

/// Builds the shared TLS client configuration (ring provider, webpki roots, HTTP/1.1).
pub fn tls_config() -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The `WasiHttpHooks` installed in every store: sends requests through [`send`].
#[derive(Clone, Debug)]
pub struct OutboundHooks {
    policy: Arc<OutboundPolicy>,
    /// Let `host` through while the host itself builds the incoming request (Spin
    /// passes the client's `Host` header to the guest). Always `false` while the guest
    /// runs, so guests still cannot set `host` on requests they create.
    pass_host: bool,
}

impl OutboundHooks {
    /// Hooks enforcing `policy`.
    pub fn new(policy: Arc<OutboundPolicy>) -> Self {
        Self {
            policy,
            pass_host: false,
        }
    }

    /// See the `pass_host` field.
    pub fn set_pass_host(&mut self, pass: bool) {
        self.pass_host = pass;
    }
}

type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

impl WasiHttpHooks for OutboundHooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), Error>> + Send> {
        let policy = self.policy.clone();
        Box::new(async move { send(&policy, request, options).await })
    }

    fn is_forbidden_header(&mut self, name: &http::HeaderName) -> bool {
        (self.forbidden_header_filter())(name)
    }

    fn forbidden_header_filter(&mut self) -> wasmtime_wasi_http::ForbiddenHeaderFilter {
        let pass_host = self.pass_host;
        Arc::new(move |name| {
            !(pass_host && name == http::header::HOST)
                && wasmtime_wasi_http::DEFAULT_FORBIDDEN_HEADERS.contains(name)
        })
    }
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// Aborts the connection task when dropped (e.g. the guest drops the response).
struct AbortOnDrop(tokio::task::JoinHandle<Result<(), hyper::Error>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn strip_brackets(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// Resolves `host` (name or IP literal) to socket addresses.
async fn resolve(host: &str, port: u16, timeout: Duration) -> Result<Vec<SocketAddr>, Error> {
    if let Ok(ip) = strip_brackets(host).parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let lookup = tokio::net::lookup_host((host, port));
    match tokio::time::timeout(timeout, lookup).await {
        Err(_) => Err(Error::DnsTimeout),
        Ok(Err(e)) => Err(Error::DnsError {
            rcode: Some(e.to_string()),
            info_code: None,
        }),
        Ok(Ok(addrs)) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                Err(Error::DnsError {
                    rcode: Some("no addresses".to_owned()),
                    info_code: None,
                })
            } else {
                Ok(addrs)
            }
        }
    }
}

/// Connects to the first reachable address, within `timeout` overall.
async fn connect(addrs: &[SocketAddr], timeout: Duration) -> Result<TcpStream, Error> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = Error::ConnectionRefused;
    for addr in addrs {
        match tokio::time::timeout_at(deadline, TcpStream::connect(addr)).await {
            Err(_) => return Err(Error::ConnectionTimeout),
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) => {
                last = match e.kind() {
                    std::io::ErrorKind::ConnectionRefused => Error::ConnectionRefused,
                    std::io::ErrorKind::TimedOut => Error::ConnectionTimeout,
                    _ => Error::Connect(e),
                }
            }
        }
    }
    Err(last)
}

fn tls_error(e: std::io::Error) -> Error {
    if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return match inner {
            rustls::Error::InvalidCertificate(_) => Error::TlsCertificateError,
            rustls::Error::AlertReceived(alert) => Error::TlsAlertReceived {
                alert_id: Some(u8::from(*alert)),
                alert_message: Some(format!("{alert:?}")),
            },
            _ => Error::TlsProtocolError,
        };
    }
    Error::Tls(e)
}

/// Sends one outbound request under `policy`. Returns the response (body streaming)
/// and the future that drives the connection.
pub async fn send(
    policy: &OutboundPolicy,
    mut req: http::Request<WasiBody>,
    options: Option<RequestOptions>,
) -> Result<(http::Response<WasiBody>, IoFuture), Error> {
    let uri = req.uri().clone();
    let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
    let use_tls = match scheme.as_str() {
        "http" => false,
        "https" => true,
        _ => return Err(Error::HttpProtocolError),
    };
    let host = uri.host().ok_or(Error::HttpRequestUriInvalid)?;
    let port = uri.port_u16().unwrap_or(if use_tls { 443 } else { 80 });

    if !policy.allowed.allows(&scheme, host, Some(port)) {
        crate::elog!(
            "spin-host: component `{}`: outbound request to {scheme}://{host}:{port} denied (not in allowed_outbound_hosts)",
            policy.component
        );
        return Err(Error::HttpRequestDenied);
    }

    let opt = options.unwrap_or_default();
    let connect_timeout = opt.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    let first_byte_timeout = opt.first_byte_timeout.unwrap_or(DEFAULT_FIRST_BYTE_TIMEOUT);
    let between_bytes_timeout = opt
        .between_bytes_timeout
        .unwrap_or(DEFAULT_BETWEEN_BYTES_TIMEOUT);
    let deadline = tokio::time::Instant::now() + connect_timeout;

    let resolved = resolve(host, port, connect_timeout).await?;
    let permitted: Vec<SocketAddr> = resolved
        .into_iter()
        .filter(|a| !policy.block.is_blocked(a.ip()))
        .collect();
    if permitted.is_empty() {
        crate::elog!(
            "spin-host: component `{}`: outbound request to {scheme}://{host}:{port} refused: destination address is in a blocked network",
            policy.component
        );
        return Err(Error::DestinationIpProhibited);
    }

    let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
    let tcp = connect(&permitted, remaining).await?;
    let stream: Box<dyn Stream> = if use_tls {
        let name = match strip_brackets(host).parse::<IpAddr>() {
            Ok(ip) => rustls::pki_types::ServerName::IpAddress(ip.into()),
            Err(_) => rustls::pki_types::ServerName::try_from(host.to_owned()).map_err(|_| {
                Error::DnsError {
                    rcode: Some("invalid DNS name".to_owned()),
                    info_code: None,
                }
            })?,
        };
        let connector = tokio_rustls::TlsConnector::from(policy.tls.clone());
        let tls = tokio::time::timeout_at(deadline, connector.connect(name, tcp))
            .await
            .map_err(|_| Error::ConnectionTimeout)?
            .map_err(tls_error)?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };

    let (mut sender, conn) = tokio::time::timeout_at(
        deadline,
        hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(stream)),
    )
    .await
    .map_err(|_| Error::ConnectionTimeout)??;
    let conn = AbortOnDrop(tokio::spawn(conn));

    // Origin-form request target; the Host header was set by wasmtime-wasi-http.
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    *req.uri_mut() = http::Uri::try_from(path).map_err(|_| Error::HttpRequestUriInvalid)?;

    let resp = tokio::time::timeout(first_byte_timeout, sender.send_request(req))
        .await
        .map_err(|_| Error::ConnectionReadTimeout)??;

    let resp = resp.map(|incoming| {
        TimeoutBody {
            inner: incoming,
            gap: between_bytes_timeout,
            timer: Box::pin(tokio::time::sleep(between_bytes_timeout)),
        }
        .boxed_unsync()
    });
    let io: IoFuture = Box::new(async move {
        let mut conn = conn;
        match (&mut conn.0).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) if e.is_timeout() => Err(Error::HttpResponseTimeout),
            Ok(Err(e)) => Err(Error::Hyper(e)),
            Err(e) => Err(Error::InternalError(Some(e.to_string()))),
        }
    });
    Ok((resp, io))
}

/// A response body that fails with `connection-read-timeout` when no frame arrives
/// within `gap`.
struct TimeoutBody {
    inner: hyper::body::Incoming,
    gap: Duration,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl Body for TimeoutBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let next = tokio::time::Instant::now() + this.gap;
                this.timer.as_mut().reset(next);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) if e.is_timeout() => {
                Poll::Ready(Some(Err(Error::HttpResponseTimeout)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Error::Hyper(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.timer.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Error::ConnectionReadTimeout))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
