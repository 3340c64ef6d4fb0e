import { and, desc, eq, lt, or } from 'drizzle-orm';
import { Hono } from 'hono';
import { z } from 'zod';
import { staffAuditLog, type Db } from '../../db/index.ts';
import type { SiteConfig } from '../config/index.ts';
import { requirePermission } from '../http/auth.middleware.ts';
import type { AppEnv } from '../http/context.ts';
import { ApiError, readBody, readQuery } from '../http/errors.ts';
import type { DoorBoard } from '../doors/door.board.ts';

/** Secrets never leave the box through the API, not even to an admin. */
export function redactSite(site: SiteConfig): unknown {
  const walk = (v: unknown, key?: string): unknown => {
    if (key && /password|secret|token/i.test(key) && typeof v === 'string') return '***';
    if (Array.isArray(v)) return v.map((x) => walk(x));
    if (v && typeof v === 'object')
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, k)]));
    return v;
  };
  return walk(site);
}

const auditQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().max(200).optional(),
});

const contactBody = z.strictObject({ state: z.enum(['open', 'closed']) });

export function systemRoutes(deps: {
  db: Db;
  siteId: string;
  site: SiteConfig;
  siteSource: string;
  doors: DoorBoard;
}) {
  const app = new Hono<AppEnv>();

  app.get('/settings', requirePermission('settings:read'), (c) =>
    c.json({ source: deps.siteSource, site: redactSite(deps.site) }),
  );

  app.get('/audit-log', requirePermission('staff_audit:read'), async (c) => {
    const q = readQuery(c, auditQuery);
    const filters = [eq(staffAuditLog.siteId, deps.siteId)];
    if (q.cursor) {
      const [atIso, id] = Buffer.from(q.cursor, 'base64url').toString('utf8').split('|');
      const at = new Date(atIso ?? '');
      if (!id || Number.isNaN(at.getTime()))
        throw new ApiError(400, 'invalid_query', 'bad cursor', 'cursor');
      filters.push(
        or(lt(staffAuditLog.at, at), and(eq(staffAuditLog.at, at), lt(staffAuditLog.id, id)))!,
      );
    }
    const rows = await deps.db
      .select()
      .from(staffAuditLog)
      .where(and(...filters))
      .orderBy(desc(staffAuditLog.at), desc(staffAuditLog.id))
      .limit(q.limit + 1);
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    return c.json({
      items: page.map((r) => ({
        id: r.id,
        at: r.at.toISOString(),
        actor: r.actorLabel,
        actorStaffId: r.actorStaffId,
        actorTokenId: r.actorTokenId,
        action: r.action,
        targetType: r.targetType,
        targetId: r.targetId,
        details: r.details,
        ip: r.ip,
      })),
      ...(rows.length > q.limit && last
        ? {
            nextCursor: Buffer.from(`${last.at.toISOString()}|${last.id}`).toString('base64url'),
          }
        : {}),
    });
  });

  app.get('/doors', requirePermission('doors:read'), (c) =>
    c.json(
      deps.doors.list().map(({ id, name, strike, contact, alarms }) => ({
        id,
        name,
        strike,
        contact,
        alarms,
      })),
    ),
  );

  // Simulated hardware: only for doors whose driver is 'sim'.
  app.post('/sim/doors/:id/contact', requirePermission('sim:drive'), async (c) => {
    const sim = deps.doors.sim(c.req.param('id'));
    if (!sim) throw new ApiError(404, 'not_found', 'no simulated door with this id');
    const body = await readBody(c, contactBody);
    sim.sensor.setContact(body.state);
    return c.json({ ok: true });
  });
  app.post('/sim/doors/:id/rex', requirePermission('sim:drive'), (c) => {
    const sim = deps.doors.sim(c.req.param('id'));
    if (!sim) throw new ApiError(404, 'not_found', 'no simulated door with this id');
    sim.sensor.pressRex();
    return c.json({ ok: true });
  });

  return app;
}
