import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';

const CHILD = join(import.meta.dirname, '..', 'dist', 'test', 'crash-child.js');
const dir = mkdtempSync(join(tmpdir(), 'usrloc-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('crash safety of write-through SQLite', () => {
  it.each([
    'single',
    'group',
  ])('every registration answered 200 before a SIGKILL is in the database (%s commits)', async (mode) => {
    expect(existsSync(CHILD), `${CHILD} missing: run npx tsc -b packages/usrloc first`).toBe(true);
    const db = join(dir, `crash-${mode}.sqlite`);
    const child = spawn(process.execPath, [CHILD, db, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    const acked: number[] = [];
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_code, signal) => resolve(signal)),
    );
    let buf = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`child too slow: ${acked.length} acks; ${stderr}`)),
        20_000,
      );
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        let nl = buf.indexOf('\n');
        while (nl >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line !== 'ready') acked.push(Number(line));
          nl = buf.indexOf('\n');
        }
        // kill it mid-load, while it is writing
        if (acked.length >= 3000 && child.exitCode === null && !child.killed) {
          process.kill(child.pid!, 'SIGKILL');
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    expect(await exited).toBe('SIGKILL');
    expect(stderr).toBe('');
    expect(acked.length).toBeGreaterThanOrEqual(3000);
    const conn = new Database(db, { readonly: true });
    const aors = new Set(
      (conn.prepare('SELECT aor FROM location').all() as { aor: string }[]).map((r) => r.aor),
    );
    conn.close();
    const missing = acked.filter((i) => !aors.has(`user${i}@example.com`));
    expect(missing).toEqual([]);
  }, 30_000);
});
