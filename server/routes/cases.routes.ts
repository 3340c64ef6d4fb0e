/**
 * Incident cases and their evidence packages (managers and admins: `cases:read`, `cases:write`).
 *
 * Every id in a path is looked up in the database and never joined to a file path: an id that
 * is not an id at all (`..%2F..`, a NUL, a slash) is answered like any unknown one, 404. The ZIP
 * is served from the path its export row holds, checked to be inside DATA_DIR.
 *
 * Handing out evidence is recorded like an audit export (`audit.export`, so it is in the admins'
 * "who watched or exported what" list): when a package is asked for (the write's audit row, with
 * the case and its items), and every download (written before the first byte goes out).
 */
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { Db } from '../../db/index.ts';
import type { Clock } from '../../hardware/clock.ts';
import { EXPORT_ACTION, recordAudit } from '../audit/views.middleware.ts';
import type { Principal } from '../auth/auth.service.ts';
import { SAFE_ID } from '../cameras/clip.service.ts';
import { CASE_ITEM_KINDS, exportView, type CaseServices } from '../cases/index.ts';
import { clientAddress } from '../http/audit.middleware.ts';
import { requirePermission } from '../http/auth.middleware.ts';
import type { AppEnv } from '../http/context.ts';
import { ApiError, notFound, readBody, readQuery } from '../http/errors.ts';
import { sendFile, type FileOpener } from '../http/range.ts';

const title = z
  .string()
  .trim()
  .min(1, 'title must not be empty')
  .max(200, 'title is at most 200 characters');
const description = z.string().trim().max(5000, 'description is at most 5000 characters');

const listQuery = z.strictObject({ status: z.enum(['open', 'closed']).optional() });
const createBody = z.strictObject({ title, description: description.optional() });
const patchBody = z
  .strictObject({
    title: title.optional(),
    description: description.optional(),
    status: z.enum(['open', 'closed']).optional(),
  })
  .refine((b) => Object.keys(b).length > 0, { message: 'send title, description or status' });
const itemBody = z.strictObject({
  kind: z.enum(CASE_ITEM_KINDS),
  refId: z.string().trim().min(1).max(64).regex(SAFE_ID, 'refId is not an id'),
  note: z.string().trim().max(2000, 'note is at most 2000 characters').optional(),
});

/** Who did it, as cases store it: a staff id, or `token:<id>` for an integration. */
const actorId = (p: Principal) => (p.kind === 'staff' ? p.staffId : `token:${p.tokenId}`);
const actorLabel = (p: Principal) => (p.kind === 'staff' ? p.email : `token:${p.name}`);

/** A path id: anything that is not an id is a plain 404, never looked at further. */
function pathId(c: Context<AppEnv>, name: string, what: string): string {
  const v = c.req.param(name) ?? '';
  if (!SAFE_ID.test(v)) throw notFound(what);
  return v;
}

export function caseRoutes(deps: {
  db: Db;
  siteId: string;
  clock: Clock;
  cases: CaseServices;
  opener?: FileOpener;
}) {
  const app = new Hono<AppEnv>();
  const { store, exporter, keys } = deps.cases;
  const auditDeps = { db: deps.db, siteId: deps.siteId, clock: deps.clock };

  app.get('/cases', requirePermission('cases:read'), async (c) => {
    const q = readQuery(c, listQuery);
    return c.json({ items: await store.list(q.status) });
  });

  app.post('/cases', requirePermission('cases:write'), async (c) => {
    const body = await readBody(c, createBody);
    const id = await store.create(body, actorId(c.get('principal')));
    c.set('audit', {
      action: 'case.create',
      targetType: 'case',
      targetId: id,
      details: { title: body.title },
    });
    return c.json({ id }, 201);
  });

  app.get('/cases/:id', requirePermission('cases:read'), async (c) => {
    const detail = await store.get(pathId(c, 'id', 'case'));
    if (!detail) throw notFound('case');
    return c.json(detail);
  });

  app.patch('/cases/:id', requirePermission('cases:write'), async (c) => {
    const id = pathId(c, 'id', 'case');
    const body = await readBody(c, patchBody);
    if ((await store.update(id, body, actorId(c.get('principal')))) === 'not_found')
      throw notFound('case');
    c.set('audit', {
      action:
        body.status === 'closed'
          ? 'case.close'
          : body.status === 'open'
            ? 'case.reopen'
            : 'case.update',
      targetType: 'case',
      targetId: id,
      details: body,
    });
    const detail = await store.get(id);
    return c.json(detail);
  });

  app.post('/cases/:id/items', requirePermission('cases:write'), async (c) => {
    const id = pathId(c, 'id', 'case');
    const body = await readBody(c, itemBody);
    const r = await store.addItem(id, body, actorId(c.get('principal')));
    switch (r.kind) {
      case 'case_not_found':
        throw notFound('case');
      case 'case_closed':
        throw new ApiError(409, 'case_closed', 'the case is closed; reopen it to add items');
      case 'ref_not_found':
        throw new ApiError(
          404,
          'ref_not_found',
          body.kind === 'alarm'
            ? `no door alarm event '${body.refId}' at this site`
            : `no ${body.kind} '${body.refId}' at this site`,
          'refId',
        );
      case 'exists':
        return c.json({ id: r.id, existing: true }, 200);
      case 'created':
        c.set('audit', {
          action: 'case.item.add',
          targetType: 'case',
          targetId: id,
          details: { itemId: r.id, kind: body.kind, refId: body.refId },
        });
        return c.json({ id: r.id }, 201);
    }
  });

  app.delete('/cases/:id/items/:itemId', requirePermission('cases:write'), async (c) => {
    const id = pathId(c, 'id', 'case');
    const itemId = pathId(c, 'itemId', 'case item');
    const r = await store.removeItem(id, itemId);
    if (r === 'case_not_found') throw notFound('case');
    if (r === 'item_not_found') throw notFound('case item');
    if (r === 'case_closed')
      throw new ApiError(409, 'case_closed', 'the case is closed; reopen it to remove items');
    c.set('audit', {
      action: 'case.item.remove',
      targetType: 'case',
      targetId: id,
      details: { itemId },
    });
    return c.json({ ok: true });
  });

  app.post('/cases/:id/exports', requirePermission('cases:write'), async (c) => {
    const id = pathId(c, 'id', 'case');
    const principal = c.get('principal');
    const detail = await store.get(id);
    if (!detail) throw notFound('case');
    const exportId = await store.createExport(id, actorId(principal));
    if (!exportId) throw notFound('case');
    exporter.start({ caseId: id, exportId, by: actorLabel(principal) });
    // Who packaged which evidence (the admins' views list shows it): the write's own audit row.
    c.set('audit', {
      action: EXPORT_ACTION,
      targetType: 'case_export',
      targetId: exportId,
      details: {
        format: 'evidence_zip',
        step: 'requested',
        caseId: id,
        caseTitle: detail.title,
        items: detail.items.map((i) => ({ kind: i.kind, refId: i.refId })),
      },
    });
    return c.json({ id: exportId, status: 'building' }, 202);
  });

  app.get('/cases/:id/exports/:exportId', requirePermission('cases:read'), async (c) => {
    const id = pathId(c, 'id', 'case');
    const row = await store.getExport(id, pathId(c, 'exportId', 'export'));
    if (!row) throw notFound('export');
    return c.json(exportView(id, row));
  });

  app.get('/cases/:id/exports/:exportId/download', requirePermission('cases:read'), async (c) => {
    const id = pathId(c, 'id', 'case');
    const exportId = pathId(c, 'exportId', 'export');
    const row = await store.getExport(id, exportId);
    if (!row) throw notFound('export');
    if (row.status === 'building')
      throw new ApiError(409, 'export_not_ready', 'the package is still being built', undefined, {
        'Retry-After': '2',
      });
    if (row.status === 'failed' || !row.path)
      throw new ApiError(
        409,
        'export_failed',
        `the package could not be built: ${row.error ?? 'unknown'}`,
      );
    const file = exporter.fileOf(row.path);
    if (!file) throw notFound('export file');
    await recordAudit(auditDeps, c.get('principal'), clientAddress(c.env), {
      action: EXPORT_ACTION,
      targetType: 'case_export',
      targetId: exportId,
      details: { format: 'evidence_zip', step: 'downloaded', caseId: id, sha256: row.sha256 },
    });
    return sendFile(c, {
      path: file,
      contentType: 'application/zip',
      cacheControl: 'no-store',
      headers: {
        'Content-Disposition': `attachment; filename="parcelroom-case-${id}-${exportId}.zip"`,
        'X-Content-Type-Options': 'nosniff',
        ...(row.sha256 ? { 'X-Evidence-Sha256': row.sha256 } : {}),
      },
      ...(deps.opener ? { opener: deps.opener } : {}),
    });
  });

  app.get('/evidence/keys', requirePermission('cases:read'), async (c) => {
    // Publishing the key is its first use: a site can hand it out before the first package.
    await keys.current();
    const rows = await keys.list();
    return c.json({
      items: rows.map((k) => ({
        id: k.id,
        algorithm: k.algorithm,
        publicKeyPem: k.publicKeyPem,
        createdAt: k.createdAt.toISOString(),
        ...(k.retiredAt ? { retiredAt: k.retiredAt.toISOString() } : {}),
      })),
    });
  });

  return app;
}
