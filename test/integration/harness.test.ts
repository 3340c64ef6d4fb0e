/**
 * Proves the test harness itself: the run-wide PostgreSQL server from the global setup, private
 * servers that can be halted and resumed, and headless system Chromium.
 */
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { launchChromium, type LaunchedChromium } from '../harness/chromium.ts';
import { getFreePort } from '../harness/free-port.ts';
import {
  createDatabase,
  startPostgres,
  uniqueDatabaseName,
  type PostgresServer,
} from '../harness/postgres.server.ts';
import { requireChromium, requirePostgres, requireProvided } from '../harness/requirements.ts';
import { makeTempDir } from '../harness/temp-dir.ts';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const pgBaseUrl = requireProvided(inject('pgBaseUrl'), 'PostgreSQL');
const pgVersion = inject('pgVersion');
const pgInstall = requirePostgres();
const chromiumPath = requireChromium();

describe('small helpers', () => {
  it('getFreePort returns a bindable port', async () => {
    const port = await getFreePort();
    expect(port).toBeGreaterThan(0);
    expect(port).toBeLessThan(65536);
  });

  it('makeTempDir creates and removes a folder', async () => {
    const dir = await makeTempDir('harness');
    await writeFile(join(dir.path, 'x.txt'), 'x');
    expect(existsSync(join(dir.path, 'x.txt'))).toBe(true);
    await dir.cleanup();
    await dir.cleanup(); // idempotent
    expect(existsSync(dir.path)).toBe(false);
  });
});

describe.skipIf(!pgBaseUrl)('run-wide PostgreSQL from the global setup', () => {
  let sql: postgres.Sql;

  beforeAll(async () => {
    const url = await createDatabase(pgBaseUrl ?? '', uniqueDatabaseName('harness'));
    expect(url).toMatch(/^postgres:\/\/parcelroom@127\.0\.0\.1:\d+\/t_harness_/);
    sql = postgres(url, { max: 2, onnotice: () => {} });
  });

  afterAll(async () => {
    await sql?.end({ timeout: 5 });
  });

  it('runs the installed PostgreSQL version', async () => {
    const [row] = await sql<{ version: string }[]>`select version()`;
    const major = pgVersion?.split('.')[0] ?? '';
    expect(major).not.toBe('');
    expect(row?.version).toContain(`PostgreSQL ${major}`);
  });

  it('creates a table in the fresh database and reads rows back', async () => {
    const [{ count } = { count: -1 }] = await sql<{ count: number }[]>`
      select count(*)::int as count from pg_tables where schemaname = 'public'`;
    expect(count).toBe(0); // a new, empty database
    await sql`create table parcels (id serial primary key, label text not null)`;
    await sql`insert into parcels (label) values ('a'), ('b')`;
    const rows = await sql<{ label: string }[]>`select label from parcels order by id`;
    expect(rows.map((r) => r.label)).toEqual(['a', 'b']);
  });

  it('allows many concurrent connections', async () => {
    const [row] = await sql<{ max_connections: string }[]>`show max_connections`;
    expect(Number(row?.max_connections)).toBeGreaterThanOrEqual(200);
  });
});

describe.skipIf(!pgInstall)('private PostgreSQL server: halt and resume', () => {
  let server: PostgresServer;

  beforeAll(async () => {
    server = await startPostgres();
  });

  afterAll(async () => {
    const dataDir = server?.baseDir;
    await server?.stop();
    if (dataDir) expect(existsSync(dataDir)).toBe(false);
  });

  it('keeps data and port across halt() + resume() and restart()', async () => {
    const url = await createDatabase(server.url, 'survivor');
    const port = server.port;

    const before = postgres(url, { max: 1, onnotice: () => {} });
    await before`create table events (id int primary key, kind text)`;
    await before`insert into events values (1, 'door-open'), (2, 'parcel-in')`;
    await before.end({ timeout: 5 });

    await server.halt();
    expect(server.state()).toBe('halted');
    const down = postgres(url, { max: 1, connect_timeout: 2, onnotice: () => {} });
    await expect(down`select 1`).rejects.toThrow();
    await down.end({ timeout: 1 });

    await server.resume();
    expect(server.state()).toBe('running');
    expect(server.port).toBe(port);

    const after = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const rows = await after<{ id: number; kind: string }[]>`select * from events order by id`;
      expect(rows.map((r) => r.kind)).toEqual(['door-open', 'parcel-in']);
      await after`insert into events values (3, 'door-close')`;
    } finally {
      await after.end({ timeout: 5 });
    }

    // A crash-style stop (no shutdown checkpoint) still recovers committed rows.
    await server.halt('immediate');
    await server.restart();
    const again = postgres(url, { max: 1, onnotice: () => {} });
    try {
      const [row] = await again<{ n: number }[]>`select count(*)::int as n from events`;
      expect(row?.n).toBe(3);
    } finally {
      await again.end({ timeout: 5 });
    }
  });
});

describe.skipIf(!chromiumPath)('headless Chromium', () => {
  let browser: LaunchedChromium;

  beforeAll(async () => {
    browser = await launchChromium();
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('renders a page and clicks a button', async () => {
    const page = await browser.context.newPage();
    await page.setContent(`<button onclick="this.textContent = 'clicked'">hi</button>`);
    const button = page.getByRole('button', { name: 'hi' });
    await button.click();
    expect(await page.locator('button').textContent()).toBe('clicked');
    await page.close();
  });
});
