/**
 * Delivers each notice on every channel independently: the webhook going through does not excuse
 * a bounced e-mail, and a dead SMS gateway must not hold up the e-mail. Each failed attempt is
 * retried on a fixed schedule; after the last one the delivery is given up and listed for staff.
 * Every attempt, good or bad, is logged and handed to the AttemptLog port, so the caller can show
 * a notice's history without this module knowing about the database.
 *
 * Retry timers run on the injected Clock (tests step through an hour of backoff instantly); the
 * sends themselves are real I/O and keep their own real-time timeouts.
 */
import type { Clock, TimerHandle } from '../../hardware/clock.ts';
import type { Logger } from '../log/logger.ts';
import type {
  AttemptLog,
  Channel,
  ChannelName,
  DeliveryAttempt,
  ParcelNotice,
} from './notify.types.ts';

/** 30 s, 2 min, 10 min, 1 h: rides out a relay restart quickly, an outage within the hour. */
export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [30_000, 120_000, 600_000, 3_600_000];

export interface RetryPolicy {
  /** Wait before attempt 2, 3, ...; one entry per retry, so attempts = delaysMs.length + 1. */
  delaysMs: readonly number[];
}

/** A delivery the dispatcher gave up on, for the staff console. */
export interface DeliveryFailure {
  noticeKey: string;
  channel: ChannelName;
  residentId: string;
  residentName: string;
  unit: string;
  parcelCount: number;
  attempts: number;
  firstAttemptAt: number;
  failedAt: number;
  /** The last attempt's error. */
  error: string;
}

export interface NotifyDispatcherOptions {
  channels: Channel[];
  clock: Clock;
  log: Logger;
  attempts: AttemptLog;
  retry?: RetryPolicy;
  /** Oldest failures are dropped beyond this; the AttemptLog keeps the full history. */
  maxFailures?: number;
}

export interface NotifyDispatcher {
  /** Starts delivery on every channel that applies; returns at once. */
  dispatch(notice: ParcelNotice): void;
  /** Deliveries given up on, oldest first. */
  failures(): DeliveryFailure[];
  /** Deliveries not finished yet: sending now or waiting for a retry. */
  active(): number;
  /** Resolves once no send and no attempt record is in progress (retry timers may remain). */
  settled(): Promise<void>;
  /**
   * Cancels retry timers and waits for sends already under way; their outcome is still logged
   * and recorded (a failure with the `nextAttemptAt` it would have had, so a restart can resume).
   * The channels belong to the caller and are not closed here.
   */
  close(): Promise<void>;
}

interface Delivery {
  key: string;
  notice: ParcelNotice;
  channel: Channel;
  attempts: number;
  firstAttemptAt: number;
  timer: TimerHandle | undefined;
}

function errorText(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text || 'unknown error';
}

export function createNotifyDispatcher(opts: NotifyDispatcherOptions): NotifyDispatcher {
  const { clock, log, attempts: attemptLog } = opts;
  const delaysMs = [...(opts.retry?.delaysMs ?? DEFAULT_RETRY_DELAYS_MS)];
  for (const d of delaysMs) {
    if (!Number.isFinite(d) || d < 0) throw new Error(`invalid retry delay: ${d}`);
  }
  const names = new Set<ChannelName>();
  for (const c of opts.channels) {
    // Attempts and failures are keyed by channel name; two channels of one name would mix.
    if (names.has(c.name)) throw new Error(`two notification channels named "${c.name}"`);
    names.add(c.name);
  }
  const maxFailures = opts.maxFailures ?? 1_000;

  const deliveries = new Map<string, Delivery>();
  const inFlight = new Set<Promise<void>>();
  const failed: DeliveryFailure[] = [];
  let closed = false;

  const record = async (a: DeliveryAttempt) => {
    try {
      await attemptLog.record(a);
    } catch (err) {
      // Losing the record is bad, but stopping delivery over it would be worse.
      log.error('could not record notification attempt', {
        attemptId: a.id,
        noticeKey: a.noticeKey,
        channel: a.channel,
        err,
      });
    }
  };

  const run = async (d: Delivery, attempt: number, at: number): Promise<void> => {
    const { notice, channel } = d;
    let error: string | undefined;
    try {
      await channel.send(notice);
    } catch (err) {
      error = errorText(err);
    }
    const base = {
      id: `${notice.id}/${channel.name}/${attempt}`,
      noticeKey: notice.id,
      channel: channel.name,
      attempt,
      at,
    };
    const fields = {
      noticeKey: notice.id,
      channel: channel.name,
      attempt,
      residentId: notice.residentId,
    };

    if (error === undefined) {
      deliveries.delete(d.key);
      log.info('notification delivered', fields);
      await record({ ...base, ok: true });
      return;
    }

    const delay = delaysMs[attempt - 1];
    if (delay !== undefined) {
      const nextAttemptAt = clock.now() + delay;
      // Timer first, record second: a slow store must not push the retry back.
      if (closed) deliveries.delete(d.key);
      else d.timer = clock.setTimeout(() => start(d), delay);
      log.warn('notification attempt failed, will retry', { ...fields, error, nextAttemptAt });
      await record({ ...base, ok: false, error, nextAttemptAt });
      return;
    }

    deliveries.delete(d.key);
    const failure: DeliveryFailure = {
      noticeKey: notice.id,
      channel: channel.name,
      residentId: notice.residentId,
      residentName: notice.residentName,
      unit: notice.unit,
      parcelCount: notice.parcels.length,
      attempts: attempt,
      firstAttemptAt: d.firstAttemptAt,
      failedAt: clock.now(),
      error,
    };
    failed.push(failure);
    if (failed.length > maxFailures) failed.splice(0, failed.length - maxFailures);
    log.error('notification failed, giving up', { ...fields, error });
    await record({ ...base, ok: false, error });
  };

  const start = (d: Delivery) => {
    d.timer = undefined;
    if (closed) return;
    const attempt = ++d.attempts;
    const at = clock.now();
    if (attempt === 1) d.firstAttemptAt = at;
    const p: Promise<void> = run(d, attempt, at)
      .catch((err: unknown) => log.error('notification attempt crashed', { key: d.key, err }))
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };

  const settled = async () => {
    while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
  };

  return {
    dispatch(notice) {
      const fields = { noticeKey: notice.id, residentId: notice.residentId };
      if (closed) {
        log.warn('notification dispatcher is closed; notice dropped', fields);
        return;
      }
      const applicable = opts.channels.filter((c) => {
        const ok = c.accepts?.(notice) ?? true;
        if (!ok)
          log.info('notification channel does not apply to resident', {
            ...fields,
            channel: c.name,
          });
        return ok;
      });
      if (applicable.length === 0) {
        log.warn('no notification channel can reach resident', fields);
        return;
      }
      for (const channel of applicable) {
        const key = `${notice.id}\n${channel.name}`;
        if (deliveries.has(key)) {
          // A caller may hand over the same notice twice (a retried check-in request); one
          // delivery per notice and channel is the promise to the resident.
          log.warn('notice already being delivered; duplicate ignored', {
            ...fields,
            channel: channel.name,
          });
          continue;
        }
        const d: Delivery = {
          key,
          notice,
          channel,
          attempts: 0,
          firstAttemptAt: 0,
          timer: undefined,
        };
        deliveries.set(key, d);
        start(d);
      }
    },
    failures: () => failed.map((f) => ({ ...f })),
    active: () => deliveries.size,
    settled,
    async close() {
      closed = true;
      for (const d of deliveries.values()) {
        if (d.timer) clock.clearTimeout(d.timer);
        d.timer = undefined;
      }
      await settled();
      deliveries.clear();
    },
  };
}
