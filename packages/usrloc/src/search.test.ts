import { VirtualClock } from '@sipedge/core/testing';
import { callCommand, MiRegistry, MiRpcError } from '@sipedge/mi';
import { describe, expect, it, vi } from 'vitest';
import { plainContact } from '../test/contacts.js';
import type { RemoteChange } from './location/changes.js';
import { Location } from './location/location.js';
import { miCommands } from './mi.js';
import type { ContactRecord } from './model.js';
import { SortedKeys, UL_SEARCH_MAX_LIMIT } from './search.js';

const T0 = Date.UTC(2026, 11, 5, 3);

interface Page {
  total: number;
  limit: number;
  next: string | null;
  AORs: { AOR: string; Contacts: Record<string, unknown>[] }[];
}

function binding(location: Location, aor: string, extra: Partial<ContactRecord> = {}) {
  const now = location.clock.now();
  const c = plainContact(location.ids.next(), {
    aor,
    uri: `sip:${aor.split('@')[0]}@192.0.2.1`,
    expires: now + 3_600_000,
    callId: `call-${aor}`,
    cseq: 1,
    lastModified: now,
    nodeId: location.nodeId,
    ...extra,
  });
  location.commit(
    aor,
    [...location.contacts(aor), c],
    [{ type: 'insert', contact: c, reason: 'mi' }],
  );
  return c;
}

function setup(users: readonly string[] = []) {
  const clock = new VirtualClock(T0);
  const location = new Location({ clock, nodeId: 2 });
  for (const u of users) binding(location, `${u}@example.com`);
  const registry = new MiRegistry().register(...miCommands(location));
  const search = (params: Record<string, unknown>) =>
    callCommand(registry, 'ul_search', { table_name: 'location', ...params }) as Promise<Page>;
  return { clock, location, registry, search };
}

async function rpcError(p: Promise<unknown>): Promise<number> {
  try {
    await p;
  } catch (err) {
    if (err instanceof MiRpcError) return err.rpcCode;
    throw err;
  }
  throw new Error('expected an MI error');
}

const users = (n: number, stem = 'user') =>
  Array.from({ length: n }, (_, i) => `${stem}${String(i).padStart(5, '0')}`);

describe('SortedKeys', () => {
  it('stays sorted and counts right through adds and deletes across chunk splits', () => {
    const keys = new SortedKeys(['m', 'a']);
    const model = new Set(['m', 'a']);
    let seed = 7;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let i = 0; i < 6000; i++) {
      const k = `k${Math.floor(rnd() * 3000)}`;
      if (rnd() < 0.6) {
        expect(keys.add(k)).toBe(!model.has(k));
        model.add(k);
      } else {
        expect(keys.delete(k)).toBe(model.has(k));
        model.delete(k);
      }
    }
    const sorted = [...model].sort();
    expect(keys.size).toBe(sorted.length);
    expect([...keys.from(() => true)]).toEqual(sorted);
    expect(keys.rank((k) => k >= 'k2')).toBe(sorted.filter((k) => k < 'k2').length);
  });
});

describe('ul_search', () => {
  it('pages through every AoR of a prefix once, in order, by the next cursor', async () => {
    const { search } = setup([...users(1200), ...users(30, 'zed')]);
    const seen: string[] = [];
    let after: string | undefined;
    let pages = 0;
    for (;;) {
      const page = await search({ prefix: 'user', limit: 100, ...(after ? { after } : {}) });
      expect(page.total).toBe(1200);
      seen.push(...page.AORs.map((a) => a.AOR));
      pages++;
      if (page.next === null) break;
      after = page.next;
    }
    expect(pages).toBe(12);
    expect(seen).toEqual(users(1200).map((u) => `${u}@example.com`));
  });

  it('matches the prefix only, with or without a sip: scheme, and finds none past the end', async () => {
    const { search } = setup(['alice', 'alicia', 'al', 'bob', 'albert']);
    const names = (p: Page) => p.AORs.map((a) => a.AOR);
    expect(names(await search({ prefix: 'ali' }))).toEqual([
      'alice@example.com',
      'alicia@example.com',
    ]);
    expect((await search({ prefix: 'sip:al' })).total).toBe(4);
    expect((await search({ prefix: 'b' })).AORs.map((a) => a.AOR)).toEqual(['bob@example.com']);
    expect(await search({ prefix: 'carol' })).toEqual({
      total: 0,
      limit: 50,
      next: null,
      AORs: [],
    });
    const all = await search({});
    expect(all.total).toBe(5);
    expect(all.next).toBeNull();
    // a cursor before the prefix starts at the prefix; one past the last match gives nothing
    expect(names(await search({ prefix: 'b', after: 'a' }))).toEqual(['bob@example.com']);
    expect(names(await search({ prefix: 'ali', after: 'alicia@example.com' }))).toEqual([]);
  });

  it(`cuts a limit above ${UL_SEARCH_MAX_LIMIT} to it`, async () => {
    const { search } = setup(users(UL_SEARCH_MAX_LIMIT + 20));
    const page = await search({ limit: 100_000 });
    expect(page.limit).toBe(UL_SEARCH_MAX_LIMIT);
    expect(page.AORs).toHaveLength(UL_SEARCH_MAX_LIMIT);
    expect(page.next).toBe(page.AORs[UL_SEARCH_MAX_LIMIT - 1]?.AOR);
    const rest = await search({ limit: 100_000, after: page.next });
    expect(rest.AORs).toHaveLength(20);
    expect(rest.next).toBeNull();
  });

  it('refuses bad input', async () => {
    const { search, registry } = setup(['alice']);
    expect(await rpcError(search({ limit: 0 }))).toBe(-32602);
    expect(await rpcError(search({ limit: 2.5 }))).toBe(-32602);
    expect(await rpcError(search({ limit: 'many' }))).toBe(-32602);
    expect(await rpcError(search({ prefix: 'x'.repeat(257) }))).toBe(-32602);
    expect(await rpcError(search({ after: { aor: 'a' } }))).toBe(-32602);
    expect(await rpcError(search({ table_name: 'other' }))).toBe(404);
    expect(await rpcError(callCommand(registry, 'ul_search', ['location', 'a']))).toBe(-32602);
    expect(await rpcError(callCommand(registry, 'ul_search', {}))).toBe(-32602);
  });

  it('shows each contact with Path, Received, Expires and the node that made it', async () => {
    const { search, location, clock } = setup();
    binding(location, 'alice@example.com', {
      path: ['<sip:edge1.example.com;lr>'],
      received: 'sip:198.51.100.7:5060',
      nodeId: 3,
    });
    clock.advance(10_000);
    const [aor] = (await search({ prefix: 'alice' })).AORs;
    expect(aor?.Contacts[0]).toMatchObject({
      Contact: 'sip:alice@192.0.2.1',
      Path: '<sip:edge1.example.com;lr>',
      Received: 'sip:198.51.100.7:5060',
      Expires: 3590,
      Node_id: 3,
    });
  });

  it('follows the location after the first search without walking it again', async () => {
    const { search, location } = setup(users(3));
    const walk = vi.spyOn(location, 'aors');
    expect((await search({})).total).toBe(3);
    binding(location, 'user00001b@example.com');
    location.removeAor('user00000@example.com', 'mi');
    const c = binding(location, 'aaa@example.com');
    location.removeContact('aaa@example.com', c.id, 'mi');
    const page = await search({});
    expect(page.AORs.map((a) => a.AOR)).toEqual([
      'user00001@example.com',
      'user00001b@example.com',
      'user00002@example.com',
    ]);
    expect(walk).toHaveBeenCalledTimes(1);
  });

  it('follows a sync batch from another node (new AoRs indexed ahead of the write)', async () => {
    const { search, location } = setup(users(2));
    expect((await search({})).total).toBe(2);
    const donor = new Location({ clock: location.clock, nodeId: 3 });
    const batch: RemoteChange[] = users(700, 'peer').map((u) => ({
      type: 'put',
      contact: binding(donor, `${u}@example.com`),
      at: location.clock.now(),
      nodeId: 3,
    }));
    const gone = location.contacts('user00000@example.com')[0];
    if (gone === undefined) throw new Error('no binding');
    batch.push({ type: 'delete', contact: gone, at: location.clock.now() + 1, nodeId: 3 });
    expect(location.applyRemoteMany(batch)).toBe(701);
    const page = await search({ prefix: 'peer', limit: 500 });
    expect(page.total).toBe(700);
    expect(page.AORs[0]?.Contacts[0]?.Node_id).toBe(3);
    expect((await search({ prefix: 'user' })).AORs.map((a) => a.AOR)).toEqual([
      'user00001@example.com',
    ]);
  });

  it('prints each contact as ul_show_contact does (KV-Store included when configured)', async () => {
    const clock = new VirtualClock(T0);
    const location = new Location({ clock, nodeId: 2 });
    binding(location, 'kv@example.com', { shtag: 'vip' });
    const registry = new MiRegistry().register(...miCommands(location, { dumpKvStore: true }));
    const page = (await callCommand(registry, 'ul_search', {
      table_name: 'location',
      prefix: 'kv',
    })) as Page;
    const shown = (await callCommand(registry, 'ul_show_contact', [
      'location',
      'kv@example.com',
    ])) as { Contacts: Record<string, unknown>[] };
    const { Node_id, ...contact } = page.AORs[0]?.Contacts[0] ?? {};
    expect(Node_id).toBe(2);
    expect(contact).toEqual(shown.Contacts[0]);
    expect(contact['KV-Store']).toBeDefined();
  });
});
