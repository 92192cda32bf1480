//! Redis key-value storage, configured as Spin configures it:
//!
//! ```toml
//! [key_value_store.default]
//! type = "redis"
//! url = "redis://127.0.0.1:6379"
//! ```
//!
//! Keys and values are stored as they are (no prefix), as Spin's Redis store does, so
//! several hosts, several `spin up` processes or SpinKube pods pointed at one server
//! share one store. Semantics:
//! - `increment` is `INCRBY` (atomic on the server; the value is Redis' decimal text);
//! - compare-and-swap is one Lua script that compares and writes in one step, and
//!   reports success only when it wrote (Spin 4.0.2's Redis store reports every CAS as
//!   failed; the components rely only on `increment`, so they stay correct there);
//! - `get_many` is `MGET`, `set_many` is `MSET`, `delete_many` one `DEL`.
//!
//! A small RESP2 client over a pool of blocking connections: a connection that fails is
//! dropped and the next call dials again, so a Redis restart shows as errors (the
//! components answer 503) while it is down and heals by itself afterwards.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Mutex;
use std::time::Duration;

use crate::kv::KvError;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const IO_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_IDLE: usize = 16;

/// Compare-and-swap: `ARGV[1]` is `1` when the caller saw a value (`ARGV[2]`), `0`
/// when it saw none; `ARGV[3]` is the new value. Returns 1 when it wrote.
const CAS_SCRIPT: &str = "local v = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if v then return 0 end
elseif v ~= ARGV[2] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3])
return 1";

/// A parsed `redis://[user:password@]host[:port][/db]` URL.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl {
    host: String,
    port: u16,
    username: Option<String>,
    password: Option<String>,
    db: u32,
}

impl std::fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the password.
        write!(f, "redis://{}:{}/{}", self.host, self.port, self.db)
    }
}

impl RedisUrl {
    /// Parses the URL; `rediss://` (TLS) is refused with a clear message.
    pub fn parse(url: &str) -> Result<Self, String> {
        let rest = match url.split_once("://") {
            Some(("redis", rest)) => rest,
            Some(("rediss", _)) => {
                return Err("rediss:// (TLS) is not supported by spin-host; use redis://".into());
            }
            _ => return Err("the url must start with redis://".into()),
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        let (username, password) = match userinfo {
            None => (None, None),
            Some(info) => match info.split_once(':') {
                Some((user, pass)) => (
                    (!user.is_empty()).then(|| user.to_owned()),
                    Some(pass.to_owned()),
                ),
                None => (None, Some(info.to_owned())),
            },
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse::<u16>()
                    .map_err(|_| format!("invalid port {port:?}"))?,
            ),
            None => (hostport, 6379),
        };
        if host.is_empty() {
            return Err("the url names no host".into());
        }
        let db = match path.trim_matches('/') {
            "" => 0,
            n => n.parse().map_err(|_| format!("invalid database {n:?}"))?,
        };
        Ok(Self {
            host: host.trim_matches(['[', ']']).to_owned(),
            port,
            username,
            password,
            db,
        })
    }
}

/// A reply.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

fn io(e: std::io::Error) -> KvError {
    KvError::Other(format!("redis: {e}"))
}

impl Connection {
    fn open(url: &RedisUrl) -> Result<Self, KvError> {
        let address = (url.host.as_str(), url.port)
            .to_socket_addrs()
            .map_err(io)?
            .next()
            .ok_or_else(|| KvError::Other("redis: the host does not resolve".into()))?;
        let stream = TcpStream::connect_timeout(&address, CONNECT_TIMEOUT).map_err(io)?;
        stream.set_read_timeout(Some(IO_TIMEOUT)).map_err(io)?;
        stream.set_write_timeout(Some(IO_TIMEOUT)).map_err(io)?;
        let _ = stream.set_nodelay(true);
        let mut conn = Self {
            reader: BufReader::new(stream.try_clone().map_err(io)?),
            writer: stream,
        };
        if let Some(password) = &url.password {
            let mut auth: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(user) = &url.username {
                auth.push(user.as_bytes());
            }
            auth.push(password.as_bytes());
            conn.expect_ok(&auth)?;
        }
        if url.db != 0 {
            let db = url.db.to_string();
            conn.expect_ok(&[b"SELECT", db.as_bytes()])?;
        }
        Ok(conn)
    }

    fn expect_ok(&mut self, args: &[&[u8]]) -> Result<(), KvError> {
        match self.call(args)? {
            Reply::Simple(_) => Ok(()),
            Reply::Error(e) => Err(KvError::Other(format!("redis: {e}"))),
            other => Err(KvError::Other(format!("redis: unexpected reply {other:?}"))),
        }
    }

    fn call(&mut self, args: &[&[u8]]) -> Result<Reply, KvError> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&out).map_err(io)?;
        self.read_reply()
    }

    fn line(&mut self) -> Result<String, KvError> {
        let mut line = String::new();
        if self.reader.read_line(&mut line).map_err(io)? == 0 {
            return Err(KvError::Other("redis: connection closed".into()));
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }

    fn read_reply(&mut self) -> Result<Reply, KvError> {
        let line = self.line()?;
        let (kind, rest) = line.split_at(line.len().min(1));
        let number = || {
            rest.parse::<i64>()
                .map_err(|_| KvError::Other("redis: malformed reply".into()))
        };
        Ok(match kind {
            "+" => Reply::Simple(rest.to_owned()),
            "-" => Reply::Error(rest.to_owned()),
            ":" => Reply::Integer(number()?),
            "$" => match number()? {
                n if n < 0 => Reply::Bulk(None),
                n => {
                    let mut data = vec![0u8; usize::try_from(n).unwrap_or(0) + 2];
                    self.reader.read_exact(&mut data).map_err(io)?;
                    data.truncate(data.len() - 2);
                    Reply::Bulk(Some(data))
                }
            },
            "*" => match number()? {
                n if n < 0 => Reply::Array(None),
                n => {
                    let mut items = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
                    for _ in 0..n {
                        items.push(self.read_reply()?);
                    }
                    Reply::Array(Some(items))
                }
            },
            _ => return Err(KvError::Other("redis: malformed reply".into())),
        })
    }
}

/// A pool of connections to one Redis server.
pub struct RedisStore {
    url: RedisUrl,
    idle: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RedisStore({:?})", self.url)
    }
}

fn unexpected(reply: &Reply) -> KvError {
    match reply {
        Reply::Error(e) => KvError::Other(format!("redis: {e}")),
        other => KvError::Other(format!("redis: unexpected reply {other:?}")),
    }
}

impl RedisStore {
    /// A store for `url`; connections are made on first use (a server that is down at
    /// startup is not fatal: requests fail until it is up).
    pub fn new(url: RedisUrl) -> Self {
        Self {
            url,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Sends one command on a pooled connection. A failed connection is not returned
    /// to the pool.
    fn call(&self, args: &[&[u8]]) -> Result<Reply, KvError> {
        let pooled = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        let mut conn = match pooled {
            Some(conn) => conn,
            None => Connection::open(&self.url)?,
        };
        let reply = match conn.call(args) {
            Ok(reply) => reply,
            // A pooled connection may have died while idle (server restart): one retry
            // on a fresh connection.
            Err(_) => {
                conn = Connection::open(&self.url)?;
                conn.call(args)?
            }
        };
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
        Ok(reply)
    }

    /// `GET`.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        match self.call(&[b"GET", key.as_bytes()])? {
            Reply::Bulk(value) => Ok(value),
            other => Err(unexpected(&other)),
        }
    }

    /// `SET`.
    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        match self.call(&[b"SET", key.as_bytes(), value])? {
            Reply::Simple(_) => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// `DEL`.
    pub fn delete(&self, key: &str) -> Result<(), KvError> {
        match self.call(&[b"DEL", key.as_bytes()])? {
            Reply::Integer(_) => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// `EXISTS`.
    pub fn exists(&self, key: &str) -> Result<bool, KvError> {
        match self.call(&[b"EXISTS", key.as_bytes()])? {
            Reply::Integer(n) => Ok(n > 0),
            other => Err(unexpected(&other)),
        }
    }

    /// Every key (`SCAN`, so the server is never blocked), sorted.
    pub fn keys(&self) -> Result<Vec<String>, KvError> {
        let mut cursor = b"0".to_vec();
        let mut keys = Vec::new();
        loop {
            let reply = self.call(&[b"SCAN", &cursor, b"COUNT", b"1000"])?;
            let Reply::Array(Some(parts)) = reply else {
                return Err(unexpected(&reply));
            };
            let [Reply::Bulk(Some(next)), Reply::Array(Some(batch))] = parts.as_slice() else {
                return Err(KvError::Other("redis: malformed SCAN reply".into()));
            };
            for key in batch {
                if let Reply::Bulk(Some(key)) = key {
                    keys.push(String::from_utf8_lossy(key).into_owned());
                }
            }
            if next.as_slice() == b"0" {
                break;
            }
            cursor.clone_from(next);
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    /// `INCRBY`: atomic on the server; a missing key starts from 0.
    pub fn increment(&self, key: &str, delta: i64) -> Result<i64, KvError> {
        let delta = delta.to_string();
        match self.call(&[b"INCRBY", key.as_bytes(), delta.as_bytes()])? {
            Reply::Integer(n) => Ok(n),
            other => Err(unexpected(&other)),
        }
    }

    /// Writes `new` only if the value is still `current` (`None`: still missing), in
    /// one server-side step; `true` when it wrote.
    pub fn compare_and_swap(
        &self,
        key: &str,
        current: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool, KvError> {
        let (seen, old) = match current {
            Some(old) => (&b"1"[..], old),
            None => (&b"0"[..], &b""[..]),
        };
        match self.call(&[
            b"EVAL",
            CAS_SCRIPT.as_bytes(),
            b"1",
            key.as_bytes(),
            seen,
            old,
            new,
        ])? {
            Reply::Integer(n) => Ok(n == 1),
            other => Err(unexpected(&other)),
        }
    }

    /// `MGET`.
    pub fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, KvError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut args: Vec<&[u8]> = vec![b"MGET"];
        args.extend(keys.iter().map(|k| k.as_bytes()));
        match self.call(&args)? {
            Reply::Array(Some(values)) => values
                .into_iter()
                .map(|v| match v {
                    Reply::Bulk(value) => Ok(value),
                    other => Err(unexpected(&other)),
                })
                .collect(),
            other => Err(unexpected(&other)),
        }
    }

    /// `MSET` (atomic: all or none).
    pub fn set_many(&self, items: &[(String, Vec<u8>)]) -> Result<(), KvError> {
        if items.is_empty() {
            return Ok(());
        }
        let mut args: Vec<&[u8]> = vec![b"MSET"];
        for (key, value) in items {
            args.push(key.as_bytes());
            args.push(value);
        }
        match self.call(&args)? {
            Reply::Simple(_) => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    /// One `DEL` of every key.
    pub fn delete_many(&self, keys: &[String]) -> Result<(), KvError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut args: Vec<&[u8]> = vec![b"DEL"];
        args.extend(keys.iter().map(|k| k.as_bytes()));
        match self.call(&args)? {
            Reply::Integer(_) => Ok(()),
            other => Err(unexpected(&other)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn urls_parse_like_spins_and_hide_the_password() {
        let url = RedisUrl::parse("redis://user:s3cret@cache.internal:6380/2").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.db),
            ("cache.internal", 6380, 2)
        );
        assert_eq!(
            (url.username.as_deref(), url.password.as_deref()),
            (Some("user"), Some("s3cret"))
        );
        assert!(!format!("{url:?}").contains("s3cret"));
        let plain = RedisUrl::parse("redis://127.0.0.1").unwrap();
        assert_eq!((plain.port, plain.db, plain.password), (6379, 0, None));
        assert_eq!(
            RedisUrl::parse("redis://:pw@h")
                .unwrap()
                .password
                .as_deref(),
            Some("pw")
        );
        for bad in [
            "http://h",
            "rediss://h",
            "redis://",
            "redis://h:x",
            "redis://h/x",
        ] {
            assert!(RedisUrl::parse(bad).is_err(), "{bad}");
        }
    }

    /// Every operation against a real `redis-server` (from the Debian package), when
    /// one is installed; the multi-instance end-to-end tests need it anyway.
    #[test]
    fn operations_have_redis_semantics_against_a_real_server() {
        let Some(server) = TestServer::start() else {
            eprintln!("redis-server not installed: skipped");
            return;
        };
        let store = RedisStore::new(RedisUrl::parse(&server.url).unwrap());
        assert_eq!(store.get("a").unwrap(), None);
        store.set("a", b"\x00\xffbinary").unwrap();
        assert_eq!(store.get("a").unwrap().unwrap(), b"\x00\xffbinary");
        assert!(store.exists("a").unwrap());
        assert_eq!(store.increment("n", 1).unwrap(), 1);
        assert_eq!(store.increment("n", 41).unwrap(), 42);
        // CAS reports success only when it wrote.
        assert!(!store.compare_and_swap("a", None, b"x").unwrap());
        assert!(!store.compare_and_swap("a", Some(b"other"), b"x").unwrap());
        assert!(
            store
                .compare_and_swap("a", Some(b"\x00\xffbinary"), b"x")
                .unwrap()
        );
        assert!(store.compare_and_swap("fresh", None, b"y").unwrap());
        assert!(!store.compare_and_swap("fresh", None, b"z").unwrap());
        store
            .set_many(&[("m1".into(), b"1".to_vec()), ("m2".into(), b"2".to_vec())])
            .unwrap();
        assert_eq!(
            store
                .get_many(&["m1".into(), "nope".into(), "m2".into()])
                .unwrap(),
            vec![Some(b"1".to_vec()), None, Some(b"2".to_vec())]
        );
        assert_eq!(store.keys().unwrap(), ["a", "fresh", "m1", "m2", "n"]);
        store.delete_many(&["m1".into(), "m2".into()]).unwrap();
        store.delete("a").unwrap();
        assert_eq!(store.keys().unwrap(), ["fresh", "n"]);
        // Concurrent increments from many threads: every value handed out once.
        let store = std::sync::Arc::new(store);
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let store = std::sync::Arc::clone(&store);
                std::thread::spawn(move || {
                    (0..50)
                        .map(|_| store.increment("race", 1).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut seen: Vec<i64> = handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (1..=400).collect::<Vec<_>>());
        // The server goes away: errors, not hangs; it comes back: the pool heals.
        let port = server.port;
        drop(server);
        assert!(store.get("n").is_err());
        let server = TestServer::start_on(port).unwrap();
        assert_eq!(store.get("n").unwrap(), None, "a fresh server");
        drop(server);
    }

    /// A throwaway `redis-server` on a free port, without persistence.
    struct TestServer {
        child: std::process::Child,
        url: String,
        port: u16,
    }

    impl TestServer {
        fn start() -> Option<Self> {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .ok()?
                .local_addr()
                .ok()?
                .port();
            Self::start_on(port)
        }

        fn start_on(port: u16) -> Option<Self> {
            let child = std::process::Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .stdout(std::process::Stdio::null())
                .spawn()
                .ok()?;
            let url = format!("redis://127.0.0.1:{port}");
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                if std::time::Instant::now() > deadline {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Some(Self { child, url, port })
        }
    }

    impl Drop for TestServer {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
