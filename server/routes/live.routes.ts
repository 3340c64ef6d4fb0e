import { Hono } from 'hono';
import { z } from 'zod';
import type { CameraDirectory } from '../cameras/camera.types.ts';
import {
  DEFAULT_LIVE_QUALITY,
  LIVE_QUALITIES,
  type LiveFault,
  type LiveHls,
} from '../cameras/live.hls.ts';
import { requirePermission } from '../http/auth.middleware.ts';
import type { AppEnv } from '../http/context.ts';
import { ApiError, readQuery } from '../http/errors.ts';

/**
 * Live view (HLS): the playlist and its MPEG-TS segments. Staff with `events:read` may watch:
 * live video shows who comes and goes, the same thing the event log and its clips show.
 * Segment URIs in the playlist are relative (`sub-1767268800.ts`), so they resolve to the
 * segment route below; the segment name carries the quality, so no query has to survive.
 */
const playlistQuery = z.object({
  quality: z.enum(LIVE_QUALITIES).default(DEFAULT_LIVE_QUALITY),
});

/** A few seconds: what a restart or a slow camera needs before the player asks again. */
const RETRY_AFTER_S = '5';

function toApiError(f: LiveFault): ApiError {
  switch (f.kind) {
    case 'unknown_camera':
    case 'not_found':
      return new ApiError(404, 'not_found', f.message);
    case 'camera_offline':
      return new ApiError(503, 'camera_offline', f.message, undefined, {
        'Retry-After': RETRY_AFTER_S,
      });
    case 'unavailable':
      return new ApiError(503, 'live_unavailable', f.message, undefined, {
        'Retry-After': RETRY_AFTER_S,
      });
    case 'busy':
      return new ApiError(503, 'live_busy', f.message, undefined, {
        'Retry-After': RETRY_AFTER_S,
      });
  }
}

export function liveRoutes(deps: { live: LiveHls; directory: CameraDirectory }) {
  const app = new Hono<AppEnv>();

  const knownCamera = (id: string) => {
    if (!deps.directory.list().some((c) => c.id === id))
      throw new ApiError(404, 'not_found', `no camera '${id}'`);
  };

  app.get('/cameras/:id/live/index.m3u8', requirePermission('events:read'), async (c) => {
    const id = c.req.param('id');
    knownCamera(id);
    const { quality } = readQuery(c, playlistQuery);
    const answer = await deps.live.playlist(id, quality);
    if (!answer.ok) throw toApiError(answer.fault);
    return c.body(answer.value, 200, {
      'Content-Type': 'application/vnd.apple.mpegurl',
      // A live playlist changes every second; a cached one freezes the picture.
      'Cache-Control': 'no-cache, no-store',
    });
  });

  app.get('/cameras/:id/live/:segment', requirePermission('events:read'), async (c) => {
    const id = c.req.param('id');
    knownCamera(id);
    const answer = await deps.live.segment(id, c.req.param('segment'));
    if (!answer.ok) throw toApiError(answer.fault);
    return c.body(answer.value, 200, {
      'Content-Type': 'video/mp2t',
      // Segment names are never reused for other video (numbered from the clock), so a browser
      // may keep one briefly; private because it is behind a session.
      'Cache-Control': 'private, max-age=60',
    });
  });

  return app;
}
