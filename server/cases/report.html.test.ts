import { describe, expect, it } from 'vitest';
import { escapeHtml, renderReport, type ReportInput } from './report.html.ts';

const input: ReportInput = {
  site: { id: 'demo', name: 'Maple & Co' },
  case: {
    id: 'c1',
    title: '<img src=x onerror=alert(1)>',
    description: 'a "quoted" note',
    status: 'open',
  },
  export: { id: 'e1', createdAt: '2026-11-21T09:00:00.000Z', createdBy: 'manager@example.test' },
  software: { name: 'parcelroom', version: '0.3.0' },
  keyId: '0123456789abcdef',
  items: [
    {
      id: 'i1',
      kind: 'event',
      refId: 'ev1',
      note: '</td><script>x()</script>',
      addedBy: 'Mia',
      at: '2026-11-21T08:00:00.000Z',
      summary: 'access granted at Package room door',
      door: 'Package room door',
      who: 'Ann Lee (4B)',
      clips: [
        {
          path: 'clips/event-ev1.mp4',
          cameraId: 'room-cam',
          startAt: '2026-11-21T07:59:55.000Z',
          endAt: '2026-11-21T08:00:30.000Z',
        },
      ],
      snapshots: ['snapshots/event-ev1-poster.jpg'],
      problems: ['flag f1: no video (room-cam was offline)'],
    },
  ],
  files: [{ path: 'clips/event-ev1.mp4', sha256: 'ab'.repeat(32), bytes: 1234 }],
};

describe('evidence report', () => {
  it('escapes everything people typed and links media by relative names', () => {
    const html = renderReport(input);
    expect(html).not.toMatch(/<script>|<img src=x/);
    expect(html).toContain(escapeHtml('<img src=x onerror=alert(1)>'));
    expect(html).toContain('&lt;/td&gt;&lt;script&gt;x()&lt;/script&gt;');
    expect(html).toContain('Maple &amp; Co');
    expect(html).toContain('href="clips/event-ev1.mp4"');
    expect(html).toContain('src="snapshots/event-ev1-poster.jpg"');
    expect(html).toContain('ab'.repeat(32));
    expect(html).toContain('room-cam was offline');
    expect(html).toContain("script-src 'none'");
    expect(html).toContain('@media print');
  });
});
