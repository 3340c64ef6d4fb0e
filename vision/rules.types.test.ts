import { describe, expect, it } from 'vitest';
import {
  createEntryLog,
  entriesFrom,
  frameSizeFor,
  RuleInputError,
  validateEntry,
  type Entry,
  type VisitContext,
} from './rules.types.ts';

const entry = (eventId: string, at: number, doorId = 'front'): Entry => ({
  eventId,
  at,
  doorId,
  who: 'resident',
});

describe('entry log', () => {
  it('keeps entries in time order, by door, replacing a repeated event', () => {
    const log = createEntryLog();
    log.add(entry('b', 2000));
    log.add(entry('a', 1000));
    log.add(entry('c', 3000, 'back'));
    log.add({ ...entry('b', 2500), who: 'carrier' });
    expect(log.size()).toBe(3);
    expect(log.entriesBetween(0, 10_000).map((e) => e.eventId)).toEqual(['a', 'b', 'c']);
    expect(log.entriesBetween(0, 10_000, 'front').map((e) => [e.eventId, e.at, e.who])).toEqual([
      ['a', 1000, 'resident'],
      ['b', 2500, 'carrier'],
    ]);
    expect(log.entriesBetween(1000, 2500).map((e) => e.eventId)).toEqual(['a', 'b']);
    log.prune(2000);
    expect(log.entriesBetween(0, 10_000).map((e) => e.eventId)).toEqual(['b', 'c']);
  });

  it('keeps its own copy: a caller changing its object changes nothing', () => {
    const log = createEntryLog();
    const e = entry('a', 1000);
    log.add(e);
    e.at = 99_999;
    expect(log.entriesBetween(0, 2000).map((x) => x.at)).toEqual([1000]);
  });

  it('refuses an entry it cannot use, naming the field, and keeps what it had', () => {
    const log = createEntryLog();
    log.add(entry('a', 1000));
    expect(() => log.add({ ...entry('', 1000) })).toThrow(RuleInputError);
    expect(() => log.add({ ...entry('x', Infinity) })).toThrow(/entry x: at must be a time/);
    expect(() => log.add({ ...entry('x', 1), doorId: '' })).toThrow(/entry x: doorId/);
    expect(() => validateEntry({ ...entry('x', 1), who: 'guest' as never })).toThrow(/guest/);
    expect(() => validateEntry(null as never)).toThrow(/eventId/);
    expect(log.size()).toBe(1);
  });
});

describe('entriesFrom', () => {
  it('merges the rule’s log and the server’s record without repeats', () => {
    const log = createEntryLog();
    log.add(entry('a', 1000));
    log.add(entry('b', 2000));
    const server: VisitContext = {
      entriesBetween: (from, to, door) =>
        [entry('b', 2000), entry('z', 500), entry('q', 1500, 'back')].filter(
          (e) => e.at >= from && e.at <= to && (door === undefined || e.doorId === door),
        ),
    };
    expect(entriesFrom([log, server, undefined], 0, 5000).map((e) => e.eventId)).toEqual([
      'z',
      'a',
      'q',
      'b',
    ]);
    expect(entriesFrom([log, server], 0, 5000, 'front').map((e) => e.eventId)).toEqual([
      'z',
      'a',
      'b',
    ]);
  });
});

describe('frameSizeFor', () => {
  it('takes the frame, else the configured size, else explains', () => {
    const frame = { cameraId: 'c', at: 0, width: 416, height: 234, rgb: new Uint8Array(0) };
    expect(frameSizeFor('r', 'c', frame, { width: 1, height: 1 })).toEqual({
      width: 416,
      height: 234,
    });
    expect(frameSizeFor('r', 'c', undefined, { width: 640, height: 360 })).toEqual({
      width: 640,
      height: 360,
    });
    expect(() => frameSizeFor('r', 'c', undefined, undefined)).toThrow(
      /r: camera c update has no frame/,
    );
    expect(() => frameSizeFor('r', 'c', { ...frame, width: 0 }, undefined)).toThrow(RuleInputError);
  });
});
