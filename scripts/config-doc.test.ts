import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { README, settingsRows, siteRows, spliceReadme } from './config-doc.ts';

describe('configuration reference', () => {
  it('README.md is in step with the zod tree (run `npm run docs:config` to update)', async () => {
    const readme = readFileSync(README, 'utf8');
    expect(await spliceReadme(readme)).toBe(readme);
  });

  it('every setting and site-file key has a description', () => {
    const missing = [...settingsRows(), ...siteRows()].filter((r) => !r.description.trim());
    expect(missing.map((r) => r.key)).toEqual([]);
  });

  it('lists the contract keys', () => {
    const keys = siteRows().map((r) => r.key);
    for (const k of [
      'doors[].id',
      'doors[].name',
      'doors[].driver',
      'doors[].grantMs',
      'doors[].heldOpenMs',
      'readers[].doorId',
      'readers[].keypad',
      'cameras[].source',
      'cameras[].zones[].polygon',
      'storage.shelves[].slots[].label',
      'storage.lockers[].size',
      'storage.oversized.label',
      'storage.overflow.label',
    ]) {
      expect(keys).toContain(k);
    }
  });
});
