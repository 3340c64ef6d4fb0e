import { describe, expect, it } from 'vitest';
import { parseRosterCsv, parseRosterDate, RosterFileError } from './roster.csv.ts';

const UTC = { timeZone: 'UTC' };

describe('roster CSV', () => {
  it('reads a BOM, CRLF line ends and quoted cells with commas, quotes and line breaks', () => {
    const csv =
      '\uFEFFUnit,Name,Email,Phone,External_ID\r\n' +
      '4B,"Doe, Jane",JANE@Example.test,+1 555 0100,pms-1\r\n' +
      '\r\n' +
      '5C,"Ann ""Nan"" Lee",,,pms-2\r\n' +
      '6D,"Two\r\nLines",,,pms-3\r\n' +
      '7E,Bo,,,pms-4\r\n';
    const r = parseRosterCsv(csv, UTC);
    expect(r.rejected).toEqual([]);
    expect(r.entries).toEqual([
      {
        line: 2,
        unit: '4B',
        name: 'Doe, Jane',
        email: 'jane@example.test',
        phone: '+1 555 0100',
        externalId: 'pms-1',
      },
      { line: 4, unit: '5C', name: 'Ann "Nan" Lee', email: null, phone: null, externalId: 'pms-2' },
      { line: 5, unit: '6D', name: 'Two\nLines', email: null, phone: null, externalId: 'pms-3' },
      // The quoted line break above moves this row to line 7.
      { line: 7, unit: '7E', name: 'Bo', email: null, phone: null, externalId: 'pms-4' },
    ]);
  });

  it('names each bad row by its line and keeps the good ones', () => {
    const csv = [
      'unit,name,email,phone,external_id,move_in,move_out',
      '1A,Ok Person,ok@example.test,,a1,2026-01-01,',
      ',No Unit,,,a2,,',
      '1C,Bad Mail,not-an-email,,a3,,',
      '1D,Bad Phone,,call me,a4,,',
      '1E,Bad Date,,,a5,2026-02-30,',
      '1F,Backwards,,,a6,2026-05-01,2026-04-01',
      '1G,Short Row,,',
      '1H,,,,a8,,',
    ].join('\n');
    const r = parseRosterCsv(csv, UTC);
    expect(r.entries.map((e) => e.line)).toEqual([2]);
    expect(r.rejected.map((e) => [e.line, e.errors])).toEqual([
      [3, ['unit: required']],
      [4, ["email: 'not-an-email' is not an email address"]],
      [5, ['phone: a phone number (digits, spaces, + - ( )), 5-32 characters']],
      [6, ["move_in: '2026-02-30' is not a calendar date"]],
      [7, ['move_out: must be after move_in']],
      [8, ['has 4 cells; the header has 7']],
      [9, ['name: required']],
    ]);
  });

  it('rejects the same resident twice in one file, pointing at the first line', () => {
    const csv = [
      'unit,name,email,external_id',
      '2A,Kim,kim@example.test,x1',
      '2B,Kim Again,,x1',
      '3A,Lee,lee@example.test,',
      '3a,LEE,LEE@example.test,',
    ].join('\n');
    const r = parseRosterCsv(csv, UTC);
    expect(r.entries.map((e) => e.line)).toEqual([2, 4]);
    expect(r.rejected).toEqual([
      { line: 3, unit: '2B', name: 'Kim Again', errors: ["external_id 'x1' is already on line 2"] },
      {
        line: 5,
        unit: '3a',
        name: 'LEE',
        errors: ['the same resident (unit, name, email) is already on line 4'],
      },
    ]);
  });

  it('refuses a file without a usable header as a whole', () => {
    const fail = (csv: string) => {
      try {
        parseRosterCsv(csv, UTC);
      } catch (err) {
        expect(err).toBeInstanceOf(RosterFileError);
        return (err as Error).message;
      }
      throw new Error('expected the file to be refused');
    };
    expect(fail('')).toMatch(/empty/);
    expect(fail('unit,email\n1A,a@b.cd')).toMatch(/no 'name' column/);
    expect(fail('unit,name,moveout\n1A,X,2026-01-01')).toMatch(/unknown column 'moveout'/);
    expect(fail('unit,name,name\n1A,X,Y')).toMatch(/'name' twice/);
    expect(fail('unit,name\n1A,"open quote\n2B,x\n')).toMatch(/not valid CSV \(line \d+\)/);
  });

  it('leaves fields of absent columns alone and clears fields of empty cells', () => {
    const r = parseRosterCsv('unit,name,email\n1A,X,\n', UTC);
    expect(r.entries[0]).toEqual({ line: 2, unit: '1A', name: 'X', email: null });
    expect('phone' in r.entries[0]!).toBe(false);
  });
});

describe('roster dates', () => {
  it('takes a move-in date at the start of the day and a move-out at its end, in site time', () => {
    // Chicago is UTC-6 in January: the day starts at 06:00 UTC.
    expect(parseRosterDate('2026-01-15', 'America/Chicago', 'start')).toEqual(
      new Date('2026-01-15T06:00:00Z'),
    );
    expect(parseRosterDate('2026-01-15', 'America/Chicago', 'end')).toEqual(
      new Date('2026-01-16T06:00:00Z'),
    );
    // Across the spring DST change (8 March 2026) the next midnight is at 05:00 UTC.
    expect(parseRosterDate('2026-03-08', 'America/Chicago', 'end')).toEqual(
      new Date('2026-03-09T05:00:00Z'),
    );
    expect(parseRosterDate('2026-07-01', 'Europe/Berlin', 'start')).toEqual(
      new Date('2026-06-30T22:00:00Z'),
    );
    // Santiago skips midnight (24:00 Saturday is 01:00 Sunday): the day starts at 01:00 -03, not
    // at 23:00 the evening before.
    expect(parseRosterDate('2026-09-06', 'America/Santiago', 'start')).toEqual(
      new Date('2026-09-06T04:00:00Z'),
    );
  });

  it('takes a full ISO time with its zone as written and refuses anything else', () => {
    expect(parseRosterDate('2026-04-01T17:30:00-05:00', 'UTC', 'end')).toEqual(
      new Date('2026-04-01T22:30:00Z'),
    );
    expect(parseRosterDate('04/01/2026', 'UTC', 'start')).toMatch(/not a date/);
    expect(parseRosterDate('2026-04-01T17:30:00', 'UTC', 'start')).toMatch(/not a date/);
  });
});
