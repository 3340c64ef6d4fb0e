import { describe, expect, it } from 'vitest';
import {
  canonicalCarrier,
  carrierMatches,
  dhlExpressCheckDigit,
  fedexExpressCheckDigit,
  isPlausibleTracking,
  mod10Weight31CheckDigit,
  normalizeTracking,
  recognizeTracking,
  upsCheckDigit,
  type TrackingFormat,
} from './tracking.recognizer.ts';

/*
 * Reference check digits, written independently of the module (other loops, other formulas), so
 * a slip in one does not hide in the other.
 */
const ref = {
  /** UPS: letters follow the digits' cycle from A=2; odd places once, even places twice. */
  ups(body: string): number {
    const LETTERS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
    const values = [...body].map((c) =>
      LETTERS.includes(c) ? (LETTERS.indexOf(c) + 2) % 10 : Number(c),
    );
    const once = values.filter((_, i) => i % 2 === 0).reduce((a, b) => a + b, 0);
    const twice = values.filter((_, i) => i % 2 === 1).reduce((a, b) => a + b, 0);
    return ((once + 2 * twice) * 9) % 10; // 9x ≡ −x (mod 10)
  },
  /** Weights 3 and 1, counted from the left with the length's parity deciding the first one. */
  mod10w31(data: string): number {
    let sum = 0;
    for (let i = 0; i < data.length; i++) sum += Number(data[i]) * ((data.length - i) % 2 ? 3 : 1);
    return Math.ceil(sum / 10) * 10 - sum;
  },
  /** FedEx Express as its label spec lists the weights, left to right over 11 digits. */
  fedex12(data: string): number {
    const w = [3, 1, 7, 3, 1, 7, 3, 1, 7, 3, 1];
    return (w.reduce((sum, wi, i) => sum + wi * Number(data[i]), 0) % 11) % 10;
  },
  /** The same sum without the final mod 10, to predict FedEx's 0/10 blind spot. */
  fedex12Remainder(data: string): number {
    const w = [3, 1, 7, 3, 1, 7, 3, 1, 7, 3, 1];
    return w.reduce((sum, wi, i) => sum + wi * Number(data[i]), 0) % 11;
  },
  dhl(data: string): number {
    return Number(BigInt(data) % 7n);
  },
};

/** A small deterministic generator, so the random bodies are the same on every run. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const digits = (rand: () => number, n: number) =>
  Array.from({ length: n }, () => String(Math.floor(rand() * 10))).join('');
const alnum = (rand: () => number, n: number) =>
  Array.from(
    { length: n },
    () => '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ'[Math.floor(rand() * 36)],
  ).join('');

/** Every number that differs from `n` in one digit at one of `positions`. */
function digitMutations(n: string, positions: Iterable<number>) {
  const out: { number: string; at: number; from: number; to: number }[] = [];
  for (const at of positions) {
    const from = Number(n[at]);
    if (Number.isNaN(from)) continue;
    for (let to = 0; to <= 9; to++)
      if (to !== from) out.push({ number: n.slice(0, at) + to + n.slice(at + 1), at, from, to });
  }
  return out;
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/** Still accepted as a checked number of the same format: a mutation the check digit missed. */
const slipsThrough = (n: string, format: TrackingFormat) => {
  const r = recognizeTracking(n);
  return r.valid === true && r.format === format;
};

describe('published numbers', () => {
  // Numbers carriers and their documentation publish (UPS's own sample, USPS Publication 199's
  // worked example, and the shared tracking_number_data set). Each is valid as printed.
  const cases: [string, string, TrackingFormat, string][] = [
    ['1Z999AA10123456784', 'UPS', 'ups-1z', '1Z999AA10123456784'],
    ['1Z5R89390357567127', 'UPS', 'ups-1z', '1Z5R89390357567127'],
    ['1Z879E930346834440', 'UPS', 'ups-1z', '1Z879E930346834440'],
    ['1Z410E7W0392751591', 'UPS', 'ups-1z', '1Z410E7W0392751591'],
    ['1Z8V92A70367203024', 'UPS', 'ups-1z', '1Z8V92A70367203024'],
    ['9212 3912 3456 7812 3456 70', 'USPS', 'usps-impb-22', '9212391234567812345670'],
    ['9400 1112 0108 0805 4830 16', 'USPS', 'usps-impb-22', '9400111201080805483016'],
    ['9361 2898 7870 0317 6337 95', 'USPS', 'usps-impb-22', '9361289878700317633795'],
    ['9505 5110 6960 5048 6006 24', 'USPS', 'usps-impb-22', '9505511069605048600624'],
    ['9101 1234 5678 9000 0000 13', 'USPS', 'usps-impb-22', '9101123456789000000013'],
    ['92748931507708513018050063', 'USPS', 'usps-impb-26', '92748931507708513018050063'],
    ['420 22153 9101026837331000039521', 'USPS', 'usps-impb-22', '9101026837331000039521'],
    ['420787459400111206206406260787', 'USPS', 'usps-impb-22', '9400111206206406260787'],
    ['4201002334249200190132607600833457', 'USPS', 'usps-impb-22', '9200190132607600833457'],
    ['4201028200009261290113185417468510', 'USPS', 'usps-impb-22', '9261290113185417468510'],
    ['986578788855', 'FedEx', 'fedex-express-12', '986578788855'],
    ['477179081230', 'FedEx', 'fedex-express-12', '477179081230'],
    ['7995 3127 4483', 'FedEx', 'fedex-express-12', '799531274483'],
    ['790535312317', 'FedEx', 'fedex-express-12', '790535312317'],
    ['974367662710', 'FedEx', 'fedex-express-12', '974367662710'],
    ['0414 4176 0228 964', 'FedEx', 'fedex-ground-15', '041441760228964'],
    ['5682 8361 0012 734', 'FedEx', 'fedex-ground-15', '568283610012734'],
    ['9611020987654312345672', 'FedEx', 'fedex-ground-96', '987654312345672'],
    ['9611019012345612345671', 'FedEx', 'fedex-ground-96', '012345612345671'],
    ['3318810025', 'DHL', 'dhl-express-10', '3318810025'],
    ['8487135506', 'DHL', 'dhl-express-10', '8487135506'],
    ['1099255990', 'DHL', 'dhl-express-10', '1099255990'],
    ['3821724944', 'DHL', 'dhl-express-10', '3821724944'],
  ];

  it.each(cases)('%s is %s (%s)', (raw, carrier, format, normalized) => {
    expect(recognizeTracking(raw)).toEqual({ normalized, carrier, format, valid: true });
  });

  it('agrees with the reference implementations on every published number', () => {
    expect(upsCheckDigit('999AA1012345678')).toBe(4);
    expect(ref.ups('999AA1012345678')).toBe(4);
    for (const [, , format, n] of cases) {
      const data = n.slice(0, -1);
      const expected = Number(n.slice(-1));
      if (format === 'ups-1z') expect(ref.ups(n.slice(2, 17))).toBe(expected);
      else if (format === 'fedex-express-12') expect(ref.fedex12(data)).toBe(expected);
      else if (format === 'dhl-express-10') expect(ref.dhl(data)).toBe(expected);
      else expect(ref.mod10w31(data)).toBe(expected);
    }
  });

  it("refuses USPS's own web sample 9400 1000 0000 0000 0000 00, whose check digit is 6", () => {
    // The sample on the USPS tracking page is a placeholder, not a check-valid number.
    expect(ref.mod10w31('940010000000000000000')).toBe(6);
    expect(recognizeTracking('9400 1000 0000 0000 0000 00')).toMatchObject({
      carrier: 'USPS',
      valid: false,
    });
    expect(recognizeTracking('9400 1000 0000 0000 0000 06').valid).toBe(true);
  });

  it('names the misread in the reason', () => {
    const r = recognizeTracking('1Z999AA10123456785');
    expect(r).toMatchObject({ carrier: 'UPS', format: 'ups-1z', valid: false });
    expect(r.reason).toContain('check digit is 5');
    expect(r.reason).toContain('give 4');
  });
});

describe('check digits against the reference implementations', () => {
  const rand = prng(20261123);

  it('UPS, 2,000 random bodies with letters', () => {
    for (let i = 0; i < 2000; i++) {
      const body = alnum(rand, 15);
      expect(upsCheckDigit(body)).toBe(ref.ups(body));
      expect(recognizeTracking(`1Z${body}${ref.ups(body)}`).valid).toBe(true);
    }
  });

  it('USPS IMpb 22 and 26, FedEx Ground 15 and 96', () => {
    for (let i = 0; i < 500; i++) {
      const impb22 = `9${1 + Math.floor(rand() * 5)}${digits(rand, 19)}`;
      const impb26 = `9${1 + Math.floor(rand() * 5)}${digits(rand, 23)}`;
      const ground = digits(rand, 14);
      const ground96 = `96${digits(rand, 5)}${ground}`;
      for (const data of [impb22, impb26, ground])
        expect(mod10Weight31CheckDigit(data)).toBe(ref.mod10w31(data));
      expect(recognizeTracking(impb22 + ref.mod10w31(impb22)).format).toBe('usps-impb-22');
      expect(recognizeTracking(impb22 + ref.mod10w31(impb22)).valid).toBe(true);
      expect(recognizeTracking(impb26 + ref.mod10w31(impb26)).valid).toBe(true);
      expect(recognizeTracking(ground + ref.mod10w31(ground)).valid).toBe(true);
      expect(recognizeTracking(ground96 + ref.mod10w31(ground)).valid).toBe(true);
    }
  });

  it('FedEx Express 12 and DHL Express 10', () => {
    for (let i = 0; i < 1000; i++) {
      const fedex = digits(rand, 11);
      const dhl = digits(rand, 9);
      expect(fedexExpressCheckDigit(fedex)).toBe(ref.fedex12(fedex));
      expect(dhlExpressCheckDigit(dhl)).toBe(ref.dhl(dhl));
      expect(recognizeTracking(fedex + ref.fedex12(fedex)).valid).toBe(true);
      expect(recognizeTracking(dhl + ref.dhl(dhl)).valid).toBe(true);
    }
  });

  it('a USPS number behind 420 + ZIP, ZIP+4 or ZIP+4+delivery point is its own tracking number', () => {
    const data = '940011120620640626078';
    const pic = data + ref.mod10w31(data);
    for (const zip of ['28202', '282021234', '28202123456']) {
      expect(recognizeTracking(`420${zip}${pic}`)).toEqual({
        normalized: pic,
        carrier: 'USPS',
        format: 'usps-impb-22',
        valid: true,
      });
    }
    // 34 digits read both as ZIP + 26 digits and as ZIP+4 + 22: the split that checks out wins.
    expect(recognizeTracking('42028202' + '92748931507708513018050063')).toMatchObject({
      normalized: '92748931507708513018050063',
      format: 'usps-impb-26',
      valid: true,
    });
  });

  it('a routed USPS number with a wrong check digit is refused as USPS, not passed as unknown', () => {
    expect(recognizeTracking('42028202' + '9400111206206406260788')).toMatchObject({
      normalized: '9400111206206406260788',
      carrier: 'USPS',
      valid: false,
    });
    // Neither split checks out: the shortest ZIP is reported, so the same scan always reads alike.
    expect(recognizeTracking('42028202' + '92029311111111111111111112')).toMatchObject({
      normalized: '92029311111111111111111112',
      format: 'usps-impb-26',
      valid: false,
    });
  });
});

describe('single-digit mutations', () => {
  it('USPS IMpb: every wrong digit is caught', () => {
    for (const n of ['9400111201080805483016', '9212391234567812345670']) {
      const mutations = digitMutations(n, range(0, n.length));
      expect(mutations).toHaveLength(22 * 9);
      expect(mutations.filter((m) => slipsThrough(m.number, 'usps-impb-22'))).toEqual([]);
    }
    const n26 = '92748931507708513018050063';
    expect(
      digitMutations(n26, range(0, 26)).filter((m) => slipsThrough(m.number, 'usps-impb-26')),
    ).toEqual([]);
  });

  it('FedEx Ground 15 and the 15 digits of a 96 barcode: every wrong digit is caught', () => {
    const n = '041441760228964';
    expect(
      digitMutations(n, range(0, 15)).filter((m) => slipsThrough(m.number, 'fedex-ground-15')),
    ).toEqual([]);
    const barcode = '9611020987654312345672';
    expect(
      digitMutations(barcode, range(7, 22)).filter((m) =>
        slipsThrough(m.number, 'fedex-ground-96'),
      ),
    ).toEqual([]);
  });

  it('FedEx Ground 96: the 7 digits in front carry no check and are not part of the number', () => {
    const r = recognizeTracking('9622130987654312345672');
    expect(r).toMatchObject({
      format: 'fedex-ground-96',
      valid: true,
      normalized: '987654312345672',
    });
  });

  it('FedEx Express: every wrong digit is caught unless remainders 0 and 10 meet in check digit 0', () => {
    for (const n of ['986578788855', '799531274483', '790535312317']) {
      expect(
        digitMutations(n, range(0, 12)).filter((m) => slipsThrough(m.number, 'fedex-express-12')),
      ).toEqual([]);
    }
    for (const n of ['477179081230', '974367662710']) {
      const missed = digitMutations(n, range(0, 12)).filter((m) =>
        slipsThrough(m.number, 'fedex-express-12'),
      );
      const predicted = digitMutations(n, range(0, 11)).filter((m) => {
        const before = ref.fedex12Remainder(n.slice(0, 11));
        const after = ref.fedex12Remainder(m.number.slice(0, 11));
        return before !== after && before % 10 === 0 && after % 10 === 0;
      });
      expect(missed).toEqual(predicted);
    }
    // The blind spot is real: one of the two check-digit-0 numbers has a silent mutation.
    const silent = digitMutations('477179081230', range(0, 11)).concat(
      digitMutations('974367662710', range(0, 11)),
    );
    expect(silent.some((m) => slipsThrough(m.number, 'fedex-express-12'))).toBe(true);
  });

  it('UPS: every wrong digit is caught except a change of 5 in a doubled place', () => {
    for (const n of ['1Z999AA10123456784', '1Z5R89390357567127', '1Z879E930346834440']) {
      const mutations = digitMutations(n, range(2, 18));
      const missed = mutations.filter((m) => slipsThrough(m.number, 'ups-1z'));
      // Body index i = at − 2 is doubled when i is odd; the check digit (at 17) is never missed.
      const predicted = mutations.filter(
        (m) => m.at < 17 && (m.at - 2) % 2 === 1 && Math.abs(m.to - m.from) === 5,
      );
      expect(missed).toEqual(predicted);
      expect(predicted.length).toBeGreaterThan(0);
    }
  });

  it('UPS: a letter read as the digit it counts as goes unseen (A is 2)', () => {
    expect(recognizeTracking('1Z999A210123456784').valid).toBe(true);
  });

  it('DHL Express: every wrong digit is caught except a change of 7', () => {
    for (const n of ['3318810025', '8487135506', '1099255990']) {
      const mutations = digitMutations(n, range(0, 10));
      const missed = mutations.filter((m) => slipsThrough(m.number, 'dhl-express-10'));
      const predicted = mutations.filter((m) => m.at < 9 && Math.abs(m.to - m.from) === 7);
      expect(missed).toEqual(predicted);
      expect(predicted.length).toBeGreaterThan(0);
    }
  });
});

describe('formats without a check digit, and unknown ones', () => {
  it('Amazon TBA: recognised, accepted, not checkable', () => {
    expect(recognizeTracking('tba 502887274000')).toMatchObject({
      normalized: 'TBA502887274000',
      carrier: 'Amazon',
      format: 'amazon-tba',
      valid: null,
    });
    expect(recognizeTracking('TBA50288727400A').carrier).toBeNull();
    expect(recognizeTracking('TBA50288727400').carrier).toBeNull();
  });

  it('legacy 20-digit USPS: recognised, accepted, not checkable whichever convention it follows', () => {
    // One published number checks with an implied "91" in front, the other without.
    for (const n of ['7196 9010 7560 0307 7385', '0307 1790 0005 2348 3741']) {
      expect(recognizeTracking(n)).toMatchObject({
        carrier: 'USPS',
        format: 'usps-20',
        valid: null,
      });
    }
  });

  it.each([
    ['C11031500001879', 'OnTrac'],
    ['RB123456785US', 'UPU S10 (international post)'],
    ['1234567890123456789012', '22 digits without a USPS or FedEx prefix'],
    ['ABCDEFGH', 'letters only'],
    ['1234567', '7 digits'],
  ])('%s (%s) is accepted but marked unknown', (raw) => {
    const r = recognizeTracking(raw);
    expect(r).toMatchObject({ carrier: null, format: null, valid: null });
    expect(r.reason).toMatch(/not recognised/);
  });

  it('a 1Z number of the wrong length is a UPS number missing or gaining a character', () => {
    const r = recognizeTracking('1Z999AA1012345678');
    expect(r).toMatchObject({ carrier: 'UPS', format: 'ups-1z', valid: false });
    expect(r.reason).toContain('17');
    expect(recognizeTracking('1Z999AA1012345678A')).toMatchObject({ carrier: 'UPS', valid: false });
  });
});

describe('normalising and junk', () => {
  it('drops spaces, dashes and scanner control characters, and uppercases', () => {
    expect(normalizeTracking(' 1z 999-aa1 01 2345 6784\r\n')).toBe('1Z999AA10123456784');
    expect(normalizeTracking('9400\t1112\u00a00108–0805 4830 16')).toBe('9400111201080805483016');
    // A GS1 group separator between the routing part and the tracking number.
    expect(recognizeTracking('42028202\u001d9400111201080805483016')).toMatchObject({
      normalized: '9400111201080805483016',
      valid: true,
    });
  });

  it.each([
    ['', 'empty'],
    ['   - -  ', 'empty'],
    ['12345', 'too short'],
    ['1'.repeat(41), 'too long'],
    ['https://ups.com/track?n=1', "contains ':'"],
    ['1Z999AA1012345678#', "contains '#'"],
    ['MÜLLER123', "contains 'Ü'"],
    ['📦📦📦📦📦📦', 'contains'],
  ])('refuses %j: %s', (raw, reason) => {
    const plausible = isPlausibleTracking(raw);
    expect(plausible.ok).toBe(false);
    if (!plausible.ok) expect(plausible.reason).toContain(reason);
    const r = recognizeTracking(raw);
    expect(r).toMatchObject({ carrier: null, format: null, valid: false });
    expect(r.reason).toContain(reason);
  });

  it('refuses what is not text at all', () => {
    expect(isPlausibleTracking(1234567)).toEqual({ ok: false, normalized: '', reason: 'not text' });
  });

  it('accepts the bounds: 6 and 40 characters', () => {
    expect(isPlausibleTracking('ABC123')).toEqual({ ok: true, normalized: 'ABC123' });
    expect(isPlausibleTracking('A'.repeat(40)).ok).toBe(true);
  });
});

describe('carrier names', () => {
  it.each([
    ['UPS', 'UPS'],
    ['ups', 'UPS'],
    ['United Parcel Service', 'UPS'],
    ['USPS', 'USPS'],
    ['U.S.P.S.', 'USPS'],
    ['US Postal Service', 'USPS'],
    ['United States Postal Service', 'USPS'],
    ['FedEx', 'FedEx'],
    ['Fedex', 'FedEx'],
    ['Fed-Ex', 'FedEx'],
    ['Federal Express', 'FedEx'],
    ['FedEx Ground', 'FedEx'],
    ['Amazon', 'Amazon'],
    ['AMZL', 'Amazon'],
    ['Amazon Logistics', 'Amazon'],
    ['DHL', 'DHL'],
    ['dhl express', 'DHL'],
  ] as const)('%j is %s', (given, carrier) => {
    expect(canonicalCarrier(given)).toBe(carrier);
    expect(carrierMatches(given, carrier)).toBe(true);
  });

  it('a different carrier, or a name we do not know, does not match a recognised one', () => {
    expect(carrierMatches('FedEx', 'UPS')).toBe(false);
    expect(carrierMatches('Amazon', 'USPS')).toBe(false);
    expect(carrierMatches('OnTrac', 'UPS')).toBe(false);
    expect(carrierMatches('', 'DHL')).toBe(false);
    expect(canonicalCarrier('OnTrac')).toBeNull();
  });

  it('nothing recognised leaves nothing to contradict', () => {
    expect(carrierMatches('OnTrac', null)).toBe(true);
    expect(carrierMatches('UPS', null)).toBe(true);
  });

  it('works on what recognizeTracking returns', () => {
    const r = recognizeTracking('1Z999AA10123456784');
    expect(carrierMatches('United Parcel Service', r.carrier)).toBe(true);
    expect(carrierMatches('USPS', r.carrier)).toBe(false);
  });
});
