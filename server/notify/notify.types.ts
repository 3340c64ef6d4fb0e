/**
 * Resident notification on check-in: what a notice carries, the channels that deliver it, and the
 * port through which every delivery attempt is persisted. Kept free of the database so the
 * check-in API decides where attempts live (and tests can hold them in memory).
 */

/** Mirrors the storage areas of the site file: shelf slots, lockers, oversized and overflow. */
export type ParcelLocationKind = 'slot' | 'locker' | 'oversized' | 'overflow';

export interface ParcelLocation {
  kind: ParcelLocationKind;
  /** Human wording shown to the resident, e.g. "Shelf B, slot B4". */
  label: string;
}

export interface NoticeParcel {
  id: string;
  trackingNumber: string;
  carrier: string;
  location: ParcelLocation;
}

/** One message to one resident about one batch of parcels. */
export interface ParcelNotice {
  /**
   * Stable for the life of the notice, across every retry and channel, so receivers can
   * de-duplicate (webhook `id`, e-mail Message-ID) and attempts can be grouped (`noticeKey`).
   */
  id: string;
  /** When the batch was closed (epoch ms); the webhook's `at`, unchanged by retries. */
  at: number;
  residentId: string;
  residentName: string;
  /** No address means the e-mail channel does not apply to this resident. */
  email?: string;
  unit: string;
  parcels: NoticeParcel[];
  pickupCode?: string;
  /**
   * The resident's one-time pickup code and its QR image, for the e-mail only: the webhook never
   * carries it (webhooks go to other systems, an SMS gateway or a property-management system,
   * which have no business holding a key to the door).
   */
  pickup?: PickupNoticePart;
  /** "Away? Pause notices" link for the e-mail (signed, expires), when the box has a public URL. */
  holdUrl?: string;
  /** The notice was held during a vacation hold and goes out now that the hold ended. */
  afterHold?: boolean;
  siteName: string;
  /** A first notice of new parcels (default), or a reminder that they still wait. */
  kind?: 'checked_in' | 'reminder';
  /** For reminders: days the oldest parcel of the notice has waited. */
  waitingDays?: number;
}

export interface PickupNoticePart {
  /** The 6 digits, for the keypad or the kiosk. */
  code: string;
  /** PNG of the QR code (kiosk URL or bare token), attached inline to the e-mail. */
  qrPng: Buffer;
  /** Valid until (epoch ms): the parcels' return-to-sender date. */
  validUntil: number;
  /** An earlier unused code of this resident stops working with this one. */
  supersedes: boolean;
}

export type ChannelName = 'email' | 'webhook';

export interface DeliveryAttempt {
  /** `<noticeKey>/<channel>/<attempt>`: deterministic, so a store can upsert idempotently. */
  id: string;
  noticeKey: string;
  channel: ChannelName;
  /** 1 for the first try, then 2, 3, ... */
  attempt: number;
  /** When the attempt started (epoch ms, from the dispatcher's clock). */
  at: number;
  ok: boolean;
  error?: string;
  /**
   * Set on a failure that will be retried. A failure without it is final: the dispatcher has
   * given up and the notice shows up in `failures()` for staff.
   */
  nextAttemptAt?: number;
}

/** Where attempts are persisted; the caller implements it (database, journal, memory). */
export interface AttemptLog {
  record(a: DeliveryAttempt): Promise<void>;
}

export interface Channel {
  name: ChannelName;
  /**
   * Whether this channel can reach the resident at all (e-mail needs an address). Channels that
   * do not apply are skipped instead of failing five times into the staff failure list.
   */
  accepts?(notice: ParcelNotice): boolean;
  /** Resolves once the receiving side accepted the message; rejects with a readable error. */
  send(notice: ParcelNotice): Promise<void>;
  /** Releases connections; optional because most channels hold none between sends. */
  close?(): Promise<void>;
}
