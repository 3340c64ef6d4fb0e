import { and, eq, gt, isNotNull, sql } from 'drizzle-orm';
import type { AccessSnapshot } from '../../access/index.ts';
import {
  accessEvents,
  carrierCodes,
  credentials,
  residents,
  staffUsers,
  type Db,
} from '../../db/index.ts';

/**
 * Reads what the doors decide from. Carrier code uses are counted from the granted access events
 * themselves, so the count is exactly what the append-only log says and a replayed event cannot
 * count twice.
 */
export async function loadAccessSnapshot(
  db: Db,
  siteId: string,
  nowMs: number,
): Promise<AccessSnapshot> {
  const cardRows = await db
    .select({
      id: credentials.id,
      format: credentials.format,
      facility: credentials.facilityCode,
      card: credentials.cardNumber,
      status: credentials.status,
      residentId: credentials.residentId,
      staffId: credentials.staffId,
      residentStatus: residents.status,
      staffDisabledAt: staffUsers.disabledAt,
    })
    .from(credentials)
    .leftJoin(residents, eq(residents.id, credentials.residentId))
    .leftJoin(staffUsers, eq(staffUsers.id, credentials.staffId))
    .where(eq(credentials.siteId, siteId));

  // Codes that ended more than a day ago cannot open anything; keep the snapshot small.
  const codeRows = await db
    .select()
    .from(carrierCodes)
    .where(
      and(
        eq(carrierCodes.siteId, siteId),
        gt(carrierCodes.validUntil, new Date(nowMs - 86_400_000)),
      ),
    );

  const useRows = await db
    .select({ id: accessEvents.carrierCodeId, uses: sql<number>`count(*)::int` })
    .from(accessEvents)
    .where(
      and(
        eq(accessEvents.siteId, siteId),
        eq(accessEvents.type, 'access'),
        eq(accessEvents.decision, 'granted'),
        isNotNull(accessEvents.carrierCodeId),
      ),
    )
    .groupBy(accessEvents.carrierCodeId);
  const uses = new Map(useRows.map((r) => [r.id, Number(r.uses)]));

  return {
    loadedAt: nowMs,
    cards: cardRows.map((r) => ({
      credentialId: r.id,
      format: r.format,
      facility: r.facility,
      card: r.card,
      ...(r.residentId ? { residentId: r.residentId } : {}),
      ...(r.staffId ? { staffId: r.staffId } : {}),
      holderActive: r.residentId ? r.residentStatus === 'active' : r.staffDisabledAt === null,
      revoked: r.status === 'revoked',
    })),
    carrierCodes: codeRows.map((c) => ({
      id: c.id,
      carrier: c.carrier,
      codeHash: c.codeHash,
      validFrom: c.validFrom.getTime(),
      validUntil: c.validUntil.getTime(),
      maxUses: c.maxUses,
      uses: uses.get(c.id) ?? 0,
      doorIds: c.doorIds,
      revoked: c.revokedAt !== null,
    })),
  };
}
