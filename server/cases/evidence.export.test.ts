import { generateKeyPairSync } from 'node:crypto';
import { strFromU8, unzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { manualClock } from '../../hardware/clock.ts';
import type { ClipOutcome } from '../cameras/clip.service.ts';
import { demoSite, parseSite } from '../config/index.ts';
import { memoryLogger } from '../log/logger.ts';
import type { CaseDetail, CaseStore } from './case.store.ts';
import type { CaseEntry, CaseTimeline, ResolvedRef } from './case.timeline.ts';
import { createEvidenceExporter, type ExportFiles } from './evidence.export.ts';
import { verifyEvidenceZip } from './evidence.manifest.ts';
import { signingKeyFrom, type SigningKeys } from './signing.key.ts';

const NOW = Date.UTC(2026, 10, 21, 9, 0, 0);
const site = parseSite(demoSite(), 'demo');
const key = signingKeyFrom(generateKeyPairSync('ed25519').privateKey);
const keys: SigningKeys = {
  current: async () => key,
  list: () => Promise.reject(new Error('unexpected list()')),
};
const unexpected = (what: string) => () => Promise.reject(new Error(`unexpected ${what}`));

const entry = (id: string, type: string): CaseEntry => ({
  id,
  at: new Date(NOW - 60_000).toISOString(),
  source: 'event',
  type,
  doorId: 'front',
  summary: `${type} at Package room door`,
});

const detail: CaseDetail = {
  id: 'case1',
  title: 'Forced door',
  description: '',
  status: 'open',
  createdAt: new Date(NOW).toISOString(),
  createdBy: 'staff1',
  createdByName: 'Mia',
  updatedAt: new Date(NOW).toISOString(),
  items: ['ev1', 'ev2', 'ev3'].map((refId, i) => ({
    id: `item${i}`,
    kind: 'event' as const,
    refId,
    note: '',
    addedBy: 'staff1',
    addedByName: 'Mia',
    addedAt: new Date(NOW).toISOString(),
    entry: null,
  })),
  exports: [],
};

/** Strict fakes: the store, timeline and clips answer only what an export asks. */
function setup(o: { clips: Record<string, ClipOutcome>; failWrite?: boolean }) {
  const finished: unknown[] = [];
  const written: Uint8Array[] = [];
  let aborted = false;
  let committed = false;
  const store = {
    get: async (id: string) => (id === 'case1' ? detail : null),
    finishExport: async (_id: string, r: unknown) => void finished.push(r),
    list: unexpected('list'),
    create: unexpected('create'),
    update: unexpected('update'),
    addItem: unexpected('addItem'),
    removeItem: unexpected('removeItem'),
    createExport: unexpected('createExport'),
    getExport: unexpected('getExport'),
    failInterrupted: unexpected('failInterrupted'),
    protectedWindows: unexpected('protectedWindows'),
  } satisfies CaseStore;
  const timeline: CaseTimeline = {
    async resolve(refs) {
      return new Map(
        refs.map((r): [string, ResolvedRef] => {
          const e = entry(r.refId, 'forced_open');
          return [
            `${r.kind}:${r.refId}`,
            {
              entry: e,
              custody: [e],
              sources: [
                {
                  kind: 'event',
                  id: r.refId,
                  at: NOW - 60_000,
                  type: 'forced_open',
                  doorId: 'front',
                  cameraId: null,
                  details: {},
                },
              ],
            },
          ];
        }),
      );
    },
  };
  const files: ExportFiles = {
    async read(path) {
      if (path === '/clips/ev1.mp4') return new TextEncoder().encode('ftyp video bytes');
      throw new Error(`unexpected read(${path})`);
    },
    async create() {
      return {
        write(chunk) {
          if (o.failWrite) throw new Error('disk full');
          written.push(chunk);
        },
        drain: async () => undefined,
        commit: async () => void (committed = true),
        abort: async () => void (aborted = true),
      };
    },
  };
  const exporter = createEvidenceExporter({
    store,
    timeline,
    keys,
    clips: {
      clipForEvent: async (id) => o.clips[id] ?? { kind: 'not_found', reason: id },
      clipFor: unexpected('clipFor'),
    },
    site,
    dataDir: '/data',
    clock: manualClock(NOW),
    log: memoryLogger(),
    version: 'test',
    files,
  });
  const zip = () => {
    const out = new Uint8Array(written.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of written) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  };
  return { exporter, finished, zip, state: () => ({ aborted, committed }) };
}

const window = { startAt: NOW - 62_000, endAt: NOW - 30_000 };

describe('evidence exporter', () => {
  it('packages what it can and says why a clip is missing instead of failing', async () => {
    const t = setup({
      clips: {
        ev1: {
          kind: 'ready',
          cameraId: 'room-cam',
          window,
          path: '/clips/ev1.mp4',
          posterPath: null,
          startAt: window.startAt,
          endAt: window.endAt,
          missing: [],
          fromCache: true,
        },
        ev2: {
          kind: 'not_yet',
          cameraId: 'room-cam',
          window,
          retryAfterMs: 2_000,
          reason: 'still recording',
        },
        ev3: { kind: 'failed', cameraId: 'room-cam', reason: 'ffmpeg exited 1' },
      },
    });
    await t.exporter.build({ caseId: 'case1', exportId: 'exp1', by: 'mia@example.test' });
    expect(t.state()).toEqual({ aborted: false, committed: true });
    expect(t.finished).toEqual([
      expect.objectContaining({
        status: 'ready',
        path: 'exports/exp1.zip',
        keyId: key.id,
        media: [
          {
            itemId: 'item0',
            path: 'clips/event-ev1.mp4',
            cameraId: 'room-cam',
            startAt: new Date(window.startAt).toISOString(),
            endAt: new Date(window.endAt).toISOString(),
          },
        ],
      }),
    ]);
    const verdict = verifyEvidenceZip(t.zip(), { trustedKeys: [key.publicKeyPem] });
    expect(verdict.problems).toEqual([]);
    const problems = verdict.manifest!.items.map((i) => i.problems.join(' '));
    expect(problems[0]).toBe('');
    expect(problems[1]).toMatch(
      /not recorded completely yet \(still recording\); export again later/,
    );
    expect(problems[2]).toMatch(/could not be made \(ffmpeg exited 1\)/);
    expect(verdict.manifest!.export).toEqual({
      id: 'exp1',
      createdAt: new Date(NOW).toISOString(),
      createdBy: 'mia@example.test',
    });
    const sums = strFromU8(unzipSync(t.zip())['SHA256SUMS']!);
    expect(sums).toMatch(/^[0-9a-f]{64} {2}clips\/event-ev1\.mp4$/m);
    expect(sums).toMatch(/ {2}report\.html$/m);
  });

  it('marks the export failed and removes the half-written file when the disk refuses', async () => {
    const t = setup({ clips: {}, failWrite: true });
    await t.exporter.build({ caseId: 'case1', exportId: 'exp2', by: 'mia@example.test' });
    expect(t.finished).toEqual([{ status: 'failed', error: 'disk full' }]);
    expect(t.state()).toEqual({ aborted: true, committed: false });
  });
});
