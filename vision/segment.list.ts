/**
 * Reading what the recording ffmpeg tells us, and turning its stream offsets into server time.
 *
 * ffmpeg (segment muxer, `-segment_list pipe:1 -segment_list_type csv -progress pipe:1`) writes to
 * stdout one CSV line per closed segment, `name,start,end` in seconds of the output timeline,
 * interleaved with `-progress` blocks (`out_time_us=…`). With `-loglevel verbose` its log also
 * says where each segment really begins: `segment:'…' starts with packet stream:0 pts:… pts_time:…`.
 *
 * Why not the CSV start alone: the segment muxer only records a start at a cut, so the first
 * segment of every run is listed as starting at 0.000 even when the camera was joined mid-GOP
 * and the first kept packet (a keyframe) is at, say, 0.44 s. ffmpeg 5 puts timeline 0 at the
 * first packet received, ffmpeg 4 at the first keyframe kept; the log line is right in both.
 *
 * Why not the file name (strftime): the name is the moment the file was opened, which comes after
 * the RTSP probe has buffered a burst of packets, so it is late by up to several seconds.
 *
 * Wall time of offset 0 (the anchor). A progress report read at server time W saying the output
 * has reached T means the packet at T had arrived by W: W − T ≥ anchor, with equality when the
 * report follows the packet at once. The running minimum of W − T is therefore the server time
 * at which the stream's offset 0 arrived, give or take the pipe latency, and it holds through
 * the probe burst (the buffered packets are muxed at once, so T jumps with W). A closed segment
 * gives one more bound: its end packet had arrived by the time the CSV line was read.
 */

/** One line of the CSV segment list: a segment that is complete on disk. */
export interface SegmentListEntry {
  /** File name as ffmpeg wrote it (no directory). */
  file: string;
  /** Seconds of the output timeline; the first segment of a run always says 0 (see above). */
  startSec: number;
  endSec: number;
}

/** What one stdout line of the recording ffmpeg means. */
export type RecorderStdoutLine =
  | { kind: 'segment'; entry: SegmentListEntry }
  | { kind: 'progress'; outTimeMs: number }
  | { kind: 'progress_end' }
  | { kind: 'other' };

const NUM = '(-?\\d+(?:\\.\\d+)?(?:e[-+]?\\d+)?)';
const CSV_LINE = new RegExp(`^(.+),${NUM},${NUM}$`, 'i');

function csvUnquote(field: string): string {
  // ffmpeg quotes a name holding a comma, quote or newline, doubling inner quotes.
  if (field.length >= 2 && field.startsWith('"') && field.endsWith('"')) {
    return field.slice(1, -1).replace(/""/g, '"');
  }
  return field;
}

export function parseRecorderStdoutLine(raw: string): RecorderStdoutLine {
  const line = raw.trim();
  const kv = /^([a-z0-9_]+)=(.*)$/.exec(line);
  if (kv) {
    const [, key, value] = kv;
    // out_time_us since 2018; older builds have only out_time_ms, which is also in µs.
    if (key === 'out_time_us' || key === 'out_time_ms') {
      const us = Number(value);
      return Number.isFinite(us) && value !== ''
        ? { kind: 'progress', outTimeMs: us / 1000 }
        : { kind: 'other' };
    }
    if (key === 'progress' && value === 'end') return { kind: 'progress_end' };
    return { kind: 'other' };
  }
  const m = CSV_LINE.exec(line);
  if (m) {
    const startSec = Number(m[2]);
    const endSec = Number(m[3]);
    const file = csvUnquote(m[1]!);
    if (Number.isFinite(startSec) && Number.isFinite(endSec) && file !== '') {
      return { kind: 'segment', entry: { file, startSec, endSec } };
    }
  }
  return { kind: 'other' };
}

/** The segment muxer's verbose note of the first packet in a segment. */
export interface SegmentStart {
  /** File name without its directory. */
  file: string;
  ptsSec: number;
}

const START_LINE = /segment:'(.+)' starts with packet stream:\d+ pts:\S+ pts_time:(\S+)/;

export function parseSegmentStartLine(line: string): SegmentStart | null {
  const m = START_LINE.exec(line);
  if (!m) return null;
  const ptsSec = Number(m[2]);
  if (!Number.isFinite(ptsSec)) return null; // "NOPTS"
  const path = m[1]!;
  return { file: path.slice(path.lastIndexOf('/') + 1), ptsSec };
}

/** The running estimate of the server time at which output offset 0 arrived (see top). */
export interface WallAnchor {
  /** A report read at `wallMs` that the output had reached `outMs`. */
  observe(wallMs: number, outMs: number): void;
  /** Server ms of offset 0; undefined until something was observed. */
  value(): number | undefined;
  /** Server ms of an output offset in seconds; undefined until something was observed. */
  at(offsetSec: number): number | undefined;
}

export function createWallAnchor(): WallAnchor {
  let best: number | undefined;
  return {
    observe(wallMs, outMs) {
      if (!Number.isFinite(wallMs) || !Number.isFinite(outMs) || outMs < 0) return;
      const estimate = wallMs - outMs;
      if (best === undefined || estimate < best) best = estimate;
    },
    value: () => best,
    at: (offsetSec) => (best === undefined ? undefined : Math.round(best + offsetSec * 1000)),
  };
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/**
 * Where a closed segment is filed: `recordings/<camera>/<YYYY-MM-DD>/<HH>/<HH-MM-SS.mmm>_<name>`,
 * UTC, from the segment's start on the server clock. The incoming name (run tag and sequence
 * number) keeps two segments that start in the same millisecond apart.
 */
export function segmentFilePath(
  cameraId: string,
  startAt: number,
  incomingName: string,
): { dir: string; file: string; relPath: string } {
  const d = new Date(startAt);
  if (Number.isNaN(d.getTime())) throw new RangeError(`invalid segment start ${startAt}`);
  const day = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const hour = pad(d.getUTCHours());
  const file = `${hour}-${pad(d.getUTCMinutes())}-${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}_${incomingName}`;
  const dir = `recordings/${cameraId}/${day}/${hour}`;
  return { dir, file, relPath: `${dir}/${file}` };
}
