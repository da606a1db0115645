// Runs every vitest project and ends with one plain summary line ("Tests: N passed, N failed")
// that CI reads; the exit code is vitest's.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'sipedge-test-'));
const report = join(dir, 'results.json');
const run = spawnSync(
  'npx',
  [
    'vitest',
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${report}`,
    ...process.argv.slice(2),
  ],
  { stdio: 'inherit' },
);
let code = run.status ?? 1;
try {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  // a file that fails outside any test (a beforeAll, an import) counts as one failure too;
  // numFailedTestSuites would also count every describe block around a failed test
  const brokenFiles = (r.testResults ?? []).filter(
    (f) => f.status === 'failed' && !(f.assertionResults ?? []).some((t) => t.status === 'failed'),
  ).length;
  const failed = r.numFailedTests + brokenFiles;
  console.log(
    `Tests: ${r.numPassedTests} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`,
  );
  if (r.numTotalTests === 0) code = code || 1;
} catch {
  console.log('Tests: 0 passed, 1 failed');
  code = code || 1;
}
rmSync(dir, { recursive: true, force: true });
process.exit(code);
