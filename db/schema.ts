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
    /** The property-management system's id for this resident: re-imports match on it. */
    externalId: text('external_id'),
    moveInAt: ts('move_in_at'),
    /** From this moment the resident's cards and pickup codes stop opening the door. */
    moveOutAt: ts('move_out_at'),
  },
  (t) => [
    index('residents_site_unit_idx').on(t.siteId, t.unitId),
    index('residents_site_name_idx').on(t.siteId, t.name),
    uniqueIndex('residents_site_external_uq')
      .on(t.siteId, t.externalId)
      .where(sql`${t.externalId} is not null`),
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
    /**
     * What the token may touch beyond its role's reading: `full` is the role's permissions;
     * `roster` (a property-management system) may only push roster changes.
     */
    scope: text('scope', { enum: ['full', 'roster'] })
      .notNull()
      .default('full'),
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

/** An incident a manager builds: events, flags, parcels and alarms grouped for evidence. */
export const cases = pgTable(
  'cases',
  {
    id: text('id').primaryKey(),
    siteId: siteId(),
    title: text('title').notNull(),
    description: text('description').notNull().default(''),
    status: text('status', { enum: ['open', 'closed'] })
      .notNull()
      .default('open'),
    createdBy: text('created_by').notNull(),
    createdAt: createdAt(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
    closedAt: ts('closed_at'),
    closedBy: text('closed_by'),
  },
  (t) => [index('cases_site_status_idx').on(t.siteId, t.status, t.createdAt.desc().nullsFirst())],
);

export const caseItems = pgTable(
  'case_items',
  {
    id: text('id').primaryKey(),
    siteId: siteId(),
    caseId: text('case_id')
      .notNull()
      .references(() => cases.id),
    kind: text('kind', { enum: ['event', 'flag', 'package', 'alarm'] }).notNull(),
    refId: text('ref_id').notNull(),
    note: text('note').notNull().default(''),
    addedBy: text('added_by').notNull(),
    addedAt: ts('added_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('case_items_case_ref_uq').on(t.caseId, t.kind, t.refId),
    index('case_items_ref_idx').on(t.siteId, t.kind, t.refId),
  ],
);

/** Each evidence package made of a case: what was in it and the hash of the ZIP handed out. */
export const caseExports = pgTable(
  'case_exports',
  {
    id: text('id').primaryKey(),
    siteId: siteId(),
    caseId: text('case_id')
      .notNull()
      .references(() => cases.id),
    createdBy: text('created_by').notNull(),
    createdAt: createdAt(),
    /** Relative to DATA_DIR. */
    path: text('path'),
    bytes: bigint('bytes', { mode: 'number' }),
    /** Hex SHA-256 of the ZIP file. */
    sha256: text('sha256'),
    /** Hex SHA-256 of the signed manifest inside it. */
    manifestSha256: text('manifest_sha256'),
    keyId: text('key_id'),
    /** Clip windows the package holds: retention keeps their recordings while the case is open. */
    media: jsonb('media').notNull().default([]),
    status: text('status', { enum: ['building', 'ready', 'failed'] })
      .notNull()
      .default('building'),
    error: text('error'),
  },
  (t) => [index('case_exports_case_idx').on(t.caseId, t.createdAt.desc().nullsFirst())],
);

/**
 * Public halves of the keys that sign evidence manifests. The private half stays on the box
 * (DATA_DIR or an environment variable); keeping every public key ever used lets an old export be
 * verified after the key is rotated.
 */
export const siteSigningKeys = pgTable('site_signing_keys', {
  /** Fingerprint: hex SHA-256 of the DER public key, first 16 characters. */
  id: text('id').primaryKey(),
  siteId: siteId(),
  algorithm: text('algorithm').notNull(),
  publicKeyPem: text('public_key_pem').notNull(),
  createdAt: createdAt(),
  retiredAt: ts('retired_at'),
});

/** A staff member's named audit search (its filters), to run again in one click. */
export const savedSearches = pgTable(
  'saved_searches',
  {
    id: text('id').primaryKey(),
    siteId: siteId(),
    staffId: text('staff_id').notNull(),
    name: text('name').notNull(),
    query: jsonb('query').notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('saved_searches_staff_idx').on(t.siteId, t.staffId)],
);

/**
 * One-time pickup codes sent to a resident with their check-in notice: typed at the keypad or
 * shown as a QR code, they open the door once while the parcels wait.
 */
export const pickupCodes = pgTable(
  'pickup_codes',
  {
    id: text('id').primaryKey(),
    siteId: siteId(),
    residentId: text('resident_id')
      .notNull()
      .references(() => residents.id),
    unitId: text('unit_id')
      .notNull()
      .references(() => units.id),
    /** Keyed hash (site secret) of the 6-digit code. */
    codeHash: text('code_hash').notNull(),
    /** Keyed hash of the longer token the QR code carries. */
    qrTokenHash: text('qr_token_hash').notNull(),
    packageIds: text('package_ids')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    validFrom: ts('valid_from').notNull(),
    validUntil: ts('valid_until').notNull(),
    /** Why it was issued: a check-in notice, or a fresh code the resident asked for. */
    origin: text('origin', { enum: ['checked_in', 'requested'] }).notNull(),
    createdAt: createdAt(),
    usedAt: ts('used_at'),
    usedEventId: text('used_event_id'),
    usedDoorId: text('used_door_id'),
    revokedAt: ts('revoked_at'),
    revokedReason: text('revoked_reason'),
  },
  (t) => [
    index('pickup_codes_site_hash_idx').on(t.siteId, t.codeHash),
    index('pickup_codes_site_qr_idx').on(t.siteId, t.qrTokenHash),
    index('pickup_codes_resident_idx').on(t.residentId, t.createdAt.desc().nullsFirst()),
  ],
);

/** A resident's request for a fresh pickup code: the e-mailed link is the second factor. */
export const pickupCodeRequests = pgTable(
  'pickup_code_requests',
  {
    id: text('id').primaryKey(),
    siteId: siteId(),
    residentId: text('resident_id')
      .notNull()
      .references(() => residents.id),
    /** SHA-256 of the link's token. */
    tokenHash: text('token_hash').notNull(),
    createdAt: createdAt(),
    expiresAt: ts('expires_at').notNull(),
    usedAt: ts('used_at'),
    requestedFrom: text('requested_from'),
  },
  (t) => [uniqueIndex('pickup_code_requests_token_uq').on(t.tokenHash)],
);

/** A resident away: no notices or reminders from `startsAt` to `endsAt`. */
export const vacationHolds = pgTable(
  'vacation_holds',
  {
    id: text('id').primaryKey(),
    siteId: siteId(),
    residentId: text('resident_id')
      .notNull()
      .references(() => residents.id),
    startsAt: ts('starts_at').notNull(),
    endsAt: ts('ends_at').notNull(),
    note: text('note').notNull().default(''),
    createdBy: text('created_by').notNull(),
    createdAt: createdAt(),
    cancelledAt: ts('cancelled_at'),
  },
  (t) => [index('vacation_holds_resident_idx').on(t.residentId, t.endsAt)],
);

/** Each roster import (CSV from the console or a push from the property-management system). */
export const rosterImports = pgTable(
  'roster_imports',
  {
    id: text('id').primaryKey(),
    siteId: siteId(),
    at: ts('at').notNull().defaultNow(),
    by: text('by').notNull(),
    source: text('source', { enum: ['csv', 'pms'] }).notNull(),
    dryRun: boolean('dry_run').notNull(),
    /** Counts (created, updated, moved out, unchanged, rejected) and the rejected rows. */
    summary: jsonb('summary').notNull().default({}),
  },
  (t) => [index('roster_imports_site_at_idx').on(t.siteId, t.at.desc().nullsFirst())],
);

/** Outbound webhooks: who wants which events of the catalogue. */
export const webhookSubscriptions = pgTable(
  'webhook_subscriptions',
  {
    id: text('id').primaryKey(),
    siteId: siteId(),
    url: text('url').notNull(),
    /** Event types of the catalogue; empty: all of them. */
    events: text('events')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    /** HMAC-SHA256 signing secret, shown once at creation; the receiver checks signatures. */
    secret: text('secret').notNull(),
    description: text('description').notNull().default(''),
    active: boolean('active').notNull().default(true),
    createdBy: text('created_by').notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('webhook_subscriptions_site_idx').on(t.siteId)],
);

/** The delivery log: every attempt to deliver one event to one subscription. */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: text('id').primaryKey(),
    siteId: siteId(),
    subscriptionId: text('subscription_id')
      .notNull()
      .references(() => webhookSubscriptions.id),
    eventType: text('event_type').notNull(),
    /** The catalogue event's own id: the receiver's de-duplication key. */
    eventId: text('event_id').notNull(),
    payload: jsonb('payload').notNull(),
    status: text('status', { enum: ['pending', 'delivered', 'failed'] })
      .notNull()
      .default('pending'),
    attempts: integer('attempts').notNull().default(0),
    lastStatusCode: integer('last_status_code'),
    lastError: text('last_error'),
    createdAt: createdAt(),
    nextAttemptAt: ts('next_attempt_at'),
    deliveredAt: ts('delivered_at'),
  },
  (t) => [
    uniqueIndex('webhook_deliveries_sub_event_uq').on(t.subscriptionId, t.eventId),
    index('webhook_deliveries_due_idx')
      .on(t.siteId, t.nextAttemptAt)
      .where(sql`${t.status} = 'pending'`),
    index('webhook_deliveries_site_created_idx').on(t.siteId, t.createdAt.desc().nullsFirst()),
  ],
);

export type AccessEventRow = typeof accessEvents.$inferSelect;
export type StaffRole = (typeof staffUsers.role.enumValues)[number];
