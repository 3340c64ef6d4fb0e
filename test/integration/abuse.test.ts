/**
 * Abuse of the HTTP surface (issue 7): one `describe` per class of attack, each showing the clear
 * refusal. Related checks elsewhere, not repeated here:
 * - api.test.ts: malformed JSON, 415 and 413 on POST /residents, lockout of one known email,
 *   logout, idle expiry, forged cookies, one cross-site POST.
 * - clips.test.ts / live.hls.test.ts: traversal ids on an event clip with real video, and on
 *   live segment names of a running stream.
 * - access.test.ts: keypad lockout and its alarm; kiosk.test.ts: kiosk code guessing ends in 429.
 * - fuzz.api.test.ts: fast-check over every JSON body and list query.
 * This file covers what those leave open: every file-serving route and the static console over a
 * real socket, injection strings in every search and filter parameter with the tables counted
 * before and after, chunked and boundary-sized bodies and deep nesting on public routes, session
 * fixation, CSRF on each unsafe method (console and kiosk), per-address login lockout and the
 * equality of refusals for things that exist and things that do not.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { mkdir, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { count } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFormatRegistry, encodeCard, type WiegandFormat } from '../../access/index.ts';
import {
  apiTokens,
  carrierCodes,
  credentials,
  packages,
  residents,
  staffUsers,
  units,
  visionFlags,
  type Db,
} from '../../db/index.ts';
import { manualClock } from '../../hardware/clock.ts';
import { composeServices, type Composed } from '../../server/compose.ts';
import { demoSite, parseSite } from '../../server/config/index.ts';
import { memoryLogger } from '../../server/log/logger.ts';
import {
  createTestApp,
  databaseKinds,
  openTestDatabase,
  PASSWORDS,
  type TestApp,
} from '../harness/app.harness.ts';
import { makeTempDir, type TempDir } from '../harness/temp-dir.ts';

type Json = Record<string, unknown>;
const json = async (res: Response) => (await res.json()) as Json;
const MiB = 1024 * 1024;
const formats = createFormatRegistry();
const h10301 = (card: number) =>
  encodeCard(formats.get('H10301') as WiegandFormat, { facility: 12, card });

/** A refusal as the contract words it: 4xx, JSON, `{error: {code, message}}`. */
async function expectRefusal(res: Response, label: string, status?: number): Promise<Json> {
  const text = await res.text();
  if (status !== undefined) expect(res.status, `${label}: ${text.slice(0, 200)}`).toBe(status);
  expect(res.status, `${label}: ${text.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
  expect(res.status, `${label}: ${text.slice(0, 200)}`).toBeLessThan(500);
  expect(res.headers.get('content-type'), label).toContain('application/json');
  const body = JSON.parse(text) as Json;
  expect(body, label).toEqual({
    error: expect.objectContaining({
      code: expect.any(String) as string,
      message: expect.any(String) as string,
    }) as Json,
  });
  return body.error as Json;
}

interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/**
 * One request over a real socket with the path exactly as given: `fetch` and `new URL` would
 * resolve `..` and re-encode before the server ever saw it.
 */
function rawRequest(
  port: number,
  opts: { method?: string; path: string; headers?: Record<string, string>; chunks?: Buffer[] },
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method: opts.method ?? 'GET',
        path: opts.path,
        headers: opts.headers,
        // A fresh connection each time: after a 413 the server drops the rest of the upload with
        // the connection, which a pooled keep-alive socket would carry into the next request.
        agent: false,
      },
      (res) => {
        answered = true;
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(parts).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    // The server may answer 413 and close while we are still writing: that is the point.
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    for (const chunk of opts.chunks ?? []) req.write(chunk);
    req.end();
  });
}

async function listen(fetch: (req: Request) => Response | Promise<Response>): Promise<{
  server: ServerType;
  port: number;
  close(): Promise<void>;
}> {
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}

/** Row counts of the tables an injection would most like to read, change or drop. */
async function tableCounts(db: Db): Promise<Record<string, number>> {
  const tables = {
    residents,
    units,
    credentials,
    packages,
    staffUsers,
    carrierCodes,
    apiTokens,
    visionFlags,
  };
  const out: Record<string, number> = {};
  for (const [name, table] of Object.entries(tables)) {
    const [row] = await db.select({ n: count() }).from(table);
    out[name] = Number(row?.n ?? -1);
  }
  return out;
}

describe.each(databaseKinds())('abuse on %s', (kind) => {
  let t: TestApp;
  const cookies = { staff: '', manager: '', admin: '' };
  let annId: string;
  let credentialId: string;
  let carrierKiosk: string;
  let carrierCode: string;
  let packageId: string;
  let flagId: string;

  /** A request from a given client address, as @hono/node-server reports it. */
  const callFrom = (address: string, method: string, path: string, body?: unknown) =>
    t.app.request(
      `http://parcelroom.test${path}`,
      {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      },
      { incoming: { socket: { remoteAddress: address } } },
    );
  const ok = async (res: Response | Promise<Response>) => {
    const r = await res;
    if (r.status >= 300) throw new Error(`setup: ${r.status} ${await r.text()}`);
    return json(r);
  };

  beforeAll(async () => {
    t = await createTestApp(kind);
    for (const role of ['staff', 'manager', 'admin'] as const) cookies[role] = await t.login(role);
    const m = { cookie: cookies.manager };
    annId = (
      await ok(t.call('POST', '/api/residents', { ...m, body: { name: "Ann O'Neil", unit: '4B' } }))
    ).id as string;
    await ok(t.call('POST', '/api/residents', { ...m, body: { name: 'Bo Chen', unit: '7C' } }));
    await ok(
      t.call('POST', '/api/residents', { ...m, body: { name: '100% Cotton_Co', unit: '1_A' } }),
    );
    credentialId = (
      await ok(
        t.call('POST', '/api/credentials', {
          ...m,
          body: {
            residentId: annId,
            kind: 'card',
            format: 'H10301',
            facilityCode: 12,
            cardNumber: 101,
          },
        }),
      )
    ).id as string;
    packageId = (
      await ok(
        t.call('POST', '/api/packages', {
          cookie: cookies.staff,
          body: {
            trackingNumber: '1Z999AA10123456784',
            carrier: 'UPS',
            unit: '4B',
            size: 'standard',
          },
        }),
      )
    ).id as string;
    // Something in the event log for the filters to search through.
    expect(
      await ok(
        t.call('POST', '/api/sim/readers/front-reader/wiegand', {
          cookie: cookies.staff,
          body: { bits: h10301(101) },
        }),
      ),
    ).toMatchObject({ decision: 'granted' });
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
    // A carrier at the kiosk: their code opened the door, then they typed it on the tablet.
    carrierCode = (
      await ok(
        t.call('POST', '/api/carrier-codes', {
          ...m,
          body: {
            carrier: 'DHL',
            validUntil: new Date(t.clock.now() + 8 * 3_600_000).toISOString(),
          },
        }),
      )
    ).code as string;
    expect(
      await ok(
        t.call('POST', '/api/sim/readers/front-reader/keys', {
          cookie: cookies.staff,
          body: { keys: `${carrierCode}#` },
        }),
      ),
    ).toMatchObject({ decision: 'granted' });
    const kiosk = await t.call('POST', '/api/kiosk/session', { body: { code: carrierCode } });
    expect(kiosk.status).toBe(200);
    carrierKiosk = (kiosk.headers.get('set-cookie') ?? '').split(';')[0]!;
    await t.services.journal.drained();
  });

  afterAll(async () => {
    await t?.close();
  });

  describe('path traversal on clip, snapshot, live, kiosk and other id routes', () => {
    /** Ways of writing "go up and read something else", plain, encoded and double-encoded. */
    const TRAVERSALS = [
      '..%2f..%2fetc%2fpasswd',
      '..%2F..%2F..%2F..%2Fetc%2Fpasswd',
      '%2e%2e',
      '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      '%252e%252e%252fetc%252fpasswd',
      '..%255c..%255cwindows%255cwin.ini',
      '..%5c..%5cjournal',
      '....%2f%2f....%2f%2fetc%2fpasswd',
      '%c0%ae%c0%ae%2fetc%2fpasswd',
      '.%2e%2fcanary.txt',
      'flags%2f..%2f..%2fcanary.txt',
      '..',
      '.',
    ];
    const routes = (id: string) => [
      `/api/events/${id}/clip`,
      `/api/events/${id}/clip/poster`,
      `/api/flags/${id}`,
      `/api/flags/${id}/clip`,
      `/api/flags/${id}/snapshot`,
      `/api/cameras/${id}/live/index.m3u8`,
      `/api/cameras/${id}/live/sub-1.ts`,
      `/api/cameras/room-cam/live/${id}`,
      `/api/kiosk/door/${id}`,
      `/api/packages/${id}/timeline`,
    ];

    it('answers every traversal id with a JSON 4xx and never a byte of a file', async () => {
      // A file in DATA_DIR that no route serves: if any answer carries it, a path escaped.
      await writeFile(join(t.dataDir, 'canary.txt'), 'CANARY-7f3a');
      for (const id of TRAVERSALS) {
        for (const path of routes(id)) {
          const res = await t.call('GET', path, { cookie: cookies.admin });
          const err = await expectRefusal(res.clone(), path);
          expect(JSON.stringify(err), path).not.toMatch(/CANARY|root:/);
          expect(res.headers.get('content-type'), path).not.toMatch(/video|image|mpegurl|mp2t/);
        }
      }
      for (const q of ['..%2f..%2fetc', '%2e%2e', '..%5c..', 'room-cam%2f..%2f..']) {
        const res = await t.call('GET', `/api/events/x/clip?camera=${q}`, {
          cookie: cookies.admin,
        });
        await expectRefusal(res, `camera=${q}`);
      }
    });

    it('refuses ids and path segments holding a NUL byte as a 4xx, not a database error', async () => {
      for (const path of [
        ...routes('%00'),
        ...routes('a%00b'),
        `/api/packages/${packageId}%00/timeline`,
        '/api/events/%00%00/clip',
      ]) {
        await expectRefusal(await t.call('GET', path, { cookie: cookies.admin }), path);
      }
      for (const [method, path, body] of [
        ['POST', '/api/packages/a%00b/pickup', undefined],
        ['POST', '/api/packages/a%00b/return', undefined],
        ['POST', '/api/flags/a%00b/review', { status: 'dismissed' }],
        ['PATCH', '/api/staff/a%00b', { name: 'X' }],
        ['DELETE', '/api/credentials/a%00b', undefined],
        ['DELETE', '/api/carrier-codes/a%00b', undefined],
        ['DELETE', '/api/tokens/a%00b', undefined],
      ] as const) {
        const res = await t.call(method, path, { cookie: cookies.admin, body });
        await expectRefusal(res, `${method} ${path}`);
      }
    });

    it('keeps /api traversal inside the JSON 404, whatever the encoding', async () => {
      // ('/api/%2e%2e/%2e%2e/etc/passwd' is no /api path at all: URL parsing makes it /etc/passwd,
      // which the static console answers; see the socket test at the end.)
      for (const path of [
        '/api/..%2f..%2fetc%2fpasswd',
        '/api/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
        '/api/%252e%252e/etc/passwd',
        '/api/events/..%2f..%2f..%2fpackage.json',
      ]) {
        await expectRefusal(await t.call('GET', path, { cookie: cookies.admin }), path, 404);
      }
    });
  });

  describe('NUL bytes: text PostgreSQL cannot store', () => {
    it('refuses a NUL in any body field or query value with a 400 naming the field', async () => {
      const before = await tableCounts(t.database.db);
      for (const [method, path, body, field] of [
        ['POST', '/api/residents', { name: 'A\u0000B', unit: '4B' }, 'name'],
        [
          'POST',
          '/api/residents',
          { name: 'Ann', unit: '4B', email: 'a\u0000@b.example' },
          'email',
        ],
        ['POST', '/api/auth/login', { email: 'staff@example.test\u0000', password: 'x' }, 'email'],
        ['POST', `/api/packages/${packageId}/pickup`, { handedTo: 'Mallory\u0000' }, 'handedTo'],
        ['POST', `/api/flags/${flagId}/review`, { status: 'dismissed', note: '\u0000' }, 'note'],
        [
          'POST',
          '/api/carrier-codes',
          { carrier: 'UPS', validUntil: '2099-01-01T00:00:00Z', doorIds: ['front', '\u0000'] },
          'doorIds[1]',
        ],
        ['POST', '/api/tokens', { name: 'pms\u0000', role: 'staff' }, 'name'],
      ] as const) {
        const res = await t.call(method, path, { cookie: cookies.admin, body });
        expect(await expectRefusal(res, `${method} ${path}`, 400)).toMatchObject({
          code: 'invalid_body',
          field,
        });
      }
      for (const [path, field] of [
        ['/api/residents?q=a%00', 'q'],
        ['/api/credentials?residentId=%00', 'residentId'],
        ['/api/packages?unit=4B%00', 'unit'],
        ['/api/events?type=access%00', 'type'],
        ['/api/flags?cameraId=%00', 'cameraId'],
      ] as const) {
        const res = await t.call('GET', path, { cookie: cookies.admin });
        expect(await expectRefusal(res, path, 400)).toMatchObject({ code: 'invalid_query', field });
      }
      expect(await tableCounts(t.database.db)).toEqual(before);
    });
  });

  describe('SQL injection in search and filter parameters', () => {
    const INJECTIONS = [
      "' OR '1'='1",
      "' OR 1=1 --",
      "'; DROP TABLE residents; --",
      "4B'; DELETE FROM packages; --",
      '" OR ""="',
      "%' OR '%'='",
      "' UNION SELECT email, password_hash FROM staff_users --",
      "'; SELECT pg_sleep(10); --",
      '$$; DROP TABLE units; $$',
      '\\',
      "\\'; TRUNCATE credentials; --",
      '1) OR (1=1',
      '*/ OR /* ',
    ];
    /** Every list route's filters; the kiosk's recipient search runs under a carrier session. */
    const PARAMS: [path: string, keys: string[], cookie: () => string][] = [
      ['/api/residents', ['q', 'unit'], () => cookies.admin],
      ['/api/credentials', ['residentId', 'staffId'], () => cookies.admin],
      [
        '/api/packages',
        ['q', 'unit', 'residentId', 'status', 'minAgeDays', 'limit'],
        () => cookies.admin,
      ],
      [
        '/api/events',
        ['type', 'doorId', 'residentId', 'carrierCodeId', 'decision', 'from', 'limit', 'cursor'],
        () => cookies.admin,
      ],
      ['/api/flags', ['kind', 'status', 'cameraId', 'cursor', 'limit'], () => cookies.admin],
      ['/api/flags/false-positives', ['since'], () => cookies.admin],
      ['/api/carrier-codes', ['state'], () => cookies.admin],
      ['/api/audit-log', ['cursor', 'limit'], () => cookies.admin],
      ['/api/kiosk/recipients', ['q'], () => carrierKiosk],
    ];

    it('answers a 400 or a normal, empty list, and leaves every table as it was', async () => {
      const before = await tableCounts(t.database.db);
      for (const [path, keys, cookie] of PARAMS) {
        for (const key of keys) {
          for (const injection of INJECTIONS) {
            // The cursor is opaque base64url: inject both raw and inside a well-formed one (dated
            // before every row, so a page after it is empty unless the text became SQL).
            const values =
              key === 'cursor'
                ? [
                    injection,
                    Buffer.from(`2000-01-01T00:00:00.000Z|${injection}`).toString('base64url'),
                  ]
                : [injection];
            for (const value of values) {
              const url = `${path}?${new URLSearchParams({ [key]: value }).toString()}`;
              const res = await t.call('GET', url, { cookie: cookie() });
              const label = `${url} → ${res.status}`;
              if (res.status === 200) {
                const body = await json(res);
                // No seeded row holds these strings: a match would mean the text became SQL.
                if (Array.isArray(body.items)) expect(body.items, label).toEqual([]);
              } else {
                await expectRefusal(res, label, 400);
              }
            }
          }
        }
      }
      expect(await tableCounts(t.database.db)).toEqual(before);
      expect((await t.call('GET', '/api/health')).status).toBe(200);
    });

    it('treats quotes and LIKE wildcards in free text as literal characters', async () => {
      const names = async (q: string) => {
        const res = await t.call('GET', `/api/residents?q=${encodeURIComponent(q)}`, {
          cookie: cookies.admin,
        });
        expect(res.status).toBe(200);
        return ((await json(res)).items as Json[]).map((r) => r.name);
      };
      expect(await names("O'Neil")).toEqual(["Ann O'Neil"]);
      expect(await names('%')).toEqual(['100% Cotton_Co']);
      expect(await names('_')).toEqual(['100% Cotton_Co']);
      expect(await names('1_')).toEqual(['100% Cotton_Co']);
      expect(await names('\\')).toEqual([]);
      const units = await json(
        await t.call('GET', `/api/packages?q=${encodeURIComponent("4B' OR '1'='1")}`, {
          cookie: cookies.admin,
        }),
      );
      expect(units.items).toEqual([]);
    });
  });

  describe('oversized bodies, deep nesting and wrong content types', () => {
    /** Every route that reads a JSON body, with a cookie that gets it past authentication. */
    const JSON_ROUTES: [method: string, path: () => string, cookie: () => string | undefined][] = [
      ['POST', () => '/api/auth/login', () => undefined],
      ['POST', () => '/api/residents', () => cookies.admin],
      ['POST', () => '/api/credentials', () => cookies.admin],
      ['POST', () => '/api/carrier-codes', () => cookies.admin],
      ['POST', () => '/api/packages', () => cookies.admin],
      ['POST', () => `/api/packages/${packageId}/pickup`, () => cookies.admin],
      ['POST', () => `/api/packages/${packageId}/return`, () => cookies.admin],
      ['POST', () => '/api/kiosk/session', () => undefined],
      ['POST', () => '/api/kiosk/session/resident', () => undefined],
      ['POST', () => '/api/kiosk/packages', () => carrierKiosk],
      ['POST', () => '/api/staff', () => cookies.admin],
      ['PATCH', () => `/api/staff/${t.users.staff.id}`, () => cookies.admin],
      ['POST', () => '/api/tokens', () => cookies.admin],
      ['POST', () => `/api/flags/${flagId}/review`, () => cookies.admin],
      ['POST', () => '/api/sim/readers/front-reader/wiegand', () => cookies.admin],
      ['POST', () => '/api/sim/readers/front-reader/keys', () => cookies.admin],
      ['POST', () => '/api/sim/doors/front/contact', () => cookies.admin],
    ];

    // The length header is set as a socket client would: without it an in-process request with
    // no content type looks like a POST with no body at all.
    const send = (
      method: string,
      path: string,
      body: Uint8Array,
      headers: Record<string, string>,
    ) =>
      t.app.request(`http://parcelroom.test${path}`, {
        method,
        headers: { ...headers, 'content-length': String(body.length) },
        body,
      });

    it('answers 413 past 1 MiB on every JSON route, public ones included, and parses up to it', async () => {
      const over = new TextEncoder().encode(`{"x":"${'a'.repeat(MiB)}"}`);
      // Exactly 1 MiB of valid JSON: not too large, just not a valid body.
      const exact = new TextEncoder().encode(`{"x":"${'a'.repeat(MiB - 8)}"}`);
      expect(exact.length).toBe(MiB);
      for (const [method, path, cookie] of JSON_ROUTES) {
        const headers = {
          'content-type': 'application/json',
          ...(cookie() ? { cookie: cookie()! } : {}),
        };
        const big = await send(method, path(), over, headers);
        expect(await expectRefusal(big, `${method} ${path()} over`, 413)).toMatchObject({
          code: 'body_too_large',
        });
        const limit = await send(method, path(), exact, headers);
        expect(limit.status, `${method} ${path()} at the limit`).not.toBe(413);
        expect(limit.status, `${method} ${path()} at the limit`).toBeLessThan(500);
      }
    });

    it('answers 413 to a chunked body with no length, over a real socket', async () => {
      const srv = await listen(t.app.fetch);
      try {
        const chunk = Buffer.alloc(64 * 1024, 'a');
        for (const path of ['/api/auth/login', '/api/kiosk/session', '/api/residents']) {
          const res = await rawRequest(srv.port, {
            method: 'POST',
            path,
            headers: {
              'content-type': 'application/json',
              'transfer-encoding': 'chunked',
              cookie: cookies.admin,
            },
            chunks: [
              Buffer.from('{"email":"'),
              ...Array<Buffer>(40).fill(chunk),
              Buffer.from('"}'),
            ],
          });
          expect(res.status, path).toBe(413);
          expect(JSON.parse(res.body)).toMatchObject({ error: { code: 'body_too_large' } });
        }
        // And the server is still there for the next caller.
        const health = await rawRequest(srv.port, { path: '/api/health' });
        expect(health.status).toBe(200);
      } finally {
        await srv.close();
      }
    });

    it('refuses deeply nested JSON with a 400, without running out of stack', async () => {
      const bodies = [
        `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
        `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`,
        `{"name":${'['.repeat(100_000)}${']'.repeat(100_000)},"unit":"1A"}`,
        `{"email":"a@b.c","password":${'{"p":'.repeat(50_000)}1${'}'.repeat(50_000)}}`,
      ];
      for (const [method, path, cookie] of JSON_ROUTES) {
        for (const body of bodies) {
          const res = await send(method, path(), new TextEncoder().encode(body), {
            'content-type': 'application/json',
            ...(cookie() ? { cookie: cookie()! } : {}),
          });
          await expectRefusal(res, `${method} ${path()} nested`, 400);
        }
      }
      expect((await t.call('GET', '/api/health')).status).toBe(200);
    });

    it('answers 415 to any body that is not declared as JSON, before reading it', async () => {
      const body = new TextEncoder().encode('{"email":"staff@example.test","password":"x"}');
      for (const [method, path, cookie] of JSON_ROUTES) {
        for (const type of [
          'text/plain',
          'text/plain;charset=UTF-8',
          'application/x-www-form-urlencoded',
          'multipart/form-data; boundary=----x',
          'application/xml',
          'application/csp-report',
          null,
        ]) {
          const res = await send(method, path(), body, {
            ...(type ? { 'content-type': type } : {}),
            ...(cookie() ? { cookie: cookie()! } : {}),
          });
          expect(await expectRefusal(res, `${method} ${path()} as ${type}`, 415)).toMatchObject({
            code: 'unsupported_media_type',
          });
        }
      }
    });
  });

  describe('session fixation', () => {
    const cookieOf = (res: Response) => (res.headers.get('set-cookie') ?? '').split(';')[0]!;
    const me = async (cookie: string) => t.call('GET', '/api/auth/me', { cookie });

    it('a cookie planted before sign-in is not accepted, and sign-in issues a new one', async () => {
      const planted = 'parcelroom_session=prs_planted_by_the_attacker_000000000000';
      expect((await me(planted)).status).toBe(401);
      const res = await t.call('POST', '/api/auth/login', {
        cookie: planted,
        body: { email: 'staff@example.test', password: PASSWORDS.staff },
      });
      expect(res.status).toBe(200);
      const issued = cookieOf(res);
      expect(issued).toMatch(/^parcelroom_session=prs_/);
      expect(issued).not.toBe(planted);
      // The planted value is still worth nothing; only the server's own secret signs in.
      expect((await me(planted)).status).toBe(401);
      expect((await me(issued)).status).toBe(200);
    });

    it("signing in over someone else's live session starts a new one and leaves the old one as it was", async () => {
      // The attacker signs in with their own low account and plants that cookie on the victim.
      const attacker = await t.login('staff');
      const res = await t.call('POST', '/api/auth/login', {
        cookie: attacker,
        body: { email: 'admin@example.test', password: PASSWORDS.admin },
      });
      expect(res.status).toBe(200);
      const victim = cookieOf(res);
      expect(victim).not.toBe(attacker);
      // The attacker's cookie did not become the admin's session.
      expect(await json(await me(attacker))).toMatchObject({ user: { role: 'staff' } });
      expect(await json(await me(victim))).toMatchObject({ user: { role: 'admin' } });
    });

    it('sign-out ends the session on the server: a replayed cookie is refused', async () => {
      const cookie = await t.login('manager');
      const out = await t.call('POST', '/api/auth/logout', { cookie });
      expect(out.status).toBe(200);
      // The browser is told to forget it...
      expect(out.headers.get('set-cookie')).toMatch(/parcelroom_session=;.*Max-Age=0/i);
      // ...and a copy kept by anyone else no longer works, for reads or writes.
      await expectRefusal(await me(cookie), 'me after logout', 401);
      await expectRefusal(
        await t.call('POST', '/api/residents', { cookie, body: { name: 'Replay', unit: '9Z' } }),
        'write after logout',
        401,
      );
      await expectRefusal(
        await t.call('POST', '/api/auth/logout', { cookie }),
        'second logout',
        401,
      );
    });
  });

  describe('CSRF: cross-origin writes with a session cookie', () => {
    const EVIL = [
      'https://evil.example',
      'null',
      'http://parcelroom.test.evil.example',
      'http://parcelroom.test:8080',
    ];

    it('refuses every unsafe method from another origin, and changes nothing', async () => {
      const before = await tableCounts(t.database.db);
      const victim = await t.login('admin');
      const writes: [string, string, unknown][] = [
        ['POST', '/api/residents', { name: 'Mallory', unit: '9Z' }],
        ['PATCH', `/api/staff/${t.users.staff.id}`, { role: 'admin' }],
        ['POST', '/api/tokens', { name: 'exfil', role: 'admin' }],
        ['DELETE', `/api/credentials/${credentialId}`, undefined],
        // No body at all: the one kind of cross-site POST a page can make without a preflight.
        ['POST', `/api/packages/${packageId}/pickup`, undefined],
        ['POST', `/api/sim/doors/front/rex`, undefined],
        ['POST', '/api/auth/logout', undefined],
      ];
      for (const origin of EVIL) {
        for (const [method, path, body] of writes) {
          const res = await t.call(method, path, { cookie: victim, body, headers: { origin } });
          expect(await expectRefusal(res, `${method} ${path} from ${origin}`, 403)).toMatchObject({
            code: 'cross_origin',
          });
        }
      }
      expect(await tableCounts(t.database.db)).toEqual(before);
      const parcels = await json(await t.call('GET', '/api/packages?unit=4B', { cookie: victim }));
      expect(parcels.items).toEqual([
        expect.objectContaining({ id: packageId, status: 'checked_in' }),
      ]);
      // The cross-site logout did not end the session either.
      expect((await t.call('GET', '/api/auth/me', { cookie: victim })).status).toBe(200);
      // Our own pages may write (the control: the refusal above is about the origin).
      const same = await t.call('POST', '/api/residents', {
        cookie: victim,
        body: { name: 'Same Origin', unit: '9Z' },
        headers: { origin: 'http://parcelroom.test' },
      });
      expect(same.status).toBe(201);
    });

    it('refuses cross-origin writes made with a kiosk session cookie', async () => {
      const body = { trackingNumber: 'CSRF00000001', carrier: 'DHL', unit: '7C', size: 'standard' };
      const before = await tableCounts(t.database.db);
      for (const origin of EVIL) {
        for (const [path, b] of [
          ['/api/kiosk/packages', body],
          ['/api/kiosk/session/end', undefined],
        ] as const) {
          const res = await t.call('POST', path, {
            cookie: carrierKiosk,
            body: b,
            headers: { origin },
          });
          expect(await expectRefusal(res, `${path} from ${origin}`, 403)).toMatchObject({
            code: 'cross_origin',
          });
        }
      }
      expect(await tableCounts(t.database.db)).toEqual(before);
      // The session survived the cross-site "end" and still works from the kiosk itself.
      const session = await t.call('GET', '/api/kiosk/session', { cookie: carrierKiosk });
      expect(session.status).toBe(200);
    });

    it('gives other origins no CORS grant and no way to sign in with a simple form post', async () => {
      const preflight = await t.call('OPTIONS', '/api/residents', {
        headers: {
          origin: 'https://evil.example',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type',
        },
      });
      expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
      expect(preflight.headers.get('access-control-allow-credentials')).toBeNull();
      const read = await t.call('GET', '/api/doors', {
        cookie: cookies.admin,
        headers: { origin: 'https://evil.example' },
      });
      expect(read.headers.get('access-control-allow-origin')).toBeNull();
      // Login CSRF: a form can only send text/plain or urlencoded, and neither is accepted.
      for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
        const res = await t.call('POST', '/api/auth/login', {
          body: JSON.stringify({ email: 'staff@example.test', password: PASSWORDS.staff }),
          headers: { 'content-type': type, origin: 'https://evil.example' },
        });
        await expectRefusal(res, `login as ${type}`, 415);
        expect(res.headers.get('set-cookie')).toBeNull();
      }
    });
  });

  describe('brute force: login, kiosk codes and the door keypad', () => {
    const login = (address: string, email: string, password: string) =>
      callFrom(address, 'POST', '/api/auth/login', { email, password });

    it('locks a guessed email after 5 failures with 429 + Retry-After, the same whether the account exists or not', async () => {
      const address = '198.51.100.20';
      const answers: Record<string, { status: number; body: unknown; retry: string | null }[]> = {};
      for (const email of ['manager@example.test', 'ghost@example.test']) {
        answers[email] = [];
        for (let i = 0; i < 6; i++) {
          const res = await login(address, email, `wrong-${i}`);
          answers[email].push({
            status: res.status,
            body: await res.json(),
            retry: res.headers.get('retry-after'),
          });
        }
      }
      const real = answers['manager@example.test']!;
      const ghost = answers['ghost@example.test']!;
      expect(real.map((a) => a.status)).toEqual([401, 401, 401, 401, 401, 429]);
      // Same statuses, same bodies, same wait: the answers say nothing about who has an account.
      expect(ghost).toEqual(real);
      expect(Number(real[5]!.retry)).toBeGreaterThan(0);
      // Spelling the email differently does not get round the lock, nor does the right password.
      const variant = await login(address, ' MANAGER@Example.TEST ', PASSWORDS.manager);
      expect(variant.status).toBe(429);
      expect(await variant.json()).toEqual(real[5]!.body);
    });

    it('locks a client address spraying many emails, and only that address', async () => {
      const sprayer = '203.0.113.7';
      // One wrong password each for 20 different emails: no single email reaches its limit.
      for (let i = 0; i < 20; i++) {
        expect((await login(sprayer, `user${i}@example.test`, 'Winter2026!')).status).toBe(401);
      }
      const blocked = await login(sprayer, 'staff@example.test', PASSWORDS.staff);
      await expectRefusal(blocked.clone(), 'sprayer', 429);
      expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(blocked.headers.get('set-cookie')).toBeNull();
      // Someone else at another address signs in as usual.
      expect((await login('192.0.2.44', 'staff@example.test', PASSWORDS.staff)).status).toBe(200);
    });

    it('locks kiosk code guessing with 429, and refuses every wrong code with the same answer', async () => {
      const m = { cookie: cookies.manager };
      const validUntil = new Date(t.clock.now() + 3_600_000).toISOString();
      // A code that exists but never opened the door, and one that was revoked.
      const unused = (
        await ok(
          t.call('POST', '/api/carrier-codes', { ...m, body: { carrier: 'UPS', validUntil } }),
        )
      ).code as string;
      const revoked = await ok(
        t.call('POST', '/api/carrier-codes', { ...m, body: { carrier: 'FedEx', validUntil } }),
      );
      await ok(t.call('DELETE', `/api/carrier-codes/${revoked.id as string}`, m));
      const never = carrierCode === '00000000' ? '00000001' : '00000000';
      const refusals: unknown[] = [];
      for (const code of [unused, revoked.code as string, never, `${never}9`, unused]) {
        const res = await t.call('POST', '/api/kiosk/session', { body: { code } });
        expect(res.status, code).toBe(403);
        expect(res.headers.get('set-cookie')).toBeNull();
        refusals.push(await res.json());
      }
      expect(new Set(refusals.map((r) => JSON.stringify(r))).size).toBe(1);
      // Five wrong codes: even the carrier whose code did open the door must wait now.
      const locked = await t.call('POST', '/api/kiosk/session', { body: { code: carrierCode } });
      expect(await expectRefusal(locked.clone(), 'kiosk locked', 429)).toMatchObject({
        code: 'too_many_attempts',
      });
      expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(locked.headers.get('set-cookie')).toBeNull();
    });

    it('locks the keypad through the reader, answering every code alike, and doubles the next lock', async () => {
      const keys = async (k: string) => {
        const res = await t.call('POST', '/api/sim/readers/front-reader/keys', {
          cookie: cookies.staff,
          body: { keys: k },
        });
        expect(res.status).toBe(200);
        const { decision, reason } = await json(res);
        return { decision, reason };
      };
      const wrong = carrierCode === '999999' ? '999998' : '999999';
      const lockMs = async () => {
        await t.services.journal.drained();
        const res = await t.call('GET', '/api/events?type=keypad_lockout', {
          cookie: cookies.staff,
        });
        return ((await json(res)).items as Json[]).map((e) => (e.details as Json).lockMs);
      };
      for (let round = 1; round <= 2; round++) {
        for (let i = 0; i < 5; i++) {
          expect(await keys(`${wrong}#`)).toEqual({
            decision: 'denied',
            reason: 'unknown_credential',
          });
        }
        // Locked: the right code, a wrong one and garbage all get one and the same answer.
        const answers = [await keys(`${carrierCode}#`), await keys(`${wrong}#`), await keys('1#')];
        for (const a of answers) expect(a).toEqual({ decision: 'denied', reason: 'keypad_locked' });
        const doors = (await json(
          await t.call('GET', '/api/doors', { cookie: cookies.staff }),
        )) as unknown as Json[];
        expect((doors[0]!.alarms as Json[]).map((a) => a.kind)).toContain('keypad_lockout');
        // Newest first: 5 min, then 10 min for a guesser who comes back.
        expect(await lockMs()).toEqual(round === 1 ? [300_000] : [600_000, 300_000]);
        t.clock.advance(round === 1 ? 300_001 : 600_001);
      }
      expect(await keys(`${carrierCode}#`)).toEqual({ decision: 'granted', reason: 'granted' });
    });
  });
});

describe('path traversal on the static console (over a real socket)', () => {
  let root: TempDir;
  let composed: Composed;
  let closeDb: () => Promise<void>;
  let srv: Awaited<ReturnType<typeof listen>>;
  const INDEX = '<!doctype html><title>console</title>';

  beforeAll(async () => {
    root = await makeTempDir('parcelroom-abuse-web');
    const webDir = join(root.path, 'web');
    const dataDir = join(root.path, 'data');
    await mkdir(join(webDir, 'assets'), { recursive: true });
    await mkdir(dataDir, { recursive: true });
    await writeFile(join(webDir, 'index.html'), INDEX);
    await writeFile(join(webDir, 'assets', 'app.js'), 'console.log("console");');
    // Files a traversal would want: next to the build, and in the data folder.
    await writeFile(join(root.path, 'secret.txt'), 'SECRET-OUTSIDE-WEB');
    await writeFile(join(dataDir, 'secret.txt'), 'SECRET-IN-DATA');
    const database = await openTestDatabase('pglite');
    closeDb = () => database.close();
    composed = await composeServices({
      site: parseSite(demoSite(), 'demo'),
      siteSource: 'demo',
      database,
      dataDir,
      clock: manualClock(),
      log: memoryLogger(),
      version: 'test',
      sessionIdleMs: 3_600_000,
      secureCookies: 'never',
      webDir,
      analytics: { state: 'off', reason: 'test' },
      cameras: 'off',
    });
    srv = await listen(composed.app.fetch);
  });

  afterAll(async () => {
    await srv?.close();
    await composed?.close();
    await closeDb?.();
    await root?.cleanup();
  });

  it('serves its own files, and for anything that climbs out: a 4xx or the console page, never the file', async () => {
    // The control: files inside the build are served, so a refusal below is not a broken server.
    const asset = await rawRequest(srv.port, { path: '/assets/app.js' });
    expect(asset.status).toBe(200);
    expect(asset.body).toContain('console.log');
    for (const path of [
      '/../secret.txt',
      '/../../etc/passwd',
      '/..%2fsecret.txt',
      '/%2e%2e/secret.txt',
      '/%2e%2e%2fsecret.txt',
      '/%2E%2E/%2E%2E/etc/passwd',
      '/.%2e/secret.txt',
      '/%252e%252e%252fsecret.txt',
      '/assets/../../secret.txt',
      '/assets/..%2f..%2fsecret.txt',
      '/assets/%2e%2e/%2e%2e/data/secret.txt',
      '/..%5csecret.txt',
      '/..\\secret.txt',
      '//secret.txt',
      '/%2fetc%2fpasswd',
      '/%00/secret.txt',
      '/assets/app.js%00.html',
      '/../data/secret.txt',
      '/api/%2e%2e/%2e%2e/etc/passwd',
      '/api/../../secret.txt',
    ]) {
      const res = await rawRequest(srv.port, { path });
      const label = `${path} → ${res.status}`;
      expect(res.body, label).not.toMatch(/SECRET|root:/);
      if (res.status === 200) expect(res.body, label).toBe(INDEX);
      else {
        expect(res.status, label).toBeGreaterThanOrEqual(400);
        expect(res.status, label).toBeLessThan(500);
      }
    }
  });
});
