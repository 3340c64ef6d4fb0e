/**
 * The ONVIF client (real `onvif` package underneath) against the ONVIF simulator over real HTTP:
 * streams, clock skew, typed faults, long-poll events and snapshots.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../hardware/clock.ts';
import { getFreePort } from '../test/harness/free-port.ts';
import {
  connectOnvif,
  fetchSnapshot,
  openOnvifSession,
  OnvifError,
  subscribeOnvifEvents,
  withRtspCredentials,
  type OnvifEvent,
  type OnvifEventSubscription,
  type OnvifSession,
} from './onvif.client.ts';
import { createOnvifSim, type OnvifSim, type OnvifSimOptions } from './onvif.sim.ts';
import { testFixture } from '../test/harness/requirements.ts';

const JPEG = readFileSync(testFixture('street_dog_bicycle_car.jpg'));
const USER = 'operator';
const PASSWORD = 'p@ss:w/rd#1';
const ENCODED = 'operator:p%40ss%3Aw%2Frd%231';
const MAIN = 'rtsp://127.0.0.1:8554/cam1/main';
const SUB = 'rtsp://127.0.0.1:8554/cam1/sub';
const HOUR = 3_600_000;
const MOTION = 'tns1:VideoSource/MotionAlarm';
const clock = systemClock();

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startSim(overrides: Partial<OnvifSimOptions> = {}): Promise<OnvifSim> {
  const sim = await createOnvifSim({
    username: USER,
    password: PASSWORD,
    streams: { mainUrl: MAIN, subUrl: SUB },
    snapshot: () => Promise.resolve(JPEG),
    ...overrides,
  });
  cleanups.push(() => sim.close());
  return sim;
}

const target = (sim: { port: number }, password = PASSWORD) => ({
  host: '127.0.0.1',
  port: sim.port,
  username: USER,
  password,
  timeoutMs: 3000,
  clock,
});

async function faultOf(p: Promise<unknown>): Promise<{ fault: string; message: string }> {
  const e = await p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(OnvifError);
  return { fault: (e as OnvifError).fault, message: (e as OnvifError).message };
}

const motion = (state: boolean) => ({
  topic: MOTION,
  source: { Source: 'video_source_0' },
  data: { State: state },
});

describe('connectOnvif', () => {
  it('resolves main and sub RTSP URLs with credentials, snapshot URL, device and clock skew', async () => {
    const sim = await startSim({ device: { firmwareVersion: '1.10', serialNumber: '0042' } });
    const streams = await connectOnvif(target(sim));
    expect(streams).toEqual({
      mainUrl: `rtsp://${ENCODED}@127.0.0.1:8554/cam1/main`,
      subUrl: `rtsp://${ENCODED}@127.0.0.1:8554/cam1/sub`,
      snapshotUrl: `http://127.0.0.1:${sim.port}/onvif/snapshot/main.jpg`,
      clockSkewMs: expect.any(Number),
      // Read from the raw answer: the package alone would have made "1.10" the number 1.1.
      device: {
        manufacturer: 'Parcelroom',
        model: 'ONVIF Simulator',
        firmwareVersion: '1.10',
        serialNumber: '0042',
      },
    });
    expect(Math.abs(streams.clockSkewMs)).toBeLessThan(2000);
    expect(decodeURIComponent(new URL(streams.mainUrl).password)).toBe(PASSWORD);
    expect(sim.stats().authenticated.wsUsernameToken).toBeGreaterThan(0);
  });

  it('keeps credentials a camera already put into its URL, and picks main and sub by resolution', async () => {
    const sim = await startSim({
      streams: undefined,
      snapshot: undefined,
      profiles: [
        {
          token: 'thumb',
          name: 'tiny',
          width: 176,
          height: 144,
          fps: 5,
          encoding: 'H264',
          bitrateKbps: 64,
          streamUrl: 'rtsp://127.0.0.1:8554/tiny',
        },
        {
          token: 'mjpeg',
          name: 'mjpeg',
          width: 640,
          height: 480,
          fps: 5,
          encoding: 'JPEG',
          bitrateKbps: 2000,
          streamUrl: 'rtsp://127.0.0.1:8554/mjpeg',
        },
        {
          token: 'sub',
          name: 'sub',
          width: 704,
          height: 576,
          fps: 10,
          encoding: 'H264',
          bitrateKbps: 512,
          streamUrl: 'rtsp://viewer:view@127.0.0.1:8554/sub',
        },
        {
          token: 'main',
          name: 'main',
          width: 2688,
          height: 1520,
          fps: 20,
          encoding: 'H265',
          bitrateKbps: 6144,
          streamUrl: 'rtsp://127.0.0.1:8554/main?channel=1',
        },
      ],
    });
    const streams = await connectOnvif(target(sim));
    expect(streams.mainUrl).toBe(`rtsp://${ENCODED}@127.0.0.1:8554/main?channel=1`);
    expect(streams.subUrl).toBe('rtsp://viewer:view@127.0.0.1:8554/sub');
    // Without a snapshot provider the camera offers none, and that is no failure.
    expect(streams.snapshotUrl).toBeUndefined();
  });

  it('authenticates with WS-Security against a camera clock 3 hours ahead, and reports the skew', async () => {
    const sim = await startSim({ clockSkewMs: 3 * HOUR, auth: { digest: false } });
    const streams = await connectOnvif(target(sim));
    expect(Math.abs(streams.clockSkewMs - 3 * HOUR)).toBeLessThan(2000);
    expect(streams.mainUrl).toContain('/cam1/main');
    expect(sim.stats().rejected).toEqual({ wsUsernameToken: 0, digest: 0, missing: 0 });
  });

  it('works with a camera that only speaks HTTP digest, 5 hours behind', async () => {
    const sim = await startSim({ clockSkewMs: -5 * HOUR, auth: { wsUsernameToken: false } });
    const streams = await connectOnvif(target(sim));
    expect(Math.abs(streams.clockSkewMs + 5 * HOUR)).toBeLessThan(2000);
    expect(sim.stats().authenticated.digest).toBeGreaterThan(0);
  });

  it('a wrong password is auth_failed, with WS-Security and with digest', async () => {
    const wsse = await startSim({ auth: { digest: false } });
    const a = await faultOf(connectOnvif(target(wsse, 'wrong')));
    expect(a.fault).toBe('auth_failed');
    expect(a.message).toMatch(/refused the credentials/);
    const digest = await startSim({ auth: { wsUsernameToken: false } });
    expect((await faultOf(connectOnvif(target(digest, 'wrong')))).fault).toBe('auth_failed');
  });

  it('nothing listening, or a silent peer, is offline', async () => {
    const port = await getFreePort();
    const refused = await faultOf(connectOnvif({ ...target({ port }) }));
    expect(refused).toMatchObject({
      fault: 'offline',
      message: expect.stringMatching(/ECONNREFUSED/),
    });

    const sockets = new Set<Socket>();
    const silent = createTcpServer((s) => sockets.add(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    cleanups.push(() => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => silent.close(r));
    });
    const address = silent.address() as { port: number };
    const quiet = await faultOf(connectOnvif({ ...target(address), timeoutMs: 300 }));
    expect(quiet.fault).toBe('offline');
  });

  it('a device without media, or a web server that is no camera, is unsupported', async () => {
    const doorController = await startSim({ media: false });
    const a = await faultOf(connectOnvif(target(doorController)));
    expect(a).toMatchObject({
      fault: 'unsupported',
      message: expect.stringMatching(/no media service/),
    });

    const web = createHttpServer((_req, res) => {
      res.writeHead(404, { 'Content-Type': 'text/html' });
      res.end('<html><body>Not Found</body></html>');
    });
    await new Promise<void>((r) => web.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => web.close(r)));
    const b = await faultOf(connectOnvif(target(web.address() as { port: number })));
    expect(b.fault).toBe('unsupported');
  });

  it('refuses bad options before touching the network', async () => {
    await expect(connectOnvif({ ...target({ port: 0 }) })).rejects.toThrow(/bad port/);
    await expect(connectOnvif({ ...target({ port: 80 }), host: ' ' })).rejects.toThrow(/host/);
  });
});

describe('withRtspCredentials', () => {
  it('adds percent-encoded credentials only where there are none', () => {
    expect(withRtspCredentials('rtsp://10.0.0.5:554/Streaming/101', 'a b', 'x@y')).toBe(
      'rtsp://a%20b:x%40y@10.0.0.5:554/Streaming/101',
    );
    expect(withRtspCredentials('rtsps://cam/live', 'u', '')).toBe('rtsps://u:@cam/live');
    expect(withRtspCredentials('rtsp://u:p@cam/live', 'other', 'x')).toBe('rtsp://u:p@cam/live');
    expect(withRtspCredentials('rtsp://cam/live', '', 'x')).toBe('rtsp://cam/live');
    expect(withRtspCredentials('http://cam/live', 'u', 'p')).toBe('http://cam/live');
  });
});

describe('ONVIF session pull point', () => {
  const open = async (sim: OnvifSim): Promise<OnvifSession> => {
    const session = await openOnvifSession(target(sim));
    cleanups.push(() => session.close());
    return session;
  };

  it('a long poll comes back empty at its timeout, and at once when an event arrives', async () => {
    const sim = await startSim({ clockSkewMs: 3 * HOUR });
    const session = await open(sim);
    await session.subscribe();
    expect(sim.stats().subscriptions).toBe(1);
    expect(session.subscriptionEndsAt()).toBeGreaterThan(clock.now());

    expect(await session.pull({ timeoutMs: 1000 })).toEqual([]);

    const held = session.pull({ timeoutMs: 30_000 });
    await vi.waitFor(() => expect(sim.stats().heldPulls).toBe(1), { timeout: 5000 });
    const emittedAt = clock.now();
    sim.emitEvent(motion(true));
    const [event, ...rest] = await held;
    expect(rest).toEqual([]);
    expect(event).toEqual({
      topic: MOTION,
      at: expect.any(Number),
      operation: 'Changed',
      source: { Source: 'video_source_0' },
      data: { State: 'true' },
    });
    // Camera time (3 h ahead) brought back to server time.
    expect(Math.abs((event?.at ?? 0) - emittedAt)).toBeLessThan(2000);

    const before = session.subscriptionEndsAt();
    await session.renew();
    expect(session.subscriptionEndsAt()).toBeGreaterThanOrEqual(before);
    await session.unsubscribe();
    expect(sim.stats().subscriptions).toBe(0);
    expect((await faultOf(session.pull({ timeoutMs: 0 }))).fault).toBe('unsupported');
  });

  it('close() cuts a held pull at once', async () => {
    const sim = await startSim();
    const session = await open(sim);
    await session.subscribe();
    const held = session.pull({ timeoutMs: 60_000 });
    await vi.waitFor(() => expect(sim.stats().heldPulls).toBe(1), { timeout: 5000 });
    session.close();
    expect((await faultOf(held)).fault).toBe('offline');
  });
});

describe('subscribeOnvifEvents', () => {
  function follow(sim: { port: number }, extra: { pullTimeoutMs?: number } = {}) {
    const events: OnvifEvent[] = [];
    const errors: Error[] = [];
    const subscription: OnvifEventSubscription = subscribeOnvifEvents({
      ...target(sim),
      pullTimeoutMs: extra.pullTimeoutMs ?? 60_000,
      backoffMs: 50,
      maxBackoffMs: 200,
      onEvent: (e) => events.push(e),
      onError: (e) => errors.push(e),
    });
    cleanups.push(() => subscription.close());
    return { events, errors, subscription };
  }

  it('delivers motion on and off in server time, and unsubscribes on close', async () => {
    const sim = await startSim({ clockSkewMs: 3 * HOUR });
    const { events, errors, subscription } = follow(sim);
    await vi.waitFor(() => expect(sim.stats().heldPulls).toBe(1), { timeout: 5000 });
    sim.emitEvent(motion(true));
    await vi.waitFor(() => expect(events).toHaveLength(1), { timeout: 5000 });
    await vi.waitFor(() => expect(sim.stats().heldPulls).toBe(1), { timeout: 5000 });
    sim.emitEvent(motion(false));
    sim.emitEvent({
      topic: 'tns1:RuleEngine/LineDetector/Crossed',
      source: { Rule: 'door line' },
      data: { ObjectId: 7 },
      property: false,
    });
    await vi.waitFor(() => expect(events).toHaveLength(3), { timeout: 5000 });
    expect(events.map((e) => [e.topic, e.operation, e.data])).toEqual([
      [MOTION, 'Changed', { State: 'true' }],
      [MOTION, 'Changed', { State: 'false' }],
      ['tns1:RuleEngine/LineDetector/Crossed', undefined, { ObjectId: '7' }],
    ]);
    for (const e of events) expect(Math.abs(e.at - clock.now())).toBeLessThan(5000);
    expect(errors).toEqual([]);

    // The pull is held for up to a minute; close ends it now and gives the pull point back.
    await subscription.close();
    expect(sim.stats()).toMatchObject({ subscriptions: 0, heldPulls: 0 });
  });

  it('learns the camera clock again when it jumps and WS-Security starts failing', async () => {
    const sim = await startSim({ auth: { digest: false } });
    const { events, errors } = follow(sim, { pullTimeoutMs: 1000 });
    await vi.waitFor(() => expect(sim.stats().subscriptions).toBe(1), { timeout: 5000 });
    sim.setClockSkew(3 * HOUR);
    await vi.waitFor(
      () => expect(errors.some((e) => (e as OnvifError).fault === 'auth_failed')).toBe(true),
      {
        timeout: 5000,
      },
    );
    // A new session (new time sync) and a new pull point; the event reaches us.
    await vi.waitFor(() => expect(sim.stats().heldPulls).toBe(1), { timeout: 5000 });
    sim.emitEvent(motion(true));
    await vi.waitFor(() => expect(events.map((e) => e.data.State)).toContain('true'), {
      timeout: 5000,
    });
    const last = events[events.length - 1] as OnvifEvent;
    expect(Math.abs(last.at - clock.now())).toBeLessThan(5000);
  });

  it('rides out a camera restart: offline while it is gone, events again after', async () => {
    const first = await startSim();
    const port = first.port;
    const { events, errors } = follow(first, { pullTimeoutMs: 1000 });
    await vi.waitFor(() => expect(first.stats().heldPulls).toBe(1), { timeout: 5000 });
    await first.close();
    await vi.waitFor(
      () => expect(errors.some((e) => (e as OnvifError).fault === 'offline')).toBe(true),
      {
        timeout: 5000,
      },
    );
    const second = await startSim({ port });
    await vi.waitFor(() => expect(second.stats().heldPulls).toBe(1), { timeout: 5000 });
    second.emitEvent(motion(true));
    await vi.waitFor(() => expect(events).toHaveLength(1), { timeout: 5000 });
  });

  it('an onEvent that throws is reported and the loop goes on', async () => {
    const sim = await startSim();
    const seen: string[] = [];
    const errors: Error[] = [];
    const subscription = subscribeOnvifEvents({
      ...target(sim),
      pullTimeoutMs: 30_000,
      onEvent: (e) => {
        seen.push(e.data.State ?? '');
        if (e.data.State === 'true') throw new Error('handler bug');
      },
      onError: (e) => errors.push(e),
    });
    cleanups.push(() => subscription.close());
    await vi.waitFor(() => expect(sim.stats().heldPulls).toBe(1), { timeout: 5000 });
    sim.emitEvent(motion(true));
    await vi.waitFor(() => expect(errors.map((e) => e.message)).toEqual(['handler bug']), {
      timeout: 5000,
    });
    await vi.waitFor(() => expect(sim.stats().heldPulls).toBe(1), { timeout: 5000 });
    sim.emitEvent(motion(false));
    await vi.waitFor(() => expect(seen).toEqual(['true', 'false']), { timeout: 5000 });
  });
});

describe('fetchSnapshot', () => {
  it('answers the digest challenge and returns the JPEG; a wrong password is auth_failed', async () => {
    const sim = await startSim();
    const { snapshotUrl } = await connectOnvif(target(sim));
    const url = snapshotUrl ?? '';
    const jpeg = await fetchSnapshot({ url, username: USER, password: PASSWORD });
    expect(jpeg.equals(JPEG)).toBe(true);
    expect((await faultOf(fetchSnapshot({ url, username: USER, password: 'nope' }))).fault).toBe(
      'auth_failed',
    );
    await expect(
      fetchSnapshot({ url: 'ftp://x/y', username: USER, password: PASSWORD }),
    ).rejects.toThrow(/http/);
  });

  it('a provider that fails or gives no JPEG is a clear error, not a crash', async () => {
    const broken = await startSim({ snapshot: () => Promise.reject(new Error('sensor busy')) });
    const notJpeg = await startSim({ snapshot: () => Promise.resolve(Buffer.from('GIF89a')) });
    for (const sim of [broken, notJpeg]) {
      const url = `http://127.0.0.1:${sim.port}/onvif/snapshot/main.jpg`;
      const r = await faultOf(fetchSnapshot({ url, username: USER, password: PASSWORD }));
      expect(r).toMatchObject({
        fault: 'unsupported',
        message: expect.stringMatching(/HTTP 50[03]/),
      });
    }
  });
});
