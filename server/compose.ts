import { join } from 'node:path';
import {
  createAccessDecider,
  createFormatRegistry,
  type AccessEvent,
  type WiegandFormat,
} from '../access/index.ts';
import type { Database } from '../db/index.ts';
import { systemClock, type Clock } from '../hardware/clock.ts';
import { createApp } from './app.ts';
import { codeHasher, loadSiteSecret } from './access/site.secret.ts';
import { createSnapshotRefresher, type SnapshotRefresher } from './access/snapshot.refresher.ts';
import { createAuthService, type AuthService } from './auth/auth.service.ts';
import { createLoginLimiter } from './auth/login.limiter.ts';
import type { SiteConfig } from './config/index.ts';
import { createDriverFactory, type DriverFactory } from './doors/door.drivers.ts';
import { createDoorRuntime, type DoorRuntime } from './doors/door.runtime.ts';
import {
  createCameraRuntime,
  type CameraRuntime,
  type CameraRuntimeOptions,
} from './cameras/camera.runtime.ts';
import { BYTES_PER_GB, createRetentionJob, type RetentionJob } from './cameras/retention.job.ts';
import { createClipLinker, createClipService, type ClipService } from './cameras/clip.service.ts';
import { createLiveHls, type LiveHls } from './cameras/live.hls.ts';
import {
  createFfmpegRunner,
  locateFfmpeg,
  spawnFfmpegProcess,
  type FfmpegBinary,
  type VisionLog,
} from '../vision/index.ts';

/** Stands in when no ffmpeg exists: spawning it fails, and callers report that plainly. */
const MISSING_FFMPEG: FfmpegBinary = {
  path: 'ffmpeg-not-installed',
  ffprobePath: null,
  source: 'system',
  major: 5,
  rtspTimeoutFlag: '-timeout',
};
import { createEventJournal, type EventJournal } from './events/event.journal.ts';
import { createDbEventSink } from './events/event.sink.ts';
import type { Logger } from './log/logger.ts';
import { eventView, type LiveFeed, type LiveMessage } from './routes/events.routes.ts';
import { syncSite } from './site.sync.ts';
import { createParcelNotifier, type ParcelNotifier } from './packages/parcel.notifier.ts';
import { createParcelService, type ParcelService } from './packages/parcel.service.ts';
import { createReminderJob, type ReminderJob } from './packages/reminder.job.ts';
import { createFlagStore, type FlagStore } from './flags/flag.store.ts';
import { createFlagNotifier, type FlagNotifier } from './flags/flag.notifier.ts';
import { createCaseServices, type CaseServices } from './cases/index.ts';
import { flagView } from './routes/flags.routes.ts';
import { createComplianceService, type ComplianceService } from './compliance/compliance.report.ts';
import { createDropWatch, type DropWatch } from './compliance/drop.watch.ts';
import { createWebhookDispatcher, type WebhookDispatcher } from './webhooks/webhook.dispatcher.ts';
import { createOverdueScanner, type OverdueScanner } from './webhooks/overdue.scanner.ts';
import { createMoveOutJob, type MoveOutJob } from './roster/move-out.job.ts';
import {
  createAnalyticsRuntime,
  createOwnershipCache,
  dbOwnershipLoader,
  type AnalyticsHealth,
  type AnalyticsRequest,
  type AnalyticsRuntime,
} from './cameras/analytics.runtime.ts';
import { createOnnxDetector } from '../vision/detector.onnx.ts';
import { newId } from '../db/index.ts';
import { createPickupCodeService, createVacationHolds } from './pickup/index.ts';

export interface ComposeOptions {
  site: SiteConfig;
  siteSource: string;
  database: Database;
  dataDir: string;
  /** Domain time: grants, alarms, lockouts, sessions. */
  clock: Clock;
  /** Time for I/O pacing (journal group commit, retry backoff); the system clock by default. */
  ioClock?: Clock;
  log: Logger;
  version: string;
  secret?: string | undefined;
  sessionIdleMs: number;
  secureCookies: 'auto' | 'always' | 'never';
  webDir: string | null;
  /** PARCELROOM_SIGNING_KEY: the evidence signing key (PEM); unset: DATA_DIR/evidence-signing.key. */
  signingKeyPem?: string | undefined;
  /**
   * The detector model to run (PARCELROOM_MODEL, see `analyticsRequest`), or why there is none.
   * With a model the analytics start when the model loads; health says why when it does not.
   */
  analytics: AnalyticsRequest;
  drivers?: DriverFactory;
  /** Resident notification retry schedule (tests shorten it). */
  notifyRetryDelaysMs?: number[];
  /** Outbound webhook catalogue retry schedule (tests shorten it). */
  webhookRetryDelaysMs?: number[];
  /**
   * 'on' (default, the real server): record every camera, run the camera simulator and the
   * retention job. 'off': the cameras are listed but nothing is started (tests that do not need
   * video, so they start no ffmpeg, GStreamer or ONVIF processes).
   */
  cameras?: 'off' | 'on';
  /** Test hooks of the camera runtime: ffmpeg, RTSP availability, backoff, the sim scene. */
  cameraOverrides?: Partial<
    Pick<
      CameraRuntimeOptions,
      'ffmpeg' | 'spawn' | 'rtspAvailable' | 'recorderBackoff' | 'connectRetry' | 'sim'
    >
  >;
}

export interface Composed {
  app: ReturnType<typeof createApp>;
  auth: AuthService;
  doors: DoorRuntime;
  cameras: CameraRuntime;
  clips: ClipService;
  hls: LiveHls;
  retention: RetentionJob;
  journal: EventJournal;
  snapshot: SnapshotRefresher;
  notifier: ParcelNotifier;
  parcels: ParcelService;
  reminders: ReminderJob;
  /** Vision flags: the analytics pipeline hands its candidates to `flags.raise`. */
  flags: FlagStore;
  flagNotifier: FlagNotifier;
  /** Carrier compliance figures, and the watch that flags carrier drops. */
  compliance: ComplianceService;
  dropWatch: DropWatch;
  /** The outbound webhook catalogue: durable, signed deliveries to the subscriptions. */
  webhooks: WebhookDispatcher;
  /** Announces `parcel.overdue` to the webhook subscriptions. */
  overdueWebhooks: OverdueScanner;
  /** Carries out roster move-outs dated in the future when they come. */
  moveOuts: MoveOutJob;
  /** Incident cases and their evidence packages. */
  cases: CaseServices;
  /** The cameras' analytics; null when they were not asked for (no model). */
  analytics: AnalyticsRuntime | null;
  close(): Promise<void>;
}

/**
 * Builds every service of a running box around an open database. Shared by `npm start` and the
 * tests, so the tests exercise the same wiring the building runs.
 */
export async function composeServices(o: ComposeOptions): Promise<Composed> {
  const { site, database, clock, log } = o;
  const siteId = site.site.id;
  await syncSite(database.db, site, new Date(clock.now()));

  const hashCode = codeHasher(loadSiteSecret(o.dataDir, o.secret));
  const journal = await createEventJournal({
    dir: join(o.dataDir, 'journal'),
    clock: o.ioClock ?? systemClock(),
    log: log.child({ component: 'journal' }),
    sink: createDbEventSink(database.db, siteId),
    retry: { minMs: 250, maxMs: 10_000 },
  });

  // The decider reports keypad lockouts to the doors, which are made after it.
  const lockouts: { doors?: DoorRuntime } = {};
  const decider = createAccessDecider({
    clock,
    formats: createFormatRegistry(site.access.formats as WiegandFormat[]),
    readers: site.readers.map((r) => ({
      readerId: r.id,
      doorId: r.doorId,
      keypad: r.keypad,
      maxPinLength: r.maxPinLength,
    })),
    hashCode,
    ...(site.access.schedule
      ? { schedule: { timezone: site.site.timezone, windows: site.access.schedule } }
      : {}),
    keypad: {
      maxFailures: site.access.keypadMaxFailures,
      windowMs: site.access.keypadWindowMs,
      lockMs: site.access.keypadLockMs,
      maxLockMs: site.access.keypadMaxLockMs,
    },
    interKeyTimeoutMs: site.access.interKeyTimeoutMs,
    residentEntry: site.access.residentEntry,
    onLockout: (n) => lockouts.doors?.keypadLocked(n),
  });
  const snapshot = createSnapshotRefresher({
    db: database.db,
    siteId,
    clock,
    log,
    decider,
    intervalMs: site.access.snapshotRefreshMs,
  });
  await snapshot.start();

  // Resolves true once the event is durable in the journal; never rejects.
  const record = (e: AccessEvent): Promise<boolean> =>
    journal.append(e).then(
      () => true,
      (err: unknown) => {
        log.error('access event not journalled', { err, event: e.id, type: e.type });
        return false;
      },
    );
  // Residents' pickup codes (the door learns of each new one at once) and vacation holds; a
  // pickup-code grant in the journal is stored as that code's use.
  const pickupCodes = createPickupCodeService({
    db: database.db,
    siteId,
    clock,
    hashCode,
    returnAfterDays: site.notifications.returnAfterDays,
    publicUrl: site.notifications.publicUrl,
    onChange: () => snapshot.refresh(),
  });
  const holds = createVacationHolds({
    db: database.db,
    siteId,
    clock,
    hashCode,
    returnAfterDays: site.notifications.returnAfterDays,
  });
  const unsubPickup = journal.subscribe((e) => {
    pickupCodes
      .onAccessEvent(e)
      .catch((err: unknown) => log.warn('could not store a pickup code use', { err }));
  });
  const doors = createDoorRuntime({
    site,
    clock,
    log,
    decider,
    drivers: o.drivers ?? createDriverFactory({ clock, log }),
    record,
  });
  lockouts.doors = doors;
  await doors.start();

  // Cameras record in real time: their clock is the I/O clock, never a test's stopped one.
  const cameraClock = o.ioClock ?? systemClock();
  const cameras = createCameraRuntime({
    site,
    dataDir: o.dataDir,
    db: database.db,
    clock: cameraClock,
    log: log.child({ component: 'cameras' }),
    record,
    ...o.cameraOverrides,
  });
  const caseHolder: { cases?: CaseServices } = {};
  const retention = createRetentionJob({
    db: database.db,
    siteId,
    dataDir: o.dataDir,
    clock: cameraClock,
    log: log.child({ component: 'retention' }),
    retainDays: site.recording.retainDays,
    maxBytes: site.recording.maxDiskGb === null ? null : site.recording.maxDiskGb * BYTES_PER_GB,
    intervalMs: site.recording.retentionCheckMs,
    // Open cases keep their video. Made below (they need the clip service): until then a run
    // fails and is retried rather than deleting what a case may need.
    extraProtected: () => {
      if (!caseHolder.cases) throw new Error('incident cases are not ready yet');
      return caseHolder.cases.store.protectedWindows();
    },
  });
  if ((o.cameras ?? 'on') === 'on') {
    await cameras.start();
    retention.start();
  }

  // Clips and live view run their own short ffmpeg jobs beside the recorders.
  const ffmpegBinary =
    o.cameraOverrides && 'ffmpeg' in o.cameraOverrides
      ? (o.cameraOverrides.ffmpeg ?? null)
      : locateFfmpeg();
  const toolLog: VisionLog = (level, msg, fields) =>
    log[level](msg, { component: 'ffmpeg', ...fields });
  const runnerFor = (binary: FfmpegBinary) =>
    createFfmpegRunner({
      spawn: o.cameraOverrides?.spawn ?? spawnFfmpegProcess,
      clock: cameraClock,
      binary,
      log: toolLog,
    });
  const ffmpegRunner = ffmpegBinary ? runnerFor(ffmpegBinary) : null;
  const clips = createClipService({
    db: database.db,
    siteId,
    site,
    dataDir: o.dataDir,
    clock,
    // No ffmpeg on this box: a clip request fails with "ffmpeg not found", never a crash.
    runner: ffmpegRunner ?? runnerFor(MISSING_FFMPEG),
    directory: cameras,
    log: log.child({ component: 'clips' }),
    unstoredEvents: () => journal.stats().backlog,
  });
  const hls = createLiveHls({
    directory: cameras,
    runner: ffmpegRunner,
    dataDir: o.dataDir,
    clock: cameraClock,
    log: toolLog,
  });
  const clipLinks = createClipLinker(site);
  const cases = createCaseServices({
    db: database.db,
    siteId,
    site,
    dataDir: o.dataDir,
    clock,
    log: log.child({ component: 'cases' }),
    version: o.version,
    clips,
    signingKeyPem: o.signingKeyPem,
  });
  caseHolder.cases = cases;
  await cases.store.failInterrupted();

  // Outbound webhook catalogue: parcel, alarm and flag events, stored before they are sent.
  const webhooks = createWebhookDispatcher({
    db: database.db,
    site: { id: siteId, name: site.site.name },
    clock: o.ioClock ?? systemClock(),
    log: log.child({ component: 'webhooks' }),
    ...(o.webhookRetryDelaysMs ? { retryDelaysMs: o.webhookRetryDelaysMs } : {}),
  });
  const unsubWebhooks = journal.subscribe((e) => webhooks.onAccessEvent(e));
  await webhooks.start();

  const liveListeners = new Set<(m: LiveMessage) => void>();
  const fanOut = (m: LiveMessage) => {
    for (const l of liveListeners) l(m);
  };
  const unsubJournal = journal.subscribe((e) =>
    fanOut({ kind: 'event', event: eventView(e, { clipLinks }) }),
  );
  const unsubDoors = doors.onStatus((door) => fanOut({ kind: 'door', door }));
  const live: LiveFeed = {
    subscribe(listener) {
      liveListeners.add(listener);
      return () => liveListeners.delete(listener);
    },
  };

  // Vision flags: stored with their snapshot, streamed to the console, sent to the webhook.
  const flagLog = log.child({ component: 'flags' });
  const flagNotifier = createFlagNotifier({
    webhook: site.notifications.webhook,
    site: { id: siteId, name: site.site.name },
    clock: o.ioClock ?? systemClock(),
    log: flagLog,
  });
  const flags = createFlagStore({
    db: database.db,
    site,
    dataDir: o.dataDir,
    clock,
    retryClock: o.ioClock ?? systemClock(),
    log: flagLog,
    clips,
    ffmpeg: ffmpegBinary,
    onFlag: (flag, change) => {
      const view = flagView(flag);
      fanOut({ kind: 'flag', flag: view });
      if (change === 'raised') flagNotifier.raised(view);
      if (change === 'raised') webhooks.onFlagRaised(view);
    },
  });
  await flags.start();

  // Carrier visits read from the door's record; a visit with nothing checked in is flagged.
  const compliance = createComplianceService({ db: database.db, site, clock, clipLinks });
  const dropWatch = createDropWatch({
    db: database.db,
    site,
    compliance,
    flags,
    clock,
    timerClock: o.ioClock ?? systemClock(),
    log,
  });
  dropWatch.start();

  const notifier = createParcelNotifier({
    db: database.db,
    site,
    clock,
    log,
    ...(o.notifyRetryDelaysMs ? { retryDelaysMs: o.notifyRetryDelaysMs } : {}),
    pickup: { codes: pickupCodes, holds, record },
  });

  // Who may come in to collect: only read when the site admits residents just for parcels.
  const parcelsWaiting = createLatestOnly(async () => {
    if (site.access.residentEntry !== 'with_parcels') return;
    decider.setParcelsWaiting(await parcels.residentsWithParcels());
  }, log);
  const parcels = createParcelService({
    db: database.db,
    site,
    clock,
    record,
    notifier,
    onParcelsChange: () => void parcelsWaiting.run(),
  });
  await parcelsWaiting.run();
  const reminders = createReminderJob({
    db: database.db,
    site,
    clock: o.ioClock ?? systemClock(),
    domainClock: clock,
    log,
    notifier,
    holds,
  });
  reminders.start();
  const overdueWebhooks = createOverdueScanner({
    db: database.db,
    site: { id: siteId, name: site.site.name },
    clock: o.ioClock ?? systemClock(),
    domainClock: clock,
    log: log.child({ component: 'webhooks' }),
    overdueAfterDays: site.notifications.overdueAfterDays,
    publish: (e) => webhooks.publish(e),
  });
  overdueWebhooks.start();
  const moveOuts = createMoveOutJob({
    db: database.db,
    siteId,
    clock: o.ioClock ?? systemClock(),
    domainClock: clock,
    log: log.child({ component: 'roster' }),
    onAccessChange: () => snapshot.refresh().then(() => parcelsWaiting.run()),
  });
  moveOuts.start();

  // Analytics: the cameras' sub-streams through the one detector to flags; grants and parcel
  // events from the journal tell the rules who came in and what sits on which shelf slot.
  let analytics: AnalyticsRuntime | null = null;
  let analyticsHealth: () => AnalyticsHealth = () =>
    o.analytics.state === 'off' ? o.analytics : { state: 'off', reason: 'not started' };
  if (o.analytics.state === 'on' && (o.cameras ?? 'on') === 'off') {
    const reason = 'the cameras are not started on this server (cameras: off)';
    analyticsHealth = () => ({ state: 'off', reason });
    log.warn('analytics off', { reason });
  } else if (o.analytics.state === 'on') {
    const modelPath = o.analytics.model;
    const analyticsLog = log.child({ component: 'analytics' });
    const runtime = createAnalyticsRuntime({
      site,
      directory: cameras,
      detectorFactory: () =>
        createOnnxDetector({
          modelPath,
          intraOpNumThreads: site.analytics.detectorThreads,
          scoreThreshold: site.analytics.scoreThreshold,
        }),
      clock: cameraClock,
      log: analyticsLog,
      onFlag: (candidate, frame) => flags.raise(candidate, frame),
      parcels: createOwnershipCache({
        load: dbOwnershipLoader(database.db, siteId),
        log: analyticsLog,
      }),
      // Evidence only: a parcel seen taken by its owner is noted on its chain of custody.
      onLikelyPickedUp: (r) =>
        Promise.all(
          r.packages.map((p) =>
            record({
              id: newId(clock.now()),
              at: r.at,
              type: 'parcel_seen_taken',
              packageId: p.packageId,
              cameraId: r.cameraId,
              ...(r.visitor.residentId ? { residentId: r.visitor.residentId } : {}),
              details: {
                slotId: r.slotId,
                slot: r.label,
                entryEventId: r.entryEventId,
                visitor: { ...r.visitor },
                basis: r.decision.basis,
                score: Math.round(r.decision.score.score * 1000) / 1000,
                lastSeenUnchangedAt: new Date(r.decision.lastSeenUnchangedAt).toISOString(),
              },
            }),
          ),
        ),
      ffmpeg: ffmpegBinary,
    });
    await runtime.start();
    analytics = runtime;
    analyticsHealth = () => runtime.health();
  }
  const unsubAnalytics = analytics
    ? journal.subscribe((e) => analytics?.onAccessEvent(e))
    : () => undefined;

  const auth = createAuthService({
    db: database.db,
    siteId,
    clock,
    sessionIdleMs: o.sessionIdleMs,
  });
  const app = createApp({
    db: database.db,
    dbKind: database.kind,
    ping: () => database.ping(),
    site,
    siteSource: o.siteSource,
    clock,
    log,
    version: o.version,
    auth,
    loginLimiter: createLoginLimiter({ clock }),
    doors,
    cameras,
    clips,
    hls,
    live,
    hashCode,
    recordEvent: record,
    notifier,
    parcels,
    flags,
    compliance,
    cases,
    webhooks,
    pickup: {
      codes: pickupCodes,
      holds,
      decide: (doorId, input) => decider.decidePickup(doorId, input),
    },
    // A resident added to or moved out of a unit changes who has parcels waiting too.
    onAccessChange: () => snapshot.refresh().then((ok) => parcelsWaiting.run().then(() => ok)),
    analytics: () => analyticsHealth(),
    status: () => {
      const j = journal.stats();
      const kept = retention.lastRun();
      return {
        // Whether the recordings fit the disk budget, as the last retention check found them.
        recording: kept
          ? {
              checkedAt: new Date(kept.at).toISOString(),
              keptBytes: kept.run.keptBytes,
              budget: kept.run.budget,
            }
          : null,
        journal: {
          backlog: j.backlog,
          oldestPendingAgeMs: j.oldestPendingAgeMs,
          outageSince: j.outageSince === null ? null : new Date(j.outageSince).toISOString(),
        },
      };
    },
    webDir: o.webDir,
    secureCookies: o.secureCookies,
  });

  return {
    app,
    auth,
    doors,
    cameras,
    clips,
    hls,
    retention,
    journal,
    snapshot,
    notifier,
    parcels,
    reminders,
    flags,
    flagNotifier,
    compliance,
    dropWatch,
    webhooks,
    overdueWebhooks,
    moveOuts,
    cases,
    analytics,
    async close() {
      unsubJournal();
      unsubPickup();
      unsubWebhooks();
      overdueWebhooks.stop();
      moveOuts.stop();
      unsubAnalytics();
      // Before the flags and the cameras: the last frames may still raise a flag.
      await analytics?.close();
      unsubDoors();
      reminders.stop();
      // Before the flags: a pass in flight may still raise one.
      await dropWatch.stop();
      await flags.close();
      await flagNotifier.close();
      await webhooks.close();
      snapshot.stop();
      await doors.close();
      // Before the journal: the recorders' last segments and alarms still go through it.
      await retention.stop();
      await hls.close();
      await cases.close();
      await clips.close();
      await cameras.close();
      decider.close();
      await notifier.close();
      await journal.close();
    },
  };
}

/**
 * Runs an async refresh so that calls never overlap and a burst of calls costs at most one more
 * run after the current one: a busy check-in hour should not queue a reload per parcel.
 */
function createLatestOnly(fn: () => Promise<void>, log: Logger) {
  let running: Promise<void> | null = null;
  let again = false;
  const run = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      try {
        do {
          again = false;
          await fn();
        } while (again);
      } catch (err) {
        log.warn('could not read which residents have parcels waiting', { err });
      } finally {
        running = null;
      }
    })();
    return running;
  };
  return { run };
}
