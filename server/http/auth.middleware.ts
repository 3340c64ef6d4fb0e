import type { MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import type { AuthService, Principal } from '../auth/auth.service.ts';
import { SESSION_COOKIE } from '../auth/auth.service.ts';
import { can, type Permission } from '../auth/roles.ts';
import type { AppEnv } from './context.ts';
import { ApiError } from './errors.ts';

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Who is calling: a console session cookie or an integration's bearer token. Resolved for every
 * /api request but enforced per route (`requireAuth`, `requirePermission`), so an unknown path is
 * still a plain 404.
 */
export function resolvePrincipal(auth: AuthService): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization');
    if (header !== undefined) {
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      const principal = match ? await auth.resolveBearer(match[1]!) : null;
      c.set('recheckAuth', async () =>
        match ? (await auth.resolveBearer(match[1]!)) !== null : false,
      );
      if (principal) c.set('principal', principal);
      else c.set('authProblem', 'invalid or expired API token');
      return next();
    }
    const cookie = getCookie(c, SESSION_COOKIE);
    const principal = cookie ? await auth.resolveSession(cookie) : null;
    c.set('recheckAuth', async () =>
      cookie ? (await auth.resolveSession(cookie)) !== null : false,
    );
    if (principal) {
      // Cookie writes must come from our own pages (CSRF), on top of SameSite=Strict.
      const origin = c.req.header('origin');
      if (
        UNSAFE.has(c.req.method) &&
        origin !== undefined &&
        origin !== new URL(c.req.url).origin
      ) {
        c.set('authProblem', 'cross-site request refused');
        c.set('authStatus', 403);
      } else {
        c.set('principal', principal);
      }
    } else {
      c.set('authProblem', cookie ? 'your session has ended; sign in again' : 'sign in first');
    }
    return next();
  };
}

/** What a narrowly scoped API token may do, whatever its role: a PMS only pushes the roster. */
const SCOPE_PERMISSIONS: Record<'roster', ReadonlySet<Permission>> = {
  roster: new Set<Permission>(['roster:import']),
};

function scopeAllows(principal: Principal, permission: Permission | null): boolean {
  if (principal.kind !== 'token' || !principal.scope || principal.scope === 'full') return true;
  return permission !== null && SCOPE_PERMISSIONS[principal.scope].has(permission);
}

export function requireAuth(permission: Permission | null = null): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const principal = c.get('principal');
    if (!principal) {
      const status = c.get('authStatus') ?? 401;
      throw new ApiError(
        status,
        status === 403 ? 'cross_origin' : 'unauthenticated',
        c.get('authProblem') ?? 'sign in first',
      );
    }
    if (!scopeAllows(principal, permission)) {
      throw new ApiError(
        403,
        'scope',
        `this API token's scope (${principal.kind === 'token' ? principal.scope : ''}) does not cover this route`,
      );
    }
    return next();
  };
}

export function requirePermission(permission: Permission): MiddlewareHandler<AppEnv> {
  const authed = requireAuth(permission);
  return (c, next) =>
    authed(c, async () => {
      const principal = c.get('principal');
      if (!can(principal.role, permission)) {
        throw new ApiError(403, 'forbidden', `the ${principal.role} role may not do this`);
      }
      await next();
    });
}
