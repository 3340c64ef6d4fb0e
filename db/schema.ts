import { sql } from 'drizzle-orm';
import {
  bigint,
  boolean,
  check,
  foreignKey,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

/*
 * The whole domain as far as it is known. Every row carries its site, so one PostgreSQL can serve
 * a company's many buildings, each building's box writing only its own site. Things named in the
 * site file (doors, readers, cameras, storage) are keyed by (site, id) because their ids are
 * chosen by people ("front"); things the system creates have globally unique ids.
 */

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });
const createdAt = () => ts('created_at').notNull().defaultNow();

export const sites = pgTable('sites', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  timezone: text('timezone').notNull(),
  createdAt: createdAt(),
  updatedAt: ts('updated_at').notNull().defaultNow(),
});

const siteId = () =>
  text('site_id')
    .notNull()
    .references(() => sites.id);

export const doors = pgTable(
  'doors',
  {
    siteId: siteId(),
    id: text('id').notNull(),
    name: text('name').notNull(),
    driverKind: text('driver_kind').notNull(),
    /** The door's site-file entry, secrets removed, as last applied. */
    config: jsonb('config').notNull(),
    active: boolean('active').notNull().default(true),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.siteId, t.id] })],
);

export const readers = pgTable(
  'readers',
  {
    siteId: siteId(),
    id: text('id').notNull(),
    doorId: text('door_id').notNull(),
    keypad: boolean('keypad').notNull(),
    config: jsonb('config').notNull(),
    active: boolean('active').notNull().default(true),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.siteId, t.id] }),
    foreignKey({ columns: [t.siteId, t.doorId], foreignColumns: [doors.siteId, doors.id] }),
  ],
);

export const cameras = pgTable(
  'cameras',
  {
    siteId: siteId(),
    id: text('id').notNull(),
    name: text('name').notNull(),
    doorId: text('door_id'),
    sourceKind: text('source_kind').notNull(),
    config: jsonb('config').notNull(),
    active: boolean('active').notNull().default(true),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.siteId, t.id] })],
);

export const units = pgTable(
  'units',
  {
    id: text('id').primaryKey(),
    siteId: siteId(),
    label: text('label').notNull(),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('units_site_label_uq').on(t.siteId, t.label)],
);

export const residents = pgTable(
  'residents',
  {
    id: text('id').primaryKey(),
    siteId: siteId(),
    unitId: text('unit_id')
      .notNull()
      .references(() => units.id),
    name: text('name').notNull(),
    email: text('email'),
    phone: text('phone'),
    status: text('status', { enum: ['active', 'moved_out'] })
      .notNull()
      .default('active'),
    createdAt: createdAt(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    index('residents_site_unit_idx').on(t.siteId, t.unitId),
    index('residents_site_name_idx').on(t.siteId, t.name),
  ],
);

export const staffUsers = pgTable(
  'staff_users',
  {
    id: text('id').primaryKey(),
    siteId: siteId(),
    email: text('email').notNull(),
    name: text('name').notNull(),
    role: text('role', { enum: ['staff', 'manager', 'admin'] }).notNull(),
    /** scrypt, self-describing: scrypt$N$r$p$salt$hash (base64). */
    passwordHash: text('password_hash').notNull(),
    disabledAt: ts('disabled_at'),
    createdAt: createdAt(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [uniqueIndex('staff_users_site_email_uq').on(t.siteId, t.email)],
);

export const sessions = pgTable(
  'sessions',
  {
    id: text('id').primaryKey(),
    siteId: siteId(),
    staffId: text('staff_id')
      .notNull()
      .references(() => staffUsers.id),
    /** SHA-256 of the cookie value: a stolen database holds no usable session. */
    tokenHash: text('token_hash').notNull(),
    createdAt: createdAt(),
    lastSeenAt: ts('last_seen_at').notNull().defaultNow(),
    expiresAt: ts('expires_at').notNull(),
    endedAt: ts('ended_at'),
    ip: text('ip'),
    userAgent: text('user_agent'),
  },
  (t) => [
    uniqueIndex('sessions_token_hash_uq').on(t.tokenHash),
    index('sessions_staff_idx').on(t.staffId),
  ],
);

export const apiTokens = pgTable(
  'api_tokens',
  {
    id: text('id').primaryKey(),
    siteId: siteId(),
    name: text('name').notNull(),
    role: text('role', { enum: ['staff', 'manager', 'admin'] }).notNull(),
    tokenHash: text('token_hash').notNull(),
    createdBy: text('created_by').references(() => staffUsers.id),
    createdAt: createdAt(),
    lastUsedAt: ts('last_used_at'),
    expiresAt: ts('expires_at'),
    revokedAt: ts('revoked_at'),
  },
  (t) => [uniqueIndex('api_tokens_token_hash_uq').on(t.tokenHash)],
);

export const credentials = pgTable(
  'credentials',
  {
    id: text('id').primaryKey(),
    siteId: siteId(),
    residentId: text('resident_id').references(() => residents.id),
    staffId: text('staff_id').references(() => staffUsers.id),
    kind: text('kind', { enum: ['card'] }).notNull(),
    format: text('format').notNull(),
    facilityCode: integer('facility_code'),
    cardNumber: bigint('card_number', { mode: 'number' }).notNull(),
    status: text('status', { enum: ['active', 'revoked'] })
      .notNull()
      .default('active'),
    createdAt: createdAt(),
    createdBy: text('created_by'),
    revokedAt: ts('revoked_at'),
    revokedBy: text('revoked_by'),
  },
  (t) => [
    check('credentials_one_holder', sql`(${t.residentId} is null) <> (${t.staffId} is null)`),
    // One active card per number: H10301 numbers repeat between sites, so the facility matters.
    uniqueIndex('credentials_active_card_uq')
      .on(t.siteId, t.format, sql`coalesce(${t.facilityCode}, -1)`, t.cardNumber)
      .where(sql`${t.status} = 'active'`),
    index('credentials_resident_idx').on(t.residentId),
  ],
);

export const carrierCodes = pgTable(
  'carrier_codes',
  {
    id: text('id').primaryKey(),
    siteId: siteId(),
    carrier: text('carrier').notNull(),
    /** Keyed hash (HMAC-SHA256 with the site secret) of the code; the code itself is never kept. */
    codeHash: text('code_hash').notNull(),
    validFrom: ts('valid_from').notNull(),
    validUntil: ts('valid_until').notNull(),
    maxUses: integer('max_uses'),
    uses: integer('uses').notNull().default(0),
    /** Empty array: every door of the site. */
    doorIds: text('door_ids')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    createdBy: text('created_by'),
    createdAt: createdAt(),
    revokedAt: ts('revoked_at'),
    revokedBy: text('revoked_by'),
  },
  (t) => [index('carrier_codes_site_hash_idx').on(t.siteId, t.codeHash)],
);

export const storageLocations = pgTable(
  'storage_locations',
  {
    siteId: siteId(),
    id: text('id').notNull(),
    kind: text('kind', { enum: ['shelf', 'locker', 'oversized', 'overflow'] }).notNull(),
    label: text('label').notNull(),
    shelfId: text('shelf_id'),
    size: text('size', { enum: ['small', 'medium', 'large'] }),
    refrigerated: boolean('refrigerated').notNull().default(false),
    cameraId: text('camera_id'),
    config: jsonb('config').notNull(),
    active: boolean('active').notNull().default(true),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.siteId, t.id] })],
);

export const packages = pgTable(
  'packages',
  {
    id: text('id').primaryKey(),
    siteId: siteId(),
    trackingNumber: text('tracking_number').notNull(),
    trackingFormat: text('tracking_format'),
    carrier: text('carrier').notNull(),
    unitId: text('unit_id')
      .notNull()
      .references(() => units.id),
    residentId: text('resident_id').references(() => residents.id),
    size: text('size', { enum: ['standard', 'oversized', 'perishable'] }).notNull(),
    status: text('status', { enum: ['checked_in', 'picked_up', 'returned'] })
      .notNull()
      .default('checked_in'),
    locationId: text('location_id').notNull(),
    checkedInAt: ts('checked_in_at').notNull(),
    checkedInByStaffId: text('checked_in_by_staff_id'),
    carrierCodeId: text('carrier_code_id').references(() => carrierCodes.id),
    entryEventId: text('entry_event_id'),
    pickedUpAt: ts('picked_up_at'),
    pickedUpByResidentId: text('picked_up_by_resident_id'),
    pickedUpByStaffId: text('picked_up_by_staff_id'),
    returnedAt: ts('returned_at'),
    returnedByStaffId: text('returned_by_staff_id'),
    /** Staff handing a parcel over at the desk write whom they gave it to (a neighbour, say). */
    handedTo: text('handed_to'),
    /** The last reminder sent for this parcel; reminders repeat every `overdueAfterDays`. */
    remindedAt: ts('reminded_at'),
    reminders: integer('reminders').notNull().default(0),
  },
  (t) => [
    foreignKey({
      columns: [t.siteId, t.locationId],
      foreignColumns: [storageLocations.siteId, storageLocations.id],
    }),
    // A tracking number can come back (a return, a re-delivery) but is in the room only once.
    uniqueIndex('packages_in_room_tracking_uq')
      .on(t.siteId, t.trackingNumber)
      .where(sql`${t.status} = 'checked_in'`),
    index('packages_site_status_idx').on(t.siteId, t.status, t.checkedInAt),
    index('packages_unit_idx').on(t.unitId, t.status),
    index('packages_location_idx').on(t.siteId, t.locationId, t.status),
    // Audit search: by tracking number, by carrier name (free text), by addressee.
    index('packages_site_tracking_idx').on(t.siteId, t.trackingNumber),
    index('packages_site_carrier_idx').on(t.siteId, t.carrier),
    index('packages_resident_idx')
      .on(t.residentId)
      .where(sql`${t.residentId} is not null`),
  ],
);

/*
 * Newest-first indexes are DESC NULLS FIRST, the order `orderBy(desc(...))` asks for: PostgreSQL
 * does not use a NULLS LAST index for a NULLS FIRST sort, even on NOT NULL columns.
 */

/**
 * Access events: every decision, door transition, alarm and package hand-over. Append-only (a
 * trigger refuses UPDATE and DELETE); ids come from the box that saw the event, so a journal
 * replayed after an outage inserts each event once.
 *
 * Tamper-evident: each event stored since the audit chain began carries its place in its site's
 * chain (`seq`, 1, 2, 3… with no gaps) and `hash` = SHA-256 of `prev_hash` and its own stored
 * fields (server/events/audit.chain.ts), so a changed, deleted, inserted or reordered event
 * breaks the chain at that point. Events stored before the chain began (a database upgraded from
 * 0.2) keep NULL there; the chain's first hash commits to how many of them there were.
 */
export const accessEvents = pgTable(
  'access_events',
  {
    id: text('id').primaryKey(),
    siteId: siteId(),
    at: ts('at').notNull(),
    type: text('type').notNull(),
    doorId: text('door_id'),
    readerId: text('reader_id'),
    decision: text('decision', { enum: ['granted', 'denied'] }),
    reason: text('reason'),
    residentId: text('resident_id'),
    staffId: text('staff_id'),
    credentialId: text('credential_id'),
    carrierCodeId: text('carrier_code_id'),
    packageId: text('package_id'),
    cameraId: text('camera_id'),
    details: jsonb('details').notNull().default({}),
    receivedAt: ts('received_at').notNull().defaultNow(),
    /** Place in the site's audit chain; NULL for events stored before the chain began. */
    seq: bigint('seq', { mode: 'number' }),
    /** Hex SHA-256: the previous event's `hash`, or the chain's start for seq 1. */
    prevHash: text('prev_hash'),
    /** Hex SHA-256 of `prev_hash` and this event's stored fields. */
    hash: text('hash'),
  },
  (t) => [
    // One event per place in a chain; also the order the verifier walks a chain in. Partial, so
    // the millions of unchained rows of an upgraded database are not indexed for nothing.
    uniqueIndex('access_events_site_seq_uq')
      .on(t.siteId, t.seq)
      .where(sql`${t.seq} is not null`),
    index('access_events_site_at_idx').on(
      t.siteId,
      t.at.desc().nullsFirst(),
      t.id.desc().nullsFirst(),
    ),
    index('access_events_door_at_idx').on(t.siteId, t.doorId, t.at.desc().nullsFirst()),
    index('access_events_type_at_idx').on(t.siteId, t.type, t.at.desc().nullsFirst()),
    index('access_events_resident_at_idx')
      .on(t.residentId, t.at.desc().nullsFirst())
      .where(sql`${t.residentId} is not null`),
    // The audit search reads one parcel's, one card's or one camera's events newest first.
    index('access_events_package_at_idx')
      .on(t.packageId, t.at.desc().nullsFirst())
      .where(sql`${t.packageId} is not null`),
    index('access_events_credential_at_idx')
      .on(t.credentialId, t.at.desc().nullsFirst())
      .where(sql`${t.credentialId} is not null`),
    index('access_events_camera_at_idx')
      .on(t.cameraId, t.at.desc().nullsFirst())
      .where(sql`${t.cameraId} is not null`),
    index('access_events_carrier_code_idx')
      .on(t.carrierCodeId, t.at.desc().nullsFirst())
      .where(sql`${t.carrierCodeId} is not null`),
  ],
);

/**
 * The newest link of each site's audit chain. The event sink locks this row (FOR UPDATE) while it
 * appends a batch, so two writers can never give two events the same place; the verifier checks
 * the last stored event against it, which is how events deleted from the end are noticed. Seq 0
 * is the chain's start, before its first event.
 */
export const auditChainHeads = pgTable('audit_chain_heads', {
  siteId: text('site_id')
    .primaryKey()
    .references(() => sites.id),
  seq: bigint('seq', { mode: 'number' }).notNull(),
  hash: text('hash').notNull(),
  /** Events of the site stored before the chain began (no seq); the start hash commits to it. */
  unchainedEvents: bigint('unchained_events', { mode: 'number' }).notNull(),
  updatedAt: ts('updated_at').notNull().defaultNow(),
});

export const doorAlarms = pgTable(
  'door_alarms',
  {
    id: text('id').primaryKey(),
    siteId: siteId(),
    doorId: text('door_id').notNull(),
    kind: text('kind', {
      enum: ['forced_open', 'held_open', 'offline', 'tamper', 'keypad_lockout'],
    }).notNull(),
    raisedAt: ts('raised_at').notNull(),
    raisedEventId: text('raised_event_id'),
    clearedAt: ts('cleared_at'),
    acknowledgedAt: ts('acknowledged_at'),
    acknowledgedBy: text('acknowledged_by'),
    details: jsonb('details').notNull().default({}),
  },
  (t) => [
    index('door_alarms_open_idx')
      .on(t.siteId, t.doorId)
      .where(sql`${t.clearedAt} is null`),
  ],
);

export const recordings = pgTable(
  'recordings',
  {
    id: text('id').primaryKey(),
    siteId: siteId(),
    cameraId: text('camera_id').notNull(),
    /** Relative to DATA_DIR, so a data folder can move. */
    path: text('path').notNull(),
    startAt: ts('start_at').notNull(),
    endAt: ts('end_at').notNull(),
    bytes: bigint('bytes', { mode: 'number' }).notNull(),
    kind: text('kind', { enum: ['segment', 'gap'] })
      .notNull()
      .default('segment'),
    deletedAt: ts('deleted_at'),
  },
  (t) => [index('recordings_camera_time_idx').on(t.siteId, t.cameraId, t.startAt)],
);

export const clips = pgTable(
  'clips',
  {
    id: text('id').primaryKey(),
    siteId: siteId(),
    cameraId: text('camera_id').notNull(),
    eventId: text('event_id'),
    flagId: text('flag_id'),
    startAt: ts('start_at').notNull(),
    endAt: ts('end_at').notNull(),
    path: text('path'),
    posterPath: text('poster_path'),
    status: text('status', { enum: ['pending', 'ready', 'missing'] })
      .notNull()
      .default('pending'),
    missingReason: text('missing_reason'),
    createdAt: createdAt(),
  },
  (t) => [index('clips_event_idx').on(t.eventId), index('clips_flag_idx').on(t.flagId)],
);

export const visionFlags = pgTable(
  'vision_flags',
  {
    id: text('id').primaryKey(),
    siteId: siteId(),
    kind: text('kind', { enum: ['loitering', 'multi_package_grab', 'tailgating'] }).notNull(),
    severity: text('severity', { enum: ['low', 'medium', 'high'] })
      .notNull()
      .default('medium'),
    cameraId: text('camera_id').notNull(),
    doorId: text('door_id'),
    at: ts('at').notNull(),
    entryEventId: text('entry_event_id'),
    credentialId: text('credential_id'),
    clipStartAt: ts('clip_start_at').notNull(),
    clipEndAt: ts('clip_end_at').notNull(),
    snapshotPath: text('snapshot_path'),
    evidence: jsonb('evidence').notNull().default({}),
    status: text('status', { enum: ['new', 'confirmed', 'dismissed', 'escalated'] })
      .notNull()
      .default('new'),
    reviewedBy: text('reviewed_by'),
    reviewedAt: ts('reviewed_at'),
    reviewNote: text('review_note'),
  },
  (t) => [
    index('vision_flags_site_at_idx').on(
      t.siteId,
      t.at.desc().nullsFirst(),
      t.id.desc().nullsFirst(),
    ),
    index('vision_flags_status_idx').on(t.siteId, t.status, t.at.desc().nullsFirst()),
  ],
);

/** Every attempt to tell a resident about parcels (e-mail, webhook): staff see the failures. */
export const notificationAttempts = pgTable(
  'notification_attempts',
  {
    /** `<notice>/<channel>/<attempt>`: recording the same attempt twice stores it once. */
    id: text('id').primaryKey(),
    siteId: siteId(),
    noticeId: text('notice_id').notNull(),
    residentId: text('resident_id'),
    channel: text('channel', { enum: ['email', 'webhook'] }).notNull(),
    attempt: integer('attempt').notNull(),
    at: ts('at').notNull(),
    ok: boolean('ok').notNull(),
    error: text('error'),
    nextAttemptAt: ts('next_attempt_at'),
    packageIds: text('package_ids')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    /** What the notice said: parcels just checked in, or a reminder that they still wait. */
    kind: text('kind', { enum: ['checked_in', 'reminder'] })
      .notNull()
      .default('checked_in'),
  },
  (t) => [
    index('notification_attempts_site_at_idx').on(t.siteId, t.at.desc().nullsFirst()),
    index('notification_attempts_notice_idx').on(t.noticeId),
    // A parcel's timeline lists every attempt that named it.
    index('notification_attempts_packages_idx').using('gin', t.packageIds),
  ],
);

/** Every write a staff member, manager, admin or API token makes: who, what, when. */
export const staffAuditLog = pgTable(
  'staff_audit_log',
  {
    id: text('id').primaryKey(),
    siteId: siteId(),
    at: ts('at').notNull().defaultNow(),
    actorStaffId: text('actor_staff_id'),
    actorTokenId: text('actor_token_id'),
    actorLabel: text('actor_label').notNull(),
    action: text('action').notNull(),
    targetType: text('target_type'),
    targetId: text('target_id'),
    details: jsonb('details').notNull().default({}),
    ip: text('ip'),
  },
  (t) => [
    index('staff_audit_log_site_at_idx').on(
      t.siteId,
      t.at.desc().nullsFirst(),
      t.id.desc().nullsFirst(),
    ),
    // Who watched what: the admins' view lists video views and exports newest first.
    index('staff_audit_log_action_at_idx').on(
      t.siteId,
      t.action,
      t.at.desc().nullsFirst(),
      t.id.desc().nullsFirst(),
    ),
  ],
);

export type AccessEventRow = typeof accessEvents.$inferSelect;
export type StaffRole = (typeof staffUsers.role.enumValues)[number];
