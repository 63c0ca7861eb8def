#!/bin/sh
# Builds mcp-test-server as a static binary (glibc with static CRT, no musl toolchain needed)
# and writes a docker build context (the stripped binary and the Dockerfile) to $1.
#   mcp-test-server/build-static.sh target/mcp-test-server-image
#   docker build -t mcp-test-server:local target/mcp-test-server-image
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/target/mcp-test-server-image}
target=x86_64-unknown-linux-gnu
# Own target dir: other RUSTFLAGS would otherwise rebuild the shared one back and forth.
target_dir=${MCP_TEST_SERVER_TARGET_DIR:-$root/target/static}
cd "$root"
RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build -p mcp-test-server --release --target "$target" --target-dir "$target_dir"
mkdir -p "$out"
cp "$target_dir/$target/release/mcp-test-server" "$out/mcp-test-server"
strip "$out/mcp-test-server" 2>/dev/null || true
cp "$root/mcp-test-server/Dockerfile" "$out/Dockerfile"
echo "$out/mcp-test-server"
