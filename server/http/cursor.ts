import { ApiError } from './errors.ts';

/**
 * Keyset cursors for "newest first" lists ordered by (at desc, id desc): opaque to clients, and
 * stable while rows are added, unlike offsets.
 */
export function encodeCursor(row: { at: Date; id: string }): string {
  return Buffer.from(`${row.at.toISOString()}|${row.id}`).toString('base64url');
}

export function decodeCursor(cursor: string): { at: Date; id: string } {
  const [atIso, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const at = new Date(atIso ?? '');
  if (!id || Number.isNaN(at.getTime()))
    throw new ApiError(400, 'invalid_query', 'bad cursor', 'cursor');
  return { at, id };
}
