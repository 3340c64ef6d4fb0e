/**
 * The key that signs evidence manifests: Ed25519, so a package can be checked by anyone with the
 * public half (`npm run evidence:verify`, or openssl) long after it left the building.
 *
 * The private half never enters the database. It comes from `PARCELROOM_SIGNING_KEY` (a PKCS#8
 * PEM) when the site keeps it in a secret store, else from `DATA_DIR/evidence-signing.key`, made
 * on first use (mode 0600, created exclusively so two processes never overwrite each other's).
 * The public half is recorded in `site_signing_keys` with its fingerprint, and kept after the key
 * is replaced, so an export signed years ago still verifies.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { and, eq, isNull, ne } from 'drizzle-orm';
import { siteSigningKeys, type Db } from '../../db/index.ts';
import type { Clock } from '../../hardware/clock.ts';

export const SIGNING_ALGORITHM = 'Ed25519';
export const SIGNING_KEY_FILE = 'evidence-signing.key';

export interface SigningKey {
  /** First 16 hex digits of the SHA-256 of the DER (SPKI) public key. */
  id: string;
  algorithm: typeof SIGNING_ALGORITHM;
  publicKeyPem: string;
  /** Base64 Ed25519 signature of exactly these bytes. */
  sign(data: Uint8Array): string;
}

/** A key that is not Ed25519 or not a key at all: the message says which source is wrong. */
export class SigningKeyError extends Error {
  override readonly name = 'SigningKeyError';
}

/** The fingerprint of a public key (PEM or KeyObject). */
export function keyIdOf(publicKey: KeyObject | string): string {
  const key = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
  const der = key.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 16);
}

/** Checks a base64 Ed25519 signature of `data` against a PEM public key; false on any doubt. */
export function verifySignature(
  publicKeyPem: string,
  data: Uint8Array,
  signature: string,
): boolean {
  try {
    const key = createPublicKey(publicKeyPem);
    if (key.asymmetricKeyType !== 'ed25519') return false;
    const sig = Buffer.from(signature.trim(), 'base64');
    if (sig.length !== 64) return false;
    return verify(null, data, key, sig);
  } catch {
    return false;
  }
}

export function signingKeyFrom(privateKey: KeyObject): SigningKey {
  if (privateKey.asymmetricKeyType !== 'ed25519')
    throw new SigningKeyError(
      `the evidence signing key must be Ed25519, got ${privateKey.asymmetricKeyType ?? 'unknown'}`,
    );
  const publicKey = createPublicKey(privateKey);
  return {
    id: keyIdOf(publicKey),
    algorithm: SIGNING_ALGORITHM,
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    sign: (data) => sign(null, data, privateKey).toString('base64'),
  };
}

function parsePrivate(pem: string, source: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (e) {
    throw new SigningKeyError(
      `${source} is not a private key in PEM form: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
}

/** Reads (or, the first time, makes) the site's signing key. */
export function loadSigningKey(dataDir: string, fromEnv: string | undefined): SigningKey {
  if (fromEnv && fromEnv.trim() !== '')
    return signingKeyFrom(parsePrivate(fromEnv, 'PARCELROOM_SIGNING_KEY'));
  const file = join(dataDir, SIGNING_KEY_FILE);
  try {
    return signingKeyFrom(parsePrivate(readFileSync(file, 'utf8'), file));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  try {
    writeFileSync(file, pem, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    // Another process made it between our read and write: use theirs, never replace it.
    if ((e as NodeJS.ErrnoException).code === 'EEXIST')
      return signingKeyFrom(parsePrivate(readFileSync(file, 'utf8'), file));
    throw e;
  }
  return signingKeyFrom(privateKey);
}

export interface SigningKeys {
  /** The current key, loaded on first use and recorded in site_signing_keys. */
  current(): Promise<SigningKey>;
  /** Every public key this site has signed with, newest first. */
  list(): Promise<(typeof siteSigningKeys.$inferSelect)[]>;
}

/**
 * The site's keys: the current one loaded once, its public half recorded; a key that replaced an
 * earlier one marks the earlier ones retired (they still verify what they signed).
 */
export function createSigningKeys(deps: {
  db: Db;
  siteId: string;
  clock: Clock;
  load: () => SigningKey;
}): SigningKeys {
  let ready: Promise<SigningKey> | null = null;
  const register = async (): Promise<SigningKey> => {
    const key = deps.load();
    const now = new Date(deps.clock.now());
    await deps.db
      .insert(siteSigningKeys)
      .values({
        id: key.id,
        siteId: deps.siteId,
        algorithm: key.algorithm,
        publicKeyPem: key.publicKeyPem,
        createdAt: now,
      })
      .onConflictDoUpdate({ target: siteSigningKeys.id, set: { retiredAt: null } });
    await deps.db
      .update(siteSigningKeys)
      .set({ retiredAt: now })
      .where(
        and(
          eq(siteSigningKeys.siteId, deps.siteId),
          ne(siteSigningKeys.id, key.id),
          isNull(siteSigningKeys.retiredAt),
        ),
      );
    return key;
  };
  return {
    current() {
      ready ??= register().catch((e: unknown) => {
        ready = null; // a database hiccup: the next export tries again
        throw e;
      });
      return ready;
    },
    async list() {
      const rows = await deps.db
        .select()
        .from(siteSigningKeys)
        .where(eq(siteSigningKeys.siteId, deps.siteId));
      return rows.sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
    },
  };
}
