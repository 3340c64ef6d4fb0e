/**
 * One door of the package room: strike, door position contact and request-to-exit button, turned
 * into the events a monitored door owes its operators (Verkada/Genetec vocabulary): unlocked,
 * opened, closed, relocked, no entry, forced open, held open (with pre-alarm), tamper, offline.
 *
 * Policies, in the room's words:
 * - Relock on close or at grant end, whichever comes first. A granted person may open the door at
 *   any time in the grant window; closing it behind them relocks at once so the next person needs
 *   their own grant, and a door still held open at grant end is relocked anyway, so it closes onto
 *   a locked strike. A grant that ends with the door never opened is a `no_entry`. Windows are
 *   half-open: opening 1 ms before `grantMs` is an entry, opening at `grantMs` is not.
 * - REX never releases the strike: package rooms have mechanical free egress, so the button only
 *   shunts the forced-open alarm for one opening within `grantMs` of the press.
 * - Forced and held are separate: a forced door is already in alarm, so it is not also "held".
 *   Held timers run for every legitimate opening (grant, REX, found open at start-up).
 * - A strike fault (driver reports 'jammed' or 'offline', or a lock/unlock call fails) emits one
 *   `strike_fault` and applies the fail mode once: 'secure' tries to lock, 'safe' tries to release
 *   so nobody is trapped (reported as `door_unlocked`, cause 'fail_safe'). Grants answer 'fault'
 *   while it lasts. It ends when the strike is seen locked again (the driver reports 'locked', or
 *   the fail-secure lock went through): `door_relocked` with cause 'fault_cleared'. A fail-safe
 *   door therefore stays released until its strike reports locked. A contact sensor going offline
 *   is an alarm, not a strike fault: the strike still works, so grants carry on.
 * - Driver notifications are treated as reports of the current state, not as edges, so duplicates
 *   and "closed while closed" change nothing. Strike commands run one at a time, in order.
 * - close() stops listening, cancels every timer and relocks a strike left released by a grant; it
 *   does not close the drivers (whoever opened them closes them).
 */
import type { Clock, TimerHandle } from '../hardware/clock.ts';
import type { ContactState, DoorSensor, DoorStrike, StrikeState } from '../hardware/ports.ts';
import type { AccessEvent, AccessEventType, AlarmKind } from './access.events.ts';

export type DoorPhase =
  | 'starting'
  | 'secure'
  | 'granted'
  | 'open_authorised'
  | 'open_forced'
  | 'held'
  | 'fault'
  | 'stopped';

export interface DoorMachineConfig {
  grantMs: number;
  heldOpenMs: number;
  preAlarmMs: number;
  failMode: 'secure' | 'safe';
}

/** Who the door was opened for; the ids are copied onto the door events of this grant. */
export interface GrantContext {
  readerId?: string;
  residentId?: string;
  staffId?: string;
  credentialId?: string;
  carrierCodeId?: string;
  /** The `access` event that decided this grant. */
  accessEventId?: string;
}

export type GrantResult = 'unlocked' | 'fault';

export interface DoorAlarm {
  kind: AlarmKind;
  since: number;
  /** Which device, for offline and tamper: 'strike' or 'contact'. */
  detail?: string;
}

export interface DoorMachineStatus {
  doorId: string;
  strike: StrikeState;
  contact: ContactState;
  phase: DoorPhase;
  alarms: DoorAlarm[];
  lastEntryAt?: number;
  fault?: { since: number; error: string };
}

export interface DoorMachineOptions {
  doorId: string;
  config: DoorMachineConfig;
  strike: DoorStrike;
  sensor: DoorSensor;
  clock: Clock;
  newId: (nowMs: number) => string;
  emit: (e: AccessEvent) => void;
  onError?: (err: unknown) => void;
}

export interface DoorMachine {
  start(): Promise<void>;
  grant(ctx: GrantContext): Promise<GrantResult>;
  status(): DoorMachineStatus;
  onStatus(listener: (status: DoorMachineStatus) => void): () => void;
  close(): Promise<void>;
}

type GrantIds = Omit<GrantContext, 'accessEventId'>;
type OpenCause = 'grant' | 'rex' | 'fail_safe' | 'startup' | 'forced';

interface Grant {
  ids: GrantIds;
  accessEventId?: string;
  opened: boolean;
  timer?: TimerHandle;
  ready?: Promise<GrantResult>;
}

interface OpenDoor {
  cause: OpenCause;
  openedAt: number;
  timers: (TimerHandle | undefined)[];
}

/** Drops undefined values so stored events carry only what is known. */
function compact<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export function createDoorMachine(opts: DoorMachineOptions): DoorMachine {
  const { doorId, config, strike, sensor, clock } = opts;
  const { grantMs, heldOpenMs, preAlarmMs, failMode } = config;
  if (![grantMs, heldOpenMs].every((ms) => Number.isFinite(ms) && ms > 0) || !(preAlarmMs >= 0)) {
    throw new RangeError('grantMs and heldOpenMs must be positive, preAlarmMs not negative');
  }

  let life: 'new' | 'starting' | 'running' | 'stopping' | 'stopped' = 'new';
  let startup: Promise<void> | undefined;
  let closing: Promise<void> | undefined;
  let strikeState: StrikeState = strike.state;
  let contact: ContactState = sensor.contact;
  let fault: { since: number; error: string } | undefined;
  let grant: Grant | undefined;
  let door: OpenDoor | undefined;
  let rexUntil = -Infinity;
  let lastEntryAt: number | undefined;
  const alarms: DoorAlarm[] = [];
  const timers = new Set<TimerHandle>();
  const statusListeners = new Set<(s: DoorMachineStatus) => void>();
  const unsubscribe: (() => void)[] = [];
  let queue: Promise<void> = Promise.resolve();
  let lastStatus = '';

  const report = (err: unknown) => {
    try {
      (opts.onError ?? ((e) => console.error(`door ${doorId}:`, e)))(err);
    } catch {
      // Nowhere left to report to; the door must keep working.
    }
  };
  const listening = () => life === 'starting' || life === 'running';

  // A throwing listener loses at most its own copy of one event, never the machine's state.
  function emit(type: AccessEventType, details: Record<string, unknown>, ids: GrantIds = {}) {
    try {
      const at = clock.now();
      opts.emit({
        id: opts.newId(at),
        at,
        type,
        doorId,
        ...compact(ids),
        details: compact(details),
      });
    } catch (err) {
      report(err);
    }
  }

  function after(ms: number, fn: () => void): TimerHandle | undefined {
    if (!listening()) return undefined;
    const handle = clock.setTimeout(() => {
      timers.delete(handle);
      if (!listening()) return;
      try {
        fn();
      } catch (err) {
        report(err);
      }
    }, ms);
    timers.add(handle);
    return handle;
  }
  function cancel(handle: TimerHandle | undefined) {
    if (!handle) return;
    clock.clearTimeout(handle);
    timers.delete(handle);
  }

  /** Strike commands go out one at a time, so "unlock, then relock" cannot arrive reordered. */
  function serial(fn: () => Promise<void>): Promise<void> {
    queue = queue.then(fn).catch(report);
    return queue;
  }

  // ---- alarms ---------------------------------------------------------------------------------

  const findAlarm = (kind: AlarmKind, detail?: string) =>
    alarms.find((a) => a.kind === kind && a.detail === detail);

  function raise(kind: AlarmKind, detail?: string, details: Record<string, unknown> = {}) {
    if (findAlarm(kind, detail)) return;
    const since = clock.now();
    alarms.push(detail === undefined ? { kind, since } : { kind, since, detail });
    emit(kind, { device: detail, ...details });
    notify();
  }
  function clearAlarm(kind: AlarmKind, detail?: string) {
    const alarm = findAlarm(kind, detail);
    if (!alarm) return;
    alarms.splice(alarms.indexOf(alarm), 1);
    emit('alarm_cleared', { kind, device: detail, activeMs: clock.now() - alarm.since });
  }
  function backOnline(device: 'strike' | 'contact') {
    const alarm = findAlarm('offline', device);
    if (!alarm) return;
    emit('online', { device, offlineMs: clock.now() - alarm.since });
    clearAlarm('offline', device);
  }

  // ---- strike ---------------------------------------------------------------------------------

  async function drive(target: 'locked' | 'unlocked', cause: string, g?: Grant): Promise<boolean> {
    const before = strike.state;
    try {
      await (target === 'locked' ? strike.lock() : strike.unlock());
    } catch (err) {
      enterFault(err, target === 'locked' ? 'lock' : 'unlock');
      return false;
    }
    onStrike(strike.state); // for drivers that do not echo their own commands
    if (before !== target) {
      const details = { cause, grantMs: g && grantMs, accessEventId: g?.accessEventId };
      emit(target === 'locked' ? 'door_relocked' : 'door_unlocked', details, g?.ids);
    }
    return true;
  }
  function command(target: 'locked' | 'unlocked', cause: string, g?: Grant): Promise<boolean> {
    let ok = false;
    return serial(async () => {
      if (life !== 'stopped') ok = await drive(target, cause, g);
    }).then(() => ok);
  }

  function enterFault(err: unknown, during: 'lock' | 'unlock' | 'report') {
    if (fault) return;
    const error = err instanceof Error ? err.message : String(err);
    fault = { since: clock.now(), error };
    const action = failMode === 'secure' ? 'lock' : 'release';
    emit('strike_fault', { error, during, failMode, action });
    void serial(applyFailMode);
    notify();
  }
  async function applyFailMode() {
    if (!fault || life === 'stopped') return;
    try {
      await (failMode === 'secure' ? strike.lock() : strike.unlock());
    } catch {
      return; // The strike will not move: the fault stands until the driver reports it locked.
    }
    if (failMode === 'safe') emit('door_unlocked', { cause: 'fail_safe' });
    onStrike(strike.state);
  }
  function exitFault() {
    if (!fault) return;
    const { since } = fault;
    fault = undefined;
    emit('door_relocked', { cause: 'fault_cleared', faultMs: clock.now() - since });
  }

  function onStrike(next: StrikeState) {
    if (life === 'new' || life === 'stopped') return;
    strikeState = next;
    if (next !== 'offline') backOnline('strike');
    if (next === 'offline') raise('offline', 'strike');
    if (next === 'jammed' || next === 'offline') enterFault(`strike ${next}`, 'report');
    else if (next === 'locked') exitFault(); // seen locked again: back in service
    notify();
  }

  // ---- door position --------------------------------------------------------------------------

  function onContact(next: ContactState) {
    if (!listening()) return;
    contact = next;
    if (next !== 'offline') backOnline('contact');
    if (next === 'offline') raise('offline', 'contact');
    if (next === 'tamper') raise('tamper', 'contact');
    else if (next === 'open' || next === 'closed') clearAlarm('tamper', 'contact');
    // Only a definite reading moves the door; tamper/offline/unknown keep the last known position.
    if (next === 'open' && !door) doorOpened();
    else if (next === 'closed' && door) doorClosed(door);
    notify();
  }

  function doorOpened() {
    const at = clock.now();
    const cause: OpenCause =
      life === 'starting'
        ? 'startup'
        : grant
          ? 'grant'
          : at < rexUntil
            ? 'rex'
            : fault && failMode === 'safe' && strikeState === 'unlocked'
              ? 'fail_safe'
              : 'forced';
    const d: OpenDoor = { cause, openedAt: at, timers: [] };
    door = d;
    if (cause === 'rex') rexUntil = -Infinity; // one press shunts one opening
    const g = cause === 'grant' ? grant : undefined;
    if (g) {
      g.opened = true;
      lastEntryAt = at;
    }
    emit('door_opened', { cause, entry: !!g, accessEventId: g?.accessEventId }, g?.ids);
    if (cause === 'forced') {
      raise('forced_open', undefined, { openedAt: at });
      return;
    }
    const held = () => ({ cause, openedAt: at, heldOpenMs });
    if (preAlarmMs > 0) {
      const warn = () =>
        emit('held_open_warning', { ...held(), alarmInMs: at + heldOpenMs - clock.now() });
      d.timers.push(after(Math.max(0, heldOpenMs - preAlarmMs), warn));
    }
    d.timers.push(after(heldOpenMs, () => raise('held_open', undefined, held())));
  }

  function doorClosed(d: OpenDoor) {
    door = undefined;
    d.timers.forEach(cancel);
    emit('door_closed', { cause: d.cause, openMs: clock.now() - d.openedAt });
    clearAlarm('forced_open');
    clearAlarm('held_open');
    const g = grant;
    if (g) {
      cancel(g.timer);
      grant = undefined;
    }
    // Whoever was granted is through; the next person needs their own grant.
    if (!fault && (g || strikeState === 'unlocked')) void command('locked', 'door_closed');
  }

  function onRex() {
    if (!listening()) return;
    rexUntil = clock.now() + grantMs;
    emit('rex', { doorOpen: !!door, windowMs: grantMs });
  }

  // ---- grants ---------------------------------------------------------------------------------

  function armGrant(g: Grant) {
    cancel(g.timer);
    g.timer = after(grantMs, () => grantEnded(g));
  }
  function grantEnded(g: Grant) {
    if (grant !== g) return;
    grant = undefined;
    if (!g.opened && contact === 'closed') {
      emit('no_entry', { grantMs, accessEventId: g.accessEventId }, g.ids);
    }
    if (!fault) void command('locked', 'grant_end');
    notify();
  }

  // ---- status ---------------------------------------------------------------------------------

  function phase(): DoorPhase {
    if (life === 'new' || life === 'starting') return 'starting';
    if (life !== 'running') return 'stopped';
    if (fault) return 'fault';
    if (door) {
      if (door.cause === 'forced') return 'open_forced';
      return findAlarm('held_open') ? 'held' : 'open_authorised';
    }
    return grant ? 'granted' : 'secure';
  }
  function status(): DoorMachineStatus {
    return compact({
      doorId,
      strike: strikeState,
      contact,
      phase: phase(),
      alarms: alarms.map((a) => ({ ...a })),
      lastEntryAt,
      fault: fault && { ...fault },
    });
  }
  function notify() {
    const s = status();
    const key = JSON.stringify(s);
    if (key === lastStatus) return;
    lastStatus = key;
    for (const fn of [...statusListeners]) {
      try {
        fn(s);
      } catch (err) {
        report(err);
      }
    }
  }

  return {
    start() {
      if (life !== 'new') return startup ?? Promise.resolve();
      startup = (async () => {
        life = 'starting';
        unsubscribe.push(
          strike.onState(onStrike),
          sensor.onContact(onContact),
          sensor.onRex(onRex),
        );
        onStrike(strike.state);
        onContact(sensor.contact);
        // Whatever the last run left behind, the door's normal state is locked.
        if (!fault) await command('locked', 'start');
        await serial(async () => {}); // let a fail-mode action finish
        if (life === 'starting') life = 'running';
        notify();
      })();
      return startup;
    },

    grant(ctx) {
      if (life !== 'running' || fault) return Promise.resolve('fault');
      const { accessEventId, ...ids } = ctx;
      if (grant) {
        // Presented again while released: keep it released longer, without a second unlock.
        Object.assign(grant, { ids: compact(ids), accessEventId });
        if (grant.timer) armGrant(grant);
        return grant.ready ?? Promise.resolve('unlocked');
      }
      const g: Grant = { ids: compact(ids), accessEventId, opened: false };
      grant = g;
      g.ready = command('unlocked', 'grant', g).then((ok): GrantResult => {
        if (!ok) {
          if (grant === g) grant = undefined;
          notify();
          return 'fault';
        }
        if (grant === g) armGrant(g); // the window starts once the strike is actually released
        return 'unlocked';
      });
      notify();
      return g.ready;
    },

    status,

    onStatus(listener) {
      statusListeners.add(listener);
      return () => void statusListeners.delete(listener);
    },

    close() {
      closing ??= (async () => {
        life = 'stopping';
        for (const handle of timers) clock.clearTimeout(handle);
        timers.clear();
        grant = undefined;
        // A grant cut short by shutdown must not leave the room released.
        await serial(async () => {
          if (!fault && strike.state === 'unlocked') await drive('locked', 'shutdown');
        });
        life = 'stopped';
        for (const off of unsubscribe.splice(0)) off();
        notify();
        statusListeners.clear();
      })();
      return closing;
    },
  };
}
