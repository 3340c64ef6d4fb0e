// Small display helpers shared by the pages.

/** A timestamp (ISO string or epoch ms) as local date and time; the raw value if unparsable. */
export function formatTime(value: string | number | null | undefined): string {
  if (value === null || value === undefined || value === '') return '—';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

/** Server field names may arrive as paths (`body.cardNumber`); keep the last segment. */
export function fieldName(field: string | undefined): string | undefined {
  if (field === undefined || field === '') return undefined;
  const parts = field.split(/[.[\]/]+/).filter((p) => p !== '');
  return parts[parts.length - 1];
}

/** `''` and whitespace-only become undefined, everything else is trimmed. */
export function optionalText(value: string): string | undefined {
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

/**
 * Splits a failed request into a message for one of the form's fields (when the server named a
 * field the form has) or for the form as a whole.
 */
export function formErrors(
  error: { message: string; field?: string | undefined },
  fields: readonly string[],
): { field: string | undefined; message: string } {
  const name = fieldName(error.field);
  if (name !== undefined && fields.includes(name)) return { field: name, message: error.message };
  const prefix = error.field !== undefined && error.field !== '' ? `${error.field}: ` : '';
  return { field: undefined, message: `${prefix}${error.message}` };
}

/**
 * A short time for live lists: "10:42:07" today, "12 Mar, 10:42" on another day; the raw value if
 * unparsable.
 */
export function formatClock(value: string | number | null | undefined, now = new Date()): string {
  if (value === null || value === undefined || value === '') return '—';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  if (date.toDateString() === now.toDateString()) {
    return date.toLocaleTimeString(undefined, {
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
  }
  return date.toLocaleString(undefined, {
    day: 'numeric',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
  });
}

/** "HH:MM" today, or day, month and time on another day: for "since …" badges. */
export function formatSince(value: string, now = new Date()): string {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return value;
  const time = date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  if (date.toDateString() === now.toDateString()) return time;
  return `${date.toLocaleDateString(undefined, { day: 'numeric', month: 'short' })} ${time}`;
}

const pad = (n: number, width = 2): string => String(Math.trunc(n)).padStart(width, '0');

/** A Date as the value of an `<input type="datetime-local">` (local time, minutes). */
export function toDatetimeLocal(date: Date): string {
  return (
    `${pad(date.getFullYear(), 4)}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}

/**
 * The value of an `<input type="datetime-local">` (browser-local wall time) as ISO-8601 with this
 * browser's zone offset at that moment, e.g. "2025-03-12T18:30:00+01:00". Undefined when empty
 * or unparsable.
 */
export function localInputToIso(value: string): string | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(value.trim());
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m;
  const date = new Date(
    Number(y),
    Number(mo) - 1,
    Number(d),
    Number(h),
    Number(mi),
    Number(s ?? 0),
  );
  if (Number.isNaN(date.getTime())) return undefined;
  // getTimezoneOffset is minutes *behind* UTC (UTC+2 gives -120), for that date (DST-aware).
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  return (
    `${pad(date.getFullYear(), 4)}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}` +
    `${sign}${pad(abs / 60)}:${pad(abs % 60)}`
  );
}
