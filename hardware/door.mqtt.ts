/**
 * Door driver for an edge controller that speaks MQTT (ESPHome, Tasmota, esp-rfid or the generic
 * Parcelroom convention; topics and payloads in ./mqtt.topics.ts).
 *
 * Same ports as the simulator (./door.sim.ts), one broker connection for the strike, the sensor
 * and every reader of the controller.
 *
 * Connection. Each connection attempt is a fresh client with a clean session and no automatic
 * reconnect of its own: reconnects follow an exponential backoff with jitter on the injected
 * clock, and every new connection subscribes again. A clean session is on purpose: a card frame
 * or an unlock command must never be delivered late from a session queue, and the strike command
 * that timed out must not be replayed by the client's outgoing store on reconnect. Retained
 * state topics (contact, strike, LWT) refill the state after a reconnect; firmwares that can be
 * asked (generic, Tasmota) also get a state request.
 *
 * Offline. While the broker is unreachable, or the controller's status/LWT says offline, the
 * strike reads 'offline' and the contact 'offline', every reader gets one
 * `{kind:'fault', reason:'offline'}`, and unlock()/lock() reject with an Error naming the cause.
 * Back online the last known values return (firmwares that cannot be asked report the contact as
 * 'unknown' until the controller says otherwise).
 *
 * Commands are published with QoS 1 and resolve on the broker's PUBACK; no PUBACK within
 * `ackTimeoutMs` rejects and drops the connection (so the command cannot arrive late on it). The
 * strike state follows the controller's state topic once it has reported one; until then, and for
 * firmwares without one (esp-rfid outside Home Assistant mode), it is optimistic.
 *
 * Junk never throws: it is dropped, counted in `stats()` and logged (rate-limited) with the topic
 * and reason. See mqtt.topics.ts for what is junk and what is a malformed frame passed on.
 *
 * The connection closes on `close()`, or once the strike, the sensor and every reader have been
 * closed.
 */
import { randomBytes } from 'node:crypto';
import { connect as mqttConnect, type IClientOptions, type MqttClient } from 'mqtt';
import type { Clock, TimerHandle } from './clock.ts';
import {
  createMqttDialect,
  supportsMultipleReaders,
  type ControllerEvent,
  type JunkCode,
  type MqttCommand,
  type MqttDoorConfig,
} from './mqtt.topics.ts';
import type {
  ContactState,
  CredentialReader,
  DoorSensor,
  DoorStrike,
  ReaderInput,
  StrikeState,
} from './ports.ts';
import { listeners } from './listeners.ts';

export type MqttDriverLog = (
  level: 'info' | 'warn' | 'error',
  msg: string,
  fields?: object,
) => void;

export interface MqttDoorDriverOptions {
  doorId: string;
  /** Readers wired to this controller. */
  readerIds: string[];
  config: MqttDoorConfig;
  clock: Clock;
  log?: MqttDriverLog;
  /** The MQTT client factory (tests inject a fake); default `mqtt.connect`. */
  connect?: typeof mqttConnect;
  /** Default `parcelroom-<doorId>-<random>`. */
  clientId?: string;
  /** How long a command waits for PUBACK. Default 5000 ms. */
  ackTimeoutMs?: number;
  /** First reconnect delay; doubles per failed attempt up to `reconnectMaxMs`. Default 500 ms. */
  reconnectMinMs?: number;
  /** Default 30 000 ms. */
  reconnectMaxMs?: number;
  /** MQTT keepalive; a silent broker is noticed after about 1.5 × this. Default 15 s. */
  keepaliveSec?: number;
  /** Default 10 000 ms. */
  connectTimeoutMs?: number;
  /**
   * Treat the controller as offline when it has sent nothing valid for this long (for firmwares
   * without an LWT, e.g. esp-rfid with its heartbeat). Default: off.
   */
  staleAfterMs?: number;
  /** Jitter source in [0, 1); default Math.random. */
  random?: () => number;
}

export interface MqttDoorDriverStats {
  /** Successful broker connections. */
  connects: number;
  /** Connection attempts that failed or connections that were lost. */
  disconnects: number;
  /** Messages received on the controller's topics. */
  messages: number;
  /** Events applied (frames, keys, contact, REX, status, strike). */
  events: number;
  /** Messages on known topics that carry nothing for the door. */
  ignored: number;
  /** Messages dropped as junk, in total and by reason. */
  junk: number;
  junkByCode: Partial<Record<JunkCode, number>>;
  /** Frames/key bursts passed on although they are not pure 0/1 (the decoder refuses them). */
  malformedFrames: number;
  /** Commands acknowledged by the broker / failed. */
  commandsAcked: number;
  commandsFailed: number;
  lastJunk: { topic: string; code: JunkCode; reason: string; at: number } | null;
}

export interface MqttDoorDriverStatus {
  broker: 'connecting' | 'connected' | 'disconnected' | 'closed';
  /** The broker acknowledged every subscription of the current connection. */
  subscribed: boolean;
  controller: 'online' | 'offline' | 'unknown';
}

export interface MqttDoorDriver {
  strike: DoorStrike;
  sensor: DoorSensor;
  readers: Map<string, CredentialReader>;
  stats(): MqttDoorDriverStats;
  status(): MqttDoorDriverStatus;
  close(): Promise<void>;
}

/** The broker URL without credentials, for messages. */
function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return '(invalid broker url)';
  }
}

const JUNK_LOG_WINDOW_MS = 60_000;
const JUNK_LOGS_PER_WINDOW = 20;

export function createMqttDoorDriver(opts: MqttDoorDriverOptions): MqttDoorDriver {
  const { doorId, clock, config } = opts;
  const log: MqttDriverLog = opts.log ?? (() => {});
  const connectFn = opts.connect ?? mqttConnect;
  const random = opts.random ?? Math.random;
  const ackTimeoutMs = opts.ackTimeoutMs ?? 5_000;
  const reconnectMinMs = Math.max(1, opts.reconnectMinMs ?? 500);
  const reconnectMaxMs = Math.max(reconnectMinMs, opts.reconnectMaxMs ?? 30_000);
  const readerIds = [...opts.readerIds];
  const dialect = createMqttDialect(config, { readerIds });
  const brokerUrl = safeUrl(config.url);
  const clientId = opts.clientId ?? `parcelroom-${doorId}-${randomBytes(4).toString('hex')}`;
  const base = { door: doorId, firmware: config.firmware, broker: brokerUrl };

  if (readerIds.length > 1 && !supportsMultipleReaders(config.firmware)) {
    log('warn', 'mqtt door: this firmware has one reader input; only the first reader is used', {
      ...base,
      used: readerIds[0],
      unused: readerIds.slice(1),
    });
  }

  // --- state ----------------------------------------------------------------------------------
  let closed = false;
  let client: MqttClient | null = null;
  let brokerUp = false;
  let subscribed = false;
  let attempt = 0;
  let reconnectTimer: TimerHandle | null = null;
  let controllerOnline: boolean | null = null;
  let stale = false;
  let staleTimer: TimerHandle | null = null;
  let strikeLast: 'locked' | 'unlocked' | 'jammed' = 'locked';
  let strikeReported = false;
  let contactLast: 'open' | 'closed' | 'unknown' = 'unknown';
  let tamper = false;
  let shownStrike: StrikeState = 'offline';
  let shownContact: ContactState = 'offline';
  let wasOffline = true;
  const pending = new Set<(err: Error) => void>();

  const stats: MqttDoorDriverStats = {
    connects: 0,
    disconnects: 0,
    messages: 0,
    events: 0,
    ignored: 0,
    junk: 0,
    junkByCode: {},
    malformedFrames: 0,
    commandsAcked: 0,
    commandsFailed: 0,
    lastJunk: null,
  };
  let junkWindowStart = clock.now();
  let junkLogged = 0;
  let junkSuppressed = 0;

  const listenerFailed = (err: unknown) =>
    log('error', 'mqtt door: a listener threw', {
      ...base,
      error: err instanceof Error ? err.message : String(err),
    });
  const strikeChanged = listeners<[StrikeState]>(listenerFailed);
  const contactChanged = listeners<[ContactState]>(listenerFailed);
  const rexPressed = listeners<[]>(listenerFailed);
  const readerInputs = new Map(
    readerIds.map((id) => [id, listeners<[ReaderInput]>(listenerFailed)]),
  );

  // --- effective state --------------------------------------------------------------------------
  const offlineCause = (): string | null => {
    if (closed) return 'the MQTT door driver is closed';
    if (!brokerUp) return `not connected to the MQTT broker at ${brokerUrl}`;
    if (controllerOnline === false) {
      return `the controller reported itself offline (${dialect.availabilityTopic ?? 'status'})`;
    }
    if (stale) return `the controller has sent nothing for ${opts.staleAfterMs} ms`;
    return null;
  };

  const refresh = () => {
    const cause = offlineCause();
    const offline = cause !== null;
    const strike: StrikeState = offline ? 'offline' : strikeLast;
    const contact: ContactState = offline ? 'offline' : tamper ? 'tamper' : contactLast;
    if (offline !== wasOffline) {
      wasOffline = offline;
      log(offline ? 'warn' : 'info', `mqtt door: controller ${offline ? 'offline' : 'online'}`, {
        ...base,
        ...(cause ? { cause } : {}),
      });
      if (offline && !closed) {
        for (const r of readerInputs.values()) {
          r.emit({ kind: 'fault', reason: 'offline', detail: cause ?? undefined });
        }
      }
    }
    if (strike !== shownStrike) {
      shownStrike = strike;
      strikeChanged.emit(strike);
    }
    if (contact !== shownContact) {
      shownContact = contact;
      contactChanged.emit(contact);
    }
  };

  const armStaleTimer = () => {
    if (opts.staleAfterMs === undefined || closed) return;
    if (staleTimer) clock.clearTimeout(staleTimer);
    staleTimer = clock.setTimeout(() => {
      staleTimer = null;
      stale = true;
      refresh();
    }, opts.staleAfterMs);
  };

  // --- publishing ----------------------------------------------------------------------------
  /** Publish with QoS 1; resolves on PUBACK, rejects on error, timeout or close. */
  const publishAcked = (c: MqttClient, cmd: MqttCommand): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err?: Error | null) => {
        if (settled) return;
        settled = true;
        clock.clearTimeout(timer);
        pending.delete(fail);
        if (err) reject(err);
        else resolve();
      };
      const fail = (err: Error) => settle(err);
      const timer = clock.setTimeout(() => {
        settle(new Error(`no PUBACK from the broker within ${ackTimeoutMs} ms for ${cmd.topic}`));
        // The command may still be in flight on this connection: drop it, so it cannot
        // unlock the door late.
        if (client === c) lose(c, 'command not acknowledged in time');
      }, ackTimeoutMs);
      pending.add(fail);
      try {
        c.publish(cmd.topic, cmd.payload, { qos: 1, retain: false }, (err) => settle(err ?? null));
      } catch (err) {
        settle(err instanceof Error ? err : new Error(String(err)));
      }
    });

  const sendStateRequests = (c: MqttClient) => {
    for (const req of dialect.stateRequests()) {
      try {
        c.publish(req.topic, req.payload, { qos: 1, retain: false }, (err) => {
          if (err && !closed) {
            log('warn', 'mqtt door: state request failed', {
              ...base,
              topic: req.topic,
              error: err.message,
            });
          }
        });
      } catch (err) {
        log('warn', 'mqtt door: state request failed', {
          ...base,
          topic: req.topic,
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }
  };

  const command = async (action: 'unlock' | 'lock'): Promise<void> => {
    const cause = offlineCause();
    const c = client;
    if (cause !== null || c === null) {
      throw new Error(`door ${doorId}: cannot ${action} the strike: ${cause ?? 'not connected'}`);
    }
    const plan = dialect.command(action);
    if (plan.kind === 'error') {
      stats.commandsFailed++;
      throw new Error(`door ${doorId}: cannot ${action} the strike: ${plan.reason}`);
    }
    if (plan.kind === 'publish') {
      try {
        await publishAcked(c, plan.command);
      } catch (err) {
        stats.commandsFailed++;
        const msg = err instanceof Error ? err.message : String(err);
        log('warn', `mqtt door: ${action} failed`, {
          ...base,
          topic: plan.command.topic,
          error: msg,
        });
        throw new Error(`door ${doorId}: ${action} failed: ${msg}`, { cause: err });
      }
      stats.commandsAcked++;
    }
    // Optimistic while the controller has never reported the strike (or cannot).
    if (!dialect.hasStrikeState || !strikeReported || plan.kind === 'none') {
      strikeLast = action === 'unlock' ? 'unlocked' : 'locked';
      refresh();
    }
  };

  // --- incoming ------------------------------------------------------------------------------
  const noteJunk = (topic: string, code: JunkCode, reason: string, bytes: number) => {
    stats.junk++;
    stats.junkByCode[code] = (stats.junkByCode[code] ?? 0) + 1;
    const now = clock.now();
    stats.lastJunk = { topic, code, reason, at: now };
    if (now - junkWindowStart >= JUNK_LOG_WINDOW_MS) {
      if (junkSuppressed > 0) {
        log('warn', 'mqtt door: more junk messages were dropped without a log line', {
          ...base,
          suppressed: junkSuppressed,
        });
      }
      junkWindowStart = now;
      junkLogged = 0;
      junkSuppressed = 0;
    }
    if (junkLogged < JUNK_LOGS_PER_WINDOW) {
      junkLogged++;
      log('warn', `mqtt door: dropped junk on ${topic}: ${reason}`, {
        ...base,
        topic,
        code,
        reason,
        bytes,
      });
    } else {
      junkSuppressed++;
    }
  };

  const apply = (e: ControllerEvent, topic: string) => {
    stats.events++;
    switch (e.type) {
      case 'input': {
        const r = readerInputs.get(e.readerId);
        if (!r) return;
        if (e.input.kind !== 'fault' && !/^[01]+$/.test(e.input.bits)) {
          stats.malformedFrames++;
          log('info', 'mqtt door: passing a malformed frame on to the decoder', {
            ...base,
            topic,
            reader: e.readerId,
          });
        }
        if (e.input.kind === 'fault') {
          log('warn', 'mqtt door: reader fault from the controller', {
            ...base,
            topic,
            reader: e.readerId,
            reason: e.input.reason,
            detail: e.input.detail,
          });
        }
        r.emit(e.input);
        return;
      }
      case 'contact':
        contactLast = e.state;
        return;
      case 'tamper':
        tamper = e.active;
        return;
      case 'rex':
        rexPressed.emit();
        return;
      case 'availability': {
        const was = controllerOnline;
        controllerOnline = e.online;
        if (e.online && was === false && client && brokerUp) sendStateRequests(client);
        return;
      }
      case 'strike':
        strikeLast = e.state;
        strikeReported = true;
        return;
    }
  };

  const onMessage = (topic: string, payload: Buffer, retained: boolean) => {
    if (closed) return;
    stats.messages++;
    let outcome;
    try {
      outcome = dialect.parse(topic, payload, { retained });
    } catch (err) {
      // The dialect is written not to throw; never let a surprise take the driver down.
      outcome = {
        kind: 'junk' as const,
        code: 'bad_shape' as const,
        reason: `parser error: ${err instanceof Error ? err.message : String(err)}`,
      };
    }
    switch (outcome.kind) {
      case 'junk':
        noteJunk(topic, outcome.code, outcome.reason, payload.byteLength);
        return;
      case 'ignored':
        stats.ignored++;
        return;
      case 'events':
        if (!retained) {
          stale = false;
          armStaleTimer();
        }
        for (const e of outcome.events) apply(e, topic);
        refresh();
        return;
    }
  };

  // --- connection ------------------------------------------------------------------------------
  const scheduleReconnect = () => {
    if (closed || reconnectTimer) return;
    const ceiling = Math.min(reconnectMaxMs, reconnectMinMs * 2 ** Math.min(attempt, 30));
    const delay = Math.round(ceiling / 2 + (random() * ceiling) / 2);
    attempt++;
    if (attempt === 1 || attempt % 10 === 0) {
      log('warn', `mqtt door: broker unreachable, retrying in ${delay} ms`, { ...base, attempt });
    }
    reconnectTimer = clock.setTimeout(() => {
      reconnectTimer = null;
      open();
    }, delay);
  };

  /** Give up on connection `c` (lost, failed or unhealthy) and plan the next attempt. */
  function lose(c: MqttClient, why: string) {
    if (client !== c) return;
    client = null;
    const wasUp = brokerUp;
    brokerUp = false;
    subscribed = false;
    stats.disconnects++;
    if (wasUp) log('warn', `mqtt door: broker connection lost (${why})`, base);
    // Without a way to ask, the contact seen before the gap cannot be trusted afterwards.
    if (!dialect.canRequestState) contactLast = 'unknown';
    for (const fail of [...pending]) fail(new Error(`connection to the broker lost (${why})`));
    try {
      c.end(true);
    } catch {
      // already gone
    }
    refresh();
    scheduleReconnect();
  }

  function open() {
    if (closed) return;
    const options: IClientOptions = {
      clientId,
      clean: true,
      reconnectPeriod: 0,
      resubscribe: false,
      connectTimeout: opts.connectTimeoutMs ?? 10_000,
      keepalive: opts.keepaliveSec ?? 15,
      queueQoSZero: false,
      ...(config.username !== undefined ? { username: config.username } : {}),
      ...(config.password !== undefined ? { password: config.password } : {}),
    };
    let c: MqttClient;
    try {
      c = connectFn(config.url, options);
    } catch (err) {
      log('error', 'mqtt door: cannot create the MQTT client', {
        ...base,
        error: err instanceof Error ? err.message : String(err),
      });
      stats.disconnects++;
      scheduleReconnect();
      return;
    }
    client = c;
    let lastError: string | null = null;
    c.on('error', (err) => {
      lastError = err.message;
      if (client === c && brokerUp) {
        log('warn', 'mqtt door: broker connection error', { ...base, error: err.message });
      }
    });
    c.on('close', () => lose(c, lastError ?? 'closed'));
    c.on('message', (topic, payload, packet) => {
      if (client === c) onMessage(topic, payload, packet.retain === true);
    });
    c.on('connect', () => {
      if (client !== c || closed) return;
      brokerUp = true;
      attempt = 0;
      stats.connects++;
      log('info', 'mqtt door: connected to the broker', base);
      const filters = Object.fromEntries(
        dialect.subscriptions.map((t) => [t, { qos: 1 as const }]),
      );
      c.subscribe(filters, (err, granted) => {
        if (client !== c) return;
        const refused = (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic);
        if (err || refused.length > 0) {
          log('error', 'mqtt door: the broker refused the subscriptions (check its ACL)', {
            ...base,
            error: err?.message,
            refused,
          });
        } else {
          subscribed = true;
        }
      });
      sendStateRequests(c);
      armStaleTimer(); // a controller that never speaks goes stale too
      refresh();
    });
  }

  // --- ports ----------------------------------------------------------------------------------
  const openPorts = new Set<string>(['strike', 'sensor', ...readerIds.map((id) => `reader:${id}`)]);
  const portClosed = async (name: string) => {
    openPorts.delete(name);
    if (openPorts.size === 0) await closeDriver();
  };

  const strike: DoorStrike = {
    get state() {
      return shownStrike;
    },
    unlock: () => command('unlock'),
    lock: () => command('lock'),
    onState: (fn) => strikeChanged.add(fn),
    async close() {
      strikeChanged.clear();
      await portClosed('strike');
    },
  };

  const sensor: DoorSensor = {
    get contact() {
      return shownContact;
    },
    onContact: (fn) => contactChanged.add(fn),
    onRex: (fn) => rexPressed.add(fn),
    async close() {
      contactChanged.clear();
      rexPressed.clear();
      await portClosed('sensor');
    },
  };

  const readers = new Map<string, CredentialReader>();
  for (const [readerId, input] of readerInputs) {
    readers.set(readerId, {
      readerId,
      onInput: (fn) => input.add(fn),
      async close() {
        input.clear();
        await portClosed(`reader:${readerId}`);
      },
    });
  }

  let closing: Promise<void> | null = null;
  function closeDriver(): Promise<void> {
    closing ??= (async () => {
      closed = true;
      if (reconnectTimer) clock.clearTimeout(reconnectTimer);
      if (staleTimer) clock.clearTimeout(staleTimer);
      reconnectTimer = null;
      staleTimer = null;
      for (const fail of [...pending]) fail(new Error('the MQTT door driver was closed'));
      const c = client;
      client = null;
      const wasUp = brokerUp;
      brokerUp = false;
      subscribed = false;
      strikeChanged.clear();
      contactChanged.clear();
      rexPressed.clear();
      for (const r of readerInputs.values()) r.clear();
      shownStrike = 'offline';
      shownContact = 'offline';
      if (c) {
        await new Promise<void>((resolve) => {
          // A clean DISCONNECT when connected; never wait on a dead socket for long.
          const timer = clock.setTimeout(() => {
            try {
              c.end(true);
            } catch {
              // ignore
            }
            resolve();
          }, 2_000);
          try {
            c.end(!wasUp, {}, () => {
              clock.clearTimeout(timer);
              resolve();
            });
          } catch {
            clock.clearTimeout(timer);
            resolve();
          }
        });
      }
      log('info', 'mqtt door: closed', base);
    })();
    return closing;
  }

  open();

  return {
    strike,
    sensor,
    readers,
    stats: () => ({ ...stats, junkByCode: { ...stats.junkByCode } }),
    status: () => ({
      broker: closed ? 'closed' : brokerUp ? 'connected' : client ? 'connecting' : 'disconnected',
      subscribed,
      controller: controllerOnline === null ? 'unknown' : controllerOnline ? 'online' : 'offline',
    }),
    close: closeDriver,
  };
}

export {
  MQTT_TOPIC_TABLE,
  createMqttDialect,
  type MqttDoorConfig,
  type MqttFirmware,
} from './mqtt.topics.ts';
