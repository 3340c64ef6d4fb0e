import { and, eq, gt, inArray, sql } from 'drizzle-orm';
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

  // Only codes with a use limit need their count, read through the carrier-code index.
  const limited = codeRows.filter((c) => c.maxUses !== null).map((c) => c.id);
  const useRows = limited.length
    ? await db
        .select({ id: accessEvents.carrierCodeId, uses: sql<number>`count(*)::int` })
        .from(accessEvents)
        .where(
          and(
            inArray(accessEvents.carrierCodeId, limited),
            eq(accessEvents.type, 'access'),
            eq(accessEvents.decision, 'granted'),
          ),
        )
        .groupBy(accessEvents.carrierCodeId)
    : [];
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

/**
 * A cheap summary of everything the snapshot is made of. The periodic refresh compares it and
 * reloads only when it changed: a full reload of 10,000 cards blocks the event loop for tens of
 * milliseconds (over 100 ms on PGlite), which a badge arriving meanwhile would wait for.
 */
export async function loadAccessFingerprint(db: Db, siteId: string): Promise<string> {
  const res = await db.execute(sql`
    select
      (select count(*) || '/' || coalesce(max(created_at)::text, '') || '/' ||
              coalesce(max(revoked_at)::text, '') from credentials where site_id = ${siteId}) as cards,
      (select count(*) || '/' || coalesce(max(created_at)::text, '') || '/' ||
              coalesce(max(revoked_at)::text, '') from carrier_codes where site_id = ${siteId}) as codes,
      (select coalesce(max(updated_at)::text, '') from residents where site_id = ${siteId}) as residents,
      (select coalesce(max(updated_at)::text, '') from staff_users where site_id = ${siteId}) as staff
  `);
  const rows = Array.isArray(res) ? res : (res as unknown as { rows: unknown[] }).rows;
  return JSON.stringify(rows[0] ?? null);
}
