import { and, desc, eq, lt, or } from 'drizzle-orm';
import { Hono } from 'hono';
import { z } from 'zod';
import { staffAuditLog, type Db } from '../../db/index.ts';
import type { SiteConfig } from '../config/index.ts';
import { requirePermission } from '../http/auth.middleware.ts';
import type { AppEnv } from '../http/context.ts';
import { decodeCursor, encodeCursor } from '../http/cursor.ts';
import { readQuery } from '../http/errors.ts';

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

export function systemRoutes(deps: {
  db: Db;
  siteId: string;
  site: SiteConfig;
  siteSource: string;
}) {
  const app = new Hono<AppEnv>();

  app.get('/settings', requirePermission('settings:read'), (c) =>
    c.json({ source: deps.siteSource, site: redactSite(deps.site) }),
  );

  app.get('/audit-log', requirePermission('staff_audit:read'), async (c) => {
    const q = readQuery(c, auditQuery);
    const filters = [eq(staffAuditLog.siteId, deps.siteId)];
    if (q.cursor) {
      const { at, id } = decodeCursor(q.cursor);
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
            nextCursor: encodeCursor(last),
          }
        : {}),
    });
  });

  return app;
}
