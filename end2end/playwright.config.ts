// Playwright drives Debian's Chromium (no browser download) against the real server binary
// built by cargo-leptos, on a fresh SQLite file, with a mock OpenID Connect provider and the
// test MCP registry beside it. Deployments run on the Docker engine named by DOCKER_HOST
// (scripts/test.sh exports it and builds the test-server image first).
import { defineConfig } from '@playwright/test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const port = Number(process.env.MCPO_E2E_PORT ?? 3765);
const oidcPort = Number(process.env.MCPO_E2E_OIDC_PORT ?? 3766);
// The test MCP registry (testkit's mcpo-test-registry): the shared fixture plus hostile entries.
const registryPort = Number(process.env.MCPO_E2E_REGISTRY_PORT ?? 3767);
const root = resolve(__dirname, '..');
const targetDir = resolve(root, process.env.CARGO_TARGET_DIR ?? 'target');
const bin = process.env.MCPO_BIN ?? join(targetDir, 'debug/mcp-orchestrator');
const registryBin = process.env.MCPO_TEST_REGISTRY_BIN ?? join(targetDir, 'debug/mcpo-test-registry');
// The FROM scratch image of mcp-test-server the registry offers as a deployable entry; built by
// `mcpo-test-image` (scripts/test.sh runs it before Playwright).
const TEST_SERVER_IMAGE = process.env.MCPO_E2E_TEST_SERVER_IMAGE ?? 'mcpo-test/mcp-test-server:e2e';
const siteRoot = process.env.MCPO_SITE_ROOT ?? join(root, 'target/site');
const dataDir = mkdtempSync(join(tmpdir(), 'mcpo-e2e-'));

export default defineConfig({
  testDir: './tests',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  reporter: [['list']],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
      ],
    },
  },
  webServer: [
    {
      // A real OpenID Connect provider (npm oauth2-mock-server) for the single sign-on test.
      command: 'node end2end/oidc-server.mjs',
      cwd: root,
      url: `http://127.0.0.1:${oidcPort}/.well-known/openid-configuration`,
      timeout: 30_000,
      reuseExistingServer: false,
      stdout: 'ignore',
      stderr: 'pipe',
      env: { MCPO_E2E_OIDC_PORT: String(oidcPort) },
    },
    {
      // Build it first: cargo build -p testkit --bin mcpo-test-registry (scripts/test.sh does).
      // `--deployable` adds io.mcpo.test/mcp-test-server, an oci entry of the local image.
      command: `"${registryBin}" --port ${registryPort} --hostile --deployable ${TEST_SERVER_IMAGE}`,
      cwd: root,
      url: `http://127.0.0.1:${registryPort}/v0.1/servers?limit=1`,
      timeout: 30_000,
      reuseExistingServer: false,
      stdout: 'ignore',
      stderr: 'pipe',
    },
    {
      command: `"${bin}" serve`,
      url: `http://127.0.0.1:${port}/health/ready`,
      timeout: 60_000,
      reuseExistingServer: false,
      // SIGTERM (not the default SIGKILL): the server stops and removes the containers of
      // deployments a failed test left running before it exits.
      gracefulShutdown: { signal: 'SIGTERM', timeout: 30_000 },
      stdout: 'ignore',
      stderr: 'pipe',
      env: {
        MCPO_LISTEN: `127.0.0.1:${port}`,
        DATABASE_URL: `sqlite://${dataDir}/e2e.db`,
        MCPO_SITE_ROOT: siteRoot,
        MCPO_LOG_FORMAT: 'json',
        MCPO_ADMIN_PASSWORD: 'e2e-admin-password-123',
        MCPO_SECRETS_KEY_FILE: `${dataDir}/secret.key`,
        RUST_LOG: 'warn',
        MCPO_AUTH_OIDC_ISSUER_URL: `http://127.0.0.1:${oidcPort}`,
        MCPO_AUTH_OIDC_CLIENT_ID: 'mcpo-e2e',
        MCPO_AUTH_OIDC_CLIENT_SECRET: 'e2e-secret',
        MCPO_AUTH_OIDC_REDIRECT_URL: `http://127.0.0.1:${port}/auth/oidc/callback`,
        MCPO_AUTH_OIDC_DISPLAY_NAME: 'Test IdP',
        MCPO_AUTH_OIDC_ROLE_CLAIM: 'mcpo_role',
        MCPO_AUTH_OIDC_ALLOWED_DOMAINS: 'example.com',
        // Tests sync the test registry back to back.
        MCPO_REGISTRY_MIN_SYNC_GAP_SECS: '0',
        // Deployments: the Docker engine of the test run (scripts/test.sh exports DOCKER_HOST;
        // its private engine listens on unix:///tmp/mcpo-test-services/docker/docker.sock),
        // and process deployments' home directories in the temporary data directory.
        ...(process.env.DOCKER_HOST ? { DOCKER_HOST: process.env.DOCKER_HOST } : {}),
        MCPO_DEPLOY_DATA_DIR: join(dataDir, 'deployments'),
      },
    },
  ],
});
