/**
 * A building's day of operations in Chromium, end to end through the console: a manager imports
 * the roster from CSV (one bad row is reported by its line and left out, the others are
 * imported), checks a parcel in for one of the imported residents at the desk, the resident's
 * notice reaches a real SMTP server with a pickup code, the code typed on the door keypad (the
 * Room page's simulated reader) opens the door once, and the Analytics page counts the parcel.
 */
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LaunchedChromium } from '../harness/chromium.ts';
import {
  emailNoticeSite,
  expectJson,
  launchWithPage,
  sessionCookie,
  signInAs,
  waitFor,
} from '../harness/e2e.fixtures.ts';
import { api, startE2eSite, type E2eSite } from '../harness/e2e.server.ts';
import { requireChromium } from '../harness/requirements.ts';
import { startSmtpServer, type TestSmtpServer } from '../harness/smtp.server.ts';

const chromiumPath = requireChromium();

const ADMIN = { email: 'admin@operations.test', password: 'admin password for operations e2e' };
const ADA = { name: 'Ada Okafor', unit: '12A', email: 'ada@example.test' };
const UPS = '1Z999AA10123456784';

const ROSTER = [
  'unit,name,email,phone,external_id,move_in,move_out',
  `${ADA.unit},${ADA.name},${ADA.email},,pms-1,2025-06-01,`,
  '12B,,nobody@example.test,,pms-2,,',
  '12C,Ben Ito,ben@example.test,+1 555 0102,pms-3,,',
].join('\n');

describe.skipIf(!chromiumPath)("a building's operations in the console (pglite)", () => {
  let smtp: TestSmtpServer;
  let site: E2eSite | undefined;
  let browser: LaunchedChromium | undefined;
  let page: Page;
  let admin: string;
  const errors: string[] = [];
  const toAda = () => smtp.messages.filter((m) => m.envelope.to.includes(ADA.email));

  const nav = (name: string) =>
    page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });

  /** The Analytics page's parcel count for the default range (the last 30 days). */
  async function parcelsOnAnalytics(): Promise<string> {
    await nav('Analytics').click();
    await page.getByTestId('room-report').waitFor();
    return (await page.getByTestId('fig-parcels').textContent())?.trim() ?? '';
  }

  beforeAll(async () => {
    smtp = await startSmtpServer();
    site = await startE2eSite({
      kind: 'pglite',
      name: 'operations',
      admin: ADMIN,
      pgBaseUrl: null,
      site: emailNoticeSite(smtp),
    });
    admin = await sessionCookie(site.server.url, ADMIN);
    ({ browser, page } = await launchWithPage(
      { baseURL: site.server.url, viewport: { width: 1280, height: 900 } },
      errors,
    ));
    await signInAs(page, ADMIN);
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await site?.close();
    await smtp?.close();
  });

  it('imports a roster, checks a parcel in, opens the door with the e-mailed code and counts it', async () => {
    const url = site!.server.url;
    // Before anything happened: no parcels in the range.
    expect(await parcelsOnAnalytics()).toBe('0');

    // 1. The roster, with one bad row (line 3: no name), previewed and then imported.
    await nav('Residents').click();
    await page.getByRole('link', { name: 'Import residents from CSV' }).click();
    await page.getByLabel('Or paste the CSV here').fill(ROSTER);
    await page.getByRole('button', { name: 'Preview' }).click();
    const rejected = page.getByRole('row').filter({ hasText: 'Rejected' });
    await rejected.waitFor();
    expect(await rejected.getByRole('cell').first().textContent()).toBe('3');
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await page.getByRole('heading', { name: 'Imported' }).waitFor();
    await page
      .getByText('2 new, 0 updated, 0 moved out, 0 unchanged, 1 rejected.')
      .first()
      .waitFor();
    const { items: residents } = await expectJson<{ items: { name: string; unit: string }[] }>(
      api(url, '/api/residents', { cookie: admin }),
    );
    expect(residents.map((r) => `${r.name} ${r.unit}`).sort()).toEqual([
      'Ada Okafor 12A',
      'Ben Ito 12C',
    ]);

    // 2. A parcel for Ada, checked in at the desk by scanning its label.
    await nav('Packages').click();
    await page.getByRole('heading', { level: 1, name: 'Packages', exact: true }).waitFor();
    await page.getByLabel('Tracking number').fill(UPS);
    await page.getByLabel('Tracking number').press('Enter');
    await page.getByRole('combobox', { name: 'Recipient' }).fill('Okafor');
    await page.getByRole('option', { name: `${ADA.name} — ${ADA.unit}` }).click();
    await page.getByRole('button', { name: 'Check in' }).click();
    await page.getByTestId('assigned-location').waitFor();

    // 3. Her notice carries a one-time pickup code.
    const notice = await waitFor(
      'the check-in notice to Ada',
      () => Promise.resolve(toAda()[0]),
      20_000,
    );
    const code = /Your pickup code: (\d{6})/.exec(notice.text)?.[1];
    expect(code, notice.text).toMatch(/^\d{6}$/);

    // 4. Typed on the door keypad (the Room page's simulated reader) it opens the door, once.
    const press = async (keys: string) => {
      for (const k of keys) {
        await page.getByRole('button', { name: k === '#' ? 'Key # (enter)' : `Key ${k}` }).click();
      }
    };
    await nav('Room').click();
    const result = page.getByTestId('sim-result');
    await press(`${code!}#`);
    await result.filter({ hasText: 'Granted' }).waitFor();
    await press(`${code!}#`);
    await result.filter({ hasText: 'Denied: pickup_code_used' }).waitFor();
    const events = await expectJson<{ items: { decision?: string; reason?: string }[] }>(
      api(url, '/api/events?type=access&limit=10', { cookie: admin }),
    );
    expect(events.items.map((e) => `${e.decision}:${e.reason}`)).toEqual([
      'denied:pickup_code_used',
      'granted:pickup_code',
    ]);

    // 5. The room's analytics count the parcel.
    expect(await parcelsOnAnalytics()).toBe('1');
    await page.screenshot({ path: '/tmp/operations-analytics.png' });
    expect(errors).toEqual([]);
  });
});
