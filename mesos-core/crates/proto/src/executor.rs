//! The v1 executor API (`POST /api/v1/executor` on the agent).

use crate::ids::*;
use crate::v1::*;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UnacknowledgedUpdate {
    pub status: Option<TaskStatus>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Subscribe {
    #[serde(default)]
    pub unacknowledged_tasks: Vec<TaskInfo>,
    #[serde(default)]
    pub unacknowledged_updates: Vec<UnacknowledgedUpdate>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Update {
    pub status: TaskStatus,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub data: String,
}

/// An executor call. Every call carries `executor_id` and `framework_id`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Call {
    pub executor_id: ExecutorId,
    pub framework_id: FrameworkId,
    #[serde(rename = "type")]
    pub kind: CallType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribe: Option<Subscribe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<Update>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CallType {
    Subscribe,
    Update,
    Message,
    Heartbeat,
}

impl Call {
    /// Parse and validate as the agent does (`validateExecutorCall`).
    pub fn parse(body: &[u8]) -> Result<Call, String> {
        let call: Call = serde_json::from_slice(body)
            .map_err(|e| format!("Failed to parse body into Call protobuf: {e}"))?;
        let fail = |m: &str| Err(format!("Failed to validate executor::Call: {m}"));
        match call.kind {
            CallType::Subscribe if call.subscribe.is_none() => {
                return fail("Expecting 'subscribe' to be present")
            }
            CallType::Message if call.message.is_none() => {
                return fail("Expecting 'message' to be present")
            }
            CallType::Update => {
                let Some(u) = &call.update else {
                    return fail("Expecting 'update' to be present");
                };
                let Some(uuid) = &u.status.uuid else {
                    return fail("Expecting 'uuid' to be present");
                };
                match crate::json::b64_decode(uuid) {
                    Ok(b) if b.len() == 16 => {}
                    _ => return fail("'uuid' is not a valid UUID"),
                }
                if u.status.state == TaskState::TaskStaging {
                    return fail("Received TASK_STAGING from executor");
                }
                if let Some(src) = &u.status.source {
                    if src != "SOURCE_EXECUTOR" {
                        return fail(
                            "Received Call from executor with 'source' not SOURCE_EXECUTOR",
                        );
                    }
                }
                if let Some(e) = &u.status.executor_id {
                    if e != &call.executor_id {
                        return fail("ExecutorID in Call does not match ExecutorID in TaskStatus");
                    }
                }
            }
            _ => {}
        }
        Ok(call)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subscribed {
    pub executor_info: ExecutorInfo,
    pub framework_info: FrameworkInfo,
    pub agent_info: AgentInfo,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_id: Option<ContainerId>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LaunchEv {
    pub task: TaskInfo,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LaunchGroupEv {
    pub task_group: TaskGroupInfo,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KillEv {
    pub task_id: TaskId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AcknowledgedEv {
    pub task_id: TaskId,
    pub uuid: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorEv {
    pub message: String,
}

/// An executor event. Read through [`EventEnvelope`]: serde's internally tagged enums
/// buffer the whole event before looking at its `type`, and this is the one message an
/// executor parses per call it makes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "SCREAMING_SNAKE_CASE",
    try_from = "EventEnvelope"
)]
pub enum Event {
    Subscribed { subscribed: Subscribed },
    Launch { launch: LaunchEv },
    LaunchGroup { launch_group: LaunchGroupEv },
    Kill { kill: KillEv },
    Acknowledged { acknowledged: AcknowledgedEv },
    Message { message: Message },
    Error { error: ErrorEv },
    Shutdown,
    Heartbeat,
}

/// An event as it is on the wire: `type` and the payload under its field name.
#[derive(Deserialize)]
struct EventEnvelope {
    #[serde(rename = "type")]
    kind: String,
    subscribed: Option<Subscribed>,
    launch: Option<LaunchEv>,
    launch_group: Option<LaunchGroupEv>,
    kill: Option<KillEv>,
    acknowledged: Option<AcknowledgedEv>,
    message: Option<Message>,
    error: Option<ErrorEv>,
}

impl TryFrom<EventEnvelope> for Event {
    type Error = String;

    fn try_from(e: EventEnvelope) -> Result<Event, String> {
        fn payload<T>(p: Option<T>, field: &str) -> Result<T, String> {
            p.ok_or_else(|| format!("missing field `{field}`"))
        }
        Ok(match e.kind.as_str() {
            "SUBSCRIBED" => Event::Subscribed {
                subscribed: payload(e.subscribed, "subscribed")?,
            },
            "LAUNCH" => Event::Launch {
                launch: payload(e.launch, "launch")?,
            },
            "LAUNCH_GROUP" => Event::LaunchGroup {
                launch_group: payload(e.launch_group, "launch_group")?,
            },
            "KILL" => Event::Kill {
                kill: payload(e.kill, "kill")?,
            },
            "ACKNOWLEDGED" => Event::Acknowledged {
                acknowledged: payload(e.acknowledged, "acknowledged")?,
            },
            "MESSAGE" => Event::Message {
                message: payload(e.message, "message")?,
            },
            "ERROR" => Event::Error {
                error: payload(e.error, "error")?,
            },
            "SHUTDOWN" => Event::Shutdown,
            "HEARTBEAT" => Event::Heartbeat,
            other => return Err(format!("unknown event type `{other}`")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_have_the_wire_shape() {
        let e = Event::Kill {
            kill: KillEv {
                task_id: TaskId::new("t"),
                kill_policy: None,
            },
        };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"type":"KILL","kill":{"task_id":{"value":"t"}}})
        );
        assert_eq!(
            serde_json::to_value(Event::Shutdown).unwrap(),
            serde_json::json!({"type":"SHUTDOWN"})
        );
    }

    #[test]
    fn events_read_back_as_written() {
        let events = vec![
            Event::Kill {
                kill: KillEv {
                    task_id: TaskId::new("t"),
                    kill_policy: None,
                },
            },
            Event::Acknowledged {
                acknowledged: AcknowledgedEv {
                    task_id: TaskId::new("t"),
                    uuid: "dQ==".into(),
                },
            },
            Event::Error {
                error: ErrorEv {
                    message: "m".into(),
                },
            },
            Event::Shutdown,
            Event::Heartbeat,
        ];
        for e in events {
            let bytes = serde_json::to_vec(&e).unwrap();
            assert_eq!(serde_json::from_slice::<Event>(&bytes).unwrap(), e);
        }
        let err = |s: &str| serde_json::from_str::<Event>(s).unwrap_err().to_string();
        assert!(err(r#"{"type":"LAUNCH"}"#).contains("missing field `launch`"));
        assert!(err(r#"{"type":"REBOOT"}"#).contains("unknown event type `REBOOT`"));
    }

    #[test]
    fn update_needs_a_uuid() {
        let body = br#"{"type":"UPDATE","executor_id":{"value":"e"},"framework_id":{"value":"f"},"update":{"status":{"task_id":{"value":"t"},"state":"TASK_RUNNING"}}}"#;
        assert!(Call::parse(body).unwrap_err().contains("uuid"));
    }
}
