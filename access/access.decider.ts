import { timingSafeEqual } from 'node:crypto';
import type { Clock } from '../hardware/clock.ts';
import type { DecisionReason } from './access.events.ts';
import { createScheduleCheck, type AccessSchedule } from './access.schedule.ts';
import {
  cardKey,
  EMPTY_SNAPSHOT,
  type AccessSnapshot,
  type CardEntry,
  type CarrierCodeEntry,
} from './access.snapshot.ts';
import { createKeypadGuard, type KeypadGuardOptions } from './keypad.guard.ts';
import { pickupCodeRefusal, type PickupCodeEntry } from './pickup.codes.ts';
import { decodeKeyBurst } from './keypad.decoder.ts';
import { createPinAssembler, type PinAssembler } from './pin.assembler.ts';
import { decodeFrame } from './wiegand.decoder.ts';
import type { FormatRegistry } from './wiegand.formats.ts';

/**
 * Who may open which door, decided in memory from the last snapshot: no I/O on this path, so a
 * badge opens the strike in microseconds whatever the database is doing.
 */
export interface Decision {
  decision: 'granted' | 'denied';
  reason: DecisionReason;
  readerId: string;
  doorId: string;
  via: 'card' | 'pin';
  credentialId?: string;
  residentId?: string;
  staffId?: string;
  carrierCodeId?: string;
  carrier?: string;
  /** The resident's one-time pickup code that was typed or scanned. */
  pickupCodeId?: string;
  /** What was read, for the event's details; never a PIN. */
  format?: string;
  facility?: number;
  card?: number;
  bits?: number;
  detail?: string;
}

export type KeypadOutcome =
  | { kind: 'pending'; length: number }
  | { kind: 'cleared' }
  | { kind: 'rejected'; reason: string }
  | { kind: 'decided'; decision: Decision };

export interface ReaderInfo {
  readerId: string;
  doorId: string;
  keypad: boolean;
  maxPinLength: number;
}

export interface LockoutNotice {
  readerId: string;
  doorId: string;
  lockedUntil: number;
  lockMs: number;
  level: number;
}

export interface AccessDeciderOptions {
  clock: Clock;
  formats: FormatRegistry;
  readers: readonly ReaderInfo[];
  /** Keyed hash of a typed code (HMAC with the site secret), hex. */
  hashCode: (code: string) => string;
  schedule?: AccessSchedule | undefined;
  keypad?: Omit<KeypadGuardOptions, 'clock'>;
  interKeyTimeoutMs?: number;
  onLockout?: (notice: LockoutNotice) => void;
  /**
   * 'always': an active resident's card opens the door. 'with_parcels': only while a parcel waits
   * for them (rooms shared with other storage, or buildings that want fewer visits). Staff cards
   * are never limited by it.
   */
  residentEntry?: 'always' | 'with_parcels';
}

export interface AccessDecider {
  setSnapshot(snapshot: AccessSnapshot): void;
  /**
   * Residents with parcels waiting (addressed to them or to their unit). Only consulted when the
   * site lets residents in just to collect; replaced whole after every check-in and pickup.
   */
  setParcelsWaiting(residentIds: Iterable<string>): void;
  snapshotLoadedAt(): number;
  decideFrame(readerId: string, bits: string): Decision;
  /** One key burst from a keypad; decides when `#` submits a PIN. */
  keyBurst(readerId: string, bits: string): KeypadOutcome;
  /** A whole PIN (keypads that buffer digits, the kiosk). */
  decidePin(readerId: string, pin: string): Decision;
  /**
   * A pickup code typed on the kiosk or its QR token scanned there. Same rules and the same
   * lockout as the keypad, counted per kiosk (`kiosk:<doorId>`); the decision's reader is that.
   */
  decidePickup(doorId: string, input: { code: string } | { token: string }): Decision;
  keypadLockedForMs(readerId: string): number;
  close(): void;
}

/**
 * The code whose stored hash equals `typedHash`. Every entry is compared, in constant time and
 * without stopping at a match, so the time taken says nothing about which (or whether any) code
 * was close. Used at the keypad and at the kiosk.
 */
export function matchCodeHash<T extends { codeHash: string }>(
  entries: readonly T[],
  typedHash: string,
): T | undefined {
  const typed = Buffer.from(typedHash, 'hex');
  let found: T | undefined;
  for (const c of entries) {
    const stored = Buffer.from(c.codeHash, 'hex');
    const same = stored.length === typed.length && timingSafeEqual(stored, typed);
    if (same && !found) found = c;
  }
  return found;
}

export function createAccessDecider(opts: AccessDeciderOptions): AccessDecider {
  const { clock, formats } = opts;
  const readers = new Map(opts.readers.map((r) => [r.readerId, r]));
  const guard = createKeypadGuard({ clock, ...opts.keypad });
  const inSchedule = opts.schedule ? createScheduleCheck(opts.schedule) : () => true;
  const pins = new Map<string, PinAssembler>();
  const residentEntry = opts.residentEntry ?? 'always';
  let parcelsWaiting = new Set<string>();
  let cards = new Map<string, CardEntry>();
  let codes: CarrierCodeEntry[] = [];
  let pickupCodes: PickupCodeEntry[] = [];
  let pickupByQr = new Map<string, PickupCodeEntry>();
  // Pickup codes granted here: refused from now on, even before the database records the use.
  const usedPickups = new Set<string>();
  let loadedAt = 0;
  // Grants counted here since the snapshot was read, so a code with uses left cannot be used
  // again before the database has caught up with the journal.
  const localUses = new Map<string, number>();

  const setSnapshot = (s: AccessSnapshot) => {
    cards = new Map();
    for (const c of s.cards) {
      const key = cardKey(c.format, c.facility, c.card);
      // A number re-enrolled after a revoke: the live enrolment wins.
      if (!cards.get(key) || cards.get(key)!.revoked) cards.set(key, c);
    }
    codes = [...s.carrierCodes];
    for (const c of codes) {
      const local = localUses.get(c.id) ?? 0;
      localUses.set(c.id, Math.max(local, c.uses));
    }
    pickupCodes = [...(s.pickupCodes ?? [])];
    pickupByQr = new Map(pickupCodes.map((p) => [p.qrTokenHash, p]));
    // Once the database has the use, the local mark is no longer needed.
    for (const p of pickupCodes) if (p.usedAt !== null) usedPickups.delete(p.id);
    loadedAt = s.loadedAt;
  };
  setSnapshot(EMPTY_SNAPSHOT);

  const reader = (readerId: string): ReaderInfo => {
    const r = readers.get(readerId);
    if (!r) throw new Error(`unknown reader ${readerId}`);
    return r;
  };

  const decideCard = (r: ReaderInfo, bits: string): Decision => {
    const base = { readerId: r.readerId, doorId: r.doorId, via: 'card' as const };
    const decoded = decodeFrame(bits, formats);
    if (!decoded.ok) {
      return {
        ...base,
        decision: 'denied',
        reason: decoded.reason,
        bits: decoded.bits,
        detail: decoded.detail,
      };
    }
    // A 37-bit frame can be H10302 or H10304: the enrolled card settles it.
    let match: CardEntry | undefined;
    for (const c of decoded.candidates) {
      match = cards.get(cardKey(c.formatId, c.facility ?? null, c.card));
      if (match) break;
    }
    const first = decoded.candidates[0]!;
    const read = {
      bits: decoded.bits,
      format: match?.format ?? first.formatId,
      ...(match
        ? match.facility !== null
          ? { facility: match.facility }
          : {}
        : first.facility !== undefined
          ? { facility: first.facility }
          : {}),
      card: match?.card ?? first.card,
    };
    if (!match) return { ...base, ...read, decision: 'denied', reason: 'unknown_credential' };
    const holder = {
      credentialId: match.credentialId,
      ...(match.residentId ? { residentId: match.residentId } : {}),
      ...(match.staffId ? { staffId: match.staffId } : {}),
    };
    if (match.revoked)
      return { ...base, ...read, ...holder, decision: 'denied', reason: 'revoked' };
    if (!match.holderActive)
      return { ...base, ...read, ...holder, decision: 'denied', reason: 'holder_inactive' };
    if (!match.staffId && !inSchedule(clock.now()))
      return { ...base, ...read, ...holder, decision: 'denied', reason: 'outside_schedule' };
    if (
      residentEntry === 'with_parcels' &&
      match.residentId !== undefined &&
      !parcelsWaiting.has(match.residentId)
    )
      return { ...base, ...read, ...holder, decision: 'denied', reason: 'no_parcels_waiting' };
    return { ...base, ...read, ...holder, decision: 'granted', reason: 'granted' };
  };

  const decideCode = (r: ReaderInfo, pin: string): Decision => {
    const base = { readerId: r.readerId, doorId: r.doorId, via: 'pin' as const };
    if (!r.keypad) return { ...base, decision: 'denied', reason: 'no_keypad' };
    const lockedFor = guard.lockedForMs(r.readerId);
    if (lockedFor > 0) {
      return {
        ...base,
        decision: 'denied',
        reason: 'keypad_locked',
        detail: `locked for ${Math.ceil(lockedFor / 1000)} s`,
      };
    }
    const typed = opts.hashCode(pin);
    const found = matchCodeHash(codes, typed);
    // Always compared too, so the time taken does not say which kind of code matched.
    const pickup = matchCodeHash(pickupCodes, typed);
    const now = clock.now();
    const deny = (reason: DecisionReason, extra: Partial<Decision> = {}): Decision => {
      const lock = guard.recordFailure(r.readerId);
      if (lock) opts.onLockout?.({ readerId: r.readerId, doorId: r.doorId, ...lock });
      return { ...base, ...extra, decision: 'denied', reason };
    };
    if (!found && pickup) return decidePickupEntry(base, r.readerId, pickup, deny);
    if (!found) return deny('unknown_credential');
    const ids = { carrierCodeId: found.id, carrier: found.carrier };
    if (found.revoked) return deny('revoked', ids);
    if (now < found.validFrom || now >= found.validUntil) return deny('outside_window', ids);
    if (found.doorIds.length > 0 && !found.doorIds.includes(r.doorId))
      return deny('wrong_door', ids);
    const used = localUses.get(found.id) ?? found.uses;
    if (found.maxUses !== null && used >= found.maxUses) return deny('uses_exhausted', ids);
    if (!inSchedule(now)) return deny('outside_schedule', ids);
    localUses.set(found.id, used + 1);
    guard.recordSuccess(r.readerId);
    return { ...base, ...ids, decision: 'granted', reason: 'granted' };
  };

  const decidePickupEntry = (
    base: Pick<Decision, 'readerId' | 'doorId' | 'via'>,
    guardKey: string,
    entry: PickupCodeEntry,
    deny: (reason: DecisionReason, extra?: Partial<Decision>) => Decision,
  ): Decision => {
    const now = clock.now();
    const ids = { pickupCodeId: entry.id, residentId: entry.residentId };
    const refusal = pickupCodeRefusal(entry, now, usedPickups.has(entry.id));
    if (refusal) return deny(refusal, ids);
    if (!inSchedule(now)) return deny('outside_schedule', ids);
    usedPickups.add(entry.id);
    guard.recordSuccess(guardKey);
    return { ...base, ...ids, decision: 'granted', reason: 'pickup_code' };
  };

  const decideKioskPickup = (
    doorId: string,
    input: { code: string } | { token: string },
  ): Decision => {
    const guardKey = `kiosk:${doorId}`;
    const base = { readerId: guardKey, doorId, via: 'pin' as const };
    const lockedFor = guard.lockedForMs(guardKey);
    if (lockedFor > 0)
      return {
        ...base,
        decision: 'denied',
        reason: 'keypad_locked',
        detail: `locked for ${Math.ceil(lockedFor / 1000)} s`,
      };
    const deny = (reason: DecisionReason, extra: Partial<Decision> = {}): Decision => {
      const lock = guard.recordFailure(guardKey);
      if (lock) opts.onLockout?.({ readerId: guardKey, doorId, ...lock });
      return { ...base, ...extra, decision: 'denied', reason };
    };
    // A QR token is 128 random bits: a map lookup is safe, nothing near it can be guessed.
    const entry =
      'token' in input
        ? pickupByQr.get(opts.hashCode(input.token))
        : matchCodeHash(pickupCodes, opts.hashCode(input.code));
    if (!entry) return deny('unknown_credential');
    return decidePickupEntry(base, guardKey, entry, deny);
  };

  const assembler = (r: ReaderInfo) => {
    let a = pins.get(r.readerId);
    if (!a) {
      a = createPinAssembler({
        clock,
        maxLength: r.maxPinLength,
        ...(opts.interKeyTimeoutMs !== undefined
          ? { interKeyTimeoutMs: opts.interKeyTimeoutMs }
          : {}),
      });
      pins.set(r.readerId, a);
    }
    return a;
  };

  return {
    setSnapshot,
    setParcelsWaiting(ids) {
      parcelsWaiting = new Set(ids);
    },
    snapshotLoadedAt: () => loadedAt,
    decideFrame: (readerId, bits) => decideCard(reader(readerId), bits),
    decidePin: (readerId, pin) => decideCode(reader(readerId), pin),
    decidePickup: decideKioskPickup,
    keypadLockedForMs: (readerId) => guard.lockedForMs(readerId),
    keyBurst(readerId, bits) {
      const r = reader(readerId);
      const key = decodeKeyBurst(bits);
      if (!key.ok) {
        // A garbled key would shift every digit after it: throw the partial PIN away.
        assembler(r).reset();
        return { kind: 'rejected', reason: key.reason };
      }
      const result = assembler(r).press(key.key);
      switch (result.kind) {
        case 'pending':
          return { kind: 'pending', length: result.length };
        case 'cleared':
          return { kind: 'cleared' };
        case 'rejected':
          return { kind: 'rejected', reason: result.reason };
        case 'submitted':
          return { kind: 'decided', decision: decideCode(r, result.pin) };
      }
    },
    close() {
      for (const a of pins.values()) a.dispose();
      pins.clear();
    },
  };
}
