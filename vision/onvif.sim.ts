/**
 * An ONVIF camera of our own (Profile S, SOAP 1.2 over HTTP), for tests, the demo site and for
 * checking the ONVIF client against something that behaves like the cameras in the field:
 *
 * - Device: GetSystemDateAndTime (the only call without credentials, as the ONVIF core spec wants
 *   so a client can learn the camera's clock before it signs anything), GetCapabilities,
 *   GetServices, GetDeviceInformation.
 * - Media: GetProfiles (a main and a sub profile by default), GetVideoSources, GetStreamUri (the
 *   configured RTSP URL of each profile), GetSnapshotUri (a JPEG served by the sim itself from an
 *   injected provider).
 * - Events: CreatePullPointSubscription, PullMessages with a real long poll (the request is held
 *   until an event arrives or its Timeout runs out, on timers of the injected clock), Renew and
 *   Unsubscribe; `emitEvent()` raises e.g. tns1:VideoSource/MotionAlarm. A new subscription first
 *   gets the current state of every property event ("Initialized"), as cameras do.
 * - Auth: a WS-Security UsernameToken with PasswordDigest (its Created time must be within a
 *   tolerance of the SIM's clock, which may be skewed on purpose, and a nonce is good once), or HTTP
 *   digest (RFC 7616, qop=auth, MD5). A bad UsernameToken answers 400 with ter:NotAuthorized, a
 *   missing or bad digest 401 with a fresh challenge, as the ONVIF core spec describes.
 *
 * Junk never crashes it: bad XML, a wrong envelope or an unknown operation each get a SOAP fault
 * and the sim keeps serving. Every URL it hands out points at itself or comes from the options.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { systemClock, type Clock, type TimerHandle } from '../hardware/clock.ts';
import {
  NS,
  PASSWORD_DIGEST_TYPE,
  XmlError,
  attribute,
  child,
  children,
  descend,
  digestResponse,
  isoTime,
  parseDateTime,
  parseDigestHeader,
  parseDuration,
  parseTerminationTime,
  parseXml,
  safeEqual,
  soapEnvelope,
  soapFaultBody,
  textOf,
  wsPasswordDigest,
  xmlEscape,
  type SoapFault,
  type XmlElement,
} from './onvif.soap.ts';

export interface OnvifSimProfile {
  /** Profile token, e.g. 'main'; letters, digits, '_', '-', '.' only. */
  token: string;
  name: string;
  width: number;
  height: number;
  fps: number;
  encoding: 'H264' | 'H265' | 'JPEG';
  bitrateKbps: number;
  /** What GetStreamUri answers for this profile (the RTSP server is not part of the sim). */
  streamUrl: string;
}

export interface OnvifSimDevice {
  manufacturer: string;
  model: string;
  firmwareVersion: string;
  serialNumber: string;
  hardwareId: string;
}

export interface OnvifSimAuthOptions {
  /** Accept WS-Security UsernameToken (PasswordDigest). Default true. */
  wsUsernameToken?: boolean;
  /** Accept HTTP digest. Default true. */
  digest?: boolean;
  /** How far a UsernameToken's Created may be from the sim's clock. Default 30 000 ms. */
  createdToleranceMs?: number;
  /** How long a digest nonce is good for before the challenge says stale. Default 300 000 ms. */
  nonceLifetimeMs?: number;
  /** Digest realm. Default 'Parcelroom ONVIF Simulator'. */
  realm?: string;
}

export interface OnvifSimEventOptions {
  /** PullMessages Timeouts above this are cut to it. Default 60 000 ms (what ONVIF requires). */
  maxPullTimeoutMs?: number;
  /** Termination when CreatePullPointSubscription names none. Default 60 000 ms. */
  defaultTerminationMs?: number;
  /** Subscriptions alive at once; one more is refused, as on real cameras. Default 10. */
  maxSubscriptions?: number;
  /** Messages kept per subscription; the oldest are dropped beyond this. Default 1000. */
  maxQueue?: number;
}

export interface OnvifSimOptions {
  /** Listen address. Default 127.0.0.1. */
  host?: string;
  /** Listen port; 0 or absent picks a free one. */
  port?: number;
  /** Host written into XAddrs and the snapshot URL. Default: the listen host. */
  advertisedHost?: string;
  username: string;
  password: string;
  /** Time source for the camera clock, long polls and subscription lifetimes. Default system. */
  clock?: Clock;
  /** Camera clock minus the clock's time, ms (cameras drift; some are hours off). Default 0. */
  clockSkewMs?: number;
  device?: Partial<OnvifSimDevice>;
  /** Main/sub RTSP URLs for the default profiles (1920×1080 main, 640×360 sub). */
  streams?: { mainUrl: string; subUrl: string };
  /** Profiles in full; replaces the defaults built from `streams`. */
  profiles?: OnvifSimProfile[];
  /** false: a device without a media service (a door controller, not a camera). Default true. */
  media?: boolean;
  /** JPEG for GetSnapshotUri's URL; without it the device offers no snapshots. */
  snapshot?: (profileToken: string) => Promise<Buffer>;
  /** Whether the snapshot URL wants HTTP digest, like most cameras. Default true. */
  snapshotAuth?: boolean;
  auth?: OnvifSimAuthOptions;
  events?: OnvifSimEventOptions;
}

type EventValue = string | number | boolean;

export interface OnvifSimEvent {
  /** Concrete topic, e.g. 'tns1:VideoSource/MotionAlarm'. */
  topic: string;
  /** Source SimpleItems, e.g. { Source: 'video_source_0' }. */
  source?: Record<string, EventValue>;
  /** Data SimpleItems, e.g. { State: true }. */
  data: Record<string, EventValue>;
  /** Property operation; default 'Changed'. Ignored when `property` is false. */
  operation?: 'Changed' | 'Initialized' | 'Deleted';
  /**
   * A property event (motion, an input's state) has a current state that new subscriptions are
   * told first; a one-off (a line crossed) has none and no PropertyOperation. Default true.
   */
  property?: boolean;
}

export interface OnvifSimStats {
  requests: number;
  faults: number;
  authenticated: { wsUsernameToken: number; digest: number };
  rejected: { wsUsernameToken: number; digest: number; missing: number };
  subscriptions: number;
  /** PullMessages requests being held open right now. */
  heldPulls: number;
  droppedEvents: number;
}

export interface OnvifSim {
  readonly host: string;
  readonly port: number;
  /** http://host:port/onvif/device_service */
  readonly deviceServiceUrl: string;
  /** The camera's clock (the injected clock plus the skew), ms. */
  now(): number;
  setClockSkew(ms: number): void;
  /** Raise an event on every live subscription (whose filter takes it). */
  emitEvent(event: OnvifSimEvent): void;
  stats(): OnvifSimStats;
  /** Stop serving; held long polls are answered (empty) first. */
  close(): Promise<void>;
}

/** The one video source every default profile reads from. */
export const SIM_VIDEO_SOURCE_TOKEN = 'video_source_0';

const MAX_BODY_BYTES = 1024 * 1024;
const SOAP_PATHS = {
  device: '/onvif/device_service',
  media: '/onvif/media_service',
  events: '/onvif/events_service',
} as const;
const SUBSCRIPTION_PREFIX = '/onvif/subscription/';
const SNAPSHOT_PREFIX = '/onvif/snapshot/';
const TOKEN_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const SOAP_CONTENT_TYPE = 'application/soap+xml; charset=utf-8';

/** A fault raised by an operation handler; the HTTP status follows the SOAP 1.2 binding. */
class FaultError extends Error {
  constructor(
    readonly fault: SoapFault,
    readonly status: number = fault.code === 'Sender' ? 400 : 500,
  ) {
    super(fault.reason);
  }
}

const sender = (subcodes: string[], reason: string, detail?: string) =>
  new FaultError({ code: 'Sender', subcodes, reason, detail });
const receiver = (subcodes: string[], reason: string, detail?: string) =>
  new FaultError({ code: 'Receiver', subcodes, reason, detail });
const notSupported = (what: string) =>
  receiver(['ter:ActionNotSupported'], 'Optional Action Not Implemented', what);

interface QueuedMessage {
  topic: string;
  at: number;
  /** Undefined for a one-off (not a property) event. */
  operation: 'Changed' | 'Initialized' | 'Deleted' | undefined;
  source: [string, string][];
  data: [string, string][];
}

interface HeldPull {
  respond: () => void;
  timer: TimerHandle;
  res: ServerResponse;
}

interface Subscription {
  id: string;
  terminationAt: number;
  expiry: TimerHandle | undefined;
  queue: QueuedMessage[];
  filter: ((topic: string) => boolean) | undefined;
  held: HeldPull | undefined;
}

interface Request {
  req: IncomingMessage;
  res: ServerResponse;
  path: string;
  op: XmlElement;
}

type Reply = { status: number; body: string; headers?: Record<string, string> };

export async function createOnvifSim(opts: OnvifSimOptions): Promise<OnvifSim> {
  const profiles = resolveProfiles(opts);
  const clock = opts.clock ?? systemClock();
  let skewMs = opts.clockSkewMs ?? 0;
  const now = () => clock.now() + skewMs;
  const device: OnvifSimDevice = {
    manufacturer: 'Parcelroom',
    model: 'ONVIF Simulator',
    firmwareVersion: '1.0.0',
    serialNumber: 'SIM-0001',
    hardwareId: 'parcelroom-sim',
    ...opts.device,
  };
  const mediaEnabled = opts.media ?? true;
  const auth = {
    wsse: opts.auth?.wsUsernameToken ?? true,
    digest: opts.auth?.digest ?? true,
    toleranceMs: opts.auth?.createdToleranceMs ?? 30_000,
    nonceLifetimeMs: opts.auth?.nonceLifetimeMs ?? 300_000,
    realm: opts.auth?.realm ?? 'Parcelroom ONVIF Simulator',
  };
  if (!auth.wsse && !auth.digest) throw new Error('onvif sim: enable at least one auth method');
  if (!opts.username) throw new Error('onvif sim: username is required');
  const eventLimits = {
    maxPullTimeoutMs: opts.events?.maxPullTimeoutMs ?? 60_000,
    defaultTerminationMs: opts.events?.defaultTerminationMs ?? 60_000,
    maxSubscriptions: opts.events?.maxSubscriptions ?? 10,
    maxQueue: opts.events?.maxQueue ?? 1000,
  };
  const snapshotAuth = opts.snapshotAuth ?? true;
  const listenHost = opts.host ?? '127.0.0.1';

  // A per-instance secret signs digest nonces, so they need no table and cannot be forged.
  const nonceSecret = randomBytes(32);
  const opaque = randomBytes(12).toString('hex');
  // UsernameToken nonces seen within the tolerance window: a captured request replayed is refused.
  const seenNonces = new Map<string, number>();
  // The last nonce count per digest nonce (oldest dropped first; nonces expire anyway).
  const nonceCounts = new Map<string, number>();

  const stats = {
    requests: 0,
    faults: 0,
    authenticated: { wsUsernameToken: 0, digest: 0 },
    rejected: { wsUsernameToken: 0, digest: 0, missing: 0 },
    droppedEvents: 0,
  };
  const subscriptions = new Map<string, Subscription>();
  // Property events' current state, replayed as 'Initialized' to each new subscription.
  const properties = new Map<string, QueuedMessage>();
  let closing = false;
  let port = 0;

  const hostForUrl = () => {
    const h = opts.advertisedHost ?? (listenHost === '0.0.0.0' ? '127.0.0.1' : listenHost);
    return h.includes(':') ? `[${h}]` : h;
  };
  const baseUrl = () => `http://${hostForUrl()}:${port}`;

  // ------------------------------------------------------------------------------ auth

  const makeNonce = () => {
    const issued = String(now());
    const sig = createHmac('sha256', nonceSecret).update(issued).digest('base64url').slice(0, 24);
    return Buffer.from(`${issued}:${sig}`).toString('base64url');
  };
  /** 'ok', 'stale' (ours but too old) or 'bad'. */
  const checkNonce = (nonce: string): 'ok' | 'stale' | 'bad' => {
    const [issued, sig] = Buffer.from(nonce, 'base64url').toString('utf8').split(':');
    if (!issued || !sig || !/^\d+$/.test(issued)) return 'bad';
    const want = createHmac('sha256', nonceSecret).update(issued).digest('base64url').slice(0, 24);
    if (!safeEqual(sig, want)) return 'bad';
    const age = now() - Number(issued);
    return age >= 0 && age <= auth.nonceLifetimeMs ? 'ok' : 'stale';
  };
  const challenge = (stale: boolean) =>
    `Digest realm="${auth.realm}", qop="auth", nonce="${makeNonce()}", opaque="${opaque}", ` +
    `algorithm=MD5${stale ? ', stale=TRUE' : ''}`;

  /** Verify an `Authorization: Digest ...` header; undefined when it is good. */
  const digestProblem = (req: IncomingMessage): { why: string; stale: boolean } | undefined => {
    const p = parseDigestHeader(req.headers.authorization ?? '');
    if (!p) return { why: 'Authorization header is not a digest one', stale: false };
    const get = (k: string) => p.get(k) ?? '';
    const algorithm = get('algorithm').toUpperCase();
    if (algorithm && algorithm !== 'MD5') return { why: `algorithm ${algorithm}`, stale: false };
    if (get('qop') !== 'auth') return { why: 'qop must be auth', stale: false };
    if (!/^[0-9a-fA-F]{8}$/.test(get('nc')) || !get('cnonce')) {
      return { why: 'nc/cnonce missing', stale: false };
    }
    if (get('realm') !== auth.realm) return { why: 'wrong realm', stale: false };
    if (get('uri') !== (req.url ?? ''))
      return { why: 'uri does not match the request', stale: false };
    const nonceState = checkNonce(get('nonce'));
    if (nonceState !== 'ok') return { why: `nonce ${nonceState}`, stale: nonceState === 'stale' };
    const want = digestResponse({
      username: opts.username,
      password: opts.password,
      realm: auth.realm,
      method: req.method ?? 'POST',
      uri: get('uri'),
      nonce: get('nonce'),
      nc: get('nc'),
      cnonce: get('cnonce'),
      qop: 'auth',
    });
    if (!safeEqual(get('username'), opts.username) || !safeEqual(get('response'), want)) {
      return { why: 'wrong username or password', stale: false };
    }
    // Each use of a nonce must count up (RFC 7616 nc): a captured header replayed is refused.
    const nc = parseInt(get('nc'), 16);
    if (nc <= (nonceCounts.get(get('nonce')) ?? 0)) {
      return { why: 'nonce count replayed', stale: false };
    }
    nonceCounts.delete(get('nonce'));
    nonceCounts.set(get('nonce'), nc);
    for (const k of nonceCounts.keys()) {
      if (nonceCounts.size <= 10_000) break;
      nonceCounts.delete(k);
    }
    return undefined;
  };

  /** Verify a UsernameToken; undefined when it is good (and its nonce is then spent). */
  const usernameTokenProblem = (token: XmlElement): string | undefined => {
    const username = textOf(child(token, 'Username', NS.wsse)) ?? '';
    const passwordEl = child(token, 'Password', NS.wsse);
    const nonceText = textOf(child(token, 'Nonce', NS.wsse)) ?? '';
    const created = textOf(child(token, 'Created', NS.wsu)) ?? '';
    if (!passwordEl) return 'no Password';
    if (attribute(passwordEl, 'Type') !== PASSWORD_DIGEST_TYPE) {
      return 'only PasswordDigest is accepted';
    }
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(nonceText)) return 'Nonce is not base64';
    const createdMs = parseDateTime(created);
    if (createdMs === undefined) return 'Created is not a dateTime';
    if (Math.abs(now() - createdMs) > auth.toleranceMs) {
      return `Created ${created} is more than ${auth.toleranceMs} ms from the device clock ${isoTime(now())}`;
    }
    const want = wsPasswordDigest(Buffer.from(nonceText, 'base64'), created, opts.password);
    if (!safeEqual(username, opts.username) || !safeEqual(passwordEl.text.trim(), want)) {
      return 'wrong username or password';
    }
    const key = `${nonceText}|${created}`;
    if (seenNonces.has(key)) return 'Nonce already used';
    rememberNonce(key, createdMs + 2 * auth.toleranceMs);
    return undefined;
  };

  const rememberNonce = (key: string, until: number) => {
    const t = now();
    for (const [k, expires] of seenNonces) {
      if (expires > t && seenNonces.size < 50_000) break;
      seenNonces.delete(k);
    }
    seenNonces.set(key, until);
  };

  const notAuthorized = (status: number, detail: string, stale = false): Reply => ({
    status,
    body: soapEnvelope(
      soapFaultBody({
        code: 'Sender',
        subcodes: ['ter:NotAuthorized'],
        reason: 'Sender not Authorized',
        detail,
      }),
    ),
    headers: status === 401 ? { 'WWW-Authenticate': challenge(stale) } : {},
  });

  /**
   * Either method is enough. A bad UsernameToken is a 400 (the client must not fall back to
   * digest with credentials that just failed); no credentials, or bad digest ones, a 401 with a
   * fresh challenge.
   */
  const authenticate = (req: IncomingMessage, header: XmlElement | undefined): Reply | null => {
    let wsseWhy: string | undefined;
    const token = descend(child(header, 'Security', NS.wsse), 'UsernameToken');
    if (auth.wsse && token) {
      wsseWhy = usernameTokenProblem(token);
      if (!wsseWhy) {
        stats.authenticated.wsUsernameToken++;
        return null;
      }
    }
    if (auth.digest && req.headers.authorization) {
      const problem = digestProblem(req);
      if (!problem) {
        stats.authenticated.digest++;
        return null;
      }
      stats.rejected.digest++;
      return notAuthorized(401, `HTTP digest: ${problem.why}`, problem.stale);
    }
    if (wsseWhy) {
      stats.rejected.wsUsernameToken++;
      return notAuthorized(400, `UsernameToken: ${wsseWhy}`);
    }
    stats.rejected.missing++;
    return notAuthorized(auth.digest ? 401 : 400, 'no credentials');
  };

  // ------------------------------------------------------------------------------ device

  const xaddr = (path: string) => `${baseUrl()}${path}`;

  const systemDateAndTime = () => {
    const d = new Date(now());
    const dateTime =
      `<tt:Time><tt:Hour>${d.getUTCHours()}</tt:Hour><tt:Minute>${d.getUTCMinutes()}</tt:Minute>` +
      `<tt:Second>${d.getUTCSeconds()}</tt:Second></tt:Time><tt:Date><tt:Year>${d.getUTCFullYear()}` +
      `</tt:Year><tt:Month>${d.getUTCMonth() + 1}</tt:Month><tt:Day>${d.getUTCDate()}</tt:Day></tt:Date>`;
    return (
      `<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>` +
      `<tt:DateTimeType>Manual</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>` +
      `<tt:TimeZone><tt:TZ>UTC0</tt:TZ></tt:TimeZone>` +
      `<tt:UTCDateTime>${dateTime}</tt:UTCDateTime><tt:LocalDateTime>${dateTime}</tt:LocalDateTime>` +
      `</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>`
    );
  };

  const capabilities = (r: Request) => {
    const categories = children(r.op, 'Category').map((c) => c.text.trim());
    const want = (c: string) =>
      categories.length === 0 || categories.some((x) => x === 'All' || x === c);
    for (const c of categories) {
      const known =
        c === 'All' || c === 'Device' || c === 'Events' || (c === 'Media' && mediaEnabled);
      if (!known)
        throw receiver(['ter:ActionNotSupported', 'ter:NoSuchService'], 'No such service', c);
    }
    let body = '';
    if (want('Device')) {
      body +=
        `<tt:Device><tt:XAddr>${xaddr(SOAP_PATHS.device)}</tt:XAddr><tt:System>` +
        `<tt:DiscoveryResolve>false</tt:DiscoveryResolve><tt:DiscoveryBye>false</tt:DiscoveryBye>` +
        `<tt:RemoteDiscovery>false</tt:RemoteDiscovery><tt:SystemBackup>false</tt:SystemBackup>` +
        `<tt:SystemLogging>false</tt:SystemLogging><tt:FirmwareUpgrade>false</tt:FirmwareUpgrade>` +
        `<tt:SupportedVersions><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tt:SupportedVersions>` +
        `</tt:System></tt:Device>`;
    }
    if (want('Events')) {
      body +=
        `<tt:Events><tt:XAddr>${xaddr(SOAP_PATHS.events)}</tt:XAddr>` +
        `<tt:WSSubscriptionPolicySupport>false</tt:WSSubscriptionPolicySupport>` +
        `<tt:WSPullPointSupport>true</tt:WSPullPointSupport>` +
        `<tt:WSPausableSubscriptionManagerInterfaceSupport>false` +
        `</tt:WSPausableSubscriptionManagerInterfaceSupport></tt:Events>`;
    }
    if (mediaEnabled && want('Media')) {
      body +=
        `<tt:Media><tt:XAddr>${xaddr(SOAP_PATHS.media)}</tt:XAddr><tt:StreamingCapabilities>` +
        `<tt:RTPMulticast>false</tt:RTPMulticast><tt:RTP_TCP>true</tt:RTP_TCP>` +
        `<tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP></tt:StreamingCapabilities></tt:Media>`;
    }
    return `<tds:GetCapabilitiesResponse><tds:Capabilities>${body}</tds:Capabilities></tds:GetCapabilitiesResponse>`;
  };

  const services = (r: Request) => {
    const include = textOf(child(r.op, 'IncludeCapability')) === 'true';
    const version = `<tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version>`;
    const service = (ns: string, path: string, caps: string) =>
      `<tds:Service><tds:Namespace>${ns}</tds:Namespace><tds:XAddr>${xaddr(path)}</tds:XAddr>` +
      (include ? `<tds:Capabilities>${caps}</tds:Capabilities>` : '') +
      `${version}</tds:Service>`;
    let body =
      service(
        NS.tds,
        SOAP_PATHS.device,
        `<tds:Capabilities><tds:Network/><tds:Security UsernameToken="${auth.wsse}" ` +
          `HttpDigest="${auth.digest}"/><tds:System/></tds:Capabilities>`,
      ) +
      service(
        NS.tev,
        SOAP_PATHS.events,
        `<tev:Capabilities WSSubscriptionPolicySupport="false" WSPullPointSupport="true" ` +
          `WSPausableSubscriptionManagerInterfaceSupport="false" ` +
          `MaxPullPoints="${eventLimits.maxSubscriptions}"/>`,
      );
    if (mediaEnabled) {
      body += service(
        NS.trt,
        SOAP_PATHS.media,
        `<trt:Capabilities SnapshotUri="${opts.snapshot !== undefined}" Rotation="false">` +
          `<trt:ProfileCapabilities MaximumNumberOfProfiles="${profiles.length}"/>` +
          `<trt:StreamingCapabilities RTPMulticast="false" RTP_TCP="true" RTP_RTSP_TCP="true"/>` +
          `</trt:Capabilities>`,
      );
    }
    return `<tds:GetServicesResponse>${body}</tds:GetServicesResponse>`;
  };

  const deviceInformation = () =>
    `<tds:GetDeviceInformationResponse>` +
    `<tds:Manufacturer>${xmlEscape(device.manufacturer)}</tds:Manufacturer>` +
    `<tds:Model>${xmlEscape(device.model)}</tds:Model>` +
    `<tds:FirmwareVersion>${xmlEscape(device.firmwareVersion)}</tds:FirmwareVersion>` +
    `<tds:SerialNumber>${xmlEscape(device.serialNumber)}</tds:SerialNumber>` +
    `<tds:HardwareId>${xmlEscape(device.hardwareId)}</tds:HardwareId>` +
    `</tds:GetDeviceInformationResponse>`;

  // ------------------------------------------------------------------------------ media

  const source = {
    width: Math.max(...profiles.map((p) => p.width)),
    height: Math.max(...profiles.map((p) => p.height)),
    fps: Math.max(...profiles.map((p) => p.fps)),
  };

  const profileXml = (p: OnvifSimProfile) =>
    `<trt:Profiles token="${xmlEscape(p.token)}" fixed="true"><tt:Name>${xmlEscape(p.name)}</tt:Name>` +
    `<tt:VideoSourceConfiguration token="video_source_config_0"><tt:Name>VideoSourceConfig</tt:Name>` +
    `<tt:UseCount>${profiles.length}</tt:UseCount><tt:SourceToken>${SIM_VIDEO_SOURCE_TOKEN}</tt:SourceToken>` +
    `<tt:Bounds x="0" y="0" width="${source.width}" height="${source.height}"/></tt:VideoSourceConfiguration>` +
    `<tt:VideoEncoderConfiguration token="encoder_${xmlEscape(p.token)}"><tt:Name>${xmlEscape(p.name)}</tt:Name>` +
    `<tt:UseCount>1</tt:UseCount><tt:Encoding>${p.encoding}</tt:Encoding>` +
    `<tt:Resolution><tt:Width>${p.width}</tt:Width><tt:Height>${p.height}</tt:Height></tt:Resolution>` +
    `<tt:Quality>5</tt:Quality><tt:RateControl><tt:FrameRateLimit>${p.fps}</tt:FrameRateLimit>` +
    `<tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>${p.bitrateKbps}</tt:BitrateLimit>` +
    `</tt:RateControl>` +
    (p.encoding === 'H264'
      ? `<tt:H264><tt:GovLength>${p.fps * 2}</tt:GovLength><tt:H264Profile>Main</tt:H264Profile></tt:H264>`
      : '') +
    `<tt:SessionTimeout>PT60S</tt:SessionTimeout></tt:VideoEncoderConfiguration></trt:Profiles>`;

  const requireMedia = () => {
    if (!mediaEnabled) throw notSupported('this device has no media service');
  };
  const profileFor = (r: Request) => {
    const token = textOf(child(r.op, 'ProfileToken'));
    const p = profiles.find((x) => x.token === token);
    if (!p) {
      throw sender(
        ['ter:InvalidArgVal', 'ter:NoProfile'],
        'The requested profile does not exist',
        token,
      );
    }
    return p;
  };
  const mediaUri = (uri: string) =>
    `<trt:MediaUri><tt:Uri>${xmlEscape(uri)}</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>` +
    `<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri>`;

  const streamUri = (r: Request) => {
    requireMedia();
    const p = profileFor(r);
    const setup = child(r.op, 'StreamSetup');
    const stream = textOf(child(setup, 'Stream'));
    const protocol = textOf(descend(setup, 'Transport', 'Protocol'));
    if (
      (stream && stream !== 'RTP-Unicast') ||
      (protocol && !['RTSP', 'UDP', 'TCP'].includes(protocol))
    ) {
      throw sender(
        ['ter:InvalidArgVal', 'ter:InvalidStreamSetup'],
        'Only RTP-Unicast over RTSP is offered',
        `${stream ?? ''} ${protocol ?? ''}`.trim(),
      );
    }
    return `<trt:GetStreamUriResponse>${mediaUri(p.streamUrl)}</trt:GetStreamUriResponse>`;
  };

  const snapshotUri = (r: Request) => {
    requireMedia();
    const p = profileFor(r);
    if (!opts.snapshot) throw notSupported('this device offers no snapshots');
    const uri = `${baseUrl()}${SNAPSHOT_PREFIX}${encodeURIComponent(p.token)}.jpg`;
    return `<trt:GetSnapshotUriResponse>${mediaUri(uri)}</trt:GetSnapshotUriResponse>`;
  };

  // ------------------------------------------------------------------------------ events

  const subscriptionFor = (r: Request) => {
    const id = r.path.startsWith(SUBSCRIPTION_PREFIX)
      ? r.path.slice(SUBSCRIPTION_PREFIX.length)
      : '';
    const sub = subscriptions.get(id);
    if (!sub) {
      throw sender(
        ['wsrf-r:ResourceUnknownFault'],
        'No such subscription (ended or never made)',
        r.path,
      );
    }
    return sub;
  };

  const endSubscription = (sub: Subscription) => {
    subscriptions.delete(sub.id);
    if (sub.expiry) clock.clearTimeout(sub.expiry);
    // A poll still held learns of the end now (with nothing), not at its own timeout.
    sub.held?.respond();
  };

  const setTermination = (sub: Subscription, at: number) => {
    sub.terminationAt = at;
    if (sub.expiry) clock.clearTimeout(sub.expiry);
    sub.expiry = clock.setTimeout(() => endSubscription(sub), Math.max(0, at - now()));
  };

  const timesXml = (sub: Subscription) =>
    `<wsnt:CurrentTime>${isoTime(now())}</wsnt:CurrentTime>` +
    `<wsnt:TerminationTime>${isoTime(sub.terminationAt)}</wsnt:TerminationTime>`;

  const createPullPoint = (r: Request) => {
    if (subscriptions.size >= eventLimits.maxSubscriptions) {
      throw receiver(
        ['wsnt:SubscribeCreationFailedFault'],
        `Too many subscriptions (at most ${eventLimits.maxSubscriptions})`,
      );
    }
    const initial = textOf(child(r.op, 'InitialTerminationTime'));
    const terminationAt =
      initial === undefined || initial === ''
        ? now() + eventLimits.defaultTerminationMs
        : parseTerminationTime(initial, now());
    if (terminationAt === undefined || terminationAt <= now()) {
      throw sender(
        ['wsnt:UnacceptableInitialTerminationTimeFault'],
        'InitialTerminationTime is not a future time or duration',
        initial,
      );
    }
    const filter = topicFilter(textOf(descend(r.op, 'Filter', 'TopicExpression')));
    const sub: Subscription = {
      id: randomBytes(8).toString('hex'),
      terminationAt,
      expiry: undefined,
      queue: [],
      filter,
      held: undefined,
    };
    subscriptions.set(sub.id, sub);
    setTermination(sub, terminationAt);
    for (const message of properties.values()) {
      if (!filter || filter(message.topic)) {
        sub.queue.push({ ...message, operation: 'Initialized', at: now() });
      }
    }
    return (
      `<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference>` +
      `<wsa:Address>${baseUrl()}${SUBSCRIPTION_PREFIX}${sub.id}</wsa:Address>` +
      `</tev:SubscriptionReference>${timesXml(sub)}</tev:CreatePullPointSubscriptionResponse>`
    );
  };

  const messageXml = (m: QueuedMessage) => {
    const items = (list: [string, string][]) =>
      list
        .map(([k, v]) => `<tt:SimpleItem Name="${xmlEscape(k)}" Value="${xmlEscape(v)}"/>`)
        .join('');
    return (
      `<wsnt:NotificationMessage><wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">` +
      `${xmlEscape(m.topic)}</wsnt:Topic><wsnt:Message><tt:Message UtcTime="${isoTime(m.at)}" ` +
      `${m.operation ? `PropertyOperation="${m.operation}"` : ''}><tt:Source>${items(m.source)}</tt:Source>` +
      `<tt:Data>${items(m.data)}</tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage>`
    );
  };

  const pullMessages = (r: Request): Promise<string> => {
    const sub = subscriptionFor(r);
    const timeoutText = textOf(child(r.op, 'Timeout')) ?? '';
    const timeoutMs = parseDuration(timeoutText);
    const limit = Number(textOf(child(r.op, 'MessageLimit')) ?? '');
    if (timeoutMs === undefined || timeoutMs < 0) {
      throw sender(['ter:InvalidArgVal'], 'Timeout is not a duration', timeoutText);
    }
    if (!Number.isInteger(limit) || limit < 1) {
      throw sender(['ter:InvalidArgVal'], 'MessageLimit must be a positive integer');
    }
    // A second poll on the same subscription takes over; the first is answered (empty) now.
    sub.held?.respond();
    return new Promise<string>((resolve) => {
      const answer = () => {
        const taken = sub.queue.splice(0, limit);
        resolve(
          `<tev:PullMessagesResponse><tev:CurrentTime>${isoTime(now())}</tev:CurrentTime>` +
            `<tev:TerminationTime>${isoTime(sub.terminationAt)}</tev:TerminationTime>` +
            `${taken.map(messageXml).join('')}</tev:PullMessagesResponse>`,
        );
      };
      if (sub.queue.length > 0 || timeoutMs === 0) {
        answer();
        return;
      }
      const waitMs = Math.min(timeoutMs, eventLimits.maxPullTimeoutMs);
      const held: HeldPull = {
        respond: () => {
          if (sub.held !== held) return;
          sub.held = undefined;
          clock.clearTimeout(held.timer);
          r.res.off('close', dropped);
          // The client may have gone between the event and now: then the messages stay queued.
          if (r.res.destroyed) return;
          answer();
        },
        timer: clock.setTimeout(() => held.respond(), waitMs),
        res: r.res,
      };
      // A client that hangs up while held loses nothing: the queue is only taken when answering.
      const dropped = () => {
        if (sub.held !== held) return;
        sub.held = undefined;
        clock.clearTimeout(held.timer);
      };
      r.res.on('close', dropped);
      sub.held = held;
    });
  };

  const renew = (r: Request) => {
    const sub = subscriptionFor(r);
    const text = textOf(child(r.op, 'TerminationTime')) ?? '';
    const at = parseTerminationTime(text, now());
    if (at === undefined || at <= now()) {
      throw sender(
        ['wsnt:UnacceptableTerminationTimeFault'],
        'TerminationTime is not a future time or duration',
        text,
      );
    }
    setTermination(sub, at);
    return `<wsnt:RenewResponse>${timesXml(sub)}</wsnt:RenewResponse>`;
  };

  const unsubscribe = (r: Request) => {
    endSubscription(subscriptionFor(r));
    return `<wsnt:UnsubscribeResponse/>`;
  };

  const emitEvent = (event: OnvifSimEvent) => {
    if (typeof event.topic !== 'string' || !/^[^\s<>&"]+$/.test(event.topic)) {
      throw new Error(`onvif sim: bad event topic ${JSON.stringify(event.topic)}`);
    }
    const items = (r: Record<string, EventValue> | undefined): [string, string][] =>
      Object.entries(r ?? {}).map(([k, v]) => [k, String(v)]);
    const message: QueuedMessage = {
      topic: event.topic,
      at: now(),
      operation: event.property === false ? undefined : (event.operation ?? 'Changed'),
      source: items(event.source),
      data: items(event.data),
    };
    const key = `${message.topic}|${JSON.stringify(message.source)}`;
    if (message.operation === 'Deleted') properties.delete(key);
    else if (message.operation) properties.set(key, message);
    for (const sub of subscriptions.values()) {
      if (sub.filter && !sub.filter(message.topic)) continue;
      sub.queue.push(message);
      if (sub.queue.length > eventLimits.maxQueue) {
        sub.queue.shift();
        stats.droppedEvents++;
      }
      sub.held?.respond();
    }
  };

  // ------------------------------------------------------------------------------ dispatch

  type Handler = (r: Request) => string | Promise<string>;
  const handlers = new Map<string, Handler>([
    [`${NS.tds} GetCapabilities`, capabilities],
    [`${NS.tds} GetServices`, services],
    [`${NS.tds} GetDeviceInformation`, deviceInformation],
    [
      `${NS.trt} GetProfiles`,
      () => {
        requireMedia();
        return `<trt:GetProfilesResponse>${profiles.map(profileXml).join('')}</trt:GetProfilesResponse>`;
      },
    ],
    [
      `${NS.trt} GetVideoSources`,
      () => {
        requireMedia();
        return (
          `<trt:GetVideoSourcesResponse><trt:VideoSources token="${SIM_VIDEO_SOURCE_TOKEN}">` +
          `<tt:Framerate>${source.fps}</tt:Framerate><tt:Resolution><tt:Width>${source.width}</tt:Width>` +
          `<tt:Height>${source.height}</tt:Height></tt:Resolution></trt:VideoSources></trt:GetVideoSourcesResponse>`
        );
      },
    ],
    [`${NS.trt} GetStreamUri`, streamUri],
    [`${NS.trt} GetSnapshotUri`, snapshotUri],
    [`${NS.tev} CreatePullPointSubscription`, createPullPoint],
    [`${NS.tev} PullMessages`, pullMessages],
    [`${NS.wsnt} Renew`, renew],
    [`${NS.wsnt} Unsubscribe`, unsubscribe],
  ]);

  /** Headers we act on; any other marked mustUnderstand is refused, as SOAP 1.2 requires. */
  const understood = new Set([
    `${NS.wsse} Security`,
    `${NS.wsa} To`,
    `${NS.wsa} Action`,
    `${NS.wsa} MessageID`,
    `${NS.wsa} ReplyTo`,
  ]);

  const faultReply = (e: FaultError): Reply => ({
    status: e.status,
    body: soapEnvelope(soapFaultBody(e.fault)),
  });

  const soap = async (
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    body: string,
  ): Promise<Reply> => {
    let envelope: XmlElement;
    try {
      envelope = parseXml(body);
    } catch (e) {
      const why = e instanceof XmlError ? e.message : String(e);
      throw sender(
        ['ter:WellFormed'],
        'Well-formed Error: XML Well-formed violation occurred',
        why,
      );
    }
    if (envelope.local === 'Envelope' && envelope.ns === NS.soap11) {
      throw new FaultError({ code: 'VersionMismatch', subcodes: [], reason: 'SOAP 1.2 only' }, 500);
    }
    if (envelope.local !== 'Envelope' || envelope.ns !== NS.soap) {
      throw sender(['ter:TagMismatch'], 'Not a SOAP 1.2 Envelope', envelope.name);
    }
    const header = child(envelope, 'Header', NS.soap);
    const op = child(envelope, 'Body', NS.soap)?.children[0];
    if (!op) throw sender(['ter:MissingAttr'], 'The Body holds no request');
    for (const h of header?.children ?? []) {
      const mu = h.attributes.find((a) => a.local === 'mustUnderstand' && a.ns === NS.soap)?.value;
      if ((mu === '1' || mu === 'true') && !understood.has(`${h.ns} ${h.local}`)) {
        throw new FaultError(
          { code: 'MustUnderstand', subcodes: [], reason: `Header ${h.name} not understood` },
          500,
        );
      }
    }
    const key = `${op.ns} ${op.local}`;
    if (key === `${NS.tds} GetSystemDateAndTime`) return ok(systemDateAndTime());
    const denied = authenticate(req, header);
    if (denied) return denied;
    const handler = handlers.get(key);
    if (!handler) throw notSupported(`${op.local} (${op.ns || 'no namespace'})`);
    return ok(await handler({ req, res, path, op }));
  };

  const ok = (inner: string): Reply => ({ status: 200, body: soapEnvelope(inner) });

  // ------------------------------------------------------------------------------ snapshot

  const serveSnapshot = async (req: IncomingMessage, res: ServerResponse, path: string) => {
    const token = decodeURIComponent(path.slice(SNAPSHOT_PREFIX.length).replace(/\.jpg$/, ''));
    const profile = profiles.find((p) => p.token === token);
    if (!opts.snapshot || !profile || !mediaEnabled)
      return send(res, 404, 'text/plain', 'no such snapshot\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(res, 405, 'text/plain', 'GET only\n', { Allow: 'GET, HEAD' });
    }
    if (snapshotAuth) {
      const problem = req.headers.authorization
        ? digestProblem(req)
        : { why: 'no credentials', stale: false };
      if (problem) {
        return send(res, 401, 'text/plain', 'unauthorized\n', {
          'WWW-Authenticate': challenge(problem.stale),
        });
      }
    }
    let jpeg: Buffer;
    try {
      jpeg = await opts.snapshot(profile.token);
    } catch (e) {
      return send(res, 503, 'text/plain', `snapshot unavailable: ${(e as Error).message}\n`);
    }
    if (!Buffer.isBuffer(jpeg) || jpeg.length < 4 || jpeg[0] !== 0xff || jpeg[1] !== 0xd8) {
      return send(res, 500, 'text/plain', 'the snapshot provider returned no JPEG\n');
    }
    send(res, 200, 'image/jpeg', jpeg);
  };

  // ------------------------------------------------------------------------------ http

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    stats.requests++;
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path.startsWith(SNAPSHOT_PREFIX)) return serveSnapshot(req, res, path);
    const isSoapPath =
      (Object.values(SOAP_PATHS) as string[]).includes(path) ||
      path.startsWith(SUBSCRIPTION_PREFIX);
    if (!isSoapPath) return send(res, 404, 'text/plain', 'not found\n');
    if (req.method !== 'POST')
      return send(res, 405, 'text/plain', 'POST only\n', { Allow: 'POST' });
    const body = await readBody(req, MAX_BODY_BYTES);
    let reply: Reply;
    if (body === null) {
      reply = faultReply(sender(['ter:InvalidArgs'], `Request body over ${MAX_BODY_BYTES} bytes`));
      reply.status = 413;
      res.setHeader('Connection', 'close');
    } else {
      try {
        reply = closing
          ? faultReply(receiver(['ter:Action'], 'The device is shutting down'))
          : await soap(req, res, path, body);
      } catch (e) {
        if (!(e instanceof FaultError)) throw e;
        reply = faultReply(e);
      }
    }
    if (reply.status >= 400) stats.faults++;
    send(res, reply.status, SOAP_CONTENT_TYPE, reply.body, reply.headers);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      // A bug of ours must not take the camera down: answer 500 and keep serving.
      stats.faults++;
      const body = soapEnvelope(
        soapFaultBody({
          code: 'Receiver',
          subcodes: ['ter:Action'],
          reason: 'Internal error',
          detail: String(e),
        }),
      );
      send(res, 500, SOAP_CONTENT_TYPE, body);
    });
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: listenHost, port: opts.port ?? 0 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('onvif sim: no TCP address');
  port = address.port;

  return {
    host: listenHost,
    port,
    deviceServiceUrl: xaddr(SOAP_PATHS.device),
    now,
    setClockSkew(ms: number) {
      if (!Number.isFinite(ms))
        throw new Error(`onvif sim: clock skew must be a number, got ${ms}`);
      skewMs = ms;
    },
    emitEvent,
    stats: () => ({
      requests: stats.requests,
      faults: stats.faults,
      authenticated: { ...stats.authenticated },
      rejected: { ...stats.rejected },
      subscriptions: subscriptions.size,
      heldPulls: [...subscriptions.values()].filter((s) => s.held).length,
      droppedEvents: stats.droppedEvents,
    }),
    async close() {
      if (closing) return;
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      const held = [...subscriptions.values()].flatMap((s) => (s.held ? [s.held.res] : []));
      // Held polls are answered (empty) and their answers let out before the sockets are cut.
      const answered = held.map(
        (res) =>
          new Promise<void>((resolve) => {
            res.once('finish', resolve);
            res.once('close', resolve);
          }),
      );
      for (const sub of [...subscriptions.values()]) endSubscription(sub);
      await Promise.all(answered);
      server.closeAllConnections();
      await closed;
    },
  };
}

function resolveProfiles(opts: OnvifSimOptions): OnvifSimProfile[] {
  const profiles =
    opts.profiles ??
    (opts.streams
      ? [
          {
            token: 'main',
            name: 'mainStream',
            width: 1920,
            height: 1080,
            fps: 25,
            encoding: 'H264' as const,
            bitrateKbps: 4096,
            streamUrl: opts.streams.mainUrl,
          },
          {
            token: 'sub',
            name: 'subStream',
            width: 640,
            height: 360,
            fps: 10,
            encoding: 'H264' as const,
            bitrateKbps: 512,
            streamUrl: opts.streams.subUrl,
          },
        ]
      : undefined);
  if (!profiles || profiles.length === 0) {
    throw new Error('onvif sim: give `streams` (main and sub RTSP URLs) or `profiles`');
  }
  const seen = new Set<string>();
  for (const p of profiles) {
    if (!TOKEN_RE.test(p.token))
      throw new Error(`onvif sim: bad profile token ${JSON.stringify(p.token)}`);
    if (seen.has(p.token)) throw new Error(`onvif sim: duplicate profile token ${p.token}`);
    seen.add(p.token);
    for (const [k, v] of [
      ['width', p.width],
      ['height', p.height],
      ['fps', p.fps],
      ['bitrateKbps', p.bitrateKbps],
    ] as const) {
      if (!Number.isInteger(v) || v <= 0)
        throw new Error(`onvif sim: profile ${p.token} ${k} must be a positive integer`);
    }
    if (!URL.canParse(p.streamUrl))
      throw new Error(`onvif sim: profile ${p.token} streamUrl is not a URL`);
  }
  return profiles;
}

/**
 * A ConcreteSet topic filter: alternatives joined by '|', each a topic or, ending in '//.', a
 * topic and everything below it. Undefined (no filter) for an empty expression.
 */
function topicFilter(expression: string | undefined): ((topic: string) => boolean) | undefined {
  if (!expression) return undefined;
  const terms = expression
    .split('|')
    .map((t) => t.trim())
    .filter(Boolean);
  return (topic) =>
    terms.some((t) =>
      t.endsWith('//.')
        ? topic === t.slice(0, -3) || topic.startsWith(`${t.slice(0, -3)}/`)
        : topic === t,
    );
}

/** The request body as text, or null when it is larger than `limit` (the rest is discarded). */
function readBody(req: IncomingMessage, limit: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) over = true;
      if (!over) chunks.push(chunk);
    });
    req.on('end', () => resolve(over ? null : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(
  res: ServerResponse,
  status: number,
  contentType: string,
  body: string | Buffer,
  headers: Record<string, string> = {},
): void {
  if (res.destroyed || res.headersSent) return;
  const length = typeof body === 'string' ? Buffer.byteLength(body) : body.length;
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': String(length),
    ...headers,
  });
  res.end(body);
}
