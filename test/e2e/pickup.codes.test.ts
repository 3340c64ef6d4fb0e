/**
 * A resident's pickup code at the kiosk in Chromium (a 768×1024 tablet), against the real server
 * with the demo room and a real SMTP server. The check-in notice carries a QR code: the kiosk's
 * scanner (keyboard input) types it on the start screen, the door opens and her parcels show. The
 * same code typed again is refused in words. "Get a new code" with her unit and e-mail sends a
 * link; opened in the browser it shows a fresh 6-digit code and its QR image.
 */
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/main.ts';
import { launchChromium, type LaunchedChromium } from '../harness/chromium.ts';
import { emailNoticeSite } from '../harness/e2e.fixtures.ts';
import { api, startE2eSite, type E2eSite } from '../harness/e2e.server.ts';
import { requireChromium } from '../harness/requirements.ts';
import { startSmtpServer, type ReceivedMail, type TestSmtpServer } from '../harness/smtp.server.ts';

const chromiumPath = requireChromium();
const require = createRequire(import.meta.url);
const { PNG } = require('pngjs') as {
  PNG: { sync: { read(b: Buffer): { width: number; height: number; data: Buffer } } };
};
const jsQR = require('jsqr') as (
  data: Uint8ClampedArray,
  width: number,
  height: number,
) => { data: string } | null;

const ADMIN = { email: 'admin@pickup.test', password: 'admin password for pickup e2e' };
const GRACE = { name: 'Grace Hopper', unit: '12A', email: 'grace@example.test' };
const AMAZON = 'TBA000000000077';

async function until(what: string, check: () => boolean, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function qrText(mail: ReceivedMail): string {
  const part = mail.raw.split(/\r?\n--[^\r\n]+/).find((p) => /content-type: image\/png/i.test(p));
  if (!part) throw new Error('no inline QR image in the e-mail');
  const png = PNG.sync.read(
    Buffer.from(part.slice(part.search(/\r?\n\r?\n/)).replace(/\s+/g, ''), 'base64'),
  );
  const found = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  if (!found) throw new Error('the QR image does not decode');
  return found.data;
}

describe.skipIf(!chromiumPath)('pickup codes at the kiosk in Chromium', () => {
  let smtp: TestSmtpServer;
  let site: E2eSite | undefined;
  let server: RunningServer;
  let browser: LaunchedChromium | undefined;
  let page: Page;
  const errors: string[] = [];
  const toGrace = () => smtp.messages.filter((m) => m.envelope.to.includes(GRACE.email));

  beforeAll(async () => {
    smtp = await startSmtpServer();
    site = await startE2eSite({
      kind: 'pglite',
      name: 'pickup',
      admin: ADMIN,
      pgBaseUrl: null,
      site: emailNoticeSite(smtp),
    });
    server = site.server;
    const login = await api(server.url, '/api/auth/login', { method: 'POST', body: ADMIN });
    const admin = login.headers.getSetCookie()[0]?.split(';')[0] ?? '';
    expect(
      (await api(server.url, '/api/residents', { method: 'POST', body: GRACE, cookie: admin }))
        .status,
    ).toBe(201);
    const parcel = await api(server.url, '/api/packages', {
      method: 'POST',
      cookie: admin,
      body: { trackingNumber: AMAZON, carrier: 'Amazon', unit: GRACE.unit, size: 'standard' },
    });
    expect(parcel.status).toBe(201);
    browser = await launchChromium({
      baseURL: server.url,
      viewport: { width: 768, height: 1024 },
      hasTouch: true,
    });
    page = await browser.context.newPage();
    page.on('pageerror', (err) => errors.push(err.stack ?? err.message));
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await site?.close();
    await smtp?.close();
  });

  it('opens with the scanned QR, refuses the used code, and gives a fresh code by e-mail link', async () => {
    await until('the check-in notice', () => toGrace().length === 1);
    const notice = toGrace()[0]!;
    const code = /Your pickup code: (\d{6})/.exec(notice.text)![1]!;
    const scanned = qrText(notice);

    await page.goto('/kiosk?door=front');
    await page.getByRole('heading', { name: 'Picking up?' }).waitFor();
    // The scanner types the QR's content and Enter, as a keyboard does.
    await page.keyboard.type(scanned, { delay: 5 });
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Hello, Grace' }).waitFor();
    await page.getByTestId('kiosk-parcel').filter({ hasText: AMAZON }).waitFor();
    await page.screenshot({ path: '/tmp/kiosk-pickup-opened.png' });
    await page.getByRole('button', { name: 'Done' }).click();
    await page.getByRole('button', { name: 'Back to start' }).click();

    // The code from the same e-mail is used up now: refused, in words.
    await page.getByTestId('kiosk-pickup-code').click();
    await page.getByTestId('pickup-entry').fill(code);
    await page.getByRole('button', { name: 'Open the door' }).click();
    await page.getByTestId('pickup-error').filter({ hasText: 'already used' }).waitFor();

    // A fresh code: unit + the e-mail on file; the answer says nothing about who lives there.
    await page.getByText('Get a new code').click();
    await page.getByLabel('Unit').fill(GRACE.unit);
    await page.getByLabel('Your e-mail').fill(GRACE.email);
    await page.getByRole('button', { name: 'Send me a link' }).click();
    await page.getByTestId('pickup-asked').filter({ hasText: 'If that e-mail address' }).waitFor();
    await until('the link e-mail', () => toGrace().length === 2);
    const link = /(http:\/\/\S+\/api\/pickup\/link\/\S+)/.exec(toGrace()[1]!.text)![1]!;
    expect(link.startsWith(server.url)).toBe(true);

    const phone = await browser!.context.newPage();
    await phone.goto(link);
    await phone.getByRole('button', { name: 'Show my new code' }).click();
    const fresh = (await phone.locator('.code').textContent()) ?? '';
    expect(fresh).toMatch(/^\d{6}$/);
    expect(fresh).not.toBe(code);
    expect(await phone.locator('img').getAttribute('src')).toMatch(/^data:image\/png;base64,/);
    await phone.screenshot({ path: '/tmp/pickup-link-page.png' });
    expect(errors).toEqual([]);
  }, 60_000);
});
