import { describe, expect, it, vi } from 'vitest';
import { manualClock } from '../hardware/clock.ts';
import { createSimSensor, createSimStrike } from '../hardware/door.sim.ts';
import type { ContactState, StrikeState } from '../hardware/ports.ts';
import type { AccessEvent } from './access.events.ts';
import { createDoorMachine, type DoorMachineConfig, type DoorPhase } from './door.machine.ts';

const CONFIG: DoorMachineConfig = {
  grantMs: 5_000,
  heldOpenMs: 60_000,
  preAlarmMs: 10_000,
  failMode: 'secure',
};
const RESIDENT = {
  readerId: 'R1',
  residentId: 'res-7',
  credentialId: 'cred-3',
  accessEventId: 'acc-1',
};

/** Lets queued strike commands (promises) run; no real time passes. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

function setup(over: Partial<DoorMachineConfig> = {}, contact: ContactState = 'closed') {
  const clock = manualClock();
  const strike = createSimStrike();
  const sensor = createSimSensor(contact);
  const events: AccessEvent[] = [];
  const errors: unknown[] = [];
  let n = 0;
  const machine = createDoorMachine({
    doorId: 'D1',
    config: { ...CONFIG, ...over },
    strike,
    sensor,
    clock,
    newId: (at) => `ev-${at}-${++n}`,
    emit: (e) => events.push(e),
    onError: (e) => errors.push(e),
  });
  /** Event types since the last call. */
  const take = () => events.splice(0).map((e) => e.type);
  const last = (type: string) => events.findLast((e) => e.type === type);
  const phase = () => machine.status().phase;
  return { clock, strike, sensor, events, errors, machine, take, last, phase };
}

async function started(over: Partial<DoorMachineConfig> = {}, contact?: ContactState) {
  const t = setup(over, contact);
  await t.machine.start();
  return t;
}

describe('start', () => {
  it('puts a released strike back in its locked state', async () => {
    const t = setup();
    await t.strike.unlock();
    expect(t.phase()).toBe('starting');
    await t.machine.start();
    expect(t.last('door_relocked')?.details).toEqual({ cause: 'start' });
    expect(t.take()).toEqual(['door_relocked']);
    expect(t.machine.status()).toEqual({
      doorId: 'D1',
      strike: 'locked',
      contact: 'closed',
      phase: 'secure',
      alarms: [],
    });
  });

  it('a door found open at start is not forced, but held timers run', async () => {
    const t = await started({}, 'open');
    expect(t.take()).toEqual(['door_opened']);
    expect(t.phase()).toBe('open_authorised');
    t.clock.advance(60_000);
    expect(t.take()).toEqual(['held_open_warning', 'held_open']);
  });

  it('a strike that cannot lock at start is a fault', async () => {
    const t = setup();
    t.strike.setFault('jammed');
    await t.machine.start();
    expect(t.take()).toEqual(['strike_fault']);
    expect(t.phase()).toBe('fault');
    expect(await t.machine.grant(RESIDENT)).toBe('fault');
  });
});

describe('grant', () => {
  it('unlocks, and relocks with no_entry when nobody opens the door (boundary at grantMs)', async () => {
    const t = await started();
    expect(await t.machine.grant(RESIDENT)).toBe('unlocked');
    expect(t.phase()).toBe('granted');
    t.clock.advance(4_999);
    await settle();
    expect(t.strike.state).toBe('unlocked');
    t.clock.advance(1);
    await settle();
    expect(t.events.map((e) => [e.type, e.details])).toEqual([
      ['door_unlocked', { cause: 'grant', grantMs: 5_000, accessEventId: 'acc-1' }],
      ['no_entry', { grantMs: 5_000, accessEventId: 'acc-1' }],
      ['door_relocked', { cause: 'grant_end' }],
    ]);
    const { readerId, residentId, credentialId } = RESIDENT;
    expect(t.events[0]).toMatchObject({ doorId: 'D1', readerId, residentId, credentialId });
    expect(t.events[1]).toMatchObject({ readerId, residentId, credentialId });
    expect(t.strike.state).toBe('locked');
    expect(t.phase()).toBe('secure');
  });

  it('opening 1 ms before grant end is an entry; closing relocks', async () => {
    const t = await started();
    await t.machine.grant({ ...RESIDENT, carrierCodeId: 'cc-1' });
    t.clock.advance(4_999);
    t.sensor.setContact('open');
    expect(t.last('door_opened')).toMatchObject({
      residentId: 'res-7',
      credentialId: 'cred-3',
      carrierCodeId: 'cc-1',
      details: { cause: 'grant', entry: true, accessEventId: 'acc-1' },
    });
    expect(t.phase()).toBe('open_authorised');
    expect(t.machine.status().lastEntryAt).toBe(t.clock.now());
    t.clock.advance(2_000);
    await settle();
    t.sensor.setContact('closed');
    await settle();
    expect(t.take()).toEqual(['door_unlocked', 'door_opened', 'door_relocked', 'door_closed']);
  });

  it('relocks on close when the door closes inside the grant', async () => {
    const t = await started();
    await t.machine.grant(RESIDENT);
    t.clock.advance(1_000);
    t.sensor.setContact('open');
    t.clock.advance(1_000);
    t.sensor.setContact('closed');
    await settle();
    expect(t.last('door_relocked')?.details).toEqual({ cause: 'door_closed' });
    expect(t.take()).toEqual(['door_unlocked', 'door_opened', 'door_closed', 'door_relocked']);
    expect(t.strike.state).toBe('locked');
    // The grant was used up: no stray grant end later, and reopening is forced.
    t.clock.advance(10_000);
    await settle();
    t.sensor.setContact('open');
    expect(t.take()).toEqual(['door_opened', 'forced_open']);
  });

  it('opening at or after grant end is forced (1 ms after)', async () => {
    const t = await started();
    await t.machine.grant(RESIDENT);
    t.clock.advance(5_000);
    await settle();
    expect(t.take()).toEqual(['door_unlocked', 'no_entry', 'door_relocked']);
    t.clock.advance(1);
    t.sensor.setContact('open');
    expect(t.take()).toEqual(['door_opened', 'forced_open']);
  });

  it('a door held past grant end is relocked at grant end, so it closes onto a locked strike', async () => {
    const t = await started();
    await t.machine.grant(RESIDENT);
    t.sensor.setContact('open');
    t.clock.advance(5_000);
    await settle();
    expect(t.strike.state).toBe('locked');
    t.sensor.setContact('closed');
    await settle();
    expect(t.take()).toEqual(['door_unlocked', 'door_opened', 'door_relocked', 'door_closed']);
  });

  it('a second grant extends the window without a second unlock', async () => {
    const t = await started();
    const unlock = vi.spyOn(t.strike, 'unlock');
    await t.machine.grant(RESIDENT);
    t.clock.advance(4_000);
    expect(await t.machine.grant({ residentId: 'res-8', accessEventId: 'acc-2' })).toBe('unlocked');
    t.clock.advance(4_999); // 1 ms before the extended end
    await settle();
    expect(t.take()).toEqual(['door_unlocked']);
    t.sensor.setContact('open');
    expect(t.last('door_opened')).toMatchObject({
      residentId: 'res-8',
      details: { cause: 'grant', entry: true, accessEventId: 'acc-2' },
    });
    expect(unlock).toHaveBeenCalledTimes(1);
  });

  it('two grants at once share one unlock', async () => {
    const t = await started();
    const results = await Promise.all([t.machine.grant(RESIDENT), t.machine.grant(RESIDENT)]);
    expect(results).toEqual(['unlocked', 'unlocked']);
    t.clock.advance(5_000);
    await settle();
    expect(t.take()).toEqual(['door_unlocked', 'no_entry', 'door_relocked']);
  });

  it('refuses grants before start and after close', async () => {
    const t = setup();
    expect(await t.machine.grant(RESIDENT)).toBe('fault');
    await t.machine.start();
    await t.machine.close();
    expect(await t.machine.grant(RESIDENT)).toBe('fault');
    expect(t.take()).toEqual([]);
  });
});

describe('request to exit', () => {
  it('REX then open is free egress: no alarm, strike stays locked', async () => {
    const t = await started();
    t.sensor.pressRex();
    t.clock.advance(4_999);
    t.sensor.setContact('open');
    expect(t.strike.state).toBe('locked');
    expect(t.last('door_opened')?.details).toEqual({ cause: 'rex', entry: false });
    expect(t.machine.status()).toMatchObject({ phase: 'open_authorised', alarms: [] });
    t.sensor.setContact('closed');
    await settle();
    expect(t.take()).toEqual(['rex', 'door_opened', 'door_closed']);
    expect(t.machine.status().lastEntryAt).toBeUndefined();
  });

  it('opening once the REX window has expired is forced', async () => {
    const t = await started();
    t.sensor.pressRex();
    t.clock.advance(5_000);
    t.sensor.setContact('open');
    expect(t.take()).toEqual(['rex', 'door_opened', 'forced_open']);
  });

  it('one press shunts one opening', async () => {
    const t = await started();
    t.sensor.pressRex();
    t.sensor.setContact('open');
    t.sensor.setContact('closed');
    t.clock.advance(1_000);
    t.sensor.setContact('open');
    expect(t.take()).toEqual(['rex', 'door_opened', 'door_closed', 'door_opened', 'forced_open']);
  });
});

describe('forced and held open', () => {
  it('forced open raises an alarm until the door closes, and never escalates to held', async () => {
    const t = await started();
    t.sensor.setContact('open');
    expect(t.last('door_opened')?.details).toEqual({ cause: 'forced', entry: false });
    expect(t.machine.status()).toMatchObject({
      phase: 'open_forced',
      alarms: [{ kind: 'forced_open', since: t.clock.now() }],
    });
    t.clock.advance(120_000);
    t.sensor.setContact('closed');
    await settle();
    expect(t.last('alarm_cleared')?.details).toEqual({ kind: 'forced_open', activeMs: 120_000 });
    expect(t.take()).toEqual(['door_opened', 'forced_open', 'door_closed', 'alarm_cleared']);
    expect(t.machine.status()).toMatchObject({ phase: 'secure', alarms: [] });
  });

  it('pre-alarm at heldOpenMs - preAlarmMs, alarm at heldOpenMs, cleared on close', async () => {
    const t = await started();
    await t.machine.grant(RESIDENT);
    t.sensor.setContact('open');
    t.clock.advance(49_999);
    await settle();
    expect(t.take()).toEqual(['door_unlocked', 'door_opened', 'door_relocked']);
    t.clock.advance(1);
    expect(t.take()).toEqual(['held_open_warning']);
    t.clock.advance(9_999);
    expect(t.take()).toEqual([]);
    expect(t.phase()).toBe('open_authorised');
    t.clock.advance(1);
    expect(t.take()).toEqual(['held_open']);
    expect(t.machine.status()).toMatchObject({
      phase: 'held',
      alarms: [{ kind: 'held_open', since: t.clock.now() }],
    });
    t.sensor.setContact('closed');
    await settle();
    expect(t.last('alarm_cleared')?.details).toEqual({ kind: 'held_open', activeMs: 0 });
    expect(t.take()).toEqual(['door_closed', 'alarm_cleared']);
    expect(t.machine.status()).toMatchObject({ phase: 'secure', alarms: [] });
  });

  it('details of the warning and the alarm', async () => {
    const t = await started();
    t.sensor.pressRex();
    t.sensor.setContact('open');
    const openedAt = t.clock.now();
    t.clock.advance(60_000);
    expect(t.events.slice(2).map((e) => [e.type, e.details])).toEqual([
      ['held_open_warning', { cause: 'rex', openedAt, heldOpenMs: 60_000, alarmInMs: 10_000 }],
      ['held_open', { cause: 'rex', openedAt, heldOpenMs: 60_000 }],
    ]);
  });

  it('no pre-alarm when preAlarmMs is 0', async () => {
    const t = await started({ preAlarmMs: 0 });
    t.sensor.pressRex();
    t.sensor.setContact('open');
    t.clock.advance(60_000);
    expect(t.take()).toEqual(['rex', 'door_opened', 'held_open']);
  });
});

describe('tamper and offline', () => {
  it('tamper raises an alarm that clears on a definite reading', async () => {
    const t = await started();
    t.sensor.setContact('tamper');
    expect(t.last('tamper')?.details).toEqual({ device: 'contact' });
    expect(t.machine.status().alarms).toEqual([
      { kind: 'tamper', since: t.clock.now(), detail: 'contact' },
    ]);
    t.sensor.setContact('closed');
    expect(t.take()).toEqual(['tamper', 'alarm_cleared']);
    expect(t.machine.status().alarms).toEqual([]);
  });

  it('contact offline → online; grants carry on, but no_entry cannot be judged blind', async () => {
    const t = await started();
    t.sensor.setContact('offline');
    expect(await t.machine.grant(RESIDENT)).toBe('unlocked');
    t.clock.advance(5_000);
    await settle();
    t.clock.advance(1_000);
    t.sensor.setContact('closed');
    expect(t.last('online')?.details).toEqual({ device: 'contact', offlineMs: 6_000 });
    expect(t.take()).toEqual([
      'offline',
      'door_unlocked',
      'door_relocked',
      'online',
      'alarm_cleared',
    ]);
    expect(t.machine.status()).toMatchObject({ contact: 'closed', phase: 'secure', alarms: [] });
  });

  it('contact offline while open keeps the door open until a definite reading', async () => {
    const t = await started();
    t.sensor.setContact('open');
    t.sensor.setContact('offline');
    t.sensor.setContact('closed');
    expect(t.take()).toEqual([
      'door_opened',
      'forced_open',
      'offline',
      'online',
      'alarm_cleared',
      'door_closed',
      'alarm_cleared',
    ]);
  });

  it('strike offline is an alarm and a fault; back online relocks into service', async () => {
    const t = await started();
    t.strike.setFault('offline');
    await settle();
    expect(t.take()).toEqual(['offline', 'strike_fault']);
    expect(t.machine.status()).toMatchObject({
      strike: 'offline',
      phase: 'fault',
      alarms: [{ kind: 'offline', detail: 'strike' }],
      fault: { error: 'strike offline' },
    });
    expect(await t.machine.grant(RESIDENT)).toBe('fault');
    t.clock.advance(30_000);
    t.strike.setFault(null);
    await settle();
    expect(t.events.map((e) => [e.type, e.details])).toEqual([
      ['online', { device: 'strike', offlineMs: 30_000 }],
      ['alarm_cleared', { kind: 'offline', device: 'strike', activeMs: 30_000 }],
      ['door_relocked', { cause: 'fault_cleared', faultMs: 30_000 }],
    ]);
    expect(t.machine.status()).toMatchObject({ strike: 'locked', phase: 'secure', alarms: [] });
    expect(await t.machine.grant(RESIDENT)).toBe('unlocked');
  });
});

describe('strike faults and fail modes', () => {
  it.each([
    ['secure', 'lock', 1, 1],
    ['safe', 'release', 0, 2],
  ] as const)(
    'jammed during a grant, fail-%s: tries to %s, refuses grants until it reports locked',
    async (failMode, action, locks, unlocks) => {
      const t = await started({ failMode });
      const lock = vi.spyOn(t.strike, 'lock');
      const unlock = vi.spyOn(t.strike, 'unlock');
      await t.machine.grant(RESIDENT);
      t.strike.setFault('jammed');
      await settle();
      expect(t.last('strike_fault')?.details).toEqual({
        error: 'strike jammed',
        during: 'report',
        failMode,
        action,
      });
      expect([lock.mock.calls.length, unlock.mock.calls.length]).toEqual([locks, unlocks]);
      expect(t.machine.status()).toMatchObject({ strike: 'jammed', phase: 'fault' });
      expect(await t.machine.grant(RESIDENT)).toBe('fault');
      // The grant still ends on time; nobody went in, and a jammed strike is not commanded.
      t.clock.advance(5_000);
      await settle();
      expect([lock.mock.calls.length, unlock.mock.calls.length]).toEqual([locks, unlocks]);
      t.strike.setFault(null);
      await settle();
      expect(t.take()).toEqual(['door_unlocked', 'strike_fault', 'no_entry', 'door_relocked']);
      expect(t.phase()).toBe('secure');
    },
  );

  it('fail-secure: a failed relock is retried, and a lock that works ends the fault', async () => {
    const t = await started();
    vi.spyOn(t.strike, 'lock').mockRejectedValueOnce(new Error('relay timeout'));
    await t.machine.grant(RESIDENT);
    t.clock.advance(5_000);
    await settle();
    expect(t.events.map((e) => [e.type, e.details?.cause ?? e.details?.error])).toEqual([
      ['door_unlocked', 'grant'],
      ['no_entry', undefined],
      ['strike_fault', 'relay timeout'],
      ['door_relocked', 'fault_cleared'],
    ]);
    expect(t.machine.status()).toMatchObject({ strike: 'locked', phase: 'secure' });
  });

  it('fail-safe: a failed relock releases the door and keeps it released', async () => {
    const t = await started({ failMode: 'safe' });
    vi.spyOn(t.strike, 'lock').mockRejectedValueOnce(new Error('relay timeout'));
    await t.machine.grant(RESIDENT);
    t.clock.advance(5_000);
    await settle();
    expect(t.last('door_unlocked')?.details).toEqual({ cause: 'fail_safe' });
    expect(t.take()).toEqual(['door_unlocked', 'no_entry', 'strike_fault', 'door_unlocked']);
    expect(t.machine.status()).toMatchObject({ strike: 'unlocked', phase: 'fault' });
    expect(await t.machine.grant(RESIDENT)).toBe('fault');
    // Walking through a door released on purpose is not forcing it.
    t.sensor.setContact('open');
    expect(t.take()).toEqual(['door_opened']);
    expect(t.machine.status().alarms).toEqual([]);
  });

  it('a failed unlock answers the grant with fault', async () => {
    const t = await started();
    vi.spyOn(t.strike, 'unlock').mockRejectedValueOnce(new Error('relay timeout'));
    expect(await t.machine.grant(RESIDENT)).toBe('fault');
    await settle();
    expect(t.last('strike_fault')?.details).toMatchObject({ during: 'unlock' });
    expect(t.take()).toEqual(['strike_fault', 'door_relocked']);
    expect(t.phase()).toBe('secure');
    expect(await t.machine.grant(RESIDENT)).toBe('unlocked');
  });
});

describe('robustness', () => {
  /** Reach the listeners the machine registered, to send what a sloppy driver would. */
  function raw<T>(subscribe: (fn: (v: T) => void) => () => void) {
    const fns: ((v: T) => void)[] = [];
    const wrapped = (fn: (v: T) => void) => {
      fns.push(fn);
      return subscribe(fn);
    };
    return { wrapped, send: (v: T) => fns.forEach((fn) => fn(v)) };
  }

  it('duplicate and out-of-order driver reports are idempotent', async () => {
    const t = setup();
    const contact = raw<ContactState>(t.sensor.onContact);
    const strike = raw<StrikeState>(t.strike.onState);
    t.sensor.onContact = contact.wrapped;
    t.strike.onState = strike.wrapped;
    await t.machine.start();
    contact.send('closed'); // close while closed
    contact.send('open');
    contact.send('open');
    contact.send('closed');
    contact.send('closed');
    strike.send('locked');
    await settle();
    expect(t.take()).toEqual(['door_opened', 'forced_open', 'door_closed', 'alarm_cleared']);
    // A driver that says 'jammed' but then locks on command: one fault, ended by that lock.
    strike.send('jammed');
    strike.send('jammed');
    contact.send('tamper');
    contact.send('tamper');
    await settle();
    expect(t.take()).toEqual(['strike_fault', 'tamper', 'door_relocked']);
  });

  it('a throwing event listener loses nothing else', async () => {
    const t = setup();
    const seen: string[] = [];
    const errors: unknown[] = [];
    const machine = createDoorMachine({
      doorId: 'D1',
      config: CONFIG,
      strike: t.strike,
      sensor: t.sensor,
      clock: t.clock,
      newId: (at) => `id-${at}`,
      emit: (e) => {
        seen.push(e.type);
        if (e.type === 'door_opened') throw new Error('listener broke');
      },
      onError: (e) => errors.push(e),
    });
    await machine.start();
    t.sensor.setContact('open');
    expect(seen).toEqual(['door_opened', 'forced_open']);
    expect(machine.status()).toMatchObject({ phase: 'open_forced' });
    expect(errors).toEqual([new Error('listener broke')]);
  });

  it('every event carries id from newId(now), at = now and the door id', async () => {
    const t = await started();
    t.clock.advance(1_234);
    t.sensor.pressRex();
    expect(t.events).toEqual([
      {
        id: `ev-${t.clock.now()}-1`,
        at: t.clock.now(),
        type: 'rex',
        doorId: 'D1',
        details: { doorOpen: false, windowMs: 5_000 },
      },
    ]);
  });

  it('onStatus reports each change once, and a throwing status listener is contained', async () => {
    const t = await started();
    const seen: string[] = [];
    const phases: DoorPhase[] = [];
    t.machine.onStatus((s) => {
      seen.push(JSON.stringify(s));
      if (phases.at(-1) !== s.phase) phases.push(s.phase);
    });
    const off = t.machine.onStatus(() => {
      throw new Error('ui broke');
    });
    await t.machine.grant(RESIDENT);
    t.sensor.setContact('open');
    t.sensor.setContact('closed');
    await settle();
    off();
    expect(phases).toEqual(['granted', 'open_authorised', 'secure']);
    expect(seen.every((s, i) => s !== seen[i - 1])).toBe(true);
    expect(t.errors.length).toBeGreaterThan(0);
  });

  it('close() cancels every timer, relocks a granted strike and stops listening', async () => {
    const t = await started();
    await t.machine.grant(RESIDENT);
    t.sensor.setContact('open');
    expect(t.clock.pendingTimers()).toBeGreaterThan(0);
    await t.machine.close();
    expect(t.clock.pendingTimers()).toBe(0);
    expect(t.strike.state).toBe('locked');
    expect(t.last('door_relocked')?.details).toEqual({ cause: 'shutdown' });
    expect(t.phase()).toBe('stopped');
    t.take();
    t.sensor.setContact('closed');
    t.sensor.pressRex();
    t.strike.setFault('offline');
    t.clock.advance(120_000);
    await settle();
    expect(t.take()).toEqual([]);
    expect(t.clock.pendingTimers()).toBe(0);
  });
});
