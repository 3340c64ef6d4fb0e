import { describe, expect, it } from 'vitest';
import { manualClock } from '../../hardware/clock.ts';
import { createLoginLimiter } from './login.limiter.ts';
import { hashPassword, verifyPassword } from './password.hasher.ts';
import { PERMISSIONS, can } from './roles.ts';
import { hashSecret, newSecret } from './secret.tokens.ts';

const FAST = { N: 1024, r: 8, p: 1 };

describe('password hasher', () => {
  it('verifies the right password only, with a fresh salt each time', async () => {
    const a = await hashPassword('correct horse battery', FAST);
    const b = await hashPassword('correct horse battery', FAST);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^scrypt\$1024\$8\$1\$/);
    expect(await verifyPassword('correct horse battery', a)).toBe(true);
    expect(await verifyPassword('correct horse batterY', a)).toBe(false);
    expect(await verifyPassword('', a)).toBe(false);
  });

  it('uses memory-hard defaults and refuses malformed hashes', async () => {
    const h = await hashPassword('x');
    expect(h.startsWith('scrypt$32768$8$1$')).toBe(true);
    for (const bad of ['', 'plain', 'scrypt$1$2$3', 'bcrypt$1$2$3$4$5', 'scrypt$x$8$1$aa$bb']) {
      expect(await verifyPassword('x', bad)).toBe(false);
    }
  });
});

describe('secrets', () => {
  it('are long, prefixed, distinct, and stored as SHA-256', () => {
    const a = newSecret('prs');
    expect(a).toMatch(/^prs_[A-Za-z0-9_-]{43}$/);
    expect(newSecret('prs')).not.toBe(a);
    expect(hashSecret(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashSecret(a)).toBe(hashSecret(a));
  });
});

describe('login limiter', () => {
  it('locks an email after 5 failures and frees it when the window passes', () => {
    const clock = manualClock();
    const l = createLoginLimiter({ clock });
    for (let i = 0; i < 4; i++) l.recordFailure('a@x.test', '10.0.0.1');
    expect(l.retryAfterMs('a@x.test', '10.0.0.1')).toBe(0);
    l.recordFailure('A@X.test ', '10.0.0.1');
    expect(l.retryAfterMs('a@x.test', '10.0.0.2')).toBe(15 * 60_000);
    clock.advance(10 * 60_000);
    expect(l.retryAfterMs('a@x.test', '10.0.0.2')).toBe(5 * 60_000);
    clock.advance(5 * 60_000);
    expect(l.retryAfterMs('a@x.test', '10.0.0.2')).toBe(0);
  });

  it('locks an address that sprays many emails', () => {
    const clock = manualClock();
    const l = createLoginLimiter({ clock, maxPerAddress: 3 });
    for (let i = 0; i < 3; i++) l.recordFailure(`u${i}@x.test`, '10.0.0.9');
    expect(l.retryAfterMs('fresh@x.test', '10.0.0.9')).toBeGreaterThan(0);
    expect(l.retryAfterMs('fresh@x.test', '10.0.0.8')).toBe(0);
  });

  it('a success clears the email count', () => {
    const clock = manualClock();
    const l = createLoginLimiter({ clock });
    for (let i = 0; i < 4; i++) l.recordFailure('a@x.test', 'ip');
    l.recordSuccess('a@x.test');
    l.recordFailure('a@x.test', 'ip');
    expect(l.retryAfterMs('a@x.test', 'other')).toBe(0);
  });
});

describe('roles', () => {
  it('each role holds everything the role below holds, and more', () => {
    for (const p of PERMISSIONS.staff) expect(can('manager', p)).toBe(true);
    for (const p of PERMISSIONS.manager) expect(can('admin', p)).toBe(true);
    expect(PERMISSIONS.manager.size).toBeGreaterThan(PERMISSIONS.staff.size);
    expect(PERMISSIONS.admin.size).toBeGreaterThan(PERMISSIONS.manager.size);
  });

  it('matches the brief: staff handle packages and flags, managers people, admins the system', () => {
    expect(can('staff', 'packages:write')).toBe(true);
    expect(can('staff', 'flags:review')).toBe(true);
    expect(can('staff', 'credentials:write')).toBe(false);
    expect(can('staff', 'carrier_codes:write')).toBe(false);
    expect(can('manager', 'credentials:write')).toBe(true);
    expect(can('manager', 'audit:export')).toBe(true);
    expect(can('staff', 'flags:stats')).toBe(false);
    expect(can('manager', 'flags:stats')).toBe(true);
    expect(can('admin', 'flags:stats')).toBe(true);
    expect(can('manager', 'staff:write')).toBe(false);
    expect(can('manager', 'settings:write')).toBe(false);
    expect(can('admin', 'staff:write')).toBe(true);
    expect(can('admin', 'settings:write')).toBe(true);
  });
});
