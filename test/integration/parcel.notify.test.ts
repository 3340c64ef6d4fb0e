import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notificationAttempts } from '../../db/index.ts';
import { demoSite, parseSite } from '../../server/config/index.ts';
import { verifyWebhookSignature } from '../../server/notify/index.ts';
import { createTestApp, type TestApp } from '../harness/app.harness.ts';
import { startSmtpServer, type TestSmtpServer } from '../harness/smtp.server.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../harness/webhook.receiver.ts';

type Json = Record<string, unknown>;
const json = async (res: Response) => (await res.json()) as Json;
const amazon = (n: number) => `TBA${String(n).padStart(12, '0')}`;

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('residents hear about their parcels, once per batch', () => {
  let smtp: TestSmtpServer;
  let hook: WebhookReceiver;
  let t: TestApp;
  let staff: string;
  const SECRET = 'webhook-secret-0123456789';

  beforeAll(async () => {
    smtp = await startSmtpServer();
    hook = await startWebhookReceiver();
    const raw = demoSite();
    raw.notifications = {
      email: {
        host: '127.0.0.1',
        port: smtp.port,
        tls: 'none',
        from: 'Parcels <parcels@demo.example>',
      },
      webhook: { url: hook.url, secret: SECRET },
      batchQuietMs: 60_000,
    };
    t = await createTestApp('pglite', { site: parseSite(raw, 'notify test') });
    staff = await t.login('staff');
    const manager = await t.login('manager');
    await t.call('POST', '/api/residents', {
      cookie: manager,
      body: { name: 'Ann Lee', unit: '4B', email: 'ann@example.test' },
    });
    await t.call('POST', '/api/residents', {
      cookie: manager,
      body: { name: 'Bo Chen', unit: '7C', email: 'bo@example.test' },
    });
  });
  afterAll(async () => {
    await t?.close();
    await smtp?.close();
    await hook?.close();
  });

  it('sends one e-mail and one signed webhook per resident for a batch of parcels', async () => {
    for (const [n, unit] of [
      [1, '4B'],
      [2, '4B'],
      [3, '4B'],
      [4, '7C'],
    ] as const) {
      const res = await t.call('POST', '/api/packages', {
        cookie: staff,
        body: { trackingNumber: amazon(n), carrier: 'Amazon', unit, size: 'standard' },
      });
      expect(res.status).toBe(201);
      t.clock.advance(10_000);
    }
    // Nothing goes out while the carrier is still scanning.
    await new Promise((r) => setTimeout(r, 200));
    expect(smtp.messages).toHaveLength(0);
    t.clock.advance(60_000);
    await until('two e-mails', () => smtp.messages.length >= 2);
    await until('two webhooks', () => hook.requests.length >= 2);
    await new Promise((r) => setTimeout(r, 200));
    expect(smtp.messages).toHaveLength(2);
    const ann = smtp.messages.find((m) => m.envelope.to.includes('ann@example.test'))!;
    expect(ann.subject).toBe('3 parcels waiting for you at Demo building');
    for (const n of [1, 2, 3]) expect(ann.text).toContain(amazon(n));
    expect(ann.text).not.toContain(amazon(4));
    expect(hook.requests).toHaveLength(2);
    for (const req of hook.requests) {
      const signature = req.headers['x-parcelroom-signature'];
      expect(
        verifyWebhookSignature(SECRET, String(signature), req.body, Math.floor(Date.now() / 1000)),
      ).toBe(true);
    }
    const bodies = hook.requests.map((r) => JSON.parse(r.body) as Json);
    expect(bodies.map((b) => (b.parcels as Json[]).length).sort()).toEqual([1, 3]);
    const attempts = await t.database.db.select().from(notificationAttempts);
    expect(attempts.filter((a) => a.ok)).toHaveLength(4);
  });

  it('retries a webhook the receiver refused and shows staff nothing failed in the end', async () => {
    hook.failNext(1, 503);
    const before = hook.requests.length;
    await t.call('POST', '/api/packages', {
      cookie: staff,
      body: { trackingNumber: amazon(10), carrier: 'Amazon', unit: '7C', size: 'standard' },
    });
    t.clock.advance(60_000);
    await until('the refused webhook', () => hook.requests.length >= before + 1);
    // The retry is scheduled before the failed attempt is stored: once stored, move time on.
    await until('the failed attempt to be stored', async () =>
      (await t.database.db.select().from(notificationAttempts)).some(
        (a) => a.channel === 'webhook' && !a.ok,
      ),
    );
    t.clock.advance(30_000);
    await until('the retry', () => hook.requests.length >= before + 2);
    const failures = await json(
      await t.call('GET', '/api/notifications/failures', { cookie: staff }),
    );
    expect(failures).toMatchObject({ channels: ['email', 'webhook'], items: [] });
    const attempts = await t.database.db.select().from(notificationAttempts);
    expect(attempts.filter((a) => a.channel === 'webhook' && !a.ok)).toHaveLength(1);
  });
});
