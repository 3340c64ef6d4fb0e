/**
 * Residents' one-time pickup codes, as the door sees them. With each check-in notice a resident
 * gets a 6-digit code (typed on the door keypad, then `#`) and a QR code carrying a long random
 * token (shown to the kiosk's scanner). Either opens the door once while their parcels wait.
 *
 * One keypad, two kinds of code: a typed PIN is hashed once and compared, in constant time and
 * without stopping early, against every live carrier code *and* every pickup code, whatever its
 * length. New pickup codes are drawn so that they never equal a live carrier code or another live
 * pickup code; should a carrier code created later share the digits, the carrier code wins (the
 * carrier's visit is the one the building planned). A wrong PIN counts toward the keypad lockout
 * once, whichever kind the typist meant.
 */
import type { DenyReason } from './access.events.ts';

export const PICKUP_CODE_LENGTH = 6;

export interface PickupCodeEntry {
  id: string;
  residentId: string;
  /** hex HMAC-SHA256 of the 6-digit code under the site secret. */
  codeHash: string;
  /** hex HMAC-SHA256 of the QR token under the site secret. */
  qrTokenHash: string;
  validFrom: number;
  validUntil: number;
  /** When the database last saw it used (epoch ms), or null. */
  usedAt: number | null;
  /** Superseded, resident moved out, or none of its parcels wait any more. */
  revoked: boolean;
}

/** Why a pickup code cannot open the door now, or null when it can. */
export function pickupCodeRefusal(
  entry: PickupCodeEntry,
  now: number,
  usedHere: boolean,
): Extract<DenyReason, `pickup_code_${string}`> | null {
  // Used first: a used code whose parcels were then collected is "used", which is what the
  // resident did, not "revoked".
  if (usedHere || entry.usedAt !== null) return 'pickup_code_used';
  if (entry.revoked) return 'pickup_code_revoked';
  if (now < entry.validFrom || now >= entry.validUntil) return 'pickup_code_expired';
  return null;
}

/**
 * The QR token in what a kiosk scanner typed: the bare token, or the kiosk URL
 * `…/kiosk?pickup=<token>` the e-mail's QR code carries. Null when it is neither.
 */
export function pickupTokenFrom(scanned: string): string | null {
  const text = scanned.trim();
  const fromUrl = /[?&]pickup=([A-Za-z0-9_-]{22,64})(?:[&#]|$)/.exec(text);
  if (fromUrl) return fromUrl[1]!;
  return /^[A-Za-z0-9_-]{22,64}$/.test(text) ? text : null;
}
