//! `zk://[user:pass@]host1:port1,host2:port2/path` (Mesos' `zookeeper::URL`).

use std::fmt;

/// A parsed ZooKeeper URL: the connect string and the (required) znode path.
#[derive(Clone, PartialEq, Eq)]
pub struct ZkUrl {
    /// `host1:2181,host2:2181` (a ZooKeeper connect string without chroot).
    pub hosts: String,
    /// The group's znode, e.g. `/mesos`: absolute, never `/` alone, no trailing slash.
    pub path: String,
    /// `user:pass` from the URL, used for ZooKeeper `digest` authentication. With
    /// credentials the znodes we create are "anyone read, creator all" (as Mesos does);
    /// without, they are open.
    pub credentials: Option<(String, String)>,
}

impl ZkUrl {
    /// Parses `zk://[user:pass@]host[:port][,host[:port]...]/path`, or `file:///some/file`
    /// holding such a URL (deprecated in Mesos, still accepted).
    pub fn parse(url: &str) -> Result<ZkUrl, String> {
        let url = url.trim();
        if let Some(file) = url.strip_prefix("file://") {
            let content = std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read the ZooKeeper URL from {file}: {e}"))?;
            let inner = content.trim();
            if !inner.starts_with("zk://") {
                return Err(format!("{file} does not hold a zk:// URL"));
            }
            return ZkUrl::parse(inner);
        }
        let rest = url.strip_prefix("zk://").ok_or_else(|| {
            format!("expected a URL of the form zk://host:port[,host:port...]/path, got '{url}'")
        })?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => {
                return Err(format!(
                    "the ZooKeeper URL '{url}' has no path (e.g. zk://host:2181/mesos)"
                ))
            }
        };
        let (credentials, hosts) = match authority.rsplit_once('@') {
            Some((creds, hosts)) => {
                let (user, pass) = creds
                    .split_once(':')
                    .ok_or_else(|| "ZooKeeper credentials must be user:pass".to_string())?;
                if user.is_empty() {
                    return Err("ZooKeeper credentials have an empty user".to_string());
                }
                (Some((user.to_string(), pass.to_string())), hosts)
            }
            None => (None, authority),
        };
        if hosts.is_empty() {
            return Err(format!("the ZooKeeper URL '{url}' names no host"));
        }
        for host in hosts.split(',') {
            validate_host(host)
                .map_err(|e| format!("bad ZooKeeper host '{host}' in '{url}': {e}"))?;
        }
        let path =
            normalize_path(path).map_err(|e| format!("bad ZooKeeper path in '{url}': {e}"))?;
        Ok(ZkUrl {
            hosts: hosts.to_string(),
            path,
            credentials,
        })
    }
}

fn validate_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("empty host".into());
    }
    let (name, port) = match host.rsplit_once(':') {
        // `[::1]:2181`: the port follows the bracket.
        Some((name, port)) if !name.contains(':') || name.ends_with(']') => (name, Some(port)),
        Some(_) => return Err("IPv6 addresses must be written [addr]:port".into()),
        None => (host, None),
    };
    if name.is_empty() {
        return Err("empty host name".into());
    }
    if name
        .chars()
        .any(|c| c.is_whitespace() || c == '@' || c == '/')
    {
        return Err("invalid character in host name".into());
    }
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(p) if p > 0 => {}
            _ => return Err(format!("invalid port '{port}'")),
        }
    }
    Ok(())
}

/// Absolute, no empty, `.` or `..` components, trailing slashes removed, not the root.
pub(crate) fn normalize_path(path: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err(format!("'{path}' is not absolute"));
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return Err("the path must not be '/' (e.g. /mesos)".into());
    }
    for part in trimmed[1..].split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err(format!("'{path}' has an empty, '.' or '..' component"));
        }
        if part.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(format!("'{path}' has a control or space character"));
        }
    }
    Ok(trimmed.to_string())
}

impl fmt::Display for ZkUrl {
    /// The URL without credentials (safe to log).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "zk://{}{}", self.hosts, self.path)
    }
}

impl fmt::Debug for ZkUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZkUrl")
            .field("hosts", &self.hosts)
            .field("path", &self.path)
            .field(
                "credentials",
                &self.credentials.as_ref().map(|(u, _)| format!("{u}:***")),
            )
            .finish()
    }
}
