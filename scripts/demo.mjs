#!/usr/bin/env node
// The sipedge demo (root `npm start`, after `turbo run build`): starts sipedge-rtp-relay in the
// foreground on udp:127.0.0.1:22222 and a cunix: socket in a temp dir, prints how to talk to it,
// and stops it on Ctrl-C. The cluster daemon will replace this demo later.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../apps/rtp-relay/dist/src/bin.js', import.meta.url));
if (!existsSync(bin)) {
  console.error(`demo: ${bin} is missing; build first (npx tsc -b apps/rtp-relay, or npm start)`);
  process.exit(1);
}
const dir = mkdtempSync(join(tmpdir(), 'sipedge-demo-'));
const cunix = join(dir, 'rtp-relay.sock');
const args = ['-s', 'udp:127.0.0.1:22222', '-s', `cunix:${cunix}`, '-m', '35000', '-M', '35999'];
const relay = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });

let out = '';
relay.stdout.on('data', (d) => {
  out += d.toString();
  const nl = out.indexOf('\n');
  if (nl < 0 || !out.startsWith('sipedge-rtp-relay ready')) return;
  const ready = out.slice(0, nl);
  out = ' '; // print the help once
  console.log(`${ready}

sipedge-rtp-relay (pid ${relay.pid}) answers the rtpproxy control protocol. Try, in another terminal:

  printf 'c1 V' | nc -u -w1 127.0.0.1 22222                    # -> c1 20040107
  printf 'c2 U call1 127.0.0.1 6000 ft;1' | nc -u -w1 127.0.0.1 22222   # -> c2 <port> 127.0.0.1
  printf 'c3 I' | nc -u -w1 127.0.0.1 22222                    # sessions and packet counters
  printf 'V\\nVF 20050322\\n' | nc -U -q1 ${cunix}        # cunix: newline-framed, no cookies

or from Node:

  node -e "const s=require('dgram').createSocket('udp4');s.on('message',m=>{console.log(String(m));s.close()});s.send('c1 V',22222,'127.0.0.1')"

Session events are logged as JSON lines below (add --log-level debug in scripts/demo.mjs to see
every command). Press Ctrl-C to stop.
`);
});

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  if (relay.exitCode === null && relay.pid !== undefined) process.kill(relay.pid, 'SIGTERM');
  const force = setTimeout(
    () => relay.pid !== undefined && process.kill(relay.pid, 'SIGKILL'),
    5000,
  );
  force.unref();
}
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
relay.on('exit', (code, signal) => {
  rmSync(dir, { recursive: true, force: true });
  if (!stopping) console.error(`demo: the relay exited (${signal ?? code})`);
  process.exit(stopping ? 0 : 1);
});
