import { and, desc, eq, gte, inArray, lt, lte, or, type SQL } from 'drizzle-orm';
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import type { AccessEvent } from '../../access/index.ts';
import { accessEvents, clips, type AccessEventRow, type Db } from '../../db/index.ts';
import type { ClipLinker } from '../cameras/clip.service.ts';
import { requirePermission } from '../http/auth.middleware.ts';
import type { AppEnv } from '../http/context.ts';
import { decodeCursor, encodeCursor } from '../http/cursor.ts';
import { readQuery } from '../http/errors.ts';
import type { FlagView } from './flags.routes.ts';

/** The contract's event shape, from a stored row or a live event. */
export interface EventView {
  id: string;
  at: string;
  type: string;
  doorId: string | null;
  readerId?: string;
  decision?: 'granted' | 'denied';
  reason?: string;
  residentId?: string;
  staffId?: string;
  credentialId?: string;
  carrierCodeId?: string;
  packageId?: string;
  details: Record<string, unknown>;
  /** The event's clip (video/mp4, Range) and its poster, when a camera can show it. */
  clipUrl?: string;
  snapshotUrl?: string;
  /** Where the clip stands once someone has asked for it; why there is no video, if so. */
  clipStatus?: 'pending' | 'ready' | 'missing';
  clipMissingReason?: string;
}

/** A clip's stored state, from the `clips` row of the event's default camera. */
export interface EventClipState {
  status: 'pending' | 'ready' | 'missing';
  missingReason: string | null;
}

export function eventView(
  e: AccessEvent | AccessEventRow,
  opts: { clipLinks?: ClipLinker | undefined; clip?: EventClipState | undefined } = {},
): EventView {
  const at = typeof e.at === 'number' ? new Date(e.at) : e.at;
  const opt = <K extends string>(k: K, v: string | null | undefined) =>
    v === null || v === undefined ? {} : ({ [k]: v } as Record<K, string>);
  return {
    id: e.id,
    at: at.toISOString(),
    type: e.type,
    doorId: e.doorId ?? null,
    ...opt('readerId', e.readerId),
    ...(e.decision ? { decision: e.decision } : {}),
    ...opt('reason', e.reason),
    ...opt('residentId', e.residentId),
    ...opt('staffId', e.staffId),
    ...opt('credentialId', e.credentialId),
    ...opt('carrierCodeId', e.carrierCodeId),
    ...opt('packageId', e.packageId),
    details: (e.details ?? {}) as Record<string, unknown>,
    ...clipFields(e, opts),
  };
}

function clipFields(
  e: AccessEvent | AccessEventRow,
  opts: { clipLinks?: ClipLinker | undefined; clip?: EventClipState | undefined },
): Pick<EventView, 'clipUrl' | 'snapshotUrl' | 'clipStatus' | 'clipMissingReason'> {
  const links = opts.clipLinks?.(e);
  if (!links) return {};
  const clip = opts.clip;
  return {
    clipUrl: links.clipUrl,
    snapshotUrl: links.snapshotUrl,
    ...(clip ? { clipStatus: clip.status } : {}),
    ...(clip?.status === 'missing' && clip.missingReason
      ? { clipMissingReason: clip.missingReason }
      : {}),
  };
}

export type LiveMessage =
  | { kind: 'event'; event: EventView }
  | { kind: 'door'; door: unknown }
  /** A vision flag raised or reviewed: the console replaces its copy by id. */
  | { kind: 'flag'; flag: FlagView };

/** What an SSE message of each kind carries as its data. */
function liveData(m: LiveMessage): unknown {
  switch (m.kind) {
    case 'event':
      return m.event;
    case 'door':
      return m.door;
    case 'flag':
      return m.flag;
  }
}

export interface LiveFeed {
  subscribe(listener: (m: LiveMessage) => void): () => void;
}

const isoTime = z.iso.datetime({ offset: true });
const listQuery = z.strictObject({
  doorId: z.string().max(64).optional(),
  type: z.string().max(40).optional(),
  from: isoTime.optional(),
  to: isoTime.optional(),
  residentId: z.string().max(64).optional(),
  carrierCodeId: z.string().max(64).optional(),
  decision: z.enum(['granted', 'denied']).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
});

export function eventRoutes(deps: {
  db: Db;
  siteId: string;
  live: LiveFeed;
  heartbeatMs?: number;
  /** How often an open stream re-checks the caller's session or token. */
  recheckMs?: number;
  /** Messages a slow client may have waiting before its stream is closed. */
  maxQueue?: number;
  /** Which events link to a clip (createClipLinker); without it, no clip links. */
  clipLinks?: ClipLinker;
}) {
  const app = new Hono<AppEnv>();

  /** Stored clip states of the linked events of a page, by `<event id>/<camera id>`. */
  const clipStatesOf = async (page: AccessEventRow[]) => {
    const states = new Map<string, EventClipState>();
    const linked = deps.clipLinks ? page.filter((e) => deps.clipLinks!(e)).map((e) => e.id) : [];
    if (linked.length === 0) return states;
    const rows = await deps.db
      .select({
        eventId: clips.eventId,
        cameraId: clips.cameraId,
        status: clips.status,
        missingReason: clips.missingReason,
      })
      .from(clips)
      .where(and(eq(clips.siteId, deps.siteId), inArray(clips.eventId, linked)));
    for (const r of rows) {
      states.set(`${r.eventId}/${r.cameraId}`, {
        status: r.status,
        missingReason: r.missingReason,
      });
    }
    return states;
  };

  app.get('/events', requirePermission('events:read'), async (c) => {
    const q = readQuery(c, listQuery);
    const where: SQL[] = [eq(accessEvents.siteId, deps.siteId)];
    if (q.doorId) where.push(eq(accessEvents.doorId, q.doorId));
    if (q.type) where.push(eq(accessEvents.type, q.type));
    if (q.residentId) where.push(eq(accessEvents.residentId, q.residentId));
    if (q.carrierCodeId) where.push(eq(accessEvents.carrierCodeId, q.carrierCodeId));
    if (q.decision) where.push(eq(accessEvents.decision, q.decision));
    if (q.from) where.push(gte(accessEvents.at, new Date(q.from)));
    if (q.to) where.push(lte(accessEvents.at, new Date(q.to)));
    if (q.cursor) {
      const { at, id } = decodeCursor(q.cursor);
      where.push(
        or(lt(accessEvents.at, at), and(eq(accessEvents.at, at), lt(accessEvents.id, id)))!,
      );
    }
    const rows = await deps.db
      .select()
      .from(accessEvents)
      .where(and(...where))
      .orderBy(desc(accessEvents.at), desc(accessEvents.id))
      .limit(q.limit + 1);
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    const clipStates = await clipStatesOf(page);
    return c.json({
      items: page.map((e) =>
        eventView(e, {
          clipLinks: deps.clipLinks,
          clip: clipStates.get(`${e.id}/${deps.clipLinks?.(e)?.cameraId ?? ''}`),
        }),
      ),
      ...(rows.length > q.limit && last ? { nextCursor: encodeCursor(last) } : {}),
    });
  });

  // Live stream for the console: access events as they happen and door status changes. The
  // caller's session or token is checked again while the stream is open, so signing out, a
  // disabled account or a revoked token ends it within `recheckMs`.
  app.get('/events/stream', requirePermission('events:read'), (c) => {
    const stillAllowed = c.get('recheckAuth');
    return streamSSE(c, async (stream) => {
      const queue: LiveMessage[] = [];
      let overflowed = false;
      let wake: (() => void) | undefined;
      const unsubscribe = deps.live.subscribe((m) => {
        // A client that stopped reading must not grow our memory: drop it; the console reloads
        // the recent events with a GET when it reconnects.
        if (queue.length >= (deps.maxQueue ?? 1000)) overflowed = true;
        else queue.push(m);
        wake?.();
      });
      stream.onAbort(() => {
        unsubscribe();
        wake?.();
      });
      let checkedAt = Date.now();
      const recheckMs = deps.recheckMs ?? 5_000;
      try {
        await stream.writeSSE({ event: 'hello', data: '{}' });
        while (!stream.aborted && !stream.closed && !overflowed) {
          if (Date.now() - checkedAt >= recheckMs) {
            if (!(await stillAllowed())) break;
            checkedAt = Date.now();
          }
          const next = queue.shift();
          if (next) {
            await stream.writeSSE({
              event: next.kind,
              data: JSON.stringify(liveData(next)),
            });
            continue;
          }
          let timer: NodeJS.Timeout | undefined;
          await new Promise<void>((resolve) => {
            wake = resolve;
            timer = setTimeout(resolve, Math.min(deps.heartbeatMs ?? 15_000, recheckMs));
            timer.unref();
          });
          clearTimeout(timer);
          wake = undefined;
          if (queue.length === 0 && !stream.aborted)
            await stream.writeSSE({ event: 'ping', data: '{}' });
        }
      } finally {
        unsubscribe();
      }
    });
  });

  return app;
}
