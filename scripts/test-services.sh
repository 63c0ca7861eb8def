#!/usr/bin/env bash
# Starts the real services the tests need, on loopback, and prints `export` lines:
#   - PostgreSQL: a throw-away cluster (trust auth, 127.0.0.1 only) → MCPO_TEST_POSTGRES_URL
#   - Docker: the engine already running, or a private dockerd → DOCKER_HOST
# Usage: eval "$(scripts/test-services.sh start)"; scripts/test-services.sh stop
set -euo pipefail

ROOT="${MCPO_SERVICES_DIR:-/tmp/mcpo-test-services}"
PG_PORT="${MCPO_TEST_PG_PORT:-55432}"
PG_DIR="$ROOT/pg"
DOCKER_DIR="$ROOT/docker"
DOCKER_SOCK="$DOCKER_DIR/docker.sock"
# Who is starting: `stop` with the same MCPO_SERVICES_OWNER stops only what that start started
# (a developer's services and a CI run on the same machine leave each other alone).
OWNER="${MCPO_SERVICES_OWNER:-manual}"

log() { printf '[services] %s\n' "$*" >&2; }
as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_bin() { ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1; }

start_postgres() {
  local bin; bin="$(pg_bin)"
  if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
    mkdir -p "$PG_DIR"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$PG_DIR"
    as_postgres "$bin/initdb" -D "$PG_DIR/data" -U postgres -A trust --no-sync >/dev/null
  fi
  if ! as_postgres "$bin/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; then
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    as_postgres "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w -t 60 start \
      -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR -c fsync=off -c max_connections=300" >/dev/null
    echo "$OWNER" > "$ROOT/owned-postgres"   # `stop` stops only what this owner started
  fi
  echo "export MCPO_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$PG_PORT/postgres"
}

start_docker() {
  if [ -n "${DOCKER_HOST:-}" ] && docker -H "$DOCKER_HOST" info >/dev/null 2>&1; then
    echo "export DOCKER_HOST=$DOCKER_HOST"; return
  fi
  if docker -H unix:///var/run/docker.sock info >/dev/null 2>&1; then
    echo "export DOCKER_HOST=unix:///var/run/docker.sock"; return
  fi
  if ! docker -H "unix://$DOCKER_SOCK" info >/dev/null 2>&1; then
    log "starting a private dockerd ($DOCKER_SOCK)"
    mkdir -p "$DOCKER_DIR"
    nohup dockerd --host "unix://$DOCKER_SOCK" --data-root "$DOCKER_DIR/data" \
      --exec-root "$DOCKER_DIR/exec" --pidfile "$DOCKER_DIR/dockerd.pid" \
      --storage-driver=vfs >"$DOCKER_DIR/dockerd.log" 2>&1 &
    for _ in $(seq 1 120); do
      docker -H "unix://$DOCKER_SOCK" info >/dev/null 2>&1 && break
      sleep 0.5
    done
    docker -H "unix://$DOCKER_SOCK" info >/dev/null 2>&1 || { log "dockerd did not start:"; tail -n 20 "$DOCKER_DIR/dockerd.log" >&2; exit 1; }
    echo "$OWNER" > "$ROOT/owned-docker"
  fi
  echo "export DOCKER_HOST=unix://$DOCKER_SOCK"
}

stop_all() {
  local bin; bin="$(pg_bin)"
  # Services that were already running (a developer's, another run's) are left alone.
  if [ "$(cat "$ROOT/owned-postgres" 2>/dev/null)" = "$OWNER" ]; then
    as_postgres "$bin/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1 || true
    rm -f "$ROOT/owned-postgres"
  fi
  if [ "$(cat "$ROOT/owned-docker" 2>/dev/null)" = "$OWNER" ] && [ -f "$DOCKER_DIR/dockerd.pid" ]; then
    kill "$(cat "$DOCKER_DIR/dockerd.pid")" 2>/dev/null || true
    rm -f "$ROOT/owned-docker"
  fi
}

case "${1:-start}" in
  start) start_postgres; start_docker ;;
  stop) stop_all ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
