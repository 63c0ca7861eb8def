#!/usr/bin/env python3
"""Registry and catalog benchmark (issue 4).

1. Sync of the 472-entry official seed fixture (first sync inserts, later syncs find nothing
   changed), served by the loopback test registry (`mcpo-test-registry`).
2. Sync of a synthetic 10,000-entry registry: wall time and the server's peak RSS (VmHWM, the
   process's high-water mark since it started).
3. Catalog search over those 10,000 entries through the API (API key, one keep-alive
   connection, sequential requests): p50/p90/p99/max over a mix of searches, filters and
   next pages.

Release binaries, fresh SQLite file per server, loopback only, bounded request counts.

    make bench                       # builds the release binaries first
    bench/registry.py --bin target/release/mcp-orchestrator --registry target/release/mcpo-test-registry
"""

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import tempfile
import time
import urllib.parse

from run import free_port, ready, start


def admin_key(binary: str, data: str) -> str:
    out = subprocess.run(
        [binary, "api-keys", "create", "--name", "bench admin", "--role", "admin"],
        env={"PATH": os.environ.get("PATH", ""), "DATABASE_URL": f"sqlite://{data}/bench.db", "RUST_LOG": "warn",
             "MCPO_SECRETS_KEY_FILE": f"{data}/secret.key"},
        capture_output=True, text=True, check=True,
    )
    return out.stdout.strip()


def peak_rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def start_registry(binary: str, args: list[str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    p = subprocess.Popen([binary, "--port", str(port), *args], stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()
    if not line.startswith("listening on "):
        p.kill()
        raise SystemExit(f"test registry did not start: {line!r}")
    return p, line.removeprefix("listening on ")


class Api:
    def __init__(self, port: int, key: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.key = key

    def call(self, method: str, path: str, body=None) -> tuple[int, dict | list | None]:
        headers = {"authorization": f"Bearer {self.key}"}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["content-type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        r = self.conn.getresponse()
        raw = r.read()
        return r.status, (json.loads(raw) if raw else None)


def launch(binary: str, data: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    # Back-to-back syncs of one source are the point here: no minimum gap.
    p = start(binary, port, data, {"MCPO_REGISTRY_MIN_SYNC_GAP_SECS": "0"})
    for _ in range(200):
        if ready(port):
            return p, port
        time.sleep(0.05)
    p.kill()
    raise SystemExit("server did not become ready")


def sync(api: Api, reg_id: str) -> tuple[float, dict]:
    t0 = time.perf_counter()
    status, run = api.call("POST", f"/api/v1/registries/{reg_id}/sync?wait=true&mode=full")
    took = time.perf_counter() - t0
    if status != 200 or run["state"] != "succeeded":
        raise SystemExit(f"sync failed: {status} {run}")
    return took, run


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/mcp-orchestrator")
    ap.add_argument("--registry", default="target/release/mcpo-test-registry")
    ap.add_argument("--synthetic", type=int, default=10_000)
    ap.add_argument("--searches", type=int, default=2_000)
    args = ap.parse_args()
    print(f"binary: {args.bin}  cores: {os.cpu_count()}")

    # 1. The fixture.
    reg, url = start_registry(args.registry, [])
    with tempfile.TemporaryDirectory() as data:
        server, port = launch(args.bin, data)
        try:
            api = Api(port, admin_key(args.bin, data))
            status, r = api.call("POST", "/api/v1/registries", {"name": "seed", "kind": "mcp-registry", "url": url})
            assert status == 201, r
            first, run = sync(api, r["id"])
            print(f"fixture sync (first, 472 entries): {first * 1000:.0f} ms  added {run['added']}, skipped {run['skipped']}")
            again = []
            for _ in range(5):
                took, run = sync(api, r["id"])
                assert run["unchanged"] == 465, run
                again.append(took)
            print(f"fixture sync (again, nothing changed, 5 runs): median {statistics.median(again) * 1000:.0f} ms")
        finally:
            server.terminate()
            server.wait(10)
    reg.terminate()
    reg.wait(10)

    # 2. 10,000 synthetic entries; 3. searches over them.
    reg, url = start_registry(args.registry, ["--synthetic", str(args.synthetic)])
    with tempfile.TemporaryDirectory() as data:
        server, port = launch(args.bin, data)
        try:
            api = Api(port, admin_key(args.bin, data))
            base_rss = peak_rss_mib(server.pid)
            status, r = api.call("POST", "/api/v1/registries", {"name": "synthetic", "kind": "mcp-registry", "url": url})
            assert status == 201, r
            took, run = sync(api, r["id"])
            peak = peak_rss_mib(server.pid)
            print(f"synthetic sync ({run['fetched']} entries, {run['pages']} pages): {took:.2f} s  "
                  f"added {run['added']}  peak RSS {peak:.1f} MiB (before the sync {base_rss:.1f} MiB)")
            took2, run2 = sync(api, r["id"])
            print(f"synthetic re-sync (nothing changed): {took2:.2f} s  unchanged {run2['unchanged']}  "
                  f"peak RSS {peak_rss_mib(server.pid):.1f} MiB")

            words = ["files", "tickets", "weather", "server", "search", "data", "cloud", "mcp", "git", "notes",
                     "synthetic", "0042", "database", "zzz-no-match"]
            rng = random.Random(7)
            queries = []
            for i in range(args.searches):
                kind = i % 5
                if kind == 0:
                    q = {"q": rng.choice(words)}
                elif kind == 1:
                    q = {"q": rng.choice(words), "registry_type": rng.choice(["npm", "pypi", "oci"])}
                elif kind == 2:
                    q = {"transport": rng.choice(["stdio", "streamable-http"]), "needs_secrets": "true"}
                elif kind == 3:
                    q = {"sort": "updated", "verdict": rng.choice(["ready", "needs_input"])}
                else:
                    q = {}
                q["limit"] = "50"
                queries.append(q)
            # Warm up, then measure; every fifth search also fetches its next page.
            for q in queries[:50]:
                api.call("GET", "/api/v1/catalog?" + urllib.parse.urlencode(q))
            lat = []
            total_seen = 0
            for q in queries:
                t0 = time.perf_counter()
                status, page = api.call("GET", "/api/v1/catalog?" + urllib.parse.urlencode(q))
                lat.append((time.perf_counter() - t0) * 1000)
                assert status == 200, page
                total_seen += len(page["items"])
                if page.get("next_cursor") and len(lat) % 5 == 0:
                    q2 = dict(q, cursor=page["next_cursor"])
                    t0 = time.perf_counter()
                    status, _ = api.call("GET", "/api/v1/catalog?" + urllib.parse.urlencode(q2))
                    lat.append((time.perf_counter() - t0) * 1000)
                    assert status == 200
            print(f"catalog search over {run['added']} entries, {len(lat)} requests, 1 connection: "
                  f"p50 {pct(lat, 50):.2f} ms  p90 {pct(lat, 90):.2f} ms  p99 {pct(lat, 99):.2f} ms  "
                  f"max {max(lat):.2f} ms  ({total_seen} items returned)")
            print(f"server RSS after the searches: peak {peak_rss_mib(server.pid):.1f} MiB")
        finally:
            server.terminate()
            server.wait(10)
    reg.terminate()
    reg.wait(10)


if __name__ == "__main__":
    main()
