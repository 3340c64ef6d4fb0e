/**
 * Event journal benchmark: access events from append to durable in PostgreSQL.
 *
 *   npx tsx bench/journal.bench.ts
 *
 * Starts a private PostgreSQL through the test harness, with durability ON (fsync, full page
 * writes, synchronous commit; the harness turns them off for tests), and a journal in a temp
 * folder on the same disk; bench/run.ts passes its own server (started the same way) instead.
 * Two phases:
 *
 *  - sustained: 60,000 events appended as fast as the journal acknowledges them (at most 2,000
 *    in flight, like many doors at once); events/s = events / time until all are in PostgreSQL.
 *  - steady: 2,000 events/s for 5 s in 10 ms ticks; append→ack latency (fsync'd in the journal)
 *    and append→stored latency (the sink's transaction committed), p50/p99.
 */
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import type { AccessEvent } from '../access/access.events.ts';
import { openDatabase, sites } from '../db/index.ts';
import { newId } from '../db/ids.ts';
import { systemClock } from '../hardware/clock.ts';
import { createEventJournal, type EventSink } from '../server/events/event.journal.ts';
import { createDbEventSink } from '../server/events/event.sink.ts';
import { createLogger } from '../server/log/logger.ts';
import { createDatabase, startPostgres } from '../test/harness/postgres.server.ts';
import { makeTempDir } from '../test/harness/temp-dir.ts';

const SITE = 'bench';

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? NaN;
}

const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

let n = 0;
function badge(now: number): AccessEvent {
  n++;
  return {
    id: newId(now),
    at: now,
    type: 'access',
    doorId: n % 3 ? 'front' : 'back',
    readerId: n % 3 ? 'front-in' : 'back-in',
    decision: n % 10 ? 'granted' : 'denied',
    reason: n % 10 ? 'granted' : 'unknown_credential',
    residentId: `res-${n % 400}`,
    credentialId: `cred-${n % 500}`,
    details: { format: 'H10301', facility: 12, card: 10_000 + (n % 500) },
  };
}

/** postgresql.conf settings of a production-like server: the harness's test shortcuts undone. */
export const DURABLE_PG_SETTINGS = {
  fsync: true,
  full_page_writes: true,
  synchronous_commit: 'on',
} as const;

export async function benchJournal(
  opts: {
    sustainedEvents?: number;
    steadyRate?: number;
    steadySeconds?: number;
    /** A running server (started with DURABLE_PG_SETTINGS) to use instead of starting one. */
    serverUrl?: string;
  } = {},
): Promise<Record<string, number>> {
  const sustainedEvents = opts.sustainedEvents ?? 60_000;
  const steadyRate = opts.steadyRate ?? 2_000;
  const steadySeconds = opts.steadySeconds ?? 5;
  const inFlight = 2_000;

  const tmp = await makeTempDir('journal-bench');
  const server = opts.serverUrl ? null : await startPostgres({ settings: DURABLE_PG_SETTINGS });
  const database = await openDatabase({
    url: await createDatabase(opts.serverUrl ?? server!.url, 'journal_bench'),
    poolSize: 4,
  }).catch(async (err: unknown) => {
    await server?.stop();
    await tmp.cleanup();
    throw err;
  });
  try {
    await database.db.insert(sites).values({ id: SITE, name: 'Bench', timezone: 'UTC' });
    const clock = systemClock();
    const log = createLogger({ level: 'warn', write: (l) => process.stderr.write(l + '\n') });
    const storedAt = new Map<string, number>();
    const dbSink = createDbEventSink(database.db, SITE);
    const sink: EventSink = {
      async write(events) {
        const result = await dbSink.write(events);
        const t = performance.now();
        for (const e of events) storedAt.set(e.id, t);
        return result;
      },
    };
    const journal = await createEventJournal({
      dir: join(tmp.path, 'journal'),
      clock,
      log,
      sink,
      retry: { minMs: 50, maxMs: 1_000 },
    });

    // Warm-up: connections, statement paths, JIT.
    await Promise.all(Array.from({ length: 2_000 }, () => journal.append(badge(clock.now()))));
    await journal.drained();

    // ---- sustained
    const s0 = journal.stats();
    const t0 = performance.now();
    let sent = 0;
    let acked = 0;
    await new Promise<void>((resolve, reject) => {
      const pump = () => {
        while (sent < sustainedEvents && sent - acked < inFlight) {
          sent++;
          journal.append(badge(clock.now())).then(() => {
            acked++;
            if (acked === sustainedEvents) resolve();
            else pump();
          }, reject);
        }
      };
      pump();
    });
    const tAcked = performance.now();
    await journal.drained();
    const tStored = performance.now();
    const s1 = journal.stats();

    // ---- steady rate
    const ack: number[] = [];
    const e2e: number[] = [];
    const appendedAt = new Map<string, number>();
    const pending: Promise<void>[] = [];
    const perTick = Math.max(1, Math.round(steadyRate / 100));
    const ticks = steadySeconds * 100;
    const start = performance.now();
    let maxBacklog = 0;
    for (let tick = 0; tick < ticks; tick++) {
      for (let i = 0; i < perTick; i++) {
        const e = badge(clock.now());
        const t = performance.now();
        appendedAt.set(e.id, t);
        pending.push(journal.append(e).then(() => void ack.push(performance.now() - t)));
      }
      maxBacklog = Math.max(maxBacklog, journal.stats().backlog);
      const next = start + (tick + 1) * 10;
      await sleep(Math.max(0, next - performance.now()));
    }
    await Promise.all(pending);
    const steadyElapsed = (performance.now() - start) / 1000;
    await journal.drained();
    for (const [id, t] of appendedAt) e2e.push((storedAt.get(id) ?? NaN) - t);
    ack.sort((a, b) => a - b);
    e2e.sort((a, b) => a - b);
    const s2 = journal.stats();
    await journal.close();

    const sustainedSecs = (tStored - t0) / 1000;
    return {
      sustainedEvents,
      sustainedEventsPerSecStored: round(sustainedEvents / sustainedSecs, 0),
      sustainedEventsPerSecAcked: round(sustainedEvents / ((tAcked - t0) / 1000), 0),
      sustainedSeconds: round(sustainedSecs),
      sustainedEventsPerFsync: round(sustainedEvents / (s1.fsyncs - s0.fsyncs), 1),
      sustainedEventsPerSinkWrite: round(sustainedEvents / (s1.cursorSaves - s0.cursorSaves), 1),
      steadyTargetPerSec: steadyRate,
      steadyAchievedPerSec: round(ack.length / steadyElapsed, 0),
      steadyAckP50Ms: round(percentile(ack, 50)),
      steadyAckP99Ms: round(percentile(ack, 99)),
      steadyAckMaxMs: round(ack[ack.length - 1] ?? NaN),
      steadyStoredP50Ms: round(percentile(e2e, 50)),
      steadyStoredP99Ms: round(percentile(e2e, 99)),
      steadyMaxBacklog: maxBacklog,
      steadyEventsPerFsync: round(ack.length / (s2.fsyncs - s1.fsyncs), 1),
    };
  } finally {
    await database.close().catch(() => {});
    await server?.stop();
    await tmp.cleanup();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await benchJournal();
  for (const [k, v] of Object.entries(result)) process.stdout.write(`${k.padEnd(32)} ${v}\n`);
}
