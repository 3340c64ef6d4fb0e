import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { manualClock } from '../hardware/clock.ts';
import type { KeypadKey } from './keypad.decoder.ts';
import { createPinAssembler } from './pin.assembler.ts';

const type = (a: { press(k: KeypadKey): unknown }, keys: string) =>
  [...keys].map((k) => a.press(k as KeypadKey));

describe('PIN assembly', () => {
  it('collects digits and submits on #', () => {
    const clock = manualClock();
    const a = createPinAssembler({ clock });
    expect(type(a, '4821')).toEqual([
      { kind: 'pending', length: 1 },
      { kind: 'pending', length: 2 },
      { kind: 'pending', length: 3 },
      { kind: 'pending', length: 4 },
    ]);
    expect(a.press('#')).toEqual({ kind: 'submitted', pin: '4821' });
    expect(a.length).toBe(0);
    // The next entry starts from nothing.
    expect(type(a, '9#')).toEqual([
      { kind: 'pending', length: 1 },
      { kind: 'submitted', pin: '9' },
    ]);
  });

  it('rejects # with nothing typed', () => {
    const a = createPinAssembler({ clock: manualClock() });
    expect(a.press('#')).toEqual({ kind: 'rejected', reason: 'empty_pin' });
  });

  it('clears on *', () => {
    const a = createPinAssembler({ clock: manualClock() });
    type(a, '123');
    expect(a.press('*')).toEqual({ kind: 'cleared' });
    expect(a.length).toBe(0);
    expect(type(a, '45#').at(-1)).toEqual({ kind: 'submitted', pin: '45' });
  });

  it('rejects and clears a key past the maximum length', () => {
    const a = createPinAssembler({ clock: manualClock(), maxLength: 4 });
    type(a, '1234');
    expect(a.press('5')).toEqual({ kind: 'rejected', reason: 'too_long' });
    expect(a.length).toBe(0);
    expect(a.press('6')).toEqual({ kind: 'pending', length: 1 });
    expect(a.press('#')).toEqual({ kind: 'submitted', pin: '6' });
  });

  it('accepts exactly maxLength digits (default 12)', () => {
    const a = createPinAssembler({ clock: manualClock() });
    type(a, '123456789012');
    expect(a.press('#')).toEqual({ kind: 'submitted', pin: '123456789012' });
    type(a, '123456789012');
    expect(a.press('3')).toEqual({ kind: 'rejected', reason: 'too_long' });
  });
});

describe('inter-key timeout', () => {
  it('starts afresh when more than the timeout passed since the previous key', () => {
    const clock = manualClock();
    const a = createPinAssembler({ clock });
    type(a, '12');
    clock.advance(5001);
    expect(a.press('3')).toEqual({ kind: 'pending', length: 1, timedOutPrevious: true });
    expect(a.press('#')).toEqual({ kind: 'submitted', pin: '3' });
  });

  it('keeps the entry when a key comes exactly at the timeout', () => {
    const clock = manualClock();
    const a = createPinAssembler({ clock });
    a.press('1');
    clock.advance(5000);
    expect(a.press('2')).toEqual({ kind: 'pending', length: 2 });
    // The timeout runs from the previous key, not from the first.
    clock.advance(4000);
    a.press('3');
    clock.advance(4000);
    expect(a.press('#')).toEqual({ kind: 'submitted', pin: '123' });
  });

  it('never submits stale digits: # after the timeout is an empty PIN', () => {
    const clock = manualClock();
    const a = createPinAssembler({ clock, interKeyTimeoutMs: 2000 });
    type(a, '9999');
    clock.advance(2500);
    expect(a.press('#')).toEqual({ kind: 'rejected', reason: 'empty_pin', timedOutPrevious: true });
  });

  it('wipes an abandoned entry from memory by timer', () => {
    const clock = manualClock();
    const a = createPinAssembler({ clock });
    type(a, '55');
    expect(clock.pendingTimers()).toBe(1);
    clock.advance(5001);
    expect(a.length).toBe(0);
    expect(clock.pendingTimers()).toBe(0);
    expect(a.press('*')).toEqual({ kind: 'cleared', timedOutPrevious: true });
    // Reported once only.
    expect(a.press('1')).toEqual({ kind: 'pending', length: 1 });
  });

  it('does not report a timeout when nothing was pending', () => {
    const clock = manualClock();
    const a = createPinAssembler({ clock });
    type(a, '1#');
    clock.advance(60_000);
    expect(a.press('2')).toEqual({ kind: 'pending', length: 1 });
  });

  it('leaves no timer behind after submit, clear, reset or dispose', () => {
    const clock = manualClock();
    const a = createPinAssembler({ clock });
    type(a, '1#');
    expect(clock.pendingTimers()).toBe(0);
    type(a, '1*');
    expect(clock.pendingTimers()).toBe(0);
    a.press('1');
    a.reset();
    expect(clock.pendingTimers()).toBe(0);
    a.press('1');
    a.dispose();
    expect(clock.pendingTimers()).toBe(0);
  });
});

describe('PIN secrecy', () => {
  it('keeps digits out of toString, JSON and inspect', () => {
    const a = createPinAssembler({ clock: manualClock() });
    type(a, '8642');
    const views = [String(a), `${a.toString()}`, JSON.stringify(a), inspect(a, { depth: 5 })];
    for (const view of views) expect(view).not.toMatch(/8642|8|6/);
    expect(JSON.parse(JSON.stringify(a))).toEqual({ length: 4 });
  });

  it('redacts the digits when a submitted result is serialised', () => {
    const a = createPinAssembler({ clock: manualClock() });
    type(a, '2468');
    const result = a.press('#');
    expect(result).toEqual({ kind: 'submitted', pin: '2468' });
    expect(JSON.stringify(result)).toBe('{"kind":"submitted","pin":"[redacted]","length":4}');
  });
});

describe('options and input', () => {
  it('refuses nonsense options and keys', () => {
    const clock = manualClock();
    expect(() => createPinAssembler({ clock, interKeyTimeoutMs: 0 })).toThrow(RangeError);
    expect(() => createPinAssembler({ clock, maxLength: 0 })).toThrow(RangeError);
    const a = createPinAssembler({ clock });
    expect(() => a.press('A' as KeypadKey)).toThrow(/not a keypad key/);
  });
});
