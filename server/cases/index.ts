/**
 * Incident cases and their signed evidence packages: what the rest of the server uses.
 * `createCaseServices` builds them around the database; the routes are in
 * server/routes/cases.routes.ts; `npm run evidence:verify` uses `verifyEvidenceZip`.
 */
import type { Db } from '../../db/index.ts';
import type { Clock } from '../../hardware/clock.ts';
import type { ClipService } from '../cameras/clip.service.ts';
import { createClipLinker } from '../cameras/clip.service.ts';
import type { SiteConfig } from '../config/index.ts';
import type { Logger } from '../log/logger.ts';
import { createCaseStore, type CaseStore } from './case.store.ts';
import { createCaseTimeline, type CaseTimeline } from './case.timeline.ts';
import {
  createEvidenceExporter,
  type EvidenceExporter,
  type ExportFiles,
} from './evidence.export.ts';
import {
  createSigningKeys,
  loadSigningKey,
  type SigningKey,
  type SigningKeys,
} from './signing.key.ts';

export { createCaseStore, exportView, sourceWindow } from './case.store.ts';
export type {
  CaseDetail,
  CaseExportView,
  CaseItemView,
  CaseStatus,
  CaseStore,
  CaseSummary,
} from './case.store.ts';
export { CASE_ITEM_KINDS, createCaseTimeline, summarize } from './case.timeline.ts';
export type { CaseEntry, CaseItemKind, CaseTimeline } from './case.timeline.ts';
export { createEvidenceExporter, EXPORTS_DIR } from './evidence.export.ts';
export type { EvidenceExporter } from './evidence.export.ts';
export {
  buildSignedPackage,
  MANIFEST_FILE,
  PUBLIC_KEY_FILE,
  SIGNATURE_FILE,
  verifyEvidenceZip,
} from './evidence.manifest.ts';
export type { Manifest, MediaWindow, VerifyProblem, VerifyResult } from './evidence.manifest.ts';
export {
  createSigningKeys,
  keyIdOf,
  loadSigningKey,
  SIGNING_KEY_FILE,
  signingKeyFrom,
  verifySignature,
} from './signing.key.ts';
export type { SigningKey, SigningKeys } from './signing.key.ts';

export interface CaseServices {
  store: CaseStore;
  timeline: CaseTimeline;
  keys: SigningKeys;
  exporter: EvidenceExporter;
  /** Waits for packages being built. */
  close(): Promise<void>;
}

export function createCaseServices(deps: {
  db: Db;
  siteId: string;
  site: SiteConfig;
  dataDir: string;
  clock: Clock;
  log: Logger;
  version: string;
  clips: Pick<ClipService, 'clipForEvent' | 'clipFor'>;
  /** PARCELROOM_SIGNING_KEY (PEM); unset: DATA_DIR/evidence-signing.key, made on first use. */
  signingKeyPem?: string | undefined;
  /** The signing key itself (tests); wins over the two above. */
  signingKey?: SigningKey;
  files?: ExportFiles;
}): CaseServices {
  const timeline = createCaseTimeline({
    db: deps.db,
    siteId: deps.siteId,
    site: deps.site,
    clipLinks: createClipLinker(deps.site),
  });
  const store = createCaseStore({
    db: deps.db,
    siteId: deps.siteId,
    clock: deps.clock,
    site: deps.site,
    timeline,
  });
  const keys = createSigningKeys({
    db: deps.db,
    siteId: deps.siteId,
    clock: deps.clock,
    load: () => deps.signingKey ?? loadSigningKey(deps.dataDir, deps.signingKeyPem),
  });
  const exporter = createEvidenceExporter({
    store,
    timeline,
    keys,
    clips: deps.clips,
    site: deps.site,
    dataDir: deps.dataDir,
    clock: deps.clock,
    log: deps.log,
    version: deps.version,
    ...(deps.files ? { files: deps.files } : {}),
  });
  return { store, timeline, keys, exporter, close: () => exporter.close() };
}
