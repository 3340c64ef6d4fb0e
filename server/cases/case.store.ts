/**
 * Incident cases: a manager groups the events, flags, parcels and door alarms of one incident
 * ("the parcel taken from 4B's shelf on Tuesday") with notes, closes the case when it is done,
 * and makes signed evidence packages of it (evidence.export.ts).
 *
 * While a case is open its recordings are evidence: the video around each item and the clip
 * windows of its exports are protected from retention (`protectedWindows`, fed to the retention
 * job). Closing the case releases them, so the building's disk budget applies again.
 */
import { and, asc, count, desc, eq, inArray } from 'drizzle-orm';
import {
  apiTokens,
  caseExports,
  caseItems,
  cases,
  newId,
  staffUsers,
  type Db,
} from '../../db/index.ts';
import type { Clock } from '../../hardware/clock.ts';
import type { ProtectedWindow } from '../../vision/index.ts';
import {
  clipWindowAt,
  DEFAULT_CLIP_AFTER_MS,
  DEFAULT_CLIP_BEFORE_MS,
} from '../cameras/clip.service.ts';
import type { SiteConfig } from '../config/index.ts';
import { refKey, type CaseItemKind, type CaseTimeline, type EntrySource } from './case.timeline.ts';
import type {
  CaseDetail,
  CaseExportView,
  CaseItemView,
  CaseStatus,
  CaseSummary,
  ExportStatus,
} from './case.api.ts';
import type { MediaWindow } from './evidence.manifest.ts';

export type { CaseDetail, CaseExportView, CaseItemView, CaseStatus, CaseSummary, ExportStatus };

export type ExportRow = typeof caseExports.$inferSelect;

export type AddItemResult =
  | { kind: 'created'; id: string }
  | { kind: 'exists'; id: string }
  | { kind: 'case_not_found' }
  | { kind: 'case_closed' }
  | { kind: 'ref_not_found' };

export type RemoveItemResult = 'removed' | 'case_not_found' | 'item_not_found' | 'case_closed';

export interface CaseStore {
  list(status?: CaseStatus): Promise<CaseSummary[]>;
  create(input: { title: string; description?: string | undefined }, by: string): Promise<string>;
  get(id: string): Promise<CaseDetail | null>;
  /** Closing stamps who and when; reopening clears them. */
  update(
    id: string,
    patch: {
      title?: string | undefined;
      description?: string | undefined;
      status?: CaseStatus | undefined;
    },
    by: string,
  ): Promise<'updated' | 'not_found'>;
  addItem(
    caseId: string,
    input: { kind: CaseItemKind; refId: string; note?: string | undefined },
    by: string,
  ): Promise<AddItemResult>;
  removeItem(caseId: string, itemId: string): Promise<RemoveItemResult>;
  /** A new export row in `building`; null when there is no such case. */
  createExport(caseId: string, by: string): Promise<string | null>;
  getExport(caseId: string, exportId: string): Promise<ExportRow | null>;
  finishExport(
    exportId: string,
    result:
      | {
          status: 'ready';
          path: string;
          bytes: number;
          sha256: string;
          manifestSha256: string;
          keyId: string;
          media: MediaWindow[];
        }
      | { status: 'failed'; error: string },
  ): Promise<void>;
  /** Exports left `building` by a server that stopped mid-build: failed, so nobody waits on them. */
  failInterrupted(): Promise<number>;
  /** The recordings open cases need kept: their items' clip windows and their exports' media. */
  protectedWindows(): Promise<ProtectedWindow[]>;
}

const iso = (d: Date) => d.toISOString();

export function exportView(
  caseId: string,
  r: ExportRow,
  names?: ReadonlyMap<string, string>,
): CaseExportView {
  const name = names?.get(r.createdBy);
  return {
    id: r.id,
    createdAt: iso(r.createdAt),
    createdBy: r.createdBy,
    ...(name ? { createdByName: name } : {}),
    status: r.status,
    ...(r.bytes !== null ? { bytes: r.bytes } : {}),
    ...(r.sha256 ? { sha256: r.sha256 } : {}),
    ...(r.manifestSha256 ? { manifestSha256: r.manifestSha256 } : {}),
    ...(r.keyId ? { keyId: r.keyId } : {}),
    ...(r.error ? { error: r.error } : {}),
    ...(r.status === 'ready'
      ? {
          downloadUrl: `/api/cases/${encodeURIComponent(caseId)}/exports/${encodeURIComponent(r.id)}/download`,
        }
      : {}),
  };
}

/**
 * The clip window around a stored event or flag, from the site file alone. An event without a
 * door of its own (a parcel event) takes the widest window any door keeps, so whichever entry
 * brought the person in, its video is covered.
 */
export function sourceWindow(
  s: EntrySource,
  doors: SiteConfig['doors'],
): { startAt: number; endAt: number; cameraId?: string } {
  if (s.kind === 'flag')
    return { startAt: s.clipStartAt, endAt: s.clipEndAt, cameraId: s.cameraId };
  const door = s.doorId ? doors.find((d) => d.id === s.doorId) : undefined;
  if (door) return clipWindowAt(door, s.at);
  const widest = {
    clipBeforeMs: Math.max(DEFAULT_CLIP_BEFORE_MS, ...doors.map((d) => d.clipBeforeMs)),
    clipAfterMs: Math.max(DEFAULT_CLIP_AFTER_MS, ...doors.map((d) => d.clipAfterMs)),
  };
  return clipWindowAt(widest, s.at);
}

export function createCaseStore(deps: {
  db: Db;
  siteId: string;
  clock: Clock;
  site: Pick<SiteConfig, 'doors'>;
  timeline: CaseTimeline;
}): CaseStore {
  const { db, siteId, clock, timeline } = deps;
  const thisSite = eq(cases.siteId, siteId);

  /** People's names for stored actor ids (a staff id, or `token:<id>`); unknown ids as they are. */
  const namesOf = async (actors: readonly string[]): Promise<Map<string, string>> => {
    const ids = [...new Set(actors)];
    const staffIds = ids.filter((a) => !a.startsWith('token:'));
    const tokenIds = ids.filter((a) => a.startsWith('token:')).map((a) => a.slice(6));
    const [people, tokens] = await Promise.all([
      staffIds.length === 0
        ? []
        : db
            .select({ id: staffUsers.id, name: staffUsers.name })
            .from(staffUsers)
            .where(inArray(staffUsers.id, staffIds)),
      tokenIds.length === 0
        ? []
        : db
            .select({ id: apiTokens.id, name: apiTokens.name })
            .from(apiTokens)
            .where(inArray(apiTokens.id, tokenIds)),
    ]);
    const names = new Map(ids.map((a) => [a, a]));
    for (const p of people) names.set(p.id, p.name);
    for (const t of tokens) names.set(`token:${t.id}`, `token:${t.name}`);
    return names;
  };

  const findCase = async (id: string) => {
    const [row] = await db
      .select()
      .from(cases)
      .where(and(thisSite, eq(cases.id, id)));
    return row ?? null;
  };

  return {
    async list(status) {
      const rows = await db
        .select()
        .from(cases)
        .where(and(thisSite, status ? eq(cases.status, status) : undefined))
        .orderBy(desc(cases.createdAt), desc(cases.id));
      if (rows.length === 0) return [];
      const ids = rows.map((r) => r.id);
      const [items, exports] = await Promise.all([
        db
          .select({ caseId: caseItems.caseId, n: count() })
          .from(caseItems)
          .where(inArray(caseItems.caseId, ids))
          .groupBy(caseItems.caseId),
        db
          .select({ caseId: caseExports.caseId, n: count() })
          .from(caseExports)
          .where(inArray(caseExports.caseId, ids))
          .groupBy(caseExports.caseId),
      ]);
      const names = await namesOf(rows.map((r) => r.createdBy));
      const itemCount = new Map(items.map((r) => [r.caseId, Number(r.n)]));
      const exportCount = new Map(exports.map((r) => [r.caseId, Number(r.n)]));
      return rows.map((r) => ({
        id: r.id,
        title: r.title,
        description: r.description,
        status: r.status,
        createdAt: iso(r.createdAt),
        createdBy: r.createdBy,
        createdByName: names.get(r.createdBy) ?? r.createdBy,
        itemCount: itemCount.get(r.id) ?? 0,
        exportCount: exportCount.get(r.id) ?? 0,
      }));
    },

    async create(input, by) {
      const now = new Date(clock.now());
      const id = newId(now.getTime());
      await db.insert(cases).values({
        id,
        siteId,
        title: input.title,
        description: input.description ?? '',
        createdBy: by,
        createdAt: now,
        updatedAt: now,
      });
      return id;
    },

    async get(id) {
      const row = await findCase(id);
      if (!row) return null;
      const [items, exports] = await Promise.all([
        db
          .select()
          .from(caseItems)
          .where(eq(caseItems.caseId, id))
          .orderBy(asc(caseItems.addedAt), asc(caseItems.id)),
        db
          .select()
          .from(caseExports)
          .where(eq(caseExports.caseId, id))
          .orderBy(desc(caseExports.createdAt), desc(caseExports.id)),
      ]);
      const [resolved, names] = await Promise.all([
        timeline.resolve(items),
        namesOf([
          row.createdBy,
          ...items.map((i) => i.addedBy),
          ...exports.map((e) => e.createdBy),
        ]),
      ]);
      const nameOf = (a: string) => names.get(a) ?? a;
      return {
        id: row.id,
        title: row.title,
        description: row.description,
        status: row.status,
        createdAt: iso(row.createdAt),
        createdBy: row.createdBy,
        createdByName: nameOf(row.createdBy),
        updatedAt: iso(row.updatedAt),
        ...(row.closedAt ? { closedAt: iso(row.closedAt) } : {}),
        ...(row.closedBy ? { closedBy: row.closedBy } : {}),
        items: items.map((i) => ({
          id: i.id,
          kind: i.kind,
          refId: i.refId,
          note: i.note,
          addedBy: i.addedBy,
          addedByName: nameOf(i.addedBy),
          addedAt: iso(i.addedAt),
          entry: resolved.get(refKey(i))?.entry ?? null,
        })),
        exports: exports.map((e) => exportView(id, e, names)),
      };
    },

    async update(id, patch, by) {
      const row = await findCase(id);
      if (!row) return 'not_found';
      const now = new Date(clock.now());
      const closing = patch.status === 'closed' && row.status !== 'closed';
      const reopening = patch.status === 'open' && row.status !== 'open';
      await db
        .update(cases)
        .set({
          ...(patch.title !== undefined ? { title: patch.title } : {}),
          ...(patch.description !== undefined ? { description: patch.description } : {}),
          ...(patch.status !== undefined ? { status: patch.status } : {}),
          ...(closing ? { closedAt: now, closedBy: by } : {}),
          ...(reopening ? { closedAt: null, closedBy: null } : {}),
          updatedAt: now,
        })
        .where(and(thisSite, eq(cases.id, id)));
      return 'updated';
    },

    async addItem(caseId, input, by) {
      const row = await findCase(caseId);
      if (!row) return { kind: 'case_not_found' };
      if (row.status === 'closed') return { kind: 'case_closed' };
      const existing = async () => {
        const [item] = await db
          .select({ id: caseItems.id })
          .from(caseItems)
          .where(
            and(
              eq(caseItems.caseId, caseId),
              eq(caseItems.kind, input.kind),
              eq(caseItems.refId, input.refId),
            ),
          );
        return item?.id ?? null;
      };
      const already = await existing();
      if (already) return { kind: 'exists', id: already };
      const found = await timeline.resolve([input]);
      if (!found.get(refKey(input))) return { kind: 'ref_not_found' };
      const now = clock.now();
      const id = newId(now);
      const inserted = await db
        .insert(caseItems)
        .values({
          id,
          siteId,
          caseId,
          kind: input.kind,
          refId: input.refId,
          note: input.note ?? '',
          addedBy: by,
          addedAt: new Date(now),
        })
        .onConflictDoNothing()
        .returning({ id: caseItems.id });
      if (inserted.length > 0) return { kind: 'created', id };
      // Two managers added the same thing at once: the first one's item stands.
      const raced = await existing();
      return raced ? { kind: 'exists', id: raced } : { kind: 'ref_not_found' };
    },

    async removeItem(caseId, itemId) {
      const row = await findCase(caseId);
      if (!row) return 'case_not_found';
      if (row.status === 'closed') return 'case_closed';
      const gone = await db
        .delete(caseItems)
        .where(and(eq(caseItems.caseId, caseId), eq(caseItems.id, itemId)))
        .returning({ id: caseItems.id });
      return gone.length > 0 ? 'removed' : 'item_not_found';
    },

    async createExport(caseId, by) {
      if (!(await findCase(caseId))) return null;
      const now = clock.now();
      const id = newId(now);
      await db.insert(caseExports).values({
        id,
        siteId,
        caseId,
        createdBy: by,
        createdAt: new Date(now),
        status: 'building',
      });
      return id;
    },

    async getExport(caseId, exportId) {
      const [row] = await db
        .select()
        .from(caseExports)
        .where(
          and(
            eq(caseExports.siteId, siteId),
            eq(caseExports.caseId, caseId),
            eq(caseExports.id, exportId),
          ),
        );
      return row ?? null;
    },

    async finishExport(exportId, result) {
      await db
        .update(caseExports)
        .set(
          result.status === 'ready'
            ? {
                status: 'ready',
                path: result.path,
                bytes: result.bytes,
                sha256: result.sha256,
                manifestSha256: result.manifestSha256,
                keyId: result.keyId,
                media: result.media,
                error: null,
              }
            : { status: 'failed', error: result.error },
        )
        .where(and(eq(caseExports.siteId, siteId), eq(caseExports.id, exportId)));
    },

    async failInterrupted() {
      const rows = await db
        .update(caseExports)
        .set({ status: 'failed', error: 'the server stopped while this package was being built' })
        .where(and(eq(caseExports.siteId, siteId), eq(caseExports.status, 'building')))
        .returning({ id: caseExports.id });
      return rows.length;
    },

    async protectedWindows() {
      const open = await db
        .select({ id: cases.id })
        .from(cases)
        .where(and(thisSite, eq(cases.status, 'open')));
      if (open.length === 0) return [];
      const ids = open.map((c) => c.id);
      const [items, exports] = await Promise.all([
        db
          .select({ caseId: caseItems.caseId, kind: caseItems.kind, refId: caseItems.refId })
          .from(caseItems)
          .where(inArray(caseItems.caseId, ids)),
        db
          .select({ id: caseExports.id, media: caseExports.media })
          .from(caseExports)
          .where(inArray(caseExports.caseId, ids)),
      ]);
      const windows: ProtectedWindow[] = [];
      const resolved = items.length === 0 ? new Map() : await timeline.resolve(items);
      for (const item of items) {
        const r = resolved.get(refKey(item));
        if (!r) continue;
        for (const s of r.sources) {
          const w = sourceWindow(s, deps.site.doors);
          // Every camera: the clip of an event may be asked of any camera (`?camera=`), and a
          // few extra seconds of video kept is cheap next to a missing view of the incident.
          windows.push({ kind: 'case', id: item.caseId, startAt: w.startAt, endAt: w.endAt });
        }
      }
      for (const e of exports) {
        for (const m of Array.isArray(e.media) ? (e.media as MediaWindow[]) : []) {
          const startAt = Date.parse(m.startAt);
          const endAt = Date.parse(m.endAt);
          if (!Number.isFinite(startAt) || !(endAt > startAt)) continue;
          windows.push({ kind: 'export', id: e.id, cameraId: m.cameraId, startAt, endAt });
        }
      }
      return windows;
    },
  };
}
