/**
 * Throw-away PostgreSQL servers for integration and end-to-end tests.
 *
 * Uses the distribution's binaries (Debian: `apt-get install -y postgresql`, found under
 * /usr/lib/postgresql/<major>/bin) and runs a private cluster in a fresh temp folder, on a free
 * 127.0.0.1 port, with durability switched off for speed. Nothing is shared with a system cluster.
 *
 * initdb and postgres refuse to run as root; when the tests run as root the cluster is run as the
 * `postgres` system user (or a dedicated `parcelroom-pg` system user, created on demand).
 */
import { execFile, execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readdirSync, rmSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, rm, writeFile, appendFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import postgres from 'postgres';
import { getFreePort } from './free-port.ts';
import { makeTempDir } from './temp-dir.ts';

export interface PostgresInstall {
  /** Directory holding initdb, pg_ctl and postgres. */
  binDir: string;
  /** Full version string, e.g. "15.14". */
  version: string;
  /** Major version, e.g. 15. */
  major: number;
}

export interface StartPostgresOptions {
  /** Which installation to use; defaults to {@link findPostgres}. */
  install?: PostgresInstall;
  /** Superuser name created by initdb (no password, trust auth). Default "parcelroom". */
  user?: string;
  /** Default 200. */
  maxConnections?: number;
  /** Extra postgresql.conf settings, e.g. `{ log_min_duration_statement: 0 }`. */
  settings?: Record<string, string | number | boolean>;
  /** How long to wait for the server to accept connections. Default 60 s. */
  startTimeoutMs?: number;
}

export type PostgresState = 'running' | 'halted' | 'stopped';

export interface PostgresServer {
  /** `postgres://<user>@127.0.0.1:<port>/postgres` */
  readonly url: string;
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly user: string;
  /** The cluster's data directory (PGDATA). */
  readonly dataDir: string;
  /** Temp folder holding data dir, socket dir and log file; removed by {@link stop}. */
  readonly baseDir: string;
  /** Directory holding the unix socket. */
  readonly socketDir: string;
  /** Server log (pg_ctl -l). */
  readonly logFile: string;
  readonly install: PostgresInstall;
  state(): PostgresState;
  /** Stop (fast shutdown) and remove the temp folder. Idempotent. */
  stop(): Promise<void>;
  /** Restart (fast shutdown, start again), same data dir and port; starts it if halted. */
  restart(): Promise<void>;
  /**
   * Stop the server but keep its data dir, so {@link resume} can bring it back on the same port.
   * `immediate` simulates a crash (recovery runs on resume); default `fast` (clean shutdown).
   */
  halt(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Start a halted server again on the same data dir and port; waits until it accepts queries. */
  resume(): Promise<void>;
  /** Last `lines` lines of the server log, for diagnostics. */
  logTail(lines?: number): Promise<string>;
}

// ---------------------------------------------------------------------------------------------
// Discovery

const REQUIRED_BINARIES = ['initdb', 'pg_ctl', 'postgres'] as const;

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function hasBinaries(binDir: string): boolean {
  return REQUIRED_BINARIES.every((b) => isExecutable(join(binDir, b)));
}

function readVersion(binDir: string): PostgresInstall | null {
  try {
    const out = execFileSync(join(binDir, 'postgres'), ['--version'], {
      encoding: 'utf8',
      timeout: 10_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    // "postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)"
    const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(out);
    if (!m?.[1]) return null;
    const major = Number(m[1]);
    const version = m[2] === undefined ? m[1] : `${m[1]}.${m[2]}`;
    return { binDir, version, major };
  } catch {
    return null;
  }
}

function candidateBinDirs(): string[] {
  const dirs: string[] = [];
  const fromEnv = process.env.PARCELROOM_PG_BINDIR;
  if (fromEnv) dirs.push(fromEnv);
  const root = '/usr/lib/postgresql';
  try {
    const versions = readdirSync(root)
      .filter((v) => /^\d+(\.\d+)?$/.test(v))
      .sort((a, b) => Number(b) - Number(a)); // newest first
    for (const v of versions) dirs.push(join(root, v, 'bin'));
  } catch {
    // not a Debian-style install
  }
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir) dirs.push(dir);
  }
  return dirs;
}

let cachedInstall: PostgresInstall | null | undefined;

/**
 * Locate a PostgreSQL server installation: `$PARCELROOM_PG_BINDIR`, then the newest
 * /usr/lib/postgresql/<major>/bin, then `$PATH`. Returns null when none is installed.
 */
export function findPostgres(): { binDir: string; version: string; major: number } | null {
  if (cachedInstall !== undefined) return cachedInstall;
  cachedInstall = null;
  for (const dir of candidateBinDirs()) {
    if (!hasBinaries(dir)) continue;
    const found = readVersion(dir);
    if (found) {
      cachedInstall = found;
      break;
    }
  }
  return cachedInstall;
}

// ---------------------------------------------------------------------------------------------
// Running the binaries (as an unprivileged user when we are root)

interface RunAs {
  uid: number;
  gid: number;
  name: string;
}

let cachedRunAs: RunAs | null | undefined;

function lookupUser(name: string): RunAs | null {
  try {
    const uid = Number(execFileSync('id', ['-u', name], { encoding: 'utf8', stdio: 'pipe' }));
    const gid = Number(execFileSync('id', ['-g', name], { encoding: 'utf8', stdio: 'pipe' }));
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) return null;
    return { uid, gid, name };
  } catch {
    return null;
  }
}

/** null when we are not root (run the binaries directly). */
function runAs(): RunAs | null {
  if (cachedRunAs !== undefined) return cachedRunAs;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    cachedRunAs = null;
    return null;
  }
  let user = lookupUser('postgres') ?? lookupUser('parcelroom-pg');
  if (!user) {
    execFileSync(
      'useradd',
      ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', 'parcelroom-pg'],
      { stdio: 'pipe' },
    );
    user = lookupUser('parcelroom-pg');
    if (!user) throw new Error('created system user parcelroom-pg but cannot look it up');
  }
  cachedRunAs = user;
  return user;
}

function childEnv(home: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, LC_ALL: 'C', LANG: 'C', HOME: home };
  // Don't let a developer's libpq settings leak into pg_ctl / initdb.
  for (const key of Object.keys(env)) {
    if (key.startsWith('PG')) delete env[key];
  }
  return env;
}

interface RunResult {
  stdout: string;
  stderr: string;
}

function run(
  bin: string,
  args: string[],
  opts: { cwd: string; timeoutMs: number },
): Promise<RunResult> {
  const user = runAs();
  return new Promise((resolve, reject) => {
    execFile(
      bin,
      args,
      {
        cwd: opts.cwd,
        env: childEnv(opts.cwd),
        timeout: opts.timeoutMs,
        maxBuffer: 16 * 1024 * 1024,
        encoding: 'utf8',
        ...(user ? { uid: user.uid, gid: user.gid } : {}),
      },
      (err, stdout, stderr) => {
        if (err) {
          const detail = [stdout.trim(), stderr.trim()].filter(Boolean).join('\n');
          reject(
            new Error(
              `${bin} ${args.join(' ')} failed: ${err.message}${detail ? `\n${detail}` : ''}`,
              {
                cause: err,
              },
            ),
          );
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
  });
}

function runSync(bin: string, args: string[], cwd: string): void {
  const user = runAs();
  execFileSync(bin, args, {
    cwd,
    env: childEnv(cwd),
    stdio: 'ignore',
    timeout: 30_000,
    ...(user ? { uid: user.uid, gid: user.gid } : {}),
  });
}

// ---------------------------------------------------------------------------------------------
// Cleanup of servers left running when the process exits without calling stop()

interface LiveServer {
  pgCtl: string;
  dataDir: string;
  baseDir: string;
}

const live = new Set<LiveServer>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const s of live) {
      try {
        if (existsSync(join(s.dataDir, 'postmaster.pid'))) {
          runSync(
            s.pgCtl,
            ['stop', '-D', s.dataDir, '-m', 'immediate', '-w', '-t', '20'],
            s.baseDir,
          );
        }
      } catch {
        // best effort
      }
      try {
        rmSync(s.baseDir, { recursive: true, force: true });
      } catch {
        // best effort
      }
    }
    live.clear();
  });
}

// ---------------------------------------------------------------------------------------------
// Server lifecycle

function formatSetting(value: string | number | boolean): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitForQueries(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    const sql = postgres(url, { max: 1, connect_timeout: 5, onnotice: () => {} });
    try {
      await sql`select 1`;
      return;
    } catch (err) {
      lastError = err;
    } finally {
      await sql.end({ timeout: 1 }).catch(() => {});
    }
    await sleep(100);
  }
  throw new Error(`PostgreSQL at ${url} did not accept connections within ${timeoutMs} ms`, {
    cause: lastError,
  });
}

/**
 * initdb a fresh cluster in a temp folder and start it on a free 127.0.0.1 port.
 * Throws when PostgreSQL is not installed (use `requirePostgres()` to check first).
 */
export async function startPostgres(opts: StartPostgresOptions = {}): Promise<PostgresServer> {
  const install = opts.install ?? findPostgres();
  if (!install) {
    throw new Error(
      'PostgreSQL server binaries (initdb, pg_ctl, postgres) not found. ' +
        'Install them with: apt-get update && apt-get install -y postgresql',
    );
  }
  const user = opts.user ?? 'parcelroom';
  const startTimeoutMs = opts.startTimeoutMs ?? 60_000;
  const initdb = join(install.binDir, 'initdb');
  const pgCtl = join(install.binDir, 'pg_ctl');

  const base = await makeTempDir('parcelroom-pg');
  const baseDir = base.path;
  const dataDir = join(baseDir, 'data');
  const socketDir = join(baseDir, 'sock');
  const logFile = join(baseDir, 'postgres.log');
  const confFile = join(dataDir, 'parcelroom-test.conf');

  let state: PostgresState = 'halted';
  let port = 0;
  const entry: LiveServer = { pgCtl, dataDir, baseDir };

  const writeConf = async () => {
    const settings: Record<string, string | number | boolean> = {
      listen_addresses: '127.0.0.1',
      port,
      unix_socket_directories: socketDir,
      max_connections: opts.maxConnections ?? 200,
      // Durability against OS crashes is pointless for tests. synchronous_commit stays on on
      // purpose: with it off, an immediate (crash-style) halt() loses recently committed rows.
      fsync: false,
      full_page_writes: false,
      logging_collector: false,
      log_min_messages: 'warning',
      timezone: 'UTC',
      ...opts.settings,
    };
    const body = Object.entries(settings)
      .map(([k, v]) => `${k} = ${formatSetting(v)}`)
      .join('\n');
    await writeFile(confFile, `# written by test/harness/postgres.server.ts\n${body}\n`, {
      mode: 0o644,
    });
  };

  const pgCtlStart = async () => {
    await run(
      pgCtl,
      [
        'start',
        '-D',
        dataDir,
        '-l',
        logFile,
        '-w',
        '-t',
        String(Math.ceil(startTimeoutMs / 1000)),
        '-s',
      ],
      {
        cwd: baseDir,
        timeoutMs: startTimeoutMs + 10_000,
      },
    );
  };

  const logTail = async (lines = 40): Promise<string> => {
    try {
      const text = await readFile(logFile, 'utf8');
      return text
        .split('\n')
        .slice(-lines - 1)
        .join('\n');
    } catch {
      return '(no server log)';
    }
  };

  const withLog = async (err: unknown): Promise<Error> => {
    const message = err instanceof Error ? err.message : String(err);
    return new Error(`${message}\n--- ${logFile} (tail) ---\n${await logTail()}`, { cause: err });
  };

  const url = () => `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/postgres`;

  try {
    const owner = runAs();
    await chmod(baseDir, 0o700);
    await mkdir(socketDir, { mode: 0o700 });
    if (owner) {
      await chown(baseDir, owner.uid, owner.gid);
      await chown(socketDir, owner.uid, owner.gid);
    }

    const initArgs = [
      '-D',
      dataDir,
      '--auth=trust',
      '-U',
      user,
      '--encoding=UTF8',
      '--locale=C',
      '--no-sync',
    ];
    if (install.major >= 14) initArgs.push('--no-instructions');
    await run(initdb, initArgs, { cwd: baseDir, timeoutMs: 120_000 });
    await appendFile(join(dataDir, 'postgresql.conf'), "\ninclude 'parcelroom-test.conf'\n");

    installExitHook();
    live.add(entry);

    // The free port may be taken between probing and binding; retry with a new one.
    for (let attempt = 1; ; attempt++) {
      port = await getFreePort('127.0.0.1');
      await writeConf();
      try {
        await pgCtlStart();
        break;
      } catch (err) {
        const log = await logTail(20);
        if (attempt < 5 && /could not bind|address already in use/i.test(log)) continue;
        throw err;
      }
    }
    state = 'running';
    await waitForQueries(url(), startTimeoutMs);
  } catch (err) {
    const wrapped = await withLog(err);
    try {
      if (existsSync(join(dataDir, 'postmaster.pid'))) {
        await run(pgCtl, ['stop', '-D', dataDir, '-m', 'immediate', '-w'], {
          cwd: baseDir,
          timeoutMs: 30_000,
        });
      }
    } catch {
      // ignore; we are already failing
    }
    live.delete(entry);
    await base.cleanup();
    throw wrapped;
  }

  const stopServer = async (mode: 'fast' | 'immediate') => {
    await run(pgCtl, ['stop', '-D', dataDir, '-m', mode, '-w', '-t', '60', '-s'], {
      cwd: baseDir,
      timeoutMs: 70_000,
    });
  };

  // Serialize lifecycle operations so overlapping calls can't interleave pg_ctl invocations.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => {});
    return next;
  };

  const server: PostgresServer = {
    url: url(),
    host: '127.0.0.1',
    port,
    user,
    dataDir,
    baseDir,
    socketDir,
    logFile,
    install,
    state: () => state,
    logTail,
    halt: (mode = 'fast') =>
      serial(async () => {
        if (state !== 'running') return;
        try {
          await stopServer(mode);
        } catch (err) {
          throw await withLog(err);
        }
        state = 'halted';
      }),
    resume: () =>
      serial(async () => {
        if (state === 'stopped') throw new Error('PostgreSQL server was stopped and removed');
        if (state === 'running') return;
        try {
          await pgCtlStart();
          state = 'running';
          await waitForQueries(url(), startTimeoutMs);
        } catch (err) {
          throw await withLog(err);
        }
      }),
    restart: () =>
      serial(async () => {
        if (state === 'stopped') throw new Error('PostgreSQL server was stopped and removed');
        try {
          if (state === 'running') await stopServer('fast');
          state = 'halted';
          await pgCtlStart();
          state = 'running';
          await waitForQueries(url(), startTimeoutMs);
        } catch (err) {
          throw await withLog(err);
        }
      }),
    stop: () =>
      serial(async () => {
        if (state === 'stopped') return;
        try {
          if (state === 'running') {
            try {
              await stopServer('fast');
            } catch {
              await stopServer('immediate');
            }
          }
        } finally {
          state = 'stopped';
          live.delete(entry);
          await rm(baseDir, { recursive: true, force: true, maxRetries: 3, retryDelay: 100 });
        }
      }),
  };
  return server;
}

// ---------------------------------------------------------------------------------------------
// Databases

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

let dbCounter = 0;

/** A database name unlikely to collide across parallel test workers, e.g. `t_events_4711_1_x9k2`. */
export function uniqueDatabaseName(prefix = 'test'): string {
  const clean = prefix
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 30);
  const rand = Math.random().toString(36).slice(2, 8);
  return `t_${clean}_${process.pid}_${++dbCounter}_${rand}`;
}

/**
 * CREATE DATABASE `name` on the server at `baseUrl` and return a URL pointing at the new, empty
 * database (same credentials/host/port).
 */
export async function createDatabase(baseUrl: string, name: string): Promise<string> {
  if (!IDENTIFIER.test(name)) {
    throw new Error(`invalid database name ${JSON.stringify(name)} (use [A-Za-z_][A-Za-z0-9_]*)`);
  }
  const sql = postgres(baseUrl, { max: 1, connect_timeout: 10, onnotice: () => {} });
  try {
    await sql`create database ${sql(name)}`;
  } finally {
    await sql.end({ timeout: 5 });
  }
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** DROP DATABASE `name` (terminating open connections to it). Missing databases are ignored. */
export async function dropDatabase(baseUrl: string, name: string): Promise<void> {
  if (!IDENTIFIER.test(name)) throw new Error(`invalid database name ${JSON.stringify(name)}`);
  const sql = postgres(baseUrl, { max: 1, connect_timeout: 10, onnotice: () => {} });
  try {
    await sql`drop database if exists ${sql(name)} with (force)`;
  } finally {
    await sql.end({ timeout: 5 });
  }
}
