import { and, desc, eq, isNull } from 'drizzle-orm';
import { Hono } from 'hono';
import { z } from 'zod';
import { accessEvents, carrierCodes, newId, type Db } from '../../db/index.ts';
import type { Clock } from '../../hardware/clock.ts';
import { generateCode } from '../access/site.secret.ts';
import { requirePermission } from '../http/auth.middleware.ts';
import type { AppEnv } from '../http/context.ts';
import { ApiError, notFound, readBody, readQuery } from '../http/errors.ts';
import { sql } from 'drizzle-orm';

const isoTime = z.iso.datetime({ offset: true });

const createBody = z
  .strictObject({
    carrier: z.string().trim().min(1).max(80),
    validUntil: isoTime,
    validFrom: isoTime.optional(),
    maxUses: z.int().min(1).max(10_000).optional(),
    doorIds: z.array(z.string().min(1).max(64)).max(64).optional(),
  })
  .refine((b) => !b.validFrom || Date.parse(b.validFrom) < Date.parse(b.validUntil), {
    message: 'validUntil must be after validFrom',
    path: ['validUntil'],
  });

const listQuery = z.strictObject({
  state: z.enum(['active', 'scheduled', 'expired', 'used_up', 'revoked', 'all']).default('all'),
});

export type CarrierCodeState = 'active' | 'scheduled' | 'expired' | 'used_up' | 'revoked';

export function carrierCodeRoutes(deps: {
  db: Db;
  siteId: string;
  clock: Clock;
  doorIds: readonly string[];
  codeLength: number;
  hashCode: (code: string) => string;
  /** Re-read the doors' snapshot so a new or revoked code applies at once. */
  onChange: () => Promise<unknown>;
}) {
  const { db, siteId, clock } = deps;
  const app = new Hono<AppEnv>();

  app.post('/carrier-codes', requirePermission('carrier_codes:write'), async (c) => {
    const body = await readBody(c, createBody);
    const now = clock.now();
    const validUntil = new Date(body.validUntil);
    if (validUntil.getTime() <= now)
      throw new ApiError(400, 'invalid_body', 'validUntil is in the past', 'validUntil');
    const unknownDoor = (body.doorIds ?? []).find((d) => !deps.doorIds.includes(d));
    if (unknownDoor !== undefined)
      throw new ApiError(400, 'invalid_body', `no door with id '${unknownDoor}'`, 'doorIds');
    // A new code must not equal a live one: the keypad could not tell them apart.
    const live = await db
      .select({ hash: carrierCodes.codeHash })
      .from(carrierCodes)
      .where(and(eq(carrierCodes.siteId, siteId), isNull(carrierCodes.revokedAt)));
    const taken = new Set(live.map((r) => r.hash));
    let code = generateCode(deps.codeLength);
    for (let i = 0; taken.has(deps.hashCode(code)); i++) {
      if (i > 100) throw new ApiError(409, 'codes_exhausted', 'could not find a free code');
      code = generateCode(deps.codeLength);
    }
    const id = newId(now);
    const principal = c.get('principal');
    await db.insert(carrierCodes).values({
      id,
      siteId,
      carrier: body.carrier,
      codeHash: deps.hashCode(code),
      validFrom: body.validFrom ? new Date(body.validFrom) : new Date(now),
      validUntil,
      maxUses: body.maxUses ?? null,
      doorIds: body.doorIds ?? [],
      createdBy: principal.kind === 'staff' ? principal.staffId : `token:${principal.tokenId}`,
      createdAt: new Date(now),
    });
    await deps.onChange();
    c.set('audit', {
      action: 'carrier_code.create',
      targetType: 'carrier_code',
      targetId: id,
      details: {
        carrier: body.carrier,
        validUntil: body.validUntil,
        maxUses: body.maxUses ?? null,
      },
    });
    // The code is shown this once; only its keyed hash is kept.
    return c.json({ id, code }, 201);
  });

  app.get('/carrier-codes', requirePermission('carrier_codes:read'), async (c) => {
    const q = readQuery(c, listQuery);
    const uses = db
      .select({
        id: accessEvents.carrierCodeId,
        n: sql<number>`count(*)::int`.as('n'),
        last: sql<Date | null>`max(${accessEvents.at})`.as('last'),
      })
      .from(accessEvents)
      .where(
        and(
          eq(accessEvents.siteId, siteId),
          eq(accessEvents.type, 'access'),
          eq(accessEvents.decision, 'granted'),
        ),
      )
      .groupBy(accessEvents.carrierCodeId)
      .as('uses');
    const rows = await db
      .select({ code: carrierCodes, uses: uses.n, lastUsedAt: uses.last })
      .from(carrierCodes)
      .leftJoin(uses, eq(uses.id, carrierCodes.id))
      .where(eq(carrierCodes.siteId, siteId))
      .orderBy(desc(carrierCodes.createdAt))
      .limit(1000);
    const now = clock.now();
    const items = rows.map(({ code, uses: n, lastUsedAt }) => {
      const used = Number(n ?? 0);
      const state: CarrierCodeState = code.revokedAt
        ? 'revoked'
        : code.validUntil.getTime() <= now
          ? 'expired'
          : code.maxUses !== null && used >= code.maxUses
            ? 'used_up'
            : code.validFrom.getTime() > now
              ? 'scheduled'
              : 'active';
      return {
        id: code.id,
        carrier: code.carrier,
        validFrom: code.validFrom.toISOString(),
        validUntil: code.validUntil.toISOString(),
        maxUses: code.maxUses,
        uses: used,
        lastUsedAt: lastUsedAt ? new Date(lastUsedAt).toISOString() : null,
        doorIds: code.doorIds,
        state,
        createdAt: code.createdAt.toISOString(),
        ...(code.revokedAt ? { revokedAt: code.revokedAt.toISOString() } : {}),
      };
    });
    return c.json({ items: q.state === 'all' ? items : items.filter((i) => i.state === q.state) });
  });

  app.delete('/carrier-codes/:id', requirePermission('carrier_codes:write'), async (c) => {
    const id = c.req.param('id');
    const principal = c.get('principal');
    const updated = await db
      .update(carrierCodes)
      .set({
        revokedAt: new Date(clock.now()),
        revokedBy: principal.kind === 'staff' ? principal.staffId : `token:${principal.tokenId}`,
      })
      .where(
        and(
          eq(carrierCodes.id, id),
          eq(carrierCodes.siteId, siteId),
          isNull(carrierCodes.revokedAt),
        ),
      )
      .returning({ id: carrierCodes.id });
    if (updated.length === 0) throw notFound('active carrier code');
    await deps.onChange();
    c.set('audit', { action: 'carrier_code.revoke', targetType: 'carrier_code', targetId: id });
    return c.json({ id, state: 'revoked' });
  });

  return app;
}
