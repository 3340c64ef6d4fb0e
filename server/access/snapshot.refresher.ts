import type { AccessDecider } from '../../access/index.ts';
import type { Db } from '../../db/index.ts';
import type { Clock, TimerHandle } from '../../hardware/clock.ts';
import type { Logger } from '../log/logger.ts';
import { loadAccessFingerprint, loadAccessSnapshot } from './snapshot.loader.ts';

/**
 * Keeps the doors' snapshot current: on a timer, and at once after a change made through the API.
 * When the database is away the doors keep deciding from the last snapshot; the outage is logged
 * once, and its end once.
 */
export interface SnapshotRefresher {
  /** Load now; resolves when the new snapshot is in place (or the attempt failed). */
  refresh(): Promise<boolean>;
  start(): Promise<void>;
  stop(): void;
}

export function createSnapshotRefresher(deps: {
  db: Db;
  siteId: string;
  clock: Clock;
  log: Logger;
  decider: AccessDecider;
  intervalMs: number;
}): SnapshotRefresher {
  let timer: TimerHandle | undefined;
  let running: Promise<boolean> | undefined;
  let failing = false;
  let stopped = false;

  let fingerprint: string | undefined;
  const once = async (): Promise<boolean> => {
    try {
      const seen = await loadAccessFingerprint(deps.db, deps.siteId, deps.clock.now());
      const snapshot = await loadAccessSnapshot(deps.db, deps.siteId, deps.clock.now());
      fingerprint = seen;
      deps.decider.setSnapshot(snapshot);
      if (failing) deps.log.info('access snapshot reloaded; database is back');
      failing = false;
      return true;
    } catch (err) {
      if (!failing)
        deps.log.warn('cannot reload the access snapshot; doors keep the last one', { err });
      failing = true;
      return false;
    }
  };

  let queued: Promise<boolean> | undefined;
  const refresh = (): Promise<boolean> => {
    if (!running) {
      running = once().finally(() => {
        running = undefined;
      });
      return running;
    }
    // A change arrived while a load was reading: it may have read the old rows, so one more
    // load follows it, shared by everyone who asked in the meantime.
    queued ??= running.then(() => {
      queued = undefined;
      return stopped ? false : refresh();
    });
    return queued;
  };

  /** The periodic check: reload only when the rows behind the snapshot changed. */
  const check = async (): Promise<void> => {
    try {
      const seen = await loadAccessFingerprint(deps.db, deps.siteId, deps.clock.now());
      if (seen === fingerprint && !failing) return;
    } catch {
      // The reload below reports the outage once.
    }
    await refresh();
  };

  const schedule = () => {
    if (stopped) return;
    timer = deps.clock.setTimeout(() => {
      void check().finally(schedule);
    }, deps.intervalMs);
  };

  return {
    refresh,
    async start() {
      await refresh();
      schedule();
    },
    stop() {
      stopped = true;
      if (timer) deps.clock.clearTimeout(timer);
    },
  };
}
