#!/usr/bin/env bash
# The whole suite, in the order that fails fastest: lint, Rust tests (unit + integration on
# SQLite, PostgreSQL and Docker), then the browser tests against the cargo-leptos build.
set -euo pipefail
cd "$(dirname "$0")/.."

export RUSTFLAGS="--cfg erase_components" LEPTOS_OUTPUT_NAME=mcp-orchestrator
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
step() { printf '\n\033[1;34m==> %s\033[0m\n' "$*"; }
started=$(date +%s)

step "starting PostgreSQL and Docker on loopback"
export MCPO_SERVICES_OWNER="test-run-$$"
eval "$(scripts/test-services.sh start)"
trap 'scripts/test-services.sh stop' EXIT

step "building server, WASM and CSS (cargo leptos build)"
cargo leptos build

step "lint: rustfmt and clippy"
make --no-print-directory lint

step "unit and integration tests"
cargo test -p server -p app -p domain -p migrations -p types -p testkit -p mcp-test-server

step "API fuzzing (schemathesis, bounded; bench/fuzz.sh alone runs the long one)"
# The debug binary `cargo test` just built; a fixed seed so a red run repeats exactly
# (MCPO_FUZZ_SEED picks another).
bench/fuzz.sh --bin "$TARGET_DIR/debug/mcp-orchestrator" \
  --max-examples "${MCPO_FUZZ_MAX_EXAMPLES_TEST:-25}" --seed "${MCPO_FUZZ_SEED:-20261121}"

step "browser tests (Playwright + Chromium)"
# The test registry Playwright starts and the image tool: `cargo test -p testkit` above built
# every testkit binary with the same features (a separate `cargo build -p testkit` would
# resolve features anew and rebuild).
test -x "$TARGET_DIR/debug/mcpo-test-registry"
test -x "$TARGET_DIR/debug/mcpo-test-image"
# The image the deployments test deploys (the registry's `--deployable` entry), on the engine
# named by DOCKER_HOST.
"$TARGET_DIR/debug/mcpo-test-image" mcpo-test/mcp-test-server:e2e
MCPO_BIN="$TARGET_DIR/debug/mcp-orchestrator" npx playwright test -c end2end/playwright.config.ts

printf '\nall tests passed in %ss\n' "$(( $(date +%s) - started ))"
