/**
 * Whether an error means the database is out of reach (stopped, restarting, network gone), not
 * that a query was wrong. A request that fails this way is answered 503 `database_unavailable`
 * with Retry-After, so the desk sees "try again" and knows nothing was stored, instead of a 500
 * that reads like a bug. The doors never get here: they decide from memory and journal to disk.
 */

/** Socket errors of a connection that cannot be made or was cut. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * SQLSTATEs of a server going away: class 08 (connection exception), 57P01-57P03 (admin or crash
 * shutdown, cannot connect now: starting up or in recovery), 53300 (too many connections).
 */
const UNAVAILABLE_SQLSTATE = /^(08[0-9A-Z]{3}|57P0[1-3]|53300)$/;

/** node-postgres' own words when a connection dies or cannot be had in time. */
const UNAVAILABLE_MESSAGE =
  /connection terminated|connection timeout|timeout exceeded when trying to connect|client has encountered a connection error|query read timeout|the database system is (starting up|shutting down|in recovery mode)/i;

export function isDatabaseUnavailable(err: unknown): boolean {
  // Drizzle wraps the driver's error ("Failed query: …") with it as the cause; walk the chain.
  const seen = new Set<unknown>();
  for (let e: unknown = err; e && typeof e === 'object' && !seen.has(e);) {
    seen.add(e);
    const { code, message, cause } = e as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof code === 'string' && (NETWORK_CODES.has(code) || UNAVAILABLE_SQLSTATE.test(code)))
      return true;
    if (typeof message === 'string' && UNAVAILABLE_MESSAGE.test(message)) return true;
    // AggregateError: every address of "localhost" refused.
    const errors = (e as { errors?: unknown }).errors;
    if (Array.isArray(errors) && errors.length > 0 && errors.every(isDatabaseUnavailable))
      return true;
    e = cause;
  }
  return false;
}
