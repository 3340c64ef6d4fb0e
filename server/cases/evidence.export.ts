/**
 * Evidence packages of a case: one ZIP a manager hands to the police or an insurer, with the
 * video, the snapshots, a printable report, the timeline as CSV and a signed manifest that
 * proves nothing was changed after it left the building.
 *
 * Built in the background (a package of a dozen clips takes a few seconds of ffmpeg): the
 * export row says `building`, then `ready` with the ZIP's SHA-256, or `failed` with why. A clip
 * that cannot be made (no camera, no video, not recorded yet, ffmpeg failing) does not fail the
 * package: the manifest and the report say what is missing and why, which is itself evidence.
 *
 * Files: `DATA_DIR/exports/<export id>.zip`, streamed one file at a time (a clip is read, hashed
 * and zipped before the next is read, so a large case never sits in memory whole), written as
 * `.part` and renamed, so a download never sees half a package. Names inside the package come
 * only from validated ids.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { dirname, join, resolve, sep } from 'node:path';
import type { ClipOutcome, ClipService } from '../cameras/clip.service.ts';
import { SAFE_ID, VIDEO_EVENT_TYPES } from '../cameras/clip.service.ts';
import { AUDIT_CSV_COLUMNS, auditCsvCells, csvLine } from '../audit/csv.format.ts';
import type { SiteConfig } from '../config/index.ts';
import type { Logger } from '../log/logger.ts';
import type { Clock } from '../../hardware/clock.ts';
import type { CaseDetail, CaseStore } from './case.store.ts';
import { refKey, type CaseEntry, type CaseTimeline, type EntrySource } from './case.timeline.ts';
import {
  createPackageWriter,
  sha256Hex,
  type ManifestItem,
  type PackageWriter,
  type MediaWindow,
} from './evidence.manifest.ts';
import { renderReport, type ReportItem } from './report.html.ts';
import type { SigningKeys } from './signing.key.ts';

export const EXPORTS_DIR = 'exports';

/** A package being written: chunks in order, then kept or thrown away. */
export interface ExportSink {
  write(chunk: Uint8Array): void;
  /** Resolves once what was written is handed to the disk (back-pressure between files). */
  drain(): Promise<void>;
  /** Closes the file and moves it into place. */
  commit(): Promise<void>;
  /** Closes and removes the half-written file. */
  abort(): Promise<void>;
}

/** Reading clip files and writing packages; injected so a test can refuse or count. */
export interface ExportFiles {
  read(path: string): Promise<Uint8Array>;
  /** A new file written as `<path>.part` and renamed on commit, so nobody sees half of it. */
  create(path: string): Promise<ExportSink>;
}

export const nodeExportFiles: ExportFiles = {
  read: (path) => readFile(path),
  async create(path) {
    await mkdir(dirname(path), { recursive: true });
    const part = `${path}.part`;
    const stream = createWriteStream(part, { mode: 0o600 });
    let failed: Error | null = null;
    stream.on('error', (e) => (failed = e));
    const ended = () =>
      new Promise<void>((res, rej) => {
        if (stream.closed) return failed ? rej(failed) : res();
        stream.once('close', () => (failed ? rej(failed) : res()));
      });
    return {
      write(chunk) {
        if (failed) throw failed;
        stream.write(chunk);
      },
      async drain() {
        if (failed) throw failed;
        if (stream.writableNeedDrain) await once(stream, 'drain');
      },
      async commit() {
        stream.end();
        await ended();
        await rename(part, path);
      },
      async abort() {
        stream.destroy();
        await ended().catch(() => undefined);
        await rm(part, { force: true });
      },
    };
  },
};

export interface ExportRequest {
  caseId: string;
  exportId: string;
  /** Who asked, as the manifest names them (an e-mail or `token:<name>`). */
  by: string;
}

export interface EvidenceExporter {
  /** Builds in the background; the export row says how it went. */
  start(request: ExportRequest): void;
  /** Builds now and resolves when the row is final (tests, and `start` itself). */
  build(request: ExportRequest): Promise<void>;
  /** Absolute path of a ready export's ZIP, or null when the row's path leaves DATA_DIR. */
  fileOf(relPath: string): string | null;
  /** Waits for builds in flight (shutdown). */
  close(): Promise<void>;
}

export interface EvidenceExporterDeps {
  store: CaseStore;
  timeline: CaseTimeline;
  keys: SigningKeys;
  clips: Pick<ClipService, 'clipForEvent' | 'clipFor'>;
  site: Pick<SiteConfig, 'site' | 'doors'>;
  dataDir: string;
  clock: Clock;
  log: Logger;
  version: string;
  files?: ExportFiles;
}

const README = (keyId: string) => `Parcelroom evidence package
===========================

What is in here
- report.html      the timeline of the case, printable; open it in any browser
- timeline.csv     the same timeline as a spreadsheet
- clips/           the recorded video of each item (MP4, H.264)
- snapshots/       stills: the analysed frame of a flag, the poster frame of a clip
- SHA256SUMS       the SHA-256 of every file above
- manifest.json    every file with its SHA-256 and size, and who made this package and when
- manifest.sig     the Ed25519 signature (base64) of the exact bytes of manifest.json
- public-key.pem   the public half of the key that signed it (key id ${keyId})

How to check that nothing was changed
1. Every file against its hash:
     sha256sum -c SHA256SUMS
2. The signature over the manifest (which holds the same hashes), with OpenSSL 3:
     base64 -d manifest.sig > manifest.sig.bin
     openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin -in manifest.json -sigfile manifest.sig.bin
3. Or both at once with Parcelroom, on the ZIP as it was handed over:
     npm run evidence:verify -- <this file>.zip --key <the site's published key>.pem
   It exits 0 when the package is intact and 1 when anything was changed, added or removed.

The key id is the first 16 hex digits of the SHA-256 of the public key (DER). Compare it, or the
public key itself, with the one the building publishes (GET /api/evidence/keys): a package
re-signed with another key verifies against its own public-key.pem, but not against the site's.
`;

const isoOf = (ms: number) => new Date(ms).toISOString();

/** What a missing clip means, in words for the report. */
function clipProblem(label: string, o: Exclude<ClipOutcome, { kind: 'ready' }>): string {
  switch (o.kind) {
    case 'not_yet':
      return `${label}: the video was not recorded completely yet (${o.reason}); export again later`;
    case 'no_video':
      return `${label}: no video (${o.reason})`;
    case 'no_camera':
      return `${label}: no camera (${o.reason})`;
    case 'not_found':
      return `${label}: no longer in the database`;
    case 'not_stored':
      return `${label}: not in the database yet (${o.reason}); export again later`;
    case 'unknown_camera':
      return `${label}: ${o.reason}`;
    case 'failed':
      return `${label}: the clip could not be made (${o.reason})`;
  }
}

const errText = (e: unknown) => (e instanceof Error ? e.message : String(e));

export function createEvidenceExporter(deps: EvidenceExporterDeps): EvidenceExporter {
  const { store, timeline, log } = deps;
  const files = deps.files ?? nodeExportFiles;
  const dataRoot = resolve(deps.dataDir);
  const doorNames = new Map(deps.site.doors.map((d) => [d.id, d.name]));
  const running = new Set<Promise<void>>();

  const inDataDir = (rel: string): string | null => {
    const abs = resolve(dataRoot, rel);
    return abs.startsWith(dataRoot + sep) ? abs : null;
  };

  /**
   * Writes the package file by file into `writer`: each clip is read, hashed and zipped before
   * the next one is read. `flush` lets the disk catch up between files.
   */
  async function assemble(
    detail: CaseDetail,
    req: ExportRequest,
    writer: PackageWriter,
    flush: () => Promise<void>,
    keyId: string,
  ) {
    const resolved = await timeline.resolve(detail.items);
    const media: MediaWindow[] = [];
    const manifestItems: ManifestItem[] = [];
    const reportItems: ReportItem[] = [];
    const csvRows: string[] = [];
    const add = async (path: string, data: Uint8Array) => {
      writer.add(path, data);
      await flush();
    };

    for (const item of detail.items) {
      const found = resolved.get(refKey(item)) ?? null;
      const base = `${item.kind}-${item.refId}`;
      const clipsOut: ManifestItem['clips'] = [];
      const snapshots: string[] = [];
      const problems: string[] = [];
      if (!found) problems.push(`the ${item.kind} ${item.refId} is no longer in the database`);

      const addClip = async (name: string, label: string, o: ClipOutcome) => {
        if (o.kind !== 'ready') {
          problems.push(clipProblem(label, o));
          return;
        }
        const path = `clips/${name}.mp4`;
        let data: Uint8Array;
        try {
          data = await files.read(o.path);
        } catch (e) {
          problems.push(`${label}: the clip file could not be read (${errText(e)})`);
          return;
        }
        await add(path, data);
        const span = { cameraId: o.cameraId, startAt: isoOf(o.startAt), endAt: isoOf(o.endAt) };
        clipsOut.push({ path, ...span });
        media.push({ itemId: item.id, path, ...span });
        if (!o.posterPath) return;
        const still = `snapshots/${name}-poster.jpg`;
        try {
          data = await files.read(o.posterPath);
        } catch (e) {
          problems.push(`${label}: the poster frame could not be read (${errText(e)})`);
          return;
        }
        await add(still, data);
        snapshots.push(still);
      };

      const addSource = async (s: EntrySource) => {
        if (!SAFE_ID.test(s.id)) return;
        const name = s.id === item.refId ? base : `${base}-${s.id}`;
        if (s.kind === 'flag') {
          if (!s.snapshotPath)
            problems.push(`flag ${s.id}: no snapshot was made when it was raised`);
          else {
            const abs = inDataDir(s.snapshotPath);
            try {
              if (!abs) throw new Error('its path is outside the data folder');
              const still = `snapshots/${name}.jpg`;
              await add(still, await files.read(abs));
              snapshots.push(still);
            } catch (e) {
              problems.push(`flag ${s.id}: the snapshot could not be read (${errText(e)})`);
            }
          }
          await addClip(
            name,
            `flag ${s.id}`,
            await deps.clips.clipFor({
              owner: { kind: 'flag', id: s.id },
              cameraId: s.cameraId,
              window: { startAt: s.clipStartAt, endAt: s.clipEndAt },
              eventAt: s.at,
            }),
          );
          return;
        }
        // Events that show nothing at the door (a door closing, a reader error) have no clip.
        if (!VIDEO_EVENT_TYPES.has(s.type)) return;
        await addClip(
          name,
          `${s.type.replace(/_/g, ' ')} ${s.id}`,
          await deps.clips.clipForEvent(s.id),
        );
      };
      for (const source of found?.sources ?? []) await addSource(source);

      const entry: CaseEntry | null = found?.entry ?? null;
      manifestItems.push({
        id: item.id,
        kind: item.kind,
        refId: item.refId,
        note: item.note,
        addedBy: item.addedByName,
        addedById: item.addedBy,
        addedAt: item.addedAt,
        at: entry?.at ?? null,
        summary: entry?.summary ?? `${item.kind} ${item.refId} (no longer in the database)`,
        clips: clipsOut,
        snapshots,
        problems,
      });
      reportItems.push({
        id: item.id,
        kind: item.kind,
        refId: item.refId,
        note: item.note,
        addedBy: item.addedByName,
        at: entry?.at ?? null,
        summary: entry?.summary ?? 'no longer in the database',
        door: entry?.doorId ? (doorNames.get(entry.doorId) ?? entry.doorId) : undefined,
        who: entry?.resident ? `${entry.resident.name} (${entry.resident.unit})` : undefined,
        clips: clipsOut,
        snapshots,
        problems,
        ...(found && found.custody.length > 1
          ? { custody: found.custody.map((c) => ({ at: c.at, summary: c.summary })) }
          : {}),
      });
      for (const row of found?.custody ?? []) {
        csvRows.push(
          csvLine([
            item.id,
            item.kind,
            item.note,
            clipsOut.map((c) => c.path).join(' '),
            row.summary,
            ...auditCsvCells(row),
          ]),
        );
      }
      if (!found)
        csvRows.push(csvLine([item.id, item.kind, item.note, '', 'no longer in the database']));
    }

    // Items in the order they happened: the report is read as a timeline.
    const order = (at: string | null) => (at === null ? Infinity : Date.parse(at));
    reportItems.sort((a, b) => order(a.at) - order(b.at));
    manifestItems.sort((a, b) => order(a.at) - order(b.at));

    const text = (t: string) => new TextEncoder().encode(t);
    await add(
      'timeline.csv',
      text(
        csvLine([
          'case_item_id',
          'item_kind',
          'item_note',
          'clip_files',
          'summary',
          ...AUDIT_CSV_COLUMNS,
        ]) + csvRows.join(''),
      ),
    );
    await add('README.txt', text(README(keyId)));
    const meta = {
      site: { id: deps.site.site.id, name: deps.site.site.name },
      case: {
        id: detail.id,
        title: detail.title,
        description: detail.description,
        status: detail.status,
      },
      export: { id: req.exportId, createdAt: isoOf(deps.clock.now()), createdBy: req.by },
      software: { name: 'parcelroom' as const, version: deps.version },
    };
    const byPath = [...writer.files()].sort((a, b) => a.path.localeCompare(b.path));
    await add(
      'report.html',
      text(renderReport({ ...meta, keyId, items: reportItems, files: byPath })),
    );
    // For `sha256sum -c`: every file but the manifest, its signature and this list itself.
    const sums = [...writer.files()]
      .sort((a, b) => a.path.localeCompare(b.path))
      .map((f) => `${f.sha256}  ${f.path}\n`)
      .join('');
    await add('SHA256SUMS', text(sums));
    const { manifest, manifestBytes } = writer.finish({ ...meta, items: manifestItems, media });
    return { manifest, manifestBytes, media };
  }

  async function build(req: ExportRequest): Promise<void> {
    let sink: ExportSink | null = null;
    try {
      const detail = await store.get(req.caseId);
      if (!detail) throw new Error('the case is gone');
      const key = await deps.keys.current();
      const rel = `${EXPORTS_DIR}/${req.exportId}.zip`;
      const out = await files.create(join(dataRoot, EXPORTS_DIR, `${req.exportId}.zip`));
      sink = out;
      const zipHash = createHash('sha256');
      let bytes = 0;
      const writer = createPackageWriter(key, (chunk) => {
        zipHash.update(chunk);
        bytes += chunk.length;
        out.write(chunk);
      });
      const { manifest, manifestBytes, media } = await assemble(
        detail,
        req,
        writer,
        () => out.drain(),
        key.id,
      );
      await out.commit();
      sink = null;
      await store.finishExport(req.exportId, {
        status: 'ready',
        path: rel,
        bytes,
        sha256: zipHash.digest('hex'),
        manifestSha256: sha256Hex(manifestBytes),
        keyId: manifest.keyId,
        media,
      });
      log.info('evidence package ready', {
        caseId: req.caseId,
        exportId: req.exportId,
        bytes,
        files: manifest.files.length,
      });
    } catch (e) {
      log.error('evidence package failed', { caseId: req.caseId, exportId: req.exportId, err: e });
      await sink?.abort().catch(() => undefined);
      await store
        .finishExport(req.exportId, { status: 'failed', error: errText(e).slice(0, 500) })
        .catch((err: unknown) =>
          log.error('could not mark an evidence package failed', { exportId: req.exportId, err }),
        );
    }
  }

  return {
    start(req) {
      if (!SAFE_ID.test(req.exportId)) throw new Error('bad export id');
      const job = build(req).finally(() => running.delete(job));
      running.add(job);
    },
    build,
    fileOf: inDataDir,
    async close() {
      await Promise.allSettled([...running]);
    },
  };
}
