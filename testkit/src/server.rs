//! The real server binary, on a random loopback port, with its own database.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::{mpsc, Arc, Mutex},
    time::Duration,
};

use crate::{Backend, TestDb};

/// A running `mcp-orchestrator serve`. Killed on drop.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    /// The bound address.
    pub addr: SocketAddr,
    /// The database it uses (kept alive as long as the server).
    pub db: TestDb,
    /// A client with a bounded timeout.
    pub client: reqwest::Client,
    bin: String,
    _scratch: tempfile::TempDir,
    child: Child,
    logs: Arc<Mutex<Vec<String>>>,
}

/// Password of the initial `admin` in every test server.
pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

impl TestServer {
    /// Starts `bin` (pass `env!("CARGO_BIN_EXE_mcp-orchestrator")`) on a fresh database.
    pub async fn spawn(bin: &str, backend: Backend) -> Self {
        Self::spawn_with(bin, TestDb::new(backend).await, &[]).await
    }

    /// Starts `bin` on `db` with extra environment variables.
    pub async fn spawn_with(bin: &str, db: TestDb, env: &[(&str, &str)]) -> Self {
        // Built before the child exists, so a failure here cannot orphan a server process.
        let client = crate::client_builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        // Files the server makes on first start (the secret-store key) go here, not into the
        // working directory.
        let scratch = tempfile::tempdir().expect("scratch dir");
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("MCPO_LISTEN", "127.0.0.1:0")
            .env("DATABASE_URL", &db.url)
            .env("MCPO_LOG_FORMAT", "json")
            .env("RUST_LOG", "info,mcp_orchestrator::access=debug")
            .env("MCPO_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("MCPO_SECRETS_KEY_FILE", scratch.path().join("secret.key"))
            .env("MCPO_DEPLOY_DATA_DIR", scratch.path().join("deployments"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn mcp-orchestrator");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        for stream in [
            Box::new(child.stderr.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stdout.take().unwrap()),
        ] {
            let logs = logs.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(addr) = listening_addr(&line) {
                        let _ = tx.send(addr);
                    }
                    logs.lock().unwrap().push(line);
                }
            });
        }
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let addr = loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(addr) => break addr,
                Err(_) => {
                    let exited = child.try_wait().ok().flatten();
                    if exited.is_some() || std::time::Instant::now() > deadline {
                        let _ = child.kill();
                        std::thread::sleep(Duration::from_millis(100)); // let the readers drain
                        panic!(
                            "server did not report a listening address ({}); its output:\n{}",
                            exited.map_or("timed out".to_owned(), |s| format!("exited: {s}")),
                            logs.lock().unwrap().join("\n")
                        );
                    }
                }
            }
        };
        Self {
            base_url: format!("http://{addr}"),
            addr,
            db,
            client,
            bin: bin.to_owned(),
            _scratch: scratch,
            child,
            logs,
        }
    }

    /// `base_url` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// GET `path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("GET")
    }

    /// A new API key with `role` (`viewer`, `operator`, `admin`), made by the real CLI
    /// (`mcp-orchestrator api-keys create`) against this server's database.
    pub fn api_key(&self, role: &str) -> String {
        let out = Command::new(&self.bin)
            .args([
                "api-keys",
                "create",
                "--name",
                &format!("test {role}"),
                "--role",
                role,
            ])
            .env_clear()
            .env("DATABASE_URL", &self.db.url)
            .env("MCPO_LOG_FORMAT", "json")
            .env("RUST_LOG", "warn")
            .output()
            .expect("run api-keys create");
        assert!(
            out.status.success(),
            "api-keys create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    /// GET `path` with `Authorization: Bearer key`.
    pub async fn get_with(&self, key: &str, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .expect("GET")
    }

    /// `method path` with `Authorization: Bearer key` and an optional JSON body (a timeout
    /// long enough for a deploy that downloads its package).
    pub async fn call(
        &self,
        key: &str,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .request(method.parse().expect("an HTTP method"), self.url(path))
            .timeout(Duration::from_secs(180))
            .bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request")
    }

    /// [`Self::call`], asserting the status; the body as JSON (`Null` when empty).
    ///
    /// # Panics
    /// On another status (the message shows the body).
    pub async fn call_json(
        &self,
        key: &str,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
        status: u16,
    ) -> serde_json::Value {
        let res = self.call(key, method, path, body).await;
        let got = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        assert_eq!(got, status, "{method} {path}: {text}");
        if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).expect("a JSON body")
        }
    }

    /// Adds an `mcp-registry` source named `name` at `url` and syncs it; the ended sync.
    ///
    /// # Panics
    /// When either call fails or the sync does not succeed.
    pub async fn add_synced_registry(&self, key: &str, name: &str, url: &str) -> serde_json::Value {
        let r = self
            .call_json(
                key,
                "POST",
                "/api/v1/registries",
                Some(serde_json::json!({"name": name, "kind": "mcp-registry", "url": url})),
                201,
            )
            .await;
        let id = r["id"].as_str().expect("a registry id");
        let sync = self
            .call_json(
                key,
                "POST",
                &format!("/api/v1/registries/{id}/sync?wait=true"),
                None,
                200,
            )
            .await;
        assert_eq!(sync["state"], "succeeded", "{sync}");
        sync
    }

    /// A client with a cookie jar, signed in through the login form as `username`.
    ///
    /// # Panics
    /// When the sign-in does not redirect to `/`.
    pub async fn session(&self, username: &str, password: &str) -> reqwest::Client {
        let client = crate::client_builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let res = client
            .post(self.url("/auth/login"))
            .header("origin", &self.base_url)
            .form(&[
                ("username", username),
                ("password", password),
                ("next", "/"),
            ])
            .send()
            .await
            .expect("POST /auth/login");
        assert_eq!(
            res.status().as_u16(),
            303,
            "sign-in answered {}",
            res.status()
        );
        assert_eq!(
            res.headers()["location"],
            "/",
            "sign-in as {username} failed"
        );
        client
    }

    /// Every line the server has printed so far.
    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// The process id (to send signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `timeout` for the process to exit; returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// The backend under test.
    pub fn backend(&self) -> Backend {
        self.db.backend
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Picks `addr` out of the JSON log line `{"fields":{"message":"listening","addr":…}}`.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = v.get("fields")?;
    if fields.get("message")?.as_str()? != "listening" {
        return None;
    }
    fields.get("addr")?.as_str()?.parse().ok()
}
