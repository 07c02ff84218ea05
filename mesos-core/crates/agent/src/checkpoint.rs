//! The checkpoint: a sqlite database at `<work_dir>/meta/agent.sqlite` holding JSON records
//! (agent info, frameworks, executors, tasks with their pending status updates).

use crate::state::*;
use rusqlite::{params, Connection};
use std::path::Path;

pub struct Checkpoint {
    conn: Connection,
}

fn err(e: impl std::fmt::Display) -> String {
    format!("checkpoint: {e}")
}

impl Checkpoint {
    pub fn open(work_dir: &Path) -> Result<Checkpoint, String> {
        let meta = work_dir.join("meta");
        std::fs::create_dir_all(&meta)
            .map_err(|e| format!("Cannot create {}: {e}", meta.display()))?;
        let conn = Connection::open(meta.join("agent.sqlite")).map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=NORMAL;
             CREATE TABLE IF NOT EXISTS agent (k TEXT PRIMARY KEY, v TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS frameworks (id TEXT PRIMARY KEY, v TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS executors (fw TEXT NOT NULL, id TEXT NOT NULL, v TEXT NOT NULL,
                 PRIMARY KEY (fw, id));
             CREATE TABLE IF NOT EXISTS tasks (fw TEXT NOT NULL, id TEXT NOT NULL, v TEXT NOT NULL,
                 PRIMARY KEY (fw, id));",
        )
        .map_err(err)?;
        Ok(Checkpoint { conn })
    }

    /// Apply `ops` in one transaction (all or none).
    pub fn apply_all(&self, ops: &[CheckpointOp]) -> Result<(), String> {
        match ops {
            [] => Ok(()),
            [op] => self.apply(op),
            _ => {
                let tx = self.conn.unchecked_transaction().map_err(err)?;
                for op in ops {
                    self.apply(op)?;
                }
                tx.commit().map_err(err)
            }
        }
    }

    pub fn apply(&self, op: &CheckpointOp) -> Result<(), String> {
        let c = &self.conn;
        let json = |v: &dyn erased::Ser| v.to_json();
        match op {
            CheckpointOp::PutAgent(info) => c
                .execute(
                    "INSERT OR REPLACE INTO agent (k, v) VALUES ('info', ?1)",
                    params![json(info)],
                )
                .map(|_| ()),
            CheckpointOp::PutFramework(info) => {
                let id = info.id.as_ref().map(|i| i.value.clone()).unwrap_or_default();
                c.execute(
                    "INSERT OR REPLACE INTO frameworks (id, v) VALUES (?1, ?2)",
                    params![id, json(info)],
                )
                .map(|_| ())
            }
            CheckpointOp::RemoveFramework(id) => c
                .execute("DELETE FROM frameworks WHERE id = ?1", params![id.value])
                .map(|_| ()),
            CheckpointOp::PutExecutor(e) => c
                .prepare_cached("INSERT OR REPLACE INTO executors (fw, id, v) VALUES (?1, ?2, ?3)")
                .and_then(|mut st| {
                    st.execute(params![e.framework_id.value, e.info.executor_id.value, json(e)])
                })
                .map(|_| ()),
            CheckpointOp::RemoveExecutor(fw, id) => c
                .execute(
                    "DELETE FROM executors WHERE fw = ?1 AND id = ?2",
                    params![fw.value, id.value],
                )
                .map(|_| ()),
            CheckpointOp::PutTask(t) => c
                .prepare_cached("INSERT OR REPLACE INTO tasks (fw, id, v) VALUES (?1, ?2, ?3)")
                .and_then(|mut st| {
                    st.execute(params![t.framework_id.value, t.info.task_id.value, json(t)])
                })
                .map(|_| ()),
            CheckpointOp::RemoveTask(fw, id) => c
                .execute("DELETE FROM tasks WHERE fw = ?1 AND id = ?2", params![fw.value, id.value])
                .map(|_| ()),
            CheckpointOp::Wipe => c.execute_batch(
                "DELETE FROM agent; DELETE FROM frameworks; DELETE FROM executors; DELETE FROM tasks;",
            ),
        }
        .map_err(err)
    }

    /// Read everything back. `alive` decides whether an executor's pid still runs.
    pub fn load(&self, alive: impl Fn(u32) -> bool) -> Result<Recovered, String> {
        let mut r = Recovered::default();
        let rows = |sql: &str| -> Result<Vec<String>, String> {
            let mut st = self.conn.prepare(sql).map_err(err)?;
            let it = st
                .query_map([], |row| row.get::<_, String>(0))
                .map_err(err)?;
            it.collect::<Result<Vec<_>, _>>().map_err(err)
        };
        if let Some(v) = rows("SELECT v FROM agent WHERE k = 'info'")?
            .into_iter()
            .next()
        {
            r.agent_info = Some(serde_json::from_str(&v).map_err(err)?);
        }
        for v in rows("SELECT v FROM frameworks")? {
            r.frameworks.push(serde_json::from_str(&v).map_err(err)?);
        }
        for v in rows("SELECT v FROM executors")? {
            let e: ExecutorRecord = serde_json::from_str(&v).map_err(err)?;
            let live = e.pid.is_some_and(&alive);
            r.executors.push((e, live));
        }
        for v in rows("SELECT v FROM tasks")? {
            r.tasks.push(serde_json::from_str(&v).map_err(err)?);
        }
        Ok(r)
    }
}

mod erased {
    pub trait Ser {
        fn to_json(&self) -> String;
    }
    impl<T: serde::Serialize> Ser for T {
        fn to_json(&self) -> String {
            serde_json::to_string(self).unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mesos_proto::ids::*;
    use mesos_proto::v1::*;

    #[test]
    fn round_trips_records() {
        let dir = tempfile::tempdir().unwrap();
        let cp = Checkpoint::open(dir.path()).unwrap();
        let info = AgentInfo {
            hostname: "h".into(),
            port: 5051,
            resources: vec![],
            attributes: vec![],
            id: Some(AgentId::new("a-S1")),
        };
        cp.apply(&CheckpointOp::PutAgent(info.clone())).unwrap();
        let task = TaskRecord {
            framework_id: FrameworkId::new("f"),
            executor_id: ExecutorId::new("t"),
            info: std::sync::Arc::new(TaskInfo {
                command: Some(CommandInfo::shell("true")),
                ..TaskInfo::new("t", TaskId::new("t"), AgentId::new("a-S1"))
            }),
            state: TaskState::TaskRunning,
            latest: None,
            statuses: vec![],
            pending: vec![TaskStatus::new(TaskId::new("t"), TaskState::TaskRunning)].into(),
            seen: vec!["u".into()],
            launched: true,
            kill_requested: false,
            group: None,
            seq: 3,
        };
        cp.apply(&CheckpointOp::PutTask(std::sync::Arc::new(task.clone())))
            .unwrap();
        drop(cp);
        let cp = Checkpoint::open(dir.path()).unwrap();
        let r = cp.load(|_| true).unwrap();
        assert_eq!(r.agent_info, Some(info));
        assert_eq!(r.tasks, vec![task]);
        cp.apply(&CheckpointOp::Wipe).unwrap();
        let r = cp.load(|_| true).unwrap();
        assert!(r.agent_info.is_none() && r.tasks.is_empty());
    }
}
