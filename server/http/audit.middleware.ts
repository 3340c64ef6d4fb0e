import type { MiddlewareHandler } from 'hono';
import { newId, staffAuditLog, type Db } from '../../db/index.ts';
import type { Clock } from '../../hardware/clock.ts';
import type { Logger } from '../log/logger.ts';
import type { AppEnv } from './context.ts';

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Every write by a person or token lands in the staff audit log: who, what, when, from where.
 * Done once here so no route can forget it.
 */
export function auditWrites(deps: {
  db: Db;
  siteId: string;
  clock: Clock;
  log: Logger;
}): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await next();
    if (!UNSAFE.has(c.req.method) || c.res.status >= 400) return;
    const principal = c.get('principal');
    if (!principal) return;
    const audit = c.get('audit') ?? {};
    const route = c.req.routePath;
    try {
      await deps.db.insert(staffAuditLog).values({
        id: newId(deps.clock.now()),
        siteId: deps.siteId,
        at: new Date(deps.clock.now()),
        actorStaffId: principal.kind === 'staff' ? principal.staffId : null,
        actorTokenId: principal.kind === 'token' ? principal.tokenId : null,
        actorLabel: principal.kind === 'staff' ? principal.email : `token:${principal.name}`,
        action: audit.action ?? `${c.req.method} ${route}`,
        targetType: audit.targetType ?? null,
        targetId: audit.targetId ?? c.req.param('id') ?? null,
        details: audit.details ?? {},
        ip: clientAddress(c.env) ?? null,
      });
    } catch (err) {
      deps.log.error('audit log write failed', { err, route, actor: principal });
    }
  };
}

/** The peer address from @hono/node-server's bindings, when running on a socket. */
export function clientAddress(env: unknown): string | undefined {
  const incoming = (env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)
    ?.incoming;
  return incoming?.socket?.remoteAddress;
}
