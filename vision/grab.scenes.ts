/**
 * Labelled scenes for the multi-package-grab rule, and the rule built for a scene the way the
 * server builds it for a camera that sees shelf slots.
 *
 * The room is the labelled set's synthetic room (scenes.labelled.ts) with the two lower rows of
 * its shelving unit cut into four slots ({@link LABELLED_SLOTS}) holding cardboard parcels drawn
 * by ffmpeg (tape strip, a printed label cut from the street photo). A person (person.png) walks
 * in from the door close to the camera — big enough to hide the whole shelf, as someone standing
 * at it does — stands there, and walks back out; a parcel vanishes while they hide it. The slot
 * watch never sees a parcel being lifted, only a slot that looks different once the person has
 * gone, which is all a real camera sees of a hand inside a box.
 *
 * Who owns what comes from the scene's labels (the parcels table the server would hold); grants
 * carry the resident, so the rule can tell "4B took 7C's parcel" from "4B took their own".
 * References are asked for at start-up and taken once the shelf has been clear and still for the
 * settle time, exactly as the server does when its analytics start, so every scene opens with
 * 2.5 s of empty room before the grant.
 */
import {
  createGrabRule,
  type GrabRuleEvents,
  type LikelyPickedUp,
  type SlotOwner,
  type SlotOwnership,
} from './grab.rule.ts';
import type { Rule } from './rules.types.ts';
import {
  actorRectAt,
  LABELLED_CAMERA,
  LABELLED_SLOTS,
  type ExpectedFlag,
  type LabelledScene,
  type SceneActor,
  type SceneShelf,
  type Waypoint,
} from './scenes.labelled.ts';
import { createSlotWatch, type SlotDecision, type SlotWatchOptions } from './slot.watch.ts';

const FLOOR = 0.97;
/** Someone at the shelf, close to the camera: their photo covers both watched rows. */
const NEAR_HEIGHT = 0.8;
/** The centre of a near person just off the left edge (their photo is 0.44 of the width). */
const NEAR_OUTSIDE = -0.24;
/** Standing in front of the shelf (its slots span x 0.066..0.366). */
const AT_SHELF = 0.22;

const RESIDENTS = [
  { residentId: 'r-4b', unitId: '4B' },
  { residentId: 'r-7c', unitId: '7C' },
  { residentId: 'r-2a', unitId: '2A' },
  { residentId: 'r-9z', unitId: '9Z' },
] as const;

/**
 * The room's own drawn boxes (scene.synth.ts puts some in every watched slot), as checked-in
 * parcels of unit 9Z: scenes without a shelf of their own run the grab rule against these, so the
 * loitering and tailgating scenes count as grab negatives too.
 */
export const ROOM_SHELF: SceneShelf = {
  parcels: LABELLED_SLOTS.map((s) => ({
    slotId: s.id,
    packageId: `room-${s.id}`,
    residentId: 'r-9z',
    unitId: '9Z',
  })),
  residents: RESIDENTS,
  expectedPickedUp: [],
};

/** In from the door to `x`, standing there until `untilMs`, back out through the door. */
function shelfVisit(enterAtMs: number, x: number, untilMs: number, walkMs = 2000): Waypoint[] {
  return [
    { atMs: enterAtMs, x: NEAR_OUTSIDE, y: FLOOR },
    { atMs: enterAtMs + walkMs, x, y: FLOOR },
    { atMs: untilMs, x, y: FLOOR },
    { atMs: untilMs + walkMs, x: NEAR_OUTSIDE, y: FLOOR },
  ];
}

const overlaps = (a: { x1: number; y1: number; x2: number; y2: number }, slotId: string) => {
  const slot = LABELLED_SLOTS.find((s) => s.id === slotId);
  if (!slot) throw new Error(`no labelled slot ${slotId}`);
  const xs = slot.polygon.map((p) => p[0]);
  const ys = slot.polygon.map((p) => p[1]);
  return (
    a.x1 < Math.max(...xs) &&
    a.x2 > Math.min(...xs) &&
    a.y1 < Math.max(...ys) &&
    a.y2 > Math.min(...ys)
  );
};

/**
 * When the slots are out from behind the actor's photo for good (ms), looking from `afterMs` to
 * `endMs`: the first moment a camera could see them emptied, the grab rule's condition time.
 */
export function slotsInViewAt(
  actor: SceneActor,
  slotIds: readonly string[],
  afterMs: number,
  endMs: number,
): number {
  const stepMs = 10;
  let lastCovered: number | null = null;
  for (let t = afterMs; t <= endMs; t += stepMs) {
    const r = actorRectAt(actor, t);
    if (r && slotIds.some((id) => overlaps(r, id))) lastCovered = t;
  }
  return lastCovered === null ? afterMs : lastCovered + stepMs;
}

/**
 * From the slot coming back into view to the flag, by design: the tracker keeps a person's box
 * 1.5 s after the last sighting (the slot stays "occluded"), the watch wants the slot clear and
 * changed for its 2 s settle time, the rule gathers 1 s for other slots emptied in the same reach;
 * 1.5 s more for frames and the detector losing a person half out of the picture.
 */
export const GRAB_DECISION_MS = 6000;

function grabFlag(conditionAtMs: number): ExpectedFlag {
  return {
    kind: 'multi_package_grab',
    conditionAtMs,
    fromMs: conditionAtMs,
    toMs: conditionAtMs + GRAB_DECISION_MS,
  };
}

const GRANT_AT = 2500;
const ENTER_AT = 3000;
const LEAVE_AT = 8000;
const TAKE_AT = 6500;
const GRAB_SCENE_MS = 17_000;

const nearPerson = (path: Waypoint[]): SceneActor => ({
  image: 'person',
  heightFraction: NEAR_HEIGHT,
  path,
});

const neighbour = nearPerson(shelfVisit(ENTER_AT, AT_SHELF, LEAVE_AT));
const twoSlots = nearPerson(shelfVisit(ENTER_AT, AT_SHELF, LEAVE_AT));
const owner = nearPerson(shelfVisit(ENTER_AT, AT_SHELF, LEAVE_AT));

/** The grab set: two thefts, the owner's own pickup, a walk past under changing light, nobody. */
export const GRAB_SCENES: readonly LabelledScene[] = [
  {
    id: 'grab-neighbour',
    description:
      'a resident of 4B badges in, stands at the shelf and, hidden by their own body, takes 7C’s parcel from slot B2; their own parcel in C1 stays',
    durationMs: GRAB_SCENE_MS,
    actors: [neighbour],
    grants: [
      {
        atMs: GRANT_AT,
        eventId: 'grab-n-g1',
        who: 'resident',
        residentId: 'r-4b',
        credentialId: 'card-4b',
      },
    ],
    shelf: {
      parcels: [
        { slotId: 'B1', packageId: 'p-9z-1', residentId: 'r-9z', unitId: '9Z' },
        {
          slotId: 'B2',
          packageId: 'p-7c-1',
          residentId: 'r-7c',
          unitId: '7C',
          removedAtMs: TAKE_AT,
        },
        { slotId: 'C1', packageId: 'p-4b-1', residentId: 'r-4b', unitId: '4B' },
      ],
      residents: RESIDENTS,
      expectedPickedUp: [],
    },
    expected: [grabFlag(slotsInViewAt(neighbour, ['B2'], TAKE_AT, GRAB_SCENE_MS))],
  },
  {
    id: 'grab-two-slots',
    description:
      'a resident of 2A takes their own parcel from C2 and 7C’s from B1: two slots emptied, one owned',
    durationMs: GRAB_SCENE_MS,
    actors: [twoSlots],
    grants: [
      {
        atMs: GRANT_AT,
        eventId: 'grab-t-g1',
        who: 'resident',
        residentId: 'r-2a',
        credentialId: 'card-2a',
      },
    ],
    shelf: {
      parcels: [
        {
          slotId: 'B1',
          packageId: 'p-7c-2',
          residentId: 'r-7c',
          unitId: '7C',
          removedAtMs: TAKE_AT - 300,
        },
        { slotId: 'B2', packageId: 'p-9z-2', residentId: 'r-9z', unitId: '9Z' },
        {
          slotId: 'C2',
          packageId: 'p-2a-1',
          residentId: 'r-2a',
          unitId: '2A',
          removedAtMs: TAKE_AT + 300,
        },
      ],
      residents: RESIDENTS,
      expectedPickedUp: ['C2'],
    },
    expected: [grabFlag(slotsInViewAt(twoSlots, ['B1', 'C2'], TAKE_AT - 300, GRAB_SCENE_MS))],
  },
  {
    id: 'grab-own-pickup',
    description:
      'a resident of 4B takes their own parcel from C1 and leaves: a likely pickup, not a flag',
    durationMs: GRAB_SCENE_MS,
    actors: [owner],
    grants: [
      {
        atMs: GRANT_AT,
        eventId: 'grab-o-g1',
        who: 'resident',
        residentId: 'r-4b',
        credentialId: 'card-4b',
      },
    ],
    shelf: {
      parcels: [
        { slotId: 'B1', packageId: 'p-7c-3', residentId: 'r-7c', unitId: '7C' },
        { slotId: 'B2', packageId: 'p-9z-3', residentId: 'r-9z', unitId: '9Z' },
        {
          slotId: 'C1',
          packageId: 'p-4b-2',
          residentId: 'r-4b',
          unitId: '4B',
          removedAtMs: TAKE_AT,
        },
      ],
      residents: RESIDENTS,
      expectedPickedUp: ['C1'],
    },
    expected: [],
  },
  {
    id: 'grab-walk-past',
    description:
      'a resident walks past the full shelf to the lockers and back while the light ramps from dim to bright; nothing is taken',
    durationMs: 15_000,
    actors: [
      nearPerson([
        { atMs: ENTER_AT, x: NEAR_OUTSIDE, y: FLOOR },
        { atMs: ENTER_AT + 3000, x: 0.78, y: FLOOR },
        { atMs: 9000, x: 0.78, y: FLOOR },
        { atMs: 12_000, x: NEAR_OUTSIDE, y: FLOOR },
      ]),
    ],
    grants: [
      {
        atMs: GRANT_AT,
        eventId: 'grab-w-g1',
        who: 'resident',
        residentId: 'r-2a',
        credentialId: 'card-2a',
      },
    ],
    shelf: {
      parcels: [
        { slotId: 'B1', packageId: 'p-7c-4', residentId: 'r-7c', unitId: '7C' },
        { slotId: 'B2', packageId: 'p-9z-4', residentId: 'r-9z', unitId: '9Z' },
        { slotId: 'C1', packageId: 'p-4b-3', residentId: 'r-4b', unitId: '4B' },
        { slotId: 'C2', packageId: 'p-7c-5', residentId: 'r-7c', unitId: '7C' },
      ],
      residents: RESIDENTS,
      expectedPickedUp: [],
    },
    lighting: { from: -0.12, to: 0.15, noise: 6 },
    expected: [],
  },
  {
    id: 'grab-empty-room',
    description: 'the stocked shelf with nobody in the room',
    durationMs: 8000,
    actors: [],
    grants: [],
    shelf: {
      parcels: [
        { slotId: 'B1', packageId: 'p-7c-6', residentId: 'r-7c', unitId: '7C' },
        { slotId: 'C1', packageId: 'p-4b-4', residentId: 'r-4b', unitId: '4B' },
        { slotId: 'C2', packageId: 'p-2a-2', residentId: 'r-2a', unitId: '2A' },
      ],
      residents: RESIDENTS,
      expectedPickedUp: [],
    },
    expected: [],
  },
];

/** The scene's shelf, or the room's own boxes as 9Z's parcels when it has none. */
export function shelfOf(scene: LabelledScene): SceneShelf {
  return scene.shelf ?? ROOM_SHELF;
}

/**
 * The parcels table as the server would answer from the scene's labels: parcels checked in to a
 * slot stay there as far as the server knows (nobody marked them picked up). A slot the scene
 * does not have is a bug in the caller and throws.
 */
export function sceneOwnership(shelf: SceneShelf): SlotOwnership {
  const slotIds = new Set(LABELLED_SLOTS.map((s) => s.id));
  const units = new Map(shelf.residents.map((r) => [r.residentId, r.unitId]));
  return {
    owners(slotId) {
      if (!slotIds.has(slotId)) throw new Error(`ownership asked about unknown slot ${slotId}`);
      return shelf.parcels
        .filter((p) => p.slotId === slotId)
        .map((p): SlotOwner => ({
          packageId: p.packageId,
          unitId: p.unitId,
          ...(p.residentId !== undefined ? { residentId: p.residentId } : {}),
        }));
    },
    unitOfResident: (residentId) => units.get(residentId),
  };
}

/** What the grab rule reported besides flags, for one run. */
export interface GrabEventLog {
  events: GrabRuleEvents;
  pickedUp: LikelyPickedUp[];
  unexplained: SlotDecision[];
}

export function recordGrabEvents(): GrabEventLog {
  const pickedUp: LikelyPickedUp[] = [];
  const unexplained: SlotDecision[] = [];
  return {
    pickedUp,
    unexplained,
    events: {
      likelyPickedUp: (r) => pickedUp.push(r),
      unexplainedChange: (d) => unexplained.push(d),
    },
  };
}

/**
 * The grab rule for a scene, built as the server builds it for the labelled camera: a slot watch
 * over {@link LABELLED_SLOTS} with its defaults, a reference asked for every slot at start-up
 * (occupied when the parcels table has something there, else empty), the camera's door.
 */
export function createSceneGrabRule(
  scene: LabelledScene,
  events: GrabRuleEvents,
  watchOptions: Omit<SlotWatchOptions, 'slots'> = {},
): Rule {
  const shelf = shelfOf(scene);
  const units = new Set(shelf.residents.map((r) => r.residentId));
  for (const g of scene.grants) {
    if (g.residentId !== undefined && !units.has(g.residentId)) {
      throw new Error(
        `labelled scene ${scene.id}: grant ${g.eventId} is for resident ${g.residentId}, who is not in the shelf's residents`,
      );
    }
  }
  const ownership = sceneOwnership(shelf);
  const watch = createSlotWatch({ ...watchOptions, slots: LABELLED_SLOTS });
  for (const s of LABELLED_SLOTS) {
    watch.requestReference(s.id, ownership.owners(s.id).length > 0 ? 'occupied' : 'empty');
  }
  return createGrabRule({
    watch,
    ownership,
    events,
    cameraIds: [LABELLED_CAMERA.id],
    ...(LABELLED_CAMERA.doorId ? { doorIds: [LABELLED_CAMERA.doorId] } : {}),
  });
}

/** Likely pickups over a set: reported for the right slot, missed, or reported where none was. */
export interface PickupScore {
  expected: number;
  reported: number;
  missed: number;
  unexpected: number;
}

export function scorePickups(
  runs: readonly { scene: LabelledScene; pickedUp: readonly Pick<LikelyPickedUp, 'slotId'>[] }[],
): PickupScore {
  const score: PickupScore = { expected: 0, reported: 0, missed: 0, unexpected: 0 };
  for (const { scene, pickedUp } of runs) {
    const want = new Set(shelfOf(scene).expectedPickedUp);
    const got = new Set(pickedUp.map((p) => p.slotId));
    score.expected += want.size;
    for (const id of want) {
      if (got.has(id)) score.reported++;
      else score.missed++;
    }
    // A slot reported twice counts as one report and one unexpected.
    score.unexpected += pickedUp.length - [...got].filter((id) => want.has(id)).length;
  }
  return score;
}

/** One line under the accuracy table: the grab rule's chain-of-custody evidence. */
export function formatPickups(score: PickupScore): string {
  return (
    `likely pickups (an owner empties their own slot): ${score.reported} of ${score.expected} ` +
    `reported, ${score.missed} missed, ${score.unexpected} reported where none was`
  );
}
