import { describe, expect, it } from 'vitest';
import { KEYPAD_KEYS, decodeKeyBurst, encodeKeyBurst, isKeypadKey } from './keypad.decoder.ts';

describe('4-bit key bursts', () => {
  it('reads digits, star and hash most significant bit first', () => {
    expect(decodeKeyBurst('0000')).toEqual({ ok: true, key: '0', mode: '4bit' });
    expect(decodeKeyBurst('0101')).toEqual({ ok: true, key: '5', mode: '4bit' });
    expect(decodeKeyBurst('1001')).toEqual({ ok: true, key: '9', mode: '4bit' });
    expect(decodeKeyBurst('1010')).toEqual({ ok: true, key: '*', mode: '4bit' });
    expect(decodeKeyBurst([1, 0, 1, 1])).toEqual({ ok: true, key: '#', mode: '4bit' });
  });

  it('refuses values 12-15', () => {
    for (const bits of ['1100', '1101', '1110', '1111']) {
      expect(decodeKeyBurst(bits)).toMatchObject({ ok: false, reason: 'unknown_key' });
    }
    expect(decodeKeyBurst('1100')).toMatchObject({ detail: 'key value 12 has no meaning' });
  });
});

describe('8-bit key bursts', () => {
  it('reads keys whose high nibble is the complement of the low nibble', () => {
    expect(decodeKeyBurst('11110000')).toEqual({ ok: true, key: '0', mode: '8bit' });
    expect(decodeKeyBurst('11100001')).toEqual({ ok: true, key: '1', mode: '8bit' });
    expect(decodeKeyBurst('01011010')).toEqual({ ok: true, key: '*', mode: '8bit' });
    expect(decodeKeyBurst('01001011')).toEqual({ ok: true, key: '#', mode: '8bit' });
  });

  it('refuses a burst whose check nibble does not match', () => {
    expect(decodeKeyBurst('11110001')).toEqual({
      ok: false,
      reason: 'key_integrity',
      detail: 'high nibble 1111 is not the complement of low nibble 0001',
    });
  });

  it('catches every single-bit error on every key', () => {
    for (const key of KEYPAD_KEYS) {
      const burst = encodeKeyBurst(key, '8bit');
      for (let i = 0; i < 8; i++) {
        const flipped = burst.slice(0, i) + (burst[i] === '1' ? '0' : '1') + burst.slice(i + 1);
        expect(decodeKeyBurst(flipped), `${key} bit ${i}`).toMatchObject({
          ok: false,
          reason: 'key_integrity',
        });
      }
    }
  });

  it('refuses well-formed bursts for values 12-15', () => {
    expect(decodeKeyBurst('00111100')).toMatchObject({ ok: false, reason: 'unknown_key' });
    expect(decodeKeyBurst('00001111')).toMatchObject({ ok: false, reason: 'unknown_key' });
  });
});

describe('malformed bursts', () => {
  it('refuses other lengths and characters', () => {
    expect(decodeKeyBurst('')).toMatchObject({ reason: 'malformed_frame' });
    expect(decodeKeyBurst('010')).toEqual({
      ok: false,
      reason: 'malformed_frame',
      detail: 'a key burst is 4 or 8 bits, got 3',
    });
    expect(decodeKeyBurst('0'.repeat(26))).toMatchObject({ reason: 'malformed_frame' });
    expect(decodeKeyBurst('01x1')).toMatchObject({ reason: 'malformed_frame' });
    expect(decodeKeyBurst([0, 1, 2, 1] as unknown as (0 | 1)[])).toMatchObject({
      reason: 'malformed_frame',
    });
  });
});

describe('encodeKeyBurst', () => {
  it('produces the exact bursts a keypad sends', () => {
    expect(encodeKeyBurst('5', '4bit')).toBe('0101');
    expect(encodeKeyBurst('#', '4bit')).toBe('1011');
    expect(encodeKeyBurst('7', '8bit')).toBe('10000111');
    expect(encodeKeyBurst('*', '8bit')).toBe('01011010');
  });

  it('round-trips every key in both modes', () => {
    for (const mode of ['4bit', '8bit'] as const) {
      for (const key of KEYPAD_KEYS) {
        expect(decodeKeyBurst(encodeKeyBurst(key, mode))).toEqual({ ok: true, key, mode });
      }
    }
  });

  it('refuses things that are not keys', () => {
    expect(() => encodeKeyBurst('A' as never, '4bit')).toThrow(RangeError);
    expect(isKeypadKey('#')).toBe(true);
    expect(isKeypadKey('10')).toBe(false);
    expect(isKeypadKey(5)).toBe(false);
  });
});
