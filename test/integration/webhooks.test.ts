/**
 * The outbound webhook catalogue through the composed server on PGlite and PostgreSQL, against
 * the real webhook receiver: a check-in, a pickup and a door alarm arrive signed the way the
 * parcel notices are; a receiver that fails is retried until it answers; one that keeps failing
 * is given up after the last attempt and can be sent again by hand; pending deliveries survive a
 * restart; the delivery log shows every attempt.
 */
import { and, eq } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { webhookDeliveries } from '../../db/index.ts';
import { systemClock } from '../../hardware/clock.ts';
import { memoryLogger } from '../../server/log/logger.ts';
import {
  EVENT_HEADER,
  SIGNATURE_HEADER,
  verifyWebhookSignature,
} from '../../server/notify/webhook.channel.ts';
import { createWebhookDispatcher } from '../../server/webhooks/webhook.dispatcher.ts';
import { createTestApp, databaseKinds, type TestApp } from '../harness/app.harness.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../harness/webhook.receiver.ts';

type Json = Record<string, unknown>;
const json = async (res: Response) => (await res.json()) as Json;
const amazon = (n: number) => `TBA${String(n).padStart(12, '0')}`;

describe.each(databaseKinds())('webhook catalogue on %s', (kind) => {
  let t: TestApp;
  let admin: string;
  let staff: string;
  let manager: string;
  let receiver: WebhookReceiver;
  let subId: string;
  let secret: string;
  let parcelNo = 0;

  const deliveries = async (query = '') =>
    (
      await json(
        await t.call('GET', `/api/webhooks/deliveries?subscriptionId=${subId}${query}`, {
          bearer: admin,
        }),
      )
    ).items as Json[];
  const settle = async () => {
    await t.services.journal.drained();
    await t.services.webhooks.idle();
  };
  const checkIn = async () => {
    const res = await t.call('POST', '/api/packages', {
      bearer: staff,
      body: { trackingNumber: amazon(++parcelNo), carrier: 'Amazon', unit: '4B', size: 'standard' },
    });
    expect(res.status).toBe(201);
    return (await json(res)).id as string;
  };
  /** The requests the receiver got for one event id, in order. */
  const received = (eventId: string) =>
    receiver.requests.filter((r) => r.headers['x-parcelroom-event-id'] === eventId);

  // API tokens rather than sessions: no password hashing, and no idle expiry when the clock jumps.
  const token = async (role: 'staff' | 'manager' | 'admin') =>
    (await t.auth.createToken({ name: `${role} test`, role })).token;

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    // Three attempts, 100 ms apart: long enough to see the backoff, short enough for a test.
    t = await createTestApp(kind, { webhookRetryDelaysMs: [100, 100] });
    admin = await token('admin');
    staff = await token('staff');
    manager = await token('manager');
    await t.call('POST', '/api/residents', {
      bearer: manager,
      body: { name: 'Ann Lee', unit: '4B', email: 'ann@example.test' },
    });
    const res = await t.call('POST', '/api/webhooks', {
      bearer: admin,
      body: {
        url: receiver.url,
        events: ['parcel.checked_in', 'parcel.picked_up', 'door.alarm', 'flag.raised'],
        description: 'PMS',
      },
    });
    expect(res.status).toBe(201);
    ({ id: subId, secret } = (await json(res)) as { id: string; secret: string });
    expect(secret).toMatch(/^whsec_/);
  });
  afterEach(() => {
    // A test that failed half-way must not leave planned failures for the next one.
    receiver.requests.length = 0;
  });
  afterAll(async () => {
    await t?.close();
    await receiver?.close();
  });

  it('delivers check-in, pickup and a door alarm, each signed and with its event id', async () => {
    const parcelId = await checkIn();
    expect(
      (await t.call('POST', `/api/packages/${parcelId}/pickup`, { bearer: staff })).status,
    ).toBe(200);
    await t.call('POST', '/api/sim/doors/front/contact', {
      bearer: staff,
      body: { state: 'open' },
    });
    await t.call('POST', '/api/sim/doors/front/contact', {
      bearer: staff,
      body: { state: 'closed' },
    });
    await settle();
    await vi.waitFor(() => expect(receiver.requests.length).toBe(3), { timeout: 10_000 });
    const nowSec = Math.floor(Date.now() / 1000);
    const bodies = receiver.requests.map((r) => {
      expect(
        verifyWebhookSignature(
          secret,
          r.headers['x-parcelroom-signature'] as string,
          r.body,
          nowSec,
        ),
      ).toBe(true);
      // The wrong secret does not verify: the check above can fail.
      expect(
        verifyWebhookSignature(
          'whsec_other',
          r.headers['x-parcelroom-signature'] as string,
          r.body,
          nowSec,
        ),
      ).toBe(false);
      const body = JSON.parse(r.body) as Json;
      expect(r.headers[EVENT_HEADER.toLowerCase()]).toBe(body.type);
      expect(r.headers['x-parcelroom-event-id']).toBe(body.id);
      expect(r.headers[SIGNATURE_HEADER.toLowerCase()]).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
      return body;
    });
    const byType = Object.fromEntries(bodies.map((b) => [b.type, b]));
    expect(Object.keys(byType).sort()).toEqual([
      'door.alarm',
      'parcel.checked_in',
      'parcel.picked_up',
    ]);
    expect(byType['parcel.checked_in']).toMatchObject({
      site: { id: t.site.site.id },
      parcel: { id: parcelId, trackingNumber: amazon(parcelNo), carrier: 'Amazon', unit: '4B' },
    });
    expect(byType['parcel.picked_up']).toMatchObject({ parcel: { id: parcelId } });
    expect(byType['door.alarm']).toMatchObject({ alarm: { kind: 'forced_open', doorId: 'front' } });
    const log = await deliveries('&status=delivered');
    expect(log.filter((d) => d.attempts === 1 && d.lastStatusCode === 200)).toHaveLength(3);

    // A flag raised by the cameras goes out the same way, with the flag as the store shows it.
    const at = new Date(t.clock.now()).toISOString();
    t.services.webhooks.onFlagRaised({
      id: 'flag-webhook-1',
      at,
      kind: 'tailgating',
      severity: 'high',
      cameraId: 'room-cam',
      doorId: 'front',
      status: 'new',
      clipUrl: '/api/flags/flag-webhook-1/clip',
      clipWindow: { startAt: at, endAt: at },
      snapshotUrl: '/api/flags/flag-webhook-1/snapshot',
      hasSnapshot: true,
      evidence: {},
      // The view grows with the flags work; the fields read here are the ones above.
    } as unknown as Parameters<TestApp['services']['webhooks']['onFlagRaised']>[0]);
    await settle();
    await vi.waitFor(() => expect(received('flag-webhook-1')).toHaveLength(1), {
      timeout: 10_000,
    });
    expect(JSON.parse(received('flag-webhook-1')[0]!.body)).toMatchObject({
      type: 'flag.raised',
      flag: { id: 'flag-webhook-1', kind: 'tailgating' },
    });
  });

  it('retries a receiver that fails until it answers, and the log shows the attempts', async () => {
    receiver.failNext(2, 503);
    const parcelId = await checkIn();
    await settle();
    await vi.waitFor(
      async () => {
        const [d] = (await deliveries()).filter(
          (x) => (x.payload as { parcel?: { id?: string } }).parcel?.id === parcelId,
        );
        expect(d).toMatchObject({ status: 'delivered', attempts: 3, lastStatusCode: 200 });
      },
      { timeout: 10_000, interval: 50 },
    );
    const attempts = receiver.requests.map((r) => [r.headers['x-parcelroom-attempt'], r.outcome]);
    expect(attempts).toEqual([
      ['1', 503],
      ['2', 503],
      ['3', 200],
    ]);
  });

  it('gives up after the last attempt, and a retry by hand sends it again', async () => {
    receiver.failNext(3, 500);
    const parcelId = await checkIn();
    await settle();
    let failed: Json | undefined;
    await vi.waitFor(
      async () => {
        [failed] = (await deliveries('&status=failed')).filter(
          (x) => (x.payload as { parcel?: { id?: string } }).parcel?.id === parcelId,
        );
        expect(failed).toMatchObject({ attempts: 3, lastStatusCode: 500 });
      },
      { timeout: 10_000, interval: 50 },
    );
    expect(failed!.lastError).toMatch(/HTTP 500/);
    expect(failed!.nextAttemptAt).toBeNull();
    // Manager may not touch the webhooks; admin may.
    expect(
      (await t.call('POST', `/api/webhooks/deliveries/${failed!.id}/retry`, { bearer: manager }))
        .status,
    ).toBe(403);
    const retry = await t.call('POST', `/api/webhooks/deliveries/${failed!.id}/retry`, {
      bearer: admin,
    });
    expect(retry.status).toBe(200);
    await vi.waitFor(
      async () => {
        const [d] = (await deliveries()).filter((x) => x.id === failed!.id);
        expect(d).toMatchObject({ status: 'delivered', attempts: 4 });
      },
      { timeout: 10_000, interval: 50 },
    );
    expect(received(failed!.eventId as string).map((r) => r.outcome)).toEqual([500, 500, 500, 200]);
  });

  it('picks up pending deliveries left by a previous run', async () => {
    // A dispatcher that stores but is never started: the box "stopped" before sending.
    const stopped = createWebhookDispatcher({
      db: t.database.db,
      site: { id: t.site.site.id, name: t.site.site.name },
      clock: systemClock(),
      log: memoryLogger(),
    });
    const stored = await stopped.publish({
      id: 'evt-restart-1',
      type: 'door.alarm',
      at: new Date().toISOString(),
      site: { id: t.site.site.id, name: t.site.site.name },
      alarm: { kind: 'tamper', doorId: 'front' },
    });
    expect(stored).toBe(1);
    await stopped.close();
    const [row] = await t.database.db
      .select()
      .from(webhookDeliveries)
      .where(and(eq(webhookDeliveries.eventId, 'evt-restart-1')));
    expect(row).toMatchObject({ status: 'pending', attempts: 0 });
    expect(received('evt-restart-1')).toHaveLength(0);

    const next = createWebhookDispatcher({
      db: t.database.db,
      site: { id: t.site.site.id, name: t.site.site.name },
      clock: systemClock(),
      log: memoryLogger(),
    });
    await next.start();
    await vi.waitFor(() => expect(received('evt-restart-1')).toHaveLength(1), { timeout: 10_000 });
    await next.idle();
    await next.close();
    const [after] = await t.database.db
      .select()
      .from(webhookDeliveries)
      .where(eq(webhookDeliveries.eventId, 'evt-restart-1'));
    expect(after).toMatchObject({ status: 'delivered', attempts: 1 });
  });

  it('manages subscriptions: validation, the catalogue, secrets never listed, delete', async () => {
    const bad = async (body: Json) => {
      const res = await t.call('POST', '/api/webhooks', { bearer: admin, body });
      expect(res.status).toBe(400);
      return ((await json(res)).error as Json).field;
    };
    expect(await bad({ url: 'ftp://example.test/hook' })).toBe('url');
    expect(await bad({ url: 'https://user:pw@example.test/hook' })).toBe('url');
    expect(await bad({ url: 'https://example.test/hook', events: ['parcel.lost'] })).toMatch(
      /^events/,
    );
    expect(
      (await t.call('POST', '/api/webhooks', { bearer: manager, body: { url: receiver.url } }))
        .status,
    ).toBe(403);
    expect((await t.call('GET', '/api/webhooks', { bearer: manager })).status).toBe(403);

    const cat = await json(await t.call('GET', '/api/webhooks/catalogue', { bearer: admin }));
    expect((cat.events as Json[]).map((e) => e.type)).toEqual([
      'parcel.checked_in',
      'parcel.picked_up',
      'parcel.overdue',
      'flag.raised',
      'door.alarm',
    ]);
    const list = await json(await t.call('GET', '/api/webhooks', { bearer: admin }));
    expect(JSON.stringify(list)).not.toContain(secret);
    expect(list.items).toEqual([
      expect.objectContaining({ id: subId, url: receiver.url, description: 'PMS' }),
    ]);

    // An event this subscription does not want is not stored for it.
    const other = await json(
      await t.call('POST', '/api/webhooks', {
        bearer: admin,
        body: { url: `${receiver.url}?key=abc`, events: ['parcel.overdue'] },
      }),
    );
    await checkIn();
    await settle();
    expect(
      (
        await json(
          await t.call('GET', `/api/webhooks/deliveries?subscriptionId=${other.id as string}`, {
            bearer: admin,
          }),
        )
      ).items,
    ).toEqual([]);
    // Overdue: a parcel past overdueAfterDays is announced once.
    t.clock.advance(t.site.notifications.overdueAfterDays * 86_400_000 + 60_000);
    expect(await t.services.overdueWebhooks.runOnce()).toBeGreaterThan(0);
    expect(await t.services.overdueWebhooks.runOnce()).toBe(0);
    await settle();
    await vi.waitFor(
      () =>
        expect(
          receiver.requests.some((r) => r.headers['x-parcelroom-event'] === 'parcel.overdue'),
        ).toBe(true),
      { timeout: 10_000 },
    );
    const shown = await json(await t.call('GET', '/api/webhooks', { bearer: admin }));
    expect((shown.items as Json[]).find((i) => i.id === other.id)!.url).not.toContain('abc');

    expect(
      (await t.call('DELETE', `/api/webhooks/${other.id as string}`, { bearer: admin })).status,
    ).toBe(200);
    expect(
      (await t.call('DELETE', `/api/webhooks/${other.id as string}`, { bearer: admin })).status,
    ).toBe(404);
  });
});
