//! What contenders and detectors share: connecting, ACLs, naming contender nodes, and
//! watching a session for loss.

use std::time::Duration;

use tokio::time::Instant;
use zookeeper_client as zk;

use crate::ZkUrl;

/// "anyone read, creator all": Mesos' ACL when the URL carries credentials.
static READ_ANYONE_ALL_CREATOR: [zk::Acl; 2] = [
    zk::Acl::new_const(zk::Permission::READ, "world", "anyone"),
    zk::Acl::new_const(zk::Permission::ALL, "auth", ""),
];

pub(crate) fn acls(url: &ZkUrl) -> zk::Acls<'static> {
    if url.credentials.is_some() {
        zk::Acls::new(&READ_ANYONE_ALL_CREATOR)
    } else {
        zk::Acls::anyone_all()
    }
}

/// A new session. Bounded by about the session timeout when no server answers.
pub(crate) async fn connect(url: &ZkUrl, session_timeout: Duration) -> Result<zk::Client, String> {
    let mut connector = zk::Client::connector().with_session_timeout(session_timeout);
    if let Some((user, pass)) = &url.credentials {
        connector = connector.with_auth("digest", format!("{user}:{pass}").as_bytes());
    }
    // A second, outer bound in case the server accepts the TCP connection but never answers.
    match tokio::time::timeout(
        session_timeout * 3 + Duration::from_secs(5),
        connector.connect(&url.hosts),
    )
    .await
    {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(format!("cannot connect to ZooKeeper at {}: {e}", url.hosts)),
        Err(_) => Err(format!(
            "cannot connect to ZooKeeper at {}: timed out",
            url.hosts
        )),
    }
}

pub(crate) fn validate_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() || prefix.contains('/') {
        return Err(format!(
            "bad node prefix '{prefix}': it must be non-empty and contain no '/'"
        ));
    }
    Ok(())
}

/// The sequence number of a contender node `<prefix><digits>`; other children (such as
/// `log_replicas`, or other labels) are not contenders.
pub(crate) fn sequence_of(child: &str, prefix: &str) -> Option<u64> {
    let digits = child.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The contender with the lowest sequence number: `(sequence, child name)`.
pub(crate) fn lowest<'a>(children: &'a [String], prefix: &str) -> Option<(u64, &'a str)> {
    children
        .iter()
        .filter_map(|c| sequence_of(c, prefix).map(|s| (s, c.as_str())))
        .min()
}

/// Errors after which the session is unusable for good.
pub(crate) fn is_terminal(e: &zk::Error) -> bool {
    matches!(
        e,
        zk::Error::SessionExpired
            | zk::Error::ClientClosed
            | zk::Error::AuthFailed
            | zk::Error::SessionMoved
    )
}

/// Whether a watch fired because the session ended (rather than for a node event).
pub(crate) fn session_ended(event: &zk::WatchedEvent) -> Option<String> {
    if event.event_type == zk::EventType::Session && event.session_state.is_terminated() {
        Some(format!(
            "ZooKeeper session {}",
            describe(event.session_state)
        ))
    } else {
        None
    }
}

fn describe(state: zk::SessionState) -> &'static str {
    match state {
        zk::SessionState::Expired => "expired",
        zk::SessionState::Closed => "closed",
        zk::SessionState::AuthFailed => "failed authentication",
        zk::SessionState::Disconnected => "disconnected",
        zk::SessionState::SyncConnected => "connected",
        zk::SessionState::ConnectedReadOnly => "connected read-only",
    }
}

/// Resolves when the session is lost: a terminal state (expired, closed, auth failed), or
/// disconnected for longer than `grace` without reconnecting. Returns the reason.
pub(crate) async fn session_lost(client: &zk::Client, grace: Duration) -> String {
    let mut watcher = client.state_watcher();
    let mut state = client.state();
    let mut disconnected_since: Option<Instant> = None;
    loop {
        match state {
            zk::SessionState::Expired | zk::SessionState::Closed | zk::SessionState::AuthFailed => {
                return format!(
                    "ZooKeeper session {} ({})",
                    describe(state),
                    client.session_id()
                );
            }
            zk::SessionState::Disconnected => {
                if disconnected_since.is_none() {
                    tracing::warn!(session = %client.session_id(), "disconnected from ZooKeeper");
                    disconnected_since = Some(Instant::now());
                }
            }
            zk::SessionState::SyncConnected | zk::SessionState::ConnectedReadOnly => {
                if disconnected_since.take().is_some() {
                    tracing::info!(session = %client.session_id(), "reconnected to ZooKeeper");
                }
            }
        }
        state = match disconnected_since {
            Some(since) => {
                tokio::select! {
                    s = watcher.changed() => s,
                    _ = tokio::time::sleep_until(since + grace) => {
                        return format!(
                            "disconnected from ZooKeeper for more than {} ms (session {})",
                            grace.as_millis(),
                            client.session_id()
                        );
                    }
                }
            }
            None => watcher.changed().await,
        };
    }
}
