#!/usr/bin/env bash
# API fuzzing, long run (issue 8, item 2): schemathesis (PyPI) against a fresh orchestrator's
# /api/v1/openapi.json with an admin API key. Checks: not_a_server_error,
# response_schema_conformance, status_code_conformance, content_type_conformance. The bounded
# run is part of the test command; this is the long one.
#
#   bench/fuzz.sh                       # build, then 1000 examples per operation
#   MCPO_BENCH_NO_BUILD=1 bench/fuzz.sh --max-examples 20 --seed 1234
#
# Options (anything else goes to `schemathesis run` as is, e.g. --include-path-regex ...):
#   --max-examples N   test cases per operation (default $MCPO_FUZZ_MAX_EXAMPLES or 1000)
#   --seed N           the Hypothesis seed (schemathesis 4 calls it --seed; --hypothesis-seed
#                      is accepted too; default: random; always printed, so a run can be
#                      repeated with the same seed)
#   --workers N        concurrent schemathesis workers (default 1)
#   --keep             keep the data directory (server log, SQLite file, reports)
#   --bin PATH         fuzz this orchestrator binary instead of building the release one (the
#                      test command passes its debug build)
#
# The orchestrator runs on loopback with a fresh SQLite file, rate limits off, and sandboxed
# against what generated input could make it do: no Docker (MCPO_DEPLOY_DOCKER=false, no
# DOCKER_HOST), an empty PATH for the process runtime (no npx/uvx/docker to spawn), outbound
# HTTP(S) through a dead proxy, one registry attempt with a short timeout. Reports (JUnit, the
# NDJSON event log and a pytest file reproducing the failures) go to the data directory's
# report/. Exit status: schemathesis's (non-zero when a check failed).
# The schemathesis venv lives in ~/.cache/mcp-orchestrator/schemathesis-venv (made once;
# MCPO_SCHEMATHESIS_VERSION pins the version, default 4.32.5).
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-target}"
MAX_EXAMPLES="${MCPO_FUZZ_MAX_EXAMPLES:-1000}"
SEED=""
WORKERS=1
KEEP=0
BIN=""
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --max-examples) MAX_EXAMPLES="$2"; shift 2 ;;
    --seed|--hypothesis-seed) SEED="$2"; shift 2 ;;
    --workers) WORKERS="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --bin) BIN="$2"; shift 2 ;;
    *) EXTRA+=("$1"); shift ;;
  esac
done
[ -n "$SEED" ] || SEED=$(python3 -c 'import secrets; print(secrets.randbelow(2**31))')

VENV="$HOME/.cache/mcp-orchestrator/schemathesis-venv"
if [ ! -e "$VENV/.installed" ]; then
  echo "installing schemathesis into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==${MCPO_SCHEMATHESIS_VERSION:-4.32.5}"
  touch "$VENV/.installed"
fi
ST="$VENV/bin/schemathesis"

if [ -z "$BIN" ]; then
  [ "${MCPO_BENCH_NO_BUILD:-}" = 1 ] || cargo build --release -p server --bin mcp-orchestrator
  BIN="$TARGET/release/mcp-orchestrator"
fi
BIN="$(realpath "$BIN")"

DATA="$(mktemp -d /tmp/mcpo-fuzz-XXXXXX)"
mkdir -p "$DATA/empty-path" "$DATA/report"
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "$KEEP" = 1 ]; then echo "data kept in $DATA"; else rm -rf "$DATA"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

run_env=(env -i HOME="$HOME" PATH="$DATA/empty-path"
  MCPO_LISTEN="127.0.0.1:$PORT" DATABASE_URL="sqlite://$DATA/fuzz.db"
  MCPO_SECRETS_KEY_FILE="$DATA/secret.key" MCPO_DEPLOY_DATA_DIR="$DATA/deployments"
  MCPO_LOG_FORMAT=json RUST_LOG="${MCPO_FUZZ_RUST_LOG:-warn}" MCPO_ADMIN_PASSWORD=fuzz-admin-password
  MCPO_RATE_LIMIT_PER_IP_PER_SECOND=0 MCPO_RATE_LIMIT_PER_PRINCIPAL_PER_SECOND=0
  MCPO_RATE_LIMIT_LOGIN_PER_MINUTE=10000
  MCPO_DEPLOY_DOCKER=false MCPO_DEPLOY_PULL=false
  MCPO_REGISTRY_MAX_ATTEMPTS=1 MCPO_REGISTRY_REQUEST_TIMEOUT_MS=2000 MCPO_REGISTRY_SYNC_TIMEOUT_SECS=10
  HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 ALL_PROXY=http://127.0.0.1:9
  http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 NO_PROXY= no_proxy=)

"${run_env[@]}" "$BIN" serve >"$DATA/server.log" 2>&1 &
SERVER_PID=$!
for i in $(seq 1 300); do
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/health/ready" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "the orchestrator exited; log:"; cat "$DATA/server.log"; exit 1; }
  [ "$i" = 300 ] && { echo "the orchestrator did not become ready in 30 s"; exit 1; }
  sleep 0.1
done
KEY="$("${run_env[@]}" "$BIN" api-keys create --name fuzz --role admin)"
# Resources for the operations on one id to reach their logic (see bench/fuzz_seed.py).
cp testkit/fixtures/registry/official-seed-2025-05.json "$DATA/registry.json"
python3 bench/fuzz_seed.py --port "$PORT" --key "$KEY" --fixture "$DATA/registry.json" \
  --out "$DATA/schemathesis.toml"

echo "schemathesis $("$ST" --version | awk '{print $NF}') against http://127.0.0.1:$PORT/api/v1/openapi.json;" \
  "max examples $MAX_EXAMPLES per operation; workers $WORKERS"
echo "seed: $SEED   (repeat: bench/fuzz.sh --max-examples $MAX_EXAMPLES --seed $SEED)"
# Two passes: everything but DELETE /api/v1/api-keys/{id} first (the stateful phase follows the
# link from the key list to it and revokes the fuzzer's own key, after which every operation
# answers 401), then that operation alone. GET /api/v1/pipeline-runs/events is left out: it is
# a server-sent-event stream that never ends (takes no parameters), so every case would only
# wait for the request timeout.
st_run() {
  "$ST" --config-file "$DATA/schemathesis.toml" run "http://127.0.0.1:$PORT/api/v1/openapi.json" \
    --url "http://127.0.0.1:$PORT" \
    -H "Authorization: Bearer $KEY" \
    --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
    --max-examples "$MAX_EXAMPLES" --seed "$SEED" --workers "$WORKERS" \
    --request-timeout 10 --generation-database none --no-color \
    --report junit,ndjson,pytest --report-dir "$DATA/report/$1" \
    "${@:2}" "${EXTRA[@]+"${EXTRA[@]}"}"
}
set +e
echo "== pass 1: all operations except DELETE /api/v1/api-keys/{id} and GET /api/v1/pipeline-runs/events"
st_run main --exclude-path-regex '^/api/v1/(api-keys/|pipeline-runs/events$)'
STATUS=$?
echo "== pass 2: DELETE /api/v1/api-keys/{id}"
st_run api-keys-delete --include-path-regex '^/api/v1/api-keys/'
S2=$?
[ "$STATUS" != 0 ] || STATUS=$S2
set -e
echo "seed: $SEED; schemathesis exit status $STATUS; reports in $DATA/report$([ "$KEEP" = 1 ] || echo ' (removed: pass --keep)')"
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  echo "the orchestrator died during the run; last log lines:"; tail -20 "$DATA/server.log"; STATUS=1
fi
exit "$STATUS"
