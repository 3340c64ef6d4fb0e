/**
 * The database end of the event journal: stores batches of access events in `access_events` and
 * keeps `door_alarms` in step, in one transaction per batch. Idempotent, because the journal may
 * deliver a batch again after a crash: events are inserted with ON CONFLICT (id) DO NOTHING (the
 * table is append-only), an alarm row takes its raising event's id, and clearing only touches
 * alarms that are still open and were raised no later than the clearing event.
 */
import { and, eq, isNull, lte } from 'drizzle-orm';
import type { AccessEvent, AlarmKind } from '../../access/access.events.ts';
import { accessEvents, doorAlarms, type Db } from '../../db/index.ts';
import { describeError } from './event.journal.ts';
import type { EventSink, RejectedEvent } from './event.types.ts';

export type { EventSink, RejectedEvent, SinkResult } from './event.types.ts';

const ALARM_KINDS: ReadonlySet<string> = new Set<AlarmKind>([
  'forced_open',
  'held_open',
  'offline',
  'tamper',
  'keypad_lockout',
]);

const isAlarmKind = (v: unknown): v is AlarmKind => typeof v === 'string' && ALARM_KINDS.has(v);

/**
 * SQLSTATE class 22 (data exception: bad text, out-of-range time, invalid JSON): the row itself
 * is at fault and retrying cannot help. Everything else (connection lost, server shutting down,
 * a missing site row) is worth retrying.
 */
export function isDataError(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; depth < 6 && e; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^22[0-9A-Z]{3}$/.test(code)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

export interface DbEventSinkOptions {
  /** Rows per INSERT statement. Default 500. */
  chunkSize?: number;
}

/** An EventSink that stores events for `siteId` in the database. */
export function createDbEventSink(
  db: Db,
  siteId: string,
  opts: DbEventSinkOptions = {},
): EventSink {
  const chunkSize = Math.max(1, opts.chunkSize ?? 500);

  const toRow = (e: AccessEvent): typeof accessEvents.$inferInsert => ({
    id: e.id,
    siteId,
    at: new Date(e.at),
    type: e.type,
    doorId: e.doorId ?? null,
    readerId: e.readerId ?? null,
    decision: e.decision ?? null,
    reason: e.reason ?? null,
    residentId: e.residentId ?? null,
    staffId: e.staffId ?? null,
    credentialId: e.credentialId ?? null,
    carrierCodeId: e.carrierCodeId ?? null,
    packageId: e.packageId ?? null,
    cameraId: e.cameraId ?? null,
    details: e.details ?? {},
  });

  const applyAlarms = async (tx: Db, events: readonly AccessEvent[]) => {
    let raised: (typeof doorAlarms.$inferInsert)[] = [];
    const insertRaised = async () => {
      for (let i = 0; i < raised.length; i += chunkSize) {
        await tx
          .insert(doorAlarms)
          .values(raised.slice(i, i + chunkSize))
          .onConflictDoNothing({ target: doorAlarms.id });
      }
      raised = [];
    };
    for (const e of events) {
      if (!e.doorId) continue;
      if (isAlarmKind(e.type)) {
        raised.push({
          id: e.id,
          siteId,
          doorId: e.doorId,
          kind: e.type,
          raisedAt: new Date(e.at),
          raisedEventId: e.id,
          details: e.details ?? {},
        });
        continue;
      }
      let kind: AlarmKind | null;
      if (e.type === 'online') {
        kind = 'offline';
      } else if (e.type === 'alarm_cleared') {
        const named = e.details?.kind;
        if (named !== undefined && !isAlarmKind(named)) continue;
        kind = named ?? null; // no kind named: every open alarm of the door
      } else {
        continue;
      }
      await insertRaised(); // a clear applies to alarms raised earlier in the same batch
      const at = new Date(e.at);
      await tx
        .update(doorAlarms)
        .set({ clearedAt: at })
        .where(
          and(
            eq(doorAlarms.siteId, siteId),
            eq(doorAlarms.doorId, e.doorId),
            kind ? eq(doorAlarms.kind, kind) : undefined,
            isNull(doorAlarms.clearedAt),
            lte(doorAlarms.raisedAt, at),
          ),
        );
    }
    await insertRaised();
  };

  const store = async (tx: Db, events: readonly AccessEvent[]) => {
    for (let i = 0; i < events.length; i += chunkSize) {
      await tx
        .insert(accessEvents)
        .values(events.slice(i, i + chunkSize).map(toRow))
        .onConflictDoNothing({ target: accessEvents.id });
    }
    await applyAlarms(tx, events);
  };

  return {
    async write(events) {
      if (events.length === 0) return;
      try {
        await db.transaction((tx) => store(tx, events));
        return;
      } catch (err) {
        if (!isDataError(err)) throw err;
      }
      // Some event's data is refused. Store the rest one by one (a savepoint each) and hand the
      // refused ones back, so one bad event cannot hold up the journal for ever.
      const rejected: RejectedEvent[] = [];
      await db.transaction(async (tx) => {
        for (const event of events) {
          try {
            await tx.transaction((sp) => store(sp, [event]));
          } catch (err) {
            if (!isDataError(err)) throw err;
            rejected.push({ event, reason: describeError(err) });
          }
        }
      });
      return { rejected };
    },
  };
}
