/**
 * An ONVIF camera made of real parts: the ONVIF simulator answers SOAP, Debian's GStreamer RTSP
 * server carries the video, ffmpeg grabs the snapshots. The client resolves the streams through
 * the `onvif` package, and ffprobe opens the URLs it returns (credentials and all) the way the
 * recorder will.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../hardware/clock.ts';
import { locateFfmpeg, type FfmpegBinary } from '../../vision/ffmpeg.locate.ts';
import {
  connectOnvif,
  fetchSnapshot,
  subscribeOnvifEvents,
  type OnvifEvent,
} from '../../vision/onvif.client.ts';
import { createOnvifSim, type OnvifSim } from '../../vision/onvif.sim.ts';
import { rtspServerAvailable, startRtspServer, type RtspServer } from '../../vision/rtsp.server.ts';
import { SCENE_SIZES, synthesizeCameraScenes } from '../../vision/scene.synth.ts';
import { reportMissing } from '../harness/requirements.ts';
import { makeTempDir, type TempDir } from '../harness/temp-dir.ts';

const availability = await rtspServerAvailable();
if (!availability.ok) {
  reportMissing('GStreamer RTSP server', `${availability.reason}; ONVIF camera tests are skipped.`);
}
const ffmpeg = locateFfmpeg('system');
if (!ffmpeg?.ffprobePath) {
  reportMissing('ffmpeg/ffprobe', 'apt-get install -y ffmpeg; ONVIF camera tests are skipped.');
}

const USER = 'admin';
const PASSWORD = 'Zimmer 4@Haus:1/2';
const clock = systemClock();

function run(
  bin: string,
  args: string[],
): Promise<{ code: number | null; out: Buffer; err: string }> {
  return new Promise((done) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4000)));
    child.once('close', (code) => done({ code, out: Buffer.concat(out), err }));
  });
}

describe.runIf(availability.ok && ffmpeg?.ffprobePath)('ONVIF camera with real RTSP video', () => {
  const bin = ffmpeg as FfmpegBinary;
  let dir: TempDir;
  let rtsp: RtspServer;
  let sim: OnvifSim;

  beforeAll(async () => {
    dir = await makeTempDir('parcelroom-onvif');
    const scenes = await synthesizeCameraScenes({
      cacheDir: join(dir.path, 'scenes'),
      ffmpeg: bin,
      durationMs: 2000,
    });
    rtsp = await startRtspServer({ files: { main: scenes.main.path, sub: scenes.sub.path } });
    sim = await createOnvifSim({
      username: USER,
      password: PASSWORD,
      clockSkewMs: 2 * 3_600_000,
      profiles: [
        {
          token: 'main',
          name: 'main',
          ...SCENE_SIZES.main,
          fps: 15,
          encoding: 'H264',
          bitrateKbps: 2048,
          streamUrl: rtsp.url('main'),
        },
        {
          token: 'sub',
          name: 'sub',
          ...SCENE_SIZES.sub,
          fps: 15,
          encoding: 'H264',
          bitrateKbps: 512,
          streamUrl: rtsp.url('sub'),
        },
      ],
      // A camera's snapshot: one frame of its own stream, as JPEG.
      snapshot: async () => {
        const r = await run(bin.path, [
          '-nostdin',
          '-loglevel',
          'error',
          '-rtsp_transport',
          'tcp',
          bin.rtspTimeoutFlag,
          '5000000',
          '-i',
          rtsp.url('sub'),
          '-frames:v',
          '1',
          '-f',
          'mjpeg',
          'pipe:1',
        ]);
        if (r.code !== 0) throw new Error(`ffmpeg snapshot failed: ${r.err}`);
        return r.out;
      },
    });
  });

  afterAll(async () => {
    await sim?.close();
    await rtsp?.stop();
    await dir?.cleanup();
  });

  it('resolves streams whose video is what the profiles say, through URLs with credentials', async () => {
    const streams = await connectOnvif({
      host: '127.0.0.1',
      port: sim.port,
      username: USER,
      password: PASSWORD,
      timeoutMs: 5000,
      clock,
    });
    expect(streams.mainUrl).toBe(
      `rtsp://${USER}:${encodeURIComponent(PASSWORD)}@127.0.0.1:${rtsp.port}/main`,
    );
    expect(Math.abs(streams.clockSkewMs - 2 * 3_600_000)).toBeLessThan(2000);
    for (const [url, size] of [
      [streams.mainUrl, SCENE_SIZES.main],
      [streams.subUrl, SCENE_SIZES.sub],
    ] as const) {
      const probe = await run(bin.ffprobePath!, [
        '-v',
        'error',
        '-rtsp_transport',
        'tcp',
        bin.rtspTimeoutFlag,
        '5000000',
        '-select_streams',
        'v:0',
        '-show_streams',
        '-of',
        'json',
        url,
      ]);
      expect(probe.code, probe.err).toBe(0);
      const [video] = (
        JSON.parse(probe.out.toString('utf8')) as {
          streams: { codec_name: string; width: number; height: number }[];
        }
      ).streams;
      expect(video).toMatchObject({ codec_name: 'h264', ...size });
    }

    const jpeg = await fetchSnapshot({
      url: streams.snapshotUrl ?? '',
      username: USER,
      password: PASSWORD,
      timeoutMs: 15_000,
    });
    // A real picture of the sub stream, not just JPEG magic.
    const file = join(dir.path, 'snapshot.jpg');
    await writeFile(file, jpeg);
    const still = await run(bin.ffprobePath!, [
      '-v',
      'error',
      '-show_streams',
      '-of',
      'json',
      file,
    ]);
    expect(still.code, still.err).toBe(0);
    const [picture] = (
      JSON.parse(still.out.toString('utf8')) as {
        streams: { codec_name: string; width: number; height: number }[];
      }
    ).streams;
    expect(picture).toMatchObject({ codec_name: 'mjpeg', ...SCENE_SIZES.sub });
  });

  it('follows motion events while the camera streams', async () => {
    const events: OnvifEvent[] = [];
    const errors: Error[] = [];
    const subscription = subscribeOnvifEvents({
      host: '127.0.0.1',
      port: sim.port,
      username: USER,
      password: PASSWORD,
      timeoutMs: 5000,
      clock,
      onEvent: (e) => events.push(e),
      onError: (e) => errors.push(e),
    });
    try {
      await vi.waitFor(() => expect(sim.stats().heldPulls).toBe(1), { timeout: 10_000 });
      sim.emitEvent({
        topic: 'tns1:VideoSource/MotionAlarm',
        source: { Source: 'video_source_0' },
        data: { State: true },
      });
      await vi.waitFor(() => expect(events).toHaveLength(1), { timeout: 10_000 });
      expect(events[0]).toMatchObject({
        topic: 'tns1:VideoSource/MotionAlarm',
        data: { State: 'true' },
      });
      expect(Math.abs((events[0]?.at ?? 0) - clock.now())).toBeLessThan(5000);
      expect(errors).toEqual([]);
    } finally {
      await subscription.close();
    }
    expect(sim.stats().subscriptions).toBe(0);
  });
});
