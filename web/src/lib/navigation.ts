// Paths, roles and the navigation menu. Kept free of network code so both the API client and the
// pages can use it.
import { resolve } from '$app/paths';
import type { ResolvedPathname } from '$app/types';
import type { Role } from './api';

/** `/login?next=<here>`; `here` is the path (with query) to return to after signing in. */
export function loginHref(here?: string): ResolvedPathname {
  const login = resolve('/login');
  if (here === undefined || here === '' || here === '/' || here.startsWith('/login')) return login;
  return `${login}?next=${encodeURIComponent(here)}` as ResolvedPathname;
}

/**
 * Where to go after signing in: the `next` parameter when it is a same-site path (starts with a
 * single '/', stays on this origin, is not the login page itself), the Room page otherwise.
 */
export function safeNext(next: string | null, origin: string): ResolvedPathname {
  const home = resolve('/');
  if (next === null || !next.startsWith('/') || next.startsWith('//') || next.includes('\\')) {
    return home;
  }
  let target: URL;
  try {
    target = new URL(next, origin);
  } catch {
    return home;
  }
  if (target.origin !== origin || target.pathname.startsWith('/login')) return home;
  return `${target.pathname}${target.search}${target.hash}` as ResolvedPathname;
}

export function canManage(role: Role): boolean {
  return role === 'manager' || role === 'admin';
}

export function isAdmin(role: Role): boolean {
  return role === 'admin';
}

export interface NavItem {
  label: string;
  href: ResolvedPathname;
  /** Whether a user with this role may use the page (the server enforces it regardless). */
  allowed: (role: Role) => boolean;
}

const everyone = (): boolean => true;

export const NAV_ITEMS: readonly NavItem[] = [
  { label: 'Room', href: resolve('/'), allowed: everyone },
  { label: 'Packages', href: resolve('/packages'), allowed: everyone },
  { label: 'Flags', href: resolve('/flags'), allowed: everyone },
  { label: 'Audit', href: resolve('/audit'), allowed: canManage },
  { label: 'Cases', href: resolve('/cases'), allowed: canManage },
  { label: 'Analytics', href: resolve('/analytics'), allowed: canManage },
  { label: 'Residents', href: resolve('/residents'), allowed: everyone },
  { label: 'Carrier codes', href: resolve('/carrier-codes'), allowed: canManage },
  { label: 'Compliance', href: resolve('/compliance'), allowed: canManage },
  { label: 'Settings', href: resolve('/settings'), allowed: isAdmin },
];

/** True when `pathname` is the page `href` points at, or a page below it. */
export function isCurrent(href: string, pathname: string): boolean {
  if (href === '/' || href === '') return pathname === '/' || pathname === '';
  return pathname === href || pathname.startsWith(`${href}/`);
}
