import { demoSite, parseSite, type SiteConfig } from '../config/index.ts';

/**
 * The room the report tests count in (unit and integration): the demo site in New York with a
 * tiny room (2 shelf slots, a small locker, a cold locker, the oversized and overflow areas),
 * small enough that overflow and peak figures can be worked out by hand.
 */
export function smallRoomSite(timezone = 'America/New_York', source = 'test'): SiteConfig {
  const raw = demoSite() as Record<string, unknown> & { site: Record<string, unknown> };
  return parseSite(
    {
      ...raw,
      site: { ...raw.site, timezone },
      cameras: [],
      storage: {
        shelves: [
          {
            id: 'shelf-a',
            label: 'Shelf A',
            slots: [
              { id: 's1', label: 'A1' },
              { id: 's2', label: 'A2' },
            ],
          },
        ],
        lockers: [
          { id: 'l1', label: 'Locker 1', size: 'small' },
          { id: 'c1', label: 'Cold 1', size: 'medium', refrigerated: true },
        ],
        oversized: { id: 'oversized', label: 'Oversized area' },
        overflow: { id: 'overflow', label: 'Overflow' },
      },
    },
    source,
  );
}
