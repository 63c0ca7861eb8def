#!/usr/bin/env python3
"""Foundation benchmark: start-to-ready time, idle RSS, and wrk throughput/latency.

Runs the release binary on loopback with a fresh SQLite file and prints one table. Every load
run is bounded (duration and connections) and targets 127.0.0.1 only.

    make bench                      # builds the release binary first
    bench/run.py --bin target/release/mcp-orchestrator --duration 10
"""

import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(binary: str, port: int, data: str, extra: dict | None = None) -> subprocess.Popen:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "MCPO_LISTEN": f"127.0.0.1:{port}",
        "DATABASE_URL": f"sqlite://{data}/bench.db",
        "MCPO_LOG_FORMAT": "json",
        "RUST_LOG": "warn",
        "MCPO_SITE_ROOT": os.environ.get("MCPO_SITE_ROOT", "target/site"),
        "MCPO_SECRETS_KEY_FILE": f"{data}/secret.key",
        "MCPO_ADMIN_PASSWORD": "bench-admin-password",
        # Throughput runs measure the server, not the limiter (which would answer 429).
        "MCPO_RATE_LIMIT_PER_IP_PER_SECOND": "0",
        "MCPO_RATE_LIMIT_PER_PRINCIPAL_PER_SECOND": "0",
        **(extra or {}),
    }
    return subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def ready(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        conn.request("GET", "/health/ready")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


def start_to_ready(binary: str, runs: int) -> list[float]:
    """Milliseconds from spawn to the first 200 from /health/ready, fresh SQLite file each run."""
    times = []
    for _ in range(runs):
        data = tempfile.mkdtemp(prefix="mcpo-bench-")
        port = free_port()
        t0 = time.perf_counter()
        proc = start(binary, port, data)
        deadline = t0 + 30
        while not ready(port):
            if time.perf_counter() > deadline or proc.poll() is not None:
                raise SystemExit("server did not become ready")
            time.sleep(0.002)
        times.append((time.perf_counter() - t0) * 1000)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        shutil.rmtree(data, ignore_errors=True)
    return times


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def api_key(binary: str, data: str) -> str:
    """A viewer key made by the real CLI against the bench database."""
    out = subprocess.run(
        [binary, "api-keys", "create", "--name", "bench", "--role", "viewer"],
        env={"PATH": os.environ.get("PATH", ""), "DATABASE_URL": f"sqlite://{data}/bench.db", "RUST_LOG": "warn",
             "MCPO_SECRETS_KEY_FILE": f"{data}/secret.key"},
        capture_output=True, text=True, check=True,
    )
    return out.stdout.strip()


def micros(text: str) -> float:
    """wrk latency text ('52.10us', '1.20ms', '2.00s') in microseconds."""
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return float("nan")
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 1, "ms": 1e3, "s": 1e6}[unit]


def wrk(url: str, duration: int, threads: int, conns: int, key: str | None = None) -> dict:
    header = ["-H", f"Authorization: Bearer {key}"] if key else []
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{conns}", f"-d{duration}s", "--latency", "--timeout", "5s", *header, url],
        capture_output=True, text=True, check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p: str) -> str:
        m = re.search(rf"^\s+{p}%\s+(\S+)", out, re.M)
        return m.group(1) if m else "?"

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50": pct("50"), "p99": pct("99"),
            "non2xx": int(errors.group(1)) if errors else 0, "socket_errors": sock.group(1) if sock else "none"}


def main() -> None:
    ap = argparse.ArgumentParser()
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    ap.add_argument("--bin", default=f"{target}/release/mcp-orchestrator")
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--starts", type=int, default=10)
    args = ap.parse_args()

    starts = sorted(start_to_ready(args.bin, args.starts))
    data = tempfile.mkdtemp(prefix="mcpo-bench-")
    port = free_port()
    proc = start(args.bin, port, data)
    while not ready(port):
        time.sleep(0.01)
    time.sleep(2)
    idle = rss_mib(proc.pid)
    key = api_key(args.bin, data)
    base = f"http://127.0.0.1:{port}"
    results = {}
    results["/health/live"] = wrk(base + "/health/live", args.duration, args.threads, args.connections)
    results["/api/v1/system (key)"] = wrk(base + "/api/v1/system", args.duration, args.threads, args.connections, key)
    loaded = rss_mib(proc.pid)
    # API-key authentication cost: the same public handler with and without a valid key, one
    # connection at a time so that latency is service time, not queueing. Alternated runs.
    plain, keyed = [], []
    for _ in range(3):
        plain.append(micros(wrk(base + "/health/live", 5, 1, 1)["p50"]))
        keyed.append(micros(wrk(base + "/health/live", 5, 1, 1, key)["p50"]))
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=60)
    shutil.rmtree(data, ignore_errors=True)

    print(f"binary: {args.bin}  cores: {os.cpu_count()}  wrk: -t{args.threads} -c{args.connections} -d{args.duration}s")
    print(f"start to ready (fresh SQLite, {args.starts} runs): median {starts[len(starts)//2]:.1f} ms, "
          f"max {starts[-1]:.1f} ms")
    print(f"idle RSS: {idle:.1f} MiB   RSS after load: {loaded:.1f} MiB   exit code after SIGTERM: {code}")
    print(f"{'endpoint':<22}{'req/s':>12}{'p50':>10}{'p99':>10}{'non-2xx':>9}  socket errors")
    for path, r in results.items():
        print(f"{path:<22}{r['rps']:>12.0f}{r['p50']:>10}{r['p99']:>10}{r['non2xx']:>9}  {r['socket_errors']}")
    p, k = sorted(plain)[1], sorted(keyed)[1]
    print(f"API-key authentication, p50 at 1 connection (median of 3 runs): without {p:.1f} us, "
          f"with {k:.1f} us, added {k - p:.1f} us")


if __name__ == "__main__":
    main()
