/**
 * The event journal: every access event is written here first, then drained into the database.
 *
 * Doors never wait on PostgreSQL. `append` resolves once the event's bytes are on disk (fsync'd);
 * a drain loop copies committed events, in order, to the sink and remembers how far it got in a
 * small cursor file. When the database is down the journal simply grows; when it comes back the
 * backlog drains in order. Event ids are made where the event happens, so an event delivered twice
 * (a crash between the database commit and the cursor write) is stored once.
 *
 * On disk (all in `dir`, normally DATA_DIR/journal):
 *   journal-<seq>.jsonl   one JSON AccessEvent per line, `\n`-terminated; <seq> is 12 digits,
 *                         rotated at `segmentBytes`; a segment wholly behind the cursor is deleted
 *   cursor.json           {"v":1,"segment":<seq>,"offset":<byte>}: the first byte not yet drained;
 *                         replaced atomically (write cursor.json.tmp, fsync, rename, fsync dir)
 *   rejected.jsonl        events the sink refused for good (bad data), with the reason
 *   journal.lock          pid of the process that has the journal open
 *
 * fsync policy (group commit): appends are queued; a flush runs `flushIntervalMs` after the first
 * queued append (at once when `maxBatch` are queued, or when a flush just finished and more came
 * in meanwhile), writes every queued line with one positional write and one fdatasync, and only
 * then resolves those appends and tells subscribers. New segment files are made durable with an
 * fsync of the directory before anything in them is acknowledged.
 *
 * Crash recovery on open: the last segment may end in a torn write (a partial line, or trailing
 * lines that are not valid events); that tail was never acknowledged and is truncated away. The
 * drain resumes at the cursor.
 */
import { acquirePidLock } from '../../db/pid.lock.ts';
import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { AccessEvent } from '../../access/access.events.ts';
import type { Clock, TimerHandle } from '../../hardware/clock.ts';
import type { Logger } from '../log/logger.ts';
import type { EventSink, RejectedEvent, SinkResult } from './event.types.ts';

export type { EventSink, RejectedEvent, SinkResult } from './event.types.ts';

export interface EventJournalOptions {
  /** The journal folder, normally DATA_DIR/journal; created when missing. */
  dir: string;
  clock: Clock;
  log: Logger;
  sink: EventSink;
  /** Group commit window: how long the first queued append waits for company. Default 5 ms. */
  flushIntervalMs?: number;
  /** Most events per sink write, and the queue length that flushes at once. Default 1000. */
  maxBatch?: number;
  /** A segment is closed and a new one started beyond this size. Default 8 MiB. */
  segmentBytes?: number;
  /** Back-off between failed sink writes: minMs, doubling, at most maxMs. */
  retry: { minMs: number; maxMs: number };
}

export interface JournalStats {
  /** Committed (durable) events not yet in the sink. */
  backlog: number;
  /** `at` of the oldest event not yet in the sink, or null when nothing is pending. */
  oldestPendingAt: number | null;
  /** clock.now() - oldestPendingAt, 0 when nothing is pending. */
  oldestPendingAgeMs: number;
  /** Appended but not yet durable. */
  unflushed: number;
  /** Since open: events acknowledged, events delivered to the sink (incl. re-deliveries). */
  committed: number;
  drained: number;
  /** Since open: group commits and data fsyncs (fdatasync of a segment). */
  commits: number;
  fsyncs: number;
  cursorSaves: number;
  segments: number;
  /** The sink is failing since this time (epoch ms), or null. */
  outageSince: number | null;
  failedWrites: number;
  lastError: string | null;
  /** Since open: events the sink refused for good; unreadable lines skipped. */
  rejected: number;
  corruptLines: number;
}

export interface EventJournal {
  /** Resolves once the event is durable on disk (acknowledged); never waits on the database. */
  append(event: AccessEvent): Promise<void>;
  /** Appends in order; resolves once all are durable. On rejection some may have been stored. */
  appendMany(events: readonly AccessEvent[]): Promise<void>;
  /** Called with each event after it is durable, in journal order. Returns an unsubscribe. */
  subscribe(listener: (event: AccessEvent) => void): () => void;
  /** Commits queued appends now. */
  flush(): Promise<void>;
  /** Resolves when everything appended so far is in the sink (or the journal is closed). */
  drained(): Promise<void>;
  stats(): JournalStats;
  /**
   * Commits queued appends, optionally waits up to `drainTimeoutMs` for the backlog to drain,
   * stops the drain loop and closes the files. What is left drains after the next open.
   */
  close(opts?: { drainTimeoutMs?: number }): Promise<void>;
}

export class JournalLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly pid: number,
  ) {
    super(`The event journal in ${dir} is already open in process ${pid}.`);
    this.name = 'JournalLockedError';
  }
}

const SEGMENT_RE = /^journal-(\d{1,15})\.jsonl$/;
const CURSOR_FILE = 'cursor.json';
const CURSOR_TMP = 'cursor.json.tmp';
const REJECTED_FILE = 'rejected.jsonl';
const LOCK_FILE = 'journal.lock';
const NL = 0x0a;
const READ_CHUNK = 1 << 20;
/** How long close() waits for a sink write in flight before it lets it go. */
const CLOSE_GRACE_MS = 5_000;

export const segmentFileName = (seq: number): string =>
  `journal-${String(seq).padStart(12, '0')}.jsonl`;

interface Position {
  segment: number;
  offset: number;
}

interface Pending {
  line: string;
  bytes: number;
  event: AccessEvent;
  done: (err: Error | null) => void;
}

interface ReadResult {
  events: AccessEvent[];
  /** Lines consumed, valid or not (the backlog counts lines). */
  lines: number;
  end: Position;
  /** `at` of the line after the batch, when it was in the buffer. */
  nextAt: number | null;
}

/** Why `event` cannot be journalled, or null. */
export function invalidEventReason(event: unknown): string | null {
  if (typeof event !== 'object' || event === null || Array.isArray(event)) return 'not an object';
  const e = event as Record<string, unknown>;
  if (typeof e.id !== 'string' || e.id.length === 0) return 'id must be a non-empty string';
  if (typeof e.type !== 'string' || e.type.length === 0) return 'type must be a non-empty string';
  if (typeof e.at !== 'number' || !Number.isFinite(e.at) || Math.abs(e.at) > 8.64e15) {
    return 'at must be epoch milliseconds';
  }
  return null;
}

function parseLine(buf: Buffer, start: number, end: number): AccessEvent | null {
  try {
    const value: unknown = JSON.parse(buf.toString('utf8', start, end));
    return invalidEventReason(value) === null ? (value as AccessEvent) : null;
  } catch {
    return null;
  }
}

function countLines(buf: Buffer, from: number): number {
  let n = 0;
  for (let i = buf.indexOf(NL, from); i !== -1; i = buf.indexOf(NL, i + 1)) n++;
  return n;
}

/** A short description of an error: the innermost cause's code and message, no query text. */
export function describeError(err: unknown): string {
  let e: unknown = err;
  for (let depth = 0; depth < 5; depth++) {
    const cause = (e as { cause?: unknown } | null)?.cause;
    if (cause === undefined || cause === null) break;
    e = cause;
  }
  const code = (e as { code?: unknown } | null)?.code;
  const message = e instanceof Error ? e.message : String(e);
  const text = typeof code === 'string' && code ? `${code}: ${message}` : message;
  return text.length > 300 ? `${text.slice(0, 297)}...` : text;
}

/** One process per journal folder; a lock left by a dead process is taken over. */
function lockJournal(dir: string): () => void {
  return acquirePidLock(join(dir, LOCK_FILE), (pid) => new JournalLockedError(dir, pid));
}

async function writeFully(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    if (bytesWritten <= 0) throw new Error('write made no progress');
    done += bytesWritten;
  }
}

async function readFully(fh: FileHandle, size: number, position: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(size);
  let done = 0;
  while (done < size) {
    const { bytesRead } = await fh.read(buf, done, size - done, position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === size ? buf : buf.subarray(0, done);
}

async function readCursor(dir: string, log: Logger): Promise<Position | null> {
  let text: string;
  try {
    text = await readFile(join(dir, CURSOR_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const v = JSON.parse(text) as { segment?: unknown; offset?: unknown };
    if (
      Number.isSafeInteger(v.segment) &&
      Number.isSafeInteger(v.offset) &&
      (v.segment as number) >= 1 &&
      (v.offset as number) >= 0
    ) {
      return { segment: v.segment as number, offset: v.offset as number };
    }
  } catch {
    // fall through
  }
  // Written atomically, so this is damage from outside; re-delivering is harmless.
  log.warn('journal: unreadable cursor, draining from the oldest segment', { dir });
  return null;
}

/**
 * Opens (and recovers) the journal in `opts.dir` and starts draining it into `opts.sink`.
 */
export async function createEventJournal(opts: EventJournalOptions): Promise<EventJournal> {
  const { dir, clock, sink } = opts;
  const log = opts.log;
  const flushIntervalMs = Math.max(0, opts.flushIntervalMs ?? 5);
  const maxBatch = Math.max(1, Math.floor(opts.maxBatch ?? 1000));
  const segmentBytes = Math.max(1, Math.floor(opts.segmentBytes ?? 8 * 1024 * 1024));
  const minMs = Math.max(1, opts.retry.minMs);
  const maxMs = Math.max(minMs, opts.retry.maxMs);

  await mkdir(dir, { recursive: true });
  const unlock = lockJournal(dir);

  // ---------------------------------------------------------------------------------------------
  // State

  /** Committed end (bytes) of every segment file that exists, by sequence number. */
  const segEnds = new Map<number, number>();
  let dirFh: FileHandle | null = null;
  let wFh: FileHandle | null = null;
  let wSeq = 0;
  let wSize = 0;
  let needRotate = false;

  let cursor: Position = { segment: 1, offset: 0 };
  let rFh: FileHandle | null = null;
  let rSeq = 0;

  let backlog = 0;
  let headAt: number | null = null;

  const counters = {
    committed: 0,
    drained: 0,
    commits: 0,
    fsyncs: 0,
    cursorSaves: 0,
    failedWrites: 0,
    rejected: 0,
    corruptLines: 0,
  };
  let outageSince: number | null = null;
  let lastError: string | null = null;

  try {
    dirFh = await open(dir, 'r');
    await unlink(join(dir, CURSOR_TMP)).catch(() => {});
    const seqs = (await readdir(dir))
      .map((name) => SEGMENT_RE.exec(name)?.[1])
      .filter((s): s is string => s !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    const saved = await readCursor(dir, log);

    // Segments wholly behind the cursor were drained; a crash kept them from being deleted.
    for (const seq of seqs.filter((s) => saved && s < saved.segment)) {
      await unlink(join(dir, segmentFileName(seq)));
    }
    const live = seqs.filter((s) => !saved || s >= saved.segment);

    const first = live[0];
    if (first === undefined) {
      wSeq = Math.max(1, saved?.segment ?? 1);
      wFh = await open(join(dir, segmentFileName(wSeq)), 'w');
      await dirFh.sync();
      wSize = 0;
      segEnds.set(wSeq, 0);
      cursor = { segment: wSeq, offset: 0 };
    } else {
      cursor = saved && saved.segment === first ? { ...saved } : { segment: first, offset: 0 };
      for (const seq of live) {
        const buf = await readFile(join(dir, segmentFileName(seq)));
        let end = buf.length;
        const from = seq === cursor.segment ? Math.min(cursor.offset, end) : 0;
        if (seq === live[live.length - 1]) {
          // The tail: drop a torn write (partial line, trailing lines that are not events).
          end = buf.lastIndexOf(NL) + 1;
          while (end > from) {
            const lineStart = end >= 2 ? buf.lastIndexOf(NL, end - 2) + 1 : 0;
            if (parseLine(buf, lineStart, end - 1)) break;
            end = lineStart;
          }
          end = Math.max(end, from);
          wSeq = seq;
          wFh = await open(join(dir, segmentFileName(seq)), 'r+');
          if (end < buf.length) {
            await wFh.truncate(end);
            await wFh.datasync();
            log.warn('journal: dropped a torn write at the end of the journal', {
              segment: seq,
              bytes: buf.length - end,
            });
          }
          wSize = end;
        }
        segEnds.set(seq, end);
        if (seq === cursor.segment) cursor.offset = from;
        const body = end === buf.length ? buf : buf.subarray(0, end);
        backlog += countLines(body, seq === cursor.segment ? from : 0);
        if (headAt === null && end > (seq === cursor.segment ? from : 0)) {
          const start = seq === cursor.segment ? from : 0;
          const nl = body.indexOf(NL, start);
          if (nl !== -1) headAt = parseLine(body, start, nl)?.at ?? null;
        }
      }
    }
  } catch (err) {
    await wFh?.close().catch(() => {});
    await dirFh?.close().catch(() => {});
    unlock();
    throw err;
  }
  let durableCursor: Position = { ...cursor };

  if (backlog > 0) {
    log.info('journal: opened with events still to drain', { events: backlog, dir });
  }

  // ---------------------------------------------------------------------------------------------
  // Writing (group commit)

  let pending: Pending[] = [];
  let flushing: Promise<void> | null = null;
  let flushTimer: TimerHandle | null = null;
  let flushSoon = false;
  let closing = false;
  let closed = false;
  const listeners = new Set<(event: AccessEvent) => void>();

  const rotate = async () => {
    const next = wSeq + 1;
    const fh = await open(join(dir, segmentFileName(next)), 'w');
    try {
      await dirFh!.sync();
    } catch (err) {
      await fh.close().catch(() => {});
      throw err;
    }
    const old = wFh;
    wFh = fh;
    wSeq = next;
    wSize = 0;
    segEnds.set(next, 0);
    needRotate = false;
    await old?.close().catch(() => {});
  };

  const notify = (event: AccessEvent) => {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (err) {
        log.warn('journal: event subscriber threw', { error: describeError(err) });
      }
    }
  };

  const commit = async (batch: Pending[]) => {
    let i = 0;
    while (i < batch.length) {
      try {
        const head = batch[i]!;
        if (needRotate || (wSize > 0 && wSize + head.bytes > segmentBytes)) await rotate();
        let j = i + 1;
        let bytes = head.bytes;
        while (j < batch.length && wSize + bytes + batch[j]!.bytes <= segmentBytes) {
          bytes += batch[j]!.bytes;
          j++;
        }
        const chunk = batch.slice(i, j);
        const buf = Buffer.from(chunk.map((p) => p.line).join(''), 'utf8');
        await writeFully(wFh!, buf, wSize);
        await wFh!.datasync();
        counters.fsyncs++;
        counters.commits++;
        wSize += buf.length;
        segEnds.set(wSeq, wSize);
        if (backlog === 0) headAt = head.event.at;
        backlog += chunk.length;
        counters.committed += chunk.length;
        for (const p of chunk) p.done(null);
        for (const p of chunk) notify(p.event);
        wake();
        i = j;
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        log.error('journal: write failed, appends refused', {
          error: describeError(error),
          events: batch.length - i,
        });
        for (const p of batch.slice(i)) p.done(error);
        // Whatever reached the file past the committed size is not acknowledged: cut it off
        // if we can, and write the next batch to a fresh segment either way.
        await wFh?.truncate(wSize).catch(() => {});
        needRotate = true;
        return;
      }
    }
  };

  const runFlush = (): Promise<void> => {
    if (flushTimer) clock.clearTimeout(flushTimer);
    flushTimer = null;
    flushSoon = false;
    if (flushing) return flushing;
    if (pending.length === 0) return Promise.resolve();
    const batch = pending;
    pending = [];
    flushing = commit(batch).finally(() => {
      flushing = null;
      if (pending.length > 0) {
        // These waited for the flush that just ended; write them now.
        flushSoon = true;
        setImmediate(() => void runFlush());
      } else {
        checkDrained();
      }
    });
    return flushing;
  };

  const scheduleFlush = () => {
    if (flushing || flushSoon) return;
    if (flushIntervalMs === 0 || pending.length >= maxBatch) {
      if (flushTimer) clock.clearTimeout(flushTimer);
      flushTimer = null;
      flushSoon = true;
      setImmediate(() => void runFlush());
    } else if (!flushTimer) {
      flushTimer = clock.setTimeout(() => {
        flushTimer = null;
        void runFlush();
      }, flushIntervalMs);
    }
  };

  const enqueue = (events: readonly AccessEvent[]): Promise<void> => {
    if (closing) return Promise.reject(new Error('event journal is closed'));
    const items: { line: string; event: AccessEvent }[] = [];
    for (const event of events) {
      const why = invalidEventReason(event);
      if (why) return Promise.reject(new TypeError(`cannot journal event: ${why}`));
      let line: string;
      try {
        line = JSON.stringify(event) + '\n';
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
      items.push({ line, event });
    }
    if (items.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      let left = items.length;
      let failed = false;
      const done = (err: Error | null) => {
        if (failed) return;
        if (err) {
          failed = true;
          reject(err);
        } else if (--left === 0) {
          resolve();
        }
      };
      for (const { line, event } of items) {
        pending.push({ line, bytes: Buffer.byteLength(line), event, done });
      }
      scheduleFlush();
    });
  };

  const flush = async () => {
    while (pending.length > 0 || flushing) await runFlush();
  };

  // ---------------------------------------------------------------------------------------------
  // Draining

  let stopping = false;
  let wakeUp: (() => void) | null = null;
  const wake = () => {
    const w = wakeUp;
    wakeUp = null;
    w?.();
  };

  let sleepTimer: TimerHandle | null = null;
  let sleepDone: (() => void) | null = null;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      sleepDone = resolve;
      sleepTimer = clock.setTimeout(() => {
        sleepTimer = null;
        sleepDone = null;
        resolve();
      }, ms);
    });
  const cancelSleep = () => {
    if (sleepTimer) clock.clearTimeout(sleepTimer);
    sleepTimer = null;
    const done = sleepDone;
    sleepDone = null;
    done?.();
  };

  let drainWaiters: (() => void)[] = [];
  function checkDrained() {
    if (closed || (backlog === 0 && pending.length === 0 && !flushing)) {
      const waiters = drainWaiters;
      drainWaiters = [];
      for (const w of waiters) w();
    }
  }

  const readHandle = async (seq: number) => {
    if (rFh && rSeq === seq) return rFh;
    await rFh?.close().catch(() => {});
    rFh = null;
    rFh = await open(join(dir, segmentFileName(seq)), 'r');
    rSeq = seq;
    return rFh;
  };

  const readBatch = async (): Promise<ReadResult> => {
    const seq = cursor.segment;
    const start = cursor.offset;
    const end = segEnds.get(seq) ?? 0;
    const result: ReadResult = { events: [], lines: 0, end: { ...cursor }, nextAt: null };
    if (start >= end) return result;
    const fh = await readHandle(seq);
    let size = Math.min(READ_CHUNK, end - start);
    for (;;) {
      const buf = await readFully(fh, size, start);
      const lastNl = buf.lastIndexOf(NL);
      if (lastNl === -1) {
        if (start + buf.length >= end) {
          // Bytes after the last line of a closed segment: a write that failed. Skip them.
          counters.corruptLines++;
          log.warn('journal: skipped a partial line', { segment: seq, offset: start });
          result.end = { segment: seq, offset: end };
          return result;
        }
        size = Math.min(size * 2, end - start);
        continue;
      }
      let pos = 0;
      while (pos <= lastNl) {
        const nl = buf.indexOf(NL, pos);
        if (result.lines >= maxBatch) {
          result.nextAt = parseLine(buf, pos, nl)?.at ?? null;
          break;
        }
        const event = parseLine(buf, pos, nl);
        result.lines++;
        if (event) {
          result.events.push(event);
        } else {
          counters.corruptLines++;
          log.error('journal: skipped an unreadable line', {
            segment: seq,
            offset: start + pos,
          });
        }
        pos = nl + 1;
      }
      result.end = { segment: seq, offset: start + pos };
      return result;
    }
  };

  const saveCursor = async (pos: Position): Promise<boolean> => {
    if (closed) return false;
    try {
      const tmp = join(dir, CURSOR_TMP);
      const fh = await open(tmp, 'w');
      try {
        await fh.writeFile(
          JSON.stringify({ v: 1, segment: pos.segment, offset: pos.offset }) + '\n',
        );
        await fh.datasync();
      } finally {
        await fh.close();
      }
      await rename(tmp, join(dir, CURSOR_FILE));
      await dirFh!.sync();
      counters.cursorSaves++;
      durableCursor = { ...pos };
      return true;
    } catch (err) {
      if (!closed) log.error('journal: could not save the cursor', { error: describeError(err) });
      return false;
    }
  };

  /** At the end of a closed segment: move on to the next and delete the drained one. */
  const advanceSegment = async (): Promise<boolean> => {
    const seq = cursor.segment;
    if (seq === wSeq || cursor.offset < (segEnds.get(seq) ?? 0)) return false;
    let next = Infinity;
    for (const s of segEnds.keys()) if (s > seq && s < next) next = s;
    if (!Number.isFinite(next)) return false;
    cursor = { segment: next, offset: 0 };
    if (!(await saveCursor(cursor))) return true;
    for (const s of [...segEnds.keys()]) {
      if (s >= durableCursor.segment) continue;
      if (rFh && rSeq === s) {
        await rFh.close().catch(() => {});
        rFh = null;
      }
      try {
        await unlink(join(dir, segmentFileName(s)));
        segEnds.delete(s);
      } catch (err) {
        log.warn('journal: could not delete a drained segment', {
          segment: s,
          error: describeError(err),
        });
        segEnds.delete(s);
      }
    }
    return true;
  };

  const setAside = async (rejected: RejectedEvent[]) => {
    counters.rejected += rejected.length;
    const at = clock.now();
    const text = rejected
      .map((r) => JSON.stringify({ at, reason: r.reason, event: r.event }) + '\n')
      .join('');
    for (const r of rejected) {
      log.error('journal: the database refused an event; set aside in rejected.jsonl', {
        id: r.event.id,
        type: r.event.type,
        reason: r.reason,
      });
    }
    try {
      const fh = await open(join(dir, REJECTED_FILE), 'a');
      try {
        await fh.writeFile(text);
        await fh.datasync();
      } finally {
        await fh.close();
      }
    } catch (err) {
      log.error('journal: could not write rejected.jsonl', { error: describeError(err) });
    }
  };

  const drainLoop = async () => {
    let failures = 0;
    while (!stopping) {
      let batch: ReadResult;
      try {
        batch = await readBatch();
      } catch (err) {
        log.error('journal: read failed', { error: describeError(err) });
        await sleep(maxMs);
        continue;
      }
      if (batch.end.segment === cursor.segment && batch.end.offset === cursor.offset) {
        if (await advanceSegment()) continue;
        checkDrained();
        if (stopping) break;
        await new Promise<void>((resolve) => {
          wakeUp = resolve;
          const more =
            cursor.segment !== wSeq || (segEnds.get(cursor.segment) ?? 0) > cursor.offset;
          if (stopping || more) wake();
        });
        continue;
      }
      if (batch.events.length > 0) {
        headAt = batch.events[0]!.at;
        let result: SinkResult | undefined;
        try {
          result = (await Promise.resolve().then(() => sink.write(batch.events))) ?? undefined;
        } catch (err) {
          if (stopping) break;
          failures++;
          counters.failedWrites++;
          lastError = describeError(err);
          if (outageSince === null) {
            outageSince = clock.now();
            log.warn('database unreachable, keeping events in the journal', {
              error: lastError,
              backlog,
            });
          }
          await sleep(Math.min(maxMs, minMs * 2 ** Math.min(failures - 1, 30)));
          continue;
        }
        if (outageSince !== null) {
          log.info(`database back, draining ${backlog} events`, {
            events: backlog,
            outageMs: clock.now() - outageSince,
            failedWrites: failures,
          });
          outageSince = null;
        }
        failures = 0;
        counters.drained += batch.events.length;
        if (result?.rejected?.length) await setAside(result.rejected);
      }
      cursor = batch.end;
      backlog -= batch.lines;
      headAt = backlog > 0 ? (batch.nextAt ?? headAt) : null;
      await saveCursor(cursor);
      checkDrained();
    }
  };

  const loop = drainLoop().catch((err: unknown) => {
    log.error('journal: drain loop stopped', { error: describeError(err) });
  });

  // ---------------------------------------------------------------------------------------------
  // Public

  const within = async (p: Promise<unknown>, ms: number) => {
    let timer: TimerHandle | null = null;
    await Promise.race([
      p,
      new Promise<void>((resolve) => {
        timer = clock.setTimeout(resolve, ms);
      }),
    ]);
    if (timer) clock.clearTimeout(timer);
  };

  let closePromise: Promise<void> | null = null;

  return {
    append: (event) => enqueue([event]),
    appendMany: (events) => enqueue(events),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    flush,
    drained() {
      return new Promise<void>((resolve) => {
        drainWaiters.push(resolve);
        if (pending.length > 0 && !flushing) scheduleFlush();
        checkDrained();
      });
    },
    stats: () => ({
      backlog,
      oldestPendingAt: backlog > 0 ? headAt : null,
      oldestPendingAgeMs: backlog > 0 && headAt !== null ? Math.max(0, clock.now() - headAt) : 0,
      unflushed: pending.length,
      ...counters,
      segments: segEnds.size,
      outageSince,
      lastError,
    }),
    close(closeOpts = {}) {
      closePromise ??= (async () => {
        closing = true;
        await flush();
        const drainMs = closeOpts.drainTimeoutMs ?? 0;
        if (drainMs > 0 && backlog > 0) {
          await within(
            new Promise<void>((resolve) => {
              drainWaiters.push(resolve);
              checkDrained();
            }),
            drainMs,
          );
        }
        stopping = true;
        wake();
        cancelSleep();
        await within(loop, CLOSE_GRACE_MS);
        closed = true;
        checkDrained();
        listeners.clear();
        await rFh?.close().catch(() => {});
        await wFh?.close().catch(() => {});
        await dirFh?.close().catch(() => {});
        rFh = null;
        unlock();
      })();
      return closePromise;
    },
  };
}
