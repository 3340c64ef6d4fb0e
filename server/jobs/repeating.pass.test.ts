import { describe, expect, it } from 'vitest';
import { manualClock } from '../../hardware/clock.ts';
import { createRepeatingPass } from './repeating.pass.ts';

/** Lets the promise chain after a pass (error report, next delay, next timer) run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('a repeating pass', () => {
  it('runs on the timer, times the next pass from the end of the last, and stops', async () => {
    const clock = manualClock();
    const ran: number[] = [];
    const job = createRepeatingPass({
      clock,
      pass: () => Promise.resolve(ran.push(clock.now())),
      nextDelayMs: () => 5_000,
      firstDelayMs: 1_000,
      onError: () => expect.unreachable(),
    });
    job.start();
    job.start(); // a second start does not start a second loop
    expect(clock.pendingTimers()).toBe(1);
    clock.advance(1_000);
    await settle();
    clock.advance(5_000);
    await settle();
    expect(ran).toHaveLength(2);
    expect(ran[1]! - ran[0]!).toBe(5_000);
    job.stop();
    expect(clock.pendingTimers()).toBe(0);
    clock.advance(60_000);
    await settle();
    expect(ran).toHaveLength(2);
  });

  it('shares a running pass with a second caller instead of overlapping it', async () => {
    let release!: () => void;
    let passes = 0;
    const job = createRepeatingPass({
      clock: manualClock(),
      pass: () => {
        passes++;
        return new Promise<number>((resolve) => (release = () => resolve(passes)));
      },
      nextDelayMs: () => 1_000,
      onError: () => expect.unreachable(),
    });
    const a = job.runOnce();
    const b = job.runOnce();
    expect(job.current()).toBe(a);
    release();
    expect(await a).toBe(1);
    expect(await b).toBe(1);
    expect(job.current()).toBeUndefined();
    // Once a pass has ended, the next call starts a new one.
    const c = job.runOnce();
    release();
    expect(await c).toBe(2);
  });

  it('reports a failed pass and keeps the timer going', async () => {
    const clock = manualClock();
    const errors: unknown[] = [];
    let calls = 0;
    const job = createRepeatingPass({
      clock,
      pass: () => (++calls === 1 ? Promise.reject(new Error('db down')) : Promise.resolve(calls)),
      nextDelayMs: () => Promise.resolve(2_000),
      onError: (err) => errors.push(err),
    });
    job.start();
    await settle();
    clock.advance(2_000);
    await settle();
    expect(errors).toEqual([new Error('db down')]);
    expect(clock.pendingTimers()).toBe(1);
    clock.advance(2_000);
    await settle();
    expect(calls).toBe(2);
    job.stop();
  });
});
