import { expect, test } from '@playwright/test';
import { signIn } from './auth';

test('create an API key in the dashboard, use it against /api/v1, revoke it, and see 401', async ({ page, playwright }) => {
  await signIn(page, '/settings/api-keys');
  await page.waitForSelector('html[data-hydrated]', { state: 'attached' });
  await expect(page.getByTestId('whoami')).toHaveText('admin');

  await page.getByLabel('Name').fill('e2e automation');
  await page.getByLabel('Role').selectOption('operator');
  await page.getByRole('button', { name: 'Create key' }).click();
  const key = (await page.getByTestId('new-key').textContent())?.trim() ?? '';
  expect(key).toMatch(/^mcpo_[A-Za-z0-9]{12}_[A-Za-z0-9]{32}$/);
  const row = page.locator(`tr[data-key-prefix="${key.slice(0, 17)}"]`);
  await expect(row).toContainText('e2e automation');

  // A separate client with no cookies: only the key authenticates it.
  const api = await playwright.request.newContext({ baseURL: page.url().replace(/\/settings.*$/, '') });
  const me = await api.get('/api/v1/me', { headers: { authorization: `Bearer ${key}` } });
  expect(me.status()).toBe(200);
  expect(await me.json()).toMatchObject({ kind: 'api_key', name: 'e2e automation', role: 'operator' });

  await row.getByRole('button', { name: 'Revoke e2e automation' }).click();
  await expect(row).toContainText('revoked');
  const after = await api.get('/api/v1/me', { headers: { authorization: `Bearer ${key}` } });
  expect(after.status()).toBe(401);
  expect(after.headers()['content-type']).toBe('application/problem+json');
  await api.dispose();
});

test('sign out ends the session', async ({ page }) => {
  await signIn(page, '/');
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login$/);
  await page.goto('/settings');
  await expect(page).toHaveURL(/\/login\?next=/);
});

test('a wrong password shows an error and keeps the visitor out', async ({ page }) => {
  await page.goto('/login');
  await page.getByLabel('User name').fill('admin');
  await page.getByLabel('Password').fill('definitely wrong');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toHaveText('Unknown user name or wrong password.');
});
