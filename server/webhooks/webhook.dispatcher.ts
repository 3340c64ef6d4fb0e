/**
 * Durable delivery of catalogue events to the webhook subscriptions. Every event becomes one
 * `webhook_deliveries` row per subscription that wants it (pending, due now) before anything is
 * sent, so a restart, a crash or a receiver down for hours loses nothing: the rows wait and the
 * next start picks them up. Each attempt is signed afresh (receivers refuse old timestamps),
 * counted on the row with its HTTP status or error, and retried on a growing backoff; after the
 * last retry the row is marked failed and stays in the delivery log, where staff can send it
 * again.
 */
import { and, asc, eq, isNull, lte, or, sql } from 'drizzle-orm';
import type { AccessEvent } from '../../access/index.ts';
import { newId, webhookDeliveries, webhookSubscriptions, type Db } from '../../db/index.ts';
import type { Clock, TimerHandle } from '../../hardware/clock.ts';
import type { Logger } from '../log/logger.ts';
import { EVENT_HEADER, SIGNATURE_HEADER, signWebhook } from '../notify/webhook.channel.ts';
import type { FlagView } from '../routes/flags.routes.ts';
import { flagRaised, fromAccessEvent, type WebhookEvent, type WebhookSite } from './catalogue.ts';

export const EVENT_ID_HEADER = 'X-Parcelroom-Event-Id';
export const DELIVERY_HEADER = 'X-Parcelroom-Delivery';
export const ATTEMPT_HEADER = 'X-Parcelroom-Attempt';

/** The answer to one POST: a status code, or why there was none. */
export type PostOutcome = { status: number } | { error: string };

export type SignedPost = (
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
) => Promise<PostOutcome>;

/** The target without query or credentials: the error text is stored and shown to staff. */
export function safeTarget(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return 'webhook';
  }
}

export const fetchSignedPost: SignedPost = async (url, body, headers, timeoutMs) => {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers,
      body,
      // A redirect would hand the signed event to wherever Location points.
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    await res.body?.cancel().catch(() => {});
    return { status: res.status };
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    const code = (cause as { code?: unknown } | undefined)?.code;
    const why =
      err instanceof Error && err.name === 'TimeoutError'
        ? `no response within ${timeoutMs} ms`
        : cause instanceof Error
          ? typeof code === 'string' && !cause.message.includes(code)
            ? `${cause.message} (${code})`
            : cause.message
          : err instanceof Error
            ? err.message
            : String(err);
    return { error: `${safeTarget(url)}: ${why}` };
  }
};

/** Wait before attempt 2, 3, …: 7 attempts over about 9 hours by default. */
export const DEFAULT_WEBHOOK_RETRY_DELAYS_MS: readonly number[] = [
  10_000, 60_000, 300_000, 1_800_000, 7_200_000, 21_600_000,
];

export interface WebhookDispatcherOptions {
  db: Db;
  site: WebhookSite;
  /** Paces attempts and stamps the rows (an I/O clock: the system clock in production). */
  clock: Clock;
  log: Logger;
  /** Wall clock for the signature timestamp: receivers compare it with their real time. */
  now?: () => number;
  post?: SignedPost;
  retryDelaysMs?: readonly number[];
  timeoutMs?: number;
  /** Attempts running at once. */
  concurrency?: number;
  /** Longest sleep between looks at the table (rows due are normally woken for directly). */
  pollMs?: number;
}

export interface WebhookDispatcher {
  /** Stores one pending delivery per subscription that wants the event; resolves when stored. */
  publish(event: WebhookEvent): Promise<number>;
  /** From the journal: catalogue events among the stored access events. Never throws. */
  onAccessEvent(event: AccessEvent): void;
  onFlagRaised(flag: FlagView): void;
  /**
   * Sends a delivery again now. A failed one gets this one more attempt (the count goes on, so
   * the log shows every attempt); a pending one is simply sent sooner.
   */
  retry(deliveryId: string): Promise<boolean>;
  /** Picks up pending rows (those left by a previous run too) and starts the loop. */
  start(): Promise<void>;
  /** One pass over what is due now; resolves with the attempts made. */
  runDue(): Promise<number>;
  /** Resolves when nothing is being stored or sent (tests). */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export function createWebhookDispatcher(o: WebhookDispatcherOptions): WebhookDispatcher {
  const { db, clock, log } = o;
  const siteId = o.site.id;
  const delays = [...(o.retryDelaysMs ?? DEFAULT_WEBHOOK_RETRY_DELAYS_MS)];
  for (const d of delays)
    if (!Number.isFinite(d) || d < 0) throw new Error(`invalid webhook retry delay: ${d}`);
  const maxAttempts = delays.length + 1;
  const post = o.post ?? fetchSignedPost;
  const now = o.now ?? Date.now;
  const timeoutMs = o.timeoutMs ?? 10_000;
  const concurrency = Math.max(1, o.concurrency ?? 4);
  const pollMs = o.pollMs ?? 60_000;

  let closed = false;
  let started = false;
  let timer: TimerHandle | undefined;
  let timerDue = Infinity;
  let pass: Promise<number> | undefined;
  let again = false;
  /** Events not yet stored because the database was away: stored on the next pass. */
  const backlog: WebhookEvent[] = [];
  const storing = new Set<Promise<unknown>>();

  const publish = async (event: WebhookEvent): Promise<number> => {
    const subs = await db
      .select({ id: webhookSubscriptions.id, events: webhookSubscriptions.events })
      .from(webhookSubscriptions)
      .where(and(eq(webhookSubscriptions.siteId, siteId), eq(webhookSubscriptions.active, true)));
    const wanted = subs.filter((s) => s.events.length === 0 || s.events.includes(event.type));
    if (wanted.length === 0) return 0;
    const at = new Date(clock.now());
    const rows = await db
      .insert(webhookDeliveries)
      .values(
        wanted.map((s) => ({
          id: newId(at.getTime()),
          siteId,
          subscriptionId: s.id,
          eventType: event.type,
          eventId: event.id,
          payload: event,
          status: 'pending' as const,
          createdAt: at,
          nextAttemptAt: at,
        })),
      )
      // The same event twice (a journal replay) is one delivery.
      .onConflictDoNothing()
      .returning({ id: webhookDeliveries.id });
    if (rows.length) wake(0);
    return rows.length;
  };

  const enqueue = (event: WebhookEvent | null) => {
    if (!event || closed) return;
    const p = publish(event)
      .catch((err: unknown) => {
        if (backlog.length < 10_000) backlog.push(event);
        log.warn('webhook event not stored yet; will retry', { eventId: event.id, err });
        wake(Math.min(pollMs, 5_000));
      })
      .finally(() => storing.delete(p));
    storing.add(p);
  };

  const attempt = async (row: {
    id: string;
    attempts: number;
    eventType: string;
    eventId: string;
    payload: unknown;
    url: string | null;
    secret: string | null;
    active: boolean | null;
  }) => {
    const n = row.attempts + 1;
    if (!row.url || !row.secret || !row.active) {
      await db
        .update(webhookDeliveries)
        .set({ status: 'failed', lastError: 'the subscription was deleted', nextAttemptAt: null })
        .where(eq(webhookDeliveries.id, row.id));
      return;
    }
    const body = JSON.stringify(row.payload);
    const outcome = await post(
      row.url,
      body,
      {
        'Content-Type': 'application/json',
        'User-Agent': 'Parcelroom-Webhook/1',
        [EVENT_HEADER]: row.eventType,
        [EVENT_ID_HEADER]: row.eventId,
        [DELIVERY_HEADER]: row.id,
        [ATTEMPT_HEADER]: String(n),
        [SIGNATURE_HEADER]: signWebhook(row.secret, body, Math.floor(now() / 1000)),
      },
      timeoutMs,
    );
    const at = clock.now();
    const ok = 'status' in outcome && outcome.status >= 200 && outcome.status < 300;
    const statusCode = 'status' in outcome ? outcome.status : null;
    const error = ok
      ? null
      : 'error' in outcome
        ? outcome.error
        : `${safeTarget(row.url)}: HTTP ${outcome.status}`;
    const wait = delays[n - 1];
    await db
      .update(webhookDeliveries)
      .set({
        attempts: n,
        lastStatusCode: statusCode,
        lastError: error,
        ...(ok
          ? { status: 'delivered' as const, deliveredAt: new Date(at), nextAttemptAt: null }
          : wait === undefined || n >= maxAttempts
            ? { status: 'failed' as const, nextAttemptAt: null }
            : { nextAttemptAt: new Date(at + wait) }),
      })
      .where(eq(webhookDeliveries.id, row.id));
    if (ok) log.debug('webhook delivered', { deliveryId: row.id, attempt: n });
    else if (wait === undefined || n >= maxAttempts)
      log.error('webhook delivery failed, giving up', {
        deliveryId: row.id,
        eventId: row.eventId,
        attempts: n,
        error,
      });
    else log.warn('webhook attempt failed, will retry', { deliveryId: row.id, attempt: n, error });
  };

  const onePass = async (): Promise<number> => {
    // Events the database refused earlier go first, in their order.
    while (backlog.length) {
      const event = backlog[0]!;
      await publish(event);
      backlog.shift();
    }
    let made = 0;
    for (;;) {
      const due = await db
        .select({
          id: webhookDeliveries.id,
          attempts: webhookDeliveries.attempts,
          eventType: webhookDeliveries.eventType,
          eventId: webhookDeliveries.eventId,
          payload: webhookDeliveries.payload,
          url: webhookSubscriptions.url,
          secret: webhookSubscriptions.secret,
          active: webhookSubscriptions.active,
        })
        .from(webhookDeliveries)
        .leftJoin(
          webhookSubscriptions,
          eq(webhookSubscriptions.id, webhookDeliveries.subscriptionId),
        )
        .where(
          and(
            eq(webhookDeliveries.siteId, siteId),
            eq(webhookDeliveries.status, 'pending'),
            or(
              isNull(webhookDeliveries.nextAttemptAt),
              lte(webhookDeliveries.nextAttemptAt, new Date(clock.now())),
            ),
          ),
        )
        .orderBy(asc(webhookDeliveries.nextAttemptAt), asc(webhookDeliveries.createdAt))
        .limit(concurrency * 4);
      if (due.length === 0 || closed) return made;
      for (let i = 0; i < due.length && !closed; i += concurrency) {
        await Promise.all(due.slice(i, i + concurrency).map((r) => attempt(r)));
        made += Math.min(concurrency, due.length - i);
      }
    }
  };

  const nextDue = async (): Promise<number | null> => {
    const [row] = await db
      .select({ at: sql<Date | string | null>`min(${webhookDeliveries.nextAttemptAt})` })
      .from(webhookDeliveries)
      .where(and(eq(webhookDeliveries.siteId, siteId), eq(webhookDeliveries.status, 'pending')));
    if (!row?.at) return null;
    return new Date(row.at).getTime();
  };

  const runDue = (): Promise<number> => {
    if (pass) {
      again = true;
      return pass;
    }
    pass = (async () => {
      let total = 0;
      try {
        do {
          again = false;
          total += await onePass();
        } while (again && !closed);
      } catch (err) {
        log.warn('webhook pass failed; will look again', { err });
        wake(Math.min(pollMs, 5_000));
        return total;
      } finally {
        pass = undefined;
      }
      if (started && !closed) {
        const due = await nextDue().catch(() => null);
        wake(due === null ? pollMs : Math.max(0, Math.min(pollMs, due - clock.now())));
      }
      return total;
    })();
    return pass;
  };

  /** Makes sure a pass runs within `ms` (a sooner request replaces a later timer). */
  function wake(ms: number) {
    if (closed || !started) return;
    if (pass) {
      if (ms === 0) again = true;
      else if (timer === undefined || clock.now() + ms < timerDue) arm(ms);
      return;
    }
    if (timer !== undefined && clock.now() + ms >= timerDue) return;
    arm(ms);
  }

  function arm(ms: number) {
    if (timer !== undefined) clock.clearTimeout(timer);
    timerDue = clock.now() + ms;
    timer = clock.setTimeout(() => {
      timer = undefined;
      timerDue = Infinity;
      void runDue();
    }, ms);
  }

  return {
    publish,
    onAccessEvent(e) {
      let event: WebhookEvent | null = null;
      try {
        event = fromAccessEvent(e, o.site);
      } catch (err) {
        log.warn('webhook: could not read an access event', { eventId: e.id, err });
      }
      enqueue(event);
    },
    onFlagRaised(flag) {
      enqueue(flagRaised(flag, o.site));
    },
    async retry(id) {
      const at = new Date(clock.now());
      const rows = await db
        .update(webhookDeliveries)
        .set({ status: 'pending', nextAttemptAt: at })
        .where(and(eq(webhookDeliveries.id, id), eq(webhookDeliveries.siteId, siteId)))
        .returning({ id: webhookDeliveries.id });
      if (rows.length === 0) return false;
      wake(0);
      return true;
    },
    async start() {
      if (started) return;
      started = true;
      wake(0);
    },
    runDue,
    async idle() {
      for (;;) {
        if (storing.size) await Promise.allSettled([...storing]);
        if (pass) await pass;
        if (!storing.size && !pass) return;
      }
    },
    async close() {
      closed = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
      await Promise.allSettled([...storing]);
      if (pass) await pass.catch(() => 0);
    },
  };
}
