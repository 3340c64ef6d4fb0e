/**
 * Roster import and webhooks in a real browser: Debian's Chromium against the server started
 * in-process, serving the built console, on embedded PGlite (the database paths run on both
 * databases in test/integration/roster.test.ts and webhooks.test.ts).
 *
 * An admin pastes a roster with one bad row on Residents → Import, sees the dry-run preview with
 * the bad row's line number and error, imports, sees the summary and the import in the history,
 * and finds the residents on the Residents page. Then adds a webhook subscription on Settings →
 * Webhooks and is shown its signing secret once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { LaunchedChromium } from '../harness/chromium.ts';
import { launchWithPage, signInAs } from '../harness/e2e.fixtures.ts';
import { startE2eSite, type E2eSite } from '../harness/e2e.server.ts';
import { requireChromium } from '../harness/requirements.ts';

const chromiumPath = requireChromium();
const ADMIN = { email: 'admin@roster.test', password: 'admin password for roster e2e' };

const CSV = [
  'unit,name,email,phone,external_id,move_in,move_out',
  '12A,"Okafor, Ada",ada@example.test,,pms-1,2025-06-01,',
  '12B,,nobody@example.test,,pms-2,,',
  '12C,Ben Ito,ben@example.test,+1 555 0102,pms-3,,',
].join('\n');

describe.skipIf(!chromiumPath)('roster import and webhooks in the console (pglite)', () => {
  let site: E2eSite | undefined;
  let browser: LaunchedChromium;
  let page: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    site = await startE2eSite({ kind: 'pglite', name: 'roster', admin: ADMIN, pgBaseUrl: null });
    ({ browser, page } = await launchWithPage(
      { baseURL: site.server.url, viewport: { width: 1280, height: 800 } },
      errors,
    ));
    await signInAs(page, ADMIN);
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await site?.close();
  });

  it('previews, imports and lists a roster with a bad row named by its line', async () => {
    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Residents' })
      .click();
    await page.getByRole('link', { name: 'Import residents from CSV' }).click();
    await page.getByRole('heading', { level: 1, name: 'Import residents' }).waitFor();

    await page.getByLabel('Or paste the CSV here').fill(CSV);
    await page.getByRole('button', { name: 'Preview' }).click();
    await page
      .getByText('Nothing is saved yet: 2 new, 0 updated, 0 moved out, 0 unchanged, 1 rejected.')
      .waitFor();
    const bad = page.getByRole('row').filter({ hasText: 'Rejected' });
    expect(await bad.getByRole('cell').first().textContent()).toBe('3');
    expect(await bad.textContent()).toContain('name: required');

    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await page.getByRole('heading', { name: 'Imported' }).waitFor();
    await page
      .getByText('2 new, 0 updated, 0 moved out, 0 unchanged, 1 rejected.')
      .first()
      .waitFor();
    const history = page.getByRole('region', { name: 'Import history' });
    await history.getByRole('cell', { name: 'CSV', exact: true }).waitFor();

    await page.getByRole('link', { name: '← Residents' }).click();
    await page.getByRole('cell', { name: 'Okafor, Ada', exact: true }).waitFor();
    await page.getByRole('cell', { name: 'Ben Ito', exact: true }).waitFor();
  });

  it('adds a webhook subscription and shows its secret once', async () => {
    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Settings' })
      .click();
    await page.getByRole('link', { name: 'Webhooks' }).click();
    await page.getByRole('heading', { level: 1, name: 'Webhooks' }).waitFor();
    await page.getByLabel('Receiver URL (http or https)').fill('https://pms.example.test/hooks');
    await page.getByLabel('parcel.checked_in').check();
    await page.getByRole('button', { name: 'Add subscription' }).click();
    const secret = page.locator('code.secret');
    await secret.waitFor();
    expect(await secret.textContent()).toMatch(/^whsec_/);
    await page.getByRole('cell', { name: 'https://pms.example.test/hooks', exact: true }).waitFor();
    await page.getByRole('heading', { name: 'Catalogue' }).waitFor();
    expect(errors).toEqual([]);
  });
});
