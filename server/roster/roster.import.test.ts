import { describe, expect, it } from 'vitest';
import { parseRosterCsv } from './roster.csv.ts';
import { planRoster, summarise, type ExistingResident } from './roster.import.ts';

const NOW = Date.parse('2026-11-21T09:00:00Z');
const ids = () => {
  let n = 0;
  return () => `new-${++n}`;
};

/** The database after applying a plan, as the planner would read it back. */
function apply(existing: ExistingResident[], csv: string, now = NOW): ExistingResident[] {
  const plan = planRoster(existing, parseRosterCsv(csv, { timeZone: 'UTC' }), now, ids());
  const out = new Map(existing.map((r) => [r.id, r]));
  for (const row of plan) {
    if (!row.next) continue;
    out.set(row.next.id, { ...row.next, unitId: `unit-${row.next.unit}` });
  }
  return [...out.values()];
}

const CSV = [
  'unit,name,email,phone,external_id,move_in,move_out',
  '1A,Ada,ada@example.test,,p1,2026-01-01,',
  '1B,Bob,bob@example.test,+1 555 0101,p2,,',
  '1C,Cy,,,,,',
].join('\n');

describe('roster planner', () => {
  it('creates everyone on a first import, and a second import of the same file changes nothing', () => {
    const first = planRoster([], parseRosterCsv(CSV, { timeZone: 'UTC' }), NOW, ids());
    expect(first.map((r) => [r.line, r.action])).toEqual([
      [2, 'create'],
      [3, 'create'],
      [4, 'create'],
    ]);
    const db = apply([], CSV);
    const again = planRoster(db, parseRosterCsv(CSV, { timeZone: 'UTC' }), NOW, ids());
    expect(summarise(again)).toEqual({
      created: 0,
      updated: 0,
      movedOut: 0,
      unchanged: 3,
      rejected: 0,
    });
  });

  it('matches on the external id: a new unit and email are an update, not a new resident', () => {
    const db = apply([], CSV);
    const moved = CSV.replace('1A,Ada,ada@example.test', '9Z,Ada,ada@new.example.test');
    const plan = planRoster(db, parseRosterCsv(moved, { timeZone: 'UTC' }), NOW, ids());
    const ada = plan.find((r) => r.line === 2)!;
    expect(ada.action).toBe('update');
    expect(ada.changes).toEqual(['unit', 'email']);
    expect(ada.residentId).toBe(db.find((r) => r.externalId === 'p1')!.id);
  });

  it('without an id matches unit, name and email ignoring case, and gives hand-entered residents the PMS id', () => {
    const db = apply([], CSV);
    const plan = planRoster(
      db,
      parseRosterCsv('unit,name,email,external_id\n1c,CY,,p3\n', { timeZone: 'UTC' }),
      NOW,
      ids(),
    );
    expect(plan[0]).toMatchObject({ action: 'update', changes: ['unit', 'name', 'external_id'] });
    expect(plan[0]!.residentId).toBe(db.find((r) => r.name === 'Cy')!.id);
  });

  it('moves out at a past move-out date, schedules a future one, and is idempotent afterwards', () => {
    const db = apply([], CSV);
    const csv = CSV.replace('p1,2026-01-01,', 'p1,2026-01-01,2026-11-20').replace(
      'p2,,',
      'p2,,2026-12-31',
    );
    const plan = planRoster(db, parseRosterCsv(csv, { timeZone: 'UTC' }), NOW, ids());
    expect(plan.map((r) => [r.line, r.action, r.changes])).toEqual([
      [2, 'move_out', ['move_out', 'status']],
      [3, 'update', ['move_out']],
      [4, 'unchanged', undefined],
    ]);
    expect(plan[0]!.next).toMatchObject({
      status: 'moved_out',
      moveOutAt: new Date('2026-11-21T00:00:00Z'),
    });
    expect(plan[1]!.next).toMatchObject({ status: 'active' });
    const after = apply(db, csv);
    expect(
      summarise(planRoster(after, parseRosterCsv(csv, { timeZone: 'UTC' }), NOW, ids())),
    ).toMatchObject({ unchanged: 3, movedOut: 0, updated: 0 });
    // When the scheduled date passes, the same file is a move-out.
    const later = Date.parse('2027-01-01T00:00:01Z');
    const plan2 = planRoster(after, parseRosterCsv(csv, { timeZone: 'UTC' }), later, ids());
    expect(plan2.map((r) => r.action)).toEqual(['unchanged', 'move_out', 'unchanged']);
  });

  it('reports rejected rows in line order among the others', () => {
    const csv = CSV + '\n,Nobody,,,,,\n';
    const plan = planRoster([], parseRosterCsv(csv, { timeZone: 'UTC' }), NOW, ids());
    expect(plan.map((r) => [r.line, r.action])).toEqual([
      [2, 'create'],
      [3, 'create'],
      [4, 'create'],
      [5, 'rejected'],
    ]);
    expect(plan[3]!.errors).toEqual(['unit: required']);
  });
});
