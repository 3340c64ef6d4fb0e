import { afterEach, describe, expect, it } from 'vitest';
import { manualClock, type ManualClock } from '../../hardware/clock.ts';
import { memoryLogger } from '../log/logger.ts';
import { createNotifyDispatcher, type NotifyDispatcher } from './notify.dispatcher.ts';
import type { Channel, ChannelName, DeliveryAttempt, ParcelNotice } from './notify.types.ts';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const DELAYS = [30_000, 120_000, 600_000, 3_600_000];

function notice(id = 'n1', over: Partial<ParcelNotice> = {}): ParcelNotice {
  return {
    id,
    at: T0,
    residentId: 'res-1',
    residentName: 'Ada Lovelace',
    email: 'ada@example.org',
    unit: '4B',
    parcels: [
      {
        id: 'p1',
        trackingNumber: '1Z999',
        carrier: 'UPS',
        location: { kind: 'slot', label: 'Shelf B, slot B4' },
      },
    ],
    siteName: 'Maple Court',
    ...over,
  };
}

type Outcome = 'ok' | { fail: string } | { wait: Promise<void> };

/**
 * A channel that plays a fixed script of outcomes and notes every call with the clock's time.
 * A call beyond the script is a bug in the dispatcher: it is noted in `unexpected` (checked after
 * every test) and fails the send.
 */
function scriptedChannel(name: ChannelName, clock: ManualClock, script: Outcome[]) {
  const calls: { noticeId: string; at: number }[] = [];
  const unexpected: string[] = [];
  const channel: Channel & { calls: typeof calls; unexpected: string[] } = {
    name,
    calls,
    unexpected,
    async send(n) {
      calls.push({ noticeId: n.id, at: clock.now() });
      const next = script.shift();
      if (next === undefined) {
        unexpected.push(`${name} send #${calls.length} for ${n.id}`);
        throw new Error('unexpected send');
      }
      if (next === 'ok') return;
      if ('fail' in next) throw new Error(next.fail);
      await next.wait;
    },
  };
  return channel;
}

function memoryAttempts() {
  const list: DeliveryAttempt[] = [];
  return { list, record: async (a: DeliveryAttempt) => void list.push(a) };
}

const strictChannels: ReturnType<typeof scriptedChannel>[] = [];
const dispatchers: NotifyDispatcher[] = [];

function setup(scripts: Partial<Record<ChannelName, Outcome[]>>) {
  const clock = manualClock(T0);
  const log = memoryLogger();
  const attempts = memoryAttempts();
  const channels = Object.entries(scripts).map(([name, script]) =>
    scriptedChannel(name as ChannelName, clock, script),
  );
  strictChannels.push(...channels);
  const dispatcher = createNotifyDispatcher({
    channels,
    clock,
    log,
    attempts,
    retry: { delaysMs: DELAYS },
  });
  dispatchers.push(dispatcher);
  return { clock, log, attempts, channels, dispatcher };
}

afterEach(async () => {
  for (const d of dispatchers.splice(0)) await d.close();
  const unexpected = strictChannels.splice(0).flatMap((c) => c.unexpected);
  expect(unexpected).toEqual([]);
});

describe('notify dispatcher', () => {
  it('retries a failing channel on the schedule, then gives up and lists it for staff', async () => {
    const fail = { fail: 'connect ECONNREFUSED' };
    const { clock, log, attempts, channels, dispatcher } = setup({
      email: [fail, fail, fail, fail, fail],
    });
    const email = channels[0]!;
    dispatcher.dispatch(notice());
    await dispatcher.settled();

    const due = [T0];
    for (const d of DELAYS) due.push(due.at(-1)! + d);
    for (let i = 1; i < due.length; i++) {
      // Nothing happens a millisecond early; the next attempt runs exactly when due.
      clock.set(due[i]! - 1);
      await dispatcher.settled();
      expect(email.calls).toHaveLength(i);
      clock.set(due[i]!);
      await dispatcher.settled();
      expect(email.calls).toHaveLength(i + 1);
    }
    expect(email.calls.map((c) => c.at)).toEqual(due);

    expect(attempts.list).toEqual(
      due.map((at, i) => ({
        id: `n1/email/${i + 1}`,
        noticeKey: 'n1',
        channel: 'email',
        attempt: i + 1,
        at,
        ok: false,
        error: 'connect ECONNREFUSED',
        ...(i < DELAYS.length ? { nextAttemptAt: due[i + 1] } : {}),
      })),
    );
    expect(dispatcher.failures()).toEqual([
      {
        noticeKey: 'n1',
        channel: 'email',
        residentId: 'res-1',
        residentName: 'Ada Lovelace',
        unit: '4B',
        parcelCount: 1,
        attempts: 5,
        firstAttemptAt: T0,
        failedAt: due[4],
        error: 'connect ECONNREFUSED',
      },
    ]);
    expect(dispatcher.active()).toBe(0);
    expect(clock.pendingTimers()).toBe(0);
    const levels = log.records
      .filter((r) => String(r.msg).startsWith('notification'))
      .map((r) => [r.level, r.attempt]);
    expect(levels).toEqual([
      ['warn', 1],
      ['warn', 2],
      ['warn', 3],
      ['warn', 4],
      ['error', 5],
    ]);
  });

  it('stops retrying a channel once it succeeds', async () => {
    const { clock, attempts, channels, dispatcher } = setup({
      webhook: [{ fail: 'HTTP 500' }, { fail: 'HTTP 500' }, 'ok'],
    });
    dispatcher.dispatch(notice());
    await dispatcher.settled();
    clock.advance(30_000);
    await dispatcher.settled();
    clock.advance(120_000);
    await dispatcher.settled();
    clock.advance(10 * 3_600_000);
    await dispatcher.settled();
    expect(channels[0]!.calls).toHaveLength(3);
    expect(attempts.list.map((a) => [a.attempt, a.ok, a.nextAttemptAt])).toEqual([
      [1, false, T0 + 30_000],
      [2, false, T0 + 150_000],
      [3, true, undefined],
    ]);
    expect(dispatcher.failures()).toEqual([]);
    expect(dispatcher.active()).toBe(0);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('delivers on each channel independently', async () => {
    const { clock, attempts, dispatcher } = setup({
      email: ['ok'],
      webhook: [{ fail: 'timeout' }, 'ok'],
    });
    dispatcher.dispatch(notice());
    await dispatcher.settled();
    expect(dispatcher.active()).toBe(1);
    clock.advance(30_000);
    await dispatcher.settled();
    expect(attempts.list.map((a) => [a.channel, a.attempt, a.ok])).toEqual([
      ['email', 1, true],
      ['webhook', 1, false],
      ['webhook', 2, true],
    ]);
  });

  it('skips a channel that cannot reach the resident', async () => {
    const clock = manualClock(T0);
    const log = memoryLogger();
    const attempts = memoryAttempts();
    const webhook = scriptedChannel('webhook', clock, ['ok']);
    const email = scriptedChannel('email', clock, []);
    strictChannels.push(webhook, email);
    const dispatcher = createNotifyDispatcher({
      channels: [{ ...email, accepts: (n) => Boolean(n.email) }, webhook],
      clock,
      log,
      attempts,
    });
    dispatchers.push(dispatcher);
    dispatcher.dispatch(notice('n2', { email: undefined }));
    await dispatcher.settled();
    expect(attempts.list.map((a) => [a.noticeKey, a.channel, a.ok])).toEqual([
      ['n2', 'webhook', true],
    ]);
    expect(log.records).toContainEqual(
      expect.objectContaining({
        msg: 'notification channel does not apply to resident',
        channel: 'email',
      }),
    );
  });

  it('keeps delivering when the attempt log fails', async () => {
    const clock = manualClock(T0);
    const log = memoryLogger();
    const channel = scriptedChannel('email', clock, [{ fail: 'down' }, 'ok']);
    strictChannels.push(channel);
    const dispatcher = createNotifyDispatcher({
      channels: [channel],
      clock,
      log,
      attempts: { record: () => Promise.reject(new Error('database is gone')) },
    });
    dispatchers.push(dispatcher);
    dispatcher.dispatch(notice());
    await dispatcher.settled();
    clock.advance(30_000);
    await dispatcher.settled();
    expect(channel.calls).toHaveLength(2);
    expect(
      log.records.filter((r) => r.msg === 'could not record notification attempt'),
    ).toHaveLength(2);
  });

  it('ignores the same notice dispatched again while it is being delivered', async () => {
    const { clock, channels, dispatcher } = setup({ email: [{ fail: 'down' }, 'ok'] });
    dispatcher.dispatch(notice());
    await dispatcher.settled();
    dispatcher.dispatch(notice());
    await dispatcher.settled();
    clock.advance(30_000);
    await dispatcher.settled();
    expect(channels[0]!.calls.map((c) => c.at)).toEqual([T0, T0 + 30_000]);
  });

  it('close cancels retry timers', async () => {
    const { clock, attempts, dispatcher } = setup({ email: [{ fail: 'down' }] });
    dispatcher.dispatch(notice());
    await dispatcher.settled();
    expect(clock.pendingTimers()).toBe(1);
    await dispatcher.close();
    expect(clock.pendingTimers()).toBe(0);
    clock.advance(24 * 3_600_000);
    await dispatcher.settled();
    expect(attempts.list).toHaveLength(1);
    dispatcher.dispatch(notice('n3'));
    expect(dispatcher.active()).toBe(0);
  });

  it('close waits for a send under way and records its outcome without retrying', async () => {
    let release!: (err?: Error) => void;
    const wait = new Promise<void>((resolve, reject) => {
      release = (err) => (err ? reject(err) : resolve());
    });
    const { clock, attempts, dispatcher } = setup({ email: [{ wait }] });
    dispatcher.dispatch(notice());
    let closed = false;
    const closing = dispatcher.close().then(() => (closed = true));
    await Promise.resolve();
    expect(closed).toBe(false);
    release(new Error('socket hang up'));
    await closing;
    expect(attempts.list).toEqual([
      expect.objectContaining({ attempt: 1, ok: false, nextAttemptAt: T0 + 30_000 }),
    ]);
    expect(clock.pendingTimers()).toBe(0);
    expect(dispatcher.failures()).toEqual([]);
  });

  it('refuses two channels with the same name', () => {
    const clock = manualClock(T0);
    const ch: Channel = { name: 'webhook', send: async () => {} };
    expect(() =>
      createNotifyDispatcher({
        channels: [ch, { ...ch }],
        clock,
        log: memoryLogger(),
        attempts: memoryAttempts(),
      }),
    ).toThrow(/two notification channels named "webhook"/);
  });
});
