/**
 * The Packages page in a real browser: Debian's Chromium against the server started in-process on
 * a real port, serving the built console (web/build), with the demo room's shelves and lockers.
 *
 * A desk staff member's round, signed in as role `staff`: scan three parcels in for two units
 * through the check-in form (keyboard input, as a barcode scanner sends it), read each assigned
 * place off the page and find it on the storage board where the API put it (one resident's two
 * parcels share a slot); a wrong check digit and a second scan of a parcel already in the room are
 * refused at the tracking field; search by unit, hand a parcel over, watch the board follow, and
 * read the parcel's chain of custody (checked in, the resident's door entry, picked up).
 *
 * Once on embedded PGlite, and once on the run-wide PostgreSQL server when it is installed.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { RunningServer } from '../../server/main.ts';
import { encodeCard } from '../../web/src/lib/wiegand.ts';
import { launchChromium, type LaunchedChromium } from '../harness/chromium.ts';
import { startE2eSite, type E2eSite, api } from '../harness/e2e.server.ts';
import { requireChromium, requireProvided } from '../harness/requirements.ts';
import { REPO_ROOT } from '../harness/server.process.ts';

const chromiumPath = requireChromium();
const pgBaseUrl = chromiumPath ? requireProvided(inject('pgBaseUrl'), 'PostgreSQL') : null;

const RESULTS_DIR = join(REPO_ROOT, '.test-results');

const ADMIN = { email: 'admin@packages.test', password: 'admin password for packages e2e' };
const STAFF = {
  email: 'desk@packages.test',
  name: 'Desk Staff',
  role: 'staff',
  password: 'staff password for packages e2e',
};
const GRACE = { name: 'Grace Hopper', unit: '12A' };
const ALAN = { name: 'Alan Turing', unit: '7C' };
const CARD = { facility: 21, card: 1906 };

const UPS = '1Z999AA10123456784';
const UPS_BAD_CHECK_DIGIT = '1Z999AA10123456785';
const AMAZON_1 = 'TBA000000000001';
const AMAZON_2 = 'TBA000000000002';

interface Location {
  kind: string;
  id: string;
  label: string;
}
interface Storage {
  shelves: { id: string; label: string; slots: { id: string; label: string }[] }[];
  lockers: { id: string }[];
}
interface Timeline {
  items: { type: string; staffId?: string; decision?: string }[];
}

async function json<T>(res: Promise<Response>, status = 200): Promise<T> {
  const r = await res;
  expect(r.status, await r.clone().text()).toBe(status);
  return (await r.json()) as T;
}

/** What the page should print for a place: "Shelf A · A1" for a slot, the label otherwise. */
function placeText(storage: Storage, location: Location): string {
  const shelf = storage.shelves.find((s) => s.slots.some((slot) => slot.id === location.id));
  return location.kind === 'shelf' && shelf ? `${shelf.label} · ${location.label}` : location.label;
}

/** The id of the element with the keyboard focus (test code has no DOM types, hence a string). */
const activeId = (page: Page): Promise<string> =>
  page.evaluate<string>('document.activeElement ? document.activeElement.id : ""');

function packagesSuite(kind: 'pglite' | 'postgres', screenshot: string) {
  return () => {
    let site: E2eSite | undefined;
    let server: RunningServer;
    let browser: LaunchedChromium;
    let page: Page;
    const errors: string[] = [];
    let admin: string;
    let staffId: string;
    let graceId: string;
    let storage: Storage;
    /** `.test-results/packages.png`, or `packages-<step>.png`, for this database. */
    const shot = (step?: string): string =>
      join(
        RESULTS_DIR,
        step === undefined ? screenshot : screenshot.replace('.png', `-${step}.png`),
      );
    /** Where the API put each parcel, by tracking number. */
    const placed = new Map<string, Location & { packageId: string }>();

    /** The parcel as the API lists it (the ground truth the page must agree with). */
    async function fromApi(tracking: string) {
      const body = await json<{ items: { id: string; location: Location; status: string }[] }>(
        api(server.url, `/api/packages?q=${tracking}&status=checked_in`, { cookie: admin }),
      );
      expect(body.items).toHaveLength(1);
      return body.items[0]!;
    }

    beforeAll(async () => {
      site = await startE2eSite({ kind, name: 'packages', admin: ADMIN, pgBaseUrl });
      server = site.server;

      // Set-up through the API as the admin: two residents, a card for one, a staff member.
      const login = await api(server.url, '/api/auth/login', { method: 'POST', body: ADMIN });
      expect(login.status).toBe(200);
      admin = login.headers.getSetCookie()[0]?.split(';')[0] ?? '';
      graceId = (
        await json<{ id: string }>(
          api(server.url, '/api/residents', { method: 'POST', body: GRACE, cookie: admin }),
          201,
        )
      ).id;
      await json(
        api(server.url, '/api/residents', { method: 'POST', body: ALAN, cookie: admin }),
        201,
      );
      await json(
        api(server.url, '/api/credentials', {
          method: 'POST',
          cookie: admin,
          body: {
            residentId: graceId,
            kind: 'card',
            format: 'H10301',
            facilityCode: CARD.facility,
            cardNumber: CARD.card,
          },
        }),
        201,
      );
      staffId = (
        await json<{ id: string }>(
          api(server.url, '/api/staff', { method: 'POST', body: STAFF, cookie: admin }),
          201,
        )
      ).id;
      storage = await json<Storage>(api(server.url, '/api/storage', { cookie: admin }));

      browser = await launchChromium({
        baseURL: server.url,
        // A landscape tablet at the desk.
        viewport: { width: 1280, height: 900 },
      });
      page = await browser.context.newPage();
      page.on('pageerror', (err) => errors.push(err.stack ?? err.message));

      // The staff member signs in through the form and opens Packages from the menu.
      await page.goto('/login');
      await page.getByLabel('Email').fill(STAFF.email);
      await page.getByLabel('Password').fill(STAFF.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL((u) => u.pathname === '/');
      await page
        .getByRole('navigation', { name: 'Main' })
        .getByRole('link', { name: 'Packages' })
        .click();
      await page.getByRole('heading', { level: 1, name: 'Packages', exact: true }).waitFor();
    }, 300_000);

    afterAll(async () => {
      await browser?.close();
      await site?.close();
    });

    it('checks three parcels in by scanning and shows each where the API put it', async () => {
      const tracking = page.getByLabel('Tracking number');
      const carrier = page.getByLabel('Carrier', { exact: true });
      const recipient = page.getByRole('combobox', { name: 'Recipient' });
      const assigned = page.getByTestId('assigned-location');
      const result = page.getByTestId('checkin-result');
      const board = page.getByTestId('storage-board');

      // The page opens ready for the first scan.
      await expect.poll(() => activeId(page)).toBe('checkin-tracking');
      await board.getByTestId(`slot-${storage.shelves[0]!.slots[0]!.id}`).waitFor();

      // 1. UPS for Grace: the scanner types the number and Enter; the carrier follows the prefix.
      await page.keyboard.type(UPS);
      await page.keyboard.press('Enter');
      await expect.poll(() => activeId(page)).toBe('checkin-recipient');
      expect(await carrier.inputValue()).toBe('UPS');
      await page.keyboard.type('Hopper');
      await page.getByRole('option', { name: `${GRACE.name} — ${GRACE.unit}` }).waitFor();
      await page.keyboard.press('Enter'); // picks the highlighted resident
      expect(await recipient.inputValue()).toBe(`${GRACE.name} — ${GRACE.unit}`);
      await page.keyboard.press('Enter'); // checks the parcel in
      await assigned.waitFor();
      const first = await fromApi(UPS);
      placed.set(UPS, { ...first.location, packageId: first.id });
      expect(first.location.kind).toBe('shelf');
      expect((await assigned.textContent())?.trim()).toBe(placeText(storage, first.location));
      expect(await page.getByTestId('tracking-check').textContent()).toContain(
        'UPS number — check digit OK',
      );
      // Ready for the next scan: tracking cleared and focused, carrier and size kept.
      await expect.poll(() => activeId(page)).toBe('checkin-tracking');
      expect(await tracking.inputValue()).toBe('');
      expect(await carrier.inputValue()).toBe('UPS');
      expect(await page.getByRole('radio', { name: 'Standard' }).isChecked()).toBe(true);

      // 2. Amazon for the same resident, picked by unit with a tap: same slot as her first.
      await page.keyboard.type(AMAZON_1);
      await page.keyboard.press('Enter');
      expect(await carrier.inputValue()).toBe('Amazon');
      await page.keyboard.type(GRACE.unit);
      await page.getByRole('option', { name: `${GRACE.name} — ${GRACE.unit}` }).click();
      await page.getByRole('button', { name: 'Check in' }).click();
      await result.filter({ hasText: `${AMAZON_1} for ${GRACE.name} — ${GRACE.unit}` }).waitFor();
      const second = await fromApi(AMAZON_1);
      placed.set(AMAZON_1, { ...second.location, packageId: second.id });
      expect(second.location.id).toBe(first.location.id);
      expect((await assigned.textContent())?.trim()).toBe(placeText(storage, second.location));
      // Amazon numbers carry no check digit: accepted, with a word to look at the label.
      expect(await page.getByTestId('tracking-check').textContent()).toContain('check the label');

      // 3. Amazon for unit 7C as a bare unit (no resident named), typed in lower case.
      await expect.poll(() => activeId(page)).toBe('checkin-tracking');
      await page.keyboard.type(AMAZON_2);
      await page.keyboard.press('Enter');
      await page.keyboard.type(ALAN.unit.toLowerCase()); // "7c": sent as the building's "7C"
      await page.getByRole('option', { name: `Unit ${ALAN.unit} — no one named` }).click();
      await page.keyboard.press('Enter');
      await result.filter({ hasText: `${AMAZON_2} for Unit ${ALAN.unit}` }).waitFor();
      const third = await fromApi(AMAZON_2);
      placed.set(AMAZON_2, { ...third.location, packageId: third.id });
      expect(third.location.id).not.toBe(first.location.id);
      expect((await assigned.textContent())?.trim()).toBe(placeText(storage, third.location));

      // The board shows them where the API put them: Grace's two together, 7C's on its own.
      const shared = board.getByTestId(`slot-${first.location.id}`);
      await board.locator(`[data-testid="slot-${first.location.id}"][data-count="2"]`).waitFor();
      expect(await shared.getByTestId('slot-owners').textContent()).toContain(GRACE.unit);
      expect(await shared.getByTestId('slot-item').count()).toBe(2);
      const own = board.locator(`[data-testid="slot-${third.location.id}"][data-count="1"]`);
      await own.waitFor();
      expect(await own.getByTestId('slot-owners').textContent()).toContain(ALAN.unit);
      const places =
        storage.shelves.reduce((n, s) => n + s.slots.length, 0) + storage.lockers.length + 2;
      expect(await board.locator('[data-count="0"]').count()).toBe(places - 2);
      await board.getByTestId('storage-totals').filter({ hasText: '3 parcels' }).waitFor();
      mkdirSync(RESULTS_DIR, { recursive: true });
      await page.screenshot({ path: shot(), fullPage: true });

      // A misread check digit is refused at the tracking field, and the number stays selected
      // so the next scan replaces it.
      await expect.poll(() => activeId(page)).toBe('checkin-tracking');
      await page.keyboard.type(UPS_BAD_CHECK_DIGIT);
      await page.keyboard.press('Enter');
      await page.keyboard.type('Turing');
      await page.getByRole('option', { name: `${ALAN.name} — ${ALAN.unit}` }).waitFor();
      await page.keyboard.press('Enter');
      await page.keyboard.press('Enter');
      const trackingError = page.locator('#checkin-trackingNumber-error');
      await trackingError.waitFor();
      expect(await trackingError.textContent()).toContain('does not check');
      expect(await tracking.getAttribute('aria-invalid')).toBe('true');
      await expect.poll(() => activeId(page)).toBe('checkin-tracking');
      expect(await assigned.count()).toBe(0);

      // Scanning a parcel that is already in the room: refused at the same field.
      await page.keyboard.type(AMAZON_1); // replaces the selected number
      expect(await tracking.inputValue()).toBe(AMAZON_1);
      await page.keyboard.press('Enter');
      await page.keyboard.press('Enter'); // the recipient is still Alan Turing
      await trackingError.filter({ hasText: 'already in the room' }).waitFor();
      await tracking.fill('');
      expect(errors, 'uncaught errors in the page').toEqual([]);
    });

    it('finds parcels by unit, hands one over, and shows its chain of custody', async () => {
      const search = page.getByRole('searchbox', { name: 'Search' });
      const rows = page.getByTestId('parcel-row');
      const board = page.getByTestId('storage-board');
      const ups = placed.get(UPS)!;

      // Search by unit.
      await search.fill(ALAN.unit);
      await expect.poll(() => rows.allTextContents(), { timeout: 10_000 }).toHaveLength(1);
      expect(await rows.first().textContent()).toContain(AMAZON_2);
      await search.fill(GRACE.unit);
      await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(2);
      const upsRow = rows.filter({ hasText: UPS });
      expect(await upsRow.textContent()).toContain(GRACE.name);
      expect(await upsRow.textContent()).toContain(placeText(storage, ups));

      // Grace comes in with her card while her parcels wait (the room's simulated reader).
      const bits = encodeCard('H10301', CARD);
      const entry = await json<{ decision: string }>(
        api(server.url, '/api/sim/readers/front-reader/wiegand', {
          method: 'POST',
          cookie: admin,
          body: { bits },
        }),
      );
      expect(entry.decision).toBe('granted');

      // Hand the UPS parcel over, after confirming whose it is.
      await upsRow.getByRole('button', { name: 'Hand over' }).click();
      await upsRow.getByText(`Give to ${GRACE.name} (${GRACE.unit})?`).waitFor();
      await upsRow.getByRole('button', { name: 'Yes, hand over' }).click();
      await page
        .getByRole('status')
        .filter({ hasText: `Handed over ${UPS}` })
        .waitFor();
      await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(1);
      expect(await rows.first().textContent()).toContain(AMAZON_1);

      // The board follows: one parcel left in the shared slot.
      await board.locator(`[data-testid="slot-${ups.id}"][data-count="1"]`).waitFor();
      await board.getByTestId('storage-totals').filter({ hasText: '2 parcels' }).waitFor();

      // The server has the whole chain once its event journal has caught up.
      await expect
        .poll(
          async () =>
            (
              await json<Timeline>(
                api(server.url, `/api/packages/${ups.packageId}/timeline`, { cookie: admin }),
              )
            ).items.map((i) => i.type),
          { timeout: 10_000 },
        )
        .toEqual(['package_checked_in', 'access', 'package_picked_up']);

      // All parcels of 12A, picked up ones too; the handed-over one says so.
      await page.getByLabel('Status', { exact: true }).selectOption({ label: 'All' });
      await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(2);
      const gone = rows.filter({ hasText: UPS });
      expect(await gone.getAttribute('data-status')).toBe('picked_up');
      expect(await gone.getByRole('button', { name: 'Hand over' }).count()).toBe(0);

      await page.screenshot({ path: shot('handover'), fullPage: true });

      // Its timeline: checked in, Grace's door entry, picked up (by this staff member).
      await gone.getByRole('button', { name: 'Timeline' }).click();
      const dialog = page.getByRole('dialog', { name: /Chain of custody/ });
      await dialog.waitFor();
      const steps = dialog.getByTestId('timeline-item');
      await expect.poll(() => steps.count(), { timeout: 10_000 }).toBe(3);
      const titles = (await steps.locator('.title').allTextContents()).map((t) => t.trim());
      expect(titles).toEqual(['Checked in by you', 'Door entry — granted', 'Picked up']);
      expect(await steps.nth(0).textContent()).toContain(`to ${placeText(storage, ups)}`);
      expect(await steps.nth(1).textContent()).toContain('Package room door');
      expect(await steps.nth(2).textContent()).toContain('Handed over by you');
      expect(await dialog.textContent()).toContain('Picked up');

      await page.screenshot({
        path: join(RESULTS_DIR, screenshot.replace('.png', '-timeline.png')),
      });
      await dialog.getByRole('button', { name: 'Close' }).click();
      await dialog.waitFor({ state: 'hidden' });

      // Check-in and pickup are recorded as this staff member's.
      const timeline = await json<Timeline>(
        api(server.url, `/api/packages/${ups.packageId}/timeline`, { cookie: admin }),
      );
      expect(timeline.items[0]).toMatchObject({ type: 'package_checked_in', staffId });
      expect(timeline.items.at(-1)).toMatchObject({ type: 'package_picked_up', staffId });
      expect(errors, 'uncaught errors in the page').toEqual([]);
    });
  };
}

describe.skipIf(!chromiumPath)(
  'packages page in Chromium, embedded PGlite',
  packagesSuite('pglite', 'packages.png'),
);

describe.skipIf(!chromiumPath || !pgBaseUrl)(
  'packages page in Chromium, PostgreSQL',
  packagesSuite('postgres', 'packages-postgres.png'),
);
