/**
 * Tells the building's other systems about a new flag: a JSON POST to the site's webhook
 * (`notifications.webhook`, the same receiver and secret as the parcel notices), signed exactly
 * like them (`X-Parcelroom-Signature`, see webhook.channel.ts) and told apart by
 * `X-Parcelroom-Event: flag.raised` and the body's `type`.
 *
 * A guard's phone or a property-management system may be briefly unreachable; each flag is
 * retried on a fixed backoff (by default 5 s, 30 s, 2 min, 10 min) and then given up with one
 * error in the log; the flag itself stays in the database and the console either way. The `id`
 * is the flag's, the same on every attempt, so a receiver can drop repeats. Each attempt is
 * signed afresh: receivers reject signatures older than a few minutes.
 */
import type { Clock, TimerHandle } from '../../hardware/clock.ts';
import type { Logger } from '../log/logger.ts';
import { EVENT_HEADER, SIGNATURE_HEADER, signWebhook } from '../notify/webhook.channel.ts';
import type { FlagView } from '../routes/flags.routes.ts';

export const FLAG_WEBHOOK_EVENT = 'flag.raised';

export interface FlagWebhookPayload {
  type: typeof FLAG_WEBHOOK_EVENT;
  /** The flag's id: the same on every retry, so receivers de-duplicate on it. */
  id: string;
  /** When the rule raised the flag (ISO 8601, UTC). */
  at: string;
  site: { id: string; name: string };
  flag: FlagView;
}

/** One HTTP POST; resolves on a 2xx answer, rejects with a readable reason otherwise. */
export type WebhookPost = (
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
) => Promise<void>;

/** The target without query or credentials: gateway URLs carry keys, and this text is logged. */
function safeTarget(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return 'webhook';
  }
}

export const fetchWebhookPost: WebhookPost = async (url, body, headers, timeoutMs) => {
  const target = safeTarget(url);
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers,
      body,
      // A redirect would hand the signed flag to wherever Location points.
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    const why =
      err instanceof Error && err.name === 'TimeoutError'
        ? `no response within ${timeoutMs} ms`
        : cause instanceof Error
          ? cause.message
          : err instanceof Error
            ? err.message
            : String(err);
    throw new Error(`webhook ${target}: ${why}`, { cause: err });
  }
  await res.body?.cancel().catch(() => {});
  if (res.status < 200 || res.status >= 300) {
    throw new Error(`webhook ${target}: HTTP ${res.status}`);
  }
};

export interface FlagNotifierOptions {
  /** The site's webhook; undefined: flags go to the console only. */
  webhook: { url: string; secret: string } | undefined;
  site: { id: string; name: string };
  /** Paces retries. */
  clock: Clock;
  log: Logger;
  /** Wait before attempt 2, 3, ...; attempts = length + 1. */
  retryDelaysMs?: readonly number[];
  timeoutMs?: number;
  /** Deliveries waiting or running at most; beyond, the oldest waiting one is given up. */
  maxPending?: number;
  /** Wall clock for the signature timestamp: receivers compare it with their real time. */
  now?: () => number;
  post?: WebhookPost;
}

export interface FlagDeliveryFailure {
  flagId: string;
  attempts: number;
  failedAt: number;
  error: string;
}

export interface FlagNotifier {
  /** Starts delivery of a new flag; returns at once. */
  raised(flag: FlagView): void;
  /** Deliveries sending or waiting for a retry. */
  pending(): number;
  /** Deliveries given up on, oldest first (the last 100). */
  failures(): FlagDeliveryFailure[];
  /** Resolves once no send is running (retry timers may remain). */
  settled(): Promise<void>;
  /** Cancels retries and waits for sends under way. */
  close(): Promise<void>;
}

export const DEFAULT_FLAG_RETRY_DELAYS_MS: readonly number[] = [5_000, 30_000, 120_000, 600_000];

interface Delivery {
  flagId: string;
  body: string;
  attempts: number;
  timer: TimerHandle | undefined;
}

export function createFlagNotifier(opts: FlagNotifierOptions): FlagNotifier {
  const { clock, log, webhook } = opts;
  const delays = [...(opts.retryDelaysMs ?? DEFAULT_FLAG_RETRY_DELAYS_MS)];
  for (const d of delays)
    if (!Number.isFinite(d) || d < 0) throw new Error(`invalid flag webhook retry delay: ${d}`);
  if (webhook && !webhook.secret) throw new Error('webhook secret must not be empty');
  const post = opts.post ?? fetchWebhookPost;
  const now = opts.now ?? Date.now;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const maxPending = Math.max(1, opts.maxPending ?? 500);
  const target = webhook ? safeTarget(webhook.url) : '';

  const deliveries = new Map<string, Delivery>();
  const inFlight = new Set<Promise<void>>();
  const failed: FlagDeliveryFailure[] = [];
  let closed = false;

  const giveUp = (d: Delivery, error: string) => {
    deliveries.delete(d.flagId);
    if (d.timer) clock.clearTimeout(d.timer);
    failed.push({ flagId: d.flagId, attempts: d.attempts, failedAt: clock.now(), error });
    if (failed.length > 100) failed.splice(0, failed.length - 100);
    log.error('flag webhook failed, giving up', {
      flagId: d.flagId,
      attempts: d.attempts,
      target,
      error,
    });
  };

  const attempt = async (d: Delivery): Promise<void> => {
    d.timer = undefined;
    const n = ++d.attempts;
    const headers = {
      'Content-Type': 'application/json',
      [EVENT_HEADER]: FLAG_WEBHOOK_EVENT,
      [SIGNATURE_HEADER]: signWebhook(webhook!.secret, d.body, Math.floor(now() / 1000)),
      'User-Agent': 'Parcelroom-Webhook/1',
    };
    try {
      await post(webhook!.url, d.body, headers, timeoutMs);
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err);
      const wait = delays[n - 1];
      if (wait === undefined || closed) {
        giveUp(d, error);
        return;
      }
      log.warn('flag webhook attempt failed, will retry', {
        flagId: d.flagId,
        attempt: n,
        error,
        retryInMs: wait,
      });
      d.timer = clock.setTimeout(() => start(d), wait);
      return;
    }
    deliveries.delete(d.flagId);
    log.info('flag webhook delivered', { flagId: d.flagId, attempt: n });
  };

  const start = (d: Delivery) => {
    if (closed) return;
    const p: Promise<void> = attempt(d)
      .catch((err: unknown) => log.error('flag webhook attempt crashed', { flagId: d.flagId, err }))
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };

  const settled = async () => {
    while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
  };

  return {
    raised(flag) {
      if (!webhook) return;
      if (closed) {
        log.warn('flag notifier is closed; webhook not sent', { flagId: flag.id });
        return;
      }
      if (deliveries.has(flag.id)) return;
      if (deliveries.size >= maxPending) {
        // A receiver down for hours must not grow memory without end: the oldest waiting
        // delivery makes room (the flag is in the console regardless).
        const oldest = [...deliveries.values()].find((d) => d.timer !== undefined);
        if (oldest) giveUp(oldest, 'too many flag webhooks waiting for the receiver');
        else {
          log.error('flag webhook not sent: too many deliveries running', { flagId: flag.id });
          return;
        }
      }
      const payload: FlagWebhookPayload = {
        type: FLAG_WEBHOOK_EVENT,
        id: flag.id,
        at: flag.at,
        site: { id: opts.site.id, name: opts.site.name },
        flag,
      };
      const d: Delivery = {
        flagId: flag.id,
        body: JSON.stringify(payload),
        attempts: 0,
        timer: undefined,
      };
      deliveries.set(flag.id, d);
      start(d);
    },
    pending: () => deliveries.size,
    failures: () => failed.map((f) => ({ ...f })),
    settled,
    async close() {
      closed = true;
      for (const d of deliveries.values()) {
        if (d.timer) clock.clearTimeout(d.timer);
        d.timer = undefined;
      }
      await settled();
      deliveries.clear();
    },
  };
}
