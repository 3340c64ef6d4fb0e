import { describe, expect, it } from 'vitest';
import { decodeFrame, describeBits } from './wiegand.decoder.ts';
import {
  BUILTIN_FORMATS,
  createFormatRegistry,
  encodeCard,
  fieldRange,
  type CardFields,
} from './wiegand.formats.ts';

/** xorshift32: small, seeded, so a failing random case can be replayed. */
function seeded(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}
const randomUpTo = (rnd: () => number, max: number): number =>
  (Math.floor(rnd() * 2 ** 21) * 2 ** 32 + Math.floor(rnd() * 2 ** 32)) % (max + 1);

const registry = createFormatRegistry();

const flip = (frame: string, i: number) =>
  frame.slice(0, i) + (frame[i] === '1' ? '0' : '1') + frame.slice(i + 1);

describe('decodeFrame: concrete frames', () => {
  it('reads an H10301 frame', () => {
    expect(decodeFrame('1' + '01111011' + '0001000111010111' + '0', registry)).toEqual({
      ok: true,
      bits: 26,
      candidates: [{ formatId: 'H10301', facility: 123, card: 4567 }],
    });
  });

  it('reads an H10306 frame', () => {
    const frame = '1' + '0001001000110100' + '1010101111001101' + '1';
    expect(decodeFrame(frame, registry)).toEqual({
      ok: true,
      bits: 34,
      candidates: [{ formatId: 'H10306', facility: 0x1234, card: 0xabcd }],
    });
  });

  it('reads a Corporate 1000 frame', () => {
    const frame = '11' + '0'.repeat(11) + '1' + '0'.repeat(19) + '11';
    expect(decodeFrame(frame, registry)).toEqual({
      ok: true,
      bits: 35,
      candidates: [{ formatId: 'C1000-35', facility: 1, card: 1 }],
    });
  });

  it('returns both readings of a 37-bit frame and leaves the choice to enrolment', () => {
    const frame = '1' + '0001001000110100' + '0010010001101000101' + '0';
    const result = decodeFrame(frame, registry);
    expect(result).toEqual({
      ok: true,
      bits: 37,
      candidates: [
        { formatId: 'H10302', card: 2443256645 },
        { formatId: 'H10304', facility: 0x1234, card: 0x12345 },
      ],
    });
    // No facility key at all for the card-only format, not `facility: undefined`.
    expect(result.ok && Object.keys(result.candidates[0] ?? {})).toEqual(['formatId', 'card']);
  });

  it('accepts an array of bits as well as a string', () => {
    const bits = [...('1' + '00000001' + '0000000000000001' + '0')].map((c) => (c === '1' ? 1 : 0));
    expect(decodeFrame(bits, registry)).toEqual({
      ok: true,
      bits: 26,
      candidates: [{ formatId: 'H10301', facility: 1, card: 1 }],
    });
  });
});

describe('decodeFrame: refusals', () => {
  it('refuses empty input and anything that is not 0/1', () => {
    expect(decodeFrame('', registry)).toEqual({
      ok: false,
      reason: 'malformed_frame',
      detail: 'empty frame',
      bits: 0,
    });
    expect(decodeFrame([], registry)).toMatchObject({ ok: false, reason: 'malformed_frame' });
    expect(decodeFrame('10201', registry)).toEqual({
      ok: false,
      reason: 'malformed_frame',
      detail: 'character "2" at position 2 is not 0 or 1',
      bits: 5,
    });
    expect(decodeFrame(' 1'.repeat(13), registry)).toMatchObject({ reason: 'malformed_frame' });
    const sneaky = [1, 0, 2] as unknown as readonly (0 | 1)[];
    expect(decodeFrame(sneaky, registry)).toMatchObject({
      reason: 'malformed_frame',
      detail: 'element 2 is 2, not 0 or 1',
      bits: 3,
    });
  });

  it('refuses lengths no format has, without guessing', () => {
    expect(decodeFrame('1'.repeat(27), registry)).toEqual({
      ok: false,
      reason: 'unknown_format',
      detail: 'no registered format is 27 bits long',
      bits: 27,
    });
    expect(decodeFrame('0101', registry)).toMatchObject({ reason: 'unknown_format', bits: 4 });
  });

  it('names the failing parity bit', () => {
    const good = encodeCard(BUILTIN_FORMATS[0]!, { facility: 123, card: 4567 });
    expect(decodeFrame(flip(good, 5), registry)).toEqual({
      ok: false,
      reason: 'parity_error',
      detail: 'H10301: even parity bit 0 over bits 1-12 fails',
      bits: 26,
    });
    expect(decodeFrame(flip(good, 20), registry)).toMatchObject({
      reason: 'parity_error',
      detail: 'H10301: odd parity bit 25 over bits 13-24 fails',
    });
  });

  it('lists every 37-bit candidate that failed', () => {
    const good = encodeCard(registry.get('H10304')!, { facility: 7, card: 99 });
    const result = decodeFrame(flip(good, 30), registry);
    expect(result).toMatchObject({ ok: false, reason: 'parity_error', bits: 37 });
    expect(!result.ok && result.detail).toBe(
      'H10302: odd parity bit 36 over bits 18-35 fails; H10304: odd parity bit 36 over bits 18-35 fails',
    );
  });

  it('checks the interleaved Corporate 1000 parity bits individually', () => {
    const good = encodeCard(registry.get('C1000-35')!, { facility: 1234, card: 567890 });
    // Bit 4 (≡ 1 mod 3) is under bit 34's mask and the overall bit 0, not under bit 1. Flipping
    // it together with bit 0 keeps bit 1 satisfied and leaves bit 34 as the first rule that fails.
    expect(decodeFrame(flip(flip(good, 4), 0), registry)).toMatchObject({
      reason: 'parity_error',
      detail: expect.stringMatching(/^C1000-35: odd parity bit 34 over bits 1-2,4-5,7-8,/),
    });
    // Bit 3 (≡ 0 mod 3) is under bit 1 only, among the interleaved masks.
    expect(decodeFrame(flip(flip(good, 3), 0), registry)).toMatchObject({
      detail: expect.stringMatching(/^C1000-35: even parity bit 1 over bits 2-3,5-6,/),
    });
    // Bit 5 (≡ 2 mod 3) is under both masks, so bit 1 is the first failure reported.
    expect(decodeFrame(flip(good, 5), registry)).toMatchObject({
      detail: expect.stringContaining('C1000-35: even parity bit 1'),
    });
  });
});

describe('decodeFrame: properties over random credentials', () => {
  const valueFor = (rnd: () => number, format: (typeof BUILTIN_FORMATS)[number]): CardFields => {
    const r = fieldRange(format);
    return {
      ...(r.facility ? { facility: randomUpTo(rnd, r.facility.max) } : {}),
      card: randomUpTo(rnd, r.card.max),
    };
  };

  it.each(BUILTIN_FORMATS.map((f) => [f.id, f] as const))(
    '%s: encode then decode returns the same credential (600 values)',
    (id, format) => {
      const rnd = seeded(id.length * 7919 + format.bits);
      const values: CardFields[] = [];
      const r = fieldRange(format);
      for (const pick of ['min', 'max'] as const) {
        values.push({ ...(r.facility ? { facility: r.facility[pick] } : {}), card: r.card[pick] });
      }
      for (let n = 0; n < 598; n++) values.push(valueFor(rnd, format));
      for (const v of values) {
        const result = decodeFrame(encodeCard(format, v), registry);
        expect(result.ok).toBe(true);
        if (!result.ok) continue;
        expect(result.candidates).toContainEqual({ formatId: id, ...v });
      }
    },
  );

  it.each(BUILTIN_FORMATS.map((f) => [f.id, f] as const))(
    '%s: every single-bit error is refused as a parity error',
    (id, format) => {
      const rnd = seeded(0xb17f11b + format.bits);
      for (let n = 0; n < 40; n++) {
        const v = valueFor(rnd, format);
        const frame = encodeCard(format, v);
        for (let i = 0; i < frame.length; i++) {
          const result = decodeFrame(flip(frame, i), registry);
          // Every bit of the built-ins is under some parity rule, so a flip can never come back
          // as a success, let alone as this credential.
          expect(result, `${id} value ${JSON.stringify(v)} bit ${i}`).toMatchObject({
            ok: false,
            reason: 'parity_error',
          });
        }
      }
    },
  );

  it('with a parity-less site format, a flipped frame may decode but never as the original', () => {
    const reg = createFormatRegistry([
      {
        id: 'SITE-26',
        name: 'Site 26-bit raw',
        bits: 26,
        fields: { card: { start: 0, length: 26 } },
        parity: [],
      },
    ]);
    const h10301 = reg.get('H10301')!;
    const original = { formatId: 'H10301', facility: 42, card: 31337 };
    const frame = encodeCard(h10301, original);
    for (let i = 0; i < frame.length; i++) {
      const result = decodeFrame(flip(frame, i), reg);
      if (!result.ok) {
        expect(result.reason).toBe('parity_error');
        continue;
      }
      expect(result.candidates).not.toContainEqual(original);
      expect(result.candidates.map((c) => c.formatId)).toEqual(['SITE-26']);
    }
  });
});

describe('describeBits', () => {
  it('compresses runs', () => {
    expect(describeBits([3, 1, 2, 5, 7, 8, 9])).toBe('1-3,5,7-9');
    expect(describeBits([])).toBe('');
  });
});
