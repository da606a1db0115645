// Runs every vitest project and ends with one plain summary line ("Tests: N passed, N failed")
// that CI reads. The exit code is vitest's, and non-zero as well when a test was skipped, left
// as a todo or focused: a skipped test proves nothing, so each one is listed and the run fails,
// locally as on CI (vitest.config.ts refuses `.only` itself). Only a name filter (-t) on the
// command line skips tests on purpose.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

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
  const files = r.testResults ?? [];
  // a file that fails outside any test (a beforeAll, an import, an .only refused) counts as one
  // failure; numFailedTestSuites would also count every describe block around a failed test
  const broken = files.filter(
    (f) => f.status === 'failed' && !(f.assertionResults ?? []).some((t) => t.status === 'failed'),
  );
  const brokenFiles = broken.length;
  // it.skip, describe.skip, skipIf, ctx.skip(), it.todo, and the tests an .only left out (not
  // the tests of a broken file, which did not run for the failure already counted)
  const notRun = files
    .filter((f) => !broken.includes(f))
    .flatMap((f) =>
      (f.assertionResults ?? [])
        .filter((t) => !['passed', 'failed'].includes(t.status))
        .map((t) => `${t.status}: ${relative(process.cwd(), f.name)} > ${t.fullName}`),
    );
  const skipped = notRun.length;
  const filtered = process.argv.slice(2).some((a) => /^(-t|--testNamePattern)(=|$)/.test(a));
  if (skipped > 0 && !filtered) {
    console.log(`\nDid not run (skipped, todo or left out by .only): ${skipped}`);
    for (const line of notRun) console.log(`  ${line}`);
    code = code || 1;
  }
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
