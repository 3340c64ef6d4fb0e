import { createRequire } from 'node:module';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pickupCodes } from '../../db/index.ts';
import { loadAccessFingerprint, loadAccessSnapshot } from '../../server/access/snapshot.loader.ts';
import { demoSite, parseSite } from '../../server/config/index.ts';
import { createTestApp, databaseKinds, type TestApp } from '../harness/app.harness.ts';
import { startSmtpServer, type ReceivedMail, type TestSmtpServer } from '../harness/smtp.server.ts';

// pngjs comes with qrcode (it writes the PNGs); here it reads them back for jsQR. Both are
// CommonJS; required directly so the typings' default export matches what Node hands over.
const require = createRequire(import.meta.url);
const { PNG } = require('pngjs') as {
  PNG: { sync: { read(b: Buffer): { width: number; height: number; data: Buffer } } };
};
const jsQR = require('jsqr') as (
  data: Uint8ClampedArray,
  width: number,
  height: number,
) => { data: string } | null;

type Json = Record<string, unknown>;
const json = async (res: Response) => (await res.json()) as Json;
const amazon = (n: number) => `TBA${String(n).padStart(12, '0')}`;
const DAY = 86_400_000;
const PUBLIC = 'http://parcelroom.test';

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The inline QR image of an e-mail, decoded to the text it carries. */
function qrText(mail: ReceivedMail): string {
  const part = mail.raw
    .split(/\r?\n--[^\r\n]+/)
    .find(
      (p) => /content-type: image\/png/i.test(p) && /content-id: <pickup-qr@parcelroom>/i.test(p),
    );
  if (!part) throw new Error('no inline QR image in the e-mail');
  const body = part.slice(part.search(/\r?\n\r?\n/)).replace(/\s+/g, '');
  const png = PNG.sync.read(Buffer.from(body, 'base64'));
  const found = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  if (!found) throw new Error('the QR image does not decode');
  return found.data;
}

const codeIn = (mail: ReceivedMail) => /Your (?:new )?pickup code: (\d{6})/.exec(mail.text)?.[1];

describe.each(databaseKinds())('pickup codes and vacation holds (%s)', (kind) => {
  let smtp: TestSmtpServer;
  let t: TestApp;
  let staff: string;
  let ann: string;
  let bo: string;
  const mailsTo = (to: string) => smtp.messages.filter((m) => m.envelope.to.includes(to));
  const keys = (k: string) =>
    t
      .call('POST', '/api/sim/readers/front-reader/keys', { cookie: staff, body: { keys: k } })
      .then(json);
  const checkIn = async (n: number, unit: string) => {
    const res = await t.call('POST', '/api/packages', {
      cookie: staff,
      body: { trackingNumber: amazon(n), carrier: 'Amazon', unit, size: 'standard' },
    });
    expect(res.status).toBe(201);
    return (await json(res)).id as string;
  };
  /** Closes the notice batches; resolves once `to` has `count` e-mails. */
  const noticesFor = async (to: string, count: number) => {
    t.clock.advance(60_000);
    await until(`${count} e-mail(s) to ${to}`, () => mailsTo(to).length >= count);
    return mailsTo(to)[count - 1]!;
  };

  beforeAll(async () => {
    smtp = await startSmtpServer();
    const raw = demoSite();
    raw.notifications = {
      email: { host: '127.0.0.1', port: smtp.port, tls: 'none', from: 'Parcels <p@demo.example>' },
      batchQuietMs: 60_000,
      publicUrl: PUBLIC,
    };
    t = await createTestApp(kind, { site: parseSite(raw, 'pickup test') });
    staff = await t.login('staff');
    const manager = await t.login('manager');
    const add = async (name: string, unit: string, email: string) =>
      (
        await json(
          await t.call('POST', '/api/residents', { cookie: manager, body: { name, unit, email } }),
        )
      ).id as string;
    ann = await add('Ann Lee', '4B', 'ann@example.test');
    bo = await add('Bo Chen', '7C', 'bo@example.test');
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
  });

  it('sends a code and a QR with the check-in notice; the code opens the door once', async () => {
    await checkIn(1, '4B');
    await checkIn(2, '4B');
    const mail = await noticesFor('ann@example.test', 1);
    const code = codeIn(mail)!;
    expect(code).toMatch(/^\d{6}$/);
    expect(mail.html).toContain('src="cid:pickup-qr@parcelroom"');
    expect(mail.text).toContain('Away? Pause notices: http://parcelroom.test/api/pickup/hold/');
    const qr = qrText(mail);
    expect(qr).toMatch(/^http:\/\/parcelroom\.test\/kiosk\?pickup=[A-Za-z0-9_-]{24}$/);
    // Stored only as keyed hashes.
    const [row] = await t.database.db.select().from(pickupCodes);
    expect(row!.codeHash).not.toContain(code);
    expect(row!.packageIds).toHaveLength(2);

    const seen = await loadAccessFingerprint(t.database.db, t.site.site.id);
    const first = await keys(`${code}#`);
    expect(first).toMatchObject({ decision: 'granted', reason: 'pickup_code' });
    let event: Json | undefined;
    await until('the grant in the event log', async () => {
      const events = await json(
        await t.call('GET', `/api/events?residentId=${ann}&type=access`, { cookie: staff }),
      );
      event = (events.items as Json[]).find((e) => e.id === first.eventId);
      return event !== undefined;
    });
    expect(event).toMatchObject({
      residentId: ann,
      details: expect.objectContaining({ pickupCodeId: row!.id }),
    });
    expect(await keys(`${code}#`)).toMatchObject({
      decision: 'denied',
      reason: 'pickup_code_used',
    });
    // The use is stored, so it survives a restart.
    await until('the use to be stored', async () => {
      const [r] = await t.database.db.select().from(pickupCodes).where(eq(pickupCodes.id, row!.id));
      return r?.usedAt !== null && r?.usedEventId === first.eventId;
    });
    // The doors' periodic check sees the use (and reloads) without being told.
    expect(await loadAccessFingerprint(t.database.db, t.site.site.id)).not.toBe(seen);
    // Had the row's write been lost (a crash right after the grant), the journalled grant still
    // counts as the use when the doors load their snapshot after a restart.
    await t.database.db
      .update(pickupCodes)
      .set({ usedAt: null, usedEventId: null })
      .where(eq(pickupCodes.id, row!.id));
    const after = await loadAccessSnapshot(t.database.db, t.site.site.id, t.clock.now());
    expect(after.pickupCodes?.find((p) => p.id === row!.id)?.usedAt).not.toBeNull();
    // Like a badge, the code opened the resident's kiosk screen.
    const screen = await t.call('POST', '/api/kiosk/session/resident', {
      body: { doorId: 'front' },
    });
    expect(screen.status).toBe(200);
    expect((await json(screen)).parcels).toHaveLength(2);
  });

  it('gives a fresh code by unit + e-mail link, never by unit alone; the old one is revoked', async () => {
    const before = mailsTo('ann@example.test').length;
    const wrong = await t.call('POST', '/api/pickup/requests', {
      body: { unit: '4B', email: 'someone@else.test' },
    });
    const nobody = await t.call('POST', '/api/pickup/requests', {
      body: { unit: '99Z', email: 'ann@example.test' },
    });
    const right = await t.call('POST', '/api/pickup/requests', {
      body: { unit: '4b', email: ' Ann@Example.test ' },
    });
    const bodies = await Promise.all([wrong, nobody, right].map((r) => r.text()));
    expect([wrong.status, nobody.status, right.status]).toEqual([202, 202, 202]);
    expect(new Set(bodies).size).toBe(1);
    expect(bodies[0]).not.toMatch(/\d{6}/);
    await until('the link e-mail', () => mailsTo('ann@example.test').length > before);
    const link = mailsTo('ann@example.test').at(-1)!;
    expect(link.subject).toBe('Your pickup code link for Demo building');
    const url = /http:\/\/parcelroom\.test(\/api\/pickup\/link\/[A-Za-z0-9_-]+)/.exec(
      link.text,
    )![1]!;
    // Opening the page shows a button only (mail scanners open links too).
    const page = await t.call('GET', url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Show my new code');
    const fresh = await json(await t.call('POST', url));
    expect(fresh).toMatchObject({ code: expect.stringMatching(/^\d{6}$/), parcels: 2 });
    expect(String(fresh.qr)).toMatch(/^data:image\/png;base64,/);
    expect((await t.call('POST', url)).status).toBe(410);

    // The desk re-sends: the link's code is superseded, the new one opens by QR at the kiosk.
    const resend = await t.call('POST', `/api/residents/${ann}/pickup-code`, { cookie: staff });
    expect(resend.status).toBe(201);
    expect(await json(resend)).toMatchObject({ sentTo: 'a***@example.test', supersedes: true });
    const mail = mailsTo('ann@example.test').at(-1)!;
    expect(mail.subject).toBe('Your new pickup code for Demo building');
    expect(await keys(`${String(fresh.code)}#`)).toMatchObject({ reason: 'pickup_code_revoked' });
    const scan = await t.call('POST', '/api/kiosk/session/pickup', {
      body: { doorId: 'front', scan: `${qrText(mail)}\n` },
    });
    expect(scan.status).toBe(200);
    expect(await json(scan)).toMatchObject({ doorOpened: true, unit: '4B', name: 'Ann' });
    const again = await t.call('POST', '/api/kiosk/session/pickup', {
      body: { doorId: 'front', code: codeIn(mail)! },
    });
    expect(again.status).toBe(409);
    expect(await json(again)).toMatchObject({ error: { code: 'pickup_code_used' } });
  });

  it('holds notices and reminders during a vacation hold and sends one notice after it', async () => {
    const now = t.clock.now();
    const hold = await t.call('POST', `/api/residents/${bo}/holds`, {
      cookie: staff,
      body: {
        startsAt: new Date(now - 3_600_000).toISOString(),
        endsAt: new Date(now + 4 * DAY).toISOString(),
      },
    });
    expect(hold.status).toBe(201);
    const parcel = await checkIn(3, '7C');
    t.clock.advance(60_000);
    await until('the held notice on the timeline', async () => {
      const tl = await json(
        await t.call('GET', `/api/packages/${parcel}/timeline`, { cookie: staff }),
      );
      return (tl.items as Json[]).some((i) => i.type === 'notice_held');
    });
    // Overdue while away: no reminder either.
    t.clock.advance(3 * DAY + 3_600_000);
    await t.services.reminders.runOnce();
    expect(mailsTo('bo@example.test')).toHaveLength(0);
    // Back: one notice with a fresh code, then nothing more on the next pass.
    t.clock.advance(DAY);
    const run = await t.services.reminders.runOnce();
    expect(run.released).toBe(1);
    await until('the notice after the hold', () => mailsTo('bo@example.test').length === 1);
    const mail = mailsTo('bo@example.test')[0]!;
    expect(mail.text).toContain('while you were away');
    expect(codeIn(mail)).toMatch(/^\d{6}$/);
    await t.services.reminders.runOnce();
    await new Promise((r) => setTimeout(r, 100));
    expect(mailsTo('bo@example.test')).toHaveLength(1);
  });

  it('lets a resident pause notices from the e-mail link, and staff list and cancel holds', async () => {
    staff = await t.login('staff');
    const link = /http:\/\/parcelroom\.test(\/api\/pickup\/hold\/\S+)/.exec(
      mailsTo('ann@example.test')[0]!.text,
    )![1]!;
    const page = await t.call('GET', link);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Pause notices');
    const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    const now = t.clock.now();
    const made = await t.call('POST', link, {
      body: { startsAt: day(now + DAY), endsAt: day(now + 5 * DAY) },
    });
    expect(made.status).toBe(201);
    const forged = await t.call('POST', `${link.slice(0, -2)}00`, {
      body: { startsAt: day(now + DAY), endsAt: day(now + 5 * DAY) },
    });
    expect(forged.status).toBe(404);
    const list = await json(await t.call('GET', `/api/residents/${ann}/holds`, { cookie: staff }));
    expect(list.items).toEqual([
      expect.objectContaining({ createdBy: 'resident', cancelledAt: null }),
    ]);
    const id = (list.items as Json[])[0]!.id as string;
    const cancelled = await t.call('DELETE', `/api/holds/${id}`, { cookie: staff });
    expect(cancelled.status).toBe(200);
    expect((await json(cancelled)).cancelledAt).not.toBeNull();
    const bad = await t.call('POST', `/api/residents/${ann}/holds`, {
      cookie: staff,
      body: { startsAt: day(now + DAY), endsAt: day(now) },
    });
    expect(bad.status).toBe(400);
    expect(await json(bad)).toMatchObject({ error: { field: 'endsAt' } });
  });

  it('refuses an expired code, and locks the keypad after five wrong codes', async () => {
    // Days went by in the tests above: the desk signs in again.
    staff = await t.login('staff');
    const resend = await t.call('POST', `/api/residents/${bo}/pickup-code`, { cookie: staff });
    expect(resend.status).toBe(201);
    const code = codeIn(mailsTo('bo@example.test').at(-1)!)!;
    // Just past the return-to-sender line of Bo's parcel (a day later it would be forgotten and
    // refused as unknown).
    t.clock.advance(3 * DAY + 2 * 3_600_000);
    await t.services.snapshot.refresh();
    staff = await t.login('staff');
    expect(await keys(`${code}#`)).toMatchObject({ reason: 'pickup_code_expired' });
    for (let i = 0; i < 3; i++)
      expect(await keys(`90000${i}#`)).toMatchObject({ reason: 'unknown_credential' });
    expect(await keys('900009#')).toMatchObject({ decision: 'denied' });
    expect(await keys(`${code}#`)).toMatchObject({ reason: 'keypad_locked' });
  });
});
