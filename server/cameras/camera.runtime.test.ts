import { EventEmitter } from 'node:events';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AccessEvent } from '../../access/access.events.ts';
import { openDatabase, type Database } from '../../db/index.ts';
import { manualClock, type ManualClock } from '../../hardware/clock.ts';
import { getFreePort } from '../../test/harness/free-port.ts';
import { makeTempDir, type TempDir } from '../../test/harness/temp-dir.ts';
import {
  createOnvifSim,
  type FfmpegBinary,
  type FfmpegChild,
  type FfmpegSpawn,
  type OnvifSim,
} from '../../vision/index.ts';
import { demoSite, parseSite, type SiteConfig } from '../config/index.ts';
import { memoryLogger } from '../log/logger.ts';
import { syncSite } from '../site.sync.ts';
import { NO_FFMPEG_REASON, createCameraRuntime, type CameraRuntime } from './camera.runtime.ts';
import type { CameraStatus } from './camera.types.ts';

const T0 = Date.UTC(2026, 10, 21, 9, 0, 0);

const FF5: FfmpegBinary = {
  path: '/usr/bin/ffmpeg',
  ffprobePath: '/usr/bin/ffprobe',
  source: 'system',
  major: 5,
  rtspTimeoutFlag: '-timeout',
};

/** An ffmpeg that starts, writes nothing, and ends when signalled. */
class FakeChild extends EventEmitter implements FfmpegChild {
  readonly stdout = new EventEmitter();
  readonly stderr = new EventEmitter();
  readonly signals: NodeJS.Signals[] = [];
  constructor(readonly args: readonly string[]) {
    super();
    queueMicrotask(() => this.emit('spawn'));
  }
  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    this.signals.push(signal);
    queueMicrotask(() => this.emit('close', null, signal));
    return true;
  }
}

/** A spawn that records every ffmpeg started; `refuse` makes any call fail the test. */
function fakeSpawn(refuse = false): FfmpegSpawn & { children: FakeChild[] } {
  const children: FakeChild[] = [];
  const spawn = (command: string, args: readonly string[]) => {
    if (refuse) throw new Error(`unexpected ffmpeg start: ${command} ${args.join(' ')}`);
    expect(command).toBe(FF5.path);
    const child = new FakeChild(args);
    children.push(child);
    return child;
  };
  return Object.assign(spawn, { children });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, check: () => boolean, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function siteWith(cameras: unknown[]): SiteConfig {
  const raw = demoSite();
  raw.cameras = cameras;
  // The demo's shelves point at its camera; these sites have other cameras.
  const storage = raw.storage as { shelves: { slots: { cameraId?: string }[] }[] };
  for (const shelf of storage.shelves) for (const slot of shelf.slots) delete slot.cameraId;
  return parseSite(raw, 'test');
}

let database: Database;
let dir: TempDir;
let runtime: CameraRuntime | undefined;

beforeAll(async () => {
  database = await openDatabase({ dataDir: 'memory://' });
  await syncSite(database.db, parseSite(demoSite(), 'demo'), new Date(T0));
});

afterAll(async () => {
  await database?.close();
});

beforeEach(async () => {
  dir = await makeTempDir('parcelroom-cameras');
});

afterEach(async () => {
  await runtime?.close();
  runtime = undefined;
  await dir.cleanup();
});

function make(
  site: SiteConfig,
  over: Partial<Parameters<typeof createCameraRuntime>[0]> = {},
): {
  rt: CameraRuntime;
  clock: ManualClock;
  events: AccessEvent[];
  log: ReturnType<typeof memoryLogger>;
} {
  const clock = manualClock(T0);
  const events: AccessEvent[] = [];
  const log = memoryLogger();
  const rt = createCameraRuntime({
    site,
    dataDir: dir.path,
    db: database.db,
    clock,
    log,
    record: (e) => {
      events.push(e);
      return Promise.resolve(true);
    },
    ffmpeg: FF5,
    rtspAvailable: () => Promise.reject(new Error('unexpected RTSP availability check')),
    ...over,
  });
  runtime = rt;
  return { rt, clock, events, log };
}

describe('camera runtime', () => {
  it('records an RTSP camera and a file camera, each with one ffmpeg on its main stream', async () => {
    const site = siteWith([
      {
        id: 'gate-cam',
        name: 'Gate',
        doorId: 'front',
        source: { kind: 'rtsp', url: 'rtsp://viewer:pw@10.0.0.5/stream1' },
      },
      { id: 'file-cam', name: 'Demo file', source: { kind: 'file', path: 'videos/demo.mp4' } },
    ]);
    const spawn = fakeSpawn();
    const { rt, events } = make(site, { spawn });
    await rt.start();
    expect(spawn.children).toHaveLength(2);
    const [gate, file] = spawn.children.map((c) => c.args.join(' '));
    expect(gate).toContain(
      '-rtsp_transport tcp -timeout 5000000 -i rtsp://viewer:pw@10.0.0.5/stream1',
    );
    expect(gate).toContain(`${dir.path}/recordings/gate-cam/.incoming/`);
    expect(file).toContain(`-re -stream_loop -1 -i ${process.cwd()}/videos/demo.mp4`);
    expect(file).toContain('-segment_time 4 ');

    expect(rt.streams('gate-cam')).toEqual({
      main: { kind: 'rtsp', url: 'rtsp://viewer:pw@10.0.0.5/stream1' },
      sub: { kind: 'rtsp', url: 'rtsp://viewer:pw@10.0.0.5/stream1' },
    });
    expect(rt.streams('file-cam')?.main).toEqual({
      kind: 'file',
      path: `${process.cwd()}/videos/demo.mp4`,
      loop: true,
    });
    expect(rt.streams('nope')).toBeNull();
    expect(rt.forDoor('front')).toBe('gate-cam');
    expect(rt.forDoor('back')).toBeNull();
    expect(rt.list()).toEqual([
      {
        id: 'gate-cam',
        name: 'Gate',
        doorId: 'front',
        source: 'rtsp',
        state: 'starting',
        since: null,
        recording: false,
      },
      {
        id: 'file-cam',
        name: 'Demo file',
        doorId: null,
        source: 'file',
        state: 'starting',
        since: null,
        recording: false,
      },
    ]);
    await expect(rt.start()).rejects.toThrow(/already started/);

    await rt.close();
    expect(spawn.children.map((c) => c.signals)).toEqual([['SIGTERM'], ['SIGTERM']]);
    expect(events).toEqual([]);
  });

  it('without ffmpeg every camera is offline with missing_part, and nothing is started', async () => {
    const site = siteWith([
      { id: 'sim-cam', name: 'Sim', doorId: 'front', source: { kind: 'sim' } },
      { id: 'gate-cam', name: 'Gate', source: { kind: 'rtsp', url: 'rtsp://10.0.0.5/s' } },
    ]);
    const { rt, events, log } = make(site, { ffmpeg: null, spawn: fakeSpawn(true) });
    const heard: CameraStatus[] = [];
    rt.onStatus((s) => heard.push(s));
    await rt.start();
    const list = rt.list();
    expect(list.map((c) => [c.id, c.state, c.fault, c.reason, c.recording])).toEqual([
      ['sim-cam', 'offline', 'missing_part', NO_FFMPEG_REASON, false],
      ['gate-cam', 'offline', 'missing_part', NO_FFMPEG_REASON, false],
    ]);
    expect(list[0]!.since).toBe(new Date(T0).toISOString());
    expect(heard.map((s) => [s.id, s.state])).toEqual([
      ['sim-cam', 'offline'],
      ['gate-cam', 'offline'],
    ]);
    expect(events.map((e) => [e.type, e.cameraId, e.details])).toEqual([
      ['offline', 'sim-cam', expect.objectContaining({ fault: 'missing_part' })],
      ['offline', 'gate-cam', expect.objectContaining({ fault: 'missing_part' })],
    ]);
    expect(rt.streams('sim-cam')).toBeNull();
    expect(rt.simCamera()).toBeNull();
    expect(log.records).toContainEqual(
      expect.objectContaining({ level: 'error', msg: 'cameras cannot record' }),
    );
  });

  describe('an ONVIF camera', () => {
    let sim: OnvifSim | undefined;
    afterEach(async () => {
      await sim?.close();
      sim = undefined;
    });

    it('is offline while it cannot be reached, asked again with backoff, and recorded once it answers', async () => {
      const port = await getFreePort();
      const site = siteWith([
        {
          id: 'lobby-cam',
          name: 'Lobby',
          doorId: 'front',
          source: { kind: 'onvif', host: '127.0.0.1', port, username: 'admin', password: 'pw:1@x' },
        },
      ]);
      const spawn = fakeSpawn();
      const { rt, clock, events } = make(site, {
        spawn,
        connectRetry: { initialMs: 1_000, maxMs: 4_000 },
      });
      await rt.start();
      await until('the camera to be offline', () => rt.list()[0]!.state === 'offline');
      const down = rt.list()[0]!;
      expect(down.fault).toBe('offline');
      expect(down.reason).toContain(`ONVIF 127.0.0.1:${port}`);
      expect(rt.streams('lobby-cam')).toBeNull();

      // Asked again after 1 s: still away, no second alarm.
      clock.advance(1_000);
      await sleep(300);
      expect(rt.list()[0]!.state).toBe('offline');
      expect(events.map((e) => e.type)).toEqual(['offline']);
      expect(spawn.children).toHaveLength(0);

      sim = await createOnvifSim({
        port,
        username: 'admin',
        password: 'pw:1@x',
        streams: {
          mainUrl: 'rtsp://127.0.0.1:8554/main',
          subUrl: 'rtsp://127.0.0.1:8554/sub',
        },
      });
      // The next try is 2 s after the second failure.
      clock.advance(1_999);
      await sleep(200);
      expect(spawn.children).toHaveLength(0);
      clock.advance(1);
      await until('the recorder to start', () => spawn.children.length === 1);
      const main = 'rtsp://admin:pw%3A1%40x@127.0.0.1:8554/main';
      expect(spawn.children[0]!.args).toContain(main);
      expect(rt.streams('lobby-cam')).toEqual({
        main: { kind: 'rtsp', url: main },
        sub: { kind: 'rtsp', url: 'rtsp://admin:pw%3A1%40x@127.0.0.1:8554/sub' },
      });
      expect(rt.list()[0]).toMatchObject({
        state: 'starting',
        device: { manufacturer: 'Parcelroom', model: 'ONVIF Simulator' },
      });
      expect(rt.list()[0]!.fault).toBeUndefined();
    });
  });
});
