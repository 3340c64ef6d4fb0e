import type { Clock } from '../hardware/clock.ts';

/**
 * Brute-force brake for a door keypad. After `maxFailures` wrong PINs inside `windowMs` the
 * keypad locks for `lockMs`; each further lockout within a day doubles the lock (capped), so a
 * patient guesser gets a handful of tries a day instead of thousands.
 *
 * Arithmetic for a 6-digit code (10^6 values) with the defaults (5 wrong PINs per lockout, 5 min
 * doubling to a 24 h cap): lockouts last 5, 10, 20 … 1280 min, then 24 h; after the first day a
 * guesser gets ~5 tries a day, so with 20 live codes the chance of hitting one is 5·20/10^6 = 10^-4
 * per day. Without escalation it would be 5 tries every ~6 min: 1,200 a day, 2.4% a day.
 */
export interface KeypadGuardOptions {
  clock: Clock;
  maxFailures?: number;
  windowMs?: number;
  lockMs?: number;
  maxLockMs?: number;
}

export interface KeypadGuard {
  /** ms until the keypad of this reader accepts PINs again, or 0. */
  lockedForMs(readerId: string): number;
  /** Record a wrong PIN; returns the new lockout when this failure triggered one. */
  recordFailure(readerId: string): { lockedUntil: number; lockMs: number; level: number } | null;
  recordSuccess(readerId: string): void;
}

export function createKeypadGuard(opts: KeypadGuardOptions): KeypadGuard {
  const maxFailures = opts.maxFailures ?? 5;
  const windowMs = opts.windowMs ?? 60_000;
  const lockMs = opts.lockMs ?? 5 * 60_000;
  const maxLockMs = opts.maxLockMs ?? 24 * 3_600_000;
  const state = new Map<
    string,
    { failures: number[]; lockedUntil: number; level: number; lastLockAt: number }
  >();
  const get = (id: string) => {
    let s = state.get(id);
    if (!s) {
      s = { failures: [], lockedUntil: 0, level: 0, lastLockAt: 0 };
      state.set(id, s);
    }
    return s;
  };
  return {
    lockedForMs(readerId) {
      const s = state.get(readerId);
      if (!s) return 0;
      return Math.max(0, s.lockedUntil - opts.clock.now());
    },
    recordFailure(readerId) {
      const now = opts.clock.now();
      const s = get(readerId);
      s.failures = s.failures.filter((t) => t > now - windowMs);
      s.failures.push(now);
      if (s.failures.length < maxFailures) return null;
      // Escalation resets only after a quiet day without lockouts.
      if (now - s.lastLockAt > 24 * 3_600_000) s.level = 0;
      s.level += 1;
      const ms = Math.min(maxLockMs, lockMs * 2 ** (s.level - 1));
      s.lockedUntil = now + ms;
      s.lastLockAt = now;
      s.failures = [];
      return { lockedUntil: s.lockedUntil, lockMs: ms, level: s.level };
    },
    recordSuccess(readerId) {
      const s = state.get(readerId);
      if (s) s.failures = [];
    },
  };
}
