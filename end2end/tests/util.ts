// Helpers the browser tests share.
import { execFileSync } from 'node:child_process';
import type { Page } from '@playwright/test';

/** Port of the orchestrator under test (playwright.config.ts starts it). */
export const port = Number(process.env.MCPO_E2E_PORT ?? 3765);
/** Port of the loopback test registry (playwright.config.ts starts it). */
export const registryPort = Number(process.env.MCPO_E2E_REGISTRY_PORT ?? 3767);

/** Changes made with the session cookie must say where they come from (CSRF rule). */
export const sameOrigin = { Origin: `http://127.0.0.1:${port}` };

/** Collects dialogs (an `alert()` from injected script would show up here) and page errors
 * (a panic in the WASM side shows up here). */
export function watch(page: Page): string[] {
  const problems: string[] = [];
  page.on('dialog', async (d) => {
    problems.push(`dialog (${d.type()}): ${d.message()}`);
    await d.dismiss();
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  return problems;
}

/** Waits until the WASM side has hydrated the page. */
export async function hydrated(page: Page) {
  await page.waitForSelector('html[data-hydrated]', { state: 'attached' });
}

/** Runs the docker CLI against the engine of the test run (DOCKER_HOST from the environment). */
export function docker(args: string[]): string {
  return execFileSync('docker', args, { env: process.env, encoding: 'utf8', timeout: 30_000 }).trim();
}
