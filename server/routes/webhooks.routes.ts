import { and, desc, eq, lt, or } from 'drizzle-orm';
import { Hono } from 'hono';
import { z } from 'zod';
import { newId, webhookDeliveries, webhookSubscriptions, type Db } from '../../db/index.ts';
import type { Clock } from '../../hardware/clock.ts';
import { newSecret } from '../auth/secret.tokens.ts';
import { requirePermission } from '../http/auth.middleware.ts';
import type { AppEnv } from '../http/context.ts';
import { decodeCursor, encodeCursor } from '../http/cursor.ts';
import { ApiError, notFound, readBody, readQuery } from '../http/errors.ts';
import { catalogue, WEBHOOK_EVENT_TYPES, type WebhookSite } from '../webhooks/catalogue.ts';
import type { WebhookDispatcher } from '../webhooks/webhook.dispatcher.ts';

const webhookUrl = z
  .string()
  .trim()
  .max(2000)
  .refine((raw) => {
    try {
      const u = new URL(raw);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch {
      return false;
    }
  }, 'an http:// or https:// URL')
  .refine((raw) => {
    try {
      const u = new URL(raw);
      return u.username === '' && u.password === '';
    } catch {
      return true;
    }
    // Credentials in a URL end up in logs and screens; the signature is what proves the sender.
  }, 'no user name or password in the URL: receivers check the signature instead');

const subscriptionBody = z.strictObject({
  url: webhookUrl,
  events: z
    .array(z.enum(WEBHOOK_EVENT_TYPES))
    .max(WEBHOOK_EVENT_TYPES.length)
    .refine((e) => new Set(e).size === e.length, 'an event type is listed twice')
    .optional(),
  description: z.string().trim().max(200).optional(),
});

const deliveriesQuery = z.strictObject({
  subscriptionId: z.string().max(64).optional(),
  status: z.enum(['pending', 'delivered', 'failed']).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
  cursor: z.string().max(200).optional(),
});

/** The URL as staff see it: a query string may carry the receiver's key, so its values go. */
function shownUrl(raw: string): string {
  try {
    const u = new URL(raw);
    for (const k of [...u.searchParams.keys()]) u.searchParams.set(k, '…');
    return u.toString();
  } catch {
    return raw;
  }
}

export function webhookRoutes(deps: {
  db: Db;
  site: WebhookSite;
  clock: Clock;
  webhooks: WebhookDispatcher;
}) {
  const { db, clock } = deps;
  const siteId = deps.site.id;
  const app = new Hono<AppEnv>();

  app.get('/webhooks/catalogue', requirePermission('webhooks:read'), (c) =>
    c.json({
      signature: {
        header: 'X-Parcelroom-Signature',
        format: 't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" under the secret>',
        otherHeaders: [
          'X-Parcelroom-Event',
          'X-Parcelroom-Event-Id',
          'X-Parcelroom-Delivery',
          'X-Parcelroom-Attempt',
        ],
      },
      events: catalogue(deps.site),
    }),
  );

  app.get('/webhooks', requirePermission('webhooks:read'), async (c) => {
    const rows = await db
      .select()
      .from(webhookSubscriptions)
      .where(and(eq(webhookSubscriptions.siteId, siteId), eq(webhookSubscriptions.active, true)))
      .orderBy(desc(webhookSubscriptions.createdAt));
    return c.json({
      items: rows.map((r) => ({
        id: r.id,
        url: shownUrl(r.url),
        events: r.events,
        description: r.description,
        createdAt: r.createdAt.toISOString(),
      })),
    });
  });

  app.post('/webhooks', requirePermission('webhooks:write'), async (c) => {
    const body = await readBody(c, subscriptionBody);
    const principal = c.get('principal');
    const id = newId(clock.now());
    const secret = newSecret('whsec');
    await db.insert(webhookSubscriptions).values({
      id,
      siteId,
      url: body.url,
      events: body.events ?? [],
      secret,
      description: body.description ?? '',
      createdBy: principal.kind === 'staff' ? principal.staffId : `token:${principal.tokenId}`,
      createdAt: new Date(clock.now()),
    });
    c.set('audit', {
      action: 'webhook.create',
      targetType: 'webhook_subscription',
      targetId: id,
      details: { url: shownUrl(body.url), events: body.events ?? [] },
    });
    // The secret is shown this once; receivers need it to check signatures.
    return c.json({ id, secret }, 201);
  });

  app.delete('/webhooks/:id', requirePermission('webhooks:write'), async (c) => {
    const id = c.req.param('id');
    const updated = await db
      .update(webhookSubscriptions)
      .set({ active: false })
      .where(
        and(
          eq(webhookSubscriptions.id, id),
          eq(webhookSubscriptions.siteId, siteId),
          eq(webhookSubscriptions.active, true),
        ),
      )
      .returning({ id: webhookSubscriptions.id });
    if (updated.length === 0) throw notFound('webhook subscription');
    // Its delivery log stays; what was still waiting is not sent any more.
    await db
      .update(webhookDeliveries)
      .set({ status: 'failed', lastError: 'the subscription was deleted', nextAttemptAt: null })
      .where(
        and(eq(webhookDeliveries.subscriptionId, id), eq(webhookDeliveries.status, 'pending')),
      );
    c.set('audit', { action: 'webhook.delete', targetType: 'webhook_subscription', targetId: id });
    return c.json({ id, deleted: true });
  });

  app.get('/webhooks/deliveries', requirePermission('webhooks:read'), async (c) => {
    const q = readQuery(c, deliveriesQuery);
    const limit = q.limit ?? 100;
    const filters = [eq(webhookDeliveries.siteId, siteId)];
    if (q.subscriptionId) filters.push(eq(webhookDeliveries.subscriptionId, q.subscriptionId));
    if (q.status) filters.push(eq(webhookDeliveries.status, q.status));
    if (q.cursor) {
      const after = decodeCursor(q.cursor);
      filters.push(
        or(
          lt(webhookDeliveries.createdAt, after.at),
          and(eq(webhookDeliveries.createdAt, after.at), lt(webhookDeliveries.id, after.id)),
        )!,
      );
    }
    const rows = await db
      .select()
      .from(webhookDeliveries)
      .where(and(...filters))
      .orderBy(desc(webhookDeliveries.createdAt), desc(webhookDeliveries.id))
      .limit(limit + 1);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return c.json({
      items: page.map((r) => ({
        id: r.id,
        subscriptionId: r.subscriptionId,
        eventType: r.eventType,
        eventId: r.eventId,
        status: r.status,
        attempts: r.attempts,
        lastStatusCode: r.lastStatusCode,
        lastError: r.lastError,
        createdAt: r.createdAt.toISOString(),
        nextAttemptAt: r.nextAttemptAt?.toISOString() ?? null,
        deliveredAt: r.deliveredAt?.toISOString() ?? null,
        payload: r.payload,
      })),
      ...(rows.length > limit && last
        ? { nextCursor: encodeCursor({ at: last.createdAt, id: last.id }) }
        : {}),
    });
  });

  app.post('/webhooks/deliveries/:id/retry', requirePermission('webhooks:write'), async (c) => {
    const id = c.req.param('id');
    const [row] = await db
      .select({ subscriptionActive: webhookSubscriptions.active })
      .from(webhookDeliveries)
      .innerJoin(
        webhookSubscriptions,
        eq(webhookSubscriptions.id, webhookDeliveries.subscriptionId),
      )
      .where(and(eq(webhookDeliveries.id, id), eq(webhookDeliveries.siteId, siteId)));
    if (!row) throw notFound('webhook delivery');
    if (!row.subscriptionActive)
      throw new ApiError(409, 'subscription_deleted', 'its subscription was deleted');
    await deps.webhooks.retry(id);
    c.set('audit', { action: 'webhook.retry', targetType: 'webhook_delivery', targetId: id });
    return c.json({ id, status: 'pending' });
  });

  return app;
}
