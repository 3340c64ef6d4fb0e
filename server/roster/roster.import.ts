/**
 * Roster import: CSV rows from the console or changes pushed by the property-management system go
 * through one planner. It decides per line (create, update, move out, unchanged, rejected) against
 * the residents already in the database, and the plan is then applied in one transaction, so an
 * import either lands whole or not at all. Importing the same roster twice changes nothing.
 *
 * A resident is the same person when the external id matches; without one (or for residents
 * entered by hand before the PMS knew them) when unit, name and email match, ignoring case.
 *
 * Move-outs: from `moveOutAt` the resident's cards and pickup codes stop working. A date already
 * past is carried out by the import itself; a future one by the move-out job when it comes.
 * Parcels still waiting for someone who moved out stay where they are (the desk decides) and are
 * listed in the result.
 */
import { and, eq, inArray } from 'drizzle-orm';
import {
  credentials,
  newId,
  packages,
  residents,
  rosterImports,
  units,
  type Db,
} from '../../db/index.ts';
import type { Clock } from '../../hardware/clock.ts';
import { revokePickupCodesForResident } from '../pickup/index.ts';
import type { ParsedRoster, RosterEntry, RowError } from './roster.csv.ts';
import type {
  RosterAction,
  RosterResult,
  RosterRowResult,
  RosterSummary,
  WaitingParcels,
} from './roster.api.ts';

export type { RosterAction, RosterResult, RosterRowResult, RosterSummary, WaitingParcels };

/** A resident as the planner compares them. */
export interface ExistingResident {
  id: string;
  unitId: string;
  unit: string;
  name: string;
  email: string | null;
  phone: string | null;
  externalId: string | null;
  moveInAt: Date | null;
  moveOutAt: Date | null;
  status: 'active' | 'moved_out';
}

export interface PlannedRow extends RosterRowResult {
  /** The resident's state after the import (create, update, move_out). */
  next?: Omit<ExistingResident, 'id' | 'unitId'> & { id: string };
}

const same = (a: Date | null, b: Date | null) => (a?.getTime() ?? null) === (b?.getTime() ?? null);
const lower = (s: string | null | undefined) => (s ?? '').toLowerCase();

/**
 * Pure: what importing `parsed` into `existing` would do at `nowMs`. Rows come back in line
 * order, rejected ones included.
 */
export function planRoster(
  existing: readonly ExistingResident[],
  parsed: ParsedRoster,
  nowMs: number,
  newResidentId: () => string,
): PlannedRow[] {
  const byExternal = new Map<string, ExistingResident>();
  for (const r of existing) if (r.externalId) byExternal.set(r.externalId, r);
  const claimed = new Map<string, number>();
  const rows: PlannedRow[] = parsed.rejected.map((r: RowError) => ({
    line: r.line,
    action: 'rejected',
    unit: r.unit,
    name: r.name,
    errors: r.errors,
  }));

  // Candidates by unit and name, so a large roster is not compared with every resident.
  const byPerson = new Map<string, ExistingResident[]>();
  for (const r of existing) {
    const key = `${lower(r.unit)}\u0001${lower(r.name)}`;
    const list = byPerson.get(key);
    if (list) list.push(r);
    else byPerson.set(key, [r]);
  }
  const matchByPerson = (e: RosterEntry, withoutIdOnly: boolean) =>
    byPerson.get(`${lower(e.unit)}\u0001${lower(e.name)}`)?.find(
      (r) =>
        !claimed.has(r.id) &&
        (!withoutIdOnly || r.externalId === null) &&
        lower(r.unit) === lower(e.unit) &&
        lower(r.name) === lower(e.name) &&
        // A push that leaves the email out does not say it differs.
        (e.email === undefined || lower(r.email) === lower(e.email)),
    );

  for (const e of parsed.entries) {
    let match: ExistingResident | undefined;
    if (e.externalId) {
      match = byExternal.get(e.externalId);
      // Residents entered by hand before the PMS knew them take its id on the first import.
      match ??= matchByPerson(e, true);
    } else {
      match = matchByPerson(e, false);
    }
    const base = {
      line: e.line,
      unit: e.unit,
      name: e.name,
      ...(e.externalId ? { externalId: e.externalId } : {}),
    };
    if (match && claimed.has(match.id)) {
      rows.push({
        ...base,
        action: 'rejected',
        errors: [`the same resident as line ${claimed.get(match.id)}`],
      });
      continue;
    }
    const moveOutAt = e.moveOutAt === undefined ? (match?.moveOutAt ?? null) : e.moveOutAt;
    const goneBy = moveOutAt !== null && moveOutAt.getTime() <= nowMs;
    const next = {
      id: match?.id ?? newResidentId(),
      unit: e.unit,
      name: e.name,
      email: e.email === undefined ? (match?.email ?? null) : e.email,
      phone: e.phone === undefined ? (match?.phone ?? null) : e.phone,
      // An id is never cleared by a file that lacks it: the PMS link is worth more than the cell.
      externalId: e.externalId ?? match?.externalId ?? null,
      moveInAt: e.moveInAt === undefined ? (match?.moveInAt ?? null) : e.moveInAt,
      moveOutAt,
      status: goneBy ? ('moved_out' as const) : ('active' as const),
    };
    if (!match) {
      rows.push({ ...base, action: 'create', residentId: next.id, next });
      continue;
    }
    claimed.set(match.id, e.line);
    const changes: string[] = [];
    if (match.unit !== next.unit) changes.push('unit');
    if (match.name !== next.name) changes.push('name');
    if (match.email !== next.email) changes.push('email');
    if (match.phone !== next.phone) changes.push('phone');
    if (match.externalId !== next.externalId) changes.push('external_id');
    if (!same(match.moveInAt, next.moveInAt)) changes.push('move_in');
    if (!same(match.moveOutAt, next.moveOutAt)) changes.push('move_out');
    if (match.status !== next.status) changes.push('status');
    const action: RosterAction =
      match.status === 'active' && next.status === 'moved_out'
        ? 'move_out'
        : changes.length
          ? 'update'
          : 'unchanged';
    rows.push({
      ...base,
      action,
      residentId: match.id,
      ...(changes.length ? { changes } : {}),
      ...(action === 'unchanged' ? {} : { next }),
    });
  }
  rows.sort((a, b) => a.line - b.line);
  return rows;
}

export function summarise(rows: readonly RosterRowResult[]): RosterSummary {
  const s: RosterSummary = { created: 0, updated: 0, movedOut: 0, unchanged: 0, rejected: 0 };
  for (const r of rows) {
    if (r.action === 'create') s.created++;
    else if (r.action === 'update') s.updated++;
    else if (r.action === 'move_out') s.movedOut++;
    else if (r.action === 'unchanged') s.unchanged++;
    else s.rejected++;
  }
  return s;
}

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
type DbOrTx = Db | Tx;

/**
 * Takes a resident's access away at `at`: cards revoked (`revokedBy` 'move-out'), unused pickup
 * codes revoked ('moved_out'), status moved_out. The caller refreshes the doors' snapshot.
 */
export async function carryOutMoveOuts(
  db: DbOrTx,
  siteId: string,
  residentIds: readonly string[],
  at: Date,
): Promise<{ cardsRevoked: number; codesRevoked: number }> {
  if (residentIds.length === 0) return { cardsRevoked: 0, codesRevoked: 0 };
  const ids = [...residentIds];
  await db
    .update(residents)
    .set({ status: 'moved_out', updatedAt: at })
    .where(and(eq(residents.siteId, siteId), inArray(residents.id, ids)));
  const cards = await db
    .update(credentials)
    .set({ status: 'revoked', revokedAt: at, revokedBy: 'move-out' })
    .where(
      and(
        eq(credentials.siteId, siteId),
        inArray(credentials.residentId, ids),
        eq(credentials.status, 'active'),
      ),
    )
    .returning({ id: credentials.id });
  let codes = 0;
  for (const id of ids)
    codes += await revokePickupCodesForResident(db, id, 'moved_out', at.getTime());
  return { cardsRevoked: cards.length, codesRevoked: codes };
}

export async function loadExistingResidents(db: DbOrTx, siteId: string) {
  const rows = await db
    .select({ r: residents, unit: units.label })
    .from(residents)
    .innerJoin(units, eq(units.id, residents.unitId))
    .where(eq(residents.siteId, siteId));
  return rows.map(({ r, unit }): ExistingResident => ({
    id: r.id,
    unitId: r.unitId,
    unit,
    name: r.name,
    email: r.email,
    phone: r.phone,
    externalId: r.externalId,
    moveInAt: r.moveInAt,
    moveOutAt: r.moveOutAt,
    status: r.status,
  }));
}

export interface RosterImporter {
  run(
    parsed: ParsedRoster,
    opts: { dryRun: boolean; source: 'csv' | 'pms'; by: string },
  ): Promise<RosterResult>;
}

const CHUNK = 500;

export function createRosterImporter(deps: {
  db: Db;
  siteId: string;
  clock: Clock;
  /** Cards or holders changed: the doors re-read their snapshot (resolves once in place). */
  onAccessChange: () => Promise<unknown>;
}): RosterImporter {
  const { db, siteId, clock } = deps;

  const waitingFor = async (moved: PlannedRow[]): Promise<WaitingParcels[]> => {
    const ids = moved.map((r) => r.residentId!).filter(Boolean);
    if (ids.length === 0) return [];
    const rows = await db
      .select({
        id: packages.id,
        residentId: packages.residentId,
        trackingNumber: packages.trackingNumber,
        checkedInAt: packages.checkedInAt,
      })
      .from(packages)
      .where(
        and(
          eq(packages.siteId, siteId),
          eq(packages.status, 'checked_in'),
          inArray(packages.residentId, ids),
        ),
      );
    return moved
      .map((r) => ({
        residentId: r.residentId!,
        name: r.name,
        unit: r.unit,
        parcels: rows
          .filter((p) => p.residentId === r.residentId)
          .map((p) => ({
            id: p.id,
            trackingNumber: p.trackingNumber,
            checkedInAt: p.checkedInAt.toISOString(),
          })),
      }))
      .filter((w) => w.parcels.length > 0);
  };

  const view = (rows: PlannedRow[]): RosterRowResult[] =>
    rows.map(({ next: _next, ...rest }) => rest);

  return {
    async run(parsed, opts) {
      const nowMs = clock.now();
      const now = new Date(nowMs);
      if (opts.dryRun) {
        const plan = planRoster(await loadExistingResidents(db, siteId), parsed, nowMs, () =>
          newId(nowMs),
        );
        return {
          dryRun: true,
          summary: summarise(plan),
          rows: view(plan),
          parcelsWaiting: await waitingFor(plan.filter((r) => r.action === 'move_out')),
        };
      }

      const importId = newId(nowMs);
      const plan = await db.transaction(async (tx) => {
        // Planned inside the transaction, so a concurrent import cannot plan on stale rows.
        const existing = await loadExistingResidents(tx, siteId);
        const plan = planRoster(existing, parsed, nowMs, () => newId(nowMs));
        const writes = plan.filter((r) => r.next);
        const unitRows = await tx
          .select({ id: units.id, label: units.label })
          .from(units)
          .where(eq(units.siteId, siteId));
        // Unit labels match whatever case the building first wrote them in.
        const unitIds = new Map(unitRows.map((u) => [u.label.toLowerCase(), u.id]));
        const missing = [
          ...new Map(
            writes
              .filter((r) => !unitIds.has(r.next!.unit.toLowerCase()))
              .map((r) => [r.next!.unit.toLowerCase(), r.next!.unit]),
          ).values(),
        ];
        for (let i = 0; i < missing.length; i += CHUNK) {
          const made = await tx
            .insert(units)
            .values(
              missing
                .slice(i, i + CHUNK)
                .map((label) => ({ id: newId(nowMs), siteId, label, createdAt: now })),
            )
            .returning({ id: units.id, label: units.label });
          for (const u of made) unitIds.set(u.label.toLowerCase(), u.id);
        }
        const unitOf = (label: string) => unitIds.get(label.toLowerCase())!;

        const creates = writes.filter((r) => r.action === 'create');
        for (let i = 0; i < creates.length; i += CHUNK) {
          await tx.insert(residents).values(
            creates.slice(i, i + CHUNK).map((r) => ({
              id: r.next!.id,
              siteId,
              unitId: unitOf(r.next!.unit),
              name: r.next!.name,
              email: r.next!.email,
              phone: r.next!.phone,
              externalId: r.next!.externalId,
              moveInAt: r.next!.moveInAt,
              moveOutAt: r.next!.moveOutAt,
              status: r.next!.status,
              createdAt: now,
              updatedAt: now,
            })),
          );
        }
        for (const r of writes.filter((w) => w.action !== 'create')) {
          const n = r.next!;
          await tx
            .update(residents)
            .set({
              unitId: unitOf(n.unit),
              name: n.name,
              email: n.email,
              phone: n.phone,
              externalId: n.externalId,
              moveInAt: n.moveInAt,
              moveOutAt: n.moveOutAt,
              // A move-out is carried out below, with its cards and codes, in this transaction.
              ...(r.action === 'move_out' ? {} : { status: n.status }),
              updatedAt: now,
            })
            .where(and(eq(residents.id, r.residentId!), eq(residents.siteId, siteId)));
        }
        await carryOutMoveOuts(
          tx,
          siteId,
          plan.filter((r) => r.action === 'move_out').map((r) => r.residentId!),
          now,
        );
        const summary = summarise(plan);
        await tx.insert(rosterImports).values({
          id: importId,
          siteId,
          at: now,
          by: opts.by,
          source: opts.source,
          dryRun: false,
          summary: {
            ...summary,
            rejectedRows: plan
              .filter((r) => r.action === 'rejected')
              .slice(0, 200)
              .map((r) => ({ line: r.line, unit: r.unit, name: r.name, errors: r.errors })),
            movedOutResidentIds: plan
              .filter((r) => r.action === 'move_out')
              .map((r) => r.residentId),
          },
        });
        return plan;
      });
      const s = summarise(plan);
      if (s.created + s.updated + s.movedOut > 0) await deps.onAccessChange();
      return {
        dryRun: false,
        importId,
        summary: s,
        rows: view(plan),
        parcelsWaiting: await waitingFor(plan.filter((r) => r.action === 'move_out')),
      };
    },
  };
}
