//! `scripts/run --dev`: the local stack starts with nothing configured, and the
//! walk-through it prints works as printed: its curl commands, run by `sh`, and its
//! ocean.js 8.6.2 lines, run by `node`, which download the sample's exact bytes.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use provider_e2e::*;
use serde_json::Value;

const SAMPLE: &str = "city,year,rainfall_mm\nLisbon,2025,774\nOslo,2025,763\nNairobi,2025,962\n";

#[test]
fn the_local_stack_walk_through_works_as_printed() {
    ensure_built();
    ensure_oceanjs();
    let state = TempDir::new("devstack");
    let listen = format!("127.0.0.1:{}", free_port());
    let mut stack = Command::new(env!("CARGO_BIN_EXE_devstack"))
        .env("PROVIDER_LISTEN", &listen)
        .env("DEVSTACK_STATE", state.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the local stack");
    let mut printed = Vec::new();
    let reader = BufReader::new(stack.stdout.take().unwrap());
    for line in reader.lines() {
        let line = line.unwrap();
        let ready = line.starts_with("READY ");
        printed.push(line);
        if ready {
            break;
        }
    }
    assert!(
        printed.last().is_some_and(|l| l.starts_with("READY ")),
        "{printed:?}"
    );
    let facts: Value =
        serde_json::from_slice(&std::fs::read(state.path().join("stack.json")).unwrap()).unwrap();
    assert_eq!(facts["provider"], format!("http://{listen}"));

    // The curl steps, exactly as printed.
    let curls: Vec<&String> = printed
        .iter()
        .filter(|l| l.trim_start().starts_with("curl "))
        .collect();
    assert_eq!(curls.len(), 3, "{printed:?}");
    let run = |line: &str| -> Value {
        let out = Command::new("sh")
            .arg("-c")
            .arg(line.trim())
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("{line}: {}", String::from_utf8_lossy(&out.stdout)))
    };
    assert_eq!(run(curls[0])["nonce"], 0);
    let files = run(curls[1]);
    assert_eq!(files[0]["valid"], true, "{files}");
    assert_eq!(files[0]["contentLength"], SAMPLE.len().to_string());
    let quote = run(curls[2]);
    assert_eq!(
        quote["providerFee"]["providerFeeAddress"], DEV_PROVIDER_ADDRESS,
        "{quote}"
    );

    // The ocean.js lines, as printed, in a module next to ocean.js' node_modules.
    let script: Vec<&str> = printed
        .iter()
        .map(|l| l.trim())
        .filter(|l| {
            l.starts_with("import ") || l.starts_with("const ") || l.starts_with("console.")
        })
        .collect();
    let module = workspace_root().join(format!(
        "tests/oceanjs/walkthrough-{}.mjs",
        std::process::id()
    ));
    std::fs::write(&module, script.join("\n")).unwrap();
    let out = Command::new("node").arg(&module).output().unwrap();
    let _ = std::fs::remove_file(&module);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        SAMPLE.trim_end(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Stopping it stops what it started: the provider no longer answers.
    let _ = stack.kill();
    let _ = stack.wait();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while get(&format!("http://{listen}/")).status != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the provider outlived the stack"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn with_a_real_network_configured_no_local_stack_starts() {
    ensure_built();
    let listen = format!("127.0.0.1:{}", free_port());
    let state = TempDir::new("devstack-off");
    let log = state.path().join("stderr");
    let mut run = Command::new("bash")
        .arg(workspace_root().join("scripts/run"))
        .arg("--dev")
        .env(
            "SPIN_VARIABLE_NETWORK_URL",
            r#"{"8996": "http://127.0.0.1:9"}"#,
        )
        .env("SPIN_HTTP_LISTEN_ADDR", &listen)
        .env("DEVSTACK_STATE", state.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("run scripts/run --dev");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let root = loop {
        let reply = get(&format!("http://{listen}/"));
        if reply.status == 200 {
            break reply;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the provider did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let _ = run.kill();
    let _ = run.wait();
    // The provider alone, on the configured network: no stack facts, the message said so.
    assert_eq!(root.json()["chainIds"], serde_json::json!([8996]));
    assert!(!state.path().join("stack.json").exists());
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(
        stderr.contains("the local stack is not started"),
        "{stderr}"
    );
}
