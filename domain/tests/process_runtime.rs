//! The local-process runtime with real processes: environment, logs, process groups, reaping.

use std::time::Duration;

use domain::{
    runtime::{process, Launch, Spec},
    secrets::SecretValue,
};
use tokio::io::AsyncReadExt;
use types::env::EnvName;

fn spec(path: &str, args: &[&str], env: &[(&str, &str)]) -> Spec {
    Spec {
        deployment_id: "test".into(),
        launch: Launch::Program { path: path.into() },
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        env: env
            .iter()
            .map(|(k, v)| (EnvName::parse(k).unwrap(), SecretValue::new(*v)))
            .collect(),
    }
}

fn group_alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks whether the group exists.
    unsafe { libc::kill(-pgid, 0) == 0 }
}

#[tokio::test]
async fn environment_is_cleared_to_the_allow_list_plus_the_deployment() {
    std::env::set_var("MCPO_TEST_ORCHESTRATOR_SECRET", "must-not-leak");
    let home = tempfile::tempdir().unwrap();
    let mut p = process::spawn(
        &spec("/usr/bin/env", &[], &[("MCP_TEST_VALUE", "hello")]),
        home.path(),
    )
    .unwrap();
    let (mut out, _in) = p.stdio.take().unwrap();
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(10), out.read_to_string(&mut text))
        .await
        .unwrap()
        .unwrap();
    assert!(text.contains("MCP_TEST_VALUE=hello"), "{text}");
    assert!(
        text.contains(&format!("HOME={}", home.path().display())),
        "{text}"
    );
    assert!(!text.contains("must-not-leak"), "{text}");
    for line in text.lines() {
        let name = line.split('=').next().unwrap();
        assert!(
            name == "MCP_TEST_VALUE" || name == "HOME" || process::ENV_ALLOW_LIST.contains(&name),
            "{name} leaked into the child"
        );
    }
    // `env` exits by itself once it has written (stdout's end comes a moment before its
    // exit): wait for that rather than racing it with SIGTERM.
    let mut code = None;
    for _ in 0..200 {
        code = p.exit_status();
        if code.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(code, Some(0));
    assert_eq!(p.stop(Duration::from_secs(5)).await, Some(0));
}

#[tokio::test]
async fn stop_ends_the_whole_group_and_reaps() {
    let home = tempfile::tempdir().unwrap();
    // A server that starts children of its own and ignores SIGTERM.
    let mut p = process::spawn(
        &spec(
            "/bin/sh",
            &[
                "-c",
                "trap '' TERM; echo started >&2; sleep 300 & sleep 300 & wait",
            ],
            &[],
        ),
        home.path(),
    )
    .unwrap();
    let pid = p.pid();
    for _ in 0..50 {
        if !p.logs(10).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(p.logs(10)[0].text, "started", "stderr is kept as logs");
    assert!(group_alive(pid));
    assert_eq!(p.exit_status(), None);
    let code = p.stop(Duration::from_millis(300)).await;
    assert_eq!(code, Some(-libc::SIGKILL), "SIGTERM ignored, so SIGKILL");
    // Orphaned grandchildren are killed at once; their parent (init) reaps them shortly.
    let mut alive = true;
    for _ in 0..100 {
        alive = group_alive(pid);
        if !alive {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if alive {
        let ps = std::process::Command::new("ps")
            .args(["-o", "pid,pgid,stat,comm", "-g", &pid.to_string()])
            .output()
            .unwrap();
        panic!(
            "children of the server survived: {}",
            String::from_utf8_lossy(&ps.stdout)
        );
    }
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the process was not reaped (zombie)"
    );
}

#[tokio::test]
async fn exits_are_seen_and_bad_programs_are_errors() {
    let home = tempfile::tempdir().unwrap();
    let mut p = process::spawn(&spec("/bin/sh", &["-c", "exit 3"], &[]), home.path()).unwrap();
    let mut code = None;
    for _ in 0..100 {
        code = p.exit_status();
        if code.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(code, Some(3));
    let e = process::spawn(&spec("/no/such/program", &[], &[]), home.path()).unwrap_err();
    assert!(
        e.to_string().contains("cannot start /no/such/program"),
        "{e}"
    );
    let e = process::spawn(&spec("relative", &[], &[]), home.path()).unwrap_err();
    assert!(e.to_string().contains("absolute path"), "{e}");
}
