/**
 * The server process SIGKILLed during a burst of badges and check-ins, then started again on the
 * same DATA_DIR (the embedded database): every access event, parcel and clip row acknowledged
 * before the kill is there once. The other faults (PostgreSQL outage, camera stream dropped, disk
 * budget, MQTT broker restart) are in faults.test.ts; this one starts two real server processes,
 * so it stays a file of its own and runs beside that one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFormatRegistry, encodeCard, type WiegandFormat } from '../../access/index.ts';
import { login, startServerProcess, type ServerProcess } from '../harness/server.process.ts';
import { makeTempDir, type TempDir } from '../harness/temp-dir.ts';
import { ensureWebBuilt } from '../harness/web-build.ts';

type Json = Record<string, unknown>;
const h10301 = createFormatRegistry().get('H10301') as WiegandFormat;
const GOOD = encodeCard(h10301, { facility: 12, card: 4242 });
const UNKNOWN = encodeCard(h10301, { facility: 12, card: 4243 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Amazon-style labels (no check digit): unique per call. */
let labelNo = 0;
const label = () =>
  `TBA${String(Date.now() % 1e8).padStart(8, '0')}${String(++labelNo).padStart(4, '0')}`;

describe('the server is killed with SIGKILL during a burst', () => {
  let dir: TempDir;
  let server: ServerProcess | undefined;
  const admin = { email: 'admin@example.test', password: 'admin-password-1234' };
  const env = {
    PARCELROOM_ADMIN_EMAIL: admin.email,
    PARCELROOM_ADMIN_PASSWORD: admin.password,
  };

  beforeAll(async () => {
    await ensureWebBuilt();
    dir = await makeTempDir('parcelroom-kill');
  });
  afterAll(async () => {
    await server?.kill();
    await dir?.cleanup();
  });

  it('loses no acknowledged access event, parcel or clip row', async () => {
    ({ server } = await startServerProcess({ dataDir: dir.path, env }));
    const first = server;
    const { cookie } = await login(first.url, admin.email, admin.password);
    const headers = { cookie: cookie!, 'content-type': 'application/json' };
    const resident = (await (
      await fetch(`${first.url}/api/residents`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ name: 'Ann Lee', unit: '4B' }),
      })
    ).json()) as { id: string };
    const card = await fetch(`${first.url}/api/credentials`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        residentId: resident.id,
        kind: 'card',
        format: 'H10301',
        facilityCode: 12,
        cardNumber: 4242,
      }),
    });
    expect(card.status).toBe(201);

    // Four readers' worth of traffic and a desk checking parcels in at once; the kill lands while
    // requests are in flight.
    const acked: string[] = [];
    const parcelsAcked: string[] = [];
    let killed = false;
    const loop = async (n: number) => {
      for (let i = 0; !killed; i++) {
        try {
          const res = await fetch(`${first.url}/api/sim/readers/front-reader/wiegand`, {
            method: 'POST',
            headers,
            body: JSON.stringify({ bits: (i + n) % 4 === 0 ? UNKNOWN : GOOD }),
          });
          if (res.status !== 200) continue;
          const body = (await res.json()) as Json;
          if (typeof body.eventId === 'string') acked.push(body.eventId);
        } catch {
          return; // the server is gone
        }
      }
    };
    const desk = async () => {
      while (!killed) {
        try {
          const res = await fetch(`${first.url}/api/packages`, {
            method: 'POST',
            headers,
            body: JSON.stringify({
              trackingNumber: label(),
              carrier: 'Amazon',
              residentId: resident.id,
              size: 'standard',
            }),
          });
          if (res.status !== 201) continue;
          parcelsAcked.push(((await res.json()) as { id: string }).id);
        } catch {
          return;
        }
      }
    };
    const loops = [0, 1, 2, 3].map(loop);
    const deskLoop = desk();
    while (acked.length < 100) await sleep(5);
    // A clip asked for mid-burst leaves its row (pending while the window is still to come, or
    // missing while the demo camera is not recording yet): it must survive the kill.
    const clipAsked = acked[0]!;
    const clip = await fetch(`${first.url}/api/events/${clipAsked}/clip`, { headers });
    expect([200, 404, 409]).toContain(clip.status);
    while (acked.length < 200 || parcelsAcked.length < 5) await sleep(5);
    killed = true;
    await first.kill();
    await Promise.all([...loops, deskLoop]);
    expect(first.exitStatus()?.signal ?? 'SIGKILL').toBe('SIGKILL');
    const ackedAtKill = [...acked];
    const parcelsAtKill = [...parcelsAcked];

    ({ server } = await startServerProcess({ dataDir: dir.path, env }));
    const again = await login(server.url, admin.email, admin.password);
    const seen = new Map<string, number>();
    const clipStatus = new Map<string, unknown>();
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      seen.clear();
      let cursor: string | undefined;
      do {
        const page = (await (
          await fetch(
            `${server.url}/api/events?type=access&limit=500${cursor ? `&cursor=${cursor}` : ''}`,
            { headers: { cookie: again.cookie! } },
          )
        ).json()) as { items: Json[]; nextCursor?: string };
        for (const e of page.items) {
          seen.set(String(e.id), (seen.get(String(e.id)) ?? 0) + 1);
          clipStatus.set(String(e.id), e.clipStatus);
        }
        cursor = page.nextCursor;
      } while (cursor);
      if (ackedAtKill.every((id) => seen.has(id))) break;
      await sleep(100);
    }
    const missing = ackedAtKill.filter((id) => !seen.has(id));
    expect(missing).toEqual([]);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(ackedAtKill.length).toBeGreaterThanOrEqual(200);

    // Every check-in answered 201 is there once, still waiting on its shelf.
    const list = (await (
      await fetch(`${server.url}/api/packages?limit=2000`, {
        headers: { cookie: again.cookie! },
      })
    ).json()) as { items: { id: string; status: string }[] };
    const parcelIds = list.items.map((p) => p.id);
    expect(parcelsAtKill.length).toBeGreaterThanOrEqual(5);
    expect(parcelsAtKill.filter((id) => !parcelIds.includes(id))).toEqual([]);
    expect(new Set(parcelIds).size).toBe(parcelIds.length);
    expect(list.items.every((p) => p.status === 'checked_in')).toBe(true);
    // The clip row of the event asked for before the kill.
    expect(['pending', 'ready', 'missing']).toContain(clipStatus.get(clipAsked));
  });
});
