// Load generator and sink for the UDP forwarder benchmark, run in a worker thread so the
// forwarder has the main thread to itself.
import { createSocket } from 'node:dgram';
import { parentPort } from 'node:worker_threads';
import { INVITE } from './messages.js';

const port = parentPort;
if (port === null) throw new Error('run as a worker');

const gen = createSocket('udp4');
const sink = createSocket('udp4');
let received = 0;
/** Called on every datagram reaching the sink; refills the window while a run is on. */
let onSink: () => void = () => {};
sink.on('message', () => {
  received++;
  onSink();
});
await new Promise<void>((r) => sink.bind(0, '127.0.0.1', r));
await new Promise<void>((r) => gen.bind(0, '127.0.0.1', r));
port.postMessage({ type: 'sink', port: sink.address().port });

port.on(
  'message',
  (m: { type: 'start'; forwarder: number; durationMs: number; window: number }) => {
    const data = Buffer.from(INVITE, 'latin1');
    let sent = 0;
    const send = (n: number): void => {
      for (let i = 0; i < n; i++) {
        gen.send(data, m.forwarder, '127.0.0.1');
        sent++;
      }
    };
    let running = true;
    onSink = () => {
      if (running && sent - received < m.window) send(1);
    };
    const start = performance.now();
    let startCount = -1;
    let measuredFrom = 0;
    send(m.window);
    // keep `window` messages in flight: one new message per delivery; losses are made up each tick
    const tick = setInterval(() => {
      const now = performance.now();
      if (startCount < 0 && now - start > 300) {
        startCount = received; // 300 ms warm-up
        measuredFrom = now;
      }
      const inflight = sent - received;
      if (inflight < m.window) send(m.window - inflight);
      else if (inflight > m.window * 4) send(m.window / 4); // heavy loss: keep going
      if (now - start > 300 + m.durationMs) {
        clearInterval(tick);
        running = false;
        const elapsed = now - measuredFrom;
        port.postMessage({
          type: 'done',
          received: received - startCount,
          elapsedMs: elapsed,
          sent,
        });
        gen.close();
        sink.close();
        port.close();
      }
    }, 5);
  },
);
