// Playwright drives Debian's Chromium (no browser download) against the real server binary
// built by cargo-leptos, on a fresh SQLite file.
import { defineConfig } from '@playwright/test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const port = Number(process.env.MCPO_E2E_PORT ?? 3765);
const root = resolve(__dirname, '..');
const bin = process.env.MCPO_BIN ?? join(root, 'target/debug/mcp-orchestrator');
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
  webServer: {
    command: `"${bin}" serve`,
    url: `http://127.0.0.1:${port}/health/ready`,
    timeout: 60_000,
    reuseExistingServer: false,
    stdout: 'ignore',
    stderr: 'pipe',
    env: {
      MCPO_LISTEN: `127.0.0.1:${port}`,
      DATABASE_URL: `sqlite://${dataDir}/e2e.db`,
      MCPO_SITE_ROOT: siteRoot,
      MCPO_LOG_FORMAT: 'json',
      MCPO_ADMIN_PASSWORD: 'e2e-admin-password-123',
      RUST_LOG: 'warn',
    },
  },
});
