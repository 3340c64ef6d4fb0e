/**
 * Door access in a real browser: Debian's Chromium against the server started in-process on a
 * real port, serving the built console (web/build), with the demo room's simulated door.
 *
 * A manager's day with carrier codes: make a code for UPS on the Carrier codes page, type it on
 * the Room page's door simulator keypad, and watch the live stream (no reload, no polling) unlock
 * the door card and list "Access granted" for UPS; open and close the door; lock the keypad out
 * with five wrong codes; see the code's use counted. And a resident's card: enrol it on the
 * Residents page (server errors shown inline), present it in the simulator, get in.
 *
 * Once on embedded PGlite, and once on the run-wide PostgreSQL server when it is installed.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BUILTIN_FORMATS, encodeCard as serverEncodeCard } from '../../access/index.ts';
import type { RunningServer } from '../../server/main.ts';
import {
  encodeCard as consoleEncodeCard,
  fieldMax,
  WIEGAND_FORMATS,
} from '../../web/src/lib/wiegand.ts';
import { launchChromium, type LaunchedChromium } from '../harness/chromium.ts';
import { startE2eSite, type E2eSite } from '../harness/e2e.server.ts';
import { requireChromium, requireProvided } from '../harness/requirements.ts';
import { REPO_ROOT } from '../harness/server.process.ts';

const chromiumPath = requireChromium();
const pgBaseUrl = chromiumPath ? requireProvided(inject('pgBaseUrl'), 'PostgreSQL') : null;

const RESULTS_DIR = join(REPO_ROOT, '.test-results');
const ADMIN = { email: 'admin@access.test', password: 'admin password for access e2e' };

/** A fresh tab, and the uncaught errors the console throws in it (a test expects none). */
async function openPage(browser: LaunchedChromium): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.stack ?? err.message));
  return { page, errors };
}

async function goToPage(page: Page, link: string, heading: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: link }).click();
  await page.getByRole('heading', { level: 1, name: heading, exact: true }).waitFor();
}

/** The Room page's connection badge says "Live": the event stream is open. */
async function waitLive(page: Page): Promise<void> {
  await page.getByTestId('live-state').filter({ hasText: 'Live' }).waitFor();
}

/** Event rows whose "Event" cell reads exactly `what`. */
function eventRows(page: Page, what: string): Locator {
  return page
    .getByTestId('event-row')
    .filter({ has: page.getByRole('cell', { name: what, exact: true }) });
}

/** Type on the simulator keypad, key by key, as a carrier would. */
async function typeOnKeypad(page: Page, keys: string): Promise<void> {
  for (const k of keys) await page.getByTestId(`sim-key-${k}`).click();
}

describe('console Wiegand encoder', () => {
  it('builds the same frames as the server for every built-in format', () => {
    for (const id of WIEGAND_FORMATS) {
      const format = BUILTIN_FORMATS.find((f) => f.id === id);
      expect(format, id).toBeDefined();
      const facilityMax = fieldMax(id, 'facility');
      const cardMax = fieldMax(id, 'card') ?? 0;
      const samples = [0, 1, 4242, cardMax, Math.floor(cardMax / 3)];
      for (const card of samples) {
        const facility = facilityMax === undefined ? undefined : card % (facilityMax + 1);
        const value = facility === undefined ? { card } : { facility, card };
        expect(consoleEncodeCard(id, value), `${id} ${JSON.stringify(value)}`).toBe(
          serverEncodeCard(format!, value),
        );
      }
    }
    // The card the residents flow below enrols, spelled out.
    expect(consoleEncodeCard('H10301', { facility: 12, card: 4242 })).toBe(
      '1' + '00001100' + '0001000010010010' + '0',
    );
  });
});

function accessSuite(kind: 'pglite' | 'postgres', screenshot: string) {
  return () => {
    let site: E2eSite | undefined;
    let server: RunningServer;
    let browser: LaunchedChromium;

    beforeAll(async () => {
      site = await startE2eSite({ kind, name: 'access', admin: ADMIN, pgBaseUrl });
      server = site.server;
      browser = await launchChromium({
        baseURL: server.url,
        // A landscape wall tablet.
        viewport: { width: 1280, height: 800 },
      });

      // Sign in once through the form; the tabs of this browser share the session cookie.
      const { page } = await openPage(browser);
      try {
        await page.goto('/login');
        await page.getByLabel('Email').fill(ADMIN.email);
        await page.getByLabel('Password').fill(ADMIN.password);
        await page.getByRole('button', { name: 'Sign in' }).click();
        await page.waitForURL((u) => u.pathname === '/');
        await page.getByRole('heading', { level: 1, name: 'Room', exact: true }).waitFor();
      } finally {
        await page.close();
      }
    }, 300_000);

    afterAll(async () => {
      await browser?.close();
      await site?.close();
    });

    it('lets a carrier code open the door, live, and locks the keypad after five wrong codes', async () => {
      const { page, errors } = await openPage(browser);
      try {
        await page.goto('/');
        await page.getByRole('heading', { level: 1, name: 'Room', exact: true }).waitFor();

        // --- a code for UPS, shown once ----------------------------------------------------
        await goToPage(page, 'Carrier codes', 'Carrier codes');
        await page.getByLabel('Carrier', { exact: true }).fill('UPS');
        await page.getByLabel('Max uses').fill('3');
        // "Valid until" comes filled in (now + 8 h).
        expect(await page.getByLabel('Valid until').inputValue()).toMatch(
          /^\d{4}-\d\d-\d\dT\d\d:\d\d$/,
        );
        await page.getByRole('button', { name: 'Create code' }).click();
        const newCode = page.getByTestId('new-code');
        await newCode.waitFor();
        const code = (await newCode.textContent())?.trim() ?? '';
        expect(code).toMatch(/^\d{6}$/);
        await page
          .getByText('Give this code to the carrier now; it will not be shown again')
          .waitFor();

        const upsRow = page.getByTestId('code-row').filter({ hasText: 'UPS' });
        await upsRow.waitFor();
        expect(await upsRow.getByTestId('code-uses').textContent()).toBe('0 / 3');
        expect(await upsRow.textContent()).toContain('Active');

        // --- back to the Room page (client-side navigation; the page is never reloaded) -----
        await goToPage(page, 'Room', 'Room');
        await waitLive(page);
        await page.getByText('Loading events…').waitFor({ state: 'hidden' });
        const door = page.getByTestId('door-front');
        await door.locator('[data-testid="strike"][data-state="locked"]').waitFor();
        await page.evaluate(() => {
          (globalThis as { notReloaded?: boolean }).notReloaded = true;
        });
        // From here on everything new on the page must come over the event stream.
        const refetches: string[] = [];
        page.on('request', (req) => {
          const path = new URL(req.url()).pathname;
          if (path === '/api/events' || path === '/api/doors') refetches.push(path);
        });

        const simulator = page.getByRole('region', { name: 'Door simulator' });
        await simulator.waitFor();
        expect(await simulator.getByLabel('Reader').inputValue()).toBe('front-reader');

        await typeOnKeypad(page, `${code}#`);
        const result = page.getByTestId('sim-result');
        await result.filter({ hasText: 'Granted' }).waitFor();
        await door.locator('[data-testid="strike"][data-state="unlocked"]').waitFor();
        const granted = eventRows(page, 'Access granted').filter({ hasText: 'UPS' });
        await granted.waitFor();
        expect(await granted.count()).toBe(1);
        expect(await granted.textContent()).toContain('Package room door');

        await page.getByRole('button', { name: 'Open door' }).click();
        await eventRows(page, 'Door opened').waitFor();
        await door.locator('[data-testid="contact"][data-state="open"]').waitFor();
        await page.getByRole('button', { name: 'Close door' }).click();
        await eventRows(page, 'Door closed').waitFor();
        await door.locator('[data-testid="contact"][data-state="closed"]').waitFor();
        // Closing the door after the entry relocks it at once.
        await door.locator('[data-testid="strike"][data-state="locked"]').waitFor();

        // --- five wrong codes lock the keypad --------------------------------------------------
        const wrong = [...code].map((d) => String((Number(d) + 1) % 10)).join('');
        expect(await door.locator('[data-alarm]').count()).toBe(0);
        for (let i = 0; i < 5; i++) await typeOnKeypad(page, `${wrong}#`);
        const lockout = door.locator('[data-alarm="keypad_lockout"]');
        await lockout.waitFor();
        expect(await lockout.textContent()).toMatch(/Keypad locked out\s+since\s+\d/);
        await expect.poll(() => eventRows(page, 'Access denied — unknown code').count()).toBe(5);
        await eventRows(page, 'Keypad locked').waitFor();
        expect(await result.textContent()).toContain('Denied: unknown_credential');

        expect(refetches, 'GET /api/events or /api/doors after the stream was up').toEqual([]);
        expect(
          await page.evaluate(() => (globalThis as { notReloaded?: boolean }).notReloaded === true),
          'the page was reloaded',
        ).toBe(true);

        mkdirSync(RESULTS_DIR, { recursive: true });
        await page.screenshot({ path: join(RESULTS_DIR, screenshot), fullPage: true });

        // --- the code's one use is counted --------------------------------------------------
        await goToPage(page, 'Carrier codes', 'Carrier codes');
        const uses = page
          .getByTestId('code-row')
          .filter({ hasText: 'UPS' })
          .getByTestId('code-uses');
        // Access events reach the database through the journal, a moment after the stream.
        await expect
          .poll(async () => {
            await page.getByRole('button', { name: 'Refresh' }).click();
            return uses.textContent();
          })
          .toBe('1 / 3');
        // The code itself is not shown again.
        expect(await page.getByTestId('new-code').count()).toBe(0);
        expect(await page.locator('body').textContent()).not.toContain(code);
        expect(errors, 'uncaught errors in the page').toEqual([]);
      } finally {
        await page.close();
      }
    });

    it('enrols a resident card, shows server errors inline, and lets the card in', async () => {
      const { page, errors } = await openPage(browser);
      const name = `Grace Hopper ${kind}`;
      try {
        await page.goto('/residents');
        await page.getByRole('heading', { level: 1, name: 'Residents', exact: true }).waitFor();
        await page.getByLabel('Name', { exact: true }).fill(name);
        await page.getByLabel('Unit', { exact: true }).fill('7A');
        await page.getByRole('button', { name: 'Add resident' }).click();
        await page.getByRole('row').filter({ hasText: name }).waitFor();

        await page.getByRole('button', { name: `Cards for ${name}` }).click();
        const cards = page.getByRole('region', { name: `Cards for ${name}` });
        await cards.getByText('No cards enrolled.').waitFor();
        const formats = await cards.getByLabel('Format').locator('option').allTextContents();
        expect(formats.map((f) => f.split(' ')[0])).toEqual([
          'H10301',
          'H10306',
          'C1000-35',
          'H10302',
          'H10304',
        ]);

        // A facility code too large for 26-bit cards: the server's message, next to the field.
        await cards.getByLabel('Facility code').fill('300');
        await cards.getByLabel('Card number').fill('4242');
        await cards.getByRole('button', { name: 'Enrol card' }).click();
        const facilityError = cards.getByText('facility code must be 0-255 for H10301');
        await facilityError.waitFor();
        expect(await cards.getByLabel('Facility code').getAttribute('aria-invalid')).toBe('true');

        await cards.getByLabel('Facility code').fill('12');
        await cards.getByRole('button', { name: 'Enrol card' }).click();
        await cards.getByRole('status').filter({ hasText: 'Card 4242 enrolled.' }).waitFor();
        await cards.getByRole('row').filter({ hasText: '4242' }).waitFor();

        // The same card again: refused, and said so inline.
        await cards.getByLabel('Facility code').fill('12');
        await cards.getByLabel('Card number').fill('4242');
        await cards.getByRole('button', { name: 'Enrol card' }).click();
        await cards.getByText('this card is already enrolled').waitFor();
        expect(await cards.getByLabel('Card number').getAttribute('aria-invalid')).toBe('true');

        // --- present it at the door --------------------------------------------------------
        await goToPage(page, 'Room', 'Room');
        await waitLive(page);
        const simulator = page.getByRole('region', { name: 'Door simulator' });
        await simulator.getByLabel('Card format').selectOption('H10301');
        await simulator.getByLabel('Facility code').fill('12');
        await simulator.getByLabel('Card number').fill('4242');
        await simulator.getByRole('button', { name: 'Present card' }).click();
        await page.getByTestId('sim-result').filter({ hasText: 'Granted' }).waitFor();
        const row = eventRows(page, 'Access granted').filter({ hasText: name });
        await row.waitFor();
        expect(await row.textContent()).toContain('H10301 12:4242');
        await page
          .getByTestId('door-front')
          .locator('[data-testid="strike"][data-state="unlocked"]')
          .waitFor();

        // A card nobody enrolled is turned away.
        await simulator.getByLabel('Card number').fill('4243');
        await simulator.getByRole('button', { name: 'Present card' }).click();
        await page
          .getByTestId('sim-result')
          .filter({ hasText: 'Denied: unknown_credential' })
          .waitFor();
        await eventRows(page, 'Access denied — unknown card').waitFor();
        expect(errors, 'uncaught errors in the page').toEqual([]);
      } finally {
        await page.close();
      }
    });
  };
}

describe.skipIf(!chromiumPath)(
  'door access in Chromium, embedded PGlite',
  accessSuite('pglite', 'room-live.png'),
);

describe.skipIf(!chromiumPath || !pgBaseUrl)(
  'door access in Chromium, PostgreSQL',
  accessSuite('postgres', 'room-live-postgres.png'),
);
