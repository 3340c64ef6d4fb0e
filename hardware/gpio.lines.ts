/**
 * What we say to libgpiod's command-line tools and how we read what they print. Pure functions,
 * no processes: `door.gpio.ts` spawns the tools, this file knows their two generations.
 *
 * libgpiod v1 (Debian 12 ships 1.6) and v2 (Debian 13 ships 2.1) differ in almost every flag:
 *
 * - gpiomon v1: `--line-buffered --format='%e %o %s %n' [--falling-edge] <chip> <offset>…`
 *   gpiomon v2: `--banner --format='%e %o %S' --edges=<falling|both> --chip <chip> <offset>…`
 * - gpioset v1: `--mode=signal <chip> <offset>=<v>` (holds the line until SIGTERM)
 *   gpioset v2: `--banner --chip <chip> <offset>=<v>` (holds the line by default)
 * - gpioget v1: `<chip> <offset>` prints `0`; v2: `--chip <chip> <offset>` prints `"22"=inactive`
 *
 * Notes from the tools' sources (read, not copied):
 * - v1 gpiomon writes events with stdio: into a pipe that is block-buffered, so events would sit
 *   in a 4 KiB buffer until it fills. `--line-buffered` (setlinebuf) is what makes a card read
 *   arrive when it happens. v2 gpiomon flushes after every batch by itself.
 * - v1 `%e` is 1 for rising and 0 for falling; v2 `%e` is 1 for rising and 2 for falling.
 * - v1 `%n` is the nanoseconds printed without zero padding (`12 5000` is 12.000005 s); v2 `%S` is
 *   `<s>.<9 digits>`. Both are split into integers before converting, because nanoseconds since
 *   the epoch (v1 on kernels before 5.7 stamps with CLOCK_REALTIME) do not fit in a double.
 * - v2 `%l` is the line *name* ("unnamed" when the board gives none, "GPIO17" on a Pi), not the
 *   offset, so it cannot tell D0 from D1 reliably; we print `%o`, the offset, in both versions.
 * - v2 `--banner` prints "Monitoring line …" (gpiomon) or "Setting line …" (gpioset) once the lines
 *   are requested from the kernel, and flushes it: a positive sign the tool holds the line. v1 has
 *   no such line; the driver uses a settle window instead (see door.gpio.ts).
 * - v2 `--interactive` (gpioset) is compiled in only when libgpiod is built with libedit, so it may
 *   be missing from a distribution's build: we restart gpioset for every change in both versions.
 * - Levels are physical (0 = low, 1 = high): we never pass `--active-low`, so the argv says what is
 *   on the wire, and active-low relays are handled by choosing the level (see `strikeLevel`).
 */

export type ToolVersion = 1 | 2;
export type EdgeKind = 'rising' | 'falling';
export type EdgeSelection = 'falling' | 'both';
export type Level = 0 | 1;

export interface ParsedVersion {
  major: number;
  minor: number;
  patch: number;
  /** The generation whose flags we use. */
  generation: ToolVersion;
}

/** First line of `gpiomon --version`: "gpiomon (libgpiod) v1.6.3" or "… v2.1.3". */
export function parseToolVersion(text: string): ParsedVersion | null {
  const m = /\(libgpiod\)\s+v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (!m) return null;
  const major = Number(m[1]);
  const minor = Number(m[2]);
  const patch = Number(m[3] ?? '0');
  if (major < 1) return null;
  return { major, minor, patch, generation: major === 1 ? 1 : 2 };
}

export function monitorArgs(
  v: ToolVersion,
  chip: string,
  lines: readonly number[],
  edges: EdgeSelection,
): string[] {
  const offsets = lines.map(String);
  if (v === 1) {
    return [
      '--line-buffered',
      '--format=%e %o %s %n',
      ...(edges === 'falling' ? ['--falling-edge'] : []),
      chip,
      ...offsets,
    ];
  }
  return ['--banner', '--format=%e %o %S', `--edges=${edges}`, '--chip', chip, ...offsets];
}

export function setArgs(v: ToolVersion, chip: string, line: number, level: Level): string[] {
  if (v === 1) return ['--mode=signal', chip, `${line}=${level}`];
  return ['--banner', '--chip', chip, `${line}=${level}`];
}

export function getArgs(v: ToolVersion, chip: string, line: number): string[] {
  if (v === 1) return [chip, String(line)];
  return ['--chip', chip, String(line)];
}

/** The physical level that puts the strike in `state`. */
export function strikeLevel(state: 'locked' | 'unlocked', activeLow: boolean): Level {
  const energised = state === 'unlocked';
  return energised !== activeLow ? 1 : 0;
}

export type MonitorLine =
  | { kind: 'edge'; edge: EdgeKind; offset: number; tUs: number }
  | { kind: 'banner' }
  | { kind: 'blank' }
  | { kind: 'unknown'; text: string };

const V1_EVENT = /^([01]) (\d+) (\d+) (\d+)$/;
const V2_EVENT = /^([12]) (\d+) (\d+)\.(\d{1,9})$/;

/** Seconds and nanoseconds (both as decimal strings) to whole microseconds, exactly. */
function toMicros(sec: string, nsec: number): number {
  return Number(sec) * 1_000_000 + Math.floor(nsec / 1000);
}

/** One line of gpiomon output in the format `monitorArgs` asked for. */
export function parseMonitorLine(v: ToolVersion, raw: string): MonitorLine {
  const text = raw.trim();
  if (text === '') return { kind: 'blank' };
  if (v === 1) {
    const m = V1_EVENT.exec(text);
    if (m) {
      const nsec = Number(m[4]);
      if (nsec < 1_000_000_000) {
        return {
          kind: 'edge',
          edge: m[1] === '1' ? 'rising' : 'falling',
          offset: Number(m[2]),
          tUs: toMicros(m[3] as string, nsec),
        };
      }
    }
    return { kind: 'unknown', text };
  }
  if (text.startsWith('Monitoring line')) return { kind: 'banner' };
  const m = V2_EVENT.exec(text);
  if (m) {
    return {
      kind: 'edge',
      edge: m[1] === '1' ? 'rising' : 'falling',
      offset: Number(m[2]),
      tUs: toMicros(m[3] as string, Number((m[4] as string).padEnd(9, '0'))),
    };
  }
  return { kind: 'unknown', text };
}

/** v2 gpioset's `--banner` line: "Setting line '17'...". */
export function isSetterBanner(raw: string): boolean {
  return raw.trim().startsWith('Setting line');
}

/**
 * The level `gpioget` printed for one line: v1 prints `0`/`1`; v2 prints `"17"=active` (or
 * `17=inactive` with --unquoted, or `1` with --numeric). Without `--active-low`, active is high.
 */
export function parseGetOutput(text: string): Level | null {
  const t = text.trim();
  if (t === '0' || t === '1') return t === '1' ? 1 : 0;
  const m = /^(?:"[^"]*"|\S+)=(active|inactive)$/.exec(t);
  if (m) return m[1] === 'active' ? 1 : 0;
  return null;
}
