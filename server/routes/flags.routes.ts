/**
 * The review queue of vision flags (contract: `GET /flags`, `POST /flags/:id/review`), each
 * flag's clip and snapshot, and the false-positive counts managers use to tune zones.
 *
 * Whoever may read flags may watch their clips and snapshots: they show the same room. A review
 * is audited like every write, with the decision, the earlier status and the note in the
 * details; reviewing again replaces the decision (escalating a confirmed flag is normal).
 */
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import {
  FLAG_KINDS,
  FLAG_STATUSES,
  REVIEW_STATUSES,
  type FlagRecord,
  type FlagStatus,
  type FlagStore,
  type StoredFlagKind,
} from '../flags/flag.store.ts';
import type { FlagSeverity, JsonObject } from '../../vision/rules.types.ts';
import { requirePermission } from '../http/auth.middleware.ts';
import type { AppEnv } from '../http/context.ts';
import { ApiError, notFound, readBody, readQuery } from '../http/errors.ts';
import { sendFile, type FileOpener } from '../http/range.ts';
import { clipRefusal } from './clips.routes.ts';

/** A flag as the API, the live feed and the webhook show it. */
export interface FlagView {
  id: string;
  at: string;
  kind: StoredFlagKind;
  severity: FlagSeverity;
  /** Null: a flag from the door's records where no camera watches the door. */
  cameraId: string | null;
  doorId: string | null;
  status: FlagStatus;
  entryEventId?: string;
  credentialId?: string;
  /** The recorded video around the flag (video/mp4, Range); 409 until its window is recorded. */
  clipUrl: string;
  /** False when there is no camera to cut a clip from (the clip URL then answers 404). */
  hasClip: boolean;
  clipWindow: { startAt: string; endAt: string };
  /** The analysed frame with the boxes drawn (image/jpeg). */
  snapshotUrl: string;
  /** False when no snapshot could be made (the snapshot URL then answers 404 with why). */
  hasSnapshot: boolean;
  evidence: JsonObject;
  reviewedBy?: string;
  reviewedAt?: string;
  reviewNote?: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

export function flagView(f: FlagRecord): FlagView {
  const base = `/api/flags/${encodeURIComponent(f.id)}`;
  return {
    id: f.id,
    at: iso(f.at),
    kind: f.kind,
    severity: f.severity,
    cameraId: f.cameraId,
    doorId: f.doorId,
    status: f.status,
    ...(f.entryEventId ? { entryEventId: f.entryEventId } : {}),
    ...(f.credentialId ? { credentialId: f.credentialId } : {}),
    clipUrl: `${base}/clip`,
    hasClip: f.cameraId !== null,
    clipWindow: { startAt: iso(f.clipWindow.startAt), endAt: iso(f.clipWindow.endAt) },
    snapshotUrl: `${base}/snapshot`,
    hasSnapshot: f.snapshotPath !== null,
    evidence: f.evidence,
    ...(f.reviewedBy ? { reviewedBy: f.reviewedBy } : {}),
    ...(f.reviewedAt !== null ? { reviewedAt: iso(f.reviewedAt) } : {}),
    ...(f.reviewNote !== null ? { reviewNote: f.reviewNote } : {}),
  };
}

const listQuery = z.strictObject({
  kind: z.enum(FLAG_KINDS).optional(),
  status: z.enum(FLAG_STATUSES).optional(),
  cameraId: z.string().max(64).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
});

const reviewBody = z.strictObject({
  status: z.enum(REVIEW_STATUSES),
  note: z.string().trim().max(2000).optional(),
});

const statsQuery = z.strictObject({
  since: z.iso.datetime({ offset: true }).optional(),
});

// A flag's clip is refused as an event's is; a flag names its own camera, so a bad one is absent.
const flagClip = {
  missing: () => notFound('flag'),
  badCamera: (reason: string) => new ApiError(404, 'no_camera', reason),
};

export function flagRoutes(deps: { flags: FlagStore; opener?: FileOpener }) {
  const app = new Hono<AppEnv>();
  const opener = deps.opener ? { opener: deps.opener } : {};

  const flagOf = async (c: Context<AppEnv>): Promise<FlagRecord> => {
    const flag = await deps.flags.get(c.req.param('id') ?? '');
    if (!flag) throw notFound('flag');
    return flag;
  };

  // Before `/flags/:id`, which would otherwise take "false-positives" for an id.
  app.get('/flags/false-positives', requirePermission('flags:stats'), async (c) => {
    const q = readQuery(c, statsQuery);
    return c.json(await deps.flags.falsePositives(q.since ? { since: Date.parse(q.since) } : {}));
  });

  app.get('/flags', requirePermission('flags:read'), async (c) => {
    const q = readQuery(c, listQuery);
    const page = await deps.flags.list(q);
    return c.json({
      items: page.items.map(flagView),
      ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
    });
  });

  app.get('/flags/:id', requirePermission('flags:read'), async (c) =>
    c.json(flagView(await flagOf(c))),
  );

  app.post('/flags/:id/review', requirePermission('flags:review'), async (c) => {
    const id = c.req.param('id');
    const body = await readBody(c, reviewBody);
    const principal = c.get('principal');
    const reviewer = principal.kind === 'staff' ? principal.staffId : `token:${principal.tokenId}`;
    const note = body.note === '' ? undefined : body.note;
    const out = await deps.flags.review(id, { status: body.status, note }, reviewer);
    switch (out.kind) {
      case 'not_found':
        throw notFound('flag');
      case 'not_stored':
        throw new ApiError(
          503,
          'flag_not_stored',
          'this flag is still waiting for the database; try again shortly',
          undefined,
          { 'Retry-After': '5' },
        );
      case 'reviewed':
        c.set('audit', {
          action: 'flag.review',
          targetType: 'flag',
          targetId: id,
          details: {
            status: body.status,
            previous: out.previous,
            kind: out.flag.kind,
            ...(note === undefined ? {} : { note }),
          },
        });
        return c.json(flagView(out.flag));
    }
  });

  app.get('/flags/:id/clip', requirePermission('flags:read'), async (c) => {
    const o = await deps.flags.clip(c.req.param('id'));
    if (o.kind !== 'ready') throw clipRefusal(o, flagClip);
    return sendFile(c, {
      path: o.path,
      contentType: 'video/mp4',
      headers: {
        'X-Clip-Camera': o.cameraId,
        'X-Clip-Start': iso(o.startAt),
        'X-Clip-End': iso(o.endAt),
      },
      ...opener,
    });
  });

  app.get('/flags/:id/snapshot', requirePermission('flags:read'), async (c) => {
    const s = await deps.flags.snapshot(c.req.param('id'));
    switch (s.kind) {
      case 'not_found':
        throw notFound('flag');
      case 'none':
        throw new ApiError(404, 'no_snapshot', s.reason);
      case 'ready':
        return sendFile(c, {
          path: s.path,
          contentType: 'image/jpeg',
          // A snapshot never changes once written.
          cacheControl: 'private, max-age=86400',
          ...opener,
        });
    }
  });

  return app;
}
