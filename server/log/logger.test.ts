import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.ts';

describe('logger', () => {
  it('writes one JSON object per line, above the level, with child fields and errors', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'info', write: (l) => lines.push(l), now: () => 0 });
    log.debug('hidden');
    log.child({ door: 'front' }).warn('held open', { err: new Error('boom') });
    expect(lines).toHaveLength(1);
    const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(rec).toMatchObject({
      time: '1970-01-01T00:00:00.000Z',
      level: 'warn',
      msg: 'held open',
      door: 'front',
      err: { name: 'Error', message: 'boom' },
    });
  });
});
