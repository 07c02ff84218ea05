//! The v1 scheduler API: calls a framework sends and events it receives.

use crate::ids::*;
use crate::json::b64_decode;
use crate::v1::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subscribe {
    pub framework_info: FrameworkInfo,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed_roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_constraints: Option<Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Accept {
    #[serde(default)]
    pub offer_ids: Vec<OfferId>,
    #[serde(default)]
    pub operations: Vec<Operation>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Decline {
    #[serde(default)]
    pub offer_ids: Vec<OfferId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Roles {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Kill {
    pub task_id: TaskId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Shutdown {
    pub executor_id: ExecutorId,
    pub agent_id: AgentId,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Acknowledge {
    pub agent_id: AgentId,
    pub task_id: TaskId,
    pub uuid: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReconcileTask {
    pub task_id: TaskId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reconcile {
    #[serde(default)]
    pub tasks: Vec<ReconcileTask>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub agent_id: AgentId,
    pub executor_id: ExecutorId,
    pub data: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Request {
    #[serde(default)]
    pub requests: Vec<Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UpdateFramework {
    pub framework_info: FrameworkInfo,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed_roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_constraints: Option<Value>,
}

/// A scheduler call, closed over every type of the v1 API.
#[derive(Clone, Debug, PartialEq)]
pub enum Call {
    Subscribe(Subscribe),
    Teardown,
    Accept(Accept),
    Decline(Decline),
    AcceptInverseOffers(Value),
    DeclineInverseOffers(Value),
    Revive(Roles),
    Suppress(Roles),
    Kill(Kill),
    Shutdown(Shutdown),
    Acknowledge(Acknowledge),
    AcknowledgeOperationStatus(Value),
    Reconcile(Reconcile),
    ReconcileOperations(Value),
    Message(Message),
    Request(Request),
    UpdateFramework(UpdateFramework),
}

/// The JSON envelope: `{"type": ..., "framework_id": ..., "<payload>": ...}` (read here;
/// written by [`CallRef`]).
#[derive(Default, Deserialize)]
struct Envelope {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    framework_id: Option<FrameworkId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subscribe: Option<Subscribe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    accept: Option<Accept>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    decline: Option<Decline>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    accept_inverse_offers: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    decline_inverse_offers: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revive: Option<Roles>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    suppress: Option<Roles>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kill: Option<Kill>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    shutdown: Option<Shutdown>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    acknowledge: Option<Acknowledge>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    acknowledge_operation_status: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reconcile: Option<Reconcile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reconcile_operations: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    request: Option<Request>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    update_framework: Option<UpdateFramework>,
}

fn missing(kind: &str, field: &str) -> String {
    format!("Expecting '{field}' to be present for call type {kind}")
}

/// A parsed call: the top-level `framework_id` and the typed payload.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedCall {
    pub framework_id: Option<FrameworkId>,
    pub call: Call,
}

impl Call {
    pub fn type_name(&self) -> &'static str {
        match self {
            Call::Subscribe(_) => "SUBSCRIBE",
            Call::Teardown => "TEARDOWN",
            Call::Accept(_) => "ACCEPT",
            Call::Decline(_) => "DECLINE",
            Call::AcceptInverseOffers(_) => "ACCEPT_INVERSE_OFFERS",
            Call::DeclineInverseOffers(_) => "DECLINE_INVERSE_OFFERS",
            Call::Revive(_) => "REVIVE",
            Call::Suppress(_) => "SUPPRESS",
            Call::Kill(_) => "KILL",
            Call::Shutdown(_) => "SHUTDOWN",
            Call::Acknowledge(_) => "ACKNOWLEDGE",
            Call::AcknowledgeOperationStatus(_) => "ACKNOWLEDGE_OPERATION_STATUS",
            Call::Reconcile(_) => "RECONCILE",
            Call::ReconcileOperations(_) => "RECONCILE_OPERATIONS",
            Call::Message(_) => "MESSAGE",
            Call::Request(_) => "REQUEST",
            Call::UpdateFramework(_) => "UPDATE_FRAMEWORK",
        }
    }

    /// Parse and validate a JSON call as the master does (`validation::scheduler::call`).
    /// The error text follows `Failed to validate scheduler::Call: ...`.
    pub fn parse(body: &[u8]) -> Result<ParsedCall, String> {
        let env: Envelope = serde_json::from_slice(body)
            .map_err(|e| format!("Failed to parse body into Call protobuf: {e}"))?;
        let kind = env.kind.clone().ok_or_else(|| {
            "Failed to validate scheduler::Call: Expecting 'type' to be present".to_string()
        })?;
        let need = |field: &str| {
            format!(
                "Failed to validate scheduler::Call: {}",
                missing(&kind, field)
            )
        };
        macro_rules! payload {
            ($f:ident) => {
                env.$f.ok_or_else(|| need(stringify!($f)))?
            };
        }
        let call = match kind.as_str() {
            "SUBSCRIBE" => Call::Subscribe(payload!(subscribe)),
            "TEARDOWN" => Call::Teardown,
            "ACCEPT" => Call::Accept(payload!(accept)),
            "DECLINE" => Call::Decline(payload!(decline)),
            "ACCEPT_INVERSE_OFFERS" => Call::AcceptInverseOffers(payload!(accept_inverse_offers)),
            "DECLINE_INVERSE_OFFERS" => {
                Call::DeclineInverseOffers(payload!(decline_inverse_offers))
            }
            "REVIVE" => Call::Revive(env.revive.unwrap_or_default()),
            "SUPPRESS" => Call::Suppress(env.suppress.unwrap_or_default()),
            "KILL" => Call::Kill(payload!(kill)),
            "SHUTDOWN" => Call::Shutdown(payload!(shutdown)),
            "ACKNOWLEDGE" => Call::Acknowledge(payload!(acknowledge)),
            "ACKNOWLEDGE_OPERATION_STATUS" => {
                Call::AcknowledgeOperationStatus(payload!(acknowledge_operation_status))
            }
            "RECONCILE" => Call::Reconcile(env.reconcile.unwrap_or_default()),
            "RECONCILE_OPERATIONS" => {
                Call::ReconcileOperations(env.reconcile_operations.unwrap_or(Value::Null))
            }
            "MESSAGE" => Call::Message(payload!(message)),
            "REQUEST" => Call::Request(env.request.unwrap_or_default()),
            "UPDATE_FRAMEWORK" => Call::UpdateFramework(payload!(update_framework)),
            other => {
                return Err(format!(
                    "Failed to validate scheduler::Call: Unknown call type '{other}'"
                ))
            }
        };
        let fail = |m: String| format!("Failed to validate scheduler::Call: {m}");
        match &call {
            Call::Subscribe(s) => {
                let inner = s.framework_info.id.as_ref();
                if env.framework_id.as_ref() != inner {
                    return Err(fail(
                        "'framework_id' differs from 'subscribe.framework_info.id'".into(),
                    ));
                }
            }
            _ if env.framework_id.is_none() => {
                return Err(fail("Expecting 'framework_id' to be present".into()));
            }
            Call::Acknowledge(a) => {
                let bytes = b64_decode(&a.uuid).map_err(fail)?;
                if bytes.len() != 16 {
                    return Err(fail("'uuid' must be 16 bytes".into()));
                }
            }
            Call::Message(m) => {
                b64_decode(&m.data).map_err(fail)?;
            }
            Call::UpdateFramework(u)
                if u.framework_info.id.as_ref() != env.framework_id.as_ref() =>
            {
                return Err(fail(
                    "'framework_id' differs from 'update_framework.framework_info.id'".into(),
                ));
            }
            Call::Accept(a) => {
                for op in &a.operations {
                    for t in op.launch.iter().flat_map(|l| l.task_infos.iter()).chain(
                        op.launch_group
                            .iter()
                            .flat_map(|g| g.task_group.tasks.iter()),
                    ) {
                        if let Some(d) = &t.data {
                            b64_decode(d).map_err(fail)?;
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(ParsedCall {
            framework_id: env.framework_id,
            call,
        })
    }

    /// Serialize as a client would send it.
    pub fn to_json(&self, framework_id: Option<&FrameworkId>) -> Value {
        serde_json::to_value(CallRef {
            call: self,
            framework_id,
        })
        .expect("calls serialize")
    }

    /// The JSON bytes of [`Call::to_json`], written straight from the call (no copy of it and
    /// no JSON tree in between).
    pub fn to_bytes(&self, framework_id: Option<&FrameworkId>) -> Vec<u8> {
        serde_json::to_vec(&CallRef {
            call: self,
            framework_id,
        })
        .expect("calls serialize")
    }
}

/// A call's envelope, serialized from a borrowed call: `type`, `framework_id` when given,
/// and the payload under its field name (as [`Envelope`] has them).
struct CallRef<'a> {
    call: &'a Call,
    framework_id: Option<&'a FrameworkId>,
}

impl Serialize for CallRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("type", self.call.type_name())?;
        if let Some(f) = self.framework_id {
            m.serialize_entry("framework_id", f)?;
        }
        match self.call {
            Call::Subscribe(x) => m.serialize_entry("subscribe", x)?,
            Call::Teardown => {}
            Call::Accept(x) => m.serialize_entry("accept", x)?,
            Call::Decline(x) => m.serialize_entry("decline", x)?,
            Call::AcceptInverseOffers(x) => m.serialize_entry("accept_inverse_offers", x)?,
            Call::DeclineInverseOffers(x) => m.serialize_entry("decline_inverse_offers", x)?,
            Call::Revive(x) => m.serialize_entry("revive", x)?,
            Call::Suppress(x) => m.serialize_entry("suppress", x)?,
            Call::Kill(x) => m.serialize_entry("kill", x)?,
            Call::Shutdown(x) => m.serialize_entry("shutdown", x)?,
            Call::Acknowledge(x) => m.serialize_entry("acknowledge", x)?,
            Call::AcknowledgeOperationStatus(x) => {
                m.serialize_entry("acknowledge_operation_status", x)?
            }
            Call::Reconcile(x) => m.serialize_entry("reconcile", x)?,
            Call::ReconcileOperations(x) => m.serialize_entry("reconcile_operations", x)?,
            Call::Message(x) => m.serialize_entry("message", x)?,
            Call::Request(x) => m.serialize_entry("request", x)?,
            Call::UpdateFramework(x) => m.serialize_entry("update_framework", x)?,
        }
        m.end()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Subscribed {
    pub framework_id: FrameworkId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_interval_seconds: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_info: Option<MasterInfo>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Offers {
    #[serde(default)]
    pub offers: Vec<Offer>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rescind {
    pub offer_id: OfferId,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Update {
    pub status: TaskStatus,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_id: Option<ExecutorId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorMessage {
    pub message: String,
}

/// A scheduler event, closed over the types this master emits.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Subscribed(Subscribed),
    Offers(Offers),
    Rescind(Rescind),
    Update(Update),
    Message(Message),
    Failure(Failure),
    Error(ErrorMessage),
    Heartbeat,
}

/// Read here; written by [`EventRef`].
#[derive(Default, Deserialize)]
struct EventEnvelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subscribed: Option<Subscribed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    offers: Option<Offers>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rescind: Option<Rescind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    update: Option<Update>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<Message>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failure: Option<Failure>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<ErrorMessage>,
}

/// An event's envelope, serialized from a borrowed event: `type` and the payload under its
/// field name (as [`EventEnvelope`] has them).
struct EventRef<'a>(&'a Event);

impl Serialize for EventRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("type", self.0.type_name())?;
        match self.0 {
            Event::Subscribed(x) => m.serialize_entry("subscribed", x)?,
            Event::Offers(x) => m.serialize_entry("offers", x)?,
            Event::Rescind(x) => m.serialize_entry("rescind", x)?,
            Event::Update(x) => m.serialize_entry("update", x)?,
            Event::Message(x) => m.serialize_entry("message", x)?,
            Event::Failure(x) => m.serialize_entry("failure", x)?,
            Event::Error(x) => m.serialize_entry("error", x)?,
            Event::Heartbeat => {}
        }
        m.end()
    }
}

impl Event {
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::Subscribed(_) => "SUBSCRIBED",
            Event::Offers(_) => "OFFERS",
            Event::Rescind(_) => "RESCIND",
            Event::Update(_) => "UPDATE",
            Event::Message(_) => "MESSAGE",
            Event::Failure(_) => "FAILURE",
            Event::Error(_) => "ERROR",
            Event::Heartbeat => "HEARTBEAT",
        }
    }

    pub fn to_json(&self) -> Value {
        serde_json::to_value(EventRef(self)).expect("events serialize")
    }

    /// The JSON bytes of [`Event::to_json`], written straight from the event.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&EventRef(self)).expect("events serialize")
    }

    pub fn parse(bytes: &[u8]) -> Result<Event, String> {
        let env: EventEnvelope = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        let need = |f: &str| format!("event {} lacks '{f}'", env.kind);
        Ok(match env.kind.as_str() {
            "SUBSCRIBED" => Event::Subscribed(env.subscribed.ok_or_else(|| need("subscribed"))?),
            "OFFERS" => Event::Offers(env.offers.ok_or_else(|| need("offers"))?),
            "RESCIND" => Event::Rescind(env.rescind.ok_or_else(|| need("rescind"))?),
            "UPDATE" => Event::Update(env.update.ok_or_else(|| need("update"))?),
            "MESSAGE" => Event::Message(env.message.ok_or_else(|| need("message"))?),
            "FAILURE" => Event::Failure(env.failure.ok_or_else(|| need("failure"))?),
            "ERROR" => Event::Error(env.error.ok_or_else(|| need("error"))?),
            "HEARTBEAT" => Event::Heartbeat,
            other => return Err(format!("unknown event type '{other}'")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_pymesos_subscribe() {
        let body = br#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"alice","name":"MinimalFramework","hostname":"sched1","capabilities":[{"type":"GPU_RESOURCES"}],"failover_timeout":100}}}"#;
        let p = Call::parse(body).unwrap();
        assert!(p.framework_id.is_none());
        match p.call {
            Call::Subscribe(s) => assert_eq!(s.framework_info.failover_timeout, 100.0),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_resubscribe_with_mismatched_ids() {
        let body = br#"{"type":"SUBSCRIBE","framework_id":{"value":"x"},"subscribe":{"framework_info":{"user":"a","name":"b"}}}"#;
        assert!(Call::parse(body).unwrap_err().contains("framework_id"));
    }

    #[test]
    fn requires_payload_and_framework_id() {
        let e = Call::parse(br#"{"type":"ACCEPT","framework_id":{"value":"x"}}"#).unwrap_err();
        assert!(e.contains("'accept'"), "{e}");
        let e = Call::parse(br#"{"type":"TEARDOWN"}"#).unwrap_err();
        assert!(e.contains("framework_id"), "{e}");
        assert!(Call::parse(b"{not json").is_err());
        assert!(Call::parse(br#"{"type":"BOGUS","framework_id":{"value":"x"}}"#).is_err());
    }

    #[test]
    fn acknowledge_uuid_must_be_16_bytes() {
        let ok = br#"{"type":"ACKNOWLEDGE","framework_id":{"value":"f"},"acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"D2wrGp0+TFuKfx4tPEtaaQ=="}}"#;
        assert!(Call::parse(ok).is_ok());
        let bad = br#"{"type":"ACKNOWLEDGE","framework_id":{"value":"f"},"acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"aGk="}}"#;
        assert!(Call::parse(bad).is_err());
        let notb64 = br#"{"type":"ACKNOWLEDGE","framework_id":{"value":"f"},"acknowledge":{"agent_id":{"value":"a"},"task_id":{"value":"t"},"uuid":"!!"}}"#;
        assert!(Call::parse(notb64).unwrap_err().contains("base64"));
    }

    #[test]
    fn events_use_the_wire_nesting() {
        let e = Event::Offers(Offers { offers: vec![] });
        assert_eq!(
            e.to_json(),
            serde_json::json!({"type":"OFFERS","offers":{"offers":[]}})
        );
        let e = Event::Error(ErrorMessage {
            message: "x".into(),
        });
        assert_eq!(
            e.to_json(),
            serde_json::json!({"type":"ERROR","error":{"message":"x"}})
        );
        assert_eq!(Event::parse(&e.to_bytes()).unwrap(), e);
        assert_eq!(
            Event::Heartbeat.to_json(),
            serde_json::json!({"type":"HEARTBEAT"})
        );
    }

    #[test]
    fn calls_round_trip() {
        let c = Call::Kill(Kill {
            task_id: TaskId::new("t"),
            agent_id: None,
            kill_policy: None,
        });
        let f = FrameworkId::new("f");
        let bytes = serde_json::to_vec(&c.to_json(Some(&f))).unwrap();
        let p = Call::parse(&bytes).unwrap();
        assert_eq!(p.call, c);
        assert_eq!(p.framework_id, Some(f));
    }

    #[test]
    fn calls_written_directly_have_the_envelope_of_the_wire() {
        let f = FrameworkId::new("f");
        let ack = Call::Acknowledge(Acknowledge {
            agent_id: AgentId::new("a"),
            task_id: TaskId::new("t"),
            uuid: "AAAAAAAAAAAAAAAAAAAAAA==".into(),
        });
        assert_eq!(
            serde_json::from_slice::<Value>(&ack.to_bytes(Some(&f))).unwrap(),
            serde_json::json!({"type": "ACKNOWLEDGE", "framework_id": {"value": "f"},
                "acknowledge": {"agent_id": {"value": "a"}, "task_id": {"value": "t"},
                                "uuid": "AAAAAAAAAAAAAAAAAAAAAA=="}})
        );
        assert_eq!(
            serde_json::from_slice::<Value>(&Call::Teardown.to_bytes(Some(&f))).unwrap(),
            serde_json::json!({"type": "TEARDOWN", "framework_id": {"value": "f"}})
        );
        for c in [
            ack,
            Call::Teardown,
            Call::Revive(Roles::default()),
            Call::Reconcile(Reconcile { tasks: vec![] }),
        ] {
            let bytes = c.to_bytes(Some(&f));
            assert_eq!(
                serde_json::from_slice::<Value>(&bytes).unwrap(),
                c.to_json(Some(&f))
            );
            assert_eq!(Call::parse(&bytes).unwrap().call, c);
        }
    }
}
