import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeKeyBurst } from '../access/keypad.decoder.ts';
import { decodeFrame } from '../access/wiegand.decoder.ts';
import { createFormatRegistry, encodeCard } from '../access/wiegand.formats.ts';
import type { DoorDriverConfig } from '../server/config/site.schema.ts';
import { manualClock, type ManualClock } from './clock.ts';
import {
  createGpioDoorDriver,
  type ChildLike,
  type GpioDoorConfig,
  type GpioDoorDriver,
  type GpioDoorDriverOptions,
  type GpioLogLevel,
  type SpawnLike,
} from './door.gpio.ts';
import {
  getArgs,
  monitorArgs,
  parseGetOutput,
  parseMonitorLine,
  parseToolVersion,
  setArgs,
  strikeLevel,
  type ToolVersion,
} from './gpio.lines.ts';
import type { ContactState, ReaderInput, StrikeState } from './ports.ts';

// The site schema's gpio section must fit the driver's config type (compile-time check).
type SchemaGpio = Extract<DoorDriverConfig, { kind: 'gpio' }>;
const _schemaFits = (c: SchemaGpio): GpioDoorConfig => c;
void _schemaFits;

const CHIP = '/dev/gpiochip0';
const STRIKE = 5;
const D0 = 17;
const D1 = 27;
const CONTACT = 22;
const REX = 23;

const registry = createFormatRegistry();
const format = (id: string) => registry.get(id)!;

// ---------------------------------------------------------------------------------------------
// A strict fake of child_process.spawn: every spawn must have been announced with `expect`.

class FakeChild extends EventEmitter implements ChildLike {
  readonly stdout = new EventEmitter();
  readonly stderr = new EventEmitter();
  readonly signals: NodeJS.Signals[] = [];
  ended = false;
  /** What the tool does on a signal; set by the behaviour. Default: ignore. */
  onSignal: (signal: NodeJS.Signals) => void = () => {};

  constructor(
    readonly command: string,
    readonly args: readonly string[],
  ) {
    super();
  }
  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    this.signals.push(signal);
    this.onSignal(signal);
    return true;
  }
  started() {
    this.emit('spawn');
  }
  out(text: string) {
    this.stdout.emit('data', Buffer.from(text));
  }
  err(text: string) {
    this.stderr.emit('data', Buffer.from(text));
  }
  exit(code: number | null, signal: NodeJS.Signals | null = null) {
    if (this.ended) return;
    this.ended = true;
    this.emit('exit', code, signal);
    this.emit('close', code, signal);
  }
  /** What node does when the executable is missing: 'error', then 'close' with -errno. */
  notFound() {
    this.ended = true;
    const err = Object.assign(new Error(`spawn ${this.command} ENOENT`), {
      code: 'ENOENT',
      errno: -2,
      syscall: `spawn ${this.command}`,
      path: this.command,
    });
    this.emit('error', err);
    this.emit('close', -2, null);
  }
}

type Behaviour = (child: FakeChild) => void;

interface Expected {
  command: string;
  args: readonly string[];
  behaviour: Behaviour;
  child?: FakeChild;
}

function fakeSpawn() {
  const expected: Expected[] = [];
  const unexpected: string[] = [];
  const children: FakeChild[] = [];
  const spawn: SpawnLike = (command, args) => {
    const i = expected.findIndex(
      (e) => !e.child && e.command === command && JSON.stringify(e.args) === JSON.stringify(args),
    );
    const child = new FakeChild(command, args);
    children.push(child);
    const e = expected[i];
    if (!e) {
      unexpected.push([command, ...args].join(' '));
      throw new Error(`unexpected spawn: ${[command, ...args].join(' ')}`);
    }
    e.child = child;
    queueMicrotask(() => e.behaviour(child));
    return child;
  };
  return {
    spawn,
    children,
    unexpected,
    /** Announce one spawn; `.child` is set once it happened. */
    expect(command: string, args: readonly string[], behaviour: Behaviour): Expected {
      const e: Expected = { command, args, behaviour };
      expected.push(e);
      return e;
    },
    pending: () => expected.filter((e) => !e.child).map((e) => [e.command, ...e.args].join(' ')),
    running: () => children.filter((c) => !c.ended),
  };
}

// Tool behaviours, as the real tools act (from their sources).
const VERSION_TEXT: Record<ToolVersion, string> = {
  1: 'gpiomon (libgpiod) v1.6.3\nCopyright (C) 2017-2018 Bartosz Golaszewski\nLicense: LGPLv2.1\nThis is free software: you are free to change and redistribute it.\nThere is NO WARRANTY, to the extent permitted by law.\n',
  2: 'gpiomon (libgpiod) v2.1.3\nCopyright (C) 2017-2023 Bartosz Golaszewski\nLicense: GPL-2.0-or-later\nThis is free software: you are free to change and redistribute it.\nThere is NO WARRANTY, to the extent permitted by law.\n',
};
const versionOf =
  (v: ToolVersion): Behaviour =>
  (c) => {
    c.started();
    c.out(VERSION_TEXT[v]);
    c.exit(0);
  };
/**
 * A tool that holds lines until signalled: v1 gpiomon/gpioset (--mode=signal) catch SIGTERM and
 * exit 0; v2 tools do not catch it and die of it. v2 prints its banner once the lines are held.
 */
const holds =
  (v: ToolVersion, banner?: string): Behaviour =>
  (c) => {
    c.started();
    if (v === 2 && banner) c.out(`${banner}\n`);
    c.onSignal = (signal) => (v === 1 ? c.exit(0) : c.exit(null, signal));
  };
const monBanner = (lines: number[]) =>
  lines.length === 1
    ? `Monitoring line '${lines[0]}'...`
    : `Monitoring lines ${lines
        .slice(0, -1)
        .map((l) => `'${l}'`)
        .join(', ')} and '${lines.at(-1)}'...`;
const reads =
  (v: ToolVersion, line: number, level: 0 | 1): Behaviour =>
  (c) => {
    c.started();
    c.out(v === 1 ? `${level}\n` : `"${line}"=${level ? 'active' : 'inactive'}\n`);
    c.exit(0);
  };
const notFound: Behaviour = (c) => c.notFound();
const failsWith =
  (code: number, stderr: string): Behaviour =>
  (c) => {
    c.started();
    c.err(`${stderr}\n`);
    c.exit(code);
  };

// ---------------------------------------------------------------------------------------------
// Harness

const flush = async () => {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
};

interface Harness {
  fake: ReturnType<typeof fakeSpawn>;
  clock: ManualClock;
  logs: { level: GpioLogLevel; msg: string; fields?: Record<string, unknown> }[];
  driver?: GpioDoorDriver;
}

let current: Harness | undefined;

function harness(): Harness {
  const h: Harness = { fake: fakeSpawn(), clock: manualClock(), logs: [] };
  current = h;
  return h;
}

function create(
  h: Harness,
  config: Partial<GpioDoorConfig>,
  extra: Partial<GpioDoorDriverOptions> = {},
) {
  h.driver = createGpioDoorDriver({
    doorId: 'door-1',
    readerId: 'r1',
    config: {
      chip: CHIP,
      strikeLine: STRIKE,
      strikeActiveLow: false,
      contactOpenHigh: true,
      ...config,
    },
    clock: h.clock,
    spawn: h.fake.spawn,
    log: (level, msg, fields) => h.logs.push({ level, msg, ...(fields ? { fields } : {}) }),
    ...extra,
  });
  return h.driver;
}

/** Let v1 settle windows pass and promises run. */
async function settle(h: Harness, ms = 250) {
  await flush();
  h.clock.advance(ms);
  await flush();
}

afterEach(async () => {
  const h = current;
  current = undefined;
  if (!h) return;
  if (h.driver) {
    const closing = h.driver.close();
    await settle(h, 3_000);
    await closing;
  }
  expect(h.fake.unexpected, 'spawns nobody announced').toEqual([]);
  expect(
    h.fake.running().map((c) => [c.command, ...c.args].join(' ')),
    'left running',
  ).toEqual([]);
});

const fixture = (name: string) =>
  readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');

/** Kernel timestamp of a gpiomon line in µs, read independently of the driver's parser. */
function stampUs(line: string): number {
  const parts = line.split(' ');
  if (parts.length === 4) return Number(parts[2]) * 1e6 + Number(parts[3]) / 1e3;
  const [s, frac] = (parts[2] ?? '').split('.');
  return Number(s) * 1e6 + Number((frac ?? '').padEnd(9, '0')) / 1e3;
}

/**
 * Plays a recorded gpiomon output into a fake child: each line is written when the manual clock
 * reaches its recorded kernel time, so the driver sees edges arrive as they would have.
 */
function replay(h: Harness, child: FakeChild, text: string, tailMs = 100) {
  const lines = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  let prev: number | undefined;
  for (const line of lines) {
    const t = stampUs(line);
    if (prev !== undefined && t > prev) h.clock.advance((t - prev) / 1000);
    prev = t;
    child.out(`${line}\n`);
  }
  h.clock.advance(tailMs);
}

const strikeArgs = (v: ToolVersion, level: 0 | 1) => setArgs(v, CHIP, STRIKE, level);
const wiegandArgs = (v: ToolVersion) => monitorArgs(v, CHIP, [D0, D1], 'falling');

/** Boot a driver with the strike and a Wiegand reader; returns the gpiomon child. */
async function bootReader(h: Harness, v: ToolVersion) {
  h.fake.expect('gpiomon', ['--version'], versionOf(v));
  h.fake.expect('gpioset', strikeArgs(v, 0), holds(v, `Setting line '${STRIKE}'...`));
  const mon = h.fake.expect('gpiomon', wiegandArgs(v), holds(v, monBanner([D0, D1])));
  const driver = create(h, { d0Line: D0, d1Line: D1 });
  const inputs: ReaderInput[] = [];
  driver.readers.get('r1')!.onInput((i) => inputs.push(i));
  await settle(h);
  await driver.ready;
  expect(h.fake.pending()).toEqual([]);
  return { driver, inputs, mon: mon.child! };
}

// ---------------------------------------------------------------------------------------------

describe('libgpiod tool protocol (gpio.lines.ts)', () => {
  it('reads the tool generation from gpiomon --version', () => {
    expect(parseToolVersion(VERSION_TEXT[1])).toEqual({
      major: 1,
      minor: 6,
      patch: 3,
      generation: 1,
    });
    expect(parseToolVersion(VERSION_TEXT[2])).toEqual({
      major: 2,
      minor: 1,
      patch: 3,
      generation: 2,
    });
    expect(parseToolVersion('gpiomon (libgpiod) v2.2\n')?.generation).toBe(2);
    expect(parseToolVersion('gpiomon from some other project 1.0')).toBeNull();
  });

  it('builds the argv of each tool for both generations', () => {
    expect(monitorArgs(1, CHIP, [D0, D1], 'falling')).toEqual([
      '--line-buffered',
      '--format=%e %o %s %n',
      '--falling-edge',
      CHIP,
      '17',
      '27',
    ]);
    expect(monitorArgs(1, CHIP, [CONTACT], 'both')).toEqual([
      '--line-buffered',
      '--format=%e %o %s %n',
      CHIP,
      '22',
    ]);
    expect(monitorArgs(2, CHIP, [D0, D1], 'falling')).toEqual([
      '--banner',
      '--format=%e %o %S',
      '--edges=falling',
      '--chip',
      CHIP,
      '17',
      '27',
    ]);
    expect(setArgs(1, CHIP, 5, 1)).toEqual(['--mode=signal', CHIP, '5=1']);
    expect(setArgs(2, CHIP, 5, 0)).toEqual(['--banner', '--chip', CHIP, '5=0']);
    expect(getArgs(1, CHIP, 22)).toEqual([CHIP, '22']);
    expect(getArgs(2, CHIP, 22)).toEqual(['--chip', CHIP, '22']);
    expect([strikeLevel('unlocked', false), strikeLevel('locked', false)]).toEqual([1, 0]);
    expect([strikeLevel('unlocked', true), strikeLevel('locked', true)]).toEqual([0, 1]);
  });

  it('parses gpiomon lines exactly, including unpadded v1 nanoseconds and epoch seconds', () => {
    expect(parseMonitorLine(1, '0 17 12 5000')).toEqual({
      kind: 'edge',
      edge: 'falling',
      offset: 17,
      tUs: 12_000_005,
    });
    expect(parseMonitorLine(1, '1 22 1767273923 999999999')).toEqual({
      kind: 'edge',
      edge: 'rising',
      offset: 22,
      tUs: 1_767_273_923_999_999,
    });
    expect(parseMonitorLine(2, '2 27 5123.000001999')).toEqual({
      kind: 'edge',
      edge: 'falling',
      offset: 27,
      tUs: 5_123_000_001,
    });
    expect(parseMonitorLine(2, "Monitoring lines '17' and '27'...")).toEqual({ kind: 'banner' });
    expect(parseMonitorLine(1, '2 17 12 5')).toEqual({ kind: 'unknown', text: '2 17 12 5' });
    expect(parseMonitorLine(2, '0 17 12.5')).toEqual({ kind: 'unknown', text: '0 17 12.5' });
    expect(parseMonitorLine(1, '0 17 12 1000000000').kind).toBe('unknown');
    expect(parseMonitorLine(2, '').kind).toBe('blank');
  });

  it('reads gpioget output of both generations', () => {
    expect(parseGetOutput('1\n')).toBe(1);
    expect(parseGetOutput('0')).toBe(0);
    expect(parseGetOutput('"22"=active\n')).toBe(1);
    expect(parseGetOutput('22=inactive')).toBe(0);
    expect(parseGetOutput('gpioget: error')).toBeNull();
  });
});

describe.each([1, 2] as const)('Wiegand through gpiomon v%i', (v) => {
  const file = (name: string) => fixture(`${name}.v${v}.txt`);

  it('H10301 26-bit at 50 µs/1 ms: one frame that decodes to facility 123, card 45678', async () => {
    const h = harness();
    const { inputs, mon } = await bootReader(h, v);
    replay(h, mon, file('wiegand-h10301-50us-1ms'));
    const bits = encodeCard(format('H10301'), { facility: 123, card: 45678 });
    expect(inputs).toEqual([{ kind: 'frame', bits }]);
    expect(bits).toBe('10111101110110010011011101');
    const decoded = decodeFrame(bits, registry);
    expect(decoded.ok && decoded.candidates).toEqual([
      { formatId: 'H10301', facility: 123, card: 45678 },
    ]);
  });

  it('H10306 34-bit at 160 µs/880 µs: one frame, facility 1234, card 56789', async () => {
    const h = harness();
    const { inputs, mon } = await bootReader(h, v);
    replay(h, mon, file('wiegand-h10306-160us-880us'));
    const bits = encodeCard(format('H10306'), { facility: 1234, card: 56789 });
    expect(inputs).toEqual([{ kind: 'frame', bits }]);
    const decoded = decodeFrame(bits, registry);
    expect(decoded.ok && decoded.candidates).toContainEqual({
      formatId: 'H10306',
      facility: 1234,
      card: 56789,
    });
  });

  it('4-bit keypad bursts come out as key-bursts: 1 2 3 #', async () => {
    const h = harness();
    const { inputs, mon } = await bootReader(h, v);
    replay(h, mon, file('keypad-4bit'));
    expect(inputs).toEqual(
      ['0001', '0010', '0011', '1011'].map((bits) => ({ kind: 'key-burst', bits })),
    );
    expect(inputs.map((i) => (i.kind === 'key-burst' ? decodeKeyBurst(i.bits) : null))).toEqual([
      { ok: true, key: '1', mode: '4bit' },
      { ok: true, key: '2', mode: '4bit' },
      { ok: true, key: '3', mode: '4bit' },
      { ok: true, key: '#', mode: '4bit' },
    ]);
  });

  it('8-bit keypad bursts come out as key-bursts: 7 * 0', async () => {
    const h = harness();
    const { inputs, mon } = await bootReader(h, v);
    replay(h, mon, file('keypad-8bit'));
    expect(inputs).toEqual(
      ['10000111', '01011010', '11110000'].map((bits) => ({ kind: 'key-burst', bits })),
    );
    expect(inputs.map((i) => (i.kind === 'key-burst' ? decodeKeyBurst(i.bits) : null))).toEqual([
      { ok: true, key: '7', mode: '8bit' },
      { ok: true, key: '*', mode: '8bit' },
      { ok: true, key: '0', mode: '8bit' },
    ]);
  });

  it('ringing on a line is dropped: the frame is the card, with no fault', async () => {
    const h = harness();
    const { inputs, mon } = await bootReader(h, v);
    replay(h, mon, file('wiegand-glitch'));
    const bits = encodeCard(format('H10301'), { facility: 7, card: 1001 });
    expect(inputs).toEqual([{ kind: 'frame', bits }]);
    expect(h.logs.some((l) => /2 ringing edge\(s\) ignored/.test(l.msg))).toBe(true);
    expect(h.logs.map((l) => l.msg).join('\n')).not.toContain(bits);
  });

  it('D0 and D1 falling together: one line_fault, the burst dropped, the re-read decodes', async () => {
    const h = harness();
    const { inputs, mon } = await bootReader(h, v);
    replay(h, mon, file('wiegand-line-fault'));
    expect(inputs).toHaveLength(2);
    const [fault, frame] = inputs;
    expect(fault).toMatchObject({ kind: 'fault', reason: 'line_fault' });
    expect(fault?.kind === 'fault' && fault.detail).toMatch(
      /^line_fault: D0 and D1 fell 2 µs apart .* shorted or crossed wires$/,
    );
    expect(frame).toEqual({
      kind: 'frame',
      bits: encodeCard(format('H10301'), { facility: 123, card: 45678 }),
    });
  });
});

describe('Wiegand framing on the clock', () => {
  it('reassembles lines split across stdout chunks', async () => {
    const h = harness();
    const { inputs, mon } = await bootReader(h, 1);
    const text = fixture('wiegand-h10301-50us-1ms.v1.txt')
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('\n');
    for (let i = 0; i < text.length; i += 7) mon.out(text.slice(i, i + 7));
    expect(inputs).toEqual([]);
    h.clock.advance(100);
    expect(inputs).toEqual([
      { kind: 'frame', bits: encodeCard(format('H10301'), { facility: 123, card: 45678 }) },
    ]);
  });

  it('closes a frame once the lines have been quiet for the gap, not before', async () => {
    const h = harness();
    const { inputs, mon } = await bootReader(h, 2);
    replay(h, mon, fixture('wiegand-h10301-50us-1ms.v2.txt'), 0);
    h.clock.advance(20);
    expect(inputs).toEqual([]);
    h.clock.advance(10);
    expect(inputs).toHaveLength(1);
  });
});

describe.each([1, 2] as const)('contact and REX through gpiomon v%i', (v) => {
  it('reads the initial contact with gpioget, then follows open/close through the bounce', async () => {
    const h = harness();
    h.fake.expect('gpiomon', ['--version'], versionOf(v));
    h.fake.expect('gpioset', strikeArgs(v, 0), holds(v, `Setting line '${STRIKE}'...`));
    h.fake.expect('gpioget', getArgs(v, CHIP, CONTACT), reads(v, CONTACT, 0));
    const mon = h.fake.expect(
      'gpiomon',
      monitorArgs(v, CHIP, [CONTACT], 'both'),
      holds(v, monBanner([CONTACT])),
    );
    const driver = create(h, { contactLine: CONTACT });
    const seen: ContactState[] = [];
    driver.sensor.onContact((s) => seen.push(s));
    expect(driver.sensor.contact).toBe('offline');
    await settle(h);
    expect(driver.sensor.contact).toBe('closed');
    expect(seen).toEqual(['closed']);
    replay(h, mon.child!, fixture(`contact-open-close.v${v}.txt`));
    expect(seen).toEqual(['closed', 'open', 'closed', 'open', 'closed']);
    expect(driver.sensor.contact).toBe('closed');
  });

  it('with contactOpenHigh false, a high line is a closed door', async () => {
    const h = harness();
    h.fake.expect('gpiomon', ['--version'], versionOf(v));
    h.fake.expect('gpioset', strikeArgs(v, 0), holds(v, `Setting line '${STRIKE}'...`));
    h.fake.expect('gpioget', getArgs(v, CHIP, CONTACT), reads(v, CONTACT, 1));
    const mon = h.fake.expect(
      'gpiomon',
      monitorArgs(v, CHIP, [CONTACT], 'both'),
      holds(v, monBanner([CONTACT])),
    );
    const driver = create(h, { contactLine: CONTACT, contactOpenHigh: false });
    await settle(h);
    expect(driver.sensor.contact).toBe('closed');
    // The recorded line ends low, which with this wiring is an open door.
    replay(h, mon.child!, fixture(`contact-open-close.v${v}.txt`));
    expect(driver.sensor.contact).toBe('open');
  });

  it('REX: three presses with bounce on make and release are three presses', async () => {
    const h = harness();
    h.fake.expect('gpiomon', ['--version'], versionOf(v));
    h.fake.expect('gpioset', strikeArgs(v, 0), holds(v, `Setting line '${STRIKE}'...`));
    const mon = h.fake.expect(
      'gpiomon',
      monitorArgs(v, CHIP, [REX], 'both'),
      holds(v, monBanner([REX])),
    );
    const driver = create(h, { rexLine: REX });
    let presses = 0;
    driver.sensor.onRex(() => presses++);
    await settle(h);
    replay(h, mon.child!, fixture(`rex-presses-bounce.v${v}.txt`));
    expect(presses).toBe(3);
    expect(driver.sensor.contact).toBe('unknown');
  });
});

describe.each([
  [1, false],
  [1, true],
  [2, false],
  [2, true],
] as const)('strike through gpioset v%i, active-low %s', (v, activeLow) => {
  const locked = activeLow ? 1 : 0;
  const unlocked = activeLow ? 0 : 1;
  const banner = `Setting line '${STRIKE}'...`;

  it('holds the line locked, and restarts gpioset with the other level to unlock and lock', async () => {
    const h = harness();
    h.fake.expect('gpiomon', ['--version'], versionOf(v));
    const first = h.fake.expect('gpioset', strikeArgs(v, locked), holds(v, banner));
    const driver = create(h, { strikeActiveLow: activeLow });
    const states: StrikeState[] = [];
    driver.strike.onState((s) => states.push(s));
    expect(driver.strike.state).toBe('offline');
    await settle(h);
    expect(driver.strike.state).toBe('locked');

    const second = h.fake.expect('gpioset', strikeArgs(v, unlocked), holds(v, banner));
    let done = false;
    const unlocking = driver.strike.unlock().then(() => (done = true));
    await flush();
    // The old holder is stopped before the new one requests the line (it would be busy).
    expect(first.child!.signals).toEqual(['SIGTERM']);
    expect(second.child).toBeDefined();
    if (v === 1) {
      // v1 prints nothing: up once it has survived the settle window.
      expect(done).toBe(false);
      h.clock.advance(200);
    }
    await unlocking;
    expect(driver.strike.state).toBe('unlocked');

    const third = h.fake.expect('gpioset', strikeArgs(v, locked), holds(v, banner));
    const locking = driver.strike.lock();
    await settle(h);
    await locking;
    expect(second.child!.signals).toEqual(['SIGTERM']);
    expect(third.child!.ended).toBe(false);
    expect(driver.strike.state).toBe('locked');
    expect(states).toEqual(['locked', 'unlocked', 'locked']);

    // Locking a locked strike restarts nothing.
    await driver.strike.lock();
    expect(h.fake.pending()).toEqual([]);
  });
});

describe('strike faults', () => {
  it('a v2 gpioset does not count as up before its banner', async () => {
    const h = harness();
    h.fake.expect('gpiomon', ['--version'], versionOf(2));
    h.fake.expect('gpioset', strikeArgs(2, 0), holds(2, `Setting line '${STRIKE}'...`));
    const driver = create(h, {});
    await settle(h);
    const slow = h.fake.expect('gpioset', strikeArgs(2, 1), (c) => {
      c.started();
      c.onSignal = (s) => c.exit(null, s);
    });
    let done = false;
    const unlocking = driver.strike.unlock().then(() => (done = true));
    await settle(h, 5_000);
    expect(done).toBe(false);
    expect(driver.strike.state).toBe('locked');
    slow.child!.out(`Setting line '${STRIKE}'...\n`);
    await unlocking;
    expect(driver.strike.state).toBe('unlocked');
    // close() relocks before it lets go of the line.
    h.fake.expect('gpioset', strikeArgs(2, 0), holds(2, `Setting line '${STRIKE}'...`));
  });

  it('a gpioset that dies takes the strike offline; after the backoff it comes back locked', async () => {
    const h = harness();
    h.fake.expect('gpiomon', ['--version'], versionOf(1));
    h.fake.expect('gpioset', strikeArgs(1, 0), holds(1));
    const driver = create(h, {});
    await settle(h);
    const holding = h.fake.expect('gpioset', strikeArgs(1, 1), holds(1));
    const unlocking = driver.strike.unlock();
    await settle(h);
    await unlocking;
    expect(driver.strike.state).toBe('unlocked');

    holding.child!.err('gpioset: error waiting for events: Bad file descriptor\n');
    holding.child!.exit(1);
    await flush();
    expect(driver.strike.state).toBe('offline');
    const error = h.logs.find((l) => l.level === 'error');
    expect(error?.msg).toBe(
      'door door-1: strike relay on /dev/gpiochip0 line 5 is offline: gpioset exited with code 1: gpioset: error waiting for events: Bad file descriptor (the line was released); retrying in 1000 ms',
    );
    await expect(driver.strike.unlock()).rejects.toThrow(
      /^door door-1: strike relay on \/dev\/gpiochip0 line 5 is offline \(gpioset exited with code 1/,
    );

    h.fake.expect('gpioset', strikeArgs(1, 0), holds(1));
    h.clock.advance(999);
    await flush();
    expect(h.fake.pending()).toHaveLength(1);
    await settle(h, 1); // the retry spawns gpioset…
    expect(driver.strike.state).toBe('offline');
    await settle(h, 200); // …which a v1 tool proves by still running after the settle window
    expect(driver.strike.state).toBe('locked');
    expect(h.logs.at(-1)?.msg).toBe(
      'door door-1: strike relay on /dev/gpiochip0 line 5 is back online, locked',
    );
  });

  it('an unlock whose gpioset fails rejects, and the strike recovers locked', async () => {
    const h = harness();
    h.fake.expect('gpiomon', ['--version'], versionOf(2));
    h.fake.expect('gpioset', strikeArgs(2, 0), holds(2, `Setting line '${STRIKE}'...`));
    const driver = create(h, {});
    await settle(h);
    h.fake.expect(
      'gpioset',
      strikeArgs(2, 1),
      failsWith(
        1,
        `gpioset: unable to request lines on chip '/dev/gpiochip0': Device or resource busy`,
      ),
    );
    await expect(driver.strike.unlock()).rejects.toThrow(
      "door door-1: could not unlock the strike on /dev/gpiochip0 line 5: gpioset exited with code 1: gpioset: unable to request lines on chip '/dev/gpiochip0': Device or resource busy",
    );
    expect(driver.strike.state).toBe('offline');
    h.fake.expect('gpioset', strikeArgs(2, 0), holds(2, `Setting line '${STRIKE}'...`));
    await settle(h, 1_000);
    expect(driver.strike.state).toBe('locked');
  });

  it('close() leaves an unlocked strike locked before releasing the line', async () => {
    const h = harness();
    h.fake.expect('gpiomon', ['--version'], versionOf(2));
    h.fake.expect('gpioset', strikeArgs(2, 1), holds(2, `Setting line '${STRIKE}'...`));
    const driver = create(h, { strikeActiveLow: true });
    await settle(h);
    const open = h.fake.expect(
      'gpioset',
      strikeArgs(2, 0),
      holds(2, `Setting line '${STRIKE}'...`),
    );
    await driver.strike.unlock();
    const relock = h.fake.expect(
      'gpioset',
      strikeArgs(2, 1),
      holds(2, `Setting line '${STRIKE}'...`),
    );
    await driver.close();
    expect(open.child!.signals).toEqual(['SIGTERM']);
    expect(relock.child!.signals).toEqual(['SIGTERM']);
    expect(h.fake.running()).toEqual([]);
    expect(h.clock.pendingTimers()).toBe(0);
    expect(driver.strike.state).toBe('offline');
  });
});

describe('missing tools, missing chips, dying monitors', () => {
  it('gpiomon not installed: every part offline with a clear line, retried with backoff', async () => {
    const h = harness();
    h.fake.expect('gpiomon', ['--version'], notFound);
    const driver = create(h, { contactLine: CONTACT, d0Line: D0, d1Line: D1 });
    const inputs: ReaderInput[] = [];
    driver.readers.get('r1')!.onInput((i) => inputs.push(i));
    await flush();
    await driver.ready;
    expect(driver.strike.state).toBe('offline');
    expect(driver.sensor.contact).toBe('offline');
    const why =
      "gpiomon not found: install the Debian package 'gpiod' (libgpiod tools) or set tools.gpiomon";
    expect(inputs).toEqual([{ kind: 'fault', reason: 'offline', detail: why }]);
    expect(
      h.logs
        .filter((l) => l.level === 'error')
        .map((l) => l.msg)
        .sort(),
    ).toEqual(
      [
        `door door-1: Wiegand reader r1 on /dev/gpiochip0 lines 17, 27 is offline: ${why}; retrying in 1000 ms`,
        `door door-1: door contact on /dev/gpiochip0 line 22 is offline: ${why}; retrying in 1000 ms`,
        `door door-1: strike relay on /dev/gpiochip0 line 5 is offline: ${why}; retrying in 1000 ms`,
      ].sort(),
    );
    await expect(driver.strike.unlock()).rejects.toThrow(
      `door door-1: strike relay on /dev/gpiochip0 line 5 is offline (${why})`,
    );

    // Installed meanwhile: one version check serves every part.
    h.fake.expect('gpiomon', ['--version'], versionOf(1));
    h.fake.expect('gpioset', strikeArgs(1, 0), holds(1));
    h.fake.expect('gpioget', getArgs(1, CHIP, CONTACT), reads(1, CONTACT, 1));
    h.fake.expect('gpiomon', monitorArgs(1, CHIP, [CONTACT], 'both'), holds(1));
    h.fake.expect('gpiomon', wiegandArgs(1), holds(1));
    await settle(h, 1_000);
    await settle(h);
    expect(h.fake.pending()).toEqual([]);
    expect(driver.strike.state).toBe('locked');
    expect(driver.sensor.contact).toBe('open');
  });

  it('a chip that does not exist: offline, the log names the chip and quotes the tool', async () => {
    const h = harness();
    const chip = '/dev/gpiochip9';
    h.fake.expect('gpiomon', ['--version'], versionOf(2));
    h.fake.expect(
      'gpioset',
      setArgs(2, chip, STRIKE, 0),
      failsWith(1, `gpioset: cannot find GPIO chip character device '${chip}'`),
    );
    h.fake.expect(
      'gpiomon',
      monitorArgs(2, chip, [REX], 'both'),
      failsWith(1, `gpiomon: cannot find GPIO chip character device '${chip}'`),
    );
    const driver = create(h, { chip, rexLine: REX });
    await settle(h);
    expect(driver.strike.state).toBe('offline');
    const errors = h.logs.filter((l) => l.level === 'error').map((l) => l.msg);
    expect(errors).toContain(
      `door door-1: strike relay on ${chip} line 5 is offline: gpioset exited with code 1: gpioset: cannot find GPIO chip character device '${chip}'; retrying in 1000 ms`,
    );
    expect(errors).toContain(
      `door door-1: REX button on ${chip} line 23 is offline: gpiomon exited with code 1: gpiomon: cannot find GPIO chip character device '${chip}'; retrying in 1000 ms`,
    );
    // Still missing on the retry: the backoff doubles.
    h.fake.expect('gpioset', setArgs(2, chip, STRIKE, 0), failsWith(1, 'gpioset: nope'));
    h.fake.expect('gpiomon', monitorArgs(2, chip, [REX], 'both'), failsWith(1, 'gpiomon: nope'));
    await settle(h, 1_000);
    expect(h.logs.filter((l) => l.msg.endsWith('retrying in 2000 ms'))).toHaveLength(2);
    await driver.close();
  });

  it('a Wiegand gpiomon that dies: reader offline, restarted after backoff, reads again', async () => {
    const h = harness();
    const { inputs, mon } = await bootReader(h, 2);
    mon.exit(null, 'SIGKILL');
    await flush();
    const why = 'gpiomon was killed by SIGKILL (it had been running)';
    expect(inputs).toEqual([{ kind: 'fault', reason: 'offline', detail: why }]);
    expect(h.logs.at(-1)).toMatchObject({
      level: 'error',
      msg: `door door-1: Wiegand reader r1 on /dev/gpiochip0 lines 17, 27 is offline: ${why}; retrying in 1000 ms`,
      fields: { chip: CHIP, lines: [D0, D1], retryMs: 1000 },
    });

    const again = h.fake.expect('gpiomon', wiegandArgs(2), holds(2, monBanner([D0, D1])));
    h.clock.advance(1_000);
    await flush();
    expect(h.logs.at(-1)?.msg).toBe(
      'door door-1: Wiegand reader r1 on /dev/gpiochip0 lines 17, 27 is back online',
    );
    inputs.length = 0;
    replay(h, again.child!, fixture('wiegand-h10301-50us-1ms.v2.txt'));
    expect(inputs).toEqual([
      { kind: 'frame', bits: encodeCard(format('H10301'), { facility: 123, card: 45678 }) },
    ]);
  });

  it('a monitor that dies during a frame drops the half frame instead of flushing it', async () => {
    const h = harness();
    const { inputs, mon } = await bootReader(h, 1);
    const lines = fixture('wiegand-h10301-50us-1ms.v1.txt')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'));
    for (const l of lines.slice(0, 13)) mon.out(`${l}\n`);
    mon.exit(1);
    await flush();
    h.fake.expect('gpiomon', wiegandArgs(1), holds(1));
    await settle(h, 1_000);
    expect(inputs).toEqual([
      {
        kind: 'fault',
        reason: 'offline',
        detail: 'gpiomon exited with code 1 (it had been running)',
      },
    ]);
  });

  it('a contact gpiomon that dies: contact offline, then gpioget and gpiomon again', async () => {
    const h = harness();
    h.fake.expect('gpiomon', ['--version'], versionOf(1));
    h.fake.expect('gpioset', strikeArgs(1, 0), holds(1));
    h.fake.expect('gpioget', getArgs(1, CHIP, CONTACT), reads(1, CONTACT, 0));
    const mon = h.fake.expect('gpiomon', monitorArgs(1, CHIP, [CONTACT], 'both'), holds(1));
    const driver = create(h, { contactLine: CONTACT });
    const seen: ContactState[] = [];
    driver.sensor.onContact((s) => seen.push(s));
    await settle(h);
    mon.child!.exit(1);
    await flush();
    expect(driver.sensor.contact).toBe('offline');
    h.fake.expect('gpioget', getArgs(1, CHIP, CONTACT), reads(1, CONTACT, 1));
    h.fake.expect('gpiomon', monitorArgs(1, CHIP, [CONTACT], 'both'), holds(1));
    await settle(h, 1_000);
    await settle(h);
    expect(seen).toEqual(['closed', 'offline', 'open']);
  });
});

describe('loading and lifecycle', () => {
  it('spawns nothing before it is created, and one version check for all parts', async () => {
    const h = harness();
    expect(h.fake.children).toEqual([]);
    h.fake.expect('gpiomon', ['--version'], versionOf(2));
    h.fake.expect('gpioset', strikeArgs(2, 0), holds(2, `Setting line '${STRIKE}'...`));
    h.fake.expect('gpioget', getArgs(2, CHIP, CONTACT), reads(2, CONTACT, 0));
    h.fake.expect(
      'gpiomon',
      monitorArgs(2, CHIP, [CONTACT], 'both'),
      holds(2, monBanner([CONTACT])),
    );
    h.fake.expect('gpiomon', monitorArgs(2, CHIP, [REX], 'both'), holds(2, monBanner([REX])));
    h.fake.expect('gpiomon', wiegandArgs(2), holds(2, monBanner([D0, D1])));
    const driver = create(h, { contactLine: CONTACT, rexLine: REX, d0Line: D0, d1Line: D1 });
    expect(h.fake.children.map((c) => c.args)).toEqual([['--version']]);
    await flush();
    await driver.ready;
    expect(h.fake.pending()).toEqual([]);
    expect(h.fake.children.filter((c) => c.args[0] === '--version')).toHaveLength(1);
    expect([...driver.readers.keys()]).toEqual(['r1']);
    await driver.close();
    expect(h.fake.running()).toEqual([]);
    expect(h.clock.pendingTimers()).toBe(0);
    expect(h.fake.children.filter((c) => !c.ended)).toEqual([]);
  });

  it('refuses configs that cannot work, naming the fields', () => {
    const h = harness();
    expect(() => create(h, { d0Line: D0 })).toThrow(
      'door door-1: gpio driver: d0Line and d1Line must be given together',
    );
    expect(() => create(h, { contactLine: STRIKE })).toThrow(
      'door door-1: gpio driver: contactLine and strikeLine are both line 5',
    );
    expect(h.fake.children).toEqual([]);
    h.driver = undefined;
  });

  it('with the real child_process.spawn, a tool path that does not exist is "not found"', async () => {
    const clock = manualClock();
    const logs: string[] = [];
    const driver = createGpioDoorDriver({
      doorId: 'door-1',
      config: { chip: CHIP, strikeLine: STRIKE, strikeActiveLow: false, contactOpenHigh: true },
      clock,
      tools: { gpiomon: '/nonexistent/parcelroom/gpiomon' },
      log: (_level, msg) => logs.push(msg),
    });
    await driver.ready;
    expect(driver.strike.state).toBe('offline');
    expect(logs).toEqual([
      "door door-1: strike relay on /dev/gpiochip0 line 5 is offline: gpiomon not found: install the Debian package 'gpiod' (libgpiod tools) or set tools.gpiomon; retrying in 1000 ms",
    ]);
    await driver.close();
    expect(clock.pendingTimers()).toBe(0);
  });
});
