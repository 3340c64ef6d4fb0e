/**
 * Door decision benchmarks on the composed box (see ./site.ts):
 *
 *  - cards: complete Wiegand frames into the simulated reader's driver interface; for granted
 *    frames the time from `send` to the strike's `unlock()` call, for denied ones from `send` to
 *    the decision (`doors.nextOutcome`). Between badges the door relocks, one of two ways:
 *      'door'  (default) the holder walks in: contact open, contact closed, the machine relocks
 *              on close. Domain time stands still, so the 5 s snapshot refresher stays quiet and
 *              what is measured is the decision path plus the journal/database work it causes.
 *      'timer' the manual clock moves on by grantMs and the grant-end timer relocks. Every such
 *              step is also a full refresher interval, so the 10,000-card snapshot is reloaded
 *              after nearly every grant: a reload per badge, far denser than any building sees
 *              (slow on PGlite, whose queries run on the event loop).
 *  - reload: badges that arrive (on a real timer) while the snapshot is being reloaded, measured
 *    from the moment they were due, against the same badges with no reload going on.
 *  - keypad: carrier PINs typed key by key (4-bit bursts, `#` submits) into the same reader;
 *    `#` → unlock for granted PINs, `#` → decision for wrong ones.
 *  - decidePin: the decider alone (no runtime, no journal) with 50 live carrier codes.
 */
import { createAccessDecider, createFormatRegistry } from '../access/index.ts';
import type { CarrierCodeEntry } from '../access/access.snapshot.ts';
import { newId } from '../db/ids.ts';
import { manualClock } from '../hardware/clock.ts';
import type { ReaderOutcome } from '../server/doors/door.runtime.ts';
import { codeHasher } from '../server/access/site.secret.ts';
import { round, sleep, summarize, yieldToLoop, type Summary } from './stats.ts';
import { frameFor, prng, strikeLocked, type BenchSite, type CardValue } from './site.ts';

export interface LatencyResult {
  /** Granted: send → strike unlock() (ms). */
  unlock: Summary;
  /** Denied: send → decision made and handed to the journal (ms). */
  denied: Summary;
  /** Every input: send → outcome heard by the reader, i.e. the access event durable (ms). */
  outcome: Summary;
  inputs: number;
  granted: number;
  deniedCount: number;
  /** Outcomes that were not what the input should have led to (should be 0). */
  unexpected: number;
  seconds: number;
  perSecond: number;
}

function outcomeDecision(o: ReaderOutcome) {
  if (o.kind === 'decision') return o.decision;
  if (o.kind === 'keypad' && o.outcome.kind === 'decided') return o.outcome.decision;
  return undefined;
}

/** Picks `n` frames: `knownShare` of them enrolled cards, the rest cards nobody enrolled. */
function pickFrames(enrolled: readonly CardValue[], n: number, knownShare: number) {
  const rnd = prng(0x5eed);
  const taken = new Set(enrolled.map((c) => `${c.facility}:${c.card}`));
  const frames: { bits: string; known: boolean }[] = [];
  for (let i = 0; i < n; i++) {
    if (rnd() < knownShare) {
      frames.push({ bits: frameFor(enrolled[Math.floor(rnd() * enrolled.length)]!), known: true });
      continue;
    }
    let c: CardValue;
    do {
      // Same facility codes as the site's cards, unenrolled numbers: a full lookup, no match.
      c = { facility: 1 + Math.floor(rnd() * 128), card: Math.floor(rnd() * 65_536) };
    } while (taken.has(`${c.facility}:${c.card}`));
    frames.push({ bits: frameFor(c), known: false });
  }
  return frames;
}

export type RelockMode = 'door' | 'timer';

/** After a grant: the holder walks through and the door closes, or the grant window runs out. */
async function relock(s: BenchSite, mode: RelockMode): Promise<void> {
  if (mode === 'timer') {
    s.clock.advance(s.grantMs);
  } else {
    const sensor = s.composed.doors.sim(s.doorId)!.sensor;
    sensor.setContact('open');
    sensor.setContact('closed');
  }
  await strikeLocked(s.strike);
}

interface Presented {
  granted: boolean;
  decided: boolean;
  /** send → unlock() for grants, send → decision recorded otherwise (ms). */
  latencyMs: number;
  /** send → outcome (ms). */
  outcomeMs: number;
}

/**
 * Sends one input and waits for its outcome, then relocks after a grant. Times count from `from`
 * (default: just before `send`).
 */
async function presentAndSettle(
  s: BenchSite,
  send: () => void,
  mode: RelockMode,
  from?: number,
): Promise<Presented> {
  const { composed, probe, readerId } = s;
  const unlocksBefore = probe.unlocks;
  const decisionsBefore = probe.decisions;
  const outcome = composed.doors.nextOutcome(readerId);
  const t0 = from ?? performance.now();
  send();
  const o = await outcome;
  const outcomeMs = performance.now() - t0;
  const d = outcomeDecision(o);
  if (d?.decision === 'granted') {
    const unlocked = probe.unlocks === unlocksBefore + 1;
    const latencyMs = unlocked ? probe.lastUnlockAt - t0 : NaN;
    await relock(s, mode);
    return { granted: true, decided: true, latencyMs, outcomeMs };
  }
  const recorded = probe.decisions === decisionsBefore + 1;
  return {
    granted: false,
    decided: d !== undefined,
    latencyMs: recorded ? probe.lastDecisionAt - t0 : NaN,
    outcomeMs,
  };
}

/** Collects samples for one run; `reset` at the end of the warm-up. */
function collector(n: number) {
  let unlock: number[] = [];
  let denied: number[] = [];
  let outcome: number[] = [];
  let unexpected = 0;
  let t0 = performance.now();
  return {
    reset() {
      unlock = [];
      denied = [];
      outcome = [];
      unexpected = 0;
      t0 = performance.now();
    },
    add(r: Presented, expectGrant: boolean) {
      if (r.granted !== expectGrant || !r.decided || Number.isNaN(r.latencyMs)) unexpected++;
      if (!Number.isNaN(r.latencyMs)) (r.granted ? unlock : denied).push(r.latencyMs);
      outcome.push(r.outcomeMs);
    },
    miss() {
      unexpected++;
    },
    result(): LatencyResult {
      const seconds = (performance.now() - t0) / 1000;
      return {
        unlock: summarize(unlock),
        denied: summarize(denied),
        outcome: summarize(outcome),
        inputs: n,
        granted: unlock.length,
        deniedCount: denied.length,
        unexpected,
        seconds: round(seconds, 2),
        perSecond: round(n / seconds, 0),
      };
    },
  };
}

export async function benchCardFrames(
  s: BenchSite,
  enrolled: readonly CardValue[],
  opts: { frames?: number; knownShare?: number; warmup?: number; relock?: RelockMode } = {},
): Promise<LatencyResult> {
  const n = opts.frames ?? 10_000;
  const mode = opts.relock ?? 'door';
  const frames = pickFrames(enrolled, n + (opts.warmup ?? 500), opts.knownShare ?? 0.9);
  const reader = s.composed.doors.simReader(s.readerId);
  if (!reader) throw new Error(`no sim reader ${s.readerId}`);

  const c = collector(n);
  for (let i = 0; i < frames.length; i++) {
    // Warm-up done (JIT, first journal segment, connections): start counting.
    if (i === frames.length - n) c.reset();
    const f = frames[i]!;
    c.add(
      await presentAndSettle(s, () => reader.send({ kind: 'frame', bits: f.bits }), mode),
      f.known,
    );
    // Let journal fsyncs and database writes run between badges, as they would in a building.
    await yieldToLoop();
  }
  return c.result();
}

export interface ReloadResult {
  /** `snapshot.refresh()` with every card enrolled, wall time (ms). */
  reload: Summary;
  /** Longest event-loop stall seen while reloading (ms). */
  loopStallMaxMs: number;
  /** Enrolled badge due on a timer, no reload running: due → unlock (ms). */
  idle: Summary;
  /** Enrolled badge due on a timer while a reload runs: due → unlock (ms). */
  duringReload: Summary;
}

/**
 * What a badge waits when it lands in a snapshot reload. Each trial starts `snapshot.refresh()`
 * and has a badge come due at an offset spread over the reload's length; the latency counts from
 * when the badge was due, so time the event loop was busy before it could read the frame counts.
 * The same badges without a reload give the baseline (includes ~1 ms of timer granularity).
 */
export async function benchReloadInterference(
  s: BenchSite,
  enrolled: readonly CardValue[],
  opts: { trials?: number } = {},
): Promise<ReloadResult> {
  const trials = opts.trials ?? 40;
  const reader = s.composed.doors.simReader(s.readerId)!;
  const rnd = prng(0x7e10ad);
  const badge = () => frameFor(enrolled[Math.floor(rnd() * enrolled.length)]!);

  // Stalls: gaps between the ticks of a 1 ms interval while the reloads run.
  const reloadMs: number[] = [];
  let last = performance.now();
  let loopStallMaxMs = 0;
  const ticker = setInterval(() => {
    const t = performance.now();
    loopStallMaxMs = Math.max(loopStallMaxMs, t - last);
    last = t;
  }, 1);
  try {
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      await s.composed.snapshot.refresh();
      reloadMs.push(performance.now() - t);
      // A reload that never gives the loop back (PGlite: all microtasks) shows up as one gap
      // ending at the first tick after it; give that tick a chance before the next reload.
      await sleep(5);
    }
  } finally {
    clearInterval(ticker);
  }
  const typical = summarize(reloadMs).p50;

  const dueAfter = async (offsetMs: number, during: boolean): Promise<number> => {
    const reloading = during ? s.composed.snapshot.refresh() : Promise.resolve(true);
    const bits = badge();
    const due = performance.now() + offsetMs;
    const r = await new Promise<Presented>((resolve, reject) => {
      setTimeout(() => {
        presentAndSettle(s, () => reader.send({ kind: 'frame', bits }), 'door', due).then(
          resolve,
          reject,
        );
      }, offsetMs);
    });
    await reloading;
    await yieldToLoop();
    return r.granted ? r.latencyMs : NaN;
  };

  const idle: number[] = [];
  const during: number[] = [];
  for (let i = 0; i < trials; i++) {
    const offset = Math.floor((i / trials) * typical);
    idle.push(await dueAfter(offset, false));
    during.push(await dueAfter(offset, true));
  }
  return {
    reload: summarize(reloadMs),
    loopStallMaxMs: round(loopStallMaxMs, 2),
    idle: summarize(idle.filter((x) => !Number.isNaN(x))),
    duringReload: summarize(during.filter((x) => !Number.isNaN(x))),
  };
}

const KEY_VALUE: Record<string, number> = { '*': 10, '#': 11 };
/** A 4-bit key burst: the key's value, most significant bit first. */
const burst = (key: string) => (KEY_VALUE[key] ?? Number(key)).toString(2).padStart(4, '0');

export async function benchKeypad(
  s: BenchSite,
  codes: readonly string[],
  opts: { pins?: number; wrongEvery?: number; warmup?: number } = {},
): Promise<LatencyResult> {
  const n = opts.pins ?? 10_000;
  const total = n + (opts.warmup ?? 200);
  const wrongEvery = opts.wrongEvery ?? 10;
  const reader = s.composed.doors.simReader(s.readerId);
  if (!reader) throw new Error(`no sim reader ${s.readerId}`);
  const live = new Set(codes);
  const rnd = prng(0x9e11);
  const pins: { pin: string; known: boolean }[] = [];
  // Every `wrongEvery`-th PIN is wrong; the right ones in between reset the keypad's failure
  // count, so the lockout (5 wrong inside a minute) never triggers and every `#` is decided.
  for (let i = 0; i < total; i++) {
    if (i % wrongEvery === wrongEvery - 1) {
      let pin: string;
      do pin = String(100_000 + Math.floor(rnd() * 900_000));
      while (live.has(pin));
      pins.push({ pin, known: false });
    } else pins.push({ pin: codes[Math.floor(rnd() * codes.length)]!, known: true });
  }

  const c = collector(n);
  for (let i = 0; i < pins.length; i++) {
    if (i === pins.length - n) c.reset();
    const p = pins[i]!;
    // Digits one burst at a time, each answered ('pending') before the next, like a person.
    for (const digit of p.pin) {
      const pending = s.composed.doors.nextOutcome(s.readerId);
      reader.send({ kind: 'key-burst', bits: burst(digit) });
      const o = await pending;
      if (o.kind !== 'keypad' || o.outcome.kind !== 'pending') c.miss();
    }
    const submit = () => reader.send({ kind: 'key-burst', bits: burst('#') });
    c.add(await presentAndSettle(s, submit, 'door'), p.known);
    await yieldToLoop();
  }
  return c.result();
}

/** `decidePin` alone: HMAC of the PIN plus a constant-time compare against every live code. */
export function benchDecidePin(opts: { codes?: number; calls?: number } = {}) {
  const codeCount = opts.codes ?? 50;
  const calls = opts.calls ?? 10_000;
  const clock = manualClock(Date.UTC(2026, 10, 21, 9, 0, 0));
  const hashCode = codeHasher(Buffer.from('bench-decide-pin-secret-0123456789abcdef', 'utf8'));
  const decider = createAccessDecider({
    clock,
    formats: createFormatRegistry(),
    readers: [{ readerId: 'kp', doorId: 'door', keypad: true, maxPinLength: 10 }],
    hashCode,
  });
  const rnd = prng(0xd1e);
  const codes: string[] = [];
  const entries: CarrierCodeEntry[] = [];
  for (let i = 0; i < codeCount; i++) {
    const code = String(100_000 + Math.floor(rnd() * 900_000));
    codes.push(code);
    entries.push({
      id: newId(clock.now()),
      carrier: 'UPS',
      codeHash: hashCode(code),
      validFrom: clock.now() - 86_400_000,
      validUntil: clock.now() + 30 * 86_400_000,
      maxUses: null,
      uses: 0,
      doorIds: [],
      revoked: false,
    });
  }
  decider.setSnapshot({ cards: [], carrierCodes: entries, loadedAt: clock.now() });
  const times: number[] = [];
  let granted = 0;
  for (let i = 0; i < calls + 1_000; i++) {
    if (i === 1_000) times.length = granted = 0;
    const pin = i % 10 === 9 ? '000001' : codes[i % codes.length]!;
    const t = performance.now();
    const d = decider.decidePin('kp', pin);
    times.push((performance.now() - t) * 1000);
    if (d.decision === 'granted') granted++;
    clock.advance(20_000); // keep wrong PINs under the keypad lockout rate
  }
  decider.close();
  return { codes: codeCount, calls, granted, microseconds: summarize(times) };
}
