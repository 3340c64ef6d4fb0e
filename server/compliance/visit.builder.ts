/**
 * Carrier visits from the door's own record: a carrier types their delivery code, the door opens
 * on that grant, closes behind them, they check parcels in at the kiosk and leave. Pure: access
 * events and check-ins in, visits out, so the compliance report and the drop watch read the same
 * visits and tests can throw any interleaving at it.
 *
 * In the room's words:
 * - An **opening** is a `door_opened` that a carrier code's grant caused (`cause: 'grant'` with a
 *   `carrierCodeId`); a grant whose door never opened (`no_entry`) is no visit.
 * - A **visit** is one carrier code at one door: its first opening, plus every further opening on
 *   the same code at the same door that starts within `visitGapMs` of the visit's last sign of
 *   life (carriers go back to the van and type the code again: that is a re-entry, not a second
 *   delivery).
 * - **Leaving**: the room has free egress, so the carrier leaves through the door without a
 *   grant: the next opening of that door by the exit button or from inside (`rex`, `forced`)
 *   after their entry closed, before anybody else's grant opens it and within `maxVisitMs` of the
 *   entry. Without one seen, the visit ends when their entry closed (or at their last check-in).
 * - **Time in the room**: from the first opening to the end of the visit — the door closing
 *   after they left, or their last check-in if later.
 * - **Check-ins** bind to the visit of the grant the kiosk session was opened on
 *   (`packages.entry_event_id`); one without that binding (or bound to a grant whose door never
 *   opened) goes to the latest visit of its code that started before it, within `bindSlackMs`
 *   of that visit's end. Otherwise it is counted for the code but belongs to no visit.
 * - A visit is **ongoing** while its entry door is open or while it may still see its exit.
 *
 * Events must come sorted by time, then id (the order the journal wrote them).
 */

export interface VisitEvent {
  id: string;
  at: number;
  type: string;
  doorId: string | null;
  decision?: string | null;
  carrierCodeId: string | null;
  details: Record<string, unknown>;
}

export interface VisitCheckIn {
  packageId: string;
  at: number;
  carrierCodeId: string;
  /** The grant (`access` event) the kiosk session was bound to; null for none. */
  entryEventId: string | null;
  residentId: string | null;
}

export interface VisitOptions {
  /** A further opening on the same code and door this soon after the visit's last activity joins it. */
  visitGapMs: number;
  /** How long after the entry the carrier's exit is looked for; also how long a visit may stay ongoing. */
  maxVisitMs: number;
  /** A check-in without an entry binding joins its code's visit up to this long after its end. */
  bindSlackMs: number;
  /** Domain time now: decides which visits are still ongoing. */
  now: number;
}

export interface CarrierVisit {
  /** The grant event of the first opening: stable, so a drop flag is raised once per visit. */
  id: string;
  carrierCodeId: string;
  doorId: string;
  /** Grants (access event ids) whose openings make up the visit, in order. */
  grantEventIds: string[];
  openings: number;
  /** The first opening. */
  startAt: number;
  /** The end as far as known: the door closing after they left, else the last entry close. */
  endAt: number;
  /** Whether the door was seen opening from inside after the carrier came in. */
  exitSeen: boolean;
  ongoing: boolean;
  /** Check-ins bound to this visit, in time order. */
  checkIns: VisitCheckIn[];
  /** endAt − startAt, counting a later check-in; null while ongoing. */
  timeInRoomMs: number | null;
}

export interface VisitResult {
  visits: CarrierVisit[];
  /** Check-ins by a carrier code that no visit could take. */
  unbound: VisitCheckIn[];
}

interface Building {
  visit: CarrierVisit;
  /** Last sign of life before leaving: entry close, exit close. */
  lastActivityAt: number;
  /** The entry door is open now (no close seen yet). */
  entryOpen: boolean;
  /** Looking for the carrier's exit through this door. */
  awaitingExit: boolean;
  /** The exit opening is open (seen opening, not yet closed). */
  exitOpen: boolean;
  /** When the current exit search gives up. */
  exitDeadline: number;
  lastEntryAt: number;
}

const EXIT_CAUSES: ReadonlySet<string> = new Set(['rex', 'forced', 'fail_safe']);

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** Openings of the door a carrier's grant caused. */
function isCarrierEntry(e: VisitEvent): boolean {
  return (
    e.type === 'door_opened' &&
    e.carrierCodeId !== null &&
    (e.details['cause'] === 'grant' || e.details['entry'] === true)
  );
}

export function buildVisits(
  events: readonly VisitEvent[],
  checkIns: readonly VisitCheckIn[],
  opts: VisitOptions,
): VisitResult {
  const visits: Building[] = [];
  /** The visit whose door state this door's events move, per door. */
  const atDoor = new Map<string, Building>();
  /** Latest visit per code and door, for re-entries. */
  const latest = new Map<string, Building>();
  const grantToVisit = new Map<string, Building>();

  /** Past the exit deadline: stop looking for the exit. */
  const expire = (b: Building, at: number) => {
    if (b.awaitingExit && at > b.exitDeadline) b.awaitingExit = false;
  };

  for (const e of events) {
    if (!e.doorId) continue;
    const door = e.doorId;
    const current = atDoor.get(door);
    if (current) expire(current, e.at);

    if (isCarrierEntry(e)) {
      const code = e.carrierCodeId!;
      const grantId = str(e.details['accessEventId']) ?? e.id;
      const key = `${code}\u0000${door}`;
      const prev = latest.get(key);
      let b: Building;
      if (prev && e.at - prev.lastActivityAt <= opts.visitGapMs) {
        b = prev;
        b.visit.openings++;
        if (!b.visit.grantEventIds.includes(grantId)) b.visit.grantEventIds.push(grantId);
      } else {
        b = {
          visit: {
            id: grantId,
            carrierCodeId: code,
            doorId: door,
            grantEventIds: [grantId],
            openings: 1,
            startAt: e.at,
            endAt: e.at,
            exitSeen: false,
            ongoing: false,
            checkIns: [],
            timeInRoomMs: null,
          },
          lastActivityAt: e.at,
          entryOpen: true,
          awaitingExit: false,
          exitOpen: false,
          exitDeadline: e.at + opts.maxVisitMs,
          lastEntryAt: e.at,
        };
        visits.push(b);
        latest.set(key, b);
      }
      // Whoever was waiting for an exit through this door: this opening let someone in instead.
      if (current && current !== b) {
        current.awaitingExit = false;
        current.exitOpen = false;
      }
      b.entryOpen = true;
      b.exitOpen = false;
      b.awaitingExit = false;
      b.lastEntryAt = e.at;
      b.exitDeadline = e.at + opts.maxVisitMs;
      b.lastActivityAt = Math.max(b.lastActivityAt, e.at);
      grantToVisit.set(grantId, b);
      atDoor.set(door, b);
      continue;
    }

    if (e.type === 'door_opened') {
      if (!current) continue;
      const cause = str(e.details['cause']);
      if (current.awaitingExit && cause !== null && EXIT_CAUSES.has(cause)) {
        current.exitOpen = true;
        current.visit.exitSeen = true;
        current.lastActivityAt = e.at;
        current.visit.endAt = Math.max(current.visit.endAt, e.at);
      } else {
        // Someone else came in (a resident's card, staff): the carrier's exit cannot be told.
        current.awaitingExit = false;
        current.exitOpen = false;
        atDoor.delete(door);
      }
      continue;
    }

    if (e.type === 'door_closed') {
      if (!current) continue;
      if (current.entryOpen) {
        current.entryOpen = false;
        current.awaitingExit = true;
        current.lastActivityAt = Math.max(current.lastActivityAt, e.at);
        current.visit.endAt = Math.max(current.visit.endAt, e.at);
      } else if (current.exitOpen) {
        current.exitOpen = false;
        current.awaitingExit = false;
        current.lastActivityAt = Math.max(current.lastActivityAt, e.at);
        current.visit.endAt = Math.max(current.visit.endAt, e.at);
        atDoor.delete(door);
      }
    }
  }

  // Still open or still possibly inside at `now`.
  for (const b of visits) {
    expire(b, opts.now);
    b.visit.ongoing = b.entryOpen || b.exitOpen || b.awaitingExit;
  }

  // Check-ins: the kiosk's binding first, then the code's visit around that time.
  const byCode = new Map<string, Building[]>();
  for (const b of visits) {
    const list = byCode.get(b.visit.carrierCodeId) ?? [];
    list.push(b);
    byCode.set(b.visit.carrierCodeId, list);
  }
  const unbound: VisitCheckIn[] = [];
  const sorted = [...checkIns].sort((a, b) => a.at - b.at || (a.packageId < b.packageId ? -1 : 1));
  for (const c of sorted) {
    let b = c.entryEventId ? grantToVisit.get(c.entryEventId) : undefined;
    if (b && b.visit.carrierCodeId !== c.carrierCodeId) b = undefined;
    if (!b) {
      const candidates = byCode.get(c.carrierCodeId) ?? [];
      for (let i = candidates.length - 1; i >= 0; i--) {
        const v = candidates[i]!;
        if (v.visit.startAt > c.at) continue;
        const end = v.visit.ongoing ? opts.now : v.visit.endAt;
        if (c.at <= end + opts.bindSlackMs) b = v;
        break;
      }
    }
    if (b) b.visit.checkIns.push(c);
    else unbound.push(c);
  }

  for (const b of visits) {
    const v = b.visit;
    const lastCheckIn = v.checkIns.reduce((m, c) => Math.max(m, c.at), v.endAt);
    v.endAt = Math.max(v.endAt, lastCheckIn);
    v.timeInRoomMs = v.ongoing ? null : v.endAt - v.startAt;
  }
  return { visits: visits.map((b) => b.visit), unbound };
}

/** Median of a list of numbers (mean of the middle two for an even count); null when empty. */
export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Mean, or null when empty. */
export function mean(values: readonly number[]): number | null {
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}
