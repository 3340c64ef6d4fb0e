/**
 * Time for every rule that depends on it: grant windows, held-open timers, keypad timeouts,
 * loitering. Injected so tests move time by hand instead of sleeping, and so nothing counts frames.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export interface TimerHandle {
  readonly id: number;
}

export function systemClock(): Clock {
  let next = 1;
  const timers = new Map<number, NodeJS.Timeout>();
  return {
    now: () => Date.now(),
    setTimeout(fn, ms) {
      const id = next++;
      const t = setTimeout(() => {
        timers.delete(id);
        fn();
      }, ms);
      t.unref?.();
      timers.set(id, t);
      return { id };
    },
    clearTimeout(handle) {
      const t = timers.get(handle.id);
      if (t) clearTimeout(t);
      timers.delete(handle.id);
    },
  };
}

/** A clock that only moves when told to; timers fire in due order during `advance`. */
export interface ManualClock extends Clock {
  advance(ms: number): void;
  set(epochMs: number): void;
  pendingTimers(): number;
}

export function manualClock(startMs = Date.UTC(2026, 0, 1, 12, 0, 0)): ManualClock {
  let now = startMs;
  let next = 1;
  const timers = new Map<number, { due: number; fn: () => void }>();
  const runDue = (until: number) => {
    for (;;) {
      let first: [number, { due: number; fn: () => void }] | undefined;
      for (const entry of timers) {
        if (entry[1].due <= until && (!first || entry[1].due < first[1].due)) first = entry;
      }
      if (!first) break;
      timers.delete(first[0]);
      now = Math.max(now, first[1].due);
      first[1].fn();
    }
    now = until;
  };
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const id = next++;
      timers.set(id, { due: now + Math.max(0, ms), fn });
      return { id };
    },
    clearTimeout(handle) {
      timers.delete(handle.id);
    },
    advance(ms) {
      runDue(now + ms);
    },
    set(epochMs) {
      runDue(epochMs);
    },
    pendingTimers: () => timers.size,
  };
}
