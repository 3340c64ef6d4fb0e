import { and, eq, notInArray } from 'drizzle-orm';
import { cameras, doors, readers, sites, storageLocations, type Db } from '../db/index.ts';
import type { SiteConfig } from './config/index.ts';
import { redactSite } from './routes/system.routes.ts';

/**
 * The site file is the source of truth for what the building has; the database keeps a row for
 * each thing so events, parcels and clips can refer to it. Things removed from the file are
 * marked inactive, never deleted: old events still point at them.
 */
export async function syncSite(db: Db, site: SiteConfig, now: Date): Promise<void> {
  const siteId = site.site.id;
  const clean = redactSite(site) as SiteConfig;
  await db.transaction(async (tx) => {
    await tx
      .insert(sites)
      .values({ id: siteId, name: site.site.name, timezone: site.site.timezone })
      .onConflictDoUpdate({
        target: sites.id,
        set: { name: site.site.name, timezone: site.site.timezone, updatedAt: now },
      });

    const doorIds = clean.doors.map((d) => d.id);
    for (const d of clean.doors) {
      const row = {
        name: d.name,
        driverKind: d.driver.kind,
        config: d,
        active: true,
        updatedAt: now,
      };
      await tx
        .insert(doors)
        .values({ siteId, id: d.id, ...row })
        .onConflictDoUpdate({ target: [doors.siteId, doors.id], set: row });
    }
    await tx
      .update(doors)
      .set({ active: false, updatedAt: now })
      .where(and(eq(doors.siteId, siteId), notInArray(doors.id, doorIds)));

    const readerIds = clean.readers.map((r) => r.id);
    for (const r of clean.readers) {
      const row = { doorId: r.doorId, keypad: r.keypad, config: r, active: true, updatedAt: now };
      await tx
        .insert(readers)
        .values({ siteId, id: r.id, ...row })
        .onConflictDoUpdate({ target: [readers.siteId, readers.id], set: row });
    }
    if (readerIds.length)
      await tx
        .update(readers)
        .set({ active: false, updatedAt: now })
        .where(and(eq(readers.siteId, siteId), notInArray(readers.id, readerIds)));
    else await tx.update(readers).set({ active: false }).where(eq(readers.siteId, siteId));

    const cameraIds = clean.cameras.map((c) => c.id);
    for (const c of clean.cameras) {
      const row = {
        name: c.name,
        doorId: c.doorId ?? null,
        sourceKind: c.source.kind,
        config: c,
        active: true,
        updatedAt: now,
      };
      await tx
        .insert(cameras)
        .values({ siteId, id: c.id, ...row })
        .onConflictDoUpdate({ target: [cameras.siteId, cameras.id], set: row });
    }
    if (cameraIds.length)
      await tx
        .update(cameras)
        .set({ active: false, updatedAt: now })
        .where(and(eq(cameras.siteId, siteId), notInArray(cameras.id, cameraIds)));
    else await tx.update(cameras).set({ active: false }).where(eq(cameras.siteId, siteId));

    type Loc = typeof storageLocations.$inferInsert;
    const locs: Loc[] = [];
    for (const shelf of clean.storage.shelves)
      for (const slot of shelf.slots)
        locs.push({
          siteId,
          id: slot.id,
          kind: 'shelf',
          label: slot.label,
          shelfId: shelf.id,
          cameraId: slot.cameraId ?? null,
          config: slot,
        });
    for (const l of clean.storage.lockers)
      locs.push({
        siteId,
        id: l.id,
        kind: 'locker',
        label: l.label,
        size: l.size,
        refrigerated: l.refrigerated,
        config: l,
      });
    locs.push({
      siteId,
      kind: 'oversized',
      config: clean.storage.oversized,
      ...clean.storage.oversized,
    });
    locs.push({
      siteId,
      kind: 'overflow',
      config: clean.storage.overflow,
      ...clean.storage.overflow,
    });
    for (const loc of locs) {
      const { siteId: _s, id: _i, ...rest } = loc;
      await tx
        .insert(storageLocations)
        .values({ ...loc, active: true, updatedAt: now })
        .onConflictDoUpdate({
          target: [storageLocations.siteId, storageLocations.id],
          set: {
            shelfId: null,
            size: null,
            refrigerated: false,
            cameraId: null,
            ...rest,
            active: true,
            updatedAt: now,
          },
        });
    }
    await tx
      .update(storageLocations)
      .set({ active: false, updatedAt: now })
      .where(
        and(
          eq(storageLocations.siteId, siteId),
          notInArray(
            storageLocations.id,
            locs.map((l) => l.id),
          ),
        ),
      );
  });
}
