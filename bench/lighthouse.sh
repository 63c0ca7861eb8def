#!/usr/bin/env bash
# Dashboard quality (issue 8, item 5): Lighthouse (npm, desktop preset, Debian Chromium) on
# Overview, Catalog and a pipeline-run page, signed in, against a fresh orchestrator on
# loopback; prints each page's performance / accessibility / best-practices / SEO scores, the
# failing audits, and the WASM bundle raw, gzip and brotli. Goals: performance >= 95,
# accessibility 100, best practices >= 95, compressed WASM <= 500 KB.
#
# Builds the release site with cargo-leptos, precompressed, into its own site root
# (MCPO_BENCH_SITE_ROOT, default target/site-release, so a debug site in target/site is left
# alone) plus the test registry and image tool; MCPO_BENCH_NO_BUILD=1 skips that. Lighthouse
# is installed once under ~/.cache/mcp-orchestrator/lighthouse (MCPO_LIGHTHOUSE_DIR). The run
# page needs a pipeline run, and the test entry deploys to Docker: start an engine first
# (`eval "$(scripts/test-services.sh start)"` sets DOCKER_HOST). Extra arguments go to
# bench/lighthouse.py (e.g. --keep).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-target}"
SITE="${MCPO_BENCH_SITE_ROOT:-$TARGET/site-release}"
export RUSTFLAGS="${RUSTFLAGS:---cfg erase_components}" LEPTOS_OUTPUT_NAME=mcp-orchestrator
if [ "${MCPO_BENCH_NO_BUILD:-}" != 1 ]; then
  # --precompress writes brotli (quality 11) and gzip copies of the site's files, which the
  # server sends to browsers that accept them (server/src/http/dashboard.rs). cargo-leptos
  # adds `--cfg erase_components` to RUSTFLAGS itself (always-erase-components in Cargo.toml):
  # without RUSTFLAGS in its environment it builds with exactly the flags cargo gets below.
  env -u RUSTFLAGS LEPTOS_SITE_ROOT="$SITE" cargo leptos build --release --precompress
  cargo build --release -p testkit --bin mcpo-test-registry --bin mcpo-test-image
fi

LH_DIR="${MCPO_LIGHTHOUSE_DIR:-$HOME/.cache/mcp-orchestrator/lighthouse}"
LH_VERSION=13.5.0
if ! [ -x "$LH_DIR/node_modules/.bin/lighthouse" ] \
   || [ "$("$LH_DIR/node_modules/.bin/lighthouse" --version 2>/dev/null)" != "$LH_VERSION" ]; then
  mkdir -p "$LH_DIR"
  (cd "$LH_DIR" && npm install --no-save --no-audit --no-fund --loglevel=error "lighthouse@$LH_VERSION")
fi

IMAGE="mcpo-test/mcp-test-server:bench"
if [ -n "${DOCKER_HOST:-}" ] && docker version >/dev/null 2>&1; then
  "$TARGET/release/mcpo-test-image" "$IMAGE" >/dev/null
fi
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); chromium: $(/usr/bin/chromium --version 2>/dev/null || echo '?'); node: $(node --version)"
exec python3 bench/lighthouse.py --bin "$TARGET/release/mcp-orchestrator" --site "$SITE" \
  --registry "$TARGET/release/mcpo-test-registry" --image "$IMAGE" \
  --lighthouse "$LH_DIR/node_modules/.bin/lighthouse" "$@"
