/**
 * Debian's Chromium (`apt-get install -y chromium`, /usr/bin/chromium) driven by playwright-core.
 * playwright-core ships no browser of its own; we always point it at the system binary.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { chromium, type BrowserContext, type BrowserType } from 'playwright-core';
import { makeTempDir } from './temp-dir.ts';

export type PersistentContextOptions = NonNullable<
  Parameters<BrowserType['launchPersistentContext']>[1]
>;

export interface LaunchedChromium {
  context: BrowserContext;
  /** Close the browser and remove its temp profile. Idempotent. */
  close(): Promise<void>;
}

/** Flags that make Chromium start quickly and quietly in a container (we may be root). */
export const CHROMIUM_ARGS: readonly string[] = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Path of a Chromium executable: `$CHROMIUM_PATH`, /usr/bin/chromium, or `chromium` /
 * `chromium-browser` on `$PATH`. Returns null when none is installed.
 */
export function findChromium(): string | null {
  const candidates: string[] = [];
  if (process.env.CHROMIUM_PATH) candidates.push(process.env.CHROMIUM_PATH);
  candidates.push('/usr/bin/chromium');
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    candidates.push(join(dir, 'chromium'), join(dir, 'chromium-browser'));
  }
  return candidates.find(isExecutable) ?? null;
}

/**
 * Launch headless Chromium with a fresh temp profile. Extra Playwright context options (viewport,
 * baseURL, locale, ...) may be passed; `args` are appended to {@link CHROMIUM_ARGS}.
 */
export async function launchChromium(
  options: PersistentContextOptions = {},
): Promise<LaunchedChromium> {
  const executablePath = options.executablePath ?? findChromium();
  if (!executablePath) {
    throw new Error(
      'Chromium not found. Install it with: apt-get update && apt-get install -y chromium',
    );
  }
  const profile = await makeTempDir('parcelroom-chromium');
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile.path, {
      timeout: 60_000,
      ...options,
      executablePath,
      headless: true,
      args: [...CHROMIUM_ARGS, ...(options.args ?? [])],
    });
  } catch (err) {
    await profile.cleanup();
    throw err;
  }
  let closing: Promise<void> | undefined;
  return {
    context,
    close: () => {
      closing ??= (async () => {
        try {
          await context.close();
        } finally {
          await profile.cleanup();
        }
      })();
      return closing;
    },
  };
}
