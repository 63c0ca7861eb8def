#!/usr/bin/env bash
# Deployment benchmarks (issue 5): builds the release binaries and the test-server image,
# starts the test registry and the orchestrator on loopback (fresh SQLite), runs
# bench/deploy (deploy-to-ready vs direct, tool-call overhead vs a direct MCP client,
# 50 concurrent deployments), then stops everything. Needs a Docker engine (DOCKER_HOST).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-target}"
[ "${MCPO_BENCH_NO_BUILD:-}" = 1 ] || cargo build --release -p server --bin mcp-orchestrator -p testkit --bin mcpo-test-registry --bin mcpo-test-image -p deploy-bench --bin deploy-bench
IMAGE="mcpo-test/mcp-test-server:bench"
"$TARGET/release/mcpo-test-image" "$IMAGE" >/dev/null
work=$(mktemp -d)
cleanup() { kill "${reg_pid:-}" "${srv_pid:-}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
python3 - "$work/entries.json" "$IMAGE" <<'PY'
import json, sys
path, image = sys.argv[1], sys.argv[2]
def entry(name, http):
    pkg = {"registryType": "oci", "identifier": image, "transport": {"type": "stdio"}}
    if http:
        pkg["transport"] = {"type": "streamable-http", "url": "http://localhost:8080/mcp"}
        pkg["packageArguments"] = [{"type": "named", "name": "--transport", "value": "http"},
                                   {"type": "named", "name": "--listen", "value": "0.0.0.0:8080"}]
    return {"server": {"name": name, "version": "1.0.0", "description": "bench", "packages": [pkg]},
            "_meta": {"io.modelcontextprotocol.registry/official": {"status": "active"}}}
json.dump([entry("io.mcpo.bench/stdio", False), entry("io.mcpo.bench/http", True)], open(path, "w"))
PY
"$TARGET/release/mcpo-test-registry" --fixture "$work/entries.json" >"$work/reg.out" &
reg_pid=$!
for _ in $(seq 50); do grep -q listening "$work/reg.out" && break; sleep 0.1; done
reg_url=$(sed -n 's/^listening on //p' "$work/reg.out")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export DATABASE_URL="sqlite://$work/bench.db" MCPO_SECRETS_KEY_FILE="$work/secret.key" \
  MCPO_DEPLOY_DATA_DIR="$work/deployments" MCPO_LOG_FORMAT=json RUST_LOG=warn \
  MCPO_RATE_LIMIT_PER_IP_PER_SECOND=0 MCPO_RATE_LIMIT_PER_PRINCIPAL_PER_SECOND=0
MCPO_LISTEN="127.0.0.1:$port" MCPO_ADMIN_PASSWORD=bench-admin-password \
  "$TARGET/release/mcp-orchestrator" serve >"$work/server.log" 2>&1 &
srv_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null && break; sleep 0.1; done
key=$("$TARGET/release/mcp-orchestrator" api-keys create --name bench --role admin)
auth=(-H "authorization: Bearer $key" -H 'content-type: application/json')
rid=$(curl -sf "${auth[@]}" -d "{\"name\":\"bench\",\"kind\":\"mcp-registry\",\"url\":\"$reg_url\"}" \
  "http://127.0.0.1:$port/api/v1/registries" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
curl -sf "${auth[@]}" -X POST "http://127.0.0.1:$port/api/v1/registries/$rid/sync?wait=true" >/dev/null
echo "machine: $(nproc) cores, $(uname -sr); docker: $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?')"
MCPO_BENCH_URL="http://127.0.0.1:$port" MCPO_BENCH_KEY="$key" MCPO_BENCH_IMAGE="$IMAGE" \
  "$TARGET/release/deploy-bench"
