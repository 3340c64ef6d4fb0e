// Prints the one line CI reads: "N passed, N failed" (", N skipped" when any), from vitest's JSON
// report. A missing or unreadable report is itself a failure.
import { readFileSync } from 'node:fs';

let report;
try {
  report = JSON.parse(readFileSync('.test-results/results.json', 'utf8'));
} catch (err) {
  console.log(`tests: no report (${err.message})`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const passed = report.numPassedTests ?? 0;
// A file that failed before any test ran (an import error, a failing hook) counts as one failure.
const brokenFiles = (report.testResults ?? []).filter(
  (f) => f.status === 'failed' && !(f.assertionResults ?? []).some((a) => a.status === 'failed'),
).length;
const failed = (report.numFailedTests ?? 0) + brokenFiles;
const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
