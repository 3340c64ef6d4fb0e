import { createHash, randomBytes } from 'node:crypto';

/** High-entropy bearer secrets (session cookies, API tokens). Stored only as SHA-256. */
export function newSecret(prefix: string): string {
  return `${prefix}_${randomBytes(32).toString('base64url')}`;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}
