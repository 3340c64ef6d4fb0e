/**
 * API benchmarks on the composed box (see ./site.ts), through `app.request()` (the Hono app
 * without a socket, so this is the route + middleware + database cost, not HTTP parsing):
 *
 *  - POST /api/auth/login: deliberately slow (scrypt, 32 MiB), measured a few times.
 *  - GET /api/events?limit=50 with a session cookie: the newest page of the events table, which
 *    by then holds the events of the door benchmarks.
 */
import { count, eq } from 'drizzle-orm';
import { accessEvents } from '../db/index.ts';
import { round, summarize, type Summary } from './stats.ts';
import type { BenchSite } from './site.ts';

export interface ApiResult {
  /** Rows in access_events when the reads ran. */
  events: number;
  login: Summary;
  eventsPage: Summary;
  eventsPerSecond: number;
}

const BASE = 'http://parcelroom.test';

export async function benchApi(
  s: BenchSite,
  opts: { logins?: number; requests?: number; warmup?: number } = {},
): Promise<ApiResult> {
  const logins = opts.logins ?? 5;
  const requests = opts.requests ?? 500;
  const warmup = opts.warmup ?? 50;
  const { app, auth, journal } = s.composed;

  // Every event journalled so far is in the database before the reads start.
  await journal.drained();
  const [row] = await s.database.db
    .select({ n: count() })
    .from(accessEvents)
    .where(eq(accessEvents.siteId, s.site.site.id));

  const email = 'bench-admin@example.test';
  const password = 'bench-admin-password-1234';
  await auth.createStaff({ email, name: 'Bench admin', role: 'admin', password });

  let cookie = '';
  const loginMs: number[] = [];
  for (let i = 0; i < logins; i++) {
    const t = performance.now();
    const res = await app.request(`${BASE}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    });
    loginMs.push(performance.now() - t);
    if (res.status !== 200) throw new Error(`login: ${res.status} ${await res.text()}`);
    cookie = (res.headers.get('set-cookie') ?? '').split(';')[0]!;
  }

  const pageMs: number[] = [];
  for (let i = 0; i < warmup + requests; i++) {
    const t = performance.now();
    const res = await app.request(`${BASE}/api/events?limit=50`, { headers: { cookie } });
    const body = (await res.json()) as { items?: unknown[] };
    const ms = performance.now() - t;
    if (res.status !== 200 || body.items?.length !== Math.min(50, row?.n ?? 0))
      throw new Error(`GET /api/events: ${res.status} ${JSON.stringify(body).slice(0, 200)}`);
    if (i >= warmup) pageMs.push(ms);
  }
  const page = summarize(pageMs);
  return {
    events: row?.n ?? 0,
    login: summarize(loginMs),
    eventsPage: page,
    eventsPerSecond: round(1000 / page.mean, 0),
  };
}
