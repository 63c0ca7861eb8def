// Health, end to end in the browser: a deployment of the test server (checked every 0.5 s) shows
// healthy on the Health page, with its latency chart; its container is killed with the docker
// CLI and, without a reload, the page follows it to degraded or unhealthy and back to healthy
// once the orchestrator has restarted it by itself; the incidents list records the restart;
// the system panel is there for the admin. The deployment's own page then shows the restart,
// and "Check now" checks it at once. The test registry (started by playwright.config.ts with
// `--deployable mcpo-test/mcp-test-server:e2e`) offers the test server; it runs on the Docker
// engine named by DOCKER_HOST.
import { expect, test, type Page } from '@playwright/test';
import { signIn } from './auth';
import { docker, hydrated, registryPort, sameOrigin, watch } from './util';

// Its own registry and deployment name (both removed again at the end).
const REGISTRY = 'E2E health registry';
const SERVER = 'io.mcpo.test/mcp-test-server';
const NAME = 'e2e-health';

/** Removes this spec's deployment and registry, whatever state they are in. */
async function cleanUp(page: Page) {
  const deployments = await (await page.request.get('/api/v1/deployments')).json();
  for (const d of deployments.filter((d: { name: string }) => d.name === NAME)) {
    const res = await page.request.delete(`/api/v1/deployments/${d.id}`, { headers: sameOrigin });
    expect(res.status()).toBe(204);
  }
  const registries = await (await page.request.get('/api/v1/registries')).json();
  for (const r of registries.filter((r: { name: string }) => r.name === REGISTRY)) {
    const res = await page.request.delete(`/api/v1/registries/${r.id}`, { headers: sameOrigin });
    expect(res.status()).toBe(204);
  }
}

test.describe.serial('health', () => {
  let registryId = '';

  test.beforeAll(async ({ browser }) => {
    // The test registry, added and synced (through the API: registries.spec.ts tests the page).
    const page = await browser.newPage();
    await signIn(page, '/');
    const res = await page.request.post('/api/v1/registries', {
      headers: sameOrigin,
      data: { name: REGISTRY, kind: 'mcp-registry', url: `http://127.0.0.1:${registryPort}` },
    });
    expect(res.status()).toBe(201);
    registryId = (await res.json()).id;
    const sync = await page.request.post(`/api/v1/registries/${registryId}/sync?wait=true`, {
      headers: sameOrigin,
      timeout: 30_000,
    });
    expect(sync.status()).toBe(200);
    expect((await sync.json()).state).toBe('succeeded');
    await page.close();
  });

  // Whatever happens, leave no deployment (container) and no extra registry.
  test.afterAll(async ({ browser }) => {
    const page = await browser.newPage();
    await signIn(page, '/');
    await cleanUp(page);
    await page.close();
  });

  test('a killed deployment goes unhealthy and heals, live on the Health page', async ({ page }) => {
    test.setTimeout(180_000);
    const problems = watch(page);
    await signIn(page, '/');

    // Deploy the test server through the API, checked every half second.
    const res = await page.request.post('/api/v1/pipeline-runs', {
      headers: sameOrigin,
      data: {
        server: SERVER,
        version: '1.0.0',
        registry_id: registryId,
        runtime: 'docker',
        name: NAME,
        health: { interval_ms: 500, unhealthy_after: 3 },
      },
    });
    expect(res.status()).toBe(202);
    const runId: string = (await res.json()).id;
    await expect
      .poll(async () => (await (await page.request.get(`/api/v1/pipeline-runs/${runId}`)).json()).state, {
        timeout: 30_000,
      })
      .toBe('succeeded');
    const run = await (await page.request.get(`/api/v1/pipeline-runs/${runId}`)).json();
    const id: string = run.deployment_id;
    expect(id).toBeTruthy();

    // The Health page: the deployment healthy, its breaker closed; the admin's system panel.
    await page.goto('/fleet-health');
    await expect(page.getByRole('heading', { level: 1, name: 'Health' })).toBeVisible();
    await hydrated(page);
    const row = page.locator(`tr[data-deployment="${NAME}"]`);
    await expect(row).toHaveAttribute('data-health', 'healthy', { timeout: 30_000 });
    await expect(row).toHaveAttribute('data-breaker', 'closed');
    await expect(row.locator('[data-restarts]')).toHaveText('0');
    await expect(row.locator('[data-latency]')).toHaveText(/ms$/);
    await expect(page.locator('[data-testid="fleet-summary"] [data-fact="Healthy"]')).not.toHaveText('0');
    const system = page.getByTestId('system-health');
    await expect(system).toBeVisible();
    await expect(system.locator('[data-fact="Database"] [data-status]')).toHaveAttribute('data-status', 'pass');
    await expect(system.locator('[data-fact="Docker engine"] [data-status]')).toHaveAttribute('data-status', 'pass');
    await expect(system.locator('[data-fact="Threads"]')).toHaveText(/^[1-9]\d*$/);
    await expect(system.locator('[data-fact="Memory (RSS)"]')).toHaveText(/MiB$/);

    // Its latency chart, read with the keyboard.
    await row.getByRole('link', { name: `Latency chart of ${NAME}` }).click();
    await expect(page).toHaveURL(new RegExp(`/fleet-health\\?id=${id}&hours=1#latency$`));
    await expect(page.getByRole('heading', { level: 2, name: `Latency and uptime of ${NAME}` })).toBeVisible();
    const chart = page.getByTestId('latency-chart');
    await expect(chart).toBeVisible();
    await expect(chart).toHaveAttribute('data-samples', /^[1-9]\d*$/);
    await expect(chart.locator('title')).toHaveText(`Ping latency of ${NAME} over the last hour`);
    await expect(chart.locator('desc')).toContainText('checks failed');
    await chart.focus();
    await page.keyboard.press('End');
    await expect(page.getByTestId('chart-readout')).toContainText(/UTC: \d+ checks?, /);

    // The page refreshes itself (every 3 s), without a reload: this document is marked.
    await page.evaluate(() => ((window as unknown as { __sameDocument: boolean }).__sameDocument = true));
    const updated = page.locator('[data-updated]');
    await expect(updated).toHaveText(/^Updated \d\d:\d\d:\d\d UTC$/, { timeout: 10_000 });
    const firstUpdate = (await updated.textContent()) ?? '';
    await expect(updated).not.toHaveText(firstUpdate, { timeout: 10_000 });

    // Kill its container: not healthy for a few seconds (pressing "Refresh" to catch it, as
    // it can be shorter than the page's own refresh), then restarted by the orchestrator and
    // healthy again (the page's own refresh shows it).
    const container = docker(['ps', '-q', '--filter', `label=io.mcpo.deployment=${id}`]);
    expect(container).not.toBe('');
    docker(['kill', container]);
    const refresh = page.getByRole('button', { name: 'Refresh' });
    await expect(async () => {
      await refresh.click();
      await expect(row).toHaveAttribute('data-health', /^(degraded|unhealthy)$/, { timeout: 400 });
    }).toPass({ timeout: 30_000, intervals: [100] });
    await expect(row.locator('[data-restarts]')).toHaveText('1', { timeout: 30_000 });
    await expect(row).toHaveAttribute('data-health', 'healthy', { timeout: 30_000 });
    await expect(page.locator('[data-testid="fleet-summary"] [data-fact="Restarts (24 h)"]')).not.toHaveText('0');

    // The incidents, newest first: it went unhealthy, was restarted, and is healthy again.
    const incidents = page.getByTestId('incidents');
    const mine = incidents.locator(`tr[data-incident-deployment="${NAME}"]`);
    await expect(mine.and(page.locator('[data-incident="restart"][data-to="restarted"]'))).toHaveCount(1);
    const unhealthy = mine.and(page.locator('[data-incident="health"][data-to="unhealthy"]'));
    await expect(unhealthy).toHaveCount(1);
    await expect(unhealthy.locator('[data-reason]')).not.toHaveText('—');
    await expect(mine.and(page.locator('[data-incident="restart"][data-to="restarted"]'))).toContainText('Restart');
    // Healthy twice: after the first checks, and after the restart.
    expect(await mine.and(page.locator('[data-incident="health"][data-to="healthy"]')).count()).toBeGreaterThanOrEqual(2);

    // The chart shows the failed checks; the uptime is below 100 %.
    await expect(chart).toHaveAttribute('data-failures', /^[1-9]\d*$/);
    await expect(page.getByTestId('chart-uptime')).toHaveText(/^\d{1,2}\.\d\d%$/);
    expect(await page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true);

    // The deployment's own page: its Health section shows the restart.
    await row.getByRole('link', { name: NAME, exact: true }).click();
    await expect(page).toHaveURL(new RegExp(`/deployments/view\\?id=${id}$`));
    const panel = page.getByTestId('deployment-health');
    await expect(panel).toHaveAttribute('data-health', 'healthy');
    await expect(panel).toHaveAttribute('data-breaker', 'closed');
    await expect(panel.locator('[data-fact="Restarts"]')).toHaveText('1');
    await expect(panel.locator('[data-fact="Last restart"]')).toHaveText(/UTC$/);
    await expect(panel.locator('[data-fact="Reachable"]')).toHaveText(/^Yes/);
    await expect(panel.locator('[data-fact="Check settings"]')).toHaveText(
      'every 500 ms, timeout 5 s, unhealthy after 3 failed checks in a row',
    );
    await expect(panel.locator('li[data-health-event="restart"][data-to="restarted"]')).toHaveCount(1);

    // "Check now": checked at once, the answer shown.
    await hydrated(page);
    await panel.getByRole('button', { name: 'Check now' }).click();
    await expect(panel.locator('[data-check-result]')).toHaveText(/^Checked at \d\d:\d\d:\d\d UTC: healthy, ping .+\.$/);
    expect(problems).toEqual([]);

    // Clean up: the deployment, deleted; its container gone.
    const del = await page.request.delete(`/api/v1/deployments/${id}`, { headers: sameOrigin });
    expect(del.status()).toBe(204);
    expect(docker(['ps', '-a', '-q', '--filter', `label=io.mcpo.deployment=${id}`])).toBe('');
  });
});
