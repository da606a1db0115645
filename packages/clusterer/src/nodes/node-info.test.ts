import { describe, expect, it } from 'vitest';
import { parseBinUrl, parseNodeInfo } from './node-info.js';

describe('node info strings and urls', () => {
  it('parses my_node_info with OpenSIPS script defaults (priority 3, retries 3)', () => {
    expect(
      parseNodeInfo(
        'cluster_id=2,node_id=5,url=bin:10.0.0.5:5566,flags=seed,sip_addr=10.0.0.5',
        'my_node_info',
      ),
    ).toEqual({
      clusterId: 2,
      nodeId: 5,
      url: 'bin:10.0.0.5:5566',
      dbId: -1,
      enabled: true,
      noPingRetries: 3,
      priority: 3,
      sipAddr: '10.0.0.5',
      seed: true,
      description: '',
    });
  });
  it('rejects a neighbour without node_id, a bad url or a non-numeric id', () => {
    expect(() => parseNodeInfo('cluster_id=1,url=bin:1.2.3.4', 'neighbor_node_info')).toThrow(
      /node_id/,
    );
    expect(() =>
      parseNodeInfo('cluster_id=1,node_id=2,url=udp:1.2.3.4', 'neighbor_node_info'),
    ).toThrow(/protocol/);
    expect(() =>
      parseNodeInfo('cluster_id=x,node_id=2,url=bin:1.2.3.4', 'neighbor_node_info'),
    ).toThrow(/integer/);
  });
  it('parses bin and bins urls with default ports', () => {
    expect(parseBinUrl('bin:127.0.0.1')).toEqual({ proto: 'bin', host: '127.0.0.1', port: 5555 });
    expect(parseBinUrl('bins:[::1]:7000')).toEqual({ proto: 'bins', host: '::1', port: 7000 });
    expect(parseBinUrl('10.0.0.1:5566')).toEqual({ proto: 'bin', host: '10.0.0.1', port: 5566 });
  });
});
