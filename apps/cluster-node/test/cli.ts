/** Paths of the built bin and the examples, whether run from test/ or dist/test/. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const APP = new URL(import.meta.url.includes('/dist/') ? '../../' : '../', import.meta.url);
export const NODE_BIN = fileURLToPath(new URL('dist/src/bin.js', APP));
export const EXAMPLES = fileURLToPath(new URL('../../examples/', APP));

/** Runs `cluster-node args…` to its end (bounded by 15 s, then killed). */
export function runCli(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [NODE_BIN, ...args],
      { timeout: 15_000, killSignal: 'SIGKILL', env: { PATH: process.env.PATH, ...env } },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
