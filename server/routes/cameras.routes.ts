import { Hono } from 'hono';
import type { CameraDirectory, CameraStatus } from '../cameras/camera.types.ts';
import { requirePermission } from '../http/auth.middleware.ts';
import type { AppEnv } from '../http/context.ts';

/**
 * The cameras and what each is doing: online and recording, or offline and why (in words staff
 * can act on). Staff who may see the doors may see the cameras beside them.
 */
export function cameraRoutes(deps: { cameras: CameraDirectory }) {
  const app = new Hono<AppEnv>();
  app.get('/cameras', requirePermission('doors:read'), (c) =>
    c.json({ items: deps.cameras.list() }),
  );
  return app;
}

/**
 * The cameras' part of /api/health, which anyone may read: counts, and the fault of each camera
 * that is not online (a missing part shows by name), but no reasons: those can carry addresses.
 */
export function cameraHealth(list: CameraStatus[]): {
  total: number;
  online: number;
  offline: number;
  starting: number;
  faults: { id: string; fault: NonNullable<CameraStatus['fault']> }[];
} {
  const faults: { id: string; fault: NonNullable<CameraStatus['fault']> }[] = [];
  let online = 0;
  let offline = 0;
  let starting = 0;
  for (const c of list) {
    switch (c.state) {
      case 'online':
        online++;
        break;
      case 'offline':
        offline++;
        if (c.fault) faults.push({ id: c.id, fault: c.fault });
        break;
      case 'starting':
        starting++;
        break;
    }
  }
  return { total: list.length, online, offline, starting, faults };
}
