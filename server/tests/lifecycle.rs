//! Process-level behaviour: start-up errors, the CLI, SIGTERM draining.

use std::{
    io::{Read, Write},
    net::TcpStream,
    process::Command,
    time::Duration,
};

use testkit::{Backend, TestDb, TestServer, BACKENDS};

const BIN: &str = env!("CARGO_BIN_EXE_mcp-orchestrator");

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_lists_the_subcommands() {
    let (code, out, _) = run(&["--help"], &[]);
    assert_eq!(code, 0);
    for cmd in ["serve", "migrate", "config"] {
        assert!(out.contains(cmd), "{out}");
    }
    let (code, out, _) = run(&["migrate", "--help"], &[]);
    assert_eq!(code, 0);
    assert!(out.contains("up") && out.contains("down") && out.contains("status"));
}

#[test]
fn invalid_configuration_stops_start_up_with_one_clear_message() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("MCPO_LISTEN", "everywhere")],
            "invalid setting `listen` (from environment variable MCPO_LISTEN)",
        ),
        (
            &[("DATABASE_URL", "mysql://root:hunter2@x/y")],
            "invalid setting `database.url` (from environment variable DATABASE_URL)",
        ),
        (
            &[("MCPO_DATABASE_MAX_CONNECTIONS", "0")],
            "`database.max_connections`",
        ),
        (&[("RUST_LOG", "info,[[[")], "RUST_LOG"),
    ];
    for (env, expected) in cases {
        let (code, out, err) = run(&["serve"], env);
        assert_eq!(code, 2, "{env:?}: {err}");
        assert!(out.is_empty());
        assert_eq!(err.lines().count(), 1, "one message: {err}");
        assert!(err.contains(expected), "{err}");
        assert!(
            !err.contains("panicked") && !err.contains("hunter2"),
            "{err}"
        );
    }
    let dir = tempfile_dir();
    let file = format!("{dir}/bad.toml");
    std::fs::write(&file, "[database]\nmax_conections = 3\n").unwrap();
    let (code, _, err) = run(&["--config", &file, "serve"], &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown setting `database.max_conections`") && err.contains("bad.toml"),
        "{err}"
    );
    let (code, _, err) = run(&["--config", "/does/not/exist.toml"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("/does/not/exist.toml"), "{err}");
}

fn tempfile_dir() -> String {
    let dir = std::env::temp_dir().join(format!("mcpo-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.display().to_string()
}

#[tokio::test]
async fn config_file_then_environment_layering() {
    let dir = tempfile_dir();
    let file = format!("{dir}/ok.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:4111\"\n[database]\nmax_connections = 4\n",
    )
    .unwrap();
    let (code, out, err) = run(
        &["--config", &file, "config", "check"],
        &[("MCPO_LISTEN", "127.0.0.1:4222")],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("listen = 127.0.0.1:4222")
            && out.contains("from environment variable MCPO_LISTEN"),
        "{out}"
    );
    assert!(
        out.contains("database.max_connections = 4")
            && out.contains(&format!("from config file {file}")),
        "{out}"
    );
}

#[tokio::test]
async fn migrate_cli_up_status_down() {
    for backend in BACKENDS {
        let db = TestDb::new(backend).await;
        let env = [
            ("DATABASE_URL", db.url.as_str()),
            ("MCPO_LOG_FORMAT", "json"),
        ];
        let (code, out, err) = run(&["migrate", "status"], &env);
        assert_eq!(code, 0, "{err}");
        assert!(
            out.lines().all(|l| l.starts_with("pending ")) && !out.is_empty(),
            "{out}"
        );
        assert_eq!(run(&["migrate", "up"], &env).0, 0);
        let (_, out, _) = run(&["migrate", "status"], &env);
        assert!(
            out.lines().all(|l| l.starts_with("applied ")),
            "{backend:?}: {out}"
        );
        assert_eq!(run(&["migrate", "down"], &env).0, 0);
        let (_, out, _) = run(&["migrate", "status"], &env);
        assert!(out.lines().last().unwrap().starts_with("pending "), "{out}");
    }
}

#[tokio::test]
async fn unreachable_database_is_a_clear_start_up_error() {
    let (code, _, err) = run(
        &["serve"],
        &[
            ("DATABASE_URL", "postgres://mcpo:pw-9f8e7d@127.0.0.1:1/x"),
            ("MCPO_DATABASE_ACQUIRE_TIMEOUT_MS", "1000"),
        ],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("cannot open postgres://mcpo:***@127.0.0.1:1/x"),
        "{err}"
    );
    assert!(!err.contains("pw-9f8e7d"), "password leaked: {err}");
}

#[tokio::test]
async fn sigterm_drains_in_flight_requests_and_exits_0() {
    let mut s = TestServer::spawn(BIN, Backend::Sqlite).await;
    let key = s.api_key("admin");
    let body = br#"{"log":{"format":"json"}}"#;
    let mut conn = TcpStream::connect(s.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        conn,
        "POST /api/v1/config/validate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    conn.write_all(&body[..5]).unwrap();
    conn.flush().unwrap();
    std::thread::sleep(Duration::from_millis(200)); // the request is now in flight

    let killed = Command::new("kill")
        .args(["-TERM", &s.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        s.wait_exit(Duration::from_millis(1)),
        None,
        "exited before the request finished"
    );
    // New connections are refused while draining.
    assert!(
        TcpStream::connect_timeout(&s.addr, Duration::from_millis(500)).is_err(),
        "still accepting"
    );

    conn.write_all(&body[5..]).unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert_eq!(s.wait_exit(Duration::from_secs(10)), Some(0));
    let logs = s.logs().join("\n");
    assert!(
        logs.contains("SIGTERM received") && logs.contains("\"stopped\""),
        "{logs}"
    );
}

#[tokio::test]
async fn healthcheck_subcommand_reports_the_local_server() {
    let s = TestServer::spawn(BIN, Backend::Sqlite).await;
    let listen = s.addr.to_string();
    let (code, _, err) = run(&["healthcheck"], &[("MCPO_LISTEN", &listen)]);
    assert_eq!(code, 0, "{err}");
    drop(s);
    let (code, _, err) = run(&["healthcheck"], &[("MCPO_LISTEN", &listen)]);
    assert_eq!(code, 1);
    assert!(err.contains("unhealthy: cannot connect"), "{err}");
}

#[tokio::test]
async fn secret_key_is_created_once_and_rotation_re_encrypts() {
    let dir = tempfile_dir();
    let key_file = format!("{dir}/rot/secret.key");
    let _ = std::fs::remove_dir_all(format!("{dir}/rot"));
    let db = TestDb::new(Backend::Sqlite).await;
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("MCPO_SECRETS_KEY_FILE", key_file.as_str()),
        ("MCPO_LOG_FORMAT", "json"),
    ];
    // The first start creates the key file, private to the owner.
    let mut s = TestServer::spawn_with(BIN, db_clone(&db), &env[1..2]).await;
    let _ = Command::new("kill")
        .args(["-TERM", &s.pid().to_string()])
        .status();
    assert_eq!(s.wait_exit(Duration::from_secs(10)), Some(0));
    let first = std::fs::read_to_string(&key_file).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // Store a secret with that key, then rotate through the CLI.
    let url = domain::DatabaseUrl::parse(&db.url).unwrap();
    let conn = domain::Database::connect(&url, &domain::DbOptions::default())
        .await
        .unwrap();
    let old = domain::secrets::SecretKey::from_base64(&first).unwrap();
    domain::secrets::put(
        &conn.conn,
        &old,
        "registry/1/auth",
        &domain::secrets::SecretValue::new("tok-123"),
    )
    .await
    .unwrap();
    let (code, _, err) = run(&["secrets", "rotate-key"], &env);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("re-encrypted 1 secret(s)"), "{err}");
    let second = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(first, second);
    assert_eq!(
        std::fs::read_to_string(format!("{key_file}.old")).unwrap_or_else(|_| {
            std::fs::read_to_string(format!("{dir}/rot/secret.key.old")).unwrap()
        }),
        first
    );
    let new = domain::secrets::SecretKey::from_base64(&second).unwrap();
    assert_eq!(
        domain::secrets::get(&conn.conn, &new, "registry/1/auth")
            .await
            .unwrap()
            .unwrap()
            .expose(),
        "tok-123"
    );
    assert!(
        domain::secrets::get(&conn.conn, &old, "registry/1/auth")
            .await
            .is_err(),
        "the old key no longer opens it"
    );
    conn.close().await;
}

fn db_clone(db: &TestDb) -> TestDb {
    TestDb::existing(&db.url, db.backend)
}
