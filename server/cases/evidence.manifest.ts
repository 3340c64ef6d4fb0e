/**
 * The evidence package's manifest, its signature and their check.
 *
 * `manifest.json` names every other file of the ZIP with its SHA-256 and size; `manifest.sig` is
 * the Ed25519 signature (base64) of the exact bytes of `manifest.json`; `public-key.pem` is the
 * public half of the key that signed it (its fingerprint is `keyId` in the manifest). Changing
 * one byte of a clip changes its hash; changing the manifest breaks the signature; re-signing
 * with another key changes the key id, which a verifier given the site's published key refuses.
 *
 * `verifyEvidenceZip` is the one check, used by the CLI (`npm run evidence:verify`), the tests
 * and anything else that wants to know whether a package is intact; it lists every problem
 * rather than stopping at the first, so a court-facing report can say exactly what changed.
 */
import { createHash } from 'node:crypto';
import { unzipSync, Zip, ZipDeflate, ZipPassThrough } from 'fflate';
import { keyIdOf, verifySignature, type SigningKey } from './signing.key.ts';

export const MANIFEST_FORMAT = 'parcelroom-evidence/1';
export const MANIFEST_FILE = 'manifest.json';
export const SIGNATURE_FILE = 'manifest.sig';
export const PUBLIC_KEY_FILE = 'public-key.pem';

export interface ManifestFile {
  path: string;
  sha256: string;
  bytes: number;
}

/** The clip windows a package holds: retention keeps their recordings while the case is open. */
export interface MediaWindow {
  itemId: string;
  cameraId: string;
  /** ISO times. */
  startAt: string;
  endAt: string;
  path: string;
}

export interface ManifestItem {
  id: string;
  kind: string;
  refId: string;
  note: string;
  /** Who added it: their name, and the staff id (or `token:<id>`). */
  addedBy: string;
  addedById: string;
  addedAt: string;
  /** When it happened (null: the referenced row is gone). */
  at: string | null;
  summary: string;
  clips: { path: string; cameraId: string; startAt: string; endAt: string }[];
  snapshots: string[];
  /** Why video or a snapshot the item should have is not in the package. */
  problems: string[];
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  site: { id: string; name: string };
  case: { id: string; title: string; description: string; status: string };
  export: { id: string; createdAt: string; createdBy: string };
  software: { name: 'parcelroom'; version: string };
  keyId: string;
  algorithm: string;
  items: ManifestItem[];
  media: MediaWindow[];
  files: ManifestFile[];
}

export const sha256Hex = (data: Uint8Array): string =>
  createHash('sha256').update(data).digest('hex');

/** Already compressed: stored as is, no point spending the CPU. */
const STORED = /\.(mp4|jpe?g|png)$/i;

/** Paths inside a package: plain relative names, nothing that climbs or hides. */
const SAFE_PATH = /^(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/;

export interface SignedPackage {
  zip: Uint8Array;
  manifest: Manifest;
  manifestBytes: Uint8Array;
}

/**
 * Writes a package as a ZIP stream, one file at a time: a case of fifty clips never has to be
 * in memory at once. The public key goes first; `finish` writes the manifest of everything added
 * and its signature, and ends the ZIP.
 */
export interface PackageWriter {
  /** Hashes and zips one file (media stored as is, text deflated). */
  add(path: string, data: Uint8Array): ManifestFile;
  /** Every file added so far, public key included, in the order added. */
  files(): readonly ManifestFile[];
  finish(meta: Omit<Manifest, 'files' | 'keyId' | 'algorithm' | 'format'>): {
    manifest: Manifest;
    manifestBytes: Uint8Array;
  };
}

/** A fixed time in the ZIP headers: the same evidence gives the same bytes on every box. */
const ZIP_TIME = new Date(Date.UTC(2000, 0, 1));

export function createPackageWriter(
  key: SigningKey,
  out: (chunk: Uint8Array) => void,
): PackageWriter {
  let failure: Error | null = null;
  const zip = new Zip((err, chunk) => {
    if (err) failure = err;
    else out(chunk);
  });
  const listed: ManifestFile[] = [];
  const reserved = new Set([MANIFEST_FILE, SIGNATURE_FILE]);

  const put = (path: string, data: Uint8Array, store: boolean) => {
    const entry = store ? new ZipPassThrough(path) : new ZipDeflate(path, { level: 6 });
    entry.mtime = ZIP_TIME;
    zip.add(entry);
    entry.push(data, true);
    if (failure) throw failure;
  };

  const add = (path: string, data: Uint8Array): ManifestFile => {
    if (!SAFE_PATH.test(path)) throw new Error(`unsafe path in an evidence package: ${path}`);
    if (reserved.has(path) || listed.some((f) => f.path === path))
      throw new Error(`${path} is already in the package or written by the signer`);
    put(path, data, STORED.test(path));
    const file = { path, sha256: sha256Hex(data), bytes: data.length };
    listed.push(file);
    return file;
  };

  add(PUBLIC_KEY_FILE, new TextEncoder().encode(key.publicKeyPem));
  return {
    add,
    files: () => listed,
    finish(meta) {
      const manifest: Manifest = {
        format: MANIFEST_FORMAT,
        ...meta,
        keyId: key.id,
        algorithm: key.algorithm,
        files: [...listed].sort((a, b) => a.path.localeCompare(b.path)),
      };
      const manifestBytes = new TextEncoder().encode(`${JSON.stringify(manifest, null, 2)}\n`);
      put(MANIFEST_FILE, manifestBytes, false);
      put(SIGNATURE_FILE, new TextEncoder().encode(`${key.sign(manifestBytes)}\n`), true);
      zip.end();
      if (failure) throw failure;
      return { manifest, manifestBytes };
    },
  };
}

/** A whole package in memory (tests and small packages): `files` must not hold the reserved names. */
export function buildSignedPackage(
  meta: Omit<Manifest, 'files' | 'keyId' | 'algorithm' | 'format'>,
  files: ReadonlyMap<string, Uint8Array>,
  key: SigningKey,
): SignedPackage {
  const chunks: Uint8Array[] = [];
  const writer = createPackageWriter(key, (c) => chunks.push(c));
  for (const [path, data] of files) writer.add(path, data);
  const { manifest, manifestBytes } = writer.finish(meta);
  const zip = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    zip.set(c, at);
    at += c.length;
  }
  return { zip, manifest, manifestBytes };
}

// -- verification -----------------------------------------------------------------------------

export type VerifyProblem =
  | { kind: 'unreadable'; message: string }
  | { kind: 'missing_manifest'; message: string }
  | { kind: 'bad_manifest'; message: string }
  | { kind: 'bad_signature'; message: string }
  | { kind: 'untrusted_key'; message: string }
  | { kind: 'key_mismatch'; message: string }
  | { kind: 'hash_mismatch'; path: string; message: string }
  | { kind: 'size_mismatch'; path: string; message: string }
  | { kind: 'missing_file'; path: string; message: string }
  | { kind: 'extra_file'; path: string; message: string };

export interface VerifyResult {
  ok: boolean;
  problems: VerifyProblem[];
  /** The parsed manifest, when it could be read (even if tampered). */
  manifest?: Manifest;
  /** The fingerprint of the key whose signature held, when one did. */
  signedBy?: string;
  /** Files whose hash and size match the manifest. */
  checked: number;
}

export interface VerifyOptions {
  /**
   * Public keys (PEM) the verifier trusts: the site's published key(s). Without them the key
   * inside the package is used, which proves the package is intact since it was signed, not who
   * signed it.
   */
  trustedKeys?: readonly string[];
}

/** Checks a package: the signature over the manifest, and every file against it. */
export function verifyEvidenceZip(bytes: Uint8Array, opts: VerifyOptions = {}): VerifyResult {
  const problems: VerifyProblem[] = [];
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes);
  } catch (e) {
    const message = `not a readable ZIP: ${e instanceof Error ? e.message : String(e)}`;
    return { ok: false, problems: [{ kind: 'unreadable', message }], checked: 0 };
  }
  // Folders have no content to check.
  for (const name of Object.keys(files)) if (name.endsWith('/')) delete files[name];
  const manifestBytes = files[MANIFEST_FILE];
  if (!manifestBytes) {
    problems.push({ kind: 'missing_manifest', message: `${MANIFEST_FILE} is missing` });
    return { ok: false, problems, checked: 0 };
  }
  let manifest: Manifest;
  try {
    manifest = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(manifestBytes));
    if (!manifest || typeof manifest !== 'object' || !Array.isArray(manifest.files))
      throw new Error('it has no file list');
  } catch (e) {
    problems.push({
      kind: 'bad_manifest',
      message: `${MANIFEST_FILE} is not a manifest: ${e instanceof Error ? e.message : String(e)}`,
    });
    return { ok: false, problems, checked: 0 };
  }

  // The signature: against the trusted keys if given, else the key the package carries.
  const sigBytes = files[SIGNATURE_FILE];
  const signature = sigBytes ? new TextDecoder().decode(sigBytes) : null;
  const packaged = files[PUBLIC_KEY_FILE] ? new TextDecoder().decode(files[PUBLIC_KEY_FILE]) : null;
  let signedBy: string | undefined;
  if (signature === null) {
    problems.push({ kind: 'bad_signature', message: `${SIGNATURE_FILE} is missing` });
  } else if (opts.trustedKeys && opts.trustedKeys.length > 0) {
    const holds = opts.trustedKeys.find((k) => verifySignature(k, manifestBytes, signature));
    if (holds) signedBy = safeKeyId(holds);
    else
      problems.push({
        kind: 'untrusted_key',
        message: `the manifest is not signed by a trusted key (it names key ${String(manifest.keyId)})`,
      });
  } else if (packaged === null) {
    problems.push({ kind: 'bad_signature', message: `${PUBLIC_KEY_FILE} is missing` });
  } else if (verifySignature(packaged, manifestBytes, signature)) {
    signedBy = safeKeyId(packaged);
  } else {
    problems.push({
      kind: 'bad_signature',
      message: `the signature in ${SIGNATURE_FILE} does not match ${MANIFEST_FILE} and ${PUBLIC_KEY_FILE}`,
    });
  }
  if (signedBy !== undefined && signedBy !== manifest.keyId)
    problems.push({
      kind: 'key_mismatch',
      message: `the manifest names key ${String(manifest.keyId)} but was signed by ${signedBy}`,
    });

  // Every listed file present and unchanged; nothing unlisted beside them.
  let checked = 0;
  const listed = new Set<string>();
  for (const f of manifest.files) {
    if (!f || typeof f.path !== 'string') {
      problems.push({ kind: 'bad_manifest', message: 'a file entry has no path' });
      continue;
    }
    listed.add(f.path);
    const data = files[f.path];
    if (!data) {
      problems.push({ kind: 'missing_file', path: f.path, message: `${f.path} is missing` });
      continue;
    }
    const hash = sha256Hex(data);
    if (hash !== f.sha256) {
      problems.push({
        kind: 'hash_mismatch',
        path: f.path,
        message: `${f.path}: SHA-256 is ${hash}, the manifest says ${String(f.sha256)}`,
      });
    } else if (data.length !== f.bytes) {
      problems.push({
        kind: 'size_mismatch',
        path: f.path,
        message: `${f.path}: ${data.length} bytes, the manifest says ${String(f.bytes)}`,
      });
    } else checked++;
  }
  for (const path of Object.keys(files)) {
    if (path === MANIFEST_FILE || path === SIGNATURE_FILE || listed.has(path)) continue;
    problems.push({ kind: 'extra_file', path, message: `${path} is not in the manifest` });
  }
  return {
    ok: problems.length === 0,
    problems,
    manifest,
    ...(signedBy !== undefined ? { signedBy } : {}),
    checked,
  };
}

function safeKeyId(pem: string): string | undefined {
  try {
    return keyIdOf(pem);
  } catch {
    return undefined;
  }
}
