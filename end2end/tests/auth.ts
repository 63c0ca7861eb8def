import { expect, type Page } from '@playwright/test';

/** Password of the initial admin; the config's webServer sets MCPO_ADMIN_PASSWORD to it. */
export const ADMIN_PASSWORD = 'e2e-admin-password-123';

/** Signs in through the login form (works before hydration: it is a plain HTML form). */
export async function signIn(page: Page, next = '/', username = 'admin', password = ADMIN_PASSWORD) {
  await page.goto(`/login?next=${encodeURIComponent(next)}`);
  await page.getByLabel('User name').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(new RegExp(`${next.replace(/[/?]/g, '\\$&')}$`));
}
