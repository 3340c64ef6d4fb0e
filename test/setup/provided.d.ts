// Values the global setup (test/setup/global.setup.ts) hands to tests via `inject(...)`.
export {};

declare module 'vitest' {
  export interface ProvidedContext {
    /**
     * `postgres://parcelroom@127.0.0.1:<port>/postgres` of the run-wide PostgreSQL server, or null
     * when PostgreSQL is not installed (local runs only; CI=true fails instead) or the project
     * does not get one (unit). Create a database per test file with `createDatabase()`.
     */
    pgBaseUrl: string | null;
    /** Version of that server, e.g. "15.14", or null. */
    pgVersion: string | null;
    /** Path of the system Chromium, or null when not installed. */
    chromiumPath: string | null;
  }
}
