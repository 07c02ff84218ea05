//! The network and the clock: one queue of timed events.
//!
//! Every message, timer and fault is an [`Ev`] due at a simulated millisecond. Ties are
//! broken by insertion order, so a run is a pure function of the seed. Messages sent on
//! one channel (a stream, or an agent's sequence of POSTs) never overtake each other.

use mesos_master::state::{ConnId, Input as MasterInput, Reply};
use mesos_proto::executor::{Call as ExecCall, Event as ExecEvent};
use mesos_proto::ids::{ContainerId, TaskId};
use mesos_proto::internal::MasterToAgent;
use mesos_proto::scheduler::Event as SchedEvent;
use mesos_proto::v1::TaskState;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

/// Which stream a message travels on (messages on one channel stay in order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Chan {
    /// The master's stream to an agent connection.
    AgentStream(ConnId),
    /// An agent's POSTs to the master (one in flight at a time in the real agent).
    AgentPosts(usize),
    /// A scheduler event stream.
    FwStream(u64),
    /// A framework's calls (sent one after another on one connection).
    FwCalls(usize),
    /// An executor's connection to its agent (host, executor connection).
    Exec(usize, u64),
}

/// What a simulated executor does on a timer.
#[derive(Clone, Debug)]
pub(crate) enum ExecTimer {
    Subscribe,
    /// The task ends by itself in this state.
    End(TaskId, TaskState),
    /// The process exits with this wait status.
    Exit(i32),
}

/// Node faults, scheduled in advance.
#[derive(Clone, Debug)]
pub(crate) enum Fault {
    Draw,
    AgentRestart(usize),
    MasterRestart,
    Heal(usize),
    Quiet,
}

// Events live only between push and pop; boxing the large messages would only add
// allocations (the master and agent crates make the same choice for their messages).
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub(crate) enum Ev {
    MasterTick(u64),
    AgentTick(usize, u64),
    FwTick(usize),
    /// An input for the master incarnation `inc`; lost if that master is gone.
    ToMaster {
        inc: u64,
        from: Origin,
        input: MasterInput,
    },
    /// The master's reply to a scheduler call.
    FwReply {
        fw: usize,
        stream: Option<String>,
        subscribe: bool,
        reply: Reply,
    },
    FwEvent {
        fw: usize,
        stream: String,
        event: SchedEvent,
    },
    FwStreamEnded {
        fw: usize,
        stream: String,
    },
    AgentStream {
        host: usize,
        conn: ConnId,
        msg: MasterToAgent,
    },
    AgentStreamEnded {
        host: usize,
        conn: ConnId,
    },
    AgentConnectFailed {
        host: usize,
        conn: ConnId,
    },
    /// 409 to an agent message: the agent must re-register.
    AgentRefused {
        host: usize,
    },
    AgentReconnect {
        host: usize,
        inc: u64,
    },
    /// An executor call to the agent incarnation `inc` of `host`.
    ExecCall {
        host: usize,
        inc: u64,
        cid: ContainerId,
        conn: Option<u64>,
        call: ExecCall,
    },
    /// The agent's answer to an executor call (`Ok` opens the stream of a SUBSCRIBE).
    ExecReply {
        host: usize,
        cid: ContainerId,
        conn: Option<u64>,
        ok: bool,
    },
    ExecEvent {
        host: usize,
        conn: u64,
        event: ExecEvent,
    },
    ExecStreamEnded {
        host: usize,
        conn: u64,
    },
    ExecTimer {
        host: usize,
        cid: ContainerId,
        timer: ExecTimer,
    },
    /// The containerizer finished starting a container (for agent incarnation `inc`).
    ContainerStarted {
        host: usize,
        inc: u64,
        cid: ContainerId,
    },
    /// Destroy a container: its process dies.
    ContainerKill {
        host: usize,
        cid: ContainerId,
    },
    /// The agent learns that a container's process exited.
    ContainerExited {
        host: usize,
        inc: u64,
        cid: ContainerId,
        status: i32,
    },
    Fault(Fault),
}

/// Who sent an input to the master (where its reply goes).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Origin {
    Fw(usize),
    Agent(usize),
    /// Notifications (stream closed) that need no reply.
    None,
}

/// Boxed: the heap moves entries on every push and pop, and an `Ev` is large.
struct Entry {
    at: u64,
    seq: u64,
    ev: Box<Ev>,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    // Reversed: the heap pops the earliest event first.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

/// The event queue, with per-channel ordering.
#[derive(Default)]
pub(crate) struct Queue {
    heap: BinaryHeap<Entry>,
    seq: u64,
    /// When the last message sent on each channel arrives (only looked up, never iterated).
    last: HashMap<Chan, u64>,
}

impl Queue {
    /// Schedule `ev` at `at`, but not before anything already sent on `chan`.
    pub fn push(&mut self, mut at: u64, chan: Option<Chan>, ev: Ev) {
        if let Some(c) = chan {
            let last = self.last.entry(c).or_insert(0);
            at = at.max(*last);
            *last = at;
        }
        self.seq += 1;
        self.heap.push(Entry {
            at,
            seq: self.seq,
            ev: Box::new(ev),
        });
    }

    pub fn pop(&mut self) -> Option<(u64, Ev)> {
        self.heap.pop().map(|e| (e.at, *e.ev))
    }

    pub fn peek_time(&self) -> Option<u64> {
        self.heap.peek().map(|e| e.at)
    }

    /// Whether anything that changes task state is still in flight.
    pub fn task_traffic(&self) -> bool {
        use mesos_proto::internal::AgentToMaster;
        self.heap.iter().any(|e| match &*e.ev {
            Ev::ToMaster { input, .. } => match input {
                MasterInput::AgentMessage { envelope } => {
                    matches!(envelope.message, AgentToMaster::StatusUpdate { .. })
                }
                MasterInput::Scheduler { call, .. } => !matches!(
                    call,
                    mesos_proto::scheduler::Call::Decline(_)
                        | mesos_proto::scheduler::Call::Reconcile(_)
                ),
                _ => false,
            },
            Ev::FwEvent { event, .. } => matches!(event, SchedEvent::Update(_)),
            Ev::AgentStream { msg, .. } => !matches!(msg, MasterToAgent::Ping),
            Ev::ExecCall { .. }
            | Ev::ExecEvent { .. }
            | Ev::ExecReply { .. }
            | Ev::ContainerStarted { .. }
            | Ev::ContainerKill { .. }
            | Ev::ContainerExited { .. } => true,
            _ => false,
        })
    }
}
