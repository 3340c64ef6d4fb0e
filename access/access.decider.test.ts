import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { manualClock } from '../hardware/clock.ts';
import { createAccessDecider, type LockoutNotice } from './access.decider.ts';
import type { AccessSnapshot, CardEntry, CarrierCodeEntry } from './access.snapshot.ts';
import { encodeKeyBurst, type KeypadKey } from './keypad.decoder.ts';
import { createFormatRegistry, encodeCard } from './wiegand.formats.ts';

const formats = createFormatRegistry();
const hashCode = (code: string) => createHmac('sha256', 'site-secret').update(code).digest('hex');
const T0 = Date.UTC(2026, 10, 23, 12, 0, 0); // a Monday, noon UTC

function card(over: Partial<CardEntry> = {}): CardEntry {
  return {
    credentialId: 'cred-1',
    format: 'H10301',
    facility: 12,
    card: 4242,
    residentId: 'res-1',
    holderActive: true,
    revoked: false,
    ...over,
  };
}

function code(plain: string, over: Partial<CarrierCodeEntry> = {}): CarrierCodeEntry {
  return {
    id: 'code-1',
    carrier: 'UPS',
    codeHash: hashCode(plain),
    validFrom: T0 - 3_600_000,
    validUntil: T0 + 3_600_000,
    maxUses: null,
    uses: 0,
    doorIds: [],
    revoked: false,
    ...over,
  };
}

function setup(
  snapshot: Partial<AccessSnapshot> = {},
  extra: Partial<Parameters<typeof createAccessDecider>[0]> = {},
) {
  const clock = manualClock(T0);
  const lockouts: LockoutNotice[] = [];
  const d = createAccessDecider({
    clock,
    formats,
    hashCode,
    readers: [
      { readerId: 'r1', doorId: 'front', keypad: true, maxPinLength: 10 },
      { readerId: 'r2', doorId: 'back', keypad: true, maxPinLength: 10 },
      { readerId: 'cardonly', doorId: 'front', keypad: false, maxPinLength: 10 },
    ],
    onLockout: (n) => lockouts.push(n),
    ...extra,
  });
  d.setSnapshot({ cards: [], carrierCodes: [], loadedAt: T0, ...snapshot });
  return { clock, d, lockouts };
}

const h10301 = (facility: number, cardNo: number) =>
  encodeCard(formats.get('H10301')!, { facility, card: cardNo });

const typeKeys = (
  d: ReturnType<typeof setup>['d'],
  reader: string,
  keys: string,
  mode: '4bit' | '8bit' = '4bit',
) => [...keys].map((k) => d.keyBurst(reader, encodeKeyBurst(k as KeypadKey, mode)));

describe('card decisions', () => {
  it('grants an enrolled card of an active resident, naming who', () => {
    const { d } = setup({ cards: [card()] });
    expect(d.decideFrame('r1', h10301(12, 4242))).toMatchObject({
      decision: 'granted',
      reason: 'granted',
      doorId: 'front',
      credentialId: 'cred-1',
      residentId: 'res-1',
      format: 'H10301',
      facility: 12,
      card: 4242,
    });
  });

  it('grants every contract format', () => {
    const samples: [string, number | undefined, number][] = [
      ['H10301', 200, 65535],
      ['H10306', 65535, 1],
      ['C1000-35', 4095, 1048575],
      ['H10302', undefined, 34359738367],
      ['H10304', 4321, 12345],
    ];
    const cards = samples.map(([format, facility, cardNo], i) =>
      card({ credentialId: `c${i}`, format, facility: facility ?? null, card: cardNo }),
    );
    const { d } = setup({ cards });
    samples.forEach(([format, facility, cardNo], i) => {
      const bits = encodeCard(formats.get(format)!, {
        ...(facility !== undefined ? { facility } : {}),
        card: cardNo,
      });
      expect(d.decideFrame('r1', bits), format).toMatchObject({
        decision: 'granted',
        credentialId: `c${i}`,
      });
    });
  });

  it('refuses an unknown card and records what was read', () => {
    const { d } = setup({ cards: [card()] });
    expect(d.decideFrame('r1', h10301(12, 4243))).toMatchObject({
      decision: 'denied',
      reason: 'unknown_credential',
      facility: 12,
      card: 4243,
    });
  });

  it('the same number at another facility is another card (H10301 numbers repeat)', () => {
    const { d } = setup({ cards: [card()] });
    expect(d.decideFrame('r1', h10301(13, 4242)).reason).toBe('unknown_credential');
  });

  it('refuses a revoked card as revoked, and a moved-out holder as inactive', () => {
    const { d } = setup({ cards: [card({ revoked: true })] });
    expect(d.decideFrame('r1', h10301(12, 4242)).reason).toBe('revoked');
    const s2 = setup({ cards: [card({ holderActive: false })] });
    expect(s2.d.decideFrame('r1', h10301(12, 4242)).reason).toBe('holder_inactive');
  });

  it('with the "only with parcels waiting" policy, lets a resident in only while one waits', () => {
    const staffCard = card({
      credentialId: 'staff',
      card: 77,
      residentId: undefined,
      staffId: 's1',
    });
    delete (staffCard as { residentId?: string }).residentId;
    const { d } = setup({ cards: [card(), staffCard] }, { residentEntry: 'with_parcels' });
    expect(d.decideFrame('r1', h10301(12, 4242))).toMatchObject({
      decision: 'denied',
      reason: 'no_parcels_waiting',
      residentId: 'res-1',
    });
    d.setParcelsWaiting(['res-1']);
    expect(d.decideFrame('r1', h10301(12, 4242)).decision).toBe('granted');
    // Picked up: the set is replaced whole, and the door closes to them again.
    d.setParcelsWaiting([]);
    expect(d.decideFrame('r1', h10301(12, 4242)).reason).toBe('no_parcels_waiting');
    // Staff are never limited by the policy.
    expect(d.decideFrame('r1', h10301(12, 77)).decision).toBe('granted');
  });

  it('the default policy lets residents in with nothing waiting', () => {
    const { d } = setup({ cards: [card()] });
    d.setParcelsWaiting([]);
    expect(d.decideFrame('r1', h10301(12, 4242)).decision).toBe('granted');
  });

  it('a re-enrolled number wins over its revoked past', () => {
    const { d } = setup({
      cards: [card({ revoked: true, credentialId: 'old' }), card({ credentialId: 'new' })],
    });
    expect(d.decideFrame('r1', h10301(12, 4242))).toMatchObject({
      decision: 'granted',
      credentialId: 'new',
    });
  });

  it('refuses parity errors, unknown lengths and junk with the decoder reason', () => {
    const { d } = setup({ cards: [card()] });
    const good = h10301(12, 4242);
    const flipped = (good[5] === '0' ? '1' : '0') + '';
    expect(d.decideFrame('r1', good.slice(0, 5) + flipped + good.slice(6)).reason).toBe(
      'parity_error',
    );
    expect(d.decideFrame('r1', '1'.repeat(30)).reason).toBe('unknown_format');
    expect(d.decideFrame('r1', '01x1').reason).toBe('malformed_frame');
  });

  it('settles an ambiguous 37-bit frame by what is enrolled', () => {
    const bits = encodeCard(formats.get('H10304')!, { facility: 100, card: 5000 });
    const { d } = setup({ cards: [card({ format: 'H10304', facility: 100, card: 5000 })] });
    expect(d.decideFrame('r1', bits)).toMatchObject({ decision: 'granted', format: 'H10304' });
  });

  it('applies the schedule to residents, not to staff', () => {
    const schedule = {
      timezone: 'America/New_York',
      windows: [{ days: ['mon' as const], from: '08:00', to: '10:00' }],
    };
    const { d } = setup(
      {
        cards: [
          card(),
          card({ credentialId: 's', residentId: undefined, staffId: 'staff-1', card: 1 }),
        ],
      },
      { schedule },
    );
    // Noon UTC on Monday is 07:00 in New York: outside the 08-10 window.
    expect(d.decideFrame('r1', h10301(12, 4242)).reason).toBe('outside_schedule');
    expect(d.decideFrame('r1', h10301(12, 1)).decision).toBe('granted');
  });
});

describe('carrier codes at the keypad', () => {
  it('grants a live code typed as 4-bit or 8-bit bursts and names the carrier', () => {
    const { d } = setup({ carrierCodes: [code('482913')] });
    const out = typeKeys(d, 'r1', '482913#');
    expect(out.slice(0, 6).map((o) => o.kind)).toEqual(Array(6).fill('pending'));
    expect(out[6]).toMatchObject({
      kind: 'decided',
      decision: { decision: 'granted', carrierCodeId: 'code-1', carrier: 'UPS', via: 'pin' },
    });
    const out8 = typeKeys(d, 'r1', '482913#', '8bit');
    expect(out8[6]).toMatchObject({ kind: 'decided', decision: { decision: 'granted' } });
  });

  it('* clears and the inter-key pause discards a half-typed code', () => {
    const { d, clock } = setup({ carrierCodes: [code('482913')] });
    typeKeys(d, 'r1', '99*');
    expect(typeKeys(d, 'r1', '482913#')[6]).toMatchObject({ decision: { decision: 'granted' } });
    typeKeys(d, 'r1', '48');
    clock.advance(5_001);
    expect(typeKeys(d, 'r1', '2913#')[4]).toMatchObject({
      decision: { decision: 'denied', reason: 'unknown_credential' },
    });
  });

  it('refuses a broken 8-bit key and throws the partial PIN away', () => {
    const { d } = setup({ carrierCodes: [code('482913')] });
    typeKeys(d, 'r1', '482', '8bit');
    expect(d.keyBurst('r1', '11110100')).toEqual({ kind: 'rejected', reason: 'key_integrity' });
    expect(typeKeys(d, 'r1', '913#', '8bit')[3]).toMatchObject({
      decision: { reason: 'unknown_credential' },
    });
  });

  it('refuses outside the window, before it opens, on the wrong door, revoked, used up', () => {
    const cases: [Partial<CarrierCodeEntry>, string, string][] = [
      [{ validUntil: T0 }, 'r1', 'outside_window'],
      [{ validFrom: T0 + 1 }, 'r1', 'outside_window'],
      [{ doorIds: ['back'] }, 'r1', 'wrong_door'],
      [{ revoked: true }, 'r1', 'revoked'],
      [{ maxUses: 2, uses: 2 }, 'r1', 'uses_exhausted'],
    ];
    for (const [over, reader, reason] of cases) {
      const { d } = setup({ carrierCodes: [code('482913', over)] });
      expect(d.decidePin(reader, '482913'), reason).toMatchObject({
        decision: 'denied',
        reason,
        carrierCodeId: 'code-1',
      });
    }
    const { d } = setup({ carrierCodes: [code('482913', { doorIds: ['back'] })] });
    expect(d.decidePin('r2', '482913').decision).toBe('granted');
  });

  it('counts each use, also across a snapshot reload that has not seen them yet', () => {
    const { d } = setup({ carrierCodes: [code('482913', { maxUses: 2 })] });
    expect(d.decidePin('r1', '482913').decision).toBe('granted');
    // The database has not counted that grant yet.
    d.setSnapshot({
      cards: [],
      carrierCodes: [code('482913', { maxUses: 2, uses: 0 })],
      loadedAt: T0,
    });
    expect(d.decidePin('r1', '482913').decision).toBe('granted');
    expect(d.decidePin('r1', '482913').reason).toBe('uses_exhausted');
  });

  it('a card-only reader refuses PINs', () => {
    const { d } = setup({ carrierCodes: [code('482913')] });
    expect(d.decidePin('cardonly', '482913').reason).toBe('no_keypad');
  });

  it('locks the keypad after 5 wrong PINs in 60 s, refuses even the right code, and escalates', () => {
    const { d, clock, lockouts } = setup({ carrierCodes: [code('482913')] });
    for (let i = 0; i < 4; i++)
      expect(d.decidePin('r1', `00000${i}`).reason).toBe('unknown_credential');
    expect(lockouts).toEqual([]);
    expect(d.decidePin('r1', '000009').reason).toBe('unknown_credential');
    expect(lockouts).toEqual([
      { readerId: 'r1', doorId: 'front', lockedUntil: T0 + 300_000, lockMs: 300_000, level: 1 },
    ]);
    expect(d.decidePin('r1', '482913').reason).toBe('keypad_locked');
    // Another door's keypad is not locked.
    expect(d.decidePin('r2', '482913').decision).toBe('granted');
    clock.advance(300_000);
    expect(d.decidePin('r1', '482913').decision).toBe('granted');
    for (let i = 0; i < 5; i++) d.decidePin('r1', `11111${i}`);
    expect(lockouts[1]).toMatchObject({ lockMs: 600_000, level: 2 });
  });

  it('wrong PINs spread wider than the window do not lock', () => {
    const { d, clock, lockouts } = setup({ carrierCodes: [code('482913')] });
    for (let i = 0; i < 10; i++) {
      d.decidePin('r1', '000000');
      clock.advance(15_001);
    }
    expect(lockouts).toEqual([]);
  });

  it('a locked keypad keeps refusing while locked: a 10^6 search stays infeasible', () => {
    const { d, clock } = setup({ carrierCodes: [code('482913')] });
    let tries = 0;
    let granted = false;
    // Try every code in order for one simulated day, as fast as the lockout allows.
    for (let guess = 0; clock.now() < T0 + 24 * 3_600_000; guess++) {
      const r = d.decidePin('r1', String(guess).padStart(6, '0'));
      if (r.reason === 'keypad_locked') {
        clock.advance(d.keypadLockedForMs('r1'));
        continue;
      }
      tries++;
      if (r.decision === 'granted') granted = true;
    }
    expect(granted).toBe(false);
    expect(tries).toBeLessThan(100);
  });
});
