/**
 * The manager's audit search (`GET /audit/search`), its CSV export (`GET /audit/search.csv`)
 * and the admin's list of who viewed footage or exported searches (`GET /audit/views`).
 *
 * Search and export need `audit:export` (managers, admins): the timeline names residents and
 * their comings and goings across years, more than the staff's event log shows. Every export is
 * written to the staff audit log before the first byte goes out, with the filters used. The
 * views list needs `staff_audit:read` (admins), like the staff audit log itself.
 *
 * Saved searches (`/audit/saved-searches`, `audit:export`) are each person's own: a manager sees
 * and deletes only theirs, and someone else's answers 404 as if it did not exist.
 */
import { and, asc, count, desc, eq, gte, lt, lte, or, type SQL } from 'drizzle-orm';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import { newId, savedSearches, staffAuditLog, type Db } from '../../db/index.ts';
import type { Clock } from '../../hardware/clock.ts';
import {
  createAuditSearch,
  csvQuerySchema,
  MAX_SEARCH_LIMIT,
  mergeNewestFirst,
  rawQuery,
  searchQuerySchema,
  type AuditPage,
  type AuditSearch,
  type AuditSearchQuery,
} from '../audit/audit.search.ts';
import { AUDIT_CSV_HEADER, auditCsvCells, csvLine } from '../audit/csv.format.ts';
import {
  EXPORT_ACTION,
  recordAudit,
  VIEW_ACTIONS,
  type ViewTargetType,
} from '../audit/views.middleware.ts';
import type { ClipLinker } from '../cameras/clip.service.ts';
import type { SiteConfig } from '../config/index.ts';
import { clientAddress } from '../http/audit.middleware.ts';
import { requirePermission } from '../http/auth.middleware.ts';
import type { AppEnv } from '../http/context.ts';
import { decodeCursor, encodeCursor } from '../http/cursor.ts';
import { ApiError, notFound, readBody, readQuery, validationError } from '../http/errors.ts';
import type { Logger } from '../log/logger.ts';
import { SAFE_ID } from '../cameras/clip.service.ts';
import type { Principal } from '../auth/auth.service.ts';

const VIEW_TARGET_TYPES = [
  'event',
  'flag',
  'camera',
  'audit_search',
  'case_export',
] as const satisfies readonly (ViewTargetType | 'audit_search' | 'case_export')[];

const isoTime = z.iso.datetime({ offset: true });
const viewsQuery = z.strictObject({
  action: z.enum(VIEW_ACTIONS).optional(),
  actorStaffId: z.string().trim().min(1).max(64).optional(),
  targetType: z.enum(VIEW_TARGET_TYPES).optional(),
  targetId: z.string().trim().min(1).max(200).optional(),
  from: isoTime.optional(),
  to: isoTime.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
});

/**
 * A saved search: a name and the search's query parameters as the console sends them (strings;
 * a repeated one as a list). Checked against the search itself, so a saved search always runs;
 * a cursor is refused (a page position goes stale) and so is a limit (the console picks it).
 */
const MAX_SAVED_SEARCHES = 100;
const savedSearchBody = z.strictObject({
  name: z
    .string()
    .trim()
    .min(1, 'name must not be empty')
    .max(100, 'name is at most 100 characters'),
  query: z
    .record(
      z.string().max(40),
      z.union([z.string().max(500), z.array(z.string().max(200)).min(1).max(30)]),
    )
    .refine((q) => Object.keys(q).length <= 20, { message: 'at most 20 parameters' }),
});

/** Saved searches belong to a person; a token's are kept under `token:<id>`. */
const ownerOf = (p: Principal) => (p.kind === 'staff' ? p.staffId : `token:${p.tokenId}`);

/** The search's query string, repeated parameters kept; a bad one is a 400 naming it. */
function readSearch<T extends z.ZodType>(c: Context, schema: T): z.output<T> {
  const result = schema.safeParse(rawQuery(c.req.queries()));
  if (!result.success) {
    const e = validationError(result.error);
    throw new ApiError(400, 'invalid_query', e.message, e.field);
  }
  return result.data;
}

/** The filters of an export, as the audit log keeps them: what was asked, not the ids found. */
function exportDetails(q: AuditSearchQuery): Record<string, unknown> {
  const { cursor, limit, from, to, types, flagKinds, ...rest } = q;
  const filters: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rest)) if (v !== undefined) filters[k] = v;
  if (types) filters.type = types;
  if (flagKinds) filters.flagKind = flagKinds;
  if (from) filters.from = from.toISOString();
  if (to) filters.to = to.toISOString();
  return {
    format: 'csv',
    maxRows: limit,
    filters,
    ...(cursor ? { cursor: encodeCursor(cursor) } : {}),
  };
}

export function auditRoutes(deps: {
  db: Db;
  siteId: string;
  clock: Clock;
  log: Logger;
  site: Pick<SiteConfig, 'cameras'>;
  /** Clip links of events (createClipLinker), as the event list has them. */
  clipLinks?: ClipLinker;
  /** The search itself; made from the deps above when not given. */
  search?: AuditSearch;
}) {
  const app = new Hono<AppEnv>();
  const search =
    deps.search ??
    createAuditSearch({
      db: deps.db,
      siteId: deps.siteId,
      site: deps.site,
      clipLinks: deps.clipLinks,
    });

  app.get('/audit/search', requirePermission('audit:export'), async (c) => {
    const q = readSearch(c, searchQuerySchema);
    return c.json(await search.search(q));
  });

  app.get('/audit/search.csv', requirePermission('audit:export'), async (c) => {
    const q = readSearch(c, csvQuerySchema);
    let remaining = q.limit;
    const nextPage = (cursor: AuditSearchQuery['cursor']) =>
      search.search({ ...q, limit: Math.min(remaining, MAX_SEARCH_LIMIT), cursor });
    // The first page before the answer starts: a database that fails now is a plain 500.
    let page: AuditPage | null = await nextPage(q.cursor);
    await recordAudit(deps, c.get('principal'), clientAddress(c.env), {
      action: EXPORT_ACTION,
      targetType: 'audit_search',
      details: exportDetails(q),
    });
    const encoder = new TextEncoder();
    let headerSent = false;
    const body = new ReadableStream<Uint8Array>({
      // One page per pull: the client's reading paces the database, memory stays one page.
      async pull(controller) {
        if (!headerSent) {
          headerSent = true;
          controller.enqueue(encoder.encode(AUDIT_CSV_HEADER));
          return;
        }
        if (!page) {
          controller.close();
          return;
        }
        const rows = page.items.slice(0, remaining);
        remaining -= rows.length;
        const next = remaining > 0 ? page.nextCursor : undefined;
        page = null;
        if (rows.length > 0)
          controller.enqueue(encoder.encode(rows.map((r) => csvLine(auditCsvCells(r))).join('')));
        if (!next) return;
        try {
          page = await nextPage(decodeCursor(next));
        } catch (err) {
          // Headers are gone: an aborted body is how the client learns the file is incomplete.
          deps.log.error('audit CSV export failed mid-stream', { err });
          controller.error(err);
        }
      },
    });
    const stamp = new Date(deps.clock.now()).toISOString().replace(/[:.]/g, '-');
    return c.body(body, 200, {
      'Content-Type': 'text/csv; charset=utf-8',
      'Content-Disposition': `attachment; filename="parcelroom-audit-${stamp}.csv"`,
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
    });
  });

  app.get('/audit/saved-searches', requirePermission('audit:export'), async (c) => {
    const rows = await deps.db
      .select()
      .from(savedSearches)
      .where(
        and(
          eq(savedSearches.siteId, deps.siteId),
          eq(savedSearches.staffId, ownerOf(c.get('principal'))),
        ),
      )
      .orderBy(asc(savedSearches.name), asc(savedSearches.id));
    return c.json({
      items: rows.map((r) => ({
        id: r.id,
        name: r.name,
        query: r.query,
        createdAt: r.createdAt.toISOString(),
      })),
    });
  });

  app.post('/audit/saved-searches', requirePermission('audit:export'), async (c) => {
    const body = await readBody(c, savedSearchBody);
    for (const key of ['cursor', 'limit'])
      if (key in body.query)
        throw new ApiError(
          400,
          'invalid_body',
          `query.${key}: not kept in a saved search`,
          `query.${key}`,
        );
    const checked = searchQuerySchema.safeParse(body.query);
    if (!checked.success) {
      const e = validationError(checked.error);
      throw new ApiError(
        400,
        'invalid_body',
        `query.${e.message}`,
        e.field ? `query.${e.field}` : 'query',
      );
    }
    const owner = ownerOf(c.get('principal'));
    const [{ n }] = (await deps.db
      .select({ n: count() })
      .from(savedSearches)
      .where(and(eq(savedSearches.siteId, deps.siteId), eq(savedSearches.staffId, owner)))) as [
      { n: number },
    ];
    if (Number(n) >= MAX_SAVED_SEARCHES)
      throw new ApiError(
        409,
        'too_many_saved_searches',
        `at most ${MAX_SAVED_SEARCHES} saved searches each; delete one first`,
      );
    const now = deps.clock.now();
    const id = newId(now);
    await deps.db.insert(savedSearches).values({
      id,
      siteId: deps.siteId,
      staffId: owner,
      name: body.name,
      query: body.query,
      createdAt: new Date(now),
    });
    c.set('audit', {
      action: 'audit.saved_search.create',
      targetType: 'saved_search',
      targetId: id,
      details: { name: body.name },
    });
    return c.json({ id }, 201);
  });

  app.delete('/audit/saved-searches/:id', requirePermission('audit:export'), async (c) => {
    const id = c.req.param('id');
    // Someone else's saved search is answered like one that does not exist.
    if (!SAFE_ID.test(id)) throw notFound('saved search');
    const gone = await deps.db
      .delete(savedSearches)
      .where(
        and(
          eq(savedSearches.siteId, deps.siteId),
          eq(savedSearches.id, id),
          eq(savedSearches.staffId, ownerOf(c.get('principal'))),
        ),
      )
      .returning({ id: savedSearches.id });
    if (gone.length === 0) throw notFound('saved search');
    c.set('audit', {
      action: 'audit.saved_search.delete',
      targetType: 'saved_search',
      targetId: id,
    });
    return c.json({ ok: true });
  });

  app.get('/audit/views', requirePermission('staff_audit:read'), async (c) => {
    const q = readQuery(c, viewsQuery);
    const where: SQL[] = [eq(staffAuditLog.siteId, deps.siteId)];
    if (q.actorStaffId) where.push(eq(staffAuditLog.actorStaffId, q.actorStaffId));
    if (q.targetType) where.push(eq(staffAuditLog.targetType, q.targetType));
    if (q.targetId) where.push(eq(staffAuditLog.targetId, q.targetId));
    if (q.from) where.push(gte(staffAuditLog.at, new Date(q.from)));
    if (q.to) where.push(lte(staffAuditLog.at, new Date(q.to)));
    if (q.cursor) {
      const { at, id } = decodeCursor(q.cursor);
      where.push(
        and(lte(staffAuditLog.at, at), or(lt(staffAuditLog.at, at), lt(staffAuditLog.id, id)))!,
      );
    }
    // One ordered query per action, merged: each walks the (site, action, at, id) index.
    const lists = await Promise.all(
      (q.action ? [q.action] : VIEW_ACTIONS).map((action) =>
        deps.db
          .select()
          .from(staffAuditLog)
          .where(and(...where, eq(staffAuditLog.action, action)))
          .orderBy(desc(staffAuditLog.at), desc(staffAuditLog.id))
          .limit(q.limit + 1),
      ),
    );
    const rows = mergeNewestFirst(lists, q.limit + 1);
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    return c.json({
      items: page.map((r) => ({
        id: r.id,
        at: r.at.toISOString(),
        actor: r.actorLabel,
        ...(r.actorStaffId ? { actorStaffId: r.actorStaffId } : {}),
        ...(r.actorTokenId ? { actorTokenId: r.actorTokenId } : {}),
        action: r.action,
        targetType: r.targetType,
        targetId: r.targetId,
        details: r.details,
        ip: r.ip,
      })),
      ...(rows.length > q.limit && last ? { nextCursor: encodeCursor(last) } : {}),
    });
  });

  return app;
}
