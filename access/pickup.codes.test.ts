import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { manualClock } from '../hardware/clock.ts';
import { createAccessDecider, type LockoutNotice } from './access.decider.ts';
import type { AccessSnapshot, CarrierCodeEntry } from './access.snapshot.ts';
import { encodeKeyBurst, type KeypadKey } from './keypad.decoder.ts';
import { pickupCodeRefusal, pickupTokenFrom, type PickupCodeEntry } from './pickup.codes.ts';
import { createFormatRegistry } from './wiegand.formats.ts';

const hashCode = (code: string) => createHmac('sha256', 'site-secret').update(code).digest('hex');
const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);
const TOKEN = 'q7Wm3xY0bLk2pR9sT4vZ8aCd';

function pickup(plain: string, over: Partial<PickupCodeEntry> = {}): PickupCodeEntry {
  return {
    id: 'pc-1',
    residentId: 'res-1',
    codeHash: hashCode(plain),
    qrTokenHash: hashCode(TOKEN),
    validFrom: T0 - 3_600_000,
    validUntil: T0 + 7 * 86_400_000,
    usedAt: null,
    revoked: false,
    ...over,
  };
}

function carrier(plain: string): CarrierCodeEntry {
  return {
    id: 'cc-1',
    carrier: 'UPS',
    codeHash: hashCode(plain),
    validFrom: T0 - 3_600_000,
    validUntil: T0 + 3_600_000,
    maxUses: null,
    uses: 0,
    doorIds: [],
    revoked: false,
  };
}

function setup(snapshot: Partial<AccessSnapshot> = {}) {
  const clock = manualClock(T0);
  const lockouts: LockoutNotice[] = [];
  const d = createAccessDecider({
    clock,
    formats: createFormatRegistry(),
    hashCode,
    readers: [{ readerId: 'r1', doorId: 'front', keypad: true, maxPinLength: 10 }],
    onLockout: (n) => lockouts.push(n),
    keypad: { maxFailures: 5, windowMs: 60_000, lockMs: 300_000 },
  });
  d.setSnapshot({ cards: [], carrierCodes: [], loadedAt: T0, ...snapshot });
  const type = (pin: string) => {
    let last;
    for (const k of [...pin, '#'] as const)
      last = d.keyBurst('r1', encodeKeyBurst(k as KeypadKey, '4bit'));
    if (last?.kind !== 'decided') throw new Error(`not decided: ${JSON.stringify(last)}`);
    return last.decision;
  };
  return { clock, d, lockouts, type };
}

describe('pickup codes at the door keypad', () => {
  it('opens the door once for the resident, then refuses the same code as used', () => {
    const { d, type } = setup({ pickupCodes: [pickup('482913')] });
    const first = type('482913');
    expect(first).toMatchObject({
      decision: 'granted',
      reason: 'pickup_code',
      residentId: 'res-1',
      pickupCodeId: 'pc-1',
      via: 'pin',
    });
    expect(type('482913')).toMatchObject({ decision: 'denied', reason: 'pickup_code_used' });
    // A snapshot read before the database stored the use still does not let it in twice.
    d.setSnapshot({ cards: [], carrierCodes: [], loadedAt: T0, pickupCodes: [pickup('482913')] });
    expect(type('482913').reason).toBe('pickup_code_used');
  });

  it('refuses a code the database has as used, expired or revoked, with that reason', () => {
    const { type, clock } = setup({
      pickupCodes: [
        pickup('111222', { id: 'a', usedAt: T0 - 1000 }),
        pickup('333444', { id: 'b', validUntil: T0 + 1000 }),
        pickup('555666', { id: 'c', revoked: true }),
        pickup('777888', { id: 'd', validFrom: T0 + 60_000 }),
      ],
    });
    expect(type('111222')).toMatchObject({ reason: 'pickup_code_used', pickupCodeId: 'a' });
    expect(type('555666')).toMatchObject({ reason: 'pickup_code_revoked', pickupCodeId: 'c' });
    expect(type('777888')).toMatchObject({ reason: 'pickup_code_expired', pickupCodeId: 'd' });
    clock.advance(1000);
    expect(type('333444')).toMatchObject({ reason: 'pickup_code_expired', pickupCodeId: 'b' });
  });

  it('refuses outside the schedule', () => {
    const clock = manualClock(T0);
    const d = createAccessDecider({
      clock,
      formats: createFormatRegistry(),
      hashCode,
      readers: [{ readerId: 'r1', doorId: 'front', keypad: true, maxPinLength: 10 }],
      // Open only on Sundays: the test runs on a Monday.
      schedule: { timezone: 'UTC', windows: [{ days: ['sun'], from: '08:00', to: '20:00' }] },
    });
    d.setSnapshot({ cards: [], carrierCodes: [], loadedAt: T0, pickupCodes: [pickup('482913')] });
    expect(d.decidePin('r1', '482913')).toMatchObject({ reason: 'outside_schedule' });
  });

  it('shares the keypad with carrier codes: each opens as its own kind', () => {
    const { type } = setup({ carrierCodes: [carrier('246810')], pickupCodes: [pickup('482913')] });
    expect(type('246810')).toMatchObject({ reason: 'granted', carrierCodeId: 'cc-1' });
    expect(type('246810').pickupCodeId).toBeUndefined();
    expect(type('482913')).toMatchObject({ reason: 'pickup_code', pickupCodeId: 'pc-1' });
  });

  it('lets a carrier code win when both share the digits', () => {
    const { type } = setup({ carrierCodes: [carrier('482913')], pickupCodes: [pickup('482913')] });
    expect(type('482913')).toMatchObject({ reason: 'granted', carrierCodeId: 'cc-1' });
  });

  it('counts wrong, used and expired codes toward the lockout, and locks after five', () => {
    const { type, lockouts } = setup({
      pickupCodes: [pickup('111222', { id: 'a', usedAt: T0 - 1 }), pickup('482913')],
    });
    for (const pin of ['000001', '111222', '000002', '111222']) {
      expect(type(pin).decision).toBe('denied');
    }
    expect(lockouts).toHaveLength(0);
    expect(type('000003').reason).toBe('unknown_credential');
    expect(lockouts).toHaveLength(1);
    // Locked: even the right code waits.
    expect(type('482913')).toMatchObject({ decision: 'denied', reason: 'keypad_locked' });
  });

  it('grants at most once per code whatever is typed in between (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('482913', '482914', '111111', '482913'), { maxLength: 12 }),
        (pins) => {
          const { d } = setup({ pickupCodes: [pickup('482913')] });
          let grants = 0;
          for (const pin of [...pins, '482913']) {
            if (d.keypadLockedForMs('r1') > 0) break;
            if (d.decidePin('r1', pin).decision === 'granted') grants++;
          }
          return grants <= 1;
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('pickup codes at the kiosk', () => {
  it('opens with the QR token or the typed code, once', () => {
    const { d } = setup({ pickupCodes: [pickup('482913')] });
    expect(d.decidePickup('front', { token: TOKEN })).toMatchObject({
      decision: 'granted',
      reason: 'pickup_code',
      readerId: 'kiosk:front',
      doorId: 'front',
      residentId: 'res-1',
    });
    expect(d.decidePickup('front', { code: '482913' }).reason).toBe('pickup_code_used');
    expect(d.decidePickup('front', { token: TOKEN }).reason).toBe('pickup_code_used');
  });

  it('locks the kiosk after five wrong tries, apart from the door keypad', () => {
    const { d, type } = setup({ pickupCodes: [pickup('482913')] });
    for (let i = 0; i < 5; i++)
      expect(d.decidePickup('front', { code: `00000${i}` }).reason).toBe('unknown_credential');
    expect(d.decidePickup('front', { token: TOKEN }).reason).toBe('keypad_locked');
    expect(type('482913').reason).toBe('pickup_code');
  });
});

describe('pickup code helpers', () => {
  it('reads the token from a bare scan or the kiosk URL, and nothing else', () => {
    expect(pickupTokenFrom(TOKEN)).toBe(TOKEN);
    expect(pickupTokenFrom(` https://box.example/kiosk?pickup=${TOKEN}\n`)).toBe(TOKEN);
    expect(pickupTokenFrom(`https://box.example/kiosk?door=front&pickup=${TOKEN}&x=1`)).toBe(TOKEN);
    expect(pickupTokenFrom('1Z999AA10123456784')).toBeNull();
    expect(pickupTokenFrom('482913')).toBeNull();
  });

  it('orders the refusals: used before revoked before expired', () => {
    const p = pickup('1', { usedAt: 1, revoked: true, validUntil: 0 });
    expect(pickupCodeRefusal(p, T0, false)).toBe('pickup_code_used');
    expect(pickupCodeRefusal({ ...p, usedAt: null }, T0, false)).toBe('pickup_code_revoked');
    expect(pickupCodeRefusal({ ...p, usedAt: null, revoked: false }, T0, false)).toBe(
      'pickup_code_expired',
    );
    expect(pickupCodeRefusal(pickup('1'), T0, true)).toBe('pickup_code_used');
    expect(pickupCodeRefusal(pickup('1'), T0, false)).toBeNull();
  });
});
