import { readFileSync } from 'node:fs';
import type { CapabilityHandlers, ReplicationChannel } from '@sipedge/clusterer';
import { decodePacket, SendResult } from '@sipedge/clusterer';
import { VirtualClock } from '@sipedge/core/testing';
import { describe, expect, it } from 'vitest';
import { plainContact } from '../../../test/contacts.js';
import { Location } from '../../location/location.js';
import { UsrlocReplicator } from '../replicator.js';
import { decodeUlSyncChunk } from './codec.js';
import { UL_BIN_VERSION } from './packets.js';

const T0 = Date.UTC(2026, 11, 5, 1);

/** A channel that keeps the handlers the replicator registers; node 2 is OpenSIPS, 3 sipedge. */
function channel(): { ch: ReplicationChannel; handlers: () => CapabilityHandlers } {
  let handlers: CapabilityHandlers | undefined;
  const ch: ReplicationChannel = {
    myNodeId: 1,
    registerCapability: (_name, h) => {
      handlers = h;
    },
    isSynced: () => true,
    requestSync: () => false,
    hasReachable: () => true,
    speaksSipedge: (_cluster, node) => node === 3,
    isOpenSipsNode: (_cluster, node) => node === 2,
    mayAcknowledge: () => true,
    sendTo: () => SendResult.SENT,
    sendAll: () => SendResult.SENT,
    onCapStatus: () => () => {},
  };
  return { ch, handlers: () => handlers as CapabilityHandlers };
}

describe('a sipedge donor syncing an OpenSIPS node', () => {
  it('answers in OpenSIPS layout version 5: an AoR chunk, then its bindings', () => {
    const location = new Location({ clock: new VirtualClock(T0), nodeId: 1 });
    location.applyRemote({
      type: 'put',
      contact: plainContact('1-a-1', {
        uri: 'sip:alice@192.0.2.1:5060',
        path: ['<sip:edge.example.com;lr>'],
        expires: T0 + 3_600_000,
        callId: 'cid-a',
        cseq: 7,
        lastModified: T0,
        nodeId: 1,
        shtag: 'vip/1',
      }),
      at: T0,
      nodeId: 1,
    });
    const { ch, handlers } = channel();
    new UsrlocReplicator({ location, clusterer: ch });
    const open = handlers().openSync;
    if (open === undefined) throw new Error('no openSync');

    const toOpenSips = open({ clusterId: 1, nodeId: 2 });
    expect(toOpenSips.dataVersion).toBe(UL_BIN_VERSION);
    const chunks = [];
    for (let r = toOpenSips.items.next(); r.done !== true; r = toOpenSips.items.next())
      chunks.push(decodeUlSyncChunk(r.value));
    expect(chunks.map((c) => c.kind)).toEqual(['aor', 'contact']);
    const [aor, contact] = chunks;
    expect(aor?.kind === 'aor' && aor.record.aor).toBe('alice@example.com');
    if (contact?.kind !== 'contact') throw new Error('no contact chunk');
    expect(contact.contact).toMatchObject({
      contact: 'sip:alice@192.0.2.1:5060',
      path: '<sip:edge.example.com;lr>',
      callId: 'cid-a',
      cseq: 7,
      expires: (T0 + 3_600_000) / 1000,
      kvStore: '{"_st":"vip/1"}',
    });

    // a sipedge node gets sipedge's own layout (the capability's version)
    expect(open({ clusterId: 1, nodeId: 3 }).dataVersion).toBeUndefined();
  });
});

describe('a sipedge node syncing from an OpenSIPS donor', () => {
  it('merges the bindings of a layout-5 sync (the captured one)', () => {
    const fixture = JSON.parse(
      readFileSync(
        new URL('../../../test/fixtures/opensips-3.6.8-usrloc.json', import.meta.url),
        'utf8',
      ),
    ) as { sync: { type: number; hex: string }[] };
    // a few minutes after the capture: every binding is still valid
    const location = new Location({
      clock: new VirtualClock(Date.UTC(2026, 11, 5, 0, 50)),
      nodeId: 1,
    });
    const { ch, handlers } = channel();
    const repl = new UsrlocReplicator({ location, clusterer: ch });
    const meta = { clusterId: 1, srcId: 2, dataVersion: UL_BIN_VERSION };
    let chunks = 0;
    for (const s of fixture.sync.filter((p) => p.type === 11)) {
      const p = decodePacket(Buffer.from(s.hex, 'hex'));
      if (p.kind !== 'sync') throw new Error('not a SYNC');
      expect(p.dataVersion).toBe(UL_BIN_VERSION);
      for (const c of p.chunks) handlers().onSyncChunk?.(c, meta);
      chunks += p.chunks.length;
    }
    handlers().onSyncDone?.(meta);
    // 288 + 116 chunks, one AoR and one binding each
    expect(chunks).toBe(404);
    expect(location.contactCount).toBe(202);
    const [bob] = location.contacts('bob1213');
    expect(bob).toMatchObject({
      uri: 'sip:bob1213@192.168.4.189:5060',
      callId: 'cid-bob1213',
      cseq: 1,
      nodeId: 2,
    });
    expect(bob?.id).toMatch(/^os-[0-9a-f]+$/);
    expect(repl.counters.sync_items_received).toBe(202);
  });
});
