/**
 * Collects keypad keys from one reader into a PIN.
 *
 * Keypads in single-key mode send every key as it is pressed; the controller owns the buffer.
 * `#` submits, `*` clears, and a pause longer than the inter-key timeout (about 5 s on common
 * keypads) throws away a half-typed PIN so the next person at the door does not finish someone
 * else's code. The digits are a secret: they never appear in toString, JSON or inspection
 * output, and an abandoned buffer is wiped by timer rather than left in memory.
 */
import type { Clock, TimerHandle } from '../hardware/clock.ts';
import { isKeypadKey, type KeypadKey } from './keypad.decoder.ts';

export type PinResult =
  | { kind: 'pending'; length: number; timedOutPrevious?: true }
  | { kind: 'submitted'; pin: string }
  | { kind: 'cleared'; timedOutPrevious?: true }
  | { kind: 'rejected'; reason: 'empty_pin' | 'too_long'; timedOutPrevious?: true };

export interface PinAssemblerOptions {
  clock: Clock;
  /** Silence after which a partial PIN is discarded. */
  interKeyTimeoutMs?: number;
  /** Longest PIN accepted; one more digit rejects and clears the entry. */
  maxLength?: number;
}

export interface PinAssembler {
  press(key: KeypadKey): PinResult;
  /** Digits currently buffered; the count is not secret, the digits are. */
  readonly length: number;
  /** Forget any partial entry (reader went offline, door mode changed). */
  reset(): void;
  /** Cancel the wipe timer; call when the reader is removed. */
  dispose(): void;
  toJSON(): { length: number };
}

/**
 * A submitted result serialises with its digits hidden, so an event logger that JSON-encodes
 * whatever it is handed cannot write a resident's PIN to disk. The digits stay readable as `pin`.
 */
function submitted(pin: string): PinResult {
  const result: PinResult = { kind: 'submitted', pin };
  Object.defineProperty(result, 'toJSON', {
    enumerable: false,
    value: () => ({ kind: 'submitted', pin: '[redacted]', length: pin.length }),
  });
  return result;
}

export function createPinAssembler(options: PinAssemblerOptions): PinAssembler {
  const { clock, interKeyTimeoutMs = 5000, maxLength = 12 } = options;
  if (!Number.isFinite(interKeyTimeoutMs) || interKeyTimeoutMs <= 0) {
    throw new RangeError('interKeyTimeoutMs must be a positive number');
  }
  if (!Number.isInteger(maxLength) || maxLength < 1) {
    throw new RangeError('maxLength must be a positive integer');
  }

  // The secret lives only in this closure.
  let digits: string[] = [];
  let lastKeyAt = 0;
  let wipeTimer: TimerHandle | undefined;
  // Set when the timer wiped a partial PIN, so the next key can still report the timeout.
  let wipedByTimer = false;

  const cancelWipe = () => {
    if (wipeTimer) clock.clearTimeout(wipeTimer);
    wipeTimer = undefined;
  };
  const clearBuffer = () => {
    digits = [];
    cancelWipe();
  };
  const armWipe = () => {
    cancelWipe();
    // One millisecond past the timeout: a key at exactly the timeout still counts as in time.
    wipeTimer = clock.setTimeout(() => {
      wipeTimer = undefined;
      if (digits.length > 0) {
        digits = [];
        wipedByTimer = true;
      }
    }, interKeyTimeoutMs + 1);
  };

  const press = (key: KeypadKey): PinResult => {
    if (!isKeypadKey(key)) throw new RangeError(`key: ${JSON.stringify(key)} is not a keypad key`);
    const now = clock.now();
    // The clock check is the rule; the timer only keeps the secret from lingering in memory.
    const timedOut = wipedByTimer || (digits.length > 0 && now - lastKeyAt > interKeyTimeoutMs);
    wipedByTimer = false;
    if (timedOut) clearBuffer();
    lastKeyAt = now;
    const flag = timedOut ? ({ timedOutPrevious: true } as const) : {};

    if (key === '*') {
      clearBuffer();
      return { kind: 'cleared', ...flag };
    }
    if (key === '#') {
      if (digits.length === 0) return { kind: 'rejected', reason: 'empty_pin', ...flag };
      const pin = digits.join('');
      clearBuffer();
      return submitted(pin);
    }
    if (digits.length >= maxLength) {
      // Someone leaning on the keypad or probing; start over rather than truncate silently.
      clearBuffer();
      return { kind: 'rejected', reason: 'too_long', ...flag };
    }
    digits.push(key);
    armWipe();
    return { kind: 'pending', length: digits.length, ...flag };
  };

  const describe = () => `PinAssembler(${digits.length} digits buffered)`;
  const assembler: PinAssembler = {
    press,
    get length() {
      return digits.length;
    },
    reset() {
      clearBuffer();
      wipedByTimer = false;
    },
    dispose() {
      clearBuffer();
      wipedByTimer = false;
    },
    toJSON: () => ({ length: digits.length }),
  };
  Object.defineProperties(assembler, {
    toString: { enumerable: false, value: describe },
    [Symbol.for('nodejs.util.inspect.custom')]: { enumerable: false, value: describe },
  });
  return assembler;
}
