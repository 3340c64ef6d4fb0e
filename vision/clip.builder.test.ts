import { describe, expect, it } from 'vitest';
import type { FfmpegBinary } from './ffmpeg.locate.ts';
import type { FfmpegExit, FfmpegRun, FfmpegRunOptions, FfmpegRunner } from './ffmpeg.process.ts';
import {
  ClipError,
  buildClip,
  clipArgs,
  clipOffsetSec,
  ffconcatList,
  ffconcatQuote,
  parseFramecrcKeyframes,
  planClip,
  type ClipFs,
  type ClipSegment,
} from './clip.builder.ts';

const T = Date.UTC(2026, 0, 1, 12, 0, 0);
const seg = (i: number, startS: number, endS: number): ClipSegment => ({
  path: `/data/recordings/cam/2026-01-01/12/s${i}.mp4`,
  startAt: T + startS * 1000,
  endAt: T + endS * 1000,
});
/** Three contiguous 2 s segments from T. */
const THREE = [seg(0, 0, 2), seg(1, 2, 4), seg(2, 4, 6)];

describe('planClip', () => {
  it('cuts the first and last covering segments at the window', () => {
    const plan = planClip(THREE, { startAt: T + 1_300, endAt: T + 4_700 });
    expect(plan.missing).toEqual([]);
    expect(plan.pieces).toEqual([
      { segment: THREE[0], startAt: T + 1_300, endAt: T + 2_000, inpointSec: 1.3 },
      { segment: THREE[1], startAt: T + 2_000, endAt: T + 4_000 },
      { segment: THREE[2], startAt: T + 4_000, endAt: T + 4_700, outpointSec: 0.7 },
    ]);
  });

  it('cuts both ends of a single segment', () => {
    const plan = planClip([THREE[1]!], { startAt: T + 2_500, endAt: T + 3_000 });
    expect(plan.pieces).toEqual([
      { segment: THREE[1], startAt: T + 2_500, endAt: T + 3_000, inpointSec: 0.5, outpointSec: 1 },
    ]);
  });

  it('lists the holes, in any input order, skipping broken and redundant segments', () => {
    const segments = [
      seg(9, 8, 10),
      seg(1, 1, 3),
      { path: '/broken.mp4', startAt: T + 5_000, endAt: T + 4_000 },
      seg(2, 1.5, 2.5), // inside s1
      seg(7, 20, 22), // outside the window
    ];
    const plan = planClip(segments, { startAt: T, endAt: T + 12_000 });
    expect(plan.pieces.map((p) => p.segment.path.slice(-6))).toEqual(['s1.mp4', 's9.mp4']);
    expect(plan.missing).toEqual([
      { startAt: T, endAt: T + 1_000 },
      { startAt: T + 3_000, endAt: T + 8_000 },
      { startAt: T + 10_000, endAt: T + 12_000 },
    ]);
    expect(plan.pieces[0]).not.toHaveProperty('inpointSec');
  });

  it('throws a typed error when nothing covers the window, or the window is not one', () => {
    const window = { startAt: T + 100_000, endAt: T + 110_000 };
    const e = (() => {
      try {
        planClip(THREE, window);
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(e).toBeInstanceOf(ClipError);
    expect(e).toMatchObject({ code: 'not_covered', missing: [window] });
    expect(() => planClip(THREE, { startAt: T + 2_000, endAt: T + 2_000 })).toThrow(
      expect.objectContaining({ code: 'invalid_window' }),
    );
    expect(() => planClip(THREE, { startAt: Number.NaN, endAt: T })).toThrow(ClipError);
    // A segment that ends exactly where the window starts does not cover it.
    expect(() => planClip(THREE, { startAt: T + 6_000, endAt: T + 7_000 })).toThrow(
      /no recording covers/,
    );
  });
});

describe('clipOffsetSec', () => {
  const pieces = planClip([seg(0, 0, 2), seg(1, 5, 7)], {
    startAt: T + 1_000,
    endAt: T + 7_000,
  }).pieces;
  it('maps server time onto the clip, where holes take no time', () => {
    expect(clipOffsetSec(pieces, T + 1_000)).toBe(0);
    expect(clipOffsetSec(pieces, T + 1_500)).toBe(0.5);
    expect(clipOffsetSec(pieces, T + 3_000)).toBe(1); // in the hole: the next recorded moment
    expect(clipOffsetSec(pieces, T + 6_000)).toBe(2);
    expect(clipOffsetSec(pieces, T + 60_000)).toBe(3);
    expect(clipOffsetSec(pieces, T - 60_000)).toBe(0);
  });
});

describe('parseFramecrcKeyframes', () => {
  it('reads keyframes (no F= flag, or bit 1 set) relative to the first packet', () => {
    const lines = [
      '#extradata 0:       40, 0x23b40d59',
      '#tb 0: 1/12800',
      '#media_type 0: video',
      '0,        512,        512,      512,    16739, 0x306eab50',
      '0,       1024,       1024,      512,     7389, 0x0dc77aae, F=0x0',
      '0,      13312,      13312,      512,    16001, 0x306eab51',
      '0,      13824,      13824,      512,     7389, 0x0dc77aae, F=0x0',
      '0,      26112,      26112,        0,    16001, 0x306eab51, F=0x5',
    ];
    expect(parseFramecrcKeyframes(lines)).toEqual([0, 1, 2]);
    expect(parseFramecrcKeyframes(['0, 0, 0, 512, 1, 0x1'])).toEqual([]); // no time base yet
  });
});

describe('ffconcatList', () => {
  it('quotes paths and writes in/out points', () => {
    expect(ffconcatQuote("/a/it's.mp4")).toBe("'/a/it'\\''s.mp4'");
    expect(() => ffconcatQuote('/a\nb.mp4')).toThrow(/line break/);
    const plan = planClip(THREE, { startAt: T + 1_000, endAt: T + 4_500 });
    expect(ffconcatList(plan.pieces)).toBe(
      [
        'ffconcat version 1.0',
        `file '${THREE[0]!.path}'`,
        'inpoint 1.000000',
        `file '${THREE[1]!.path}'`,
        `file '${THREE[2]!.path}'`,
        'outpoint 0.500000',
        '',
      ].join('\n'),
    );
  });
});

// -- buildClip with a strict fake ffmpeg and file system -----------------------------------

const FF5: FfmpegBinary = {
  path: '/usr/bin/ffmpeg',
  ffprobePath: '/usr/bin/ffprobe',
  source: 'system',
  major: 5,
  rtspTimeoutFlag: '-timeout',
};

interface Step {
  args: string[];
  /** What ffmpeg does: lines on stdout, files written; returns its exit. */
  act(options: FfmpegRunOptions): Partial<FfmpegExit>;
}

function fakeFfmpeg(steps: Step[]): FfmpegRunner & { left(): number } {
  const queue = [...steps];
  return {
    binary: FF5,
    left: () => queue.length,
    run(args, options = {}): FfmpegRun {
      const step = queue.shift();
      if (!step) throw new Error(`unexpected ffmpeg run: ${args.join(' ')}`);
      expect(args).toEqual(step.args);
      const exit: FfmpegExit = {
        code: 0,
        signal: null,
        stopRequested: false,
        forced: false,
        timedOut: false,
        stderrTail: [],
        ...step.act(options),
      };
      expect(options.timeoutMs).toBe(60_000);
      return {
        args,
        exit: Promise.resolve(exit),
        stderrTail: () => exit.stderrTail,
        running: () => false,
        stop: () => Promise.resolve(exit),
      };
    },
  };
}

class FakeClipFs implements ClipFs {
  readonly files = new Map<string, string>();
  async writeFile(path: string, text: string) {
    this.files.set(path, text);
  }
  async rename(from: string, to: string) {
    const v = this.files.get(from);
    if (v === undefined) throw new Error(`ENOENT: ${from}`);
    this.files.delete(from);
    this.files.set(to, v);
  }
  async remove(path: string) {
    this.files.delete(path);
  }
  async size(path: string) {
    const v = this.files.get(path);
    return v === undefined ? null : v.length;
  }
}

const OUT = '/data/clips/ev1.mp4';
const POSTER = '/data/clips/ev1.jpg';
const framecrc = (keysS: number[], lastS: number) => [
  '#tb 0: 1/12800',
  ...Array.from({ length: Math.round(lastS * 25) }, (_, i) => {
    const pts = i * 512;
    const key = keysS.includes(i / 25);
    return `0, ${pts}, ${pts}, 512, 1000, 0x1${key ? '' : ', F=0x0'}`;
  }),
];

describe('buildClip', () => {
  it('starts at the keyframe before the window, copies, faststarts, and takes the poster at the event', async () => {
    const fs = new FakeClipFs();
    let list = '';
    const ffmpeg = fakeFfmpeg([
      {
        args: clipArgs.keyframes(THREE[0]!.path),
        act: (o) => {
          for (const l of framecrc([0, 1], 2)) o.onStdoutLine!(l);
          return {};
        },
      },
      {
        args: clipArgs.concat(`${OUT}.ffconcat`, `${OUT}.part`),
        act: () => {
          list = fs.files.get(`${OUT}.ffconcat`)!;
          fs.files.set(`${OUT}.part`, 'mp4 bytes');
          return {};
        },
      },
      {
        // Event at 3.0 s: 2.0 s after the clip's start at the 1.0 s keyframe.
        args: clipArgs.poster(OUT, 2, `${POSTER}.part`),
        act: () => {
          fs.files.set(`${POSTER}.part`, 'jpeg');
          return {};
        },
      },
    ]);
    const result = await buildClip({
      segments: THREE,
      window: { startAt: T + 1_300, endAt: T + 4_700 },
      eventAt: T + 3_000,
      outPath: OUT,
      posterPath: POSTER,
      ffmpeg,
      fs,
    });
    expect(ffmpeg.left()).toBe(0);
    expect(list).toBe(
      [
        'ffconcat version 1.0',
        `file '${THREE[0]!.path}'`,
        'inpoint 1.000000',
        `file '${THREE[1]!.path}'`,
        `file '${THREE[2]!.path}'`,
        'outpoint 0.700000',
        '',
      ].join('\n'),
    );
    expect(result).toEqual({
      outPath: OUT,
      startAt: T + 1_000,
      endAt: T + 4_700,
      missing: [],
      segmentCount: 3,
      poster: { ok: true, path: POSTER, at: T + 3_000 },
    });
    expect([...fs.files.keys()].sort()).toEqual([POSTER, OUT]);
  });

  it('needs no keyframe scan when the window starts before the recording', async () => {
    const fs = new FakeClipFs();
    const ffmpeg = fakeFfmpeg([
      {
        args: clipArgs.concat(`${OUT}.ffconcat`, `${OUT}.part`),
        act: () => {
          fs.files.set(`${OUT}.part`, 'x');
          return {};
        },
      },
      {
        // Default poster moment: the middle of the window (T+1.5 s), 1.5 s into the clip.
        args: clipArgs.poster(OUT, 1.5, `${POSTER}.part`),
        act: () => {
          fs.files.set(`${POSTER}.part`, 'j');
          return {};
        },
      },
    ]);
    const result = await buildClip({
      segments: [THREE[0]!],
      window: { startAt: T - 1_000, endAt: T + 4_000 },
      outPath: OUT,
      posterPath: POSTER,
      ffmpeg,
      fs,
    });
    expect(result).toMatchObject({
      startAt: T,
      endAt: T + 2_000,
      missing: [
        { startAt: T - 1_000, endAt: T },
        { startAt: T + 2_000, endAt: T + 4_000 },
      ],
      poster: { ok: true, at: T + 1_500 },
    });
  });

  it('fails with a typed error and leaves no partial files when the copy fails', async () => {
    const fs = new FakeClipFs();
    const ffmpeg = fakeFfmpeg([
      {
        args: clipArgs.concat(`${OUT}.ffconcat`, `${OUT}.part`),
        act: () => {
          fs.files.set(`${OUT}.part`, 'half');
          return { code: 1, stderrTail: ['s1.mp4: Invalid data found when processing input'] };
        },
      },
    ]);
    await expect(
      buildClip({
        segments: THREE,
        window: { startAt: T, endAt: T + 3_000 },
        outPath: OUT,
        posterPath: POSTER,
        ffmpeg,
        fs,
      }),
    ).rejects.toMatchObject({
      name: 'ClipError',
      code: 'ffmpeg_failed',
      message:
        'clip concat: ffmpeg exited with code 1: s1.mp4: Invalid data found when processing input',
    });
    expect(fs.files.size).toBe(0);
  });

  it('returns the clip with a poster failure when the poster finds no frame', async () => {
    const fs = new FakeClipFs();
    const ffmpeg = fakeFfmpeg([
      {
        args: clipArgs.concat(`${OUT}.ffconcat`, `${OUT}.part`),
        act: () => {
          fs.files.set(`${OUT}.part`, 'x');
          return {};
        },
      },
      // An event at the very end is moved back from it: ffmpeg finds no frame at the last instant.
      { args: clipArgs.poster(OUT, 1.8, `${POSTER}.part`), act: () => ({}) },
    ]);
    const result = await buildClip({
      segments: [THREE[0]!],
      window: { startAt: T, endAt: T + 2_000 },
      eventAt: T + 2_000,
      outPath: OUT,
      posterPath: POSTER,
      ffmpeg,
      fs,
    });
    expect(result.poster).toEqual({
      ok: false,
      reason: 'poster: no frame at 1.800 s into the clip',
    });
    expect([...fs.files.keys()]).toEqual([OUT]);
  });

  it('rejects a window nothing covers before running ffmpeg', async () => {
    await expect(
      buildClip({
        segments: THREE,
        window: { startAt: T + 60_000, endAt: T + 70_000 },
        outPath: OUT,
        posterPath: POSTER,
        ffmpeg: fakeFfmpeg([]),
        fs: new FakeClipFs(),
      }),
    ).rejects.toMatchObject({ code: 'not_covered' });
  });
});
