import { inject } from 'vitest';
import { openDatabase, type Database } from '../../db/index.ts';
import { manualClock, type ManualClock } from '../../hardware/clock.ts';
import type { AuthService } from '../../server/auth/auth.service.ts';
import type { Role } from '../../server/auth/roles.ts';
import { composeServices, type ComposeOptions, type Composed } from '../../server/compose.ts';
import { demoSite, parseSite, type SiteConfig } from '../../server/config/index.ts';
import type { DriverFactory } from '../../server/doors/door.drivers.ts';
import type { DoorRuntime } from '../../server/doors/door.runtime.ts';
import { memoryLogger } from '../../server/log/logger.ts';
import { makeTempDir } from './temp-dir.ts';
import { createDatabase, uniqueDatabaseName } from './postgres.server.ts';
import { requireProvided } from './requirements.ts';

export type DbKind = 'pglite' | 'postgres';

/** The database kinds this run can test: PGlite always, PostgreSQL when the setup started one. */
export function databaseKinds(): DbKind[] {
  const pg = requireProvided(inject('pgBaseUrl'), 'PostgreSQL');
  return pg ? ['pglite', 'postgres'] : ['pglite'];
}

export async function openTestDatabase(kind: DbKind): Promise<Database> {
  if (kind === 'pglite') return openDatabase({ dataDir: 'memory://' });
  const base = inject('pgBaseUrl');
  if (!base) throw new Error('PostgreSQL is not available in this run');
  const url = await createDatabase(base, uniqueDatabaseName('api'));
  return openDatabase({ url, poolSize: 4 });
}

export const PASSWORDS: Record<Role, string> = {
  staff: 'staff-password-123',
  manager: 'manager-password-123',
  admin: 'admin-password-1234',
};

export interface TestApp {
  app: Composed['app'];
  services: Composed;
  database: Database;
  clock: ManualClock;
  auth: AuthService;
  site: SiteConfig;
  doors: DoorRuntime;
  dataDir: string;
  log: ReturnType<typeof memoryLogger>;
  users: Record<Role, { id: string; email: string }>;
  /** Signs in through the API and returns the Cookie header to send. */
  login(role: Role): Promise<string>;
  /** JSON request helper: sends `body` as JSON, `auth` as a Cookie or a Bearer token. */
  call(
    method: string,
    path: string,
    opts?: { body?: unknown; cookie?: string; bearer?: string; headers?: Record<string, string> },
  ): Promise<Response>;
  close(): Promise<void>;
}

export async function createTestApp(
  kind: DbKind,
  opts: {
    site?: SiteConfig;
    sessionIdleMs?: number;
    drivers?: DriverFactory;
    clockStart?: number;
    /** An already open database (e.g. on a PostgreSQL server the test stops and starts). */
    database?: Database;
    /** Start the cameras (ffmpeg, camera simulator); default 'off': no video processes. */
    cameras?: 'off' | 'on';
    cameraOverrides?: ComposeOptions['cameraOverrides'];
    /** Outbound webhook retry schedule (webhook tests shorten it). */
    webhookRetryDelaysMs?: number[];
  } = {},
): Promise<TestApp> {
  const database = opts.database ?? (await openTestDatabase(kind));
  const clock = manualClock(opts.clockStart ?? Date.UTC(2026, 10, 21, 9, 0, 0));
  const site = opts.site ?? parseSite(demoSite(), 'demo');
  const tmp = await makeTempDir('parcelroom-app');
  const log = memoryLogger();
  const services = await composeServices({
    site,
    siteSource: 'demo',
    database,
    dataDir: tmp.path,
    clock,
    log,
    version: 'test',
    sessionIdleMs: opts.sessionIdleMs ?? 12 * 3_600_000,
    secureCookies: 'never',
    webDir: null,
    analytics: { state: 'off', reason: 'test' },
    ...(opts.drivers ? { drivers: opts.drivers } : {}),
    cameras: opts.cameras ?? 'off',
    ...(opts.cameraOverrides ? { cameraOverrides: opts.cameraOverrides } : {}),
    ...(opts.webhookRetryDelaysMs ? { webhookRetryDelaysMs: opts.webhookRetryDelaysMs } : {}),
  });
  const { app, auth } = services;
  const users = {} as Record<Role, { id: string; email: string }>;
  for (const role of ['staff', 'manager', 'admin'] as const) {
    const email = `${role}@example.test`;
    const user = await auth.createStaff({ email, name: role, role, password: PASSWORDS[role] });
    users[role] = { id: user.id, email };
  }
  const call: TestApp['call'] = (method, path, o = {}) => {
    const headers: Record<string, string> = { ...o.headers };
    if (o.body !== undefined) headers['content-type'] ??= 'application/json';
    if (o.cookie) headers.cookie = o.cookie;
    if (o.bearer) headers.authorization = `Bearer ${o.bearer}`;
    return Promise.resolve(
      app.request(`http://parcelroom.test${path}`, {
        method,
        headers,
        ...(o.body !== undefined
          ? { body: typeof o.body === 'string' ? o.body : JSON.stringify(o.body) }
          : {}),
      }),
    );
  };
  return {
    app,
    services,
    database,
    clock,
    auth,
    site,
    doors: services.doors,
    dataDir: tmp.path,
    log,
    users,
    call,
    async login(role) {
      const res = await call('POST', '/api/auth/login', {
        body: { email: users[role].email, password: PASSWORDS[role] },
      });
      if (res.status !== 200)
        throw new Error(`login as ${role}: ${res.status} ${await res.text()}`);
      const cookie = res.headers.get('set-cookie') ?? '';
      return cookie.split(';')[0]!;
    },
    async close() {
      await services.close();
      await database.close();
      await tmp.cleanup();
    },
  };
}
