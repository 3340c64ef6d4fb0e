import { generateKeyPairSync } from 'node:crypto';
import { strFromU8, strToU8, unzipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import {
  buildSignedPackage,
  MANIFEST_FILE,
  PUBLIC_KEY_FILE,
  sha256Hex,
  SIGNATURE_FILE,
  verifyEvidenceZip,
  type Manifest,
} from './evidence.manifest.ts';
import { rezip } from './evidence.tamper.ts';
import { signingKeyFrom, type SigningKey } from './signing.key.ts';

const newKey = (): SigningKey => signingKeyFrom(generateKeyPairSync('ed25519').privateKey);
const siteKey = newKey();

const CLIP = new Uint8Array(4096).map((_, i) => (i * 31) & 0xff);
const meta = {
  site: { id: 'demo', name: 'Demo building' },
  case: { id: 'case-1', title: 'Parcel taken from 4B', description: 'Tuesday', status: 'open' },
  export: { id: 'exp-1', createdAt: '2026-11-21T09:00:00.000Z', createdBy: 'manager@example.test' },
  software: { name: 'parcelroom' as const, version: 'test' },
  items: [],
  media: [],
};

function pack(key = siteKey) {
  const files = new Map<string, Uint8Array>([
    ['clips/event-1.mp4', CLIP],
    ['snapshots/flag-1.jpg', strToU8('jpeg bytes')],
    ['report.html', strToU8('<!doctype html><title>x</title>')],
  ]);
  return buildSignedPackage(meta, files, key);
}

const kinds = (zip: Uint8Array, trustedKeys?: string[]) =>
  verifyEvidenceZip(zip, trustedKeys ? { trustedKeys } : {}).problems.map((p) =>
    'path' in p ? `${p.kind} ${p.path}` : p.kind,
  );

describe('evidence manifest', () => {
  it('lists every file with its hash and size and signs the exact manifest bytes', () => {
    const { zip, manifest, manifestBytes } = pack();
    const files = unzipSync(zip);
    expect(Object.keys(files).sort()).toEqual(
      [
        'clips/event-1.mp4',
        MANIFEST_FILE,
        SIGNATURE_FILE,
        PUBLIC_KEY_FILE,
        'report.html',
        'snapshots/flag-1.jpg',
      ].sort(),
    );
    expect(files[MANIFEST_FILE]).toEqual(manifestBytes);
    expect(manifest.keyId).toBe(siteKey.id);
    expect(manifest.keyId).toMatch(/^[0-9a-f]{16}$/);
    expect(manifest.files.map((f) => f.path)).toEqual([
      'clips/event-1.mp4',
      PUBLIC_KEY_FILE,
      'report.html',
      'snapshots/flag-1.jpg',
    ]);
    expect(manifest.files[0]).toEqual({
      path: 'clips/event-1.mp4',
      sha256: sha256Hex(CLIP),
      bytes: CLIP.length,
    });
    const result = verifyEvidenceZip(zip, { trustedKeys: [siteKey.publicKeyPem] });
    expect(result).toMatchObject({ ok: true, problems: [], signedBy: siteKey.id, checked: 4 });
    expect(verifyEvidenceZip(zip)).toMatchObject({ ok: true, signedBy: siteKey.id });
  });

  it('detects one changed byte of a clip', () => {
    const tampered = rezip(pack().zip, (f) => {
      const clip = Uint8Array.from(f['clips/event-1.mp4']!);
      clip[1000] = clip[1000]! ^ 0x01;
      f['clips/event-1.mp4'] = clip;
    });
    expect(kinds(tampered)).toEqual(['hash_mismatch clips/event-1.mp4']);
    expect(verifyEvidenceZip(tampered).ok).toBe(false);
  });

  it('detects a changed manifest, even one whose hashes were updated to match', () => {
    const { zip } = pack();
    const retitled = rezip(zip, (f) => {
      const m = JSON.parse(strFromU8(f[MANIFEST_FILE]!)) as Manifest;
      m.case.title = 'Nothing happened';
      f[MANIFEST_FILE] = strToU8(JSON.stringify(m, null, 2));
    });
    expect(kinds(retitled)).toEqual(['bad_signature']);
    // A clip replaced and its new hash written into the manifest: the signature breaks.
    const swapped = rezip(zip, (f) => {
      const other = strToU8('another video');
      f['clips/event-1.mp4'] = other;
      const m = JSON.parse(strFromU8(f[MANIFEST_FILE]!)) as Manifest;
      m.files[0] = { path: 'clips/event-1.mp4', sha256: sha256Hex(other), bytes: other.length };
      f[MANIFEST_FILE] = strToU8(JSON.stringify(m, null, 2));
    });
    expect(kinds(swapped)).toEqual(['bad_signature']);
  });

  it('detects a swapped key: a forged re-signing verifies only against itself', () => {
    const { zip } = pack();
    const forger = newKey();
    // Only the public key replaced: the signature no longer holds, and its hash is wrong.
    const keySwapped = rezip(zip, (f) => {
      f[PUBLIC_KEY_FILE] = strToU8(forger.publicKeyPem);
    });
    expect(kinds(keySwapped)).toEqual(['bad_signature', `hash_mismatch ${PUBLIC_KEY_FILE}`]);
    // Everything re-made and re-signed by the forger: self-consistent, but not the site's key.
    const forged = pack(forger).zip;
    expect(verifyEvidenceZip(forged).ok).toBe(true);
    expect(kinds(forged, [siteKey.publicKeyPem])).toEqual(['untrusted_key']);
    // The site's own key listed among several trusted ones still verifies.
    expect(
      verifyEvidenceZip(zip, { trustedKeys: [forger.publicKeyPem, siteKey.publicKeyPem] }),
    ).toMatchObject({ ok: true, signedBy: siteKey.id });
  });

  it('detects an added file, a removed one and a missing signature', () => {
    const { zip } = pack();
    expect(kinds(rezip(zip, (f) => void (f['clips/extra.mp4'] = strToU8('x'))))).toEqual([
      'extra_file clips/extra.mp4',
    ]);
    expect(kinds(rezip(zip, (f) => void delete f['snapshots/flag-1.jpg']))).toEqual([
      'missing_file snapshots/flag-1.jpg',
    ]);
    expect(kinds(rezip(zip, (f) => void delete f[SIGNATURE_FILE]))).toEqual(['bad_signature']);
    expect(kinds(rezip(zip, (f) => void delete f[MANIFEST_FILE]))).toEqual(['missing_manifest']);
  });

  it('refuses what is not a ZIP and a signature of the wrong length', () => {
    expect(kinds(strToU8('not a zip at all'))).toEqual(['unreadable']);
    const short = rezip(pack().zip, (f) => void (f[SIGNATURE_FILE] = strToU8('c2hvcnQ=')));
    expect(kinds(short)).toEqual(['bad_signature']);
  });

  it('refuses a path that could climb out of the folder it is unzipped into', () => {
    expect(() =>
      buildSignedPackage(meta, new Map([['../evil.txt', strToU8('x')]]), siteKey),
    ).toThrow(/unsafe path/);
    expect(() =>
      buildSignedPackage(meta, new Map([[MANIFEST_FILE, strToU8('x')]]), siteKey),
    ).toThrow(/written by the signer/);
  });
});
