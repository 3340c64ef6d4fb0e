import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildVisits,
  median,
  type VisitCheckIn,
  type VisitEvent,
  type VisitOptions,
} from './visit.builder.ts';

const T0 = Date.UTC(2026, 10, 16, 8, 0, 0);
const OPTS: VisitOptions = {
  visitGapMs: 300_000,
  maxVisitMs: 1_800_000,
  bindSlackMs: 900_000,
  now: T0 + 30 * 86_400_000,
};

/** Builds one door's events the way the door machine and the decider write them. */
function doorScript(door: string) {
  const events: VisitEvent[] = [];
  let n = 0;
  const ev = (at: number, type: string, extra: Partial<VisitEvent> = {}) => {
    const id = `${door}-${String(n++).padStart(4, '0')}`;
    events.push({
      id,
      at,
      type,
      doorId: door,
      carrierCodeId: null,
      details: {},
      ...extra,
    });
    return id;
  };
  return {
    events,
    /** A carrier code granted and the door opened on it: returns the grant's id. */
    carrierIn(code: string, at: number) {
      const grant = ev(at, 'access', { decision: 'granted', carrierCodeId: code });
      ev(at + 1_000, 'door_opened', {
        carrierCodeId: code,
        details: { cause: 'grant', entry: true, accessEventId: grant },
      });
      return grant;
    },
    grantOnly(code: string, at: number) {
      return ev(at, 'access', { decision: 'granted', carrierCodeId: code });
    },
    residentIn(at: number) {
      const grant = ev(at, 'access', { decision: 'granted' });
      ev(at + 500, 'door_opened', {
        details: { cause: 'grant', entry: true, accessEventId: grant },
      });
    },
    opened(at: number, cause: string) {
      ev(at, 'door_opened', { details: { cause, entry: false } });
    },
    closed(at: number) {
      ev(at, 'door_closed', { details: { cause: 'grant' } });
    },
  };
}

const checkIn = (
  id: string,
  at: number,
  code: string,
  entryEventId: string | null,
  residentId: string | null = 'r1',
): VisitCheckIn => ({ packageId: id, at, carrierCodeId: code, entryEventId, residentId });

const byTime = (a: VisitEvent, b: VisitEvent) => a.at - b.at || (a.id < b.id ? -1 : 1);

describe('carrier visits from the door record', () => {
  it('reads grant → open → close → check-ins → exit as one visit with its time in the room', () => {
    const d = doorScript('front');
    const grant = d.carrierIn('ups1', T0);
    d.closed(T0 + 4_000);
    d.opened(T0 + 180_000, 'rex');
    d.closed(T0 + 183_000);
    const out = buildVisits(
      d.events,
      [checkIn('p1', T0 + 60_000, 'ups1', grant), checkIn('p2', T0 + 90_000, 'ups1', grant, null)],
      OPTS,
    );
    expect(out.unbound).toEqual([]);
    expect(out.visits).toHaveLength(1);
    expect(out.visits[0]).toMatchObject({
      id: grant,
      carrierCodeId: 'ups1',
      doorId: 'front',
      openings: 1,
      startAt: T0 + 1_000,
      endAt: T0 + 183_000,
      exitSeen: true,
      ongoing: false,
      timeInRoomMs: 182_000,
    });
    expect(out.visits[0]!.checkIns.map((c) => c.packageId)).toEqual(['p1', 'p2']);
  });

  it('keeps a visit ongoing while the carrier may still be inside, then ends it at the entry close', () => {
    const d = doorScript('front');
    d.carrierIn('ups1', T0);
    d.closed(T0 + 4_000);
    const early = buildVisits(d.events, [], { ...OPTS, now: T0 + 60_000 });
    expect(early.visits[0]).toMatchObject({ ongoing: true, timeInRoomMs: null });
    const late = buildVisits(d.events, [], { ...OPTS, now: T0 + OPTS.maxVisitMs + 2_000 });
    expect(late.visits[0]).toMatchObject({
      ongoing: false,
      exitSeen: false,
      endAt: T0 + 4_000,
      timeInRoomMs: 3_000,
    });
  });

  it('is ongoing while the door it opened is still open', () => {
    const d = doorScript('front');
    d.carrierIn('ups1', T0);
    const out = buildVisits(d.events, [], { ...OPTS, now: T0 + 10 * OPTS.maxVisitMs });
    expect(out.visits[0]).toMatchObject({ ongoing: true });
  });

  it('joins a re-entry on the same code within the gap; a later one is a new visit', () => {
    const d = doorScript('front');
    const g1 = d.carrierIn('fedex', T0);
    d.closed(T0 + 3_000);
    d.opened(T0 + 60_000, 'rex');
    d.closed(T0 + 62_000);
    const g2 = d.carrierIn('fedex', T0 + 62_000 + OPTS.visitGapMs - 5_000);
    d.closed(T0 + 62_000 + OPTS.visitGapMs);
    d.opened(T0 + 62_000 + OPTS.visitGapMs + 30_000, 'forced');
    d.closed(T0 + 62_000 + OPTS.visitGapMs + 31_000);
    const g3 = d.carrierIn('fedex', T0 + 3_600_000);
    d.closed(T0 + 3_603_000);
    d.opened(T0 + 3_610_000, 'rex');
    d.closed(T0 + 3_611_000);
    const out = buildVisits(
      d.events,
      [checkIn('p1', T0 + 20_000, 'fedex', g1), checkIn('p2', T0 + 370_000, 'fedex', g2)],
      OPTS,
    );
    expect(out.visits.map((v) => [v.id, v.openings, v.checkIns.length])).toEqual([
      [g1, 2, 2],
      [g3, 1, 0],
    ]);
    expect(out.visits[0]!.grantEventIds).toEqual([g1, g2]);
    expect(out.visits[0]!.endAt).toBe(T0 + 62_000 + OPTS.visitGapMs + 31_000);
  });

  it('does not take a resident walking in as the carrier leaving', () => {
    const d = doorScript('front');
    d.carrierIn('ups1', T0);
    d.closed(T0 + 3_000);
    d.residentIn(T0 + 100_000);
    d.closed(T0 + 103_000);
    d.opened(T0 + 200_000, 'rex');
    d.closed(T0 + 201_000);
    const out = buildVisits(d.events, [], OPTS);
    expect(out.visits).toHaveLength(1);
    expect(out.visits[0]).toMatchObject({ exitSeen: false, endAt: T0 + 3_000 });
  });

  it('binds check-ins by the kiosk entry, else by time, and leaves the rest unbound', () => {
    const d = doorScript('front');
    const g1 = d.carrierIn('dhl', T0);
    d.closed(T0 + 3_000);
    d.opened(T0 + 120_000, 'rex');
    d.closed(T0 + 121_000);
    // A second grant whose door never opened: the kiosk binds to it, the visit must still count it.
    const noEntry = d.grantOnly('dhl', T0 + 130_000);
    const out = buildVisits(
      d.events,
      [
        checkIn('bound', T0 + 30_000, 'dhl', g1),
        checkIn('by-time', T0 + 60_000, 'dhl', null),
        checkIn('no-entry-grant', T0 + 140_000, 'dhl', noEntry),
        checkIn('too-late', T0 + 121_000 + OPTS.bindSlackMs + 1, 'dhl', null),
        checkIn('before-any', T0 - 60_000, 'dhl', null),
        checkIn('other-code', T0 + 60_000, 'ups', g1),
      ],
      OPTS,
    );
    expect(out.visits[0]!.checkIns.map((c) => c.packageId)).toEqual([
      'bound',
      'by-time',
      'no-entry-grant',
    ]);
    expect(out.visits[0]!.endAt).toBe(T0 + 140_000);
    expect(out.unbound.map((c) => c.packageId).sort()).toEqual([
      'before-any',
      'other-code',
      'too-late',
    ]);
  });

  it('keeps visits at interleaved doors apart, each with its own exit', () => {
    const a = doorScript('north');
    const b = doorScript('south');
    a.carrierIn('ups', T0);
    b.carrierIn('ups', T0 + 500);
    a.closed(T0 + 3_000);
    b.closed(T0 + 3_500);
    b.opened(T0 + 50_000, 'rex');
    a.opened(T0 + 90_000, 'rex');
    b.closed(T0 + 52_000);
    a.closed(T0 + 91_000);
    const events = [...a.events, ...b.events].sort(byTime);
    const out = buildVisits(events, [], OPTS);
    expect(out.visits.map((v) => [v.doorId, v.endAt, v.exitSeen])).toEqual([
      ['north', T0 + 91_000, true],
      ['south', T0 + 52_000, true],
    ]);
  });

  it('recovers every visit from any interleaving of doors (property)', () => {
    const session = fc.record({
      gapS: fc.integer({ min: 400, max: 3_000 }),
      code: fc.integer({ min: 0, max: 1 }),
      openings: fc.array(
        fc.record({
          openS: fc.integer({ min: 1, max: 30 }),
          insideS: fc.integer({ min: 1, max: 600 }),
          backS: fc.integer({ min: 1, max: 200 }),
        }),
        { minLength: 1, maxLength: 3 },
      ),
      lastExit: fc.boolean(),
      checkIns: fc.array(
        fc.record({ frac: fc.double({ min: 0, max: 1, noNaN: true }), bound: fc.boolean() }),
        { maxLength: 4 },
      ),
    });
    fc.assert(
      fc.property(
        fc.array(fc.array(session, { maxLength: 4 }), { minLength: 1, maxLength: 3 }),
        (doors) => {
          const events: VisitEvent[] = [];
          const checkIns: VisitCheckIn[] = [];
          const expected: {
            door: string;
            openings: number;
            checkIns: number;
            start: number;
            end: number;
          }[] = [];
          let pkg = 0;
          doors.forEach((sessions, di) => {
            const door = `door${di}`;
            const d = doorScript(door);
            let t = T0;
            for (const s of sessions) {
              // Sessions more than visitGapMs apart never merge.
              t += s.gapS * 1_000;
              const code = `${door}-c${s.code}`;
              const grants: string[] = [];
              const start = t + 1_000;
              let end = t;
              s.openings.forEach((o, i) => {
                grants.push(d.carrierIn(code, t));
                const closeAt = t + 1_000 + o.openS * 1_000;
                d.closed(closeAt);
                end = closeAt;
                t = closeAt;
                const last = i === s.openings.length - 1;
                if (!last || s.lastExit) {
                  d.opened(t + o.insideS * 1_000, 'rex');
                  d.closed(t + o.insideS * 1_000 + 500);
                  t += o.insideS * 1_000 + 500;
                  end = t;
                }
                // Back from the van, well within the gap.
                if (!last) t += o.backS * 1_000;
              });
              let lastCheckIn = 0;
              for (const c of s.checkIns) {
                const at = Math.round(start + c.frac * (end - start));
                lastCheckIn = Math.max(lastCheckIn, at);
                checkIns.push(checkIn(`p${pkg++}`, at, code, c.bound ? grants[0]! : null));
              }
              expected.push({
                door,
                openings: s.openings.length,
                checkIns: s.checkIns.length,
                start,
                end: Math.max(end, lastCheckIn),
              });
              t += OPTS.maxVisitMs;
            }
            events.push(...d.events);
          });
          events.sort(byTime);
          const out = buildVisits(events, checkIns, OPTS);
          expect(out.unbound).toEqual([]);
          const got = out.visits
            .map((v) => ({
              door: v.doorId,
              openings: v.openings,
              checkIns: v.checkIns.length,
              start: v.startAt,
              end: v.endAt,
            }))
            .sort((a, b) => a.door.localeCompare(b.door) || a.start - b.start);
          const want = expected.sort((a, b) => a.door.localeCompare(b.door) || a.start - b.start);
          expect(got).toEqual(want);
          for (const v of out.visits) expect(v.timeInRoomMs).toBe(v.endAt - v.startAt);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('takes the median of an even count as the mean of the middle two', () => {
    expect(median([])).toBeNull();
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 10])).toBe(3.5);
  });
});
