//! Key-value storage: SQLite, compatible with Spin's `type = "spin"` store, or Redis
//! (`type = "redis"`, see [`crate::kv_redis`]).
//!
//! Same table as Spin (`spin_key_value(store, key, value)`, counters as 8-byte
//! little-endian `i64`), so a database file can move between this host and `spin up`.
//!
//! Every mutating operation is a **single SQL statement**, so it is atomic under any
//! concurrency: many instances in this process (each call may use a different pooled
//! connection) and several processes sharing the file (WAL mode, `busy_timeout`).
//! - `increment`: `INSERT … ON CONFLICT DO UPDATE … RETURNING`, with the addition done
//!   by a SQL function registered on each connection; a missing key starts from 0.
//! - compare-and-swap: `INSERT … ON CONFLICT DO NOTHING` when the key was missing, or
//!   `UPDATE … WHERE value = <old>` when it existed; it succeeds only if exactly one row
//!   changed, i.e. only if the value is still the one the CAS handle read. (Spin's SQLite
//!   store overwrites a value written meanwhile when the key was missing.)
//!
//! These are blocking calls: the host runs them on tokio's blocking pool.

use crate::runtime_config::KvLocation;
use anyhow::{Context, Result};
use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Most connections kept idle per file (more may be open while busy).
const MAX_IDLE: usize = 8;
/// How long a statement waits for another writer (this or another process).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Errors from the store. `Other` is reported to the guest as `error::other`.
#[derive(Debug)]
pub enum KvError {
    /// An I/O or SQLite failure.
    Other(String),
}

impl std::fmt::Display for KvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Other(m) => f.write_str(m),
        }
    }
}

impl From<rusqlite::Error> for KvError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Other(e.to_string())
    }
}

type KvResult<T> = std::result::Result<T, KvError>;

enum Pool {
    File {
        path: std::path::PathBuf,
        idle: Mutex<Vec<Connection>>,
    },
    /// One connection: an in-memory database exists per connection.
    Memory(Mutex<Connection>),
    /// A Redis server (labels sharing a URL share its keys, as in Spin).
    Redis(crate::kv_redis::RedisStore),
}

/// One SQLite database holding any number of labelled stores.
pub struct KvDb {
    pool: Pool,
}

impl std::fmt::Debug for KvDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.pool {
            Pool::File { path, .. } => write!(f, "KvDb({})", path.display()),
            Pool::Memory(_) => f.write_str("KvDb(:memory:)"),
            Pool::Redis(store) => write!(f, "KvDb({store:?})"),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a Connection or Vec half-updated in a
    // way that matters here, so a poisoned lock is still usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `kv_i64_add(old, delta)`: `old` is NULL (missing key) or an 8-byte LE i64.
fn register_functions(conn: &Connection) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        "kv_i64_add",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let old: Option<Vec<u8>> = ctx.get(0)?;
            let delta: i64 = ctx.get(1)?;
            let old = match old {
                None => 0,
                Some(bytes) => {
                    let arr: [u8; 8] = bytes.as_slice().try_into().map_err(|_| {
                        rusqlite::Error::UserFunctionError(
                            "the stored value is not a 64-bit counter".into(),
                        )
                    })?;
                    i64::from_le_bytes(arr)
                }
            };
            let new = old
                .checked_add(delta)
                .ok_or_else(|| rusqlite::Error::UserFunctionError("counter overflow".into()))?;
            Ok(new.to_le_bytes().to_vec())
        },
    )
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    register_functions(conn)
}

fn create_schema(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS spin_key_value (
            store TEXT NOT NULL,
            key   TEXT NOT NULL,
            value BLOB NOT NULL,
            PRIMARY KEY (store, key)
        );",
    )
}

impl KvDb {
    /// Opens (creating if needed) the database at `location`.
    pub fn open(location: &KvLocation) -> Result<Self> {
        match location {
            KvLocation::Redis(url) => {
                let url = crate::kv_redis::RedisUrl::parse(url).map_err(|e| anyhow::anyhow!(e))?;
                Ok(Self {
                    pool: Pool::Redis(crate::kv_redis::RedisStore::new(url)),
                })
            }
            KvLocation::Memory => {
                let conn = Connection::open_in_memory()?;
                configure(&conn)?;
                create_schema(&conn)?;
                Ok(Self {
                    pool: Pool::Memory(Mutex::new(conn)),
                })
            }
            KvLocation::File(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir).with_context(|| {
                        format!("cannot create key-value directory {}", dir.display())
                    })?;
                }
                let db = Self {
                    pool: Pool::File {
                        path: path.clone(),
                        idle: Mutex::new(Vec::new()),
                    },
                };
                let conn = db
                    .open_file_conn()
                    .with_context(|| format!("cannot open key-value store {}", path.display()))?;
                // WAL lets readers and one writer proceed together, across processes too.
                let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
                if !mode.eq_ignore_ascii_case("wal") {
                    crate::elog!(
                        "spin-host: warning: {} is not in WAL mode ({mode})",
                        path.display()
                    );
                }
                create_schema(&conn)
                    .with_context(|| format!("cannot initialise {}", path.display()))?;
                db.put_back(conn);
                Ok(db)
            }
        }
    }

    fn open_file_conn(&self) -> rusqlite::Result<Connection> {
        let Pool::File { path, .. } = &self.pool else {
            return Err(rusqlite::Error::InvalidPath("in-memory".into()));
        };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?;
        configure(&conn)?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(conn)
    }

    fn put_back(&self, conn: Connection) {
        if let Pool::File { idle, .. } = &self.pool {
            let mut idle = lock(idle);
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
    }

    fn with_conn<T>(&self, f: impl FnOnce(&Connection) -> KvResult<T>) -> KvResult<T> {
        match &self.pool {
            Pool::Redis(_) => Err(KvError::Other("not a SQLite store".into())),
            Pool::Memory(conn) => f(&lock(conn)),
            Pool::File { idle, .. } => {
                let conn = lock(idle).pop();
                let conn = match conn {
                    Some(c) => c,
                    None => self.open_file_conn()?,
                };
                let out = f(&conn);
                self.put_back(conn);
                out
            }
        }
    }

    /// The value of `key`, if any.
    pub fn get(&self, store: &str, key: &str) -> KvResult<Option<Vec<u8>>> {
        if let Pool::Redis(redis) = &self.pool {
            return redis.get(key);
        }
        self.with_conn(|c| {
            Ok(
                c.prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                    .query_row(params![store, key], |r| r.get(0))
                    .optional()?,
            )
        })
    }

    /// Sets `key` to `value`.
    pub fn set(&self, store: &str, key: &str, value: &[u8]) -> KvResult<()> {
        if let Pool::Redis(redis) = &self.pool {
            return redis.set(key, value);
        }
        self.with_conn(|c| {
            c.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![store, key, value])?;
            Ok(())
        })
    }

    /// Deletes `key` (no error if it does not exist).
    pub fn delete(&self, store: &str, key: &str) -> KvResult<()> {
        if let Pool::Redis(redis) = &self.pool {
            return redis.delete(key);
        }
        self.with_conn(|c| {
            c.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .execute(params![store, key])?;
            Ok(())
        })
    }

    /// Whether `key` exists.
    pub fn exists(&self, store: &str, key: &str) -> KvResult<bool> {
        if let Pool::Redis(redis) = &self.pool {
            return redis.exists(key);
        }
        self.with_conn(|c| {
            Ok(c.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2)",
            )?
            .query_row(params![store, key], |r| r.get(0))?)
        })
    }

    /// All keys of a store.
    pub fn keys(&self, store: &str) -> KvResult<Vec<String>> {
        if let Pool::Redis(redis) = &self.pool {
            return redis.keys();
        }
        self.with_conn(|c| {
            let mut stmt =
                c.prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1 ORDER BY key")?;
            let keys = stmt
                .query_map(params![store], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>()?;
            Ok(keys)
        })
    }

    /// Atomically adds `delta` to the counter at `key` (missing = 0) and returns the new
    /// value.
    pub fn increment(&self, store: &str, key: &str, delta: i64) -> KvResult<i64> {
        if let Pool::Redis(redis) = &self.pool {
            return redis.increment(key, delta);
        }
        self.with_conn(|c| {
            let bytes: Vec<u8> = c
                .prepare_cached(
                    "INSERT INTO spin_key_value (store, key, value)
                     VALUES (?1, ?2, kv_i64_add(NULL, ?3))
                     ON CONFLICT (store, key) DO UPDATE SET value = kv_i64_add(value, ?3)
                     RETURNING value",
                )?
                .query_row(params![store, key, delta], |r| r.get(0))?;
            let arr: [u8; 8] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| KvError::Other("counter has an unexpected size".into()))?;
            Ok(i64::from_le_bytes(arr))
        })
    }

    /// Compare-and-swap: sets `key` to `new` only if its value is still `expected`
    /// (`None` = the key must still be missing). Returns whether the swap happened.
    pub fn compare_and_swap(
        &self,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> KvResult<bool> {
        if let Pool::Redis(redis) = &self.pool {
            return redis.compare_and_swap(key, expected, new);
        }
        self.with_conn(|c| {
            let changed = match expected {
                None => c
                    .prepare_cached(
                        "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                         ON CONFLICT (store, key) DO NOTHING",
                    )?
                    .execute(params![store, key, new])?,
                Some(old) => c
                    .prepare_cached(
                        "UPDATE spin_key_value SET value = ?4
                         WHERE store = ?1 AND key = ?2 AND value = ?3",
                    )?
                    .execute(params![store, key, old, new])?,
            };
            Ok(changed == 1)
        })
    }

    /// Values of several keys (`None` for missing ones), in the order given.
    pub fn get_many(&self, store: &str, keys: &[String]) -> KvResult<Vec<Option<Vec<u8>>>> {
        if let Pool::Redis(redis) = &self.pool {
            return redis.get_many(keys);
        }
        self.with_conn(|c| {
            let mut stmt =
                c.prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?;
            keys.iter()
                .map(|k| Ok(stmt.query_row(params![store, k], |r| r.get(0)).optional()?))
                .collect()
        })
    }

    /// Sets several keys in one transaction.
    pub fn set_many(&self, store: &str, items: &[(String, Vec<u8>)]) -> KvResult<()> {
        if let Pool::Redis(redis) = &self.pool {
            return redis.set_many(items);
        }
        self.with_conn(|c| {
            c.execute_batch("BEGIN IMMEDIATE")?;
            let res = (|| -> KvResult<()> {
                let mut stmt = c.prepare_cached(
                    "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
                )?;
                for (k, v) in items {
                    stmt.execute(params![store, k, v])?;
                }
                Ok(())
            })();
            finish_tx(c, res)
        })
    }

    /// Deletes several keys in one transaction.
    pub fn delete_many(&self, store: &str, keys: &[String]) -> KvResult<()> {
        if let Pool::Redis(redis) = &self.pool {
            return redis.delete_many(keys);
        }
        self.with_conn(|c| {
            c.execute_batch("BEGIN IMMEDIATE")?;
            let res = (|| -> KvResult<()> {
                let mut stmt =
                    c.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?;
                for k in keys {
                    stmt.execute(params![store, k])?;
                }
                Ok(())
            })();
            finish_tx(c, res)
        })
    }
}

fn finish_tx(c: &Connection, res: KvResult<()>) -> KvResult<()> {
    match res {
        Ok(()) => {
            c.execute_batch("COMMIT")?;
            Ok(())
        }
        Err(e) => {
            let _ = c.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::sync::Arc;

    fn file_db(dir: &tempfile::TempDir) -> KvDb {
        KvDb::open(&KvLocation::File(dir.path().join("sub/kv.db"))).unwrap()
    }

    #[test]
    fn basic_operations_and_store_isolation() {
        let dir = tempfile::tempdir().unwrap();
        for db in [file_db(&dir), KvDb::open(&KvLocation::Memory).unwrap()] {
            assert_eq!(db.get("s", "k").unwrap(), None);
            assert!(!db.exists("s", "k").unwrap());
            db.set("s", "k", b"v1").unwrap();
            db.set("s", "k", b"v2").unwrap();
            db.set("other", "k", b"o").unwrap();
            assert_eq!(db.get("s", "k").unwrap().as_deref(), Some(&b"v2"[..]));
            assert_eq!(db.get("other", "k").unwrap().as_deref(), Some(&b"o"[..]));
            assert!(db.exists("s", "k").unwrap());
            db.set("s", "a", b"").unwrap();
            assert_eq!(db.keys("s").unwrap(), ["a", "k"]);
            db.delete("s", "k").unwrap();
            db.delete("s", "never").unwrap();
            assert_eq!(db.get("s", "k").unwrap(), None);
            assert_eq!(db.get("s", "a").unwrap().as_deref(), Some(&b""[..]));

            db.set_many(
                "b",
                &[("x".into(), b"1".to_vec()), ("y".into(), b"2".to_vec())],
            )
            .unwrap();
            assert_eq!(
                db.get_many("b", &["y".into(), "z".into(), "x".into()])
                    .unwrap(),
                [Some(b"2".to_vec()), None, Some(b"1".to_vec())]
            );
            db.delete_many("b", &["x".into(), "y".into()]).unwrap();
            assert!(db.keys("b").unwrap().is_empty());
        }
    }

    #[test]
    fn increment_starts_from_zero_and_uses_spin_encoding() {
        let dir = tempfile::tempdir().unwrap();
        let db = file_db(&dir);
        assert_eq!(db.increment("s", "n", 1).unwrap(), 1);
        assert_eq!(db.increment("s", "n", 41).unwrap(), 42);
        assert_eq!(db.increment("s", "n", -50).unwrap(), -8);
        assert_eq!(db.get("s", "n").unwrap().unwrap(), (-8i64).to_le_bytes());
        assert_eq!(db.increment("s", "fresh", -3).unwrap(), -3);
        // A non-counter value is an error, and is left untouched.
        db.set("s", "text", b"hello").unwrap();
        assert!(db.increment("s", "text", 1).is_err());
        assert_eq!(db.get("s", "text").unwrap().as_deref(), Some(&b"hello"[..]));
        db.set("s", "max", &i64::MAX.to_le_bytes()).unwrap();
        assert!(db.increment("s", "max", 1).is_err(), "overflow");
    }

    #[test]
    fn concurrent_increments_are_atomic() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(file_db(&dir));
        // A second handle on the same file behaves like another process.
        let other = Arc::new(file_db(&dir));
        let threads: Vec<_> = (0..32)
            .map(|i| {
                let db = if i % 2 == 0 {
                    db.clone()
                } else {
                    other.clone()
                };
                std::thread::spawn(move || {
                    let mut seen = Vec::with_capacity(100);
                    for _ in 0..100 {
                        seen.push(db.increment("s", "counter", 1).unwrap());
                    }
                    seen
                })
            })
            .collect();
        let mut all: Vec<i64> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        all.sort_unstable();
        assert_eq!(
            all,
            (1..=3200).collect::<Vec<i64>>(),
            "every value exactly once"
        );
        assert_eq!(
            db.get("s", "counter").unwrap().unwrap(),
            3200i64.to_le_bytes()
        );
    }

    #[test]
    fn compare_and_swap_semantics() {
        let dir = tempfile::tempdir().unwrap();
        let db = file_db(&dir);
        // Missing key: succeeds only while still missing.
        assert!(db.compare_and_swap("s", "k", None, b"a").unwrap());
        assert!(
            !db.compare_and_swap("s", "k", None, b"b").unwrap(),
            "someone wrote meanwhile: must fail, not overwrite"
        );
        assert_eq!(db.get("s", "k").unwrap().as_deref(), Some(&b"a"[..]));
        // Existing key: succeeds only if unchanged.
        assert!(!db.compare_and_swap("s", "k", Some(b"x"), b"c").unwrap());
        assert!(db.compare_and_swap("s", "k", Some(b"a"), b"c").unwrap());
        assert!(!db.compare_and_swap("s", "k", Some(b"a"), b"d").unwrap());
        assert_eq!(db.get("s", "k").unwrap().as_deref(), Some(&b"c"[..]));
        // Deleted since the read: an UPDATE finds nothing, so it fails.
        db.delete("s", "k").unwrap();
        assert!(!db.compare_and_swap("s", "k", Some(b"c"), b"e").unwrap());
        assert_eq!(db.get("s", "k").unwrap(), None);
        // Same key in another store is independent.
        assert!(db.compare_and_swap("t", "k", None, b"z").unwrap());
    }

    #[test]
    fn concurrent_cas_exactly_one_winner_per_round() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(file_db(&dir));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let db = db.clone();
                std::thread::spawn(move || {
                    // Classic CAS loop: read, try to write read+1, retry on failure.
                    let mut wins = 0;
                    for _ in 0..50 {
                        loop {
                            let cur = db.get("s", "c").unwrap();
                            let n = cur
                                .as_deref()
                                .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
                                .unwrap_or(0);
                            let next = (n + 1).to_le_bytes();
                            if db
                                .compare_and_swap("s", "c", cur.as_deref(), &next)
                                .unwrap()
                            {
                                wins += 1;
                                break;
                            }
                        }
                    }
                    wins
                })
            })
            .collect();
        let wins: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(wins, 400);
        let v = db.get("s", "c").unwrap().unwrap();
        assert_eq!(u64::from_le_bytes(v.try_into().unwrap()), 400);
    }
}
