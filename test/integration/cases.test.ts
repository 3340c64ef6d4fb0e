/**
 * Incident cases end to end on the composed server, PGlite and PostgreSQL: a resident badges in
 * through the simulated reader, the room camera's recording is real H.264 made by ffmpeg (the
 * recorder's segment flags) and indexed as `recordings` rows, a flag with its snapshot and a
 * parcel join the case, and the evidence package is built by the real clip service, downloaded,
 * unzipped and verified; one changed byte makes it fail. Retention runs through the composed
 * job: the case keeps its video while open and lets it go once closed.
 */
import { execFile, spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { and, eq, isNull } from 'drizzle-orm';
import { strFromU8, unzipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFormatRegistry, encodeCard, type WiegandFormat } from '../../access/index.ts';
import { accessEvents, newId, recordings, visionFlags } from '../../db/index.ts';
import { demoSite, parseSite } from '../../server/config/index.ts';
import { rezip } from '../../server/cases/evidence.tamper.ts';
import {
  createSigningKeys,
  loadSigningKey,
  verifyEvidenceZip,
  type Manifest,
} from '../../server/cases/index.ts';
import { locateFfmpeg } from '../../vision/ffmpeg.locate.ts';
import { createTestApp, databaseKinds, type TestApp } from '../harness/app.harness.ts';
import { reportMissing } from '../harness/requirements.ts';
import { makeTempDir, type TempDir } from '../harness/temp-dir.ts';

type Json = Record<string, unknown>;
const json = async (res: Response) => (await res.json()) as Json;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SNAPSHOT_FIXTURE = fileURLToPath(
  new URL('../../../shared/fixtures/street_dog_bicycle_car.jpg', import.meta.url),
);
const CAM = 'room-cam';
const SEGMENT_S = 2;
const SEGMENTS = 5;
/** A name a spreadsheet would run as a formula. */
const ANN = '=HYPERLINK("http://evil.test"), Ann';
const TITLE = '<script>alert(1)</script> Parcel taken from 4B';
const formats = createFormatRegistry();

function systemFfmpeg() {
  const ff = locateFfmpeg('system');
  const encoders = ff
    ? spawnSync(ff.path, ['-hide_banner', '-encoders'], { encoding: 'utf8' }).stdout
    : '';
  if (ff && /libx264/.test(encoders)) return ff;
  reportMissing(
    'ffmpeg',
    'no system ffmpeg with libx264 (apt-get install ffmpeg); the case tests are skipped.',
  );
  return null;
}
const ffmpeg = systemFfmpeg();

/** Ten seconds of the room camera, 2 s segments: front keeps 2 s before and 4 s after an entry. */
const site = (() => {
  const raw = demoSite() as Record<string, unknown> & { doors: Record<string, unknown>[] };
  return parseSite(
    {
      ...raw,
      doors: [{ ...raw.doors[0], clipBeforeMs: 2_000, clipAfterMs: 4_000 }],
      recording: { segmentSeconds: SEGMENT_S, retainDays: 1 },
    },
    'cases test',
  );
})();

/** Runs `npx tsx scripts/evidence-verify.ts` as an auditor would. */
function runVerify(args: string[]): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve) => {
    execFile(
      'npx',
      ['tsx', 'scripts/evidence-verify.ts', ...args],
      { cwd: ROOT, timeout: 60_000, encoding: 'utf8' },
      (err, stdout) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout }),
    );
  });
}

describe.runIf(ffmpeg)('incident cases and evidence packages', () => {
  let source: TempDir;
  let segmentNames: string[];

  beforeAll(async () => {
    source = await makeTempDir('parcelroom-case-video');
    const made = spawnSync(
      ffmpeg!.path,
      [
        ...['-hide_banner', '-nostdin', '-v', 'error', '-f', 'lavfi'],
        ...['-i', `testsrc2=size=160x120:rate=10:duration=${SEGMENT_S * SEGMENTS}`],
        ...['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-bf', '0'],
        ...['-g', '10', '-keyint_min', '10', '-sc_threshold', '0'],
        ...['-f', 'segment', '-segment_time', String(SEGMENT_S), '-reset_timestamps', '1'],
        ...['-segment_format', 'mp4'],
        ...['-segment_format_options', 'movflags=+frag_keyframe+empty_moov+default_base_moof'],
        join(source.path, 'seg-%03d.mp4'),
      ],
      { encoding: 'utf8' },
    );
    expect(made.status, made.stderr).toBe(0);
    segmentNames = (await readdir(source.path)).filter((n) => n.endsWith('.mp4')).sort();
    expect(segmentNames).toHaveLength(SEGMENTS);
  }, 60_000);

  afterAll(async () => {
    await source?.cleanup();
  });

  describe.each(databaseKinds())('on %s', (kind) => {
    let t: TestApp;
    let staff: string;
    let manager: string;
    let admin: string;
    let entryId: string;
    let forcedId: string;
    let flagId: string;
    let parcelId: string;
    let caseId: string;
    let zip: Uint8Array;
    const segmentPaths: string[] = [];

    const call = (method: string, path: string, cookie?: string, body?: unknown) =>
      t.call(method, path, {
        ...(cookie ? { cookie } : {}),
        ...(body !== undefined ? { body } : {}),
      });

    beforeAll(async () => {
      // Three days ago on the recorders' (real) clock: past `retainDays` unless a case keeps it.
      const start = Math.floor((Date.now() - 3 * 86_400_000) / 1000) * 1000;
      t = await createTestApp(kind, { site, clockStart: start });
      [staff, manager, admin] = await Promise.all([
        t.login('staff'),
        t.login('manager'),
        t.login('admin'),
      ]);
      const resident = await json(
        await call('POST', '/api/residents', manager, { name: ANN, unit: '4B' }),
      );
      const card = await call('POST', '/api/credentials', manager, {
        residentId: resident.id,
        kind: 'card',
        format: 'H10301',
        facilityCode: 12,
        cardNumber: 4343,
      });
      expect(card.status).toBe(201);
      await t.services.snapshot.refresh();
      t.clock.advance(1_000);
      const bits = encodeCard(formats.get('H10301') as WiegandFormat, { facility: 12, card: 4343 });
      const swipe = await call('POST', '/api/sim/readers/front-reader/wiegand', staff, { bits });
      expect(await json(swipe)).toMatchObject({ decision: 'granted' });
      const entryAt = t.clock.now();

      // The room camera's recording from 4 s before the entry to 6 s after it.
      const db = t.database.db;
      const dir = join(t.dataDir, 'recordings', CAM);
      await mkdir(dir, { recursive: true });
      let at = entryAt - 4_000;
      for (const name of segmentNames) {
        await copyFile(join(source.path, name), join(dir, name));
        const path = `recordings/${CAM}/${name}`;
        segmentPaths.push(path);
        await db.insert(recordings).values({
          id: newId(at),
          siteId: site.site.id,
          cameraId: CAM,
          path,
          startAt: new Date(at),
          endAt: new Date(at + SEGMENT_S * 1000),
          bytes: (await readFile(join(dir, name))).length,
        });
        at += SEGMENT_S * 1000;
      }

      // A tailgating flag with its snapshot, inside the recording.
      flagId = newId(entryAt + 2_000);
      await mkdir(join(t.dataDir, 'flags'), { recursive: true });
      await copyFile(SNAPSHOT_FIXTURE, join(t.dataDir, 'flags', `${flagId}.jpg`));
      await db.insert(visionFlags).values({
        id: flagId,
        siteId: site.site.id,
        kind: 'tailgating',
        cameraId: CAM,
        doorId: 'front',
        at: new Date(entryAt + 2_000),
        clipStartAt: new Date(entryAt + 1_000),
        clipEndAt: new Date(entryAt + 3_000),
        snapshotPath: `flags/${flagId}.jpg`,
      });

      // A parcel checked in a minute later, when nothing was recorded; then the door forced.
      t.clock.advance(60_000);
      const parcel = await call('POST', '/api/packages', staff, {
        trackingNumber: '1Z999AA10123456784',
        carrier: 'UPS',
        residentId: resident.id,
        size: 'standard',
      });
      expect(parcel.status).toBe(201);
      parcelId = (await json(parcel)).id as string;
      t.clock.advance(10_000);
      await call('POST', '/api/sim/doors/front/contact', staff, { state: 'open' });
      await call('POST', '/api/sim/doors/front/contact', staff, { state: 'closed' });
      // Past every clip window: the clips are final.
      t.clock.advance(120_000);
      await t.services.journal.drained();
      const events = await db
        .select()
        .from(accessEvents)
        .where(eq(accessEvents.siteId, site.site.id));
      entryId = events.find((e) => e.type === 'access')!.id;
      forcedId = events.find((e) => e.type === 'forced_open')!.id;
    });

    afterAll(async () => {
      await t?.close();
    });

    it('refuses callers without a session (401) and staff (403) on every route', async () => {
      const id = newId();
      const routes: [string, string, unknown?][] = [
        ['GET', '/api/cases'],
        ['POST', '/api/cases', { title: 'x' }],
        ['GET', `/api/cases/${id}`],
        ['PATCH', `/api/cases/${id}`, { status: 'closed' }],
        ['POST', `/api/cases/${id}/items`, { kind: 'event', refId: id }],
        ['DELETE', `/api/cases/${id}/items/${id}`],
        ['POST', `/api/cases/${id}/exports`],
        ['GET', `/api/cases/${id}/exports/${id}`],
        ['GET', `/api/cases/${id}/exports/${id}/download`],
        ['GET', '/api/evidence/keys'],
        ['GET', '/api/audit/saved-searches'],
        ['POST', '/api/audit/saved-searches', { name: 'x', query: {} }],
        ['DELETE', `/api/audit/saved-searches/${id}`],
      ];
      for (const [method, path, body] of routes) {
        const anonymous = await call(method, path, undefined, body);
        expect(`${method} ${path} ${anonymous.status}`).toBe(`${method} ${path} 401`);
        const denied = await call(method, path, staff, body);
        expect(`${method} ${path} ${denied.status}`).toBe(`${method} ${path} 403`);
        expect(await json(denied)).toMatchObject({ error: { code: 'forbidden' } });
      }
    });

    it('builds a case of an entry, a flag, a parcel and an alarm', async () => {
      const bad = await call('POST', '/api/cases', manager, { title: '  ' });
      expect(bad.status).toBe(400);
      expect(await json(bad)).toMatchObject({ error: { field: 'title' } });
      const created = await call('POST', '/api/cases', manager, {
        title: TITLE,
        description: 'Ann says her parcel was gone on Tuesday.',
      });
      expect(created.status).toBe(201);
      caseId = (await json(created)).id as string;

      const add = (body: Json) => call('POST', `/api/cases/${caseId}/items`, manager, body);
      const first = await add({ kind: 'event', refId: entryId, note: 'her entry' });
      expect(first.status).toBe(201);
      const itemId = (await json(first)).id;
      // The same entry again: the item that is there, not a second one.
      const again = await add({ kind: 'event', refId: entryId });
      expect(again.status).toBe(200);
      expect((await json(again)).id).toBe(itemId);
      expect((await add({ kind: 'flag', refId: flagId, note: 'two people' })).status).toBe(201);
      expect((await add({ kind: 'package', refId: parcelId })).status).toBe(201);
      expect((await add({ kind: 'alarm', refId: forcedId })).status).toBe(201);
      // Refs that are not there, or not of that kind, are 404 naming the ref.
      for (const body of [
        { kind: 'event', refId: newId() },
        { kind: 'flag', refId: entryId },
        { kind: 'package', refId: flagId },
        { kind: 'alarm', refId: entryId },
      ]) {
        const res = await add(body);
        expect(res.status).toBe(404);
        expect(await json(res)).toMatchObject({ error: { code: 'ref_not_found', field: 'refId' } });
      }
      const badKind = await add({ kind: 'camera', refId: entryId });
      expect(badKind.status).toBe(400);
      expect(await json(badKind)).toMatchObject({ error: { field: 'kind' } });

      const detail = await json(await call('GET', `/api/cases/${caseId}`, manager));
      expect(detail).toMatchObject({
        id: caseId,
        title: TITLE,
        status: 'open',
        createdBy: t.users.manager.id,
        createdByName: 'manager',
      });
      const items = detail.items as Json[];
      expect(items.map((i) => i.kind)).toEqual(['event', 'flag', 'package', 'alarm']);
      expect(items[0]).toMatchObject({
        refId: entryId,
        note: 'her entry',
        addedByName: 'manager',
        entry: {
          id: entryId,
          type: 'access',
          decision: 'granted',
          doorId: 'front',
          resident: { name: ANN, unit: '4B' },
          clipUrl: `/api/events/${entryId}/clip`,
        },
      });
      expect(items[1]).toMatchObject({
        entry: { source: 'flag', type: 'tailgating', snapshotUrl: `/api/flags/${flagId}/snapshot` },
      });
      expect(items[2]).toMatchObject({
        entry: {
          type: 'package_checked_in',
          packageId: parcelId,
          trackingNumber: '1Z999AA10123456784',
        },
      });
      const list = await json(await call('GET', '/api/cases?status=open', manager));
      expect(list.items).toEqual([
        expect.objectContaining({ id: caseId, itemCount: 4, exportCount: 0, status: 'open' }),
      ]);
      expect((await json(await call('GET', '/api/cases?status=closed', manager))).items).toEqual(
        [],
      );
    });

    it('exports a signed package that verifies, and fails verification after one changed byte', async () => {
      const started = await call('POST', `/api/cases/${caseId}/exports`, manager);
      expect(started.status).toBe(202);
      const { id: exportId, status } = await json(started);
      expect(status).toBe('building');
      await t.services.cases.exporter.close();
      const row = await json(
        await call('GET', `/api/cases/${caseId}/exports/${exportId}`, manager),
      );
      expect(row).toMatchObject({ id: exportId, status: 'ready' });

      const res = await call('GET', row.downloadUrl as string, manager);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/zip');
      expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename=".+\.zip"$/);
      zip = new Uint8Array(await res.arrayBuffer());
      expect(zip.length).toBe(row.bytes);

      const keys = (await json(await call('GET', '/api/evidence/keys', manager))).items as Json[];
      expect(keys).toHaveLength(1);
      const sitePem = keys[0]!.publicKeyPem as string;
      const verdict = verifyEvidenceZip(zip, { trustedKeys: [sitePem] });
      expect(verdict.problems).toEqual([]);
      expect(verdict).toMatchObject({ ok: true, signedBy: keys[0]!.id });

      const manifest = verdict.manifest as Manifest;
      expect(manifest).toMatchObject({
        site: { id: 'demo' },
        case: { id: caseId, title: TITLE },
        export: { id: exportId, createdBy: t.users.manager.email },
        keyId: keys[0]!.id,
      });
      const paths = manifest.files.map((f) => f.path);
      expect(paths).toEqual(
        expect.arrayContaining([
          `clips/event-${entryId}.mp4`,
          `clips/flag-${flagId}.mp4`,
          `snapshots/flag-${flagId}.jpg`,
          'report.html',
          'timeline.csv',
          'README.txt',
          'public-key.pem',
          'SHA256SUMS',
        ]),
      );
      // The parcel's check-in and the forced door were not recorded: said, not failed.
      const parcelItem = manifest.items.find((i) => i.kind === 'package')!;
      expect(parcelItem.clips).toEqual([]);
      expect(parcelItem.problems.join(' ')).toMatch(/no video/);
      expect(manifest.media.map((m) => m.path).sort()).toEqual(
        [`clips/event-${entryId}.mp4`, `clips/flag-${flagId}.mp4`].sort(),
      );

      const files = unzipSync(zip);
      const clip = files[`clips/event-${entryId}.mp4`]!;
      expect(strFromU8(clip.subarray(4, 8))).toBe('ftyp');
      const report = strFromU8(files['report.html']!);
      expect(report).toContain('&lt;script&gt;alert(1)&lt;/script&gt; Parcel taken from 4B');
      expect(report).not.toContain('<script>');
      expect(report).toContain(`href="clips/event-${entryId}.mp4"`);
      expect(report).toContain(`src="snapshots/flag-${flagId}.jpg"`);
      const csv = strFromU8(files['timeline.csv']!);
      expect(csv).toContain(`"'=HYPERLINK(""http://evil.test""), Ann"`);
      expect(csv).not.toMatch(/(^|,)=HYPERLINK/m);

      // One byte of the clip changed and re-zipped: the hash gives it away.
      const tampered = rezip(zip, (f) => {
        const changed = Uint8Array.from(clip);
        changed[changed.length - 10] = changed[changed.length - 10]! ^ 0xff;
        f[`clips/event-${entryId}.mp4`] = changed;
      });
      const broken = verifyEvidenceZip(tampered, { trustedKeys: [sitePem] });
      expect(broken.ok).toBe(false);
      expect(broken.problems).toEqual([
        expect.objectContaining({ kind: 'hash_mismatch', path: `clips/event-${entryId}.mp4` }),
      ]);

      // Who packaged and downloaded it is in the admins' list of views and exports.
      const views = await json(await call('GET', '/api/audit/views?targetType=case_export', admin));
      expect(
        (views.items as Json[]).map((v) => [v.action, v.targetId, (v.details as Json).step]),
      ).toEqual([
        ['audit.export', exportId, 'downloaded'],
        ['audit.export', exportId, 'requested'],
      ]);

      if (kind === 'pglite') {
        // The verify command as an auditor runs it: intact 0, tampered 1, no file 2.
        const out = await makeTempDir('parcelroom-evidence');
        try {
          await writeFile(join(out.path, 'good.zip'), zip);
          await writeFile(join(out.path, 'bad.zip'), tampered);
          await writeFile(join(out.path, 'site.pem'), sitePem);
          const [good, bad, usage] = await Promise.all([
            runVerify([join(out.path, 'good.zip'), '--key', join(out.path, 'site.pem')]),
            runVerify([join(out.path, 'bad.zip')]),
            runVerify([]),
          ]);
          expect(good.code, good.stdout).toBe(0);
          expect(good.stdout).toMatch(/^ok: /m);
          expect(bad.code, bad.stdout).toBe(1);
          expect(bad.stdout).toContain(`hash_mismatch: clips/event-${entryId}.mp4`);
          expect(usage.code).toBe(2);
        } finally {
          await out.cleanup();
        }
      }
    });

    it('lists every key it signed with and marks the replaced one retired', async () => {
      const current = loadSigningKey(t.dataDir, undefined);
      const replaced = createSigningKeys({
        db: t.database.db,
        siteId: site.site.id,
        clock: t.clock,
        load: () => loadSigningKey(t.dataDir, generatedPem()),
      });
      const next = await replaced.current();
      const keys = (await json(await call('GET', '/api/evidence/keys', manager))).items as Json[];
      expect(keys.map((k) => [k.id, 'retiredAt' in k])).toEqual(
        expect.arrayContaining([
          [current.id, true],
          [next.id, false],
        ]),
      );
      // The old package still verifies against the retired key.
      const old = keys.find((k) => k.id === current.id)!.publicKeyPem as string;
      expect(verifyEvidenceZip(zip, { trustedKeys: [old] }).ok).toBe(true);
      expect(verifyEvidenceZip(zip, { trustedKeys: [next.publicKeyPem] }).ok).toBe(false);
    });

    it('answers 404 for ids that try to leave their folder, and 409 on a closed case', async () => {
      for (const path of [
        `/api/cases/..%2F..%2Fevidence-signing.key`,
        `/api/cases/${caseId}/exports/..%2F..%2Fevidence-signing.key`,
        `/api/cases/${caseId}/exports/..%2F..%2Fevidence-signing.key/download`,
        `/api/cases/%2e%2e/exports/x/download`,
        `/api/cases/${caseId}/exports/%2e%2e%2fexports/download`,
      ]) {
        const res = await call('GET', path, manager);
        expect(`${path} ${res.status}`).toBe(`${path} 404`);
      }
      const traversingItem = await call(
        'DELETE',
        `/api/cases/${caseId}/items/..%2F..%2Fx`,
        manager,
      );
      expect(traversingItem.status).toBe(404);

      const closed = await call('PATCH', `/api/cases/${caseId}`, manager, { status: 'closed' });
      expect(closed.status).toBe(200);
      expect(await json(closed)).toMatchObject({ status: 'closed', closedAt: expect.any(String) });
      const add = await call('POST', `/api/cases/${caseId}/items`, manager, {
        kind: 'event',
        refId: forcedId,
      });
      expect(add.status).toBe(409);
      expect(await json(add)).toMatchObject({ error: { code: 'case_closed' } });
      const detail = await json(await call('GET', `/api/cases/${caseId}`, manager));
      const item = (detail.items as Json[])[0]!;
      const remove = await call('DELETE', `/api/cases/${caseId}/items/${item.id}`, manager);
      expect(remove.status).toBe(409);
      // A closed case can still be read and exported: evidence is often asked for later.
      expect((await call('POST', `/api/cases/${caseId}/exports`, manager)).status).toBe(202);
      await t.services.cases.exporter.close();
      const reopened = await call('PATCH', `/api/cases/${caseId}`, manager, { status: 'open' });
      const reopenedCase = await json(reopened);
      expect(reopenedCase).toMatchObject({ status: 'open' });
      expect(reopenedCase.closedAt).toBeUndefined();
    });

    it("keeps the case's recordings from retention while open and lets them go when closed", async () => {
      // The flag is dismissed: only the case keeps its video now.
      const review = await call('POST', `/api/flags/${flagId}/review`, staff, {
        status: 'dismissed',
      });
      expect(review.status).toBe(200);
      const liveSegments = async () =>
        (
          await t.database.db
            .select({ path: recordings.path })
            .from(recordings)
            .where(and(eq(recordings.cameraId, CAM), isNull(recordings.deletedAt)))
        )
          .map((r) => r.path)
          .sort();
      const open = await t.services.retention.runOnce();
      expect(open.protectedKept).toBe(SEGMENTS);
      expect(await liveSegments()).toEqual(segmentPaths);

      expect(
        (await call('PATCH', `/api/cases/${caseId}`, manager, { status: 'closed' })).status,
      ).toBe(200);
      const closed = await t.services.retention.runOnce();
      expect(closed).toMatchObject({ deletedSegments: SEGMENTS, protectedKept: 0 });
      expect(await liveSegments()).toEqual([]);
    });

    it("keeps each manager's saved audit searches to themselves", async () => {
      const save = (cookie: string, body: unknown) =>
        call('POST', '/api/audit/saved-searches', cookie, body);
      const mine = await save(manager, {
        name: '4B parcels',
        query: { unit: '4B', type: 'package_picked_up' },
      });
      expect(mine.status).toBe(201);
      const mineId = (await json(mine)).id as string;
      const bad = await save(manager, { name: 'x', query: { from: 'yesterday' } });
      expect(bad.status).toBe(400);
      expect(await json(bad)).toMatchObject({ error: { field: 'query.from' } });
      expect((await save(manager, { name: 'x', query: { cursor: 'abc' } })).status).toBe(400);
      expect((await save(manager, { name: '', query: {} })).status).toBe(400);
      const theirs = await save(admin, {
        name: 'alarms',
        query: { type: ['forced_open', 'held_open'] },
      });
      expect(theirs.status).toBe(201);
      const list = await json(await call('GET', '/api/audit/saved-searches', manager));
      expect(list.items).toEqual([
        {
          id: mineId,
          name: '4B parcels',
          query: { unit: '4B', type: 'package_picked_up' },
          createdAt: expect.any(String),
        },
      ]);
      // Someone else's is not there for them: 404, and it stays.
      const other = (await json(theirs)).id as string;
      expect((await call('DELETE', `/api/audit/saved-searches/${other}`, manager)).status).toBe(
        404,
      );
      expect((await call('DELETE', '/api/audit/saved-searches/..%2Fx', manager)).status).toBe(404);
      expect((await call('DELETE', `/api/audit/saved-searches/${mineId}`, manager)).status).toBe(
        200,
      );
      expect((await json(await call('GET', '/api/audit/saved-searches', manager))).items).toEqual(
        [],
      );
      expect(
        ((await json(await call('GET', '/api/audit/saved-searches', admin))).items as Json[]).map(
          (s) => s.id,
        ),
      ).toEqual([other]);
    });
  });
});

function generatedPem(): string {
  return generateKeyPairSync('ed25519')
    .privateKey.export({ type: 'pkcs8', format: 'pem' })
    .toString();
}
