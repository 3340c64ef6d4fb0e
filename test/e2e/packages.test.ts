/**
 * The Packages page in a real browser: Debian's Chromium against the server started in-process on
 * a real port, serving the built console (web/build), with the demo room's shelves and lockers.
 *
 * A desk staff member's round, signed in as role `staff`: scan three parcels in for two units
 * through the check-in form (keyboard input, as a barcode scanner sends it), read each assigned
 * place off the page and find it on the storage board where the API put it (one resident's two
 * parcels share a slot); a wrong check digit and a second scan of a parcel already in the room are
 * refused at the tracking field; search by unit, hand a parcel over, watch the board follow, and
 * read the parcel's chain of custody (checked in, the webhook notice that failed and will be
 * retried, the resident's door entry with its video window, handed over at the desk). Then a
 * parcel handed to someone the resident sent, and a parcel left for eight days: overdue in the
 * list, in the return-to-sender queue, given back to the carrier with a reason.
 *
 * The server runs on a clock the test can set back: a parcel checked in while it is set back has
 * waited that long once it is put right (sessions, timers and everything else keep working, as
 * nothing is ever dated after the real now). Notices go to a real webhook receiver.
 *
 * Once on embedded PGlite, and once on the run-wide PostgreSQL server when it is installed.
 */
import { mkdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { systemClock, type Clock } from '../../hardware/clock.ts';
import { demoSite, loadConfig } from '../../server/config/index.ts';
import { startServer, type RunningServer } from '../../server/main.ts';
import { encodeCard } from '../../web/src/lib/wiegand.ts';
import { launchChromium, type LaunchedChromium } from '../harness/chromium.ts';
import { type E2eSite, api } from '../harness/e2e.server.ts';
import { getFreePort } from '../harness/free-port.ts';
import { createDatabase, dropDatabase, uniqueDatabaseName } from '../harness/postgres.server.ts';
import { requireChromium, requireProvided } from '../harness/requirements.ts';
import { REPO_ROOT } from '../harness/server.process.ts';
import { makeTempDir } from '../harness/temp-dir.ts';
import { ensureWebBuilt, WEB_BUILD_DIR } from '../harness/web-build.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../harness/webhook.receiver.ts';

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
/** Checked in eight days ago: past the demo room's overdue (3 days) and return (7 days) lines. */
const AMAZON_OLD = 'TBA000000000003';
const DAY_MS = 86_400_000;
/** Someone Grace sent to collect for her. */
const SENT_BY_GRACE = 'Ada Lovelace';
const RETURN_REASON = 'Not collected after 8 days';
const WEBHOOK_SECRET = 'packages e2e webhook secret';

/** The system clock, set back by hand; its timers are the real ones. */
interface SettableClock extends Clock {
  setBack(ms: number): void;
}

function settableClock(): SettableClock {
  const real = systemClock();
  let back = 0;
  return {
    now: () => Date.now() - back,
    setTimeout: real.setTimeout,
    clearTimeout: real.clearTimeout,
    setBack(ms) {
      back = ms;
    },
  };
}

/**
 * The demo room on `clock`, with notices by webhook to `webhookUrl` sent at once (no batching
 * wait). Like the harness's startE2eSite, which takes no clock.
 */
async function startPackagesSite(
  kind: 'pglite' | 'postgres',
  pgBaseUrl: string | null,
  clock: Clock,
  webhookUrl: string,
): Promise<E2eSite> {
  await ensureWebBuilt();
  const dataDir = await makeTempDir(`parcelroom-e2e-packages-${kind}`);
  let dbName: string | undefined;
  const cleanup = async () => {
    await dataDir.cleanup();
    if (dbName && pgBaseUrl) await dropDatabase(pgBaseUrl, dbName);
  };
  try {
    const raw = demoSite();
    raw.notifications = {
      webhook: { url: webhookUrl, secret: WEBHOOK_SECRET },
      batchQuietMs: 0,
    };
    const siteFile = join(dataDir.path, 'site.json');
    await writeFile(siteFile, JSON.stringify(raw, null, 2));
    const env: Record<string, string> = {
      DATA_DIR: dataDir.path,
      PARCELROOM_CONFIG: siteFile,
      PARCELROOM_ADMIN_EMAIL: ADMIN.email,
      PARCELROOM_ADMIN_PASSWORD: ADMIN.password,
      PARCELROOM_LOG_LEVEL: 'error',
    };
    if (kind === 'postgres') {
      dbName = uniqueDatabaseName('e2e_packages');
      env.DATABASE_URL = await createDatabase(pgBaseUrl ?? '', dbName);
    }
    for (let attempt = 1; ; attempt++) {
      const config = loadConfig({ ...env, PORT: String(await getFreePort()), HOST: '127.0.0.1' });
      try {
        const server = await startServer(config, { webDir: WEB_BUILD_DIR, clock });
        return {
          server,
          async close() {
            await server.close();
            await cleanup();
          },
        };
      } catch (err) {
        // The free port was taken meanwhile: try another.
        if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 3) continue;
        throw err;
      }
    }
  } catch (err) {
    await cleanup();
    throw err;
  }
}

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
  package: { status: string; handedTo?: string; returnedAt?: string };
  items: {
    type: string;
    staffId?: string;
    decision?: string;
    clipWindow?: { from: string; to: string };
    details?: Record<string, unknown>;
  }[];
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
    let receiver: WebhookReceiver | undefined;
    const clock = settableClock();
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
      receiver = await startWebhookReceiver();
      site = await startPackagesSite(kind, pgBaseUrl, clock, receiver.url);
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
      clock.setBack(0);
      await browser?.close();
      await site?.close();
      await receiver?.close();
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

      // Grace's first notice (for the UPS parcel) meets a receiver that is down: retried later.
      receiver!.failNext(1, 503);

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

      // The server has the whole chain once its event journal has caught up (notice attempts
      // aside: the failed one is retried later, whenever that is).
      await expect
        .poll(
          async () =>
            (
              await json<Timeline>(
                api(server.url, `/api/packages/${ups.packageId}/timeline`, { cookie: admin }),
              )
            ).items
              .map((i) => i.type)
              .filter((t) => t !== 'notified'),
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

      // Its timeline: checked in, the notice, Grace's door entry, handed over by this staff member.
      await gone.getByRole('button', { name: 'Timeline' }).click();
      const dialog = page.getByRole('dialog', { name: /Chain of custody/ });
      await dialog.waitFor();
      const steps = dialog.locator('[data-testid="timeline-item"]:not([data-type="notified"])');
      await expect.poll(() => steps.count(), { timeout: 10_000 }).toBe(3);
      const titles = (await steps.locator('.title').allTextContents()).map((t) => t.trim());
      expect(titles).toEqual(['Checked in by you', 'Door entry — granted', 'Picked up']);
      expect(await steps.nth(0).textContent()).toContain(`to ${placeText(storage, ups)}`);
      // Who came in (once the panel has looked the residents up) and the entry's video window.
      const grace = `${GRACE.name} (${GRACE.unit})`;
      await steps
        .nth(1)
        .filter({ hasText: `Package room door · ${grace}` })
        .waitFor();
      const chain = await json<Timeline>(
        api(server.url, `/api/packages/${ups.packageId}/timeline`, { cookie: admin }),
      );
      const clip = chain.items.find((i) => i.type === 'access')?.clipWindow;
      expect(clip).toBeDefined();
      const clipText = steps.nth(1).getByTestId('timeline-clip');
      expect(await clipText.textContent()).toContain('Video window');
      expect(await clipText.locator('time').first().getAttribute('datetime')).toBe(clip!.from);
      expect(await clipText.locator('time').last().getAttribute('datetime')).toBe(clip!.to);
      expect(await steps.nth(2).textContent()).toContain(
        `Handed over at the desk by you to ${grace}`,
      );
      expect(await dialog.textContent()).toContain('Picked up');
      // Grace's first notice met the receiver down: the attempt, why, and when it is tried again.
      const failed = dialog
        .locator('[data-type="notified"]')
        .filter({ hasText: 'Webhook notice failed (attempt 1)' });
      await failed.waitFor({ timeout: 10_000 });
      expect(await failed.textContent()).toContain('503');
      expect(await failed.textContent()).toContain('retry at');
      expect(await failed.getAttribute('data-tone')).toBe('warn');

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
      expect(timeline.items.filter((i) => i.type !== 'notified').at(-1)).toMatchObject({
        type: 'package_picked_up',
        staffId,
        details: { by: 'staff', via: 'desk' },
      });
      expect(timeline.package.handedTo).toBeUndefined();
      expect(errors, 'uncaught errors in the page').toEqual([]);
    });

    it('hands a parcel to someone the resident sent and writes it on the timeline', async () => {
      const rows = page.getByTestId('parcel-row');
      const amazon = placed.get(AMAZON_1)!;

      // Grace's other parcel, still in the room (the search for 12A is still typed in).
      await page.getByLabel('Status', { exact: true }).selectOption({ label: 'In room' });
      await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(1);
      const row = rows.filter({ hasText: AMAZON_1 });
      await row.getByRole('button', { name: 'Hand over' }).click();
      const handedTo = row.getByLabel('Handed to (if not the resident)');
      // The confirm step opens on the name field: the desk types it and presses Enter.
      await expect.poll(() => activeId(page)).toBe(`handed-to-${amazon.packageId}`);
      await handedTo.fill(SENT_BY_GRACE);
      await page.screenshot({ path: shot('handed-to') });
      await handedTo.press('Enter');
      await page
        .getByRole('status')
        .filter({
          hasText: `Handed over ${AMAZON_1} to ${SENT_BY_GRACE}, for ${GRACE.name} (${GRACE.unit}).`,
        })
        .waitFor();
      await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(0);

      // The server wrote down who took it.
      const timeline = await json<Timeline>(
        api(server.url, `/api/packages/${amazon.packageId}/timeline`, { cookie: admin }),
      );
      expect(timeline.package).toMatchObject({ status: 'picked_up', handedTo: SENT_BY_GRACE });

      // Picked-up parcels say whom they went to.
      await page.getByLabel('Status', { exact: true }).selectOption({ label: 'Picked up' });
      const gone = rows.filter({ hasText: AMAZON_1 });
      await gone.waitFor();
      expect(await gone.getByTestId('handed-to').textContent()).toBe(`to ${SENT_BY_GRACE}`);

      await gone.getByRole('button', { name: 'Timeline' }).click();
      const dialog = page.getByRole('dialog', { name: /Chain of custody/ });
      await dialog.waitFor();
      expect(await dialog.getByTestId('timeline-handed-to').textContent()).toContain(SENT_BY_GRACE);
      const pickedUp = dialog.locator(
        '[data-testid="timeline-item"][data-type="package_picked_up"]',
      );
      await pickedUp
        .filter({
          hasText: `Handed over at the desk by you to ${SENT_BY_GRACE}, for ${GRACE.name} (${GRACE.unit})`,
        })
        .waitFor({ timeout: 10_000 });
      await dialog.getByRole('button', { name: 'Close' }).click();
      await dialog.waitFor({ state: 'hidden' });
      expect(errors, 'uncaught errors in the page').toEqual([]);
    });

    it('shows a parcel left eight days as overdue and returns it to the carrier', async () => {
      const queue = page.getByTestId('return-queue');
      const board = page.getByTestId('storage-board');
      const rows = page.getByTestId('parcel-row');

      // Nothing has waited long enough yet (7C's parcel came in minutes ago).
      await queue.getByTestId('returns-empty').waitFor();
      expect(await queue.getByTestId('returns-empty').textContent()).toContain('7 days');

      // A parcel for 7C checked in eight days ago: the server's clock is set back meanwhile.
      clock.setBack(8 * DAY_MS);
      let old: { id: string };
      try {
        old = await json<{ id: string }>(
          api(server.url, '/api/packages', {
            method: 'POST',
            cookie: admin,
            body: {
              trackingNumber: AMAZON_OLD,
              carrier: 'Amazon',
              unit: ALAN.unit,
              size: 'standard',
            },
          }),
          201,
        );
      } finally {
        clock.setBack(0);
      }
      const listed = await json<{ items: { id: string; overdue: boolean }[] }>(
        api(server.url, `/api/packages?q=${AMAZON_OLD}`, { cookie: admin }),
      );
      expect(listed.items).toEqual([expect.objectContaining({ id: old.id, overdue: true })]);

      // The desk opens the page afresh.
      await page.reload();
      await page.getByRole('heading', { level: 1, name: 'Packages', exact: true }).waitFor();

      // In the return queue, on its own: 7C's young parcel is not.
      const queued = queue.getByTestId('return-row');
      await queued.first().waitFor();
      expect(await queued.count()).toBe(1);
      expect(await queued.first().getAttribute('data-id')).toBe(old.id);
      const queuedText = await queued.first().textContent();
      expect(queuedText).toContain(AMAZON_OLD);
      expect(queuedText).toContain(ALAN.unit);
      expect(queuedText).toContain('8 days');

      // Overdue: highlighted in the list and counted on the board; the age filter finds it alone.
      const oldRow = rows.filter({ hasText: AMAZON_OLD });
      await oldRow.waitFor();
      expect(await oldRow.getAttribute('data-overdue')).toBe('true');
      expect(await oldRow.textContent()).toContain('Overdue');
      expect(await rows.filter({ hasText: AMAZON_2 }).getAttribute('data-overdue')).toBe('false');
      await board.getByTestId('storage-totals').filter({ hasText: '1 overdue' }).waitFor();
      await page.getByLabel('Age', { exact: true }).selectOption('overdue');
      await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(1);
      expect(await rows.first().getAttribute('data-id')).toBe(old.id);
      await page.getByLabel('Age', { exact: true }).selectOption('7');
      await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(1);
      await page.getByLabel('Age', { exact: true }).selectOption('any');
      await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(2);
      await page.screenshot({ path: shot('returns'), fullPage: true });

      // Given back to the carrier, with the reason.
      await queued.first().getByRole('button', { name: 'Returned to carrier' }).click();
      const reason = queued.first().getByLabel('Reason (optional)');
      await expect.poll(() => activeId(page)).toBe(`return-reason-${old.id}`);
      await reason.fill(RETURN_REASON);
      await page.screenshot({ path: shot('return-confirm') });
      await queued.first().getByRole('button', { name: 'Yes, returned' }).click();
      await queue
        .getByRole('status')
        .filter({ hasText: `Returned ${AMAZON_OLD} to Amazon.` })
        .waitFor();
      await queue.getByTestId('returns-empty').waitFor({ timeout: 10_000 });
      await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(1);
      await board
        .getByTestId('storage-totals')
        .filter({ hasText: '1 parcel in the room' })
        .waitFor();

      // Returned parcels are listed as such, and the timeline ends with the reason.
      await page.getByLabel('Status', { exact: true }).selectOption({ label: 'Returned' });
      const back = rows.filter({ hasText: AMAZON_OLD });
      await back.waitFor();
      expect(await back.getAttribute('data-status')).toBe('returned');
      await back.getByRole('button', { name: 'Timeline' }).click();
      const dialog = page.getByRole('dialog', { name: /Chain of custody/ });
      await dialog.waitFor();
      const returned = dialog.locator(
        '[data-testid="timeline-item"][data-type="package_returned"]',
      );
      await returned.waitFor({ timeout: 10_000 });
      expect((await returned.locator('.title').textContent())?.trim()).toBe(
        `Returned to sender: ${RETURN_REASON}`,
      );
      expect(await returned.textContent()).toContain('Given back to Amazon by you');
      const titles = await dialog.getByTestId('timeline-item').locator('.title').allTextContents();
      expect(titles.at(-1)?.trim()).toBe(`Returned to sender: ${RETURN_REASON}`);
      await page.screenshot({
        path: join(RESULTS_DIR, screenshot.replace('.png', '-returned.png')),
      });
      await dialog.getByRole('button', { name: 'Close' }).click();
      await dialog.waitFor({ state: 'hidden' });

      // The server agrees: returned, by this staff member, with the reason; the queue is empty.
      await expect
        .poll(
          async () =>
            (
              await json<Timeline>(
                api(server.url, `/api/packages/${old.id}/timeline`, { cookie: admin }),
              )
            ).items.find((i) => i.type === 'package_returned'),
          { timeout: 10_000 },
        )
        .toMatchObject({ staffId, details: { reason: RETURN_REASON } });
      const after = await json<{ items: unknown[] }>(
        api(server.url, '/api/packages/returns', { cookie: admin }),
      );
      expect(after.items).toEqual([]);
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
