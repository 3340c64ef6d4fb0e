import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import { openDatabase, DatabaseLockedError, type Database } from '../db/index.ts';
import { systemClock, type Clock } from '../hardware/clock.ts';
import { WEB_BUILD_DIR } from '../web/index.ts';
import type { AuthService } from './auth/auth.service.ts';
import { composeServices, type Composed } from './compose.ts';
import { analyticsRequest } from './cameras/analytics.runtime.ts';
import { ConfigError, loadConfig, type LoadedConfig } from './config/index.ts';
import { createLogger, type Logger } from './log/logger.ts';

export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

export interface RunningServer {
  url: string;
  /**
   * The services this server runs on (flags, cameras, analytics, auth…): for tests that check
   * or drive the box behind its HTTP API, and for embedding. Closed by `close()`.
   */
  services: Composed;
  close(): Promise<void>;
}

/**
 * The composition root: settings → site → database → services → HTTP. Everything with a side
 * effect is made here and passed in; nothing below reaches for a module singleton.
 */
export async function startServer(
  config: LoadedConfig,
  opts: { clock?: Clock; log?: Logger; webDir?: string | null } = {},
): Promise<RunningServer> {
  const { settings, site } = config;
  const clock = opts.clock ?? systemClock();
  const log = opts.log ?? createLogger({ level: settings.PARCELROOM_LOG_LEVEL });
  const dataDir = resolve(settings.DATA_DIR);
  mkdirSync(dataDir, { recursive: true });

  const database: Database = await openDatabase({
    url: settings.DATABASE_URL,
    dataDir,
    onNotice: (m) => log.debug('database notice', { message: m }),
  });
  log.info('database ready', { kind: database.kind });
  let composed: Composed | undefined;
  let server: ServerType | undefined;
  try {
    // With a model the analytics runtime says itself whether it runs (the model may not load).
    const analytics = analyticsRequest(settings.PARCELROOM_MODEL);
    if (analytics.state === 'off') log.info('analytics off', { reason: analytics.reason });
    composed = await composeServices({
      site,
      siteSource: config.siteSource,
      database,
      dataDir,
      clock,
      log,
      version: VERSION,
      secret: settings.PARCELROOM_SECRET,
      signingKeyPem: settings.PARCELROOM_SIGNING_KEY,
      sessionIdleMs: settings.PARCELROOM_SESSION_HOURS * 3_600_000,
      secureCookies: settings.PARCELROOM_SECURE_COOKIES,
      webDir: opts.webDir === undefined ? WEB_BUILD_DIR : opts.webDir,
      analytics,
    });
    await ensureAdmin(composed.auth, config, dataDir, log);
    const app = composed.app;
    server = await new Promise<ServerType>((resolveListen, reject) => {
      const s = serve({ fetch: app.fetch, port: settings.PORT, hostname: settings.HOST }, () =>
        resolveListen(s),
      );
      s.once('error', reject);
    });
  } catch (err) {
    await composed?.close();
    await database.close();
    throw err;
  }
  const url = `http://${settings.HOST.includes(':') ? `[${settings.HOST}]` : settings.HOST}:${settings.PORT}`;
  log.info('listening', { url, site: site.site.id, siteSource: config.siteSource });

  let closing: Promise<void> | undefined;
  const runningServer = server;
  const services = composed;
  return {
    url,
    services,
    close: () =>
      (closing ??= (async () => {
        await new Promise<void>((r) => {
          runningServer.close(() => r());
          // Keep-alive sockets of browsers would hold close() open; end them.
          (runningServer as { closeAllConnections?: () => void }).closeAllConnections?.();
        });
        await services.close();
        await database.close();
        log.info('stopped');
      })()),
  };
}

async function ensureAdmin(
  auth: AuthService,
  config: LoadedConfig,
  dataDir: string,
  log: Logger,
): Promise<void> {
  const { PARCELROOM_ADMIN_EMAIL: email, PARCELROOM_ADMIN_PASSWORD: password } = config.settings;
  if (email && password) {
    const { created } = await auth.ensureAdmin(email, password);
    if (created) log.info('admin account created', { email });
    return;
  }
  if (await auth.hasAdmin()) return;
  // First start with no admin configured: make one with a random password so the console can be
  // opened, and say where the password is. Nothing weak is ever baked in.
  const generated = randomBytes(12).toString('base64url');
  const fallbackEmail = 'admin@parcelroom.local';
  await auth.ensureAdmin(fallbackEmail, generated);
  const file = join(dataDir, 'initial-admin-password.txt');
  writeFileSync(file, `${fallbackEmail}\n${generated}\n`, { mode: 0o600 });
  log.warn('admin account created with a generated password', {
    email: fallbackEmail,
    password: generated,
    savedIn: file,
    hint: 'set PARCELROOM_ADMIN_EMAIL and PARCELROOM_ADMIN_PASSWORD to choose your own',
  });
}

/** `npm start`: read the environment, start, and stop cleanly on SIGINT/SIGTERM. */
export async function main(env: Record<string, string | undefined> = process.env): Promise<void> {
  let config: LoadedConfig;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`parcelroom: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger({ level: config.settings.PARCELROOM_LOG_LEVEL });
  let running: RunningServer;
  try {
    running = await startServer(config, { log });
  } catch (err) {
    // Fatal start-up problems go to stderr as plain text too, where operators look first.
    const message = err instanceof DatabaseLockedError ? err.message : String(err);
    log.error('start-up failed', { err });
    process.stderr.write(`parcelroom: start-up failed: ${message}\n`);
    process.exit(1);
  }
  const stop = (signal: string) => {
    log.info('shutting down', { signal });
    const force = setTimeout(() => {
      log.error('shutdown took too long; exiting');
      process.exit(1);
    }, 10_000);
    force.unref();
    running.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error('shutdown failed', { err });
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}
