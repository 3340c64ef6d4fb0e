/**
 * The ports every door driver implements (sim, gpio, mqtt). Fault states are part of the types:
 * a driver that cannot reach its hardware says 'offline' rather than pretending to be locked.
 */
export type StrikeState = 'locked' | 'unlocked' | 'jammed' | 'offline';
export type ContactState = 'open' | 'closed' | 'unknown' | 'tamper' | 'offline';

export interface DoorStrike {
  readonly state: StrikeState;
  /** Release the strike; a pulse is relocked by `lock()` from the door machine. */
  unlock(): Promise<void>;
  lock(): Promise<void>;
  onState(listener: (state: StrikeState) => void): () => void;
  close(): Promise<void>;
}

export interface DoorSensor {
  readonly contact: ContactState;
  onContact(listener: (state: ContactState) => void): () => void;
  /** Request-to-exit button presses. */
  onRex(listener: () => void): () => void;
  close(): Promise<void>;
}

/** Raw input from a card reader or keypad, before any decoding. */
export type ReaderInput =
  | { kind: 'frame'; bits: string }
  | { kind: 'key-burst'; bits: string }
  | { kind: 'fault'; reason: 'tamper' | 'offline' | 'line_fault'; detail?: string };

export interface CredentialReader {
  readonly readerId: string;
  onInput(listener: (input: ReaderInput) => void): () => void;
  close(): Promise<void>;
}
