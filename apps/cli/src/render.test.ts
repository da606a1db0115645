import { describe, expect, it } from 'vitest';
import { render } from './render.js';

describe('render', () => {
  it('scalars and lists of scalars', () => {
    expect(render('OK')).toBe('OK');
    expect(render(['which', 'help'])).toBe('which\nhelp');
    expect(render([])).toBe('(none)');
    expect(render({ control_sockets: [], calls: 0 })).toBe(
      'control_sockets: (none)\ncalls:           0',
    );
  });

  it('a list of records is a table', () => {
    expect(
      render([
        { node_id: 2, link_state: 'Up' },
        { node_id: 10, link_state: 'Down', extra: [1, 2] },
      ]),
    ).toBe(
      [
        'node_id  link_state  extra',
        '-------  ----------  -----',
        '2        Up          -',
        '10       Down        1,2',
      ].join('\n'),
    );
  });

  it('nested results: key lines then indented tables (clusterer_list layout)', () => {
    const out = render({
      Clusters: [
        {
          cluster_id: 1,
          Nodes: [
            { node_id: 2, db_id: -1, url: 'bin:127.0.0.1:5561', link_state: 'Up', next_hop: '2' },
          ],
        },
      ],
    });
    expect(out).toBe(
      [
        'Clusters:',
        '  cluster_id: 1',
        '  Nodes:',
        '    node_id  db_id  url                 link_state  next_hop',
        '    -------  -----  ------------------  ----------  --------',
        '    2        -1     bin:127.0.0.1:5561  Up          2',
      ].join('\n'),
    );
  });
});
