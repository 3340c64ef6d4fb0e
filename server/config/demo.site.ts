/**
 * Where the shelving stands in the simulated camera's picture (vision/scene.synth.ts draws it):
 * between the uprights, x 0.062..0.37, and the three rows of parcels above the planks at
 * y 0.28, 0.44 and 0.60 (top A, middle B, bottom C). Fractions of the frame, like every zone.
 */
const SHELVING = { x0: 0.062, x1: 0.37 } as const;
const SHELF_ROWS: Record<'A' | 'B' | 'C', { y0: number; y1: number }> = {
  A: { y0: 0.165, y1: 0.28 },
  B: { y0: 0.3, y1: 0.44 },
  C: { y0: 0.46, y1: 0.6 },
};
const SLOTS_PER_SHELF = 8;

const round4 = (v: number) => Math.round(v * 10_000) / 10_000;

/** Slot i (0-based) of a shelf row, as a rectangle on the simulated camera's picture. */
function slotPolygon(shelf: 'A' | 'B' | 'C', i: number): [number, number][] {
  const w = (SHELVING.x1 - SHELVING.x0) / SLOTS_PER_SHELF;
  const x0 = round4(SHELVING.x0 + i * w);
  const x1 = round4(SHELVING.x0 + (i + 1) * w);
  const { y0, y1 } = SHELF_ROWS[shelf];
  return [
    [x0, y0],
    [x1, y0],
    [x1, y1],
    [x0, y1],
  ];
}

/**
 * The built-in demo room: one door with a simulated strike, contact sensor and keypad reader, a
 * simulated camera, 3 shelves of 8 slots, 6 lockers in 3 sizes, an oversized area and overflow.
 * The camera has room, doorway and shelf zones and sees every slot, so with PARCELROOM_MODEL set
 * `npm start` runs loitering, tailgating and the multi-package grab watch on it.
 * Raw input to the site schema, so the demo goes through the same validation as a real file.
 */
export function demoSite(): Record<string, unknown> {
  const shelves = (['A', 'B', 'C'] as const).map((shelf) => ({
    id: `shelf-${shelf.toLowerCase()}`,
    label: `Shelf ${shelf}`,
    slots: Array.from({ length: SLOTS_PER_SHELF }, (_, i) => ({
      id: `${shelf.toLowerCase()}${i + 1}`,
      label: `${shelf}${i + 1}`,
      cameraId: 'room-cam',
      polygon: slotPolygon(shelf, i),
    })),
  }));
  return {
    site: { id: 'demo', name: 'Demo building', timezone: 'UTC' },
    doors: [
      {
        id: 'front',
        name: 'Package room door',
        driver: { kind: 'sim' },
        grantMs: 5000,
        heldOpenMs: 60000,
      },
    ],
    readers: [{ id: 'front-reader', doorId: 'front', keypad: true }],
    cameras: [
      {
        id: 'room-cam',
        name: 'Package room',
        doorId: 'front',
        source: { kind: 'sim' },
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
              [0, 0.5],
              [0.2, 0.5],
              [0.2, 1],
              [0, 1],
            ],
          },
          {
            // The whole shelving unit; its slots are drawn one by one under storage.
            id: 'shelves',
            kind: 'shelf',
            polygon: [
              [SHELVING.x0, SHELF_ROWS.A.y0],
              [SHELVING.x1, SHELF_ROWS.A.y0],
              [SHELVING.x1, SHELF_ROWS.C.y1],
              [SHELVING.x0, SHELF_ROWS.C.y1],
            ],
          },
        ],
      },
    ],
    storage: {
      shelves,
      lockers: [
        { id: 'l1', label: 'Locker 1', size: 'small' },
        { id: 'l2', label: 'Locker 2', size: 'small' },
        { id: 'l3', label: 'Locker 3', size: 'medium' },
        { id: 'l4', label: 'Locker 4', size: 'medium' },
        { id: 'l5', label: 'Locker 5', size: 'large' },
        { id: 'l6', label: 'Locker 6', size: 'large', refrigerated: true },
      ],
      oversized: { id: 'oversized', label: 'Oversized area' },
      overflow: { id: 'overflow', label: 'Overflow' },
    },
  };
}
