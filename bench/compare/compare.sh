#!/usr/bin/env bash
# Side-by-side benchmark (issue 8): the orchestrator against IBM ContextForge on this machine,
# in the same run, on equivalent work (see bench/compare/README.md).
#
# 1. builds the release binaries (mcp-orchestrator, mcpo-test-registry, mcp-test-server);
#    MCPO_BENCH_NO_BUILD=1 skips the build;
# 2. installs ContextForge (PyPI mcp-contextforge-gateway, CONTEXTFORGE_VERSION pins a version)
#    into its own venv, CONTEXTFORGE_VENV (default ~/.cache/mcp-orchestrator/contextforge-venv),
#    unless that venv already has it;
# 3. runs bench/compare/compare.py; extra arguments go to it, e.g. `--duration 5 --calls 200`
#    for a smoke test.
# Needs wrk (scripts/setup.sh bench), python3 (3.11+, with venv) and the PyPI index.
set -euo pipefail
cd "$(dirname "$0")/../.."
TARGET="${CARGO_TARGET_DIR:-target}"
[ "${MCPO_BENCH_NO_BUILD:-}" = 1 ] || cargo build --release -p server --bin mcp-orchestrator \
  -p testkit --bin mcpo-test-registry -p mcp-test-server --bin mcp-test-server
command -v wrk >/dev/null || { echo "wrk not found: run scripts/setup.sh bench" >&2; exit 1; }

VENV="${CONTEXTFORGE_VENV:-$HOME/.cache/mcp-orchestrator/contextforge-venv}"
PY="${CONTEXTFORGE_PYTHON:-python3}"
if [ ! -x "$VENV/bin/mcpgateway" ]; then
  echo "installing mcp-contextforge-gateway${CONTEXTFORGE_VERSION:+==$CONTEXTFORGE_VERSION} into $VENV" >&2
  start=$(date +%s)
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "mcp-contextforge-gateway${CONTEXTFORGE_VERSION:+==$CONTEXTFORGE_VERSION}"
  echo "installed in $(( $(date +%s) - start )) s" >&2
fi

echo "machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, $(uname -sr); $(wrk --version 2>&1 | head -1)"
exec python3 bench/compare/compare.py --bin "$TARGET/release/mcp-orchestrator" \
  --registry "$TARGET/release/mcpo-test-registry" --server "$TARGET/release/mcp-test-server" \
  --cf-venv "$VENV" "$@"
