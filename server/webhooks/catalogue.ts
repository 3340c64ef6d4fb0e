/**
 * The outbound webhook catalogue: what the building's other systems can subscribe to, and the
 * shape of each event's JSON body. Every body is an envelope `{id, type, at, site, …}` plus one
 * key named after its subject (`parcel`, `flag`, `alarm`); `id` is the event's own id, the same on
 * every retry, so a receiver drops repeats by it. Deliveries are signed exactly like the parcel
 * notices and flag webhooks (`X-Parcelroom-Signature: t=<unix s>,v1=<hex HMAC-SHA256 of
 * "<t>.<raw body>">`, see server/notify/webhook.channel.ts), so receivers verify all of them one
 * way.
 */
import type { AccessEvent } from '../../access/index.ts';
import type { FlagView } from '../routes/flags.routes.ts';

import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from './webhooks.api.ts';

export { WEBHOOK_EVENT_TYPES, type WebhookEventType };

export interface WebhookSite {
  id: string;
  name: string;
}

interface Envelope<T extends WebhookEventType> {
  /** The event's id: the receiver's de-duplication key. */
  id: string;
  type: T;
  /** When it happened (ISO 8601, UTC), not when this attempt was sent. */
  at: string;
  site: WebhookSite;
}

export interface ParcelLocation {
  kind?: string;
  id?: string;
  label?: string;
}

export type ParcelCheckedIn = Envelope<'parcel.checked_in'> & {
  parcel: {
    id: string;
    trackingNumber?: string;
    carrier?: string;
    unit?: string;
    residentId?: string;
    size?: string;
    location?: ParcelLocation;
  };
};

export type ParcelPickedUp = Envelope<'parcel.picked_up'> & {
  parcel: {
    id: string;
    trackingNumber?: string;
    location?: ParcelLocation;
    /** Who collected it: the resident's id when known. */
    residentId?: string;
    /** `resident` (badge, pickup code, kiosk) or `staff` (handed over at the desk). */
    by?: string;
    via?: string;
  };
};

export type ParcelOverdue = Envelope<'parcel.overdue'> & {
  parcel: {
    id: string;
    trackingNumber: string;
    carrier: string;
    unit: string;
    residentId?: string;
    checkedInAt: string;
  };
  /** Whole days the parcel has waited. */
  waitingDays: number;
};

export type FlagRaised = Envelope<'flag.raised'> & { flag: FlagView };

export const DOOR_ALARM_KINDS = [
  'forced_open',
  'held_open',
  'offline',
  'tamper',
  'keypad_lockout',
] as const;

export type DoorAlarm = Envelope<'door.alarm'> & {
  alarm: {
    kind: (typeof DOOR_ALARM_KINDS)[number];
    doorId?: string;
    readerId?: string;
    details?: Record<string, unknown>;
  };
};

export type WebhookEvent =
  ParcelCheckedIn | ParcelPickedUp | ParcelOverdue | FlagRaised | DoorAlarm;

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function location(v: unknown): ParcelLocation | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const out: ParcelLocation = {};
  for (const k of ['kind', 'id', 'label'] as const) {
    const s = str(o[k]);
    if (s !== undefined) out[k] = s;
  }
  return out;
}

const omitUndefined = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

/**
 * The catalogue event for a stored access event, or null when it is not one the catalogue
 * offers. The access event's id becomes the webhook event's id.
 */
export function fromAccessEvent(e: AccessEvent, site: WebhookSite): WebhookEvent | null {
  const base = { id: e.id, at: new Date(e.at).toISOString(), site };
  const d = e.details ?? {};
  if (e.type === 'package_checked_in' && e.packageId) {
    return {
      ...base,
      type: 'parcel.checked_in',
      parcel: omitUndefined({
        id: e.packageId,
        trackingNumber: str(d.trackingNumber),
        carrier: str(d.carrier),
        unit: str(d.unit),
        residentId: e.residentId,
        size: str(d.size),
        location: location(d.location),
      }),
    };
  }
  if (e.type === 'package_picked_up' && e.packageId) {
    return {
      ...base,
      type: 'parcel.picked_up',
      parcel: omitUndefined({
        id: e.packageId,
        trackingNumber: str(d.trackingNumber),
        location: location(d.location),
        residentId: e.residentId,
        by: str(d.by),
        via: str(d.via),
      }),
    };
  }
  if ((DOOR_ALARM_KINDS as readonly string[]).includes(e.type)) {
    return {
      ...base,
      type: 'door.alarm',
      alarm: omitUndefined({
        kind: e.type as DoorAlarm['alarm']['kind'],
        doorId: e.doorId,
        readerId: e.readerId,
        details: e.details && Object.keys(e.details).length ? e.details : undefined,
      }),
    };
  }
  return null;
}

export function flagRaised(flag: FlagView, site: WebhookSite): FlagRaised {
  return { id: flag.id, type: 'flag.raised', at: flag.at, site, flag };
}

/** Example bodies for the catalogue route: what a receiver should expect. */
export function catalogue(site: WebhookSite) {
  const at = '2026-11-21T09:00:00.000Z';
  // One parcel through its life, so the examples read as one story.
  const parcel = {
    id: '01936f5e-0000-7000-8000-0000000000a1',
    trackingNumber: '1Z999AA10123456784',
    carrier: 'UPS',
    unit: '4B',
    residentId: '01936f5e-0000-7000-8000-0000000000r1',
  };
  const location = { kind: 'shelf', id: 'A-3', label: 'Shelf A, slot 3' } as const;
  const examples: Record<WebhookEventType, { description: string; example: unknown }> = {
    'parcel.checked_in': {
      description: 'A parcel was checked in and given a place in the room.',
      example: {
        id: '01936f5e-0000-7000-8000-000000000001',
        type: 'parcel.checked_in',
        at,
        site,
        parcel: { ...parcel, size: 'standard', location },
      } satisfies ParcelCheckedIn,
    },
    'parcel.picked_up': {
      description: 'A parcel left the room with its resident (or was handed over at the desk).',
      example: {
        id: '01936f5e-0000-7000-8000-000000000002',
        type: 'parcel.picked_up',
        at,
        site,
        parcel: {
          id: parcel.id,
          trackingNumber: parcel.trackingNumber,
          location,
          residentId: parcel.residentId,
          by: 'resident',
          via: 'kiosk',
        },
      } satisfies ParcelPickedUp,
    },
    'parcel.overdue': {
      description:
        'A parcel has waited `notifications.overdueAfterDays`; sent once per parcel when it crosses the line.',
      example: {
        id: `${parcel.id}.overdue`,
        type: 'parcel.overdue',
        at,
        site,
        parcel: { ...parcel, checkedInAt: '2026-11-16T09:00:00.000Z' },
        waitingDays: 5,
      } satisfies ParcelOverdue,
    },
    'flag.raised': {
      description: "The room's cameras raised a flag (loitering, multi-package grab, tailgating).",
      example: {
        id: '01936f5e-0000-7000-8000-000000000003',
        type: 'flag.raised',
        at,
        site,
        flag: {
          id: '01936f5e-0000-7000-8000-000000000003',
          kind: 'tailgating',
          status: 'new',
          cameraId: 'room-cam',
          at,
        },
      },
    },
    'door.alarm': {
      description: 'A door alarm began: forced_open, held_open, offline, tamper or keypad_lockout.',
      example: {
        id: '01936f5e-0000-7000-8000-000000000004',
        type: 'door.alarm',
        at,
        site,
        alarm: { kind: 'forced_open', doorId: 'front' },
      } satisfies DoorAlarm,
    },
  };
  return WEBHOOK_EVENT_TYPES.map((type) => ({ type, ...examples[type] }));
}
