/**
 * The wire shape of carrier compliance (`GET /api/compliance`, `/api/compliance/instructions`),
 * shared with the console as types, so it imports nothing (times are ISO 8601 strings).
 */

export interface ComplianceFigures {
  visits: number;
  doorOpenings: number;
  /** Parcels checked in on these visits, plus the code's check-ins that no visit took. */
  parcels: number;
  /** Check-ins on the code that belong to no visit (no door opening found for them). */
  parcelsWithoutVisit: number;
  /** Parcels on visits ÷ visits; null without visits. */
  parcelsPerVisit: number | null;
  /** Parcels on visits ÷ door openings; null without openings. */
  parcelsPerOpening: number | null;
  /** Ended visits with no check-in, past the grace period. */
  drops: number;
  /** Ended visits with no check-in, still within the grace period. */
  pending: number;
  ongoing: number;
  /** Check-ins addressed to a unit, naming no resident. */
  withoutRecipient: number;
  /** …of which the unit had nobody living there at the time. */
  unitWithoutResident: number;
  avgTimeInRoomMs: number | null;
  medianTimeInRoomMs: number | null;
}

export interface CodeFigures extends ComplianceFigures {
  carrierCodeId: string;
  carrier: string;
}

export interface CarrierFigures extends ComplianceFigures {
  carrier: string;
  codes: CodeFigures[];
}

export interface DropVisit {
  /** The visit's id: its first grant (access event). */
  visitId: string;
  carrier: string;
  carrierCodeId: string;
  doorId: string;
  doorName: string;
  startAt: string;
  endAt: string;
  timeInRoomMs: number;
  openings: number;
  exitSeen: boolean;
  /** The carrier_drop flag the drop watch raised, if any yet. */
  flagId: string | null;
  flagStatus: string | null;
  /** The flag's clip, else the entry's clip; null when no camera watches the door. */
  clipUrl: string | null;
}

export interface ComplianceReport {
  from: string;
  to: string;
  generatedAt: string;
  dropGraceMs: number;
  totals: ComplianceFigures;
  carriers: CarrierFigures[];
  drops: DropVisit[];
}

/** What the printed delivery instructions need (`GET /api/compliance/instructions`). */
export interface InstructionSheet {
  site: { id: string; name: string };
  /** Base address the QR codes should carry, when the site file sets one; else the console's own. */
  publicUrl: string | null;
  codeLength: number;
  doors: { id: string; name: string; keypad: boolean; kioskPath: string }[];
  kioskEntryWindowMinutes: number;
  overflowLabel: string;
  oversizedLabel: string;
  deskContact: string | null;
  fullRoomNote: string | null;
}
