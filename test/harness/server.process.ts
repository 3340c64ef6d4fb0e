/**
 * Parcelroom as a real operating-system process, started exactly as `npm start` starts it:
 * `node scripts/start.mjs` in the repository root (which builds web/ when stale and then runs the
 * server through tsx). For tests of what only a real process shows: exit codes, signals, stderr,
 * the PGlite lock in DATA_DIR, and state that survives a restart.
 *
 * Every process started here is tracked; {@link killAllServerProcesses} (call it in `afterAll`)
 * and a process `exit` hook kill whatever is still running, so a failing test never leaks one.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { settingsSchema } from '../../server/config/index.ts';
import { getFreePort } from './free-port.ts';
import { makeTempDirSync, type TempDir } from './temp-dir.ts';

export const REPO_ROOT: string = fileURLToPath(new URL('../..', import.meta.url));
/** What `npm start` runs (package.json "start"). */
export const START_SCRIPT: string = join(REPO_ROOT, 'scripts', 'start.mjs');

/** One line of the server's structured log (a JSON object per stdout line). */
export type LogRecord = Record<string, unknown> & { level?: string; msg?: string };

export interface Health {
  status: string;
  database: string;
  version: string;
  [key: string]: unknown;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServerProcessOptions {
  /**
   * Settings for the process (PARCELROOM_ADMIN_EMAIL, DATABASE_URL, PARCELROOM_CONFIG, ...).
   * They are applied over a copy of this process's environment from which every Parcelroom setting
   * was removed, so a developer's own PORT or DATABASE_URL never leaks in. A value of `undefined`
   * leaves the setting unset. PORT, HOST and DATA_DIR given here win over the options below.
   */
  env?: Record<string, string | undefined>;
  /** DATA_DIR; default a fresh temp folder, removed again by {@link ServerProcess.kill}. */
  dataDir?: string;
  /** PORT; default a free port on 127.0.0.1. */
  port?: number;
  /** HOST; default 127.0.0.1. */
  host?: string;
}

export interface ServerProcess {
  readonly pid: number;
  readonly port: number;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly dataDir: string;
  /** Everything written to stdout/stderr so far. */
  stdout(): string;
  stderr(): string;
  /** stdout lines that parse as JSON objects (the structured log). */
  logs(): LogRecord[];
  /** The exit status once the process has ended (stdio drained), else null. */
  exitStatus(): ExitStatus | null;
  /** Poll GET /api/health until it answers 200; fails fast when the process exits. */
  waitForHealth(timeoutMs?: number): Promise<Health>;
  /** Wait for a log record matching `match`; fails fast when the process exits without one. */
  waitForLog(match: (r: LogRecord) => boolean, timeoutMs?: number): Promise<LogRecord>;
  /** Wait for the process to end on its own. Rejects after `timeoutMs` (it keeps running). */
  waitForExit(timeoutMs?: number): Promise<ExitStatus>;
  /**
   * Send `signal` to the server process (not its group) and wait for it to exit; returns the exit
   * code (null when a signal ended it). After `timeoutMs` it is killed and the call rejects.
   */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  /** SIGKILL the whole process group and remove the temp DATA_DIR. Idempotent. */
  kill(): Promise<void>;
  /** stdout and stderr tails, for error messages. */
  describe(): string;
}

const live = new Set<ServerProcess>();
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of liveChildren) killGroup(child, 'SIGKILL');
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal); // the child leads its own group (detached)
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function tail(text: string, lines = 30): string {
  const all = text.trimEnd().split('\n');
  return all.slice(-lines).join('\n');
}

/** The environment of the child: ours minus every Parcelroom setting, plus `env`. */
export function serverEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(out)) {
    if (key in settingsSchema.shape || key.startsWith('PARCELROOM_')) delete out[key];
  }
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete out[k];
    else out[k] = v;
  }
  return out;
}

/** Start `node scripts/start.mjs` and return at once (see {@link startServerProcess}). */
export async function spawnServerProcess(opts: ServerProcessOptions = {}): Promise<ServerProcess> {
  installExitHook();
  const host = opts.env?.HOST ?? opts.host ?? '127.0.0.1';
  const port = opts.env?.PORT ?? String(opts.port ?? (await getFreePort(host)));
  let tempDir: TempDir | undefined;
  const dataDir =
    opts.env?.DATA_DIR ?? opts.dataDir ?? (tempDir = makeTempDirSync('parcelroom-data')).path;

  const child = spawn(process.execPath, [START_SCRIPT], {
    cwd: REPO_ROOT,
    env: serverEnv({ ...opts.env, HOST: host, PORT: port, DATA_DIR: dataDir }),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  if (child.pid === undefined) {
    tempDir?.cleanupSync();
    throw new Error(`could not spawn ${process.execPath} ${START_SCRIPT}`);
  }
  const pid = child.pid;
  liveChildren.add(child);

  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));

  let status: ExitStatus | null = null;
  const exited = new Promise<ExitStatus>((resolve) => {
    // 'close': the process ended and its stdio is drained, so the last log lines are in.
    child.once('close', (code, signal) => {
      status = { code, signal };
      liveChildren.delete(child);
      resolve(status);
    });
    child.once('error', (e) => {
      err += `\n[harness] spawn error: ${e.message}\n`;
      status ??= { code: null, signal: null };
      liveChildren.delete(child);
      resolve(status);
    });
  });

  const hostForUrl = host.includes(':') ? `[${host}]` : host;
  const url = `http://${hostForUrl}:${port}`;

  const describe = () =>
    `[pid ${pid}, ${url}, DATA_DIR ${dataDir}, exit ${JSON.stringify(status)}]\n` +
    `--- stdout (tail) ---\n${tail(out)}\n--- stderr (tail) ---\n${tail(err)}`;

  const logs = (): LogRecord[] => {
    const records: LogRecord[] = [];
    for (const line of out.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const parsed: unknown = JSON.parse(line);
        if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
          records.push(parsed as LogRecord);
        }
      } catch {
        // a partial line still being written, or not JSON
      }
    }
    return records;
  };

  const waitForExit = async (timeoutMs = 30_000): Promise<ExitStatus> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`server did not exit within ${timeoutMs} ms\n${describe()}`)),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };

  let killed: Promise<void> | undefined;
  const server: ServerProcess = {
    pid,
    port: Number(port),
    url,
    dataDir,
    stdout: () => out,
    stderr: () => err,
    logs,
    exitStatus: () => status,
    describe,
    waitForExit,

    async waitForHealth(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      let last = 'no answer yet';
      while (Date.now() < deadline) {
        if (status) throw new Error(`server exited before it was healthy\n${describe()}`);
        try {
          const res = await fetch(`${url}/api/health`, {
            signal: AbortSignal.timeout(Math.max(1, Math.min(2_000, deadline - Date.now()))),
          });
          const text = await res.text();
          if (res.status === 200) return JSON.parse(text) as Health;
          last = `HTTP ${res.status}: ${text.slice(0, 200)}`;
        } catch (e) {
          last = (e as Error).message;
        }
        await Promise.race([sleep(100), exited]);
      }
      throw new Error(`server not healthy within ${timeoutMs} ms (last: ${last})\n${describe()}`);
    },

    async waitForLog(match, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = logs().find(match);
        if (found) return found;
        if (status) throw new Error(`server exited without the expected log line\n${describe()}`);
        if (Date.now() > deadline) {
          throw new Error(`expected log line not seen within ${timeoutMs} ms\n${describe()}`);
        }
        await Promise.race([sleep(50), exited]);
      }
    },

    async stop(signal = 'SIGTERM', timeoutMs = 15_000) {
      if (!status) {
        try {
          process.kill(pid, signal);
        } catch {
          // it ended in the meantime
        }
      }
      try {
        return (await waitForExit(timeoutMs)).code;
      } catch (e) {
        killGroup(child, 'SIGKILL');
        throw e;
      }
    },

    kill() {
      killed ??= (async () => {
        if (!status) {
          killGroup(child, 'SIGKILL');
          await waitForExit(10_000).catch(() => undefined);
        } else {
          killGroup(child, 'SIGKILL'); // grandchildren, if any are left
        }
        live.delete(server);
        tempDir?.cleanupSync();
      })();
      return killed;
    },
  };
  live.add(server);
  return server;
}

/**
 * Spawn the server and wait until /api/health answers. When no port was chosen and the free port
 * was taken in the meantime (EADDRINUSE), it retries on a fresh port.
 */
export async function startServerProcess(
  opts: ServerProcessOptions & { healthTimeoutMs?: number } = {},
): Promise<{ server: ServerProcess; health: Health }> {
  const portChosen = opts.port !== undefined || opts.env?.PORT !== undefined;
  for (let attempt = 1; ; attempt++) {
    const server = await spawnServerProcess(opts);
    try {
      const health = await server.waitForHealth(opts.healthTimeoutMs ?? 30_000);
      return { server, health };
    } catch (e) {
      const busy = /EADDRINUSE/.test(server.stdout() + server.stderr());
      await server.kill();
      if (busy && !portChosen && attempt < 3) continue;
      throw e;
    }
  }
}

/** Kill every server process started by this module that is still running. */
export async function killAllServerProcesses(): Promise<void> {
  await Promise.all([...live].map((s) => s.kill()));
}

/** Sign in through the API; returns the response and the `parcelroom_session` cookie pair. */
export async function login(
  url: string,
  email: string,
  password: string,
): Promise<{ res: Response; setCookie: string | null; cookie: string | null }> {
  const res = await fetch(`${url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  const setCookie =
    res.headers.getSetCookie().find((c) => c.startsWith('parcelroom_session=')) ?? null;
  const cookie = setCookie?.split(';')[0] ?? null;
  return { res, setCookie, cookie };
}
