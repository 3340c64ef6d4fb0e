/**
 * Keypad keys sent over Wiegand as one short burst per key.
 *
 * Two conventions exist. The 4-bit burst is the key's value, most significant bit first, with no
 * check at all. The 8-bit burst repeats the value with its high nibble inverted, so a bit lost or
 * gained on the wire shows up as a mismatch instead of a different digit: a wrong digit in a PIN
 * is a wrong PIN, and three of those can lock a resident out.
 */
import { describeValue, type FrameBits } from './wiegand.decoder.ts';

export type KeypadKey = '0' | '1' | '2' | '3' | '4' | '5' | '6' | '7' | '8' | '9' | '*' | '#';
export type KeyBurstMode = '4bit' | '8bit';

export type KeyDecodeResult =
  | { ok: true; key: KeypadKey; mode: KeyBurstMode }
  | { ok: false; reason: 'malformed_frame' | 'key_integrity' | 'unknown_key'; detail: string };

/** Keys by their burst value: digits are themselves, then `*` = 10 and `#` = 11. */
export const KEYPAD_KEYS: readonly KeypadKey[] = Object.freeze([
  '0',
  '1',
  '2',
  '3',
  '4',
  '5',
  '6',
  '7',
  '8',
  '9',
  '*',
  '#',
]);

export function isKeypadKey(v: unknown): v is KeypadKey {
  return typeof v === 'string' && (KEYPAD_KEYS as readonly string[]).includes(v);
}

function readBits(input: FrameBits): number[] | string {
  const out: number[] = [];
  if (typeof input !== 'string' && !Array.isArray(input)) return 'not a bit string or bit array';
  for (let i = 0; i < input.length; i++) {
    const b: unknown = input[i];
    if (b === '0' || b === 0) out.push(0);
    else if (b === '1' || b === 1) out.push(1);
    else return `element ${i} (${describeValue(b)}) is not 0 or 1`;
  }
  return out;
}

const nibble = (bits: readonly number[], from: number): number =>
  bits.slice(from, from + 4).reduce((v, b) => v * 2 + b, 0);

function keyFor(value: number, mode: KeyBurstMode): KeyDecodeResult {
  const key = KEYPAD_KEYS[value];
  if (key === undefined) {
    // 12-15 are wired to function keys on some keypads; we have no meaning for them.
    return { ok: false, reason: 'unknown_key', detail: `key value ${value} has no meaning` };
  }
  return { ok: true, key, mode };
}

export function decodeKeyBurst(input: FrameBits): KeyDecodeResult {
  const bits = readBits(input);
  if (typeof bits === 'string') return { ok: false, reason: 'malformed_frame', detail: bits };
  if (bits.length === 4) return keyFor(nibble(bits, 0), '4bit');
  if (bits.length === 8) {
    const high = nibble(bits, 0);
    const low = nibble(bits, 4);
    if ((high ^ 0xf) !== low) {
      return {
        ok: false,
        reason: 'key_integrity',
        detail: `high nibble ${high.toString(2).padStart(4, '0')} is not the complement of low nibble ${low.toString(2).padStart(4, '0')}`,
      };
    }
    return keyFor(low, '8bit');
  }
  return {
    ok: false,
    reason: 'malformed_frame',
    detail: `a key burst is 4 or 8 bits, got ${bits.length}`,
  };
}

/** The burst a keypad sends for `key`, for the reader simulator. */
export function encodeKeyBurst(key: KeypadKey, mode: KeyBurstMode): string {
  const value = KEYPAD_KEYS.indexOf(key);
  if (value < 0) throw new RangeError(`key: ${JSON.stringify(key)} is not a keypad key`);
  const low = value.toString(2).padStart(4, '0');
  if (mode === '4bit') return low;
  return (value ^ 0xf).toString(2).padStart(4, '0') + low;
}
