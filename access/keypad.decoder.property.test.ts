/**
 * Property-based abuse tests of the keypad path (issue 7): random bursts, random key streams and
 * someone leaning on the keypad. The decoder always gives a typed answer, the 8-bit burst catches
 * exactly the errors its check nibble can see, a PIN never grows past its maximum, and the digits
 * never reach a log line or a decision.
 */
import { createHmac } from 'node:crypto';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { manualClock } from '../hardware/clock.ts';
import { memoryLogger } from '../server/log/logger.ts';
import { createAccessDecider, type Decision } from './access.decider.ts';
import {
  KEYPAD_KEYS,
  decodeKeyBurst,
  encodeKeyBurst,
  type KeyBurstMode,
  type KeyDecodeResult,
  type KeypadKey,
} from './keypad.decoder.ts';
import type { FrameBits } from './wiegand.decoder.ts';
import { createPinAssembler, type PinResult } from './pin.assembler.ts';
import { createFormatRegistry } from './wiegand.formats.ts';

/**
 * Every kind of JavaScript value fast-check can build: frames come off MQTT and the simulator,
 * so the decoder checks at runtime and must describe whatever it got without throwing.
 */
const ANYTHING = {
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withNullPrototype: true,
  withObjectString: true,
  withSet: true,
  withSparseArray: true,
  withTypedArray: true,
} as const;
const REASONS: readonly string[] = ['malformed_frame', 'key_integrity', 'unknown_key'];
const key = fc.constantFrom(...KEYPAD_KEYS);
const mode = fc.constantFrom<KeyBurstMode>('4bit', '8bit');
const bitString = (min: number, max: number) =>
  fc.array(fc.constantFrom('0', '1'), { minLength: min, maxLength: max }).map((b) => b.join(''));
const toNumber = (bits: string) => parseInt(bits, 2);
const toBits = (value: number, width: number) => value.toString(2).padStart(width, '0');

function expectWellTyped(r: KeyDecodeResult): void {
  if (r.ok) {
    expect(KEYPAD_KEYS).toContain(r.key);
    expect(['4bit', '8bit']).toContain(r.mode);
  } else {
    expect(REASONS).toContain(r.reason);
    expect(r.detail.length).toBeGreaterThan(0);
  }
}

describe('decodeKeyBurst never throws and always answers with a typed result', () => {
  it('random bit strings of any length 0-200: only 4 and 8 bits can be a key', () => {
    fc.assert(
      fc.property(bitString(0, 200), (bits) => {
        const r = decodeKeyBurst(bits);
        expectWellTyped(r);
        if (bits.length !== 4 && bits.length !== 8)
          expect(r).toMatchObject({ ok: false, reason: 'malformed_frame' });
      }),
      { numRuns: 2000 },
    );
  });

  it('any value at all where a burst is expected', () => {
    fc.assert(
      fc.property(fc.anything(ANYTHING), (value) => {
        const r = decodeKeyBurst(value as FrameBits);
        expectWellTyped(r);
      }),
      { numRuns: 1000 },
    );
  });

  it('any string (unicode, control characters): a key only from 4 or 8 characters of 0/1', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 12 }), (s) => {
        const r = decodeKeyBurst(s);
        expectWellTyped(r);
        if (r.ok) expect(s).toMatch(/^([01]{4}|[01]{8})$/);
      }),
      { numRuns: 1000 },
    );
  });

  it('4-bit bursts: a key exactly for values 0-11, unknown_key for 12-15', () => {
    fc.assert(
      fc.property(bitString(4, 4), (bits) => {
        const v = toNumber(bits);
        expect(decodeKeyBurst(bits)).toEqual(
          v < 12
            ? { ok: true, key: KEYPAD_KEYS[v], mode: '4bit' }
            : expect.objectContaining({ ok: false, reason: 'unknown_key' }),
        );
      }),
    );
  });

  it('8-bit bursts: a key exactly when the high nibble is the complement of the low one and the value is 0-11', () => {
    fc.assert(
      fc.property(bitString(8, 8), (bits) => {
        const high = toNumber(bits.slice(0, 4));
        const low = toNumber(bits.slice(4));
        const r = decodeKeyBurst(bits);
        if ((high ^ 0xf) !== low) expect(r).toMatchObject({ ok: false, reason: 'key_integrity' });
        else if (low >= 12) expect(r).toMatchObject({ ok: false, reason: 'unknown_key' });
        else expect(r).toEqual({ ok: true, key: KEYPAD_KEYS[low], mode: '8bit' });
      }),
      { numRuns: 1000 },
    );
  });
});

describe('bursts round-trip and wire errors', () => {
  it('every key in either mode decodes to itself', () => {
    fc.assert(
      fc.property(key, mode, (k, m) => {
        expect(decodeKeyBurst(encodeKeyBurst(k, m))).toEqual({ ok: true, key: k, mode: m });
      }),
    );
  });

  it('8-bit: any single flipped bit is refused as key_integrity', () => {
    fc.assert(
      fc.property(key, fc.integer({ min: 0, max: 7 }), (k, i) => {
        const burst = toNumber(encodeKeyBurst(k, '8bit')) ^ (1 << i);
        expect(decodeKeyBurst(toBits(burst, 8))).toMatchObject({
          ok: false,
          reason: 'key_integrity',
        });
      }),
    );
  });

  /**
   * The exact power of the check nibble: an error pattern e (the bits flipped on the wire) slips
   * through exactly when it flips the same positions in both nibbles (e_high = e_low), because
   * then the high nibble stays the complement of the low one. Such a burst reads as the key
   * value v XOR e_low, a different key, or unknown_key when that is 12-15; every other pattern
   * is refused.
   */
  it('8-bit: an error pattern passes the check exactly when it flips the same bits in both nibbles', () => {
    fc.assert(
      fc.property(key, fc.integer({ min: 1, max: 255 }), (k, e) => {
        const sent = toNumber(encodeKeyBurst(k, '8bit'));
        const r = decodeKeyBurst(toBits(sent ^ e, 8));
        const eHigh = e >> 4;
        const eLow = e & 0xf;
        if (eHigh !== eLow) {
          expect(r).toMatchObject({ ok: false, reason: 'key_integrity' });
          return;
        }
        const v = KEYPAD_KEYS.indexOf(k) ^ eLow;
        if (v >= 12) expect(r).toMatchObject({ ok: false, reason: 'unknown_key' });
        else expect(r).toEqual({ ok: true, key: KEYPAD_KEYS[v], mode: '8bit' });
        expect(r.ok && r.key).not.toBe(k);
      }),
      { numRuns: 2000 },
    );
  });

  it('4-bit has no check: a single flipped bit reads as a different key or as unknown_key, never the same key', () => {
    fc.assert(
      fc.property(key, fc.integer({ min: 0, max: 3 }), (k, i) => {
        const v = KEYPAD_KEYS.indexOf(k) ^ (1 << i);
        const r = decodeKeyBurst(toBits(v, 4));
        if (v >= 12) expect(r).toMatchObject({ ok: false, reason: 'unknown_key' });
        else expect(r).toEqual({ ok: true, key: KEYPAD_KEYS[v], mode: '4bit' });
      }),
    );
  });
});

/** A key press, or a pause between presses (ms), for random sessions at the keypad. */
type Step = { kind: 'key'; key: KeypadKey } | { kind: 'wait'; ms: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc.constantFrom(...KEYPAD_KEYS).map((k) => ({ kind: 'key', key: k }) as Step),
  },
  {
    weight: 1,
    arbitrary: fc.integer({ min: 0, max: 12_000 }).map((ms) => ({ kind: 'wait', ms }) as Step),
  },
);

/** Exactly what `JSON.stringify` may show of each result: lengths, never digits. */
function expectNoDigits(result: PinResult): void {
  const json: unknown = JSON.parse(JSON.stringify(result));
  switch (result.kind) {
    case 'submitted':
      expect(json).toEqual({ kind: 'submitted', pin: '[redacted]', length: result.pin.length });
      break;
    case 'pending':
      expect(json).toEqual({
        kind: 'pending',
        length: result.length,
        ...(result.timedOutPrevious ? { timedOutPrevious: true } : {}),
      });
      break;
    case 'cleared':
    case 'rejected':
      expect(Object.keys(json as object).sort()).toEqual(
        Object.keys(result)
          .filter((k) => k !== 'pin')
          .sort(),
      );
      break;
  }
}

describe('PIN assembly from random key streams', () => {
  it('never exceeds the maximum length, submits exactly the digits typed, and never shows them', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 16 }),
        fc.array(step, { maxLength: 120 }),
        (maxLength, steps) => {
          const clock = manualClock();
          const timeoutMs = 5000;
          const pin = createPinAssembler({ clock, maxLength, interKeyTimeoutMs: timeoutMs });
          const log = memoryLogger();
          // A model of the buffer: what a careful reader of the keypad manual expects.
          let model = '';
          let lastKeyAt = clock.now();
          for (const s of steps) {
            if (s.kind === 'wait') {
              clock.advance(s.ms);
              continue;
            }
            if (model.length > 0 && clock.now() - lastKeyAt > timeoutMs) model = '';
            lastKeyAt = clock.now();
            const result = pin.press(s.key);
            log.info('keypad', { result, assembler: pin });
            expectNoDigits(result);
            if (s.key === '*') {
              expect(result.kind).toBe('cleared');
              model = '';
            } else if (s.key === '#') {
              if (model === '')
                expect(result).toMatchObject({ kind: 'rejected', reason: 'empty_pin' });
              else expect(result).toMatchObject({ kind: 'submitted', pin: model });
              model = '';
            } else if (model.length >= maxLength) {
              expect(result).toMatchObject({ kind: 'rejected', reason: 'too_long' });
              model = '';
            } else {
              model += s.key;
              expect(result).toMatchObject({ kind: 'pending', length: model.length });
            }
            expect(pin.length).toBe(model.length);
            expect(pin.length).toBeLessThanOrEqual(maxLength);
            expect(JSON.stringify(pin)).toBe(JSON.stringify({ length: pin.length }));
            expect(String(pin)).toBe(`PinAssembler(${pin.length} digits buffered)`);
            expect(inspect(pin)).toBe(`PinAssembler(${pin.length} digits buffered)`);
          }
          // The structured log (one JSON line per record) shows results, never a digit of a PIN.
          for (const record of log.records) {
            const { result, assembler } = record as {
              result: Record<string, unknown>;
              assembler: unknown;
            };
            if ('pin' in result) expect(result.pin).toBe('[redacted]');
            expect(assembler).toEqual({ length: expect.any(Number) as number });
          }
          pin.dispose();
          expect(clock.pendingTimers()).toBe(0);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('an abandoned partial PIN is wiped from memory by timer, whatever was typed', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...KEYPAD_KEYS.slice(0, 10)), { minLength: 1, maxLength: 12 }),
        (digits) => {
          const clock = manualClock();
          const pin = createPinAssembler({ clock, maxLength: 12, interKeyTimeoutMs: 5000 });
          for (const d of digits) pin.press(d);
          expect(pin.length).toBe(digits.length);
          clock.advance(5001);
          expect(pin.length).toBe(0);
          expect(pin.press('#')).toMatchObject({
            kind: 'rejected',
            reason: 'empty_pin',
            timedOutPrevious: true,
          });
        },
      ),
    );
  });
});

describe('random bursts into the access decider', () => {
  const hashCode = (code: string) => createHmac('sha256', 'site-secret').update(code).digest('hex');
  /** The only fields a keypad decision may carry; `detail` is the one free text. */
  const DECISION_KEYS = new Set<keyof Decision>([
    'decision',
    'reason',
    'readerId',
    'doorId',
    'via',
    'carrierCodeId',
    'carrier',
    'detail',
  ]);
  const burst = fc.oneof(
    key.chain((k) => mode.map((m) => encodeKeyBurst(k, m))),
    bitString(0, 40),
    fc.string({ unit: 'binary-ascii', maxLength: 10 }),
  );

  it('never throw, never hold more than the reader maximum, and never put the digits in a decision', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 4, max: 12 }),
        fc.array(burst, { maxLength: 150 }),
        (maxPinLength, bursts) => {
          const clock = manualClock();
          const d = createAccessDecider({
            clock,
            formats: createFormatRegistry(),
            hashCode,
            readers: [{ readerId: 'r1', doorId: 'front', keypad: true, maxPinLength }],
          });
          d.setSnapshot({ cards: [], carrierCodes: [], loadedAt: clock.now() });
          for (const bits of bursts) {
            const out = d.keyBurst('r1', bits);
            switch (out.kind) {
              case 'pending':
                expect(out.length).toBeGreaterThan(0);
                expect(out.length).toBeLessThanOrEqual(maxPinLength);
                break;
              case 'cleared':
                break;
              case 'rejected':
                expect([...REASONS, 'empty_pin', 'too_long']).toContain(out.reason);
                break;
              case 'decided':
                expect(out.decision).toMatchObject({ decision: 'denied', via: 'pin' });
                for (const k of Object.keys(out.decision))
                  expect(DECISION_KEYS.has(k as keyof Decision), k).toBe(true);
                if (out.decision.detail !== undefined)
                  expect(out.decision.detail).toMatch(/^locked for \d+ s$/);
                break;
            }
            clock.advance(100);
          }
          d.close();
        },
      ),
      { numRuns: 300 },
    );
  });
});
