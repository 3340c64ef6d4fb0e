import { EventEmitter } from 'node:events';
import type { connect as mqttConnect, MqttClient } from 'mqtt';
import { describe, expect, it } from 'vitest';
import {
  BUILTIN_FORMATS,
  createFormatRegistry,
  decodeFrame,
  decodeKeyBurst,
  encodeCard,
} from '../access/index.ts';
import { manualClock } from './clock.ts';
import { createMqttDoorDriver, type MqttDoorDriverOptions } from './door.mqtt.ts';
import {
  createMqttDialect,
  frameWithParity,
  keyToBurst,
  MAX_PAYLOAD_BYTES,
  MQTT_TOPIC_TABLE,
  parseBitsPayload,
  type ControllerEvent,
  type MqttDoorConfig,
  type ParseOutcome,
} from './mqtt.topics.ts';
import type { ContactState, ReaderInput, StrikeState } from './ports.ts';

const registry = createFormatRegistry();
const H10301 = BUILTIN_FORMATS.find((f) => f.id === 'H10301')!;
const H10306 = BUILTIN_FORMATS.find((f) => f.id === 'H10306')!;

function cfg(firmware: MqttDoorConfig['firmware'], extra: Partial<MqttDoorConfig> = {}) {
  return {
    url: 'mqtt://127.0.0.1:1883',
    firmware,
    topicPrefix: firmware === 'tasmota' ? 'door1' : 'site/door1',
    ...extra,
  } satisfies MqttDoorConfig;
}

function dialect(firmware: MqttDoorConfig['firmware'], extra: Partial<MqttDoorConfig> = {}) {
  return createMqttDialect(cfg(firmware, extra), { readerIds: ['r1', 'r2'] });
}

function eventsOf(outcome: ParseOutcome): ControllerEvent[] {
  if (outcome.kind !== 'events') {
    throw new Error(`expected events, got ${outcome.kind}: ${JSON.stringify(outcome)}`);
  }
  return outcome.events;
}

function inputOf(outcome: ParseOutcome): ReaderInput {
  const [e] = eventsOf(outcome);
  if (e?.type !== 'input') throw new Error(`expected a reader input, got ${JSON.stringify(e)}`);
  return e.input;
}

function junkCode(outcome: ParseOutcome): string {
  if (outcome.kind !== 'junk') throw new Error(`expected junk, got ${JSON.stringify(outcome)}`);
  expect(outcome.reason.length).toBeGreaterThan(5);
  return outcome.code;
}

// ---------------------------------------------------------------------------------------------

describe('bit payloads and frame rebuilding', () => {
  it('accepts {"bits"} objects verbatim, and bare or quoted bit strings', () => {
    expect(parseBitsPayload('{"bits":"0101"}')).toEqual({ bits: '0101' });
    expect(parseBitsPayload(' 0101\n')).toEqual({ bits: '0101' });
    expect(parseBitsPayload('"0101"')).toEqual({ bits: '0101' });
    // Malformed content inside the envelope is passed on for the decoder to refuse.
    expect(parseBitsPayload('{"bits":"01x1"}')).toEqual({ bits: '01x1' });
    expect(parseBitsPayload('{"bits":""}')).toEqual({ bits: '' });
  });

  it('refuses what is not recognisably a frame', () => {
    const code = (text: string) => (parseBitsPayload(text) as { code?: string }).code;
    expect(code('')).toBe('bad_value');
    expect(code('01x1')).toBe('bad_value');
    expect(code('"01x1"')).toBe('bad_value');
    expect(code('{"bits":1011}')).toBe('bad_shape');
    expect(code('{"bits":null}')).toBe('bad_shape');
    expect(code('{"bits":["0","1"]}')).toBe('bad_shape');
    expect(code('{"frame":"0101"}')).toBe('bad_shape');
    expect(code('{"bits":')).toBe('not_json');
    expect(code('"unterminated')).toBe('not_json');
    expect(code('[0,1]')).toBe('bad_value');
    expect(code(`{"bits":"${'1'.repeat(257)}"}`)).toBe('bad_value');
    expect(code('1'.repeat(257))).toBe('bad_value');
  });

  it('rebuilds 26- and 34-bit frames with the parity the decoder checks', () => {
    const bits26 = frameWithParity(0x763ae8n, 26)!; // Tasmota's example UID 7748328
    expect(bits26).toHaveLength(26);
    expect(decodeFrame(bits26, registry)).toMatchObject({
      ok: true,
      candidates: [{ formatId: 'H10301', facility: 118, card: 15080 }],
    });
    expect(bits26).toBe(encodeCard(H10301, { facility: 118, card: 15080 }));
    const bits34 = frameWithParity((1234n << 16n) | 56789n, 34)!;
    expect(bits34).toBe(encodeCard(H10306, { facility: 1234, card: 56789 }));
    expect(frameWithParity(1n << 24n, 26)).toBeNull();
  });

  it('turns keypad keys into 4-bit bursts', () => {
    expect(keyToBurst('5')).toBe('0101');
    expect(keyToBurst('*')).toBe('1010');
    expect(keyToBurst('#')).toBe('1011');
    expect(keyToBurst(11)).toBe('1011');
    expect(keyToBurst(0x35)).toBe('0101'); // ESPHome's on_key x is the ASCII code
    expect(keyToBurst(35)).toBe('1011'); // '#'
    expect(keyToBurst('A')).toBeNull();
    expect(keyToBurst(12)).toBeNull();
    expect(keyToBurst('55')).toBeNull();
    expect(decodeKeyBurst(keyToBurst('7')!)).toMatchObject({ ok: true, key: '7' });
  });
});

describe('generic topics', () => {
  const d = dialect('generic');
  const p = 'site/door1';

  it('subscribes below the prefix and maps commands and the state request', () => {
    expect(d.subscriptions).toEqual([`${p}/#`]);
    expect(d.command('unlock')).toEqual({
      kind: 'publish',
      command: { topic: `${p}/strike/set`, payload: 'unlock' },
    });
    expect(d.command('lock')).toMatchObject({ command: { payload: 'lock' } });
    expect(d.stateRequests()).toEqual([{ topic: `${p}/state/get`, payload: '' }]);
    expect(d.hasStrikeState && d.canRequestState).toBe(true);
    // A trailing slash on the prefix is tolerated.
    expect(dialect('generic', { topicPrefix: 'site/door1/' }).subscriptions).toEqual([`${p}/#`]);
  });

  it('reads frames and key bursts per reader', () => {
    expect(d.parse(`${p}/reader/r1/frame`, '{"bits":"10"}')).toEqual({
      kind: 'events',
      events: [{ type: 'input', readerId: 'r1', input: { kind: 'frame', bits: '10' } }],
    });
    expect(eventsOf(d.parse(`${p}/reader/r2/key`, Buffer.from('1011')))).toEqual([
      { type: 'input', readerId: 'r2', input: { kind: 'key-burst', bits: '1011' } },
    ]);
    const malformed = inputOf(d.parse(`${p}/reader/r1/frame`, '{"bits":"01x1"}'));
    expect(malformed).toEqual({ kind: 'frame', bits: '01x1' });
    // ...which the decoder then refuses with a reason.
    expect(decodeFrame('01x1', registry)).toMatchObject({ ok: false, reason: 'malformed_frame' });
  });

  it('reads contact, tamper, REX, status and strike state', () => {
    expect(eventsOf(d.parse(`${p}/contact`, 'open'))).toEqual([
      { type: 'tamper', active: false },
      { type: 'contact', state: 'open' },
    ]);
    expect(eventsOf(d.parse(`${p}/contact`, ' CLOSED '))).toContainEqual({
      type: 'contact',
      state: 'closed',
    });
    expect(eventsOf(d.parse(`${p}/contact`, 'tamper'))).toEqual([{ type: 'tamper', active: true }]);
    expect(eventsOf(d.parse(`${p}/rex`, ''))).toEqual([{ type: 'rex' }]);
    expect(eventsOf(d.parse(`${p}/status`, 'offline'))).toEqual([
      { type: 'availability', online: false },
    ]);
    expect(eventsOf(d.parse(`${p}/strike/state`, 'jammed'))).toEqual([
      { type: 'strike', state: 'jammed' },
    ]);
    expect(d.parse(`${p}/strike/set`, 'unlock').kind).toBe('ignored');
    expect(d.parse(`${p}/state/get`, '').kind).toBe('ignored');
  });

  it('retained state is state, retained frames/keys/REX are stale junk', () => {
    expect(eventsOf(d.parse(`${p}/contact`, 'open', { retained: true }))).toHaveLength(2);
    expect(junkCode(d.parse(`${p}/reader/r1/frame`, '0101', { retained: true }))).toBe(
      'stale_retained',
    );
    expect(junkCode(d.parse(`${p}/reader/r1/key`, '0101', { retained: true }))).toBe(
      'stale_retained',
    );
    expect(junkCode(d.parse(`${p}/rex`, 'x', { retained: true }))).toBe('stale_retained');
  });

  it.each([
    ['reader/r1/frame', '{not json', 'not_json'],
    ['reader/r1/frame', '{"bits":1011}', 'bad_shape'],
    ['reader/r1/frame', 'hello', 'bad_value'],
    ['reader/r1/frame', '', 'bad_value'],
    ['reader/r1/key', '{"bits":true}', 'bad_shape'],
    ['reader/r9/frame', '0101', 'unknown_reader'],
    ['reader/r1/beep', '0101', 'unknown_topic'],
    ['contact', 'ajar', 'bad_value'],
    ['contact', '{"state":"open"}', 'bad_value'],
    ['status', 'maybe', 'bad_value'],
    ['strike/state', 'exploded', 'bad_value'],
    ['whatever', 'x', 'unknown_topic'],
    ['', 'x', 'unknown_topic'],
  ])('junk: %s %j → %s', (leaf, payload, code) => {
    const topic = leaf ? `${p}/${leaf}` : p;
    expect(junkCode(d.parse(topic, payload))).toBe(code);
  });

  it('junk: oversized and non-UTF-8 payloads, topics outside the prefix', () => {
    const big = Buffer.alloc(MAX_PAYLOAD_BYTES + 1, 0x30);
    expect(junkCode(d.parse(`${p}/reader/r1/frame`, big))).toBe('too_large');
    expect(junkCode(d.parse(`${p}/reader/r1/frame`, '0'.repeat(MAX_PAYLOAD_BYTES + 1)))).toBe(
      'too_large',
    );
    expect(junkCode(d.parse(`${p}/contact`, Buffer.from([0xff, 0xfe, 0x6f])))).toBe('not_utf8');
    expect(junkCode(d.parse('elsewhere/contact', 'open'))).toBe('unknown_topic');
    expect(junkCode(d.parse(`${p}x/contact`, 'open'))).toBe('unknown_topic');
  });

  it('rejects prefixes and reader ids with wildcards', () => {
    expect(() => dialect('generic', { topicPrefix: 'site/+/door' })).toThrow(/wildcard/);
    expect(() => dialect('generic', { topicPrefix: '#' })).toThrow(/wildcard/);
    expect(() => createMqttDialect(cfg('generic'), { readerIds: ['r/1'] })).not.toThrow();
    expect(() => createMqttDialect(cfg('generic'), { readerIds: ['r+'] })).toThrow(/wildcard/);
    expect(() => createMqttDialect(cfg('generic'), { readerIds: ['a', 'a'] })).toThrow(/unique/);
  });
});

describe('tasmota topics', () => {
  const d = dialect('tasmota');

  it('maps the relay, the LWT and the state requests', () => {
    expect(d.subscriptions).toEqual(['tele/door1/#', 'stat/door1/#']);
    expect(d.command('unlock')).toEqual({
      kind: 'publish',
      command: { topic: 'cmnd/door1/POWER1', payload: 'ON' },
    });
    expect(d.command('lock')).toMatchObject({ command: { payload: 'OFF' } });
    expect(d.stateRequests()).toEqual([
      { topic: 'cmnd/door1/POWER1', payload: '' },
      { topic: 'cmnd/door1/STATUS', payload: '10' },
    ]);
    expect(eventsOf(d.parse('tele/door1/LWT', 'Offline'))).toEqual([
      { type: 'availability', online: false },
    ]);
    expect(eventsOf(d.parse('tele/door1/LWT', 'Online'))).toEqual([
      { type: 'availability', online: true },
    ]);
  });

  it('follows the relay through POWER, RESULT and STATE', () => {
    const strike = (topic: string, payload: string) => eventsOf(d.parse(topic, payload));
    expect(strike('stat/door1/POWER1', 'ON')).toEqual([{ type: 'strike', state: 'unlocked' }]);
    expect(strike('stat/door1/POWER', 'OFF')).toEqual([{ type: 'strike', state: 'locked' }]);
    expect(strike('stat/door1/RESULT', '{"POWER1":"ON"}')).toEqual([
      { type: 'strike', state: 'unlocked' },
    ]);
    expect(strike('tele/door1/STATE', '{"Time":"x","POWER":"OFF","Wifi":{}}')).toEqual([
      { type: 'strike', state: 'locked' },
    ]);
    const relay2 = dialect('tasmota', { relay: 2 });
    expect(relay2.command('unlock')).toMatchObject({ command: { topic: 'cmnd/door1/POWER2' } });
    expect(relay2.parse('stat/door1/POWER1', 'ON').kind).toBe('ignored');
    expect(eventsOf(relay2.parse('stat/door1/POWER2', 'ON'))).toHaveLength(1);
  });

  it('rebuilds card frames from UID and Size, also in hex (SetOption123)', () => {
    const sensor = (w: object) => JSON.stringify({ Time: '2026-01-01T12:00:00', Wiegand: w });
    const frame = inputOf(d.parse('tele/door1/SENSOR', sensor({ UID: 7748328, Size: 26 })));
    expect(frame).toEqual({
      kind: 'frame',
      bits: encodeCard(H10301, { facility: 118, card: 15080 }),
    });
    expect(inputOf(d.parse('tele/door1/SENSOR', sensor({ UID: '763AE8h', Size: 26 })))).toEqual(
      frame,
    );
    const uid34 = (1234 << 16) + 56789;
    expect(inputOf(d.parse('tele/door1/SENSOR', sensor({ UID: uid34, Size: 34 })))).toEqual({
      kind: 'frame',
      bits: encodeCard(H10306, { facility: 1234, card: 56789 }),
    });
    // UID 0 is Tasmota's parity error: an all-zero frame that the decoder refuses.
    const bad = inputOf(d.parse('tele/door1/SENSOR', sensor({ UID: 0, Size: 26 })));
    expect(bad).toEqual({ kind: 'frame', bits: '0'.repeat(26) });
    expect(decodeFrame('0'.repeat(26), registry)).toMatchObject({
      ok: false,
      reason: 'parity_error',
    });
  });

  it('maps keypad keys (SetOption124 1) and reports buffered PINs as a reader fault', () => {
    const sensor = (UID: number, Size: number) =>
      d.parse('tele/door1/SENSOR', JSON.stringify({ Wiegand: { UID, Size } }));
    expect(inputOf(sensor(5, 4))).toEqual({ kind: 'key-burst', bits: '0101' });
    const eight = inputOf(sensor(11, 8));
    expect(eight).toEqual({ kind: 'key-burst', bits: '01001011' });
    expect(decodeKeyBurst((eight as { bits: string }).bits)).toMatchObject({
      ok: true,
      key: '#',
      mode: '8bit',
    });
    expect(inputOf(sensor(1234, 4))).toMatchObject({
      kind: 'fault',
      reason: 'line_fault',
      detail: expect.stringContaining('SetOption124 1'),
    });
  });

  it('reads contact and REX from switches (SwitchMode 15, SetOption114, STATUS10)', () => {
    const t = dialect('tasmota');
    expect(eventsOf(t.parse('tele/door1/SENSOR', '{"Switch1":"ON","Switch2":"OFF"}'))).toEqual([
      { type: 'contact', state: 'open' },
    ]);
    // Switch2 going ON is a press; staying ON in the next report is not.
    expect(
      eventsOf(t.parse('tele/door1/SENSOR', '{"Switch1":"ON","Switch2":"ON"}')),
    ).toContainEqual({
      type: 'rex',
    });
    expect(
      eventsOf(t.parse('tele/door1/SENSOR', '{"Switch1":"ON","Switch2":"ON"}')),
    ).not.toContainEqual({ type: 'rex' });
    expect(eventsOf(t.parse('stat/door1/RESULT', '{"Switch2":{"Action":"ON"}}'))).toEqual([
      { type: 'rex' },
    ]);
    expect(eventsOf(t.parse('stat/door1/SWITCH1', '{"Switch1":{"Action":"OFF"}}'))).toEqual([
      { type: 'contact', state: 'closed' },
    ]);
    expect(
      eventsOf(t.parse('stat/door1/STATUS10', '{"StatusSNS":{"Time":"x","Switch1":"OFF"}}')),
    ).toEqual([{ type: 'contact', state: 'closed' }]);
    // A status answer is never a REX press.
    expect(t.parse('stat/door1/STATUS10', '{"StatusSNS":{"Switch2":"ON"}}').kind).toBe('ignored');
  });

  it('ignores the rest of Tasmota, drops junk and stale frames', () => {
    expect(d.parse('tele/door1/INFO1', '{"Module":"Generic"}').kind).toBe('ignored');
    expect(d.parse('stat/door1/RESULT', '{"PulseTime1":{"Set":50}}').kind).toBe('ignored');
    expect(d.parse('cmnd/door1/POWER1', 'ON').kind).toBe('ignored');
    const junk = (topic: string, payload: string) => junkCode(d.parse(topic, payload));
    expect(junk('tele/door1/SENSOR', 'not json')).toBe('not_json');
    expect(junk('tele/door1/SENSOR', '{"Wiegand":"7748328"}')).toBe('bad_shape');
    expect(junk('tele/door1/SENSOR', '{"Wiegand":{"UID":-1,"Size":26}}')).toBe('bad_value');
    expect(junk('tele/door1/SENSOR', '{"Wiegand":{"UID":1.5,"Size":26}}')).toBe('bad_value');
    expect(junk('tele/door1/SENSOR', '{"Wiegand":{"UID":5,"Size":"26"}}')).toBe('bad_shape');
    expect(junk('tele/door1/SENSOR', '{"Wiegand":{"UID":5,"Size":30}}')).toBe('bad_value');
    expect(junk('tele/door1/SENSOR', '{"Wiegand":{"UID":16777216,"Size":26}}')).toBe('bad_value');
    expect(junk('tele/door1/SENSOR', '{"Switch1":1}')).toBe('bad_value');
    expect(junk('stat/door1/POWER1', 'MAYBE')).toBe('bad_value');
    expect(junk('tele/door1/LWT', 'Sleeping')).toBe('bad_value');
    expect(junk('stat/door1/RESULT', '{"Switch2":"ON"}')).toBe('bad_shape');
    expect(junk('tasmota/other', 'x')).toBe('unknown_topic');
    expect(
      junkCode(
        d.parse('tele/door1/SENSOR', '{"Wiegand":{"UID":7748328,"Size":26}}', { retained: true }),
      ),
    ).toBe('stale_retained');
  });

  it('supports a custom FullTopic and validates its options', () => {
    const custom = dialect('tasmota', { fullTopic: 'home/%topic%/%prefix%/' });
    expect(custom.subscriptions).toEqual(['home/door1/tele/#', 'home/door1/stat/#']);
    expect(custom.command('unlock')).toMatchObject({
      command: { topic: 'home/door1/cmnd/POWER1' },
    });
    expect(eventsOf(custom.parse('home/door1/tele/LWT', 'Online'))).toHaveLength(1);
    expect(() => dialect('tasmota', { fullTopic: '%topic%/' })).toThrow(/%prefix%/);
    expect(() => dialect('tasmota', { fullTopic: '%prefix%/%hostname%/%topic%/' })).toThrow();
    expect(() => dialect('tasmota', { relay: 0 })).toThrow(/relay/);
    expect(() => dialect('tasmota', { topicPrefix: 'a/b' })).toThrow(/%topic%/);
  });
});

describe('esphome topics', () => {
  const p = 'site/door1';

  it('maps on_raw frames and keys, per reader or for the first reader', () => {
    const d = dialect('esphome');
    const raw = encodeCard(H10301, { facility: 7, card: 1234 });
    const value = parseInt(raw, 2);
    expect(eventsOf(d.parse(`${p}/wiegand/raw`, JSON.stringify({ value, bits: 26 })))).toEqual([
      { type: 'input', readerId: 'r1', input: { kind: 'frame', bits: raw } },
    ]);
    expect(
      eventsOf(d.parse(`${p}/wiegand/r2/raw`, JSON.stringify({ value: String(value), bits: 26 }))),
    ).toEqual([{ type: 'input', readerId: 'r2', input: { kind: 'frame', bits: raw } }]);
    // Leading zeros are kept: the frame is exactly `bits` long.
    expect(inputOf(d.parse(`${p}/wiegand/raw`, '{"value":"0x1","bits":37}'))).toEqual({
      kind: 'frame',
      bits: `${'0'.repeat(36)}1`,
    });
    expect(inputOf(d.parse(`${p}/wiegand/key`, '{"key":"5"}'))).toEqual({
      kind: 'key-burst',
      bits: '0101',
    });
  });

  it('ignores on_key once on_raw delivered key bursts for that reader', () => {
    const d = dialect('esphome');
    expect(inputOf(d.parse(`${p}/wiegand/raw`, '{"value":225,"bits":8}'))).toEqual({
      kind: 'key-burst',
      bits: '11100001',
    });
    expect(d.parse(`${p}/wiegand/key`, '{"key":"1"}').kind).toBe('ignored');
    expect(inputOf(d.parse(`${p}/wiegand/r2/key`, '{"key":"1"}'))).toEqual({
      kind: 'key-burst',
      bits: '0001',
    });
  });

  it('reads status, contact, tamper, REX edges and the strike switch', () => {
    const d = dialect('esphome');
    expect(d.canRequestState).toBe(false);
    expect(d.command('unlock')).toEqual({
      kind: 'publish',
      command: { topic: `${p}/switch/strike/command`, payload: 'ON' },
    });
    expect(eventsOf(d.parse(`${p}/status`, 'offline'))).toEqual([
      { type: 'availability', online: false },
    ]);
    expect(eventsOf(d.parse(`${p}/binary_sensor/door_contact/state`, 'ON'))).toEqual([
      { type: 'contact', state: 'open' },
    ]);
    expect(eventsOf(d.parse(`${p}/binary_sensor/door_tamper/state`, 'ON'))).toEqual([
      { type: 'tamper', active: true },
    ]);
    expect(eventsOf(d.parse(`${p}/switch/strike/state`, 'OFF'))).toEqual([
      { type: 'strike', state: 'locked' },
    ]);
    // Retained OFF sets the state; a retained ON is not a press; a live OFF→ON is.
    expect(d.parse(`${p}/binary_sensor/rex/state`, 'OFF', { retained: true }).kind).toBe('ignored');
    expect(eventsOf(d.parse(`${p}/binary_sensor/rex/state`, 'ON'))).toEqual([{ type: 'rex' }]);
    expect(d.parse(`${p}/binary_sensor/rex/state`, 'ON').kind).toBe('ignored');
    expect(d.parse(`${p}/binary_sensor/rex/state`, 'OFF').kind).toBe('ignored');
    expect(d.parse(`${p}/sensor/wifi_signal/state`, '-60').kind).toBe('ignored');
    expect(d.parse(`${p}/switch/strike/command`, 'ON').kind).toBe('ignored');
  });

  it.each([
    ['wiegand/raw', '{"value":5}', 'bad_shape'],
    ['wiegand/raw', '{"bits":26}', 'bad_shape'],
    ['wiegand/raw', '{"value":5,"bits":0}', 'bad_shape'],
    ['wiegand/raw', '{"value":5,"bits":200}', 'bad_shape'],
    ['wiegand/raw', '{"value":-5,"bits":26}', 'bad_value'],
    ['wiegand/raw', '{"value":1e300,"bits":26}', 'bad_value'],
    ['wiegand/raw', '{"value":"abc","bits":26}', 'bad_value'],
    ['wiegand/raw', '{"value":[1],"bits":26}', 'bad_shape'],
    ['wiegand/raw', '{"value":64,"bits":6}', 'bad_value'],
    ['wiegand/raw', 'hello', 'not_json'],
    ['wiegand/key', '{"key":"A"}', 'bad_value'],
    ['wiegand/key', '{"k":"1"}', 'bad_shape'],
    ['wiegand/r9/raw', '{"value":1,"bits":26}', 'unknown_reader'],
    ['wiegand/r1/x/raw', '{"value":1,"bits":26}', 'unknown_topic'],
    ['binary_sensor/door_contact/state', 'open', 'bad_value'],
    ['status', 'zzz', 'bad_value'],
  ])('junk: %s %s → %s', (leaf, payload, code) => {
    expect(junkCode(dialect('esphome').parse(`${p}/${leaf}`, payload))).toBe(code);
  });
});

describe('esp-rfid topics', () => {
  const p = 'site/door1';

  it('needs the device IP for opendoor, learns it from boot/heartbeat, has no lock command', () => {
    const d = dialect('esp-rfid');
    expect(d.command('unlock')).toMatchObject({
      kind: 'error',
      reason: expect.stringMatching(/IP/),
    });
    expect(
      eventsOf(d.parse(`${p}/send`, '{"type":"boot","ip":"10.0.0.7","hostname":"x"}')),
    ).toEqual([{ type: 'availability', online: true }]);
    expect(d.command('unlock')).toEqual({
      kind: 'publish',
      command: { topic: `${p}/cmd`, payload: '{"cmd":"opendoor","doorip":"10.0.0.7"}' },
    });
    // Older firmware: heartbeat typo and "Local IP" on the base topic.
    d.parse(p, '{"type":"hearthbeat","Local IP":"10.0.0.8"}');
    expect(d.command('unlock')).toMatchObject({
      command: { payload: expect.stringContaining('10.0.0.8') },
    });
    expect(d.command('lock')).toMatchObject({ kind: 'none' });
    const fixed = dialect('esp-rfid', { doorIp: '192.168.1.20' });
    fixed.parse(`${p}/send`, '{"type":"boot","ip":"10.0.0.7"}');
    expect(fixed.command('unlock')).toMatchObject({
      command: { payload: expect.stringContaining('192.168.1.20') },
    });
    expect(() => dialect('esp-rfid', { doorIp: 'door.local' })).toThrow(/IPv4/);
  });

  it('maps UIDs to frames only with uidBits, otherwise to a reader fault', () => {
    const access = '{"type":"access","isKnown":"false","access":"Denied","uid":"7748328"}';
    expect(inputOf(dialect('esp-rfid').parse(`${p}/send`, access))).toMatchObject({
      kind: 'fault',
      reason: 'line_fault',
      detail: expect.stringContaining('uidBits'),
    });
    const d = dialect('esp-rfid', { uidBits: 26 });
    expect(inputOf(d.parse(`${p}/send`, access))).toEqual({
      kind: 'frame',
      bits: encodeCard(H10301, { facility: 118, card: 15080 }),
    });
    expect(inputOf(d.parse(`${p}/tag`, '{"uid":"7748328","username":"x"}'))).toMatchObject({
      kind: 'frame',
    });
    expect(inputOf(d.parse(`${p}/send`, '{"type":"access","uid":"a1b2c3d4"}'))).toMatchObject({
      kind: 'fault',
      detail: expect.stringContaining('decimal'),
    });
    // The echo of our own opendoor command.
    expect(d.parse(`${p}/send`, '{"type":"access","username":"MQTT","uid":" "}').kind).toBe(
      'ignored',
    );
    expect(junkCode(d.parse(`${p}/send`, access, { retained: true }))).toBe('stale_retained');
  });

  it('reads the door contact and Home Assistant mode topics', () => {
    const d = dialect('esp-rfid');
    expect(eventsOf(d.parse(`${p}/send`, '{"type":"door","door":"open"}'))).toEqual([
      { type: 'contact', state: 'open' },
    ]);
    expect(
      eventsOf(
        d.parse(`${p}/send`, '{"type":"INFO","src":"door","desc":"Door Closed","cmd":"event"}'),
      ),
    ).toEqual([{ type: 'contact', state: 'closed' }]);
    expect(
      d.parse(`${p}/send`, '{"type":"WARN","src":"tamper","desc":"Door was tampered!"}').kind,
    ).toBe('ignored');
    expect(eventsOf(d.parse(`${p}/io/door`, 'ON'))).toEqual([{ type: 'contact', state: 'open' }]);
    expect(eventsOf(d.parse(`${p}/io/lock`, 'UNLOCKED'))).toEqual([
      { type: 'strike', state: 'unlocked' },
    ]);
    expect(eventsOf(d.parse(`${p}/avty`, 'offline'))).toEqual([
      { type: 'availability', online: false },
    ]);
    expect(d.parse(`${p}/cmd`, '{"cmd":"opendoor"}').kind).toBe('ignored');
    expect(d.parse(`${p}/accesslist`, '[]').kind).toBe('ignored');
    expect(junkCode(d.parse(`${p}/send`, 'boot'))).toBe('not_json');
    expect(junkCode(d.parse(`${p}/send`, '{"hello":1}'))).toBe('bad_shape');
    expect(junkCode(d.parse(`${p}/send`, '{"type":"door","door":"ajar"}'))).toBe('bad_value');
    expect(junkCode(d.parse(`${p}/send`, '{"type":"access","uid":{}}'))).toBe('bad_shape');
  });
});

describe('topic table', () => {
  it('documents every firmware with inputs and commands', () => {
    for (const rows of Object.values(MQTT_TOPIC_TABLE)) {
      expect(rows.some((r) => r.direction === 'in')).toBe(true);
      expect(rows.some((r) => r.direction === 'out')).toBe(true);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// The driver against a fake MQTT client, on a manual clock.

interface Published {
  topic: string;
  payload: string;
  qos: number | undefined;
}

class FakeClient extends EventEmitter {
  connected = false;
  ended = false;
  closeEmitted = false;
  autoAck = true;
  subscribed: string[] = [];
  published: Published[] = [];
  acks: ((err?: Error) => void)[] = [];

  constructor(
    readonly url: string,
    readonly options: Record<string, unknown>,
  ) {
    super();
  }

  subscribe(
    filters: Record<string, unknown>,
    cb?: (err: Error | null, granted: unknown[]) => void,
  ) {
    const topics = Object.keys(filters);
    this.subscribed.push(...topics);
    cb?.(
      null,
      topics.map((topic) => ({ topic, qos: 1 })),
    );
    return this;
  }

  publish(topic: string, payload: string, opts: { qos?: number }, cb?: (err?: Error) => void) {
    this.published.push({ topic, payload, qos: opts.qos });
    if (cb) {
      if (this.autoAck) queueMicrotask(() => cb());
      else this.acks.push(cb);
    }
    return this;
  }

  end(_force?: boolean, _opts?: object, cb?: () => void) {
    this.ended = true;
    this.connected = false;
    for (const ack of this.acks.splice(0)) ack(new Error('Connection closed'));
    this.emitClose();
    cb?.();
    return this;
  }

  // test controls
  accept() {
    this.connected = true;
    this.emit('connect', { cmd: 'connack' });
  }
  refuse(message = 'connect ECONNREFUSED') {
    this.emit('error', new Error(message));
    this.emitClose();
  }
  drop() {
    this.connected = false;
    this.emitClose();
  }
  deliver(topic: string, payload: string | Buffer, retain = false) {
    this.emit('message', topic, Buffer.from(payload), { retain });
  }
  private emitClose() {
    if (this.closeEmitted) return;
    this.closeEmitted = true;
    this.emit('close');
  }
}

function setup(
  firmware: MqttDoorConfig['firmware'] = 'generic',
  extra: Partial<MqttDoorConfig> = {},
  more: Partial<MqttDoorDriverOptions> = {},
) {
  const clock = manualClock(0);
  const clients: FakeClient[] = [];
  const logs: { level: string; msg: string; fields?: object }[] = [];
  const connect = ((url: string, options: Record<string, unknown>) => {
    const c = new FakeClient(url, options);
    clients.push(c);
    return c as unknown as MqttClient;
  }) as unknown as typeof mqttConnect;
  const driver = createMqttDoorDriver({
    doorId: 'd1',
    readerIds: ['r1', 'r2'],
    config: cfg(firmware, { username: 'box', password: 's3cret', ...extra }),
    clock,
    connect,
    log: (level, msg, fields) => logs.push({ level, msg, ...(fields ? { fields } : {}) }),
    random: () => 0,
    ...more,
  });
  const inputs: [string, ReaderInput][] = [];
  for (const [id, r] of driver.readers) r.onInput((i) => inputs.push([id, i]));
  const strikeStates: StrikeState[] = [];
  const contacts: ContactState[] = [];
  let rex = 0;
  driver.strike.onState((s) => strikeStates.push(s));
  driver.sensor.onContact((c) => contacts.push(c));
  driver.sensor.onRex(() => rex++);
  const last = () => {
    const c = clients.at(-1);
    if (!c) throw new Error('no client');
    return c;
  };
  return {
    clock,
    clients,
    logs,
    driver,
    inputs,
    strikeStates,
    contacts,
    rexCount: () => rex,
    last,
  };
}

const flush = () => new Promise<void>((r) => setTimeout(r, 0));

describe('MQTT door driver (fake client)', () => {
  it('connects with a clean session, its own backoff, and the broker credentials', () => {
    const t = setup();
    expect(t.driver.status()).toEqual({
      broker: 'connecting',
      subscribed: false,
      controller: 'unknown',
    });
    expect(t.driver.strike.state).toBe('offline');
    expect(t.last().url).toBe('mqtt://127.0.0.1:1883');
    expect(t.last().options).toMatchObject({
      clean: true,
      reconnectPeriod: 0,
      username: 'box',
      password: 's3cret',
    });
    t.last().accept();
    expect(t.driver.status()).toMatchObject({ broker: 'connected', subscribed: true });
    expect(t.last().subscribed).toEqual(['site/door1/#']);
    expect(t.last().published).toEqual([{ topic: 'site/door1/state/get', payload: '', qos: 1 }]);
    expect(t.driver.strike.state).toBe('locked');
    expect(t.driver.sensor.contact).toBe('unknown');
    // The password never reaches the log.
    expect(JSON.stringify(t.logs)).not.toContain('s3cret');
  });

  it('routes frames, malformed frames, keys, contact and REX; junk is counted, never thrown', () => {
    const t = setup();
    const c = (t.last().accept(), t.last());
    c.deliver('site/door1/reader/r2/frame', '{"bits":"0110"}');
    c.deliver('site/door1/reader/r1/frame', '{"bits":"01x1"}');
    c.deliver('site/door1/reader/r1/key', '1011');
    expect(t.inputs).toEqual([
      ['r2', { kind: 'frame', bits: '0110' }],
      ['r1', { kind: 'frame', bits: '01x1' }],
      ['r1', { kind: 'key-burst', bits: '1011' }],
    ]);
    c.deliver('site/door1/contact', 'open');
    c.deliver('site/door1/rex', '1');
    expect(t.driver.sensor.contact).toBe('open');
    expect(t.contacts).toEqual(['unknown', 'open']);
    expect(t.rexCount()).toBe(1);
    for (const junk of ['{', '{"bits":5}', 'zz', '']) c.deliver('site/door1/reader/r1/frame', junk);
    c.deliver('site/door1/contact', 'ajar');
    c.deliver('site/door1/nope', 'x');
    const s = t.driver.stats();
    expect(s).toMatchObject({ junk: 6, malformedFrames: 1, messages: 11 });
    expect(s.junkByCode).toEqual({ not_json: 1, bad_shape: 1, bad_value: 3, unknown_topic: 1 });
    expect(s.lastJunk).toMatchObject({ topic: 'site/door1/nope', code: 'unknown_topic' });
    const warn = t.logs.find((l) => l.msg.includes('dropped junk on site/door1/contact'));
    expect(warn).toMatchObject({ level: 'warn', fields: { topic: 'site/door1/contact' } });
    // Still working.
    c.deliver('site/door1/reader/r1/frame', '1');
    expect(t.inputs.at(-1)).toEqual(['r1', { kind: 'frame', bits: '1' }]);
  });

  it('unlock publishes QoS 1 and resolves on PUBACK; the strike follows the device once it reports', async () => {
    const t = setup();
    t.last().accept();
    const c = t.last();
    await t.driver.strike.unlock();
    expect(c.published.at(-1)).toEqual({
      topic: 'site/door1/strike/set',
      payload: 'unlock',
      qos: 1,
    });
    // No state report yet: optimistic.
    expect(t.driver.strike.state).toBe('unlocked');
    c.deliver('site/door1/strike/state', 'locked');
    expect(t.driver.strike.state).toBe('locked');
    await t.driver.strike.unlock();
    expect(t.driver.strike.state).toBe('locked'); // waits for the device
    c.deliver('site/door1/strike/state', 'unlocked');
    expect(t.driver.strike.state).toBe('unlocked');
    c.deliver('site/door1/strike/state', 'jammed');
    expect(t.strikeStates).toEqual(['locked', 'unlocked', 'locked', 'unlocked', 'jammed']);
    expect(t.driver.stats().commandsAcked).toBe(2);
  });

  it('a command without PUBACK in time rejects and drops the connection', async () => {
    const t = setup('generic', {}, { ackTimeoutMs: 1000 });
    t.last().accept();
    const c = t.last();
    c.autoAck = false;
    const unlocking = t.driver.strike.unlock();
    t.clock.advance(999);
    expect(c.ended).toBe(false);
    t.clock.advance(1);
    await expect(unlocking).rejects.toThrow(/door d1: unlock failed: no PUBACK .* 1000 ms/);
    expect(c.ended).toBe(true);
    expect(t.driver.strike.state).toBe('offline');
    expect(t.driver.stats()).toMatchObject({ commandsFailed: 1, disconnects: 1 });
  });

  it('a connection lost mid-command rejects the command', async () => {
    const t = setup();
    t.last().accept();
    const c = t.last();
    c.autoAck = false;
    const unlocking = t.driver.strike.unlock();
    c.drop();
    await expect(unlocking).rejects.toThrow(/connection to the broker lost/);
  });

  it('goes offline when the broker is lost, rejects unlock, reconnects with backoff and resubscribes', async () => {
    const t = setup('generic', {}, { reconnectMinMs: 500, reconnectMaxMs: 4000 });
    t.last().accept();
    t.last().deliver('site/door1/contact', 'open');
    t.last().drop();
    expect(t.driver.strike.state).toBe('offline');
    expect(t.driver.sensor.contact).toBe('offline');
    expect(t.driver.status().broker).toBe('disconnected');
    expect(t.inputs).toEqual([
      ['r1', { kind: 'fault', reason: 'offline', detail: expect.stringContaining('broker') }],
      ['r2', { kind: 'fault', reason: 'offline', detail: expect.stringContaining('broker') }],
    ]);
    await expect(t.driver.strike.unlock()).rejects.toThrow(
      /door d1: cannot unlock the strike: not connected to the MQTT broker/,
    );
    await expect(t.driver.strike.lock()).rejects.toThrow(/cannot lock/);
    // random() = 0: each delay is half of min × 2^attempt.
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      const before = t.clients.length;
      let waited = 0;
      while (t.clients.length === before) {
        t.clock.advance(10);
        waited += 10;
      }
      delays.push(waited);
      t.last().refuse();
    }
    expect(delays).toEqual([250, 500, 1000, 2000, 2000]);
    while (t.clients.length === 6) t.clock.advance(10);
    const c = t.last();
    c.accept();
    expect(c.subscribed).toEqual(['site/door1/#']);
    expect(c.published.map((p) => p.topic)).toEqual(['site/door1/state/get']);
    // Last known values are back (this firmware can be asked to confirm them).
    expect(t.driver.sensor.contact).toBe('open');
    expect(t.driver.strike.state).toBe('locked');
    c.deliver('site/door1/reader/r1/frame', '0101');
    expect(t.inputs.at(-1)).toEqual(['r1', { kind: 'frame', bits: '0101' }]);
    await t.driver.strike.unlock();
    // Backoff starts over after a success.
    c.drop();
    let waited = 0;
    while (t.clients.length === 7) {
      t.clock.advance(10);
      waited += 10;
    }
    expect(waited).toBe(250);
    expect(t.driver.stats()).toMatchObject({ connects: 2, disconnects: 7 });
  });

  it('follows the controller LWT: offline → faults and rejects, online → state request', async () => {
    const t = setup();
    t.last().accept();
    const c = t.last();
    c.deliver('site/door1/status', 'online', true);
    c.deliver('site/door1/contact', 'closed', true);
    expect(t.driver.status().controller).toBe('online');
    c.deliver('site/door1/status', 'offline');
    expect(t.driver.strike.state).toBe('offline');
    expect(t.driver.sensor.contact).toBe('offline');
    expect(t.inputs.map(([, i]) => i.kind)).toEqual(['fault', 'fault']);
    await expect(t.driver.strike.unlock()).rejects.toThrow(/controller reported itself offline/);
    const before = c.published.length;
    c.deliver('site/door1/status', 'online');
    expect(t.driver.strike.state).toBe('locked');
    expect(t.driver.sensor.contact).toBe('closed');
    expect(c.published.slice(before).map((p) => p.topic)).toEqual(['site/door1/state/get']);
  });

  it('drops retained frames as stale but takes retained state', () => {
    const t = setup();
    t.last().accept();
    t.last().deliver('site/door1/reader/r1/frame', '0101', true);
    t.last().deliver('site/door1/contact', 'tamper', true);
    expect(t.inputs).toEqual([]);
    expect(t.driver.sensor.contact).toBe('tamper');
    expect(t.driver.stats().junkByCode).toEqual({ stale_retained: 1 });
  });

  it('esphome: contact is unknown after a gap, until the controller says otherwise', () => {
    const t = setup('esphome');
    t.last().accept();
    expect(t.last().published).toEqual([]); // nothing to ask
    t.last().deliver('site/door1/binary_sensor/door_contact/state', 'ON');
    expect(t.driver.sensor.contact).toBe('open');
    t.last().drop();
    while (t.clients.length === 1) t.clock.advance(10);
    t.last().accept();
    expect(t.driver.sensor.contact).toBe('unknown');
    t.last().deliver('site/door1/binary_sensor/door_contact/state', 'OFF', true);
    expect(t.driver.sensor.contact).toBe('closed');
  });

  it('tasmota: unlock switches POWER1 and the state follows stat/POWER1', async () => {
    const t = setup('tasmota');
    t.last().accept();
    const c = t.last();
    expect(c.published.map((p) => `${p.topic} ${p.payload}`)).toEqual([
      'cmnd/door1/POWER1 ',
      'cmnd/door1/STATUS 10',
    ]);
    c.deliver('stat/door1/RESULT', '{"POWER1":"OFF"}');
    await t.driver.strike.unlock();
    expect(c.published.at(-1)).toMatchObject({ topic: 'cmnd/door1/POWER1', payload: 'ON', qos: 1 });
    expect(t.driver.strike.state).toBe('locked');
    c.deliver('stat/door1/POWER1', 'ON');
    expect(t.driver.strike.state).toBe('unlocked');
    c.deliver('stat/door1/POWER1', 'OFF'); // PulseTime ran out
    expect(t.driver.strike.state).toBe('locked');
    c.deliver('tele/door1/SENSOR', '{"Wiegand":{"UID":7748328,"Size":26}}');
    expect(t.inputs.at(-1)?.[0]).toBe('r1');
    c.deliver('tele/door1/LWT', 'Offline');
    expect(t.driver.strike.state).toBe('offline');
  });

  it('esp-rfid: opendoor needs the IP, lock is local, a silent device goes stale', async () => {
    const t = setup('esp-rfid', {}, { staleAfterMs: 10_000 });
    t.last().accept();
    const c = t.last();
    await expect(t.driver.strike.unlock()).rejects.toThrow(/IP address/);
    c.deliver('site/door1/send', '{"type":"heartbeat","ip":"10.1.2.3"}');
    await t.driver.strike.unlock();
    expect(c.published.at(-1)).toEqual({
      topic: 'site/door1/cmd',
      payload: '{"cmd":"opendoor","doorip":"10.1.2.3"}',
      qos: 1,
    });
    expect(t.driver.strike.state).toBe('unlocked'); // optimistic: no state topic
    const n = c.published.length;
    await t.driver.strike.lock();
    expect(c.published.length).toBe(n);
    expect(t.driver.strike.state).toBe('locked');
    t.clock.advance(10_000);
    expect(t.driver.strike.state).toBe('offline');
    await expect(t.driver.strike.unlock()).rejects.toThrow(/sent nothing for 10000 ms/);
    c.deliver('site/door1/send', '{"type":"heartbeat","ip":"10.1.2.3"}');
    expect(t.driver.strike.state).toBe('locked');
  });

  it('staleAfterMs also catches a controller that never says anything', () => {
    const t = setup('esp-rfid', {}, { staleAfterMs: 5_000 });
    t.last().accept();
    expect(t.driver.strike.state).toBe('locked');
    t.clock.advance(5_000);
    expect(t.driver.strike.state).toBe('offline');
  });

  it('a throwing listener is logged and does not stop the others', () => {
    const t = setup();
    t.last().accept();
    t.driver.readers.get('r1')!.onInput(() => {
      throw new Error('boom');
    });
    t.last().deliver('site/door1/reader/r1/frame', '01');
    expect(t.inputs).toEqual([['r1', { kind: 'frame', bits: '01' }]]);
    expect(t.logs.some((l) => l.level === 'error' && l.msg.includes('listener threw'))).toBe(true);
  });

  it('rate-limits junk warnings but counts every one', () => {
    const t = setup();
    t.last().accept();
    for (let i = 0; i < 100; i++) t.last().deliver('site/door1/contact', 'ajar');
    const warnings = () => t.logs.filter((l) => l.msg.startsWith('mqtt door: dropped junk'));
    expect(warnings()).toHaveLength(20);
    expect(t.driver.stats().junk).toBe(100);
    t.clock.advance(60_000);
    t.last().deliver('site/door1/contact', 'ajar');
    expect(t.logs.some((l) => l.msg.includes('without a log line'))).toBe(true);
    expect(warnings()).toHaveLength(21);
  });

  it('close() ends the connection, rejects pending commands and stops reconnecting', async () => {
    const t = setup();
    t.last().accept();
    const c = t.last();
    c.autoAck = false;
    const unlocking = t.driver.strike.unlock();
    await t.driver.close();
    await expect(unlocking).rejects.toThrow(/closed/);
    expect(c.ended).toBe(true);
    expect(t.driver.status().broker).toBe('closed');
    t.clock.advance(120_000);
    expect(t.clients).toHaveLength(1);
    await expect(t.driver.strike.unlock()).rejects.toThrow(/closed/);
    await t.driver.close(); // idempotent
  });

  it('closing every port closes the connection', async () => {
    const t = setup();
    t.last().accept();
    await t.driver.strike.close();
    await t.driver.sensor.close();
    await t.driver.readers.get('r1')!.close();
    expect(t.last().ended).toBe(false);
    await t.driver.readers.get('r2')!.close();
    await flush();
    expect(t.last().ended).toBe(true);
  });
});
