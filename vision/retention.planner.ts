/**
 * Which recorded segments to delete, decided without touching the disk (the server deletes the
 * files and rows the plan names). Two rules, oldest first:
 *
 * - age: a segment that ended more than `maxAgeDays` ago goes;
 * - disk budget: while the segments kept add up to more than `maxBytes`, the oldest go.
 *
 * Neither rule deletes a segment that overlaps a protected window: a flag under review, an open
 * case, an export (exports and cases are kept outside retention). Overlap is judged on closed
 * intervals, so a segment that only touches a window at its edge is kept too: a clip of that
 * window may start at that segment's last keyframe. When protection keeps the total above the
 * budget, the plan says so (`budget.state: 'blocked_by_protection'`) instead of deleting evidence.
 *
 * A segment row that makes no sense (times not finite, end before start, negative size) is never
 * deleted; it is listed in `invalid` for someone to look at. An invalid option or protected
 * window throws a RangeError: better no plan than a wrong one.
 */

export interface RetentionSegment {
  path: string;
  /** When set, only windows of this camera (or of no camera) protect the segment. */
  cameraId?: string;
  startAt: number;
  endAt: number;
  bytes: number;
}

export type ProtectionKind = 'flag' | 'case' | 'export';

export interface ProtectedWindow {
  kind: ProtectionKind;
  id: string;
  /** Absent: protects every camera's segments in the window. */
  cameraId?: string;
  startAt: number;
  endAt: number;
}

export interface RetentionInput<S extends RetentionSegment> {
  segments: readonly S[];
  /** Server ms. */
  now: number;
  /** null or absent: no age limit. */
  maxAgeDays?: number | null;
  /** null or absent: no disk budget. */
  maxBytes?: number | null;
  protectedWindows: readonly ProtectedWindow[];
}

export interface RetentionDeletion<S extends RetentionSegment> {
  segment: S;
  reason: 'age' | 'budget';
}

export type BudgetOutcome =
  | { state: 'no_budget' }
  | { state: 'met' }
  /** Everything deletable is deleted and the rest is still over budget. */
  | {
      state: 'blocked_by_protection';
      /** How far over the budget the kept segments are. */
      overBytes: number;
      /** Bytes kept only because a protected window holds them. */
      protectedBytes: number;
      /** Bytes of invalid rows, which are never deleted. */
      invalidBytes: number;
    };

export interface RetentionPlan<S extends RetentionSegment> {
  /** Oldest first (by start, then end, then path). */
  delete: RetentionDeletion<S>[];
  totalBytes: number;
  freedBytes: number;
  keptBytes: number;
  budget: BudgetOutcome;
  /** Segments a rule would have deleted but a protected window kept. */
  protectedKept: number;
  invalid: { segment: S; reason: string }[];
}

const DAY_MS = 86_400_000;

function checkLimit(name: string, value: number | null | undefined): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`${name} must be a non-negative number or null, got ${String(value)}`);
  }
  return value;
}

function invalidReason(s: RetentionSegment): string | null {
  if (!Number.isFinite(s.startAt) || !Number.isFinite(s.endAt)) return 'start or end is not a time';
  if (s.endAt < s.startAt) return 'ends before it starts';
  if (!Number.isFinite(s.bytes) || s.bytes < 0) return 'size is not a byte count';
  return null;
}

/** Oldest first; ties broken so the order never depends on the input order. */
export function compareSegmentAge(a: RetentionSegment, b: RetentionSegment): number {
  return (
    a.startAt - b.startAt || a.endAt - b.endAt || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
  );
}

export function overlapsWindow(s: RetentionSegment, w: ProtectedWindow): boolean {
  const sameCamera =
    w.cameraId === undefined || s.cameraId === undefined || w.cameraId === s.cameraId;
  return sameCamera && s.startAt <= w.endAt && w.startAt <= s.endAt;
}

export function planRetention<S extends RetentionSegment>(
  input: RetentionInput<S>,
): RetentionPlan<S> {
  const { now, segments, protectedWindows } = input;
  if (typeof now !== 'number' || !Number.isFinite(now)) {
    throw new RangeError(`now must be a time in ms, got ${String(now)}`);
  }
  const maxAgeDays = checkLimit('maxAgeDays', input.maxAgeDays);
  const maxBytes = checkLimit('maxBytes', input.maxBytes);
  for (const w of protectedWindows) {
    if (!Number.isFinite(w.startAt) || !Number.isFinite(w.endAt) || w.endAt < w.startAt) {
      throw new RangeError(
        `protected ${w.kind} ${w.id} has no valid window (${w.startAt}..${w.endAt}); nothing is deleted until it is fixed`,
      );
    }
  }

  const invalid: { segment: S; reason: string }[] = [];
  const valid: S[] = [];
  for (const s of segments) {
    const reason = invalidReason(s);
    if (reason) invalid.push({ segment: s, reason });
    else valid.push(s);
  }
  valid.sort(compareSegmentAge);
  const isProtected = (s: S) => protectedWindows.some((w) => overlapsWindow(s, w));

  const invalidBytes = invalid.reduce(
    (sum, i) =>
      sum + (Number.isFinite(i.segment.bytes) && i.segment.bytes > 0 ? i.segment.bytes : 0),
    0,
  );
  const totalBytes = valid.reduce((sum, s) => sum + s.bytes, 0) + invalidBytes;
  const deleted = new Set<S>();
  const deletions: RetentionDeletion<S>[] = [];
  const keptByProtection = new Set<S>();
  let keptBytes = totalBytes;

  if (maxAgeDays !== null) {
    const horizon = now - maxAgeDays * DAY_MS;
    for (const s of valid) {
      if (!(s.endAt < horizon)) continue;
      if (isProtected(s)) {
        keptByProtection.add(s);
        continue;
      }
      deleted.add(s);
      deletions.push({ segment: s, reason: 'age' });
      keptBytes -= s.bytes;
    }
  }

  let budget: BudgetOutcome = { state: 'no_budget' };
  if (maxBytes !== null) {
    for (const s of valid) {
      if (keptBytes <= maxBytes) break;
      if (deleted.has(s)) continue;
      if (isProtected(s)) {
        keptByProtection.add(s);
        continue;
      }
      deleted.add(s);
      deletions.push({ segment: s, reason: 'budget' });
      keptBytes -= s.bytes;
    }
    if (keptBytes <= maxBytes) budget = { state: 'met' };
    else {
      const protectedBytes = valid
        .filter((s) => !deleted.has(s) && isProtected(s))
        .reduce((sum, s) => sum + s.bytes, 0);
      budget = {
        state: 'blocked_by_protection',
        overBytes: keptBytes - maxBytes,
        protectedBytes,
        invalidBytes,
      };
    }
  }

  deletions.sort((a, b) => compareSegmentAge(a.segment, b.segment));
  return {
    delete: deletions,
    totalBytes,
    freedBytes: totalBytes - keptBytes,
    keptBytes,
    budget,
    protectedKept: keptByProtection.size,
    invalid,
  };
}
