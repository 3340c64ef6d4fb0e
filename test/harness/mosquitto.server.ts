/**
 * Throw-away Mosquitto brokers for integration tests.
 *
 * Uses the distribution's broker (Debian: `apt-get install -y mosquitto`, /usr/sbin/mosquitto)
 * with a private config in a temp folder: one listener on a free 127.0.0.1 port, anonymous access,
 * no persistence, log to stderr (kept in memory for diagnostics). `stop()` and `restart()` keep the
 * port, so tests can take the broker away and bring it back where clients reconnect.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { connect as netConnect } from 'node:net';
import { delimiter, join } from 'node:path';
import { getFreePort } from './free-port.ts';
import { reportMissing } from './requirements.ts';
import { makeTempDir } from './temp-dir.ts';

export const MOSQUITTO_INSTALL_HINT = 'apt-get update && apt-get install -y mosquitto';

export interface MosquittoServer {
  /** `mqtt://127.0.0.1:<port>` */
  readonly url: string;
  readonly host: '127.0.0.1';
  readonly port: number;
  /** The broker binary in use. */
  readonly binary: string;
  running(): boolean;
  /** Stop the broker (SIGTERM, SIGKILL after 5 s); the port and config stay for `restart()`. */
  stop(): Promise<void>;
  /** Start it again on the same port (stopping it first if it runs); waits until it accepts. */
  restart(): Promise<void>;
  /** Stop and remove the temp folder. Idempotent. */
  close(): Promise<void>;
  /** Last lines of the broker's output, for diagnostics. */
  logTail(lines?: number): string;
}

export interface StartMosquittoOptions {
  /** Broker binary; default {@link findMosquitto}. */
  binary?: string;
  /** Extra mosquitto.conf lines. */
  extraConfig?: string[];
  /** How long to wait for the listener. Default 10 s. */
  startTimeoutMs?: number;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `$PARCELROOM_MOSQUITTO`, /usr/sbin/mosquitto, then `mosquitto` on `$PATH`; null if none. */
export function findMosquitto(): string | null {
  const candidates = [
    process.env.PARCELROOM_MOSQUITTO,
    '/usr/sbin/mosquitto',
    ...(process.env.PATH ?? '').split(delimiter).map((d) => (d ? join(d, 'mosquitto') : '')),
  ];
  for (const c of candidates) if (c && isExecutable(c)) return c;
  return null;
}

/** The broker binary, or null after a loud warning (throws under CI=true). */
export function requireMosquitto(): string | null {
  const found = findMosquitto();
  if (found) return found;
  reportMissing(
    'Mosquitto',
    'no mosquitto at $PARCELROOM_MOSQUITTO, /usr/sbin/mosquitto or on $PATH ' +
      `(install it with: ${MOSQUITTO_INSTALL_HINT}); MQTT door driver integration tests are skipped.`,
  );
  return null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.removeAllListeners();
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.setTimeout(1_000, () => done(false));
  });
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of live) {
      try {
        p.kill('SIGKILL');
      } catch {
        // best effort
      }
    }
  });
}

/** Start a private broker on a free 127.0.0.1 port. Throws when Mosquitto is not installed. */
export async function startMosquitto(opts: StartMosquittoOptions = {}): Promise<MosquittoServer> {
  const binary = opts.binary ?? findMosquitto();
  if (!binary) {
    throw new Error(`mosquitto not found. Install it with: ${MOSQUITTO_INSTALL_HINT}`);
  }
  const startTimeoutMs = opts.startTimeoutMs ?? 10_000;
  const dir = await makeTempDir('parcelroom-mqtt');
  const confFile = join(dir.path, 'mosquitto.conf');
  const output: string[] = [];
  let proc: ChildProcess | null = null;
  let port = 0;

  const remember = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line) output.push(line);
    if (output.length > 500) output.splice(0, output.length - 500);
  };
  const logTail = (lines = 40) => output.slice(-lines).join('\n') || '(no broker output)';

  const writeConf = async () => {
    const lines = [
      '# written by test/harness/mosquitto.server.ts',
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence false',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
      'log_type notice',
      // As root, mosquitto would switch to the `mosquitto` user; stay root (temp files are ours).
      ...(process.getuid?.() === 0 ? ['user root'] : []),
      ...(opts.extraConfig ?? []),
    ];
    await writeFile(confFile, `${lines.join('\n')}\n`, { mode: 0o644 });
  };

  const stop = async () => {
    const p = proc;
    if (!p) return;
    proc = null;
    if (p.exitCode === null && p.signalCode === null) {
      const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
      p.kill('SIGTERM');
      const killed = await Promise.race([exited.then(() => true), sleep(5_000).then(() => false)]);
      if (!killed) {
        p.kill('SIGKILL');
        await exited;
      }
    }
    live.delete(p);
  };

  /** Spawn on `port` and wait until it accepts; false when it exited (e.g. port taken). */
  const spawnBroker = async (): Promise<boolean> => {
    const p = spawn(binary, ['-c', confFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    proc = p;
    live.add(p);
    installExitHook();
    p.stdout?.on('data', remember);
    p.stderr?.on('data', remember);
    let exited = false;
    p.once('exit', () => {
      exited = true;
      live.delete(p);
    });
    const deadline = Date.now() + startTimeoutMs;
    while (Date.now() < deadline) {
      if (exited) {
        proc = null;
        return false;
      }
      if (await canConnect(port)) return true;
      await sleep(25);
    }
    await stop();
    throw new Error(
      `mosquitto did not listen on ${port} within ${startTimeoutMs} ms\n${logTail()}`,
    );
  };

  try {
    // The free port may be taken between probing and binding; retry with a new one.
    for (let attempt = 1; ; attempt++) {
      port = await getFreePort('127.0.0.1');
      await writeConf();
      if (await spawnBroker()) break;
      if (attempt >= 5) throw new Error(`mosquitto failed to start:\n${logTail()}`);
    }
  } catch (err) {
    await stop();
    await dir.cleanup();
    throw err;
  }

  const restart = async () => {
    await stop();
    // The old listener socket is gone once the process exited; retry briefly anyway.
    for (let attempt = 1; ; attempt++) {
      if (await spawnBroker()) return;
      if (attempt >= 20) throw new Error(`mosquitto failed to restart on ${port}:\n${logTail()}`);
      await sleep(100);
    }
  };

  let closed = false;
  return {
    url: `mqtt://127.0.0.1:${port}`,
    host: '127.0.0.1',
    port,
    binary,
    running: () => proc !== null && proc.exitCode === null && proc.signalCode === null,
    stop,
    restart,
    async close() {
      if (closed) return;
      closed = true;
      await stop();
      await dir.cleanup();
    },
    logTail,
  };
}
