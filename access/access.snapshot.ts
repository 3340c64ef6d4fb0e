import type { PickupCodeEntry } from './pickup.codes.ts';

/**
 * What the door needs to decide, held in memory: enrolled cards and live carrier codes. The
 * server loads it from the database and swaps it in whole; a slow or absent database never
 * delays a decision, the door keeps the last snapshot it had.
 */
export interface CardEntry {
  credentialId: string;
  format: string;
  facility: number | null;
  card: number;
  residentId?: string;
  staffId?: string;
  /** Resident still living here / staff account enabled. */
  holderActive: boolean;
  /** Kept in the snapshot so a revoked card is refused as 'revoked', not as unknown. */
  revoked: boolean;
}

export interface CarrierCodeEntry {
  id: string;
  carrier: string;
  /** hex HMAC-SHA256 of the code under the site secret. */
  codeHash: string;
  validFrom: number;
  validUntil: number;
  maxUses: number | null;
  /** Grants so far, as the database counted them when the snapshot was loaded. */
  uses: number;
  /** Empty: every door. */
  doorIds: readonly string[];
  revoked: boolean;
}

export interface AccessSnapshot {
  cards: readonly CardEntry[];
  carrierCodes: readonly CarrierCodeEntry[];
  /** Residents' one-time pickup codes (see pickup.codes.ts); absent: none. */
  pickupCodes?: readonly PickupCodeEntry[];
  /** When the snapshot was read, epoch ms. */
  loadedAt: number;
}

export const EMPTY_SNAPSHOT: AccessSnapshot = { cards: [], carrierCodes: [], loadedAt: 0 };

export function cardKey(format: string, facility: number | null | undefined, card: number): string {
  return `${format}:${facility ?? '-'}:${card}`;
}
