/**
 * Least privilege per role. Each role is listed in full rather than inherited, so reading this
 * table tells exactly what a role may do.
 */
export const ROLES = ['staff', 'manager', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export type Permission =
  | 'doors:read'
  | 'events:read'
  | 'packages:read'
  | 'packages:write'
  | 'flags:read'
  | 'flags:review'
  /** Per-zone false-positive counts of the analytics: for tuning, not for the review queue. */
  | 'flags:stats'
  | 'residents:read'
  | 'residents:write'
  | 'credentials:read'
  | 'credentials:write'
  | 'carrier_codes:read'
  | 'carrier_codes:write'
  | 'audit:export'
  | 'sim:drive'
  | 'staff:read'
  | 'staff:write'
  | 'settings:read'
  | 'settings:write'
  | 'tokens:write'
  | 'staff_audit:read'
  /** Vacation holds and fresh pickup codes for a resident at the desk. */
  | 'holds:write'
  | 'pickup_codes:write'
  /** Incident cases and their evidence exports. */
  | 'cases:read'
  | 'cases:write'
  /** Room analytics and carrier compliance figures. */
  | 'analytics:read'
  | 'compliance:read'
  /** Roster import (CSV or a property-management system's push). */
  | 'roster:import'
  /** The outbound webhook catalogue: subscriptions and the delivery log. */
  | 'webhooks:read'
  | 'webhooks:write';

const STAFF: readonly Permission[] = [
  'doors:read',
  'events:read',
  'packages:read',
  'packages:write',
  'flags:read',
  'flags:review',
  'residents:read',
  'credentials:read',
  'sim:drive',
  'holds:write',
  'pickup_codes:write',
];

const MANAGER: readonly Permission[] = [
  ...STAFF,
  'residents:write',
  'credentials:write',
  'carrier_codes:read',
  'carrier_codes:write',
  'audit:export',
  'flags:stats',
  'cases:read',
  'cases:write',
  'analytics:read',
  'compliance:read',
  'roster:import',
];

const ADMIN: readonly Permission[] = [
  ...MANAGER,
  'staff:read',
  'staff:write',
  'settings:read',
  'settings:write',
  'tokens:write',
  'staff_audit:read',
  'webhooks:read',
  'webhooks:write',
];

export const PERMISSIONS: Record<Role, ReadonlySet<Permission>> = {
  staff: new Set(STAFF),
  manager: new Set(MANAGER),
  admin: new Set(ADMIN),
};

export function can(role: Role, permission: Permission): boolean {
  return PERMISSIONS[role].has(permission);
}
