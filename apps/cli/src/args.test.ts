import { describe, expect, it } from 'vitest';
import { DEFAULT_URL, demoNodeUrl, miParams, parseArgs, UsageError, wsUrlFor } from './args.js';

describe('parseArgs', () => {
  it('takes options anywhere and keeps words in order', () => {
    const { options, words } = parseArgs([
      'mi',
      '--json',
      'which',
      '--url=http://h:1/mi',
      '--token',
      'tok',
    ]);
    expect(words).toEqual(['mi', 'which']);
    expect(options).toMatchObject({ json: true, url: 'http://h:1/mi', token: 'tok' });
  });

  it('defaults and environment', () => {
    expect(parseArgs([]).options.url).toBe(DEFAULT_URL);
    expect(
      parseArgs([], { SIPEDGE_MI_URL: 'http://x/mi', SIPEDGE_MI_TOKEN: 't' }).options,
    ).toMatchObject({
      url: 'http://x/mi',
      token: 't',
    });
  });

  it('--node N is node N of the example; --url and --node do not mix', () => {
    expect(parseArgs(['--node', '2']).options).toMatchObject({
      url: 'http://127.0.0.1:8882/mi',
      urlFrom: 'flag',
    });
    expect(parseArgs(['--node=3'], { SIPEDGE_MI_URL: 'http://x/mi' }).options.url).toBe(
      'http://127.0.0.1:8883/mi',
    );
    expect(demoNodeUrl(1)).toBe('http://127.0.0.1:8881/mi');
    expect(() => parseArgs(['--node', '0'])).toThrow(/1-9/);
    expect(() => parseArgs(['--node', 'x'])).toThrow(UsageError);
    expect(() => parseArgs(['--node', '1', '--url', 'http://h/mi'])).toThrow(/not both/);
    expect(parseArgs([]).options.urlFrom).toBe('default');
    expect(parseArgs([], { SIPEDGE_MI_URL: 'http://x/mi' }).options.urlFrom).toBe('env');
  });

  it("accepts opensips-cli's -x", () => {
    expect(parseArgs(['-x', 'mi', 'ul_dump']).words).toEqual(['mi', 'ul_dump']);
  });

  it('negative numbers and words after -- are not options', () => {
    expect(parseArgs(['mi', 'log_level', '-1']).words).toEqual(['mi', 'log_level', '-1']);
    expect(parseArgs(['mi', 'x', '--', '--json']).words).toEqual(['mi', 'x', '--json']);
  });

  it('accepts options subcommands declare', () => {
    const { options, words } = parseArgs(
      ['rtp-cluster', '--socket', '/run/x.sock', '--force', 'ls'],
      {},
      {
        values: ['--socket'],
        flags: ['--force'],
      },
    );
    expect(words).toEqual(['rtp-cluster', 'ls']);
    expect(options.extra).toEqual({ '--socket': '/run/x.sock', '--force': true });
  });

  it('--version and -V set version', () => {
    expect(parseArgs(['--version']).options.version).toBe(true);
    expect(parseArgs(['-V']).options.version).toBe(true);
    expect(parseArgs([]).options.version).toBe(false);
  });

  it('rejects unknown options, missing values and bad counts', () => {
    expect(() => parseArgs(['--nope'])).toThrow(UsageError);
    expect(() => parseArgs(['--url'])).toThrow(/needs a value/);
    expect(() => parseArgs(['--count', '0'])).toThrow(/positive integer/);
  });
});

describe('miParams', () => {
  it('positional, named, JSON values', () => {
    expect(miParams([])).toBeUndefined();
    expect(miParams(['1', 'a b'])).toEqual(['1', 'a b']);
    expect(miParams(['group=clusterer', 'identifier=all'])).toEqual({
      group: 'clusterer',
      identifier: 'all',
    });
    expect(miParams(['["a","b"]', '{"x":1}'])).toEqual([['a', 'b'], { x: 1 }]);
    expect(miParams(['v=a=b'])).toEqual({ v: 'a=b' });
  });

  it('refuses a mix, repeated names and bad JSON', () => {
    expect(() => miParams(['a=1', 'b'])).toThrow(/mix/);
    expect(() => miParams(['a=1', 'a=2'])).toThrow(/twice/);
    expect(() => miParams(['[1,'])).toThrow(/JSON/);
  });
});

describe('wsUrlFor', () => {
  it('maps the HTTP root to its WebSocket path', () => {
    expect(wsUrlFor('http://127.0.0.1:8888/mi')).toBe('ws://127.0.0.1:8888/mi/ws');
    expect(wsUrlFor('https://h/mi/')).toBe('wss://h/mi/ws');
    expect(wsUrlFor('ws://h:1/custom')).toBe('ws://h:1/custom');
    expect(() => wsUrlFor('ftp://h')).toThrow(UsageError);
  });
});
