#!/usr/bin/env python3
"""Health-check benchmark (issue 7): what checking a fleet costs the orchestrator.

One orchestrator (release binary, loopback, fresh SQLite file in a temp dir, rate limits off,
`MCPO_DEPLOY_DOCKER=false`, `MCPO_HEALTH_INTERVAL_MS=10000`, `MCPO_PIPELINE_CONCURRENCY=8`)
syncs the loopback test registry, which serves one `npm` stdio entry (`@mcpo-bench/tiny`
1.0.0). The process runtime launches it as `npx -y @mcpo-bench/tiny@1.0.0`; `npx` is a shim
first on the orchestrator's PATH that `exec`s our Rust MCP test server
(`mcp-test-server`, stdio, one tokio worker thread), so a deployment is one small process
and 1,000 of them fit in memory. The checker's cost does not depend on what answers the
`ping`: what is measured is the orchestrator.

Phases:
1. idle baseline: the same orchestrator with 0 deployments, `--baseline` seconds;
2. create N deployments with `POST /api/v1/pipeline-runs/batch` (at most 500 per request)
   and wait until every run succeeded;
3. settle `--settle` seconds, then measure over `--window` seconds, with no API request
   during the window (only /proc reads): the orchestrator's CPU time (utime + stime of
   /proc/<pid>/stat) in percent of one core, per thread name too; checks done (delta of
   `mcpo_health_checks_total`, scraped just before and just after the window); check
   duration p50/p99 estimated from the delta of the `mcpo_health_check_duration_seconds`
   histogram (linear interpolation inside the bucket: a bucket estimate); the servers' own
   CPU; then `GET /api/v1/deployments`: every deployment's health status and the
   distribution of its last `ping` round trip (`health.latency_ms`); RSS, threads, fds.
   With `--perf S`: then `perf record` of the orchestrator for S seconds (self time by
   shared object and by symbol).
4. SIGTERM the orchestrator (it stops every deployment) and make sure no server is left
   (processes carrying the shim's marker are killed by pid).
5. Unless `--compare-interval-ms 0`: the same fleet on a fresh orchestrator with
   `MCPO_HEALTH_INTERVAL_MS=3600000` (each deployment's first check falls at random within
   the hour, so a 60 s window holds ~17 checks): what 1,000 live deployments cost without
   checks (the watcher, the stderr readers, the runtime); the difference is the checks'.

Stdlib only.

    bench/health.sh                        # builds, then runs this
    bench/health.py --bin target/release/mcp-orchestrator --registry target/release/mcpo-test-registry \\
        --server target/release/mcp-test-server --deployments 1000 --window 60
"""

import argparse
import json
import math
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from orchestrator import Api, Server, npx_shim, pct, start_registry

FINAL = {"succeeded", "failed", "cancelled"}
ENTRY = "io.mcpo.bench/tiny"
PACKAGE, VERSION = "@mcpo-bench/tiny", "1.0.0"
MARKER = "MCPO_BENCH_HEALTH_SHIM"
CLK = os.sysconf("SC_CLK_TCK")


def fixture(path: str) -> None:
    entries = [
        {"server": {"name": ENTRY, "version": "1.0.0", "description": "bench: mcp-test-server behind an npx shim",
                    "packages": [{"registryType": "npm", "identifier": PACKAGE, "version": VERSION,
                                  "transport": {"type": "stdio"}}]},
         "_meta": {"io.modelcontextprotocol.registry/official": {"status": "active"}}},
    ]
    with open(path, "w") as f:
        json.dump(entries, f)


def status_field(pid: int, field: str) -> int:
    """A numeric field of /proc/<pid>/status (kB for the Vm* ones); -1 if unreadable."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def stat_fields(path: str) -> tuple[str, list[str]] | None:
    """(comm, fields after comm) of a /proc stat file."""
    try:
        with open(path) as f:
            s = f.read()
    except OSError:
        return None
    rp = s.rfind(")")
    return s[s.find("(") + 1:rp], s[rp + 2:].split()


def cpu_seconds(pid: int) -> float:
    st = stat_fields(f"/proc/{pid}/stat")
    if st is None:
        return float("nan")
    f = st[1]
    return (int(f[11]) + int(f[12])) / CLK  # utime, stime


def run_ns(path: str) -> int | None:
    """Time on CPU in ns of one task (/proc/.../schedstat, first field: exact, not in ticks)."""
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def threads_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """tid -> (thread name, CPU seconds from schedstat)."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        st = stat_fields(f"/proc/{pid}/task/{tid}/stat")
        ns = run_ns(f"/proc/{pid}/task/{tid}/schedstat")
        if st and ns is not None:
            out[int(tid)] = (st[0], ns / 1e9)
    return out


def process_run_seconds(pid: int) -> float:
    """CPU seconds of every live thread of pid (schedstat)."""
    return sum(cpu for _, cpu in threads_cpu(pid).values())


def children(ppid: int) -> dict[int, str]:
    """pid -> comm of the direct children of ppid."""
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = stat_fields(f"/proc/{d}/stat")
            if st and int(st[1][1]) == ppid:
                out[int(d)] = st[0]
    return out


def marked(token: str) -> list[int]:
    """Processes whose environment carries the shim's marker."""
    needle = f"{MARKER}={token}".encode()
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    out.append(int(d))
        except OSError:
            pass
    return out


def system_busy() -> tuple[float, float]:
    """(busy jiffies, total jiffies) of all cores, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v) - idle, sum(v)


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(api: Api) -> list[tuple[str, dict, float]]:
    status, raw = api.raw("GET", "/metrics")
    if status != 200:
        raise SystemExit(f"/metrics answered {status}")
    out = []
    for line in raw.decode().splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if m:
            out.append((m[1], dict(_LABEL.findall(m[2] or "")), float(m[3])))
    return out


def checks_by_outcome(samples) -> dict[str, float]:
    out: dict[str, float] = {}
    for name, labels, v in samples:
        if name == "mcpo_health_checks_total":
            k = labels.get("outcome", "?")
            out[k] = out.get(k, 0) + v
    return out


def duration_buckets(samples) -> dict[float, float]:
    """le -> cumulative count, summed over the runtime label."""
    out: dict[float, float] = {}
    for name, labels, v in samples:
        if name == "mcpo_health_check_duration_seconds_bucket":
            le = float("inf") if labels["le"] == "+Inf" else float(labels["le"])
            out[le] = out.get(le, 0) + v
    return out


def duration_sum(samples) -> float:
    return sum(v for n, _, v in samples if n == "mcpo_health_check_duration_seconds_sum")


def bucket_quantile(cum: dict[float, float], q: float) -> str:
    """Quantile q of a cumulative histogram, linear inside the bucket (Prometheus style)."""
    les = sorted(cum)
    total = cum.get(float("inf"), 0)
    if total <= 0:
        return "n/a"
    rank = q * total
    lower, below = 0.0, 0.0
    for le in les:
        if cum[le] >= rank:
            if math.isinf(le):
                return f"> {lower * 1000:g} ms"
            inside = cum[le] - below
            v = lower + (le - lower) * ((rank - below) / inside if inside else 1.0)
            return f"{v * 1000:.2f} ms (bucket {lower * 1000:g}–{le * 1000:g} ms)"
        lower, below = le, cum[le]
    return "n/a"


def list_runs(api: Api) -> list[dict]:
    runs, cursor = [], None
    while True:
        page = api.ok("GET", "/api/v1/pipeline-runs?limit=200" + (f"&cursor={cursor}" if cursor else ""))
        runs.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return runs


def measure_cpu(pid: int, seconds: float) -> dict:
    """The orchestrator's CPU (total and per thread name), system-wide CPU and its children's
    CPU over `seconds`, reading /proc only."""
    kids0 = {p: process_run_seconds(p) for p in children(pid)}
    th0, sys0 = threads_cpu(pid), system_busy()
    t0, c0 = time.monotonic(), cpu_seconds(pid)
    time.sleep(seconds)
    t1, c1 = time.monotonic(), cpu_seconds(pid)
    th1, sys1 = threads_cpu(pid), system_busy()
    kids1 = {p: process_run_seconds(p) for p in kids0}
    wall = t1 - t0
    per_name: dict[str, float] = {}
    for tid, (name, cpu) in th1.items():
        before = th0.get(tid, (name, 0.0))[1]  # threads born in the window count from 0
        per_name[name] = per_name.get(name, 0.0) + cpu - before
    kids = sum(max(0.0, kids1[p] - kids0[p]) for p in kids0)
    sched = sum(v for v in per_name.values())
    return {
        "wall": wall, "cpu": c1 - c0, "pct": (c1 - c0) / wall * 100, "sched_pct": sched / wall * 100,
        "threads": {k: v / wall * 100 for k, v in sorted(per_name.items(), key=lambda kv: -kv[1])},
        "system_pct": (sys1[0] - sys0[0]) / max(1, sys1[1] - sys0[1]) * 100 * (os.cpu_count() or 1),
        "kids": len(kids0), "kids_pct": kids / wall * 100,
    }


def raise_nofile(need: int) -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        new = need if hard == resource.RLIM_INFINITY else min(hard, max(need, soft))
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        except (ValueError, OSError):
            pass
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        raise SystemExit(f"open files limit {soft} (hard {hard}) < {need} needed for the fleet: raise `ulimit -n`")
    return soft, hard


def perf_profile(pid: int, seconds: float, out: str) -> list[str]:
    """`perf record` of the orchestrator for `seconds`; the hottest symbols (self time)."""
    if not shutil.which("perf"):
        return ["perf not found"]
    rec = subprocess.run(["perf", "record", "-F", "999", "-g", "-p", str(pid), "-o", out, "--", "sleep", str(seconds)],
                         capture_output=True, text=True, timeout=seconds + 60)
    if rec.returncode != 0:
        return [f"perf record failed: {rec.stderr.strip()[-300:]}"]
    lines = []
    for sort, limit, most in (("dso", "0.5", 8), ("dso,sym", "1.5", 25)):
        rep = subprocess.run(["perf", "report", "-i", out, "--stdio", "--no-children", "-g", "none",
                              "--sort", sort, "--percent-limit", limit],
                             capture_output=True, text=True, timeout=300)
        lines.append(f"by {sort}:")
        lines += [l.rstrip() for l in rep.stdout.splitlines() if l.strip() and not l.startswith("#")][:most]
        samples = re.search(r"^# Samples: (\S+)", rep.stdout, re.M)
    if samples:
        lines.insert(0, f"{samples[1]} samples")
    return lines


def run(args, work: str, reg_url: str, token: str, interval_ms: int, phase: str, full: bool) -> dict:
    """One orchestrator with the fleet checked every `interval_ms`; `full`: with the idle
    baseline, the health and latency read-out and the profile."""
    data = os.path.join(work, phase)
    os.makedirs(data)
    extra = {
        "MCPO_DEPLOY_DOCKER": "false",
        "MCPO_PIPELINE_CONCURRENCY": str(args.pipeline_concurrency),
        "MCPO_HEALTH_INTERVAL_MS": str(interval_ms),
    }
    if args.health_concurrency:
        extra["MCPO_HEALTH_CONCURRENCY"] = str(args.health_concurrency)
    srv = Server(args.bin, data, extra, os.path.join(work, "shim"))
    pid = srv.proc.pid
    api = Api(srv.port, srv.key)
    r: dict = {"data": data, "interval_ms": interval_ms}
    try:
        rid = api.ok("POST", "/api/v1/registries", {"name": "bench", "kind": "mcp-registry", "url": reg_url})["id"]
        api.ok("POST", f"/api/v1/registries/{rid}/sync?wait=true")

        # 1. Idle baseline, 0 deployments.
        if full:
            time.sleep(3)
            r["baseline"] = measure_cpu(pid, args.baseline)
            r["baseline_rss"] = status_field(pid, "VmRSS") / 1024
            b = r["baseline"]
            print(f"idle, 0 deployments: {b['pct']:.3f} % of one core over {b['wall']:.1f} s; "
                  f"RSS {r['baseline_rss']:.1f} MiB", flush=True)

        # 2. The fleet.
        # Explicit names: derived ones ("tiny", "tiny-2", ...) stop at 999 and cost a lookup
        # per name already taken.
        reqs = [{"server": ENTRY, "runtime": "process", "name": f"bench-{i:04d}"} for i in range(args.deployments)]
        t0 = time.time()
        ids: set[str] = set()
        for i in range(0, len(reqs), args.batch):
            created = api.ok("POST", "/api/v1/pipeline-runs/batch", {"runs": reqs[i:i + args.batch]})["runs"]
            ids |= {c["id"] for c in created}
        if len(ids) != args.deployments:
            raise SystemExit(f"the batches created {len(ids)} runs, not {args.deployments}")
        deadline = time.time() + args.timeout
        peak_rss, last_print = 0.0, 0.0
        while True:
            time.sleep(2)
            runs = [x for x in list_runs(api) if x["id"] in ids]
            states: dict[str, int] = {}
            for x in runs:
                states[x["state"]] = states.get(x["state"], 0) + 1
            peak_rss = max(peak_rss, status_field(pid, "VmRSS") / 1024)
            if time.time() - last_print > 30:
                print(f"   {time.time() - t0:.0f} s: " + ", ".join(f"{k} {v}" for k, v in sorted(states.items())), flush=True)
                last_print = time.time()
            if len(runs) == len(ids) and all(x["state"] in FINAL for x in runs):
                break
            if time.time() > deadline:
                raise SystemExit(f"the runs did not end within {args.timeout} s: {states}")
        r["create_wall"] = time.time() - t0
        r["create_states"] = states
        r["create_peak_rss"] = peak_rss
        bad = [x for x in runs if x["state"] != "succeeded"]
        print(f"[{phase}] created: {states.get('succeeded', 0)} of {len(ids)} runs succeeded in {r['create_wall']:.1f} s "
              f"({len(ids) / r['create_wall']:.1f} runs/s)", flush=True)
        if bad:
            reasons: dict[str, int] = {}
            for x in bad:
                k = f"{x['state']}: {x.get('state_reason')}"
                reasons[k] = reasons.get(k, 0) + 1
            print("   not succeeded: " + "; ".join(f"{n} x {k}" for k, n in reasons.items()), flush=True)
            if not args.allow_failures:
                raise SystemExit("some runs failed (--allow-failures to measure anyway)")
        kids = children(pid)
        r["kids_by_name"] = {}
        for name in kids.values():
            r["kids_by_name"][name] = r["kids_by_name"].get(name, 0) + 1

        # 3. Settle, then the window: no API request inside it.
        time.sleep(args.settle)
        m0 = scrape(api)
        r["window"] = measure_cpu(pid, args.window)
        m1 = scrape(api)
        r["rss"] = status_field(pid, "VmRSS") / 1024
        r["hwm"] = status_field(pid, "VmHWM") / 1024
        r["threads_n"] = status_field(pid, "Threads")
        r["fds"] = len(os.listdir(f"/proc/{pid}/fd"))
        c0, c1 = checks_by_outcome(m0), checks_by_outcome(m1)
        r["checks"] = {k: c1.get(k, 0) - c0.get(k, 0) for k in set(c0) | set(c1)}
        b0, b1 = duration_buckets(m0), duration_buckets(m1)
        r["buckets"] = {le: b1.get(le, 0) - b0.get(le, 0) for le in b1}
        r["dur_sum"] = duration_sum(m1) - duration_sum(m0)
        t_list = time.time()
        deps = api.ok("GET", "/api/v1/deployments")
        r["list_time"] = time.time() - t_list
        r["deployments"] = len(deps)
        hs: dict[str, int] = {}
        lat = []
        for d in deps:
            h = d.get("health") or {}
            hs[h.get("status", "?")] = hs.get(h.get("status", "?"), 0) + 1
            if h.get("latency_ms") is not None:
                lat.append(float(h["latency_ms"]))
        r["health"], r["latency"] = hs, lat
        if full and args.perf:
            r["perf"] = perf_profile(pid, args.perf, os.path.join(data, "perf.data"))
    finally:
        r["exit"], r["stop_time"] = srv.stop(args.stop_timeout)
        deadline = time.time() + 10
        left = marked(token)
        while left and time.time() < deadline:
            time.sleep(0.5)
            left = marked(token)
        r["left_after_stop"] = len(left)
        for p in left:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
    return r


def report(r: dict, args, off: dict | None) -> None:
    n = args.deployments
    w = r["window"]
    print(f"== {n} deployments, process runtime, npx shim -> mcp-test-server (stdio); "
          f"health.interval_ms {r['interval_ms']}, health.concurrency {args.health_concurrency or 'default (32)'}")
    print(f"   orchestrator children: " + ", ".join(f"{v} {k}" for k, v in sorted(r["kids_by_name"].items())))
    print(f"   creation: {r['create_wall']:.1f} s for {n} runs (pipeline concurrency {args.pipeline_concurrency}); "
          f"peak RSS meanwhile {r['create_peak_rss']:.1f} MiB")
    print(f"   window: {w['wall']:.1f} s after {args.settle:g} s settling; no API request inside it")
    ok, failed = r["checks"].get("ok", 0), r["checks"].get("failed", 0)
    total = ok + failed
    expect = n * w["wall"] / (r["interval_ms"] / 1000)
    print(f"   checks: {total:.0f} ({total / w['wall']:.1f}/s; expected ~{expect:.0f} = {n} x {w['wall']:.0f} s / "
          f"{r['interval_ms'] / 1000:g} s), failed {failed:.0f}")
    if total:
        print(f"   check duration (runtime state + MCP ping), histogram bucket estimate over the window: "
              f"p50 {bucket_quantile(r['buckets'], 0.5)}, p99 {bucket_quantile(r['buckets'], 0.99)}, "
              f"mean {r['dur_sum'] / total * 1000:.2f} ms")
    lat = r["latency"]
    if lat:
        print(f"   last ping round trip per deployment (health.latency_ms, {len(lat)} values): "
              f"p50 {pct(lat, 50):.2f} ms  p90 {pct(lat, 90):.2f} ms  p99 {pct(lat, 99):.2f} ms  max {max(lat):.2f} ms")
    print(f"   health: " + ", ".join(f"{k} {v}" for k, v in sorted(r["health"].items()))
          + f" (of {r['deployments']} deployments; GET /api/v1/deployments answered in {r['list_time'] * 1000:.0f} ms)")
    print(f"   orchestrator CPU: {w['cpu']:.2f} s in {w['wall']:.1f} s = {w['pct']:.2f} % of one core "
          f"(idle with 0 deployments: {r['baseline']['pct']:.3f} %)")
    if total:
        print(f"   per check: {w['cpu'] / total * 1e6:.0f} us of orchestrator CPU (everything it did in the window / checks)")
    top = [(k, v) for k, v in w["threads"].items() if v >= 0.005]
    print(f"   same from the threads' schedstat (ns, not ticks): {w['sched_pct']:.2f} %; by thread name: "
          + ", ".join(f"{k} {v:.2f} %" for k, v in top[:8]))
    if off:
        ow = off["window"]
        oc = sum(off["checks"].values())
        print(f"   same fleet with health.interval_ms {off['interval_ms']} (a fresh orchestrator; {oc:.0f} checks in its "
              f"{ow['wall']:.0f} s window): {ow['pct']:.2f} % of one core, RSS {off['rss']:.1f} MiB; "
              f"so the checks themselves cost ~{w['pct'] - ow['pct']:.2f} % of one core"
              + (f", {(w['cpu'] / w['wall'] - ow['cpu'] / ow['wall']) * w['wall'] / total * 1e6:.0f} us per check" if total else ""))
    print(f"   the {w['kids']} servers together: {w['kids_pct']:.2f} % of one core; whole machine: "
          f"{w['system_pct']:.1f} % of one core ({os.cpu_count()} cores)")
    print(f"   orchestrator: RSS {r['rss']:.1f} MiB (idle, 0 deployments: {r['baseline_rss']:.1f} MiB), VmHWM {r['hwm']:.1f} MiB, "
          f"{r['threads_n']} threads, {r['fds']} open fds")
    print(f"   stop: exit code {r['exit']} after SIGTERM, {r['stop_time']:.1f} s; "
          f"servers left afterwards: {r['left_after_stop']}")
    if r.get("perf"):
        print(f"   profile (perf record -F 999 -g -p <orchestrator>, {args.perf:g} s after the window; self time):")
        for line in r["perf"]:
            print(f"     {line}")
    healthy = r["health"].get("healthy", 0)
    verdict = "met" if w["pct"] < 5 and healthy == n and failed == 0 else "NOT met"
    print(f"verdict: {n} deployments checked every {r['interval_ms'] / 1000:g} s cost {w['pct']:.2f} % of one core "
          f"(goal < 5 %), {healthy}/{n} healthy, {failed:.0f} failed checks: {verdict}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/mcp-orchestrator")
    ap.add_argument("--registry", default="target/release/mcpo-test-registry")
    ap.add_argument("--server", default="target/release/mcp-test-server", help="the MCP test server the npx shim execs")
    ap.add_argument("--deployments", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=500, help="runs per batch request (at most 500)")
    ap.add_argument("--pipeline-concurrency", type=int, default=8)
    ap.add_argument("--interval-ms", type=int, default=10000)
    ap.add_argument("--health-concurrency", type=int, default=0, help="MCPO_HEALTH_CONCURRENCY (default: the server's)")
    ap.add_argument("--baseline", type=float, default=30, help="seconds of idle measurement with 0 deployments")
    ap.add_argument("--settle", type=float, default=20)
    ap.add_argument("--window", type=float, default=60)
    ap.add_argument("--timeout", type=float, default=1800, help="bound on creating the fleet")
    ap.add_argument("--stop-timeout", type=float, default=120, help="SIGKILL the orchestrator after this")
    ap.add_argument("--compare-interval-ms", type=int, default=3_600_000,
                    help="then the same fleet on a fresh orchestrator checked this rarely (the fleet without "
                         "checks, for the difference); 0 skips it")
    ap.add_argument("--perf", type=float, default=0, help="profile the orchestrator this many seconds after the window (perf)")
    ap.add_argument("--allow-failures", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (database, server log)")
    args = ap.parse_args()
    if not 1 <= args.batch <= 500:
        raise SystemExit("--batch must be 1 to 500")
    server = os.path.abspath(args.server)
    if not os.access(server, os.X_OK):
        raise SystemExit(f"no executable test server at {server}")
    soft, _ = raise_nofile(4 * args.deployments + 512)

    work = tempfile.mkdtemp(prefix="mcpo-health-bench-")
    token = os.path.basename(work)
    npx_shim(os.path.join(work, "shim"), server, MARKER, token,
             {"TOKIO_WORKER_THREADS": 1, "MCP_TEST_SERVER_LOG": "warn"})
    fixture(f"{work}/entries.json")
    reg, reg_url = start_registry(args.registry, f"{work}/entries.json")
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, {os.uname().sysname} {os.uname().release}; python {sys.version.split()[0]}; "
          f"load average before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; open files limit {soft}", flush=True)
    try:
        r = run(args, work, reg_url, token, args.interval_ms, "checked", True)
        off = None
        if args.compare_interval_ms:
            off = run(args, work, reg_url, token, args.compare_interval_ms, "rarely-checked", False)
        report(r, args, off)
    finally:
        reg.kill()
        reg.wait()
        for p in marked(token):  # an interrupted run
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
