//! The executor API on a Unix domain socket (`--http_executor_domain_sockets`): the same
//! router as the TCP port, for executors told its path in `MESOS_DOMAIN_SOCKET`.

use std::path::{Path, PathBuf};
use tokio::net::UnixListener;
use tokio::sync::watch;

/// The longest path a Unix socket address holds (`sun_path` less its terminating NUL).
const MAX_PATH: usize = 107;

/// Where the socket goes: `--domain_socket_location`, else `<work_dir>/agent.sock`. An
/// explicit location that is too long is an error; a too-long default is `None` (the
/// agent then serves executors over TCP only, and says so).
pub(crate) fn location(
    explicit: Option<&Path>,
    work_dir: &Path,
) -> Result<Option<PathBuf>, String> {
    match explicit {
        Some(p) if p.as_os_str().len() > MAX_PATH => Err(format!(
            "Invalid --domain_socket_location '{}': longer than {MAX_PATH} bytes",
            p.display()
        )),
        Some(p) => Ok(Some(p.to_path_buf())),
        None => {
            let p = work_dir.join("agent.sock");
            if p.as_os_str().len() > MAX_PATH {
                tracing::warn!(
                    "Not serving executors on a domain socket: {} is longer than {MAX_PATH} bytes",
                    p.display()
                );
                return Ok(None);
            }
            Ok(Some(p))
        }
    }
}

/// Bind the socket, replacing one a previous agent left behind, readable and writable by
/// anyone (executors may run as other users), as Mesos creates it.
pub(crate) fn bind(path: &Path) -> Result<UnixListener, String> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("Cannot remove {}: {e}", path.display())),
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("Cannot create {}: {e}", dir.display()))?;
    }
    let l = UnixListener::bind(path).map_err(|e| format!("Cannot bind {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
        .map_err(|e| format!("Cannot set the mode of {}: {e}", path.display()))?;
    Ok(l)
}

/// Serve `app` on `listener` until `stop` turns true; then every open connection (event
/// streams included) is closed, as the agent's exit would close them.
pub(crate) async fn serve(
    listener: UnixListener,
    app: axum::Router,
    mut stop: watch::Receiver<bool>,
) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let service = hyper_util::service::TowerToHyperService::new(app.clone());
                    conns.spawn(async move {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    });
                }
                Err(e) => {
                    tracing::warn!("Executor socket accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            // Reap finished connections as they end.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            () = async {
                let _ = stop.wait_for(|s| *s).await;
            } => break,
        }
    }
    conns.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_location_is_in_the_work_dir_unless_too_long() {
        let p = location(None, Path::new("/var/lib/mesos")).unwrap();
        assert_eq!(p, Some(PathBuf::from("/var/lib/mesos/agent.sock")));
        let long = PathBuf::from(format!("/{}", "d".repeat(120)));
        assert_eq!(location(None, &long).unwrap(), None);
        assert!(location(Some(&long.join("a.sock")), Path::new("/w")).is_err());
        assert_eq!(
            location(Some(Path::new("/run/a.sock")), Path::new("/w")).unwrap(),
            Some(PathBuf::from("/run/a.sock"))
        );
    }
}
