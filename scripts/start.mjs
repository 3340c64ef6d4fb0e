// `npm start`: build the console if it is not built yet, then run the server in this process
// (TypeScript loaded through tsx, so there is no separate server build to forget).
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const index = join(root, 'web', 'build', 'index.html');

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

const isStale = () =>
  !existsSync(index) || newestMtime(join(root, 'web', 'src')) > statSync(index).mtimeMs;

// Two starts at once (a service manager and a person, or parallel tests) must not build into the
// same folder together: the first takes a lock folder, the others wait for it and re-check.
const lock = join(root, 'web', '.build-lock');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function buildIfStale() {
  if (!isStale()) return;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // A lock older than 10 minutes was left by a build that died.
      try {
        if (Date.now() - statSync(lock).mtimeMs > 600_000)
          rmSync(lock, { recursive: true, force: true });
      } catch {
        // gone meanwhile
      }
      await sleep(200);
      if (!isStale()) return;
    }
  }
  try {
    if (!isStale()) return;
    process.stderr.write('parcelroom: building the console (web/) ...\n');
    const r = spawnSync('npm', ['run', '--silent', 'build:web'], { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) {
      process.stderr.write('parcelroom: the console build failed; see above\n');
      process.exit(r.status ?? 1);
    }
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
await buildIfStale();

const { register } = await import('tsx/esm/api');
register();
await import('../server/server.entry.ts');
