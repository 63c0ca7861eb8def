// Registries and Catalog pages against the test MCP registry (testkit's mcpo-test-registry,
// started by playwright.config.ts with the shared 472-entry fixture, three hostile entries and
// the deployable test server).
import { expect, test, type Page } from '@playwright/test';
import { signIn } from './auth';
import { hydrated, registryPort, watch } from './util';

const REGISTRY = 'E2E test registry';
const FIXTURE_ENTRIES = 472 + 3 + 1; // the fixture, the hostile entries and the deployable one

test.describe.serial('registries and catalog', () => {
  test('add the test registry, sync it with live progress, and find an entry in the catalog', async ({ page }) => {
    test.setTimeout(120_000);
    const problems = watch(page);
    await signIn(page, '/registries');
    await hydrated(page);
    await expect(page.getByRole('heading', { level: 1, name: 'Registries' })).toBeVisible();

    // A validation error from the service layer is shown next to the form.
    const form = page.getByRole('region', { name: 'Add a registry' });
    await form.getByLabel('Name').fill(REGISTRY);
    await form.getByLabel('Kind').selectOption('mcp-registry');
    await form.getByLabel('Base URL').fill('ftp://127.0.0.1/registry');
    await form.getByRole('button', { name: 'Add registry' }).click();
    await expect(form.getByRole('alert')).toContainText('url: scheme ftp is not http(s)');

    await form.getByLabel('Base URL').fill(`http://127.0.0.1:${registryPort}`);
    await form.getByLabel('API version').selectOption('v0.1');
    await form.getByRole('button', { name: 'Add registry' }).click();
    await expect(form.getByRole('status')).toContainText(`Added ${REGISTRY}.`);

    const card = page.locator(`li[data-registry="${REGISTRY}"]`);
    await expect(card.locator('[data-fact="Entries"]')).toHaveText('0');
    await expect(card.locator('[data-fact="Credentials"]')).toHaveText('no');
    await expect(card.locator('[data-fact="URL"]')).toHaveText(`http://127.0.0.1:${registryPort}/`);

    // Record every state the live status shows, however briefly.
    await card.locator('[data-sync-status]').evaluate((el) => {
      const seen: string[] = [];
      (window as unknown as { syncStates: string[] }).syncStates = seen;
      const record = () => {
        const s = el.querySelector('[data-sync-state]');
        if (s) seen.push(`${s.getAttribute('data-sync-state')}|${s.textContent}`);
      };
      new MutationObserver(record).observe(el, { subtree: true, childList: true, characterData: true });
    });
    await card.getByRole('button', { name: `Sync now: ${REGISTRY}` }).click();
    const done = card.locator('[data-sync-status] [data-sync-state="succeeded"]');
    await expect(done).toBeVisible({ timeout: 90_000 });
    const seen = await page.evaluate(() => (window as unknown as { syncStates: string[] }).syncStates);
    expect(seen.some((s) => s.startsWith('running|') && /fetched/.test(s))).toBe(true);

    const count = async (label: string) => Number(await done.locator(`[data-count="${label}"]`).textContent());
    expect(await count('fetched')).toBe(FIXTURE_ENTRIES);
    const added = await count('added');
    const skipped = await count('skipped');
    expect(added).toBeGreaterThan(0);
    expect(skipped).toBeGreaterThan(0);
    // The list was reloaded: the new entries are counted.
    await expect(card.locator('[data-fact="Entries"]')).not.toHaveText('0');

    // Every skipped entry is listed with its reason.
    await card.getByText(`Skipped entries (${skipped})`).click();
    const reasons = card.locator('[data-skipped-entry]');
    await expect(reasons).toHaveCount(skipped);
    for (const text of await reasons.allTextContents()) {
      expect(text).toMatch(/: \S/);
    }

    // Catalog: search as you type; the search is kept in the URL.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Catalog' }).click();
    await expect(page.getByRole('heading', { level: 1, name: 'Catalog' })).toBeVisible();
    await expect(page.locator('[data-total]')).not.toHaveAttribute('data-total', '0');
    await page.getByLabel('Search servers').pressSequentially('magic', { delay: 40 });
    await expect(page).toHaveURL(/\/catalog\?q=magic$/);
    const result = page.locator('li[data-entry="io.github.21st-dev/magic-mcp"]');
    await expect(result).toBeVisible();
    await expect(result.locator('[data-verdict]')).toBeVisible();

    await result.getByRole('link', { name: 'io.github.21st-dev/magic-mcp' }).click();
    await expect(page).toHaveURL(/\/catalog\/entry\?name=io\.github\.21st-dev\/magic-mcp&registry=/);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('io.github.21st-dev/magic-mcp');
    const pkg = page.locator('li[data-package="npm"]');
    await expect(pkg).toContainText('@21st-dev/magic');
    await expect(pkg.locator('[data-fact="Transport"]')).toHaveText('stdio');
    await expect(pkg.locator('tr[data-env="API_KEY"]')).toBeVisible();
    const verdict = page.getByRole('region', { name: /^Verdict/ });
    await expect(verdict.locator('[data-verdict]')).toBeVisible();
    await expect(page.locator('[data-version-item="0.0.1-seed"]')).toContainText('latest');
    const repo = page.getByRole('link', { name: 'https://github.com/21st-dev/magic-mcp' });
    await expect(repo).toHaveAttribute('rel', 'noopener noreferrer external');
    if ((await verdict.locator('[data-verdict]').getAttribute('data-verdict')) !== 'unsupported') {
      await expect(page.getByRole('link', { name: 'Deploy', exact: true })).toHaveAttribute(
        'href',
        '/deployments?from=io.github.21st-dev/magic-mcp&version=0.0.1-seed',
      );
    }

    // Back (and a reload) keep the search.
    await page.goBack();
    await expect(page).toHaveURL(/\/catalog\?q=magic$/);
    await expect(page.getByLabel('Search servers')).toHaveValue('magic');
    await expect(result).toBeVisible();
    await page.reload();
    await expect(page.getByLabel('Search servers')).toHaveValue('magic');
    await expect(result).toBeVisible();
    expect(problems).toEqual([]);
  });

  test('hostile entry text is shown as text and never runs', async ({ page }) => {
    const problems = watch(page);
    await signIn(page, '/catalog');
    await hydrated(page);
    await page.getByLabel('Search servers').pressSequentially('hostile', { delay: 40 });
    await expect(page).toHaveURL(/\/catalog\?q=hostile$/);
    await expect(page.locator('li[data-entry^="io.example.hostile/"]')).toHaveCount(3);

    // 20,000 characters are clamped to a couple of lines by CSS.
    const long = page.locator('li[data-entry="io.example.hostile/long"] p.line-clamp-2');
    expect((await long.boundingBox())?.height ?? 0).toBeLessThan(60);

    await page.getByRole('link', { name: 'io.example.hostile/html' }).click();
    await expect(page).toHaveURL(/\/catalog\/entry\?name=io\.example\.hostile\/html/);
    await expect(page.getByRole('heading', { level: 1 })).toHaveText('<script>alert(3)</script><b>Hostile</b> HTML');
    await expect(page.locator('[data-description]').getByText('<script>alert(1)</script>', { exact: false })).toBeVisible();
    await expect(page.locator('[data-description]')).toHaveText('<script>alert(1)</script><img src=x onerror=alert(2)>');
    expect(await page.locator('main script, main img, main h1 b').count()).toBe(0);

    // Reloaded (server-rendered), it is just as inert.
    await page.reload();
    await hydrated(page);
    await expect(page.locator('[data-description]')).toHaveText('<script>alert(1)</script><img src=x onerror=alert(2)>');
    expect(await page.locator('main script, main img, main h1 b').count()).toBe(0);

    // Control characters are shown as visible symbols.
    await page.goto('/catalog/entry?name=io.example.hostile/control');
    await expect(page.getByRole('heading', { level: 1 })).toContainText('Control\u2400');
    await page.waitForTimeout(300); // a late alert() would be recorded
    expect(problems).toEqual([]);
  });

  test('sync again from the keyboard, edit and delete a registry', async ({ page }) => {
    test.setTimeout(90_000);
    const problems = watch(page);
    await signIn(page, '/registries');
    await hydrated(page);

    // A second sync (incremental now) started with the keyboard; the focus stays on the button
    // even though the reloaded list renders the card anew.
    const card = page.locator(`li[data-registry="${REGISTRY}"]`);
    const sync = card.getByRole('button', { name: `Sync now: ${REGISTRY}` });
    await sync.focus();
    await page.keyboard.press('Enter');
    await expect(card.locator('[data-sync-state="succeeded"]')).toContainText('incremental sync, manual');
    await expect(card.getByRole('button', { name: `Sync now: ${REGISTRY}` })).toBeFocused();

    const form = page.getByRole('region', { name: 'Add a registry' });
    await form.getByLabel('Name').fill('E2E second');
    await form.getByLabel('Base URL').fill(`http://127.0.0.1:${registryPort}`);
    await form.getByLabel('Auth value').fill('Bearer e2e-secret-value');
    await form.getByRole('button', { name: 'Add registry' }).click();
    await expect(form.getByRole('status')).toContainText('Added E2E second.');
    const second = page.locator('li[data-registry="E2E second"]');
    await expect(second.locator('[data-fact="Credentials"]')).toHaveText('yes, in header Authorization');
    await expect(page.getByText('e2e-secret-value')).toHaveCount(0);

    // Edit: a bad interval is refused next to the form, a good one is saved.
    await second.getByRole('button', { name: 'Edit E2E second' }).click();
    await second.getByLabel('Sync interval (seconds)').fill('5');
    await second.getByRole('button', { name: 'Save changes' }).click();
    await expect(second.getByRole('alert')).toContainText('sync interval secs');
    await second.getByLabel('Sync interval (seconds)').fill('3600');
    await second.getByLabel('Enabled (scheduled syncs run)').uncheck();
    await second.getByLabel('Remove the stored credential').check();
    await second.getByRole('button', { name: 'Save changes' }).click();
    await expect(second.locator('[data-fact="Schedule"]')).toHaveText('every 1h 0m (paused: disabled)');
    await expect(second.locator('[data-fact="Enabled"]')).toHaveText('no');
    await expect(second.locator('[data-fact="Credentials"]')).toHaveText('no');
    await expect(second.getByRole('button', { name: 'Edit E2E second' })).toBeFocused();

    // Delete asks first.
    await second.getByRole('button', { name: 'Delete E2E second' }).click();
    const confirm = second.getByRole('group', { name: 'Confirm deletion' });
    await expect(confirm).toContainText('Delete E2E second with its 0 catalog entries');
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await expect(confirm).toHaveCount(0);
    await second.getByRole('button', { name: 'Delete E2E second' }).click();
    await second.getByRole('button', { name: 'Yes, delete' }).click();
    await expect(second).toHaveCount(0);
    await expect(card).toBeVisible();
    expect(problems).toEqual([]);
  });
});
