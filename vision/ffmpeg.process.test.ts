import { describe, expect, it } from 'vitest';
import { manualClock } from '../hardware/clock.ts';
import type { FfmpegBinary } from './ffmpeg.locate.ts';
import {
  STDERR_TAIL_LINES,
  createFfmpegRunner,
  describeFfmpegExit,
  maskUrlPasswords,
  withRtspTimeout,
  type ChildPipe,
  type FfmpegChild,
  type FfmpegSpawn,
  type VisionLog,
} from './ffmpeg.process.ts';

const FF5: FfmpegBinary = {
  path: '/usr/bin/ffmpeg',
  ffprobePath: '/usr/bin/ffprobe',
  source: 'system',
  major: 5,
  rtspTimeoutFlag: '-timeout',
};
const FF4: FfmpegBinary = {
  path: '/npm/ffmpeg',
  ffprobePath: null,
  source: 'npm',
  major: 4,
  rtspTimeoutFlag: '-stimeout',
};

class FakePipe implements ChildPipe {
  private listener: ((chunk: Buffer | string) => void) | undefined;
  on(event: 'data', listener: (chunk: Buffer | string) => void) {
    expect(event).toBe('data');
    this.listener = listener;
    return this;
  }
  emit(text: string) {
    if (!this.listener) throw new Error('nobody reads this pipe');
    this.listener(Buffer.from(text));
  }
}

/** A child that does only what the test makes it do; kill() is recorded, never acted on. */
class FakeChild implements FfmpegChild {
  readonly stdout = new FakePipe();
  readonly stderr = new FakePipe();
  readonly signals: NodeJS.Signals[] = [];
  private handlers = new Map<string, (...a: never[]) => void>();
  kill(signal?: NodeJS.Signals) {
    this.signals.push(signal ?? 'SIGTERM');
    return true;
  }
  once(event: string, listener: (...a: never[]) => void) {
    if (this.handlers.has(event)) throw new Error(`second ${event} listener`);
    this.handlers.set(event, listener);
    return this;
  }
  fire(event: 'spawn'): void;
  fire(event: 'error', err: Error): void;
  fire(event: 'close', code: number | null, signal: NodeJS.Signals | null): void;
  fire(event: string, ...args: unknown[]) {
    const h = this.handlers.get(event) as ((...a: unknown[]) => void) | undefined;
    if (!h) throw new Error(`no ${event} listener`);
    h(...args);
  }
}

function setup(binary: FfmpegBinary = FF5, extra: { killAfterMs?: number } = {}) {
  const clock = manualClock();
  const calls: { command: string; args: readonly string[]; child: FakeChild }[] = [];
  const spawn: FfmpegSpawn = (command, args) => {
    const child = new FakeChild();
    calls.push({ command, args, child });
    return child;
  };
  const logs: { level: string; msg: string }[] = [];
  const log: VisionLog = (level, msg) => logs.push({ level, msg });
  const runner = createFfmpegRunner({ spawn, clock, binary, log, ...extra });
  return { clock, calls, logs, runner };
}

describe('withRtspTimeout', () => {
  it('adds -timeout (µs) before an rtsp input for ffmpeg 5', () => {
    expect(
      withRtspTimeout(
        ['-rtsp_transport', 'tcp', '-i', 'rtsp://cam/main', 'out.mp4'],
        '-timeout',
        5000,
      ),
    ).toEqual([
      '-rtsp_transport',
      'tcp',
      '-timeout',
      '5000000',
      '-i',
      'rtsp://cam/main',
      'out.mp4',
    ]);
  });

  it('adds -stimeout for ffmpeg 4, where -timeout would mean "listen"', () => {
    expect(withRtspTimeout(['-i', 'RTSPS://cam/main', 'x'], '-stimeout', 2500)).toEqual([
      '-stimeout',
      '2500000',
      '-i',
      'RTSPS://cam/main',
      'x',
    ]);
  });

  it('renames a flag of the wrong generation and keeps its value', () => {
    expect(
      withRtspTimeout(['-timeout', '1000', '-i', 'rtsp://a/b', 'x'], '-stimeout', 5000),
    ).toEqual(['-stimeout', '1000', '-i', 'rtsp://a/b', 'x']);
  });

  it('leaves file inputs alone and judges each input on its own options', () => {
    expect(
      withRtspTimeout(
        ['-timeout', '9', '-i', 'a.mp4', '-i', 'rtsp://c/d', '-f', 'null', '-'],
        '-timeout',
        1000,
      ),
    ).toEqual([
      '-timeout',
      '9',
      '-i',
      'a.mp4',
      '-timeout',
      '1000000',
      '-i',
      'rtsp://c/d',
      '-f',
      'null',
      '-',
    ]);
  });

  it('refuses a timeout that is not positive', () => {
    expect(() => withRtspTimeout(['-i', 'rtsp://x'], '-timeout', 0)).toThrow(/positive/);
    expect(() => withRtspTimeout(['-i', 'rtsp://x'], '-timeout', Number.NaN)).toThrow(/positive/);
  });
});

describe('maskUrlPasswords', () => {
  it('hides the password of any URL in a line', () => {
    expect(maskUrlPasswords('rtsp://admin:s3cr:et@10.0.0.5:554/main: 401 Unauthorized')).toBe(
      'rtsp://admin:***@10.0.0.5:554/main: 401 Unauthorized',
    );
    expect(maskUrlPasswords('rtsp://10.0.0.5/main and rtsp://u@h/x')).toBe(
      'rtsp://10.0.0.5/main and rtsp://u@h/x',
    );
  });
});

describe('createFfmpegRunner', () => {
  it('spawns the located binary with the timeout added and delivers stdout lines', async () => {
    const { calls, runner } = setup(FF4);
    const lines: string[] = [];
    const run = runner.run(['-i', 'rtsp://cam/main', '-f', 'null', '-'], {
      onStdoutLine: (l) => lines.push(l),
    });
    expect(calls).toHaveLength(1);
    expect(calls[0]!.command).toBe('/npm/ffmpeg');
    expect(calls[0]!.args).toEqual([
      '-stimeout',
      '5000000',
      '-i',
      'rtsp://cam/main',
      '-f',
      'null',
      '-',
    ]);
    expect(run.args).toEqual(calls[0]!.args);
    const child = calls[0]!.child;
    child.fire('spawn');
    child.stdout.emit('a,0.0,2.0\nout_time');
    child.stdout.emit('_us=100\r\nlast-without-newline');
    expect(lines).toEqual(['a,0.0,2.0', 'out_time_us=100']);
    expect(run.running()).toBe(true);
    child.fire('close', 0, null);
    const exit = await run.exit;
    expect(lines).toEqual(['a,0.0,2.0', 'out_time_us=100', 'last-without-newline']);
    expect(exit).toEqual({
      code: 0,
      signal: null,
      stopRequested: false,
      forced: false,
      timedOut: false,
      stderrTail: [],
    });
    expect(run.running()).toBe(false);
  });

  it('keeps the last lines of the log, split on \\r too, with passwords masked', async () => {
    const { calls, runner } = setup();
    const seen: string[] = [];
    const run = runner.run(['-i', 'in.mp4', 'out.mp4'], { onStderrLine: (l) => seen.push(l) });
    const child = calls[0]!.child;
    child.fire('spawn');
    for (let i = 0; i < 40; i++) child.stderr.emit(`line ${i}\n`);
    child.stderr.emit('frame=1\rframe=2\rrtsp://u:pw@h/x: Connection refused\n');
    const tail = run.stderrTail();
    expect(tail).toHaveLength(STDERR_TAIL_LINES);
    expect(tail.at(-1)).toBe('rtsp://u:***@h/x: Connection refused');
    expect(tail.at(-3)).toBe('frame=1');
    expect(tail[0]).toBe(`line ${43 - STDERR_TAIL_LINES}`);
    expect(seen).toHaveLength(43);
    child.fire('close', 1, null);
    const exit = await run.exit;
    expect(exit.stderrTail).toEqual(tail);
    expect(describeFfmpegExit(exit)).toBe(
      'ffmpeg exited with code 1: rtsp://u:***@h/x: Connection refused',
    );
  });

  it('stop() sends SIGTERM and resolves with the exit when ffmpeg finishes on its own', async () => {
    const { calls, clock, runner } = setup();
    const run = runner.run(['-i', 'a', 'b']);
    const child = calls[0]!.child;
    child.fire('spawn');
    const stopped = run.stop();
    expect(child.signals).toEqual(['SIGTERM']);
    expect(clock.pendingTimers()).toBe(1);
    child.fire('close', 255, null);
    const exit = await stopped;
    expect(exit).toMatchObject({ code: 255, stopRequested: true, forced: false });
    expect(clock.pendingTimers()).toBe(0);
    clock.advance(60_000);
    expect(child.signals).toEqual(['SIGTERM']);
    // A second stop() after the end changes nothing.
    expect(await run.stop()).toBe(exit);
  });

  it('SIGKILLs a process that ignores SIGTERM (a blocked RTSP read) after the grace period', async () => {
    const { calls, clock, logs, runner } = setup(FF5, { killAfterMs: 3_000 });
    const run = runner.run(['-i', 'rtsp://cam/x', 'o']);
    const child = calls[0]!.child;
    child.fire('spawn');
    void run.stop();
    void run.stop();
    expect(child.signals).toEqual(['SIGTERM']);
    clock.advance(2_999);
    expect(child.signals).toEqual(['SIGTERM']);
    clock.advance(1);
    expect(child.signals).toEqual(['SIGTERM', 'SIGKILL']);
    expect(logs).toEqual([{ level: 'warn', msg: 'ffmpeg ignored SIGTERM; killing it' }]);
    child.fire('close', null, 'SIGKILL');
    const exit = await run.exit;
    expect(exit).toMatchObject({
      code: null,
      signal: 'SIGKILL',
      stopRequested: true,
      forced: true,
    });
    expect(describeFfmpegExit(exit)).toBe('ffmpeg ignored SIGTERM and was killed');
  });

  it('stops a job that runs past its time limit', async () => {
    const { calls, clock, runner } = setup();
    const run = runner.run(['-i', 'a', 'b'], { timeoutMs: 1_000 });
    const child = calls[0]!.child;
    child.fire('spawn');
    clock.advance(1_000);
    expect(child.signals).toEqual(['SIGTERM']);
    child.fire('close', 255, null);
    const exit = await run.exit;
    expect(exit).toMatchObject({ timedOut: true, stopRequested: true });
    expect(describeFfmpegExit(exit)).toMatch(/^ffmpeg ran past its time limit/);
  });

  it('reports a binary that cannot be started as a start error, not a crash', async () => {
    const { calls, runner } = setup();
    const run = runner.run(['-version']);
    const err = Object.assign(new Error('spawn /usr/bin/ffmpeg ENOENT'), { code: 'ENOENT' });
    calls[0]!.child.fire('error', err);
    const exit = await run.exit;
    expect(exit.startError).toEqual({ code: 'ENOENT', message: 'spawn /usr/bin/ffmpeg ENOENT' });
    expect(describeFfmpegExit(exit)).toMatch(/^ffmpeg not found/);
    // node may still send 'close' afterwards; the first ending counts.
    calls[0]!.child.fire('close', -2, null);
    expect((await run.exit).code).toBeNull();
  });

  it('turns a spawn that throws into a start error', async () => {
    const clock = manualClock();
    const spawn: FfmpegSpawn = () => {
      throw Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' });
    };
    const runner = createFfmpegRunner({
      spawn,
      clock,
      binary: FF5,
      log: () => expect.fail('no log expected'),
    });
    const run = runner.run(['-i', 'a', 'b']);
    expect(run.running()).toBe(false);
    const exit = await run.stop();
    expect(exit.startError).toEqual({ code: 'EMFILE', message: 'EMFILE: too many open files' });
    expect(describeFfmpegExit(exit)).toBe(
      'ffmpeg could not be started: EMFILE: too many open files',
    );
  });

  it('survives a line handler that throws', async () => {
    const { calls, logs, runner } = setup();
    const run = runner.run(['-i', 'a', 'b'], {
      onStdoutLine: () => {
        throw new Error('boom');
      },
    });
    const child = calls[0]!.child;
    child.fire('spawn');
    child.stdout.emit('x\n');
    child.fire('close', 0, null);
    expect((await run.exit).code).toBe(0);
    expect(logs).toEqual([{ level: 'error', msg: 'ffmpeg stdout handler threw: boom' }]);
  });
});

describe('describeFfmpegExit', () => {
  it('picks the last line that reads like an error and drops struct addresses', () => {
    expect(
      describeFfmpegExit({
        code: 1,
        signal: null,
        stopRequested: false,
        forced: false,
        timedOut: false,
        stderrTail: [
          '[tcp @ 0x5589cc63a180] Connection to tcp://127.0.0.1:8554?timeout=5000000 failed: Connection refused',
          'Exiting normally',
        ],
      }),
    ).toBe(
      'ffmpeg exited with code 1: Connection to tcp://127.0.0.1:8554?timeout=5000000 failed: Connection refused',
    );
  });
});
