//! The executors' HTTP/1.1 client for the agent's executor API: POST a call and read the
//! answer over one kept-alive connection, or POST SUBSCRIBE and read the chunked event
//! stream.
//!
//! An executor talks to exactly one endpoint, in two shapes of exchange, so it does not
//! need a general client. A general one (reqwest with hyper's connection pool) was about a
//! third of an executor's CPU in the W4 launch benchmark: code touched for the first time
//! after the zygote's fork costs page faults, and an executor lives for a handful of
//! requests.

use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A connection to the agent: TCP or a Unix domain socket.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
type Conn = Box<dyn Io>;

/// The most a response head may take.
const MAX_HEAD: usize = 64 * 1024;
/// The most a non-streamed response body may take.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// How a response's body ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Framing {
    Length(usize),
    Chunked,
    /// No length given: the body runs until the server closes the connection.
    Close,
}

/// A response head.
#[derive(Debug)]
pub(super) struct Head {
    pub status: u16,
    pub framing: Framing,
    /// The server will close the connection after this response.
    pub closes: bool,
}

/// The agent's executor endpoint: `host:port` or a Unix socket, and the path.
pub(super) struct AgentHttp {
    endpoint: String,
    /// Connect here instead of to `endpoint` (`MESOS_DOMAIN_SOCKET`).
    socket: Option<PathBuf>,
    path: String,
    connect_timeout: Duration,
    /// The kept-alive connection for calls, with what was read past the last response.
    calls: Option<(Conn, Vec<u8>)>,
}

/// The body of a streamed (SUBSCRIBE) response, decoded from its chunks.
pub(super) struct EventStream {
    conn: Conn,
    buf: Vec<u8>,
    body: StreamBody,
}

/// A streamed response body, decoded as it arrives.
pub(super) struct StreamBody {
    framing: Framing,
    chunks: Chunked,
    done: bool,
}

impl StreamBody {
    pub fn new(framing: Framing) -> StreamBody {
        StreamBody {
            framing,
            chunks: Chunked::default(),
            done: false,
        }
    }

    /// Whether the body has ended.
    pub fn ended(&self) -> bool {
        self.done || self.framing == Framing::Length(0)
    }

    /// The body's bytes among what `buf` holds (taken from it).
    pub fn decode(&mut self, buf: &mut Vec<u8>) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        if self.done || buf.is_empty() {
            return Ok(out);
        }
        match self.framing {
            Framing::Chunked => match self.chunks.decode(buf, &mut out) {
                Ok(done) => self.done = done,
                Err(e) => {
                    self.done = true;
                    return Err(e);
                }
            },
            Framing::Length(left) => {
                let n = left.min(buf.len());
                out.extend(buf.drain(..n));
                self.framing = Framing::Length(left - n);
                self.done = left == n;
            }
            Framing::Close => out.append(buf),
        }
        Ok(out)
    }

    /// The connection closed: an error unless the close is what ends the body.
    pub fn closed(&mut self) -> Result<(), String> {
        self.done = true;
        match self.framing {
            Framing::Close => Ok(()),
            _ => Err("connection closed in the middle of the body".into()),
        }
    }
}

impl AgentHttp {
    pub fn new(
        endpoint: &str,
        socket: Option<PathBuf>,
        path: &str,
        connect_timeout: Duration,
    ) -> AgentHttp {
        AgentHttp {
            endpoint: endpoint.to_string(),
            socket,
            path: path.to_string(),
            connect_timeout,
            calls: None,
        }
    }

    async fn connect(&self) -> Result<Conn, String> {
        let timed_out = |to: &dyn std::fmt::Display| format!("connecting to {to} timed out");
        if let Some(path) = &self.socket {
            let conn =
                tokio::time::timeout(self.connect_timeout, tokio::net::UnixStream::connect(path))
                    .await
                    .map_err(|_| timed_out(&path.display()))?
                    .map_err(|e| format!("cannot connect to {}: {e}", path.display()))?;
            return Ok(Box::new(conn));
        }
        let conn = tokio::time::timeout(
            self.connect_timeout,
            tokio::net::TcpStream::connect(&self.endpoint),
        )
        .await
        .map_err(|_| timed_out(&self.endpoint))?
        .map_err(|e| format!("cannot connect to {}: {e}", self.endpoint))?;
        // Every request goes out in one write; nothing is gained by delaying it.
        let _ = conn.set_nodelay(true);
        Ok(Box::new(conn))
    }

    fn request(&self, body: &str, accept_json: bool) -> Vec<u8> {
        let host = if self.socket.is_some() {
            "localhost"
        } else {
            &self.endpoint
        };
        post_request(&self.path, host, body, accept_json)
    }

    /// POST `body` and read the whole answer: its status and body. Reuses the previous
    /// call's connection while the server keeps it open (a request that fails on a reused
    /// connection is retried once on a new one: the server may have closed it meanwhile).
    pub async fn call(&mut self, body: &str, timeout: Duration) -> Result<(u16, String), String> {
        let req = self.request(body, false);
        let reused = self.calls.is_some();
        match tokio::time::timeout(timeout, self.exchange(&req)).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(_)) if reused => {
                self.calls = None;
                tokio::time::timeout(timeout, self.exchange(&req))
                    .await
                    .unwrap_or_else(|_| Err("request timed out".into()))
            }
            Ok(Err(e)) => Err(e),
            Err(_) => {
                self.calls = None;
                Err("request timed out".into())
            }
        }
    }

    async fn exchange(&mut self, req: &[u8]) -> Result<(u16, String), String> {
        let (mut conn, mut buf) = match self.calls.take() {
            Some(c) => c,
            None => (self.connect().await?, Vec::new()),
        };
        conn.write_all(req).await.map_err(|e| e.to_string())?;
        let head = read_head(&mut conn, &mut buf).await?;
        let body = read_body(&mut conn, &mut buf, head.framing).await?;
        if !head.closes && head.framing != Framing::Close {
            self.calls = Some((conn, buf));
        }
        Ok((head.status, String::from_utf8_lossy(&body).into_owned()))
    }

    /// POST `body` on a connection of its own and return the response's body as a stream
    /// when the status is 200; otherwise the status and body as the error.
    pub async fn stream(&self, body: &str) -> Result<EventStream, String> {
        let mut conn = self.connect().await?;
        conn.write_all(&self.request(body, true))
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = Vec::new();
        let head = read_head(&mut conn, &mut buf).await?;
        if head.status != 200 {
            let body = read_body(&mut conn, &mut buf, head.framing)
                .await
                .unwrap_or_default();
            return Err(format!(
                "{} {}: {}",
                head.status,
                reason(head.status),
                String::from_utf8_lossy(&body)
            ));
        }
        Ok(EventStream {
            conn,
            buf,
            body: StreamBody::new(head.framing),
        })
    }
}

impl EventStream {
    /// The next bytes of the body; `None` once it ended (or the connection closed), an
    /// error when the connection failed or the framing is broken.
    pub async fn next(&mut self) -> Option<Result<Vec<u8>, String>> {
        loop {
            match self.body.decode(&mut self.buf) {
                Ok(out) if !out.is_empty() => return Some(Ok(out)),
                Ok(_) => {}
                Err(e) => return Some(Err(e)),
            }
            if self.body.ended() {
                return None;
            }
            match read_more(&mut self.conn, &mut self.buf).await {
                Ok(0) => return self.body.closed().err().map(Err),
                Ok(_) => {}
                Err(e) => {
                    self.body.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// A POST of a JSON `body` to `path` on `host`, asking for JSON back when `accept_json`.
pub(super) fn post_request(path: &str, host: &str, body: &str, accept_json: bool) -> Vec<u8> {
    let mut r = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{}Content-Length: {}\r\n\r\n",
        if accept_json { "Accept: application/json\r\n" } else { "" },
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body.as_bytes());
    r
}

/// Read what the connection has into `buf`; the number of bytes read (0 at its end).
async fn read_more(conn: &mut Conn, buf: &mut Vec<u8>) -> Result<usize, String> {
    let mut chunk = [0u8; 8192];
    let n = conn.read(&mut chunk).await.map_err(|e| e.to_string())?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n)
}

/// Read a response head; what follows it stays in `buf`.
async fn read_head(conn: &mut Conn, buf: &mut Vec<u8>) -> Result<Head, String> {
    loop {
        if let Some(head) = take_head(buf)? {
            return Ok(head);
        }
        if read_more(conn, buf).await? == 0 {
            return Err("connection closed before a response".into());
        }
    }
}

/// The response head `buf` starts with, removed from it, once complete (informational
/// (1xx) heads are skipped).
pub(super) fn take_head(buf: &mut Vec<u8>) -> Result<Option<Head>, String> {
    while let Some((head, len)) = parse_head(buf)? {
        buf.drain(..len);
        if !(100..200).contains(&head.status) {
            return Ok(Some(head));
        }
    }
    if buf.len() > MAX_HEAD {
        return Err("response head too large".into());
    }
    Ok(None)
}

/// A response head at the start of `buf` and its length, `None` while incomplete.
fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut r = httparse::Response::new(&mut headers);
    let len = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(format!("malformed response: {e}")),
    };
    let status = r.code.unwrap_or(0);
    let mut framing = Framing::Close;
    let mut closes = r.version == Some(0);
    for h in r.headers.iter() {
        let value = String::from_utf8_lossy(h.value);
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if value.to_ascii_lowercase().contains("chunked") {
                framing = Framing::Chunked;
            }
        } else if h.name.eq_ignore_ascii_case("content-length") {
            if framing != Framing::Chunked {
                let n = value
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad Content-Length '{value}'"))?;
                framing = Framing::Length(n);
            }
        } else if h.name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            if v.contains("close") {
                closes = true;
            } else if v.contains("keep-alive") {
                closes = false;
            }
        }
    }
    // These never have a body.
    if status == 204 || status == 304 {
        framing = Framing::Length(0);
    }
    Ok(Some((
        Head {
            status,
            framing,
            closes,
        },
        len,
    )))
}

/// Read a whole body framed as `framing`; bytes past it stay in `buf`.
async fn read_body(
    conn: &mut Conn,
    buf: &mut Vec<u8>,
    framing: Framing,
) -> Result<Vec<u8>, String> {
    let mut body = Body::new(framing);
    loop {
        if body.take(buf)? {
            return Ok(body.data);
        }
        if read_more(conn, buf).await? == 0 {
            return body.closed(buf);
        }
    }
}

/// A response body, collected from what is read of the connection.
pub(super) struct Body {
    framing: Framing,
    chunks: Chunked,
    pub data: Vec<u8>,
}

impl Body {
    pub fn new(framing: Framing) -> Body {
        Body {
            framing,
            chunks: Chunked::default(),
            data: Vec::new(),
        }
    }

    /// Take what `buf` holds of the body; true once it is complete (what follows it stays
    /// in `buf`).
    pub fn take(&mut self, buf: &mut Vec<u8>) -> Result<bool, String> {
        match self.framing {
            Framing::Length(n) if buf.len() >= n => {
                self.data.extend(buf.drain(..n));
                return Ok(true);
            }
            Framing::Chunked if self.chunks.decode(buf, &mut self.data)? => return Ok(true),
            _ => {}
        }
        if self.data.len() + buf.len() > MAX_BODY {
            return Err("response body too large".into());
        }
        Ok(false)
    }

    /// The connection closed after `buf`: the body, when the close is what ends it.
    pub fn closed(mut self, buf: &mut Vec<u8>) -> Result<Vec<u8>, String> {
        match self.framing {
            Framing::Close => {
                self.data.append(buf);
                Ok(self.data)
            }
            _ => Err("connection closed in the middle of a response".into()),
        }
    }
}

/// Where a chunked body's decoder is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum ChunkState {
    /// Expecting a chunk-size line.
    #[default]
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(usize),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last (empty) chunk: trailer lines until an empty one.
    Trailers,
    Done,
}

/// An incremental decoder of `Transfer-Encoding: chunked`.
#[derive(Debug, Default)]
pub(super) struct Chunked {
    state: ChunkState,
}

impl Chunked {
    /// Decode what `input` holds, appending the data to `out` and removing what was used
    /// from `input` (an incomplete line stays). True once the body has ended.
    pub(super) fn decode(
        &mut self,
        input: &mut Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Result<bool, String> {
        let mut pos = 0;
        let result = loop {
            match self.state {
                ChunkState::Done => break Ok(true),
                ChunkState::Data(left) => {
                    let n = left.min(input.len() - pos);
                    out.extend_from_slice(&input[pos..pos + n]);
                    pos += n;
                    if n == left {
                        self.state = ChunkState::DataEnd;
                    } else {
                        self.state = ChunkState::Data(left - n);
                        break Ok(false);
                    }
                }
                ChunkState::Size | ChunkState::DataEnd | ChunkState::Trailers => {
                    let Some(end) = input[pos..].windows(2).position(|w| w == b"\r\n") else {
                        if input.len() - pos > MAX_HEAD {
                            break Err("chunk line too long".into());
                        }
                        break Ok(false);
                    };
                    let line = &input[pos..pos + end];
                    pos += end + 2;
                    match self.state {
                        ChunkState::Size => {
                            let size = line.split(|b| *b == b';').next().unwrap_or_default();
                            let size = std::str::from_utf8(size)
                                .ok()
                                .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
                                .ok_or_else(|| {
                                    format!("bad chunk size '{}'", String::from_utf8_lossy(line))
                                })?;
                            self.state = if size == 0 {
                                ChunkState::Trailers
                            } else {
                                ChunkState::Data(size)
                            };
                        }
                        ChunkState::DataEnd if line.is_empty() => self.state = ChunkState::Size,
                        ChunkState::DataEnd => break Err("chunk data longer than its size".into()),
                        _ if line.is_empty() => self.state = ChunkState::Done,
                        _ => {}
                    }
                }
            }
        };
        input.drain(..pos);
        result
    }
}

/// The reason phrase of the statuses an agent answers with.
pub(super) fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        415 => "Unsupported Media Type",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(body: &[u8], piece: usize) -> (Vec<u8>, bool) {
        let mut c = Chunked::default();
        let mut input = Vec::new();
        let mut out = Vec::new();
        let mut done = false;
        for p in body.chunks(piece) {
            input.extend_from_slice(p);
            done = c.decode(&mut input, &mut out).unwrap();
        }
        (out, done)
    }

    #[test]
    fn chunked_bodies_decode_whatever_the_pieces() {
        let body = b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n";
        for piece in 1..body.len() {
            let (out, done) = decode_in_pieces(body, piece);
            assert_eq!(out, b"hello, world", "piece {piece}");
            assert!(done, "piece {piece}");
        }
        let (out, done) = decode_in_pieces(b"a\r\n0123456789\r\n", 3);
        assert_eq!(out, b"0123456789");
        assert!(!done, "no last chunk yet");
    }

    #[test]
    fn broken_chunks_are_errors() {
        let mut input = b"zz\r\n".to_vec();
        assert!(Chunked::default()
            .decode(&mut input, &mut Vec::new())
            .is_err());
        let mut input = b"2\r\nabc\r\n".to_vec();
        assert!(Chunked::default()
            .decode(&mut input, &mut Vec::new())
            .is_err());
    }

    #[test]
    fn heads_give_status_framing_and_keep_alive() {
        let (h, len) = parse_head(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\nrest")
            .unwrap()
            .unwrap();
        assert_eq!(
            (h.status, h.framing, h.closes, len),
            (202, Framing::Length(0), false, 44)
        );
        let (h, _) = parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, Framing::Chunked);
        let (h, _) = parse_head(b"HTTP/1.0 400 Bad Request\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!((h.status, h.framing, h.closes), (400, Framing::Close, true));
        let (h, _) =
            parse_head(b"HTTP/1.1 503 x\r\nConnection: close\r\nContent-Length: 3\r\n\r\n")
                .unwrap()
                .unwrap();
        assert!(h.closes);
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Le")
            .unwrap()
            .is_none());
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
    }

    /// A server that answers each request on a connection in turn with the given raw
    /// responses, and records the requests.
    async fn server(
        responses: Vec<&'static [u8]>,
    ) -> (String, tokio::task::JoinHandle<Vec<String>>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let h = tokio::spawn(async move {
            let (mut c, _) = l.accept().await.unwrap();
            let mut seen = Vec::new();
            for r in responses {
                let mut buf = Vec::new();
                loop {
                    let mut b = [0u8; 1024];
                    let n = c.read(&mut b).await.unwrap();
                    buf.extend_from_slice(&b[..n]);
                    let mut hs = [httparse::EMPTY_HEADER; 16];
                    let mut req = httparse::Request::new(&mut hs);
                    if let Ok(httparse::Status::Complete(hl)) = req.parse(&buf) {
                        let cl: usize = req
                            .headers
                            .iter()
                            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                            .map(|h| std::str::from_utf8(h.value).unwrap().parse().unwrap())
                            .unwrap_or(0);
                        if buf.len() >= hl + cl {
                            break;
                        }
                    }
                }
                seen.push(String::from_utf8(buf).unwrap());
                c.write_all(r).await.unwrap();
            }
            seen
        });
        (addr, h)
    }

    #[tokio::test]
    async fn calls_reuse_one_connection() {
        let (addr, h) = server(vec![
            b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 4\r\n\r\nnope",
        ])
        .await;
        let mut c = AgentHttp::new(&addr, None, "/api/v1/executor", Duration::from_secs(5));
        let t = Duration::from_secs(5);
        assert_eq!(c.call("{\"a\":1}", t).await.unwrap(), (202, String::new()));
        assert_eq!(c.call("{}", t).await.unwrap(), (400, "nope".to_string()));
        let seen = h.await.unwrap();
        assert!(seen[0].starts_with("POST /api/v1/executor HTTP/1.1\r\n"));
        assert!(seen[0].contains("Content-Length: 7\r\n") && seen[0].ends_with("{\"a\":1}"));
        assert!(seen[1].ends_with("\r\n\r\n{}"));
    }

    #[tokio::test]
    async fn streams_deliver_the_decoded_body_and_errors_their_status() {
        let (addr, _h) = server(vec![
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        ])
        .await;
        let c = AgentHttp::new(&addr, None, "/p", Duration::from_secs(5));
        let mut s = c.stream("{}").await.unwrap();
        let mut got = Vec::new();
        while let Some(b) = s.next().await {
            got.extend(b.unwrap());
        }
        assert_eq!(got, b"abcde");

        let (addr, _h) = server(vec![
            b"HTTP/1.1 403 Forbidden\r\ncontent-length: 6\r\n\r\ndenied",
        ])
        .await;
        let c = AgentHttp::new(&addr, None, "/p", Duration::from_secs(5));
        let e = c.stream("{}").await.err().unwrap();
        assert_eq!(e, "403 Forbidden: denied");
    }
}
