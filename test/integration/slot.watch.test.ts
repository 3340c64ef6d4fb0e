/**
 * The slot watch on real video: ffmpeg renders a shelf with three parcels; the middle one is put
 * in at 1 s and taken at 5 s while a person (the `person.png` fixture) stands in front of it from
 * 4 s to 8 s, and the room's lighting ramps from dark to bright over the whole clip (eq brightness
 * −0.15 → +0.17, about 80 grey levels) with sensor noise on top. The clip is H.264 like a camera's,
 * decoded by the real frame source at 5 fps; the person is found by the real YOLOX-nano model and
 * followed by the real tracker. Nothing is told where the person is.
 *
 * The file is decoded flat out, so each frame's time is its place in the video (i × 200 ms, what
 * the fps filter delivers), as a camera would have stamped it; the watch and the rule only ever
 * see those times.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../hardware/clock.ts';
import { createOnnxDetector, type OnnxDetector } from '../../vision/detector.onnx.ts';
import { locateFfmpeg, type FfmpegBinary } from '../../vision/ffmpeg.locate.ts';
import { createFrameSource } from '../../vision/frame.source.ts';
import { createGrabRule, type LikelyPickedUp, type SlotOwner } from '../../vision/grab.rule.ts';
import type { FlagCandidate } from '../../vision/rules.types.ts';
import {
  createSlotWatch,
  type SlotDecision,
  type SlotMeasurement,
  type SlotWatch,
  type WatchedSlot,
} from '../../vision/slot.watch.ts';
import { createTracker } from '../../vision/tracker.ts';
import type { Frame, Track } from '../../vision/vision.ports.ts';
import {
  reportMissing,
  requireModel,
  TEST_FIXTURES_DIR,
  TEST_MODEL_PATH,
} from '../harness/requirements.ts';
import { makeTempDir, type TempDir } from '../harness/temp-dir.ts';

const MODEL = TEST_MODEL_PATH;
const FIXTURES = TEST_FIXTURES_DIR;
const ffmpeg = locateFfmpeg();
if (!ffmpeg)
  reportMissing('ffmpeg', 'needed to render and decode the shelf video; slot tests skip');
const haveModel = requireModel('slot tests skip');

const CAM = 'shelf-cam';
const W = 640;
const H = 360;
const FPS = 5;
const DURATION_S = 15;
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const ms = (seconds: number) => T0 + seconds * 1000;

/** The script of the clip, in seconds. */
const PARCEL_IN_S = 1;
const PERSON_FROM_S = 4;
const PARCEL_OUT_S = 5;
const PERSON_UNTIL_S = 8;
/** When the server asks for M's check-in reference (ms into the clip, on a frame's time). */
const CHECK_IN_MS = (PARCEL_IN_S + 0.2) * 1000;

/** Slot x ranges in pixels (between the shelf's uprights), all between the planks at y 72..200. */
const SLOT_X: Record<'L' | 'M' | 'R', number> = { L: 30, M: 230, R: 430 };
const SLOTS: WatchedSlot[] = (['L', 'M', 'R'] as const).map((id) => {
  const x1 = SLOT_X[id] / W;
  const x2 = (SLOT_X[id] + 185) / W;
  return {
    id,
    label: `B-${id}`,
    cameraId: CAM,
    polygon: [
      [x1, 72 / H],
      [x2, 72 / H],
      [x2, 200 / H],
      [x1, 200 / H],
    ],
  };
});

function run(bin: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-3000)));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`ffmpeg exited ${code}: ${err}`)),
    );
  });
}

/**
 * Renders the clip: wood-grain board (one still, looped), dark planks and uprights, cardboard
 * parcels with tape and a label cut from the street photo, the person photo pasted in front, then
 * the lighting ramp and temporal noise over everything, encoded as a camera would.
 */
async function renderShelf(bin: FfmpegBinary, dir: string): Promise<string> {
  const board = join(dir, 'board.png');
  await run(bin.path, [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `color=c=0x9a8868:s=${W}x${H}`,
    '-vf',
    "format=yuv420p,geq=lum='118+18*sin(Y/2.5+3*sin(X/45))':cb=118:cr=136",
    '-frames:v',
    '1',
    board,
  ]);
  // Decode each picture once and repeat it, instead of decoding the PNGs 150 times.
  const hold = `loop=loop=-1:size=1:start=0,setpts=N/${2 * FPS}/TB`;
  const dark = 'color=0x3a2e22:t=fill';
  const midParcel = `:enable='between(t,${PARCEL_IN_S},${PARCEL_OUT_S})'`;
  const parcel = (x: number, when = '') =>
    `drawbox=x=${x + 20}:y=112:w=140:h=88:color=0x8b5a2b:t=fill${when},` +
    `drawbox=x=${x + 120}:y=112:w=10:h=88:color=0xc8b080:t=fill${when}`;
  const graph = [
    `[0]${hold},` +
      [60, 200, 340].map((y) => `drawbox=x=0:y=${y}:w=${W}:h=12:${dark}`).join(',') +
      ',' +
      [20, 220, 420, 620].map((x) => `drawbox=x=${x}:y=60:w=8:h=150:${dark}`).join(',') +
      `,${parcel(SLOT_X.L)},${parcel(SLOT_X.M, midParcel)},${parcel(SLOT_X.R)}[shelf]`,
    '[1]split=3[c1][c2][c3]',
    `[c1]crop=160:110:300:200,scale=80:55,${hold}[lab1]`,
    `[c2]crop=160:110:40:380,scale=80:55,${hold}[lab2]`,
    `[c3]crop=160:110:560:120,scale=80:55,${hold}[lab3]`,
    `[shelf][lab1]overlay=x=${SLOT_X.L + 30}:y=128[s1]`,
    `[s1][lab2]overlay=x=${SLOT_X.M + 30}:y=128${midParcel}[s2]`,
    `[s2][lab3]overlay=x=${SLOT_X.R + 30}:y=128[s3]`,
    `[2]scale=-2:330,${hold}[person]`,
    `[s3][person]overlay=x=150:y=25:enable='between(t,${PERSON_FROM_S},${PERSON_UNTIL_S})',` +
      `eq=brightness='-0.15+0.32*t/${DURATION_S}':eval=frame,noise=alls=8:allf=t,` +
      `trim=duration=${DURATION_S},format=yuv420p[out]`,
  ].join(';');
  const out = join(dir, 'shelf.mp4');
  await run(bin.path, [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-i',
    board,
    '-i',
    join(FIXTURES, 'street_dog_bicycle_car.jpg'),
    '-i',
    join(FIXTURES, 'person.png'),
    '-filter_complex',
    graph,
    '-map',
    '[out]',
    '-r',
    String(2 * FPS),
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-bf',
    '0',
    '-pix_fmt',
    'yuv420p',
    out,
  ]);
  return out;
}

interface Seen {
  frame: Frame;
  tracks: Track[];
}

const seconds = (at: number) => (at - T0) / 1000;

function stats(xs: readonly number[]) {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 0.5))]!;
  const r = (v: number) => Math.round(v * 1000) / 1000;
  return { n: s.length, min: r(s[0]!), median: r(q(0.5)), p95: r(q(0.95)), max: r(s.at(-1)!) };
}

/** The check-in protocol the server follows, played on the clip's frames. */
function playWatch(
  watch: SlotWatch,
  seen: readonly Seen[],
  each?: (s: Seen, m: SlotMeasurement) => void,
): SlotMeasurement[] {
  const out: SlotMeasurement[] = [];
  for (const s of seen) {
    const tMs = s.frame.at - T0;
    if (tMs === 0) {
      // Start-up: L and R hold parcels, M is empty and staff say so.
      expect(watch.captureReference('L', s.frame, s.tracks)).toMatchObject({ captured: true });
      expect(watch.captureReference('R', s.frame, s.tracks)).toMatchObject({ captured: true });
      expect(watch.captureEmptyReference('M', s.frame, s.tracks)).toMatchObject({
        captured: true,
      });
    }
    // The parcel for M is checked in just after it is put there.
    if (tMs === CHECK_IN_MS) watch.requestReference('M', 'occupied');
    const m = watch.measure(s.frame, s.tracks);
    out.push(m);
    each?.(s, m);
  }
  return out;
}

describe.runIf(ffmpeg && haveModel)('slot watch on a real shelf video', () => {
  let dir: TempDir;
  let detector: OnnxDetector;
  const seen: Seen[] = [];

  beforeAll(async () => {
    dir = await makeTempDir('slot-watch');
    const file = await renderShelf(ffmpeg!, dir.path);
    detector = await createOnnxDetector({ modelPath: MODEL });
    const tracker = createTracker({ cameraId: CAM });
    const source = createFrameSource({
      file,
      loop: false,
      realtime: false,
      overflow: 'backpressure',
      cameraId: CAM,
      ffmpeg: ffmpeg!,
      fps: FPS,
      width: W,
      height: H,
      clock: systemClock(),
    });
    let i = 0;
    for await (const decoded of source) {
      const frame: Frame = { ...decoded, at: T0 + Math.round((i * 1000) / FPS) };
      i++;
      const tracks = tracker.update(await detector.detect(frame), frame.at);
      seen.push({ frame, tracks: tracks.map((t) => ({ ...t, box: { ...t.box } })) });
    }
    expect(await source.ended).toEqual({ reason: 'ended' });
  }, 90_000);

  afterAll(async () => {
    await detector?.close();
    await dir?.cleanup();
  });

  it('decodes the whole clip and the model follows the person while they stand there', () => {
    expect(seen.length).toBeGreaterThanOrEqual(DURATION_S * FPS - 1);
    for (const s of seen) {
      const t = seconds(s.frame.at);
      const people = s.tracks.filter((x) => x.classId === 0);
      if (t > PERSON_FROM_S + 0.5 && t < PERSON_UNTIL_S) expect(people.length).toBe(1);
      if (t < PERSON_FROM_S) expect(people).toEqual([]);
    }
  });

  it('judges the middle slot emptied only once unoccluded, and the others unchanged', () => {
    const watch = createSlotWatch({ slots: SLOTS, settleMs: 2000 });
    const decisions: SlotDecision[] = [];
    const captured: [string, number][] = [];
    const mid: { t: number; status: string }[] = [];
    playWatch(watch, seen, (s, m) => {
      if (m.status !== 'measured') throw new Error(`frame at ${s.frame.at} was ${m.status}`);
      decisions.push(...m.decisions);
      captured.push(...m.captured.map((c): [string, number] => [c.slotId, seconds(c.at)]));
      const o = m.slots.find((x) => x.slotId === 'M')!;
      mid.push({ t: seconds(s.frame.at), status: o.status });
    });
    // The check-in reference of M was taken once the new parcel had been still for settleMs.
    expect(captured).toHaveLength(1);
    expect(captured[0]![0]).toBe('M');
    expect(captured[0]![1]).toBeGreaterThanOrEqual(PARCEL_IN_S + 2);
    expect(captured[0]![1]).toBeLessThan(PERSON_FROM_S);
    // Behind the person it is never judged.
    for (const f of mid) {
      if (f.t > PERSON_FROM_S + 0.2 && f.t < PERSON_UNTIL_S) expect(f.status).toBe('occluded');
    }
    expect(decisions).toHaveLength(1);
    const d = decisions[0]!;
    expect(d).toMatchObject({ slotId: 'M', kind: 'emptied', basis: 'matches_empty_reference' });
    expect(seconds(d.lastSeenUnchangedAt)).toBeLessThanOrEqual(PERSON_FROM_S + 0.2);
    expect(seconds(d.changeSeenAt)).toBeGreaterThanOrEqual(PERSON_UNTIL_S);
    expect(d.at - d.changeSeenAt).toBeGreaterThanOrEqual(2000);
    // Within the settle time (and the tracker's 1.5 s memory of the person) of them leaving.
    expect(seconds(d.at)).toBeLessThanOrEqual(PERSON_UNTIL_S + 1.5 + 2 + 0.6);
    expect(d.occluders.length).toBeGreaterThan(0);
    console.log(
      `slot M: last seen full at ${seconds(d.lastSeenUnchangedAt)} s, seen changed and clear from ` +
        `${seconds(d.changeSeenAt)} s, judged emptied at ${seconds(d.at)} s (person left at ${PERSON_UNTIL_S} s)`,
    );
    expect(watch.status('L')).toMatchObject({ occupancy: 'occupied', changedSince: null });
    expect(watch.status('R')).toMatchObject({ occupancy: 'occupied', changedSince: null });
  });

  it('keeps unchanged slots far below the threshold under the lighting ramp (score distributions)', () => {
    const watch = createSlotWatch({ slots: SLOTS, settleMs: 2000 });
    const unchanged: number[] = [];
    const emptied: number[] = [];
    const emptyLike: number[] = [];
    const occupiedVsEmpty: number[] = [];
    const offsets: number[] = [];
    playWatch(watch, seen, (s, m) => {
      if (m.status !== 'measured') return;
      const t = seconds(s.frame.at);
      for (const o of m.slots) {
        if (o.status !== 'clear') continue;
        if (o.slotId !== 'M' && o.vsOccupied) {
          unchanged.push(o.vsOccupied.score);
          offsets.push(o.vsOccupied.lighting.offset);
        }
        if (o.slotId === 'M' && o.vsOccupied && t < PERSON_FROM_S)
          unchanged.push(o.vsOccupied.score);
        if (o.slotId === 'M' && o.vsOccupied && t >= PERSON_UNTIL_S) {
          emptied.push(o.vsOccupied.score);
        }
        if (o.slotId === 'M' && o.vsEmpty && t >= PERSON_UNTIL_S) emptyLike.push(o.vsEmpty.score);
        if (o.slotId === 'M' && o.vsEmpty && t > PARCEL_IN_S && t < PERSON_FROM_S) {
          occupiedVsEmpty.push(o.vsEmpty.score);
        }
      }
    });
    const report = {
      'unchanged slots vs their reference (lighting ramp)': stats(unchanged),
      'emptied slot vs its occupied reference': stats(emptied),
      'emptied slot vs its empty reference': stats(emptyLike),
      'occupied slot vs its empty reference': stats(occupiedVsEmpty),
      'lighting offset fitted (grey levels)': stats(offsets),
    };
    console.log(`slot change scores on the real shelf video:\n${JSON.stringify(report, null, 2)}`);
    // The ramp really moved the picture (dark → bright), and the fit followed it.
    expect(Math.max(...offsets) - Math.min(...offsets)).toBeGreaterThan(40);
    // Separation with margin on both sides of the default threshold (0.3).
    expect(Math.max(...unchanged)).toBeLessThan(0.15);
    expect(Math.min(...emptied)).toBeGreaterThan(0.45);
    expect(Math.max(...emptyLike)).toBeLessThan(0.15);
    expect(Math.min(...occupiedVsEmpty)).toBeGreaterThan(0.45);
  });

  it('raises a multi-package grab for the neighbour’s parcel through the grab rule', () => {
    const watch = createSlotWatch({ slots: SLOTS, settleMs: 2000 });
    const parcels: Record<string, SlotOwner[]> = {
      L: [{ packageId: 'p-l', residentId: 'r4b', unitId: '4B' }],
      M: [{ packageId: 'p-m', residentId: 'r5c', unitId: '5C' }],
      R: [{ packageId: 'p-r', residentId: 'r4b', unitId: '4B' }],
    };
    const pickedUp: LikelyPickedUp[] = [];
    const unexplained: SlotDecision[] = [];
    const rule = createGrabRule({
      watch,
      ownership: {
        owners: (slotId) => {
          const p = parcels[slotId];
          if (!p) throw new Error(`unexpected owners(${slotId})`);
          return p;
        },
        unitOfResident: (r) => ({ r4b: '4B', r5c: '5C' })[r],
      },
      events: {
        likelyPickedUp: (r) => pickedUp.push(r),
        unexplainedChange: (d) => unexplained.push(d),
      },
    });
    const flags: FlagCandidate[] = [];
    for (const s of seen) {
      const tMs = s.frame.at - T0;
      if (tMs === 0) {
        watch.captureReference('L', s.frame);
        watch.captureReference('R', s.frame);
        watch.captureEmptyReference('M', s.frame);
      }
      if (tMs === CHECK_IN_MS) watch.requestReference('M', 'occupied');
      // The resident of 4B badges in just before they walk to the shelf.
      if (tMs === (PERSON_FROM_S - 0.6) * 1000) {
        rule.onEntry({
          eventId: 'ev-4b',
          at: s.frame.at,
          doorId: 'front',
          who: 'resident',
          residentId: 'r4b',
          credentialId: 'card-4b',
        });
      }
      flags.push(...rule.update(CAM, s.tracks, s.frame.at, s.frame));
    }
    expect(pickedUp).toEqual([]);
    expect(unexplained).toEqual([]);
    expect(flags).toHaveLength(1);
    const f = flags[0]!;
    expect(f).toMatchObject({
      kind: 'multi_package_grab',
      severity: 'high',
      cameraId: CAM,
      entryEventId: 'ev-4b',
      credentialId: 'card-4b',
    });
    expect(f.evidence).toMatchObject({
      slots: [{ slotId: 'M', label: 'B-M', role: 'other_resident', owners: [{ unitId: '5C' }] }],
      visitor: { residentId: 'r4b', unit: '4B' },
      reasons: ['other_residents_parcels'],
    });
    expect(f.trackIds.length).toBeGreaterThan(0);
    expect(f.clipWindow.startAt).toBeLessThanOrEqual(ms(PERSON_FROM_S));
    expect(f.clipWindow.endAt).toBeGreaterThan(f.at);
  });
});
