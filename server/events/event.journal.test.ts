import { existsSync } from 'node:fs';
import { appendFile, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AccessEvent } from '../../access/access.events.ts';
import { manualClock, type ManualClock } from '../../hardware/clock.ts';
import { makeTempDir, type TempDir } from '../../test/harness/temp-dir.ts';
import { memoryLogger } from '../log/logger.ts';
import {
  createEventJournal,
  JournalLockedError,
  segmentFileName,
  type EventJournal,
  type EventJournalOptions,
} from './event.journal.ts';
import type { EventSink, SinkResult } from './event.types.ts';

// ------------------------------------------------------------------------------------------------
// Helpers

/**
 * An in-memory stand-in for the database that is strict about how the journal calls it: never two
 * writes at once, never an empty or oversized batch, never an invalid event, and an id seen again
 * must carry the same event. It stores each id once (like ON CONFLICT DO NOTHING) and counts
 * re-deliveries. It can be told to fail, to hang, or to refuse events for good.
 */
interface FakeSink extends EventSink {
  /** Ids in the order they were first stored. */
  order: string[];
  stored: Map<string, AccessEvent>;
  batches: number[];
  duplicates: number;
  /** clock.now() of every write attempt, failed or not. */
  attempts: number[];
  violations: string[];
  failing: boolean;
  hang: boolean;
  refuse: (e: AccessEvent) => string | null;
}

function fakeSink(clock: ManualClock, maxBatch = Infinity): FakeSink {
  let inFlight = false;
  const sink: FakeSink = {
    order: [],
    stored: new Map(),
    batches: [],
    duplicates: 0,
    attempts: [],
    violations: [],
    failing: false,
    hang: false,
    refuse: () => null,
    async write(events): Promise<SinkResult | void> {
      const violation = (msg: string) => {
        sink.violations.push(msg);
        throw new Error(`strict sink: ${msg}`);
      };
      if (inFlight) violation('concurrent write');
      if (events.length === 0) violation('empty batch');
      if (events.length > maxBatch) violation(`batch of ${events.length} > ${maxBatch}`);
      for (const e of events) {
        if (typeof e.id !== 'string' || typeof e.at !== 'number') violation('invalid event');
      }
      sink.attempts.push(clock.now());
      inFlight = true;
      try {
        await new Promise<void>((r) => setImmediate(r));
        if (sink.hang) await new Promise(() => {});
        if (sink.failing) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
        const rejected = [];
        for (const e of events) {
          const reason = sink.refuse(e);
          if (reason) {
            rejected.push({ event: e, reason });
            continue;
          }
          const before = sink.stored.get(e.id);
          if (before) {
            sink.duplicates++;
            if (JSON.stringify(before) !== JSON.stringify(e)) violation(`id ${e.id} changed`);
          } else {
            sink.stored.set(e.id, e);
            sink.order.push(e.id);
          }
        }
        sink.batches.push(events.length);
        return rejected.length ? { rejected } : undefined;
      } finally {
        inFlight = false;
      }
    },
  };
  return sink;
}

const tick = () => new Promise<void>((r) => setImmediate(r));

async function until(cond: () => boolean, what = 'condition', timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise<void>((r) => setTimeout(r, 1));
  }
}

/** A few event-loop turns, for asserting that something did NOT happen. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await tick();
}

let seq = 0;
function ev(clock: ManualClock, extra: Partial<AccessEvent> = {}): AccessEvent {
  seq++;
  return {
    id: `ev-${String(seq).padStart(6, '0')}`,
    at: clock.now(),
    type: 'access',
    doorId: 'front',
    readerId: 'front-in',
    decision: 'granted',
    reason: 'granted',
    details: { n: seq, text: 'naïve ✓ "quoted" \n newline' },
    ...extra,
  };
}

async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.startsWith('journal-')).sort();
}

async function journalLines(dir: string): Promise<string[]> {
  const lines: string[] = [];
  for (const name of await segmentFiles(dir)) {
    const text = await readFile(join(dir, name), 'utf8');
    lines.push(...text.split('\n').filter(Boolean));
  }
  return lines;
}

let tmp: TempDir;
let dir: string;
let clock: ManualClock;
let log: ReturnType<typeof memoryLogger>;
const open: EventJournal[] = [];

beforeEach(async () => {
  tmp = await makeTempDir('journal-unit');
  dir = join(tmp.path, 'journal');
  clock = manualClock();
  log = memoryLogger();
});

afterEach(async () => {
  for (const j of open.splice(0)) {
    // A sink write that hangs is let go after a grace period on the (manual) clock.
    let done = false;
    const closing = j.close().finally(() => (done = true));
    for (let i = 0; i < 200 && !done; i++) {
      await tick();
      if (!done) clock.advance(100);
    }
    await closing;
  }
  await tmp.cleanup();
});

async function openJournal(
  sink: EventSink,
  extra: Partial<EventJournalOptions> = {},
): Promise<EventJournal> {
  const j = await createEventJournal({
    dir,
    clock,
    log,
    sink,
    flushIntervalMs: 0,
    retry: { minMs: 100, maxMs: 400 },
    ...extra,
  });
  open.push(j);
  return j;
}

async function closeJournal(j: EventJournal): Promise<void> {
  open.splice(open.indexOf(j), 1);
  await j.close();
}

const logged = (level: string, pattern: RegExp) =>
  log.records.filter((r) => r.level === level && pattern.test(String(r.msg)));

// ------------------------------------------------------------------------------------------------

describe('event journal: writing', () => {
  it('acknowledges an append only once its line is on disk, and drains in append order', async () => {
    const sink = fakeSink(clock, 1000);
    const j = await openJournal(sink);
    const events: AccessEvent[] = [];
    for (let i = 0; i < 50; i++) {
      const e = ev(clock);
      events.push(e);
      await j.append(e);
      // Acknowledged means the bytes are in the segment file already.
      const text = await readFile(join(dir, segmentFileName(1)), 'utf8');
      expect(text).toContain(`"id":"${e.id}"`);
    }
    const burst = Array.from({ length: 500 }, () => ev(clock));
    events.push(...burst);
    await Promise.all(burst.map((e) => j.append(e)));
    const many = Array.from({ length: 200 }, () => ev(clock));
    events.push(...many);
    await j.appendMany(many);
    await j.drained();

    expect(sink.order).toEqual(events.map((e) => e.id));
    expect([...sink.stored.values()]).toEqual(events);
    expect((await journalLines(dir)).map((l) => (JSON.parse(l) as AccessEvent).id)).toEqual(
      events.map((e) => e.id),
    );
    expect(sink.violations).toEqual([]);
    expect(j.stats()).toMatchObject({ backlog: 0, committed: 750, drained: 750 });
  });

  it('commits many appends with one write and one fsync (group commit)', async () => {
    const sink = fakeSink(clock);
    const j = await openJournal(sink, { flushIntervalMs: 5 });
    let acked = 0;
    const appends = Array.from({ length: 200 }, () => j.append(ev(clock)).then(() => acked++));
    await settle();
    expect(acked).toBe(0); // waiting for the group commit window
    expect(j.stats()).toMatchObject({ fsyncs: 0, unflushed: 200 });

    clock.advance(5);
    await Promise.all(appends);
    expect(j.stats()).toMatchObject({ fsyncs: 1, commits: 1, committed: 200 });

    // With no window at all, appends made in the same turn still share one fsync.
    const j2Dir = join(tmp.path, 'journal-2');
    const j2 = await createEventJournal({
      dir: j2Dir,
      clock,
      log,
      sink: fakeSink(clock),
      flushIntervalMs: 0,
      retry: { minMs: 10, maxMs: 10 },
    });
    open.push(j2);
    await Promise.all(Array.from({ length: 1000 }, () => j2.append(ev(clock))));
    expect(j2.stats().fsyncs).toBe(1);

    // A full batch does not wait for the window.
    const j3 = await createEventJournal({
      dir: join(tmp.path, 'journal-3'),
      clock,
      log,
      sink: fakeSink(clock),
      flushIntervalMs: 1_000,
      maxBatch: 100,
      retry: { minMs: 10, maxMs: 10 },
    });
    open.push(j3);
    await Promise.all(Array.from({ length: 100 }, () => j3.append(ev(clock))));
    expect(j3.stats()).toMatchObject({ fsyncs: 1, committed: 100 });
    await j.drained();
    expect(sink.order).toHaveLength(200);
  });

  it('tells subscribers about an event once it is durable, in order', async () => {
    const j = await openJournal(fakeSink(clock), { flushIntervalMs: 5 });
    const heard: string[] = [];
    j.subscribe(() => {
      throw new Error('a broken subscriber does not stop the others');
    });
    const unsubscribe = j.subscribe((e) => heard.push(e.id));
    const a = ev(clock);
    const b = ev(clock);
    const pa = j.append(a);
    const pb = j.append(b);
    await settle();
    expect(heard).toEqual([]);
    clock.advance(5);
    await pa;
    expect(heard).toEqual([a.id, b.id]);
    await pb;
    unsubscribe();
    const pc = j.append(ev(clock));
    clock.advance(5);
    await pc;
    expect(heard).toEqual([a.id, b.id]);
    expect(logged('warn', /subscriber threw/)).toHaveLength(3);
  });

  it('refuses invalid events and appends after close', async () => {
    const j = await openJournal(fakeSink(clock));
    await expect(j.append({ ...ev(clock), id: '' })).rejects.toThrow(/id/);
    await expect(j.append({ ...ev(clock), at: Number.NaN })).rejects.toThrow(/at/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expect(j.append({ ...ev(clock), details: cyclic })).rejects.toThrow();
    // appendMany is all or nothing when an event is invalid
    await expect(j.appendMany([ev(clock), { ...ev(clock), type: '' as never }])).rejects.toThrow(
      /type/,
    );
    expect(j.stats().committed).toBe(0);
    await closeJournal(j);
    await expect(j.append(ev(clock))).rejects.toThrow(/closed/);
  });

  it('keeps a second process out of the same folder', async () => {
    const j = await openJournal(fakeSink(clock));
    await closeJournal(j);
    // A live process (our parent) holds the lock.
    await writeFile(join(dir, 'journal.lock'), String(process.ppid));
    await expect(openJournal(fakeSink(clock))).rejects.toBeInstanceOf(JournalLockedError);
    // A lock left by a process that is gone is taken over.
    await writeFile(join(dir, 'journal.lock'), '2147483646');
    const again = await openJournal(fakeSink(clock));
    await closeJournal(again);
    expect(existsSync(join(dir, 'journal.lock'))).toBe(false);
  });
});

describe('event journal: recovery', () => {
  it.each([
    ['a partial last line', '{"id":"torn","at":17'],
    ['a zero-filled tail', '\0\0\0\0\0\0\0\0'],
    ['garbage lines after the last event', 'not json\n{"id":"x"}\n{"id":"half'],
  ])('drops a torn write at the end (%s) and goes on from there', async (_name, junk) => {
    const down = fakeSink(clock);
    down.failing = true;
    const a = await openJournal(down);
    const first = Array.from({ length: 10 }, () => ev(clock));
    await a.appendMany(first);
    await closeJournal(a);
    const file = join(dir, segmentFileName(1));
    const goodSize = (await stat(file)).size;
    await appendFile(file, junk);

    const sink = fakeSink(clock);
    const b = await openJournal(sink);
    expect((await stat(file)).size).toBe(goodSize);
    expect(b.stats().backlog).toBe(10);
    expect(logged('warn', /torn write/)).toHaveLength(1);
    const next = ev(clock);
    await b.append(next);
    await b.drained();
    expect(sink.order).toEqual([...first, next].map((e) => e.id));
    for (const line of await journalLines(dir))
      expect(() => JSON.parse(line) as unknown).not.toThrow();
  });

  it('keeps the cursor across a reopen: drained events are not delivered again', async () => {
    const one = fakeSink(clock);
    const a = await openJournal(one);
    await a.appendMany(Array.from({ length: 5 }, () => ev(clock)));
    await a.drained();
    await closeJournal(a);
    const cursor = JSON.parse(await readFile(join(dir, 'cursor.json'), 'utf8')) as unknown;
    const size = (await stat(join(dir, segmentFileName(1)))).size;
    expect(cursor).toEqual({ v: 1, segment: 1, offset: size });
    expect(existsSync(join(dir, 'cursor.json.tmp'))).toBe(false);

    const two = fakeSink(clock);
    const b = await openJournal(two);
    expect(b.stats().backlog).toBe(0);
    const later = Array.from({ length: 3 }, () => ev(clock));
    await b.appendMany(later);
    await b.drained();
    expect(two.order).toEqual(later.map((e) => e.id));
    expect(one.order).toHaveLength(5);
  });

  it('delivers again after a crash between the sink write and the cursor save; each id is stored once', async () => {
    const sink = fakeSink(clock);
    const a = await openJournal(sink);
    const first = Array.from({ length: 5 }, () => ev(clock));
    await a.appendMany(first);
    await a.drained();
    const cursorAfterFirst = await readFile(join(dir, 'cursor.json'));
    const second = Array.from({ length: 7 }, () => ev(clock));
    await a.appendMany(second);
    await a.drained();
    await closeJournal(a);
    expect(sink.duplicates).toBe(0);

    // The second batch reached the sink but the crash came before its cursor was saved.
    await writeFile(join(dir, 'cursor.json'), cursorAfterFirst);
    const b = await openJournal(sink);
    expect(b.stats().backlog).toBe(7);
    await b.drained();
    await closeJournal(b);
    expect(sink.duplicates).toBe(7);
    expect(sink.order).toEqual([...first, ...second].map((e) => e.id));

    // No cursor at all (a crash before the first save): everything again, still stored once.
    await writeFile(join(dir, 'cursor.json'), '');
    const c = await openJournal(sink);
    await c.drained();
    expect(sink.duplicates).toBe(7 + 12);
    expect(sink.stored.size).toBe(12);
    expect(sink.violations).toEqual([]);
  });

  it('skips an unreadable line inside an older segment instead of stopping', async () => {
    const [e1, e2, e3] = [ev(clock), ev(clock), ev(clock)];
    await mkdir(dir, { recursive: true });
    await writeFile(
      join(dir, segmentFileName(1)),
      `${JSON.stringify(e1)}\n{"broken\n${JSON.stringify(e2)}\n`,
    );
    await writeFile(join(dir, segmentFileName(2)), `${JSON.stringify(e3)}\n`);
    const sink = fakeSink(clock);
    const j = await openJournal(sink);
    expect(j.stats().backlog).toBe(4);
    await j.drained();
    expect(sink.order).toEqual([e1!.id, e2!.id, e3!.id]);
    expect(j.stats()).toMatchObject({ corruptLines: 1, backlog: 0 });
    expect(await segmentFiles(dir)).toEqual([segmentFileName(2)]);
  });
});

describe('event journal: segments', () => {
  it('rotates at segmentBytes and deletes segments once drained', async () => {
    const sink = fakeSink(clock, 7);
    sink.failing = true;
    const j = await openJournal(sink, { segmentBytes: 1024, maxBatch: 7 });
    const events = Array.from({ length: 60 }, () => ev(clock));
    for (let i = 0; i < events.length; i += 9) await j.appendMany(events.slice(i, i + 9));
    const files = await segmentFiles(dir);
    expect(files.length).toBeGreaterThan(4);
    for (const name of files.slice(0, -1)) {
      expect((await stat(join(dir, name))).size).toBeLessThanOrEqual(1024);
    }
    expect(j.stats()).toMatchObject({ backlog: 60, segments: files.length });

    sink.failing = false;
    clock.advance(400);
    await j.drained();
    expect(sink.order).toEqual(events.map((e) => e.id));
    expect(Math.max(...sink.batches)).toBeLessThanOrEqual(7);
    const left = await segmentFiles(dir);
    expect(left).toEqual([files[files.length - 1]]);
    expect(j.stats().segments).toBe(1);
    await closeJournal(j);

    // The sequence goes on after a reopen; nothing is delivered again.
    const again = fakeSink(clock);
    const k = await openJournal(again, { segmentBytes: 1024 });
    const more = Array.from({ length: 20 }, () => ev(clock));
    await k.appendMany(more);
    await k.drained();
    expect(again.order).toEqual(more.map((e) => e.id));
    const names = await segmentFiles(dir);
    expect(names[0]! >= left[0]!).toBe(true);
  });
});

describe('event journal: draining while the database is away', () => {
  it('backs off exponentially, logs once per outage and says when it is back', async () => {
    const sink = fakeSink(clock);
    sink.failing = true;
    const j = await openJournal(sink, { retry: { minMs: 100, maxMs: 400 } });
    const start = clock.now();
    await j.append(ev(clock));
    await until(() => sink.attempts.length === 1, 'first attempt');

    for (const gap of [100, 200, 400, 400, 400]) {
      await until(() => clock.pendingTimers() === 1, 'back-off timer');
      const n = sink.attempts.length;
      clock.advance(gap - 1);
      await settle();
      expect(sink.attempts.length).toBe(n);
      clock.advance(1);
      await until(() => sink.attempts.length === n + 1, 'retry');
    }
    expect(sink.attempts.map((t) => t - start)).toEqual([0, 100, 300, 700, 1100, 1500]);
    expect(j.stats()).toMatchObject({ backlog: 1, outageSince: start, failedWrites: 6 });
    expect(j.stats().lastError).toMatch(/ECONNREFUSED/);

    await j.append(ev(clock));
    sink.failing = false;
    await until(() => clock.pendingTimers() === 1, 'back-off timer');
    clock.advance(400);
    await j.drained();
    expect(logged('warn', /^database unreachable/)).toHaveLength(1);
    expect(logged('info', /^database back, draining 2 events$/)).toHaveLength(1);
    expect(j.stats()).toMatchObject({ backlog: 0, outageSince: null });

    // A second outage is a new one: logged once again, and the back-off starts over.
    sink.failing = true;
    const t2 = clock.now();
    await j.append(ev(clock));
    await until(() => clock.pendingTimers() === 1, 'back-off timer');
    sink.failing = false;
    clock.advance(100);
    await j.drained();
    expect(sink.attempts.slice(-2).map((t) => t - t2)).toEqual([0, 100]);
    expect(logged('warn', /^database unreachable/)).toHaveLength(2);
    expect(logged('info', /^database back/)).toHaveLength(2);
    expect(sink.violations).toEqual([]);
  });

  it('reports the backlog and the age of the oldest pending event', async () => {
    const sink = fakeSink(clock);
    sink.failing = true;
    const j = await openJournal(sink, { retry: { minMs: 10_000, maxMs: 10_000 } });
    expect(j.stats()).toMatchObject({ backlog: 0, oldestPendingAt: null, oldestPendingAgeMs: 0 });
    const t0 = clock.now();
    await j.appendMany([ev(clock), ev(clock), ev(clock)]);
    clock.advance(1_500);
    await j.append(ev(clock));
    expect(j.stats()).toMatchObject({ backlog: 4, oldestPendingAt: t0, oldestPendingAgeMs: 1_500 });

    sink.failing = false;
    clock.advance(10_000);
    await j.drained();
    expect(j.stats()).toMatchObject({ backlog: 0, oldestPendingAt: null, oldestPendingAgeMs: 0 });

    // After a reopen the backlog is counted from the files.
    sink.failing = true;
    const t1 = clock.now();
    await j.appendMany([ev(clock), ev(clock)]);
    await closeJournal(j);
    clock.advance(250);
    const k = await openJournal(sink);
    expect(k.stats()).toMatchObject({ backlog: 2, oldestPendingAt: t1, oldestPendingAgeMs: 250 });
  });

  it('acknowledges appends while a sink write hangs, and close() lets the hung write go', async () => {
    const stuck = fakeSink(clock);
    stuck.hang = true;
    const j = await openJournal(stuck);
    const events = Array.from({ length: 100 }, () => ev(clock));
    for (const e of events) await j.append(e);
    expect(j.stats()).toMatchObject({ committed: 100, backlog: 100 });
    const closing = j.close();
    await until(() => clock.pendingTimers() > 0, 'close grace timer');
    clock.advance(5_000);
    await closing;
    open.splice(open.indexOf(j), 1);

    const sink = fakeSink(clock);
    const k = await openJournal(sink);
    await k.drained();
    expect(sink.order).toEqual(events.map((e) => e.id));
  });

  it('sets aside events the sink refuses for good and carries on', async () => {
    const sink = fakeSink(clock);
    sink.refuse = (e) => (e.type === 'reader_error' ? 'invalid byte sequence' : null);
    const j = await openJournal(sink);
    const bad = ev(clock, { type: 'reader_error' });
    const good = [ev(clock), bad, ev(clock)];
    await j.appendMany(good);
    await j.drained();
    expect(sink.order).toEqual([good[0]!.id, good[2]!.id]);
    expect(j.stats().rejected).toBe(1);
    const aside = (await readFile(join(dir, 'rejected.jsonl'), 'utf8')).trim().split('\n');
    expect(aside).toHaveLength(1);
    expect(JSON.parse(aside[0]!)).toMatchObject({
      reason: 'invalid byte sequence',
      event: { id: bad.id },
    });
    expect(logged('error', /refused an event/)).toHaveLength(1);
  });

  it('close() commits queued appends and can drain within drainTimeoutMs', async () => {
    const sink = fakeSink(clock, 10);
    sink.failing = true;
    const j = await openJournal(sink, { maxBatch: 10, flushIntervalMs: 1_000 });
    const events = Array.from({ length: 95 }, () => ev(clock));
    const appended = j.appendMany(events);
    await closeJournal(j); // the group commit window has not passed: close() commits them
    await appended;
    expect(j.stats()).toMatchObject({ committed: 95, backlog: 95 });

    sink.failing = false;
    const k = await openJournal(sink, { maxBatch: 10 });
    const more = Array.from({ length: 50 }, () => ev(clock));
    await k.appendMany(more);
    open.splice(open.indexOf(k), 1);
    await k.close({ drainTimeoutMs: 60_000 });
    expect(sink.order).toEqual([...events, ...more].map((e) => e.id));
    expect(k.stats().backlog).toBe(0);
  });
});
