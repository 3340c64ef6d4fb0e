import { describe, expect, it } from 'vitest';
import { manualClock } from './clock.ts';

describe('manual clock', () => {
  it('fires timers in due order, at their due time, only when advanced', () => {
    const clock = manualClock(1000);
    const fired: [string, number][] = [];
    clock.setTimeout(() => fired.push(['b', clock.now()]), 200);
    clock.setTimeout(() => fired.push(['a', clock.now()]), 100);
    const c = clock.setTimeout(() => fired.push(['c', clock.now()]), 150);
    clock.clearTimeout(c);
    expect(fired).toEqual([]);
    clock.advance(150);
    expect(fired).toEqual([['a', 1100]]);
    clock.advance(1000);
    expect(fired).toEqual([
      ['a', 1100],
      ['b', 1200],
    ]);
    expect(clock.now()).toBe(2150);
    expect(clock.pendingTimers()).toBe(0);
  });

  it('runs timers scheduled by timers within the same advance', () => {
    const clock = manualClock(0);
    const fired: number[] = [];
    clock.setTimeout(() => {
      fired.push(clock.now());
      clock.setTimeout(() => fired.push(clock.now()), 50);
    }, 50);
    clock.advance(100);
    expect(fired).toEqual([50, 100]);
  });
});
