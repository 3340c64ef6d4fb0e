import { and, desc, eq } from 'drizzle-orm';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import { rosterImports, type Db } from '../../db/index.ts';
import type { Clock } from '../../hardware/clock.ts';
import type { Principal } from '../auth/auth.service.ts';
import { requirePermission } from '../http/auth.middleware.ts';
import type { AppEnv } from '../http/context.ts';
import { ApiError, errorBody, readBody, readQuery } from '../http/errors.ts';
import {
  parseRosterCsv,
  rejectDuplicates,
  RosterFileError,
  validateEntry,
  type RosterEntry,
  type RowError,
} from '../roster/roster.csv.ts';
import { ROSTER_MAX_BYTES } from '../roster/roster.api.ts';
import { createRosterImporter, type RosterResult } from '../roster/roster.import.ts';

export const ROSTER_IMPORT_PATH = '/api/roster/import';

const dryRunQuery = z.strictObject({
  dryRun: z.enum(['true', 'false'], "dryRun: 'true' or 'false'").optional(),
});

const csvJson = z.strictObject({ csv: z.string().min(1, 'csv: the file is empty') });

const when = z.iso
  .datetime({ offset: true, message: 'an ISO 8601 time with its zone' })
  .nullable()
  .optional();

/** Types only: the formats (email, phone, dates in order) are checked per change, like CSV rows. */
const changesBody = z.strictObject({
  changes: z
    .array(
      z.strictObject({
        externalId: z.string().trim().min(1).max(64),
        unit: z.string().trim().max(32),
        name: z.string().trim().max(120),
        email: z.string().trim().max(254).nullable().optional(),
        phone: z.string().trim().max(32).nullable().optional(),
        moveInAt: when,
        moveOutAt: when,
      }),
    )
    .min(1, 'changes: give at least one change')
    .max(5000, 'changes: at most 5000 per request'),
});

const historyQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).optional(),
});

function actor(p: Principal): string {
  return p.kind === 'staff' ? p.email : `token:${p.name}`;
}

function auditOf(c: Context<AppEnv>, result: RosterResult, source: 'csv' | 'pms') {
  c.set('audit', {
    action: result.dryRun ? 'roster.preview' : 'roster.import',
    targetType: 'roster_import',
    ...(result.importId ? { targetId: result.importId } : {}),
    details: { source, ...result.summary },
  });
}

export function rosterRoutes(deps: {
  db: Db;
  siteId: string;
  clock: Clock;
  /** The site's time zone: a bare date in the roster is a day there. */
  timeZone: string;
  onAccessChange: () => Promise<unknown>;
}) {
  const { db, siteId } = deps;
  const importer = createRosterImporter(deps);
  const app = new Hono<AppEnv>();

  app.post(
    '/roster/import',
    requirePermission('roster:import'),
    bodyLimit({
      maxSize: ROSTER_MAX_BYTES,
      onError: (c) =>
        c.json(errorBody('body_too_large', 'the roster file is over 2 MB; split it'), 413),
    }),
    async (c) => {
      const q = readQuery(c, dryRunQuery);
      const type = (c.req.header('content-type') ?? '').toLowerCase();
      let text: string;
      if (type.startsWith('text/csv') || type.startsWith('text/plain')) {
        text = await c.req.text();
      } else if (type.startsWith('application/json')) {
        text = (await readBody(c, csvJson)).csv;
      } else {
        throw new ApiError(
          415,
          'unsupported_media_type',
          'send the roster as text/csv, or as application/json {csv}',
        );
      }
      let parsed;
      try {
        parsed = parseRosterCsv(text, { timeZone: deps.timeZone });
      } catch (err) {
        if (err instanceof RosterFileError)
          throw new ApiError(400, 'invalid_csv', err.message, 'csv');
        throw err;
      }
      const dryRun = q.dryRun === 'true';
      const result = await importer.run(parsed, {
        dryRun,
        source: 'csv',
        by: actor(c.get('principal')),
      });
      auditOf(c, result, 'csv');
      return c.json(result, dryRun ? 200 : 201);
    },
  );

  app.post('/roster/changes', requirePermission('roster:import'), async (c) => {
    const q = readQuery(c, dryRunQuery);
    const body = await readBody(c, changesBody);
    const entries: RosterEntry[] = [];
    const rejected: RowError[] = [];
    body.changes.forEach((ch, i) => {
      const e: RosterEntry = {
        line: i + 1,
        unit: ch.unit,
        name: ch.name,
        externalId: ch.externalId,
      };
      if (ch.email !== undefined) e.email = ch.email ? ch.email.toLowerCase() : null;
      if (ch.phone !== undefined) e.phone = ch.phone || null;
      if (ch.moveInAt !== undefined) e.moveInAt = ch.moveInAt ? new Date(ch.moveInAt) : null;
      if (ch.moveOutAt !== undefined) e.moveOutAt = ch.moveOutAt ? new Date(ch.moveOutAt) : null;
      const errors = validateEntry(e);
      if (errors.length) rejected.push({ line: e.line, unit: e.unit, name: e.name, errors });
      else entries.push(e);
    });
    const dryRun = q.dryRun === 'true';
    const result = await importer.run(rejectDuplicates({ entries, rejected }), {
      dryRun,
      source: 'pms',
      by: actor(c.get('principal')),
    });
    auditOf(c, result, 'pms');
    return c.json(result, dryRun ? 200 : 201);
  });

  app.get('/roster/imports', requirePermission('roster:import'), async (c) => {
    const q = readQuery(c, historyQuery);
    const rows = await db
      .select()
      .from(rosterImports)
      .where(and(eq(rosterImports.siteId, siteId), eq(rosterImports.dryRun, false)))
      .orderBy(desc(rosterImports.at), desc(rosterImports.id))
      .limit(q.limit ?? 50);
    return c.json({
      items: rows.map((r) => ({
        id: r.id,
        at: r.at.toISOString(),
        by: r.by,
        source: r.source,
        dryRun: r.dryRun,
        summary: r.summary,
      })),
    });
  });

  return app;
}
