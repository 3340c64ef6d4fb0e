import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { siteSchema, type SiteConfig } from './site.schema.ts';
import { settingsSchema, type Settings } from './settings.schema.ts';
import { demoSite } from './demo.site.ts';

/** A configuration mistake: start-up stops with exit code 2 and this message. */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly issues: { field: string; message: string }[],
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out || '(root)';
}

function toIssues(error: z.ZodError): { field: string; message: string }[] {
  return error.issues
    .map((issue) => {
      const path = [...issue.path];
      // zod reports unknown keys on the parent object; name the key itself, as a person reads it.
      if (issue.code === 'unrecognized_keys') {
        return issue.keys.map((key) => ({
          field: formatPath([...path, key]),
          message: 'unknown key',
        }));
      }
      return [{ field: formatPath(path), message: issue.message }];
    })
    .flat();
}

/** Replace ${NAME} in string values with the environment's NAME, so secrets stay out of files. */
export function interpolateEnv(
  value: unknown,
  env: Record<string, string | undefined>,
  path: (string | number)[] = [],
): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Z_][A-Z0-9_]*)\}/g, (_m, name: string) => {
      const v = env[name];
      if (v === undefined)
        throw new ConfigError(`${formatPath(path)}: environment variable ${name} is not set`, [
          { field: formatPath(path), message: `environment variable ${name} is not set` },
        ]);
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateEnv(v, env, [...path, i]));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, interpolateEnv(v, env, [...path, k])]),
    );
  }
  return value;
}

export function parseSite(
  raw: unknown,
  source: string,
  env: Record<string, string | undefined> = {},
): SiteConfig {
  const interpolated = interpolateEnv(raw, env);
  const result = siteSchema.safeParse(interpolated);
  if (!result.success) {
    const issues = toIssues(result.error);
    throw new ConfigError(
      `Invalid site file ${source}:\n` + issues.map((i) => `  ${i.field}: ${i.message}`).join('\n'),
      issues,
    );
  }
  return result.data;
}

export function readSiteFile(
  path: string,
  env: Record<string, string | undefined> = {},
): SiteConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`PARCELROOM_CONFIG: cannot read ${path}: ${(err as Error).message}`, [
      { field: 'PARCELROOM_CONFIG', message: 'cannot read the file' },
    ]);
  }
  let raw: unknown;
  try {
    const ext = extname(path).toLowerCase();
    raw = ext === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError(
      `Invalid site file ${path}: not valid JSON/YAML: ${(err as Error).message}`,
      [{ field: '(root)', message: 'not valid JSON or YAML' }],
    );
  }
  return parseSite(raw, path, env);
}

export function parseSettings(env: Record<string, string | undefined>): Settings {
  // Empty strings in the environment mean "unset", as shells and service files write them.
  const cleaned = Object.fromEntries(
    Object.entries(env).filter(
      ([k, v]) => k in settingsSchema.shape && v !== undefined && v !== '',
    ),
  );
  const result = settingsSchema.safeParse(cleaned);
  if (!result.success) {
    const issues = toIssues(result.error);
    throw new ConfigError(
      'Invalid settings:\n' + issues.map((i) => `  ${i.field}: ${i.message}`).join('\n'),
      issues,
    );
  }
  const s = result.data;
  if ((s.PARCELROOM_ADMIN_EMAIL === undefined) !== (s.PARCELROOM_ADMIN_PASSWORD === undefined)) {
    const field =
      s.PARCELROOM_ADMIN_EMAIL === undefined
        ? 'PARCELROOM_ADMIN_EMAIL'
        : 'PARCELROOM_ADMIN_PASSWORD';
    throw new ConfigError(`Invalid settings:\n  ${field}: set both admin email and password`, [
      { field, message: 'set both admin email and password' },
    ]);
  }
  return s;
}

export interface LoadedConfig {
  settings: Settings;
  site: SiteConfig;
  siteSource: string;
}

export function loadConfig(env: Record<string, string | undefined>): LoadedConfig {
  const settings = parseSettings(env);
  if (settings.PARCELROOM_CONFIG) {
    return {
      settings,
      site: readSiteFile(settings.PARCELROOM_CONFIG, env),
      siteSource: settings.PARCELROOM_CONFIG,
    };
  }
  return { settings, site: parseSite(demoSite(), 'built-in demo room'), siteSource: 'demo' };
}
