#!/usr/bin/env bash
# Pipeline-run benchmark (issue 6): builds the release binaries and the FROM-scratch
# test-server image, then runs bench/pipeline.py: 200 runs queued at once (one batch request)
# through a worker pool of 8, on Docker (the test-server image as an `oci` entry) and on the
# process runtime (npm @modelcontextprotocol/server-everything through npx, after a warm-up
# run that fills the npm cache). Each runtime gets a fresh orchestrator on loopback with a
# fresh SQLite file and rate limits off. Needs a Docker engine (DOCKER_HOST), node/npx and the
# npm registry. MCPO_BENCH_NO_BUILD=1 skips the build; extra arguments go to pipeline.py
# (e.g. `--runtime process`, `--runs 50`, `--keep`).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-target}"
[ "${MCPO_BENCH_NO_BUILD:-}" = 1 ] || cargo build --release -p server --bin mcp-orchestrator \
  -p testkit --bin mcpo-test-registry --bin mcpo-test-image
IMAGE="mcpo-test/mcp-test-server:bench"
"$TARGET/release/mcpo-test-image" "$IMAGE" >/dev/null
echo "machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, $(uname -sr);" \
  "docker: $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?');" \
  "node: $(node --version 2>/dev/null || echo '?')"
exec python3 bench/pipeline.py --bin "$TARGET/release/mcp-orchestrator" \
  --registry "$TARGET/release/mcpo-test-registry" --image "$IMAGE" --runs 200 --concurrency 8 "$@"
