import { mkdtempSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TempDir {
  /** Absolute path of the fresh, empty directory. */
  readonly path: string;
  /** Remove the directory and everything in it. Safe to call more than once. */
  cleanup(): Promise<void>;
  /** Synchronous variant of {@link TempDir.cleanup}, for `process.on('exit')` handlers. */
  cleanupSync(): void;
}

function sanitizePrefix(prefix: string): string {
  return prefix.replace(/[^A-Za-z0-9_.-]/g, '-');
}

function wrap(path: string): TempDir {
  const opts = { recursive: true, force: true, maxRetries: 3, retryDelay: 100 } as const;
  return {
    path,
    cleanup: () => rm(path, opts),
    cleanupSync: () => rmSync(path, opts),
  };
}

/** Create a fresh directory under the OS temp dir, e.g. `/tmp/parcelroom-test-AbC123`. */
export async function makeTempDir(prefix = 'parcelroom-test'): Promise<TempDir> {
  return wrap(await mkdtemp(join(tmpdir(), `${sanitizePrefix(prefix)}-`)));
}

/** Synchronous variant of {@link makeTempDir}. */
export function makeTempDirSync(prefix = 'parcelroom-test'): TempDir {
  return wrap(mkdtempSync(join(tmpdir(), `${sanitizePrefix(prefix)}-`)));
}

/** Run `fn` with a fresh temp dir that is removed afterwards, whether `fn` succeeds or throws. */
export async function withTempDir<T>(
  prefix: string,
  fn: (path: string) => Promise<T> | T,
): Promise<T> {
  const dir = await makeTempDir(prefix);
  try {
    return await fn(dir.path);
  } finally {
    await dir.cleanup();
  }
}
