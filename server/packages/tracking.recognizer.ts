/**
 * Tracking numbers as the package room meets them: typed by staff from a label or read by a
 * barcode scanner at check-in. The carrier's own check digit catches a misread or mistyped
 * character at the counter, before the parcel is shelved under a number nobody can trace.
 *
 * Three outcomes, so the API can treat them differently:
 * - `valid: true`  — a known format whose check digit agrees.
 * - `valid: false` — a known format whose check digit disagrees (or has the wrong length for a
 *   format with a fixed length), or input that cannot be a tracking number at all: refuse it
 *   with `reason` and let staff re-read the label.
 * - `valid: null`  — accepted but marked: either the format carries no check digit we can trust
 *   (Amazon TBA, legacy 20-digit USPS), or the format is not one we know (regional couriers).
 *   A real parcel is never refused just because its carrier is missing from this table.
 *
 * `normalized` is the number the carrier tracks, so a scanned barcode and the same label typed
 * by hand give the same value (the room holds a tracking number only once): USPS routing
 * prefixes (`420` + ZIP) are removed, and a FedEx Ground `96` barcode becomes its 15 digits.
 *
 * Formats and check digits (verified against UPS's own sample 1Z999AA10123456784, USPS
 * Publication 199's worked example 9212 3912 3456 7812 3456 70, and carriers' published numbers):
 * - UPS `1Z` + 6 shipper + 2 service + 7 package + 1 check digit (18 characters). Letters count
 *   as digits the way UPS counts them, (char code − 63) mod 10: A=2 … H=9, I=0, J=1, … Z=7.
 *   Sum the 15 characters after `1Z`, the 2nd, 4th, … doubled; check = (10 − sum mod 10) mod 10.
 * - USPS IMpb, 22 or 26 digits starting 91-95; mod 10 with weights 3, 1, 3, … from the right
 *   over the digits before the check digit. A scanner may put `420` + 5-, 9- or 11-digit ZIP in
 *   front (the routing part of the same barcode); it is removed before checking.
 * - USPS legacy 20-digit numbers: recognised, not checked. Publication 109 forms compute the check
 *   digit over the 20 digits alone, Publication 91 labels over an implied `91` in front, and real
 *   numbers of both kinds are in circulation; accepting either would let about one typo in nine
 *   through while still refusing some real numbers, so these are marked instead.
 * - FedEx Express, 12 digits: weights 1, 3, 7 repeating from the right over the first 11 digits;
 *   check = sum mod 11 mod 10.
 * - FedEx Ground, 15 digits, and the Ground `96` barcode (22 digits: 96 + 2 + 3 service digits +
 *   the 15-digit number): mod 10 with weights 3, 1 from the right, the same arithmetic as USPS,
 *   over the first 14 of the 15 digits. The 7 digits in front of a `96` barcode are not covered by
 *   any check digit, so they are dropped from `normalized`.
 * - Amazon Logistics `TBA` + 12 digits: no check digit.
 * - DHL Express, 10 digits: check = the first 9 digits as a number, mod 7.
 *
 * What a check digit cannot see (the tests pin these down): UPS doubles every other character, so
 * a digit changed by 5 there (0↔5, 1↔6…) keeps the sum, and a letter read as the digit it counts
 * as (A and 2, B and 3) goes unseen anywhere; FedEx Express folds remainders 0 and 10 into the
 * same check digit 0; DHL's mod 7 misses a digit changed by 7 (0↔7, 1↔8, 2↔9). USPS and FedEx
 * Ground (weights 3 and 1) catch every single wrong digit.
 *
 * Numbers that several carriers share are named after the carrier that brings them to the door:
 * a 92/93/94-prefixed IMpb number printed by FedEx Ground Economy or UPS SurePost is delivered by
 * USPS and is recognised as USPS.
 */

export type Carrier = 'UPS' | 'USPS' | 'FedEx' | 'Amazon' | 'DHL';

export type TrackingFormat =
  | 'ups-1z'
  | 'usps-impb-22'
  | 'usps-impb-26'
  | 'usps-20'
  | 'fedex-express-12'
  | 'fedex-ground-15'
  | 'fedex-ground-96'
  | 'amazon-tba'
  | 'dhl-express-10';

export interface TrackingRecognition {
  /** Uppercase, without spaces and dashes; for routed barcodes, the carrier's tracking number. */
  normalized: string;
  carrier: Carrier | null;
  format: TrackingFormat | null;
  /** true: check digit agrees · false: refuse (see reason) · null: accepted but not checkable. */
  valid: boolean | null;
  reason?: string;
}

export type TrackingPlausibility =
  { ok: true; normalized: string } | { ok: false; normalized: string; reason: string };

/** Shortest and longest tracking number the room accepts at all (a 34-digit routed IMpb fits). */
export const TRACKING_MIN_LENGTH = 6;
export const TRACKING_MAX_LENGTH = 40;

/**
 * Uppercase and drop what people and scanners put between the characters: spaces and dashes from
 * labels and copy-paste, and control characters a scanner sends with a barcode (GS1 group
 * separators between the routing part and the tracking number, a trailing carriage return).
 */
export function normalizeTracking(raw: string): string {
  // The lint rule catches control characters written by accident; here they are the point.
  // eslint-disable-next-line no-control-regex
  return raw.replace(/[\s\u0000-\u001f\u007f\u2010-\u2015-]/g, '').toUpperCase();
}

/**
 * A cheap guard before anything else: 6-40 letters and digits after normalising. Junk (a URL, a
 * name, a stray keypress) is refused with a reason staff can act on.
 */
export function isPlausibleTracking(raw: unknown): TrackingPlausibility {
  if (typeof raw !== 'string') return { ok: false, normalized: '', reason: 'not text' };
  const normalized = normalizeTracking(raw);
  if (normalized.length === 0) return { ok: false, normalized, reason: 'empty' };
  const stray = /[^A-Z0-9]/u.exec(normalized);
  if (stray)
    return {
      ok: false,
      normalized,
      reason: `contains '${stray[0]}': a tracking number has only letters and digits`,
    };
  if (normalized.length < TRACKING_MIN_LENGTH)
    return {
      ok: false,
      normalized,
      reason: `too short (${normalized.length} characters, at least ${TRACKING_MIN_LENGTH})`,
    };
  if (normalized.length > TRACKING_MAX_LENGTH)
    return {
      ok: false,
      normalized,
      reason: `too long (${normalized.length} characters, at most ${TRACKING_MAX_LENGTH})`,
    };
  return { ok: true, normalized };
}

export function recognizeTracking(raw: string): TrackingRecognition {
  const plausible = isPlausibleTracking(raw);
  if (!plausible.ok)
    return {
      normalized: plausible.normalized,
      carrier: null,
      format: null,
      valid: false,
      reason: `not a tracking number: ${plausible.reason}`,
    };
  const n = plausible.normalized;
  if (n.startsWith('1Z')) return recognizeUps(n);
  if (/^TBA[0-9]{12}$/.test(n))
    return {
      normalized: n,
      carrier: 'Amazon',
      format: 'amazon-tba',
      valid: null,
      reason: 'Amazon TBA numbers carry no check digit',
    };
  if (/^[0-9]+$/.test(n)) return recognizeDigits(n);
  return unknown(n);
}

// --- check digits -------------------------------------------------------------------------

/** UPS counts a letter as (char code − 63) mod 10: A=2, B=3 … H=9, I=0, J=1 … Z=7. */
function upsValue(ch: string): number {
  const code = ch.charCodeAt(0);
  return code <= 57 ? code - 48 : (code - 63) % 10;
}

/** Check digit of the 15 characters between `1Z` and the check digit. */
export function upsCheckDigit(body: string): number {
  let sum = 0;
  for (let i = 0; i < body.length; i++) sum += upsValue(body.charAt(i)) * (i % 2 === 1 ? 2 : 1);
  return (10 - (sum % 10)) % 10;
}

/** USPS IMpb and FedEx Ground: weights 3, 1, 3, … starting next to the check digit. */
export function mod10Weight31CheckDigit(data: string): number {
  let sum = 0;
  for (let i = data.length - 1, weight = 3; i >= 0; i--, weight = 4 - weight)
    sum += (data.charCodeAt(i) - 48) * weight;
  return (10 - (sum % 10)) % 10;
}

const FEDEX_EXPRESS_WEIGHTS = [1, 3, 7] as const;

/** FedEx Express: weights 1, 3, 7 repeating from the right; sum mod 11, then mod 10. */
export function fedexExpressCheckDigit(data: string): number {
  let sum = 0;
  for (let i = data.length - 1, k = 0; i >= 0; i--, k++)
    sum += (data.charCodeAt(i) - 48) * (FEDEX_EXPRESS_WEIGHTS[k % 3] ?? 0);
  return (sum % 11) % 10;
}

/** DHL Express: the serial as a number, mod 7 (9 digits fit a double exactly). */
export function dhlExpressCheckDigit(data: string): number {
  return Number(data) % 7;
}

// --- formats ------------------------------------------------------------------------------

function checked(
  normalized: string,
  carrier: Carrier,
  format: TrackingFormat,
  expected: number,
  actual: string,
): TrackingRecognition {
  if (String(expected) === actual) return { normalized, carrier, format, valid: true };
  return {
    normalized,
    carrier,
    format,
    valid: false,
    reason: `${carrier} check digit is ${actual} but the other characters give ${expected}: a character was misread or mistyped`,
  };
}

function unknown(normalized: string): TrackingRecognition {
  return {
    normalized,
    carrier: null,
    format: null,
    valid: null,
    reason: 'format not recognised: accepted without a check digit',
  };
}

function recognizeUps(n: string): TrackingRecognition {
  // Every 1Z number is 18 characters, so a different length is a dropped or doubled character.
  if (n.length !== 18)
    return {
      normalized: n,
      carrier: 'UPS',
      format: 'ups-1z',
      valid: false,
      reason: `UPS 1Z numbers have 18 characters; this one has ${n.length}`,
    };
  const check = n.charAt(17);
  if (!/[0-9]/.test(check))
    return {
      normalized: n,
      carrier: 'UPS',
      format: 'ups-1z',
      valid: false,
      reason: `UPS check digit is a digit, not '${check}'`,
    };
  return checked(n, 'UPS', 'ups-1z', upsCheckDigit(n.slice(2, 17)), check);
}

const lastDigit = (n: string) => n.charAt(n.length - 1);
const withoutLast = (n: string) => n.slice(0, -1);

function recognizeImpb(pic: string): TrackingRecognition {
  const format = pic.length === 26 ? 'usps-impb-26' : 'usps-impb-22';
  return checked(pic, 'USPS', format, mod10Weight31CheckDigit(withoutLast(pic)), lastDigit(pic));
}

const isImpb = (digits: string) => /^9[1-5]/.test(digits) && [22, 26].includes(digits.length);

/** Routing part of an IMpb barcode: `420` + 5-digit ZIP, ZIP+4, or ZIP+4+delivery point. */
const ROUTING_LENGTHS = [3 + 5, 3 + 9, 3 + 11] as const;

/**
 * A scanned IMpb label reads `420` + ZIP + the tracking number. The ZIP's length is not marked,
 * and some lengths fit two ways (34 digits: ZIP + 26 or ZIP+4 + 22), so each split is tried: one
 * whose check digit agrees wins, else an IMpb split is reported with its failing check.
 */
function recognizeRouted(n: string): TrackingRecognition | null {
  let fallback: TrackingRecognition | null = null;
  for (const cut of ROUTING_LENGTHS) {
    const rest = n.slice(cut);
    let candidate: TrackingRecognition;
    if (isImpb(rest)) candidate = recognizeImpb(rest);
    else if (rest.length === 20) candidate = legacyUsps(rest);
    else continue;
    if (candidate.valid === true) return candidate;
    if (fallback === null || (fallback.format === 'usps-20' && candidate.format !== 'usps-20'))
      fallback = candidate;
  }
  return fallback;
}

function legacyUsps(n: string): TrackingRecognition {
  return {
    normalized: n,
    carrier: 'USPS',
    format: 'usps-20',
    valid: null,
    reason: 'legacy 20-digit USPS number: its check digit convention varies, so it is not checked',
  };
}

function recognizeDigits(n: string): TrackingRecognition {
  if (n.startsWith('420') && n.length >= 28) {
    const routed = recognizeRouted(n);
    if (routed) return routed;
  }
  switch (n.length) {
    case 10:
      return checked(
        n,
        'DHL',
        'dhl-express-10',
        dhlExpressCheckDigit(withoutLast(n)),
        lastDigit(n),
      );
    case 12:
      return checked(
        n,
        'FedEx',
        'fedex-express-12',
        fedexExpressCheckDigit(withoutLast(n)),
        lastDigit(n),
      );
    case 15:
      return checked(
        n,
        'FedEx',
        'fedex-ground-15',
        mod10Weight31CheckDigit(withoutLast(n)),
        lastDigit(n),
      );
    case 20:
      return legacyUsps(n);
    case 22:
      if (n.startsWith('96')) {
        const ground = n.slice(7);
        return checked(
          ground,
          'FedEx',
          'fedex-ground-96',
          mod10Weight31CheckDigit(withoutLast(ground)),
          lastDigit(ground),
        );
      }
      return isImpb(n) ? recognizeImpb(n) : unknown(n);
    case 26:
      return isImpb(n) ? recognizeImpb(n) : unknown(n);
    default:
      return unknown(n);
  }
}

// --- carrier names ------------------------------------------------------------------------

/** Names staff and carriers' own systems write, squeezed to lowercase letters and digits. */
const CARRIER_NAMES: Readonly<Record<Carrier, readonly string[]>> = {
  UPS: ['ups', 'unitedparcelservice', 'upsground', 'upsexpress'],
  USPS: [
    'usps',
    'uspostalservice',
    'unitedstatespostalservice',
    'postalservice',
    'uspostoffice',
    'usmail',
  ],
  FedEx: ['fedex', 'federalexpress', 'fedexground', 'fedexexpress', 'fedexhomedelivery'],
  Amazon: ['amazon', 'amzl', 'amazonlogistics', 'amazonshipping'],
  DHL: ['dhl', 'dhlexpress'],
};

const CARRIER_BY_NAME: ReadonlyMap<string, Carrier> = new Map(
  (Object.entries(CARRIER_NAMES) as [Carrier, readonly string[]][]).flatMap(([carrier, names]) =>
    names.map((name) => [name, carrier] as const),
  ),
);

/** The carrier a free-text name means ("Fed-Ex", "U.S.P.S.", "Amazon Logistics"), or null. */
export function canonicalCarrier(given: string): Carrier | null {
  return CARRIER_BY_NAME.get(given.toLowerCase().replace(/[^a-z0-9]/g, '')) ?? null;
}

/**
 * Whether the carrier staff or the courier named agrees with the carrier the number belongs to.
 * Nothing recognised means nothing to contradict (true); a name we do not know cannot be shown
 * to agree with a recognised carrier (false), so the mismatch is surfaced rather than hidden.
 */
export function carrierMatches(given: string, recognized: Carrier | null): boolean {
  if (recognized === null) return true;
  return canonicalCarrier(given) === recognized;
}
