/**
 * The words the analytics rules share: the door entries the server feeds in, the flags the rules
 * raise, and the `Rule` port the pipeline drives. Loitering and tailgating live beside this file;
 * the multi-package-grab slot watcher plugs in through the same port.
 *
 * Every time here is a server timestamp in ms (frame times, entry times): a rule never counts
 * frames, so a camera that drops to 2 fps for a while gives the same answers in seconds.
 */
import type { Box, Frame, Track } from './vision.ports.ts';

// ---------------------------------------------------------------------------------------------
// Door entries

/** Who a granted entry was for: the rules treat staff like anyone else, the reviewer sees it. */
export type EntryWho = 'resident' | 'carrier' | 'staff';

/**
 * A granted door entry, as the access side recorded it: the audit log's "Resident 4B entered",
 * which the rules tie to the people the camera saw walk in.
 */
export interface Entry {
  /** The access event's id (the `GET /api/events` row), so a flag links to it. */
  eventId: string;
  /** When access was granted (ms, server clock). */
  at: number;
  doorId: string;
  /** Cameras that watch this door, when the server knows them (informational). */
  cameraIds?: readonly string[];
  who: EntryWho;
  residentId?: string;
  credentialId?: string;
  carrierCodeId?: string;
}

/**
 * Where a rule looks up entries it was not pushed (e.g. grants from before the pipeline started,
 * kept in the server's database). Answers must be quick and synchronous: rules run per frame.
 */
export interface VisitContext {
  /** Granted entries with `fromMs <= at <= toMs`, at one door or any door, oldest first. */
  entriesBetween(fromMs: number, toMs: number, doorId?: string): readonly Entry[];
}

/** An in-memory entry record: what `Rule.onEntry` feeds, readable as a VisitContext. */
export interface EntryLog extends VisitContext {
  /** Adds an entry (a repeat of an eventId replaces the earlier one). Bad input throws. */
  add(entry: Entry): void;
  /** Forgets entries granted before `beforeMs` (rules call it with their longest look-back). */
  prune(beforeMs: number): void;
  size(): number;
}

export class RuleInputError extends Error {
  override readonly name = 'RuleInputError';
}

export class RuleConfigError extends Error {
  override readonly name = 'RuleConfigError';
}

const ENTRY_WHO: ReadonlySet<string> = new Set<EntryWho>(['resident', 'carrier', 'staff']);

/** Throws a RuleInputError naming the field when an entry cannot be used. */
export function validateEntry(entry: Entry): void {
  const id = typeof entry?.eventId === 'string' ? entry.eventId : '?';
  if (typeof entry?.eventId !== 'string' || entry.eventId === '') {
    throw new RuleInputError('entry eventId must be a non-empty string');
  }
  if (typeof entry.at !== 'number' || !Number.isFinite(entry.at)) {
    throw new RuleInputError(`entry ${id}: at must be a time in ms, got ${String(entry.at)}`);
  }
  if (typeof entry.doorId !== 'string' || entry.doorId === '') {
    throw new RuleInputError(`entry ${id}: doorId must be a non-empty string`);
  }
  if (!ENTRY_WHO.has(entry.who)) {
    throw new RuleInputError(
      `entry ${id}: who must be resident, carrier or staff, got ${String(entry.who)}`,
    );
  }
}

export function createEntryLog(): EntryLog {
  // Kept sorted by time: entries arrive nearly in order, so insertion is at or near the end.
  let entries: Entry[] = [];
  return {
    add(entry) {
      validateEntry(entry);
      entries = entries.filter((e) => e.eventId !== entry.eventId);
      const copy: Entry = { ...entry };
      let i = entries.length;
      while (i > 0 && entries[i - 1]!.at > copy.at) i--;
      entries.splice(i, 0, copy);
    },
    prune(beforeMs) {
      entries = entries.filter((e) => e.at >= beforeMs);
    },
    size: () => entries.length,
    entriesBetween(fromMs, toMs, doorId) {
      return entries.filter(
        (e) => e.at >= fromMs && e.at <= toMs && (doorId === undefined || e.doorId === doorId),
      );
    },
  };
}

/**
 * Entries from the rule's own log and, when given, the server's record, without repeats (the
 * same grant is often both pushed and stored), oldest first.
 */
export function entriesFrom(
  sources: readonly (VisitContext | undefined)[],
  fromMs: number,
  toMs: number,
  doorId?: string,
): Entry[] {
  const byId = new Map<string, Entry>();
  for (const s of sources) {
    if (!s) continue;
    for (const e of s.entriesBetween(fromMs, toMs, doorId)) byId.set(e.eventId, e);
  }
  return [...byId.values()].sort((a, b) => a.at - b.at || a.eventId.localeCompare(b.eventId));
}

// ---------------------------------------------------------------------------------------------
// Flags

export type FlagKind = 'loitering' | 'multi_package_grab' | 'tailgating';
export type FlagSeverity = 'low' | 'medium' | 'high';

/** Plain JSON, so evidence goes to the database, the console and webhooks unchanged. */
export type JsonValue =
  string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };
export type JsonObject = { readonly [key: string]: JsonValue };

/** The span of recorded video a reviewer needs to judge the flag (ms, server clock). */
export interface ClipWindow {
  startAt: number;
  endAt: number;
}

/** A box to draw on the flag's snapshot, in pixels of the analysed frame. */
export interface FlagBox {
  box: Box;
  /** What to write by it, e.g. "person 7 (2 min)". */
  label: string;
  trackId?: number;
}

/** What a rule raises; the server stores it as a flag, attaches the clip and the snapshot. */
export interface FlagCandidate {
  kind: FlagKind;
  severity: FlagSeverity;
  cameraId: string;
  /** When the rule decided (the frame time), ms. */
  at: number;
  /** The granted entry this flag belongs to (the visit, or the grant that was tailgated). */
  entryEventId?: string;
  credentialId?: string;
  clipWindow: ClipWindow;
  trackIds: number[];
  /** Boxes for the snapshot, in pixels of the frame the flag was decided on. */
  boxes: FlagBox[];
  /** Rule-specific, plain JSON: dwell time, counts, slots and their owners... */
  evidence: JsonObject;
}

// ---------------------------------------------------------------------------------------------
// The rule port

/**
 * One analytics rule. The pipeline calls `update` once per analysed frame, in frame-time order,
 * with every live track of that camera (all classes; rules pick what they need), and `onEntry`
 * as grants happen. A rule keeps its own state and must not raise the same flag twice.
 * Errors: bad input throws a RuleInputError; the pipeline counts it and carries on with the
 * other rules, so one broken rule never blinds the rest.
 */
export interface Rule {
  /** Short name for logs and stats ("loitering", "tailgating", "slot-watch"). */
  readonly name: string;
  /**
   * @param cameraId the camera the tracks come from
   * @param tracks live tracks after this frame (tentative, confirmed and briefly lost)
   * @param atMs the frame's time (ms, server clock)
   * @param frame the analysed picture (size for zones; pixels for rules that look at slots)
   */
  update(cameraId: string, tracks: readonly Track[], atMs: number, frame?: Frame): FlagCandidate[];
  /** A granted door entry (any door; rules keep what concerns their cameras). */
  onEntry(entry: Entry): void;
}

/** The frame size a rule judges zones in: the frame's, else the configured one, else an error. */
export function frameSizeFor(
  ruleName: string,
  cameraId: string,
  frame: Frame | undefined,
  configured: { width: number; height: number } | undefined,
): { width: number; height: number } {
  const size = frame ?? configured;
  if (
    !size ||
    !(Number.isFinite(size.width) && size.width > 0) ||
    !(Number.isFinite(size.height) && size.height > 0)
  ) {
    throw new RuleInputError(
      `${ruleName}: camera ${cameraId} update has no frame and no configured frameSize, so its zones cannot be judged`,
    );
  }
  return { width: size.width, height: size.height };
}
