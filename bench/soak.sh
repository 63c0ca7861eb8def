#!/usr/bin/env bash
# Load and soak (issue 8, item 3): builds the release binaries, then runs bench/soak.py: the
# maximum throughput of an authenticated mixed read workload (catalog search, deployments,
# pipeline runs, system) under a short wrk ramp, then 10 minutes at 80 % of it (paced wrk),
# RSS sampled every 5 s. Pass: no errors, RSS growth < 10 %. A fresh orchestrator on loopback
# with a fresh SQLite file, rate limits off, the loopback test registry with a synthetic
# catalog. Needs `wrk` (Debian). MCPO_BENCH_NO_BUILD=1 skips the build; extra arguments go to
# soak.py (e.g. `--minutes 1`, `--synthetic 5000`, `--max-rps 20000`). Not part of CI: run it
# on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-target}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }
[ "${MCPO_BENCH_NO_BUILD:-}" = 1 ] || cargo build --release -p server --bin mcp-orchestrator \
  -p testkit --bin mcpo-test-registry
echo "machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, $(uname -sr); $(wrk --version 2>&1 | head -1)"
exec python3 bench/soak.py --bin "$TARGET/release/mcp-orchestrator" \
  --registry "$TARGET/release/mcpo-test-registry" "$@"
