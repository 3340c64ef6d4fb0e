import type { Clock, TimerHandle } from '../../hardware/clock.ts';

/** A background job that runs one pass at a time, on a timer and on demand. */
export interface RepeatingPass<T> {
  start(): void;
  stop(): void;
  /** One pass now; a caller while a pass runs shares that pass instead of starting another. */
  runOnce(): Promise<T>;
  /** The pass in progress, if any (a stop that must wait for it awaits this). */
  current(): Promise<T> | undefined;
}

/**
 * The loop the reminder, overdue-webhook and move-out jobs share. Passes never overlap: two
 * overlapping passes would remind a resident twice or announce a parcel twice. The next pass is
 * timed from the end of the last one, so a slow database never piles passes up, and a failed
 * pass is logged by `onError` and the timer keeps going (the next pass retries).
 */
export function createRepeatingPass<T>(deps: {
  /** Paces the passes. */
  clock: Pick<Clock, 'setTimeout' | 'clearTimeout'>;
  pass: () => Promise<T>;
  /** The wait before the next pass, asked after each one; must not reject. */
  nextDelayMs: () => number | Promise<number>;
  /** The wait before the first pass after `start()` (default: `nextDelayMs()`'s). */
  firstDelayMs?: number;
  onError: (err: unknown) => void;
}): RepeatingPass<T> {
  let timer: TimerHandle | undefined;
  let stopped = true;
  let running: Promise<T> | undefined;

  const runOnce = () => {
    running ??= deps.pass().finally(() => {
      running = undefined;
    });
    return running;
  };

  const schedule = (ms: number) => {
    if (stopped) return;
    timer = deps.clock.setTimeout(() => {
      timer = undefined;
      void runOnce()
        .catch(deps.onError)
        .then(() => deps.nextDelayMs())
        .then(schedule);
    }, ms);
  };

  return {
    start() {
      if (!stopped) return;
      stopped = false;
      const first = deps.firstDelayMs ?? deps.nextDelayMs();
      if (typeof first === 'number') schedule(first);
      else void first.then(schedule);
    },
    stop() {
      stopped = true;
      if (timer) deps.clock.clearTimeout(timer);
      timer = undefined;
    },
    runOnce,
    current: () => running,
  };
}
