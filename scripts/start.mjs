// `npm start`: build the console if it is not built yet, then run the server in this process
// (TypeScript loaded through tsx, so there is no separate server build to forget).
import { existsSync, readdirSync, statSync } from 'node:fs';
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

const stale = !existsSync(index) || newestMtime(join(root, 'web', 'src')) > statSync(index).mtimeMs;
if (stale) {
  process.stderr.write('parcelroom: building the console (web/) ...\n');
  const r = spawnSync('npm', ['run', '--silent', 'build:web'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stderr.write('parcelroom: the console build failed; see above\n');
    process.exit(r.status ?? 1);
  }
}

const { register } = await import('tsx/esm/api');
register();
await import('../server/server.entry.ts');
