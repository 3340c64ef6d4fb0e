import type { Principal } from '../auth/auth.service.ts';

/** Values the middleware puts on each request. */
export interface AppEnv {
  Variables: {
    principal: Principal;
    /** Why there is no principal, for the 401 message. */
    authProblem?: string;
    authStatus?: 401 | 403;
    requestId: string;
    /** Resolves the same cookie or token again: is the caller still signed in? (long streams) */
    recheckAuth: () => Promise<boolean>;
    /** Set by a write route so the audit log names what it touched. */
    audit?: { action?: string; targetType?: string; targetId?: string; details?: unknown };
  };
}
