export { createApp, type AppDeps } from './app.ts';
export { startServer, main, VERSION, type RunningServer } from './main.ts';
export * from './config/index.ts';
export { createLogger, memoryLogger, type Logger } from './log/logger.ts';
export { createAuthService, type AuthService, type Principal } from './auth/auth.service.ts';
export { createLoginLimiter, type LoginLimiter } from './auth/login.limiter.ts';
export { ROLES, PERMISSIONS, can, type Role, type Permission } from './auth/roles.ts';
export { createDoorBoard, type DoorBoard, type DoorStatus } from './doors/door.board.ts';
export { syncSite } from './site.sync.ts';
