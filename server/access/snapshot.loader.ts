import { and, eq, gt, gte, inArray, isNull, or, sql } from 'drizzle-orm';
import type { AccessSnapshot } from '../../access/index.ts';
import {
  accessEvents,
  carrierCodes,
  credentials,
  packages,
  pickupCodes,
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
      residentMoveOutAt: residents.moveOutAt,
      residentMoveInAt: residents.moveInAt,
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
  const pickup = await loadPickupCodes(db, siteId, nowMs);

  return {
    loadedAt: nowMs,
    cards: cardRows.map((r) => ({
      credentialId: r.id,
      format: r.format,
      facility: r.facility,
      card: r.card,
      ...(r.residentId ? { residentId: r.residentId } : {}),
      ...(r.staffId ? { staffId: r.staffId } : {}),
      // Past the move-out time a resident is gone even before the move-out job has run; a card
      // enrolled ahead of a move-in (keys handed over early) opens from the move-in time.
      holderActive: r.residentId
        ? r.residentStatus === 'active' &&
          (r.residentMoveOutAt === null || r.residentMoveOutAt.getTime() > nowMs) &&
          (r.residentMoveInAt === null || r.residentMoveInAt.getTime() <= nowMs)
        : r.staffDisabledAt === null,
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
    pickupCodes: pickup,
  };
}

/**
 * Residents' pickup codes that can still matter: live ones, and ones that ended or were used
 * within a day (so they are refused with their reason, not as unknown). A code is revoked here
 * too when its resident moved out or none of its parcels waits any more; a use the journal holds
 * but the code row does not yet (the write after a grant was lost) counts as a use.
 */
async function loadPickupCodes(db: Db, siteId: string, nowMs: number) {
  const dayAgo = new Date(nowMs - 86_400_000);
  const rows = await db
    .select({
      id: pickupCodes.id,
      residentId: pickupCodes.residentId,
      codeHash: pickupCodes.codeHash,
      qrTokenHash: pickupCodes.qrTokenHash,
      packageIds: pickupCodes.packageIds,
      validFrom: pickupCodes.validFrom,
      validUntil: pickupCodes.validUntil,
      usedAt: pickupCodes.usedAt,
      revokedAt: pickupCodes.revokedAt,
      residentStatus: residents.status,
      moveOutAt: residents.moveOutAt,
    })
    .from(pickupCodes)
    .innerJoin(residents, eq(residents.id, pickupCodes.residentId))
    .where(
      and(
        eq(pickupCodes.siteId, siteId),
        gt(pickupCodes.validUntil, dayAgo),
        or(isNull(pickupCodes.usedAt), gt(pickupCodes.usedAt, dayAgo)),
        or(isNull(pickupCodes.revokedAt), gt(pickupCodes.revokedAt, dayAgo)),
      ),
    );
  if (rows.length === 0) return [];
  const parcelIds = [...new Set(rows.flatMap((r) => r.packageIds))];
  const waiting = new Set(
    parcelIds.length
      ? (
          await db
            .select({ id: packages.id })
            .from(packages)
            .where(and(inArray(packages.id, parcelIds), eq(packages.status, 'checked_in')))
        ).map((p) => p.id)
      : [],
  );
  const unused = rows.filter((r) => r.usedAt === null);
  const usedInLog = new Set<string>();
  if (unused.length) {
    const since = new Date(Math.min(...unused.map((r) => r.validFrom.getTime())));
    const grants = await db
      .select({ details: accessEvents.details })
      .from(accessEvents)
      .where(
        and(
          inArray(accessEvents.residentId, [...new Set(unused.map((r) => r.residentId))]),
          eq(accessEvents.type, 'access'),
          eq(accessEvents.decision, 'granted'),
          eq(accessEvents.reason, 'pickup_code'),
          gte(accessEvents.at, since),
        ),
      );
    for (const g of grants) {
      const id = (g.details as { pickupCodeId?: unknown } | null)?.pickupCodeId;
      if (typeof id === 'string') usedInLog.add(id);
    }
  }
  return rows.map((r) => ({
    id: r.id,
    residentId: r.residentId,
    codeHash: r.codeHash,
    qrTokenHash: r.qrTokenHash,
    validFrom: r.validFrom.getTime(),
    validUntil: r.validUntil.getTime(),
    usedAt: r.usedAt?.getTime() ?? (usedInLog.has(r.id) ? nowMs : null),
    revoked:
      r.revokedAt !== null ||
      r.residentStatus !== 'active' ||
      (r.moveOutAt !== null && r.moveOutAt.getTime() <= nowMs) ||
      !r.packageIds.some((id) => waiting.has(id)),
  }));
}

/**
 * A cheap summary of everything the snapshot is made of. The periodic refresh compares it and
 * reloads only when it changed: a full reload of 10,000 cards blocks the event loop for tens of
 * milliseconds (over 100 ms on PGlite), which a badge arriving meanwhile would wait for.
 */
export async function loadAccessFingerprint(
  db: Db,
  siteId: string,
  nowMs?: number,
): Promise<string> {
  // Residents whose move-out or move-in time has passed: the counts change when one passes, no
  // row does.
  const now = nowMs === undefined ? null : new Date(nowMs).toISOString();
  const gone =
    now === null
      ? sql`''`
      : sql`(select count(*) filter (where move_out_at <= ${now}::timestamptz) || '/' ||
                count(*) filter (where move_in_at <= ${now}::timestamptz)
               from residents where site_id = ${siteId} and status = 'active')`;
  const res = await db.execute(sql`
    select
      (select count(*) || '/' || coalesce(max(created_at)::text, '') || '/' ||
              coalesce(max(revoked_at)::text, '') from credentials where site_id = ${siteId}) as cards,
      (select count(*) || '/' || coalesce(max(created_at)::text, '') || '/' ||
              coalesce(max(revoked_at)::text, '') from carrier_codes where site_id = ${siteId}) as codes,
      (select coalesce(max(updated_at)::text, '') from residents where site_id = ${siteId}) as residents,
      (select count(*) || '/' || coalesce(max(created_at)::text, '') || '/' ||
              coalesce(max(used_at)::text, '') || '/' || coalesce(max(revoked_at)::text, '')
         from pickup_codes where site_id = ${siteId}) as pickup_codes,
      -- A pickup code is void once none of its parcels waits.
      (select count(*) || '/' || coalesce(max(checked_in_at)::text, '') from packages
         where site_id = ${siteId} and status = 'checked_in') as waiting,
      (select coalesce(max(updated_at)::text, '') from staff_users where site_id = ${siteId}) as staff,
      ${gone} as gone
  `);
  const rows = Array.isArray(res) ? res : (res as unknown as { rows: unknown[] }).rows;
  return JSON.stringify(rows[0] ?? null);
}
