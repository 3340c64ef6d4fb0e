import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { loadConfig } from '../../server/config/index.ts';
import { startServer, type RunningServer } from '../../server/main.ts';
import { getFreePort } from './free-port.ts';
import { createDatabase, dropDatabase, uniqueDatabaseName } from './postgres.server.ts';
import { makeTempDir } from './temp-dir.ts';
import { ensureWebBuilt, WEB_BUILD_DIR } from './web-build.ts';

/** Start the server in-process; retries on a fresh port if the free one was taken meanwhile. */
export async function startOnFreePort(env: Record<string, string>): Promise<RunningServer> {
  for (let attempt = 1; ; attempt++) {
    const config = loadConfig({ ...env, PORT: String(await getFreePort()), HOST: '127.0.0.1' });
    try {
      return await startServer(config, { webDir: WEB_BUILD_DIR });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 3) continue;
      throw err;
    }
  }
}

/** A JSON call to the running server, with an optional session cookie. */
export async function api(
  url: string,
  path: string,
  init: { method?: string; body?: unknown; cookie?: string } = {},
): Promise<Response> {
  return fetch(`${url}${path}`, {
    method: init.method ?? 'GET',
    headers: {
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(init.cookie ? { cookie: init.cookie } : {}),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
}

/** Fill the console's sign-in form and submit it. */
export async function signIn(page: Page, email: string, password: string): Promise<void> {
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

export interface E2eSite {
  server: RunningServer;
  close(): Promise<void>;
}

/**
 * A built console and a running server with the demo room and an admin from the environment, on
 * embedded PGlite or a fresh database of the run's PostgreSQL; `close()` removes all of it.
 */
export async function startE2eSite(opts: {
  kind: 'pglite' | 'postgres';
  name: string;
  admin: { email: string; password: string };
  pgBaseUrl: string | null;
  /** A site file's content (written as JSON to the data folder) instead of the demo room. */
  site?: Record<string, unknown>;
  /** More settings for the server, added to the environment. */
  env?: Record<string, string>;
}): Promise<E2eSite> {
  await ensureWebBuilt();
  const dataDir = await makeTempDir(`parcelroom-e2e-${opts.name}-${opts.kind}`);
  const env: Record<string, string> = {
    DATA_DIR: dataDir.path,
    PARCELROOM_ADMIN_EMAIL: opts.admin.email,
    PARCELROOM_ADMIN_PASSWORD: opts.admin.password,
    PARCELROOM_LOG_LEVEL: 'error',
    ...opts.env,
  };
  if (opts.site) {
    const file = join(dataDir.path, 'site.json');
    await writeFile(file, JSON.stringify(opts.site, null, 2));
    env.PARCELROOM_CONFIG = file;
  }
  let dbName: string | undefined;
  if (opts.kind === 'postgres') {
    dbName = uniqueDatabaseName(`e2e_${opts.name}`);
    env.DATABASE_URL = await createDatabase(opts.pgBaseUrl ?? '', dbName);
  }
  const server = await startOnFreePort(env);
  return {
    server,
    async close() {
      await server.close();
      await dataDir.cleanup();
      if (dbName && opts.pgBaseUrl) await dropDatabase(opts.pgBaseUrl, dbName);
    },
  };
}
