import { describe, expect, it } from 'vitest';
import {
  BUILTIN_FORMATS,
  bitRange,
  createFormatRegistry,
  encodeCard,
  fieldRange,
  validateFormat,
  type WiegandFormat,
  type WiegandFormatSpec,
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
const fmt = (id: string): WiegandFormat => {
  const f = registry.get(id);
  if (!f) throw new Error(`missing ${id}`);
  return f;
};

describe('built-in formats', () => {
  it('has exactly the five HID formats with their lengths', () => {
    expect(BUILTIN_FORMATS.map((f) => [f.id, f.bits])).toEqual([
      ['H10301', 26],
      ['H10306', 34],
      ['C1000-35', 35],
      ['H10302', 37],
      ['H10304', 37],
    ]);
  });

  it('are all valid by their own rules', () => {
    for (const f of BUILTIN_FORMATS) expect(validateFormat(f), f.id).toEqual([]);
  });

  it('cover every bit with a field or a parity rule, and every data bit with parity', () => {
    for (const f of BUILTIN_FORMATS) {
      const parityBits = new Set(f.parity.map((r) => r.bit));
      const covered = new Set(f.parity.flatMap((r) => r.over));
      for (let i = 0; i < f.bits; i++) {
        const isParity = parityBits.has(i);
        expect(isParity || covered.has(i), `${f.id} bit ${i}`).toBe(true);
      }
    }
  });

  it('reports the value ranges each format can carry', () => {
    expect(fieldRange(fmt('H10301'))).toEqual({
      facility: { min: 0, max: 255 },
      card: { min: 0, max: 65535 },
    });
    expect(fieldRange(fmt('H10306'))).toEqual({
      facility: { min: 0, max: 65535 },
      card: { min: 0, max: 65535 },
    });
    expect(fieldRange(fmt('C1000-35'))).toEqual({
      facility: { min: 0, max: 4095 },
      card: { min: 0, max: 1048575 },
    });
    expect(fieldRange(fmt('H10302'))).toEqual({ card: { min: 0, max: 34359738367 } });
    expect(fieldRange(fmt('H10304'))).toEqual({
      facility: { min: 0, max: 65535 },
      card: { min: 0, max: 524287 },
    });
  });
});

describe('encodeCard against hand-worked frames', () => {
  it('H10301: facility 1, card 1', () => {
    // Bits 1-12 hold one 1 (facility LSB) -> even parity bit 0 is 1.
    // Bits 13-24 hold one 1 (card LSB) -> already odd, bit 25 is 0.
    expect(encodeCard(fmt('H10301'), { facility: 1, card: 1 })).toBe(
      '1' + '00000001' + '0000000000000001' + '0',
    );
  });

  it('H10301: facility 123, card 4567', () => {
    // 123 = 01111011, 4567 = 0001000111010111. Bits 1-12 = 01111011 0001: seven ones -> bit 0 = 1.
    // Bits 13-24 = 0001 1101 0111: seven ones, already odd -> bit 25 = 0.
    expect(encodeCard(fmt('H10301'), { facility: 123, card: 4567 })).toBe(
      '1' + '01111011' + '0001000111010111' + '0',
    );
  });

  it('H10306: facility 0x1234, card 0xABCD', () => {
    // 0x1234 has five ones -> even parity bit 0 = 1; 0xABCD has ten ones -> odd parity bit 33 = 1.
    expect(encodeCard(fmt('H10306'), { facility: 0x1234, card: 0xabcd })).toBe(
      '1' + '0001001000110100' + '1010101111001101' + '1',
    );
  });

  it('H10304 and H10302: one frame, two readings', () => {
    // Facility 0x1234 (bits 1-16), card 0x12345 as 19 bits (bits 17-35).
    // Bits 1-18: five ones from the facility + "00" -> bit 0 = 1.
    // Bits 18-35: "0" + "10010001101000101" = seven ones -> odd already, bit 36 = 0.
    const frame = '1' + '0001001000110100' + '0010010001101000101' + '0';
    expect(encodeCard(fmt('H10304'), { facility: 0x1234, card: 0x12345 })).toBe(frame);
    // The same 35 data bits read as one card number: 0x1234 * 2^19 + 0x12345.
    expect(encodeCard(fmt('H10302'), { card: 2443256645 })).toBe(frame);
  });

  it('Corporate 1000: company 0, card 0', () => {
    // No data ones: even bit 1 = 0; odd bit 34 = 1 (nothing it covers is set); bit 0 covers
    // bits 1-34, which now hold one 1 (bit 34) -> already odd, bit 0 = 0.
    expect(encodeCard(fmt('C1000-35'), { facility: 0, card: 0 })).toBe('0'.repeat(34) + '1');
  });

  it('Corporate 1000: company 1, card 1', () => {
    // Company LSB is bit 13, card LSB is bit 33.
    // Even bit 1 covers bits ≢ 1 (mod 3) in 2-33: bit 33 yes, bit 13 no -> one 1 -> bit 1 = 1.
    // Odd bit 34 covers bits ≢ 0 (mod 3) in 1-32: bit 1 (now 1) and bit 13 -> two -> bit 34 = 1.
    // Odd bit 0 over 1-34: bits 1, 13, 33, 34 -> four -> bit 0 = 1.
    expect(encodeCard(fmt('C1000-35'), { facility: 1, card: 1 })).toBe(
      '11' + '0'.repeat(11) + '1' + '0'.repeat(19) + '11',
    );
  });
});

describe('Corporate 1000 cross-check against the proxmark3-style masks', () => {
  // An independent reading of REFERENCE.md: the 35-bit frame as one integer, last bit sent as
  // bit 0; "low" is its bottom 32 bits, "high" the 3 bits above.
  const popcount = (n: bigint): number => n.toString(2).replaceAll('0', '').length;
  const split = (frame: string) => {
    const v = BigInt('0b' + frame);
    return { low: v & 0xffffffffn, high: v >> 32n, bit: (i: number) => Number(frame[i]) };
  };

  it('rebuilds the parity bit lists from the hexadecimal masks', () => {
    const framed = (mask: number, highBits: number[]) => {
      const out = [...highBits];
      for (let b = 0; b < 32; b++) if ((mask >>> b) & 1) out.push(34 - b);
      return out.sort((a, b) => a - b);
    };
    const c1k = fmt('C1000-35');
    // Even bit 1: low & 0xB6DB6DB6 plus high bit 0 (frame bit 2).
    // Odd bit 34: low & 0x6DB6DB6C plus high bits 0-1 (frame bits 2 and 1).
    expect(c1k.parity[0]).toEqual({ bit: 1, kind: 'even', over: framed(0xb6db6db6, [2]) });
    expect(c1k.parity[1]).toEqual({ bit: 34, kind: 'odd', over: framed(0x6db6db6c, [1, 2]) });
    expect(c1k.parity[2]).toEqual({ bit: 0, kind: 'odd', over: bitRange(1, 34) });
  });

  it('agrees with mask arithmetic for random company IDs and card numbers', () => {
    const rnd = seeded(0xc1000);
    const c1k = fmt('C1000-35');
    for (let n = 0; n < 500; n++) {
      const facility = randomUpTo(rnd, 4095);
      const card = randomUpTo(rnd, 1048575);
      const frame = encodeCard(c1k, { facility, card });
      const { low, high, bit } = split(frame);
      // Fields where the packed layout puts them: company ID in high bit 0 + low bits 31-21.
      expect(Number(((high & 1n) << 11n) | (low >> 21n))).toBe(facility);
      expect(Number((low >> 1n) & 0xfffffn)).toBe(card);
      const evenBit = (popcount(high & 1n) + popcount(low & 0xb6db6db6n)) % 2;
      const oddBit34 = 1 - ((popcount(high & 3n) + popcount(low & 0x6db6db6cn)) % 2);
      const oddBit0 = 1 - ((popcount(high & 3n) + popcount(low)) % 2);
      expect([bit(1), bit(34), bit(0)]).toEqual([evenBit, oddBit34, oddBit0]);
    }
  });
});

describe('encodeCard range checks', () => {
  it('names the field that is out of range', () => {
    const h = fmt('H10301');
    expect(() => encodeCard(h, { facility: 256, card: 1 })).toThrow(RangeError);
    expect(() => encodeCard(h, { facility: 256, card: 1 })).toThrow(/^facility: 256/);
    expect(() => encodeCard(h, { facility: 1, card: 65536 })).toThrow(/^card: 65536/);
    expect(() => encodeCard(h, { facility: -1, card: 1 })).toThrow(/^facility/);
    expect(() => encodeCard(h, { facility: 1, card: 1.5 })).toThrow(/^card/);
    expect(() => encodeCard(h, { card: 1 })).toThrow(/^facility: .*needs a facility/);
    expect(() => encodeCard(fmt('H10302'), { facility: 0, card: 1 })).toThrow(
      /^facility: .*no facility/,
    );
    expect(() => encodeCard(fmt('H10302'), { card: 2 ** 35 })).toThrow(/^card/);
  });

  it('accepts the extremes of each range', () => {
    for (const f of BUILTIN_FORMATS) {
      const r = fieldRange(f);
      for (const pick of ['min', 'max'] as const) {
        const frame = encodeCard(f, {
          ...(r.facility ? { facility: r.facility[pick] } : {}),
          card: r.card[pick],
        });
        expect(frame).toMatch(new RegExp(`^[01]{${f.bits}}$`));
      }
    }
  });
});

describe('validateFormat', () => {
  const good = (): WiegandFormatSpec => ({
    id: 'SITE-28',
    name: 'Site 28-bit',
    bits: 28,
    fields: { facility: { start: 1, length: 10 }, card: { start: 11, length: 16 } },
    parity: [
      { bit: 0, kind: 'even', over: bitRange(1, 13) },
      { bit: 27, kind: 'odd', over: bitRange(14, 26) },
    ],
  });
  const messages = (f: unknown) =>
    validateFormat(f).map((i) => `${i.path.join('.')}: ${i.message}`);

  it('accepts a well-formed site format', () => {
    expect(validateFormat(good())).toEqual([]);
    // JSON round trip: a site file is JSON or YAML.
    expect(validateFormat(JSON.parse(JSON.stringify(good())))).toEqual([]);
  });

  it('rejects overlapping fields', () => {
    const f = good();
    f.fields.card.start = 8;
    expect(messages(f)).toContain('fields.card: card overlaps facility at bit 8');
  });

  it('rejects fields and parity outside the frame', () => {
    const f = good();
    f.fields.card.length = 20;
    f.parity[1] = { bit: 28, kind: 'odd', over: [14, 40, -1] };
    const m = messages(f);
    expect(m).toContain('fields.card: card bits 11-30 run past the end of a 28-bit frame');
    expect(m).toContain('parity.1.bit: parity bit must be an integer inside the frame (0-27)');
    expect(m).toContain('parity.1.over.1: bit 40 is not inside the frame');
    expect(m).toContain('parity.1.over.2: bit -1 is not inside the frame');
  });

  it('rejects a parity bit inside a field, covering itself, repeated, or depending on a later rule', () => {
    const f = good();
    f.parity = [
      { bit: 5, kind: 'even', over: [1, 2] },
      { bit: 0, kind: 'even', over: [0, 3, 3, 27] },
      { bit: 27, kind: 'odd', over: [14] },
      { bit: 27, kind: 'odd', over: [15] },
    ];
    const m = messages(f);
    expect(m).toContain('parity.0.bit: parity bit 5 lies inside the facility field');
    expect(m).toContain('parity.1.over.0: parity bit 0 cannot cover itself');
    expect(m).toContain('parity.1.over.2: bit 3 is listed twice');
    expect(m.some((x) => x.startsWith('parity.1.over.3: covers parity bit 27'))).toBe(true);
    expect(m).toContain('parity.3.bit: bit 27 has two parity rules');
  });

  it('rejects bad shapes and keypad burst lengths', () => {
    expect(messages(null)).toEqual([': a format must be an object']);
    expect(messages({ ...good(), bits: 8 })).toContain(
      'bits: 8-bit frames are keypad key bursts and cannot be a card format',
    );
    expect(messages({ ...good(), bits: 200 })).toContain(
      'bits: bits must be an integer from 1 to 128',
    );
    expect(messages({ ...good(), id: '' })).toContain('id: id must be a non-empty string');
    expect(messages({ ...good(), fields: { facility: { start: 1, length: 8 } } })).toContain(
      'fields.card: card field is required',
    );
    expect(
      messages({ ...good(), fields: { card: { start: 1, length: 54 } }, parity: [] }),
    ).toContain('fields.card.length: length must be an integer from 1 to 53');
    expect(messages({ ...good(), parity: [{ bit: 0, kind: 'mark', over: [] }] })).toEqual([
      'parity.0.kind: kind must be "even" or "odd"',
      'parity.0.over: over must be a non-empty array of bit indexes',
    ]);
  });
});

describe('format registry', () => {
  it('returns every candidate for an ambiguous length', () => {
    expect(registry.byLength(37).map((f) => f.id)).toEqual(['H10302', 'H10304']);
    expect(registry.byLength(26).map((f) => f.id)).toEqual(['H10301']);
    expect(registry.byLength(27)).toEqual([]);
    expect(registry.get('C1000-35')?.bits).toBe(35);
    expect(registry.get('nope')).toBeUndefined();
  });

  it('adds site formats, frozen copies of what was validated', () => {
    const spec: WiegandFormatSpec = {
      id: 'SITE-26',
      name: 'Site 26-bit, no parity',
      bits: 26,
      fields: { card: { start: 0, length: 26 } },
      parity: [],
    };
    const reg = createFormatRegistry([spec]);
    expect(reg.byLength(26).map((f) => f.id)).toEqual(['H10301', 'SITE-26']);
    spec.fields.card.length = 2;
    expect(reg.get('SITE-26')?.fields.card.length).toBe(26);
    expect(Object.isFrozen(reg.get('SITE-26')?.fields.card)).toBe(true);
    expect(reg.all()).toHaveLength(BUILTIN_FORMATS.length + 1);
  });

  it('refuses invalid or duplicate formats at startup', () => {
    expect(() => createFormatRegistry([{ ...fmt('H10301') }])).toThrow(/already registered/);
    const bad = { ...fmt('H10301'), id: 'BAD', bits: 20 };
    expect(() => createFormatRegistry([bad])).toThrow(/invalid Wiegand format "BAD"/);
  });

  it('keeps the built-in table immutable', () => {
    const h = fmt('H10301');
    expect(Object.isFrozen(h)).toBe(true);
    expect(Object.isFrozen(h.parity[0]?.over)).toBe(true);
  });
});
