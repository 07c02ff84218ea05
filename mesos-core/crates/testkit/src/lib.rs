//! Real components for tests. Each fixture starts what it needs and fails with a message
//! naming what to install when a component is missing; none skips silently.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where Debian's `zookeeper` package puts the server.
pub const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";
pub const ZOOKEEPER_CONF: &str = "/etc/zookeeper/conf";

/// A free loopback port (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A standalone ZooKeeper server on a free loopback port with its own data directory.
pub struct ZkServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl ZkServer {
    /// Start a server and wait until it answers. Panics, naming the package to install,
    /// when ZooKeeper or Java is missing.
    pub fn start() -> ZkServer {
        if !std::path::Path::new(ZOOKEEPER_JAR).exists() {
            panic!(
                "ZooKeeper is not installed ({ZOOKEEPER_JAR} is missing): run scripts/install-test-deps.sh \
                 (it installs Debian's `zookeeper` package)"
            );
        }
        let dir = tempfile::tempdir().expect("zookeeper data dir");
        let mut zk = ZkServer {
            child: None,
            port: free_port(),
            dir,
        };
        zk.spawn();
        zk
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn spawn(&mut self) {
        std::fs::create_dir_all(self.data_dir()).expect("data dir");
        let log = std::fs::File::create(self.dir.path().join("zookeeper.log")).expect("log file");
        let child = Command::new("java")
            .args([
                "-Xmx256m",
                "-Dzookeeper.admin.enableServer=false",
                "-Dzookeeper.4lw.commands.whitelist=srvr,ruok",
                "-cp",
                &format!("{ZOOKEEPER_CONF}:{ZOOKEEPER_JAR}"),
                "org.apache.zookeeper.server.ZooKeeperServerMain",
                &self.port.to_string(),
                &self.data_dir().display().to_string(),
                // tickTime 500 ms: sessions from 1 s to 10 s, so tests can use short ones.
                "500",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run java for ZooKeeper ({e}): install Debian's `zookeeper` package (it brings a JRE)"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.answers() {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.path().join("zookeeper.log"))
                    .unwrap_or_default();
                panic!(
                    "ZooKeeper did not start on port {} within 60 s; its log:\n{log}",
                    self.port
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn answers(&self) -> bool {
        let Ok(mut s) = TcpStream::connect_timeout(
            &([127, 0, 0, 1], self.port).into(),
            Duration::from_millis(500),
        ) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.write_all(b"srvr").is_err() {
            return false;
        }
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.contains("Zookeeper version")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`
    pub fn connect_string(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `zk://127.0.0.1:<port><path>`
    pub fn url(&self, path: &str) -> String {
        format!("zk://127.0.0.1:{}{path}", self.port)
    }

    /// Kill the server (SIGKILL), keeping its data.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start it again on the same port with the same data.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for ZkServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The Docker image the tests run (`FROM scratch` + Debian's static busybox), built
/// locally without a registry by `scripts/make-test-image.sh`, once per test process.
pub const DOCKER_TEST_IMAGE: &str = "mesos-test-busybox:1";

/// Make sure [`DOCKER_TEST_IMAGE`] exists. Panics, naming what to install, when the Docker
/// engine does not answer or busybox-static is missing.
pub fn docker_test_image() -> &'static str {
    static READY: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let ready = READY.get_or_init(|| {
        let engine = Command::new("docker")
            .args(["version", "--format", "{{.Server.Version}}"])
            .output();
        match engine {
            Ok(o) if o.status.success() => {}
            Ok(o) => {
                return Err(format!(
                    "the Docker engine is required for these tests: install docker.io and start dockerd ({})",
                    String::from_utf8_lossy(&o.stderr).trim()
                ))
            }
            Err(e) => return Err(format!("the docker CLI is required for these tests: install docker.io ({e})")),
        }
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../scripts/make-test-image.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg(DOCKER_TEST_IMAGE)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "cannot build the test image {DOCKER_TEST_IMAGE} (apt-get install busybox-static; docker.io running): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(())
    });
    if let Err(e) = ready {
        panic!("{e}");
    }
    DOCKER_TEST_IMAGE
}

/// A binary of another package of this workspace, built with the cargo, profile and target
/// directory of the running test or bench (cargo only hands a test the binaries of its own
/// package, as `CARGO_BIN_EXE_*`). With `rustc_args` it is built by `cargo rustc` with
/// those flags for the final link (e.g. a static executable).
pub fn workspace_binary(package: &str, bin: &str, rustc_args: &[&str]) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    // <target dir>[/<triple>]/<profile dir>/deps/<test>-<hash>
    let profile = match exe
        .parent()
        .and_then(std::path::Path::parent)
        .and_then(std::path::Path::file_name)
        .and_then(|n| n.to_str())
    {
        Some("debug") | None => "dev".to_string(),
        Some(other) => other.to_string(),
    };
    let target_dir = exe
        .ancestors()
        .find(|d| d.join("CACHEDIR.TAG").is_file())
        .unwrap_or_else(|| panic!("no cargo target directory above {}", exe.display()));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(target_dir)
        .arg(if rustc_args.is_empty() {
            "build"
        } else {
            "rustc"
        })
        .arg("--manifest-path")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .args(["-p", package, "--bin", bin, "--profile", &profile])
        .arg("--message-format=json-render-diagnostics")
        .arg("--target-dir")
        .arg(target_dir)
        .stderr(Stdio::inherit());
    if !rustc_args.is_empty() {
        cmd.arg("--").args(rustc_args);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run cargo to build {bin}: {e}"));
    assert!(out.status.success(), "cannot build {bin} of {package}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == bin)
        .filter(|m| {
            m["target"]["kind"]
                .as_array()
                .is_some_and(|k| k.contains(&"bin".into()))
        })
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo names no executable {bin} it built"))
}
