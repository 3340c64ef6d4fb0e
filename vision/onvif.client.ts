/**
 * The ONVIF side of a camera source: ask the camera (through the `onvif` package) for its streams
 * and snapshot URL, and follow its events with a pull-point subscription.
 *
 * Clock skew. Cameras drift, and some have never been set: hours off is common. WS-Security signs
 * every request with a Created time the camera checks against its own clock, so we first ask the
 * camera for its time (GetSystemDateAndTime needs no credentials) and feed the difference into the
 * package's `timeShift`, which it adds to every Created it writes. The same difference, against
 * the injected clock, is reported as `clockSkewMs` and used to bring event times to server time.
 *
 * Faults. Every failure is an OnvifError with a CameraFault: 'offline' (refused, unreachable, no
 * answer in time), 'auth_failed' (the camera refused the credentials), 'unsupported' (it answered,
 * but not as a camera we can use: no media service, no profiles, no RTSP URL, not ONVIF at all).
 */
import { Agent, request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { randomBytes } from 'node:crypto';
import { Cam } from 'onvif';
import type { Clock, TimerHandle } from '../hardware/clock.ts';
import {
  NS,
  XmlError,
  attribute,
  child,
  children,
  descend,
  digestResponse,
  formatDuration,
  parseDateTime,
  parseDigestHeader,
  parseTerminationTime,
  parseXml,
  readSoapFault,
  textOf,
  xmlEscape,
  type XmlElement,
} from './onvif.soap.ts';
import type { CameraFault, CameraStreams } from './vision.ports.ts';

export class OnvifError extends Error {
  override name = 'OnvifError';
  constructor(
    readonly fault: CameraFault,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface OnvifConnectOptions {
  host: string;
  port: number;
  username: string;
  password: string;
  /** Limit for each request and for the whole connect. Default 10 000 ms. */
  timeoutMs?: number;
  clock: Clock;
}

/** One event from the camera, e.g. tns1:VideoSource/MotionAlarm with data { State: 'true' }. */
export interface OnvifEvent {
  topic: string;
  /** Server time (ms): the camera's UtcTime corrected by the clock skew. */
  at: number;
  /** 'Initialized' (current state on subscribing), 'Changed' or 'Deleted'; absent if not a property. */
  operation?: string;
  source: Record<string, string>;
  data: Record<string, string>;
}

export interface OnvifSession {
  /** Camera clock minus the injected clock, ms, measured when the session opened. */
  readonly clockSkewMs: number;
  readonly device?: CameraStreams['device'];
  readonly hasMedia: boolean;
  readonly hasEvents: boolean;
  /** Profiles, stream and snapshot URLs (RTSP URLs carry the credentials). */
  streams(): Promise<CameraStreams>;
  /** Create the session's pull point (one at a time). */
  subscribe(): Promise<void>;
  /** Long-poll the pull point: resolves when events arrive or, empty, after `timeoutMs`. */
  pull(opts: { timeoutMs: number; messageLimit?: number }): Promise<OnvifEvent[]>;
  renew(): Promise<void>;
  unsubscribe(): Promise<void>;
  /** When the camera will drop the pull point unless renewed, injected-clock ms; 0 without one. */
  subscriptionEndsAt(): number;
  /** Cut every request in flight on this session (a held pull ends at once). */
  close(): void;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);
const PULL_ACTION =
  'http://www.onvif.org/ver10/events/wsdl/PullPointSubscription/PullMessagesRequest';

/** The parts of the package's Cam we need that its typings leave out. */
interface CamInternals {
  /** The package's transport: WS-Security header, digest retry on 401, SOAP parsing. */
  _request(
    options: { body: string; action?: string; url?: object; replyTimeout?: number },
    callback: (err: Error | null, data: unknown, xml?: string, statusCode?: number) => void,
  ): void;
  _envelopeHeader(openHeader?: boolean): string;
  _envelopeFooter(): string;
}

type Callback<T> = (err: Error | null, data?: T, xml?: string, statusCode?: number) => void;
interface Answer<T> {
  data: T | undefined;
  xml: string | undefined;
}

/** Call one package method; failures come back as OnvifError naming the ONVIF operation. */
function call<T>(operation: string, invoke: (cb: Callback<T>) => void): Promise<Answer<T>> {
  return new Promise((resolve, reject) => {
    // The package can call back twice when its own parsing throws; the first answer counts.
    let settled = false;
    const cb: Callback<T> = (err, data, xml, statusCode) => {
      if (settled) return;
      settled = true;
      if (err) reject(classify(err, operation, xml, statusCode));
      else resolve({ data, xml });
    };
    try {
      invoke(cb);
    } catch (e) {
      cb(e instanceof Error ? e : new Error(String(e)));
    }
  });
}

/** Map whatever the package or the network threw to a CameraFault. */
export function classify(
  err: unknown,
  operation: string,
  xml?: string,
  statusCode?: number,
): OnvifError {
  if (err instanceof OnvifError) return err;
  const e = err instanceof Error ? err : new Error(String(err));
  const code = (e as NodeJS.ErrnoException).code;
  if ((code && NETWORK_CODES.has(code)) || /Network timeout|socket hang up/i.test(e.message)) {
    const what = /Network timeout/i.test(e.message) ? 'no answer in time' : (code ?? e.message);
    return new OnvifError('offline', `${operation}: camera unreachable (${what})`, { cause: e });
  }
  let fault: ReturnType<typeof readSoapFault>;
  if (xml) {
    try {
      fault = readSoapFault(parseXml(xml, { lenientPrefixes: true }));
    } catch {
      fault = undefined;
    }
  }
  const faultText = fault ? [fault.reason, fault.detail].filter(Boolean).join(': ') : '';
  if (
    statusCode === 401 ||
    /Digest authentication failed/i.test(e.message) ||
    fault?.codes.some((c) => /NotAuthori[sz]ed/i.test(c)) ||
    /not ?authori[sz]ed|unauthori[sz]ed/i.test(e.message)
  ) {
    return new OnvifError(
      'auth_failed',
      `${operation}: the camera refused the credentials${faultText ? ` (${faultText})` : ''}`,
      { cause: e },
    );
  }
  const why = fault ? `${fault.codes.join(' / ')}: ${faultText}` : e.message;
  return new OnvifError('unsupported', `${operation}: ${why}`, { cause: e });
}

function optionsProblem(o: OnvifConnectOptions): string | undefined {
  if (typeof o.host !== 'string' || !o.host.trim()) return 'host is required';
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) return `bad port ${o.port}`;
  if (typeof o.username !== 'string' || typeof o.password !== 'string') {
    return 'username and password must be strings';
  }
  if (o.timeoutMs !== undefined && !(o.timeoutMs > 0)) return `bad timeoutMs ${o.timeoutMs}`;
  return undefined;
}

/** Reject with an 'offline' OnvifError when `work` takes longer than `ms` on the clock. */
function withDeadline<T>(clock: Clock, ms: number, what: string, work: Promise<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = clock.setTimeout(
      () => reject(new OnvifError('offline', `${what}: no answer within ${ms} ms`)),
      ms,
    );
    work.then(
      (v) => {
        clock.clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clock.clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/**
 * Resolve a camera's streams: main (the highest resolution), sub (the smallest usable one, for
 * the detector) and snapshot URL, plus its clock skew and device information.
 */
export async function connectOnvif(opts: OnvifConnectOptions): Promise<CameraStreams> {
  const problem = optionsProblem(opts);
  if (problem) throw new Error(`connectOnvif: ${problem}`);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let session: OnvifSession | undefined;
  const work = (async () => {
    session = await openOnvifSession(opts);
    return session.streams();
  })();
  try {
    return await withDeadline(opts.clock, timeoutMs, `ONVIF ${opts.host}:${opts.port}`, work);
  } finally {
    session?.close();
    // A session that opens after the deadline is closed as soon as it exists.
    work.then(
      () => session?.close(),
      () => session?.close(),
    );
  }
}

/**
 * Open a session: learn the camera's clock, its services and what it is. Everything else
 * (streams, events) goes through the session. `agent` lets the caller cut requests in flight.
 */
export async function openOnvifSession(
  opts: OnvifConnectOptions & { agent?: Agent },
): Promise<OnvifSession> {
  const problem = optionsProblem(opts);
  if (problem) throw new Error(`openOnvifSession: ${problem}`);
  const { clock } = opts;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const ownAgent = !opts.agent;
  const agent = opts.agent ?? new Agent({ keepAlive: false });
  const cam = new Cam({
    hostname: opts.host,
    port: opts.port,
    username: opts.username,
    password: opts.password,
    timeout: timeoutMs,
    autoconnect: false,
    // Cameras behind NAT or port forwarding advertise addresses we cannot reach; keep ours.
    preserveAddress: true,
    agent,
  });
  const internals = cam as unknown as CamInternals;

  try {
    // --- the camera's clock. The package writes Created as process.uptime() + timeShift. Before
    // the camera has told its time, timeShift is set to our own, so that a camera that wants
    // credentials even for GetSystemDateAndTime (the package then retries signed) is not sent a
    // Created in 1970.
    const u0 = process.uptime() * 1000;
    const c0 = clock.now();
    cam.timeShift = c0 - u0;
    const time = await call<Date>('GetSystemDateAndTime', (cb) => cam.getSystemDateAndTime(cb));
    const u1 = process.uptime() * 1000;
    const c1 = clock.now();
    if (!(time.data instanceof Date) || Number.isNaN(time.data.getTime())) {
      throw new OnvifError('unsupported', 'GetSystemDateAndTime: no usable time in the answer');
    }
    // The camera reports whole seconds; its clock was somewhere in the following second.
    const cameraMs = time.data.getTime() + 500;
    cam.timeShift = cameraMs - (u0 + u1) / 2;
    const clockSkewMs = Math.round(cameraMs - (c0 + c1) / 2);

    // --- its services (GetCapabilities for cameras older than GetServices).
    try {
      await call('GetServices', (cb) => cam.getServices(true, cb));
    } catch (e) {
      if (!(e instanceof OnvifError) || e.fault !== 'unsupported') throw e;
      await call('GetCapabilities', (cb) => cam.getCapabilities(cb));
    }
    const uri = cam.uri ?? {};
    const hasMedia = Boolean(uri.media || (cam.media2Support && uri.media2));
    const hasEvents = Boolean(uri.events);

    // --- what it is. Read from the raw XML: the package turns "1.10" into the number 1.1.
    let device: CameraStreams['device'];
    try {
      const info = await call('GetDeviceInformation', (cb) => cam.getDeviceInformation(cb));
      device = readDeviceInformation(info.xml);
    } catch (e) {
      if (!(e instanceof OnvifError) || e.fault !== 'unsupported') throw e;
      device = undefined;
    }

    let endsAt = 0;
    const trackTermination = (response: XmlElement | undefined) => {
      const current = parseDateTime(textOf(child(response, 'CurrentTime')) ?? '');
      const termination = textOf(child(response, 'TerminationTime')) ?? '';
      const cameraNow = current ?? clock.now() + clockSkewMs;
      const end = parseTerminationTime(termination, cameraNow);
      if (end !== undefined) endsAt = clock.now() + (end - cameraNow);
    };
    const body = (xml: string | undefined, operation: string): XmlElement | undefined => {
      try {
        return xml ? child(parseXml(xml, { lenientPrefixes: true }), 'Body') : undefined;
      } catch (e) {
        if (e instanceof XmlError)
          throw new OnvifError('unsupported', `${operation}: ${e.message}`);
        throw e;
      }
    };

    const session: OnvifSession = {
      clockSkewMs,
      device,
      hasMedia,
      hasEvents,
      streams: () => resolveStreams(cam, opts, { clockSkewMs, device, hasMedia }),
      async subscribe() {
        if (!hasEvents) throw new OnvifError('unsupported', 'the camera has no event service');
        const answer = await call('CreatePullPointSubscription', (cb) =>
          cam.createPullPointSubscription(cb),
        );
        trackTermination(
          child(
            body(answer.xml, 'CreatePullPointSubscription'),
            'CreatePullPointSubscriptionResponse',
          ),
        );
      },
      async pull({ timeoutMs: pullMs, messageLimit = 100 }) {
        const subscription = (cam.events.subscription ?? undefined) as
          | {
              subscriptionReference?: {
                address?: PullAddress;
                referenceParameters?: { subscriptionId?: unknown };
              };
            }
          | undefined;
        const address = subscription?.subscriptionReference?.address;
        if (!address?.hostname || !address.path) {
          throw new OnvifError('unsupported', 'PullMessages: no pull point (subscribe first)');
        }
        const subscriptionId =
          subscription?.subscriptionReference?.referenceParameters?.subscriptionId;
        // Our own PullMessages, sent through the package's transport: its pullMessages() always
        // asks for a one-minute Timeout and cannot be cut short when we close.
        const envelope =
          internals._envelopeHeader(true) +
          (subscriptionId === undefined
            ? `<a:To>${xmlEscape(address.href ?? '')}</a:To>`
            : `<a:To mustUnderstand="1">${xmlEscape(address.href ?? '')}</a:To>` +
              `<SubscriptionId xmlns="http://www.axis.com/2009/event" a:IsReferenceParameter="true">` +
              `${xmlEscape(String(subscriptionId))}</SubscriptionId>`) +
          '</s:Header><s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ' +
          'xmlns:xsd="http://www.w3.org/2001/XMLSchema">' +
          `<PullMessages xmlns="${NS.tev}"><Timeout>${formatDuration(pullMs)}</Timeout>` +
          `<MessageLimit>${Math.max(1, Math.floor(messageLimit))}</MessageLimit></PullMessages>` +
          internals._envelopeFooter();
        const answer = await call<unknown>('PullMessages', (cb) =>
          internals._request(
            {
              url: {
                protocol: 'http:',
                hostname: address.hostname,
                port: address.port,
                path: address.path,
                agent,
              },
              body: envelope,
              action: PULL_ACTION,
              // The camera holds the request up to its Timeout; only silence beyond that is a fault.
              replyTimeout: pullMs + timeoutMs,
            },
            cb,
          ),
        );
        const response = child(body(answer.xml, 'PullMessages'), 'PullMessagesResponse');
        if (!response) throw new OnvifError('unsupported', 'PullMessages: no PullMessagesResponse');
        trackTermination(response);
        return readNotifications(response, clockSkewMs, clock);
      },
      async renew() {
        const answer = await call('Renew', (cb) => cam.renew({}, cb));
        trackTermination(child(body(answer.xml, 'Renew'), 'RenewResponse'));
      },
      async unsubscribe() {
        endsAt = 0;
        await call('Unsubscribe', (cb) => cam.unsubscribe(cb, true));
      },
      subscriptionEndsAt: () => endsAt,
      close() {
        if (ownAgent) agent.destroy();
      },
    };
    return session;
  } catch (e) {
    if (ownAgent) agent.destroy();
    throw e;
  }
}

interface PullAddress {
  hostname?: string | null;
  port?: string | number | null;
  path?: string | null;
  href?: string;
}

function readDeviceInformation(xml: string | undefined): CameraStreams['device'] {
  if (!xml) return undefined;
  let info: XmlElement | undefined;
  try {
    info = descend(
      parseXml(xml, { lenientPrefixes: true }),
      'Body',
      'GetDeviceInformationResponse',
    );
  } catch {
    return undefined;
  }
  if (!info) return undefined;
  const field = (name: string) => textOf(child(info, name)) ?? '';
  return {
    manufacturer: field('Manufacturer'),
    model: field('Model'),
    firmwareVersion: field('FirmwareVersion'),
    serialNumber: field('SerialNumber'),
  };
}

function readNotifications(response: XmlElement, clockSkewMs: number, clock: Clock): OnvifEvent[] {
  const items = (el: XmlElement | undefined) => {
    const out: Record<string, string> = {};
    for (const item of children(el, 'SimpleItem')) {
      const name = attribute(item, 'Name');
      if (name !== undefined) out[name] = attribute(item, 'Value') ?? '';
    }
    return out;
  };
  return children(response, 'NotificationMessage').map((n) => {
    const message = descend(n, 'Message', 'Message');
    const utc = parseDateTime(attribute(message, 'UtcTime') ?? '');
    const operation = attribute(message, 'PropertyOperation');
    return {
      topic: textOf(child(n, 'Topic')) ?? '',
      at: utc === undefined ? clock.now() : utc - clockSkewMs,
      ...(operation ? { operation } : {}),
      source: items(child(message, 'Source')),
      data: items(child(message, 'Data')),
    };
  });
}

interface ProfileInfo {
  token: string;
  width: number;
  height: number;
  encoding: string;
}

function readProfiles(raw: unknown): ProfileInfo[] {
  const list = Array.isArray(raw) ? raw : raw ? [raw] : [];
  const out: ProfileInfo[] = [];
  for (const p of list as Record<string, unknown>[]) {
    const token = (p.$ as { token?: unknown } | undefined)?.token;
    const encoder = p.videoEncoderConfiguration as
      { encoding?: unknown; resolution?: { width?: unknown; height?: unknown } } | undefined;
    const width = Number(encoder?.resolution?.width);
    const height = Number(encoder?.resolution?.height);
    if (typeof token !== 'string' || !(width > 0) || !(height > 0)) continue;
    out.push({ token, width, height, encoding: String(encoder?.encoding ?? '') });
  }
  return out;
}

/** Smallest sub stream the detector still gets a usable picture from. */
const MIN_SUB_WIDTH = 320;

async function resolveStreams(
  cam: Cam,
  opts: OnvifConnectOptions,
  known: { clockSkewMs: number; device: CameraStreams['device']; hasMedia: boolean },
): Promise<CameraStreams> {
  if (!known.hasMedia) {
    throw new OnvifError('unsupported', 'the device has no media service (not a camera?)');
  }
  let profilesAnswer: Answer<unknown>;
  try {
    profilesAnswer = await call('GetProfiles', (cb) => cam.getProfiles(cb));
  } catch (e) {
    // Some cameras advertise Media2 and then fail it; Media1 is what Profile S promises.
    if (!cam.media2Support || !(e instanceof OnvifError) || e.fault !== 'unsupported') throw e;
    cam.media2Support = false;
    profilesAnswer = await call('GetProfiles', (cb) => cam.getProfiles(cb));
  }
  const profiles = readProfiles(profilesAnswer.data);
  if (profiles.length === 0) throw new OnvifError('unsupported', 'GetProfiles: no video profiles');
  const byArea = [...profiles].sort((a, b) => b.width * b.height - a.width * a.height);
  const main = byArea[0] as ProfileInfo;
  // Prefer a compressed (not MJPEG) sub stream, and not a thumbnail-sized one.
  const rest = byArea.slice(1);
  const compressed = rest.filter((p) => p.encoding !== 'JPEG');
  const pool = compressed.length > 0 ? compressed : rest;
  const usable = pool.filter((p) => p.width >= MIN_SUB_WIDTH);
  const sub = usable[usable.length - 1] ?? pool[pool.length - 1] ?? main;

  const streamUrl = async (p: ProfileInfo) => {
    const answer = await call<{ uri?: unknown }>('GetStreamUri', (cb) =>
      cam.getStreamUri({ protocol: 'RTSP', stream: 'RTP-Unicast', profileToken: p.token }, cb),
    );
    const uri = answer.data?.uri;
    if (typeof uri !== 'string' || !/^rtsps?:\/\//i.test(uri)) {
      throw new OnvifError('unsupported', `GetStreamUri: no RTSP URL for profile ${p.token}`);
    }
    return withRtspCredentials(uri, opts.username, opts.password);
  };
  const mainUrl = await streamUrl(main);
  const subUrl = sub === main ? mainUrl : await streamUrl(sub);

  let snapshotUrl: string | undefined;
  try {
    const answer = await call<{ uri?: unknown }>('GetSnapshotUri', (cb) =>
      cam.getSnapshotUri({ profileToken: main.token }, cb),
    );
    const uri = answer.data?.uri;
    if (typeof uri === 'string' && /^https?:\/\//i.test(uri)) snapshotUrl = uri;
  } catch (e) {
    // No snapshots is allowed; a camera that vanished or refuses us is not.
    if (!(e instanceof OnvifError) || e.fault !== 'unsupported') throw e;
  }
  return {
    mainUrl,
    subUrl,
    ...(snapshotUrl ? { snapshotUrl } : {}),
    clockSkewMs: known.clockSkewMs,
    ...(known.device ? { device: known.device } : {}),
  };
}

/**
 * The recorder and the detector open RTSP URLs with nothing else to go on, so the credentials go
 * into the URL (percent-encoded: passwords have '@', ':' and '/'), unless it already has some.
 */
export function withRtspCredentials(uri: string, username: string, password: string): string {
  const m = /^(rtsps?:\/\/)([^/?#]*)(.*)$/is.exec(uri);
  if (!m || !username) return uri;
  const [, scheme, authority, rest] = m as unknown as [string, string, string, string];
  if (authority.includes('@')) return uri;
  return `${scheme}${encodeURIComponent(username)}:${encodeURIComponent(password)}@${authority}${rest}`;
}

// -------------------------------------------------------------------------------------------
// Events

export interface OnvifEventOptions extends OnvifConnectOptions {
  onEvent(event: OnvifEvent): void;
  /**
   * Each failed round: an OnvifError for the camera's side (the loop goes on, with backoff),
   * or the Error an `onEvent` call threw (the loop goes on too).
   */
  onError?(error: Error): void;
  /** PullMessages Timeout. Default 60 000 ms (cameras must support one minute). */
  pullTimeoutMs?: number;
  /** Default 100. */
  messageLimit?: number;
  /** First retry delay after a failure; doubles per failure up to `maxBackoffMs`. Default 500. */
  backoffMs?: number;
  /** Default 30 000 ms. */
  maxBackoffMs?: number;
}

export interface OnvifEventSubscription {
  /** Stop pulling, end the held pull at once and unsubscribe at the camera. */
  close(): Promise<void>;
}

/** Renew when less than this (beyond one pull) is left before the camera drops the pull point. */
const RENEW_MARGIN_MS = 15_000;

/**
 * Follow a camera's events: pull-point subscription, long-poll PullMessages in a loop, renew
 * before termination. Failures back off exponentially on the clock and start over: an 'offline'
 * or 'auth_failed' round opens a new session (so a camera clock that jumped is learnt again),
 * anything else makes a new pull point.
 */
export function subscribeOnvifEvents(opts: OnvifEventOptions): OnvifEventSubscription {
  const problem = optionsProblem(opts);
  if (problem) throw new Error(`subscribeOnvifEvents: ${problem}`);
  const { clock } = opts;
  const pullTimeoutMs = opts.pullTimeoutMs ?? 60_000;
  const firstBackoff = opts.backoffMs ?? 500;
  const maxBackoff = opts.maxBackoffMs ?? 30_000;
  // One agent for every request of the loop: destroying it cuts a held pull when we close.
  const agent = new Agent({ keepAlive: false });
  let closed = false;
  let session: OnvifSession | undefined;
  let subscribed = false;
  let wake: (() => void) | undefined;
  let sleepTimer: TimerHandle | undefined;

  const report = (error: Error) => {
    try {
      opts.onError?.(error);
    } catch {
      // A failing error handler must not stop the event loop.
    }
  };
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      wake = resolve;
      sleepTimer = clock.setTimeout(resolve, ms);
    });

  const loop = async () => {
    let backoff = firstBackoff;
    while (!closed) {
      try {
        session ??= await openOnvifSession({ ...opts, agent });
        if (closed) break;
        if (!subscribed) {
          await session.subscribe();
          subscribed = true;
        }
        const events = await session.pull({
          timeoutMs: pullTimeoutMs,
          messageLimit: opts.messageLimit,
        });
        if (closed) break;
        for (const event of events) {
          try {
            opts.onEvent(event);
          } catch (e) {
            report(e instanceof Error ? e : new Error(String(e)));
          }
        }
        if (session.subscriptionEndsAt() - clock.now() < pullTimeoutMs + RENEW_MARGIN_MS) {
          await session.renew();
        }
        backoff = firstBackoff;
      } catch (e) {
        if (closed) break;
        const error = classify(e, 'events');
        report(error);
        if (error.fault === 'offline' || error.fault === 'auth_failed') session = undefined;
        subscribed = false;
        await sleep(backoff);
        backoff = Math.min(backoff * 2, maxBackoff);
      }
    }
  };
  const running = loop();

  return {
    async close() {
      if (closed) return;
      closed = true;
      if (sleepTimer) clock.clearTimeout(sleepTimer);
      wake?.();
      agent.destroy();
      await running;
      if (session && subscribed) {
        // Cameras allow few pull points; give ours back rather than let it run out its time.
        await session.unsubscribe().catch(() => undefined);
      }
    },
  };
}

// -------------------------------------------------------------------------------------------
// Snapshots

export interface SnapshotFetchOptions {
  url: string;
  username: string;
  password: string;
  timeoutMs?: number;
}

const MAX_SNAPSHOT_BYTES = 16 * 1024 * 1024;

/**
 * GET a camera's snapshot URL, answering an HTTP digest challenge (qop=auth, MD5) when the camera
 * sends one. Resolves with the JPEG; rejects with an OnvifError.
 */
export async function fetchSnapshot(opts: SnapshotFetchOptions): Promise<Buffer> {
  const url = URL.canParse(opts.url) ? new URL(opts.url) : undefined;
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new Error(`fetchSnapshot: not an http(s) URL: ${opts.url}`);
  }
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const uri = `${url.pathname}${url.search}`;
  let res = await get(url, timeoutMs);
  if (res.status === 401) {
    const challenge = res.headers
      .map((h) => parseDigestHeader(h))
      .find((p) => p && (!p.get('algorithm') || p.get('algorithm')?.toUpperCase() === 'MD5'));
    const qops = (challenge?.get('qop') ?? '').split(',').map((q) => q.trim());
    if (!challenge || !qops.includes('auth')) {
      throw new OnvifError(
        'auth_failed',
        `snapshot: the camera wants an authentication we do not speak`,
      );
    }
    const nonce = challenge.get('nonce') ?? '';
    const realm = challenge.get('realm') ?? '';
    const cnonce = randomBytes(8).toString('hex');
    const nc = '00000001';
    const response = digestResponse({
      username: opts.username,
      password: opts.password,
      realm,
      method: 'GET',
      uri,
      nonce,
      nc,
      cnonce,
      qop: 'auth',
    });
    const q = (s: string) => `"${s.replace(/["\\]/g, '\\$&')}"`;
    const opaque = challenge.get('opaque');
    const authorization =
      `Digest username=${q(opts.username)}, realm=${q(realm)}, nonce=${q(nonce)}, uri=${q(uri)}, ` +
      `algorithm=MD5, qop=auth, nc=${nc}, cnonce=${q(cnonce)}, response=${q(response)}` +
      (opaque !== undefined ? `, opaque=${q(opaque)}` : '');
    res = await get(url, timeoutMs, authorization);
    if (res.status === 401)
      throw new OnvifError('auth_failed', 'snapshot: the camera refused the credentials');
  }
  if (res.status !== 200) throw new OnvifError('unsupported', `snapshot: HTTP ${res.status}`);
  if (res.body.length < 4 || res.body[0] !== 0xff || res.body[1] !== 0xd8) {
    throw new OnvifError('unsupported', 'snapshot: the answer is not a JPEG');
  }
  return res.body;
}

function get(
  url: URL,
  timeoutMs: number,
  authorization?: string,
): Promise<{ status: number; headers: string[]; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(
      url,
      {
        method: 'GET',
        headers: authorization ? { Authorization: authorization } : {},
        agent: false,
      },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_SNAPSHOT_BYTES) {
            req.destroy();
            reject(
              new OnvifError('unsupported', `snapshot: larger than ${MAX_SNAPSHOT_BYTES} bytes`),
            );
          } else chunks.push(c);
        });
        res.on('end', () => {
          const headers: string[] = [];
          for (let i = 0; i < res.rawHeaders.length; i += 2) {
            if (res.rawHeaders[i]?.toLowerCase() === 'www-authenticate')
              headers.push(res.rawHeaders[i + 1] ?? '');
          }
          resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks) });
        });
        res.on('error', (e) => reject(classify(e, 'snapshot')));
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error('Network timeout')));
    req.on('error', (e) => reject(classify(e, 'snapshot')));
    req.end();
  });
}
