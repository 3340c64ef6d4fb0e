import { describe, expect, it } from 'vitest';
import { manualClock } from '../hardware/clock.ts';
import { decodeKeyBurst } from './keypad.decoder.ts';
import { decodeFrame } from './wiegand.decoder.ts';
import {
  createEdgeDecoder,
  type EdgeDecoderOptions,
  type EdgeErrorReason,
  type FrameMeta,
  type WiegandLine,
} from './wiegand.edges.ts';
import { createFormatRegistry, encodeCard } from './wiegand.formats.ts';

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

type Edge = readonly [WiegandLine, number];

const registry = createFormatRegistry();
const format = (id: string) => registry.get(id)!;

/**
 * Falling edges a reader produces for `bits`, one every `periodUs` (pulse width does not show in
 * falling-edge timestamps). `jitter` returns a per-bit offset in µs.
 */
function edgesFor(bits: string, t0: number, periodUs: number, jitter = (_i: number) => 0): Edge[] {
  return [...bits].map((b, i) => [b === '1' ? 'D1' : 'D0', t0 + i * periodUs + jitter(i)] as const);
}

function harness(options: Partial<EdgeDecoderOptions> = {}) {
  const frames: { bits: string; meta: FrameMeta }[] = [];
  const errors: { reason: EdgeErrorReason; detail: string }[] = [];
  const decoder = createEdgeDecoder({
    ...options,
    onFrame: (bits, meta) => frames.push({ bits, meta }),
    onError: (reason, detail) => errors.push({ reason, detail }),
  });
  const feed = (edges: readonly Edge[]) => {
    for (const [line, t] of edges) decoder.edge(line, t);
  };
  return { decoder, frames, errors, feed };
}

const last = (edges: readonly Edge[]) => edges.at(-1)![1];

describe('device timings from REFERENCE.md', () => {
  it('Nedap uPASS style, 50 µs pulses every 1 ms: H10301', () => {
    const frame = encodeCard(format('H10301'), { facility: 123, card: 4567 });
    const edges = edgesFor(frame, 1_000_000, 1000);
    const { decoder, frames, errors, feed } = harness();
    feed(edges);
    // Silence must be *longer* than the 25 ms floor.
    expect(decoder.idle(last(edges) + 25_000)).toBe(false);
    expect(frames).toHaveLength(0);
    expect(decoder.idle(last(edges) + 25_001)).toBe(true);
    expect(errors).toEqual([]);
    expect(frames).toEqual([
      {
        bits: frame,
        meta: {
          startUs: 1_000_000,
          endUs: 1_025_000,
          glitches: 0,
          minIntervalUs: 1000,
          maxIntervalUs: 1000,
        },
      },
    ]);
    expect(decodeFrame(frames[0]!.bits, registry)).toMatchObject({
      ok: true,
      candidates: [{ formatId: 'H10301', facility: 123, card: 4567 }],
    });
  });

  it('RF Solutions style, 50 µs every 2 ms: Corporate 1000', () => {
    const frame = encodeCard(format('C1000-35'), { facility: 3001, card: 987654 });
    const edges = edgesFor(frame, 5_000, 2000);
    const { decoder, frames, feed } = harness();
    feed(edges);
    decoder.idle(last(edges) + 30_000);
    expect(frames.map((f) => decodeFrame(f.bits, registry))).toMatchObject([
      { ok: true, candidates: [{ formatId: 'C1000-35', facility: 3001, card: 987654 }] },
    ]);
  });

  it('Seeed style, 160 µs pulses every 880 µs: H10304 (both 37-bit readings)', () => {
    const frame = encodeCard(format('H10304'), { facility: 40000, card: 500000 });
    const edges = edgesFor(frame, 0, 880);
    const { decoder, frames, feed } = harness();
    feed(edges);
    decoder.idle(last(edges) + 25_001);
    const result = decodeFrame(frames[0]!.bits, registry);
    expect(result.ok && result.candidates).toContainEqual({
      formatId: 'H10304',
      facility: 40000,
      card: 500000,
    });
  });

  it('slowest legal reader, one bit every 20 ms: never split by polling', () => {
    const frame = encodeCard(format('H10306'), { facility: 65535, card: 1 });
    const edges = edgesFor(frame, 10_000, 20_000);
    const { decoder, frames, errors } = harness();
    // Before the second bit the rate is unknown: the 25 ms floor must cover a 20 ms interval.
    decoder.edge(edges[0]![0], edges[0]![1]);
    expect(decoder.idle(edges[0]![1] + 20_000)).toBe(false);
    // Feed the rest with an idle poll every millisecond in between, as an edge loop would.
    for (const [line, t] of edges.slice(1)) {
      for (let now = t - 19_000; now < t; now += 1000) decoder.idle(now);
      decoder.edge(line, t);
    }
    expect(decoder.gapUs()).toBe(60_000);
    expect(decoder.idle(last(edges) + 59_999)).toBe(false);
    expect(frames).toHaveLength(0);
    expect(decoder.idle(last(edges) + 60_001)).toBe(true);
    expect(errors).toEqual([]);
    expect(frames.map((f) => f.bits)).toEqual([frame]);
    expect(frames[0]!.meta.maxIntervalUs).toBe(20_000);
  });
});

describe('recorded-style sequences', () => {
  it('a 4-bit key press with uneven timestamps', () => {
    // Key 5 (0101) from a Seeed-type keypad, kernel timestamps as logged.
    const edges: Edge[] = [
      ['D0', 1_204_311],
      ['D1', 1_205_190],
      ['D0', 1_206_072],
      ['D1', 1_206_951],
    ];
    const { decoder, frames, feed } = harness();
    feed(edges);
    decoder.idle(1_240_000);
    expect(frames.map((f) => f.bits)).toEqual(['0101']);
    expect(frames[0]!.meta).toEqual({
      startUs: 1_204_311,
      endUs: 1_206_951,
      glitches: 0,
      minIntervalUs: 879,
      maxIntervalUs: 882,
    });
    expect(decodeKeyBurst(frames[0]!.bits)).toEqual({ ok: true, key: '5', mode: '4bit' });
  });

  it('an 8-bit # with ringing on two edges', () => {
    // # = 0100 1011, 1 ms apart, with a second falling edge 3 µs and 7 µs after two real ones.
    const edges: Edge[] = [
      ['D0', 500_000],
      ['D1', 501_002],
      ['D1', 501_005],
      ['D0', 501_998],
      ['D0', 503_001],
      ['D1', 504_000],
      ['D0', 504_999],
      ['D0', 505_006],
      ['D1', 506_003],
      ['D1', 507_001],
    ];
    const { decoder, frames, errors, feed } = harness();
    feed(edges);
    decoder.idle(540_000);
    expect(errors).toEqual([]);
    expect(frames.map((f) => [f.bits, f.meta.glitches])).toEqual([['01001011', 2]]);
    expect(decodeKeyBurst(frames[0]!.bits)).toMatchObject({ ok: true, key: '#' });
    expect(decoder.stats()).toEqual({ frames: 1, errors: 0, glitches: 2 });
  });
});

describe('jitter, glitches and back-to-back frames (seeded)', () => {
  const profiles = [
    { name: '50 µs / 1 ms', period: 1000 },
    { name: '50 µs / 2 ms', period: 2000 },
    { name: '160 µs / 880 µs', period: 880 },
    { name: '20 ms', period: 20_000 },
  ];
  const ids = ['H10301', 'H10306', 'C1000-35', 'H10302', 'H10304'];

  it.each(profiles)('$name: 60 frames with ±20 % interval jitter and ringing', ({ period }) => {
    const rnd = seeded(period);
    const expected: string[] = [];
    const edges: Edge[] = [];
    let t = 1_000_000;
    let ringing = 0;
    for (let n = 0; n < 60; n++) {
      const f = format(ids[n % ids.length]!);
      const frame = encodeCard(f, {
        ...(f.fields.facility
          ? { facility: Math.floor(rnd() * 2 ** f.fields.facility.length) }
          : {}),
        card: Math.floor(rnd() * 2 ** Math.min(f.fields.card.length, 32)),
      });
      expected.push(frame);
      // Jitter each edge independently by up to 10 % of the period either way, so intervals
      // range 80-120 % of nominal: a 20 ms reader's first interval can reach 24 ms, just under
      // the 25 ms floor that covers it before its rate is known.
      const frameEdges = edgesFor(frame, t, period, () => Math.round((rnd() - 0.5) * 0.2 * period));
      for (const e of frameEdges) {
        edges.push(e);
        if (rnd() < 0.1) {
          // Ringing: the same line falls again a few µs later.
          edges.push([e[0], e[1] + 1 + Math.floor(rnd() * 9)]);
          ringing++;
        }
      }
      // Next frame after a silence comfortably over the adaptive gap (3 × the longest interval).
      t = last(edges) + Math.max(30_000, 5 * period) + Math.floor(rnd() * 200_000);
    }
    const { decoder, frames, errors, feed } = harness();
    feed(edges);
    decoder.idle(last(edges) + 200_000);
    expect(errors).toEqual([]);
    expect(frames.map((f) => f.bits)).toEqual(expected);
    expect(frames.reduce((sum, f) => sum + f.meta.glitches, 0)).toBe(ringing);
    expect(decoder.stats()).toEqual({ frames: 60, errors: 0, glitches: ringing });
  });

  it('closes a frame when the next one starts, without an idle call', () => {
    const a = encodeCard(format('H10301'), { facility: 1, card: 2 });
    const b = encodeCard(format('H10301'), { facility: 3, card: 4 });
    const first = edgesFor(a, 0, 1000);
    const { frames, feed } = harness();
    feed(first);
    feed(edgesFor(b, last(first) + 30_000, 1000));
    expect(frames.map((f) => f.bits)).toEqual([a]);
  });

  it('splits a reader slower than the spec on its first interval, and fails closed', () => {
    // 30 ms between the first two bits is beyond the 20 ms maximum and the 25 ms floor: the lone
    // first bit is noise and the remaining 25 bits match no format. Nothing decodes wrongly.
    const frame = encodeCard(format('H10301'), { facility: 77, card: 7777 });
    const edges = edgesFor(frame, 0, 1000, (i) => (i === 0 ? -29_000 : 0));
    const { decoder, frames, errors, feed } = harness();
    feed(edges);
    decoder.flush();
    expect(errors.map((e) => e.reason)).toEqual(['short_frame']);
    expect(frames.map((f) => decodeFrame(f.bits, registry))).toMatchObject([
      { ok: false, reason: 'unknown_format', bits: 25 },
    ]);
  });

  it('merges frames closer than the 25 ms floor (documented limit)', () => {
    const a = encodeCard(format('H10301'), { facility: 1, card: 2 });
    const first = edgesFor(a, 0, 1000);
    const { decoder, frames, feed } = harness();
    feed(first);
    feed(edgesFor(a, last(first) + 20_000, 1000));
    decoder.flush();
    expect(frames.map((f) => f.bits.length)).toEqual([52]);
    expect(decodeFrame(frames[0]!.bits, registry)).toMatchObject({ reason: 'unknown_format' });
  });
});

describe('faults', () => {
  it('reports both lines falling together as a line fault and drops the whole burst', () => {
    const frame = encodeCard(format('H10301'), { facility: 9, card: 9 });
    const edges = edgesFor(frame, 0, 1000);
    const { decoder, frames, errors, feed } = harness();
    feed(edges.slice(0, 10));
    const t = edges[9]![1];
    decoder.edge(edges[9]![0] === 'D0' ? 'D1' : 'D0', t + 2);
    feed(edges.slice(10));
    decoder.idle(last(edges) + 25_001);
    expect(errors.map((e) => e.reason)).toEqual(['line_fault']);
    expect(errors[0]!.detail).toMatch(/2 µs apart/);
    // Neither the head nor the tail of the broken frame comes out as a frame.
    expect(frames).toEqual([]);
    // The next read after the gap is fine.
    const again = edgesFor(frame, last(edges) + 100_000, 1000);
    feed(again);
    decoder.idle(last(again) + 25_001);
    expect(frames.map((f) => f.bits)).toEqual([frame]);
  });

  it('refuses edges sooner than the minimum interval, on either line', () => {
    for (const line of ['D0', 'D1'] as const) {
      const { decoder, frames, errors, feed } = harness();
      feed(edgesFor('0110', 0, 1000));
      decoder.edge(line, 3000 + 60);
      decoder.idle(100_000);
      expect(frames).toEqual([]);
      expect(errors.map((e) => e.reason)).toEqual(['too_fast']);
    }
  });

  it('accepts intervals just above the minimum', () => {
    const { decoder, frames, errors, feed } = harness();
    feed(edgesFor('10110', 0, 150));
    decoder.idle(100_000);
    expect(errors).toEqual([]);
    expect(frames.map((f) => f.bits)).toEqual(['10110']);
  });

  it('treats fewer than 4 bits as noise', () => {
    const { decoder, frames, errors, feed } = harness();
    feed([['D1', 0]]);
    decoder.idle(30_000);
    feed(edgesFor('011', 100_000, 1000));
    decoder.idle(200_000);
    feed(edgesFor('0111', 300_000, 1000));
    decoder.idle(400_000);
    expect(errors.map((e) => e.reason)).toEqual(['short_frame', 'short_frame']);
    expect(frames.map((f) => f.bits)).toEqual(['0111']);
  });

  it('gives up on an endless burst', () => {
    const { decoder, frames, errors, feed } = harness({ maxBits: 40 });
    feed(edgesFor('1'.repeat(60), 0, 1000));
    decoder.idle(200_000);
    expect(frames).toEqual([]);
    expect(errors.map((e) => e.reason)).toEqual(['long_frame']);
  });

  it('refuses timestamps that go backwards', () => {
    const { decoder, frames, errors, feed } = harness();
    feed(edgesFor('0101', 10_000, 1000));
    decoder.edge('D1', 12_500);
    decoder.idle(100_000);
    expect(frames).toEqual([]);
    expect(errors.map((e) => e.reason)).toEqual(['out_of_order']);
  });

  it('refuses bad input and bad options', () => {
    const { decoder } = harness();
    expect(() => decoder.edge('D2' as WiegandLine, 0)).toThrow(TypeError);
    expect(() => decoder.edge('D0', Number.NaN)).toThrow(RangeError);
    expect(() => harness({ glitchUs: 200 })).toThrow(/glitchUs/);
    expect(() => harness({ endOfFrameGapUs: 100 })).toThrow(/endOfFrameGapUs/);
    expect(() => harness({ minIntervalUs: -1 })).toThrow(RangeError);
  });
});

describe('closing frames', () => {
  it('flush closes at once; idle with nothing pending does nothing', () => {
    const { decoder, frames, feed } = harness();
    expect(decoder.idle(1e9)).toBe(false);
    expect(decoder.flush()).toBe(false);
    feed(edgesFor('1001', 0, 1000));
    expect(decoder.flush()).toBe(true);
    expect(frames.map((f) => f.bits)).toEqual(['1001']);
  });

  it('closes by itself on the injected clock when no one polls', () => {
    const clock = manualClock();
    const { decoder, frames } = harness({ clock });
    const frame = encodeCard(format('H10301'), { facility: 200, card: 60000 });
    let t = 0;
    for (const b of frame) {
      decoder.edge(b === '1' ? 'D1' : 'D0', t);
      t += 2000;
      clock.advance(2);
    }
    expect(clock.pendingTimers()).toBe(1);
    clock.advance(20);
    expect(frames).toHaveLength(0);
    clock.advance(10);
    expect(frames.map((f) => f.bits)).toEqual([frame]);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('the clock backstop does not split a slow reader', () => {
    const clock = manualClock();
    const { decoder, frames, errors } = harness({ clock });
    const frame = encodeCard(format('H10301'), { facility: 5, card: 6 });
    [...frame].forEach((b, i) => {
      if (i > 0) clock.advance(20);
      decoder.edge(b === '1' ? 'D1' : 'D0', i * 20_000);
    });
    clock.advance(60);
    expect(frames).toHaveLength(0);
    clock.advance(2);
    expect(errors).toEqual([]);
    expect(frames.map((f) => f.bits)).toEqual([frame]);
  });

  it('dispose cancels the backstop timer', () => {
    const clock = manualClock();
    const { decoder, frames } = harness({ clock });
    decoder.edge('D0', 0);
    decoder.dispose();
    expect(clock.pendingTimers()).toBe(0);
    clock.advance(1000);
    expect(frames).toEqual([]);
  });
});
