import { and, asc, desc, eq, isNull } from 'drizzle-orm';
import { Hono } from 'hono';
import { z } from 'zod';
import { apiTokens, staffUsers, type Db } from '../../db/index.ts';
import type { Clock } from '../../hardware/clock.ts';
import { TOKEN_SCOPES, type AuthService } from '../auth/auth.service.ts';
import { hashPassword } from '../auth/password.hasher.ts';
import { can, ROLES } from '../auth/roles.ts';
import { requirePermission } from '../http/auth.middleware.ts';
import type { AppEnv } from '../http/context.ts';
import { ApiError, notFound, readBody } from '../http/errors.ts';

const password = z.string().min(12, 'at least 12 characters').max(256);

const staffBody = z.strictObject({
  email: z.email().max(254),
  name: z.string().trim().min(1).max(120),
  role: z.enum(ROLES),
  password,
});

const staffPatch = z.strictObject({
  name: z.string().trim().min(1).max(120).optional(),
  role: z.enum(ROLES).optional(),
  password: password.optional(),
  disabled: z.boolean().optional(),
});

const tokenBody = z
  .strictObject({
    name: z.string().trim().min(1).max(120),
    role: z.enum(ROLES),
    /** `roster`: a property-management system's token, limited to the roster routes. */
    scope: z.enum(TOKEN_SCOPES).optional(),
    expiresAt: z.iso.datetime({ offset: true }).optional(),
  })
  .refine((b) => b.scope !== 'roster' || can(b.role, 'roster:import'), {
    message: 'a roster token needs a role that may import the roster (manager or admin)',
    path: ['role'],
  });

export function staffRoutes(deps: { db: Db; siteId: string; clock: Clock; auth: AuthService }) {
  const { db, siteId, clock, auth } = deps;
  const app = new Hono<AppEnv>();

  app.get('/staff', requirePermission('staff:read'), async (c) => {
    const rows = await db
      .select()
      .from(staffUsers)
      .where(eq(staffUsers.siteId, siteId))
      .orderBy(asc(staffUsers.email));
    return c.json({
      items: rows.map((r) => ({
        id: r.id,
        email: r.email,
        name: r.name,
        role: r.role,
        disabled: r.disabledAt !== null,
        createdAt: r.createdAt.toISOString(),
      })),
    });
  });

  app.post('/staff', requirePermission('staff:write'), async (c) => {
    const body = await readBody(c, staffBody);
    const [existing] = await db
      .select({ id: staffUsers.id })
      .from(staffUsers)
      .where(and(eq(staffUsers.siteId, siteId), eq(staffUsers.email, body.email.toLowerCase())));
    if (existing)
      throw new ApiError(409, 'duplicate_email', 'a staff member has this email', 'email');
    const user = await auth.createStaff(body);
    c.set('audit', {
      action: 'staff.create',
      targetType: 'staff',
      targetId: user.id,
      details: { email: user.email, role: user.role },
    });
    return c.json({ id: user.id }, 201);
  });

  app.patch('/staff/:id', requirePermission('staff:write'), async (c) => {
    const body = await readBody(c, staffPatch);
    const id = c.req.param('id');
    const principal = c.get('principal');
    if (principal.kind === 'staff' && principal.staffId === id && (body.role || body.disabled)) {
      // An admin cannot lock the building out of its last admin by accident.
      throw new ApiError(409, 'self_change', 'change your own role or access from another admin');
    }
    const set: Partial<typeof staffUsers.$inferInsert> = { updatedAt: new Date(clock.now()) };
    if (body.name !== undefined) set.name = body.name;
    if (body.role !== undefined) set.role = body.role;
    if (body.password !== undefined) set.passwordHash = await hashPassword(body.password);
    if (body.disabled !== undefined) set.disabledAt = body.disabled ? new Date(clock.now()) : null;
    const updated = await db
      .update(staffUsers)
      .set(set)
      .where(and(eq(staffUsers.id, id), eq(staffUsers.siteId, siteId)))
      .returning({ id: staffUsers.id });
    if (updated.length === 0) throw notFound('staff member');
    c.set('audit', {
      action: 'staff.update',
      targetType: 'staff',
      targetId: id,
      details: { fields: Object.keys(body) },
    });
    return c.json({ id });
  });

  app.get('/tokens', requirePermission('tokens:write'), async (c) => {
    const rows = await db
      .select()
      .from(apiTokens)
      .where(and(eq(apiTokens.siteId, siteId), isNull(apiTokens.revokedAt)))
      .orderBy(desc(apiTokens.createdAt));
    return c.json({
      items: rows.map((r) => ({
        id: r.id,
        name: r.name,
        role: r.role,
        scope: r.scope,
        createdAt: r.createdAt.toISOString(),
        lastUsedAt: r.lastUsedAt?.toISOString() ?? null,
        expiresAt: r.expiresAt?.toISOString() ?? null,
      })),
    });
  });

  app.post('/tokens', requirePermission('tokens:write'), async (c) => {
    const body = await readBody(c, tokenBody);
    const principal = c.get('principal');
    const created = await auth.createToken({
      name: body.name,
      role: body.role,
      scope: body.scope,
      createdBy: principal.kind === 'staff' ? principal.staffId : undefined,
      expiresAt: body.expiresAt ? new Date(body.expiresAt) : undefined,
    });
    c.set('audit', {
      action: 'token.create',
      targetType: 'api_token',
      targetId: created.id,
      details: { name: body.name, role: body.role, scope: body.scope ?? 'full' },
    });
    // The token is shown this once; only its hash is kept.
    return c.json(created, 201);
  });

  app.delete('/tokens/:id', requirePermission('tokens:write'), async (c) => {
    const id = c.req.param('id');
    const updated = await db
      .update(apiTokens)
      .set({ revokedAt: new Date(clock.now()) })
      .where(and(eq(apiTokens.id, id), eq(apiTokens.siteId, siteId), isNull(apiTokens.revokedAt)))
      .returning({ id: apiTokens.id });
    if (updated.length === 0) throw notFound('API token');
    c.set('audit', { action: 'token.revoke', targetType: 'api_token', targetId: id });
    return c.json({ id, revoked: true });
  });

  return app;
}
