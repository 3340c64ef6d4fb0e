import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { ClipOutcome, ClipService } from '../cameras/clip.service.ts';
import { requirePermission } from '../http/auth.middleware.ts';
import type { AppEnv } from '../http/context.ts';
import { ApiError, readQuery } from '../http/errors.ts';
import { sendFile, type FileOpener } from '../http/range.ts';

/**
 * An event's clip and its poster. Whoever may read the event log may watch its clips: they show
 * the same comings and goings. A clip is built on the first request once its window is recorded
 * (see clip.service.ts); before that the answer is 409 `clip_not_ready` with Retry-After, so a
 * console can poll. The file is served with Range support so the video element can seek.
 */
const clipQuery = z.strictObject({
  camera: z.string().max(64).optional(),
});

type Ready = Extract<ClipOutcome, { kind: 'ready' }>;

/**
 * The answer for a clip that cannot be served, the same for an event's clip and a flag's: 409 +
 * Retry-After until the window is recorded (or the event stored), 404 without video. `owner`
 * says how a missing event or flag, and a camera it cannot have, are refused.
 */
export function clipRefusal(
  o: Exclude<ClipOutcome, Ready>,
  owner: { missing: () => ApiError; badCamera: (reason: string) => ApiError },
): ApiError {
  switch (o.kind) {
    case 'not_yet':
    case 'not_stored':
      return new ApiError(
        409,
        'clip_not_ready',
        `the clip is not ready yet: ${o.reason}`,
        undefined,
        {
          'Retry-After': String(Math.max(1, Math.ceil(o.retryAfterMs / 1000))),
        },
      );
    case 'no_video':
      return new ApiError(404, 'no_video', o.reason, undefined, { 'X-No-Video-Reason': o.code });
    case 'no_camera':
      return new ApiError(404, 'no_camera', o.reason);
    case 'not_found':
      return owner.missing();
    case 'unknown_camera':
      return owner.badCamera(o.reason);
    case 'failed':
      return new ApiError(503, 'clip_failed', `the clip could not be made: ${o.reason}`);
  }
}

const eventClip = {
  missing: () => new ApiError(404, 'not_found', 'event not found'),
  badCamera: (reason: string) => new ApiError(400, 'unknown_camera', reason, 'camera'),
};

const missingMs = (r: Ready) => r.missing.reduce((sum, m) => sum + (m.endAt - m.startAt), 0);

/** What the player may want to show next to the video: where it sits on the clock. */
const clipHeaders = (r: Ready): Record<string, string> => ({
  'X-Clip-Camera': r.cameraId,
  'X-Clip-Start': new Date(r.startAt).toISOString(),
  'X-Clip-End': new Date(r.endAt).toISOString(),
  'X-Clip-Missing-Ms': String(missingMs(r)),
});

export function clipRoutes(deps: { clips: ClipService; opener?: FileOpener }) {
  const app = new Hono<AppEnv>();

  const outcomeOf = async (c: Context<AppEnv>): Promise<Ready> => {
    const { camera } = readQuery(c, clipQuery);
    const o = await deps.clips.clipForEvent(c.req.param('id') ?? '', camera);
    if (o.kind !== 'ready') throw clipRefusal(o, eventClip);
    return o;
  };

  app.get('/events/:id/clip', requirePermission('events:read'), async (c) => {
    const r = await outcomeOf(c);
    return sendFile(c, {
      path: r.path,
      contentType: 'video/mp4',
      headers: clipHeaders(r),
      ...(deps.opener ? { opener: deps.opener } : {}),
    });
  });

  app.get('/events/:id/clip/poster', requirePermission('events:read'), async (c) => {
    const r = await outcomeOf(c);
    if (!r.posterPath)
      throw new ApiError(404, 'no_poster', r.posterProblem ?? 'this clip has no poster');
    return sendFile(c, {
      path: r.posterPath,
      contentType: 'image/jpeg',
      headers: clipHeaders(r),
      ...(deps.opener ? { opener: deps.opener } : {}),
    });
  });

  return app;
}
