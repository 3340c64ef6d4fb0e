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
 * A simulated strike. Tests and the demo drive faults (`setFault`) through the same interface the
 * door machine uses for a real relay.
 */
export interface SimStrike extends DoorStrike {
  setFault(state: 'jammed' | 'offline' | null): void;
}

export function createSimStrike(): SimStrike {
  let state: StrikeState = 'locked';
  let fault: 'jammed' | 'offline' | null = null;
  const changed = listeners<[StrikeState]>();
  const set = (next: StrikeState) => {
    if (next === state) return;
    state = next;
    changed.emit(state);
  };
  return {
    get state() {
      return state;
    },
    unlock() {
      if (fault) return Promise.reject(new Error(`strike ${fault}`));
      set('unlocked');
      return Promise.resolve();
    },
    lock() {
      if (fault) return Promise.reject(new Error(`strike ${fault}`));
      set('locked');
      return Promise.resolve();
    },
    onState: (fn) => changed.add(fn),
    setFault(next) {
      fault = next;
      set(next ?? 'locked');
    },
    close() {
      changed.clear();
      return Promise.resolve();
    },
  };
}

export interface SimSensor extends DoorSensor {
  setContact(state: ContactState): void;
  pressRex(): void;
}

export function createSimSensor(initial: ContactState = 'closed'): SimSensor {
  let contact = initial;
  const changed = listeners<[ContactState]>();
  const rex = listeners<[]>();
  return {
    get contact() {
      return contact;
    },
    onContact: (fn) => changed.add(fn),
    onRex: (fn) => rex.add(fn),
    setContact(next) {
      if (next === contact) return;
      contact = next;
      changed.emit(next);
    },
    pressRex: () => rex.emit(),
    close() {
      changed.clear();
      rex.clear();
      return Promise.resolve();
    },
  };
}

export interface SimReader extends CredentialReader {
  send(input: ReaderInput): void;
}

export function createSimReader(readerId: string): SimReader {
  const input = listeners<[ReaderInput]>();
  return {
    readerId,
    onInput: (fn) => input.add(fn),
    send: (i) => input.emit(i),
    close() {
      input.clear();
      return Promise.resolve();
    },
  };
}
