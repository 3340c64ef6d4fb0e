// The outbound webhooks' wire shapes shared with the console (web/src/lib/webhooks.ts); imports
// nothing, so the console can take it without pulling server code in.

/** The catalogue: every event type a subscription may ask for. */
export const WEBHOOK_EVENT_TYPES = [
  'parcel.checked_in',
  'parcel.picked_up',
  'parcel.overdue',
  'flag.raised',
  'door.alarm',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];
