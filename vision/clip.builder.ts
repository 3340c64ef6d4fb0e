/**
 * Event clips: the part of the recording around a door event or a flag, as one MP4 a browser can
 * seek in, plus a JPEG poster of the moment itself. Nothing is re-encoded but the poster.
 *
 * How. The recorded segments that cover the window are joined with ffmpeg's concat demuxer,
 * `-c copy`, `inpoint` in the first segment and `outpoint` in the last, then written with
 * `+faststart` (the index at the front, so a browser can seek before it has the whole file).
 *
 * Keyframes. A copied stream can only start at a keyframe: frames after it need it to decode.
 * Given an inpoint between keyframes, the concat demuxer starts at the keyframe before it anyway
 * and the clip begins there, so we look the keyframes of the first segment up first (one cheap
 * `-c copy -f framecrc` pass, no decoding), put the inpoint exactly on the keyframe at or before
 * the window start, and report that as the clip's start. A clip is therefore up to one GOP longer
 * than its window, at the front. The end is cut at the window end (copying stops on any frame).
 *
 * Holes. Segments that do not meet (camera offline, ffmpeg restarting) are joined back to back:
 * the clip plays through the hole, and `missing` lists the parts of the window nobody recorded.
 * A window no segment touches is a ClipError('not_covered').
 *
 * Files. The clip and the poster are written under a `.part` name and renamed when complete, so
 * a request never gets half a file; the concat list is written next to the clip and removed.
 * Segment paths are used as given: pass absolute paths (DATA_DIR joined with the indexed path).
 * Recorded segments start at timestamp 0 (`-reset_timestamps 1`), which the inpoint relies on.
 */
import { rename, rm, stat, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { describeFfmpegExit, type FfmpegRunner } from './ffmpeg.process.ts';

/** A recorded segment: its file and its span on the server clock (ms). */
export interface ClipSegment {
  path: string;
  startAt: number;
  endAt: number;
}

export interface TimeRange {
  startAt: number;
  endAt: number;
}

export type ClipErrorCode = 'invalid_window' | 'not_covered' | 'ffmpeg_failed';

export class ClipError extends Error {
  override readonly name = 'ClipError';
  constructor(
    readonly code: ClipErrorCode,
    message: string,
    /** For 'not_covered': the whole window. */
    readonly missing: readonly TimeRange[] = [],
  ) {
    super(message);
  }
}

/** One segment's share of the clip. Offsets are seconds into that segment's file. */
export interface ClipPiece {
  segment: ClipSegment;
  /** Server time this piece begins and ends in the clip. */
  startAt: number;
  endAt: number;
  inpointSec?: number;
  outpointSec?: number;
}

export interface ClipPlan {
  pieces: ClipPiece[];
  /** Parts of the window with no recording, in order. */
  missing: TimeRange[];
}

const isValidRange = (r: TimeRange) =>
  Number.isFinite(r.startAt) && Number.isFinite(r.endAt) && r.endAt > r.startAt;

/**
 * Which segments cover `window` and where to cut them, before keyframes are considered.
 * Segments may come in any order; broken ones (end before start) and ones wholly inside the
 * coverage already chosen are skipped.
 */
export function planClip(segments: readonly ClipSegment[], window: TimeRange): ClipPlan {
  if (!isValidRange(window)) {
    throw new ClipError(
      'invalid_window',
      `a clip window needs finite startAt < endAt, got ${window.startAt}..${window.endAt}`,
    );
  }
  const touching = segments
    .filter((s) => isValidRange(s) && s.startAt < window.endAt && s.endAt > window.startAt)
    .sort((a, b) => a.startAt - b.startAt || a.endAt - b.endAt);
  const chosen: ClipSegment[] = [];
  let coveredUntil = -Infinity;
  for (const s of touching) {
    if (s.endAt <= coveredUntil) continue;
    chosen.push(s);
    coveredUntil = s.endAt;
  }
  if (chosen.length === 0) {
    throw new ClipError(
      'not_covered',
      `no recording covers ${new Date(window.startAt).toISOString()}..${new Date(window.endAt).toISOString()}`,
      [{ ...window }],
    );
  }
  const missing: TimeRange[] = [];
  let cursor = window.startAt;
  for (const s of chosen) {
    if (s.startAt > cursor)
      missing.push({ startAt: cursor, endAt: Math.min(s.startAt, window.endAt) });
    cursor = Math.max(cursor, s.endAt);
  }
  if (cursor < window.endAt) missing.push({ startAt: cursor, endAt: window.endAt });

  const pieces = chosen.map((segment, i): ClipPiece => {
    const startAt = i === 0 ? Math.max(segment.startAt, window.startAt) : segment.startAt;
    const endAt = i === chosen.length - 1 ? Math.min(segment.endAt, window.endAt) : segment.endAt;
    const piece: ClipPiece = { segment, startAt, endAt };
    if (startAt > segment.startAt) piece.inpointSec = (startAt - segment.startAt) / 1000;
    if (endAt < segment.endAt) piece.outpointSec = (endAt - segment.startAt) / 1000;
    return piece;
  });
  return { pieces, missing };
}

/**
 * Where server time `at` falls in the clip, in seconds from its start: holes between pieces take
 * no time in the clip, a moment in a hole maps to the next recorded one, and the result stays
 * inside the clip.
 */
export function clipOffsetSec(pieces: readonly ClipPiece[], at: number): number {
  let before = 0;
  for (const p of pieces) {
    if (at <= p.startAt) return before / 1000;
    if (at < p.endAt) return (before + at - p.startAt) / 1000;
    before += p.endAt - p.startAt;
  }
  return before / 1000;
}

/** Keyframe times in seconds from the file's first packet, from `-f framecrc` output lines. */
export function parseFramecrcKeyframes(lines: readonly string[]): number[] {
  let tb: number | undefined;
  let first: number | undefined;
  const keys: number[] = [];
  for (const line of lines) {
    const tbm = /^#tb 0: (\d+)\/(\d+)/.exec(line);
    if (tbm) {
      tb = Number(tbm[1]) / Number(tbm[2]);
      continue;
    }
    // stream, dts, pts, duration, size, crc[, F=0x<flags>]; no F= means flags == KEY.
    const m =
      /^0,\s*(-?\d+),\s*(-?\d+),\s*-?\d+,\s*\d+,\s*0x[0-9a-f]+(?:,\s*F=0x([0-9a-f]+))?/i.exec(line);
    if (!m || tb === undefined) continue;
    const pts = Number(m[2]) * tb;
    first ??= pts;
    const isKey = m[3] === undefined || (parseInt(m[3], 16) & 1) === 1;
    if (isKey) keys.push(pts - first);
  }
  return keys;
}

/** A path quoted for an ffconcat `file` line. */
export function ffconcatQuote(path: string): string {
  if (/[\r\n]/.test(path))
    throw new Error(`segment path has a line break: ${JSON.stringify(path)}`);
  return `'${path.replace(/'/g, "'\\''")}'`;
}

const sec = (s: number) => s.toFixed(6);

export function ffconcatList(pieces: readonly ClipPiece[]): string {
  const lines = ['ffconcat version 1.0'];
  for (const p of pieces) {
    lines.push(`file ${ffconcatQuote(resolve(p.segment.path))}`);
    if (p.inpointSec !== undefined) lines.push(`inpoint ${sec(p.inpointSec)}`);
    if (p.outpointSec !== undefined) lines.push(`outpoint ${sec(p.outpointSec)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The file operations the clip builder needs. */
export interface ClipFs {
  writeFile(path: string, text: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  /** Remove a file; fine when it is not there. */
  remove(path: string): Promise<void>;
  /** Size in bytes, or null when there is no such file. */
  size(path: string): Promise<number | null>;
}

export const nodeClipFs: ClipFs = {
  writeFile: (path, text) => writeFile(path, text, 'utf8'),
  rename: (from, to) => rename(from, to),
  remove: (path) => rm(path, { force: true }),
  async size(path) {
    try {
      return (await stat(path)).size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  },
};

export interface BuildClipInput {
  segments: readonly ClipSegment[];
  window: TimeRange;
  /** The moment of the event, for the poster; default the middle of the window. */
  eventAt?: number;
  outPath: string;
  posterPath: string;
  ffmpeg: FfmpegRunner;
  fs?: ClipFs;
  /** Each ffmpeg step is stopped after this long; default 60 s. */
  timeoutMs?: number;
}

export type PosterResult =
  | { ok: true; path: string; /** Server time of the frame shown. */ at: number }
  | { ok: false; reason: string };

export interface ClipResult {
  outPath: string;
  /** What the clip really spans: from the keyframe at or before the window start. */
  startAt: number;
  endAt: number;
  /** Parts of the window with no recording (the clip plays through them). */
  missing: TimeRange[];
  segmentCount: number;
  poster: PosterResult;
}

/** The exact ffmpeg arguments of each step, exported for tests and the docs. */
export const clipArgs = {
  keyframes: (segmentPath: string): string[] => [
    '-hide_banner',
    '-nostdin',
    '-v',
    'error',
    '-i',
    segmentPath,
    '-map',
    '0:v:0',
    '-c',
    'copy',
    '-f',
    'framecrc',
    '-',
  ],
  concat: (listPath: string, partPath: string): string[] => [
    '-hide_banner',
    '-nostdin',
    '-nostats',
    '-v',
    'error',
    '-f',
    'concat',
    '-safe',
    '0',
    '-i',
    listPath,
    '-map',
    '0',
    '-c',
    'copy',
    '-avoid_negative_ts',
    'make_zero',
    '-movflags',
    '+faststart',
    '-f',
    'mp4',
    '-y',
    partPath,
  ],
  poster: (clipPath: string, offsetSec: number, partPath: string): string[] => [
    '-hide_banner',
    '-nostdin',
    '-nostats',
    '-v',
    'error',
    // Before -i: seek to the keyframe, then decode up to the moment (exact, not keyframe-bound).
    '-ss',
    sec(offsetSec),
    '-i',
    clipPath,
    '-map',
    '0:v:0',
    '-frames:v',
    '1',
    '-c:v',
    'mjpeg',
    '-q:v',
    '3',
    '-f',
    'image2',
    '-update',
    '1',
    '-y',
    partPath,
  ],
};

/** A poster this close to the clip's end may find no frame left to show. */
const POSTER_END_MARGIN_S = 0.2;

export async function buildClip(input: BuildClipInput): Promise<ClipResult> {
  const { ffmpeg, window, outPath, posterPath } = input;
  const fs = input.fs ?? nodeClipFs;
  const timeoutMs = input.timeoutMs ?? 60_000;
  const plan = planClip(input.segments, window);
  const pieces = plan.pieces.map((p) => ({ ...p }));
  const first = pieces[0]!;

  const run = async (step: string, args: string[], onStdoutLine?: (l: string) => void) => {
    const exit = await ffmpeg.run(args, { timeoutMs, ...(onStdoutLine ? { onStdoutLine } : {}) })
      .exit;
    if (exit.startError || exit.code !== 0) {
      throw new ClipError('ffmpeg_failed', `clip ${step}: ${describeFfmpegExit(exit)}`);
    }
  };

  if (first.inpointSec !== undefined) {
    const lines: string[] = [];
    await run('keyframe scan', clipArgs.keyframes(first.segment.path), (l) => lines.push(l));
    const want = first.inpointSec + 1e-6;
    const key = parseFramecrcKeyframes(lines)
      .filter((k) => k <= want)
      .at(-1);
    // No keyframe found before it (unreadable list): from the segment start, which is one.
    const keySec = key ?? 0;
    if (keySec > 0) first.inpointSec = keySec;
    else delete first.inpointSec;
    first.startAt = first.segment.startAt + Math.round(keySec * 1000);
  }

  const listPath = `${outPath}.ffconcat`;
  const partPath = `${outPath}.part`;
  try {
    await fs.writeFile(listPath, ffconcatList(pieces));
    await run('concat', clipArgs.concat(listPath, partPath));
    const bytes = await fs.size(partPath);
    if (!bytes) throw new ClipError('ffmpeg_failed', 'clip concat: ffmpeg wrote an empty clip');
    await fs.rename(partPath, outPath);
  } catch (e) {
    await fs.remove(partPath).catch(() => undefined);
    throw e;
  } finally {
    await fs.remove(listPath).catch(() => undefined);
  }

  const last = pieces.at(-1)!;
  const totalSec = pieces.reduce((s, p) => s + (p.endAt - p.startAt), 0) / 1000;
  const wanted = Math.min(
    Math.max(input.eventAt ?? (window.startAt + window.endAt) / 2, first.startAt),
    last.endAt,
  );
  const offset = Math.max(
    0,
    Math.min(clipOffsetSec(pieces, wanted), totalSec - POSTER_END_MARGIN_S),
  );
  const poster = await makePoster(ffmpeg, fs, outPath, offset, posterPath, timeoutMs, pieces);

  return {
    outPath,
    startAt: first.startAt,
    endAt: last.endAt,
    missing: plan.missing,
    segmentCount: pieces.length,
    poster,
  };
}

/** Server time at clip offset `offsetSec` (inverse of clipOffsetSec). */
function clipTimeAt(pieces: readonly ClipPiece[], offsetSec: number): number {
  let left = offsetSec * 1000;
  for (const p of pieces) {
    const len = p.endAt - p.startAt;
    if (left <= len) return Math.round(p.startAt + left);
    left -= len;
  }
  return pieces.at(-1)!.endAt;
}

async function makePoster(
  ffmpeg: FfmpegRunner,
  fs: ClipFs,
  clipPath: string,
  offsetSec: number,
  posterPath: string,
  timeoutMs: number,
  pieces: readonly ClipPiece[],
): Promise<PosterResult> {
  // The clip is already good; a poster that fails is reported, not thrown.
  const partPath = `${posterPath}.part`;
  try {
    const exit = await ffmpeg.run(clipArgs.poster(clipPath, offsetSec, partPath), { timeoutMs })
      .exit;
    if (exit.startError || exit.code !== 0) {
      await fs.remove(partPath).catch(() => undefined);
      return { ok: false, reason: `poster: ${describeFfmpegExit(exit)}` };
    }
    // ffmpeg exits 0 with no file when the seek lands past the last frame.
    if (!(await fs.size(partPath))) {
      await fs.remove(partPath).catch(() => undefined);
      return { ok: false, reason: `poster: no frame at ${offsetSec.toFixed(3)} s into the clip` };
    }
    await fs.rename(partPath, posterPath);
    return { ok: true, path: posterPath, at: clipTimeAt(pieces, offsetSec) };
  } catch (e) {
    await fs.remove(partPath).catch(() => undefined);
    return { ok: false, reason: `poster: ${e instanceof Error ? e.message : String(e)}` };
  }
}
