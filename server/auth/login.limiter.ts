import type { Clock } from '../../hardware/clock.ts';

/**
 * Brute-force brake for the login form: failures are counted per email and per client address in
 * a sliding window; past the limit every attempt is refused until the window has passed.
 */
export interface LoginLimiterOptions {
  clock: Clock;
  /** Failures per email inside the window before it locks. */
  maxPerEmail?: number;
  /** Failures per client address inside the window (covers spraying many emails). */
  maxPerAddress?: number;
  windowMs?: number;
}

export interface LoginLimiter {
  /** ms to wait, or 0 when an attempt may go ahead. */
  retryAfterMs(email: string, address: string): number;
  recordFailure(email: string, address: string): void;
  recordSuccess(email: string): void;
}

export function createLoginLimiter(opts: LoginLimiterOptions): LoginLimiter {
  const maxPerEmail = opts.maxPerEmail ?? 5;
  const maxPerAddress = opts.maxPerAddress ?? 20;
  const windowMs = opts.windowMs ?? 15 * 60_000;
  const failures = new Map<string, number[]>();

  const recent = (key: string): number[] => {
    const cutoff = opts.clock.now() - windowMs;
    const kept = (failures.get(key) ?? []).filter((t) => t > cutoff);
    if (kept.length) failures.set(key, kept);
    else failures.delete(key);
    return kept;
  };
  const wait = (key: string, max: number): number => {
    const list = recent(key);
    if (list.length < max) return 0;
    // Unlocks when the oldest failure that keeps it over the limit leaves the window.
    const oldest = list[list.length - max]!;
    return Math.max(1, oldest + windowMs - opts.clock.now());
  };
  const emailKey = (e: string) => `e:${e.trim().toLowerCase()}`;
  const addrKey = (a: string) => `a:${a}`;

  return {
    retryAfterMs: (email, address) =>
      Math.max(wait(emailKey(email), maxPerEmail), wait(addrKey(address), maxPerAddress)),
    recordFailure(email, address) {
      const now = opts.clock.now();
      for (const key of [emailKey(email), addrKey(address)]) {
        const list = recent(key);
        list.push(now);
        failures.set(key, list);
      }
    },
    recordSuccess(email) {
      failures.delete(emailKey(email));
    },
  };
}
