//! Marathon-level health probes (`marathon::health::start`) against local servers.

use marathon::app::HealthCheck;
use marathon::health::{start, HealthResult, Target};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(20);

fn check(v: serde_json::Value) -> HealthCheck {
    serde_json::from_value(v).unwrap()
}

fn target(ports: Vec<u16>) -> Target {
    Target {
        task_id: "app.instance-1._app.1".into(),
        host: "127.0.0.1".into(),
        ports,
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<HealthResult>) -> HealthResult {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("a result in time")
        .expect("channel open")
}

/// Read one request head from `sock` and answer `status_line` with an empty body.
async fn answer<S: AsyncRead + AsyncWrite + Unpin>(mut sock: S, status_line: &str) {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let reply = format!("HTTP/1.1 {status_line}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = sock.write_all(reply.as_bytes()).await;
    let _ = sock.shutdown().await;
}

/// A plain HTTP server answering `status_line` to every request; its port.
async fn http_server(status_line: &'static str) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            tokio::spawn(answer(sock, status_line));
        }
    });
    port
}

/// An HTTPS server with a self-signed certificate answering `status_line`; its port.
async fn https_server(status_line: &'static str) -> u16 {
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio_rustls::rustls::{crypto::ring, ServerConfig};
    // A throwaway self-signed certificate for localhost (test fixture, never trusted).
    let cert = CertificateDer::from(include_bytes!("fixtures/self-signed-cert.der").to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        include_bytes!("fixtures/self-signed-key.der").to_vec(),
    ));
    let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((sock, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(tls) = acceptor.accept(sock).await {
                    answer(tls, status_line).await;
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn http_checks_probe_right_away_then_every_interval() {
    let ok = http_server("200 OK").await;
    let down = http_server("503 Service Unavailable").await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let checks = [
        check(
            json!({"protocol": "HTTP", "path": "/health", "portIndex": 0,
                     "intervalSeconds": 3, "timeoutSeconds": 2}),
        ),
        check(json!({"protocol": "HTTP", "portIndex": 1, "intervalSeconds": 3})),
    ];
    let started = Instant::now();
    let running = start(target(vec![ok, down]), &checks, tx);
    assert_eq!(running.len(), 2);
    let mut first = Vec::new();
    for _ in 0..2 {
        first.push(next(&mut rx).await);
    }
    // Right away, not an interval later (with room for a loaded machine).
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "first probes wait"
    );
    first.sort_by_key(|r| r.check_index);
    assert_eq!(
        first,
        [
            HealthResult {
                task_id: "app.instance-1._app.1".into(),
                check_index: 0,
                result: Ok(())
            },
            HealthResult {
                task_id: "app.instance-1._app.1".into(),
                check_index: 1,
                result: Err("503 Service Unavailable".into())
            },
        ]
    );
    // The next round comes an interval later.
    let again = next(&mut rx).await;
    assert!(
        started.elapsed() >= Duration::from_millis(2950),
        "{:?} {again:?}",
        started.elapsed()
    );
    assert!(again.check_index <= 1);
    // Dropping the handle stops the probes: the channel closes.
    drop(running);
    tokio::time::timeout(WAIT, async { while rx.recv().await.is_some() {} })
        .await
        .expect("probes stop");
}

#[tokio::test]
async fn https_checks_skip_certificate_verification() {
    let port = https_server("204 No Content").await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _running = start(
        target(vec![port]),
        &[check(json!({"protocol": "HTTPS", "path": "/ping"}))],
        tx,
    );
    assert_eq!(next(&mut rx).await.result, Ok(()));
}

#[tokio::test]
async fn redirects_are_healthy_and_not_followed() {
    // The Location points at a port nobody listens on: following it would fail.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((sock, _)) = l.accept().await {
                tokio::spawn(answer(sock, "302 Found\r\nLocation: http://127.0.0.1:1/"));
            }
        });
        port
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _running = start(
        target(vec![port]),
        &[check(json!({"protocol": "HTTP"}))],
        tx,
    );
    assert_eq!(next(&mut rx).await.result, Ok(()));
}

#[tokio::test]
async fn informational_answers_fail_unless_ignored() {
    let port = http_server("101 Switching Protocols").await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _running = start(
        target(vec![port]),
        &[
            check(json!({"protocol": "HTTP", "ignoreHttp1xx": true, "intervalSeconds": 1})),
            check(json!({"protocol": "HTTP", "intervalSeconds": 1})),
        ],
        tx,
    );
    // Two rounds: only the check without ignoreHttp1xx reports.
    for _ in 0..2 {
        let r = next(&mut rx).await;
        assert_eq!(r.check_index, 1);
        assert_eq!(r.result, Err("101 Switching Protocols".into()));
    }
}

#[tokio::test]
async fn tcp_checks_connect_and_time_out() {
    let open = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open_port = open.local_addr().unwrap().port();
    let closed_port = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    // Accepts connections but never answers: an HTTP probe of it times out.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let _running = start(
        target(vec![open_port, closed_port, silent_port]),
        &[
            check(json!({"protocol": "TCP", "portIndex": 0})),
            check(json!({"protocol": "TCP", "port": closed_port})),
            check(json!({"protocol": "HTTP", "portIndex": 2, "timeoutSeconds": 1})),
        ],
        tx,
    );
    let mut results = Vec::new();
    for _ in 0..3 {
        results.push(next(&mut rx).await);
    }
    results.sort_by_key(|r| r.check_index);
    assert_eq!(results[0].result, Ok(()));
    let refused = results[1].result.clone().unwrap_err();
    assert!(
        refused.contains(&format!("127.0.0.1:{closed_port}")),
        "{refused}"
    );
    let timed_out = results[2].result.clone().unwrap_err();
    assert!(timed_out.contains("timed out after 1s"), "{timed_out}");
    drop(silent);
    drop(open);
}

#[tokio::test]
async fn executor_checks_are_skipped_and_bad_ports_fail() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let running = start(
        target(vec![]),
        &[
            check(json!({"protocol": "COMMAND", "command": {"value": "true"}})),
            check(json!({"protocol": "MESOS_HTTP", "path": "/"})),
            check(json!({"protocol": "MESOS_TCP"})),
            check(json!({"protocol": "TCP", "portIndex": 0})),
        ],
        tx,
    );
    assert_eq!(running.len(), 1);
    let r = next(&mut rx).await;
    assert_eq!(r.check_index, 3);
    assert!(r.result.unwrap_err().contains("portIndex 0"));
}
