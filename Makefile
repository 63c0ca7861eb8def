# Two commands on a fresh machine:
#   make run    install what is missing, build (release), serve on 127.0.0.1:3000 (SQLite in ./data)
#   make test   install what is missing, start PostgreSQL + Docker, run every test
# Both skip what is already installed.

SHELL := /bin/bash
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
# cargo-leptos builds debug code with this cfg; plain cargo commands use the same flags (and the
# same LEPTOS_OUTPUT_NAME) so that they share one build instead of recompiling everything.
DEBUG_ENV := RUSTFLAGS="--cfg erase_components" LEPTOS_OUTPUT_NAME=mcp-orchestrator
NATIVE_CRATES := -p server -p app -p domain -p migrations -p types -p testkit

.PHONY: run test build build-release lint fmt bench clean-data

run: ## Build the release binary and site, then serve on 127.0.0.1:3000
	@scripts/setup.sh run
	cargo leptos build --release --precompress
	@mkdir -p data
	MCPO_SITE_ROOT=target/site exec $(TARGET_DIR)/release/mcp-orchestrator serve

test: ## Every test: lint, unit, integration (SQLite + PostgreSQL + Docker), browser
	@scripts/setup.sh test
	@scripts/test.sh

build: ## Debug build of the server binary, WASM and CSS
	$(DEBUG_ENV) cargo leptos build

build-release:
	cargo leptos build --release --precompress

lint: ## cargo fmt --check; clippy on the workspace and on the WASM crate; warnings are errors
	cargo fmt --all -- --check
	$(DEBUG_ENV) cargo clippy --all-targets -- -D warnings
	$(DEBUG_ENV) cargo clippy -p frontend --target wasm32-unknown-unknown --target-dir $(TARGET_DIR)/front -- -D warnings

fmt:
	cargo fmt --all

bench: ## Start-to-ready, idle RSS, wrk throughput and latency; registry sync and catalog search (figures go in bench/RESULTS.md)
	@scripts/setup.sh bench
	cargo leptos build --release --precompress
	cargo build --release -p testkit --bin mcpo-test-registry
	bench/run.py
	bench/registry.py

clean-data:
	rm -rf data
