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
