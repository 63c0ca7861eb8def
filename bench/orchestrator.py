"""What the benchmark drivers share: a fresh orchestrator on loopback (release binary, fresh
SQLite file, rate limits off, an admin API key), its JSON API, the loopback test registry, and
percentiles. Stdlib only."""

import http.client
import json
import math
import os
import socket
import subprocess
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    s = sorted(values)
    if not s:
        return float("nan")
    k = max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))
    return s[k]


class Api:
    """One keep-alive connection (use one per thread)."""

    def __init__(self, port: int, key: str, timeout: float = 300):
        self.port, self.key, self.timeout = port, key, timeout
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def raw(self, method: str, path: str, body=None) -> tuple[int, bytes]:
        """(status, body bytes); one reconnect when the connection broke."""
        headers = {"authorization": f"Bearer {self.key}"}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["content-type"] = "application/json"
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def call(self, method: str, path: str, body=None):
        """(status, parsed JSON or text)."""
        status, raw = self.raw(method, path, body)
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return status, parsed

    def ok(self, method: str, path: str, body=None, want=(200, 201, 202, 204)):
        status, out = self.call(method, path, body)
        if status not in want:
            raise SystemExit(f"{method} {path} answered {status}: {out}")
        return out


def start_registry(binary: str, fixture_path: str) -> tuple[subprocess.Popen, str]:
    """The loopback test registry serving the entries in `fixture_path`; (process, URL)."""
    p = subprocess.Popen([binary, "--fixture", fixture_path], stdout=subprocess.PIPE, text=True)
    line = (p.stdout.readline() or "").strip()
    if not line.startswith("listening on "):
        p.kill()
        raise SystemExit(f"test registry did not start: {line!r}")
    return p, line.removeprefix("listening on ")


class Server:
    """A fresh orchestrator in `data`, settings `extra` on top; `path_first` goes first on its
    PATH. Ready (and an admin key in `key`) when the constructor returns."""

    def __init__(self, binary: str, data: str, extra: dict, path_first: str | None = None):
        self.binary, self.data = binary, data
        self.port = free_port()
        path = os.environ.get("PATH", "/usr/bin:/bin")
        self.env = {
            **os.environ,
            "PATH": f"{path_first}:{path}" if path_first else path,
            "MCPO_LISTEN": f"127.0.0.1:{self.port}",
            "DATABASE_URL": f"sqlite://{data}/bench.db",
            "MCPO_SECRETS_KEY_FILE": f"{data}/secret.key",
            "MCPO_DEPLOY_DATA_DIR": f"{data}/deployments",
            "MCPO_LOG_FORMAT": "json",
            "RUST_LOG": os.environ.get("MCPO_BENCH_RUST_LOG", "warn"),
            "MCPO_ADMIN_PASSWORD": "bench-admin-password",
            "MCPO_RATE_LIMIT_PER_IP_PER_SECOND": "0",
            "MCPO_RATE_LIMIT_PER_PRINCIPAL_PER_SECOND": "0",
            **extra,
        }
        self.env.pop("MCPO_SECRET_KEY", None)
        self.log = open(f"{data}/server.log", "w")
        self.proc = subprocess.Popen([binary, "serve"], env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the orchestrator exited ({self.proc.returncode}); see {data}/server.log")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("GET", "/health/ready")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            self.stop(5)
            raise SystemExit("the orchestrator did not become ready in 30 s")
        out = subprocess.run([binary, "api-keys", "create", "--name", "bench", "--role", "admin"],
                             env=self.env, capture_output=True, text=True, check=True, timeout=60)
        self.key = out.stdout.strip()

    def stop(self, grace: float = 60) -> tuple[int, float]:
        """SIGTERM, SIGKILL after `grace` s; (exit code, seconds it took)."""
        t0 = time.time()
        self.proc.terminate()
        try:
            code = self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        return code, time.time() - t0


def npx_shim(directory: str, server: str, marker: str, token: str, env: dict | None = None) -> None:
    """An `npx` in `directory` that ignores its arguments and execs our stdio MCP test server
    `server` (same process), exporting `marker`=`token` (to find the servers again) and `env`.
    It stands in for npx where node servers would not fit; what is measured is the
    orchestrator."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "npx")
    exports = "".join(f"{k}={v}; export {k}\n" for k, v in {marker: token, **(env or {})}.items())
    with open(path, "w") as f:
        f.write("#!/bin/sh\n"
                "# bench: stands in for npx (any package) with our stdio MCP test server.\n"
                + exports + f"exec '{server}'\n")
    os.chmod(path, 0o755)
