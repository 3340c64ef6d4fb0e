import { describe, expect, it } from 'vitest';
import type { AuditRow } from './audit.search.ts';
import {
  AUDIT_CSV_COLUMNS,
  AUDIT_CSV_HEADER,
  auditCsvCells,
  csvCell,
  csvLine,
} from './csv.format.ts';

describe('CSV cells (RFC 4180)', () => {
  it('leaves plain text alone and empties missing values', () => {
    expect(csvCell('front')).toBe('front');
    expect(csvCell('2026-11-21T09:00:00.000Z')).toBe('2026-11-21T09:00:00.000Z');
    expect(csvCell(undefined)).toBe('');
    expect(csvCell(null)).toBe('');
    expect(csvCell('')).toBe('');
  });

  it('quotes commas, quotes and line breaks, doubling the quotes', () => {
    expect(csvCell('Moreau, Alice')).toBe('"Moreau, Alice"');
    expect(csvCell('the "big" box')).toBe('"the ""big"" box"');
    expect(csvCell('two\nlines')).toBe('"two\nlines"');
    expect(csvCell('cr\r\nlf')).toBe('"cr\r\nlf"');
  });

  it('neutralises cells a spreadsheet would run as a formula', () => {
    expect(csvCell('=HYPERLINK("http://evil.test","x")')).toBe(
      `"'=HYPERLINK(""http://evil.test"",""x"")"`,
    );
    expect(csvCell('+1-555-0100')).toBe("'+1-555-0100");
    expect(csvCell('-2+3')).toBe("'-2+3");
    expect(csvCell('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvCell('\t=1')).toBe("'\t=1");
    expect(csvCell('\r=1')).toBe(`"'\r=1"`);
    // Only the first character counts.
    expect(csvCell('a=b')).toBe('a=b');
  });

  it('ends each record with CRLF', () => {
    expect(csvLine(['a', undefined, 'b,c'])).toBe('a,,"b,c"\r\n');
  });
});

describe('audit rows as CSV', () => {
  const row: AuditRow = {
    id: 'e1',
    at: '2026-11-21T09:00:07.000Z',
    source: 'event',
    type: 'package_picked_up',
    resident: { id: 'r1', name: '=cmd|" /C calc"!A0', unit: '4B' },
    packageId: 'p1',
    trackingNumber: '1Z999AA10123456784',
    packageUnit: '4B',
    carrier: 'UPS',
    clipUrl: '/api/events/e1/clip',
    snapshotUrl: '/api/events/e1/clip/poster',
  };

  it('have one cell per column, in the header order', () => {
    expect(auditCsvCells(row)).toHaveLength(AUDIT_CSV_COLUMNS.length);
    expect(AUDIT_CSV_HEADER).toBe(`${AUDIT_CSV_COLUMNS.join(',')}\r\n`);
    const cells = auditCsvCells(row);
    const at = (name: (typeof AUDIT_CSV_COLUMNS)[number]) => cells[AUDIT_CSV_COLUMNS.indexOf(name)];
    expect(at('resident_unit')).toBe('4B');
    expect(at('tracking_number')).toBe('1Z999AA10123456784');
    expect(at('clip_url')).toBe('/api/events/e1/clip');
    expect(at('id')).toBe('e1');
  });

  it('a hostile name stays inert text', () => {
    const line = csvLine(auditCsvCells(row));
    expect(line).toContain(`"'=cmd|"" /C calc""!A0"`);
    expect(line.endsWith('\r\n')).toBe(true);
  });

  it('a flag row names its kind, status and severity', () => {
    const cells = auditCsvCells({
      id: 'f1',
      at: '2026-11-21T09:00:05.500Z',
      source: 'flag',
      type: 'tailgating',
      cameraId: 'room-cam',
      flag: { kind: 'tailgating', status: 'confirmed', severity: 'high' },
      clipUrl: '/api/flags/f1/clip',
    });
    expect(
      cells.slice(AUDIT_CSV_COLUMNS.indexOf('flag_kind'), AUDIT_CSV_COLUMNS.indexOf('clip_url')),
    ).toEqual(['tailgating', 'confirmed', 'high']);
  });
});
