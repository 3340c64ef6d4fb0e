/**
 * Carrier compliance in a real browser: Debian's Chromium against the server started in-process
 * (demo room without a camera, so no video processes).
 *
 * UPS opens the door with its code at the simulated keypad and checks a parcel in at the kiosk.
 * "Speedy Couriers" came 20 minutes ago, was in the room for two minutes and checked nothing in:
 * that visit reaches the door's record through the event journal with its real times, and the
 * drop watch (run once, not waited for) flags it. A manager opens Compliance, sees Speedy
 * Couriers named as skipping the check-in, follows "Send them the summary" to the printable
 * summary with its e-mail and CSV links, and prints the delivery instructions, whose QR code
 * decodes to the door's kiosk page. A staff member is refused the page.
 *
 * Screenshots: /tmp/compliance-page.png, /tmp/compliance-summary.png,
 * /tmp/compliance-instructions.png.
 */
import jsqrModule from 'jsqr';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../db/index.ts';
import type { LaunchedChromium } from '../harness/chromium.ts';
import {
  cookieOf,
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
// jsqr is CommonJS: under Node's ESM loader its default import is the function itself.
const jsQR = jsqrModule as unknown as typeof jsqrModule.default;

const ADMIN = { email: 'admin@compliance.test', password: 'admin password for compliance e2e' };
const MANAGER = { email: 'manager@compliance.test', password: 'manager password compliance' };
const STAFF = { email: 'desk@compliance.test', password: 'staff password for compliance' };

/** The demo room without its camera: nothing here needs video. */
function complianceSite(): Record<string, unknown> {
  return { ...noCameraSite(), compliance: { deskContact: 'Front desk 555-0100' } };
}

describe.skipIf(chromiumPath === null)('Compliance pages in Chromium', () => {
  let site: E2eSite | undefined;
  let browser: LaunchedChromium | undefined;
  let page: Page;
  let url: string;
  const errors: string[] = [];

  beforeAll(async () => {
    site = await startE2eSite({
      kind: 'pglite',
      name: 'compliance',
      admin: ADMIN,
      pgBaseUrl: null,
      site: complianceSite(),
    });
    url = site.server.url;
    const cookie = await sessionCookie(url, ADMIN);
    for (const [who, role] of [
      [MANAGER, 'manager'],
      [STAFF, 'staff'],
    ] as const) {
      await createStaff(url, cookie, { ...who, name: `${role} of the compliance test`, role });
    }
    await createdId(
      api(url, '/api/residents', {
        method: 'POST',
        cookie,
        body: { name: 'Ann Lee', unit: '4B' },
      }),
    );
    const until = new Date(Date.now() + 3_600_000).toISOString();
    const code = async (carrier: string) =>
      (await (
        await api(url, '/api/carrier-codes', {
          method: 'POST',
          cookie,
          body: { carrier, validUntil: until },
        })
      ).json()) as { id: string; code: string };
    const ups = await code('UPS');
    const speedy = await code('Speedy Couriers');

    // UPS: keypad, door, kiosk check-in, out through the exit button.
    const drive = (path: string, body?: unknown) =>
      api(url, path, { method: 'POST', cookie, ...(body === undefined ? {} : { body }) });
    const keys = await drive('/api/sim/readers/front-reader/keys', { keys: `${ups.code}#` });
    expect(await keys.json()).toMatchObject({ decision: 'granted' });
    await drive('/api/sim/doors/front/contact', { state: 'open' });
    await drive('/api/sim/doors/front/contact', { state: 'closed' });
    const kiosk = await api(url, '/api/kiosk/session', {
      method: 'POST',
      body: { code: ups.code },
    });
    expect(kiosk.status).toBe(200);
    await expectJson(
      api(url, '/api/kiosk/packages', {
        method: 'POST',
        cookie: cookieOf(kiosk),
        body: {
          trackingNumber: 'TBA000000000777',
          carrier: 'Amazon',
          unit: '4B',
          size: 'standard',
        },
      }),
      201,
    );
    await drive('/api/sim/doors/front/rex');
    await drive('/api/sim/doors/front/contact', { state: 'open' });
    await drive('/api/sim/doors/front/contact', { state: 'closed' });

    // Speedy Couriers, 20 minutes ago: in for two minutes, nothing checked in.
    const { journal, dropWatch } = site.server.services;
    const t = Date.now() - 20 * 60_000;
    const grant = newId(t);
    const at = (ms: number) => t + ms;
    await journal.append({
      id: grant,
      at: t,
      type: 'access',
      doorId: 'front',
      readerId: 'front-reader',
      decision: 'granted',
      reason: 'granted',
      carrierCodeId: speedy.id,
      details: { via: 'keypad', carrier: 'Speedy Couriers' },
    });
    for (const [ms, type, extra] of [
      [
        1_000,
        'door_opened',
        {
          carrierCodeId: speedy.id,
          details: { cause: 'grant', entry: true, accessEventId: grant },
        },
      ],
      [3_000, 'door_closed', { details: { cause: 'grant', openMs: 2_000 } }],
      [120_000, 'door_opened', { details: { cause: 'rex', entry: false } }],
      [121_000, 'door_closed', { details: { cause: 'rex', openMs: 1_000 } }],
    ] as const) {
      await journal.append({ id: newId(at(ms)), at: at(ms), type, doorId: 'front', ...extra });
    }
    await journal.drained();
    expect(await dropWatch.runOnce()).toEqual({ raised: 1, pending: 0 });

    ({ browser, page } = await launchWithPage(
      { baseURL: url, viewport: { width: 1280, height: 900 } },
      errors,
    ));
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await site?.close();
  });

  it('shows a manager who skipped the check-in and leads to a summary to send them', async () => {
    await signInAs(page, MANAGER, '/compliance');
    const table = page.getByTestId('compliance-table');
    await expect.poll(() => table.isVisible(), { timeout: 15_000 }).toBe(true);
    const ups = table.locator('tr[data-carrier="UPS"]');
    await expect.poll(() => ups.locator('td').first().textContent()).toBe('1');
    expect(await ups.locator('td').nth(2).textContent()).toBe('1');
    const speedy = table.locator('tr[data-carrier="Speedy Couriers"]');
    expect((await speedy.locator('td').nth(5).textContent())?.trim()).toMatch(/^1 \(100%\)/);
    const worst = page.getByTestId('compliance-worst');
    expect(await worst.textContent()).toContain('Speedy Couriers skipped the check-in on 1 of 1');
    expect(await page.getByTestId('compliance-drops').textContent()).toContain('Flag: new');
    await page.screenshot({ path: '/tmp/compliance-page.png', fullPage: true });

    await worst.getByRole('link', { name: 'Send them the summary' }).click();
    await page.waitForURL((u) => u.pathname === '/compliance/summary');
    const summary = page.getByTestId('compliance-summary');
    await expect
      .poll(() => summary.textContent(), { timeout: 15_000 })
      .toContain('Visits with no parcel checked in');
    expect(await summary.locator('h1').textContent()).toBe('Speedy Couriers: delivery summary');
    const mail = await page.getByRole('link', { name: 'E-mail to dispatch' }).getAttribute('href');
    expect(mail).toMatch(/^mailto:\?subject=/);
    expect(decodeURIComponent(mail ?? '')).toContain('Visits with no parcel checked in: 1');
    const csvHref = await page.getByRole('link', { name: 'Download CSV' }).getAttribute('href');
    expect(csvHref).toMatch(/^\/api\/compliance\.csv\?week=\d{4}-W\d{2}&carrier=Speedy\+Couriers$/);
    const csv = await page.evaluate(async (href) => (await fetch(href)).text(), csvHref!);
    expect(csv).toContain(',Speedy Couriers,all,1,1,0,0.00,0.00,1,');
    await page.screenshot({ path: '/tmp/compliance-summary.png', fullPage: true });
  });

  it('prints delivery instructions whose QR code opens the door kiosk page', async () => {
    await page.goto('/compliance/instructions');
    const sheet = page.getByTestId('instruction-sheet').first();
    await expect.poll(() => sheet.isVisible(), { timeout: 15_000 }).toBe(true);
    expect(await sheet.textContent()).toContain('Front desk 555-0100');
    const img = sheet.locator('figure.qr img');
    await expect.poll(() => img.count(), { timeout: 15_000 }).toBe(1);
    // Draw the QR picture large on a canvas in the page and decode its pixels here.
    const pixels = await img.evaluate(async (el) => {
      const image = el as unknown as {
        decode(): Promise<void>;
      };
      await image.decode();
      const size = 400;
      const doc = (globalThis as unknown as { document: { createElement(t: string): unknown } })
        .document;
      const canvas = doc.createElement('canvas') as {
        width: number;
        height: number;
        getContext(k: string): {
          fillStyle: string;
          fillRect(x: number, y: number, w: number, h: number): void;
          drawImage(i: unknown, x: number, y: number, w: number, h: number): void;
          getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> };
        };
      };
      canvas.width = size + 40;
      canvas.height = size + 40;
      const ctx = canvas.getContext('2d');
      ctx.fillStyle = '#fff';
      ctx.fillRect(0, 0, size + 40, size + 40);
      ctx.drawImage(el, 20, 20, size, size);
      return Array.from(ctx.getImageData(0, 0, size + 40, size + 40).data);
    });
    const decoded = jsQR(Uint8ClampedArray.from(pixels), 440, 440);
    expect(decoded?.data).toBe(`${url}/kiosk?door=front`);
    await page.screenshot({ path: '/tmp/compliance-instructions.png', fullPage: true });
  });

  it('refuses staff, and keeps Compliance out of their menu', async () => {
    await signInAs(page, STAFF, '/');
    expect(await page.getByRole('navigation', { name: 'Main' }).textContent()).not.toContain(
      'Compliance',
    );
    const status = await page.evaluate(async () => (await fetch('/api/compliance')).status);
    expect(status).toBe(403);
    expect(errors).toEqual([]);
  });
});
