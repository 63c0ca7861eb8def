# syntax=docker/dockerfile:1
# Multi-stage build: the toolchain stage builds the release binary, WASM and CSS with
# cargo-leptos; the runtime stage holds only the binary and the site, runs as a non-root user,
# and checks itself with `mcp-orchestrator healthcheck` (GET /health/live; no curl needed).

FROM rust:1.95-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add wasm32-unknown-unknown \
 && cargo install cargo-leptos --version 0.3.10 --locked \
 && cargo install wasm-bindgen-cli --version 0.2.130
WORKDIR /src
# npm tools first (Tailwind CLI, binaryen's wasm-opt) so source edits keep this layer cached.
COPY package.json package-lock.json ./
RUN PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --omit=optional || \
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund
COPY . .
RUN cargo leptos build --release --precompress

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin mcpo \
 && mkdir -p /app/data \
 && chown mcpo /app/data
COPY --from=build /src/target/release/mcp-orchestrator /usr/local/bin/mcp-orchestrator
COPY --from=build /src/target/site /app/site
WORKDIR /app
ENV MCPO_LISTEN=0.0.0.0:3000 \
    MCPO_SITE_ROOT=/app/site \
    DATABASE_URL=sqlite:///app/data/mcp-orchestrator.db \
    MCPO_LOG_FORMAT=json
USER 10001:10001
EXPOSE 3000
VOLUME ["/app/data"]
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["mcp-orchestrator", "healthcheck"]
ENTRYPOINT ["mcp-orchestrator"]
CMD ["serve"]
