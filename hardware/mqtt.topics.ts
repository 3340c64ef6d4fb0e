/**
 * Topic and payload conventions of the door controllers the MQTT door driver talks to, kept apart
 * from the connection so every mapping is a pure, testable function.
 *
 * A controller at the edge forwards what its wires saw (Wiegand frames, keypad keys, contact, REX,
 * its own availability) and switches the strike relay on command. Parcelroom decides; so the
 * mapping keeps frames as raw as the firmware allows and never trusts a firmware's own access
 * decision.
 *
 * Topics per firmware (`<prefix>` = `topicPrefix` of the door's driver config; for Tasmota it is
 * the device's %topic% and `<t>/` stands for its FullTopic, default `%prefix%/%topic%/`):
 *
 * | firmware | direction | topic                                  | payload                                            | meaning                                   |
 * |----------|-----------|----------------------------------------|----------------------------------------------------|-------------------------------------------|
 * | generic  | in        | `<prefix>/reader/<readerId>/frame`     | `{"bits":"0101…"}` or bare `0101…`                 | Wiegand frame from that reader            |
 * | generic  | in        | `<prefix>/reader/<readerId>/key`       | `{"bits":"1011"}` or bare `1011`                   | keypad key burst (4 or 8 bits)            |
 * | generic  | in        | `<prefix>/contact`                     | `open` / `closed` / `tamper`                       | door position (retain it)                 |
 * | generic  | in        | `<prefix>/rex`                         | anything                                           | request-to-exit press                     |
 * | generic  | in        | `<prefix>/status`                      | `online` / `offline`                               | availability; set `offline` as the LWT    |
 * | generic  | in        | `<prefix>/strike/state`                | `locked` / `unlocked` / `jammed`                   | relay/strike state (retain it)            |
 * | generic  | out       | `<prefix>/strike/set`                  | `unlock` / `lock`                                  | strike command, QoS 1                     |
 * | generic  | out       | `<prefix>/state/get`                   | (empty)                                            | ask to republish contact/strike/status    |
 * | tasmota  | in        | `tele/<t>/SENSOR`                      | `{"Wiegand":{"UID":7748328,"Size":26}}`            | card (24/26/32/34) or key (4/8), see below |
 * | tasmota  | in        | `tele/<t>/SENSOR`, `stat/<t>/STATUS10` | `{"Switch1":"ON"}` (`StatusSNS` in STATUS10)        | contact: Switch<contactSwitch>, ON = open |
 * | tasmota  | in        | `stat/<t>/RESULT`, `stat/<t>/SWITCH<n>`| `{"Switch2":{"Action":"ON"}}`                      | REX on Switch<rexSwitch> ON; contact too  |
 * | tasmota  | in        | `tele/<t>/LWT`                         | `Online` / `Offline`                               | availability (Tasmota's retained LWT)     |
 * | tasmota  | in        | `stat/<t>/POWER<n>`, `stat/<t>/RESULT`, `tele/<t>/STATE` | `ON`/`OFF`, `{"POWER1":"ON"}`    | strike relay state, ON = unlocked         |
 * | tasmota  | out       | `cmnd/<t>/POWER<n>`                    | `ON` / `OFF` (empty = state request)               | relay; PulseTime on the device times it   |
 * | tasmota  | out       | `cmnd/<t>/STATUS`                      | `10`                                               | state request for the switches            |
 * | esphome  | in        | `<prefix>/wiegand/raw`, `<prefix>/wiegand/<readerId>/raw` | `{"value":7748329,"bits":26}` (value may be a string) | `on_raw` forwarded by your YAML |
 * | esphome  | in        | `<prefix>/wiegand/key`, `<prefix>/wiegand/<readerId>/key` | `{"key":"5"}`                   | `on_key`, becomes a 4-bit burst           |
 * | esphome  | in        | `<prefix>/status`                      | `online` / `offline`                               | ESPHome birth and will messages           |
 * | esphome  | in        | `<prefix>/binary_sensor/door_contact/state` | `ON` / `OFF`                                  | contact, ON = open                        |
 * | esphome  | in        | `<prefix>/binary_sensor/door_tamper/state`  | `ON` / `OFF`                                  | tamper switch of the enclosure/reader     |
 * | esphome  | in        | `<prefix>/binary_sensor/rex/state`     | `ON` / `OFF`                                       | REX on each OFF→ON change                 |
 * | esphome  | in        | `<prefix>/switch/strike/state`         | `ON` / `OFF`                                       | strike relay, ON = unlocked               |
 * | esphome  | out       | `<prefix>/switch/strike/command`       | `ON` / `OFF`                                       | strike command                            |
 * | esp-rfid | in        | `<prefix>/send` (older firmware: `<prefix>`) | `{"type":"boot"│"heartbeat","ip":…}`         | controller online; its IP is learned      |
 * | esp-rfid | in        | `<prefix>/send`, `<prefix>/tag`        | `{"type":"access","uid":"…"}`                      | card seen (decoded UID, see limits)       |
 * | esp-rfid | in        | `<prefix>/send`                        | `{"type":"door","door":"open"}`, `{"src":"door","desc":"Door Open"}` | contact                 |
 * | esp-rfid | in        | `<prefix>/io/door`, `<prefix>/io/lock`, `<prefix>/avty` | `open`/`closed`, `locked`/`unlocked`, `online`/`offline` | Home Assistant mode topics |
 * | esp-rfid | out       | `<prefix>/cmd`                         | `{"cmd":"opendoor","doorip":"<ip>"}`               | pulse the relay (esp-rfid times it)       |
 *
 * Junk versus malformed. A message is a *presentation* when it arrives on a frame/key topic in
 * the firmware's envelope with the frame field of the right JSON type: it is passed on to the
 * reader even if its content is wrong, so the decoder refuses it with a reason and the server
 * records a denied `malformed_frame` decision (`{"bits":"01x1"}` reaches the reader as
 * `{kind:'frame', bits:'01x1'}`). Everything else that cannot be used is *junk*: dropped, counted
 * and logged with the topic and reason, never thrown. Junk includes payloads over 4 KiB, invalid
 * UTF-8, broken JSON, wrong JSON types (`{"bits":1011}`), a bare (un-wrapped) payload with
 * anything but 0/1 in it, bit strings over 256 characters, unknown enum values (`ajar`), unknown
 * reader ids, unknown topics under a generic controller's prefix, and retained frames, keys and
 * REX presses (a retained credential is stale by definition and must never be replayed).
 *
 * A presentation that can be recognised but not turned into bits becomes a reader
 * `{kind:'fault', reason:'line_fault', detail}` so the attempt is on record: esp-rfid UIDs when
 * the frame length is unknown, and Tasmota keypad entries buffered into one number
 * (SetOption124 0).
 *
 * Firmware limits (also in the driver's README section):
 * - tasmota: xsns_82 checks parity itself and strips the two parity bits; the frame is rebuilt
 *   with standard (half even / half odd) parity. A parity error is reported by Tasmota as UID 0;
 *   that is passed on as an all-zero frame, which fails odd parity in the decoder and so is
 *   recorded as a denied decision instead of vanishing. Keys need `SetOption124 1` (one message
 *   per key); 8-bit keys are rebuilt with their inverted high nibble. Contact and REX need
 *   switches that do not drive the relay: `SwitchMode<n> 15` (publishes tele/SENSOR at once) or
 *   `SetOption114 1` (publishes `{"Switch<n>":{"Action":…}}`). ON means open / pressed.
 * - esphome: your YAML forwards the wiegand component's triggers. `on_raw` also fires for key
 *   presses, so once a 4/8-bit raw burst arrived from a reader its `key` messages are ignored.
 *   Publish `value` as a string when frames can be longer than 53 bits.
 * - esp-rfid: sends decoded UIDs, never frames. With `uidBits` (26 or 34) set and a Wiegand
 *   reader (esp-rfid prints its code in decimal) the frame is rebuilt like Tasmota's; otherwise
 *   each card becomes a reader fault. Its own access decision is ignored: give esp-rfid no users.
 *   Commands carry the device IP (`doorIp`, or learned from boot/heartbeat). There is no lock
 *   command (the device relocks after its own activation time) and, outside Home Assistant mode,
 *   no strike state or LWT. Its "tamper" event means "opened without a grant", which the door
 *   machine derives itself from the contact, so it is not mapped to tamper.
 */
import type { ReaderInput } from './ports.ts';

export type MqttFirmware = 'esphome' | 'tasmota' | 'esp-rfid' | 'generic';

/** The door driver config (site schema `mqttDoorDriver`) plus optional per-firmware fields. */
export interface MqttDoorConfig {
  url: string;
  username?: string;
  password?: string;
  firmware: MqttFirmware;
  topicPrefix: string;
  /** tasmota: the device's FullTopic; default `%prefix%/%topic%/`. */
  fullTopic?: string;
  /** tasmota: relay of the strike (POWER<n>); default 1. */
  relay?: number;
  /** tasmota: switch of the door contact; default 1, 0 = none. */
  contactSwitch?: number;
  /** tasmota: switch of the REX button; default 2, 0 = none. */
  rexSwitch?: number;
  /** esp-rfid: the device IP every command must carry; learned from boot/heartbeat if unset. */
  doorIp?: string;
  /** esp-rfid: bit length of the Wiegand reader's frames (26 or 34) to rebuild frames from UIDs. */
  uidBits?: 26 | 34;
}

/** Largest payload looked at; anything longer is junk. */
export const MAX_PAYLOAD_BYTES = 4096;
/** Longest bit string passed to a reader (frames are at most 128 bits; decoder rejects more). */
export const MAX_BITS_CHARS = 256;

export type ControllerEvent =
  | { type: 'input'; readerId: string; input: ReaderInput }
  | { type: 'contact'; state: 'open' | 'closed' }
  | { type: 'tamper'; active: boolean }
  | { type: 'rex' }
  | { type: 'availability'; online: boolean }
  | { type: 'strike'; state: 'locked' | 'unlocked' | 'jammed' };

export type JunkCode =
  | 'too_large'
  | 'not_utf8'
  | 'not_json'
  | 'bad_shape'
  | 'bad_value'
  | 'unknown_topic'
  | 'unknown_reader'
  | 'stale_retained';

export type ParseOutcome =
  | { kind: 'events'; events: ControllerEvent[] }
  /** A topic of the controller that carries nothing for the door (e.g. Tasmota's INFO1). */
  | { kind: 'ignored'; note: string }
  | { kind: 'junk'; code: JunkCode; reason: string };

export interface MqttCommand {
  topic: string;
  payload: string;
}

export type CommandPlan =
  | { kind: 'publish'; command: MqttCommand }
  /** The firmware has no such command (esp-rfid lock): nothing to send. */
  | { kind: 'none'; note: string }
  | { kind: 'error'; reason: string };

export interface MqttDialect {
  readonly firmware: MqttFirmware;
  /** Topic filters to subscribe to (QoS 1). */
  readonly subscriptions: readonly string[];
  /** The controller reports the strike state, so the strike follows it (else optimistic). */
  readonly hasStrikeState: boolean;
  /** The controller can be asked to republish its state (see `stateRequests`). */
  readonly canRequestState: boolean;
  /** Where the availability (LWT) is read from, for messages. */
  readonly availabilityTopic: string | null;
  parse(topic: string, payload: Uint8Array | string, meta?: { retained?: boolean }): ParseOutcome;
  command(action: 'unlock' | 'lock'): CommandPlan;
  stateRequests(): MqttCommand[];
}

export interface DialectOptions {
  /** Readers wired to this controller; single-reader firmwares use the first. */
  readerIds: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// Small helpers

const utf8 = new TextDecoder('utf-8', { fatal: true });

type Junk = Extract<ParseOutcome, { kind: 'junk' }>;
const junk = (code: JunkCode, reason: string): Junk => ({ kind: 'junk', code, reason });
const events = (...list: ControllerEvent[]): ParseOutcome => ({ kind: 'events', events: list });
const ignored = (note: string): ParseOutcome => ({ kind: 'ignored', note });

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.slice(0, 40))}`;
  if (typeof v === 'object') return 'an object';
  return `the ${typeof v} ${String(v)}`;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** JSON object payload, or why not. */
function parseObject(text: string): Record<string, unknown> | Junk {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return junk('not_json', `expected a JSON object, got ${JSON.stringify(text.slice(0, 40))}`);
  }
  if (!isRecord(v)) return junk('bad_shape', `expected a JSON object, got ${describeValue(v)}`);
  return v;
}

const isJunk = (v: unknown): v is Junk =>
  isRecord(v) && v.kind === 'junk' && typeof v.code === 'string';

/** A one-word payload such as `open` or `ON`, lower-cased; or why not. */
function word(text: string, allowed: readonly string[]): string | Junk {
  const w = text.trim().toLowerCase();
  if (allowed.includes(w)) return w;
  return junk(
    'bad_value',
    `expected ${allowed.join(' | ')}, got ${w === '' ? 'an empty payload' : JSON.stringify(text.slice(0, 40))}`,
  );
}

/**
 * The bits of a frame or key message in the generic convention: `{"bits": "…"}` (content passed
 * on verbatim, the decoder judges it) or a bare/JSON-quoted string of 0/1 only.
 */
export function parseBitsPayload(text: string): { bits: string } | Junk {
  const t = text.trim();
  if (t === '') return junk('bad_value', 'empty payload where a frame was expected');
  if (t.startsWith('{')) {
    const obj = parseObject(t);
    if (isJunk(obj)) return obj;
    if (!('bits' in obj)) return junk('bad_shape', 'JSON frame has no "bits" field');
    const bits = obj.bits;
    if (typeof bits !== 'string') {
      return junk('bad_shape', `"bits" is ${describeValue(bits)}, not a string`);
    }
    if (bits.length > MAX_BITS_CHARS) {
      return junk('bad_value', `"bits" is ${bits.length} characters, over ${MAX_BITS_CHARS}`);
    }
    return { bits };
  }
  let s = t;
  if (t.startsWith('"')) {
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch {
      return junk('not_json', 'payload starts with a quote but is not a JSON string');
    }
    if (typeof v !== 'string')
      return junk('bad_shape', `expected a bit string, got ${describeValue(v)}`);
    s = v;
  }
  if (!/^[01]+$/.test(s)) {
    return junk(
      'bad_value',
      `bare payload ${JSON.stringify(s.slice(0, 40))} is not a bit string (only 0 and 1); ` +
        'send {"bits":"…"} to have the decoder judge it',
    );
  }
  if (s.length > MAX_BITS_CHARS) {
    return junk('bad_value', `bit string is ${s.length} characters, over ${MAX_BITS_CHARS}`);
  }
  return { bits: s };
}

/** Binary of `value`, left-padded to `width`; null when it needs more bits. */
function toBits(value: bigint, width: number): string | null {
  const s = value.toString(2);
  if (s.length > width) return null;
  return s.padStart(width, '0');
}

/**
 * A Wiegand frame rebuilt from its data bits (firmware stripped the parity): leading even parity
 * over the first half of the data, trailing odd parity over the second half (H10301, H10306 and
 * the 24/32-bit variants Tasmota knows).
 */
export function frameWithParity(data: bigint, frameBits: number): string | null {
  const dataBits = frameBits - 2;
  const d = toBits(data, dataBits);
  if (d === null) return null;
  const half = Math.floor(dataBits / 2);
  const ones = (s: string) => [...s].filter((c) => c === '1').length;
  const even = ones(d.slice(0, dataBits - half)) % 2; // makes the first half + bit even
  const odd = 1 - (ones(d.slice(dataBits - half)) % 2); // makes the second half + bit odd
  return `${even}${d}${odd}`;
}

const KEYS = '0123456789*#';

/** 4-bit burst of a keypad key given as '5', '#', 0-11 or its ASCII code; null if not a key. */
export function keyToBurst(key: unknown): string | null {
  let value = -1;
  if (typeof key === 'string' && key.length === 1) value = KEYS.indexOf(key);
  else if (typeof key === 'number' && Number.isInteger(key)) {
    if (key >= 0 && key <= 11) value = key;
    else if (key >= 0 && key < 128) value = KEYS.indexOf(String.fromCharCode(key));
  }
  if (value < 0) return null;
  return value.toString(2).padStart(4, '0');
}

/** Non-negative integer from a JSON number or a decimal / 0x-hex / Tasmota `…h` string. */
function toBigInt(v: unknown, what: string): bigint | Junk {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) {
      return junk(
        'bad_value',
        `${what} ${String(v)} is not a non-negative integer below 2^53 (send longer values as a string)`,
      );
    }
    return BigInt(v);
  }
  if (typeof v === 'string') {
    const s = v.trim();
    if (/^\d{1,40}$/.test(s)) return BigInt(s);
    if (/^0x[0-9a-f]{1,32}$/i.test(s)) return BigInt(s);
    if (/^[0-9a-f]{1,32}h$/i.test(s)) return BigInt(`0x${s.slice(0, -1)}`);
    return junk('bad_value', `${what} ${JSON.stringify(s.slice(0, 40))} is not a number`);
  }
  return junk('bad_shape', `${what} is ${describeValue(v)}, not a number`);
}

function checkTopicPart(value: string, what: string): void {
  if (value === '' || /[+#\0]/.test(value)) {
    throw new Error(`${what} ${JSON.stringify(value)} must be non-empty without MQTT wildcards`);
  }
}

/** Prefix without a trailing slash; rejects wildcards. */
function normalisePrefix(prefix: string): string {
  const p = prefix.replace(/\/+$/, '');
  checkTopicPart(p, 'topicPrefix');
  return p;
}

/** The part of `topic` below `prefix/`, split; '' when it is the prefix itself; null if outside. */
function below(prefix: string, topic: string): string[] | null {
  if (topic === prefix) return [];
  if (!topic.startsWith(`${prefix}/`)) return null;
  return topic.slice(prefix.length + 1).split('/');
}

/** Decode and size-check, then hand the text to the firmware's parser. */
function withText(payload: Uint8Array | string, fn: (text: string) => ParseOutcome): ParseOutcome {
  let text: string;
  if (typeof payload === 'string') {
    if (Buffer.byteLength(payload, 'utf8') > MAX_PAYLOAD_BYTES) {
      return junk('too_large', `payload over ${MAX_PAYLOAD_BYTES} bytes`);
    }
    text = payload;
  } else {
    if (payload.byteLength > MAX_PAYLOAD_BYTES) {
      return junk('too_large', `payload is ${payload.byteLength} bytes, over ${MAX_PAYLOAD_BYTES}`);
    }
    try {
      text = utf8.decode(payload);
    } catch {
      return junk('not_utf8', 'payload is not valid UTF-8');
    }
  }
  return fn(text);
}

const STALE = junk(
  'stale_retained',
  'retained message on an input topic: a stored frame, key or REX press is never replayed',
);

function readerEvent(readerId: string, input: ReaderInput): ParseOutcome {
  return events({ type: 'input', readerId, input });
}

// ---------------------------------------------------------------------------------------------
// generic

function genericDialect(prefix: string, readerIds: readonly string[]): MqttDialect {
  const readers = new Set(readerIds);
  const t = (s: string) => `${prefix}/${s}`;
  return {
    firmware: 'generic',
    subscriptions: [`${prefix}/#`],
    hasStrikeState: true,
    canRequestState: true,
    availabilityTopic: t('status'),
    parse(topic, payload, meta) {
      const parts = below(prefix, topic);
      if (parts === null) return junk('unknown_topic', 'topic outside the controller prefix');
      const rel = parts.join('/');
      if (rel === 'strike/set' || rel === 'state/get') return ignored('our own command');
      return withText(payload, (text) => {
        if (parts.length === 3 && parts[0] === 'reader') {
          const [, readerId = '', leaf] = parts;
          if (leaf !== 'frame' && leaf !== 'key') {
            return junk('unknown_topic', `unknown reader topic "${leaf}" (frame or key)`);
          }
          if (!readers.has(readerId)) {
            return junk('unknown_reader', `reader "${readerId}" is not on this controller`);
          }
          if (meta?.retained) return STALE;
          const got = parseBitsPayload(text);
          if (isJunk(got)) return got;
          return readerEvent(readerId, {
            kind: leaf === 'frame' ? 'frame' : 'key-burst',
            bits: got.bits,
          });
        }
        switch (rel) {
          case 'contact': {
            const w = word(text, ['open', 'closed', 'tamper']);
            if (isJunk(w)) return w;
            if (w === 'tamper') return events({ type: 'tamper', active: true });
            return events(
              { type: 'tamper', active: false },
              { type: 'contact', state: w === 'open' ? 'open' : 'closed' },
            );
          }
          case 'rex':
            return meta?.retained ? STALE : events({ type: 'rex' });
          case 'status': {
            const w = word(text, ['online', 'offline']);
            return isJunk(w) ? w : events({ type: 'availability', online: w === 'online' });
          }
          case 'strike/state': {
            const w = word(text, ['locked', 'unlocked', 'jammed']);
            if (isJunk(w)) return w;
            const state = w === 'locked' ? 'locked' : w === 'unlocked' ? 'unlocked' : 'jammed';
            return events({ type: 'strike', state });
          }
          default:
            return junk('unknown_topic', `no such topic in the generic convention: "${rel}"`);
        }
      });
    },
    command(action) {
      return { kind: 'publish', command: { topic: t('strike/set'), payload: action } };
    },
    stateRequests: () => [{ topic: t('state/get'), payload: '' }],
  };
}

// ---------------------------------------------------------------------------------------------
// tasmota

const CARD_SIZES = [24, 26, 32, 34];

function tasmotaDialect(
  deviceTopic: string,
  config: MqttDoorConfig,
  readerIds: readonly string[],
): MqttDialect {
  const fullTopic = config.fullTopic ?? '%prefix%/%topic%/';
  if (!fullTopic.includes('%prefix%') || !fullTopic.includes('%topic%')) {
    throw new Error('fullTopic must contain %prefix% and %topic%');
  }
  if (/%(?!prefix%|topic%)/.test(fullTopic.replace(/%prefix%|%topic%/g, ''))) {
    throw new Error('fullTopic may only use the %prefix% and %topic% placeholders');
  }
  const relay = config.relay ?? 1;
  const contactSwitch = config.contactSwitch ?? 1;
  const rexSwitch = config.rexSwitch ?? 2;
  for (const [name, v] of [
    ['relay', relay],
    ['contactSwitch', contactSwitch],
    ['rexSwitch', rexSwitch],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 32 || (name === 'relay' && v === 0)) {
      throw new Error(`${name} must be an integer from ${name === 'relay' ? 1 : 0} to 32`);
    }
  }
  const base = (kind: 'cmnd' | 'stat' | 'tele') => {
    const b = fullTopic.replace('%prefix%', kind).replace('%topic%', deviceTopic);
    return b.endsWith('/') ? b : `${b}/`;
  };
  const topicOf = (kind: 'cmnd' | 'stat' | 'tele', leaf: string) => `${base(kind)}${leaf}`;
  const readerId = readerIds[0];
  let rexOn: boolean | null = null;

  /** Strike state from a POWER value, or junk. */
  const power = (v: unknown): ControllerEvent | Junk => {
    if (typeof v !== 'string') return junk('bad_shape', `POWER is ${describeValue(v)}`);
    const w = word(v, ['on', 'off']);
    if (isJunk(w)) return w;
    return { type: 'strike', state: w === 'on' ? 'unlocked' : 'locked' };
  };

  /** ON/OFF of `Switch<n>` in a SENSOR/STATUS object: true = ON, undefined = absent. */
  const switchState = (obj: Record<string, unknown>, n: number): boolean | undefined | Junk => {
    if (n === 0) return undefined;
    const v = obj[`Switch${n}`];
    if (v === undefined) return undefined;
    const w = typeof v === 'string' ? word(v, ['on', 'off']) : null;
    if (w === null || isJunk(w)) {
      return junk('bad_value', `Switch${n} is ${describeValue(v)}, expected ON or OFF`);
    }
    return w === 'on';
  };

  /** Contact and REX from switch states; `live` = a report of a change, not a status answer. */
  const switches = (obj: Record<string, unknown>, retained: boolean, live: boolean) => {
    const out: ControllerEvent[] = [];
    const contact = switchState(obj, contactSwitch);
    if (isJunk(contact)) return contact;
    if (contact !== undefined) out.push({ type: 'contact', state: contact ? 'open' : 'closed' });
    const rex = switchState(obj, rexSwitch);
    if (isJunk(rex)) return rex;
    if (rex !== undefined) {
      // Periodic SENSOR reports repeat the state: only a live change to ON is a press.
      if (rex && rexOn !== true && live && !retained) out.push({ type: 'rex' });
      rexOn = rex;
    }
    return out;
  };

  const wiegand = (w: unknown): ControllerEvent | Junk => {
    if (!isRecord(w)) return junk('bad_shape', `"Wiegand" is ${describeValue(w)}, not an object`);
    const size = w.Size;
    if (typeof size !== 'number' || !Number.isInteger(size)) {
      return junk('bad_shape', `Wiegand "Size" is ${describeValue(size)}`);
    }
    const uid = toBigInt(w.UID, 'Wiegand "UID"');
    if (isJunk(uid)) return uid;
    if (readerId === undefined) return junk('unknown_reader', 'no reader on this controller');
    const input = (i: ReaderInput): ControllerEvent => ({ type: 'input', readerId, input: i });
    if (size === 4 || size === 8) {
      if (uid > 15n) {
        return input({
          kind: 'fault',
          reason: 'line_fault',
          detail:
            `Tasmota sent a buffered keypad entry (UID ${uid}, Size ${size}): ` +
            'set SetOption124 1 on the device so every key is sent on its own',
        });
      }
      const k = Number(uid);
      const low = k.toString(2).padStart(4, '0');
      return input({
        kind: 'key-burst',
        bits: size === 4 ? low : (k ^ 0xf).toString(2).padStart(4, '0') + low,
      });
    }
    if (!CARD_SIZES.includes(size)) {
      return junk('bad_value', `Wiegand Size ${size} is not one Tasmota reports (4, 8, 24-34)`);
    }
    // UID 0 is how xsns_82 reports a parity error: pass a frame that fails parity.
    if (uid === 0n) return input({ kind: 'frame', bits: '0'.repeat(size) });
    const bits = frameWithParity(uid, size);
    if (bits === null) return junk('bad_value', `UID ${uid} does not fit a ${size}-bit frame`);
    return input({ kind: 'frame', bits });
  };

  const parseJsonTopic = (leaf: string, text: string, retained: boolean): ParseOutcome => {
    const obj = parseObject(text);
    if (isJunk(obj)) return obj;
    const out: ControllerEvent[] = [];
    if (leaf === 'SENSOR') {
      if ('Wiegand' in obj) {
        if (retained) return STALE;
        const e = wiegand(obj.Wiegand);
        if (isJunk(e)) return e;
        out.push(e);
      }
      const s = switches(obj, retained, true);
      if (isJunk(s)) return s;
      out.push(...s);
    } else if (leaf === 'STATUS10') {
      const sns = obj.StatusSNS;
      if (!isRecord(sns)) return junk('bad_shape', 'STATUS10 without a "StatusSNS" object');
      const s = switches(sns, retained, false); // a status answer is a state, never a press
      if (isJunk(s)) return s;
      out.push(...s);
    } else {
      // RESULT, SWITCH<n>, STATE: power states and switch actions.
      for (const key of relay === 1 ? ['POWER', 'POWER1'] : [`POWER${relay}`]) {
        if (key in obj) {
          const e = power(obj[key]);
          if (isJunk(e)) return e;
          out.push(e);
        }
      }
      for (const [n, role] of [
        [contactSwitch, 'contact'],
        [rexSwitch, 'rex'],
      ] as const) {
        if (n === 0) continue;
        const v = obj[`Switch${n}`];
        if (v === undefined || leaf === 'STATE') continue;
        const action = isRecord(v) ? v.Action : undefined;
        if (typeof action !== 'string') {
          return junk('bad_shape', `Switch${n} is ${describeValue(v)}, expected {"Action": …}`);
        }
        const a = action.trim().toUpperCase();
        if (role === 'contact') {
          if (a === 'ON' || a === 'OFF') {
            out.push({ type: 'contact', state: a === 'ON' ? 'open' : 'closed' });
          }
        } else {
          if (a === 'ON' && !retained) out.push({ type: 'rex' });
          if (a === 'ON' || a === 'OFF') rexOn = a === 'ON';
        }
      }
    }
    return out.length > 0 ? { kind: 'events', events: out } : ignored(`no door data in ${leaf}`);
  };

  const stat = base('stat');
  const tele = base('tele');
  const cmnd = base('cmnd');
  return {
    firmware: 'tasmota',
    subscriptions: [`${tele}#`, `${stat}#`],
    hasStrikeState: true,
    canRequestState: true,
    availabilityTopic: topicOf('tele', 'LWT'),
    parse(topic, payload, meta) {
      const retained = meta?.retained === true;
      let leaf: string;
      let kind: 'stat' | 'tele';
      if (topic.startsWith(tele)) {
        leaf = topic.slice(tele.length);
        kind = 'tele';
      } else if (topic.startsWith(stat)) {
        leaf = topic.slice(stat.length);
        kind = 'stat';
      } else if (topic.startsWith(cmnd)) {
        return ignored('a command to the device');
      } else {
        return junk('unknown_topic', 'topic outside the device topics');
      }
      return withText(payload, (text) => {
        if (kind === 'tele' && leaf === 'LWT') {
          const w = word(text, ['online', 'offline']);
          return isJunk(w) ? w : events({ type: 'availability', online: w === 'online' });
        }
        if (kind === 'stat' && (leaf === 'POWER' || leaf === `POWER${relay}`)) {
          if (leaf === 'POWER' && relay !== 1) return ignored('another relay');
          const e = power(text);
          return isJunk(e) ? e : events(e);
        }
        const jsonLeaf =
          (kind === 'tele' && (leaf === 'SENSOR' || leaf === 'STATE')) ||
          (kind === 'stat' &&
            (leaf === 'RESULT' ||
              leaf === 'STATUS10' ||
              (contactSwitch > 0 && leaf === `SWITCH${contactSwitch}`) ||
              (rexSwitch > 0 && leaf === `SWITCH${rexSwitch}`)));
        if (!jsonLeaf) return ignored(`${kind}/${leaf} carries nothing for the door`);
        return parseJsonTopic(leaf, text, retained);
      });
    },
    command(action) {
      return {
        kind: 'publish',
        command: {
          topic: topicOf('cmnd', `POWER${relay}`),
          payload: action === 'unlock' ? 'ON' : 'OFF',
        },
      };
    },
    stateRequests() {
      const req: MqttCommand[] = [{ topic: topicOf('cmnd', `POWER${relay}`), payload: '' }];
      if (contactSwitch > 0) req.push({ topic: topicOf('cmnd', 'STATUS'), payload: '10' });
      return req;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// esphome

function esphomeDialect(prefix: string, readerIds: readonly string[]): MqttDialect {
  const readers = new Set(readerIds);
  const rawKeysFrom = new Set<string>();
  let rexOn: boolean | null = null;
  const onOff = (text: string) => word(text, ['on', 'off']);

  const wiegand = (readerId: string, leaf: string, text: string, retained: boolean) => {
    if (!readers.has(readerId)) {
      return junk('unknown_reader', `reader "${readerId}" is not on this controller`);
    }
    if (retained) return STALE;
    const obj = parseObject(text);
    if (isJunk(obj)) return obj;
    if (leaf === 'key') {
      if (rawKeysFrom.has(readerId)) return ignored('keys of this reader arrive through on_raw');
      if (!('key' in obj)) return junk('bad_shape', 'key message has no "key" field');
      const bits = keyToBurst(obj.key);
      if (bits === null)
        return junk('bad_value', `"key" is ${describeValue(obj.key)}, not a keypad key`);
      return readerEvent(readerId, { kind: 'key-burst', bits });
    }
    const n = obj.bits;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 128) {
      return junk('bad_shape', `"bits" is ${describeValue(n)}, expected an integer from 1 to 128`);
    }
    if (!('value' in obj)) return junk('bad_shape', 'raw message has no "value" field');
    const value = toBigInt(obj.value, '"value"');
    if (isJunk(value)) return value;
    const bits = toBits(value, n);
    if (bits === null) return junk('bad_value', `"value" ${value} does not fit in ${n} bits`);
    if (n === 4 || n === 8) {
      rawKeysFrom.add(readerId);
      return readerEvent(readerId, { kind: 'key-burst', bits });
    }
    return readerEvent(readerId, { kind: 'frame', bits });
  };

  return {
    firmware: 'esphome',
    subscriptions: [`${prefix}/#`],
    hasStrikeState: true,
    canRequestState: false,
    availabilityTopic: `${prefix}/status`,
    parse(topic, payload, meta) {
      const parts = below(prefix, topic);
      if (parts === null) return junk('unknown_topic', 'topic outside the controller prefix');
      const retained = meta?.retained === true;
      const rel = parts.join('/');
      if (rel === 'switch/strike/command') return ignored('our own command');
      return withText(payload, (text) => {
        if (parts[0] === 'wiegand') {
          const first = readerIds[0];
          if (parts.length === 2 && (parts[1] === 'raw' || parts[1] === 'key')) {
            if (first === undefined) return junk('unknown_reader', 'no reader on this controller');
            return wiegand(first, parts[1], text, retained);
          }
          if (parts.length === 3 && (parts[2] === 'raw' || parts[2] === 'key')) {
            return wiegand(parts[1] ?? '', parts[2], text, retained);
          }
          return junk('unknown_topic', `unknown wiegand topic "${rel}"`);
        }
        switch (rel) {
          case 'status': {
            const w = word(text, ['online', 'offline']);
            return isJunk(w) ? w : events({ type: 'availability', online: w === 'online' });
          }
          case 'binary_sensor/door_contact/state': {
            const w = onOff(text);
            return isJunk(w)
              ? w
              : events({ type: 'contact', state: w === 'on' ? 'open' : 'closed' });
          }
          case 'binary_sensor/door_tamper/state': {
            const w = onOff(text);
            return isJunk(w) ? w : events({ type: 'tamper', active: w === 'on' });
          }
          case 'binary_sensor/rex/state': {
            const w = onOff(text);
            if (isJunk(w)) return w;
            const on = w === 'on';
            const press = on && rexOn !== true && !retained;
            rexOn = on;
            return press ? events({ type: 'rex' }) : ignored('REX released or retained state');
          }
          case 'switch/strike/state': {
            const w = onOff(text);
            if (isJunk(w)) return w;
            return events({ type: 'strike', state: w === 'on' ? 'unlocked' : 'locked' });
          }
          default:
            return ignored(`esphome topic "${rel}" carries nothing for the door`);
        }
      });
    },
    command(action) {
      return {
        kind: 'publish',
        command: {
          topic: `${prefix}/switch/strike/command`,
          payload: action === 'unlock' ? 'ON' : 'OFF',
        },
      };
    },
    stateRequests: () => [],
  };
}

// ---------------------------------------------------------------------------------------------
// esp-rfid

const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)$/;

function espRfidDialect(
  prefix: string,
  config: MqttDoorConfig,
  readerIds: readonly string[],
): MqttDialect {
  if (config.doorIp !== undefined && !IPV4.test(config.doorIp)) {
    throw new Error(`doorIp ${JSON.stringify(config.doorIp)} is not an IPv4 address`);
  }
  if (config.uidBits !== undefined && config.uidBits !== 26 && config.uidBits !== 34) {
    throw new Error('uidBits must be 26 or 34');
  }
  let doorIp = config.doorIp ?? null;
  const readerId = readerIds[0];

  const access = (obj: Record<string, unknown>, retained: boolean): ParseOutcome => {
    const uid = obj.uid;
    if (typeof uid !== 'string' && typeof uid !== 'number') {
      return junk('bad_shape', `access "uid" is ${describeValue(uid)}`);
    }
    const u = String(uid).trim();
    // esp-rfid answers our own opendoor command with an access message without a UID.
    if (u === '' && obj.username === 'MQTT') return ignored('echo of our opendoor command');
    if (u === '') return junk('bad_value', 'access message with an empty "uid"');
    if (readerId === undefined) return junk('unknown_reader', 'no reader on this controller');
    if (retained) return STALE;
    const fault = (detail: string) =>
      readerEvent(readerId, { kind: 'fault', reason: 'line_fault', detail });
    if (config.uidBits === undefined) {
      return fault(
        `esp-rfid sent a decoded UID (${u.slice(0, 24)}), not a frame; set uidBits (26 or 34) ` +
          'for a Wiegand reader, other readers are not supported',
      );
    }
    if (!/^\d{1,20}$/.test(u)) {
      return fault(`esp-rfid UID ${JSON.stringify(u.slice(0, 24))} is not a decimal Wiegand code`);
    }
    const bits = frameWithParity(BigInt(u), config.uidBits);
    if (bits === null) return fault(`esp-rfid UID ${u} does not fit a ${config.uidBits}-bit frame`);
    return readerEvent(readerId, { kind: 'frame', bits });
  };

  const send = (text: string, retained: boolean): ParseOutcome => {
    const obj = parseObject(text);
    if (isJunk(obj)) return obj;
    const type = typeof obj.type === 'string' ? obj.type.toLowerCase() : undefined;
    if (type === 'boot' || type === 'heartbeat' || type === 'hearthbeat') {
      const ip = obj.ip ?? obj['Local IP'];
      if (typeof ip === 'string' && IPV4.test(ip) && config.doorIp === undefined) doorIp = ip;
      return retained
        ? ignored('retained boot/heartbeat')
        : events({ type: 'availability', online: true });
    }
    if (type === 'access') return access(obj, retained);
    if (type === 'door') {
      const d = obj.door ?? obj.state;
      if (typeof d !== 'string') {
        return junk('bad_shape', `door message "door" is ${describeValue(d)}`);
      }
      const w = word(d, ['open', 'closed']);
      if (isJunk(w)) return w;
      return events({ type: 'contact', state: w === 'open' ? 'open' : 'closed' });
    }
    if (obj.src === 'door' && typeof obj.desc === 'string') {
      const desc = obj.desc.toLowerCase();
      if (desc === 'door open') return events({ type: 'contact', state: 'open' });
      if (desc === 'door closed') return events({ type: 'contact', state: 'closed' });
    }
    if (type === undefined && !('cmd' in obj) && !('command' in obj)) {
      return junk('bad_shape', 'esp-rfid message without "type"');
    }
    return ignored(`esp-rfid message ${String(obj.type ?? obj.cmd ?? obj.command)}`);
  };

  return {
    firmware: 'esp-rfid',
    // `<prefix>/#` also matches `<prefix>` itself (older firmware publishes there).
    subscriptions: [`${prefix}/#`],
    hasStrikeState: false,
    canRequestState: false,
    availabilityTopic: `${prefix}/avty`,
    parse(topic, payload, meta) {
      const parts = below(prefix, topic);
      if (parts === null) return junk('unknown_topic', 'topic outside the controller prefix');
      const retained = meta?.retained === true;
      const rel = parts.join('/');
      if (rel === 'cmd') return ignored('a command to the device');
      return withText(payload, (text) => {
        switch (rel) {
          case '':
          case 'send':
            return send(text, retained);
          case 'tag': {
            const obj = parseObject(text);
            return isJunk(obj) ? obj : access(obj, retained);
          }
          case 'avty': {
            const w = word(text, ['online', 'offline']);
            return isJunk(w) ? w : events({ type: 'availability', online: w === 'online' });
          }
          case 'io/door': {
            const w = word(text, ['open', 'closed', 'on', 'off']);
            if (isJunk(w)) return w;
            return events({
              type: 'contact',
              state: w === 'open' || w === 'on' ? 'open' : 'closed',
            });
          }
          case 'io/lock': {
            const w = word(text, ['locked', 'unlocked']);
            return isJunk(w)
              ? w
              : events({ type: 'strike', state: w === 'locked' ? 'locked' : 'unlocked' });
          }
          default:
            return ignored(`esp-rfid topic "${rel}" carries nothing for the door`);
        }
      });
    },
    command(action) {
      if (action === 'lock') {
        return { kind: 'none', note: 'esp-rfid relocks by itself after its activation time' };
      }
      if (doorIp === null) {
        return {
          kind: 'error',
          reason:
            'esp-rfid only accepts commands carrying its IP address: set doorIp, or wait for ' +
            'its boot or heartbeat message',
        };
      }
      return {
        kind: 'publish',
        command: {
          topic: `${prefix}/cmd`,
          payload: JSON.stringify({ cmd: 'opendoor', doorip: doorIp }),
        },
      };
    },
    stateRequests: () => [],
  };
}

// ---------------------------------------------------------------------------------------------

/** The topic and payload mapping of `config.firmware`, for the readers of one controller. */
export function createMqttDialect(config: MqttDoorConfig, opts: DialectOptions): MqttDialect {
  for (const id of opts.readerIds) checkTopicPart(id, 'reader id');
  if (new Set(opts.readerIds).size !== opts.readerIds.length) {
    throw new Error('reader ids must be unique');
  }
  if (config.firmware === 'tasmota') {
    checkTopicPart(config.topicPrefix, 'topicPrefix');
    if (config.topicPrefix.includes('/')) {
      throw new Error('for tasmota, topicPrefix is the device %topic% (no "/")');
    }
    return tasmotaDialect(config.topicPrefix, config, opts.readerIds);
  }
  const prefix = normalisePrefix(config.topicPrefix);
  switch (config.firmware) {
    case 'generic':
      return genericDialect(prefix, opts.readerIds);
    case 'esphome':
      return esphomeDialect(prefix, opts.readerIds);
    case 'esp-rfid':
      return espRfidDialect(prefix, config, opts.readerIds);
  }
}

/** Whether the firmware can say which of several readers a frame came from. */
export function supportsMultipleReaders(firmware: MqttFirmware): boolean {
  return firmware === 'generic' || firmware === 'esphome';
}

export interface TopicRow {
  direction: 'in' | 'out';
  topic: string;
  payload: string;
  meaning: string;
}

/** The table above as data, for the README and the console. */
export const MQTT_TOPIC_TABLE: Readonly<Record<MqttFirmware, readonly TopicRow[]>> = {
  generic: [
    {
      direction: 'in',
      topic: '<prefix>/reader/<readerId>/frame',
      payload: '{"bits":"0101…"} or 0101…',
      meaning: 'Wiegand frame',
    },
    {
      direction: 'in',
      topic: '<prefix>/reader/<readerId>/key',
      payload: '{"bits":"1011"} or 1011',
      meaning: 'keypad key burst (4 or 8 bits)',
    },
    {
      direction: 'in',
      topic: '<prefix>/contact',
      payload: 'open | closed | tamper',
      meaning: 'door position, retained',
    },
    { direction: 'in', topic: '<prefix>/rex', payload: 'any', meaning: 'request-to-exit press' },
    {
      direction: 'in',
      topic: '<prefix>/status',
      payload: 'online | offline',
      meaning: 'availability (LWT offline)',
    },
    {
      direction: 'in',
      topic: '<prefix>/strike/state',
      payload: 'locked | unlocked | jammed',
      meaning: 'strike state, retained',
    },
    {
      direction: 'out',
      topic: '<prefix>/strike/set',
      payload: 'unlock | lock',
      meaning: 'strike command, QoS 1',
    },
    {
      direction: 'out',
      topic: '<prefix>/state/get',
      payload: '(empty)',
      meaning: 'republish contact, strike and status',
    },
  ],
  tasmota: [
    {
      direction: 'in',
      topic: 'tele/<topic>/SENSOR',
      payload: '{"Wiegand":{"UID":7748328,"Size":26}}',
      meaning: 'card 24/26/32/34 bits (frame rebuilt with parity), key 4/8 bits (SetOption124 1)',
    },
    {
      direction: 'in',
      topic: 'tele/<topic>/SENSOR',
      payload: '{"Switch1":"ON"}',
      meaning:
        'contact (Switch<contactSwitch>, ON = open), REX on OFF→ON of Switch<rexSwitch>; SwitchMode 15',
    },
    {
      direction: 'in',
      topic: 'stat/<topic>/RESULT | SWITCH<n>',
      payload: '{"Switch2":{"Action":"ON"}}',
      meaning: 'contact / REX with SetOption114 1',
    },
    {
      direction: 'in',
      topic: 'stat/<topic>/STATUS10',
      payload: '{"StatusSNS":{"Switch1":"OFF"}}',
      meaning: 'contact, answer to the state request',
    },
    {
      direction: 'in',
      topic: 'tele/<topic>/LWT',
      payload: 'Online | Offline',
      meaning: 'availability',
    },
    {
      direction: 'in',
      topic: 'stat/<topic>/POWER<relay> | RESULT | tele/<topic>/STATE',
      payload: 'ON | OFF, {"POWER1":"ON"}',
      meaning: 'strike relay, ON = unlocked',
    },
    {
      direction: 'out',
      topic: 'cmnd/<topic>/POWER<relay>',
      payload: 'ON | OFF | (empty = query)',
      meaning: 'strike relay (PulseTime on the device)',
    },
    {
      direction: 'out',
      topic: 'cmnd/<topic>/STATUS',
      payload: '10',
      meaning: 'query the switches',
    },
  ],
  esphome: [
    {
      direction: 'in',
      topic: '<prefix>/wiegand[/<readerId>]/raw',
      payload: '{"value":7748329,"bits":26}',
      meaning: 'on_raw: frame, or key burst when 4/8 bits',
    },
    {
      direction: 'in',
      topic: '<prefix>/wiegand[/<readerId>]/key',
      payload: '{"key":"5"}',
      meaning: 'on_key: 4-bit burst (ignored once raw keys arrive)',
    },
    {
      direction: 'in',
      topic: '<prefix>/status',
      payload: 'online | offline',
      meaning: 'birth / will',
    },
    {
      direction: 'in',
      topic: '<prefix>/binary_sensor/door_contact/state',
      payload: 'ON | OFF',
      meaning: 'contact, ON = open',
    },
    {
      direction: 'in',
      topic: '<prefix>/binary_sensor/door_tamper/state',
      payload: 'ON | OFF',
      meaning: 'tamper',
    },
    {
      direction: 'in',
      topic: '<prefix>/binary_sensor/rex/state',
      payload: 'ON | OFF',
      meaning: 'REX on OFF→ON',
    },
    {
      direction: 'in',
      topic: '<prefix>/switch/strike/state',
      payload: 'ON | OFF',
      meaning: 'strike, ON = unlocked',
    },
    {
      direction: 'out',
      topic: '<prefix>/switch/strike/command',
      payload: 'ON | OFF',
      meaning: 'strike command',
    },
  ],
  'esp-rfid': [
    {
      direction: 'in',
      topic: '<prefix>/send (or <prefix>)',
      payload: '{"type":"boot"|"heartbeat","ip":"…"}',
      meaning: 'online; IP learned for commands',
    },
    {
      direction: 'in',
      topic: '<prefix>/send | <prefix>/tag',
      payload: '{"type":"access","uid":"…"}',
      meaning: 'card: frame only with uidBits, else reader fault',
    },
    {
      direction: 'in',
      topic: '<prefix>/send',
      payload: '{"type":"door","door":"open"} | {"src":"door","desc":"Door Open"}',
      meaning: 'contact',
    },
    {
      direction: 'in',
      topic: '<prefix>/io/door | io/lock | avty',
      payload: 'open/closed | locked/unlocked | online/offline',
      meaning: 'Home Assistant mode',
    },
    {
      direction: 'out',
      topic: '<prefix>/cmd',
      payload: '{"cmd":"opendoor","doorip":"<ip>"}',
      meaning: 'pulse the relay; no lock command',
    },
  ],
};
