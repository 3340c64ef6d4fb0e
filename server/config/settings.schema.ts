import { z } from 'zod';

/** Process settings from the environment (CONTRACT.md, "Processes and settings"). */
export const settingsSchema = z.object({
  PORT: z.coerce.number().int().min(1).max(65535).default(8080).describe('Listen port.'),
  HOST: z.string().min(1).default('127.0.0.1').describe('Listen address.'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must start with postgres:// or postgresql://')
    .optional()
    .describe('PostgreSQL connection URL; unset uses embedded PGlite in DATA_DIR.'),
  DATA_DIR: z
    .string()
    .min(1)
    .default('./data')
    .describe('All local state: embedded database, recordings, clips, journal.'),
  PARCELROOM_CONFIG: z
    .string()
    .min(1)
    .optional()
    .describe('Path of a JSON or YAML site file; unset uses the built-in demo room.'),
  PARCELROOM_ADMIN_EMAIL: z
    .email()
    .optional()
    .describe('Admin account created at start when no admin exists.'),
  PARCELROOM_ADMIN_PASSWORD: z
    .string()
    .min(12, 'at least 12 characters')
    .max(256)
    .optional()
    .describe('Password of that admin account (at least 12 characters).'),
  PARCELROOM_SECRET: z
    .string()
    .min(32, 'at least 32 characters')
    .optional()
    .describe(
      'Key that hashes carrier and pickup codes; unset = a random key kept in DATA_DIR/site-secret.key.',
    ),
  PARCELROOM_SIGNING_KEY: z
    .string()
    .includes('-----BEGIN PRIVATE KEY-----', { message: 'a PKCS#8 PEM private key (Ed25519)' })
    .optional()
    .describe(
      'Ed25519 private key (PKCS#8 PEM) that signs evidence packages; unset = a key kept in DATA_DIR/evidence-signing.key.',
    ),
  PARCELROOM_MODEL: z.string().min(1).optional().describe("Path of the detector's ONNX model."),
  PARCELROOM_LOG_LEVEL: z
    .enum(['debug', 'info', 'warn', 'error'])
    .default('info')
    .describe('Lowest log level written to stdout.'),
  PARCELROOM_SESSION_HOURS: z.coerce
    .number()
    .min(0.1)
    .max(24 * 30)
    .default(12)
    .describe('Hours a console session lasts without use before it expires.'),
  PARCELROOM_SECURE_COOKIES: z
    .enum(['auto', 'always', 'never'])
    .default('auto')
    .describe('Mark the session cookie Secure: auto = when the request came over HTTPS.'),
});

export type Settings = z.infer<typeof settingsSchema>;
