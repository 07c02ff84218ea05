//! The checkpoint: a sqlite database at `<work_dir>/meta/agent.sqlite` holding JSON records
//! (agent info, frameworks, executors, tasks with their pending status updates).
//!
//! A task's record is written again on every change of its state (each status update,
//! each acknowledgement), but its description (`TaskInfo`, most of the record's size) never
//! changes: it is written once, to `task_infos`, and the record in `task_records` leaves it
//! out. Records of an earlier checkpoint, with the description inline, still load.

use crate::state::*;
use mesos_proto::ids::{ExecutorId, FrameworkId};
use mesos_proto::v1::{TaskState, TaskStatus};
use rusqlite::{params, Connection};
use serde::Serialize;
use std::collections::{HashSet, VecDeque};
use std::path::Path;

pub struct Checkpoint {
    conn: Connection,
    /// The tasks (by `seq`) whose description is in `task_infos`.
    infos: HashSet<u64>,
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
        // One agent owns its checkpoint: the exclusive lock keeps a second agent on the
        // same work directory out, and spares each transaction the file locking and the
        // shared-memory WAL index a database shared between processes needs.
        //
        // Task records are keyed by the agent's arrival number (`seq`), an integer key:
        // the table is then one B-tree, where a text key (framework, task) needed a second
        // one for its index, and each write touches half the pages (about 4x cheaper
        // commits, measured with 2 KB records).
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=NORMAL;
             PRAGMA locking_mode=EXCLUSIVE;
             CREATE TABLE IF NOT EXISTS agent (k TEXT PRIMARY KEY, v TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS frameworks (id TEXT PRIMARY KEY, v TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS executors (fw TEXT NOT NULL, id TEXT NOT NULL, v TEXT NOT NULL,
                 PRIMARY KEY (fw, id));
             CREATE TABLE IF NOT EXISTS task_records (seq INTEGER PRIMARY KEY, v TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS task_infos (seq INTEGER PRIMARY KEY, v TEXT NOT NULL);",
        )
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy) => format!(
                "checkpoint: {} is in use by another agent",
                meta.join("agent.sqlite").display()
            ),
            _ => err(e),
        })?;
        // A checkpoint of an earlier version kept tasks keyed by (framework, task).
        let old: bool = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'tasks'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(err)?
            > 0;
        if old {
            conn.execute_batch(
                "BEGIN;
                 INSERT OR REPLACE INTO task_records (seq, v)
                     SELECT json_extract(v, '$.seq'), v FROM tasks;
                 DROP TABLE tasks;
                 COMMIT;",
            )
            .map_err(err)?;
        }
        let mut cp = Checkpoint {
            conn,
            infos: HashSet::new(),
        };
        cp.infos = cp.stored_infos()?;
        Ok(cp)
    }

    /// The `seq`s of the tasks whose description is stored.
    fn stored_infos(&self) -> Result<HashSet<u64>, String> {
        let mut st = self
            .conn
            .prepare("SELECT seq FROM task_infos")
            .map_err(err)?;
        let seqs = st
            .query_map([], |row| row.get::<_, i64>(0))
            .map_err(err)?
            .map(|r| r.map(|s| s as u64))
            .collect::<Result<HashSet<u64>, _>>()
            .map_err(err);
        seqs
    }

    /// Apply `ops` in one transaction (all or none).
    pub fn apply_all(&mut self, ops: &[CheckpointOp]) -> Result<(), String> {
        let result = match ops {
            [] => Ok(()),
            [op] => self.apply(op),
            _ => {
                self.conn.execute_batch("BEGIN").map_err(err)?;
                let r = ops
                    .iter()
                    .try_for_each(|op| self.apply(op))
                    .and_then(|()| self.conn.execute_batch("COMMIT").map_err(err));
                if r.is_err() {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                r
            }
        };
        if result.is_err() {
            // What was rolled back is not stored: know again which descriptions are.
            self.infos = self.stored_infos().unwrap_or_default();
        }
        result
    }

    pub fn apply(&mut self, op: &CheckpointOp) -> Result<(), String> {
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
                let id = info
                    .id
                    .as_ref()
                    .map(|i| i.value.clone())
                    .unwrap_or_default();
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
                    st.execute(params![
                        e.framework_id.value,
                        e.info.executor_id.value,
                        json(e)
                    ])
                })
                .map(|_| ()),
            CheckpointOp::RemoveExecutor(fw, id) => c
                .execute(
                    "DELETE FROM executors WHERE fw = ?1 AND id = ?2",
                    params![fw.value, id.value],
                )
                .map(|_| ()),
            CheckpointOp::PutTask(t) => {
                let seq = seq_key(t.seq).map_err(err)?;
                if !self.infos.contains(&t.seq) {
                    c.prepare_cached("INSERT OR REPLACE INTO task_infos (seq, v) VALUES (?1, ?2)")
                        .and_then(|mut st| st.execute(params![seq, json(&*t.info)]))
                        .map_err(err)?;
                    self.infos.insert(t.seq);
                }
                c.prepare_cached("INSERT OR REPLACE INTO task_records (seq, v) VALUES (?1, ?2)")
                    .and_then(|mut st| st.execute(params![seq, json(&RecordRow::of(t))]))
                    .map(|_| ())
            }
            CheckpointOp::RemoveTask(_, _, seq) => {
                self.infos.remove(seq);
                let seq = seq_key(*seq).map_err(err)?;
                c.prepare_cached("DELETE FROM task_records WHERE seq = ?1")
                    .and_then(|mut st| st.execute(params![seq]))
                    .and_then(|_| c.prepare_cached("DELETE FROM task_infos WHERE seq = ?1"))
                    .and_then(|mut st| st.execute(params![seq]))
                    .map(|_| ())
            }
            CheckpointOp::Wipe => {
                self.infos.clear();
                c.execute_batch(
                    "DELETE FROM agent; DELETE FROM frameworks; DELETE FROM executors;
                     DELETE FROM task_records; DELETE FROM task_infos;",
                )
            }
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
        // In arrival order; should two records name the same task, the later one is it.
        let mut tasks: std::collections::BTreeMap<(String, String), TaskRecord> =
            std::collections::BTreeMap::new();
        let mut st = self
            .conn
            .prepare(
                "SELECT r.v, i.v FROM task_records r LEFT JOIN task_infos i ON i.seq = r.seq
                 ORDER BY r.seq",
            )
            .map_err(err)?;
        let rows = st
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?))
            })
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        for (record, info) in rows {
            let t: TaskRecord = match info {
                Some(info) => {
                    let mut v: serde_json::Value = serde_json::from_str(&record).map_err(err)?;
                    v["info"] = serde_json::from_str(&info).map_err(err)?;
                    serde_json::from_value(v).map_err(err)?
                }
                // Written by an earlier version, with the description inline.
                None => serde_json::from_str(&record).map_err(err)?,
            };
            let key = (t.framework_id.value.clone(), t.info.task_id.value.clone());
            tasks.insert(key, t);
        }
        r.tasks = tasks.into_values().collect();
        Ok(r)
    }
}

/// A task's `seq` as an SQLite integer key.
fn seq_key(seq: u64) -> rusqlite::Result<i64> {
    i64::try_from(seq).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

/// A task record as `task_records` holds it: everything but the description.
#[derive(Serialize)]
struct RecordRow<'a> {
    framework_id: &'a FrameworkId,
    executor_id: &'a ExecutorId,
    state: TaskState,
    latest: &'a Option<TaskStatus>,
    statuses: &'a [(TaskState, f64)],
    pending: &'a VecDeque<TaskStatus>,
    seen: &'a [String],
    launched: bool,
    kill_requested: bool,
    group: Option<u64>,
    seq: u64,
}

impl RecordRow<'_> {
    fn of(t: &TaskRecord) -> RecordRow<'_> {
        // Every field named: a field added to the record must be added here too.
        let TaskRecord {
            framework_id,
            executor_id,
            info: _,
            state,
            latest,
            statuses,
            pending,
            seen,
            launched,
            kill_requested,
            group,
            seq,
        } = t;
        RecordRow {
            framework_id,
            executor_id,
            state: *state,
            latest,
            statuses,
            pending,
            seen,
            launched: *launched,
            kill_requested: *kill_requested,
            group: *group,
            seq: *seq,
        }
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

    fn task(id: &str, seq: u64) -> TaskRecord {
        TaskRecord {
            framework_id: FrameworkId::new("f"),
            executor_id: ExecutorId::new(id),
            info: std::sync::Arc::new(TaskInfo::new(id, TaskId::new(id), AgentId::new("a-S1"))),
            state: TaskState::TaskRunning,
            latest: None,
            statuses: vec![],
            pending: Default::default(),
            seen: vec![],
            launched: true,
            kill_requested: false,
            group: None,
            seq,
        }
    }

    #[test]
    fn tasks_are_put_and_removed_by_their_seq() {
        let dir = tempfile::tempdir().unwrap();
        let mut cp = Checkpoint::open(dir.path()).unwrap();
        let put = |t: TaskRecord| CheckpointOp::PutTask(std::sync::Arc::new(t));
        cp.apply_all(&[put(task("a", 1)), put(task("b", 2)), put(task("c", 3))])
            .unwrap();
        // A newer record of "b" replaces it; "a" goes.
        let mut b = task("b", 2);
        b.state = TaskState::TaskKilled;
        cp.apply(&put(b.clone())).unwrap();
        cp.apply(&CheckpointOp::RemoveTask(
            FrameworkId::new("f"),
            TaskId::new("a"),
            1,
        ))
        .unwrap();
        let r = cp.load(|_| true).unwrap();
        assert_eq!(r.tasks, vec![b, task("c", 3)]);
    }

    #[test]
    fn a_description_is_written_once_and_records_without_it_load_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut cp = Checkpoint::open(dir.path()).unwrap();
        let mut t = task("a", 1);
        cp.apply(&CheckpointOp::PutTask(std::sync::Arc::new(t.clone())))
            .unwrap();
        t.state = TaskState::TaskFinished;
        cp.apply(&CheckpointOp::PutTask(std::sync::Arc::new(t.clone())))
            .unwrap();
        let count = |table: &str| -> i64 {
            cp.conn
                .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!((count("task_infos"), count("task_records")), (1, 1));
        let record: String = cp
            .conn
            .query_row("SELECT v FROM task_records", [], |r| r.get(0))
            .unwrap();
        assert!(!record.contains("\"info\""), "{record}");
        assert_eq!(cp.load(|_| true).unwrap().tasks, vec![t.clone()]);
        // Reopened, it still knows the description is there.
        drop(cp);
        let mut cp = Checkpoint::open(dir.path()).unwrap();
        cp.apply(&CheckpointOp::PutTask(std::sync::Arc::new(t.clone())))
            .unwrap();
        assert_eq!(cp.load(|_| true).unwrap().tasks, vec![t]);
        // Removing the task removes both.
        cp.apply(&CheckpointOp::RemoveTask(
            FrameworkId::new("f"),
            TaskId::new("a"),
            1,
        ))
        .unwrap();
        let infos: i64 = cp
            .conn
            .query_row("SELECT count(*) FROM task_infos", [], |r| r.get(0))
            .unwrap();
        assert_eq!(infos, 0);
    }

    #[test]
    fn a_rolled_back_description_is_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut cp = Checkpoint::open(dir.path()).unwrap();
        let put = |t: TaskRecord| CheckpointOp::PutTask(std::sync::Arc::new(t));
        // The second op cannot be stored (its seq is no SQLite integer): neither is.
        let e = cp.apply_all(&[put(task("a", 5)), put(task("b", u64::MAX))]);
        assert!(e.is_err());
        assert!(cp.load(|_| true).unwrap().tasks.is_empty());
        cp.apply_all(&[put(task("a", 5))]).unwrap();
        assert_eq!(cp.load(|_| true).unwrap().tasks, vec![task("a", 5)]);
    }

    #[test]
    fn records_with_the_description_inline_still_load() {
        let dir = tempfile::tempdir().unwrap();
        let cp = Checkpoint::open(dir.path()).unwrap();
        let t = task("old", 2);
        cp.conn
            .execute(
                "INSERT INTO task_records (seq, v) VALUES (2, ?1)",
                params![serde_json::to_string(&t).unwrap()],
            )
            .unwrap();
        assert_eq!(cp.load(|_| true).unwrap().tasks, vec![t]);
    }

    #[test]
    fn a_second_agent_cannot_open_a_checkpoint_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Checkpoint::open(dir.path()).unwrap();
        let e = Checkpoint::open(dir.path()).err().unwrap();
        assert!(e.contains("is in use by another agent"), "{e}");
    }

    #[test]
    fn tasks_of_an_earlier_checkpoint_are_carried_over() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("meta")).unwrap();
        let old = Connection::open(dir.path().join("meta/agent.sqlite")).unwrap();
        old.execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE tasks (fw TEXT NOT NULL, id TEXT NOT NULL, v TEXT NOT NULL,
                 PRIMARY KEY (fw, id));",
        )
        .unwrap();
        for t in [task("x", 7), task("y", 4)] {
            old.execute(
                "INSERT INTO tasks (fw, id, v) VALUES (?1, ?2, ?3)",
                params![
                    t.framework_id.value,
                    t.info.task_id.value,
                    serde_json::to_string(&t).unwrap()
                ],
            )
            .unwrap();
        }
        drop(old);
        let mut cp = Checkpoint::open(dir.path()).unwrap();
        assert_eq!(
            cp.load(|_| true).unwrap().tasks,
            vec![task("x", 7), task("y", 4)]
        );
        // Now under their seq: removing by it works.
        cp.apply(&CheckpointOp::RemoveTask(
            FrameworkId::new("f"),
            TaskId::new("y"),
            4,
        ))
        .unwrap();
        assert_eq!(cp.load(|_| true).unwrap().tasks, vec![task("x", 7)]);
    }

    #[test]
    fn round_trips_records() {
        let dir = tempfile::tempdir().unwrap();
        let mut cp = Checkpoint::open(dir.path()).unwrap();
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
        let mut cp = Checkpoint::open(dir.path()).unwrap();
        let r = cp.load(|_| true).unwrap();
        assert_eq!(r.agent_info, Some(info));
        assert_eq!(r.tasks, vec![task]);
        cp.apply(&CheckpointOp::Wipe).unwrap();
        let r = cp.load(|_| true).unwrap();
        assert!(r.agent_info.is_none() && r.tasks.is_empty());
    }
}
