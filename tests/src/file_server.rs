//! A loopback HTTP/1.1 server standing in for everything the provider fetches: file
//! origins with every awkward behaviour, an Aquarius, IPFS and Arweave gateways and a
//! GraphQL endpoint. Routes:
//!
//! - `GET|HEAD /files/<name>`: the content, `Content-Length`, `Range` support (206).
//! - `GET /chunked/<name>`: chunked, no length, ignores `Range`, refuses `HEAD` (405).
//! - `GET /nohead/<name>`: like `/files` but `HEAD` is 405.
//! - `POST /rbac/allow`, `POST /rbac/deny`: an RBAC server answering `true` / `false`
//!   (requests recorded).
//! - `GET /dying/<name>`: chunked, sends the first half, then closes the connection
//!   without the terminating chunk (an origin that dies mid-body).
//! - `GET /redirect/<n>/<name>`: `n` redirects, then `/files/<name>`.
//! - `GET /redirect-to?<url>`: one redirect to `<url>`.
//! - `GET /slow/<name>`: waits 5 s before answering.
//! - `GET|HEAD /failing/<status>/<name>`: answers `<status>` with an error page that
//!   names a bucket and a key (as object stores do) and an `x-amz-request-id` header.
//! - `GET /api/aquarius/assets/ddo/<did>`: a registered DDO, else 404.
//! - `GET /ipfs/<cid>`, `GET /arweave/<tx>`: registered contents.
//! - `POST /graphql`: `{"data": {"echo": <variables>}}`.
//! - `POST /files/<name>`: the content (for POST url files).
//!   Anything else: 404. Every request is counted per path.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

/// The error page of `/failing/...`: what an object store tells whoever asks.
pub const FAILING_PAGE: &[u8] = b"<Error><Code>NoSuchKey</Code><BucketName>secret-bucket</BucketName><Key>private/data.csv</Key></Error>";

#[derive(Debug, Default)]
struct State {
    files: HashMap<String, Vec<u8>>,
    ddos: HashMap<String, Value>,
    hits: Vec<(String, String)>,
    operator_calls: Vec<OperatorCall>,
    rbac_calls: Vec<Value>,
    /// Proof-of-download posts: (sink mode, form body).
    proofs: Vec<(String, String)>,
    /// Whether the `gated` proof sink may answer.
    proof_gate_open: bool,
    /// Jobs the operator stand-in reports by owner (see `add_operator_job`).
    operator_jobs: Vec<Value>,
}

/// A request the operator stand-in received.
#[derive(Debug, Clone)]
pub struct OperatorCall {
    /// Method.
    pub method: String,
    /// Path after `/api/v1/operator/`.
    pub path: String,
    /// Decoded query parameters.
    pub query: HashMap<String, String>,
    /// JSON body (Null when none).
    pub body: Value,
    /// The request's headers (lowercase names), to check its framing.
    pub headers: HashMap<String, String>,
}

/// A running server.
#[derive(Debug, Clone)]
pub struct FileServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl FileServer {
    /// Starts a server on a free loopback port.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                std::thread::spawn(move || serve(stream, &state));
            }
        });
        Self { url, state }
    }

    /// Registers content under a name (used by /files, /chunked, /ipfs, /arweave...).
    pub fn add_file(&self, name: &str, content: Vec<u8>) {
        self.state
            .lock()
            .unwrap()
            .files
            .insert(name.to_owned(), content);
    }

    /// Registers a DDO under its `id`.
    pub fn add_ddo(&self, ddo: Value) {
        let id = ddo["id"].as_str().unwrap().to_owned();
        self.state.lock().unwrap().ddos.insert(id, ddo);
    }

    /// How many requests (of any method) reached `path` (without query).
    pub fn hits(&self, path: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .hits
            .iter()
            .filter(|(_, p)| p == path)
            .count()
    }

    /// Every request body the RBAC stand-in received, in order.
    pub fn rbac_calls(&self) -> Vec<Value> {
        self.state.lock().unwrap().rbac_calls.clone()
    }

    /// The form bodies the proof sink `/proof/<mode>` received, in order.
    pub fn proofs(&self, mode: &str) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .proofs
            .iter()
            .filter(|(m, _)| m == mode)
            .map(|(_, body)| body.clone())
            .collect()
    }

    /// Closes (or opens) the gate of `/proof/gated`: while closed, that sink records a
    /// proof at once but answers only when the gate opens (at most 60 s later).
    pub fn set_proof_gate(&self, open: bool) {
        self.state.lock().unwrap().proof_gate_open = open;
    }

    /// Adds a job the operator stand-in reports on `GET compute` for its `owner`
    /// (and `jobId`, when asked). Other queries get the fixed answer
    /// `[{"jobId": "job-1", "status": 70, ...}]`.
    pub fn add_operator_job(&self, job: Value) {
        self.state.lock().unwrap().operator_jobs.push(job);
    }

    /// Every request the operator stand-in received, in order.
    pub fn operator_calls(&self) -> Vec<OperatorCall> {
        self.state.lock().unwrap().operator_calls.clone()
    }

    /// Methods used on `path`, in order.
    pub fn methods(&self, path: &str) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .hits
            .iter()
            .filter(|(_, p)| p == path)
            .map(|(m, _)| m.clone())
            .collect()
    }
}

struct Request {
    method: String,
    path: String,
    query: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let mut body = Vec::new();
    if let Some(length) = headers
        .get("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line).ok()?;
            let size = usize::from_str_radix(size_line.trim(), 16).ok()?;
            let mut chunk = vec![0u8; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_owned(), q.to_owned()),
        None => (target, String::new()),
    };
    Some(Request {
        method,
        path,
        query,
        headers,
        body,
    })
}

fn respond(
    stream: &mut TcpStream,
    status: u16,
    headers: &[(&str, String)],
    body: &[u8],
    head_only: bool,
) -> bool {
    let reason = match status {
        200 => "OK",
        206 => "Partial Content",
        302 => "Found",
        404 => "Not Found",
        405 => "Method Not Allowed",
        416 => "Range Not Satisfiable",
        _ => "Status",
    };
    let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    // Head and body in one write, as nginx and object stores send them (a head written
    // on its own would meet Nagle and the client's delayed ACK on keep-alive
    // connections, and the tests would measure that instead of the provider).
    let mut out = head.into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    stream.write_all(&out).is_ok()
}

fn range_of(header: Option<&String>, len: usize) -> Option<(usize, usize)> {
    let spec = header?.strip_prefix("bytes=")?;
    let (start, end) = spec.split_once('-')?;
    if start.is_empty() {
        let suffix: usize = end.parse().ok()?;
        return Some((len.saturating_sub(suffix), len.checked_sub(1)?));
    }
    let start: usize = start.parse().ok()?;
    let end: usize = if end.is_empty() {
        len.checked_sub(1)?
    } else {
        end.parse::<usize>().ok()?.min(len.checked_sub(1)?)
    };
    (start <= end).then_some((start, end))
}

fn serve_file(stream: &mut TcpStream, request: &Request, content: &[u8], head_only: bool) -> bool {
    serve_file_with(stream, request, content, head_only, None)
}

fn serve_file_with(
    stream: &mut TcpStream,
    request: &Request,
    content: &[u8],
    head_only: bool,
    disposition: Option<&str>,
) -> bool {
    let ty = ("content-type", "text/csv; charset=utf-8".to_owned());
    let mut extra = Vec::new();
    if let Some(disposition) = disposition {
        extra.push(("content-disposition", disposition.to_owned()));
    }
    if let Some(header) = request.headers.get("range") {
        return match range_of(Some(header), content.len()) {
            Some((start, end)) => respond(
                stream,
                206,
                &[
                    ty,
                    ("accept-ranges", "bytes".into()),
                    (
                        "content-range",
                        format!("bytes {start}-{end}/{}", content.len()),
                    ),
                ],
                &content[start..=end],
                head_only,
            ),
            None => respond(
                stream,
                416,
                &[("content-range", format!("bytes */{}", content.len()))],
                b"",
                head_only,
            ),
        };
    }
    respond(
        stream,
        200,
        &[ty, ("accept-ranges", "bytes".into())],
        content,
        head_only,
    )
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader) {
        state
            .lock()
            .unwrap()
            .hits
            .push((request.method.clone(), request.path.clone()));
        let head_only = request.method == "HEAD";
        let segments: Vec<&str> = request
            .path
            .trim_start_matches('/')
            .splitn(3, '/')
            .collect();
        let file = |name: &str| state.lock().unwrap().files.get(name).cloned();
        let keep_going = match (request.method.as_str(), segments.as_slice()) {
            ("GET" | "HEAD" | "POST", ["files", name]) => match file(name) {
                Some(content) => serve_file(&mut writer, &request, &content, head_only),
                None => respond(&mut writer, 404, &[], b"not found", head_only),
            },
            ("HEAD", ["nohead" | "chunked" | "dying", _]) => {
                respond(&mut writer, 405, &[], b"", true)
            }
            ("GET" | "HEAD", ["failing", status, _]) => {
                let status = status.parse::<u16>().unwrap_or(500);
                respond(
                    &mut writer,
                    status,
                    &[
                        ("content-type", "application/xml".into()),
                        ("x-amz-request-id", "SECRET-REQUEST-ID".into()),
                    ],
                    FAILING_PAGE,
                    head_only,
                )
            }
            ("GET", ["nohead", name]) => match file(name) {
                Some(content) => serve_file(&mut writer, &request, &content, false),
                None => respond(&mut writer, 404, &[], b"", false),
            },
            ("GET", ["chunked", name]) => match file(name) {
                Some(content) => {
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                    let mut ok = writer.write_all(head.as_bytes()).is_ok();
                    for chunk in content.chunks(1000) {
                        ok = ok
                            && writer
                                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                                .is_ok();
                        ok = ok
                            && writer.write_all(chunk).is_ok()
                            && writer.write_all(b"\r\n").is_ok();
                    }
                    ok && writer.write_all(b"0\r\n\r\n").is_ok()
                }
                None => respond(&mut writer, 404, &[], b"", false),
            },
            // An RBAC server: records the request, answers the verdict in the path.
            ("POST", ["rbac", verdict]) => {
                let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
                state.lock().unwrap().rbac_calls.push(body);
                let answer = if *verdict == "allow" { "true" } else { "false" };
                respond(
                    &mut writer,
                    200,
                    &[("content-type", "application/json".to_owned())],
                    answer.as_bytes(),
                    false,
                )
            }
            // A proof-of-download sink: records the form, then answers by mode: `ok`
            // 200, `fail` 500, `gated` 200 once the test opens the gate.
            ("POST", ["proof", mode]) => {
                let body = String::from_utf8_lossy(&request.body).into_owned();
                state
                    .lock()
                    .unwrap()
                    .proofs
                    .push(((*mode).to_owned(), body));
                if *mode == "gated" {
                    let deadline = std::time::Instant::now() + Duration::from_secs(60);
                    while !state.lock().unwrap().proof_gate_open
                        && std::time::Instant::now() < deadline
                    {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                }
                let status = if *mode == "fail" { 500 } else { 200 };
                respond(&mut writer, status, &[], b"", false)
            }
            // Chunked, and the origin dies half-way: no terminating chunk, connection closed.
            ("GET", ["dying", name]) => match file(name) {
                Some(content) => {
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                    let mut ok = writer.write_all(head.as_bytes()).is_ok();
                    for chunk in content[..content.len() / 2].chunks(1000) {
                        ok = ok
                            && writer
                                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                                .is_ok()
                            && writer.write_all(chunk).is_ok()
                            && writer.write_all(b"\r\n").is_ok();
                    }
                    let _ = writer.flush();
                    std::thread::sleep(Duration::from_millis(200));
                    let _ = writer.shutdown(std::net::Shutdown::Both);
                    let _ = ok;
                    false
                }
                None => respond(&mut writer, 404, &[], b"", false),
            },
            ("GET" | "HEAD", ["redirect", count, name]) => {
                let n: usize = count.parse().unwrap_or(0);
                let location = if n <= 1 {
                    format!("/files/{name}")
                } else {
                    format!("/redirect/{}/{name}", n - 1)
                };
                respond(&mut writer, 302, &[("location", location)], b"", head_only)
            }
            ("GET" | "HEAD", ["redirect-to"]) => {
                let target = crate::percent_decode(&request.query);
                respond(&mut writer, 302, &[("location", target)], b"", head_only)
            }
            ("GET" | "HEAD", ["slow", name]) => {
                std::thread::sleep(Duration::from_secs(5));
                match file(name) {
                    Some(content) => serve_file(&mut writer, &request, &content, head_only),
                    None => respond(&mut writer, 404, &[], b"", head_only),
                }
            }
            ("GET", ["api", "aquarius", rest]) => {
                let did = rest.trim_start_matches("assets/ddo/");
                let ddo = state.lock().unwrap().ddos.get(did).cloned();
                match ddo {
                    Some(ddo) => respond(
                        &mut writer,
                        200,
                        &[("content-type", "application/json".into())],
                        ddo.to_string().as_bytes(),
                        false,
                    ),
                    None => respond(
                        &mut writer,
                        404,
                        &[("content-type", "application/json".into())],
                        br#"{"error":"not found"}"#,
                        false,
                    ),
                }
            }
            ("GET" | "HEAD", ["ipfs" | "arweave", name]) => match file(name) {
                Some(content) => serve_file(&mut writer, &request, &content, head_only),
                None => respond(&mut writer, 404, &[], b"", head_only),
            },
            (method, ["api", "v1", rest]) if rest.starts_with("operator/") => {
                let op_path = rest.trim_start_matches("operator/").to_owned();
                let query: HashMap<String, String> =
                    ocean_provider::request::parse_query(&request.query)
                        .into_iter()
                        .collect();
                let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
                state.lock().unwrap().operator_calls.push(OperatorCall {
                    method: method.to_owned(),
                    path: op_path.clone(),
                    query: query.clone(),
                    body,
                    headers: request.headers.clone(),
                });
                let json_type = ("content-type", "application/json".to_owned());
                match (method, op_path.as_str()) {
                    ("GET", "environments") => {
                        let envs = json!([
                            {"id": "env1", "consumerAddress": crate::Account::named(crate::C2D_ENVIRONMENT).address, "priceMin": 1, "maxJobDuration": 259200, "maxJobs": 10, "currentJobs": 0, "desc": "one token per minute"},
                            {"id": "env2", "consumerAddress": "0x0000000000000000000000000000000000000e02", "priceMin": 0, "maxJobDuration": 3600, "maxJobs": 1, "currentJobs": 0, "desc": "free"}
                        ]);
                        respond(
                            &mut writer,
                            200,
                            &[json_type],
                            envs.to_string().as_bytes(),
                            false,
                        )
                    }
                    ("POST", "compute") => respond(
                        &mut writer,
                        200,
                        &[json_type],
                        br#"[{"jobId":"job-1","status":1,"statusText":"Job started"}]"#,
                        false,
                    ),
                    ("GET", "compute") => {
                        let owner = query.get("owner").cloned().unwrap_or_default();
                        let owned: Vec<Value> = state
                            .lock()
                            .unwrap()
                            .operator_jobs
                            .iter()
                            .filter(|job| {
                                job["owner"]
                                    .as_str()
                                    .is_some_and(|o| o.eq_ignore_ascii_case(&owner))
                            })
                            .cloned()
                            .collect();
                        let wanted = query.get("jobId");
                        let matching: Vec<Value> = owned
                            .into_iter()
                            .filter(|job| wanted.is_none_or(|id| job["jobId"].as_str() == Some(id)))
                            .collect();
                        let answer = if matching.is_empty() {
                            json!([{"jobId": "job-1", "status": 70, "statusText": "Job finished"}])
                        } else {
                            Value::Array(matching)
                        };
                        respond(
                            &mut writer,
                            200,
                            &[json_type],
                            answer.to_string().as_bytes(),
                            false,
                        )
                    }
                    ("PUT", "compute") => respond(
                        &mut writer,
                        200,
                        &[json_type],
                        br#"[{"jobId":"job-1","status":7,"statusText":"Job stopped"}]"#,
                        false,
                    ),
                    ("DELETE", "compute") => respond(
                        &mut writer,
                        200,
                        &[json_type],
                        br#"[{"jobId":"job-1","status":0,"statusText":"Job deleted"}]"#,
                        false,
                    ),
                    ("GET", "getResult") => {
                        let name =
                            format!("result-{}", query.get("index").cloned().unwrap_or_default());
                        match file(&name) {
                            Some(content) => {
                                let mut req = Request {
                                    method: request.method.clone(),
                                    path: request.path.clone(),
                                    query: String::new(),
                                    headers: request.headers.clone(),
                                    body: Vec::new(),
                                };
                                req.headers.remove("content-disposition");
                                serve_file_with(
                                    &mut writer,
                                    &req,
                                    &content,
                                    false,
                                    Some("attachment; filename=output.tar"),
                                )
                            }
                            None => respond(&mut writer, 404, &[], b"", false),
                        }
                    }
                    _ => respond(&mut writer, 404, &[], b"", false),
                }
            }
            ("POST", ["graphql"]) => {
                let query: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
                let answer = json!({"data": {"query": query["query"], "echo": query["variables"]}})
                    .to_string();
                respond(
                    &mut writer,
                    200,
                    &[("content-type", "application/json".into())],
                    answer.as_bytes(),
                    false,
                )
            }
            _ => respond(&mut writer, 404, &[], b"not found", head_only),
        };
        if !keep_going
            || request
                .headers
                .get("connection")
                .is_some_and(|v| v.eq_ignore_ascii_case("close"))
        {
            return;
        }
    }
}
