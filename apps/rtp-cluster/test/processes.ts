/**
 * The bins the daemon's integration tests and benchmark start: sipedge-rtp-relay members and
 * the rtp-cluster daemon itself (started and stopped through @sipedge/test-utils).
 */
import { fileURLToPath } from 'node:url';
import { type Proc, startNodeBin } from '@sipedge/test-utils';

export { type Proc, startNodeBin as startProcess } from '@sipedge/test-utils';

/** apps/rtp-cluster, whether this file runs from test/ (vitest) or dist/test/ (benchmarks). */
const APP = new URL(import.meta.url.includes('/dist/') ? '../../' : '../', import.meta.url);
export const RELAY_BIN = fileURLToPath(new URL('../rtp-relay/dist/src/bin.js', APP));
export const DAEMON_BIN = fileURLToPath(new URL('dist/src/bin.js', APP));

/** A relay on a free control port; `spec` is its control socket. */
export async function startRelay(
  portMin: number,
  portMax: number,
): Promise<Proc & { spec: string }> {
  const p = await startNodeBin(
    RELAY_BIN,
    [
      '-s',
      'udp:127.0.0.1:0',
      '-m',
      String(portMin),
      '-M',
      String(portMax),
      '-T',
      '120',
      '--log-level',
      'warn',
    ],
    /sipedge-rtp-relay ready control=([^\s,]+)/,
  );
  return Object.assign(p, { spec: p.ready });
}
