/**
 * Runs ffmpeg as a child process for the recorder and the clip builder: one place that knows how
 * to start it, read its output line by line, keep the end of its log for the staff-facing reason,
 * and stop it without leaving a half-written file or a stuck process behind.
 *
 * Stopping. SIGTERM makes ffmpeg finish the file it is writing (trailer, segment list entry) and
 * exit. It does not interrupt a read that is already blocked: once ffmpeg is past start-up, its
 * interrupt callback only fires on the *second* signal, and that second signal would also abort
 * the trailer writes. A dead camera therefore holds ffmpeg until the RTSP socket timeout ends the
 * read, which is why `killAfterMs` (SIGKILL) defaults to a bit more than `rtspTimeoutMs`: a clean
 * exit gets its chance, a wedged one is killed. SIGTERM rather than 'q' on stdin: ffmpeg reads
 * keys only between packets, so 'q' waits behind the same blocked read and needs a stdin pipe.
 *
 * RTSP socket timeout. Without one, ffmpeg waits forever on a camera that vanished without
 * closing the connection (power cut, cable pulled). The option is `-timeout` (µs) from ffmpeg 5,
 * but `-stimeout` in 4.x, where `-timeout` means "listen as a server" and would break the read;
 * `locateFfmpeg()` says which. The runner adds it to every rtsp:// input, so no caller can forget.
 */
import { spawn as nodeSpawn } from 'node:child_process';
import type { Clock, TimerHandle } from '../hardware/clock.ts';
import type { FfmpegBinary } from './ffmpeg.locate.ts';

export type VisionLogLevel = 'info' | 'warn' | 'error';
/** A log sink; server/log's Logger methods fit behind it. */
export type VisionLog = (
  level: VisionLogLevel,
  msg: string,
  fields?: Record<string, unknown>,
) => void;

/** A readable pipe of the child, reduced to what we read. */
export interface ChildPipe {
  on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
}

/** The part of a child process the runner uses; node's ChildProcess fits. */
export interface FfmpegChild {
  readonly stdout: ChildPipe | null;
  readonly stderr: ChildPipe | null;
  kill(signal?: NodeJS.Signals): boolean;
  once(event: 'spawn', listener: () => void): unknown;
  once(event: 'error', listener: (err: Error) => void): unknown;
  once(
    event: 'close',
    listener: (code: number | null, signal: NodeJS.Signals | null) => void,
  ): unknown;
}

/** `child_process.spawn` reduced to what we need; injected so unit tests use a strict fake. */
export type FfmpegSpawn = (command: string, args: readonly string[]) => FfmpegChild;

/** The real spawn: no stdin (ffmpeg gets `-nostdin` anyway), stdout and stderr piped. */
export const spawnFfmpegProcess: FfmpegSpawn = (command, args) =>
  nodeSpawn(command, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });

/** How one ffmpeg run ended. */
export interface FfmpegExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the binary could not be started at all (ENOENT: not installed; EACCES). */
  startError?: { code: string | undefined; message: string };
  /** `stop()` was called (or the run's time limit ran out) before it ended. */
  stopRequested: boolean;
  /** It ignored SIGTERM for `killAfterMs` and was killed with SIGKILL. */
  forced: boolean;
  /** Its time limit (`timeoutMs`) ran out. */
  timedOut: boolean;
  /** The last lines of its log, passwords in URLs masked. */
  stderrTail: readonly string[];
}

export interface FfmpegRunOptions {
  /** Each complete line ffmpeg writes to stdout (segment list, `-progress` reports). */
  onStdoutLine?: (line: string) => void;
  /** Each line of its log (already masked); `\r`-separated status lines count as lines. */
  onStderrLine?: (line: string) => void;
  /** Stop it (as `stop()` does) when it runs longer than this; for jobs that should finish. */
  timeoutMs?: number;
}

export interface FfmpegRun {
  /** The arguments it was started with, after the runner added its own (for logs and tests). */
  readonly args: readonly string[];
  /** Resolves once the process is gone and its output has been delivered. Never rejects. */
  readonly exit: Promise<FfmpegExit>;
  /** The last `STDERR_TAIL_LINES` lines of its log so far. */
  stderrTail(): readonly string[];
  running(): boolean;
  /** SIGTERM, then SIGKILL after `killAfterMs`. Resolves like `exit`. */
  stop(): Promise<FfmpegExit>;
}

export interface FfmpegRunner {
  readonly binary: FfmpegBinary;
  run(args: readonly string[], options?: FfmpegRunOptions): FfmpegRun;
}

export interface FfmpegRunnerDeps {
  spawn: FfmpegSpawn;
  clock: Clock;
  binary: FfmpegBinary;
  log?: VisionLog;
  /** Grace between SIGTERM and SIGKILL; default 7 s (more than the RTSP timeout, see above). */
  killAfterMs?: number;
  /** RTSP socket timeout added to rtsp:// inputs; default 5 s. */
  rtspTimeoutMs?: number;
}

export const STDERR_TAIL_LINES = 30;
export const DEFAULT_KILL_AFTER_MS = 7_000;
export const DEFAULT_RTSP_TIMEOUT_MS = 5_000;

const TIMEOUT_FLAGS = new Set(['-timeout', '-stimeout']);

/**
 * `args` with the RTSP socket timeout added before every `-i rtsp://…` (or rtsps://) that lacks
 * one. A timeout flag of the other ffmpeg generation in that input's options is renamed: a
 * `-timeout` given to ffmpeg 4 would turn the camera read into a listening server.
 */
export function withRtspTimeout(
  args: readonly string[],
  flag: FfmpegBinary['rtspTimeoutFlag'],
  timeoutMs: number,
): string[] {
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new RangeError(`RTSP timeout must be a positive number of ms, got ${timeoutMs}`);
  }
  const out: string[] = [];
  // Index in `out` where the options of the current input begin (after the previous -i URL).
  let inputStart = 0;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-i' && i + 1 < args.length) {
      const url = args[i + 1]!;
      if (/^rtsps?:\/\//i.test(url)) {
        let has = false;
        for (let j = inputStart; j < out.length; j++) {
          if (TIMEOUT_FLAGS.has(out[j]!)) {
            out[j] = flag;
            has = true;
          }
        }
        if (!has) out.push(flag, String(Math.round(timeoutMs * 1000)));
      }
      out.push(a, url);
      i++;
      inputStart = out.length;
      continue;
    }
    out.push(a);
  }
  return out;
}

/** `rtsp://user:secret@cam` → `rtsp://user:***@cam`: logs and staff-facing reasons never show it. */
export function maskUrlPasswords(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^\s/:@]*):[^\s/@]*@/gi, '$1:***@');
}

const ERROR_WORDS =
  /error|fail|refused|unauthori[sz]ed|denied|not found|invalid|timed out|timeout|no such|unsupported|not supported|could not|cannot|unable|broken pipe|reset by peer|no route/i;

/**
 * One line for logs and the camera's offline reason: how it ended plus the most telling log line
 * (the last one that reads like an error, else the last one).
 */
export function describeFfmpegExit(exit: FfmpegExit): string {
  if (exit.startError) {
    return exit.startError.code === 'ENOENT'
      ? `ffmpeg not found (${exit.startError.message}); install ffmpeg or the npm package @ffmpeg-installer/ffmpeg`
      : `ffmpeg could not be started: ${exit.startError.message}`;
  }
  const how = exit.timedOut
    ? 'ran past its time limit and was stopped'
    : exit.forced
      ? 'ignored SIGTERM and was killed'
      : exit.signal !== null
        ? `was killed by ${exit.signal}`
        : `exited with code ${exit.code}`;
  // "[tcp @ 0x55…] " names a C struct address: noise that would make every reason different.
  const lines = exit.stderrTail
    .map((l) => l.replace(/^\[[^\]]* @ 0x[0-9a-f]+\]\s*/i, '').trim())
    .filter(Boolean);
  const telling = [...lines].reverse().find((l) => ERROR_WORDS.test(l)) ?? lines.at(-1);
  return telling ? `ffmpeg ${how}: ${telling}` : `ffmpeg ${how}`;
}

const defaultLog: VisionLog = (level, msg, fields) => {
  if (level === 'info') return;
  process.stderr.write(`${level}: ${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}\n`);
};

/** Splits a byte stream into lines (`\n`, `\r\n` or a lone `\r`), keeping the unfinished rest. */
function lineSplitter(onLine: (line: string) => void): { push(chunk: string): void; end(): void } {
  let pending = '';
  return {
    push(chunk) {
      pending += chunk;
      const parts = pending.split(/\r\n|\r|\n/);
      pending = parts.pop() ?? '';
      for (const p of parts) onLine(p);
    },
    end() {
      if (pending !== '') onLine(pending);
      pending = '';
    },
  };
}

export function createFfmpegRunner(deps: FfmpegRunnerDeps): FfmpegRunner {
  const { spawn, clock, binary } = deps;
  const log = deps.log ?? defaultLog;
  const killAfterMs = deps.killAfterMs ?? DEFAULT_KILL_AFTER_MS;
  const rtspTimeoutMs = deps.rtspTimeoutMs ?? DEFAULT_RTSP_TIMEOUT_MS;

  const run = (given: readonly string[], options: FfmpegRunOptions = {}): FfmpegRun => {
    const args = withRtspTimeout(given, binary.rtspTimeoutFlag, rtspTimeoutMs);
    const tail: string[] = [];
    let done = false;
    let stopRequested = false;
    let forced = false;
    let timedOut = false;
    let killTimer: TimerHandle | undefined;
    let limitTimer: TimerHandle | undefined;
    let child: FfmpegChild | undefined;
    let resolveExit!: (exit: FfmpegExit) => void;
    const exit = new Promise<FfmpegExit>((resolve) => (resolveExit = resolve));

    // A throwing callback must not leave the process unread or the run unfinished.
    const safely = (what: string, fn: (() => void) | undefined) => {
      try {
        fn?.();
      } catch (e) {
        log('error', `ffmpeg ${what} handler threw: ${e instanceof Error ? e.message : String(e)}`);
      }
    };
    const stdout = lineSplitter((line) => {
      if (!done) safely('stdout', options.onStdoutLine && (() => options.onStdoutLine!(line)));
    });
    const stderr = lineSplitter((raw) => {
      const line = maskUrlPasswords(raw);
      tail.push(line);
      if (tail.length > STDERR_TAIL_LINES) tail.shift();
      if (!done) safely('stderr', options.onStderrLine && (() => options.onStderrLine!(line)));
    });

    const finish = (
      code: number | null,
      signal: NodeJS.Signals | null,
      startError?: FfmpegExit['startError'],
    ) => {
      if (done) return;
      stdout.end();
      stderr.end();
      done = true;
      if (killTimer) clock.clearTimeout(killTimer);
      if (limitTimer) clock.clearTimeout(limitTimer);
      resolveExit({
        code,
        signal,
        ...(startError ? { startError } : {}),
        stopRequested,
        forced,
        timedOut,
        stderrTail: [...tail],
      });
    };

    const stop = (): Promise<FfmpegExit> => {
      if (done || !child || stopRequested) return exit;
      stopRequested = true;
      const c = child;
      c.kill('SIGTERM');
      // A fake child may report its exit from inside kill(): arm only when still alive.
      if (!done) {
        killTimer = clock.setTimeout(() => {
          if (done) return;
          forced = true;
          log('warn', 'ffmpeg ignored SIGTERM; killing it', { args: maskedArgs, killAfterMs });
          c.kill('SIGKILL');
        }, killAfterMs);
      }
      return exit;
    };

    const maskedArgs = args.map(maskUrlPasswords);
    try {
      child = spawn(binary.path, args);
    } catch (e) {
      // A real spawn reports start failures as events; a synchronous throw is a resource or
      // programming error (EMFILE, bad arguments). Either way nothing runs.
      const err = e as NodeJS.ErrnoException;
      const message = err instanceof Error ? err.message : String(e);
      queueMicrotask(() => finish(null, null, { code: err?.code, message }));
      return { args, exit, stderrTail: () => [...tail], running: () => false, stop: () => exit };
    }
    let spawned = false;
    child.stdout?.on('data', (chunk) => stdout.push(String(chunk)));
    child.stderr?.on('data', (chunk) => stderr.push(String(chunk)));
    child.once('spawn', () => {
      spawned = true;
    });
    child.once('error', (err) => {
      // Without 'spawn' first this is a start failure (ENOENT); node may or may not add 'close'.
      const e = err as NodeJS.ErrnoException;
      if (!spawned) finish(null, null, { code: e.code, message: e.message });
      else log('warn', `ffmpeg: ${e.message}`, { args: maskedArgs });
    });
    child.once('close', (code, signal) => finish(code, signal));
    if (options.timeoutMs !== undefined) {
      limitTimer = clock.setTimeout(() => {
        if (done) return;
        timedOut = true;
        void stop();
      }, options.timeoutMs);
    }
    return {
      args,
      exit,
      stderrTail: () => [...tail],
      running: () => !done,
      stop,
    };
  };

  return { binary, run };
}
