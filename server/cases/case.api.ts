/**
 * The wire shape of incident cases (`/api/cases…`), shared with the console, so it imports
 * nothing but the audit search's wire shape (itself import-free): a case entry is an audit row.
 */
import type { AuditRow } from '../audit/audit.api.ts';

export const CASE_ITEM_KINDS = ['event', 'flag', 'package', 'alarm'] as const;
export type CaseItemKind = (typeof CASE_ITEM_KINDS)[number];

/** A timeline row with words for people (and, from AuditRow, the door's name). */
export interface CaseEntry extends AuditRow {
  summary: string;
}

export type CaseStatus = 'open' | 'closed';
export type ExportStatus = 'building' | 'ready' | 'failed';

/** What the list and the case's page both show of a case. */
export interface CaseHeading {
  id: string;
  title: string;
  description: string;
  status: CaseStatus;
  createdAt: string;
  /** A staff id, or `token:<id>` for an integration. */
  createdBy: string;
  /** The staff member's name (or `token:<name>`), for people. */
  createdByName: string;
}

export interface CaseSummary extends CaseHeading {
  itemCount: number;
  exportCount: number;
}

/** `Entry` is how a reader takes the item's row: the console reads it as a plain audit row. */
export interface CaseItemView<Entry extends AuditRow = CaseEntry> {
  id: string;
  kind: CaseItemKind;
  refId: string;
  note: string;
  addedBy: string;
  addedByName: string;
  addedAt: string;
  /** The item's timeline row; null when what it names is gone. */
  entry: Entry | null;
}

export interface CaseExportView {
  id: string;
  createdAt: string;
  createdBy: string;
  createdByName?: string;
  status: ExportStatus;
  bytes?: number;
  sha256?: string;
  manifestSha256?: string;
  keyId?: string;
  error?: string;
  downloadUrl?: string;
}

export interface CaseDetail<Entry extends AuditRow = CaseEntry> extends CaseHeading {
  updatedAt: string;
  closedAt?: string;
  closedBy?: string;
  items: CaseItemView<Entry>[];
  exports: CaseExportView[];
}
