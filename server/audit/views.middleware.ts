/**
 * Who watched what: every view of video (an event's clip or poster, a flag's clip or snapshot,
 * a camera's live view) and every export of the audit search lands in the staff audit log, so an
 * admin can answer "who has seen this footage?" the way Verkada's audit log does. Reads are not
 * audited by auditWrites (it records writes), hence this.
 *
 * One row per person, footage and kind of view within `dedupeMs` (5 minutes by default): a video
 * element asks for a clip in many Range requests and a live player reloads its playlist every
 * few seconds, and one viewing should read as one line. A request that failed (no video, not
 * ready, refused) showed nothing and is not recorded. Live segments are not audited one by one:
 * the playlist request already says who is watching which camera.
 */
import type { MiddlewareHandler } from 'hono';
import { newId, staffAuditLog, type Db } from '../../db/index.ts';
import type { Clock } from '../../hardware/clock.ts';
import type { Principal } from '../auth/auth.service.ts';
import { clientAddress } from '../http/audit.middleware.ts';
import type { AppEnv } from '../http/context.ts';
import type { Logger } from '../log/logger.ts';

export const VIEW_ACTION = 'video.view';
export const EXPORT_ACTION = 'audit.export';
/** The actions GET /api/audit/views lists. */
export const VIEW_ACTIONS = [VIEW_ACTION, EXPORT_ACTION] as const;
export type ViewAction = (typeof VIEW_ACTIONS)[number];

export type ViewTargetType = 'event' | 'flag' | 'camera';
export type ViewKind = 'clip' | 'snapshot' | 'live';

export interface ViewTarget {
  targetType: ViewTargetType;
  targetId: string;
  what: ViewKind;
}

/** The video routes (under /api) and what a request to each one shows. */
const VIEW_ROUTES: readonly { pattern: RegExp; targetType: ViewTargetType; what: ViewKind }[] = [
  { pattern: /^(?:\/api)?\/events\/([^/]+)\/clip$/, targetType: 'event', what: 'clip' },
  {
    pattern: /^(?:\/api)?\/events\/([^/]+)\/clip\/poster$/,
    targetType: 'event',
    what: 'snapshot',
  },
  { pattern: /^(?:\/api)?\/flags\/([^/]+)\/clip$/, targetType: 'flag', what: 'clip' },
  { pattern: /^(?:\/api)?\/flags\/([^/]+)\/snapshot$/, targetType: 'flag', what: 'snapshot' },
  {
    pattern: /^(?:\/api)?\/cameras\/([^/]+)\/live\/index\.m3u8$/,
    targetType: 'camera',
    what: 'live',
  },
];

/** Which footage a request path shows, or null when it is not a video route. */
export function viewTargetOf(path: string): ViewTarget | null {
  for (const r of VIEW_ROUTES) {
    const m = r.pattern.exec(path);
    if (!m?.[1]) continue;
    let targetId: string;
    try {
      targetId = decodeURIComponent(m[1]);
    } catch {
      return null;
    }
    return { targetType: r.targetType, targetId: targetId.slice(0, 200), what: r.what };
  }
  return null;
}

export interface AuditEntry {
  action: string;
  targetType?: string | null;
  targetId?: string | null;
  details?: Record<string, unknown>;
}

export interface AuditRecorderDeps {
  db: Db;
  siteId: string;
  clock: Clock;
}

/** Writes one staff audit log row for a principal (the same shape auditWrites writes). */
export async function recordAudit(
  deps: AuditRecorderDeps,
  principal: Principal,
  ip: string | undefined,
  entry: AuditEntry,
): Promise<void> {
  const now = deps.clock.now();
  await deps.db.insert(staffAuditLog).values({
    id: newId(now),
    siteId: deps.siteId,
    at: new Date(now),
    actorStaffId: principal.kind === 'staff' ? principal.staffId : null,
    actorTokenId: principal.kind === 'token' ? principal.tokenId : null,
    actorLabel: principal.kind === 'staff' ? principal.email : `token:${principal.name}`,
    action: entry.action,
    targetType: entry.targetType ?? null,
    targetId: entry.targetId ?? null,
    details: entry.details ?? {},
    ip: ip ?? null,
  });
}

export const DEFAULT_VIEW_DEDUPE_MS = 5 * 60_000;
/** Recent views remembered for de-duplication; past this the oldest are forgotten. */
const MAX_REMEMBERED = 10_000;

/**
 * Mount once for the whole API, after the principal is resolved: `api.use('*', auditViews(…))`.
 * It looks only at GET requests to the video routes and answers nothing itself.
 */
export function auditViews(
  deps: AuditRecorderDeps & { log: Logger; dedupeMs?: number },
): MiddlewareHandler<AppEnv> {
  const dedupeMs = deps.dedupeMs ?? DEFAULT_VIEW_DEDUPE_MS;
  const recent = new Map<string, number>();

  const remember = (key: string, now: number) => {
    recent.delete(key);
    recent.set(key, now);
    if (recent.size <= MAX_REMEMBERED) return;
    // Insertion order is age order: drop the expired ones, then the oldest if still too many.
    for (const [k, at] of recent) {
      if (recent.size <= MAX_REMEMBERED / 2 && now - at < dedupeMs) break;
      recent.delete(k);
    }
  };

  return async (c, next) => {
    await next();
    if (c.req.method !== 'GET') return;
    const target = viewTargetOf(c.req.path);
    if (!target) return;
    // 200 or 206 (a Range of the clip): something was shown.
    if (c.res.status < 200 || c.res.status >= 300) return;
    const principal = c.get('principal');
    if (!principal) return;
    const actor = principal.kind === 'staff' ? `s:${principal.staffId}` : `t:${principal.tokenId}`;
    const key = `${actor}|${target.targetType}|${target.targetId}|${target.what}`;
    const now = deps.clock.now();
    const seen = recent.get(key);
    if (seen !== undefined && now - seen < dedupeMs) return;
    remember(key, now);
    const camera =
      c.res.headers.get('X-Clip-Camera') ??
      (target.targetType === 'camera' ? target.targetId : undefined);
    const quality = target.what === 'live' ? c.req.query('quality') : undefined;
    try {
      await recordAudit(deps, principal, clientAddress(c.env), {
        action: VIEW_ACTION,
        targetType: target.targetType,
        targetId: target.targetId,
        details: {
          what: target.what,
          ...(camera ? { cameraId: camera } : {}),
          ...(quality ? { quality } : {}),
        },
      });
    } catch (err) {
      // Forget it, so the next request of this viewing tries again.
      recent.delete(key);
      deps.log.error('video view audit write failed', { err, target, actor });
    }
  };
}
