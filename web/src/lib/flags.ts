// Flags raised by the room's cameras (loitering, multi-package grabs, tailgating) and their review:
// the API calls, the flag's shape as the server sends it, and the words the Flags page uses.
//
// Evidence is rule-specific JSON: every reader here checks what it finds and falls back to
// "not said" rather than trusting a shape, so an older or newer server never breaks the page.
import { ApiError, redirectToLogin, type AccessEvent, type Credential, type Resident } from './api';
import { humanize } from './events';

export { ApiError };

export const FLAG_KINDS = [
  'loitering',
  'multi_package_grab',
  'tailgating',
  'carrier_drop',
] as const;
export type FlagKind = (typeof FLAG_KINDS)[number];

export const FLAG_STATUSES = ['new', 'confirmed', 'dismissed', 'escalated'] as const;
export type FlagStatus = (typeof FLAG_STATUSES)[number];

/** What a reviewer can decide: anything but `new`. */
export type ReviewDecision = Exclude<FlagStatus, 'new'>;

export type FlagSeverity = 'low' | 'medium' | 'high';

/** A rectangle in pixels of the analysed frame. */
export interface PixelBox {
  x1: number;
  y1: number;
  x2: number;
  y2: number;
}

/** One box of the decision frame and what to write by it ("person 7 (2 min)"). */
export interface FlagBox {
  box: PixelBox;
  label: string;
  trackId?: number;
}

export interface FrameSize {
  width: number;
  height: number;
}

/** The video a reviewer needs; times are ISO-8601 on the server's clock. */
export interface FlagClipWindow {
  startAt: string;
  endAt: string;
}

/** One flag as GET /api/flags and the live stream send it. */
export interface Flag {
  id: string;
  at: string;
  /** One of {@link FlagKind}; kept open so a newer server's rule still shows. */
  kind: FlagKind | (string & {});
  severity: FlagSeverity | (string & {});
  cameraId: string;
  doorId?: string | null;
  status: FlagStatus | (string & {});
  clipUrl?: string;
  snapshotUrl?: string;
  /** False when no snapshot could be made (the snapshot URL then answers 404 with why). */
  hasSnapshot?: boolean;
  clipWindow?: FlagClipWindow;
  entryEventId?: string | null;
  credentialId?: string | null;
  /** Rule-specific: dwellMs, crossings, grants, slots, visitor, trackIds, boxes, frameSize… */
  evidence?: Record<string, unknown>;
  /** A staff id, or `token:<id>` for an integration's API token. */
  reviewedBy?: string | null;
  reviewedAt?: string | null;
  reviewNote?: string | null;
}

export interface FlagQuery {
  kind?: FlagKind | undefined;
  status?: FlagStatus | undefined;
  cameraId?: string | undefined;
  limit?: number | undefined;
  cursor?: string | undefined;
}

export interface FlagPage {
  items: Flag[];
  nextCursor?: string;
}

/** Flags raised, reviewed and dismissed as false positives, for one zone or one rule. */
export interface FalsePositiveCount {
  total: number;
  /** Confirmed, dismissed or escalated. */
  reviewed: number;
  dismissed: number;
}

/** The managers' panel: where the analytics cry wolf, to re-draw zones or change limits. */
export interface FalsePositives {
  /** Per camera and zone (the flag's zone, else `room`), most dismissals first. */
  byZone: (FalsePositiveCount & { cameraId: string; zoneId: string })[];
  byKind: (FalsePositiveCount & { kind: string })[];
}

type Fetch = typeof fetch;

// --- Requests ---------------------------------------------------------------------------------

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown): number | undefined =>
  typeof v === 'number' && Number.isFinite(v) ? v : undefined;

function retryAfterSeconds(res: Response): number | undefined {
  const raw = res.headers.get('Retry-After');
  if (raw === null) return undefined;
  const n = Number(raw);
  return Number.isFinite(n) && n >= 0 ? Math.ceil(n) : undefined;
}

/** The server's `{error: {code, message, field}}`, or a plain message for anything else. */
async function errorOf(res: Response): Promise<ApiError> {
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    // a proxy's HTML page, an empty body
  }
  const err = isRecord(body) && isRecord(body['error']) ? body['error'] : undefined;
  const code = typeof err?.['code'] === 'string' ? err['code'] : `http_${res.status}`;
  const field = typeof err?.['field'] === 'string' ? err['field'] : undefined;
  let message = typeof err?.['message'] === 'string' && err['message'] !== '' ? err['message'] : '';
  if (message === '') {
    if (res.status === 403) message = 'Your role does not allow this.';
    else if (res.status === 404) message = 'Not found.';
    else if (res.status >= 500) message = `The server had a problem (${res.status}).`;
    else message = `Request failed (${res.status}).`;
  }
  return new ApiError(res.status, code, message, field, retryAfterSeconds(res));
}

async function call<T>(
  path: string,
  init: { method?: 'GET' | 'POST'; body?: unknown; fetch?: Fetch | undefined } = {},
): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  const request: RequestInit = {
    method: init.method ?? 'GET',
    headers,
    credentials: 'same-origin',
  };
  if (init.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    request.body = JSON.stringify(init.body);
  }
  let res: Response;
  try {
    res = await (init.fetch ?? fetch)(path, request);
  } catch {
    throw new ApiError(0, 'network', 'Cannot reach the Parcelroom server.');
  }
  if (!res.ok) {
    const error = await errorOf(res);
    if (res.status === 401) redirectToLogin();
    throw error;
  }
  try {
    return (await res.json()) as T;
  } catch {
    throw new ApiError(res.status, 'bad_response', 'The server sent an unreadable answer.');
  }
}

const flagPath = (id: string, rest = ''): string => `/api/flags/${encodeURIComponent(id)}${rest}`;

/** A page of flags, newest first. */
export async function listFlags(query: FlagQuery = {}, fetchFn?: Fetch): Promise<FlagPage> {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== '') params.set(key, String(value));
  }
  const qs = params.toString();
  const body = await call<unknown>(`/api/flags${qs === '' ? '' : `?${qs}`}`, { fetch: fetchFn });
  if (!isRecord(body) || !Array.isArray(body['items'])) {
    throw new ApiError(200, 'bad_response', 'The server sent an unreadable list of flags.');
  }
  const items = body['items'].map(asFlag).filter((f): f is Flag => f !== undefined);
  const next = body['nextCursor'];
  return { items, ...(typeof next === 'string' && next !== '' ? { nextCursor: next } : {}) };
}

export async function getFlag(id: string, fetchFn?: Fetch): Promise<Flag> {
  const body = await call<unknown>(flagPath(id), { fetch: fetchFn });
  const flag = asFlag(isRecord(body) && isRecord(body['flag']) ? body['flag'] : body);
  if (!flag) throw new ApiError(200, 'bad_response', 'The server sent an unreadable flag.');
  return flag;
}

/**
 * Records a reviewer's decision. Answers with the flag as it now stands; when the server answers
 * with less, the decision is applied to `current` so the row still shows it.
 */
export async function reviewFlag(
  current: Flag,
  status: ReviewDecision,
  note?: string,
): Promise<Flag> {
  const body = await call<unknown>(flagPath(current.id, '/review'), {
    method: 'POST',
    body: { status, ...(note ? { note } : {}) },
  });
  const answered = asFlag(isRecord(body) && isRecord(body['flag']) ? body['flag'] : body);
  if (answered) return answered;
  return {
    ...current,
    status,
    reviewNote: note ?? null,
    reviewedAt: new Date().toISOString(),
  };
}

function countOf(item: Record<string, unknown>): FalsePositiveCount | undefined {
  const total = num(item['total']);
  const dismissed = num(item['dismissed']);
  if (total === undefined || dismissed === undefined) return undefined;
  return { total, dismissed, reviewed: num(item['reviewed']) ?? total };
}

/** Dismissed against reviewed and raised flags, per zone and per rule (managers and admins). */
export async function getFalsePositives(fetchFn?: Fetch): Promise<FalsePositives> {
  const body = await call<unknown>('/api/flags/false-positives', { fetch: fetchFn });
  if (!isRecord(body) || !Array.isArray(body['byZone']) || !Array.isArray(body['byKind'])) {
    throw new ApiError(200, 'bad_response', 'The server sent unreadable false-positive counts.');
  }
  const out: FalsePositives = { byZone: [], byKind: [] };
  for (const item of body['byZone']) {
    if (!isRecord(item)) continue;
    const count = countOf(item);
    const cameraId = str(item['cameraId']);
    if (!count || cameraId === undefined) continue;
    out.byZone.push({ ...count, cameraId, zoneId: str(item['zoneId']) ?? 'room' });
  }
  for (const item of body['byKind']) {
    if (!isRecord(item)) continue;
    const count = countOf(item);
    const kind = str(item['kind']);
    if (count && kind !== undefined) out.byKind.push({ ...count, kind });
  }
  return out;
}

/** The share of reviewed flags that were false positives, 0..1 (0 before any review). */
export function falsePositiveRate(c: FalsePositiveCount): number {
  return c.reviewed > 0 ? c.dismissed / c.reviewed : 0;
}

/** Every credential of the site (to name the card a flag's entry was made with). */
export async function listAllCredentials(fetchFn?: Fetch): Promise<Credential[]> {
  const body = await call<{ items?: Credential[] }>('/api/credentials', { fetch: fetchFn });
  return Array.isArray(body.items) ? body.items : [];
}

/** Staff names by id, for "reviewed by" (admins only: GET /api/staff). */
export async function listStaffNames(fetchFn?: Fetch): Promise<Map<string, string>> {
  const body = await call<{ items?: { id: string; name: string; email: string }[] }>('/api/staff', {
    fetch: fetchFn,
  });
  return new Map((body.items ?? []).map((s) => [s.id, s.name || s.email]));
}

/** Granted entries between two times, newest first (to find a flag's entry). */
export async function listGrantedEntries(
  from: number,
  to: number,
  cursor?: string,
  fetchFn?: Fetch,
): Promise<{ items: AccessEvent[]; nextCursor?: string }> {
  const params = new URLSearchParams({
    type: 'access',
    decision: 'granted',
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    limit: '500',
  });
  if (cursor) params.set('cursor', cursor);
  return call(`/api/events?${params.toString()}`, { fetch: fetchFn });
}

// --- Reading a flag ---------------------------------------------------------------------------

/** A flag from the live stream or a list, or undefined when it lacks what every flag has. */
export function asFlag(value: unknown): Flag | undefined {
  if (!isRecord(value)) return undefined;
  const id = str(value['id']);
  const at = str(value['at']);
  const kind = str(value['kind']);
  const status = str(value['status']);
  if (id === undefined || at === undefined || kind === undefined || status === undefined) {
    return undefined;
  }
  const evidence = isRecord(value['evidence']) ? value['evidence'] : {};
  return {
    ...(value as unknown as Flag),
    cameraId: str(value['cameraId']) ?? '',
    severity: str(value['severity']) ?? 'medium',
    evidence,
  };
}

/** A time the server sent as ISO-8601 or as ms; undefined when it is neither. */
export function timeMs(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value !== 'string' || value === '') return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

function isBox(v: unknown): v is PixelBox {
  if (!isRecord(v)) return false;
  const { x1, y1, x2, y2 } = v;
  return [x1, y1, x2, y2].every((n) => num(n) !== undefined) && x2! > x1! && y2! > y1!;
}

/** The boxes of the decision frame, in pixels of that frame. */
export function flagBoxes(flag: Flag): FlagBox[] {
  const raw = flag.evidence?.['boxes'];
  if (!Array.isArray(raw)) return [];
  const out: FlagBox[] = [];
  for (const b of raw) {
    if (!isRecord(b) || !isBox(b['box'])) continue;
    const { x1, y1, x2, y2 } = b['box'];
    const trackId = num(b['trackId']);
    out.push({
      box: { x1, y1, x2, y2 },
      label: str(b['label']) ?? '',
      ...(trackId === undefined ? {} : { trackId }),
    });
  }
  return out;
}

/** The size of the frame the rule decided on, when the flag says. */
export function flagFrameSize(flag: Flag): FrameSize | undefined {
  const raw = flag.evidence?.['frameSize'];
  if (!isRecord(raw)) return undefined;
  const width = num(raw['width']);
  const height = num(raw['height']);
  return width !== undefined && height !== undefined && width > 0 && height > 0
    ? { width, height }
    : undefined;
}

export interface SlotOwner {
  packageId?: string;
  residentId?: string;
  /** The unit the parcel is for, as the server names it. */
  unit?: string;
}

export interface FlagSlot {
  slotId: string;
  label: string;
  owners: SlotOwner[];
  /** `own`, `other_resident` or `unknown_owner`: whose slot it was to the visitor. */
  role?: string;
}

/** The shelf slots a multi-package grab emptied, with whose parcels were in them. */
export function flagSlots(flag: Flag): FlagSlot[] {
  const raw = flag.evidence?.['slots'];
  if (!Array.isArray(raw)) return [];
  const out: FlagSlot[] = [];
  for (const s of raw) {
    if (!isRecord(s)) continue;
    const slotId = str(s['slotId']);
    if (slotId === undefined) continue;
    const owners: SlotOwner[] = [];
    for (const o of Array.isArray(s['owners']) ? s['owners'] : []) {
      if (!isRecord(o)) continue;
      const packageId = str(o['packageId']);
      const residentId = str(o['residentId']);
      const unit = str(o['unit']) ?? str(o['unitLabel']) ?? str(o['unitId']);
      owners.push({
        ...(packageId ? { packageId } : {}),
        ...(residentId ? { residentId } : {}),
        ...(unit ? { unit } : {}),
      });
    }
    const role = str(s['role']);
    out.push({ slotId, label: str(s['label']) ?? slotId, owners, ...(role ? { role } : {}) });
  }
  return out;
}

/** Who the rule says entered: the entry's resident and unit (multi-package grabs say so). */
export interface FlagVisitor {
  who?: string;
  residentId?: string;
  unit?: string;
}

export function flagVisitor(flag: Flag): FlagVisitor | undefined {
  const raw = flag.evidence?.['visitor'];
  const who = isRecord(raw) ? str(raw['who']) : str(flag.evidence?.['who']);
  const residentId = isRecord(raw) ? str(raw['residentId']) : undefined;
  const unit = isRecord(raw) ? str(raw['unit']) : undefined;
  if (who === undefined && residentId === undefined && unit === undefined) return undefined;
  return {
    ...(who ? { who } : {}),
    ...(residentId ? { residentId } : {}),
    ...(unit ? { unit } : {}),
  };
}

/** The entry a flag belongs to: the flag's own field, else what its evidence names. */
export function flagEntryId(flag: Flag): string | undefined {
  const visitor = flag.evidence?.['visitor'];
  return (
    str(flag.entryEventId) ??
    str(flag.evidence?.['entryEventId']) ??
    (isRecord(visitor) ? str(visitor['entryEventId']) : undefined)
  );
}

export function flagCredentialId(flag: Flag): string | undefined {
  const visitor = flag.evidence?.['visitor'];
  return (
    str(flag.credentialId) ??
    str(flag.evidence?.['credentialId']) ??
    (isRecord(visitor) ? str(visitor['credentialId']) : undefined)
  );
}

// --- Words ------------------------------------------------------------------------------------

const KIND_LABELS: Record<FlagKind, string> = {
  loitering: 'Loitering',
  multi_package_grab: 'Multi-package grab',
  tailgating: 'Tailgating',
  carrier_drop: 'Carrier drop',
};

export function kindLabel(kind: string): string {
  return (KIND_LABELS as Record<string, string>)[kind] ?? humanize(kind);
}

const SEVERITY_LABELS: Record<FlagSeverity, string> = {
  high: 'High',
  medium: 'Medium',
  low: 'Low',
};

export function severityLabel(severity: string): string {
  return (SEVERITY_LABELS as Record<string, string>)[severity] ?? humanize(severity);
}

const STATUS_LABELS: Record<FlagStatus, string> = {
  new: 'New',
  confirmed: 'Confirmed',
  dismissed: 'Dismissed (false positive)',
  escalated: 'Escalated',
};

export function statusLabel(status: string): string {
  return (STATUS_LABELS as Record<string, string>)[status] ?? humanize(status);
}

/** The review buttons' words, in the order the page shows them. */
export const DECISIONS: readonly { status: ReviewDecision; label: string; key: string }[] = [
  { status: 'confirmed', label: 'Confirm', key: 'c' },
  { status: 'dismissed', label: 'Dismiss (false positive)', key: 'd' },
  { status: 'escalated', label: 'Escalate', key: 'e' },
];

/** "45 s", "2 min 10 s", "1 h 5 min": a time span as staff say it. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  const total = Math.round(ms / 1000);
  if (total < 60) return `${total} s`;
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = total % 60;
  if (hours > 0) return minutes === 0 ? `${hours} h` : `${hours} h ${minutes} min`;
  return seconds === 0 ? `${minutes} min` : `${minutes} min ${seconds} s`;
}

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

/** The units whose parcels a grab took, as the slots' owners name them, without repeats. */
export function touchedUnits(
  flag: Flag,
  unitOfResident: (id: string) => string | undefined = () => undefined,
): string[] {
  const units = new Set<string>();
  for (const slot of flagSlots(flag)) {
    if (slot.role === 'own') continue;
    for (const owner of slot.owners) {
      const unit = (owner.residentId && unitOfResident(owner.residentId)) ?? owner.unit;
      if (unit) units.add(unit);
    }
  }
  return [...units];
}

function loiteringWords(flag: Flag): string {
  const e = flag.evidence ?? {};
  const dwellMs = num(e['dwellMs']);
  const at = timeMs(flag.at);
  const endsAt = timeMs(e['sessionEndsAt']);
  switch (str(e['reason'])) {
    case 'overstay': {
      // The rule flags when the visit allowance runs out; say how long they stayed past it.
      const past = at !== undefined && endsAt !== undefined ? at - endsAt : undefined;
      if (past !== undefined && past >= 1000) {
        return `${formatDuration(past)} in the room after the visit ended`;
      }
      return dwellMs === undefined
        ? 'still in the room after the visit ended'
        : `still in the room after the visit ended (${formatDuration(dwellMs)} in all)`;
    }
    case 'no_entry':
      return dwellMs === undefined
        ? 'in the room with nobody badged in'
        : `${formatDuration(dwellMs)} in the room with nobody badged in`;
    default:
      return dwellMs === undefined
        ? 'stayed in the room'
        : `${formatDuration(dwellMs)} in the room`;
  }
}

function tailgatingWords(flag: Flag): string {
  const crossings = num(flag.evidence?.['crossings']);
  const grants = num(flag.evidence?.['grants']);
  if (crossings === undefined || grants === undefined) return 'more people than badges';
  return `${plural(crossings, 'person', 'people')} on ${plural(grants, 'badge', 'badges')}`;
}

function grabWords(flag: Flag, unitOfResident?: (id: string) => string | undefined): string {
  const units = touchedUnits(flag, unitOfResident);
  if (units.length > 0) return `took parcels of ${units.join(', ')}`;
  const emptied = num(flag.evidence?.['emptiedSlotCount']) ?? flagSlots(flag).length;
  const owned = num(flag.evidence?.['ownedSlotCount']);
  if (emptied === 0) return 'parcels taken';
  return owned === undefined
    ? `emptied ${plural(emptied, 'slot', 'slots')}`
    : `emptied ${plural(emptied, 'slot', 'slots')}, owns ${plural(owned, 'slot', 'slots')}`;
}

/** "UPS in the room 3 min 10 s, nothing checked in": a carrier drop from the door's record. */
function carrierDropWords(flag: Flag): string {
  const carrier = str(flag.evidence?.['carrier']) ?? 'a carrier';
  const ms = num(flag.evidence?.['timeInRoomMs']);
  const s = ms === undefined ? undefined : Math.round(ms / 1000);
  const time = s === undefined ? '' : s < 60 ? ` ${s} s` : ` ${Math.floor(s / 60)} min ${s % 60} s`;
  return `${carrier} in the room${time}, nothing checked in`;
}

/**
 * The flag in one line: "Loitering — 2 min 10 s in the room after the visit ended",
 * "Tailgating — 2 people on 1 badge", "Multi-package grab — took parcels of 4B".
 */
export function flagHeadline(
  flag: Flag,
  unitOfResident?: (id: string) => string | undefined,
): string {
  const kind = flag.kind as FlagKind;
  switch (kind) {
    case 'loitering':
      return `${kindLabel(kind)} — ${loiteringWords(flag)}`;
    case 'tailgating':
      return `${kindLabel(kind)} — ${tailgatingWords(flag)}`;
    case 'multi_package_grab':
      return `${kindLabel(kind)} — ${grabWords(flag, unitOfResident)}`;
    case 'carrier_drop':
      return `${kindLabel(kind)} — ${carrierDropWords(flag)}`;
    default:
      return kindLabel(flag.kind);
  }
}

/** 'danger' | 'warn' | 'neutral': the row's colour from its severity. */
export function severityTone(severity: string): 'danger' | 'warn' | 'neutral' {
  switch (severity as FlagSeverity) {
    case 'high':
      return 'danger';
    case 'medium':
      return 'warn';
    default:
      return 'neutral';
  }
}

/** Who an entry was for, in words: "Ada Lovelace (4B)", "carrier UPS", "staff". */
export function entrantWords(
  event: AccessEvent | undefined,
  residents: ReadonlyMap<string, Resident>,
  visitor?: FlagVisitor,
): string | undefined {
  const residentId = event?.residentId ?? visitor?.residentId;
  if (residentId) {
    const r = residents.get(residentId);
    if (r) return `${r.name} (${r.unit})`;
    const unit = visitor?.unit;
    return unit ? `a resident of ${unit}` : 'a resident';
  }
  if (event?.carrierCodeId) {
    const carrier = event.details?.['carrier'];
    return typeof carrier === 'string' && carrier !== '' ? `carrier ${carrier}` : 'a carrier code';
  }
  if (event?.staffId) return 'staff';
  switch (visitor?.who) {
    case 'carrier':
      return 'a carrier';
    case 'staff':
      return 'staff';
    case 'resident':
      return visitor.unit ? `a resident of ${visitor.unit}` : 'a resident';
    default:
      return undefined;
  }
}

/** Who badged in for a flag, as far as the page has found out. */
export interface WhoBadgedIn {
  state: 'none' | 'looking' | 'known' | 'not_found';
  /** "Ada Lovelace (4B)", "carrier UPS". */
  entrant?: string | undefined;
  /** "card H10301 21:3131". */
  credential?: string | undefined;
  /** When the entry was granted. */
  at?: string | undefined;
}

/** A card as staff read it off the badge: "card H10301 21:3131". */
export function credentialWords(credential: Credential | undefined): string | undefined {
  if (!credential) return undefined;
  const facility =
    credential.facilityCode === null || credential.facilityCode === undefined
      ? ''
      : `${credential.facilityCode}:`;
  const revoked = credential.status === 'revoked' ? ' (revoked)' : '';
  return `card ${credential.format} ${facility}${credential.cardNumber}${revoked}`;
}

// --- The queue --------------------------------------------------------------------------------

/** Newest first, as GET /api/flags orders them: by time, then by id. */
export function compareFlagsNewestFirst(a: Flag, b: Flag): number {
  const ta = timeMs(a.at) ?? 0;
  const tb = timeMs(b.at) ?? 0;
  if (ta !== tb) return tb - ta;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** `flags` updated with `more` (a newer copy of a flag replaces the older one), newest first. */
export function mergeFlags(flags: readonly Flag[], more: readonly Flag[]): Flag[] {
  const byId = new Map<string, Flag>();
  for (const f of [...flags, ...more]) byId.set(f.id, f);
  return [...byId.values()].sort(compareFlagsNewestFirst);
}

export interface FlagFilter {
  kind: FlagKind | 'all';
  status: FlagStatus | 'all';
  cameraId: string | 'all';
}

export function matchesFilter(flag: Flag, filter: FlagFilter): boolean {
  return (
    (filter.kind === 'all' || flag.kind === filter.kind) &&
    (filter.status === 'all' || flag.status === filter.status) &&
    (filter.cameraId === 'all' || flag.cameraId === filter.cameraId)
  );
}

// --- The clip ---------------------------------------------------------------------------------

/**
 * Seconds from the start of the clip to the flag's moment. The clip begins at the keyframe at or
 * before the window start, which the server names (X-Clip-Start); without it, the window start.
 */
export function flagMomentS(flag: Flag, clipStartMs?: number): number | undefined {
  const at = timeMs(flag.at);
  const start = clipStartMs ?? timeMs(flag.clipWindow?.startAt);
  if (at === undefined || start === undefined) return undefined;
  return Math.max(0, (at - start) / 1000);
}

/** The boxes are of one frame; people move, so they are drawn only this near its moment. */
export const BOXES_AROUND_S = 1.5;

/**
 * Maps boxes from the analysed frame to the video's own pixels. The analysed frame is the video
 * scaled to fit and padded with black bars, centred (vision/frame.source.ts), so the mapping undoes
 * the bars and the scale; with no frame size the boxes are taken to be in video pixels.
 */
export function boxesInVideo(
  boxes: readonly FlagBox[],
  frame: FrameSize | undefined,
  video: FrameSize,
): FlagBox[] {
  if (!frame) return [...boxes];
  const scale = Math.min(frame.width / video.width, frame.height / video.height);
  const padX = (frame.width - video.width * scale) / 2;
  const padY = (frame.height - video.height * scale) / 2;
  return boxes.map((b) => ({
    ...b,
    box: {
      x1: (b.box.x1 - padX) / scale,
      y1: (b.box.y1 - padY) / scale,
      x2: (b.box.x2 - padX) / scale,
      y2: (b.box.y2 - padY) / scale,
    },
  }));
}

/** The help line's keyboard shortcuts. */
export const SHORTCUTS: readonly { key: string; does: string }[] = [
  { key: 'j', does: 'next' },
  { key: 'k', does: 'previous' },
  { key: 'c', does: 'confirm' },
  { key: 'd', does: 'dismiss' },
  { key: 'e', does: 'escalate' },
  { key: 'n', does: 'note' },
];
