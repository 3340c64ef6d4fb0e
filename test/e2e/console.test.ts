/**
 * The console in a real browser: Debian's Chromium against the server started in-process on a
 * real port, serving the built console (web/build). Sign-in, the Room page, the menu per role, a
 * staff member kept out of admin routes, and adding a resident. Once on embedded PGlite, and once
 * on the run-wide PostgreSQL server when it is installed.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { RunningServer } from '../../server/main.ts';
import { launchChromium, type LaunchedChromium } from '../harness/chromium.ts';
import { createStaff, openPage, sessionCookie } from '../harness/e2e.fixtures.ts';
import { startE2eSite, type E2eSite, signIn } from '../harness/e2e.server.ts';
import { requireChromium, requireProvided } from '../harness/requirements.ts';
import { REPO_ROOT } from '../harness/server.process.ts';

const chromiumPath = requireChromium();
const pgBaseUrl = chromiumPath ? requireProvided(inject('pgBaseUrl'), 'PostgreSQL') : null;

const RESULTS_DIR = join(REPO_ROOT, '.test-results');

const ADMIN = { email: 'admin@console.test', password: 'admin password for e2e' };
const STAFF = {
  email: 'desk@console.test',
  name: 'Front Desk',
  role: 'staff',
  password: 'staff password for e2e',
};

const ADMIN_MENU = [
  'Room',
  'Packages',
  'Flags',
  'Audit',
  'Cases',
  'Analytics',
  'Residents',
  'Carrier codes',
  'Compliance',
  'Settings',
];
const STAFF_MENU = ['Room', 'Packages', 'Flags', 'Residents'];

async function menu(page: Page): Promise<string[]> {
  const links = page.getByRole('navigation', { name: 'Main' }).getByRole('link');
  await links.first().waitFor();
  return (await links.allTextContents()).map((t) => t.trim());
}

function consoleSuite(kind: 'pglite' | 'postgres', screenshot: string) {
  return () => {
    let site: E2eSite | undefined;
    let server: RunningServer;
    let browser: LaunchedChromium;
    const databaseLabel = kind === 'pglite' ? 'PGlite (embedded)' : 'PostgreSQL';

    beforeAll(async () => {
      site = await startE2eSite({ kind, name: 'console', admin: ADMIN, pgBaseUrl });
      server = site.server;

      // A staff member, made by the admin through the API.
      await createStaff(server.url, await sessionCookie(server.url, ADMIN), STAFF);

      browser = await launchChromium({
        baseURL: server.url,
        viewport: { width: 1280, height: 900 },
      });
    }, 300_000);

    afterAll(async () => {
      await browser?.close();
      await site?.close();
    });

    it('sends a visitor to the login page, refuses a wrong password, and opens the Room page', async () => {
      const { page, errors } = await openPage(browser);
      try {
        await page.goto('/');
        await page.waitForURL((u) => u.pathname === '/login');
        await page.getByRole('heading', { name: 'Parcelroom' }).waitFor();

        await signIn(page, ADMIN.email, 'not the right password');
        const alert = page.getByRole('alert');
        await alert.waitFor();
        expect(await alert.textContent()).toContain('Wrong email or password');
        expect(new URL(page.url()).pathname).toBe('/login');

        await signIn(page, ADMIN.email, ADMIN.password);
        await page.waitForURL((u) => u.pathname === '/');
        await page.getByRole('heading', { level: 1, name: 'Room' }).waitFor();

        const status = page.getByRole('region', { name: 'System status' });
        await expect.poll(() => status.textContent(), { timeout: 10_000 }).toContain(databaseLabel);
        expect(await status.textContent()).toMatch(/Status\s*ok/);

        const door = page.getByTestId('door-front');
        await door.waitFor();
        expect(await door.getByRole('heading').textContent()).toBe('Package room door');
        // The first state badge is the strike ("unlocked" would also contain "locked").
        const strike = door.locator('[data-state]').first();
        await expect.poll(() => strike.textContent(), { timeout: 10_000 }).toBe('locked');
        expect(await door.textContent()).toMatch(/Strike\s*locked/);

        mkdirSync(RESULTS_DIR, { recursive: true });
        await page.screenshot({ path: join(RESULTS_DIR, screenshot), fullPage: true });
        expect(errors, 'uncaught errors in the page').toEqual([]);
      } finally {
        await page.close();
      }
    });

    it('shows the admin the whole menu', async () => {
      const { page, errors } = await openPage(browser);
      try {
        await page.goto('/');
        await page.getByRole('heading', { level: 1, name: 'Room' }).waitFor();
        expect(await menu(page)).toEqual(ADMIN_MENU);
        const settings = await page.evaluate(async () => (await fetch('/api/settings')).status);
        expect(settings).toBe(200);
        expect(errors, 'uncaught errors in the page').toEqual([]);
      } finally {
        await page.close();
      }
    });

    it('lets the admin add a resident on the Residents page', async () => {
      const { page, errors } = await openPage(browser);
      const name = `Ada Lovelace ${kind}`;
      const unit = kind === 'pglite' ? '4B' : '12C';
      try {
        await page.goto('/');
        await page
          .getByRole('navigation', { name: 'Main' })
          .getByRole('link', { name: 'Residents' })
          .click();
        await page.waitForURL((u) => u.pathname === '/residents');
        await page.getByRole('heading', { level: 1, name: 'Residents' }).waitFor();

        await page.getByLabel('Name', { exact: true }).fill(name);
        await page.getByLabel('Unit', { exact: true }).fill(unit);
        await page.getByRole('button', { name: 'Add resident' }).click();

        const row = page.getByRole('row').filter({ hasText: name });
        await row.waitFor();
        const cells = (await row.getByRole('cell').allTextContents()).map((t) => t.trim());
        expect(cells.slice(0, 2)).toEqual([name, unit]);
        expect(await page.getByRole('status').textContent()).toContain(`Added ${name}`);

        // It was stored, not only drawn: a reload lists it from the server.
        await page.reload();
        await page.getByRole('row').filter({ hasText: name }).waitFor();
        expect(errors, 'uncaught errors in the page').toEqual([]);
      } finally {
        await page.close();
      }
    });

    it('shows a staff member less, and the server refuses them /api/settings', async () => {
      await browser.context.clearCookies();
      const { page, errors } = await openPage(browser);
      try {
        // A deep link without a session goes to the login page and back after signing in.
        await page.goto('/residents');
        await page.waitForURL((u) => u.pathname === '/login');
        expect(new URL(page.url()).searchParams.get('next')).toBe('/residents');
        await signIn(page, STAFF.email, STAFF.password);
        await page.waitForURL((u) => u.pathname === '/residents');
        await page.getByRole('heading', { level: 1, name: 'Residents' }).waitFor();
        // Staff may read residents but not add them.
        expect(await page.getByRole('button', { name: 'Add resident' }).count()).toBe(0);

        const items = await menu(page);
        expect(items).toEqual(STAFF_MENU);
        for (const hidden of [
          'Settings',
          'Carrier codes',
          'Audit',
          'Cases',
          'Analytics',
          'Compliance',
        ]) {
          expect(items).not.toContain(hidden);
        }
        const status = await page.evaluate(async () => {
          const res = await fetch('/api/settings');
          return { status: res.status, body: (await res.json()) as unknown };
        });
        expect(status).toEqual({
          status: 403,
          body: { error: { code: 'forbidden', message: expect.any(String) as string } },
        });

        // Typing the address of an admin page shows a notice, not the site configuration.
        await page.goto('/settings');
        await page.getByRole('heading', { level: 1, name: 'Settings' }).waitFor();
        await page.getByText('Settings are available to admins only.').waitFor();
        expect(await page.getByRole('heading', { name: 'Site configuration' }).count()).toBe(0);
        expect(errors, 'uncaught errors in the page').toEqual([]);
      } finally {
        await page.close();
      }
    });
  };
}

describe.skipIf(!chromiumPath)(
  'console in Chromium, embedded PGlite',
  consoleSuite('pglite', 'room.png'),
);

describe.skipIf(!chromiumPath || !pgBaseUrl)(
  'console in Chromium, PostgreSQL',
  consoleSuite('postgres', 'room-postgres.png'),
);
