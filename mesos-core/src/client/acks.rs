//! Acknowledgements over one pipelined HTTP/1.1 connection.
//!
//! A scheduler acknowledges every status update with a call of its own, and each one gates
//! the agent's next update of that task: during a large launch they are most of the calls a
//! framework makes. Sent one request at a time, each costs a round trip and a wake-up on
//! both sides. Here every acknowledgement waiting is written in one go (HTTP/1.1
//! pipelining, which the master serves as any HTTP/1.1 server does: answers in order),
//! then the answers are read; what arrives meanwhile goes out in the next batch. A master
//! reached over HTTPS gets one call per acknowledgement instead.

use super::{ClientError, SchedulerClient};
use mesos_proto::ids::FrameworkId;
use mesos_proto::scheduler::{Acknowledge, Call};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// The most acknowledgements written in one batch.
const MAX_BATCH: usize = 256;
/// The most an answer's head and body may take.
const MAX_ANSWER: usize = 64 * 1024;

/// Sends acknowledgements for one subscription; dropping it stops the sender.
#[derive(Clone)]
pub struct Acknowledger {
    tx: mpsc::UnboundedSender<Acknowledge>,
}

impl Acknowledger {
    /// Start sending the acknowledgements of `client`'s subscription. A failure is logged:
    /// the agent sends an update again until it is acknowledged.
    pub(super) fn start(client: &SchedulerClient) -> Acknowledger {
        let (tx, rx) = mpsc::unbounded_channel();
        match client.base.strip_prefix("http://") {
            Some(host) => {
                let target = Target {
                    host: host.trim_end_matches('/').to_string(),
                    framework_id: client.framework_id.clone(),
                    stream_id: client.stream_id.clone(),
                };
                tokio::spawn(run(target, rx));
            }
            None => {
                tokio::spawn(one_call_each(client.clone(), rx));
            }
        }
        Acknowledger { tx }
    }

    /// Queue an acknowledgement.
    pub fn acknowledge(&self, ack: Acknowledge) {
        let _ = self.tx.send(ack);
    }
}

/// Over HTTPS: each acknowledgement a call of its own, none waiting for another's answer.
async fn one_call_each(client: SchedulerClient, mut rx: mpsc::UnboundedReceiver<Acknowledge>) {
    while let Some(ack) = rx.recv().await {
        let c = client.clone();
        tokio::spawn(async move {
            if let Err(e) = c.call(Call::Acknowledge(ack)).await {
                tracing::warn!("acknowledgement failed: {e}");
            }
        });
    }
}

struct Target {
    host: String,
    framework_id: FrameworkId,
    stream_id: String,
}

async fn run(target: Target, mut rx: mpsc::UnboundedReceiver<Acknowledge>) {
    let mut conn: Option<Conn> = None;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(a) => batch.push(a),
                Err(_) => break,
            }
        }
        let mut requests = Vec::new();
        for ack in batch.iter().cloned() {
            let body = Call::Acknowledge(ack).to_bytes(Some(&target.framework_id));
            requests.extend_from_slice(
                format!(
                    "POST /api/v1/scheduler HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nMesos-Stream-Id: {}\r\nContent-Length: {}\r\n\r\n",
                    target.host,
                    target.stream_id,
                    body.len()
                )
                .as_bytes(),
            );
            requests.extend_from_slice(&body);
        }
        let c = match conn.take() {
            Some(c) => c,
            None => match Conn::open(&target.host).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("{} acknowledgements not sent: {e}", batch.len());
                    continue;
                }
            },
        };
        match c.exchange(&requests, batch.len()).await {
            Ok((c, refused)) => {
                for (status, text) in refused {
                    tracing::warn!("acknowledgement refused: {status} {text}");
                }
                conn = c;
            }
            Err(e) => tracing::warn!("acknowledgements lost with the connection: {e}"),
        }
    }
}

/// The connection, with what was read past the last answer.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    async fn open(host: &str) -> Result<Conn, ClientError> {
        let stream = TcpStream::connect(host)
            .await
            .map_err(|e| ClientError::Transport(format!("cannot connect to {host}: {e}")))?;
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            buf: Vec::new(),
        })
    }

    /// Write `requests` (`n` of them) and read their `n` answers. The connection back unless
    /// the master closes it, and the answers that were not 2xx.
    async fn exchange(
        mut self,
        requests: &[u8],
        n: usize,
    ) -> Result<(Option<Conn>, Vec<(u16, String)>), ClientError> {
        let io = |e: std::io::Error| ClientError::Transport(e.to_string());
        self.stream.write_all(requests).await.map_err(io)?;
        let mut refused = Vec::new();
        let mut keep = true;
        for _ in 0..n {
            let answer = loop {
                if let Some(a) = take_answer(&mut self.buf)? {
                    break a;
                }
                if self.buf.len() > MAX_ANSWER {
                    return Err(ClientError::Protocol("answer too large".into()));
                }
                let mut chunk = [0u8; 16 * 1024];
                let got = self.stream.read(&mut chunk).await.map_err(io)?;
                if got == 0 {
                    return Err(ClientError::Transport(
                        "the master closed the connection".into(),
                    ));
                }
                self.buf.extend_from_slice(&chunk[..got]);
            };
            if !(200..300).contains(&answer.status) {
                refused.push((answer.status, answer.body));
            }
            keep &= !answer.closes;
        }
        Ok((keep.then_some(self), refused))
    }
}

/// An answer to one request.
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    body: String,
    /// The master closes the connection after it.
    closes: bool,
}

/// The complete answer `buf` starts with, taken from it; `None` while incomplete. Answers
/// need a `Content-Length` (the master's have one).
fn take_answer(buf: &mut Vec<u8>) -> Result<Option<Answer>, ClientError> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut r = httparse::Response::new(&mut headers);
    let head = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(ClientError::Protocol(format!("malformed answer: {e}"))),
    };
    let status = r.code.unwrap_or(0);
    let mut length = None;
    let mut closes = r.version == Some(0);
    for h in r.headers.iter() {
        let value = String::from_utf8_lossy(h.value);
        if h.name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse::<usize>().ok();
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(ClientError::Protocol(format!(
                "unexpected Transfer-Encoding {value} in an answer"
            )));
        } else if h.name.eq_ignore_ascii_case("connection") {
            closes = value.eq_ignore_ascii_case("close");
        }
    }
    let length = match (length, status) {
        (Some(l), _) => l,
        (None, 204 | 304) => 0,
        (None, _) => {
            return Err(ClientError::Protocol(
                "an answer without Content-Length".into(),
            ))
        }
    };
    if buf.len() < head + length {
        return Ok(None);
    }
    let body = String::from_utf8_lossy(&buf[head..head + length]).into_owned();
    buf.drain(..head + length);
    Ok(Some(Answer {
        status,
        body,
        closes,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn a_batch_goes_out_in_one_write_and_its_answers_are_read_in_order() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // A server that waits for all three requests before answering any: a client that
        // sent one request at a time would never get an answer.
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            while got.windows(4).filter(|w| w == b"\r\n\r\n").count() < 3 || !got.ends_with(b"}") {
                let mut chunk = [0u8; 4096];
                let n = s.read(&mut chunk).await.unwrap();
                assert!(n > 0, "the client closed early");
                got.extend_from_slice(&chunk[..n]);
            }
            s.write_all(
                b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n\
                  HTTP/1.1 400 Bad Request\r\ncontent-length: 8\r\n\r\nbad uuid\
                  HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n",
            )
            .await
            .unwrap();
            String::from_utf8(got).unwrap()
        });
        let ack = |uuid: &str| Acknowledge {
            agent_id: mesos_proto::ids::AgentId::new("a"),
            task_id: mesos_proto::ids::TaskId::new("t"),
            uuid: uuid.into(),
        };
        let mut requests = Vec::new();
        for u in ["dQ==", "dg==", "dw=="] {
            let body = Call::Acknowledge(ack(u)).to_bytes(Some(&FrameworkId::new("f")));
            requests.extend_from_slice(
                format!(
                    "POST /api/v1/scheduler HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                )
                .as_bytes(),
            );
            requests.extend_from_slice(&body);
        }
        let conn = Conn::open(&addr.to_string()).await.unwrap();
        let (conn, refused) = conn.exchange(&requests, 3).await.unwrap();
        assert!(conn.is_some(), "kept alive");
        assert_eq!(refused, vec![(400, "bad uuid".to_string())]);
        let seen = server.await.unwrap();
        assert_eq!(seen.matches("POST /api/v1/scheduler").count(), 3);
    }

    #[test]
    fn answers_are_taken_one_at_a_time_once_complete() {
        let mut buf = b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\nHTTP/1.1 400 Bad Request\r\nContent-Length: 5\r\nConnection: close\r\n\r\nno".to_vec();
        let a = take_answer(&mut buf).unwrap().unwrap();
        assert_eq!((a.status, a.body.as_str(), a.closes), (202, "", false));
        // The second one's body is not all there yet.
        assert_eq!(take_answer(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"pe!");
        let b = take_answer(&mut buf).unwrap().unwrap();
        assert_eq!((b.status, b.body.as_str(), b.closes), (400, "nope!", true));
        assert!(buf.is_empty());
        let mut chunked =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec();
        assert!(take_answer(&mut chunked).is_err());
    }
}
