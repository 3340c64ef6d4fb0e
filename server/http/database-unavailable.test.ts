import { describe, expect, it } from 'vitest';
import { isDatabaseUnavailable } from './database-unavailable.ts';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('isDatabaseUnavailable', () => {
  it('knows a database that is out of reach', () => {
    expect(
      isDatabaseUnavailable(withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')),
    ).toBe(true);
    expect(isDatabaseUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(
      isDatabaseUnavailable(
        withCode('terminating connection due to administrator command', '57P01'),
      ),
    ).toBe(true);
    expect(isDatabaseUnavailable(withCode('the database system is starting up', '57P03'))).toBe(
      true,
    );
    expect(isDatabaseUnavailable(withCode('connection failure', '08006'))).toBe(true);
    // Drizzle's wrapper around the driver's error.
    expect(
      isDatabaseUnavailable(
        new Error('Failed query: select 1', {
          cause: withCode('connect ECONNREFUSED', 'ECONNREFUSED'),
        }),
      ),
    ).toBe(true);
    expect(
      isDatabaseUnavailable(
        new AggregateError(
          [withCode('a', 'ECONNREFUSED'), withCode('b', 'ECONNREFUSED')],
          'all failed',
        ),
      ),
    ).toBe(true);
  });

  it('leaves every other failure a 500', () => {
    expect(
      isDatabaseUnavailable(withCode('duplicate key value violates unique constraint', '23505')),
    ).toBe(false);
    expect(isDatabaseUnavailable(withCode('syntax error at or near "selec"', '42601'))).toBe(false);
    expect(
      isDatabaseUnavailable(
        new Error('Failed query: select', { cause: new TypeError('x is undefined') }),
      ),
    ).toBe(false);
    expect(
      isDatabaseUnavailable(new AggregateError([withCode('a', 'ECONNREFUSED'), new Error('b')])),
    ).toBe(false);
    expect(isDatabaseUnavailable(null)).toBe(false);
    expect(isDatabaseUnavailable('ECONNREFUSED')).toBe(false);
    const loop: { cause?: unknown } & Error = new Error('loop');
    loop.cause = loop;
    expect(isDatabaseUnavailable(loop)).toBe(false);
  });
});
