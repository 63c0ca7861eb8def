// Deployments, end to end in the browser: the test registry (started by playwright.config.ts
// with `--deployable mcpo-test/mcp-test-server:e2e`) offers our rmcp test server as an oci
// entry; it is deployed on the Docker engine named by DOCKER_HOST (scripts/test.sh builds the
// image with `mcpo-test-image` first), called through the form generated from a tool's input
// schema, and deleted, leaving no container behind.
import { expect, test, type Page } from '@playwright/test';
import { signIn } from './auth';
import { docker, hydrated, port, registryPort, sameOrigin, watch } from './util';

const IMAGE = process.env.MCPO_E2E_TEST_SERVER_IMAGE ?? 'mcpo-test/mcp-test-server:e2e';
// Not registries.spec.ts's "E2E test registry": both specs run against one orchestrator, and
// this one removes its registry again (so that spec finds each catalog entry once).
const REGISTRY = 'E2E deploy registry';
const SERVER = 'io.mcpo.test/mcp-test-server';

test.describe.serial('deployments', () => {
  // Whatever happens in the test, leave no deployment (container) and no extra registry for
  // the specs that follow.
  test.afterAll(async ({ browser }) => {
    const page = await browser.newPage();
    await signIn(page, '/');
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

  test('deploy the test server from the catalog, call a tool, read the log, delete it', async ({ page }) => {
    test.setTimeout(240_000);
    const problems = watch(page);

    // The test registry, added and synced.
    await signIn(page, '/registries');
    await hydrated(page);
    const add = page.getByRole('region', { name: 'Add a registry' });
    await add.getByLabel('Name').fill(REGISTRY);
    await add.getByLabel('Base URL').fill(`http://127.0.0.1:${registryPort}`);
    await add.getByRole('button', { name: 'Add registry' }).click();
    await expect(add.getByRole('status')).toContainText(`Added ${REGISTRY}.`);
    const card = page.locator(`li[data-registry="${REGISTRY}"]`);
    await card.getByRole('button', { name: `Sync now: ${REGISTRY}` }).click();
    await expect(card.locator('[data-sync-status] [data-sync-state="succeeded"]')).toBeVisible({ timeout: 90_000 });

    // Catalog → entry → Deploy.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Catalog' }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'Catalog' })).toBeVisible();
    await page.getByLabel('Search servers').pressSequentially('mcp test server', { delay: 40 });
    await expect(page).toHaveURL(/\/catalog\?q=mcp%20test%20server$/);
    // registries.spec.ts's registry may hold the same entry: either will do.
    const entry = page.locator(`li[data-entry="${SERVER}"]`).first();
    // Deployable (it says "needs input": the oci package names no separate version, but its
    // image reference carries a tag).
    await expect(entry.locator('[data-verdict]')).toBeVisible();
    await expect(entry.locator('[data-verdict]')).not.toHaveAttribute('data-verdict', 'unsupported');
    await entry.getByRole('link', { name: SERVER }).click();
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('MCP test server');
    await page.getByRole('link', { name: 'Deploy', exact: true }).click();
    await expect(page).toHaveURL(/\/deployments\?from=io\.mcpo\.test\/mcp-test-server&version=1\.0\.0$/);
    await hydrated(page);

    // The form, prefilled from the entry.
    const form = page.getByRole('region', { name: `Deploy ${SERVER}` });
    await expect(form.locator('[data-package-identifier]')).toHaveText(IMAGE);
    const greeting = form.getByRole('group', { name: 'Variable MCP_TEST_GREETING' });
    const value = greeting.getByLabel('Value');
    await expect(value).toHaveValue('hello');
    // A plain value that looks like a credential is flagged before anything is sent.
    await value.fill('ghp_0123456789abcdefghijklmnopqrstuvwxyzAB');
    await expect(greeting.locator('[data-env-warning]')).toContainText('looks like a GitHub token');
    await greeting.getByLabel('Secret').check();
    await expect(value).toHaveAttribute('type', 'password');
    await expect(greeting.locator('[data-env-warning]')).toHaveCount(0);
    await greeting.getByLabel('Secret').uncheck();
    await value.fill('hello from e2e');
    await expect(greeting.locator('[data-env-warning]')).toHaveCount(0);
    // Placeholders in the arguments are marked (and refused before sending).
    const args = form.getByLabel('Arguments (one per line)');
    await args.fill('--root\n<path>');
    await expect(form.getByRole('list', { name: 'Arguments as passed' }).locator('mark')).toHaveText('<path>');
    await form.getByRole('button', { name: 'Deploy', exact: true }).click();
    await expect(form.getByRole('alert')).toContainText('replace the placeholder <path>');
    await args.fill('');
    await form.getByLabel('Runtime').selectOption('docker');
    await form.getByRole('button', { name: 'Deploy', exact: true }).click();

    // Deploying starts a pipeline run: its page follows the steps to a ready deployment
    // (pipeline-runs.spec.ts tests that page), which it then links to.
    await expect(page).toHaveURL(/\/pipeline-runs\/view\?id=/);
    await expect(page.locator('[data-run-status] [data-run-state]')).toHaveAttribute('data-run-state', 'succeeded', { timeout: 120_000 });
    await page.getByRole('link', { name: 'Open deployment' }).click();

    // The deployment's page: running.
    await expect(page).toHaveURL(/\/deployments\/view\?id=/);
    const id = new URL(page.url()).searchParams.get('id') ?? '';
    expect(id).not.toBe('');
    const name = (await page.getByRole('heading', { level: 1 }).textContent()) ?? '';
    expect(name).toMatch(/^mcp-test-server(-\d+)?$/);
    const state = page.locator('[data-deployment-state] [data-state]');
    await expect(state).toHaveAttribute('data-state', 'running', { timeout: 120_000 });
    await expect(page.locator('[data-fact="Uptime"]')).not.toHaveText('—');
    await expect(page.locator('[data-fact="Launch"]')).toHaveText(IMAGE);
    await expect(page.locator('tr[data-env="MCP_TEST_GREETING"]')).toContainText('hello from e2e');

    // Its container runs, labelled as ours.
    const container = docker(['ps', '-a', '-q', '--filter', 'label=io.mcpo.managed=true', '--filter', `label=io.mcpo.deployment=${id}`]);
    expect(container).not.toBe('');
    const instance = docker(['inspect', '--format', '{{index .Config.Labels "io.mcpo.instance"}}', container.split('\n')[0]]);
    expect(instance).not.toBe('');

    // Capabilities: the tools, with their schemas.
    const echo = page.locator('li[data-tool="echo"]');
    await expect(echo).toBeVisible();
    await expect(echo).toContainText('Returns the given text.');
    await echo.getByText('Input schema').click();
    await expect(echo.locator('[data-input-schema]')).toContainText('"text"');

    // Try a tool: the form is generated from echo's input schema.
    const tryTool = page.getByRole('region', { name: 'Try a tool' });
    await tryTool.getByLabel('Tool', { exact: true }).selectOption('echo');
    const call = tryTool.getByRole('form', { name: 'Call echo' });
    const text = 'Hello <b>from</b> the browser';
    await call.getByLabel('text').fill(text);
    await expect(call.locator('[data-arguments]')).toContainText(`"text": "${text}"`);
    await call.getByRole('button', { name: 'Call echo' }).click();
    const result = tryTool.locator('[data-tool-result]');
    await expect(result.locator('[data-content="text"]')).toHaveText(text);
    await expect(result).toHaveAttribute('data-is-error', 'false');
    await expect(result.locator('[data-duration]')).toContainText('Took');
    expect(await result.locator('b').count()).toBe(0); // text, never HTML

    // A tool error is shown as one.
    await tryTool.getByLabel('Tool', { exact: true }).selectOption('fail');
    const fail = tryTool.getByRole('form', { name: 'Call fail' });
    await fail.getByLabel('message').fill('deliberate failure');
    await fail.getByRole('button', { name: 'Call fail' }).click();
    await expect(result).toHaveAttribute('data-is-error', 'true');
    await expect(result).toContainText('The tool reported an error');
    await expect(result.locator('[data-content="text"]')).toHaveText('deliberate failure');

    // The live log.
    const log = page.getByRole('log', { name: 'Log' });
    await expect(log).toBeVisible();
    await expect(log.locator('[data-log-line], [data-no-logs]').first()).toBeVisible();

    // The list shows it running.
    await page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('link', { name: 'Deployments' }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'Deployments' })).toBeVisible();
    const row = page.getByRole('table', { name: 'Deployments' }).locator(`tr[data-deployment="${name}"]`);
    await expect(row.locator('[data-state]')).toHaveAttribute('data-state', 'running');
    await expect(row).toContainText(`${SERVER}@1.0.0`);
    await expect(row.locator('[data-tools]')).not.toHaveText('0');
    await row.getByRole('link', { name }).click();
    await expect(page).toHaveURL(new RegExp(`/deployments/view\\?id=${id}$`));
    await hydrated(page);

    // Delete, confirmed: back on the list, without it.
    const actions = page.getByRole('group', { name: 'Actions' });
    await actions.getByRole('button', { name: 'Delete' }).click();
    const confirm = page.getByRole('group', { name: 'Confirm deletion' });
    await expect(confirm).toContainText(`Delete ${name}?`);
    await confirm.getByRole('button', { name: 'Yes, delete' }).click();
    await expect(page).toHaveURL(/\/deployments$/);
    await expect(page.getByRole('heading', { level: 1, name: 'Deployments' })).toBeVisible();
    await expect(page.locator('[data-empty]')).toBeVisible();
    await expect(page.locator(`tr[data-deployment="${name}"]`)).toHaveCount(0);

    // Nothing is left: not in the API (same session), not on the engine.
    const listed = await page.request.get('/api/v1/deployments');
    expect(listed.status()).toBe(200);
    expect(await listed.json()).toEqual([]);
    expect(docker(['ps', '-a', '-q', '--filter', 'label=io.mcpo.managed=true', '--filter', `label=io.mcpo.instance=${instance}`])).toBe('');
    expect(problems).toEqual([]);
  });
});
