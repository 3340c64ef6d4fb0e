/**
 * The whole path for a door wired to an MQTT controller: the controller publishes a raw frame,
 * the server decides, and the strike command goes back over the broker; junk on the controller's
 * topics changes nothing.
 */
import { connectAsync, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFormatRegistry, encodeCard, type WiegandFormat } from '../../access/index.ts';
import { demoSite, parseSite } from '../../server/config/index.ts';
import { createTestApp, type TestApp } from '../harness/app.harness.ts';
import {
  requireMosquitto,
  startMosquitto,
  type MosquittoServer,
} from '../harness/mosquitto.server.ts';

const h10301 = createFormatRegistry().get('H10301') as WiegandFormat;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(!requireMosquitto())('a door on an MQTT controller, end to end', () => {
  let broker: MosquittoServer;
  let controller: MqttClient;
  let t: TestApp;
  const commands: string[] = [];
  const prefix = 'building/pkgroom';

  beforeAll(async () => {
    broker = await startMosquitto();
    const raw = demoSite();
    raw.doors = [
      {
        id: 'front',
        name: 'Package room door',
        driver: { kind: 'mqtt', url: broker.url, firmware: 'generic', topicPrefix: prefix },
      },
    ];
    const site = parseSite(raw, 'mqtt test');
    t = await createTestApp('pglite', { site, clockStart: Date.now() });
    controller = await connectAsync(broker.url, { clientId: 'controller' });
    controller.on('message', (topic, payload) => {
      if (topic === `${prefix}/strike/set`) commands.push(payload.toString());
    });
    await controller.subscribeAsync(`${prefix}/strike/set`, { qos: 1 });
    await controller.publishAsync(`${prefix}/status`, 'online', { retain: true });
    await controller.publishAsync(`${prefix}/contact`, 'closed', { retain: true });
    await controller.publishAsync(`${prefix}/strike/state`, 'locked', { retain: true });
    const manager = await t.login('manager');
    const res = await t.call('POST', '/api/residents', {
      cookie: manager,
      body: { name: 'Ann Lee', unit: '4B' },
    });
    const { id } = (await res.json()) as { id: string };
    await t.call('POST', '/api/credentials', {
      cookie: manager,
      body: { residentId: id, kind: 'card', format: 'H10301', facilityCode: 12, cardNumber: 4242 },
    });
  });
  afterAll(async () => {
    await t?.close();
    await controller?.endAsync();
    await broker?.close();
  });

  const waitFor = async (what: string, check: () => boolean | Promise<boolean>) => {
    const deadline = Date.now() + 10_000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(20);
    }
  };

  it('a card frame from the controller unlocks the strike through the broker', async () => {
    const outcome = t.doors.nextOutcome('front-reader');
    await controller.publishAsync(
      `${prefix}/reader/front-reader/frame`,
      JSON.stringify({ bits: encodeCard(h10301, { facility: 12, card: 4242 }) }),
    );
    const o = await outcome;
    expect(o.kind === 'decision' && o.decision.decision).toBe('granted');
    await waitFor('the unlock command', () => commands.includes('unlock'));
    // The controller reports the relay; the console sees it.
    await controller.publishAsync(`${prefix}/strike/state`, 'unlocked', { retain: true });
    await waitFor('the door to show unlocked', () => t.doors.doors()[0]!.strike === 'unlocked');
  });

  it('an unknown card is refused and no command is sent', async () => {
    const before = commands.length;
    const outcome = t.doors.nextOutcome('front-reader');
    await controller.publishAsync(
      `${prefix}/reader/front-reader/frame`,
      encodeCard(h10301, { facility: 12, card: 1 }),
    );
    const o = await outcome;
    expect(o.kind === 'decision' && o.decision.reason).toBe('unknown_credential');
    await sleep(200);
    expect(commands.slice(before).filter((c) => c === 'unlock')).toEqual([]);
  });

  it('junk on the controller topics is survived; the next frame still decides', async () => {
    for (const payload of ['{', '{"bits":1011}', 'x'.repeat(5000), '\u0000\u0001', 'null']) {
      await controller.publishAsync(`${prefix}/reader/front-reader/frame`, payload);
      await controller.publishAsync(`${prefix}/contact`, payload);
    }
    await controller.publishAsync(`${prefix}/contact`, 'closed', { retain: true });
    const outcome = t.doors.nextOutcome('front-reader');
    await controller.publishAsync(
      `${prefix}/reader/front-reader/frame`,
      JSON.stringify({ bits: '01x1' }),
    );
    const o = await outcome;
    expect(o.kind === 'decision' && o.decision.reason).toBe('malformed_frame');
  });

  it('the controller going offline is an offline alarm on the door', async () => {
    await controller.publishAsync(`${prefix}/status`, 'offline', { retain: true });
    await waitFor('the offline alarm', () =>
      t.doors.doors()[0]!.alarms.some((a) => a.kind === 'offline'),
    );
    await controller.publishAsync(`${prefix}/status`, 'online', { retain: true });
    await waitFor('the alarm to clear', () =>
      t.doors.doors()[0]!.alarms.every((a) => a.kind !== 'offline'),
    );
  });
});
