import { Hono } from 'hono';
import { deleteCookie, setCookie } from 'hono/cookie';
import { z } from 'zod';
import { newId, staffAuditLog, type Db } from '../../db/index.ts';
import type { Clock } from '../../hardware/clock.ts';
import { SESSION_COOKIE, type AuthService } from '../auth/auth.service.ts';
import type { LoginLimiter } from '../auth/login.limiter.ts';
import { clientAddress } from '../http/audit.middleware.ts';
import { requireAuth } from '../http/auth.middleware.ts';
import type { AppEnv } from '../http/context.ts';
import { ApiError, readBody } from '../http/errors.ts';
import type { Logger } from '../log/logger.ts';

const loginBody = z.strictObject({
  email: z.string().min(3).max(254),
  password: z.string().min(1).max(256),
});

export interface AuthRoutesDeps {
  auth: AuthService;
  limiter: LoginLimiter;
  db: Db;
  siteId: string;
  clock: Clock;
  log: Logger;
  secureCookies: 'auto' | 'always' | 'never';
}

function isHttps(url: string, forwardedProto: string | undefined): boolean {
  return url.startsWith('https:') || forwardedProto === 'https';
}

/** POST /api/auth/login is public; logout and me are mounted behind authentication. */
export function publicAuthRoutes(deps: AuthRoutesDeps) {
  const app = new Hono<AppEnv>();
  app.post('/login', async (c) => {
    const body = await readBody(c, loginBody);
    const address = clientAddress(c.env) ?? 'unknown';
    const wait = deps.limiter.retryAfterMs(body.email, address);
    if (wait > 0) {
      const seconds = Math.ceil(wait / 1000);
      throw new ApiError(
        429,
        'too_many_attempts',
        `Too many failed sign-ins. Try again in ${Math.ceil(seconds / 60)} minute(s).`,
        undefined,
        { 'Retry-After': String(seconds) },
      );
    }
    const result = await deps.auth.login(body.email, body.password, {
      ip: address,
      userAgent: c.req.header('user-agent'),
    });
    const record = async (action: string, actor: string, staffId: string | null) => {
      await deps.db.insert(staffAuditLog).values({
        id: newId(deps.clock.now()),
        siteId: deps.siteId,
        at: new Date(deps.clock.now()),
        actorStaffId: staffId,
        actorLabel: actor,
        action,
        targetType: 'session',
        ip: address,
      });
    };
    if (!result) {
      deps.limiter.recordFailure(body.email, address);
      deps.log.warn('sign-in refused', { email: body.email, ip: address });
      await record('auth.login_failed', body.email.slice(0, 254), null);
      throw new ApiError(401, 'invalid_credentials', 'Wrong email or password');
    }
    deps.limiter.recordSuccess(body.email);
    await record('auth.login', result.user.email, result.user.id);
    const secure =
      deps.secureCookies === 'always' ||
      (deps.secureCookies === 'auto' && isHttps(c.req.url, c.req.header('x-forwarded-proto')));
    setCookie(c, SESSION_COOKIE, result.token, {
      httpOnly: true,
      sameSite: 'Strict',
      secure,
      path: '/',
      expires: result.expiresAt,
    });
    return c.json({ user: result.user });
  });
  return app;
}

export function privateAuthRoutes(deps: AuthRoutesDeps) {
  const app = new Hono<AppEnv>();
  app.post('/logout', requireAuth(), async (c) => {
    const principal = c.get('principal');
    if (principal.kind === 'staff') await deps.auth.logout(principal.sessionId);
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
    c.set('audit', { action: 'auth.logout', targetType: 'session' });
    return c.json({ ok: true });
  });
  app.get('/me', requireAuth(), (c) => {
    const p = c.get('principal');
    if (p.kind === 'staff') {
      return c.json({ user: { id: p.staffId, email: p.email, name: p.name, role: p.role } });
    }
    return c.json({ token: { id: p.tokenId, name: p.name, role: p.role } });
  });
  return app;
}
