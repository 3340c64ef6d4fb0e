/**
 * Reading a clip route's refusal (409 still recording, 404 no video): the video element's error
 * event carries neither the server's words nor Retry-After, so the players probe first and read
 * the answer with these.
 */

/** Seconds to wait from a Retry-After header (seconds or an HTTP date); null when absent. */
export function retryAfterOf(res: Response): number | null {
  const raw = res.headers.get('Retry-After');
  if (raw === null) return null;
  const n = Number(raw);
  if (Number.isFinite(n) && n >= 0) return Math.ceil(n);
  const date = Date.parse(raw);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/** The API's `{error: {code, message}}`, or a plain stand-in for a proxy's page or no body. */
export async function errorOf(res: Response): Promise<{ code: string; message: string }> {
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    // a proxy's page, an empty body
  }
  const err =
    typeof body === 'object' && body !== null
      ? (body as { error?: { code?: unknown; message?: unknown } }).error
      : undefined;
  return {
    code: typeof err?.code === 'string' ? err.code : `http_${res.status}`,
    message:
      typeof err?.message === 'string' && err.message !== ''
        ? err.message
        : `The server answered ${res.status}.`,
  };
}
