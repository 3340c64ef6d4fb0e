import { ApiError } from './api';

/**
 * What to tell staff when a request failed: the server's own words when it answered with an
 * error, else the page's fallback (the network dropped, the server is down).
 */
export function errorMessage(e: unknown, fallback: string): string {
  return e instanceof ApiError ? e.message : fallback;
}
