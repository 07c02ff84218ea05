//! Conformance: the unmodified python `marathon` client (PyPI 0.13.0) against our
//! Marathon on a local cluster (spec part C). Needs `pip install marathon==0.13.0`
//! (scripts/install-test-deps.sh does it).

mod support;

use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_marathon_client_drives_the_api() {
    let check = Command::new("python3")
        .args([
            "-c",
            "import importlib.metadata as m; print(m.version('marathon'))",
        ])
        .output()
        .expect("python3 is required (apt-get install python3)");
    let version = String::from_utf8_lossy(&check.stdout).trim().to_string();
    assert!(
        check.status.success() && version == "0.13.0",
        "the python Marathon client 0.13.0 is required: pip install marathon==0.13.0 \
         (or run scripts/install-test-deps.sh); found: {version:?} {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let env = support::Env::start(&["localhost"]).await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/compat/marathon_client.py"
    );
    let base = env.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .arg(base)
            .output()
            .expect("run the python client")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python client failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(stdout.contains("OK event_stream"), "{stdout}");
    env.shutdown().await;
}
