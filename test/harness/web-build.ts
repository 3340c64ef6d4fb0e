/**
 * The built console (web/build) for tests that serve it: end-to-end tests that call
 * `startServer()` in-process, and process tests, whose `npm start` would otherwise rebuild a stale
 * console in each spawned process (several at once, into the same folder).
 *
 * `ensureWebBuilt()` runs `npm run build:web` when web/build/index.html is missing or older than
 * the newest file under web/src (the rule scripts/start.mjs uses). One build at a time across all
 * test workers, through a lock folder in the OS temp dir.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WEB_BUILD_DIR, WEB_INDEX_FILE } from '../../web/index.ts';
import { REPO_ROOT } from './server.process.ts';

export { WEB_BUILD_DIR, WEB_INDEX_FILE };

const WEB_SRC = join(REPO_ROOT, 'web', 'src');

export type WebBuildState = 'missing' | 'stale' | 'fresh';

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/** Whether web/build is there and newer than every file in web/src. */
export function webBuildState(): WebBuildState {
  if (!existsSync(WEB_INDEX_FILE)) return 'missing';
  return newestMtime(WEB_SRC) > statSync(WEB_INDEX_FILE).mtimeMs ? 'stale' : 'fresh';
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const LOCK_DIR = join(
  tmpdir(),
  `parcelroom-web-build-${createHash('sha256').update(REPO_ROOT).digest('hex').slice(0, 12)}.lock`,
);

async function withBuildLock<T>(timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      mkdirSync(LOCK_DIR);
      writeFileSync(join(LOCK_DIR, 'pid'), String(process.pid));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let owner = Number.NaN;
      try {
        owner = Number.parseInt(readFileSync(join(LOCK_DIR, 'pid'), 'utf8'), 10);
      } catch {
        // the owner is between mkdir and writing its pid
      }
      if (Number.isInteger(owner) && !pidAlive(owner)) {
        rmSync(LOCK_DIR, { recursive: true, force: true }); // left by a dead process
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `another process has been building web/ for ${timeoutMs} ms (${LOCK_DIR})`,
          { cause: err },
        );
      }
      await sleep(200);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(LOCK_DIR, { recursive: true, force: true });
  }
}

function runBuild(timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      'npm',
      ['run', '--silent', 'build:web'],
      { cwd: REPO_ROOT, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) {
          reject(
            new Error(`npm run build:web failed: ${err.message}\n${stdout}\n${stderr}`, {
              cause: err,
            }),
          );
        } else {
          resolve();
        }
      },
    );
  });
}

let pending: Promise<{ built: boolean; ms: number }> | undefined;

/**
 * Make sure web/build holds a console built from the current web/src. Builds at most once per
 * test process (later calls share the first one's result). Returns whether it built, and how long
 * it took.
 */
export function ensureWebBuilt(
  opts: { timeoutMs?: number } = {},
): Promise<{ built: boolean; ms: number }> {
  const timeoutMs = opts.timeoutMs ?? 240_000;
  pending ??= (async () => {
    const started = Date.now();
    if (webBuildState() === 'fresh') return { built: false, ms: 0 };
    return withBuildLock(timeoutMs, async () => {
      // Another worker may have built it while we waited for the lock.
      if (webBuildState() === 'fresh') return { built: false, ms: Date.now() - started };
      await runBuild(timeoutMs);
      if (!existsSync(WEB_INDEX_FILE)) {
        throw new Error(`npm run build:web succeeded but ${WEB_INDEX_FILE} is missing`);
      }
      return { built: true, ms: Date.now() - started };
    });
  })();
  pending.catch(() => {
    pending = undefined; // let a later call try again
  });
  return pending;
}
