/**
 * Serving a file the way a browser's video element expects: byte ranges (RFC 9110 §14), so it
 * can seek without downloading the whole clip, validators (ETag, Last-Modified) so it can revalidate
 * cheaply, HEAD, and a streamed body (a clip is megabytes; it is never read into memory).
 *
 * One range per request: players ask for one. A header with several ranges, another unit or a
 * syntax error is ignored and the whole file is sent, which RFC 9110 allows.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { Context } from 'hono';
import { ApiError } from './errors.ts';

/** What to send for a Range header. `end` is inclusive, as in Content-Range. */
export type RangeRequest =
  { kind: 'full' } | { kind: 'partial'; start: number; end: number } | { kind: 'unsatisfiable' };

const SPEC = /^(\d*)-(\d*)$/;

export function parseRange(header: string | null | undefined, size: number): RangeRequest {
  if (!header) return { kind: 'full' };
  const m = /^\s*bytes\s*=\s*(.*)$/i.exec(header);
  if (!m) return { kind: 'full' };
  const specs = m[1]!.split(',').map((s) => s.trim());
  if (specs.length !== 1) return { kind: 'full' };
  const spec = SPEC.exec(specs[0]!);
  if (!spec) return { kind: 'full' };
  const [, first, last] = spec as unknown as [string, string, string];
  if (first === '' && last === '') return { kind: 'full' };
  if (first === '') {
    // Suffix: the last N bytes.
    const n = Number(last);
    if (n === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(first);
  if (last !== '' && Number(last) < start) return { kind: 'full' }; // invalid: ignored
  if (start >= size) return { kind: 'unsatisfiable' };
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  return { kind: 'partial', start, end };
}

export function contentRange(r: RangeRequest, size: number): string | undefined {
  switch (r.kind) {
    case 'full':
      return undefined;
    case 'partial':
      return `bytes ${r.start}-${r.end}/${size}`;
    case 'unsatisfiable':
      return `bytes */${size}`;
  }
}

/** A strong validator from size and modification time: a rebuilt file gets a new one. */
export function fileEtag(size: number, mtimeMs: number): string {
  return `"${size.toString(16)}-${Math.floor(mtimeMs).toString(16)}"`;
}

/** If-None-Match: weak comparison (a `W/` prefix does not matter), `*` matches anything. */
export function etagMatches(header: string | null | undefined, etag: string): boolean {
  if (!header) return false;
  const bare = (t: string) => t.trim().replace(/^W\//, '');
  return header.split(',').some((t) => t.trim() === '*' || bare(t) === bare(etag));
}

/** If-Range: the range applies only if the client's copy is this very file (strong match). */
export function ifRangeHolds(
  header: string | null | undefined,
  etag: string,
  mtimeMs: number,
): boolean {
  if (!header) return true;
  const h = header.trim();
  if (h.startsWith('"') || h.startsWith('W/')) return h === etag;
  const date = Date.parse(h);
  return Number.isFinite(date) && Math.floor(mtimeMs / 1000) * 1000 <= date;
}

/** An open file, read by range. */
export interface ServedFile {
  size: number;
  mtimeMs: number;
  /** A stream of bytes `start..end` (inclusive) that closes the file when done or cancelled. */
  stream(start: number, end: number): ReadableStream<Uint8Array>;
  close(): Promise<void>;
}

/** How files are opened; injected so a test can count or refuse. */
export interface FileOpener {
  /** The file, or null when there is none. */
  open(path: string): Promise<ServedFile | null>;
}

export const nodeFileOpener: FileOpener = {
  async open(path) {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EISDIR') return null;
      throw e;
    }
    // Stat the open handle: a file renamed over the path meanwhile does not mix two versions.
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      return null;
    }
    // Once streaming, the stream owns the handle and closes it (end, error or cancel).
    let owned = true;
    return {
      size: st.size,
      mtimeMs: st.mtimeMs,
      stream(start, end) {
        owned = false;
        const node = fh.createReadStream({ start, end, autoClose: true });
        return Readable.toWeb(node) as ReadableStream<Uint8Array>;
      },
      async close() {
        if (!owned) return;
        owned = false;
        await fh.close();
      },
    };
  },
};

export interface SendFileOptions {
  path: string;
  contentType: string;
  cacheControl?: string;
  /** More headers for every answer (200, 206, 304, 416). */
  headers?: Record<string, string>;
  opener?: FileOpener;
}

/**
 * Answers GET or HEAD with the file: 200, 206 for a satisfiable range, 304 when the client's
 * copy is current, 416 (as an ApiError) for a range past the end. Throws a 404 ApiError when the
 * file is not there.
 */
export async function sendFile(c: Context, o: SendFileOptions): Promise<Response> {
  const file = await (o.opener ?? nodeFileOpener).open(o.path);
  if (!file) throw new ApiError(404, 'not_found', 'the file is not there');
  const etag = fileEtag(file.size, file.mtimeMs);
  const common: Record<string, string> = {
    ...o.headers,
    'Accept-Ranges': 'bytes',
    ETag: etag,
    'Last-Modified': new Date(file.mtimeMs).toUTCString(),
    'Cache-Control': o.cacheControl ?? 'private, no-cache',
  };
  try {
    if (etagMatches(c.req.header('if-none-match'), etag)) {
      await file.close();
      return c.body(null, 304, common);
    }
    const range = ifRangeHolds(c.req.header('if-range'), etag, file.mtimeMs)
      ? parseRange(c.req.header('range'), file.size)
      : ({ kind: 'full' } as const);
    if (range.kind === 'unsatisfiable') {
      await file.close();
      throw new ApiError(
        416,
        'range_not_satisfiable',
        `the file has ${file.size} bytes; the range asked for is past its end`,
        undefined,
        { ...common, 'Content-Range': contentRange(range, file.size)! },
      );
    }
    const start = range.kind === 'partial' ? range.start : 0;
    const end = range.kind === 'partial' ? range.end : file.size - 1;
    const headers: Record<string, string> = {
      ...common,
      'Content-Type': o.contentType,
      'Content-Length': String(Math.max(0, end - start + 1)),
      ...(range.kind === 'partial' ? { 'Content-Range': contentRange(range, file.size)! } : {}),
    };
    const status = range.kind === 'partial' ? 206 : 200;
    // HEAD (Hono answers it with the GET route) and an empty file: headers only, file closed.
    if (c.req.method === 'HEAD' || file.size === 0) {
      await file.close();
      return c.body(null, status, headers);
    }
    return c.body(file.stream(start, end), status, headers);
  } catch (e) {
    await file.close();
    throw e;
  }
}
