/**
 * A labelled set of synthetic package-room scenes for measuring the rules end to end: the
 * synthetic room (scene.synth.ts) with photos from the shared fixtures composited over it by
 * ffmpeg — `person.png` as people walking in through the door, standing, leaving; the street
 * photo (a dog, a bicycle, a car, no person) as something that moves but is not a person — each
 * scene with the door grants that happen in it and the flags it must (and must not) raise.
 *
 * Time. The scenes are real video at the detect stream's rate (5 fps), as long as the story: the
 * loitering scene is 125 s of video, not a short clip with stretched timestamps. Stretching would
 * lie to every time-based part at once (the tracker's 1.5 s track loss becomes one frame, the
 * motion gate's background adapts in two frames), so the accuracy would be measured on a pipeline
 * that never runs in production. Decoding is done flat out, not at the camera's pace, and each
 * frame is stamped with its place in the video (start + n × 200 ms): the same times a live camera
 * would have delivered, two minutes of video checked in a few seconds of CPU. Grants are fed to the
 * pipeline when the frame time passes them, as the door would send them.
 *
 * The photo is pasted as an unmasked rectangle (its grey studio background comes along): the
 * detector sees a person's head and shoulders, and the box's bottom edge — the "feet" the zones
 * judge — is the rectangle's bottom edge, which the scene moves along the floor.
 *
 * Shelves. The camera also watches four shelf slots ({@link LABELLED_SLOTS}). A scene may label
 * the shelf (`shelf`): the slots' back board is painted plain and only its parcels are drawn in
 * them, each until its removal time, with whose parcel it is for the multi-package-grab rule
 * (grab.scenes.ts holds those scenes and builds the rule). A scene may also ramp the room's light.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { manualClock, systemClock, type ManualClock } from '../hardware/clock.ts';
import {
  createCameraAnalytics,
  type AnalyticsSettings,
  type PipelineStats,
  type SiteCamera,
} from './analytics.pipeline.ts';
import type { FfmpegBinary } from './ffmpeg.locate.ts';
import { createFrameSource, type FrameSpawn } from './frame.source.ts';
import type { Entry, EntryWho, FlagCandidate, FlagKind, Rule } from './rules.types.ts';
import { synthesizeScene } from './scene.synth.ts';
import type { WatchedSlot } from './slot.watch.ts';
import type { Detector, Frame } from './vision.ports.ts';

/** Bump when the compositing changes, so cached renders are not reused. */
const RECIPE_VERSION = 1;
/** Bump when the drawing of shelf parcels or the lighting ramp changes. */
const SHELF_RECIPE_VERSION = 1;

/** The detect stream the scenes are made for: 16:9 at the detector's width, 5 fps. */
export const LABELLED_SIZE = { width: 416, height: 234 } as const;
export const LABELLED_FPS = 5;

/** The fixture photos a scene can use. */
export type SceneImage = 'person' | 'street';
const IMAGE_FILES: Record<SceneImage, string> = {
  person: 'person.png',
  street: 'street_dog_bicycle_car.jpg',
};

/**
 * Width ÷ height of each fixture photo (person.png is 900×916, the street photo 768×576): where a
 * pasted photo covers the picture, for labels that depend on it (when a slot is in view again).
 */
export const IMAGE_ASPECT: Readonly<Record<SceneImage, number>> = {
  person: 900 / 916,
  street: 768 / 576,
};

/** Where the shared fixtures are: $PARCELROOM_FIXTURES, else ../shared/fixtures beside the repo. */
export function defaultFixturesDir(): string {
  return (
    process.env.PARCELROOM_FIXTURES ??
    fileURLToPath(new URL('../../shared/fixtures/', import.meta.url))
  );
}

/** Where an actor's feet are at a time: x the box centre, y its bottom edge, frame fractions. */
export interface Waypoint {
  atMs: number;
  x: number;
  y: number;
}

export interface SceneActor {
  image: SceneImage;
  /** Photo height as a fraction of the frame height. */
  heightFraction: number;
  /** In the picture from the first waypoint's time to the last's, moving in straight lines. */
  path: readonly Waypoint[];
  /** Spans (ms) the actor is hidden (behind a trolley): the detector misses them. */
  hidden?: readonly { fromMs: number; toMs: number }[];
}

export interface SceneGrant {
  atMs: number;
  eventId: string;
  who: EntryWho;
  credentialId?: string;
  residentId?: string;
}

/** A flag the scene must raise: its kind (and loitering reason), decided within a time span. */
export interface ExpectedFlag {
  kind: FlagKind;
  reason?: string;
  /** When the rule's condition became true (ms from the scene start), for the delay figures. */
  conditionAtMs: number;
  /** The flag must be decided between these times (ms from the scene start). */
  fromMs: number;
  toMs: number;
}

/**
 * A parcel drawn in a shelf slot (a cardboard box with a tape strip and a printed label), as the
 * server's parcels table has it: checked in to that slot for that resident and unit.
 */
export interface SceneParcel {
  slotId: string;
  packageId: string;
  residentId?: string;
  unitId: string;
  /** When the box vanishes from the slot (ms); unset = it stays. Someone stands in front then. */
  removedAtMs?: number;
}

/**
 * The shelf's labels for the multi-package-grab rule: the parcels in the slots of
 * {@link LABELLED_SLOTS}, who lives where, and which slots must be reported as likely picked up
 * by their owner. A scene with a shelf is drawn with the slots' back board plain and only these
 * parcels in them.
 */
export interface SceneShelf {
  parcels: readonly SceneParcel[];
  residents: readonly { residentId: string; unitId: string }[];
  /** Slots the grab rule must report as emptied by their rightful owner (likelyPickedUp). */
  expectedPickedUp: readonly string[];
}

/**
 * The room's light changing over the scene (daylight, auto-exposure): ffmpeg's eq brightness
 * ramped linearly from `from` to `to` (−1..1 of full scale), with temporal sensor noise on top.
 */
export interface SceneLighting {
  from: number;
  to: number;
  /** Noise strength for ffmpeg's noise filter (0..100). */
  noise: number;
}

export interface LabelledScene {
  id: string;
  description: string;
  durationMs: number;
  actors: readonly SceneActor[];
  grants: readonly SceneGrant[];
  /** Every flag the scene must raise; any other flag is a false positive. */
  expected: readonly ExpectedFlag[];
  /** Rule settings the scene's story needs (a short visit allowance); default the defaults. */
  settings?: AnalyticsSettings;
  /** Parcels drawn in the shelf slots and whose they are; unset = the room's own drawn boxes. */
  shelf?: SceneShelf;
  lighting?: SceneLighting;
}

/** A rectangle in fractions (0..1) of the picture. */
export interface FrameRect {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

/** Where an actor's photo is in the picture at a time (fractions), or null when not shown. */
export function actorRectAt(
  actor: SceneActor,
  atMs: number,
  size: { width: number; height: number } = LABELLED_SIZE,
): FrameRect | null {
  const path = actor.path;
  if (path.length === 0 || atMs < path[0]!.atMs || atMs > path[path.length - 1]!.atMs) return null;
  if ((actor.hidden ?? []).some((h) => atMs >= h.fromMs && atMs <= h.toMs)) return null;
  let x = path[0]!.x;
  let y = path[0]!.y;
  for (let i = 1; i < path.length; i++) {
    const a = path[i - 1]!;
    const b = path[i]!;
    if (atMs > b.atMs) {
      x = b.x;
      y = b.y;
      continue;
    }
    const f = b.atMs > a.atMs ? (atMs - a.atMs) / (b.atMs - a.atMs) : 1;
    x = a.x + (b.x - a.x) * f;
    y = a.y + (b.y - a.y) * f;
    break;
  }
  const h = actor.heightFraction;
  const w = (h * size.height * IMAGE_ASPECT[actor.image]) / size.width;
  return { x1: x - w / 2, y1: y - h, x2: x + w / 2, y2: y };
}

/** The synthetic camera: it watches the door on the left; the doorway is the left floor strip. */
export const LABELLED_CAMERA: SiteCamera = {
  id: 'synthetic-room',
  doorId: 'front',
  zones: [
    {
      id: 'room',
      kind: 'room',
      polygon: [
        [0, 0],
        [1, 0],
        [1, 1],
        [0, 1],
      ],
    },
    {
      id: 'doorway',
      kind: 'door',
      polygon: [
        [0, 0.55],
        [0.15, 0.55],
        [0.15, 1],
        [0, 1],
      ],
    },
  ],
};

/**
 * The shelf slots the synthetic camera watches: the two lower rows of the room's shelving unit
 * (scene.synth.ts draws its uprights at x 0.05 and 0.37 and planks at y 0.28, 0.44 and 0.60),
 * each row cut in two, drawn just inside the uprights and planks as a site file would.
 */
export const LABELLED_SLOTS: readonly WatchedSlot[] = (
  [
    ['B1', 0.066, 0.302],
    ['B2', 0.22, 0.302],
    ['C1', 0.066, 0.462],
    ['C2', 0.22, 0.462],
  ] as const
).map(([id, x, y]) => ({
  id,
  label: `shelf ${id}`,
  cameraId: LABELLED_CAMERA.id,
  polygon: [
    [x, y],
    [x + 0.146, y],
    [x + 0.146, y + 0.134],
    [x, y + 0.134],
  ],
}));

/** The back board of the two watched rows, where a scene with a shelf paints over the room's boxes. */
const SHELF_BACK = { x: 0.062, w: 0.308, rows: [0.298, 0.458], h: 0.142, color: '0x9C907C' };
const PARCEL_COLORS = ['0x8B5A2B', '0xA0703F', '0x7A4E26', '0xB07A45'];

const FLOOR = 0.97;
const PERSON_H = 0.45;
/** A person's centre when just off the left edge, in the doorway beyond the picture. */
const OUTSIDE = -0.12;

/**
 * Walks in from the door to `x` in `walkMs` and stands there until `untilMs`; then walks back
 * out through the door when `leaves`, else is still there when the scene ends.
 */
function visit(
  enterAtMs: number,
  x: number,
  untilMs: number,
  leaves: boolean,
  walkMs = 2000,
): Waypoint[] {
  const path: Waypoint[] = [
    { atMs: enterAtMs, x: OUTSIDE, y: FLOOR },
    { atMs: enterAtMs + walkMs, x, y: FLOOR },
    { atMs: untilMs, x, y: FLOOR },
  ];
  if (leaves) path.push({ atMs: untilMs + walkMs, x: OUTSIDE, y: FLOOR });
  return path;
}

/** When a straight walk from OUTSIDE to `x` reaches `at` (the centre at a given place). */
function reaches(enterAtMs: number, x: number, at: number, walkMs = 2000): number {
  return Math.round(enterAtMs + (walkMs * (at - OUTSIDE)) / (x - OUTSIDE));
}

/** The doorway's inner edge on the floor, and the picture's left edge (half the person in view). */
const DOOR_EDGE = 0.15;
const IN_VIEW = 0;

/**
 * The labelled set. Thresholds are the defaults (loitering 90 s, tailgating window 1 s before to
 * 15 s after a grant). "In view" is when the person's centre enters the picture.
 */
export const LABELLED_SCENES: readonly LabelledScene[] = [
  {
    id: 'walk-through',
    description: 'a resident badges, walks to the shelves, takes a parcel and leaves within 10 s',
    durationMs: 10_000,
    actors: [{ image: 'person', heightFraction: PERSON_H, path: visit(1500, 0.35, 7000, true) }],
    grants: [{ atMs: 1000, eventId: 'walk-g1', who: 'resident', credentialId: 'card-4b' }],
    expected: [],
  },
  {
    id: 'loiter',
    description:
      'a resident badges in and stands in the room for two minutes; hidden for 2.5 s at 40 s',
    durationMs: 125_000,
    actors: [
      {
        image: 'person',
        heightFraction: PERSON_H,
        path: visit(1500, 0.5, 121_000, true),
        hidden: [{ fromMs: 40_000, toMs: 42_500 }],
      },
    ],
    grants: [{ atMs: 1000, eventId: 'loiter-g1', who: 'resident', credentialId: 'card-7c' }],
    expected: [
      {
        kind: 'loitering',
        reason: 'dwell',
        conditionAtMs: reaches(1500, 0.5, IN_VIEW) + 90_000,
        fromMs: reaches(1500, 0.5, IN_VIEW) + 89_000,
        toMs: reaches(1500, 0.5, IN_VIEW) + 93_000,
      },
    ],
  },
  {
    id: 'no-entry',
    description: 'someone walks in with no grant (door left ajar), stands by the shelves, leaves',
    durationMs: 11_000,
    actors: [{ image: 'person', heightFraction: PERSON_H, path: visit(1500, 0.45, 7500, true) }],
    grants: [],
    expected: [
      {
        kind: 'loitering',
        reason: 'no_entry',
        conditionAtMs: reaches(1500, 0.45, IN_VIEW),
        fromMs: reaches(1500, 0.45, IN_VIEW),
        toMs: reaches(1500, 0.45, IN_VIEW) + 4000,
      },
    ],
  },
  {
    id: 'tailgate',
    description: 'a resident badges and walks in; a second person follows 1.5 s later, no badge',
    durationMs: 10_000,
    actors: [
      { image: 'person', heightFraction: PERSON_H, path: visit(1500, 0.75, 10_000, false) },
      { image: 'person', heightFraction: PERSON_H, path: visit(3000, 0.4, 10_000, false) },
    ],
    grants: [{ atMs: 1000, eventId: 'tail-g1', who: 'resident', credentialId: 'card-2a' }],
    expected: [
      {
        kind: 'tailgating',
        conditionAtMs: reaches(3000, 0.4, DOOR_EDGE),
        fromMs: reaches(3000, 0.4, DOOR_EDGE),
        toMs: reaches(3000, 0.4, DOOR_EDGE) + 3000,
      },
    ],
  },
  {
    id: 'tailgate-close',
    description: 'two people walk in 0.6 s apart on one badge, overlapping in the doorway',
    durationMs: 9_000,
    actors: [
      { image: 'person', heightFraction: PERSON_H, path: visit(1500, 0.75, 9_000, false) },
      { image: 'person', heightFraction: PERSON_H, path: visit(2100, 0.4, 9_000, false) },
    ],
    grants: [{ atMs: 1000, eventId: 'close-g1', who: 'resident', credentialId: 'card-5d' }],
    expected: [
      {
        kind: 'tailgating',
        conditionAtMs: reaches(2100, 0.4, DOOR_EDGE),
        fromMs: reaches(2100, 0.4, DOOR_EDGE),
        toMs: reaches(2100, 0.4, DOOR_EDGE) + 3000,
      },
    ],
  },
  {
    id: 'three-on-one',
    description: 'three people walk in 1.5 s apart on one badge',
    durationMs: 11_000,
    actors: [
      { image: 'person', heightFraction: 0.4, path: visit(1500, 0.8, 11_000, false) },
      { image: 'person', heightFraction: 0.4, path: visit(3000, 0.5, 11_000, false) },
      { image: 'person', heightFraction: 0.4, path: visit(4500, 0.25, 11_000, false) },
    ],
    grants: [{ atMs: 1000, eventId: 'three-g1', who: 'resident', credentialId: 'card-9e' }],
    // One flag per entry window, decided when the second person is in.
    expected: [
      {
        kind: 'tailgating',
        conditionAtMs: reaches(3000, 0.5, DOOR_EDGE),
        fromMs: reaches(3000, 0.5, DOOR_EDGE),
        toMs: reaches(3000, 0.5, DOOR_EDGE) + 3000,
      },
    ],
  },
  {
    id: 'overstay',
    description: 'a resident badges in and is still there when a 15 s visit allowance runs out',
    durationMs: 22_000,
    actors: [{ image: 'person', heightFraction: PERSON_H, path: visit(1500, 0.6, 22_000, false) }],
    grants: [{ atMs: 1000, eventId: 'over-g1', who: 'resident', credentialId: 'card-1a' }],
    settings: { loitering: { visitMs: 15_000 } },
    expected: [
      {
        kind: 'loitering',
        reason: 'overstay',
        conditionAtMs: 16_000,
        fromMs: 16_000,
        toMs: 17_500,
      },
    ],
  },
  {
    id: 'exit-piggyback',
    description: 'a resident leaves; a second person slips in through the door 1.5 s after',
    durationMs: 16_000,
    actors: [
      { image: 'person', heightFraction: PERSON_H, path: visit(1500, 0.4, 6000, true) },
      { image: 'person', heightFraction: PERSON_H, path: visit(9500, 0.55, 16_000, false) },
    ],
    grants: [{ atMs: 1000, eventId: 'piggy-g1', who: 'resident', credentialId: 'card-6b' }],
    // Two crossings on one grant: tailgating's flag (and not a second, no_entry one).
    expected: [
      {
        kind: 'tailgating',
        conditionAtMs: reaches(9500, 0.55, DOOR_EDGE),
        fromMs: reaches(9500, 0.55, DOOR_EDGE),
        toMs: reaches(9500, 0.55, DOOR_EDGE) + 3000,
      },
    ],
  },
  {
    id: 'two-grants',
    description: 'the same two people, but each badges in: two grants for two crossings',
    durationMs: 10_000,
    actors: [
      { image: 'person', heightFraction: PERSON_H, path: visit(1500, 0.75, 10_000, false) },
      { image: 'person', heightFraction: PERSON_H, path: visit(3000, 0.4, 10_000, false) },
    ],
    grants: [
      { atMs: 1000, eventId: 'two-g1', who: 'resident', credentialId: 'card-2a' },
      { atMs: 2700, eventId: 'two-g2', who: 'resident', credentialId: 'card-3f' },
    ],
    expected: [],
  },
  {
    id: 'single-entry',
    description:
      'a carrier code opens the door; the carrier stocks the shelves for 40 s and leaves',
    durationMs: 46_000,
    actors: [{ image: 'person', heightFraction: PERSON_H, path: visit(1500, 0.3, 42_000, true) }],
    grants: [{ atMs: 1000, eventId: 'single-g1', who: 'carrier' }],
    expected: [],
  },
  {
    id: 'empty',
    description: 'the empty room (only the wall screen changes)',
    durationMs: 10_000,
    actors: [],
    grants: [],
    expected: [],
  },
  {
    id: 'not-a-person',
    description: 'a picture of a dog, a bicycle and a car moves across the room; nobody badges',
    durationMs: 10_000,
    actors: [
      {
        image: 'street',
        heightFraction: 0.5,
        path: [
          { atMs: 1000, x: -0.15, y: FLOOR },
          { atMs: 9000, x: 1.15, y: FLOOR },
        ],
      },
    ],
    grants: [],
    expected: [],
  },
];

// ---------------------------------------------------------------------------------------------
// Rendering

export interface RenderOptions {
  cacheDir: string;
  ffmpeg: FfmpegBinary;
  fixturesDir?: string;
  width?: number;
  height?: number;
  fps?: number;
}

export interface RenderedScene {
  scene: LabelledScene;
  path: string;
  width: number;
  height: number;
  fps: number;
  cached: boolean;
}

const num = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(4));
const sec = (ms: number) => num(ms / 1000);
const even = (n: number) => Math.max(2, 2 * Math.round(n / 2));

/** A piecewise-linear function of ffmpeg's `t` (seconds) through (time, value) points. */
export function piecewiseExpr(points: readonly { atMs: number; v: number }[]): string {
  if (points.length === 0) throw new Error('piecewiseExpr needs at least one point');
  const last = points[points.length - 1]!;
  let expr = num(last.v);
  for (let i = points.length - 2; i >= 0; i--) {
    const a = points[i]!;
    const b = points[i + 1]!;
    const span = (b.atMs - a.atMs) / 1000;
    const seg = span > 0 ? `${num(a.v)}+(t-${sec(a.atMs)})*${num((b.v - a.v) / span)}` : num(b.v);
    expr = `if(lt(t,${sec(b.atMs)}),${seg},${expr})`;
  }
  return expr;
}

/** Checks a scene's script; throws naming the scene and what is wrong. */
export function validateScene(scene: LabelledScene): void {
  const fail = (m: string): never => {
    throw new Error(`labelled scene ${scene.id}: ${m}`);
  };
  if (!/^[a-z0-9-]+$/.test(scene.id)) fail('id may hold only a-z, 0-9 and -');
  if (!Number.isInteger(scene.durationMs) || scene.durationMs < 1000)
    fail('durationMs must be ≥ 1000');
  scene.actors.forEach((a, i) => {
    if (!(a.heightFraction > 0 && a.heightFraction <= 1))
      fail(`actor ${i} heightFraction must be in (0, 1]`);
    if (a.path.length < 1) fail(`actor ${i} needs a path`);
    a.path.forEach((p, j) => {
      if (j > 0 && p.atMs < a.path[j - 1]!.atMs) fail(`actor ${i} waypoint ${j} goes back in time`);
      if (p.atMs < 0 || p.atMs > scene.durationMs)
        fail(`actor ${i} waypoint ${j} is outside the scene`);
    });
  });
  for (const e of scene.expected) {
    if (!(e.fromMs <= e.toMs)) fail(`expected ${e.kind} window is empty`);
  }
  if (scene.shelf) validateShelf(scene.shelf, scene.durationMs, fail);
  if (scene.lighting) {
    const l = scene.lighting;
    if (![l.from, l.to].every((v) => Number.isFinite(v) && v >= -1 && v <= 1))
      fail('lighting from and to must be in -1..1');
    if (!(Number.isFinite(l.noise) && l.noise >= 0 && l.noise <= 100))
      fail('lighting noise must be in 0..100');
  }
}

function validateShelf(shelf: SceneShelf, durationMs: number, fail: (m: string) => never): void {
  const slotIds = new Set(LABELLED_SLOTS.map((s) => s.id));
  const filled = new Set<string>();
  const packages = new Set<string>();
  for (const p of shelf.parcels) {
    if (!slotIds.has(p.slotId)) fail(`parcel ${p.packageId} is in unknown slot ${p.slotId}`);
    // One drawn box per slot: two would be drawn on top of each other.
    if (filled.has(p.slotId)) fail(`slot ${p.slotId} holds two parcels`);
    if (packages.has(p.packageId)) fail(`parcel ${p.packageId} is listed twice`);
    if (!p.unitId) fail(`parcel ${p.packageId} names no unit`);
    if (p.removedAtMs !== undefined && !(p.removedAtMs >= 0 && p.removedAtMs <= durationMs))
      fail(`parcel ${p.packageId} is removed outside the scene`);
    filled.add(p.slotId);
    packages.add(p.packageId);
  }
  const residents = new Set<string>();
  for (const r of shelf.residents) {
    if (residents.has(r.residentId)) fail(`resident ${r.residentId} is listed twice`);
    residents.add(r.residentId);
  }
  for (const id of shelf.expectedPickedUp) {
    if (!slotIds.has(id)) fail(`expectedPickedUp names unknown slot ${id}`);
  }
}

function runFfmpeg(
  bin: string,
  args: string[],
  timeoutMs: number,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: timeoutMs });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => (stderr = (stderr + d).slice(-8000)));
    child.once('error', (err) => done({ code: null, stderr: `${stderr}${err.message}` }));
    child.once('close', (code) => done({ code, stderr }));
  });
}

/** Where crops of the street photo come from, one per parcel: printed labels that differ. */
const LABEL_CROPS: readonly { x: number; y: number }[] = [
  { x: 300, y: 200 },
  { x: 40, y: 380 },
  { x: 560, y: 120 },
  { x: 200, y: 60 },
];

/**
 * Paints the watched rows' back board plain over the room's own boxes, then each parcel: a
 * cardboard box standing on the plank, a tape strip and a label cut from the street photo (input
 * `labelInput`), each shown until the parcel's removal. Returns the label of the last output.
 */
function shelfGraph(
  shelf: SceneShelf,
  size: { W: number; H: number },
  labelInput: number,
  graph: string[],
): string {
  const { W, H } = size;
  const px = (v: number, of: number) => Math.round(v * of);
  const box = (x: number, y: number, w: number, h: number, color: string, enable: string) =>
    `drawbox=x=${px(x, W)}:y=${px(y, H)}:w=${px(w, W)}:h=${px(h, H)}:color=${color}:t=fill${enable}`;
  const shown = (p: SceneParcel) =>
    p.removedAtMs === undefined ? '' : `:enable='lt(t,${sec(p.removedAtMs)})'`;
  const where = (p: SceneParcel) => {
    const slot = LABELLED_SLOTS.find((s) => s.id === p.slotId)!;
    const [x, y] = slot.polygon[0]!;
    return { x: x + 0.015, y: y + 0.034 };
  };
  const draws = SHELF_BACK.rows.map((y) =>
    box(SHELF_BACK.x, y, SHELF_BACK.w, SHELF_BACK.h, SHELF_BACK.color, ''),
  );
  shelf.parcels.forEach((p, i) => {
    const { x, y } = where(p);
    draws.push(box(x, y, 0.105, 0.1, PARCEL_COLORS[i % PARCEL_COLORS.length]!, shown(p)));
    draws.push(box(x + 0.07, y, 0.012, 0.1, '0xC8B080', shown(p)));
  });
  graph.push(`[0:v]${draws.join(',')}[shelf]`);
  let last = 'shelf';
  const n = shelf.parcels.length;
  if (n === 0) return last;
  graph.push(`[${labelInput}:v]split=${n}${shelf.parcels.map((_, i) => `[lsrc${i}]`).join('')}`);
  shelf.parcels.forEach((p, i) => {
    const c = LABEL_CROPS[i % LABEL_CROPS.length]!;
    const { x, y } = where(p);
    graph.push(
      `[lsrc${i}]crop=160:110:${c.x}:${c.y},scale=${even(W * 0.045)}:${even(H * 0.05)},format=yuv420p[lab${i}]`,
    );
    graph.push(
      `[${last}][lab${i}]overlay=x=${px(x + 0.01, W)}:y=${px(y + 0.03, H)}${shown(p)}[par${i}]`,
    );
    last = `par${i}`;
  });
  return last;
}

/** The ffmpeg arguments that paste the actors over a rendered room (exported for tests and logs). */
export function compositeArgs(
  scene: LabelledScene,
  background: string,
  imagePaths: Readonly<Record<SceneImage, string>>,
  size: { width: number; height: number; fps: number },
  outPath: string,
): string[] {
  const { width: W, height: H, fps } = size;
  const dur = sec(scene.durationMs);
  const inputs: string[][] = [['-i', background]];
  const graph: string[] = [];
  let last = '0:v';
  // The parcels' labels come from the street photo, one input after the actors' photos.
  if (scene.shelf) last = shelfGraph(scene.shelf, { W, H }, scene.actors.length + 1, graph);
  scene.actors.forEach((a, i) => {
    // One still frame, decoded once: overlay repeats a finished input's last frame (eof_action
    // repeat), where `-loop 1` would decode the 1 MB PNG again for every frame of the scene.
    inputs.push(['-i', imagePaths[a.image]]);
    const h = even(H * a.heightFraction);
    graph.push(`[${i + 1}:v]scale=-2:${h},format=yuv420p[a${i}]`);
    // Overlay x/y are the photo's top-left corner; the path gives its bottom centre.
    const x = piecewiseExpr(a.path.map((p) => ({ atMs: p.atMs, v: p.x * W })));
    const y = piecewiseExpr(a.path.map((p) => ({ atMs: p.atMs, v: p.y * H })));
    const first = a.path[0]!.atMs;
    const end = a.path[a.path.length - 1]!.atMs;
    const hidden = (a.hidden ?? [])
      .map((s) => `*not(between(t,${sec(s.fromMs)},${sec(s.toMs)}))`)
      .join('');
    graph.push(
      `[${last}][a${i}]overlay=x='${x}-w/2':y='${y}-h':eval=frame` +
        `:enable='between(t,${sec(first)},${sec(end)})${hidden}'[v${i}]`,
    );
    last = `v${i}`;
  });
  if (scene.shelf) inputs.push(['-i', imagePaths.street]);
  if (scene.lighting) {
    const l = scene.lighting;
    graph.push(
      `[${last}]eq=brightness='${num(l.from)}+${num(l.to - l.from)}*t/${dur}':eval=frame,` +
        `noise=alls=${num(l.noise)}:allf=t[lit]`,
    );
    last = 'lit';
  }
  graph.push(`[${last}]format=yuv420p[out]`);
  return [
    '-nostdin',
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    ...inputs.flat(),
    '-filter_complex',
    graph.join(';'),
    '-map',
    '[out]',
    '-an',
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-bf',
    '0',
    '-g',
    String(fps),
    '-pix_fmt',
    'yuv420p',
    '-r',
    String(fps),
    '-t',
    dur,
    '-f',
    'mp4',
    outPath,
  ];
}

/** Renders (or finds in the cache) one labelled scene as an MP4. */
export async function renderLabelledScene(
  scene: LabelledScene,
  opts: RenderOptions,
): Promise<RenderedScene> {
  validateScene(scene);
  const width = opts.width ?? LABELLED_SIZE.width;
  const height = opts.height ?? LABELLED_SIZE.height;
  const fps = opts.fps ?? LABELLED_FPS;
  const fixtures = resolve(opts.fixturesDir ?? defaultFixturesDir());
  const imagePaths = {
    person: join(fixtures, IMAGE_FILES.person),
    street: join(fixtures, IMAGE_FILES.street),
  };
  const used = [
    ...new Set([...scene.actors.map((a) => a.image), ...(scene.shelf ? ['street' as const] : [])]),
  ];
  const imageStats: Record<string, { size: number; mtimeMs: number }> = {};
  for (const img of used) {
    const st = await stat(imagePaths[img]).catch(() => null);
    if (!st?.isFile())
      throw new Error(`labelled scene ${scene.id}: fixture ${imagePaths[img]} not found`);
    imageStats[img] = { size: st.size, mtimeMs: st.mtimeMs };
  }
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        v: RECIPE_VERSION,
        // Only scenes with a shelf carry it, so the other scenes' cached renders stay valid.
        shelfRecipe: scene.shelf ? SHELF_RECIPE_VERSION : undefined,
        scene,
        width,
        height,
        fps,
        imageStats,
        ff: opts.ffmpeg.path,
      }),
    )
    .digest('hex')
    .slice(0, 16);
  await mkdir(opts.cacheDir, { recursive: true });
  const out = join(opts.cacheDir, `labelled-${scene.id}-${width}x${height}-${fps}fps-${key}.mp4`);
  const result = (cached: boolean): RenderedScene => ({
    scene,
    path: out,
    width,
    height,
    fps,
    cached,
  });
  const hit = await stat(out).catch(() => null);
  if (hit?.isFile() && hit.size > 0) return result(true);

  const room = await synthesizeScene({
    cacheDir: opts.cacheDir,
    ffmpeg: opts.ffmpeg,
    width,
    height,
    fps,
    durationMs: scene.durationMs,
  });
  const tmp = `${out}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  const args = compositeArgs(scene, room.path, imagePaths, { width, height, fps }, tmp);
  const r = await runFfmpeg(opts.ffmpeg.path, args, Math.max(120_000, scene.durationMs * 5));
  if (r.code !== 0) {
    await rm(tmp, { force: true });
    throw new Error(
      `labelled scene ${scene.id}: ffmpeg failed with code ${r.code}: ${r.stderr.trim().split('\n').slice(-4).join(' | ')}`,
    );
  }
  await rename(tmp, out);
  return result(false);
}

// ---------------------------------------------------------------------------------------------
// Playing a scene into the pipeline

export interface SceneFramesOptions {
  rendered: RenderedScene;
  ffmpeg: FfmpegBinary;
  /** Server time of the scene's first frame (ms). */
  startAt: number;
  /** Each grant, when the frame time passes it. */
  onEntry: (entry: Entry) => void;
  /** A clock to move to each frame's time before it is handed over (the pipeline's clock). */
  clock?: ManualClock;
  /** Analysis size (default the scene's own). */
  width?: number;
  height?: number;
  spawn?: FrameSpawn;
}

/** The grant as the door would report it. */
export function sceneEntry(g: SceneGrant, startAt: number, doorId: string): Entry {
  return {
    eventId: g.eventId,
    at: startAt + g.atMs,
    doorId,
    who: g.who,
    ...(g.credentialId ? { credentialId: g.credentialId } : {}),
    ...(g.residentId ? { residentId: g.residentId } : {}),
    cameraIds: [LABELLED_CAMERA.id],
  };
}

/**
 * The scene's frames, decoded flat out and stamped with their time in the video (see the file
 * comment), grants fed in on time. Ending the loop early stops ffmpeg.
 */
export async function* sceneFrames(opts: SceneFramesOptions): AsyncGenerator<Frame> {
  const { rendered, startAt } = opts;
  const source = createFrameSource({
    cameraId: LABELLED_CAMERA.id,
    file: rendered.path,
    realtime: false,
    overflow: 'backpressure',
    ffmpeg: opts.ffmpeg,
    fps: rendered.fps,
    width: opts.width ?? rendered.width,
    height: opts.height ?? rendered.height,
    // Not used for the frames' times (they are restamped), only for the stop timer.
    clock: systemClock(),
    ...(opts.spawn ? { spawn: opts.spawn } : {}),
  });
  const grants = [...rendered.scene.grants].sort((a, b) => a.atMs - b.atMs);
  const doorId = LABELLED_CAMERA.doorId ?? 'front';
  const period = 1000 / rendered.fps;
  let n = 0;
  for await (const frame of source) {
    const at = startAt + Math.round(n * period);
    n++;
    while (grants.length > 0 && startAt + grants[0]!.atMs <= at) {
      opts.onEntry(sceneEntry(grants.shift()!, startAt, doorId));
    }
    if (opts.clock) opts.clock.set(Math.max(opts.clock.now(), at));
    yield { ...frame, at };
  }
  const end = await source.ended;
  if (end.reason === 'failed') throw new Error(`scene ${rendered.scene.id}: ${end.message}`);
}

// ---------------------------------------------------------------------------------------------
// Running and scoring

/** A flag as the scene saw it: times relative to the scene start. */
export interface SceneFlag {
  kind: FlagKind;
  reason: string | null;
  atMs: number;
  severity: FlagCandidate['severity'];
  trackIds: number[];
  evidence: FlagCandidate['evidence'];
}

export interface SceneResult {
  sceneId: string;
  expected: readonly ExpectedFlag[];
  flags: SceneFlag[];
  stats: PipelineStats;
  /** Video length and the wall time it took to analyse (ms). */
  videoMs: number;
  wallMs: number;
}

export interface RunSceneOptions {
  rendered: RenderedScene;
  ffmpeg: FfmpegBinary;
  detector: Detector;
  startAt?: number;
  /** Overrides the scene's own settings. */
  settings?: AnalyticsSettings;
  /**
   * Fresh extra rules for this run (the shelf-slot watcher), as the server would plug them in;
   * given the scene, so its labels (whose parcels are where) can configure them.
   */
  extraRules?: (scene: LabelledScene) => Rule[];
}

/**
 * Runs one scene through the real pipeline as the server builds it from the site file
 * (createCameraAnalytics: motion gate, the given detector, tracker, loitering, tailgating, and
 * the extra rules made for the scene, e.g. grab.scenes.ts's `createSceneGrabRule`).
 */
export async function runLabelledScene(opts: RunSceneOptions): Promise<SceneResult> {
  const startAt = opts.startAt ?? Date.UTC(2026, 0, 1, 12);
  const clock = manualClock(startAt);
  const flags: FlagCandidate[] = [];
  let onEntry: (e: Entry) => void = () => {
    throw new Error('grant before the pipeline exists');
  };
  const { pipeline } = createCameraAnalytics({
    camera: LABELLED_CAMERA,
    frames: sceneFrames({
      rendered: opts.rendered,
      ffmpeg: opts.ffmpeg,
      startAt,
      clock,
      onEntry: (e) => onEntry(e),
    }),
    detector: opts.detector,
    clock,
    onFlag: (f) => {
      flags.push(f);
    },
    settings: opts.settings ?? opts.rendered.scene.settings ?? {},
    ...(opts.extraRules ? { extraRules: opts.extraRules(opts.rendered.scene) } : {}),
  });
  onEntry = (e) => pipeline.onEntry(e);
  const t0 = performance.now();
  const end = await pipeline.start();
  const wallMs = performance.now() - t0;
  if (end.reason !== 'ended') {
    throw new Error(
      `scene ${opts.rendered.scene.id}: pipeline ${end.reason}${end.reason === 'failed' ? `: ${end.message}` : ''}`,
    );
  }
  return {
    sceneId: opts.rendered.scene.id,
    expected: opts.rendered.scene.expected,
    flags: flags.map((f) => ({
      kind: f.kind,
      reason: typeof f.evidence.reason === 'string' ? f.evidence.reason : null,
      atMs: f.at - startAt,
      severity: f.severity,
      trackIds: f.trackIds,
      evidence: f.evidence,
    })),
    stats: pipeline.stats(),
    videoMs: opts.rendered.scene.durationMs,
    wallMs,
  };
}

export interface RuleScore {
  kind: FlagKind;
  truePositives: number;
  falsePositives: number;
  falseNegatives: number;
  /** null when the rule raised nothing (no precision to speak of). */
  precision: number | null;
  /** null when the set holds no positive for the rule. */
  recall: number | null;
  /** Flag time minus the condition time of each matched flag (ms of video). */
  delaysMs: number[];
}

export interface SceneVerdict {
  sceneId: string;
  matched: { expected: ExpectedFlag; flag: SceneFlag }[];
  missed: ExpectedFlag[];
  unexpected: SceneFlag[];
}

/** Matches each expected flag to one raised flag of its kind (and reason) inside its window. */
export function judgeScene(
  result: Pick<SceneResult, 'sceneId' | 'expected' | 'flags'>,
): SceneVerdict {
  const left = [...result.flags];
  const matched: SceneVerdict['matched'] = [];
  const missed: ExpectedFlag[] = [];
  for (const e of result.expected) {
    const i = left.findIndex(
      (f) =>
        f.kind === e.kind &&
        (e.reason === undefined || f.reason === e.reason) &&
        f.atMs >= e.fromMs &&
        f.atMs <= e.toMs,
    );
    if (i < 0) missed.push(e);
    else matched.push({ expected: e, flag: left.splice(i, 1)[0]! });
  }
  return { sceneId: result.sceneId, matched, missed, unexpected: left };
}

const KINDS: readonly FlagKind[] = ['loitering', 'tailgating', 'multi_package_grab'];

/** Precision and recall per rule over a set of scene results. */
export function scoreScenes(
  results: readonly Pick<SceneResult, 'sceneId' | 'expected' | 'flags'>[],
): RuleScore[] {
  const verdicts = results.map(judgeScene);
  return KINDS.map((kind) => {
    const tp = verdicts.flatMap((v) => v.matched.filter((m) => m.expected.kind === kind));
    const fp = verdicts.flatMap((v) => v.unexpected.filter((f) => f.kind === kind)).length;
    const fn = verdicts.flatMap((v) => v.missed.filter((e) => e.kind === kind)).length;
    return {
      kind,
      truePositives: tp.length,
      falsePositives: fp,
      falseNegatives: fn,
      precision: tp.length + fp > 0 ? tp.length / (tp.length + fp) : null,
      recall: tp.length + fn > 0 ? tp.length / (tp.length + fn) : null,
      delaysMs: tp.map((m) => m.flag.atMs - m.expected.conditionAtMs),
    };
  }).filter(
    (s) =>
      s.truePositives + s.falsePositives + s.falseNegatives > 0 || s.kind !== 'multi_package_grab',
  );
}

/** The per-rule table for the console and the README. */
export function formatAccuracyTable(scores: readonly RuleScore[], scenes: number): string {
  const pct = (v: number | null) => (v === null ? '—' : `${(v * 100).toFixed(0)}%`);
  const rows = scores.map((s) => [
    s.kind,
    String(s.truePositives),
    String(s.falsePositives),
    String(s.falseNegatives),
    pct(s.precision),
    pct(s.recall),
    s.delaysMs.length ? s.delaysMs.map((d) => (d / 1000).toFixed(1)).join(', ') : '—',
  ]);
  const header = ['rule', 'TP', 'FP', 'FN', 'precision', 'recall', 'condition → flag (s of video)'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [
    `Accuracy on ${scenes} labelled synthetic scenes (real YOLOX-nano through the real pipeline)`,
    line(header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.map(line),
  ].join('\n');
}

export interface LabelledSetReport {
  results: SceneResult[];
  scores: RuleScore[];
  table: string;
}

/** Renders and runs every scene of the set (one after the other: one detector, two cores). */
export async function runLabelledSet(opts: {
  ffmpeg: FfmpegBinary;
  detector: Detector;
  cacheDir: string;
  fixturesDir?: string;
  scenes?: readonly LabelledScene[];
  extraRules?: (scene: LabelledScene) => Rule[];
}): Promise<LabelledSetReport> {
  const results: SceneResult[] = [];
  for (const scene of opts.scenes ?? LABELLED_SCENES) {
    const rendered = await renderLabelledScene(scene, {
      cacheDir: opts.cacheDir,
      ffmpeg: opts.ffmpeg,
      ...(opts.fixturesDir ? { fixturesDir: opts.fixturesDir } : {}),
    });
    results.push(
      await runLabelledScene({
        rendered,
        ffmpeg: opts.ffmpeg,
        detector: opts.detector,
        ...(opts.extraRules ? { extraRules: opts.extraRules } : {}),
      }),
    );
  }
  const scores = scoreScenes(results);
  return { results, scores, table: formatAccuracyTable(scores, results.length) };
}
