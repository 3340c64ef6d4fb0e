import { describe, expect, it } from 'vitest';
import {
  createWallAnchor,
  parseRecorderStdoutLine,
  parseSegmentStartLine,
  segmentFilePath,
} from './segment.list.ts';

describe('parseRecorderStdoutLine', () => {
  it('reads a segment list entry (as ffmpeg 5.1 writes it)', () => {
    expect(parseRecorderStdoutLine('lx2a9k-1-000003.mp4,6.560000,8.560000')).toEqual({
      kind: 'segment',
      entry: { file: 'lx2a9k-1-000003.mp4', startSec: 6.56, endSec: 8.56 },
    });
  });

  it('unquotes a name ffmpeg had to quote', () => {
    expect(parseRecorderStdoutLine('"a,""b"".mp4",0.000000,2.000000')).toEqual({
      kind: 'segment',
      entry: { file: 'a,"b".mp4', startSec: 0, endSec: 2 },
    });
  });

  it('reads progress in µs from out_time_us or the older out_time_ms (also µs)', () => {
    expect(parseRecorderStdoutLine('out_time_us=2200078')).toEqual({
      kind: 'progress',
      outTimeMs: 2200.078,
    });
    expect(parseRecorderStdoutLine('out_time_ms=1400000')).toEqual({
      kind: 'progress',
      outTimeMs: 1400,
    });
    expect(parseRecorderStdoutLine('progress=end')).toEqual({ kind: 'progress_end' });
  });

  it('ignores everything else, including unknown values', () => {
    for (const line of [
      'out_time_us=N/A',
      'out_time_us=',
      'frame=42',
      'progress=continue',
      '',
      'junk',
      'a,b,c',
    ]) {
      expect(parseRecorderStdoutLine(line)).toEqual({ kind: 'other' });
    }
  });
});

describe('parseSegmentStartLine', () => {
  it('reads the real start of a segment from the verbose log (5.1 and the 2018 4.x build)', () => {
    expect(
      parseSegmentStartLine(
        "[segment @ 0x5585101a3cc0] segment:'/data/recordings/cam/.incoming/r1-000000.mp4' starts with packet stream:0 pts:5632 pts_time:0.44 frame:0",
      ),
    ).toEqual({ file: 'r1-000000.mp4', ptsSec: 0.44 });
    expect(
      parseSegmentStartLine(
        "[segment @ 0x21fdcf00] segment:'rec4/.incoming/r1-000000.mp4' starts with packet stream:0 pts:0 pts_time:0 frame:0",
      ),
    ).toEqual({ file: 'r1-000000.mp4', ptsSec: 0 });
  });

  it('ignores other lines and missing timestamps', () => {
    expect(parseSegmentStartLine("[segment @ 0x1] segment:'a.mp4' count:0 ended")).toBeNull();
    expect(
      parseSegmentStartLine(
        "segment:'a.mp4' starts with packet stream:0 pts:NOPTS pts_time:NOPTS frame:0",
      ),
    ).toBeNull();
  });
});

describe('createWallAnchor', () => {
  it('is unknown until something is observed', () => {
    const a = createWallAnchor();
    expect(a.value()).toBeUndefined();
    expect(a.at(1)).toBeUndefined();
  });

  it('keeps the smallest wall − output time, which the probe burst does not spoil', () => {
    const a = createWallAnchor();
    const arrival = 1_000_000; // server time the stream's offset 0 arrived
    // ffmpeg probes for 2 s, then muxes the buffered 2 s at once and reports 80 ms later.
    a.observe(arrival + 2_080, 2_000);
    expect(a.value()).toBe(arrival + 80);
    // Steady state: each report comes 0-40 ms after the packet it describes.
    for (let t = 2_500; t < 10_000; t += 500) a.observe(arrival + t + ((t / 500) % 3) * 20, t);
    expect(a.value()).toBe(arrival);
    // A late report (busy box) does not move it.
    a.observe(arrival + 20_000, 10_000);
    expect(a.value()).toBe(arrival);
    expect(a.at(2.56)).toBe(arrival + 2_560);
  });

  it('ignores readings that are not numbers or precede the stream', () => {
    const a = createWallAnchor();
    a.observe(Number.NaN, 1);
    a.observe(5, -1);
    a.observe(5, Number.POSITIVE_INFINITY);
    expect(a.value()).toBeUndefined();
  });
});

describe('segmentFilePath', () => {
  it('files by UTC date and hour of the start on the server clock', () => {
    const at = Date.UTC(2026, 0, 2, 3, 4, 5, 67);
    expect(segmentFilePath('door-1', at, 'lx-1-000002.mp4')).toEqual({
      dir: 'recordings/door-1/2026-01-02/03',
      file: '03-04-05.067_lx-1-000002.mp4',
      relPath: 'recordings/door-1/2026-01-02/03/03-04-05.067_lx-1-000002.mp4',
    });
  });

  it('refuses a start that is not a time', () => {
    expect(() => segmentFilePath('c', Number.NaN, 'a.mp4')).toThrow(RangeError);
  });
});
