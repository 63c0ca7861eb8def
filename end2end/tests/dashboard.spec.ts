import { expect, test, type Page } from '@playwright/test';
import { signIn } from './auth';

/** Fails the test on any console error or page error (a broken hydration shows up here). */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('pageerror', (e) => errors.push(e.message));
  return errors;
}

/** Waits until the WASM bundle has hydrated the page. */
async function hydrated(page: Page) {
  await page.waitForSelector('html[data-hydrated]', { state: 'attached' });
}

test('overview is server-rendered with navigation and real data', async ({ page }) => {
  const errors = watchErrors(page);
  // Anonymous visitors land on the sign-in page, and come back after signing in.
  await page.goto('/');
  await expect(page).toHaveURL(/\/login\?next=%2F$|\/login\?next=\/$/);
  await signIn(page, '/');
  await expect(page.getByRole('heading', { level: 1, name: 'Overview' })).toBeVisible();
  const nav = page.getByRole('navigation', { name: 'Main' });
  for (const label of ['Overview', 'Registries', 'Catalog', 'Deployments', 'Pipeline runs', 'Health', 'Settings']) {
    await expect(nav.getByRole('link', { name: label, exact: true })).toBeVisible();
  }
  await expect(nav.getByRole('link', { name: 'Overview' })).toHaveAttribute('aria-current', 'page');
  await expect(page.locator('[data-fact="Database"]')).toHaveText('SQLite');
  await expect(page.locator('[data-fact="Migrations pending"]')).toHaveText('0');
  const version = await (await page.request.get('/api/v1/system')).json(); // the session cookie is shared
  await expect(page.locator('[data-fact="Version"]')).toHaveText(version.version);
  // Tailwind's stylesheet is served and applied.
  const bg = await page.locator('header').evaluate((el) => getComputedStyle(el).backgroundColor);
  expect(bg).not.toBe('rgba(0, 0, 0, 0)');
  await hydrated(page);
  expect(errors).toEqual([]);
});

test('hydration: the menu button works on a narrow screen and navigation stays client-side', async ({ page }) => {
  const errors = watchErrors(page);
  await page.setViewportSize({ width: 390, height: 800 });
  await signIn(page, '/');
  await hydrated(page);
  const menu = page.getByRole('button', { name: 'Menu' });
  const nav = page.getByRole('navigation', { name: 'Main' });
  await expect(nav).toBeHidden();
  await expect(menu).toHaveAttribute('aria-expanded', 'false');

  await menu.click();
  await expect(page.getByRole('button', { name: 'Close menu' })).toHaveAttribute('aria-expanded', 'true');
  await expect(nav).toBeVisible();

  // A client-side navigation: no new document is requested.
  let documentRequests = 0;
  page.on('request', (r) => r.resourceType() === 'document' && documentRequests++);
  await nav.getByRole('link', { name: 'Catalog' }).click();
  await expect(page).toHaveURL(/\/catalog$/);
  await expect(page.getByRole('heading', { level: 1, name: 'Catalog' })).toBeVisible();
  await expect(page.getByLabel('Search servers')).toBeVisible();
  await expect(nav).toBeHidden();
  expect(documentRequests).toBe(0);
  expect(errors).toEqual([]);
});

test('refresh calls the server again and shows fresh data', async ({ page }) => {
  const errors = watchErrors(page);
  await signIn(page, '/');
  await hydrated(page);
  const uptime = page.locator('[data-fact="Uptime"]');
  const before = await uptime.textContent();
  await page.waitForTimeout(1100);
  const call = page.waitForRequest((r) => r.url().includes('/ui/fn/') && r.method() === 'POST');
  await page.getByRole('button', { name: 'Refresh' }).click();
  await call;
  await expect(uptime).not.toHaveText(before ?? '');
  expect(errors).toEqual([]);
});

test('unknown paths get the 404 page; the skip link reaches main', async ({ page }) => {
  const res = await page.goto('/no/such/page');
  expect(res?.status()).toBe(404);
  await expect(page.getByRole('heading', { name: 'Page not found' })).toBeVisible();
  await page.goto('/login');
  await page.keyboard.press('Tab');
  const skip = page.getByRole('link', { name: 'Skip to content' });
  await expect(skip).toBeFocused();
});

test('forms submitted through the WASM wait for it: disabled until the page is hydrated', async ({ page }) => {
  await signIn(page, '/settings/account');
  // The page's scripts run, but the WASM never arrives: the state of a slow first load.
  await page.route('**/*.wasm', (route) => route.abort());
  await page.goto('/settings/account');
  await expect(page.getByRole('button', { name: 'Change password' })).toBeDisabled();
  await page.goto('/settings/api-keys');
  await expect(page.getByRole('button', { name: 'Create key' })).toBeDisabled();
  await page.unroute('**/*.wasm');
  await page.goto('/settings/api-keys');
  await hydrated(page);
  await expect(page.getByRole('button', { name: 'Create key' })).toBeEnabled();
});
