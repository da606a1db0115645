import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseMessage, type SipMessage } from '@sipedge/sip';
import { peerPort, until } from '@sipedge/test-utils';
import { describe, expect, it } from 'vitest';
import { Location, Registrar } from '../src/index.js';
import { registrarTransports } from './registrar-transports.js';

const KAMAILIO = ['/usr/sbin/kamailio', '/usr/local/sbin/kamailio'].find((p) => existsSync(p));
const MODULES = ['/usr/lib/x86_64-linux-gnu/kamailio/modules', '/usr/lib/kamailio/modules'].find(
  (p) => existsSync(p),
);

/** Kamailio as an edge proxy: adds Path (with received) to REGISTERs and relays them to us. */
function edgeConfig(edgePort: number, registrarPort: number, modules: string): string {
  return `#!KAMAILIO
debug=2
log_stderror=yes
children=1
listen=udp:127.0.0.1:${edgePort}
mpath="${modules}/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "path.so"
loadmodule "textops.so"
loadmodule "siputils.so"
request_route {
  if (is_method("REGISTER")) {
    add_path_received();
    $du = "sip:127.0.0.1:${registrarPort}";
    t_relay();
    exit;
  }
  sl_send_reply("404", "Not here");
}
`;
}

describe('interop with Kamailio as a Path-adding edge proxy', () => {
  it('a REGISTER through Kamailio is stored with its Path; lookup routes back through the edge', async () => {
    expect(KAMAILIO, 'kamailio is required: install Debian kamailio').toBeDefined();
    expect(MODULES, 'kamailio modules directory not found').toBeDefined();
    const location = new Location();
    const registrar = new Registrar(location);
    const server = registrarTransports(registrar);
    const dir = mkdtempSync(join(tmpdir(), 'usrloc-kamailio-'));
    const ua = createSocket('udp4');
    let pid: number | undefined;
    try {
      const { port: registrarPort } = await server.listenUdp('127.0.0.1', 0);
      const edgePort = await peerPort();
      const cfg = join(dir, 'edge.cfg');
      writeFileSync(cfg, edgeConfig(edgePort, registrarPort, MODULES!));
      const child = spawn(
        KAMAILIO!,
        ['-DD', '-E', '-f', cfg, '-Y', dir, '-P', join(dir, 'k.pid')],
        {
          stdio: 'ignore',
        },
      );
      pid = child.pid;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));

      await new Promise<void>((r) => ua.bind(0, '127.0.0.1', () => r()));
      const uaPort = ua.address().port;
      const replies: SipMessage[] = [];
      ua.on('message', (buf) => {
        replies.push(parseMessage(buf, { datagram: true }));
      });
      const reg = (cseq: number): Buffer =>
        Buffer.from(
          `REGISTER sip:127.0.0.1:${edgePort} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${uaPort};branch=z9hG4bKk${cseq};rport\r\n` +
            'Max-Forwards: 70\r\nTo: <sip:carol@example.com>\r\nFrom: <sip:carol@example.com>;tag=k1\r\n' +
            `Call-ID: kam-1\r\nCSeq: ${cseq} REGISTER\r\nSupported: path\r\n` +
            `Contact: <sip:carol@127.0.0.1:${uaPort}>;expires=600\r\nContent-Length: 0\r\n\r\n`,
        );
      // Kamailio takes a moment to start: send until a reply comes
      let cseq = 0;
      await until(
        () => {
          if (replies.length > 0) return true;
          ua.send(reg(++cseq), edgePort, '127.0.0.1');
          return false;
        },
        { what: 'Kamailio to answer a REGISTER', timeoutMs: 20_000, intervalMs: 200 },
      );
      const res = replies[0];
      expect(res?.status).toBe(200);
      const path = res?.values('path') ?? [];
      expect(path).toHaveLength(1);
      expect(path[0]).toContain(`127.0.0.1:${edgePort}`);
      expect(path[0]).toContain(';lr');
      expect(path[0]).toContain('received=');
      expect(res?.values('contact')).toEqual([`<sip:carol@127.0.0.1:${uaPort}>;expires=600`]);
      const [branch] = registrar.lookup('sip:carol@example.com');
      expect(branch?.route).toEqual(path);
      expect(branch?.destination).toContain(`127.0.0.1:${edgePort}`);
      expect(branch?.received).toBe(`sip:127.0.0.1:${edgePort}`);

      process.kill(pid!, 'SIGTERM');
      pid = undefined;
      await exited;
    } finally {
      if (pid !== undefined) process.kill(pid, 'SIGKILL');
      await new Promise<void>((r) => ua.close(() => r()));
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
