//! Key-value persistence for Marathon's state, with three backends: memory (tests),
//! SQLite (a single Marathon) and ZooKeeper (several Marathons, as upstream runs).
//!
//! # Keys and values
//!
//! Keys are `/`-separated paths such as `apps/<app id with / replaced by _>/<version>`,
//! `deployment/<uuid>`, `instance/<task id>`, `framework-id` and `group/root`. Every backend
//! accepts the same keys ([`validate_key`]): non-empty, no empty segment (so no leading,
//! trailing or doubled `/`) and no NUL character. A key may be a path prefix of another key
//! (`x` and `x/y` can both exist). Keys sort bytewise (Rust's `str` order).
//!
//! Values are bytes (JSON in practice). Every backend refuses a value larger than
//! [`MAX_VALUE_BYTES`] (ZooKeeper's node size limit, as Marathon's `--zk_max_node_size`),
//! and a batch whose values total more than that (a batch is one ZooKeeper transaction,
//! which travels in one packet of at most about 1 MiB). Applying the limits everywhere
//! means a value that works against SQLite also works against ZooKeeper.
//!
//! # Durability
//!
//! A write returns `Ok` only once it is durable: SQLite commits in WAL mode with
//! `synchronous=FULL`; ZooKeeper answers a write once a quorum has logged it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

/// The largest value any backend stores: Marathon's default `--zk_max_node_size`.
/// Also the most that the values of one batch may total.
pub const MAX_VALUE_BYTES: usize = 1_024_000;

/// Key-value persistence for Marathon's state. Keys are '/'-separated paths like
/// "apps/<app id with / replaced by _>/<version>", "deployment/<uuid>", "instance/<task id>",
/// "framework-id", "group/root". Values are bytes (JSON). Writes are durable when the call returns.
pub trait Store: Send {
    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), String>;
    /// Deleting a missing key is `Ok`.
    fn delete(&mut self, key: &str) -> Result<(), String>;
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, String>;
    /// Every (key, value) whose key starts with `prefix`, sorted by key.
    fn list(&mut self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, String>;
    /// Apply several puts/deletes atomically (all or nothing), in order: for a key that
    /// several operations name, the last one wins.
    fn batch(&mut self, ops: &[StoreOp]) -> Result<(), String>;
}

#[derive(Debug, Clone, PartialEq)]
pub enum StoreOp {
    Put(String, Vec<u8>),
    Delete(String),
}

impl StoreOp {
    pub fn key(&self) -> &str {
        match self {
            StoreOp::Put(k, _) | StoreOp::Delete(k) => k,
        }
    }
}

/// Whether every backend accepts `key` (see the module documentation).
pub fn validate_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("invalid store key: it is empty".into());
    }
    if key.split('/').any(str::is_empty) {
        return Err(format!(
            "invalid store key {key:?}: keys are '/'-separated paths without empty segments \
             (no leading, trailing or doubled '/')"
        ));
    }
    if key.contains('\0') {
        return Err(format!(
            "invalid store key {key:?}: it contains a NUL character"
        ));
    }
    Ok(())
}

fn check_value(key: &str, value: &[u8]) -> Result<(), String> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(format!(
            "value for {key:?} is {} bytes, more than the store's limit of {MAX_VALUE_BYTES} bytes \
             (ZooKeeper's node size limit)",
            value.len()
        ));
    }
    Ok(())
}

/// Validate every operation of a batch before any is applied.
fn check_batch(ops: &[StoreOp]) -> Result<(), String> {
    let mut total = 0usize;
    for op in ops {
        validate_key(op.key())?;
        if let StoreOp::Put(key, value) = op {
            check_value(key, value)?;
            total += value.len();
        }
    }
    if total > MAX_VALUE_BYTES {
        return Err(format!(
            "batch of {} operations carries {total} bytes of values, more than the {MAX_VALUE_BYTES} \
             bytes one ZooKeeper transaction can take; split it into smaller batches",
            ops.len()
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------

/// A store in memory (tests; Marathon's `--internal_store_backend=mem`). Applies the same
/// key and size rules as the durable backends.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    entries: BTreeMap<String, Vec<u8>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Store for MemoryStore {
    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), String> {
        validate_key(key)?;
        check_value(key, value)?;
        self.entries.insert(key.to_string(), value.to_vec());
        Ok(())
    }

    fn delete(&mut self, key: &str) -> Result<(), String> {
        validate_key(key)?;
        self.entries.remove(key);
        Ok(())
    }

    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, String> {
        validate_key(key)?;
        Ok(self.entries.get(key).cloned())
    }

    fn list(&mut self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
        Ok(self
            .entries
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn batch(&mut self, ops: &[StoreOp]) -> Result<(), String> {
        // Validation is the only way a batch can fail here, and it happens before any change.
        check_batch(ops)?;
        for op in ops {
            match op {
                StoreOp::Put(k, v) => {
                    self.entries.insert(k.clone(), v.clone());
                }
                StoreOp::Delete(k) => {
                    self.entries.remove(k);
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// SQLite
// ---------------------------------------------------------------------------------------

/// A store in one SQLite table (`entries(key TEXT PRIMARY KEY, value BLOB)`), WAL mode,
/// `synchronous=FULL`.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

impl SqliteStore {
    /// Open (creating if needed) the database at `path`, and its parent directories.
    pub fn open(path: &Path) -> Result<Self, String> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                format!(
                    "store {}: cannot create {}: {e}",
                    path.display(),
                    dir.display()
                )
            })?;
        }
        let fail =
            |what: &str, e: rusqlite::Error| format!("store {}: {what}: {e}", path.display());
        let conn = Connection::open(path).map_err(|e| fail("cannot open", e))?;
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(|e| fail("cannot set the busy timeout", e))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(|e| fail("cannot switch to WAL", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(format!(
                "store {}: SQLite kept the journal mode {mode:?} instead of WAL",
                path.display()
            ));
        }
        conn.execute_batch(
            "PRAGMA synchronous=FULL;
             CREATE TABLE IF NOT EXISTS entries (
                 key TEXT PRIMARY KEY NOT NULL,
                 value BLOB NOT NULL
             ) WITHOUT ROWID;",
        )
        .map_err(|e| fail("cannot initialise", e))?;
        Ok(SqliteStore {
            conn,
            path: path.to_path_buf(),
        })
    }

    fn fail(&self, what: &str, key: &str, e: rusqlite::Error) -> String {
        format!("store {}: {what} {key:?}: {e}", self.path.display())
    }
}

const SQL_PUT: &str = "INSERT INTO entries (key, value) VALUES (?1, ?2)
     ON CONFLICT(key) DO UPDATE SET value = excluded.value";
const SQL_DELETE: &str = "DELETE FROM entries WHERE key = ?1";

impl Store for SqliteStore {
    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), String> {
        validate_key(key)?;
        check_value(key, value)?;
        self.conn
            .execute(SQL_PUT, params![key, value])
            .map(|_| ())
            .map_err(|e| self.fail("write", key, e))
    }

    fn delete(&mut self, key: &str) -> Result<(), String> {
        validate_key(key)?;
        self.conn
            .execute(SQL_DELETE, params![key])
            .map(|_| ())
            .map_err(|e| self.fail("delete", key, e))
    }

    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, String> {
        validate_key(key)?;
        self.conn
            .query_row(
                "SELECT value FROM entries WHERE key = ?1",
                params![key],
                |r| r.get::<_, Vec<u8>>(0),
            )
            .optional()
            .map_err(|e| self.fail("read", key, e))
    }

    fn list(&mut self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
        // TEXT compares bytewise (BINARY collation), so the keys with `prefix` are a run
        // starting at the first key >= prefix.
        let fail = |e| self.fail("list", prefix, e);
        let mut stmt = self
            .conn
            .prepare_cached("SELECT key, value FROM entries WHERE key >= ?1 ORDER BY key")
            .map_err(fail)?;
        let mut rows = stmt.query(params![prefix]).map_err(fail)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(fail)? {
            let key: String = row.get(0).map_err(fail)?;
            if !key.starts_with(prefix) {
                break;
            }
            out.push((key, row.get(1).map_err(fail)?));
        }
        Ok(out)
    }

    fn batch(&mut self, ops: &[StoreOp]) -> Result<(), String> {
        check_batch(ops)?;
        let path = self.path.display().to_string();
        let fail = |what: &str, key: &str, e: rusqlite::Error| {
            format!("store {path}: {what} {key:?}: {e}")
        };
        let tx = self.conn.transaction().map_err(|e| {
            fail(
                "begin a batch before",
                ops.first().map_or("", |o| o.key()),
                e,
            )
        })?;
        for op in ops {
            match op {
                // Cached statements: a batch of a thousand writes is not parsed a thousand times.
                StoreOp::Put(k, v) => tx
                    .prepare_cached(SQL_PUT)
                    .and_then(|mut st| st.execute(params![k, v]))
                    .map_err(|e| fail("write", k, e))?,
                StoreOp::Delete(k) => tx
                    .prepare_cached(SQL_DELETE)
                    .and_then(|mut st| st.execute(params![k]))
                    .map_err(|e| fail("delete", k, e))?,
            };
        }
        tx.commit().map_err(|e| {
            fail(
                "commit a batch ending with",
                ops.last().map_or("", |o| o.key()),
                e,
            )
        })
    }
}

mod zookeeper;
pub use zookeeper::{zk_bucket, ZkStore, ZK_VALUE_TAG};
