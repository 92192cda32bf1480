//! A loopback JSON-RPC proxy in front of the local chain that counts the calls the
//! provider makes (a batch of N counts N) and the HTTP requests that carried them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;

/// A running proxy.
#[derive(Debug)]
pub struct RpcProxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    calls: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

impl RpcProxy {
    /// Starts a proxy forwarding to `upstream`.
    pub fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let calls = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let (c, r, upstream) = (
            Arc::clone(&calls),
            Arc::clone(&requests),
            upstream.to_owned(),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (c, r, upstream) = (Arc::clone(&c), Arc::clone(&r), upstream.clone());
                std::thread::spawn(move || serve(stream, &upstream, &c, &r));
            }
        });
        Self {
            url,
            calls,
            requests,
        }
    }

    /// JSON-RPC calls seen so far.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// HTTP requests seen so far.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn serve(stream: TcpStream, upstream: &str, calls: &AtomicUsize, requests: &AtomicUsize) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        let mut chunked = false;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
            if header
                .to_ascii_lowercase()
                .starts_with("transfer-encoding:")
                && header.to_ascii_lowercase().contains("chunked")
            {
                chunked = true;
            }
        }
        let body = if chunked {
            match read_chunked(&mut reader) {
                Some(body) => body,
                None => return,
            }
        } else {
            let mut body = vec![0u8; length];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            body
        };
        requests.fetch_add(1, Ordering::SeqCst);
        let count = match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Array(items)) => items.len(),
            _ => 1,
        };
        calls.fetch_add(count, Ordering::SeqCst);
        let answer = ureq::post(upstream)
            .header("content-type", "application/json")
            .send(&body[..])
            .ok()
            .and_then(|mut r| r.body_mut().read_to_vec().ok())
            .unwrap_or_default();
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            answer.len()
        );
        let mut out = head.into_bytes();
        out.extend_from_slice(&answer);
        if writer.write_all(&out).is_err() {
            return;
        }
    }
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        reader.read_line(&mut size_line).ok()?;
        let size = usize::from_str_radix(size_line.trim().split(';').next()?, 16).ok()?;
        let mut chunk = vec![0u8; size + 2];
        reader.read_exact(&mut chunk).ok()?;
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}
