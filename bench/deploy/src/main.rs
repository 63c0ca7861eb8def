//! Deployment benchmarks (issue 5), each pair measured side by side in one run:
//!
//! 1. deploy-to-ready (container started, MCP initialized, capabilities listed) through the
//!    orchestrator's API vs the same work done directly: the Docker API calls and the rmcp
//!    session in this process, no orchestrator;
//! 2. tool-call latency through the orchestrator vs a direct MCP client on the same server
//!    (streamable HTTP, one connection each, sequential calls);
//! 3. 50 deployments created at once.
//!
//! Needs: the release orchestrator running with a test registry that lists the test-server
//! image (bench/deploy.sh does all of it), `DOCKER_HOST`, `MCPO_BENCH_URL`, `MCPO_BENCH_KEY`.

use std::time::{Duration, Instant};

use domain::{
    mcp::{Limits, Session},
    runtime::{
        docker::{DockerRuntime, DockerSettings},
        Launch, Spec, Transport,
    },
};
use serde_json::{json, Value};

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((p / 100.0) * (v.len() - 1) as f64).round() as usize]
}

struct Api {
    client: reqwest::Client,
    url: String,
    key: String,
}

impl Api {
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self
            .client
            .request(method.parse().unwrap(), format!("{}{path}", self.url))
            .bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn deploy(&self, server: &str) -> (Value, Duration) {
        let t0 = Instant::now();
        let (status, d) = self
            .call(
                "POST",
                "/api/v1/deployments?wait=true",
                Some(json!({"server": server})),
            )
            .await;
        let took = t0.elapsed();
        assert!(
            status == 201 && d["state"] == "running",
            "deploy failed: {status} {d}"
        );
        (d, took)
    }

    async fn delete(&self, id: &str) {
        let (status, _) = self
            .call("DELETE", &format!("/api/v1/deployments/{id}"), None)
            .await;
        assert_eq!(status, 204);
    }
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::var("MCPO_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let image = std::env::var("MCPO_BENCH_IMAGE").expect("MCPO_BENCH_IMAGE");
    let api = Api {
        client: testkit::client_builder()
            .timeout(Duration::from_secs(300))
            .build()
            .unwrap(),
        url: std::env::var("MCPO_BENCH_URL").expect("MCPO_BENCH_URL"),
        key: std::env::var("MCPO_BENCH_KEY").expect("MCPO_BENCH_KEY"),
    };
    let direct = DockerRuntime::connect("deploy-bench", DockerSettings::default())
        .await
        .expect("Docker engine");

    // 1. Deploy to ready, alternating orchestrator and direct runs.
    let (mut via, mut dir) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let (d, took) = api.deploy("io.mcpo.bench/stdio").await;
        via.push(took.as_secs_f64() * 1000.0);
        api.delete(d["id"].as_str().unwrap()).await;

        let t0 = Instant::now();
        let spec = Spec {
            deployment_id: format!("bench-direct-{i}"),
            launch: Launch::Oci {
                image: image.clone(),
            },
            args: vec![],
            env: vec![],
        };
        let mut c = direct.start(&spec, Transport::Stdio).await.expect("start");
        let (out, inp) = c.stdio.take().unwrap();
        let s = Session::over_stdio(out, inp, Limits::default())
            .await
            .expect("initialize");
        let caps = s.discover().await.expect("discover");
        dir.push(t0.elapsed().as_secs_f64() * 1000.0);
        assert!(!caps.tools.is_empty());
        s.close().await;
        direct.stop(&c.id, Duration::from_secs(5)).await.ok();
        direct.remove(&c.id).await.ok();
    }
    let (v50, d50) = (pct(&mut via, 50.0), pct(&mut dir, 50.0));
    println!(
        "deploy-to-ready, {runs} runs each: orchestrator p50 {v50:.1} ms (max {:.1}), direct p50 {d50:.1} ms (max {:.1}), ratio {:.3}",
        pct(&mut via, 100.0),
        pct(&mut dir, 100.0),
        v50 / d50
    );

    // 2. Tool-call overhead on one HTTP server.
    let (d, _) = api.deploy("io.mcpo.bench/http").await;
    let id = d["id"].as_str().unwrap().to_owned();
    let endpoint = d["endpoint"].as_str().unwrap().to_owned();
    let session = Session::over_http(&endpoint, Limits::default())
        .await
        .expect("direct session");
    let calls = 2000;
    let (mut via, mut dir) = (Vec::with_capacity(calls), Vec::with_capacity(calls));
    let args = json!({"text": "bench"});
    for _ in 0..100 {
        api.call(
            "POST",
            &format!("/api/v1/deployments/{id}/tools/echo/call"),
            Some(json!({"arguments": args})),
        )
        .await;
        session
            .call_tool(
                "echo",
                args.as_object().unwrap().clone(),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
    }
    for _ in 0..calls {
        let t0 = Instant::now();
        let (status, _) = api
            .call(
                "POST",
                &format!("/api/v1/deployments/{id}/tools/echo/call"),
                Some(json!({"arguments": args})),
            )
            .await;
        via.push(t0.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(status, 200);
        let t0 = Instant::now();
        session
            .call_tool(
                "echo",
                args.as_object().unwrap().clone(),
                Duration::from_secs(5),
            )
            .await
            .unwrap();
        dir.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    let (v50, d50, v99, d99) = (
        pct(&mut via, 50.0),
        pct(&mut dir, 50.0),
        pct(&mut via, 99.0),
        pct(&mut dir, 99.0),
    );
    println!(
        "tool call (echo), {calls} each, alternating: orchestrator p50 {v50:.3} ms p99 {v99:.3} ms; direct MCP client p50 {d50:.3} ms p99 {d99:.3} ms; overhead p50 {:.3} ms",
        v50 - d50
    );
    session.close().await;
    api.delete(&id).await;

    // 3. 50 deployments at once.
    let t0 = Instant::now();
    let results = futures_util::future::join_all((0..50).map(|_| async {
        let (status, d) = api
            .call(
                "POST",
                "/api/v1/deployments?wait=true",
                Some(json!({"server": "io.mcpo.bench/stdio"})),
            )
            .await;
        (status, d)
    }))
    .await;
    let took = t0.elapsed();
    let ok = results
        .iter()
        .filter(|(s, d)| *s == 201 && d["state"] == "running")
        .count();
    println!(
        "50 concurrent deployments: {ok} running, {} failed, all ready in {:.2} s",
        50 - ok,
        took.as_secs_f64()
    );
    for (_, d) in &results {
        if let Some(id) = d["id"].as_str() {
            api.delete(id).await;
        }
    }
    if ok != 50 {
        std::process::exit(1);
    }
}
