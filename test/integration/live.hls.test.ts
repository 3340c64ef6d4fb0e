/**
 * Live view for real: the GStreamer RTSP camera simulator serving a synthetic scene, the system
 * ffmpeg remuxing it to HLS, and the HTTP routes the console's player calls, behind the real
 * auth middleware. Segments are checked with ffprobe; the stream must stop once nobody asks and
 * come back after the camera drops off the network.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../hardware/clock.ts';
import type { AuthService, Principal } from '../../server/auth/auth.service.ts';
import type { Role } from '../../server/auth/roles.ts';
import type {
  CameraDirectory,
  CameraStatus,
  CameraStreamsView,
} from '../../server/cameras/camera.types.ts';
import { createLiveHls, type LiveHls } from '../../server/cameras/live.hls.ts';
import { resolvePrincipal } from '../../server/http/auth.middleware.ts';
import type { AppEnv } from '../../server/http/context.ts';
import { ApiError, errorBody } from '../../server/http/errors.ts';
import { liveRoutes } from '../../server/routes/live.routes.ts';
import { locateFfmpeg, type FfmpegBinary } from '../../vision/ffmpeg.locate.ts';
import {
  createFfmpegRunner,
  spawnFfmpegProcess,
  type VisionLog,
} from '../../vision/ffmpeg.process.ts';
import {
  rtspServerAvailable,
  startRtspServer,
  type RtspAvailability,
  type RtspServer,
} from '../../vision/rtsp.server.ts';
import { synthesizeScene } from '../../vision/scene.synth.ts';
import { getFreePort } from '../harness/free-port.ts';
import { reportMissing } from '../harness/requirements.ts';
import { makeTempDir, type TempDir } from '../harness/temp-dir.ts';

/** Like requirePostgres: a missing part is a loud skip locally and a failure under CI=true. */
function requireRtspServer(a: RtspAvailability): boolean {
  if (a.ok) return true;
  reportMissing('GStreamer RTSP server', `${a.reason}; live view tests are skipped.`);
  return false;
}

function requireSystemFfmpeg(): FfmpegBinary | null {
  const found = locateFfmpeg('system');
  if (found?.ffprobePath) return found;
  reportMissing(
    'ffmpeg/ffprobe',
    'no ffmpeg and ffprobe on $PATH (apt-get install -y ffmpeg); live view tests are skipped.',
  );
  return null;
}

const gstOk = requireRtspServer(await rtspServerAvailable());
const ffmpeg = requireSystemFfmpeg();

const MAIN = { width: 960, height: 540 };
const SUB = { width: 640, height: 360 };
const IDLE_STOP_MS = 2_500;

function run(
  bin: string,
  args: string[],
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((done) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4000)));
    child.once('close', (code) => done({ code, out, err }));
  });
}

interface SegmentProbe {
  format: { format_name: string };
  streams: { codec_type: string; codec_name: string; width: number; height: number }[];
  packets: { flags: string }[];
}

async function probeSegment(file: string): Promise<SegmentProbe> {
  const res = await run(ffmpeg!.ffprobePath!, [
    '-v',
    'error',
    '-show_format',
    '-show_streams',
    '-show_packets',
    '-show_entries',
    'format=format_name:stream=codec_type,codec_name,width,height:packet=flags',
    '-of',
    'json',
    file,
  ]);
  if (res.code !== 0) throw new Error(`ffprobe ${file} failed: ${res.err}`);
  return JSON.parse(res.out) as SegmentProbe;
}

/** ffmpeg processes writing under `dir` (their command line names it). */
async function ffmpegPidsUnder(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    const argv = cmdline.split('\0');
    if (argv[0]?.endsWith('ffmpeg') && argv.some((a) => a.startsWith(dir)))
      pids.push(Number(entry));
  }
  return pids;
}

function segmentNames(playlist: string): string[] {
  return playlist.split('\n').filter((l) => l.endsWith('.ts'));
}

function status(id: string, name: string, extra: Partial<CameraStatus> = {}): CameraStatus {
  return {
    id,
    name,
    doorId: null,
    source: 'rtsp',
    state: 'online',
    since: null,
    recording: false,
    ...extra,
  };
}

/** Bearer tokens of each role; the real resolvePrincipal and requirePermission check them. */
const TOKENS: Record<string, Role> = {
  'staff-token': 'staff',
  'manager-token': 'manager',
  'admin-token': 'admin',
};

function strictAuth(): AuthService {
  const resolveBearer = (token: string): Promise<Principal | null> => {
    const role = TOKENS[token];
    return Promise.resolve(
      role ? { kind: 'token', tokenId: token, name: `${role} token`, role } : null,
    );
  };
  const allowed: Partial<AuthService> = {
    resolveBearer,
    resolveSession: () => Promise.resolve(null),
  };
  return new Proxy(allowed, {
    get(target, prop) {
      const value = target[prop as keyof AuthService];
      if (value === undefined) throw new Error(`unexpected AuthService.${String(prop)}`);
      return value;
    },
  }) as AuthService;
}

describe.runIf(gstOk && ffmpeg)('live view (HLS) of a real RTSP camera', () => {
  let dir: TempDir;
  let camera: RtspServer;
  let live: LiveHls;
  let app: Hono<AppEnv>;
  let dataDir: string;
  const logs: string[] = [];

  const get = (path: string, token: string | null = 'staff-token') =>
    app.request(path, token ? { headers: { Authorization: `Bearer ${token}` } } : {});

  beforeAll(async () => {
    dir = await makeTempDir('parcelroom-live');
    dataDir = join(dir.path, 'data');
    const cacheDir = join(dir.path, 'scenes');
    const main = await synthesizeScene({ cacheDir, ffmpeg, ...MAIN, durationMs: 3000 });
    const sub = await synthesizeScene({ cacheDir, ffmpeg, ...SUB, durationMs: 3000 });
    camera = await startRtspServer({ files: { main: main.path, sub: sub.path } });
    const refusedPort = await getFreePort();

    const streams = new Map<string, CameraStreamsView | null>([
      [
        'front',
        {
          main: { kind: 'rtsp', url: camera.url('main') },
          sub: { kind: 'rtsp', url: camera.url('sub') },
        },
      ],
      [
        'gone',
        {
          main: { kind: 'rtsp', url: `rtsp://127.0.0.1:${refusedPort}/main` },
          sub: { kind: 'rtsp', url: `rtsp://127.0.0.1:${refusedPort}/sub` },
        },
      ],
      ['shelf', null],
    ]);
    const statuses = [
      status('front', 'Front door'),
      status('gone', 'Back door'),
      status('shelf', 'Shelves', {
        state: 'offline',
        fault: 'offline',
        reason: 'no answer for 30 s',
      }),
    ];
    const directory: CameraDirectory = {
      list: () => statuses,
      streams: (id) => streams.get(id) ?? null,
      forDoor: () => {
        throw new Error('unexpected CameraDirectory.forDoor');
      },
      onStatus: () => {
        throw new Error('unexpected CameraDirectory.onStatus');
      },
    };
    const clock = systemClock();
    const log: VisionLog = (level, msg, fields) =>
      logs.push(`${level} ${msg} ${fields ? JSON.stringify(fields) : ''}`);
    const runner = createFfmpegRunner({
      spawn: spawnFfmpegProcess,
      clock,
      binary: ffmpeg!,
      log,
      rtspTimeoutMs: 3_000,
      killAfterMs: 4_000,
    });
    live = createLiveHls({ directory, runner, dataDir, clock, log, idleStopMs: IDLE_STOP_MS });

    app = new Hono<AppEnv>();
    app.onError((err, c) => {
      if (err instanceof ApiError) {
        for (const [k, v] of Object.entries(err.headers ?? {})) c.header(k, v);
        return c.json(errorBody(err.code, err.message, err.field), err.status);
      }
      return c.json(errorBody('internal', String(err)), 500);
    });
    const api = new Hono<AppEnv>();
    api.use('*', resolvePrincipal(strictAuth()));
    api.route('/', liveRoutes({ live, directory }));
    app.route('/api', api);
  });

  afterAll(async () => {
    await live?.close();
    await camera?.stop();
    await dir?.cleanup();
  });

  it('wants a signed-in principal and starts nothing for a stranger', async () => {
    for (const path of ['/api/cameras/front/live/index.m3u8', '/api/cameras/front/live/sub-1.ts']) {
      const res = await get(path, null);
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({
        error: { code: 'unauthenticated', message: 'sign in first' },
      });
      expect((await get(path, 'stolen-token')).status).toBe(401);
    }
    expect(live.streams()).toEqual([]);
  });

  it('serves the sub stream as an HLS playlist of H.264 MPEG-TS segments, not re-encoded', async () => {
    const started = performance.now();
    const res = await get('/api/cameras/front/live/index.m3u8?quality=sub');
    const firstPlaylistMs = Math.round(performance.now() - started);
    expect(res.status, await res.clone().text()).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/vnd.apple.mpegurl');
    expect(res.headers.get('cache-control')).toMatch(/no-cache/);
    const playlist = await res.text();
    expect(playlist).toMatch(/^#EXTM3U\n/);
    expect(playlist).not.toContain('#EXT-X-ENDLIST');
    const names = segmentNames(playlist);
    expect(names.length).toBeGreaterThan(0);
    for (const n of names) expect(n).toMatch(/^sub-\d+\.ts$/);
    process.stdout.write(`live view: first playlist after ${firstPlaylistMs} ms\n`);

    const seg = await get(`/api/cameras/front/live/${names[0]}`);
    expect(seg.status).toBe(200);
    expect(seg.headers.get('content-type')).toBe('video/mp2t');
    const bytes = Buffer.from(await seg.arrayBuffer());
    expect(bytes[0]).toBe(0x47); // MPEG-TS sync byte
    const file = join(dir.path, 'sub-segment.ts');
    await writeFile(file, bytes);
    const probe = await probeSegment(file);
    expect(probe.format.format_name).toBe('mpegts');
    expect(probe.streams).toHaveLength(1);
    expect(probe.streams[0]).toMatchObject({ codec_type: 'video', codec_name: 'h264', ...SUB });
    // each segment starts on a keyframe, so a player can start with any of them
    expect(probe.packets[0]!.flags.startsWith('K')).toBe(true);
    expect(await ffmpegPidsUnder(dataDir)).toHaveLength(1);
  });

  it('serves the main stream on request, from its own ffmpeg', async () => {
    const res = await get('/api/cameras/front/live/index.m3u8?quality=main');
    expect(res.status).toBe(200);
    const name = segmentNames(await res.text())[0]!;
    expect(name).toMatch(/^main-\d+\.ts$/);
    const file = join(dir.path, 'main-segment.ts');
    await writeFile(
      file,
      Buffer.from(await (await get(`/api/cameras/front/live/${name}`)).arrayBuffer()),
    );
    expect((await probeSegment(file)).streams[0]).toMatchObject({ codec_name: 'h264', ...MAIN });
    expect(await ffmpegPidsUnder(join(dataDir, 'live', 'front', 'main'))).toHaveLength(1);
  });

  it('lets every staff role watch', async () => {
    for (const token of Object.keys(TOKENS)) {
      expect((await get('/api/cameras/front/live/index.m3u8', token)).status, token).toBe(200);
    }
  });

  it('answers 404 for unknown cameras and anything but a generated segment name', async () => {
    expect((await get('/api/cameras/garage/live/index.m3u8')).status).toBe(404);
    for (const name of [
      '..%2F..%2F..%2Fetc%2Fpasswd',
      '..%2Fmain%2Findex.m3u8',
      'index.m3u8.tmp',
      'sub-1.ts.tmp',
      'sub-1.mp4',
    ]) {
      const res = await get(`/api/cameras/front/live/${name}`);
      expect(res.status, name).toBe(404);
      expect(await res.json()).toEqual({
        error: { code: 'not_found', message: 'no such live segment' },
      });
    }
    const expired = await get('/api/cameras/front/live/sub-12.ts');
    expect(expired.status).toBe(404);
    expect(((await expired.json()) as { error: { message: string } }).error.message).toMatch(
      /expired/,
    );
    const bad = await get('/api/cameras/front/live/index.m3u8?quality=ultra');
    expect(bad.status).toBe(400);
  });

  it('answers 503 camera_offline, with the reason, for a camera without streams', async () => {
    const res = await get('/api/cameras/shelf/live/index.m3u8');
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(await res.json()).toEqual({
      error: { code: 'camera_offline', message: 'Camera "Shelves" is offline: no answer for 30 s' },
    });
  });

  it('answers 503 with ffmpeg’s reason when the camera refuses the connection', async () => {
    const res = await get('/api/cameras/gone/live/index.m3u8');
    expect(res.status).toBe(503);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('live_unavailable');
    expect(body.error.message).toMatch(
      /^live view of camera "Back door" could not start: ffmpeg exited .*Connection refused/,
    );
  });

  it('comes back after the camera drops off the network while someone watches', async () => {
    const before = await (await get('/api/cameras/front/live/index.m3u8')).text();
    const lastBefore = Number(/sub-(\d+)\.ts\n$/.exec(before)![1]);
    await camera.stop();
    await vi.waitFor(
      async () => {
        await get('/api/cameras/front/live/index.m3u8'); // the player keeps polling
        expect(live.streams().find((s) => s.quality === 'sub')?.state).toBe('restarting');
      },
      { timeout: 15_000, interval: 300 },
    );
    await camera.restart();
    const after = await vi.waitFor(
      async () => {
        const res = await get('/api/cameras/front/live/index.m3u8');
        expect(res.status).toBe(200);
        const text = await res.text();
        expect(text).toContain('#EXT-X-DISCONTINUITY');
        return text;
      },
      { timeout: 20_000, interval: 300 },
    );
    // the sequence goes on: a player never sees a segment name twice
    expect(Number(/sub-(\d+)\.ts/.exec(after)![1])).toBeGreaterThan(lastBefore);
    const sub = live.streams().find((s) => s.quality === 'sub')!;
    expect(sub.restarts).toBeGreaterThanOrEqual(1);
    expect(sub.lastExit).toMatch(/^ffmpeg /);
  });

  it('stops ffmpeg and deletes the files once nobody watches', async () => {
    expect(existsSync(join(dataDir, 'live', 'front', 'sub'))).toBe(true);
    await vi.waitFor(
      async () => {
        expect(live.streams()).toEqual([]);
        expect(await ffmpegPidsUnder(dataDir)).toEqual([]);
      },
      { timeout: IDLE_STOP_MS + 10_000, interval: 250 },
    );
    expect(existsSync(join(dataDir, 'live', 'front', 'sub'))).toBe(false);
    expect(existsSync(join(dataDir, 'live', 'front', 'main'))).toBe(false);
    expect(logs.some((l) => l.startsWith('info live view stopped: nobody watches'))).toBe(true);
  });
});
