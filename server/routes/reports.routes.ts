/**
 * The room report for managers (`analytics:read`): `GET /reports/room?from=&to=` answers every
 * figure at once as JSON, `GET /reports/room/<chart>.csv?from=&to=` one chart as a CSV file.
 * Days are `YYYY-MM-DD` in the site's time zone, both ends included; the default is the last 30
 * days, the most 400. The figures are counts, no one's name or parcel, so reading them is not
 * written to the staff audit log.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { requirePermission } from '../http/auth.middleware.ts';
import type { AppEnv } from '../http/context.ts';
import { ApiError, readQuery } from '../http/errors.ts';
import { isRoomChart, roomChartCsv, ROOM_CHARTS } from '../reports/room.csv.ts';
import { resolveRange, type RoomReportService } from '../reports/room.report.ts';

const rangeQuery = z.strictObject({
  from: z.string().max(40).optional(),
  to: z.string().max(40).optional(),
});

export function reportRoutes(deps: { report: RoomReportService }) {
  const app = new Hono<AppEnv>();
  const { report } = deps;

  app.get('/reports/room', requirePermission('analytics:read'), async (c) => {
    const range = resolveRange(readQuery(c, rangeQuery), report.today());
    return c.json(await report.report(range));
  });

  app.get('/reports/room/:file', requirePermission('analytics:read'), async (c) => {
    const file = c.req.param('file');
    const chart = file.endsWith('.csv') ? file.slice(0, -4) : '';
    if (!isRoomChart(chart))
      throw new ApiError(
        404,
        'not_found',
        `no chart '${file.slice(0, 60)}'; the charts are ${ROOM_CHARTS.map((n) => `${n}.csv`).join(', ')}`,
      );
    const range = resolveRange(readQuery(c, rangeQuery), report.today());
    const body = await roomChartCsv(report, chart, range);
    return c.body(body, 200, {
      'Content-Type': 'text/csv; charset=utf-8',
      'Content-Disposition': `attachment; filename="parcelroom-${chart}-${range.from}-to-${range.to}.csv"`,
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
    });
  });

  return app;
}
