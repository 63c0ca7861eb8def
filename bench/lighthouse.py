#!/usr/bin/env python3
"""Dashboard quality (issue 8, item 5): Lighthouse on Overview, Catalog and a pipeline-run page,
signed in, against a fresh orchestrator on loopback; plus the size of the WASM bundle.

What it does: starts the loopback test registry (its shared fixture plus a deployable `oci`
entry of the test-server image), a fresh orchestrator (release binary, fresh SQLite file, the
release site as site root), syncs the registry (so the Catalog has entries), queues one
pipeline run of that entry (Docker when DOCKER_HOST answers and the image is there; otherwise
the run fails quickly, which still gives a run page), signs in as the initial admin through
the password form (`POST /auth/login`) and hands the session cookie to Lighthouse with
`--extra-headers`. Lighthouse (npm `lighthouse`) drives Debian's Chromium (CHROME_PATH,
default /usr/bin/chromium) with the desktop preset (`--preset=desktop`: simulated throttling,
40 ms RTT, 10 Mbit/s, no CPU slow-down). Per page it prints the four category scores and every
audit that is not passing (score < 1, skipping informative / not-applicable / manual ones).

Use bench/lighthouse.sh (it builds the site first); directly:
    bench/lighthouse.py --bin target/release/mcp-orchestrator --site target/site-release \\
        --registry target/release/mcpo-test-registry --lighthouse PATH/TO/lighthouse
Stdlib only (brotli through node's zlib)."""

import argparse
import glob
import gzip
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from orchestrator import Api, Server  # noqa: E402

CHROME_FLAGS = ("--headless --no-sandbox --disable-gpu --disable-background-networking "
                "--disable-component-update --no-first-run")
CATEGORIES = [("performance", "performance"), ("accessibility", "accessibility"),
              ("best-practices", "best practices"), ("seo", "SEO")]
GOALS = {"performance": 95, "accessibility": 100, "best-practices": 95}
ADMIN_PASSWORD = "bench-admin-password"  # what orchestrator.Server sets MCPO_ADMIN_PASSWORD to
DEPLOYABLE = "io.mcpo.test/mcp-test-server"


def start_registry(binary: str, image: str) -> tuple[subprocess.Popen, str]:
    p = subprocess.Popen([binary, "--deployable", image], stdout=subprocess.PIPE, text=True)
    line = (p.stdout.readline() or "").strip()
    if not line.startswith("listening on "):
        p.kill()
        raise SystemExit(f"test registry did not start: {line!r}")
    return p, line.removeprefix("listening on ")


def sign_in(port: int) -> str:
    """The session cookie (`name=value`) of the admin, through the password form."""
    body = urllib.parse.urlencode({"username": "admin", "password": ADMIN_PASSWORD, "next": "/"})
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("POST", "/auth/login", body=body, headers={
        "content-type": "application/x-www-form-urlencoded",
        "origin": f"http://127.0.0.1:{port}",
    })
    r = c.getresponse()
    r.read()
    loc = r.getheader("location") or ""
    cookies = [h.split(";", 1)[0] for k, h in r.getheaders() if k.lower() == "set-cookie"]
    if r.status not in (302, 303) or "error=" in loc or not cookies:
        raise SystemExit(f"sign-in failed: {r.status} location={loc!r} cookies={len(cookies)}")
    return "; ".join(cookies)


def docker_ready(image: str) -> bool:
    if not shutil.which("docker"):
        return False
    try:
        r = subprocess.run(["docker", "image", "inspect", image], capture_output=True, timeout=20)
        return r.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def make_run(api: Api) -> tuple[str, str]:
    """(run id, final state) of one pipeline run of the deployable entry (on Docker)."""
    run = api.ok("POST", "/api/v1/pipeline-runs", {"server": DEPLOYABLE, "runtime": "docker"})
    deadline = time.time() + 180
    while time.time() < deadline:
        r = api.ok("GET", f"/api/v1/pipeline-runs/{run['id']}")
        if r["state"] in ("succeeded", "failed", "cancelled"):
            return r["id"], r["state"]
        time.sleep(0.5)
    return run["id"], "still running"


def lighthouse(lh: str, url: str, cookie: str, out: str, chrome: str) -> dict:
    cmd = [lh, url, "--preset=desktop", "--output=json", f"--output-path={out}", "--quiet",
           f"--chrome-flags={CHROME_FLAGS}", "--extra-headers", json.dumps({"Cookie": cookie}),
           "--only-categories=performance,accessibility,best-practices,seo"]
    env = {**os.environ, "CHROME_PATH": chrome}
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    if r.returncode != 0 or not os.path.exists(out):
        raise SystemExit(f"lighthouse failed on {url} ({r.returncode}):\n{r.stderr[-3000:]}")
    with open(out) as f:
        return json.load(f)


def report(name: str, rep: dict) -> bool:
    cats = rep["categories"]
    scores = {k: None if cats.get(k, {}).get("score") is None else round(cats[k]["score"] * 100)
              for k, _ in CATEGORIES}
    ok = all(scores.get(k) is not None and scores[k] >= v for k, v in GOALS.items())
    final = rep.get("finalDisplayedUrl") or rep.get("finalUrl")
    print(f"\n{name}: {final}{'' if ok else '   <-- below the goal'}")
    print("  " + "   ".join(f"{label} {scores[k] if scores[k] is not None else '-'}"
                            for k, label in CATEGORIES))
    if rep.get("runtimeError"):
        print(f"  runtime error: {rep['runtimeError'].get('message')}")
    audits = rep["audits"]
    for k, label in CATEGORIES:
        failing = []
        for ref in cats.get(k, {}).get("auditRefs", []):
            a = audits.get(ref["id"], {})
            if a.get("scoreDisplayMode") in ("informative", "notApplicable", "manual", "error") \
                    or a.get("score") is None or a["score"] >= (0.9 if k == "performance" else 1):
                continue
            extra = f" ({a['displayValue']})" if a.get("displayValue") else ""
            failing.append(f"    {a['id']}: {a['title']}{extra} [score {a['score']:.2f}]")
        if failing:
            print(f"  failing {label} audits:")
            print("\n".join(failing))
    m = {i: audits.get(i, {}).get("displayValue") for i in
         ("first-contentful-paint", "largest-contentful-paint", "total-blocking-time",
          "cumulative-layout-shift", "speed-index")}
    print("  metrics: " + ", ".join(f"{k.replace('-', ' ')} {v}" for k, v in m.items() if v))
    # What the browser actually downloaded for the bundle (compressed by the server or not).
    for item in audits.get("network-requests", {}).get("details", {}).get("items", []):
        url = item.get("url", "").split("?")[0]
        if url.endswith((".wasm", ".js", ".css")) and "/pkg/" in url:
            print(f"  {url.rsplit('/', 1)[-1]}: transferred {item.get('transferSize', 0) / 1024:.0f} KiB"
                  f" of {item.get('resourceSize', 0) / 1024:.0f} KiB")
    return ok


def wasm_sizes(site: str) -> None:
    files = sorted(glob.glob(os.path.join(site, "pkg", "*.wasm")))
    if not files:
        print(f"\nno WASM under {site}/pkg")
        return
    for path in files:
        raw = open(path, "rb").read()
        gz = len(gzip.compress(raw, compresslevel=9))
        br = subprocess.run(
            ["node", "-e", "const z=require('zlib');const b=require('fs').readFileSync(process.argv[1]);"
             "process.stdout.write(String(z.brotliCompressSync(b,{params:{[z.constants.BROTLI_PARAM_QUALITY]:11,"
             "[z.constants.BROTLI_PARAM_SIZE_HINT]:b.length}}).length))", path],
            capture_output=True, text=True, timeout=300)
        brs = f"{int(br.stdout) / 1024:.0f} KiB" if br.returncode == 0 and br.stdout.strip() else "?"
        print(f"\nWASM {path}: raw {len(raw) / 1024:.0f} KiB, gzip -9 {gz / 1024:.0f} KiB, brotli q11 {brs}"
              f" (goal: compressed <= 500 KB)")
    for ext in ("js", "css"):
        for path in sorted(glob.glob(os.path.join(site, "pkg", f"*.{ext}"))):
            raw = open(path, "rb").read()
            print(f"{ext.upper()} {path}: raw {len(raw) / 1024:.0f} KiB, gzip -9 "
                  f"{len(gzip.compress(raw, compresslevel=9)) / 1024:.0f} KiB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/release/mcp-orchestrator")
    ap.add_argument("--site", default="target/site-release")
    ap.add_argument("--registry", default="target/release/mcpo-test-registry")
    ap.add_argument("--image", default="mcpo-test/mcp-test-server:bench")
    ap.add_argument("--lighthouse", required=True, help="the lighthouse CLI")
    ap.add_argument("--chrome", default=os.environ.get("CHROME_PATH", "/usr/bin/chromium"))
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (reports, database, log)")
    args = ap.parse_args()

    if not docker_ready(args.image):
        raise SystemExit("the run page needs a Docker engine with the test image: start one first "
                         "(eval \"$(scripts/test-services.sh start)\" sets DOCKER_HOST)")
    work = tempfile.mkdtemp(prefix="mcpo-lighthouse-")
    reg, reg_url = start_registry(args.registry, args.image)
    srv = None
    all_ok = True
    try:
        srv = Server(args.bin, work, {
            "MCPO_SITE_ROOT": os.path.abspath(args.site),
            "MCPO_DEPLOY_DOCKER": "true",
        })
        api = Api(srv.port, srv.key)
        rid = api.ok("POST", "/api/v1/registries", {"name": "test", "kind": "mcp-registry", "url": reg_url})["id"]
        api.ok("POST", f"/api/v1/registries/{rid}/sync?wait=true")
        run_id, state = make_run(api)
        print(f"pipeline run {run_id}: {state} (Docker)")
        cookie = sign_in(srv.port)
        base = f"http://127.0.0.1:{srv.port}"
        print(f"Lighthouse {subprocess.run([args.lighthouse, '--version'], capture_output=True, text=True).stdout.strip()}, "
              f"preset: desktop, Chromium: {args.chrome}, signed in as admin (session cookie via --extra-headers)")
        pages = [("Overview", "/"), ("Catalog", "/catalog"), ("Run", f"/pipeline-runs/view?id={run_id}")]
        for name, path in pages:
            rep = lighthouse(args.lighthouse, base + path, cookie, f"{work}/{name.lower()}.json", args.chrome)
            all_ok &= report(name, rep)
    finally:
        if srv:
            srv.stop(30)
        reg.kill()
        reg.wait()
        if args.keep:
            print(f"\nkept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    wasm_sizes(args.site)
    print(f"\ngoals (performance >= 95, accessibility 100, best practices >= 95): "
          f"{'met on every page' if all_ok else 'NOT met'}")


if __name__ == "__main__":
    main()
