/**
 * A stand-in IP camera on the network: Debian's GStreamer RTSP server (vision/rtsp.server.py, run
 * with /usr/bin/python3, where python3-gi lives) serving MP4 files as looping RTSP mounts such as
 * /main and /sub, over UDP and TCP, without re-encoding. The simulated camera and the recorder's
 * tests point at it like at any camera; `stop()` and `restart()` on the same port play a camera
 * that drops off the network and comes back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemClock, type Clock, type TimerHandle } from '../hardware/clock.ts';

export const RTSP_SERVER_INSTALL_HINT =
  'apt-get install -y python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base ' +
  'gstreamer1.0-plugins-good gstreamer1.0-plugins-bad';

const DEFAULT_PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./rtsp.server.py', import.meta.url));
const MOUNT_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const LOG_LINES = 200;

/** Whether this box can run the camera simulator; `reason` is shown to staff as-is. */
export type RtspAvailability =
  { ok: true; python: string; gstreamer: string } | { ok: false; reason: string };

/** What the simulator process is doing; `exited` covers a crash as well as a failed start. */
export type RtspServerStatus =
  | { state: 'running'; pid: number }
  | { state: 'stopped' }
  | { state: 'exited'; code: number | null; signal: NodeJS.Signals | null; reason: string };

export interface RtspServerOptions {
  /** Mount name → H.264 MP4 path, e.g. `{main: '/…/main.mp4', sub: '/…/sub.mp4'}`. */
  files: Record<string, string>;
  /** TCP port for RTSP; 0 (default) lets the server pick a free one, kept across restarts. */
  port?: number;
  /** Listen address; default 127.0.0.1. */
  host?: string;
  /** Python with Debian's gi; default /usr/bin/python3 (a pyenv or venv python lacks it). */
  python?: string;
  /** How long loading the files and binding may take; default 20 000 ms. */
  startTimeoutMs?: number;
  /** After SIGTERM, how long before SIGKILL; default 3 000 ms. */
  killGraceMs?: number;
  clock?: Clock;
}

export interface RtspServer {
  readonly host: string;
  /** The bound port; the same after `restart()`. */
  readonly port: number;
  readonly mounts: readonly string[];
  /** `rtsp://host:port/<mount>`; throws for a mount that is not served. */
  url(mount: string): string;
  status(): RtspServerStatus;
  /** Take the camera off the network: SIGTERM, then SIGKILL. Idempotent. */
  stop(): Promise<void>;
  /** Bring it back on the same port (stopping it first if it runs). */
  restart(): Promise<void>;
  /** Last lines the simulator printed, for diagnostics. */
  logTail(lines?: number): string;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function collect(child: ChildProcess): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((done) => {
    let out = '';
    let err = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.once('error', (e) => done({ code: null, out, err: `${err}${e.message}` }));
    child.once('close', (code) => done({ code, out, err }));
  });
}

/** The `ERROR …` line the script prints before exiting 2, else the last line of its stderr. */
function errorLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const marked = lines.find((l) => l.startsWith('ERROR '));
  if (marked) return marked.slice('ERROR '.length);
  return lines.at(-1) ?? 'no output';
}

/**
 * Checks for /usr/bin/python3, the gi bindings, the GstRtspServer typelib and the GStreamer
 * elements the simulator uses, by running the script's `--check`. Never throws.
 */
export async function rtspServerAvailable(
  opts: { python?: string } = {},
): Promise<RtspAvailability> {
  const python = opts.python ?? DEFAULT_PYTHON;
  if (!isExecutable(python))
    return { ok: false, reason: `no ${python} (install python3 and ${RTSP_SERVER_INSTALL_HINT})` };
  const child = spawn(python, [SCRIPT, '--check'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 30_000,
  });
  const res = await collect(child);
  const m = /^OK gstreamer=(\S+)/m.exec(res.out);
  if (res.code === 0 && m?.[1]) return { ok: true, python, gstreamer: m[1] };
  return {
    ok: false,
    reason: `camera simulator cannot run: ${errorLine(res.err)} (install: ${RTSP_SERVER_INSTALL_HINT})`,
  };
}

function fail(message: string): never {
  throw new Error(`RTSP camera simulator: ${message}`);
}

async function validate(opts: RtspServerOptions): Promise<[string, string][]> {
  const entries = Object.entries(opts.files);
  if (entries.length === 0) fail('no files to serve');
  const mounts: [string, string][] = [];
  for (const [name, path] of entries) {
    if (!MOUNT_PATTERN.test(name))
      fail(`mount name must be 1-64 letters, digits, '_' or '-', got ${JSON.stringify(name)}`);
    const full = resolve(path);
    const st = await stat(full).catch(() => null);
    if (!st?.isFile()) fail(`video file for /${name} not found: ${full}`);
    mounts.push([name, full]);
  }
  const port = opts.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`port out of range: ${port}`);
  return mounts;
}

/**
 * Starts the simulator and resolves once it listens. Rejects with the script's own reason when a
 * file is not H.264 MP4, the port is taken, or GStreamer is missing (see `rtspServerAvailable`).
 */
export async function startRtspServer(opts: RtspServerOptions): Promise<RtspServer> {
  const mounts = await validate(opts);
  const host = opts.host ?? '127.0.0.1';
  const python = opts.python ?? DEFAULT_PYTHON;
  const clock = opts.clock ?? systemClock();
  const startTimeoutMs = opts.startTimeoutMs ?? 20_000;
  const killGraceMs = opts.killGraceMs ?? 3_000;
  if (!isExecutable(python)) fail(`no ${python} (install: ${RTSP_SERVER_INSTALL_HINT})`);

  const log: string[] = [];
  const remember = (line: string) => {
    log.push(line);
    if (log.length > LOG_LINES) log.splice(0, log.length - LOG_LINES);
  };

  let port = opts.port ?? 0;
  let child: ChildProcess | null = null;
  let status: RtspServerStatus = { state: 'stopped' };
  let stopping: Promise<void> | null = null;

  const launch = (): Promise<void> =>
    new Promise((resolveStart, rejectStart) => {
      const args = [SCRIPT, '--host', host, '--port', String(port)];
      for (const [name, path] of mounts) args.push('--mount', `${name}=${path}`);
      // stdin stays an open pipe we never write: when this process dies, the script sees EOF
      // and quits, so no orphaned camera keeps the port.
      const proc = spawn(python, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      child = proc;
      let settled = false;
      let stderr = '';
      let timer: TimerHandle | null = null;
      const settle = (err: Error | null) => {
        if (settled) return;
        settled = true;
        if (timer) clock.clearTimeout(timer);
        if (err) rejectStart(err);
        else resolveStart();
      };
      timer = clock.setTimeout(() => {
        proc.kill('SIGKILL');
        settle(
          new Error(
            `RTSP camera simulator: not listening after ${startTimeoutMs} ms: ${errorLine(stderr)}`,
          ),
        );
      }, startTimeoutMs);

      let pending = '';
      proc.stdout?.setEncoding('utf8').on('data', (d: string) => {
        pending += d;
        let nl: number;
        while ((nl = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, nl);
          pending = pending.slice(nl + 1);
          remember(line);
          const m = /^READY port=(\d+)$/.exec(line.trim());
          if (m && !settled) {
            port = Number(m[1]);
            status = { state: 'running', pid: proc.pid ?? -1 };
            settle(null);
          }
        }
      });
      proc.stderr?.setEncoding('utf8').on('data', (d: string) => {
        stderr = (stderr + d).slice(-16_000);
        for (const line of d.split('\n')) if (line.trim()) remember(line);
      });
      proc.stdin?.on('error', () => {
        // the script exited first; its exit is reported below
      });
      proc.once('error', (e) => {
        status = { state: 'exited', code: null, signal: null, reason: e.message };
        settle(new Error(`RTSP camera simulator: could not start ${python}: ${e.message}`));
      });
      proc.once('exit', (code, signal) => {
        if (child === proc) child = null;
        const reason = stopping ? 'stopped' : errorLine(stderr);
        status = stopping ? { state: 'stopped' } : { state: 'exited', code, signal, reason };
        settle(
          new Error(`RTSP camera simulator: exited before listening (code ${code}): ${reason}`),
        );
      });
    });

  const stop = (): Promise<void> => {
    const proc = child;
    if (!proc) return stopping ?? Promise.resolve();
    if (stopping) return stopping;
    stopping = new Promise<void>((done) => {
      let killTimer: TimerHandle | null = null;
      proc.once('exit', () => {
        if (killTimer) clock.clearTimeout(killTimer);
        status = { state: 'stopped' };
        stopping = null;
        done();
      });
      // A camera that ignores SIGTERM still has to go: SIGKILL after the grace period.
      killTimer = clock.setTimeout(() => proc.kill('SIGKILL'), killGraceMs);
      proc.kill('SIGTERM');
    });
    return stopping;
  };

  await launch();

  const urlHost = host === '0.0.0.0' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const names = mounts.map(([name]) => name);
  return {
    host,
    get port() {
      return port;
    },
    mounts: names,
    url(mount) {
      if (!names.includes(mount))
        throw new Error(`RTSP camera simulator: no mount ${mount} (serving ${names.join(', ')})`);
      return `rtsp://${urlHost}:${port}/${mount}`;
    },
    status: () => status,
    stop,
    async restart() {
      await stop();
      await launch();
    },
    logTail(lines = 40) {
      return log.slice(-lines).join('\n');
    },
  };
}
