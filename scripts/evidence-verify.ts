/**
 * `npm run evidence:verify -- <package.zip> [--key <public key pem>]...`
 *
 * Checks a Parcelroom evidence package as it was handed over: the Ed25519 signature over
 * manifest.json, and every file against the SHA-256 and size the manifest lists; a file added
 * or removed counts as a change too. With `--key` (the site's published key, from
 * `GET /api/evidence/keys`; repeat it for older keys) the signature must be by that key; without
 * it the package's own public-key.pem is used, which proves the package is unchanged since it
 * was signed, not who signed it (the output says so).
 *
 * Prints one line per problem, then a verdict; exit 0 intact, 1 changed, 2 usage or I/O error.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { verifyEvidenceZip } from '../server/cases/evidence.manifest.ts';

const EXIT_OK = 0;
const EXIT_TAMPERED = 1;
const EXIT_USAGE = 2;
const USAGE = 'usage: npm run evidence:verify -- <package.zip> [--key <public-key.pem>]...';

function main(argv: string[]): number {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        key: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: true,
    });
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n${USAGE}\n`);
    return EXIT_USAGE;
  }
  if (parsed.values.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT_OK;
  }
  if (parsed.positionals.length !== 1) {
    process.stderr.write(`${USAGE}\n`);
    return EXIT_USAGE;
  }
  const zipPath = parsed.positionals[0]!;
  let bytes: Uint8Array;
  const trustedKeys: string[] = [];
  try {
    bytes = readFileSync(zipPath);
    for (const k of parsed.values.key ?? []) trustedKeys.push(readFileSync(k, 'utf8'));
  } catch (e) {
    process.stderr.write(`cannot read: ${e instanceof Error ? e.message : String(e)}\n`);
    return EXIT_USAGE;
  }
  const result = verifyEvidenceZip(bytes, trustedKeys.length > 0 ? { trustedKeys } : {});
  for (const p of result.problems) process.stdout.write(`${p.kind}: ${p.message}\n`);
  const m = result.manifest;
  const what = m ? `case ${m.case?.id} "${m.case?.title}", package ${m.export?.id}` : zipPath;
  if (result.ok) {
    process.stdout.write(
      `ok: ${what}: signature by key ${result.signedBy} holds, ${result.checked} files match\n`,
    );
    if (trustedKeys.length === 0)
      process.stdout.write(
        "note: checked against the key inside the package; pass --key with the site's published key to check who signed it\n",
      );
    return EXIT_OK;
  }
  process.stdout.write(`TAMPERED: ${what}: ${result.problems.length} problem(s)\n`);
  return EXIT_TAMPERED;
}

process.exitCode = main(process.argv.slice(2));
