/**
 * The GPIO door driver: strike relay, door contact, request-to-exit button and a Wiegand reader
 * wired straight to this box, through the Linux GPIO character device.
 *
 * How. libgpiod's command-line tools (Debian package `gpiod`) run as child processes: `gpioset`
 * holds the strike line, `gpiomon` reports edges with kernel timestamps, `gpioget` reads the
 * contact once at start. libgpiod is the maintained library for the chardev uAPI, and the tools
 * spare us a native add-on that would have to compile on every box. Both tool generations work
 * (v1: Debian 12; v2: Debian 13); `gpiomon --version` is asked once, on first need, and the flags
 * follow from it (gpio.lines.ts has the details).
 *
 * When. Nothing is spawned at import time. `createGpioDoorDriver` starts everything on creation:
 * the version check, then the gpioset that holds the strike locked, and one gpiomon per input
 * (Wiegand D0+D1, contact, REX). Call it only for doors whose driver is `gpio`; `ready` resolves
 * once every part has either come up or gone offline on its first try.
 *
 * Processes we start:
 * - `gpiomon --version`: once (again after a failure until it succeeds).
 * - strike: one `gpioset` holding the line at the level for the current state. A change of state
 *   restarts it with the other level, in both versions (v2's `--interactive` is an optional build
 *   feature; see gpio.lines.ts). The line is released for the few ms between the two processes;
 *   relays do not move that fast.
 * - contact: `gpioget` (initial level, read before the monitor because the monitor then holds
 *   the line), then `gpiomon` on both edges. A change in the few ms between the two is missed.
 * - REX: `gpiomon` on both edges (see `rexQuietMs`). Wiegand: one `gpiomon` on D0+D1, falling.
 *
 * Faults. A tool that is missing, a chip or line that does not exist, a line already in use, or a
 * process that dies: the part goes 'offline' (contact 'offline', strike 'offline', reader gets a
 * `fault`/`offline` input), one error line names the door, tool, chip and line, and the part is
 * restarted after a backoff on the injected Clock (1 s doubling to 30 s; the count resets after a
 * run that lasted 30 s). `unlock()` and `lock()` while the strike is offline reject with an Error
 * saying why. A strike that comes back after a fault comes back *locked* (fail-secure): the door
 * machine sees offline → locked and may unlock again.
 */
import { spawn as nodeSpawn } from 'node:child_process';
import { createEdgeDecoder, type EdgeDecoder } from '../access/wiegand.edges.ts';
import type { Clock, TimerHandle } from './clock.ts';
import {
  getArgs,
  isSetterBanner,
  monitorArgs,
  parseGetOutput,
  parseMonitorLine,
  parseToolVersion,
  setArgs,
  strikeLevel,
  type EdgeKind,
  type EdgeSelection,
  type Level,
  type ToolVersion,
} from './gpio.lines.ts';
import type {
  ContactState,
  CredentialReader,
  DoorSensor,
  DoorStrike,
  ReaderInput,
  StrikeState,
} from './ports.ts';
import { listeners } from './listeners.ts';

/**
 * The `gpio` door driver section of the site file (server/config/site.schema.ts), after defaults.
 * Declared here so hardware/ does not depend on the server; the schema's type is assignable.
 */
export interface GpioDoorConfig {
  readonly kind?: 'gpio';
  readonly chip: string;
  readonly strikeLine: number;
  readonly strikeActiveLow: boolean;
  readonly contactLine?: number | undefined;
  readonly contactOpenHigh: boolean;
  readonly rexLine?: number | undefined;
  readonly d0Line?: number | undefined;
  readonly d1Line?: number | undefined;
}

export type GpioTool = 'gpiomon' | 'gpioset' | 'gpioget';
/** The levels server/log's Logger has and the door driver factory forwards. */
export type GpioLogLevel = 'info' | 'warn' | 'error';
export type GpioLog = (level: GpioLogLevel, msg: string, fields?: Record<string, unknown>) => void;

/** The part of a child process the driver uses; node's ChildProcess fits. */
export interface ChildLike {
  readonly stdout: {
    on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  } | null;
  readonly stderr: {
    on(event: 'data', listener: (chunk: Buffer | string) => void): unknown;
  } | null;
  kill(signal?: NodeJS.Signals): boolean;
  once(event: 'spawn', listener: () => void): unknown;
  once(event: 'error', listener: (err: Error) => void): unknown;
  once(
    event: 'close',
    listener: (code: number | null, signal: NodeJS.Signals | null) => void,
  ): unknown;
}

/** `child_process.spawn` reduced to what we need; injectable for tests. */
export type SpawnLike = (command: string, args: readonly string[]) => ChildLike;

export interface GpioTiming {
  /**
   * v1 tools print nothing once they hold a line. A v1 gpioset/gpiomon that is still running this
   * long after exec is taken as up: every failure we know of (no chip, bad offset, line busy, no
   * permission) makes the tool exit right after exec, well within this. v2 prints a banner.
   */
  settleMs: number;
  /**
   * REX debounce. A falling edge is a press only if the line had no edge at all for this long
   * before it, measured on the kernel's edge timestamps (our wall clock would see a batch of
   * edges arrive at once). Push-button contacts bounce for 1-10 ms on make and on break; 50 ms
   * is five times the worst of that and shorter than any two deliberate presses. Both edges are
   * watched because a button held down bounces on release too: with falling edges alone, those
   * bounces after a long press would look like a fresh press.
   */
  rexQuietMs: number;
  /**
   * Contact debounce. The first change is reported at once; further changes are held back until
   * the line has had this long to settle, then the final level is reported. Reed contacts bounce
   * for about a millisecond; without this the door machine would see open/closed/open.
   */
  contactSettleMs: number;
  backoffInitialMs: number;
  backoffMaxMs: number;
  /** After SIGTERM, SIGKILL if the tool has not exited after this long. */
  killTimeoutMs: number;
  /** `gpiomon --version` and `gpioget` must finish within this. */
  toolTimeoutMs: number;
}

export const DEFAULT_GPIO_TIMING: Readonly<GpioTiming> = Object.freeze({
  settleMs: 200,
  rexQuietMs: 50,
  contactSettleMs: 25,
  backoffInitialMs: 1_000,
  backoffMaxMs: 30_000,
  killTimeoutMs: 2_000,
  toolTimeoutMs: 5_000,
});

export interface GpioDoorDriverOptions {
  doorId: string;
  /** Id of the Wiegand reader on D0/D1; default `<doorId>-reader`. */
  readerId?: string;
  config: GpioDoorConfig;
  clock: Clock;
  spawn?: SpawnLike;
  log?: GpioLog;
  /** Paths of the tools when they are not on PATH. */
  tools?: Partial<Record<GpioTool, string>>;
  timing?: Partial<GpioTiming>;
}

export interface GpioDoorDriver {
  strike: DoorStrike;
  sensor: DoorSensor;
  /** The Wiegand reader, keyed by reader id; empty when D0/D1 are not configured. */
  readers: Map<string, CredentialReader>;
  /** Resolves once every part has come up or gone offline on its first try. Never rejects. */
  ready: Promise<void>;
  close(): Promise<void>;
}

const defaultSpawn: SpawnLike = (command, args) =>
  nodeSpawn(command, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });

const defaultLog: GpioLog = (level, msg, fields) => {
  if (level === 'info') return;
  process.stderr.write(`${level}: ${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}\n`);
};

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e));

// ---------------------------------------------------------------------------------------------
// Processes

interface Exit {
  code: number | null;
  signal: string | null;
  /** Set when the process could not be started at all (ENOENT, EACCES). */
  error?: NodeJS.ErrnoException;
  stderr: string;
  /** We asked it to stop. */
  requested: boolean;
}

interface Proc {
  readonly tool: GpioTool;
  readonly args: readonly string[];
  readonly exited: Promise<Exit>;
  running(): boolean;
  stop(): Promise<Exit>;
}

interface Ctx {
  doorId: string;
  chip: string;
  clock: Clock;
  timing: GpioTiming;
  log: GpioLog;
  start(
    tool: GpioTool,
    args: readonly string[],
    on?: { spawn?: () => void; line?: (line: string) => void },
  ): Proc;
  /** Output and exit of a tool that runs to completion, killed after `toolTimeoutMs`. */
  run(tool: GpioTool, args: readonly string[], track?: (p: Proc) => void): Promise<RunResult>;
  version(): Promise<ToolVersion>;
  close(): Promise<void>;
}

interface RunResult {
  exit: Exit;
  stdout: string;
}

function describeExit(tool: GpioTool, exit: Exit): string {
  if (exit.error) {
    if (exit.error.code === 'ENOENT') {
      return `${tool} not found: install the Debian package 'gpiod' (libgpiod tools) or set tools.${tool}`;
    }
    return `${tool} could not be started: ${exit.error.message}`;
  }
  const how =
    exit.signal !== null ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
  const stderr = exit.stderr.trim().split('\n').filter(Boolean).slice(-3).join(' | ');
  return stderr ? `${tool} ${how}: ${stderr}` : `${tool} ${how}`;
}

function createCtx(opts: GpioDoorDriverOptions): Ctx {
  const { clock, doorId } = opts;
  const spawn = opts.spawn ?? defaultSpawn;
  const log = opts.log ?? defaultLog;
  const timing: GpioTiming = { ...DEFAULT_GPIO_TIMING, ...opts.timing };
  const chip = opts.config.chip;
  const toolPath = (tool: GpioTool) => opts.tools?.[tool] ?? tool;
  const live = new Set<Proc>();

  const start: Ctx['start'] = (tool, args, on = {}) => {
    let resolveExit!: (exit: Exit) => void;
    const exited = new Promise<Exit>((resolve) => (resolveExit = resolve));
    let done = false;
    let spawned = false;
    let requested = false;
    let stderr = '';
    let pending = '';
    let killTimer: TimerHandle | undefined;
    let child: ChildLike | undefined;

    const finish = (code: number | null, signal: string | null, error?: NodeJS.ErrnoException) => {
      if (done) return;
      done = true;
      if (killTimer) clock.clearTimeout(killTimer);
      if (pending !== '') {
        const rest = pending;
        pending = '';
        on.line?.(rest);
      }
      live.delete(proc);
      resolveExit({ code, signal, stderr, requested, ...(error ? { error } : {}) });
    };

    const proc: Proc = {
      tool,
      args,
      exited,
      running: () => spawned && !done,
      stop() {
        if (done || !child) return exited;
        if (!requested) {
          requested = true;
          const c = child;
          c.kill('SIGTERM');
          // A child may report its exit before kill() returns (tests do): arm only if still alive.
          if (!done) {
            killTimer = clock.setTimeout(() => {
              if (!done) c.kill('SIGKILL');
            }, timing.killTimeoutMs);
          }
        }
        return exited;
      },
    };
    live.add(proc);

    try {
      child = spawn(toolPath(tool), args);
    } catch (e) {
      // A real spawn reports start failures as events; a synchronous throw is a programming or
      // resource error (EMFILE). Either way the tool is not running.
      const err: NodeJS.ErrnoException = e instanceof Error ? e : new Error(String(e));
      queueMicrotask(() => finish(null, null, err));
      return proc;
    }
    child.stdout?.on('data', (chunk) => {
      pending += String(chunk);
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (!done) on.line?.(line);
      }
    });
    child.stderr?.on('data', (chunk) => {
      stderr = (stderr + String(chunk)).slice(-2_000);
    });
    child.once('spawn', () => {
      spawned = true;
      if (!done) on.spawn?.();
    });
    child.once('error', (err) => {
      // Without a 'spawn' first, this is a start failure; node follows it with 'close' anyway.
      if (!spawned) finish(null, null, err);
      else log('warn', `door ${doorId}: ${tool}: ${err.message}`, { doorId, tool });
    });
    child.once('close', (code, signal) => finish(code, signal));
    return proc;
  };

  const run: Ctx['run'] = async (tool, args, track) => {
    let stdout = '';
    const p = start(tool, args, { line: (l) => (stdout += `${l}\n`) });
    track?.(p);
    const timer = clock.setTimeout(() => void p.stop(), timing.toolTimeoutMs);
    const exit = await p.exited;
    clock.clearTimeout(timer);
    return { exit, stdout };
  };

  let known: ToolVersion | undefined;
  let detecting: Promise<ToolVersion> | undefined;
  const detect = async (): Promise<ToolVersion> => {
    const { exit, stdout } = await run('gpiomon', ['--version']);
    if (exit.error || exit.code !== 0) throw new Error(describeExit('gpiomon', exit));
    const parsed = parseToolVersion(stdout);
    if (!parsed) {
      throw new Error(
        `gpiomon --version printed ${JSON.stringify(stdout.split('\n')[0] ?? '')}: not libgpiod's gpiomon`,
      );
    }
    log('info', `door ${doorId}: using libgpiod tools v${parsed.major}.${parsed.minor}`, {
      doorId,
      libgpiod: `${parsed.major}.${parsed.minor}.${parsed.patch}`,
    });
    return parsed.generation;
  };
  const version = (): Promise<ToolVersion> => {
    if (known !== undefined) return Promise.resolve(known);
    detecting ??= detect().then(
      (v) => {
        known = v;
        return v;
      },
      (e: unknown) => {
        detecting = undefined;
        throw e;
      },
    );
    return detecting;
  };

  return {
    doorId,
    chip,
    clock,
    timing,
    log,
    start,
    run,
    version,
    async close() {
      await Promise.all([...live].map((p) => p.stop()));
    },
  };
}

function createBackoff(ctx: Ctx) {
  const { backoffInitialMs, backoffMaxMs } = ctx.timing;
  let attempt = 0;
  let upSince: number | null = null;
  return {
    up() {
      upSince = ctx.clock.now();
    },
    next(): number {
      if (upSince !== null && ctx.clock.now() - upSince >= backoffMaxMs) attempt = 0;
      upSince = null;
      const delay = Math.min(backoffMaxMs, backoffInitialMs * 2 ** attempt);
      attempt = Math.min(attempt + 1, 30);
      return delay;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Inputs: one supervised gpiomon each

interface EdgeEvent {
  edge: EdgeKind;
  offset: number;
  tUs: number;
}

interface MonitorSpec {
  /** For logs: "Wiegand reader r1", "door contact", "REX button". */
  what: string;
  lines: readonly number[];
  edges: EdgeSelection;
  /** Runs before each gpiomon start (the contact's gpioget); a throw counts as a failed start. */
  prepare?(v: ToolVersion, track: (p: Proc) => void): Promise<void>;
  onRunStart?(): void;
  onEdge(e: EdgeEvent): void;
  onOnline(): void;
  onOffline(reason: string): void;
  /** Drop timers: the monitor is being stopped for good. */
  onStop?(): void;
}

function superviseMonitor(
  ctx: Ctx,
  spec: MonitorSpec,
): { ready: Promise<void>; stop(): Promise<void> } {
  const { clock, log, chip, doorId } = ctx;
  const lineText = spec.lines.join(', ');
  const where = `${chip} line${spec.lines.length > 1 ? 's' : ''} ${lineText}`;
  const backoff = createBackoff(ctx);
  let stopped = false;
  let retry: TimerHandle | undefined;
  let current: Proc | undefined;
  let wasOffline = false;
  let settleReady!: () => void;
  const ready = new Promise<void>((resolve) => (settleReady = resolve));

  const fail = (reason: string) => {
    if (stopped) return;
    wasOffline = true;
    const delay = backoff.next();
    spec.onOffline(reason);
    log(
      'error',
      `door ${doorId}: ${spec.what} on ${where} is offline: ${reason}; retrying in ${delay} ms`,
      {
        doorId,
        chip,
        lines: spec.lines,
        reason,
        retryMs: delay,
      },
    );
    settleReady();
    retry = clock.setTimeout(() => void attempt(), delay);
  };

  const attempt = async (): Promise<void> => {
    retry = undefined;
    if (stopped) return;
    let v: ToolVersion;
    try {
      v = await ctx.version();
      if (stopped) return;
      await spec.prepare?.(v, (p) => (current = p));
    } catch (e) {
      fail(errorText(e));
      return;
    }
    if (stopped) return;
    spec.onRunStart?.();
    let online = false;
    let warned = false;
    let settle: TimerHandle | undefined;
    const goOnline = () => {
      if (online || stopped) return;
      online = true;
      if (settle) clock.clearTimeout(settle);
      backoff.up();
      spec.onOnline();
      log(
        wasOffline ? 'warn' : 'info',
        `door ${doorId}: ${spec.what} on ${where} is ${wasOffline ? 'back ' : ''}online`,
        {
          doorId,
          chip,
          lines: spec.lines,
        },
      );
      wasOffline = false;
      settleReady();
    };
    const p = ctx.start('gpiomon', monitorArgs(v, chip, spec.lines, spec.edges), {
      spawn: () => {
        if (v === 1) settle = clock.setTimeout(goOnline, ctx.timing.settleMs);
      },
      line: (text) => {
        const m = parseMonitorLine(v, text);
        switch (m.kind) {
          case 'banner':
            goOnline();
            return;
          case 'edge':
            if (!spec.lines.includes(m.offset)) break;
            goOnline(); // an event proves the line is held (v1 has no banner)
            spec.onEdge(m);
            return;
          case 'blank':
            return;
          case 'unknown':
            break;
        }
        if (!warned) {
          warned = true;
          log('warn', `door ${doorId}: ${spec.what}: unexpected gpiomon output ignored`, {
            doorId,
            chip,
            output: text.slice(0, 200),
          });
        }
      },
    });
    current = p;
    const exit = await p.exited;
    if (settle) clock.clearTimeout(settle);
    if (current === p) current = undefined;
    if (stopped || exit.requested) return;
    fail(
      online
        ? `${describeExit('gpiomon', exit)} (it had been running)`
        : describeExit('gpiomon', exit),
    );
  };

  void attempt();
  return {
    ready,
    async stop() {
      stopped = true;
      settleReady();
      if (retry) clock.clearTimeout(retry);
      retry = undefined;
      spec.onStop?.();
      await current?.stop();
    },
  };
}

function createGpioSensor(ctx: Ctx, config: GpioDoorConfig): DoorSensor & { ready: Promise<void> } {
  const { clock } = ctx;
  const changed = listeners<[ContactState]>();
  const rex = listeners<[]>();
  let contact: ContactState = config.contactLine === undefined ? 'unknown' : 'offline';
  const setContact = (next: ContactState) => {
    if (next === contact) return;
    contact = next;
    changed.emit(next);
  };

  const parts: { ready: Promise<void>; stop(): Promise<void> }[] = [];

  const contactLine = config.contactLine;
  if (contactLine !== undefined) {
    let level: Level | null = null;
    let online = false;
    let hold: TimerHandle | undefined;
    const stateOf = (lv: Level): ContactState =>
      (lv === 1) === config.contactOpenHigh ? 'open' : 'closed';
    const clearHold = () => {
      if (hold) clock.clearTimeout(hold);
      hold = undefined;
    };
    // Report a change at once, then hold further changes for the settle time and report where the
    // line ended up: fast on the first edge, one event per real movement.
    const commit = () => {
      if (level === null || !online) return;
      const next = stateOf(level);
      if (next === contact) return;
      setContact(next);
      hold = clock.setTimeout(() => {
        hold = undefined;
        commit();
      }, ctx.timing.contactSettleMs);
    };
    parts.push(
      superviseMonitor(ctx, {
        what: 'door contact',
        lines: [contactLine],
        edges: 'both',
        async prepare(v, track) {
          const { exit, stdout } = await ctx.run(
            'gpioget',
            getArgs(v, ctx.chip, contactLine),
            track,
          );
          if (exit.error || exit.code !== 0) throw new Error(describeExit('gpioget', exit));
          const read = parseGetOutput(stdout);
          if (read === null) {
            throw new Error(
              `gpioget printed ${JSON.stringify(stdout.trim().slice(0, 80))}, not a level`,
            );
          }
          level = read;
        },
        onRunStart: clearHold,
        onEdge(e) {
          level = e.edge === 'rising' ? 1 : 0;
          if (!hold) commit();
        },
        onOnline() {
          online = true;
          commit();
        },
        onOffline() {
          online = false;
          clearHold();
          setContact('offline');
        },
        onStop() {
          online = false;
          clearHold();
        },
      }),
    );
  }

  const rexLine = config.rexLine;
  if (rexLine !== undefined) {
    let lastEdgeUs = -Infinity;
    const quietUs = ctx.timing.rexQuietMs * 1000;
    parts.push(
      superviseMonitor(ctx, {
        what: 'REX button',
        lines: [rexLine],
        edges: 'both',
        onRunStart() {
          lastEdgeUs = -Infinity;
        },
        onEdge(e) {
          const quiet = e.tUs - lastEdgeUs;
          lastEdgeUs = e.tUs;
          if (e.edge === 'falling' && quiet >= quietUs) rex.emit();
        },
        onOnline() {},
        onOffline() {},
      }),
    );
  }

  let closed = false;
  return {
    ready: Promise.all(parts.map((p) => p.ready)).then(() => undefined),
    get contact() {
      return contact;
    },
    onContact: (fn) => changed.add(fn),
    onRex: (fn) => rex.add(fn),
    async close() {
      if (closed) return;
      closed = true;
      changed.clear();
      rex.clear();
      await Promise.all(parts.map((p) => p.stop()));
      if (contact !== 'unknown') contact = 'offline';
    },
  };
}

function createGpioReader(
  ctx: Ctx,
  readerId: string,
  d0: number,
  d1: number,
): CredentialReader & { ready: Promise<void> } {
  const input = listeners<[ReaderInput]>();
  let decoder: EdgeDecoder | undefined;
  const newDecoder = () =>
    createEdgeDecoder({
      clock: ctx.clock,
      onFrame(bits, meta) {
        // Never log the bits: they are the credential.
        if (meta.glitches > 0) {
          const n = meta.glitches;
          ctx.log(
            'info',
            `door ${ctx.doorId}: reader ${readerId}: ${n} ringing edge(s) ignored in a frame`,
            {
              readerId,
              length: bits.length,
              glitches: meta.glitches,
            },
          );
        }
        input.emit(
          bits.length === 4 || bits.length === 8
            ? { kind: 'key-burst', bits }
            : { kind: 'frame', bits },
        );
      },
      onError(reason, detail) {
        input.emit({ kind: 'fault', reason: 'line_fault', detail: `${reason}: ${detail}` });
      },
    });
  const monitor = superviseMonitor(ctx, {
    what: `Wiegand reader ${readerId}`,
    lines: [d0, d1],
    edges: 'falling',
    onRunStart() {
      decoder?.dispose();
      decoder = newDecoder();
    },
    onEdge(e) {
      if (e.edge !== 'falling') return;
      decoder?.edge(e.offset === d0 ? 'D0' : 'D1', e.tUs);
    },
    onOnline() {},
    onOffline(reason) {
      // A frame cut short by the monitor dying is not trusted: half a card can look like a
      // shorter valid frame or a key. Drop it rather than flush it.
      decoder?.dispose();
      decoder = undefined;
      input.emit({ kind: 'fault', reason: 'offline', detail: reason });
    },
  });
  let closed = false;
  return {
    readerId,
    ready: monitor.ready,
    onInput: (fn) => input.add(fn),
    async close() {
      if (closed) return;
      closed = true;
      input.clear();
      await monitor.stop();
      decoder?.dispose();
      decoder = undefined;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Output: the strike relay

function createGpioStrike(ctx: Ctx, config: GpioDoorConfig): DoorStrike & { ready: Promise<void> } {
  const { clock, log, chip, doorId } = ctx;
  const line = config.strikeLine;
  const where = `${chip} line ${line}`;
  const changed = listeners<[StrikeState]>();
  const backoff = createBackoff(ctx);
  let state: StrikeState = 'offline';
  let reason = 'starting: gpioset has not taken the line yet';
  let held: { proc: Proc; level: Level } | undefined;
  let chain: Promise<void> = Promise.resolve();
  let retry: TimerHandle | undefined;
  let closed = false;

  const set = (next: StrikeState) => {
    if (next === state) return;
    state = next;
    changed.emit(next);
  };
  /** One operation at a time: each state change is a process restart. */
  const serial = (fn: () => Promise<void>): Promise<void> => {
    const result = chain.then(fn);
    chain = result.catch(() => undefined);
    return result;
  };

  const offline = (why: string) => {
    reason = why;
    set('offline');
    if (held) {
      const old = held;
      held = undefined;
      void old.proc.stop();
    }
    if (closed || retry) return;
    const delay = backoff.next();
    log(
      'error',
      `door ${doorId}: strike relay on ${where} is offline: ${why}; retrying in ${delay} ms`,
      {
        doorId,
        chip,
        line,
        reason: why,
        retryMs: delay,
      },
    );
    retry = clock.setTimeout(() => {
      retry = undefined;
      void recover();
    }, delay);
  };

  /** Start gpioset at `level`; resolves once it holds the line, rejects if it exits first. */
  const startSetter = (v: ToolVersion, level: Level): Promise<Proc> =>
    new Promise<Proc>((resolve, reject) => {
      let up = false;
      let settle: TimerHandle | undefined;
      const confirm = () => {
        if (up) return;
        up = true;
        if (settle) clock.clearTimeout(settle);
        resolve(proc);
      };
      const proc = ctx.start('gpioset', setArgs(v, chip, line, level), {
        spawn: () => {
          if (v === 1) settle = clock.setTimeout(confirm, ctx.timing.settleMs);
        },
        line: (text) => {
          if (v === 2 && isSetterBanner(text)) confirm();
        },
      });
      void proc.exited.then((exit) => {
        if (settle) clock.clearTimeout(settle);
        if (!up) {
          up = true;
          reject(new Error(describeExit('gpioset', exit)));
          return;
        }
        if (exit.requested || held?.proc !== proc) return;
        held = undefined;
        offline(`${describeExit('gpioset', exit)} (the line was released)`);
      });
    });

  const drive = async (target: 'locked' | 'unlocked'): Promise<void> => {
    const level = strikeLevel(target, config.strikeActiveLow);
    if (held && held.level === level && held.proc.running()) {
      set(target);
      return;
    }
    const v = await ctx.version();
    if (held) {
      const old = held;
      held = undefined;
      await old.proc.stop();
    }
    const proc = await startSetter(v, level);
    held = { proc, level };
    backoff.up();
    set(target);
  };

  const recover = () =>
    serial(async () => {
      if (closed) return;
      const wasStarting = reason.startsWith('starting');
      try {
        await drive('locked');
        log(
          wasStarting ? 'info' : 'warn',
          `door ${doorId}: strike relay on ${where} is ${wasStarting ? '' : 'back '}online, locked`,
          {
            doorId,
            chip,
            line,
          },
        );
      } catch (e) {
        offline(errorText(e));
      }
    });

  const offlineError = () =>
    new Error(`door ${doorId}: strike relay on ${where} is offline (${reason})`);

  const command = (target: 'locked' | 'unlocked'): Promise<void> => {
    if (closed) return Promise.reject(new Error(`door ${doorId}: strike driver is closed`));
    if (state === 'offline') return Promise.reject(offlineError());
    return serial(async () => {
      if (closed) throw new Error(`door ${doorId}: strike driver is closed`);
      if (state === 'offline') throw offlineError();
      try {
        await drive(target);
      } catch (e) {
        offline(errorText(e));
        throw new Error(
          `door ${doorId}: could not ${target === 'unlocked' ? 'unlock' : 'lock'} the strike on ${where}: ${errorText(e)}`,
          { cause: e },
        );
      }
    });
  };

  const ready = recover();
  return {
    ready,
    get state() {
      return state;
    },
    unlock: () => command('unlocked'),
    lock: () => command('locked'),
    onState: (fn) => changed.add(fn),
    async close() {
      if (closed) return;
      closed = true;
      changed.clear();
      if (retry) clock.clearTimeout(retry);
      retry = undefined;
      await chain;
      // A released line usually keeps its last level: leave it at 'locked', not 'unlocked'.
      const lockedLevel = strikeLevel('locked', config.strikeActiveLow);
      if (held && held.level !== lockedLevel) {
        try {
          await drive('locked');
        } catch (e) {
          log(
            'error',
            `door ${doorId}: could not relock the strike on ${where} before release: ${errorText(e)}`,
            {
              doorId,
              chip,
              line,
            },
          );
        }
      }
      if (held) {
        const h = held;
        held = undefined;
        await h.proc.stop();
      }
      state = 'offline';
      reason = 'closed';
    },
  };
}

// ---------------------------------------------------------------------------------------------

function checkConfig(doorId: string, config: GpioDoorConfig): void {
  const fail = (msg: string) => {
    throw new RangeError(`door ${doorId}: gpio driver: ${msg}`);
  };
  if (!config.chip) fail('chip is empty');
  if ((config.d0Line === undefined) !== (config.d1Line === undefined)) {
    fail('d0Line and d1Line must be given together (a Wiegand reader needs both)');
  }
  const used = new Map<number, string>();
  const entries: [string, number | undefined][] = [
    ['strikeLine', config.strikeLine],
    ['contactLine', config.contactLine],
    ['rexLine', config.rexLine],
    ['d0Line', config.d0Line],
    ['d1Line', config.d1Line],
  ];
  for (const [name, n] of entries) {
    if (n === undefined) continue;
    if (!Number.isInteger(n) || n < 0) fail(`${name} must be a line offset (0 or more), got ${n}`);
    const other = used.get(n);
    if (other) fail(`${name} and ${other} are both line ${n}`);
    used.set(n, name);
  }
}

/**
 * The strike, sensor and Wiegand reader of one door wired to this box. Spawns on creation (see
 * the top of this file); `close()` relocks the strike, stops every tool and waits for them.
 */
export function createGpioDoorDriver(opts: GpioDoorDriverOptions): GpioDoorDriver {
  const { doorId, config } = opts;
  checkConfig(doorId, config);
  const ctx = createCtx(opts);
  const strike = createGpioStrike(ctx, config);
  const sensor = createGpioSensor(ctx, config);
  const readers = new Map<string, CredentialReader>();
  const parts: Promise<void>[] = [strike.ready, sensor.ready];
  if (config.d0Line !== undefined && config.d1Line !== undefined) {
    const reader = createGpioReader(
      ctx,
      opts.readerId ?? `${doorId}-reader`,
      config.d0Line,
      config.d1Line,
    );
    readers.set(reader.readerId, reader);
    parts.push(reader.ready);
  }
  let closing: Promise<void> | undefined;
  return {
    strike,
    sensor,
    readers,
    ready: Promise.all(parts).then(() => undefined),
    close() {
      closing ??= (async () => {
        await Promise.all([
          strike.close(),
          sensor.close(),
          ...[...readers.values()].map((r) => r.close()),
        ]);
        await ctx.close();
      })();
      return closing;
    },
  };
}
