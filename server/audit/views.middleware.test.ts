import { asc, eq } from 'drizzle-orm';
import { Hono } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, staffAuditLog, type Database, type Db } from '../../db/index.ts';
import { manualClock, type ManualClock } from '../../hardware/clock.ts';
import type { Principal } from '../auth/auth.service.ts';
import { demoSite, parseSite } from '../config/index.ts';
import type { AppEnv } from '../http/context.ts';
import { memoryLogger } from '../log/logger.ts';
import { syncSite } from '../site.sync.ts';
import { auditViews, viewTargetOf } from './views.middleware.ts';

const T0 = Date.UTC(2026, 10, 21, 9, 0, 0);
const site = parseSite(demoSite(), 'demo');
const SITE = site.site.id;

const PRINCIPALS: Record<string, Principal> = {
  manager: {
    kind: 'staff',
    staffId: 'staff-m',
    email: 'manager@example.test',
    name: 'M',
    role: 'manager',
    sessionId: 'sess-1',
  },
  robot: { kind: 'token', tokenId: 'tok-1', name: 'vms', role: 'manager' },
};

let database: Database;

beforeAll(async () => {
  database = await openDatabase({ dataDir: 'memory://' });
  await syncSite(database.db, site, new Date(T0));
}, 60_000);

afterAll(async () => {
  await database?.close();
});

beforeEach(async () => {
  await database.db.delete(staffAuditLog);
});

/**
 * The video routes' paths with stand-in answers (status from `?status=`): what is under test is
 * the middleware in front of them, with the real database behind it.
 */
function videoApp(db: Db, clock: ManualClock, log = memoryLogger()) {
  const app = new Hono<AppEnv>();
  app.use('*', async (c, next) => {
    const who = c.req.header('x-test-actor');
    if (who) c.set('principal', PRINCIPALS[who]!);
    await next();
  });
  app.use('*', auditViews({ db, siteId: SITE, clock, log, dedupeMs: 60_000 }));
  const answer = (c: { req: { query(k: string): string | undefined } }) =>
    Number(c.req.query('status') ?? 200) as ContentfulStatusCode;
  for (const path of [
    '/api/events/:id/clip',
    '/api/events/:id/clip/poster',
    '/api/flags/:id/clip',
    '/api/flags/:id/snapshot',
    '/api/cameras/:id/live/index.m3u8',
    '/api/cameras/:id/live/:segment',
    '/api/events',
  ]) {
    app.get(path, (c) => c.body('bytes', answer(c), { 'X-Clip-Camera': 'room-cam' }));
  }
  app.post('/api/events/:id/clip', (c) => c.body('no', 200));
  const get = (path: string, actor?: string, method = 'GET') =>
    app.request(`http://parcelroom.test${path}`, {
      method,
      headers: actor ? { 'x-test-actor': actor } : {},
    });
  return { get, log };
}

const rows = () =>
  database.db.select().from(staffAuditLog).orderBy(asc(staffAuditLog.at), asc(staffAuditLog.id));

describe('auditViews', () => {
  it('records who watched which clip, once per viewing', async () => {
    const clock = manualClock(T0);
    const { get } = videoApp(database.db, clock);
    expect((await get('/api/events/e1/clip', 'manager')).status).toBe(200);
    // The player's Range requests while watching: the same viewing.
    expect((await get('/api/events/e1/clip?status=206', 'manager')).status).toBe(206);
    clock.advance(59_000);
    await get('/api/events/e1/clip?status=206', 'manager');
    const [row, ...more] = await rows();
    expect(more).toEqual([]);
    expect(row).toMatchObject({
      siteId: SITE,
      at: new Date(T0),
      action: 'video.view',
      targetType: 'event',
      targetId: 'e1',
      actorStaffId: 'staff-m',
      actorTokenId: null,
      actorLabel: 'manager@example.test',
      details: { what: 'clip', cameraId: 'room-cam' },
    });
    // Watched again later: a new line.
    clock.advance(61_000);
    await get('/api/events/e1/clip', 'manager');
    expect(await rows()).toHaveLength(2);
  });

  it('tells apart posters, flags, live views and callers', async () => {
    const clock = manualClock(T0);
    const { get } = videoApp(database.db, clock);
    await get('/api/events/e1/clip/poster', 'manager');
    await get('/api/flags/f%2D1/clip', 'manager');
    await get('/api/flags/f-1/snapshot', 'manager');
    await get('/api/cameras/room-cam/live/index.m3u8?quality=sub', 'robot');
    await get('/api/events/e1/clip', 'robot');
    const got = (await rows()).map((r) => ({
      actor: r.actorLabel,
      token: r.actorTokenId,
      target: `${r.targetType}:${r.targetId}`,
      details: r.details,
    }));
    expect(got).toEqual([
      {
        actor: 'manager@example.test',
        token: null,
        target: 'event:e1',
        details: { what: 'snapshot', cameraId: 'room-cam' },
      },
      {
        actor: 'manager@example.test',
        token: null,
        target: 'flag:f-1',
        details: { what: 'clip', cameraId: 'room-cam' },
      },
      {
        actor: 'manager@example.test',
        token: null,
        target: 'flag:f-1',
        details: { what: 'snapshot', cameraId: 'room-cam' },
      },
      {
        actor: 'token:vms',
        token: 'tok-1',
        target: 'camera:room-cam',
        details: { what: 'live', cameraId: 'room-cam', quality: 'sub' },
      },
      {
        actor: 'token:vms',
        token: 'tok-1',
        target: 'event:e1',
        details: { what: 'clip', cameraId: 'room-cam' },
      },
    ]);
  });

  it('records nothing when nothing was shown, for other routes, or without a caller', async () => {
    const clock = manualClock(T0);
    const { get } = videoApp(database.db, clock);
    expect((await get('/api/events/e1/clip?status=404', 'manager')).status).toBe(404);
    expect((await get('/api/events/e1/clip?status=409', 'manager')).status).toBe(409);
    expect((await get('/api/flags/f1/snapshot?status=503', 'manager')).status).toBe(503);
    // Live segments: the playlist already says who watches.
    expect((await get('/api/cameras/room-cam/live/sub-1767268800.ts', 'manager')).status).toBe(200);
    expect((await get('/api/events', 'manager')).status).toBe(200);
    expect((await get('/api/events/e1/clip', 'manager', 'POST')).status).toBe(200);
    expect((await get('/api/events/e1/clip')).status).toBe(200);
    expect(await rows()).toEqual([]);
  });

  it('a failed audit write is logged, the video still served, and tried again next request', async () => {
    const clock = manualClock(T0);
    let failNext = true;
    const flaky = {
      insert: (table: typeof staffAuditLog) => {
        if (!failNext) return database.db.insert(table);
        failNext = false;
        return { values: () => Promise.reject(new Error('database unreachable')) };
      },
    } as unknown as Db;
    const { get, log } = videoApp(flaky, clock);
    expect((await get('/api/events/e9/clip', 'manager')).status).toBe(200);
    expect(log.records).toEqual([
      expect.objectContaining({ level: 'error', msg: 'video view audit write failed' }),
    ]);
    expect(await rows()).toEqual([]);
    await get('/api/events/e9/clip', 'manager');
    const stored = await database.db
      .select()
      .from(staffAuditLog)
      .where(eq(staffAuditLog.targetId, 'e9'));
    expect(stored).toHaveLength(1);
  });
});

describe('viewTargetOf', () => {
  it('knows the video routes, with or without the /api prefix', () => {
    expect(viewTargetOf('/api/events/abc/clip')).toEqual({
      targetType: 'event',
      targetId: 'abc',
      what: 'clip',
    });
    expect(viewTargetOf('/cameras/c1/live/index.m3u8')?.what).toBe('live');
    expect(viewTargetOf('/api/events/abc/clip/poster/x')).toBeNull();
    expect(viewTargetOf('/api/events/%E0%A4%A/clip')).toBeNull();
    expect(viewTargetOf('/api/cameras/c1/live/sub-1.ts')).toBeNull();
  });
});
