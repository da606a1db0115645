/**
 * The text fast path behind a real RtppServer on loopback UDP: the client's retransmits are
 * answered from the server's reply cache (the member sees the command once), commands the fast
 * path declines are answered by the parsed path on the same socket.
 */

import { createSocket, type Socket } from 'node:dgram';
import { VirtualClock } from '@sipedge/core/testing';
import { RtppServer } from '@sipedge/rtpp';
import { afterEach, describe, expect, it } from 'vitest';
import { RtpCluster } from '../src/cluster/cluster.js';
import { balancerParseErrorCode } from '../src/cluster/replies.js';
import { flush, memberConfig, ScriptedMember } from './scripted.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A UDP client socket that returns the next datagram it receives (bounded wait). */
async function udpClient(port: number): Promise<{ ask(text: string): Promise<string> }> {
  const sock: Socket = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  cleanups.push(() => {
    sock.close();
  });
  const queue: string[] = [];
  let waiter: ((s: string) => void) | undefined;
  sock.on('message', (m) => {
    const text = m.toString('latin1');
    const w = waiter;
    waiter = undefined;
    if (w !== undefined) w(text);
    else queue.push(text);
  });
  return {
    ask(text) {
      sock.send(Buffer.from(text, 'latin1'), port, '127.0.0.1');
      const queued = queue.shift();
      if (queued !== undefined) return Promise.resolve(queued);
      return new Promise<string>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no reply to ${text}`)), 2000);
        waiter = (s) => {
          clearTimeout(t);
          resolve(s);
        };
      });
    },
  };
}

async function setup() {
  const members = new Map<string, ScriptedMember>();
  const cluster = new RtpCluster(
    {
      name: 'c',
      protocol: 'udp',
      address: '127.0.0.1:0',
      capacity_limit: 'soft',
      rtpproxies: [memberConfig('a'), memberConfig('b')],
    },
    {
      timers: new VirtualClock(),
      random: () => 0.9,
      connect: (mc) => {
        const m = new ScriptedMember(mc.name);
        members.set(mc.name, m);
        return m;
      },
    },
  );
  cluster.start();
  await flush();
  cleanups.push(() => cluster.stop());
  const server = new RtppServer({
    sockets: ['udp:127.0.0.1:0'],
    handler: (cmd) => cluster.handle(cmd),
    textHandler: (text) => cluster.handleText(text),
    parseErrorCode: balancerParseErrorCode,
  });
  await server.start();
  cleanups.push(() => server.destroy());
  const client = await udpClient(server.addresses()[0]!.port!);
  return { cluster, members, server, client };
}

describe('text fast path behind RtppServer', () => {
  it('answers a retransmitted U and D from the reply cache: the member gets each once', async () => {
    const { cluster, members, server, client } = await setup();
    expect(await client.ask('k1 U call 127.0.0.1 7000 f;1')).toBe('k1 35000 127.0.0.1\n');
    expect(await client.ask('k1 U call 127.0.0.1 7000 f;1')).toBe('k1 35000 127.0.0.1\n');
    expect(await client.ask('k2 D call f')).toBe('k2 0\n');
    expect(await client.ask('k2 D call f')).toBe('k2 0\n');
    const owner = cluster.callTable.lookup('call')!;
    expect(members.get(owner)!.texts).toEqual(['U call 127.0.0.1 7000 f;1', 'D call f']);
    expect(members.get(owner === 'a' ? 'b' : 'a')!.texts).toEqual([]);
    expect(cluster.counters.commands).toBe(2);
    expect(server.stats()).toMatchObject({ received: 4, duplicates: 2, handlerErrors: 0 });
  });

  it('answers what the fast path declines on the parsed path, with the same socket and cache', async () => {
    const { cluster, members, client } = await setup();
    expect(await client.ask('k1 U call 127.0.0.1 7000 f;1')).toBe('k1 35000 127.0.0.1\n');
    const owner = members.get(cluster.callTable.lookup('call')!)!;
    // a malformed command: the parser's answer, no member involved
    expect(await client.ask('k2 U call 127.0.0.1 70000 f;1')).toBe('k2 E37\n');
    // notify arguments: parsed path (dropped for a network member without a relay)
    expect(await client.ask('k3 U call 127.0.0.1 7000 f;1 t;1 /tmp/n tag')).toBe(
      'k3 35002 127.0.0.1\n',
    );
    expect(owner.received.at(-1)).toMatchObject({ kind: 'U', toTag: 't;1' });
    expect(owner.received.at(-1)).not.toHaveProperty('notify');
    expect(await client.ask('k4 V')).toBe('k4 20040107\n');
    expect(await client.ask('k5 D call f t')).toBe('k5 0\n');
    expect(owner.texts).toEqual(['U call 127.0.0.1 7000 f;1', 'D call f t']);
  });
});
