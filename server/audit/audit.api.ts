/**
 * The wire shape of the audit search (`GET /api/audit/search`) and its event types, shared with
 * the console, so it imports nothing (audit.search.ts checks the lists against access/).
 */

/** Every event type the door side and the parcel room write (checked against the union below). */
export const EVENT_TYPES = [
  'access',
  'door_unlocked',
  'door_relocked',
  'door_opened',
  'door_closed',
  'no_entry',
  'rex',
  'forced_open',
  'held_open_warning',
  'held_open',
  'alarm_cleared',
  'offline',
  'online',
  'tamper',
  'keypad_lockout',
  'strike_fault',
  'reader_error',
  'package_checked_in',
  'package_picked_up',
  'package_returned',
  'wrong_pickup',
  'parcel_seen_taken',
  'notice_held',
] as const;

/** The door alarms among the event types: what the console's "alarms" shortcut asks for. */
export const ALARM_EVENT_TYPES = [
  'forced_open',
  'held_open',
  'offline',
  'tamper',
  'keypad_lockout',
  'strike_fault',
  'reader_error',
] as const;

/** A flag row's flag; the server narrows these to its kinds, statuses and severities. */
export interface AuditRowFlag {
  kind: string;
  status: string;
  severity: string;
}

/** One row of the timeline, an access event or a flag. */
export interface AuditRow {
  id: string;
  at: string;
  source: 'event' | 'flag';
  /** The event type, or the flag's kind. */
  type: string;
  doorId?: string;
  cameraId?: string;
  decision?: 'granted' | 'denied';
  reason?: string;
  /** Whose event it is (a flag: the holder of the credential that opened the door). */
  resident?: { id: string; name: string; unit: string };
  staffId?: string;
  credentialId?: string;
  carrierCodeId?: string;
  /** The carrier of the parcel or of the carrier code. */
  carrier?: string;
  packageId?: string;
  trackingNumber?: string;
  /** The unit the parcel is for (a wrong pickup: not the taker's unit). */
  packageUnit?: string;
  flag?: AuditRowFlag;
  clipUrl?: string;
  snapshotUrl?: string;
  /** The door's name: case entries carry it, the search leaves it to the console. */
  doorName?: string;
}

export interface AuditPage<Row extends AuditRow = AuditRow> {
  items: Row[];
  nextCursor?: string;
}
