import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTempDir, type TempDir } from '../../test/harness/temp-dir.ts';
import {
  keyIdOf,
  loadSigningKey,
  SIGNING_KEY_FILE,
  SigningKeyError,
  verifySignature,
} from './signing.key.ts';

let dir: TempDir;
beforeEach(async () => {
  dir = await makeTempDir('parcelroom-signing');
});
afterEach(async () => {
  await dir.cleanup();
});

describe('evidence signing key', () => {
  it('is made once in DATA_DIR, private to its owner, and the same key on the next start', () => {
    const first = loadSigningKey(dir.path, undefined);
    const file = join(dir.path, SIGNING_KEY_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const again = loadSigningKey(dir.path, undefined);
    expect(again.id).toBe(first.id);
    expect(again.publicKeyPem).toBe(first.publicKeyPem);
    expect(first.id).toBe(keyIdOf(createPublicKey(first.publicKeyPem)));
    const data = new TextEncoder().encode('manifest');
    expect(verifySignature(first.publicKeyPem, data, first.sign(data))).toBe(true);
    expect(
      verifySignature(first.publicKeyPem, new TextEncoder().encode('other'), first.sign(data)),
    ).toBe(false);
  });

  it('takes PARCELROOM_SIGNING_KEY over the file, and refuses a key that is not Ed25519', () => {
    const pem = generateKeyPairSync('ed25519')
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    const fromEnv = loadSigningKey(dir.path, pem);
    expect(fromEnv.publicKeyPem).toBe(
      createPublicKey(pem).export({ type: 'spki', format: 'pem' }).toString(),
    );
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    expect(() => loadSigningKey(dir.path, rsa)).toThrow(SigningKeyError);
    expect(() => loadSigningKey(dir.path, 'not a key')).toThrow(/PARCELROOM_SIGNING_KEY/);
    writeFileSync(join(dir.path, SIGNING_KEY_FILE), 'damaged');
    expect(() => loadSigningKey(dir.path, undefined)).toThrow(SigningKeyError);
  });
});
