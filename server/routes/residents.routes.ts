import { and, asc, eq, ilike, or } from 'drizzle-orm';
import { Hono } from 'hono';
import { z } from 'zod';
import { credentials, newId, residents, staffUsers, units, type Db } from '../../db/index.ts';
import type { Clock } from '../../hardware/clock.ts';
import { createFormatRegistry, fieldRange } from '../../access/index.ts';
import { requirePermission } from '../http/auth.middleware.ts';
import type { AppEnv } from '../http/context.ts';
import { containsPattern } from '../http/like.ts';
import { ApiError, notFound, readBody, readQuery } from '../http/errors.ts';

const residentBody = z.strictObject({
  name: z.string().trim().min(1).max(120),
  unit: z.string().trim().min(1).max(32),
  email: z.email().max(254).optional(),
  phone: z
    .string()
    .trim()
    .regex(/^\+?[0-9 ()-]{5,32}$/, 'a phone number (digits, spaces, + - ( ))')
    .optional(),
});

export const CARD_FORMATS = ['H10301', 'H10306', 'C1000-35', 'H10302', 'H10304'] as const;

const credentialBody = z
  .strictObject({
    residentId: z.string().min(1).optional(),
    staffId: z.string().min(1).optional(),
    kind: z.literal('card'),
    format: z.enum(CARD_FORMATS),
    facilityCode: z.int().min(0).optional(),
    cardNumber: z.int().min(0),
  })
  .refine((b) => (b.residentId === undefined) !== (b.staffId === undefined), {
    message: 'give exactly one of residentId or staffId',
    path: ['residentId'],
  });

const listQuery = z.strictObject({
  q: z.string().max(120).optional(),
  unit: z.string().max(32).optional(),
});

const credentialQuery = z.strictObject({
  residentId: z.string().max(64).optional(),
  staffId: z.string().max(64).optional(),
});

function credentialView(row: typeof credentials.$inferSelect) {
  return {
    id: row.id,
    ...(row.residentId ? { residentId: row.residentId } : {}),
    ...(row.staffId ? { staffId: row.staffId } : {}),
    kind: row.kind,
    format: row.format,
    ...(row.facilityCode !== null ? { facilityCode: row.facilityCode } : {}),
    cardNumber: row.cardNumber,
    status: row.status,
    createdAt: row.createdAt.toISOString(),
    ...(row.revokedAt ? { revokedAt: row.revokedAt.toISOString() } : {}),
  };
}

function isUniqueViolation(err: unknown): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: string }).code === '23505') return true;
  }
  return false;
}

export function residentRoutes(deps: {
  db: Db;
  siteId: string;
  clock: Clock;
  onChange: () => Promise<unknown>;
}) {
  const { db, siteId, clock } = deps;
  const formats = createFormatRegistry();
  const app = new Hono<AppEnv>();

  app.get('/residents', requirePermission('residents:read'), async (c) => {
    const q = readQuery(c, listQuery);
    const filters = [eq(residents.siteId, siteId)];
    if (q.unit) filters.push(eq(units.label, q.unit));
    if (q.q) {
      const like = containsPattern(q.q);
      filters.push(or(ilike(residents.name, like), ilike(units.label, like))!);
    }
    const rows = await db
      .select({ r: residents, unit: units.label })
      .from(residents)
      .innerJoin(units, eq(units.id, residents.unitId))
      .where(and(...filters))
      .orderBy(asc(units.label), asc(residents.name))
      .limit(1000);
    return c.json({
      items: rows.map(({ r, unit }) => ({
        id: r.id,
        name: r.name,
        unit,
        ...(r.email ? { email: r.email } : {}),
        ...(r.phone ? { phone: r.phone } : {}),
        status: r.status,
        createdAt: r.createdAt.toISOString(),
      })),
    });
  });

  app.post('/residents', requirePermission('residents:write'), async (c) => {
    const body = await readBody(c, residentBody);
    const now = new Date(clock.now());
    const id = newId(clock.now());
    await db.transaction(async (tx) => {
      await tx
        .insert(units)
        .values({ id: newId(clock.now()), siteId, label: body.unit, createdAt: now })
        .onConflictDoNothing();
      const [unit] = await tx
        .select({ id: units.id })
        .from(units)
        .where(and(eq(units.siteId, siteId), eq(units.label, body.unit)));
      await tx.insert(residents).values({
        id,
        siteId,
        unitId: unit!.id,
        name: body.name,
        email: body.email ?? null,
        phone: body.phone ?? null,
        createdAt: now,
        updatedAt: now,
      });
    });
    c.set('audit', {
      action: 'resident.create',
      targetType: 'resident',
      targetId: id,
      details: { unit: body.unit },
    });
    return c.json({ id }, 201);
  });

  app.get('/credentials', requirePermission('credentials:read'), async (c) => {
    const q = readQuery(c, credentialQuery);
    const filters = [eq(credentials.siteId, siteId)];
    if (q.residentId) filters.push(eq(credentials.residentId, q.residentId));
    if (q.staffId) filters.push(eq(credentials.staffId, q.staffId));
    const rows = await db
      .select()
      .from(credentials)
      .where(and(...filters))
      .orderBy(asc(credentials.createdAt))
      .limit(5000);
    return c.json({ items: rows.map(credentialView) });
  });

  app.post('/credentials', requirePermission('credentials:write'), async (c) => {
    const body = await readBody(c, credentialBody);
    const format = formats.get(body.format);
    if (!format) throw new ApiError(400, 'invalid_body', 'unknown card format', 'format');
    const range = fieldRange(format);
    if (range.facility) {
      if (body.facilityCode === undefined)
        throw new ApiError(
          400,
          'invalid_body',
          `${body.format} needs a facility code`,
          'facilityCode',
        );
      if (body.facilityCode > range.facility.max)
        throw new ApiError(
          400,
          'invalid_body',
          `facility code must be ${range.facility.min}-${range.facility.max} for ${body.format}`,
          'facilityCode',
        );
    } else if (body.facilityCode !== undefined) {
      throw new ApiError(
        400,
        'invalid_body',
        `${body.format} has no facility code`,
        'facilityCode',
      );
    }
    if (body.cardNumber > range.card.max)
      throw new ApiError(
        400,
        'invalid_body',
        `card number must be ${range.card.min}-${range.card.max} for ${body.format}`,
        'cardNumber',
      );
    if (body.residentId) {
      const [r] = await db
        .select({ id: residents.id, status: residents.status })
        .from(residents)
        .where(and(eq(residents.id, body.residentId), eq(residents.siteId, siteId)));
      if (!r) throw new ApiError(404, 'not_found', 'resident not found', 'residentId');
      if (r.status !== 'active')
        throw new ApiError(409, 'resident_moved_out', 'the resident has moved out', 'residentId');
    } else {
      const [s] = await db
        .select({ id: staffUsers.id })
        .from(staffUsers)
        .where(and(eq(staffUsers.id, body.staffId!), eq(staffUsers.siteId, siteId)));
      if (!s) throw new ApiError(404, 'not_found', 'staff member not found', 'staffId');
    }
    const id = newId(clock.now());
    const principal = c.get('principal');
    try {
      await db.insert(credentials).values({
        id,
        siteId,
        residentId: body.residentId ?? null,
        staffId: body.staffId ?? null,
        kind: 'card',
        format: body.format,
        facilityCode: body.facilityCode ?? null,
        cardNumber: body.cardNumber,
        createdAt: new Date(clock.now()),
        createdBy: principal.kind === 'staff' ? principal.staffId : `token:${principal.tokenId}`,
      });
    } catch (err) {
      if (isUniqueViolation(err))
        throw new ApiError(409, 'duplicate_card', 'this card is already enrolled', 'cardNumber');
      throw err;
    }
    await deps.onChange();
    c.set('audit', {
      action: 'credential.create',
      targetType: 'credential',
      targetId: id,
      details: { format: body.format, holder: body.residentId ?? body.staffId },
    });
    return c.json({ id }, 201);
  });

  app.delete('/credentials/:id', requirePermission('credentials:write'), async (c) => {
    const id = c.req.param('id');
    const principal = c.get('principal');
    const updated = await db
      .update(credentials)
      .set({
        status: 'revoked',
        revokedAt: new Date(clock.now()),
        revokedBy: principal.kind === 'staff' ? principal.staffId : `token:${principal.tokenId}`,
      })
      .where(and(eq(credentials.id, id), eq(credentials.siteId, siteId)))
      .returning({ id: credentials.id });
    if (updated.length === 0) throw notFound('credential');
    await deps.onChange();
    c.set('audit', { action: 'credential.revoke', targetType: 'credential', targetId: id });
    return c.json({ id, status: 'revoked' });
  });

  return app;
}
