#!/usr/bin/env bash
# Installs what is missing for `make run` (setup.sh run) or `make test` (setup.sh test).
# Skips everything already present; downloads nothing but packages from the registries.
set -euo pipefail
cd "$(dirname "$0")/.."

MODE="${1:-run}"
CARGO_LEPTOS_VERSION=0.3.10
WASM_BINDGEN_VERSION=0.2.130   # must equal the `wasm-bindgen` pin in Cargo.toml

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# --- Debian packages -------------------------------------------------------------------
apt_missing=()
need_cmd() { command -v "$1" >/dev/null 2>&1 || apt_missing+=("$2"); }
need_cmd node nodejs
need_cmd npm npm
if [ "$MODE" = test ] || [ "$MODE" = bench ]; then
  need_cmd chromium chromium
  need_cmd dockerd docker.io
  [ -x /bin/busybox ] || apt_missing+=(busybox-static)
  need_cmd promtool prometheus
  # venvs for schemathesis (bench/fuzz.sh, part of the tests) and the bench tools
  python3 -c 'import ensurepip' >/dev/null 2>&1 || apt_missing+=(python3-venv)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_missing+=(postgresql)
fi
if [ "$MODE" = bench ]; then
  need_cmd wrk wrk
fi
if [ "${#apt_missing[@]}" -gt 0 ]; then
  log "installing Debian packages: ${apt_missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
fi

# --- uv: the process runtime runs PyPI servers with `uvx` (server/tests/real_servers.rs) ---
if [ "$MODE" = test ] && ! command -v uvx >/dev/null 2>&1; then
  log "installing uv from PyPI"
  python3 -m pip install --quiet --user --root-user-action=ignore uv
  # Onto PATH, which the tests hand to the orchestrator and it to its children.
  user_bin="$(python3 -m site --user-base)/bin"
  as_root ln -sf "$user_bin/uv" "$user_bin/uvx" /usr/local/bin/
fi

# --- Rust toolchain pieces -------------------------------------------------------------
if ! rustup target list --installed | grep -q '^wasm32-unknown-unknown$'; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi
if ! cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
  log "installing cargo-leptos $CARGO_LEPTOS_VERSION (about 15 minutes on 2 cores, once)"
  cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked
fi
if ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION"
  # Not --locked: a crate pinned in its lock file is gone from the registry.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
fi

# --- npm: Tailwind CLI, wasm-opt (binaryen), Playwright -----------------------------------
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm packages"
  # `npm install` follows package-lock.json; `npm ci` trips on an npm quirk with Tailwind's
  # optional per-platform packages missing from the lock file.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --loglevel=error
fi
log "ready ($MODE)"
