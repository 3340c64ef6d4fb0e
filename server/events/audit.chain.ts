/**
 * The tamper-evident audit trail: every access event stored since the chain began carries its
 * place in its site's chain (`seq` 1, 2, 3…) and a hash over the previous event's hash and its own
 * stored fields. Changing, deleting, inserting or reordering a stored event breaks the chain at
 * that point, and `npm run audit:verify` (scripts/audit-verify.ts) finds the first break.
 *
 * The hash of an event (format v1, stable: changing it orphans every stored chain):
 *
 *   hash = hex SHA-256 of UTF-8 ( prev_hash + "\n" + canonical JSON of the stored event )
 *
 * where the stored event is the object of its columns `seq`, `id`, `site_id`, `at` (ISO-8601 UTC
 * with milliseconds), `type`, `door_id`, `reader_id`, `decision`, `reason`, `resident_id`,
 * `staff_id`, `credential_id`, `carrier_code_id`, `package_id`, `camera_id` (null when empty) and
 * `details` (the stored JSON), and canonical JSON is JSON without whitespace with the keys of
 * every object sorted by UTF-16 code units. `seq` is hashed too, so an event moved to another
 * place in the chain no longer matches its own hash. The first event's prev_hash is the chain's
 * start, which commits to the site and to how many of its events were stored before the chain
 * began (a database upgraded from 0.2 keeps those without seq).
 *
 * What it proves: nobody changed the stored events without rewriting every hash after the change
 * and the chain head. Someone with full write access to the database can do that, so the head
 * printed by the verifier is worth writing down elsewhere (an evidence export, a ticket, paper);
 * `--anchor <seq>:<hash>` then checks that the chain still passes through it.
 */
import { createHash } from 'node:crypto';
import { and, asc, count, eq, gt, isNull } from 'drizzle-orm';
import { accessEvents, auditChainHeads, sites, type Db } from '../../db/index.ts';

/** The stored fields of an event that its hash covers, as read from or written to the table. */
export interface ChainFields {
  id: string;
  siteId: string;
  at: Date;
  type: string;
  doorId: string | null;
  readerId: string | null;
  decision: string | null;
  reason: string | null;
  residentId: string | null;
  staffId: string | null;
  credentialId: string | null;
  carrierCodeId: string | null;
  packageId: string | null;
  cameraId: string | null;
  /** The stored JSON (plain JSON values only). */
  details: unknown;
}

/** One chained event as stored: its fields and its link. */
export interface ChainRow extends ChainFields {
  seq: number;
  prevHash: string | null;
  hash: string | null;
}

/** The newest link of a site's chain (audit_chain_heads): seq 0 is the start, before any event. */
export interface ChainHead {
  seq: number;
  hash: string;
  /** Events stored before the chain began, as counted when it began. */
  unchainedEvents: number;
}

/** A hash the chain must still pass through: one written down earlier, outside the database. */
export interface ChainAnchor {
  seq: number;
  hash: string;
}

const START_LABEL = 'parcelroom audit chain v1';
const HEX64 = /^[0-9a-f]{64}$/;

const sha256Hex = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * Canonical JSON of a JSON value: no whitespace, object keys sorted by UTF-16 code units, at
 * every depth. Only what JSON can hold is accepted (no undefined, functions, bigint, NaN or
 * Infinity, class instances): the hash must describe exactly what the database stores.
 */
export function canonicalJson(value: unknown): string {
  const parts: string[] = [];
  const seen = new Set<object>();
  const write = (v: unknown, path: string): void => {
    switch (typeof v) {
      case 'string':
        parts.push(JSON.stringify(v));
        return;
      case 'boolean':
        parts.push(v ? 'true' : 'false');
        return;
      case 'number':
        if (!Number.isFinite(v)) throw new TypeError(`${path}: ${v} is not a JSON number`);
        parts.push(JSON.stringify(v));
        return;
      case 'object': {
        if (v === null) {
          parts.push('null');
          return;
        }
        if (seen.has(v)) throw new TypeError(`${path}: circular reference`);
        seen.add(v);
        if (Array.isArray(v)) {
          parts.push('[');
          v.forEach((item, i) => {
            if (i > 0) parts.push(',');
            write(item, `${path}[${i}]`);
          });
          parts.push(']');
        } else {
          const proto = Object.getPrototypeOf(v) as unknown;
          if (proto !== Object.prototype && proto !== null) {
            throw new TypeError(`${path}: not a plain JSON object`);
          }
          const record = v as Record<string, unknown>;
          const keys = Object.keys(record).sort();
          parts.push('{');
          keys.forEach((key, i) => {
            if (i > 0) parts.push(',');
            parts.push(JSON.stringify(key), ':');
            write(record[key], `${path}.${key}`);
          });
          parts.push('}');
        }
        seen.delete(v);
        return;
      }
      case 'undefined':
      case 'function':
      case 'symbol':
      case 'bigint':
        throw new TypeError(`${path}: a ${typeof v} is not a JSON value`);
    }
  };
  write(value, '$');
  return parts.join('');
}

/**
 * `value` as the database will store and return it: what JSON.stringify makes of it (toJSON,
 * undefined members dropped), parsed back. The sink hashes this, the table stores this.
 */
export function asStoredJson(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text === undefined ? null : (JSON.parse(text) as unknown);
}

/** The canonical JSON of an event's stored fields at `seq` (the second part of the hashed text). */
export function canonicalEvent(seq: number, e: ChainFields): string {
  if (!Number.isSafeInteger(seq) || seq < 1) throw new RangeError(`seq ${seq} is not a place`);
  // Keys in sorted order, so the object below is already canonical at the top level.
  return canonicalJson({
    at: e.at.toISOString(),
    camera_id: e.cameraId,
    carrier_code_id: e.carrierCodeId,
    credential_id: e.credentialId,
    decision: e.decision,
    details: e.details,
    door_id: e.doorId,
    id: e.id,
    package_id: e.packageId,
    reader_id: e.readerId,
    reason: e.reason,
    resident_id: e.residentId,
    seq,
    site_id: e.siteId,
    staff_id: e.staffId,
    type: e.type,
  });
}

/** The hash an event at `seq` following `prevHash` must carry. */
export function chainHash(prevHash: string, seq: number, e: ChainFields): string {
  return sha256Hex(`${prevHash}\n${canonicalEvent(seq, e)}`);
}

/**
 * The prev_hash of a site's first chained event. It commits to the number of the site's events
 * stored before the chain began, so one added later without a place in the chain is noticed.
 */
export function chainStart(siteId: string, unchainedEvents: number): string {
  return sha256Hex(
    `${START_LABEL}\n${canonicalJson({ site_id: siteId, unchained_events: unchainedEvents })}`,
  );
}

/** Where and how a chain is broken. */
export type ChainBreakKind =
  /** A seq is missing: an event was deleted (or the rows are out of order). */
  | 'missing'
  /** The event's stored fields no longer give its hash: changed after it was written. */
  | 'changed'
  /** The event is intact but does not follow the one before it: an event was inserted before it. */
  | 'unlinked'
  /** Neither its fields nor its link match: moved here from another place, or forged. */
  | 'moved'
  /** The first event does not start the chain: events added or removed outside the chain. */
  | 'start'
  /** Events past the recorded chain head: stored without going through the event journal. */
  | 'beyond_head'
  /** The chain ends before the recorded head: events deleted from its end. */
  | 'truncated'
  /** The recorded head disagrees with the last event, or is missing. */
  | 'head'
  /** The chain no longer passes through a hash written down earlier: rewritten. */
  | 'anchor';

export interface ChainBreak {
  kind: ChainBreakKind;
  /** The first seq at which the chain is broken. */
  seq: number;
  /** The event stored at `seq`, or null when there is none (deleted). */
  event: { id: string; at: Date } | null;
  /** What is wrong, in the words of the audit trail. */
  what: string;
}

export type ChainVerdict =
  | {
      ok: true;
      siteId: string;
      /** Chained events checked. */
      events: number;
      /** The last event's hash (or the start hash when there is none): write this down. */
      headHash: string;
      headSeq: number;
      /** The first chained event, null when the chain has no events yet. */
      first: { seq: number; at: Date } | null;
      /** Events of the site stored before the chain began, not covered by it. */
      unchainedEvents: number;
    }
  | { ok: false; siteId: string; events: number; break: ChainBreak };

export interface VerifyChainOptions {
  siteId: string;
  /** The site's events without a seq, counted now. */
  unchainedEvents: number;
  /** audit_chain_heads' row for the site, read in the same snapshot as the rows; null: none. */
  head: ChainHead | null;
  anchor?: ChainAnchor;
}

/** The hash the row's fields give; null when they cannot be hashed (not JSON): changed too. */
function hashOf(prevHash: string, row: ChainRow): string | null {
  try {
    return chainHash(prevHash, row.seq, row);
  } catch {
    return null;
  }
}

const describe = (row: { seq: number; id: string; at: Date }): string =>
  `seq ${row.seq} (event ${row.id}, ${row.at.toISOString()})`;

/**
 * Walks a site's chained events in seq order and returns the first break, or the chain's head.
 * `rows` is consumed once and never held: any number of events in constant memory.
 */
export async function verifyChain(
  rows: AsyncIterable<ChainRow>,
  opts: VerifyChainOptions,
): Promise<ChainVerdict> {
  const { siteId, head, anchor } = opts;
  const start = chainStart(siteId, opts.unchainedEvents);
  let events = 0;
  let prev: ChainRow | null = null;
  let prevHash = start;
  let first: { seq: number; at: Date } | null = null;
  let anchorSeen = false;
  const broken = (b: ChainBreak): ChainVerdict => ({ ok: false, siteId, events, break: b });

  for await (const row of rows) {
    const expected = (prev?.seq ?? 0) + 1;
    const event = { id: row.id, at: row.at };
    if (row.seq !== expected) {
      const before = prev ? describe(prev) : 'the chain start';
      return broken(
        row.seq > expected
          ? {
              kind: 'missing',
              seq: expected,
              event: null,
              what:
                `no event at seq ${expected}: ${before} is followed by ${describe(row)}; ` +
                `${row.seq - expected} event(s) deleted`,
            }
          : {
              kind: 'missing',
              seq: row.seq,
              event,
              what: `seq ${row.seq} comes after ${before}: the rows are not in chain order`,
            },
      );
    }
    if (head && row.seq > head.seq) {
      return broken({
        kind: 'beyond_head',
        seq: row.seq,
        event,
        what:
          `the recorded chain head is seq ${head.seq}, so this event was stored without ` +
          'going through the event journal (inserted)',
      });
    }
    if (row.hash === null || row.prevHash === null || !HEX64.test(row.hash)) {
      return broken({
        kind: 'changed',
        seq: row.seq,
        event,
        what: 'it has a place in the chain but no valid hash',
      });
    }
    const fieldsOk = hashOf(row.prevHash, row) === row.hash;
    const linkOk = row.prevHash === prevHash;
    if (!fieldsOk || !linkOk) {
      if (row.seq === 1 && fieldsOk) {
        const recorded = head?.unchainedEvents;
        const counted =
          recorded !== undefined && chainStart(siteId, recorded) === row.prevHash
            ? `the chain began after ${recorded} event(s) without a place in it, and ` +
              `there are now ${opts.unchainedEvents}: `
            : '';
        return broken({
          kind: 'start',
          seq: 1,
          event,
          what:
            `it does not start the chain: ${counted}events were added to or removed from the ` +
            'table outside the chain',
        });
      }
      const before = prev ? describe(prev) : 'the chain start';
      return broken(
        !linkOk && fieldsOk
          ? {
              kind: 'unlinked',
              seq: row.seq,
              event,
              what:
                `it does not follow ${before}: its prev_hash is another event's hash; an ` +
                'event was inserted before it, or the one before it replaced',
            }
          : linkOk
            ? {
                kind: 'changed',
                seq: row.seq,
                event,
                what:
                  'its stored fields do not match its hash: the event was changed after it ' +
                  'was written',
              }
            : {
                kind: 'moved',
                seq: row.seq,
                event,
                what:
                  `neither its fields nor its link match (after ${before}): the event was ` +
                  'moved here from another place in the chain (reordered), or forged',
              },
      );
    }
    if (anchor && row.seq === anchor.seq) {
      anchorSeen = true;
      if (row.hash !== anchor.hash) {
        return broken({
          kind: 'anchor',
          seq: row.seq,
          event,
          what:
            `its hash is ${row.hash}, not the ${anchor.hash} written down earlier: the chain ` +
            'was rewritten up to here',
        });
      }
    }
    first ??= { seq: row.seq, at: row.at };
    events++;
    prev = row;
    prevHash = row.hash;
  }

  const lastSeq = prev?.seq ?? 0;
  if (head === null) {
    if (prev) {
      return broken({
        kind: 'head',
        seq: lastSeq,
        event: { id: prev.id, at: prev.at },
        what: 'the site has chained events but no recorded chain head (audit_chain_heads)',
      });
    }
  } else if (head.seq > lastSeq) {
    return broken({
      kind: 'truncated',
      seq: lastSeq + 1,
      event: null,
      what:
        `the chain ends at seq ${lastSeq} but its recorded head is seq ${head.seq}: ` +
        `${head.seq - lastSeq} event(s) deleted from the end`,
    });
  } else if (head.hash !== prevHash) {
    return broken({
      kind: 'head',
      seq: lastSeq,
      event: prev ? { id: prev.id, at: prev.at } : null,
      what: `the recorded chain head's hash ${head.hash} is not this event's hash ${prevHash}`,
    });
  }
  if (anchor && !anchorSeen) {
    return broken({
      kind: 'anchor',
      seq: anchor.seq,
      event: null,
      what: `the chain ends at seq ${lastSeq}, before the anchor written down at seq ${anchor.seq}`,
    });
  }
  return {
    ok: true,
    siteId,
    events,
    headHash: prevHash,
    headSeq: lastSeq,
    first,
    unchainedEvents: opts.unchainedEvents,
  };
}

/** One line for people: `ok: N events, chain head H (…)` or `BROKEN at seq S (…): what (…)`. */
export function formatVerdict(v: ChainVerdict): string {
  if (v.ok) {
    const from = v.first
      ? `chain starts at seq ${v.first.seq}, ${v.first.at.toISOString()}`
      : 'no chained events yet';
    const before =
      v.unchainedEvents > 0
        ? `; ${v.unchainedEvents} earlier event(s) from before the chain are not covered`
        : '';
    return `ok: ${v.events} events, chain head ${v.headHash} (site ${v.siteId}, ${from}${before})`;
  }
  const b = v.break;
  const where = b.event ? `event ${b.event.id}, ${b.event.at.toISOString()}` : 'no event';
  return `BROKEN at seq ${b.seq} (${where}): ${b.what} (site ${v.siteId})`;
}

// ------------------------------------------------------------------------------------------------
// Reading chains from the database

const chainColumns = {
  seq: accessEvents.seq,
  prevHash: accessEvents.prevHash,
  hash: accessEvents.hash,
  id: accessEvents.id,
  siteId: accessEvents.siteId,
  at: accessEvents.at,
  type: accessEvents.type,
  doorId: accessEvents.doorId,
  readerId: accessEvents.readerId,
  decision: accessEvents.decision,
  reason: accessEvents.reason,
  residentId: accessEvents.residentId,
  staffId: accessEvents.staffId,
  credentialId: accessEvents.credentialId,
  carrierCodeId: accessEvents.carrierCodeId,
  packageId: accessEvents.packageId,
  cameraId: accessEvents.cameraId,
  details: accessEvents.details,
};

export interface ReadChainOptions {
  /** Events per query. Default 5,000. */
  pageSize?: number;
  /** Called before each page after the first with the events read so far (progress). */
  onPage?: (eventsRead: number) => void;
}

/**
 * A site's chained events in seq order, `pageSize` at a time (keyset on (site_id, seq), the
 * unique index), so a chain of millions never sits in memory.
 */
export async function* readChainRows(
  db: Db,
  siteId: string,
  opts: ReadChainOptions = {},
): AsyncGenerator<ChainRow> {
  const pageSize = Math.max(1, Math.floor(opts.pageSize ?? 5_000));
  let after = 0;
  let read = 0;
  for (;;) {
    if (read > 0) opts.onPage?.(read);
    const page = await db
      .select(chainColumns)
      .from(accessEvents)
      .where(and(eq(accessEvents.siteId, siteId), gt(accessEvents.seq, after)))
      .orderBy(asc(accessEvents.seq))
      .limit(pageSize);
    for (const row of page) {
      // gt(seq) excludes NULL seqs; the check keeps the type honest.
      if (row.seq === null) continue;
      yield { ...row, seq: row.seq };
    }
    read += page.length;
    const last = page[page.length - 1];
    if (page.length < pageSize || !last?.seq) return;
    after = last.seq;
  }
}

/** The recorded head of a site's chain, or null when the site has none yet. */
export async function readChainHead(db: Db, siteId: string): Promise<ChainHead | null> {
  const [head] = await db
    .select({
      seq: auditChainHeads.seq,
      hash: auditChainHeads.hash,
      unchainedEvents: auditChainHeads.unchainedEvents,
    })
    .from(auditChainHeads)
    .where(eq(auditChainHeads.siteId, siteId));
  return head ?? null;
}

/** How many of the site's events have no place in its chain (stored before it began). */
export async function countUnchainedEvents(db: Db, siteId: string): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(accessEvents)
    .where(and(eq(accessEvents.siteId, siteId), isNull(accessEvents.seq)));
  return row?.n ?? 0;
}

/** Every site the database knows, in id order. */
export async function listChainSites(db: Db): Promise<string[]> {
  const rows = await db.select({ id: sites.id }).from(sites).orderBy(asc(sites.id));
  return rows.map((r) => r.id);
}

/**
 * Verifies one site's chain from the database. Head, count and rows are read in one read-only
 * REPEATABLE READ transaction: events the server appends meanwhile (PostgreSQL) are neither
 * half-seen nor mistaken for events stored behind the journal's back.
 */
export async function verifySiteChain(
  db: Db,
  siteId: string,
  opts: ReadChainOptions & { anchor?: ChainAnchor } = {},
): Promise<ChainVerdict> {
  return db.transaction(
    async (tx) => {
      const head = await readChainHead(tx, siteId);
      const unchainedEvents = await countUnchainedEvents(tx, siteId);
      return verifyChain(readChainRows(tx, siteId, opts), {
        siteId,
        unchainedEvents,
        head,
        ...(opts.anchor ? { anchor: opts.anchor } : {}),
      });
    },
    { isolationLevel: 'repeatable read', accessMode: 'read only' },
  );
}
