import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtualClock } from '@sipedge/core/testing';
import { callCommand, EventBus, MiRegistry, MiRpcError, StatisticsRegistry } from '@sipedge/mi';
import { parseMessage } from '@sipedge/sip';
import { describe, expect, it } from 'vitest';
import { plainContact } from '../test/contacts.js';
import { Location } from './location/location.js';
import { miCommands, miContact, registerReplicationStatistics } from './mi.js';
import { Registrar } from './registrar/registrar.js';
import { SqliteStore } from './store/sqlite.js';

const T0 = Date.UTC(2026, 10, 23, 12);

function setup() {
  const clock = new VirtualClock(T0);
  const stats = new StatisticsRegistry();
  const events = new EventBus({ clock });
  const location = new Location({ clock, stats, events });
  const registrar = new Registrar(location, { stats });
  const registry = new MiRegistry();
  registry.register(...miCommands(location));
  const raised: string[] = [];
  for (const e of [
    'E_UL_AOR_INSERT',
    'E_UL_AOR_DELETE',
    'E_UL_CONTACT_INSERT',
    'E_UL_CONTACT_UPDATE',
    'E_UL_CONTACT_DELETE',
  ]) {
    events.on(e, () => raised.push(e));
  }
  const save = (user: string, contact: string, cseq = 1) =>
    registrar.save(
      parseMessage(
        Buffer.from(
          `REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nTo: <sip:${user}@example.com>\r\nFrom: <sip:${user}@example.com>;tag=1\r\nCall-ID: c-${user}\r\nCSeq: ${cseq} REGISTER\r\nUser-Agent: Phone/2\r\nContact: ${contact}\r\nContent-Length: 0\r\n\r\n`,
        ),
      ),
      { received: 'sip:198.51.100.1:5060', socket: 'udp:10.0.0.1:5060' },
    );
  return { clock, stats, location, registry, save, raised };
}

async function rpcError(p: Promise<unknown>): Promise<[number, string]> {
  try {
    await p;
  } catch (err) {
    if (err instanceof MiRpcError) return [err.rpcCode, err.message];
    throw err;
  }
  throw new Error('expected an MI error');
}

describe('usrloc MI', () => {
  it('ul_dump and ul_show_contact print OpenSIPS shapes', async () => {
    const { registry, save, clock } = setup();
    save('alice', '<sip:alice@192.0.2.1>;q=0.5;expires=600');
    clock.advance(10_000);
    const dump = (await callCommand(registry, 'ul_dump')) as {
      Domains: { name: string; AORs: { AOR: string; Contacts: Record<string, unknown>[] }[] }[];
    };
    expect(dump.Domains[0]?.name).toBe('location');
    const c = dump.Domains[0]?.AORs[0];
    expect(c?.AOR).toBe('alice@example.com');
    expect(c?.Contacts[0]).toMatchObject({
      Contact: 'sip:alice@192.0.2.1',
      Expires: 590,
      Q: '0.5',
      Callid: 'c-alice',
      Cseq: 1,
      'User-agent': 'Phone/2',
      Received: 'sip:198.51.100.1:5060',
      Socket: 'udp:10.0.0.1:5060',
    });
    expect(await callCommand(registry, 'ul_dump', [1])).toEqual({
      Domains: [{ name: 'location', hash_size: 512, AORs: [{ AOR: 'alice@example.com' }] }],
    });
    const show = (await callCommand(registry, 'ul_show_contact', [
      'location',
      'sip:alice@example.com',
    ])) as {
      AOR: string;
      Contacts: unknown[];
    };
    expect(show.AOR).toBe('alice@example.com');
    expect(show.Contacts).toHaveLength(1);
    expect(await rpcError(callCommand(registry, 'ul_show_contact', ['location', 'alice']))).toEqual(
      [400, 'Domain missing in AOR'],
    );
    expect(
      await rpcError(callCommand(registry, 'ul_show_contact', ['location', 'bob@example.com'])),
    ).toEqual([404, 'AOR not found']);
    expect(
      await rpcError(callCommand(registry, 'ul_show_contact', ['nope', 'alice@example.com'])),
    ).toEqual([404, 'Table not found']);
  });

  it('ul_add adds and replaces, ul_rm_contact and ul_rm delete, with events', async () => {
    const { registry, location, raised, clock } = setup();
    expect(
      await callCommand(registry, 'ul_add', [
        'location',
        'bob@example.com',
        'sip:bob@192.0.2.7',
        0,
        1,
      ]),
    ).toBe('OK');
    expect(
      await callCommand(registry, 'ul_add', [
        'location',
        'bob@example.com',
        'sip:bob@192.0.2.8',
        60,
        0.5,
      ]),
    ).toBe('OK');
    expect(
      await callCommand(registry, 'ul_add', [
        'location',
        'bob@example.com',
        'sip:bob@192.0.2.8',
        120,
        '0.4',
        0,
        0,
        4294967295,
      ]),
    ).toBe('OK');
    expect(location.contacts('bob@example.com').map((c) => [c.uri, c.q])).toEqual([
      ['sip:bob@192.0.2.7', 1],
      ['sip:bob@192.0.2.8', 0.4],
    ]);
    clock.advance(200_000);
    location.expire();
    expect(location.contacts('bob@example.com').map((c) => c.uri)).toEqual(['sip:bob@192.0.2.7']); // permanent
    expect(
      await rpcError(
        callCommand(registry, 'ul_rm_contact', ['location', 'bob@example.com', 'sip:x@192.0.2.9']),
      ),
    ).toEqual([404, 'Contact not found']);
    expect(
      await callCommand(registry, 'ul_rm_contact', [
        'location',
        'bob@example.com',
        'sip:bob@192.0.2.7',
      ]),
    ).toBe('OK');
    expect(location.aorCount).toBe(0);
    expect(raised).toEqual([
      'E_UL_AOR_INSERT',
      'E_UL_CONTACT_INSERT',
      'E_UL_CONTACT_INSERT',
      'E_UL_CONTACT_UPDATE',
      'E_UL_CONTACT_DELETE',
      'E_UL_CONTACT_DELETE',
      'E_UL_AOR_DELETE',
    ]);
    await callCommand(registry, 'ul_add', [
      'location',
      'carol@example.com',
      'sip:c@192.0.2.1',
      60,
      1,
    ]);
    expect(await callCommand(registry, 'ul_rm', ['location', 'carol@example.com'])).toBe('OK');
    expect(
      await rpcError(callCommand(registry, 'ul_rm', ['location', 'carol@example.com'])),
    ).toEqual([404, 'AOR not found']);
    expect(await callCommand(registry, 'ul_flush')).toBe('OK');
  });

  it('statistics: registered users, contacts, expired contacts', async () => {
    const { stats, save, location, clock } = setup();
    save('alice', '<sip:a@192.0.2.1>;expires=60, <sip:b@192.0.2.2>');
    save('bob', '<sip:b@192.0.2.3>');
    expect(stats.get('usrloc:registered_users')).toBe(2);
    expect(stats.get('usrloc:location-contacts')).toBe(3);
    clock.advance(61_000);
    location.expire();
    expect(stats.get('usrloc:location-expires')).toBe(1);
    expect(stats.get('usrloc:location-contacts')).toBe(2);
    expect(stats.get('registrar:accepted_regs')).toBe(2);
  });
});

describe('usrloc_repl statistics', () => {
  it("show the replicator's counters, drops by reason included, with HELP text", () => {
    const stats = new StatisticsRegistry();
    const counters = {
      sent: 0,
      send_failures: 0,
      received: 3,
      applied: 1,
      ignored: 0,
      expired_skipped: 0,
      drop_malformed: 0,
      drop_version: 2,
      drop_forged: 0,
      drop_domain: 0,
      apply_errors: 0,
      sync_items_sent: 0,
      sync_items_received: 0,
    };
    registerReplicationStatistics(stats, { counters });
    counters.drop_version++;
    expect(stats.values(['usrloc_repl:'])).toMatchObject({
      'usrloc_repl:received': 3,
      'usrloc_repl:drop_version': 3,
    });
    expect(stats.toPrometheus()).toMatch(
      /# HELP sipedge_usrloc_repl_drop_version_total .*version.*\n# TYPE sipedge_usrloc_repl_drop_version_total counter/,
    );
  });
});

describe('usrloc MI as OpenSIPS 3.6 prints it (captured fixture)', () => {
  const fixture = JSON.parse(
    readFileSync(new URL('../test/fixtures/opensips-3.6.8-mi.json', import.meta.url), 'utf8'),
  ) as { ul_show_contact: { AOR: string; Contacts: Record<string, unknown>[] } };

  /** A node with use_domain off, as the capture's, holding bob7 as the capture's REGISTER left it. */
  function captured(useDomain?: boolean) {
    const clock = new VirtualClock(T0);
    const location = new Location({ clock });
    const aor = useDomain === undefined ? {} : { useDomain };
    const registrar = new Registrar(location, { aor: { useDomain: false } });
    const registry = new MiRegistry();
    registry.register(...miCommands(location, { aor }));
    const msg = [
      'REGISTER sip:127.0.0.51 SIP/2.0',
      'Via: SIP/2.0/UDP 192.168.0.7:5060;branch=z9hG4bK-7',
      'To: <sip:bob7@127.0.0.51>',
      'From: <sip:bob7@127.0.0.51>;tag=7',
      'Call-ID: cid-bob7',
      'CSeq: 1 REGISTER',
      'User-Agent: capture/1.0',
      'Contact: <sip:bob7@192.168.0.7:5060>',
      'Expires: 3600',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    expect(
      registrar.save(parseMessage(Buffer.from(msg)), { socket: 'udp:127.0.0.51:5060' }).status,
    ).toBe(200);
    clock.advance(18_000);
    return { location, registry };
  }

  it('ul_show_contact location bob7 answers field for field as OpenSIPS', async () => {
    const { registry } = captured(false);
    const got = (await callCommand(registry, 'ul_show_contact', ['location', 'bob7'])) as {
      Contacts: Record<string, unknown>[];
    };
    const want = fixture.ul_show_contact;
    expect(Object.keys(got.Contacts[0] ?? {})).toEqual(Object.keys(want.Contacts[0] ?? {}));
    expect(got).toEqual({
      ...want,
      Contacts: [{ ...want.Contacts[0], ContactID: expect.stringMatching(/^[0-9]+$/) }],
    });
    // with a domain given, use_domain off cuts it as OpenSIPS does
    expect(await callCommand(registry, 'ul_show_contact', ['location', 'bob7@127.0.0.51'])).toEqual(
      got,
    );
  });

  it('with use_domain on an AOR without a domain is refused as OpenSIPS refuses it', async () => {
    const { registry } = captured(true);
    expect(await rpcError(callCommand(registry, 'ul_show_contact', ['location', 'bob7']))).toEqual([
      400,
      'Domain missing in AOR',
    ]);
  });

  it('prints what an OpenSIPS node wrote: its contact id, Attr, flags, cflags, KV-Store', () => {
    const c = {
      ...plainContact('os-1', {
        aor: 'bob7',
        uri: 'sip:bob7@192.168.0.7:5060',
        expires: T0 + 60_000,
        callId: 'cid-bob7',
        cseq: 1,
        lastModified: T0,
        nodeId: 2,
        shtag: 'vip/1',
      }),
      opensips: {
        domain: 'location',
        contactId: '3543347744322093668',
        attr: 'vip-customer',
        flags: 1,
        cflags: 'NAT',
        methods: 31,
        path: '',
        instance: '',
        kvStore: '{"_st":"vip/1","tenant":"t1"}',
      },
    };
    expect(miContact(c, T0, { state: 'CS_SYNC', kvStore: true })).toMatchObject({
      ContactID: '3543347744322093668',
      State: 'CS_SYNC',
      Flags: 1,
      Cflags: 'NAT',
      Methods: 31,
      Attr: 'vip-customer',
      'KV-Store': '{"_st":"vip/1","tenant":"t1"}',
    });
    // the KV-Store only when asked for (mi_dump_kv_store), as OpenSIPS
    expect(miContact(c, T0)).not.toHaveProperty('KV-Store');
  });

  it('State follows the database: CS_NEW before the write, CS_SYNC after, CS_DIRTY when changed', async () => {
    const clock = new VirtualClock(T0);
    const dir = mkdtempSync(join(tmpdir(), 'usrloc-mi-'));
    try {
      const store = new SqliteStore({ path: join(dir, 'db'), mode: 'write-back', clock });
      const location = new Location({ clock, store });
      const registry = new MiRegistry();
      registry.register(...miCommands(location, { aor: { useDomain: false } }));
      const state = async (): Promise<unknown> => {
        const r = (await callCommand(registry, 'ul_show_contact', ['location', 'carol'])) as {
          Contacts: { State: string }[];
        };
        return r.Contacts[0]?.State;
      };
      const add = (q: string) =>
        callCommand(registry, 'ul_add', ['location', 'carol', 'sip:carol@192.0.2.3', '600', q]);
      await add('0.5');
      expect(await state()).toBe('CS_NEW');
      location.flush();
      expect(await state()).toBe('CS_SYNC');
      await add('0.7');
      expect(await state()).toBe('CS_DIRTY');
      location.stop();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
