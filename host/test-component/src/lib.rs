//! A tiny spin-sdk component used by `spin-host`'s integration tests.
//!
//! The operation is the request's `spin-path-info` (so the same wasm can be mounted
//! under several routes): `/echo` (default), `/var?name=`, `/kv/get|set|incr|cas-incr|
//! spin-get|spin-set?key=&store=&delta=`, `/outbound?url=`, `/stream?chunks=&size=`,
//! `/count` (reads the request body as a stream), `/status?code=`.

// `#[http_component]` expands to the wit-bindgen export glue (`export_name`, `unsafe`
// FFI shims); this crate itself contains no unsafe code.
#![allow(unsafe_code)]

use futures::{SinkExt, StreamExt};
use spin_sdk::http::{Fields, IncomingRequest, OutgoingResponse, Request, ResponseOutparam};
use spin_sdk::http_component;
use spin_sdk::wit::wasi::keyvalue::{atomics, store};

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v))
    })
}

fn header(req: &IncomingRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .first()
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

async fn respond(out: ResponseOutparam, status: u16, body: impl Into<Vec<u8>>) {
    let headers = Fields::from_list(&[("content-type".to_owned(), b"text/plain".to_vec())])
        .unwrap_or_else(|_| Fields::new());
    let resp = OutgoingResponse::new(headers);
    let _ = resp.set_status_code(status);
    if let Err(e) = out.set_with_body(resp, body.into()).await {
        eprintln!("test-component: cannot send body: {e:?}");
    }
}

fn store_error(e: &store::Error) -> (u16, String) {
    match e {
        store::Error::NoSuchStore => (404, "no-such-store".to_owned()),
        store::Error::AccessDenied => (403, "access-denied".to_owned()),
        store::Error::Other(m) => (500, format!("other: {m}")),
    }
}

async fn echo(req: IncomingRequest, out: ResponseOutparam) {
    let mut text = String::new();
    text.push_str(&format!("method: {}\n", req.method()));
    text.push_str(&format!(
        "path-with-query: {}\n",
        req.path_with_query().unwrap_or_default()
    ));
    text.push_str(&format!(
        "authority: {}\n",
        req.authority().unwrap_or_default()
    ));
    let mut entries = req.headers().entries();
    entries.sort();
    for (k, v) in entries {
        text.push_str(&format!("header {k}: {}\n", String::from_utf8_lossy(&v)));
    }
    let body = req.into_body().await.unwrap_or_default();
    text.push_str(&format!("body-len: {}\n", body.len()));
    respond(out, 200, text).await;
}

async fn kv(op: &str, query: &str, req: IncomingRequest, out: ResponseOutparam) {
    let label = query_param(query, "store").unwrap_or_else(|| "default".to_owned());
    let key = query_param(query, "key").unwrap_or_default();
    if op == "spin-get" || op == "spin-set" {
        let st = match spin_sdk::key_value::Store::open(&label) {
            Ok(s) => s,
            Err(e) => return respond(out, 500, format!("spin error: {e:?}")).await,
        };
        return if op == "spin-get" {
            match st.get(&key) {
                Ok(Some(v)) => respond(out, 200, v).await,
                Ok(None) => respond(out, 404, "missing").await,
                Err(e) => respond(out, 500, format!("spin error: {e:?}")).await,
            }
        } else {
            let body = req.into_body().await.unwrap_or_default();
            match st.set(&key, &body) {
                Ok(()) => respond(out, 200, "ok").await,
                Err(e) => respond(out, 500, format!("spin error: {e:?}")).await,
            }
        };
    }
    let bucket = match store::open(&label) {
        Ok(b) => b,
        Err(e) => {
            let (status, msg) = store_error(&e);
            return respond(out, status, msg).await;
        }
    };
    let result: Result<(u16, Vec<u8>), store::Error> = match op {
        "get" => bucket.get(&key).map(|v| match v {
            Some(v) => (200, v),
            None => (404, b"missing".to_vec()),
        }),
        "set" => {
            let body = req.into_body().await.unwrap_or_default();
            bucket.set(&key, &body).map(|()| (200, b"ok".to_vec()))
        }
        "incr" => {
            let delta = query_param(query, "delta")
                .and_then(|d| d.parse().ok())
                .unwrap_or(1);
            atomics::increment(&bucket, &key, delta).map(|n| (200, n.to_string().into_bytes()))
        }
        "cas-incr" => loop {
            let cas = match atomics::Cas::new(&bucket, &key) {
                Ok(c) => c,
                Err(e) => break Err(e),
            };
            let current = match cas.current() {
                Ok(c) => c,
                Err(e) => break Err(e),
            };
            let n: u64 = current
                .and_then(|v| String::from_utf8(v).ok())
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            let next = (n + 1).to_string();
            match atomics::swap(cas, next.as_bytes()) {
                Ok(()) => break Ok((200, next.into_bytes())),
                Err(atomics::CasError::CasFailed(_)) => continue,
                Err(atomics::CasError::StoreError(e)) => break Err(e),
            }
        },
        _ => Ok((400, b"unknown kv op".to_vec())),
    };
    match result {
        Ok((status, body)) => respond(out, status, body).await,
        Err(e) => {
            let (status, msg) = store_error(&e);
            respond(out, status, msg).await
        }
    }
}

async fn outbound(query: &str, out: ResponseOutparam) {
    let Some(url) = query_param(query, "url") else {
        return respond(out, 400, "missing url").await;
    };
    let request = Request::get(url).build();
    match spin_sdk::http::send::<_, spin_sdk::http::Response>(request).await {
        Ok(resp) => {
            let mut text = format!("status: {}\n", resp.status()).into_bytes();
            text.extend_from_slice(resp.body());
            respond(out, 200, text).await;
        }
        Err(spin_sdk::http::SendError::Http(code)) => {
            respond(out, 502, format!("error: {code:?}")).await;
        }
        Err(e) => respond(out, 502, format!("error: {e:?}")).await,
    }
}

async fn stream(query: &str, out: ResponseOutparam) {
    let chunks: usize = query_param(query, "chunks")
        .and_then(|c| c.parse().ok())
        .unwrap_or(4);
    let size: usize = query_param(query, "size")
        .and_then(|c| c.parse().ok())
        .unwrap_or(65536);
    let resp = OutgoingResponse::new(Fields::new());
    let _ = resp.set_status_code(200);
    let mut body = resp.take_body();
    out.set(resp);
    for i in 0..chunks {
        let byte = b'a' + (i % 26) as u8;
        if let Err(e) = body.send(vec![byte; size]).await {
            eprintln!("test-component: stream aborted: {e:?}");
            return;
        }
    }
}

async fn count(req: IncomingRequest, out: ResponseOutparam) {
    let mut total: u64 = 0;
    let mut sum: u64 = 0;
    let mut body = req.into_body_stream();
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(c) => {
                total += c.len() as u64;
                sum = c.iter().fold(sum, |s, b| s.wrapping_add(u64::from(*b)));
            }
            Err(e) => return respond(out, 500, format!("body error: {e:?}")).await,
        }
    }
    respond(out, 200, format!("{total} {sum}")).await;
}

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    let pq = req.path_with_query().unwrap_or_default();
    let query = pq
        .split_once('?')
        .map(|(_, q)| q.to_owned())
        .unwrap_or_default();
    let info = header(&req, "spin-path-info").unwrap_or_default();
    let op = info.trim_matches('/').to_owned();
    match op.as_str() {
        "" | "echo" => echo(req, out).await,
        "var" => {
            let name = query_param(&query, "name").unwrap_or_default();
            match spin_sdk::variables::get(&name) {
                Ok(v) => respond(out, 200, v).await,
                Err(spin_sdk::variables::Error::Undefined(_)) => {
                    respond(out, 404, "undefined").await
                }
                Err(spin_sdk::variables::Error::InvalidName(_)) => {
                    respond(out, 400, "invalid-name").await
                }
                Err(e) => respond(out, 500, format!("{e:?}")).await,
            }
        }
        "outbound" => outbound(&query, out).await,
        "stream" => stream(&query, out).await,
        "count" => count(req, out).await,
        "status" => {
            let code = query_param(&query, "code")
                .and_then(|c| c.parse().ok())
                .unwrap_or(200);
            respond(out, code, "").await
        }
        other => match other.strip_prefix("kv/") {
            Some(kv_op) => kv(kv_op, &query, req, out).await,
            None => respond(out, 404, format!("unknown op {other}")).await,
        },
    }
}
