/**
 * The package room's kiosk in a real browser: Debian's Chromium as a 768×1024 portrait tablet,
 * against the server started in-process on a real port (serving the built console) with the demo
 * room, e-mail notices going to a real SMTP server started by the test.
 *
 * A carrier's visit: their code opens the door on the keypad (the simulated reader), they type
 * the same code on the kiosk's keypad and check three parcels in for two units by scanning labels
 * (keyboard input, as a handheld scanner sends it) and tapping recipients, each place shown huge
 * where the API put it; a second scan of a parcel already in is refused in words. "Done" sends
 * each resident exactly one e-mail listing their parcels. Then a resident badges in at the door:
 * the kiosk offers "Tap to see your parcels", she takes one by tapping its card and one by
 * scanning its label, and is stopped loudly when she scans the other unit's parcel. Last, staff
 * sign in to the console: the storage board shows only the parcel that is still waiting.
 */
import { mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/main.ts';
import type { LaunchedChromium } from '../harness/chromium.ts';
import {
  badge,
  collectPageErrors,
  createResidentWithCard,
  emailNoticeSite,
  expectJson,
  launchWithPage,
  sessionCookie,
} from '../harness/e2e.fixtures.ts';
import { api, signIn, startE2eSite, type E2eSite } from '../harness/e2e.server.ts';
import { requireChromium } from '../harness/requirements.ts';
import { startSmtpServer, type TestSmtpServer } from '../harness/smtp.server.ts';

const chromiumPath = requireChromium();

/** Screenshots to look at: the kiosk at tablet size, each screen. */
const SHOTS_DIR = '/tmp';

const ADMIN = { email: 'admin@kiosk.test', password: 'admin password for kiosk e2e' };
const GRACE = { name: 'Grace Hopper', unit: '12A', email: 'grace@example.test' };
const ALAN = { name: 'Alan Turing', unit: '7C', email: 'alan@example.test' };
const CARD = { facility: 42, card: 31337 };

const UPS = '1Z999AA10123456784';
const UPS_BAD_CHECK_DIGIT = '1Z999AA10123456785';
const AMAZON = 'TBA000000000001';
/** A USPS IMpb number as printed on the label, in groups of four. */
const USPS_PRINTED = '9400 1112 0108 0805 4830 16';
const USPS = '9400111201080805483016';

interface Location {
  kind: string;
  id: string;
  label: string;
}
interface Listed {
  id: string;
  trackingNumber: string;
  status: string;
  location: Location;
}

/** The id of the element with the keyboard focus (test code has no DOM types, hence a string). */
const activeId = (page: Page): Promise<string> =>
  page.evaluate<string>('document.activeElement ? document.activeElement.id : ""');

const shot = (name: string): string => `${SHOTS_DIR}/kiosk-${name}.png`;

describe.skipIf(!chromiumPath)('the package-room kiosk in Chromium', () => {
  let smtp: TestSmtpServer;
  let site: E2eSite | undefined;
  let server: RunningServer;
  let browser: LaunchedChromium | undefined;
  let page: Page;
  const errors: string[] = [];
  let admin: string;
  let code: string;

  /** The parcel as the API lists it: where the kiosk must say it is. */
  async function fromApi(tracking: string): Promise<Listed> {
    const body = await expectJson<{ items: Listed[] }>(
      api(server.url, `/api/packages?q=${tracking}`, { cookie: admin }),
    );
    expect(body.items).toHaveLength(1);
    return body.items[0]!;
  }

  /** The place panel shows this parcel's place, big. */
  async function expectPlace(location: Location): Promise<void> {
    const place = page.locator(`[data-testid="kiosk-place"][data-location-id="${location.id}"]`);
    await place.waitFor();
    const headline = (await place.getByTestId('kiosk-place-headline').textContent()) ?? '';
    expect(headline).toContain(location.label);
    // Big enough to read from across the room with a parcel in both hands.
    const fontSize = await page.evaluate<string>(
      'getComputedStyle(document.querySelector(\'[data-testid="kiosk-place-headline"]\')).fontSize',
    );
    expect(Number.parseFloat(fontSize)).toBeGreaterThanOrEqual(48);
  }

  /** Type the delivery code on the kiosk's on-screen keypad, key by key. */
  async function typeOnKioskKeypad(digits: string): Promise<void> {
    for (const d of digits) await page.getByTestId(`kiosk-key-${d}`).click();
    await page.locator(`[data-testid="kiosk-code"][data-length="${digits.length}"]`).waitFor();
    await page.getByRole('button', { name: 'Start check-in' }).click();
  }

  beforeAll(async () => {
    smtp = await startSmtpServer();
    // Batching longer than the test: a notice that goes out does so because the carrier tapped
    // Done.
    const raw = emailNoticeSite(smtp, 3_600_000);
    site = await startE2eSite({
      kind: 'pglite',
      name: 'kiosk',
      admin: ADMIN,
      pgBaseUrl: null,
      site: raw,
    });
    server = site.server;

    // Set-up through the API as the admin: two residents with e-mail, a card, a carrier code.
    admin = await sessionCookie(server.url, ADMIN);
    await createResidentWithCard(server.url, admin, GRACE, CARD);
    await expectJson(
      api(server.url, '/api/residents', { method: 'POST', body: ALAN, cookie: admin }),
      201,
    );
    ({ code } = await expectJson<{ code: string }>(
      api(server.url, '/api/carrier-codes', {
        method: 'POST',
        cookie: admin,
        body: { carrier: 'UPS', validUntil: new Date(Date.now() + 8 * 3_600_000).toISOString() },
      }),
      201,
    ));

    // A portrait tablet on the package room's wall.
    ({ browser, page } = await launchWithPage(
      { baseURL: server.url, viewport: { width: 768, height: 1024 }, hasTouch: true },
      errors,
    ));
    mkdirSync(SHOTS_DIR, { recursive: true });
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await site?.close();
    await smtp?.close();
  });

  it('lets a carrier check three parcels in for two units and tells each resident once', async () => {
    await page.goto('/kiosk?door=front');
    await page.getByRole('heading', { name: 'Delivering?' }).waitFor();
    await page.screenshot({ path: shot('start') });

    // The code has not opened the door yet: refused, in words the carrier can act on.
    await typeOnKioskKeypad(code);
    const startError = page.getByTestId('kiosk-error');
    await startError.filter({ hasText: 'Type it on the door keypad first' }).waitFor();
    // The code is not left on the screen for the next person.
    await page.locator('[data-testid="kiosk-code"][data-length="0"]').waitFor();

    // The carrier's code opens the door on the keypad (the simulated reader).
    const entry = await expectJson<{ decision?: string }>(
      api(server.url, '/api/sim/readers/front-reader/keys', {
        method: 'POST',
        cookie: admin,
        body: { keys: `${code}#`, mode: '4bit' },
      }),
    );
    expect(entry.decision).toBe('granted');

    // The same code on the kiosk: the UPS visit opens, ready for the first scan.
    await typeOnKioskKeypad(code);
    await page.getByRole('heading', { name: 'UPS delivery' }).waitFor();
    await expect.poll(() => activeId(page)).toBe('kiosk-tracking');

    // 1. UPS for Grace: scan (number + Enter), find her by name, Enter checks it in.
    await page.keyboard.type(UPS);
    await page.keyboard.press('Enter');
    await expect.poll(() => activeId(page)).toBe('kiosk-recipient');
    await page.keyboard.type('Hopper');
    await page.getByRole('button', { name: `${GRACE.name} — ${GRACE.unit}`, exact: true }).click();
    await page.getByTestId('kiosk-recipient').filter({ hasText: GRACE.name }).waitFor();
    await page.keyboard.press('Enter'); // the Check in button has the focus
    await page.getByTestId('kiosk-place').filter({ hasText: UPS }).waitFor();
    const first = await fromApi(UPS);
    expect(first.location.kind).toBe('shelf');
    await expectPlace(first.location);
    expect(await page.getByTestId('kiosk-place').textContent()).toContain(
      `${UPS} for ${GRACE.name} — ${GRACE.unit}`,
    );
    await page.screenshot({ path: shot('carrier') });

    // 2. Amazon for Grace again: the next scan goes straight in (focus came back to the scan
    // field), and "Same as last" saves typing her name.
    await expect.poll(() => activeId(page)).toBe('kiosk-tracking');
    await page.keyboard.type(AMAZON);
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: `Same as last: ${GRACE.name} — ${GRACE.unit}` }).click();
    await page.getByRole('button', { name: 'Check in', exact: true }).click();
    await page.getByTestId('kiosk-place').filter({ hasText: AMAZON }).waitFor();
    const second = await fromApi(AMAZON);
    await expectPlace(second.location);
    // One resident's parcels sit together.
    expect(second.location.id).toBe(first.location.id);

    // 3. An oversized USPS parcel for unit 7C, no name on the label; the number typed as printed.
    await page.getByRole('button', { name: 'Type it' }).click();
    await expect.poll(() => activeId(page)).toBe('kiosk-tracking');
    await page.keyboard.type(USPS_PRINTED);
    await page.getByRole('button', { name: /^Oversized/ }).click();
    await page.getByLabel('Who is it for?').fill('7c');
    await page.getByRole('button', { name: 'Unit 7c (no name)' }).click();
    await page.getByRole('button', { name: 'Check in', exact: true }).click();
    await page.locator('[data-testid="kiosk-place"][data-kind="oversized"]').waitFor();
    const third = await fromApi(USPS);
    expect(third.location.kind).toBe('oversized');
    await expectPlace(third.location);
    expect(await page.getByTestId('kiosk-visit-item').count()).toBe(3);
    expect(await page.getByTestId('kiosk-visit-count').textContent()).toContain(
      '3 parcels checked in',
    );
    await page.setViewportSize({ width: 1024, height: 768 });
    await page.screenshot({ path: shot('carrier-landscape') });
    await page.setViewportSize({ width: 768, height: 1024 });

    // The same label scanned twice, and a misread check digit: refused, nothing checked in. The
    // recipient chosen for a refused duplicate is dropped (the next label is another parcel).
    await page.getByRole('button', { name: 'Scanner' }).click();
    await page.keyboard.type(UPS);
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: `Same as last: Unit 7c` }).click();
    await page.keyboard.press('Enter');
    const carrierError = page.getByTestId('kiosk-error');
    await carrierError.filter({ hasText: 'already checked in' }).waitFor();
    await expect.poll(() => activeId(page)).toBe('kiosk-tracking');
    await page.keyboard.type(UPS_BAD_CHECK_DIGIT);
    await page.keyboard.press('Enter');
    await page.keyboard.type('Turing');
    await page.getByRole('button', { name: `${ALAN.name} — ${ALAN.unit}` }).waitFor();
    await page.keyboard.press('Enter'); // picks the first match
    await page.keyboard.press('Enter'); // checks it in
    await carrierError.filter({ hasText: 'does not check out' }).waitFor();
    expect(await page.getByTestId('kiosk-visit-item').count()).toBe(3);

    // The visit lives in an httpOnly cookie for the kiosk's API only.
    const during = await browser!.context.cookies(`${server.url}/api/kiosk/session`);
    expect(during.find((c) => c.name === 'parcelroom_kiosk')).toMatchObject({
      httpOnly: true,
      path: '/api/kiosk',
    });

    // Nothing has gone out while the carrier was scanning; Done sends one e-mail per resident.
    expect(smtp.messages).toHaveLength(0);
    await page.getByRole('button', { name: 'Done', exact: true }).click();
    await page.getByTestId('kiosk-goodbye').filter({ hasText: 'Thank you' }).waitFor();
    await expect.poll(() => smtp.messages.length, { timeout: 15_000 }).toBe(2);
    await new Promise((r) => setTimeout(r, 300));
    expect(smtp.messages).toHaveLength(2);
    const grace = smtp.messages.filter((m) => m.envelope.to.includes(GRACE.email));
    const alan = smtp.messages.filter((m) => m.envelope.to.includes(ALAN.email));
    expect(grace).toHaveLength(1);
    expect(alan).toHaveLength(1);
    expect(grace[0]!.text).toContain(UPS);
    expect(grace[0]!.text).toContain(AMAZON);
    expect(grace[0]!.text).not.toContain(USPS);
    expect(alan[0]!.text).toContain(USPS);
    expect(alan[0]!.text).not.toContain(UPS);

    // The visit is over: the browser holds no kiosk session any more.
    const cookies = await browser!.context.cookies(`${server.url}/api/kiosk/session`);
    expect(cookies.map((c) => c.name)).not.toContain('parcelroom_kiosk');
    expect(errors, 'uncaught errors in the page').toEqual([]);
  });

  it('shows a resident who badged in her parcels, and stops her taking someone else’s', async () => {
    await page.getByRole('button', { name: 'Back to start' }).click();
    await page.getByRole('heading', { name: 'Picking up?' }).waitFor();
    const seeParcels = page.getByRole('button', { name: 'Tap to see your parcels' });
    expect(await seeParcels.count()).toBe(0);

    // Grace badges in at the door; the kiosk, asking every 2 s, offers her screen.
    const entry = await badge(server.url, admin, 'front-reader', CARD);
    expect(entry.decision).toBe('granted');
    await seeParcels.waitFor({ timeout: 10_000 });
    await page.screenshot({ path: shot('resident-waiting') });
    await seeParcels.click();

    await page.getByRole('heading', { name: /^Hello, Grace/ }).waitFor();
    const cards = page.getByTestId('kiosk-parcel');
    await expect.poll(() => cards.count()).toBe(2);
    const ups = await fromApi(UPS);
    const upsCard = page.locator(`[data-testid="kiosk-parcel"][data-tracking="${UPS}"]`);
    expect(await upsCard.textContent()).toContain(ups.location.label);
    // Not the other unit's parcel.
    expect(await page.locator(`[data-tracking="${USPS}"]`).count()).toBe(0);
    await page.screenshot({ path: shot('resident') });

    // Taken by tapping its card and confirming.
    await upsCard.getByRole('button').click();
    await upsCard.getByRole('button', { name: 'Yes, I took it' }).click();
    await page.getByTestId('kiosk-thanks').filter({ hasText: UPS }).waitFor();
    await expect.poll(() => cards.count()).toBe(1);

    // Taken by scanning its label: the scan field has the focus again.
    await expect.poll(() => activeId(page)).toBe('kiosk-scan');
    await page.keyboard.type(AMAZON);
    await page.keyboard.press('Enter');
    await page.getByTestId('kiosk-thanks').filter({ hasText: AMAZON }).waitFor();
    await expect.poll(() => cards.count()).toBe(0);
    await page.getByTestId('kiosk-all-taken').waitFor();

    // Unit 7C's parcel scanned by Grace: refused, prominently, and the desk hears of it.
    await expect.poll(() => activeId(page)).toBe('kiosk-scan');
    await page.keyboard.type(USPS);
    await page.keyboard.press('Enter');
    const alarm = page.getByTestId('kiosk-alarm');
    await alarm.waitFor();
    expect(await alarm.textContent()).toContain(
      'This parcel is for someone else. Please put it back; the desk has been told.',
    );
    expect(await alarm.getAttribute('role')).toBe('alert');
    await page.screenshot({ path: shot('wrong-pickup') });
    await expect
      .poll(
        async () =>
          (
            await expectJson<{ items: { type: string }[] }>(
              api(server.url, '/api/events?type=wrong_pickup', { cookie: admin }),
            )
          ).items.length,
        { timeout: 10_000 },
      )
      .toBe(1);
    await alarm.getByRole('button', { name: 'I put it back' }).click();
    await alarm.waitFor({ state: 'hidden' });

    // The same screen at 1024×768 (a landscape tablet) before she leaves.
    await page.setViewportSize({ width: 1024, height: 768 });
    await page.screenshot({ path: shot('resident-landscape') });
    await page.setViewportSize({ width: 768, height: 1024 });

    await page.getByRole('button', { name: 'Done', exact: true }).click();
    await page.getByTestId('kiosk-goodbye').waitFor();
    expect((await fromApi(UPS)).status).toBe('picked_up');
    expect((await fromApi(AMAZON)).status).toBe('picked_up');
    expect((await fromApi(USPS)).status).toBe('checked_in');
    expect(errors, 'uncaught errors in the page').toEqual([]);
  });

  it('leaves only the waiting parcel on the console’s storage board', async () => {
    const graceSlot = (await fromApi(UPS)).location.id;
    const console = await browser!.context.newPage();
    collectPageErrors(console, errors);
    await console.setViewportSize({ width: 1280, height: 900 });
    await console.goto('/login?next=/packages');
    await signIn(console, ADMIN.email, ADMIN.password);
    await console.getByRole('heading', { level: 1, name: 'Packages', exact: true }).waitFor();
    const board = console.getByTestId('storage-board');
    await board.getByTestId('storage-totals').filter({ hasText: '1 parcel' }).waitFor();
    await board.locator(`[data-testid="slot-${graceSlot}"][data-count="0"]`).waitFor();
    const oversized = board.locator('[data-testid="slot-oversized"][data-count="1"]');
    await oversized.waitFor();
    expect(await oversized.getByTestId('slot-owners').textContent()).toContain(ALAN.unit);
    expect(await oversized.getByTestId('slot-item').getAttribute('title')).toBe(USPS);
    await console.close();
    expect(errors, 'uncaught errors in the pages').toEqual([]);
  });

  it('goes back to the start screen by itself when a visit is left alone', async () => {
    // The carrier comes back for a second round, then walks off without tapping Done.
    const entry = await expectJson<{ decision?: string }>(
      api(server.url, '/api/sim/readers/front-reader/keys', {
        method: 'POST',
        cookie: admin,
        body: { keys: `${code}#`, mode: '4bit' },
      }),
    );
    expect(entry.decision).toBe('granted');
    // A 5 s screen timeout instead of the server's 15 minutes.
    await page.goto('/kiosk?door=front&idle=5');
    await page.getByRole('heading', { name: 'Delivering?' }).waitFor();
    await page.setViewportSize({ width: 1024, height: 768 });
    await page.screenshot({ path: shot('start-landscape') });
    await page.setViewportSize({ width: 768, height: 1024 });
    await typeOnKioskKeypad(code);
    await page.getByRole('heading', { name: 'UPS delivery' }).waitFor();

    await page.getByRole('alertdialog', { name: 'Are you still there?' }).waitFor();
    await page.getByRole('heading', { name: 'Delivering?' }).waitFor({ timeout: 15_000 });
    // The server's session was ended too, not just the screen.
    const status = await page.evaluate<number>(
      "fetch('/api/kiosk/session', { credentials: 'same-origin' }).then((r) => r.status)",
    );
    expect(status).toBe(401);
    expect(errors, 'uncaught errors in the page').toEqual([]);
  });
});
