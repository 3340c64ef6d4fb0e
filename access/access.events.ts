/**
 * What the door side of the box reports: every decision, door transition and alarm. Plain data,
 * made by access/ and hardware/, stored by the server (journal → database) and streamed to the
 * console. `id` is made where the event happens, so a replay after an outage stores it once.
 */
export type AccessEventType =
  | 'access'
  | 'door_unlocked'
  | 'door_relocked'
  | 'door_opened'
  | 'door_closed'
  | 'no_entry'
  | 'rex'
  | 'forced_open'
  | 'held_open_warning'
  | 'held_open'
  | 'alarm_cleared'
  | 'offline'
  | 'online'
  | 'tamper'
  | 'keypad_lockout'
  | 'strike_fault'
  | 'reader_error'
  | 'package_checked_in'
  | 'package_picked_up'
  | 'package_returned'
  /** Someone tried to take a parcel that is not theirs (kiosk scan or API); refused. */
  | 'wrong_pickup'
  /**
   * The camera saw the parcel's shelf slot emptied during its owner's visit: evidence for the
   * chain of custody (the parcel is likely picked up), not a pickup record of its own.
   */
  | 'parcel_seen_taken'
  /** A check-in notice for this parcel was held back: its resident is away (vacation hold). */
  | 'notice_held';

export type DenyReason =
  | 'unknown_credential'
  | 'revoked'
  | 'holder_inactive'
  | 'outside_window'
  | 'outside_schedule'
  | 'uses_exhausted'
  | 'wrong_door'
  | 'parity_error'
  | 'unknown_format'
  | 'malformed_frame'
  | 'key_integrity'
  | 'keypad_locked'
  | 'no_keypad'
  | 'door_fault'
  /** The site lets residents in only to collect parcels, and none are waiting for them. */
  | 'no_parcels_waiting'
  /** A resident's one-time pickup code was already used to open the door. */
  | 'pickup_code_used'
  /** A pickup code outside its window (its parcels' return-to-sender date has passed). */
  | 'pickup_code_expired'
  /** A pickup code replaced by a newer one, of a resident who moved out, or whose parcels are gone. */
  | 'pickup_code_revoked';

/** `pickup_code`: a resident's one-time pickup code opened the door (it is used up now). */
export type DecisionReason = 'granted' | 'pickup_code' | DenyReason;

export type AlarmKind = 'forced_open' | 'held_open' | 'offline' | 'tamper' | 'keypad_lockout';

export interface AccessEvent {
  id: string;
  /** Epoch ms from the injected Clock. */
  at: number;
  type: AccessEventType;
  doorId?: string;
  readerId?: string;
  decision?: 'granted' | 'denied';
  reason?: string;
  residentId?: string;
  staffId?: string;
  credentialId?: string;
  carrierCodeId?: string;
  packageId?: string;
  cameraId?: string;
  details?: Record<string, unknown>;
}
