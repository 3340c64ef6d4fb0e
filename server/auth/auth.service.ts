import { and, eq, isNull } from 'drizzle-orm';
import { apiTokens, newId, sessions, staffUsers, type Db } from '../../db/index.ts';
import type { Clock } from '../../hardware/clock.ts';
import { burnPasswordCheck, hashPassword, verifyPassword } from './password.hasher.ts';
import type { Role } from './roles.ts';
import { hashSecret, newSecret } from './secret.tokens.ts';

export type Principal =
  | {
      kind: 'staff';
      staffId: string;
      email: string;
      name: string;
      role: Role;
      sessionId: string;
    }
  | {
      kind: 'token';
      tokenId: string;
      name: string;
      role: Role;
      /** `roster`: a property-management system that may only push roster changes. */
      scope?: TokenScope;
    };

export const TOKEN_SCOPES = ['full', 'roster'] as const;
export type TokenScope = (typeof TOKEN_SCOPES)[number];

export interface StaffView {
  id: string;
  email: string;
  name: string;
  role: Role;
  disabled: boolean;
  createdAt: string;
}

export interface AuthService {
  login(
    email: string,
    password: string,
    meta: { ip?: string | undefined; userAgent?: string | undefined },
  ): Promise<{ token: string; expiresAt: Date; user: StaffView } | null>;
  resolveSession(token: string): Promise<Principal | null>;
  resolveBearer(token: string): Promise<Principal | null>;
  logout(sessionId: string): Promise<void>;
  createStaff(input: {
    email: string;
    name: string;
    role: Role;
    password: string;
  }): Promise<StaffView>;
  ensureAdmin(email: string, password: string): Promise<{ created: boolean }>;
  hasAdmin(): Promise<boolean>;
  createToken(input: {
    name: string;
    role: Role;
    scope?: TokenScope | undefined;
    createdBy?: string | undefined;
    expiresAt?: Date | undefined;
  }): Promise<{ id: string; token: string }>;
}

export interface AuthOptions {
  db: Db;
  siteId: string;
  clock: Clock;
  /** Idle lifetime of a console session. */
  sessionIdleMs: number;
  /** A session ends this long after login, however busy. */
  sessionMaxMs?: number;
}

export const SESSION_COOKIE = 'parcelroom_session';

export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

function view(row: typeof staffUsers.$inferSelect): StaffView {
  return {
    id: row.id,
    email: row.email,
    name: row.name,
    role: row.role,
    disabled: row.disabledAt !== null,
    createdAt: row.createdAt.toISOString(),
  };
}

export function createAuthService(opts: AuthOptions): AuthService {
  const { db, siteId, clock } = opts;
  const maxMs = opts.sessionMaxMs ?? 7 * 24 * 3_600_000;

  return {
    async login(email, password, meta) {
      const [row] = await db
        .select()
        .from(staffUsers)
        .where(and(eq(staffUsers.siteId, siteId), eq(staffUsers.email, normaliseEmail(email))));
      const ok = row
        ? await verifyPassword(password, row.passwordHash)
        : await burnPasswordCheck(password);
      if (!row || !ok || row.disabledAt) return null;
      // A fresh secret at every login: a cookie planted before login (fixation) is worthless.
      const token = newSecret('prs');
      const now = new Date(clock.now());
      const expiresAt = new Date(clock.now() + opts.sessionIdleMs);
      await db.insert(sessions).values({
        id: newId(clock.now()),
        siteId,
        staffId: row.id,
        tokenHash: hashSecret(token),
        createdAt: now,
        lastSeenAt: now,
        expiresAt,
        ip: meta.ip ?? null,
        userAgent: meta.userAgent?.slice(0, 300) ?? null,
      });
      return { token, expiresAt, user: view(row) };
    },

    async resolveSession(token) {
      const [row] = await db
        .select({ session: sessions, staff: staffUsers })
        .from(sessions)
        .innerJoin(staffUsers, eq(staffUsers.id, sessions.staffId))
        .where(and(eq(sessions.tokenHash, hashSecret(token)), isNull(sessions.endedAt)));
      if (!row || row.session.siteId !== siteId) return null;
      const now = clock.now();
      if (row.session.expiresAt.getTime() <= now) return null;
      if (row.session.createdAt.getTime() + maxMs <= now) return null;
      if (row.staff.disabledAt) return null;
      // Sliding expiry, written at most once a minute so reads stay cheap.
      if (now - row.session.lastSeenAt.getTime() > 60_000) {
        await db
          .update(sessions)
          .set({ lastSeenAt: new Date(now), expiresAt: new Date(now + opts.sessionIdleMs) })
          .where(eq(sessions.id, row.session.id));
      }
      return {
        kind: 'staff',
        staffId: row.staff.id,
        email: row.staff.email,
        name: row.staff.name,
        role: row.staff.role,
        sessionId: row.session.id,
      };
    },

    async resolveBearer(token) {
      const [row] = await db
        .select()
        .from(apiTokens)
        .where(and(eq(apiTokens.tokenHash, hashSecret(token)), isNull(apiTokens.revokedAt)));
      if (!row || row.siteId !== siteId) return null;
      const now = clock.now();
      if (row.expiresAt && row.expiresAt.getTime() <= now) return null;
      if (!row.lastUsedAt || now - row.lastUsedAt.getTime() > 60_000) {
        await db
          .update(apiTokens)
          .set({ lastUsedAt: new Date(now) })
          .where(eq(apiTokens.id, row.id));
      }
      return {
        kind: 'token',
        tokenId: row.id,
        name: row.name,
        role: row.role,
        scope: row.scope,
      };
    },

    async logout(sessionId) {
      await db
        .update(sessions)
        .set({ endedAt: new Date(clock.now()) })
        .where(eq(sessions.id, sessionId));
    },

    async createStaff(input) {
      const now = new Date(clock.now());
      const [row] = await db
        .insert(staffUsers)
        .values({
          id: newId(clock.now()),
          siteId,
          email: normaliseEmail(input.email),
          name: input.name,
          role: input.role,
          passwordHash: await hashPassword(input.password),
          createdAt: now,
          updatedAt: now,
        })
        .returning();
      return view(row!);
    },

    async hasAdmin() {
      const rows = await db
        .select({ id: staffUsers.id })
        .from(staffUsers)
        .where(and(eq(staffUsers.siteId, siteId), eq(staffUsers.role, 'admin')))
        .limit(1);
      return rows.length > 0;
    },

    async ensureAdmin(email, password) {
      const [existing] = await db
        .select({ id: staffUsers.id })
        .from(staffUsers)
        .where(and(eq(staffUsers.siteId, siteId), eq(staffUsers.email, normaliseEmail(email))));
      if (existing || (await this.hasAdmin())) return { created: false };
      await this.createStaff({ email, name: 'Administrator', role: 'admin', password });
      return { created: true };
    },

    async createToken(input) {
      const token = newSecret('prt');
      const id = newId(clock.now());
      await db.insert(apiTokens).values({
        id,
        siteId,
        name: input.name,
        role: input.role,
        scope: input.scope ?? 'full',
        tokenHash: hashSecret(token),
        createdBy: input.createdBy ?? null,
        createdAt: new Date(clock.now()),
        expiresAt: input.expiresAt ?? null,
      });
      return { id, token };
    },
  };
}
