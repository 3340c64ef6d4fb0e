// Human words for access events, deny reasons and door alarms. Unknown codes (from a newer
// server) fall back to the code with its underscores turned into spaces.
import type { AccessEvent } from './api';

export const humanize = (code: string): string => {
  const words = code.replace(/[_-]+/g, ' ').trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
};

const EVENT_TYPES: Record<string, string> = {
  access: 'Access',
  door_unlocked: 'Door unlocked',
  door_relocked: 'Door locked',
  door_opened: 'Door opened',
  door_closed: 'Door closed',
  no_entry: 'Unlocked, nobody entered',
  rex: 'Exit button pressed',
  forced_open: 'Forced open',
  held_open_warning: 'Held open — warning',
  held_open: 'Held open',
  alarm_cleared: 'Alarm cleared',
  offline: 'Device offline',
  online: 'Device back online',
  tamper: 'Tamper',
  keypad_lockout: 'Keypad locked',
  strike_fault: 'Strike fault',
  reader_error: 'Reader error',
  package_checked_in: 'Package checked in',
  package_picked_up: 'Package picked up',
};

/** Why access was denied, for a card read and for a typed code. */
const DENY_REASONS: Record<string, { card: string; pin: string }> = {
  unknown_credential: { card: 'unknown card', pin: 'unknown code' },
  revoked: { card: 'card revoked', pin: 'code revoked' },
  holder_inactive: { card: 'holder moved out or disabled', pin: 'holder inactive' },
  outside_window: { card: 'outside its validity', pin: 'code not valid now' },
  outside_schedule: { card: 'outside opening hours', pin: 'outside opening hours' },
  uses_exhausted: { card: 'no uses left', pin: 'code used up' },
  wrong_door: { card: 'not valid for this door', pin: 'code not valid for this door' },
  parity_error: { card: 'card misread (parity)', pin: 'misread' },
  unknown_format: { card: 'unknown card format', pin: 'unknown format' },
  malformed_frame: { card: 'garbled card read', pin: 'garbled input' },
  key_integrity: { card: 'garbled key', pin: 'garbled key' },
  keypad_locked: { card: 'keypad locked', pin: 'keypad locked' },
  no_keypad: { card: 'no keypad', pin: 'this reader has no keypad' },
  door_fault: { card: 'door fault', pin: 'door fault' },
  pickup_code_used: { card: 'pickup code already used', pin: 'pickup code already used' },
  pickup_code_expired: { card: 'pickup code expired', pin: 'pickup code expired' },
  pickup_code_revoked: {
    card: 'pickup code replaced or void',
    pin: 'pickup code replaced or void',
  },
};

export function denyReason(reason: string | undefined, via: 'card' | 'pin' = 'card'): string {
  if (reason === undefined || reason === '') return 'no reason given';
  return DENY_REASONS[reason]?.[via] ?? humanize(reason).toLowerCase();
}

const ALARMS: Record<string, string> = {
  forced_open: 'Forced open',
  held_open: 'Held open',
  offline: 'Offline',
  tamper: 'Tamper',
  keypad_lockout: 'Keypad locked out',
};

export function alarmLabel(kind: string): string {
  return ALARMS[kind] ?? humanize(kind);
}

function detailString(event: AccessEvent, key: string): string | undefined {
  const value = event.details?.[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function detailNumber(event: AccessEvent, key: string): number | undefined {
  const value = event.details?.[key];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** The event's kind in words: "Access granted", "Access denied — unknown card", "Door opened". */
export function describeEvent(event: AccessEvent): string {
  if (event.type === 'access') {
    if (event.decision === 'granted')
      return event.reason === 'pickup_code' ? 'Access granted — pickup code' : 'Access granted';
    if (event.decision === 'denied') {
      const via = detailString(event, 'via') === 'pin' ? 'pin' : 'card';
      return `Access denied — ${denyReason(event.reason, via)}`;
    }
    return 'Access';
  }
  if (event.type === 'alarm_cleared') {
    const kind = detailString(event, 'kind');
    return kind === undefined ? 'Alarm cleared' : `Alarm cleared — ${alarmLabel(kind)}`;
  }
  if (event.type === 'reader_error' && event.reason)
    return `Reader error — ${humanize(event.reason)}`;
  return EVENT_TYPES[event.type] ?? humanize(event.type);
}

/** 'ok' | 'warn' | 'danger' | 'neutral': the row's colour. */
export function eventTone(event: AccessEvent): 'ok' | 'warn' | 'danger' | 'neutral' {
  if (event.type === 'access') return event.decision === 'granted' ? 'ok' : 'danger';
  switch (event.type) {
    case 'forced_open':
    case 'held_open':
    case 'tamper':
    case 'keypad_lockout':
    case 'strike_fault':
    case 'offline':
      return 'danger';
    case 'held_open_warning':
    case 'reader_error':
    case 'no_entry':
      return 'warn';
    case 'alarm_cleared':
    case 'online':
      return 'ok';
    default:
      return 'neutral';
  }
}

/** What was read or typed, when the event says: "H10301 12:4242", "code", "locked 300 s". */
export function eventDetail(event: AccessEvent): string | undefined {
  const format = detailString(event, 'format');
  const card = detailNumber(event, 'card');
  if (card !== undefined) {
    const facility = detailNumber(event, 'facility');
    return `${format ?? 'card'} ${facility === undefined ? '' : `${facility}:`}${card}`;
  }
  if (event.type === 'keypad_lockout') {
    const ms = detailNumber(event, 'lockMs');
    return ms === undefined ? undefined : `for ${Math.round(ms / 60_000) || 1} min`;
  }
  const via = detailString(event, 'via');
  if (via === 'pin') return 'keypad code';
  const detail = detailString(event, 'detail');
  return detail;
}

/** Newest first, as GET /api/events orders them: by time, then by id. */
export function compareEventsNewestFirst(a: AccessEvent, b: AccessEvent): number {
  if (a.at !== b.at) return a.at < b.at ? 1 : -1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** `events` and `more`, deduplicated by id, newest first, at most `limit`. */
export function mergeEvents(
  events: readonly AccessEvent[],
  more: readonly AccessEvent[],
  limit: number,
): AccessEvent[] {
  const byId = new Map<string, AccessEvent>();
  for (const e of [...events, ...more]) byId.set(e.id, e);
  return [...byId.values()].sort(compareEventsNewestFirst).slice(0, limit);
}
