import { describe, expect, it } from 'vitest';
import { DAEMON_NODE_FLAGS, daemonNodeArgs } from './options.js';

describe('daemonNodeArgs', () => {
  it('adds the daemon flags the caller did not set, keeping the caller’s own', () => {
    expect(daemonNodeArgs([])).toEqual([...DAEMON_NODE_FLAGS]);
    expect(daemonNodeArgs(['--inspect'])).toEqual(['--inspect', ...DAEMON_NODE_FLAGS]);
    expect(daemonNodeArgs(['--max-semi-space-size=8'])).toEqual(['--max-semi-space-size=8']);
  });
});
