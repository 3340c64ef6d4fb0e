/**
 * Wiegand card formats as data.
 *
 * A reader sends only a string of bits; which bits are the facility code, which are the card
 * number and which are parity is a convention the site must know in advance. The formats are
 * therefore a table, not code: a site whose readers use an unusual layout adds an entry to its
 * config instead of waiting for a release. Bit 0 is always the first bit on the wire.
 */

export type ParityKind = 'even' | 'odd';

/**
 * One parity bit. `over` lists the frame bits it protects, explicitly, because real formats use
 * interleaved masks (Corporate 1000) that a start/length pair cannot express. The parity bit
 * itself is not in `over`: for even parity, the covered bits plus the parity bit hold an even
 * number of ones; for odd parity, an odd number.
 */
export interface ParityRule {
  readonly bit: number;
  readonly kind: ParityKind;
  readonly over: readonly number[];
}

export interface FieldSpan {
  readonly start: number;
  readonly length: number;
}

export interface WiegandFormat {
  readonly id: string;
  readonly name: string;
  readonly bits: number;
  readonly fields: {
    /** Facility (site) code; absent for formats that carry only a card number, e.g. H10302. */
    readonly facility?: FieldSpan;
    readonly card: FieldSpan;
  };
  /**
   * Parity rules in the order an encoder computes them. A rule may cover the parity bit of an
   * earlier rule (Corporate 1000's last bit covers its second) but never a later one.
   */
  readonly parity: readonly ParityRule[];
}

/**
 * The plain-JSON shape a site file uses to add a format. Same fields as {@link WiegandFormat},
 * without `readonly`, so a schema library can describe it and its output is accepted as-is.
 */
export interface WiegandFormatSpec {
  id: string;
  name: string;
  bits: number;
  fields: {
    facility?: { start: number; length: number };
    card: { start: number; length: number };
  };
  parity: { bit: number; kind: ParityKind; over: number[] }[];
}

/** A problem in a format definition, with a path in the same style a schema library reports. */
export interface FormatIssue {
  path: (string | number)[];
  message: string;
}

export interface CardFields {
  facility?: number;
  card: number;
}

export interface ValueRange {
  min: number;
  max: number;
}

/** Widest field we decode into a JS number without losing digits (2^53 − 1 is the safe limit). */
export const MAX_FIELD_BITS = 53;
/** Longest frame a site format may declare; far beyond any card format in use (HID tops out at 48). */
export const MAX_FRAME_BITS = 128;
/** Frames of these lengths are keypad key bursts, never cards; a card format may not claim them. */
const KEYPAD_BURST_LENGTHS = [4, 8];

/** Inclusive run of bit indexes, for writing contiguous parity windows readably. */
export function bitRange(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i <= to; i++) out.push(i);
  return out;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/*
 * Corporate 1000 (35-bit) parity, derived from the masks proxmark3 uses on its packed
 * representation (REFERENCE.md: 0xB6DB6DB6 / 0x6DB6DB6C over the low 32 bits).
 *
 * In that representation the last bit sent (frame bit 34) is bit 0 of the low word, so low-word
 * bit b is frame bit 34 − b; the two bits above the low word are frame bits 2 (high-word bit 0)
 * and 1 (high-word bit 1), and frame bit 0 is high-word bit 2.
 *
 * - Even parity at frame bit 1 covers high-word bit 0 plus low word & 0xB6DB6DB6. That mask has
 *   low-word bits 1,2, 4,5, … 28,29 and 31 set, i.e. frame bits 33,32, 30,29, … 6,5 and 3, plus
 *   frame bit 2: every bit from 2 to 33 whose index is not ≡ 1 (mod 3).
 * - Odd parity at frame bit 34 covers high-word bits 0–1 plus low word & 0x6DB6DB6C. That mask has
 *   low-word bits 2,3, 5,6, … 29,30 set, i.e. frame bits 32,31, … 5,4, plus frame bits 1 and 2:
 *   every bit from 1 to 32 whose index is not ≡ 0 (mod 3). It includes the even parity bit at 1,
 *   so the even bit must be computed first.
 * - Odd parity at frame bit 0 covers every other bit (1–34), so it is computed last.
 *
 * The lists are written out rather than computed so the table reads as data; the unit tests
 * rebuild them from the hexadecimal masks independently and compare.
 */
const C1000_EVEN_OVER = [
  2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 23, 24, 26, 27, 29, 30, 32, 33,
];
const C1000_ODD_OVER = [
  1, 2, 4, 5, 7, 8, 10, 11, 13, 14, 16, 17, 19, 20, 22, 23, 25, 26, 28, 29, 31, 32,
];

/** The formats every site gets. Ids follow HID's format numbers so installers recognise them. */
export const BUILTIN_FORMATS: readonly WiegandFormat[] = deepFreeze([
  {
    // The "standard 26-bit" open format. Only 256 facility codes exist, so the same facility and
    // card number turn up at unrelated sites: never trust it alone for anything valuable.
    id: 'H10301',
    name: 'HID H10301 26-bit',
    bits: 26,
    fields: { facility: { start: 1, length: 8 }, card: { start: 9, length: 16 } },
    parity: [
      { bit: 0, kind: 'even', over: bitRange(1, 12) },
      { bit: 25, kind: 'odd', over: bitRange(13, 24) },
    ],
  },
  {
    id: 'H10306',
    name: 'HID H10306 34-bit',
    bits: 34,
    fields: { facility: { start: 1, length: 16 }, card: { start: 17, length: 16 } },
    parity: [
      { bit: 0, kind: 'even', over: bitRange(1, 16) },
      { bit: 33, kind: 'odd', over: bitRange(17, 32) },
    ],
  },
  {
    // HID Corporate 1000: the "facility" here is HID's company ID, unique to one customer.
    id: 'C1000-35',
    name: 'HID Corporate 1000 35-bit',
    bits: 35,
    fields: { facility: { start: 2, length: 12 }, card: { start: 14, length: 20 } },
    parity: [
      { bit: 1, kind: 'even', over: C1000_EVEN_OVER },
      { bit: 34, kind: 'odd', over: C1000_ODD_OVER },
      { bit: 0, kind: 'odd', over: bitRange(1, 34) },
    ],
  },
  {
    // H10302 and H10304 share length and parity windows: a 37-bit frame is valid for both, and
    // only the site's enrolment data says which one the card really is.
    id: 'H10302',
    name: 'HID H10302 37-bit (card number only)',
    bits: 37,
    fields: { card: { start: 1, length: 35 } },
    parity: [
      { bit: 0, kind: 'even', over: bitRange(1, 18) },
      { bit: 36, kind: 'odd', over: bitRange(18, 35) },
    ],
  },
  {
    id: 'H10304',
    name: 'HID H10304 37-bit',
    bits: 37,
    fields: { facility: { start: 1, length: 16 }, card: { start: 17, length: 19 } },
    parity: [
      { bit: 0, kind: 'even', over: bitRange(1, 18) },
      { bit: 36, kind: 'odd', over: bitRange(18, 35) },
    ],
  },
] satisfies WiegandFormat[]);

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);

/**
 * Check a format definition, typically one a site added in its config file. Returns every problem
 * found (empty when the format is usable) so an installer sees them all at once. Plain code, no
 * schema library: the server wraps it in its own schema when it loads the site file.
 */
export function validateFormat(f: unknown): FormatIssue[] {
  const issues: FormatIssue[] = [];
  const add = (path: (string | number)[], message: string) => issues.push({ path, message });

  if (!isRecord(f)) return [{ path: [], message: 'a format must be an object' }];

  if (typeof f.id !== 'string' || f.id.trim() === '') add(['id'], 'id must be a non-empty string');
  if (typeof f.name !== 'string') add(['name'], 'name must be a string');

  const bits = f.bits;
  const bitsOk = isInt(bits) && bits >= 1 && bits <= MAX_FRAME_BITS;
  if (!bitsOk) {
    add(['bits'], `bits must be an integer from 1 to ${MAX_FRAME_BITS}`);
  } else if (KEYPAD_BURST_LENGTHS.includes(bits)) {
    add(['bits'], `${bits}-bit frames are keypad key bursts and cannot be a card format`);
  }
  const inFrame = (i: unknown): i is number => isInt(i) && i >= 0 && (!bitsOk || i < bits);

  // Which bit belongs to which field, to report overlaps by name.
  const owner = new Map<number, string>();

  const checkField = (name: 'facility' | 'card', span: unknown) => {
    if (!isRecord(span)) {
      add(['fields', name], `${name} must be an object with start and length`);
      return;
    }
    const { start, length } = span;
    let ok = true;
    if (!isInt(start) || start < 0) {
      add(['fields', name, 'start'], 'start must be a non-negative integer');
      ok = false;
    }
    if (!isInt(length) || length < 1 || length > MAX_FIELD_BITS) {
      add(['fields', name, 'length'], `length must be an integer from 1 to ${MAX_FIELD_BITS}`);
      ok = false;
    }
    if (!ok || !isInt(start) || !isInt(length)) return;
    if (bitsOk && start + length > bits) {
      add(
        ['fields', name],
        `${name} bits ${start}-${start + length - 1} run past the end of a ${bits}-bit frame`,
      );
      return;
    }
    for (let i = start; i < start + length; i++) {
      const prev = owner.get(i);
      if (prev !== undefined) {
        add(['fields', name], `${name} overlaps ${prev} at bit ${i}`);
        return;
      }
      owner.set(i, name);
    }
  };

  if (!isRecord(f.fields)) {
    add(['fields'], 'fields must be an object with at least card');
  } else {
    if (f.fields.facility !== undefined) checkField('facility', f.fields.facility);
    if (f.fields.card === undefined) add(['fields', 'card'], 'card field is required');
    else checkField('card', f.fields.card);
    for (const key of Object.keys(f.fields)) {
      if (key !== 'facility' && key !== 'card') {
        add(['fields', key], `unknown field "${key}" (only facility and card are decoded)`);
      }
    }
  }

  if (!Array.isArray(f.parity)) {
    add(['parity'], 'parity must be an array (empty if the format has no parity)');
    return issues;
  }

  const rules: unknown[] = f.parity;
  // Parity bit index -> position of its rule, to catch rules that depend on a later one.
  const parityPos = new Map<number, number>();
  rules.forEach((rule, r) => {
    if (isRecord(rule) && inFrame(rule.bit) && !parityPos.has(rule.bit)) {
      parityPos.set(rule.bit, r);
    }
  });

  rules.forEach((rule, r) => {
    const at = ['parity', r];
    if (!isRecord(rule)) {
      add(at, 'a parity rule must be an object with bit, kind and over');
      return;
    }
    if (!inFrame(rule.bit)) {
      add([...at, 'bit'], `parity bit must be an integer inside the frame (0-${Number(bits) - 1})`);
    } else {
      if (parityPos.get(rule.bit) !== r)
        add([...at, 'bit'], `bit ${rule.bit} has two parity rules`);
      const field = owner.get(rule.bit);
      if (field !== undefined) {
        add([...at, 'bit'], `parity bit ${rule.bit} lies inside the ${field} field`);
      }
    }
    if (rule.kind !== 'even' && rule.kind !== 'odd') {
      add([...at, 'kind'], 'kind must be "even" or "odd"');
    }
    if (!Array.isArray(rule.over) || rule.over.length === 0) {
      add([...at, 'over'], 'over must be a non-empty array of bit indexes');
      return;
    }
    const seen = new Set<number>();
    (rule.over as unknown[]).forEach((i, k) => {
      const p = [...at, 'over', k];
      if (!inFrame(i)) {
        add(p, `bit ${String(i)} is not inside the frame`);
        return;
      }
      // A bit listed twice cancels itself out of the parity sum: almost certainly a typo.
      if (seen.has(i)) add(p, `bit ${i} is listed twice`);
      seen.add(i);
      if (i === rule.bit) add(p, `parity bit ${i} cannot cover itself`);
      const dep = parityPos.get(i);
      if (dep !== undefined && dep > r) {
        add(
          p,
          `covers parity bit ${i}, which is computed by a later rule; order the rules so each ` +
            'covers only parity bits computed before it',
        );
      }
    });
  });

  return issues;
}

export interface FormatRegistry {
  /** Every format of this length, in registration order; 37 bits yields both H10302 and H10304. */
  byLength(bits: number): readonly WiegandFormat[];
  get(id: string): WiegandFormat | undefined;
  all(): readonly WiegandFormat[];
}

/**
 * Built-ins plus the site's own formats. Invalid or duplicate-id formats throw at startup rather
 * than being skipped: a silently ignored format would turn every badge of that type into
 * "unknown format" at the door.
 */
export function createFormatRegistry(extra: readonly WiegandFormat[] = []): FormatRegistry {
  const all: WiegandFormat[] = [...BUILTIN_FORMATS];
  for (const f of extra) {
    const issues = validateFormat(f);
    if (issues.length > 0) {
      const list = issues.map((i) => `${['', ...i.path].join('.') || '.'}: ${i.message}`);
      throw new Error(`invalid Wiegand format ${JSON.stringify(f.id)}: ${list.join('; ')}`);
    }
    if (all.some((g) => g.id === f.id)) {
      throw new Error(`Wiegand format id ${JSON.stringify(f.id)} is already registered`);
    }
    // Copy before freezing so a later edit of the caller's config object cannot change a format
    // that has already been validated.
    all.push(deepFreeze(structuredClone(f) as WiegandFormat));
  }
  const byId = new Map(all.map((f) => [f.id, f]));
  const byBits = new Map<number, WiegandFormat[]>();
  for (const f of all) byBits.set(f.bits, [...(byBits.get(f.bits) ?? []), f]);
  const frozenAll = Object.freeze(all);
  return {
    byLength: (bits) => byBits.get(bits) ?? [],
    get: (id) => byId.get(id),
    all: () => frozenAll,
  };
}

/** Largest value a field of `length` bits can hold; safe because length ≤ 53. */
const maxFor = (span: FieldSpan): number => 2 ** span.length - 1;

/** The values a format can carry, for enrolment forms and range checks. */
export function fieldRange(format: WiegandFormat): { facility?: ValueRange; card: ValueRange } {
  const { facility, card } = format.fields;
  return {
    ...(facility ? { facility: { min: 0, max: maxFor(facility) } } : {}),
    card: { min: 0, max: maxFor(card) },
  };
}

function checkValue(format: WiegandFormat, name: 'facility' | 'card', value: unknown): number {
  const span = format.fields[name];
  if (!span) {
    throw new RangeError(`facility: format ${format.id} has no facility field`);
  }
  const max = maxFor(span);
  if (!isInt(value) || value < 0 || value > max) {
    throw new RangeError(
      `${name}: ${String(value)} is outside 0-${max} for format ${format.id} (${span.length} bits)`,
    );
  }
  return value;
}

function writeField(frame: (0 | 1)[], span: FieldSpan, value: number): void {
  // Most significant bit first, as readers send it. Division instead of >> keeps values above
  // 2^31 (H10302's 35-bit card numbers) exact.
  let v = value;
  for (let i = span.length - 1; i >= 0; i--) {
    frame[span.start + i] = (v % 2) as 0 | 1;
    v = Math.floor(v / 2);
  }
}

/** Parity bit value that makes the rule hold for the bits currently in `frame`. */
export function parityBitFor(rule: ParityRule, frame: readonly (0 | 1)[]): 0 | 1 {
  let ones = 0;
  for (const i of rule.over) ones += frame[i] ?? 0;
  const evenSoFar = ones % 2 === 0;
  return (rule.kind === 'even' ? !evenSoFar : evenSoFar) ? 1 : 0;
}

/**
 * The bits a reader would send for this credential, as a '0'/'1' string. Bits that belong to no
 * field and no parity rule are sent as 0. Used by tests, the reader simulator and the console's
 * "what would this badge send" view.
 */
export function encodeCard(format: WiegandFormat, value: CardFields): string {
  const card = checkValue(format, 'card', value.card);
  let facility: number | undefined;
  if (format.fields.facility) {
    if (value.facility === undefined) {
      throw new RangeError(`facility: format ${format.id} needs a facility code`);
    }
    facility = checkValue(format, 'facility', value.facility);
  } else if (value.facility !== undefined) {
    checkValue(format, 'facility', value.facility); // throws: this format has no facility
  }

  const frame = new Array<0 | 1>(format.bits).fill(0);
  if (format.fields.facility && facility !== undefined) {
    writeField(frame, format.fields.facility, facility);
  }
  writeField(frame, format.fields.card, card);
  // In table order, so a rule covering an earlier parity bit sees its final value.
  for (const rule of format.parity) frame[rule.bit] = parityBitFor(rule, frame);
  return frame.join('');
}
