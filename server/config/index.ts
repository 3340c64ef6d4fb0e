export {
  siteSchema,
  doorSchema,
  readerSchema,
  cameraSchema,
  doorDriverSchema,
} from './site.schema.ts';
export type {
  SiteConfig,
  DoorConfig,
  DoorDriverConfig,
  ReaderConfig,
  CameraConfig,
} from './site.schema.ts';
export { settingsSchema, type Settings } from './settings.schema.ts';
export {
  ConfigError,
  loadConfig,
  parseSite,
  parseSettings,
  readSiteFile,
  interpolateEnv,
  formatPath,
  type LoadedConfig,
} from './config.loader.ts';
export { demoSite } from './demo.site.ts';
