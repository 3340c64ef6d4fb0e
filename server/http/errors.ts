import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { z } from 'zod';

/** An error the client can act on: `{error: {code, message, field?}}` with a 4xx status. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export const notFound = (what: string) => new ApiError(404, 'not_found', `${what} not found`);

export function errorBody(code: string, message: string, field?: string) {
  return { error: field === undefined ? { code, message } : { code, message, field } };
}

function fieldOf(path: readonly PropertyKey[]): string | undefined {
  if (path.length === 0) return undefined;
  return path
    .map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))
    .join('.')
    .replace(/\.\[/g, '[');
}

export function validationError(error: z.ZodError): ApiError {
  const first = error.issues[0];
  if (!first) return new ApiError(400, 'invalid_body', 'invalid request');
  let field = fieldOf(first.path);
  if (first.code === 'unrecognized_keys' && first.keys[0] !== undefined) {
    field = fieldOf([...first.path, first.keys[0]]);
    return new ApiError(400, 'invalid_body', `unknown field '${field}'`, field);
  }
  return new ApiError(
    400,
    'invalid_body',
    field ? `${field}: ${first.message}` : first.message,
    field,
  );
}

/**
 * The path of the first string (or key) holding U+0000 in already-validated input. PostgreSQL
 * text and jsonb cannot store that character at all, so it is refused here with the field named
 * instead of surfacing as a 500 from the database. Walks only schema-shaped data, never raw JSON,
 * so a hostile nesting depth never reaches it.
 */
function nulPath(value: unknown, path: (string | number)[] = []): (string | number)[] | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path : null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = nulPath(value[i], [...path, i]);
      if (found) return found;
    }
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      const found = k.includes('\u0000') ? [...path, k] : nulPath(v, [...path, k]);
      if (found) return found;
    }
  }
  return null;
}

function refuseNul(data: unknown, code: 'invalid_body' | 'invalid_query'): void {
  const path = nulPath(data);
  if (!path) return;
  const field = fieldOf(path);
  throw new ApiError(
    400,
    code,
    `${field ? `${field}: ` : ''}contains a NUL character (U+0000), which cannot be stored`,
    field,
  );
}

/** Parses a JSON body against a schema; a malformed body is a 400 naming the field. */
export async function readBody<T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T>> {
  const type = c.req.header('content-type') ?? '';
  if (!type.toLowerCase().startsWith('application/json')) {
    throw new ApiError(415, 'unsupported_media_type', 'send the body as application/json');
  }
  let raw: unknown;
  try {
    raw = await c.req.json();
  } catch {
    throw new ApiError(400, 'invalid_json', 'the body is not valid JSON');
  }
  const result = schema.safeParse(raw);
  if (!result.success) throw validationError(result.error);
  refuseNul(result.data, 'invalid_body');
  return result.data;
}

export function readQuery<T extends z.ZodType>(c: Context, schema: T): z.infer<T> {
  const result = schema.safeParse(c.req.query());
  if (!result.success) throw validationError(result.error);
  refuseNul(result.data, 'invalid_query');
  return result.data;
}

/**
 * For routes whose body is optional (the contract's `POST /packages/:id/pickup` takes none): no
 * body at all parses as `{}`; anything sent is checked like `readBody`.
 */
export async function readOptionalBody<T extends z.ZodType>(
  c: Context,
  schema: T,
): Promise<z.infer<T>> {
  const length = c.req.header('content-length');
  const hasBody =
    (length !== undefined && length !== '0') || c.req.header('transfer-encoding') !== undefined;
  if (!hasBody && !c.req.header('content-type')) {
    const result = schema.safeParse({});
    if (!result.success) throw validationError(result.error);
    return result.data;
  }
  return readBody(c, schema);
}
