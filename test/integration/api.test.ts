import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessEvents, newId } from '../../db/index.ts';
import { createTestApp, databaseKinds, type TestApp } from '../harness/app.harness.ts';
import { encodeCard, createFormatRegistry } from '../../access/index.ts';

type Json = Record<string, unknown>;
const json = async (res: Response) => (await res.json()) as Json;

describe.each(databaseKinds())('API on %s', (kind) => {
  let t: TestApp;
  const cookies: Record<string, string> = {};

  beforeAll(async () => {
    t = await createTestApp(kind);
    for (const role of ['staff', 'manager', 'admin'] as const) cookies[role] = await t.login(role);
  });
  afterAll(async () => {
    await t?.close();
  });

  describe('health and errors', () => {
    it('answers health without auth, naming the database kind', async () => {
      const res = await t.call('GET', '/api/health');
      expect(res.status).toBe(200);
      expect(await json(res)).toMatchObject({ status: 'ok', database: kind, version: 'test' });
    });

    it('answers an unknown /api path with a JSON 404, signed in or not', async () => {
      for (const cookie of [undefined, cookies.admin]) {
        const res = await t.call('GET', '/api/no-such-thing', { cookie });
        expect(res.status).toBe(404);
        expect(res.headers.get('content-type')).toContain('application/json');
        expect(await json(res)).toMatchObject({ error: { code: 'not_found' } });
      }
    });

    it('refuses malformed JSON, wrong media type, unknown fields and oversized bodies', async () => {
      const bad = await t.call('POST', '/api/residents', {
        cookie: cookies.manager,
        body: '{"name":',
      });
      expect(bad.status).toBe(400);
      expect(await json(bad)).toMatchObject({ error: { code: 'invalid_json' } });

      const media = await t.call('POST', '/api/residents', {
        cookie: cookies.manager,
        body: 'name=x',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(media.status).toBe(415);

      const unknown = await t.call('POST', '/api/residents', {
        cookie: cookies.manager,
        body: { name: 'A', unit: '1A', colour: 'red' },
      });
      expect(unknown.status).toBe(400);
      expect(await json(unknown)).toMatchObject({ error: { field: 'colour' } });

      const missing = await t.call('POST', '/api/residents', {
        cookie: cookies.manager,
        body: { name: 'A' },
      });
      expect(missing.status).toBe(400);
      expect(await json(missing)).toMatchObject({ error: { code: 'invalid_body', field: 'unit' } });

      const huge = await t.call('POST', '/api/residents', {
        cookie: cookies.manager,
        body: { name: 'x'.repeat(2 * 1024 * 1024), unit: '1A' },
      });
      expect(huge.status).toBe(413);
    });
  });

  describe('sign-in', () => {
    it('sets an httpOnly SameSite=Strict session cookie and knows the user', async () => {
      const res = await t.call('POST', '/api/auth/login', {
        body: { email: 'STAFF@example.test ', password: 'staff-password-123' },
      });
      expect(res.status).toBe(200);
      const setCookie = res.headers.get('set-cookie') ?? '';
      expect(setCookie).toMatch(/^parcelroom_session=prs_/);
      expect(setCookie).toMatch(/HttpOnly/i);
      expect(setCookie).toMatch(/SameSite=Strict/i);
      const me = await t.call('GET', '/api/auth/me', { cookie: setCookie.split(';')[0] });
      expect(await json(me)).toMatchObject({
        user: { email: 'staff@example.test', role: 'staff' },
      });
    });

    it('is 401 for a wrong password and for an unknown email, with the same message', async () => {
      const wrong = await t.call('POST', '/api/auth/login', {
        body: { email: 'manager@example.test', password: 'not-the-password' },
      });
      const unknown = await t.call('POST', '/api/auth/login', {
        body: { email: 'nobody@example.test', password: 'not-the-password' },
      });
      expect(wrong.status).toBe(401);
      expect(unknown.status).toBe(401);
      expect((await json(wrong)).error).toEqual((await json(unknown)).error);
    });

    it('locks an email after 5 failures, with Retry-After, until the window passes', async () => {
      const body = { email: 'admin@example.test', password: 'guess' };
      for (let i = 0; i < 5; i++) {
        expect((await t.call('POST', '/api/auth/login', { body })).status).toBe(401);
      }
      // Even the right password is refused while locked: a guesser learns nothing.
      const locked = await t.call('POST', '/api/auth/login', {
        body: { email: 'admin@example.test', password: 'admin-password-1234' },
      });
      expect(locked.status).toBe(429);
      expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
      t.clock.advance(15 * 60_000 + 1);
      const after = await t.call('POST', '/api/auth/login', {
        body: { email: 'admin@example.test', password: 'admin-password-1234' },
      });
      expect(after.status).toBe(200);
    });

    it('ends the session on logout', async () => {
      const cookie = await t.login('staff');
      expect((await t.call('GET', '/api/doors', { cookie })).status).toBe(200);
      expect((await t.call('POST', '/api/auth/logout', { cookie })).status).toBe(200);
      const after = await t.call('GET', '/api/doors', { cookie });
      expect(after.status).toBe(401);
    });

    it('expires an idle session', async () => {
      const cookie = await t.login('staff');
      t.clock.advance(12 * 3_600_000 + 1);
      expect((await t.call('GET', '/api/doors', { cookie })).status).toBe(401);
      for (const role of ['staff', 'manager', 'admin'] as const)
        cookies[role] = await t.login(role);
    });

    it('refuses a forged or missing cookie', async () => {
      expect((await t.call('GET', '/api/doors')).status).toBe(401);
      expect(
        (await t.call('GET', '/api/doors', { cookie: 'parcelroom_session=prs_forged' })).status,
      ).toBe(401);
    });

    it('refuses a cross-site write made with the session cookie (CSRF)', async () => {
      const res = await t.call('POST', '/api/residents', {
        cookie: cookies.admin,
        body: { name: 'Mallory', unit: '9Z' },
        headers: { origin: 'http://evil.example' },
      });
      expect(res.status).toBe(403);
    });
  });

  describe('roles (a deny path for every boundary)', () => {
    // [method, path, body, the lowest role allowed]
    const cases: [string, string, unknown, 'staff' | 'manager' | 'admin'][] = [
      ['GET', '/api/doors', undefined, 'staff'],
      ['GET', '/api/residents', undefined, 'staff'],
      ['GET', '/api/credentials', undefined, 'staff'],
      ['POST', '/api/residents', { name: 'Role Test', unit: '7C' }, 'manager'],
      [
        'POST',
        '/api/credentials',
        { residentId: 'x', kind: 'card', format: 'H10301', facilityCode: 1, cardNumber: 1 },
        'manager',
      ],
      ['DELETE', '/api/credentials/nope', undefined, 'manager'],
      ['GET', '/api/staff', undefined, 'admin'],
      [
        'POST',
        '/api/staff',
        { email: 'x@example.test', name: 'X', role: 'staff', password: 'long-enough-pass' },
        'admin',
      ],
      ['PATCH', '/api/staff/nope', { name: 'Y' }, 'admin'],
      ['GET', '/api/settings', undefined, 'admin'],
      ['GET', '/api/tokens', undefined, 'admin'],
      ['POST', '/api/tokens', { name: 'pms', role: 'staff' }, 'admin'],
      ['GET', '/api/audit-log', undefined, 'admin'],
    ];
    const order = ['staff', 'manager', 'admin'] as const;

    it.each(cases)('%s %s: 401 without auth, 403 below %s', async (method, path, body, lowest) => {
      expect((await t.call(method, path, { body })).status).toBe(401);
      for (const role of order) {
        const res = await t.call(method, path, { body, cookie: cookies[role] });
        if (order.indexOf(role) < order.indexOf(lowest)) {
          expect(res.status, `${role} ${method} ${path}`).toBe(403);
          expect(await json(res)).toMatchObject({ error: { code: 'forbidden' } });
        } else {
          expect([401, 403]).not.toContain(res.status);
        }
      }
    });

    it('a staff session that creates a credential gets 403 and nothing is stored', async () => {
      const res = await t.call('POST', '/api/residents', {
        cookie: cookies.manager,
        body: { name: 'Dana', unit: '2B' },
      });
      const { id } = await json(res);
      const denied = await t.call('POST', '/api/credentials', {
        cookie: cookies.staff,
        body: {
          residentId: id,
          kind: 'card',
          format: 'H10301',
          facilityCode: 12,
          cardNumber: 4242,
        },
      });
      expect(denied.status).toBe(403);
      const list = await json(
        await t.call('GET', `/api/credentials?residentId=${String(id)}`, { cookie: cookies.staff }),
      );
      expect(list.items).toEqual([]);
    });
  });

  describe('residents and credentials', () => {
    let residentId: string;

    it('creates a resident in a unit and lists it', async () => {
      const res = await t.call('POST', '/api/residents', {
        cookie: cookies.manager,
        body: { name: 'Ann Lee', unit: '4B', email: 'ann@example.test', phone: '+1 555 0100' },
      });
      expect(res.status).toBe(201);
      residentId = (await json(res)).id as string;
      const list = await json(
        await t.call('GET', '/api/residents?unit=4B', { cookie: cookies.staff }),
      );
      expect(list.items).toEqual([
        expect.objectContaining({
          id: residentId,
          name: 'Ann Lee',
          unit: '4B',
          email: 'ann@example.test',
        }),
      ]);
      const search = await json(
        await t.call('GET', '/api/residents?q=ann', { cookie: cookies.staff }),
      );
      expect((search.items as Json[]).map((r) => r.id)).toContain(residentId);
    });

    it('enrols a card for every contract format, with range checks per format', async () => {
      const registry = createFormatRegistry();
      const samples: [string, number | undefined, number][] = [
        ['H10301', 123, 45678],
        ['H10306', 40000, 65000],
        ['C1000-35', 4000, 1_000_000],
        ['H10302', undefined, 30_000_000_000],
        ['H10304', 60000, 500000],
      ];
      for (const [format, facilityCode, cardNumber] of samples) {
        // The values must be encodable in the format, as a real card would carry them.
        expect(() =>
          encodeCard(registry.get(format)!, {
            ...(facilityCode !== undefined ? { facility: facilityCode } : {}),
            card: cardNumber,
          }),
        ).not.toThrow();
        const res = await t.call('POST', '/api/credentials', {
          cookie: cookies.manager,
          body: {
            residentId,
            kind: 'card',
            format,
            ...(facilityCode !== undefined ? { facilityCode } : {}),
            cardNumber,
          },
        });
        expect(res.status, format).toBe(201);
      }
      const list = await json(
        await t.call('GET', `/api/credentials?residentId=${residentId}`, { cookie: cookies.staff }),
      );
      expect((list.items as Json[]).map((c) => c.format).sort()).toEqual([
        'C1000-35',
        'H10301',
        'H10302',
        'H10304',
        'H10306',
      ]);
    });

    it('refuses out-of-range numbers, a missing facility code and a duplicate card', async () => {
      const post = (body: Json) =>
        t.call('POST', '/api/credentials', {
          cookie: cookies.manager,
          body: { residentId, kind: 'card', ...body },
        });
      const tooBig = await post({ format: 'H10301', facilityCode: 256, cardNumber: 1 });
      expect(tooBig.status).toBe(400);
      expect(await json(tooBig)).toMatchObject({ error: { field: 'facilityCode' } });
      const cardTooBig = await post({ format: 'H10301', facilityCode: 1, cardNumber: 65536 });
      expect(await json(cardTooBig)).toMatchObject({ error: { field: 'cardNumber' } });
      const noFacility = await post({ format: 'H10306', cardNumber: 5 });
      expect(await json(noFacility)).toMatchObject({ error: { field: 'facilityCode' } });
      const facilityOnH10302 = await post({ format: 'H10302', facilityCode: 1, cardNumber: 5 });
      expect(await json(facilityOnH10302)).toMatchObject({ error: { field: 'facilityCode' } });
      const badFormat = await post({ format: 'H99999', facilityCode: 1, cardNumber: 5 });
      expect(await json(badFormat)).toMatchObject({ error: { field: 'format' } });
      const dup = await post({ format: 'H10301', facilityCode: 123, cardNumber: 45678 });
      expect(dup.status).toBe(409);
      expect(await json(dup)).toMatchObject({ error: { code: 'duplicate_card' } });
      const noHolder = await post({
        residentId: 'no-such-resident',
        format: 'H10301',
        facilityCode: 1,
        cardNumber: 2,
      });
      expect(noHolder.status).toBe(404);
    });

    it('revokes a card; the number can then be enrolled again', async () => {
      const list = await json(
        await t.call('GET', `/api/credentials?residentId=${residentId}`, { cookie: cookies.staff }),
      );
      const card = (list.items as Json[]).find((c) => c.format === 'H10301')!;
      const del = await t.call('DELETE', `/api/credentials/${String(card.id)}`, {
        cookie: cookies.manager,
      });
      expect(del.status).toBe(200);
      const again = await t.call('POST', '/api/credentials', {
        cookie: cookies.manager,
        body: { residentId, kind: 'card', format: 'H10301', facilityCode: 123, cardNumber: 45678 },
      });
      expect(again.status).toBe(201);
    });
  });

  describe('staff, tokens and the audit log', () => {
    it('admin creates staff who can sign in; duplicate email is 409; weak password is 400', async () => {
      const res = await t.call('POST', '/api/staff', {
        cookie: cookies.admin,
        body: {
          email: 'desk@example.test',
          name: 'Desk',
          role: 'staff',
          password: 'desk-password-1',
        },
      });
      expect(res.status).toBe(201);
      const login = await t.call('POST', '/api/auth/login', {
        body: { email: 'desk@example.test', password: 'desk-password-1' },
      });
      expect(login.status).toBe(200);
      const dup = await t.call('POST', '/api/staff', {
        cookie: cookies.admin,
        body: {
          email: 'desk@example.test',
          name: 'Desk',
          role: 'staff',
          password: 'desk-password-1',
        },
      });
      expect(dup.status).toBe(409);
      const weak = await t.call('POST', '/api/staff', {
        cookie: cookies.admin,
        body: { email: 'weak@example.test', name: 'W', role: 'staff', password: 'short' },
      });
      expect(await json(weak)).toMatchObject({ error: { field: 'password' } });
    });

    it('a disabled staff member can no longer sign in or use an open session', async () => {
      const created = await json(
        await t.call('POST', '/api/staff', {
          cookie: cookies.admin,
          body: {
            email: 'temp@example.test',
            name: 'Temp',
            role: 'staff',
            password: 'temp-password-1',
          },
        }),
      );
      const login = await t.call('POST', '/api/auth/login', {
        body: { email: 'temp@example.test', password: 'temp-password-1' },
      });
      const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
      expect((await t.call('GET', '/api/doors', { cookie })).status).toBe(200);
      const patch = await t.call('PATCH', `/api/staff/${String(created.id)}`, {
        cookie: cookies.admin,
        body: { disabled: true },
      });
      expect(patch.status).toBe(200);
      expect((await t.call('GET', '/api/doors', { cookie })).status).toBe(401);
      const again = await t.call('POST', '/api/auth/login', {
        body: { email: 'temp@example.test', password: 'temp-password-1' },
      });
      expect(again.status).toBe(401);
    });

    it('API tokens carry their role, are hashed at rest and stop working when revoked', async () => {
      const res = await t.call('POST', '/api/tokens', {
        cookie: cookies.admin,
        body: { name: 'pms-sync', role: 'manager' },
      });
      expect(res.status).toBe(201);
      const { id, token } = (await json(res)) as { id: string; token: string };
      expect(token).toMatch(/^prt_/);
      const stored = await t.database.db.execute(
        sql`select token_hash from api_tokens where id = ${id}`,
      );
      const hashRow =
        (stored as unknown as { rows?: Json[] }).rows?.[0] ?? (stored as unknown as Json[])[0];
      expect(hashRow?.token_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(JSON.stringify(hashRow)).not.toContain(token);

      const ok = await t.call('POST', '/api/residents', {
        bearer: token,
        body: { name: 'Via Token', unit: '5A' },
      });
      expect(ok.status).toBe(201);
      const denied = await t.call('GET', '/api/staff', { bearer: token });
      expect(denied.status).toBe(403);
      const revoke = await t.call('DELETE', `/api/tokens/${id}`, { cookie: cookies.admin });
      expect(revoke.status).toBe(200);
      expect((await t.call('GET', '/api/doors', { bearer: token })).status).toBe(401);
      expect((await t.call('GET', '/api/doors', { bearer: 'prt_made_up' })).status).toBe(401);
    });

    it('records every write with who, what and when; reads are not recorded', async () => {
      const before = await json(
        await t.call('GET', '/api/audit-log?limit=500', { cookie: cookies.admin }),
      );
      const res = await t.call('POST', '/api/residents', {
        cookie: cookies.manager,
        body: { name: 'Audit Me', unit: '8D' },
      });
      const { id } = await json(res);
      await t.call('GET', '/api/residents', { cookie: cookies.manager });
      const after = await json(
        await t.call('GET', '/api/audit-log?limit=500', { cookie: cookies.admin }),
      );
      const newRows = (after.items as Json[]).slice(
        0,
        (after.items as Json[]).length - (before.items as Json[]).length,
      );
      expect(newRows).toEqual([
        expect.objectContaining({
          actor: 'manager@example.test',
          action: 'resident.create',
          targetType: 'resident',
          targetId: id,
        }),
      ]);
      expect(Date.parse(String(newRows[0]!.at))).toBe(t.clock.now());
    });

    it('pages the audit log with a cursor, newest first, without repeats', async () => {
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await json(
          await t.call('GET', `/api/audit-log?limit=3${cursor ? `&cursor=${cursor}` : ''}`, {
            cookie: cookies.admin,
          }),
        );
        seen.push(...(page.items as Json[]).map((r) => String(r.id)));
        cursor = page.nextCursor as string | undefined;
      } while (cursor);
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen.length).toBeGreaterThan(5);
      expect([...seen].sort().reverse()).toEqual(seen);
    });
  });

  describe('doors and settings', () => {
    it('lists the demo door with its contract shape and follows the simulated contact', async () => {
      const doors = (await (
        await t.call('GET', '/api/doors', { cookie: cookies.staff })
      ).json()) as Json[];
      expect(doors).toEqual([
        { id: 'front', name: 'Package room door', strike: 'locked', contact: 'closed', alarms: [] },
      ]);
      await t.call('POST', '/api/sim/doors/front/contact', {
        cookie: cookies.staff,
        body: { state: 'open' },
      });
      const after = (await (
        await t.call('GET', '/api/doors', { cookie: cookies.staff })
      ).json()) as Json[];
      expect(after[0]).toMatchObject({ contact: 'open' });
      await t.call('POST', '/api/sim/doors/front/contact', {
        cookie: cookies.staff,
        body: { state: 'closed' },
      });
    });

    it('shows the site to an admin with secrets redacted', async () => {
      const res = await json(await t.call('GET', '/api/settings', { cookie: cookies.admin }));
      expect(res).toMatchObject({ site: { site: { id: 'demo' }, doors: [{ id: 'front' }] } });
    });
  });

  describe('access events are append-only', () => {
    it('refuses UPDATE and DELETE of a stored event', async () => {
      const id = newId();
      await t.database.db.insert(accessEvents).values({
        id,
        siteId: 'demo',
        at: new Date(t.clock.now()),
        type: 'access',
        doorId: 'front',
        decision: 'granted',
        reason: 'granted',
      });
      const failure = async (p: Promise<unknown>) => {
        try {
          await p;
        } catch (err) {
          // drizzle wraps the database error; the trigger's message is in the cause.
          return String((err as { cause?: unknown }).cause ?? err);
        }
        return 'no error';
      };
      expect(
        await failure(
          t.database.db.execute(sql`update access_events set reason = 'x' where id = ${id}`),
        ),
      ).toMatch(/append-only/);
      expect(
        await failure(t.database.db.execute(sql`delete from access_events where id = ${id}`)),
      ).toMatch(/append-only/);
      const rows = await t.database.db.execute(
        sql`select reason from access_events where id = ${id}`,
      );
      const list = (rows as unknown as { rows?: Json[] }).rows ?? (rows as unknown as Json[]);
      expect(list[0]?.reason).toBe('granted');
    });
  });
});
