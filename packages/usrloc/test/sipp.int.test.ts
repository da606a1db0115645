import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { StatisticsRegistry } from '@sipedge/mi';
import { peerPort } from '@sipedge/test-utils';
import { describe, expect, it } from 'vitest';
import { Location, Registrar } from '../src/index.js';
import { registrarTransports } from './registrar-transports.js';

const SIPP = ['/usr/bin/sipp', '/usr/local/bin/sipp'].find((p) => existsSync(p));
const SCENARIO = join(import.meta.dirname, 'fixtures', 'sipp-register.xml');

describe('interop with sipp (Debian sip-tester)', () => {
  it("sipp's REGISTER / Contact: * scenario passes against the registrar on UDP", async () => {
    expect(SIPP, 'sipp is required: install Debian sip-tester').toBeDefined();
    const stats = new StatisticsRegistry();
    const location = new Location();
    const registrar = new Registrar(location, { stats });
    let paths = 0;
    location.onChange((cs) => {
      for (const c of cs) if (c.type === 'insert' && c.contact.path.length === 1) paths++;
    });
    const server = registrarTransports(registrar);
    try {
      const { port } = await server.listenUdp('127.0.0.1', 0);
      const local = await peerPort();
      const child = spawn(
        SIPP!,
        [
          '-sf',
          SCENARIO,
          `127.0.0.1:${port}`,
          '-i',
          '127.0.0.1',
          '-p',
          String(local),
          '-m',
          '5',
          '-r',
          '20',
          '-nostdin',
          '-timeout',
          '20s',
          '-timeout_error',
        ],
        { stdio: 'ignore' },
      );
      const code = await new Promise<number | null>((resolve) => {
        const timer = setTimeout(() => {
          if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
        }, 30_000);
        child.once('exit', (c) => {
          clearTimeout(timer);
          resolve(c);
        });
      });
      expect(code).toBe(0);
      expect(paths).toBe(5);
      expect(stats.get('registrar:accepted_regs')).toBe(10);
      expect(location.contactCount).toBe(0);
    } finally {
      await server.close();
    }
  }, 40_000);
});
