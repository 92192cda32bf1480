//! End-to-end tests of `spin-host up` with the test component.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{TestApp, Upstream, request};
use std::collections::BTreeSet;

#[test]
fn routes_print_and_spin_headers() {
    let app = TestApp::new();
    let host = app.start();
    let routes = host.stdout.join("");
    assert!(routes.starts_with("Available Routes:\n"), "{routes}");
    assert!(routes.contains(&format!("  main: http://{} (wildcard)\n", host.addr)));
    assert!(routes.contains(&format!("  exact: http://{}/exact\n", host.addr)));
    assert!(routes.contains(&format!("  nokv: http://{}/nokv (wildcard)\n", host.addr)));

    let r = request(
        &host.addr,
        "GET",
        "/echo?x=1&sig=0xabc",
        &[("spin-client-addr", "6.6.6.6:1"), ("x-custom", "yes")],
        b"",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.echo_field("path-with-query").unwrap(),
        "/echo?x=1&sig=0xabc"
    );
    assert_eq!(r.echo_field("authority").unwrap(), host.addr);
    assert_eq!(r.echo_field("header host").unwrap(), host.addr);
    assert_eq!(r.echo_field("header x-custom").unwrap(), "yes");
    assert_eq!(r.echo_field("header spin-path-info").unwrap(), "/echo");
    assert_eq!(r.echo_field("header spin-matched-route").unwrap(), "/...");
    assert_eq!(
        r.echo_field("header spin-raw-component-route").unwrap(),
        "/..."
    );
    assert_eq!(r.echo_field("header spin-component-route").unwrap(), "");
    assert_eq!(r.echo_field("header spin-base-path").unwrap(), "/");
    assert_eq!(
        r.echo_field("header spin-full-url").unwrap(),
        format!("http://{}/echo?x=1&sig=0xabc", host.addr)
    );
    let client = r.echo_field("header spin-client-addr").unwrap();
    assert!(
        client.starts_with("127.0.0.1:"),
        "not overwritten: {client}"
    );

    let r = host.get("/exact");
    assert_eq!(r.echo_field("header spin-matched-route").unwrap(), "/exact");
    assert_eq!(r.echo_field("header spin-path-info").unwrap(), "");
    assert_eq!(
        r.echo_field("header spin-component-route").unwrap(),
        "/exact"
    );

    let r = host.get("/nokv/echo");
    assert_eq!(r.echo_field("header spin-path-info").unwrap(), "/echo");
    assert_eq!(
        r.echo_field("header spin-matched-route").unwrap(),
        "/nokv/..."
    );
    assert_eq!(
        r.echo_field("header spin-component-route").unwrap(),
        "/nokv"
    );

    // "/exactly" is not "/exact": the wildcard gets it (path-info "/exactly").
    let r = host.get("/exactly");
    assert_eq!((r.status, r.text().as_str()), (404, "unknown op exactly"));

    let r = host.get("/status?code=418");
    assert_eq!(r.status, 418);

    // One log line per request, without the query string.
    let log = host.wait_stderr("GET /status 418 ");
    assert!(log.contains("GET /echo 200 "), "{log}");
    assert!(!log.contains("sig=0xabc") && !log.contains("x=1"), "{log}");
}

#[test]
fn variables_defaults_env_and_visibility() {
    let app = TestApp::new();
    let host = app.start();
    assert_eq!(host.get("/var?name=greeting").text(), "hello, world");
    assert_eq!(host.get("/var?name=token").text(), "s3cr3t-value");
    let r = host.get("/var?name=secret_token");
    assert_eq!((r.status, r.text().as_str()), (404, "undefined"));
    let r = host.get("/var?name=Bad-Name");
    assert_eq!((r.status, r.text().as_str()), (400, "invalid-name"));
    assert!(
        !host.stderr().contains("s3cr3t"),
        "secrets are never printed"
    );
    drop(host);

    let app = TestApp::new().env("SPIN_VARIABLE_GREETING", Some("hi"));
    let host = app.start();
    assert_eq!(host.get("/var?name=greeting").text(), "hi, world");
}

#[test]
fn missing_required_variable_fails_startup() {
    let app = TestApp::new().env("SPIN_VARIABLE_SECRET_TOKEN", None);
    let (status, stderr) = app.start_failing();
    assert!(!status.success());
    assert!(
        stderr.contains("no provider resolved required variable(s): secret_token"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn config_errors_are_one_clear_line() {
    let wasm = common::built().wasm.display().to_string();
    let cases = [
        (
            "spin_manifest_version = 2\n[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n[component.c]\nsource = \"missing.wasm\"\n".to_owned(),
            "missing.wasm",
        ),
        ("spin_manifest_version = 3\n".to_owned(), "spin_manifest_version"),
        (
            format!(
                "spin_manifest_version = 2\n[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n[component.c]\nsource = \"{wasm}\"\n[component.c.variables]\nx = \"{{{{ nope }}}}\"\n"
            ),
            "undeclared application variable `nope`",
        ),
        (
            format!(
                "spin_manifest_version = 2\n[[trigger.http]]\nroute = \"/\"\ncomponent = \"c\"\n[component.c]\nsource = \"{wasm}\"\nallowed_outbound_hosts = [\"example.com\"]\n"
            ),
            "allowed_outbound_hosts",
        ),
    ];
    for (manifest, expect) in cases {
        let (status, stderr) = TestApp::with_manifest(&manifest).start_failing();
        assert!(!status.success(), "{manifest}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 1, "one line expected: {stderr}");
        assert!(lines[0].starts_with("Error: "), "{stderr}");
        assert!(stderr.contains(expect), "{expect} not in {stderr}");
    }
    let app = TestApp::new().runtime_config("[key_value_store.default]\ntype = \"redis\"\n");
    let (status, stderr) = app.start_failing();
    assert!(
        !status.success() && stderr.contains("key_value_store.default"),
        "{stderr}"
    );
}

#[test]
fn key_value_permissions_and_persistence() {
    let app = TestApp::new()
        .runtime_config("[key_value_store.default]\ntype = \"spin\"\npath = \"data/kv.db\"\n");
    let host = app.start();
    assert_eq!(host.get("/kv/get?key=k").status, 404);
    assert_eq!(host.post("/kv/set?key=k", b"value-1").text(), "ok");
    assert_eq!(host.get("/kv/get?key=k").text(), "value-1");
    // fermyon:spin/key-value sees the same data.
    assert_eq!(host.get("/kv/spin-get?key=k").text(), "value-1");
    assert_eq!(host.post("/kv/spin-set?key=k2", b"v2").text(), "ok");
    assert_eq!(host.get("/kv/get?key=k2").text(), "v2");
    assert_eq!(host.get("/kv/incr?key=n&delta=5").text(), "5");

    let r = host.get("/nokv/kv/get?key=k");
    assert_eq!((r.status, r.text().as_str()), (403, "access-denied"));
    let r = host.get("/kv/get?key=k&store=undefined_store");
    assert_eq!((r.status, r.text().as_str()), (404, "no-such-store"));
    let r = host.get("/kv/get?key=k&store=not_listed");
    assert_eq!((r.status, r.text().as_str()), (403, "access-denied"));
    assert_eq!(host.signal("TERM").code(), Some(0));

    assert!(
        app.dir.path().join("data/kv.db").is_file(),
        "runtime config path used"
    );
    let host = app.start();
    assert_eq!(host.get("/kv/get?key=k").text(), "value-1", "persisted");
    assert_eq!(host.get("/kv/incr?key=n").text(), "6");
    let log = host.wait_stderr("(1 from cache, 0 compiled)");
    assert!(
        log.contains("(1 from cache, 0 compiled)"),
        "restart uses the compilation cache: {log}"
    );
}

#[test]
fn concurrent_increments_are_unique() {
    let app = TestApp::new();
    let host = app.start();
    assert!(app.dir.path().join(".spin/sqlite_key_value.db").is_file());
    let addr = host.addr.clone();
    let threads: Vec<_> = (0..50)
        .map(|i| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let path = if i % 5 == 0 {
                    "/kv/cas-incr?key=cas"
                } else {
                    "/kv/incr?key=counter"
                };
                let r = request(&addr, "GET", path, &[], b"");
                assert_eq!(r.status, 200, "{}", r.text());
                (i % 5 == 0, r.text().parse::<i64>().unwrap())
            })
        })
        .collect();
    let results: Vec<(bool, i64)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let incr: BTreeSet<i64> = results.iter().filter(|r| !r.0).map(|r| r.1).collect();
    let cas: BTreeSet<i64> = results.iter().filter(|r| r.0).map(|r| r.1).collect();
    assert_eq!(incr, (1..=40).collect(), "every increment result unique");
    assert_eq!(cas, (1..=10).collect(), "every CAS result unique");
    assert_eq!(host.get("/kv/incr?key=counter&delta=0").text(), "40");

    // 50 concurrent increments of one key: final value 50.
    let threads: Vec<_> = (0..50)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                request(&addr, "GET", "/kv/incr?key=fifty", &[], b"")
                    .text()
                    .parse::<i64>()
                    .unwrap()
            })
        })
        .collect();
    let seen: BTreeSet<i64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(seen, (1..=50).collect());
    assert_eq!(host.get("/kv/incr?key=fifty&delta=0").text(), "50");
}

#[test]
fn outbound_is_denied_and_private_addresses_blocked_by_default() {
    let upstream = Upstream::start();
    let port = upstream.port.to_string();
    let app = TestApp::new().env("SPIN_VARIABLE_UPSTREAM_PORT", Some(&port));
    let host = app.start();

    let r = host.get(&format!("/outbound?url=http://127.0.0.1:{port}/"));
    assert_eq!(r.status, 502);
    assert!(r.text().contains("DestinationIpProhibited"), "{}", r.text());
    // Declared by name, resolves to 127.0.0.1: refused after DNS resolution.
    let r = host.get(&format!("/outbound?url=http://localhost:{port}/"));
    assert!(r.text().contains("DestinationIpProhibited"), "{}", r.text());
    // Not declared at all.
    let r = host.get("/outbound?url=http://example.com/");
    assert!(r.text().contains("HttpRequestDenied"), "{}", r.text());
    let r = host.get(&format!(
        "/outbound?url=http://127.0.0.1:{}/",
        upstream.port + 1
    ));
    assert!(r.text().contains("HttpRequestDenied"), "{}", r.text());
    let r = host.get(&format!("/nokv/outbound?url=http://127.0.0.1:{port}/"));
    assert!(r.text().contains("HttpRequestDenied"), "{}", r.text());
    assert_eq!(upstream.hits(), 0, "no connection was made");
}

#[test]
fn outbound_to_loopback_allowed_when_unblocked() {
    let upstream = Upstream::start();
    let port = upstream.port.to_string();
    let app = TestApp::new()
        .env("SPIN_VARIABLE_UPSTREAM_PORT", Some(&port))
        .runtime_config("[outbound_networking]\nblock_networks = []\n");
    let host = app.start();
    let r = host.get(&format!("/outbound?url=http://127.0.0.1:{port}/x?y=1"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.text(), "status: 200\nhello-upstream");
    let r = host.get(&format!("/outbound?url=http://localhost:{port}/"));
    assert_eq!(r.text(), "status: 200\nhello-upstream");
    assert_eq!(upstream.hits(), 2);
    let r = host.get("/outbound?url=http://example.com/");
    assert!(r.text().contains("HttpRequestDenied"), "{}", r.text());

    // An explicit CIDR list blocks just that network.
    let app = TestApp::new()
        .env("SPIN_VARIABLE_UPSTREAM_PORT", Some(&port))
        .runtime_config("[outbound_networking]\nblock_networks = [\"127.0.0.0/8\"]\n");
    let host = app.start();
    let r = host.get(&format!("/outbound?url=http://localhost:{port}/"));
    assert!(r.text().contains("DestinationIpProhibited"), "{}", r.text());
    assert_eq!(upstream.hits(), 2);
}

#[test]
fn bodies_stream_in_both_directions_with_flat_memory() {
    let host = TestApp::new().start();
    // Warm up (first instantiation, allocator pools).
    assert_eq!(
        host.get("/stream?chunks=4&size=1048576").body.len(),
        4 << 20
    );
    let before = host.rss_kib();
    let r = host.get("/stream?chunks=96&size=1048576");
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 96 << 20);
    assert!(r.body[..1 << 20].iter().all(|b| *b == b'a'));
    assert!(
        r.body[95 << 20..]
            .iter()
            .all(|b| *b == b'a' + (95 % 26) as u8)
    );
    drop(r);

    let body: Vec<u8> = (0..(64u32 << 20)).map(|i| (i % 251) as u8).collect();
    let sum: u64 = body.iter().map(|b| u64::from(*b)).sum();
    let r = host.post("/count", &body);
    assert_eq!(r.text(), format!("{} {sum}", body.len()));
    let after = host.rss_kib();
    assert!(
        after < before + 48 * 1024,
        "host RSS grew from {before} KiB to {after} KiB while streaming 160 MiB"
    );
}

#[test]
fn signals_exit_cleanly() {
    let app = TestApp::new();
    let host = app.start();
    assert_eq!(host.get("/echo").status, 200);
    assert_eq!(host.signal("TERM").code(), Some(0));
    let host = app.start();
    assert_eq!(host.signal("INT").code(), Some(0));
}
