/**
 * The load benchmark's traffic as a test: the real server in a second process on the run's
 * PostgreSQL (the 300-unit building), badges on every reader, carrier codes on the keypads,
 * check-ins, pickups and console users at once for a few seconds. Speed is not judged here
 * (`npm run bench` prints it); what is judged is that under load every answer is the one the
 * credential should get, nothing errs, and every acknowledged event and parcel is stored once.
 */
import { describe, expect, inject, it } from 'vitest';
import { runLoadBench } from '../../bench/load.bench.ts';

const pgBaseUrl = inject('pgBaseUrl');

describe('under sustained load from a second process', () => {
  it('decides every badge and code right and loses no acknowledged event or parcel', async () => {
    const r = await runLoadBench(() => undefined, {
      seconds: 8,
      consoleUsers: 5,
      ...(pgBaseUrl ? { postgresServerUrl: pgBaseUrl } : { pglite: true }),
    });
    for (const c of r.classes) {
      expect(c.requests, c.name).toBeGreaterThan(0);
      expect(c.errors, `${c.name}: ${JSON.stringify(c.errorKinds)}`).toBe(0);
    }
    expect(r.decision.granted.requests).toBeGreaterThan(0);
    expect(r.decision.denied.requests).toBeGreaterThan(0);
    expect(r.decision.keypadGranted.requests).toBeGreaterThan(0);
    expect(r.unexpectedDecisions).toBe(0);
    expect(r.events.acknowledged).toBeGreaterThan(0);
    expect(r.events).toMatchObject({
      storedOfThem: r.events.acknowledged,
      missing: 0,
      duplicates: 0,
    });
    expect(r.parcels.checkedInAcked).toBeGreaterThan(0);
    expect(r.parcels.checkedInFound).toBe(r.parcels.checkedInAcked);
    expect(r.parcels.pickedUpFound).toBe(r.parcels.pickupsAcked);
  }, 240_000);
});
