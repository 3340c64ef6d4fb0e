/**
 * The Audit and Cases pages in a real browser: Debian's Chromium against the server started
 * in-process with the demo room's simulated camera recorded by the real ffmpeg (2 s segments, a
 * 6 s clip window per entry), as test/e2e/clips.test.ts sets it up.
 *
 * "Who took 4B's parcel?": a 4B resident badges in at the simulated reader. A manager searches
 * unit 4B on the Audit page (the search lands in the URL and survives a reload), saves and runs
 * the search, plays the entry's clip inline (the video's currentTime moves), adds the entry to a
 * new case, exports the case, and downloads the ZIP. The ZIP's SHA-256 is the one the page shows,
 * and verifyEvidenceZip accepts it against the site's published key; a copy with one byte of the
 * clip changed is refused. An admin then finds the manager's clip view and download under "Who
 * viewed what". A long timeline (another unit's 55 entries) pages with "Load more", every row
 * once and in the API's order. A staff member sees neither Audit nor Cases in the menu and is
 * refused both.
 *
 * Screenshots: /tmp/audit-search.png, /tmp/audit-case.png.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { unzipSync, zipSync } from 'fflate';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyEvidenceZip } from '../../server/cases/index.ts';
import type { LaunchedChromium } from '../harness/chromium.ts';
import {
  badge,
  cameraRecording,
  createResidentWithCard,
  createStaff,
  expectPlaysFromStart,
  launchWithPage,
  requireRecordedSimCamera,
  sessionCookie,
  shortClipSite,
  signInAs,
  videoLoaded,
} from '../harness/e2e.fixtures.ts';
import { api, startE2eSite, type E2eSite } from '../harness/e2e.server.ts';
import { requireChromium } from '../harness/requirements.ts';

const chromiumPath = requireChromium();
const canRun = (await requireRecordedSimCamera('the audit e2e test')) && chromiumPath !== null;

const ADMIN = { email: 'admin@audit.test', password: 'admin password for audit e2e' };
const MANAGER = { email: 'manager@audit.test', password: 'manager password for audit e2e' };
const STAFF = { email: 'desk@audit.test', password: 'staff password for audit e2e' };
const CAMERA = 'room-cam';
const READER = 'front-reader';
const RESIDENT = { name: 'Grace Hopper', unit: '4B' };
const CARD = { facility: 21, card: 4242 };
const CASE_TITLE = "Who took 4B's parcel?";

describe.skipIf(!canRun)('Audit and Cases pages in Chromium', () => {
  let site: E2eSite | undefined;
  let browser: LaunchedChromium | undefined;
  let page: Page;
  let url: string;
  let adminCookie: string;
  const errors: string[] = [];

  beforeAll(async () => {
    site = await startE2eSite({
      kind: 'pglite',
      name: 'audit',
      admin: ADMIN,
      pgBaseUrl: null,
      site: shortClipSite(),
    });
    url = site.server.url;
    adminCookie = await sessionCookie(url, ADMIN);
    const cookie = adminCookie;
    for (const [who, role] of [
      [MANAGER, 'manager'],
      [STAFF, 'staff'],
    ] as const) {
      await createStaff(url, cookie, { ...who, name: `${role} of the audit test`, role });
    }
    await createResidentWithCard(url, cookie, RESIDENT, CARD);
    await cameraRecording(url, cookie, CAMERA);

    // 4B's resident badges in: the entry the manager will look for.
    expect(await badge(url, cookie, READER, CARD)).toMatchObject({ decision: 'granted' });

    ({ browser, page } = await launchWithPage(
      { baseURL: url, viewport: { width: 1280, height: 900 }, acceptDownloads: true },
      errors,
    ));
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await site?.close();
  });

  it("a manager finds 4B's entry, plays it, files it in a case and exports verifiable evidence", async () => {
    await signInAs(page, MANAGER, '/audit');
    await page.getByRole('heading', { level: 1, name: 'Audit', exact: true }).waitFor();
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Cases', exact: true }).waitFor();
    // Who viewed what is for admins.
    expect(await page.getByRole('link', { name: 'Who viewed what' }).count()).toBe(0);

    // --- The search: unit 4B, kept in the address bar -------------------------------------
    const search = page.getByRole('search', { name: 'Search the audit timeline' });
    await search.getByLabel('Unit').fill(RESIDENT.unit);
    await search.getByRole('button', { name: 'Search', exact: true }).click();
    await page.waitForURL((u) => u.pathname === '/audit' && u.searchParams.get('unit') === '4B');
    const results = page.getByRole('table', { name: 'Audit results, newest first' });
    const entry = results
      .getByTestId('audit-row')
      .filter({ hasText: 'Access granted' })
      .filter({ hasText: `${RESIDENT.name} (${RESIDENT.unit})` });
    await entry.waitFor();
    // Only 4B's: every row is about its resident.
    for (const text of await results.getByTestId('audit-row').allTextContents()) {
      expect(text).toContain(`${RESIDENT.name} (${RESIDENT.unit})`);
    }
    // The CSV link exports the same search.
    expect(
      await page.getByRole('link', { name: 'Export this search as CSV' }).getAttribute('href'),
    ).toBe('/api/audit/search.csv?unit=4B');
    const csv = await page.evaluate(async () => {
      const res = await fetch('/api/audit/search.csv?unit=4B', { credentials: 'same-origin' });
      return { status: res.status, text: await res.text() };
    });
    expect(csv.status).toBe(200);
    expect(csv.text).toContain(RESIDENT.name);

    // A shared link: the same search after a reload, with the form filled in.
    await page.reload();
    await entry.waitFor();
    expect(await search.getByLabel('Unit').inputValue()).toBe('4B');

    // Saved: cleared, run again from the list, deleted.
    await page.getByLabel('Name for this search').fill('4B comings and goings');
    await page.getByRole('button', { name: 'Save search' }).click();
    const run = page.getByRole('button', { name: 'Run saved search: 4B comings and goings' });
    await run.waitFor();
    await search.getByRole('button', { name: 'Clear filters' }).click();
    await page.waitForURL((u) => u.pathname === '/audit' && u.search === '');
    expect(await search.getByLabel('Unit').inputValue()).toBe('');
    await run.click();
    await page.waitForURL((u) => u.searchParams.get('unit') === '4B');
    await entry.waitFor();
    await page.getByRole('button', { name: 'Delete saved search: 4B comings and goings' }).click();
    await run.waitFor({ state: 'detached' });

    // --- The entry's clip, inline --------------------------------------------------------
    await entry.getByRole('button', { name: /^Play clip: Access granted at / }).click();
    // Until the window is on disk the player says it is still recording, then plays by itself.
    await page.getByTestId('clip-video').waitFor({ timeout: 60_000 });
    await videoLoaded(page, 'clip-video');
    await expectPlaysFromStart(page, 'clip-video');
    await page.screenshot({ path: '/tmp/audit-search.png', fullPage: true });

    // --- Into a new case -----------------------------------------------------------------
    await entry.getByRole('button', { name: /^Add to case: Access granted at / }).click();
    const addForm = page.getByRole('form', { name: /^Add Access granted at .* to a case$/ });
    expect(await addForm.getByLabel('Case', { exact: true }).inputValue()).toBe('__new__');
    await addForm.getByLabel('New case title').fill(CASE_TITLE);
    await addForm.getByLabel('Note (optional)').fill('Resident says the parcel was gone by 6 pm');
    await addForm.getByRole('button', { name: 'Add', exact: true }).click();
    const added = page.getByTestId('added-to-case');
    await added.waitFor();
    await added.getByRole('link', { name: CASE_TITLE }).click();

    await page.getByRole('heading', { level: 1, name: CASE_TITLE }).waitFor();
    const items = page.getByRole('table', { name: 'Entries of this case' });
    const item = items.getByTestId('audit-row').filter({ hasText: 'Access granted' });
    await item.waitFor();
    await item.getByText('Resident says the parcel was gone by 6 pm').waitFor();
    await item.getByRole('button', { name: /^Play clip: Access granted at / }).waitFor();

    // --- The evidence package ------------------------------------------------------------
    await page.getByRole('button', { name: 'Export evidence' }).click();
    const status = page.getByTestId('export-status');
    await status.waitFor();
    const done = page.locator('[data-testid="export-status"]:not([data-status="building"])');
    await done.waitFor({ timeout: 90_000 });
    expect(await done.getAttribute('data-status'), (await done.textContent()) ?? '').toBe('ready');
    const shown = (await page.getByTestId('export-sha256').textContent())?.trim() ?? '';
    expect(shown).toMatch(/^[0-9a-f]{64}$/);
    await page.getByRole('table', { name: 'Past exports' }).getByText(shown).waitFor();
    await page.screenshot({ path: '/tmp/audit-case.png', fullPage: true });

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download evidence ZIP' }).click(),
    ]);
    const file = await download.path();
    const zip = new Uint8Array(await readFile(file));
    expect(createHash('sha256').update(zip).digest('hex')).toBe(shown);

    // Checked as a recipient would: against the key the site publishes.
    const keys = await api(url, '/api/evidence/keys', { cookie: adminCookie });
    expect(keys.status).toBe(200);
    const trustedKeys = ((await keys.json()) as { items: { publicKeyPem: string }[] }).items.map(
      (k) => k.publicKeyPem,
    );
    const verified = verifyEvidenceZip(zip, { trustedKeys });
    expect(verified.problems).toEqual([]);
    expect(verified.ok).toBe(true);
    const clipPath = verified.manifest?.files.find((f) => f.path.endsWith('.mp4'))?.path;
    expect(clipPath, 'the package holds the entry clip').toBeDefined();

    // One byte of the clip changed, re-zipped: the manifest no longer matches.
    const files = unzipSync(zip);
    const clip = files[clipPath!]!;
    clip[clip.length >> 1] = clip[clip.length >> 1]! ^ 0xff;
    const tampered = verifyEvidenceZip(zipSync(files), { trustedKeys });
    expect(tampered.ok).toBe(false);
    expect(tampered.problems).toContainEqual(
      expect.objectContaining({ kind: 'hash_mismatch', path: clipPath }),
    );

    // Closing the case: it moves to the closed list.
    await page.getByRole('button', { name: 'Close case' }).click();
    await page.locator('[data-testid="case-status"]', { hasText: 'Closed' }).waitFor();
    await page.getByRole('button', { name: 'Reopen case' }).waitFor();
    // A closed case's entries stay put: nothing to remove.
    expect(await item.getByRole('button', { name: /^Remove from case/ }).count()).toBe(0);
    await page.getByRole('link', { name: '← Cases' }).click();
    await page.getByRole('heading', { level: 1, name: 'Cases', exact: true }).waitFor();
    await page.getByTestId('cases-empty').waitFor();
    await page.getByLabel('Show').selectOption('closed');
    const closed = page
      .getByRole('table', { name: 'Closed cases' })
      .getByTestId('case-row')
      .filter({ hasText: CASE_TITLE });
    await closed.waitFor();
    // Title, opened, by, entries, exports.
    expect((await closed.locator('td').allTextContents()).slice(2).map((t) => t.trim())).toEqual([
      'you',
      '1',
      '1',
    ]);

    expect(errors, 'uncaught errors in the page').toEqual([]);
  });

  it('an admin sees who watched the clip and who downloaded the evidence', async () => {
    await signInAs(page, ADMIN, '/audit');
    await page.getByRole('link', { name: 'Who viewed what' }).click();
    await page.getByRole('heading', { level: 1, name: 'Who viewed what' }).waitFor();
    const rows = page.getByRole('table', { name: 'Views and exports, newest first' });
    const byManager = rows.getByTestId('view-row').filter({ hasText: MANAGER.email });
    await byManager.filter({ hasText: 'clip' }).first().waitFor();
    await byManager.filter({ hasText: 'evidence download' }).first().waitFor();
    await byManager.filter({ hasText: 'search export (CSV)' }).first().waitFor();
    expect(errors, 'uncaught errors in the page').toEqual([]);
  });

  it('pages through a long timeline with "Load more", each entry once', async () => {
    // Another unit's resident badges in often enough for more than one page (50 rows).
    const cookie = adminCookie;
    const card = { facility: 21, card: 7007 };
    await createResidentWithCard(url, cookie, { name: 'Alan Turing', unit: '7A' }, card);
    for (let i = 0; i < 55; i++) {
      expect(await badge(url, cookie, READER, card)).toMatchObject({ decision: 'granted' });
    }
    // The journal stores each entry a moment after the door decided: all 55, then the API's list.
    await site!.server.services.journal.drained();
    const all = await api(url, '/api/audit/search?unit=7A&type=access&limit=500', { cookie });
    const expected = ((await all.json()) as { items: { id: string }[] }).items.map((r) => r.id);
    expect(expected.length).toBeGreaterThan(50);

    await signInAs(page, MANAGER, '/audit');
    // Entries only: the door's own events follow each badge on their own time.
    await page.goto('/audit?unit=7A&type=access');
    const rows = page
      .getByRole('table', { name: 'Audit results, newest first' })
      .getByTestId('audit-row');
    await expect.poll(() => rows.count()).toBe(50);
    const more = page.getByRole('button', { name: 'Load more' });
    while ((await more.count()) > 0) {
      const before = await rows.count();
      await more.click();
      await expect.poll(() => rows.count()).toBeGreaterThan(before);
    }
    const shown = await rows.evaluateAll((els) => els.map((el) => el.getAttribute('data-id')));
    expect(shown).toEqual(expected);
    expect(errors, 'uncaught errors in the page').toEqual([]);
  });

  it('a staff member sees neither Audit nor Cases and is refused both', async () => {
    await signInAs(page, STAFF);
    const nav = page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Packages', exact: true }).waitFor();
    expect(await nav.getByRole('link', { name: 'Audit', exact: true }).count()).toBe(0);
    expect(await nav.getByRole('link', { name: 'Cases', exact: true }).count()).toBe(0);

    await page.goto('/audit?unit=4B');
    await page.getByText('The audit timeline is available to managers and admins.').waitFor();
    expect(await page.getByTestId('audit-row').count()).toBe(0);
    await page.goto('/cases');
    await page.getByText('Cases are available to managers and admins.').waitFor();

    // The server refuses regardless of what the console shows.
    const cookie = await sessionCookie(url, STAFF);
    for (const path of ['/api/audit/search?unit=4B', '/api/audit/search.csv', '/api/cases']) {
      const res = await api(url, path, { cookie });
      expect(res.status, path).toBe(403);
    }
    expect(errors, 'uncaught errors in the page').toEqual([]);
  });
});
