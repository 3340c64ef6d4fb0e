export * as schema from './schema.ts';
export * from './schema.ts';
export {
  openDatabase,
  lockDataDir,
  DatabaseLockedError,
  MIGRATIONS_DIR,
  type Db,
  type Database,
  type DatabaseKind,
  type OpenOptions,
  type Schema,
} from './database.ts';
export { newId } from './ids.ts';
