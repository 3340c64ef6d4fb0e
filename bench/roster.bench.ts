/**
 * Roster import speed (`npm run bench` table 14; alone: `npx tsx bench/roster.bench.ts
 * [--units 300,3000]`). A generated building
 * (one resident per unit, every column filled) goes through the real parser and importer into
 * PGlite on disk, as `npm start` runs it: a dry run, the first import, an unchanged re-import,
 * and a re-import in which 5% of the residents move out (cards revoked in the same transaction).
 * Nothing is asserted; the target is "300 units in seconds".
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, sites } from '../db/index.ts';
import { manualClock } from '../hardware/clock.ts';
import { parseRosterCsv } from '../server/roster/roster.csv.ts';
import { createRosterImporter } from '../server/roster/roster.import.ts';
import { formatTable, round } from './stats.ts';

function building(units: number, movedOut = 0): string {
  const lines = ['unit,name,email,phone,external_id,move_in,move_out'];
  for (let i = 0; i < units; i++) {
    const unit = `${Math.floor(i / 10) + 1}${'ABCDEFGHIJ'[i % 10]}`;
    const out = i < movedOut ? '2026-11-01' : '';
    lines.push(
      `${unit},"Resident, ${unit}",r${i}@example.test,+1 555 ${String(i).padStart(4, '0')},pms-${i},2025-06-01,${out}`,
    );
  }
  return lines.join('\r\n');
}

export interface RosterBenchRow {
  units: number;
  step: string;
  parseMs: number;
  importMs: number;
  summary: Record<string, number>;
}

/** Each building size through the four steps; `progress` hears each step as it ends. */
export async function runRosterBench(
  progress: (line: string) => void,
  opts: { sizes?: number[] } = {},
): Promise<RosterBenchRow[]> {
  const rows: RosterBenchRow[] = [];
  for (const units of opts.sizes ?? [300, 3000]) {
    const dir = await mkdtemp(join(tmpdir(), 'roster-bench-'));
    const database = await openDatabase({ dataDir: dir });
    try {
      await database.db.insert(sites).values({ id: 'bench', name: 'Bench', timezone: 'UTC' });
      const clock = manualClock(Date.UTC(2026, 10, 21, 9));
      const importer = createRosterImporter({
        db: database.db,
        siteId: 'bench',
        clock,
        onAccessChange: async () => undefined,
      });
      const time = async (step: string, csv: string, dryRun: boolean) => {
        const t0 = performance.now();
        const parsed = parseRosterCsv(csv, { timeZone: 'UTC' });
        const t1 = performance.now();
        const r = await importer.run(parsed, { dryRun, source: 'csv', by: 'bench' });
        const t2 = performance.now();
        const row = {
          units,
          step,
          parseMs: round(t1 - t0, 0),
          importMs: round(t2 - t1, 0),
          summary: { ...r.summary },
        };
        rows.push(row);
        progress(`roster ${units} units, ${step}: ${row.parseMs} + ${row.importMs} ms`);
      };
      const csv = building(units);
      await time('dry run', csv, true);
      await time('first import', csv, false);
      await time('re-import (unchanged)', csv, false);
      await time('5% move out', building(units, Math.ceil(units / 20)), false);
    } finally {
      await database.close();
      await rm(dir, { recursive: true, force: true });
    }
  }
  return rows;
}

export function formatRosterReport(rows: RosterBenchRow[], section = '14'): string[] {
  return [
    formatTable(
      `${section}. Roster import from CSV into PGlite on disk (parse + plan + one transaction)`,
      ['units', 'step', 'parse ms', 'import ms', 'created', 'updated', 'moved out', 'unchanged'],
      rows.map((r) => [
        r.units,
        r.step,
        r.parseMs,
        r.importMs,
        r.summary['created'] ?? 0,
        r.summary['updated'] ?? 0,
        r.summary['movedOut'] ?? 0,
        r.summary['unchanged'] ?? 0,
      ]),
    ),
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = process.argv.indexOf('--units');
  const sizes = (arg > 0 ? process.argv[arg + 1]! : '300,3000').split(',').map(Number);
  const rows = await runRosterBench((line) => process.stderr.write(`${line}\n`), { sizes });
  process.stdout.write(formatRosterReport(rows).join('\n') + '\n');
}
