/**
 * The RTSP camera simulator for real: Debian's GStreamer RTSP server serving synthetic scenes,
 * read back over the network by ffprobe and ffmpeg the way the recorder will read a camera.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { locateFfmpeg, type FfmpegBinary } from '../../vision/ffmpeg.locate.ts';
import {
  rtspServerAvailable,
  startRtspServer,
  type RtspAvailability,
  type RtspServer,
} from '../../vision/rtsp.server.ts';
import { synthesizeCameraScenes } from '../../vision/scene.synth.ts';
import { reportMissing } from '../harness/requirements.ts';
import { makeTempDir, type TempDir } from '../harness/temp-dir.ts';

/** The simulator's own check; like requirePostgres, missing parts fail under CI=true. */
function requireRtspServer(a: RtspAvailability): boolean {
  if (a.ok) return true;
  reportMissing('GStreamer RTSP server', `${a.reason}; RTSP camera simulator tests are skipped.`);
  return false;
}

function requireSystemFfmpeg(): FfmpegBinary | null {
  const found = locateFfmpeg('system');
  if (found?.ffprobePath) return found;
  reportMissing(
    'ffmpeg/ffprobe',
    'no ffmpeg and ffprobe on $PATH (apt-get install -y ffmpeg); RTSP read-back tests are skipped.',
  );
  return null;
}

const availability = await rtspServerAvailable();
const gstOk = requireRtspServer(availability);
const ffmpeg = requireSystemFfmpeg();
const npmFfmpeg = locateFfmpeg('npm');

/** Scene length: shorter than the 4 s recording, so the recording must run across the loop seam. */
const FILE_MS = 3000;
const SOCKET_TIMEOUT_US = '5000000';

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

interface StreamInfo {
  codec_name: string;
  width: number;
  height: number;
  has_b_frames: number;
}

interface FileProbe {
  streams: StreamInfo[];
  packets: { pts_time: string; flags: string }[];
  format: { duration: string };
}

/** Probe a live RTSP URL: what a recorder learns from DESCRIBE and the first frames. */
async function probeUrl(url: string, transport: 'tcp' | 'udp'): Promise<StreamInfo> {
  const res = await run(ffmpeg!.ffprobePath!, [
    '-v',
    'error',
    '-rtsp_transport',
    transport,
    ffmpeg!.rtspTimeoutFlag,
    SOCKET_TIMEOUT_US,
    '-select_streams',
    'v:0',
    '-show_streams',
    '-of',
    'json',
    url,
  ]);
  if (res.code !== 0) throw new Error(`ffprobe ${url} failed (${res.code}): ${res.err}`);
  const parsed = JSON.parse(res.out) as { streams: StreamInfo[] };
  if (!parsed.streams[0]) throw new Error(`ffprobe ${url}: no video stream`);
  return parsed.streams[0];
}

async function probeFile(file: string): Promise<FileProbe> {
  const res = await run(ffmpeg!.ffprobePath!, [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-show_streams',
    '-show_format',
    '-show_packets',
    '-show_entries',
    'packet=pts_time,flags',
    '-of',
    'json',
    file,
  ]);
  if (res.code !== 0) throw new Error(`ffprobe ${file} failed: ${res.err}`);
  return JSON.parse(res.out) as FileProbe;
}

/** Copy `seconds` of the stream into an MP4 without re-encoding, as the segment recorder does. */
async function record(
  bin: FfmpegBinary,
  url: string,
  transport: 'tcp' | 'udp',
  seconds: number,
  out: string,
): Promise<void> {
  const res = await run(bin.path, [
    '-nostdin',
    '-hide_banner',
    '-loglevel',
    'error',
    '-rtsp_transport',
    transport,
    bin.rtspTimeoutFlag,
    SOCKET_TIMEOUT_US,
    '-i',
    url,
    '-t',
    String(seconds),
    '-c',
    'copy',
    '-an',
    '-y',
    out,
  ]);
  if (res.code !== 0) throw new Error(`ffmpeg recording ${url} failed (${res.code}): ${res.err}`);
}

/** Checks a recording is camera-like H.264 that ran on without a gap, and returns its times. */
async function expectSeamlessH264(file: string, width: number, height: number, seconds: number) {
  const p = await probeFile(file);
  const v = p.streams[0]!;
  expect(v.codec_name).toBe('h264');
  expect([v.width, v.height]).toEqual([width, height]);
  expect(v.has_b_frames).toBe(0);
  expect(Number(p.format.duration)).toBeGreaterThan(seconds - 0.5);
  expect(Number(p.format.duration)).toBeLessThan(seconds + 0.5);
  const pts = p.packets.map((k) => Number(k.pts_time));
  const keys = p.packets.filter((k) => k.flags.startsWith('K')).map((k) => Number(k.pts_time));
  // A keyframe every second. The first interval is left out: ffmpeg gives the first frame of an
  // RTSP session no timestamp (5.x: 0; 4.x: a later one), as with real cameras.
  expect(keys.length).toBeGreaterThanOrEqual(Math.floor(seconds));
  for (let i = 2; i < keys.length; i++) expect(keys[i]! - keys[i - 1]!).toBeCloseTo(1, 1);
  // frames keep coming at 15 fps with no hole, also across the loop seam
  let maxGap = 0;
  for (let i = 1; i < pts.length; i++) maxGap = Math.max(maxGap, pts[i]! - pts[i - 1]!);
  expect(maxGap).toBeLessThan(0.2);
  return { pts, keys };
}

describe.runIf(gstOk && ffmpeg)('RTSP camera simulator (GStreamer) read back by ffmpeg', () => {
  let dir: TempDir;
  let server: RtspServer;
  const files = { main: '', sub: '' };

  beforeAll(async () => {
    dir = await makeTempDir('parcelroom-rtsp');
    const scenes = await synthesizeCameraScenes({
      cacheDir: join(dir.path, 'scenes'),
      ffmpeg,
      durationMs: FILE_MS,
    });
    files.main = scenes.main.path;
    files.sub = scenes.sub.path;
    server = await startRtspServer({ files });
  });

  afterAll(async () => {
    await server?.stop();
    await dir?.cleanup();
  });

  it('reports the GStreamer it runs on', () => {
    expect(availability).toMatchObject({ ok: true, python: '/usr/bin/python3' });
    if (availability.ok) expect(availability.gstreamer).toMatch(/^1\.\d+\.\d+$/);
  });

  it('describes main and sub like a camera, over TCP and UDP', async () => {
    expect(server.url('main')).toBe(`rtsp://127.0.0.1:${server.port}/main`);
    expect(server.status()).toMatchObject({ state: 'running' });
    const main = await probeUrl(server.url('main'), 'tcp');
    expect(main).toMatchObject({ codec_name: 'h264', width: 1280, height: 720, has_b_frames: 0 });
    const sub = await probeUrl(server.url('sub'), 'udp');
    expect(sub).toMatchObject({ codec_name: 'h264', width: 640, height: 360, has_b_frames: 0 });
    expect(() => server.url('third')).toThrow(/no mount third/);
  });

  it('records 4 s of main without re-encoding, running on past the end of the 3 s file', async () => {
    const out = join(dir.path, 'main-4s.mp4');
    await record(ffmpeg!, server.url('main'), 'tcp', 4, out);
    const { pts } = await expectSeamlessH264(out, 1280, 720, 4);
    // the stream looped: frames well past the file's own end, still ~15 per second
    expect(pts.at(-1)!).toBeGreaterThan(FILE_MS / 1000 + 0.5);
    expect(pts.length).toBeGreaterThan(4 * 15 - 5);
  });

  it.runIf(npmFfmpeg)('serves the npm ffmpeg (4.x, -stimeout) over UDP as well', async () => {
    expect(npmFfmpeg!.rtspTimeoutFlag).toBe(npmFfmpeg!.major >= 5 ? '-timeout' : '-stimeout');
    const out = join(dir.path, 'sub-npm.mp4');
    await record(npmFfmpeg!, server.url('sub'), 'udp', 2, out);
    await expectSeamlessH264(out, 640, 360, 2);
  });

  it('goes off the network and comes back on the same port', async () => {
    const url = server.url('main');
    const port = server.port;
    await server.stop();
    await server.stop(); // idempotent
    expect(server.status()).toEqual({ state: 'stopped' });
    await expect(probeUrl(url, 'tcp')).rejects.toThrow(/Connection refused|failed/);

    await server.restart();
    expect(server.port).toBe(port);
    expect(server.url('main')).toBe(url);
    expect(server.status()).toMatchObject({ state: 'running' });
    expect(await probeUrl(url, 'tcp')).toMatchObject({ width: 1280, height: 720 });
  });

  it('reports a simulator that died on its own as exited, and restarts it', async () => {
    const before = server.status();
    if (before.state !== 'running') throw new Error(`expected running, got ${before.state}`);
    const exited = new Promise<void>((resolveExit) => {
      const poll = setInterval(() => {
        if (server.status().state === 'exited') {
          clearInterval(poll);
          resolveExit();
        }
      }, 20);
    });
    process.kill(before.pid, 'SIGKILL');
    await exited;
    expect(server.status()).toMatchObject({ state: 'exited', signal: 'SIGKILL' });
    await server.restart();
    expect(await probeUrl(server.url('sub'), 'tcp')).toMatchObject({ width: 640, height: 360 });
  });

  it('refuses bad input with the reason, and a port that is taken', async () => {
    await expect(startRtspServer({ files: {} })).rejects.toThrow(/no files to serve/);
    await expect(startRtspServer({ files: { 'a/b': files.main } })).rejects.toThrow(/mount name/);
    await expect(
      startRtspServer({ files: { main: join(dir.path, 'missing.mp4') } }),
    ).rejects.toThrow(/video file for \/main not found/);
    const notVideo = join(dir.path, 'notes.mp4');
    await writeFile(notVideo, 'these are not frames');
    await expect(startRtspServer({ files: { main: notVideo } })).rejects.toThrow(
      /exited before listening.*cannot serve .*notes\.mp4: no H\.264 video track/,
    );
    await expect(startRtspServer({ files, port: server.port })).rejects.toThrow(
      /could not listen on 127\.0\.0\.1:\d+/,
    );
  });
});

describe('RTSP simulator availability check', () => {
  let dir: TempDir;
  beforeAll(async () => {
    dir = await makeTempDir('parcelroom-rtsp-check');
  });
  afterAll(async () => {
    await dir?.cleanup();
  });

  it('says which part is missing instead of throwing: no python', async () => {
    const a = await rtspServerAvailable({ python: join(dir.path, 'no-python3') });
    expect(a.ok).toBe(false);
    if (!a.ok) expect(a.reason).toMatch(/no .*no-python3 \(install/);
  });

  it.runIf(gstOk)('says which part is missing instead of throwing: no gi bindings', async () => {
    // Debian's python with its site-packages switched off is a python without python3-gi.
    const bare = join(dir.path, 'python-without-gi');
    await writeFile(bare, '#!/bin/sh\nexec /usr/bin/python3 -S "$@"\n', { mode: 0o755 });
    const a = await rtspServerAvailable({ python: bare });
    expect(a.ok).toBe(false);
    if (!a.ok) expect(a.reason).toMatch(/python3-gi.*No module named 'gi'/);
  });
});
