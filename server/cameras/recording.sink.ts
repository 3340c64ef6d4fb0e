/**
 * Where the recorders report to (vision's SegmentSink): each closed segment and each gap becomes
 * a `recordings` row, and each camera's state is kept here for the status page, with an `offline`
 * access event when a camera goes away and an `online` one when it comes back, through the event
 * journal like every other alarm of the room.
 *
 * Rows are queued and written in order, never awaited by the recorder: a slow or unreachable
 * database must not hold up the file moves of the next segment. While the database is down the
 * queue waits and retries with backoff (said once in the log, and once more when it is back); a
 * segment file whose row is still queued is on disk all the while. The queue is bounded: past
 * `maxPending` rows (hours of video) the oldest rows are given up, loudly, rather than the box
 * running out of memory; their files stay where they are.
 */
import type { AccessEvent } from '../../access/access.events.ts';
import { newId, recordings, type Db } from '../../db/index.ts';
import type { Clock, TimerHandle } from '../../hardware/clock.ts';
import type {
  CameraState,
  CameraStateUpdate,
  RecordingGap,
  SegmentClosed,
  SegmentSink,
} from '../../vision/index.ts';
import { isDataError } from '../events/event.sink.ts';
import type { Logger } from '../log/logger.ts';

export interface RecordingSinkOptions {
  db: Db;
  siteId: string;
  /** The recorders' clock: rows and events are stamped with it. */
  clock: Clock;
  log: Logger;
  /** The event journal; resolves true once the event is durable, never rejects. */
  record: (event: AccessEvent) => Promise<boolean>;
  /** Told after every change of a camera's state (the status page listens). */
  onState?: (cameraId: string, state: CameraState) => void;
  /** Rows kept while the database is away; the oldest go beyond this. Default 20 000. */
  maxPending?: number;
  /** Rows per INSERT. Default 200. */
  batchSize?: number;
  /** Retry delay while the database fails: doubles from `minMs` to `maxMs`. */
  retry?: { minMs: number; maxMs: number };
}

export interface RecordingSink extends SegmentSink {
  /** Queues the row and returns at once: the recorder never waits for the database. */
  segmentClosed(segment: SegmentClosed): void;
  gap(gap: RecordingGap): void;
  /** Resolves once an alarm it raised is in the journal. */
  state(update: CameraStateUpdate): Promise<void>;
  /** A camera's last reported state; `starting` before any report. */
  stateOf(cameraId: string): CameraState;
  /** Rows not yet in the database. */
  pending(): number;
  /** Writes what is queued now; resolves once the queue is empty or a write failed. */
  flush(): Promise<void>;
  /** One last write of what is queued (logged when rows could not be written), then stops. */
  close(): Promise<void>;
}

type RecordingRow = typeof recordings.$inferInsert;

const sameState = (a: CameraState, b: CameraState): boolean => {
  if (a.state !== b.state) return false;
  if (a.state === 'offline' && b.state === 'offline')
    return a.fault === b.fault && a.reason === b.reason && a.since === b.since;
  if (a.state === 'online' && b.state === 'online') return a.since === b.since;
  return true;
};

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

export function createRecordingSink(opts: RecordingSinkOptions): RecordingSink {
  const { db, siteId, clock, log, record } = opts;
  const maxPending = opts.maxPending ?? 20_000;
  const batchSize = Math.max(1, opts.batchSize ?? 200);
  const retry = opts.retry ?? { minMs: 1_000, maxMs: 60_000 };
  if (!(maxPending >= 1) || !(retry.minMs > 0) || !(retry.maxMs >= retry.minMs))
    throw new RangeError('recording sink: maxPending >= 1 and 0 < retry.minMs <= retry.maxMs');

  const states = new Map<string, CameraState>();
  /** Cameras with an `offline` event not yet answered by an `online` one. */
  const alarmed = new Set<string>();
  const queue: RecordingRow[] = [];
  let writing: Promise<void> | null = null;
  let retryTimer: TimerHandle | undefined;
  let retryDelay = retry.minMs;
  /** Set while the database refuses writes; the outage is logged once, at its start. */
  let outageSince: number | null = null;
  let dropped = 0;
  let closed = false;

  const enqueue = (row: RecordingRow) => {
    if (closed) {
      log.error('recording row after the sink closed; not indexed', { path: row.path });
      return;
    }
    queue.push(row);
    if (queue.length > maxPending) {
      const lost = queue.splice(0, queue.length - maxPending);
      dropped += lost.length;
      log.error('recording index queue full while the database is away; oldest rows given up', {
        rows: lost.length,
        droppedSoFar: dropped,
        oldest: lost[0]?.path,
        hint: 'their files stay under DATA_DIR/recordings; the clips of that time will say video is missing',
      });
    }
    if (!retryTimer) void drain();
  };

  /** Inserts a batch; rows the database refuses as data are logged and skipped one by one. */
  const insert = async (rows: RecordingRow[]) => {
    try {
      await db.insert(recordings).values(rows).onConflictDoNothing({ target: recordings.id });
    } catch (err) {
      if (!isDataError(err)) throw err;
      for (const row of rows) {
        try {
          await db.insert(recordings).values(row).onConflictDoNothing({ target: recordings.id });
        } catch (e) {
          if (!isDataError(e)) throw e;
          log.error('recording row refused by the database; not indexed', {
            path: row.path,
            err: errorText(e),
          });
        }
      }
    }
  };

  const drainOnce = async () => {
    while (queue.length > 0) {
      const batch = queue.slice(0, batchSize);
      try {
        await insert(batch);
      } catch (err) {
        if (outageSince === null) {
          outageSince = clock.now();
          log.warn('recording index: database unavailable; rows queued and retried', {
            queued: queue.length,
            err: errorText(err),
          });
        }
        if (!closed) {
          // flush() may have tried before a retry was due: one retry timer, never two.
          if (retryTimer) clock.clearTimeout(retryTimer);
          retryTimer = clock.setTimeout(() => {
            retryTimer = undefined;
            void drain();
          }, retryDelay);
          retryDelay = Math.min(retry.maxMs, retryDelay * 2);
        }
        return;
      }
      // Only what was written leaves the queue (rows may have been dropped meanwhile).
      const done = new Set(batch.map((r) => r.id));
      let n = 0;
      while (n < queue.length && done.has(queue[n]!.id)) n++;
      queue.splice(0, n);
      if (outageSince !== null) {
        log.info('recording index: database back; queued rows written', {
          outageMs: clock.now() - outageSince,
        });
        outageSince = null;
      }
      retryDelay = retry.minMs;
    }
  };

  const drain = (): Promise<void> => {
    if (writing) return writing;
    writing = drainOnce().finally(() => {
      writing = null;
    });
    return writing;
  };

  const sink: RecordingSink = {
    segmentClosed(s: SegmentClosed) {
      enqueue({
        id: newId(clock.now()),
        siteId,
        cameraId: s.cameraId,
        path: s.path,
        startAt: new Date(s.startAt),
        endAt: new Date(s.endAt),
        bytes: s.bytes,
        kind: 'segment',
      });
    },

    gap(g: RecordingGap) {
      // A gap has no file: the path is empty and it weighs nothing for the disk budget.
      enqueue({
        id: newId(clock.now()),
        siteId,
        cameraId: g.cameraId,
        path: '',
        startAt: new Date(g.startAt),
        endAt: new Date(g.endAt),
        bytes: 0,
        kind: 'gap',
      });
    },

    async state({ cameraId, state }: CameraStateUpdate) {
      const before = states.get(cameraId) ?? { state: 'starting' };
      if (sameState(before, state)) return;
      states.set(cameraId, state);
      try {
        opts.onState?.(cameraId, state);
      } catch (e) {
        log.error('camera status listener failed', { cameraId, err: errorText(e) });
      }
      const at = clock.now();
      if (state.state === 'offline' && !alarmed.has(cameraId)) {
        alarmed.add(cameraId);
        await record({
          id: newId(at),
          at,
          type: 'offline',
          cameraId,
          details: {
            reason: state.reason,
            fault: state.fault,
            since: new Date(state.since).toISOString(),
          },
        });
      } else if (state.state === 'online' && alarmed.has(cameraId)) {
        alarmed.delete(cameraId);
        await record({
          id: newId(at),
          at,
          type: 'online',
          cameraId,
          details: { since: new Date(state.since).toISOString() },
        });
      }
    },

    stateOf: (cameraId) => states.get(cameraId) ?? { state: 'starting' },
    pending: () => queue.length,
    flush: () => drain(),

    async close() {
      if (closed) return;
      closed = true;
      if (retryTimer) clock.clearTimeout(retryTimer);
      retryTimer = undefined;
      await writing;
      await drain();
      if (queue.length > 0) {
        log.error('recording index: rows not written before shutdown', {
          rows: queue.length,
          first: queue[0]?.path,
          hint: 'their files stay under DATA_DIR/recordings but are not indexed',
        });
      }
    },
  };
  return sink;
}
