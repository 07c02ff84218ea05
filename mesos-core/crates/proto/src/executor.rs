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

/// An executor event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
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
    fn update_needs_a_uuid() {
        let body = br#"{"type":"UPDATE","executor_id":{"value":"e"},"framework_id":{"value":"f"},"update":{"status":{"task_id":{"value":"t"},"state":"TASK_RUNNING"}}}"#;
        assert!(Call::parse(body).unwrap_err().contains("uuid"));
    }
}
