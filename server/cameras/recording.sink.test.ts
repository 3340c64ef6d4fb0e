import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AccessEvent } from '../../access/access.events.ts';
import { openDatabase, recordings, type Database, type Db } from '../../db/index.ts';
import { manualClock, type ManualClock } from '../../hardware/clock.ts';
import type { CameraState } from '../../vision/index.ts';
import { demoSite, parseSite } from '../config/index.ts';
import { memoryLogger } from '../log/logger.ts';
import { syncSite } from '../site.sync.ts';
import { createRecordingSink, type RecordingSink } from './recording.sink.ts';

const T0 = Date.UTC(2026, 10, 21, 9, 0, 0);
const CAM = 'room-cam';
const site = parseSite(demoSite(), 'demo');

let database: Database;

beforeAll(async () => {
  database = await openDatabase({ dataDir: 'memory://' });
  await syncSite(database.db, site, new Date(T0));
});

afterAll(async () => {
  await database?.close();
});

/** The real database, except that while `down` every insert fails as a lost connection does. */
function flakyDb(real: Db): Db & { down: boolean; attempts: number } {
  const state = { down: false, attempts: 0 };
  const proxy = new Proxy(real, {
    get(target, prop, receiver) {
      if (prop === 'down') return state.down;
      if (prop === 'attempts') return state.attempts;
      if (prop === 'insert') {
        return (table: typeof recordings) => {
          state.attempts++;
          if (state.down) {
            const err = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
              code: 'ECONNREFUSED',
            });
            return {
              values: () => ({ onConflictDoNothing: () => Promise.reject(err) }),
            };
          }
          return target.insert(table);
        };
      }
      return Reflect.get(target, prop, receiver) as unknown;
    },
    set(_target, prop, value) {
      if (prop === 'down') {
        state.down = value as boolean;
        return true;
      }
      return false;
    },
  });
  return proxy as Db & { down: boolean; attempts: number };
}

interface Rig {
  sink: RecordingSink;
  clock: ManualClock;
  db: Db & { down: boolean; attempts: number };
  events: AccessEvent[];
  states: { cameraId: string; state: CameraState }[];
  log: ReturnType<typeof memoryLogger>;
}

function rig(over: { maxPending?: number } = {}): Rig {
  const clock = manualClock(T0);
  const db = flakyDb(database.db);
  const events: AccessEvent[] = [];
  const states: Rig['states'] = [];
  const log = memoryLogger();
  const sink = createRecordingSink({
    db,
    siteId: site.site.id,
    clock,
    log,
    record: (e) => {
      events.push(e);
      return Promise.resolve(true);
    },
    onState: (cameraId, state) => states.push({ cameraId, state }),
    retry: { minMs: 1_000, maxMs: 4_000 },
    ...over,
  });
  return { sink, clock, db, events, states, log };
}

const rows = () => database.db.select().from(recordings).orderBy(recordings.startAt);

/** Lets queued promise chains (the row writer) run. */
async function settle(sink: RecordingSink) {
  for (let i = 0; i < 5; i++) await sink.flush();
}

beforeEach(async () => {
  await database.db.delete(recordings);
});

describe('recording sink', () => {
  it('indexes segments and gaps as rows: relative paths, a gap with no file and no bytes', async () => {
    const r = rig();
    r.sink.segmentClosed({
      cameraId: CAM,
      path: 'recordings/room-cam/2026-11-21/09/09-00-00.000_a-000000.mp4',
      startAt: T0,
      endAt: T0 + 4_000,
      bytes: 1234,
    });
    r.sink.gap({ cameraId: CAM, startAt: T0 + 4_000, endAt: T0 + 9_000, reason: 'no video' });
    await settle(r.sink);
    const got = await rows();
    expect(got).toEqual([
      expect.objectContaining({
        siteId: 'demo',
        cameraId: CAM,
        path: 'recordings/room-cam/2026-11-21/09/09-00-00.000_a-000000.mp4',
        startAt: new Date(T0),
        endAt: new Date(T0 + 4_000),
        bytes: 1234,
        kind: 'segment',
        deletedAt: null,
      }),
      expect.objectContaining({
        path: '',
        startAt: new Date(T0 + 4_000),
        endAt: new Date(T0 + 9_000),
        bytes: 0,
        kind: 'gap',
      }),
    ]);
    await r.sink.close();
  });

  it('raises offline once per outage and online on recovery, through the journal', async () => {
    const r = rig();
    expect(r.sink.stateOf(CAM)).toEqual({ state: 'starting' });
    await r.sink.state({ cameraId: CAM, state: { state: 'online', since: T0 } });
    expect(r.events).toEqual([]);
    const down: CameraState = {
      state: 'offline',
      since: T0 + 8_000,
      fault: 'offline',
      reason: 'ffmpeg exited with code 1: Connection refused',
    };
    r.clock.advance(30_000);
    await r.sink.state({ cameraId: CAM, state: down });
    // Same outage, other words: no second alarm; a restart ('starting') is not a recovery.
    await r.sink.state({ cameraId: CAM, state: { ...down, reason: 'no video for 40 s' } });
    await r.sink.state({ cameraId: CAM, state: { state: 'starting' } });
    expect(r.events).toEqual([
      {
        id: expect.any(String) as string,
        at: T0 + 30_000,
        type: 'offline',
        cameraId: CAM,
        details: {
          reason: 'ffmpeg exited with code 1: Connection refused',
          fault: 'offline',
          since: new Date(T0 + 8_000).toISOString(),
        },
      },
    ]);
    r.clock.advance(5_000);
    await r.sink.state({ cameraId: CAM, state: { state: 'online', since: T0 + 34_000 } });
    expect(r.events.map((e) => [e.type, e.at, e.cameraId])).toEqual([
      ['offline', T0 + 30_000, CAM],
      ['online', T0 + 35_000, CAM],
    ]);
    expect(r.sink.stateOf(CAM)).toEqual({ state: 'online', since: T0 + 34_000 });
    // Every change reached the status listener, the repeated state did not.
    expect(r.states.map((s) => s.state.state)).toEqual([
      'online',
      'offline',
      'offline',
      'starting',
      'online',
    ]);
    await r.sink.state({ cameraId: CAM, state: { state: 'online', since: T0 + 34_000 } });
    expect(r.states).toHaveLength(5);
    await r.sink.close();
  });

  it('keeps rows through a database outage and writes them in order when it is back, logging once each way', async () => {
    const r = rig();
    r.db.down = true;
    for (let i = 0; i < 3; i++) {
      r.sink.segmentClosed({
        cameraId: CAM,
        path: `recordings/room-cam/s${i}.mp4`,
        startAt: T0 + i * 4_000,
        endAt: T0 + (i + 1) * 4_000,
        bytes: 100 + i,
      });
    }
    await settle(r.sink);
    expect(r.sink.pending()).toBe(3);
    // Two more retries while it is still down: still one warning.
    r.clock.advance(1_000);
    await settle(r.sink);
    r.clock.advance(2_000);
    await settle(r.sink);
    expect(r.sink.pending()).toBe(3);
    expect(r.log.records.filter((l) => l.level === 'warn')).toHaveLength(1);
    expect(r.log.records.find((l) => l.level === 'warn')).toMatchObject({
      msg: 'recording index: database unavailable; rows queued and retried',
    });
    expect(await rows()).toEqual([]);

    r.db.down = false;
    r.clock.advance(4_000);
    await settle(r.sink);
    expect(r.sink.pending()).toBe(0);
    expect((await rows()).map((x) => [x.path, x.bytes])).toEqual([
      ['recordings/room-cam/s0.mp4', 100],
      ['recordings/room-cam/s1.mp4', 101],
      ['recordings/room-cam/s2.mp4', 102],
    ]);
    expect(
      r.log.records.filter((l) => l.msg === 'recording index: database back; queued rows written'),
    ).toHaveLength(1);
    await r.sink.close();
  });

  it('gives up the oldest rows, loudly, when an outage outlasts the queue', async () => {
    const r = rig({ maxPending: 2 });
    r.db.down = true;
    for (let i = 0; i < 4; i++) {
      r.sink.segmentClosed({
        cameraId: CAM,
        path: `recordings/room-cam/q${i}.mp4`,
        startAt: T0 + i * 4_000,
        endAt: T0 + (i + 1) * 4_000,
        bytes: 10,
      });
    }
    await settle(r.sink);
    expect(r.sink.pending()).toBe(2);
    expect(
      r.log.records.filter((l) => l.level === 'error' && String(l.msg).includes('queue full')),
    ).toHaveLength(2);
    r.db.down = false;
    r.clock.advance(1_000);
    await settle(r.sink);
    expect((await rows()).map((x) => x.path)).toEqual([
      'recordings/room-cam/q2.mp4',
      'recordings/room-cam/q3.mp4',
    ]);
    await r.sink.close();
  });

  it('at close writes what is queued, or says how many rows were not indexed', async () => {
    const r = rig();
    r.db.down = true;
    r.sink.segmentClosed({
      cameraId: CAM,
      path: 'recordings/room-cam/late.mp4',
      startAt: T0,
      endAt: T0 + 4_000,
      bytes: 1,
    });
    await settle(r.sink);
    const attempts = r.db.attempts;
    await r.sink.close();
    expect(r.db.attempts).toBe(attempts + 1);
    expect(r.log.records.at(-1)).toMatchObject({
      level: 'error',
      msg: 'recording index: rows not written before shutdown',
      rows: 1,
    });
    // Its retry timer is gone with it.
    expect(r.clock.pendingTimers()).toBe(0);
  });
});
