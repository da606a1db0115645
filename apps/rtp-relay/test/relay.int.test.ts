import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { RtppClient } from '@sipedge/rtpp';
import { until } from '@sipedge/test-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, type RelayProcess, startRelayProcess, udpEndpoint, within } from './helpers.js';

/** Proves nothing listens on a UDP port: a connected socket gets ECONNREFUSED from loopback. */
async function udpPortClosed(port: number): Promise<boolean> {
  const s = dgram.createSocket('udp4');
  try {
    await new Promise<void>((r) => s.connect(port, '127.0.0.1', () => r()));
    return await within<boolean>(3000, `ICMP unreachable from port ${port}`, (done) => {
      const onErr = (e: NodeJS.ErrnoException): void => done(e.code === 'ECONNREFUSED');
      s.on('error', onErr);
      // a second send surfaces the ICMP error of the first on Linux
      s.send('probe');
      const t = setInterval(() => s.send('probe'), 50);
      return () => {
        clearInterval(t);
        s.off('error', onErr);
      };
    });
  } finally {
    s.close();
  }
}

describe('sipedge-rtp-relay over UDP', () => {
  let relay: RelayProcess;
  let client: RtppClient | undefined;
  /** Sends through @sipedge/rtpp's RtppClient; answers the reply body with its newline. */
  const ctl = {
    command: async (text: string): Promise<string> => `${await client!.sendRaw(text)}\n`,
  };

  beforeAll(async () => {
    relay = await startRelayProcess([
      '-s',
      'udp:127.0.0.1:0',
      '-m',
      '43000',
      '-M',
      '43999',
      '-T',
      '30',
    ]);
    client = new RtppClient({ socket: relay.control[0]!, timeoutMs: 3000 });
  });

  afterAll(async () => {
    await client?.close();
    await relay?.stop();
  });

  it('answers V and VF', async () => {
    expect(await ctl.command('V')).toBe('20040107\n');
    expect(await ctl.command('VF 20050322')).toBe('1\n');
    expect(await ctl.command('VF 20081224')).toBe('0\n');
    const probe = await client!.probe();
    expect(probe.version).toBe('20040107');
    const yes = [...probe.features].filter(([, v]) => v).map(([d]) => d);
    expect(yes.sort()).toEqual([
      '20040107',
      '20050322',
      '20060704',
      '20080403',
      '20081102',
      '20141004',
      '20150330',
    ]);
  });

  it('relays RTP and RTCP between two latched peers, and stops after D', async () => {
    const caller = await udpEndpoint();
    const callee = await udpEndpoint();
    const callerRtcp = await udpEndpoint();
    const calleeRtcp = await udpEndpoint();
    try {
      const u = await ctl.command(`Uc0 int-1@test 127.0.0.1 ${caller.port} ft;1`);
      expect(u).toMatch(/^\d+ 127\.0\.0\.1\n$/);
      const toCallee = Number(u.split(' ')[0]);
      const l = await ctl.command(`Lc0 int-1@test 127.0.0.1 ${callee.port} ft;1 tt;1`);
      const toCaller = Number(l.split(' ')[0]);
      expect(toCaller).not.toBe(toCallee);
      await relay.waitLog((x) => x.event === 'created' && x.callId === 'int-1@test');

      caller.send(toCaller, 'rtp caller->callee');
      expect(await callee.receive((d) => d.data === 'rtp caller->callee')).toEqual({
        data: 'rtp caller->callee',
        port: toCallee,
      });
      callee.send(toCallee, 'rtp callee->caller');
      expect(await caller.receive((d) => d.data === 'rtp callee->caller')).toEqual({
        data: 'rtp callee->caller',
        port: toCaller,
      });
      await relay.waitLog(
        (x) =>
          x.event === 'latched' && x.callId === 'int-1@test' && x.leg === 1 && x.stream === 'rtp',
      );

      // RTCP: the callee side latches first, then each direction reaches the latched socket
      calleeRtcp.send(toCallee + 1, 'rtcp latch');
      await relay.waitLog(
        (x) =>
          x.event === 'latched' && x.callId === 'int-1@test' && x.leg === 1 && x.stream === 'rtcp',
      );
      expect(await ctl.command('Q int-1@test ft;1 tt;1')).toMatch(/^\d+ 1 1 2 0\n$/);
      callerRtcp.send(toCaller + 1, 'rtcp caller->callee');
      expect(await calleeRtcp.receive((d) => d.data === 'rtcp caller->callee')).toEqual({
        data: 'rtcp caller->callee',
        port: toCallee + 1,
      });
      calleeRtcp.send(toCallee + 1, 'rtcp callee->caller');
      expect(await callerRtcp.receive((d) => d.data === 'rtcp callee->caller')).toEqual({
        data: 'rtcp callee->caller',
        port: toCaller + 1,
      });

      expect(await ctl.command('D int-1@test ft tt')).toBe('0\n');
      await relay.waitLog((x) => x.event === 'deleted' && x.callId === 'int-1@test');
      expect(await ctl.command('D int-1@test ft tt')).toBe('E50\n');
      expect(await udpPortClosed(toCaller)).toBe(true);
      expect(await udpPortClosed(toCallee)).toBe(true);
      expect(await ctl.command('I')).toMatch(/active sessions: 0\n/);
    } finally {
      for (const e of [caller, callee, callerRtcp, calleeRtcp]) e.close();
    }
  });

  it('answers a retransmitted cookie from its cache without executing again', async () => {
    const ep = await udpEndpoint();
    try {
      const port = Number(relay.control[0]!.split(':').pop());
      ep.send(port, 'dup1 U dup@test 127.0.0.1 5000 a');
      const first = await ep.receive((d) => d.data.startsWith('dup1 '));
      ep.send(port, 'dup1 U dup@test 127.0.0.1 5000 a');
      const second = await ep.receive((d) => d.data.startsWith('dup1 '));
      expect(second.data).toBe(first.data);
      expect(await ctl.command('G nsess_created')).toMatch(/^\d+\n$/);
      expect(await ctl.command('D dup@test a')).toBe('0\n');
      ep.send(port, 'justacookie');
      expect((await ep.receive((d) => d.data.startsWith('justacookie'))).data).toBe(
        'justacookie E5\n',
      );
    } finally {
      ep.close();
    }
  });
});

describe('sipedge-rtp-relay stream sockets and flags', () => {
  it('serves cunix: (newline-framed, persistent) and unix: (one command per connection)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-'));
    const cunix = path.join(dir, 'c.sock');
    const unix = path.join(dir, 'u.sock');
    const relay = await startRelayProcess([
      '-s',
      `cunix:${cunix}`,
      '-s',
      `unix:${unix}`,
      '-m',
      '44000',
      '-M',
      '44099',
    ]);
    try {
      const c = net.createConnection(cunix);
      let got = '';
      c.on('data', (d) => {
        got += d.toString();
      });
      c.write('V\nVF 20050322\n');
      await until(() => got === '20040107\n1\n', {
        what: () => `two cunix replies (got ${JSON.stringify(got)})`,
        wake: (recheck) => {
          c.on('data', recheck);
          return () => c.off('data', recheck);
        },
      });
      c.destroy();
      const u = net.createConnection(unix);
      let ugot = '';
      u.on('data', (d) => {
        ugot += d.toString();
      });
      u.write('VF 20081224');
      await within(3000, 'unix reply and close', (done) => {
        u.on('close', () => done(undefined));
        return () => {};
      });
      expect(ugot).toBe('0\n');
    } finally {
      expect(await relay.stop()).toBe(0);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('relays IPv6 legs with -6 and answers over a udp6 control socket', async () => {
    const relay = await startRelayProcess([
      '-s',
      'udp6:[::1]:0',
      '-6',
      '::1',
      '-m',
      '45200',
      '-M',
      '45299',
    ]);
    const ctl = dgram.createSocket({ type: 'udp6', ipv6Only: true });
    const caller = dgram.createSocket({ type: 'udp6', ipv6Only: true });
    const callee = dgram.createSocket({ type: 'udp6', ipv6Only: true });
    try {
      for (const s of [ctl, caller, callee])
        await new Promise<void>((r) => s.bind(0, '::1', () => r()));
      const controlPort = Number(relay.control[0]!.split(':').pop());
      const ask = (text: string) =>
        within<string>(3000, text, (done) => {
          const onMsg = (m: Buffer): void => done(m.toString());
          ctl.once('message', onMsg);
          ctl.send(text, controlPort, '::1');
          return () => ctl.off('message', onMsg);
        });
      const u = await ask(`k1 U6 v6@test ::1 ${caller.address().port} ft;1`);
      expect(u).toMatch(/^k1 \d+ ::1 6\n$/);
      const l = await ask(`k2 L6 v6@test ::1 ${callee.address().port} ft;1 tt;1`);
      expect(l).toMatch(/^k2 \d+ ::1 6\n$/);
      const toCallee = Number(u.split(' ')[1]);
      const toCaller = Number(l.split(' ')[1]);
      const arrived = within<{ data: string; port: number }>(3000, 'v6 rtp', (done) => {
        const onMsg = (m: Buffer, r: dgram.RemoteInfo): void =>
          done({ data: m.toString(), port: r.port });
        callee.once('message', onMsg);
        return () => callee.off('message', onMsg);
      });
      caller.send('v6 rtp', toCaller, '::1');
      expect(await arrived).toEqual({ data: 'v6 rtp', port: toCallee });
    } finally {
      for (const s of [ctl, caller, callee]) s.close();
      expect(await relay.stop()).toBe(0);
    }
  });

  it('times an idle session out after -T and writes its notify tag to the -n unix socket', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relay-notify-'));
    const sock = path.join(dir, 'timeout.sock');
    let got = '';
    const server = net.createServer((c) => {
      c.on('data', (d) => {
        got += d.toString();
      });
    });
    await new Promise<void>((r) => server.listen(sock, () => r()));
    const relay = await startRelayProcess([
      '-s',
      'udp:127.0.0.1:0',
      '-m',
      '45000',
      '-M',
      '45099',
      '-T',
      '1',
      '-n',
      `unix:${sock}`,
    ]);
    try {
      const client = new RtppClient({ socket: relay.control[0]! });
      expect(await client.sendRaw('VF 20081224')).toBe('1');
      expect(await client.sendRaw(`U idle@test 127.0.0.1 5000 ft;1 unix:${sock} call%201`)).toMatch(
        /^\d+ /,
      );
      await client.close();
      await relay.waitLog((x) => x.event === 'timeout' && x.callId === 'idle@test', 5000);
      await until(() => got === 'call 1\n', {
        what: () => `the notification line (got ${JSON.stringify(got)})`,
      });
      expect(got).toBe('call 1\n');
    } finally {
      expect(await relay.stop()).toBe(0);
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 2 with a message on a bad flag, 0 for --help', async () => {
    const bad = spawnSync(process.execPath, [BIN, '-m', 'abc'], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/-m abc: expected a port number/);
    const unknown = spawnSync(process.execPath, [BIN, '--nope'], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(unknown.status).toBe(2);
    const help = spawnSync(process.execPath, [BIN, '--help'], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^usage: sipedge-rtp-relay/);
  });
});
