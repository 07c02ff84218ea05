//! Driving Debian's headless `chromium` through `chromedriver` (W3C WebDriver over HTTP).

#![allow(dead_code)]

use serde_json::{json, Value};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const WAIT: Duration = Duration::from_secs(30);

/// A chromedriver process and one headless browser session; both end on drop.
pub struct Browser {
    driver: Child,
    base: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Start chromedriver and a headless chromium window of `width` x `height`.
    pub async fn start(width: u32, height: u32) -> Browser {
        for (bin, pkg) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
            assert!(
                Path::new(bin).is_file(),
                "{bin} is missing: apt-get install chromium chromium-driver (package {pkg})"
            );
        }
        let port = mesos_testkit::free_port();
        // Its own process group: chromium's processes (chromedriver's children) are in it
        // too, so dropping the browser can end all of them.
        let driver = Command::new(CHROMEDRIVER)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let t = Instant::now();
        loop {
            if let Ok(r) = http.get(format!("{base}/status")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(t.elapsed() < WAIT, "chromedriver does not answer on {base}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let r: Value = http
            .post(format!("{base}/session"))
            .header("Content-Type", "application/json")
            .body(caps.to_string())
            .send()
            .await
            .expect("new session")
            .bytes()
            .await
            .map(|b| serde_json::from_slice(&b).expect("session json"))
            .expect("session answer");
        let id = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver did not start a session: {r}"));
        Browser {
            base: format!("{base}/session/{id}"),
            driver,
            http,
            _profile: profile,
        }
    }

    async fn cmd(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        let bytes = req
            .send()
            .await
            .expect("webdriver answers")
            .bytes()
            .await
            .expect("webdriver body");
        let r: Value = serde_json::from_slice(&bytes).expect("webdriver json");
        if r["value"].get("error").is_some() {
            panic!("webdriver {path}: {}", r["value"]);
        }
        r["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.cmd(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    /// Run `script` (a function body; `arguments` holds `args`) in the page; its return value.
    pub async fn eval(&self, script: &str, args: Value) -> Value {
        self.cmd(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Type `keys` into the element `css` selects (WebDriver key codes, e.g. "\u{E007}" for
    /// Enter), as a keyboard user would once it has the focus.
    pub async fn send_keys(&self, css: &str, keys: &str) {
        let found = self
            .cmd(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        let id = found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_string();
        self.cmd(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": keys})),
        )
        .await;
    }

    /// Resize the window (CSS pixels).
    pub async fn set_window(&self, width: u32, height: u32) {
        self.cmd(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        )
        .await;
    }

    /// Wait until `script` returns something other than null/false; that value.
    pub async fn wait_for(&self, what: &str, script: &str, args: Value) -> Value {
        let t = Instant::now();
        loop {
            let v = self.eval(script, args.clone()).await;
            if !(v.is_null() || v == Value::Bool(false)) {
                return v;
            }
            assert!(t.elapsed() < WAIT, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Wait until the page has an element with id `id`.
    pub async fn wait_for_element(&self, id: &str) {
        self.wait_for(
            &format!("#{id}"),
            "return document.getElementById(arguments[0]) ? true : null;",
            json!([id]),
        )
        .await;
    }

    /// Wait until the page's error banner shows; its text.
    pub async fn banner(&self) -> String {
        let text = self
            .wait_for(
                "the error banner",
                r##"const b = document.getElementById("banner");
                   return b.classList.contains("shown") ? b.textContent : null;"##,
                json!([]),
            )
            .await;
        text.as_str().unwrap_or_default().to_string()
    }

    /// Save a PNG screenshot of the window as `<artifacts>/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        use base64::Engine;
        let v = self.cmd(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("base64 screenshot"))
            .expect("valid base64");
        let dir = artifacts_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // End the session (chromedriver closes the browser), then whatever is left of the
        // group: killing chromedriver alone would leave chromium's processes running.
        let _ = delete_session(&self.base);
        let pgid = self.driver.id() as i32;
        // SAFETY: plain signal delivery to the group this browser started.
        unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        }
        let _ = self.driver.wait();
    }
}

/// `DELETE <session url>` with a blocking socket (Drop cannot await).
fn delete_session(session: &str) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let rest = session.strip_prefix("http://").unwrap_or(session);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut s = std::net::TcpStream::connect(host)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "DELETE /{path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)?;
    Ok(())
}

/// A launcher directory under `root` whose `mesos-executor` is the suite's command executor.
pub fn launcher_dir(root: &Path) -> PathBuf {
    let launcher = root.join("launcher");
    std::fs::create_dir_all(&launcher).unwrap();
    std::os::unix::fs::symlink(
        mesos_testkit::workspace_binary("mesos-agent", "mesos-executor", &[]),
        launcher.join("mesos-executor"),
    )
    .unwrap();
    launcher
}

/// A local cluster of `agents` agents (mesos containerizer) under `root`.
pub async fn cluster(
    root: &Path,
    agents: usize,
    resources: &str,
    attributes: Option<&str>,
) -> mesos_core::cluster::LocalCluster {
    let mut cfg = mesos_core::cluster::LocalClusterConfig::new(root.join("cluster"));
    cfg.num_agents = agents;
    cfg.agent_resources = Some(resources.into());
    cfg.agent_attributes = attributes.map(str::to_string);
    cfg.launcher_dir = Some(launcher_dir(root));
    cfg.containerizers = Some("mesos".into());
    mesos_core::cluster::LocalCluster::start(cfg)
        .await
        .expect("cluster starts")
}

/// One agent and a Marathon in front of it (state under `root`), with `config` on top of
/// the master address and hostname.
pub async fn cluster_with_marathon(
    root: &Path,
    config: marathon::core::Config,
) -> (mesos_core::cluster::LocalCluster, marathon::server::Server) {
    let cluster = cluster(
        root,
        1,
        "cpus:8;mem:8192;disk:10000;ports:[31000-31999]",
        None,
    )
    .await;
    let server = marathon::server::start(marathon::server::ServerConfig::new(
        marathon::core::Config {
            master: cluster.master_addr().to_string(),
            hostname: "127.0.0.1".into(),
            ..config
        },
        "127.0.0.1:0".parse().unwrap(),
        root.join("marathon"),
    ))
    .await
    .expect("marathon starts");
    (cluster, server)
}

/// Where the UI tests leave their screenshots: `target/ui-screenshots`.
pub fn artifacts_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(|t| t.join("ui-screenshots"))
        .unwrap_or_else(|| PathBuf::from("ui-screenshots"))
}

/// The rows of the table `#id` as [{key, cells: {column key: text}}], or null while it
/// shows no data row.
pub const TABLE_ROWS: &str = r##"
const t = document.getElementById(arguments[0]);
if (!t) return null;
const rows = [...t.querySelectorAll("tbody tr[data-key]")];
if (rows.length === 0) return null;
return rows.map((r) => ({
  key: r.dataset.key,
  cells: Object.fromEntries([...r.querySelectorAll("td")].map((c) => [c.dataset.key, c.textContent])),
}));
"##;
