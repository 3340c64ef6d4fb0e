import { randomBytes } from 'node:crypto';
import { and, eq, gt, isNull } from 'drizzle-orm';
import { PICKUP_CODE_LENGTH, type AccessEvent } from '../../access/index.ts';
import { carrierCodes, newId, packages, pickupCodes, residents, type Db } from '../../db/index.ts';
import type { Clock } from '../../hardware/clock.ts';
import { generateCode } from '../access/site.secret.ts';
import type { PickupNoticePart } from '../notify/notify.types.ts';
import { waitingForResident } from '../packages/waiting.parcels.ts';
import { qrPng } from './qr.image.ts';

const DAY_MS = 86_400_000;

export type PickupRevokeReason = 'superseded' | 'moved_out' | 'parcels_gone' | (string & {});

export interface IssuedPickupCode {
  id: string;
  residentId: string;
  /** The 6 digits; shown once (e-mail, link page), stored only as a keyed hash. */
  code: string;
  /** The QR token (144 random bits, base64url); stored only as a keyed hash. */
  token: string;
  /** What the QR code encodes: the kiosk URL with the token, or the bare token. */
  qrText: string;
  validFrom: number;
  validUntil: number;
  packageIds: string[];
  /** An earlier unused code was revoked by this one. */
  supersedes: boolean;
}

export interface PickupCodeService {
  /**
   * A fresh code covering every parcel now waiting for the resident (theirs and their unit's),
   * valid until the latest of those parcels reaches the return-to-sender line. Revokes their
   * earlier unused codes (`superseded`). Null when nothing waits (no code to give). Resolves once
   * the doors know the new code.
   */
  issue(residentId: string, origin: 'checked_in' | 'requested'): Promise<IssuedPickupCode | null>;
  /** The code's part of a notice e-mail: the digits and the QR image. */
  noticePart(issued: IssuedPickupCode): Promise<PickupNoticePart>;
  /** Every journalled event goes here; a pickup-code grant is stored as the code's use. */
  onAccessEvent(event: AccessEvent): Promise<void>;
}

/**
 * Revokes every code of a resident that could still open the door (unused, not yet revoked).
 * For move-outs and the like; the caller refreshes the door snapshot afterwards (the doors also
 * refuse a moved-out resident's codes on their own from the next snapshot). Returns how many.
 */
export async function revokePickupCodesForResident(
  db: Db,
  residentId: string,
  reason: PickupRevokeReason,
  at: number,
): Promise<number> {
  const rows = await db
    .update(pickupCodes)
    .set({ revokedAt: new Date(at), revokedReason: reason })
    .where(
      and(
        eq(pickupCodes.residentId, residentId),
        isNull(pickupCodes.usedAt),
        isNull(pickupCodes.revokedAt),
      ),
    )
    .returning({ id: pickupCodes.id });
  return rows.length;
}

export function createPickupCodeService(deps: {
  db: Db;
  siteId: string;
  clock: Clock;
  /** Keyed hash (site secret) of a code or token, hex. */
  hashCode: (code: string) => string;
  returnAfterDays: number;
  /** Where residents reach the box (`notifications.publicUrl`); the QR then carries a URL. */
  publicUrl?: string | undefined;
  /** The doors must re-read their snapshot; resolves when the new one is in place. */
  onChange: () => Promise<unknown>;
}): PickupCodeService {
  const { db, siteId, clock } = deps;
  // One issue at a time per resident: two at once would each supersede the other.
  const turns = new Map<string, Promise<unknown>>();

  const liveHashes = async (now: Date): Promise<Set<string>> => {
    const carrier = await db
      .select({ h: carrierCodes.codeHash })
      .from(carrierCodes)
      .where(
        and(
          eq(carrierCodes.siteId, siteId),
          isNull(carrierCodes.revokedAt),
          gt(carrierCodes.validUntil, now),
        ),
      );
    const pickup = await db
      .select({ h: pickupCodes.codeHash })
      .from(pickupCodes)
      .where(
        and(
          eq(pickupCodes.siteId, siteId),
          isNull(pickupCodes.revokedAt),
          isNull(pickupCodes.usedAt),
          gt(pickupCodes.validUntil, now),
        ),
      );
    return new Set([...carrier, ...pickup].map((r) => r.h));
  };

  const issueNow = async (
    residentId: string,
    origin: 'checked_in' | 'requested',
  ): Promise<IssuedPickupCode | null> => {
    const nowMs = clock.now();
    const now = new Date(nowMs);
    const [r] = await db
      .select({ unitId: residents.unitId, status: residents.status })
      .from(residents)
      .where(and(eq(residents.id, residentId), eq(residents.siteId, siteId)));
    if (!r || r.status !== 'active') return null;
    const waiting = await db
      .select({ id: packages.id, checkedInAt: packages.checkedInAt })
      .from(packages)
      .where(waitingForResident(siteId, { id: residentId, unitId: r.unitId }));
    if (waiting.length === 0) return null;
    const validUntil =
      Math.max(...waiting.map((p) => p.checkedInAt.getTime())) + deps.returnAfterDays * DAY_MS;
    if (validUntil <= nowMs) return null;

    // Never a value another live code has: one keypad serves carrier and pickup codes alike.
    const taken = await liveHashes(now);
    let code = generateCode(PICKUP_CODE_LENGTH);
    while (taken.has(deps.hashCode(code))) code = generateCode(PICKUP_CODE_LENGTH);
    // Starting with a letter, a bare token scanned at the kiosk's start screen is never taken
    // for the digits of a delivery code.
    let token = randomBytes(18).toString('base64url');
    while (!/^[A-Za-z]/.test(token)) token = randomBytes(18).toString('base64url');

    const superseded = await revokePickupCodesForResident(db, residentId, 'superseded', nowMs);
    const id = newId(nowMs);
    await db.insert(pickupCodes).values({
      id,
      siteId,
      residentId,
      unitId: r.unitId,
      codeHash: deps.hashCode(code),
      qrTokenHash: deps.hashCode(token),
      packageIds: waiting.map((p) => p.id),
      validFrom: now,
      validUntil: new Date(validUntil),
      origin,
    });
    await deps.onChange();
    return {
      id,
      residentId,
      code,
      token,
      qrText: deps.publicUrl
        ? `${deps.publicUrl.replace(/\/+$/, '')}/kiosk?pickup=${token}`
        : token,
      validFrom: nowMs,
      validUntil,
      packageIds: waiting.map((p) => p.id),
      supersedes: superseded > 0,
    };
  };

  return {
    issue(residentId, origin) {
      const prev = turns.get(residentId) ?? Promise.resolve();
      const next = prev.catch(() => undefined).then(() => issueNow(residentId, origin));
      turns.set(residentId, next);
      void next.finally(() => {
        if (turns.get(residentId) === next) turns.delete(residentId);
      });
      return next;
    },
    async noticePart(issued) {
      return {
        code: issued.code,
        qrPng: await qrPng(issued.qrText),
        validUntil: issued.validUntil,
        supersedes: issued.supersedes,
      };
    },
    async onAccessEvent(e) {
      const id = (e.details as { pickupCodeId?: unknown } | undefined)?.pickupCodeId;
      if (e.type !== 'access' || e.decision !== 'granted' || typeof id !== 'string') return;
      // The first use wins; a replayed event changes nothing.
      await db
        .update(pickupCodes)
        .set({
          usedAt: new Date(e.at),
          usedEventId: e.id,
          usedDoorId: e.doorId ?? null,
        })
        .where(and(eq(pickupCodes.id, id), isNull(pickupCodes.usedAt)));
    },
  };
}
