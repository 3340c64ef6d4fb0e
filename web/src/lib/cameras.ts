// Cameras in the console: the list with each camera's state (GET /api/cameras), and live view
// (HLS, GET /api/cameras/:id/live/index.m3u8). The session cookie goes along with every request;
// hls.js sends its playlist and segment requests the same way (same origin).
import { ApiError, redirectToLogin } from './api';

export { ApiError };

export type CameraSource = 'onvif' | 'rtsp' | 'file' | 'sim';
/** Why a camera is offline; kept open so a newer server's fault still shows. */
export type CameraFault = 'offline' | 'auth_failed' | 'unsupported' | 'missing_part';
export type CameraState = 'starting' | 'online' | 'offline';

/** One camera as the server reports it (server/cameras/camera.types.ts `CameraStatus`). */
export interface CameraStatus {
  id: string;
  name: string;
  doorId: string | null;
  source: CameraSource | (string & {});
  state: CameraState | (string & {});
  since: string | null;
  fault?: CameraFault | (string & {});
  /** In words staff can act on: why it is offline, or which fallback it runs on. */
  reason?: string;
  /** Whether segments are being written now. */
  recording: boolean;
  device?: { manufacturer: string; model: string; firmwareVersion: string };
}

/** `sub`: the camera's light stream, for tiles; `main`: full resolution, for one big view. */
export type LiveQuality = 'sub' | 'main';

type Fetch = typeof fetch;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function retryAfterSeconds(res: Response): number | undefined {
  const n = Number(res.headers.get('Retry-After'));
  return res.headers.has('Retry-After') && Number.isFinite(n) && n >= 0 ? Math.ceil(n) : undefined;
}

/** The server's `{error: {code, message}}`, or a plain message for anything else. */
async function errorOf(res: Response): Promise<ApiError> {
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    // a proxy's HTML page, an empty body
  }
  const err = isRecord(body) && isRecord(body['error']) ? body['error'] : undefined;
  const code = typeof err?.['code'] === 'string' ? err['code'] : `http_${res.status}`;
  const message =
    typeof err?.['message'] === 'string' && err['message'] !== ''
      ? err['message']
      : res.status >= 500
        ? `The server had a problem (${res.status}).`
        : `Request failed (${res.status}).`;
  return new ApiError(res.status, code, message, undefined, retryAfterSeconds(res));
}

/** Every camera of the site with its state; rejects with an ApiError. */
export async function listCameras(fetchFn?: Fetch): Promise<CameraStatus[]> {
  let res: Response;
  try {
    res = await (fetchFn ?? fetch)('/api/cameras', {
      headers: { Accept: 'application/json' },
      credentials: 'same-origin',
    });
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the Parcelroom server.');
  }
  if (!res.ok) {
    const error = await errorOf(res);
    if (res.status === 401) redirectToLogin();
    throw error;
  }
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    throw new ApiError(res.status, 'bad_response', 'The server sent an unreadable answer.');
  }
  if (!isRecord(body) || !Array.isArray(body['items'])) {
    throw new ApiError(res.status, 'bad_response', 'The server sent an unreadable camera list.');
  }
  return body['items'] as CameraStatus[];
}

/** Where a camera's live playlist is served. */
export function livePlaylistUrl(cameraId: string, quality: LiveQuality = 'sub'): string {
  return `/api/cameras/${encodeURIComponent(cameraId)}/live/index.m3u8?quality=${quality}`;
}

/** Whether live video can start now, and if not, what to tell staff and when to try again. */
export type LiveProbe =
  { ok: true } | { ok: false; code: string; message: string; retryAfterS: number; signIn: boolean };

/** How long to wait before asking again when the server does not say. */
const DEFAULT_RETRY_S = 10;

/**
 * Asks for the playlist once, as the player would. This starts the stream on the server, and a
 * refusal comes with the server's own words ("Camera offline: …"), which the player's error
 * events do not carry.
 */
export async function probeLive(
  cameraId: string,
  quality: LiveQuality = 'sub',
  signal?: AbortSignal,
): Promise<LiveProbe> {
  let res: Response;
  try {
    res = await fetch(livePlaylistUrl(cameraId, quality), {
      credentials: 'same-origin',
      cache: 'no-store',
      ...(signal ? { signal } : {}),
    });
  } catch (e) {
    if (signal?.aborted) throw e;
    return {
      ok: false,
      code: 'network',
      message: 'Cannot reach the Parcelroom server.',
      retryAfterS: DEFAULT_RETRY_S,
      signIn: false,
    };
  }
  if (res.ok) {
    await res.body?.cancel();
    return { ok: true };
  }
  const error = await errorOf(res);
  return {
    ok: false,
    code: error.code,
    message: error.message,
    retryAfterS: error.retryAfter ?? DEFAULT_RETRY_S,
    signIn: res.status === 401,
  };
}

export type BadgeTone = 'ok' | 'warn' | 'danger' | 'neutral';

/** The state badge of a camera tile. */
export function cameraBadge(camera: CameraStatus): { label: string; tone: BadgeTone } {
  switch (camera.state) {
    case 'online':
      return { label: 'online', tone: 'ok' };
    case 'offline':
      return { label: 'offline', tone: 'danger' };
    case 'starting':
      return { label: 'connecting', tone: 'neutral' };
    default:
      return { label: camera.state, tone: 'neutral' };
  }
}

const FAULT_WORDS: Record<CameraFault, string> = {
  offline: 'not reachable',
  auth_failed: 'the camera refused the user name or password',
  unsupported: 'the camera sends a stream this server cannot use',
  missing_part: 'a part this server needs for video is not installed',
};

/** "Camera offline: …" for an offline camera, null otherwise. */
export function offlineText(camera: CameraStatus): string | null {
  if (camera.state !== 'offline') return null;
  const fault = camera.fault as CameraFault | undefined;
  const why = camera.reason ?? (fault ? FAULT_WORDS[fault] : undefined) ?? 'no video';
  return `Camera offline: ${why}`;
}
