/**
 * The MQTT door driver against a real Mosquitto broker, with a second MQTT client playing the
 * door controller: frames and state flow in, commands flow out, junk is survived, and the driver
 * rides out a broker restart and a controller that dies (LWT).
 */
import { randomBytes } from 'node:crypto';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createFormatRegistry, decodeFrame } from '../../access/index.ts';
import { systemClock } from '../../hardware/clock.ts';
import { createMqttDoorDriver, type MqttDoorDriver } from '../../hardware/door.mqtt.ts';
import type { MqttDoorConfig } from '../../hardware/mqtt.topics.ts';
import type { ContactState, ReaderInput, StrikeState } from '../../hardware/ports.ts';
import {
  requireMosquitto,
  startMosquitto,
  type MosquittoServer,
} from '../harness/mosquitto.server.ts';

const mosquittoBinary = requireMosquitto();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `check` every 20 ms until it holds; fail naming `what` after `timeoutMs`. */
async function waitFor(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

const uniquePrefix = (name: string) => `parcelroom-it/${name}-${randomBytes(3).toString('hex')}`;

interface Recorded {
  topic: string;
  payload: string;
}

interface Controller {
  client: MqttClient;
  received: Recorded[];
  publish(topic: string, payload: string | Buffer, retain?: boolean): Promise<void>;
}

interface DriverProbe {
  driver: MqttDoorDriver;
  inputs: [string, ReaderInput][];
  strikes: StrikeState[];
  contacts: ContactState[];
  rex: () => number;
  logs: { level: string; msg: string; fields?: object }[];
}

describe.skipIf(!mosquittoBinary)('MQTT door driver against a real Mosquitto', () => {
  let broker: MosquittoServer;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    broker = await startMosquitto({ binary: mosquittoBinary ?? undefined });
  });

  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => {});
    if (!broker.running()) await broker.restart();
  });

  afterAll(async () => {
    await broker?.close();
  });

  /** A client playing the door controller; subscribes to `subscribe` before returning. */
  async function controller(subscribe: string[], opts: IClientOptions = {}): Promise<Controller> {
    const client = await connectAsync(broker.url, {
      reconnectPeriod: 100,
      connectTimeout: 5_000,
      ...opts,
    });
    client.on('error', () => {}); // reconnect noise while the broker restarts
    const received: Recorded[] = [];
    client.on('message', (topic, payload) =>
      received.push({ topic, payload: payload.toString('utf8') }),
    );
    if (subscribe.length > 0) await client.subscribeAsync(subscribe, { qos: 1 });
    cleanups.push(() => client.endAsync(true));
    return {
      client,
      received,
      async publish(topic, payload, retain = false) {
        await client.publishAsync(topic, payload, { qos: 1, retain });
      },
    };
  }

  function driverFor(
    config: Partial<MqttDoorConfig> & Pick<MqttDoorConfig, 'topicPrefix'>,
  ): DriverProbe {
    const logs: DriverProbe['logs'] = [];
    const driver = createMqttDoorDriver({
      doorId: 'door-it',
      readerIds: ['r1', 'r2'],
      config: { url: broker.url, firmware: 'generic', ...config },
      clock: systemClock(),
      log: (level, msg, fields) => logs.push({ level, msg, ...(fields ? { fields } : {}) }),
      reconnectMinMs: 100,
      reconnectMaxMs: 400,
      ackTimeoutMs: 3_000,
      keepaliveSec: 5,
    });
    cleanups.push(() => driver.close());
    const inputs: DriverProbe['inputs'] = [];
    for (const [id, reader] of driver.readers) reader.onInput((i) => inputs.push([id, i]));
    const strikes: StrikeState[] = [];
    const contacts: ContactState[] = [];
    let rex = 0;
    driver.strike.onState((s) => strikes.push(s));
    driver.sensor.onContact((c) => contacts.push(c));
    driver.sensor.onRex(() => rex++);
    return { driver, inputs, strikes, contacts, rex: () => rex, logs };
  }

  const ready = (d: MqttDoorDriver) =>
    waitFor('the driver to connect and subscribe', () => {
      const s = d.status();
      return s.broker === 'connected' && s.subscribed;
    });

  const lastInput = (probe: DriverProbe) => probe.inputs.at(-1);

  it('carries frames, keys, contact and REX in, and strike commands out', async () => {
    const p = uniquePrefix('flow');
    const ctl = await controller([`${p}/strike/set`, `${p}/state/get`]);
    const probe = driverFor({ topicPrefix: p });
    const { driver } = probe;
    await ready(driver);
    // On connecting, the driver asks the controller for its state.
    await waitFor('the state request', () =>
      ctl.received.some((m) => m.topic === `${p}/state/get`),
    );
    expect(driver.strike.state).toBe('locked');
    expect(driver.sensor.contact).toBe('unknown');

    const frame = '10000000100000000000000011';
    await ctl.publish(`${p}/reader/r1/frame`, JSON.stringify({ bits: frame }));
    await waitFor('the frame on r1', () => probe.inputs.length === 1);
    expect(probe.inputs[0]).toEqual(['r1', { kind: 'frame', bits: frame }]);

    await ctl.publish(`${p}/reader/r2/key`, '1011');
    await waitFor('the key on r2', () => probe.inputs.length === 2);
    expect(lastInput(probe)).toEqual(['r2', { kind: 'key-burst', bits: '1011' }]);

    await ctl.publish(`${p}/contact`, 'open');
    await waitFor('contact open', () => driver.sensor.contact === 'open');
    await ctl.publish(`${p}/contact`, 'closed');
    await waitFor('contact closed', () => driver.sensor.contact === 'closed');
    expect(probe.contacts).toEqual(['unknown', 'open', 'closed']);

    await ctl.publish(`${p}/rex`, 'pressed');
    await waitFor('a REX press', () => probe.rex() === 1);

    // unlock resolves on the broker's PUBACK; the controller sees the command.
    await driver.strike.unlock();
    await waitFor('the unlock command', () =>
      ctl.received.some((m) => m.topic === `${p}/strike/set` && m.payload === 'unlock'),
    );
    expect(driver.strike.state).toBe('unlocked'); // optimistic until the controller reports
    await ctl.publish(`${p}/strike/state`, 'locked', true);
    await waitFor('the reported strike state', () => driver.strike.state === 'locked');
    await driver.strike.unlock();
    expect(driver.strike.state).toBe('locked'); // now it follows the controller
    await ctl.publish(`${p}/strike/state`, 'unlocked', true);
    await waitFor('strike unlocked', () => driver.strike.state === 'unlocked');
    await driver.strike.lock();
    await waitFor('the lock command', () =>
      ctl.received.some((m) => m.topic === `${p}/strike/set` && m.payload === 'lock'),
    );
    await ctl.publish(`${p}/strike/state`, 'locked', true);
    await waitFor('strike locked', () => driver.strike.state === 'locked');
    expect(driver.stats()).toMatchObject({ junk: 0, commandsAcked: 3, commandsFailed: 0 });
    await ctl.publish(`${p}/strike/state`, '', true); // clear the retained state
  });

  it('survives 20 kinds of junk, passes a malformed frame on, and keeps working', async () => {
    const p = uniquePrefix('junk');
    const ctl = await controller([`${p}/strike/set`]);
    const probe = driverFor({ topicPrefix: p });
    const { driver } = probe;
    await ready(driver);
    const frameTopic = `${p}/reader/r1/frame`;
    const junk: [string, string | Buffer][] = [
      [frameTopic, '{not json'],
      [frameTopic, '{"bits":1011}'],
      [frameTopic, '{"bits":null}'],
      [frameTopic, '{"bits":["0","1"]}'],
      [frameTopic, '[]'],
      [frameTopic, '{}'],
      [frameTopic, 'hello'],
      [frameTopic, '0101x'],
      [frameTopic, '0'.repeat(5_000)],
      [frameTopic, Buffer.from([0xff, 0xfe, 0x30])],
      [frameTopic, ''],
      [frameTopic, JSON.stringify({ bits: '1'.repeat(300) })],
      [`${p}/reader/r9/frame`, '0101'],
      [`${p}/reader/r1`, '0101'],
      [`${p}/reader/r1/key`, '{"bits":true}'],
      [`${p}/contact`, 'ajar'],
      [`${p}/contact`, '{"state":"open"}'],
      [`${p}/status`, 'maybe'],
      [`${p}/strike/state`, 'exploded'],
      [`${p}/whatever/else`, 'x'],
    ];
    expect(junk).toHaveLength(20);
    for (const [topic, payload] of junk) await ctl.publish(topic, payload);
    await waitFor('20 junk messages counted', () => driver.stats().junk === 20);
    expect(probe.inputs).toEqual([]);
    const stats = driver.stats();
    expect(stats.junkByCode).toEqual({
      not_json: 1,
      bad_shape: 5,
      bad_value: 9,
      too_large: 1,
      not_utf8: 1,
      unknown_reader: 1,
      unknown_topic: 2,
    });
    const warned = probe.logs.filter((l) => l.level === 'warn' && l.msg.includes('dropped junk'));
    expect(warned.length).toBe(20);
    expect(warned[0]?.fields).toMatchObject({ topic: frameTopic, code: 'not_json' });

    // Looks like a frame: reaches the reader so the decoder refuses it with a reason.
    await ctl.publish(frameTopic, '{"bits":"01x1"}');
    await waitFor('the malformed frame', () => probe.inputs.length === 1);
    expect(probe.inputs[0]).toEqual(['r1', { kind: 'frame', bits: '01x1' }]);
    expect(decodeFrame('01x1', createFormatRegistry())).toMatchObject({
      ok: false,
      reason: 'malformed_frame',
    });
    expect(driver.stats().malformedFrames).toBe(1);

    // Still fully working.
    await ctl.publish(frameTopic, '0110');
    await waitFor('a good frame after the junk', () => probe.inputs.length === 2);
    await ctl.publish(`${p}/contact`, 'open');
    await waitFor('contact open', () => driver.sensor.contact === 'open');
    await driver.strike.unlock();
    await waitFor('the unlock command', () => ctl.received.length === 1);
  });

  it('goes offline when the broker stops, and reconnects and resubscribes when it is back', async () => {
    const p = uniquePrefix('restart');
    const ctl = await controller([`${p}/strike/set`]);
    const probe = driverFor({ topicPrefix: p });
    const { driver } = probe;
    await ready(driver);
    await ctl.publish(`${p}/contact`, 'closed');
    await waitFor('contact closed', () => driver.sensor.contact === 'closed');

    const stoppedAt = Date.now();
    await broker.stop();
    await waitFor('strike offline', () => driver.strike.state === 'offline');
    const noticedMs = Date.now() - stoppedAt;
    expect(driver.sensor.contact).toBe('offline');
    expect(driver.status().broker).not.toBe('connected');
    expect(probe.strikes.at(-1)).toBe('offline');
    expect(probe.inputs.map(([id, i]) => [id, i.kind])).toEqual([
      ['r1', 'fault'],
      ['r2', 'fault'],
    ]);
    await expect(driver.strike.unlock()).rejects.toThrow(/not connected to the MQTT broker/);

    // Let a few reconnect attempts fail, then bring the broker back on the same port.
    await sleep(300);
    const restartedAt = Date.now();
    await broker.restart();
    await ready(driver);
    const reconnectMs = Date.now() - restartedAt;
    expect(driver.strike.state).toBe('locked');
    expect(driver.sensor.contact).toBe('closed'); // last known, then refreshed on request
    await waitFor('the controller to reconnect', () => ctl.client.connected);

    await ctl.publish(`${p}/reader/r2/frame`, '{"bits":"1100"}');
    await waitFor('a frame after the restart', () => probe.inputs.length === 3);
    expect(lastInput(probe)).toEqual(['r2', { kind: 'frame', bits: '1100' }]);
    await ctl.publish(`${p}/contact`, 'open');
    await waitFor('contact open after the restart', () => driver.sensor.contact === 'open');
    const listener = await controller([`${p}/strike/set`]);
    await driver.strike.unlock();
    await waitFor('the unlock after the restart', () =>
      listener.received.some((m) => m.payload === 'unlock'),
    );
    expect(driver.stats().connects).toBe(2);
    // Diagnostics for the report (visible with --reporter=verbose).
    console.info(
      `broker stop noticed in ${noticedMs} ms, reconnected ${reconnectMs} ms after start`,
    );
  });

  it("follows the controller's LWT: offline when it dies, back when it returns", async () => {
    const p = uniquePrefix('lwt');
    const will = {
      topic: `${p}/status`,
      payload: Buffer.from('offline'),
      qos: 1 as const,
      retain: true,
    };
    const device = await controller([], { will });
    await device.publish(`${p}/status`, 'online', true);
    const probe = driverFor({ topicPrefix: p });
    const { driver } = probe;
    await ready(driver);
    await waitFor('controller online', () => driver.status().controller === 'online');
    expect(driver.strike.state).toBe('locked');

    // The controller vanishes without a DISCONNECT: the broker publishes its will.
    device.client.end(true);
    await waitFor('strike offline from the LWT', () => driver.strike.state === 'offline');
    expect(driver.sensor.contact).toBe('offline');
    expect(driver.status()).toMatchObject({ broker: 'connected', controller: 'offline' });
    await expect(driver.strike.unlock()).rejects.toThrow(/controller reported itself offline/);

    const back = await controller([`${p}/state/get`]);
    await back.publish(`${p}/status`, 'online', true);
    await waitFor('strike back from offline', () => driver.strike.state === 'locked');
    // Back online, the driver asks for the state again.
    await waitFor('a state request', () => back.received.some((m) => m.topic === `${p}/state/get`));
    await back.publish(`${p}/status`, '', true);
  });

  it('takes retained state but never replays a retained frame', async () => {
    const p = uniquePrefix('retained');
    const ctl = await controller([]);
    await ctl.publish(`${p}/reader/r1/frame`, '0101', true);
    await ctl.publish(`${p}/contact`, 'open', true);
    const probe = driverFor({ topicPrefix: p });
    await ready(probe.driver);
    await waitFor('the retained contact', () => probe.driver.sensor.contact === 'open');
    await waitFor('the stale frame dropped', () => probe.driver.stats().junk === 1);
    expect(probe.driver.stats().junkByCode).toEqual({ stale_retained: 1 });
    expect(probe.inputs).toEqual([]);
    await ctl.publish(`${p}/reader/r1/frame`, '', true);
    await ctl.publish(`${p}/contact`, '', true);
  });

  it('drives a Tasmota controller: Wiegand frames, switches, POWER and LWT', async () => {
    const topic = `pr-it-${randomBytes(3).toString('hex')}`;
    const ctl = await controller([`cmnd/${topic}/#`]);
    await ctl.publish(`tele/${topic}/LWT`, 'Online', true);
    const probe = driverFor({ topicPrefix: topic, firmware: 'tasmota' });
    const { driver } = probe;
    await ready(driver);
    await waitFor('the state requests', () => ctl.received.length >= 2);
    expect(ctl.received.slice(0, 2)).toEqual([
      { topic: `cmnd/${topic}/POWER1`, payload: '' },
      { topic: `cmnd/${topic}/STATUS`, payload: '10' },
    ]);
    await ctl.publish(`stat/${topic}/RESULT`, '{"POWER1":"OFF"}');
    await ctl.publish(
      `stat/${topic}/STATUS10`,
      '{"StatusSNS":{"Time":"x","Switch1":"OFF","Switch2":"OFF"}}',
    );
    await waitFor('contact closed from STATUS10', () => driver.sensor.contact === 'closed');

    await ctl.publish(`tele/${topic}/SENSOR`, '{"Time":"x","Wiegand":{"UID":7748328,"Size":26}}');
    await waitFor('the card frame', () => probe.inputs.length === 1);
    const [readerId, input] = probe.inputs[0]!;
    expect(readerId).toBe('r1');
    expect(input.kind === 'frame' && decodeFrame(input.bits, createFormatRegistry())).toMatchObject(
      {
        ok: true,
        candidates: [{ formatId: 'H10301', facility: 118, card: 15080 }],
      },
    );

    await ctl.publish(`tele/${topic}/SENSOR`, '{"Switch1":"ON","Switch2":"ON"}');
    await waitFor(
      'contact open and REX',
      () => driver.sensor.contact === 'open' && probe.rex() === 1,
    );

    await driver.strike.unlock();
    await waitFor('POWER1 ON', () =>
      ctl.received.some((m) => m.topic === `cmnd/${topic}/POWER1` && m.payload === 'ON'),
    );
    expect(driver.strike.state).toBe('locked'); // follows stat/POWER1
    await ctl.publish(`stat/${topic}/POWER1`, 'ON');
    await waitFor('strike unlocked', () => driver.strike.state === 'unlocked');
    await ctl.publish(`stat/${topic}/POWER1`, 'OFF');
    await waitFor('strike relocked by PulseTime', () => driver.strike.state === 'locked');

    await ctl.publish(`tele/${topic}/LWT`, 'Offline', true);
    await waitFor('strike offline from the LWT', () => driver.strike.state === 'offline');
    await ctl.publish(`tele/${topic}/LWT`, '', true);
  });
});
