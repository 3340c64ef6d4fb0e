import { asc, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessEvent } from '../../access/access.events.ts';
import {
  accessEvents,
  auditChainHeads,
  openDatabase,
  sites,
  type Database,
} from '../../db/index.ts';
import { chainStart, verifySiteChain } from './audit.chain.ts';
import { createDbEventSink } from './event.sink.ts';

const T0 = Date.UTC(2026, 10, 21, 9, 0, 0);
let database: Database;
let siteCounter = 0;

/** A fresh site per test: one in-memory database for the file keeps the tests quick. */
async function newSite(): Promise<string> {
  const id = `site-${++siteCounter}`;
  await database.db.insert(sites).values({ id, name: id, timezone: 'UTC' });
  return id;
}

const badge = (site: string, n: number, extra: Partial<AccessEvent> = {}): AccessEvent => ({
  id: `${site}-ev-${n}`,
  at: T0 + n * 1_000,
  type: 'access',
  doorId: 'front',
  readerId: 'front-reader',
  decision: 'granted',
  reason: 'granted',
  credentialId: `cred-${n % 3}`,
  details: { card: 1000 + n, nested: { z: n, a: [n, 'x'] } },
  ...extra,
});

async function chain(site: string) {
  return database.db
    .select({
      id: accessEvents.id,
      seq: accessEvents.seq,
      prevHash: accessEvents.prevHash,
      hash: accessEvents.hash,
    })
    .from(accessEvents)
    .where(eq(accessEvents.siteId, site))
    .orderBy(asc(accessEvents.seq), asc(accessEvents.id));
}

async function head(site: string) {
  const [row] = await database.db
    .select()
    .from(auditChainHeads)
    .where(eq(auditChainHeads.siteId, site));
  return row;
}

beforeAll(async () => {
  database = await openDatabase({ dataDir: 'memory://' });
});
afterAll(async () => {
  await database?.close();
});

describe('createDbEventSink: the audit chain', () => {
  it('gives a batch consecutive places in journal order, each linked to the one before', async () => {
    const site = await newSite();
    const sink = createDbEventSink(database.db, site, { chunkSize: 2 });
    const events = [5, 1, 3, 2, 4].map((n) => badge(site, n));
    await sink.write(events);
    const rows = await chain(site);
    expect(rows.map((r) => [r.seq, r.id])).toEqual(events.map((e, i) => [i + 1, e.id]));
    expect(rows[0]!.prevHash).toBe(chainStart(site, 0));
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.prevHash).toBe(rows[i - 1]!.hash);
    expect(await head(site)).toMatchObject({ seq: 5, hash: rows[4]!.hash, unchainedEvents: 0 });
    await expect(verifySiteChain(database.db, site)).resolves.toMatchObject({
      ok: true,
      events: 5,
      headHash: rows[4]!.hash,
    });
  });

  it('does not move the chain for a replayed batch, and chains only the new part of a mixed one', async () => {
    const site = await newSite();
    const sink = createDbEventSink(database.db, site);
    const first = [1, 2, 3].map((n) => badge(site, n));
    await sink.write(first);
    const before = await chain(site);
    const headBefore = await head(site);

    await sink.write(first);
    expect(await chain(site)).toEqual(before);
    expect(await head(site)).toEqual(headBefore);

    await sink.write([badge(site, 2), badge(site, 4), badge(site, 3), badge(site, 5)]);
    const after = await chain(site);
    expect(after.slice(0, 3)).toEqual(before);
    expect(after.slice(3).map((r) => [r.seq, r.id])).toEqual([
      [4, `${site}-ev-4`],
      [5, `${site}-ev-5`],
    ]);
    expect(after[3]!.prevHash).toBe(before[2]!.hash);
    await expect(verifySiteChain(database.db, site)).resolves.toMatchObject({
      ok: true,
      events: 5,
    });
  });

  it('stores an event that appears twice in one batch once, at one place', async () => {
    const site = await newSite();
    const sink = createDbEventSink(database.db, site);
    await sink.write([badge(site, 1), badge(site, 2), badge(site, 1), badge(site, 3)]);
    expect((await chain(site)).map((r) => [r.seq, r.id])).toEqual([
      [1, `${site}-ev-1`],
      [2, `${site}-ev-2`],
      [3, `${site}-ev-3`],
    ]);
  });

  it('keeps one chain per site', async () => {
    const [a, b] = [await newSite(), await newSite()];
    await createDbEventSink(database.db, a).write([badge(a, 1), badge(a, 2)]);
    await createDbEventSink(database.db, b).write([badge(b, 1)]);
    await createDbEventSink(database.db, a).write([badge(a, 3)]);
    expect((await chain(a)).map((r) => r.seq)).toEqual([1, 2, 3]);
    expect((await chain(b)).map((r) => r.seq)).toEqual([1]);
    expect((await chain(b))[0]!.prevHash).toBe(chainStart(b, 0));
  });

  it('hands back an event the database refuses without leaving a hole in the chain', async () => {
    const site = await newSite();
    const sink = createDbEventSink(database.db, site);
    // PostgreSQL's jsonb cannot hold U+0000: a data error, so the event is refused for good.
    const bad = badge(site, 2, { details: { note: 'nul \u0000 here' } });
    const result = await sink.write([badge(site, 1), bad, badge(site, 3)]);
    expect(result?.rejected?.map((r) => r.event.id)).toEqual([bad.id]);
    expect(result?.rejected?.[0]?.reason).toMatch(/^22/);
    expect((await chain(site)).map((r) => [r.seq, r.id])).toEqual([
      [1, `${site}-ev-1`],
      [2, `${site}-ev-3`],
    ]);
    expect(await head(site)).toMatchObject({ seq: 2 });
    await expect(verifySiteChain(database.db, site)).resolves.toMatchObject({
      ok: true,
      events: 2,
    });
  });

  it('hashes details as stored: undefined members and dates as JSON has them', async () => {
    const site = await newSite();
    const sink = createDbEventSink(database.db, site);
    await sink.write([
      badge(site, 1, { details: { skipped: undefined, when: new Date(T0), n: 1e21, f: 0.1 } }),
    ]);
    await expect(verifySiteChain(database.db, site)).resolves.toMatchObject({
      ok: true,
      events: 1,
    });
  });

  it('stores and hashes a number where the journal line should have had text as its text', async () => {
    const site = await newSite();
    const odd = badge(site, 1, {
      doorId: 7 as unknown as string,
      reason: true as unknown as string,
    });
    await createDbEventSink(database.db, site).write([odd]);
    const [row] = await database.db
      .select({ doorId: accessEvents.doorId, reason: accessEvents.reason })
      .from(accessEvents)
      .where(eq(accessEvents.id, odd.id));
    expect(row).toEqual({ doorId: '7', reason: 'true' });
    await expect(verifySiteChain(database.db, site)).resolves.toMatchObject({
      ok: true,
      events: 1,
    });
  });

  it('starts the chain after the events stored before it (an upgraded database) and commits to their number', async () => {
    const site = await newSite();
    // Rows as 0.2 stored them: no place in any chain.
    for (const n of [1, 2]) {
      const e = badge(site, n);
      await database.db
        .insert(accessEvents)
        .values({ id: e.id, siteId: site, at: new Date(e.at), type: e.type, details: {} });
    }
    const sink = createDbEventSink(database.db, site);
    await sink.write([badge(site, 3), badge(site, 4)]);
    expect(await head(site)).toMatchObject({ seq: 2, unchainedEvents: 2 });
    expect((await chain(site))[0]).toMatchObject({ seq: 1, prevHash: chainStart(site, 2) });
    await expect(verifySiteChain(database.db, site)).resolves.toMatchObject({
      ok: true,
      events: 2,
      unchainedEvents: 2,
    });

    // One more row without a place, slipped in behind the journal, shows at the chain's start.
    await database.db
      .insert(accessEvents)
      .values({ id: `${site}-slipped`, siteId: site, at: new Date(T0), type: 'access' });
    await expect(verifySiteChain(database.db, site)).resolves.toMatchObject({
      ok: false,
      break: { kind: 'start', seq: 1 },
    });
  });
});
