/**
 * The built-in demo room: one door with a simulated strike, contact sensor and keypad reader, a
 * simulated camera, 3 shelves of 8 slots, 6 lockers in 3 sizes, an oversized area and overflow.
 * Raw input to the site schema, so the demo goes through the same validation as a real file.
 */
export function demoSite(): Record<string, unknown> {
  const shelves = ['A', 'B', 'C'].map((shelf) => ({
    id: `shelf-${shelf.toLowerCase()}`,
    label: `Shelf ${shelf}`,
    slots: Array.from({ length: 8 }, (_, i) => ({
      id: `${shelf.toLowerCase()}${i + 1}`,
      label: `${shelf}${i + 1}`,
      cameraId: 'room-cam',
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
