import { createHmac, randomBytes, randomInt } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The site key that hashes carrier and pickup codes (HMAC-SHA256). Codes are short (6 digits), so
 * a plain hash of one is reversed by trying all 10^6; keyed, a stolen database is useless without
 * this key, which never enters the database.
 */
export function loadSiteSecret(dataDir: string, fromEnv: string | undefined): Buffer {
  if (fromEnv) return Buffer.from(fromEnv, 'utf8');
  const file = join(dataDir, 'site-secret.key');
  if (existsSync(file)) {
    const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
    if (key.length >= 32) return key;
    throw new Error(`${file} is damaged (shorter than 32 bytes); restore it from a backup`);
  }
  const key = randomBytes(32);
  writeFileSync(file, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  return key;
}

export function codeHasher(secret: Buffer): (code: string) => string {
  return (code) => createHmac('sha256', secret).update(code, 'utf8').digest('hex');
}

/** A uniformly random numeric code; never starts a run of one repeated digit (e.g. 000000). */
export function generateCode(length: number): string {
  for (;;) {
    let code = '';
    for (let i = 0; i < length; i++) code += String(randomInt(10));
    if (!/^(\d)\1+$/.test(code)) return code;
  }
}
