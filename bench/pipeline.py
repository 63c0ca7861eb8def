#!/usr/bin/env python3
"""Pipeline-run benchmark (issue 6): N runs queued at once (one batch request) through a
worker pool of C, on Docker and on the process runtime.

For each runtime a fresh orchestrator (release binary, fresh SQLite file in a temp dir, rate
limits off) syncs the loopback test registry, executes one warm-up run (on the process runtime
it fills the npm cache that npx uses), then `POST /api/v1/pipeline-runs/batch` with N
identical requests. The driver polls `GET /api/v1/pipeline-runs` every 0.5 s and deletes each
deployment once its run succeeded (`--delete as-done`, needed for node servers: 200 of them
would not fit) or all of them at the end (`--delete end`), on a few threads beside the
poller. Every figure is computed from the timestamps the server recorded:

- throughput: N / (last finished_at - first queued_at)
- queue wait: started_at - queued_at (started_at: when a worker claimed the run)
- end to end: finished_at - created_at
- scheduler overhead: (finished_at - started_at) - sum of the steps' (finished_at - started_at),
  i.e. everything the worker does around the steps (claim-to-first-step reads, the writes
  between steps, the final write)

Stdlib only.

    bench/pipeline.sh                      # builds, makes the image, starts the registry, runs this
    bench/pipeline.py --bin target/release/mcp-orchestrator --registry target/release/mcpo-test-registry \\
        --image mcpo-test/mcp-test-server:bench --runtime both
"""

import argparse
import json
import os
import queue
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone

from orchestrator import Api, Server, pct, start_registry

EVERYTHING_VERSION = "2026.8.31"
FINAL = {"succeeded", "failed", "cancelled"}
STEPS = ["resolve", "prepare", "deploy", "initialize", "discover", "verify", "ready"]


_TS = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:?\d{2})?$")


def ts(text: str | None) -> float | None:
    """RFC 3339 (any number of fraction digits) to Unix seconds."""
    if text is None:
        return None
    m = _TS.match(text)
    if not m:
        raise ValueError(f"not a timestamp: {text!r}")
    base = datetime.strptime(f"{m[1]}T{m[2]}", "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    frac = float(f"0.{m[3]}") if m[3] else 0.0
    off = 0.0
    if m[4] and m[4] != "Z":
        sign = -1 if m[4][0] == "-" else 1
        hh, mm = m[4][1:].replace(":", "")[:2], m[4][1:].replace(":", "")[2:]
        off = sign * (int(hh) * 3600 + int(mm) * 60)
    return base + frac - off


_WORK = re.compile(r"\((\d+(?:\.\d+)?) ms\)$")
_OWN = re.compile(r"^scheduler: (\d+) writes, (\d+(?:\.\d+)?) ms")


def fmt_ms(v: float) -> str:
    return f"{v * 1000:.1f} ms" if v < 10 else f"{v:.2f} s"


def fixture(path: str, image: str) -> None:
    entries = [
        {"server": {"name": "io.mcpo.bench/oci", "version": "1.0.0", "description": "bench: mcp-test-server image",
                    "packages": [{"registryType": "oci", "identifier": image, "transport": {"type": "stdio"}}]},
         "_meta": {"io.modelcontextprotocol.registry/official": {"status": "active"}}},
        {"server": {"name": "io.mcpo.bench/everything", "version": "1.0.0", "description": "bench: server-everything",
                    "packages": [{"registryType": "npm", "identifier": "@modelcontextprotocol/server-everything",
                                  "version": EVERYTHING_VERSION, "transport": {"type": "stdio"}}]},
         "_meta": {"io.modelcontextprotocol.registry/official": {"status": "active"}}},
    ]
    with open(path, "w") as f:
        json.dump(entries, f)


def vm(pid: int, field: str) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def list_runs(api: Api) -> list[dict]:
    runs, cursor = [], None
    while True:
        path = "/api/v1/pipeline-runs?limit=200" + (f"&cursor={cursor}" if cursor else "")
        page = api.ok("GET", path)
        runs.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return runs


def wait_run(api: Api, run_id: str, timeout: float) -> dict:
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = api.ok("GET", f"/api/v1/pipeline-runs/{run_id}")
        if r["state"] in FINAL:
            return r
        time.sleep(0.2)
    raise SystemExit(f"run {run_id} did not end within {timeout} s")


def step_durations(r: dict) -> dict[str, float]:
    out = {}
    for s in r["steps"]:
        a, b = ts(s.get("started_at")), ts(s.get("finished_at"))
        if a is not None and b is not None:
            out[s["name"]] = b - a
    return out


def describe_steps(r: dict) -> str:
    d = step_durations(r)
    return ", ".join(f"{n} {d[n] * 1000:.0f} ms" for n in STEPS if n in d)


class Deleter:
    """Deletes deployments on a few threads, each with its own connection."""

    def __init__(self, port: int, key: str, threads: int):
        self.q: queue.Queue = queue.Queue()
        self.errors: list[str] = []
        self.done = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._work, args=(Api(port, key),), daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _work(self, api: Api) -> None:
        while True:
            dep = self.q.get()
            if dep is None:
                return
            try:
                status, out = api.call("DELETE", f"/api/v1/deployments/{dep}")
                with self.lock:
                    if status in (200, 202, 204, 404):
                        self.done += 1
                    else:
                        self.errors.append(f"{dep}: {status} {out}")
            except Exception as e:  # noqa: BLE001 - reported, never fatal
                with self.lock:
                    self.errors.append(f"{dep}: {e}")

    def add(self, dep: str) -> None:
        self.q.put(dep)

    def finish(self) -> None:
        for _ in self.threads:
            self.q.put(None)
        for t in self.threads:
            t.join()


def children_named(ppid: int, name: str) -> int:
    """Processes named `name` in the process tree under `ppid`."""
    kids: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        rp = stat.rfind(")")
        comm = stat[stat.find("(") + 1:rp]
        parent = int(stat[rp + 2:].split()[1])
        kids.setdefault(parent, []).append(int(d))
        names[int(d)] = comm
    n, todo = 0, list(kids.get(ppid, []))
    while todo:
        p = todo.pop()
        n += names.get(p) == name
        todo.extend(kids.get(p, []))
    return n


def scenario(args, runtime: str, reg_url: str) -> dict:
    data = tempfile.mkdtemp(prefix=f"mcpo-pipeline-bench-{runtime}-")
    extra = {
        "MCPO_PIPELINE_CONCURRENCY": str(args.concurrency),
        "MCPO_DEPLOY_DOCKER": "true" if runtime == "docker" else "false",
    }
    srv = Server(args.bin, data, extra)
    api = Api(srv.port, srv.key)
    result: dict = {"runtime": runtime}
    try:
        rid = api.ok("POST", "/api/v1/registries", {"name": "bench", "kind": "mcp-registry", "url": reg_url})["id"]
        api.ok("POST", f"/api/v1/registries/{rid}/sync?wait=true")
        req = ({"server": "io.mcpo.bench/oci", "runtime": "docker"} if runtime == "docker"
               else {"server": "io.mcpo.bench/everything", "runtime": "process"})

        # Warm-up: one run alone (on the process runtime: npx fills the npm cache).
        t0 = time.time()
        w = api.ok("POST", "/api/v1/pipeline-runs", req)
        w = wait_run(api, w["id"], 600)
        warm_wall = time.time() - t0
        if w["state"] != "succeeded":
            raise SystemExit(f"warm-up run {w['state']}: {w.get('state_reason')}")
        api.ok("DELETE", f"/api/v1/deployments/{w['deployment_id']}")
        result["warmup"] = (f"warm-up run ({'cold npm cache' if runtime == 'process' else 'image already local'}): "
                            f"{w['state']} in {warm_wall:.2f} s wall, end to end "
                            f"{fmt_ms(ts(w['finished_at']) - ts(w['created_at']))} [{describe_steps(w)}]")
        print(result["warmup"], flush=True)

        # The batch.
        deleter = Deleter(srv.port, srv.key, args.delete_threads)
        t_batch = time.time()
        created = api.ok("POST", "/api/v1/pipeline-runs/batch", {"runs": [req] * args.runs})["runs"]
        t_answer = time.time() - t_batch
        ids = {r["id"] for r in created}
        if len(ids) != args.runs:
            raise SystemExit(f"the batch created {len(ids)} runs, not {args.runs}")
        deleted: set[str] = set()
        peak_children, peak_rss = 0, 0.0
        deadline = time.time() + args.timeout
        by_id: dict[str, dict] = {}
        while True:
            time.sleep(0.5)
            runs = [r for r in list_runs(api) if r["id"] in ids]
            by_id = {r["id"]: r for r in runs}
            if args.delete == "as-done":
                for r in runs:
                    if r["state"] == "succeeded" and r.get("deployment_id") and r["id"] not in deleted:
                        deleted.add(r["id"])
                        deleter.add(r["deployment_id"])
            if runtime == "process":
                peak_children = max(peak_children, children_named(srv.proc.pid, "node"))
            peak_rss = max(peak_rss, vm(srv.proc.pid, "VmRSS"))
            if all(r["state"] in FINAL for r in runs) and len(runs) == args.runs:
                break
            if time.time() > deadline:
                states: dict[str, int] = {}
                for r in runs:
                    states[r["state"]] = states.get(r["state"], 0) + 1
                raise SystemExit(f"the batch did not end within {args.timeout} s: {states}")
        t_done = time.time() - t_batch
        t_del0 = time.time()
        for r in by_id.values():
            if r["state"] == "succeeded" and r.get("deployment_id") and r["id"] not in deleted:
                deleted.add(r["id"])
                deleter.add(r["deployment_id"])
        deleter.finish()
        t_del = time.time() - t_del0

        runs = list(by_id.values())
        ok = [r for r in runs if r["state"] == "succeeded"]
        failed = [r for r in runs if r["state"] != "succeeded"]
        first_q = min(ts(r["queued_at"]) for r in runs)
        last_f = max(ts(r["finished_at"]) for r in runs)
        wait = [ts(r["started_at"]) - ts(r["queued_at"]) for r in runs if r.get("started_at")]
        e2e = [ts(r["finished_at"]) - ts(r["created_at"]) for r in ok]
        over, busy, per_step = [], [], {n: [] for n in STEPS}
        for r in ok:
            d = step_durations(r)
            busy.append(sum(d.values()))
            over.append((ts(r["finished_at"]) - ts(r["started_at"])) - sum(d.values()))
            for n, v in d.items():
                per_step[n].append(v)
        # The steps' own work as their log lines time it (after the step's start was written):
        # what the worker spends around that work, bookkeeping writes inside the steps included.
        work_over, own, writes = [], [], []
        for r in ok:
            full = api.ok("GET", f"/api/v1/pipeline-runs/{r['id']}")
            work = 0.0
            for s in full["steps"]:
                for l in s.get("logs", []):
                    m = _OWN.search(l["text"])
                    if m:
                        writes.append(int(m[1]))
                        own.append(float(m[2]) / 1000)
                timed = [float(m[1]) for m in (_WORK.search(l["text"]) for l in s.get("logs", [])) if m]
                work += timed[-1] / 1000 if timed else 0.0
            work_over.append((ts(full["finished_at"]) - ts(full["started_at"])) - work)
        reasons: dict[str, int] = {}
        for r in failed:
            k = f"{r['state']}: {r.get('state_reason')}"
            reasons[k] = reasons.get(k, 0) + 1
        result.update({
            "runs": len(runs), "succeeded": len(ok), "failed": len(failed), "reasons": reasons,
            "span": last_f - first_q, "throughput": len(runs) / (last_f - first_q),
            "wait": wait, "e2e": e2e, "over": over, "work_over": work_over, "own": own, "writes": writes, "busy": busy, "per_step": per_step,
            "batch_answer": t_answer, "client_done": t_done, "delete_time": t_del, "deleted": deleter.done,
            "delete_errors": deleter.errors, "peak_node": peak_children, "peak_rss": peak_rss,
            "hwm": vm(srv.proc.pid, "VmHWM"),
        })
    finally:
        code, _ = srv.stop(60)
        result["exit"] = code
        if args.keep:
            print(f"kept {data}", file=sys.stderr)
        else:
            shutil.rmtree(data, ignore_errors=True)
    return result


def report(r: dict, args) -> None:
    rt = r["runtime"]
    what = ("Docker, mcp-test-server FROM scratch image (oci, stdio)" if rt == "docker"
            else f"process runtime, npx @modelcontextprotocol/server-everything@{EVERYTHING_VERSION} (stdio)")
    print(f"== {rt}: {r['runs']} runs in one batch, concurrency {args.concurrency}, {what}")
    print(f"   batch request answered in {fmt_ms(r['batch_answer'])}; all final {r['client_done']:.2f} s after it was sent")
    print(f"   succeeded {r['succeeded']}, failed {r['failed']}" +
          "".join(f"\n     {n} x {k}" for k, n in r["reasons"].items()))
    print(f"   throughput {r['throughput']:.2f} runs/s ({r['runs']} runs, first queued -> last finished {r['span']:.2f} s)")
    w, e, o = r["wait"], r["e2e"], r["over"]
    print(f"   queue wait (started_at - queued_at): p50 {fmt_ms(pct(w, 50))}  p99 {fmt_ms(pct(w, 99))}  max {fmt_ms(max(w))}")
    if e:
        print(f"   end to end (finished_at - created_at): p50 {fmt_ms(pct(e, 50))}  p99 {fmt_ms(pct(e, 99))}  max {fmt_ms(max(e))}")
        print(f"   scheduler overhead per run: p50 {pct(o, 50) * 1000:.2f} ms  p99 {pct(o, 99) * 1000:.2f} ms  "
              f"mean {statistics.mean(o) * 1000:.2f} ms  max {max(o) * 1000:.2f} ms  (goal < 5 ms)")
        wo = r["work_over"]
        print(f"   same, counting the step's own start/end writes as overhead (run time - the steps' work "
              f"timed in their logs): p50 {pct(wo, 50) * 1000:.2f} ms  p99 {pct(wo, 99) * 1000:.2f} ms  "
              f"mean {statistics.mean(wo) * 1000:.2f} ms")
        if r["own"]:
            ow = r["own"]
            print(f"   scheduler's own time per run, measured in the server (claim + load + every transition's "
                  f"transaction, {statistics.mean(r['writes']):.1f} writes): p50 {pct(ow, 50) * 1000:.2f} ms  "
                  f"p99 {pct(ow, 99) * 1000:.2f} ms  mean {statistics.mean(ow) * 1000:.2f} ms  (goal < 5 ms)")
        print("   steps p50 / p99: " + ", ".join(
            f"{n} {pct(v, 50) * 1000:.1f}/{pct(v, 99) * 1000:.1f} ms" for n, v in r["per_step"].items() if v))
        print(f"   time in steps per run: mean {fmt_ms(statistics.mean(r['busy']))}")
    print(f"   deployments deleted: {r['deleted']} ({args.delete}); "
          f"{r['delete_time']:.2f} s after the last run ended; delete errors: {len(r['delete_errors'])}"
          + "".join(f"\n     {x}" for x in r["delete_errors"][:5]))
    if rt == "process":
        print(f"   peak node processes under the orchestrator: {r['peak_node']}")
    print(f"   orchestrator RSS: peak sampled {r['peak_rss']:.1f} MiB, VmHWM {r['hwm']:.1f} MiB; exit code after SIGTERM {r['exit']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/mcp-orchestrator")
    ap.add_argument("--registry", default="target/release/mcpo-test-registry")
    ap.add_argument("--image", default="mcpo-test/mcp-test-server:bench")
    ap.add_argument("--runtime", choices=["docker", "process", "both"], default="both")
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--delete", choices=["as-done", "end"], default="as-done",
                    help="process runtime: delete each deployment once its run succeeded (default) or at the end")
    ap.add_argument("--delete-docker", choices=["as-done", "end"], default="end",
                    help="Docker: when to delete the deployments (default: at the end)")
    ap.add_argument("--delete-threads", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--keep", action="store_true", help="keep the temp dirs (database, server log)")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="mcpo-pipeline-bench-")
    fixture(f"{work}/entries.json", args.image)
    reg, reg_url = start_registry(args.registry, f"{work}/entries.json")
    print(f"machine: {os.cpu_count()} cores, {os.uname().sysname} {os.uname().release}; python {sys.version.split()[0]}", flush=True)
    try:
        results = []
        for rt in (["docker", "process"] if args.runtime == "both" else [args.runtime]):
            delete = args.delete if rt == "process" else args.delete_docker
            sub = argparse.Namespace(**{**vars(args), "delete": delete})
            r = scenario(sub, rt, reg_url)
            report(r, sub)
            results.append(r)
    finally:
        reg.kill()
        reg.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
