import { describe, expect, it } from 'vitest';
import { manualClock } from '../../hardware/clock.ts';
import { memoryLogger } from '../log/logger.ts';
import { createNoticeBatcher, type NoticeBatch } from './notice.batcher.ts';

function setup(opts: { quietMs?: number; maxWaitMs?: number } = {}) {
  const clock = manualClock(0);
  const log = memoryLogger();
  const batches: (NoticeBatch<string> & { sentAt: number })[] = [];
  const batcher = createNoticeBatcher<string>({
    clock,
    log,
    onBatch: (b) => batches.push({ ...b, sentAt: clock.now() }),
    ...opts,
  });
  return { clock, log, batches, batcher };
}

describe('notice batcher', () => {
  it('sends one batch per resident, quietMs after the last parcel', () => {
    const { clock, batches, batcher } = setup();
    batcher.add('r1', 'p1');
    clock.advance(10_000);
    batcher.add('r1', 'p2');
    clock.advance(20_000);
    batcher.add('r1', 'p3');
    expect(batcher.pending()).toEqual([{ residentKey: 'r1', count: 3, dueAt: 90_000 }]);
    clock.advance(59_999);
    expect(batches).toEqual([]);
    clock.advance(1);
    expect(batches).toEqual([
      {
        residentKey: 'r1',
        parcels: ['p1', 'p2', 'p3'],
        firstAt: 0,
        lastAt: 30_000,
        reason: 'quiet',
        sentAt: 90_000,
      },
    ]);
    expect(clock.pendingTimers()).toBe(0);
    expect(batcher.pending()).toEqual([]);
  });

  it('keeps residents apart', () => {
    const { clock, batches, batcher } = setup({ quietMs: 1_000 });
    batcher.add('r1', 'a');
    clock.advance(500);
    batcher.add('r2', 'b');
    batcher.add('r1', 'c');
    clock.advance(500);
    batcher.add('r2', 'd');
    clock.advance(1_000);
    expect(batches.map((b) => [b.residentKey, b.parcels, b.sentAt])).toEqual([
      ['r1', ['a', 'c'], 1_500],
      ['r2', ['b', 'd'], 2_000],
    ]);
  });

  it('flush sends every open batch at once and leaves no timer behind', () => {
    const { clock, batches, batcher } = setup();
    batcher.add('r1', 'a');
    batcher.add('r2', 'b');
    batcher.add('r1', 'c');
    clock.advance(5_000);
    expect(batcher.flush()).toBe(2);
    expect(batches.map((b) => [b.residentKey, b.parcels, b.reason, b.sentAt])).toEqual([
      ['r1', ['a', 'c'], 'flush', 5_000],
      ['r2', ['b'], 'flush', 5_000],
    ]);
    expect(clock.pendingTimers()).toBe(0);
    clock.advance(3_600_000);
    expect(batches).toHaveLength(2);
    expect(batcher.flush()).toBe(0);
  });

  it('flush of one resident leaves the others waiting', () => {
    const { clock, batches, batcher } = setup({ quietMs: 1_000 });
    batcher.add('r1', 'a');
    batcher.add('r2', 'b');
    expect(batcher.flush('r2')).toBe(1);
    expect(batcher.flush('nobody')).toBe(0);
    expect(batches.map((b) => b.residentKey)).toEqual(['r2']);
    clock.advance(1_000);
    expect(batches.map((b) => [b.residentKey, b.reason])).toEqual([
      ['r2', 'flush'],
      ['r1', 'quiet'],
    ]);
  });

  it('caps the wait at maxWaitMs from the first parcel', () => {
    const { clock, batches, batcher } = setup({ quietMs: 60_000, maxWaitMs: 300_000 });
    for (let i = 0; i < 10; i++) {
      batcher.add('r1', `p${i}`);
      clock.advance(50_000);
    }
    // Parcels at 0, 50 s, ..., 250 s fit; the batch closes at 300 s despite the trickle.
    expect(batches).toHaveLength(1);
    expect(batches[0]).toMatchObject({ reason: 'max-wait', sentAt: 300_000 });
    expect(batches[0]?.parcels).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5']);
    // What came after starts a new batch.
    expect(batcher.pending()).toEqual([{ residentKey: 'r1', count: 4, dueAt: 510_000 }]);
  });

  it('a parcel added from inside the handler starts a fresh batch', () => {
    const clock = manualClock(0);
    const seen: string[][] = [];
    const batcher = createNoticeBatcher<string>({
      clock,
      log: memoryLogger(),
      quietMs: 100,
      onBatch: (b) => {
        seen.push(b.parcels);
        if (seen.length === 1) batcher.add(b.residentKey, 'late');
      },
    });
    batcher.add('r1', 'a');
    clock.advance(100);
    clock.advance(100);
    expect(seen).toEqual([['a'], ['late']]);
  });

  it('a failing handler is logged and does not stop other batches', () => {
    const clock = manualClock(0);
    const log = memoryLogger();
    const sent: string[] = [];
    const batcher = createNoticeBatcher<string>({
      clock,
      log,
      quietMs: 100,
      onBatch: (b) => {
        if (b.residentKey === 'bad') throw new Error('resident vanished');
        sent.push(b.residentKey);
      },
    });
    batcher.add('bad', 'a');
    batcher.add('good', 'b');
    clock.advance(100);
    expect(sent).toEqual(['good']);
    expect(log.records).toContainEqual(
      expect.objectContaining({
        level: 'error',
        msg: 'notice batch handler failed',
        residentKey: 'bad',
      }),
    );
  });

  it('close cancels timers, hands back unsent batches and refuses new parcels', () => {
    const { clock, batches, batcher } = setup();
    batcher.add('r1', 'a');
    batcher.add('r1', 'b');
    expect(batcher.close()).toEqual([
      { residentKey: 'r1', parcels: ['a', 'b'], firstAt: 0, lastAt: 0 },
    ]);
    expect(clock.pendingTimers()).toBe(0);
    clock.advance(120_000);
    expect(batches).toEqual([]);
    expect(() => batcher.add('r1', 'c')).toThrow(/closed/);
  });
});
