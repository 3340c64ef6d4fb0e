import {
  createDoorMachine,
  type AccessDecider,
  type AccessEvent,
  type AlarmKind,
  type Decision,
  type DoorMachine,
  type KeypadOutcome,
  type LockoutNotice,
} from '../../access/index.ts';
import { newId } from '../../db/index.ts';
import type {
  Clock,
  ReaderInput,
  SimReader,
  SimSensor,
  SimStrike,
  TimerHandle,
} from '../../hardware/index.ts';
import type { SiteConfig } from '../config/index.ts';
import type { Logger } from '../log/logger.ts';
import type { DoorHardware, DriverFactory } from './door.drivers.ts';

/** GET /api/doors, as the contract names it. */
export interface DoorStatus {
  id: string;
  name: string;
  strike: 'locked' | 'unlocked';
  contact: 'open' | 'closed' | 'unknown';
  alarms: { kind: AlarmKind; since: string; detail?: string }[];
}

export type ReaderOutcome =
  | { kind: 'decision'; decision: Decision; eventId: string }
  | { kind: 'keypad'; outcome: KeypadOutcome; eventId?: string }
  | { kind: 'fault'; reason: string };

interface DoorEntry {
  id: string;
  name: string;
  hardware: DoorHardware;
  machine: DoorMachine;
  keypadAlarm: { since: number; until: number; timer: TimerHandle } | null;
}

export interface DoorRuntime {
  start(): Promise<void>;
  doors(): DoorStatus[];
  sim(doorId: string): { strike: SimStrike; sensor: SimSensor } | undefined;
  simReader(readerId: string): SimReader | undefined;
  /**
   * Carries out a decision made off the door's readers (a pickup code at the kiosk): releases the
   * strike on a grant and records the access event; resolves once it is durable.
   */
  carryOut(decision: Decision): Promise<{ decision: Decision; eventId: string }>;
  /** Resolves with what the next input on this reader led to (used by the /api/sim routes). */
  nextOutcome(readerId: string): Promise<ReaderOutcome>;
  onStatus(listener: (door: DoorStatus) => void): () => void;
  /**
   * The decider locked a keypad: record `keypad_lockout`, show it as a door alarm, and clear the
   * alarm when the lock ends.
   */
  keypadLocked(notice: LockoutNotice): void;
  /** The last door entry a carrier code granted, kept here so the kiosk needs no database. */
  lastCarrierEntry(
    carrierCodeId: string,
  ): { eventId: string; at: number; doorId: string } | undefined;
  /** The last resident a card let in at this door, for the kiosk's "your parcels" screen. */
  lastResidentEntry(
    doorId: string,
  ): { eventId: string; at: number; residentId: string } | undefined;
  close(): Promise<void>;
}

export interface DoorRuntimeDeps {
  site: SiteConfig;
  clock: Clock;
  log: Logger;
  decider: AccessDecider;
  drivers: DriverFactory;
  /**
   * Every access event goes here (journal → database → live stream). Resolves true once the
   * event is durable; never rejects.
   */
  record: (event: AccessEvent) => Promise<boolean>;
}

/**
 * Wires each door's hardware to its state machine and to the access decider: reader input →
 * decision → strike, and every step recorded as an access event.
 */
export function createDoorRuntime(deps: DoorRuntimeDeps): DoorRuntime {
  const { site, clock, log, decider } = deps;
  const doors = new Map<string, DoorEntry>();
  const readerDoor = new Map(site.readers.map((r) => [r.id, r.doorId]));
  const waiting = new Map<string, ((o: ReaderOutcome) => void)[]>();
  const statusListeners = new Set<(d: DoorStatus) => void>();
  const unsubscribers: (() => void)[] = [];
  const carrierEntries = new Map<string, { eventId: string; at: number; doorId: string }>();
  const residentEntries = new Map<string, { eventId: string; at: number; residentId: string }>();

  const event = (e: Omit<AccessEvent, 'id' | 'at'> & { at?: number }): AccessEvent => {
    const at = e.at ?? clock.now();
    return { ...e, id: newId(at), at };
  };

  const view = (d: DoorEntry): DoorStatus => {
    const s = d.machine.status();
    const alarms = s.alarms.map((a) => ({
      kind: a.kind,
      since: new Date(a.since).toISOString(),
      ...(a.detail ? { detail: a.detail } : {}),
    }));
    if (d.keypadAlarm)
      alarms.push({ kind: 'keypad_lockout', since: new Date(d.keypadAlarm.since).toISOString() });
    return {
      id: d.id,
      name: d.name,
      strike: s.strike === 'unlocked' ? 'unlocked' : 'locked',
      contact: s.contact === 'open' || s.contact === 'closed' ? s.contact : 'unknown',
      alarms,
    };
  };
  const publish = (d: DoorEntry) => {
    const v = view(d);
    for (const l of statusListeners) {
      try {
        l(v);
      } catch (err) {
        log.error('door status listener failed', { err });
      }
    }
  };

  const settle = (readerId: string, outcome: ReaderOutcome) => {
    const list = waiting.get(readerId);
    waiting.delete(readerId);
    for (const resolve of list ?? []) resolve(outcome);
  };

  const decisionEvent = (d: Decision): AccessEvent =>
    event({
      type: 'access',
      doorId: d.doorId,
      readerId: d.readerId,
      decision: d.decision,
      reason: d.reason,
      ...(d.credentialId ? { credentialId: d.credentialId } : {}),
      ...(d.residentId ? { residentId: d.residentId } : {}),
      ...(d.staffId ? { staffId: d.staffId } : {}),
      ...(d.carrierCodeId ? { carrierCodeId: d.carrierCodeId } : {}),
      details: {
        via: d.via,
        ...(d.format !== undefined ? { format: d.format } : {}),
        ...(d.facility !== undefined ? { facility: d.facility } : {}),
        ...(d.card !== undefined ? { card: d.card } : {}),
        ...(d.bits !== undefined ? { bits: d.bits } : {}),
        ...(d.carrier !== undefined ? { carrier: d.carrier } : {}),
        ...(d.pickupCodeId !== undefined ? { pickupCodeId: d.pickupCodeId } : {}),
        ...(d.detail !== undefined ? { detail: d.detail } : {}),
      },
    });

  /** A decision that grants opens the strike before anything is written: the door comes first. */
  const act = async (decision: Decision): Promise<{ decision: Decision; eventId: string }> => {
    let final = decision;
    const entry = doors.get(decision.doorId);
    const record = decisionEvent(decision);
    if (decision.decision === 'granted') {
      const result = entry
        ? await entry.machine.grant({
            readerId: decision.readerId,
            accessEventId: record.id,
            ...(decision.residentId ? { residentId: decision.residentId } : {}),
            ...(decision.staffId ? { staffId: decision.staffId } : {}),
            ...(decision.credentialId ? { credentialId: decision.credentialId } : {}),
            ...(decision.carrierCodeId ? { carrierCodeId: decision.carrierCodeId } : {}),
          })
        : 'fault';
      if (result === 'fault') {
        final = { ...decision, decision: 'denied', reason: 'door_fault' };
        await deps.record({ ...decisionEvent(final), id: record.id, at: record.at });
        return { decision: final, eventId: record.id };
      }
    }
    if (final.decision === 'granted' && final.carrierCodeId)
      carrierEntries.set(final.carrierCodeId, {
        eventId: record.id,
        at: record.at,
        doorId: final.doorId,
      });
    if (final.decision === 'granted' && final.residentId)
      residentEntries.set(final.doorId, {
        eventId: record.id,
        at: record.at,
        residentId: final.residentId,
      });
    // Whoever asked (the /api/sim routes, a test) hears the outcome only once it is durable:
    // an acknowledged decision survives a kill -9.
    await deps.record(record);
    return { decision: final, eventId: record.id };
  };

  const handleInput = async (readerId: string, input: ReaderInput): Promise<ReaderOutcome> => {
    switch (input.kind) {
      case 'frame': {
        const { decision, eventId } = await act(decider.decideFrame(readerId, input.bits));
        return { kind: 'decision', decision, eventId };
      }
      case 'key-burst': {
        const outcome = decider.keyBurst(readerId, input.bits);
        if (outcome.kind === 'decided') {
          const { decision, eventId } = await act(outcome.decision);
          return { kind: 'keypad', outcome: { kind: 'decided', decision }, eventId };
        }
        if (outcome.kind === 'rejected')
          await deps.record(
            event({
              type: 'reader_error',
              doorId: readerDoor.get(readerId)!,
              readerId,
              reason: outcome.reason,
              details: { input: 'key-burst' },
            }),
          );
        return { kind: 'keypad', outcome };
      }
      case 'fault': {
        await deps.record(
          event({
            type: input.reason === 'tamper' ? 'tamper' : 'reader_error',
            doorId: readerDoor.get(readerId)!,
            readerId,
            reason: input.reason,
            details: input.detail ? { detail: input.detail } : {},
          }),
        );
        return { kind: 'fault', reason: input.reason };
      }
    }
  };

  return {
    async start() {
      for (const door of site.doors) {
        const readers = site.readers.filter((r) => r.doorId === door.id);
        const hardware = await deps.drivers(door, readers);
        const entry: DoorEntry = {
          id: door.id,
          name: door.name,
          hardware,
          keypadAlarm: null,
          machine: createDoorMachine({
            doorId: door.id,
            config: door,
            strike: hardware.strike,
            sensor: hardware.sensor,
            clock,
            newId,
            emit: (e) => void deps.record(e),
            onError: (err) => log.error('door machine error', { door: door.id, err }),
          }),
        };
        doors.set(door.id, entry);
        unsubscribers.push(entry.machine.onStatus(() => publish(entry)));
        for (const [readerId, reader] of hardware.readers) {
          unsubscribers.push(
            reader.onInput((input) => {
              handleInput(readerId, input).then(
                (outcome) => settle(readerId, outcome),
                (err: unknown) => {
                  log.error('reader input failed', { reader: readerId, err });
                  settle(readerId, { kind: 'fault', reason: 'internal' });
                },
              );
            }),
          );
        }
        await entry.machine.start();
      }
    },
    carryOut: (decision) => act(decision),
    doors: () => [...doors.values()].map(view),
    sim: (doorId) => {
      const sim = doors.get(doorId)?.hardware.sim;
      return sim ? { strike: sim.strike, sensor: sim.sensor } : undefined;
    },
    simReader(readerId) {
      const doorId = readerDoor.get(readerId);
      return doorId ? doors.get(doorId)?.hardware.sim?.readers.get(readerId) : undefined;
    },
    nextOutcome: (readerId) =>
      new Promise((resolve) => {
        const list = waiting.get(readerId) ?? [];
        list.push(resolve);
        waiting.set(readerId, list);
      }),
    onStatus(listener) {
      statusListeners.add(listener);
      return () => statusListeners.delete(listener);
    },
    lastCarrierEntry: (id) => carrierEntries.get(id),
    lastResidentEntry: (doorId) => residentEntries.get(doorId),
    keypadLocked(n) {
      const entry = doors.get(n.doorId);
      void deps.record(
        event({
          type: 'keypad_lockout',
          doorId: n.doorId,
          readerId: n.readerId,
          details: {
            lockMs: n.lockMs,
            level: n.level,
            lockedUntil: new Date(n.lockedUntil).toISOString(),
          },
        }),
      );
      if (!entry) return;
      if (entry.keypadAlarm) clock.clearTimeout(entry.keypadAlarm.timer);
      const since = entry.keypadAlarm?.since ?? clock.now();
      const timer = clock.setTimeout(() => {
        entry.keypadAlarm = null;
        void deps.record(
          event({
            type: 'alarm_cleared',
            doorId: n.doorId,
            readerId: n.readerId,
            details: { kind: 'keypad_lockout' },
          }),
        );
        publish(entry);
      }, n.lockedUntil - clock.now());
      entry.keypadAlarm = { since, until: n.lockedUntil, timer };
      publish(entry);
    },
    async close() {
      for (const u of unsubscribers) u();
      for (const d of doors.values()) {
        if (d.keypadAlarm) clock.clearTimeout(d.keypadAlarm.timer);
        await d.machine.close();
        await d.hardware.close();
      }
      doors.clear();
    },
  };
}
