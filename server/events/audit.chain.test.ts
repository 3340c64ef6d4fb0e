import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  asStoredJson,
  canonicalJson,
  chainHash,
  chainStart,
  formatVerdict,
  verifyChain,
  type ChainBreak,
  type ChainHead,
  type ChainRow,
  type ChainVerdict,
  type VerifyChainOptions,
} from './audit.chain.ts';

const SITE = 'elm-street';
const T0 = Date.UTC(2026, 10, 21, 9, 0, 0);

/** A valid chain of `n` events for SITE, started after `unchained` events without a place. */
function makeChain(n: number, unchained = 0): ChainRow[] {
  const rows: ChainRow[] = [];
  let prev = chainStart(SITE, unchained);
  for (let seq = 1; seq <= n; seq++) {
    const fields = {
      id: `ev-${seq}`,
      siteId: SITE,
      at: new Date(T0 + seq * 1_000),
      type: seq % 2 ? 'access' : 'door_opened',
      doorId: 'front',
      readerId: seq % 2 ? 'front-reader' : null,
      decision: seq % 2 ? 'granted' : null,
      reason: seq % 2 ? 'granted' : null,
      residentId: seq % 2 ? 'res-4b' : null,
      staffId: null,
      credentialId: seq % 2 ? 'cred-1' : null,
      carrierCodeId: null,
      packageId: null,
      cameraId: null,
      details: { card: 1000 + seq, format: 'H10301' },
    };
    const hash = chainHash(prev, seq, fields);
    rows.push({ ...fields, seq, prevHash: prev, hash });
    prev = hash;
  }
  return rows;
}

const headOf = (rows: ChainRow[], unchained = 0): ChainHead => ({
  seq: rows.at(-1)?.seq ?? 0,
  hash: rows.at(-1)?.hash ?? chainStart(SITE, unchained),
  unchainedEvents: unchained,
});

async function* iterate(rows: readonly ChainRow[]): AsyncGenerator<ChainRow> {
  for (const r of rows) yield r;
}

function verify(rows: ChainRow[], opts: Partial<VerifyChainOptions> = {}): Promise<ChainVerdict> {
  return verifyChain(iterate(rows), {
    siteId: SITE,
    unchainedEvents: 0,
    head: headOf(rows),
    ...opts,
  });
}

function brokenAt(v: ChainVerdict): ChainBreak {
  if (v.ok) throw new Error(`expected a broken chain, got ${formatVerdict(v)}`);
  return v.break;
}

/** Recomputes a row's hash after its seq or fields were set, as a forger with SQL access would. */
function reseal(row: ChainRow, prevHash: string): ChainRow {
  return { ...row, prevHash, hash: chainHash(prevHash, row.seq, row) };
}

describe('canonicalJson', () => {
  it('sorts object keys at every depth, keeps array order and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: true, y: null }], c: 'x' } })).toBe(
      '{"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1}',
    );
  });

  it('orders keys by UTF-16 code units, as JavaScript sorts strings', () => {
    expect(canonicalJson({ é: 1, Z: 2, a: 3, _: 4, '10': 5, '9': 6 })).toBe(
      '{"10":5,"9":6,"Z":2,"_":4,"a":3,"é":1}',
    );
  });

  it('escapes strings exactly as JSON.stringify does', () => {
    const s = 'quote " backslash \\ newline \n tab \t nul \u0001 snowman ☃';
    expect(canonicalJson(s)).toBe(JSON.stringify(s));
  });

  it('refuses what JSON cannot hold, naming where', () => {
    expect(() => canonicalJson({ a: undefined })).toThrow(/\$\.a: a undefined/);
    expect(() => canonicalJson({ a: [1, Number.NaN] })).toThrow(/\$\.a\[1\]: NaN/);
    expect(() => canonicalJson(Infinity)).toThrow(/Infinity is not a JSON number/);
    expect(() => canonicalJson({ n: 10n })).toThrow(/a bigint/);
    expect(() => canonicalJson({ at: new Date(T0) })).toThrow(/not a plain JSON object/);
    const loop: Record<string, unknown> = {};
    loop.self = loop;
    expect(() => canonicalJson(loop)).toThrow(/circular/);
  });

  it('accepts the same object twice when it is not a cycle', () => {
    const shared = { k: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"k":1},"b":{"k":1}}');
  });
});

describe('asStoredJson', () => {
  it('gives what the jsonb column will hand back: undefined dropped, dates as text', () => {
    expect(asStoredJson({ a: undefined, at: new Date(T0), n: [undefined, 1] })).toEqual({
      at: new Date(T0).toISOString(),
      n: [null, 1],
    });
    expect(asStoredJson(undefined)).toBeNull();
  });
});

describe('chainHash', () => {
  it('is SHA-256 of prev_hash, a newline and the canonical stored event (format v1)', () => {
    const prev = 'a'.repeat(64);
    const fields = {
      id: 'ev-1',
      siteId: SITE,
      at: new Date(T0),
      type: 'access',
      doorId: 'front',
      readerId: 'front-reader',
      decision: 'granted',
      reason: 'granted',
      residentId: 'res-4b',
      staffId: null,
      credentialId: 'cred-1',
      carrierCodeId: null,
      packageId: null,
      cameraId: null,
      details: { format: 'H10301', card: 1234 },
    };
    // Written out by hand: this text is the contract between every stored chain and the verifier.
    const text =
      `${prev}\n` +
      '{"at":"2026-11-21T09:00:00.000Z","camera_id":null,"carrier_code_id":null,' +
      '"credential_id":"cred-1","decision":"granted","details":{"card":1234,"format":"H10301"},' +
      '"door_id":"front","id":"ev-1","package_id":null,"reader_id":"front-reader",' +
      '"reason":"granted","resident_id":"res-4b","seq":7,"site_id":"elm-street",' +
      '"staff_id":null,"type":"access"}';
    expect(chainHash(prev, 7, fields)).toBe(createHash('sha256').update(text).digest('hex'));
  });

  it('changes with the place, the link and every stored field', () => {
    const [row] = makeChain(1);
    const base = chainHash(row!.prevHash!, 1, row!);
    expect(chainHash(row!.prevHash!, 2, row!)).not.toBe(base);
    expect(chainHash('b'.repeat(64), 1, row!)).not.toBe(base);
    expect(chainHash(row!.prevHash!, 1, { ...row!, at: new Date(T0 + 1) })).not.toBe(base);
    expect(chainHash(row!.prevHash!, 1, { ...row!, staffId: 'staff-1' })).not.toBe(base);
    expect(chainHash(row!.prevHash!, 1, { ...row!, details: { card: 1002 } })).not.toBe(base);
  });

  it('starts each site, and each count of earlier events, at a different hash', () => {
    expect(chainStart(SITE, 0)).not.toBe(chainStart('oak-avenue', 0));
    expect(chainStart(SITE, 0)).not.toBe(chainStart(SITE, 1));
    expect(chainStart(SITE, 3)).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('verifyChain', () => {
  it('accepts an intact chain and reports its head', async () => {
    const rows = makeChain(6);
    const v = await verify(rows);
    expect(v).toEqual({
      ok: true,
      siteId: SITE,
      events: 6,
      headHash: rows[5]!.hash,
      headSeq: 6,
      first: { seq: 1, at: rows[0]!.at },
      unchainedEvents: 0,
    });
    expect(formatVerdict(v)).toBe(
      `ok: 6 events, chain head ${rows[5]!.hash} (site ${SITE}, chain starts at seq 1, ` +
        `${rows[0]!.at.toISOString()})`,
    );
  });

  it('accepts a site with no chain yet', async () => {
    const v = await verify([], { head: null, unchainedEvents: 4 });
    expect(v).toMatchObject({ ok: true, events: 0, headHash: chainStart(SITE, 4), first: null });
    expect(formatVerdict(v)).toContain('no chained events yet; 4 earlier event(s)');
  });

  it('reports a changed field at its seq', async () => {
    const rows = makeChain(6);
    rows[2] = { ...rows[2]!, details: { card: 9999, format: 'H10301' } };
    const b = brokenAt(await verify(rows));
    expect(b).toMatchObject({ kind: 'changed', seq: 3, event: { id: 'ev-3' } });
    expect(b.what).toContain('changed after it was written');
  });

  it('reports a deleted event at the missing seq, naming its neighbours', async () => {
    const rows = makeChain(6);
    rows.splice(2, 1);
    const v = await verify(rows);
    const b = brokenAt(v);
    expect(b).toMatchObject({ kind: 'missing', seq: 3, event: null });
    expect(b.what).toContain('seq 2 (event ev-2');
    expect(b.what).toContain('seq 4 (event ev-4');
    expect(formatVerdict(v)).toMatch(/^BROKEN at seq 3 \(no event\): no event at seq 3/);
  });

  it('reports events deleted from the end against the recorded head', async () => {
    const rows = makeChain(6);
    const head = headOf(rows);
    const b = brokenAt(await verify(rows.slice(0, 4), { head }));
    expect(b).toMatchObject({ kind: 'truncated', seq: 5, event: null });
    expect(b.what).toContain('2 event(s) deleted from the end');
  });

  it('reports two events swapped at the first of them', async () => {
    const rows = makeChain(6);
    const [third, fourth] = [rows[2]!, rows[3]!];
    rows[2] = { ...fourth, seq: 3 };
    rows[3] = { ...third, seq: 4 };
    const b = brokenAt(await verify(rows));
    expect(b).toMatchObject({ kind: 'moved', seq: 3, event: { id: 'ev-4' } });
    expect(b.what).toContain('reordered');
  });

  it('reports a forged event with a made-up hash at its seq', async () => {
    const rows = makeChain(6);
    const forged: ChainRow = {
      ...rows[5]!,
      id: 'forged',
      seq: 7,
      prevHash: rows[5]!.hash,
      hash: 'f'.repeat(64),
    };
    const b = brokenAt(await verify([...rows, forged], { head: { ...headOf(rows), seq: 7 } }));
    expect(b).toMatchObject({ kind: 'changed', seq: 7, event: { id: 'forged' } });
  });

  it('reports a well-forged event appended behind the journal as beyond the head', async () => {
    const rows = makeChain(6);
    const forged = reseal({ ...rows[5]!, id: 'forged', seq: 7 }, rows[5]!.hash!);
    const b = brokenAt(await verify([...rows, forged], { head: headOf(rows) }));
    expect(b).toMatchObject({ kind: 'beyond_head', seq: 7, event: { id: 'forged' } });
  });

  it('reports a well-forged event inserted in the middle where the chain no longer follows', async () => {
    // The forger renumbers 3.. to 4.. and puts a correctly hashed event at 3.
    const rows = makeChain(6);
    const forged = reseal({ ...rows[2]!, id: 'forged', seq: 3 }, rows[1]!.hash!);
    const shifted = rows.slice(2).map((r) => ({ ...r, seq: r.seq + 1 }));
    const all = [...rows.slice(0, 2), forged, ...shifted];
    const b = brokenAt(await verify(all, { head: { ...headOf(rows), seq: 7 } }));
    expect(b).toMatchObject({ kind: 'moved', seq: 4, event: { id: 'ev-3' } });
    expect(b.what).toContain('after seq 3 (event forged');
  });

  it('reports an intact event whose link was cut as not following the one before', async () => {
    // seq 3 replaced by a forged, self-consistent event: seq 4 is intact but links elsewhere.
    const rows = makeChain(6);
    rows[2] = reseal({ ...rows[2]!, id: 'forged' }, rows[1]!.hash!);
    const b = brokenAt(await verify(rows));
    expect(b).toMatchObject({ kind: 'unlinked', seq: 4, event: { id: 'ev-4' } });
    expect(b.what).toContain('does not follow seq 3 (event forged');
  });

  it('reports events added outside the chain at its start', async () => {
    const rows = makeChain(3, 2);
    const b = brokenAt(
      await verify(rows, { unchainedEvents: 3, head: { ...headOf(rows, 2), unchainedEvents: 2 } }),
    );
    expect(b).toMatchObject({ kind: 'start', seq: 1, event: { id: 'ev-1' } });
    expect(b.what).toContain('after 2 event(s) without a place in it, and there are now 3');
  });

  it('reports a chain whose head record is gone or disagrees', async () => {
    const rows = makeChain(3);
    expect(brokenAt(await verify(rows, { head: null }))).toMatchObject({ kind: 'head', seq: 3 });
    const b = brokenAt(await verify(rows, { head: { ...headOf(rows), hash: 'e'.repeat(64) } }));
    expect(b).toMatchObject({ kind: 'head', seq: 3 });
  });

  it('reports a row with a place but no hash, and stored data that is not JSON', async () => {
    const rows = makeChain(4);
    expect(
      brokenAt(await verify(rows.map((r) => (r.seq === 2 ? { ...r, hash: null } : r)))),
    ).toMatchObject({ kind: 'changed', seq: 2 });
    const odd = rows.map((r) => (r.seq === 3 ? { ...r, details: { n: Number.NaN } } : r));
    expect(brokenAt(await verify(odd))).toMatchObject({ kind: 'changed', seq: 3 });
  });

  it('checks an anchor written down earlier', async () => {
    const rows = makeChain(6);
    await expect(verify(rows, { anchor: { seq: 4, hash: rows[3]!.hash! } })).resolves.toMatchObject(
      { ok: true },
    );
    const rewritten = brokenAt(await verify(rows, { anchor: { seq: 4, hash: 'c'.repeat(64) } }));
    expect(rewritten).toMatchObject({ kind: 'anchor', seq: 4, event: { id: 'ev-4' } });
    const tooFar = brokenAt(await verify(rows, { anchor: { seq: 9, hash: 'c'.repeat(64) } }));
    expect(tooFar).toMatchObject({ kind: 'anchor', seq: 9, event: null });
  });

  it('reads rows one at a time and stops at the first break', async () => {
    const rows = makeChain(6);
    rows[1] = { ...rows[1]!, reason: 'revoked' };
    let pulled = 0;
    async function* counting(): AsyncGenerator<ChainRow> {
      for (const r of rows) {
        pulled++;
        yield r;
      }
    }
    const v = await verifyChain(counting(), { siteId: SITE, unchainedEvents: 0, head: null });
    expect(brokenAt(v).seq).toBe(2);
    expect(pulled).toBe(2);
  });
});
