/** Small helpers shared by the benchmarks: percentiles, rounding, and a plain-text table. */

export const round = (n: number, digits = 2): number =>
  Number.isFinite(n) ? Math.round(n * 10 ** digits) / 10 ** digits : n;

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One turn of the event loop, so I/O callbacks (journal fsyncs, database replies) can run. */
export const yieldToLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((sorted.length * p) / 100);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** p50/p90/p99/max/mean of a list of samples (any unit), rounded to 3 decimals. */
export function summarize(samples: readonly number[]): Summary {
  const s = [...samples].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / (s.length || 1);
  return {
    n: s.length,
    p50: round(percentile(s, 50), 3),
    p90: round(percentile(s, 90), 3),
    p99: round(percentile(s, 99), 3),
    max: round(s[s.length - 1] ?? NaN, 3),
    mean: round(s.length ? mean : NaN, 3),
  };
}

export type Cell = string | number | null | undefined;

/** Left-aligned label columns (`leftColumns`, default 1), right-aligned numbers, a rule. */
export function formatTable(
  title: string,
  header: readonly string[],
  rows: readonly Cell[][],
  leftColumns = 1,
) {
  const text = (c: Cell) =>
    c === null || c === undefined ? '—' : typeof c === 'number' ? formatNumber(c) : c;
  const cells = [header.map(String), ...rows.map((r) => r.map(text))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i < leftColumns ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [
    title,
    line(cells[0]!),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...cells.slice(1).map(line),
  ];
  return out.join('\n');
}

function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  const abs = Math.abs(n);
  return n.toFixed(abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3);
}
