import { describe, expect, it } from 'vitest';
import {
  type CommandHelp,
  commandHelp,
  didYouMean,
  editDistance,
  packPositional,
  usageLines,
} from './mi-hints.js';

const getStatistics: CommandHelp = {
  name: 'get_statistics',
  recipes: [['statistics']],
  schema: {
    properties: {
      statistics: {
        anyOf: [{ type: 'array' }, { type: 'string' }],
        description: 'statistic names: "all", "group:", "group:name" or "name"',
      },
    },
    required: ['statistics'],
  },
};

const srGetStatus: CommandHelp = {
  name: 'sr_get_status',
  recipes: [['group'], ['group', 'identifier']],
  schema: {
    properties: { group: { type: 'string' }, identifier: { type: 'string' } },
    required: ['group'],
  },
};

describe('packPositional', () => {
  it('sends the words past the last parameter as its array (opensips-cli)', () => {
    expect(packPositional(['usrloc:', 'mi:'], getStatistics)).toEqual([['usrloc:', 'mi:']]);
    expect(packPositional(['a', 'b', 'c'], getStatistics)).toEqual([['a', 'b', 'c']]);
  });

  it('leaves calls alone that a recipe takes, or whose last parameter takes no array', () => {
    expect(packPositional(['usrloc:'], getStatistics)).toBeUndefined();
    expect(packPositional(['a', 'b', 'c'], srGetStatus)).toBeUndefined();
  });
});

describe('usageLines', () => {
  it('shows the positional and named forms, then each parameter', () => {
    expect(usageLines(srGetStatus)).toEqual([
      'sipedge mi sr_get_status <group> [identifier]',
      '   or: sipedge mi sr_get_status group=… identifier=…',
      '  group       (string)',
      '  identifier  (string, optional)',
    ]);
    expect(usageLines(getStatistics)).toEqual([
      'sipedge mi get_statistics <statistics…>',
      '   or: sipedge mi get_statistics statistics=…',
      '  statistics  (array or string)  statistic names: "all", "group:", "group:name" or "name"',
    ]);
  });

  it('named-only commands and commands without parameters', () => {
    expect(usageLines(srGetStatus, true).slice(0, 2)).toEqual([
      'sipedge mi sr_get_status group=… [identifier=…]',
      '(named parameters only)',
    ]);
    expect(usageLines({ name: 'which', recipes: [[]], schema: {} })).toEqual([
      'sipedge mi which          (no parameters)',
    ]);
  });
});

describe('commandHelp', () => {
  it('reads MI help, or nothing from something else', () => {
    expect(commandHelp('x', { Help: 'h', Recipes: [['a']], Schema: { properties: {} } })).toEqual({
      name: 'x',
      recipes: [['a']],
      schema: { properties: {} },
    });
    expect(commandHelp('x', 'OK')).toBeUndefined();
    expect(commandHelp('x', { Recipes: 1 })).toBeUndefined();
  });
});

describe('didYouMean', () => {
  const names = [
    'clusterer_list',
    'clusterer_list_cap',
    'clusterer_list_shtags',
    'ul_dump',
    'which',
  ];

  it('edit distance counts swaps as one edit', () => {
    expect(editDistance('ul_dump', 'ul_dupm')).toBe(1);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });

  it('offers the closest names first, and names that contain what was typed', () => {
    expect(didYouMean('clusterer_lst', names)).toEqual(['clusterer_list']);
    expect(didYouMean('clusterer_lis', names)).toEqual(['clusterer_list']);
    expect(didYouMean('list', names)).toEqual([
      'clusterer_list',
      'clusterer_list_cap',
      'clusterer_list_shtags',
    ]);
    expect(didYouMean('ul_dupm', names)).toEqual(['ul_dump']);
    expect(didYouMean('shtags', names)).toEqual(['clusterer_list_shtags']);
    expect(didYouMean('frobnicate', names)).toEqual([]);
  });
});
