//! The registry: what a master must not forget across a restart (admitted agents,
//! framework infos with their failover_timeout, and quota configs). Written before the
//! master acknowledges.

use mesos_proto::ids::{AgentId, FrameworkId};
use mesos_proto::v1::{AgentInfo, FrameworkInfo};
use rusqlite::{params, Connection};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// A role's quota (`QuotaConfig` of `UPDATE_QUOTA`): scalar quantities by name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QuotaRecord {
    pub role: String,
    #[serde(default)]
    pub guarantees: BTreeMap<String, f64>,
    #[serde(default)]
    pub limits: BTreeMap<String, f64>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Registry {
    pub agents: BTreeMap<AgentId, AgentInfo>,
    pub frameworks: BTreeMap<FrameworkId, FrameworkInfo>,
    /// Quota configs by role.
    pub quotas: BTreeMap<String, QuotaRecord>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RegistryOp {
    AdmitAgent(AgentInfo),
    RemoveAgent(AgentId),
    PutFramework(FrameworkInfo),
    RemoveFramework(FrameworkId),
    PutQuota(QuotaRecord),
    /// The role's quota goes back to the default (none).
    RemoveQuota(String),
}

impl Registry {
    pub fn apply(&mut self, op: &RegistryOp) {
        match op {
            RegistryOp::AdmitAgent(info) => {
                if let Some(id) = &info.id {
                    self.agents.insert(id.clone(), info.clone());
                }
            }
            RegistryOp::RemoveAgent(id) => {
                self.agents.remove(id);
            }
            RegistryOp::PutFramework(info) => {
                if let Some(id) = &info.id {
                    self.frameworks.insert(id.clone(), info.clone());
                }
            }
            RegistryOp::RemoveFramework(id) => {
                self.frameworks.remove(id);
            }
            RegistryOp::PutQuota(q) => {
                self.quotas.insert(q.role.clone(), q.clone());
            }
            RegistryOp::RemoveQuota(role) => {
                self.quotas.remove(role);
            }
        }
    }
}

/// Where the registry lives. SQLite is the standalone default; ZooKeeper follows.
pub trait Store: Send {
    fn load(&mut self) -> Result<Registry, String>;
    fn apply(&mut self, op: &RegistryOp) -> Result<(), String>;
}

/// A store that keeps the registry in memory (tests, and `--registry=in_memory`).
#[derive(Default)]
pub struct MemoryStore {
    pub registry: Registry,
}

impl Store for MemoryStore {
    fn load(&mut self) -> Result<Registry, String> {
        Ok(self.registry.clone())
    }
    fn apply(&mut self, op: &RegistryOp) -> Result<(), String> {
        self.registry.apply(op);
        Ok(())
    }
}

pub struct SqliteStore {
    conn: Connection,
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<Self, String> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        }
        let conn = Connection::open(path).map_err(|e| format!("open {}: {e}", path.display()))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=NORMAL;
             CREATE TABLE IF NOT EXISTS agents (id TEXT PRIMARY KEY, info TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS frameworks (id TEXT PRIMARY KEY, info TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS quotas (id TEXT PRIMARY KEY, info TEXT NOT NULL);",
        )
        .map_err(|e| format!("initialise registry: {e}"))?;
        Ok(SqliteStore { conn })
    }
}

impl SqliteStore {
    /// Every row of a one-column query, parsed from JSON.
    fn rows<T: serde::de::DeserializeOwned>(&self, sql: &str) -> Result<Vec<T>, String> {
        let mut stmt = self.conn.prepare(sql).map_err(|e| e.to_string())?;
        let texts = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for text in texts {
            let text = text.map_err(|e| e.to_string())?;
            out.push(
                serde_json::from_str(&text).map_err(|e| format!("corrupt registry row: {e}"))?,
            );
        }
        Ok(out)
    }
}

impl SqliteStore {
    /// Insert or replace one row of `table` (`agents`, `frameworks` or `quotas`) with
    /// `value`'s JSON.
    fn put<T: serde::Serialize>(
        &self,
        table: &str,
        id: Option<&str>,
        value: &T,
    ) -> Result<rusqlite::Result<usize>, String> {
        let json = serde_json::to_string(value).map_err(|e| e.to_string())?;
        Ok(self.conn.execute(
            &format!("INSERT OR REPLACE INTO {table} (id, info) VALUES (?1, ?2)"),
            params![id.unwrap_or_default(), json],
        ))
    }
}

impl Store for SqliteStore {
    fn load(&mut self) -> Result<Registry, String> {
        let mut reg = Registry::default();
        for info in self.rows::<AgentInfo>("SELECT info FROM agents")? {
            reg.apply(&RegistryOp::AdmitAgent(info));
        }
        for info in self.rows::<FrameworkInfo>("SELECT info FROM frameworks")? {
            reg.apply(&RegistryOp::PutFramework(info));
        }
        for q in self.rows::<QuotaRecord>("SELECT info FROM quotas")? {
            reg.apply(&RegistryOp::PutQuota(q));
        }
        Ok(reg)
    }

    fn apply(&mut self, op: &RegistryOp) -> Result<(), String> {
        let res = match op {
            RegistryOp::AdmitAgent(info) => {
                self.put("agents", info.id.as_ref().map(|i| i.as_str()), info)?
            }
            RegistryOp::RemoveAgent(id) => self
                .conn
                .execute("DELETE FROM agents WHERE id = ?1", params![id.value]),
            RegistryOp::PutFramework(info) => {
                self.put("frameworks", info.id.as_ref().map(|i| i.as_str()), info)?
            }
            RegistryOp::RemoveFramework(id) => self
                .conn
                .execute("DELETE FROM frameworks WHERE id = ?1", params![id.value]),
            RegistryOp::PutQuota(q) => self.put("quotas", Some(&q.role), q)?,
            RegistryOp::RemoveQuota(role) => self
                .conn
                .execute("DELETE FROM quotas WHERE id = ?1", params![role]),
        };
        res.map(|_| ())
            .map_err(|e| format!("registry write failed: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fw(id: &str) -> FrameworkInfo {
        serde_json::from_value(serde_json::json!({
            "user": "u", "name": "n", "id": {"value": id}, "failover_timeout": 60.0
        }))
        .unwrap()
    }

    #[test]
    fn sqlite_store_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("registry.sqlite");
        {
            let mut s = SqliteStore::open(&path).unwrap();
            s.apply(&RegistryOp::PutFramework(fw("f1"))).unwrap();
            s.apply(&RegistryOp::PutFramework(fw("f2"))).unwrap();
            s.apply(&RegistryOp::RemoveFramework(FrameworkId::new("f2")))
                .unwrap();
            let agent: AgentInfo = serde_json::from_value(serde_json::json!({
                "hostname": "h", "id": {"value": "a1"}
            }))
            .unwrap();
            s.apply(&RegistryOp::AdmitAgent(agent)).unwrap();
            let q = |role: &str, cpus: f64| QuotaRecord {
                role: role.into(),
                guarantees: [("cpus".to_string(), cpus)].into(),
                limits: [("cpus".to_string(), 2.0 * cpus)].into(),
            };
            s.apply(&RegistryOp::PutQuota(q("r1", 1.0))).unwrap();
            s.apply(&RegistryOp::PutQuota(q("r1", 3.0))).unwrap();
            s.apply(&RegistryOp::PutQuota(q("r2", 1.0))).unwrap();
            s.apply(&RegistryOp::RemoveQuota("r2".into())).unwrap();
        }
        let mut s = SqliteStore::open(&path).unwrap();
        let reg = s.load().unwrap();
        assert_eq!(reg.frameworks.len(), 1);
        assert_eq!(
            reg.frameworks[&FrameworkId::new("f1")].failover_timeout,
            60.0
        );
        assert_eq!(reg.agents.len(), 1);
        assert_eq!(reg.quotas.len(), 1);
        assert_eq!(reg.quotas["r1"].guarantees["cpus"], 3.0);
        assert_eq!(reg.quotas["r1"].limits["cpus"], 6.0);
    }
}
