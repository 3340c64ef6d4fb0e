import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import {
  ConfigError,
  demoSite,
  loadConfig,
  parseSettings,
  parseSite,
  readSiteFile,
} from './index.ts';

const issuesOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  throw new Error('expected a ConfigError');
};

describe('site file', () => {
  it('the demo room has what the brief lists', () => {
    const site = parseSite(demoSite(), 'demo');
    expect(site.doors).toHaveLength(1);
    expect(site.doors[0]!.driver.kind).toBe('sim');
    expect(site.readers[0]).toMatchObject({ doorId: 'front', keypad: true });
    expect(site.cameras).toHaveLength(1);
    expect(site.cameras[0]!.source.kind).toBe('sim');
    expect(site.storage.shelves).toHaveLength(3);
    expect(site.storage.shelves.every((s) => s.slots.length === 8)).toBe(true);
    expect(site.storage.lockers).toHaveLength(6);
    expect(new Set(site.storage.lockers.map((l) => l.size))).toEqual(
      new Set(['small', 'medium', 'large']),
    );
    expect(site.storage.oversized.id).toBe('oversized');
    expect(site.storage.overflow.id).toBe('overflow');
  });

  it('fills defaults', () => {
    const raw = demoSite();
    raw.doors = [{ id: 'front', name: 'D', driver: { kind: 'sim' } }];
    const site = parseSite(raw, 't');
    expect(site.doors[0]).toMatchObject({ grantMs: 5000, heldOpenMs: 60000, failMode: 'secure' });
  });

  it('names the field of a wrong type', () => {
    const raw = demoSite();
    (raw.doors as Record<string, unknown>[])[0]!.grantMs = 'fast';
    expect(issuesOf(() => parseSite(raw, 't'))).toEqual([
      { field: 'doors[0].grantMs', message: expect.stringContaining('expected number') as string },
    ]);
  });

  it('names an unknown key, at any depth', () => {
    expect(issuesOf(() => parseSite({ ...demoSite(), colour: 'red' }, 't'))).toEqual([
      { field: 'colour', message: 'unknown key' },
    ]);
    const raw = demoSite();
    (raw.doors as Record<string, unknown>[])[0]!.driver = { kind: 'sim', pin: 4 };
    expect(issuesOf(() => parseSite(raw, 't'))[0]!.field).toBe('doors[0].driver.pin');
  });

  it('names an unknown driver kind and bounds', () => {
    const raw = demoSite();
    (raw.doors as Record<string, unknown>[])[0]!.driver = { kind: 'zigbee' };
    expect(issuesOf(() => parseSite(raw, 't'))[0]!.field).toBe('doors[0].driver.kind');
    const raw2 = demoSite();
    (raw2.doors as Record<string, unknown>[])[0]!.heldOpenMs = 10;
    expect(issuesOf(() => parseSite(raw2, 't'))[0]!.field).toBe('doors[0].heldOpenMs');
  });

  it('checks cross-references and duplicate ids', () => {
    const raw = demoSite();
    raw.readers = [{ id: 'r', doorId: 'back' }];
    expect(issuesOf(() => parseSite(raw, 't'))).toEqual([
      { field: 'readers[0].doorId', message: "no door with id 'back'" },
    ]);
    const raw2 = demoSite();
    (raw2.storage as { overflow: { id: string } }).overflow.id = 'l1';
    expect(issuesOf(() => parseSite(raw2, 't'))[0]!.field).toBe('storage.overflow.id');
  });

  it('takes secrets from the environment and names a missing variable', () => {
    const raw = demoSite();
    raw.cameras = [
      ...(raw.cameras as unknown[]),
      {
        id: 'c',
        name: 'C',
        source: { kind: 'onvif', host: 'cam', username: 'u', password: '${CAM_PASS}' },
      },
    ];
    const site = parseSite(raw, 't', { CAM_PASS: 's3cret' });
    expect(site.cameras[1]!.source).toMatchObject({ password: 's3cret' });
    expect(issuesOf(() => parseSite(raw, 't', {}))[0]!.field).toBe('cameras[1].source.password');
  });

  it('reads YAML and JSON files; a broken file is a ConfigError', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pr-site-'));
    writeFileSync(join(dir, 'site.yaml'), toYaml(demoSite()));
    writeFileSync(join(dir, 'site.json'), JSON.stringify(demoSite()));
    writeFileSync(join(dir, 'broken.json'), '{"doors": [');
    expect(readSiteFile(join(dir, 'site.yaml')).doors[0]!.id).toBe('front');
    expect(readSiteFile(join(dir, 'site.json')).doors[0]!.id).toBe('front');
    expect(() => readSiteFile(join(dir, 'broken.json'))).toThrow(ConfigError);
    expect(() => readSiteFile(join(dir, 'missing.yaml'))).toThrow(/cannot read/);
  });
});

describe('settings', () => {
  it('has the contract defaults', () => {
    expect(parseSettings({})).toMatchObject({ PORT: 8080, HOST: '127.0.0.1', DATA_DIR: './data' });
  });

  it('treats empty variables as unset and ignores unrelated ones', () => {
    expect(parseSettings({ PORT: '', HOME: '/root' }).PORT).toBe(8080);
  });

  it('names a bad setting', () => {
    expect(issuesOf(() => parseSettings({ PORT: 'abc' }))[0]!.field).toBe('PORT');
    expect(issuesOf(() => parseSettings({ DATABASE_URL: 'mysql://x' }))[0]!.field).toBe(
      'DATABASE_URL',
    );
    expect(
      issuesOf(() =>
        parseSettings({
          PARCELROOM_ADMIN_EMAIL: 'a@b.example',
          PARCELROOM_ADMIN_PASSWORD: 'short',
        }),
      )[0]!.field,
    ).toBe('PARCELROOM_ADMIN_PASSWORD');
    expect(issuesOf(() => parseSettings({ PARCELROOM_ADMIN_EMAIL: 'a@b.example' }))[0]!.field).toBe(
      'PARCELROOM_ADMIN_PASSWORD',
    );
  });

  it('uses the demo room when PARCELROOM_CONFIG is unset', () => {
    const loaded = loadConfig({});
    expect(loaded.siteSource).toBe('demo');
    expect(loaded.site.site.id).toBe('demo');
  });
});
