/**
 * Turns one Wiegand frame into the credential values it can mean.
 *
 * Wiegand carries no format identifier, only a bit count, and parity is the only integrity check
 * on an unsupervised wire. So the decoder never guesses: a frame is reported as every registered
 * format of its length whose parity holds, and the server decides by matching those candidates
 * against what the site has enrolled. A frame no format accepts is refused with the reason.
 */
import type { FormatRegistry, ParityRule, WiegandFormat } from './wiegand.formats.ts';

export interface CardCandidate {
  formatId: string;
  facility?: number;
  card: number;
}

export type DecodeFailureReason = 'unknown_format' | 'parity_error' | 'malformed_frame';

export type DecodeResult =
  | { ok: true; bits: number; candidates: CardCandidate[] }
  | { ok: false; reason: DecodeFailureReason; detail: string; bits: number };

export type FrameBits = string | readonly (0 | 1)[];

/** Compact "1-12" / "2-3,5-6,…" rendering of a bit list for diagnostics. */
export function describeBits(list: readonly number[]): string {
  const sorted = [...list].sort((a, b) => a - b);
  const parts: string[] = [];
  let i = 0;
  while (i < sorted.length) {
    const from = sorted[i] as number;
    let to = from;
    while (i + 1 < sorted.length && sorted[i + 1] === to + 1) {
      i++;
      to = sorted[i] as number;
    }
    parts.push(from === to ? `${from}` : `${from}-${to}`);
    i++;
  }
  return parts.join(',');
}

/**
 * A stray element, in words, for a diagnostic. Never throws: a frame from MQTT or a plug-in may
 * hold anything, and `String()` alone fails on objects without a prototype (and JSON on BigInt).
 */
export function describeValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || (typeof v !== 'object' && typeof v !== 'function')) return String(v);
  return Object.prototype.toString.call(v);
}

/** Normalise the input to 0/1 numbers, or say why it is not a frame. */
function toBitArray(input: FrameBits): (0 | 1)[] | { detail: string } {
  const out: (0 | 1)[] = [];
  if (typeof input === 'string') {
    for (let i = 0; i < input.length; i++) {
      const c = input[i];
      if (c !== '0' && c !== '1') {
        return { detail: `character ${JSON.stringify(c)} at position ${i} is not 0 or 1` };
      }
      out.push(c === '1' ? 1 : 0);
    }
  } else if (Array.isArray(input)) {
    for (let i = 0; i < input.length; i++) {
      // Typed as 0|1, but frames come off MQTT and the simulator too: check at runtime.
      const b: unknown = input[i];
      if (b !== 0 && b !== 1) return { detail: `element ${i} is ${describeValue(b)}, not 0 or 1` };
      out.push(b);
    }
  } else {
    return { detail: 'a frame must be a string of 0/1 or an array of 0/1' };
  }
  if (out.length === 0) return { detail: 'empty frame' };
  return out;
}

function failingRule(format: WiegandFormat, frame: readonly (0 | 1)[]): ParityRule | undefined {
  for (const rule of format.parity) {
    let ones = frame[rule.bit] ?? 0;
    for (const i of rule.over) ones += frame[i] ?? 0;
    const holds = rule.kind === 'even' ? ones % 2 === 0 : ones % 2 === 1;
    if (!holds) return rule;
  }
  return undefined;
}

function readField(frame: readonly (0 | 1)[], start: number, length: number): number {
  // Multiply instead of << so 35-bit H10302 card numbers stay exact (fields are ≤ 53 bits).
  let v = 0;
  for (let i = start; i < start + length; i++) v = v * 2 + (frame[i] ?? 0);
  return v;
}

export function decodeFrame(input: FrameBits, registry: FormatRegistry): DecodeResult {
  const frame = toBitArray(input);
  if (!Array.isArray(frame)) {
    const bits = typeof input === 'string' || Array.isArray(input) ? input.length : 0;
    return { ok: false, reason: 'malformed_frame', detail: frame.detail, bits };
  }
  const bits = frame.length;
  const formats = registry.byLength(bits);
  if (formats.length === 0) {
    return {
      ok: false,
      reason: 'unknown_format',
      detail: `no registered format is ${bits} bits long`,
      bits,
    };
  }

  const candidates: CardCandidate[] = [];
  const failures: string[] = [];
  for (const format of formats) {
    const bad = failingRule(format, frame);
    if (bad) {
      failures.push(
        `${format.id}: ${bad.kind} parity bit ${bad.bit} over bits ${describeBits(bad.over)} fails`,
      );
      continue;
    }
    const { facility, card } = format.fields;
    candidates.push({
      formatId: format.id,
      ...(facility ? { facility: readField(frame, facility.start, facility.length) } : {}),
      card: readField(frame, card.start, card.length),
    });
  }

  if (candidates.length === 0) {
    return { ok: false, reason: 'parity_error', detail: failures.join('; '), bits };
  }
  return { ok: true, bits, candidates };
}
