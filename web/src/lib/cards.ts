import type { CardFormat } from './api';

export interface CardFormatInfo {
  format: CardFormat;
  label: string;
  /** Whether the format carries a facility code. */
  facilityCode: boolean;
}

// Human names for the Wiegand formats the server accepts. Range checks stay on the server.
export const CARD_FORMAT_INFO: readonly CardFormatInfo[] = [
  { format: 'H10301', label: 'H10301 — 26-bit', facilityCode: true },
  { format: 'H10306', label: 'H10306 — 34-bit', facilityCode: true },
  { format: 'C1000-35', label: 'C1000-35 — Corporate 1000, 35-bit', facilityCode: true },
  { format: 'H10302', label: 'H10302 — 37-bit, no facility code', facilityCode: false },
  { format: 'H10304', label: 'H10304 — 37-bit with facility code', facilityCode: true },
];

export function formatInfo(format: string): CardFormatInfo | undefined {
  return CARD_FORMAT_INFO.find((f) => f.format === format);
}

/** Digits only, as a safe integer; undefined otherwise. */
export function parseCardInteger(text: string): number | undefined {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed)) return undefined;
  const n = Number(trimmed);
  return Number.isSafeInteger(n) ? n : undefined;
}
