// Gate: the schema in db/schema.ts and the migrations in db/migrations agree. `drizzle-kit
// generate` must find nothing to do; if it writes a migration, the schema changed without one.
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = join(root, 'db', 'migrations');
const list = () => new Set(readdirSync(dir, { recursive: true }).map(String));
const before = list();
const r = spawnSync('npx', ['drizzle-kit', 'generate', '--name', 'unexpected'], {
  cwd: root,
  encoding: 'utf8',
});
const added = [...list()].filter((f) => !before.has(f));
if (r.status !== 0) {
  process.stderr.write(r.stdout + r.stderr);
  process.exit(1);
}
if (added.length) {
  process.stderr.write(
    `db/schema.ts has changes without a migration; run \`npm run db:generate\`.\nWould add: ${added.join(', ')}\n`,
  );
  // Leave the tree as it was; the journal is restored by git checkout.
  for (const f of added) rmSync(join(dir, f), { force: true });
  spawnSync('git', ['checkout', '--', 'db/migrations/meta/_journal.json'], { cwd: root });
  process.exit(1);
}
process.stdout.write('migrations: schema and migrations agree\n');
