import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiError, errorBody } from './errors.ts';
import {
  contentRange,
  etagMatches,
  fileEtag,
  ifRangeHolds,
  nodeFileOpener,
  parseRange,
  sendFile,
  type FileOpener,
  type ServedFile,
} from './range.ts';

describe('parseRange', () => {
  const size = 1000;
  it.each([
    ['bytes=0-99', { kind: 'partial', start: 0, end: 99 }],
    ['bytes=0-0', { kind: 'partial', start: 0, end: 0 }],
    ['bytes=500-', { kind: 'partial', start: 500, end: 999 }],
    ['bytes=-100', { kind: 'partial', start: 900, end: 999 }],
    ['bytes=-5000', { kind: 'partial', start: 0, end: 999 }],
    ['bytes=900-99999999999999999999', { kind: 'partial', start: 900, end: 999 }],
    ['BYTES = 10-19', { kind: 'partial', start: 10, end: 19 }],
    ['bytes=999-999', { kind: 'partial', start: 999, end: 999 }],
  ])('%s is a single range', (header, want) => {
    expect(parseRange(header, size)).toEqual(want);
  });

  it.each([['bytes=1000-'], ['bytes=1000-1001'], ['bytes=-0'], ['bytes=99999999999999999999-']])(
    '%s is past the end',
    (header) => {
      expect(parseRange(header, size)).toEqual({ kind: 'unsatisfiable' });
    },
  );

  it.each([
    [undefined],
    [null],
    [''],
    ['items=0-9'],
    ['bytes=abc'],
    ['bytes=5-1'],
    ['bytes=-'],
    ['bytes=0-9,20-29'],
    ['bytes=0x10-20'],
    ['bytes=1.5-9'],
  ])('%s is ignored: the whole file', (header) => {
    expect(parseRange(header, size)).toEqual({ kind: 'full' });
  });

  it('finds nothing to send in an empty file', () => {
    expect(parseRange('bytes=0-', 0)).toEqual({ kind: 'unsatisfiable' });
    expect(parseRange('bytes=-1', 0)).toEqual({ kind: 'unsatisfiable' });
  });
});

describe('validators', () => {
  it('formats Content-Range', () => {
    expect(contentRange({ kind: 'partial', start: 5, end: 9 }, 10)).toBe('bytes 5-9/10');
    expect(contentRange({ kind: 'unsatisfiable' }, 10)).toBe('bytes */10');
    expect(contentRange({ kind: 'full' }, 10)).toBeUndefined();
  });

  it('changes the ETag with the size or the time', () => {
    const a = fileEtag(100, 1_700_000_000_000);
    expect(a).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
    expect(fileEtag(101, 1_700_000_000_000)).not.toBe(a);
    expect(fileEtag(100, 1_700_000_000_001)).not.toBe(a);
  });

  it('matches If-None-Match lists, weak tags and *', () => {
    expect(etagMatches('"x"', '"x"')).toBe(true);
    expect(etagMatches('W/"x"', '"x"')).toBe(true);
    expect(etagMatches('"a", "x"', '"x"')).toBe(true);
    expect(etagMatches('*', '"x"')).toBe(true);
    expect(etagMatches('"y"', '"x"')).toBe(false);
    expect(etagMatches(undefined, '"x"')).toBe(false);
  });

  it('honours If-Range only for the same file', () => {
    const mtime = Date.UTC(2026, 0, 1, 12, 0, 0, 500);
    expect(ifRangeHolds(undefined, '"x"', mtime)).toBe(true);
    expect(ifRangeHolds('"x"', '"x"', mtime)).toBe(true);
    expect(ifRangeHolds('"y"', '"x"', mtime)).toBe(false);
    expect(ifRangeHolds('W/"x"', '"x"', mtime)).toBe(false); // weak tags never satisfy If-Range
    expect(ifRangeHolds(new Date(mtime).toUTCString(), '"x"', mtime)).toBe(true);
    expect(ifRangeHolds(new Date(mtime - 60_000).toUTCString(), '"x"', mtime)).toBe(false);
    expect(ifRangeHolds('not a date', '"x"', mtime)).toBe(false);
  });
});

describe('sendFile', () => {
  let dir: string;
  let path: string;
  const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'parcelroom-range-'));
    path = join(dir, 'clip.mp4');
    await writeFile(path, bytes);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const appFor = (file: string, opener?: FileOpener) => {
    const app = new Hono();
    app.onError((err, c) => {
      if (!(err instanceof ApiError)) throw err;
      for (const [k, v] of Object.entries(err.headers ?? {})) c.header(k, v);
      return c.json(errorBody(err.code, err.message), err.status);
    });
    app.get('/f', (c) =>
      sendFile(c, {
        path: file,
        contentType: 'video/mp4',
        headers: { 'X-Extra': 'yes' },
        ...(opener ? { opener } : {}),
      }),
    );
    return app;
  };
  const get = (headers: Record<string, string> = {}, method = 'GET', file = path) =>
    appFor(file).request('http://t/f', { method, headers });

  it('sends the whole file with validators', async () => {
    const res = await get();
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('video/mp4');
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.headers.get('content-length')).toBe('256');
    expect(res.headers.get('etag')).toMatch(/^"/);
    expect(res.headers.get('last-modified')).toMatch(/GMT$/);
    expect(res.headers.get('x-extra')).toBe('yes');
    expect(Buffer.from(await res.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('sends a range as 206', async () => {
    const res = await get({ range: 'bytes=10-19' });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe('bytes 10-19/256');
    expect(res.headers.get('content-length')).toBe('10');
    expect([...new Uint8Array(await res.arrayBuffer())]).toEqual([
      10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
    ]);
  });

  it('answers a range past the end with 416 and the size', async () => {
    const res = await get({ range: 'bytes=256-' });
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe('bytes */256');
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe(
      'range_not_satisfiable',
    );
  });

  it('answers 304 to a current copy and ignores a range for a stale one', async () => {
    const etag = (await get()).headers.get('etag')!;
    const same = await get({ 'if-none-match': etag });
    expect(same.status).toBe(304);
    expect(await same.text()).toBe('');
    const stale = await get({ range: 'bytes=0-9', 'if-range': '"old"' });
    expect(stale.status).toBe(200);
    expect((await stale.arrayBuffer()).byteLength).toBe(256);
  });

  it('answers HEAD with the headers only and closes the file', async () => {
    const opened: { closed: boolean; streamed: boolean }[] = [];
    const opener: FileOpener = {
      async open(p) {
        const f = (await nodeFileOpener.open(p))!;
        const seen = { closed: false, streamed: false };
        opened.push(seen);
        const wrapped: ServedFile = {
          size: f.size,
          mtimeMs: f.mtimeMs,
          stream(s, e) {
            seen.streamed = true;
            return f.stream(s, e);
          },
          async close() {
            seen.closed = true;
            await f.close();
          },
        };
        return wrapped;
      },
    };
    const res = await appFor(path, opener).request('http://t/f', {
      method: 'HEAD',
      headers: { range: 'bytes=0-9' },
    });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-length')).toBe('10');
    expect(await res.text()).toBe('');
    expect(opened).toEqual([{ closed: true, streamed: false }]);
  });

  it('is a 404 when the file is not there', async () => {
    const res = await get({}, 'GET', join(dir, 'nope.mp4'));
    expect(res.status).toBe(404);
    const asDir = await get({}, 'GET', dir);
    expect(asDir.status).toBe(404);
  });
});
