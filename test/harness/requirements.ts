/**
 * System dependencies of the integration and end-to-end tiers.
 *
 * Under CI (`CI=true`) a missing dependency is an error: tests must never silently skip there.
 * Locally we print a loud warning and return null so the caller can `describe.skipIf(!x)`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { locateFfmpeg, type FfmpegBinary } from '../../vision/ffmpeg.locate.ts';
import { findChromium } from './chromium.ts';
import { findPostgres, type PostgresInstall } from './postgres.server.ts';

export const INSTALL_HINT =
  'apt-get update && apt-get install -y postgresql chromium ffmpeg mosquitto python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad';

export function isCI(): boolean {
  return process.env.CI === 'true';
}

const warned = new Set<string>();

/**
 * Throw under CI; otherwise print a loud warning to stderr (once per process per dependency).
 * `what` is a short name ("PostgreSQL"), `detail` says what was looked for and what gets skipped.
 */
export function reportMissing(what: string, detail: string): void {
  const lines = [`${what} is not available: ${detail}`, `Install it with:  ${INSTALL_HINT}`];
  if (isCI()) {
    throw new Error(
      `${lines.join('\n')}\n(CI=true, so tests that need ${what} may not be skipped.)`,
    );
  }
  if (warned.has(what)) return;
  warned.add(what);
  const bar = '!'.repeat(78);
  process.stderr.write(
    [
      '',
      bar,
      `!!! WARNING: ${what.toUpperCase()} MISSING - TESTS THAT NEED IT ARE SKIPPED`,
      ...lines.map((l) => `!!! ${l}`),
      '!!! These tests are NOT skipped under CI=true; there the run fails instead.',
      bar,
      '',
      '',
    ].join('\n'),
  );
}

/** The PostgreSQL installation, or null (after a loud warning) when missing locally. */
export function requirePostgres(): PostgresInstall | null {
  const found = findPostgres();
  if (found) return found;
  reportMissing(
    'PostgreSQL',
    'no initdb/pg_ctl/postgres in $PARCELROOM_PG_BINDIR, /usr/lib/postgresql/*/bin or $PATH; ' +
      'integration/e2e tests against a real PostgreSQL server are skipped.',
  );
  return null;
}

/** Path of the Chromium executable, or null (after a loud warning) when missing locally. */
export function requireChromium(): string | null {
  const found = findChromium();
  if (found) return found;
  reportMissing(
    'Chromium',
    'no executable at $CHROMIUM_PATH, /usr/bin/chromium or chromium/chromium-browser on $PATH; ' +
      'browser (e2e) tests are skipped.',
  );
  return null;
}

/**
 * For values provided by the global setup (`inject('pgBaseUrl')`, `inject('chromiumPath')`):
 * returns the value, or reports the dependency as missing and returns null.
 */
export function requireProvided<T>(value: T | null | undefined, what: string): T | null {
  if (value !== null && value !== undefined) return value;
  reportMissing(
    what,
    'the global test setup (test/setup/global.setup.ts) did not provide it; it does so only ' +
      "for the 'integration' and 'e2e' projects, and only when it is installed.",
  );
  return null;
}

/**
 * The detector model the vision tests run: PARCELROOM_MODEL, else ../shared/models/yolox_nano.onnx;
 * absolute, because a server started by a test may resolve a relative path elsewhere.
 */
export const TEST_MODEL_PATH = resolvePath(
  process.env.PARCELROOM_MODEL ??
    fileURLToPath(new URL('../../../shared/models/yolox_nano.onnx', import.meta.url)),
);

/** Whether the model file exists; reports it missing otherwise (`skipped`: what is skipped). */
export function requireModel(skipped: string): boolean {
  if (existsSync(TEST_MODEL_PATH)) return true;
  reportMissing(
    'YOLOX-nano model',
    `${TEST_MODEL_PATH} not found (set PARCELROOM_MODEL); ${skipped}.`,
  );
  return false;
}

/** The system ffmpeg with the H.264 encoder synthetic scenes are rendered with, or null. */
export function requireX264(skipped: string): FfmpegBinary | null {
  const ff = locateFfmpeg('system');
  const encoders = ff
    ? spawnSync(ff.path, ['-hide_banner', '-encoders'], { encoding: 'utf8' }).stdout
    : '';
  if (ff && /libx264/.test(encoders)) return ff;
  reportMissing('ffmpeg', `no system ffmpeg with libx264 (apt-get install ffmpeg); ${skipped}.`);
  return null;
}

/** The shared test pictures (`../shared/fixtures/`), absolute. */
export const TEST_FIXTURES_DIR = fileURLToPath(
  new URL('../../../shared/fixtures/', import.meta.url),
);

/** The absolute path of one shared test picture, e.g. `testFixture('person.png')`. */
export function testFixture(name: string): string {
  return resolvePath(TEST_FIXTURES_DIR, name);
}
