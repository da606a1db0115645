/**
 * Relay throughput: RTP packets per second relayed on loopback.
 *
 * The relay runs as its own process (the built bin, started here and stopped by pid); this
 * process is both the sender (the "caller" side of every session) and the receiver (the
 * "callee" side). Sessions are set up with U and L over the UDP control socket; then each
 * session keeps a window of packets in flight (a packet is sent when one arrives), so the
 * figure is what the relay sustains without kernel-buffer drops.
 *
 *   npm run bench -w @sipedge/rtp-relay-daemon       (after npx tsc -b apps/rtp-relay)
 *   node apps/rtp-relay/dist/bench/run.js [seconds] [sessions] [window]
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';

const seconds = Number(process.argv[2] ?? 5);
const sessionCount = Number(process.argv[3] ?? 8);
const window = Number(process.argv[4] ?? 32);
const BIN = fileURLToPath(new URL('../src/bin.js', import.meta.url));

function bound(promise: Promise<unknown>, ms: number, what: string): Promise<unknown> {
  return Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`timeout: ${what}`)), ms).unref()),
  ]);
}

async function udp(): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return s;
}

const relay = spawn(
  process.execPath,
  [BIN, '-s', 'udp:127.0.0.1:0', '-m', '47000', '-M', '47999', '--log-level', 'warn'],
  {
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);
try {
  const ready = await bound(
    new Promise<string>((resolve, reject) => {
      let out = '';
      relay.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /control=udp:127\.0\.0\.1:(\d+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      relay.once('exit', (c) => reject(new Error(`relay exited ${c}`)));
    }),
    10_000,
    'relay ready',
  );
  const controlPort = Number(ready);
  const ctl = await udp();
  let seq = 0;
  const command = (text: string): Promise<string> => {
    const cookie = `b${++seq}`;
    return bound(
      new Promise<string>((resolve) => {
        const onMsg = (m: Buffer): void => {
          const s = m.toString();
          if (s.startsWith(`${cookie} `)) {
            ctl.off('message', onMsg);
            resolve(s.slice(cookie.length + 1).trim());
          }
        };
        ctl.on('message', onMsg);
        ctl.send(`${cookie} ${text}`, controlPort, '127.0.0.1');
      }),
      3000,
      text,
    ) as Promise<string>;
  };

  // 12-byte RTP header + 160 bytes of PCMU = one 20 ms G.711 packet
  const packet = Buffer.alloc(172, 0xd5);
  packet[0] = 0x80;
  let received = 0;
  let sent = 0;
  let running = true;
  const sessions: { caller: dgram.Socket; callee: dgram.Socket; toCaller: number }[] = [];
  for (let i = 0; i < sessionCount; i++) {
    const caller = await udp();
    const callee = await udp();
    const id = `bench-${i}`;
    await command(`U ${id} 127.0.0.1 ${caller.address().port} f;1`);
    const l = await command(`L ${id} 127.0.0.1 ${callee.address().port} f;1 t;1`);
    const toCaller = Number(l.split(' ')[0]);
    const s = { caller, callee, toCaller };
    callee.on('message', () => {
      received++;
      if (running) {
        caller.send(packet, toCaller, '127.0.0.1');
        sent++;
      }
    });
    sessions.push(s);
  }
  const warmupEnd = Date.now() + 500;
  for (const s of sessions) {
    for (let k = 0; k < window; k++) {
      s.caller.send(packet, s.toCaller, '127.0.0.1');
      sent++;
    }
  }
  await new Promise((r) => setTimeout(r, Math.max(0, warmupEnd - Date.now())));
  const r0 = received;
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const r1 = received;
  const t1 = performance.now();
  running = false;
  const pps = ((r1 - r0) * 1000) / (t1 - t0);
  const stats = await command('G npkts_rcvd npkts_relayed npkts_discard');
  console.log(
    `relay: ${Math.round(pps).toLocaleString('en-US')} RTP packets/s relayed (172-byte packets, ${sessionCount} sessions, window ${window} per session, ${seconds} s, relay in its own process, sender+receiver in the bench process)`,
  );
  console.log(
    `relay counters (npkts_rcvd npkts_relayed npkts_discard): ${stats}; bench sent ${sent}, received ${received}`,
  );
  for (const s of sessions) {
    s.caller.close();
    s.callee.close();
  }
  ctl.close();
} finally {
  if (relay.pid !== undefined && relay.exitCode === null) {
    process.kill(relay.pid, 'SIGTERM');
    await bound(new Promise((r) => relay.once('exit', r)), 5000, 'relay exit').catch(() => {
      if (relay.pid !== undefined) process.kill(relay.pid, 'SIGKILL');
    });
  }
}
