import { VirtualClock } from '@sipedge/core/testing';
import { describe, expect, it } from 'vitest';
import type { MiCallContext, MiSession } from '../command.js';
import type { EventSink } from '../events/bus.js';
import { handleJsonRpc } from '../rpc/engine.js';
import { SR_STATUS_CHANGED_EVENT } from '../status/registry.js';
import { createMiCore } from './create.js';

function manualClock(): VirtualClock {
  return new VirtualClock(Date.UTC(2026, 10, 23, 10, 0, 0));
}

async function rpc(
  core: ReturnType<typeof createMiCore>,
  method: string,
  params?: unknown,
  context?: MiCallContext,
): Promise<Record<string, unknown>> {
  const body = JSON.stringify({
    jsonrpc: '2.0',
    method,
    ...(params !== undefined ? { params } : {}),
    id: 1,
  });
  return (await handleJsonRpc(core.registry, body, context ? { context } : {})) as Record<
    string,
    unknown
  >;
}

describe('core commands', () => {
  it('which lists commands, help returns the schema', async () => {
    const core = createMiCore({ eventSockets: false });
    const which = (await rpc(core, 'which')).result as string[];
    for (const n of [
      'which',
      'help',
      'version',
      'uptime',
      'get_statistics',
      'sr_get_status',
      'log_level',
    ]) {
      expect(which).toContain(n);
    }
    expect((await rpc(core, 'help', ['sr_get_status'])).result).toMatchObject({
      'Exported by': 'core',
      Recipes: [['group'], ['group', 'identifier']],
      Schema: { type: 'object', required: ['group'] },
    });
    expect((await rpc(core, 'help', ['nope'])).error).toEqual({
      code: 404,
      message: 'Unknown command',
    });
  });

  it('every core command has a JSON Schema', () => {
    const core = createMiCore({ eventSockets: false });
    for (const c of core.registry.commands()) {
      expect(core.registry.schema(c.name), c.name).toMatchObject({ type: 'object' });
    }
  });

  it('version and uptime', async () => {
    const clock = manualClock();
    const core = createMiCore({ clock, version: '9.9.9', eventSockets: false });
    expect(((await rpc(core, 'version')).result as { Server: string }).Server).toMatch(
      /^sipedge 9\.9\.9 /,
    );
    clock.advance(61_000);
    expect((await rpc(core, 'uptime')).result).toEqual({
      Now: 'Mon Nov 23 10:01:01 2026',
      'Up since': 'Mon Nov 23 10:00:00 2026',
      'Up time': '61 [sec]',
    });
  });

  it('statistics: get, list, reset with OpenSIPS selectors', async () => {
    const core = createMiCore({ eventSockets: false });
    const c = core.stats.counter('usrloc', 'registered_users');
    const g = core.stats.gauge('usrloc', 'contacts');
    c.inc(3);
    g.set(7);
    expect((await rpc(core, 'get_statistics', [['usrloc:']])).result).toEqual({
      'usrloc:registered_users': 3,
      'usrloc:contacts': 7,
    });
    expect((await rpc(core, 'get_statistics', [['contacts']])).result).toEqual({
      'usrloc:contacts': 7,
    });
    expect((await rpc(core, 'get_statistics', ['usrloc:contacts'])).result).toEqual({
      'usrloc:contacts': 7,
    });
    expect(Object.keys((await rpc(core, 'get_statistics', [['all']])).result as object)).toContain(
      'events:raised',
    );
    expect((await rpc(core, 'get_statistics', [['nope:']])).error).toEqual({
      code: 404,
      message: 'Statistics Not Found',
    });
    expect((await rpc(core, 'list_statistics', [['usrloc:']])).result).toEqual({
      'usrloc:registered_users': 'incremental',
      'usrloc:contacts': 'non-incremental',
    });
    expect((await rpc(core, 'reset_statistics', [['usrloc:']])).result).toBe('OK');
    expect(c.value()).toBe(0);
    expect(g.value()).toBe(7);
  });

  it('status/report: layouts and errors as OpenSIPS', async () => {
    const clock = manualClock();
    const core = createMiCore({ clock, eventSockets: false });
    const cl = core.status.group('clusterer');
    const ns = cl.identifier('node_states');
    const cap = cl.identifier('cap:usrloc-contact-repl', { status: -3, details: 'not synced' });
    ns.report('Node 2 is up');
    expect((await rpc(core, 'sr_get_status', ['core'])).result).toEqual({
      Readiness: true,
      Status: 1,
      Details: 'running',
    });
    expect((await rpc(core, 'sr_get_status', ['clusterer'])).error).toEqual({
      code: 404,
      message: 'Identity not found',
    });
    expect((await rpc(core, 'sr_get_status', ['nope'])).error).toEqual({
      code: 404,
      message: 'Group not found',
    });
    expect((await rpc(core, 'sr_get_status', ['clusterer', 'all'])).result).toEqual({
      Readiness: false,
      Status: -1,
      Details: 'aggregated',
    });
    cap.setStatus(1, 'synced');
    expect((await rpc(core, 'sr_get_status', ['clusterer', 'all'])).result).toMatchObject({
      Status: 1,
    });
    expect((await rpc(core, 'sr_list_status', ['clusterer'])).result).toEqual([
      { Name: 'node_states', Readiness: true, Status: 1 },
      { Name: 'cap:usrloc-contact-repl', Readiness: true, Status: 1, Details: 'synced' },
    ]);
    expect((await rpc(core, 'sr_list_reports', ['clusterer', 'node_states'])).result).toEqual([
      { Timestamp: clock.now() / 1000, Date: 'Mon Nov 23 10:00:00 2026', Log: 'Node 2 is up' },
    ]);
    expect((await rpc(core, 'sr_list_identifiers', ['clusterer'])).result).toEqual({
      Group: 'clusterer',
      Identifiers: ['node_states', 'cap:usrloc-contact-repl'],
    });
    expect((await rpc(core, 'sr_list_identifiers')).result).toEqual([
      { Group: 'core', Identifiers: ['main'] },
      { Group: 'clusterer', Identifiers: ['node_states', 'cap:usrloc-contact-repl'] },
    ]);
  });

  it('keeps 200 reports per identifier, dropping the oldest', () => {
    const core = createMiCore({ eventSockets: false });
    const id = core.status.group('g').identifier('i');
    for (let i = 0; i < 250; i++) id.report(`line ${i}`);
    const r = id.reports();
    expect(r).toHaveLength(200);
    expect(r[0]!.Log).toBe('line 50');
    expect(r[199]!.Log).toBe('line 249');
  });

  it('a status change raises E_CORE_SR_STATUS_CHANGED; 0 becomes 1', () => {
    const core = createMiCore({ eventSockets: false });
    const seen: unknown[] = [];
    core.events.on(SR_STATUS_CHANGED_EVENT, (p) => seen.push(p));
    const id = core.status.group('g').identifier('i', { status: -2, details: 'sync pending' });
    id.setStatus(0);
    expect(id.status).toBe(1);
    expect(seen).toEqual([{ group: 'g', identifier: 'i', status: 1, old_status: -2 }]);
  });

  it('log_level shows and sets the level', async () => {
    const core = createMiCore({ eventSockets: false });
    expect((await rpc(core, 'log_level', [4])).result).toBe('OK');
    expect((await rpc(core, 'log_level')).result).toEqual({
      Processes: [{ PID: process.pid, 'Log level': 4, Type: 'main' }],
    });
    expect((await rpc(core, 'log_level', [9])).error).toMatchObject({ code: -32602 });
  });

  it('events: session subscribe, socket subscribe with expiry and refresh, lists', async () => {
    const clock = manualClock();
    const delivered: string[] = [];
    const closed: string[] = [];
    const factory = (socket: string): EventSink => ({
      socket,
      deliver: (text) => {
        delivered.push(`${socket} ${text}`);
        return true;
      },
      close: () => {
        closed.push(socket);
      },
    });
    const core = createMiCore({ clock, eventSockets: factory });
    core.events.register('E_TEST');
    const wsTexts: string[] = [];
    const session: MiSession = {
      id: '1',
      send: (t) => {
        wsTexts.push(t);
        return true;
      },
      onClose: () => {},
    };
    expect((await rpc(core, 'event_subscribe', ['E_TEST'])).error).toMatchObject({ code: 400 });
    expect((await rpc(core, 'event_subscribe', ['E_NOPE', 'udp:127.0.0.1:9'])).error).toEqual({
      code: 400,
      message: 'Unknown event',
    });
    expect(
      (await rpc(core, 'event_subscribe', ['E_TEST'], { transport: 'ws', session })).result,
    ).toBe('OK');
    expect((await rpc(core, 'event_subscribe', ['E_TEST', 'udp:127.0.0.1:9999', 10])).result).toBe(
      'OK',
    );
    core.events.raise('E_TEST', { a: 1 });
    expect(wsTexts).toEqual(['{"jsonrpc":"2.0","method":"E_TEST","params":{"a":1}}']);
    expect(delivered).toEqual([
      'udp:127.0.0.1:9999 {"jsonrpc":"2.0","method":"E_TEST","params":{"a":1}}',
    ]);
    expect((await rpc(core, 'subscribers_list', ['E_TEST'])).result).toEqual({
      name: 'E_TEST',
      id: core.events.events().find((e) => e.name === 'E_TEST')!.id,
      subscribers: [
        { socket: 'ws:1', expire: 'never' },
        { socket: 'udp:127.0.0.1:9999', expire: 10 },
      ],
    });
    clock.advance(8000);
    // refresh: expiry restarts
    expect((await rpc(core, 'event_subscribe', ['E_TEST', 'udp:127.0.0.1:9999', 10])).result).toBe(
      'OK',
    );
    clock.advance(8000);
    core.events.raise('E_TEST', { a: 2 });
    expect(delivered).toHaveLength(2);
    clock.advance(3000);
    core.events.raise('E_TEST', { a: 3 });
    expect(delivered).toHaveLength(2);
    expect(closed).toContain('udp:127.0.0.1:9999');
    expect(wsTexts).toHaveLength(3);
    expect((await rpc(core, 'events_list')).result).toMatchObject({
      Events: expect.arrayContaining([{ name: 'E_TEST', id: expect.any(Number) }]),
    });
    expect(
      (await rpc(core, 'event_unsubscribe', ['E_TEST'], { transport: 'ws', session })).result,
    ).toBe('OK');
    core.events.raise('E_TEST', {});
    expect(wsTexts).toHaveLength(3);
    expect((await rpc(core, 'raise_event', ['E_TEST', { x: 'y' }])).result).toBe('OK');
    expect((await rpc(core, 'event_subscribe', ['E_TEST', 'bogus:x'])).error).toMatchObject({
      code: 400,
    });
  });

  it('a sink that fails is removed and counted', () => {
    const core = createMiCore({ eventSockets: false });
    core.events.register('E_X');
    core.events.subscribe('E_X', { socket: 'bad', deliver: () => false });
    expect(core.events.raise('E_X')).toBe(0);
    expect(core.events.subscribers('E_X')).toEqual([]);
    expect(core.stats.get('events:dropped')).toBe(1);
  });
});
