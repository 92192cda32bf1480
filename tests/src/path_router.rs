//! A path-routing reverse proxy for the per-endpoint deployment test: one provider
//! process per endpoint group (`-c <component>`), and in front of them the routes of
//! `spin.toml` (exact paths, the longest match wins, `/...` is the fallback), as an
//! Ingress or HTTPRoute in front of per-component SpinApps does.
//!
//! One request per connection: the request head gets `Connection: close`, the answer
//! is relayed until the backend closes.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A running router.
#[derive(Debug)]
pub struct PathRouter {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    hits: Arc<std::sync::Mutex<BTreeMap<String, usize>>>,
    connections: Arc<AtomicUsize>,
}

impl PathRouter {
    /// Routes each path of `routes` (route → backend `host:port`); `fallback` takes
    /// the rest.
    pub fn start(routes: BTreeMap<String, String>, fallback: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(std::sync::Mutex::new(BTreeMap::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let routes = Arc::new(routes);
        let (h, c) = (Arc::clone(&hits), Arc::clone(&connections));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (routes, fallback, hits) =
                    (Arc::clone(&routes), fallback.clone(), Arc::clone(&h));
                c.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || relay(stream, &routes, &fallback, &hits));
            }
        });
        Self {
            url,
            hits,
            connections,
        }
    }

    /// Requests relayed per backend address.
    pub fn hits(&self) -> BTreeMap<String, usize> {
        self.hits.lock().unwrap().clone()
    }

    /// Connections accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

fn relay(
    client: TcpStream,
    routes: &BTreeMap<String, String>,
    fallback: &str,
    hits: &std::sync::Mutex<BTreeMap<String, usize>>,
) {
    let Ok(mut writer) = client.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(client);
    let mut head = Vec::new();
    let mut content_length = 0usize;
    let mut first = String::new();
    if reader.read_line(&mut first).unwrap_or(0) == 0 {
        return;
    }
    head.extend_from_slice(first.as_bytes());
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("connection:") {
            continue;
        }
        if let Some(value) = lower.strip_prefix("content-length:") {
            content_length = value.trim().parse().unwrap_or(0);
        }
        head.extend_from_slice(line.as_bytes());
    }
    head.extend_from_slice(b"connection: close\r\n\r\n");
    let mut body = vec![0u8; content_length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let path = first
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .split('?')
        .next()
        .unwrap_or("/")
        .trim_end_matches('/');
    let backend = routes.get(path).map_or(fallback, String::as_str).to_owned();
    *hits.lock().unwrap().entry(backend.clone()).or_default() += 1;
    let Ok(mut upstream) = TcpStream::connect(&backend) else {
        let _ = writer.write_all(
            b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        );
        return;
    };
    if upstream.write_all(&head).is_err() || upstream.write_all(&body).is_err() {
        return;
    }
    let _ = std::io::copy(&mut upstream, &mut writer);
}
