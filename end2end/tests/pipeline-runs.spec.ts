// Pipeline runs, end to end in the browser: "Deploy" on a catalog entry starts a run, whose page
// follows it step by step through the run's event stream (no reload), to a ready deployment;
// a run held in its handshake (the test server's --startup-delay-ms) is cancelled and rolled
// back, leaving no deployment and no container. The test registry (started by
// playwright.config.ts with `--deployable mcpo-test/mcp-test-server:e2e`) offers the test
// server as an oci entry; it runs on the Docker engine named by DOCKER_HOST.
import { expect, test, type Page } from '@playwright/test';
import { signIn } from './auth';
import { docker, hydrated, port, registryPort, sameOrigin, watch } from './util';

// Its own registry (removed again at the end), like deployments.spec.ts.
const REGISTRY = 'E2E pipeline registry';
const SERVER = 'io.mcpo.test/mcp-test-server';
const STEPS = ['resolve', 'prepare', 'deploy', 'initialize', 'discover', 'verify', 'ready'];

/** Catalog → the test server's entry → Deploy → the form, prefilled; submitted with `args`
 * (one argument per line). Returns on the run's page, with the run id. */
async function deployFromCatalog(page: Page, args: string): Promise<string> {
  await page.goto('/catalog');
  await hydrated(page);
  await page.getByLabel('Search servers').pressSequentially('mcp test server', { delay: 40 });
  await expect(page).toHaveURL(/\/catalog\?q=mcp%20test%20server$/);
  // Other specs' registries may hold the same entry: any will do.
  const entry = page.locator(`li[data-entry="${SERVER}"]`).first();
  await expect(entry.locator('[data-verdict]')).not.toHaveAttribute('data-verdict', 'unsupported');
  await entry.getByRole('link', { name: SERVER }).click();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('MCP test server');
  await page.getByRole('link', { name: 'Deploy', exact: true }).click();
  await expect(page).toHaveURL(/\/deployments\?from=io\.mcpo\.test\/mcp-test-server&version=1\.0\.0$/);
  await hydrated(page);

  const form = page.getByRole('region', { name: `Deploy ${SERVER}` });
  await form.getByLabel('Arguments (one per line)').fill(args);
  await form.getByLabel('Runtime').selectOption('docker');
  await form.getByRole('button', { name: 'Deploy', exact: true }).click();

  // Deploying starts a pipeline run: its page.
  await expect(page).toHaveURL(/\/pipeline-runs\/view\?id=[0-9a-f-]{36}$/);
  const id = new URL(page.url()).searchParams.get('id') ?? '';
  await expect(page.locator(`article[data-run-id="${id}"]`)).toBeVisible();
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(`${SERVER}@1.0.0`);
  return id;
}

test.describe.serial('pipeline runs', () => {
  test.beforeAll(async ({ browser }) => {
    // The test registry, added and synced (through the API: registries.spec.ts tests the page).
    const page = await browser.newPage();
    await signIn(page, '/');
    const res = await page.request.post('/api/v1/registries', {
      headers: sameOrigin,
      data: { name: REGISTRY, kind: 'mcp-registry', url: `http://127.0.0.1:${registryPort}` },
    });
    expect(res.status()).toBe(201);
    const registry = await res.json();
    const sync = await page.request.post(`/api/v1/registries/${registry.id}/sync?wait=true`, {
      headers: sameOrigin,
      timeout: 90_000,
    });
    expect(sync.status()).toBe(200);
    expect((await sync.json()).state).toBe('succeeded');
    await page.close();
  });

  // Whatever happens, leave no run going, no deployment (container) and no extra registry.
  test.afterAll(async ({ browser }) => {
    const page = await browser.newPage();
    await signIn(page, '/');
    for (const state of ['queued', 'running']) {
      const runs = await (await page.request.get(`/api/v1/pipeline-runs?state=${state}`)).json();
      for (const r of runs.items) {
        await page.request.post(`/api/v1/pipeline-runs/${r.id}/cancel`, { headers: sameOrigin });
      }
    }
    await expect
      .poll(async () => {
        const going = await Promise.all(
          ['queued', 'running', 'cancelling'].map(async (s) =>
            (await (await page.request.get(`/api/v1/pipeline-runs?state=${s}`)).json()).items.length,
          ),
        );
        return going.reduce((a, b) => a + b, 0);
      }, { timeout: 60_000 })
      .toBe(0);
    const deployments = await (await page.request.get('/api/v1/deployments')).json();
    for (const d of deployments) {
      await page.request.delete(`/api/v1/deployments/${d.id}`, { headers: sameOrigin });
    }
    const registries = await (await page.request.get('/api/v1/registries')).json();
    for (const r of registries.filter((r: { name: string }) => r.name === REGISTRY)) {
      const res = await page.request.delete(`/api/v1/registries/${r.id}`, { headers: sameOrigin });
      expect(res.status()).toBe(204);
    }
    await page.close();
  });

  test('deploy from the catalog: the run goes green step by step, live, to a running deployment', async ({ page }) => {
    test.setTimeout(240_000);
    const problems = watch(page);
    await signIn(page, '/');

    // A short handshake delay makes the `initialize` step long enough to be seen running.
    const id = await deployFromCatalog(page, '--startup-delay-ms\n2500');
    await hydrated(page);
    // Marks this document: still there at the end means the page never reloaded.
    await page.evaluate(() => ((window as unknown as { __sameDocument: boolean }).__sameDocument = true));

    const state = page.locator('[data-run-status] [data-run-state]');
    await expect(state).toHaveAttribute('data-run-state', /^(queued|running)$/);
    // Live: a step seen running, while the run is running, with the steps before it done.
    const initialize = page.locator('[data-step="initialize"]');
    await expect(initialize).toHaveAttribute('data-status', 'running', { timeout: 120_000 });
    await expect(initialize.locator('[data-status-text]')).toHaveText('Running');
    await expect(state).toHaveAttribute('data-run-state', 'running');
    for (const s of ['resolve', 'prepare', 'deploy']) {
      await expect(page.locator(`[data-step="${s}"]`)).toHaveAttribute('data-status', 'succeeded');
    }
    await expect(page.locator('[data-step="ready"]')).toHaveAttribute('data-status', 'pending');
    await expect(page.getByRole('group', { name: 'Actions' }).getByRole('button', { name: 'Cancel run' })).toBeVisible();

    // Then every step green, and the run succeeded, without a reload.
    await expect(page.locator('[data-step][data-status="succeeded"]')).toHaveCount(STEPS.length, { timeout: 120_000 });
    await expect(state).toHaveAttribute('data-run-state', 'succeeded');
    await expect(state).toHaveText('Succeeded');
    expect(await page.evaluate(() => (window as unknown as { __sameDocument?: boolean }).__sameDocument)).toBe(true);
    for (const s of STEPS) {
      const row = page.locator(`[data-step="${s}"]`);
      await expect(row.locator('[data-status-text]')).toHaveText('Succeeded');
      await expect(row.locator('[data-attempts]')).toHaveText(/^\d+ attempts?$/);
      await expect(row.locator('[data-step-duration]')).not.toHaveText('—');
    }
    // Ended: no cancel; retry is for failed runs only; re-run is offered.
    const actions = page.getByRole('group', { name: 'Actions' });
    await expect(actions.getByRole('button', { name: 'Cancel run' })).toBeHidden();
    await expect(actions.getByRole('button', { name: 'Retry' })).toBeHidden();
    await expect(actions.getByRole('button', { name: 'Re-run' })).toBeVisible();

    // The bars are drawn to scale: in step order, within the run, and the handshake (2.5 s of
    // it) is the longest.
    const bars: { left: number; width: number }[] = [];
    for (const s of STEPS) {
      const bar = page.locator(`[data-step="${s}"] [data-bar-left]`);
      bars.push({
        left: Number(await bar.getAttribute('data-bar-left')),
        width: Number(await bar.getAttribute('data-bar-width')),
      });
    }
    for (let i = 0; i < bars.length; i++) {
      expect(bars[i].left + bars[i].width).toBeLessThanOrEqual(100.001);
      if (i > 0) expect(bars[i].left).toBeGreaterThanOrEqual(bars[i - 1].left);
    }
    expect(bars[0].left).toBe(0);
    const widest = Math.max(...bars.map((b) => b.width));
    expect(bars[STEPS.indexOf('initialize')].width).toBe(widest);

    // A step's log, expanded.
    const deployStep = page.locator('[data-step="deploy"]');
    await deployStep.locator('summary').click();
    await expect(deployStep.locator('[data-log-line]').first()).toBeVisible();

    // The API agrees.
    const run = await (await page.request.get(`/api/v1/pipeline-runs/${id}`)).json();
    expect(run.state).toBe('succeeded');
    expect(run.deployment_id).toBeTruthy();

    // The runs list shows it; its filters live in the URL.
    await page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('link', { name: 'Pipeline runs' }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'Pipeline runs' })).toBeVisible();
    await hydrated(page);
    const row = page.getByRole('table', { name: 'Pipeline runs' }).locator(`tr[data-run="${id}"]`);
    await expect(row.locator('[data-run-state]')).toHaveAttribute('data-run-state', 'succeeded');
    await expect(row).toContainText(`${SERVER}@1.0.0`);
    await expect(row).toContainText('admin');
    await page.getByLabel('Server', { exact: true }).fill(SERVER);
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await expect(page).toHaveURL(/\/pipeline-runs\?server=io\.mcpo\.test(%2F|\/)mcp-test-server$/);
    await expect(row).toBeVisible();
    await page.getByLabel('State', { exact: true }).selectOption('failed');
    await expect(page).toHaveURL(/\/pipeline-runs\?state=failed&server=io\.mcpo\.test(%2F|\/)mcp-test-server$/);
    await expect(page.locator('[data-empty]')).toHaveText('No runs match.');
    await page.getByLabel('State', { exact: true }).selectOption('succeeded');
    await expect(row).toBeVisible();
    await row.getByRole('link').click();
    await expect(page).toHaveURL(new RegExp(`/pipeline-runs/view\\?id=${id}$`));

    // Open the deployment it produced: running, with its tools.
    await page.getByRole('link', { name: 'Open deployment' }).click();
    await expect(page).toHaveURL(new RegExp(`/deployments/view\\?id=${run.deployment_id}$`));
    await expect(page.locator('[data-deployment-state] [data-state]')).toHaveAttribute('data-state', 'running');
    await expect(page.locator('li[data-tool="echo"]')).toBeVisible();
    await expect(page.locator('[data-fact="Tools"]')).not.toHaveText('0');

    // Clean up: the deployment, deleted.
    const del = await page.request.delete(`/api/v1/deployments/${run.deployment_id}`, { headers: sameOrigin });
    expect(del.status()).toBe(204);
    expect(problems).toEqual([]);
  });

  test('cancel a run held in its handshake: rolled back, nothing left', async ({ page, context }) => {
    test.setTimeout(240_000);
    const problems = watch(page);
    await signIn(page, '/');

    // The test server waits a minute before it serves MCP: the run hangs in `initialize`.
    const id = await deployFromCatalog(page, '--startup-delay-ms\n60000');
    await hydrated(page);
    const initialize = page.locator('[data-step="initialize"]');
    await expect(initialize).toHaveAttribute('data-status', 'running', { timeout: 120_000 });
    const state = page.locator('[data-run-status] [data-run-state]');
    await expect(state).toHaveAttribute('data-run-state', 'running');

    // By now the run has created a deployment (and its container).
    const before = await (await page.request.get(`/api/v1/pipeline-runs/${id}`)).json();
    const deploymentId: string = before.deployment_id;
    expect(deploymentId).toBeTruthy();
    await expect(page.getByRole('link', { name: 'Open deployment' })).toBeVisible();
    expect(docker(['ps', '-a', '-q', '--filter', `label=io.mcpo.deployment=${deploymentId}`])).not.toBe('');

    // The runs list, open beside it, follows the run live.
    const list = await context.newPage();
    const listProblems = watch(list);
    await list.goto('/pipeline-runs');
    await hydrated(list);
    const row = list.locator(`tr[data-run="${id}"]`);
    await expect(row.locator('[data-run-state]')).toHaveAttribute('data-run-state', 'running');

    // Cancel.
    await page.getByRole('group', { name: 'Actions' }).getByRole('button', { name: 'Cancel run' }).click();
    await expect(state).toHaveAttribute('data-run-state', 'cancelled', { timeout: 90_000 });
    await expect(page.locator('[data-state-reason]')).toContainText('cancelled by admin');
    await expect(initialize).toHaveAttribute('data-status', 'cancelled');
    for (const s of ['discover', 'verify', 'ready']) {
      await expect(page.locator(`[data-step="${s}"]`)).toHaveAttribute('data-status', 'skipped');
    }
    // The step's log says what was rolled back.
    const rolledBack = page.locator('[data-step]').filter({
      has: page.locator('[data-log-line]', { hasText: 'rolled back' }),
    });
    await expect(rolledBack).toHaveCount(1);
    await rolledBack.locator('summary').click();
    await expect(rolledBack.locator('[data-log-line]', { hasText: 'rolled back' })).toBeVisible();
    // No deployment to open any more; retry and re-run are offered.
    await expect(page.getByRole('link', { name: 'Open deployment' })).toHaveCount(0);
    const actions = page.getByRole('group', { name: 'Actions' });
    await expect(actions.getByRole('button', { name: 'Cancel run' })).toBeHidden();
    await expect(actions.getByRole('button', { name: 'Retry' })).toBeVisible();
    await expect(actions.getByRole('button', { name: 'Re-run' })).toBeVisible();

    // The list followed, without a reload.
    await expect(row.locator('[data-run-state]')).toHaveAttribute('data-run-state', 'cancelled');
    await list.close();

    // Nothing is left: the run holds no deployment, the API lists none of it, no container.
    const after = await (await page.request.get(`/api/v1/pipeline-runs/${id}`)).json();
    expect(after.state).toBe('cancelled');
    expect(after.deployment_id).toBeNull();
    const deployments = await (await page.request.get('/api/v1/deployments')).json();
    expect(deployments.filter((d: { id: string }) => d.id === deploymentId)).toEqual([]);
    const gone = await page.request.get(`/api/v1/deployments/${deploymentId}`);
    expect(gone.status()).toBe(404);
    expect(docker(['ps', '-a', '-q', '--filter', `label=io.mcpo.deployment=${deploymentId}`])).toBe('');

    // Retry: the same page follows the run again (from `deploy`: the rollback removed the
    // deployment), to the handshake, where it is cancelled once more.
    await actions.getByRole('button', { name: 'Retry' }).click();
    await expect(state).toHaveAttribute('data-run-state', /^(queued|running)$/);
    await expect(initialize).toHaveAttribute('data-status', 'running', { timeout: 120_000 });
    await expect(page.locator('[data-step="resolve"]')).toHaveAttribute('data-status', 'succeeded');
    await expect(page.locator('[data-fact="Retries"]')).toHaveText('1');
    await actions.getByRole('button', { name: 'Cancel run' }).click();
    await expect(state).toHaveAttribute('data-run-state', 'cancelled', { timeout: 90_000 });
    expect((await (await page.request.get(`/api/v1/pipeline-runs/${id}`)).json()).deployment_id).toBeNull();
    expect(problems).toEqual([]);
    expect(listProblems).toEqual([]);
  });
});
