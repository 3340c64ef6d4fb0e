/**
 * Property-based abuse tests of the Wiegand path (issue 7): whatever a reader, a broken cable or
 * an attacker with a Wiegand injector puts on D0/D1, the decoder answers with a typed result and
 * never throws; a valid badge reads back as itself; and a single flipped bit is caught exactly
 * where the format's parity can catch it.
 *
 * The seeded unit tests beside this file check hand-worked frames; these let fast-check search
 * the input space and shrink any counterexample to its smallest form.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeFrame,
  type CardCandidate,
  type DecodeFailureReason,
  type DecodeResult,
  type FrameBits,
} from './wiegand.decoder.ts';
import {
  BUILTIN_FORMATS,
  createFormatRegistry,
  encodeCard,
  fieldRange,
  validateFormat,
  type CardFields,
  type FormatRegistry,
  type ParityRule,
  type WiegandFormat,
} from './wiegand.formats.ts';
import { createEdgeDecoder, type EdgeErrorReason, type FrameMeta } from './wiegand.edges.ts';

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
const registry = createFormatRegistry();
const FAILURE_REASONS: readonly DecodeFailureReason[] = [
  'unknown_format',
  'parity_error',
  'malformed_frame',
];
const BUILTIN_LENGTHS = new Set(BUILTIN_FORMATS.map((f) => f.bits));

/** Any frame a reader could send: 0-200 bits, most of them lengths no card has. */
const bitString = (maxLength = 200) =>
  fc.array(fc.constantFrom('0', '1'), { maxLength }).map((b) => b.join(''));

/** Frames of exactly the lengths the built-in formats have, so parity is actually exercised. */
const builtinLengthFrame = fc
  .constantFrom(...BUILTIN_LENGTHS)
  .chain((n) =>
    fc.array(fc.constantFrom('0', '1'), { minLength: n, maxLength: n }).map((b) => b.join('')),
  );

const flip = (frame: string, i: number): string =>
  frame.slice(0, i) + (frame[i] === '1' ? '0' : '1') + frame.slice(i + 1);

/** A credential that fits `format`'s fields, anywhere in their ranges including the ends. */
function cardValue(format: WiegandFormat): fc.Arbitrary<CardFields> {
  const r = fieldRange(format);
  const card = fc.oneof(
    fc.constantFrom(r.card.min, r.card.max),
    fc.integer({ min: r.card.min, max: Math.min(r.card.max, Number.MAX_SAFE_INTEGER) }),
  );
  if (!r.facility) return card.map((c) => ({ card: c }));
  const facility = fc.oneof(
    fc.constantFrom(r.facility.min, r.facility.max),
    fc.integer({ min: r.facility.min, max: r.facility.max }),
  );
  return fc.record({ facility, card });
}

/**
 * The invariants every answer must satisfy, whatever the input: a result the door can act on,
 * never an exception and never a half-filled object.
 */
function expectWellTyped(result: DecodeResult, input: FrameBits, reg: FormatRegistry): void {
  const length = typeof input === 'string' || Array.isArray(input) ? input.length : 0;
  expect(result.bits).toBe(length);
  if (!result.ok) {
    expect(FAILURE_REASONS).toContain(result.reason);
    expect(typeof result.detail).toBe('string');
    expect(result.detail.length).toBeGreaterThan(0);
    return;
  }
  expect(result.candidates.length).toBeGreaterThan(0);
  const formats = reg.byLength(length);
  for (const c of result.candidates) {
    const format = formats.find((f) => f.id === c.formatId);
    expect(format, `candidate format ${c.formatId} is ${length} bits long`).toBeDefined();
    const range = fieldRange(format!);
    expect(Number.isSafeInteger(c.card)).toBe(true);
    expect(c.card).toBeGreaterThanOrEqual(range.card.min);
    expect(c.card).toBeLessThanOrEqual(range.card.max);
    if (range.facility) {
      expect(c.facility).toBeGreaterThanOrEqual(range.facility.min);
      expect(c.facility).toBeLessThanOrEqual(range.facility.max);
    } else {
      expect(c).not.toHaveProperty('facility');
    }
  }
}

describe('decodeFrame never throws and always answers with a typed result', () => {
  it('random bit strings of any length 0-200', () => {
    fc.assert(
      fc.property(bitString(), (bits) => {
        const result = decodeFrame(bits, registry);
        expectWellTyped(result, bits, registry);
        if (bits.length === 0)
          expect(result).toMatchObject({ ok: false, reason: 'malformed_frame' });
        else if (!BUILTIN_LENGTHS.has(bits.length))
          expect(result).toMatchObject({ ok: false, reason: 'unknown_format' });
        // A well-formed frame of a known length is a card or a parity error, never "malformed".
        else expect(result.ok || result.reason === 'parity_error').toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('random frames of the built-in lengths, as a string and as an array, agree', () => {
    fc.assert(
      fc.property(builtinLengthFrame, (bits) => {
        const asString = decodeFrame(bits, registry);
        const asArray = decodeFrame(
          [...bits].map((b) => (b === '1' ? 1 : 0)),
          registry,
        );
        expectWellTyped(asString, bits, registry);
        expect(asArray).toEqual(asString);
      }),
      { numRuns: 2000 },
    );
  });

  it('any string at all (unicode, control characters, digits other than 0/1)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => {
        const result = decodeFrame(s, registry);
        expectWellTyped(result, s, registry);
        if (!/^[01]+$/.test(s))
          expect(result).toMatchObject({ ok: false, reason: 'malformed_frame' });
      }),
      { numRuns: 1000 },
    );
  });

  it('any value at all where a frame is expected (MQTT and the simulator are untyped)', () => {
    fc.assert(
      fc.property(fc.anything(ANYTHING), (value) => {
        const input = value as FrameBits;
        const result = decodeFrame(input, registry);
        expectWellTyped(result, input, registry);
        const isBits =
          (typeof value === 'string' && /^[01]+$/.test(value)) ||
          (Array.isArray(value) && value.length > 0 && value.every((b) => b === 0 || b === 1));
        if (!isBits) expect(result).toMatchObject({ ok: false, reason: 'malformed_frame' });
      }),
      { numRuns: 1000 },
    );
  });
});

describe('valid badges round-trip', () => {
  it.each(BUILTIN_FORMATS.map((f) => [f.id, f] as const))(
    '%s: encodeCard then decodeFrame gives back exactly this credential',
    (id, format) => {
      fc.assert(
        fc.property(cardValue(format), (value) => {
          const frame = encodeCard(format, value);
          expect(frame).toMatch(new RegExp(`^[01]{${format.bits}}$`));
          const result = decodeFrame(frame, registry);
          expect(result.ok).toBe(true);
          if (!result.ok) return;
          const mine = result.candidates.filter((c) => c.formatId === id);
          expect(mine).toEqual([{ formatId: id, ...value }]);
          // Only formats of the same length (H10302/H10304) may read it too, never guessed ones.
          for (const c of result.candidates)
            expect(registry.get(c.formatId)?.bits).toBe(format.bits);
        }),
        { numRuns: 500 },
      );
    },
  );
});

/** Every frame bit a parity rule of `format` reads: its own bit and the bits it covers. */
function parityCovered(format: WiegandFormat): Set<number> {
  const covered = new Set<number>();
  for (const rule of format.parity) {
    covered.add(rule.bit);
    for (const i of rule.over) covered.add(i);
  }
  return covered;
}

/**
 * The exact single-bit-error property. A parity rule sums its bit and the bits it covers, so
 * flipping frame bit i changes that sum's parity precisely when i is one of those bits. Starting
 * from a valid frame of format F, flipping bit i therefore:
 *  - makes F refuse the frame when i is read by at least one of F's parity rules;
 *  - otherwise leaves every rule holding, and F reads the frame: as a different credential when i
 *    lies in the facility or card field (that field changes by 2^(its last bit − i)), or as the
 *    same credential when i lies in no field (a padding bit carries nothing).
 * The built-in formats put every bit under some rule, so for them every single flip is refused.
 */
function expectedAfterFlip(
  format: WiegandFormat,
  value: CardFields,
  i: number,
): CardCandidate | 'refused' {
  if (parityCovered(format).has(i)) return 'refused';
  const { facility, card } = format.fields;
  const delta = (span: { start: number; length: number }, v: number) => {
    const weight = 2 ** (span.start + span.length - 1 - i);
    // The bit was 1 when the value has that power of two in it; flipping it subtracts it.
    return Math.floor(v / weight) % 2 === 1 ? v - weight : v + weight;
  };
  const inSpan = (span: { start: number; length: number } | undefined) =>
    span !== undefined && i >= span.start && i < span.start + span.length;
  return {
    formatId: format.id,
    ...(facility
      ? { facility: inSpan(facility) ? delta(facility, value.facility!) : value.facility! }
      : {}),
    card: inSpan(card) ? delta(card, value.card) : value.card,
  };
}

describe('a single flipped bit', () => {
  it('every bit of every built-in format is read by a parity rule', () => {
    for (const f of BUILTIN_FORMATS) {
      expect(parityCovered(f).size, f.id).toBe(f.bits);
    }
  });

  it.each(BUILTIN_FORMATS.map((f) => [f.id, f] as const))(
    '%s: is always refused as a parity error, whichever bit and whichever badge',
    (_id, format) => {
      fc.assert(
        fc.property(cardValue(format), fc.integer({ min: 0, max: format.bits - 1 }), (value, i) => {
          const result = decodeFrame(flip(encodeCard(format, value), i), registry);
          expect(result).toMatchObject({ ok: false, reason: 'parity_error' });
        }),
        { numRuns: 500 },
      );
    },
  );

  /**
   * Random site formats (what an installer may add in the site file): any length a card may
   * have, a card field, an optional facility field, spare bits, and parity rules over random bit
   * sets, ordered so each rule covers only parity bits computed before it.
   */
  const siteFormat: fc.Arbitrary<WiegandFormat> = fc
    .integer({ min: 9, max: 64 })
    .filter((bits) => !BUILTIN_LENGTHS.has(bits))
    .chain((bits) =>
      fc
        .record({
          cardLength: fc.integer({ min: 1, max: Math.min(40, bits - 1) }),
          facilityLength: fc.option(fc.integer({ min: 1, max: 16 }), { nil: undefined }),
        })
        .filter((l) => l.cardLength + (l.facilityLength ?? 0) <= bits)
        .chain(({ cardLength, facilityLength }) => {
          const used = cardLength + (facilityLength ?? 0);
          return fc.record({
            bits: fc.constant(bits),
            cardLength: fc.constant(cardLength),
            facilityLength: fc.constant(facilityLength),
            // Where the facility-then-card block starts; the bits around it are padding or parity.
            start: fc.integer({ min: 0, max: bits - used }),
            parityPicks: fc.array(fc.nat(), { maxLength: 3 }),
            covers: fc.array(fc.array(fc.boolean(), { minLength: bits, maxLength: bits }), {
              minLength: 3,
              maxLength: 3,
            }),
            kinds: fc.array(fc.constantFrom('even' as const, 'odd' as const), {
              minLength: 3,
              maxLength: 3,
            }),
          });
        }),
    )
    .map(({ bits, cardLength, facilityLength, start, parityPicks, covers, kinds }) => {
      const facility = facilityLength ? { start, length: facilityLength } : undefined;
      const card = { start: start + (facilityLength ?? 0), length: cardLength };
      const fieldEnd = card.start + card.length;
      // Parity bits go where no field is; picks index into that list, duplicates dropped.
      const outside = [...Array(bits).keys()].filter((i) => i < start || i >= fieldEnd);
      const parityBits = [
        ...new Set(outside.length ? parityPicks.map((p) => outside[p % outside.length]!) : []),
      ];
      const rules: ParityRule[] = parityBits.map((bit, r) => ({
        bit,
        kind: kinds[r]!,
        // Never itself, never the parity bit of a later rule (the encoder computes in order).
        over: [...Array(bits).keys()].filter(
          (i) => covers[r]![i] && i !== bit && !parityBits.slice(r + 1).includes(i),
        ),
      }));
      return {
        id: 'SITE',
        name: 'random site format',
        bits,
        fields: { ...(facility ? { facility } : {}), card },
        parity: rules.filter((rule) => rule.over.length > 0),
      } satisfies WiegandFormat;
    })
    .filter((f) => validateFormat(f).length === 0);

  it('on a random site format: refused exactly when a parity rule reads that bit, else read as the predicted credential', () => {
    fc.assert(
      fc.property(
        siteFormat.chain((format) =>
          fc.tuple(
            fc.constant(format),
            cardValue(format),
            fc.integer({ min: 0, max: format.bits - 1 }),
          ),
        ),
        ([format, value, i]) => {
          const reg = createFormatRegistry([format]);
          const frame = encodeCard(format, value);
          const original = decodeFrame(frame, reg);
          expect(original).toEqual({
            ok: true,
            bits: format.bits,
            candidates: [{ formatId: 'SITE', ...value }],
          });
          const result = decodeFrame(flip(frame, i), reg);
          const expected = expectedAfterFlip(format, value, i);
          if (expected === 'refused') {
            expect(result).toMatchObject({ ok: false, reason: 'parity_error' });
          } else {
            expect(result).toEqual({ ok: true, bits: format.bits, candidates: [expected] });
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('random edge bursts on D0/D1', () => {
  const EDGE_REASONS: readonly EdgeErrorReason[] = [
    'line_fault',
    'short_frame',
    'too_fast',
    'long_frame',
    'out_of_order',
  ];

  const edge = fc.record({
    line: fc.constantFrom('D0' as const, 'D1' as const),
    // From ringing (1 µs) through legal bit spacing to inter-frame silence, and time going back.
    dtUs: fc.oneof(
      fc.integer({ min: 0, max: 20 }),
      fc.integer({ min: 100, max: 3_000 }),
      fc.integer({ min: 20_000, max: 200_000 }),
      fc.integer({ min: -5_000, max: -1 }),
    ),
  });

  it('never throw; every frame is 4-128 bits of 0/1 and every fault has a typed reason', () => {
    fc.assert(
      fc.property(fc.array(edge, { maxLength: 400 }), (edges) => {
        const frames: { bits: string; meta: FrameMeta }[] = [];
        const errors: { reason: EdgeErrorReason; detail: string }[] = [];
        const decoder = createEdgeDecoder({
          onFrame: (bits, meta) => frames.push({ bits, meta }),
          onError: (reason, detail) => errors.push({ reason, detail }),
        });
        let t = 1_000_000;
        for (const e of edges) {
          t += e.dtUs;
          decoder.edge(e.line, t);
          decoder.idle(t);
        }
        decoder.flush();
        for (const f of frames) {
          expect(f.bits).toMatch(/^[01]{4,128}$/);
          expect(f.meta.endUs).toBeGreaterThanOrEqual(f.meta.startUs);
          // Whatever came off the wire, the decoder hands on something decodeFrame can judge.
          expectWellTyped(decodeFrame(f.bits, registry), f.bits, registry);
        }
        for (const e of errors) {
          expect(EDGE_REASONS).toContain(e.reason);
          expect(e.detail.length).toBeGreaterThan(0);
        }
        expect(decoder.stats()).toMatchObject({ frames: frames.length, errors: errors.length });
        decoder.dispose();
      }),
      { numRuns: 500 },
    );
  });

  it('a badge sent with any legal timing arrives as exactly its frame', () => {
    const format = fc.constantFrom(...BUILTIN_FORMATS);
    fc.assert(
      fc.property(
        format.chain((f) =>
          fc.tuple(
            fc.constant(f),
            cardValue(f),
            // One bit every 0.2-20 ms (REFERENCE.md), jitter per bit.
            fc.array(fc.integer({ min: 200, max: 20_000 }), {
              minLength: f.bits,
              maxLength: f.bits,
            }),
          ),
        ),
        ([f, value, intervals]) => {
          const frame = encodeCard(f, value);
          const frames: string[] = [];
          const errors: EdgeErrorReason[] = [];
          const decoder = createEdgeDecoder({
            onFrame: (bits) => frames.push(bits),
            onError: (reason) => errors.push(reason),
          });
          let t = 5_000_000;
          for (let i = 0; i < frame.length; i++) {
            t += intervals[i]!;
            decoder.edge(frame[i] === '1' ? 'D1' : 'D0', t);
          }
          // Not one microsecond of silence too soon: the frame closes only after the gap.
          expect(decoder.idle(t + decoder.gapUs())).toBe(false);
          expect(decoder.idle(t + decoder.gapUs() + 1)).toBe(true);
          expect(errors).toEqual([]);
          expect(frames).toEqual([frame]);
          const decoded = decodeFrame(frames[0]!, registry);
          expect(decoded.ok && decoded.candidates).toContainEqual({ formatId: f.id, ...value });
        },
      ),
      { numRuns: 300 },
    );
  });
});
