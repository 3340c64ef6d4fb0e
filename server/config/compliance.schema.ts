import { z } from 'zod';

/**
 * Carrier compliance (site file `compliance`): how the door's record is read into carrier visits,
 * when a visit with nothing checked in becomes a "carrier drop" flag for staff, and what the
 * printed delivery instructions tell drivers.
 */
export const complianceSchema = z
  .strictObject({
    dropFlags: z
      .boolean()
      .default(true)
      .describe(
        'Raise a carrier_drop flag when a carrier code opened the door and nothing was checked in.',
      ),
    dropGraceMs: z
      .int()
      .min(60_000)
      .max(86_400_000)
      .default(600_000)
      .describe(
        'How long after a carrier visit ends a check-in may still arrive before the visit is flagged as a drop, in ms.',
      ),
    checkEveryMs: z
      .int()
      .min(5_000)
      .max(3_600_000)
      .default(60_000)
      .describe('How often ended carrier visits are checked for drops, in ms.'),
    visitGapMs: z
      .int()
      .min(0)
      .max(3_600_000)
      .default(300_000)
      .describe(
        'A carrier code opening the same door again within this long of the last visit is a re-entry of that visit (back from the van), in ms.',
      ),
    maxVisitMs: z
      .int()
      .min(60_000)
      .max(14_400_000)
      .default(1_800_000)
      .describe(
        "How long after a carrier's entry their exit through the door is looked for; a visit without a seen exit ends then, in ms.",
      ),
    deskContact: z
      .string()
      .trim()
      .min(1)
      .max(120)
      .optional()
      .describe(
        'Who a driver calls when the room is full or the kiosk is down (printed on the delivery instructions), e.g. "Front desk 555-0100".',
      ),
    fullRoomNote: z
      .string()
      .trim()
      .min(1)
      .max(500)
      .optional()
      .describe(
        'What a driver does when the room is full, printed on the delivery instructions instead of the standard text.',
      ),
  })
  .prefault({})
  .describe('Carrier compliance: visits, drop flags and the printed delivery instructions.');

export type ComplianceConfig = z.infer<typeof complianceSchema>;
