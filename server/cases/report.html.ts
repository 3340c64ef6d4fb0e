/**
 * The human half of an evidence package: one self-contained HTML page (no scripts, no fetches)
 * that a police officer or an insurer opens from the unzipped folder and prints. Clips and
 * snapshots are linked by their relative names in the package; every file's SHA-256 is listed so
 * the printout itself pins what was handed over. Everything people typed (titles, notes, names)
 * is escaped: a case note is not markup.
 */
import type { Manifest } from './evidence.manifest.ts';

export interface ReportItem {
  id: string;
  kind: string;
  refId: string;
  note: string;
  addedBy: string;
  at: string | null;
  summary: string;
  door?: string | undefined;
  who?: string | undefined;
  clips: { path: string; startAt: string; endAt: string; cameraId: string }[];
  snapshots: string[];
  problems: string[];
  /** A parcel's chain of custody, oldest first. */
  custody?: { at: string; summary: string }[];
}

export interface ReportInput {
  site: Manifest['site'];
  case: Manifest['case'];
  export: Manifest['export'];
  software: Manifest['software'];
  keyId: string;
  items: ReportItem[];
  /** Every file but the manifest and its signature, with hashes. */
  files: { path: string; sha256: string; bytes: number }[];
}

const ESC: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => ESC[c]!);

/** A package path as a relative link: each segment percent-encoded. */
const href = (path: string) => path.split('/').map(encodeURIComponent).join('/');

const CSS = `
  body { font: 11pt/1.4 system-ui, sans-serif; color: #111; margin: 2em auto; max-width: 60em; padding: 0 1em; }
  h1 { font-size: 1.5em; margin-bottom: 0.2em; }
  h2 { font-size: 1.15em; border-bottom: 1px solid #999; margin-top: 1.6em; }
  table { border-collapse: collapse; width: 100%; }
  th, td { border: 1px solid #bbb; padding: 0.3em 0.5em; text-align: left; vertical-align: top; }
  th { background: #eee; }
  .meta td:first-child { width: 12em; font-weight: 600; }
  .hash { font-family: ui-monospace, monospace; font-size: 0.85em; word-break: break-all; }
  .problem { color: #a00; }
  .note { white-space: pre-wrap; }
  img { max-width: 100%; max-height: 18em; border: 1px solid #999; }
  .item { page-break-inside: avoid; margin-bottom: 1.2em; }
  @media print {
    body { margin: 0; max-width: none; }
    a { color: inherit; text-decoration: none; }
    h2 { page-break-after: avoid; }
  }
`;

export function renderReport(r: ReportInput): string {
  const e = escapeHtml;
  const rows: string[] = [];
  for (const item of r.items) {
    const media = [
      ...item.clips.map(
        (c) =>
          `<li>Clip <a href="${e(href(c.path))}">${e(c.path)}</a> (camera ${e(c.cameraId)}, ${e(c.startAt)} to ${e(c.endAt)})</li>`,
      ),
      ...item.problems.map((p) => `<li class="problem">${e(p)}</li>`),
    ];
    const pictures = item.snapshots.map(
      (s) =>
        `<figure><a href="${e(href(s))}"><img src="${e(href(s))}" alt="${e(s)}"></a><figcaption>${e(s)}</figcaption></figure>`,
    );
    const custody =
      item.custody && item.custody.length > 1
        ? `<p>Chain of custody:</p><ol>${item.custody.map((c) => `<li>${e(c.at)}: ${e(c.summary)}</li>`).join('')}</ol>`
        : '';
    rows.push(`<section class="item">
  <h3>${e(item.at ?? 'time unknown')} · ${e(item.kind)} ${e(item.refId)}</h3>
  <table class="meta">
    <tr><td>What</td><td>${e(item.summary)}</td></tr>
    <tr><td>Door</td><td>${e(item.door ?? '')}</td></tr>
    <tr><td>Who</td><td>${e(item.who ?? '')}</td></tr>
    <tr><td>Note</td><td class="note">${e(item.note)}</td></tr>
    <tr><td>Added by</td><td>${e(item.addedBy)}</td></tr>
  </table>
  ${custody}
  ${media.length > 0 ? `<ul>${media.join('')}</ul>` : ''}
  ${pictures.join('\n')}
</section>`);
  }
  const files = r.files
    .map(
      (f) =>
        `<tr><td>${e(f.path)}</td><td>${f.bytes}</td><td class="hash">${e(f.sha256)}</td></tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'none'; img-src 'self' file: data:; style-src 'unsafe-inline'">
<title>${e(r.case.title)} · evidence</title>
<style>${CSS}</style>
</head>
<body>
<h1>${e(r.case.title)}</h1>
<p class="note">${e(r.case.description)}</p>
<table class="meta">
  <tr><td>Building</td><td>${e(r.site.name)} (${e(r.site.id)})</td></tr>
  <tr><td>Case</td><td>${e(r.case.id)} (${e(r.case.status)})</td></tr>
  <tr><td>Package</td><td>${e(r.export.id)}</td></tr>
  <tr><td>Made at</td><td>${e(r.export.createdAt)}</td></tr>
  <tr><td>Made by</td><td>${e(r.export.createdBy)}</td></tr>
  <tr><td>Software</td><td>${e(r.software.name)} ${e(r.software.version)}</td></tr>
  <tr><td>Signing key</td><td class="hash">${e(r.keyId)} (Ed25519, public-key.pem)</td></tr>
</table>
<h2>Timeline (${r.items.length} item${r.items.length === 1 ? '' : 's'})</h2>
${rows.join('\n') || '<p>The case has no items.</p>'}
<h2>Files and their SHA-256</h2>
<p>manifest.json lists the same hashes and is signed (manifest.sig); see README.txt to check them.</p>
<table>
<tr><th>File</th><th>Bytes</th><th>SHA-256</th></tr>
${files}
</table>
</body>
</html>
`;
}
