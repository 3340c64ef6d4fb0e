/**
 * Start-up, shutdown and restart through the real process: `node scripts/start.mjs`, exactly what
 * `npm start` runs, with a temp DATA_DIR and a free port. Covers the issue's "Done when" lines:
 * health and console on one port, PostgreSQL when DATABASE_URL is set, exit code 2 naming the
 * field for a bad site file or setting, the PGlite lock, clean SIGTERM, data that survives a
 * restart, and the generated first admin password.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it, type ExpectStatic } from 'vitest';
import { demoSite } from '../../server/config/index.ts';
import { createDatabase, dropDatabase, uniqueDatabaseName } from '../harness/postgres.server.ts';
import { requireProvided } from '../harness/requirements.ts';
import {
  killAllServerProcesses,
  login,
  spawnServerProcess,
  startServerProcess,
  type Health,
  type ServerProcess,
} from '../harness/server.process.ts';
import { makeTempDir, type TempDir } from '../harness/temp-dir.ts';
import { ensureWebBuilt } from '../harness/web-build.ts';

const pgBaseUrl = requireProvided(inject('pgBaseUrl'), 'PostgreSQL');

const ADMIN_EMAIL = 'admin@startup.test';
const ADMIN_PASSWORD = 'correct horse battery staple';

let files: TempDir;

beforeAll(async () => {
  // Build the console once here, so no spawned `npm start` finds it stale and builds it (several
  // processes at once, into the same folder).
  await ensureWebBuilt();
  files = await makeTempDir('parcelroom-startup-files');
}, 300_000);

afterAll(async () => {
  await killAllServerProcesses();
  await files?.cleanup();
});

/** The demo room as a site file, with `edit` applied to the raw object. */
function siteWith(edit: (site: Record<string, unknown>) => void): Record<string, unknown> {
  const site = demoSite();
  edit(site);
  return site;
}

async function writeSiteFile(name: string, content: string): Promise<string> {
  const path = join(files.path, name);
  await writeFile(path, content);
  return path;
}

/** The Set-Cookie of a login: the session cookie, httpOnly, SameSite=Strict, not Secure on http. */
function expectSessionCookie(setCookie: string | null): void {
  expect(setCookie).toMatch(/^parcelroom_session=[^;]+/);
  const attrs = (setCookie ?? '').split(';').map((a) => a.trim().toLowerCase());
  expect(attrs).toContain('httponly');
  expect(attrs).toContain('samesite=strict');
  expect(attrs).toContain('path=/');
  expect(attrs).not.toContain('secure');
}

/** The issue lines of a ConfigError on stderr: "  <field>: <message>". */
function issueLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => /^ {2}\S/.test(l));
}

describe('npm start with embedded PGlite (no DATABASE_URL, no admin settings)', () => {
  let dataDir: TempDir;
  let first: ServerProcess;
  let firstHealth: Health;
  let firstReadyMs: number;
  let generated: { email: string; password: string };

  beforeAll(async () => {
    dataDir = await makeTempDir('parcelroom-startup-pglite');
    const started = Date.now();
    ({ server: first, health: firstHealth } = await startServerProcess({
      dataDir: dataDir.path,
      healthTimeoutMs: 30_000,
    }));
    firstReadyMs = Date.now() - started;
  });

  afterAll(async () => {
    await killAllServerProcesses();
    await dataDir?.cleanup();
  });

  it('answers /api/health with database pglite within 30 s', () => {
    expect(firstReadyMs).toBeLessThan(30_000);
    expect(firstHealth).toMatchObject({ status: 'ok', database: 'pglite' });
    expect(firstHealth.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(first.logs().some((r) => r.msg === 'listening' && r.url === first.url)).toBe(true);
    expect(existsSync(join(dataDir.path, 'pglite'))).toBe(true);
  });

  it('serves the console on the same port: / and client routes get the SvelteKit app shell', async () => {
    for (const path of ['/', '/residents']) {
      const res = await fetch(`${first.url}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type'), path).toMatch(/^text\/html/);
      const html = await res.text();
      expect(html).toContain('<div');
      expect(html).toContain('<title>Parcelroom</title>');
      expect(html).toMatch(/__sveltekit_\w+\s*=/);
    }
    // The script the shell boots from is served too.
    const html = await (await fetch(`${first.url}/`)).text();
    const entry = /import\("(\/_app\/immutable\/entry\/start\.[^"]+\.js)"\)/.exec(html)?.[1];
    expect(entry).toBeDefined();
    const script = await fetch(`${first.url}${entry}`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/javascript/);
  });

  it('answers an unknown /api path with a JSON 404', async () => {
    for (const [method, path] of [
      ['GET', '/api/x'],
      ['POST', '/api/no/such/route'],
    ] as const) {
      const res = await fetch(`${first.url}${path}`, { method });
      expect(res.status, path).toBe(404);
      expect(res.headers.get('content-type'), path).toMatch(/^application\/json/);
      const body = (await res.json()) as { error: { code: unknown; message: unknown } };
      expect(body).toEqual({
        error: { code: expect.any(String) as string, message: expect.any(String) as string },
      });
      expect(body.error.message).toContain(path);
    }
  });

  it('writes DATA_DIR/initial-admin-password.txt on first start, and that password signs in', async () => {
    const file = join(dataDir.path, 'initial-admin-password.txt');
    expect(existsSync(file)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const [email = '', password = ''] = readFileSync(file, 'utf8').split('\n');
    expect(email).toMatch(/@/);
    expect(password.length).toBeGreaterThanOrEqual(12);
    generated = { email, password };
    expect(
      first.logs().some((r) => r.level === 'warn' && r.savedIn === file && r.email === email),
    ).toBe(true);

    const ok = await login(first.url, email, password);
    expect(ok.res.status).toBe(200);
    expectSessionCookie(ok.setCookie);
    const me = await fetch(`${first.url}/api/auth/me`, { headers: { cookie: ok.cookie ?? '' } });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ user: { email, role: 'admin' } });

    const wrong = await login(first.url, email, `${password}x`);
    expect(wrong.res.status).toBe(401);
    expect(wrong.setCookie).toBeNull();
  });

  it('refuses a second process on the same DATA_DIR while the first keeps serving', async () => {
    const second = await spawnServerProcess({ dataDir: dataDir.path });
    const { code } = await second.waitForExit(30_000);
    expect(code, second.describe()).not.toBe(0);
    expect(code).not.toBeNull();
    const output = second.stdout() + second.stderr();
    expect(output).toContain('already open');
    expect(output).toContain(`process ${first.pid}`);
    expect(second.logs().some((r) => r.msg === 'listening')).toBe(false);

    // The refused process left the lock of the first one alone, and the first still works.
    expect(readFileSync(join(dataDir.path, 'parcelroom.lock'), 'utf8').trim()).toBe(
      String(first.pid),
    );
    expect(first.exitStatus()).toBeNull();
    const health = await fetch(`${first.url}/api/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', database: 'pglite' });
    expect((await login(first.url, generated.email, generated.password)).res.status).toBe(200);
  });

  it('exits 0 on SIGTERM logging "stopped"; a new process on the DATA_DIR starts and keeps the admin', async () => {
    expect(generated, 'needs the generated admin of the earlier test').toBeDefined();
    const code = await first.stop('SIGTERM', 15_000);
    expect(code, first.describe()).toBe(0);
    const logs = first.logs();
    expect(logs.some((r) => r.msg === 'shutting down' && r.signal === 'SIGTERM')).toBe(true);
    expect(logs.at(-1)?.msg, first.describe()).toBe('stopped');
    expect(existsSync(join(dataDir.path, 'parcelroom.lock'))).toBe(false);
    await expect(fetch(`${first.url}/api/health`)).rejects.toThrow();

    // Without the file, a fresh database would write a new one; a persisted admin means none.
    await rm(join(dataDir.path, 'initial-admin-password.txt'));
    const { server: again, health } = await startServerProcess({ dataDir: dataDir.path });
    expect(health).toMatchObject({ status: 'ok', database: 'pglite' });
    const res = await login(again.url, generated.email, generated.password);
    expect(res.res.status, again.describe()).toBe(200);
    expect(existsSync(join(dataDir.path, 'initial-admin-password.txt'))).toBe(false);
    expect(
      again.logs().some((r) => r.msg === 'admin account created with a generated password'),
    ).toBe(false);
    expect(await again.stop('SIGTERM')).toBe(0);
  });
});

describe.skipIf(!pgBaseUrl)(
  'npm start with DATABASE_URL on PostgreSQL and a YAML site file',
  () => {
    const dbName = uniqueDatabaseName('startup');
    let server: ServerProcess;
    let health: Health;

    beforeAll(async () => {
      const databaseUrl = await createDatabase(pgBaseUrl ?? '', dbName);
      // A valid file of the same shape as the broken ones below: only their one field is wrong.
      const siteFile = await writeSiteFile(
        'good.site.yaml',
        toYaml(siteWith((s) => (s.site = { id: 'demo', name: 'Harbour Lofts', timezone: 'UTC' }))),
      );
      ({ server, health } = await startServerProcess({
        env: {
          DATABASE_URL: databaseUrl,
          PARCELROOM_CONFIG: siteFile,
          PARCELROOM_ADMIN_EMAIL: ADMIN_EMAIL,
          PARCELROOM_ADMIN_PASSWORD: ADMIN_PASSWORD,
        },
      }));
    });

    afterAll(async () => {
      await server?.kill();
      if (pgBaseUrl) await dropDatabase(pgBaseUrl, dbName);
    });

    it('reports database postgres and the site from the file', () => {
      expect(health).toMatchObject({
        status: 'ok',
        database: 'postgres',
        site: { id: 'demo', name: 'Harbour Lofts' },
      });
      // PostgreSQL holds the data; nothing of an embedded database is made in DATA_DIR.
      expect(existsSync(join(server.dataDir, 'pglite'))).toBe(false);
      expect(existsSync(join(server.dataDir, 'initial-admin-password.txt'))).toBe(false);
    });

    it('signs in the admin from the environment with an httpOnly SameSite=Strict cookie', async () => {
      const { res, setCookie, cookie } = await login(server.url, ADMIN_EMAIL, ADMIN_PASSWORD);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ user: { email: ADMIN_EMAIL, role: 'admin' } });
      expectSessionCookie(setCookie);

      const me = await fetch(`${server.url}/api/auth/me`, { headers: { cookie: cookie ?? '' } });
      expect(me.status).toBe(200);
      const anonymous = await fetch(`${server.url}/api/auth/me`);
      expect(anonymous.status).toBe(401);

      const wrong = await login(server.url, ADMIN_EMAIL, 'not the password at all');
      expect(wrong.res.status).toBe(401);
      expect(await wrong.res.json()).toMatchObject({ error: { code: 'invalid_credentials' } });
    });
  },
);

describe.concurrent(
  'a bad site file or setting stops start-up with exit code 2 naming the field',
  () => {
    /** Start with `env`, expect exit 2 before anything is opened; returns stderr. */
    async function expectConfigExit(
      expect: ExpectStatic,
      env: Record<string, string>,
    ): Promise<string> {
      const proc = await spawnServerProcess({ env });
      try {
        const { code } = await proc.waitForExit(30_000);
        expect(code, proc.describe()).toBe(2);
        expect(proc.logs().some((r) => r.msg === 'listening' || r.msg === 'database ready')).toBe(
          false,
        );
        expect(existsSync(join(proc.dataDir, 'pglite'))).toBe(false);
        return proc.stderr();
      } finally {
        await proc.kill();
      }
    }

    it('YAML site file with doors[0].grantMs: "fast"', async ({ expect }) => {
      const file = await writeSiteFile(
        'bad-grant.site.yaml',
        toYaml(
          siteWith((s) => {
            (s.doors as Record<string, unknown>[])[0]!.grantMs = 'fast';
          }),
        ),
      );
      const stderr = await expectConfigExit(expect, { PARCELROOM_CONFIG: file });
      expect(stderr).toContain(file);
      expect(stderr).toContain('doors[0].grantMs');
      expect(issueLines(stderr)).toHaveLength(1);
    });

    it('JSON site file with an unknown top-level key "colour"', async ({ expect }) => {
      const file = await writeSiteFile(
        'bad-key.site.json',
        JSON.stringify(siteWith((s) => (s.colour = 'blue'))),
      );
      const stderr = await expectConfigExit(expect, { PARCELROOM_CONFIG: file });
      expect(stderr).toContain(file);
      expect(issueLines(stderr)).toEqual([expect.stringMatching(/^ {2}colour: /)]);
    });

    it('setting PORT=abc', async ({ expect }) => {
      const stderr = await expectConfigExit(expect, { PORT: 'abc' });
      expect(issueLines(stderr)).toEqual([expect.stringMatching(/^ {2}PORT: /)]);
    });
  },
);
