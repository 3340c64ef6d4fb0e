import { Hono } from 'hono';
import { z } from 'zod';
import { encodeKeyBurst, isKeypadKey } from '../../access/index.ts';
import type { DoorRuntime, ReaderOutcome } from '../doors/door.runtime.ts';
import { requirePermission } from '../http/auth.middleware.ts';
import type { AppEnv } from '../http/context.ts';
import { createTurns } from '../http/turns.ts';
import { ApiError, readBody } from '../http/errors.ts';

const contactBody = z.strictObject({ state: z.enum(['open', 'closed']) });
const wiegandBody = z.strictObject({ bits: z.string().min(1).max(256) });
const keysBody = z.strictObject({
  keys: z.string().min(1).max(64),
  mode: z.enum(['4bit', '8bit']).default('4bit'),
});

function answer(outcome: ReaderOutcome): {
  decision?: 'granted' | 'denied';
  reason?: string;
  eventId?: string;
} {
  switch (outcome.kind) {
    case 'decision':
      return {
        decision: outcome.decision.decision,
        reason: outcome.decision.reason,
        eventId: outcome.eventId,
      };
    case 'keypad':
      switch (outcome.outcome.kind) {
        case 'decided':
          return {
            decision: outcome.outcome.decision.decision,
            reason: outcome.outcome.decision.reason,
            ...(outcome.eventId ? { eventId: outcome.eventId } : {}),
          };
        case 'rejected':
          return { reason: outcome.outcome.reason };
        case 'pending':
        case 'cleared':
          return {};
      }
      break;
    case 'fault':
      return { reason: outcome.reason };
  }
}

export function doorRoutes(deps: { doors: DoorRuntime }) {
  const app = new Hono<AppEnv>();

  app.get('/doors', requirePermission('doors:read'), (c) => c.json(deps.doors.doors()));

  // Simulated hardware: only for doors and readers whose driver is 'sim'. The input goes through
  // the simulated reader's driver interface, exactly as a real reader's would. Requests on one
  // reader take turns, so each answer is the outcome of its own input, as at a real reader.
  const inTurn = createTurns();

  const simReader = (id: string) => {
    const reader = deps.doors.simReader(id);
    if (!reader) throw new ApiError(404, 'not_found', `no simulated reader '${id}'`);
    return reader;
  };
  const simDoor = (id: string) => {
    const door = deps.doors.sim(id);
    if (!door) throw new ApiError(404, 'not_found', `no simulated door '${id}'`);
    return door;
  };

  app.post('/sim/readers/:id/wiegand', requirePermission('sim:drive'), async (c) => {
    const id = c.req.param('id');
    const reader = simReader(id);
    const body = await readBody(c, wiegandBody);
    const result = await inTurn(id, async () => {
      const outcome = deps.doors.nextOutcome(id);
      reader.send({ kind: 'frame', bits: body.bits });
      return answer(await outcome);
    });
    return c.json(result);
  });

  app.post('/sim/readers/:id/keys', requirePermission('sim:drive'), async (c) => {
    const id = c.req.param('id');
    const reader = simReader(id);
    const body = await readBody(c, keysBody);
    const keys = [...body.keys];
    const bad = keys.find((k) => !isKeypadKey(k));
    if (bad !== undefined)
      throw new ApiError(400, 'invalid_body', `'${bad}' is not a keypad key (0-9, *, #)`, 'keys');
    const last = await inTurn(id, async () => {
      let result: ReturnType<typeof answer> = {};
      for (const key of keys) {
        if (!isKeypadKey(key)) continue;
        const outcome = deps.doors.nextOutcome(id);
        reader.send({ kind: 'key-burst', bits: encodeKeyBurst(key, body.mode) });
        const a = answer(await outcome);
        if (a.decision || a.reason) result = a;
      }
      return result;
    });
    return c.json(last);
  });

  app.post('/sim/doors/:id/contact', requirePermission('sim:drive'), async (c) => {
    const door = simDoor(c.req.param('id'));
    const body = await readBody(c, contactBody);
    door.sensor.setContact(body.state);
    return c.json({ ok: true });
  });

  app.post('/sim/doors/:id/rex', requirePermission('sim:drive'), (c) => {
    simDoor(c.req.param('id')).sensor.pressRex();
    return c.json({ ok: true });
  });

  return app;
}
