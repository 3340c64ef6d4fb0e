// The outbound webhook catalogue: subscriptions, the catalogue of event types, and the delivery
// log with its retry, as the admin's Webhooks page uses them.
import { request, type Fetch } from './api';

import type { WebhookEventType } from '../../../server/webhooks/webhooks.api';

export { WEBHOOK_EVENT_TYPES, type WebhookEventType } from '../../../server/webhooks/webhooks.api';

export interface WebhookSubscription {
  id: string;
  /** Query values are hidden by the server: they may carry the receiver's key. */
  url: string;
  /** Empty: every event type. */
  events: string[];
  description: string;
  createdAt: string;
}

export interface NewWebhook {
  url: string;
  events?: WebhookEventType[];
  description?: string;
}

export interface CatalogueEntry {
  type: string;
  description: string;
  example: unknown;
}

export interface Catalogue {
  signature: { header: string; format: string; otherHeaders: string[] };
  events: CatalogueEntry[];
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface WebhookDelivery {
  id: string;
  subscriptionId: string;
  eventType: string;
  eventId: string;
  status: DeliveryStatus | (string & {});
  attempts: number;
  lastStatusCode: number | null;
  lastError: string | null;
  createdAt: string;
  nextAttemptAt: string | null;
  deliveredAt: string | null;
  payload: unknown;
}

export async function listWebhooks(fetch?: Fetch): Promise<WebhookSubscription[]> {
  return (await request<{ items: WebhookSubscription[] }>('/api/webhooks', { fetch })).items;
}

/** The secret comes back this once. */
export function createWebhook(body: NewWebhook): Promise<{ id: string; secret: string }> {
  return request('/api/webhooks', { method: 'POST', body });
}

export function deleteWebhook(id: string): Promise<unknown> {
  return request(`/api/webhooks/${encodeURIComponent(id)}`, { method: 'DELETE' });
}

export function getCatalogue(fetch?: Fetch): Promise<Catalogue> {
  return request<Catalogue>('/api/webhooks/catalogue', { fetch });
}

export async function listDeliveries(
  filter: { subscriptionId?: string; status?: DeliveryStatus } = {},
  fetch?: Fetch,
): Promise<WebhookDelivery[]> {
  const q = new URLSearchParams();
  if (filter.subscriptionId) q.set('subscriptionId', filter.subscriptionId);
  if (filter.status) q.set('status', filter.status);
  const qs = q.toString();
  return (
    await request<{ items: WebhookDelivery[] }>(`/api/webhooks/deliveries${qs ? `?${qs}` : ''}`, {
      fetch,
    })
  ).items;
}

export function retryDelivery(id: string): Promise<unknown> {
  return request(`/api/webhooks/deliveries/${encodeURIComponent(id)}/retry`, { method: 'POST' });
}
