/**
 * Accuracy of the rules end to end: the labelled synthetic scenes (vision/scenes.labelled.ts and
 * the shelf scenes of vision/grab.scenes.ts), rendered by the real ffmpeg from the shared fixture
 * photos, decoded by the real frame source, gated, detected by the real YOLOX-nano on
 * onnxruntime-node, tracked, and judged by the loitering and tailgating rules exactly as the server
 * builds them from a site file, with the multi-package-grab rule (slot watch over four shelf
 * slots, whose parcels the scene's labels say) plugged in as the server plugs it in. No stubbed
 * detector: every flag here (and every missing one) is the model's and the pipeline's doing.
 *
 * Every scene runs with all three rules: the loitering and tailgating scenes are grab negatives
 * (their shelf holds the room's own boxes, 9Z's parcels), the shelf scenes are loitering and
 * tailgating negatives. Each scene says which flags it must raise and when; anything else is a
 * false positive. The last test prints precision and recall per rule (the README's table).
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOnnxDetector, type OnnxDetector } from '../../vision/detector.onnx.ts';
import type { FfmpegBinary } from '../../vision/ffmpeg.locate.ts';
import {
  createSceneGrabRule,
  formatPickups,
  GRAB_SCENES,
  recordGrabEvents,
  scorePickups,
  shelfOf,
  slotsInViewAt,
  type GrabEventLog,
} from '../../vision/grab.scenes.ts';
import {
  formatAccuracyTable,
  judgeScene,
  LABELLED_SCENES,
  renderLabelledScene,
  runLabelledScene,
  scoreScenes,
  validateScene,
  type LabelledScene,
  type RenderedScene,
  type SceneFlag,
  type SceneResult,
} from '../../vision/scenes.labelled.ts';
import { requireModel, requireX264, TEST_MODEL_PATH } from '../harness/requirements.ts';
import { makeTempDir, type TempDir } from '../harness/temp-dir.ts';

const ffmpeg = requireX264('the vision accuracy tests are skipped');
const MODEL = TEST_MODEL_PATH;
const haveModel = requireModel('the vision accuracy tests are skipped');

const flag = (kind: SceneFlag['kind'], atMs: number, reason: string | null = null): SceneFlag => ({
  kind,
  reason,
  atMs,
  severity: 'low',
  trackIds: [],
  evidence: {},
});

describe('scoring a labelled scene', () => {
  it('matches flags by kind, reason and time; the rest are false positives or misses', () => {
    const expected = [
      {
        kind: 'loitering' as const,
        reason: 'dwell',
        conditionAtMs: 90_000,
        fromMs: 89_000,
        toMs: 93_000,
      },
    ];
    const v = judgeScene({
      sceneId: 's',
      expected,
      flags: [flag('loitering', 91_000, 'no_entry'), flag('loitering', 92_000, 'dwell')],
    });
    expect(v.matched.map((m) => m.flag.atMs)).toEqual([92_000]);
    expect(v.unexpected.map((f) => f.reason)).toEqual(['no_entry']);
    const scores = scoreScenes([
      { sceneId: 'a', expected, flags: [flag('loitering', 95_000, 'dwell')] },
      { sceneId: 'b', expected, flags: [flag('loitering', 90_500, 'dwell')] },
      { sceneId: 'c', expected: [], flags: [flag('tailgating', 1000)] },
    ]);
    expect(scores).toEqual([
      {
        kind: 'loitering',
        truePositives: 1,
        falsePositives: 1,
        falseNegatives: 1,
        precision: 0.5,
        recall: 0.5,
        delaysMs: [500],
      },
      {
        kind: 'tailgating',
        truePositives: 0,
        falsePositives: 1,
        falseNegatives: 0,
        precision: 0,
        recall: null,
        delaysMs: [],
      },
    ]);
    expect(formatAccuracyTable(scores, 3)).toMatch(/loitering\s+1\s+1\s+1\s+50%\s+50%\s+0.5/);
  });

  it('gives the grab rule its own row once the set has grab labels or grab flags', () => {
    const expected = [
      { kind: 'multi_package_grab' as const, conditionAtMs: 9000, fromMs: 9000, toMs: 15_000 },
    ];
    const scores = scoreScenes([
      { sceneId: 'a', expected, flags: [flag('multi_package_grab', 12_000)] },
      { sceneId: 'b', expected: [], flags: [flag('multi_package_grab', 5000)] },
    ]);
    expect(scores.find((s) => s.kind === 'multi_package_grab')).toEqual({
      kind: 'multi_package_grab',
      truePositives: 1,
      falsePositives: 1,
      falseNegatives: 0,
      precision: 0.5,
      recall: 1,
      delaysMs: [3000],
    });
    expect(formatAccuracyTable(scores, 2)).toMatch(
      /multi_package_grab\s+1\s+1\s+0\s+50%\s+100%\s+3.0/,
    );
  });

  it('counts likely pickups against the shelf labels', () => {
    const own = GRAB_SCENES.find((s) => s.id === 'grab-own-pickup')!;
    const neighbour = GRAB_SCENES.find((s) => s.id === 'grab-neighbour')!;
    expect(
      scorePickups([
        { scene: own, pickedUp: [{ slotId: 'C1' }] },
        { scene: neighbour, pickedUp: [{ slotId: 'B2' }] },
      ]),
    ).toEqual({ expected: 1, reported: 1, missed: 0, unexpected: 1 });
    expect(scorePickups([{ scene: own, pickedUp: [] }])).toEqual({
      expected: 1,
      reported: 0,
      missed: 1,
      unexpected: 0,
    });
  });

  it('times a grab by when the emptied slot comes out from behind the person', () => {
    const neighbour = GRAB_SCENES.find((s) => s.id === 'grab-neighbour')!;
    const actor = neighbour.actors[0]!;
    // Standing at the shelf until 8 s, then walking out through the door on the left in 2 s:
    // B2 (the right-hand slot) is in view again part way through that walk.
    const t = slotsInViewAt(actor, ['B2'], 6500, neighbour.durationMs);
    expect(t).toBeGreaterThan(8000);
    expect(t).toBeLessThan(10_000);
    // B1 sits further left, so it is uncovered later on the way out.
    expect(slotsInViewAt(actor, ['B1'], 6500, neighbour.durationMs)).toBeGreaterThan(t);
    // A slot the person never covers after the time asked is in view at once.
    expect(slotsInViewAt(actor, ['B2'], 12_000, neighbour.durationMs)).toBe(12_000);
  });

  it('refuses shelf labels it cannot draw or judge, naming the scene', () => {
    const base = GRAB_SCENES.find((s) => s.id === 'grab-empty-room')!;
    const withParcels = (parcels: NonNullable<LabelledScene['shelf']>['parcels']) => ({
      ...base,
      shelf: { ...base.shelf!, parcels },
    });
    expect(() =>
      validateScene(withParcels([{ slotId: 'Z9', packageId: 'p', unitId: '1A' }])),
    ).toThrow(/grab-empty-room: parcel p is in unknown slot Z9/);
    expect(() =>
      validateScene(
        withParcels([
          { slotId: 'B1', packageId: 'p', unitId: '1A' },
          { slotId: 'B1', packageId: 'q', unitId: '1A' },
        ]),
      ),
    ).toThrow(/slot B1 holds two parcels/);
    expect(() => validateScene({ ...base, lighting: { from: -2, to: 0, noise: 0 } })).toThrow(
      /lighting from and to/,
    );
    expect(() =>
      createSceneGrabRule(
        {
          ...base,
          grants: [{ atMs: 1000, eventId: 'g', who: 'resident', residentId: 'r-nobody' }],
        },
        recordGrabEvents().events,
      ),
    ).toThrow(/resident r-nobody, who is not in the shelf's residents/);
  });
});

const ALL_SCENES: readonly LabelledScene[] = [...LABELLED_SCENES, ...GRAB_SCENES];

/** Mean luma (0..255) of the first and last frame of a rendered scene, by ffmpeg's signalstats. */
function firstLastLuma(bin: FfmpegBinary, path: string): number[] {
  const out = spawnSync(
    bin.path,
    [
      '-hide_banner',
      '-i',
      path,
      '-vf',
      'signalstats,metadata=print:key=lavfi.signalstats.YAVG',
      '-f',
      'null',
      '-',
    ],
    { encoding: 'utf8' },
  );
  const values = [...out.stderr.matchAll(/YAVG=([\d.]+)/g)].map((m) => Number(m[1]));
  return [values[0]!, values.at(-1)!];
}

describe.runIf(ffmpeg && haveModel)('rules on labelled synthetic scenes, real model', () => {
  let dir: TempDir;
  let detector: OnnxDetector;
  const rendered = new Map<string, RenderedScene>();
  const results: SceneResult[] = [];
  const grabLogs = new Map<string, GrabEventLog>();

  beforeAll(async () => {
    dir = await makeTempDir('vision-accuracy');
    detector = await createOnnxDetector({ modelPath: MODEL });
    for (const scene of ALL_SCENES) {
      rendered.set(
        scene.id,
        await renderLabelledScene(scene, { cacheDir: dir.path, ffmpeg: ffmpeg! }),
      );
    }
  }, 120_000);

  afterAll(async () => {
    await detector?.close();
    await dir?.cleanup();
  });

  /**
   * Runs a scene with all three rules and checks its flags, its likely pickups and that the shelf
   * changed only where the scene says. `unexplainedSlots`: slots the watch may report as changed
   * with nobody in the room (something that is not a person standing in front of them).
   */
  const run = async (
    id: string,
    unexplainedSlots: readonly string[] = [],
  ): Promise<SceneResult & { grab: GrabEventLog }> => {
    const grab = recordGrabEvents();
    const r = await runLabelledScene({
      rendered: rendered.get(id)!,
      ffmpeg: ffmpeg!,
      detector,
      extraRules: (scene) => [createSceneGrabRule(scene, grab.events)],
    });
    results.push(r);
    grabLogs.set(id, grab);
    const verdict = judgeScene(r);
    // Shown on failure: what the pipeline did raise, when (ms of video), and why.
    expect({ id, missed: verdict.missed, unexpected: verdict.unexpected }).toEqual({
      id,
      missed: [],
      unexpected: [],
    });
    expect(r.stats).toMatchObject({ detectorErrors: 0, ruleErrors: 0, framesRejected: 0 });
    const scene = rendered.get(id)!.scene;
    expect({ id, pickedUp: grab.pickedUp.map((p) => p.slotId).sort() }).toEqual({
      id,
      pickedUp: [...shelfOf(scene).expectedPickedUp].sort(),
    });
    expect({ id, unexplained: grab.unexplained.map((d) => d.slotId) }).toEqual({
      id,
      unexplained: grab.unexplained.length ? unexplainedSlots : [],
    });
    return { ...r, grab };
  };

  it('walk-through: a resident in and out within 10 s raises nothing', async () => {
    const r = await run('walk-through');
    expect(r.stats.detectorRuns).toBeGreaterThan(20);
  });

  it('loiter: two minutes in the room is one dwell flag at 90 s, kept through a 2.5 s miss', async () => {
    const r = await run('loiter');
    const [f] = r.flags;
    expect(f!.evidence).toMatchObject({
      reason: 'dwell',
      zoneId: 'room',
      entryEventId: 'loiter-g1',
    });
    expect(f!.evidence.dwellMs).toBeGreaterThanOrEqual(90_000);
    // Hidden for 2.5 s, longer than the tracker keeps a lost track: a second track id, same dwell.
    expect(f!.trackIds.length).toBeGreaterThanOrEqual(2);
  });

  it('no-entry: someone in the room with no grant is flagged within seconds', async () => {
    const r = await run('no-entry');
    expect(r.flags[0]).toMatchObject({ severity: 'high', reason: 'no_entry' });
  });

  it('overstay: still there when the visit allowance ran out', async () => {
    const r = await run('overstay');
    expect(r.flags[0]!.evidence).toMatchObject({ reason: 'overstay', entryEventId: 'over-g1' });
  });

  it('tailgate: two people on one grant', async () => {
    const r = await run('tailgate');
    expect(r.flags[0]!.evidence).toMatchObject({
      crossings: 2,
      grants: 1,
      entryEventIds: ['tail-g1'],
    });
  });

  it('tailgate-close: two people 0.6 s apart on one grant', async () => {
    const r = await run('tailgate-close');
    expect(r.flags[0]!.evidence).toMatchObject({ crossings: 2, grants: 1 });
  });

  it('three-on-one: three people on one grant is one flag', async () => {
    await run('three-on-one');
  });

  it('exit-piggyback: someone slipping in as a resident leaves is one tailgating flag', async () => {
    const r = await run('exit-piggyback');
    expect(r.flags[0]!.evidence).toMatchObject({ crossings: 2, grants: 1 });
  });

  it('two-grants: two people who each badged raise nothing', async () => {
    await run('two-grants');
  });

  it('single-entry: a carrier stocking shelves for 40 s raises nothing', async () => {
    await run('single-entry');
  });

  it('empty: the empty room raises nothing and the motion gate keeps the detector idle', async () => {
    const r = await run('empty');
    // Only the first frame (no background yet) is looked at.
    expect(r.stats.detectorRuns).toBeLessThanOrEqual(2);
    expect(r.stats.framesSkipped).toBeGreaterThanOrEqual(r.stats.framesIn - 2);
  });

  it('not-a-person: a dog, a bicycle and a car moving through raise nothing', async () => {
    // The picture slides in front of the shelf for longer than the watch's settle time, and it is
    // not a person, so nothing hides the slot: the watch may call the slot changed. With nobody in
    // the room that is an "unexplained change" for staff, never a flag.
    const r = await run('not-a-person', ['C2']);
    // The motion gate did let the detector look; the model found no person.
    expect(r.stats.detectorRuns).toBeGreaterThan(20);
    for (const d of r.grab.unexplained) expect(d.occluders).toEqual([]);
  });

  it('grab-neighbour: 4B taking 7C’s parcel is a grab flag tied to 4B’s entry', async () => {
    const r = await run('grab-neighbour');
    const [f] = r.flags;
    expect(f).toMatchObject({ kind: 'multi_package_grab', severity: 'high' });
    expect(f!.trackIds.length).toBeGreaterThan(0);
    expect(f!.evidence).toMatchObject({
      reasons: ['other_residents_parcels'],
      slots: [{ slotId: 'B2', role: 'other_resident', owners: [{ packageId: 'p-7c-1' }] }],
      visitor: { residentId: 'r-4b', unit: '4B', credentialId: 'card-4b' },
      entryEventId: 'grab-n-g1',
      emptiedSlotCount: 1,
      ownedSlotCount: 1,
    });
  });

  it('grab-two-slots: emptying two slots while owning one is flagged; the own one is a pickup', async () => {
    const r = await run('grab-two-slots');
    const [f] = r.flags;
    expect(f!.evidence).toMatchObject({
      visitor: { residentId: 'r-2a', unit: '2A' },
      entryEventId: 'grab-t-g1',
      emptiedSlotCount: 2,
      ownedSlotCount: 1,
    });
    expect([...(f!.evidence.reasons as string[])].sort()).toEqual([
      'more_slots_than_owned',
      'other_residents_parcels',
    ]);
    const roles = (f!.evidence.slots as { slotId: string; role: string }[])
      .map((x) => `${x.slotId}:${x.role}`)
      .sort();
    expect(roles).toEqual(['B1:other_resident', 'C2:own']);
    expect(r.grab.pickedUp[0]).toMatchObject({
      slotId: 'C2',
      packages: [{ packageId: 'p-2a-1' }],
      visitor: { residentId: 'r-2a' },
    });
  });

  it('grab-own-pickup: 4B taking their own parcel is no flag but a likely pickup', async () => {
    const r = await run('grab-own-pickup');
    expect(r.flags).toEqual([]);
    expect(r.grab.pickedUp).toHaveLength(1);
    expect(r.grab.pickedUp[0]).toMatchObject({
      slotId: 'C1',
      packages: [{ packageId: 'p-4b-2', unitId: '4B' }],
      visitor: { residentId: 'r-4b', unit: '4B' },
      entryEventId: 'grab-o-g1',
    });
    // Judged only once the person had gone: after the parcel went and the slot was in view again.
    const scene = rendered.get('grab-own-pickup')!.scene;
    const takenAt = scene.shelf!.parcels.find((p) => p.slotId === 'C1')!.removedAtMs!;
    const inView = slotsInViewAt(scene.actors[0]!, ['C1'], takenAt, scene.durationMs);
    expect(r.grab.pickedUp[0]!.at - Date.UTC(2026, 0, 1, 12)).toBeGreaterThanOrEqual(inView);
  });

  it('grab-walk-past: walking past the full shelf under a lighting ramp changes nothing', async () => {
    const [first, last] = firstLastLuma(ffmpeg!, rendered.get('grab-walk-past')!.path);
    // The light really changed (dim to bright) over the scene.
    expect(last! - first!).toBeGreaterThan(30);
    const r = await run('grab-walk-past');
    expect(r.stats.detectorRuns).toBeGreaterThan(20);
  });

  it('grab-empty-room: the stocked shelf with nobody in the room raises nothing', async () => {
    const r = await run('grab-empty-room');
    expect(r.stats.detectorRuns).toBeLessThanOrEqual(2);
  });

  it('precision and recall per rule over the whole set', () => {
    expect(results.map((r) => r.sceneId).sort()).toEqual(ALL_SCENES.map((s) => s.id).sort());
    const scores = scoreScenes(results);
    const videoS = results.reduce((s, r) => s + r.videoMs, 0) / 1000;
    const wallS = results.reduce((s, r) => s + r.wallMs, 0) / 1000;
    const pickups = scorePickups(
      ALL_SCENES.map((scene) => ({ scene, pickedUp: grabLogs.get(scene.id)!.pickedUp })),
    );
    const unexplained = [...grabLogs]
      .filter(([, g]) => g.unexplained.length > 0)
      .map(([id, g]) => `${id}: ${g.unexplained.map((d) => d.slotId).join(', ')}`);
    console.log(
      `${formatAccuracyTable(scores, results.length)}\n` +
        `${formatPickups(pickups)}\n` +
        `slot changes with nobody in the room (unexplained, not flags): ${unexplained.length ? unexplained.join('; ') : 'none'}\n` +
        `${videoS.toFixed(0)} s of video analysed in ${wallS.toFixed(1)} s of wall time.`,
    );
    expect(scores.map((s) => [s.kind, s.precision, s.recall])).toEqual([
      ['loitering', 1, 1],
      ['tailgating', 1, 1],
      ['multi_package_grab', 1, 1],
    ]);
    expect(pickups).toEqual({ expected: 2, reported: 2, missed: 0, unexpected: 0 });
  });
});
