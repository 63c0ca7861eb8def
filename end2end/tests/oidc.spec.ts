import { expect, test } from '@playwright/test';

// The config starts a mock OpenID Connect provider (end2end/oidc-server.mjs) that signs
// everybody in as ada@example.com with the role claim `mcpo_role: admin`, and points the
// orchestrator at it ("Test IdP", allowed domain example.com).

test('sign in through the OIDC provider, create an API key, use it, revoke it, and see 401', async ({ page, playwright }) => {
  await page.goto(`/login?next=${encodeURIComponent('/settings/api-keys')}`);
  // After hydration, as a person would: the link must leave the client-side router.
  await page.waitForSelector('html[data-hydrated]', { state: 'attached' });
  await page.getByRole('link', { name: 'Sign in with Test IdP' }).click();
  // start → provider's /authorize (no login form) → /auth/oidc/callback → next.
  await expect(page).toHaveURL(/^http:\/\/127\.0\.0\.1:\d+\/settings\/api-keys$/);
  await page.waitForSelector('html[data-hydrated]', { state: 'attached' });
  await expect(page.getByTestId('whoami')).toHaveText('ada');

  await page.getByLabel('Name').fill('sso automation');
  await page.getByLabel('Role').selectOption('operator');
  await page.getByRole('button', { name: 'Create key' }).click();
  const key = (await page.getByTestId('new-key').textContent())?.trim() ?? '';
  expect(key).toMatch(/^mcpo_[A-Za-z0-9]{12}_[A-Za-z0-9]{32}$/);
  const row = page.locator(`tr[data-key-prefix="${key.slice(0, 17)}"]`);
  await expect(row).toContainText('sso automation');

  // A separate client with no cookies: only the key authenticates it.
  const api = await playwright.request.newContext({ baseURL: new URL(page.url()).origin });
  const me = await api.get('/api/v1/me', { headers: { authorization: `Bearer ${key}` } });
  expect(me.status()).toBe(200);
  expect(await me.json()).toMatchObject({ kind: 'api_key', name: 'sso automation', role: 'operator' });

  await row.getByRole('button', { name: 'Revoke sso automation' }).click();
  await expect(row).toContainText('revoked');
  const after = await api.get('/api/v1/me', { headers: { authorization: `Bearer ${key}` } });
  expect(after.status()).toBe(401);
  expect(after.headers()['content-type']).toBe('application/problem+json');
  await api.dispose();
});

test('the session belongs to the provisioned user with the role from the claim', async ({ page }) => {
  await page.goto('/login?next=%2F');
  await page.waitForSelector('html[data-hydrated]', { state: 'attached' });
  await page.getByRole('link', { name: 'Sign in with Test IdP' }).click();
  await expect(page).toHaveURL(/^http:\/\/127\.0\.0\.1:\d+\/$/);
  const me = await page.request.get('/api/v1/me');
  expect(me.status()).toBe(200);
  expect(await me.json()).toMatchObject({ kind: 'user', name: 'ada', role: 'admin' });
});

test('a forged callback is refused with a problem, and nobody is signed in', async ({ page }) => {
  const res = await page.goto('/auth/oidc/callback?code=forged&state=forged');
  expect(res?.status()).toBe(400);
  expect(res?.headers()['content-type']).toBe('application/problem+json');
  expect(await res?.json()).toMatchObject({ status: 400, type: '/problems/oidc-state' });
  const me = await page.request.get('/api/v1/me');
  expect(me.status()).toBe(401);
});
