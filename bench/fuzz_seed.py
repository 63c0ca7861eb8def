#!/usr/bin/env python3
"""Seeds a fresh orchestrator for API fuzzing and writes the schemathesis config naming what
it made, so the operations on one resource (`/registries/{id}`, `/deployments/{id}/...`,
`/pipeline-runs/{id}/...`, `/catalog/{name}/...`) reach their handlers' logic instead of
answering 404 to every generated id.

Made through the API itself: a file registry source over the seed fixture, synced; a
deployment and a pipeline run of a catalog entry (in the fuzzing sandbox neither can start:
no Docker, no launcher on PATH, so they end failed, which is a state the fuzzer must handle
too). DELETE operations keep generated ids, so the seeded resources live through the run.

    bench/fuzz_seed.py --port P --key K --fixture FILE --out schemathesis.toml
"""

import argparse
import json
import time

from orchestrator import Api


def toml_string(s: str) -> str:
    return json.dumps(s)  # a JSON string is a valid TOML basic string


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--fixture", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    api = Api(args.port, args.key, timeout=120)

    registry = api.ok("POST", "/api/v1/registries", {"name": "fuzz seed", "kind": "file", "url": args.fixture})
    sync = api.ok("POST", f"/api/v1/registries/{registry['id']}/sync?wait=true")
    if sync.get("state") != "succeeded":
        raise SystemExit(f"seed sync did not succeed: {sync}")
    catalog = api.ok("GET", "/api/v1/catalog?limit=200&needs_secrets=false")
    # An entry a deployment request is accepted for (the verdict names a runtime and no
    # required setting is missing); its start then fails in the sandbox.
    deployment = run = entry = None
    for item in catalog["items"]:
        body = {"server": item["name"], "runtime": "process"}
        status, out = api.call("POST", "/api/v1/deployments", body)
        if status in (200, 201, 202):
            deployment, entry = out, item
            break
    if deployment is None:
        raise SystemExit("no catalog entry of the fixture was accepted for a deployment")
    run = api.ok("POST", "/api/v1/pipeline-runs", {"server": entry["name"], "runtime": "process"})
    # Wait (bounded) for the run to end so the fuzzer meets a settled resource first.
    for _ in range(100):
        state = api.ok("GET", f"/api/v1/pipeline-runs/{run['id']}")["state"]
        if state in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.1)
    version = entry["version"]

    bindings = [
        ("^/api/v1/registries/\\{id\\}", {"path.id": registry["id"], "path.sync_id": sync["id"]}),
        ("^/api/v1/deployments/\\{id\\}", {"path.id": deployment["id"]}),
        ("^/api/v1/pipeline-runs/\\{id\\}", {"path.id": run["id"]}),
        ("^/api/v1/catalog/\\{name\\}", {"path.name": entry["name"], "path.version": version}),
    ]
    lines = ["# Written by bench/fuzz_seed.py: ids of the resources it made.\n"]
    for regex, params in bindings:
        lines.append("[[operations]]")
        lines.append(f"include-path-regex = {toml_string(regex)}")
        lines.append('exclude-method = "DELETE"')
        inner = ", ".join(f"{toml_string(k)} = {toml_string(v)}" for k, v in params.items())
        lines.append(f"parameters = {{ {inner} }}\n")
    with open(args.out, "w") as f:
        f.write("\n".join(lines))
    print(
        f"seeded: registry {registry['id']} (sync {sync['id']}, {len(catalog['items'])} entries listed), "
        f"deployment {deployment['id']} of {entry['name']}, run {run['id']} ({state})"
    )


if __name__ == "__main__":
    main()
