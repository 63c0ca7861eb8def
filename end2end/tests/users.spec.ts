import { expect, test } from '@playwright/test';
import { signIn } from './auth';

test('the Users page saves through the service layer, which refuses to demote the last admin', async ({ page }) => {
  await signIn(page, '/settings/users');
  await page.waitForSelector('html[data-hydrated]', { state: 'attached' });
  const row = page.locator('tr[data-user="admin"]');
  await expect(row.getByLabel('Role of admin')).toHaveValue('admin');
  await row.getByLabel('Role of admin').selectOption('viewer');
  await row.getByRole('button', { name: 'Save admin' }).click();
  await expect(page.getByRole('alert')).toContainText('you cannot demote or disable yourself');
  // Nothing changed: still an admin, still allowed on admin pages.
  const me = await (await page.request.get('/api/v1/me')).json();
  expect(me.role).toBe('admin');
  await page.reload();
  await expect(page.locator('tr[data-user="admin"]').getByLabel('Role of admin')).toHaveValue('admin');
});

test('the audit log page lists sign-ins', async ({ page }) => {
  await signIn(page, '/settings/audit');
  await expect(page.getByRole('table', { name: 'Audit events' })).toContainText('session.login');
});
