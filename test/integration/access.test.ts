import { eq, sql } from 'drizzle-orm';
import { credentials } from '../../db/index.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFormatRegistry, encodeCard, type WiegandFormat } from '../../access/index.ts';
import { createTestApp, databaseKinds, type TestApp } from '../harness/app.harness.ts';

type Json = Record<string, unknown>;
const json = async (res: Response) => (await res.json()) as Json;
const formats = createFormatRegistry();
const frame = (format: string, card: number, facility?: number) =>
  encodeCard(formats.get(format) as WiegandFormat, {
    ...(facility !== undefined ? { facility } : {}),
    card,
  });

describe.each(databaseKinds())('door access on %s', (kind) => {
  let t: TestApp;
  let manager: string;
  let staff: string;
  let residentId: string;

  // A decision answers with the id of its access event, durable by the time it answers.
  const withoutEventId = (o: Json) => {
    const { eventId, ...rest } = o;
    if (rest.decision) expect(eventId).toMatch(/^[0-9a-f-]{36}$/);
    return rest;
  };
  const swipe = async (bits: string, reader = 'front-reader') =>
    withoutEventId(
      await json(
        await t.call('POST', `/api/sim/readers/${reader}/wiegand`, {
          cookie: staff,
          body: { bits },
        }),
      ),
    );
  const keys = async (k: string, mode: '4bit' | '8bit' = '4bit') =>
    withoutEventId(
      await json(
        await t.call('POST', '/api/sim/readers/front-reader/keys', {
          cookie: staff,
          body: { keys: k, mode },
        }),
      ),
    );
  const door = async () =>
    ((await (await t.call('GET', '/api/doors', { cookie: staff })).json()) as Json[])[0]!;
  const contact = (state: 'open' | 'closed') =>
    t.call('POST', '/api/sim/doors/front/contact', { cookie: staff, body: { state } });
  const events = async (query = '') => {
    await t.services.journal.drained();
    return (await json(await t.call('GET', `/api/events?limit=500${query}`, { cookie: staff })))
      .items as Json[];
  };
  const enrol = async (format: string, cardNumber: number, facilityCode?: number) => {
    const res = await t.call('POST', '/api/credentials', {
      cookie: manager,
      body: {
        residentId,
        kind: 'card',
        format,
        cardNumber,
        ...(facilityCode !== undefined ? { facilityCode } : {}),
      },
    });
    expect(res.status).toBe(201);
    await t.services.snapshot.refresh();
    return (await json(res)).id as string;
  };

  beforeAll(async () => {
    t = await createTestApp(kind);
    manager = await t.login('manager');
    staff = await t.login('staff');
    const res = await t.call('POST', '/api/residents', {
      cookie: manager,
      body: { name: 'Ann Lee', unit: '4B' },
    });
    residentId = (await json(res)).id as string;
  });
  afterAll(async () => {
    await t?.close();
  });

  it('grants an enrolled card of every contract format and unlocks the strike for grantMs', async () => {
    const cases: [string, number, number | undefined][] = [
      ['H10301', 4242, 12],
      ['H10306', 60000, 4000],
      ['C1000-35', 900000, 3000],
      ['H10302', 12345678901, undefined],
      ['H10304', 300000, 5000],
    ];
    for (const [format, cardNo, facility] of cases) await enrol(format, cardNo, facility);
    for (const [format, cardNo, facility] of cases) {
      expect(await swipe(frame(format, cardNo, facility)), format).toEqual({
        decision: 'granted',
        reason: 'granted',
      });
      expect((await door()).strike).toBe('unlocked');
      t.clock.advance(5_000);
      expect((await door()).strike).toBe('locked');
    }
    const granted = await events('&type=access&decision=granted');
    expect(granted).toHaveLength(5);
    expect(granted[0]).toMatchObject({
      residentId,
      doorId: 'front',
      readerId: 'front-reader',
      decision: 'granted',
    });
    const noEntry = await events('&type=no_entry');
    expect(noEntry).toHaveLength(5);
  });

  it('refuses with the reason for each failure, and records each refusal', async () => {
    const good = frame('H10301', 4242, 12);
    const flip = (bits: string, i: number) =>
      bits.slice(0, i) + (bits[i] === '0' ? '1' : '0') + bits.slice(i + 1);
    expect(await swipe(frame('H10301', 4243, 12))).toEqual({
      decision: 'denied',
      reason: 'unknown_credential',
    });
    expect(await swipe(flip(good, 3))).toEqual({ decision: 'denied', reason: 'parity_error' });
    expect(await swipe('1'.repeat(30))).toEqual({ decision: 'denied', reason: 'unknown_format' });
    expect(await swipe('0101x')).toEqual({ decision: 'denied', reason: 'malformed_frame' });
    expect((await door()).strike).toBe('locked');
    const denied = await events('&decision=denied');
    expect(denied.map((e) => e.reason)).toEqual([
      'malformed_frame',
      'unknown_format',
      'parity_error',
      'unknown_credential',
    ]);
    expect(denied[3]!.details).toMatchObject({ format: 'H10301', facility: 12, card: 4243 });
  });

  it('refuses a revoked card at once', async () => {
    const id = await enrol('H10301', 777, 12);
    expect((await swipe(frame('H10301', 777, 12))).decision).toBe('granted');
    t.clock.advance(5_000);
    await t.call('DELETE', `/api/credentials/${id}`, { cookie: manager });
    await t.services.snapshot.refresh();
    expect(await swipe(frame('H10301', 777, 12))).toEqual({
      decision: 'denied',
      reason: 'revoked',
    });
  });

  it('picks up a change made outside the API at the next periodic check', async () => {
    const id = await enrol('H10301', 888, 12);
    expect((await swipe(frame('H10301', 888, 12))).decision).toBe('granted');
    t.clock.advance(5_000);
    // Another box of the company, or an operator with psql, revokes the card.
    await t.database.db
      .update(credentials)
      .set({ status: 'revoked', revokedAt: new Date(t.clock.now()) })
      .where(eq(credentials.id, id));
    const deadline = Date.now() + 5_000;
    let last = await swipe(frame('H10301', 888, 12));
    while (last.decision === 'granted' && Date.now() < deadline) {
      t.clock.advance(5_000);
      await new Promise((r) => setTimeout(r, 50));
      last = await swipe(frame('H10301', 888, 12));
    }
    expect(last).toEqual({ decision: 'denied', reason: 'revoked' });
  });

  it('rejects a bad sim body and an unknown reader clearly', async () => {
    const res = await t.call('POST', '/api/sim/readers/nope/wiegand', {
      cookie: staff,
      body: { bits: '0101' },
    });
    expect(res.status).toBe(404);
    const bad = await t.call('POST', '/api/sim/readers/front-reader/keys', {
      cookie: staff,
      body: { keys: '12a#' },
    });
    expect(bad.status).toBe(400);
    expect(await json(bad)).toMatchObject({ error: { field: 'keys' } });
  });

  describe('carrier codes', () => {
    let code: string;
    let codeId: string;

    it('a manager creates a code shown once; staff may not', async () => {
      const denied = await t.call('POST', '/api/carrier-codes', {
        cookie: staff,
        body: { carrier: 'UPS', validUntil: new Date(t.clock.now() + 3_600_000).toISOString() },
      });
      expect(denied.status).toBe(403);
      const res = await t.call('POST', '/api/carrier-codes', {
        cookie: manager,
        body: {
          carrier: 'UPS',
          validUntil: new Date(t.clock.now() + 3_600_000).toISOString(),
          maxUses: 2,
          doorIds: ['front'],
        },
      });
      expect(res.status).toBe(201);
      ({ id: codeId, code } = (await json(res)) as { id: string; code: string });
      await t.services.snapshot.refresh();
      expect(code).toMatch(/^\d{6}$/);
      const list = await json(await t.call('GET', '/api/carrier-codes', { cookie: manager }));
      expect(list.items).toEqual([
        expect.objectContaining({
          id: codeId,
          carrier: 'UPS',
          uses: 0,
          maxUses: 2,
          state: 'active',
          doorIds: ['front'],
        }),
      ]);
      expect(JSON.stringify(list)).not.toContain(code);
    });

    it('opens the door when typed on the keypad (4-bit and 8-bit), counting uses', async () => {
      expect(await keys('12')).toEqual({});
      expect(await keys('*')).toEqual({});
      expect(await keys(`${code}#`)).toEqual({ decision: 'granted', reason: 'granted' });
      expect((await door()).strike).toBe('unlocked');
      await contact('open');
      await contact('closed');
      expect((await door()).strike).toBe('locked');
      expect(await keys(`${code}#`, '8bit')).toEqual({ decision: 'granted', reason: 'granted' });
      t.clock.advance(5_000);
      expect(await keys(`${code}#`)).toEqual({ decision: 'denied', reason: 'uses_exhausted' });
      await t.services.journal.drained();
      const list = await json(await t.call('GET', '/api/carrier-codes', { cookie: manager }));
      expect((list.items as Json[])[0]).toMatchObject({ uses: 2, state: 'used_up' });
      const entries = await events(`&type=access&carrierCodeId=${codeId}`);
      expect(entries.map((e) => e.decision)).toEqual(['denied', 'granted', 'granted']);
      const opened = await events('&type=door_opened');
      expect(opened[0]).toMatchObject({ carrierCodeId: codeId });
    });

    it('refuses outside the window and after revocation', async () => {
      const res = await t.call('POST', '/api/carrier-codes', {
        cookie: manager,
        body: {
          carrier: 'FedEx',
          validFrom: new Date(t.clock.now() + 60_000).toISOString(),
          validUntil: new Date(t.clock.now() + 120_000).toISOString(),
        },
      });
      const later = (await json(res)) as { id: string; code: string };
      await t.services.snapshot.refresh();
      expect(await keys(`${later.code}#`)).toEqual({
        decision: 'denied',
        reason: 'outside_window',
      });
      t.clock.advance(60_000);
      expect(await keys(`${later.code}#`)).toEqual({ decision: 'granted', reason: 'granted' });
      t.clock.advance(5_000);
      expect(
        (await t.call('DELETE', `/api/carrier-codes/${later.id}`, { cookie: manager })).status,
      ).toBe(200);
      await t.services.snapshot.refresh();
      expect(await keys(`${later.code}#`)).toEqual({ decision: 'denied', reason: 'revoked' });
      t.clock.advance(120_000);
      const list = await json(
        await t.call('GET', '/api/carrier-codes?state=revoked', { cookie: manager }),
      );
      expect((list.items as Json[]).map((i) => i.id)).toEqual([later.id]);
    });

    it('locks the keypad after 5 wrong PINs, raises keypad_lockout, and unlocks after 5 min', async () => {
      t.clock.advance(61_000);
      const res = await t.call('POST', '/api/carrier-codes', {
        cookie: manager,
        body: { carrier: 'DHL', validUntil: new Date(t.clock.now() + 86_400_000).toISOString() },
      });
      const good = ((await json(res)) as { code: string }).code;
      await t.services.snapshot.refresh();
      const wrong = good === '999999' ? '999998' : '999999';
      for (let i = 0; i < 5; i++)
        expect((await keys(`${wrong}#`)).reason).toBe('unknown_credential');
      expect(await keys(`${good}#`)).toEqual({ decision: 'denied', reason: 'keypad_locked' });
      const alarms = (await door()).alarms as Json[];
      expect(alarms).toEqual([expect.objectContaining({ kind: 'keypad_lockout' })]);
      expect(await events('&type=keypad_lockout')).toHaveLength(1);
      t.clock.advance(300_000);
      expect((await door()).alarms).toEqual([]);
      expect(await keys(`${good}#`)).toEqual({ decision: 'granted', reason: 'granted' });
      t.clock.advance(5_000);
    });
  });

  describe('door alarms', () => {
    it('raises forced_open when the door opens with no grant, cleared on close', async () => {
      await contact('open');
      expect(((await door()).alarms as Json[]).map((a) => a.kind)).toEqual(['forced_open']);
      await contact('closed');
      expect((await door()).alarms).toEqual([]);
      expect((await events('&type=forced_open')).length).toBe(1);
    });

    it('REX lets the door open without an alarm', async () => {
      await t.call('POST', '/api/sim/doors/front/rex', { cookie: staff });
      await contact('open');
      expect((await door()).alarms).toEqual([]);
      await contact('closed');
      expect((await events('&type=rex')).length).toBe(1);
    });

    it('raises held_open after heldOpenMs, with the pre-alarm first', async () => {
      expect((await swipe(frame('H10301', 4242, 12))).decision).toBe('granted');
      await contact('open');
      t.clock.advance(50_000);
      expect(await events('&type=held_open_warning')).toHaveLength(1);
      expect((await door()).alarms).toEqual([]);
      t.clock.advance(10_000);
      expect(((await door()).alarms as Json[]).map((a) => a.kind)).toEqual(['held_open']);
      await contact('closed');
      expect((await door()).alarms).toEqual([]);
      expect(await events('&type=held_open')).toHaveLength(1);
    });

    it('keeps door_alarms rows in the database, open until cleared', async () => {
      await t.services.journal.drained();
      const open = await t.database.db.query.doorAlarms.findMany();
      expect(open.map((a) => a.kind).sort()).toEqual([
        'forced_open',
        'held_open',
        'keypad_lockout',
      ]);
      expect(open.every((a) => a.clearedAt !== null)).toBe(true);
    });
  });

  it.runIf(kind === 'postgres')(
    'serves the newest-first event pages from the index, without sorting',
    async () => {
      const plans: string[] = [];
      for (const where of [sql`site_id = 'demo'`, sql`site_id = 'demo' and door_id = 'front'`]) {
        const plan = await t.database.db.transaction(async (tx) => {
          // With sorting priced out, a plan that still sorts means no index gives this order.
          await tx.execute(sql`set local enable_sort = off`);
          await tx.execute(sql`set local enable_seqscan = off`);
          const res = await tx.execute(
            sql`explain select * from access_events where ${where} order by at desc, id desc limit 51`,
          );
          return (res as unknown as { rows: Record<string, string>[] }).rows
            .map((r) => r['QUERY PLAN'])
            .join('\n');
        });
        plans.push(plan);
      }
      expect(plans[0]).toContain('access_events_site_at_idx');
      for (const plan of plans) expect(plan).not.toMatch(/\bSort\b/);
    },
  );

  it('answers parallel swipes on one reader each with its own decision', async () => {
    const answers = await Promise.all(
      [4242, 1, 4242, 2].map(async (card) =>
        json(
          await t.call('POST', '/api/sim/readers/front-reader/wiegand', {
            cookie: staff,
            body: { bits: frame('H10301', card, 12) },
          }),
        ),
      ),
    );
    expect(answers.map((a) => a.decision)).toEqual(['granted', 'denied', 'granted', 'denied']);
    expect(new Set(answers.map((a) => a.eventId)).size).toBe(4);
    t.clock.advance(5_000);
  });

  it('ends a live stream when its session ends', async () => {
    const cookie = await t.login('staff');
    const res = await t.call('GET', '/api/events/stream', { cookie });
    const reader = res.body!.getReader();
    await reader.read();
    await t.call('POST', '/api/auth/logout', { cookie });
    const deadline = Date.now() + 15_000;
    let done = false;
    while (!done && Date.now() < deadline) {
      // Door activity keeps the stream busy; it must still close once the session is gone.
      await t.call('POST', '/api/sim/doors/front/rex', { cookie: staff });
      done = (await Promise.race([
        reader.read().then((r) => r.done),
        new Promise<boolean>((r) => setTimeout(() => r(false), 500)),
      ])) as boolean;
    }
    expect(done).toBe(true);
  });

  it('streams events and door changes to the console (SSE)', async () => {
    const res = await t.call('GET', '/api/events/stream', { cookie: staff });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const until = async (pattern: RegExp) => {
      const deadline = Date.now() + 10_000;
      while (!pattern.test(text) && Date.now() < deadline) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value);
      }
      return pattern.test(text);
    };
    expect(await until(/event: hello/)).toBe(true);
    await swipe(frame('H10301', 4242, 12));
    expect(await until(/event: event\ndata: \{[^\n]*"type":"access"/)).toBe(true);
    expect(await until(/event: door\ndata: \{[^\n]*"strike":"unlocked"/)).toBe(true);
    await reader.cancel();
    t.clock.advance(5_000);
  });
});
