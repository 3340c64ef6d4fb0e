import { describe, expect, it } from 'vitest';
import type { CameraStatus } from './camera.types.ts';
import {
  clipReadiness,
  clipWindowAt,
  createClipLinker,
  noVideoReason,
  pickSiteCamera,
  type RecordingSpan,
} from './clip.service.ts';

const T = Date.UTC(2026, 0, 1, 12, 0, 0);
const window = { startAt: T, endAt: T + 35_000 };

describe('clipWindowAt', () => {
  it('takes the door settings', () => {
    expect(clipWindowAt({ clipBeforeMs: 2_000, clipAfterMs: 10_000 }, T)).toEqual({
      startAt: T - 2_000,
      endAt: T + 10_000,
    });
  });
  it('takes 5 s before and 30 s after for an unknown door', () => {
    expect(clipWindowAt(undefined, T)).toEqual({ startAt: T - 5_000, endAt: T + 30_000 });
  });
});

const cameras = [
  { id: 'door-cam', doorId: 'front' },
  { id: 'door-cam-2', doorId: 'front' },
  { id: 'back-cam', doorId: 'back' },
  { id: 'room-cam' },
];

describe('pickSiteCamera', () => {
  it("prefers the event's own camera, then the first camera of the door", () => {
    expect(pickSiteCamera(cameras, { cameraId: 'room-cam', doorIds: ['front'] })).toBe('room-cam');
    expect(pickSiteCamera(cameras, { doorIds: ['front'] })).toBe('door-cam');
    expect(pickSiteCamera(cameras, { doorIds: ['side', 'back'] })).toBe('back-cam');
  });
  it('ignores an event camera the site does not have', () => {
    expect(pickSiteCamera(cameras, { cameraId: 'gone', doorIds: ['back'] })).toBe('back-cam');
  });
  it('takes the only camera of a site, and none of several for an unwatched door', () => {
    expect(pickSiteCamera([{ id: 'only' }], { doorIds: ['front'] })).toBe('only');
    expect(pickSiteCamera(cameras, { doorIds: ['side'] })).toBeNull();
    expect(pickSiteCamera([], { doorIds: ['front'] })).toBeNull();
  });
});

describe('createClipLinker', () => {
  const site = {
    doors: [{ id: 'front' }, { id: 'side' }],
    cameras: [{ id: 'door-cam', doorId: 'front' }, { id: 'room-cam' }],
  } as unknown as Parameters<typeof createClipLinker>[0];
  const link = createClipLinker(site);
  const id = '019a0000-0000-7000-8000-000000000001';

  it('links entries at a watched door to the clip and its poster', () => {
    expect(link({ id, type: 'access', doorId: 'front' })).toEqual({
      clipUrl: `/api/events/${id}/clip`,
      snapshotUrl: `/api/events/${id}/clip/poster`,
      cameraId: 'door-cam',
    });
    for (const type of ['door_opened', 'forced_open', 'held_open', 'rex'])
      expect(link({ id, type, doorId: 'front' })?.cameraId).toBe('door-cam');
  });
  it('links parcel events, which have no door, to a door camera', () => {
    for (const type of ['package_checked_in', 'package_picked_up', 'wrong_pickup'])
      expect(link({ id, type, doorId: null })?.cameraId).toBe('door-cam');
  });
  it('does not link events without video, unwatched doors or odd ids', () => {
    expect(link({ id, type: 'door_closed', doorId: 'front' })).toBeNull();
    expect(link({ id, type: 'offline', doorId: 'front' })).toBeNull();
    expect(link({ id, type: 'access', doorId: 'side' })).toBeNull();
    expect(link({ id: '../x', type: 'access', doorId: 'front' })).toBeNull();
  });
  it("uses the event's own camera", () => {
    expect(link({ id, type: 'access', doorId: 'side', cameraId: 'room-cam' })?.cameraId).toBe(
      'room-cam',
    );
  });
});

describe('clipReadiness', () => {
  const base = {
    window,
    latestEndAt: null,
    recording: true,
    segmentMs: 4_000,
    giveUpAfterMs: 45_000,
  };

  it('waits for a window that has not ended, until a segment after its end', () => {
    expect(clipReadiness({ ...base, now: window.endAt - 10_000 })).toEqual({
      kind: 'wait',
      retryAfterMs: 12_000, // 10 s to the window end, then half a segment
      reason: expect.stringContaining('still to come'),
    });
  });

  it('is final once a segment or gap reaches the window end', () => {
    expect(clipReadiness({ ...base, now: window.endAt + 1, latestEndAt: window.endAt })).toEqual({
      kind: 'final',
      gaveUp: false,
    });
  });

  it('waits while the segment holding the window end is still being written', () => {
    const r = clipReadiness({
      ...base,
      now: window.endAt + 3_000,
      latestEndAt: window.endAt - 1_000,
    });
    expect(r).toEqual({ kind: 'wait', retryAfterMs: 2_000, reason: expect.any(String) });
  });

  it('gives up when the camera is not recording, after a moment to settle', () => {
    const stopped = { ...base, recording: false, latestEndAt: window.endAt - 20_000 };
    expect(clipReadiness({ ...stopped, now: window.endAt + 1_000 }).kind).toBe('wait');
    expect(clipReadiness({ ...stopped, now: window.endAt + 4_000 })).toEqual({
      kind: 'final',
      gaveUp: true,
    });
  });

  it('gives up on a camera that says it records but closed nothing for too long', () => {
    expect(clipReadiness({ ...base, now: window.endAt + 44_999 }).kind).toBe('wait');
    expect(clipReadiness({ ...base, now: window.endAt + 45_000 })).toEqual({
      kind: 'final',
      gaveUp: true,
    });
  });
});

describe('noVideoReason', () => {
  const seg = (s: number, e: number, deleted = false): RecordingSpan => ({
    kind: 'segment',
    startAt: T + s,
    endAt: T + e,
    deleted,
  });
  const gap = (s: number, e: number): RecordingSpan => ({
    kind: 'gap',
    startAt: T + s,
    endAt: T + e,
    deleted: false,
  });
  const camera = { name: 'Front door' };
  const status = (over: Partial<CameraStatus>): CameraStatus => ({
    id: 'door-cam',
    name: 'Front door',
    doorId: 'front',
    source: 'rtsp',
    state: 'offline',
    since: new Date(T - 60_000).toISOString(),
    recording: false,
    ...over,
  });

  it('names retention when deleted segments covered the window', () => {
    const r = noVideoReason({ window, rows: [seg(0, 4_000, true)], filesMissing: 0, camera });
    expect(r.code).toBe('retention');
    expect(r.reason).toMatch(/deleted by retention/);
  });

  it('names missing files', () => {
    expect(noVideoReason({ window, rows: [seg(0, 4_000)], filesMissing: 1, camera }).code).toBe(
      'files_missing',
    );
  });

  it('names the offline span of a gap', () => {
    const r = noVideoReason({ window, rows: [gap(-60_000, 90_000)], filesMissing: 0, camera });
    expect(r).toEqual({
      code: 'camera_offline',
      reason: `Front door was offline from ${new Date(T - 60_000).toISOString()} to ${new Date(T + 90_000).toISOString()}`,
    });
  });

  it("uses the camera's own reason when it stopped recording before the window ended", () => {
    const r = noVideoReason({
      window,
      rows: [],
      filesMissing: 0,
      camera: { ...camera, status: status({ reason: 'no answer from 10.0.0.5' }) },
    });
    expect(r).toEqual({
      code: 'camera_offline',
      reason: 'Front door is not recording: no answer from 10.0.0.5',
    });
  });

  it('says nothing was recorded when nobody knows why', () => {
    const later = status({ since: new Date(T + 3_600_000).toISOString() });
    for (const s of [undefined, status({ recording: true, state: 'online' }), later]) {
      const r = noVideoReason({
        window,
        rows: [],
        filesMissing: 0,
        camera: { ...camera, status: s },
      });
      expect(r.code).toBe('not_recorded');
    }
  });
});
