/**
 * Collects check-ins per resident so a carrier dropping five parcels sends one message, not five.
 *
 * A resident's batch goes out `quietMs` after their last parcel (each new parcel restarts the
 * wait), or at once on `flush()`, which the check-in flow calls when the carrier's door session
 * ends: by then nothing more is coming and the resident should not wait another minute.
 * `maxWaitMs` caps the wait from the first parcel so a slow trickle cannot postpone the notice
 * indefinitely. All timing runs on the injected Clock.
 */
import type { Clock, TimerHandle } from '../../hardware/clock.ts';
import type { Logger } from '../log/logger.ts';
import type { NoticeParcel } from './notify.types.ts';

export type BatchCloseReason = 'quiet' | 'max-wait' | 'flush';

export interface NoticeBatch<P> {
  residentKey: string;
  parcels: P[];
  /** Clock time of the first and last parcel added. */
  firstAt: number;
  lastAt: number;
  reason: BatchCloseReason;
}

export interface NoticeBatcherOptions<P> {
  clock: Clock;
  log: Logger;
  /** Called once per closed batch; build the ParcelNotice and dispatch it here. */
  onBatch: (batch: NoticeBatch<P>) => void;
  /** Wait after a resident's last parcel. Default 60 s. */
  quietMs?: number;
  /** Longest wait after a resident's first parcel. Default 15 min. */
  maxWaitMs?: number;
}

export interface PendingBatch {
  residentKey: string;
  count: number;
  /** Clock time at which the batch will close unless more parcels or a flush come first. */
  dueAt: number;
}

export interface NoticeBatcher<P> {
  add(residentKey: string, parcel: P): void;
  /** Close now: one resident's batch, or every open batch. Returns how many were sent. */
  flush(residentKey?: string): number;
  pending(): PendingBatch[];
  /** Cancels timers and returns the open batches unsent; call `flush()` first to send them. */
  close(): Omit<NoticeBatch<P>, 'reason'>[];
}

interface OpenBatch<P> {
  parcels: P[];
  firstAt: number;
  lastAt: number;
  dueAt: number;
  timer: TimerHandle;
}

export const DEFAULT_QUIET_MS = 60_000;
export const DEFAULT_MAX_WAIT_MS = 15 * 60_000;

export function createNoticeBatcher<P = NoticeParcel>(
  opts: NoticeBatcherOptions<P>,
): NoticeBatcher<P> {
  const { clock, log, onBatch } = opts;
  const quietMs = opts.quietMs ?? DEFAULT_QUIET_MS;
  const maxWaitMs = Math.max(quietMs, opts.maxWaitMs ?? DEFAULT_MAX_WAIT_MS);
  const open = new Map<string, OpenBatch<P>>();
  let closed = false;

  const emit = (residentKey: string, reason: BatchCloseReason) => {
    const batch = open.get(residentKey);
    if (!batch) return;
    // Removed before the callback so a parcel added from inside it starts a fresh batch.
    open.delete(residentKey);
    clock.clearTimeout(batch.timer);
    const { parcels, firstAt, lastAt } = batch;
    log.debug('notice batch closed', { residentKey, parcels: parcels.length, reason });
    try {
      onBatch({ residentKey, parcels, firstAt, lastAt, reason });
    } catch (err) {
      // One resident's broken notice must not stop the others' or the batcher's timers.
      log.error('notice batch handler failed', { residentKey, err });
    }
  };

  return {
    add(residentKey, parcel) {
      if (closed) throw new Error('notice batcher is closed');
      const now = clock.now();
      const batch = open.get(residentKey);
      const firstAt = batch?.firstAt ?? now;
      const dueAt = Math.min(now + quietMs, firstAt + maxWaitMs);
      const reason: BatchCloseReason = dueAt < now + quietMs ? 'max-wait' : 'quiet';
      if (batch) clock.clearTimeout(batch.timer);
      const timer = clock.setTimeout(() => emit(residentKey, reason), dueAt - now);
      if (batch) {
        batch.parcels.push(parcel);
        batch.lastAt = now;
        batch.dueAt = dueAt;
        batch.timer = timer;
      } else {
        open.set(residentKey, { parcels: [parcel], firstAt, lastAt: now, dueAt, timer });
      }
    },
    flush(residentKey) {
      const keys = residentKey === undefined ? [...open.keys()] : [residentKey];
      let sent = 0;
      for (const key of keys) {
        if (!open.has(key)) continue;
        emit(key, 'flush');
        sent++;
      }
      return sent;
    },
    pending() {
      return [...open].map(([residentKey, b]) => ({
        residentKey,
        count: b.parcels.length,
        dueAt: b.dueAt,
      }));
    },
    close() {
      closed = true;
      const dropped = [...open].map(([residentKey, b]) => {
        clock.clearTimeout(b.timer);
        return { residentKey, parcels: b.parcels, firstAt: b.firstAt, lastAt: b.lastAt };
      });
      open.clear();
      return dropped;
    },
  };
}
