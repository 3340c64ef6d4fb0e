import { describe, expect, it } from 'vitest';
import { newId } from './ids.ts';

describe('newId (UUIDv7)', () => {
  it('has the v7 layout and carries its millisecond', () => {
    const id = newId(Date.UTC(2026, 10, 21, 12, 0, 0));
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const ms = Number.parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    expect(ms).toBe(Date.UTC(2026, 10, 21, 12, 0, 0));
  });

  it('sorts in creation order, also many within one millisecond and when time stands still', () => {
    const ids: string[] = [];
    for (let i = 0; i < 5000; i++) ids.push(newId(1_800_000_000_000 + Math.floor(i / 1000)));
    for (let i = 0; i < 100; i++) ids.push(newId(1_800_000_000_000)); // a clock that went back
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
