/**
 * Resident notification against real servers: an SMTP server (smtp-server) receives the e-mails
 * and a node:http endpoint receives the webhooks. Retry schedules run on a manual clock so an
 * hour of backoff takes no time, while every send is real network I/O.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { manualClock } from '../../hardware/clock.ts';
import { memoryLogger } from '../../server/log/logger.ts';
import { createEmailChannel } from '../../server/notify/email.channel.ts';
import { createNoticeBatcher } from '../../server/notify/notice.batcher.ts';
import {
  createNotifyDispatcher,
  type NotifyDispatcher,
} from '../../server/notify/notify.dispatcher.ts';
import type {
  Channel,
  DeliveryAttempt,
  NoticeParcel,
  ParcelNotice,
} from '../../server/notify/notify.types.ts';
import {
  createWebhookChannel,
  verifyWebhookSignature,
  type WebhookPayload,
} from '../../server/notify/webhook.channel.ts';
import { getFreePort } from '../harness/free-port.ts';
import { startSmtpServer, type TestSmtpServer } from '../harness/smtp.server.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../harness/webhook.receiver.ts';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const DELAYS = [30_000, 120_000, 600_000, 3_600_000];
const SECRET = 'whsec_integration_7f3a';
const FROM = '"Maple Court Parcels" <parcels@maple.example>';

const parcel = (n: number, label: string, carrier = 'DHL'): NoticeParcel => ({
  id: `p${n}`,
  trackingNumber: `JD01460000${n}`,
  carrier,
  location: { kind: label.startsWith('Locker') ? 'locker' : 'slot', label },
});

const notice = (over: Partial<ParcelNotice> = {}): ParcelNotice => ({
  id: 'notice-1',
  at: T0,
  residentId: 'res-ada',
  residentName: 'Zoë Lovelace & Co',
  email: 'zoe@residents.example',
  unit: '4B',
  parcels: [parcel(1, 'Shelf B, slot B4'), parcel(2, 'Locker L3', 'UPS')],
  pickupCode: '482913',
  siteName: 'Maple Court',
  ...over,
});

function memoryAttempts() {
  const list: DeliveryAttempt[] = [];
  return { list, record: async (a: DeliveryAttempt) => void list.push(a) };
}

const emailTo = (
  server: { host: string; port: number },
  extra: { auth?: { user: string; pass: string } } = {},
) =>
  createEmailChannel({
    host: server.host,
    port: server.port,
    secure: false,
    from: FROM,
    connectionTimeoutMs: 5_000,
    ...extra,
  });

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function smtp(port?: number): Promise<TestSmtpServer> {
  const server = await startSmtpServer({ port });
  cleanups.push(() => server.close());
  return server;
}

async function receiver(): Promise<WebhookReceiver> {
  const r = await startWebhookReceiver();
  cleanups.push(() => r.close());
  return r;
}

function dispatcherWith(channels: Channel[]) {
  const clock = manualClock(T0);
  const log = memoryLogger();
  const attempts = memoryAttempts();
  const dispatcher: NotifyDispatcher = createNotifyDispatcher({
    channels,
    clock,
    log,
    attempts,
    retry: { delaysMs: DELAYS },
  });
  cleanups.push(() => dispatcher.close());
  return { clock, log, attempts, dispatcher };
}

describe('notification e-mail through a real SMTP server', () => {
  it('arrives with the right subject, recipient and parcel list', async () => {
    const server = await smtp();
    const channel = emailTo(server, { auth: { user: 'parcelroom', pass: 'hunter2' } });
    await channel.send(notice());

    expect(server.messages).toHaveLength(1);
    const mail = server.messages[0]!;
    expect(mail.envelope).toEqual({
      from: 'parcels@maple.example',
      to: ['zoe@residents.example'],
    });
    expect(mail.user).toBe('parcelroom');
    expect(mail.subject).toBe('2 parcels waiting for you at Maple Court');
    expect(mail.to).toBe('zoe@residents.example');
    expect(mail.from).toBe('Maple Court Parcels <parcels@maple.example>');
    expect(mail.headers['message-id']).toBe('<parcelroom.notice.notice-1@maple.example>');
    expect(mail.headers['auto-submitted']).toBe('auto-generated');
    expect(mail.text).toContain('Hello Zoë Lovelace & Co,');
    expect(mail.text).toContain('- DHL JD014600001: Shelf B, slot B4');
    expect(mail.text).toContain('- UPS JD014600002: Locker L3');
    expect(mail.text).toContain('Your pickup code: 482913');
    expect(mail.html).toContain('Hello Zoë Lovelace &amp; Co,');
    expect(mail.html).toContain('>Shelf B, slot B4</td>');
    expect(mail.html).toContain('>Locker L3</td>');
    expect(mail.html).not.toMatch(/\b(src|href)=|https?:/);
    await channel.close?.();
  });

  it('fails with the connection error when nothing listens', async () => {
    const port = await getFreePort();
    const channel = emailTo({ host: '127.0.0.1', port });
    await expect(channel.send(notice())).rejects.toThrow(
      new RegExp(`^SMTP 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`),
    );
  });
});

describe('webhook to a real HTTP receiver', () => {
  it('is signed so the receiver can verify it, and a tampered body fails verification', async () => {
    const r = await receiver();
    const channel = createWebhookChannel({ url: r.url, secret: SECRET, timeoutMs: 5_000 });
    await channel.send(notice());

    expect(r.requests).toHaveLength(1);
    const req = r.requests[0]!;
    expect(req.method).toBe('POST');
    expect(req.url).toBe('/hooks/parcels');
    expect(req.headers['content-type']).toBe('application/json');
    expect(req.headers['x-parcelroom-event']).toBe('parcels.checked_in');
    const header = req.headers['x-parcelroom-signature'];
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    const nowSec = Math.floor(Date.now() / 1000);
    expect(verifyWebhookSignature(SECRET, String(header), req.body, nowSec)).toBe(true);
    const tampered = req.body.replace('"unit":"4B"', '"unit":"9Z"');
    expect(tampered).not.toBe(req.body);
    expect(verifyWebhookSignature(SECRET, String(header), tampered, nowSec)).toBe(false);
    expect(verifyWebhookSignature('wrong-secret', String(header), req.body, nowSec)).toBe(false);

    const payload = JSON.parse(req.body) as WebhookPayload;
    expect(payload).toMatchObject({
      type: 'parcels.checked_in',
      id: 'notice-1',
      at: '2026-01-01T12:00:00.000Z',
      resident: { id: 'res-ada', name: 'Zoë Lovelace & Co', unit: '4B' },
      pickupCode: '482913',
    });
    expect(payload.parcels.map((p) => p.location.label)).toEqual(['Shelf B, slot B4', 'Locker L3']);
  });

  it('fails clearly on an error status, a hanging receiver and a closed port', async () => {
    const r = await receiver();
    const channel = createWebhookChannel({
      url: `${r.url}?api_key=do-not-leak`,
      secret: SECRET,
      timeoutMs: 300,
    });
    r.failNext(1, 503);
    await expect(channel.send(notice())).rejects.toThrow(
      `webhook ${r.url}: HTTP 503 Service Unavailable: {"error":"receiver told to fail"}`,
    );
    r.hangNext(1);
    await expect(channel.send(notice())).rejects.toThrow(
      `webhook ${r.url}: no response within 300 ms`,
    );
    expect(r.requests.map((q) => q.outcome)).toEqual([503, 'hung']);

    const port = await getFreePort();
    const closed = createWebhookChannel({
      url: `http://127.0.0.1:${port}/x`,
      secret: SECRET,
      timeoutMs: 5_000,
    });
    await expect(closed.send(notice())).rejects.toThrow(
      /^webhook http:\/\/127\.0\.0\.1:\d+\/x: .*ECONNREFUSED/,
    );
  });
});

describe('dispatching notices over real channels', () => {
  it('sends one e-mail and one webhook per resident per batch, not one per parcel', async () => {
    const server = await smtp();
    const r = await receiver();
    const { clock, attempts, dispatcher } = dispatcherWith([
      emailTo(server),
      createWebhookChannel({ url: r.url, secret: SECRET, timeoutMs: 5_000 }),
    ]);
    const residents: Record<string, { name: string; email: string; unit: string }> = {
      'res-ada': { name: 'Ada', email: 'ada@residents.example', unit: '4B' },
      'res-bob': { name: 'Bob', email: 'bob@residents.example', unit: '7C' },
    };
    let seq = 0;
    const batcher = createNoticeBatcher<NoticeParcel>({
      clock,
      log: memoryLogger(),
      onBatch: (b) => {
        const who = residents[b.residentKey]!;
        dispatcher.dispatch({
          id: `notice-${++seq}`,
          at: clock.now(),
          residentId: b.residentKey,
          residentName: who.name,
          email: who.email,
          unit: who.unit,
          parcels: b.parcels,
          siteName: 'Maple Court',
        });
      },
    });
    cleanups.push(async () => batcher.close());

    batcher.add('res-ada', parcel(1, 'Shelf A, slot A1'));
    clock.advance(5_000);
    batcher.add('res-bob', parcel(2, 'Shelf A, slot A2'));
    batcher.add('res-ada', parcel(3, 'Shelf B, slot B4'));
    clock.advance(5_000);
    batcher.add('res-ada', parcel(4, 'Locker L3', 'UPS'));
    expect(batcher.flush()).toBe(2);
    await dispatcher.settled();
    // Long after: no stray timers send anything more.
    clock.advance(2 * 3_600_000);
    await dispatcher.settled();

    expect(server.messages.map((m) => [m.envelope.to, m.subject])).toEqual([
      [['ada@residents.example'], '3 parcels waiting for you at Maple Court'],
      [['bob@residents.example'], '1 parcel waiting for you at Maple Court'],
    ]);
    const ada = server.messages[0]!;
    for (const label of ['Shelf A, slot A1', 'Shelf B, slot B4', 'Locker L3']) {
      expect(ada.text).toContain(label);
    }
    const hooks = r.requests.map((q) => JSON.parse(q.body) as WebhookPayload);
    expect(hooks.map((h) => [h.resident.id, h.parcels.map((p) => p.id)])).toEqual([
      ['res-ada', ['p1', 'p3', 'p4']],
      ['res-bob', ['p2']],
    ]);
    expect(attempts.list.every((a) => a.ok && a.attempt === 1)).toBe(true);
    expect(attempts.list).toHaveLength(4);
  });

  it('retries a webhook that answers 500 twice, and records three attempts ending in success', async () => {
    const r = await receiver();
    r.failNext(2, 500);
    const { clock, attempts, dispatcher } = dispatcherWith([
      createWebhookChannel({ url: r.url, secret: SECRET, timeoutMs: 5_000 }),
    ]);
    dispatcher.dispatch(notice());
    await dispatcher.settled();
    expect(r.requests).toHaveLength(1);
    clock.advance(29_999);
    await dispatcher.settled();
    expect(r.requests).toHaveLength(1);
    clock.advance(1);
    await dispatcher.settled();
    expect(r.requests).toHaveLength(2);
    clock.advance(120_000);
    await dispatcher.settled();

    expect(r.requests.map((q) => q.outcome)).toEqual([500, 500, 200]);
    // Same notice id and payload every time, so the receiver can de-duplicate.
    expect(new Set(r.requests.map((q) => q.body)).size).toBe(1);
    expect(attempts.list).toEqual([
      {
        id: 'notice-1/webhook/1',
        noticeKey: 'notice-1',
        channel: 'webhook',
        attempt: 1,
        at: T0,
        ok: false,
        error: `webhook ${r.url}: HTTP 500 Internal Server Error: {"error":"receiver told to fail"}`,
        nextAttemptAt: T0 + 30_000,
      },
      expect.objectContaining({
        attempt: 2,
        at: T0 + 30_000,
        ok: false,
        nextAttemptAt: T0 + 150_000,
      }),
      {
        id: 'notice-1/webhook/3',
        noticeKey: 'notice-1',
        channel: 'webhook',
        attempt: 3,
        at: T0 + 150_000,
        ok: true,
      },
    ]);
    expect(dispatcher.failures()).toEqual([]);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('records every attempt against a dead SMTP server, retries on schedule, then gives up for staff', async () => {
    const port = await getFreePort();
    const { clock, log, attempts, dispatcher } = dispatcherWith([
      emailTo({ host: '127.0.0.1', port }),
    ]);
    dispatcher.dispatch(notice());
    await dispatcher.settled();
    for (const d of DELAYS) {
      clock.advance(d);
      await dispatcher.settled();
    }

    const due = [T0, T0 + 30_000, T0 + 150_000, T0 + 750_000, T0 + 4_350_000];
    expect(attempts.list.map((a) => [a.attempt, a.at, a.ok, a.nextAttemptAt])).toEqual(
      due.map((at, i) => [i + 1, at, false, due[i + 1]]),
    );
    for (const a of attempts.list) {
      expect(a.error).toMatch(new RegExp(`^SMTP 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
    }
    expect(dispatcher.failures()).toEqual([
      expect.objectContaining({
        noticeKey: 'notice-1',
        channel: 'email',
        residentId: 'res-ada',
        attempts: 5,
        failedAt: T0 + 4_350_000,
        error: expect.stringContaining('ECONNREFUSED'),
      }),
    ]);
    expect(
      log.records.filter((x) => x.channel === 'email').map((x) => [x.level, x.attempt]),
    ).toEqual([
      ['warn', 1],
      ['warn', 2],
      ['warn', 3],
      ['warn', 4],
      ['error', 5],
    ]);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('gets the e-mail through on the next retry once the SMTP server is back', async () => {
    const port = await getFreePort();
    const { clock, attempts, dispatcher } = dispatcherWith([emailTo({ host: '127.0.0.1', port })]);
    dispatcher.dispatch(notice());
    await dispatcher.settled();
    expect(attempts.list).toEqual([
      expect.objectContaining({ attempt: 1, ok: false, nextAttemptAt: T0 + 30_000 }),
    ]);

    const server = await smtp(port);
    clock.advance(30_000);
    await dispatcher.settled();
    expect(attempts.list.map((a) => [a.attempt, a.ok])).toEqual([
      [1, false],
      [2, true],
    ]);
    expect(server.messages.map((m) => m.envelope.to)).toEqual([['zoe@residents.example']]);
    expect(dispatcher.failures()).toEqual([]);
  });
});
