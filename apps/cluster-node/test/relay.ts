import { type Relay, startRelay } from '@sipedge/rtp-relay';

/**
 * An in-process rtp-relay on loopback with its control socket on a free port, relaying on
 * ports `portMin` to `portMin + 999` (each suite its own range, so suites run side by side).
 */
export function loopbackRelay(portMin: number): Promise<Relay> {
  return startRelay({
    control: ['udp:127.0.0.1:0'],
    ipv4: '127.0.0.1',
    portMin,
    portMax: portMin + 999,
  });
}
