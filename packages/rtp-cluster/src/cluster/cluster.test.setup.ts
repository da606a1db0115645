/**
 * What the RtpCluster tests share: a cluster of scripted members on virtual timers, and command
 * builders. Not a test file itself (vitest runs `*.test.ts`); excluded from the package's files.
 */
import { VirtualClock } from '@sipedge/core/testing';
import type { RtppCommand, RtppReply, UpdateCommand } from '@sipedge/rtpp';
import { flush, ScriptedMember, type ScriptedMemberOptions } from '../../test/scripted.js';
import type { ClusterConfig, MemberConfig } from '../config/schema.js';
import { RtpCluster } from './cluster.js';
import type { RtpClusterEvent, RtpClusterOptions } from './options.js';

export interface Setup {
  cluster: RtpCluster;
  timers: VirtualClock;
  members: Map<string, ScriptedMember>;
  events: RtpClusterEvent[];
}

export async function setup(
  specs: { config: MemberConfig; options?: ScriptedMemberOptions }[],
  extra: Partial<ClusterConfig> = {},
  random: () => number = () => 0,
  options: Partial<RtpClusterOptions> = {},
): Promise<Setup> {
  const timers = new VirtualClock();
  const members = new Map<string, ScriptedMember>();
  const events: RtpClusterEvent[] = [];
  const config: ClusterConfig = {
    name: 'c',
    protocol: 'udp',
    address: '127.0.0.1:22222',
    capacity_limit: 'soft',
    rtpproxies: specs.map((s) => s.config),
    ...extra,
  };
  const cluster = new RtpCluster(config, {
    timers,
    random,
    connect: (mc) => {
      const spec = specs.find((s) => s.config.name === mc.name);
      const m = new ScriptedMember(mc.name, spec?.options ?? {});
      members.set(mc.name, m);
      return m;
    },
    onEvent: (e) => events.push(e),
    ...options,
  });
  cluster.start();
  await flush();
  return { cluster, timers, members, events };
}

export const U = (callId: string, from: string, to?: string, extra: Partial<UpdateCommand> = {}) =>
  ({
    kind: 'U',
    modifiers: '',
    mods: {
      asymmetric: false,
      symmetric: false,
      ipv6: false,
      weak: false,
      newPort: false,
      bridge: [],
      unknown: '',
    },
    callId,
    remoteIp: '127.0.0.1',
    remotePort: '6000',
    fromTag: from,
    subcommands: [],
    ...(to === undefined ? {} : { toTag: to }),
    ...extra,
  }) as UpdateCommand;
export const L = (callId: string, from: string, to: string): UpdateCommand => ({
  ...U(callId, from, to),
  kind: 'L',
});
export const D = (callId: string, from: string, to?: string): RtppCommand =>
  ({
    kind: 'D',
    modifiers: '',
    weak: false,
    callId,
    fromTag: from,
    ...(to ? { toTag: to } : {}),
  }) as RtppCommand;
export const Q = (callId: string, from: string): RtppCommand =>
  ({
    kind: 'Q',
    modifiers: '',
    verbose: false,
    callId,
    fromTag: from,
    counters: [],
    subcommands: [],
  }) as RtppCommand;

export const port = (r: RtppReply) => (r.kind === 'port' ? r.port : -1);
