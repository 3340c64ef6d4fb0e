// Residents' pickup codes and vacation holds: the kiosk's "Pickup code" entry and QR scan, the
// "get a new code" request, and the Residents page's holds and re-sent codes.
import { ApiError, request, type Fetch } from './api';
import type { ResidentSession } from './kiosk';

export { ApiError };

/** A pickup code is 6 digits, typed on the door keypad (then #) or at the kiosk. */
export const PICKUP_CODE_DIGITS = 6;

/**
 * The QR token in what the kiosk's scanner typed: the bare token or the kiosk URL
 * `…/kiosk?pickup=<token>` the e-mail's QR code carries; null for anything else (a parcel label).
 */
export function pickupTokenFrom(scanned: string): string | null {
  const text = scanned.trim();
  const fromUrl = /[?&]pickup=([A-Za-z0-9_-]{22,64})(?:[&#]|$)/.exec(text);
  if (fromUrl) return fromUrl[1] ?? null;
  return /^[A-Za-z0-9_-]{22,64}$/.test(text) ? text : null;
}

/** Whether a scan is a pickup QR code rather than a parcel label. */
export const isPickupScan = (scanned: string): boolean =>
  /[?&]pickup=/.test(scanned) || pickupTokenFrom(scanned) !== null;

export type PickupSession = ResidentSession & { doorOpened: true };

/** The door opens and the resident's screen starts: by the 6 digits or by the QR scan. */
export function openWithPickupCode(
  doorId: string,
  input: { code: string } | { scan: string },
): Promise<PickupSession> {
  return request<PickupSession>('/api/kiosk/session/pickup', {
    method: 'POST',
    body: { doorId, ...input },
    redirectOn401: false,
  });
}

/** "Get a new code": unit + the e-mail on file. The answer is the same whatever was found. */
export async function requestFreshCode(unit: string, email: string): Promise<string> {
  const res = await request<{ ok: true; message: string }>('/api/pickup/requests', {
    method: 'POST',
    body: { unit, email },
    redirectOn401: false,
  });
  return res.message;
}

/** What the resident reads on the kiosk when a pickup code or QR is refused. */
export function pickupRefusal(error: unknown): string {
  if (!(error instanceof ApiError)) return 'Something went wrong. Please try again.';
  switch (error.code) {
    case 'unknown_credential':
      return 'That code is not valid. Check the e-mail with your code.';
    case 'pickup_code_used':
      return 'This code was already used. Ask for a new code below.';
    case 'pickup_code_expired':
      return 'This code has expired. Ask for a new code below.';
    case 'pickup_code_revoked':
      return 'This code no longer works: a newer code was sent to you, or your parcels were already collected.';
    case 'keypad_locked':
      return 'Too many wrong codes. Please try again later or ask the desk.';
    case 'too_many_requests':
      return 'Too many requests for a new code. Please try again later or ask the desk.';
    case 'outside_schedule':
      return 'The package room is closed at this hour.';
    case 'door_fault':
      return 'The door cannot open right now. Please ask the desk.';
    case 'network':
      return 'The kiosk cannot reach the server. Please try again in a moment.';
    default:
      return error.message.trim() !== '' ? error.message : 'That did not work. Please try again.';
  }
}

// --- staff: vacation holds and re-sent codes ----------------------------------------------------

import type { HoldView as VacationHold } from '../../../server/pickup/pickup.api';

export type { VacationHold };

export async function listHolds(residentId: string, fetchFn?: Fetch): Promise<VacationHold[]> {
  const res = await request<{ items: VacationHold[] }>(
    `/api/residents/${encodeURIComponent(residentId)}/holds`,
    { fetch: fetchFn },
  );
  return res.items;
}

/** Dates as the date inputs give them (YYYY-MM-DD): from the start of one day to another. */
export function addHold(
  residentId: string,
  hold: { startsAt: string; endsAt: string; note?: string },
): Promise<VacationHold> {
  return request<VacationHold>(`/api/residents/${encodeURIComponent(residentId)}/holds`, {
    method: 'POST',
    body: hold,
  });
}

export function cancelHold(holdId: string): Promise<VacationHold> {
  return request<VacationHold>(`/api/holds/${encodeURIComponent(holdId)}`, { method: 'DELETE' });
}

/** The hold's state in words for the list. */
export function holdState(
  h: VacationHold,
  now = Date.now(),
): 'cancelled' | 'ended' | 'active' | 'upcoming' {
  if (h.cancelledAt) return 'cancelled';
  if (Date.parse(h.endsAt) <= now) return 'ended';
  return Date.parse(h.startsAt) <= now ? 'active' : 'upcoming';
}

export interface ResentCode {
  pickupCodeId: string;
  sentTo: string;
  validUntil: string;
  packageIds: string[];
  supersedes: boolean;
}

export function resendPickupCode(residentId: string): Promise<ResentCode> {
  return request<ResentCode>(`/api/residents/${encodeURIComponent(residentId)}/pickup-code`, {
    method: 'POST',
  });
}
