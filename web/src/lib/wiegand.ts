// A small Wiegand card encoder for the door simulator: facility code and card number in, the bit
// string a reader would send out ('0'/'1', first bit on the wire first). It mirrors the server's
// built-in format table; the server decodes and checks the frame, so this only has to be right
// for cards that are well-formed. Plain TypeScript without browser or SvelteKit imports.

export type WiegandFormatId = 'H10301' | 'H10306' | 'C1000-35' | 'H10302' | 'H10304';

interface Span {
  start: number;
  length: number;
}

interface Parity {
  bit: number;
  kind: 'even' | 'odd';
  over: readonly number[];
}

interface Layout {
  bits: number;
  facility?: Span;
  card: Span;
  /** In the order they are computed: a later rule may cover an earlier parity bit. */
  parity: readonly Parity[];
}

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** Corporate 1000: every bit 2-33 not ≡ 1 (mod 3), and every bit 1-32 not ≡ 0 (mod 3). */
const C1000_EVEN = range(2, 33).filter((i) => i % 3 !== 1);
const C1000_ODD = range(1, 32).filter((i) => i % 3 !== 0);

const LAYOUTS: Record<WiegandFormatId, Layout> = {
  // 26-bit: even parity over bits 1-12 in the first bit, facility 8 bits, card 16 bits, odd
  // parity over bits 13-24 in the last bit.
  H10301: {
    bits: 26,
    facility: { start: 1, length: 8 },
    card: { start: 9, length: 16 },
    parity: [
      { bit: 0, kind: 'even', over: range(1, 12) },
      { bit: 25, kind: 'odd', over: range(13, 24) },
    ],
  },
  H10306: {
    bits: 34,
    facility: { start: 1, length: 16 },
    card: { start: 17, length: 16 },
    parity: [
      { bit: 0, kind: 'even', over: range(1, 16) },
      { bit: 33, kind: 'odd', over: range(17, 32) },
    ],
  },
  'C1000-35': {
    bits: 35,
    facility: { start: 2, length: 12 },
    card: { start: 14, length: 20 },
    parity: [
      { bit: 1, kind: 'even', over: C1000_EVEN },
      { bit: 34, kind: 'odd', over: C1000_ODD },
      { bit: 0, kind: 'odd', over: range(1, 34) },
    ],
  },
  H10302: {
    bits: 37,
    card: { start: 1, length: 35 },
    parity: [
      { bit: 0, kind: 'even', over: range(1, 18) },
      { bit: 36, kind: 'odd', over: range(18, 35) },
    ],
  },
  H10304: {
    bits: 37,
    facility: { start: 1, length: 16 },
    card: { start: 17, length: 19 },
    parity: [
      { bit: 0, kind: 'even', over: range(1, 18) },
      { bit: 36, kind: 'odd', over: range(18, 35) },
    ],
  },
};

export const WIEGAND_FORMATS: readonly WiegandFormatId[] = Object.keys(
  LAYOUTS,
) as WiegandFormatId[];

/** Whether the format carries a facility code (H10302 does not). */
export function hasFacility(format: WiegandFormatId): boolean {
  return LAYOUTS[format].facility !== undefined;
}

/** Largest value a field of this format holds; undefined for a field the format lacks. */
export function fieldMax(format: WiegandFormatId, field: 'facility' | 'card'): number | undefined {
  const span = LAYOUTS[format][field];
  return span === undefined ? undefined : 2 ** span.length - 1;
}

/** A value out of range for its field; `field` names which. */
export class WiegandRangeError extends RangeError {
  override readonly name = 'WiegandRangeError';
  readonly field: 'facility' | 'card';
  constructor(field: 'facility' | 'card', message: string) {
    super(message);
    this.field = field;
  }
}

function checked(
  format: WiegandFormatId,
  field: 'facility' | 'card',
  value: number | undefined,
): number {
  const max = fieldMax(format, field);
  const label = field === 'facility' ? 'Facility code' : 'Card number';
  if (max === undefined) throw new WiegandRangeError(field, `${format} has no facility code`);
  if (value === undefined || !Number.isSafeInteger(value) || value < 0 || value > max) {
    throw new WiegandRangeError(field, `${label} must be 0-${max} for ${format}`);
  }
  return value;
}

function write(frame: number[], span: Span, value: number): void {
  const binary = value.toString(2).padStart(span.length, '0');
  for (let i = 0; i < span.length; i++) frame[span.start + i] = binary[i] === '1' ? 1 : 0;
}

/**
 * The frame for a card. Throws {@link WiegandRangeError} when the facility code or card number
 * does not fit the format (or a facility code is given for a format without one).
 */
export function encodeCard(
  format: WiegandFormatId,
  value: { facility?: number | undefined; card: number },
): string {
  const layout = LAYOUTS[format];
  const frame = new Array<number>(layout.bits).fill(0);
  if (layout.facility) write(frame, layout.facility, checked(format, 'facility', value.facility));
  else if (value.facility !== undefined) checked(format, 'facility', value.facility);
  write(frame, layout.card, checked(format, 'card', value.card));
  for (const rule of layout.parity) {
    const ones = rule.over.reduce((n, i) => n + (frame[i] ?? 0), 0);
    // Even parity: covered bits plus the parity bit hold an even number of ones; odd: odd.
    frame[rule.bit] = rule.kind === 'even' ? ones % 2 : 1 - (ones % 2);
  }
  return frame.join('');
}
