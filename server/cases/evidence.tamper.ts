import { unzipSync, zipSync, type Zippable } from 'fflate';

/**
 * For tests: an evidence package as someone changing it would re-zip it after `edit` changed its
 * files. Verification must catch every such change; the unit and integration tests both use it.
 */
export function rezip(
  zip: Uint8Array,
  edit: (files: Record<string, Uint8Array>) => void,
): Uint8Array {
  const files = unzipSync(zip);
  edit(files);
  const entries: Zippable = {};
  for (const [k, v] of Object.entries(files)) entries[k] = v;
  return zipSync(entries);
}
