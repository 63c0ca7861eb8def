#!/usr/bin/env python3
"""Side-by-side benchmark (issue 8): the orchestrator against IBM ContextForge
(`mcp-contextforge-gateway`), both on this machine, in the same run, on equivalent work.
See bench/compare/README.md for the method. Stdlib only (the ContextForge venv is only used
to run ContextForge and to mint its admin JWT).

    bench/compare/compare.sh                     # installs ContextForge if needed, runs this
    bench/compare/compare.py --bin target/release/mcp-orchestrator \\
        --registry target/release/mcpo-test-registry --server target/release/mcp-test-server \\
        --cf-venv ~/.cache/mcp-orchestrator/contextforge-venv --duration 30 --calls 2000
"""

import argparse
import concurrent.futures
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from orchestrator import Api, Server, free_port, npx_shim, pct, start_registry  # noqa: E402

ENTRY = "io.mcpo.bench/mcp-test-server"
PACKAGE, VERSION = "@mcpo-bench/mcp-test-server", "1.0.0"
MARKER = "MCPO_BENCH_COMPARE_SHIM"
FINAL = {"succeeded", "failed", "cancelled"}
ECHO_ARGS = {"text": "bench"}


# ---------------------------------------------------------------- helpers


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def fixture(path: str, n: int) -> None:
    """n catalog entries: n - 1 npm/stdio fillers and the deployable test server."""
    entries = []
    for i in range(n - 1):
        entries.append({
            "server": {"name": f"io.mcpo.bench/filler-{i:04d}", "version": "1.0.0",
                       "description": f"bench filler entry {i}: an npm stdio MCP server",
                       "packages": [{"registryType": "npm", "identifier": f"@mcpo-bench/filler-{i:04d}",
                                     "version": "1.0.0", "transport": {"type": "stdio"}}]},
            "_meta": {"io.modelcontextprotocol.registry/official": {"status": "active"}}})
    entries.append({
        "server": {"name": ENTRY, "version": VERSION, "description": "bench: mcp-test-server behind an npx shim",
                   "packages": [{"registryType": "npm", "identifier": PACKAGE, "version": VERSION,
                                 "transport": {"type": "stdio"}}]},
        "_meta": {"io.modelcontextprotocol.registry/official": {"status": "active"}}})
    with open(path, "w") as f:
        json.dump(entries, f)


def proc_table() -> dict[int, tuple[int, str]]:
    """pid -> (ppid, exe path or '')."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
            ppid = int(s[s.rfind(")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        try:
            exe = os.readlink(f"/proc/{d}/exe")
        except OSError:
            exe = ""
        out[int(d)] = (ppid, exe)
    return out


def tree(root: int, exclude_exe: str) -> list[int]:
    """root and its descendants, without processes running `exclude_exe` (the MCP test server)."""
    table = proc_table()
    kids: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        if p in table and os.path.realpath(table[p][1]) != exclude_exe:
            out.append(p)
        todo.extend(kids.get(p, []))
    return out


def rss_split(pid: int) -> str:
    """The server's own RSS by kind: heap and other anonymous memory vs mapped files (its code)."""
    return (f"anonymous {vm_kib(pid, 'RssAnon') / 1024:.1f} MiB + file-backed "
            f"{vm_kib(pid, 'RssFile') / 1024:.1f} MiB")


def vm_kib(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Memory:
    """Samples the summed VmRSS of a process tree every 100 ms while started."""

    def __init__(self, root: int, exclude_exe: str):
        self.root, self.exclude = root, exclude_exe
        self.peak = self.peak_anon = 0
        self._stop = threading.Event()
        self._t: threading.Thread | None = None

    def rss_mib(self, field: str = "VmRSS") -> float:
        return sum(vm_kib(p, field) for p in tree(self.root, self.exclude)) / 1024

    def anon_mib(self) -> float:
        """The tree's anonymous memory: heap, stacks, written data (not code or other files)."""
        return self.rss_mib("RssAnon")

    def hwm_mib(self) -> float:
        """Sum of each live process's own high-water mark (an upper bound of the tree's peak)."""
        return sum(vm_kib(p, "VmHWM") for p in tree(self.root, self.exclude)) / 1024

    def procs(self) -> int:
        return len(tree(self.root, self.exclude))

    def start(self) -> None:
        self._stop.clear()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss_mib())
            self.peak_anon = max(self.peak_anon, self.anon_mib())
            self._stop.wait(0.1)

    def stop(self) -> None:
        self._stop.set()
        if self._t:
            self._t.join(5)


def micros(text: str) -> float:
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return float("nan")
    return float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]


def wrk(url: str, token: str, args) -> dict:
    cmd = ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency",
           "--timeout", "10s", "-H", f"Authorization: Bearer {token}", url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=args.duration + 60).stdout

    def p(q: str) -> float:
        m = re.search(rf"^\s+{q}%\s+(\S+)", out, re.M)
        return micros(m.group(1)) / 1000 if m else float("nan")

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: (.*)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "p50": p("50"), "p99": p("99"),
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "socket_errors": sock.group(1) if sock else "none"}


def timed_calls(api: Api, method: str, path: str, body, n: int, warmup: int, check) -> list[float]:
    """n sequential requests on one keep-alive connection after `warmup` ones; latencies in ms."""
    out = []
    for i in range(warmup + n):
        t0 = time.perf_counter()
        status, raw = api.raw(method, path, body)
        dt = (time.perf_counter() - t0) * 1000
        if status != 200 or not check(raw):
            raise SystemExit(f"{method} {path} answered {status}: {raw[:300]!r}")
        if i >= warmup:
            out.append(dt)
    return out


def parallel(fn, items, workers: int) -> None:
    with concurrent.futures.ThreadPoolExecutor(workers) as ex:
        for f in [ex.submit(fn, i) for i in items]:
            f.result()


def wait_http(port: int, path: str, timeout: float, proc: subprocess.Popen, what: str, logfile: str) -> float:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited ({proc.returncode}); see {logfile}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", path)
            if c.getresponse().status == 200:
                return time.time() - t0
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{what} was not ready within {timeout} s; see {logfile}")


# ---------------------------------------------------------------- the orchestrator


def run_orchestrator(args, data: str) -> dict:
    r: dict = {}
    fix = os.path.join(data, "registry.json")
    fixture(fix, args.entries)
    reg, reg_url = start_registry(args.registry, fix)
    shim_dir = os.path.join(data, "shim")
    npx_shim(shim_dir, os.path.realpath(args.server), MARKER, secrets.token_hex(8),
             {"MCP_TEST_SERVER_LOG": "warn"})
    srv = None
    try:
        os.makedirs(os.path.join(data, "orch"), exist_ok=True)
        srv = Server(args.bin, os.path.join(data, "orch"), {"MCPO_DEPLOY_DOCKER": "false"}, path_first=shim_dir)
        api = Api(srv.port, srv.key)
        mem = Memory(srv.proc.pid, os.path.realpath(args.server))
        rid = api.ok("POST", "/api/v1/registries", {"name": "bench", "kind": "mcp-registry", "url": reg_url})["id"]
        api.ok("POST", f"/api/v1/registries/{rid}/sync?wait=true")
        page = api.ok("GET", "/api/v1/catalog?limit=1")
        r["entries"] = page.get("total")
        log(f"orchestrator: {r['entries']} catalog entries after the sync")
        if r["entries"] != args.entries:
            raise SystemExit(f"expected {args.entries} catalog entries, the catalog holds {r['entries']}")

        # Register the MCP server and discover its tools: a pipeline run, N times.
        walls, dep = [], None
        for i in range(args.registrations):
            t0 = time.perf_counter()
            run = api.ok("POST", "/api/v1/pipeline-runs", {"server": ENTRY, "runtime": "process"})
            deadline = time.time() + 60
            while run["state"] not in FINAL:
                if time.time() > deadline:
                    raise SystemExit(f"pipeline run {run['id']} did not end in 60 s")
                time.sleep(0.005)
                run = api.ok("GET", f"/api/v1/pipeline-runs/{run['id']}")
            walls.append((time.perf_counter() - t0) * 1000)
            if run["state"] != "succeeded":
                raise SystemExit(f"pipeline run {run['state']}: {run.get('state_reason')}")
            if dep:
                api.ok("DELETE", f"/api/v1/deployments/{dep}")
            dep = run["deployment_id"]
        tools = api.ok("GET", f"/api/v1/deployments/{dep}")
        r["register_ms"] = walls
        n = tools.get("tools")
        r["tools_discovered"] = n if isinstance(n, int) else len(n or [])
        log(f"orchestrator: register+discover (pipeline run) median {statistics.median(walls):.1f} ms over {len(walls)}")

        time.sleep(args.settle)
        r["idle_rss"], r["idle_anon"] = mem.rss_mib(), mem.anon_mib()
        r["idle_split"] = rss_split(srv.proc.pid)
        r["procs"] = mem.procs()
        mem.start()
        path = f"/api/v1/catalog?limit={args.page}"
        api.ok("GET", path)
        r["list"] = wrk(f"http://127.0.0.1:{srv.port}{path}", srv.key, args)
        log(f"orchestrator: list {r['list']['rps']:.0f} req/s")
        call = f"/api/v1/deployments/{dep}/tools/echo/call"
        r["call_ms"] = timed_calls(api, "POST", call, {"arguments": ECHO_ARGS}, args.calls, args.warmup,
                                   lambda raw: b"bench" in raw)
        mem.stop()
        r["load_rss"], r["load_anon"], r["hwm"] = mem.peak, mem.peak_anon, mem.hwm_mib()
        r["load_split"] = rss_split(srv.proc.pid)
        log(f"orchestrator: tool call p50 {pct(r['call_ms'], 50):.2f} ms")
    finally:
        if srv:
            r["exit"] = srv.stop(30)[0]
        reg.kill()
        reg.wait(10)
    return r


# ---------------------------------------------------------------- ContextForge


class ContextForge:
    def __init__(self, venv: str, data: str, workers: int):
        self.data, self.port = data, free_port()
        self.jwt_secret = secrets.token_hex(32)
        self.env = {
            **os.environ,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "DATABASE_URL": f"sqlite:///{data}/contextforge.db",
            "JWT_SECRET_KEY": self.jwt_secret,
            "AUTH_ENCRYPTION_SECRET": secrets.token_hex(32),
            "AUTH_REQUIRED": "true",
            "PLATFORM_ADMIN_EMAIL": "admin@example.com",
            "PLATFORM_ADMIN_PASSWORD": "Bench-" + secrets.token_hex(12),
            "BASIC_AUTH_PASSWORD": secrets.token_hex(16),
            "MCPGATEWAY_UI_ENABLED": "false",
            "MCPGATEWAY_ADMIN_API_ENABLED": "false",
            "SSRF_ALLOW_LOCALHOST": "true",  # the MCP test server listens on 127.0.0.1
            "LOG_LEVEL": "ERROR",
            # Rate limits off, as on the orchestrator (MCPO_RATE_LIMIT_*=0 in bench/orchestrator.py).
            "RATE_LIMITING_ENABLED": "false",
        }
        self.venv = venv
        self.logfile = f"{data}/contextforge.log"
        self.log = open(self.logfile, "w")
        cmd = [f"{venv}/bin/mcpgateway", "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers)]
        t0 = time.time()
        # Own session: its process group is ours to end (uvicorn workers included).
        self.proc = subprocess.Popen(cmd, cwd=data, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            wait_http(self.port, "/health", 180, self.proc, "ContextForge", self.logfile)
            self.start_s = time.time() - t0
            out = subprocess.run([f"{venv}/bin/python", "-m", "mcpgateway.utils.create_jwt_token",
                                  "-u", "admin@example.com", "--admin", "--exp", "240"],
                                 cwd=data, env=self.env, capture_output=True, text=True, timeout=120)
            self.token = (out.stdout.strip().splitlines() or [""])[-1]
            if out.returncode != 0 or not self.token.startswith("ey"):
                raise SystemExit(f"could not mint a ContextForge JWT: {out.stderr[-500:]}")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        try:  # stray workers of the group
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return self.proc.returncode


def cf_version(venv: str) -> str:
    out = subprocess.run([f"{venv}/bin/python", "-c",
                          "import importlib.metadata as m; print(m.version('mcp-contextforge-gateway'))"],
                         capture_output=True, text=True, timeout=60)
    return out.stdout.strip() or "?"


def run_contextforge(args, data: str, mcp_url: str) -> dict:
    r: dict = {"version": cf_version(args.cf_venv)}
    cf = ContextForge(args.cf_venv, data, args.cf_workers)
    r["start_s"] = cf.start_s
    try:
        api = Api(cf.port, cf.token)
        mem = Memory(cf.proc.pid, os.path.realpath(args.server))
        log(f"ContextForge {r['version']}: ready in {cf.start_s:.1f} s; registering {args.entries} servers and "
            f"{args.entries} tools")
        local = threading.local()

        def conn() -> Api:
            if not hasattr(local, "api"):
                local.api = Api(cf.port, cf.token)
            return local.api

        def add_server(i: int) -> None:
            conn().ok("POST", "/servers", {"server": {"name": f"bench-server-{i:04d}",
                                                      "description": f"bench filler server {i}"}})

        def add_tool(i: int) -> None:
            conn().ok("POST", "/tools", {"tool": {"name": f"bench-tool-{i:04d}", "url": f"http://127.0.0.1:9/tool/{i}",
                                                  "integration_type": "REST", "request_type": "GET",
                                                  "description": f"bench filler tool {i}"}})

        t0 = time.time()
        parallel(add_server, range(args.entries), 4)
        parallel(add_tool, range(args.entries), 4)
        r["fill_s"] = time.time() - t0

        # Register the MCP server and discover its tools: POST /gateways, N times.
        walls, gw = [], None
        for i in range(args.registrations):
            if gw:
                api.ok("DELETE", f"/gateways/{gw}")
            t0 = time.perf_counter()
            out = api.ok("POST", "/gateways", {"name": "mts", "url": mcp_url, "transport": "STREAMABLEHTTP"})
            walls.append((time.perf_counter() - t0) * 1000)
            gw = out["id"]
        r["register_ms"] = walls
        mine = [t for t in api.ok("GET", f"/tools?limit=0&gateway_id={gw}") if t.get("gatewayId", gw) == gw]
        echo = [t for t in mine if t.get("originalName") == "echo"]
        if not echo:
            raise SystemExit(f"ContextForge did not discover the echo tool: {[t.get('name') for t in mine]}")
        r["tools_discovered"] = len(mine)
        tool_name = echo[0]["name"]
        for path in ("/servers?limit=0", "/tools?limit=0"):
            r["count " + path.split("?")[0]] = len(api.ok("GET", path))
        log(f"ContextForge: {r['count /servers']} servers, {r['count /tools']} tools "
            f"(filled in {r['fill_s']:.1f} s); register+discover median {statistics.median(walls):.1f} ms")

        time.sleep(args.settle)
        r["idle_rss"], r["idle_anon"] = mem.rss_mib(), mem.anon_mib()
        r["procs"] = mem.procs()
        mem.start()
        for what in ("servers", "tools"):
            path = f"/{what}?limit={args.page}"
            if len(api.ok("GET", path)) != args.page:
                raise SystemExit(f"{path} did not answer {args.page} items")
            r[f"list_{what}"] = wrk(f"http://127.0.0.1:{cf.port}{path}", cf.token, args)
            log(f"ContextForge: list /{what} {r[f'list_{what}']['rps']:.0f} req/s")
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool_name, "arguments": ECHO_ARGS}}
        r["call_ms"] = timed_calls(api, "POST", "/rpc", body, args.calls, args.warmup,
                                   lambda raw: b'"bench"' in raw and b'"error"' not in raw)
        mem.stop()
        r["load_rss"], r["load_anon"], r["hwm"] = mem.peak, mem.peak_anon, mem.hwm_mib()
        log(f"ContextForge: tool call p50 {pct(r['call_ms'], 50):.2f} ms")
    finally:
        r["exit"] = cf.stop()
    return r


# ---------------------------------------------------------------- report


def report(o: dict, c: dict, args) -> None:
    rows = []

    def row(metric: str, ov: float, cv: float, unit: str, higher_better: bool, goal: float | None, goal_text: str):
        ratio = ov / cv if higher_better else cv / ov  # > 1: the orchestrator is better
        met = "-" if goal is None else ("yes" if ratio >= goal else "NO")
        rows.append((metric, f"{ov:,.1f} {unit}", f"{cv:,.1f} {unit}", f"{ratio:,.1f}x", f"{met} ({goal_text})"))

    ol = o["list"]
    for what in ("servers", "tools"):
        cl = c[f"list_{what}"]
        row(f"list {args.page}/page, {args.entries:,} entries: throughput (CF /{what})", ol["rps"], cl["rps"], "req/s", True,
            10, ">= 10x")
        row(f"list {args.page}/page: p50 (CF /{what})", ol["p50"], cl["p50"], "ms", False, None, "-")
        row(f"list {args.page}/page: p99 (CF /{what})", ol["p99"], cl["p99"], "ms", False, None, "-")
    row("register + discover tools: median", statistics.median(o["register_ms"]), statistics.median(c["register_ms"]),
        "ms", False, None, "-")
    row("tool call echo: p50", pct(o["call_ms"], 50), pct(c["call_ms"], 50), "ms", False, 1, "lower")
    row("tool call echo: p99", pct(o["call_ms"], 99), pct(c["call_ms"], 99), "ms", False, 1, "lower")
    row("RSS idle (process tree)", o["idle_rss"], c["idle_rss"], "MiB", False, 10, "<= 1/10")
    row("RSS under load: peak sampled", o["load_rss"], c["load_rss"], "MiB", False, 10, "<= 1/10")
    row("RSS: sum of VmHWM", o["hwm"], c["hwm"], "MiB", False, 10, "<= 1/10")
    row("RSS idle: anonymous only", o["idle_anon"], c["idle_anon"], "MiB", False, None, "-")
    row("RSS under load: anonymous only, peak sampled", o["load_anon"], c["load_anon"], "MiB", False, None, "-")

    heads = ("metric", "orchestrator", "ContextForge", "ratio", "goal met?")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]
    print()
    print(" | ".join(h.ljust(w) for h, w in zip(heads, widths)))
    print("-|-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths))))
    print("\nratio: how many times better the orchestrator is (throughput: orch/CF; latency and memory: CF/orch).")
    print("anonymous only: RSS without file-backed pages (mapped code and libraries, which the page cache shares "
          "and the kernel can reclaim); the goal is judged on the full RSS rows.")
    errs = [(k, v) for k, v in (("orchestrator", ol),) + tuple((f"ContextForge /{w}", c[f"list_{w}"]) for w in ("servers", "tools"))
            if v["non2xx"] or v["socket_errors"] != "none"]
    for k, v in errs:
        print(f"WARNING: {k} wrk: {v['non2xx']} non-2xx, socket errors: {v['socket_errors']}")
    print(f"processes measured: orchestrator {o['procs']}, ContextForge {c['procs']} "
          f"(the MCP test server excluded on both sides)")
    print(f"tools discovered: orchestrator {o['tools_discovered']}, ContextForge {c['tools_discovered']}; "
          f"register+discover samples (ms): orchestrator {[round(x, 1) for x in o['register_ms']]}, "
          f"ContextForge {[round(x, 1) for x in c['register_ms']]}")
    print(f"ContextForge {c['version']}: {args.cf_workers} uvicorn worker(s), ready in {c['start_s']:.1f} s, "
          f"{args.entries:,} servers + {args.entries:,} tools registered in {c['fill_s']:.1f} s; exit codes: orchestrator {o.get('exit')}, "
          f"ContextForge {c.get('exit')}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="mcp-orchestrator release binary")
    ap.add_argument("--registry", required=True, help="mcpo-test-registry binary")
    ap.add_argument("--server", required=True, help="mcp-test-server binary")
    ap.add_argument("--cf-venv", required=True, help="venv holding mcp-contextforge-gateway")
    ap.add_argument("--cf-workers", type=int, default=1, help="ContextForge uvicorn workers (its CLI's default: 1)")
    ap.add_argument("--entries", type=int, default=1000)
    ap.add_argument("--page", type=int, default=50, help="items per list request on both sides")
    ap.add_argument("--duration", type=int, default=30, help="seconds per wrk run")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--calls", type=int, default=2000, help="sequential tool calls timed on each side")
    ap.add_argument("--warmup", type=int, default=20, help="tool calls before timing")
    ap.add_argument("--registrations", type=int, default=5, help="register+discover repetitions")
    ap.add_argument("--settle", type=float, default=3, help="seconds before the idle RSS sample")
    ap.add_argument("--order", choices=["orch-first", "cf-first"], default="orch-first")
    ap.add_argument("--keep", action="store_true", help="keep the temp directory (logs, databases)")
    ap.add_argument("--orchestrator-only", action="store_true",
                    help="measure the orchestrator alone (no ContextForge, no comparison table)")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found (scripts/setup.sh bench installs it)")

    data = tempfile.mkdtemp(prefix="mcpo-compare-")
    mts_log = open(os.path.join(data, "mcp-test-server.log"), "w+")
    # The MCP server ContextForge talks to: the same binary the orchestrator runs over stdio,
    # here over streamable HTTP. Started first and left alone by both sides.
    mts = subprocess.Popen([args.server, "--transport", "http", "--port", str(free_port())],
                           stdout=subprocess.PIPE, stderr=mts_log, text=True, env={**os.environ, "MCP_TEST_SERVER_LOG": "warn"})
    try:
        line = (mts.stdout.readline() or "").strip()
        if not line.startswith("listening on "):
            raise SystemExit(f"mcp-test-server --transport http did not start: {line!r}")
        mcp_url = line.removeprefix("listening on ")
        os.makedirs(os.path.join(data, "cf"), exist_ok=True)
        print(f"run: {os.cpu_count()} cores; wrk -t{args.threads} -c{args.connections} -d{args.duration}s; "
              f"{args.entries} entries, {args.page} per page; {args.calls} tool calls; data in {data}", flush=True)
        if args.orchestrator_only:
            o = run_orchestrator(args, data)
            print(f"orchestrator alone: list {o['list']['rps']:.0f} req/s; tool call p50 "
                  f"{pct(o['call_ms'], 50):.2f} ms, p99 {pct(o['call_ms'], 99):.2f} ms; RSS idle "
                  f"{o['idle_rss']:.1f} MiB ({o['idle_split']}), under load {o['load_rss']:.1f} MiB, "
                  f"sum of VmHWM {o['hwm']:.1f} MiB; after the load: {o['load_split']}")
        elif args.order == "orch-first":
            o = run_orchestrator(args, data)
            c = run_contextforge(args, os.path.join(data, "cf"), mcp_url)
        else:
            c = run_contextforge(args, os.path.join(data, "cf"), mcp_url)
            o = run_orchestrator(args, data)
        if not args.orchestrator_only:
            report(o, c, args)
    finally:
        mts.terminate()
        try:
            mts.wait(10)
        except subprocess.TimeoutExpired:
            mts.kill()
            mts.wait(5)
        # Any shim-launched stdio server left behind (the orchestrator stops them on SIGTERM).
        for pid, (_, exe) in proc_table().items():
            if os.path.realpath(exe or "/") == os.path.realpath(args.server):
                try:
                    with open(f"/proc/{pid}/environ", "rb") as f:
                        if MARKER.encode() in f.read():
                            os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if args.keep:
            print(f"kept {data}", file=sys.stderr)
        else:
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
