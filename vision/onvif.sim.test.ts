/**
 * The ONVIF simulator, driven by the real `onvif` client package (its own WS-Security, digest and
 * SOAP parsing are the independent check), plus raw HTTP for what a client package never sends:
 * junk, replays, oversized bodies.
 */
import { readFileSync } from 'node:fs';
import { Cam, type CamOptions } from 'onvif';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { manualClock, type ManualClock } from '../hardware/clock.ts';
import { createOnvifSim, type OnvifSim, type OnvifSimOptions } from './onvif.sim.ts';
import {
  formatDuration,
  parseDigestHeader,
  parseDuration,
  parseTerminationTime,
  parseXml,
  readSoapFault,
  XmlError,
} from './onvif.soap.ts';
import { testFixture } from '../test/harness/requirements.ts';

const JPEG = readFileSync(testFixture('street_dog_bicycle_car.jpg'));
const USER = 'admin';
const PASSWORD = 'p@ss:w/rd';
const MAIN = 'rtsp://127.0.0.1:8554/cam1/main';
const SUB = 'rtsp://127.0.0.1:8554/cam1/sub';
const HOUR = 3_600_000;
const MOTION = 'tns1:VideoSource/MotionAlarm';

const sims: OnvifSim[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

async function startSim(overrides: Partial<OnvifSimOptions> = {}): Promise<OnvifSim> {
  const sim = await createOnvifSim({
    username: USER,
    password: PASSWORD,
    streams: { mainUrl: MAIN, subUrl: SUB },
    snapshot: () => Promise.resolve(JPEG),
    ...overrides,
  });
  sims.push(sim);
  return sim;
}

function camFor(sim: OnvifSim, options: Partial<CamOptions> = {}): Cam {
  return new Cam({
    hostname: sim.host,
    port: sim.port,
    username: USER,
    password: PASSWORD,
    autoconnect: false,
    timeout: 5000,
    ...options,
  });
}

interface Outcome<T> {
  err: Error | null;
  data: T | undefined;
  xml: string | undefined;
  /** HTTP status of the last answer the package read. */
  status: number | undefined;
}

type Cb<T> = (err: Error | null, data?: T, xml?: string) => void;

/** Run one package call and keep everything it saw, failure or not. */
function run<T = unknown>(cam: Cam, invoke: (cb: Cb<T>) => void): Promise<Outcome<T>> {
  let status: number | undefined;
  const onRaw = (_xml: string, s: number) => {
    status = s;
  };
  cam.on('rawResponse', onRaw);
  return new Promise((resolve) => {
    let done = false;
    invoke((err, data, xml) => {
      if (done) return;
      done = true;
      cam.off('rawResponse', onRaw);
      resolve({ err, data, xml, status });
    });
  });
}

async function ok<T = unknown>(cam: Cam, invoke: (cb: Cb<T>) => void): Promise<T> {
  const o = await run(cam, invoke);
  if (o.err) throw o.err;
  return o.data as T;
}

const connect = (cam: Cam) => ok(cam, (cb) => cam.connect(cb));

/** The package's private transport, for bodies its public methods never send. */
interface CamTransport {
  _request(
    options: { body: string; service?: string; url?: object; replyTimeout?: number },
    cb: Cb<unknown>,
  ): void;
  _envelopeHeader(): string;
  _envelopeFooter(): string;
}

function signed(cam: Cam, inner: string): string {
  const t = cam as unknown as CamTransport;
  return t._envelopeHeader() + inner + t._envelopeFooter();
}

function subscriptionUrl(cam: Cam): object {
  const address = (cam.events.subscription as { subscriptionReference: { address: URL } })
    .subscriptionReference.address;
  return {
    protocol: 'http:',
    hostname: address.hostname,
    port: address.port,
    path: address.pathname,
  };
}

function rawSoap(cam: Cam, options: { body: string; service?: string; url?: object }) {
  return run(cam, (cb) =>
    (cam as unknown as CamTransport)._request({ replyTimeout: 5000, ...options }, cb),
  );
}

function faultCodes(xml: string | undefined): string[] {
  // Lenient: the package strips the xmlns declarations from the XML it passes on.
  return xml ? (readSoapFault(parseXml(xml, { lenientPrefixes: true }))?.codes ?? []) : [];
}

async function post(sim: OnvifSim, body: string | Buffer, path = '/onvif/device_service') {
  const res = await fetch(`http://${sim.host}:${sim.port}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/soap+xml; charset=utf-8' },
    body,
  });
  return {
    status: res.status,
    type: res.headers.get('content-type') ?? '',
    text: await res.text(),
  };
}

describe('ONVIF simulator: device and media through the onvif package', () => {
  it('connects with WS-Security and reports device, profiles, stream and snapshot URIs', async () => {
    const sim = await startSim({ device: { firmwareVersion: '5.7.10', serialNumber: 'SN-42' } });
    const cam = camFor(sim);
    await connect(cam);
    expect(sim.stats().authenticated.wsUsernameToken).toBeGreaterThan(0);
    expect(sim.stats().authenticated.digest).toBe(0);
    expect(Object.keys(cam.uri ?? {}).sort()).toEqual(['device', 'events', 'media']);

    const info = await ok(cam, (cb) => cam.getDeviceInformation(cb));
    expect(info).toMatchObject({
      manufacturer: 'Parcelroom',
      model: 'ONVIF Simulator',
      serialNumber: 'SN-42',
    });

    const profiles = (cam.profiles ?? []).map((p) => ({
      token: (p.$ as { token: string }).token,
      width: (p.videoEncoderConfiguration as { resolution: { width: number } }).resolution.width,
      height: (p.videoEncoderConfiguration as { resolution: { height: number } }).resolution.height,
    }));
    expect(profiles).toEqual([
      { token: 'main', width: 1920, height: 1080 },
      { token: 'sub', width: 640, height: 360 },
    ]);
    expect(cam.activeSource?.sourceToken).toBe('video_source_0');

    const main = await ok<{ uri: string }>(cam, (cb) =>
      cam.getStreamUri({ profileToken: 'main' }, cb),
    );
    const sub = await ok<{ uri: string }>(cam, (cb) =>
      cam.getStreamUri({ profileToken: 'sub' }, cb),
    );
    expect([main.uri, sub.uri]).toEqual([MAIN, SUB]);

    const snap = await ok<{ uri: string }>(cam, (cb) =>
      cam.getSnapshotUri({ profileToken: 'main' }, cb),
    );
    expect(snap.uri).toBe(`http://127.0.0.1:${sim.port}/onvif/snapshot/main.jpg`);

    // The snapshot wants digest; the package's own digest code answers the challenge.
    const first = await fetch(snap.uri);
    expect(first.status).toBe(401);
    const challenge = first.headers.get('www-authenticate') ?? '';
    expect(challenge).toMatch(/^Digest /);
    const authorization = cam.digestAuth([challenge], {
      method: 'GET',
      path: new URL(snap.uri).pathname,
    });
    const second = await fetch(snap.uri, { headers: { Authorization: authorization } });
    expect(second.status).toBe(200);
    expect(second.headers.get('content-type')).toBe('image/jpeg');
    expect(Buffer.from(await second.arrayBuffer()).equals(JPEG)).toBe(true);
    // The same header again (same nonce, same count) is a replay.
    const replayed = await fetch(snap.uri, { headers: { Authorization: authorization } });
    expect(replayed.status).toBe(401);
  });

  it('takes HTTP digest when UsernameToken is off, and from a client that only speaks digest', async () => {
    const digestOnly = await startSim({ auth: { wsUsernameToken: false } });
    // The package signs with WS-Security first, gets 401 and a challenge, and retries with digest.
    await connect(camFor(digestOnly));
    expect(digestOnly.stats().authenticated).toEqual({
      wsUsernameToken: 0,
      digest: expect.any(Number),
    });
    expect(digestOnly.stats().authenticated.digest).toBeGreaterThan(0);

    const both = await startSim();
    const cam = camFor(both, { useWSSecurity: false });
    await connect(cam);
    expect(both.stats().authenticated.wsUsernameToken).toBe(0);
    expect(both.stats().authenticated.digest).toBeGreaterThan(0);
  });

  it('without digest, a request with no UsernameToken is refused with 400 ter:NotAuthorized', async () => {
    const sim = await startSim({ auth: { digest: false } });
    const cam = camFor(sim, { useWSSecurity: false });
    await ok(cam, (cb) => cam.getSystemDateAndTime(cb));
    const o = await run(cam, (cb) => cam.getDeviceInformation(cb));
    expect(o.err).toBeInstanceOf(Error);
    expect(o.status).toBe(400);
    expect(faultCodes(o.xml)).toEqual(['env:Sender', 'ter:NotAuthorized']);
  });

  it('answers GetSystemDateAndTime without credentials, on its own (skewed) clock', async () => {
    const sim = await startSim({ clockSkewMs: 3 * HOUR });
    const anonymous = new Cam({ hostname: sim.host, port: sim.port, autoconnect: false });
    const at = await ok<Date>(anonymous, (cb) => anonymous.getSystemDateAndTime(cb));
    expect(Math.abs(at.getTime() - (Date.now() + 3 * HOUR))).toBeLessThan(2000);

    sim.setClockSkew(-2 * HOUR);
    const later = await ok<Date>(anonymous, (cb) => anonymous.getSystemDateAndTime(cb));
    expect(Math.abs(later.getTime() - (Date.now() - 2 * HOUR))).toBeLessThan(2000);
    expect(() => sim.setClockSkew(Number.NaN)).toThrow(/number/);
  });

  it('checks Created against the camera clock: the package time shift passes, server time does not', async () => {
    const sim = await startSim({ clockSkewMs: 3 * HOUR, auth: { digest: false } });
    const cam = camFor(sim);
    await connect(cam);
    expect(
      Math.abs((cam.timeShift ?? 0) + process.uptime() * 1000 - (Date.now() + 3 * HOUR)),
    ).toBeLessThan(2000);
    await ok(cam, (cb) => cam.getDeviceInformation(cb));

    const cameraShift = cam.timeShift;
    cam.timeShift = Date.now() - process.uptime() * 1000; // sign with the server's own time
    const stale = await run(cam, (cb) => cam.getDeviceInformation(cb));
    expect(stale.status).toBe(400);
    expect(faultCodes(stale.xml)).toContain('ter:NotAuthorized');
    expect(stale.xml).toMatch(/more than 30000 ms from the device clock/);

    cam.timeShift = cameraShift;
    await ok(cam, (cb) => cam.getDeviceInformation(cb));
  });

  it('refuses a UsernameToken seen before (a captured request replayed)', async () => {
    const sim = await startSim({ auth: { digest: false } });
    const cam = camFor(sim);
    const bodies: string[] = [];
    await ok(cam, (cb) => cam.getSystemDateAndTime(cb)); // sets the package's timeShift
    cam.on('rawRequest', (body: string) => bodies.push(body));
    await ok(cam, (cb) => cam.getDeviceInformation(cb));
    const replay = await post(sim, bodies[bodies.length - 1] ?? '');
    expect(replay.status).toBe(400);
    expect(replay.text).toMatch(/Nonce already used/);
    expect(faultCodes(replay.text)).toContain('ter:NotAuthorized');
  });

  it('rejects a wrong password: 400 for WS-Security, 401 again for digest', async () => {
    const sim = await startSim();
    const wsse = camFor(sim, { password: 'wrong' });
    const a = await run(wsse, (cb) => wsse.getDeviceInformation(cb));
    expect(a.status).toBe(400);
    expect(faultCodes(a.xml)).toEqual(['env:Sender', 'ter:NotAuthorized']);
    expect(a.err?.message).toMatch(/Sender not Authorized/);

    const digest = camFor(sim, { password: 'wrong', useWSSecurity: false });
    const b = await run(digest, (cb) => digest.getDeviceInformation(cb));
    expect(b.err?.message).toMatch(/Digest authentication failed 401/);
    expect(sim.stats().rejected).toMatchObject({ wsUsernameToken: 1, digest: 1 });
  });

  it('answers junk with SOAP faults and keeps serving', async () => {
    const sim = await startSim();
    const junk: { body: string | Buffer; status: number; code: string }[] = [
      { body: '<<<this is not xml', status: 400, code: 'ter:WellFormed' },
      { body: '', status: 400, code: 'ter:WellFormed' },
      { body: Buffer.from([0xff, 0x00, 0x13, 0x37, 0x80]), status: 400, code: 'ter:WellFormed' },
      { body: '<a><b></a>', status: 400, code: 'ter:WellFormed' },
      { body: '<x:a/>', status: 400, code: 'ter:WellFormed' },
      {
        body: '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY b "bbbbbbbb">]><a>&b;&b;</a>',
        status: 400,
        code: 'ter:WellFormed',
      },
      { body: '<foo xmlns="urn:x"/>', status: 400, code: 'ter:TagMismatch' },
      {
        body: '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body/></s:Envelope>',
        status: 400,
        code: 'ter:MissingAttr',
      },
      {
        body: '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><x/></s:Body></s:Envelope>',
        status: 500,
        code: 'env:VersionMismatch',
      },
    ];
    for (const j of junk) {
      const r = await post(sim, j.body);
      expect(r.type).toMatch(/application\/soap\+xml/);
      expect(r.status, String(j.body)).toBe(j.status);
      expect(faultCodes(r.text), String(j.body)).toContain(j.code);
    }
    const big = await post(sim, `<a>${'x'.repeat(1_100_000)}</a>`);
    expect(big.status).toBe(413);
    expect((await fetch(`http://${sim.host}:${sim.port}/onvif/device_service`)).status).toBe(405);
    expect((await fetch(`http://${sim.host}:${sim.port}/nothing/here`)).status).toBe(404);

    const cam = camFor(sim);
    await connect(cam);
    expect(await ok(cam, (cb) => cam.getDeviceInformation(cb))).toMatchObject({
      model: 'ONVIF Simulator',
    });
  });

  it('faults an unknown operation (ActionNotSupported), an unknown profile and a header it must not ignore', async () => {
    const sim = await startSim();
    const cam = camFor(sim);
    await connect(cam);
    const unknown = await run(cam, (cb) => cam.getHostname(cb));
    expect(unknown.status).toBe(500);
    expect(faultCodes(unknown.xml)).toEqual(['env:Receiver', 'ter:ActionNotSupported']);

    const noProfile = await run(cam, (cb) => cam.getStreamUri({ profileToken: 'nope' }, cb));
    expect(noProfile.status).toBe(400);
    expect(faultCodes(noProfile.xml)).toEqual(['env:Sender', 'ter:InvalidArgVal', 'ter:NoProfile']);

    const mustUnderstand = await post(
      sim,
      '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header>' +
        '<x:Odd xmlns:x="urn:odd" s:mustUnderstand="true"/></s:Header><s:Body>' +
        '<GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>',
    );
    expect(faultCodes(mustUnderstand.text)).toEqual(['env:MustUnderstand']);
  });

  it('a device without a media service has no media XAddr and refuses media calls', async () => {
    const sim = await startSim({ media: false });
    const cam = camFor(sim);
    await connect(cam);
    expect(cam.uri?.media).toBeUndefined();
    const o = await rawSoap(cam, {
      body: signed(cam, '<GetProfiles xmlns="http://www.onvif.org/ver10/media/wsdl"/>'),
    });
    expect(o.status).toBe(500);
    expect(faultCodes(o.xml)).toEqual(['env:Receiver', 'ter:ActionNotSupported']);
  });

  it('refuses bad options with a clear error', async () => {
    await expect(createOnvifSim({ username: USER, password: PASSWORD })).rejects.toThrow(/streams/);
    await expect(
      createOnvifSim({
        username: USER,
        password: PASSWORD,
        streams: { mainUrl: 'not a url', subUrl: SUB },
      }),
    ).rejects.toThrow(/streamUrl/);
    await expect(
      createOnvifSim({
        username: USER,
        password: PASSWORD,
        streams: { mainUrl: MAIN, subUrl: SUB },
        auth: { digest: false, wsUsernameToken: false },
      }),
    ).rejects.toThrow(/auth/);
  });
});

describe('ONVIF simulator: events', () => {
  const motion = (state: boolean) => ({
    topic: MOTION,
    source: { Source: 'video_source_0' },
    data: { State: state },
  });

  interface Pulled {
    notificationMessage?: unknown;
    terminationTime?: Date;
    currentTime?: Date;
  }
  const messagesOf = (p: Pulled | undefined) => {
    const m = p?.notificationMessage;
    return (Array.isArray(m) ? m : m ? [m] : []) as {
      topic: { _: string };
      message: {
        message: {
          $: { PropertyOperation: string };
          data: { simpleItem: { $: { Name: string; Value: unknown } } };
        };
      };
    }[];
  };

  it('holds PullMessages (the package asks for one minute) and answers as soon as an event comes', async () => {
    const sim = await startSim();
    const cams = [camFor(sim), camFor(sim)];
    for (const cam of cams) {
      await connect(cam);
      await ok(cam, (cb) => cam.createPullPointSubscription(cb));
    }
    const pulls = cams.map((cam) => ok<Pulled>(cam, (cb) => cam.pullMessages({}, cb)));
    await vi.waitFor(() => expect(sim.stats().heldPulls).toBe(2), { timeout: 5000 });
    sim.emitEvent(motion(true));
    for (const pulled of await Promise.all(pulls)) {
      const [m, ...rest] = messagesOf(pulled);
      expect(rest).toEqual([]);
      expect(m?.topic._).toBe(MOTION);
      expect(m?.message.message.$.PropertyOperation).toBe('Changed');
      expect(m?.message.message.data.simpleItem.$).toEqual({ Name: 'State', Value: true });
    }
    expect(sim.stats().heldPulls).toBe(0);
  });

  it('comes back empty at the Timeout; a client that hangs up while held loses nothing', async () => {
    const clock = manualClock(Date.now());
    const sim = await startSim({ clock });
    const cam = camFor(sim, { useWSSecurity: false });
    await connect(cam);
    await ok(cam, (cb) => cam.createPullPointSubscription(cb));
    const pull = (timeout: string) =>
      rawSoap(cam, {
        url: subscriptionUrl(cam),
        body: signed(
          cam,
          `<PullMessages xmlns="http://www.onvif.org/ver10/events/wsdl"><Timeout>${timeout}</Timeout>` +
            `<MessageLimit>5</MessageLimit></PullMessages>`,
        ),
      });

    const held = pull('PT2S');
    await vi.waitFor(() => expect(sim.stats().heldPulls).toBe(1), { timeout: 5000 });
    clock.advance(1999);
    expect(sim.stats().heldPulls).toBe(1);
    clock.advance(1);
    const empty = await held;
    expect(empty.err).toBeNull();
    expect(empty.xml).toMatch(/PullMessagesResponse/);
    expect(empty.xml).not.toMatch(/NotificationMessage/);

    // A held poll whose client goes away: the event stays queued for the next poll. (Signed with
    // a UsernameToken: fetch cannot answer a digest challenge.)
    const wsCam = camFor(sim);
    await ok(wsCam, (cb) => wsCam.getSystemDateAndTime(cb));
    const address = subscriptionUrl(cam) as { hostname: string; port: string; path: string };
    const controller = new AbortController();
    const gone = fetch(`http://${address.hostname}:${address.port}${address.path}`, {
      method: 'POST',
      body: signed(
        wsCam,
        '<PullMessages xmlns="http://www.onvif.org/ver10/events/wsdl"><Timeout>PT30S</Timeout><MessageLimit>5</MessageLimit></PullMessages>',
      ),
      headers: { 'Content-Type': 'application/soap+xml' },
      signal: controller.signal,
    }).catch(() => 'aborted');
    await vi.waitFor(() => expect(sim.stats().heldPulls).toBe(1), { timeout: 5000 });
    controller.abort();
    expect(await gone).toBe('aborted');
    await vi.waitFor(() => expect(sim.stats().heldPulls).toBe(0), { timeout: 5000 });
    sim.emitEvent(motion(true));
    const next = await pull('PT0S');
    expect(next.xml).toMatch(/MotionAlarm/);
  });

  it('Renew extends a subscription; unrenewed, it ends at its termination time', async () => {
    const clock: ManualClock = manualClock(Date.now());
    const sim = await startSim({ clock });
    // Digest: the manual clock runs minutes ahead of the real time a UsernameToken is signed with.
    const cam = camFor(sim, { useWSSecurity: false });
    await connect(cam);
    const created = await ok<Pulled>(cam, (cb) => cam.createPullPointSubscription(cb));
    expect((created.terminationTime?.getTime() ?? 0) - (created.currentTime?.getTime() ?? 0)).toBe(
      120_000,
    );

    clock.advance(90_000);
    const renewed = await ok<Pulled>(cam, (cb) => cam.renew({}, cb));
    expect((renewed.terminationTime?.getTime() ?? 0) - (renewed.currentTime?.getTime() ?? 0)).toBe(
      120_000,
    );
    clock.advance(90_000); // past the first termination time
    expect(sim.stats().subscriptions).toBe(1);
    clock.advance(29_000);
    expect(sim.stats().subscriptions).toBe(1);
    clock.advance(1_001);
    expect(sim.stats().subscriptions).toBe(0);

    const late = await run(cam, (cb) => cam.renew({}, cb));
    expect(late.status).toBe(400);
    expect(faultCodes(late.xml)).toContain('wsrf-r:ResourceUnknownFault');
  });

  it('a held pull ends with its subscription (Unsubscribe) and when the sim closes', async () => {
    const sim = await startSim();
    const a = camFor(sim);
    const b = camFor(sim);
    for (const cam of [a, b]) {
      await connect(cam);
      await ok(cam, (cb) => cam.createPullPointSubscription(cb));
    }
    const heldA = ok<Pulled>(a, (cb) => a.pullMessages({}, cb));
    await vi.waitFor(() => expect(sim.stats().heldPulls).toBe(1), { timeout: 5000 });
    // Unsubscribe while the pull is held: it is answered at once, empty.
    await ok(a, (cb) => a.unsubscribe(cb, true));
    expect(messagesOf(await heldA)).toEqual([]);
    expect(sim.stats().subscriptions).toBe(1);

    const heldB = ok<Pulled>(b, (cb) => b.pullMessages({}, cb));
    await vi.waitFor(() => expect(sim.stats().heldPulls).toBe(1), { timeout: 5000 });
    await sim.close();
    expect(messagesOf(await heldB)).toEqual([]);
  });

  it('gives a new subscription the current state of property events first', async () => {
    const sim = await startSim();
    sim.emitEvent(motion(true));
    sim.emitEvent({
      topic: 'tns1:Device/Trigger/DigitalInput',
      source: { InputToken: 'in1' },
      data: { LogicalState: false },
    });
    sim.emitEvent({
      topic: 'tns1:Device/Trigger/DigitalInput',
      source: { InputToken: 'in1' },
      data: { LogicalState: false },
      operation: 'Deleted',
    });
    const cam = camFor(sim);
    await connect(cam);
    await ok(cam, (cb) => cam.createPullPointSubscription(cb));
    const [m, ...rest] = messagesOf(await ok<Pulled>(cam, (cb) => cam.pullMessages({}, cb)));
    expect(rest).toEqual([]);
    expect(m?.topic._).toBe(MOTION);
    expect(m?.message.message.$.PropertyOperation).toBe('Initialized');
    expect(() => sim.emitEvent({ topic: 'bad topic <x>', data: {} })).toThrow(/topic/);
  });

  it('filters by topic expression and refuses subscriptions beyond its limit', async () => {
    const sim = await startSim({ events: { maxSubscriptions: 2 } });
    const cam = camFor(sim);
    await connect(cam);
    const create = (filter: string) =>
      rawSoap(cam, {
        service: 'events',
        body: signed(
          cam,
          '<CreatePullPointSubscription xmlns="http://www.onvif.org/ver10/events/wsdl"><Filter>' +
            '<TopicExpression xmlns="http://docs.oasis-open.org/wsn/b-2" ' +
            `Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">${filter}</TopicExpression>` +
            '</Filter><InitialTerminationTime>PT1M</InitialTerminationTime></CreatePullPointSubscription>',
        ),
      });
    const motionOnly = await create(MOTION);
    const devices = await create('tns1:Device//.');
    expect([motionOnly.err, devices.err]).toEqual([null, null]);
    const third = await create(MOTION);
    expect(third.status).toBe(500);
    expect(faultCodes(third.xml)).toContain('wsnt:SubscribeCreationFailedFault');

    sim.emitEvent({
      topic: 'tns1:Device/Trigger/Relay',
      source: { RelayToken: 'r1' },
      data: { LogicalState: 'active' },
    });
    sim.emitEvent(motion(false));
    const address = (o: Outcome<unknown>) =>
      /<wsa:Address>([^<]+)<\/wsa:Address>/.exec(o.xml ?? '')?.[1] ?? '';
    const pullFrom = (href: string) => {
      const u = new URL(href);
      return rawSoap(cam, {
        url: { protocol: 'http:', hostname: u.hostname, port: u.port, path: u.pathname },
        body: signed(
          cam,
          '<PullMessages xmlns="http://www.onvif.org/ver10/events/wsdl"><Timeout>PT0S</Timeout>' +
            '<MessageLimit>10</MessageLimit></PullMessages>',
        ),
      });
    };
    const a = await pullFrom(address(motionOnly));
    const b = await pullFrom(address(devices));
    expect(
      a.xml?.match(/<wsnt:Topic[^>]*>([^<]+)</g)?.map((t) => t.replace(/<[^>]*>|</g, '')),
    ).toEqual([MOTION]);
    expect(
      b.xml?.match(/<wsnt:Topic[^>]*>([^<]+)</g)?.map((t) => t.replace(/<[^>]*>|</g, '')),
    ).toEqual(['tns1:Device/Trigger/Relay']);
  });
});

describe('ONVIF SOAP helpers', () => {
  it('parses namespaces, entities and CDATA, and refuses what is not well-formed', () => {
    const doc = parseXml(
      '<?xml version="1.0"?><!-- c --><a:x xmlns:a="urn:a" xmlns="urn:d"><y k="1 &amp; 2">&lt;t&#65;<![CDATA[<raw>]]></y></a:x>',
    );
    expect(doc).toMatchObject({ local: 'x', ns: 'urn:a' });
    expect(doc.children[0]).toMatchObject({ local: 'y', ns: 'urn:d', text: '<tA<raw>' });
    expect(doc.children[0]?.attributes[0]).toMatchObject({ local: 'k', ns: '', value: '1 & 2' });
    for (const bad of [
      '<a>',
      '<a></b>',
      '<a b="1" b="2"/>',
      '<a>&nope;</a>',
      '<a>x & y</a>',
      '<a/><b/>',
      '<p:a/>',
      'text',
    ]) {
      expect(() => parseXml(bad), bad).toThrow(XmlError);
    }
    expect(() => parseXml('<a>'.repeat(100) + '</a>'.repeat(100))).toThrow(/deeply/);
  });

  it('reads durations, termination times and digest headers', () => {
    expect(parseDuration('PT1M')).toBe(60_000);
    expect(parseDuration('PT0.5S')).toBe(500);
    expect(parseDuration('P1DT2H')).toBe(26 * HOUR);
    expect(parseDuration('PT')).toBeUndefined();
    expect(parseDuration('10')).toBeUndefined();
    expect(formatDuration(1500)).toBe('PT1.5S');
    expect(parseTerminationTime('PT2M', 1000)).toBe(121_000);
    expect(parseTerminationTime('2026-01-01T00:00:00Z', 0)).toBe(Date.UTC(2026, 0, 1));
    expect(parseTerminationTime('tomorrow', 0)).toBeUndefined();
    const p = parseDigestHeader(
      'Digest realm="a, b", qop="auth,auth-int", nonce=abc, algorithm=MD5',
    );
    expect(Object.fromEntries(p ?? [])).toEqual({
      realm: 'a, b',
      qop: 'auth,auth-int',
      nonce: 'abc',
      algorithm: 'MD5',
    });
    expect(parseDigestHeader('Basic abc')).toBeUndefined();
  });
});
