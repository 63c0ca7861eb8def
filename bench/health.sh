#!/usr/bin/env bash
# Health-check benchmark (issue 7): builds the release binaries, then runs bench/health.py:
# 1,000 deployments on the process runtime, checked every 10 s (runtime state + MCP ping),
# and what that costs the orchestrator (CPU in % of one core over a 60 s window, checks/s,
# check latency p50/p99, RSS). Each deployment is our `mcp-test-server` (stdio): an `npx`
# shim first on the orchestrator's PATH execs it in place of `npx -y @mcpo-bench/tiny@1.0.0`,
# so 1,000 servers fit in memory; no node, npm registry or Docker needed. Fresh orchestrator on
# loopback, fresh SQLite file in a temp dir, rate limits off. MCPO_BENCH_NO_BUILD=1 skips the
# build; extra arguments go to health.py (e.g. `--deployments 200`, `--window 120`, `--perf 60`
# to profile the orchestrator with perf, `--keep`).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-target}"
[ "${MCPO_BENCH_NO_BUILD:-}" = 1 ] || cargo build --release -p server --bin mcp-orchestrator \
  -p testkit --bin mcpo-test-registry -p mcp-test-server --bin mcp-test-server
# Each stdio server holds 3 pipes in the orchestrator: raise the soft open-files limit.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true
echo "machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, $(uname -sr);" \
  "load average: $(cut -d' ' -f1-3 /proc/loadavg); ulimit -n $(ulimit -n)"
exec python3 bench/health.py --bin "$TARGET/release/mcp-orchestrator" \
  --registry "$TARGET/release/mcpo-test-registry" --server "$TARGET/release/mcp-test-server" \
  --deployments 1000 --window 60 "$@"
