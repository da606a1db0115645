import { describe, expect, it } from 'vitest';
import { clustererOptionsFromConfig, parseClustererConfig } from './config.js';
import { ClustererConfigError } from './errors.js';

describe('clusterer config', () => {
  it('fills OpenSIPS defaults and freezes the result', () => {
    const c = parseClustererConfig({
      db_mode: 0,
      my_node_info: 'cluster_id=1,node_id=1,url=bin:127.0.0.1:5566',
    });
    expect(c).toMatchObject({
      ping_interval: 4,
      ping_timeout: 1000,
      node_timeout: 60,
      enable_rerouting: true,
    });
    expect(c.my_node_info).toEqual(['cluster_id=1,node_id=1,url=bin:127.0.0.1:5566']);
    expect(Object.isFrozen(c)).toBe(true);
  });
  it('explains what is wrong', () => {
    expect(() => parseClustererConfig({ db_mode: 1 })).toThrow(ClustererConfigError);
    expect(() => parseClustererConfig({ db_mode: 1 })).toThrow(/my_node_id/);
    expect(() => parseClustererConfig({ db_mode: 0, my_node_info: 'x', ping_timeout: -1 })).toThrow(
      /ping_timeout/,
    );
    expect(() => parseClustererConfig({ db_mode: 0, my_node_info: 'x', pingTimeout: 5 })).toThrow(
      ClustererConfigError,
    );
  });
  it('builds options; db_mode=1 needs a table', () => {
    const transport = { setHandler: () => {}, send: () => true };
    const c = parseClustererConfig({ db_mode: 1, my_node_id: 3 });
    expect(() => clustererOptionsFromConfig(c, { transport })).toThrow(/db_url/);
    const o = clustererOptionsFromConfig(
      parseClustererConfig({ db_mode: 1, my_node_id: 3, db_url: ':memory:' }),
      {
        transport,
      },
    );
    expect(o.myNodeId).toBe(3);
    expect(o.store).toBeDefined();
  });
  it('sync and sharing-tag settings: defaults, bad tags rejected, options built', () => {
    const base = {
      db_mode: 0 as const,
      my_node_info: 'cluster_id=1,node_id=1,url=bin:127.0.0.1:5566',
    };
    expect(parseClustererConfig(base)).toMatchObject({
      seed_fallback_interval: 5,
      sync_timeout: 15,
      sync_packet_size: 32768,
    });
    for (const bad of ['vip', 'vip/1', 'vip/x=active', 'v p/1=active', 'vip/1=master'])
      expect(() => parseClustererConfig({ ...base, sharing_tag: bad })).toThrow(
        ClustererConfigError,
      );
    const transport = { setHandler: () => {}, send: () => true };
    const o = clustererOptionsFromConfig(
      parseClustererConfig({
        ...base,
        sharing_tag: ['vip/1=active', 'pbx/1=backup'],
        sync_timeout: 3,
        shtag_failover_holddown: 400,
      }),
      { transport },
    );
    expect(o.sharingTags).toEqual(['vip/1=active', 'pbx/1=backup']);
    expect(o.sync?.syncTimeout).toBe(3);
    expect(o.shtagFailover).toEqual({ enabled: true, holdDownMs: 400 });
  });
  it('auth_secret: off by default; one or a rotation list of ≥ 16 characters', () => {
    const base = {
      db_mode: 0 as const,
      my_node_info: 'cluster_id=1,node_id=1,url=bin:127.0.0.1:5566',
    };
    const transport = { setHandler: () => {}, send: () => true };
    expect(clustererOptionsFromConfig(parseClustererConfig(base), { transport }).authSecret).toBe(
      undefined,
    );
    expect(() => parseClustererConfig({ ...base, auth_secret: 'short' })).toThrow(/auth_secret/);
    const o = clustererOptionsFromConfig(
      parseClustererConfig({
        ...base,
        auth_secret: ['new-secret-16-chars', 'old-secret-16-chars'],
      }),
      { transport },
    );
    expect(o.authSecret).toEqual(['new-secret-16-chars', 'old-secret-16-chars']);
  });
});
