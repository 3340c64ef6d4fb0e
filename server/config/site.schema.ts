import { z } from 'zod';
import { BUILTIN_FORMATS, validateFormat } from '../../access/wiegand.formats.ts';
import { complianceSchema } from './compliance.schema.ts';

/**
 * The site file: what a building has (doors, readers, cameras, storage) and how the box talks to
 * it. One strict zod tree, so a typo stops start-up naming the field instead of being ignored.
 * Keys listed in ../shared/CONTRACT.md are the outside contract; everything else may grow.
 */

const id = (what: string) =>
  z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'letters, digits, _ and -, at most 64')
    .describe(`Identifier of the ${what}, unique within the site; used in URLs and logs.`);

const label = (what: string) =>
  z.string().min(1).max(80).describe(`Label of the ${what} as printed in the room.`);

const simDoorDriver = z
  .strictObject({
    kind: z.literal('sim').describe('In-process simulator, driven through /api/sim routes.'),
  })
  .describe('Simulated strike, contact sensor and REX button (demo room and tests).');

const gpioDoorDriver = z
  .strictObject({
    kind: z.literal('gpio').describe('Linux GPIO character device on this box.'),
    chip: z
      .string()
      .default('/dev/gpiochip0')
      .describe('GPIO character device of the lines below.'),
    strikeLine: z.int().min(0).max(1023).describe('Output line that drives the strike relay.'),
    strikeActiveLow: z
      .boolean()
      .default(false)
      .describe('Relay energises when the line is driven low.'),
    contactLine: z
      .int()
      .min(0)
      .max(1023)
      .optional()
      .describe('Input line of the door position (contact) sensor.'),
    contactOpenHigh: z
      .boolean()
      .default(true)
      .describe('The contact line reads high when the door is open.'),
    rexLine: z
      .int()
      .min(0)
      .max(1023)
      .optional()
      .describe('Input line of the request-to-exit button.'),
    d0Line: z.int().min(0).max(1023).optional().describe('Wiegand D0 input line of the reader.'),
    d1Line: z.int().min(0).max(1023).optional().describe('Wiegand D1 input line of the reader.'),
  })
  .describe('Strike, contact, REX and Wiegand lines wired to this box.');

const mqttDoorDriver = z
  .strictObject({
    kind: z.literal('mqtt').describe('A door controller at the edge that speaks MQTT.'),
    url: z
      .string()
      .regex(/^mqtts?:\/\//, 'must start with mqtt:// or mqtts://')
      .describe('Broker URL, e.g. mqtt://127.0.0.1:1883.'),
    username: z.string().optional().describe('Broker user name.'),
    password: z
      .string()
      .optional()
      .describe('Broker password; write ${ENV_NAME} to take it from the environment.'),
    firmware: z
      .enum(['esphome', 'tasmota', 'esp-rfid', 'generic'])
      .default('generic')
      .describe('Topic and payload conventions of the controller firmware.'),
    topicPrefix: z
      .string()
      .min(1)
      .max(200)
      .refine((t) => !/[+#]/.test(t) && !t.includes('\0'), 'no MQTT wildcards (+, #) or NUL')
      .describe('Base topic of the controller (e.g. the Tasmota topic or esp-rfid base).'),
    fullTopic: z
      .string()
      .max(200)
      .optional()
      .describe('tasmota: the device FullTopic (default %prefix%/%topic%/).'),
    relay: z.int().min(1).max(32).default(1).describe('tasmota: relay of the strike (POWER<n>).'),
    contactSwitch: z
      .int()
      .min(0)
      .max(32)
      .default(1)
      .describe('tasmota: switch wired to the door contact (0 = none).'),
    rexSwitch: z
      .int()
      .min(0)
      .max(32)
      .default(2)
      .describe('tasmota: switch wired to the REX button (0 = none).'),
    doorIp: z
      .ipv4()
      .optional()
      .describe('esp-rfid: device IP every command carries; learned from its heartbeat if unset.'),
    uidBits: z
      .union([z.literal(26), z.literal(34)])
      .optional()
      .describe('esp-rfid: Wiegand frame length, to rebuild frames from the UIDs it sends.'),
  })
  .describe('Door controller over MQTT (ESPHome, Tasmota, esp-rfid or generic topics).');

export const doorDriverSchema = z
  .discriminatedUnion('kind', [simDoorDriver, gpioDoorDriver, mqttDoorDriver])
  .describe('How the box reaches the strike, contact sensor and REX of this door.');

export const doorSchema = z
  .strictObject({
    id: id('door'),
    name: z.string().min(1).max(80).describe('Name shown in the console and reports.'),
    driver: doorDriverSchema,
    grantMs: z
      .int()
      .min(500)
      .max(60_000)
      .default(5_000)
      .describe('How long the strike stays released after a grant, in ms.'),
    heldOpenMs: z
      .int()
      .min(5_000)
      .max(3_600_000)
      .default(60_000)
      .describe('Open longer than this raises a held_open alarm, in ms.'),
    preAlarmMs: z
      .int()
      .min(0)
      .max(600_000)
      .default(10_000)
      .describe('Warn this long before the held_open alarm, in ms (0 = no pre-alarm).'),
    failMode: z
      .enum(['secure', 'safe'])
      .default('secure')
      .describe(
        'secure: stays locked without power or on a fault; safe: releases (fire code exits).',
      ),
    clipBeforeMs: z
      .int()
      .min(0)
      .max(120_000)
      .default(5_000)
      .describe('Video kept before an entry event, in ms.'),
    clipAfterMs: z
      .int()
      .min(1_000)
      .max(600_000)
      .default(30_000)
      .describe('Video kept after an entry event, in ms.'),
  })
  .describe('A door into the package room.');

export const readerSchema = z
  .strictObject({
    id: id('reader'),
    doorId: z.string().describe('The door this reader opens.'),
    keypad: z.boolean().default(false).describe('The reader has a keypad for carrier codes.'),
    keypadMode: z
      .enum(['4bit', '8bit'])
      .default('4bit')
      .describe('How the keypad sends keys: 4-bit or 8-bit Wiegand bursts.'),
    maxPinLength: z
      .int()
      .min(4)
      .max(16)
      .default(10)
      .describe('Keys beyond this length reject the PIN.'),
  })
  .describe('A card reader (and optional keypad) on a door.');

const zoneSchema = z
  .strictObject({
    id: id('zone'),
    kind: z
      .enum(['room', 'door', 'shelf'])
      .describe('What the zone watches: the room, the doorway, or a shelf.'),
    polygon: z
      .array(z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]))
      .min(3)
      .max(64)
      .describe('Corners as fractions (0..1) of the frame width and height.'),
  })
  .describe('An area of the camera picture.');

const cameraSourceSchema = z
  .discriminatedUnion('kind', [
    z.strictObject({
      kind: z.literal('onvif').describe('An ONVIF camera on the LAN.'),
      host: z.string().min(1).describe('Camera host name or address.'),
      port: z.int().min(1).max(65535).default(80).describe('ONVIF HTTP port.'),
      username: z.string().describe('ONVIF user.'),
      password: z.string().describe('ONVIF password; write ${ENV_NAME} to read it from the env.'),
    }),
    z.strictObject({
      kind: z.literal('rtsp').describe('A plain RTSP stream.'),
      url: z
        .string()
        .regex(/^rtsps?:\/\//, 'must start with rtsp:// or rtsps://')
        .describe('RTSP URL of the main stream.'),
    }),
    z.strictObject({
      kind: z.literal('file').describe('A video file played as a camera (demos, tests).'),
      path: z.string().min(1).describe('Path of the video file.'),
      loop: z
        .boolean()
        .default(true)
        .describe('Play the file in a loop; a file that ends is a camera that went offline.'),
    }),
    z.strictObject({
      kind: z.literal('sim').describe('A synthetic scene made by the box itself.'),
    }),
  ])
  .describe('Where the camera picture comes from.');

export const cameraSchema = z
  .strictObject({
    id: id('camera'),
    name: z.string().min(1).max(80).describe('Name shown in the console.'),
    doorId: z.string().optional().describe('The door this camera watches, if any.'),
    source: cameraSourceSchema,
    zones: z.array(zoneSchema).default([]).describe('Zones the analytics watch.'),
  })
  .describe('A camera in or at the package room.');

const slotSchema = z.strictObject({
  id: id('shelf slot'),
  label: label('slot'),
  cameraId: z.string().optional().describe('Camera that sees this slot.'),
  polygon: z
    .array(z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]))
    .min(3)
    .max(64)
    .optional()
    .describe('Where the slot is in that camera picture (fractions of the frame).'),
});

const storageSchema = z
  .strictObject({
    shelves: z
      .array(
        z.strictObject({
          id: id('shelf'),
          label: label('shelf').optional(),
          slots: z.array(slotSchema).min(1).max(500).describe('Slots on the shelf.'),
        }),
      )
      .default([])
      .describe('Open shelving, one entry per shelf.'),
    lockers: z
      .array(
        z.strictObject({
          id: id('locker'),
          label: label('locker'),
          size: z.enum(['small', 'medium', 'large']).describe('Locker size.'),
          refrigerated: z.boolean().default(false).describe('A cold locker for perishables.'),
        }),
      )
      .default([])
      .describe('Lockers beside the shelves.'),
    oversized: z
      .strictObject({ id: id('oversized area'), label: label('oversized area') })
      .describe('Floor area for parcels too big for a slot or locker.'),
    overflow: z
      .strictObject({ id: id('overflow area'), label: label('overflow area') })
      .describe('Where parcels go when every fitting place is full.'),
  })
  .describe('Where parcels are put.');

const hhmm = z.string().regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$/, 'HH:MM (00:00-24:00)');

const customFormatSchema = z
  .strictObject({
    id: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/)
      .describe('Format id used when enrolling cards, e.g. "ACME-40".'),
    name: z.string().min(1).max(80).describe('Human name of the format.'),
    bits: z.int().min(9).max(128).describe('Frame length in bits.'),
    fields: z
      .strictObject({
        facility: z
          .strictObject({
            start: z.int().min(0).describe('First bit (bit 0 is sent first).'),
            length: z.int().min(1).max(53).describe('Number of bits.'),
          })
          .optional()
          .describe('Facility (site) code bits, if the format has one.'),
        card: z
          .strictObject({
            start: z.int().min(0).describe('First bit (bit 0 is sent first).'),
            length: z.int().min(1).max(53).describe('Number of bits.'),
          })
          .describe('Card number bits.'),
      })
      .describe('Where the numbers sit in the frame.'),
    parity: z
      .array(
        z.strictObject({
          bit: z.int().min(0).describe('Position of the parity bit.'),
          kind: z.enum(['even', 'odd']).describe('Even or odd parity.'),
          over: z.array(z.int().min(0)).min(1).describe('Bits the parity covers.'),
        }),
      )
      .describe('Parity bits, checked in order.'),
  })
  .describe('A card format of this site beyond the built-in ones.');

const accessSchema = z
  .strictObject({
    carrierCodeLength: z
      .int()
      .min(6)
      .max(12)
      .default(6)
      .describe('Digits in a generated carrier delivery code.'),
    keypadMaxFailures: z
      .int()
      .min(2)
      .max(50)
      .default(5)
      .describe('Wrong PINs on one keypad inside the window that lock it.'),
    keypadWindowMs: z
      .int()
      .min(1_000)
      .max(3_600_000)
      .default(60_000)
      .describe('Window in which wrong PINs are counted, in ms.'),
    keypadLockMs: z
      .int()
      .min(10_000)
      .max(86_400_000)
      .default(300_000)
      .describe('First lockout, in ms; each further lockout within a day doubles it.'),
    keypadMaxLockMs: z
      .int()
      .min(60_000)
      .max(7 * 86_400_000)
      .default(86_400_000)
      .describe('Longest lockout, in ms.'),
    interKeyTimeoutMs: z
      .int()
      .min(1_000)
      .max(60_000)
      .default(5_000)
      .describe('A pause longer than this between keys discards the half-typed PIN, in ms.'),
    snapshotRefreshMs: z
      .int()
      .min(500)
      .max(600_000)
      .default(5_000)
      .describe('How often the door re-reads cards and codes from the database, in ms.'),
    schedule: z
      .array(
        z.strictObject({
          days: z
            .array(z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']))
            .min(1)
            .describe('Weekdays of this window.'),
          from: hhmm.describe('Opens at (site time zone).'),
          to: hhmm.describe('Closes at (site time zone, exclusive).'),
        }),
      )
      .optional()
      .describe('When residents and carriers may enter (staff always may); unset = any time.'),
    formats: z.array(customFormatSchema).default([]).describe('Extra Wiegand card formats.'),
    residentEntry: z
      .enum(['always', 'with_parcels'])
      .default('always')
      .describe(
        "always: an active resident's card opens the door; with_parcels: only while a parcel waits for them or their unit.",
      ),
  })
  .prefault({})
  .describe('Door access rules of the site.');

const notificationsSchema = z
  .strictObject({
    email: z
      .strictObject({
        host: z.string().min(1).describe('SMTP server host name.'),
        port: z.int().min(1).max(65535).default(587).describe('SMTP port.'),
        tls: z
          .enum(['starttls', 'tls', 'none'])
          .default('starttls')
          .describe('starttls: upgrade required (587); tls: TLS from the start (465); none.'),
        username: z.string().optional().describe('SMTP user.'),
        password: z
          .string()
          .optional()
          .describe('SMTP password; write ${ENV_NAME} to take it from the environment.'),
        from: z.string().min(3).describe('From address, e.g. "Parcel room <parcels@example.org>".'),
      })
      .optional()
      .describe('E-mail to residents through your SMTP server; unset = no e-mail.'),
    webhook: z
      .strictObject({
        url: z
          .string()
          .regex(/^https?:\/\//, 'must start with http:// or https://')
          .describe('Receiver (SMS gateway, property-management system).'),
        secret: z
          .string()
          .min(16, 'at least 16 characters')
          .describe(
            'HMAC key for X-Parcelroom-Signature; write ${ENV_NAME} to read it from the env.',
          ),
      })
      .optional()
      .describe('Signed JSON webhook per notice; unset = no webhook.'),
    batchQuietMs: z
      .int()
      .min(0)
      .max(3_600_000)
      .default(60_000)
      .describe('A resident is told once this long after their last parcel of a batch, in ms.'),
    overdueAfterDays: z
      .int()
      .min(1)
      .max(60)
      .default(3)
      .describe(
        'Parcels waiting longer are overdue: highlighted for staff, and the resident is reminded (again every this many days).',
      ),
    returnAfterDays: z
      .int()
      .min(2)
      .max(90)
      .default(7)
      .describe('Parcels waiting longer go to the return-to-sender queue for staff.'),
    reminderCheckMs: z
      .int()
      .min(10_000)
      .max(86_400_000)
      .default(3_600_000)
      .describe('How often the box looks for parcels due a reminder, in ms.'),
    publicUrl: z
      .string()
      .regex(/^https?:\/\/[^\s/?#]+(\/[^\s?#]*)?$/, 'an http(s) address without ? or #')
      .optional()
      .describe(
        'Address residents reach the box at (e.g. https://parcels.maple.example): links in e-mails (pause notices, fresh pickup code) and the QR kiosk link; unset = the QR carries the bare token and notices have no pause link.',
      ),
  })
  .prefault({})
  .describe('How residents hear about their parcels.');

const recordingSchema = z
  .strictObject({
    segmentSeconds: z
      .int()
      .min(2)
      .max(60)
      .default(4)
      .describe(
        'Length of one recorded file, in s; cut at the next keyframe. Shorter segments make clips appear sooner.',
      ),
    offlineAfterMs: z
      .int()
      .min(5_000)
      .max(600_000)
      .default(30_000)
      .describe(
        'No video for this long: the camera is reported offline (an alarm) and its recorder restarted, in ms.',
      ),
    retainDays: z
      .number()
      .min(0.01)
      .max(3_650)
      .default(14)
      .describe(
        'Recordings older than this many days are deleted, unless a flag or clip needs them.',
      ),
    maxDiskGb: z
      .number()
      .min(0.1)
      .max(1_000_000)
      .nullable()
      .default(50)
      .describe(
        'Disk budget of all recordings in GB (10^9 bytes); the oldest go first when over it. null: no budget.',
      ),
    retentionCheckMs: z
      .int()
      .min(10_000)
      .max(86_400_000)
      .default(600_000)
      .describe('How often old recordings are looked for and deleted, in ms.'),
  })
  .prefault({})
  .describe('Continuous recording of every camera and how long it is kept.');

/** The vision analytics (issue 6): off without PARCELROOM_MODEL whatever this says. */
const analyticsSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .describe(
        'Run the analytics when PARCELROOM_MODEL names a detector model; false turns them off here.',
      ),
    fps: z
      .number()
      .min(1)
      .max(15)
      .default(5)
      .describe(
        "Frames per second decoded from each camera's sub-stream for the detector; more than 10 buys nothing for people walking.",
      ),
    frameWidth: z
      .int()
      .min(160)
      .max(1280)
      .multipleOf(2)
      .default(416)
      .describe('Width the frames are scaled to for analysis, in px (the model input is 416).'),
    frameHeight: z
      .int()
      .min(90)
      .max(1280)
      .multipleOf(2)
      .default(234)
      .describe(
        'Height of the analysed frames, in px: 234 fits 16:9 cameras at 416 wide, 312 fits 4:3. Pictures of another shape are padded, so zones drawn on them would be off.',
      ),
    loiteringSeconds: z
      .number()
      .min(1)
      .max(3_600)
      .default(90)
      .describe('A person in a room zone longer than this raises a loitering flag, in s.'),
    loiteringZoneSeconds: z
      .record(
        z.string().describe('Id of a room zone.'),
        z.number().min(1).max(3_600).describe('Seconds for that zone.'),
      )
      .default({})
      .describe(
        'Per room-zone loitering thresholds in s, by zone id, overriding loiteringSeconds.',
      ),
    visitMinutes: z
      .number()
      .min(0.25)
      .max(240)
      .default(5)
      .describe(
        'How long a granted entry lets a person stay, in minutes; still in the room after it is a loitering flag (overstay).',
      ),
    tailgatingBeforeGrantSeconds: z
      .number()
      .min(0)
      .max(30)
      .default(1)
      .describe(
        'A person crossing the doorway this long before the grant is recorded still counts against it, in s (door and camera clocks differ a little).',
      ),
    tailgatingAfterGrantSeconds: z
      .number()
      .min(1)
      .max(300)
      .default(15)
      .describe(
        'A grant covers one person crossing the doorway inward up to this long after it, in s; more people in that window is tailgating.',
      ),
    detectorThreads: z
      .int()
      .min(1)
      .max(16)
      .default(2)
      .describe(
        'CPU threads one detector run may use; one detector is shared by every camera, frames take turns.',
      ),
    scoreThreshold: z
      .number()
      .min(0.05)
      .max(0.95)
      .default(0.3)
      .describe(
        'Lowest detector score (objectness × class) passed to the tracker; the tracker keeps weak ones only to continue a track.',
      ),
    restartMinMs: z
      .int()
      .min(100)
      .max(600_000)
      .default(2_000)
      .describe(
        "First wait before a camera's analysis stream is opened again after it ended or failed, in ms; doubles each time.",
      ),
    restartMaxMs: z
      .int()
      .min(1_000)
      .max(3_600_000)
      .default(60_000)
      .describe("Longest wait between two tries to open a camera's analysis stream, in ms."),
  })
  .prefault({})
  .describe(
    'Person detection, tracking and flags (loitering, tailgating, multi-package grab) on the cameras that have zones or shelf slots.',
  );

export const siteSchema = z
  .strictObject({
    site: z
      .strictObject({
        id: id('site').default('demo'),
        name: z.string().min(1).max(120).default('Demo building').describe('Building name.'),
        timezone: z
          .string()
          .default('UTC')
          .refine(
            (tz) => {
              try {
                new Intl.DateTimeFormat('en', { timeZone: tz });
                return true;
              } catch {
                return false;
              }
            },
            { message: 'unknown IANA time zone' },
          )
          .describe('IANA time zone of the building, for schedules and reports.'),
      })
      .prefault({})
      .describe('The building this box serves.'),
    access: accessSchema,
    notifications: notificationsSchema,
    doors: z.array(doorSchema).min(1).max(64).describe('Doors into the package room.'),
    readers: z.array(readerSchema).max(128).default([]).describe('Card readers and keypads.'),
    cameras: z.array(cameraSchema).max(32).default([]).describe('Cameras.'),
    recording: recordingSchema,
    storage: storageSchema,
    analytics: analyticsSchema,
    compliance: complianceSchema,
  })
  .superRefine((site, ctx) => {
    // Cross-references a person can get wrong in a hand-written file; name the exact field.
    const unique = (items: { id: string }[], path: string) => {
      const seen = new Set<string>();
      items.forEach((item, i) => {
        if (seen.has(item.id))
          ctx.addIssue({
            code: 'custom',
            path: [path, i, 'id'],
            message: `duplicate id '${item.id}'`,
          });
        seen.add(item.id);
      });
    };
    site.access.formats.forEach((f, i) => {
      if (BUILTIN_FORMATS.some((b) => b.id === f.id))
        ctx.addIssue({
          code: 'custom',
          path: ['access', 'formats', i, 'id'],
          message: `'${f.id}' is a built-in format`,
        });
      for (const issue of validateFormat(f))
        ctx.addIssue({
          code: 'custom',
          path: ['access', 'formats', i, ...issue.path],
          message: issue.message,
        });
    });
    unique(site.doors, 'doors');
    unique(site.readers, 'readers');
    unique(site.cameras, 'cameras');
    const doorIds = new Set(site.doors.map((d) => d.id));
    site.readers.forEach((r, i) => {
      if (!doorIds.has(r.doorId))
        ctx.addIssue({
          code: 'custom',
          path: ['readers', i, 'doorId'],
          message: `no door with id '${r.doorId}'`,
        });
    });
    const cameraIds = new Set(site.cameras.map((c) => c.id));
    // A camera must get the chance to close a segment before it may be called offline.
    if (site.recording.offlineAfterMs <= site.recording.segmentSeconds * 2_000)
      ctx.addIssue({
        code: 'custom',
        path: ['recording', 'offlineAfterMs'],
        message: `must be more than twice recording.segmentSeconds (${site.recording.segmentSeconds * 2_000} ms), or cameras look offline between two segments`,
      });
    site.cameras.forEach((c, i) => {
      if (c.doorId !== undefined && !doorIds.has(c.doorId))
        ctx.addIssue({
          code: 'custom',
          path: ['cameras', i, 'doorId'],
          message: `no door with id '${c.doorId}'`,
        });
    });
    const storageIds = new Set<string>();
    const claim = (sid: string, path: (string | number)[]) => {
      if (storageIds.has(sid))
        ctx.addIssue({ code: 'custom', path, message: `storage id '${sid}' is used twice` });
      storageIds.add(sid);
    };
    site.storage.shelves.forEach((shelf, i) => {
      shelf.slots.forEach((slot, j) => {
        claim(slot.id, ['storage', 'shelves', i, 'slots', j, 'id']);
        if (slot.cameraId !== undefined && !cameraIds.has(slot.cameraId))
          ctx.addIssue({
            code: 'custom',
            path: ['storage', 'shelves', i, 'slots', j, 'cameraId'],
            message: `no camera with id '${slot.cameraId}'`,
          });
      });
    });
    if (site.analytics.restartMaxMs < site.analytics.restartMinMs)
      ctx.addIssue({
        code: 'custom',
        path: ['analytics', 'restartMaxMs'],
        message: `must be at least analytics.restartMinMs (${site.analytics.restartMinMs})`,
      });
    const roomZones = new Set(
      site.cameras.flatMap((c) => c.zones.filter((z) => z.kind === 'room').map((z) => z.id)),
    );
    for (const zoneId of Object.keys(site.analytics.loiteringZoneSeconds)) {
      if (!roomZones.has(zoneId))
        ctx.addIssue({
          code: 'custom',
          path: ['analytics', 'loiteringZoneSeconds', zoneId],
          message: `no camera has a room zone '${zoneId}'`,
        });
    }
    site.storage.lockers.forEach((l, i) => claim(l.id, ['storage', 'lockers', i, 'id']));
    claim(site.storage.oversized.id, ['storage', 'oversized', 'id']);
    claim(site.storage.overflow.id, ['storage', 'overflow', 'id']);
  })
  .describe('A Parcelroom site file.');

export type SiteConfig = z.infer<typeof siteSchema>;
export type DoorConfig = z.infer<typeof doorSchema>;
export type DoorDriverConfig = z.infer<typeof doorDriverSchema>;
export type ReaderConfig = z.infer<typeof readerSchema>;
export type CameraConfig = z.infer<typeof cameraSchema>;
export type RecordingConfig = z.infer<typeof recordingSchema>;
export type AnalyticsConfig = z.infer<typeof analyticsSchema>;
