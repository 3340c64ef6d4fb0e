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
  return result.data;
}

export function readQuery<T extends z.ZodType>(c: Context, schema: T): z.infer<T> {
  const result = schema.safeParse(c.req.query());
  if (!result.success) throw validationError(result.error);
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
