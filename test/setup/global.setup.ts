/**
 * Vitest global setup: one PostgreSQL server for the whole run, shared by the integration and e2e
 * projects, plus the location of the system Chromium. Tests read them with
 * `inject('pgBaseUrl')`, `inject('pgVersion')` and `inject('chromiumPath')` (see provided.d.ts).
 *
 * Vitest calls this once per project taking part in the run, plus once for the root project.
 * PostgreSQL is only started for projects that need it (so a unit-only run never starts it), and
 * the server is shared between those projects through a process-wide singleton, reference counted
 * so the last project's teardown stops it.
 */
import type { TestProject } from 'vitest/node';
import { findChromium } from '../harness/chromium.ts';
import { startPostgres, type PostgresServer } from '../harness/postgres.server.ts';
import { requireChromium, requirePostgres } from '../harness/requirements.ts';

/** Projects whose tests talk to a real PostgreSQL server and may drive Chromium. */
const NEEDS_SYSTEM_DEPS = new Set(['integration', 'e2e']);

interface SharedPostgres {
  server: Promise<PostgresServer | null> | null;
  refs: number;
}

// Each project loads this file through its own module runner, so module state is per project;
// the server is kept on globalThis to share it across all of them.
const SHARED_KEY = Symbol.for('parcelroom.test.sharedPostgres');

function shared(): SharedPostgres {
  const g = globalThis as typeof globalThis & { [SHARED_KEY]?: SharedPostgres };
  g[SHARED_KEY] ??= { server: null, refs: 0 };
  return g[SHARED_KEY];
}

async function acquirePostgres(): Promise<PostgresServer | null> {
  const state = shared();
  state.refs++;
  state.server ??= (async () => {
    const install = requirePostgres(); // throws under CI=true, warns loudly otherwise
    if (!install) return null;
    const started = Date.now();
    const server = await startPostgres({ install });
    process.stderr.write(
      `[global setup] PostgreSQL ${install.version} on ${server.url} ` +
        `(started in ${Date.now() - started} ms)\n`,
    );
    return server;
  })();
  try {
    return await state.server;
  } catch (err) {
    state.refs--;
    state.server = null;
    throw err;
  }
}

async function releasePostgres(): Promise<void> {
  const state = shared();
  state.refs--;
  if (state.refs > 0 || !state.server) return;
  const pending = state.server;
  state.server = null;
  const server = await pending.catch(() => null);
  await server?.stop();
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  if (!NEEDS_SYSTEM_DEPS.has(project.name)) {
    // Root project and unit tests: nothing is started; Chromium's location is free to look up.
    project.provide('pgBaseUrl', null);
    project.provide('pgVersion', null);
    project.provide('chromiumPath', findChromium());
    return;
  }

  project.provide('chromiumPath', requireChromium());
  const server = await acquirePostgres();
  project.provide('pgBaseUrl', server?.url ?? null);
  project.provide('pgVersion', server?.install.version ?? null);

  let released = false;
  return async () => {
    if (released) return;
    released = true;
    await releasePostgres();
  };
}
