import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { serveStatic } from '@hono/node-server/serve-static';
import type { Db, DatabaseKind } from '../db/index.ts';
import type { Clock } from '../hardware/clock.ts';
import type { AuthService } from './auth/auth.service.ts';
import type { LoginLimiter } from './auth/login.limiter.ts';
import type { SiteConfig } from './config/index.ts';
import type { DoorRuntime } from './doors/door.runtime.ts';
import type { CameraDirectory } from './cameras/camera.types.ts';
import type { AnalyticsHealth } from './cameras/analytics.runtime.ts';
import { createClipLinker, type ClipService } from './cameras/clip.service.ts';
import type { LiveHls } from './cameras/live.hls.ts';
import { clipRoutes } from './routes/clips.routes.ts';
import { liveRoutes } from './routes/live.routes.ts';
import { auditWrites } from './http/audit.middleware.ts';
import { resolvePrincipal } from './http/auth.middleware.ts';
import { isDatabaseUnavailable } from './http/database-unavailable.ts';
import type { AppEnv } from './http/context.ts';
import { ApiError, errorBody } from './http/errors.ts';
import type { Logger } from './log/logger.ts';
import { privateAuthRoutes, publicAuthRoutes } from './routes/auth.routes.ts';
import { residentRoutes } from './routes/residents.routes.ts';
import { staffRoutes } from './routes/staff.routes.ts';
import { systemRoutes } from './routes/system.routes.ts';
import { carrierCodeRoutes } from './routes/carrier-codes.routes.ts';
import { doorRoutes } from './routes/doors.routes.ts';
import { eventRoutes, type LiveFeed } from './routes/events.routes.ts';
import { packageRoutes } from './routes/packages.routes.ts';
import { kioskRoutes } from './routes/kiosk.routes.ts';
import { cameraHealth, cameraRoutes } from './routes/cameras.routes.ts';
import { flagRoutes } from './routes/flags.routes.ts';
import { complianceRoutes } from './routes/compliance.routes.ts';
import type { ComplianceService } from './compliance/compliance.report.ts';
import { auditRoutes } from './routes/audit.routes.ts';
import { caseRoutes } from './routes/cases.routes.ts';
import type { CaseServices } from './cases/index.ts';
import { reportRoutes } from './routes/reports.routes.ts';
import { createRoomReport } from './reports/room.report.ts';
import { auditViews } from './audit/views.middleware.ts';
import { ROSTER_IMPORT_PATH, rosterRoutes } from './routes/roster.routes.ts';
import { webhookRoutes } from './routes/webhooks.routes.ts';
import type { WebhookDispatcher } from './webhooks/webhook.dispatcher.ts';
import type { FlagStore } from './flags/flag.store.ts';
import type { ParcelNotifier } from './packages/parcel.notifier.ts';
import type { ParcelService } from './packages/parcel.service.ts';
import type { AccessEvent } from '../access/index.ts';
import { newId } from '../db/index.ts';
import type { Decision } from '../access/index.ts';
import { pickupRoutes, type PickupCodeService, type VacationHoldService } from './pickup/index.ts';

export interface AppDeps {
  db: Db;
  dbKind: DatabaseKind;
  /** Cheap database round trip for /api/health. */
  ping: () => Promise<boolean>;
  site: SiteConfig;
  siteSource: string;
  clock: Clock;
  log: Logger;
  version: string;
  auth: AuthService;
  loginLimiter: LoginLimiter;
  doors: DoorRuntime;
  /** The cameras: state, streams, which one watches a door. */
  cameras: CameraDirectory;
  /** Event clips cut from the recordings. */
  clips: ClipService;
  /** On-demand HLS live view. */
  hls: LiveHls;
  /** Live access events and door changes for the console's stream. */
  live: LiveFeed;
  /** Keyed hash of a carrier or pickup code. */
  hashCode: (code: string) => string;
  /** Stores an event (package check-ins, pickups) through the journal; true once durable. */
  recordEvent: (event: AccessEvent) => Promise<boolean>;
  /** Tells residents about their parcels. */
  notifier: ParcelNotifier;
  /** Check-in, pickup and return of parcels (staff API and kiosk). */
  parcels: ParcelService;
  /** Vision flags: the review queue, their clips and snapshots. */
  flags: FlagStore;
  /** Carrier visits, drops and the weekly compliance summary. */
  compliance: ComplianceService;
  /** Incident cases and their signed evidence packages. */
  cases: CaseServices;
  /** The outbound webhook catalogue (subscriptions, delivery log, retries). */
  webhooks: WebhookDispatcher;
  /** Residents' pickup codes and vacation holds; absent: those routes are not served. */
  pickup?: {
    codes: PickupCodeService;
    holds: VacationHoldService;
    /** The doors' decider on a pickup code or QR token typed or scanned at a door's kiosk. */
    decide: (doorId: string, input: { code: string } | { token: string }) => Decision;
  };
  /** Cards or codes changed: the doors should re-read their snapshot. */
  onAccessChange: () => Promise<unknown>;
  /** The analytics as they are now: on (model, cameras, per-camera stats) or off and why. */
  analytics: () => AnalyticsHealth;
  /** Built console (web/build); null serves a notice instead. */
  webDir: string | null;
  secureCookies: 'auto' | 'always' | 'never';
  /** Extra parts of /api/health (journal backlog, drivers). */
  status?: () => Record<string, unknown>;
  /** Largest request body accepted, in bytes. */
  maxBodyBytes?: number;
}

/** The whole HTTP surface as a Hono app; tests call `app.request()` without a socket. */
export function createApp(deps: AppDeps): Hono<AppEnv> {
  const siteId = deps.site.site.id;
  const app = new Hono<AppEnv>();

  app.onError((err, c) => {
    if (err instanceof ApiError) {
      for (const [k, v] of Object.entries(err.headers ?? {})) c.header(k, v);
      return c.json(errorBody(err.code, err.message, err.field), err.status);
    }
    // The database out of reach (stopped, restarting) is not a bug: say so, so the desk tries
    // again (the doors never wait for it).
    if (isDatabaseUnavailable(err)) {
      deps.log.warn('request refused: the database is unreachable', {
        path: c.req.path,
        method: c.req.method,
      });
      c.header('Retry-After', '5');
      return c.json(
        errorBody('database_unavailable', 'the database is unreachable; try again shortly'),
        503,
      );
    }
    deps.log.error('request failed', { err, path: c.req.path, method: c.req.method });
    return c.json(errorBody('internal', 'internal error; see the server log'), 500);
  });

  const api = new Hono<AppEnv>();
  api.use('*', async (c, next) => {
    const started = performance.now();
    c.set('requestId', newId(deps.clock.now()));
    await next();
    deps.log.debug('http', {
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      ms: Math.round((performance.now() - started) * 10) / 10,
    });
  });
  const limitBody = bodyLimit({
    maxSize: deps.maxBodyBytes ?? 1024 * 1024,
    onError: (c) => c.json(errorBody('body_too_large', 'the request body is too large'), 413),
  });
  // A roster CSV may be up to 2 MB; its route sets that limit itself.
  api.use('*', (c, next) => (c.req.path === ROSTER_IMPORT_PATH ? next() : limitBody(c, next)));
  // PostgreSQL text cannot hold U+0000, so no stored id contains one: answer as for any unknown
  // id before a route hands it to a query (which would fail as a 500).
  api.use('*', async (c, next) => {
    if (c.req.path.includes('\u0000') || /%00/i.test(c.req.path))
      return c.json(errorBody('not_found', 'no such resource: the path holds a NUL byte'), 404);
    await next();
  });

  api.get('/health', async (c) => {
    const dbOk = await deps.ping();
    return c.json(
      {
        status: dbOk ? 'ok' : 'degraded',
        database: deps.dbKind,
        version: deps.version,
        site: { id: siteId, name: deps.site.site.name },
        analytics: deps.analytics(),
        cameras: cameraHealth(deps.cameras.list()),
        ...deps.status?.(),
        ...(dbOk ? {} : { problems: ['database unreachable'] }),
      },
      dbOk ? 200 : 503,
    );
  });

  const authDeps = {
    auth: deps.auth,
    limiter: deps.loginLimiter,
    db: deps.db,
    siteId,
    clock: deps.clock,
    log: deps.log,
    secureCookies: deps.secureCookies,
  };
  // Each route names the permission it needs; every write by a principal is audited.
  api.use('*', resolvePrincipal(deps.auth));
  api.use('*', auditWrites({ db: deps.db, siteId, clock: deps.clock, log: deps.log }));
  // Every view of video (clips, snapshots, live playlists) is audited: who watched what.
  api.use('*', auditViews({ db: deps.db, siteId, clock: deps.clock, log: deps.log }));
  api.route('/auth', publicAuthRoutes(authDeps));
  api.route('/auth', privateAuthRoutes(authDeps));
  api.route(
    '/',
    residentRoutes({ db: deps.db, siteId, clock: deps.clock, onChange: deps.onAccessChange }),
  );
  api.route('/', doorRoutes({ doors: deps.doors }));
  api.route('/', cameraRoutes({ cameras: deps.cameras }));
  api.route(
    '/',
    packageRoutes({
      db: deps.db,
      siteId,
      clock: deps.clock,
      site: deps.site,
      parcels: deps.parcels,
      overdueAfterDays: deps.site.notifications.overdueAfterDays,
      returnAfterDays: deps.site.notifications.returnAfterDays,
      notifier: deps.notifier,
    }),
  );
  api.route(
    '/',
    kioskRoutes({
      db: deps.db,
      siteId,
      clock: deps.clock,
      parcels: deps.parcels,
      notifier: deps.notifier,
      hashCode: deps.hashCode,
      lastCarrierEntry: (id) => deps.doors.lastCarrierEntry(id),
      lastResidentEntry: (doorId) => deps.doors.lastResidentEntry(doorId),
      doors: deps.site.doors.map((d) => ({ id: d.id, name: d.name })),
      ...(deps.pickup
        ? { pickup: { decide: deps.pickup.decide, carryOut: (d) => deps.doors.carryOut(d) } }
        : {}),
    }),
  );
  if (deps.pickup)
    api.route(
      '/',
      pickupRoutes({
        db: deps.db,
        siteId,
        site: deps.site,
        clock: deps.clock,
        log: deps.log,
        codes: deps.pickup.codes,
        holds: deps.pickup.holds,
      }),
    );
  api.route(
    '/',
    eventRoutes({ db: deps.db, siteId, live: deps.live, clipLinks: createClipLinker(deps.site) }),
  );
  api.route('/', clipRoutes({ clips: deps.clips }));
  api.route('/', flagRoutes({ flags: deps.flags }));
  api.route('/', caseRoutes({ db: deps.db, siteId, clock: deps.clock, cases: deps.cases }));
  api.route(
    '/',
    auditRoutes({
      db: deps.db,
      siteId,
      clock: deps.clock,
      log: deps.log,
      site: deps.site,
      clipLinks: createClipLinker(deps.site),
    }),
  );
  api.route('/', liveRoutes({ live: deps.hls, directory: deps.cameras }));
  api.route(
    '/',
    reportRoutes({
      report: createRoomReport({ db: deps.db, siteId, site: deps.site, clock: deps.clock }),
    }),
  );
  api.route(
    '/',
    carrierCodeRoutes({
      db: deps.db,
      siteId,
      clock: deps.clock,
      doorIds: deps.site.doors.map((d) => d.id),
      codeLength: deps.site.access.carrierCodeLength,
      hashCode: deps.hashCode,
      onChange: deps.onAccessChange,
    }),
  );
  api.route('/', staffRoutes({ db: deps.db, siteId, clock: deps.clock, auth: deps.auth }));
  api.route(
    '/',
    complianceRoutes({ compliance: deps.compliance, site: deps.site, clock: deps.clock }),
  );
  api.route(
    '/',
    rosterRoutes({
      db: deps.db,
      siteId,
      clock: deps.clock,
      timeZone: deps.site.site.timezone,
      onAccessChange: deps.onAccessChange,
    }),
  );
  api.route(
    '/',
    webhookRoutes({
      db: deps.db,
      site: { id: siteId, name: deps.site.site.name },
      clock: deps.clock,
      webhooks: deps.webhooks,
    }),
  );
  api.route(
    '/',
    systemRoutes({
      db: deps.db,
      siteId,
      site: deps.site,
      siteSource: deps.siteSource,
    }),
  );
  api.all('*', (c) =>
    c.json(errorBody('not_found', `no route ${c.req.method} ${c.req.path}`), 404),
  );

  app.route('/api', api);

  // The console: static files, and index.html for client-side routes (SPA fallback).
  if (deps.webDir && existsSync(join(deps.webDir, 'index.html'))) {
    const webDir = deps.webDir;
    const index = readFileSync(join(webDir, 'index.html'), 'utf8');
    app.use('*', serveStatic({ root: webDir }));
    app.get('*', (c) => c.html(index));
  } else {
    app.get('*', (c) =>
      c.text('The console is not built. Run `npm run build` (npm start does this for you).', 503),
    );
  }
  return app;
}
