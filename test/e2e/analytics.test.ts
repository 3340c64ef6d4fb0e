/**
 * The Analytics page in a real browser: Debian's Chromium against the server started in-process
 * (demo room without a camera). Three parcels are checked in through the API and one is picked
 * up; a manager opens Analytics and sees them counted, charts drawn by Chart.js, a CSV link under
 * each chart that downloads the same numbers, and the capacity advice. An empty range stays
 * readable ("No parcels in this range"), a range over 400 days is refused with the server's
 * message, and staff get neither the menu item nor the figures.
 *
 * Screenshots: /tmp/analytics-page.png, /tmp/analytics-empty.png.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LaunchedChromium } from '../harness/chromium.ts';
import {
  createdId,
  createStaff,
  expectJson,
  launchWithPage,
  noCameraSite,
  sessionCookie,
  signInAs,
} from '../harness/e2e.fixtures.ts';
import { api, startE2eSite, type E2eSite } from '../harness/e2e.server.ts';
import { requireChromium } from '../harness/requirements.ts';

const chromiumPath = requireChromium();

const ADMIN = { email: 'admin@analytics.test', password: 'admin password for analytics e2e' };
const MANAGER = { email: 'manager@analytics.test', password: 'manager password analytics' };
const STAFF = { email: 'desk@analytics.test', password: 'staff password for analytics' };

describe.skipIf(chromiumPath === null)('Analytics page in Chromium', () => {
  let site: E2eSite | undefined;
  let browser: LaunchedChromium | undefined;
  let page: Page;
  let url: string;
  const errors: string[] = [];

  beforeAll(async () => {
    site = await startE2eSite({
      kind: 'pglite',
      name: 'analytics',
      admin: ADMIN,
      pgBaseUrl: null,
      site: noCameraSite(),
    });
    url = site.server.url;
    const cookie = await sessionCookie(url, ADMIN);
    for (const [who, role] of [
      [MANAGER, 'manager'],
      [STAFF, 'staff'],
    ] as const) {
      await createStaff(url, cookie, { ...who, name: `${role} of the analytics test`, role });
    }
    await createdId(
      api(url, '/api/residents', { method: 'POST', cookie, body: { name: 'Ann Lee', unit: '4B' } }),
    );
    const ids: string[] = [];
    for (const n of [1, 2, 3]) {
      ids.push(
        await createdId(
          api(url, '/api/packages', {
            method: 'POST',
            cookie,
            body: {
              trackingNumber: `TBA00000000088${n}`,
              carrier: 'Amazon',
              unit: '4B',
              size: 'standard',
            },
          }),
        ),
      );
    }
    await expectJson(api(url, `/api/packages/${ids[0]}/pickup`, { method: 'POST', cookie }));

    ({ browser, page } = await launchWithPage(
      { baseURL: url, viewport: { width: 1280, height: 900 } },
      errors,
    ));
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await site?.close();
  });

  it("shows a manager the room's figures, charts and a CSV per chart", async () => {
    await signInAs(page, MANAGER, '/');
    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Analytics' })
      .click();
    await page.waitForURL((u) => u.pathname === '/analytics');
    const parcels = page.getByTestId('fig-parcels');
    await expect.poll(() => parcels.textContent(), { timeout: 15_000 }).toBe('3');
    expect(await page.getByTestId('fig-same-day').textContent()).toBe('33 %');
    expect(await page.getByTestId('timezone').textContent()).toBe('UTC');
    expect(await page.getByTestId('no-parcels').count()).toBe(0);
    // Chart.js drew on each canvas (a blank canvas reads back as all transparent pixels).
    for (const id of ['chart-per-day', 'chart-per-hour', 'chart-utilisation', 'chart-flags']) {
      const drawn = await page
        .getByTestId(id)
        .locator('canvas')
        .evaluate((c) => {
          const canvas = c as unknown as {
            width: number;
            height: number;
            getContext(k: string): { getImageData(...a: number[]): { data: ArrayLike<number> } };
          };
          const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
          let painted = 0;
          for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) painted++;
          return painted;
        });
      expect(drawn, id).toBeGreaterThan(500);
    }
    expect(await page.getByTestId('capacity-advice').textContent()).toMatch(
      /^(No parcels|Overflow)/,
    );
    const href = await page.getByTestId('csv-parcels-per-day').getAttribute('href');
    expect(href).toBe('/api/reports/room/parcels-per-day.csv');
    const csv = await page.evaluate(async (h) => (await fetch(h)).text(), href!);
    const today = new Date().toISOString().slice(0, 10);
    expect(csv.startsWith('day,parcels\r\n')).toBe(true);
    expect(csv).toContain(`${today},3\r\n`);
    expect(await page.locator('a[download]').count()).toBe(6);
    await page.screenshot({ path: '/tmp/analytics-page.png', fullPage: true });
  });

  it('stays readable for a range without parcels, and refuses a range over 400 days', async () => {
    await page.getByLabel('From', { exact: true }).fill('2020-01-01');
    await page.getByLabel('To', { exact: true }).fill('2020-01-31');
    await page.getByRole('button', { name: 'Show' }).click();
    await page.waitForURL((u) => u.search === '?from=2020-01-01&to=2020-01-31');
    const notice = page.getByTestId('no-parcels');
    await expect.poll(() => notice.isVisible(), { timeout: 15_000 }).toBe(true);
    expect(await notice.textContent()).toContain('No parcels in this range');
    expect(await page.getByTestId('fig-parcels').textContent()).toBe('0');
    expect(await page.getByTestId('fig-dwell-median').textContent()).toBe('—');
    expect(await page.getByTestId('no-peaks').isVisible()).toBe(true);
    expect(await page.getByTestId('csv-utilisation').getAttribute('href')).toBe(
      '/api/reports/room/utilisation.csv?from=2020-01-01&to=2020-01-31',
    );
    await page.screenshot({ path: '/tmp/analytics-empty.png', fullPage: true });

    await page.goto('/analytics?from=2020-01-01&to=2021-12-31');
    const error = page.getByTestId('report-error');
    await expect.poll(() => error.isVisible(), { timeout: 15_000 }).toBe(true);
    expect(await error.textContent()).toContain('at most 400 days');
    expect(errors).toEqual([]);
  });

  it('gives staff neither the menu item nor the figures', async () => {
    await signInAs(page, STAFF, '/analytics');
    await expect
      .poll(() => page.locator('main p.notice').textContent(), { timeout: 15_000 })
      .toBe('Analytics are for managers and admins.');
    const nav = page.getByRole('navigation', { name: 'Main' });
    expect(await nav.getByRole('link', { name: 'Analytics' }).count()).toBe(0);
    expect(await page.getByTestId('room-report').count()).toBe(0);
  });
});
