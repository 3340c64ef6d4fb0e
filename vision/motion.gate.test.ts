import { describe, expect, it } from 'vitest';
import { createMotionGate, MotionGateError } from './motion.gate.ts';
import type { Frame } from './vision.ports.ts';
import type { Zone } from './zones.ts';

const W = 320;
const H = 180;
const zones: Zone[] = [
  {
    id: 'left',
    kind: 'shelf',
    polygon: [
      [0, 0],
      [0.5, 0],
      [0.5, 1],
      [0, 1],
    ],
  },
  {
    id: 'right',
    kind: 'door',
    polygon: [
      [0.5, 0],
      [1, 0],
      [1, 1],
      [0.5, 1],
    ],
  },
];

/** Deterministic noise, so a failure reproduces. */
function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Scene {
  at: number;
  /** Added to every pixel (lighting). */
  brightness?: number;
  /** A dark block (a person, a parcel) at this top-left corner, 40×40 px. */
  block?: { x: number; y: number };
}

/** A textured room (gradient + stripes) with sensor noise of ±4 grey levels. */
function scene(s: Scene, rand: () => number): Frame {
  const rgb = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let v = 60 + (x * 100) / W + (Math.floor(y / 30) % 2) * 30;
      if (s.block && x >= s.block.x && x < s.block.x + 40 && y >= s.block.y && y < s.block.y + 40) {
        v = 15;
      }
      v += (s.brightness ?? 0) + (rand() - 0.5) * 8;
      const c = Math.max(0, Math.min(255, Math.round(v)));
      const i = (y * W + x) * 3;
      rgb[i] = c;
      rgb[i + 1] = c;
      rgb[i + 2] = c;
    }
  }
  return { cameraId: 'cam', at: s.at, width: W, height: H, rgb };
}

describe('motion gate', () => {
  it('sees no motion in a still picture with sensor noise', () => {
    const gate = createMotionGate({ zones });
    const rand = prng(1);
    const first = gate.analyse(scene({ at: 0 }, rand));
    expect(first).toMatchObject({ warmingUp: true, motion: false });
    for (let i = 1; i < 20; i++) {
      const r = gate.analyse(scene({ at: i * 200 }, rand));
      expect(r.warmingUp).toBe(false);
      expect(r.motion).toBe(false);
      expect(r.changedFraction).toBe(0);
      expect(r.zones.map((z) => z.motion)).toEqual([false, false]);
    }
  });

  it('sees a moving block, in its zone only', () => {
    const gate = createMotionGate({ zones });
    const rand = prng(2);
    gate.analyse(scene({ at: 0 }, rand));
    for (let i = 1; i <= 8; i++) {
      // Walks down the left half, 15 px per frame.
      const r = gate.analyse(scene({ at: i * 200, block: { x: 40, y: 10 + i * 15 } }, rand));
      expect(r.motion).toBe(true);
      const [left, right] = r.zones;
      expect(left).toMatchObject({ zoneId: 'left', motion: true });
      expect(left!.changedFraction).toBeGreaterThan(0.05);
      expect(right).toMatchObject({ zoneId: 'right', motion: false, changedFraction: 0 });
    }
  });

  it('sees no motion in a slow lighting ramp (dusk) nor a sudden exposure step', () => {
    const gate = createMotionGate({ zones });
    const rand = prng(3);
    // +4 grey levels per second for 20 s at 5 fps: 80 levels in all, far more than the threshold;
    // the background's own lag (4 levels/s × 5 s) would come close to it too.
    for (let i = 0; i <= 100; i++) {
      const r = gate.analyse(scene({ at: i * 200, brightness: i * 0.8 - 55 }, rand));
      expect(r.motion, `frame ${i}`).toBe(false);
      if (i > 50) expect(r.globalShift).toBeGreaterThan(10);
    }
    // The camera's auto-exposure drops by 55 levels at once.
    const r = gate.analyse(scene({ at: 20_200, brightness: -30 }, rand));
    expect(r.motion).toBe(false);
    expect(r.globalShift).toBeLessThan(-30); // less than 55: the background lagged the ramp
    // While a person under the same change is still seen.
    const withBlock = gate.analyse(
      scene({ at: 20_400, brightness: -30, block: { x: 200, y: 60 } }, rand),
    );
    expect(withBlock.zones.map((z) => z.motion)).toEqual([false, true]);
  });

  it('lets a parcel left on the shelf melt into the background after the same time at any fps', () => {
    const settle = (stepMs: number) => {
      const gate = createMotionGate({ zones, backgroundTauMs: 2000 });
      const rand = prng(4);
      gate.analyse(scene({ at: 0 }, rand));
      for (let at = stepMs; at < 30_000; at += stepMs) {
        const r = gate.analyse(scene({ at, block: { x: 60, y: 60 } }, rand));
        if (!r.motion) return at;
      }
      return Infinity;
    };
    const slow = settle(500);
    const fast = settle(100);
    expect(slow).toBeGreaterThan(2000);
    expect(slow).toBeLessThan(15_000);
    // Within one frame period of each rate (the threshold is crossed between two frames).
    expect(Math.abs(slow - fast)).toBeLessThanOrEqual(600);
  });

  it('asks for detection on motion, while tracks are alive, and for holdMs after motion', () => {
    const gate = createMotionGate({ zones, holdMs: 1000 });
    const rand = prng(5);
    const still = (at: number) => scene({ at }, rand);
    expect(gate.shouldDetect(still(0), { tracksAlive: 0 })).toBe(true); // no background yet
    expect(gate.shouldDetect(still(200), { tracksAlive: 0 })).toBe(false);
    expect(gate.shouldDetect(still(400), { tracksAlive: 1 })).toBe(true);
    expect(
      gate.shouldDetect(scene({ at: 600, block: { x: 10, y: 10 } }, rand), { tracksAlive: 0 }),
    ).toBe(true);
    expect(gate.lastResult()?.motion).toBe(true);
    // The block is gone again (the background had barely taken it in): nothing moves, but the
    // gate keeps asking for holdMs after the last motion.
    expect(gate.shouldDetect(still(800), { tracksAlive: 0 })).toBe(true);
    expect(gate.lastResult()?.motion).toBe(false);
    expect(gate.shouldDetect(still(1500), { tracksAlive: 0 })).toBe(true);
    expect(gate.shouldDetect(still(1600), { tracksAlive: 0 })).toBe(false);
  });

  it('starts over when the frame size changes, and refuses a malformed frame', () => {
    const gate = createMotionGate();
    const rand = prng(6);
    gate.analyse(scene({ at: 0 }, rand));
    const small: Frame = {
      cameraId: 'cam',
      at: 200,
      width: 32,
      height: 18,
      rgb: new Uint8Array(32 * 18 * 3),
    };
    expect(gate.analyse(small).warmingUp).toBe(true);
    expect(() => gate.analyse({ ...small, rgb: new Uint8Array(5) })).toThrow(MotionGateError);
    expect(() => createMotionGate({ pixelThreshold: -1 })).toThrow(/pixelThreshold/);
  });
});
