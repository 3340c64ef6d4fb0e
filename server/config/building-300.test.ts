import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  assignLocation,
  recordParcel,
  roomFromSite,
  type Assignment,
  type Occupancy,
  type ParcelSize,
} from '../packages/index.ts';
import { loadConfig } from './index.ts';

/**
 * examples/building-300.site.yaml is the worked example of a real-sized room; its comments make
 * claims about what the storage holds. Load it exactly as `npm start` would and hold it to them.
 */
const FILE = fileURLToPath(new URL('../../examples/building-300.site.yaml', import.meta.url));
const load = () => loadConfig({ PARCELROOM_CONFIG: FILE });

/** Deterministic PRNG (mulberry32): the same households every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('examples/building-300.site.yaml', () => {
  it('loads through PARCELROOM_CONFIG like a real site file', () => {
    const { site, siteSource } = load();
    expect(siteSource).toBe(FILE);
    expect(site.site).toEqual({
      id: 'maple-court',
      name: 'Maple Court Apartments',
      timezone: 'America/Chicago',
    });
  });

  it('has two doors, each with a keypad reader and a camera on it', () => {
    const { site } = load();
    expect(site.doors.map((d) => d.id)).toEqual(['lobby', 'dock']);
    expect(site.doors.every((d) => d.driver.kind === 'sim')).toBe(true);
    for (const door of site.doors) {
      expect(site.readers.filter((r) => r.doorId === door.id && r.keypad)).toHaveLength(1);
      expect(site.cameras.filter((c) => c.doorId === door.id)).toHaveLength(1);
    }
    expect(site.cameras).toHaveLength(4);
    expect(site.cameras.every((c) => c.source.kind === 'sim')).toBe(true);
  });

  it('sends no notifications, so trying the example mails nobody', () => {
    const { site } = load();
    expect(site.notifications.email).toBeUndefined();
    expect(site.notifications.webhook).toBeUndefined();
  });

  it('has the storage its comments describe', () => {
    const { storage, cameras } = load().site;
    expect(storage.shelves).toHaveLength(8);
    expect(storage.shelves.map((s) => s.slots.length)).toEqual([30, 30, 30, 30, 24, 24, 24, 24]);
    const slots = storage.shelves.flatMap((s) => s.slots);
    expect(slots).toHaveLength(216);
    // Every slot is watched by a shelf camera (a slot nobody sees cannot settle a dispute).
    const shelfCameras = new Set(
      cameras.filter((c) => c.zones.some((z) => z.kind === 'shelf')).map((c) => c.id),
    );
    expect(slots.every((s) => s.cameraId !== undefined && shelfCameras.has(s.cameraId))).toBe(true);

    expect(storage.lockers).toHaveLength(60);
    const bySize = (size: string, cold: boolean) =>
      storage.lockers.filter((l) => l.size === size && l.refrigerated === cold).length;
    expect([bySize('small', false), bySize('medium', false), bySize('large', false)]).toEqual([
      24, 18, 14,
    ]);
    expect([bySize('small', true), bySize('medium', true), bySize('large', true)]).toEqual([
      0, 2, 2,
    ]);
    expect(storage.oversized.id).toBe('oversized');
    expect(storage.overflow.id).toBe('overflow');
  });

  it('the shelves take 216 households at once; the 217th goes to the smallest locker', () => {
    const room = roomFromSite(load().site.storage);
    const occupied = new Map<string, Occupancy>();
    const places: Assignment[] = [];
    for (let h = 0; h < 217; h++) {
      const a = assignLocation(
        { size: 'standard', residentKey: `unit-${h}` },
        { ...room, occupied },
      );
      recordParcel(occupied, a.id, `unit-${h}`);
      places.push(a);
    }
    expect(places.slice(0, 216).every((a) => a.kind === 'shelf')).toBe(true);
    expect(places[216]).toMatchObject({ kind: 'locker', id: 'locker-01' });
  });

  it('holds a peak evening (~250 parcels from 150 households) without overflow', () => {
    // The sizing in the file: a peak day's ~190 parcels, the uncollected part of the two days
    // before and a tail of absent residents, from about 150 of the 300 households; ~8% oversized
    // and at most the 4 perishables the cold lockers hold (meal kits go within hours).
    const rnd = prng(300);
    const households = Array.from({ length: 300 }, (_, i) => `unit-${i}`);
    for (let i = households.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [households[i], households[j]] = [households[j]!, households[i]!];
    }
    const home = households.slice(0, 150);
    const parcels: { size: ParcelSize; residentKey: string }[] = [];
    // Every household gets one, then 100 more go mostly to the households that order a lot.
    for (const residentKey of home) parcels.push({ size: 'standard', residentKey });
    for (let i = 0; i < 100; i++)
      parcels.push({ size: 'standard', residentKey: home[Math.floor(rnd() ** 2 * 150)]! });
    for (let i = 0; i < parcels.length; i += 12) parcels[i] = { ...parcels[i]!, size: 'oversized' };
    for (let i = 5; i < 4 * 60; i += 60) parcels[i] = { ...parcels[i]!, size: 'perishable' };

    const room = roomFromSite(load().site.storage);
    const occupied = new Map<string, Occupancy>();
    const placed = parcels.map((p) => {
      const a = assignLocation(p, { ...room, occupied });
      recordParcel(occupied, a.id, p.residentKey);
      return { ...p, at: a };
    });
    expect(placed).toHaveLength(250);
    const kinds = (size: ParcelSize) =>
      new Set(placed.filter((p) => p.size === size).map((p) => p.at.kind));
    expect(kinds('standard')).toEqual(new Set(['shelf']));
    expect(kinds('oversized')).toEqual(new Set(['oversized']));
    expect(kinds('perishable')).toEqual(new Set(['locker']));
    expect(placed.filter((p) => p.size === 'perishable')).toHaveLength(4);
    expect(placed.some((p) => p.at.flagForStaff !== undefined)).toBe(false);
    // Over 60 slots stay free for the next morning's deliveries.
    const slotsInUse = new Set(placed.filter((p) => p.at.kind === 'shelf').map((p) => p.at.id));
    expect(216 - slotsInUse.size).toBeGreaterThan(60);
  });
});
