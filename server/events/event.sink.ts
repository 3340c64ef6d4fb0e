/**
 * The database end of the event journal: stores batches of access events in `access_events` and
 * keeps `door_alarms` in step, in one transaction per batch. Idempotent, because the journal may
 * deliver a batch again after a crash: events already stored (by id) are skipped, an alarm row
 * takes its raising event's id, and clearing only touches alarms that are still open and were
 * raised no later than the clearing event.
 *
 * Each new event takes the next place in its site's audit chain (server/events/audit.chain.ts):
 * the batch locks the site's chain head row, finds which of its events are really new, gives them
 * seq head+1, head+2… in journal order with their hashes, inserts them and moves the head on. A
 * replayed event is not new, so it never takes a second place.
 */
import { and, count, eq, inArray, isNull, lte, sql, type SQL } from 'drizzle-orm';
import type { AccessEvent, AlarmKind } from '../../access/access.events.ts';
import { accessEvents, auditChainHeads, doorAlarms, type Db } from '../../db/index.ts';
import {
  asStoredJson,
  chainHash,
  chainStart,
  type ChainFields,
  type ChainHead,
} from './audit.chain.ts';
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

/**
 * The columns an event is stored with. Rows go to the database as one JSON parameter per INSERT
 * (jsonb_to_recordset), not as 18 bound parameters per row: building thousands of parameters
 * cost more CPU than the database's own work, and the hash chain added three columns per row.
 */
const STORED_COLUMNS = [
  accessEvents.id,
  accessEvents.siteId,
  accessEvents.at,
  accessEvents.type,
  accessEvents.doorId,
  accessEvents.readerId,
  accessEvents.decision,
  accessEvents.reason,
  accessEvents.residentId,
  accessEvents.staffId,
  accessEvents.credentialId,
  accessEvents.carrierCodeId,
  accessEvents.packageId,
  accessEvents.cameraId,
  accessEvents.details,
  accessEvents.seq,
  accessEvents.prevHash,
  accessEvents.hash,
] as const;

/** One row of the JSON parameter, keyed by column name. */
type StoredRow = Record<(typeof STORED_COLUMNS)[number]['name'], unknown>;

const COLUMN_LIST = sql.join(
  STORED_COLUMNS.map((c) => sql.identifier(c.name)),
  sql`, `,
);
const RECORD_TYPE = sql.join(
  STORED_COLUMNS.map((c) => sql`${sql.identifier(c.name)} ${sql.raw(c.getSQLType())}`),
  sql`, `,
);

const storedRow = (f: ChainFields, seq: number, prevHash: string, hash: string): StoredRow => ({
  id: f.id,
  site_id: f.siteId,
  at: f.at.toISOString(),
  type: f.type,
  door_id: f.doorId,
  reader_id: f.readerId,
  decision: f.decision,
  reason: f.reason,
  resident_id: f.residentId,
  staff_id: f.staffId,
  credential_id: f.credentialId,
  carrier_code_id: f.carrierCodeId,
  package_id: f.packageId,
  camera_id: f.cameraId,
  details: f.details,
  seq,
  prev_hash: prevHash,
  hash,
});

const insertRows = (rows: readonly StoredRow[]): SQL =>
  sql`insert into ${accessEvents} (${COLUMN_LIST}) select ${COLUMN_LIST}
      from jsonb_to_recordset(cast(${JSON.stringify(rows)} as jsonb)) as r(${RECORD_TYPE})`;

/** `values` as one JSON parameter, unnested to text rows (for `in (...)`). */
const jsonTexts = (values: readonly string[]): SQL =>
  sql`(select jsonb_array_elements_text(cast(${JSON.stringify(values)} as jsonb)))`;

/**
 * A text column's value. Journal lines are JSON from the box, typed but not checked field by
 * field: a hand-edited or foreign line may carry a number where an id belongs. It is stored as
 * its text, and hashed as that same text.
 */
const asText = (v: unknown): string | null => {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  return typeof v === 'object' ? JSON.stringify(v) : String(v as number | boolean);
};

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

  // Every field is hashed exactly as the database will hand it back to the verifier.
  const toFields = (e: AccessEvent): ChainFields => ({
    id: e.id,
    siteId,
    at: new Date(e.at),
    type: e.type,
    doorId: asText(e.doorId),
    readerId: asText(e.readerId),
    decision: asText(e.decision),
    reason: asText(e.reason),
    residentId: asText(e.residentId),
    staffId: asText(e.staffId),
    credentialId: asText(e.credentialId),
    carrierCodeId: asText(e.carrierCodeId),
    packageId: asText(e.packageId),
    cameraId: asText(e.cameraId),
    details: asStoredJson(e.details ?? {}),
  });

  /** The events of the batch not stored yet, each once, in journal order. */
  const newEvents = async (tx: Db, events: readonly AccessEvent[]) => {
    const stored = new Set<string>();
    const ids = [...new Set(events.map((e) => e.id))];
    for (let i = 0; i < ids.length; i += chunkSize) {
      const rows = await tx
        .select({ id: accessEvents.id })
        .from(accessEvents)
        .where(inArray(accessEvents.id, jsonTexts(ids.slice(i, i + chunkSize))));
      for (const r of rows) stored.add(r.id);
    }
    const fresh: AccessEvent[] = [];
    for (const e of events) {
      if (stored.has(e.id)) continue; // stored already, or twice in this batch
      stored.add(e.id);
      fresh.push(e);
    }
    return fresh;
  };

  /**
   * Locks the site's chain head for the rest of the transaction (two writers can never hand out
   * the same place) and returns it; starts the chain on the site's first chained event.
   */
  const lockChainHead = async (tx: Db): Promise<ChainHead> => {
    const read = () =>
      tx
        .select({
          seq: auditChainHeads.seq,
          hash: auditChainHeads.hash,
          unchainedEvents: auditChainHeads.unchainedEvents,
        })
        .from(auditChainHeads)
        .where(eq(auditChainHeads.siteId, siteId))
        .for('update');
    const [head] = await read();
    if (head) return head;
    // Events stored before the chain existed (an upgraded database) stay outside it; the start
    // hash commits to how many there are, so one slipped in later without a place is noticed.
    const [before] = await tx
      .select({ n: count() })
      .from(accessEvents)
      .where(and(eq(accessEvents.siteId, siteId), isNull(accessEvents.seq)));
    const unchainedEvents = before?.n ?? 0;
    await tx
      .insert(auditChainHeads)
      .values({ siteId, seq: 0, hash: chainStart(siteId, unchainedEvents), unchainedEvents })
      .onConflictDoNothing({ target: auditChainHeads.siteId });
    const [started] = await read();
    if (!started) throw new Error(`audit chain of site ${siteId} could not be started`);
    return started;
  };

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
    const fresh = await newEvents(tx, events);
    if (fresh.length > 0) {
      const head = await lockChainHead(tx);
      let { seq, hash } = head;
      const rows = fresh.map((e): StoredRow => {
        const fields = toFields(e);
        const prevHash = hash;
        seq += 1;
        hash = chainHash(prevHash, seq, fields);
        return storedRow(fields, seq, prevHash, hash);
      });
      // No ON CONFLICT: under the head lock an id found missing above can only appear from a
      // writer that bypasses the chain; the unique violation then fails the batch and the
      // journal delivers it again, when the check sees the row. Skipping it here would leave a
      // hole in the chain.
      for (let i = 0; i < rows.length; i += chunkSize) {
        await tx.execute(insertRows(rows.slice(i, i + chunkSize)));
      }
      await tx
        .update(auditChainHeads)
        .set({ seq, hash, updatedAt: sql`now()` })
        .where(eq(auditChainHeads.siteId, siteId));
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
