/**
 * Multi-package grab: the theft the audit log cannot see. "Resident 4B entered" is recorded, but
 * not that 4B walked out with 5C's parcel. During a visit (from the entry that let someone in
 * until nobody has been seen in the room for `visitEndMs`) the slot watch reports which shelf
 * slots went from occupied to empty; the server says whose parcels each slot held. A visitor who
 * empties a slot holding another resident's (or another unit's) parcels, or more slots than they
 * have parcels in, raises a `multi_package_grab` flag (severity high) tied to their entry and
 * credential. Slots emptied by their rightful owner are not a flag but evidence for the chain of
 * custody: they are reported as `likelyPickedUp`, so the server can note it on those parcels.
 *
 * Who counts as the rightful owner: a slot is the visitor's when every parcel in it is addressed
 * to the visitor or to the visitor's unit (a household collects for each other). Everyone who
 * entered during the visit is a visitor (two residents coming in together may each collect their
 * own). Carriers and staff hold no parcels, so anything they empty is flagged for review (staff
 * returning parcels to sender are confirmed or dismissed there; the rule treats everyone alike).
 *
 * When several slots are emptied at once (one reach along a shelf), their decisions come within
 * a moment of each other; the flag waits `gatherMs` after the first violating slot so one flag
 * names them all. A slot found emptied later in the same visit raises a follow-up flag.
 */
import {
  createEntryLog,
  entriesFrom,
  RuleConfigError,
  RuleInputError,
  validateEntry,
  type Entry,
  type EntryWho,
  type FlagBox,
  type FlagCandidate,
  type JsonObject,
  type Rule,
  type VisitContext,
} from './rules.types.ts';
import { SlotWatchError, type SlotDecision, type SlotWatch } from './slot.watch.ts';
import type { Frame, Track } from './vision.ports.ts';
import { PERSON_CLASS } from './yolo.decode.ts';

/** One checked-in parcel in a slot, as the server knows it. */
export interface SlotOwner {
  packageId: string;
  residentId?: string;
  unitId: string;
}

/** The server's view of the parcels on the shelves. Answers must be quick and synchronous. */
export interface SlotOwnership {
  /** Parcels checked in to the slot and not yet picked up. */
  owners(slotId: string): readonly SlotOwner[];
  /** The unit a resident lives in, or undefined when unknown. */
  unitOfResident(residentId: string): string | undefined;
}

/** A visitor as the evidence names them: the entry's resident and unit, or who it was. */
export interface Visitor {
  who: EntryWho | 'unknown';
  residentId: string | null;
  unit: string | null;
  entryEventId: string | null;
  credentialId: string | null;
}

/** Slots that emptied for their rightful owner: their parcels were likely picked up. */
export interface LikelyPickedUp {
  slotId: string;
  label: string;
  cameraId: string;
  /** When the slot was judged emptied (ms). */
  at: number;
  packages: SlotOwner[];
  visitor: Visitor;
  entryEventId: string | null;
  decision: SlotDecision;
}

export interface GrabRuleEvents {
  likelyPickedUp(report: LikelyPickedUp): void;
  /**
   * A slot changed with no visit to pin it on (nobody entered or was seen): a camera knocked,
   * a missed person, a parcel moved by the shelf's own sag. Staff should look at the slot.
   */
  unexplainedChange(decision: SlotDecision): void;
}

export interface GrabRuleOptions {
  watch: SlotWatch;
  ownership: SlotOwnership;
  events: GrabRuleEvents;
  /** Cameras whose person tracks mean "someone is in the room" (default: the slots' cameras). */
  cameraIds?: readonly string[];
  /** Doors whose grants let people into this room; unset or empty = any door. */
  doorIds?: readonly string[];
  /** A visit ends when no person has been seen for this long (ms, default 15 s). */
  visitEndMs?: number;
  /** An ended visit still takes slot decisions about its time for this long (ms, default 60 s). */
  attributionGraceMs?: number;
  /** A grant this long before a person was first seen still opened their visit (ms, 30 s). */
  entryLookbackMs?: number;
  /** Wait after the first violating slot for others decided at nearly the same time (ms, 1 s). */
  gatherMs?: number;
  /** Video before the visit (or the slot's last good look) and after the flag (ms, 5 s each). */
  clipPreMs?: number;
  clipPostMs?: number;
  /** The server's record of entries, for grants the rule was not pushed. */
  visits?: VisitContext;
}

export type SlotRole = 'own' | 'other_resident' | 'unknown_owner';
export type GrabReason = 'other_residents_parcels' | 'more_slots_than_owned';

interface EmptiedSlot {
  decision: SlotDecision;
  owners: SlotOwner[];
  role: SlotRole;
}

interface Visit {
  startAt: number;
  entries: Entry[];
  /** Last time a person was seen (or an entry granted): the visit's end is measured from it. */
  lastPresenceAt: number;
  endedAt: number | null;
  /** Owners of every slot when the visit began: later pick-ups by the server do not rewrite them. */
  owners: Map<string, SlotOwner[]>;
  emptied: EmptiedSlot[];
  changed: SlotDecision[];
  personTrackIds: Set<number>;
  /** Violating slots already named in a flag. */
  flaggedSlotIds: Set<string>;
  /** A flag is being gathered since this time (ms), or null. */
  gatherSince: number | null;
  flagsRaised: number;
}

const DEFAULTS = {
  visitEndMs: 15_000,
  attributionGraceMs: 60_000,
  entryLookbackMs: 30_000,
  gatherMs: 1000,
  clipPreMs: 5000,
  clipPostMs: 5000,
};

const ownerJson = (o: SlotOwner): JsonObject => ({
  packageId: o.packageId,
  residentId: o.residentId ?? null,
  unitId: o.unitId,
});

const visitorJson = (v: Visitor): JsonObject => ({ ...v });

export function createGrabRule(options: GrabRuleOptions): Rule {
  const o = { ...DEFAULTS };
  for (const k of Object.keys(DEFAULTS) as (keyof typeof DEFAULTS)[]) {
    const v = options[k];
    if (v === undefined) continue;
    if (!Number.isFinite(v) || v < 0) {
      throw new RuleConfigError(`multi-package grab option ${k} must be ms ≥ 0, got ${v}`);
    }
    o[k] = v;
  }
  const { watch, ownership, events } = options;
  const slotCameras = new Set(watch.slots.map((s) => s.cameraId));
  const roomCameras = new Set(options.cameraIds ?? slotCameras);
  if (roomCameras.size === 0) {
    throw new RuleConfigError('multi-package grab needs at least one camera (no slot has one)');
  }
  const doors = options.doorIds?.length ? new Set(options.doorIds) : null;
  const log = createEntryLog();
  const visits: Visit[] = [];
  let clock = -Infinity;

  const openVisit = (): Visit | undefined => visits.find((v) => v.endedAt === null);

  const visitorsOf = (v: Visit): Visitor[] =>
    v.entries.map((e) => ({
      who: e.who,
      residentId: e.residentId ?? null,
      unit: e.residentId !== undefined ? (ownership.unitOfResident(e.residentId) ?? null) : null,
      entryEventId: e.eventId,
      credentialId: e.credentialId ?? null,
    }));

  const nobody: Visitor = {
    who: 'unknown',
    residentId: null,
    unit: null,
    entryEventId: null,
    credentialId: null,
  };

  const belongsTo = (owner: SlotOwner, visitors: readonly Visitor[]) =>
    visitors.some(
      (p) =>
        (p.residentId !== null && owner.residentId === p.residentId) ||
        (p.unit !== null && owner.unitId === p.unit),
    );

  const startVisit = (at: number, entries: Entry[]): Visit => {
    const owners = new Map<string, SlotOwner[]>();
    for (const s of watch.slots) owners.set(s.id, [...ownership.owners(s.id)]);
    const v: Visit = {
      startAt: at,
      entries,
      lastPresenceAt: at,
      endedAt: null,
      owners,
      emptied: [],
      changed: [],
      personTrackIds: new Set(),
      flaggedSlotIds: new Set(),
      gatherSince: null,
      flagsRaised: 0,
    };
    visits.push(v);
    return v;
  };

  const addEntry = (v: Visit, e: Entry) => {
    if (v.entries.some((x) => x.eventId === e.eventId)) return;
    v.entries.push(e);
    v.entries.sort((a, b) => a.at - b.at);
    v.startAt = Math.min(v.startAt, e.at);
    v.lastPresenceAt = Math.max(v.lastPresenceAt, e.at);
  };

  /** The latest visit whose time overlaps the window in which the slot changed. */
  const visitFor = (d: SlotDecision): Visit | undefined => {
    for (let i = visits.length - 1; i >= 0; i--) {
      const v = visits[i]!;
      const end = v.endedAt === null ? Infinity : v.lastPresenceAt;
      if (v.startAt <= d.changeSeenAt && d.lastSeenUnchangedAt <= end) return v;
    }
    return undefined;
  };

  const ownersIn = (v: Visit, slotId: string): SlotOwner[] => {
    const known = v.owners.get(slotId);
    // A parcel checked in during the visit is not in the snapshot: ask now.
    return known && known.length > 0 ? known : [...ownership.owners(slotId)];
  };

  const onDecision = (d: SlotDecision) => {
    const v = visitFor(d);
    if (!v) {
      events.unexplainedChange(d);
      return;
    }
    switch (d.kind) {
      case 'changed':
        v.changed.push(d);
        return;
      case 'emptied':
        break;
    }
    const visitors = visitorsOf(v);
    const owners = ownersIn(v, d.slotId);
    const role: SlotRole =
      owners.length === 0
        ? 'unknown_owner'
        : owners.every((w) => belongsTo(w, visitors))
          ? 'own'
          : 'other_resident';
    v.emptied.push({ decision: d, owners, role });
    if (role === 'own') {
      const visitor =
        visitors.find((p) => owners.some((w) => belongsTo(w, [p]))) ?? visitors[0] ?? nobody;
      events.likelyPickedUp({
        slotId: d.slotId,
        label: d.label,
        cameraId: d.cameraId,
        at: d.at,
        packages: owners,
        visitor,
        entryEventId: visitor.entryEventId,
        decision: d,
      });
    }
    if (reasonsOf(v, visitors).length > 0 && unflagged(v).length > 0) v.gatherSince ??= d.at;
  };

  /** Slots the visitors had parcels in when the visit began (or that were checked in since). */
  const ownedSlotCount = (v: Visit, visitors: readonly Visitor[]) => {
    let n = 0;
    for (const s of watch.slots) {
      const owners = ownersIn(v, s.id);
      if (owners.some((w) => belongsTo(w, visitors))) n++;
    }
    return n;
  };

  const reasonsOf = (v: Visit, visitors: readonly Visitor[]): GrabReason[] => {
    const out: GrabReason[] = [];
    if (v.emptied.some((e) => e.role === 'other_resident')) out.push('other_residents_parcels');
    if (v.emptied.length > ownedSlotCount(v, visitors)) out.push('more_slots_than_owned');
    return out;
  };

  /** Emptied slots that make the visit a grab and are not yet in a flag. */
  const unflagged = (v: Visit) =>
    v.emptied.filter((e) => e.role !== 'own' && !v.flaggedSlotIds.has(e.decision.slotId));

  const flagOf = (v: Visit, at: number): FlagCandidate => {
    const visitors = visitorsOf(v);
    const primary = visitors[0] ?? nobody;
    const reasons = reasonsOf(v, visitors);
    const fresh = unflagged(v);
    const first = fresh[0]!.decision;
    const cameraId = first.cameraId;
    const boxes: FlagBox[] = [];
    const trackIds = new Set<number>();
    for (const e of v.emptied) {
      const d = e.decision;
      for (const occ of d.occluders) trackIds.add(occ.trackId);
      if (d.cameraId !== cameraId) continue;
      const whose = [...new Set(e.owners.map((w) => w.unitId))].join(', ');
      boxes.push({
        box: d.bounds,
        label: `slot ${d.label} emptied${whose ? ` (${whose})` : ''}`,
      });
      for (const occ of d.occluders) {
        boxes.push({ box: occ.box, label: `person ${occ.trackId}`, trackId: occ.trackId });
      }
    }
    if (trackIds.size === 0) for (const id of v.personTrackIds) trackIds.add(id);
    const lastGoodLook = Math.min(...fresh.map((e) => e.decision.lastSeenUnchangedAt));
    for (const e of fresh) v.flaggedSlotIds.add(e.decision.slotId);
    v.flagsRaised++;
    const ownedCount = ownedSlotCount(v, visitors);
    return {
      kind: 'multi_package_grab',
      severity: 'high',
      cameraId,
      at,
      ...(primary.entryEventId !== null ? { entryEventId: primary.entryEventId } : {}),
      ...(primary.credentialId !== null ? { credentialId: primary.credentialId } : {}),
      clipWindow: {
        startAt: Math.max(v.startAt, lastGoodLook) - o.clipPreMs,
        endAt: at + o.clipPostMs,
      },
      trackIds: [...trackIds].sort((a, b) => a - b),
      boxes,
      evidence: {
        slots: v.emptied.map((e) => ({
          slotId: e.decision.slotId,
          label: e.decision.label,
          cameraId: e.decision.cameraId,
          owners: e.owners.map(ownerJson),
          role: e.role,
          emptiedAt: e.decision.at,
          basis: e.decision.basis,
          score: Math.round(e.decision.score.score * 1000) / 1000,
        })),
        visitor: visitorJson(primary),
        visitors: visitors.map(visitorJson),
        entryEventId: primary.entryEventId,
        credentialId: primary.credentialId,
        reasons,
        emptiedSlotCount: v.emptied.length,
        ownedSlotCount: ownedCount,
        changedSlots: v.changed.map((d) => ({ slotId: d.slotId, label: d.label })),
        visitStartedAt: v.startAt,
        followUp: v.flagsRaised > 1,
      },
    };
  };

  const collectFlags = (at: number): FlagCandidate[] => {
    const out: FlagCandidate[] = [];
    for (const v of visits) {
      if (v.gatherSince === null || at - v.gatherSince < o.gatherMs) continue;
      v.gatherSince = null;
      if (unflagged(v).length > 0) out.push(flagOf(v, at));
    }
    return out;
  };

  const closeAndPrune = (at: number) => {
    const v = openVisit();
    if (v && at - v.lastPresenceAt >= o.visitEndMs) v.endedAt = v.lastPresenceAt + o.visitEndMs;
    for (let i = visits.length - 1; i >= 0; i--) {
      const x = visits[i]!;
      if (x.endedAt !== null && x.gatherSince === null && at - x.endedAt > o.attributionGraceMs) {
        visits.splice(i, 1);
      }
    }
    log.prune(at - o.entryLookbackMs - o.attributionGraceMs);
  };

  return {
    name: 'multi-package-grab',
    onEntry(entry) {
      validateEntry(entry);
      if (doors && !doors.has(entry.doorId)) return;
      log.add(entry);
      const v = openVisit();
      if (v) addEntry(v, { ...entry });
      else startVisit(entry.at, [{ ...entry }]);
    },
    update(cameraId, tracks, atMs, frame?: Frame) {
      if (!Number.isFinite(atMs)) {
        throw new RuleInputError(`multi-package grab: update time must be ms, got ${atMs}`);
      }
      if (frame && frame.cameraId !== cameraId) {
        throw new RuleInputError(
          `multi-package grab: frame of camera ${frame.cameraId} given for camera ${cameraId}`,
        );
      }
      clock = Math.max(clock, atMs);
      const persons = tracks.filter(
        (t: Track) => t.classId === PERSON_CLASS && t.cameraId === cameraId,
      );
      if (roomCameras.has(cameraId) && persons.length > 0) {
        let v = openVisit();
        if (!v) {
          // Someone is in the room: the grants just before they appeared are their visit.
          const recent = entriesFrom([log, options.visits], atMs - o.entryLookbackMs, atMs).filter(
            (e) => !doors || doors.has(e.doorId),
          );
          const claimed = new Set(visits.flatMap((x) => x.entries.map((e) => e.eventId)));
          const mine = recent.filter((e) => !claimed.has(e.eventId));
          v = startVisit(Math.min(atMs, ...mine.map((e) => e.at)), mine);
        }
        v.lastPresenceAt = Math.max(v.lastPresenceAt, atMs);
        for (const t of persons) v.personTrackIds.add(t.id);
      }
      if (frame && slotCameras.has(cameraId)) {
        let m;
        try {
          m = watch.measure(frame, tracks);
        } catch (err) {
          if (err instanceof SlotWatchError) {
            throw new RuleInputError(`multi-package grab: ${err.message}`, { cause: err });
          }
          throw err;
        }
        switch (m.status) {
          case 'measured':
            for (const d of m.decisions) onDecision(d);
            break;
          case 'ignored':
            break;
        }
      }
      const flags = collectFlags(clock);
      closeAndPrune(clock);
      return flags;
    },
  };
}
