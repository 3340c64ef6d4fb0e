/**
 * Fuzzing every JSON body of the API (issue 7, "Abuse"). For each route that reads a JSON body,
 * fast-check sends arbitrary JSON, non-JSON text, and valid bodies mutated the way an attacker or
 * a buggy integration would: wrong types, missing and extra fields, huge strings, deep nesting,
 * prototype-pollution keys, unicode, lone surrogates and NUL bytes, odd content types. The answer
 * must always be a clear refusal, a 4xx with `{error: {code, message}}`, or a 2xx when the body
 * happens to be valid; never a 5xx, never a polluted prototype, and the server keeps answering.
 *
 * Also every query string of the list routes, with the same hostile values.
 *
 * The runs per route are bounded (fast-check's seed is printed on failure, so a counterexample
 * replays exactly); the whole file stays well under a minute on PGlite.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFormatRegistry, encodeCard, type WiegandFormat } from '../../access/index.ts';
import { createTestApp, PASSWORDS, type TestApp } from '../harness/app.harness.ts';

type Json = Record<string, unknown>;
const json = async (res: Response) => (await res.json()) as Json;

/** Runs per JSON route; every run is one request (more while fast-check shrinks a failure). */
const RUNS = 100;
const QUERY_RUNS = 60;
/** A failure prints its seed; `FUZZ_SEED=<seed>` replays that run exactly. */
const SEED = process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED) } : {};

// -------------------------------------------------------------------------------------------
// Hostile values

/** Strings that have broken servers before: SQL, paths, control and bidi characters, NUL. */
const NASTY_STRINGS = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff\ud800',
  '\u202eevil',
  '\ufeff',
  'é'.normalize('NFD'),
  '💩'.repeat(40),
  "' OR '1'='1",
  "'; DROP TABLE residents; --",
  '%',
  '_',
  '\\',
  '../../../../etc/passwd',
  '..%2f..%2fetc%2fpasswd',
  '<script>alert(1)</script>',
  '${7*7}',
  '{{7*7}}',
  'null',
  'undefined',
  'NaN',
  '-1',
  '1e999',
  '0x10',
  '2026-02-30T25:61:61Z',
  '9999-12-31T23:59:59.999Z',
  '-271821-04-20T00:00:00Z',
];

/** A JSON text of `depth` nested arrays or objects around a scalar. */
const nested = (depth: number, kind: 'array' | 'object') =>
  kind === 'array'
    ? `${'['.repeat(depth)}1${']'.repeat(depth)}`
    : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

/** A JSON value as text; `raw` values are inserted verbatim (deep nesting, huge numbers). */
type Hostile = { json: unknown } | { raw: string };

const hostileValue: fc.Arbitrary<Hostile> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => ({ json: v })) },
  { weight: 3, arbitrary: fc.constantFrom(...NASTY_STRINGS).map((v) => ({ json: v })) },
  {
    weight: 2,
    arbitrary: fc.string({ unit: 'binary', maxLength: 80 }).map((v) => ({ json: v })),
  },
  {
    weight: 1,
    // Longer than every field allows, up to half the body limit.
    arbitrary: fc
      .constantFrom(121, 257, 2_001, 70_000, 500_000)
      .map((n) => ({ json: 'x'.repeat(n) })),
  },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(-0, -1, 0.5, 1e308, -1e308, 2 ** 53 + 2, Number.MAX_SAFE_INTEGER, 2 ** 31)
      .map((v) => ({ json: v })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.constantFrom(64, 1_000, 20_000, 100_000), fc.constantFrom('array', 'object'))
      .map(([d, k]) => ({ raw: nested(d, k as 'array' | 'object') })),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom('1e999', '-1e999', '1' + '0'.repeat(400)).map((raw) => ({ raw })),
  },
);

const valueText = (v: Hostile) => ('raw' in v ? v.raw : JSON.stringify(v.json));

/** Keys that try to reach the prototype chain, or shadow what a handler may call. */
const NASTY_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'then'];
const POLLUTION = '{"polluted":"yes","role":"admin","isAdmin":true}';

/** A body as ordered entries, so `__proto__` and duplicate keys survive into the text. */
type Entries = [string, string][];
const objectText = (entries: Entries) =>
  `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
const toEntries = (body: Json): Entries =>
  Object.entries(body).map(([k, v]) => [k, JSON.stringify(v)]);

type Mutation =
  | { kind: 'set'; pick: number; value: Hostile }
  | { kind: 'add'; key: string; value: Hostile }
  | { kind: 'drop'; pick: number }
  | { kind: 'pollute'; key: '__proto__' | 'constructor' }
  | { kind: 'duplicate'; pick: number; value: Hostile };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('set' as const),
      pick: fc.nat(),
      value: hostileValue,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('add' as const),
      key: fc.oneof(fc.constantFrom(...NASTY_KEYS), fc.string({ unit: 'binary', maxLength: 20 })),
      value: hostileValue,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('drop' as const), pick: fc.nat() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('pollute' as const),
      key: fc.constantFrom('__proto__' as const, 'constructor' as const),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('duplicate' as const),
      pick: fc.nat(),
      value: hostileValue,
    }),
  },
);

function mutate(body: Json, mutations: Mutation[]): string {
  let entries = toEntries(body);
  const at = (pick: number) => (entries.length ? pick % entries.length : -1);
  for (const m of mutations) {
    switch (m.kind) {
      case 'set': {
        const i = at(m.pick);
        if (i >= 0) entries[i] = [entries[i]![0], valueText(m.value)];
        break;
      }
      case 'add':
        entries.push([m.key, valueText(m.value)]);
        break;
      case 'drop': {
        const i = at(m.pick);
        if (i >= 0) entries = entries.filter((_, j) => j !== i);
        break;
      }
      case 'pollute':
        entries.unshift(
          m.key === '__proto__'
            ? ['__proto__', POLLUTION]
            : ['constructor', `{"prototype":${POLLUTION}}`],
        );
        break;
      case 'duplicate': {
        const i = at(m.pick);
        // JSON.parse keeps the last of two equal keys: the check must see that one.
        if (i >= 0) entries.push([entries[i]![0], valueText(m.value)]);
        break;
      }
    }
  }
  return objectText(entries);
}

const CONTENT_TYPES = [
  'application/json; charset=utf-8',
  'Application/JSON',
  'application/json; charset=latin1',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  '',
];

interface FuzzCase {
  text: string;
  contentType: string;
}

/** Arbitrary bodies for one route, given an arbitrary of (mostly) valid bodies for it. */
function bodies(valid: fc.Arbitrary<Json>): fc.Arbitrary<FuzzCase> {
  const text = fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .tuple(valid, fc.array(mutation, { minLength: 1, maxLength: 3 }))
        .map(([b, ms]) => mutate(b, ms)),
    },
    { weight: 2, arbitrary: valid.map((b) => JSON.stringify(b)) },
    { weight: 2, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) },
    {
      weight: 1,
      arbitrary: fc.oneof(
        fc.string({ unit: 'binary', maxLength: 100 }),
        valid.map((b) => JSON.stringify(b).slice(0, -1)),
        valid.map((b) => `\ufeff${JSON.stringify(b)}`),
        fc.constantFrom(
          '',
          'null',
          '[]',
          '{}',
          '"{}"',
          'true',
          '{"a":1}garbage',
          '{,}',
          nested(5_000, 'array'),
        ),
      ),
    },
  );
  const contentType = fc.oneof(
    { weight: 8, arbitrary: fc.constant('application/json') },
    { weight: 2, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
  );
  return fc.record({ text, contentType });
}

// -------------------------------------------------------------------------------------------
// Valid bodies, per route

const trimmed = (max: number) =>
  fc.string({ minLength: 1, maxLength: max }).filter((s) => s.trim().length > 0);
const iso = (fromMs: number, spanMs: number) =>
  fc.integer({ min: fromMs, max: fromMs + spanMs }).map((ms) => new Date(ms).toISOString());
const formats = createFormatRegistry();
const h10301 = (card: number) =>
  encodeCard(formats.get('H10301') as WiegandFormat, { facility: 12, card });

describe('fuzzing every JSON body (PGlite)', () => {
  let t: TestApp;
  let admin: string;
  let carrierKiosk: string;
  let residentKiosk: string;
  let residentId: string;
  let targetStaffId: string;
  let flagId: string;
  const packageIds: string[] = [];
  const units = ['4B', '7C', '12A'];

  const send = async (method: string, path: string, c: FuzzCase, cookie?: string) => {
    const bytes = new TextEncoder().encode(c.text);
    // As a socket client sends it: the length always, the type only when the case has one.
    const headers: Record<string, string> = { 'content-length': String(bytes.length) };
    if (c.contentType) headers['content-type'] = c.contentType;
    if (cookie) headers.cookie = cookie;
    // A byte body, so no content type is added for us when the case has none.
    return t.app.request(`http://parcelroom.test${path}`, { method, headers, body: bytes });
  };

  /** The contract's answer shape, whatever was sent. */
  const expectClearAnswer = async (res: Response, label: string) => {
    const text = await res.text();
    expect(res.status, `${label} → ${res.status} ${text.slice(0, 300)}`).toBeLessThan(500);
    expect(res.headers.get('content-type'), label).toContain('application/json');
    const body = JSON.parse(text) as Json;
    if (res.status >= 400) {
      expect(body, label).toEqual({
        error: expect.objectContaining({
          code: expect.stringMatching(/^[a-z_]+$/) as string,
          message: expect.any(String) as string,
        }) as Json,
      });
      const keys = Object.keys(body.error as Json);
      for (const k of keys) expect(['code', 'message', 'field'], label).toContain(k);
    }
  };

  const expectUnpolluted = () => {
    const probe = {} as Json;
    expect(probe.polluted).toBeUndefined();
    expect(probe.role).toBeUndefined();
    expect(probe.isAdmin).toBeUndefined();
    expect(Object.keys(Object.prototype)).toEqual([]);
  };

  const expectStillAnswering = async () => {
    expect((await t.call('GET', '/api/health')).status).toBe(200);
    expect((await t.call('GET', '/api/auth/me', { cookie: admin })).status).toBe(200);
  };

  beforeAll(async () => {
    t = await createTestApp('pglite');
    admin = await t.login('admin');
    const staff = await t.login('staff');
    const post = async (path: string, body: unknown, cookie = admin) => {
      const res = await t.call('POST', path, { cookie, body });
      if (res.status >= 300) throw new Error(`${path}: ${res.status} ${await res.text()}`);
      return json(res);
    };
    residentId = (await post('/api/residents', { name: 'Ann Lee', unit: '4B' })).id as string;
    await post('/api/residents', { name: 'Bo Chen', unit: '7C' });
    await post('/api/credentials', {
      residentId,
      kind: 'card',
      format: 'H10301',
      facilityCode: 12,
      cardNumber: 101,
    });
    for (let n = 0; n < 4; n++) {
      const p = await post('/api/packages', {
        trackingNumber: `TBA${String(n).padStart(12, '0')}`,
        carrier: 'Amazon',
        residentId,
        size: 'standard',
      });
      packageIds.push(p.id as string);
    }
    targetStaffId = (
      await t.auth.createStaff({
        email: 'target@example.test',
        name: 'Target',
        role: 'staff',
        password: 'target-password-123',
      })
    ).id;
    const raised = await t.services.flags.raise({
      kind: 'loitering',
      severity: 'medium',
      cameraId: 'room-cam',
      at: t.clock.now(),
      clipWindow: { startAt: t.clock.now() - 95_000, endAt: t.clock.now() + 5_000 },
      trackIds: [7],
      boxes: [],
      evidence: { reason: 'dwell' },
    });
    flagId = raised.flag.id;

    // A carrier's kiosk session: their code opened the door, then they typed it at the kiosk.
    const { code } = (await post('/api/carrier-codes', {
      carrier: 'UPS',
      validUntil: new Date(t.clock.now() + 8 * 3_600_000).toISOString(),
    })) as { code: string };
    expect(
      await post('/api/sim/readers/front-reader/keys', { keys: `${code}#` }, staff),
    ).toMatchObject({
      decision: 'granted',
    });
    const carrier = await t.call('POST', '/api/kiosk/session', { body: { code } });
    expect(carrier.status).toBe(200);
    carrierKiosk = (carrier.headers.get('set-cookie') ?? '').split(';')[0]!;
    // A resident's: their card opened the door, then they tapped the screen.
    expect(
      await post('/api/sim/readers/front-reader/wiegand', { bits: h10301(101) }, staff),
    ).toMatchObject({ decision: 'granted' });
    const resident = await t.call('POST', '/api/kiosk/session/resident', {
      body: { doorId: 'front' },
    });
    expect(resident.status).toBe(200);
    residentKiosk = (resident.headers.get('set-cookie') ?? '').split(';')[0]!;
  });

  afterAll(async () => {
    await t?.close();
  });

  interface Route {
    method: string;
    path: () => string;
    valid: fc.Arbitrary<Json>;
    cookie: () => string | undefined;
  }

  const checkIn = fc.record(
    {
      trackingNumber: fc.stringMatching(/^[A-Z0-9]{8,20}$/),
      carrier: fc.constantFrom('UPS', 'DHL', 'Amazon'),
      unit: fc.constantFrom(...units),
      size: fc.constantFrom('standard', 'oversized', 'perishable'),
      location: fc.constantFrom('l1', 'oversized', 'overflow', 'nowhere'),
    },
    { requiredKeys: ['trackingNumber', 'carrier', 'unit', 'size'] },
  );
  const now = () => t.clock.now();

  // Every route in server/routes/*.ts that reads a JSON body (readBody / readOptionalBody).
  const routes: Record<string, Route> = {
    'POST /api/residents': {
      method: 'POST',
      path: () => '/api/residents',
      cookie: () => admin,
      valid: fc.record(
        {
          name: trimmed(40),
          unit: fc.constantFrom(...units),
          email: fc.emailAddress(),
          phone: fc.stringMatching(/^\+?[0-9]{5,15}$/),
        },
        { requiredKeys: ['name', 'unit'] },
      ),
    },
    'POST /api/credentials': {
      method: 'POST',
      path: () => '/api/credentials',
      cookie: () => admin,
      valid: fc.record(
        {
          residentId: fc.constant(0).map(() => residentId),
          kind: fc.constant('card'),
          format: fc.constantFrom('H10301', 'H10306', 'C1000-35', 'H10302', 'H10304'),
          facilityCode: fc.integer({ min: 0, max: 255 }),
          cardNumber: fc.integer({ min: 0, max: 65_535 }),
        },
        { requiredKeys: ['residentId', 'kind', 'format', 'cardNumber'] },
      ),
    },
    'POST /api/carrier-codes': {
      method: 'POST',
      path: () => '/api/carrier-codes',
      cookie: () => admin,
      valid: fc
        .record(
          {
            carrier: fc.constantFrom('UPS', 'DHL', 'FedEx'),
            validUntil: fc.constant(0).map(() => new Date(now() + 3_600_000).toISOString()),
            validFrom: fc.constant(0).map(() => new Date(now() - 60_000).toISOString()),
            maxUses: fc.integer({ min: 1, max: 10_000 }),
            doorIds: fc.constantFrom([], ['front'], ['back']),
          },
          { requiredKeys: ['carrier', 'validUntil'] },
        )
        .map((b) => b as Json),
    },
    'POST /api/packages': {
      method: 'POST',
      path: () => '/api/packages',
      cookie: () => admin,
      valid: checkIn,
    },
    'POST /api/packages/:id/pickup': {
      method: 'POST',
      path: () => `/api/packages/${packageIds[0]}/pickup`,
      cookie: () => admin,
      valid: fc.record(
        { residentId: fc.constant(0).map(() => residentId), handedTo: trimmed(40) },
        { requiredKeys: [] },
      ),
    },
    'POST /api/packages/:id/return': {
      method: 'POST',
      path: () => `/api/packages/${packageIds[1]}/return`,
      cookie: () => admin,
      valid: fc.record({ reason: trimmed(60) }, { requiredKeys: [] }),
    },
    'POST /api/kiosk/session': {
      method: 'POST',
      path: () => '/api/kiosk/session',
      cookie: () => undefined,
      valid: fc.record({ code: fc.stringMatching(/^\d{4,16}$/) }),
    },
    'POST /api/kiosk/session/resident': {
      method: 'POST',
      path: () => '/api/kiosk/session/resident',
      cookie: () => undefined,
      valid: fc.record({ doorId: fc.constantFrom('front', 'back') }),
    },
    'POST /api/kiosk/packages': {
      method: 'POST',
      path: () => '/api/kiosk/packages',
      cookie: () => carrierKiosk,
      valid: checkIn,
    },
    'POST /api/kiosk/pickup': {
      method: 'POST',
      path: () => '/api/kiosk/pickup',
      cookie: () => residentKiosk,
      valid: fc.oneof(
        fc.constantFrom(2, 3).map((i) => ({ packageId: packageIds[i]! }) as Json),
        fc.constant({ trackingNumber: 'TBA000000000003' } as Json),
      ),
    },
    'POST /api/staff': {
      method: 'POST',
      path: () => '/api/staff',
      cookie: () => admin,
      valid: fc.record({
        email: fc.emailAddress(),
        name: trimmed(40),
        role: fc.constantFrom('staff', 'manager', 'admin'),
        password: fc.string({ minLength: 12, maxLength: 40 }),
      }),
    },
    'PATCH /api/staff/:id': {
      method: 'PATCH',
      path: () => `/api/staff/${targetStaffId}`,
      cookie: () => admin,
      valid: fc.record(
        {
          name: trimmed(40),
          role: fc.constantFrom('staff', 'manager', 'admin'),
          password: fc.string({ minLength: 12, maxLength: 40 }),
          disabled: fc.boolean(),
        },
        { requiredKeys: [] },
      ),
    },
    'POST /api/tokens': {
      method: 'POST',
      path: () => '/api/tokens',
      cookie: () => admin,
      valid: fc.record(
        {
          name: trimmed(40),
          role: fc.constantFrom('staff', 'manager', 'admin'),
          expiresAt: iso(Date.UTC(2026, 11, 1), 365 * 86_400_000),
        },
        { requiredKeys: ['name', 'role'] },
      ),
    },
    'POST /api/flags/:id/review': {
      method: 'POST',
      path: () => `/api/flags/${flagId}/review`,
      cookie: () => admin,
      valid: fc.record(
        {
          status: fc.constantFrom('confirmed', 'dismissed', 'escalated'),
          note: fc.string({ maxLength: 200 }),
        },
        { requiredKeys: ['status'] },
      ),
    },
    'POST /api/sim/readers/:id/wiegand': {
      method: 'POST',
      path: () => '/api/sim/readers/front-reader/wiegand',
      cookie: () => admin,
      valid: fc.record({
        bits: fc
          .array(fc.constantFrom('0', '1'), { minLength: 1, maxLength: 64 })
          .map((b) => b.join('')),
      }),
    },
    'POST /api/sim/readers/:id/keys': {
      method: 'POST',
      path: () => '/api/sim/readers/front-reader/keys',
      cookie: () => admin,
      valid: fc.record(
        { keys: fc.stringMatching(/^[0-9*#]{1,16}$/), mode: fc.constantFrom('4bit', '8bit') },
        { requiredKeys: ['keys'] },
      ),
    },
    'POST /api/sim/doors/:id/contact': {
      method: 'POST',
      path: () => '/api/sim/doors/front/contact',
      cookie: () => admin,
      valid: fc.record({ state: fc.constantFrom('open', 'closed') }),
    },
    // Last: wrong passwords lock the sign-in for this address, which is part of what it tests.
    'POST /api/auth/login': {
      method: 'POST',
      path: () => '/api/auth/login',
      cookie: () => undefined,
      valid: fc.record({
        email: fc.oneof(
          fc.constantFrom('staff@example.test', 'nobody@example.test'),
          fc.emailAddress(),
        ),
        password: fc.oneof(
          fc.constant(PASSWORDS.staff),
          fc.string({ minLength: 1, maxLength: 40 }),
        ),
      }),
    },
  };

  it.each(Object.keys(routes))('%s: every body gets a clear answer, never a 5xx', async (name) => {
    const route = routes[name]!;
    await fc.assert(
      fc.asyncProperty(bodies(route.valid), async (c) => {
        const res = await send(route.method, route.path(), c, route.cookie());
        await expectClearAnswer(
          res,
          `${name} ${c.contentType || '(no type)'} ${c.text.slice(0, 200)}`,
        );
        expectUnpolluted();
      }),
      { numRuns: RUNS, ...SEED },
    );
    await expectStillAnswering();
  });

  // -----------------------------------------------------------------------------------------
  // Query strings

  const queryValue = fc.oneof(
    fc.constantFrom(...NASTY_STRINGS),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.constantFrom('x'.repeat(121), 'x'.repeat(5_000)),
    fc.constantFrom(
      '0',
      '-1',
      '1.5',
      '501',
      '99999999999999999999',
      'true',
      'checked_in',
      'access',
    ),
    // A cursor that decodes to something: base64url of hostile text, with and without a date.
    fc
      .oneof(fc.constantFrom(...NASTY_STRINGS), fc.string({ unit: 'binary', maxLength: 40 }))
      .chain((s) =>
        fc.constantFrom(
          Buffer.from(s).toString('base64url'),
          Buffer.from(`2026-11-21T09:00:00.000Z|${s}`).toString('base64url'),
          Buffer.from(`${s}|x`).toString('base64url'),
        ),
      ),
  );
  /** Percent-encoding a browser would never send: truncated escapes, invalid UTF-8, raw NUL. */
  const rawQuery = fc.constantFrom(
    '%',
    '%zz',
    '%E0%A4%A',
    '%C0%AF',
    '%00',
    '%FF%FE',
    '&&&',
    '=',
    'a=1&a=2',
  );

  const queryRoutes: Record<string, { path: () => string; keys: string[]; cookie: () => string }> =
    {
      'GET /api/residents': {
        path: () => '/api/residents',
        keys: ['q', 'unit'],
        cookie: () => admin,
      },
      'GET /api/credentials': {
        path: () => '/api/credentials',
        keys: ['residentId', 'staffId'],
        cookie: () => admin,
      },
      'GET /api/packages': {
        path: () => '/api/packages',
        keys: ['status', 'unit', 'q', 'residentId', 'minAgeDays', 'overdue', 'limit'],
        cookie: () => admin,
      },
      'GET /api/events': {
        path: () => '/api/events',
        keys: [
          'doorId',
          'type',
          'from',
          'to',
          'residentId',
          'carrierCodeId',
          'decision',
          'limit',
          'cursor',
        ],
        cookie: () => admin,
      },
      'GET /api/flags': {
        path: () => '/api/flags',
        keys: ['kind', 'status', 'cameraId', 'limit', 'cursor'],
        cookie: () => admin,
      },
      'GET /api/flags/false-positives': {
        path: () => '/api/flags/false-positives',
        keys: ['since'],
        cookie: () => admin,
      },
      'GET /api/carrier-codes': {
        path: () => '/api/carrier-codes',
        keys: ['state'],
        cookie: () => admin,
      },
      'GET /api/audit-log': {
        path: () => '/api/audit-log',
        keys: ['limit', 'cursor'],
        cookie: () => admin,
      },
      'GET /api/events/:id/clip': {
        path: () => '/api/events/nope/clip',
        keys: ['camera'],
        cookie: () => admin,
      },
      'GET /api/kiosk/recipients': {
        path: () => '/api/kiosk/recipients',
        keys: ['q'],
        cookie: () => carrierKiosk,
      },
    };

  it.each(Object.keys(queryRoutes))(
    '%s: every query string gets a clear answer, never a 5xx',
    async (name) => {
      const route = queryRoutes[name]!;
      const param = fc.tuple(
        fc.oneof(
          { weight: 5, arbitrary: fc.constantFrom(...route.keys) },
          { weight: 1, arbitrary: fc.string({ maxLength: 10 }) },
        ),
        queryValue,
      );
      await fc.assert(
        fc.asyncProperty(
          fc.array(param, { minLength: 1, maxLength: 4 }),
          fc.option(rawQuery),
          async (params, raw) => {
            const query = new URLSearchParams(params).toString() + (raw ? `&${raw}` : '');
            const res = await t.call('GET', `${route.path()}?${query}`, { cookie: route.cookie() });
            await expectClearAnswer(res, `${name}?${query.slice(0, 300)}`);
          },
        ),
        { numRuns: QUERY_RUNS, ...SEED },
      );
      await expectStillAnswering();
    },
  );
});
